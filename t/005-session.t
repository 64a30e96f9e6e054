# Sessions and CSRF on the state-changing routes: /api/chat, /api/logout,
# /api/disconnect.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

our $ShortConfig = $HttpConfig . "    securechat_session_lifetime 1s;\n";

run_tests();

__DATA__

=== TEST 1: a chat message with session and CSRF token is accepted with an id
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
["POST /api/chat\n{\"message\":\"hello\"}",
 "POST /api/chat\n{\"message\":\"h\\u00e9llo \\u263a\\n second line\"}"]
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code eval
[202, 202]
--- response_body_like eval
[qr/^\{"id":(\d+)\}$/, qr/^\{"id":(\d+)\}$/]
--- no_error_log
[error]
[warn]



=== TEST 2: ids increase by one per message, across connections
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my @ids;
for (1 .. 3) {
    my ($s, $h, $b) = SecureChat::Test::http_request('POST', '/api/chat',
        { 'Content-Type' => 'application/json',
          'Cookie' => "sc_session=$ENV{TEST_NGINX_COOKIE}",
          'X-CSRF-Token' => $ENV{TEST_NGINX_CSRF} },
        '{"message":"count"}');
    die "chat: $s $b" unless $s == 202 && $b =~ /"id":(\d+)/;
    push @ids, $1;
}
Test::More::ok($ids[1] == $ids[0] + 1 && $ids[2] == $ids[1] + 1,
               "ids @ids are consecutive");
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"next"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- response_body_like chomp
^\{"id":\d+\}$



=== TEST 3: no cookie is 401
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
X-CSRF-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 401
--- response_body
{"error":"unauthorized","message":"no valid session: log in first"}
--- no_error_log
[error]



=== TEST 4: a forged cookie of the right shape is 401
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
X-CSRF-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 401
--- response_body_like chomp
"error":"unauthorized"
--- no_error_log
[error]



=== TEST 5: a truncated real cookie is 401
--- init
SecureChat::Test::login_env('alice', 'alice-password');
$ENV{TEST_NGINX_SHORT} = substr $ENV{TEST_NGINX_COOKIE}, 0, 42;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_SHORT
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 401
--- no_error_log
[error]



=== TEST 6: a real cookie sent twice is the same session: accepted
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE; sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- no_error_log
[error]



=== TEST 7: an expired session is 401
--- http_config eval: $::ShortConfig
--- init
SecureChat::Test::login_env('alice', 'alice-password');
sleep 2;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 401
--- timeout: 10
--- no_error_log
[error]



=== TEST 8: missing CSRF token is 403
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 403
--- response_body
{"error":"csrf","message":"missing or wrong X-CSRF-Token for this session"}
--- no_error_log
[error]



=== TEST 9: a wrong CSRF token is 403
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 403
--- no_error_log
[error]



=== TEST 10: another session's CSRF token is 403
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::login_env('bob', 'bob-password', '_BOB');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF_BOB
--- error_code: 403
--- no_error_log
[error]



=== TEST 11: the CSRF token is checked before the body is parsed
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
not json at all
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
--- error_code: 403
--- no_error_log
[error]



=== TEST 12: logout without the CSRF token is 403 and the session lives on
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my ($s) = SecureChat::Test::http_request('POST', '/api/logout',
    { 'Content-Type' => 'application/json',
      'Cookie' => "sc_session=$ENV{TEST_NGINX_COOKIE}" }, '{}');
die "logout without CSRF token: expected 403, got $s\n" unless $s == 403;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still here"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- no_error_log
[error]



=== TEST 13: disconnect of an unknown client id is 404
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/disconnect
{"client_id":"c-12345"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 404
--- response_body
{"error":"unknown_client","message":"no connected client has this id"}
--- no_error_log
[error]



=== TEST 14: disconnect validates its body
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
["POST /api/disconnect\n{\"client_id\":42}",
 "POST /api/disconnect\n{}",
 "POST /api/disconnect\n{\"client_id\":\"\"}"]
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code eval
[400, 400, 400]
--- response_body_like eval
['"error":"wrong_type"', '"error":"missing_field"', '"error":"too_short"']
--- no_error_log
[error]



=== TEST 15: disconnect without a session is 401
--- request
POST /api/disconnect
{"client_id":"c-1"}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- no_error_log
[error]



=== TEST 16: a planted cookie beside the real one does not lock the user out, in either order and in either header
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
["POST /api/chat\n{\"message\":\"planted first\"}",
 "POST /api/chat\n{\"message\":\"planted last\"}",
 "POST /api/chat\n{\"message\":\"planted, malformed\"}",
 "POST /api/chat\n{\"message\":\"two Cookie headers\"}"]
--- more_headers eval
[map { "Content-Type: application/json\nX-CSRF-Token: \$TEST_NGINX_CSRF\n$_" }
 "Cookie: sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; sc_session=\$TEST_NGINX_COOKIE\n",
 "Cookie: sc_session=\$TEST_NGINX_COOKIE; sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
 "Cookie: sc_session=forged; other=1; sc_session=\$TEST_NGINX_COOKIE\n",
 "Cookie: sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nCookie: sc_session=\$TEST_NGINX_COOKIE\n"]
--- error_code eval
[202, 202, 202, 202]
--- response_body_like eval
[(qr/^\{"id":\d+\}$/) x 4]
--- no_error_log
[error]



=== TEST 17: with two live sessions, the one whose CSRF token came is used (logout ends that one only)
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::login_env('bob', 'bob-password', '_BOB');
my ($s) = SecureChat::Test::http_request('POST', '/api/logout',
    { 'Content-Type' => 'application/json',
      'Cookie' => "sc_session=$ENV{TEST_NGINX_COOKIE}; sc_session=$ENV{TEST_NGINX_COOKIE_BOB}",
      'X-CSRF-Token' => $ENV{TEST_NGINX_CSRF_BOB} }, '{}');
Test::More::is($s, 200, "bob's logout with alice's cookie first");
($s) = SecureChat::Test::http_request('POST', '/api/chat',
    { 'Content-Type' => 'application/json',
      'Cookie' => "sc_session=$ENV{TEST_NGINX_COOKIE_BOB}",
      'X-CSRF-Token' => $ENV{TEST_NGINX_CSRF_BOB} }, '{"message":"x"}');
Test::More::is($s, 401, "bob's session has ended");
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"alice is still in"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- no_error_log
[error]



=== TEST 18: past 8 session cookies the rest are not tried (a bound on the work one request causes)
--- init
SecureChat::Test::login_env('alice', 'alice-password');
$ENV{TEST_NGINX_PLANTED} = CORE::join '; ',
    map { sprintf 'sc_session=%042dA', $_ } 1 .. 8;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"hello"}
--- more_headers
Content-Type: application/json
Cookie: $TEST_NGINX_PLANTED; sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 401
--- no_error_log
[error]
