# Behind `listen ... ssl`: the session cookie is marked Secure, and the
# same-origin rule expects https.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use IO::Socket::SSL ();

securechat_defaults();
no_shuffle();

our $TlsServer = tls_server($ApiConfig);

our $NoAllowlist = CORE::join '', grep { !/securechat_allowed_origin/ }
                                  split /^/, $HttpConfig;

# one request over TLS; returns (status, lower-cased headers, body)
sub tls_request {
    my ($headers, $body, $path) = @_;
    $path //= '/api/login';
    my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $ENV{TEST_NGINX_TLS_PORT},
                                 SSL_verify_mode => 0)
        or die "TLS connect: $IO::Socket::SSL::SSL_ERROR\n";
    my $req = "POST $path HTTP/1.1\r\nHost: localhost:$ENV{TEST_NGINX_TLS_PORT}\r\n"
              . "Connection: close\r\nContent-Type: application/json\r\n"
              . "Content-Length: " . length($body) . "\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %$headers;
    print $s "$req\r\n$body";
    my $resp = do { local $/; <$s> };
    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k, $v) }
            grep { /:/ } split /\r\n/, $head;
    return ($status, \%h, $rbody);
}

run_tests();

__DATA__

=== TEST 1: over TLS the session cookie is __Host-sc_session, Secure, Path=/, no Domain; over plain http it stays sc_session
--- http_config eval: $::HttpConfig . $::TlsServer
--- init
my ($s, $h) = main::tls_request({},
    '{"username":"alice","password":"alice-password"}');
Test::More::is($s, 200, 'login over TLS');
Test::More::like($h->{'set-cookie'} // '',
    qr/^__Host-sc_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/,
    'the cookie is __Host-, Secure, HttpOnly, SameSite=Strict, without Domain');
--- request
POST /api/login
{"username":"alice","password":"alice-password"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers_like
Set-Cookie: sc_session=[A-Za-z0-9_-]{43}; Path=/; Max-Age=\d+; HttpOnly; SameSite=Strict
--- no_error_log
[error]



=== TEST 2: without an allowlist, https://host is the own origin over TLS
--- http_config eval: $::NoAllowlist . $::TlsServer
--- init
my $port = $ENV{TEST_NGINX_TLS_PORT};
my ($s) = main::tls_request({ Origin => "https://localhost:$port" },
    '{"username":"alice","password":"alice-password"}');
Test::More::is($s, 200, 'same origin over TLS is accepted');
($s) = main::tls_request({ Origin => "http://localhost:$port" },
    '{"username":"alice","password":"alice-password"}');
Test::More::is($s, 403, 'the same host over plain http is another origin');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: over TLS only __Host-sc_session is a session: a plain sc_session (which http or a sibling domain could plant) is not read
--- http_config eval: $::HttpConfig . $::TlsServer
--- init
my ($s, $h, $b) = main::tls_request({},
    '{"username":"alice","password":"alice-password"}');
my ($cookie) = ($h->{'set-cookie'} // '') =~ /^__Host-sc_session=([^;]+)/;
my ($csrf) = ($b // '') =~ /"csrf_token":"([^"]+)"/;
Test::More::ok($cookie && $csrf, 'logged in over TLS');
($s) = main::tls_request({ Cookie => "__Host-sc_session=$cookie",
                           'X-CSRF-Token' => $csrf },
                         '{"message":"over TLS"}', '/api/chat');
Test::More::is($s, 202, 'the __Host- cookie is the session');
($s) = main::tls_request({ Cookie => "sc_session=$cookie",
                           'X-CSRF-Token' => $csrf },
                         '{"message":"over TLS"}', '/api/chat');
Test::More::is($s, 401, 'the plain name is not read over TLS');
($s) = main::tls_request({ Cookie => "__Host-sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; __Host-sc_session=$cookie",
                           'X-CSRF-Token' => $csrf },
                         '{"message":"over TLS"}', '/api/chat');
Test::More::is($s, 202, 'a second __Host- cookie before the real one does not lock out');
($s, $h) = main::tls_request({ Cookie => "__Host-sc_session=$cookie",
                               'X-CSRF-Token' => $csrf }, '{}', '/api/logout');
Test::More::like($h->{'set-cookie'} // '',
    qr/^__Host-sc_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict; Secure$/,
    'logout clears the __Host- cookie');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
