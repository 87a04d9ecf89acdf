# Server variables %{NAME} (HTTP headers, request, connection, server,
# time), %{HTTP:header}, %{ENV:var}, %{SSL:var} and %{LA-U:...} as
# expanded by the rewrite engine in server context, with the exact
# values the stock module gives (time and port values by format).
# Config: the "vars" part of the coverage section of
# t/conf/extra.conf.in: every /vars/ request goes to echo.cgi with one
# RW_<name> environment variable per server variable.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET POST);
use POSIX qw(mktime);

my $vars    = Apache::Test::vars();
my $docroot = $vars->{documentroot};
my $hostport = Apache::TestRequest::hostport();
my ($port) = $hostport =~ /:(\d+)$/;

# the values every /vars/ request has
my %common = (
    RW_API_VERSION          => qr/^\d{8}:\d+$/,
    RW_AUTH_TYPE            => '',
    RW_CONN_REMOTE_ADDR     => '127.0.0.1',
    RW_CONTEXT_DOCUMENT_ROOT=> $docroot,
    RW_CONTEXT_PREFIX       => '',
    RW_DOCUMENT_ROOT        => $docroot,
    RW_ENV_fromrule         => 'from-rule',       # set by an earlier rule
    RW_ENV_none             => '',
    RW_ENV_setenvif         => 'from-setenvif',   # set by SetEnvIf
    RW_HTTPS                => 'off',
    RW_HTTP_ACCEPT          => '',
    RW_HTTP_COOKIE          => '',
    RW_HTTP_FORWARDED       => '',
    RW_HTTP_HOST            => $hostport,
    RW_HTTP_PROXY_CONNECTION=> '',
    RW_HTTP_REFERER         => '',
    RW_HTTP_USER_AGENT      => qr/^libwww-perl/,
    RW_HTTP_X_RW_VAR        => '',                # not a known variable
    RW_H_X_Absent           => '',
    RW_H_X_Rw_Var           => '',
    RW_H_lower              => '',
    RW_IPV6                 => 'off',
    RW_IS_SUBREQ            => 'false',
    RW_LAU_FILENAME         => "$docroot/cgi/echo.cgi",   # look-ahead: the final file
    RW_LAU_IS_SUBREQ        => 'true',
    RW_PATH_INFO            => '',
    RW_QUERY_STRING         => '',
    RW_REMOTE_ADDR          => '127.0.0.1',
    RW_REMOTE_HOST          => '127.0.0.1',
    RW_REMOTE_IDENT         => '',
    RW_REMOTE_PORT          => qr/^\d+$/,
    RW_REMOTE_USER          => '',
    RW_REQUEST_METHOD       => 'GET',
    RW_REQUEST_SCHEME       => 'http',
    RW_SCRIPT_GROUP         => '<unknown>',
    RW_SCRIPT_USER          => '<unknown>',
    RW_SERVER_ADDR          => '127.0.0.1',
    RW_SERVER_ADMIN         => 'nobody@localhost',
    RW_SERVER_NAME          => 'localhost',
    RW_SERVER_PORT          => $port,
    RW_SERVER_PROTOCOL      => 'HTTP/1.1',
    RW_SERVER_SOFTWARE      => qr{^Apache/2\.4\.\d+},
    RW_SSL_CIPHER           => '',
    RW_SSL_PROTOCOL         => '',
    RW_TIME                 => qr/^\d{14}$/,
    RW_TIME_DAY             => qr/^(?:0[1-9]|[12]\d|3[01])$/,
    RW_TIME_HOUR            => qr/^(?:[01]\d|2[0-3])$/,
    RW_TIME_MIN             => qr/^[0-5]\d$/,
    RW_TIME_MON             => qr/^(?:0[1-9]|1[0-2])$/,
    RW_TIME_SEC             => qr/^(?:[0-5]\d|60)$/,
    RW_TIME_WDAY            => qr/^[0-6]$/,
    RW_TIME_YEAR            => qr/^\d{4}$/,
    RW_UNKNOWN              => '',
);

