#!/usr/bin/perl
# RewriteMap prg program for t/faults.t and the load test: answers
# "v-KEY" for a key, and misbehaves on purpose for some keys:
#   pid       its process id
#   die       exits at once (status 3), no answer
#   segv      kills itself with SIGSEGV (a crash), no answer
#   junk      writes bytes without a newline, then waits for the next key
#   junkline  answers a line of control bytes
#   two       answers two lines in one write
#   late      answers, then 0.3 s later writes a stray line
#   huge      answers a line of 2 MB
#   flood     writes lines without end
#   slowN     answers after N seconds
#   die-*, segv-*, two-*   as die, segv, two (for the fault storm)
# Any other key: "v-KEY".
use strict;
use warnings;
# Started with the sanitizer runtimes preloaded (make check-leaks), its
# deliberate crashes would print sanitizer reports: run without them.
if ($ENV{LD_PRELOAD}) {
    delete $ENV{LD_PRELOAD};
    exec $^X, $0, @ARGV;
}
$| = 1;
$SIG{PIPE} = 'DEFAULT';
while (defined(my $l = <STDIN>)) {
    chomp $l;
    if    ($l eq 'pid')               { print "$$\n"; }
    elsif ($l =~ /^die(?:-.*)?$/)     { exit 3; }
    elsif ($l =~ /^segv(?:-.*)?$/)    { kill 'SEGV', $$; sleep 5; exit 4; }
    elsif ($l eq 'junk')              { print "\x01\x02junk\xff"; }
    elsif ($l eq 'junkline')          { print "\x01\x02junk\x7f\xfe line\n"; }
    elsif ($l =~ /^two(?:-.*)?$/)     { print "v-$l\nextra line\n"; }
    elsif ($l eq 'late')              { print "v-late\n"; select(undef, undef, undef, 0.3); print "stray\n"; }
    elsif ($l eq 'huge')              { print 'x' x 2_000_000, "\n"; }
    elsif ($l eq 'flood')             { print "flood\n" while 1; }
    elsif ($l =~ /^slow(\d+)$/)       { sleep $1; print "v-$l\n"; }
    else                              { print "v-$l\n"; }
}
