# Presence and typing (docs/ROOMS-DESIGN.md section 3, "Presence without
# a storm"; section 4, "Typing"): a user's first socket, in whichever
# worker, pushes a signed presence frame "online" to the sockets of the
# other users who share with them a room of at most
# securechat_presence_members_max members, the last one to close pushes
# "offline", never to the user's own sockets; a typing frame is relayed,
# unsigned, to the sockets of the room's other members in every worker,
# once per socket and room in 3 seconds, refused with the room's rule code
# or bad_typing with the socket left open; the members route marks who is
# online; a resume replays neither presence nor typing.
#
# That a socket did not get a frame is shown by a later frame that it did
# get, never by a wait for nothing; every wait is bounded.  Presence and
# typing travel apart from the history, so nothing orders them against
# messages: the later frame that shows the absence of a presence or
# typing frame is itself a presence or typing frame (they come in the
# order they were made), with a message awaited beside it where the block
# wants the messages too (SecureChat::Presence::through).  Each block has
# a zone of its own (SecureChat::Rooms).

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use SecureChat::Rooms ();
use SecureChat::Delivery ();
use SecureChat::Presence ();

# this file is about them: connections hand out presence and typing
$SecureChat::Chat::Notices = 1;

securechat_defaults();

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
*until_frame = \&SecureChat::Delivery::until_frame;
*is_error = \&SecureChat::Delivery::is_error;
*is_event = \&SecureChat::Delivery::is_event;
*only = \&SecureChat::Presence::only;
*through = \&SecureChat::Presence::through;
*is_presence = \&SecureChat::Presence::is_presence;
*is_typing = \&SecureChat::Presence::is_typing;
*typing = \&SecureChat::Presence::typing;
*marks = \&SecureChat::Presence::online_marks;
*until_marks = \&SecureChat::Presence::until_marks;
*wait_gone = \&SecureChat::Presence::wait_gone;

sub worker { return SecureChat::Test::worker_of($_[0]{ws}->sock) // 0 }

# for each connection, the frames up to the first that $want matches,
# those of the given types kept (the matching one last, if it came)
sub first {
    my ($want, $types, @conns) = @_;
    return map { only($_, (until_frame($_, $want))[0], @$types) } @conns;
}

# the new sockets read up to a message to general (what of the setup they
# may still get, SecureChat::Delivery::settle); returns their presence
# and typing frames before it (a presence that should not have come could
# still come after it: the first() that waits for the next presence
# frame shows it)
sub settled {
    my ($chat, @conns) = @_;
    my @left = SecureChat::Delivery::settle($chat, 'settled', @conns);
    return map { only($conns[$_], $left[$_], 'presence', 'typing') } 0 .. $#conns;
}

run_tests();

__DATA__

=== TEST 1: presence across workers: bob's first socket pushes "online" (signed) to alice's sockets in both workers, his last one "offline"; a second socket pushes nothing; carol, who shares only general (3 members, above the bound 2), gets none
--- http_config eval: main::http('pres1', "    securechat_presence_members_max 2;\n")
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pair', kind => 'private' }), '201 ok',
               'alice makes the private room pair');
Test::More::is(main::act($alice, 'POST', '/api/rooms/pair/invite', { user => 'bob' }), '200 ok', 'and invites bob');
my ($st, $doc) = main::call($alice, 'GET', '/api/rooms');
Test::More::is(join(' ', map { "$_->{name}:$_->{members}" } sort { $a->{name} cmp $b->{name} } @{ $doc->{rooms} || [] }),
               'general:3 pair:2', 'general has 3 members (above the bound), pair 2 (within it)');
my @ca = SecureChat::Chat::spread_connect(2, $alice);
my @cc = SecureChat::Chat::spread_connect(2, $carol);
my @wa = map { main::worker($_) } @ca;
Test::More::ok($wa[0] && $wa[1] && $wa[0] != $wa[1], "alice's two sockets live in different workers");
Test::More::is_deeply([main::settled($alice, @ca, @cc)], [([]) x 4],
                      'no presence so far: carol coming online reached not alice (they share only general)');
