# RewriteMap txt, rnd, int and prg in Apache::Test's server.
# Config: t/conf/maps.conf.in; fixtures: t/htdocs/maps/, t/maps/map-prg.pl.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

# [ request => exact value of v= in the redirect ]
my @redirects = (
    # txt: first word of the value, comments, first line of a key wins
    [ '/maps/txt/television'   => 'tv' ],
    [ '/maps/txt/stereo'       => 'hifi' ],
    [ '/maps/txt/fishingrod'   => 'fishing' ],
    [ '/maps/txt/dup'          => 'first' ],
    [ '/maps/txt/hidden'       => 'NOTFOUND' ],
    [ '/maps/txt/%23hidden'    => 'NOTFOUND' ],
    [ '/maps/txt/indented'     => 'NOTFOUND' ],
    [ '/maps/txt/keyonly'      => 'NOTFOUND' ],
    [ '/maps/txt/nothere'      => 'NOTFOUND' ],
    [ '/maps/txt/Television'   => 'NOTFOUND' ],   # keys are case-sensitive
    [ '/maps/nodef/nothere'    => '' ],
    # rnd
    [ '/maps/rnd/static'       => 'www1' ],
    [ '/maps/rnd/dynamic'      => 'www5' ],
    [ '/maps/rnd/nothing'      => 'NOTFOUND' ],   # empty choices: no value
    [ '/maps/rnd/nothere'      => 'NOTFOUND' ],
    # int
    [ '/maps/up/aBc-d_e'       => 'ABC-D_E' ],
    [ '/maps/low/AbC-D_E'      => 'abc-d_e' ],
    [ '/maps/esc/a%20b'        => 'a%20b' ],
    [ '/maps/esc/a%2bb%3dc%3c'  => 'a+b=c%3c' ],
    [ '/maps/unesc?a%41%2fb'   => 'aA/b' ],
    [ '/maps/unesc?%zz'        => '%zz' ],
    [ '/maps/chain/stereo'     => 'HIFI' ],
    [ '/maps/chain/nothere'    => 'NONE' ],
    # prg: one line in, one line out
    [ '/maps/prg/abc'          => 'v-abc' ],
    [ '/maps/prg/null'         => 'NOTFOUND' ],
    [ '/maps/prg/args'         => 'one+two' ],
    [ '/maps/prg/x%20y'        => 'v-x%20y' ],
);

plan tests => @redirects * 2 + 3, need_module 'rewrite';

for my $t (@redirects) {
    my ($url, $want) = @$t;
    my $r = GET $url, redirect_ok => 0;
    ok t_cmp($r->code, 302, "$url: redirect");
    my $loc = $r->header('Location') || '';
    my ($v) = $loc =~ /[?&]v=([^&]*)/;
    ok t_cmp($v, $want, "$url: value");
}

# a map in a condition and in an internal rewrite
my $r = GET '/maps/file/page';
ok t_cmp($r->code, 200, '/maps/file/page: rewritten to page1.html');
ok t_cmp($r->content, "<html><body>page one</body></html>\n", 'page1.html served');
$r = GET '/maps/file/nothere', redirect_ok => 0;
ok t_cmp($r->code, 404, '/maps/file/nothere: condition fails, no rewrite');
