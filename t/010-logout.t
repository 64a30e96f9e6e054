# POST /api/logout.  Not repeated: a session ends only once.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

no_shuffle();

run_tests();

__DATA__

=== TEST 1: logout ends the session
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
["POST /api/logout\n{}", "POST /api/chat\n{\"message\":\"after\"}"]
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code eval
[200, 401]
--- response_body eval
["{\"ok\":true}\n",
 "{\"error\":\"unauthorized\",\"message\":\"no valid session: log in first\"}\n"]
--- no_error_log
[error]



=== TEST 2: logout clears the cookie
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/logout
{}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 200
--- response_headers
Set-Cookie: sc_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict
--- no_error_log
[error]
