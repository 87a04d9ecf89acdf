# Every RewriteRule flag, in its short and (where there is one) long
# form, with exact expected answers (those of the stock module).
# Config: the "flags" part of the coverage section of
# t/conf/extra.conf.in (URL prefix /flags/); fixtures under
# t/htdocs/flags/ and t/htdocs/cgi/echo.cgi.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);
use HTTP::Date qw(str2time);

my $vars    = Apache::Test::vars();
my $docroot = $vars->{documentroot};   # .../t/htdocs
my $troot   = $vars->{serverroot};     # .../t (outside the document root)

# A case is [ request, expected status, expected Location, expected body,
# { request header => value, ... }, { response header => expected, ... } ]
#  - Location: undef = no Location header; "/..." = on this server
#  - body: undef = not checked beyond status; a string = exact body;
#    qr// = a fragment; a hash = the exact output of echo.cgi, with
#    REQUEST_URI defaulting to the request, QUERY_STRING to '',
#    SCRIPT_NAME to the request's (decoded) path and PATH_INFO to unset
#  - response headers: a string (exact; several values joined by "\n"),
#    undef (absent), qr// or a code ref (gets the value, returns true/false)
my $F403 = qr{<title>403 Forbidden</title>};
my $F404 = qr{<title>404 Not Found</title>};
my $F410 = qr{<title>410 Gone</title>};
my $F500 = qr{<title>500 Internal Server Error</title>};

