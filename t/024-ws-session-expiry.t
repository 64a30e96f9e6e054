# A WebSocket ends with its session: at the session's expiry the server
# closes it with 1000 "session expired", however busy the client keeps it
# (pings reset the idle timer, not the session), and nothing published
# after the expiry reaches it.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;

use Time::HiRes qw(time);

securechat_defaults();

no_shuffle();

our $Short = $HttpConfig . <<'_EOC_';
    securechat_session_lifetime 4s;

    # the idle timer must not be what closes the socket
    securechat_ping_interval    600s;
_EOC_

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

# Pings every 200 ms and reads until the server closes TCP or $until
# passes: {close => {code, reason} if a close frame came, eof, pongs,
# messages => [text frames]}, added to $r if given.
sub ping_along {
    my ($c, $until, $r) = @_;
    $r //= { pongs => 0, messages => [] };

    while (!$r->{eof} && time < $until) {
        $c->{ws}->send_ping('are you there') unless $r->{close};

        my $next = time + 0.2;
        while ((my $left = $next - time) > 0) {
            my $f = $c->{ws}->read_frame($left) // last;
            if ($f->{eof}) { $r->{eof} = 1; last }
            if ($f->{opcode} == 10) { $r->{pongs}++; next }
            if ($f->{opcode} == 8) {
                $r->{close} = { code => SecureChat::WS::close_code($f),
                                reason => SecureChat::WS::close_reason($f) };
                next;
            }
            push @{ $r->{messages} }, $f->{payload} if $f->{opcode} == 1;
        }
    }

    return $r;
}

run_tests();

__DATA__

=== TEST 1: a client that pings every 200 ms is closed at its session's expiry, and a message published after it does not reach it
--- http_config eval: $::Short
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
# the server's expiry is at most 4 s from now (whole seconds, rounded down)
my $expiry = time + 4;
my $c = $alice->connect;
# a second past the expiry, bob publishes; alice pings on for 3 s more
my $r = main::ping_along($c, $expiry + 1);
my $bob = SecureChat::Chat->login('bob', 'bob-password',
                                  server => $alice->{server});
my $id = $bob->post_chat('published after the expiry');
main::ping_along($c, time + 3, $r);
my ($close, $pongs) = @$r{qw(close pongs)};
Test::More::ok($pongs > 0, "the client was answered while its session lasted ($pongs pongs)");
Test::More::ok(defined $id, 'a message was published after the expiry');
Test::More::ok($close && $close->{code} == 1000
               && $close->{reason} eq 'session expired',
               'the server closed with 1000 "session expired"')
    or Test::More::diag($close ? "close $close->{code} $close->{reason}"
                               : 'no close');
Test::More::is(scalar(grep { /"type":"message"/ } @{ $r->{messages} }), 0,
               'no message frame reached it');
$c->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
session expired, closing
--- no_error_log
[error]
[alert]



=== TEST 2: a client that keeps sending chat frames is closed at the expiry too; a client of a fresh session is not
--- http_config eval: $::Short
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $expiry = time + 4;
my $c = $alice->connect;
my ($close, $k) = (undef, 0);
while (time < $expiry + 10 && !$close) {
    $c->send_chat('chat ' . ++$k);
    my $end = time + 0.2;
    while ((my $left = $end - time) > 0) {
        my $e = $c->next_event($left) // last;
        if ($e->{type} eq 'close' || $e->{type} eq 'eof') { $close = $e; last }
    }
}
Test::More::ok($close && $close->{type} eq 'close' && $close->{code} == 1000,
               "closed with 1000 after $k chat frames");
# bob logged in now: his socket lives on past alice's expiry
my $bob = SecureChat::Chat->login('bob', 'bob-password',
                                  server => $alice->{server});
my $b = $bob->connect;
$bob->post_chat('for bob');
my ($m) = $b->collect(1, 5);
Test::More::is($m->[0]{text}, 'for bob', 'a fresh session is served');
$b->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]
