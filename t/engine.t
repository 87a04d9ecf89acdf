# The first engine slice: server and vhost context RewriteEngine on|off,
# RewriteRule Pattern Substitution [L,R,R=code,NC] with $N back-references.
# Config: the "engine" section of t/conf/extra.conf.in; fixtures under
# t/htdocs/engine/ and t/htdocs/cgi/echo.cgi.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

# [ request => status, exact body ]: internal rewrites to a file, and
# requests that fall through to the normal URL mapping
my @files = (
    # $1 back-reference
    [ '/engine/int/alpha'          => 200, "alpha\n" ],
    [ '/engine/int/beta'           => 200, "beta\n"  ],
    [ '/engine/int/gamma'          => 404, undef     ],  # rewritten, no such file
    [ '/engine/int/Alpha'          => 404, undef     ],  # no match: case-sensitive
    # $2, and $2$1
    [ '/engine/two/x/beta'         => 200, "beta\n"  ],
    [ '/engine/swap/ta-be'         => 200, "beta\n"  ],
    # NC / nocase: the pattern matches any case, $1 keeps the request's case
    [ '/engine/nc/alpha'           => 200, "alpha\n" ],
    [ '/ENGINE/NC/alpha'           => 200, "alpha\n" ],
    [ '/Engine/Nc/beta'            => 200, "beta\n"  ],
    [ '/engine/NC/ALPHA'           => 404, undef     ],  # -> ALPHA.txt: no such file
    [ '/engine/nocase/alpha'       => 200, "alpha\n" ],
    [ '/Engine/NoCase/beta'        => 200, "beta\n"  ],
    # without NC the match is case-sensitive
    [ '/engine/case/alpha'         => 200, "alpha\n" ],
    [ '/engine/case/ALPHA'         => 404, undef     ],
    [ '/ENGINE/case/alpha'         => 404, undef     ],
    # L ends the ruleset; without L the following rules see the new URL
    [ '/engine/last/alpha'         => 404, undef     ],  # /engine/chain/alpha, stop
    [ '/engine/nolast/alpha'       => 200, "alpha\n" ],  # -> chain -> files
    [ '/engine/chain/beta'         => 200, "beta\n"  ],
    # no rule matches: the normal mapping applies
    [ '/engine/files/alpha.txt'    => 200, "alpha\n" ],
    [ '/engine/files/beta.txt?q=1' => 200, "beta\n"  ],
    [ '/engine/nothing'            => 404, undef     ],
    [ '/engine/int/'               => 404, undef     ],
);

# [ request => exact echo.cgi output ]: internal rewrites to the CGI.
# Server-context rewriting changes the file, not r->uri: SCRIPT_NAME is
# derived from the original URL, PATH_INFO from the rewritten file path.
my @cgi = (
    [ '/engine/cgi/foo/bar?q=1' => {
        REQUEST_URI  => '/engine/cgi/foo/bar?q=1',
        QUERY_STRING => 'q=1',
        SCRIPT_NAME  => '/engine/cgi',
        PATH_INFO    => '/foo/bar' } ],
    [ '/engine/cgi/x' => {
        REQUEST_URI  => '/engine/cgi/x',
        QUERY_STRING => '',
        SCRIPT_NAME  => '/engine/cgi',
        PATH_INFO    => '/x' } ],
    [ '/engine/cgi/' => {
        REQUEST_URI  => '/engine/cgi/',
        QUERY_STRING => '',
        SCRIPT_NAME  => '/engine/cgi',
        PATH_INFO    => '/' } ],
    # NC: $1 keeps the case of the request
    [ '/ENGINE/NCGI/AbC' => {
        REQUEST_URI  => '/ENGINE/NCGI/AbC',
        QUERY_STRING => '',
        SCRIPT_NAME  => '/ENGINE/NCGI',
        PATH_INFO    => '/AbC' } ],
    # a query string in the substitution replaces the request's
    [ '/engine/cgiq/abc' => {
        REQUEST_URI  => '/engine/cgiq/abc',
        QUERY_STRING => 'id=abc',
        SCRIPT_NAME  => '/engine/cgiq/abc',
        PATH_INFO    => '(unset)' } ],
    [ '/engine/cgiq/abc?x=2' => {
        REQUEST_URI  => '/engine/cgiq/abc?x=2',
        QUERY_STRING => 'id=abc',
        SCRIPT_NAME  => '/engine/cgiq/abc',
        PATH_INFO    => '(unset)' } ],
);

