# POST /api/login: sessions, cookies, CSRF tokens, throttling.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

run_tests();

__DATA__

=== TEST 1: a right password gives a session cookie and a CSRF token
--- request
POST /api/login
{"username":"alice","password":"alice-password"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers_like
Set-Cookie: ^sc_session=[A-Za-z0-9_-]{43}; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict$
Content-Type: ^application/json$
--- response_body_like chomp
^\{"user":"alice","csrf_token":"[A-Za-z0-9_-]{43}","expires":\d+\}$
--- no_error_log
[error]
[warn]



=== TEST 2: a wrong password is 401 with no cookie
--- request
POST /api/login
{"username":"alice","password":"bob-password"}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
!Set-Cookie
--- response_body
{"error":"invalid_credentials","message":"wrong user name or password"}
--- error_log
securechat: failed login for "alice"
--- no_error_log
[error]



=== TEST 3: an unknown user gets exactly the same answer
--- request
POST /api/login
{"username":"mallory","password":"alice-password"}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
!Set-Cookie
--- response_body
{"error":"invalid_credentials","message":"wrong user name or password"}
--- no_error_log
[error]



=== TEST 4: a login never reuses the session id the client brought
--- init
my ($old) = SecureChat::Test::login('alice', 'alice-password');
my ($s, $h) = SecureChat::Test::http_request('POST', '/api/login',
    { 'Content-Type' => 'application/json',
      'Cookie' => "sc_session=$old" },
    '{"username":"alice","password":"alice-password"}');
my ($new) = ($h->{'set-cookie'} // '') =~ /^sc_session=([^;]+)/;
Test::More::is($s, 200, 'login with an old session cookie succeeds');
Test::More::ok(defined $new && $new ne $old,
               'the new session id differs from the one brought');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]



=== TEST 5: two logins give two different sessions and CSRF tokens
--- init
my ($c1, $t1) = SecureChat::Test::login('bob', 'bob-password');
my ($c2, $t2) = SecureChat::Test::login('bob', 'bob-password');
Test::More::isnt($c1, $c2, 'two logins, two session cookies');
Test::More::isnt($t1, $t2, 'two logins, two CSRF tokens');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]



=== TEST 6: a login over a GET is 405
--- request
GET /api/login
--- error_code: 405
--- response_headers
Allow: POST
--- no_error_log
[error]



=== TEST 7: an over-long user name is refused before any hashing
--- request eval
"POST /api/login\n{\"username\":\"" . ("a" x 65) . "\",\"password\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"too_long",
--- no_error_log
[error]
securechat: failed login



=== TEST 8: an over-long password is refused before any hashing
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"" . ("p" x 1025) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"too_long",
--- no_error_log
[error]
securechat: failed login



=== TEST 9: a password of exactly 1 KiB is hashed (and wrong)
--- request eval
"POST /api/login\n{\"username\":\"alice\",\"password\":\"" . ("p" x 1024) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 401
--- error_log
securechat: failed login for "alice"



=== TEST 10: a user name with control characters is refused, and never logged
--- request
POST /api/login
{"username":"ali\u001b[31mce","password":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"bad_characters",
--- no_error_log eval
["\x1b", "[error]", "failed login"]



=== TEST 11: a user name outside the allowed characters is 400
--- request
POST /api/login
{"username":"al ice","password":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"invalid_username",
--- no_error_log
[error]
