package Test::Nginx::Util;

# =====================================================================
#  STAND-IN -- this is NOT the real Test::Nginx::Util from CPAN.
#
#  Minimal re-implementation of the part of Test::Nginx::Socket /
#  Test::Nginx::Util (openresty/test-nginx) that this project's tests
#  use.  Semantics (section names, defaults, env vars, the number and
#  order of subtests) follow the real module; see t/stand-in/README.md
#  for the exact subset and for the places where the stand-in is
#  deliberately stricter.  Sections the real module knows but the
#  stand-in does not implement make the block FAIL instead of being
#  silently ignored.
# =====================================================================

use strict;
use warnings;

use base 'Exporter';

use File::Path qw( remove_tree make_path );
use File::Spec ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw( shuffle min );
use POSIX qw( SIGQUIT SIGTERM SIGKILL SIGHUP SIGUSR1 WNOHANG EAGAIN );
use Scalar::Util qw( looks_like_number );
use Time::HiRes qw( sleep );
use Test::More ();

our $VERSION = '0.01';

# ---------------------------------------------------------------------
# Settings: same names, env vars and defaults as the real module.
# ---------------------------------------------------------------------
our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort || 1984;
our $Workers             = 1;
our $WorkerConnections   = 64;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled       = 'on';
our $RepeatEach          = 1;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation      = 0;
our $NoLongString;
our $NoNginxManager      = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $UseValgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseHup              = $ENV{TEST_NGINX_USE_HUP};
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ForceRestartOnTest  = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our $WorkerUser          = $ENV{TEST_NGINX_WORKER_USER};
our $ConfigPreamble      = '';
our ($FilterHttpConfig, $RandPorts, $NginxVersion, $PrevConfig, $PrevBlock);
our ($ChildPid, $ChildStatus, $InSubprocess, $ConfigVersion);
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers,
     @ResponseBodyChecks);

our $ServRoot   = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
our $ValgrindLog = File::Spec->catfile($LogDir, 'valgrind.log');   # stand-in only

our $ErrLogFilePos = 0;    # where the next error_log check starts reading
my  $FatalScanPos  = 0;    # stand-in: where the next [alert]/sanitizer scan starts

$DaemonEnabled = 'off' if $UseValgrind;    # nginx runs in the foreground, as our child

for my $v (qw(TEST_NGINX_CHECK_LEAK TEST_NGINX_BENCHMARK TEST_NGINX_USE_STAP
              TEST_NGINX_USE_HTTP2 TEST_NGINX_USE_HTTP3 TEST_NGINX_RANDOMIZE
              TEST_NGINX_USE_RR TEST_NGINX_LOAD_MODULES TEST_NGINX_EVENT_TYPE
              TEST_NGINX_POSTPONE_OUTPUT TEST_NGINX_IGNORE_MISSING_DIRECTIVES
              TEST_NGINX_REUSE_PORT TEST_NGINX_LD_PRELOAD TEST_NGINX_ERROR_LOG
              TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR TEST_NGINX_CHECK_LEAK_COUNT))
{
    warn "WARNING: $v is not supported by the Test::Nginx stand-in; ignored\n"
        if $ENV{$v};
}

# Sections of the real module that the stand-in does not implement.
my @Unsupported = qw(
    pipelined_requests request_eval response_body_eval response_body_filters
    response_body_json_sort charset access_log no_access_log grep_error_log
    grep_error_log_out shutdown_error_log no_shutdown_error_log stap stap_out
    stap_out_like stap_out_unlike tcp_listen tcp_reply tcp_query tcp_query_len
    tcp_reply_delay tcp_no_close tcp_shutdown udp_listen udp_reply udp_query
    udp_reply_delay http2 http3 curl curl_error curl_options curl_protocol
    http09 reload_fails skip_nginx2 skip_openssl skip_slave todo todo_nginx
    server_addr_for_client write_resp_body_file no_mockeagain
);

our @EXPORT = qw(
    expand_env_in_text env_to_nginx is_str check_accum_error_log is_running
    no_long_string server_addr server_name parse_time sleep_time bail_out
    add_cleanup_handler add_test_cleanup_handler add_response_body_check
    error_log_data trim parse_headers run_tests run_test get_pid_from_pidfile
    add_block_preprocessor timeout worker_connections workers master_on
    master_off config_preamble repeat_each master_process_enabled log_level
    no_shuffle no_root_location html_dir server_root server_port
    server_port_for_client no_nginx_manager use_hup verbose
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $NoLongString
    $NginxVersion $PidFile $ServRoot $ConfFile $RepeatEach $FilterHttpConfig
);

