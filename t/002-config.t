# Every misconfiguration stops nginx at start (and `nginx -t`) with an
# [emerg] naming the directive and the file.

use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;

securechat_defaults();

no_shuffle();

our $Fx = $ENV{TEST_NGINX_FIXTURES};

sub http_config_with {
    my ($from, $to) = @_;
    my $c = $HttpConfig;
    my $n = ($c =~ s/\Q$from\E/$to/);
    die "no '$from' in the test http config\n" unless $n;
    return $c;
}

run_tests();

__DATA__

=== TEST 1: a missing signing key file
--- http_config eval: ::http_config_with(q{rsa.pem}, q{nope.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/nope.pem": cannot open the file}


=== TEST 2: a signing key readable by its group
--- http_config eval: ::http_config_with(q{rsa.pem}, q{group-readable.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/group-readable.pem" is accessible by group or others (mode 0640)}


=== TEST 3: an EC signing key
--- http_config eval: ::http_config_with(q{rsa.pem}, q{ec.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/ec.pem": the signing key must be RSA (2048 to 4096 bits) or Ed25519}


=== TEST 4: a 1024-bit RSA signing key
--- http_config eval: ::http_config_with(q{rsa.pem}, q{rsa1024.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/rsa1024.pem": RSA signing keys must have 2048 to 4096 bits}


=== TEST 5: an encrypted signing key (never prompted for)
--- http_config eval: ::http_config_with(q{rsa.pem}, q{encrypted.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/encrypted.pem": no unencrypted PEM private key in the file}


=== TEST 6: a signing key file that is not PEM
--- http_config eval: ::http_config_with(q{rsa.pem}, q{garbage.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/garbage.pem": no unencrypted PEM private key in the file}


=== TEST 7: a public key where the private key belongs
--- http_config eval: ::http_config_with(q{rsa.pem}, q{public-only.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/public-only.pem": no unencrypted PEM private key in the file}


=== TEST 8: two keys in the signing key file
--- http_config eval: ::http_config_with(q{rsa.pem}, q{two-keys.pem})
--- must_die
--- error_log eval
qq{securechat_signing_key "$::Fx/two-keys.pem": the file holds more than one private key}


=== TEST 9: a missing users file
--- http_config eval: ::http_config_with(q{users;}, q{no-users;})
--- must_die
--- error_log eval
qq{securechat_users "$::Fx/no-users": cannot open the file}


=== TEST 10: a users file with a bad line
--- http_config eval: ::http_config_with(q{users;}, q{users-bad;})
--- must_die
--- error_log eval
qq{securechat_users "$::Fx/users-bad": line 1 is not "name:\$scrypt\$ln=..,r=..,p=..\$salt\$hash"}


=== TEST 11: a users file without users
--- http_config eval: ::http_config_with(q{users;}, q{users-empty;})
--- must_die
--- error_log eval
qq{securechat_users "$::Fx/users-empty" has no users}


=== TEST 12: a users file naming a user twice
--- http_config eval: ::http_config_with(q{users;}, q{users-dup;})
--- must_die
--- error_log eval
qq{securechat_users "$::Fx/users-dup": line 3 repeats user "alice"}


=== TEST 13: a users file readable by others
--- http_config eval: ::http_config_with(q{users;}, q{users-open;})
--- must_die
--- error_log eval
qq{securechat_users "$::Fx/users-open" is accessible by group or others (mode 0644)}


=== TEST 14: a session secret that is too short
--- http_config eval: ::http_config_with(q{/secret;}, q{/short-secret;})
--- must_die
--- error_log eval
qq{securechat_session_secret "$::Fx/short-secret" holds 16 bytes, at least 32 are needed}


=== TEST 15: a session secret readable by others
--- http_config eval: ::http_config_with(q{/secret;}, q{/open-secret;})
--- must_die
--- error_log eval
qq{securechat_session_secret "$::Fx/open-secret" is accessible by group or others (mode 0644)}


=== TEST 16: a zone too small for the history
--- http_config eval: ::http_config_with(q{zone=securechat:8m}, q{zone=securechat:256k})
--- must_die
--- error_log eval
qq{securechat_zone "securechat" of 262144 bytes is too small for a history of 1024 messages of up to 4096 bytes}


=== TEST 17: a zone below eight pages
--- http_config eval: ::http_config_with(q{zone=securechat:8m}, q{zone=securechat:8k})
--- must_die
--- error_log eval
qq{securechat_zone "securechat" is too small: at least}


=== TEST 18: a zone without a size
--- http_config eval: ::http_config_with(q{zone=securechat:8m}, q{zone=securechat})
--- must_die
--- error_log eval
qq{invalid zone "zone=securechat", expected "zone=name:size"}


=== TEST 19: a handler without a zone
--- http_config eval: ::http_config_with(q{securechat_zone            zone=securechat:8m;}, q{})
--- must_die
--- error_log eval
qq{the "securechat" directive needs "securechat_zone" at the http level}


=== TEST 20: a handler without a signing key
--- http_config eval: ::http_config_with(q{securechat_signing_key}, q{#})
--- must_die
--- error_log eval
qq{the "securechat" directive needs "securechat_signing_key", "securechat_users" and "securechat_session_secret"}


=== TEST 21: an origin with a path
--- http_config eval: ::http_config_with(q{https://chat.example.com;}, q{https://chat.example.com/;})
--- must_die
--- error_log eval
qq{securechat_allowed_origin "https://chat.example.com/" is not an origin}


=== TEST 22: the origin null
--- http_config eval: ::http_config_with(q{https://chat.example.com;}, q{null;})
--- must_die
--- error_log eval
qq{securechat_allowed_origin "null" is not an origin}


=== TEST 23: an unknown role
--- config
    location = /x { securechat gossip; }
--- must_die
--- error_log eval
qq{invalid value "gossip"}


=== TEST 24: two roles in one location
--- config
    location = /x { securechat chat; securechat login; }
--- must_die
--- error_log eval
qq{"securechat" directive is duplicate}


=== TEST 25: a message limit above the body limit
--- http_config eval: ::http_config_with(q{securechat_thread_pool}, q{securechat_message_max 32k; securechat_thread_pool})
--- must_die
--- error_log eval
qq{"securechat_message_max" must be 1..64k and not above "securechat_max_body"}

