# The WebSocket handshake of /api/connect: every refusal (RFC 6455 4.2.1
# and the module's own: Origin, session, client key, connection limit),
# the 101 and the hello that follows, and the frame rules over the chat
# role (the same codec as the echo role, but binary is refused).

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::WS qw(frame_bytes close_code);
use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes ();

securechat_defaults();

repeat_each(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /api/clients { securechat clients; }
    location = /echo        { securechat echo; }
_EOC_

our $Limit2 = $HttpConfig . "    securechat_user_connections 2;\n";

our $TlsServer = $HttpConfig . tls_server($Routes);

# in the suite's default allowlist whatever the port
our $Origin = 'https://chat.example.com';
our $Key = 'dGhlIHNhbXBsZSBub25jZQ==';
our $JSON = JSON::PP->new;
our @Keep;


# A raw upgrade request for /api/connect.  Options name headers to change
# (undef leaves one out), line (the request line), extra (raw header
# lines).  "close" in Connection makes nginx close after a refusal, so
# that the client sees the end of the answer.
sub upgrade {
    my (%o) = @_;
    my $line = delete $o{line} // 'GET /api/connect HTTP/1.1';
    my $extra = delete $o{extra} // '';
    my $body = delete $o{body} // '';
    my @order = ('Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key',
                 'Sec-WebSocket-Version', 'Origin', 'Cookie');
    my %h = (Host => 'localhost', Upgrade => 'websocket',
             Connection => 'Upgrade, close', 'Sec-WebSocket-Key' => $Key,
             'Sec-WebSocket-Version' => 13, Origin => $Origin, %o);

    return "$line\r\n"
           . join('', map { defined $h{$_} ? "$_: $h{$_}\r\n" : '' } @order)
           . $extra . "\r\n" . $body;
}

sub refusal {
    my ($code) = @_;
    return qr/^\{"error":"$code","message":"(?:[^"\\]|\\.)+"\}\n?$/;
}


# -- helpers for the blocks that talk WebSocket -----------------------------

