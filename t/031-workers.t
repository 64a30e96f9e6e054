# Worker processes coming and going: a worker killed with SIGKILL leaves
# no ghost clients; `nginx -s reload` closes sockets at once with 1012 and
# clients that resume with last_id lose nothing; the same over TLS.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use Time::HiRes qw(time sleep);

securechat_defaults();

master_on();
workers(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /api/clients { securechat clients; }
_EOC_

our $TlsServer = $HttpConfig . tls_server($Routes);

# a small socket buffer: TLS writes stop half-way and are retried
our $SlowTls = $HttpConfig . tls_server($Routes, 'sndbuf=4k');


sub client_count {
    my ($chat) = @_;
    my (undef, $body) = $chat->api('GET', '/api/clients');
    return scalar(() = $body =~ /"id":/g);
}

# waits (at most 5 s) for /api/clients to list $n clients
sub settle {
    my ($chat, $n) = @_;
    my $count;
    for (1 .. 50) {
        $count = client_count($chat);
        return $count if $count == $n;
        sleep 0.1;
    }
    return $count;
}

run_tests();

__DATA__

=== TEST 1: kill -9 a worker: its clients vanish from the table, the others stay and still get every message
--- http_config eval: $::HttpConfig
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $bob = SecureChat::Chat->login('bob', 'bob-password',
                                  server => $alice->{server});
my %by;
for my $c (SecureChat::Chat::spread_connect(6, $alice, $bob)) {
    push @{ $by{ SecureChat::Test::worker_of($c->{ws}->sock) } }, $c;
}
my ($victim, $survivor) = sort keys %by;
kill 'KILL', $victim or die "kill $victim: $!\n";
for my $c (@{ $by{$victim} }) {
    my (undef, $o) = $c->collect(1, 5);
    Test::More::is($o->[0]{type}, 'eof', "a client of the killed worker saw its socket go");
}
my $left = scalar @{ $by{$survivor} };
Test::More::is(main::settle($alice, $left), $left,
               "only the surviving worker's $left clients are listed");
my @ids = map { $alice->post_chat("after $_") } 1 .. 5;
Test::More::ok(!grep({ !defined } @ids), 'messages are still accepted');
for my $c (@{ $by{$survivor} }) {
    my ($m) = $c->collect(5, 10);
    Test::More::is_deeply([map { $_->{id} } @$m], \@ids,
                          'a surviving client got them all, in order');
}
my $n = $alice->connect;
$alice->post_chat('to the new worker too');
my ($m) = $n->collect(1, 10);
Test::More::is($m->[0]{text}, 'to the new worker too', 'new connections work');
$_->{ws}->close for @{ $by{$survivor} }, $n;
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log eval
qr/\[alert\].*exited on signal 9/
--- no_error_log
[error]



=== TEST 2: reload: every client is closed with 1012 at once; resuming with last_id, 4 clients count every one of 80 messages
--- http_config eval: $::HttpConfig
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $bob = SecureChat::Chat->login('bob', 'bob-password',
                                  server => $alice->{server});
my @who = ($alice, $bob, $alice, $bob);
my @conns = map { $who[$_]->connect } 0 .. 3;
my @seen = map { [] } 0 .. 3;
my $sent = 0;
my $post = sub { for (1 .. $_[0]) { $sent++; defined $alice->post_chat("m $sent") or die "post $sent\n" } };
$post->(40);
for my $i (0 .. 3) {
    my ($m) = $conns[$i]->collect(40, 20);
    push @{ $seen[$i] }, @$m;
}
my $t0 = time;
my $master = SecureChat::Test::master_pid();
kill 'HUP', $master or die;
my @codes;
for my $i (0 .. 3) {
    my ($m, $o) = $conns[$i]->collect(1000, 10);
    push @{ $seen[$i] }, @$m;
    push @codes, ($o->[0] // {})->{code} // 'none';
}
my $took = time - $t0;
Test::More::is("@codes", "1012 1012 1012 1012", 'each socket was closed with 1012');
Test::More::ok($took < 5, sprintf 'promptly (%.1f s), not at worker_shutdown_timeout', $took);
# messages keep coming while the clients are away
$post->(20);
for my $i (0 .. 3) {
    my $c = $who[$i]->connect(last_id => $seen[$i][-1]{id});
    $conns[$i] = $c;
}
$post->(20);
for my $i (0 .. 3) {
    my ($m) = $conns[$i]->collect(80 - @{ $seen[$i] }, 20);
    push @{ $seen[$i] }, @$m;
    $conns[$i]->{ws}->close;
}
for my $i (0 .. 3) {
    my @texts = map { $_->{text} } @{ $seen[$i] };
    Test::More::is_deeply(\@texts, [map { "m $_" } 1 .. 80],
                          "client $i: all 80 messages once, in order, across the reload");
}
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 3: over TLS: the hello, broadcast envelopes, and a chat frame sent over the WebSocket
--- http_config eval: $::TlsServer
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $t = $alice->connect(tls => 1, port => $ENV{TEST_NGINX_TLS_PORT});
my $p = $alice->connect;
$t->send_chat("over TLS \xe2\x9c\x93");
my $id = $alice->post_chat('over HTTP');
for my $c ($t, $p) {
    my ($m) = $c->collect(2, 10);
    # a chat frame is not acknowledged: the two may be published in either order
    Test::More::is_deeply([sort map { "$_->{ok} $_->{sender}: $_->{text}" } @$m],
                          ['1 alice: over HTTP', "1 alice: over TLS \xe2\x9c\x93"],
                          'both messages, verified and decrypted');
}
$t->{ws}->send_close(1000, 'bye');
my (undef, $o) = $t->collect(1, 5);
Test::More::is($o->[0]{code}, 1000, 'the close handshake works over TLS');
$p->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 4: over TLS, a client that reads late gets every message: writes the socket refused are retried from a buffer that has moved
--- http_config eval: $::SlowTls
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $late = $alice->connect(tls => 1, port => $ENV{TEST_NGINX_TLS_PORT},
                           rcvbuf => 4096);
my $text = 'y' x 3000;
for my $i (1 .. 40) {
    defined $alice->post_chat("$i $text") or die "post $i\n";
}
# about 160 KB queued, under securechat_send_buffer: nobody is dropped
my ($m, $other) = $late->collect(40, 20);
Test::More::is(scalar(@$m), 40, 'all 40 messages arrived over TLS');
Test::More::ok(!grep({ !$_->{ok} } @$m), 'every one verified and decrypted');
my @n = map { ($_->{text} =~ /^(\d+) /)[0] // 0 } @$m;
Test::More::is_deeply(\@n, [1 .. 40], 'in the order published');
Test::More::ok(!grep({ $_->{type} eq 'close' } @$other), 'not closed');
$late->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]
[crit]
bad write retry
