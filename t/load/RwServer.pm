# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# A private Apache for the fault and load tests (t/faults.t, t/load/*):
# a generated httpd.conf in a temporary directory, any MPM, any
# mod_rewrite.so (ours, the sanitizer build or the stock one), started
# with `apache2 -k start`, restarted with `-k graceful`, stopped by its
# pid.  It also samples the RSS of the server's children and finds the
# lines of the error log that tell of a crash or a sanitizer report.
#
#   my $s = RwServer->new(conf => $text, mpm => 'event', module => $so);
#   $s->start and die;  my $r = $s->get('/path');  $s->stop;
#
# Environment:
#   RW_LOAD_PORTS  port range to listen in (default 8700-8799); the first
#                  port that can be bound is used
#   RW_HTTPD       httpd binary (default /usr/sbin/apache2)
#   RW_MODDIR      the stock modules (default /usr/lib/apache2/modules)
#   TMPDIR         where the server's directory is made
#   RW_KEEP_TMP=1  keep the server's directory
# The server inherits the environment, so LD_PRELOAD / ASAN_OPTIONS set
# for a sanitizer build reach it (see README, "Sanitizer build"); the
# `env` option adds variables for the server only.
package RwServer;

use strict;
use warnings;

use File::Temp ();
use File::Basename qw(dirname);
use File::Spec ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

our $HTTPD  = $ENV{RW_HTTPD}  || '/usr/sbin/apache2';
our $MODDIR = $ENV{RW_MODDIR} || '/usr/lib/apache2/modules';

# Lines of an error log (or of a sanitizer's log file) that count as a
# crash or a sanitizer report.
our $BAD_RE = qr/exit\ signal|Segmentation\ fault|ERROR:\ AddressSanitizer|
                 ERROR:\ LeakSanitizer|runtime\ error:|AddressSanitizer:DEADLYSIGNAL|
                 SUMMARY:\ (?:Address|Undefined)[A-Za-z]*Sanitizer/x;

sub t_dir { dirname(dirname(File::Spec->rel2abs(__FILE__))) }

# The module under test: RW_MODULE, else the one t/TEST.PL configured,
# else <repo>/.libs/mod_rewrite.so.
sub our_module {
    return $ENV{RW_MODULE} if $ENV{RW_MODULE} && -f $ENV{RW_MODULE};
    if (open my $fh, '<', t_dir() . '/conf/rw-inherit.conf') {
        while (<$fh>) {
            return $1 if /^\s*LoadModule\s+rewrite_module\s+"?([^"\s]+)/;
        }
    }
    my $built = dirname(t_dir()) . '/.libs/mod_rewrite.so';
    return -f $built ? $built : undef;
}

# Debian's own mod_rewrite.so, as tools/stock-module finds it (checked
# against apache2-bin's md5sums); dies when it is not there or not Debian's.
sub stock_module {
    my $finder = dirname(t_dir()) . '/tools/stock-module';
    local $ENV{RW_MODDIR} = $MODDIR;
    chomp(my $path = `"$finder"`);
    die "RwServer: no stock module to compare with (see above)\n" if $? != 0 || $path eq '';
    return $path;
}

my %taken;      # ports handed out by this process

