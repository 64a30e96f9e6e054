# The suite's error.log checks (SecureChat::Test's securechat_defaults):
# a block that makes nginx log a [crit] line fails under the real
# Test::Nginx as under the stand-in (the real module alone only warns),
# unless the block expects the line itself.  Each case is a small test
# file of its own, run by prove with whichever Test::Nginx this one runs
# under (same PERL5LIB), its exit status the verdict.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir('securechat-log-checks.XXXXXX', TMPDIR => 1, CLEANUP => 1);

# connect() to a missing unix socket is logged at [crit] by nginx's core
my $crit_location = <<'_EOC_';
--- config
    location = /t {
        proxy_pass http://unix:/nonexistent/securechat-no-such.sock;
    }
--- request
GET /t
--- error_code: 502
_EOC_

sub run_file {
    my ($name, $blocks) = @_;
    my $file = "$dir/$name.t";
    open my $fh, '>', $file or die "cannot write $file: $!\n";
    print $fh <<"_EOT_";
use Test::Nginx::Socket 'no_plan';
use SecureChat::Test;
securechat_defaults();
no_shuffle();
run_tests();
__DATA__

$blocks
_EOT_
    close $fh;
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot-$name";
    my $out = `prove -v $file 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run_file('crit', "=== TEST 1: a [crit] line\n$crit_location");
isnt($rc, 0, 'a block whose request logs [crit] fails');
like($out, qr/should not match any line in error\.log but matches line.*\[crit\]/,
     'the failure names the [crit] line');

($rc, $out) = run_file('crit-expected',
                       "=== TEST 1: a [crit] line it expects\n$crit_location"
                       . "--- error_log\n[crit]\n");
is($rc, 0, 'a block that expects its [crit] line passes')
    or diag($out);

done_testing();
