/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Config time: the directive handlers.  Every RewriteRule, RewriteCond
 * and RewriteMap is compiled here into the read-only structures of
 * include/rewrite.h: regexes (PCRE2, JIT), templates split into pieces,
 * flags into bits.  Error strings are worded like the stock module's so
 * that `apache2 -t` reads the same.
 */
#include "apr_strings.h"
#include "apr_lib.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_regex.h"
#include "apr_thread_mutex.h"
#include "apr_random.h"
#include "apr_general.h"
#include <unistd.h>

#include "rewrite.h"
#include "rewrite_stats.h"

APLOG_USE_MODULE(rewrite);

/* ------------------------------------------------------------------ */
/* Regular expressions                                                 */

/* Derives PCRE2 options from the server's RegexDefaultOptions, so that a
 * pattern here means what it means to every other module of httpd. */
uint32_t rw_pcre_options(int nocase)
{
    int cflags = ap_regcomp_get_default_cflags();
    uint32_t opts = 0;

    if (nocase || (cflags & AP_REG_ICASE))
        opts |= PCRE2_CASELESS;
    if (cflags & AP_REG_NEWLINE)
        opts |= PCRE2_MULTILINE;
    if (cflags & AP_REG_DOTALL)
        opts |= PCRE2_DOTALL;
    if (cflags & AP_REG_DOLLAR_ENDONLY)
        opts |= PCRE2_DOLLAR_ENDONLY;
    return opts;
}

/* The patterns compiled while the configuration is read, waiting for
 * their JIT code (rw_jit_all).  Written at config time only, by the one
 * thread that reads the configuration. */
static apr_array_header_t *jit_pending;

/* JIT code for re; jitted says the request path may enter it through
 * pcre2_jit_match, which skips pcre2_match's checks: not for a pattern
 * that turned UTF mode on itself ("(*UTF)"), whose subjects must still be
 * checked for valid UTF-8. */
static void jit_compile(rw_pcre_t *re)
{
    uint32_t all = 0;

    if (pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) != 0)
        return;
    pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &all);
    re->jitted = !(all & PCRE2_UTF);
}

void rw_jit_begin(apr_pool_t *pconf)
{
    jit_pending = apr_array_make(pconf, 64, sizeof(rw_pcre_t *));
}

void rw_jit_all(void)
{
    int i;

    /* httpd reads its configuration twice at startup, and the first one
     * never serves a request: no JIT code for it (the allocator's pages
     * it touched would stay in every process) */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        jit_pending = NULL;
    for (i = 0; jit_pending && i < jit_pending->nelts; ++i) {
        rw_pcre_t *re = APR_ARRAY_IDX(jit_pending, i, rw_pcre_t *);
        if (!re->nojit)
            jit_compile(re);
    }
    jit_pending = NULL;
}

static apr_status_t regex_cleanup(void *data)
{
    rw_pcre_t *re = data;
    pcre2_code_free(re->code);
    return APR_SUCCESS;
}

/* One literal character of a pattern at c: a plain character, or a
 * backslash before punctuation.  Returns its length in the pattern (0:
 * not a literal character) and the character in *ch. */
static int lit_char(const char *c, char *ch)
{
    if (*c == '\\') {
        if (!c[1] || apr_isalnum(c[1]))
            return 0;               /* \d, \Q, \1 ...: not a literal */
        *ch = c[1];
        return 2;
    }
    if (!*c || strchr(".[]()*+?{}^$|", *c))
        return 0;
    *ch = *c;
    return 1;
}

/* The whole of c as one literal with no quantifier, then an optional
 * final '$' (*end says whether): its length in out, 0 when c is not
 * that. */
static apr_size_t whole_literal(const char *c, char *out, int *end)
{
    apr_size_t n = 0;
    int k;
    char ch;

    while ((k = lit_char(c, &ch)) > 0) {
        if (c[k] && strchr("*+?{", c[k]))
            return 0;
        out[n++] = ch;
        c += k;
    }
    *end = c[0] == '$';
    return c[*end] == '\0' ? n : 0;
}

/* Finds the literal every match of pattern must start with ("^" and then
 * plain characters, stopping before anything that is not certain to
 * match exactly once), and whether the pattern is one of the shapes
 * decided without PCRE (rw_shape_t).  Patterns with '|' or with
 * multi-line '^' get neither. */
static void find_literal(apr_pool_t *p, const char *pat, int nocase,
                         rw_regex_t *re)
{
    int cflags = ap_regcomp_get_default_cflags();
    int dotall = (cflags & AP_REG_DOTALL) != 0;
    int endonly = (cflags & AP_REG_DOLLAR_ENDONLY) != 0;
    apr_size_t plen = strlen(pat);
    char small[256];
    char *lit = plen < sizeof(small) ? small : apr_palloc(p, plen + 1);
    apr_size_t n = 0;
    const char *c;
    int end, k;
    char ch;

    re->lit_nocase = nocase || (cflags & AP_REG_ICASE);
    if (strchr(pat, '|') || (cflags & AP_REG_NEWLINE))
        return;
    if (pat[0] != '^') {
        if (dotall && (!strcmp(pat, ".*") || !strcmp(pat, ".*$")))
            re->shape = RW_SHAPE_ALL;
        else if (dotall && !strcmp(pat, "."))
            re->shape = RW_SHAPE_ONE;
        else if ((n = whole_literal(pat, lit, &end)) > 0 &&
                 (!end || endonly)) {
            re->shape = end ? RW_SHAPE_SUFFIX : RW_SHAPE_CONTAINS;
            re->tail = apr_pstrmemdup(p, lit, n);
            re->taillen = (apr_uint32_t)n;
        }
        return;
    }
    for (c = pat + 1; (k = lit_char(c, &ch)) > 0; ) {
        const char *next = c + k;
        if (*next == '*' || *next == '?' || *next == '{')
            break;                  /* optional or counted: stop before */
        lit[n++] = ch;
        c = next;
        if (*next == '+')
            break;                  /* once at least: keep, then stop */
    }
    if (n > 0) {
        re->lit = apr_pstrmemdup(p, lit, n);
        re->litlen = n;
    }
    if (c[0] == '$' && c[1] == '\0' && endonly) {
        re->shape = RW_SHAPE_EXACT;
        re->lit_exact = 1;
        if (!re->lit)
            re->lit = "";           /* "^$": the prefilter tests s[0] */
        re->lithash = rw_lit_hash(re->lit, n, re->lit_nocase);
    }
    else if (*c == '\0')
        re->shape = RW_SHAPE_PREFIX;
    else if (dotall && (!strcmp(c, "(.*)$") || !strcmp(c, "(.*)")))
        re->shape = RW_SHAPE_REST;
    else if (dotall && (!strcmp(c, ".*") || !strcmp(c, ".*$")))
        re->shape = RW_SHAPE_ALL;
    else if (n == 0 && dotall && !strncmp(c, "(.*)", 4) &&
             (n = whole_literal(c + 4, lit, &end)) > 0 &&
             (!end || endonly)) {
        re->shape = end ? RW_SHAPE_ENDSPLIT : RW_SHAPE_LASTSPLIT;
        re->tail = apr_pstrmemdup(p, lit, n);
        re->taillen = (apr_uint32_t)n;
    }
}

/* A code unit PCRE2 says every match has (first or last: type 1) as a
 * byte to look for, lower-cased (a letter is looked for in both cases: a
 * caseless part of the pattern could match either); 0 for none.  Letters
 * only without UTF, where caseless matching stays within ASCII ("k" also
 * matches U+212A in UTF mode). */
static unsigned char need_byte(const pcre2_code *code, uint32_t what_type,
                               uint32_t what_unit, int utf)
{
    uint32_t type = 0, v = 0;

    if (pcre2_pattern_info(code, what_type, &type) != 0 || type != 1 ||
        pcre2_pattern_info(code, what_unit, &v) != 0 || v == 0 || v > 127 ||
        (utf && apr_isalpha(v)))
        return 0;
    return (unsigned char)apr_tolower(v);
}

