# RewriteCond: every kind of CondPattern (regex, !, <, >, =, <=, >=, ="",
# -eq/-ne/-gt/-ge/-lt/-le, -d -f -s -l -L -h -x -F -U, expr), the flags
# NC, OR and NV, the Vary header, and %N back-references, with exact
# expected answers (those of the stock module).
# Config: the "conds" part of the coverage section of
# t/conf/extra.conf.in: every /conds/NAME is rewritten to
# conds/files/yes.txt when the conditions of its rule hold, else to
# conds/files/no.txt; back-references are shown with echo.cgi.
# Fixtures: t/htdocs/conds/files/ (a directory, files, an empty file,
# symlinks, an executable, a file denied by the configuration).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest qw(GET);

# [ request => expected answer, expected Vary header, request headers ]
#   answer: 'yes' / 'no' (the body of yes.txt / no.txt), a number (the
#   status of an error page), or a string "r=..." (the exact QUERY_STRING
#   shown by echo.cgi).  Vary: undef = no Vary header.
my $A = { 'X-Rw-A' => 'yes' };
my $B = { 'X-Rw-B' => 'yes' };
my $AB = { %$A, %$B };

my @cases = (
    # --- regex and !regex
    [ '/conds/regex?ab'   => 'yes' ],
    [ '/conds/regex?aab'  => 'yes' ],
    [ '/conds/regex?abb'  => 'no'  ],
    [ '/conds/regex'      => 'no'  ],
    [ '/conds/not?ba'     => 'yes' ],
    [ '/conds/not?ab'     => 'no'  ],
    [ '/conds/not'        => 'yes' ],

    # --- lexicographical: a shorter string precedes a longer one
    [ '/conds/lt?a'       => 'yes' ],
    [ '/conds/lt?M'       => 'yes' ],
    [ '/conds/lt'         => 'yes' ],
    [ '/conds/lt?m'       => 'no'  ],
    [ '/conds/lt?zz'      => 'no'  ],
    [ '/conds/lt?abc'     => 'no'  ],
    [ '/conds/gt?n'       => 'yes' ],
    [ '/conds/gt?ma'      => 'yes' ],
    [ '/conds/gt?ab'      => 'yes' ],
    [ '/conds/gt?m'       => 'no'  ],
    [ '/conds/gt?A'       => 'no'  ],
    [ '/conds/eq?abc'     => 'yes' ],
    [ '/conds/eq?abcd'    => 'no'  ],
    [ '/conds/eq?ABC'     => 'no'  ],
    [ '/conds/noteq?abc'  => 'no'  ],
    [ '/conds/noteq?abd'  => 'yes' ],
    [ '/conds/le?m'       => 'yes' ],
    [ '/conds/le?l'       => 'yes' ],
    [ '/conds/le?n'       => 'no'  ],
    [ '/conds/le?aa'      => 'no'  ],
    [ '/conds/ge?m'       => 'yes' ],
    [ '/conds/ge?n'       => 'yes' ],
    [ '/conds/ge?l'       => 'no'  ],
    [ '/conds/ge?a'       => 'no'  ],
    [ '/conds/empty'      => 'yes' ],
    [ '/conds/empty?'     => 'yes' ],
    [ '/conds/empty?x'    => 'no'  ],
    [ '/conds/notempty?x' => 'yes' ],
    [ '/conds/notempty'   => 'no'  ],
    [ '/conds/eqlit?a.b'  => 'yes' ],   # = compares literally
    [ '/conds/eqlit?axb'  => 'no'  ],
    [ '/conds/eqspace'    => 'yes', 'X-Rw-A', { 'X-Rw-A' => 'a b' } ],   # "=a b"
    [ '/conds/eqspace'    => 'no',  undef,    { 'X-Rw-A' => 'ab' } ],

    # --- integer comparisons (-eq10 and "-eq 10")
    [ '/conds/ieq?10'     => 'yes' ],
    [ '/conds/ieq?010'    => 'yes' ],
    [ '/conds/ieq?+10'    => 'yes' ],
    [ '/conds/ieq?10abc'  => 'yes' ],
    [ '/conds/ieq?9'      => 'no'  ],
    [ '/conds/ieq?abc'    => 'no'  ],
    [ '/conds/ieq'        => 'no'  ],
    [ '/conds/ieqsp?10'   => 'yes' ],
    [ '/conds/ieqsp?11'   => 'no'  ],
    [ '/conds/ine?10'     => 'no'  ],
    [ '/conds/ine?11'     => 'yes' ],
    [ '/conds/inoteq?10'  => 'no'  ],
    [ '/conds/inoteq?7'   => 'yes' ],
    [ '/conds/igt?11'     => 'yes' ],
    [ '/conds/igt?100'    => 'yes' ],
    [ '/conds/igt?10'     => 'no'  ],
    [ '/conds/igt?9'      => 'no'  ],
    [ '/conds/ige?10'     => 'yes' ],
    [ '/conds/ige?9'      => 'no'  ],
    [ '/conds/ilt?9'      => 'yes' ],
    [ '/conds/ilt?-5'     => 'yes' ],
    [ '/conds/ilt?10'     => 'no'  ],
    [ '/conds/ile?10'     => 'yes' ],
    [ '/conds/ile?11'     => 'no'  ],

    # --- NC|nocase
    [ '/conds/nc?ABC'     => 'yes' ],
    [ '/conds/nc?aBc'     => 'yes' ],
    [ '/conds/nc?abd'     => 'no'  ],
    [ '/conds/nceq?ABC'   => 'yes' ],
    [ '/conds/nceq?abc'   => 'yes' ],
    [ '/conds/ncgt?N'     => 'yes' ],
    [ '/conds/ncgt?M'     => 'no'  ],
    [ '/conds/case?abc'   => 'yes' ],
    [ '/conds/case?ABC'   => 'no'  ],

    # --- OR|ornext and the implicit AND
    [ '/conds/or?a'       => 'yes' ],
    [ '/conds/or?b'       => 'yes' ],
    [ '/conds/or?c'       => 'no'  ],
    [ '/conds/ornext?b'   => 'yes' ],
    [ '/conds/ornext?c'   => 'no'  ],
    [ '/conds/orand?az'   => 'yes' ],   # (^a OR ^b) AND z$
    [ '/conds/orand?bz'   => 'yes' ],
    [ '/conds/orand?a'    => 'no'  ],
    [ '/conds/orand?cz'   => 'no'  ],
    [ '/conds/andor?az'   => 'yes' ],   # ^a AND (z$ OR y$)
    [ '/conds/andor?ay'   => 'yes' ],
    [ '/conds/andor?bz'   => 'no'  ],
    [ '/conds/andor?ax'   => 'no'  ],
    [ '/conds/and?az'     => 'yes' ],
    [ '/conds/and?a'      => 'no'  ],

    # --- expr
    [ '/conds/expr?xxx'          => 'yes' ],
    [ '/conds/expr?xy'           => 'no'  ],
    [ '/conds/exprin?red'        => 'yes' ],
    [ '/conds/exprin?blue'       => 'no'  ],
    [ '/conds/exprf?file.txt'    => 'yes' ],
    [ '/conds/exprf?dir'         => 'no'  ],
    [ '/conds/exprnot?yes'       => 'yes' ],
    [ '/conds/exprnot?no'        => 'no'  ],

    # --- Vary: a header in a condition that holds; NV|novary
    [ '/conds/vary'     => 'yes', 'X-Rw-A', $A ],
    [ '/conds/vary'     => 'no',  undef, { 'X-Rw-A' => 'no' } ],
    [ '/conds/vary'     => 'no',  undef ],
    [ '/conds/nv'       => 'yes', undef, $A ],
    [ '/conds/novary'   => 'yes', undef, $A ],
    [ '/conds/varyua'   => 'yes', 'User-Agent', { 'User-Agent' => 'rwtest/1' } ],
    [ '/conds/varyua'   => 'no',  undef,        { 'User-Agent' => 'other' } ],
    [ '/conds/varyref'  => 'yes', 'Referer',    { Referer => 'http://x/' } ],
    [ '/conds/vary2'    => 'yes', 'X-Rw-A,X-Rw-B', $AB ],
    [ '/conds/vary2'    => 'no',  undef, $A ],
    [ '/conds/vary2'    => 'no',  undef, $B ],
    [ '/conds/varyor'   => 'yes', 'X-Rw-A', $AB ],   # the 2nd is not evaluated
    [ '/conds/varyor'   => 'yes', 'X-Rw-B', $B  ],   # the 1st does not hold
    [ '/conds/varyor'   => 'yes', 'X-Rw-A', $A  ],
    [ '/conds/varymix'  => 'yes', 'X-Rw-B', $AB ],   # [NV] on the 1st only
    [ '/conds/varytwo'  => 'yes', 'X-Rw-A,X-Rw-B', $AB ],   # two headers, one test string
    [ '/conds/varytwo'  => 'yes', 'X-Rw-A', $A ],
    [ '/conds/varytwo'  => 'no',  undef, $B ],
    [ '/conds/exprhdr'  => 'yes', 'X-Rw-A', $A ],
    [ '/conds/exprhdr'  => 'no',  'X-Rw-A', { 'X-Rw-A' => 'no' } ],   # expr: even when false
    [ '/conds/exprnv'   => 'yes', undef, $A ],
    [ '/conds/exprnv'   => 'no',  undef, { 'X-Rw-A' => 'no' } ],

    # --- %N back-references (and $N in a TestString)
    [ '/conds/ref?ab-cd'       => 'r=cd-ab-ab-cd' ],   # %2-%1-%0
    [ '/conds/ref?abcd'        => 'no' ],
    [ '/conds/reflast?qq'      => 'r=hdr', 'X-Rw-A', { 'X-Rw-A' => 'hdr' } ],   # from the last condition
    [ '/conds/reflast?qq'      => 'no' ],
    [ '/conds/dollar/abc'      => 'r=bc-abc' ],
    [ '/conds/dollar/bcd'      => 404 ],   # ^/conds/[^/]+$ does not match either
    [ '/conds/pchain?xyz'      => 'r=yz' ],            # %1 in the next TestString
    [ '/conds/pchain?yz'       => 'no' ],
    [ '/conds/refneg?abc'      => 'r=abc' ],           # a negated match sets none
    [ '/conds/refneg?abc'      => 'no', undef, { 'X-Rw-A' => 'zz' } ],
    [ '/conds/refopt?ac'       => 'r=[a][][c][]' ],    # unset groups are empty
    [ '/conds/refopt?abc'      => 'r=[a][b][c][]' ],
    [ '/conds/refor?x'         => 'r=x' ],
    [ '/conds/refor?yy'        => 'r=yy' ],
    [ '/conds/refnc?aBc'       => 'r=aBc' ],
    [ '/conds/refeq?abc'       => 'r=[][]' ],          # = sets no back-references

    # --- directory context (<Directory .../conds/dir>; echo.cgi reached
    # by an internal redirect: "dir:" answers)
    [ '/conds/dir/vary'        => 'dir:r=vary', 'X-Rw-A', $A ],
    [ '/conds/dir/vary'        => 404 ],
    [ '/conds/dir/file.txt'    => 'dir:r=file-file.txt' ],   # REQUEST_FILENAME -f
    [ '/conds/dir/ab/cd'       => 'dir:r=cd-ab' ],           # %N from REQUEST_URI
    [ '/conds/dir/zz?qq'       => 'dir:r=zz-qq' ],           # $N and %N
    [ '/conds/dir/zz'          => 404 ],
);

