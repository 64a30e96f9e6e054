#!/usr/bin/perl
# The table bench/run prints: medians over repetitions of one batch of
# securechat-load JSON lines (stdin), securechat against nchan, per worker
# count, subscriber count and workload (1 room, K rooms, pairs; lines of
# before the workloads are 1 room's).
#
#   perl bench/summarize.pl BATCH < bench/results/runs.jsonl

use strict;
use warnings;
use JSON::PP;

my $batch = shift // die "usage: summarize.pl BATCH < runs.jsonl\n";
my %g;

while (my $line = <STDIN>) {
    next unless $line =~ /^\{/;
    my $r = eval { decode_json($line) } or next;
    next unless ($r->{batch} // '') eq $batch;
    my $wl = $r->{workload} // '1 room';
    push @{ $g{$r->{workers}}{$r->{subs}}{$wl}{$r->{mode}}{$r->{kind}} }, $r;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub med {    # median of a field over the runs of (w, n, workload, mode, kind)
    my ($w, $n, $wl, $mode, $kind, $f) = @_;
    my $runs = $g{$w}{$n}{$wl}{$mode}{$kind} or return undef;
    return median(map { $_->{$f} } @$runs);
}

sub fmt {
    my ($v) = @_;
    return '-' unless defined $v;
    return sprintf('%.0f', $v) if abs($v) >= 100;
    return sprintf('%.2f', $v) if abs($v) >= 1 || $v == 0;
    return sprintf('%.3f', $v);
}

sub ratio {
    my ($a, $b) = @_;
    return '-' unless defined $a && defined $b && $b != 0;
    return sprintf('%.2f', $a / $b);
}

my @rows = (
    # label, kind, field
    ['deliveries/s (max rate)',        'max',   'deliveries_per_s'],
    ['messages/s published (max)',     'max',   'msgs_per_s'],
    ['lost deliveries (max)',          'max',   'lost'],
    ['duplicated deliveries (max)',    'max',   'dup'],
    ['gap frames (max)',               'max',   'gaps'],
    ['server CPU us/delivery (max)',   'max',   'server_us_per_delivery'],
    ['load tool CPU share (max)',      'max',   'tool_cpu_frac'],
    ['fixed rate, messages/s asked',   'rate',  'rate'],
    ['fixed rate, messages/s achieved','rate',  'msgs_per_s'],
    ['latency p50 us (fixed rate)',    'rate',  'lat_p50_us'],
    ['latency p99 us (fixed rate)',    'rate',  'lat_p99_us'],
    ['latency max us (fixed rate)',    'rate',  'lat_max_us'],
    ['lost deliveries (fixed rate)',   'rate',  'lost'],
    ['server CPU us/delivery (rate)',  'rate',  'server_us_per_delivery'],
    ['idle bytes/conn, RSS, all N',    'idle',  'bytes_per_conn'],
    ['idle bytes/conn, RSS, 2nd half', 'idle',  'bytes_per_conn_marginal'],
    ['idle bytes/conn, PSS, 2nd half', 'idle',  'pss_per_conn_marginal'],
    ['connect time s (all N)',         'idle',  'connect_s'],
);

# workloads in the order of bench/run: 1 room, K rooms by K, pairs
sub wl_order {
    my ($x) = @_;
    return 1e9 if $x eq 'pairs';
    return $x =~ /^(\d+)/ ? $1 : 1e9 - 1;
}

my $fmt = "%-3s %-6s %-9s %-32s %12s %12s %9s\n";

printf $fmt, 'W', 'N', 'workload', 'figure', 'securechat', 'nchan',
    'sc/nchan';

for my $w (sort { $a <=> $b } keys %g) {
    for my $n (sort { $a <=> $b } keys %{ $g{$w} }) {
        my $firstn = 1;
        for my $wl (sort { wl_order($a) <=> wl_order($b) }
                    keys %{ $g{$w}{$n} })
        {
            my $first = 1;
            my $row = sub {    # one line, W N workload on a block's first
                my ($label, @v) = @_;
                my $l = sprintf $fmt, $firstn ? $w : '', $firstn ? $n : '',
                    $first ? $wl : '', $label, map { $_ // '' } @v[0 .. 2];
                $l =~ s/ +$//;
                print $l;
                $first = $firstn = 0;
            };

            for my $r (@rows) {
                my ($label, $kind, $f) = @$r;
                my $s = med($w, $n, $wl, 'securechat', $kind, $f);
                my $c = med($w, $n, $wl, 'nchan', $kind, $f);
                next unless defined $s || defined $c;
                $row->($label, fmt($s), fmt($c), ratio($s, $c));
            }

            # the login storm: securechat only, same fixed rate as 'rate'
            my $p99 = med($w, $n, $wl, 'securechat', 'rate', 'lat_p99_us');
            my $sp99 = med($w, $n, $wl, 'securechat', 'storm', 'lat_p99_us');
            if (defined $sp99) {
                $row->('p99 us, login storm on (sc)', fmt($sp99), '-',
                       ratio($sp99, $p99) . 'x');
                $row->('storm logins/s (login p99 us)',
                       fmt(med($w, $n, $wl, 'securechat', 'storm',
                               'storm_logins_per_s'))
                       . ' (' . fmt(med($w, $n, $wl, 'securechat', 'storm',
                                        'storm_login_p99_us')) . ')',
                       );
                $row->('storm lost deliveries (sc)',
                       fmt(med($w, $n, $wl, 'securechat', 'storm', 'lost')));
            }

            # sums over every phase and repetition, not medians: any is
            # a fault (bad includes deliveries to a non-member's socket)
            my (%failed, %bad, %wrong);
            for my $m (qw(securechat nchan)) {
                for my $k (qw(max rate storm)) {
                    for my $r (@{ $g{$w}{$n}{$wl}{$m}{$k} // [] }) {
                        $failed{$m} += ($r->{sig_failed} // 0)
                            + ($r->{bad} // 0);
                        $bad{$m} += ($r->{bad} // 0) + ($r->{dup} // 0);
                        $wrong{$m} += $r->{wrong_room} // 0;
                    }
                }
            }

            my $sig = med($w, $n, $wl, 'securechat', 'max', 'sig_checked');
            $row->('signatures checked / failed+bad',
                   fmt($sig) . " / " . ($failed{securechat} // 0))
                if defined $sig;
            $row->('bad+dup / of them wrong room',
                   ($bad{securechat} // 0) . ' / '
                       . ($wrong{securechat} // 0),
                   ($bad{nchan} // 0) . ' / ' . ($wrong{nchan} // 0), '-')
                if defined $sig || defined $bad{nchan};
        }
    }
}

print "\nlost = acknowledged publishes a connected subscriber never got, after"
    . " a drain;\nus/delivery = worker utime+stime / unique deliveries; the"
    . " load tool shares\nthe same cores, so compare ratios, not absolutes."
    . "  'x' = storm p99 / no-storm p99.\nidle bytes/conn: the"
    . " workers' memory growth per connection, over all N from before"
    . " connecting,\nor over the second N/2 only (without what a worker"
    . " allocates once); PSS counts\nshared-memory pages once, RSS once per"
    . " worker that touched them.\n";
