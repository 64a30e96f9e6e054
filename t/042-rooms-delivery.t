# Delivery scoped per room (README "Rooms", docs/ROOMS-DESIGN.md section
# 3): a room's messages, posted with POST /api/chat {"room"} or a chat
# frame naming it, reach the sockets of its members only, in every
# worker, their signed header naming the room; membership changes come
# on the WebSocket as signed event frames, in id order with the
# messages, to the room's members and to their target; after a join the
# joiner's open sockets get the room, after a leave, removal, ban or
# delete they do not; a refused chat frame is an error frame and the
# socket stays open; a resume catches up the socket's own rooms only.
#
# That a socket did not get a room's message is shown by a later message
# to general that it did get (frames come in increasing id), never by a
# wait for nothing.  Sockets opened after a block's setup are first read
# up to such a message, and get nothing of another room before it
# (settled()).  Each block has a zone of its own (SecureChat::Rooms).

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use SecureChat::Rooms ();
use SecureChat::Delivery ();

securechat_defaults();

# a socket that stops reading, on a server with a small send buffer
$ENV{TEST_NGINX_SLOW_PORT} ||= 1987;

master_on();
workers(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /api/clients { securechat clients; }
    location /api/rooms { securechat rooms; }
_EOC_

no warnings 'once';
*http = \&SecureChat::Rooms::http_config;
*chats = \&SecureChat::Delivery::chats;
*act = \&SecureChat::Delivery::act;
*call = \&SecureChat::Delivery::call;
*post = \&SecureChat::Delivery::post;
*post_id = \&SecureChat::Delivery::post_id;
*until_frame = \&SecureChat::Delivery::until_frame;
*shows = \&SecureChat::Delivery::shows;
*is_event = \&SecureChat::Delivery::is_event;
*is_error = \&SecureChat::Delivery::is_error;
*ids_rise = \&SecureChat::Delivery::ids_rise;

# alice's public room team with bob in it; bob's two sockets in the two
# workers, alice's one, all settled: ($alice, $bob, [bob's], alice's,
# [the workers of bob's])
sub team_across_workers {
    my ($alice, $bob) = chats(qw(alice bob));
    Test::More::is(act($alice, 'POST', '/api/rooms', { name => 'team' }), '201 ok', 'alice makes team');
    Test::More::is(act($bob, 'POST', '/api/rooms/team/join', {}), '200 ok', 'bob joins');
    my @cb = SecureChat::Chat::spread_connect(2, $bob);
    my $ca = $alice->connect;
    my @w = map { SecureChat::Test::worker_of($_->{ws}->sock) // 0 } @cb;
    Test::More::ok($w[0] && $w[1] && $w[0] != $w[1], "bob's two sockets live in different workers");
    settled($alice, @cb, $ca);
    return ($alice, $bob, \@cb, $ca, \@w);
}

# Reads the new sockets up to a message to general: whatever came before
# it must be of their own rooms (what of the setup a socket may still
# get, SecureChat::Delivery::settle), never of another room
sub settled {
    my ($chat, @conns) = @_;
    my @left = SecureChat::Delivery::settle($chat, 'settled', @conns);
    my @foreign;
    for my $i (0 .. $#conns) {
        my %mine = map { $_ => 1 } SecureChat::Delivery::rooms_of($conns[$i]{chat});
        push @foreign, map { "$conns[$i]{chat}{user}: $_" }
                       @{ shows([grep { !$mine{ $_->{room} // '' } } @{ $left[$i] }]) };
        Test::More::note("$conns[$i]{chat}{user}'s new socket got first: $_")
            for @{ shows($left[$i]) };
    }
    Test::More::is_deeply(\@foreign, [], 'the new sockets got nothing of a room not theirs before a general message');
}

# the frames of each connection up to the message $text, as shows() gives
sub upto {
    my ($text, @conns) = @_;
    return map { shows((until_frame($_, $text))[0]) } @conns;
}

# a page of the room's history as $who scrolls back ($q: the query):
# the status, the document, and each item as one line: "event E USER #ID",
# or "SENDER: TEXT #ID" for a message verified and opened with $who's key
# (its header naming the room and the id), else "bad (why)"
sub page_of {
    my ($who, $room, $q) = @_;
    my $srv = $who->{server};
    my ($st, $doc) = call($who, 'GET', "/api/rooms/$room/messages$q");
    return ($st, $doc, [map {
        my $m = $_;
        if (($m->{type} // '') eq 'event') {
            "event $m->{event} $m->{user} #$m->{id}";
        } else {
            my ($rc, $pt, $h) = SecureChat::Envelope::open_ek($srv->{pk}, $srv->{alg}, $m, $who->{priv});
            $rc eq 'ok' && $h->{room} eq $room && $h->{id} == $m->{id}
                ? "$h->{sender}: $pt #$h->{id}" : "bad ($rc)";
        }
    } @{ $doc->{items} || [] }]);
}

run_tests();

__DATA__

=== TEST 1: a private room's messages (HTTP and WebSocket) reach its two members' sockets, not carol's, who gets general's
--- http_config eval: main::http('deliv1')
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'secret', kind => 'private' }),
               '201 ok', 'alice makes the private room secret');
Test::More::is(main::act($alice, 'POST', '/api/rooms/secret/invite', { user => 'bob' }), '200 ok',
               'and invites bob');
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(3, $alice, $bob, $carol);
Test::More::is(join(' ', sort keys %c), 'alice bob carol', 'a socket each, in both workers');
main::settled($alice, @c{qw(alice bob carol)});
my ($st, $id) = main::post_id($alice, 'secret by HTTP', 'secret');
Test::More::is($st, '202 ok', 'alice posts to secret: 202');
$c{bob}->send_chat('secret by WS', room => 'secret');
my %got = map { $_ => (main::until_frame($c{$_}, 'secret by WS'))[0] } qw(alice bob);
Test::More::is(main::post($alice, 'general after'), '202 ok', 'then to general (no room named)');
for my $u (qw(alice bob)) {
    my ($f) = main::until_frame($c{$u}, 'general after');
    Test::More::is_deeply(main::shows([@{ $got{$u} }, @$f]),
                          ['message secret alice: secret by HTTP', 'message secret bob: secret by WS',
                           'message general alice: general after'],
                          "$u: both messages of secret, verified, the room in their signed header, then general's");
    Test::More::ok(defined $id && (($got{$u}[0] // {})->{id} // 0) == $id,
                   "$u: the HTTP one with the id POST answered");
}
my ($f, $came) = main::until_frame($c{carol}, 'general after');
Test::More::ok($came, "carol's socket gets the general message");
Test::More::is_deeply(main::shows($f), ['message general alice: general after'],
                      'and nothing of secret came before it');
$_->{ws}->close for values %c;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 2: a kick in another worker: both of bob's sockets get "removed", then nothing of the room; his POST is 403 not_member
--- http_config eval: main::http('deliv2')
--- config eval: $::Routes
--- init
my ($alice, $bob, $cb, $ca, $w) = main::team_across_workers();
my @cb = @$cb;
my @w = @$w;
my ($st, $before) = main::post_id($alice, 'before the kick', 'team');
Test::More::is($st, '202 ok', 'alice posts to team');
Test::More::is_deeply([main::upto('before the kick', @cb, $ca)],
                      [(['message team alice: before the kick']) x 3],
                      "each of bob's sockets and alice's gets it");
Test::More::is(main::act($alice, 'POST', '/api/rooms/team/remove', { user => 'bob' }), '200 ok',
               'alice removes bob');
my $after;
($st, $after) = main::post_id($alice, 'after the kick', 'team');
Test::More::is($st, '202 ok', 'and posts to team again');
Test::More::is(main::post($bob, 'still in?', 'team'), '403 not_member', "bob's POST to team: 403 not_member");
Test::More::is(main::post($alice, 'general after the kick'), '202 ok', 'then to general');
for my $i (0, 1) {
    my ($f) = main::until_frame($cb[$i], 'general after the kick');
    Test::More::is_deeply(main::shows($f),
                          ['event removed team bob by alice', 'message general alice: general after the kick'],
                          "bob's socket in worker $w[$i]: the removal, then nothing of team");
    my $ev = $f->[0]{id} // 0;
    Test::More::ok($ev > ($before // 0) && $ev < ($after // 0),
                   "its id ($ev) is of the message sequence: between the two messages to team");
}
my ($f) = main::until_frame($ca, 'general after the kick');
Test::More::is_deeply(main::shows($f),
                      ['event removed team bob by alice', 'message team alice: after the kick',
                       'message general alice: general after the kick'],
                      "alice's socket: the removal, then team's next message");
$cb[0]->send_chat('removed, by WS', room => 'team');
Test::More::is_deeply(main::shows((main::until_frame($cb[0], main::is_error()))[0]), ['error not_member'],
                      "bob's chat frame to team: an error frame not_member");
$cb[0]->send_chat('bob, in general');
Test::More::is_deeply([main::upto('bob, in general', @cb, $ca)],
                      [(['message general bob: bob, in general']) x 3],
                      'the socket stayed open: his next frame, to general, reaches all three');
$_->{ws}->close for @cb, $ca;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 3: a ban in another worker: "banned", then nothing of the room; 403 banned to post and to rejoin; unban and join bring it back
--- http_config eval: main::http('deliv3')
--- config eval: $::Routes
--- init
my ($alice, $bob, $cb, $ca, $w) = main::team_across_workers();
my @cb = @$cb;
my @w = @$w;
Test::More::is(main::post($alice, 'before the ban', 'team'), '202 ok', 'alice posts to team');
Test::More::is_deeply([main::upto('before the ban', @cb)], [(['message team alice: before the ban']) x 2],
                      'both of bob\'s sockets get it');
Test::More::is(main::act($alice, 'POST', '/api/rooms/team/ban', { user => 'bob' }), '200 ok', 'alice bans bob');
Test::More::is(main::post($alice, 'after the ban', 'team'), '202 ok', 'and posts to team again');
Test::More::is(main::post($bob, 'banned?', 'team'), '403 banned', "bob's POST to team: 403 banned");
Test::More::is(main::act($bob, 'POST', '/api/rooms/team/join', {}), '403 banned', 'he cannot join again');
Test::More::is(main::post($alice, 'general after the ban'), '202 ok', 'alice posts to general');
Test::More::is_deeply([main::upto('general after the ban', @cb)],
                      [(['event banned team bob by alice', 'message general alice: general after the ban']) x 2],
                      "each of bob's sockets: the ban, then nothing of team");
Test::More::is_deeply([main::upto('general after the ban', $ca)],
                      [['message team alice: before the ban', 'event banned team bob by alice',
                        'message team alice: after the ban', 'message general alice: general after the ban']],
                      "alice's socket: team's messages with the ban between them");
$cb[1]->send_chat('banned, by WS', room => 'team');
Test::More::is_deeply(main::shows((main::until_frame($cb[1], main::is_error()))[0]), ['error banned'],
                      "bob's chat frame to team: an error frame banned");
Test::More::is(main::act($alice, 'POST', '/api/rooms/team/unban', { user => 'bob' }), '200 ok', 'alice lifts the ban');
Test::More::is(main::act($bob, 'POST', '/api/rooms/team/join', {}), '200 ok', 'bob joins again');
Test::More::is(main::post($alice, 'welcome back', 'team'), '202 ok', 'alice posts to team');
Test::More::is_deeply([main::upto('welcome back', @cb, $ca)],
                      [(['event unbanned team bob by alice', 'event join team bob by bob',
                         'message team alice: welcome back']) x 3],
                      "bob's sockets (the target's) and alice's: unbanned, join, then team's message");
$cb[1]->send_chat('bob, in general');
Test::More::is_deeply([main::upto('bob, in general', $ca)], [['message general bob: bob, in general']],
                      'the refused socket stayed open');
$_->{ws}->close for @cb, $ca;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 4: mute: 403 muted over HTTP, an error frame muted over the WebSocket, which stays open; unmute restores both
--- http_config eval: main::http('deliv4')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'talk' }), '201 ok', 'alice makes talk');
Test::More::is(main::act($bob, 'POST', '/api/rooms/talk/join', {}), '200 ok', 'bob joins');
my ($ca, $cb) = ($alice->connect, $bob->connect);
main::settled($alice, $ca, $cb);
Test::More::is(main::act($alice, 'POST', '/api/rooms/talk/mute', { user => 'bob' }), '200 ok', 'alice mutes bob');
Test::More::is_deeply([map { main::shows((main::until_frame($_, main::is_event('muted')))[0]) } $ca, $cb],
                      [(['event muted talk bob by alice']) x 2], 'both sockets get the event');
Test::More::is(main::post($bob, 'muted, by HTTP', 'talk'), '403 muted', "bob's POST to talk: 403 muted");
$cb->send_chat('muted, by WS', room => 'talk');
Test::More::is_deeply(main::shows((main::until_frame($cb, main::is_error()))[0]), ['error muted'],
                      'his chat frame to talk: an error frame muted');
$cb->send_chat('bob, in general');
Test::More::is_deeply([main::upto('bob, in general', $ca, $cb)], [(['message general bob: bob, in general']) x 2],
                      'the socket stayed open: his next frame, to general, goes out; nothing of talk did');
Test::More::is(main::act($alice, 'POST', '/api/rooms/talk/unmute', { user => 'bob' }), '200 ok', 'alice unmutes him');
Test::More::is(main::post($bob, 'unmuted, by HTTP', 'talk'), '202 ok', 'his POST to talk: 202');
$cb->send_chat('unmuted, by WS', room => 'talk');
Test::More::is_deeply([main::upto('unmuted, by WS', $ca, $cb)],
                      [(['event unmuted talk bob by alice', 'message talk bob: unmuted, by HTTP',
                         'message talk bob: unmuted, by WS']) x 2],
                      'both sockets: unmuted, then his two messages to talk');
$_->{ws}->close for $ca, $cb;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 5: join events (create, join, invite, a direct room) reach the open sockets, which then get the room's messages; after a leave, not
--- http_config eval: main::http('deliv5')
--- config eval: $::Routes
--- init
my @u = main::chats(qw(alice bob carol dave));
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(4, @u);
my ($alice, $bob, $carol, $dave) = @u;
Test::More::is(join(' ', sort keys %c), 'alice bob carol dave', 'a socket each, in both workers');
main::settled($alice, @c{qw(alice bob carol dave)});
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pub' }), '201 ok', 'alice makes pub');
Test::More::is_deeply(main::shows((main::until_frame($c{alice}, main::is_event('join')))[0]),
                      ['event join pub alice by alice'], "the creator's socket gets her join");
Test::More::is(main::post($alice, 'before carol', 'pub'), '202 ok', 'alice posts to pub');
Test::More::is(main::act($carol, 'POST', '/api/rooms/pub/join', {}), '200 ok', 'carol joins pub');
my ($f) = main::until_frame($c{carol}, main::is_event('join'));
Test::More::is_deeply(main::shows($f), ['event join pub carol by carol'],
                      "carol's open socket gets her join, and not the message from before it");
($f) = main::until_frame($c{alice}, main::is_event('join', 'carol'));
Test::More::is_deeply(main::shows($f), ['message pub alice: before carol', 'event join pub carol by carol'],
                      "alice's socket: her message, then carol's join");
Test::More::is(main::post($alice, 'after carol', 'pub'), '202 ok', 'alice posts to pub again');
Test::More::is_deeply([main::upto('after carol', $c{carol}, $c{alice})], [(['message pub alice: after carol']) x 2],
                      "carol's socket now gets pub's messages");
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'inner', kind => 'private' }), '201 ok',
               'alice makes the private room inner');
Test::More::is(main::act($alice, 'POST', '/api/rooms/inner/invite', { user => 'dave' }), '200 ok', 'and invites dave');
($f) = main::until_frame($c{dave}, main::is_event('join'));
Test::More::is_deeply(main::shows($f), ['event join inner dave by alice'],
                      "dave's socket: the invitation, a join by alice (nothing of pub before it)");
($f) = main::until_frame($c{alice}, main::is_event('join', 'dave'));
Test::More::is_deeply(main::shows($f), ['event join inner alice by alice', 'event join inner dave by alice'],
                      "alice's socket: her join of inner, then dave's");
Test::More::is(main::post($alice, 'to inner', 'inner'), '202 ok', 'alice posts to inner');
Test::More::is_deeply([main::upto('to inner', $c{dave}, $c{alice})], [(['message inner alice: to inner']) x 2],
                      "dave's socket gets it, and alice's");
my ($st, $doc) = main::call($bob, 'POST', '/api/rooms/direct', { user => 'carol' });
my $dm = $doc->{room}{name} // 'dm-?';
Test::More::is($st, '201 ok', "bob opens a direct room with carol ($dm)");
$c{carol}->send_chat('hi bob', room => $dm);
my %dm;
for my $u (qw(bob carol)) {
    my @f = @{ main::shows((main::until_frame($c{$u}, 'hi bob'))[0]) };
    my $last = pop @f;
    Test::More::is($last, "message $dm carol: hi bob", "$u\'s socket: carol's chat frame to the direct room");
    $dm{$u} = join ', ', sort @f;
}
# each socket is the target of its user's join; whether it also gets the
# other's depends on which of the two the server appends first (a join
# reaches the room's subscribed sockets and its target's), so either is
# taken, but the first joined hears of the second; both are by bob, the
# opener
my %join = map { $_ => "event join $dm $_ by bob" } qw(bob carol);
for my $u (qw(bob carol)) {
    Test::More::ok($dm{$u} eq $join{$u} || $dm{$u} eq "$join{bob}, $join{carol}",
                   "$u\'s socket, before it: $u\'s join, maybe the other's, nothing else ($dm{$u})");
}
Test::More::ok(grep({ $dm{$_} eq "$join{bob}, $join{carol}" } qw(bob carol)),
               'one of the two sockets heard of both joins');
Test::More::is(main::act($carol, 'POST', '/api/rooms/pub/leave', {}), '200 ok', 'carol leaves pub');
Test::More::is(main::post($alice, 'after carol left', 'pub'), '202 ok', 'alice posts to pub');
Test::More::is(main::post($dave, 'dave, in general'), '202 ok', 'dave posts to general');
Test::More::is_deeply([main::upto('dave, in general', @c{qw(alice carol bob dave)})],
                      [['event leave pub carol by carol', 'message pub alice: after carol left',
                        'message general dave: dave, in general'],
                       ['event leave pub carol by carol', 'message general dave: dave, in general'],
                       (['message general dave: dave, in general']) x 2],
                      'alice: the leave, then pub; carol: the leave, then nothing of pub; '
                      . 'bob and dave: nothing of pub nor, for dave, of the direct room');
$_->{ws}->close for values %c;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 6: delete: members' sockets get "deleted", then nothing of the room, even of a new room of the same name; POST is 404 no_such_room
--- http_config eval: main::http('deliv6')
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'gone' }), '201 ok', 'alice makes gone');
Test::More::is(main::act($bob, 'POST', '/api/rooms/gone/join', {}), '200 ok', 'bob joins');
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(2, $alice, $bob);
$c{carol} = $carol->connect;
main::settled($alice, @c{qw(alice bob carol)});
Test::More::is(main::post($alice, 'last words', 'gone'), '202 ok', 'alice posts to gone');
Test::More::is_deeply([main::upto('last words', @c{qw(alice bob)})], [(['message gone alice: last words']) x 2],
                      'both members get it');
