# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# A private Apache for map tests that need things Apache::Test's server
# cannot give them: files generated before the server starts (DBM files,
# a module built with apxs, a database), a threaded MPM, or a program
# that is made to crash or hang.  Used by t/map_*.t.
#
#   my $h = MapHarness->new(conf => $lines, mpm => 'event');
#   my ($status, $location) = $h->get('/path');
#   $h->log_like(qr/.../);  $h->stop;
#
# The module under test is the one Apache::Test loads (the LoadModule
# line of t/conf/rw-inherit.conf, written by t/TEST.PL), unless
# RW_MODULE names one.  The server listens on 127.0.0.1 on a free port.
package MapHarness;

use strict;
use warnings;

use File::Temp ();
use File::Spec ();
use File::Basename qw(dirname);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

our $HTTPD  = $ENV{RW_HTTPD}  || '/usr/sbin/apache2';
our $MODDIR = $ENV{RW_MODDIR} || '/usr/lib/apache2/modules';

sub t_dir { dirname(dirname(File::Spec->rel2abs(__FILE__))) }

# Path of the mod_rewrite.so under test.
sub module {
    return $ENV{RW_MODULE} if $ENV{RW_MODULE} && -f $ENV{RW_MODULE};
    my $inherit = t_dir() . '/conf/rw-inherit.conf';
    if (open my $fh, '<', $inherit) {
        while (<$fh>) {
            return $1 if /^\s*LoadModule\s+rewrite_module\s+"?([^"\s]+)/;
        }
    }
    my $built = dirname(t_dir()) . '/.libs/mod_rewrite.so';
    return -f $built ? $built : undef;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# A temporary directory readable by the server's workers.
sub tempdir {
    my $dir = File::Temp::tempdir('rw-maptest-XXXXXX', TMPDIR => 1,
                                  CLEANUP => !$ENV{RW_KEEP_TMP});
    chmod 0755, $dir;
    return $dir;
}

# new(conf => TEXT, mpm => prefork|event|worker, dir => DIR,
#     modules => [names], root_user => 1)
sub new {
    my ($class, %a) = @_;
    my $self = bless { %a }, $class;
    $self->{dir} ||= tempdir();
    $self->{port} = free_port();
    $self->{mpm} ||= 'prefork';
    my $d = $self->{dir};
    mkdir "$d/$_" for qw(logs run htdocs);
    chmod 0755, "$d/htdocs";
    my $module = module() or die "module under test not found";
    my @mods = ("mpm_$self->{mpm}", qw(authz_core), @{ $a{modules} || [] });
    my $conf = "ServerRoot \"$d\"\nPidFile \"$d/run/httpd.pid\"\n"
             . "DefaultRuntimeDir \"$d/run\"\nMutex file:$d/run default\n"
             . "ErrorLog \"$d/logs/error_log\"\n"
             . "LogLevel warn rewrite:trace5\n"
             . "Listen 127.0.0.1:$self->{port}\nServerName localhost\n"
             . "DocumentRoot \"$d/htdocs\"\n"
             . "<Directory \"$d/htdocs\">\n  Require all granted\n</Directory>\n";
    for my $m (@mods) {
        my $so = "$MODDIR/mod_$m.so";
        $conf .= "LoadModule ${m}_module $so\n" if -f $so;
    }
    $conf .= "LoadModule rewrite_module $module\n";
    $conf .= "User nobody\nGroup nogroup\n" if $> == 0;
    $conf .= "StartServers 2\n";
    $conf .= $a{conf} || '';
    $conf =~ s/\@DIR\@/$d/g;
    $conf =~ s/\@PORT\@/$self->{port}/g;
    open my $fh, '>', "$d/httpd.conf" or die "$d/httpd.conf: $!";
    print $fh $conf;
    close $fh;
    $self->{conf_text} = $conf;
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }

# apache2 -t: (exit status, output)
sub configtest {
    my $self = shift;
    my $out = `$HTTPD -t -f $self->{dir}/httpd.conf 2>&1`;
    return ($? >> 8, $out);
}

# Starts the server; returns an error text or undef.
sub start {
    my $self = shift;
    my $out = `$HTTPD -f $self->{dir}/httpd.conf -k start 2>&1`;
    return "apache2 -k start failed: $out" if $?;
    my $deadline = time + 15;
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
    chomp $pid if defined $pid;
    return $pid;
}

sub stop {
    my $self = shift;
    return unless $self->{started};
    my $pid = $self->pid;
    if ($pid) {
        kill 'TERM', $pid;
        my $deadline = time + 15;
        while (time < $deadline && kill(0, $pid)) {
            sleep 0.1;
        }
        kill 'KILL', $pid if kill 0, $pid;
    }
    $self->{started} = 0;
}

sub DESTROY { $_[0]->stop }

# GET path (Host: localhost by default): (status, location, body, seconds)
sub get {
    my ($self, $path, %h) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp',
                                  Timeout => 30)
        or return ('(no connection)', undef, '', 0);
    my $host = $h{host} || 'localhost';
    print $s "GET $path HTTP/1.0\r\nHost: $host\r\n\r\n";
    local $/;
    my $resp = <$s>;
    close $s;
    $resp = '' unless defined $resp;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head || '') =~ m{^HTTP/\S+ (\d+)};
    my ($loc) = ($head || '') =~ m{^Location: (.*?)\r?$}mi;
    return ($status || '(none)', $loc, $body, time - $t0);
}

# Value of v= in the Location of a redirect, or '(no redirect: STATUS)'.
sub value {
    my ($self, $path) = @_;
    my ($st, $loc) = $self->get($path);
    return "(no redirect: $st)" unless defined $loc;
    return $loc =~ /[?&]v=([^&]*)/ ? $1 : "(no v= in $loc)";
}

sub log_text {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/logs/error_log" or return '';
    local $/;
    my $t = <$fh>;
    return defined $t ? $t : '';
}

# Waits until the error log matches re (seconds, default 15); true if so.
sub wait_log {
    my ($self, $re, $secs) = @_;
    my $deadline = time + ($secs || 15);
    while (time < $deadline) {
        return 1 if $self->log_text =~ $re;
        sleep 0.2;
    }
    return 0;
}

# Runs a command as an unprivileged user when we are root.
sub as_user_cmd {
    my ($user, @cmd) = @_;
    return @cmd unless $> == 0;
    return ('runuser', '-u', $user, '--', @cmd);
}

1;
