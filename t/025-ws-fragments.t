# Fragmented messages are bounded like whole ones: every frame a client
# sends counts against securechat_ws_frame_rate (continuation frames and
# control frames too, not only the frames that end a message), and a
# message begun must end within securechat_ws_message_timeout; both close
# with 1008.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;
use SecureChat::WS ();

use Time::HiRes qw(time);

securechat_defaults();

no_shuffle();

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
    location = /echo        { securechat echo; }
_EOC_

# 10 frames a second, a burst of 20
our $Slow = $HttpConfig . "    securechat_ws_frame_rate 10;\n";

# the idle timer must not be what closes these sockets
our $Short = $HttpConfig . <<'_EOC_';
    securechat_ws_message_timeout 1s;
    securechat_ping_interval      600s;
_EOC_

sub F { SecureChat::WS::frame_bytes(@_) }

sub echo_ws {
    my $ws = SecureChat::WS->connect(path => '/echo', timeout => 5);
    die "no 101\n" unless ($ws->status // 0) == 101;
    return $ws;
}

# what the server says until TCP closes or $timeout: (text messages
# echoed, pongs, close code, close reason, eof)
sub drain {
    my ($ws, $timeout) = @_;
    my (@texts, $code, $reason, $eof);
    my $pongs = 0;
    my $end = time + $timeout;

    while ((my $left = $end - time) > 0) {
        my $f = $ws->read_message($left) // last;
        if ($f->{eof}) { $eof = 1; last }
        if (($f->{opcode} // -1) == 10) { $pongs++; next }
        if (($f->{opcode} // -1) == 8) {
            $code = SecureChat::WS::close_code($f);
            $reason = SecureChat::WS::close_reason($f);
            next;
        }
        push @texts, $f->{payload} if ($f->{opcode} // -1) == 1;
    }

    return { texts => \@texts, pongs => $pongs, code => $code,
             reason => $reason, eof => $eof };
}

sub closed_ok {
    my ($name, $o, $code, $reason) = @_;
    Test::More::ok(($o->{code} // 0) == $code && ($o->{reason} // '') eq $reason
                   && $o->{eof}, "$name: closed with $code \"$reason\"")
        or Test::More::diag("close " . ($o->{code} // 'none') . ' '
                            . ($o->{reason} // '') . ', '
                            . scalar(@{ $o->{texts} }) . ' texts, '
                            . "$o->{pongs} pongs");
}

# Sends the frames one at a time, $gap seconds apart, until the server
# closes or $timeout passes, then reads on for $after seconds (5 unless
# given); what drain() says about all of it.
sub trickle {
    my ($ws, $gap, $timeout, $after, @frames) = @_;
    my $end = time + $timeout;
    my $all = { texts => [], pongs => 0 };

    my $add = sub {
        my $o = shift;
        push @{ $all->{texts} }, @{ $o->{texts} };
        $all->{pongs} += $o->{pongs};
        $all->{$_} //= $o->{$_} for qw(code reason eof);
    };

    for my $f (@frames) {
        last if time >= $end || !$ws->send_raw($f);
        $add->(drain($ws, $gap));
        return $all if $all->{eof};
    }

    $add->(drain($ws, $after // 5)) unless $all->{eof};
    return $all;
}

run_tests();

__DATA__

=== TEST 1: a burst of continuation frames is closed with 1008, like a burst of pings or pongs; a fragmented message within the rate is echoed
--- http_config eval: $::Slow
--- config eval: $::Routes
--- init
my $ws = main::echo_ws();
$ws->send_raw(join '', main::F(1, 'a', fin => 0), map { main::F(0, 'b', fin => 0) } 1 .. 60);
main::closed_ok('60 continuation frames', main::drain($ws, 5), 1008, 'too many frames');
$ws = main::echo_ws();
$ws->send_raw(join '', main::F(1, 'a', fin => 0), map { main::F(0, '', fin => 0) } 1 .. 60);
main::closed_ok('60 empty continuation frames', main::drain($ws, 5), 1008, 'too many frames');
$ws = main::echo_ws();
$ws->send_raw(join '', map { main::F(9, "p$_") } 1 .. 60);
my $o = main::drain($ws, 5);
main::closed_ok('60 pings', $o, 1008, 'too many frames');
Test::More::ok($o->{pongs} >= 10 && $o->{pongs} < 60, "the burst of pings was answered, not the flood ($o->{pongs} pongs)");
$ws = main::echo_ws();
$ws->send_raw(join '', map { main::F(10, "p$_") } 1 .. 60);
main::closed_ok('60 pongs', main::drain($ws, 5), 1008, 'too many frames');
$ws = main::echo_ws();
$ws->send_raw(join '', main::F(1, 'a', fin => 0), main::F(9, 'in between'), (map { main::F(0, 'b', fin => 0) } 1 .. 3), main::F(0, 'c'));
$o = main::drain($ws, 1);
Test::More::ok(!defined $o->{code} && "@{ $o->{texts} }" eq 'abbbc' && $o->{pongs} == 1,
               'a message of 5 fragments and a ping inside it is echoed') or Test::More::diag(Test::More::explain($o));
$ws->close;
# a chat socket counts the same way
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my $c = $alice->connect;
$c->{ws}->send_raw(join '', main::F(1, '{', fin => 0), map { main::F(0, ' ', fin => 0) } 1 .. 60);
main::closed_ok('a chat socket, 60 continuation frames', main::drain($c->{ws}, 5), 1008, 'too many frames');
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
sends frames too fast
--- no_error_log
[error]
[alert]



=== TEST 2: a message begun must end within securechat_ws_message_timeout (1 s here): trickled fragments, a silent half message and a trickled frame are closed with 1008; a message in time is echoed
--- http_config eval: $::Short
--- config eval: $::Routes
--- init
my $ws = main::echo_ws();
my $o = main::trickle($ws, 0.2, 15, 5, main::F(1, 'a', fin => 0), map { main::F(0, 'b', fin => 0) } 1 .. 75);
main::closed_ok('a continuation frame every 200 ms', $o, 1008, 'message too slow');
$ws = main::echo_ws();
$ws->send_raw(main::F(1, 'half', fin => 0));
main::closed_ok('a first fragment, then silence', main::drain($ws, 15), 1008, 'message too slow');
$ws = main::echo_ws();
my $frame = main::F(1, 'x' x 100);
$o = main::trickle($ws, 0.2, 15, 5, unpack '(a1)*', $frame);
main::closed_ok('one frame, a byte every 200 ms', $o, 1008, 'message too slow');
$ws = main::echo_ws();
$o = main::trickle($ws, 0.1, 5, 0.5, main::F(1, 'q', fin => 0), main::F(0, 'r', fin => 0), main::F(0, 's'),
                   main::F(1, 't', fin => 0), main::F(0, 'u', fin => 0), main::F(0, 'v'));
Test::More::ok(!defined $o->{code} && !$o->{eof}, 'messages that end in time: the socket stays open');
Test::More::is(join(' ', @{ $o->{texts} }), 'qrs tuv', 'and they are echoed') or Test::More::diag(Test::More::explain($o));
$ws->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
did not finish a message in time
--- no_error_log
[error]
[alert]



=== TEST 3: securechat_ws_message_timeout 0 is refused, naming the directive
--- http_config eval: $::HttpConfig . "    securechat_ws_message_timeout 0;\n"
--- config eval: $::Routes
--- must_die
--- error_log
"securechat_ws_message_timeout" must be more than 0
