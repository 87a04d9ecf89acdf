#!/usr/bin/perl
# Prints the crash and sanitizer lines of every file under the given
# directories (server error logs, sanitizer log files), one a line as
# "FILE: LINE", and exits 1 if there is any.  "child pid N exit signal"
# lines are left out when the same file says that pid N was a RewriteMap
# program that died (the tests crash such programs on purpose).
#
#   perl t/load/scan-logs.pl DIR...
use strict;
use warnings;
use File::Find ();
use FindBin ();
use lib $FindBin::Bin;
use RwServer;

my @files;
File::Find::find({ no_chdir => 1, wanted => sub {
    push @files, $File::Find::name
        if -f $_ && !-l $_ && (/(?:error_log|_log|\.log)$/ || m{/(?:asan|ubsan)\.\d+$});
} }, grep { -d } @ARGV);

my $n = 0;
for my $f (sort @files) {
    open my $fh, '<', $f or next;
    my (@bad, %prg);
    while (my $l = <$fh>) {
        $prg{$1} = 1 if $l =~ /RewriteMap program .*? of map \S+ \(pid (\d+)\) (?:died|was lost)/;
        push @bad, $l if $l =~ $RwServer::BAD_RE;
    }
    for my $l (@bad) {
        next if $l =~ /child pid (\d+) exit signal/ && $prg{$1};
        print "$f: $l";
        ++$n;
    }
    # the full report of a sanitizer log file
    if (@bad && $f =~ m{/(?:asan|ubsan)\.\d+$}) {
        seek $fh, 0, 0;
        local $/;
        print "---- $f ----\n", <$fh>, "----\n";
    }
}
print "scan-logs: ", scalar(@files), " log files, $n crash or sanitizer lines\n";
exit($n ? 1 : 0);
