# The rooms routes (`securechat rooms;`, README "Rooms"): the caller's
# rooms, the public directory, create, join, leave, members; every refusal
# names its rule; the limits are directives; "general" is joined at the
# first login; rooms live in the zone, so a reload keeps them.  Each block
# that counts rooms has a zone of its own, so that it starts empty under
# TEST_NGINX_USE_HUP as well.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Rooms ();

securechat_defaults();

master_on();
workers(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location /api/rooms { securechat rooms; }
_EOC_

no warnings 'once';
*http = \&SecureChat::Rooms::http_config;
*call = \&SecureChat::Rooms::call;
*outcome = \&SecureChat::Rooms::outcome;
*names = \&SecureChat::Rooms::names;
*create = \&SecureChat::Rooms::create;

run_tests();

__DATA__

=== TEST 1: the first login joins general; my rooms; a user who left general stays out
--- http_config eval: main::http('rooms1')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
my ($st, $doc) = main::call('alice', 'GET', '/api/rooms');
Test::More::is($st, 200, 'my rooms: 200');
Test::More::is_deeply([map { [@$_{qw(name title kind role members)}] } @{ $doc->{rooms} }],
                      [['general', 'General', 'public', 'member', 1]],
                      'general, public, as a member, the only one yet');
Test::More::like($doc->{rooms}[0]{created}, qr/\A\d{10}\z/, 'a creation time');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is($doc->{rooms}[0]{members}, 2, 'bob joined at his first login: 2 members');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/general/leave', '{}'), '200 ok', 'bob leaves general');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), '', 'bob is in no room');
SecureChat::Rooms::forget();     # bob logs in again: no second welcome
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), '', 'another login does not put him back');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/general/join', '{}'), '200 ok', 'he may join again');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general', 'and is in it');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 2: create: the owner, the kinds, the title; every bad body refused with its code
--- http_config eval: main::http('rooms2')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
my ($st, $doc) = main::call('alice', 'POST', '/api/rooms', '{"name":"ops.team_2-x","title":"Ops \u00e9quipe"}');
Test::More::is($st, 201, 'created: 201');
Test::More::is_deeply([@{ $doc->{room} }{qw(name title kind role members)}],
                      ['ops.team_2-x', "Ops \x{e9}quipe", 'public', 'owner', 1],
                      'public by default, the creator its owner, the title as sent');
($st, $doc) = main::call('alice', 'POST', '/api/rooms', '{"name":"secret","kind":"private"}');
Test::More::is("$st $doc->{room}{kind} $doc->{room}{title}", '201 private secret',
               'private; without a title the name stands for it');
Test::More::is(main::create('alice', 'empty-title', title => ''), '201 ok', 'an empty title too');
Test::More::is(main::create('bob', 'ops.team_2-x'), '409 room_exists', 'a name taken');
Test::More::is(main::create('bob', 'secret'), '409 room_exists',
               'a private name taken (a creator learns it exists: names are unique)');
for my $bad ('General', 'a b', 'a/b', '', '.', '..', 'x' x 65, "caf\x{e9}", 'dm-anything',
             'dm-ed4143be43fb5b5a9cbb52b4eb6dc8efbd850a5e') {
    my $want = !length $bad      ? '400 too_short'
             : length $bad > 64  ? '400 too_long'
             :                     '400 bad_room_name';
    Test::More::is(main::create('bob', $bad), $want, "name \"$bad\" refused");
}
Test::More::is(main::create('bob', 'x' x 64), '201 ok', '64 characters are fine');
Test::More::is(main::create('bob', 'k1', kind => 'direct'), '400 bad_kind', 'kind direct is never created');
Test::More::is(main::create('bob', 'k2', kind => 'secret'), '400 bad_kind', 'an unknown kind');
Test::More::is(main::create('bob', 'k3', title => 'x' x 129), '400 too_long', 'a title over 128 bytes');
Test::More::is(main::create('bob', 'k4', title => "a\tb"), '400 bad_characters', 'a control character in the title');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms', '{"name":"k5","owner":"bob"}'),
               '400 unknown_field', 'an unknown field');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms', '{"name":5}'), '400 wrong_type', 'a name that is not a string');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms', '{"name":"k6"'), '400 malformed_json', 'not JSON');
