# Messages are signed outside the zone's mutex: a worker stopped in the
# middle of a burst of messages to sign (SIGSTOP) holds up nobody's login,
# handshake or publish in the other worker, and the message id it had
# reserved becomes a gap after a bound, so the messages after it are
# delivered.  Bounds here are behaviour bounds (a stuck lock never
# frees), not benchmarks.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use Time::HiRes qw(time sleep);

securechat_defaults();

master_on();
workers(2);
no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

# The burst is written at once, so the worker has it all queued (within
# its queue of 4096) and takes about a second to seal it: the stop lands
# in its middle on a loaded machine too.
our $Burst = 3000;
(our $Http = $HttpConfig) =~ s/zone=securechat:[^;\s]+/zone=securechat:64m/;
$Http .= <<'_EOC_';
    securechat_message_max 512;
    securechat_history 8192;
    securechat_ws_frame_rate 100000;
    securechat_send_buffer 16m;
_EOC_

# runs $code, dying if it takes more than $secs seconds
sub within {
    my ($secs, $what, $code) = @_;
    my @r;
    my $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm $secs;
        @r = scalar $code->();
        alarm 0;
        1;
    };
    alarm 0;
    return $r[0] if $ok;
    die "$what: $@";
}

run_tests();

__DATA__

=== TEST 1: SIGSTOP a worker while it signs a burst: the other worker's logins, handshakes and publishes go on, and its messages are delivered
--- http_config eval: $::Http
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $pub = $alice->connect;
my $wa = SecureChat::Test::worker_of($pub->{ws}->sock) or die "no worker\n";
my $recv;
for (1 .. 40) {
    my $c = $alice->connect;
    my $w = SecureChat::Test::worker_of($c->{ws}->sock) // 0;
    if ($w && $w != $wa) { $recv = $c; last }
    $c->{ws}->close;
}
die "no client on the other worker\n" unless $recv;
# chat frames on the WebSocket: the stopped worker's event loop takes no
# lock for them, only its sealing thread does
$pub->{ws}->send_raw(join '', map { $pub->chat_frame("burst $_") } 1 .. $::Burst)
    or die "burst: $pub->{ws}{write_error}\n";
my ($first) = $recv->collect(1, 20);
die "the burst did not start\n" unless @$first;
# A stop can land inside one of the zone's short critical sections (a
# reserve, a commit, a history read); then nothing can go on until the
# worker does, by design.  Such a stop is told apart by a login that
# does not finish in a few seconds: continue the worker and stop it
# again.  Were messages signed under the lock, nearly every stop during
# the burst would land inside it and every attempt would fail.
my ($bob, $stops);
for my $try (1 .. 8) {
    $stops = $try;
    kill 'STOP', $wa or die "STOP: $!\n";
    $bob = eval {
        main::within(5, 'login', sub {
            SecureChat::Chat->login('bob', 'bob-password',
                                    server => $alice->{server}) });
    };
    last if $bob;
    kill 'CONT', $wa;
    sleep 0.3;
}
Test::More::diag("stopped $stops times before a stop outside the lock") if $stops > 1;
my @r = eval {
    die "login: no stop outside the lock in $stops tries\n" unless $bob;
    my $bc = main::within(15, 'handshake', sub { $bob->connect });
    my $id = main::within(15, 'publish', sub { $bob->post_chat('while stopped') });
    ($bob, $bc, $id);
};
my $err = $@;
Test::More::ok(!$err, 'a login, a handshake and a publish in the other worker complete') or Test::More::diag($err);
my (undef, $bc, $id) = @r;
if ($bc && defined $id) {
    my $got;
    my $end = time + 20;
    while (time < $end) {
        my $e = $bc->next_event($end - time) // last;
        if ($e->{type} eq 'message' && $e->{ok} && $e->{text} eq 'while stopped') { $got = $e; last }
        last if $e->{type} eq 'close' || $e->{type} eq 'eof';
    }
    Test::More::ok($got, 'its message is delivered while the other worker is stopped');
    Test::More::is($got && $got->{id}, $id, 'under the id the publish answered');
}
kill 'CONT', $wa;
# the stopped worker goes on: what it sealed late is published, in order
my ($m) = $recv->collect($::Burst - @$first, 90);
my @burst = grep { $_->{text} =~ /^burst / } @$m;
my @n = map { ($_->{text} =~ /(\d+)/)[0] } @burst;
Test::More::is_deeply([sort { $a <=> $b } @n], [@n], 'the burst arrives in the order sent');
# the stop landed in the middle of the burst, not after it
Test::More::ok(defined $id && grep({ $_->{id} > $id } @burst), 'part of the burst is sealed after the message published while stopped');
Test::More::cmp_ok(scalar(@burst), '>=', $::Burst - 1 - @$first, 'nothing of the burst lost after the stop');
$_->{ws}->close for grep { defined } $pub, $recv, $bc;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 240
--- no_error_log
[error]
[alert]