# ---------------------------------------------------------------------
# Small configuration functions (called before run_tests()).
# ---------------------------------------------------------------------
sub _getset { my $ref = shift; $$ref = shift if @_; $$ref }

sub repeat_each (@)            { _getset(\$RepeatEach, @_) }
sub workers (@)                { _getset(\$Workers, @_) }
sub worker_connections (@)     { _getset(\$WorkerConnections, @_) }
sub log_level (@)              { _getset(\$LogLevel, @_) }
sub timeout (@)                { _getset(\$Timeout, @_) }
sub server_port (@)            { _getset(\$ServerPort, @_) }
sub server_port_for_client (@) { _getset(\$ServerPortForClient, @_) }
sub server_addr (@)            { _getset(\$ServerAddr, @_) }
sub server_name (@)            { _getset(\$ServerName, @_) }
sub master_on ()               { $MasterProcessEnabled = 'on' }
sub master_off ()              { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}
sub no_shuffle ()              { $NoShuffle = 1 }
sub no_root_location ()        { $NoRootLocation = 1 }
sub no_long_string ()          { $NoLongString = 1 }
sub no_nginx_manager ()        { $NoNginxManager = 1 }
sub use_hup ()                 { $UseHup = 1 }
sub check_accum_error_log ()   { $CheckAccumErrLog = 1 }
sub config_preamble ($)        { $ConfigPreamble = shift }
sub html_dir ()                { $HtmlDir }
sub server_root ()             { $ServRoot }
sub sleep_time                 { $TestNginxSleep }
sub verbose                    { $ENV{TEST_NGINX_VERBOSE} }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub add_response_body_check ($)  { push @ResponseBodyChecks, shift }

sub env_to_nginx (@) {
    die "env_to_nginx: no arguments specified\n" unless @_;
    for my $v (@_) {
        die "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(@_);
}

my $HaveLongString = eval { require Test::LongString; 1 };

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::LongString::is_string($got, $expected, $desc)
        if $HaveLongString && !$NoLongString;
    return Test::More::is($got, $expected, $desc);
}

# "5" and "5s" are seconds, "500ms" is milliseconds.
sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) { $tm = $tm / 1000 }
        else { $tm =~ s/([^_a-zA-Z])s$/$1/ }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    $s;
}

# $TEST_NGINX_FOO -> $ENV{TEST_NGINX_FOO} (undefined env = bail out);
# $TEST_NGINX_RAND_PORT_N -> a free port, the same one within a block.
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            $rand_ports->{$var} //= do {
                my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                              LocalPort => 0, Proto => 'tcp')
                    or bail_out("$name - Cannot find an available port for $var.\n");
                $s->sockport;
            };
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }ge;
    return $text;
}

# ---------------------------------------------------------------------
# Main loop.
# ---------------------------------------------------------------------
sub run_tests () {
    $NginxVersion = get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    # Test::Base runs the section filters (eval, chomp, ...) of ALL blocks
    # here, i.e. before any nginx is started and before any --- init.
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value("name", $0 . " " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
        $PrevBlock = $block;
    }
    cleanup();
}

