# Issue 13, items 1, 2 and 6: what the stock module refuses or keeps as
# it is, ours must too.  Config: the rw_secmap vhost of
# t/conf/safer.conf.in; fixtures t/htdocs/secmap/ and t/htdocs/outside/.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

plan tests => 10, need_module 'rewrite';

Apache::TestRequest::module('rw_secmap');
Apache::TestRequest::user_agent(requests_redirectable => 0);

# 1. a capture that climbs out of the document root: 403 (AH00127)
my $r = GET '/get?f=../../outside/secret.txt';
ok t_cmp($r->code, 403, 'traversal through %1 is refused');
ok t_cmp($r->content =~ /top secret/ ? 1 : 0, 0,
         'the file above the root is not served');
$r = GET '/get?f=a.txt';
ok t_cmp($r->code, 200, 'a file under the root is served');
$r = GET '/get?f=x/../a.txt';
ok t_cmp($r->code, 200, 'dot segments inside the root are resolved');

# 2. the first '?' of the result comes from an expansion: 403
$r = GET '/view?page=raw.txt?';
ok t_cmp($r->code, 403, "'?' through a condition capture is refused");
ok t_cmp($r->content =~ /raw source/ ? 1 : 0, 0,
         'the raw source is not served');
$r = GET '/path/query';
ok t_cmp($r->code, 403, "'?' through a map value is refused");
$r = GET '/ok/raw.txt';
ok t_cmp($r->code, 200, "a literal '?' before the expansion is allowed");

# 6. the client's query copied by %{QUERY_STRING}: not escaped again
$r = GET '/old?q=a%20b';
ok t_cmp($r->code, 302, 'redirect');
ok t_cmp($r->header('Location'), 'http://host.example/new?q=a%20b',
         'query copied as it is');
