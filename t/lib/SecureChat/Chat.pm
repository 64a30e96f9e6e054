package SecureChat::Chat;

# A chat client for the tests, as docs/PROTOCOL.md section 10 describes
# one: logs in with an RSA key, opens /api/connect, verifies the hello and
# every envelope with the server key from GET /api/, unwraps and decrypts
# (SecureChat::Envelope, CryptX: no code shared with the module), and
# seals chat frames.  Framing is SecureChat::WS.

use strict;
use warnings;

use JSON::PP ();
use Crypt::AuthEnc::GCM qw(gcm_encrypt_authenticate);
use Crypt::Misc qw(encode_b64u);
use Crypt::PK::Ed25519;
use Crypt::PK::RSA;
use Crypt::PRNG qw(random_bytes);
use Time::HiRes qw(time);

use SecureChat::Envelope qw(:all);
use SecureChat::Test ();
use SecureChat::WS;

our $JSON = JSON::PP->new->canonical(1);

# in the suite's default allowlist, whatever port the server listens on
our $Origin = 'https://chat.example.com';

# see next_event(): whether connections hand out presence and typing
our $Notices = 0;


# the server's signing key, as a client learns it
sub server_key {
    my ($status, undef, $body) = SecureChat::Test::http_request('GET',
                                                                '/api/');
    die "GET /api/: $status\n" unless $status == 200;

    my $k = $JSON->decode($body)->{signing_key};
    my $pem = $k->{pem};
    my $pk = $k->{alg} eq 'Ed25519' ? Crypt::PK::Ed25519->new(\$pem)
                                    : Crypt::PK::RSA->new(\$pem);

    return { pk => $pk, alg => $k->{alg}, key_id => $k->{key_id} };
}