sub run_test ($) {
    my $block = shift;   # NB: `--- init` code is eval'ed in this scope and
    my $name = $block->name;   # can see $block, like with the real module.

    return if defined $block->SKIP;

    my @unsupported = grep { exists $block->{$_} } @Unsupported;
    if (@unsupported) {
        Test::More::fail("$name - section(s) not supported by the Test::Nginx "
                         . "stand-in: @unsupported (use the real Test::Nginx)");
        return;
    }

    my $rand_ports = {};
    $RandPorts = $rand_ports;
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    local $LogLevel = $block->log_level || $LogLevel;
    my $must_die = $block->must_die;
    local $UseValgrind = defined $must_die ? undef : $UseValgrind;
    local $UseHup = defined $must_die ? undef : $UseHup;
    # stand-in: always daemonize must_die runs so that system() returns.
    local $DaemonEnabled = defined $must_die ? 'on' : $DaemonEnabled;

    my $should_restart;
    if (!defined $config) {
        # no --- config: keep the previous block's nginx (and config)
        bail_out("$name - No '--- config' section specified and could not "
                 . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?")
            if !$NoNginxManager && !defined $PrevConfig;
        $should_restart = 0;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        $should_restart = 0;
    } else {
        $should_restart = $ForceRestartOnTest || !defined $PrevConfig
                          || $config ne $PrevConfig;
    }

    my ($should_skip, $tests_to_skip, $skip_reason) = check_skip($block, $name);

    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $PrevConfig = $config;
        if ($UseHup && reload_nginx($block, $config, $rand_ports)) {
            # reloaded the running nginx with the new configuration
        } else {
            stop_nginx($PrevBlock);
            setup_server_root();
            if ($block->post_setup_server_root) {
                eval $block->post_setup_server_root;
                bail_out("$name - post_setup_server_root failed: $@") if $@;
            }
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);
            bail_out("$name - Cannot find the nginx executable in the PATH environment")
                unless can_run($NginxBinary);
            if (defined $must_die) {
                run_must_die($block, $must_die);
                return;
            }
            start_nginx($block) or return;
        }
    }

    # --- init: once per block, after nginx is up, before the requests.
    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    my $i = 0;
    $ErrLogFilePos = 0;
    while ($i++ < $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;
        if ($should_skip && defined $tests_to_skip) {
            SKIP: { Test::More::skip("$name - $skip_reason", $tests_to_skip) }
        } else {
            run_test_helper($block, $i - 1);
        }
    }

    stop_nginx($block) if $UseValgrind && !$UseHup;   # report valgrind per block
}

# --- skip_nginx: "N: <op> x.y.z[: reason]", --- skip_eval: "N: perl code"
sub check_skip ($$) {
    my ($block, $name) = @_;
    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@")
                if $@;
            return ($skip, $n, "skip_eval");
        }
    }
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
        $reason ||= "nginx version $op $3.$4.$5";
        my $skip = (!defined $NginxVersion && $op =~ /^</)
                   || (defined $NginxVersion && eval "$NginxVersion $op $ver");
        return ($skip, $n, $reason);
    }
    return (0, undef, undef);
}

# ---------------------------------------------------------------------
# Server root, nginx.conf, user files.
# ---------------------------------------------------------------------
sub setup_server_root () {
    if (-d $ServRoot) {
        # only remove what we created, never a whole mis-set directory
        remove_tree($ConfDir, $LogDir, $HtmlDir, glob("$ServRoot/*_cache"),
                    glob("$ServRoot/*_temp"), "$ServRoot/cache");
        rmdir $ServRoot or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir);
    write_index_html();
    $FatalScanPos = 0;
}

sub write_index_html () {
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files or return;
    if (!ref $files) {                     # ">>> name [touch -t date]" text form
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) { push @list, [$1, undef, $2] }
            elsif (@list) { $list[-1][1] .= $line }
        }
        $files = \@list;
    }
    bail_out("$name - wrong value type for --- user_files") if ref $files ne 'ARRAY';
    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        $body = expand_env_in_text($body // '', $name, $rand_ports);
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system("TZ=GMT touch -t '$date' '$path'") == 0
                or bail_out("Failed to run: touch -t '$date' '$path'\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;
    my $http_config = expand_env_in_text($block->http_config, $name, $rand_ports) // '';
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;
    my $main_config = expand_env_in_text($block->main_config, $name, $rand_ports) // '';
    my $post_main_config = expand_env_in_text($block->post_main_config, $name, $rand_ports) // '';
    my $err_log_file = expand_env_in_text($block->error_log_file || $ErrLogFile,
                                          $name, $rand_ports);
    my $server_name = $block->server_name // $ServerName;
    $config //= '';
    my $master = $UseHup ? 'on' : $MasterProcessEnabled;

    my $nginx_V = `$NginxBinary -V 2>&1`;
    my $temp_paths = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $nginx_V =~ /--without-http_${t}_module/;
        next if $http_config =~ /\b${t}_temp_path\b/;
        $temp_paths .= " ${t}_temp_path $ServRoot/${t}_temp;";
    }

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;
    my $root_location = $NoRootLocation ? '' : <<_EOC_;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    # TEST_NGINX_USE_HUP: a second server that tells which config is live
    my $ver_server = !$UseHup ? '' : <<_EOC_;
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     'Test-Nginx';
        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0 ? "user root;\n" : '';

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out <<_EOC_;
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $master;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
$env
$main_config

http {
    access_log $AccLogFile;$temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
$ver_server}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_
    close $out;
}

