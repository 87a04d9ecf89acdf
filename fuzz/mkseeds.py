#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# Writes the seed corpora fuzz/corpus/<target>/ from the readable lists
# below, in each target's input layout (see the comment at the top of
# fuzz/<target>.c and fuzz/fuzz_common.h: mode bytes, length bytes, then
# the pieces, the last piece taking the rest).  Run it after changing a
# list or a layout:  python3 fuzz/mkseeds.py   (it replaces the corpora).
import hashlib
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def pieces(*ps):
    """Length bytes for all pieces but the last, then the pieces."""
    bs = [p.encode('latin-1') if isinstance(p, str) else p for p in ps]
    for b in bs[:-1]:
        if len(b) > 255:
            sys.exit('piece too long for a length byte: %r' % b)
    return bytes(len(b) for b in bs[:-1]) + b''.join(bs)


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
    print('%s: %d seeds' % (target, len(seeds)))


# ---------------------------------------------------------------------
# fuzz_directive: mode, then line, flags, cflags, condpat, template,
# regex, option.  mode: 1 ICASE 2 NEWLINE 4 DOTALL 8 DOLLAR_ENDONLY
# (RegexDefaultOptions), 16 server context, 32 nocase, 64 RewriteMap.
DEFAULT = 4 | 8          # AP_REG_DEFAULT
directive = [
    ('rule-redirect', DEFAULT | 16,
     '^/old/(.*)$ /new/$1 [R=301,L]', '[R=301,L,NE]', '[NC,OR]', '!-f',
     '/index.php?q=$1&h=%{HTTP_HOST}', '^/(.*)\\.html$', 'Inherit'),
    ('rule-quoted', DEFAULT,
     '"^/a b/(.*)" "/c d/$1" [B,BNP,QSA]', '[B=/&,BNE=/]', '[NV]',
     '-eq5', '${lc:$1|none}', '(?i)^/[a-z]{2,3}/(\\d+)$', 'InheritBefore'),
    ('cond-host', DEFAULT | 16,
     '%{HTTP_HOST} ^www\\.(.+)$ [NC]', '[QSD,L]', '[NC]', '<=abc',
     'http://%1/$1', '^([^.]+)\\.(.*)$', 'InheritDown'),
    ('cond-expr', DEFAULT | 16,
     'expr "%{REQUEST_URI} =~ m#^/x#"', '[E=VAR:$1,E=!X]', '[OR]', '=""',
     '%{ENV:x}-%{HTTP:X-Forwarded-For}', '^$', 'InheritDownBefore'),
    ('cookie', DEFAULT,
     '^/c$ - [CO=name:value:.example.org:1440:/:secure:httponly:Lax]',
     '[CO=;n;v;.h;0;/;1;1;Strict]', '[NC,NV,OR]', '-d',
     '%{TIME_YEAR}%{TIME_MON}', '((a)|b)+\\1', 'IgnoreInherit'),
    ('type-handler', DEFAULT | 16,
     '\\.php$ - [T=application/x-httpd-php,H=cgi-script]',
     '[T=image/png,H=cgi-script]', '', '>=', '$0%0\\$1\\%1',
     '(?<name>x)\\k<name>', 'AllowNoSlash'),
    ('skip-next', DEFAULT,
     '^/lim/(.*)A(.*)$ /lim/$1B$2 [N=3]', '[S=2]', '', '-s',
     '${m:${inner:$1}|%{ENV:x}}', '^/(a)?(b)$', 'AllowAnyURI'),
    ('forbidden-gone', DEFAULT | 16,
     '^/secret - [F]', '[G]', '', '-l', '%{LA-U:REMOTE_USER}',
     '[', 'MergeBase'),
    ('proxy', DEFAULT | 16,
     '^/app/(.*) http://backend/$1 [P,QSA]', '[P,QSD,NE]', '', '-U',
     '%{LA-F:HTTP:X-La}', 'a{2,65535}', 'IgnoreContextInfo'),
    ('end-dpi', DEFAULT,
     '^(.*)$ index.php?path=$1 [END,DPI]', '[END,DPI]', '', '-F',
     '%{SSL:SSL_CIPHER}', '^(.*)$', 'LegacyPrefixDocRoot'),
    ('unsafe', DEFAULT | 16,
     '^/u/(.*) /v?x=$1 [UnsafeAllow3F,UnsafePrefixStat,UNC]',
     '[UnsafeAllow3F,UnsafePrefixStat,UNC]', '', '-x', '//$1?',
     '^//(.*)', 'UnsafePrefixStat'),
    ('bctls', DEFAULT,
     '^/b/(.*) /x?v=$1 [BCTLS,BNE=/ ]', '[BCTLS,B]', '', '-h',
     '/x?v=$1', '^/b/(.*)$', 'MaxRedirects=10'),
    ('chain', DEFAULT | 16,
     '^/a /b [C,PT,NS]', '[PT,NS,C]', '', '-L', '%{REQUEST_FILENAME}',
     '(?s).', 'bogus'),
    ('redirect-names', DEFAULT | 16,
     '^/p /q [R=permanent]', '[R=seeother]', '', '>abc', '%{THE_REQUEST}',
     '\\', '/app/'),
    ('bad-flags', DEFAULT | 16,
     '^/a /b [R=999]', '[R=301 ,L,]', '[XX]', '-lt0', '${a:b', '(', ''),
    ('trailing-q', DEFAULT,
     '^/q /r? [L]', '[QSL,QSA]', '', '!=abc', '/r?', '(*UTF)\\x{100}',
     'inherit'),
    ('map-txt', DEFAULT | 16 | 64,
     'hosts txt:/etc/hosts', '[L]', '', '-ge10', '${hosts:$1}', '^$',
     'Inherit'),
    ('map-int', DEFAULT | 16 | 64,
     'lc int:tolower', '', '', '', '${lc:%{HTTP_HOST}}', '', ''),
    ('map-prg', DEFAULT | 16 | 64,
     'p prg:/bin/cat user:group,timeout=2', '', '', '', '', '', ''),
    ('map-dbm', DEFAULT | 16 | 64,
     'd dbm=sdbm:/tmp/fuzz-no-such-dbm', '', '', '', '', '', ''),
    ('map-dbd', DEFAULT | 16 | 64,
     'q "dbd:SELECT v FROM t WHERE k = %s"', '', '', '', '', '', ''),
    ('no-defaults', 0,
     '^/a.b$ /c', '[NC]', '', '^a.b$', 'a', '^a.b$', ''),
    ('all-options', 1 | 2 | 4 | 8 | 32,
     '^A$ /b', '[nocase,last]', '[nocase,ornext,novary]', 'a$', 'x',
     'a$', 'INHERIT'),
    # .htaccess lines through the line cache (bit 7)
    ('htaccess-rule', DEFAULT | 128,
     '^(.*)$ /index.php?q=$1 [L,QSA]', '', '', '', '', '', ''),
    ('htaccess-cond', DEFAULT | 128,
     '%{REQUEST_FILENAME} !-f', '', '', '', '', '', ''),
    ('htaccess-long', DEFAULT | 128,
     '^/u1x' + '(?:abcdefgh|ijklmnop)' * 10 + '$ /index.html [L]',
     '', '', '', '', '', ''),
]

