# RewriteMap prg beyond the stock module (private server, see
# t/maps/MapHarness.pm): a program that dies is restarted and the lookup
# that saw it die gets the default value; a program that does not answer
# within the map's timeout (MapTypeOptions "timeout=SECONDS") does not
# hang the worker: the lookup gets the default, later lookups get the
# default at once until it answers again, and a program that stays stuck
# is killed by the parent (monitor hook, about every 10 s) and restarted.
# Also: the user:group option, and a program that cannot start.
use strict;
use warnings FATAL => 'all';

use FindBin ();
use lib "$FindBin::Bin/maps";
use Apache::Test qw(-withtestmore);
use MapHarness;
use Time::HiRes qw(time sleep);

plan tests => 36, need { 'module under test' => defined MapHarness::module() };

my $dir = MapHarness::tempdir();
my $prg = "$FindBin::Bin/maps/map-prg.pl";
system('cp', $prg, "$dir/map-prg.pl") == 0 or die;
chmod 0755, "$dir/map-prg.pl";

my $conf = <<"EOF2";
RewriteEngine on
RewriteMap p "prg:$dir/map-prg.pl" timeout=1
RewriteRule ^/p/(.*) /x?v=\${p:\$1|DEF} [R,L]
EOF2

# ---------------------------------------------------------------------
# crash and restart
{
    my $h = MapHarness->new(conf => $conf, dir => $dir);
    my $err = $h->start;
    ok(!$err, 'server starts') or diag $err;
    is($h->value('/p/abc'), 'v-abc', 'answer');
    my $pid1 = $h->value('/p/pid');
    like($pid1, qr/^\d+$/, 'program pid');
    my ($st, $loc, $body, $secs) = $h->get('/p/die');
    is($st, 302, 'lookup that kills the program answers');
    like($loc, qr/v=DEF$/, 'lookup that kills the program gets the default');
    cmp_ok($secs, '<', 5, 'and does not wait for the timeout of the client');
    ok($h->wait_log(qr/RW00004: mod_rewrite: RewriteMap program \S+map-prg\.pl of map p \(pid $pid1\) died/),
       'death is logged');
    ok($h->wait_log(qr/RW00006: mod_rewrite: RewriteMap program \S+map-prg\.pl of map p restarted \(pid \d+\)/),
       'restart is logged');
    like($h->log_text, qr/failed for key 'die': it died during the lookup; using the default value/,
         'the lookup logs why it got the default');
    my $v = '';
    for (1 .. 20) { $v = $h->value('/p/after'); last if $v eq 'v-after'; sleep 0.25; }
    is($v, 'v-after', 'answers again after the restart');
    my $pid2 = $h->value('/p/pid');
    isnt($pid2, $pid1, 'a new program');
    # several children, all use the new program
    my %seen;
    $seen{ $h->value('/p/pid') }++ for 1 .. 6;
    is_deeply([keys %seen], [$pid2], 'every child talks to the new program');

    # ------------------------------------------------------------------
    # no answer within the timeout
    ($st, $loc, $body, $secs) = $h->get('/p/slow3');
    like($loc, qr/v=DEF$/, 'slow answer: default');
    cmp_ok($secs, '<', 2.5, 'slow answer: the worker waited about the timeout');
    like($h->log_text, qr/failed for key 'slow3': no answer within 1000 ms(; killed it)?; using the default value/,
         'timeout is logged');
    ($st, $loc, $body, $secs) = $h->get('/p/quick');
    like($loc, qr/v=DEF$/, 'while the program is late: default at once');
    cmp_ok($secs, '<', 0.5, 'while the program is late: no waiting');
    sleep 3;
    is($h->value('/p/back'), 'v-back', 'late answer discarded, in step again');

    # ------------------------------------------------------------------
    # stuck for good: killed by the parent, restarted
    my $pid3 = $h->value('/p/pid');
    ($st, $loc) = $h->get('/p/hang');
    like($loc, qr/v=DEF$/, 'stuck program: default');
    # killed by the worker when it may (same user), else by the parent
    ok($h->wait_log(qr/failed for key 'hang': no answer within 1000 ms; killed it|\(pid $pid3\) does not answer; killing it/, 30),
       'stuck program is killed');
    ok($h->wait_log(qr/\(pid $pid3\) died \(status 9\); restarting it/, 10),
       'and restarted');
    $v = '';
    for (1 .. 20) { $v = $h->value('/p/again'); last if $v eq 'v-again'; sleep 0.25; }
    is($v, 'v-again', 'answers after the restart');
    $h->stop;
}

# ---------------------------------------------------------------------
# answers over 1 MB (issue 13): the lookup gets the default, and no piece
# of the answer is left in the pipe for the next lookups (the stock
# module takes a long line whole, and hands the second line of a
# two-line answer to the next lookup)
{
    my $h = MapHarness->new(conf => $conf, dir => $dir);
    my $err = $h->start;
    ok(!$err, 'server starts (long answers)') or diag $err;
    is($h->value('/p/huge3'), 'DEF', '3 MB answer: default');
    like($h->log_text, qr/failed for key 'huge3': its answer is too long \(3145728 bytes, at most 1048576\); read and dropped; using the default value/,
         '3 MB answer: logged');
    my @v = map { $h->value("/p/next$_") } 1 .. 6;
    is_deeply(\@v, [map { "v-next$_" } 1 .. 6], 'the lookups after it get their own answers');
    is($h->value('/p/huge2'), 'DEF', 'two lines of 1.5 MB: default');
    is($h->value('/p/after2'), 'v-after2', 'the next lookup gets its own answer');
    # past 64 MB more the program is killed and restarted
    my $pid = $h->value('/p/pid');
    is($h->value('/p/huge80'), 'DEF', '80 MB answer: default');
    ok($h->wait_log(qr/failed for key 'huge80': its answer is longer than 67108864 bytes(; killed it)?; using the default value/, 10),
       '80 MB answer: logged');
    my $v = '';
    for (1 .. 40) { $v = $h->value('/p/again'); last if $v eq 'v-again'; sleep 0.25; }
    is($v, 'v-again', 'answers again after it');
    $h->stop;
}

# ---------------------------------------------------------------------
# a program that dies at once is given up after a few tries
{
    my $d2 = MapHarness::tempdir();
    open my $fh, '>', "$d2/quit.pl" or die;
    print $fh "#!/usr/bin/perl\nexit 1;\n";
    close $fh;
    chmod 0755, "$d2/quit.pl";
    my $h = MapHarness->new(dir => $d2, conf => "RewriteEngine on\n"
        . "RewriteMap q prg:$d2/quit.pl\nRewriteRule ^/q/(.*) /x?v=\${q:\$1|DEF} [R,L]\n");
    my $err = $h->start;
    ok(!$err, 'server with a program that exits at once starts') or diag $err;
    ok($h->wait_log(qr/died 5 times in a row right after its start; not restarting it/, 20),
       'gives up after 5 quick deaths');
    my ($st, $loc, $body, $secs) = $h->get('/q/x');
    like($loc, qr/v=DEF$/, 'lookups get the default');
    cmp_ok($secs, '<', 1, 'at once');
    $h->stop;
}

# ---------------------------------------------------------------------
# a user that does not exist: the server does not start (as stock)
SKIP: {
    skip 'needs root to switch users', 1 unless $> == 0;
    my $h = MapHarness->new(conf => "RewriteEngine on\n"
        . "RewriteMap p \"prg:$dir/map-prg.pl\" nosuchuser:nogroup\n");
    my $err = $h->start;
    like($err || $h->log_text, qr/could not start RewriteMap program/, 'unknown user: not started');
    $h->stop;
}