/* The pattern info that rules subjects out before pcre2_match (see
 * rw_pcre_t.minlen and need). */
static void find_needs(rw_pcre_t *re)
{
    uint32_t v = 0, all = 0;
    int utf;

    if (pcre2_pattern_info(re->code, PCRE2_INFO_MINLENGTH, &v) == 0)
        re->minlen = v;
    pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &all);
    utf = (all & PCRE2_UTF) != 0;
    re->need[0] = need_byte(re->code, PCRE2_INFO_FIRSTCODETYPE,
                            PCRE2_INFO_FIRSTCODEUNIT, utf);
    re->need[1] = need_byte(re->code, PCRE2_INFO_LASTCODETYPE,
                            PCRE2_INFO_LASTCODEUNIT, utf);
    if (re->need[1] == re->need[0] || !re->need[0]) {
        re->need[0] = re->need[1];
        re->need[1] = 0;
    }
}

const char *rw_regex_compile(apr_pool_t *p, const char *pattern, int nocase,
                             rw_regex_t **out)
{
    int err;
    PCRE2_SIZE erroff;
    uint32_t ncaps = 0;
    pcre2_code *code;
    rw_regex_t *re = apr_pcalloc(p, sizeof(*re));

    /* An exact literal ("^/old/page-1$": plain characters between '^'
     * and '$', no group), a literal prefix alone or followed by "(.*)$",
     * and the other shapes of rw_shape_t ("^", ".", "\.css$", "gzip" ...)
     * are decided without PCRE: no compiled code at all, which at 10,000
     * such rules is most of the config time and of the memory, and no
     * JIT code or interpreter call for the commonest patterns. */
    find_literal(p, pattern, nocase, re);
    if (re->shape != RW_SHAPE_PCRE) {
        re->ncaps = re->shape == RW_SHAPE_REST ||
                    re->shape == RW_SHAPE_LASTSPLIT ||
                    re->shape == RW_SHAPE_ENDSPLIT;
        *out = re;
        return NULL;
    }
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         rw_pcre_options(nocase), &err, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
            apr_cpystrn((char *)msg, "unknown error", sizeof(msg));
        return apr_psprintf(p, "%s at offset %" APR_SIZE_T_FMT, (char *)msg,
                            (apr_size_t)erroff);
    }
    re->pcre = apr_pcalloc(p, sizeof(*re->pcre));
    re->pcre->code = code;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncaps);
    re->ncaps = (int)ncaps;
    find_needs(re->pcre);
    re->pcre->src = apr_pstrdup(p, pattern);
    apr_pool_cleanup_register(p, re->pcre, regex_cleanup,
                              apr_pool_cleanup_null);
    *out = re;
    return NULL;
}

int rw_pattern_backtracks(const char *pattern)
{
    const char *c;
    int anys = 0;

    for (c = pattern; *c; ++c) {
        if (*c == '\\') {
            if (!*++c)
                break;
            continue;
        }
        if (*c == '|' || (*c == '(' && c[1] == '?' &&
                          (c[2] == '=' || c[2] == '!' || c[2] == '<')) ||
            (*c == ')' && c[1] && strchr("*+?{", c[1])))
            return 1;
        /* ".*" twice: each split point of one is tried with the other */
        if (*c == '.' && (c[1] == '*' || c[1] == '+') && ++anys > 1)
            return 1;
    }
    return 0;
}

void rw_regex_jit(rw_regex_t *re)
{
    /* JIT is an optimisation only: fall back to the interpreter.  A
     * pattern decided without PCRE has no code.  While the configuration
     * is read the JIT waits for post_config (rw_jit_all): `apache2 -t`
     * does not pay for it, and patterns in long lists are left out. */
    if (!re || !re->pcre)
        return;
    if (jit_pending && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_RUN_MPM)
        APR_ARRAY_PUSH(jit_pending, rw_pcre_t *) = re->pcre;
    else
        jit_compile(re->pcre);
}

/* ------------------------------------------------------------------ */
/* Argument line                                                       */

/* Reads one word at *s: quoted ("..." or '...') or bare; a backslash
 * protects the next character and stays in the word.  Returns NULL at
 * the end of the line.  An unterminated quote runs to the end of the
 * line, as with the stock module. */
static char *next_word(apr_pool_t *p, const char **s)
{
    const char *c = *s, *start;
    char quote = 0;

    while (*c && apr_isspace(*c))
        ++c;
    if (!*c)
        return NULL;
    if (*c == '"' || *c == '\'')
        quote = *c++;
    start = c;
    for (; *c; ++c) {
        /* inside quotes a backslash is an ordinary character, and an
         * unterminated quote runs to the end of the line */
        if (quote) {
            if (*c == quote)
                break;
            continue;
        }
        if (*c == '\\' && c[1]) {
            ++c;
            continue;
        }
        if (apr_isspace(*c))
            break;
    }
    *s = *c ? c + 1 : c;
    return apr_pstrmemdup(p, start, (apr_size_t)(c - start));
}