my @cases = (
    # --- B: escape back-references (space as +, lower-case hex)
    [ '/flags/b/a%20b%26c/d%3F%2B~_-.' => 200, undef,
      { QUERY_STRING => 'v=a+b%26c%2fd%3f%2b%7e_%2d%2e',
        SCRIPT_NAME  => '/flags/b/a b&c/d?+~_-.' } ],
    [ '/flags/b/abc123'                => 200, undef, { QUERY_STRING => 'v=abc123' } ],
    # without B the unescaped back-reference goes in as is: a space in
    # the query string is refused, '&' splits it, a trailing '&' is dropped
    [ '/flags/nob/a%20b%26c/d'         => 403, undef, $F403 ],
    [ '/flags/nob/a%26b'               => 200, undef,
      { QUERY_STRING => 'v=a&b', SCRIPT_NAME => '/flags/nob/a&b' } ],
    [ '/flags/nob/a%26'                => 200, undef,
      { QUERY_STRING => 'v=a', SCRIPT_NAME => '/flags/nob/a&' } ],
    # B in the path part
    [ '/flags/bpath/a%20b%26c/d'       => 200, undef,
      { SCRIPT_NAME => '/flags/bpath/a b&c', PATH_INFO => '/a+b%26c%2fd' } ],
    # B=chars: only the listed characters
    [ '/flags/bchars/a%26b%2Bc'        => 200, undef,
      { QUERY_STRING => 'v=a%26b%2bc', SCRIPT_NAME => '/flags/bchars/a&b+c' } ],
    [ '/flags/bchars/a%20b'            => 403, undef, $F403 ],   # space not listed
    # BNP: space as %20
    [ '/flags/bnp/a%20b%26c/d'         => 200, undef,
      { QUERY_STRING => 'v=a%20b%26c%2fd', SCRIPT_NAME => '/flags/bnp/a b&c/d' } ],
    [ '/flags/bnpq/a%20b%3Fc%26d'      => 200, undef,               # "[B= ?,BNP]"
      { QUERY_STRING => 'v=a%20b%3fc&d', SCRIPT_NAME => '/flags/bnpq/a b?c&d' } ],
    # BCTLS: controls and space only
    [ '/flags/bctls/a%20b%26c/d'       => 200, undef,
      { QUERY_STRING => 'v=a+b&c/d', SCRIPT_NAME => '/flags/bctls/a b&c/d' } ],
    [ '/flags/bctls/a%09b'             => 200, undef,
      { QUERY_STRING => 'v=a%09b', SCRIPT_NAME => "/flags/bctls/a\tb" } ],
    # BNE: exclusions from B / BCTLS
    [ '/flags/bne/a%20b%26c/d%3D'      => 200, undef,               # [B,BNE=/&]
      { QUERY_STRING => 'v=a+b&c/d%3d', SCRIPT_NAME => '/flags/bne/a b&c/d=' } ],
    [ '/flags/bctlsne/a%09x%26'        => 200, undef,               # "[BCTLS,BNE= x]"
      { QUERY_STRING => 'v=a%09x', SCRIPT_NAME => "/flags/bctlsne/a\tx&" } ],
    [ '/flags/bctlsne/a%20x'           => 403, undef, $F403 ],     # space left as is

    # --- C|chain
    [ '/flags/c/ab'      => 200, undef, { QUERY_STRING => 'chained=ab' } ],
    [ '/flags/c/ax'      => 200, undef, { QUERY_STRING => 'fell=ax' } ],     # 2nd of chain fails
    [ '/flags/c/b'       => 200, undef, { QUERY_STRING => 'nomatch=b' } ],   # chain skipped
    [ '/flags/cc/ab'     => 200, undef, { QUERY_STRING => 'fell=ab' } ],     # chained rule alone: skipped
    [ '/flags/chain/ab'  => 200, undef, { QUERY_STRING => 'chained=ab' } ],
    [ '/flags/chain/b'   => 200, undef, { QUERY_STRING => 'nomatch=b' } ],
    [ '/flags/c3/xy'     => 200, undef, { QUERY_STRING => 'three=xy' } ],
    [ '/flags/c3/yy'     => 200, undef, { QUERY_STRING => 'fb=b/yy' } ],     # rest of the chain skipped

    # --- CO|cookie
    [ '/flags/co/basic' => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwa=one; path=/; domain=.example.com' } ],
    [ '/flags/co/basic' => 200, undef, "flags file\n", { Cookie => 'x=1; rwa=one' },
      { 'Set-Cookie' => 'rwa=one; path=/; domain=.example.com' } ],
    [ '/flags/co/zero'  => 200, undef, "flags file\n", {},        # lifetime 0: no expires
      { 'Set-Cookie' => 'rwb=two; path=/flags/; domain=.example.com' } ],
    [ '/flags/co/life'  => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => sub {
            my $v = shift;
            return 0 unless defined $v && $v =~ /^rwc=three; path=\/; domain=\.example\.com; expires=(\w{3}, \d\d-\w{3}-\d{4} \d\d:\d\d:\d\d GMT)$/;
            (my $d = $1) =~ s/-/ /g;
            my $t = str2time($d);
            return defined $t && abs($t - (time + 3600)) < 300;
        } } ],
    [ '/flags/co/all'   => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwd=four; path=/p; domain=.example.com; secure; HttpOnly; SameSite=Strict' } ],
    [ '/flags/co/false' => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwk=six; path=/; domain=.example.com' } ],
    [ '/flags/co/alt'   => 200, undef, "flags file\n", {},        # ;-separated form
      { 'Set-Cookie' => 'rwe=a:b; path=/; domain=.example.com' } ],
    [ '/flags/co/long'  => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwf=five; path=/; domain=.example.com' } ],
    [ '/flags/co/two'   => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => "rwg=1; path=/; domain=.example.com\nrwh=2; path=/; domain=.example.com" } ],
    [ '/flags/co/ref/abc' => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwi=abc; path=/; domain=.example.com' } ],
    [ '/flags/co/dash'  => 200, undef, "flags file\n", {},
      { 'Set-Cookie' => 'rwj=dash; path=/; domain=.example.com' } ],
    [ '/flags/co/redir' => 302, '/flags/to', undef, {},
      { 'Set-Cookie' => 'rwl=r; path=/; domain=.example.com' } ],
    [ '/flags/files/file.txt' => 200, undef, "flags file\n", {}, { 'Set-Cookie' => undef } ],

    # --- DPI|discardpath (directory context; PATH_INFO /x/y)
    [ '/flags/dpi/page.txt/x/y?dpi'         => 200, undef,
      { QUERY_STRING => 'm=/x/y', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dpi/page.txt/x/y?discardpath' => 200, undef,
      { QUERY_STRING => 'm=/x/y', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dpi/page.txt/x/y?none'        => 200, undef,   # path info appended again
      { QUERY_STRING => 'm=/x/y/x/y', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dpi/page.txt/x/y?dpicap'      => 200, undef,   # a [DPI] rule itself sees the path info
      { QUERY_STRING => 'cap=y-x', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dpi/page.txt?none'            => 200, undef,
      { QUERY_STRING => 'm=', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dpi/other.txt/z'              => 200, undef,
      { QUERY_STRING => 'm=/z', SCRIPT_NAME => '/cgi/echo.cgi' } ],

    # --- E|env (RW_pre is set by SetEnvIf for /flags/e/)
    [ '/flags/e/set/abc' => 200, undef, { RW_a => 'abc', RW_b => 'x-abc-y', RW_pre => 'preset' } ],
    [ '/flags/e/empty'   => 200, undef, { RW_empty => '', RW_pre => 'preset' } ],
    [ '/flags/e/unset'   => 200, undef, {} ],
    [ '/flags/e/keep'    => 200, undef, { RW_pre => 'preset' } ],
    [ '/flags/e/env'     => 200, undef, { RW_long => 'yes', RW_pre => 'preset' } ],
    [ '/flags/e/colon'   => 200, undef, { RW_c => 'a:b', RW_pre => 'preset' } ],
    [ '/flags/e/seq/zz'  => 200, undef, { RW_after => 'zz', RW_keep => '2', RW_pre => 'preset' } ],
    [ '/flags/e/pct?qq'  => 200, undef,
      { QUERY_STRING => 'qq', SCRIPT_NAME => '/flags/e/pct', RW_pct => 'qq', RW_pre => 'preset' } ],
    [ '/flags/e/use'     => 200, undef,
      { QUERY_STRING => 'saw=hello', RW_u => 'hello', RW_pre => 'preset' } ],

    # --- END: no more rules, not even per-directory ones (flags/endd/.htaccess)
    [ '/flags/end/page.txt'  => 200, undef, "endd page\n" ],
    [ '/flags/endl/page.txt' => 200, undef,
      { QUERY_STRING => 'ht=page.txt', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/endd/page.txt' => 200, undef,
      { QUERY_STRING => 'ht=page.txt', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/stop/x'        => 404, undef, $F404 ],
    [ '/flags/stopl/x'       => 404, undef, $F404 ],
    [ '/flags/stopn/x'       => 200, undef, { QUERY_STRING => 'after=x' } ],

    # --- F|forbidden, G|gone (the substitution is ignored)
    [ '/flags/f/x'         => 403, undef, $F403 ],
    [ '/flags/forbidden/x' => 403, undef, $F403 ],
    [ '/flags/fsub/x'      => 403, undef, $F403 ],
    [ '/flags/g/x'         => 410, undef, $F410 ],
    [ '/flags/gone/x'      => 410, undef, $F410 ],
    [ '/flags/gsub/x'      => 410, undef, $F410 ],

    # --- H|handler
    [ '/flags/h/run'        => 200, undef, "script ran\n" ],
    [ '/flags/h/handler'    => 200, undef, "script ran\n" ],
    [ '/flags/h/script.cgi' => 200, undef, "script ran\n" ],
    [ '/flags/h/plain'      => 200, undef, qr{^#!/usr/bin/perl\n# run as a CGI only} ],

    # --- L|last
    [ '/flags/l/a'    => 404, undef, $F404 ],
    [ '/flags/last/a' => 404, undef, $F404 ],
    [ '/flags/nol/a'  => 200, undef, { QUERY_STRING => 'lx=a' } ],

    # --- N|next, N=limit (the default limit is 10000 rounds)
    [ '/flags/n/AAxA'   => 200, undef, { QUERY_STRING => 'n=BBxB' } ],
    [ '/flags/n/xyz'    => 200, undef, { QUERY_STRING => 'n=xyz' } ],
    [ '/flags/next/A'   => 200, undef, { QUERY_STRING => 'n=B' } ],
    [ '/flags/nlim/x'   => 200, undef, { QUERY_STRING => 'n=x' } ],
    [ '/flags/nlim/A'   => 200, undef, { QUERY_STRING => 'n=B' } ],
    [ '/flags/nlim/AA'  => 500, undef, $F500 ],   # N=3
    [ '/flags/nlim/AAAA'=> 500, undef, $F500 ],
    [ '/flags/nlim5/AAA'  => 200, undef, { QUERY_STRING => 'n=BBB' } ],
    [ '/flags/nlim5/AAAA' => 500, undef, $F500 ], # N=5
    [ '/flags/nlim1/x'  => 200, undef, { QUERY_STRING => 'n=x' } ],
    [ '/flags/nlim1/A'  => 500, undef, $F500 ],   # N=1
    [ '/flags/nloop/'   => 500, undef, $F500 ],   # endless: default limit

    # --- NC|nocase
    [ '/flags/nc/abc'      => 200, undef, { QUERY_STRING => 'nc=abc' } ],
    [ '/FLAGS/NC/AbC'      => 200, undef, { QUERY_STRING => 'nc=AbC' } ],
    [ '/flags/nocase/x'    => 200, undef, { QUERY_STRING => 'nc=x' } ],
    [ '/Flags/NoCase/Yz'   => 200, undef, { QUERY_STRING => 'nc=Yz' } ],
    [ '/flags/case/abc'    => 200, undef, { QUERY_STRING => 'nc=abc' } ],
    [ '/flags/CASE/abc'    => 404, undef, $F404 ],
    [ '/flags/case/ABC'    => 404, undef, $F404 ],

    # --- NE|noescape (redirects)
    [ '/flags/ne/frag'       => 302, '/flags/to#frag',      undef ],
    [ '/flags/noescape/frag' => 302, '/flags/to#frag',      undef ],
    [ '/flags/ne/a%20b'      => 302, '/flags/to#a b',       undef ],
    [ '/flags/esc/frag'      => 302, '/flags/to%23frag',    undef ],
    [ '/flags/esc/a%20b'     => 302, '/flags/to%23a%20b',   undef ],
    [ '/flags/neq/a%26b'     => 302, '/flags/to?q=a&b',     undef ],
    [ '/flags/escq/a%26b'    => 302, '/flags/to?q=a&b',     undef ],
    [ '/flags/escq/a%20b'    => 302, '/flags/to?q=a%20b',   undef ],
    [ '/flags/neq/a%20b'     => 403, undef, $F403 ],            # unescaped space

    # --- NS|nosubreq (a -U condition looks .../target up in a sub-request)
    [ '/flags/ns/check'       => 200, undef, { QUERY_STRING => 'u=ok' } ],
    [ '/flags/nosubreq/check' => 200, undef, { QUERY_STRING => 'u=ok' } ],
    [ '/flags/sub/check'      => 404, undef, $F404 ],   # [F] ran in the sub-request
    [ '/flags/ns/target'      => 403, undef, $F403 ],   # the main request is not exempt
    [ '/flags/sub/target'     => 403, undef, $F403 ],

    # --- P|proxy (to this server's echo.cgi), implies L
    [ '/flags/p/abc?x=1'      => 200, undef,
      { REQUEST_URI => '/cgi/echo.cgi?p=abc', QUERY_STRING => 'p=abc', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/proxy/a/b?q=1'  => 200, undef,
      { REQUEST_URI => '/cgi/echo.cgi/a/b?q=1', QUERY_STRING => 'q=1',
        SCRIPT_NAME => '/cgi/echo.cgi', PATH_INFO => '/a/b' } ],

    # --- PT|passthrough (Alias /flags-alias), implies L
    [ '/flags/pt/page.txt'          => 200, undef, "aliased page\n" ],
    [ '/flags/passthrough/page.txt' => 200, undef, "aliased page\n" ],
    [ '/flags/nopt/page.txt'        => 404, undef, $F404 ],
    [ '/flags/ptnol/page.txt'       => 200, undef, { QUERY_STRING => 'after=page.txt' } ],
    [ '/flags/ptcgi/x/y?z=1'        => 200, undef,
      { QUERY_STRING => 'z=1', SCRIPT_NAME => '/cgi/echo.cgi', PATH_INFO => '/x/y' } ],
    [ '/flags-alias/page.txt'       => 200, undef, { QUERY_STRING => 'after=page.txt' } ],

    # --- QSA|qsappend, QSD|qsdiscard, QSL|qslast, a trailing '?'
    [ '/flags/qsa/x?b=2'          => 200, undef, { QUERY_STRING => 'a=x&b=2', SCRIPT_NAME => '/flags/qsa/x' } ],
    [ '/flags/qsappend/x?b=2&c=3' => 200, undef, { QUERY_STRING => 'a=x&b=2&c=3', SCRIPT_NAME => '/flags/qsappend/x' } ],
    [ '/flags/qsa/x'              => 200, undef, { QUERY_STRING => 'a=x' } ],
    [ '/flags/noqsa/x?b=2'        => 200, undef, { QUERY_STRING => 'a=x', SCRIPT_NAME => '/flags/noqsa/x' } ],
    [ '/flags/keepqs/x?b=2'       => 200, undef,
      { QUERY_STRING => 'b=2', SCRIPT_NAME => '/flags/keepqs', PATH_INFO => '/x' } ],
    [ '/flags/qsaempty/x?b=2'     => 200, undef,
      { QUERY_STRING => 'b=2', SCRIPT_NAME => '/flags/qsaempty', PATH_INFO => '/x' } ],
    [ '/flags/qsd/x?b=2'          => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '/flags/qsd', PATH_INFO => '/x' } ],
    [ '/flags/qsdiscard/x?b=2'    => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '/flags/qsdiscard', PATH_INFO => '/x' } ],
    [ '/flags/qsdqsa/x?b=2'       => 200, undef, { QUERY_STRING => 'a=x', SCRIPT_NAME => '/flags/qsdqsa/x' } ],
    [ '/flags/qsdr/x?b=2'         => 302, '/flags/to/x', undef ],
    [ '/flags/erase/x?b=2'        => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '/flags/erase', PATH_INFO => '/x' } ],
    [ '/flags/qsl/x'              => 302, '/flags/to%3fa?b=x', undef ],
    [ '/flags/qslast/x?z=1'       => 302, '/flags/to%3fa?b=x', undef ],
    [ '/flags/noqsl/x'            => 302, '/flags/to?a%3fb=x', undef ],
    [ '/flags/qslend/x'           => 302, '/flags/to%3fx',     undef ],
    [ '/flags/qslfile/abc'        => 200, undef, "question file\n" ],   # file "q?.txt"

    # --- R|redirect
    [ '/flags/r/x?q=1'      => 302, '/flags/to/x?q=1', qr{<a href="http://[^"]+/flags/to/x\?q=1">here</a>} ],
    [ '/flags/redirect/x'   => 302, '/flags/to/x', undef ],
    [ '/flags/r300/x'       => 300, '/flags/to/x', qr{<title>300 Multiple Choices</title>} ],
    [ '/flags/r301/x'       => 301, '/flags/to/x', undef ],
    [ '/flags/r302/x'       => 302, '/flags/to/x', undef ],
    [ '/flags/r303/x'       => 303, '/flags/to/x', undef ],
    [ '/flags/r307/x'       => 307, '/flags/to/x', undef ],
    [ '/flags/r308/x'       => 308, '/flags/to/x', undef ],
    [ '/flags/rperm/x'      => 301, '/flags/to/x', undef ],
    [ '/flags/rtemp/x'      => 302, '/flags/to/x', undef ],
    [ '/flags/rsee/x'       => 303, '/flags/to/x', undef ],
    [ '/flags/lower/x'      => 301, '/flags/to/x', undef ],   # [r=301,l]
    # non-3xx: the substitution is dropped
    [ '/flags/r403/x'       => 403, undef, $F403 ],
    [ '/flags/r404/x'       => 404, undef, $F404 ],
    [ '/flags/r410/x'       => 410, undef, $F410 ],
    [ '/flags/r500/x'       => 500, undef, $F500 ],
    # without L the next rule sees http://host:port/...
    [ '/flags/rnol/x'       => 302, '/flags/seen/x', undef ],
    [ '/flags/rabs/x?y=1'   => 301, 'http://www.example.com/to/x?y=1', undef ],
    [ '/flags/implied/x'    => 302, 'http://www.example.com/to/x', undef ],
    [ '/flags/samehost/file.txt' => 200, undef, "flags file\n" ],

    # --- S|skip
    [ '/flags/s/x'         => 200, undef, { QUERY_STRING => 'rule=3' } ],
    [ '/flags/skip/x'      => 200, undef, { QUERY_STRING => 'rule=2' } ],
    [ '/flags/sc/x?skip'   => 200, undef, { QUERY_STRING => 'rule=2', SCRIPT_NAME => '/flags/sc/x' } ],
    [ '/flags/sc/x?other'  => 200, undef, { QUERY_STRING => 'rule=1', SCRIPT_NAME => '/flags/sc/x' } ],

    # --- T|type
    [ '/flags/t/file.txt'     => 200, undef, "flags file\n", {}, { 'Content-Type' => 'text/x-rw-test' } ],
    [ '/flags/type/file.txt'  => 200, undef, "flags file\n", {}, { 'Content-Type' => 'application/x-rw' } ],
    [ '/flags/tdash/file.txt' => 200, undef, "flags file\n", {}, { 'Content-Type' => 'text/x-rw-dash' } ],
    [ '/flags/not/file.txt'   => 200, undef, "flags file\n", {}, { 'Content-Type' => 'text/plain' } ],

    # --- UnsafeAllow3F
    [ '/flags/3f/a%3Fb'       => 200, undef, { QUERY_STRING => 'v=a?b', SCRIPT_NAME => '/flags/3f/a?b' } ],
    [ '/flags/3fok/a%3Fb'     => 200, undef, { QUERY_STRING => 'v=a?b', SCRIPT_NAME => '/flags/3fok/a?b' } ],
    [ '/flags/3f/ab?c=d'      => 200, undef, { QUERY_STRING => 'v=ab', SCRIPT_NAME => '/flags/3f/ab' } ],
    [ '/flags/3fpath/a%3Fb'   => 403, undef, $F403 ],
    [ '/flags/3fpathok/a%3Fb' => 200, undef,
      { QUERY_STRING => 'b', SCRIPT_NAME => '/flags/3fpathok/a?b', PATH_INFO => '/a' } ],

    # --- UnsafePrefixStat: a back-reference naming a file-system path
    # outside the document root (t/TEST.PL)
    [ "/flags/ups$troot/TEST.PL"   => 404, undef, $F404 ],
    [ "/flags/upsok$troot/TEST.PL" => 200, undef, qr{^#!perl\n# Generates t/TEST } ],
    # ... one inside the document root, and a plain URL-path
    [ "/flags/ups$docroot/flags/files/ups.txt"   => 200, undef, "ups file\n" ],
    [ "/flags/upsok$docroot/flags/files/ups.txt" => 200, undef, "ups file\n" ],
    [ '/flags/ups/flags/files/ups.txt'           => 200, undef, "ups file\n" ],

    # --- UNC: leading // kept ([PT]: SCRIPT_NAME shows the URI)
    [ '/flags/uncpt?//cgi/echo.cgi/x'   => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '//cgi/echo.cgi', PATH_INFO => '/x' } ],
    [ '/flags/nouncpt?//cgi/echo.cgi/x' => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '/cgi/echo.cgi', PATH_INFO => '/x' } ],
    [ '/flags/unc?//srv/share'          => 302, '//srv/share', undef ],
    [ '/flags/nounc?//srv/share'        => 302, '//srv/share', undef ],
    [ '/flags/unc?/a'                   => 302, '/a', undef ],

    # --- more server-context combinations
    [ '/flags/co/true'     => 200, undef, "flags file\n", {},       # true: secure, HttpOnly
      { 'Set-Cookie' => 'rwm=1; path=/; domain=.example.com; secure; HttpOnly; SameSite=Lax' } ],
    [ '/flags/co/one'      => 200, undef, "flags file\n", {},       # 1: secure, HttpOnly
      { 'Set-Cookie' => 'rwn=1; path=/; domain=.example.com; secure; HttpOnly; SameSite=None' } ],
    [ '/flags/co/ss0'      => 200, undef, "flags file\n", {},       # 0: none of them
      { 'Set-Cookie' => 'rwo=1; path=/; domain=.example.com' } ],
    [ '/flags/co/pathonly' => 200, undef, "flags file\n", {},       # empty lifetime
      { 'Set-Cookie' => 'rwp=1; path=/; domain=.example.com' } ],
    [ '/flags/e/emptycolon'  => 200, undef, { RW_ec => '', RW_pre => 'preset' } ],
    [ '/flags/e/dollar0/xy'  => 200, undef, { RW_d0 => '/flags/e/dollar0/xy', RW_pre => 'preset' } ],
    [ '/flags/qsaq/x?b=2'    => 200, undef,        # "...?" with QSA keeps the query
      { QUERY_STRING => 'b=2', SCRIPT_NAME => '/flags/qsaq', PATH_INFO => '/x' } ],
    [ '/flags/rb/a%20b%26c'  => 302, '/flags/to?q=a+b%2526c', undef ],   # [B,R]: escaped twice
    [ '/flags/rpath/a%20b'   => 302, '/flags/to/a%20b', undef ],
    [ '/flags/rpath/a%25b'   => 302, '/flags/to/a%25b', undef ],
    [ '/flags/rpath/a%23b'   => 302, '/flags/to/a%23b', undef ],
    [ '/flags/rpath/a%3Fb'   => 403, undef, $F403 ],
    [ '/flags/rpathne/a%20b' => 302, '/flags/to/a b', undef ],
    [ '/flags/rqsa/x?b=2'    => 302, '/flags/to?a=x&b=2', undef ],

    # --- the flags in directory context (<Directory .../flags/dir>,
    # RewriteBase /flags/dir/): results go through an internal redirect
    [ '/flags/dir/f'          => 403, undef, $F403 ],
    [ '/flags/dir/fsub'       => 403, undef, $F403 ],
    [ '/flags/dir/g'          => 410, undef, $F410 ],
    [ '/flags/dir/r'          => 302, '/flags/dir/target', undef ],
    [ '/flags/dir/r301'       => 301, '/flags/dir/target', undef ],
    [ '/flags/dir/r404'       => 404, undef, $F404 ],
    [ '/flags/dir/rqsa?b=2'   => 302, '/flags/dir/target?a=1&b=2', undef ],
    [ '/flags/dir/rqsd?b=2'   => 302, '/flags/dir/target', undef ],
    [ '/flags/dir/rabs?b=2'   => 302, 'http://www.example.com/x?b=2', undef ],
    [ '/flags/dir/rne/x'      => 302, '/flags/dir/t#x', undef ],
    [ '/flags/dir/resc/x'     => 302, '/flags/dir/t%23x', undef ],
    [ '/flags/dir/rb/a%20b%26c' => 302, '/flags/dir/t?q=a+b%2526c', undef ],
    [ '/flags/dir/qsl/x'      => 302, '/flags/to%3fa?b=x', undef ],
    [ '/flags/dir/co'         => 200, undef,
      { QUERY_STRING => 'round=2', SCRIPT_NAME => '/cgi/echo.cgi' }, {},
      { 'Set-Cookie' => 'rwdir=v; path=/flags/dir/; domain=.example.com' } ],
    [ '/flags/dir/typed.txt'  => 200, undef, "dir typed\n", {}, { 'Content-Type' => 'text/x-dir' } ],
    [ '/flags/dir/tsub'       => 200, undef, "dir other\n", {}, { 'Content-Type' => 'text/plain' } ],
    [ '/flags/dir/hdash.cgi'  => 200, undef, "script ran\n" ],
    [ '/flags/dir/hsub'       => 404, undef, $F404 ],   # the handler is forced on the redirect: file name
    [ '/flags/dir/script.cgi' => 200, undef, qr{^#!/usr/bin/perl\n} ],
    [ '/flags/dir/e/zz'       => 200, undef,
      { SCRIPT_NAME => '/cgi/echo.cgi', REDIRECT_RW_d => 'zz', REDIRECT_RW_pre => 'preset' } ],
    [ '/flags/dir/edash/zz'   => 200, undef,
      { QUERY_STRING => 'x=zz', SCRIPT_NAME => '/cgi/echo.cgi', REDIRECT_RW_dd => '1', REDIRECT_RW_pre => 'preset' } ],
    [ '/flags/dir/eunset/zz'  => 200, undef, { QUERY_STRING => 'x=zz', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/p/abc'      => 200, undef,
      { REQUEST_URI => '/cgi/echo.cgi?dp=abc', QUERY_STRING => 'dp=abc', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/pt/page.txt'   => 200, undef,
      { QUERY_STRING => 'after=page.txt', SCRIPT_NAME => '/flags-alias/page.txt' } ],
    [ '/flags/dir/nopt/page.txt' => 200, undef,
      { QUERY_STRING => 'after=page.txt', SCRIPT_NAME => '/flags-alias/page.txt' } ],
    [ '/flags/dir/n/AAxA'     => 200, undef, { QUERY_STRING => 'n=BBxB', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/nlim/A'     => 200, undef, { QUERY_STRING => 'n=B', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/nlim/AA'    => 500, undef, $F500 ],
    [ '/flags/dir/s/x'        => 200, undef, { QUERY_STRING => 'rule=2', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/c/ab'       => 200, undef, { QUERY_STRING => 'c=ab/ab', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/c/b'        => 200, undef, { QUERY_STRING => 'nomatch=b', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/c2/ab'      => 404, undef, $F404 ],
    [ '/flags/dir/nc/AbC'     => 200, undef, { QUERY_STRING => 'nc=AbC', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/NC/abc'     => 200, undef, { QUERY_STRING => 'nc=abc', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/b/a%20b%26c' => 200, undef, { QUERY_STRING => 'v=a+b%26c', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/bnp/a%20b'  => 200, undef, { QUERY_STRING => 'v=a%20b', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/qsa/x?b=2'  => 200, undef, { QUERY_STRING => 'a=x&b=2', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/qsd/x?b=2'  => 200, undef,
      { QUERY_STRING => '', SCRIPT_NAME => '/cgi/echo.cgi', PATH_INFO => '/x' } ],
    [ '/flags/dir/3f/a%3Fb'   => 403, undef, $F403 ],
    [ '/flags/dir/3fok/a%3Fb' => 200, undef,
      { QUERY_STRING => 'b', SCRIPT_NAME => '/cgi/echo.cgi', PATH_INFO => '/a' } ],
    [ '/flags/dir/end/page.txt'  => 200, undef, "dir page\n" ],
    [ '/flags/dir/last/page.txt' => 200, undef, { QUERY_STRING => 'round=2', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/page.txt'   => 200, undef, { QUERY_STRING => 'round=2', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/ns/check'   => 200, undef, { QUERY_STRING => 'u=ns', SCRIPT_NAME => '/cgi/echo.cgi' } ],
    [ '/flags/dir/sub/check'  => 404, undef, $F404 ],
    [ '/flags/dir/ns/target'  => 403, undef, $F403 ],
);

my $n = 0;
$n += 3 + keys %{ $_->[5] || {} } for @cases;
plan tests => $n, need need_module('rewrite'), need_cgi, need_module('proxy_http');

my $hostport = Apache::TestRequest::hostport();

use URI::Escape qw(uri_unescape);

sub echo_body {
    my ($url, $e) = @_;
    my ($path) = $url =~ /^([^?]*)/;
    my %v = (
        REQUEST_URI  => $url,
        QUERY_STRING => '',
        SCRIPT_NAME  => uri_unescape($path),
        PATH_INFO    => '(unset)',
        %$e,
    );
    my $s = join '', map { "$_=$v{$_}\n" } qw(REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO);
    $s .= "$_=$v{$_}\n" for sort grep { /^(?:REDIRECT_)*RW_/ } keys %v;
    return $s;
}

for my $c (@cases) {
    my ($url, $status, $loc, $body, $reqh, $resh) = @$c;
    my $res = GET $url, %{ $reqh || {} }, redirect_ok => 0;
    my $h = join ' ', map { "$_: $reqh->{$_}" } sort keys %{ $reqh || {} };
    my $name = "GET $url" . ($h ? " ($h)" : '');
    ok t_cmp($res->code, $status, "$name: status");
    my $want_loc = defined $loc && $loc =~ m{^/} ? "http://$hostport$loc" : $loc;
    ok t_cmp(scalar $res->header('Location'), $want_loc, "$name: Location");
    if (ref $body eq 'HASH') {
        ok t_cmp($res->content, echo_body($url, $body), "$name: echo.cgi output");
    }
    elsif (defined $body) {
        ok t_cmp($res->content, $body, "$name: body");
    }
    elsif (defined $want_loc) {
        (my $href = $want_loc) =~ s/&/&amp;/g;
        ok t_cmp($res->content, qr{<a href="\Q$href\E">here</a>}, "$name: body links to the Location");
    }
    else {
        ok 1;
    }
    for my $k (sort keys %{ $resh || {} }) {
        my $want = $resh->{$k};
        my @got = $res->header($k);
        my $got = @got ? join("\n", @got) : undef;
        if (ref $want eq 'CODE') {
            t_debug("$name: $k: " . (defined $got ? $got : '(none)'));
            ok $want->($got);
        }
        else {
            ok t_cmp($got, $want, "$name: $k");
        }
    }
}