sub free_port {
    my ($lo, $hi) = split /-/, ($ENV{RW_LOAD_PORTS} || '8700-8799');
    $hi ||= $lo;
    for my $p ($lo .. $hi) {
        next if $taken{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $taken{$p} = 1;
        return $p;
    }
    die "no free port in $lo-$hi\n";
}

sub tempdir {
    my ($tag) = @_;
    my $dir = File::Temp::tempdir("rw-$tag-XXXXXX", TMPDIR => 1,
                                  CLEANUP => !$ENV{RW_KEEP_TMP});
    chmod 0755, $dir;
    return $dir;
}

# A command run as an unprivileged user when we are root.
sub as_user_cmd {
    my ($user, @cmd) = @_;
    return @cmd unless $> == 0;
    return ('runuser', '-u', $user, '--', @cmd);
}

# Writes a file (creating its directory), mode 0644 unless given.
sub write_file {
    my ($path, $text, $mode) = @_;
    my $d = dirname($path);
    unless (-d $d) {
        require File::Path;
        File::Path::make_path($d, { mode => 0755 });
    }
    open my $fh, '>', "$path.tmp$$" or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
    chmod(defined $mode ? $mode : 0644, "$path.tmp$$");
    rename "$path.tmp$$", $path or die "rename $path: $!";
}

# new(conf => TEXT (with @DIR@, @PORT@, @DOCROOT@), mpm => NAME,
#     module => PATH, modules => [names], tag => NAME, dir => DIR,
#     loglevel => TEXT, mpm_conf => TEXT, env => {VAR => VALUE})
sub new {
    my ($class, %a) = @_;
    my $self = bless { mpm => 'prefork', tag => 'srv', %a }, $class;
    $self->{module} ||= our_module() or die "module under test not found\n";
    $self->{dir} ||= tempdir($self->{tag});
    $self->{port} ||= free_port();
    my $d = $self->{dir};
    for (qw(logs run htdocs)) { mkdir "$d/$_"; chmod 0755, "$d/$_"; }
    # the workers may need to write here (sanitizer logs)
    chmod 01777, "$d/logs";
    $self->write_conf;
    return $self;
}

sub write_conf {
    my $self = shift;
    my $d = $self->{dir};
    my @mods = ("mpm_$self->{mpm}", qw(authz_core), @{ $self->{modules} || [] });
    my $conf = "ServerRoot \"$d\"\nPidFile \"$d/run/httpd.pid\"\n"
             . "DefaultRuntimeDir \"$d/run\"\nMutex file:$d/run default\n"
             . "ErrorLog \"$d/logs/error_log\"\n"
             . "LogLevel " . ($self->{loglevel} || 'warn') . "\n"
             . "Listen 127.0.0.1:$self->{port}\nServerName 127.0.0.1\n"
             . "DocumentRoot \"$d/htdocs\"\n"
             . "<Directory \"$d/htdocs\">\n  Require all granted\n"
             . "  AllowOverride None\n</Directory>\n";
    for my $m (@mods) {
        my $so = "$MODDIR/mod_$m.so";
        $conf .= "LoadModule ${m}_module $so\n" if -f $so;
    }
    $conf .= "LoadModule rewrite_module $self->{module}\n";
    $conf .= "User nobody\nGroup nogroup\n" if $> == 0;
    $conf .= $self->{mpm_conf} // "StartServers 2\n";
    $conf .= "\n" . ($self->{conf} || '');
    $conf =~ s/\@DIR\@/$d/g;
    $conf =~ s/\@DOCROOT\@/$d\/htdocs/g;
    $conf =~ s/\@PORT\@/$self->{port}/g;
    write_file("$d/httpd.conf", $conf);
    $self->{conf_text} = $conf;
}

sub dir    { $_[0]{dir} }
sub port   { $_[0]{port} }
sub docroot { "$_[0]{dir}/htdocs" }
sub url    { "http://127.0.0.1:$_[0]{port}" }

# Runs `apache2 -f CONF ARGS` with the server's environment.
sub httpd_cmd {
    my ($self, @args) = @_;
    local %ENV = (%ENV, %{ $self->{env} || {} });
    my $out = `$HTTPD -f $self->{dir}/httpd.conf @args 2>&1`;
    return ($? >> 8, $out);
}

# Starts the server; returns an error text or undef.
sub start {
    my $self = shift;
    my ($rc, $out) = $self->httpd_cmd('-k', 'start');
    return "apache2 -k start failed: $out" if $rc;
    my $deadline = time + 30;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port},
                                      Proto => 'tcp', Timeout => 1);
        if ($s && -s "$self->{dir}/run/httpd.pid") {
            close $s;
            $self->{started} = 1;
            return undef;
        }
        sleep 0.1;
    }
    return "server did not start:\n" . $self->log_text;
}