const char *rw_split_args(apr_pool_t *p, const char *line,
                          char **a1, char **a2, char **a3)
{
    *a1 = next_word(p, &line);
    *a2 = *a1 ? next_word(p, &line) : NULL;
    *a3 = *a2 ? next_word(p, &line) : NULL;
    if (!*a2)
        return "bad argument line";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Variables and templates                                             */

static const struct {
    const char *name;
    rw_var_kind_t kind;
    const char *header;     /* request header for HTTP_* names */
} var_names[] = {
    { "HTTP_ACCEPT", RW_VAR_HEADER, "Accept" },
    { "HTTP_COOKIE", RW_VAR_HEADER, "Cookie" },
    { "HTTP_FORWARDED", RW_VAR_HEADER, "Forwarded" },
    { "HTTP_HOST", RW_VAR_HTTP_HOST, "Host" },
    { "HTTP_PROXY_CONNECTION", RW_VAR_HEADER, "Proxy-Connection" },
    { "HTTP_REFERER", RW_VAR_HEADER, "Referer" },
    { "HTTP_USER_AGENT", RW_VAR_HEADER, "User-Agent" },
    { "TIME_YEAR", RW_VAR_TIME_YEAR, NULL },
    { "TIME_MON", RW_VAR_TIME_MON, NULL },
    { "TIME_DAY", RW_VAR_TIME_DAY, NULL },
    { "TIME_HOUR", RW_VAR_TIME_HOUR, NULL },
    { "TIME_MIN", RW_VAR_TIME_MIN, NULL },
    { "TIME_SEC", RW_VAR_TIME_SEC, NULL },
    { "TIME_WDAY", RW_VAR_TIME_WDAY, NULL },
    { "TIME", RW_VAR_TIME, NULL },
    { "API_VERSION", RW_VAR_API_VERSION, NULL },
    { "AUTH_TYPE", RW_VAR_AUTH_TYPE, NULL },
    { "CONN_REMOTE_ADDR", RW_VAR_CONN_REMOTE_ADDR, NULL },
    { "CONTEXT_PREFIX", RW_VAR_CONTEXT_PREFIX, NULL },
    { "CONTEXT_DOCUMENT_ROOT", RW_VAR_CONTEXT_DOCUMENT_ROOT, NULL },
    { "IPV6", RW_VAR_IPV6, NULL },
    { "PATH_INFO", RW_VAR_PATH_INFO, NULL },
    { "QUERY_STRING", RW_VAR_QUERY_STRING, NULL },
    { "REMOTE_ADDR", RW_VAR_REMOTE_ADDR, NULL },
    { "REMOTE_HOST", RW_VAR_REMOTE_HOST, NULL },
    { "REMOTE_IDENT", RW_VAR_REMOTE_IDENT, NULL },
    { "REMOTE_PORT", RW_VAR_REMOTE_PORT, NULL },
    { "REMOTE_USER", RW_VAR_REMOTE_USER, NULL },
    { "REQUEST_METHOD", RW_VAR_REQUEST_METHOD, NULL },
    { "SCRIPT_FILENAME", RW_VAR_REQUEST_FILENAME, NULL },
    { "REQUEST_FILENAME", RW_VAR_REQUEST_FILENAME, NULL },
    { "DOCUMENT_ROOT", RW_VAR_DOCUMENT_ROOT, NULL },
    { "SCRIPT_GROUP", RW_VAR_SCRIPT_GROUP, NULL },
    { "SCRIPT_USER", RW_VAR_SCRIPT_USER, NULL },
    { "SERVER_ADDR", RW_VAR_SERVER_ADDR, NULL },
    { "SERVER_ADMIN", RW_VAR_SERVER_ADMIN, NULL },
    { "SERVER_NAME", RW_VAR_SERVER_NAME, NULL },
    { "SERVER_PORT", RW_VAR_SERVER_PORT, NULL },
    { "SERVER_PROTOCOL", RW_VAR_SERVER_PROTOCOL, NULL },
    { "SERVER_SOFTWARE", RW_VAR_SERVER_SOFTWARE, NULL },
    { "HTTPS", RW_VAR_HTTPS, NULL },
    { "IS_SUBREQ", RW_VAR_IS_SUBREQ, NULL },
    { "REQUEST_SCHEME", RW_VAR_REQUEST_SCHEME, NULL },
    { "REQUEST_URI", RW_VAR_REQUEST_URI, NULL },
    { "THE_REQUEST", RW_VAR_THE_REQUEST, NULL },
};

void rw_parse_var(apr_pool_t *p, const char *name, rw_var_t *out)
{
    static const struct { const char *prefix; rw_var_kind_t kind; } pre[] = {
        { "HTTP:", RW_VAR_HEADER }, { "ENV:", RW_VAR_ENV },
        { "SSL:", RW_VAR_SSL }, { "LA-U:", RW_VAR_LA_U },
        { "LA-F:", RW_VAR_LA_F },
    };
    apr_size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < sizeof(pre) / sizeof(pre[0]); ++i) {
        apr_size_t n = strlen(pre[i].prefix);
        if (!strncasecmp(name, pre[i].prefix, n)) {
            out->kind = pre[i].kind;
            out->arg = apr_pstrdup(p, name + n);
            /* %{HTTP:Host} is %{HTTP_HOST}: never in Vary */
            if (out->kind == RW_VAR_HEADER && !strcasecmp(out->arg, "Host"))
                out->kind = RW_VAR_HTTP_HOST;
            if (out->kind == RW_VAR_LA_U || out->kind == RW_VAR_LA_F) {
                rw_var_t *inner = apr_palloc(p, sizeof(*inner));
                rw_parse_var(p, out->arg, inner);
                out->inner = inner;
            }
            return;
        }
    }
    for (i = 0; i < sizeof(var_names) / sizeof(var_names[0]); ++i) {
        if (!strcasecmp(name, var_names[i].name)) {
            out->kind = var_names[i].kind;
            out->arg = var_names[i].header;
            return;
        }
    }
    out->kind = RW_VAR_UNKNOWN;
    out->arg = apr_pstrdup(p, name);
}

/* Position of the '}' closing a "{" at s[-1], honouring nested braces;
 * NULL when there is none. */
static const char *find_close(const char *s)
{
    int depth = 1;

    for (; *s; ++s) {
        if (*s == '{')
            ++depth;
        else if (*s == '}' && --depth == 0)
            return s;
    }
    return NULL;
}

/* Finds c at nesting depth 0 in [s, end); NULL when absent. */
static const char *find_top(const char *s, const char *end, char c)
{
    int depth = 0;

    for (; s < end; ++s) {
        if (*s == '{')
            ++depth;
        else if (*s == '}')
            --depth;
        else if (*s == c && depth == 0)
            return s;
    }
    return NULL;
}

static void add_lit(apr_array_header_t *pieces, const char *s, apr_size_t n)
{
    rw_piece_t *last = pieces->nelts
        ? &APR_ARRAY_IDX(pieces, pieces->nelts - 1, rw_piece_t) : NULL;

    if (!n)
        return;
    if (last && last->kind == RW_PIECE_LIT && last->lit + last->len == s) {
        last->len += n;     /* adjacent in the buffer: just extend */
        return;
    }
    last = apr_array_push(pieces);
    memset(last, 0, sizeof(*last));
    last->kind = RW_PIECE_LIT;
    last->lit = s;
    last->len = n;
}

static const char *parse_range(apr_pool_t *p, const char *text,
                               const char *end, const rw_tpl_t **out);

/* Literals point into one unescaped copy of the text; a piece's text
 * must stay contiguous, so escapes are resolved into buf as we go. */
static const char *parse_range(apr_pool_t *p, const char *s, const char *end,
                               const rw_tpl_t **out)
{
    rw_tpl_t *t = apr_pcalloc(p, sizeof(*t));
    apr_array_header_t *pieces;
    char *buf = apr_palloc(p, (apr_size_t)(end - s) + 1), *b = buf;
    const char *err, *c;
    rw_piece_t *pc;
    int most = 1;

    /* Sized for the most pieces the text can make, so that the array
     * never grows (a grown array leaves its old copy in the pool: that
     * is memory per rule, and sites have thousands of rules). */
    for (c = s; c < end; ++c)
        most += (*c == '$' || *c == '%' || *c == '\\') * 2;
    pieces = apr_array_make(p, most, sizeof(rw_piece_t));

    while (s < end) {
        if (*s == '\\' && s + 1 < end) {
            *b = s[1];
            add_lit(pieces, b++, 1);
            s += 2;
            continue;
        }
        if ((*s == '$' || *s == '%') && s + 1 < end && apr_isdigit(s[1])) {
            pc = apr_array_push(pieces);
            memset(pc, 0, sizeof(*pc));
            pc->kind = *s == '$' ? RW_PIECE_RULEREF : RW_PIECE_CONDREF;
            pc->n = s[1] - '0';
            s += 2;
            continue;
        }
        if (*s == '%' && s + 1 < end && s[1] == '{') {
            const char *close = strchr(s + 2, '}');   /* no nesting */
            if (close && close < end) {
                pc = apr_array_push(pieces);
                memset(pc, 0, sizeof(*pc));
                pc->kind = RW_PIECE_VAR;
                rw_parse_var(p, apr_pstrmemdup(p, s + 2, (apr_size_t)(close - (s + 2))),
                             &pc->var);
                s = close + 1;
                continue;
            }
        }
        if (*s == '$' && s + 1 < end && s[1] == '{') {
            const char *close = find_close(s + 2);
            const char *colon = close && close < end
                ? find_top(s + 2, close, ':') : NULL;
            if (colon) {
                const char *bar = find_top(colon + 1, close, '|');
                const rw_tpl_t *key, *dflt = NULL;
                if ((err = parse_range(p, colon + 1, bar ? bar : close, &key)))
                    return err;
                if (bar && (err = parse_range(p, bar + 1, close, &dflt)))
                    return err;
                pc = apr_array_push(pieces);
                memset(pc, 0, sizeof(*pc));
                pc->kind = RW_PIECE_MAP;
                pc->map = apr_pstrmemdup(p, s + 2, (apr_size_t)(colon - (s + 2)));
                pc->mapid = rw_map_name_id(pc->map);
                pc->key = key;
                pc->dflt = dflt;
                s = close + 1;
                continue;
            }
        }
        *b = *s++;
        add_lit(pieces, b++, 1);
    }
    t->npieces = pieces->nelts;
    t->pieces = (const rw_piece_t *)pieces->elts;
    if (t->npieces == 0)
        t->literal = "";
    else if (t->npieces == 1 && t->pieces[0].kind == RW_PIECE_LIT) {
        buf[t->pieces[0].len] = '\0';     /* the piece is all of buf */
        t->literal = buf;
    }
    *out = t;
    return NULL;
}

