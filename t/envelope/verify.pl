#!/usr/bin/perl

# Checks the securechat v2 envelope (docs/PROTOCOL.md) with an
# implementation that is not the module's: Perl's CryptX (Debian
# libcryptx-perl), plus RFC 3394 key wrap written here on CryptX's AES
# (CryptX 0.077 has no key-wrap module).  Every byte string that is signed
# or authenticated is rebuilt here from the layout in PROTOCOL.md.
#
#   1. docs/vectors.json: every value recomputed and compared.
#   2. live output of tools/securechat-vectors for keys CryptX generates
#      (an Ed25519 and an RSA-2048 server key, two RSA-2048 clients):
#      signatures verify; each client unwraps its SK and its CEKs and not
#      the other's; a flipped bit anywhere fails; no CEK or IV repeats.
#   3. client chat frames sealed here, opened by the module's parser.
#
# Environment: SECURECHAT_VECTORS (the tool), SECURECHAT_VECTORS_JSON
# (docs/vectors.json); both default to paths in this checkout.  TAP out.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

use Crypt::AuthEnc::GCM qw(gcm_encrypt_authenticate gcm_decrypt_verify);
use Crypt::Cipher::AES;
use Crypt::Digest::SHA256 qw(sha256);
use Crypt::KeyDerivation qw(hkdf);
use Crypt::Misc qw(encode_b64u decode_b64u der_to_pem);
use Crypt::PK::Ed25519;
use Crypt::PK::RSA;
use Crypt::PRNG qw(random_bytes);

my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
my $tool = $ENV{SECURECHAT_VECTORS} // "$root/build/bin/securechat-vectors";
my $vectors_json = $ENV{SECURECHAT_VECTORS_JSON}
    // "$root/docs/vectors.json";

my $TEXT = "h\xc3\xa9llo, w\xc3\xb6rld \xf0\x9f\x91\x8b";    # UTF-8 bytes
my $JSON = JSON::PP->new->canonical(0);


# -- the protocol's building blocks: t/lib/SecureChat/Envelope.pm ------

use FindBin ();
use lib "$FindBin::Bin/../lib";
use SecureChat::Envelope qw(:all);


sub tool {
    my (@args) = @_;
    my $out;

    open(my $fh, '-|', $tool, @args) or die "cannot run $tool: $!\n";
    { local $/; $out = <$fh>; }
    close($fh) or die "$tool @args failed: $?\n";

    return $out;
}


# -- 0. the key wrap written here, against RFC 3394 section 4.6 ----------

{
    my $kek = pack('H*', '000102030405060708090A0B0C0D0E0F'
                         . '101112131415161718191A1B1C1D1E1F');
    my $key = pack('H*', '00112233445566778899AABBCCDDEEFF'
                         . '000102030405060708090A0B0C0D0E0F');
    my $want = pack('H*', '28C9F404C4B810F4CBCCB35CFB87F826'
                          . '3F5786E2D80ED326CBC7F0E71A99F43B'
                          . 'FB988B9B7A02DD21');

    is(kw_wrap($kek, $key), $want, 'RFC 3394 4.6: wrap');
    is(kw_unwrap($kek, $want), $key, 'RFC 3394 4.6: unwrap');
    is(kw_unwrap($kek, flip($want, 77)), undef,
       'RFC 3394: a flipped bit does not unwrap');
}


# -- 1. the committed vectors ---------------------------------------------