# [ method, request, { request headers }, { expected values } ]
my @requests = (
    [ GET => '/vars/a%20b/c?x=1%202&y',
      { 'User-Agent' => 'rwtest/2', Referer => 'http://ref.example/',
        Cookie => 'c1=v1; c2=v2', Forwarded => 'for=1.2.3.4',
        Accept => 'text/plain', 'Proxy-Connection' => 'keep-alive',
        'X-Rw-Var' => 'hv' },
      { REQUEST_URI => '/vars/a%20b/c?x=1%202&y', QUERY_STRING => 'x=1%202&y',
        SCRIPT_NAME => '/vars', PATH_INFO => '/a b/c',
        RW_HTTP_USER_AGENT => 'rwtest/2', RW_HTTP_REFERER => 'http://ref.example/',
        RW_HTTP_COOKIE => 'c1=v1; c2=v2', RW_HTTP_FORWARDED => 'for=1.2.3.4',
        RW_HTTP_ACCEPT => 'text/plain', RW_HTTP_PROXY_CONNECTION => 'keep-alive',
        RW_H_X_Rw_Var => 'hv', RW_H_lower => 'hv',
        RW_REQUEST_URI => '/vars/a b/c',          # decoded, no query
        RW_REQUEST_FILENAME => '/vars/a b/c',     # server context: the URI
        RW_SCRIPT_FILENAME => '/vars/a b/c',
        RW_QUERY_STRING => 'x=1%202&y',
        RW_THE_REQUEST => 'GET /vars/a%20b/c?x=1%202&y HTTP/1.1' } ],
    [ GET => '/vars/x',
      { Host => 'www.foo.test' },
      { REQUEST_URI => '/vars/x', QUERY_STRING => '', SCRIPT_NAME => '/vars', PATH_INFO => '/x',
        RW_HTTP_HOST => 'www.foo.test', RW_SERVER_NAME => 'www.foo.test',
        RW_SERVER_PORT => $port,
        RW_REQUEST_URI => '/vars/x', RW_REQUEST_FILENAME => '/vars/x', RW_SCRIPT_FILENAME => '/vars/x',
        RW_THE_REQUEST => 'GET /vars/x HTTP/1.1' } ],
    [ POST => '/vars/p?q',
      { Host => 'www.foo.test:1234', content => 'a=b' },
      { REQUEST_URI => '/vars/p?q', QUERY_STRING => 'q', SCRIPT_NAME => '/vars', PATH_INFO => '/p',
        RW_HTTP_HOST => 'www.foo.test:1234', RW_SERVER_NAME => 'www.foo.test',
        RW_SERVER_PORT => '1234', RW_REQUEST_METHOD => 'POST', RW_QUERY_STRING => 'q',
        RW_REQUEST_URI => '/vars/p', RW_REQUEST_FILENAME => '/vars/p', RW_SCRIPT_FILENAME => '/vars/p',
        RW_THE_REQUEST => 'POST /vars/p?q HTTP/1.1' } ],
);

# directory context (<Directory .../vars/dir>): the values are set in the
# first round, echo.cgi shows them after the internal redirect (REDIRECT_)
my ($fuser, $fgroup) = owner("$docroot/vars/dir/file.txt");
my ($duser, $dgroup) = owner("$docroot/vars/dir");
my %dir_common = (
    QUERY_STRING                      => undef,   # per request
    SCRIPT_NAME                       => '/cgi/echo.cgi',
    PATH_INFO                         => '(unset)',
    REDIRECT_RW_CONTEXT_DOCUMENT_ROOT => $docroot,
    REDIRECT_RW_CONTEXT_PREFIX        => '',
    REDIRECT_RW_ENV_setenvif          => 'from-setenvif',
    REDIRECT_RW_H_X_Rw_Var            => '',
    REDIRECT_RW_IS_SUBREQ             => 'false',
    REDIRECT_RW_LAF_FILENAME          => 'redirect:/cgi/echo.cgi',   # look-ahead by file name
    REDIRECT_RW_LAU_IS_SUBREQ         => 'true',
    REDIRECT_RW_PATH_INFO             => '',
    REDIRECT_RW_QUERY_STRING          => '',
);
my @dir_requests = (
    [ '/vars/dir/file.txt/extra?q=1', { 'X-Rw-Var' => 'hv' },
      { QUERY_STRING => 'm=file.txt/extra',
        REDIRECT_RW_H_X_Rw_Var     => 'hv',
        REDIRECT_RW_PATH_INFO      => '/extra',
        REDIRECT_RW_QUERY_STRING   => 'q=1',
        REDIRECT_RW_REQUEST_FILENAME => "$docroot/vars/dir/file.txt",   # the file, not the URI
        REDIRECT_RW_SCRIPT_FILENAME  => "$docroot/vars/dir/file.txt",
        REDIRECT_RW_REQUEST_URI    => '/vars/dir/file.txt/extra',
        REDIRECT_RW_SCRIPT_USER    => $fuser,                           # the file's owner
        REDIRECT_RW_SCRIPT_GROUP   => $fgroup,
        REDIRECT_RW_THE_REQUEST    => 'GET /vars/dir/file.txt/extra?q=1 HTTP/1.1' } ],
    [ '/vars/dir/nothere', {},
      { QUERY_STRING => 'm=nothere',
        REDIRECT_RW_REQUEST_FILENAME => "$docroot/vars/dir/nothere",
        REDIRECT_RW_SCRIPT_FILENAME  => "$docroot/vars/dir/nothere",
        REDIRECT_RW_REQUEST_URI    => '/vars/dir/nothere',
        REDIRECT_RW_SCRIPT_USER    => $duser,                           # no file: the directory's
        REDIRECT_RW_SCRIPT_GROUP   => $dgroup,
        REDIRECT_RW_THE_REQUEST    => 'GET /vars/dir/nothere HTTP/1.1' } ],
);

