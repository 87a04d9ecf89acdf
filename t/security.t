# Security regressions: what the stock mod_rewrite refuses, escapes or
# keeps literal, ours must too (same status, Location, body, and the
# same error log lines where stock logs one).
# Config: the "security" section of t/conf/extra.conf.in (vhosts rw_sec,
# rw_sec_nonpath, rw_sec_anyuri, rw_sec_prefixopt, rw_sec_type,
# rw_sec_nodotall, rw_sec_icase); fixtures under t/htdocs/security/.
# Every request is sent raw (exact bytes, HTTP/1.1, Connection: close),
# with a time limit, so that a hang fails instead of blocking the run.
#
#   SEC_DUMP=1 ... t/security.t -v   prints every response (diagnostics)
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use IO::Socket::INET ();
use Time::HiRes ();
use File::Spec::Functions qw(catfile);

my $vars     = Apache::Test::vars();
my $docroot  = $vars->{documentroot};
my $errlog   = catfile($vars->{t_logs}, 'error_log');
my $timeout  = 30;     # seconds for one request (the backtracking ones too)

my %hp;    # vhost => host:port
sub hp {
    my $vh = shift;
    return $hp{$vh} //= do {
        Apache::TestRequest::module($vh);
        my $h = Apache::TestRequest::hostport();
        Apache::TestRequest::module('default');
        $h;
    };
}
sub port { (hp(shift) =~ /:(\d+)$/)[0] }

sub dechunk {
    my $b = shift;
    my $out = '';
    while ($b =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $n = hex $1;
        last if $n == 0;
        $out .= substr($b, 0, $n, '');
        $b =~ s/^\r\n//;
    }
    return $out;
}