Test::More::is(main::act($alice, 'DELETE', '/api/rooms/gone'), '200 ok', 'alice deletes gone');
Test::More::is_deeply([map { main::shows((main::until_frame($_, main::is_event('deleted')))[0]) } @c{qw(alice bob)}],
                      [(['event deleted gone by alice']) x 2], "both members' sockets get the event");
Test::More::is(main::post($alice, 'to gone', 'gone'), '404 no_such_room', "the owner's POST to it: 404 no_such_room");
Test::More::is(main::post($bob, 'to gone', 'gone'), '404 no_such_room', "bob's: 404 no_such_room");
$c{bob}->send_chat('to gone, by WS', room => 'gone');
Test::More::is_deeply(main::shows((main::until_frame($c{bob}, main::is_error()))[0]), ['error no_such_room'],
                      'a chat frame to it: an error frame no_such_room');
Test::More::is(main::act($carol, 'POST', '/api/rooms', { name => 'gone' }), '201 ok', 'carol makes a new gone');
Test::More::is(main::post($carol, 'the new gone', 'gone'), '202 ok', 'and posts to it');
Test::More::is_deeply([main::upto('the new gone', $c{carol})],
                      [['event join gone carol by carol', 'message gone carol: the new gone']],
                      "carol's socket: her join, her message (and nothing of the old room)");