{
    open(my $fh, '<:raw', $vectors_json) or die "$vectors_json: $!\n";
    my $v = JSON::PP->new->utf8->decode(do { local $/; <$fh> });
    close($fh);

    my (%pub, %priv, %alg, %id);

    for my $name (qw(server_ed25519 server_rsa client_a client_b)) {
        my $k = $v->{keys}{$name};
        my $class = $name eq 'server_ed25519' ? 'Crypt::PK::Ed25519'
                                              : 'Crypt::PK::RSA';
        my $pk = $class->new(\$k->{private_pem});
        my $pub = $class->new(\$k->{public_pem});

        is(key_id($pk), $k->{key_id}, "vectors: $name key id");
        is(key_id($pub), $k->{key_id}, "vectors: $name public PEM");

        $priv{$name} = $pk;
        $pub{$name} = $pub;
        $id{$name} = $k->{key_id};
        $alg{$name} = $k->{alg};
    }

    is($alg{server_ed25519}, 'Ed25519', 'vectors: Ed25519 alg name');
    is($alg{server_rsa}, 'RSA-PSS-SHA256', 'vectors: RSA alg name');

    my %session;

    for my $s (@{ $v->{sessions} }) {
        my $c = $s->{client};
        my $sk = oaep_decrypt($priv{"client_$c"}, b64d($s->{wrapped_sk}));
        my $other = $c eq 'a' ? 'b' : 'a';

        is($sk, b64d($s->{sk}), "vectors: client $c unwraps its SK");
        is(oaep_decrypt($priv{"client_$other"}, b64d($s->{wrapped_sk})),
           undef, "vectors: client $other cannot unwrap \${c}'s SK");

        my ($wk, $ck) = session_keys($sk);
        is(encode_b64u($wk), $s->{wrap_key}, "vectors: $c wrap key (HKDF)");
        is(encode_b64u($ck), $s->{chat_key}, "vectors: $c chat key (HKDF)");

        $session{$c} = { %$s, wrap_raw => $wk, chat_raw => $ck };
    }

    for my $h (@{ $v->{hello} }) {
        my $t = "vectors: hello $h->{server} -> $h->{client}";
        my $s = $session{ $h->{client} };
        my %f = (conn => $h->{conn}, ts => $h->{ts},
                 epoch => $h->{epoch},
                 server_key_id => $id{ $h->{server} },
                 client_key_id => $id{"client_$h->{client}"},
                 sig_alg => $alg{ $h->{server} },
                 wrapped_sk => $s->{wrapped_sk});
        my $tbs = hello_tbs(\%f, b64d($s->{wrapped_sk}));

        is(encode_b64u($tbs), $h->{signed}, "$t: signed bytes");

        if ($h->{server} eq 'server_ed25519') {
            my $sig = $priv{server_ed25519}->sign_message($tbs);

            $f{sig} = encode_b64u($sig);
            ok(sig_ok($pub{server_ed25519}, 'Ed25519', $tbs, $sig),
               "$t: signature");
            is($h->{frame}, hello_text(\%f), "$t: frame, byte for byte");

        } else {
            ok(!exists $h->{frame}, "$t: no randomized frame in vectors");
            my $sig = $priv{server_rsa}->sign_message($tbs, 'SHA256', 'pss',
                                                      32);
            ok(sig_ok($pub{server_rsa}, 'RSA-PSS-SHA256', $tbs, $sig),
               "$t: RSA-PSS round trip over the signed bytes");
        }
    }

    for my $m (@{ $v->{message} }) {
        my $t = "vectors: message $m->{server}";
        my $hdr = header_bytes(id => $m->{id}, ts => $m->{ts},
                               epoch => $m->{epoch}, room => $m->{room},
                               sender => $m->{sender},
                               server_key_id => $id{ $m->{server} },
                               sig_alg => $alg{ $m->{server} });
        my $cek = b64d($m->{cek});
        my $iv = b64d($m->{iv});

        is(encode_b64u($hdr), $m->{hdr}, "$t: header bytes");
        is($m->{epoch}, '0123456789abcdef', "$t: the hello's epoch");
        is($m->{room}, 'general', "$t: room");
        is($m->{text}, "h\x{e9}llo, w\x{f6}rld \x{1f44b}", "$t: text");

        my ($ct, $tag) = gcm_encrypt_authenticate('AES', $cek, $iv, $hdr,
                                                  $TEXT);
        is(encode_b64u($ct), $m->{ct}, "$t: ciphertext");
        is(encode_b64u($tag), $m->{tag}, "$t: tag");

        my $tbs = message_tbs($hdr, $iv, $ct, $tag);
        is(encode_b64u($tbs), $m->{signed}, "$t: signed bytes");

        for my $r (@{ $m->{recipients} }) {
            my $wk = kw_wrap($session{ $r->{client} }{wrap_raw}, $cek);

            is(encode_b64u($wk), $r->{wk}, "$t: wrapped CEK for $r->{client}");

            next unless $m->{server} eq 'server_ed25519';

            my $sig = $priv{server_ed25519}->sign_message($tbs);
            my %f = (%$m, sig => encode_b64u($sig), wk => $r->{wk});

            is($r->{frame}, message_text(\%f),
               "$t: frame for $r->{client}, byte for byte");

            my ($st, $pt) = open_message($pub{server_ed25519}, 'Ed25519',
                                         $r->{frame},
                                         $session{ $r->{client} }{wrap_raw});
            is($st, 'ok', "$t: $r->{client} opens its frame");
            is($pt, $TEXT, "$t: $r->{client} reads the text");
        }
    }

    # PROTOCOL.md quotes three frames: they must be the current ones
    open(my $doc, '<:raw', "$root/docs/PROTOCOL.md") or die "PROTOCOL.md: $!";
    my $protocol = do { local $/; <$doc> };
    close($doc);

    ok(index($protocol, $v->{message}[0]{recipients}[0]{frame}) >= 0,
       'PROTOCOL.md quotes the Ed25519 message frame exactly');
    ok(index($protocol, $v->{chat}[0]{frame}) >= 0,
       'PROTOCOL.md quotes the chat frame exactly');
    ok(index($protocol, $v->{event}[0]{frame}) >= 0,
       'PROTOCOL.md quotes the Ed25519 event frame exactly');

    # room events: the signed bytes from the members, the Ed25519 frame's
    # signature, and every member of the frame as given
    for my $e (@{ $v->{event} }) {
        my $t = "vectors: event $e->{server}";
        my $kid = $v->{keys}{ $e->{server} }{key_id};
        my $tbs = event_tbs($e, $kid);

        is(encode_b64u($tbs), $e->{signed}, "$t: signed bytes");

        next unless defined $e->{frame};

        my $f = $JSON->decode($e->{frame});
        is($f->{$_}, $e->{$_}, "$t: frame's $_")
            for qw(id ts epoch room event user by role);
        is($f->{type}, 'event', "$t: type");
        is($f->{v}, 2, "$t: v");
        ok(sig_ok($pub{ $e->{server} }, $alg{ $e->{server} }, $tbs,
                  b64d($f->{sig})), "$t: the signature verifies");
        ok(!sig_ok($pub{ $e->{server} }, $alg{ $e->{server} },
                   event_tbs({ %$f, user => 'carol' }, $kid),
                   b64d($f->{sig})), "$t: not for another user");
        ok(!sig_ok($pub{ $e->{server} }, $alg{ $e->{server} },
                   event_tbs({ %$f, id => $f->{id} + 1 }, $kid),
                   b64d($f->{sig})), "$t: not for another id");
    }
    ok(@{ $v->{event} || [] } == 2, 'vectors: an event of each server key');

    for my $c (@{ $v->{chat} }) {
        my $t = "vectors: chat frame from $c->{client}";
        my $s = $session{ $c->{client} };
        my $aad = chat_aad($c->{conn}, $c->{room}, $c->{n});

        is(encode_b64u($aad), $c->{aad}, "$t: AAD");

        my ($ct, $tag) = gcm_encrypt_authenticate('AES', $s->{chat_raw},
                                                  b64d($c->{iv}), $aad,
                                                  $c->{text});
        is($c->{frame}, '{"type":"chat","room":"' . $c->{room} . '","n":'
                        . $c->{n} . ',"iv":"'
                        . $c->{iv} . '","ct":"' . encode_b64u($ct)
                        . '","tag":"' . encode_b64u($tag) . '"}',
           "$t: frame, byte for byte");
    }
}