# raw($vhost, "METHOD TARGET", [extra header lines]) -> response hash:
# code, reason, h (lower-cased name => value), body, secs, raw
sub raw {
    my ($vh, $line, @hdrs) = @_;
    my $hp = hp($vh);
    my $req = "$line HTTP/1.1\r\nHost: $hp\r\nConnection: close\r\n"
            . join('', map { "$_\r\n" } @hdrs) . "\r\n";
    my $t0 = Time::HiRes::time();
    my $data = '';
    my $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm $timeout;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => port($vh),
                                      Proto => 'tcp', Timeout => 10)
            or die "connect: $!\n";
        print $s $req;
        shutdown $s, 1;
        while (1) {
            my $n = sysread $s, my $buf, 65536;
            die "read: $!\n" unless defined $n;
            last if $n == 0;
            $data .= $buf;
        }
        close $s;
        alarm 0;
        1;
    };
    alarm 0;
    my %r = (secs => Time::HiRes::time() - $t0, raw => $data, h => {},
             code => ($ok ? '(no status line)' : "(error: $@)"),
             reason => '', body => '');
    $r{code} =~ s/\n//g;
    return \%r unless $ok;
    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    $body //= '';
    my @l = split /\r\n/, $head;
    my $st = shift @l // '';
    if ($st =~ m{^HTTP/\d\.\d (\d{3}) ?(.*)$}) {
        @r{qw(code reason)} = ($1, $2);
    }
    for (@l) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $r{h}{$k} = exists $r{h}{$k} ? "$r{h}{$k}, $v" : $v;
    }
    $body = dechunk($body)
        if ($r{h}{'transfer-encoding'} // '') =~ /chunked/i;
    $r{body} = $body;
    if ($ENV{SEC_DUMP}) {
        my $d = "$vh $line => $r{code} ";
        $d .= "Location: $r{h}{location} " if exists $r{h}{location};
        $d .= "Vary: $r{h}{vary} " if exists $r{h}{vary};
        $d .= "CT: " . ($r{h}{'content-type'} // '-') . "\n$body";
        $d =~ s/([\x00-\x09\x0b-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
        t_debug($d);
    }
    return \%r;
}

# the error_log from an offset on
sub log_from {
    my $off = shift;
    open my $fh, '<:raw', $errlog or return '';
    seek $fh, $off, 0;
    local $/;
    my $t = <$fh> // '';
    close $fh;
    return $t;
}
sub log_size { -s $errlog || 0 }

# Apache's error pages
my %page = (
    403 => ["Forbidden", "<p>You don't have permission to access this resource.</p>\n"],
    404 => ["Not Found", "<p>The requested URL was not found on this server.</p>\n"],
);
sub errpage {
    my $code = shift;
    my ($title, $text) = @{ $page{$code} };
    return qq{<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n}
         . "<html><head>\n<title>$code $title</title>\n</head><body>\n<h1>$title</h1>\n$text</body></html>\n";
}

# echo.cgi's answer: REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO,
# then RW_* variables
sub echo {
    my ($uri, $qs, $sn, $pi, @rw) = @_;
    my $s = "REQUEST_URI=$uri\nQUERY_STRING=$qs\nSCRIPT_NAME=$sn\n"
          . 'PATH_INFO' . (defined $pi ? "=$pi" : '=(unset)') . "\n";
    while (my ($k, $v) = splice @rw, 0, 2) { $s .= "$k=$v\n" }
    return $s;
}

my $hostname = do {
    open my $fh, '<', '/etc/hostname' or die "/etc/hostname: $!";
    local $/;
    <$fh>;
};
my $sec_port = port('rw_sec');
my $dr = "$docroot/security";

# [ vhost, request, [headers], status, Location (undef: none; a leading
#   "/" is relative to the vhost), body (string: exact; qr//: match;
#   undef: the error page for 403/404, else not checked),
#   log (qr// that a line of the error_log written during the request
#   must match), { header => exact value or undef for none } ]
my @t = (
    # --- 1. request targets that are not URL-paths
    [ rw_sec_nonpath => 'OPTIONS *', [], 200, undef, '' ],
    [ rw_sec_nonpath => "GET \@127.0.0.1:$sec_port/echo.cgi", [], 400, undef, qr/Bad Request/ ],
    [ rw_sec_nonpath => "GET 127.0.0.1:$sec_port/echo.cgi",  [], 400, undef, qr/Bad Request/ ],
    [ rw_sec_nonpath => 'GET /int/y', [], 200, undef,
      echo('/int/y', 'int=y', '/int/y', undef, RW_seen => '/int/y') ],
    [ rw_sec_anyuri  => 'OPTIONS *', [], 200, undef, '' ],
    [ rw_sec_anyuri  => "GET \@127.0.0.1:$sec_port/echo.cgi", [], 400, undef, qr/Bad Request/ ],
    [ rw_sec_anyuri  => 'GET /int/y', [], 200, undef,
      echo('/int/y', 'int=y', '/int/y', undef, RW_seen => '/int/y') ],

    # --- 2. control characters and spaces in a rewritten query string
    [ rw_sec => 'GET /here/x%20HTTP/1.1%0d%0aHost:%20a', [], 403, undef, undef, qr/AH10410: Rewritten query string contains control characters or spaces/ ],
    [ rw_sec => 'GET /here/a%09b',   [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /here/a%7fb',   [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /here/a%20b',   [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /herene/x%20HTTP/1.1%0d%0aHost:%20a', [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /herene/a%09b', [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /herene/a%7fb', [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /here/%C3%A9t%C3%A9', [], 200, undef,
      echo("/elsewhere?\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", '/elsewhere', undef) ],
    [ rw_sec => 'GET /herene/%C3%A9', [], 200, undef,
      echo("/elsewhere?\xc3\xa9", "\xc3\xa9", '/elsewhere', undef) ],
    [ rw_sec => 'GET /hereb/x%20HTTP/1.1%0d%0aHost:%20a', [], 200, undef,
      echo('/elsewhere?x+HTTP%2f1%2e1%0d%0aHost%3a+a', 'x+HTTP%2f1%2e1%0d%0aHost%3a+a', '/elsewhere', undef) ],
    [ rw_sec => 'GET /herectls/x%20HTTP/1.1%0d%0aHost:%20a', [], 200, undef,
      echo('/elsewhere?x+HTTP/1.1%0d%0aHost:+a', 'x+HTTP/1.1%0d%0aHost:+a', '/elsewhere', undef) ],
    [ rw_sec => 'GET /int/x%20HTTP/1.1%0d%0aHost:%20a', [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /int/a%09b',    [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /int/a%7fb',    [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /int/%C3%A9',   [], 200, undef,
      echo('/int/%C3%A9', "\xc3\xa9", "/int/\xc3\xa9", undef) ],
    [ rw_sec => 'GET /intne/a%20b',  [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /intne/a%7fb',  [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /intne/%C3%A9', [], 200, undef,
      echo('/intne/%C3%A9', "\xc3\xa9", "/intne/\xc3\xa9", undef) ],
    [ rw_sec => 'GET /intb/a%20b%09c%7f', [], 200, undef,
      echo('/intb/a%20b%09c%7f', 'a+b%09c%7f', "/intb/a b\tc\x7f", undef) ],
    [ rw_sec => 'GET /intctls/a&b=c%20d%7f/e', [], 200, undef,
      echo('/intctls/a&b=c%20d%7f/e', 'a&b=c+d%7f/e', "/intctls/a&b=c d\x7f/e", undef) ],
    [ rw_sec => 'GET /r/x%20HTTP/1.1%0d%0aHost:%20a', [], 302,
      '/to?x%20HTTP/1.1%0d%0aHost:%20a', undef ],
    [ rw_sec => 'GET /r/a%09b%7fc',  [], 302, '/to?a%09b%7fc', undef ],
    [ rw_sec => 'GET /rne/a%20b',    [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /rne/a%09b',    [], 403, undef, undef, qr/AH10410/ ],
    [ rw_sec => 'GET /rne/plain',    [], 302, '/to?plain', undef ],
    # ... in directory context (.htaccess)
    [ rw_sec => 'GET /d/here/x%20HTTP/1.1%0d%0aHost:%20a', [], 403, undef, undef, qr/AH10411: Rewritten query string contains control characters or spaces/ ],
    [ rw_sec => 'GET /d/here/a%09b',   [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/here/a%7fb',   [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/herene/a%20b', [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/here/%C3%A9',  [], 200, undef,
      echo("/elsewhere?\xc3\xa9", "\xc3\xa9", '/elsewhere', undef) ],
    [ rw_sec => 'GET /d/hereb/x%20HTTP/1.1%0d%0aHost:%20a', [], 200, undef,
      echo('/elsewhere?x+HTTP%2f1%2e1%0d%0aHost%3a+a', 'x+HTTP%2f1%2e1%0d%0aHost%3a+a', '/elsewhere', undef) ],
    [ rw_sec => 'GET /d/int/x%20HTTP/1.1%0d%0aHost:%20a', [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/int/a%7fb',    [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/int/%C3%A9',   [], 200, undef,
      echo('/d/int/%C3%A9', "\xc3\xa9", '/echo.cgi', undef) ],
    [ rw_sec => 'GET /d/intne/a%09b',  [], 403, undef, undef, qr/AH10411/ ],
    [ rw_sec => 'GET /d/intb/a%20b%0d', [], 200, undef,
      echo('/d/intb/a%20b%0d', 'a+b%0d', '/echo.cgi', undef) ],
    [ rw_sec => 'GET /d/intctls/a&b%20c%7f', [], 200, undef,
      echo('/d/intctls/a&b%20c%7f', 'a&b+c%7f', '/echo.cgi', undef) ],
    [ rw_sec => 'GET /d/r/x%20HTTP/1.1%0d%0aHost:%20a', [], 302,
      '/to?x%20HTTP/1.1%0d%0aHost:%20a', undef ],
    [ rw_sec => 'GET /d/rne/a%20b',    [], 403, undef, undef, qr/AH10411/ ],

    # --- 3. an encoded '?' reaching a back-reference
    [ rw_sec => 'GET /html/public',         [], 200, undef, "public page\n" ],
    [ rw_sec => 'GET /html/secret.txt%3F',  [], 403, undef, undef, qr/AH10508: Unsafe URL with %3f URL rewritten without UnsafeAllow3F/ ],
    [ rw_sec => 'GET /html/secret.txt%3f',  [], 403, undef, undef, qr/AH10508/ ],
    [ rw_sec => 'GET /htmlok/secret.txt%3F', [], 200, undef, "secret text\n" ],
    [ rw_sec => 'GET /qfirst/a%3Fb',        [], 200, undef,
      echo('/qfirst/a%3Fb', 'v=a?b', '/qfirst/a?b', undef) ],
    [ rw_sec => 'GET /qr/secret.txt%3F',    [], 403, undef, undef, qr/AH10508/ ],
    [ rw_sec => 'GET /qp/secret.txt%3F',    [], 403, undef, undef, qr/AH10508/ ],
    [ rw_sec => 'GET /d/html/secret.txt%3F', [], 403, undef, undef, qr/AH10508/ ],
    [ rw_sec => 'GET /d/html/public',       [], 200, undef, "public page\n" ],
    [ rw_sec => 'GET /d/htmlok/secret.txt%3F', [], 200, undef, "secret text\n" ],

    # --- 4. first path segment from a back-reference
    [ rw_sec => 'GET /prefix/etc/hostname',  [], 404, undef, undef ],
    [ rw_sec => 'GET /prefix//etc/hostname', [], 404, undef, undef ],
    [ rw_sec => 'GET /prefix2/etc/hostname', [], 404, undef, undef ],
    [ rw_sec => 'GET /prefix/file.txt',      [], 200, undef, "security file\n" ],
    [ rw_sec => 'GET /uprefix/etc/hostname', [], 200, undef, $hostname ],
    [ rw_sec => 'GET /lit/hostname',         [], 200, undef, $hostname ],
    [ rw_sec => 'GET /d/p/etc/hostname',     [], 404, undef, undef ],
    [ rw_sec => 'GET /d/up/etc/hostname',    [], 404, undef, undef ],
    [ rw_sec => 'GET /d/p/file.txt',         [], 200, undef, "security file\n" ],
    [ rw_sec_prefixopt => 'GET /prefix/etc/hostname', [], 200, undef, $hostname ],
    [ rw_sec_prefixopt => 'GET /prefix/file.txt',     [], 200, undef, "security file\n" ],

    # --- 5. a back-reference producing proxy:... is never proxied
    [ rw_sec => "GET /sub/proxy:http://127.0.0.1:$sec_port/file.txt",   [], 404, undef, undef ],
    [ rw_sec => "GET /sub/proxy%3ahttp://127.0.0.1:$sec_port/file.txt", [], 404, undef, undef ],
    [ rw_sec => "GET /sub2/proxy:http://127.0.0.1:$sec_port/file.txt",  [], 404, undef, undef ],
    [ rw_sec => "GET /d/sub/proxy:http://127.0.0.1:$sec_port/file.txt", [], 404, undef, undef ],

    # --- 6. leading // from a back-reference is merged
    [ rw_sec => 'GET /m//file.txt',         [], 200, undef, "security file\n" ],
    [ rw_sec => 'GET /rm//evil.example/',   [], 302, '/evil.example/', undef ],
    [ rw_sec => 'GET /rm///evil.example/',  [], 302, '/evil.example/', undef ],
    [ rw_sec => 'GET /runc//server/share',  [], 302, '/server/share', undef ],
    [ rw_sec => 'GET /rlit/evil.example/',  [], 302, '//evil.example/', undef ],

    # --- 7. [T=...] and handlers: as stock (the type is trusted)
    [ rw_sec_type => 'GET /st',                 [], 200, undef, qr{<h1>Apache Server Status for } ],
    [ rw_sec_type => 'GET /tref/server-status', [], 200, undef, qr{<h1>Apache Server Status for } ],
    [ rw_sec_type => 'GET /tref/text/x-ok',     [], 200, undef, "type file\n" ],
    [ rw_sec_type => 'GET /tcgi/x',             [], 200, undef, "script executed\n" ],
    [ rw_sec_type => 'GET /tasis/x',            [], 299, undef, "asis body\n" ],
    [ rw_sec_type => 'GET /script.txt',         [], 200, undef,
      qq{#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "script executed"\n} ],

    # --- 8. RewriteCond expr: restricted in .htaccess
    [ rw_sec => 'GET /srvfile', [], 200, undef, echo('/srvfile', 'file=yes', '/srvfile', undef) ],
    [ rw_sec => 'GET /srvsize', [], 200, undef, echo('/srvsize', 'size=yes', '/srvsize', undef) ],
    [ rw_sec => 'GET /expr1/x', [], 500, undef, qr/Internal Server Error/,
      qr{RewriteCond: cannot compile expression in htaccess context "file\('/etc/hostname'\) =~ /\./" file not available in restricted context} ],
    [ rw_sec => 'GET /expr2/x', [], 500, undef, qr/Internal Server Error/,
      qr{RewriteCond: cannot compile expression in htaccess context "filesize\('/etc/hostname'\) -gt 0" filesize not available in restricted context} ],
    [ rw_sec => 'GET /expr3/x?ABC', [], 200, undef, echo('/expr3/x?ABC', 'tolower=yes', '/echo.cgi', undef) ],

    # --- 9. look-aheads
    [ rw_sec => 'GET /lau/file.txt', [], 200, undef,
      echo('/lau/file.txt', '', '/lau/file.txt', undef, RW_lau => "$dr/echo.cgi") ],
    [ rw_sec => 'GET /lau/file.txt', [], 200, undef,
      echo('/lau/file.txt', '', '/lau/file.txt', undef, RW_lau => "$dr/echo.cgi") ],
    [ rw_sec => 'GET /laf/file.txt', [], 200, undef,
      echo('/laf/file.txt', '', '/laf/file.txt', undef, RW_laf => '/laf') ],
    [ rw_sec => 'GET /laf/file.txt', [], 200, undef,
      echo('/laf/file.txt', '', '/laf/file.txt', undef, RW_laf => '/laf') ],
    # the sub-request of a look-ahead runs the rules again (this one
    # without its look-ahead): /la.txt is not rewritten there
    [ rw_sec => 'GET /la.txt', [], 200, undef,
      echo('/la.txt', 'exists=la.txt', '/la.txt', undef) ],
    [ rw_sec => 'GET /exists/file.txt', [], 404, undef, undef ],
    [ rw_sec => 'GET /vary/', ['X-Plain: p', 'X-La: la'], 200, undef,
      echo('/vary/', '', '/vary/', undef, RW_plain => 'la'), undef,
      { vary => 'X-Plain,X-La' } ],
    [ rw_sec => 'GET /vary/', [], 200, undef,
      echo('/vary/', '', '/vary/', undef, RW_plain => ''), undef, { vary => undef } ],
    [ rw_sec => 'GET /lau/file.txt', ['X-La: x'], 200, undef,
      echo('/lau/file.txt', '', '/lau/file.txt', undef, RW_lau => "$dr/echo.cgi"), undef,
      { vary => undef } ],

    # --- 10. RegexDefaultOptions
    [ rw_sec => 'GET /x/%0D%0Ahttp://evil.example/', [], 404, undef, undef ],
    [ rw_sec => 'GET /x/%0Ahttp://evil.example/',    [], 404, undef, undef ],
    [ rw_sec => 'GET /y/%0D%0Ahttp://evil.example/', [], 302, '/y/%0d%0ahttp:/evil.example', undef ],
    [ rw_sec => 'GET /line/a%0Ab', [], 200, undef,
      echo('/line/a%0Ab', '', "/line/a\nb", undef, RW_m => "a\nb") ],
    [ rw_sec_nodotall => 'GET /y/%0D%0Ahttp://evil.example/', [], 302, '/y/http:/evil.example', undef ],
    [ rw_sec_nodotall => 'GET /line/a%0Ab', [], 404, undef, undef ],
    [ rw_sec_nodotall => 'GET /case/ABC',   [], 404, undef, undef ],
    [ rw_sec_nodotall => 'GET /case/abc',   [], 200, undef, echo('/case/abc', 'lower', '/case/abc', undef) ],
    [ rw_sec_icase => 'GET /case/ABC',   [], 200, undef, echo('/case/ABC', 'lower', '/case/ABC', undef) ],
    [ rw_sec_icase => 'GET /qcase/?abc', [], 200, undef, echo('/qcase/?abc', 'qupper', '/qcase/', undef) ],
    [ rw_sec_icase => 'GET /line/a%0Ab', [], 200, undef,
      echo('/line/a%0Ab', '', "/line/a\nb", undef, RW_m => "a\nb") ],

    # --- 11. request data is never expanded again
    [ rw_sec => 'GET /e/%240', [], 200, undef, echo('/e/%240', 'v=$0', '/e/$0', undef) ],
    [ rw_sec => 'GET /e/$1$2', [], 200, undef, echo('/e/$1$2', 'v=$1$2', '/e/$1$2', undef) ],
    [ rw_sec => 'GET /e/%251', [], 200, undef, echo('/e/%251', 'v=%1', '/e/%1', undef) ],
    [ rw_sec => 'GET /e/%25%7BHTTP_HOST%7D', [], 200, undef,
      echo('/e/%25%7BHTTP_HOST%7D', 'v=%{HTTP_HOST}', '/e/%{HTTP_HOST}', undef) ],
    [ rw_sec => 'GET /e/%24%7Blc:ABC%7D', [], 200, undef,
      echo('/e/%24%7Blc:ABC%7D', 'v=${lc:ABC}', '/e/${lc:ABC}', undef) ],
    [ rw_sec => 'GET /env/$0-%251-%25%7BSERVER_NAME%7D-$%7Blc:X%7D', [], 200, undef,
      echo('/env/$0-%251-%25%7BSERVER_NAME%7D-$%7Blc:X%7D', '', '/env/$0-%1-%{SERVER_NAME}-${lc:X}', undef,
           RW_v => '$0-%1-%{SERVER_NAME}-${lc:X}') ],
    [ rw_sec => 'GET /c/?v=$0%{HTTP_HOST}${lc:X}%1', [], 200, undef,
      echo('/c/?v=$0%{HTTP_HOST}${lc:X}%1', 'v=$0%{HTTP_HOST}${lc:X}%1', '/c/', undef,
           RW_c => '$0%{HTTP_HOST}${lc:X}%1') ],
    [ rw_sec => 'GET /mp/${lc:ABC}%25%7BHTTP_HOST%7D$0', [], 200, undef,
      echo('/mp/${lc:ABC}%25%7BHTTP_HOST%7D$0', '', '/mp/${lc:ABC}%{HTTP_HOST}$0', undef,
           RW_mp => '${lc:abc}%{http_host}$0') ],
    [ rw_sec => 'GET /hd/', ['X-Data: $0 %{HTTP_HOST} ${lc:ABC} %1 $1'], 200, undef,
      echo('/hd/', '', '/hd/', undef, RW_h => '$0 %{HTTP_HOST} ${lc:ABC} %1 $1') ],
    [ rw_sec => 'GET /er/$0/%25%7BHTTP_HOST%7D', [], 302, '/to/$0/%25%7bHTTP_HOST%7d', undef ],

    # --- 12. captures past 9, backtracking
    [ rw_sec => 'GET /cap/abcdefghijk', [], 200, undef,
      echo('/cap/abcdefghijk', 'v=a-i-a0-a1', '/cap/abcdefghijk', undef) ],
    [ rw_sec => 'GET /bt/' . ('a' x 30) . 'b', [], 200, undef,
      echo('/bt/' . ('a' x 30) . 'b', 'bt=fallthrough', '/bt/' . ('a' x 30) . 'b', undef) ],
    [ rw_sec => 'GET /bt/' . ('a' x 30), [], 200, undef,
      echo('/bt/' . ('a' x 30), 'bt=matched', '/bt/' . ('a' x 30), undef) ],
    [ rw_sec => 'GET /btc/?' . ('a' x 44) . 'b', [], 404, undef, undef ],
);

# Issue 13: the same table format, vhost rw_sec13 (t/htdocs/security13/)
my $s1500 = 's' x 1500;
my @sec13 = (
    # --- 3. a JIT stack overflow is not "no match": the interpreter answers
    [ rw_sec13 => "GET /5g/?q=%3C${s1500}cript%3E", [], 403, undef, undef ],
    [ rw_sec13 => 'GET /5g/?q=%3Cscript%3E', [], 403, undef, undef ],
    [ rw_sec13 => 'GET /5g/?q=harmless', [], 200, undef, echo('/5g/?q=harmless', 'passed', '/5g/', undef) ],
    [ rw_sec13 => "GET /d/?q=%3C${s1500}cript%3E", [], 403, undef, undef ],
    [ rw_sec13 => 'GET /d/?q=%3Cscript%3E', [], 403, undef, undef ],
    [ rw_sec13 => 'GET /d/?q=harmless', [], 200, undef, "sec13 dir\n" ],
    [ rw_sec13 => 'GET /ne/' . ('a' x 3000), [], 200, undef, echo('/ne/' . ('a' x 3000), 'clean', '/ne/' . ('a' x 3000), undef) ],
    [ rw_sec13 => 'GET /ne/' . ('a' x 3000) . 'evil', [], 200, undef, echo('/ne/' . ('a' x 3000) . 'evil', 'evil', '/ne/' . ('a' x 3000) . 'evil', undef) ],
    [ rw_sec13 => 'GET /btc/?' . ('a' x 3000), [], 200, undef, echo('/btc/?' . ('a' x 3000), 'btc=matched', '/btc/', undef) ],
    #     the match limit (catastrophic backtracking) reads as no match, as
    #     in stock, with a warning
    [ rw_sec13 => 'GET /btc/?' . ('a' x 44) . 'b', [], 200, undef, echo('/btc/?' . ('a' x 44) . 'b', 'btc=fallthrough', '/btc/', undef),
      qr/RW00001: mod_rewrite: regex match of '\^\(a\|aa\)\+\$' against 45 bytes failed \(PCRE2 error -47: match limit exceeded\): taken as no match/ ],
    # --- 4. a result longer than 2 x LimitRequestLine ends the request
    [ rw_sec13 => 'GET /grow/ab', [], 500, undef, qr/Internal Server Error/,
      qr/\[rewrite:error\] .* RewriteRule '\^\/grow\/\(\.\*\)\$' and URI '\/grow\/ab' exceeded maximum length \(16380\)$/ ],
    [ rw_sec13 => 'GET /g/x', [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^\/g\/\(\.\*\)\$' and URI '\/g\/x' exceeded maximum length \(16380\)$/ ],
    [ rw_sec13 => 'GET /big/' . ('a' x 2100), [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^\/big\/\(\.\*\)\$' and URI '\/big\/a+' exceeded maximum length \(16380\)$/ ],
    #     the query string does not count
    [ rw_sec13 => 'GET /bigq/' . ('a' x 2100), [], 200, undef,
      echo('/bigq/' . ('a' x 2100), 'a' x 16800, '/bigq/' . ('a' x 2100), undef) ],
    #     'proxy:http://127.0.0.1:1/' + 4 x 4089 = 16381 (port 1: 503 when proxied)
    [ rw_sec13 => 'GET /pe/' . ('a' x 4089), [], 500, undef, qr/Internal Server Error/,
      qr/exceeded maximum length \(16380\)$/ ],
    [ rw_sec13 => 'GET /pe/' . ('a' x 4088), [], 503, undef, qr/Service Unavailable/ ],
    [ rw_sec13 => 'GET /d/grow/ab', [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^grow\/\(\.\*\)\$' and URI '\/d\/grow\/ab' exceeded maximum length \(16380\)$/ ],
    [ rw_sec13 => 'GET /d/big/' . ('a' x 2100), [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^big\/\(\.\*\)\$' and URI '\/d\/big\/a+' exceeded maximum length \(16380\)$/ ],
    #     rewrite loops are halted (httpd's own test "PR 60478 rewrite loop is halted")
    [ rw_sec13_loop => 'GET /loop/a', [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^\/loop\/\(\.\*\)\$' and URI '\/loop\/a' exceeded maximum length \(16380\)$/ ],
    [ rw_sec13_loop => 'GET /pr60478/a/X/b', [], 500, undef, qr/Internal Server Error/,
      qr/RewriteRule '\^\(\.\+\)\/X\/\(\.\+\)\$' and URI '\/pr60478\/a\/X\/b' exceeded maximum length \(16380\)$/ ],
    # --- 7. [END]: not into sub-requests, but into internal redirects
    [ rw_sec13 => 'GET /sf/', [], 403, undef, undef ],
    [ rw_sec13 => 'GET /sf/index.html', [], 403, undef, undef ],
    [ rw_sec13 => 'GET /dx/x', [], 404, undef, undef ],
    [ rw_sec13 => 'GET /dx/y', [], 200, undef, "sec13 file\n" ],
    [ rw_sec13 => 'GET /gone', [], 404, undef,
      qr{<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>} ],
    [ rw_sec13 => 'GET /gonel', [], 404, undef, "the error page\n" ],
    [ rw_sec13 => 'GET /pt/x', [], 200, undef,
      "PATH_INFO=/x\nPATH_TRANSLATED=$docroot/security13/x\n" ],
);
push @t, @sec13;
# ... and answer at once (stock: 0.03 s; before, /g/x took about 1 GB
# and /grow/ab never answered): [vhost, request, seconds]
# [CO=...] lifetimes (minutes) from the request, not clamped: as stock,
# atol() (saturating, junk after the digits ignored) and the request
# time + minutes x 60,000,000 us modulo 2^64; no undefined behaviour
# (see set_cookies).  [lifetime, expected offset in seconds from the
# request time, or undef: no expires]
my @cookie_life = (
    [ '1', 60 ], [ '-1', -60 ], [ '10abc', 600 ], [ '+5', 300 ],
    [ 'abc', undef ], [ '0x10', undef ], [ '0', undef ],
    [ '500000001', 500000001 * 60 ], [ '2147483648', 2147483648 * 60 ],
    [ '4294967296', 4294967296 * 60 ],
    # 2^63 - 1 and -2^63: x 60e6 wraps to -60 s and 0 s
    [ '9223372036854775807', -60 ], [ '-9223372036854775808', 0 ],
    [ '99999999999999999999', -60 ], [ '-99999999999999999999', 0 ],
    # x 60e6 wraps to exactly -8 s
    [ '153722867280912930', -8 ],
    [ '-500000001', -500000001 * 60 ], [ '-2147483649', -2147483649 * 60 ],
);
my @sec13_time = (
    [ rw_sec13 => 'GET /g/x', 5 ], [ rw_sec13 => 'GET /grow/ab', 5 ],
    [ rw_sec13_loop => 'GET /loop/a', 5 ], [ rw_sec13_loop => 'GET /pr60478/a/X/b', 5 ],
);

# 13: requests whose URL carries CR, LF and ESC, logged at trace3
my @logreq = (
    'GET /log/a%0d%0aXINJ%20secmark1%1b[31mred%0d',
    'GET /logr/a%0d%0aXINJ%20secmark2%1b[0m',
    'GET /here/a%0d%0aXINJ%20secmark3%1b[0m',
);

plan tests => 3 * @t + scalar(grep { $_->[6] } @t)
            + eval { my $n = 0; $n += keys %{ $_->[7] || {} } for @t; $n }
            + 4 * @logreq + 3 + @sec13_time + @cookie_life,
    need need_module('rewrite'), need_module('proxy'), need_module('proxy_http'),
         need_cgi;

for my $t (@t) {
    my ($vh, $line, $hdrs, $code, $loc, $body, $log, $hv) = @$t;
    my $name = "$vh: $line" . (@$hdrs ? " [@$hdrs]" : '');
    my $off = log_size();
    my $r = raw($vh, $line, @$hdrs);
    ok t_cmp($r->{code}, $code, "$name: status");
    my $want_loc = defined $loc && $loc =~ m{^/} ? 'http://' . hp($vh) . $loc : $loc;
    ok t_cmp($r->{h}{location}, $want_loc, "$name: Location");
    if ($code =~ /^30/) {
        (my $href = $want_loc // '') =~ s/&/&amp;/g;
        ok t_cmp($r->{body}, qr{<a href="\Q$href\E">here</a>}, "$name: body links to Location");
    }
    elsif (!defined $body && $page{$code}) {
        ok t_cmp($r->{body}, errpage($code), "$name: error page");
    }
    elsif (defined $body) {
        ok t_cmp($r->{body}, $body, "$name: body");
    }
    else {
        ok 1;
    }
    if ($log) {
        # the error log line stock writes for this request
        my $l = log_from($off);
        my ($hit) = grep { $_ =~ $log } split /\n/, $l;
        ok t_cmp($hit, $log, "$name: error_log line");
    }
    for my $h (sort keys %{ $hv || {} }) {
        ok t_cmp($r->{h}{$h}, $hv->{$h}, "$name: $h header");
    }
}

# --- 12: a huge quantifier is a config error (apache2 -t with this module)
{
    my $httpd = $vars->{httpd};
    my ($mod) = grep { /^\s*LoadModule\s+rewrite_module\s/ }
        do { open my $fh, '<', catfile($vars->{t_conf}, 'rw-inherit.conf') or die $!; <$fh> };
    my ($modpath) = $mod =~ /rewrite_module\s+"?([^"\s]+)/;
    my $moddir = $vars->{src_dir} && -f "$vars->{src_dir}/mod_mpm_prefork.so"
        ? $vars->{src_dir} : '/usr/lib/apache2/modules';
    my $conf = catfile($vars->{t_logs}, 'security-quantifier.conf');
    my $rule = 'RewriteRule ^/q/a{111111111111111111}$ /x';
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh "ServerRoot \"$vars->{t_dir}\"\n",
              "PidFile \"$vars->{t_logs}/security-quantifier.pid\"\n",
              "ErrorLog \"$vars->{t_logs}/security-quantifier.log\"\n",
              "DefaultRuntimeDir \"$vars->{t_logs}\"\n",
              "Listen 127.0.0.1:1\n",
              "LoadModule mpm_prefork_module \"$moddir/mod_mpm_prefork.so\"\n",
              "LoadModule authz_core_module \"$moddir/mod_authz_core.so\"\n",
              "LoadModule rewrite_module \"$modpath\"\n",
              "RewriteEngine on\n$rule\n";
    close $fh;
    my $out = `"$httpd" -t -f "$conf" 2>&1`;
    my $rc = $? >> 8;
    ok t_cmp($rc != 0 ? 'config error' : "accepted: $out", 'config error',
             "$rule: config error");
    ok t_cmp($out, qr/RewriteRule: cannot compile regular expression '\^\/q\/a\{111111111111111111\}\$'/,
             "$rule: message");
}

# --- 12: catastrophic backtracking answers in time
{
    my $r = raw(rw_sec => 'GET /bt/' . ('a' x 30) . 'b');
    ok t_cmp($r->{secs} < 10 ? 'in time' : "took $r->{secs} s", 'in time',
             '^(a+)+$ against 30 a and a b: answered within 10 s');
}

# --- 13: nothing from the request reaches the error log unescaped
for my $line (@logreq) {
    my $off = log_size();
    my $r = raw(rw_sec => $line);
    ok t_cmp($r->{code}, qr/^(200|302|403)$/, "$line: answered");
    # give the server a moment to finish writing its log lines
    Time::HiRes::sleep(0.2);
    my $l = log_from($off);
    if ($ENV{SEC_DUMP}) {
        (my $d = $l) =~ s/([\x00-\x09\x0b-\x1f\x7f])/sprintf '<%02x>', ord $1/ge;
        t_debug("error_log during $line:\n$d");
    }
    my ($mark) = $line =~ /(secmark\d)/;
    ok t_cmp(scalar(() = $l =~ /\Q$mark\E/g) > 0 ? 'logged' : 'not logged', 'logged',
             "$line: the request is in the rewrite log");
    ok t_cmp(($l =~ tr/\x1b\r//) ? 'raw CR/ESC in error_log' : 'clean', 'clean',
             "$line: no raw CR or ESC in the error_log");
    my @bad = grep { /XINJ/ && !/^\[/ } split /\n/, $l;
    ok t_cmp(scalar(@bad), 0, "$line: no line of the error_log starts with request data")
        or t_debug(join "\n", @bad);
}

# --- issue 13, 4: growing rewrites end in time
for my $t (@sec13_time) {
    my ($vh, $line, $max) = @$t;
    my $r = raw($vh, $line);
    ok t_cmp($r->{code} eq '500' && $r->{secs} < $max ? 'in time' : "$r->{code} after $r->{secs} s",
             'in time', "$vh: $line: 500 within $max s");
}

# --- issue 13, Keep: cookie lifetimes as stock, without a clamp
{
    my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
               Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    my @mname = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
    my @dname = qw(Sun Mon Tue Wed Thu Fri Sat);
    require Time::Local;
    for my $c (@cookie_life) {
        my ($life, $off) = @$c;
        my $r = raw(rw_sec13 => "GET /co/$life");
        my ($d, $mo, $y, $H, $M, $S) = ($r->{h}{date} // '') =~
            /^\w{3}, (\d{2}) (\w{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
        my $want = 'c=v; path=/; domain=example.com';
        if (defined $off && defined $d) {
            my $t = Time::Local::timegm($S, $M, $H, $d, $mon{$mo}, $y) + $off;
            # APR rounds times before 1970 towards zero: the second after
            # (the request time has microseconds)
            $t += 1 if $t < 0;
            my @g = gmtime($t);
            $want .= sprintf '; expires=%s, %.2d-%s-%.4d %.2d:%.2d:%.2d GMT',
                $dname[$g[6]], $g[3], $mname[$g[4]], $g[5] + 1900, $g[2], $g[1], $g[0];
        }
        ok t_cmp($r->{h}{'set-cookie'}, $want, "CO lifetime '$life'");
    }
}
