# Per-(account, address) login throttling: 429 with Retry-After, and a
# lockout that ends; made-up names cannot push a locked account's record
# out of the (bounded) throttle area.  Not repeated: each block needs a
# fresh zone.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use POSIX ();
use Time::HiRes qw(sleep);

securechat_defaults();

no_shuffle();

our $ThrottleConfig = $HttpConfig . <<'_EOC_';
    securechat_login_free_failures 2;
    securechat_login_max_lockout   2s;
_EOC_

# a small zone: its throttle area holds a few dozen records
our $SmallThrottle = $HttpConfig . <<'_EOC_';
    securechat_login_free_failures 2;
    securechat_login_max_lockout   60s;
    securechat_history 1;
    securechat_message_max 64;
_EOC_
$SmallThrottle =~ s/zone=securechat:8m/zone=securechat:192k/;

# $n failed logins for names nobody has, from 4 processes at once
sub made_up_failures {
    my ($n) = @_;
    my @kids;
    for my $p (0 .. 3) {
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            for (my $i = $p; $i < $n; $i += 4) {
                SecureChat::Test::http_request('POST', '/api/login',
                    { 'Content-Type' => 'application/json' },
                    qq({"username":"nobody$i","password":"guess"}));
            }
            POSIX::_exit(0);    # no END blocks of the parent
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    return;
}

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



=== TEST 3: made-up names do not push out the record of an account being guessed at
--- http_config eval: $::SmallThrottle
--- init
my $try = sub {
    my ($pw) = @_;
    my ($s) = SecureChat::Test::http_request('POST', '/api/login',
        { 'Content-Type' => 'application/json' },
        qq({"username":"alice","password":"$pw"}));
    return $s;
};
for (1 .. 3) {
    my $s = $try->('wrong');
    die "expected 401, got $s\n" unless $s == 401;
}
main::made_up_failures(2500);
# once the lockout is over, one more failure: the record kept its count,
# so this one locks again (4 s), where a new record would not lock
my $s;
for (1 .. 40) {
    $s = $try->('wrong');
    last unless $s == 429;
    sleep 0.5;
}
die "expected 401 after the lockout, got $s\n" unless $s == 401;
--- request
POST /api/login
{"username":"alice","password":"alice-password"}
--- more_headers
Content-Type: application/json
--- error_code: 429
--- response_body_like: "error":"throttled"
--- timeout: 60
--- no_error_log
[error]