const char *rw_parse_template(apr_pool_t *p, const char *text,
                              const rw_tpl_t **out)
{
    return parse_range(p, text, text + strlen(text), out);
}

/* ------------------------------------------------------------------ */
/* Flags                                                               */

static void trim_end(char *s)
{
    char *e = s + strlen(s);
    while (e > s && apr_isspace(e[-1]))
        *--e = '\0';
}

/* Calls fn for each "key[=value]" of a "[...]" list; error or NULL. */
static const char *each_flag(apr_pool_t *p, const char *flags,
                             const char *(*fn)(apr_pool_t *, const char *,
                                               const char *, void *),
                             void *data)
{
    apr_size_t len = strlen(flags);
    char *list, *tok, *last, *val;
    const char *err;

    if (len < 2 || flags[0] != '[' || flags[len - 1] != ']')
        return "bad flag delimiters";
    list = apr_pstrmemdup(p, flags + 1, len - 2);
    /* Split by hand: empty items are errors, as in the stock module. */
    for (tok = list; tok; tok = last) {
        last = strchr(tok, ',');
        if (last)
            *last++ = '\0';
        while (apr_isspace(*tok))
            ++tok;
        trim_end(tok);      /* "L " is L, but "R =301" is unknown */
        val = strchr(tok, '=');
        if (val)
            *val++ = '\0';
        if ((err = fn(p, tok, val, data)))
            return err;
    }
    return NULL;
}

/* The first letters are compared before the whole names: a flag list
 * is tried against some forty names, and 10,000 rules are common. */
static int is_flag(const char *key, const char *shrt, const char *lng)
{
    int c = apr_toupper((unsigned char)*key);

    return (c == apr_toupper((unsigned char)*shrt) && !strcasecmp(key, shrt)) ||
           (lng && c == apr_toupper((unsigned char)*lng) &&
            !strcasecmp(key, lng));
}

/* The status codes the stock module accepts for R=code. */
static int valid_status(int code)
{
    static const short ok[] = {
        100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208,
        226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403,
        404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
        417, 421, 422, 423, 424, 426, 428, 429, 431, 451, 500, 501, 502,
        503, 504, 505, 506, 507, 508, 510, 511
    };
    apr_size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); ++i)
        if (ok[i] == code)
            return 1;
    return 0;
}

static const char *tpl_or_null(apr_pool_t *p, const char *val,
                               const rw_tpl_t **out)
{
    *out = NULL;
    return val ? rw_parse_template(p, val, out) : NULL;
}

/* A flag that only sets a bit: its short and long names. */
typedef struct {
    const char *shrt, *lng;
    unsigned bit;
} bit_flag_t;

/* Sets the bit of key's flag in *flags; 0 when key is none of them. */
static int set_bit_flag(const bit_flag_t *t, apr_size_t n, const char *key,
                        unsigned *flags)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        if (is_flag(key, t[i].shrt, t[i].lng)) {
            *flags |= t[i].bit;
            return 1;
        }
    }
    return 0;
}

static const bit_flag_t rule_bits[] = {
    { "BNP", "backrefernoplus", RW_RF_NOPLUS },
    { "BCTLS", NULL, RW_RF_ESCAPECTLS },
    { "C", "chain", RW_RF_CHAIN },
    { "END", NULL, RW_RF_END },
    { "L", "last", RW_RF_LAST },
    { "NC", "nocase", RW_RF_NOCASE },
    { "NE", "noescape", RW_RF_NOESCAPE },
    { "NS", "nosubreq", RW_RF_NOSUBREQ },
    { "P", "proxy", RW_RF_PROXY },
    { "PT", "passthrough", RW_RF_PASSTHROUGH },
    { "QSA", "qsappend", RW_RF_QSAPPEND },
    { "QSD", "qsdiscard", RW_RF_QSDISCARD },
    { "QSL", "qslast", RW_RF_QSLAST },
    { "UNC", NULL, RW_RF_UNC },
    { "UnsafeAllow3F", NULL, RW_RF_UNSAFE_3F },
    { "UnsafePrefixStat", NULL, RW_RF_UNSAFE_PREFIX },
};

static const char *rule_flag(apr_pool_t *p, const char *key, const char *val,
                             void *data)
{
    rw_rule_t *r = data;
    const char *err;

    if (set_bit_flag(rule_bits, sizeof(rule_bits) / sizeof(rule_bits[0]),
                     key, &r->flags))
        return NULL;
    if (is_flag(key, "B", "backrefescaping")) {
        r->flags |= RW_RF_ESCAPEBACKREF;
        if (val && *val)
            r->bchars = val;
    }
    else if (is_flag(key, "BNE", NULL)) {
        if (!val || !*val)
            return "flag 'BNE' wants a list of characters (i.e. [BNE=...])";
        r->bnechars = val;
    }
    else if (is_flag(key, "CO", "cookie")) {
        const rw_tpl_t *t;
        if (val) {
            if ((err = rw_parse_template(p, val, &t)))
                return err;
            if (!r->cookies)
                r->cookies = apr_array_make(p, 2, sizeof(const rw_tpl_t *));
            APR_ARRAY_PUSH(r->cookies, const rw_tpl_t *) = t;
        }
    }
    else if (*key == 'd' || *key == 'D')   /* stock takes any D... as DPI */
        r->flags |= RW_RF_DISCARDPATH;
    else if (is_flag(key, "E", "env")) {
        rw_env_t *e;
        if (val) {
            if (!r->env)
                r->env = apr_array_make(p, 2, sizeof(rw_env_t));
            e = apr_array_push(r->env);
            if ((err = rw_parse_template(p, val, &e->spec)))
                return err;
        }
    }
    else if (is_flag(key, "F", "forbidden")) {
        r->flags |= RW_RF_STATUS;
        r->status = HTTP_FORBIDDEN;
    }
    else if (is_flag(key, "G", "gone")) {
        r->flags |= RW_RF_STATUS;
        r->status = HTTP_GONE;
    }
    else if (is_flag(key, "H", "handler")) {
        if ((err = tpl_or_null(p, val, &r->handler_tpl)))
            return err;
    }
    else if (is_flag(key, "N", "next")) {
        r->flags |= RW_RF_NEXT;
        if (val && *val)
            r->maxrounds = atoi(val);
    }
    else if (is_flag(key, "R", "redirect")) {
        /* R without a code keeps one set before (F, G, R=...); an answer
         * status set before is not undone by a later redirect code */
        int code = (r->status && (!val || !*val)) ? r->status
                                                  : HTTP_MOVED_TEMPORARILY;
        if (val && apr_isdigit(*val)) {
            code = atoi(val);
            if (!valid_status(code))
                return apr_psprintf(p, "invalid HTTP response code '%s' for "
                                    "flag 'R'", val);
        }
        else if (val && !strcasecmp(val, "permanent"))
            code = HTTP_MOVED_PERMANENTLY;
        else if (val && !strcasecmp(val, "temp"))
            code = HTTP_MOVED_TEMPORARILY;
        else if (val && !strcasecmp(val, "seeother"))
            code = HTTP_SEE_OTHER;
        r->status = code;
        r->flags |= RW_RF_RFLAG |
                    (ap_is_HTTP_REDIRECT(code) ? RW_RF_REDIRECT : RW_RF_STATUS);
    }
    else if (is_flag(key, "S", "skip")) {
        r->flags |= RW_RF_SKIP;
        r->skip = val ? atoi(val) : 0;
    }
    else if (is_flag(key, "T", "type")) {
        if ((err = tpl_or_null(p, val, &r->type_tpl)))
            return err;
    }
    else
        return apr_psprintf(p, "unknown flag '%s'", key);
    return NULL;
}

const char *rw_parse_rule_flags(apr_pool_t *p, const char *flags,
                                rw_rule_t *rule)
{
    return each_flag(p, flags, rule_flag, rule);
}