$c{bob}->send_chat('bob, in general');
Test::More::is_deeply([main::upto('bob, in general', @c{qw(alice bob carol)})],
                      [(['message general bob: bob, in general']) x 3],
                      "bob's socket stayed open; the old members got nothing of the new gone");
$_->{ws}->close for values %c;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 7: the room a post names: a bad name 400, none or a private one of others 404, a public one not joined 403; as error frames over the WebSocket, which stays open
--- http_config eval: main::http('deliv7')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'priv', kind => 'private' }), '201 ok', 'alice makes priv');
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pub' }), '201 ok', 'and pub');
Test::More::is(main::post($bob, 'x', 'Bad'), '400 bad_room_name', 'a bad room name: 400 bad_room_name');
Test::More::is(main::post($bob, 'x', 'a/b'), '400 bad_room_name', 'another: 400 bad_room_name');
Test::More::is(main::post($bob, 'x', 'nowhere'), '404 no_such_room', 'no such room: 404 no_such_room');
Test::More::is(main::post($bob, 'x', 'priv'), '404 no_such_room', "a private room of others: 404 no_such_room");
Test::More::is(main::post($bob, 'x', 'pub'), '403 not_member', 'a public room he is not in: 403 not_member');
Test::More::is(main::post($alice, 'x', 'priv'), '202 ok', 'its owner posts to priv: 202');
Test::More::is(main::post($bob, 'x', 'general'), '202 ok', 'general named: 202');
Test::More::is(main::post($bob, 'x'), '202 ok', 'no room: general, 202');
my $cb = $bob->connect;
main::settled($bob, $cb);
for my $t (['nowhere', 'no_such_room'], ['priv', 'no_such_room'], ['pub', 'not_member']) {
    $cb->send_chat("to $t->[0]", room => $t->[0]);
    Test::More::is_deeply(main::shows((main::until_frame($cb, main::is_error()))[0]), ["error $t->[1]"],
                          "a chat frame to $t->[0]: an error frame $t->[1]");
}
$cb->send_chat('bob after the refusals');
Test::More::is_deeply([main::upto('bob after the refusals', $cb)], [['message general bob: bob after the refusals']],
                      'the socket stayed open, its counter counted on: the next frame, to general, goes out');