# ---------------------------------------------------------------------
# fuzz_expand: mode, 42 capture bytes, then flags, pattern, subject,
# csubject, uri, args, header, env, template.  mode: 1 trace8, 2 int
# maps, 4 rule context, 8 real regex, 16 sub-request, 32 E=/CO=/T=/H=,
# 64 txt map, 128 directory context.


def caps(rule=(), cond=()):
    """Capture bytes: count, then (start, length) pairs; 255 = unset."""
    out = b''
    for groups in (rule, cond):
        b = [len(groups)]
        for i in range(10):
            if i < len(groups) and groups[i] is not None:
                b += list(groups[i])
            else:
                b += [255, 0]
        out += bytes(b)
    return out


expand = [
    # real regex matches
    ('b-flag', 4 | 8, caps(), '[B]', '^/b/(.*)$', '/b/a b/c', 'q',
     '/b/a b/c', '', 'h', 'e', '/x?v=$1'),
    ('bnp-bne', 4 | 8, caps(), '[B,BNP,BNE=/]', '^/b/(.*)$', '/b/a b/c&d',
     '', '/b', '', '', '', '/x?v=$1&w=$0'),
    ('bctls', 4 | 8, caps(), '[BCTLS,B=/]', '^/b/(.*)$', '/b/a b/c\x01',
     '', '/', '', '', '', '/x?v=$1'),
    ('cond-refs', 4 | 8, caps(), '', '^/(.*)/(.*)$', '/one/two',
     '/three/four', '/', '', '', '', '/x?%1&%2&$1&$2&$9&%0'),
    ('escapes', 4 | 8, caps(), '', '^(.*)$', 'abc', 'def', '/', '', '', '',
     '\\$1\\%1\\${x}\\%{y}$1'),
    # long subjects (first capture byte 16/32: pieces repeated to 20 KB),
    # which overflow the JIT's stack: the interpreter's answer stands
    ('jit-stack', 4 | 8, bytes([16 | 32]) + caps()[1:], '', '^(a|b)*$',
     'ab', 'ba', '/', '', '', '', '/x?$1'),
    ('jit-stack-5g', 4 | 8, bytes([32]) + caps()[1:], '[NC]',
     '(<|%3C)([^s]*s)+cript.*(>|%3E)', '%3Cscript%3E', 's', '/', '', '',
     '', '/x?$2'),
    # fake captures
    ('fake-all', 4, caps([(0, 9), (1, 3), (5, 4), None, (2, 0)],
                         [(0, 5), (0, 2)]),
     '', '', '/foo/bar', 'hello', '/foo/bar', 'a=1', 'h', 'e',
     '$0|$1|$2|$3|$4|$9|%0|%1|%2'),
    ('fake-b', 4, caps([(0, 12), (4, 8)]), '[B]', '', '/p/a b?c=d',
     '', '/', '', '', '', '/q/$1?x=$1'),
    ('vars', 1, caps(), '', '', '', '', '/v/x', 'a=1', 'example.org',
     'from-env',
     '%{QUERY_STRING}|%{REQUEST_URI}|%{REQUEST_METHOD}|%{HTTP_HOST}|'
     '%{HTTP:X-Fuzz}|%{HTTP_USER_AGENT}|%{ENV:FUZZ}|%{ENV:FUZZ_NOTE}|'
     '%{IS_SUBREQ}|%{THE_REQUEST}|%{SERVER_PROTOCOL}|%{SCRIPT_FILENAME}'),
    ('vars2', 0, caps(), '', '', '', '', '/v/y', '', 'h', '',
     '%{REMOTE_ADDR}%{REMOTE_PORT}%{REMOTE_HOST}%{REMOTE_USER}'
     '%{SERVER_NAME}%{SERVER_PORT}%{SERVER_ADDR}%{SERVER_ADMIN}'
     '%{HTTPS}%{IPV6}%{REQUEST_SCHEME}%{DOCUMENT_ROOT}%{API_VERSION}'
     '%{CONTEXT_PREFIX}%{CONTEXT_DOCUMENT_ROOT}%{PATH_INFO}%{AUTH_TYPE}'
     '%{CONN_REMOTE_ADDR}%{SERVER_SOFTWARE}%{REMOTE_IDENT}%{NOPE}'),
    ('time', 1, caps(), '', '', '', '', '/', '', '', '',
     '%{TIME}%{TIME_YEAR}%{TIME_MON}%{TIME_DAY}%{TIME_HOUR}%{TIME_MIN}'
     '%{TIME_SEC}%{TIME_WDAY}'),
    ('script-owner', 0, caps(), '', '', '', '', '/etc/passwd', '', '', '',
     '%{SCRIPT_USER}:%{SCRIPT_GROUP}'),
    ('lookahead', 1, caps(), '', '', '', '', '/la', '', 'h', '',
     '%{LA-U:REMOTE_USER}%{LA-F:HTTP:X-La}'),
    ('maps', 2 | 4 | 8, caps(), '', '^/m/(.*)$', '/m/MiXed', '', '/m',
     '', '', '', '${lc:$1}/${uc:$1}/${esc:a b}/${unesc:%41%2f}'
     '/${nope:$1|dflt}/${lc:}'),
    ('maps-nested', 2 | 64 | 1, caps([(0, 4)]), '', '', 'home', '', '/',
     '', '', '', '${txt:$0|none}${txt:${lc:HOME}|x}${uc:${txt:sp}}'
     '${txt:missing|${lc:DEF}}'),
    ('no-maps', 0, caps(), '', '', '', '', '/', '', '', '',
     '${lc:X|default}${a:b|c|d}${x:{y}}'),
    ('env-cookie', 4 | 32 | 8, caps(),
     '[E=V:$1,E=!W,E=X,CO=n:$1:.example.org:1440:/:secure:httponly:Lax,'
     'CO=;a;b;h;-5;/p;0;0;None,T=text/$1,H=h-$1]',
     '^/c/(.*)$', '/c/val', '', '/c', '', '', '', '/c2'),
    ('perdir-trace', 1 | 4 | 8 | 128, caps(), '[B]', '^(.*)$', 'x y', '',
     '/var/www/html/x y', 'q=1', '', '', '$1?a=$1'),
    # the prefilter: a pattern's leading literal (first capture byte:
    # 1 ICASE, 2 NEWLINE, 4 no DOTALL, 8 no DOLLAR_ENDONLY)
    ('prefilter-exact', 4 | 8, caps(), '', '^/old/page-123$',
     '/old/page-123', '/old/page-1234', '/', '', '', '', '/new/$0'),
    ('prefilter-nocase', 4 | 8, bytes([1]) + caps()[1:], '[NC]',
     '^/Old/\\.x+y?z{2}$', '/OLD/.xxzz', '/old/.yzz', '/', '', '', '',
     '$0'),
    ('prefilter-dollar', 4 | 8, bytes([8]) + caps()[1:], '', '^/a\\$b$',
     '/a$b\n', '/a$b', '/', '', '', '', '$0'),
    ('prefilter-newline', 4 | 8, bytes([2 | 4]) + caps()[1:], '',
     '^/a\\*+', 'x\n/a**', '/a*', '/', '', '', '', '$0'),
    ('subreq', 16 | 1, caps(), '', '', '', '', '/s', '', '', '',
     '%{IS_SUBREQ}'),
    ('many-pieces', 4, caps([(0, 1)] * 10, [(0, 1)] * 10), '', '', 'abc',
     'def', '/', '', '', '',
     '$0$1$2$3$4$5$6$7$8$9%0%1%2%3%4%5%6%7%8%9a$1b$2c%1d%2e$0f%0g'),
]

