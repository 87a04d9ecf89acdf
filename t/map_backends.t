# RewriteMap back ends that need a private server (t/maps/MapHarness.pm):
# dbm files of every type made by httxt2dbm before the server starts,
# dbd/fastdbd through mod_dbd with SQLite, a function registered by
# another module through ap_register_rewrite_mapfunc (t/maps/
# mod_rw_testmap.c, built here with apxs), and txt/dbm/prg maps under the
# threaded event MPM with concurrent clients.
use strict;
use warnings FATAL => 'all';

use FindBin ();
use lib "$FindBin::Bin/maps";
use Apache::Test qw(-withtestmore);
use MapHarness;

my $moddir = $MapHarness::MODDIR;
my ($httxt2dbm) = grep { -x } qw(/usr/sbin/httxt2dbm /usr/bin/httxt2dbm);
my ($apxs) = grep { -x } ($ENV{RW_APXS} || (), qw(/usr/bin/apxs /usr/sbin/apxs));
my $have_sqlite = -f "$moddir/mod_dbd.so" &&
    grep { -f } glob('/usr/lib/*/apr-util-1/apr_dbd_sqlite3*.so');

plan tests => 43, need { 'module under test' => defined MapHarness::module() };

# ---------------------------------------------------------------------
# dbm: sdbm, gdbm, db and the default type
SKIP: {
    skip 'httxt2dbm not found (apache2-utils)', 15 unless $httxt2dbm;
    my $dir = MapHarness::tempdir();
    open my $fh, '>', "$dir/map.txt" or die $!;
    print $fh "# source\ntelevision 993\nstereo   198  # c\ndup first\ndup second\n"
            . "   indented 1\nkeyonly\n";
    close $fh;
    my %types = (sd => ['SDBM', 'sdbm'], gd => ['GDBM', 'gdbm'],
                 bd => ['DB', 'db'], df => ['default', undef]);
    my $conf = "RewriteEngine on\n";
    for my $m (sort keys %types) {
        my ($fmt, $type) = @{ $types{$m} };
        system($httxt2dbm, '-f', $fmt, '-i', "$dir/map.txt", '-o', "$dir/$m.map") == 0
            or die "httxt2dbm -f $fmt failed";
        $conf .= "RewriteMap $m " . ($type ? "dbm=$type:" : 'dbm:') . "$dir/$m.map\n"
               . "RewriteRule ^/$m/(.*) /x?v=\${$m:\$1|DEF} [R,L]\n";
    }
    system("chmod -R a+rX $dir");
    my $h = MapHarness->new(conf => $conf, dir => $dir);
    my $err = $h->start;
    ok(!$err, 'dbm server starts') or diag $err;
    for my $m (sort keys %types) {
        is($h->value("/$m/television"), '993', "dbm $m: value");
        is($h->value("/$m/dup"), 'second', "dbm $m: httxt2dbm keeps the last of a key");
        is($h->value("/$m/nothere"), 'DEF', "dbm $m: miss gives the default");
    }
    # a changed DBM file is read again (mtime), in every child
    open $fh, '>', "$dir/map2.txt" or die $!;
    print $fh "television 4711\n";
    close $fh;
    system($httxt2dbm, '-f', 'DB', '-i', "$dir/map2.txt", '-o', "$dir/bd.map.new") == 0
        or die;
    rename "$dir/bd.map.new", "$dir/bd.map" or die;
    utime undef, undef, "$dir/bd.map";
    chmod 0644, "$dir/bd.map";
    is($h->value("/bd/television"), '4711', 'dbm: a new file is read');
    is($h->value("/bd/stereo"), 'DEF', 'dbm: a new file is read (miss)');
    $h->stop;
}

# ---------------------------------------------------------------------
# dbd and fastdbd with SQLite (data in the query: statements are
# prepared before DBDInitSQL runs)
SKIP: {
    skip 'mod_dbd or the APR SQLite driver missing', 8 unless $have_sqlite;
    my $data = "WITH m(k, v) AS (VALUES ('k1', 'v1'), ('nullv', NULL), "
             . "('quote''s', 'q1'), ('empty', ''))";
    my $conf = "DBDriver sqlite3\nDBDParams \":memory:\"\nRewriteEngine on\n"
             . "RewriteMap q \"dbd:$data SELECT v FROM m WHERE k = %s\"\n"
             . "RewriteMap f \"fastdbd:$data SELECT v FROM m WHERE k = %s\"\n"
             . "RewriteRule ^/q/(.*) /x?v=\${q:\$1|DEF} [R,L]\n"
             . "RewriteRule ^/f/(.*) /x?v=\${f:\$1|DEF} [R,L]\n";
    my $h = MapHarness->new(conf => $conf, modules => ['dbd']);
    my $err = $h->start;
    ok(!$err, 'dbd server starts') or diag $err;
    is($h->value('/q/k1'), 'v1', 'dbd: value');
    is($h->value('/q/nothere'), 'DEF', 'dbd: no row');
    is($h->value('/q/nullv'), 'DEF', 'dbd: NULL is no value');
    is($h->value("/q/quote's"), 'q1', 'dbd: the key is a parameter');
    is($h->value('/f/k1'), 'v1', 'fastdbd: value');
    is($h->value('/f/k1'), 'v1', 'fastdbd: value again (cache)');
    is($h->value('/f/nothere'), 'DEF', 'fastdbd: no row');
    $h->stop;
}

