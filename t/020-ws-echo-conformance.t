# RFC 6455 conformance of the WebSocket codec, against the test-only echo
# role: the Autobahn|Testsuite case groups 1 (framing), 2 (pings and
# pongs), 3 (reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8),
# 7 (close handling) and 10 (auto-fragmentation), written from RFC 6455 and
# the cases' public descriptions, plus the module's own rules (masking,
# minimal lengths, message size) as group "x".  Groups 9 (performance)
# and 12/13 (compression) are out of scope.
#
# Each case is one connection and one test that checks exactly what the
# server sends back: the echoed messages, the pongs, the close code, that
# TCP is closed after it, and, where the case says "fail fast", that the
# close comes before the rest of the input is sent.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::WS qw(frame_bytes close_code close_reason);
use Time::HiRes ();

securechat_defaults();
no_shuffle();

# a flood of one-byte frames is what these cases are made of
our $EchoHttp = $HttpConfig . "    securechat_ws_frame_rate 100000;\n";
our $BigHttp = $EchoHttp . "    securechat_ws_message_max 512k;\n"
                          . "    securechat_send_buffer    1m;\n";

our ($Cases, $Passed, @Failed) = (0, 0);

# how long to wait for the server (it answers in milliseconds)
our $WAIT = 3;


# -- a well-formedness check of UTF-8 (RFC 3629), byte by byte -------------

# the index of the first byte that no valid UTF-8 text can have there, or
# length($s) if the text ends inside a character, or undef if it is valid
sub utf8_fail_at {
    my ($s) = @_;
    my @b = unpack 'C*', $s;
    my $i = 0;

    while ($i < @b) {
        my $c = $b[$i];
        my ($n, $lo, $hi);

        if ($c < 0x80) { $i++; next }
        elsif ($c >= 0xc2 && $c <= 0xdf) { ($n, $lo, $hi) = (1, 0x80, 0xbf) }
        elsif ($c == 0xe0) { ($n, $lo, $hi) = (2, 0xa0, 0xbf) }
        elsif ($c == 0xed) { ($n, $lo, $hi) = (2, 0x80, 0x9f) }
        elsif ($c >= 0xe1 && $c <= 0xef) { ($n, $lo, $hi) = (2, 0x80, 0xbf) }
        elsif ($c == 0xf0) { ($n, $lo, $hi) = (3, 0x90, 0xbf) }
        elsif ($c >= 0xf1 && $c <= 0xf3) { ($n, $lo, $hi) = (3, 0x80, 0xbf) }
        elsif ($c == 0xf4) { ($n, $lo, $hi) = (3, 0x80, 0x8f) }
        else { return $i }

        for my $k (1 .. $n) {
            return scalar @b if $i + $k >= @b;
            my $d = $b[$i + $k];
            my ($l, $h) = $k == 1 ? ($lo, $hi) : (0x80, 0xbf);
            return $i + $k if $d < $l || $d > $h;
        }

        $i += $n + 1;
    }

    return undef;
}

# a valid text cut into its characters
sub code_points {
    my ($s) = @_;
    return $s =~ /([\x00-\x7f]|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})/g;
}

sub hex_of { join '', map { sprintf '%02x', $_ } unpack 'C*', $_[0] }


# -- the case language ------------------------------------------------------
#
# A case: { id, what, steps => [...], expect => [...], chop }.
# Steps, in order:
#   [F => opcode, payload, %frame_options]   a frame (see SecureChat::WS);
#                                            chop => 'frame' | 'octet' | n
#   [R => bytes, %send_options]              raw bytes
#   [E => item, ...]                         these come now, before we go on
#   [Q => seconds]                           nothing comes meanwhile
#   [W => seconds]                           a pause
# Frames are written together unless the case or the frame says chop:
# 'frame' writes each frame on its own, 'octet' each byte, n every n bytes.
# expect: the items that come after the steps, until the server closes TCP.
# Without a close among the steps or the expected items, the case ends as
# a client does: it sends close 1000 and expects it echoed.
# Items: [text => payload], [binary => payload], [pong => payload],
#   [close => code] (the server's own close: that code, any UTF-8 reason),
#   [echo => code, reason] (the client's close echoed: that code, with the
#   same reason or none; code undef: an empty close body).

sub text  { [text => $_[0]] }
sub bin   { [binary => $_[0]] }
sub pong  { [pong => $_[0]] }
sub close_with { [close => $_[0]] }
sub echo  { [echo => @_] }

sub F { [F => @_] }


