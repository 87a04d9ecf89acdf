#!/usr/bin/perl
# Load test (issue 6): wrk sends LOAD_REQUESTS requests over
# LOAD_CONNECTIONS connections to a private Apache whose configuration
# uses every feature of the module: server rules with conditions,
# redirects, maps of type txt, rnd, int and prg, an .htaccess with a
# front controller (and a map lookup, a redirect, an env variable),
# [P] to the same server, cookies [CO], env [E] read back by a condition
# and by mod_headers, [C], [QSA], -f.  Once per MPM (event, prefork).
#
# For each MPM it reports and checks:
#   - requests sent, errors (socket errors + answers not 2xx/3xx),
#   - wrong answers: while wrk runs, a checker sends every case of the
#     mix in turn and compares status, Location, body and headers,
#   - crashes ("exit signal", "Segmentation fault" in the error log)
#     and sanitizer reports ("ERROR: AddressSanitizer", "runtime error:"
#     in the error log or in the sanitizer's log files),
#   - the RSS of every server process after a warm-up and at the end
#     (MaxConnectionsPerChild 0, no spare process reaped: the same
#     processes live through the run); the growth of each must stay
#     within LOAD_RSS_BOUND_KB.
#   - lines of level error or worse in the error log.
# Exit status 0 when every check passed.  Read errors (the event MPM
# closing a keep-alive connection as wrk sends on it, seen only on an
# overloaded machine) are tolerated up to LOAD_READ_ERRORS_MAX (default
# one per 10000 requests); every other error fails the run.
#
#   perl t/load/run-load.pl --module PATH [--sanitize]
# Environment:
#   LOAD_REQUESTS      requests per MPM (default 200000)
#   LOAD_WARMUP        requests before the first RSS sample (default
#                      LOAD_REQUESTS/10, at least 2000)
#   LOAD_CONNECTIONS   default 64;  LOAD_THREADS  wrk threads, default 2
#   LOAD_MPMS          default "event prefork"
#   LOAD_RSS_BOUND_KB  allowed RSS growth of a process between the
#                      samples (default 16384 = 16 MB).  With --sanitize
#                      the default is 327680 (320 MB): ASan's allocator
#                      holds freed memory in quarantine, 256 MB per
#                      process plus 1 MB per thread, so RSS grows up to
#                      that much without a leak (run with
#                      RW_ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0
#                      to see the growth without quarantine); the normal
#                      build's run is the one with the tight bound.
#   RW_LOAD_PORTS      ports (default 8700-8799), TMPDIR, RW_KEEP_TMP=1
use strict;
use warnings;

use FindBin ();
use lib $FindBin::Bin;
use Getopt::Long ();
use POSIX ();
use Time::HiRes qw(time sleep);
use RwServer;
use JSON::PP ();

my ($module, $sanitize, $label);
Getopt::Long::GetOptions('module=s' => \$module, 'sanitize!' => \$sanitize,
                         'label=s' => \$label)
    or die "usage: run-load.pl --module PATH [--sanitize] [--label TEXT]\n";
$module ||= RwServer::our_module() or die "run-load: no module (--module PATH)\n";
die "run-load: $module not found\n" unless -f $module;
system('sh', '-c', 'command -v wrk >/dev/null') == 0
    or die "run-load: wrk not found (apt-get install wrk)\n";

my $N       = $ENV{LOAD_REQUESTS} || 200000;
my $WARMUP  = $ENV{LOAD_WARMUP} // ($N / 10 < 2000 ? 2000 : int($N / 10));
my $CONNS   = $ENV{LOAD_CONNECTIONS} || 64;
my $THREADS = $ENV{LOAD_THREADS} || 2;
my @MPMS    = split ' ', ($ENV{LOAD_MPMS} || 'event prefork');
my $READ_MAX = $ENV{LOAD_READ_ERRORS_MAX} // int($N / 10000);
my $BOUND   = $ENV{LOAD_RSS_BOUND_KB} || ($sanitize ? 327680 : 16384);
$label ||= $sanitize ? 'sanitizer build' : 'build';