my $b1 = $bob->connect;
my $wb = main::worker($b1);
for my $i (0, 1) {
    Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca[$i]))[0], ['presence bob online'],
                          "alice's socket in worker $wa[$i] (bob's in $wb): presence bob online, signed by the server, "
                          . 'her epoch, a ts of now');
}
main::typing($ca[0], 'pair');
Test::More::is_deeply([grep { /presence bob/ } @{ main::through($b1, ['presence'], main::is_typing('pair', 'alice')) }], [],
                      "bob's own socket: no presence of bob before alice's typing in pair");
my $b2;
for (1 .. 20) {
    $b2 = $bob->connect;
    last if main::worker($b2) != $wb;
    $b2->{ws}->close;
    main::wait_gone($alice, $b2->{conn});
    undef $b2;
}
Test::More::ok($b2, "a second socket of bob, in the other worker (" . ($b2 ? main::worker($b2) : '-') . ')');
$b2 //= $bob->connect;
main::typing($b2, 'pair');
$b2->send_chat('bob twice');
Test::More::is_deeply([map { main::through($_, ['presence'], main::is_typing('pair', 'bob'), 'bob twice') } @ca], [[], []],
                      "alice's sockets: no second online before what bob's second socket sent (typing, a message)");
$b1->{ws}->close;
Test::More::ok(main::wait_gone($alice, $b1->{conn}), "bob's first socket closed: the server no longer lists it");
main::typing($b2, 'general');
$b2->send_chat('bob once more');
Test::More::is_deeply([map { main::through($_, ['presence'], main::is_typing('general', 'bob'), 'bob once more') } @ca],
                      [[], []], "alice's sockets: no offline while his other socket (the other worker) is open");
$b2->{ws}->close;
for my $i (0, 1) {
    Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca[$i]))[0], ['presence bob offline'],
                          "his last socket closed: alice's socket in worker $wa[$i] gets presence bob offline, verified");
}
main::typing($cc[0], 'general');
Test::More::is(main::post($alice, 'bob is gone'), '202 ok', 'alice posts to general');
Test::More::is_deeply([map { main::through($_, ['presence'], main::is_typing('general', 'carol'), 'bob is gone') } @ca],
                      [[], []], "alice's sockets: one offline only (then carol's typing, and the message)");
main::typing($ca[0], 'general');
Test::More::is_deeply([map { main::through($_, ['presence'], main::is_typing('general', 'alice'), 'bob is gone') } @cc],
                      [[], []], "carol's sockets (both workers): no presence of bob at all, online or offline, "
                                . "before alice's typing in general and her message");
$_->{ws}->close for @ca, @cc;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 2: the members route marks who is online: any socket of the user in any worker; false once the last one closed
--- http_config eval: main::http('pres2')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pair' }), '201 ok', 'alice makes pair');
Test::More::is(main::act($bob, 'POST', '/api/rooms/pair/join', {}), '200 ok', 'bob joins');
Test::More::is(main::marks($alice, 'pair'), 'alice:false bob:false', 'no socket open: "online": false for both');
my @cb = SecureChat::Chat::spread_connect(2, $bob);
my @w = map { main::worker($_) } @cb;
Test::More::ok($w[0] && $w[1] && $w[0] != $w[1], "bob's two sockets live in different workers");
Test::More::is(main::until_marks($alice, 'pair', 'alice:false bob:true'), 'alice:false bob:true',
               'bob connected: "online": true for him');
Test::More::is_deeply([map { main::marks($alice, 'pair') } 1 .. 4], [('alice:false bob:true') x 4],
                      'asked four times more (either worker answers): the same');
Test::More::is(main::marks($bob, 'general'), 'alice:false bob:true', "general's members route too");
$cb[0]->{ws}->close;
Test::More::ok(main::wait_gone($alice, $cb[0]{conn}), 'his socket in worker ' . $w[0] . ' closed: no longer listed');
Test::More::is_deeply([map { main::marks($alice, 'pair') } 1 .. 4], [('alice:false bob:true') x 4],
                      "still online: his socket in worker $w[1] is open");
