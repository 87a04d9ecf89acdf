# Rule statistics (issue 18): RewriteStatistics On, the request notes
# rewrite-rule and rewrite-outcome in a custom LogFormat, the per-rule
# counters shared by every child (prefork, and the event MPM under load
# with ab), graceful restarts that keep them (same rules) or reset the
# rules whose text changed, the rewrite-status page as JSON and
# Prometheus (both parsed), as HTML in headless Chromium (screenshot,
# the rule rows read from the DOM the browser built), the server-status
# section, and a config without the directive behaving as stock.
#
# Each part runs a private Apache (t/load/RwServer.pm, ports 8700-8799
# unless RW_LOAD_PORTS says otherwise) with OUR module.
#
#   perl t/stats.t      (as root or not; RW_MODULE=... for a build)
#   RW_STATS_SCREENSHOT=docs/rewrite-status.png  also copies the
#                       screenshot there (how the README's was made)
#   RW_STATS_LOAD=N     requests of the load part (default 20000)
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/load";
use Test::More;
binmode(Test::More->builder->$_, ':utf8') for qw(output failure_output todo_output);
use JSON::PP ();
use File::Copy ();
use Time::HiRes qw(time sleep);
use RwServer;

my $OURS  = RwServer::our_module();
my $STOCK = RwServer::stock_module();
plan skip_all => 'module under test not found' unless $OURS;
plan skip_all => "$RwServer::HTTPD not found" unless -x $RwServer::HTTPD;

my $LOAD = $ENV{RW_STATS_LOAD} || 20000;
my @servers;
# a test that dies half-way leaves no server behind
END { local $?; $_->stop for @servers }

# The rules of every part; @STATS@ becomes the statistics lines.
my $RULES = <<'EOF';
@STATS@
LogFormat "%P %U%q %>s rule=%{rewrite-rule}n outcome=%{rewrite-outcome}n" rw
CustomLog "@DIR@/logs/access_log" rw
RewriteEngine on
RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]
RewriteCond %{QUERY_STRING} ^go$
RewriteRule ^/cond$ /target.html [L]
RewriteRule ^/forbid - [F]
RewriteRule ^/gone - [G]
RewriteRule ^/page$ /target.html [L]
RewriteRule "^/<img src=x onerror=alert('x')>&amp;$" /x [L]
RewriteRule ^/never-(a|b)$ /x [L]
RewriteRule ^/caf\xE9$ /x [L]
<Directory "@DOCROOT@/ht">
  AllowOverride All
</Directory>
<Location /rewrite-status>
  SetHandler rewrite-status
</Location>
<Location /server-status>
  SetHandler server-status
</Location>
EOF
$RULES =~ s/\\xE9/\xE9/;        # a Latin-1 byte: not UTF-8

my $STATS_ON = "RewriteStatistics On";

sub server {
    my (%a) = @_;
    my $conf = delete $a{rules} // $RULES;
    my $stats = delete $a{stats} // $STATS_ON;
    $conf =~ s/\@STATS\@/$stats/;
    my $s = RwServer->new(modules => [qw(log_config status)], %a,
                          conf => $conf);
    push @servers, $s;
    mkdir $s->docroot . "/ht";
    for (['target.html', "target\n"], ['ht/b.html', "b\n"],
         ['ht/.htaccess', "RewriteEngine on\nRewriteRule ^a\$ b.html [L]\n"]) {
        RwServer::write_file($s->docroot . "/$_->[0]", $_->[1]);
    }
    return $s;
}

