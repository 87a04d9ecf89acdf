#!/usr/bin/perl
# The blog's front controller: every /blog/... URL that is not a real file
# is rewritten to this script (see demo/conf/httpd.conf.in), which
# "routes" it.  Plain text, so that curl shows it well.
use strict;
use warnings;

my $route = defined $ENV{PATH_INFO} && length $ENV{PATH_INFO} ? $ENV{PATH_INFO} : '/';
my $query = $ENV{QUERY_STRING} // '';
my ($page, $what);
if ($route =~ m{^/(\d{4})/(\d{2})/([\w-]+)$}) {
    ($page, $what) = ('post', "post \"$3\" from $2/$1");
}
elsif ($route =~ m{^/tags/([\w-]+)$}) {
    ($page, $what) = ('tag', "posts tagged \"$1\"");
}
elsif ($route eq '/') {
    ($page, $what) = ('home', 'the blog home page');
}
else {
    ($page, $what) = ('not-found', 'no such page (the controller decides: 404)');
}

print $page eq 'not-found' ? "Status: 404 Not Found\n" : '';
print "Content-Type: text/plain; charset=utf-8\n\n";
print "Blog front controller (app/index.cgi)\n";
print "  requested URL : $ENV{REQUEST_URI}\n";
print "  routed path   : $route\n";
print "  query string  : $query\n";
print "  page          : $page -- $what\n";