static const char *cond_flag(apr_pool_t *p, const char *key, const char *val,
                             void *data)
{
    static const bit_flag_t bits[] = {
        { "NC", "nocase", RW_CF_NOCASE },
        { "OR", "ornext", RW_CF_ORNEXT },
        { "NV", "novary", RW_CF_NOVARY },
    };
    rw_cond_t *c = data;

    if (!set_bit_flag(bits, sizeof(bits) / sizeof(bits[0]), key, &c->flags))
        return apr_psprintf(p, "unknown flag '%s'", key);
    return NULL;
}

const char *rw_parse_cond_flags(apr_pool_t *p, const char *flags,
                                rw_cond_t *cond)
{
    return each_flag(p, flags, cond_flag, cond);
}

/* ------------------------------------------------------------------ */
/* CondPattern                                                         */

const char *rw_parse_cond_pattern(apr_pool_t *p, const char *pat,
                                  rw_cond_t *c)
{
#define LT RW_CMP_LESS
#define EQ RW_CMP_EQUAL
#define GT RW_CMP_MORE
    static const struct {
        const char *op;
        rw_cond_kind_t kind;
        unsigned accept;
    } ops[] = {
        { "-eq", RW_COND_INT_EQ, EQ }, { "-ge", RW_COND_INT_GE, GT | EQ },
        { "-gt", RW_COND_INT_GT, GT }, { "-le", RW_COND_INT_LE, LT | EQ },
        { "-lt", RW_COND_INT_LT, LT }, { "-ne", RW_COND_INT_NE, LT | GT },
        { "<=", RW_COND_STR_LE, LT | EQ }, { ">=", RW_COND_STR_GE, GT | EQ },
        { "<", RW_COND_STR_LT, LT }, { ">", RW_COND_STR_GT, GT },
        { "=", RW_COND_STR_EQ, EQ },
    };
#undef LT
#undef EQ
#undef GT
    static const struct { char letter; rw_cond_kind_t kind; } tests[] = {
        { 'f', RW_COND_FILE }, { 's', RW_COND_FILE_SIZE },
        { 'd', RW_COND_DIR }, { 'l', RW_COND_LINK }, { 'L', RW_COND_LINK },
        { 'h', RW_COND_LINK }, { 'x', RW_COND_EXEC },
        { 'F', RW_COND_FILE_SUB }, { 'U', RW_COND_URL_SUB },
    };
    apr_size_t i;

    if (*pat == '!') {
        c->negate = 1;
        ++pat;
    }
    c->pattern = pat;
    c->kind = RW_COND_REGEX;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); ++i) {
        apr_size_t n = strlen(ops[i].op);
        if (!strncmp(pat, ops[i].op, n)) {
            /* "=", "<", ">" and the integer operators need an operand;
             * bare, they are regular expressions */
            if (!pat[n] && (n == 1 || ops[i].kind >= RW_COND_INT_LT))
                break;
            c->kind = ops[i].kind;
            c->operand = pat + n;
            if (c->kind == RW_COND_STR_EQ && !strcmp(c->operand, "\"\""))
                c->operand = "";
            c->oplen = strlen(c->operand);
            /* an int, as the stock module reads it */
            c->opint = (int)strtol(c->operand, NULL, 10);
            c->accept = ops[i].accept;
            return NULL;
        }
    }
    if (pat[0] == '-' && pat[1] && !pat[2]) {
        for (i = 0; i < sizeof(tests) / sizeof(tests[0]); ++i) {
            if (tests[i].letter == pat[1]) {
                c->kind = tests[i].kind;
                return NULL;
            }
        }
    }
    return rw_regex_compile(p, pat, c->flags & RW_CF_NOCASE, &c->re);
}

/* ------------------------------------------------------------------ */
/* Directive handlers                                                  */

static const char *where(cmd_parms *cmd)
{
    return cmd->directive ? cmd->directive->filename : "?";
}

static int line_of(cmd_parms *cmd)
{
    return cmd->directive ? cmd->directive->line_num : 0;
}

const char *rw_cmd_engine(cmd_parms *cmd, void *dconf, int flag)
{
    rw_dir_conf_t *dc = dconf;

    /* In server context dconf is the server's default per-directory
     * record: every <Directory>, <Location> and .htaccess of the server
     * (and, from the main server, of every vhost) inherits the state
     * from it, as with the stock module. */
    if (dc)
        dc->state = flag ? 1 : 0;
    if (cmd->path == NULL) {
        rw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                    &rewrite_module);
        sc->state = flag ? 1 : 0;
    }
    return NULL;
}

const char *rw_cmd_options(cmd_parms *cmd, void *dconf, const char *opt)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "inherit", RW_OPT_INHERIT },
        { "inheritbefore", RW_OPT_INHERIT_BEFORE },
        { "inheritdown", RW_OPT_INHERIT_DOWN },
        { "inheritdownbefore", RW_OPT_INHERIT_DOWN_BEFORE },
        { "ignoreinherit", RW_OPT_IGNORE_INHERIT },
        { "allownoslash", RW_OPT_NOSLASH },
        { "allowanyuri", RW_OPT_ANYURI },
        { "mergebase", RW_OPT_MERGEBASE },
        { "ignorecontextinfo", RW_OPT_IGNORE_CONTEXT_INFO },
        { "legacyprefixdocroot", RW_OPT_LEGACY_PREFIX_DOCROOT },
        { "unsafeprefixstat", RW_OPT_UNSAFE_PREFIX },
    };
    unsigned bit = 0;
    apr_size_t i;

    if (!strncasecmp(opt, "MaxRedirects=", 13)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, APLOGNO(00664)
                     "RewriteOptions: MaxRedirects option has been removed in "
                     "favor of the global LimitInternalRecursion directive "
                     "and will be ignored.");
        return NULL;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); ++i)
        if (!strcasecmp(opt, names[i].name))
            bit = names[i].bit;
    if (!bit)
        return apr_pstrcat(cmd->pool, "RewriteOptions: unknown option '",
                           opt, "'", NULL);
    {
        /* in server context dconf is the server's default per-directory
         * record: its sections and .htaccess files without a
         * RewriteOptions line of their own take the options from it, as
         * with the stock module (like RewriteEngine) */
        rw_dir_conf_t *dc = dconf;
        if (dc) {
            dc->options |= bit;
            dc->options_set = 1;
        }
    }
    if (cmd->path == NULL) {
        rw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                    &rewrite_module);
        sc->options |= bit;
        sc->options_set = 1;
    }
    return NULL;
}

const char *rw_cmd_base(cmd_parms *cmd, void *dconf, const char *a)
{
    rw_dir_conf_t *dc = dconf;

    if (cmd->path == NULL || dconf == NULL)
        return "RewriteBase: only valid in per-directory config files";
    if (a[0] == '\0')
        return "RewriteBase: empty URL not allowed";
    if (a[0] != '/')
        return "RewriteBase: argument is not a valid URL";
    dc->baseurl = a;
    dc->baseurl_set = 1;
    return NULL;
}

/* The pending-conditions list and the rules array of the context the
 * directive sits in. */
static void context_lists(cmd_parms *cmd, void *dconf,
                          apr_array_header_t **pending,
                          apr_array_header_t **rules)
{
    if (cmd->path == NULL) {
        rw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                    &rewrite_module);
        *pending = sc->pending;
        *rules = sc->rules;
    }
    else {
        rw_dir_conf_t *dc = dconf;
        *pending = dc->pending;
        *rules = dc->rules;
    }
}

/* ------------------------------------------------------------------ */
/* Compiled-line cache for .htaccess                                    */