# ---------------------------------------------------------------------
# fuzz_escape: mode1, mode2, then str, only, except, uri, args.
# mode1: 1 BNP 2 BCTLS 4 B=only 8 BNE=except 16 QSA 32 QSD 64 QSL
#        128 discard (lone '?');  mode2: 1 NE 2 perdir 4 args 8 trace8
escape = [
    ('b-default', 0, 0, 'a b/c', '', '', '/x?v=a b', ''),
    ('b-specials', 0, 0, 'aZ09_-.~!$&\'()*+,;=:@x?#[]"<>\\^`{|}', '', '',
     '/p/a b{c"d^`|[]', ''),
    ('b-utf8', 1, 0, '\xc3\xa9~% \x01\x7f\xff', '', '', '/\xc3\xa9', ''),
    ('b-only', 4, 0, 'a/b&c', '/&', '', 'http://localhost/a?b', 'x=1'),
    ('b-except', 8, 4, 'a b/c&d', '', '/', '/a?b=c', 'y=2'),
    ('b-only-except', 4 | 8, 0, 'a b/c+d&e', '/ +', '&', '/q', ''),
    ('bctls', 2, 0, 'a b/c&d\x01\x7f\xc3\xa9', '', '', '/x', ''),
    ('bctls-only', 2 | 4 | 1, 0, 'a b/\x01', '/', '', '/x', ''),
    ('qsa', 16, 4, '', '', '', '/new?b=2', 'a=1'),
    ('qsa-empty', 16, 4, '', '', '', '/new?', 'a=1'),
    ('qsd', 32, 4, '', '', '', '/new?b=2', 'a=1'),
    ('qsd-noq', 32, 4, '', '', '', '/new', 'a=1'),
    ('qsl', 64, 4, '', '', '', '/a?b/c?d=1', 'a=1'),
    ('qsl-qsa', 64 | 16, 4, '', '', '', '/a?b?c', 'z=9'),
    ('discard', 128, 4, '', '', '', '/plain', 'a=1'),
    ('discard-qsl', 128 | 64, 4, '', '', '', '/x?y', 'a=1'),
    ('redirect-abs', 0, 8, '', '', '', 'http://other.example/a b?c d#e',
     ''),
    ('redirect-ne', 0, 1 | 8, '', '', '', 'https://h/a b?c=d e', 'f g'),
    ('redirect-mailto', 0, 0, '', '', '', 'mailto:a b@example.org?s=x y',
     ''),
    ('redirect-news', 0, 0, '', '', '', 'news:comp.lang c', ''),
    ('reduce-local', 0, 2 | 8, '', '', '', 'http://localhost:80/a b?q', ''),
    ('reduce-port', 0, 0, '', '', '', 'http://localhost:8080/x', ''),
    ('unix-socket', 0, 0, '', '', '', 'unix:/tmp/s|http://h/x y', ''),
    ('percent', 0, 4, '%41%2f%zz%', '%', '', '/%41%2F%%zz?%00', '%20'),
    ('ctl-args', 0, 4, '', '', '', '/a?b\x01c', 'x y'),
]

