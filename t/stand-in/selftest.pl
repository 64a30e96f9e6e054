# Self-test of the Test::Nginx stand-in (t/stand-in/Test/Nginx/*.pm).
#
#   TEST_NGINX_BINARY=/usr/sbin/nginx prove t/stand-in/selftest.pl
#   TEST_NGINX_BINARY=/usr/sbin/nginx TEST_NGINX_USE_VALGRIND=1 prove t/stand-in/selftest.pl
#
# Named *.pl so that `prove -r t` does not pick it up.  Uses only core
# nginx directives.  Every block is also valid for the real Test::Nginx:
# set SELFTEST_USE_INSTALLED=1 to run it against whatever
# Test::Nginx::Socket is on @INC instead of the stand-in.

use FindBin ();
use lib ($ENV{SELFTEST_USE_INSTALLED} ? () : $FindBin::Bin);

BEGIN {
    $ENV{TEST_NGINX_SERVROOT} ||= "$FindBin::Bin/servroot";
    $ENV{TEST_NGINX_PORT}     ||= 1994;    # keep clear of the default 1984
}

use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * 73;    # sum of the per-block counts noted below

no_shuffle();    # TEST 20 relies on TEST 19's nginx still running

$ENV{TEST_NGINX_SC_GREETING} = 'howdy';

run_tests();

__DATA__

=== TEST 1: basic request, integer timeout
# 3 tests: status, body, no_error_log
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]
--- timeout: 5