/* httpd re-reads .htaccess files on every request and runs the directive
 * handlers again; without a cache every pattern would be compiled again
 * each time.  A rule or condition depends only on its argument line (and
 * on RegexDefaultOptions, fixed after startup), so compiled lines are kept
 * per process, keyed by the line.
 *
 * Whoever can write an .htaccess chooses the keys, so the cache must cost
 * other sites nothing:
 *  - it is bounded in bytes (RW_HTCACHE_BYTES, 8 MiB a process), and the
 *    least recently used lines are evicted to make room; a line costing
 *    more than 1/16 of that is not kept;
 *  - the hash is SipHash-1-3 (the variant Rust and Python use for their
 *    hash tables: half the rounds of SipHash-2-4, the same construction)
 *    keyed with a random seed drawn at startup, so lines cannot be made
 *    to collide;
 *  - lines are compiled outside the lock, which only guards the hash, the
 *    LRU list and the reference counts (a few pointer moves).
 * The lines a request compiles go into one pool, its batch (a pool per
 * line would take an 8 KiB node each: a site's .htaccess would cost
 * several times its size in every process).  A batch is freed when none
 * of its lines is in the cache any more and no request uses one (requests
 * hold a reference until their pool goes away); until then everything
 * compiled into it counts against the budget, lines evicted or replaced
 * included.  An edited .htaccess has new lines, hence new keys: it takes
 * effect on the next request, and the old lines age out. */
#ifndef RW_HTCACHE_BYTES
#define RW_HTCACHE_BYTES (8u << 20)
#endif
/* APR pools take memory in 8 KiB nodes: a batch costs at least one */
#define RW_HTCACHE_NODE 8192u
/* the request pool's note of the batch it compiles into */
#define RW_HTBATCH_KEY "rewrite-htcache-batch"

typedef struct line_cache_t line_cache_t;
typedef struct htbatch_t htbatch_t;
typedef struct htentry_t htentry_t;

struct htbatch_t {
    line_cache_t *cache;
    apr_pool_t *pool;           /* holds the batch itself and its lines */
    apr_size_t bytes;           /* charged to the budget until freed */
    int refs;                   /* its entries in the cache + requests */
    htbatch_t *next;            /* victims list (lock released) */
};

struct htentry_t {
    htbatch_t *batch;           /* where key and compiled line live */
    htentry_t *prev, *next;     /* LRU list, most recent first */
    apr_hash_t *table;          /* the table it is in */
    const char *line;           /* the key */
    void *data;                 /* rw_rule_t (conds not attached) or rw_cond_t */
};

struct line_cache_t {
    apr_thread_mutex_t *lock;   /* guards everything below */
    apr_pool_t *pool;           /* the tables */
    apr_allocator_t *alloc;     /* the batches' pools' (with a mutex) */
    apr_thread_mutex_t *alloc_lock;
    apr_hash_t *rules;          /* line -> htentry_t of a rw_rule_t */
    apr_hash_t *conds;          /* line -> htentry_t of a rw_cond_t */
    htentry_t *head, *tail;     /* LRU list */
    apr_size_t bytes;           /* sum of the live batches' charges */
    apr_size_t budget;
};

/* Created at config time (rw_parse_init); only its guarded fields
 * change at request time.  The SipHash key is drawn at config time and
 * only read afterwards. */
static line_cache_t *cache;
static uint64_t sip_k0, sip_k1;

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
    } while (0)

/** SipHash-c-d of s[0..n) under the key (k0, k1): c rounds a block, d
 *  to finish.  One code for both: the unit tests check it with the
 *  SipHash-2-4 reference vectors, the cache uses 1-3. */
static APR_INLINE uint64_t siphash_cd(uint64_t k0, uint64_t k1,
                                      const unsigned char *s, apr_size_t n,
                                      int c, int d)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t b = (uint64_t)n << 56, m;
    apr_size_t i, left = n & 7;
    int j, r;

    for (i = 0; i + 8 <= n; i += 8) {
        /* the block read as a little-endian word: one load */
        memcpy(&m, s + i, sizeof(m));
#if APR_IS_BIGENDIAN
        m = __builtin_bswap64(m);
#endif
        v3 ^= m;
        for (r = 0; r < c; ++r)
            SIPROUND;
        v0 ^= m;
    }
    for (j = (int)left - 1; j >= 0; --j)
        b |= (uint64_t)s[i + (apr_size_t)j] << (8 * j);
    v3 ^= b;
    for (r = 0; r < c; ++r)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (r = 0; r < d; ++r)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *s,
                          apr_size_t n)
{
    return siphash_cd(k0, k1, s, n, 1, 3);
}

/* apr_hash's hash function: SipHash under the process's random key. */
unsigned int rw_hash_keyed(const char *key, apr_ssize_t *klen)
{
    if (*klen == APR_HASH_KEY_STRING)
        *klen = (apr_ssize_t)strlen(key);
    return (unsigned int)siphash13(sip_k0, sip_k1, (const unsigned char *)key,
                                 (apr_size_t)*klen);
}