$cb->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 8: resume per room: the history of the socket's own rooms only, in order, ids consecutive in each room; last_id is general's
--- http_config eval: main::http('deliv8')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'hidden', kind => 'private' }), '201 ok',
               'alice makes the private room hidden');
my %id;
for my $p ([$alice, 'g1'], [$alice, 'h1', 'hidden'], [$bob, 'g2'], [$alice, 'h2', 'hidden'], [$alice, 'g3']) {
    my ($st, $id) = main::post_id(@$p);
    Test::More::is($st, '202 ok', "$p->[0]{user} posts $p->[1]");
    $id{ $p->[1] } = $id;
}
Test::More::is_deeply([@id{qw(g1 g2 g3)}], [1, 2, 3], "general's ids: 1, 2, 3");
Test::More::is_deeply([@id{qw(h1 h2)}], [2, 3], "hidden's: 2, 3 (its creator's join is 1)");
my ($f, $came) = main::until_frame($bob->connect(resume => '*:0'), 'g3');
Test::More::ok($came, 'bob resumes every room from 0: g3 comes');
Test::More::is_deeply([grep { /^message/ } @{ main::shows($f) }],
                      ['message general alice: g1', 'message general bob: g2', 'message general alice: g3'],
                      "general's messages, in order");
Test::More::is_deeply([grep { ($_->{room} // '') eq 'hidden' } @$f], [], 'nothing of hidden, message or event');
Test::More::ok(main::ids_rise($f), 'ids consecutive per room');
($f, $came) = main::until_frame($alice->connect(resume => '*:0'), 'g3');
Test::More::ok($came, 'alice resumes every room from 0: g3 comes');
my @mine = grep { /^message/ || /hidden/ } @{ main::shows($f) };
Test::More::is_deeply(\@mine, ['event join hidden alice by alice', 'message general alice: g1',
                               'message hidden alice: h1', 'message general bob: g2', 'message hidden alice: h2',
                               'message general alice: g3'],
                      'her join of hidden and both rooms\' messages, in order');
Test::More::ok(main::ids_rise($f), 'ids consecutive per room');
($f, $came) = main::until_frame($alice->connect(resume => "general:$id{g1},hidden:$id{h1}"), 'g3');
Test::More::is_deeply(main::shows($f), ['message general bob: g2', 'message hidden alice: h2',
                                        'message general alice: g3'],
                      'alice resumes each room after its own last id: g2, h2, g3 only');
($f, $came) = main::until_frame($alice->connect(resume => "hidden:0"), 'g3');
Test::More::is_deeply([grep { !/general/ } @{ main::shows($f) }],
                      ['event join hidden alice by alice', 'message hidden alice: h1', 'message hidden alice: h2'],
                      'a room named gets its history; one not named (general) only what comes from now');
($f, $came) = main::until_frame($bob->connect(last_id => $id{g1}), 'g3');
Test::More::is_deeply(main::shows($f), ['message general bob: g2', 'message general alice: g3'],
                      'last_id is general\'s: bob resumes after g1, g2 and g3 only');
for my $bad ('general', 'general:x', 'Bad:1', ':1', 'general:1,', 'general:99999999999999999') {
    my $ws = SecureChat::WS->connect(path => "/api/connect?resume=$bad",
                                     headers => { Cookie => "sc_session=$bob->{cookie}",
                                                  Origin => $SecureChat::Chat::Origin });
    Test::More::is($ws->status, 400, "resume=$bad: 400");
    Test::More::like($ws->body, qr/"bad_resume"/, "resume=$bad: bad_resume");
}
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 9: resume past what the history holds: a gap frame in the room that lost ids, then the kept messages of the socket's rooms only
--- http_config eval: main::http('deliv9', "    securechat_history 4;\n")
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'hidden', kind => 'private' }), '201 ok',
               'alice makes the private room hidden');
my %id;
for my $p ((map { [$alice, "g$_"] } 1 .. 4), [$alice, 'h1', 'hidden'], [$bob, 'g5'], [$alice, 'g6']) {
    my ($st, $id) = main::post_id(@$p);
    Test::More::is($st, '202 ok', "$p->[0]{user} posts $p->[1]");
    $id{ $p->[1] } = $id // 0;
}
# the history keeps the newest four: g4 h1 g5 g6
my $to = $id{g4} - 1;
my ($f) = main::until_frame($bob->connect(resume => '*:0'), 'g6');
Test::More::is_deeply(main::shows($f), ["gap general 1-$to", 'message general alice: g4', 'message general bob: g5',
                                        'message general alice: g6'],
                      'bob: the gap in general, then the kept messages of general, not h1');
($f) = main::until_frame($alice->connect(resume => '*:0'), 'g6');
Test::More::is_deeply(main::shows($f), ["gap general 1-$to", 'message general alice: g4', 'gap hidden 1-1',
                                        'message hidden alice: h1', 'message general bob: g5',
                                        'message general alice: g6'],
                      'alice: a gap in each room (her join of hidden is gone too), then the kept messages of both');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 10: role, title and transfer events reach the members, with the role, the title, the new owner; not others
--- http_config eval: main::http('deliv10')
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'r' }), '201 ok', 'alice makes r');
Test::More::is(main::act($bob, 'POST', '/api/rooms/r/join', {}), '200 ok', 'bob joins');
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(3, $alice, $bob, $carol);
main::settled($alice, @c{qw(alice bob carol)});
Test::More::is(main::act($alice, 'POST', '/api/rooms/r/role', { user => 'bob', role => 'moderator' }), '200 ok',
               'bob made a moderator');
