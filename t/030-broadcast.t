# Broadcast: every accepted message reaches every connected client, in
# every worker, exactly once, in id order, as an envelope that verifies,
# unwraps and decrypts (checked with CryptX, not the module's code); resume
# and gap frames; a slow client is closed without delaying anyone; logout
# and /api/disconnect close sockets wherever they live.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;

securechat_defaults();

master_on();
workers(2);
no_shuffle();

our $SmallHistory = $HttpConfig . "    securechat_history 4;\n";

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /api/clients { securechat clients; }
_EOC_

# a second listener whose sockets have a small kernel send buffer, so that
# a client that stops reading fills the module's queue quickly
$ENV{TEST_NGINX_SLOW_PORT} ||= 1987;

our $SmallQueue = $HttpConfig . <<"_EOC_";
    securechat_ws_message_max 8k;
    securechat_send_buffer    16k;

    # the slow client must be closed for its queue, not timed out or
    # dropped as dead, even when valgrind makes the test take minutes
    send_timeout              600s;
    securechat_ping_interval  600s;

    server {
        listen 127.0.0.1:\$TEST_NGINX_SLOW_PORT sndbuf=4k;
$Routes
    }
_EOC_

# waits until /api/clients lists $n clients (the server removes a client
# right after its last frame is written)
sub clients_settle {
    my ($chat, $n) = @_;
    my $body;

    for (1 .. 50) {
        (undef, $body) = $chat->api('GET', '/api/clients');
        my $count = () = $body =~ /"id":/g;
        return $count if $count == $n;
        select undef, undef, undef, 0.1;
    }

    return () = $body =~ /"id":/g;
}


# the same sequence for every client: consecutive ids, all verified
sub check_streams {
    my ($name, $expect, @streams) = @_;
    my $first = $streams[0];
    my $ok = 1;

    for my $s (@streams) {
        my @ids = map { $_->{id} } @$s;
        $ok &&= @$s == $expect;
        $ok &&= !grep { !$_->{ok} } @$s;
        $ok &&= !grep { $ids[$_] != $ids[0] + $_ } 0 .. $#ids;
        $ok &&= join("\0", map { "$_->{id}:$_->{sender}:$_->{text}" } @$s)
                eq join("\0", map { "$_->{id}:$_->{sender}:$_->{text}" }
                              @$first);
    }

    Test::More::ok($ok, "$name: " . scalar(@streams) . " clients got the "
                        . "same $expect verified messages, ids consecutive");
}

run_tests();

__DATA__

=== TEST 1: 8 clients over both workers, 60 messages from HTTP and WebSocket: each client gets each exactly once, in order
--- http_config eval: $::HttpConfig
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $bob = SecureChat::Chat->login('bob', 'bob-password',
                                  server => $alice->{server});
my @conns = SecureChat::Chat::spread_connect(8, $alice, $bob);
my %sent;
for my $i (1 .. 60) {
    if ($i % 3 == 0) {
        my $c = $conns[$i % 8];
        $c->send_chat("ws $i \x{e9}" =~ s/\x{e9}/\xc3\xa9/r);
        push @{ $sent{ $c->{chat}{user} } }, "ws $i \xc3\xa9";
    } else {
        my $who = $i % 2 ? $alice : $bob;
        defined $who->post_chat("http $i") or die "post $i refused\n";
        push @{ $sent{ $who->{user} } }, "http $i";
    }
}
my @streams = map { ($_->collect(60, 30))[0] } @conns;
main::check_streams('fan-out', 60, @streams);
# each sender's messages arrive in the order sent
# per sender and channel: a chat frame is not acknowledged, so only the
# order within one channel is defined
my (%got, %want);
for my $who (keys %sent) {
    push @{ $want{ $who . ' ' . (split ' ', $_)[0] } }, $_ for @{ $sent{$who} };
}
push @{ $got{ $_->{sender} . ' ' . (split ' ', $_->{text})[0] } }, $_->{text}
    for @{ $streams[0] };
Test::More::is_deeply(\%got, \%want, 'every message arrived with its '
                      . 'sender and text, in the order of its channel');
