# Chat frames the server refuses (docs/PROTOCOL.md section 8): each
# refusal is answered with an error frame that a strict JSON parser reads,
# carrying the documented code, then a close with 1008; an empty message
# and one with control characters get their error frame and the connection
# stays open.  Error frames are JSON whatever the client sent.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
use SecureChat::Chat;

use JSON::PP ();
use Crypt::AuthEnc::GCM qw(gcm_encrypt_authenticate);
use Crypt::Misc qw(encode_b64u);
use Crypt::PRNG qw(random_bytes);
use SecureChat::Envelope qw(chat_aad flip);

securechat_defaults();

no_shuffle();

# texts longer than 32 bytes are too long
our $Small = $HttpConfig . <<'_EOC_';
    securechat_message_max      32;
    securechat_user_connections 64;
_EOC_

our $Routes = $ApiConfig . <<'_EOC_';
    location = /api/connect { securechat connect; }
_EOC_

# strict: no trailing data, no bare control characters, valid escapes
our $Strict = JSON::PP->new->utf8;

# The members of a chat frame for $text under the connection's chat key,
# as base64url strings (n as a number); %o: n, iv (raw bytes), room
# (general by default), text_raw (bytes sealed as they are).
sub chat_members {
    my ($c, $text, %o) = @_;
    my $n = $o{n} // ++$c->{n};
    my $room = $o{room} // 'general';
    my $iv = $o{iv} // random_bytes(12);
    my ($ct, $tag) = gcm_encrypt_authenticate('AES', $c->{chat_key}, $iv,
                                              chat_aad($c->{conn}, $room, $n),
                                              $text);
    return { type => 'chat', room => $room, n => $n, iv => encode_b64u($iv),
             ct => encode_b64u($ct), tag => encode_b64u($tag) };
}

sub frame_text {
    return JSON::PP->new->canonical->encode($_[0]);
}