# -- 2. live envelopes, both server key types ---------------------------

my $dir = tempdir(CLEANUP => 1);

my @clients;

for my $c (qw(a b)) {
    my $pk = Crypt::PK::RSA->new;

    $pk->generate_key(256, 65537);
    open(my $fh, '>', "$dir/client-$c.pub") or die;
    print $fh $pk->export_key_pem('public_x509');
    close($fh);
    push @clients, { name => $c, priv => $pk, id => key_id($pk) };
}

for my $type (qw(Ed25519 RSA-2048)) {
    my ($server, $pem, $alg);

    if ($type eq 'Ed25519') {
        $server = Crypt::PK::Ed25519->new;
        $server->generate_key;
        $alg = 'Ed25519';

    } else {
        $server = Crypt::PK::RSA->new;
        $server->generate_key(256, 65537);
        $alg = 'RSA-PSS-SHA256';
    }

    # CryptX labels Ed25519 PKCS#8 "ED25519 PRIVATE KEY"; the DER is standard
    open(my $fh, '>', "$dir/server.pem") or die;
    print $fh $type eq 'Ed25519'
              ? der_to_pem($server->export_key_der('private'), 'PRIVATE KEY')
              : $server->export_key_pem('private');
    close($fh);
    chmod(0600, "$dir/server.pem");

    my $pub = ref($server)->new(\$server->export_key_pem('public'));
    my $count = 4;
    my $live = decode_json(tool('live', "$dir/server.pem",
                                "$dir/client-a.pub", "$dir/client-b.pub",
                                $count));
    my $t = "live $type";

    is($live->{server_key_id}, key_id($server), "$t: server key id");
    is($live->{sig_alg}, $alg, "$t: signature algorithm");

    # a room's event, signed by this key
    my $ev = $JSON->decode($live->{event}[0]{frame});
    ok(sig_ok($pub, $alg, event_tbs($ev, key_id($server)), b64d($ev->{sig})),
       "$t: the event's signature verifies");
    ok(!sig_ok($pub, $alg, event_tbs({ %$ev, event => 'banned' },
                                     key_id($server)), b64d($ev->{sig})),
       "$t: not for another event");

    # hellos: verify, then unwrap SK; only its own client can

    my %keys;

    for my $i (0, 1) {
        my $c = $clients[$i];
        my $other = $clients[1 - $i];
        my $h = decode_json($live->{hello}[$i]{frame});
        my $wrapped = b64d($h->{wrapped_sk});
        my $sig = b64d($h->{sig});
        my $tbs = hello_tbs($h, $wrapped);

        is($h->{type}, 'hello', "$t: hello $c->{name}: type");
        is($h->{client_key_id}, $c->{id},
           "$t: hello $c->{name}: client key id");
        is($h->{server_key_id}, key_id($server),
           "$t: hello $c->{name}: server key id");
        is($h->{wrap_alg}, 'RSA-OAEP-SHA256', "$t: hello $c->{name}: wrap alg");
        is($h->{sig_alg}, $alg, "$t: hello $c->{name}: sig alg");
        is($live->{hello}[$i]{frame}, hello_text($h),
           "$t: hello $c->{name}: members in the documented order");
        ok(sig_ok($pub, $alg, $tbs, $sig), "$t: hello $c->{name}: signature");

        my $bad = 0;

        for my $bit (0, 100, 8 * length($wrapped) - 1) {
            $bad++ if sig_ok($pub, $alg, hello_tbs($h, flip($wrapped, $bit)),
                             $sig);
        }

        for my $bit (0, 8 * length($sig) - 1) {
            $bad++ if sig_ok($pub, $alg, $tbs, flip($sig, $bit));
        }

        $bad++ if sig_ok($pub, $alg,
                         hello_tbs({ %$h, conn => "x$h->{conn}" }, $wrapped),
                         $sig);
        $bad++ if sig_ok($pub, $alg, hello_tbs({ %$h, ts => $h->{ts} + 1 },
                                               $wrapped), $sig);
        my %other = (%$h, epoch => scalar reverse $h->{epoch});
        $bad++ if sig_ok($pub, $alg, hello_tbs(\%other, $wrapped), $sig);
        is($bad, 0, "$t: hello $c->{name}: no tampered hello verifies");

        my $sk = oaep_decrypt($c->{priv}, $wrapped);
        ok(defined $sk, "$t: hello $c->{name}: SK unwraps (RSA-OAEP SHA-256)");
        is(oaep_decrypt($other->{priv}, $wrapped), undef,
           "$t: hello $c->{name}: the other client cannot unwrap it");

        my ($wk, $ck) = session_keys($sk // '');
        $keys{ $c->{name} } = { wrap => $wk, chat => $ck, sk => $sk,
                                conn => $h->{conn} };
    }

    isnt($keys{a}{sk}, $keys{b}{sk}, "$t: two connections, two SKs");

    # messages

    my (%ceks, %ivs);
    my $reuse = 0;

    for my $k (0 .. $count - 1) {
        my $m = $live->{message}[$k];
        my @f = map { $_->{frame} } @{ $m->{recipients} };
        my $tm = "$t: message " . ($k + 1);

        for my $i (0, 1) {
            my $name = $clients[$i]{name};
            my $other = $clients[1 - $i]{name};
            my ($st, $pt, $cek, $b) = open_message($pub, $alg, $f[$i],
                                                   $keys{$name}{wrap});

            is($st, 'ok', "$tm: $name verifies, unwraps, decrypts");
            is($pt, $TEXT, "$tm: $name reads the text");

            my $h = parse_header($b->{hdr});
            is_deeply($h, { v => 2, id => $k + 1, ts => 1700000001000,
                            epoch => '0123456789abcdef', room => 'general',
                            sender => 'alice',
                            server_key_id => key_id($server),
                            enc => 'AES-256-GCM', kw => 'AES-256-KW',
                            sig_alg => $alg },
                      "$tm: $name: the header");

            my ($st2) = open_message($pub, $alg, $f[$i], $keys{$other}{wrap});
            is($st2, 'unwrap', "$tm: $other cannot unwrap \${name}'s CEK");

            my ($st3) = open_message($pub, $alg, $f[$i], $keys{$name}{chat});
            is($st3, 'unwrap', "$tm: the chat key does not unwrap a CEK");

            if ($i == 0) {
                $reuse++ if $ceks{$cek}++;
                $reuse++ if $ivs{ $b->{iv} }++;
            }
        }

        # everything but the wrapped key is shared
        (my $x = $f[0]) =~ s/"wk":"[^"]*"/"wk":""/;
        (my $y = $f[1]) =~ s/"wk":"[^"]*"/"wk":""/;
        is($x, $y, "$tm: both frames share everything but wk");

        next if $k > 1;

        # a flipped bit anywhere: the signature or the unwrap fails

        my $frame = decode_json($f[0]);
        my %want = (hdr => 'sig', iv => 'sig', ct => 'sig', tag => 'sig',
                    sig => 'sig', wk => 'unwrap');

        for my $field (sort keys %want) {
            my $raw = b64d($frame->{$field});
            my $nbits = 8 * length $raw;
            my @bits = (0, 1, 7, $nbits - 1, int($nbits / 2));
            push @bits, map { int(rand($nbits)) } 1 .. 8;
            my $fail = 0;

            for my $bit (@bits) {
                my $bad = '{' . join(',', map {
                    my $val = $_ eq $field
                              ? '"' . encode_b64u(flip($raw, $bit)) . '"'
                              : $JSON->encode($frame->{$_});
                    "\"$_\":$val";
                } qw(type v id room epoch hdr iv ct tag sig wk)) . '}';
                my ($st) = open_message($pub, $alg, $bad, $keys{a}{wrap});

                $fail++ unless $st eq $want{$field};
            }

            is($fail, 0, "$tm: every flipped bit in $field fails at"
                         . " the $want{$field} step");
        }
    }

    is($reuse, 0, "$t: no CEK and no IV used twice in $count messages");

    # the client's chat frame, decrypted here

    my $cf = decode_json($live->{chat}{frame});
    my $pt = gcm_decrypt_verify('AES', $keys{a}{chat}, b64d($cf->{iv}),
                                chat_aad($keys{a}{conn}, 'general', 1),
                                b64d($cf->{ct}),
                                b64d($cf->{tag}));
    is($pt, 'hi from a', "$t: a chat frame sealed by the module opens here");
}