sub item_str {
    my ($i) = @_;
    my ($k, @a) = @$i;
    return "$k($a[0])" if $k eq 'bad' || $k eq 'eof' || $k eq 'timeout';
    if ($k eq 'close' || $k eq 'echo') {
        return "close(" . ($a[0] // 'empty')
               . (defined $a[1] && length $a[1] ? ", '" . hex_of(substr $a[1], 0, 20) . "'" : '')
               . ')';
    }
    my $p = $a[0] // '';
    my $show = length $p > 24 ? hex_of(substr $p, 0, 12) . "..(" . length($p) . " bytes)"
                              : "'" . ($p =~ /[^\x20-\x7e]/ ? hex_of($p) : $p) . "'";
    return "$k($show)";
}

# reads the next thing the server sends: a message, a control frame, or
# [eof], [timeout], [bad => why]
sub next_item {
    my ($ws, $timeout) = @_;
    my $f = $ws->read_message($timeout);

    return [timeout => "nothing within ${timeout}s"] unless defined $f;
    return [eof => $f->{reset} ? 'reset' : 'closed'] if $f->{eof};
    return [bad => "fragmentation error in the server's frames"]
        if $f->{error};
    return [bad => 'a masked frame from the server'] if $f->{masked};
    return [bad => "reserved bits $f->{rsv} set by the server"] if $f->{rsv};

    my $op = $f->{opcode};

    return [text => $f->{payload}] if $op == 1;
    return [binary => $f->{payload}] if $op == 2;
    return [pong => $f->{payload}] if $op == 10;
    return [ping => $f->{payload}] if $op == 9;

    if ($op == 8) {
        return [bad => 'a close body of 1 byte'] if length $f->{payload} == 1;
        return [close => close_code($f), close_reason($f)];
    }

    return [bad => "opcode $op from the server"];
}

sub item_matches {
    my ($want, $got) = @_;
    my ($wk, @w) = @$want;
    my ($gk, @g) = @$got;

    if ($wk eq 'close') {
        return $gk eq 'close' && defined $g[0] && $g[0] == $w[0]
               && !defined utf8_fail_at($g[1]);
    }

    if ($wk eq 'echo') {
        return 0 unless $gk eq 'close';
        return !defined $g[0] unless defined $w[0];
        return defined $g[0] && $g[0] == $w[0]
               && ($g[1] eq '' || $g[1] eq ($w[1] // ''));
    }

    return $wk eq $gk && $w[0] eq $g[0];
}


sub run_case {
    my ($c) = @_;
    my (@log, $err);

    my $ws = eval { SecureChat::WS->connect(path => '/echo', timeout => $WAIT) };
    return "no connection: $@" unless $ws;
    return "upgrade answered " . $ws->status_line unless $ws->status == 101;

    my $pending = '';
    my $flush = sub {
        $ws->send_raw($pending) if length $pending;
        $pending = '';
    };

    my $closing;    # a close was sent or is expected

    my $expect_now = sub {
        my @want = @_;
        $flush->();
        for my $w (@want) {
            my $g = next_item($ws, $WAIT);
            push @log, 'got ' . item_str($g);
            return "expected " . item_str($w) . ", got " . item_str($g)
                unless item_matches($w, $g);
        }
        return undef;
    };

    for my $s (@{ $c->{steps} }) {
        my ($k, @a) = @$s;

        if ($k eq 'F' || $k eq 'R') {
            my $bytes;
            my %o;

            if ($k eq 'F') {
                my ($op, $payload);
                ($op, $payload, %o) = @a;
                $bytes = frame_bytes($op, $payload, %o);
                push @log, "sent frame op=$op len=" . length($payload // '')
                           . (defined $o{fin} && !$o{fin} ? ' fin=0' : '')
                           . ($o{rsv} ? " rsv=$o{rsv}" : '');
                $closing = 1 if $op == 8;
            } else {
                ($bytes, %o) = @a;
                push @log, "sent " . length($bytes) . " raw bytes";
            }

            my $chop = $o{chop} // $c->{chop};

            if (!$chop) {
                $pending .= $bytes;
                next;
            }

            $flush->();

            if ($chop eq 'frame') {
                $ws->send_raw($bytes);
                Time::HiRes::sleep(0.005);
            } else {
                $ws->send_raw($bytes,
                              split_every => $chop eq 'octet' ? 1 : $chop);
            }

        } elsif ($k eq 'E') {
            $err = $expect_now->(@a) and last;
            $closing = 1 if grep { $_->[0] eq 'close' } @a;

        } elsif ($k eq 'Q' || $k eq 'W') {
            $flush->();
            if ($k eq 'W') {
                Time::HiRes::sleep($a[0]);
                next;
            }
            my $g = next_item($ws, $a[0]);
            if ($g->[0] ne 'timeout') {
                $err = "expected nothing for $a[0]s, got " . item_str($g);
                last;
            }
            push @log, "nothing for $a[0]s";
        }
    }

    unless ($err) {
        my @want = @{ $c->{expect} || [] };

        $closing = 1 if grep { $_->[0] eq 'close' || $_->[0] eq 'echo' } @want;

        unless ($closing) {
            $pending .= frame_bytes(8, pack 'n', 1000);
            push @log, 'sent close 1000';
            push @want, echo(1000);
        }

        $flush->();

        for my $w (@want) {
            my $g = next_item($ws, $WAIT);
            push @log, 'got ' . item_str($g);
            next if item_matches($w, $g);
            $err = "expected " . item_str($w) . ", got " . item_str($g);
            last;
        }

        # then the server closes TCP, and says nothing more
        unless ($err) {
            my $g = next_item($ws, $WAIT);
            push @log, 'got ' . item_str($g);
            $err = "expected the server to close TCP, got " . item_str($g)
                unless $g->[0] eq 'eof';
        }
    }

    $ws->close;

    return undef unless $err;
    return "$err\n    " . join("\n    ", @log);
}


sub run_cases {
    for my $c (@_) {
        my $err = run_case($c);
        $Cases++;
        if ($err) {
            push @Failed, $c->{id};
            Test::More::ok(0, "$c->{id} $c->{what}");
            Test::More::diag("$c->{id}: $err");
        } else {
            $Passed++;
            Test::More::ok(1, "$c->{id} $c->{what}");
        }
    }
    return;
}


# -- 1: framing -------------------------------------------------------------

sub group1 {
    my @c;
    my @len = (0, 125, 126, 127, 128, 65535, 65536, 65536);

    for my $i (0 .. $#len) {
        my $chop = $i == 7 ? 997 : undef;
        my $t = '*' x $len[$i];
        my $b = "\xfe" x $len[$i];
        my $how = $chop ? ", written in pieces of $chop bytes" : '';

        push @c, { id => '1.1.' . ($i + 1),
                   what => "text message of $len[$i] bytes$how",
                   chop => $chop, steps => [F(1, $t)], expect => [text($t)] };
        push @c, { id => '1.2.' . ($i + 1),
                   what => "binary message of $len[$i] bytes$how",
                   chop => $chop, steps => [F(2, $b)], expect => [bin($b)] };
    }

    return sort { $a->{id} cmp $b->{id} } @c;
}


# -- 2: pings and pongs -----------------------------------------------------

sub group2 {
    my @ten = map { "payload-$_" } 0 .. 9;
    my $nonutf8 = "\x00\xff\xfe\xfd\xfc\xfb\x00\xff";

    return (
        { id => '2.1', what => 'ping without payload',
          steps => [F(9, '')], expect => [pong('')] },
        { id => '2.2', what => 'ping with a small text payload',
          steps => [F(9, 'Hello, world!')], expect => [pong('Hello, world!')] },
        { id => '2.3', what => 'ping with a small binary payload',
          steps => [F(9, $nonutf8)], expect => [pong($nonutf8)] },
        { id => '2.4', what => 'ping with 125 bytes',
          steps => [F(9, "\xfe" x 125)], expect => [pong("\xfe" x 125)] },
        { id => '2.5', what => 'ping with 126 bytes is a protocol error',
          steps => [F(9, "\xfe" x 126)], expect => [close_with(1002)] },
        { id => '2.6', what => 'ping with 125 bytes, written octet by octet',
          chop => 'octet',
          steps => [F(9, "\xfe" x 125)], expect => [pong("\xfe" x 125)] },
        { id => '2.7', what => 'unsolicited pong without payload is ignored',
          steps => [F(10, '')], expect => [] },
        { id => '2.8', what => 'unsolicited pong with payload is ignored',
          steps => [F(10, 'unsolicited pong payload')], expect => [] },
        { id => '2.9', what => 'unsolicited pong, then ping: one pong',
          steps => [F(10, 'unsolicited pong payload'), F(9, 'ping payload')],
          expect => [pong('ping payload')] },
        { id => '2.10', what => '10 pings: 10 pongs in order',
          steps => [map { F(9, $_) } @ten], expect => [map { pong($_) } @ten] },
        { id => '2.11', what => '10 pings written octet by octet',
          chop => 'octet',
          steps => [map { F(9, $_) } @ten], expect => [map { pong($_) } @ten] },
    );
}


# -- 3: reserved bits -------------------------------------------------------

sub group3 {
    my $hw = 'Hello, world!';
    my @c = ({ id => '3.1', what => 'text with RSV3 (1)',
               steps => [F(1, $hw, rsv => 1)], expect => [close_with(1002)] });
    my %chop = (2 => undef, 3 => 'frame', 4 => 'octet');

    for my $rsv (2 .. 4) {
        push @c, { id => "3.$rsv",
                   what => "echo, then text with RSV $rsv, then ping: "
                           . "echo and close, no pong"
                           . ($chop{$rsv} ? " ($chop{$rsv} chops)" : ''),
                   chop => $chop{$rsv},
                   steps => [F(1, $hw), F(1, $hw, rsv => $rsv), F(9, '')],
                   expect => [text($hw), close_with(1002)] };
    }

    push @c,
        { id => '3.5', what => 'binary with RSV 5',
          steps => [F(2, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv => 5)],
          expect => [close_with(1002)] },
        { id => '3.6', what => 'binary with RSV 6',
          steps => [F(2, $hw, rsv => 6)], expect => [close_with(1002)] },
        { id => '3.7', what => 'close with RSV 7',
          steps => [F(8, '', rsv => 7)], expect => [close_with(1002)] };

    return @c;
}


# -- 4: opcodes -------------------------------------------------------------

sub group4 {
    my $hw = 'Hello, world!';
    my @c;

    for my $g ([1, 3], [2, 11]) {
        my ($n, $base) = @$g;
        my $kind = $n == 1 ? 'non-control' : 'control';

        push @c,
            { id => "4.$n.1", what => "reserved $kind opcode $base",
              steps => [F($base, '')], expect => [close_with(1002)] },
            { id => "4.$n.2", what => "reserved $kind opcode "
                                      . ($base + 1) . " with payload",
              steps => [F($base + 1, 'reserved opcode payload')],
              expect => [close_with(1002)] },
            { id => "4.$n.3", what => "echo, reserved opcode " . ($base + 2)
                                      . ", ping: echo and close, no pong",
              steps => [F(1, $hw), F($base + 2, ''), F(9, '')],
              expect => [text($hw), close_with(1002)] },
            { id => "4.$n.4", what => "echo, reserved opcode " . ($base + 3)
                                      . " with payload, ping",
              steps => [F(1, $hw), F($base + 3, $hw), F(9, '')],
              expect => [text($hw), close_with(1002)] },
            { id => "4.$n.5", what => "echo, reserved opcode " . ($base + 4)
                                      . " with payload, ping, octet chops",
              chop => 'octet',
              steps => [F(1, $hw), F($base + 4, $hw), F(9, '')],
              expect => [text($hw), close_with(1002)] };
    }

    return @c;
}


# -- 5: fragmentation -------------------------------------------------------

sub group5 {
    my ($f1, $f2) = ('fragment1', 'fragment2');
    my @c = (
        { id => '5.1', what => 'fragmented ping',
          steps => [F(9, $f1, fin => 0), F(0, $f2)],
          expect => [close_with(1002)] },
        { id => '5.2', what => 'fragmented pong',
          steps => [F(10, $f1, fin => 0), F(0, $f2)],
          expect => [close_with(1002)] },
    );

    my @chops = (undef, 'frame', 'octet');

    for my $i (0 .. 2) {
        my $how = $chops[$i] ? " ($chops[$i] chops)" : '';

        push @c, { id => '5.' . (3 + $i),
                   what => "text in 2 fragments$how", chop => $chops[$i],
                   steps => [F(1, $f1, fin => 0), F(0, $f2)],
                   expect => [text("$f1$f2")] };
        push @c, { id => '5.' . (6 + $i),
                   what => "text in 2 fragments, ping between$how",
                   chop => $chops[$i],
                   steps => [F(1, $f1, fin => 0), F(9, 'ping payload'),
                             F(0, $f2)],
                   expect => [pong('ping payload'), text("$f1$f2")] };
        push @c, { id => '5.' . (9 + $i),
                   what => "continuation (FIN) with nothing to continue$how",
                   chop => $chops[$i],
                   steps => [F(0, 'non-continuation payload'),
                             F(1, 'Hello, world!')],
                   expect => [close_with(1002)] };
        push @c, { id => '5.' . (12 + $i),
                   what => "continuation (no FIN) with nothing to "
                           . "continue$how",
                   chop => $chops[$i],
                   steps => [F(0, 'non-continuation payload', fin => 0),
                             F(1, 'Hello, world!')],
                   expect => [close_with(1002)] };
    }

    push @c,
        { id => '5.15', what => 'a message, then a continuation with nothing '
                                . 'to continue: echo, then close',
          steps => [F(1, $f1, fin => 0), F(0, $f2), F(0, 'fragment3', fin => 0),
                    F(1, 'fragment4')],
          expect => [text("$f1$f2"), close_with(1002)] },
        { id => '5.16', what => '2x: continuation (no FIN), then a message',
          steps => [(F(0, $f1, fin => 0), F(1, $f2, fin => 0),
                     F(0, 'fragment3')) x 2],
          expect => [close_with(1002)] },
        { id => '5.17', what => '2x: continuation (FIN), then a message',
          steps => [(F(0, $f1), F(1, $f2, fin => 0), F(0, 'fragment3')) x 2],
          expect => [close_with(1002)] },
        { id => '5.18', what => 'second fragment with the text opcode',
          steps => [F(1, $f1, fin => 0), F(1, $f2)],
          expect => [close_with(1002)] };

    my @frag = map { "fragment$_" } 1 .. 5;

    for my $i (0, 1) {
        push @c, { id => '5.' . (19 + $i),
                   what => 'text in 5 fragments with 2 pings: the first pong '
                           . 'comes before the last fragment is sent'
                           . ($i ? ' (frame chops)' : ''),
                   chop => $i ? 'frame' : undef,
                   steps => [F(1, $frag[0], fin => 0), F(0, $frag[1], fin => 0),
                             F(9, 'pongme 1!'), [E => pong('pongme 1!')],
                             F(0, $frag[2], fin => 0), F(0, $frag[3], fin => 0),
                             F(9, 'pongme 2!'), F(0, $frag[4])],
                   expect => [pong('pongme 2!'), text(join '', @frag)] };
    }

    return @c;
}


# -- 6: UTF-8 ---------------------------------------------------------------

# The test texts of Markus Kuhn's UTF-8 decoder stress test, grouped as
# Autobahn numbers them from 6.5 on: [title, [valid, bytes], ...].
sub utf8_sequences {
    my $kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    my @t;

    push @t, ['valid UTF-8', map { [1, $_] } 'hello$world',
              "hello\xc2\xa2world", "hello\xe2\x82\xacworld",
              "hello\xf0\xa4\xad\xa2world", $kosme];

    push @t, ['prefixes of a valid text',
              map { my $p = substr $kosme, 0, $_;
                    [!defined utf8_fail_at($p), $p] } 1 .. length $kosme];

    push @t, ['first sequence of each length',
              map { [1, $_] } "\x00", "\xc2\x80", "\xe0\xa0\x80",
              "\xf0\x90\x80\x80"];
    push @t, ['first sequence of length 5 and 6',
              map { [0, $_] } "\xf8\x88\x80\x80\x80",
              "\xfc\x84\x80\x80\x80\x80"];
    push @t, ['last sequence of each length',
              map { [1, $_] } "\x7f", "\xdf\xbf", "\xef\xbf\xbf",
              "\xf4\x8f\xbf\xbf"];
    push @t, ['last sequence of length 4, 5 and 6',
              map { [0, $_] } "\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf",
              "\xfd\xbf\xbf\xbf\xbf\xbf"];
    push @t, ['other boundaries',
              (map { [1, $_] } "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",
                               "\xf4\x8f\xbf\xbf"),
              [0, "\xf4\x90\x80\x80"]];
    push @t, ['unexpected continuation bytes',
              (map { [0, $_] } "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80",
                               "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80",
                               "\x80\xbf\x80\xbf\x80\xbf"),
              [0, join '', map { chr } 0x80 .. 0xbe]];
    push @t, ['lonely start bytes',
              map { my ($lo, $hi) = @$_;
                    [0, join '', map { chr($_) . ' ' } $lo .. $hi - 1] }
              [0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb],
              [0xfc, 0xfd]];

    my @cut = ("\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80",
               "\xfc\x80\x80\x80\x80", "\xdf", "\xef\xbf", "\xf7\xbf\xbf",
               "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf");

    push @t, ['last continuation byte missing', map { [0, $_] } @cut];
    push @t, ['incomplete sequences together', [0, join '', @cut]];
    push @t, ['impossible bytes',
              map { [0, $_] } "\xfe", "\xff", "\xfe\xfe\xff\xff"];
    push @t, ['overlong slash',
              map { [0, $_] } "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
              "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"];
    push @t, ['maximum overlong sequences',
              map { [0, $_] } "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf",
              "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"];
    push @t, ['overlong NUL',
              map { [0, $_] } "\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80",
              "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"];

    my @high = ("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf");
    my @low = ("\xed\xb0\x80", "\xed\xbf\xbf");

    push @t, ['single UTF-16 surrogates',
              map { [0, $_] } @high, "\xed\xb0\x80", "\xed\xbe\x80",
              "\xed\xbf\xbf"];
    push @t, ['paired UTF-16 surrogates',
              map { my $h = $_; map { [0, "$h$_"] } @low } @high];

    my @nonchar = ("\xef\xbf\xbe", "\xef\xbf\xbf");
    for my $z1 (0xf0 .. 0xf4) {
        for my $z2 (0x8f, 0x9f, 0xaf, 0xbf) {
            next if $z1 == 0xf4 && $z2 != 0x8f;    # beyond U+10FFFF
            next if $z1 == 0xf0 && $z2 == 0x8f;    # overlong
            push @nonchar, map { pack 'C4', $z1, $z2, 0xbf, $_ } 0xbe, 0xbf;
        }
    }

    push @t, ['non-characters (valid UTF-8)', map { [1, $_] } @nonchar];
    push @t, ['specials',
              map { [1, "\xef\xbf" . chr] } 0xb9 .. 0xbf];

    return @t;
}


# A text message with the payload $p, in one of four ways: one frame
# ('frame'), one frame per byte ('fragments'), one frame written a byte
# at a time ('octets'), one frame per character ('characters', valid
# text only).  An invalid text must be refused with 1007 as soon as the
# byte that makes it invalid has been sent: the rest is sent only after
# the close has come.
sub utf8_case {
    my ($id, $what, $p, $way) = @_;
    my $at = utf8_fail_at($p);
    my $invalid = defined $at;
    my @frames;

    if ($way eq 'frame') {
        return { id => $id, what => $what, steps => [F(1, $p)],
                 expect => [$invalid ? close_with(1007) : text($p)] };
    }

    if ($way eq 'characters') {
        my @cp = code_points($p);
        @frames = map { F($_ ? 0 : 1, $cp[$_], fin => $_ == $#cp ? 1 : 0) }
                  0 .. $#cp;
        return { id => $id, what => $what, steps => \@frames,
                 expect => [text($p)] };
    }

    if ($way eq 'fragments') {
        my @b = split //, $p;
        @frames = map { F($_ ? 0 : 1, $b[$_], fin => $_ == $#b ? 1 : 0) }
                  0 .. $#b;

        return { id => $id, what => $what, steps => \@frames,
                 expect => [text($p)] } unless $invalid;

        return { id => $id, what => $what, steps => \@frames,
                 expect => [close_with(1007)] } if $at >= length $p;

        return { id => $id, what => $what,
                 steps => [@frames[0 .. $at], [E => close_with(1007)],
                           @frames[$at + 1 .. $#frames]],
                 expect => [] };
    }

    # octets: the frame's head, then the payload byte by byte
    my $bytes = frame_bytes(1, $p);
    my $head = length($bytes) - length($p);

    return { id => $id, what => $what,
             steps => [[R => $bytes, chop => 'octet']],
             expect => [$invalid ? close_with(1007) : text($p)] }
        if !$invalid || $at >= length $p;

    return { id => $id, what => $what,
             steps => [[R => substr($bytes, 0, $head + $at + 1), chop => 'octet'],
                       [E => close_with(1007)],
                       [R => substr($bytes, $head + $at + 1)]],
             expect => [] };
}

sub group6 {
    my $kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    my $hello = "Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0"
                . "\xc3\xa1-UTF-8!!";
    my $bad = "$kosme\xed\xa0\x80edited";
    my ($p1, $p2, $p3) = ($kosme, "\xf4\x90\x80\x80", 'edited');
    my $all = "$p1$p2$p3";
    my @c;

    push @c,
        { id => '6.1.1', what => 'empty text message',
          steps => [F(1, '')], expect => [text('')] },
        { id => '6.1.2', what => 'text in 3 empty fragments',
          steps => [F(1, '', fin => 0), F(0, '', fin => 0), F(0, '')],
          expect => [text('')] },
        { id => '6.1.3', what => 'text in 3 fragments, first and last empty',
          steps => [F(1, '', fin => 0), F(0, 'middle frame payload', fin => 0),
                    F(0, '')],
          expect => [text('middle frame payload')] },
        { id => '6.2.1', what => 'valid UTF-8 in one frame',
          steps => [F(1, $hello)], expect => [text($hello)] },
        { id => '6.2.2', what => 'valid UTF-8 in 2 fragments cut between '
                                 . 'characters',
          steps => [F(1, substr($hello, 0, 15), fin => 0),
                    F(0, substr($hello, 15))],
          expect => [text($hello)] };

    push @c, utf8_case('6.2.3', 'valid UTF-8 in fragments of 1 byte',
                       $hello, 'fragments');
    push @c, utf8_case('6.2.4', 'valid UTF-8 (kosme) in fragments of 1 byte',
                       $kosme, 'fragments');
    push @c, utf8_case('6.3.1', 'invalid UTF-8 in one frame', $bad, 'frame');
    push @c, utf8_case('6.3.2', 'invalid UTF-8 in fragments of 1 byte: '
                                . 'closed at the bad byte', $bad, 'fragments');

    # fail fast: 1007 as soon as the bad byte arrives, not at the end
    my $msg = frame_bytes(1, $all);
    my $h = length($msg) - length($all);

    push @c,
        { id => '6.4.1', what => 'fail fast: 3 fragments, the 2nd invalid',
          steps => [F(1, $p1, fin => 0), [Q => 0.3], F(0, $p2, fin => 0),
                    [E => close_with(1007)], F(0, $p3)],
          expect => [] },
        { id => '6.4.2', what => 'fail fast: 3 fragments, the 2nd is the bad '
                                 . 'byte alone',
          steps => [F(1, substr($all, 0, 12), fin => 0), [Q => 0.3],
                    F(0, substr($all, 12, 1), fin => 0),
                    [E => close_with(1007)], F(0, substr($all, 13))],
          expect => [] },
        { id => '6.4.3', what => 'fail fast: one frame in 3 writes, the 2nd '
                                 . 'invalid',
          steps => [[R => substr($msg, 0, $h + 11)], [Q => 0.3],
                    [R => substr($msg, $h + 11, 4)], [E => close_with(1007)],
                    [R => substr($msg, $h + 15)]],
          expect => [] },
        { id => '6.4.4', what => 'fail fast: one frame in 3 writes, the 2nd '
                                 . 'is the bad byte alone',
          steps => [[R => substr($msg, 0, $h + 12)], [Q => 0.3],
                    [R => substr($msg, $h + 12, 1)], [E => close_with(1007)],
                    [R => substr($msg, $h + 13)]],
          expect => [] };

    # 6.5 to 6.23: each text as Autobahn sends it (one frame), then split
    # at every byte (fragments, and one frame written octet by octet), and
    # the valid ones one character per fragment
    my $n = 5;
    for my $t (utf8_sequences()) {
        my ($title, @seq) = @$t;
        my $m = 1;
        for my $s (@seq) {
            my ($valid, $p) = @$s;
            my $id = "6.$n.$m";
            my $what = ($valid ? 'valid' : 'invalid') . " ($title): "
                       . hex_of($p);

            die "table error at $id\n"
                if ($valid ? 1 : 0) == (defined utf8_fail_at($p) ? 1 : 0);

            push @c, utf8_case($id, $what, $p, 'frame');
            push @c, utf8_case("$id/f", "$what, 1-byte fragments", $p,
                               'fragments');
            push @c, utf8_case("$id/o", "$what, octet writes", $p, 'octets');
            push @c, utf8_case("$id/c", "$what, 1 character per fragment",
                               $p, 'characters') if $valid;
            $m++;
        }
        $n++;
    }

    return @c;
}


# -- 7: close handling ------------------------------------------------------

sub group7 {
    my $bad = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
    my $close = sub { F(8, pack('n', $_[0]) . ($_[1] // '')) };
    my @c = (
        { id => '7.1.1', what => 'a message, then close: echo, then close',
          steps => [F(1, 'Hello World!'), $close->(1000)],
          expect => [text('Hello World!'), echo(1000)] },
        { id => '7.1.2', what => 'two closes: the second is ignored',
          steps => [$close->(1000), F(8, '')], expect => [echo(1000)] },
        { id => '7.1.3', what => 'ping after close: no pong',
          steps => [$close->(1000), F(9, '')], expect => [echo(1000)] },
        { id => '7.1.4', what => 'text after close: no echo',
          steps => [$close->(1000), F(1, 'Hello World!')],
          expect => [echo(1000)] },
        { id => '7.1.5', what => 'fragment, close, last fragment: no echo',
          steps => [F(1, 'fragment1', fin => 0), $close->(1000),
                    F(0, 'fragment2')],
          expect => [echo(1000)] },
    );

    # 7.1.6 with the default message limit: 256 KiB is refused with 1009
    # as soon as its length is known, before its payload is sent
    my $big = substr 'BAsd7&jh23' x 26215, 0, 262144;
    my $bigframe = frame_bytes(1, $big);

    push @c,
        { id => '7.1.6', what => '256 KiB message, text, close, ping: 1009 '
                                 . 'at the big header (limit 64 KiB)',
          steps => [[R => substr($bigframe, 0, 14)], [E => close_with(1009)],
                    [R => substr($bigframe, 14)], F(1, 'Hello World!'),
                    $close->(1000), F(9, '')],
          expect => [] },
        { id => '7.3.1', what => 'close without body: answered without body',
          steps => [F(8, '')], expect => [echo(undef)] },
        { id => '7.3.2', what => 'close with a 1-byte body',
          steps => [F(8, 'a')], expect => [close_with(1002)] },
        { id => '7.3.3', what => 'close with a code',
          steps => [$close->(1000)], expect => [echo(1000)] },
        { id => '7.3.4', what => 'close with a code and a reason',
          steps => [$close->(1000, 'Hello World!')],
          expect => [echo(1000, 'Hello World!')] },
        { id => '7.3.5', what => 'close with a reason of 123 bytes',
          steps => [$close->(1000, '*' x 123)],
          expect => [echo(1000, '*' x 123)] },
        { id => '7.3.6', what => 'close with a reason of 124 bytes (body 126)',
          steps => [$close->(1000, '*' x 124)],
          expect => [close_with(1002)] },
        { id => '7.5.1', what => 'close with a reason that is not UTF-8',
          steps => [$close->(1000, $bad)], expect => [close_with(1007)] };

    # 1012-1014: IANA-registered since RFC 6455; Autobahn counts them valid
    my @valid = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                 1013, 1014, 3000, 3999, 4000, 4999);
    my @invalid = (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999);

    for my $i (0 .. $#valid) {
        push @c, { id => '7.7.' . ($i + 1),
                   what => "close with the valid code $valid[$i]: echoed",
                   steps => [$close->($valid[$i])],
                   expect => [echo($valid[$i])] };
    }

    for my $i (0 .. $#invalid) {
        push @c, { id => '7.9.' . ($i + 1),
                   what => "close with the invalid code $invalid[$i]",
                   steps => [$close->($invalid[$i])],
                   expect => [close_with(1002)] };
    }

    # undefined by Autobahn; RFC 6455 7.4.2: outside 0-4999, so invalid
    push @c,
        { id => '7.13.1', what => 'close with code 5000',
          steps => [$close->(5000)], expect => [close_with(1002)] },
        { id => '7.13.2', what => 'close with code 65535',
          steps => [$close->(65535)], expect => [close_with(1002)] };

    return @c;
}


# -- 10: auto-fragmentation -------------------------------------------------

sub group10 {
    my $p = '*' x 65536;
    my @frag = unpack '(a1300)*', $p;

    return { id => '10.1.1', what => '64 KiB text in fragments of 1300 bytes',
             steps => [map { F($_ ? 0 : 1, $frag[$_],
                               fin => $_ == $#frag ? 1 : 0) } 0 .. $#frag],
             expect => [text($p)] };
}


# -- x: RFC 6455 rules the groups above do not reach, and the module's limits

sub group_x {
    my $hw = 'Hello, world!';
    my $close = sub { F(8, pack('n', $_[0]) . ($_[1] // '')) };
    my @c = (
        { id => 'x.1', what => 'an unmasked text frame (RFC 6455 5.1)',
          steps => [F(1, $hw, mask => 0)], expect => [close_with(1002)] },
        { id => 'x.2', what => 'an unmasked ping',
          steps => [F(9, 'ping', mask => 0)], expect => [close_with(1002)] },
        { id => 'x.3', what => 'an unmasked close',
          steps => [F(8, pack('n', 1000), mask => 0)],
          expect => [close_with(1002)] },
        { id => 'x.4', what => 'a masked fragment, then an unmasked continuation',
          steps => [F(1, 'a', fin => 0), F(0, 'b', mask => 0)],
          expect => [close_with(1002)] },
        { id => 'x.5', what => '5 bytes with a 16-bit length (not minimal)',
          steps => [F(1, 'abcde', ext => 2)], expect => [close_with(1002)] },
        { id => 'x.6', what => '200 bytes with a 64-bit length (not minimal)',
          steps => [F(1, 'a' x 200, ext => 8)], expect => [close_with(1002)] },
        { id => 'x.7', what => '65535 bytes with a 64-bit length',
          steps => [F(2, 'a' x 65535, ext => 8)],
          expect => [close_with(1002)] },
        { id => 'x.8', what => '125 bytes with a 16-bit length',
          steps => [F(9, 'a' x 125, ext => 2)], expect => [close_with(1002)] },
        { id => 'x.9', what => 'a 64-bit length with the top bit set: 1002 '
                               . 'at the header',
          steps => [[R => substr(frame_bytes(2, '', len => 2**63 + 5), 0, 14)],
                    [E => close_with(1002)], [R => 'abcde']],
          expect => [] },
        { id => 'x.10', what => 'a ping announcing 126 bytes: 1002 at the '
                                . 'header',
          steps => [[R => substr(frame_bytes(9, 'p' x 126), 0, 8)],
                    [E => close_with(1002)], [R => 'p' x 126]],
          expect => [] },
        { id => 'x.11', what => 'text announcing 65537 bytes: 1009 at the '
                                . 'header',
          steps => [[R => substr(frame_bytes(1, 'a' x 65537), 0, 14)],
                    [E => close_with(1009)], [R => 'a' x 1000]],
          expect => [] },
        { id => 'x.12', what => 'binary announcing 2^32 bytes: 1009 at the '
                                . 'header',
          steps => [[R => substr(frame_bytes(2, '', len => 2**32), 0, 14)],
                    [E => close_with(1009)], [R => 'a' x 1000]],
          expect => [] },
        { id => 'x.13', what => 'fragments adding up to 65536 bytes: echoed',
          steps => [F(1, 'a' x 40000, fin => 0), F(0, 'b' x 25536, fin => 0),
                    F(0, '')],
          expect => [text('a' x 40000 . 'b' x 25536)] },
        { id => 'x.14', what => 'fragments adding up to 65537 bytes: 1009 at '
                                . 'the header of the one too many',
          steps => [F(1, 'a' x 40000, fin => 0),
                    [R => substr(frame_bytes(0, 'b' x 25537), 0, 8)],
                    [E => close_with(1009)], [R => 'b' x 25537]],
          expect => [] },
        { id => 'x.15', what => 'binary in 3 fragments with a ping between',
          steps => [F(2, "\x00\xff", fin => 0), F(0, "\xfe", fin => 0),
                    F(9, 'pp'), F(0, "\x01")],
          expect => [pong('pp'), bin("\x00\xff\xfe\x01")] },
        { id => 'x.16', what => 'binary is not checked as UTF-8',
          steps => [F(2, "\xc0\xaf\xff")], expect => [bin("\xc0\xaf\xff")] },
        { id => 'x.17', what => 'a fragmented close',
          steps => [F(8, pack('n', 1000), fin => 0)],
          expect => [close_with(1002)] },
        { id => 'x.18', what => 'close with a multi-byte UTF-8 reason',
          steps => [$close->(1001, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")],
          expect => [echo(1001, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")] },
        { id => 'x.19', what => 'a close reason cut inside a character',
          steps => [$close->(1000, "ab\xce")], expect => [close_with(1007)] },
        { id => 'x.20', what => 'a text fragment, then binary inside it',
          steps => [F(1, 'a', fin => 0), F(2, 'b')],
          expect => [close_with(1002)] },
        { id => 'x.21', what => 'many messages in one write, each echoed',
          steps => [map { F(1, "m$_") } 1 .. 50],
          expect => [map { text("m$_") } 1 .. 50] },
        { id => 'x.22', what => 'zero mask key',
          steps => [F(1, $hw, mask_key => "\0\0\0\0")], expect => [text($hw)] },
    );

    # RFC 6455 7.4.1: 1015 is for a TLS failure and never on the wire
    push @c,
        { id => 'x.23', what => 'close with code 1015 (TLS handshake '
                                . 'failure, never sent)',
          steps => [$close->(1015)], expect => [close_with(1002)] };

    return @c;
}


# -- with a 512 KiB message limit -------------------------------------------

sub big_cases {
    my $big = substr 'BAsd7&jh23' x 26215, 0, 262144;
    return { id => '7.1.6/512k',
             what => '256 KiB message, text, close, ping (limit 512 KiB): '
                     . 'both echoed, close echoed, no pong',
             steps => [F(1, $big), F(1, 'Hello World!'),
                       F(8, pack 'n', 1000), F(9, '')],
             expect => [text($big), text('Hello World!'), echo(1000)] };
}

run_tests();

Test::More::diag("conformance: $Cases cases, $Passed passed"
                 . (@Failed ? "; failed: @Failed" : ''));

__DATA__

=== TEST 1: groups 1 to 5 (framing, pings, reserved bits, opcodes, fragments)
--- http_config eval: $::EchoHttp
--- config
    location = /echo { securechat echo; }
--- init
main::run_cases(main::group1(), main::group2(), main::group3(), main::group4(),
                main::group5());
--- request
GET /echo
--- error_code: 400
--- response_body_like: "error":"not_websocket"
--- no_error_log
[error]
[alert]
[crit]
[emerg]



=== TEST 2: group 6 (UTF-8)
--- http_config eval: $::EchoHttp
--- config
    location = /echo { securechat echo; }
--- init
main::run_cases(main::group6());
--- request
GET /echo
--- error_code: 400
--- response_body_like: "error":"not_websocket"
--- no_error_log
[error]
[alert]
[crit]
[emerg]



=== TEST 3: groups 7 (close) and 10 (auto-fragmentation), and the module's rules
--- http_config eval: $::EchoHttp
--- config
    location = /echo { securechat echo; }
--- init
main::run_cases(main::group7(), main::group10(), main::group_x());
--- request
GET /echo
--- error_code: 400
--- response_body_like: "error":"not_websocket"
--- no_error_log
[error]
[alert]
[crit]
[emerg]



=== TEST 4: 7.1.6 with a message limit of 512 KiB
--- http_config eval: $::BigHttp
--- config
    location = /echo { securechat echo; }
--- init
main::run_cases(main::big_cases());
--- request
GET /echo
--- error_code: 400
--- response_body_like: "error":"not_websocket"
--- no_error_log
[error]
[alert]
[crit]
[emerg]
