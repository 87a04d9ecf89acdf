#!/usr/bin/perl
# RewriteMap prg test program: answers "v-KEY", with special keys:
#   pid     its process id          die     exits at once (no answer)
#   null    NULL (no value)         empty   an empty line
#   slowN   answers after N seconds hang    never answers
#   user    its user name           args    its arguments, '+'-joined
#   hugeN   N MB on one line, in 64 KB pieces with pauses
#   huge2   two lines of 1.5 MB each
$| = 1;
while (my $l = <STDIN>) {
    chomp $l;
    if    ($l eq 'pid')   { print "$$\n"; }
    elsif ($l eq 'die')   { exit 3; }
    elsif ($l eq 'null')  { print "NULL\n"; }
    elsif ($l eq 'empty') { print "\n"; }
    elsif ($l =~ /^slow(\d+)$/) { sleep $1; print "slow\n"; }
    elsif ($l eq 'hang')  { sleep 3600; }
    elsif ($l eq 'user')  { print scalar(getpwuid($<)), "\n"; }
    elsif ($l eq 'args')  { print join('+', @ARGV), "\n"; }
    elsif ($l =~ /^huge(\d+)$/ && $1 != 2) {
        for (1 .. 16 * $1) {
            print 'H' x 65536;
            select(undef, undef, undef, 0.002) if $1 < 10;
        }
        print "\n";
    }
    elsif ($l eq 'huge2') { print 'A' x 1572864, "\n", 'B' x 1572864, "\n"; }
    else                  { print "v-$l\n"; }
}