# ---------------------------------------------------------------------
# Starting and stopping nginx.
# ---------------------------------------------------------------------
sub sh_quote ($) { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" }

sub nginx_cmd ($) {
    my $block = shift;
    # -e: start-up errors go to servroot/logs/error.log as well (real >= 0.31)
    my $cmd = join ' ', map { sh_quote($_) }
              $NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile;
    $cmd .= ' > /dev/null';
    $cmd .= ' 2> /dev/null' if defined $block->suppress_stderr;
    return $cmd;
}

sub run_must_die ($$) {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    my $cmd = nginx_cmd($block);
    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        system($cmd);
        my $status = $?;
        my $exit_code = $status >> 8;
        my $coredump = $status & 128;
        if ($exit_code > 128) {   # the shell reports a signal as 128 + N
            $coredump = $exit_code & 128;
        }
        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($coredump) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $exit_code, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, $i);
        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            for (1 .. 15) { last if -f $PidFile; sleep $TestNginxSleep }
            stop_nginx($block);
        }
    }
}

sub start_nginx ($) {
    my $block = shift;
    my $name = $block->name;
    my $cmd = nginx_cmd($block);

    if ($UseValgrind) {
        my @supp = grep { -f } 'valgrind.suppress', 't/valgrind.suppress';
        my $opts = $UseValgrind =~ /^\d+$/
            ? "--num-callers=100 -q --tool=memcheck --leak-check=full"
              . " --keep-debuginfo=yes --show-possibly-lost=no --gen-suppressions=all"
              . join('', map { " --suppressions=$_" } @supp)
            : "-q $UseValgrind";
        # stand-in additions: a log file to scan and an exit code to check
        $opts .= " --error-exitcode=101 --errors-for-leak-kinds=definite"
               . " --log-file=" . sh_quote($ValgrindLog);
        $cmd = "exec valgrind $opts $cmd";
        warn "$name\n";
        my $pid = fork() // bail_out("$name - fork() failed: $!");
        if ($pid == 0) {
            $InSubprocess = 1;
            setpgrp;
            exec '/bin/sh', '-c', $cmd or POSIX::_exit(127);
        }
        $ChildPid = $pid;
        # valgrind starts slowly: wait for the port (`--- init` may talk to it)
        for (1 .. 600) {
            last unless is_running($pid);
            my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                          PeerPort => $ServerPort);
            if ($s) { close $s; last }
            sleep 0.05;
        }
        sleep $TestNginxSleep;
        return 1;    # send_request() notices a dead child
    }

    for (my $try = 1; ; $try++) {
        my $log_size = -s $ErrLogFile || 0;
        system($cmd);
        my $status = $?;
        if ($status == 0) {
            $FatalScanPos = $log_size;    # ignore failed earlier attempts
            last;
        }
        my $log = read_file_from($ErrLogFile, $log_size);
        if ($try < 20 && $log =~ /Address already in use/) {   # previous nginx lingering
            sleep 0.25;
            next;
        }
        Test::More::fail("$name - nginx failed to start (\"$cmd\" exited with "
                         . "status $status):\n$log");
        $FatalScanPos = -s $ErrLogFile || 0;
        return 0;
    }
    sleep $TestNginxSleep;
    return 1;
}

# TEST_NGINX_USE_HUP: rewrite the config and send HUP to the running master
# instead of restarting; returns false if nginx has to be started instead.
sub reload_nginx ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;
    my $pid = -f $PidFile ? get_pid_from_pidfile($name) : undef;
    $ConfigVersion = join '', map { ('a' .. 'z')[rand 26] } 1 .. 10;
    return 0 unless $pid && is_running($pid);
    remove_tree($ConfDir, $HtmlDir);
    make_path($ConfDir, $HtmlDir);
    write_index_html();
    unlink $ErrLogFile, $AccLogFile;
    write_user_files($block, $rand_ports);
    write_config_file($block, $config, $rand_ports);
    kill SIGUSR1, $pid;              # reopen the (just removed) log files
    sleep $TestNginxSleep;
    kill SIGHUP, $pid;
    $FatalScanPos = 0;
    my $ok = 0;
    for my $try (1 .. 200) {            # wait until the new config is the live one
        my ($resp) = send_request([{ value => "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n" }],
                                  undef, 2, $block, 1);
        if (defined $resp && $resp =~ /\r\n\r\n\Q$ConfigVersion\E\z/) {
            return 1 if ++$ok >= 5;
        } else {
            $ok = 0;
        }
        sleep $TestNginxSleep * 3;
    }
    Test::More::fail("$name - failed to reload configuration (TEST_NGINX_USE_HUP)");
    return 1;
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    chomp $pid if defined $pid;
    return $pid;
}