=== TEST 2: response_headers: value, absent (!Name), empty (Name:)
# 6 tests: status, 4 headers, body
--- config
    location = /t {
        add_header X-Foo bar;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
Content-Type: text/plain
!X-Absent
X-Empty:
--- response_body
hello



=== TEST 3: response_headers_like and a /s response_body_like
# 4 tests: status, 2 headers, body
--- config
    location = /t {
        add_header X-Foo bar;
        return 200 "hello\nworld\n";
    }
--- request
GET /t
--- response_headers_like
X-Foo: b.r
Content-Length: \d+
--- response_body_like: ^hello.world$



=== TEST 4: several requests (one connection each), eval arrayrefs
# 6 tests: 2 x (status, body) + no_error_log checked after each request
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request eval
["GET /t", "GET /missing"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^hello\$", "404 Not Found"]
--- no_error_log
[crit]



=== TEST 5: error_log with a string and a regex
# 3 tests: status, 2 patterns
--- config
--- request
GET /nonexistent.html
--- error_code: 404
--- error_log eval
["No such file or directory", qr/open\(\) ".*?nonexistent\.html" failed/]



=== TEST 6: no_error_log with an eval arrayref
# 4 tests: status, body, 2 patterns
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log eval
["[error]", qr/\[warn\].*nonexistent/]



=== TEST 7: raw_request string (no Host/Connection added)
# 2 tests
--- config
    location = /t {
        return 200 "raw $server_protocol\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
raw HTTP/1.0



=== TEST 8: raw_request arrayref = packets of ONE request
# 2 tests
--- config
    location = /t {
        return 200 "host=$host\n";
    }
--- raw_request eval
["GET /t HTTP/1.1\r\nHost: local", "host\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.1
--- response_body
host=localhost



=== TEST 9: more_headers (comment lines are skipped)
# 2 tests
--- config
    location = /t {
        return 200 "foo=$http_x_foo bar=$http_x_bar conn=$http_connection\n";
    }
--- request
    # a leading comment in the request section is dropped
    GET /t
--- more_headers
X-Foo: 1
# X-Bar: ignored
X-Bar: two
--- response_body
foo=1 bar=two conn=close



=== TEST 10: request body gets a Content-Length (body trimmed)
# 2 tests
--- config
    location = /post {
        return 200 "len=$content_length method=$request_method\n";
    }
--- request
POST /post
hello world
--- response_body
len=11 method=POST



=== TEST 11: chunked response (sub_filter drops Content-Length)
# 4 tests: status, 2 headers, body
--- config
    location = /chunked {
        sub_filter a b;
        sub_filter_once off;
        sub_filter_types text/plain;
        return 200 "aaa\n";
    }
--- request
GET /chunked
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
bbb



=== TEST 12: abort + timeout (nginx waits for the rest of the header)
# 1 test: no_error_log
--- config
    location = /t {
        return 200 "hello\n";
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 500ms
--- abort
--- ignore_response
--- no_error_log
[error]



=== TEST 13: must_die with a bad directive argument count
# 3 tests: died, error_log, no_error_log
--- config
    location = /t {
        return a b c;
    }
--- request
GET /t
--- must_die
--- error_log
invalid number of arguments in "return" directive
--- no_error_log
[alert]



=== TEST 14: must_die with an exit code, unknown directive, stderr suppressed
# 2 tests: exit code, error_log
--- config
    location = /t {
        sc_no_such_directive on;
    }
--- request
GET /t
--- must_die: 1
--- suppress_stderr
--- error_log
unknown directive "sc_no_such_directive"



=== TEST 15: $TEST_NGINX_* in config; init-set env in response_body
# 2 tests
--- config
    location = /greet {
        return 200 "$TEST_NGINX_SC_GREETING from $TEST_NGINX_SERVER_PORT\n";
    }
--- init
$ENV{TEST_NGINX_SC_FROM_INIT} = 'howdy';
--- request
GET /greet
--- response_body
$TEST_NGINX_SC_FROM_INIT from $TEST_NGINX_SERVER_PORT



=== TEST 16: two-step flow: init does step 1, then sets the block's more_headers
# 2 tests
--- config
    location = /login {
        add_header Set-Cookie "sc_session=$request_id; Path=/";
        return 200 "ok\n";
    }
    location = /whoami {
        return 200 "session=$cookie_sc_session\n";
    }
--- init
use IO::Socket::INET;
use Time::HiRes ();
# under valgrind, init runs before nginx listens (real module too): retry
my $sock;
for (1 .. 100) {
    last if $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => server_port(), Timeout => 3);
    Time::HiRes::sleep(0.1);
}
$sock or die "connect: $!";
print $sock "GET /login HTTP/1.0\r\nHost: localhost\r\n\r\n";
my $resp = do { local $/; <$sock> };
my ($cookie) = $resp =~ /^Set-Cookie: sc_session=(\w+)/mi or die "no cookie in: $resp";
$ENV{TEST_NGINX_SC_COOKIE} = $cookie;
$block->set_value(more_headers => "Cookie: sc_session=$cookie");
--- request
GET /whoami
--- response_body
session=$TEST_NGINX_SC_COOKIE



=== TEST 17: more_headers are NOT env-expanded (same as the real module)
# 2 tests
--- config
    location = /t {
        return 200 "lit=$http_x_literal\n";
    }
--- request
GET /t
--- more_headers
X-Literal: $TEST_NGINX_SC_GREETING
--- response_body_like: ^lit=\$TEST_NGINX_SC_GREETING$



=== TEST 18: main_config and http_config
# 2 tests
--- main_config
worker_rlimit_nofile 1024;
--- http_config
    map $arg_a $sc_mapped {
        default none;
        1       one;
    }
--- config
    location = /map {
        return 200 "$sc_mapped\n";
    }
--- request
GET /map?a=1
--- response_body
one



=== TEST 19: user_files
# 2 tests
--- config
--- user_files
>>> sc/hello.txt
Hello, file
--- request
GET /sc/hello.txt
--- response_body
Hello, file



=== TEST 20: no config section: reuses TEST 19's running nginx
# 2 tests (skipped under valgrind: nginx is stopped after every block there,
# with the real module too, so there is nothing to reuse)
--- request
GET /sc/hello.txt
--- response_body
Hello, file
--- skip_eval: 2: $ENV{TEST_NGINX_USE_VALGRIND}



=== TEST 21: skip_nginx that skips
# 2 tests (skipped)
--- config
--- request
GET /
--- response_body_like: It works
--- skip_nginx: 2: > 0.1.0



=== TEST 22: skip_nginx that does not skip (default root location)
# 2 tests
--- config
--- request
GET /
--- response_body_like: It works
--- skip_nginx: 2: < 0.1.0



=== TEST 23: $ServerPort in response_body
# 2 tests
--- config
    location = /t {
        return 200 "port=$server_port\n";
    }
--- request
GET /t
--- response_body
port=$ServerPort



=== TEST 24: HEAD request
# 2 tests
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
HEAD /t
--- response_body chomp



=== TEST 25: error_code arrayref for a single request
# 1 test
--- config
--- request
GET /nope
--- error_code eval
[404]



=== TEST 26: one request sent as two packets, the second delayed
# 2 tests
--- config
    location = /post {
        return 200 "len=$content_length method=$request_method\n";
    }
--- request eval
[["POST /post\nhel", {value => "lo", delay_before => 0.1}]]
--- response_body
len=5 method=POST



=== TEST 27: arrayrefs for response_body and response_headers
# 6 tests: 2 x (status, header, body)
--- config
    location = /t {
        return 200 "hello\n";
    }
    location = /chunked {
        sub_filter a b;
        sub_filter_once off;
        sub_filter_types text/plain;
        return 200 "aaa\n";
    }
--- request eval
["GET /t", "GET /chunked"]
--- response_headers eval
["Content-Length: 6", "!Content-Length"]
--- response_body eval
["hello\n", "bbb\n"]
