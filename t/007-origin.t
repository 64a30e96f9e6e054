# Origin checks on every state-changing request; never any CORS header.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
^\{"error":"forbidden_origin","message":"cross-site requests are not accepted"\}$
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
