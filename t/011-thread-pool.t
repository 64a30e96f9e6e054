# Password hashing runs in the thread pool, never on the event loop: while a
# slow hash is being computed, the same single worker keeps answering.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();
use IO::Select ();
use IO::Socket::INET ();

no_shuffle();

our $SlowUsers = $HttpConfig;
$SlowUsers =~ s{/users;}{/users-slow;};

run_tests();

__DATA__

=== TEST 1: a welcome request is answered while a slow login is hashing
--- http_config eval: $::SlowUsers
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die "connect: $!";
my $body = '{"username":"carol","password":"carol-password"}';
print $slow "POST /api/login HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: close\r\nContent-Type: application/json\r\n"
    . "Content-Length: " . length($body) . "\r\n\r\n$body";
# let the worker read the login and hand it to the thread pool
select undef, undef, undef, 0.05;
my ($s) = SecureChat::Test::http_request('GET', '/api/');
Test::More::is($s, 200, 'welcome answered during the hash');
Test::More::ok(!IO::Select->new($slow)->can_read(0),
               'the login was still hashing when the welcome came back');
my $resp = do { local $/; <$slow> };
Test::More::like($resp, qr{^HTTP/1\.1 200 }, 'the slow login then succeeds');
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]



=== TEST 2: an unknown user is hashed too (against the dummy), in the pool
--- request
POST /api/login
{"username":"nobody","password":"whatever"}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- error_log
added to thread pool "securechat"
complete task #
--- no_error_log
[error]



=== TEST 3: with securechat_seal_thread_pool, messages are sealed in that pool, logins hashed in the other
--- main_config eval: $SecureChat::Test::MainConfig . "    thread_pool sealing threads=1;\n"
--- http_config eval: $::HttpConfig . "    securechat_seal_thread_pool sealing;\n"
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"sealed elsewhere"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- response_body_like chomp
^\{"id":\d+\}$
--- error_log
added to thread pool "sealing"
--- no_error_log
[error]



=== TEST 4: an unknown securechat_seal_thread_pool is refused at configuration time
--- http_config eval: $::HttpConfig . "    securechat_seal_thread_pool nosuchpool;\n"
--- config
    location = /api/ { securechat welcome; }
--- must_die
--- error_log
unknown thread pool "nosuchpool"



=== TEST 5: with a signing pool of its own, the thread that hashed a login runs at lower priority; nothing else does
--- main_config eval: $SecureChat::Test::MainConfig . "    thread_pool sealing threads=1;\n"
--- http_config eval: $::HttpConfig . "    securechat_seal_thread_pool sealing;\n    securechat_password_nice 7;\n"
--- init
my @before = SecureChat::Test::thread_nice_values();
Test::More::ok(@before >= 1, 'threads found: ' . scalar @before);
Test::More::is(scalar(grep { $_ != 0 } @before), 0, 'all at nice 0 before');
SecureChat::Test::login_env('alice', 'alice-password');
Test::More::ok($ENV{TEST_NGINX_COOKIE}, 'logged in');
my @after = SecureChat::Test::thread_nice_values();
Test::More::is(scalar(grep { $_ == 7 } @after), 1,
               'one thread (the one that hashed) at nice 7');
Test::More::is(scalar(grep { $_ == 0 } @after), @after - 1,
               'the event loop and the signing thread stay at 0');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 6: when hashing and signing share a pool, no thread changes its priority
--- http_config eval: $::HttpConfig . "    securechat_password_nice 7;\n"
--- init
SecureChat::Test::login_env('alice', 'alice-password');
Test::More::ok($ENV{TEST_NGINX_COOKIE}, 'logged in');
my @after = SecureChat::Test::thread_nice_values();
Test::More::ok(@after >= 2, 'threads found: ' . scalar @after);
Test::More::is(scalar(grep { $_ != 0 } @after), 0, 'all still at nice 0');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 7: securechat_password_nice above 19 is refused at configuration time
--- http_config eval: $::HttpConfig . "    securechat_password_nice 20;\n"
--- config
    location = /api/ { securechat welcome; }
--- must_die
--- error_log
"securechat_password_nice" must be 0 to 19, not "20"



=== TEST 8: scrypt's working memory (1 MiB a hash here) goes back to the system: 24 logins leave the worker's memory where it was
--- skip_eval: 5: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped: nginx is not started
SecureChat::Test::login_env('alice', 'alice-password');    # warm-up
my $before = SecureChat::Test::nginx_rss_anon();
Test::More::ok($before > 0, "worker memory read: $before kB");
SecureChat::Test::login_env($_ % 2 ? 'alice' : 'bob', ($_ % 2 ? 'alice' : 'bob') . '-password')
    for 1 .. 24;
