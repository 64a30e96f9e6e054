# More workers than the zone's worker table once held, across reloads
# while the old workers drain: every worker of the newest generation gets
# every broadcast.  (The table held 64 workers: 40 old ones still draining
# and 40 new ones left 16 new workers deaf.)

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);

securechat_defaults();

master_on();
workers(40);
no_shuffle();

# a port every worker listens on with a socket of its own (reuseport), so
# that the kernel spreads connections over all of them
$ENV{TEST_NGINX_SPREAD_PORT} ||= ($ENV{TEST_NGINX_SERVER_PORT}
                                  || $ENV{TEST_NGINX_PORT} || 1984) + 4;

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

our $Http = $HttpConfig . <<"_EOC_";
    securechat_user_connections 1000;
    server {
        listen 127.0.0.1:\$TEST_NGINX_SPREAD_PORT reuseport;
        server_name localhost;
$Routes
    }
_EOC_

# waits until the master has $n workers that are not in @$old
sub new_workers {
    my ($master, $old, $n) = @_;
    my %old = map { $_ => 1 } @$old;
    my @new;
    for (1 .. 300) {
        @new = grep { !$old{$_} } SecureChat::Test::worker_pids($master);
        return @new if @new >= $n;
        sleep 0.1;
    }
    die "only " . @new . " of $n new workers came\n";
}

# the worker that accepted $sock, once it has (undef after 2 s)
sub owner {
    my ($sock) = @_;
    for (1 .. 200) {
        my $pid = SecureChat::Test::worker_of($sock);
        return $pid if $pid;
        sleep 0.01;
    }
    return undef;
}

# Keeps every worker in @$pids busy, so that it keeps running after a
# reload: a request whose header never ends, on a connection to each.
sub hold_all {
    my ($pids) = @_;
    my %want = map { $_ => 1 } @$pids;
    my @held;
    for (1 .. 2000) {
        last unless %want;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SPREAD_PORT})
            or die "connect: $!\n";
        print $s "GET /api/ HTTP/1.1\r\nHost: localhost\r\n";
        my $pid = main::owner($s) // next;
        if (delete $want{$pid}) { push @held, $s } else { close $s }
    }
    die "could not reach every worker\n" if %want;
    return @held;
}

run_tests();

__DATA__

=== TEST 1: 40 workers, two reloads while the older generations drain: all 40 newest workers deliver every message
--- http_config eval: $::Http
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $master = SecureChat::Test::master_pid();
my @gen = main::new_workers($master, [], 40);
my (@held, @all);
for my $reload (1 .. 2) {
    push @held, main::hold_all(\@gen);
    push @all, @gen;
    kill 'HUP', $master or die "HUP: $!\n";
    @gen = main::new_workers($master, \@all, 40);
}
Test::More::ok(scalar(grep { kill 0, $_ } @all) == 80,
               'the 80 workers of the older generations still run');
my %new = map { $_ => 1 } @gen;
my (@conns, %on);
for (1 .. 400) {
    last if @conns == 80;
    my $c = eval { $alice->connect(port => $ENV{TEST_NGINX_SPREAD_PORT}) }
        // next;
    my $pid = main::owner($c->{ws}->sock);
    # an old worker that has not closed its listening socket yet
    unless ($pid && $new{$pid}) { $c->{ws}->close; next }
    push @conns, $c;
    $on{$pid}++;
}
die "only " . @conns . " clients on new workers\n" unless @conns == 80;
Test::More::cmp_ok(scalar(keys %on), '>=', 20,
                   'the clients are spread over many of the new workers');
my @ids = map { $alice->post_chat("to all $_") } 1 .. 5;
Test::More::ok(!grep({ !defined } @ids), 'published');
my $deaf = 0;
for my $c (@conns) {
    my ($m) = $c->collect(5, 15);
    $deaf++ unless join(' ', map { $_->{id} } @$m) eq "@ids";
}
Test::More::is($deaf, 0, 'every client of the newest workers got the 5 messages, in order');
$_->{ws}->close for @conns;
close $_ for @held;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- timeout: 60
--- no_error_log
[error]
[alert]
