# What an idle WebSocket costs nginx: once the 101 is out, the request
# that made the upgrade is freed (its pool, the header buffers, TLS's
# write buffer), so an idle socket holds little more than the module's
# own state.  Measured as the growth of nginx's anonymous resident memory
# over a second batch of idle connections, after a first batch has warmed
# up what a process allocates once.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::WS ();

securechat_defaults();

worker_connections(1024);
no_shuffle();

our $Echo = "    location = /echo { securechat echo; }\n";

our $TlsServer = $HttpConfig . tls_server($Echo);

# opens n echo WebSockets and checks each one's 101
sub open_sockets {
    my ($n, %opt) = @_;
    my @ws;
    for (1 .. $n) {
        my $ws = SecureChat::WS->connect(path => '/echo', timeout => 5,
                                         %opt);
        die "no 101: " . ($ws->status_line // '') . "\n"
            unless ($ws->status // 0) == 101;
        push @ws, $ws;
    }
    return @ws;
}

# bytes of anonymous memory per connection over the second batch
sub cost_per_socket {
    my ($warm, $n, %opt) = @_;
    my @first = open_sockets($warm, %opt);
    select undef, undef, undef, 0.3;
    my $before = SecureChat::Test::nginx_rss_anon();
    my @second = open_sockets($n, %opt);
    select undef, undef, undef, 0.3;
    my $after = SecureChat::Test::nginx_rss_anon();

    # every one of them still answers: the memory was not saved by closing
    my $alive = 0;
    for my $ws ($first[0], $second[0], $second[-1]) {
        $ws->send_text('still here?');
        my $f = $ws->read_message(3);
        $alive++ if $f && ($f->{payload} // '') eq 'still here?';
    }
    $_->close for @first, @second;
    return (($after - $before) * 1024 / $n, $alive);
}

run_tests();

__DATA__

=== TEST 1: an idle plain WebSocket costs nginx under 3 KiB once the request is freed (about 10 KiB while it was kept)
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- config eval: $::Echo
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped: nginx is not started
my ($bytes, $alive) = main::cost_per_socket(100, 400);
Test::More::is($alive, 3, 'the sockets measured all echo');
Test::More::cmp_ok($bytes, '<', 3072,
                   sprintf('%.0f bytes per idle WebSocket', $bytes));
--- request
GET /echo
--- error_code: 400
--- no_error_log
[error]
[alert]



=== TEST 2: over TLS, under 20 KiB (about 32 KiB while the request and nginx's TLS write buffer were kept)
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config eval: $::TlsServer
--- config eval: $::Echo
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped: nginx is not started
my ($bytes, $alive) = main::cost_per_socket(50, 200, tls => 1,
                                            port => $ENV{TEST_NGINX_TLS_PORT});
Test::More::is($alive, 3, 'the sockets measured all echo over TLS');
Test::More::cmp_ok($bytes, '<', 20480,
                   sprintf('%.0f bytes per idle TLS WebSocket', $bytes));
--- request
GET /echo
--- error_code: 400
--- no_error_log
[error]
[alert]
