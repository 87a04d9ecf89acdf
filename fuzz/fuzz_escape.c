/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * fuzz_escape: URL escaping and unescaping and query-string handling of
 * rewrite_exec.c (included, for its static functions) and the
 * int:unescape map (rewrite_map_int.c).
 *
 * Input: two mode bytes, then 5 pieces (fuzz_common.h):
 *   mode1 bit 0: [BNP]      bit 1: [BCTLS]
 *         bit 2: [B=only] (piece 2)   bit 3: [BNE=except] (piece 3)
 *         bit 4: [QSA]  bit 5: [QSD]  bit 6: [QSL]
 *         bit 7: the substitution ended in a lone '?' (discard)
 *   mode2 bit 0: [NE] (unescaped redirect)
 *         bit 1: directory context
 *         bit 2: the request has a query string (piece 5)
 *         bit 3: trace8 logging
 *   1 str     rw_escape_backref input
 *   2 only    its B= list
 *   3 except  its BNE= list
 *   4 uri     escape_uri, int:unescape, split_query, reduce_uri and
 *             do_redirect input (a rewritten URL, maybe with '?')
 *   5 args    the request's query string
 * Checked besides the sanitizers:
 *   - [B] output decodes back to its input whenever '%' and '+' are
 *     themselves escaped (so that the encoding is unambiguous);
 *   - escape_uri output uses only unreserved/sub-delim bytes and
 *     lowercase %xx, and int:unescape turns it back into the input;
 *   - split_query leaves no '?' in the URL (first '?' split) and no
 *     query string when discarding finds no '?';
 *   - an escaped redirect's Location has nothing unescaped after the
 *     host.
 */
#include "../rewrite_exec.c"

#include "fuzz_common.h"
#include "fuzz_check.h"

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes lowercase %xx (and '+' as a space when plus); NULL when s is
 * not such an encoding. */
static char *decode(apr_pool_t *p, const char *s, int plus)
{
    char *out = apr_palloc(p, strlen(s) + 1), *o = out;

    for (; *s; ++s) {
        if (*s == '%') {
            int hi = hexval((unsigned char)s[1]), lo;
            if (hi < 0 || (lo = hexval((unsigned char)s[2])) < 0)
                return NULL;
            *o++ = (char)(hi << 4 | lo);
            s += 2;
        }
        else if (*s == '+' && plus)
            *o++ = ' ';
        else
            *o++ = *s;
    }
    *o = '\0';
    return out;
}

static void check_backref(apr_pool_t *p, const char *str, const char *only,
                          const char *except, int noplus, int ctls)
{
    const char *out = rw_escape_backref(p, str, only, except, noplus, ctls);
    const char *probe = rw_escape_backref(p, "%+", only, except, noplus,
                                          ctls);
    const char *c;

    FZ_CHECK(strlen(out) <= 3 * strlen(str), "[B] output length");
    if (!strcmp(probe, "%25%2b")) {
        /* '%' and '+' escaped: the output is unambiguous, and a '+' in
         * it is a space */
        const char *back = decode(p, out, 1);
        apr_size_t a = 0, b = 0;
        FZ_CHECK(back != NULL, "[B] output is not %xx-encoded");
        FZ_CHECK(!strcmp(back, str), "[B] output does not decode back");
        /* letters, digits and '_' are never escaped, whatever the lists */
        for (c = str; *c; ++c)
            a += apr_isalnum(*c) || *c == '_';
        for (c = out; *c; ++c) {
            if (*c == '%') {
                c += 2;
                continue;
            }
            b += apr_isalnum(*c) || *c == '_';
        }
        FZ_CHECK(a == b, "[B] escaped a letter, digit or '_'");
    }
}