# -- 3. chat frames sealed here, opened by the module -------------------

{
    my $sk = random_bytes(32);
    my (undef, $ck) = session_keys($sk);
    my $conn = 'conn-x';

    my $seal = sub {
        my ($n, $text, %o) = @_;
        my $room = $o{room} // 'general';
        my $iv = random_bytes(12);
        my ($ct, $tag) = gcm_encrypt_authenticate('AES', $o{key} // $ck, $iv,
                                                  chat_aad($conn, $room, $n),
                                                  $text);
        $tag = flip($tag, 3) if $o{bad_tag};

        return '{"type":"chat","room":"' . ($o{as} // $room) . '","n":' . $n
               . ',"iv":"' . encode_b64u($iv)
               . '","ct":"' . encode_b64u($ct) . '","tag":"'
               . encode_b64u($tag) . '"}';
    };
    my $open = sub {
        my ($last, $frame, $c) = @_;
        my $out = tool('chat-open', encode_b64u($sk), $c // $conn, $last,
                       $frame);

        chomp($out);
        return $out;
    };

    is($open->(0, $seal->(1, 'first')), 'ok general ' . encode_b64u('first'),
       'chat: frame 1 sealed by CryptX opens in the module');
    is($open->(1, $seal->(2, $TEXT)), 'ok general ' . encode_b64u($TEXT),
       'chat: frame 2, UTF-8');
    is($open->(0, $seal->(1, '')), 'ok general ', 'chat: an empty text');
    is($open->(0, $seal->(1, 'x', room => 'r-2.b_c')),
       'ok r-2.b_c ' . encode_b64u('x'), 'chat: another room, opened as such');
    is($open->(0, $seal->(1, 'x', as => 'lobby')), 'bad_tag',
       'chat: the room is authenticated');
    is($open->(0, $seal->(1, 'x', room => 'Lobby')), 'bad_field',
       'chat: not a room name');
    is($open->(1, $seal->(1, 'again')), 'bad_counter', 'chat: a replay');
    is($open->(1, $seal->(3, 'skip')), 'bad_counter', 'chat: a gap');
    is($open->(0, $seal->(1, 'x', bad_tag => 1)), 'bad_tag',
       'chat: a bad tag');
    is($open->(0, $seal->(1, 'x', key => random_bytes(32))), 'bad_tag',
       'chat: another key');
    is($open->(0, $seal->(1, 'x'), 'conn-y'), 'bad_tag',
       'chat: another connection');
    is($open->(0, '{"type":"chat"'), 'bad_json', 'chat: bad JSON');
    is($open->(0, '{"type":"chat","n":1}'), 'bad_field',
       'chat: missing members');
}

done_testing();