# file tests: [ test => { fixture => 'yes' / 'no' } ]
my @fixtures = qw(dir file.txt empty.txt link.txt dangling dirlink exec.sh denied.txt nothere);
my %files = (
    #         dir   file  empty link  dangl dirlk exec  denied nothere
    d    => [qw(yes  no    no    no    no    yes   no    no     no)],
    f    => [qw(no   yes   yes   yes   no    no    yes   yes    no)],
    notf => [qw(yes  no    no    no    yes   yes   no    no     yes)],
    s    => [qw(no   yes   no    yes   no    no    yes   yes    no)],
    l    => [qw(no   no    no    yes   yes   yes   no    no     no)],
    bigl => [qw(no   no    no    yes   yes   yes   no    no     no)],   # -L
    h    => [qw(no   no    no    yes   yes   yes   no    no     no)],
    x    => [qw(yes  no    no    no    no    yes   yes   no     no)],
    bigf => [qw(no   yes   yes   yes   no    no    yes   no     no)],   # -F
    u    => [qw(yes  yes   yes   yes   no    yes   yes   no     yes)],  # -U
    notu => [qw(no   no    no    no    yes   no    no    yes    no)],   # !-U
);
for my $k (qw(d f notf s l bigl h x bigf u notu)) {
    for my $i (0 .. $#fixtures) {
        push @cases, [ "/conds/$k?$fixtures[$i]" => $files{$k}[$i] ];
    }
}

