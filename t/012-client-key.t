# The client's RSA public key at login: bound to the session, refused with
# 400 unless it is an RSA key of 2048 to 4096 bits with e = 65537, and
# never logged.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

sub login_with_key {
    my ($file) = @_;
    my $pem = $file eq 'garbage' ? "not a key at all"
                                 : SecureChat::Test::fixture($file) . "\n";
    return "POST /api/login\n"
           . '{"username":"alice","password":"alice-password","public_key":'
           . SecureChat::Test::json_string($pem) . '}';
}

our $KeyId2048 = fixture('client-rsa2048.keyid');
our $KeyId4096 = fixture('client-rsa4096.keyid');

run_tests();

__DATA__

=== TEST 1: an RSA-2048 key is accepted; its key id is the SHA-256 of its SPKI
--- request eval
::login_with_key('client-rsa2048.pub')
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like eval
qr/^\{"user":"alice","csrf_token":"[A-Za-z0-9_-]{43}","expires":\d+,"client_key_id":"\Q$::KeyId2048\E"\}$/
--- no_error_log
[error]
BEGIN PUBLIC KEY



=== TEST 2: an RSA-4096 key is accepted
--- request eval
::login_with_key('client-rsa4096.pub')
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like eval
qr/"client_key_id":"\Q$::KeyId4096\E"/
--- no_error_log
[error]



=== TEST 3: a login without a key still works for HTTP use
--- request
POST /api/login
{"username":"alice","password":"alice-password"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like chomp
^\{"user":"alice","csrf_token":"[A-Za-z0-9_-]{43}","expires":\d+\}$
--- no_error_log
[error]



=== TEST 4: a key that is not a string is 400
--- request
POST /api/login
{"username":"alice","password":"alice-password","public_key":{"n":1}}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like chomp
^\{"error":"wrong_type",
--- no_error_log
[error]



=== TEST 5: garbage is 400 and no session is made
--- request eval
::login_with_key('garbage')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
not a key



=== TEST 6: a 1024-bit RSA key is refused with 400
--- request eval
::login_with_key('client-rsa1024.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 7: an RSA key with e = 3 is refused with 400
--- request eval
::login_with_key('client-rsa-e3.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 8: an RSA-PSS-restricted key is refused with 400
--- request eval
::login_with_key('client-rsa-pss.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 9: an EC key is refused with 400
--- request eval
::login_with_key('client-ec.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 10: an Ed25519 key is refused with 400
--- request eval
::login_with_key('client-ed25519.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 11: a DSA key is refused with 400
--- request eval
::login_with_key('client-dsa.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 12: a private key is refused with 400
--- request eval
::login_with_key('client-rsa2048.key')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 13: two keys is refused with 400
--- request eval
::login_with_key('client-two.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 14: a truncated PEM is refused with 400
--- request eval
::login_with_key('client-truncated.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 15: trailing data after the key is refused with 400
--- request eval
::login_with_key('client-trailing.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN



=== TEST 16: a PKCS#1 RSA PUBLIC KEY block is refused with 400
--- request eval
::login_with_key('client-pkcs1.pub')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
!Set-Cookie
--- response_body_like chomp
^\{"error":"invalid_public_key","message":"[^"]+"\}$
--- no_error_log
[error]
BEGIN
