# The client table forgets the clients of a worker that died without
# saying so, at every decision it makes: an old worker killed while it
# drains after a reload (never respawned, so no new worker sweeps for it)
# leaves no client that counts against securechat_user_connections, is
# listed, or can be "disconnected".

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use Time::HiRes qw(time sleep);

securechat_defaults();

master_on();
workers(1);
no_shuffle();

# a second port whose sockets have a small send buffer, so that a client
# that does not read keeps its worker draining: the close frame a reload
# sends waits behind the messages the client has not read
$ENV{TEST_NGINX_SLOW_PORT} ||= ($ENV{TEST_NGINX_SERVER_PORT}
                                || $ENV{TEST_NGINX_PORT} || 1984) + 3;

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /api/clients { securechat clients; }
_EOC_

our $Http = $HttpConfig . <<"_EOC_";
    securechat_user_connections 2;
    server {
        listen 127.0.0.1:\$TEST_NGINX_SLOW_PORT sndbuf=4k;
        server_name localhost;
$Routes
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a draining worker killed with SIGKILL: its clients are not listed, do not count, and cannot be disconnected
--- http_config eval: $::Http
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my @old = map { $alice->connect(port => $ENV{TEST_NGINX_SLOW_PORT},
                                rcvbuf => 4096) } 1 .. 2;
my @ids = map { $_->{conn} } @old;
my $text = 'z' x 3000;
for my $i (1 .. 40) {
    defined $alice->post_chat("$i $text") or die "post $i\n";
}
my $master = SecureChat::Test::master_pid();
my ($victim) = SecureChat::Test::worker_pids($master);
kill 'HUP', $master or die "HUP: $!\n";
# wait for the new worker beside the draining one
my @now;
for (1 .. 100) {
    @now = SecureChat::Test::worker_pids($master);
    last if @now >= 2;
    sleep 0.1;
}
die "no new worker after HUP\n" unless @now >= 2;
Test::More::ok(kill(0, $victim), 'the old worker drains: its clients read nothing');
kill 'KILL', $victim or die "kill $victim: $!\n";
for (1 .. 100) { last unless kill 0, $victim; sleep 0.05 }
my (undef, $body) = $alice->api('GET', '/api/clients');
my @listed = grep { my $id = $_; $body =~ /"id":"\Q$id\E"/ } @ids;
Test::More::is(scalar(@listed), 0, 'the dead worker\'s clients are not listed');
my ($status, $rbody) = $alice->api('POST', '/api/disconnect',
                                   qq({"client_id":"$ids[0]"}));
Test::More::is($status, 404, 'disconnecting one of them: 404, not ok');
Test::More::like($rbody, qr/"error":"unknown_client"/, 'an unknown client');
my @new = map { eval { $alice->connect } } 1 .. 2;
Test::More::is(scalar(grep { defined } @new), 2,
               'the user connects up to the limit again') or Test::More::diag($@);
$_->{ws}->close for grep { defined } @new;
$_->{ws}->sock->close for @old;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log eval
qr/\[alert\].*exited on signal 9/
--- no_error_log
[error]