sub pid {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/run/httpd.pid" or return undef;
    my $pid = <$fh>;
    return undef unless defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# apache2 -k graceful; returns the command's output when it failed.
sub graceful {
    my $self = shift;
    my ($rc, $out) = $self->httpd_cmd('-k', 'graceful');
    return $rc ? "apache2 -k graceful failed: $out" : undef;
}

sub stop {
    my $self = shift;
    return unless $self->{started};
    my $pid = $self->pid;
    if ($pid) {
        kill 'TERM', $pid;
        my $deadline = time + 20;
        sleep 0.1 while time < $deadline && kill(0, $pid);
        kill 'KILL', $pid if kill 0, $pid;
    }
    $self->{started} = 0;
}

sub DESTROY { local $?; $_[0]->stop }

# get(PATH, host => NAME, headers => {..}, timeout => SECS):
# { status, head, headers => {lc name => value}, location, body, secs }
sub get {
    my ($self, $path, %o) = @_;
    my $t0 = time;
    my $res = { status => 0, head => '', headers => {}, body => '' };
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp',
                                  Timeout => $o{timeout} || 30);
    unless ($s) {
        $res->{error} = "no connection: $!";
        $res->{secs} = time - $t0;
        return $res;
    }
    my $req = "GET $path HTTP/1.0\r\nHost: " . ($o{host} || "127.0.0.1:$self->{port}") . "\r\n";
    my $h = $o{headers} || {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    print $s "$req\r\n";
    my $resp = '';
    my $timeout = $o{timeout} || 30;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    while (1) {
        my $left = $t0 + $timeout - time;
        if ($left <= 0) { $res->{error} = 'timeout'; last; }
        my $n = select(my $rout = $rin, undef, undef, $left);
        last if $n < 0;
        next unless $n;
        my $got = sysread($s, my $buf, 65536);
        last unless $got;
        $resp .= $buf;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head = '' unless defined $head;
    $res->{head} = $head;
    $res->{body} = defined $body ? $body : '';
    ($res->{status}) = $head =~ m{^HTTP/\S+ (\d+)};
    $res->{status} ||= 0;
    for my $l (split /\r\n/, $head) {
        next unless $l =~ /^([^:\s]+):\s*(.*)$/;
        my $k = lc $1;
        $res->{headers}{$k} = exists $res->{headers}{$k}
            ? "$res->{headers}{$k}, $2" : $2;
    }
    $res->{location} = $res->{headers}{location};
    $res->{error} ||= 'empty response' unless length $resp;
    $res->{secs} = time - $t0;
    return $res;
}

# Value of v= in the Location of a redirect ('' when none).
sub value {
    my ($self, $path, %o) = @_;
    my $r = $self->get($path, %o);
    return "(status $r->{status})" unless defined $r->{location};
    return $r->{location} =~ /[?&]v=([^&]*)/ ? $1 : "(no v= in $r->{location})";
}

sub log_file { "$_[0]{dir}/logs/error_log" }

sub log_text {
    my $self = shift;
    open my $fh, '<', $self->log_file or return '';
    local $/;
    my $t = <$fh>;
    return defined $t ? $t : '';
}

# Size of the error log now (to look only at what comes later).
sub log_mark { -s $_[0]->log_file || 0 }

sub log_since {
    my ($self, $mark) = @_;
    my $t = $self->log_text;
    return length($t) > ($mark || 0) ? substr($t, $mark || 0) : '';
}

sub wait_log {
    my ($self, $re, $secs, $mark) = @_;
    my $deadline = time + ($secs || 15);
    while (time < $deadline) {
        return 1 if $self->log_since($mark) =~ $re;
        sleep 0.1;
    }
    return 0;
}

# Crash and sanitizer lines: of the error log and of every file in
# logs/ (ASAN_OPTIONS=log_path=... may point there).  httpd also logs
# "child pid N exit signal ..." for a RewriteMap program that crashed;
# with allow_prg => 1 such lines are left out when our module logged
# that pid N was a RewriteMap program ("... of map M (pid N) died").
sub bad_lines {
    my ($self, %o) = @_;
    my @bad;
    my %prg;
    if ($o{allow_prg}) {
        my $t = $self->log_text;
        $prg{$1} = 1 while $t =~ /RewriteMap program .*? of map \S+ \(pid (\d+)\) (?:died|was lost)/g;
    }
    opendir my $dh, "$self->{dir}/logs" or return ();
    for my $f (sort readdir $dh) {
        next if $f =~ /^\./;
        open my $fh, '<', "$self->{dir}/logs/$f" or next;
        while (my $l = <$fh>) {
            next unless $l =~ $BAD_RE;
            next if $l =~ /child pid (\d+) exit signal/ && $prg{$1};
            push @bad, "$f: $l";
        }
    }
    return @bad;
}

# The server's worker processes (children of the parent named apache2).
sub children {
    my $self = shift;
    my $ppid = $self->pid or return ();
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $st = <$fh>;
        next unless $st && $st =~ /^\d+ \((.*)\) \S (\d+)/;
        push @kids, $p if $2 == $ppid && $1 =~ /^(apache2|httpd)$/;
    }
    return sort { $a <=> $b } @kids;
}

# VmRSS of a process in kB (undef when gone).
sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^VmRSS:\s+(\d+)/;
    }
    return undef;
}

# { pid => rss_kb } for the parent and every child.
sub rss_sample {
    my $self = shift;
    my %s;
    for my $p (grep { defined } $self->pid, $self->children) {
        my $r = rss_kb($p);
        $s{$p} = $r if defined $r;
    }
    return \%s;
}

# The environment for a server that loads a sanitizer build (README).
sub sanitizer_env {
    my ($logdir) = @_;
    my $asan  = `gcc -print-file-name=libasan.so`;  chomp $asan;
    my $ubsan = `gcc -print-file-name=libubsan.so`; chomp $ubsan;
    my %e = (LD_PRELOAD => "$asan $ubsan",
             ASAN_OPTIONS => 'detect_leaks=0',
             UBSAN_OPTIONS => 'print_stacktrace=1');
    # RW_ASAN_OPTIONS: more options (e.g. quarantine_size_mb=16)
    $e{ASAN_OPTIONS} .= ":$ENV{RW_ASAN_OPTIONS}" if $ENV{RW_ASAN_OPTIONS};
    if ($logdir) {
        $e{ASAN_OPTIONS}  .= ":log_path=$logdir/asan";
        $e{UBSAN_OPTIONS} .= ":log_path=$logdir/ubsan";
    }
    return %e;
}

1;