Test::More::ok($ENV{TEST_NGINX_COOKIE}, 'logged in');
my $grown = SecureChat::Test::nginx_rss_anon() - $before;
Test::More::cmp_ok($grown, '<', 768,
    "24 hashes in 2 threads left $grown kB more, not 1 MiB a thread");
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]



=== TEST 9: a login storm against a full pool: 503 busy with Retry-After and a JSON body at once, one summary line in the log, never nginx's "queue overflow"
--- main_config eval: "    load_module $ENV{TEST_NGINX_MODULE};\n    thread_pool securechat threads=1 max_queue=2;\n"
--- http_config eval
my $c = $::SlowUsers;
$c =~ s{securechat_thread_pool\s+securechat;}{securechat_thread_pool securechat queue=2;}
    or die "no securechat_thread_pool in the http config\n";
$c
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
my $body = '{"username":"carol","password":"carol-password"}';
my @socks;
for (1 .. 16) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s "POST /api/login HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    push @socks, $s;
}
my (%status, $busy_ok);
$busy_ok = 0;
for my $s (@socks) {
    my $resp = do { local $/; <$s> } // '';
    my ($code) = $resp =~ m{^HTTP/1\.1 (\d+)};
    $status{$code // 'none'}++;
    $busy_ok++ if ($code // 0) == 503
        && $resp =~ /\r\nRetry-After: \d+\r\n/i
        && $resp =~ /\r\n\r\n\{"error":"busy","message":"[^"]+"\}\n$/;
}
my $seen = CORE::join ', ', map { "$_ x$status{$_}" } sort keys %status;
Test::More::ok(($status{503} // 0) >= 1, "some logins refused: $seen");
Test::More::is($busy_ok, $status{503} // 0,
               'each 503 has Retry-After and a JSON busy body');
Test::More::is(($status{200} // 0) + ($status{503} // 0), 16,
               'every other login succeeded');
open my $log, '<', server_root() . '/logs/error.log' or die "error.log: $!";
my @log = <$log>;
my $summaries = grep { /securechat: \d+ logins refused, thread pool "securechat" busy/ } @log;
Test::More::ok($summaries >= 1 && $summaries <= 2,
               "$summaries summary lines for $status{503} refusals");
Test::More::is(scalar(grep { /queue overflow/ } @log), 0,
               'no "queue overflow" line from nginx');
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
queue overflow
[error]



=== TEST 10: a handshake while the pool is full of logins: 503 busy with a JSON body, counted in the summary, never nginx's "queue overflow"; the next one after the logins is served
--- main_config eval: "    load_module $ENV{TEST_NGINX_MODULE};\n    thread_pool securechat threads=1 max_queue=2;\n"
--- http_config eval
my $c = $::SlowUsers;
$c =~ s{securechat_thread_pool\s+securechat;}{securechat_thread_pool securechat queue=2;}
    or die "no securechat_thread_pool in the http config\n";
$c
--- config eval
$SecureChat::Test::ApiConfig
    . "    location = /api/connect { securechat connect; }\n"
--- init
require SecureChat::WS;
require SecureChat::Chat;
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
my $cookie = SecureChat::Chat->login('alice', 'alice-password')->{cookie};
my %ws = (path => '/api/connect',
          headers => { Cookie => "sc_session=$cookie",
                       Origin => "http://localhost:$port" });
# two slow logins: one hashing in the pool's only thread, one queued
my $body = '{"username":"carol","password":"carol-password"}';
my @slow;
for (1 .. 2) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s "POST /api/login HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    push @slow, $s;
}
select undef, undef, undef, 0.2;
my $busy = SecureChat::WS->connect(%ws);
Test::More::is($busy->status, 503, "the handshake is refused at once: " . ($busy->status_line // "") . " " . ($busy->body // ""));
Test::More::like($busy->body, qr/^\{"error":"busy","message":"[^"]+"\}\n?$/,
                 'with a JSON busy body');
my @codes = map { (do { local $/; <$_> } // '') =~ m{^HTTP/1\.1 (\d+)} }
            @slow;
Test::More::is("@codes", '200 200', 'both logins were served');
my $ws = SecureChat::WS->connect(%ws);
Test::More::is($ws->status, 101, 'a handshake after them is served');
$ws->close;
open my $log, '<', server_root() . '/logs/error.log' or die "error.log: $!";
my @log = <$log>;
Test::More::is(scalar(grep { /securechat: \d+ hellos refused, thread pool "securechat" busy/ } @log),
               1, 'the refusal is in one summary line');
Test::More::is(scalar(grep { /queue overflow/ } @log), 0,
               'no "queue overflow" line from nginx');
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
queue overflow
[error]
