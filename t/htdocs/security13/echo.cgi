#!/usr/bin/perl
# Prints the CGI variables that make internal rewrites visible, one
# "NAME=value" a line; "(unset)" marks a variable that is not set.
# Then every RW_* (and REDIRECT_RW_*) environment variable, sorted.
use strict;
use warnings;

print "Content-Type: text/plain\n\n";
for my $k (qw(REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO)) {
    print "$k=", (defined $ENV{$k} ? $ENV{$k} : '(unset)'), "\n";
}
for my $k (sort grep { /^(?:REDIRECT_)*RW_/ } keys %ENV) {
    print "$k=$ENV{$k}\n";
}