# Enough workers for every client connection plus, for [P], one backend
# connection each; no process is ever reaped as a spare.
my $workers = 2 * $CONNS + 32;
my %MPM_CONF = (
    event => do {
        my $tpc = 64;
        my $procs = int(($workers + $tpc - 1) / $tpc);
        "StartServers $procs\nServerLimit $procs\nThreadsPerChild $tpc\n"
      . "MaxRequestWorkers " . ($procs * $tpc) . "\nMinSpareThreads $tpc\n"
      . "MaxSpareThreads " . ($procs * $tpc) . "\n";
    },
    prefork => "StartServers $workers\nServerLimit $workers\n"
             . "MaxRequestWorkers $workers\nMinSpareServers 1\n"
             . "MaxSpareServers $workers\n",
);

my $CONF = <<'EOF';
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15
Timeout 60
ProxyTimeout 30

RewriteEngine on
RewriteMap txt "txt:@DIR@/maps/txt.txt"
RewriteMap rnd "rnd:@DIR@/maps/rnd.txt"
RewriteMap lc  int:tolower
RewriteMap esc int:escape
RewriteMap prg "prg:@DIR@/fault-prg.pl"

# canonical host: a condition and a 301 to another host
RewriteCond %{HTTP_HOST} ^www\.example\.com$ [NC]
RewriteRule ^/(.*)$ http://example.com/$1 [R=301,L]
# a moved tree: 302, query string kept
RewriteRule ^/old/(.*)$ /static/$1 [R=302,L]
# maps: txt, rnd, int, prg
RewriteRule ^/t/([a-z0-9]+)$ /static/${txt:$1|notfound}.html [L]
RewriteRule ^/r/ /static/${rnd:pick|a}.html [L]
RewriteRule ^/U/([A-Za-z]+)\.HTML$ /static/${lc:$1}.html [L]
RewriteCond %{QUERY_STRING} (?:^|&)q=([^&]*)
RewriteRule ^/search$ /static/search.html?term=${esc:%1} [R=302,L]
RewriteRule ^/g/([a-z0-9]+)$ /static/${prg:$1|nope}.html [L]
# a cookie and an env variable, shown by mod_headers
RewriteRule ^/c/([a-z]+)$ /static/a.html [CO=rwload:$1:127.0.0.1:10:/,E=RWVAR:$1,L]
Header always set X-RW-Var "%{RWVAR}e" env=RWVAR
# an env variable read back by a condition
RewriteRule ^/e/(ok|no)$ - [E=STEP:$1]
RewriteCond %{ENV:STEP} =ok
RewriteRule ^/e/ /static/env-ok.html [L]
RewriteRule ^/e/ /static/env-other.html [L]
# a file test
RewriteCond %{DOCUMENT_ROOT}/static%{REQUEST_URI} -f
RewriteRule ^/([a-z]+)\.html$ /static/$1.html [L]
# proxy to this same server
RewriteRule ^/px/(.*)$ http://127.0.0.1:@PORT@/static/$1 [P,L]
# a chain and a query string appended
RewriteRule ^/chain/(\w+) - [C]
RewriteRule ^/chain/(\w+)$ /static/$1.html [L]
RewriteRule ^/qsa/(\w+)$ /static/$1.html?added=1 [QSA,L]

<Directory "@DOCROOT@/app">
    AllowOverride FileInfo
</Directory>
Header always set X-Route "%{REDIRECT_ROUTE}e" env=REDIRECT_ROUTE
EOF

my $HTACCESS = <<'EOF';
RewriteEngine on
RewriteBase /app/
RewriteRule ^old-(.*)$ new-$1 [R=301,L]
RewriteRule ^upper/(.*)$ ${lc:$1} [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.*)$ index.html [E=ROUTE:$1,L]
EOF

my %FILES = (
    'static/a.html' => "a\n", 'static/b.html' => "b\n",
    'static/notfound.html' => "notfound\n", 'static/search.html' => "search\n",
    'static/env-ok.html' => "env-ok\n", 'static/env-other.html' => "env-other\n",
    'static/v-k1.html' => "v-k1\n", 'static/v-k2.html' => "v-k2\n",
    'static/v-k3.html' => "v-k3\n", 'static/nope.html' => "nope\n",
    'app/index.html' => "front\n", 'app/real.html' => "real\n",
    'a.html' => "top-a\n",
);

