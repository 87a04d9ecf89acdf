# RewriteMap dbd and fastdbd against PostgreSQL: the test starts its own
# PostgreSQL (Debian's postgresql package) on a private port with a
# private socket directory, loads a table, runs a private Apache with
# mod_dbd's pgsql driver (libaprutil1-dbd-pgsql) against it, and stops
# everything afterwards.  As root, the PostgreSQL programs run as an
# unprivileged user (postgres, else nobody): they refuse to run as root.
use strict;
use warnings FATAL => 'all';

use FindBin ();
use lib "$FindBin::Bin/maps";
use Apache::Test qw(-withtestmore);
use MapHarness;
use Time::HiRes qw(sleep);
use POSIX ();

my ($bindir) = sort { $b cmp $a } grep { -x "$_/initdb" && -x "$_/pg_ctl" }
    glob('/usr/lib/postgresql/*/bin');
my $driver = grep { -f } glob('/usr/lib/*/apr-util-1/apr_dbd_pgsql*.so');
my $mod_dbd = -f "$MapHarness::MODDIR/mod_dbd.so";

plan tests => 12, need {
    'module under test' => defined MapHarness::module(),
    'PostgreSQL server programs (apt-get install postgresql)' => defined $bindir,
    'APR pgsql driver (apt-get install libaprutil1-dbd-pgsql)' => $driver,
    'mod_dbd' => $mod_dbd,
};

my $pguser = $> == 0 ? (getpwnam('postgres') ? 'postgres' : 'nobody') : undef;
my $dir = MapHarness::tempdir();
my $pgdata = "$dir/pgdata";
my $sock = "$dir/sock";
mkdir $sock or die "$sock: $!";
if ($pguser) {
    my (undef, undef, $uid, $gid) = getpwnam($pguser);
    chown $uid, $gid, $dir, $sock or die "chown: $!";
    chmod 0755, $dir;
}
my $port = MapHarness::free_port();

# Runs a command (as $pguser when root): (exit status, output).
sub pg {
    my @cmd = MapHarness::as_user_cmd($pguser, @_);
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        chdir '/';
        # the sanitizer runtimes preloaded for Apache (make test
        # SANITIZE=1) make PostgreSQL's tools hang at exit
        delete $ENV{LD_PRELOAD};
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return ($? >> 8, defined $out ? $out : '');
}

my ($rc, $out) = pg("$bindir/initdb", '-D', $pgdata, '-U', 'rw', '-A', 'trust',
                    '--no-sync', '-E', 'UTF8');
is($rc, 0, 'initdb') or diag $out;
($rc, $out) = pg("$bindir/pg_ctl", '-D', $pgdata, '-l', "$dir/pg.log", '-w',
                 '-t', '60', '-o',
                 "-p $port -k $sock -c listen_addresses= -c fsync=off", 'start');
is($rc, 0, 'PostgreSQL starts on a private port and socket') or diag $out;
my $started = $rc == 0;

END {
    pg("$bindir/pg_ctl", '-D', $pgdata, '-m', 'immediate', '-w', 'stop')
        if $started;
}

my $psql = -x "$bindir/psql" ? "$bindir/psql" : 'psql';
my $sql = "CREATE TABLE rw (k text PRIMARY KEY, v text);"
        . "INSERT INTO rw VALUES ('k1', 'v1'), ('nullv', NULL), "
        . "('quote''s', 'q1');";
($rc, $out) = pg($psql, '-X', '-q', '-h', $sock, '-p', $port, '-U', 'rw',
                 '-d', 'postgres', '-c', $sql);
is($rc, 0, 'table loaded') or diag $out;

my $conf = <<"EOF2";
DBDriver pgsql
DBDParams "host=$sock port=$port user=rw dbname=postgres"
RewriteEngine on
RewriteMap q "dbd:SELECT v FROM rw WHERE k = %s"
RewriteMap f "fastdbd:SELECT v FROM rw WHERE k = %s"
RewriteRule ^/q/(.*) /x?v=\${q:\$1|DEF} [R,L]
RewriteRule ^/f/(.*) /x?v=\${f:\$1|DEF} [R,L]
EOF2
my $h = MapHarness->new(conf => $conf, modules => ['dbd']);
my $err = $h->start;
ok(!$err, 'Apache with mod_dbd/pgsql starts') or diag $err;
is($h->value('/q/k1'), 'v1', 'dbd: value');
is($h->value('/q/nothere'), 'DEF', 'dbd: no row');
is($h->value('/q/nullv'), 'DEF', 'dbd: NULL is no value');
is($h->value("/q/quote's"), 'q1', 'dbd: the key is a parameter');
is($h->value('/f/k1'), 'v1', 'fastdbd: value');
# dbd queries every time: a changed row is seen
pg($psql, '-X', '-q', '-h', $sock, '-p', $port, '-U', 'rw', '-d', 'postgres',
   '-c', "UPDATE rw SET v = 'v2' WHERE k = 'k1'");
is($h->value('/f/nothere'), 'DEF', 'fastdbd: no row');
is($h->value('/q/k1'), 'v2', 'dbd: sees the change');
unlike($h->log_text, qr/No db handle available/, 'no database errors');
$h->stop;