# kill(0) alone is not enough: a daemonized nginx that exited can linger
# as a zombie if PID 1 does not reap it.
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && kill 0, $pid;
    if (defined $ChildPid && $pid == $ChildPid) {     # our own child (valgrind mode)
        return 1 if waitpid($pid, WNOHANG) == 0;
        $ChildStatus //= $?;
        return 0;
    }
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) [ZX]/s;
    } else {
        return 0 if -d '/proc/self';
    }
    return 1;
}

# stand-in safety: a stale pid file must not make us signal some other process
sub is_our_nginx ($) {
    my $pid = shift;
    return 1 if defined $ChildPid && $pid == $ChildPid;
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;   # no /proc: trust it
    my $cmd = do { local $/; <$fh> } // '';
    (my $bin = $NginxBinary) =~ s{.*/}{};
    return index($cmd, $bin) >= 0 || index($cmd, 'nginx') >= 0;
}

sub kill_process ($$) {
    my ($pid, $name) = @_;
    kill($ENV{TEST_NGINX_FAST_SHUTDOWN} ? SIGTERM : SIGQUIT, $pid);
    my $wait = $UseValgrind ? 60 : timeout();    # valgrind's exit checks are slow
    while ($wait > 0 && is_running($pid)) { sleep 0.05; $wait -= 0.05 }
    return unless is_running($pid);
    warn "$name - timeout when waiting for the process $pid to exit; killing it\n";
    for (1 .. 10) {
        last unless is_running($pid);
        kill SIGTERM, $pid;
        sleep 0.1;
    }
    kill(SIGKILL, (getpgrp($pid) == $pid ? -$pid : $pid)) if is_running($pid);
}

# Stop the running nginx (if any), then check what it logged on the way
# out; $block is the block that used it last (undef: nothing to report).
sub stop_nginx ($) {
    my $block = shift;
    my $name = $block ? $block->name : 'END';
    my $pid = -f $PidFile ? get_pid_from_pidfile($name) : undef;
    $pid ||= $ChildPid;
    kill_process($pid, $name) if $pid && is_running($pid) && is_our_nginx($pid);
    unlink $PidFile if -f $PidFile && !is_running($pid);
    if (defined $ChildPid) {     # valgrind mode: nginx was our child
        $ChildStatus //= waitpid($ChildPid, 0) == $ChildPid ? $? : 0;
        check_valgrind_report($name, $ChildStatus);
        undef $ChildPid;
        undef $ChildStatus;
    }
    scan_fatal_lines($block, defined $block->must_die) if $block;
}

sub check_valgrind_report ($$) {
    my ($name, $status) = @_;
    my $report = read_file_from($ValgrindLog, 0);
    my @bad = grep {
        /Invalid (?:read|write|free)|uninitialised|definitely lost|Mismatched free|overlap/
        || /Jump to the invalid address|Process terminating/
    } split /\n/, $report;
    if (@bad || ($status >> 8) == 101) {
        Test::More::fail("$name - valgrind reported errors:\n" . join("\n", @bad));
        Test::More::diag($report);
    }
    unlink $ValgrindLog;
}

sub can_run ($) {
    my $cmd = shift;
    return -f $cmd && -x _ ? $cmd : undef if $cmd =~ m{/};
    for my $dir (split(/:/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x _;
    }
    return undef;
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    return undef unless defined $out && $out =~ m{nginx version: \S+?/(\d+)\.(\d+)\.(\d+)};
    return sprintf "%d.%03d%03d", $1, $2, $3;
}

sub read_file_from ($$) {
    my ($file, $pos) = @_;
    open my $in, '<', $file or return '';
    seek $in, $pos, 0 if $pos;
    local $/;
    my $data = <$in>;
    close $in;
    return $data // '';
}

sub cleanup () {
    $_->() for @CleanupHandlers;
}

END {
    return if $InSubprocess;
    local $?;    # do not disturb Test::Builder's exit code
    cleanup();
    if ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN}) {
        stop_nginx($PrevBlock);
    } elsif ($PrevBlock) {
        scan_fatal_lines($PrevBlock, 0);
    }
}

