# nginx -s reload (HUP): sessions and the message history live in the zone
# and survive; a reload that would resize the zone is refused.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

master_on();
workers(2);
no_shuffle();

sub chat_ok {
    my ($msg) = @_;
    my ($s, $h, $b) = SecureChat::Test::http_request('POST', '/api/chat',
        { 'Content-Type' => 'application/json',
          'Cookie' => "sc_session=$ENV{TEST_NGINX_COOKIE}",
          'X-CSRF-Token' => $ENV{TEST_NGINX_CSRF} },
        qq({"message":"$msg"}));
    die "chat: $s $b" unless $s == 202;
    return $b =~ /"id":(\d+)/ ? $1 : die "no id in $b";
}

# adds $line after the zone in the running configuration and reloads
# (HUP), without waiting for the workers: a refused reload changes none
sub reload_with {
    my ($line) = @_;
    my $conf = $Test::Nginx::Util::ConfFile;
    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/(securechat_zone\s+zone=securechat:8m;)/$1\n    $line/
        or die "no zone in $conf";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;
    my $pidfile = $Test::Nginx::Util::PidFile;
    open my $fh, '<', $pidfile or die;
    chomp(my $master = <$fh>);
    kill 'HUP', $master or die;
    sleep 1;
    return;
}

run_tests();

__DATA__

=== TEST 1: a session made before a reload works after it; ids go on
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my $before = main::chat_ok('before');
SecureChat::Test::reload_nginx();
$ENV{TEST_NGINX_NEXT} = $before + 1;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"after"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- response_body
{"id":$TEST_NGINX_NEXT}
--- timeout: 20
--- no_error_log
[error]
[alert]



=== TEST 2: a reload that resizes the zone is refused; the old one serves on
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my $conf = $Test::Nginx::Util::ConfFile;
open my $in, '<', $conf or die "$conf: $!";
my $text = do { local $/; <$in> };
close $in;
$text =~ s/zone=securechat:8m/zone=securechat:16m/ or die "no zone in $conf";
open my $out, '>', $conf or die "$conf: $!";
print $out $text;
close $out;
my $pidfile = $Test::Nginx::Util::PidFile;
open my $fh, '<', $pidfile or die;
chomp(my $master = <$fh>);
kill 'HUP', $master or die;
sleep 1;
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still served"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- timeout: 20
--- error_log
[emerg]
securechat_zone "securechat" cannot change its size from 8388608 to 16777216 on reload
--- no_error_log
[error]
[alert]



=== TEST 3: a reload that changes the history's shape is refused
--- init
SecureChat::Test::login_env('alice', 'alice-password');
main::reload_with('securechat_history 512;');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still served"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- timeout: 20
--- error_log
[emerg]
securechat_zone "securechat" holds a history of 1024 messages of up to 4096 bytes, but the new configuration asks for 512 of up to 4096
--- no_error_log
[error]
[alert]



=== TEST 4: a reload that grows the history's byte budget is refused: the entries' pool was made for the first one
--- init
SecureChat::Test::login_env('alice', 'alice-password');
main::reload_with('securechat_history_bytes 7200k;');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still served"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- timeout: 20
--- error_log eval
[qr/\[emerg\].*securechat_zone "securechat" holds a history of \d+ bytes, but the new configuration asks for 7372800 \(securechat_history_bytes\)/]
--- no_error_log
[error]
[alert]



=== TEST 5: a reload that shrinks the byte budget keeps the zone: the session and the ids go on
--- init
SecureChat::Test::login_env('alice', 'alice-password');
my $before = main::chat_ok('before');
main::reload_with('securechat_history_bytes 64k;');
my $after = main::chat_ok('after');
Test::More::is($after, $before + 1, 'the id after the reload follows the one before');
SecureChat::Test::expand_block($block);
--- request
POST /api/chat
{"message":"still served"}
--- more_headers
Content-Type: application/json
Cookie: sc_session=$TEST_NGINX_COOKIE
X-CSRF-Token: $TEST_NGINX_CSRF
--- error_code: 202
--- timeout: 20
--- no_error_log
[emerg]
[error]
[alert]