Test::More::is(main::act($alice, 'POST', '/api/rooms/r/title', { title => 'New' }), '200 ok', 'a new title');
Test::More::is(main::act($alice, 'POST', '/api/rooms/r/transfer', { user => 'bob' }), '200 ok', 'r given to bob');
Test::More::is(main::post($bob, 'the owner speaks', 'r'), '202 ok', 'bob posts to r');
Test::More::is(main::post($carol, 'carol, in general'), '202 ok', 'carol posts to general');
my @want = ('event role r bob by alice role moderator', 'event title r by alice title New',
            'event transfer r bob by alice', 'message r bob: the owner speaks',
            'message general carol: carol, in general');
Test::More::is_deeply([main::upto('carol, in general', @c{qw(alice bob carol)})],
                      [\@want, \@want, ['message general carol: carol, in general']],
                      'alice and bob: the three events in order, then the message; carol: nothing of r');
$_->{ws}->close for values %c;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 11: a direct room is unreadable by a third: carol's socket gets nothing of it, and no wrapped key she ever got opens its CEK (CryptX)
--- http_config eval: main::http('deliv11')
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
my ($st, $doc) = main::call($alice, 'POST', '/api/rooms/direct', { user => 'bob' });
Test::More::is($st, '201 ok', 'alice opens the direct room of alice and bob');
my $dm = $doc->{room}{name};
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(3, $alice, $bob, $carol);
main::settled($alice, @c{qw(alice bob carol)});
Test::More::is(main::post($alice, 'for bob only', $dm), '202 ok', 'alice writes to the direct room');
my ($f) = main::until_frame($c{bob}, 'for bob only');
Test::More::is((main::shows($f))->[-1], "message $dm alice: for bob only", 'bob reads it');
my $secret = $c{bob}{last_frame};
Test::More::is(main::post($carol, 'carol, in general'), '202 ok', 'carol posts to general');
($f) = main::until_frame($c{carol}, 'carol, in general');
Test::More::is_deeply(main::shows($f), ['message general carol: carol, in general'],
                      'carol: only her general message, nothing of the direct room');
