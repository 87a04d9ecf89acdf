# Per-directory rewriting (.htaccess files and <Directory> sections):
# prefix stripping, RewriteBase, relative and absolute substitutions,
# redirects, [L] vs [END] across the internal redirect, the
# REDIRECT_STATUS guard, endless loops (500), path info and [DPI],
# directories without a trailing slash, Options FollowSymLinks, with the
# exact answers of the stock module.
# Config: the "perdir" part of the coverage section of
# t/conf/extra.conf.in; fixtures (and .htaccess files) under
# t/htdocs/perdir/.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

my $docroot  = Apache::Test::vars('documentroot');
my $hostport = Apache::TestRequest::hostport();

my $F403 = qr{<title>403 Forbidden</title>};
my $F404 = qr{<title>404 Not Found</title>};
my $F500 = qr{<title>500 Internal Server Error</title>};

# [ request => expected status, Location, body ]
#  - Location: undef = none; "/..." = on this server
#  - body: a string = exact; qr// = a fragment; undef = a redirect page
#    linking to the Location; a hash = the exact echo.cgi output, with
#    REQUEST_URI defaulting to the request, QUERY_STRING to '',
#    SCRIPT_NAME to /cgi/echo.cgi (reached by an internal redirect) and
#    PATH_INFO to unset
my @cases = (
    # --- prefix stripping (perdir/strip/.htaccess: ^(.*)$ -> ?m=$1)
    [ '/perdir/strip/file.txt'  => 200, undef, { QUERY_STRING => 'm=file.txt' } ],
    [ '/perdir/strip/a/b/c'     => 200, undef, { QUERY_STRING => 'm=a/b/c' } ],   # with path info
    [ '/perdir/strip/'          => 200, undef, { QUERY_STRING => 'm=' } ],
    [ '/perdir/strip/sub/'      => 200, undef, { QUERY_STRING => 'm=sub/' } ],
    [ '/perdir/strip/sub/x'     => 200, undef, { QUERY_STRING => 'm=sub/x' } ],
    [ '/perdir/strip/x?q=1'     => 200, undef, { QUERY_STRING => 'm=x' } ],
    # RewriteEngine off in a sub-directory's .htaccess
    [ '/perdir/strip/off/file.txt' => 200, undef, "off file\n" ],
    [ '/perdir/strip/off/nothere'  => 404, undef, $F404 ],
    # directories without a trailing slash: the directory's own rules are
    # skipped (mod_dir redirects); a parent directory's rules still run
    [ '/perdir/strip'           => 301, '/perdir/strip/',       undef ],
    [ '/perdir/strip?x=1'       => 301, '/perdir/strip/?x=1',   undef ],
    [ '/perdir/dsec'            => 301, '/perdir/dsec/',        undef ],
    [ '/perdir/dsec/sub'        => 301, '/perdir/dsec/sub/',    undef ],
    [ '/perdir/strip/sub'       => 301, '/perdir/strip/sub/?m=sub', undef ],

    # --- <Directory> section (RewriteBase /perdir/dsec/)
    [ '/perdir/dsec/go/x'       => 200, undef, { QUERY_STRING => 'round=2' } ],   # x.txt, then round 2
    [ '/perdir/dsec/x.txt'      => 200, undef, { QUERY_STRING => 'round=2' } ],
    [ '/perdir/dsec/red/x'      => 301, '/perdir/dsec/x.txt', undef ],
    [ '/perdir/dsec/m/a/b'      => 200, undef, { QUERY_STRING => 'dsec=a/b' } ],
    [ '/perdir/dsec/sub/file.txt' => 200, undef, { QUERY_STRING => 'sub=sub/file.txt' } ],
    # .htaccess rules replace those of the <Directory> section
    [ '/perdir/both/ht'         => 200, undef, { QUERY_STRING => 'from=ht' } ],
    [ '/perdir/both/dironly'    => 404, undef, $F404 ],

    # --- RewriteBase /perdir/other/ (perdir/base/.htaccess)
    [ '/perdir/base/go/x'       => 200, undef, "other x\n" ],
    [ '/perdir/base/red/x'      => 302, '/perdir/other/x.txt', undef ],
    [ '/perdir/base/abs/y'      => 200, undef, "other y\n" ],
    [ '/perdir/base/absred/y'   => 301, '/perdir/other/y.txt', undef ],
    [ '/perdir/base/ext/p'      => 302, 'http://www.example.com/p', undef ],   # other host: redirect
    [ '/perdir/base/self/x'     => 200, undef, "other x\n" ],                 # this host: internal
    [ '/perdir/base/q/x?z=1'    => 302, '/perdir/other/x.txt?a=b', undef ],
    [ '/perdir/base/qsa/x?z=1'  => 302, '/perdir/other/x.txt?a=b&z=1', undef ],
    [ '/perdir/base/ne/x'       => 302, '/perdir/other/x.txt#top', undef ],

    # --- no RewriteBase (perdir/rel/.htaccess): internal rewrites work,
    # a relative redirect carries the directory's file-system path
    [ '/perdir/rel/go/x'        => 200, undef, "rel x\n" ],
    [ '/perdir/rel/red/x'       => 302, "$docroot/perdir/rel/x.txt", undef ],
    [ '/perdir/rel/keep/p/q?z=1' => 200, undef, { QUERY_STRING => 'z=1', PATH_INFO => '/p/q' } ],
    [ '/perdir/rel/new/p?z=1'   => 200, undef, { QUERY_STRING => 'n=p' } ],
    [ '/perdir/rel/qsa/p?z=1'   => 200, undef, { QUERY_STRING => 'n=p&z=1' } ],
    [ '/perdir/rel/qsd/p?z=1'   => 200, undef, { QUERY_STRING => '', PATH_INFO => '/p' } ],
    [ '/perdir/rel/pt/p?z=1'    => 200, undef, { QUERY_STRING => 'z=1', PATH_INFO => '/p' } ],
    # E= from an earlier '-' rule survives the internal redirect (REDIRECT_)
    [ '/perdir/rel/dash/v'      => 200, undef, { QUERY_STRING => 'd=v', REDIRECT_RW_dash => '1' } ],

    # --- a directory reached through an Alias (no RewriteBase)
    [ '/perdir-alias/go/x'      => 200, undef, "aliased x\n" ],
    [ '/perdir-alias/red/x'     => 302, "$docroot/perdir/aliased/x.txt", undef ],
    [ '/perdir-alias/info'      => 200, undef,
      { REDIRECT_RW_cp => '/perdir-alias', REDIRECT_RW_cdr => "$docroot/perdir/aliased" } ],
    [ '/perdir/aliased/go/x'    => 200, undef, "aliased x\n" ],
    [ '/perdir/aliased/red/x'   => 302, "$docroot/perdir/aliased/x.txt", undef ],
    [ '/perdir/aliased/info'    => 200, undef,
      { REDIRECT_RW_cp => '', REDIRECT_RW_cdr => $docroot } ],

    # --- [L] vs [END] across the internal redirect (perdir/lend/)
    [ '/perdir/lend/a.txt'      => 200, undef, "c\n" ],   # a -> b, next round b -> c
    [ '/perdir/lend/b.txt'      => 200, undef, "c\n" ],
    [ '/perdir/lend/la.txt'     => 200, undef, "c\n" ],   # [last]
    [ '/perdir/lend/n.txt'      => 200, undef, "c\n" ],   # no flag
    [ '/perdir/lend/ea.txt'     => 200, undef, "b\n" ],   # [END]: no next round
    [ '/perdir/lend/c.txt'      => 200, undef, "c\n" ],
    [ '/perdir/lend/cgi'        => 200, undef, { QUERY_STRING => 'from=lend', REDIRECT_RW_lend => '1' } ],

    # --- REDIRECT_STATUS guard (perdir/guard/) and a loop (perdir/loop/)
    [ '/perdir/guard/a.txt'     => 200, undef, "guard a-x\n" ],
    [ '/perdir/guard/a-x.txt'   => 200, undef, "guard a-x\n" ],
    [ '/perdir/guard/st1'       => 200, undef, { REDIRECT_RW_rs => '200' } ],   # 2nd round
    [ '/perdir/guard/st2'       => 200, undef, { REDIRECT_RW_rs => '' } ],      # 1st round
    [ '/perdir/loop/a.txt'      => 500, undef, $F500 ],   # LimitInternalRecursion
    [ '/perdir/loop/same.txt'   => 200, undef, "loop same\n" ],   # rewritten to itself: no loop

    # --- path info and [DPI] (perdir/dpi/)
    [ '/perdir/dpi/info.txt/p/q' => 200, undef,
      { REDIRECT_RW_fn => "$docroot/perdir/dpi/info.txt", REDIRECT_RW_m => '/p/q',
        REDIRECT_RW_pi => '/p/q', REDIRECT_RW_uri => '/perdir/dpi/info.txt/p/q' } ],
    [ '/perdir/dpi/info.txt'     => 200, undef,
      { REDIRECT_RW_fn => "$docroot/perdir/dpi/info.txt", REDIRECT_RW_m => '',
        REDIRECT_RW_pi => '', REDIRECT_RW_uri => '/perdir/dpi/info.txt' } ],
    [ '/perdir/dpi/page.txt/x/y?dpi' => 200, undef, { QUERY_STRING => 'm=/x/y' } ],
    [ '/perdir/dpi/page.txt/x/y'     => 200, undef, { QUERY_STRING => 'm=/x/y/x/y' } ],
    [ '/perdir/dpi/page.txt'         => 200, undef, { QUERY_STRING => 'm=' } ],

    [ '/perdir/dpi/cap.txt/zz'       => 200, undef, { QUERY_STRING => 'cap=zz' } ],   # a [DPI] rule sees the path info

    # --- front controller: !-f / !-d on REQUEST_FILENAME (perdir/front/)
    [ '/perdir/front/real.txt'       => 200, undef, "front real\n" ],
    [ '/perdir/front/app/x?y=1'      => 200, undef, { QUERY_STRING => 'route=app/x&y=1' } ],
    [ '/perdir/front/d/'             => 404, undef, $F404 ],
    [ '/perdir/front/d'              => 301, '/perdir/front/d/', undef ],
    [ '/perdir/front/'               => 404, undef, $F404 ],

    # --- DirectoryIndex sub-request (perdir/idx/), and with [NS] (perdir/idxns/)
    [ '/perdir/idx/'                 => 200, undef, "idx other\n" ],
    [ '/perdir/idx/index.html'       => 200, undef, "idx other\n" ],
    [ '/perdir/idxns/'               => 200, undef, "index\n" ],
    [ '/perdir/idxns/index.html'     => 200, undef, "idxns other\n" ],

    # --- <If> sections in a <Directory>: no prefix is stripped, the last
    # matching <If> replaces the rules of an earlier one
    [ '/perdir/ifs/file.txt?a'       => 200, undef, { QUERY_STRING => "ifa=$docroot/perdir/ifs/file.txt" } ],
    [ '/perdir/ifs/file.txt?b'       => 200, undef, { QUERY_STRING => "ifb=$docroot/perdir/ifs/file.txt" } ],
    [ '/perdir/ifs/file.txt?ab'      => 200, undef, { QUERY_STRING => "ifb=$docroot/perdir/ifs/file.txt" } ],
    [ '/perdir/ifs/file.txt?c'       => 200, undef, "ifs file\n" ],

    # --- Options FollowSymLinks off: rewriting refused
    [ '/perdir/nofollow/file.txt' => 403, undef, $F403 ],
);