# ---------------------------------------------------------------------
# Building and sending requests.
# ---------------------------------------------------------------------

# more_headers text -> "Key: value\r\n..." ; lines starting with # are ignored
sub parse_more_headers ($) {
    my $in = shift;
    my ($out, $is_chunked) = ('', 0);
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# "METHOD [URI [VERSION]]\nbody" -> HTTP/1.1 request with Host, Connection
# (close) and Content-Length (body trimmed) unless more_headers has them.
# $packets: list of {value, delay_before}; the body is re-split at the
# original packet sizes (the request line must be in the first packet).
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn, $packets) = @_;
    my $whole = join '', map { $_->{value} } @$packets;
    my ($first, $content) = $whole =~ /\A([^\n]*\n?)(.*)\z/s;
    bail_out("$name - Request line should be non-empty") if !$first;
    $first =~ /^(\s*)(\S+)( *)((\S+)( *))?((\S+)( *))?(\s*)$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$first\".");
    my ($meth, $url, $ver) = ($2, $5 // '/', $8 // 'HTTP/1.1');

    my $len_header = '';
    if (!$is_chunked && $content ne '' && $more_headers !~ /(?:^|\n)Content-Length:/) {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }
    $more_headers =~ s/(?<!\r)\n/\r\n/gs;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    my @out;
    my $skip = length $first;    # bytes of the first line still to drop
    for my $p (@$packets) {
        my $len = length $p->{value};
        my $body_len = $len > $skip ? $len - $skip : 0;
        $skip = $skip > $len ? $skip - $len : 0;
        my $value = $p == $packets->[-1] ? $content : substr($content, 0, $body_len, '');
        $value = "$meth $url $ver\r\n$headers$value" if !@out;
        push @out, { %$p, value => $value };
    }
    return \@out;
}

# Returns a list of requests, each a list of packets {value, delay_before}.
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {   # sent verbatim, ONE connection
        return [[ map { { value => $_ } } ref $raw eq 'ARRAY' ? @$raw : ($raw) ]];
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;    # leading comments
    }
    my @requests = ref $request eq 'ARRAY' ? @$request
                 : !ref $request ? ($request)
                 : bail_out("$name - invalid ---request : MUST be string or array of requests");
    my $more_headers = $block->more_headers || '';

    my @list;
    for my $i (0 .. $#requests) {
        my $hdr = ref $more_headers eq 'ARRAY' ? $more_headers->[$i] : $more_headers;
        bail_out("--- more_headers lacks data for the ${i}th request") unless defined $hdr;
        my ($headers, $is_chunked) = parse_more_headers($hdr);
        my $one = $requests[$i];
        my @packets = map {
            ref $_ eq 'HASH' ? $_ : !ref $_ ? { value => $_ }
            : bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
        } ref $one eq 'ARRAY' ? @$one : ($one);
        push @list, build_request($name, $headers, $is_chunked, 'close', \@packets);
    }
    return \@list;
}

# One connection: write the packets, read until EOF or timeout.
sub send_request ($$$$;$) {
    my ($req, $middle_delay, $timeout, $block, $quiet) = @_;
    my $name = $block->name;
    my @bits = @$req;
    my $head_req = (join '', map { $_->{value} } @bits) =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock;
    for (my $tries = 1; !$sock; $tries++) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        my $err = $!;
        return if $quiet;
        if (defined $ChildPid && waitpid($ChildPid, WNOHANG) != 0) {
            undef $ChildPid;
            Test::More::fail("$name - Can't connect to $ServerAddr:$ServerPortForClient: "
                             . "$err (aborted): nginx exited:\n" . read_file_from($ErrLogFile, 0));
            return;
        }
        if ($tries > 50) {
            Test::More::fail("$name - Can't connect to $ServerAddr:$ServerPortForClient: $err (aborted)\n");
            return;
        }
        sleep min(1, (sleep_time() + sleep_time() * $tries) * $tries / 2);
    }
    $sock->blocking(0);

    my ($resp, $buf, $off) = ('', (shift @bits)->{value}, 0);
    my $sel = IO::Select->new($sock);
    my $writing = 1;
    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {                                   # timed out
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name\n") unless $quiet;
            } else {
                sleep 0.005;
            }
            last;
        }
        if ($w && @$w) {
            while (1) {
                if ($off < length $buf) {
                    my $n = syswrite($sock, $buf, length($buf) - $off, $off);
                    if (!defined $n) {
                        last if $! == EAGAIN;
                        warn "write failed: $!\n";
                        $resp ||= "write failed: $!";
                        $writing = 0;
                        last;
                    }
                    $off += $n;
                    next;
                }
                my $next = shift @bits;
                if (!$next) {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        shutdown($sock, $how =~ /^\s*$/ ? 1 : $how);
                    }
                    last;
                }
                my $delay = $next->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                ($buf, $off) = ($next->{value}, 0);
            }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $chunk, 4096);
            if (!defined $n) {
                next if $! == EAGAIN;
                warn "WARNING: $name - HTTP response read failure: $!";
                last;
            }
            last if $n == 0;                                # EOF
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $head_req);
}

