#!/usr/bin/perl
# Prints PATH_INFO and PATH_TRANSLATED ("(unset)" when not set).
print "Content-Type: text/plain\n\n";
for my $k (qw(PATH_INFO PATH_TRANSLATED)) {
    print "$k=", (defined $ENV{$k} ? $ENV{$k} : '(unset)'), "\n";
}