static void lru_unlink(line_cache_t *c, htentry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(line_cache_t *c, htentry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* Drops a reference to b (lock held).  Returns b when that was the last
 * one (the caller destroys its pool after unlocking), else NULL. */
static htbatch_t *batch_unref(line_cache_t *c, htbatch_t *b)
{
    if (--b->refs > 0)
        return NULL;
    c->bytes -= b->bytes;
    return b;
}

/* Takes e out of the cache (lock held).  Returns its batch when nobody
 * holds that any more (to be destroyed after unlocking), else NULL. */
static htbatch_t *evict(line_cache_t *c, htentry_t *e)
{
    apr_hash_set(e->table, e->line, APR_HASH_KEY_STRING, NULL);
    lru_unlink(c, e);
    return batch_unref(c, e->batch);
}


/* Cleanup of the tables' pool (a child of the config pool): frees the
 * batches (no request is running when the configuration goes away). */
static apr_status_t cache_cleanup(void *data)
{
    line_cache_t *c = data;

    while (c->tail) {
        htbatch_t *b = evict(c, c->tail);
        if (b)
            apr_pool_destroy(b->pool);
    }
    if (c->pool)
        apr_pool_destroy(c->pool);
    if (c->alloc)
        apr_allocator_destroy(c->alloc);
    if (cache == c)
        cache = NULL;
    return APR_SUCCESS;
}

/* The tables, made on the first .htaccess line (lock held): a server
 * without .htaccess files does not carry them.  0 when they cannot be. */
static int cache_tables(line_cache_t *c)
{
    if (c->pool)
        return 1;
    if (apr_pool_create_unmanaged_ex(&c->pool, NULL, c->alloc) != APR_SUCCESS) {
        c->pool = NULL;
        return 0;
    }
    c->rules = apr_hash_make_custom(c->pool, rw_hash_keyed);
    c->conds = apr_hash_make_custom(c->pool, rw_hash_keyed);
    return 1;
}

void rw_parse_init(apr_pool_t *pconf)
{
    line_cache_t *c = apr_pcalloc(pconf, sizeof(*c));
    unsigned char seed[16];
    int i;

    if (apr_generate_random_bytes(seed, sizeof(seed)) != APR_SUCCESS) {
        /* no entropy source: the clock and the pid, better than none */
        apr_uint64_t t = (apr_uint64_t)apr_time_now() ^
                         ((apr_uint64_t)getpid() << 32);
        for (i = 0; i < 16; ++i)
            seed[i] = (unsigned char)(t >> (8 * (i & 7))) ^ (unsigned char)i;
    }
    for (sip_k0 = sip_k1 = 0, i = 0; i < 8; ++i) {
        sip_k0 = (sip_k0 << 8) | seed[i];
        sip_k1 = (sip_k1 << 8) | seed[8 + i];
    }
    /* the tables grow at request time, under the lock, in a pool of
     * their own (cache_tables), from the batches' allocator; the batches'
     * pools share that allocator, which keeps the memory of freed batches
     * for the next ones (up to the budget) instead of handing it back to
     * malloc: a cache that churns does not scatter free blocks over the
     * threads' malloc arenas */
    if (apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, pconf) ||
        apr_allocator_create(&c->alloc))
        return;
    if (apr_thread_mutex_create(&c->alloc_lock, APR_THREAD_MUTEX_DEFAULT,
                                pconf)) {
        apr_allocator_destroy(c->alloc);
        return;
    }
    apr_allocator_mutex_set(c->alloc, c->alloc_lock);
    apr_allocator_max_free_set(c->alloc, RW_HTCACHE_BYTES);
    c->budget = RW_HTCACHE_BYTES;
    apr_pool_cleanup_register(pconf, c, cache_cleanup, apr_pool_cleanup_null);
    cache = c;
}

/* Bytes a compiled regex holds outside its pool (PCRE2 code, JIT code). */
static apr_size_t regex_bytes(const rw_regex_t *re)
{
    size_t code = 0, jit = 0;

    if (!re || !re->pcre)
        return 0;
    pcre2_pattern_info(re->pcre->code, PCRE2_INFO_SIZE, &code);
    if (pcre2_pattern_info(re->pcre->code, PCRE2_INFO_JITSIZE, &jit) != 0)
        jit = 0;
    return code + jit;
}

/* What a compiled line costs: its share of the batch's pool (the
 * compiled line takes about six times the line: words, pattern, template
 * pieces, literal prefilter, plus the structures) and the regex code
 * outside it; data NULL for a line that did not compile. */
static apr_size_t line_cost(const char *line, int conds, const void *data)
{
    apr_size_t cost = sizeof(htentry_t) + 6 * strlen(line) + 1024;

    if (data)
        cost += regex_bytes(conds ? ((const rw_cond_t *)data)->re
                                  : ((const rw_rule_t *)data)->re);
    return cost;
}

/* Comparisons NC does not apply to: integers, file tests, expr. */
static int is_nocase_less(rw_cond_kind_t k)
{
    return k >= RW_COND_INT_LT;
}

/* Compiles a RewriteCond line other than "expr" into c, from pool p. */
static const char *compile_cond(apr_pool_t *p, const char *line,
                                rw_cond_t *c)
{
    char *a1, *a2, *a3;
    const char *err;

    if (rw_split_args(p, line, &a1, &a2, &a3))
        return apr_pstrcat(p, "RewriteCond: bad argument line '", line, "'",
                           NULL);
    memset(c, 0, sizeof(*c));
    if (a3 && (err = rw_parse_cond_flags(p, a3, c)))
        return apr_pstrcat(p, "RewriteCond: ", err, NULL);
    if ((err = rw_parse_template(p, a1, &c->input)))
        return apr_pstrcat(p, "RewriteCond: ", err, NULL);
    /* the stock module's wording, then PCRE2's reason */
    if ((err = rw_parse_cond_pattern(p, a2, c)))
        return apr_pstrcat(p, "RewriteCond: cannot compile regular "
                           "expression '", c->pattern, "' (", err, ")", NULL);
    return NULL;
}

/* Compiles a RewriteRule line into r (without conditions), from pool p. */
static const char *compile_rule(apr_pool_t *p, const char *line,
                                rw_rule_t *r)
{
    char *a1, *a2, *a3;
    const char *err;
    apr_size_t n;

    if (rw_split_args(p, line, &a1, &a2, &a3))
        return apr_pstrcat(p, "RewriteRule: bad argument line '", line, "'",
                           NULL);
    memset(r, 0, sizeof(*r));
    r->maxrounds = RW_MAX_ROUNDS;
    if (a3 && (err = rw_parse_rule_flags(p, a3, r)))
        return apr_pstrcat(p, "RewriteRule: ", err, NULL);
    if (*a1 == '!') {
        r->negate = 1;
        ++a1;
    }
    r->pattern = a1;
    if ((err = rw_regex_compile(p, a1, r->flags & RW_RF_NOCASE, &r->re)))
        return apr_pstrcat(p, "RewriteRule: cannot compile regular "
                           "expression '", a1, "' (", err, ")", NULL);
    /* a trailing '?' only says "drop the query string" */
    n = strlen(a2);
    if (n > 1 && a2[n - 1] == '?' && a2[n - 2] != '\\' &&
        !(r->flags & RW_RF_QSAPPEND)) {
        a2[n - 1] = '\0';
        r->flags |= RW_RF_QSNONE;
    }
    r->output = a2;
    if (a2[0] == '/' && a2[1] == '/')
        r->flags |= RW_RF_OUT_DSLASH;
    if (strcmp(a2, "-") != 0 && (err = rw_parse_template(p, a2, &r->subst)))
        return apr_pstrcat(p, "RewriteRule: ", err, NULL);
    return NULL;
}

/* Evicts least recently used entries (lock held) until the cache is
 * within its budget, sparing the most recent one (just added); returns
 * the batches nobody holds any more, chained on next and prepended to
 * victims, for free_victims() after unlocking.  Bytes go down when a
 * batch goes: lines of a batch in use by a running request stay charged
 * until it ends. */
static htbatch_t *shrink(line_cache_t *c, htbatch_t *victims)
{
    while (c->bytes > c->budget && c->tail && c->tail != c->head) {
        htbatch_t *v = evict(c, c->tail);
        if (v) {
            v->next = victims;
            victims = v;
        }
    }
    return victims;
}

static void free_victims(htbatch_t *victims)
{
    while (victims) {
        htbatch_t *v = victims;
        victims = v->next;
        apr_pool_destroy(v->pool);
    }
}

/* Request pool cleanup: the request no longer uses the batch.  What it
 * compiled is charged from now on like any other batch: the cache is
 * brought back within its budget (a request with many new lines may
 * have taken it over). */
static apr_status_t release_batch(void *data)
{
    htbatch_t *b = data;
    line_cache_t *c = b->cache;
    htbatch_t *victims;

    apr_thread_mutex_lock(c->lock);
    victims = batch_unref(c, b);
    if (victims)
        victims->next = NULL;
    victims = shrink(c, victims);
    apr_thread_mutex_unlock(c->lock);
    free_victims(victims);
    return APR_SUCCESS;
}

/* The regex of a compiled rule or condition, or NULL. */
static rw_regex_t *data_regex(int conds, void *data)
{
    return conds ? ((rw_cond_t *)data)->re : ((rw_rule_t *)data)->re;
}

/* The batch this request compiles into, made on its first miss: the
 * request holds a reference to it until its pool goes away.  Only this
 * request allocates from it (others only read the lines it published).
 * NULL when no pool can be made. */
static htbatch_t *request_batch(line_cache_t *c, apr_pool_t *rp)
{
    void *v = NULL;
    apr_pool_t *bp;
    htbatch_t *b;

    apr_pool_userdata_get(&v, RW_HTBATCH_KEY, rp);
    if (v)
        return v;
    if (apr_pool_create_unmanaged_ex(&bp, NULL, c->alloc) != APR_SUCCESS)
        return NULL;
    b = apr_pcalloc(bp, sizeof(*b));
    b->cache = c;
    b->pool = bp;
    b->refs = 1;
    apr_thread_mutex_lock(c->lock);
    b->bytes = RW_HTCACHE_NODE;
    c->bytes += b->bytes;
    apr_thread_mutex_unlock(c->lock);
    apr_pool_userdata_setn(b, RW_HTBATCH_KEY, NULL, rp);
    apr_pool_cleanup_register(rp, b, release_batch, apr_pool_cleanup_null);
    return b;
}

/* Compiles line with fn into a new entry of batch b (no lock needed:
 * nobody else sees it yet, and only this request allocates from b).
 * *cost: what it charges to the budget.  NULL on error, with *err in p. */
static htentry_t *entry_new(htbatch_t *b, apr_hash_t *table, int conds,
                            const char *line, size_t size,
                            const char *(*fn)(apr_pool_t *, const char *,
                                              void *),
                            apr_pool_t *p, apr_size_t *cost,
                            const char **err)
{
    htentry_t *e = apr_pcalloc(b->pool, sizeof(*e));

    e->batch = b;
    e->table = table;
    e->line = apr_pstrdup(b->pool, line);
    e->data = apr_palloc(b->pool, size);
    if ((*err = fn(b->pool, e->line, e->data))) {
        *err = apr_pstrdup(p, *err);
        *cost = line_cost(line, conds, NULL);
        return NULL;
    }
    *cost = line_cost(line, conds, e->data);
    return e;
}

/* Lists e in its table and the LRU (lock held); the entry holds a
 * reference to its batch. */
static void publish(line_cache_t *c, htentry_t *e)
{
    apr_hash_set(e->table, e->line, APR_HASH_KEY_STRING, e);
    lru_push(c, e);
    ++e->batch->refs;
}

/* Charges cost to b (lock held). */
static void charge(line_cache_t *c, htbatch_t *b, apr_size_t cost)
{
    b->bytes += cost;
    c->bytes += cost;
}

/* Compiles line into *out (size bytes) with fn: from the cache in an
 * .htaccess (the request holds a reference to the entry's batch until
 * its pool goes away), from the config pool elsewhere.  Errors are not
 * cached.  .htaccess patterns get no JIT code: the JIT compiler would run
 * in every child (each compiles its own .htaccess lines), and its code
 * and the compiler's own pages would put each child's memory well above
 * the stock module's; the shapes decided without PCRE (rw_shape_t) take
 * the commonest patterns off the interpreter instead. */
static const char *compile_cached(cmd_parms *cmd, int conds,
                                  const char *line, void *out, size_t size,
                                  const char *(*fn)(apr_pool_t *,
                                                    const char *, void *))
{
    line_cache_t *c = cache;
    const char *err;
    apr_hash_t *table;
    htentry_t *e, *old;
    htbatch_t *b, *victims = NULL;
    apr_size_t cost;
    int held = 0;

    if (!c || !rw_in_htaccess(cmd)) {
        if ((err = fn(cmd->pool, line, out)))
            return err;
        rw_regex_jit(data_regex(conds, out));
        return NULL;
    }
    apr_thread_mutex_lock(c->lock);
    if (!cache_tables(c)) {
        apr_thread_mutex_unlock(c->lock);
        return fn(cmd->pool, line, out);
    }
    table = conds ? c->conds : c->rules;
    e = apr_hash_get(table, line, APR_HASH_KEY_STRING);
    if (e) {
        if (e != c->head) {
            lru_unlink(c, e);
            lru_push(c, e);
        }
        ++e->batch->refs;
    }
    apr_thread_mutex_unlock(c->lock);

    if (e) {
        /* this request reads e until its pool goes */
        memcpy(out, e->data, size);
        apr_pool_cleanup_register(cmd->pool, e->batch, release_batch,
                                  apr_pool_cleanup_null);
        return NULL;
    }

    /* a miss: compile into the request's batch, without the lock; a
     * line too long to be kept, into the request's own pool */
    if (line_cost(line, conds, NULL) > c->budget / 16 ||
        !(b = request_batch(c, cmd->pool)))
        return fn(cmd->pool, line, out);
    e = entry_new(b, table, conds, line, size, fn, cmd->pool, &cost, &err);
    apr_thread_mutex_lock(c->lock);
    charge(c, b, cost);
    if (e && cost <= c->budget / 16) {
        old = apr_hash_get(table, line, APR_HASH_KEY_STRING);
        if (old) {
            /* another thread was quicker: use its entry (ours stays in
             * our batch, charged, until that goes) */
            ++old->batch->refs;
            held = 1;
            e = old;
        }
        else
            publish(c, e);
    }
    /* else an error, or too big to keep: this request's only */
    victims = shrink(c, NULL);
    apr_thread_mutex_unlock(c->lock);
    free_victims(victims);
    if (!e)
        return err;
    memcpy(out, e->data, size);
    if (held)
        apr_pool_cleanup_register(cmd->pool, e->batch, release_batch,
                                  apr_pool_cleanup_null);
    return NULL;
}

static const char *cond_fn(apr_pool_t *p, const char *line, void *out)
{
    return compile_cond(p, line, out);
}

static const char *rule_fn(apr_pool_t *p, const char *line, void *out)
{
    return compile_rule(p, line, out);
}

/* RewriteCond expr "...": parsed by httpd's expression parser, in the
 * restricted language inside .htaccess. */
static const char *cmd_cond_expr(cmd_parms *cmd, const char *line,
                                 rw_cond_t *c)
{
    char *a1, *a2, *a3;
    unsigned int flags;
    const char *err, *experr = NULL;

    if (rw_split_args(cmd->pool, line, &a1, &a2, &a3))
        return apr_pstrcat(cmd->pool, "RewriteCond: bad argument line '",
                           line, "'", NULL);
    memset(c, 0, sizeof(*c));
    if (a3 && (err = rw_parse_cond_flags(cmd->pool, a3, c)))
        return apr_pstrcat(cmd->pool, "RewriteCond: ", err, NULL);
    flags = (c->flags & RW_CF_NOVARY) ? AP_EXPR_FLAG_DONT_VARY : 0;
    if (rw_in_htaccess(cmd))
        flags |= AP_EXPR_FLAG_RESTRICTED_FILE_FUNC;
    if (*a2 == '!') {
        c->negate = 1;
        ++a2;
    }
    c->kind = RW_COND_EXPR;
    c->pattern = a2;
    c->expr = ap_expr_parse_cmd(cmd, a2, flags, &experr, NULL);
    if (experr)
        return apr_psprintf(cmd->pool, "RewriteCond: cannot compile "
                            "expression%s \"%s\" %s",
                            (flags & AP_EXPR_FLAG_RESTRICTED_FILE_FUNC)
                            ? " in htaccess context" : "", a2, experr);
    return NULL;
}

/* The first word of line is "expr" (the TestString of ap_expr conds). */
static int is_expr_line(const char *line)
{
    while (apr_isspace(*line))
        ++line;
    if (*line == '"' || *line == '\'')
        return !strncmp(line + 1, "expr", 4) && line[5] == line[0];
    return !strncmp(line, "expr", 4) && (!line[4] || apr_isspace(line[4]));
}

const char *rw_cmd_cond(cmd_parms *cmd, void *dconf, const char *line)
{
    apr_array_header_t *pending, *rules;
    rw_cond_t *c;
    const char *err;

    context_lists(cmd, dconf, &pending, &rules);
    rw_stats_cond_read(cmd, pending, line);
    c = apr_array_push(pending);
    if (is_expr_line(line))
        return cmd_cond_expr(cmd, line, c);
    if ((err = compile_cached(cmd, 1, line, c, sizeof(*c), cond_fn)))
        return err;
    if ((c->flags & RW_CF_NOCASE) && is_nocase_less(c->kind))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, APLOGNO(00665)
                     "RewriteCond: NoCase option for non-regex pattern '%s' "
                     "is not supported and will be ignored. (%s:%d)",
                     c->operand ? c->operand : c->pattern, where(cmd),
                     line_of(cmd));
    return NULL;
}

const char *rw_cmd_rule(cmd_parms *cmd, void *dconf, const char *line)
{
    apr_array_header_t *pending, *rules;
    rw_rule_t *r;
    const char *err;

    context_lists(cmd, dconf, &pending, &rules);
    r = apr_array_push(rules);
    if ((err = compile_cached(cmd, 0, line, r, sizeof(*r),
                              rule_fn)))
        return err;
    /* The conditions written above this rule now belong to it. */
    r->nconds = pending->nelts;
    r->conds = (const rw_cond_t *)apr_pmemdup(cmd->pool, pending->elts,
                                              (apr_size_t)pending->nelts * sizeof(rw_cond_t));
    rw_stats_rule_read(cmd, pending, r, line);
    apr_array_clear(pending);
    return NULL;
}

const char *rw_cmd_map(cmd_parms *cmd, void *dconf, const char *a1,
                       const char *a2, const char *a3)
{
    rw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                &rewrite_module);
    rw_map_t *map;
    const char *err;

    err = rw_map_define(cmd, a1, a2, a3, &map);
    if (err)
        return err;
    apr_hash_set(sc->maps, a1, APR_HASH_KEY_STRING, map);
    return NULL;
}
