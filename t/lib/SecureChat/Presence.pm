package SecureChat::Presence;

# Helpers for t/043-presence.t (presence pushed on the WebSocket, signed;
# typing relayed, unsigned; online marks in the members route): what a
# presence frame signs and its check, matchers for until_frame, one line
# of text for a presence or typing frame (the rest as
# SecureChat::Delivery::show), a typing frame sent raw, the online marks
# of a room's members, and a bounded wait until the server has seen a
# socket close.
#
# As in SecureChat::Delivery, that a socket did NOT get a frame is shown by
# a later message that it did get, never by a wait for nothing.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SecureChat::Envelope ();
use SecureChat::Delivery ();

our @EXPORT_OK = qw(presence_tbs presence_ok is_presence is_typing show shows
                    only through typing online_marks until_marks wait_gone);

my $JSON = JSON::PP->new->utf8->canonical;

sub _bool {
    my $v = shift;
    return 'missing' unless defined $v;
    return $v ? 'true' : 'false' if JSON::PP::is_bool($v);
    return "not-a-boolean($v)";
}

# what a presence frame signs
sub presence_tbs {
    my ($e, $key_id) = @_;

    die "presence: malformed epoch\n"
        unless defined $e->{epoch} && $e->{epoch} =~ /\A[0-9a-f]{16}\z/;
    die "presence: malformed ts\n"
        unless defined $e->{ts} && $e->{ts} =~ /\A[0-9]{1,16}\z/;

    return SecureChat::Envelope::F('securechat v2 presence')
           . SecureChat::Envelope::F($key_id)
           . SecureChat::Envelope::u64($e->{ts})
           . pack('H16', $e->{epoch})
           . SecureChat::Envelope::F($e->{user} // '')
           . pack('C', $e->{online} ? 1 : 0);
}

# a presence frame $e, as connection $c got it: v 2, the members the
# protocol names and no others, the hello's epoch, a ts in ms within a
# minute of now, online a JSON boolean, and the server's signature
# (the hello's key) over presence_tbs.  Returns '' when all hold, else
# what failed.
sub presence_ok {
    my ($c, $e) = @_;
    my $srv = $c->{chat}{server};
    my $keys = join ',', sort keys %$e;

    return "members $keys" unless $keys eq 'epoch,online,sig,ts,type,user,v';
    return "v $e->{v}" unless ($e->{v} // '') eq '2';
    return "epoch $e->{epoch} (hello's $c->{epoch})" unless $e->{epoch} eq $c->{epoch};
    return "online " . _bool($e->{online}) unless JSON::PP::is_bool($e->{online});
    return "ts $e->{ts}"
        unless $e->{ts} =~ /\A[0-9]+\z/ && abs($e->{ts} - time * 1000) < 60_000;
    my $ok = eval {
        SecureChat::Envelope::sig_ok($srv->{pk}, $srv->{alg},
                                     presence_tbs($e, $srv->{key_id}),
                                     SecureChat::Envelope::b64d($e->{sig}))
    };
    return $ok ? '' : 'signature' . ($@ ? ": $@" : '');
}

# matchers for SecureChat::Delivery::until_frame
sub is_presence {
    my ($user, $online) = @_;
    return sub {
        ($_[0]{type} // '') eq 'presence'
        && (!defined $user || ($_[0]{user} // '') eq $user)
        && (!defined $online || (($_[0]{online} ? 1 : 0) == ($online ? 1 : 0)))
    };
}

sub is_typing {
    my ($room, $user) = @_;
    return sub {
        ($_[0]{type} // '') eq 'typing'
        && (!defined $room || ($_[0]{room} // '') eq $room)
        && (!defined $user || ($_[0]{user} // '') eq $user)
    };
}

# a frame as one line: "presence USER online|offline" followed by
# " (BAD: why)" unless presence_ok holds for connection $c;
# "typing ROOM USER signed:false" (with " members ..." when they are not
# exactly type, room, user, signed); anything else as Delivery::show
sub show {
    my ($c, $e) = @_;
    my $t = $e->{type} // '?';

    if ($t eq 'presence') {
        my $s = "presence " . ($e->{user} // '-') . ' '
              . ($e->{online} ? 'online' : 'offline');
        my $why = presence_ok($c, $e);
        return $why eq '' ? $s : "$s (BAD: $why)";
    }
    if ($t eq 'typing') {
        my $s = join ' ', 'typing', $e->{room} // '-', $e->{user} // '-',
                          'signed:' . _bool($e->{signed});
        my $keys = join ',', sort keys %$e;
        $s .= " members $keys" unless $keys eq 'room,signed,type,user';
        return $s;
    }
    return SecureChat::Delivery::show($e);
}

sub shows {
    my ($c, $frames) = @_;
    return [map { show($c, $_) } @$frames];
}

# the frames of the given types only ("presence", "typing", "message",
# ...), as show() gives them
sub only {
    my ($c, $frames, @types) = @_;
    my %t = map { $_ => 1 } @types;
    return shows($c, [grep { $t{ $_->{type} // '' } } @$frames]);
}

# Reads connection $c until each of @wants (code refs, or the texts of
# messages) has matched a frame, at most 5 seconds (30 under valgrind) in
# all, or the socket closes; returns the frames of the given types, as
# only() gives them, with "MISSING n" last when n of @wants never came.
#
# Presence and typing frames travel apart from the history (the server
# keeps them in a ring of their own, docs/ROOMS-DESIGN.md section 3), so
# nothing orders them against messages: that a socket did not get a
# presence or typing frame is shown by a later presence or typing frame
# it did get (those come in the order they were made), and a message
# marker is awaited beside it where a block also wants the messages.
sub through {
    my ($c, $types, @wants) = @_;
    my @left = map { ref $_ ? $_ : SecureChat::Delivery::text_is($_) } @wants;
    my $end = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5);
    my @got;

    while (@left && (my $t = $end - time) > 0) {
        my $e = $c->next_event($t) // last;
        push @got, $e;
        @left = grep { !$_->($e) } @left;
        last if $e->{type} eq 'close' || $e->{type} eq 'eof';
    }

    my $r = only($c, \@got, @$types);
    push @$r, 'MISSING ' . scalar @left if @left;
    return $r;
}

# sends a typing frame: typing($c, ROOM), or typing($c, undef, RAW JSON)
sub typing {
    my ($c, $room, $raw) = @_;
    $raw //= $JSON->encode({ type => 'typing', room => $room });
    return $c->{ws}->send_text($raw);
}

# "user:true user:false ..." (name order) from GET /api/rooms/ROOM/members
# as $chat, or the status when it is not 200
sub online_marks {
    my ($chat, $room) = @_;
    my ($st, $doc) = SecureChat::Delivery::call($chat, 'GET', "/api/rooms/$room/members");
    return $st unless $st eq '200 ok';
    return join ' ', map { ($_->{user} // '-') . ':' . _bool($_->{online}) }
                     sort { ($a->{user} // '') cmp ($b->{user} // '') }
                     @{ $doc->{members} || [] };
}

# polls online_marks until it is $want, at most 5 seconds (30 under
# valgrind); returns the last answer
sub until_marks {
    my ($chat, $room, $want) = @_;
    my $end = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5);
    my $got;

    while (1) {
        $got = online_marks($chat, $room);
        return $got if $got eq $want || time > $end;
        sleep 0.05;
    }
}

# Waits (at most 5 seconds, 30 under valgrind) until
# GET /api/clients no longer lists any of the connection ids given, that
# is until the server has seen those sockets close; returns whether it did
sub wait_gone {
    my ($chat, @ids) = @_;
    my %want = map { $_ => 1 } @ids;
    my $end = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5);

    while (1) {
        my ($st, $doc) = SecureChat::Delivery::call($chat, 'GET', '/api/clients');
        return 1 if $st eq '200 ok'
                    && !grep { $want{ $_->{id} // '' } } @{ $doc->{clients} || [] };
        return 0 if time > $end;
        sleep 0.05;
    }
}

1;
