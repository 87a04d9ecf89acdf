# RewriteOptions: Inherit and InheritBefore in virtual hosts (main
# server rules, conditions and maps) and in directories (<Directory>
# sections and .htaccess files), InheritDown, InheritDownBefore,
# IgnoreInherit, MergeBase, AllowNoSlash and AllowAnyURI, with the exact
# answers of the stock module.
# Config: the "options" part of the coverage section of
# t/conf/extra.conf.in (main server rules under /options/, the
# <VirtualHost rw_opt_*> and <Directory .../options/*> sections);
# fixtures and .htaccess files under t/htdocs/options/.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

my $docroot = Apache::Test::vars('documentroot');

# what each rule answers: echo.cgi with this QUERY_STRING, or 404
#   [ vhost, request, { request headers } => status, QUERY_STRING, Vary ]
my @vhosts;
{
    my %v = (
        # main server rules:        order / mainonly / map  / mstep / vstep / cond
        # local vhost rules:        order / vhostonly / map / mstep2 / vstep
        rw_opt_inherit => {   # vhost rules first, then the main server's
            '/options/order'      => 'from=vhost',
            '/options/mainonly'   => 'from=main',
            '/options/vhostonly'  => 'from=vhost',
            '/options/vstep'      => 'from=main-vstep2',   # vhost: vstep -> vstep2, main: vstep2
            '/options/mstep'      => 404,                  # main: mstep -> mstep2, too late
            '/options/map/abc'    => 'm=ABC',              # the main server's map
            '/options/mainmap/abc'=> 'm=ABC',
            '/options/cond'       => 404,
        },
        rw_opt_before => {    # the main server's rules first
            '/options/order'      => 'from=main',
            '/options/mainonly'   => 'from=main',
            '/options/vhostonly'  => 'from=vhost',
            '/options/vstep'      => 404,
            '/options/mstep'      => 'from=vhost-mstep2',
            '/options/map/abc'    => 'm=ABC',
            '/options/mainmap/abc'=> 'm=ABC',
            '/options/cond'       => 404,
        },
        rw_opt_none => {      # no inheritance (nor the map)
            '/options/order'      => 'from=vhost',
            '/options/mainonly'   => 404,
            '/options/vhostonly'  => 'from=vhost',
            '/options/vstep'      => 404,
            '/options/mstep'      => 404,
            '/options/map/abc'    => 'm=nomap',
            '/options/mainmap/abc'=> 404,
            '/options/cond'       => 404,
        },
        rw_opt_inhonly => {   # Inherit, no rules of its own
            '/options/order'      => 'from=main',
            '/options/mainonly'   => 'from=main',
            '/options/vhostonly'  => 404,
            '/options/vstep'      => 404,
            '/options/mstep'      => 404,
            '/options/map/abc'    => 404,
            '/options/mainmap/abc'=> 'm=ABC',
            '/options/cond'       => 404,
        },
        rw_opt_inhoff => {    # Inherit, but RewriteEngine off
            map { $_ => 404 } qw(/options/order /options/mainonly /options/vhostonly
                                 /options/vstep /options/mstep /options/map/abc
                                 /options/mainmap/abc /options/cond)
        },
        default => {          # the main server itself
            '/options/order'      => 'from=main',
            '/options/mainonly'   => 'from=main',
            '/options/vhostonly'  => 404,
            '/options/vstep'      => 404,
            '/options/mstep'      => 404,
            '/options/map/abc'    => 404,
            '/options/mainmap/abc'=> 'm=ABC',
            '/options/cond'       => 404,
        },
    );
    # the main server's condition (and its Vary header) is inherited too
    my %cond = (rw_opt_inherit => 1, rw_opt_before => 1, rw_opt_inhonly => 1, default => 1);
    for my $vh (qw(rw_opt_inherit rw_opt_before rw_opt_none rw_opt_inhonly rw_opt_inhoff default)) {
        for my $url (sort keys %{ $v{$vh} }) {
            my $w = $v{$vh}{$url};
            push @vhosts, [ $vh, $url, {}, ($w =~ /^\d+$/ ? ($w, undef) : (200, $w)), undef ];
        }
        push @vhosts, [ $vh, '/options/cond', { 'X-Rw-Opt' => 'main' },
                        $cond{$vh} ? (200, 'from=main-cond', 'X-Rw-Opt') : (404, undef, undef) ];
    }
}