# ---------------------------------------------------------------------
# a map function registered by another module
SKIP: {
    skip 'apxs not found', 8 unless $apxs;
    my $dir = MapHarness::tempdir();
    system('cp', "$FindBin::Bin/maps/mod_rw_testmap.c", $dir) == 0 or die;
    my $out = `cd $dir && $apxs -c -o mod_rw_testmap.la mod_rw_testmap.c 2>&1`;
    my $so = "$dir/.libs/mod_rw_testmap.so";
    ok(-f $so, 'test module builds with apxs') or diag $out;
    system("chmod -R a+rX $dir");
    my $conf = "LoadModule rw_testmap_module $so\nRewriteEngine on\n"
             . "RewriteMap rev int:rw_reverse\nRewriteMap nul int:rw_null\n"
             . "RewriteMap len int:rw_length\nRewriteMap up int:toupper\n"
             . "RewriteRule ^/rev/(.*) /x?v=\${rev:\$1|DEF} [R,L]\n"
             . "RewriteRule ^/nul/(.*) /x?v=\${nul:\$1|DEF} [R,L]\n"
             . "RewriteRule ^/len/(.*) /x?v=\${len:\$1|DEF} [R,L]\n"
             . "RewriteRule ^/both/(.*) /x?v=\${rev:\${up:\$1}} [R,L]\n";
    my $h = MapHarness->new(conf => $conf, dir => $dir);
    my $err = $h->start;
    ok(!$err, 'server with the test module starts') or diag $err;
    is($h->value('/rev/abc'), 'cba', 'registered function: value');
    is($h->value('/nul/abc'), 'DEF', 'registered function returning NULL: default');
    is($h->value('/len/abcd'), '4', 'registered function: another one');
    is($h->value('/both/abc'), 'CBA', 'registered and built-in functions nested');
    like($h->log_text, qr/map lookup OK: map=rev key=abc -> val=cba/, 'int: trace line');
    $h->stop;
    my $h2 = MapHarness->new(conf => "RewriteMap x int:rw_nosuch\n");
    my ($rc, $msg) = $h2->configtest;
    like($msg, qr/RewriteMap: internal map not found:rw_nosuch/,
         'unknown function: config error');
}

# ---------------------------------------------------------------------
# event MPM, concurrent clients: txt, dbm and prg in one substitution
SKIP: {
    skip 'httxt2dbm not found', 12 unless $httxt2dbm;
    skip 'mod_mpm_event.so not found', 12 unless -f "$moddir/mod_mpm_event.so";
    my $dir = MapHarness::tempdir();
    open my $fh, '>', "$dir/map.txt" or die $!;
    print $fh "k$_ t$_\n" for 0 .. 999;
    close $fh;
    system($httxt2dbm, '-f', 'SDBM', '-i', "$dir/map.txt", '-o', "$dir/map") == 0 or die;
    open $fh, '>', "$dir/prg.pl" or die $!;
    print $fh "#!/usr/bin/perl\n\$| = 1;\nwhile (<STDIN>) { chomp; print \"p-\$_\\n\"; }\n";
    close $fh;
    chmod 0755, "$dir/prg.pl";
    system("chmod -R a+rX $dir");
    my $conf = "RewriteEngine on\nRewriteMap t txt:$dir/map.txt\n"
             . "RewriteMap d dbm=sdbm:$dir/map\nRewriteMap p prg:$dir/prg.pl\n"
             . "RewriteRule ^/m/(.*) /x?v=\${t:\$1}-\${d:\$1}-\${p:\$1} [R,L]\n"
             . "ThreadsPerChild 16\nMaxRequestWorkers 32\nServerLimit 2\n";
    my $h = MapHarness->new(conf => $conf, dir => $dir, mpm => 'event');
    my $err = $h->start;
    ok(!$err, 'event MPM server starts') or diag $err;
    my @kids;
    for my $c (0 .. 9) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            my $bad = 0;
            for my $i (0 .. 29) {
                my $k = 'k' . (($c * 97 + $i * 31) % 1000);
                (my $n = $k) =~ s/k//;
                $bad++ unless $h->value("/m/$k") eq "t$n-t$n-p-$k";
            }
            POSIX::_exit($bad > 255 ? 255 : $bad);
        }
        push @kids, $pid;
    }
    for my $pid (@kids) {
        waitpid $pid, 0;
        is($? >> 8, 0, "client $pid: 30 answers right");
    }
    unlike($h->log_text, qr/\[rewrite:(error|warn)\]/, 'no rewrite errors');
    $h->stop;
}
