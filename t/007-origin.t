# Origin checks on every state-changing request; never any CORS header.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

our $Port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

# a login whose Host and Origin are the given ones
sub login_with_host {
    my ($host, $origin) = @_;
    my $body = '{"username":"alice","password":"alice-password"}';
    return "POST /api/login HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n"
           . "Content-Type: application/json\r\nOrigin: $origin\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

run_tests();

__DATA__

=== TEST 1: an allowed Origin logs in
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.com
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 2: a second allowed Origin logs in
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: http://localhost:1984
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 3: a foreign Origin is 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://evil.example.net
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://evil\.example\.net is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 4: the Origin null is 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: null
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin null \(a sandboxed frame, a file: page or a redirect\) is never accepted"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 5: a look-alike host is 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.com.evil.example.net
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://chat\.example\.com\.evil\.example\.net is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 6: a look-alike prefix is 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.co
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://chat\.example\.co is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 7: the right host with the wrong scheme is 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: http://chat.example.com
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin http://chat\.example\.com is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 8: the right host with an explicit port is 403 (exact match)
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.com:443
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://chat\.example\.com:443 is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 9: the right host in upper case is 403 (exact match)
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://CHAT.example.com
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://CHAT\.example\.com is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 10: two Origin headers are 403
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.com
Origin: https://evil.example.net
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"more than one Origin header"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 11: Sec-Fetch-Site: cross-site is 403 even without Origin
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Sec-Fetch-Site: cross-site
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"cross-site requests \(Sec-Fetch-Site: cross-site\) are not accepted"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 12: Sec-Fetch-Site: same-origin is fine
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Sec-Fetch-Site: same-origin
Origin: https://chat.example.com
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 13: without an allowlist the request's own origin is accepted
--- http_config eval: CORE::join "", grep { !/securechat_allowed_origin/ } split /^/, $::HttpConfig
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: http://localhost
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 14: without an allowlist another origin is 403
--- http_config eval: CORE::join "", grep { !/securechat_allowed_origin/ } split /^/, $::HttpConfig
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://chat.example.com
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://chat\.example\.com is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 15: without an allowlist the own host over https is 403
--- http_config eval: CORE::join "", grep { !/securechat_allowed_origin/ } split /^/, $::HttpConfig
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: https://localhost
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://localhost is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 16: chat from a foreign Origin is 403 even with session and token
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\"hi\"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
Origin: https://evil.example.net
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://evil\.example\.net is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 17: logout from a foreign Origin is 403
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/logout\n{}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
Origin: https://evil.example.net
--- error_code: 403
--- response_body_like chomp
^\{"error":"forbidden_origin","message":"Origin https://evil\.example\.net is not accepted; add it to securechat_allowed_origin"\}$
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 18: a CORS preflight gets no CORS headers
--- request eval
"OPTIONS /api/chat\n"
--- more_headers
Content-Type: application/json
Origin: https://evil.example.net
Access-Control-Request-Method: POST
--- error_code: 405
--- response_body_like chomp
"error":"method_not_allowed"
--- response_headers
!Access-Control-Allow-Origin
!Access-Control-Allow-Credentials
--- no_error_log
[error]



=== TEST 19: with an allowlist the request's own origin is accepted too
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Origin: http://localhost
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]



=== TEST 20: reached by another name or address, the page's own origin is accepted (the Host it sent)
--- raw_request eval
::login_with_host("127.0.0.1:$::Port", "http://127.0.0.1:$::Port")
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]



=== TEST 21: reached by a host name of its own, that origin is accepted
--- raw_request eval
::login_with_host("chat.internal", "http://chat.internal")
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]



=== TEST 22: an Origin that is not the Host it came with is refused, naming both the origin and the directive
--- raw_request eval
::login_with_host("chat.internal", "http://chat.internal.evil.com")
--- error_code: 403
--- response_body
{"error":"forbidden_origin","message":"Origin http://chat.internal.evil.com is not accepted; add it to securechat_allowed_origin"}
--- no_error_log
[error]



=== TEST 23: a refused Origin is shown escaped: quotes, backslashes, bytes that are not printable ASCII
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers eval
"Content-Type: application/json\nOrigin: http://a\"b\\c\xff\xfe.example"
--- error_code: 403
--- response_body
{"error":"forbidden_origin","message":"Origin http://a\"b\\c??.example is not accepted; add it to securechat_allowed_origin"}
--- no_error_log
[error]



=== TEST 24: a long refused Origin is cut at 128 bytes
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers eval
"Content-Type: application/json\nOrigin: http://" . ("a" x 300) . ".example"
--- error_code: 403
--- response_body eval
'{"error":"forbidden_origin","message":"Origin http://' . ("a" x 121)
. '... is not accepted; add it to securechat_allowed_origin"}' . "\n"
--- no_error_log
[error]



=== TEST 25: an allowlisted origin passes even when the browser calls it cross-site (the operator listed it)
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
Sec-Fetch-Site: cross-site
Origin: https://chat.example.com
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]
