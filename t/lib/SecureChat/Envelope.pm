package SecureChat::Envelope;

# The securechat v2 envelope (docs/PROTOCOL.md) written a second time, on
# Perl's CryptX (Debian libcryptx-perl), sharing no code with the module:
# t/envelope/verify.pl checks the test vectors with it and the WebSocket
# tests check live frames with it.  RFC 3394 key wrap is written here on
# CryptX's AES (CryptX 0.077 has no key-wrap module).

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();

use Crypt::AuthEnc::GCM qw(gcm_encrypt_authenticate gcm_decrypt_verify);
use Crypt::Cipher::AES;
use Crypt::Digest::SHA256 qw(sha256);
use Crypt::KeyDerivation qw(hkdf);
use Crypt::Misc qw(encode_b64u decode_b64u);

our @EXPORT_OK = qw(F u64 b64d kw_wrap kw_unwrap session_keys key_id sig_ok event_tbs open_ek
                    oaep_decrypt hello_tbs hello_text header_bytes
                    parse_header message_tbs message_text chat_aad
                    open_message flip);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $JSON = JSON::PP->new->canonical(0);


# F(x): a 32-bit big-endian length, then the bytes
sub F { return pack('N', length $_[0]) . $_[0] }

sub u64 { return pack('Q>', $_[0]) }

sub b64d {
    my ($s) = @_;

    die "not base64url: $s\n" unless defined $s && $s =~ /\A[A-Za-z0-9_-]*\z/;
    return decode_b64u($s);
}

# RFC 3394, section 2.2.1 (wrap) and 2.2.2 (unwrap), index-based form
sub kw_wrap {
    my ($kek, $p) = @_;
    my $aes = Crypt::Cipher::AES->new($kek);
    my $n = length($p) / 8;
    my $a = "\xA6" x 8;
    my @r = map { substr($p, 8 * $_, 8) } 0 .. $n - 1;

    for my $j (0 .. 5) {
        for my $i (1 .. $n) {
            my $b = $aes->encrypt($a . $r[$i - 1]);
            $a = substr($b, 0, 8) ^ u64($n * $j + $i);
            $r[$i - 1] = substr($b, 8, 8);
        }
    }

    return $a . join('', @r);
}

sub kw_unwrap {
    my ($kek, $c) = @_;
    my $aes = Crypt::Cipher::AES->new($kek);
    my $n = length($c) / 8 - 1;
    my $a = substr($c, 0, 8);
    my @r = map { substr($c, 8 * ($_ + 1), 8) } 0 .. $n - 1;

    for (my $j = 5; $j >= 0; $j--) {
        for (my $i = $n; $i >= 1; $i--) {
            my $b = $aes->decrypt(($a ^ u64($n * $j + $i)) . $r[$i - 1]);
            $a = substr($b, 0, 8);
            $r[$i - 1] = substr($b, 8, 8);
        }
    }

    return $a eq "\xA6" x 8 ? join('', @r) : undef;
}

# HKDF-SHA-256, no salt (RFC 5869: HashLen zero bytes)
sub session_keys {
    my ($sk) = @_;
    my $salt = "\0" x 32;

    return (hkdf($sk, $salt, 'SHA256', 32, 'securechat v1 wrap key'),
            hkdf($sk, $salt, 'SHA256', 32, 'securechat v1 chat key'));
}

sub key_id {
    my ($pk) = @_;
    my $der = ref($pk) eq 'Crypt::PK::RSA' ? $pk->export_key_der('public_x509')
                                           : $pk->export_key_der('public');

    return encode_b64u(sha256($der));
}

sub sig_ok {
    my ($pub, $alg, $data, $sig) = @_;

    return 0 unless defined $sig;
    return $pub->verify_message($sig, $data) ? 1 : 0 if $alg eq 'Ed25519';
    return $pub->verify_message($sig, $data, 'SHA256', 'pss', 32) ? 1 : 0;
}

sub oaep_decrypt {
    my ($priv, $c) = @_;
    my $sk = eval { $priv->decrypt($c, 'oaep', 'SHA256', '') };

    return defined $sk && length $sk == 32 ? $sk : undef;
}