my $srv = $carol->{server};
my ($rc) = SecureChat::Envelope::open_message($srv->{pk}, $srv->{alg}, $secret, $c{carol}{wrap});
Test::More::isnt($rc, 'ok', "carol's wrap key does not open the direct room's frame ($rc)");
my ($dm_prefix) = $secret =~ /^(.*"wk":")/;
my ($carol_wk) = $c{carol}{last_frame} =~ /"wk":"([^"]+)"/;
($rc) = SecureChat::Envelope::open_message($srv->{pk}, $srv->{alg}, $dm_prefix . $carol_wk . '"}',
                                           $c{carol}{wrap});
Test::More::isnt($rc, 'ok', "nor does the wk of carol's own message, put in its place ($rc)");
$_->{ws}->close for values %c;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 12: scrolling back: GET /api/rooms/NAME/messages gives a page of the room's entries before an id, oldest first, also those the log's ring no longer holds, signed envelopes whose CEK only the member's own key unwraps; members only
--- http_config eval: main::http('deliv12', "    securechat_history 10;\n")
--- config eval: $::Routes
--- init
my ($bob, $carol) = main::chats(qw(bob carol));
# a key of her own, so that bob's cannot open what is wrapped for her
my $alice = SecureChat::Chat->login('alice', 'alice-password', key => 'client-rsa4096',
                                    server => $bob->{server});
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'r', kind => 'private' }), '201 ok', 'alice makes r');
Test::More::is(main::act($alice, 'POST', '/api/rooms/r/invite', { user => 'bob' }), '200 ok', 'and invites bob');
for my $i (1 .. 5) {
    Test::More::is(main::post($alice, "r$i", 'r'), '202 ok', "alice posts r$i");
    Test::More::is(main::post($carol, "g$i"), '202 ok', "carol posts g$i to general");
}
my $srv = $bob->{server};
my $page = sub { main::page_of($_[0], 'r', $_[1]) };
my ($st, $doc, $items) = $page->($bob, '?limit=3');
Test::More::is($st, '200 ok', 'bob reads a page of r');
Test::More::is_deeply($items, ['alice: r3 #5', 'alice: r4 #6', 'alice: r5 #7'],
                      'the newest three, oldest first, each verified and opened with bob\'s key');
Test::More::ok($doc->{more} && !$doc->{dropped}, 'more to come, nothing dropped yet');
($st, $doc, $items) = $page->($bob, '?before=5&limit=3');
Test::More::is_deeply($items, ['event join bob #2', 'alice: r1 #3', 'alice: r2 #4'],
                      'before 5: bob\'s join, r1 and r2');