# -> (HTTP::Response, raw header text, bytes left after the body)
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    $res->code(undef) if $code && $code !~ /^\d+$/;
    return ($res, $raw_headers) if $code && ($code eq '304' || $code eq '101');

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;
    if (defined $enc && $enc eq 'chunked') {
        my $body = $res->content // '';
        my $decoded = '';
        while (1) {
            if ($body =~ /\G 0 [\ \t]* \r\n (?:[^\r\n]+\r\n)* \r\n/gcx) {   # last chunk (+ trailers)
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G [\ \t]* ([A-Fa-f0-9]+) [\ \t]* \r\n/gcx) {
                my $size = hex $1;
                if (length($body) - pos($body) < $size + 2
                    || substr($body, pos($body) + $size, 2) ne "\r\n")
                {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enough octets or missing CRLF)");
                    return;
                }
                $decoded .= substr($body, pos($body), $size);
                pos($body) += $size + 2;
                next;
            }
            Test::More::fail($body =~ /\G.+/gcs
                             ? "$name - invalid chunked body received: $&"
                             : "$name - no last chunk found - $body");
            return;
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------
# One run of a block: send every request, check every response.
# ---------------------------------------------------------------------
sub run_test_helper ($$) {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // timeout();
    my $need_array = @$reqs > 1;
    my $res;
    for my $req_idx (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($reqs->[$req_idx],
                                            $block->raw_request_middle_delay,
                                            $timeout, $block);
        $raw //= '';
        if (!defined $block->ignore_response) {
            my ($raw_headers, $left);
            ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
            if ($left) {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in ",
                     "response: \"$left\"\n";
            }
            check_error_code($block, $res, $req_idx, $need_array);
            check_raw_response_headers($block, $raw_headers, $req_idx, $need_array);
            check_response_headers($block, $res, $raw_headers, $req_idx, $need_array);
            check_response_body($block, $res, $req_idx, $repeated_req_idx, $need_array);
        }
        if ($req_idx < $#$reqs) {        # the real module checks after EVERY request
            sleep $block->wait if $block->wait;
            check_error_log($block, $repeated_req_idx);
        }
    }
    sleep $block->wait if $block->wait;
    check_error_log($block, $repeated_req_idx);
}

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$req_idx] if $need_array || $req_idx == 0;
    } elsif (!$need_array) {
        return $value;
    }
    bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
}

sub check_error_code ($$$$) {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = get_indexed_value($name, $block->error_code_like, $req_idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, get_indexed_value($name, $block->error_code, $req_idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers ($$$$) {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $pat = get_indexed_value($name, $block->raw_response_headers_like, $req_idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = get_indexed_value($name, $block->raw_response_headers_unlike, $req_idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
    }
}

# "Name: value" per line; "!Name" = must be absent; "Name:" = absent or empty
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key // ''} = $val;
        }
    }
    return \%headers;
}

sub check_response_headers ($$$$$) {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers,
                                                      $req_idx, $need_array));
        while (my ($key, $val) = each %$headers) {
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = ($res ? $res->header($key) : undef) // '';
            Test::More::is($actual, $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {   # ignored if response_headers is set
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers_like,
                                                      $req_idx, $need_array));
        while (my ($key, $val) = each %$headers) {
            my $actual = ($res ? $res->header($key) : undef) // '';
            Test::More::like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub check_response_body ($$$$$) {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $content) {    # artefacts of old LWP-based echoing tests
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }
    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body, $req_idx, $need_array);
        if (defined $expected && !ref $expected) {   # expanded now, i.e. after --- init
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name, $RandPorts);
        }
        is_str($content, $expected, "$name - response_body - response is expected "
                                    . "(repeated req $repeated_req_idx, req $req_idx)");
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pats = $type eq 'like' ? $block->response_body_like : $block->response_body_unlike;
        my $pat = get_indexed_value($name, $pats, $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content) // '';
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
    }
    $_->($block, $content, $req_idx, $repeated_req_idx, 0) for @ResponseBodyChecks;
}