$_->{ws}->close for @conns;
Test::More::is(main::clients_settle($alice, 0), 0,
               'no client is left in the table');
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/clients
--- more_headers
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 200
--- response_body
{"clients":[]}
--- no_error_log
[error]
[alert]



=== TEST 2: resume with last_id: exactly the missed messages, then live ones; no duplicates
--- http_config eval: $::HttpConfig
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $c = $alice->connect;
my $first = $alice->post_chat('one');
my ($m) = $c->collect(1);
$c->{ws}->close;
my @missed = map { $alice->post_chat("missed $_") } 1 .. 5;
my $r = $alice->connect(last_id => $m->[0]{id});
my $live = $alice->post_chat('live');
my ($got) = $r->collect(6, 10);
Test::More::is_deeply([map { $_->{text} } @$got],
                      [(map { "missed $_" } 1 .. 5), 'live'],
                      'resumed: the missed messages, then the live one');
my ($more) = $r->collect(1, 1);
Test::More::is(scalar @$more, 0, 'nothing twice');
$r->{ws}->close;
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/clients
--- more_headers
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 3: messages the history no longer holds come as one gap frame naming the range
--- http_config eval: $::SmallHistory
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my @ids = map { $alice->post_chat("m $_") } 1 .. 10;
my $c = $alice->connect(last_id => $ids[0] - 1);
my ($msgs, $other) = $c->collect(4, 10);
Test::More::is_deeply($other->[0], { type => 'gap', room => 'general',
                                     from => $ids[0], to => $ids[5] },
                      'gap frame for the 6 dropped messages of general');
Test::More::is_deeply([map { $_->{text} } @$msgs],
                      [map { "m $_" } 7 .. 10], 'then the 4 kept ones');
$c->{ws}->close;
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/clients
--- more_headers
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 4: a client that stops reading is closed with 1008; a reading client misses nothing
--- http_config eval: $::SmallQueue
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $slow = $alice->connect(rcvbuf => 4096, port => $ENV{TEST_NGINX_SLOW_PORT});
my $fast = $alice->connect;
my $text = 'x' x 3000;
my (@got, $n);
for my $i (1 .. 400) {
    defined $alice->post_chat("$i $text") or die "post $i\n";
    my ($m) = $fast->collect(1, 10);
    push @got, @$m;
}
main::check_streams('the reading client', 400, \@got);
# now read the slow one: what was queued, then the close
my ($msgs, $other) = $slow->collect(400, 20);
my ($close) = grep { $_->{type} eq 'close' } @$other;
Test::More::ok($close && $close->{code} == 1008,
               'the slow client was closed with 1008 after '
               . scalar(@$msgs) . ' messages');
Test::More::ok(@$msgs < 400, 'the slow client did not get everything');
$fast->{ws}->close;
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/clients
--- more_headers
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 200
--- error_log
client too slow
--- no_error_log
[error]
[alert]



=== TEST 5: /api/disconnect closes another worker's socket with 1000; someone else's client is 403; logout closes the rest
--- http_config eval: $::HttpConfig
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $bob = SecureChat::Chat->login('bob', 'bob-password');
my @a = SecureChat::Chat::spread_connect(4, $alice);
my $b = $bob->connect;
my ($s, $body) = $bob->api('POST', '/api/disconnect',
                           qq({"client_id":"$a[0]{conn}"}));
Test::More::is($s, 403, "bob cannot disconnect alice's client");
for my $c (@a[0, 1]) {
    ($s, $body) = $alice->api('POST', '/api/disconnect',
                              qq({"client_id":"$c->{conn}"}));
    Test::More::is("$s $body", "200 {\"ok\":true}\n", 'disconnect accepted');
    my (undef, $o) = $c->collect(1, 5);
    Test::More::is($o->[0]{code}, 1000, 'that socket closed with 1000');
}
($s, $body) = $alice->api('POST', '/api/disconnect',
                          qq({"client_id":"$a[0]{conn}"}));
