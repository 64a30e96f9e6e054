package SecureChat::WS;

# A raw WebSocket client for the tests (RFC 6455, client side): it can
# send any frame, well-formed or not, split at any byte, and reads what
# the server sends without interpreting it.  Pure client code: it knows
# nothing of the module.
#
#   my $ws = SecureChat::WS->connect(path => '/echo');
#   $ws->status == 101 or die $ws->body;
#   $ws->send_text('hi', split_every => 1);
#   my $f = $ws->read_message(2);        # {opcode, fin, rsv, masked, payload}
#   $ws->send_close(1000);
#   my ($code, $reason, $eof) = $ws->expect_close(2);

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use Socket qw(IPPROTO_TCP SOL_SOCKET SO_RCVBUF TCP_NODELAY);
use Time::HiRes qw(time sleep);

use Exporter 'import';
our @EXPORT_OK = qw(frame_bytes close_code close_reason ws_accept
                    OP_CONT OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG);

use constant { OP_CONT => 0, OP_TEXT => 1, OP_BINARY => 2, OP_CLOSE => 8,
               OP_PING => 9, OP_PONG => 10 };

# RFC 6455 section 1.3's example key, unless a test asks for another
my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

# pause between the pieces of a split write, so that the server sees them
# in separate reads
our $PIECE_DELAY = 0.002;


# Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2)
sub ws_accept {
    my ($key) = @_;
    require Digest::SHA;
    require MIME::Base64;
    return MIME::Base64::encode_base64(
        Digest::SHA::sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
}


sub _socket {
    my ($rcvbuf) = @_;
    my $sock = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!\n";
    # before connecting, so that the window is advertised small from the start
    setsockopt($sock, SOL_SOCKET, SO_RCVBUF, $rcvbuf) if $rcvbuf;
    return $sock;
}


# Sends the upgrade request and reads the answer's head (and, for a
# refusal, its body).  Options:
#   host (127.0.0.1), port (TEST_NGINX_SERVER_PORT, TEST_NGINX_PORT, 1984),
#   path (/), headers (hashref; a value of undef leaves a default header
#   out), raw_headers (text added verbatim, e.g. a repeated header), tls,
#   timeout (10 s), rcvbuf (SO_RCVBUF before connecting), key, version,
#   method (GET), http_version (1.1), body (sent after the head).
# Bytes that follow a 101 head are kept as frame input.
sub connect {
    my ($class, %o) = @_;
    my $port = $o{port} || $ENV{TEST_NGINX_SERVER_PORT}
               || $ENV{TEST_NGINX_PORT} || 1984;
    my $host = $o{host} // '127.0.0.1';
    my $self = bless { in => '', timeout => $o{timeout} // 10,
                       key => $o{key} // $KEY }, $class;

    my $addr = Socket::pack_sockaddr_in($port, Socket::inet_aton($host));
    my ($sock, $ok);

    for (1 .. 200) {    # nginx may still be starting (valgrind: seconds)
        $sock = _socket($o{rcvbuf});
        $ok = CORE::connect($sock, $addr) and last;
        sleep 0.05;
    }
    die "cannot connect to $host:$port: $!\n" unless $ok;

    # octet-wise writes must leave one by one, not wait for an ACK
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);

    if ($o{tls}) {
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($sock, SSL_verify_mode => 0,
                                   SSL_hostname => 'localhost')
            or die "TLS: " . IO::Socket::SSL::errstr() . "\n";
    }

    $self->{sock} = $sock;

    my %h = (Host => "localhost:$port", Upgrade => 'websocket',
             Connection => 'Upgrade',
             'Sec-WebSocket-Key' => $self->{key},
             'Sec-WebSocket-Version' => $o{version} // 13,
             %{ $o{headers} || {} });
    my $req = ($o{method} // 'GET') . ' ' . ($o{path} // '/')
              . ' HTTP/' . ($o{http_version} // '1.1') . "\r\n";
    $req .= "$_: $h{$_}\r\n" for grep { defined $h{$_} } sort keys %h;
    $req .= $o{raw_headers} // '';
    $req .= "\r\n" . ($o{body} // '');

    $self->send_raw($req);

    until ($self->{in} =~ /\r\n\r\n/) {
        $self->_fill($self->{timeout})
            or die "no answer to the upgrade request\n";
    }

    my ($head, $rest) = split /\r\n\r\n/, $self->{in}, 2;
    my ($status_line, @lines) = split /\r\n/, $head;
    ($self->{status}) = $status_line =~ m{^HTTP/1\.[01] (\d{3})}
        or die "bad status line: $status_line\n";
    $self->{status_line} = $status_line;
    $self->{head} = $head;
    $self->{in} = $rest;

    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $k = lc $k;
        # a repeated header is kept once per line in header_list
        push @{ $self->{header_list}{$k} }, $v;
        $self->{headers}{$k} = $v;
    }

    return $self if $self->{status} == 101;

    my $len = $self->{headers}{'content-length'};

    if (defined $len) {
        while (length $self->{in} < $len) {
            $self->_fill($self->{timeout}) or last;
        }
        $self->{body} = substr $self->{in}, 0, $len, '';

    } else {
        # no length: the body ends with the connection
        1 while $self->_fill($self->{timeout});
        $self->{body} = $self->{in};
        $self->{in} = '';
    }

    return $self;
}

sub status      { $_[0]{status} }
sub status_line { $_[0]{status_line} }
sub head        { $_[0]{head} }
sub headers     { $_[0]{headers} }
sub body        { $_[0]{body} }
sub sock        { $_[0]{sock} }
sub key         { $_[0]{key} }

# all the values of a header that may have been repeated
sub header_values { @{ $_[0]{header_list}{ lc $_[1] } || [] } }


# Reads what is there, waiting up to $timeout: 1 if bytes came, 0 on EOF
# (then ->{eof} is set; ->{reset} too for ECONNRESET) or on timeout.
sub _fill {
    my ($self, $timeout) = @_;
    my $sock = $self->{sock} or return 0;

    return 0 if $self->{eof};

    unless ($sock->can('pending') && $sock->pending) {
        return 0 unless IO::Select->new($sock)->can_read($timeout);
    }

    my $n = sysread $sock, my $buf, 65536;

    if (!defined $n) {
        # TLS: a record may not be complete yet
        return 1 if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
        $self->{reset} = 1 if $!{ECONNRESET};
        $self->{eof} = 1;
        return 0;
    }

    if ($n == 0) {
        $self->{eof} = 1;
        return 0;
    }

    $self->{in} .= $buf;
    return 1;
}


# Writes bytes.  Options: chunks => [sizes] (the rest goes in one piece
# after them), split_every => n, delay (seconds between pieces).  Returns
# 1, or 0 when the server has closed and the write failed.
sub send_raw {
    my ($self, $bytes, %o) = @_;
    my $sock = $self->{sock} or return 0;
    my @chunks = $o{chunks} ? @{ $o{chunks} } : ();
    my $every = $o{split_every};
    my $delay = $o{delay} // $PIECE_DELAY;
    my $split = $every || @chunks;

    local $SIG{PIPE} = 'IGNORE';

    while (length $bytes) {
        my $n = $every ? $every : @chunks ? shift @chunks : length $bytes;
        my $piece = substr $bytes, 0, $n, '';

        while (length $piece) {
            my $w = syswrite $sock, $piece;
            if (!defined $w) {
                next if $!{EINTR} || $!{EAGAIN};
                $self->{write_error} = "$!";
                return 0;
            }
            substr($piece, 0, $w, '');
        }

        sleep $delay if $split && length $bytes;
    }

    return 1;
}


# Encodes one client frame.  Options:
#   fin (1), rsv (0..7: RSV1 is 4, RSV2 2, RSV3 1), mask (1; 0 sends the
#   frame unmasked), mask_key (4 bytes; random by default),
#   len (the length to announce, which may lie), ext (the length field's
#   size in bytes: 0, 2 or 8, to force a non-minimal or 64-bit encoding).
# A len of 2**63 or more sets the 64-bit length's top bit.
sub frame_bytes {
    my ($opcode, $payload, %o) = @_;

    # bytes on the wire: a character string (JSON::PP's, say) is taken as
    # Latin-1 if it can be, else as UTF-8; TLS would otherwise send Perl's
    # internal representation
    if (utf8::is_utf8($payload) && !utf8::downgrade($payload, 1)) {
        utf8::encode($payload);
    }

    $payload //= '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $len = $o{len} // length $payload;
    my $ext = $o{ext} // ($len < 126 ? 0 : $len <= 0xffff ? 2 : 8);
    my $b = pack 'C', ($fin ? 0x80 : 0) | (($o{rsv} // 0) << 4)
                      | ($opcode & 0x0f);
    my $mbit = $mask ? 0x80 : 0;

    if ($ext == 0) {
        $b .= pack 'C', $mbit | ($len & 0x7f);
    } elsif ($ext == 2) {
        $b .= pack 'Cn', $mbit | 126, $len;
    } else {
        $b .= pack 'CQ>', $mbit | 127, $len;
    }

    return $b . $payload unless $mask;

    my $key = $o{mask_key} // pack 'N', int rand 2**32;

    return $b . $key . _mask($payload, $key);
}

sub _mask {
    my ($payload, $key) = @_;
    my $n = length $payload;
    return $payload ^ substr($key x (int($n / 4) + 1), 0, $n);
}


# send_frame(opcode, payload, %o): frame_bytes' options plus send_raw's
sub send_frame {
    my ($self, $opcode, $payload, %o) = @_;
    return $self->send_raw(frame_bytes($opcode, $payload, %o), %o);
}

sub send_text   { my $s = shift; $s->send_frame(OP_TEXT, @_) }
sub send_binary { my $s = shift; $s->send_frame(OP_BINARY, @_) }
sub send_ping   { my $s = shift; $s->send_frame(OP_PING, @_) }
sub send_pong   { my $s = shift; $s->send_frame(OP_PONG, @_) }

# send_close() sends an empty close body; send_close(code, reason, %o)
sub send_close {
    my ($self, $code, $reason, %o) = @_;
    my $body = defined $code ? pack('n', $code) . ($reason // '') : '';
    return $self->send_frame(OP_CLOSE, $body, %o);
}


# One server frame: {opcode, fin, rsv, masked, payload}; {eof => 1} once
# the server has closed TCP (and every whole frame before that was read);
# undef after timeout seconds.
sub read_frame {
    my ($self, $timeout) = @_;
    my $end = time + ($timeout // $self->{timeout});

    for ( ;; ) {
        my $f = $self->_parse;
        return $f if $f;
        return { eof => 1, reset => $self->{reset} ? 1 : 0,
                 partial => length $self->{in} } if $self->{eof};
        my $left = $end - time;
        return undef if $left <= 0;
        $self->_fill($left) or ($self->{eof} ? next : return undef);
    }
}

sub _parse {
    my ($self) = @_;
    my $in = \$self->{in};

    return undef if length $$in < 2;

    my ($b0, $b1) = unpack 'CC', $$in;
    my $len = $b1 & 0x7f;
    my $off = 2;

    if ($len == 126) {
        return undef if length $$in < 4;
        $len = unpack 'n', substr $$in, 2, 2;
        $off = 4;
    } elsif ($len == 127) {
        return undef if length $$in < 10;
        $len = unpack 'Q>', substr $$in, 2, 8;
        $off = 10;
    }

    my $masked = $b1 & 0x80;
    my $key;
    if ($masked) {
        return undef if length $$in < $off + 4;
        $key = substr $$in, $off, 4;
        $off += 4;
    }

    return undef if length $$in < $off + $len;

    my $payload = substr $$in, $off, $len;
    substr($$in, 0, $off + $len, '');

    $payload = _mask($payload, $key) if $masked;

    return { opcode => $b0 & 0x0f, fin => $b0 >> 7, rsv => ($b0 >> 4) & 7,
             masked => $masked ? 1 : 0, payload => $payload,
             ext => $off - ($masked ? 6 : 2) };
}


# A whole message, its fragments joined ({opcode, fin => 1, payload,
# frames => n, masked/rsv if any frame had them}), or a control frame as
# it comes (a message being reassembled survives it), {eof => 1}, or
# undef after timeout seconds.  A continuation without a message to
# continue, or a new message inside one, comes back as
# {error => 'fragmentation', frame => $f}.
sub read_message {
    my ($self, $timeout) = @_;
    my $end = time + ($timeout // $self->{timeout});

    for ( ;; ) {
        my $f = $self->read_frame($end - time);
        return $f if !defined $f || $f->{eof} || $f->{opcode} >= 8;

        my $msg = $self->{partial};

        if ($f->{opcode} == OP_CONT) {
            return { error => 'fragmentation', frame => $f } unless $msg;
            $msg->{payload} .= $f->{payload};
            $msg->{frames}++;
            $msg->{masked} ||= $f->{masked};
            $msg->{rsv} ||= $f->{rsv};

        } else {
            return { error => 'fragmentation', frame => $f } if $msg;
            $msg = $self->{partial} = { %$f, frames => 1 };
        }

        if ($f->{fin}) {
            delete $self->{partial};
            $msg->{fin} = 1;
            return $msg;
        }
    }
}


# close_code($frame), or $ws->close_code($frame)
sub close_code {
    shift if ref $_[0] && eval { $_[0]->isa(__PACKAGE__) };
    my ($f) = @_;
    return length($f->{payload}) >= 2 ? unpack('n', $f->{payload}) : undef;
}

sub close_reason {
    shift if ref $_[0] && eval { $_[0]->isa(__PACKAGE__) };
    my ($f) = @_;
    return length($f->{payload}) > 2 ? substr($f->{payload}, 2) : '';
}


# Reads until a close frame, then until EOF: (code, reason, got_eof).
# code is undef if no close frame came (or it had an empty body).
sub expect_close {
    my ($self, $timeout) = @_;
    my $end = time + ($timeout // $self->{timeout});
    my ($code, $reason, $seen);

    for ( ;; ) {
        my $f = $self->read_frame($end - time) // last;
        return ($code, $reason, 1) if $f->{eof};
        if ($f->{opcode} == OP_CLOSE && !$seen) {
            ($seen, $code, $reason) = (1, close_code($f), close_reason($f));
        }
    }

    return ($code, $reason, 0);
}


sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    delete $self->{sock};
    return;
}

1;