# Reads what the server says after a refused frame, until TCP closes or
# $timeout seconds pass: the text frames (each {json} when it parsed,
# else {raw}), the close code and reason, and whether TCP closed.
sub outcome {
    my ($c, $timeout, $until_close) = @_;
    my (@texts, $code, $reason, $eof);
    my $end = Time::HiRes::time() + ($timeout // 10);

    while ((my $left = $end - Time::HiRes::time()) > 0) {
        my $f = $c->{ws}->read_message($left) // last;
        if ($f->{eof}) { $eof = 1; last }
        if ($f->{opcode} == 8) {
            $code = SecureChat::WS::close_code($f);
            $reason = SecureChat::WS::close_reason($f);
            next;
        }
        next unless $f->{opcode} == 1;
        my $j = eval { $Strict->decode($f->{payload}) };
        push @texts, $j ? { json => $j } : { raw => $f->{payload} };
        last if !$until_close && $j && ($j->{type} // '') ne 'message';
    }

    return { texts => \@texts, code => $code, reason => $reason,
             eof => $eof };
}

# exactly one error frame, valid JSON, {type, code, message} with $code
sub error_frame_ok {
    my ($name, $o, $code) = @_;
    my @t = @{ $o->{texts} };
    my $j = @t == 1 ? $t[0]{json} : undef;

    Test::More::ok($j && join(',', sort keys %$j) eq 'code,message,type'
                   && $j->{type} eq 'error' && $j->{code} eq $code
                   && !ref $j->{message} && length $j->{message},
                   "$name: one error frame, valid JSON, code $code")
        or Test::More::diag(explain_texts(@t));
}

sub explain_texts {
    return join "\n", map { $_->{raw} // frame_text($_->{json}) } @_;
}

# the refusals of PROTOCOL.md section 8 that close the connection: a name,
# the frame to send (from a connection), the code expected
our @Closing = (
    [ 'not JSON', sub { 'chat please' }, 'bad_json' ],
    [ 'two JSON values', sub { frame_text(chat_members($_[0], 'hi')) . '{}' },
      'bad_json' ],
    [ 'an array', sub { '[1,2]' }, 'bad_json' ],
    [ 'a duplicate member',
      sub { my $t = frame_text(chat_members($_[0], 'hi'));
            $t =~ s/^\{/{"n":1,/; $t }, 'bad_json' ],
    [ 'quotes, backslashes and control characters in broken JSON',
      sub { qq({"type":"chat","ct":"say \\"hi\\" \\\\ \x01\x1f\x7f \\q) },
      'bad_json' ],
    [ 'a member too many',
      sub { my $m = chat_members($_[0], 'hi'); $m->{x} = 1; frame_text($m) },
      'bad_field' ],
    [ 'a member missing',
      sub { my $m = chat_members($_[0], 'hi'); delete $m->{tag};
            frame_text($m) }, 'bad_field' ],
    [ 'type is not chat',
      sub { my $m = chat_members($_[0], 'hi'); $m->{type} = 'chat "x"';
            frame_text($m) }, 'bad_field' ],
    [ 'n is a string',
      sub { my $m = chat_members($_[0], 'hi'); $m->{n} = '1';
            frame_text($m) }, 'bad_field' ],
    [ 'n is 0', sub { frame_text(chat_members($_[0], 'hi', n => 0)) },
      'bad_field' ],
    [ 'the room missing',
      sub { my $m = chat_members($_[0], 'hi'); delete $m->{room};
            frame_text($m) }, 'bad_field' ],
    [ 'the room not a string',
      sub { my $m = chat_members($_[0], 'hi'); $m->{room} = ['general'];
            frame_text($m) }, 'bad_field' ],
    [ 'the room not a room name',
      sub { frame_text(chat_members($_[0], 'hi', room => 'General')) },
      'bad_field' ],
    [ 'iv in standard base64',
      sub { my $m = chat_members($_[0], 'hi'); substr($m->{iv}, 5, 1) = '/';
            frame_text($m) }, 'bad_base64' ],
    [ 'ct in standard base64',
      sub { my $m = chat_members($_[0], 'hi'); substr($m->{ct}, 0, 1) = '+';
            frame_text($m) }, 'bad_base64' ],
    [ 'an 8-byte iv',
      sub { frame_text(chat_members($_[0], 'hi', iv => random_bytes(8))) },
      'bad_length' ],
    [ 'a 15-byte tag',
      sub { my $m = chat_members($_[0], 'hi');
            my $tag = substr(SecureChat::Envelope::b64d($m->{tag}), 0, 15);
            $m->{tag} = encode_b64u($tag);
            frame_text($m) }, 'bad_length' ],
    [ 'a text of 33 bytes (the limit is 32)',
      sub { frame_text(chat_members($_[0], 'x' x 33)) }, 'too_long' ],
    [ 'a text far over the limit',
      sub { frame_text(chat_members($_[0], 'x' x 3000)) }, 'too_long' ],
    [ 'counter 2 first', sub { frame_text(chat_members($_[0], 'hi', n => 2)) },
      'bad_counter' ],
    [ 'a tampered tag',
      sub { my $m = chat_members($_[0], 'hi');
            $m->{tag} = encode_b64u(flip(
                SecureChat::Envelope::b64d($m->{tag}), 30));
            frame_text($m) }, 'bad_tag' ],
    [ 'sealed for another room',
      sub { my $m = chat_members($_[0], 'hi', room => 'lobby');
            $m->{room} = 'general'; frame_text($m) }, 'bad_tag' ],
    [ 'sealed under another counter',
      sub { my $m = chat_members($_[0], 'hi', n => 7); $m->{n} = 1;
            frame_text($m) }, 'bad_tag' ],
    [ 'a text that is not UTF-8',
      sub { frame_text(chat_members($_[0], "caf\xe9 \"\\\"")) }, 'bad_utf8' ],
);

run_tests();

__DATA__

=== TEST 1: every refusal that closes: a valid JSON error frame with its code, then close 1008 and TCP closed
--- http_config eval: $::Small
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
for my $case (@::Closing) {
    my ($name, $make, $want) = @$case;
    my $c = $alice->connect;
    $c->{ws}->send_text($make->($c));
    my $o = main::outcome($c, 10, 1);
    main::error_frame_ok($name, $o, $want);
    Test::More::ok(($o->{code} // 0) == 1008 && $o->{eof},
                   "$name: then close 1008 and TCP closed")
        or Test::More::diag('close ' . ($o->{code} // 'none') . ' '
                            . ($o->{reason} // ''));
    $c->{ws}->close;
}
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- error_log
chat frame refused: bad_json
chat frame refused: bad_field
chat frame refused: bad_base64
chat frame refused: bad_length
chat frame refused: too_long
chat frame refused: bad_counter
chat frame refused: bad_tag
--- no_error_log
[error]
[alert]



=== TEST 2: an empty message, control characters, a room one may not post in: a valid JSON error frame, and the connection stays open (the counter was used)
--- http_config eval: $::Small
--- config eval: $::Routes
--- init
my $alice = SecureChat::Chat->login('alice', 'alice-password');
my @cases = (
    [ 'an empty text', '', 'empty_message' ],
    [ 'blanks only', " \t\n ", 'empty_message' ],
    [ 'a control character', "a\x01b", 'bad_characters' ],
    [ 'quotes, a backslash, DEL and ESC', "say \"hi\" \\ \x7f\x1b[0m",
      'bad_characters' ],
    # the room's rules, as for POST /api/chat
    [ 'a room that does not exist', 'hello lobby', 'no_such_room', 'lobby' ],
    [ 'a direct room of others', 'hello you', 'no_such_room',
      'dm-' . ('0' x 40) ],
);
my $c = $alice->connect;
my $k = 0;
for my $case (@cases) {
    my ($name, $text, $want, $room) = @$case;
    $c->{ws}->send_text(main::frame_text(main::chat_members($c, $text,
                                                      room => $room)));
    my $o = main::outcome($c, 10, 0);
    main::error_frame_ok($name, $o, $want);
    Test::More::ok(!defined $o->{code} && !$o->{eof},
                   "$name: the connection stays open");
    # the next counter is accepted: the refused frame used its own
    $k++;
    $c->send_chat("still here $k");
    my ($m, $other) = $c->collect(1, 10);
    Test::More::ok(@$m == 1 && $m->[0]{ok} && $m->[0]{text} eq "still here $k",
                   "$name: the next frame is published")
        or Test::More::diag(Test::More::explain($other));
}
$c->{ws}->close;
SecureChat::Test::expand_block($block);
--- request
GET /api/
--- error_code: 200
--- no_error_log
[error]
[alert]
