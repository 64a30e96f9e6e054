#!/usr/bin/perl
# The table bench/run prints: medians over repetitions of one batch of
# securechat-load JSON lines (stdin), securechat against nchan, per worker
# count and subscriber count.
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
    push @{ $g{$r->{workers}}{$r->{subs}}{$r->{mode}}{$r->{kind}} }, $r;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub med {    # median of a field over the runs of (w, n, mode, kind)
    my ($w, $n, $mode, $kind, $f) = @_;
    my $runs = $g{$w}{$n}{$mode}{$kind} or return undef;
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

printf "%-3s %-6s %-32s %12s %12s %9s\n", 'W', 'N', 'figure', 'securechat',
    'nchan', 'sc/nchan';

for my $w (sort { $a <=> $b } keys %g) {
    for my $n (sort { $a <=> $b } keys %{ $g{$w} }) {
        my $first = 1;
        for my $row (@rows) {
            my ($label, $kind, $f) = @$row;
            my $s = med($w, $n, 'securechat', $kind, $f);
            my $c = med($w, $n, 'nchan', $kind, $f);
            next unless defined $s || defined $c;
            printf "%-3s %-6s %-32s %12s %12s %9s\n",
                $first ? $w : '', $first ? $n : '', $label, fmt($s), fmt($c),
                ratio($s, $c);
            $first = 0;
        }

        # the login storm: securechat only, same fixed rate as 'rate'
        my $p99 = med($w, $n, 'securechat', 'rate', 'lat_p99_us');
        my $sp99 = med($w, $n, 'securechat', 'storm', 'lat_p99_us');
        if (defined $sp99) {
            printf "%-3s %-6s %-32s %12s %12s %9s\n", '', '',
                'p99 us, login storm on (sc)', fmt($sp99), '-',
                ratio($sp99, $p99) . 'x';
            printf "%-3s %-6s %-32s %12s\n", '', '',
                'storm logins/s (login p99 us)',
                fmt(med($w, $n, 'securechat', 'storm', 'storm_logins_per_s'))
                . ' (' . fmt(med($w, $n, 'securechat', 'storm',
                                 'storm_login_p99_us')) . ')';
            printf "%-3s %-6s %-32s %12s\n", '', '',
                'storm lost deliveries (sc)',
                fmt(med($w, $n, 'securechat', 'storm', 'lost'));
        }

        my $sig = med($w, $n, 'securechat', 'max', 'sig_checked');
        my $bad = 0;
        for my $k (qw(max rate storm)) {
            for my $r (@{ $g{$w}{$n}{securechat}{$k} // [] }) {
                $bad += ($r->{sig_failed} // 0) + ($r->{bad} // 0);
            }
        }
        printf "%-3s %-6s %-32s %12s\n", '', '',
            'signatures checked / failed+bad',
            fmt($sig) . " / $bad" if defined $sig;
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