# [ request => status, Location ]; a Location starting with "/" is
# relative to the server the request went to (http://HOST:PORT)
my @redirects = (
    [ '/engine/redir/alpha'      => 302, '/engine/files/alpha.txt'     ],
    [ '/engine/redir/alpha?x=1'  => 302, '/engine/files/alpha.txt?x=1' ],
    [ '/engine/redir/a/b'        => 302, '/engine/files/a/b.txt'       ],
    [ '/engine/temp/alpha'       => 302, '/engine/files/alpha.txt'     ],
    [ '/engine/r301/alpha'       => 301, '/engine/files/alpha.txt'     ],
    [ '/engine/r301/beta?k=v&w'  => 301, '/engine/files/beta.txt?k=v&w' ],
    [ '/engine/perm/alpha'       => 301, '/engine/files/alpha.txt'     ],
    [ '/engine/r303/alpha'       => 303, '/engine/files/alpha.txt'     ],
    [ '/engine/abs/alpha'        => 302, 'http://www.example.com/x/alpha' ],
    [ '/engine/abs301/a?b=c'     => 301, 'http://www.example.com/x/a?b=c' ],
);

# [ vhost, request => status, exact body or Location ]
my @vhosts = (
    # RewriteEngine on in the vhost: its rules apply ...
    [ rw_vhost_on    => '/vh/alpha'         => 200, "alpha\n" ],
    [ rw_vhost_on    => '/vhredir/beta'     => 301, '/engine/files/beta.txt' ],
    # ... the main server's do not
    [ rw_vhost_on    => '/engine/int/alpha' => 404, undef ],
    [ rw_vhost_on    => '/engine/files/alpha.txt' => 200, "alpha\n" ],
    # RewriteEngine off: the same rules are ignored
    [ rw_vhost_off   => '/vh/alpha'         => 404, undef ],
    [ rw_vhost_off   => '/vhredir/beta'     => 404, undef ],
    [ rw_vhost_off   => '/engine/int/alpha' => 404, undef ],
    [ rw_vhost_off   => '/engine/files/alpha.txt' => 200, "alpha\n" ],
    # the last RewriteEngine wins
    [ rw_vhost_onoff => '/vh/alpha'         => 404, undef ],
    [ rw_vhost_offon => '/vh/alpha'         => 200, "alpha\n" ],
);

# rules are per server: the vhost rules do not apply in the main server
my @main_only = (
    [ '/vh/alpha'     => 404 ],
    [ '/vhredir/beta' => 404 ],
);

plan tests => 2 * @files + @cgi + 3 * @redirects + 2 * @vhosts
            + @main_only + 2,
    need need_module('rewrite'), need_cgi;

my $hostport = Apache::TestRequest::hostport();

for my $t (@files) {
    my ($url, $status, $body) = @$t;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "GET $url: status");
    if (defined $body) {
        ok t_cmp($res->content, $body, "GET $url: body");
    }
    else {
        ok t_cmp($res->header('Location'), undef, "GET $url: no Location");
    }
}

sub expected_cgi {
    my $vars = shift;
    return join '', map { "$_=$vars->{$_}\n" }
        qw(REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO);
}

for my $t (@cgi) {
    my ($url, $vars) = @$t;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code . "\n" . $res->content,
             "200\n" . expected_cgi($vars), "GET $url: echo.cgi");
}

sub absolute {
    my ($loc, $hp) = @_;
    return $loc =~ m{^/} ? "http://$hp$loc" : $loc;
}

for my $t (@redirects) {
    my ($url, $status, $loc) = @$t;
    my $want = absolute($loc, $hostport);
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "GET $url: status");
    ok t_cmp($res->header('Location'), $want, "GET $url: Location");
    (my $href = $want) =~ s/&/&amp;/g;
    ok t_cmp($res->content, qr{<a href="\Q$href\E">here</a>}, "GET $url: body links to it");
}

# the host of a redirect comes from the request's Host header
{
    my ($port) = $hostport =~ /:(\d+)$/;
    my $res = GET '/engine/redir/alpha', Host => 'www.foo.test', redirect_ok => 0;
    ok t_cmp($res->header('Location'),
             "http://www.foo.test:$port/engine/files/alpha.txt",
             'redirect: Host header without port');
    $res = GET '/engine/r301/alpha', Host => 'www.foo.test:1234', redirect_ok => 0;
    ok t_cmp($res->header('Location'),
             'http://www.foo.test:1234/engine/files/alpha.txt',
             'redirect: Host header with port');
}

for my $t (@vhosts) {
    my ($vhost, $url, $status, $want) = @$t;
    Apache::TestRequest::module($vhost);
    my $hp = Apache::TestRequest::hostport();
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "$vhost: GET $url: status");
    if ($status =~ /^3/) {
        ok t_cmp($res->header('Location'), absolute($want, $hp),
                 "$vhost: GET $url: Location");
    }
    elsif (defined $want) {
        ok t_cmp($res->content, $want, "$vhost: GET $url: body");
    }
    else {
        ok t_cmp($res->header('Location'), undef, "$vhost: GET $url: no Location");
    }
}
Apache::TestRequest::module('default');

for my $t (@main_only) {
    my ($url, $status) = @$t;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "main server: GET $url: status");
}
