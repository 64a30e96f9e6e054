# Moderation and direct rooms (README "Rooms"): invite, remove, ban and
# unban, mute and unmute, roles, the title, a transfer of ownership,
# DELETE; direct rooms of two users; the creation rate.  Each rule that
# refuses says which, about the caller or about the other user.  Each
# block has a zone of its own (SecureChat::Rooms).

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Rooms ();

securechat_defaults();

master_on();
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

# a POST act on room as user, with {user => target} and more
sub act {
    my ($user, $room, $what, $target, %more) = @_;
    return outcome($user, 'POST', "/api/rooms/$room/$what",
                   { (defined $target ? (user => $target) : ()), %more });
}

# "user:role" of each member, and the banned, as a moderator sees them
sub members {
    my ($user, $room) = @_;
    my ($st, $doc) = call($user, 'GET', "/api/rooms/$room/members");
    return "$st" unless $st == 200;
    my $m = join ' ', map { "$_->{user}:$_->{role}" . ($_->{muted} ? ':muted' : '') }
                      @{ $doc->{members} };
    return exists $doc->{banned} ? "$m | banned: @{ $doc->{banned} }" : $m;
}

run_tests();

__DATA__

=== TEST 1: invite: to a private room by its moderators, to a public one by any member; invited before the first login
--- http_config eval: main::http('mod1')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'priv', kind => 'private'), '201 ok', 'priv');
Test::More::is(main::create('alice', 'pub'), '201 ok', 'pub');
Test::More::is(main::act('alice', 'priv', 'invite', 'dave'), '200 ok', 'dave invited, never logged in yet');
Test::More::is(main::act('alice', 'priv', 'invite', 'bob'), '200 ok', 'bob invited');
my ($st, $doc) = main::call('dave', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'priv general', "dave's first login: the invitation kept, general joined too");
Test::More::is(main::act('bob', 'priv', 'invite', 'carol'), '403 not_allowed', 'a member does not invite to a private room');
Test::More::is(main::act('carol', 'priv', 'invite', 'carol'), '404 no_such_room', 'an outsider does not see it');
Test::More::is(main::act('alice', 'priv', 'invite', 'bob'), '409 already_member', 'inviting a member again');
Test::More::is(main::act('alice', 'priv', 'invite', 'mallory'), '404 no_such_user', 'inviting a user who does not exist');
Test::More::is(main::act('bob', 'pub', 'invite', 'carol'), '403 not_member', 'a non-member does not invite');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/pub/join', {}), '200 ok', 'bob joins pub');
Test::More::is(main::act('bob', 'pub', 'invite', 'carol'), '200 ok', 'and any member invites to a public room');
Test::More::is(main::members('carol', 'pub'), 'alice:owner bob:member carol:member', 'pub');
Test::More::is(main::members('bob', 'priv'), 'alice:owner bob:member dave:member', 'priv, as a member sees it (no bans shown)');
Test::More::is(main::act('alice', 'priv', 'invite', undef), '400 missing_field', 'no user');
Test::More::is(main::act('alice', 'priv', 'invite', 'bob', role => 'member'), '400 unknown_field', 'a field too many');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 2: remove: moderators over those below them only; the removed may come back to a public room
--- http_config eval: main::http('mod2')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'r'), '201 ok', 'r');
for my $u (qw(bob carol dave)) {
    Test::More::is(main::outcome($u, 'POST', '/api/rooms/r/join', {}), '200 ok', "$u joins");
}
Test::More::is(main::act('bob', 'r', 'remove', 'carol'), '403 not_allowed', 'a member does not remove');
Test::More::is(main::act('alice', 'r', 'role', 'bob', role => 'moderator'), '200 ok', 'bob made a moderator');
Test::More::is(main::act('alice', 'r', 'role', 'carol', role => 'moderator'), '200 ok', 'carol too');
Test::More::is(main::act('bob', 'r', 'remove', 'carol'), '403 not_allowed', 'moderators do not remove each other');
Test::More::is(main::act('bob', 'r', 'remove', 'alice'), '403 not_allowed', 'nor the owner');
Test::More::is(main::act('bob', 'r', 'remove', 'bob'), '403 not_allowed', 'nor themselves (that is leave)');
Test::More::is(main::act('bob', 'r', 'remove', 'dave'), '200 ok', 'bob removes dave');
Test::More::is(main::act('bob', 'r', 'remove', 'dave'), '404 not_member', 'twice');
my ($st, $doc) = main::call('dave', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general', 'dave is out');
Test::More::is(main::outcome('dave', 'POST', '/api/rooms/r/join', {}), '200 ok', 'a removed member may join again');
Test::More::is(main::act('alice', 'r', 'remove', 'carol'), '200 ok', 'the owner removes a moderator');
Test::More::is(main::members('alice', 'r'), 'alice:owner bob:moderator dave:member | banned: ', 'what is left');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 3: ban and unban: a banned user cannot rejoin nor be invited; a ban may come before a join; bans survive a reload
--- http_config eval: main::http('mod3')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'r'), '201 ok', 'r');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r/join', {}), '200 ok', 'bob joins');
Test::More::is(main::outcome('carol', 'POST', '/api/rooms/r/join', {}), '200 ok', 'carol joins');
Test::More::is(main::act('carol', 'r', 'ban', 'bob'), '403 not_allowed', 'a member does not ban');
Test::More::is(main::act('alice', 'r', 'ban', 'bob'), '200 ok', 'alice bans bob');
Test::More::is(main::act('alice', 'r', 'ban', 'dave'), '200 ok', 'and dave, who is not a member');
SecureChat::Test::reload_nginx();
my ($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general', 'bob is out');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r/join', {}), '403 banned', 'and cannot join again');
Test::More::is(main::outcome('dave', 'POST', '/api/rooms/r/join', {}), '403 banned', 'nor can dave');
Test::More::is(main::outcome('bob', 'GET', '/api/rooms/r/members'), '403 banned', 'nor read the members');
Test::More::is(main::act('carol', 'r', 'invite', 'bob'), '409 banned', 'nor be invited');
Test::More::is(main::members('alice', 'r'), 'alice:owner carol:member | banned: bob dave', 'the owner sees the bans');
Test::More::is(main::members('carol', 'r'), 'alice:owner carol:member', 'a member does not');
Test::More::is(main::act('alice', 'r', 'unban', 'bob'), '200 ok', 'bob unbanned');
Test::More::is(main::act('alice', 'r', 'unban', 'dave'), '200 ok', 'dave unbanned');
Test::More::is(main::act('alice', 'r', 'unban', 'dave'), '200 ok', 'unbanning again does nothing');
Test::More::is(main::members('alice', 'r'), 'alice:owner carol:member | banned: ', 'no ban left, nobody put back');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r/join', {}), '200 ok', 'bob may join again');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 4: mute and unmute; roles; the title; a transfer of ownership
--- http_config eval: main::http('mod4')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'r', title => 'Old'), '201 ok', 'r');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r/join', {}), '200 ok', 'bob joins');
Test::More::is(main::outcome('carol', 'POST', '/api/rooms/r/join', {}), '200 ok', 'carol joins');
Test::More::is(main::act('alice', 'r', 'mute', 'carol'), '200 ok', 'carol muted');
Test::More::is(main::members('bob', 'r'), 'alice:owner bob:member carol:member:muted', 'marked muted');
Test::More::is(main::act('alice', 'r', 'unmute', 'carol'), '200 ok', 'and unmuted');
Test::More::is(main::act('alice', 'r', 'mute', 'dave'), '404 not_member', 'muting a non-member');
Test::More::is(main::act('alice', 'r', 'role', 'bob', role => 'owner'), '403 not_allowed', 'ownership moves only by a transfer');
Test::More::is(main::act('alice', 'r', 'role', 'bob', role => 'boss'), '400 bad_role', 'an unknown role');
Test::More::is(main::act('alice', 'r', 'role', 'bob'), '400 missing_field', 'no role');
Test::More::is(main::act('bob', 'r', 'role', 'carol', role => 'moderator'), '403 not_allowed', 'a member sets no role');
Test::More::is(main::act('alice', 'r', 'role', 'bob', role => 'moderator'), '200 ok', 'bob a moderator');
Test::More::is(main::act('bob', 'r', 'role', 'carol', role => 'moderator'), '403 not_allowed', 'a moderator sets no role either');
Test::More::is(main::act('bob', 'r', 'mute', 'carol'), '200 ok', 'but mutes a member');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/r/title', { title => 'Mine' }), '403 not_allowed', 'and sets no title');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/r/title', { title => 'New' }), '200 ok', 'the owner does');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/r/title', { title => '' }), '400 too_short', 'an empty title');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/r/title', { title => "a\nb" }), '400 bad_characters', 'a control character');
my ($st, $doc) = main::call('carol', 'GET', '/api/rooms/r/members');
Test::More::is($doc->{room}{title}, 'New', 'the new title');
Test::More::is(main::act('alice', 'r', 'transfer', 'dave'), '404 not_member', 'a transfer to a non-member');
Test::More::is(main::act('bob', 'r', 'transfer', 'carol'), '403 not_allowed', 'a moderator transfers nothing');
Test::More::is(main::act('alice', 'r', 'transfer', 'carol'), '200 ok', 'alice gives r to carol');
Test::More::is(main::members('carol', 'r'), 'alice:moderator bob:moderator carol:owner | banned: ',
               'carol owns it (her mute lifted), alice stays as a moderator');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/r/title', { title => 'Back' }), '403 not_allowed', 'alice is no owner now');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/r/leave', {}), '200 ok', 'and may leave');
