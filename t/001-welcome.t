# GET /api/: the welcome document and the server's public signing key.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

repeat_each(2);
no_shuffle();

our $RsaKeyId = fixture('rsa.keyid');
our $EdKeyId = fixture('ed25519.keyid');
our $EdHttpConfig = $HttpConfig;
$EdHttpConfig =~ s{/rsa\.pem}{/ed25519.pem};

# the PEM that openssl prints for the fixture, as a JSON string
our $RsaPem = `openssl pkey -in $ENV{TEST_NGINX_FIXTURES}/rsa.pem -pubout`;
$RsaPem =~ s/\n/\\n/g;

run_tests();

__DATA__

=== TEST 1: welcome names the service, its version and the RSA key id
--- request
GET /api/
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
X-Content-Type-Options: nosniff
!Access-Control-Allow-Origin
--- response_body eval
qq({"message":"Welcome to securechat","name":"securechat","version":"0.1.0",)
. qq("message_max":4096,)
. qq("signing_key":{"alg":"RSA-PSS-SHA256","key_id":"$::RsaKeyId",)
. qq("pem":"$::RsaPem"}}\n)
--- no_error_log
[error]
[warn]



=== TEST 2: an Ed25519 key is reported as such, with its own key id
--- http_config eval: $::EdHttpConfig
--- request
GET /api/
--- error_code: 200
--- response_body_like eval
qr/"alg":"Ed25519","key_id":"\Q$::EdKeyId\E","pem":"-----BEGIN PUBLIC KEY-----\\n/
--- no_error_log
[error]



=== TEST 3: HEAD answers the headers only
--- request
HEAD /api/
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp
--- no_error_log
[error]



=== TEST 4: POST is 405 with Allow
--- request
POST /api/
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body
{"error":"method_not_allowed","message":"this method is not allowed here"}
--- no_error_log
[error]



=== TEST 5: DELETE is 405 too
--- request
DELETE /api/
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- no_error_log
[error]
