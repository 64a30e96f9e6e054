# Per-(account, address) login throttling: 429 with Retry-After, and a
# lockout that ends.  Not repeated: each block needs a fresh zone.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

no_shuffle();

our $ThrottleConfig = $HttpConfig . <<'_EOC_';
    securechat_login_free_failures 2;
    securechat_login_max_lockout   2s;
_EOC_

run_tests();

__DATA__

=== TEST 1: repeated failures are throttled with Retry-After, per account
--- http_config eval: $::ThrottleConfig
--- request eval
["POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}",
 "POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}",
 "POST /api/login\n{\"username\":\"alice\",\"password\":\"x\"}",
 "POST /api/login\n{\"username\":\"alice\",\"password\":\"alice-password\"}",
 "POST /api/login\n{\"username\":\"bob\",\"password\":\"bob-password\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[401, 401, 401, 429, 200]
--- response_body_like eval
["invalid_credentials", "invalid_credentials", "invalid_credentials",
 qr/^\{"error":"throttled","message":"too many failed logins: wait before trying again"\}$/,
 qr/"user":"bob"/]
--- no_error_log
[error]



=== TEST 2: the lockout ends: the right password works again after it
--- http_config eval: $::ThrottleConfig
--- init
for (1 .. 3) {
    my ($s) = SecureChat::Test::http_request('POST', '/api/login',
        { 'Content-Type' => 'application/json' },
        '{"username":"bob","password":"wrong"}');
    die "expected 401, got $s\n" unless $s == 401;
}
my ($s, $h) = SecureChat::Test::http_request('POST', '/api/login',
    { 'Content-Type' => 'application/json' },
    '{"username":"bob","password":"bob-password"}');
die "expected 429, got $s\n" unless $s == 429;
die "Retry-After missing\n" unless ($h->{'retry-after'} // '') =~ /^[12]$/;
sleep 3;
--- request
POST /api/login
{"username":"bob","password":"bob-password"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- timeout: 10
--- no_error_log
[error]