Test::More::is(main::outcome('carol', 'POST', '/api/rooms/r/leave', {}), '403 not_allowed', 'carol may not');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 5: DELETE: the owner's only; the room and every membership go, the name is free; general stays
--- http_config eval: main::http('mod5')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'gone'), '201 ok', 'gone');
Test::More::is(main::outcome('bob', 'POST', '/api/rooms/gone/join', {}), '200 ok', 'bob joins');
Test::More::is(main::act('alice', 'gone', 'ban', 'carol'), '200 ok', 'carol banned from it');
Test::More::is(main::outcome('bob', 'DELETE', '/api/rooms/gone'), '403 not_allowed', 'a member does not delete');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/gone', undef, { 'X-CSRF-Token' => 'x' }), '403 csrf',
               'no DELETE without the CSRF token');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/gone', undef, { Origin => 'http://evil.example' }),
               '403 forbidden_origin', 'nor from a foreign Origin');
Test::More::is(main::outcome(undef, 'DELETE', '/api/rooms/gone'), '401 unauthorized', 'nor without a session');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/gone'), '200 ok', 'the owner deletes it');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/gone'), '404 no_such_room', 'it is gone');
Test::More::is(main::outcome('bob', 'GET', '/api/rooms/gone/members'), '404 no_such_room', 'for bob too');
my ($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), 'general', "and from bob's rooms");
Test::More::is(main::create('carol', 'gone'), '201 ok', 'the name is free (and its bans went with it)');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/general'), '403 not_allowed', 'general has no owner: nobody deletes it');
Test::More::is(main::outcome('alice', 'DELETE', '/api/rooms/Bad'), '400 bad_room_name', 'a bad name');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 6: direct rooms: one per pair, the same from either side, never a third member, not in the directory
--- http_config eval: main::http('mod6')
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
my ($st, $doc) = main::call('alice', 'POST', '/api/rooms/direct', { user => 'bob' });
Test::More::is($st, 201, 'opened: 201');
# the name is the unit test's reference: dm- and 40 hex digits of
# SHA-256("securechat direct v1" 0 "alice" 0 "bob")
Test::More::is_deeply([@{ $doc->{room} }{qw(name title kind role members)}],
                      ['dm-ed4143be43fb5b5a9cbb52b4eb6dc8efbd850a5e', 'alice, bob', 'direct', 'member', 2],
                      'the pair\'s name, both as members');
