package SecureChat::Test;

# Shared configuration and a tiny HTTP client for the securechat suite.
# Works with the real Test::Nginx and with t/stand-in alike: it only reads
# environment variables and talks to the server over a socket.

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();

our @EXPORT = qw($MainConfig $HttpConfig $ApiConfig fixture http_request
                 login login_env expand_block json_string
                 securechat_defaults tls_server);

my $fx = $ENV{TEST_NGINX_FIXTURES}
    or die "TEST_NGINX_FIXTURES is not set (run the suite with make test)\n";
my $so = $ENV{TEST_NGINX_MODULE}
    or die "TEST_NGINX_MODULE is not set (run the suite with make test)\n";

our $MainConfig = <<"_EOC_";
    load_module $so;
    thread_pool securechat threads=2;
_EOC_

our $HttpConfig = <<"_EOC_";
    securechat_zone            zone=securechat:8m;
    securechat_signing_key     $fx/rsa.pem;
    securechat_users           $fx/users;
    securechat_session_secret  $fx/secret;
    securechat_thread_pool     securechat;
    securechat_allowed_origin  http://localhost:1984 https://chat.example.com;
_EOC_

our $ApiConfig = <<'_EOC_';
    location = /api/           { securechat welcome; }
    location = /api/login      { securechat login; }
    location = /api/logout     { securechat logout; }
    location = /api/chat       { securechat chat; }
    location = /api/disconnect { securechat disconnect; }
_EOC_


# Blocks that leave out main_config, http_config or config get the suite's
# defaults: the module loaded, a zone with the fixture keys, all routes.
# a server block for the http_config: `listen ... ssl` on
# TEST_NGINX_TLS_PORT (two above the suite's port unless set) with the
# fixtures' certificate, holding the given locations; more listen
# parameters (e.g. "sndbuf=4k") after them
$ENV{TEST_NGINX_TLS_PORT} ||= ($ENV{TEST_NGINX_SERVER_PORT}
                               || $ENV{TEST_NGINX_PORT} || 1984) + 2;

sub tls_server {
    my ($locations, $listen) = @_;
    $listen = $listen ? " $listen" : '';
    return <<"_EOC_";
    server {
        listen 127.0.0.1:\$TEST_NGINX_TLS_PORT ssl$listen;
        server_name localhost;
        ssl_certificate     $fx/tls.crt;
        ssl_certificate_key $fx/tls.key;
$locations
    }
_EOC_
}


sub securechat_defaults {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value(main_config => $MainConfig)
            unless defined $block->main_config;
        $block->set_value(http_config => $HttpConfig)
            unless defined $block->http_config;
        $block->set_value(config => $ApiConfig)
            unless defined $block->config;
        error_log_checks($block);
    });
    return;
}


# The real Test::Nginx only warns about [alert], [crit] and [emerg] lines
# in error.log (and says nothing of sanitizer reports); the stand-in fails
# on some of them.  So every block states it: a no_error_log pattern for
# the levels and one for sanitizer and assertion reports, added to the
# block's own.  A level the block's error_log or no_error_log already
# mentions ("[alert", ...) is the block's to check, as both modules do for
# their warnings; [emerg] is expected where nginx must die, and there its
# start-up errors stay out of the test output (suppress_stderr: they are
# in error.log, where error_log looks).  The patterns are regexes whose
# text does not contain "[alert" etc., so that neither module takes them
# for the block's own mention of the level.
my $Sanitizer = qr/ERROR: (?:Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|\bruntime error: |\bAssertion .*?failed\b/;

sub mentions {
    my ($val, $text) = @_;
    return 0 unless defined $val;
    return (grep { mentions($_, $text) } @$val) ? 1 : 0
        if ref $val eq 'ARRAY';
    return index("$val", $text) >= 0 ? 1 : 0;
}

sub error_log_checks {
    my $block = shift;
    my $must_die = defined $block->must_die;
    my @own = grep { defined } $block->error_log, $block->no_error_log;

    my @levels = grep { !mentions(\@own, "[$_") }
                 $must_die ? qw(alert crit) : qw(alert crit emerg);
    my @pats;
    push @pats, qr/\[(?:${\ join '|', @levels})\]/ if @levels;
    push @pats, $Sanitizer unless mentions(\@own, 'Sanitizer');

    my $have = $block->no_error_log;
    my @have = !defined $have         ? ()
             : ref $have eq 'ARRAY'   ? @$have
             : ref $have eq 'Regexp'  ? ($have)
             : do { (my $s = $have) =~ s/\n+\z//; split /\n+/, $s };
    $block->set_value(no_error_log => [@have, @pats]);

    $block->set_value(suppress_stderr => 1)
        if $must_die && !defined $block->suppress_stderr;
    return;
}


sub fixture {
    my $name = shift;
    open my $fh, '<', "$fx/$name" or die "cannot open fixture $name: $!\n";
    local $/;
    my $text = <$fh>;
    chomp $text;
    return $text;
}


# a JSON string literal for text (enough for PEM and ASCII test data)
sub json_string {
    my $text = shift;
    $text =~ s/(["\\])/\\$1/g;
    $text =~ s/\n/\\n/g;
    $text =~ s/([\x00-\x1f])/sprintf '\\u%04x', ord $1/ge;
    return qq("$text");
}


# One HTTP/1.1 request on its own connection; returns (status, headers
# hashref with lower-case names, body).
sub http_request {
    my ($method, $uri, $headers, $body) = @_;

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    # nginx may still be starting (under valgrind it takes seconds)
    my $sock;
    for (1 .. 200) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Timeout => 10)
            and last;
        select undef, undef, undef, 0.05;
    }
    die "cannot connect to 127.0.0.1:$port: $!\n" unless $sock;

    $body //= '';
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers || {} };
    $req .= "Content-Length: " . length($body) . "\r\n" if length $body;
    $req .= "\r\n$body";

    print $sock $req;

    local $/;
    my $resp = <$sock>;
    close $sock;

    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status) = $status_line =~ m{^HTTP/1\.[01] (\d{3})}
        or die "bad status line: $status_line\n";

    my %h;
    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $h{lc $k} = $v;
    }

    return ($status, \%h, $rbody);
}