# [ request => Content-Type ]: [T=] with '-' and with a substitution
my @types = (
    [ '/perdir/meta/tdash.txt' => 'text/x-rw-dash', "meta tdash\n" ],
    [ '/perdir/meta/tsub'      => 'text/plain',     "meta file\n"  ],   # lost in the next round
    [ '/perdir/meta/file.txt'  => 'text/plain',     "meta file\n"  ],
);

plan tests => 3 * @cases + 3 * @types, need need_module('rewrite'), need_cgi;

sub echo_body {
    my ($url, $e) = @_;
    my %v = (REQUEST_URI => $url, QUERY_STRING => '', SCRIPT_NAME => '/cgi/echo.cgi',
             PATH_INFO => '(unset)', %$e);
    my $s = join '', map { "$_=$v{$_}\n" } qw(REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO);
    $s .= "$_=$v{$_}\n" for sort grep { /^(?:REDIRECT_)*RW_/ } keys %v;
    return $s;
}

for my $c (@cases) {
    my ($url, $status, $loc, $body) = @$c;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "GET $url: status");
    my $want_loc = defined $loc && $loc =~ m{^/} ? "http://$hostport$loc" : $loc;
    ok t_cmp(scalar $res->header('Location'), $want_loc, "GET $url: Location");
    if (ref $body eq 'HASH') {
        ok t_cmp($res->content, echo_body($url, $body), "GET $url: echo.cgi output");
    }
    elsif (defined $body) {
        ok t_cmp($res->content, $body, "GET $url: body");
    }
    else {
        (my $href = $want_loc) =~ s/&/&amp;/g;
        ok t_cmp($res->content, qr{<a href="\Q$href\E">here</a>}, "GET $url: body links to the Location");
    }
}

for my $t (@types) {
    my ($url, $type, $body) = @$t;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, 200, "GET $url: status");
    ok t_cmp(scalar $res->header('Content-Type'), $type, "GET $url: Content-Type");
    ok t_cmp($res->content, $body, "GET $url: body");
}