# ---------------------------------------------------------------------
# fuzz_txtmap: mode, key length, key, file.  mode: 1 rnd too, 2 reload,
# 4 trace8.
MAPTXT = ('##\n## a txt map as people write them\n##\n\n'
          'television  tv\n'
          'stereo      hifi    # a comment after the value\n'
          'fishingrod\tfishing\tsecond-value\n'
          '#hidden value\n'
          '   indented value\n'
          'keyonly\n'
          'static www1\n'
          'dynamic www5|www6|www7\n'
          'nothing |\n')
txtmap = [
    ('basic', 0, 'a', 'a A\nx B\na second\nk v1 extra\nlonely\n'
     '# c comment\n#x commented\n\tb  B1 B2\nc\tC\nmulti one|two\n'
     'last L'),
    ('rnd', 1, 'multi', 'multi one|two|three\nempty |\nedge a||b\n'
     'trail x|\nlead |y\nsingle z\n'),
    ('reload', 2 | 1, 'second', 'first 1\nsecond 2\nthird 3\n'),
    ('crlf', 4, 'k', 'k v\r\nw\tx\r\n\r\n# c\r\n'),
    ('nul', 0, 'b', 'a\x00x y\nb c\x00d\n\x00e f\ng h'),
    ('long-line', 0, 'k',
     'k ' + 'v' * 1100 + '\nafter A\n' + 'x' * 1022 + ' y\nz Z\n'),
    ('long-key', 4, 'q' * 200, 'q' * 1030 + ' val\nshort s\n'),
    ('split-piece', 0, 'p2', 'p1 ' + 'a' * 1019 + '\np2 ok\n'),
    ('spaces', 0, 'k', 'k\x0bv\nw\x0cx\n \t\n\n\n'),
    ('empty', 0, '', ''),
    ('only-comments', 4, '#', '#\n##\n# a b\n'),
    ('dup-keys', 1 | 2, 'dup', 'dup first\ndup second\ndup third|fourth\n'),
    ('fixture', 1 | 4, 'television', MAPTXT),
]


def main():
    seeds = []
    for name, mode, *ps in directive:
        seeds.append((name, bytes([mode]) + pieces(*ps)))
    write('fuzz_directive', seeds)

    seeds = []
    for name, mode, cp, *ps in expand:
        assert len(cp) == 42, name
        seeds.append((name, bytes([mode]) + cp + pieces(*ps)))
    write('fuzz_expand', seeds)

    seeds = []
    for name, m1, m2, *ps in escape:
        seeds.append((name, bytes([m1, m2]) + pieces(*ps)))
    write('fuzz_escape', seeds)

    seeds = []
    for name, mode, key, text in txtmap:
        k = key.encode('latin-1')
        assert len(k) <= 255, name
        seeds.append((name, bytes([mode, len(k)]) + k +
                      text.encode('latin-1')))
    write('fuzz_txtmap', seeds)


if __name__ == '__main__':
    main()