# logs in (with the client key unless told otherwise); returns the cookie
sub login_cookie {
    my ($user, %o) = @_;
    my $body = { username => $user, password => "$user-password" };
    $body->{public_key} = SecureChat::Test::fixture($o{key} // 'client-rsa2048.pub')
                          . "\n" unless $o{no_key};

    my ($status, $h, $rbody) = SecureChat::Test::http_request('POST',
        '/api/login', { 'Content-Type' => 'application/json' },
        $JSON->encode($body));

    die "login as $user: $status $rbody\n" unless $status == 200;
    my ($cookie) = ($h->{'set-cookie'} // '') =~ /^sc_session=([^;]+)/
        or die "login as $user: no cookie\n";
    return $cookie;
}

sub ws_connect {
    my ($cookie, %o) = @_;
    my %h = (Origin => $Origin, %{ delete $o{headers} || {} });
    # over TLS the cookie is __Host-sc_session (t/013)
    $h{Cookie} = ($o{tls} ? '__Host-' : '') . "sc_session=$cookie"
        if defined $cookie;
    return SecureChat::WS->connect(path => '/api/connect', headers => \%h,
                                   timeout => 5, %o);
}

# connects and reads the hello; returns (ws, hello) or dies
sub chat_connect {
    my ($cookie, %o) = @_;
    my $ws = ws_connect($cookie, %o);
    die "upgrade: " . $ws->status_line . " " . ($ws->body // '') . "\n"
        unless $ws->status == 101;
    my $f = $ws->read_message(5) or die "no hello\n";
    die "the first frame is not text\n" unless ($f->{opcode} // -1) == 1;
    return ($ws, $JSON->decode($f->{payload}));
}

# what comes until the server closes TCP, as strings: "text", "pong:x",
# "close:1002", "eof", "timeout"
sub drain {
    my ($ws, $timeout) = @_;
    my @got;
    for (1 .. 1000) {
        my $f = $ws->read_frame($timeout // 3);
        push(@got, 'timeout'), last unless defined $f;
        push(@got, 'eof'), last if $f->{eof};
        my $op = $f->{opcode};
        push @got, $op == 8 ? 'close:' . (close_code($f) // 'empty')
                 : $op == 10 ? "pong:$f->{payload}"
                 : $op == 1 ? 'text' : "op$op";
        $got[-1] .= ' (masked)' if $f->{masked};
    }
    return @got;
}


# The frame rules over the chat role: each case opens a connection, reads
# the hello, sends its bytes and expects exactly these frames, then EOF.
# A case's bytes may be cut with undef: before sending what follows, the
# first expected frame must have come (the server refused early).
sub codec_cases {
    my $hw = 'Hello, world!';
    my $big = frame_bytes(1, 'a' x 65537);
    my $bad = frame_bytes(1, "abc\xf4\x90\x80\x80def");

    return (
        ['unmasked text: 1002', [frame_bytes(1, $hw, mask => 0)],
         ['close:1002']],
        ['binary: 1003 (text only)', [frame_bytes(2, "\x00\x01")],
         ['close:1003']],
        ['binary fragment: 1003', [frame_bytes(2, "\x00", fin => 0),
                                    frame_bytes(0, "\x01")],
         ['close:1003']],
        ['invalid UTF-8: 1007 at the bad byte',
         [substr($bad, 0, 6 + 5), undef, substr($bad, 6 + 5)],
         ['close:1007']],
        ['65537 bytes announced: 1009 before the payload',
         [substr($big, 0, 14), undef, 'a' x 100], ['close:1009']],
        ['RSV1 without an extension: 1002', [frame_bytes(1, $hw, rsv => 4)],
         ['close:1002']],
        ['reserved opcode 3: 1002', [frame_bytes(3, '')], ['close:1002']],
        ['reserved opcode 11: 1002', [frame_bytes(11, '')], ['close:1002']],
        ['continuation without a message: 1002', [frame_bytes(0, $hw)],
         ['close:1002']],
        ['fragmented ping: 1002', [frame_bytes(9, 'a', fin => 0),
                                   frame_bytes(0, 'b')], ['close:1002']],
        ['ping of 126 bytes: 1002', [frame_bytes(9, 'p' x 126)],
         ['close:1002']],
        ['non-minimal length: 1002', [frame_bytes(1, 'abc', ext => 2)],
         ['close:1002']],
        ['64-bit length with the top bit: 1002',
         [substr(frame_bytes(1, '', len => 2**63 + 3), 0, 14), undef, 'abc'],
         ['close:1002']],
        ['ping, then close: pong, close echoed',
         [frame_bytes(9, 'are you there'), frame_bytes(8, pack 'n', 1000)],
         ['pong:are you there', 'close:1000']],
        ['unsolicited pong is ignored',
         [frame_bytes(10, 'x'), frame_bytes(8, pack('n', 4000) . 'bye')],
         ['close:4000']],
        ['empty close: empty close', [frame_bytes(8, '')], ['close:empty']],
        ['close with 1005: 1002', [frame_bytes(8, pack 'n', 1005)],
         ['close:1002']],
        ['close with 1-byte body: 1002', [frame_bytes(8, 'x')],
         ['close:1002']],
        ['close with a non-UTF-8 reason: 1007',
         [frame_bytes(8, pack('n', 1000) . "\xff")], ['close:1007']],
    );
}

sub run_codec_cases {
    my ($cookie) = @_;

    for my $c (codec_cases()) {
        my ($what, $parts, $want) = @$c;
        my ($ws) = eval { chat_connect($cookie) };
        unless ($ws) {
            Test::More::ok(0, "connect: $what: $@");
            next;
        }

        my @early;
        for my $p (@$parts) {
            if (defined $p) {
                $ws->send_raw($p);
                next;
            }
            # the refusal must come before the rest is sent
            my $f = $ws->read_frame(3);
            push @early, !defined $f ? 'timeout' : $f->{eof} ? 'eof'
                         : $f->{opcode} == 8 ? 'close:' . close_code($f)
                         : "op$f->{opcode}";
        }

        my @got = (@early, drain($ws));
        Test::More::is_deeply(\@got, [@$want, 'eof'], "connect: $what")
            or Test::More::diag("got: @got");
        $ws->close;
    }

    return;
}

run_tests();

__DATA__

=== TEST 1: POST is not an upgrade
--- config eval: $::Routes
--- raw_request eval
::upgrade(line => 'POST /api/connect HTTP/1.1')
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 2: HTTP/1.0 is not an upgrade
--- config eval: $::Routes
--- raw_request eval
::upgrade(line => 'GET /api/connect HTTP/1.0', Connection => 'Upgrade')
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 3: no Upgrade header
--- config eval: $::Routes
--- raw_request eval
::upgrade(Upgrade => undef)
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 4: Upgrade to another protocol
--- config eval: $::Routes
--- raw_request eval
::upgrade(Upgrade => 'h2c')
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 5: Connection without the upgrade token
--- config eval: $::Routes
--- raw_request eval
::upgrade(Connection => 'keep-alive, close')
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 6: tokens are case-insensitive and may be listed: the next check (no session) answers
--- config eval: $::Routes
--- raw_request eval
::upgrade(Connection => 'keep-alive, UPGRADE, close', Upgrade => 'WebSocket')
--- error_code: 401
--- response_body_like eval
::refusal('unauthorized')
--- no_error_log
[error]
[alert]



=== TEST 7: a request body is refused, even with a good session
--- config eval: $::Routes
--- init
$ENV{TEST_NGINX_COOKIE} = main::login_cookie('alice');
SecureChat::Test::expand_block($block);
--- raw_request eval
::upgrade(Cookie => 'sc_session=$TEST_NGINX_COOKIE',
          extra => "Content-Length: 5\r\n", body => 'hello')
--- error_code: 400
--- response_body_like eval
::refusal('not_websocket')
--- no_error_log
[error]
[alert]



=== TEST 8: no Sec-WebSocket-Key
--- config eval: $::Routes
--- raw_request eval
::upgrade('Sec-WebSocket-Key' => undef)
--- error_code: 400
--- response_body_like eval
::refusal('bad_websocket_key')
--- no_error_log
[error]
[alert]



=== TEST 9: Sec-WebSocket-Key twice
--- config eval: $::Routes
--- raw_request eval
::upgrade(extra => "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n")
--- error_code: 400
--- response_body_like eval
::refusal('bad_websocket_key')
--- no_error_log
[error]
[alert]



=== TEST 10: Sec-WebSocket-Key that is not base64
--- config eval: $::Routes
--- raw_request eval
::upgrade('Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ!!')
--- error_code: 400
--- response_body_like eval
::refusal('bad_websocket_key')
--- no_error_log
[error]
[alert]



=== TEST 11: Sec-WebSocket-Key of 15, 17 and 18 bytes
--- config eval: $::Routes
--- request eval
[map { "GET /api/connect" } 1 .. 3]
--- more_headers eval
[map { "Upgrade: websocket\nConnection: Upgrade, close\nSec-WebSocket-Version: 13\n"
       . "Origin: $::Origin\nSec-WebSocket-Key: $_\n" }
 'AAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAAA=', 'AAAAAAAAAAAAAAAAAAAAAAAA']
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[::refusal('bad_websocket_key'), ::refusal('bad_websocket_key'),
 ::refusal('bad_websocket_key')]
--- no_error_log
[error]
[alert]



=== TEST 12: Sec-WebSocket-Version 8 is 426 with the version spoken
--- config eval: $::Routes
--- raw_request eval
::upgrade('Sec-WebSocket-Version' => 8)
--- error_code: 426
--- raw_response_headers_like chomp
(?m)^Sec-WebSocket-Version: 13\r?$
--- response_body_like eval
::refusal('unsupported_version')
--- no_error_log
[error]
[alert]



=== TEST 13: no Sec-WebSocket-Version is 426 too
--- config eval: $::Routes
--- raw_request eval
::upgrade('Sec-WebSocket-Version' => undef)
--- error_code: 426
--- raw_response_headers_like chomp
(?m)^Sec-WebSocket-Version: 13\r?$
--- response_body_like eval
::refusal('unsupported_version')
--- no_error_log
[error]
[alert]



=== TEST 14: Sec-WebSocket-Version 13 twice is 426
--- config eval: $::Routes
--- raw_request eval
::upgrade(extra => "Sec-WebSocket-Version: 13\r\n")
--- error_code: 426
--- response_body_like eval
::refusal('unsupported_version')
--- no_error_log
[error]
[alert]



=== TEST 15: no Origin on a chat upgrade is 403
--- config eval: $::Routes
--- raw_request eval
::upgrade(Origin => undef)
--- error_code: 403
--- response_body_like eval
::refusal('forbidden_origin')
--- no_error_log
[error]
[alert]



=== TEST 16: Origin null is 403
--- config eval: $::Routes
--- raw_request eval
::upgrade(Origin => 'null')
--- error_code: 403
--- response_body_like eval
::refusal('forbidden_origin')
--- no_error_log
[error]
[alert]



=== TEST 17: look-alike, other-scheme and other-port origins are 403
--- config eval: $::Routes
--- request eval
[map { "GET /api/connect" } 1 .. 7]
--- more_headers eval
[map { "Upgrade: websocket\nConnection: Upgrade, close\nSec-WebSocket-Version: 13\n"
       . "Sec-WebSocket-Key: $::Key\nOrigin: $_\n" }
 'http://localhost:1984.evil.com', 'https://chat.example.com.evil.com',
 'https://evilchat.example.com', 'http://chat.example.com',
 'http://localhost:19840', 'http://localhost:1984@evil.com',
 'https://chat.example.co']
--- error_code eval
[(403) x 7]
--- response_body_like eval
[(::refusal('forbidden_origin')) x 7]
--- no_error_log
[error]
[alert]



=== TEST 18: both allowlisted origins pass the Origin check (then 401: no session)
--- config eval: $::Routes
--- request eval
["GET /api/connect", "GET /api/connect"]
--- more_headers eval
[map { "Upgrade: websocket\nConnection: Upgrade, close\nSec-WebSocket-Version: 13\n"
       . "Sec-WebSocket-Key: $::Key\nOrigin: $_\n" }
 'http://localhost:1984', 'https://chat.example.com']
--- error_code eval
[401, 401]
--- response_body_like eval
[::refusal('unauthorized'), ::refusal('unauthorized')]
--- no_error_log
[error]
[alert]



=== TEST 18a: the request's own origin passes the Origin check wherever it is reached (then 401: no session)
--- config eval: $::Routes
--- request eval
["GET /api/connect", "GET /api/connect"]
--- more_headers eval
[map { "Host: $_->[0]\nUpgrade: websocket\nConnection: Upgrade, close\n"
       . "Sec-WebSocket-Version: 13\nSec-WebSocket-Key: $::Key\nOrigin: $_->[1]\n" }
 ['localhost', 'http://localhost'], ['chat.internal:8000', 'http://chat.internal:8000']]
--- error_code eval
[401, 401]
--- response_body_like eval
[::refusal('unauthorized'), ::refusal('unauthorized')]
--- no_error_log
[error]
[alert]



=== TEST 18b: a refused upgrade names the origin and the directive that would allow it
--- config eval: $::Routes
--- raw_request eval
::upgrade(Origin => 'http://localhost:1984.evil.com')
--- error_code: 403
--- response_body
{"error":"forbidden_origin","message":"Origin http://localhost:1984.evil.com is not accepted; add it to securechat_allowed_origin"}
--- no_error_log
[error]
[alert]



=== TEST 19: a forged session cookie is 401
--- config eval: $::Routes
--- raw_request eval
::upgrade(Cookie => 'sc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
--- error_code: 401
--- response_body_like eval
::refusal('unauthorized')
--- no_error_log
[error]
[alert]



=== TEST 20: a session ended by logout is 401
--- config eval: $::Routes
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my ($s) = SecureChat::Test::http_request('POST', '/api/logout',
    { 'Content-Type' => 'application/json', Origin => $main::Origin,
      Cookie => "sc_session=$ENV{TEST_NGINX_COOKIE}",
      'X-CSRF-Token' => $ENV{TEST_NGINX_CSRF} }, '{}');
die "logout: $s\n" unless $s == 200;
SecureChat::Test::expand_block($block);
--- raw_request eval
::upgrade(Cookie => 'sc_session=$TEST_NGINX_COOKIE')
--- error_code: 401
--- response_body_like eval
::refusal('unauthorized')
--- no_error_log
[error]
[alert]



=== TEST 21: a session made without public_key is 400 no_client_key
--- config eval: $::Routes
--- init
$ENV{TEST_NGINX_COOKIE} = main::login_cookie('alice', no_key => 1);
SecureChat::Test::expand_block($block);
--- raw_request eval
::upgrade(Cookie => 'sc_session=$TEST_NGINX_COOKIE')
--- error_code: 400
--- response_body_like eval
::refusal('no_client_key')
--- no_error_log
[error]
[alert]



=== TEST 22: the Origin check comes before the session (a real session, a foreign origin)
--- config eval: $::Routes
--- init
$ENV{TEST_NGINX_COOKIE} = main::login_cookie('alice');
SecureChat::Test::expand_block($block);
--- raw_request eval
::upgrade(Cookie => 'sc_session=$TEST_NGINX_COOKIE', Origin => 'https://evil.example.com')
--- error_code: 403
--- response_body_like eval
::refusal('forbidden_origin')
--- no_error_log
[error]
[alert]



=== TEST 23: the upgrade: 101, the accept key, no extension or subprotocol, then the hello
--- config eval: $::Routes
--- init
my $cookie = main::login_cookie('alice');
for my $key ('dGhlIHNhbXBsZSBub25jZQ==', 'AQIDBAUGBwgJCgsMDQ4PEA==') {
    my $ws = main::ws_connect($cookie, key => $key, headers => {
        'Sec-WebSocket-Extensions' => 'permessage-deflate; client_max_window_bits',
        'Sec-WebSocket-Protocol' => 'chat, superchat' });
    my $h = $ws->headers;
    Test::More::is($ws->status, 101, "101 for key $key");
    Test::More::is($ws->status_line, 'HTTP/1.1 101 Switching Protocols', 'status line');
    Test::More::like($h->{upgrade} // '', qr/^websocket$/i, 'Upgrade: websocket');
    Test::More::like($h->{connection} // '', qr/^upgrade$/i, 'Connection: upgrade');
    Test::More::is($h->{'sec-websocket-accept'}, SecureChat::WS::ws_accept($key),
                   'Sec-WebSocket-Accept');
    Test::More::ok(!exists $h->{'sec-websocket-extensions'}, 'no extension');
    Test::More::ok(!exists $h->{'sec-websocket-protocol'}, 'no subprotocol');
    Test::More::ok(!exists $h->{'content-length'} && !exists $h->{'transfer-encoding'},
                   'no body framing on a 101');
    my $f = $ws->read_frame(5);
    Test::More::ok($f && !$f->{eof} && $f->{opcode} == 1 && $f->{fin}
                   && !$f->{masked} && !$f->{rsv},
                   'the first frame: one unmasked text frame');
    my $hello = eval { $main::JSON->decode($f->{payload}) } // {};
    Test::More::is($hello->{type}, 'hello', 'it is the hello');
    Test::More::is($hello->{v}, 2, 'version 2');
    Test::More::like($hello->{conn} // '', qr/^[A-Za-z0-9._~-]{1,64}$/, 'conn id');
    Test::More::is($hello->{client_key_id},
                   SecureChat::Test::fixture('client-rsa2048.keyid'),
                   'client_key_id is the key given at login');
    Test::More::is($hello->{server_key_id}, SecureChat::Test::fixture('rsa.keyid'),
                   'server_key_id is the signing key');
    Test::More::is($hello->{wrap_alg}, 'RSA-OAEP-SHA256', 'wrap_alg');
    Test::More::is(length(MIME::Base64::decode_base64url($hello->{wrapped_sk} // '')),
                   256, 'SK wrapped for an RSA-2048 key');
    Test::More::ok(!defined $ws->read_frame(0.3), 'nothing else without last_id');
    $ws->send_close(1000);
    my ($code, undef, $eof) = $ws->expect_close(3);
    Test::More::ok(($code // 0) == 1000 && $eof, 'close echoed, then TCP closed');
}
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 24: the connection limit per user: 429, others unaffected, a slot frees on close
--- http_config eval: $::Limit2
--- config eval: $::Routes
--- init
my $a1 = main::login_cookie('alice');
my $a2 = main::login_cookie('alice');
my $bob = main::login_cookie('bob');
my ($w1) = main::chat_connect($a1);
my ($w2) = main::chat_connect($a2);
my $w3 = main::ws_connect($a1);
Test::More::is($w3->status, 429, 'a third connection of alice is 429');
Test::More::like($w3->body // '', main::refusal('too_many_connections'),
                 'too_many_connections');
$w3->close;
my $w4 = main::ws_connect($a2);
Test::More::is($w4->status, 429, 'from her other session too');
$w4->close;
my ($wb) = eval { main::chat_connect($bob) };
Test::More::ok($wb, 'bob connects') or Test::More::diag($@);
$w1->send_close(1000);
$w1->expect_close(3);
my $w5;
for (1 .. 40) {
    $w5 = main::ws_connect($a1);
    last if $w5->status == 101;
    $w5->close;
    Time::HiRes::sleep(0.05);
}
Test::More::is($w5->status, 101, 'after a close alice connects again');
# alice holds two connections while the block's request is made
@main::Keep = ($w2, $w5, $wb);
$ENV{TEST_NGINX_COOKIE} = $a1;
SecureChat::Test::expand_block($block);
--- raw_request eval
::upgrade(Cookie => 'sc_session=$TEST_NGINX_COOKIE')
--- error_code: 429
--- response_body_like eval
::refusal('too_many_connections')
--- no_error_log
[error]
[alert]



=== TEST 25: last_id must be an integer from 0 to 2^53-1: 400 bad_last_id
--- config eval: $::Routes
--- init
my $cookie = main::login_cookie('alice');
for my $id (0, 9007199254740991) {
    my ($ws, $hello) = eval { main::chat_connect($cookie, path => "/api/connect?last_id=$id") };
    Test::More::ok($ws && $hello->{type} eq 'hello', "last_id=$id is accepted")
        or Test::More::diag($@);
    $ws->close if $ws;
}
$ENV{TEST_NGINX_COOKIE} = $cookie;
SecureChat::Test::expand_block($block);
--- request eval
[map { "GET /api/connect?last_id=$_" } 'abc', '-1', '9007199254740992', '1.5']
--- more_headers eval
[("Upgrade: websocket\nConnection: Upgrade, close\nSec-WebSocket-Version: 13\n"
  . "Sec-WebSocket-Key: $::Key\nOrigin: $::Origin\n"
  . 'Cookie: sc_session=$TEST_NGINX_COOKIE' . "\n") x 4]
--- error_code eval
[(400) x 4]
--- response_body_like eval
[(::refusal('bad_last_id')) x 4]
--- no_error_log
[error]
[alert]



=== TEST 26: frame rules over the chat role
--- config eval: $::Routes
--- init
main::run_codec_cases(main::login_cookie('alice'));
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 27: a flood of frames is closed with 1008 (100 frames/s, burst 200)
--- config eval: $::Routes
--- init
my ($ws) = main::chat_connect(main::login_cookie('alice'));
$ws->send_raw(join '', map { SecureChat::WS::frame_bytes(9, "p$_") } 1 .. 400);
my @got = main::drain($ws, 3);
my @pongs = grep { /^pong:/ } @got;
Test::More::ok(@pongs >= 150 && @pongs < 400, scalar(@pongs) . ' pongs, not all 400');
Test::More::is_deeply([@got[@pongs .. $#got]], ['close:1008', 'eof'],
                      'then close 1008 and TCP closed') or Test::More::diag("@got[-3..-1]");
Test::More::is_deeply([@pongs], [map { "pong:p$_" } 1 .. @pongs], 'pongs in order');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 28: the echo role needs no session and no Origin
--- config eval: $::Routes
--- init
my $ws = SecureChat::WS->connect(path => '/echo', timeout => 5);
Test::More::is($ws->status, 101, 'echo: 101 without Origin or cookie');
$ws->send_binary("\x00\xff");
my $f = $ws->read_message(3);
Test::More::ok($f && ($f->{opcode} // 0) == 2 && $f->{payload} eq "\x00\xff",
               'echo: binary is echoed');
$ws->send_close(1000);
my ($code, undef, $eof) = $ws->expect_close(3);
Test::More::ok(($code // 0) == 1000 && $eof, 'echo: close echoed');
--- raw_request eval
::upgrade(line => 'GET /echo HTTP/1.1', 'Sec-WebSocket-Version' => 12)
--- error_code: 426
--- response_body_like eval
::refusal('unsupported_version')
--- no_error_log
[error]
[alert]



=== TEST 29: over TLS: 101, the hello, close
--- http_config eval: $::TlsServer
--- config eval: $::Routes
--- init
my ($ws, $hello) = main::chat_connect(main::login_cookie('alice'), tls => 1,
                                      port => $ENV{TEST_NGINX_TLS_PORT});
Test::More::is($hello->{type}, 'hello', 'hello over TLS');
$ws->send_ping('tls');
my $f = $ws->read_frame(3);
Test::More::ok($f && ($f->{opcode} // 0) == 10 && $f->{payload} eq 'tls', 'pong over TLS');
$ws->send_frame(1, 'x', mask => 0);
my ($code, undef, $eof) = $ws->expect_close(3);
Test::More::ok(($code // 0) == 1002 && $eof, 'unmasked: 1002 over TLS');
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]
