# Where the module is deliberately safer than the stock one (each place
# says so in a comment in the source).  Config: t/conf/safer.conf.in.
#
# A server-context result whose first segment is "." or ".." passes the
# stock module's prefix check (it stats "/", which starts every output)
# and is served as a file-system path; ours treats it as a URL-path and
# merges it onto the document root ('..' above the root: 403).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

plan tests => 6, need_module 'rewrite';

Apache::TestRequest::module('rw_safer');

my $r = GET '/dd/etc/hostname';
ok t_cmp($r->code, 200, '/./etc/hostname: served from the document root');
ok t_cmp($r->content, "docroot copy\n", '/./etc/hostname: not /etc/hostname');

$r = GET '/de/etc/hostname';
ok t_cmp($r->code, 403, '/../etc/hostname: above the document root, refused');

$r = GET '/de/x/../etc/hostname';
ok t_cmp($r->code, 403, '/../x/../etc/hostname: refused');

# the plain form is the stock module's own check: "/etc" is not written
# in the substitution and not under the document root, so a URL-path
$r = GET '/plain/etc/hostname';
ok t_cmp($r->code, 200, '/etc/hostname via $1: URL-path');
ok t_cmp($r->content, "docroot copy\n", '/etc/hostname via $1: docroot copy');
