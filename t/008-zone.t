# A full zone: new logins get 503 with Retry-After, existing sessions keep
# working, and the error log is not flooded.  Failed logins (throttle
# records) have a share of the zone of their own: they never make a login
# or a WebSocket fail.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use POSIX ();

securechat_defaults();

no_shuffle();

our $SmallZone = $HttpConfig;
$SmallZone =~ s/zone=securechat:8m/zone=securechat:192k/;
$SmallZone .= "    securechat_history 1;\n    securechat_message_max 64;\n";

our $ConnectConfig = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

# $n failed logins, each for a name nobody has, from $procs processes at
# once (the hashing thread pool has two threads); dies on anything but 401
sub failed_logins {
    my ($n, $procs) = @_;
    my @kids;
    for my $p (0 .. $procs - 1) {
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            my $bad = 0;
            for (my $i = $p; $i < $n; $i += $procs) {
                my ($s) = SecureChat::Test::http_request('POST', '/api/login',
                    { 'Content-Type' => 'application/json' },
                    qq({"username":"nobody$i","password":"guess"}));
                $bad++ unless $s == 401;
            }
            POSIX::_exit($bad ? 1 : 0);    # no END blocks of the parent
        }
        push @kids, $pid;
    }
    my $bad = 0;
    for (@kids) { waitpid $_, 0; $bad++ if $? }
    die "some failed logins were not answered 401\n" if $bad;
    return;
}

run_tests();

__DATA__

=== TEST 1: logins fill the zone, then 503; the first session still works
--- http_config eval: $::SmallZone
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my ($ok, $full, $retry) = (1, 0, '');
for (1 .. 2000) {
    my ($s, $h, $b) = SecureChat::Test::http_request('POST', '/api/login',
        { 'Content-Type' => 'application/json' },
        '{"username":"bob","password":"bob-password"}');
    if ($s == 200) { $ok++; next }
    die "expected 503 when full, got $s $b\n" unless $s == 503;
    die "503 without the zone_full error: $b\n"
        unless $b =~ /^\{"error":"zone_full",/;
    $retry = $h->{'retry-after'} // '';
    $full++;
    last if $full == 20;
}
die "the zone never filled up ($ok sessions)\n" unless $full == 20;
die "no Retry-After on 503\n" unless $retry =~ /^\d+$/;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still here"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- response_body
{"id":1}
--- timeout: 60
--- no_error_log
[error]
[crit]
no memory



=== TEST 2: the history keeps only the newest message, ids go on
--- http_config eval: $::SmallZone
--- init
SecureChat::Test::login_env('alice', 'alice-password');
SecureChat::Test::expand_block($block);
--- request eval
["POST /api/chat\n{\"message\":\"one\"}", "POST /api/chat\n{\"message\":\"two\"}",
 "POST /api/chat\n{\"message\":\"three\"}"]
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code eval
[202, 202, 202]
--- response_body eval
["{\"id\":1}\n", "{\"id\":2}\n", "{\"id\":3}\n"]
--- no_error_log
[error]



=== TEST 3: thousands of failed logins for made-up names: a real login and a WebSocket still work
--- http_config eval: $::SmallZone
--- config eval: $::ConnectConfig
--- init
main::failed_logins(2500, 4);
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $c = $alice->connect;
Test::More::ok($c, 'the WebSocket opened (its hello verified)');
$c->{ws}->close;
SecureChat::Test::login_env('bob', 'bob-password');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still room"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- timeout: 120
--- no_error_log
[error]
[crit]
no memory