my $dm = $doc->{room}{name};
($st, $doc) = main::call('bob', 'POST', '/api/rooms/direct', { user => 'alice' });
Test::More::is("$st $doc->{room}{name}", "200 $dm", 'from the other side: the same room, found');
($st, $doc) = main::call('bob', 'GET', '/api/rooms');
Test::More::is(main::names($doc), "$dm general", "in bob's rooms (his first login came after it)");
Test::More::is(main::members('alice', $dm), 'alice:member bob:member', 'two members');
Test::More::is(main::outcome('carol', 'POST', "/api/rooms/$dm/join", {}), '404 no_such_room', 'a third cannot join');
Test::More::is(main::act('alice', $dm, 'invite', 'carol'), '403 not_allowed', 'nor be invited');
Test::More::is(main::outcome('alice', 'POST', "/api/rooms/$dm/leave", {}), '403 not_allowed', 'nobody leaves a direct room');
Test::More::is(main::outcome('alice', 'DELETE', "/api/rooms/$dm"), '403 not_allowed', 'nor deletes it');
Test::More::is(main::act('alice', $dm, 'ban', 'bob'), '403 not_allowed', 'nor moderates it');
($st, $doc) = main::call('carol', 'GET', '/api/rooms/directory');
Test::More::is(main::names($doc), 'general', 'not in the directory');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/direct', { user => 'alice' }), '400 bad_user', 'not with oneself');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/direct', { user => 'mallory' }), '404 no_such_user', 'not with nobody');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/direct', {}), '400 missing_field', 'no user');
Test::More::is(main::create('alice', $dm), '400 bad_room_name', 'its name cannot be created');
Test::More::is(main::outcome('alice', 'GET', '/api/rooms/direct'), '405 method_not_allowed', 'GET it: 405');
--- request
GET /api/
--- error_code: 200
--- timeout: 30



=== TEST 7: the creation rate per user: 429 too_fast with Retry-After past it, opening a direct room counts too
--- http_config eval: main::http('mod7', "securechat_room_create_rate 2;\n")
--- config eval: $::Routes
--- init
SecureChat::Rooms::forget();
Test::More::is(main::create('alice', 'one'), '201 ok', 'one');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/direct', { user => 'bob' }), '201 ok', 'a direct room, the second');
my ($st, $doc, $h) = main::call('alice', 'POST', '/api/rooms', { name => 'three' });
Test::More::is("$st $doc->{error} $h->{'retry-after'}", '429 too_fast 30', 'the third within the minute: wait 30 s');
Test::More::is(main::outcome('alice', 'POST', '/api/rooms/direct', { user => 'bob' }), '200 ok',
               'an existing direct room is found, not made');
Test::More::is(main::create('alice', 'one'), '409 room_exists', 'a refused name costs nothing');
Test::More::is(main::create('bob', 'three'), '201 ok', "bob's rate is his own");
--- request
GET /api/
--- error_code: 200
--- timeout: 30