# [ request => status, QUERY_STRING (or undef), Location ]
my @dirs;
{
    # Inherit / InheritBefore / none below <Directory .../options/inh>,
    # Inherit below an .htaccess parent (hinh), InheritDown (down),
    # InheritDownBefore (downb), IgnoreInherit (down/ign), a plain
    # sub-directory without .htaccess (inh/sub, down/sub)
    my %d = (
        'inh'         => [ 'from=parent', 'par=x', 404,     'deep=y-x',     404 ],
        'inh/child'   => [ 'from=child',  'par=x', 'chi=x', 'deep=y-x',     'from=parent-step2' ],
        'inh/before'  => [ 'from=parent', 'par=x', 'chi=x', 'deep=y-x',     'from=parent-step2' ],
        'inh/none'    => [ 'from=child',  404,     'chi=x', 404,            404 ],
        'inh/sub'     => [ 404,           404,     404,     'deep=sub/y-x', 404 ],
        'hinh'        => [ 'from=parent', 'par=x', 404,     'deep=y-x',     404 ],
        'hinh/child'  => [ 'from=child',  'par=x', 'chi=x', 'deep=y-x',     404 ],
        'down'        => [ 'from=parent', 'par=x', 404,     'deep=y-x',     404 ],
        'down/child'  => [ 'from=child',  'par=x', 'chi=x', 'deep=y-x',     404 ],
        'down/ign'    => [ 'from=child',  404,     'chi=x', 404,            404 ],
        'down/sub'    => [ 404,           404,     404,     'deep=sub/y-x', 404 ],
        'downb'       => [ 'from=parent', 'par=x', 404,     'deep=y-x',     404 ],
        'downb/child' => [ 'from=parent', 'par=x', 'chi=x', 'deep=y-x',     404 ],
    );
    my @files = qw(order x.par x.chi y/x.deep step);
    for my $dir (sort keys %d) {
        for my $i (0 .. $#files) {
            my $w = $d{$dir}[$i];
            push @dirs, [ "/options/$dir/$files[$i]", $w =~ /^\d+$/ ? ($w, undef) : (200, $w), undef ];
        }
    }
    push @dirs,
        # MergeBase: the parent's RewriteBase is used by the child's rules
        [ '/options/mb/child/go/x'     => 302, undef, '/options/mbase/x.txt' ],
        [ '/options/nomb/child/go/x'   => 302, undef, "$docroot/options/nomb/child/x.txt" ],
        # AllowNoSlash (DirectorySlash Off in both)
        [ '/options/ans/sub'           => 200, 'ans=sub', undef ],
        [ '/options/ans'               => 200, "ans=$docroot/options/ans", undef ],
        [ '/options/ans/'              => 200, 'ans=', undef ],
        [ '/options/ans/sub/'          => 200, 'ans=sub/', undef ],
        [ '/options/ans/sub/file.txt'  => 200, 'ans=sub/file.txt', undef ],
        [ '/options/ans/file.txt'      => 200, 'ans=file.txt', undef ],
        [ '/options/noans'             => 404, undef, undef ],   # its own rules skipped
        [ '/options/noans/sub'         => 200, 'ans=sub', undef ],   # a parent's rules: not skipped
        [ '/options/noans/sub/'        => 200, 'ans=sub/', undef ],
        [ '/options/noans/sub/file.txt'=> 200, 'ans=sub/file.txt', undef ];
    # IgnoreContextInfo (<Location /options-ici>; /options-noici is the
    # same directory through another Alias, without it)
    push @dirs,
        [ '/options-ici/go/x'          => 404, undef, undef ],
        [ '/options-ici/red/x'         => 404, undef, undef ],
        [ '/options-noici/go/x'        => 200, "\0ici x\n", undef ],
        [ '/options-noici/red/x'       => 302, undef, "$docroot/options/ici/x.txt" ];
}

# LegacyPrefixDocRoot: http://this-host/<path> reduced to a local path
# [ vhost, request => status, exact body ]
my $troot = Apache::Test::vars('serverroot');
my @legacy = (
    [ rw_opt_legacy   => "/lp$docroot/options/ici/x.txt" => 200, "ici x\n" ],   # not prefixed
    [ rw_opt_nolegacy => "/lp$docroot/options/ici/x.txt" => 404, undef ],       # prefixed
    [ rw_opt_legacy   => '/lp/options/ici/x.txt'         => 200, "ici x\n" ],
    [ rw_opt_nolegacy => '/lp/options/ici/x.txt'         => 200, "ici x\n" ],
    [ rw_opt_legacy   => "/lp$troot/TEST.PL"             => 404, undef ],
    [ rw_opt_nolegacy => "/lp$troot/TEST.PL"             => 404, undef ],
);

