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

# a file included at the end of the http config, so that the line an
# [emerg] names is known: line 1 is a comment, the directives follow
sub included {
    return ">>> bad.conf\n# included by the test's http config\n"
           . CORE::join('', map { "$_\n" } @_);
}

our $Include = $HttpConfig . "    include ../html/bad.conf;\n";

# an [emerg] (a regex) about line $n of that file, as nginx appends it
sub emerg_at {
    my ($n, $re) = @_;
    return qr{\[emerg\] \d+#\d+: $re in \S*/html/bad\.conf:$n$};
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
qr{"securechat_zone" is missing: the "securechat" directive in \S+/nginx\.conf:\d+ needs it at the http level}


=== TEST 20: a handler without a signing key
--- http_config eval: ::http_config_with(q{securechat_signing_key}, q{#})
--- must_die
--- error_log eval
qr{"securechat_signing_key" is missing: the "securechat" directive in \S+/nginx\.conf:\d+ needs it at the http level}


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
qr{"securechat_max_body" 16384 \(the default\) must not be below "securechat_message_max" 32768 \(in \S+/nginx\.conf:\d+\)$}


=== TEST 26: securechat_session_lifetime 0s names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_session_lifetime 0s;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_session_lifetime" must be at least 1s, not "0s"})


=== TEST 27: securechat_max_body 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_max_body 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_max_body" must be at least 1, not "0"})


=== TEST 28: securechat_message_max 65537 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_message_max 65537;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_message_max" must be 1 to 64k, not "65537"})


=== TEST 29: securechat_history 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_history 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_history" must be at least 1, not "0"})


=== TEST 30: securechat_password_nice 20 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_password_nice 20;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_password_nice" must be 0 to 19, not "20"})


=== TEST 31: securechat_ws_message_max 17m names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_ws_message_max 17m;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_ws_message_max" must be 1 to 16m, not "17m"})


=== TEST 32: securechat_send_buffer 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_send_buffer 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_send_buffer" must be at least 1, not "0"})


=== TEST 33: securechat_ping_interval 500ms names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_ping_interval 500ms;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_ping_interval" must be at least 1s, not "500ms"})


=== TEST 34: securechat_ws_frame_rate 0 is reported as a securechat_ws_frame_rate problem, at its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_ws_frame_rate 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_ws_frame_rate" must be at least 1, not "0"})


=== TEST 35: securechat_user_connections 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_user_connections 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_user_connections" must be at least 1, not "0"})


=== TEST 36: securechat_login_free_failures that is not a number: nginx names the directive and the line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_login_free_failures many;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_login_free_failures" directive invalid number})


=== TEST 37: securechat_login_max_lockout that is not a time
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_login_max_lockout soon;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_login_max_lockout" directive invalid value})


=== TEST 38: securechat_thread_pool queue=0
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_seal_thread_pool securechat queue=0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_seal_thread_pool": queue= must be a number of at least 1, not "0"})


=== TEST 39: securechat_thread_pool with an unknown parameter
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_seal_thread_pool securechat size=3;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_seal_thread_pool": invalid parameter "size=3", expected "queue=N"})


=== TEST 40: an unknown thread pool is reported at the line that names it
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_seal_thread_pool nosuchpool;})
--- must_die
--- error_log eval
::emerg_at(2, q{unknown thread pool "nosuchpool"})


=== TEST 41: a missing signing key file is reported at its directive's line
--- http_config eval: ::http_config_with(q{securechat_signing_key}, q{#}) . "    include ../html/bad.conf;\n"
--- user_files eval
::included(q{securechat_signing_key nope.pem;})
--- must_die
--- error_log eval
::emerg_at(2, q{securechat_signing_key "\S+/nope\.pem": cannot open the file.*})


=== TEST 42: a bad users file is reported at its directive's line
--- http_config eval: ::http_config_with(q{securechat_users}, q{#}) . "    include ../html/bad.conf;\n"
--- user_files eval
::included(qq{securechat_users $::Fx/users-bad;})
--- must_die
--- error_log eval
::emerg_at(2, q{securechat_users "\S+/users-bad": line 1 is not.*})


=== TEST 43: a bad origin is reported at its directive's line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_allowed_origin https://a.example https://b.example/;})
--- must_die
--- error_log eval
::emerg_at(2, q{securechat_allowed_origin "https://b\.example/" is not an origin.*})


=== TEST 44: a zone without a size is reported at its line
--- http_config eval: ::http_config_with(q{securechat_zone}, q{#}) . "    include ../html/bad.conf;\n"
--- user_files eval
::included(q{securechat_zone zone=securechat;})
--- must_die
--- error_log eval
::emerg_at(2, q{invalid zone "zone=securechat", expected "zone=name:size"})


=== TEST 45: a send buffer below twice the message size names both directives and their lines
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_ws_message_max 64k;}, q{securechat_send_buffer 100k;})
--- must_die
--- error_log eval
qr{\[emerg\] \d+#\d+: "securechat_send_buffer" 102400 \(in \S+/html/bad\.conf:3\) must be at least twice "securechat_ws_message_max" 65536 \(in \S+/html/bad\.conf:2\): it must be at least 131072$}


=== TEST 46: a WebSocket message limit too small for a chat message names both directives
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_message_max 4k;}, q{securechat_ws_message_max 1k;}, q{securechat_send_buffer 2k;})
--- must_die
--- error_log eval
qr{\[emerg\] \d+#\d+: "securechat_ws_message_max" 1024 \(in \S+/html/bad\.conf:3\) cannot hold a chat frame of "securechat_message_max" 4096 \(in \S+/html/bad\.conf:2\): it must be at least \d+$}


=== TEST 47: a message limit above the body limit names both lines
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_max_body 8k;}, q{securechat_message_max 16k;})
--- must_die
--- error_log eval
qr{\[emerg\] \d+#\d+: "securechat_max_body" 8192 \(in \S+/html/bad\.conf:2\) must not be below "securechat_message_max" 16384 \(in \S+/html/bad\.conf:3\)$}


=== TEST 48: securechat_rooms_max 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_rooms_max 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_rooms_max" must be at least 1, not "0"})


=== TEST 49: securechat_room_members_max 1: a room holds at least two
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_room_members_max 1;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_room_members_max" must be at least 2, not "1"})


=== TEST 50: securechat_user_rooms_max 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_user_rooms_max 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_user_rooms_max" must be at least 1, not "0"})


=== TEST 51: securechat_room_create_rate 0 names the directive and its own line
--- http_config eval: $::Include
--- user_files eval
::included(q{securechat_room_create_rate 0;})
--- must_die
--- error_log eval
::emerg_at(2, q{"securechat_room_create_rate" must be at least 1, not "0"})