Test::More::is(main::create('bob', 'k7', kind => 'public'), '201 ok', 'kind public said');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general ' . ('x' x 64) . ' k7', "bob's rooms, in order of joining");
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 3: the directory lists the public rooms in order of creation, never a private one
--- http_config eval: main::http('rooms3')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'lobby'), '201 ok', 'lobby');
Test::More::is(main::create('alice', 'hidden', kind => 'private'), '201 ok', 'hidden');
Test::More::is(main::create('bob', 'bobs'), '201 ok', 'bobs');
my ($st, $doc) = main::call('carol', 'GET', '/api/rooms/directory');
Test::More::is($st, 200, 'the directory: 200');
Test::More::is(main::names($doc), 'general lobby bobs', 'public rooms only, oldest first');
Test::More::is_deeply([map { $_->{role} } @{ $doc->{rooms} }], ['member', undef, undef],
                      "the caller's role in each, null where not a member");
($st, $doc) = main::call('alice', 'GET', '/api/rooms/directory');
Test::More::is_deeply([map { $_->{role} } @{ $doc->{rooms} }], ['member', 'owner', undef],
                      "alice's roles");
($st, $doc) = main::call('alice', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general lobby hidden', 'her own rooms include the private one');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 4: join, leave, members: each rule refuses with its code; a private room is not found by outsiders
--- http_config eval: main::http('rooms4')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'pub'), '201 ok', 'pub');
Test::More::is(main::create('alice', 'priv', kind => 'private'), '201 ok', 'priv');
Test::More::is(main::outcome('bob', 'GET', '/api/rooms/pub/members'), '403 not_member',
               "a public room's members are for its members");
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/join', '{}'), '200 ok', 'bob joins pub');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/join', '{}'), '409 already_member', 'twice');
my ($st, $doc) = main::call('bob', 'GET', '/api/rooms/pub/members');
Test::More::is($st, 200, 'members: 200');
Test::More::is_deeply([map { "$_->{user}:$_->{role}:" . ($_->{muted} ? 1 : 0) } @{ $doc->{members} }],
                      ['alice:owner:0', 'bob:member:0'], 'alice owns it, bob is a member');
Test::More::is("$doc->{room}{name} $doc->{room}{role} $doc->{room}{members}", 'pub member 2',
               "the room, with the caller's role");
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/pub/leave', '{}'), '403 not_allowed',
               'the owner cannot leave (transfer or delete first)');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/leave', '{}'), '200 ok', 'bob leaves');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/leave', '{}'), '403 not_member', 'twice');
Test::More::is(main::outcome('bob', 'GET', '/api/rooms/pub/members'), '403 not_member', 'members: out again');
for my $r (['POST', 'join', '{}'], ['POST', 'leave', '{}'], ['GET', 'members']) {
    Test::More::is(main::outcome('bob', $r->[0], "/api/rooms/priv/$r->[1]", $r->[2]), '404 no_such_room',
                   "$r->[1] of a private room by an outsider: as if it did not exist");
    Test::More::is(main::outcome('bob', $r->[0], "/api/rooms/nowhere/$r->[1]", $r->[2]), '404 no_such_room',
                   "$r->[1] of no room");
}
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/priv/join', '{}'), '409 already_member',
               'a member of a private room is told she is in it');
($st, $doc) = main::call('alice', 'GET', '/api/rooms/priv/members');
Test::More::is("$st " . scalar @{ $doc->{members} }, '200 1', "its owner reads its members");
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/Bad/join', '{}'), '400 bad_room_name', 'a bad name in the path');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/join', '{"x":"y"}'), '400 unknown_field',
               'join takes an empty object');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 5: the limits: members per room, rooms per user, rooms in the zone
--- http_config eval: main::http('rooms5', "securechat_room_members_max 2;\n    securechat_user_rooms_max 3;\n    securechat_rooms_max 3;\n")
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'a1'), '201 ok', 'a1');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/a1/join', '{}'), '200 ok', 'bob: the second member');
Test::More::is(main::outcome('carol', 'POST', '/api/rooms/a1/join', '{}'), '403 room_full', 'carol: the third');
Test::More::is(main::create('alice', 'a2'), '201 ok', 'a2: alice in general, a1, a2');
Test::More::is(main::create('alice', 'a3'), '403 too_many_rooms', 'a third room of her own: four in all');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/a2/join', '{}'), '200 ok', 'bob: general, a1, a2');
Test::More::is(main::create('carol', 'c1'), '201 ok', 'c1: the third room besides general');
Test::More::is(main::create('dave', 'd1'), '403 rooms_limit', 'a fourth is over securechat_rooms_max');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/c1/join', '{}'), '403 too_many_rooms',
               'joining counts against the rooms per user too');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/a1/leave', '{}'), '200 ok', 'bob leaves a1');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/c1/join', '{}'), '200 ok', 'which makes room for c1');