sub owner {
    my @st = stat shift;
    return ('(missing)', '(missing)') unless @st;
    return (scalar(getpwuid $st[4]) // $st[4], scalar(getgrgid $st[5]) // $st[5]);
}

my @std = qw(REQUEST_URI QUERY_STRING SCRIPT_NAME PATH_INFO);
my $n = 0;
for my $r (@requests) {
    my %want = (%common, %{ $r->[3] });
    $n += 1 + keys(%want) + 1 + 4;   # status, each value, no others, time checks
}
for my $r (@dir_requests) {
    my %want = (REQUEST_URI => 1, %dir_common, %{ $r->[2] });
    $n += 1 + keys(%want) + 1;       # status, each value, no others
}
plan tests => $n, need need_module('rewrite'), need_cgi;

for my $r (@dir_requests) {
    my ($url, $hdrs, $exp) = @$r;
    my %want = (REQUEST_URI => $url, %dir_common, %$exp);
    my $res = GET $url, %$hdrs;
    my $name = "GET $url (directory context)";
    ok t_cmp($res->code, 200, "$name: status");
    my %got;
    for my $line (split /\n/, $res->content) {
        my ($k, $v) = split /=/, $line, 2;
        $got{$k} = $v if defined $v;
    }
    for my $k (@std, sort grep { /RW_/ } keys %want) {
        ok t_cmp($got{$k}, $want{$k}, "$name: $k");
    }
    my @extra = grep { !exists $want{$_} } sort keys %got;
    ok t_cmp("@extra", '', "$name: no other variables");
}

for my $r (@requests) {
    my ($method, $url, $hdrs, $exp) = @$r;
    my %want = (%common, %$exp);
    my $res = $method eq 'GET' ? GET($url, %$hdrs) : POST($url, %$hdrs);
    my $name = "$method $url";
    ok t_cmp($res->code, 200, "$name: status");
    my %got;
    for my $line (split /\n/, $res->content) {
        my ($k, $v) = split /=/, $line, 2;
        $got{$k} = $v if defined $v;
    }
    for my $k (@std, sort grep { /^RW_/ } keys %want) {
        ok t_cmp($got{$k}, $want{$k}, "$name: $k");
    }
    my @extra = grep { !exists $want{$_} } sort keys %got;
    ok t_cmp("@extra", '', "$name: no other variables");

    # TIME and TIME_* describe the same moment: now (local time)
    my $now = time;
    my $t = $got{RW_TIME} || '';
    my @p = $t =~ /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/;
    my $tt = @p ? mktime($p[5], $p[4], $p[3], $p[2], $p[1] - 1, $p[0] - 1900, 0, 0, -1) : 0;
    ok t_cmp(abs($tt - $now) < 300 ? 1 : 0, 1, "$name: TIME ($t) is now");
    my @q = map { $got{"RW_TIME_$_"} || 0 } qw(YEAR MON DAY HOUR MIN SEC);
    my $tq = mktime($q[5], $q[4], $q[3], $q[2], $q[1] - 1, $q[0] - 1900, 0, 0, -1);
    ok t_cmp(abs($tq - $now) < 300 ? 1 : 0, 1, "$name: TIME_YEAR..TIME_SEC (@q) are now");
    my $wday = (localtime $tq)[6];
    ok t_cmp($got{RW_TIME_WDAY}, $wday, "$name: TIME_WDAY is the day of the week of TIME_*");
    ok t_cmp(abs($tq - $tt) <= 2 ? 1 : 0, 1, "$name: TIME and TIME_* agree");
}