plan tests => 3 * @cases, need need_module('rewrite'), need_cgi;

for my $c (@cases) {
    my ($url, $want, $vary, $hdrs) = @$c;
    my %h = %{ $hdrs || {} };
    my $res = GET $url, %h, redirect_ok => 0;
    my $hs = join ' ', map { "$_: $h{$_}" } sort keys %h;
    my $name = "GET $url" . ($hs ? " ($hs)" : '');
    if ($want =~ /^\d+$/) {
        ok t_cmp($res->code, $want, "$name: status");
        ok t_cmp($res->content, qr{<title>$want }, "$name: error page");
    }
    elsif ($want =~ /^dir:(r=.*)$/) {
        my $qs = $1;
        ok t_cmp($res->code, 200, "$name: status");
        ok t_cmp($res->content,
                 "REQUEST_URI=$url\nQUERY_STRING=$qs\nSCRIPT_NAME=/cgi/echo.cgi\nPATH_INFO=(unset)\n",
                 "$name: echo.cgi output");
    }
    elsif ($want =~ /^r=/) {
        my ($path) = $url =~ /^([^?]*)/;
        ok t_cmp($res->code, 200, "$name: status");
        ok t_cmp($res->content,
                 "REQUEST_URI=$url\nQUERY_STRING=$want\nSCRIPT_NAME=$path\nPATH_INFO=(unset)\n",
                 "$name: echo.cgi output");
    }
    else {
        ok t_cmp($res->code, 200, "$name: status");
        ok t_cmp($res->content, "$want\n", "$name: conditions hold?");
    }
    ok t_cmp(scalar $res->header('Vary'), $vary, "$name: Vary");
}