Test::More::ok($doc->{more} && !$doc->{dropped}, 'more to come: alice\'s join');
# the log's ring of 10 ids has lost the two joins: resuming cannot give them, scrolling back can
my ($f) = main::until_frame($bob->connect(resume => 'r:0,general:5'), 'r5');
Test::More::is_deeply([grep { / r[: ]/ } @{ main::shows($f) }],
                      ['gap r 1-2', map { "message r alice: r$_" } 1 .. 5],
                      'a socket resuming r from 0 gets a gap for the joins, gone from the log\'s ring');
($st, $doc, $items) = $page->($alice, '?before=4');
Test::More::is_deeply($items, ['event join alice #1', 'event join bob #2', 'alice: r1 #3'],
                      'alice, before 4: the room\'s entries past the log\'s ring, r1 opened with her own key');
Test::More::ok(!$doc->{more} && !$doc->{dropped}, 'the room\'s history from its first id: nothing more, nothing dropped');
my ($rc) = SecureChat::Envelope::open_ek($srv->{pk}, $srv->{alg}, $doc->{items}[2], $bob->{priv});
Test::More::isnt($rc, 'ok', "bob's key does not open alice's copy ($rc)");
Test::More::is(main::act($carol, 'GET', '/api/rooms/r/messages'), '404 no_such_room', 'carol: a private room she is not in');
Test::More::is(main::act($bob, 'GET', '/api/rooms/r/messages?limit=0'), '400 bad_limit', 'limit 0: 400');
Test::More::is(main::act($bob, 'GET', '/api/rooms/r/messages?limit=101'), '400 bad_limit', 'limit 101: 400');
Test::More::is(main::act($bob, 'GET', '/api/rooms/r/messages?before=x'), '400 bad_before', 'before x: 400');
($st, $doc, $items) = $page->($carol, '');
Test::More::is($st, '404 no_such_room', 'and no page of it for carol');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 13: one byte budget for the zone's history: the room holding the most bytes gives up its oldest entries first (those the log's ring of 8 ids no longer holds), so a quiet room keeps its few while a busy one trims itself, and scrolling back says what was dropped
--- http_config eval: main::http('deliv13', "    securechat_history 8;\n    securechat_history_bytes 24k;\n")
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
my $page = sub { main::page_of($_[0], $_[1], '?limit=100') };
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'quiet' }), '201 ok', 'alice makes quiet');
Test::More::is(main::post($alice, 'q1', 'quiet'), '202 ok', 'and says q1 there');
my $n = 40;
my $last;
for my $i (1 .. $n) {
    my ($st, $id) = main::post_id($carol, "b$i");
    Test::More::is($st, '202 ok', "carol posts b$i to general") if $st ne '202 ok' || $i == $n;
    $last = $id;
}
my ($st, $doc, $items) = $page->($bob, 'general');
Test::More::is($st, '200 ok', 'bob scrolls back through general');
my @ids = map { /#(\d+)\z/ ? $1 : 0 } @$items;
Test::More::ok(@ids > 3 && @ids < $n, scalar(@ids) . " of general's entries are held, not all $n messages: the budget is 24k");
Test::More::is($ids[-1], $last, 'the newest is held');
Test::More::is_deeply(\@ids, [$ids[0] .. $ids[-1]], 'those held run on from the oldest kept: the oldest went first');
Test::More::ok(!grep({ /bad/ } @$items), 'each one verified and opened');
Test::More::ok($doc->{dropped} && !$doc->{more}, 'dropped: the ids before them are gone');
($st, $doc, $items) = $page->($bob, 'quiet');
Test::More::is($st, '403 not_member', 'bob is not in quiet');
($st, $doc, $items) = $page->($alice, 'quiet');
Test::More::is_deeply($items, ['event join alice #1', 'alice: q1 #2'],
                      'quiet keeps all of its history: the busy room paid for its own');
Test::More::ok(!$doc->{dropped} && !$doc->{more}, 'nothing of quiet dropped');
# and delivery goes on with the budget full
my $c = $alice->connect;
my ($f) = main::until_frame($c, 'q2') if main::post($alice, 'q2', 'quiet') eq '202 ok';
Test::More::is_deeply([grep { /^message/ } @{ main::shows($f || []) }], ['message quiet alice: q2'],
                      'a socket gets q2');
($st, $doc, $items) = $page->($alice, 'quiet');
Test::More::is_deeply($items, ['event join alice #1', 'alice: q1 #2', 'alice: q2 #3'], 'and quiet holds it too');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 14: a socket behind (catching up, not reading) gets a room as it was up to each event: the messages before a removal or a deletion, then the event, then nothing more of the room
--- http_config eval
main::http('deliv14', <<"_EOC_");
    securechat_ws_message_max 8k;
    securechat_send_buffer    16k;
    send_timeout              600s;
    securechat_ping_interval  600s;

    server {
        listen 127.0.0.1:\$TEST_NGINX_SLOW_PORT sndbuf=4k;
$::Routes
    }
_EOC_
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
for my $r (qw(r d)) {
    Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => $r }), '201 ok', "alice makes $r");
    Test::More::is(main::act($bob, 'POST', "/api/rooms/$r/join", {}), '200 ok', "bob joins $r");
}
# more than the socket's queue and both kernel buffers hold
# (the joins come again in the catch-up: it starts at the oldest entry)
my $text = 'x' x 3000;
for my $i (1 .. 40) {
    my $st = main::post($alice, "backlog $i $text");
    Test::More::is($st, '202 ok', 'alice posts the backlog') if $st ne '202 ok' || $i == 40;
}
my $slow = $bob->connect(resume => '*:0', rcvbuf => 4096, port => $ENV{TEST_NGINX_SLOW_PORT});
for my $step (['r before', 'r'], ['d before', 'd']) {
    Test::More::is(main::post($alice, @$step), '202 ok', "alice posts $step->[0]");
}
Test::More::is(main::act($alice, 'POST', '/api/rooms/r/remove', { user => 'bob' }), '200 ok', 'alice removes bob from r');
Test::More::is(main::act($alice, 'DELETE', '/api/rooms/d'), '200 ok', 'alice deletes d');
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'd' }), '201 ok', 'and makes d again');
Test::More::is(main::post($alice, 'r after', 'r'), '202 ok', 'alice posts r after');
Test::More::is(main::post($alice, 'd after', 'd'), '202 ok', 'alice posts to the new d');
Test::More::is(main::post($alice, 'marker'), '202 ok', 'and a marker to general');
my ($f, $came) = main::until_frame($slow, 'marker', $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 15);
Test::More::ok($came, 'the slow socket catches up to the marker');
my @seen = grep { !/^message general alice: backlog/ } @{ main::shows($f) };
Test::More::is_deeply([grep { /^message [rd] |^event (?:removed|deleted) / } @seen],
                      ['message r alice: r before', 'message d alice: d before',
                       'event removed r bob by alice', 'event deleted d by alice'],
                      'r and d as they were up to the removal and the deletion, then the events, then nothing of either: '
                      . join(' | ', @seen));
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 60
--- no_error_log
[error]



