# The history epoch (PROTOCOL.md section 6): drawn when the zone is made,
# so the same across `nginx -s reload` and another after a full restart,
# where ids begin again at 1; signed in the hello; a client resuming with
# last_id and an epoch that is not the zone's gets the whole history.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use SecureChat::Envelope ();

securechat_defaults();

master_on();
workers(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

# another configuration: the test harness restarts nginx for it
our $Restarted = $Routes . "    # restarted\n";

# what the first server's history was, for the second
our ($Epoch, $LastId);

# does the hello h verify with the epoch e in it?
sub verifies {
    my ($chat, $h, $e) = @_;
    my $srv = $chat->{server};

    return SecureChat::Envelope::sig_ok($srv->{pk}, $srv->{alg},
        SecureChat::Envelope::hello_tbs({ %$h, epoch => $e },
            SecureChat::Envelope::b64d($h->{wrapped_sk})),
        SecureChat::Envelope::b64d($h->{sig}));
}

sub texts {
    my ($c, $n) = @_;
    my ($m) = $c->collect($n, 10);
    return join ',', map { "$_->{id}:$_->{text}" } @$m;
}

run_tests();

__DATA__

=== TEST 1: the hello carries a signed epoch, the same after a reload
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $c = $alice->connect;
my $h = $c->{hello};
Test::More::like($h->{epoch}, qr/\A[0-9a-f]{16}\z/, 'the epoch is 16 hex digits');
# a tampered epoch fails the signature (only the epoch is changed)
Test::More::ok(main::verifies($alice, $h, $h->{epoch}), 'the hello verifies');
for my $e (scalar reverse($h->{epoch}), '0' x 16, 'f' x 16) {
    next if $e eq $h->{epoch};
    Test::More::ok(!main::verifies($alice, $h, $e),
                   "epoch $e in place of $h->{epoch} does not verify");
}
my $second = $alice->connect;
Test::More::is($second->{epoch}, $h->{epoch}, 'the same on another connection');
my @ids = map { $alice->post_chat("first $_") } 1 .. 3;
Test::More::is("@ids", "1 2 3", 'ids from 1');
Test::More::is(main::texts($c, 3), '1:first 1,2:first 2,3:first 3', 'live');
$_->{ws}->close for $c, $second;
SecureChat::Test::reload_nginx();
my $after = $alice->connect(last_id => 1, epoch => $h->{epoch});
Test::More::is($after->{epoch}, $h->{epoch}, 'the same epoch after a reload');
Test::More::is(main::texts($after, 2), '2:first 2,3:first 3',
               'resuming in the same epoch: what came after last_id');
$after->{ws}->close;
($main::Epoch, $main::LastId) = ($h->{epoch}, 3);
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]
[alert]



=== TEST 2: after a full restart: another epoch, ids from 1; resuming from the old epoch gets the whole new history
--- skip_eval: 3: $ENV{TEST_NGINX_USE_HUP}
--- config eval: $::Restarted
--- init
# (TEST_NGINX_USE_HUP reloads instead of restarting: nothing to see)
my $alice = SecureChat::Chat->login('alice', 'alice-password');
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
unless ($ENV{TEST_NGINX_USE_HUP}) {
die "TEST 1 did not run\n" unless defined $main::Epoch;
my @ids = map { $alice->post_chat("second $_") } 1 .. 2;
Test::More::is("@ids", "1 2", 'ids begin again at 1');
my $c = $alice->connect(last_id => $main::LastId, epoch => $main::Epoch);
Test::More::like($c->{epoch}, qr/\A[0-9a-f]{16}\z/, 'an epoch');
Test::More::isnt($c->{epoch}, $main::Epoch, 'another epoch than before the restart');
Test::More::is(main::texts($c, 2), '1:second 1,2:second 2',
               'last_id of the old epoch: the whole new history');
my $same = $alice->connect(last_id => 1, epoch => $c->{epoch});
Test::More::is(main::texts($same, 1), '2:second 2', 'last_id of this epoch: resumed');
# a client that does not say its epoch is believed (ids from the future:
# from now on), as before epochs
my $legacy = $alice->connect(last_id => $main::LastId);
$alice->post_chat('second 3');
Test::More::is(main::texts($legacy, 1), '3:second 3', 'no epoch: last_id as given');
Test::More::is(main::texts($c, 1), '3:second 3', 'and live after the history');
$_->{ws}->close for $c, $same, $legacy;
}
--- request
GET /api/
--- error_code: 200
--- timeout: 30
--- no_error_log
[error]
[alert]



=== TEST 3: a malformed epoch is refused before the upgrade
--- config eval: $::Restarted
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
$ENV{TEST_NGINX_COOKIE} = $alice->{cookie};
SecureChat::Test::expand_block($block);
--- request eval
[map { "GET /api/connect?last_id=1&epoch=$_" }
 '0123456789ABCDEF', '0123456789abcde', '0123456789abcdef0', 'x' x 16, '']
--- more_headers eval
[("Upgrade: websocket\nConnection: Upgrade, close\nSec-WebSocket-Version: 13\n"
  . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
  . "Origin: https://chat.example.com\n"
  . 'Cookie: sc_session=$TEST_NGINX_COOKIE' . "\n") x 5]
--- error_code eval
[(400) x 5]
--- response_body eval
[('{"error":"bad_epoch","message":"epoch must be 16 lowercase hex digits"}' . "\n") x 5]
--- no_error_log
[alert]