$cb[1]->{ws}->close;
Test::More::is(main::until_marks($alice, 'pair', 'alice:false bob:false'), 'alice:false bob:false',
               'his last socket closed: "online": false again');
Test::More::is(main::marks($alice, 'general'), 'alice:false bob:false', "in general's members route too");
my $ca = $alice->connect;
Test::More::is(main::until_marks($bob, 'pair', 'alice:true bob:false'), 'alice:true bob:false',
               "alice's socket open: she is online, bob not");
$ca->{ws}->close;
Test::More::is(main::until_marks($bob, 'pair', 'alice:false bob:false'), 'alice:false bob:false',
               'closed: offline');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 3: typing: relayed unsigned to the room's other members in both workers, not to the sender's sockets nor to others; once per socket and room in 3 s; refused with the rule's code or bad_typing, the socket open
--- http_config eval: main::http('pres3')
--- config eval: $::Routes
--- init
my ($alice, $bob, $carol) = main::chats(qw(alice bob carol));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'team' }), '201 ok', 'alice makes team');
Test::More::is(main::act($bob, 'POST', '/api/rooms/team/join', {}), '200 ok', 'bob joins');
my @ca = SecureChat::Chat::spread_connect(2, $alice);
my @cb = SecureChat::Chat::spread_connect(2, $bob);
my $cc = $carol->connect;
my @wa = map { main::worker($_) } @ca;
my @wb = map { main::worker($_) } @cb;
Test::More::ok($wa[0] && $wa[1] && $wa[0] != $wa[1] && $wb[0] && $wb[1] && $wb[0] != $wb[1],
               "alice's two sockets and bob's two each live in both workers");
main::settled($alice, @ca, @cb, $cc);
my @ty = ('typing');
my $T = sub { main::is_typing(@_) };
my $ta = 'typing team alice signed:false';
main::typing($ca[0], 'team');
my $t0 = Time::HiRes::time();
for my $i (0, 1) {
    Test::More::is_deeply((main::first($T->(), \@ty, $cb[$i]))[0], [$ta],
                          "bob's socket in worker $wb[$i] (alice's in $wa[0]): typing team alice, \"signed\":false");
}
main::typing($ca[0], 'team');
main::typing($ca[0], 'general');
Test::More::is_deeply([map { main::through($_, \@ty, $T->('general', 'alice')) } @cb],
                      [(['typing general alice signed:false']) x 2],
                      "bob's sockets: her second typing for team, right away, was dropped; the one for general "
                      . '(another room) came');
Test::More::is_deeply([main::through($cc, \@ty, $T->('general', 'alice'))], [['typing general alice signed:false']],
                      "carol's socket: alice's typing for general, and nothing of team before it");
main::typing($cc, 'general');
my $t1 = Time::HiRes::time();
Test::More::is_deeply([map { main::through($_, \@ty, $T->('general', 'carol')) } @ca, @cb],
                      [(['typing general carol signed:false']) x 4],
                      "carol's typing for general reaches alice's and bob's sockets (both workers); "
                      . "alice's got none of her own typing before it");
main::typing($cb[1], 'general');
Test::More::is_deeply([map { main::through($_, \@ty, $T->('general', 'bob')) } $cc, @ca],
                      [(['typing general bob signed:false']) x 3],
                      "then bob's, in general, reaches carol's socket (none of her own came before it) and alice's");
for my $t (['team', 'not_member'], ['nowhere', 'no_such_room']) {
    main::typing($cc, $t->[0]);
    Test::More::is_deeply((main::first(main::is_error(), [qw(typing error)], $cc))[0], ["error $t->[1]"],
                          "carol's typing for $t->[0]: an error frame $t->[1]");
}
$cc->send_chat('carol still here');
Test::More::is_deeply([map { main::through($_, ['message'], 'carol still here') } @ca, @cb, $cc],
                      [(['message general carol: carol still here']) x 5],
                      'her socket stayed open: her next chat frame reaches all five sockets');