# Logs in; returns (cookie value, csrf token) or dies.
sub login {
    my ($user, $password) = @_;

    my ($status, $h, $body) = http_request('POST', '/api/login',
        { 'Content-Type' => 'application/json' },
        qq({"username":"$user","password":"$password"}));

    die "login as $user failed: $status $body\n" unless $status == 200;

    my ($cookie) = ($h->{'set-cookie'} // '') =~ /^sc_session=([^;]+)/
        or die "login as $user gave no session cookie\n";
    my ($csrf) = $body =~ /"csrf_token":"([^"]+)"/
        or die "login as $user gave no csrf token\n";

    return ($cookie, $csrf);
}


# Logs in and publishes the session for the block's requests, which refer
# to it as $TEST_NGINX_COOKIE / $TEST_NGINX_CSRF (suffixed by $tag).
sub login_env {
    my ($user, $password, $tag) = @_;
    $tag //= '';
    my ($cookie, $csrf) = login($user, $password);
    $ENV{"TEST_NGINX_COOKIE$tag"} = $cookie;
    $ENV{"TEST_NGINX_CSRF$tag"} = $csrf;
    return;
}


# Test::Nginx expands $TEST_NGINX_* variables in the configuration, but not
# in the request headers, and it reads the block before `--- init` has
# logged in.  Called at the end of `--- init` (which sees the block as
# $block, with the real Test::Nginx and the stand-in alike), this expands
# them in what the block is about to send.
sub expand_block {
    my $block = shift;

    my $expand = sub {
        my $text = shift;
        $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
            defined $ENV{$1} ? $ENV{$1} : die "\$$1 is not set\n"
        }ge;
        return $text;
    };

    for my $section (qw(request raw_request more_headers response_body)) {
        my $value = $block->$section;
        next unless defined $value;
        $block->set_value($section, ref $value eq 'ARRAY'
                                    ? [map { $expand->($_) } @$value]
                                    : $expand->($value));
    }

    return;
}


# -- the server's processes (with master_on) --------------------------------

sub master_pid {
    my $pidfile = $Test::Nginx::Util::PidFile;
    open my $fh, '<', $pidfile or die "no pid file $pidfile: $!\n";
    chomp(my $master = <$fh>);
    return $master;
}

sub worker_pids {
    my $master = shift // master_pid();
    opendir my $d, '/proc' or die;
    my @pids;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $stat = <$st>;
        my ($ppid) = $stat =~ /^\d+ \(.*?\) \S+ (\d+)/;
        push @pids, $pid if defined $ppid && $ppid == $master;
    }
    return sort @pids;
}

# the nice value of every thread of nginx (the master and its workers),
# from /proc/PID/task/TID/stat: field 19, after the parenthesised name
sub thread_nice_values {
    my $master = master_pid();
    my @nice;
    for my $pid ($master, worker_pids($master)) {
        opendir my $d, "/proc/$pid/task" or next;
        for my $tid (grep { /^\d+$/ } readdir $d) {
            open my $st, '<', "/proc/$pid/task/$tid/stat" or next;
            my @f = split ' ', (<$st> =~ /\)\s(.*)$/)[0];
            push @nice, $f[16];    # the 19th field; $f[0] is the 3rd
        }
    }
    return @nice;
}

# the anonymous resident memory (kB) of nginx (the master and its
# workers, or the one process without a master), summed
sub nginx_rss_anon {
    my $kb = 0;
    my $master = master_pid();
    for my $pid ($master, worker_pids($master)) {
        open my $st, '<', "/proc/$pid/status" or next;
        while (<$st>) { $kb += $1 if /^RssAnon:\s+(\d+)/ }
    }
    return $kb;
}

# sends HUP to the master and waits until the old workers have gone
sub reload_nginx {
    my $master = master_pid();
    my @old = worker_pids($master);
    kill 'HUP', $master or die "cannot HUP $master: $!\n";
    for (1 .. 100) {
        select undef, undef, undef, 0.1;
        my @now = worker_pids($master);
        my %old = map { $_ => 1 } @old;
        return if @now && !grep { $old{$_} } @now;
    }
    die "the workers were not replaced after HUP\n";
}

# the worker process holding the server side of a client socket
sub worker_of {
    my ($sock) = @_;
    my ($port, $server) = ($sock->sockport, $sock->peerport);
    my $inode;

    # the established socket from the server's port to ours
    open my $tcp, '<', '/proc/net/tcp' or die "/proc/net/tcp: $!\n";
    while (my $line = <$tcp>) {
        my @f = split ' ', $line;
        next unless defined $f[3] && $f[3] eq '01'
                    && $f[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $server
                    && $f[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
        $inode = $f[9];
        last;
    }
    return undef unless $inode;

    for my $pid (worker_pids()) {
        opendir my $d, "/proc/$pid/fd" or next;
        for my $fd (readdir $d) {
            my $l = readlink "/proc/$pid/fd/$fd" // next;
            return $pid if $l eq "socket:[$inode]";
        }
    }
    return undef;
}

1;
