#!/usr/bin/perl
# RewriteMap prg test program: answers "v-KEY", with special keys:
#   pid     its process id          die     exits at once (no answer)
#   null    NULL (no value)         empty   an empty line
#   slowN   answers after N seconds hang    never answers
#   user    its user name           args    its arguments, '+'-joined
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
    else                  { print "v-$l\n"; }
}