for my $bad ('{"type":"typing"}', '{"type":"typing","room":"general","extra":1}', '{"type":"typing","room":"Bad"}',
             '{"type":"typing","room":"a/b"}', '{"type":"typing","room":7}', '{"type":"typing","room":""}') {
    main::typing($cb[0], undef, $bad);
    Test::More::is_deeply((main::first(main::is_error(), [qw(typing error)], $cb[0]))[0], ['error bad_typing'],
                          "$bad: an error frame bad_typing");
}
$cb[0]->send_chat('bob after bad typing');
Test::More::is_deeply([map { main::through($_, [qw(message close)], 'bob after bad typing') } @ca, $cb[0]],
                      [(['message general bob: bob after bad typing']) x 3],
                      'his socket stayed open: his next chat frame goes out');
my $wait = $t0 + 3.3 - Time::HiRes::time();
Time::HiRes::sleep($wait) if $wait > 0;
main::typing($ca[0], 'team');
Test::More::is_deeply([map { main::through($_, \@ty, $T->('team', 'alice')) } @cb], [[$ta], [$ta]],
                      "3 s after her first, the same socket's typing for team is relayed again; before it bob's "
                      . "sockets got none of carol's refused ones, of the bad ones, nor of bob's own");
Test::More::is(main::act($alice, 'POST', '/api/rooms/team/mute', { user => 'bob' }), '200 ok', 'alice mutes bob');
Test::More::is_deeply((main::first(main::is_event('muted'), ['event'], $cb[0]))[0], ['event muted team bob by alice'],
                      'his socket gets the event');
main::typing($cb[0], 'team');
Test::More::is_deeply((main::first(main::is_error(), [qw(typing error)], $cb[0]))[0], ['error muted'],
                      'muted, his typing for team: an error frame muted');
Test::More::is(main::act($alice, 'POST', '/api/rooms/team/ban', { user => 'bob' }), '200 ok', 'alice bans bob');
Test::More::is_deeply((main::first(main::is_event('banned'), ['event'], $cb[1]))[0], ['event muted team bob by alice', 'event banned team bob by alice'],
                      'his other socket gets both events');
main::typing($cb[1], 'team');
Test::More::is_deeply((main::first(main::is_error(), [qw(typing error)], $cb[1]))[0], ['error banned'],
                      'banned, his typing for team (other socket): an error frame banned');
$cb[1]->send_chat('bob, banned, in general');
$wait = $t1 + 3.3 - Time::HiRes::time();
Time::HiRes::sleep($wait) if $wait > 0;
main::typing($cc, 'general');
Test::More::is_deeply([map { main::through($_, \@ty, $T->('general', 'carol'), 'bob, banned, in general') } @ca],
                      [(['typing general carol signed:false']) x 2],
                      "alice's sockets: bob's socket stayed open (his message came); carol's typing for general, "
                      . '3 s after her last, came again, and nothing of the refused or bad ones before it');
$_->{ws}->close for @ca, @cb, $cc;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 4: a resume (resume=*:0, last_id=0) replays the messages and events, never a presence or typing frame
--- http_config eval: main::http('pres4')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pair' }), '201 ok', 'alice makes pair');
Test::More::is(main::act($bob, 'POST', '/api/rooms/pair/join', {}), '200 ok', 'bob joins');
my $ca = $alice->connect;
main::settled($alice, $ca);
my $cb = $bob->connect;
Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca))[0], ['presence bob online'],
                      "alice's socket gets presence bob online (both rooms within the default bound)");
main::typing($ca, 'pair');
Test::More::is_deeply((main::first(main::is_typing(), ['typing'], $cb))[0], ['typing pair alice signed:false'],
                      'alice types in pair: bob gets it');