Test::More::is(main::outcome('carol', 'POST', '/api/rooms/a1/join', '{}'), '200 ok', 'and a1 has room for carol');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 6: the routes: unknown paths 404, methods 405, no session 401, no CSRF token or a foreign Origin 403
--- http_config eval: main::http('rooms6')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'r6'), '201 ok', 'r6');
for my $p ('/api/rooms/r6/dance', '/api/rooms/r6/join/more', '/api/roomsx', '/api/rooms/Bad',
           '/api/rooms/a/b/c', '/api/rooms/r6/', '/api/rooms/directory/x') {
    Test::More::is(main::outcome('alice', 'GET', $p), '404 not_found', "GET $p");
}
my ($st, $doc, $h) = main::call('alice', 'DELETE', '/api/rooms');
Test::More::is("$st $doc->{error} $h->{allow}", '405 method_not_allowed GET, HEAD, POST', 'DELETE /api/rooms');
($st, $doc, $h) = main::call('alice', 'GET', '/api/rooms/r6');
Test::More::is("$st $h->{allow}", '405 DELETE', 'GET a room: only DELETE is there');
($st, $doc, $h) = main::call('alice', 'POST', '/api/rooms/directory', '{}');
Test::More::is("$st $h->{allow}", '405 GET, HEAD', 'POST the directory');
($st, $doc, $h) = main::call('alice', 'GET', '/api/rooms/r6/join');
Test::More::is("$st $h->{allow}", '405 POST', 'GET a join');
($st, $doc, $h) = main::call('alice', 'PUT', '/api/rooms/r6/members', '{}');
Test::More::is("$st $h->{allow}", '405 GET, HEAD', 'PUT the members');
my ($hst, $hh, $hbody) = SecureChat::Test::http_request('HEAD', '/api/rooms',
    { Cookie => "sc_session=$SecureChat::Rooms::Session{alice}[0]" });
Test::More::is("$hst " . ($hbody // ''), '200 ', 'HEAD my rooms: 200, no body');
Test::More::is(main::outcome(undef, 'GET', '/api/rooms'), '401 unauthorized', 'my rooms without a session');
Test::More::is(main::outcome(undef, 'GET', '/api/rooms/directory'), '401 unauthorized', 'the directory without one');
Test::More::is(main::outcome(undef, 'POST', '/api/rooms', '{"name":"n1"}'), '401 unauthorized', 'create without one');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r6/join', '{}', { 'X-CSRF-Token' => 'wrong' }),
               '403 csrf', 'a join with a wrong CSRF token');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms', '{"name":"n2"}', { Origin => 'http://evil.example' }),
               '403 forbidden_origin', 'a create from a foreign Origin');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general', 'none of them did anything');
($st, $doc) = main::call('alice', 'GET', '/api/rooms/directory');
Test::More::is(main::names($doc), 'general r6', 'nothing was created');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 7: rooms and memberships survive a reload
--- http_config eval: main::http('rooms7')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'kept', title => 'Kept'), '201 ok', 'kept');
Test::More::is(main::create('alice', 'kept-private', kind => 'private'), '201 ok', 'kept-private');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/kept/join', '{}'), '200 ok', 'bob joins kept');
SecureChat::Test::reload_nginx();
my ($st, $doc) = main::call('bob', 'GET', '/api/rooms/kept/members');
Test::More::is_deeply([map { "$_->{user}:$_->{role}" } @{ $doc->{members} }],
                      ['alice:owner', 'bob:member'], 'the members after the reload');
($st, $doc) = main::call('alice', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general kept kept-private', "alice's rooms after the reload");
Test::More::is(main::create('bob', 'kept'), '409 room_exists', 'the name is still taken');
--- request
GET /api/
--- error_code: 200
--- timeout: 30