# what a room's event signs (docs/PROTOCOL.md, section 9a)
sub event_tbs {
    my ($e, $key_id) = @_;

    die "event: malformed epoch\n"
        unless defined $e->{epoch} && $e->{epoch} =~ /\A[0-9a-f]{16}\z/;

    return F('securechat v2 event') . F($key_id) . u64($e->{id})
           . u64($e->{ts}) . pack('H16', $e->{epoch}) . F($e->{room})
           . F($e->{event}) . F($e->{user}) . F($e->{by})
           . F($e->{role} // $e->{title} // '');
}

# the epoch: 16 lowercase hex digits in JSON, its u64 in the signed bytes
sub hello_tbs {
    my ($h, $wrapped) = @_;

    die "hello: malformed epoch\n"
        unless defined $h->{epoch} && $h->{epoch} =~ /\A[0-9a-f]{16}\z/;

    return F('securechat v2 hello') . F($h->{conn}) . u64($h->{ts})
           . pack('H16', $h->{epoch}) . F($h->{server_key_id})
           . F($h->{client_key_id})
           . F($h->{sig_alg}) . F('RSA-OAEP-SHA256') . F($wrapped);
}

sub hello_text {
    my ($h) = @_;

    return '{"type":"hello","v":2,"conn":"' . $h->{conn} . '","ts":'
           . $h->{ts} . ',"epoch":"' . $h->{epoch}
           . '","server_key_id":"' . $h->{server_key_id}
           . '","client_key_id":"' . $h->{client_key_id}
           . '","sig_alg":"' . $h->{sig_alg}
           . '","wrap_alg":"RSA-OAEP-SHA256","wrapped_sk":"'
           . $h->{wrapped_sk} . '","sig":"' . $h->{sig} . '"}';
}

# the epoch as in the hello: 16 hex digits, its u64 in the header
sub header_bytes {
    my (%h) = @_;

    die "header: malformed epoch\n"
        unless defined $h{epoch} && $h{epoch} =~ /\A[0-9a-f]{16}\z/;

    return pack('C', 2) . u64($h{id}) . u64($h{ts}) . pack('H16', $h{epoch})
           . F($h{room}) . F($h{sender}) . F($h{server_key_id})
           . F('AES-256-GCM') . F('AES-256-KW') . F($h{sig_alg});
}

sub parse_header {
    my ($b) = @_;

    return undef if length $b < 25;

    my ($v, $id, $ts) = unpack('C Q> Q>', $b);
    my $epoch = unpack('H16', substr($b, 17, 8));
    my $off = 25;
    my @f;

    for (1 .. 6) {
        return undef if $off + 4 > length $b;
        my $len = unpack('N', substr($b, $off, 4));
        return undef if $off + 4 + $len > length $b;
        push @f, substr($b, $off + 4, $len);
        $off += 4 + $len;
    }

    return undef unless $off == length $b;

    return { v => $v, id => $id, ts => $ts, epoch => $epoch, room => $f[0],
             sender => $f[1], server_key_id => $f[2], enc => $f[3],
             kw => $f[4], sig_alg => $f[5] };
}

sub message_tbs {
    my ($hdr, $iv, $ct, $tag) = @_;

    return F('securechat v2 message') . F($hdr) . F($iv) . F($ct) . F($tag);
}

sub message_text {
    my ($m) = @_;

    return '{"type":"message","v":2,"id":' . $m->{id} . ',"room":"'
           . $m->{room} . '","epoch":"' . $m->{epoch} . '","hdr":"'
           . $m->{hdr} . '","iv":"' . $m->{iv} . '","ct":"' . $m->{ct}
           . '","tag":"' . $m->{tag} . '","sig":"' . $m->{sig}
           . '","wk":"' . $m->{wk} . '"}';
}

sub chat_aad {
    my ($conn, $room, $n) = @_;

    return F('securechat v2 chat') . F($conn) . F($room) . u64($n);
}

# a client's steps in the documented order: signature, unwrap, decrypt
sub open_message {
    my ($pub, $alg, $text, $wrap_key) = @_;
    my $m = eval { $JSON->decode($text) };

    return ('json') unless ref $m eq 'HASH';

    my %b;

    for my $k (qw(hdr iv ct tag sig wk)) {
        $b{$k} = eval { b64d($m->{$k}) };
        return ('json') unless defined $b{$k};
    }

    return ('sig') unless sig_ok($pub, $alg, message_tbs(@b{qw(hdr iv ct tag)}),
                                 $b{sig});

    my $cek = length $b{wk} == 40 ? kw_unwrap($wrap_key, $b{wk}) : undef;
    return ('unwrap') unless defined $cek;

    my $pt = gcm_decrypt_verify('AES', $cek, $b{iv}, $b{hdr}, $b{ct},
                                $b{tag});
    return ('decrypt') unless defined $pt;

    return ('ok', $pt, $cek, \%b, $m);
}

# a message of the scroll-back route: its CEK wrapped with RSA-OAEP for
# the client's key ("ek") instead of a connection's wrap key ("wk")
sub open_ek {
    my ($pub, $alg, $m, $priv) = @_;
    my %b;

    for my $k (qw(hdr iv ct tag sig ek)) {
        $b{$k} = eval { b64d($m->{$k}) };
        return ('json') unless defined $b{$k};
    }

    return ('wk') if exists $m->{wk};
    return ('sig') unless sig_ok($pub, $alg, message_tbs(@b{qw(hdr iv ct tag)}),
                                 $b{sig});

    my $cek = oaep_decrypt($priv, $b{ek});
    return ('unwrap') unless defined $cek;

    my $pt = gcm_decrypt_verify('AES', $cek, $b{iv}, $b{hdr}, $b{ct},
                                $b{tag});
    return ('decrypt') unless defined $pt;

    return ('ok', $pt, parse_header($b{hdr}));
}

sub flip {
    my ($s, $bit) = @_;

    vec($s, $bit ^ 7, 1) ^= 1;    # vec counts bits from the low end
    return $s;
}


1;