main::typing($cb, 'general');
Test::More::is_deeply((main::first(main::is_typing(), ['typing'], $ca))[0], ['typing general bob signed:false'],
                      'bob types in general: alice gets it');
Test::More::is(main::post($alice, 'm1', 'pair'), '202 ok', 'alice posts to pair');
$cb->{ws}->close;
Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca))[0], ['presence bob offline'],
                      "bob's socket closed: alice gets presence bob offline");
Test::More::is(main::post($alice, 'last'), '202 ok', 'alice posts to general');
Test::More::ok((main::until_frame($ca, 'last'))[1], "alice's socket gets it");
my @want = ('event join pair alice by alice', 'event join pair bob by bob', 'message general alice: settled',
            'message pair alice: m1', 'message general alice: last');
for my $o ([$alice, resume => '*:0'], [$bob, resume => '*:0'], [$bob, last_id => 0]) {
    my ($chat, @q) = @$o;
    my $c = $chat->connect(@q);
    my ($f, $came) = main::until_frame($c, 'last');
    Test::More::ok($came, "$chat->{user}, $q[0]=$q[1]: the replay reaches the last message");
    Test::More::is_deeply(main::only($c, $f, 'presence', 'typing'), [],
                          "$chat->{user}, $q[0]=$q[1]: no presence or typing frame in it");
    my @exp = $q[0] eq 'last_id' ? grep { /general/ } @want : @want;
    Test::More::is_deeply([sort @{ main::only($c, $f, 'message', 'event', 'gap') }], [sort @exp],
                          "$chat->{user}, $q[0]=$q[1]: "
                          . ($q[0] eq 'last_id' ? "general's messages" : 'the messages and events of both rooms'));
    $c->{ws}->close;
    main::wait_gone($alice, $c->{conn});
}
$ca->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 5: a worker killed with SIGKILL never says its users went offline: the worker that replaces it does, for those it held the last socket of, and not for those still on elsewhere
--- http_config eval: main::http('pres5')
--- config eval: $::Routes
--- init
my ($alice, $bob) = main::chats(qw(alice bob));
Test::More::is(main::act($alice, 'POST', '/api/rooms', { name => 'pair', kind => 'private' }), '201 ok',
               'alice makes the private room pair');
Test::More::is(main::act($alice, 'POST', '/api/rooms/pair/invite', { user => 'bob' }), '200 ok', 'and invites bob');
my @ca = SecureChat::Chat::spread_connect(2, $alice);
my @wa = map { main::worker($_) } @ca;
Test::More::ok($wa[0] && $wa[1] && $wa[0] != $wa[1], "alice's two sockets live in different workers");
main::settled($alice, @ca);
# bob's only socket, in the worker of alice's first
my $b;
for (1 .. 20) {
    $b = $bob->connect;
    last if main::worker($b) == $wa[0];
    $b->{ws}->close;
    main::wait_gone($alice, $b->{conn});
    undef $b;
}
Test::More::ok($b, "bob's socket lives in worker $wa[0], with alice's first");
Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca[1]))[0], ['presence bob online'],
                      "alice's other socket: bob online");
kill 'KILL', $wa[0] or die "kill $wa[0]: $!\n";
for (1 .. 100) { last unless kill 0, $wa[0]; sleep 0.05 }
Test::More::is_deeply((main::first(main::is_presence('bob'), ['presence'], $ca[1]))[0], ['presence bob offline'],
                      "alice's socket in the worker that lives: presence bob offline, signed, once the killed one is replaced");
# alice still has that socket: nobody is told she went offline
my $b2 = $bob->connect;
main::typing($ca[1], 'pair');
Test::More::is_deeply([grep { /presence alice/ } @{ main::through($b2, ['presence'], main::is_typing('pair', 'alice')) }], [],
                      "bob's new socket: no presence of alice before her typing: she never went offline");
$_->{ws}->close for $ca[1], $b2;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- error_log eval
qr/\[alert\].*exited on signal 9/
--- no_error_log
[error]