# logs in with the fixture key pair $key (client-rsa2048 by default)
sub login {
    my ($class, $user, $password, %o) = @_;
    my $key = $o{key} // 'client-rsa2048';
    my $fx = $ENV{TEST_NGINX_FIXTURES};

    my ($status, $h, $body) = SecureChat::Test::http_request('POST',
        '/api/login', { 'Content-Type' => 'application/json' },
        $JSON->encode({ username => $user, password => $password,
                        public_key => SecureChat::Test::fixture("$key.pub")
                                      . "\n" }));

    die "login as $user: $status $body\n" unless $status == 200;

    my ($cookie) = ($h->{'set-cookie'} // '') =~ /^sc_session=([^;]+)/;
    my $d = $JSON->decode($body);

    return bless {
        user => $user, cookie => $cookie, csrf => $d->{csrf_token},
        client_key_id => $d->{client_key_id},
        priv => Crypt::PK::RSA->new("$fx/$key.key"),
        server => $o{server} // server_key(),
    }, $class;
}


sub post_chat {
    my ($self, $text) = @_;

    my ($status, undef, $body) = SecureChat::Test::http_request('POST',
        '/api/chat',
        { 'Content-Type' => 'application/json',
          'Cookie' => "sc_session=$self->{cookie}",
          'X-CSRF-Token' => $self->{csrf} },
        $JSON->encode({ message => $text }));

    return $status == 202 && $body =~ /"id":(\d+)/ ? $1 : undef;
}


sub api {
    my ($self, $method, $uri, $body) = @_;
    my %h = ('Cookie' => "sc_session=$self->{cookie}");

    if ($method eq 'POST') {
        $h{'Content-Type'} = 'application/json';
        $h{'X-CSRF-Token'} = $self->{csrf};
    }

    my ($status, undef, $rbody) = SecureChat::Test::http_request($method,
                                                          $uri, \%h, $body);
    return ($status, $rbody);
}


# Opens a WebSocket; returns a connection (a hash) whose hello verified,
# or dies.  last_id: resume after that id; epoch: of the history it counts
# in.  The connection keeps the parsed hello (hello) and its epoch.
sub connect {
    my ($self, %o) = @_;
    # resume => 'ROOM:ID,...' (docs/PROTOCOL.md, section 5)
    my @q = ((defined $o{last_id} ? "last_id=$o{last_id}" : ()),
             (defined $o{resume} ? "resume=$o{resume}" : ()),
             (defined $o{epoch} ? "epoch=$o{epoch}" : ()));
    my $path = '/api/connect' . (@q ? '?' . join('&', @q) : '');

    my $ws = SecureChat::WS->connect(
        path => $path, tls => $o{tls}, port => $o{port}, rcvbuf => $o{rcvbuf},
        headers => { Cookie => ($o{tls} ? '__Host-' : '')
                               . "sc_session=$self->{cookie}",
                     Origin => $Origin });

    die "connect: " . $ws->status . "\n" unless $ws->status == 101;

    my $f = $ws->read_message(10)
        or die "connect: no hello\n";
    my $h = $JSON->decode($f->{payload});
    my $srv = $self->{server};

    die "connect: not a hello\n"
        unless $h->{type} eq 'hello' && $h->{v} == 2
               && $h->{server_key_id} eq $srv->{key_id}
               && $h->{client_key_id} eq $self->{client_key_id}
               && $h->{sig_alg} eq $srv->{alg}
               && $h->{wrap_alg} eq 'RSA-OAEP-SHA256';

    my $wrapped = b64d($h->{wrapped_sk});

    die "connect: hello signature\n"
        unless sig_ok($srv->{pk}, $srv->{alg}, hello_tbs($h, $wrapped),
                      b64d($h->{sig}));

    my $sk = oaep_decrypt($self->{priv}, $wrapped)
        or die "connect: SK does not unwrap\n";

    my ($wrap, $chat) = session_keys($sk);

    return bless { ws => $ws, chat => $self, conn => $h->{conn},
                   wrap => $wrap, chat_key => $chat, n => 0,
                   hello => $h, epoch => $h->{epoch} },
                 'SecureChat::Chat::Connection';
}


# Opens $n connections, taking turns among @chats, so that both worker
# processes of a master_on() server hold some: where a connection lands is
# the kernel's choice, so the oldest is closed and another opened until
# they are spread (at most 40 tries).
sub spread_connect {
    my ($n, @chats) = @_;
    my @conns;

    for my $try (1 .. 40) {
        push @conns, $chats[$try % @chats]->connect;
        next if @conns < $n;

        my %w = map { (SecureChat::Test::worker_of($_->{ws}->sock) // 0) => 1 }
                @conns;
        delete $w{0};
        return @conns if keys %w >= 2;

        (shift @conns)->{ws}->close;
    }

    die "could not place clients in both workers\n";
}


# -- one WebSocket connection, its hello verified ---------------------------

package SecureChat::Chat::Connection;

use Crypt::AuthEnc::GCM qw(gcm_encrypt_authenticate);
use Crypt::Misc qw(encode_b64u);
use Crypt::PRNG qw(random_bytes);
use Time::HiRes qw(time);

use SecureChat::Envelope qw(:all);


# The next thing the server says: {type => message, id, room, sender,
# text, ok}
# (ok: verified, unwrapped and decrypted, else rc names the step that
# failed), a gap or error frame as decoded, {type => close, code, reason},
# {type => eof}, or undef after timeout seconds.
sub next_event {
    my ($c, $timeout) = @_;
    my $f = $c->{ws}->read_message($timeout // 10);

    return undef unless defined $f;
    return { type => 'eof' } if $f->{eof};

    if ($f->{opcode} == 8) {
        return { type => 'close', code => SecureChat::WS::close_code($f),
                 reason => SecureChat::WS::close_reason($f) };
    }

    return $c->next_event($timeout) if $f->{opcode} == 9 || $f->{opcode} == 10;

    my $m = eval { $SecureChat::Chat::JSON->decode($f->{payload}) }
        or return { type => 'garbage', payload => $f->{payload} };

    # presence and typing notices come whenever sockets open or someone
    # types: a test of them sets $c->{notices} (or $Notices for all its
    # connections); the others never see them
    if (($m->{type} eq 'presence' || $m->{type} eq 'typing')
        && !$c->{notices} && !$SecureChat::Chat::Notices) {
        push @{ $c->{skipped} }, $m;
        return $c->next_event($timeout);
    }

    if ($m->{type} eq 'event') {
        # signed like a message: one that does not verify is not an event
        my $srv = $c->{chat}{server};
        my $ok = eval {
            $m->{v} == 2 && $m->{epoch} eq $c->{epoch}
            && SecureChat::Envelope::sig_ok($srv->{pk}, $srv->{alg},
                   SecureChat::Envelope::event_tbs($m, $srv->{key_id}),
                   SecureChat::Envelope::b64d($m->{sig}))
        };
        return $ok ? $m : { %$m, type => 'bad_event' };
    }

    return $m unless $m->{type} eq 'message';

    # kept so that tests can try another connection's key on it
    $c->{last_frame} = $f->{payload};

    my $srv = $c->{chat}{server};
    my ($rc, $pt, undef, $b) = SecureChat::Envelope::open_message($srv->{pk}, $srv->{alg},
                                            $f->{payload}, $c->{wrap});
    my $hdr = $rc eq 'ok' ? parse_header($b->{hdr}) : undef;

    # the frame's copies must agree with the header, whose epoch is the
    # history's the hello named
    return { type => 'message', id => $m->{id}, rc => ($rc eq 'ok' ? 'header' : $rc),
             ok => 0 }
        unless $hdr && $hdr->{v} == 2 && $hdr->{id} == $m->{id}
               && $m->{v} == 2
               && defined $m->{room} && $hdr->{room} eq $m->{room}
               && defined $m->{epoch} && $hdr->{epoch} eq $m->{epoch}
               && $hdr->{epoch} eq $c->{epoch};

    return { type => 'message', id => $hdr->{id}, room => $hdr->{room},
             sender => $hdr->{sender}, text => $pt, ok => 1, rc => $rc };
}


# Reads until $count messages came (or a close, or timeout seconds in
# all); returns them, and the other events seen, as array refs.
sub collect {
    my ($c, $count, $timeout) = @_;
    my (@msgs, @other);
    my $end = time + ($timeout // 20);

    while (@msgs < $count) {
        my $left = $end - time;
        last if $left <= 0;
        my $e = $c->next_event($left) // last;
        if ($e->{type} eq 'message') {
            push @msgs, $e;
        } else {
            push @other, $e;
            last if $e->{type} eq 'close' || $e->{type} eq 'eof';
        }
    }

    return (\@msgs, \@other);
}


# a chat frame (PROTOCOL.md section 8) under the connection's chat key;
# room: general unless given
sub send_chat {
    my ($c, $text, %o) = @_;
    $c->{ws}->send_raw($c->chat_frame($text, %o));
    return;
}

# the bytes of a chat frame, masked, to send later or many in one write
sub chat_frame {
    my ($c, $text, %o) = @_;
    my $n = $o{n} // ++$c->{n};
    my $room = $o{room} // 'general';
    my $iv = random_bytes(12);
    my ($ct, $tag) = gcm_encrypt_authenticate('AES', $c->{chat_key}, $iv,
                                              chat_aad($c->{conn}, $room, $n),
                                              $text);

    return SecureChat::WS::frame_bytes(SecureChat::WS::OP_TEXT(),
        $SecureChat::Chat::JSON->encode({ type => 'chat', room => $room,
                                          n => $n,
                                          iv => encode_b64u($iv),
                                          ct => encode_b64u($ct),
                                          tag => encode_b64u($tag) }));
}

1;