# Line of the config file where text first appears (1-based).
sub line_of {
    my ($s, $text) = @_;
    my @l = split /\n/, $s->{conf_text}, -1;
    for my $i (0 .. $#l) { return $i + 1 if index($l[$i], $text) >= 0 }
    die "'$text' not in the config";
}

sub access_lines {
    my ($s) = @_;
    open my $fh, '<', $s->dir . '/logs/access_log' or return ();
    return map { chomp; $_ } <$fh>;
}

# Waits until the access log has n lines (it is written after the answer).
sub wait_access {
    my ($s, $n) = @_;
    for (1 .. 100) { my @l = access_lines($s); return @l if @l >= $n; sleep 0.05 }
    return access_lines($s);
}

sub json_of {
    my ($s) = @_;
    my $r = $s->get('/rewrite-status?json');
    my $d = eval { JSON::PP->new->utf8->decode($r->{body}) };
    diag "JSON: $@\n$r->{body}" unless $d;
    return ($d, $r);
}

# The rule of the JSON dump at file:line (config file when file is undef).
sub rule_at {
    my ($d, $s, $line, $file) = @_;
    $file //= $s->dir . '/httpd.conf';
    my @r = grep { $_->{file} eq $file && $_->{line} == $line } @{ $d ? $d->{rules} : [] };
    return $r[0] // {};
}

# The Prometheus text format, parsed: { samples => [[name, {labels}, value]],
# types => {name => type} }; dies on a line that is not in the format.
sub parse_prometheus {
    my ($text) = @_;
    my (%types, %help, @samples);
    for my $l (split /\n/, $text) {
        next if $l eq '';
        if ($l =~ /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/) {
            my ($kw, $m, $t) = ($1, $2, $3);
            if ($kw eq 'TYPE') {
                die "bad type '$t'\n" unless $t =~ /^(counter|gauge|histogram|summary|untyped)$/;
                die "TYPE of $m after its samples\n" if grep { $_->[0] eq $m } @samples;
                $types{$m} = $t;
            }
            else { $help{$m} = $t }
            next;
        }
        die "comment line '$l'\n" if $l =~ /^#/;
        $l =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)/g or die "no metric name: '$l'\n";
        my ($name, %labels) = ($1);
        if ($l =~ /\G\{/gc) {
            until ($l =~ /\G\}/gc) {
                $l =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="/gc or die "bad label in '$l'\n";
                my ($k, $v) = ($1, '');
                while (1) {
                    if ($l =~ /\G\\(["\\n])/gc) { $v .= $1 eq 'n' ? "\n" : $1 }
                    elsif ($l =~ /\G"/gc) { last }
                    elsif ($l =~ /\G([^"\\]+)/gc) { $v .= $1 }
                    else { die "unterminated label value in '$l'\n" }
                }
                die "label $k twice in '$l'\n" if exists $labels{$k};
                $labels{$k} = $v;
                $l =~ /\G,/gc;
            }
        }
        $l =~ /\G (\S+)(?: (-?\d+))?$/gc or die "bad value in '$l'\n";
        my $v = $1;
        die "not a number: '$v'\n" unless $v =~ /^[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN|[-+]?Inf)$/;
        die "sample of $name without TYPE\n" unless $types{$name};
        push @samples, [$name, \%labels, $v + 0];
    }
    return { samples => \@samples, types => \%types, help => \%help };
}

sub graceful_and_wait {
    my ($s) = @_;
    my $mark = $s->log_mark;
    my $err = $s->graceful;
    return $err if $err;
    return 'no new generation' unless $s->wait_log(qr/resuming normal operations/, 30, $mark);
    # the old generation's idle children go away
    sleep 1.5;
    return undef;
}

sub chromium {
    for (qw(chromium chromium-browser google-chrome)) {
        my $p = `sh -c 'command -v $_' 2>/dev/null`;
        chomp $p;
        return $p if $p;
    }
    return undef;
}

# ---------------------------------------------------------------------
# 1. notes, counters across prefork children, JSON, Prometheus, HTML
# ---------------------------------------------------------------------
my $s = server(tag => 'stats-prefork',
               mpm_conf => "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n");
my $err = $s->start;
ok(!$err, 'prefork: server starts') or diag $err;
my $conf = $s->dir . '/httpd.conf';
my $ht = $s->docroot . '/ht/.htaccess';
my %L = (old => line_of($s, '^/old/'), cond => line_of($s, '^/cond$'),
         forbid => line_of($s, '^/forbid'), gone => line_of($s, '^/gone'),
         page => line_of($s, '^/page$'), img => line_of($s, '<img'),
         never => line_of($s, '^/never-'), cafe => line_of($s, '^/caf'));

my @cases = (
    # path, status, note rule, outcome
    ['/old/x', 301, "$conf:$L{old}", 'redirect 301'],
    ['/cond?go', 200, "$conf:$L{cond}", 'internal'],
    ['/cond', 404, '-', '-'],
    ['/forbid', 403, "$conf:$L{forbid}", 'forbidden'],
    ['/gone', 410, "$conf:$L{gone}", 'gone'],
    ['/page', 200, "$conf:$L{page}", 'internal'],
    ['/nothing', 404, '-', '-'],
    ['/ht/a', 200, "$ht:2", 'internal'],
);
for my $c (@cases) {
    is($s->get($c->[0])->{status}, $c->[1], "prefork: $c->[0] answers $c->[1]");
}
my @log = wait_access($s, scalar @cases);
for my $i (0 .. $#cases) {
    my $c = $cases[$i];
    my ($u, $q) = split /\?/, $c->[0];
    my $want = "$u" . ($q ? "?$q" : '') . " $c->[1] rule=$c->[2] outcome=$c->[3]";
    is(($log[$i] // '') =~ s/^\d+ //r, $want, "LogFormat notes: $c->[0]");
}

# many requests over several connections at once: every child counts
my $n = 400;
my $ab = `ab -n $n -c 8 -q http://127.0.0.1:@{[$s->port]}/page 2>&1`;
like($ab, qr/Complete requests:\s+$n\b/, "prefork: ab sent $n requests");
like($ab, qr/Failed requests:\s+0\b/, 'prefork: none failed');
@log = wait_access($s, @cases + $n);
my %pids = map { /^(\d+) \/page / ? ($1 => 1) : () } @log;
cmp_ok(scalar keys %pids, '>=', 2, 'prefork: the requests were served by several children')
    or diag "pids: @{[keys %pids]}";

my ($d, $r) = json_of($s);
ok($d, 'JSON: parses');
is($r->{headers}{'content-type'}, 'application/json', 'JSON: content type');
my %want_hits = (old => 1, cond => 1, forbid => 1, gone => 1, page => 1 + $n,
                 img => 0, never => 0, cafe => 0);
for my $k (sort keys %want_hits) {
    my $e = rule_at($d, $s, $L{$k});
    ok(%$e, "JSON: rule $k at line $L{$k}") or next;
    is($e->{hits}, $want_hits{$k}, "JSON: rule $k: $want_hits{$k} hits");
    if ($want_hits{$k}) {
        like($e->{last_hit}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "JSON: rule $k: last hit");
        cmp_ok(abs($e->{last_hit_epoch} - time), '<', 120, "JSON: rule $k: last hit is recent");
    }
    else {
        ok(!defined $e->{last_hit}, "JSON: rule $k: never hit: last_hit null");
    }
}
is(scalar @{ $d->{rules} } - $d->{htaccess_used}, $d->{rules_total}, 'JSON: one entry a config rule');
is($d->{rules_total}, 8, 'JSON: 8 config rules');
is($d->{rules_never_hit}, 3, 'JSON: 3 never hit');
is($d->{hits_total}, 6 + $n, 'JSON: total hits (config and .htaccess)');
my $img = rule_at($d, $s, $L{img});
is($img->{pattern}, "^/<img src=x onerror=alert('x')>&amp;\$", 'JSON: pattern with markup, as written');
is($img->{flags}, '[L]', 'JSON: flags');
is(rule_at($d, $s, $L{cond})->{conditions}, '%{QUERY_STRING} ^go$', 'JSON: conditions');
is(rule_at($d, $s, $L{cafe})->{pattern}, "^/caf\x{FFFD}\$", 'JSON: a byte that is not UTF-8 becomes U+FFFD');
my $hte = rule_at($d, $s, 2, $ht);
ok(%$hte, 'JSON: the .htaccess rule, by file and line');
is($hte->{hits}, 1, 'JSON: .htaccess rule: 1 hit');
is($hte->{context}, 'htaccess', 'JSON: .htaccess rule: context');
is($hte->{pattern}, '^a$', 'JSON: .htaccess rule: pattern');

# Prometheus, both names
for my $q (qw(prometheus metrics)) {
    my $pr = $s->get("/rewrite-status?$q");
    like($pr->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, "?$q: content type");
    my $p = eval { parse_prometheus($pr->{body}) };
    ok($p, "?$q: parses") or diag "$@\n$pr->{body}";
    next unless $p;
    is($p->{types}{rewrite_rule_hits_total}, 'counter', "?$q: hits are a counter");
    my %hits = map { ("$_->[1]{file}:$_->[1]{line}" => $_->[2]) }
               grep { $_->[0] eq 'rewrite_rule_hits_total' } @{ $p->{samples} };
    my %jhits = map { ("$_->{file}:$_->{line}" => $_->{hits}) } @{ $d->{rules} };
    # hits may have grown by nothing since: no rule matches the status URL
    is_deeply(\%hits, \%jhits, "?$q: the same counters as the JSON");
    my ($never) = grep { $_->[0] eq 'rewrite_rules_never_hit' } @{ $p->{samples} };
    is($never && $never->[2], 3, "?$q: rules never hit");
    my ($lh) = grep { $_->[0] eq 'rewrite_rule_last_hit_timestamp_seconds' &&
                      $_->[1]{line} == $L{never} && $_->[1]{file} eq $conf } @{ $p->{samples} };
    is($lh && $lh->[2], 0, "?$q: last hit of a rule never hit is 0");
}

# HTML, as text: everything escaped, one row a rule, never-hit rows marked
my $h = $s->get('/rewrite-status');
is($h->{status}, 200, 'HTML: 200');
like($h->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'HTML: content type');
unlike($h->{body}, qr/<img/, 'HTML: no markup from a pattern');
like($h->{body}, qr/\^\/&lt;img src=x onerror=alert\(&#39;x&#39;\)&gt;&amp;amp;\$/, 'HTML: the pattern escaped');
my $sorted = $s->get('/rewrite-status?sort=hits')->{body};
my @order = $sorted =~ /<td>\Q$conf\E:(\d+)<\/td>/g;
is($order[0], $L{page}, 'HTML ?sort=hits: the most hit rule first');

# server-status: the short section
my $ss = $s->get('/server-status?auto')->{body};
like($ss, qr/^RewriteRules: 8$/m, 'server-status?auto: rules');
like($ss, qr/^RewriteRulesNeverHit: 3$/m, 'server-status?auto: never hit');
like($s->get('/server-status')->{body}, qr/<h2>mod_rewrite<\/h2>/, 'server-status: a rewrite section');

# a real browser: the screenshot, and the rows from the DOM it built
my $chrome = chromium();
ok($chrome, 'Chromium is installed (apt-get install chromium)');
SKIP: {
    skip 'no Chromium', 6 unless $chrome;
    my $home = $s->dir . '/chrome';
    mkdir $home;
    # (a sanitizer run preloads its runtimes into everything: not Chromium)
    my @cmd = ('env', '-u', 'LD_PRELOAD', 'timeout', '120', $chrome, '--headless', '--no-sandbox', '--disable-gpu',
               '--disable-dev-shm-usage', "--user-data-dir=$home/profile",
               '--hide-scrollbars');
    my $url = $s->url . '/rewrite-status';
    my $png = $s->dir . '/rewrite-status.png';
    local $ENV{HOME} = $home;
    system(join(' ', map { "'$_'" } @cmd, '--window-size=1500,560',
                "--screenshot=$png", $url) . ' >/dev/null 2>&1');
    ok(-s $png && -s $png > 10000, 'Chromium: screenshot taken');
    open my $fh, '<:raw', $png;
    my $magic = '';
    read($fh, $magic, 8) if $fh;
    is($magic, "\x89PNG\r\n\x1a\n", 'Chromium: it is a PNG');
    File::Copy::copy($png, $ENV{RW_STATS_SCREENSHOT}) if $ENV{RW_STATS_SCREENSHOT};
    my $dom = `@{[join ' ', map { "'$_'" } @cmd]} --dump-dom '$url' 2>/dev/null`;
    my @rows = $dom =~ /<tr class="rule( never)?"/g;
    is(scalar @rows, 9, 'Chromium DOM: one row a rule (8 config, 1 .htaccess)');
    is(scalar(grep { defined } @rows), 3, 'Chromium DOM: 3 rows marked never hit');
    unlike($dom, qr/<img/, 'Chromium DOM: no element made from a pattern');
    like($dom, qr/&lt;img src=x onerror=alert\('x'\)&gt;/, 'Chromium DOM: the pattern is text');
}

# ---------------------------------------------------------------------
# 2. graceful restarts: same rules keep their counters; a changed rule
#    starts again; lines moved do not matter (identity by text)
# ---------------------------------------------------------------------
($d) = json_of($s);
my $since = $d->{since};
$err = graceful_and_wait($s);
ok(!$err, 'graceful restart, same config') or diag $err;
my ($d2) = json_of($s);
is_deeply([map { [$_->{line}, $_->{hits}] } @{ $d2->{rules} }],
          [map { [$_->{line}, $_->{hits}] } @{ $d->{rules} }],
          'graceful, same config: every counter kept');
is($d2->{since}, $since, 'graceful, same config: counting since the start');
is($s->get('/page')->{status}, 200, 'graceful: serves');
($d2) = json_of($s);
is(rule_at($d2, $s, $L{page})->{hits}, $want_hits{page} + 1, 'graceful: counts on');

# a comment above the rules (every line moves down), ^/forbid changed
my $rules2 = $RULES;
$rules2 =~ s/RewriteEngine on\n/RewriteEngine on\n# moved\n/;
$rules2 =~ s/\^\/forbid - \[F\]/^\/forbidden - [F]/;
$s->{conf} = $rules2 =~ s/\@STATS\@/$STATS_ON/r;
$s->write_conf;
$err = graceful_and_wait($s);
ok(!$err, 'graceful restart, changed config') or diag $err;
my ($d3) = json_of($s);
is(rule_at($d3, $s, $L{page} + 1)->{hits}, $want_hits{page} + 1,
   'changed config: an unchanged rule one line lower keeps its counter');
is(rule_at($d3, $s, $L{old} + 1)->{hits}, 1, 'changed config: another one too');
is(rule_at($d3, $s, $L{forbid} + 1)->{hits}, 0, 'changed config: the changed rule starts at 0');
ok(!defined rule_at($d3, $s, $L{forbid} + 1)->{last_hit}, 'changed config: and was never hit');
is($s->get('/forbidden')->{status}, 403, 'changed config: the new rule works');
($d3) = json_of($s);
is(rule_at($d3, $s, $L{forbid} + 1)->{hits}, 1, 'changed config: and is counted');
is(rule_at($d3, $s, 2, $ht)->{hits}, 1, 'changed config: .htaccess counters kept');

# statistics turned off by a graceful restart: no page, no notes
$s->{conf} = $RULES =~ s/\@STATS\@//r;
$s->write_conf;
$err = graceful_and_wait($s);
ok(!$err, 'graceful restart without RewriteStatistics') or diag $err;
is($s->get('/rewrite-status')->{status}, 404, 'statistics off: the handler declines (404)');
my $before = () = access_lines($s);
is($s->get('/page')->{status}, 200, 'statistics off: serves');
@log = wait_access($s, $before + 2);
like($log[-1], qr{ /page 200 rule=- outcome=-$}, 'statistics off: no notes');
$s->stop;

# ---------------------------------------------------------------------
# 3. event MPM under load: every request counted, none twice
# ---------------------------------------------------------------------
my $e = server(tag => 'stats-event', mpm => 'event',
               mpm_conf => "StartServers 2\nServerLimit 4\nThreadsPerChild 25\n"
                         . "MaxRequestWorkers 100\nMinSpareThreads 25\n");
$err = $e->start;
ok(!$err, 'event: server starts') or diag $err;
$ab = `ab -n $LOAD -c 32 -q http://127.0.0.1:@{[$e->port]}/page 2>&1`;
like($ab, qr/Complete requests:\s+$LOAD\b/, "event: ab sent $LOAD requests over 32 connections");
like($ab, qr/Failed requests:\s+0\b/, 'event: none failed');
($d) = json_of($e);
is(rule_at($d, $e, line_of($e, '^/page$'))->{hits}, $LOAD, "event: $LOAD hits counted");
is($d->{hits_total}, $LOAD, 'event: no other rule counted');
$e->stop;

# ---------------------------------------------------------------------
# 4. without the directive: as stock (same answers, no notes, no page)
# ---------------------------------------------------------------------
for my $mod (['ours', $OURS], ['stock', $STOCK]) {
    next unless $mod->[1];
    my $o = server(tag => "stats-off-$mod->[0]", module => $mod->[1], stats => '');
    $err = $o->start;
    ok(!$err, "off ($mod->[0]): server starts") or diag $err;
    $o->{answers} = [map { my $r = $o->get($_); "$_ $r->{status}" }
                     qw(/old/x /page /rewrite-status /rewrite-status?json /server-status?auto)];
    $o->{log} = [map { s/^\d+ //r } wait_access($o, 5)];
    $o->stop;
}
my ($ours_off, $stock_off) = grep { $_->{tag} =~ /^stats-off/ } @servers;
if ($stock_off) {
    is_deeply($ours_off->{answers}, $stock_off->{answers}, 'off: the same answers as stock');
    is_deeply($ours_off->{log}, $stock_off->{log}, 'off: the same access log as stock (no notes)');
}
else {
    fail('the stock module for the comparison (tools/stock-module)');
}

# RewriteStatistics belongs to the main server
my $v = RwServer->new(tag => 'stats-vhost', conf =>
    "<VirtualHost 127.0.0.1:\@PORT\@>\n  RewriteStatistics On\n</VirtualHost>\n");
my ($rc, $out) = $v->httpd_cmd('-t');
isnt($rc, 0, 'RewriteStatistics in a <VirtualHost>: a config error');
like($out, qr/RewriteStatistics cannot occur within <VirtualHost> section/, 'and says so');

my @bad = map { $_->bad_lines } @servers;
is(scalar @bad, 0, 'no crash in any server log') or diag join "\n", @bad;
done_testing();
