# Bad input: every case gets its status and a JSON error, and nothing else
# is disturbed (the error log stays clean).

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

run_tests();

__DATA__

=== TEST 1: an empty body
--- request eval
"POST /api/login\n"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"empty_body",
--- no_error_log
[error]
[warn]



=== TEST 2: malformed JSON
--- request eval
"POST /api/login\n{\"username\":\"alice\",}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 3: a top-level array
--- request eval
"POST /api/login\n[\"alice\",\"x\"]"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"not_an_object",
--- no_error_log
[error]
[warn]



=== TEST 4: a top-level string
--- request eval
"POST /api/login\n\"alice\""
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"(not_an_object|malformed_json)",
--- no_error_log
[error]
[warn]



=== TEST 5: a top-level number
--- request eval
"POST /api/login\n42"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"(not_an_object|malformed_json)",
--- no_error_log
[error]
[warn]



=== TEST 6: trailing garbage after the object
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"} {}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 7: duplicate keys
--- request eval
"POST /api/login\n{\"username\":\"bob\",\"username\":\"alice\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 8: a raw NUL byte
--- request eval
"POST /api/login\n{\"username\":\"al\0ice\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 9: an escaped NUL (\\u0000)
--- request eval
"POST /api/login\n{\"username\":\"al\\u0000ice\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 10: invalid UTF-8
--- request eval
"POST /api/login\n{\"username\":\"al\xff\xfeice\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 11: an overlong UTF-8 encoding
--- request eval
"POST /api/login\n{\"username\":\"\xc0\xaf\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 12: a lone surrogate
--- request eval
"POST /api/login\n{\"username\":\"\\ud800\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 13: 100k-deep nesting
--- http_config eval: $::HttpConfig . q{securechat_max_body 256k;}
--- config eval: q{client_body_buffer_size 256k;} . $::ApiConfig
--- request eval
"POST /api/login\n{\"username\":" . ("[" x 100000) . "}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 14: a huge integer
--- request eval
"POST /api/login\n{\"username\":123456789012345678901234567890,\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 15: a huge real number
--- request eval
"POST /api/login\n{\"username\":1e999999,\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"malformed_json",
--- no_error_log
[error]
[warn]



=== TEST 16: a number where a string belongs
--- request eval
"POST /api/login\n{\"username\":42,\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"wrong_type",
--- no_error_log
[error]
[warn]



=== TEST 17: null where a string belongs
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":null}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"wrong_type",
--- no_error_log
[error]
[warn]



=== TEST 18: an object where a string belongs
--- request eval
"POST /api/login\n{\"username\":{},\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"wrong_type",
--- no_error_log
[error]
[warn]



=== TEST 19: a missing field
--- request eval
"POST /api/login\n{\"username\":\"alice\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"missing_field",
--- no_error_log
[error]
[warn]



=== TEST 20: an unknown field
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"x\",\"admin\":\"yes\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"unknown_field",
--- no_error_log
[error]
[warn]



=== TEST 21: an empty user name
--- request eval
"POST /api/login\n{\"username\":\"\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"too_short",
--- no_error_log
[error]
[warn]



=== TEST 22: no Content-Type
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}"
--- error_code: 415
--- response_body_like chomp
^\{"error":"unsupported_media_type",
--- no_error_log
[error]
[warn]



=== TEST 23: a form Content-Type
--- request eval
"POST /api/login\nusername=alice&password=x"
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body_like chomp
^\{"error":"unsupported_media_type",
--- no_error_log
[error]
[warn]



=== TEST 24: text/plain
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}"
--- more_headers
Content-Type: text/plain
--- error_code: 415
--- response_body_like chomp
^\{"error":"unsupported_media_type",
--- no_error_log
[error]
[warn]



=== TEST 25: a look-alike media type
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/jsonp
--- error_code: 415
--- response_body_like chomp
^\{"error":"unsupported_media_type",
--- no_error_log
[error]
[warn]



=== TEST 26: application/json with a charset is fine
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json; charset=utf-8
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]
[warn]



=== TEST 27: a body over securechat_max_body
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"" . ("x" x 17000) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_body_like chomp
^\{"error":"body_too_large",
--- no_error_log
[error]
[warn]



=== TEST 28: a chunked body over securechat_max_body
--- config eval: q{client_body_buffer_size 256k;} . $::ApiConfig
--- raw_request eval
"POST /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" . CORE::join("", map { sprintf("%x\r\n%s\r\n", 1000, "x" x 1000) } 1 .. 20) . "0\r\n\r\n"
--- error_code: 413
--- response_body_like chomp
^\{"error":"body_too_large",
--- no_error_log
[error]
[warn]



=== TEST 29: a chunked body within the limit is read whole
--- raw_request eval
"POST /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" . CORE::join("", map { sprintf("%x\r\n%s\r\n", length, $_) } q[{"username], q[":"alice","password":"alice-password"}]) . "0\r\n\r\n"
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]
[warn]



=== TEST 30: a body nginx spooled to a temporary file is read whole
--- config eval: q{client_body_buffer_size 1k;} . $::ApiConfig
--- request eval
"POST /api/login\n{\"username\":\"alice\",". (" " x 8000) . "\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]



=== TEST 31: a body in a file only is read whole
--- config eval: q{client_body_in_file_only clean;} . $::ApiConfig
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like chomp
"user":"alice"
--- no_error_log
[error]



=== TEST 32: chat: a message over securechat_message_max
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\"" . ("m" x 4097) . "\"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 400
--- response_body_like chomp
^\{"error":"too_long",
--- no_error_log
[error]
[warn]



=== TEST 33: chat: a message of exactly securechat_message_max
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\"" . ("m" x 4096) . "\"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- response_body_like chomp
^\{"id":\d+\}$
--- no_error_log
[error]
[warn]



=== TEST 34: chat: an empty message
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\"\"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 400
--- response_body_like chomp
^\{"error":"too_short",
--- no_error_log
[error]
[warn]



=== TEST 35: chat: a message of white space only
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\" \\n\\t \"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 400
--- response_body_like chomp
^\{"error":"empty_message",
--- no_error_log
[error]
[warn]



=== TEST 36: chat: control characters
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":\"bell\\u0007\"}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 400
--- response_body_like chomp
^\{"error":"bad_characters",
--- no_error_log
[error]
[warn]



=== TEST 37: chat: a message where a string belongs
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
"POST /api/chat\n{\"message\":[\"hi\"]}"
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 400
--- response_body_like chomp
^\{"error":"wrong_type",
--- no_error_log
[error]
[warn]
