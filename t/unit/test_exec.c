/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_exec.c: [B]-family escaping, redirect escaping,
 * absolute URIs, the control-character check, and, on a fake request,
 * back-reference expansion and RewriteCond comparisons.
 *
 * The expected values are those of the stock module (Debian apache2
 * 2.4.71), measured on a throwaway server: the trace log shows each
 * "escaping backreference 'x' to 'y'", the Location header the rest.
 */
#include <unistd.h>

#include "apr_file_io.h"

#include "../../rewrite_exec.c"

#include "unit.h"
#include "fake_request.h"

#define P unit_pool

/* ------------------------------------------------------------------ */
/* rw_escape_backref                                                   */

static void test_escape_backref(void)
{
    static const struct {
        const char *in, *only, *except;
        int noplus, ctls;
        const char *out;
    } cases[] = {
        /* [B]: all but ASCII alphanumerics and '_', lowercase %xx,
         * space as '+' */
        { "a b/c", NULL, NULL, 0, 0, "a+b%2fc" },
        { "aZ09_-.~!$&'()*+,;=:@x", NULL, NULL, 0, 0,
          "aZ09_%2d%2e%7e%21%24%26%27%28%29%2a%2b%2c%3b%3d%3a%40x" },
        { "\xc3\xa9~%", NULL, NULL, 0, 0, "%c3%a9%7e%25" },
        { "?#[]\"<>\\^`{|}", NULL, NULL, 0, 0,
          "%3f%23%5b%5d%22%3c%3e%5c%5e%60%7b%7c%7d" },
        { "\x01\x1f\x7f\xff", NULL, NULL, 0, 0, "%01%1f%7f%ff" },
        { "abc_XYZ019", NULL, NULL, 0, 0, "abc_XYZ019" },
        { "", NULL, NULL, 0, 0, "" },
        /* [B,BNP] */
        { "a b", NULL, NULL, 1, 0, "a%20b" },
        /* [B,BNE=/]: never these */
        { "a b/c&d", NULL, "/", 0, 0, "a+b/c%26d" },
        { "a b/c&x", NULL, "/ x", 0, 0, "a b/c%26x" },
        /* [B=chars]: only those of the chars that [B] escapes */
        { "a/b&c", "/&", "&", 0, 0, "a%2fb&c" },
        { "a b/c+d&e", "/ +", NULL, 1, 0, "a%20b%2fc%2bd&e" },
        { "a%b", "%", NULL, 0, 0, "a%25b" },
        { "a\x01" "b/\xc3\xa9", "/", NULL, 0, 0, "a\x01" "b%2f\xc3\xa9" },
        { "abc/&x_-.,yz q", "abc/& _-.", NULL, 0, 0,
          "abc%2f%26x_%2d%2e,yz+q" },
        { "a_b-c~d.e", "_-~", NULL, 0, 0, "a_b%2dc%7ed.e" },
        { "a0b", "0", NULL, 0, 0, "a0b" },
        { "a%b", "a%", NULL, 0, 0, "a%25b" },
        /* [BCTLS]: controls and space only */
        { "a b/c&d\x01\x7f\xc3\xa9", NULL, NULL, 0, 1,
          "a+b/c&d%01%7f\xc3\xa9" },
        { "a b\t", NULL, NULL, 1, 1, "a%20b%09" },
        { "a b/c\x01", NULL, " /", 0, 1, "a b/c%01" },
        { "\n\r", NULL, NULL, 0, 1, "%0a%0d" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        const char *out = rw_escape_backref(P, cases[i].in, cases[i].only,
                                            cases[i].except, cases[i].noplus,
                                            cases[i].ctls);
        CHECK_STR(cases[i].out, out,
                  apr_psprintf(P, "rw_escape_backref('%s', only=%s, "
                               "except=%s, noplus=%d, ctls=%d)",
                               cases[i].in, cases[i].only ? cases[i].only
                               : "-", cases[i].except ? cases[i].except : "-",
                               cases[i].noplus, cases[i].ctls));
    }
}

/* ------------------------------------------------------------------ */
/* escape_uri, is_absolute_uri, has_ctl_or_space                        */

static void test_escape_uri(void)
{
    static const struct { const char *in, *out; } cases[] = {
        { "/p/a b{c\"d^`|[]", "/p/a%20b%7bc%22d%5e%60%7c%5b%5d" },
        { "q=a b?c#d%e&f", "q=a%20b%3fc%23d%25e&f" },
        { "/p#frag", "/p%23frag" },
        { "-._~!$&'()*+,;=:@/azAZ09", "-._~!$&'()*+,;=:@/azAZ09" },
        { "\xc3\xa9", "%c3%a9" },
        { "<>\\", "%3c%3e%5c" },
        { "\x01\x7f\xff", "%01%7f%ff" },
        { "", "" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_STR(cases[i].out, escape_uri(P, cases[i].in, 0),
                  apr_psprintf(P, "escape_uri('%s')", cases[i].in));
    /* an ldap URL keeps its first four '?' */
    CHECK_STR("o=x??sub?a?b%3fc%20d", escape_uri(P, "o=x??sub?a?b?c d", 4),
              "escape_uri ldap");
}

static void test_is_absolute_uri(void)
{
    static const struct { const char *uri; int abs; } cases[] = {
        { "ajp://h/x", 1 }, { "balancer://h/x", 1 }, { "fcgi://h/x", 1 },
        { "ftp://h/x", 1 }, { "gopher://h/x", 1 }, { "http://h/x", 1 },
        { "https://h/x", 1 }, { "h2://h/x", 1 }, { "h2c://h/x", 1 },
        { "ldap://h/x", 1 }, { "nntp://h/x", 1 }, { "scgi://h/x", 1 },
        { "ws://h/x", 1 }, { "wss://h/x", 1 },
        { "mailto:a@b", 1 }, { "mailto://a@b", 1 }, { "news:comp.x", 1 },
        { "news://x", 1 }, { "unix:/tmp/s|http://h/x", 1 },
        { "unix://tmp/s", 1 },
        { "HTTP://h/x", 1 }, { "Https://h/x", 1 }, { "FTP://h/x", 1 },
        { "WSS://h/x", 1 }, { "MAILTO:a@b", 1 },
        /* not absolute for the stock module: made a local path */
        { "uwsgi://h/x", 0 },
        { "file://h/x", 0 }, { "data:x", 0 }, { "foo://h/x", 0 },
        { "git://h/x", 0 }, { "ssh://h/x", 0 }, { "telnet://h/x", 0 },
        { "irc://h/x", 0 }, { "redis://h/x", 0 }, { "tcp://h/x", 0 },
        { "svn://h/x", 0 }, { "http:/x", 0 }, { "http:x", 0 },
        { "/http://h/x", 0 }, { "http", 0 }, { "", 0 },
    };
    static const struct { const char *uri; int pos; } hosts[] = {
        { "http://h/x", 7 }, { "https://h/x", 8 }, { "ajp://h/x", 6 },
        { "balancer://c/x", 11 }, { "ws://h/x", 5 },
        { "mailto:a@b", 7 }, { "news:x", 5 }, { "unix:/s", 5 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_INT(cases[i].abs, is_absolute_uri(cases[i].uri, NULL),
                  apr_psprintf(P, "is_absolute_uri('%s')", cases[i].uri));
    for (i = 0; i < UNIT_NELTS(hosts); ++i) {
        int pos = -1;
        is_absolute_uri(hosts[i].uri, &pos);
        CHECK_INT(hosts[i].pos, pos,
                  apr_psprintf(P, "host position in '%s'", hosts[i].uri));
    }
}

static void test_has_ctl_or_space(void)
{
    static const struct { const char *s; int yes; } cases[] = {
        { "abc", 0 }, { "a=b&c=d", 0 }, { "", 0 }, { "\xc3\xa9", 0 },
        { "%20", 0 }, { "a b", 1 }, { "a\tb", 1 }, { "a\x01", 1 },
        { "\x7f", 1 }, { "a\r\nb", 1 }, { " ", 1 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_INT(cases[i].yes, has_ctl_or_space(cases[i].s),
                  apr_psprintf(P, "has_ctl_or_space('%s')", cases[i].s));
}

/* ------------------------------------------------------------------ */
/* A fake request: enough for expansion and conditions.  Its log level
 * is "warn", so the trace lines return before formatting anything.   */

static request_rec *fake_request(const char *uri, const char *args)
{
    return unit_request(P, unit_server(P, APLOG_WARNING), uri, args);
}

/* Expands subst for a rule with flags whose pattern matched subject;
 * cond_subject, when given, is what "(.*)" of a condition matched. */
static const char *expand_rule(const char *flags, const char *pattern,
                               const char *subject, const char *cond_subject,
                               const char *subst)
{
    request_rec *r = fake_request(subject, NULL);
    rw_rule_t *rule = apr_pcalloc(P, sizeof(*rule));
    rw_regex_t *re = NULL, *cre = NULL;
    const rw_tpl_t *t;
    rw_ctx_t ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.r = r;
    rule->maxrounds = 10000;
    if (flags && rw_parse_rule_flags(P, flags, rule))
        return "(flag error)";
    if (rw_regex_compile(P, pattern, 0, &re) ||
        !regex_match(r, re, subject, &ctx.rule))
        return "(no match)";
    if (cond_subject && (rw_regex_compile(P, "^(.*)$", 0, &cre) ||
                         !regex_match(r, cre, cond_subject, &ctx.cond)))
        return "(no cond match)";
    if (rw_parse_template(P, subst, &t))
        return "(template error)";
    ctx.cur = rule;
    return expand(&ctx, t);
}

static void test_expand(void)
{
    static const struct {
        const char *flags, *subject, *cond, *subst, *out;
    } cases[] = {
        { NULL, "/b/a b", NULL, "/x?v=$1", "/x?v=a b" },
        { NULL, "/b/abc", NULL, "/x/$0/$2/$9", "/x//b/abc//" },
        { NULL, "/b/abc", "q", "/x?%1&%2&$1", "/x?q&&abc" },
        { NULL, "/b/abc", NULL, "\\$1\\%1", "$1%1" },
        { "[B]", "/b/a b/c", NULL, "/x?v=$1", "/x?v=a+b%2fc" },
        { "[B=]", "/b/a b/c", NULL, "/x?v=$1", "/x?v=a+b%2fc" },
        { "[B,BNP]", "/b/a b", NULL, "/x?v=$1", "/x?v=a%20b" },
        { "[B,BNE=/]", "/b/a b/c&d", NULL, "/x?v=$1", "/x?v=a+b/c%26d" },
        { "[B=/&,BNE=&]", "/b/a/b&c", NULL, "/x?v=$1", "/x?v=a%2fb&c" },
        { "[BCTLS]", "/b/a b/c&d\x01", NULL, "/x?v=$1", "/x?v=a+b/c&d%01" },
        { "[BCTLS,BNP]", "/b/a b\t", NULL, "/x?v=$1", "/x?v=a%20b%09" },
        /* BNE or BNP alone escape nothing */
        { "[BNE=/]", "/b/a b/c", NULL, "/x?v=$1", "/x?v=a b/c" },
        { "[BNP]", "/b/a b/c", NULL, "/x?v=$1", "/x?v=a b/c" },
        /* B with BCTLS: BCTLS wins, in either order ... */
        { "[B,BCTLS]", "/b/a b/c\x01", NULL, "/x?v=$1", "/x?v=a+b/c%01" },
        { "[BCTLS,B]", "/b/a b/c\x01", NULL, "/x?v=$1", "/x?v=a+b/c%01" },
        { "[B,BCTLS,BNE=/]", "/b/a b/\x01", NULL, "/x?v=$1",
          "/x?v=a+b/%01" },
        /* ... but a B=list adds its characters to the controls */
        { "[BCTLS,B=/]", "/b/a b/c\x01", NULL, "/x?v=$1",
          "/x?v=a+b%2fc%01" },
        { "[BCTLS,B=/,BNP]", "/b/a b/\x01", NULL, "/x?v=$1",
          "/x?v=a%20b%2f%01" },
        /* [B] escapes the back-references of conditions too */
        { "[B]", "/b/a b", "c/d%20e", "/x?v=%1.$1",
          "/x?v=c%2fd%2520e.a+b" },
        { "[BCTLS]", "/b/a b", "c/d%20e", "/x?v=%1.$1",
          "/x?v=c/d%20e.a+b" },
        /* literal text is never escaped */
        { "[B]", "/b/x", NULL, "/a b/$1?c&d", "/a b/x?c&d" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_STR(cases[i].out,
                  expand_rule(cases[i].flags, "^/b/(.*)$", cases[i].subject,
                              cases[i].cond, cases[i].subst),
                  apr_psprintf(P, "expand %s %s on '%s'", cases[i].subst,
                               cases[i].flags ? cases[i].flags : "[]",
                               cases[i].subject));
}

/* A few variables on the fake request. */
static void test_lookup_var(void)
{
    static const struct { const char *tpl, *out; } cases[] = {
        { "%{QUERY_STRING}", "a=1" },
        { "%{REQUEST_URI}", "/v/x" },
        { "%{REQUEST_METHOD}", "GET" },
        { "%{HTTP_HOST}", "example.org" },
        { "%{HTTP:X-Foo}", "hdr" },
        { "%{HTTP:x-foo}", "hdr" },
        { "%{HTTP_USER_AGENT}", "" },
        { "%{HTTP_X_FOO}", "" },
        { "%{NOPE}", "" },
        { "%{ENV:unit_env}", "from-env" },
        { "%{IS_SUBREQ}", "false" },
        { "%{THE_REQUEST}", "GET /v/x?a=1 HTTP/1.1" },
        { "%{SERVER_PROTOCOL}", "HTTP/1.1" },
        { "%{SCRIPT_FILENAME}", "/v/x" },
        /* names are case-insensitive */
        { "%{http_host}", "example.org" },
        { "%{query_string}", "a=1" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        request_rec *r = fake_request("/v/x", "a=1");
        const rw_tpl_t *t;
        rw_ctx_t ctx;
        memset(&ctx, 0, sizeof(ctx));
        ctx.r = r;
        apr_table_setn(r->headers_in, "Host", "example.org");
        apr_table_setn(r->headers_in, "X-Foo", "hdr");
        apr_table_setn(r->subprocess_env, "unit_env", "from-env");
        rw_parse_template(P, cases[i].tpl, &t);
        CHECK_STR(cases[i].out, expand(&ctx, t),
                  apr_psprintf(P, "expand %s", cases[i].tpl));
    }
}

/* ------------------------------------------------------------------ */
/* Conditions                                                          */

/* 1 when "RewriteCond input pattern [flags]" holds, -1 when it does
 * not parse. */
static int cond_holds(const char *input, const char *pattern,
                      const char *flags)
{
    rw_cond_t *c = apr_pcalloc(P, sizeof(*c));
    rw_ctx_t ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.r = fake_request("/", NULL);
    if ((flags && rw_parse_cond_flags(P, flags, c)) ||
        rw_parse_template(P, input, &c->input) ||
        rw_parse_cond_pattern(P, apr_pstrdup(P, pattern), c))
        return -1;
    return apply_cond(&ctx, c);
}

static void test_conditions(void)
{
    static const struct {
        const char *input, *pattern, *flags;
        int holds;
    } cases[] = {
        { "abc", "=abc", NULL, 1 },
        { "abd", "=abc", NULL, 0 },
        { "", "=\"\"", NULL, 1 },
        { "x", "=\"\"", NULL, 0 },
        { "abd", "!=abc", NULL, 1 },
        { "=abc", "==abc", NULL, 1 },
        { "ABC", "=abc", "[NC]", 1 },
        /* lexicographic comparisons: the shorter string is the smaller;
         * strings of one length compare byte by byte */
        { "a", "<b", NULL, 1 },
        { "c", "<b", NULL, 0 },
        { "b", "<=b", NULL, 1 },
        { "c", ">b", NULL, 1 },
        { "b", ">b", NULL, 0 },
        { "b", ">=b", NULL, 1 },
        { "a", ">=b", NULL, 0 },
        { "abd", "<abc", NULL, 0 },
        { "ab", "<ab", NULL, 0 },
        { "aa", "<b", NULL, 0 },
        { "a", ">b", NULL, 0 },
        { "aa", ">b", NULL, 1 },
        { "c", "<=bb", NULL, 1 },
        { "ccc", "<=bb", NULL, 0 },
        { "c", ">=bb", NULL, 0 },
        { "b", "<abc", NULL, 1 },
        { "b", ">abc", NULL, 0 },
        { "abd", ">abc", NULL, 1 },
        { "!", "<\"\"", NULL, 1 },
        { "a", "<\"\"", NULL, 1 },
        { "a", ">\"\"", NULL, 0 },
        { "", "<=", NULL, 1 },
        { "a<=b", "<=", NULL, 0 },
        { "C", "<b", "[NC]", 0 },
        { "A", "<b", "[NC]", 1 },
        { "ABC", ">=abc", "[NC]", 1 },
        { "ABB", ">=abc", "[NC]", 0 },
        /* lone operators are regexes */
        { "a=b", "=", NULL, 1 },
        { "", "=", NULL, 0 },
        { "a<b", "<", NULL, 1 },
        { "a", "<", NULL, 0 },
        { "a=b", "!=", NULL, 0 },
        { "x", "!=", NULL, 1 },
        { "x-eqy", "-eq", NULL, 1 },
        { "0", "-eq", NULL, 0 },
        /* integers */
        { "5", "-eq5", NULL, 1 },
        { "6", "-eq5", NULL, 0 },
        { "10", "-ge10", NULL, 1 },
        { "9", "-ge10", NULL, 0 },
        { "11", "-le10", NULL, 0 },
        { "6", "-ne5", NULL, 1 },
        { "-5", "-lt0", NULL, 1 },
        { "5x", "-eq5", NULL, 1 },
        { "abc", "-eq0", NULL, 1 },
        { "5", "-eq+5", NULL, 1 },
        { "5", "-eq05", NULL, 1 },
        { "5", "-eq 5", NULL, 1 },
        { "0", "-eq\"\"", NULL, 1 },
        { "5", "-eq5", "[NC]", 1 },
        { "6", "!-eq5", NULL, 1 },
        { "3", "-gt=5", NULL, 1 },
        { "5", "-eq=5", NULL, 0 },
        /* 32-bit integers, as the stock module reads them */
        { "3000000000", "-gt2147483647", NULL, 0 },
        /* regexes */
        { "abc", "^a(b)c$", NULL, 1 },
        { "ABC", "^abc$", NULL, 0 },
        { "ABC", "^abc$", "[NC]", 1 },
        { "abc", "!^x", NULL, 1 },
        { "a-zb", "-z", NULL, 1 },
        { "a-fxb", "-fx", NULL, 1 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_INT(cases[i].holds,
                  cond_holds(cases[i].input, cases[i].pattern,
                             cases[i].flags),
                  apr_psprintf(P, "RewriteCond '%s' %s %s", cases[i].input,
                               cases[i].pattern,
                               cases[i].flags ? cases[i].flags : ""));

    /* a matching regex condition provides %N */
    {
        rw_cond_t *c = apr_pcalloc(P, sizeof(*c));
        rw_ctx_t ctx;
        apr_size_t len;
        const char *v;
        memset(&ctx, 0, sizeof(ctx));
        ctx.r = fake_request("/", NULL);
        rw_parse_template(P, "host.example.org", &c->input);
        rw_parse_cond_pattern(P, apr_pstrdup(P, "^([^.]+)\\.(.*)$"), c);
        CHECK_INT(1, apply_cond(&ctx, c), "regex condition holds");
        v = match_ref(P, &ctx.cond, 2, &len);
        CHECK_STR("example.org", apr_pstrmemdup(P, v, len), "%2 of it");
    }
}

/* File tests on a scratch directory: file, empty file, directory,
 * symlink, executable. */
static void test_file_conditions(void)
{
    const char *tmp = NULL, *dir, *full, *empty, *link, *exe;
    apr_file_t *f;
    apr_size_t n = 5;

    if (apr_temp_dir_get(&tmp, P) != APR_SUCCESS)
        tmp = "/tmp";
    dir = apr_psprintf(P, "%s/rw-unit-XXXXXX", tmp);
    if (!mkdtemp((char *)dir)) {
        CHECK(0, "mkdtemp for the file tests");
        return;
    }
    full = apr_pstrcat(P, dir, "/full", NULL);
    empty = apr_pstrcat(P, dir, "/empty", NULL);
    link = apr_pstrcat(P, dir, "/link", NULL);
    exe = apr_pstrcat(P, dir, "/exe", NULL);
    apr_file_open(&f, full, APR_WRITE | APR_CREATE, APR_OS_DEFAULT, P);
    apr_file_write(f, "hello", &n);
    apr_file_close(f);
    apr_file_open(&f, empty, APR_WRITE | APR_CREATE, APR_OS_DEFAULT, P);
    apr_file_close(f);
    apr_file_open(&f, exe, APR_WRITE | APR_CREATE,
                  APR_UREAD | APR_UWRITE | APR_UEXECUTE, P);
    apr_file_close(f);
    if (symlink(full, link) != 0)
        CHECK(0, "symlink for the file tests");

    CHECK_INT(1, cond_holds(full, "-f", NULL), "-f on a file");
    CHECK_INT(0, cond_holds(dir, "-f", NULL), "-f on a directory");
    CHECK_INT(1, cond_holds(link, "-f", NULL), "-f follows a symlink");
    CHECK_INT(0, cond_holds(apr_pstrcat(P, dir, "/none", NULL), "-f", NULL),
              "-f on nothing");
    CHECK_INT(1, cond_holds(dir, "!-f", NULL), "!-f on a directory");
    CHECK_INT(1, cond_holds(full, "-s", NULL), "-s on a non-empty file");
    CHECK_INT(0, cond_holds(empty, "-s", NULL), "-s on an empty file");
    CHECK_INT(0, cond_holds(dir, "-s", NULL), "-s on a directory");
    CHECK_INT(1, cond_holds(dir, "-d", NULL), "-d on a directory");
    CHECK_INT(1, cond_holds(apr_pstrcat(P, dir, "/", NULL), "-d", NULL),
              "-d on a directory with a trailing slash");
    CHECK_INT(0, cond_holds(full, "-d", NULL), "-d on a file");
    CHECK_INT(1, cond_holds(link, "-l", NULL), "-l on a symlink");
    CHECK_INT(1, cond_holds(link, "-L", NULL), "-L on a symlink");
    CHECK_INT(1, cond_holds(link, "-h", NULL), "-h on a symlink");
    CHECK_INT(0, cond_holds(full, "-l", NULL), "-l on a file");
    CHECK_INT(1, cond_holds(exe, "-x", NULL), "-x on an executable");
    CHECK_INT(0, cond_holds(full, "-x", NULL), "-x on a plain file");

    apr_file_remove(link, P);
    apr_file_remove(full, P);
    apr_file_remove(empty, P);
    apr_file_remove(exe, P);
    apr_dir_remove(dir, P);
}

/* ------------------------------------------------------------------ */
/* The literal prefilter never changes whether a pattern matches        */


/* The PCRE code of pattern with the module's options (for the exact
 * literals, which the module runs without PCRE). */
static pcre2_code *ref_code(const char *pattern, int nocase)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern,
                                     PCRE2_ZERO_TERMINATED,
                                     rw_pcre_options(nocase), &err, &off,
                                     NULL);

    if (!code)
        abort();
    return code;
}

static void test_prefilter(void)
{
    static const struct {
        const char *pattern;
        int nocase;
        const char *lit;        /* expected literal, NULL for none */
        int exact;
        rw_shape_t shape;       /* with the default RegexDefaultOptions */
    } pats[] = {
        { "^/old/page-123$", 0, "/old/page-123", 1, RW_SHAPE_EXACT },
        { "^/old/page-123", 0, "/old/page-123", 0, RW_SHAPE_PREFIX },
        { "^/a\\.b/(.*)$", 0, "/a.b/", 0, RW_SHAPE_REST },
        { "^/ab?c", 0, "/a", 0, RW_SHAPE_PCRE },
        { "^/ab*c", 0, "/a", 0, RW_SHAPE_PCRE },
        { "^/ab{2}c", 0, "/a", 0, RW_SHAPE_PCRE },
        { "^/ab+c", 0, "/ab", 0, RW_SHAPE_PCRE },
        { "^/a|^/b", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^/x(y|z)", 0, NULL, 0, RW_SHAPE_PCRE },       /* any '|': none, to be safe */
        { "^\\d+", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^/Foo", 1, "/Foo", 0, RW_SHAPE_PREFIX },
        { "/foo", 0, NULL, 0, RW_SHAPE_CONTAINS },
        { "^/a[bc]d$", 0, "/a", 0, RW_SHAPE_PCRE },
        { "^/q\\?x$", 0, "/q?x", 1, RW_SHAPE_EXACT },
        { "^/\xc3\xa9$", 1, "/\xc3\xa9", 1, RW_SHAPE_EXACT },
        /* decided without PCRE as well: a prefix, a prefix and the rest */
        { "^/old/(.*)$", 0, "/old/", 0, RW_SHAPE_REST },
        { "^/OLD/(.*)", 1, "/OLD/", 0, RW_SHAPE_REST },
        { "^/a.b/(.*)x$", 0, "/a", 0, RW_SHAPE_PCRE },
        { "^/ab(.*)$", 0, "/ab", 0, RW_SHAPE_REST },
        { "^/a(.*)$x", 0, "/a", 0, RW_SHAPE_PCRE },
        /* the other shapes decided without PCRE */
        { "^", 0, NULL, 0, RW_SHAPE_PREFIX },
        { "^$", 0, "", 1, RW_SHAPE_EXACT },
        { "^(.*)$", 0, NULL, 0, RW_SHAPE_REST },
        { "^(.*)", 0, NULL, 0, RW_SHAPE_REST },
        { ".*", 0, NULL, 0, RW_SHAPE_ALL },
        { ".*$", 0, NULL, 0, RW_SHAPE_ALL },
        { "^.*$", 0, NULL, 0, RW_SHAPE_ALL },
        { "^/a.*", 1, "/a", 0, RW_SHAPE_ALL },
        { ".", 0, NULL, 0, RW_SHAPE_ONE },
        { "gzip", 1, NULL, 0, RW_SHAPE_CONTAINS },
        { "ab", 0, NULL, 0, RW_SHAPE_CONTAINS },
        { "\\.css\\.gz$", 0, NULL, 0, RW_SHAPE_SUFFIX },
        { "B$", 1, NULL, 0, RW_SHAPE_SUFFIX },
        { "^(.*)\\.css", 0, NULL, 0, RW_SHAPE_LASTSPLIT },
        { "^(.*)AB", 1, NULL, 0, RW_SHAPE_LASTSPLIT },
        { "^(.*)ab$", 0, NULL, 0, RW_SHAPE_ENDSPLIT },
        { "^(.*)/$", 1, NULL, 0, RW_SHAPE_ENDSPLIT },
        /* PCRE, with the shortest subject and needed bytes tested first */
        { "^(.+)/amp/?$", 0, NULL, 0, RW_SHAPE_PCRE },
        { "(?i)x\\.Y", 0, NULL, 0, RW_SHAPE_PCRE },
        { "(?:<|%3C).*b.*(?:>|%3E)", 1, NULL, 0, RW_SHAPE_PCRE },
        { "a\\.(?:x|y)b\\.c", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^/a/[0-9]{3}", 0, "/a/", 0, RW_SHAPE_PCRE },
        { "(*UTF)(?i)k\\.", 0, NULL, 0, RW_SHAPE_PCRE },
        /* near misses: PCRE */
        { "..", 0, NULL, 0, RW_SHAPE_PCRE },
        { ".+", 0, NULL, 0, RW_SHAPE_PCRE },
        { "ab+", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^(.*)a*b", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^(.*)$x", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^(.+)ab$", 0, NULL, 0, RW_SHAPE_PCRE },
        { "a\\d", 0, NULL, 0, RW_SHAPE_PCRE },
        { "^/a(.*)ab$", 0, "/a", 0, RW_SHAPE_PCRE },
    };
    static const char *subjects[] = {
        "/old/page-123", "/old/page-1234", "/old/page-12", "/OLD/page-123",
        "/a.b/x", "/axb/x", "/ac", "/abc", "/abbc", "/abbbc", "/b", "/a",
        "/xy", "/xz", "/x", "123", "/foo", "/FOO", "/fOo/bar", "/abd",
        "/acd", "/q?x", "/qx", "/\xc3\xa9", "/\xc3\x89", "", "/",
        "/old/page-123\n", "/old/", "/old/x/y", "/old/x\ny", "/Old/a",
        "/ab\n", "/ab", "/a.b/zx",
        "abab", "xaby", "AB", "aB\n", "x.css.css", "x.css.gz", "\n",
        "gzip, deflate", "deflate, GZip", "a.CSS", "ab/", "/\n", "a\nb",
        "b", "xb\n", "q/amp", "q/amp/", "/amp", "X.y", "x.Y", "<b>",
        "%3cB%3E", "a.xb.c", "a.yb.c", "a.zb.c", "/a/123", "/a/12",
        "\xe2\x84\xaa.", "K.",
    };
    /* RegexDefaultOptions: the default (DOTALL, DOLLAR_ENDONLY), then
     * without each, and with ICASE: the shapes must follow them */
    static const int cflags[] = {
        AP_REG_DOTALL | AP_REG_DOLLAR_ENDONLY, 0, AP_REG_DOTALL,
        AP_REG_DOLLAR_ENDONLY, AP_REG_DOTALL | AP_REG_DOLLAR_ENDONLY |
        AP_REG_ICASE,
    };
    apr_size_t i, j, f;
    pcre2_code *refc;

    for (f = 0; f < UNIT_NELTS(cflags); ++f)
    for (i = 0; i < UNIT_NELTS(pats); ++i) {
        rw_regex_t *re;
        const char *err;
        unit_default_cflags = cflags[f];
        err = rw_regex_compile(P, pats[i].pattern, pats[i].nocase, &re);
        CHECK(err == NULL, pats[i].pattern);
        if (err)
            continue;
        if (f == 0) {
            CHECK_STR(pats[i].lit, re->lit,
                      apr_psprintf(P, "literal of %s", pats[i].pattern));
            if (pats[i].lit)
                CHECK_INT(pats[i].exact, re->lit_exact,
                          apr_psprintf(P, "exact of %s", pats[i].pattern));
            CHECK_INT(pats[i].shape, re->shape,
                      apr_psprintf(P, "shape of %s", pats[i].pattern));
        }
        /* a shape-decided pattern: compiled here, for the comparison */
        refc = re->pcre ? NULL : ref_code(pats[i].pattern, pats[i].nocase);
        for (j = 0; j < UNIT_NELTS(subjects); ++j) {
            request_rec *r = fake_request("/", NULL);
            rw_regex_t plain = *re;
            rw_pcre_t plainpc;
            int with, without;
            plain.lit = NULL;       /* PCRE alone decides */
            plain.lit_exact = 0;
            memset(&plainpc, 0, sizeof(plainpc));   /* no minlen, need */
            plainpc.code = re->pcre ? re->pcre->code : refc;
            plainpc.src = pats[i].pattern;
            plain.pcre = &plainpc;
            rw_ctx_t fctx;
            memset(&fctx, 0, sizeof(fctx));
            with = regex_match(r, re, subjects[j], NULL);
            without = regex_match(r, &plain, subjects[j], NULL);
            if (re->lit)
                CHECK(!(cannot_match_fast(&fctx, re, subjects[j]) && without),
                      apr_psprintf(P, "fast prefilter %s on '%s'",
                                   pats[i].pattern, subjects[j]));
            CHECK_INT(without, with,
                      apr_psprintf(P, "prefilter %s on '%s'",
                                   pats[i].pattern, subjects[j]));
            if (with && without) {  /* the same $0..$9 either way */
                rw_match_t m1, m2;
                regex_match(r, re, subjects[j], &m1);
                regex_match(r, &plain, subjects[j], &m2);
                /* the pairs that count: the first n (match_ref) */
                CHECK(m1.n == m2.n &&
                      !memcmp(m1.ov, m2.ov, 2 * (size_t)m1.n * sizeof(int)),
                      apr_psprintf(P, "captures of %s on '%s' (cflags %d)",
                                   pats[i].pattern, subjects[j], cflags[f]));
            }
        }
        pcre2_code_free(refc);
    }
    unit_default_cflags = AP_REG_DEFAULT;
    {
        /* what PCRE2 says every match needs is read at compile time */
        rw_regex_t *re;
        rw_regex_compile(P, "^(.+)/comment-page-\\d+/?$", 0, &re);
        CHECK_INT(16, (int)re->pcre->minlen, "shortest subject of comment-page");
        CHECK_INT('-', re->pcre->need[0], "needed byte of comment-page");
        rw_regex_compile(P, "(?i)x\\.Y", 0, &re);
        CHECK(re->pcre->need[0] == 'x' && re->pcre->need[1] == 'y',
              "needed letters, lower-cased");
        rw_regex_compile(P, "(*UTF)(?i)k\\.", 0, &re);
        CHECK(re->pcre->need[0] == '.' && re->pcre->need[1] == 0,
              "no letters in UTF mode (k matches U+212A)");
    }
}

void test_exec(void)
{
    test_prefilter();
    test_escape_backref();
    test_escape_uri();
    test_is_absolute_uri();
    test_has_ctl_or_space();
    test_expand();
    test_lookup_var();
    test_conditions();
    test_file_conditions();
}