static void check_escape_uri(request_rec *r, const rw_map_t *unesc,
                             const char *uri)
{
    const char *out = escape_uri(r->pool, uri, 0), *c, *back;
    apr_size_t unsafe = 0;

    for (c = uri; *c; ++c)
        unsafe += !uri_safe((unsigned char)*c);
    FZ_CHECK(strlen(out) == strlen(uri) + 2 * unsafe, "escape_uri length");
    for (c = out; *c; ++c) {
        if (*c == '%') {
            FZ_CHECK(hexval((unsigned char)c[1]) >= 0 &&
                     hexval((unsigned char)c[2]) >= 0, "escape_uri %xx");
            c += 2;
        }
        else
            FZ_CHECK(uri_safe((unsigned char)*c), "escape_uri left a byte");
    }
    back = decode(r->pool, out, 0);
    FZ_CHECK(back && !strcmp(back, uri), "escape_uri does not decode");
    back = rw_map_lookup_log(r, unesc, out, NULL, NULL);
    FZ_CHECK(back && !strcmp(back, uri), "int:unescape of escape_uri");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    rw_map_pre_config(fz_global);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input_t in = { data, size };
    apr_pool_t *p;
    unsigned m1, m2;
    char *piece[5], *newuri, *orig;
    server_rec *s;
    request_rec *r;
    rw_rule_t rule;
    rw_ctx_t ctx;
    rw_map_t *unesc;
    cmd_parms cmd;
    char *u;
    const char *loc;
    int discard, had_q, pos = 0, rc;

    if (apr_pool_create(&p, fz_global) != APR_SUCCESS)
        abort();
    m1 = fz_byte(&in);
    m2 = fz_byte(&in);
    fz_split(p, &in, 5, piece);

    /* [B] family */
    check_backref(p, piece[0], (m1 & 4) ? piece[1] : NULL,
                  (m1 & 8) ? piece[2] : NULL, m1 & 1, m1 & 2);

    /* escape_uri, and int:unescape as its inverse */
    s = fz_server(p, (m2 & 8) ? APLOG_TRACE8 : APLOG_WARNING);
    r = fz_request(p, s, "/", (m2 & 4) ? piece[4] : NULL);
    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = p;
    cmd.temp_pool = p;
    cmd.server = s;
    if (rw_map_define(&cmd, "unesc", "int:unescape", NULL, &unesc))
        abort();
    check_escape_uri(r, unesc, piece[3]);
    (void)rw_map_lookup_log(r, unesc, piece[3], NULL, NULL); /* raw %xx too */
    FZ_CHECK(has_ctl_or_space(piece[3]) ==
             (strpbrk(piece[3], " \x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
                      "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                      "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f") != NULL),
             "has_ctl_or_space");

    /* split_query with QSA/QSD/QSL */
    memset(&rule, 0, sizeof(rule));
    rule.flags = ((m1 & 16) ? RW_RF_QSAPPEND : 0) |
                 ((m1 & 32) ? RW_RF_QSDISCARD : 0) |
                 ((m1 & 64) ? RW_RF_QSLAST : 0) |
                 ((m2 & 1) ? RW_RF_NOESCAPE : 0);
    rule.output = piece[3];
    memset(&ctx, 0, sizeof(ctx));
    ctx.r = r;
    ctx.orig_args = r->args;
    if (m2 & 2)
        ctx.perdir = "/var/www/html/";
    discard = (m1 & 128) != 0;
    orig = apr_pstrdup(p, piece[3]);
    newuri = apr_pstrdup(p, piece[3]);
    had_q = strchr(orig, '?') != NULL;
    split_query(&ctx, &rule, &newuri, discard);
    FZ_CHECK(newuri != NULL, "split_query lost the URL");
    if (rule.flags & RW_RF_QSDISCARD)
        discard = 1;
    else if (rule.flags & RW_RF_QSAPPEND)
        discard = 0;
    /* ftp://, ldap://... or a lone '?' at the end: no split at all */
    if (had_q && !(rule.flags & RW_RF_QSLAST) && !is_queryless_url(orig) &&
        !(m1 & 128))
        FZ_CHECK(!strchr(newuri, '?'), "'?' left in the URL");
    if (discard && !had_q && !is_queryless_url(orig))
        FZ_CHECK(r->args == NULL, "query string kept while discarding");
    FZ_CHECK(!strncmp(orig, newuri, strlen(newuri)), "URL is not a prefix");
    if (r->args)
        (void)strlen(r->args);

    /* the URL as a redirect (absolute ones also through reduce_uri) */
    u = reduce_uri(&ctx, newuri);
    r->filename = is_absolute_uri(u, &pos) ? u : fully_qualify(r, u);
    FZ_CHECK(is_absolute_uri(r->filename, &pos) &&
             (apr_size_t)pos <= strlen(r->filename), "absolute URL");
    r->status = HTTP_MOVED_PERMANENTLY;
    rc = do_redirect(&ctx, (m2 & 1) != 0);
    FZ_CHECK(rc == HTTP_MOVED_PERMANENTLY, "redirect status");
    loc = apr_table_get(r->headers_out, "Location");
    FZ_CHECK(loc != NULL, "no Location");
    /* escaped unless [NE], or the query is the request's own */
    if (!(m2 & 1) && (!r->args || !ctx.orig_args ||
                      strcmp(r->args, ctx.orig_args))) {
        const char *c = loc[pos - 1] == '/' ? loc + pos + strcspn(loc + pos,
                                                                  "/")
                                            : loc + pos;
        /* the query's '?'; an ldap URL's four field separators */
        int q = 0, qmax = strncasecmp(loc, "ldap:", 5) ? 1 : 4;
        for (; *c; ++c) {
            if (*c == '?' && q++ < qmax)
                continue;
            FZ_CHECK(*c == '%' || uri_safe((unsigned char)*c),
                     "unescaped byte in an escaped redirect");
        }
    }

    apr_pool_destroy(p);
    return 0;
}