Test::More::is($s, 404, 'a closed client is unknown');
($s) = $alice->api('POST', '/api/logout', '{}');
Test::More::is($s, 200, 'logout');
for my $c (@a[2, 3]) {
    my (undef, $o) = $c->collect(1, 5);
    Test::More::is($o->[0]{code}, 1000, 'logout closed the socket with 1000');
}
Test::More::is(main::clients_settle($bob, 1), 1, "only bob's client is left");
$b->{ws}->close;
$ENV{TEST_NGINX_COOKIE} = $bob->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/clients
--- more_headers
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 6: an idle client is pinged; one that answers stays, one that stays silent is dropped
--- http_config eval: $::HttpConfig . "    securechat_ping_interval 1s;\n"
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $quiet = $alice->connect;
my $live = $alice->connect;
my $f = $live->{ws}->read_frame(3);
Test::More::is($f && $f->{opcode}, 9, 'a ping after a silent second');
$live->{ws}->send_pong($f->{payload});
my $g = $quiet->{ws}->read_frame(3);
Test::More::is($g && $g->{opcode}, 9, 'the other client is pinged too');
my $h = $quiet->{ws}->read_frame(4);
Test::More::ok($h && $h->{eof}, 'and dropped when it does not answer');
$alice->post_chat('still here?');
my ($m) = $live->collect(1, 5);
Test::More::is($m->[0]{text}, 'still here?', 'the answering client is still served');
$live->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
did not answer a ping
--- no_error_log
[error]
[alert]



=== TEST 7: a flood of pings is closed with 1008 after the burst; a calm client is untouched
--- http_config eval: $::HttpConfig . "    securechat_ws_frame_rate 10;\n"
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $flood = $alice->connect;
my $calm = $alice->connect;
$flood->{ws}->send_ping("x") for 1 .. 100;
my ($pongs, $code) = (0, undef);
while (my $f = $flood->{ws}->read_frame(5)) {
    last if $f->{eof};
    $pongs++ if $f->{opcode} == 10;
    if ($f->{opcode} == 8) { $code = SecureChat::WS::close_code($f); last }
}
Test::More::is($code, 1008, "closed with 1008 after $pongs pongs");
Test::More::ok($pongs >= 10 && $pongs < 100, 'the burst was answered, not the flood');
$alice->post_chat('calm');
my ($m) = $calm->collect(1, 5);
Test::More::is($m->[0]{text}, 'calm', 'the other client is untouched');
$calm->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
sends frames too fast
--- no_error_log
[error]
[alert]



=== TEST 8: an Ed25519 server key: envelopes verify; a client's copy does not unwrap under another connection's key
--- http_config eval: $::HttpConfig =~ s{/rsa\.pem}{/ed25519.pem}r
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $bob = SecureChat::Chat->login('bob', 'bob-password', key => 'client-rsa4096');
Test::More::is($alice->{server}{alg}, 'Ed25519', 'the server signs with Ed25519');
my $a = $alice->connect;
my $b = $bob->connect;
$alice->post_chat("m $_") for 1 .. 5;
my ($ma) = $a->collect(5, 10);
my ($mb) = $b->collect(5, 10);
Test::More::ok(@$ma == 5 && @$mb == 5 && !grep({ !$_->{ok} } @$ma, @$mb),
               'both clients verified and decrypted all 5');
my $srv = $alice->{server};
my ($rc) = SecureChat::Envelope::open_message($srv->{pk}, $srv->{alg},
                                              $a->{last_frame}, $b->{wrap});
Test::More::is($rc, 'unwrap', "bob's connection key does not unwrap alice's copy");
($rc) = SecureChat::Envelope::open_message($srv->{pk}, $srv->{alg},
                                           $b->{last_frame}, $b->{wrap});
Test::More::is($rc, 'ok', 'but unwraps its own');
# the shared part of both copies is identical; only wk differs
my ($pa) = $a->{last_frame} =~ /^(.*"wk":")/;
my ($pb) = $b->{last_frame} =~ /^(.*"wk":")/;
Test::More::is($pa, $pb, 'both recipients got the same signed ciphertext');
$a->{ws}->close;
$b->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- response_body_like chomp
"alg":"Ed25519"
--- no_error_log
[error]
[alert]
