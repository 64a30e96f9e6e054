# Every response of every route, under the server block that
# conf/securechat.conf ships, carries X-Content-Type-Options exactly once:
# the module's JSON answers add their own, the page's files get nginx's.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use Cwd ();
use IO::Socket::INET ();

securechat_defaults();

no_shuffle();
no_root_location();

# the shipped server block from its first add_header to its end, with the
# page's root made absolute
sub shipped_server {
    my $file = Cwd::cwd() . '/conf/securechat.conf';
    open my $fh, '<', $file or die "$file: $!\n";
    my $text = do { local $/; <$fh> };
    my ($body) = $text =~ /^(\s*add_header .*?)^    \}\n\}\s*$/ms
        or die "no server block with add_header in $file\n";
    return "        root " . Cwd::cwd() . "/html;\n$body";
}

our $Server = shipped_server();

# one raw request; returns (status, the number of X-Content-Type-Options
# lines in the head)
sub nosniff_count {
    my ($req) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 10)
        or die "connect: $!\n";
    print $s $req;
    my $resp = do { local $/; <$s> } // '';
    my ($head) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my $n = () = $head =~ /^X-Content-Type-Options: nosniff\r?$/mgi;
    return ($status // 0, $n);
}

sub req {
    my ($method, $uri, $headers, $body) = @_;
    $body //= '';
    return "$method $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . ($headers // '')
           . (length $body ? "Content-Length: " . length($body) . "\r\n" : '')
           . "\r\n$body";
}

run_tests();

__DATA__

=== TEST 1: the page, every route and its refusals: X-Content-Type-Options once each
--- config eval: $::Server
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my $json = "Content-Type: application/json\r\n";
my $auth = "Cookie: sc_session=$ENV{TEST_NGINX_COOKIE}\r\n"
           . "X-CSRF-Token: $ENV{TEST_NGINX_CSRF}\r\n";
my $ws = "Upgrade: websocket\r\nConnection: Upgrade, close\r\n"
         . "Sec-WebSocket-Version: 13\r\n"
         . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
my @cases = (
    ['the page',                200, main::req('GET', '/')],
    ['the page\'s script',      200, main::req('GET', '/securechat.js')],
    ['welcome',                 200, main::req('GET', '/api/')],
    ['welcome, wrong method',   405, main::req('DELETE', '/api/')],
    ['login',                   200, main::req('POST', '/api/login', $json,
        '{"username":"bob","password":"bob-password"}')],
    ['login, wrong password',   401, main::req('POST', '/api/login', $json,
        '{"username":"bob","password":"nope"}')],
    ['login, not JSON',         415, main::req('POST', '/api/login', '', 'x')],
    ['login, foreign origin',   403, main::req('POST', '/api/login',
        "${json}Origin: https://evil.example.net\r\n", '{}')],
    ['chat',                    202, main::req('POST', '/api/chat',
        "$json$auth", '{"message":"nosniff"}')],
    ['chat, no session',        401, main::req('POST', '/api/chat', $json,
        '{"message":"x"}')],
    ['clients',                 200, main::req('GET', '/api/clients',
        "Cookie: sc_session=$ENV{TEST_NGINX_COOKIE}\r\n")],
    ['disconnect, unknown',     404, main::req('POST', '/api/disconnect',
        "$json$auth", '{"client_id":"nobody"}')],
    ['connect, not an upgrade', 400, main::req('GET', '/api/connect')],
    ['connect, no session',     401, main::req('GET', '/api/connect',
        "${ws}Origin: http://localhost\r\n")],
    ['my rooms',                200, main::req('GET', '/api/rooms',
        "Cookie: sc_session=$ENV{TEST_NGINX_COOKIE}\r\n")],
    ['create a room',           201, main::req('POST', '/api/rooms',
        "$json$auth", '{"name":"nosniff"}')],
    ['create it again',         409, main::req('POST', '/api/rooms',
        "$json$auth", '{"name":"nosniff"}')],
    ['join no room',            404, main::req('POST', '/api/rooms/none/join',
        "$json$auth", '{}')],
    ['rooms, wrong method',     405, main::req('DELETE', '/api/rooms',
        "Cookie: sc_session=$ENV{TEST_NGINX_COOKIE}\r\n")],
    ['rooms, no such route',    404, main::req('GET', '/api/rooms/a/b/c')],
    ['logout',                  200, main::req('POST', '/api/logout',
        "$json$auth", '{}')],
    ['no such route',           404, main::req('GET', '/api/nope')],
);
for my $c (@cases) {
    my ($what, $want, $req) = @$c;
    my ($status, $n) = main::nosniff_count($req);
    Test::More::is($status, $want, "$what: $want");
    Test::More::is($n, 1, "$what: X-Content-Type-Options once");
}
--- request
GET /api/nope
--- error_code: 404
--- response_body
{"error":"not_found","message":"no such route"}
--- no_error_log
[error]