# [path, host or '', status, location regex or undef, body or undef,
#  {header => regex}]
my @CASES = (
    ['/some/page', 'www.example.com', 301, qr{^http://example\.com/some/page$}],
    ['/old/a.html?z=1', '', 302, qr{^http://127\.0\.0\.1:\d+/static/a\.html\?z=1$}],
    ['/t/k1', '', 200, undef, "a\n"],
    ['/t/k2', '', 200, undef, "b\n"],
    ['/t/zz', '', 200, undef, "notfound\n"],
    ['/r/x', '', 200, undef, qr/^[ab]\n$/],
    ['/U/B.HTML', '', 200, undef, "b\n"],
    ['/search?q=hello', '', 302, qr{/static/search\.html\?term=hello$}],
    ['/g/k1', '', 200, undef, "v-k1\n"],
    ['/g/k2', '', 200, undef, "v-k2\n"],
    ['/g/k3', '', 200, undef, "v-k3\n"],
    ['/c/foo', '', 200, undef, "a\n", { 'set-cookie' => qr/^rwload=foo; path=\/; domain=127\.0\.0\.1; expires=/, 'x-rw-var' => qr/^foo$/ }],
    ['/e/ok', '', 200, undef, "env-ok\n"],
    ['/e/no', '', 200, undef, "env-other\n"],
    ['/b.html', '', 200, undef, "b\n"],
    ['/px/a.html', '', 200, undef, "a\n"],
    ['/chain/b', '', 200, undef, "b\n"],
    ['/qsa/a?x=1', '', 200, undef, "a\n"],
    ['/app/some/route', '', 200, undef, "front\n", { 'x-route' => qr/^some\/route$/ }],
    ['/app/real.html', '', 200, undef, "real\n"],
    ['/app/old-thing', '', 301, qr{^http://127\.0\.0\.1:\d+/app/new-thing$}],
    ['/app/upper/REAL.HTML', '', 200, undef, "real\n"],
);

sub check_case {
    my ($s, $c) = @_;
    my ($path, $host, $st, $loc, $body, $hdr) = @$c;
    my $r = $s->get($path, $host ? (host => $host) : (), timeout => 60);
    return "$path: $r->{error}" if $r->{error} && !$r->{status};
    return "$path: status $r->{status}, not $st" if $r->{status} != $st;
    if ($loc && ($r->{location} // '') !~ $loc) {
        return "$path: Location " . ($r->{location} // '(none)');
    }
    if (defined $body) {
        my $okb = ref $body ? $r->{body} =~ $body : $r->{body} eq $body;
        return "$path: body '" . substr($r->{body}, 0, 40) . "'" unless $okb;
    }
    for my $h (sort keys %{ $hdr || {} }) {
        my $v = $r->{headers}{$h};
        return "$path: header $h: " . ($v // '(none)') unless defined $v && $v =~ $hdr->{$h};
    }
    return undef;
}

sub fmt_kb { sprintf '%.1f MB', $_[0] / 1024 }

sub rss_line {
    my ($tag, $sample) = @_;
    my @v = map { $sample->{$_} } sort { $a <=> $b } keys %$sample;
    return "$tag: none" unless @v;
    my ($min, $max, $sum) = ($v[0], $v[0], 0);
    for (@v) { $min = $_ if $_ < $min; $max = $_ if $_ > $max; $sum += $_; }
    return sprintf '%s: %d processes, min %s, max %s, total %s', $tag, scalar @v,
        fmt_kb($min), fmt_kb($max), fmt_kb($sum);
}

# Runs wrk for $n requests; returns a hash of figures.
sub run_wrk {
    my ($s, $n, $listfile) = @_;
    my $mdir = $s->dir . "/wrk-" . int(time * 1000);
    mkdir $mdir or die "$mdir: $!";
    my $per = int(($n + $THREADS - 1) / $THREADS);
    my $out = "$mdir/out";
    my $t0 = time;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { exec 'wrk', '-t', $THREADS, '-c', $CONNS, '-d', '7200s', '--timeout', '60s',
               '-s', "$FindBin::Bin/mix.lua", $s->url . '/', '--', $listfile, $per, $mdir; }
        POSIX::_exit(127);
    }
    # wrk only knows durations: end it once every thread has done its share
    my $deadline = time + 7200;
    while (time < $deadline) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        opendir(my $dh, $mdir) or die "$mdir: $!";
        my $done = grep { /^done\./ } readdir $dh;
        if ($done >= $THREADS) {
            kill 'INT', $pid;
            waitpid $pid, 0;
            last;
        }
        sleep 0.05;
    }
    my $secs = time - $t0;
    open my $fh, '<', $out or die "$out: $!";
    local $/;
    my $text = <$fh>;
    my %f = (text => $text, secs => $secs);
    if ($text =~ /SUMMARY requests=(\d+) duration_us=(\d+) connect=(\d+) read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)/) {
        @f{qw(requests duration_us connect read write status timeout)} = ($1, $2, $3, $4, $5, $6, $7);
    }
    else {
        die "run-load: wrk gave no summary:\n$text\n";
    }
    ($f{statuses}) = $text =~ /STATUSES(.*)/;
    $f{statuses} =~ s/^\s+//;
    ($f{latency}) = $text =~ /LATENCY (.*)/;
    $f{errors} = $f{connect} + $f{read} + $f{write} + $f{timeout} + $f{status};
    return \%f;
}

# Our builds also count rule hits (RewriteStatistics, issue 18) during
# the load; the stock module knows no such directive.
my $STATS = $label =~ /stock/ ? '' : "RewriteStatistics On\n"
    . "<Location /rewrite-status>\n  SetHandler rewrite-status\n</Location>\n";

sub run_mpm {
    my ($mpm) = @_;
    my %san_env;
    my $s = RwServer->new(
        tag => "load-$mpm", mpm => $mpm, module => $module,
        modules => [qw(headers proxy proxy_http)],
        mpm_conf => $MPM_CONF{$mpm}, conf => $STATS . $CONF, loglevel => 'warn');
    my $d = $s->dir;
    if ($sanitize) {
        %san_env = RwServer::sanitizer_env("$d/logs");
        $s->{env} = \%san_env;
    }
    RwServer::write_file("$d/htdocs/$_", $FILES{$_}) for keys %FILES;
    RwServer::write_file("$d/htdocs/app/.htaccess", $HTACCESS);
    RwServer::write_file("$d/maps/txt.txt", "k1 a\nk2 b\n");
    RwServer::write_file("$d/maps/rnd.txt", "pick a|b\n");
    system('cp', "$FindBin::Bin/fault-prg.pl", "$d/fault-prg.pl") == 0 or die;
    chmod 0755, "$d/fault-prg.pl";
    my $list = '';
    for my $c (@CASES) { $list .= "$c->[0]" . ($c->[1] ? " $c->[1]" : '') . "\n"; }
    RwServer::write_file("$d/list.txt", $list);

    my %r = (mpm => $mpm, dir => $d);
    my $err = $s->start;
    if ($err) { $r{fail} = ["server does not start: $err"]; return \%r; }
    my @fail;
    # every case right before the load
    for my $c (@CASES) {
        my $e = check_case($s, $c);
        push @fail, "before the load: $e" if $e;
    }
    sleep 1;
    $r{rss_start} = $s->rss_sample;
    $r{warmup} = run_wrk($s, $WARMUP, "$d/list.txt") if $WARMUP;
    sleep 1;
    $r{rss_before} = $s->rss_sample;

    # the checker: every case in turn while wrk runs
    my $stop = "$d/checker.stop";
    my $cpid = fork;
    die "fork: $!" unless defined $cpid;
    if (!$cpid) {
        my ($n, $bad, @ex) = (0, 0);
        my $i = 0;
        until (-e $stop) {
            my $e = check_case($s, $CASES[$i++ % @CASES]);
            ++$n;
            if ($e) { ++$bad; push @ex, $e if @ex < 5; }
        }
        open my $fh, '>', "$d/checker.out";
        print $fh "$n $bad\n", map { "$_\n" } @ex;
        close $fh;
        POSIX::_exit(0);
    }
    $r{main} = run_wrk($s, $N, "$d/list.txt");
    RwServer::write_file($stop, '');
    waitpid $cpid, 0;
    if (open my $fh, '<', "$d/checker.out") {
        my $l = <$fh>;
        @r{qw(checked wrong)} = split ' ', $l;
        $r{wrong_examples} = [map { chomp; $_ } <$fh>];
    }
    else {
        push @fail, 'the checker gave no result';
        @r{qw(checked wrong)} = (0, 0);
    }
    sleep 1;
    $r{rss_after} = $s->rss_sample;
    # every case right after the load
    for my $c (@CASES) {
        my $e = check_case($s, $c);
        push @fail, "after the load: $e" if $e;
    }
    if ($STATS) {
        # the counters of every process, after the load: the dump parses
        # and counts at least one hit a request sent (every case of the
        # mix matches a rule)
        my $j = $s->get('/rewrite-status?json');
        my $doc = eval { JSON::PP->new->utf8->decode($j->{body}) };
        my $sent = ($r{main} ? $r{main}{requests} : 0) + ($r{warmup} ? $r{warmup}{requests} : 0);
        $r{stats} = $doc ? "$doc->{hits_total} rule hits counted over $doc->{rules_total} rules"
                         . " and $doc->{htaccess_used} .htaccess rules, for $sent requests"
                         : 'no statistics';
        push @fail, "statistics: the rewrite-status JSON does not parse: $@" unless $doc;
        push @fail, "statistics: $doc->{hits_total} hits counted for $sent requests sent"
            if $doc && $doc->{hits_total} < $sent;
    }
    $r{alive} = $s->pid && kill(0, $s->pid) ? 1 : 0;
    $s->stop;
    sleep 0.5;
    my @bad = $s->bad_lines;
    $r{crashes}  = grep { /exit signal|Segmentation fault|DEADLYSIGNAL/ } @bad;
    $r{san}      = grep { /ERROR: (?:Address|Leak)Sanitizer|runtime error:/ } @bad;
    $r{bad_lines} = \@bad;
    my @err = grep { /\[[a-z_]+:(?:error|crit|alert|emerg)\]/ } split /\n/, $s->log_text;
    $r{errlines} = scalar @err;
    $r{errlines_ex} = [@err[0 .. ($#err < 5 ? $#err : 5)]];
    # sanitizer reports in full, for the report
    my @reports;
    if (opendir my $dh, "$d/logs") {
        for my $f (sort grep { /^(?:asan|ubsan)\./ } readdir $dh) {
            open my $fh, '<', "$d/logs/$f" or next;
            local $/;
            push @reports, "== $f ==\n" . <$fh>;
        }
    }
    $r{reports} = \@reports;

    # RSS growth of every process that lived through the run
    my ($grown, $maxg, $maxpid) = (0, undef, undef);
    my ($rb, $ra) = @r{qw(rss_before rss_after)};
    my @same = grep { exists $ra->{$_} } keys %$rb;
    $r{procs_before} = scalar keys %$rb;
    $r{procs_after} = scalar keys %$ra;
    $r{procs_same} = scalar @same;
    for my $p (@same) {
        my $g = $ra->{$p} - $rb->{$p};
        ($maxg, $maxpid) = ($g, $p) if !defined $maxg || $g > $maxg;
        ++$grown if $g > $BOUND;
    }
    $r{max_growth} = $maxg // 0;
    $r{grown} = $grown;

    push @fail, "server not alive after the load" unless $r{alive};
    # the event MPM may close a keep-alive connection just as wrk sends
    # on it when the machine is overloaded (a read error, nothing in the
    # log); a few of them are tolerated, any other error is not
    my $m = $r{main};
    my $hard = $m->{errors} - $m->{read};
    push @fail, "$hard errors (connect/write/timeout or answers not 2xx/3xx)" if $hard;
    push @fail, "$m->{read} read errors (more than $READ_MAX)" if $m->{read} > $READ_MAX;
    push @fail, "$r{errlines} lines of level error or worse in the error log" if $r{errlines};
    push @fail, "errors during the warm-up" if $r{warmup}
        && ($r{warmup}{errors} - $r{warmup}{read} || $r{warmup}{read} > $READ_MAX);
    push @fail, "$r{wrong} wrong answers seen by the checker" if $r{wrong};
    push @fail, "$r{crashes} crash lines in the error log" if $r{crashes};
    push @fail, "$r{san} sanitizer reports" if $r{san};
    push @fail, scalar(@reports) . " sanitizer log files" if @reports && !$r{san};
    push @fail, "server processes changed during the run ($r{procs_before} before, $r{procs_after} after, $r{procs_same} the same)"
        if $r{procs_same} != $r{procs_before} || $r{procs_after} != $r{procs_before};
    push @fail, "$grown processes grew by more than " . fmt_kb($BOUND) if $grown;
    $r{fail} = \@fail;
    return \%r;
}

print "load: module $module ($label", ($ENV{RW_ASAN_OPTIONS} && $sanitize ? ", ASAN_OPTIONS +$ENV{RW_ASAN_OPTIONS}" : ''), "), $N requests per MPM over $CONNS connections"
    . " ($THREADS wrk threads), warm-up $WARMUP, RSS bound " . fmt_kb($BOUND) . " per process\n";
my $failed = 0;
for my $mpm (@MPMS) {
    my $r = run_mpm($mpm);
    print "\n== $mpm ($label) ==\n";
    if ($r->{main}) {
        my $m = $r->{main};
        printf "requests: %d in %.1f s (%.0f/s); errors: %d (connect %d, read %d, write %d, timeout %d, not 2xx/3xx %d)\n",
            $m->{requests}, $m->{duration_us} / 1e6, $m->{requests} / ($m->{duration_us} / 1e6 || 1),
            $m->{errors}, @$m{qw(connect read write timeout status)};
        print "statuses: $m->{statuses}\nlatency: $m->{latency}\n";
        printf "warm-up: %d requests, %d errors\n", $r->{warmup}{requests}, $r->{warmup}{errors} if $r->{warmup};
        print "checker: $r->{checked} cases checked during the load, $r->{wrong} wrong\n";
        print "statistics: $r->{stats}\n" if $r->{stats};
        print "  $_\n" for @{ $r->{wrong_examples} || [] };
        print "crashes: $r->{crashes}; sanitizer reports: $r->{san}; error-log lines of level error or worse: $r->{errlines}\n";
        print "  $_\n" for @{ $r->{errlines_ex} || [] };
        print rss_line('RSS at start       ', $r->{rss_start}), "\n";
        print rss_line('RSS after warm-up  ', $r->{rss_before}), "\n";
        print rss_line('RSS after the load ', $r->{rss_after}), "\n";
        printf "RSS growth per process (warm-up -> end): max %s (bound %s), %d over the bound; %d processes lived through the run\n",
            fmt_kb($r->{max_growth}), fmt_kb($BOUND), $r->{grown}, $r->{procs_same};
        if ($ENV{LOAD_VERBOSE}) {
            for my $p (sort { $a <=> $b } keys %{ $r->{rss_after} }) {
                printf "  pid %-7d start %8d kB  warm %8d kB  end %8d kB\n", $p,
                    $r->{rss_start}{$p} // -1, $r->{rss_before}{$p} // -1, $r->{rss_after}{$p};
            }
        }
    }
    if (@{ $r->{bad_lines} || [] }) {
        print "crash / sanitizer lines:\n";
        print "  $_" for @{ $r->{bad_lines} }[0 .. ($#{ $r->{bad_lines} } < 30 ? $#{ $r->{bad_lines} } : 30)];
    }
    print $_ for @{ $r->{reports} || [] };
    if (@{ $r->{fail} }) {
        $failed = 1;
        print "FAIL: $_\n" for @{ $r->{fail} };
        print "(server directory: $r->{dir})\n" if $ENV{RW_KEEP_TMP};
    }
    else {
        print "PASS\n";
    }
}
print "\nload: ", ($failed ? 'FAILED' : 'passed'), "\n";
exit $failed;
