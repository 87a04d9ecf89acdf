# <IfModule mod_rewrite.c> and <IfModule rewrite_module> are both true
# with the module loaded (each guards a rule that is then observed), and
# their negations are false (each guards an Alias that must not exist).
# Config: the "ifmodule" section of t/conf/extra.conf.in.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

# [ request => status, exact body ]
my @tests = (
    [ '/ifmodule/c'      => 200, "ifmodule mod_rewrite.c\n"  ],  # <IfModule mod_rewrite.c>
    [ '/ifmodule/id'     => 200, "ifmodule rewrite_module\n" ],  # <IfModule rewrite_module>
    [ '/ifmodule/neg-c'  => 404, undef ],                        # <IfModule !mod_rewrite.c>
    [ '/ifmodule/neg-id' => 404, undef ],                        # <IfModule !rewrite_module>
);

plan tests => 1 + 2 * @tests;

ok t_cmp(have_module('rewrite') ? 1 : 0, 1, "have_module('rewrite')");

for my $t (@tests) {
    my ($url, $status, $body) = @$t;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "GET $url: status");
    if (defined $body) {
        ok t_cmp($res->content, $body, "GET $url: body");
    }
    else {
        ok t_cmp($res->content, qr/Not Found/, "GET $url: not found page");
    }
}
