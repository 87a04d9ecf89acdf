#!/usr/bin/perl
# Product page: /product/<name> is rewritten to /app/item.cgi?id=<id>,
# the id coming from the RewriteMap "products" (demo/maps/products.txt).
use strict;
use warnings;

my %items = (
    101 => 'Apple -- crisp, red, 0.40 EUR',
    102 => 'Banana -- yellow, 0.25 EUR',
    103 => 'Cherry -- a bowl of them, 3.10 EUR',
    104 => 'Durian -- an acquired taste, 9.90 EUR',
);
my ($id) = ($ENV{QUERY_STRING} // '') =~ /(?:^|&)id=(\d+)/;
$id //= 0;

if ($items{$id}) {
    print "Content-Type: text/plain; charset=utf-8\n\n";
    print "Product page (app/item.cgi)\n";
    print "  requested URL : $ENV{REQUEST_URI}\n";
    print "  id (from map) : $id\n";
    print "  item          : $items{$id}\n";
}
else {
    print "Status: 404 Not Found\n";
    print "Content-Type: text/plain; charset=utf-8\n\n";
    print "Product page (app/item.cgi)\n";
    print "  requested URL : $ENV{REQUEST_URI}\n";
    print "  id (from map) : $id -- not in the map (the map's default value)\n";
}