# ---------------------------------------------------------------------
# error.log checks.
# ---------------------------------------------------------------------

# Lines logged since the previous call (all lines with check_accum_error_log).
sub error_log_data () {
    sleep $TestNginxSleep * 3;    # let nginx finish log-phase logging
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub value_contains ($$);    # recursive
sub value_contains ($$) {
    my ($val, $pat) = @_;
    return 0 unless defined $val;
    return $val =~ /\Q$pat\E/ ? 1 : 0 if !ref $val || ref $val eq 'Regexp';
    return (grep { value_contains($_, $pat) } @$val) ? 1 : 0 if ref $val eq 'ARRAY';
    return 0;
}

# section value -> list of patterns (strings = substrings, qr// = regexes)
sub patterns ($) {
    my $pats = shift;
    if (!ref $pats) { chomp $pats; return split /\n+/, $pats }
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g; $s =~ s/\r/\\r/g; $s =~ s/\n/\\n/g;
    $s;
}

sub check_error_log ($$) {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;

    if (defined $block->error_log) {
        my @pats = patterns($block->error_log);
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $pat (@pats) {
                next unless defined $pat;
                if ((ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/) {
                    Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $repeated_req_idx)");
                    undef $pat;
                }
            }
        }
        for my $pat (grep { defined } @pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $repeated_req_idx)");
        }
    }

    if (defined $block->no_error_log) {
        my @pats = patterns($block->no_error_log);
        my %found;
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $pat (@pats) {
                next unless defined $pat;
                if ((ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/) {
                    $found{$pat} = 1;
                    Test::More::fail(sprintf "%s - pattern \"%s\" should not match any line in "
                                     . "error.log but matches line \"%s\" (req %s)",
                                     $name, fmt_str($pat), fmt_str($line), $repeated_req_idx);
                }
            }
        }
        for my $pat (grep { defined && !$found{$_} } @pats) {
            Test::More::pass(sprintf "%s - pattern \"%s\" does not match a line in error.log (req %s)",
                             $name, fmt_str($pat), $repeated_req_idx);
        }
    }

    $lines ||= error_log_data();
    for my $line (@$lines) {    # the real module only warns about these, too
        warn "WARNING: $name - ", fmt_str($line), "\n" if $line =~ /\[crit\]/;
    }
    scan_fatal_lines($block, defined $block->must_die);
}

# STAND-IN STRICTNESS: [alert], [emerg] (outside must_die blocks), sanitizer
# reports and assertion failures in error.log make the test file fail (the
# real module only prints warnings for [alert]/[emerg]).  A block whose
# error_log/no_error_log mentions "[alert" (or "[emerg") is exempted for that
# level, like the real module does for its warnings.  Emits a subtest ONLY
# on failure, so plans stay identical to the real module.
sub scan_fatal_lines ($$) {
    my ($block, $must_die) = @_;
    my $log = read_file_from($ErrLogFile, $FatalScanPos);
    $FatalScanPos += length $log;
    my %exempt = map {
        ($_ => (value_contains($block->error_log, "[$_")
                || value_contains($block->no_error_log, "[$_")) ? 1 : 0)
    } qw(alert emerg);
    $exempt{emerg} ||= $must_die;
    my @bad = grep {
        /ERROR: (?:Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|\bruntime error: |\bAssertion .*?failed\b/
        || (/\[(alert|emerg)\]/ && !$exempt{$1})
    } split /\n/, $log;
    return unless @bad;
    splice @bad, 20 if @bad > 20;
    Test::More::fail($block->name . " - error.log has [alert]/[emerg]/sanitizer/assertion "
                     . "lines (fatal in the Test::Nginx stand-in):\n" . join("\n", @bad));
}

1;