=== TEST 15: the zone full while creating rooms: 503 zone_full with Retry-After; messages still post and reach every member, sessions work, nothing else is lost
--- http_config eval
(my $c = main::http('deliv15', <<'_EOC_')) =~ s/zone=deliv15:8m/zone=deliv15:384k/ or die 'no zone';
    securechat_history 32;
    securechat_history_bytes 48k;
    securechat_rooms_max 100000;
    securechat_user_rooms_max 100000;
    securechat_room_create_rate 100000;
_EOC_
$c
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
my %c = map { $_->{chat}{user} => $_ } SecureChat::Chat::spread_connect(2, $alice, $bob);
my ($made, $full, $retry) = (0, '', '');
for my $i (1 .. 5000) {
    my ($st, $doc, $h) = main::call($alice, 'POST', '/api/rooms', { name => "fill-$i" });
    if ($st eq '201 ok') { $made++; next }
    ($full, $retry) = ($st, $h->{'retry-after'} // '');
    last;
}
Test::More::is($full, '503 zone_full', "after $made rooms the zone is full: 503 zone_full");
Test::More::like($retry, qr/^\d+$/, 'with Retry-After');
Test::More::ok($made > 10, "$made rooms were made first");
# the history has a pool of its own: messages go on
for my $i (1 .. 20) {
    my $st = main::post($bob, "still $i");
    Test::More::is($st, '202 ok', 'bob posts with the zone full') if $st ne '202 ok' || $i == 20;
}
for my $u (qw(alice bob)) {
    my ($f, $came) = main::until_frame($c{$u}, 'still 20');
    my @got = grep { /^message general bob: still/ } @{ main::shows($f) };
    Test::More::is_deeply(\@got, [map { "message general bob: still $_" } 1 .. 20],
                          "$u\'s socket gets all 20, in order");
}
Test::More::is(main::act($alice, 'POST', '/api/rooms/fill-1/join', {}), '409 already_member', 'the rooms made are there');
Test::More::is(main::act($bob, 'POST', '/api/rooms/fill-1/join', {}) =~ /^(200 ok|503 zone_full)$/ ? 'ok' : 'bad', 'ok',
               'joining one: 200, or 503 zone_full while the zone is full');
Test::More::is(main::act($alice, 'DELETE', '/api/rooms/fill-2'), '200 ok', 'deleting one frees room');
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'after' }), '201 ok', 'and a room can be made again');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 60
--- no_error_log
[error]
[alert]



=== TEST 16: nginx -s reload keeps the rooms' histories: scrolling back and resuming give what came before, ids go on
--- http_config eval: main::http('deliv16')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'kept' }), '201 ok', 'alice makes kept');
Test::More::is(main::act($bob, 'POST', '/api/rooms/kept/join', {}), '200 ok', 'bob joins');
my @ids;
for my $i (1 .. 3) {
    my ($st, $id) = main::post_id($alice, "before $i", 'kept');
    Test::More::is($st, '202 ok', "alice posts before $i");
    push @ids, $id;
}
SecureChat::Test::reload_nginx();
my ($st, $id) = main::post_id($alice, 'after', 'kept');
Test::More::is($st, '202 ok', 'a post after the reload');
Test::More::is($id, $ids[-1] + 1, 'its id follows the ones before the reload');
my ($s2, $doc) = main::call($bob, 'GET', '/api/rooms/kept/messages');
Test::More::is($s2, '200 ok', 'bob scrolls back after the reload');
Test::More::is_deeply([map { $_->{id} } grep { ($_->{type} // '') ne 'event' } @{ $doc->{items} || [] }],
                      [@ids, $id], 'the messages from before the reload and the one after');
my ($f) = main::until_frame($bob->connect(resume => 'kept:0'), 'after');
Test::More::is_deeply([grep { /^message kept/ } @{ main::shows($f) }],
                      [(map { "message kept alice: before $_" } 1 .. 3), 'message kept alice: after'],
                      'a socket resuming kept from 0 gets them all');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]
[alert]