# AllowAnyURI: "OPTIONS *" (r->uri "*") and a plain request
my @anyuri = (
    [ rw_opt_anyuri   => 403 ],   # ^\*$ - [F] applies
    [ rw_opt_noanyuri => 200 ],   # the rules are not run for "*"
);

plan tests => 4 * @vhosts + 3 * @dirs + 3 * @anyuri + 2 * @legacy,
    need need_module('rewrite'), need_cgi;

sub echo_body {
    my ($url, $qs) = @_;
    return "REQUEST_URI=$url\nQUERY_STRING=$qs\nSCRIPT_NAME=$url\nPATH_INFO=(unset)\n";
}

for my $c (@vhosts) {
    my ($vh, $url, $hdrs, $status, $qs, $vary) = @$c;
    Apache::TestRequest::module($vh);
    my $res = GET $url, %$hdrs, redirect_ok => 0;
    my $name = "$vh: GET $url" . (%$hdrs ? ' (' . join(' ', map { "$_: $hdrs->{$_}" } sort keys %$hdrs) . ')' : '');
    ok t_cmp($res->code, $status, "$name: status");
    if (defined $qs) {
        ok t_cmp($res->content, echo_body($url, $qs), "$name: echo.cgi output");
    }
    else {
        ok t_cmp($res->content, qr{<title>404 Not Found</title>}, "$name: not found page");
    }
    ok t_cmp(scalar $res->header('Location'), undef, "$name: no Location");
    ok t_cmp(scalar $res->header('Vary'), $vary, "$name: Vary");
}
Apache::TestRequest::module('default');
my $hostport = Apache::TestRequest::hostport();

for my $c (@dirs) {
    my ($url, $status, $qs, $loc) = @$c;
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "GET $url: status");
    ok t_cmp(scalar $res->header('Location'), (defined $loc ? "http://$hostport$loc" : undef),
             "GET $url: Location");
    if (defined $qs && $qs =~ /^\0(.*)$/s) {   # a file's exact content
        ok t_cmp($res->content, $1, "GET $url: body");
    }
    elsif (defined $qs) {
        # directory rules: an internal redirect to echo.cgi
        my $want = "REQUEST_URI=$url\nQUERY_STRING=$qs\nSCRIPT_NAME=/cgi/echo.cgi\nPATH_INFO=(unset)\n";
        ok t_cmp($res->content, $want, "GET $url: echo.cgi output");
    }
    elsif (defined $loc) {
        ok t_cmp($res->content, qr{<a href="\Qhttp://$hostport$loc\E">here</a>}, "GET $url: redirect page");
    }
    else {
        ok t_cmp($res->content, qr{<title>$status }, "GET $url: error page");
    }
}

for my $c (@anyuri) {
    my ($vh, $status) = @$c;
    my $sock = Apache::TestRequest::vhost_socket($vh);
    ok $sock ? 1 : 0;
    my $line = '';
    if ($sock) {
        print $sock "OPTIONS * HTTP/1.0\r\n\r\n";
        $line = <$sock>;
        $line = '' unless defined $line;
        $line =~ s/\r?\n$//;
        close $sock;
    }
    ok t_cmp($line, qr{^HTTP/1\.1 $status }, "$vh: OPTIONS *: status");
    Apache::TestRequest::module($vh);
    my $res = GET '/options/x', redirect_ok => 0;
    ok t_cmp($res->content, echo_body('/options/x', 'x'), "$vh: GET /options/x: rules run");
}
Apache::TestRequest::module('default');

for my $c (@legacy) {
    my ($vh, $url, $status, $body) = @$c;
    Apache::TestRequest::module($vh);
    my $res = GET $url, redirect_ok => 0;
    ok t_cmp($res->code, $status, "$vh: GET $url: status");
    ok t_cmp($res->content, (defined $body ? $body : qr{<title>$status }), "$vh: GET $url: body");
}
Apache::TestRequest::module('default');
