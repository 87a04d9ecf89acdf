/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_parse.c: argument lines, templates, variables,
 * RewriteRule and RewriteCond flags, CondPatterns, regex compilation.
 *
 * The expected values are those of the stock module (Debian apache2
 * 2.4.71), measured with `apache2 -t` and with requests to a throwaway
 * server; a comment marks the less obvious ones.
 */
#include "../../rewrite_parse.c"

#include "unit.h"

#define P unit_pool

/* ------------------------------------------------------------------ */
/* rw_split_args                                                       */

static void test_split_args(void)
{
    static const struct {
        const char *line;
        int ok;
        const char *a1, *a2, *a3;
    } cases[] = {
        { "a b", 1, "a", "b", NULL },
        { "a b [L]", 1, "a", "b", "[L]" },
        { "  a   b  ", 1, "a", "b", NULL },
        { "\ta\tb\t[L]\t", 1, "a", "b", "[L]" },
        /* a fourth word is ignored */
        { "a b [L] extra", 1, "a", "b", "[L]" },
        { "a b [L] \"\"", 1, "a", "b", "[L]" },
        { "a", 0, NULL, NULL, NULL },
        { "", 0, NULL, NULL, NULL },
        { "   ", 0, NULL, NULL, NULL },
        { "\"a b\" c", 1, "a b", "c", NULL },
        { "'a b' c", 1, "a b", "c", NULL },
        { "\"a\" \"b\" \"[L]\"", 1, "a", "b", "[L]" },
        { "a \"b c\" [L]", 1, "a", "b c", "[L]" },
        { "\"a'b\" c", 1, "a'b", "c", NULL },
        { "'a\"b' c", 1, "a\"b", "c", NULL },
        { "a \"\"", 1, "a", "", NULL },
        { "a b \"\"", 1, "a", "b", "" },
        /* a closing quote ends the word, the next one starts at once */
        { "\"a\"b c", 1, "a", "b", "c" },
        /* a quote inside a bare word is an ordinary character */
        { "a\"b c\"", 1, "a\"b", "c\"", NULL },
        /* in a bare word a backslash protects the next character and
         * stays in the word (the regex or template reads it later) */
        { "a\\ b c", 1, "a\\ b", "c", NULL },
        { "a\\\"b c", 1, "a\\\"b", "c", NULL },
        { "a\\\\d b", 1, "a\\\\d", "b", NULL },
        /* in a quoted word a backslash is an ordinary character: the
         * first matching quote ends the word */
        { "\"a\\\\\" b", 1, "a\\\\", "b", NULL },
        { "\"a\\\" b", 1, "a\\", "b", NULL },
        { "'a\\' b", 1, "a\\", "b", NULL },
        { "\"a\\\"b\" c", 1, "a\\", "b\"", "c" },
        /* an unterminated quote runs to the end of the line */
        { "a \"b", 1, "a", "b", NULL },
        { "a \"b c [L]", 1, "a", "b c [L]", NULL },
        { "a 'b c", 1, "a", "b c", NULL },
        { "a b \"[L]", 1, "a", "b", "[L]" },
        { "\"a b", 0, NULL, NULL, NULL },
        { "'a b", 0, NULL, NULL, NULL },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        char *a1 = NULL, *a2 = NULL, *a3 = NULL;
        const char *err = rw_split_args(P, cases[i].line, &a1, &a2, &a3);
        const char *what = apr_psprintf(P, "rw_split_args(%s)",
                                        cases[i].line);
        if (!cases[i].ok) {
            CHECK(err != NULL, what);
            continue;
        }
        if (err) {
            CHECK_STR(NULL, err, what);
            continue;
        }
        CHECK_STR(apr_psprintf(P, "[%s] [%s] [%s]", cases[i].a1,
                               cases[i].a2, cases[i].a3 ? cases[i].a3
                                                        : "(none)"),
                  apr_psprintf(P, "[%s] [%s] [%s]", a1, a2,
                               a3 ? a3 : "(none)"), what);
    }
}

/* ------------------------------------------------------------------ */
/* Variables and templates                                             */

/* A readable form of a parsed variable: %{HEADER:Host}, %{ENV:x},
 * %{LA-U:%{REQUEST_URI}}, %{QUERY_STRING}, %{UNKNOWN} ... */
static const char *var_sig(const rw_var_t *v)
{
    static const struct { rw_var_kind_t kind; const char *name; } fixed[] = {
        { RW_VAR_TIME_YEAR, "TIME_YEAR" }, { RW_VAR_TIME, "TIME" },
        { RW_VAR_API_VERSION, "API_VERSION" },
        { RW_VAR_CONN_REMOTE_ADDR, "CONN_REMOTE_ADDR" },
        { RW_VAR_CONTEXT_PREFIX, "CONTEXT_PREFIX" },
        { RW_VAR_CONTEXT_DOCUMENT_ROOT, "CONTEXT_DOCUMENT_ROOT" },
        { RW_VAR_IPV6, "IPV6" }, { RW_VAR_PATH_INFO, "PATH_INFO" },
        { RW_VAR_QUERY_STRING, "QUERY_STRING" },
        { RW_VAR_REMOTE_ADDR, "REMOTE_ADDR" },
        { RW_VAR_REMOTE_PORT, "REMOTE_PORT" },
        { RW_VAR_REQUEST_METHOD, "REQUEST_METHOD" },
        { RW_VAR_REQUEST_FILENAME, "REQUEST_FILENAME" },
        { RW_VAR_DOCUMENT_ROOT, "DOCUMENT_ROOT" },
        { RW_VAR_SERVER_ADDR, "SERVER_ADDR" },
        { RW_VAR_SERVER_PORT, "SERVER_PORT" },
        { RW_VAR_SERVER_SOFTWARE, "SERVER_SOFTWARE" },
        { RW_VAR_HTTPS, "HTTPS" }, { RW_VAR_IS_SUBREQ, "IS_SUBREQ" },
        { RW_VAR_REQUEST_SCHEME, "REQUEST_SCHEME" },
        { RW_VAR_REQUEST_URI, "REQUEST_URI" },
        { RW_VAR_THE_REQUEST, "THE_REQUEST" },
    };
    apr_size_t i;

    switch (v->kind) {
    case RW_VAR_UNKNOWN:
        return "%{UNKNOWN}";
    case RW_VAR_HEADER:
        return apr_psprintf(P, "%%{HEADER:%s}", v->arg);
    case RW_VAR_ENV:
        return apr_psprintf(P, "%%{ENV:%s}", v->arg);
    case RW_VAR_SSL:
        return apr_psprintf(P, "%%{SSL:%s}", v->arg);
    case RW_VAR_LA_U:
    case RW_VAR_LA_F:
        return apr_psprintf(P, "%%{%s:%s}",
                            v->kind == RW_VAR_LA_U ? "LA-U" : "LA-F",
                            v->inner ? var_sig(v->inner) : "(no inner)");
    default:
        for (i = 0; i < UNIT_NELTS(fixed); ++i)
            if (fixed[i].kind == v->kind)
                return apr_psprintf(P, "%%{%s}", fixed[i].name);
        /* a kind of its own that reads a request header (HTTP_HOST) */
        if (v->arg)
            return apr_psprintf(P, "%%{HEADER:%s}", v->arg);
        return apr_psprintf(P, "%%{kind %d}", (int)v->kind);
    }
}

/* A readable form of a parsed template: literals in single quotes
 * (adjacent ones merged), $N, %N, %{..} as var_sig, ${map:KEY|DEFAULT}. */
static const char *tpl_sig(const rw_tpl_t *t)
{
    const char *s = "", *lit = NULL;
    int i;

    for (i = 0; i < t->npieces; ++i) {
        const rw_piece_t *pc = &t->pieces[i];
        if (pc->kind == RW_PIECE_LIT) {
            lit = apr_pstrcat(P, lit ? lit : "",
                              apr_pstrmemdup(P, pc->lit, pc->len), NULL);
            continue;
        }
        if (lit)
            s = apr_pstrcat(P, s, "'", lit, "'", NULL);
        lit = NULL;
        switch (pc->kind) {
        case RW_PIECE_RULEREF:
            s = apr_psprintf(P, "%s$%d", s, pc->n);
            break;
        case RW_PIECE_CONDREF:
            s = apr_psprintf(P, "%s%%%d", s, pc->n);
            break;
        case RW_PIECE_VAR:
            s = apr_pstrcat(P, s, var_sig(&pc->var), NULL);
            break;
        case RW_PIECE_MAP:
            s = apr_pstrcat(P, s, "${", pc->map, ":",
                            pc->key ? tpl_sig(pc->key) : "(no key)",
                            pc->dflt ? "|" : "",
                            pc->dflt ? tpl_sig(pc->dflt) : "", "}", NULL);
            break;
        default:
            break;
        }
    }
    return lit ? apr_pstrcat(P, s, "'", lit, "'", NULL) : s;
}

static void test_parse_var(void)
{
    static const struct { const char *name, *sig; } cases[] = {
        { "HTTP_HOST", "%{HEADER:Host}" },
        { "HTTP_ACCEPT", "%{HEADER:Accept}" },
        { "HTTP_COOKIE", "%{HEADER:Cookie}" },
        { "HTTP_FORWARDED", "%{HEADER:Forwarded}" },
        { "HTTP_REFERER", "%{HEADER:Referer}" },
        { "HTTP_USER_AGENT", "%{HEADER:User-Agent}" },
        { "HTTP_PROXY_CONNECTION", "%{HEADER:Proxy-Connection}" },
        /* only the seven HTTP_* names above are known */
        { "HTTP_X_FOO", "%{UNKNOWN}" },
        { "HTTP_CONNECTION", "%{UNKNOWN}" },
        { "HTTP_ACCEPT_LANGUAGE", "%{UNKNOWN}" },
        { "HTTP:X-Foo", "%{HEADER:X-Foo}" },
        { "HTTP:", "%{HEADER:}" },
        { "ENV:HOME", "%{ENV:HOME}" },
        { "SSL:SSL_PROTOCOL", "%{SSL:SSL_PROTOCOL}" },
        { "LA-U:REQUEST_URI", "%{LA-U:%{REQUEST_URI}}" },
        { "LA-F:HTTP_HOST", "%{LA-F:%{HEADER:Host}}" },
        { "QUERY_STRING", "%{QUERY_STRING}" },
        { "REQUEST_URI", "%{REQUEST_URI}" },
        { "THE_REQUEST", "%{THE_REQUEST}" },
        { "SCRIPT_FILENAME", "%{REQUEST_FILENAME}" },
        { "REQUEST_FILENAME", "%{REQUEST_FILENAME}" },
        { "TIME", "%{TIME}" },
        { "TIME_YEAR", "%{TIME_YEAR}" },
        { "API_VERSION", "%{API_VERSION}" },
        { "HTTPS", "%{HTTPS}" },
        { "IS_SUBREQ", "%{IS_SUBREQ}" },
        { "IPV6", "%{IPV6}" },
        { "CONN_REMOTE_ADDR", "%{CONN_REMOTE_ADDR}" },
        { "REMOTE_PORT", "%{REMOTE_PORT}" },
        { "REQUEST_SCHEME", "%{REQUEST_SCHEME}" },
        { "CONTEXT_DOCUMENT_ROOT", "%{CONTEXT_DOCUMENT_ROOT}" },
        { "", "%{UNKNOWN}" },
        { "NOPE", "%{UNKNOWN}" },
        /* the stock module reads variable names case-insensitively:
         * %{http_host} is the Host header, %{query_string} the query */
        { "http_host", "%{HEADER:Host}" },
        { "HTTP_HOSt", "%{HEADER:Host}" },
        { "query_string", "%{QUERY_STRING}" },
        { "Request_Uri", "%{REQUEST_URI}" },
        { "time_year", "%{TIME_YEAR}" },
        { "http:x-foo", "%{HEADER:x-foo}" },
        { "Env:HOME", "%{ENV:HOME}" },
        { "la-u:REQUEST_URI", "%{LA-U:%{REQUEST_URI}}" },
        { "LA-U:request_uri", "%{LA-U:%{REQUEST_URI}}" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        rw_var_t v;
        rw_parse_var(P, cases[i].name, &v);
        CHECK_STR(cases[i].sig, var_sig(&v),
                  apr_psprintf(P, "rw_parse_var(%s)", cases[i].name));
    }
}

static void test_parse_template(void)
{
    static const struct { const char *text, *sig; } cases[] = {
        { "plain", "'plain'" },
        { "", "" },
        { "$1", "$1" },
        { "/x?a=$1", "'/x?a='$1" },
        { "a%2b", "'a'%2'b'" },
        { "$0", "$0" },
        { "$10-$9", "$1'0-'$9" },
        { "%%1.$$1", "'%'%1'.$'$1" },
        { "$", "'$'" },
        { "%", "'%'" },
        { "$a", "'$a'" },
        { "%{HTTP_HOST}", "%{HEADER:Host}" },
        { "%{HTTP_HOST}%{QUERY_STRING}x", "%{HEADER:Host}%{QUERY_STRING}'x'" },
        { "%{HTTP:X-Foo}", "%{HEADER:X-Foo}" },
        { "%{ENV:HOME}", "%{ENV:HOME}" },
        { "%{LA-U:REQUEST_URI}", "%{LA-U:%{REQUEST_URI}}" },
        { "%{HTTP_X_FOO}.", "%{UNKNOWN}'.'" },
        { "%{}", "%{UNKNOWN}" },
        { "%1.", "%1'.'" },
        /* unterminated references are literal text */
        { "%{HTTP_HOST", "'%{HTTP_HOST'" },
        { "%{HTTP:X-Foo", "'%{HTTP:X-Foo'" },
        { "${m:a", "'${m:a'" },
        /* ${name} without ':' is not a map reference */
        { "${m}", "'${m}'" },
        { "%{HTTP_HOST}}x", "%{HEADER:Host}'}x'" },
        { "${m:a}}x", "${m:'a'}'}x'" },
        /* backslash: the next character is literal */
        { "\\$1", "'$1'" },
        { "\\%{HTTP_HOST}", "'%{HTTP_HOST}'" },
        { "\\\\b", "'\\b'" },
        { "\\a\\n", "'an'" },
        { "b\\", "'b\\'" },
        { "\\", "'\\'" },
        /* maps: key and default are templates themselves */
        { "${nomap:a|dd}e", "${nomap:'a'|'dd'}'e'" },
        { "${m:}.", "${m:}'.'" },
        { "${:x}", "${:'x'}" },
        { "${m:a|b|c}", "${m:'a'|'b|c'}" },
        { "${m:zz|b:c}", "${m:'zz'|'b:c'}" },
        { "${m:a:b|d}", "${m:'a:b'|'d'}" },
        { "${m:$1|no}", "${m:$1|'no'}" },
        { "${m:${m:x}}", "${m:${m:'x'}}" },
        { "${m:a|${m:B}}", "${m:'a'|${m:'B'}}" },
        { "${m:zz|%{HTTP_HOST}}", "${m:'zz'|%{HEADER:Host}}" },
        { "${m:%{QUERY_STRING}|nf}", "${m:%{QUERY_STRING}|'nf'}" },
        { "${m:{a}|nf}", "${m:'{a}'|'nf'}" },
        { "${m:x\\:y|d}", "${m:'x:y'|'d'}" },
        /* inside ${..} and %{..} the stock module finds '|' and '}'
         * without regard to backslashes: key "x\" with default "y|d";
         * key "x\" then the literal "|d}"; variable "HTTP_HOST\" */
        { "${m:x\\|y|d}", "${m:'x\\'|'y|d'}" },
        { "${m:x\\}|d}", "${m:'x\\'}'|d}'" },
        { "%{HTTP_HOST\\}x}.", "%{UNKNOWN}'x}.'" },
        /* variable names are case-insensitive */
        { "%{http_host}", "%{HEADER:Host}" },
    };
    apr_size_t i;
    const rw_tpl_t *t;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        const char *what = apr_psprintf(P, "rw_parse_template(%s)",
                                        cases[i].text);
        const char *err = rw_parse_template(P, cases[i].text, &t);
        if (err) {
            CHECK_STR(NULL, err, what);
            continue;
        }
        CHECK_STR(cases[i].sig, tpl_sig(t), what);
    }

    /* the whole-literal shortcut */
    rw_parse_template(P, "plain", &t);
    CHECK_STR("plain", t->literal, "literal of 'plain'");
    rw_parse_template(P, "", &t);
    CHECK_STR("", t->literal, "literal of ''");
    rw_parse_template(P, "a\\$b", &t);
    CHECK_STR("a$b", t->literal, "literal of 'a\\$b'");
    rw_parse_template(P, "/x$1", &t);
    CHECK(t->literal == NULL, "no literal for '/x$1'");
    rw_parse_template(P, "$1/x", &t);
    CHECK(t->literal == NULL, "no literal for '$1/x'");
}

/* ------------------------------------------------------------------ */
/* RewriteRule flags                                                   */

static rw_rule_t *new_rule(void)
{
    rw_rule_t *r = apr_pcalloc(P, sizeof(*r));
    r->maxrounds = 10000;   /* as the directive handler does */
    return r;
}

/* What the rule answers: "status N" (F, G, R=non-3xx win over R),
 * "redirect N", or "none". */
static const char *outcome(const rw_rule_t *r)
{
    if (r->flags & RW_RF_STATUS)
        return apr_psprintf(P, "status %d", r->status);
    if (r->flags & RW_RF_REDIRECT)
        return apr_psprintf(P, "redirect %d", r->status ? r->status : 302);
    return "none";
}

static void test_rule_flags(void)
{
    static const struct {
        const char *flags;
        const char *err;    /* NULL: accepted */
        unsigned bits;      /* all of these set */
    } cases[] = {
        { "[B]", NULL, RW_RF_ESCAPEBACKREF },
        { "[b]", NULL, RW_RF_ESCAPEBACKREF },
        { "[backrefescaping]", NULL, RW_RF_ESCAPEBACKREF },
        { "[B=]", NULL, RW_RF_ESCAPEBACKREF },
        { "[B=abc]", NULL, RW_RF_ESCAPEBACKREF },
        { "[BNP]", NULL, RW_RF_NOPLUS },
        { "[bnp]", NULL, RW_RF_NOPLUS },
        { "[backrefernoplus]", NULL, RW_RF_NOPLUS },
        { "[Backrefernoplus]", NULL, RW_RF_NOPLUS },
        { "[BNP=x]", NULL, RW_RF_NOPLUS },
        { "[backrefnoplus]", "unknown flag 'backrefnoplus'", 0 },
        { "[BCTLS]", NULL, RW_RF_ESCAPECTLS },
        { "[bCtLs]", NULL, RW_RF_ESCAPECTLS },
        { "[BCTLS=x]", NULL, RW_RF_ESCAPECTLS },
        { "[BNE=x]", NULL, 0 },
        { "[bne=x]", NULL, 0 },
        { "[BNE]", "flag 'BNE' wants a list of characters (i.e. [BNE=...])",
          0 },
        { "[BNE=]", "flag 'BNE' wants a list of characters (i.e. [BNE=...])",
          0 },
        { "[C]", NULL, RW_RF_CHAIN },
        { "[chain]", NULL, RW_RF_CHAIN },
        { "[Chain]", NULL, RW_RF_CHAIN },
        { "[CO=a:b:c]", NULL, 0 },
        { "[cookie=a:b:c]", NULL, 0 },
        { "[CO]", NULL, 0 },
        { "[CO=]", NULL, 0 },
        { "[cookiex]", "unknown flag 'cookiex'", 0 },
        /* any flag starting with D is DPI */
        { "[DPI]", NULL, RW_RF_DISCARDPATH },
        { "[discardpath]", NULL, RW_RF_DISCARDPATH },
        { "[dummy]", NULL, RW_RF_DISCARDPATH },
        { "[d]", NULL, RW_RF_DISCARDPATH },
        { "[Dx]", NULL, RW_RF_DISCARDPATH },
        { "[DPIx]", NULL, RW_RF_DISCARDPATH },
        { "[E=a:b]", NULL, 0 },
        { "[env=a:b]", NULL, 0 },
        { "[E]", NULL, 0 },
        { "[E=]", NULL, 0 },
        { "[E=!x]", NULL, 0 },
        { "[END]", NULL, RW_RF_END },
        { "[end]", NULL, RW_RF_END },
        { "[ENDx]", "unknown flag 'ENDx'", 0 },
        { "[F]", NULL, RW_RF_STATUS },
        { "[forbidden]", NULL, RW_RF_STATUS },
        { "[Fx]", "unknown flag 'Fx'", 0 },
        { "[G]", NULL, RW_RF_STATUS },
        { "[gone]", NULL, RW_RF_STATUS },
        { "[G=1]", NULL, RW_RF_STATUS },
        { "[H=foo]", NULL, 0 },
        { "[handler=x]", NULL, 0 },
        { "[H]", NULL, 0 },
        { "[H=]", NULL, 0 },
        { "[L]", NULL, RW_RF_LAST },
        { "[l]", NULL, RW_RF_LAST },
        { "[last]", NULL, RW_RF_LAST },
        { "[LAST]", NULL, RW_RF_LAST },
        { "[L=1]", NULL, RW_RF_LAST },
        { "[Lx]", "unknown flag 'Lx'", 0 },
        { "[N]", NULL, RW_RF_NEXT },
        { "[next]", NULL, RW_RF_NEXT },
        { "[NEXT=5]", NULL, RW_RF_NEXT },
        { "[NC]", NULL, RW_RF_NOCASE },
        { "[nc]", NULL, RW_RF_NOCASE },
        { "[Nc]", NULL, RW_RF_NOCASE },
        { "[nocase]", NULL, RW_RF_NOCASE },
        { "[NC=x]", NULL, RW_RF_NOCASE },
        { "[NE]", NULL, RW_RF_NOESCAPE },
        { "[noescape]", NULL, RW_RF_NOESCAPE },
        { "[noescapes]", "unknown flag 'noescapes'", 0 },
        { "[NS]", NULL, RW_RF_NOSUBREQ },
        { "[nosubreq]", NULL, RW_RF_NOSUBREQ },
        { "[nosubreqs]", "unknown flag 'nosubreqs'", 0 },
        { "[P]", NULL, RW_RF_PROXY },
        { "[proxy]", NULL, RW_RF_PROXY },
        { "[proxyx]", "unknown flag 'proxyx'", 0 },
        { "[PT]", NULL, RW_RF_PASSTHROUGH },
        { "[passthrough]", NULL, RW_RF_PASSTHROUGH },
        { "[PTx]", "unknown flag 'PTx'", 0 },
        { "[QSA]", NULL, RW_RF_QSAPPEND },
        { "[qsappend]", NULL, RW_RF_QSAPPEND },
        { "[QSA=x]", NULL, RW_RF_QSAPPEND },
        { "[qsappendx]", "unknown flag 'qsappendx'", 0 },
        { "[QSD]", NULL, RW_RF_QSDISCARD },
        { "[qsdiscard]", NULL, RW_RF_QSDISCARD },
        { "[QSL]", NULL, RW_RF_QSLAST },
        { "[qslast]", NULL, RW_RF_QSLAST },
        { "[R]", NULL, RW_RF_REDIRECT },
        { "[redirect]", NULL, RW_RF_REDIRECT },
        { "[S=2]", NULL, RW_RF_SKIP },
        { "[skip=1]", NULL, RW_RF_SKIP },
        { "[T=text/html]", NULL, 0 },
        { "[type=x/y]", NULL, 0 },
        { "[T]", NULL, 0 },
        { "[UNC]", NULL, RW_RF_UNC },
        { "[unc]", NULL, RW_RF_UNC },
        { "[UNCx]", "unknown flag 'UNCx'", 0 },
        { "[UnsafeAllow3F]", NULL, RW_RF_UNSAFE_3F },
        { "[unsafeallow3f]", NULL, RW_RF_UNSAFE_3F },
        { "[UNSAFEALLOW3F]", NULL, RW_RF_UNSAFE_3F },
        { "[unsafeallow3fx]", "unknown flag 'unsafeallow3fx'", 0 },
        { "[UnsafePrefixStat]", NULL, RW_RF_UNSAFE_PREFIX },
        { "[unsafeprefixstat]", NULL, RW_RF_UNSAFE_PREFIX },
        { "[escapebackref]", "unknown flag 'escapebackref'", 0 },
        { "[X]", "unknown flag 'X'", 0 },
        { "[Q]", "unknown flag 'Q'", 0 },
        { "[QS]", "unknown flag 'QS'", 0 },
        /* lists */
        { "[L,R=301,NC]", NULL, RW_RF_LAST | RW_RF_REDIRECT | RW_RF_NOCASE },
        { "[END,L]", NULL, RW_RF_END | RW_RF_LAST },
        { "[QSA,QSD]", NULL, RW_RF_QSAPPEND | RW_RF_QSDISCARD },
        { "[L, R]", NULL, RW_RF_LAST | RW_RF_REDIRECT },
        { "[ L]", NULL, RW_RF_LAST },
        /* whitespace after a flag is dropped too (not before '=') */
        { "[L ]", NULL, RW_RF_LAST },
        { "[L\t]", NULL, RW_RF_LAST },
        { "[NC ,L]", NULL, RW_RF_NOCASE | RW_RF_LAST },
        { "[R =301]", "unknown flag 'R '", 0 },
        /* so "BNE= " is an empty BNE */
        { "[BNE= ]", "flag 'BNE' wants a list of characters (i.e. [BNE=...])",
          0 },
        /* empty items */
        { "[]", "unknown flag ''", 0 },
        { "[L,]", "unknown flag ''", 0 },
        { "[,L]", "unknown flag ''", 0 },
        { "[L,,R]", "unknown flag ''", 0 },
        /* delimiters */
        { "L", "bad flag delimiters", 0 },
        { "[L", "bad flag delimiters", 0 },
        { "L]", "bad flag delimiters", 0 },
        { "[L]x", "bad flag delimiters", 0 },
        { "", "bad flag delimiters", 0 },
        /* R codes */
        { "[R=999]", "invalid HTTP response code '999' for flag 'R'", 0 },
        { "[R=3xx]", "invalid HTTP response code '3xx' for flag 'R'", 0 },
        { "[R=1000]", "invalid HTTP response code '1000' for flag 'R'", 0 },
        { "[R=099]", "invalid HTTP response code '099' for flag 'R'", 0 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        rw_rule_t *r = new_rule();
        const char *what = apr_psprintf(P, "rw_parse_rule_flags(%s)",
                                        cases[i].flags);
        const char *err = rw_parse_rule_flags(P, cases[i].flags, r);
        if (cases[i].err || err)
            CHECK_STR(cases[i].err, err, what);
        else
            CHECK_INT(cases[i].bits, r->flags & cases[i].bits, what);
    }
}

/* R=code: the codes the stock module accepts, as ranges. */
static void test_rule_status_codes(void)
{
    const char *ranges = "";
    int code, start = -1;

    for (code = 0; code <= 1000; ++code) {
        rw_rule_t *r = new_rule();
        int ok = !rw_parse_rule_flags(P, apr_psprintf(P, "[R=%d]", code), r);
        if (ok && start < 0)
            start = code;
        if (!ok && start >= 0) {
            ranges = apr_psprintf(P, "%s%s%d", ranges, *ranges ? "," : "",
                                  start);
            if (code - 1 > start)
                ranges = apr_psprintf(P, "%s-%d", ranges, code - 1);
            start = -1;
        }
    }
    CHECK_STR("100-103,200-208,226,300-305,307-308,400-417,421-424,426,"
              "428-429,431,451,500-508,510-511", ranges,
              "codes accepted by [R=code]");
}

static void test_rule_flag_values(void)
{
    static const struct { const char *flags, *outcome; } r_cases[] = {
        { "[R]", "redirect 302" },
        { "[R=]", "redirect 302" },
        { "[R=301]", "redirect 301" },
        { "[R=308]", "redirect 308" },
        { "[R=permanent]", "redirect 301" },
        { "[R=PERMANENT]", "redirect 301" },
        { "[R=temp]", "redirect 302" },
        { "[R=Temp]", "redirect 302" },
        { "[R=seeother]", "redirect 303" },
        { "[R=SeeOther]", "redirect 303" },
        { "[R=permanentx]", "redirect 302" },
        { "[R=foo]", "redirect 302" },
        { "[R=+301]", "redirect 302" },
        { "[R= 301]", "redirect 302" },
        { "[R=0302]", "redirect 302" },
        { "[R=302x]", "redirect 302" },
        { "[R=301.5]", "redirect 301" },
        { "[R=404]", "status 404" },
        { "[R=200]", "status 200" },
        { "[R=100]", "status 100" },
        { "[F]", "status 403" },
        { "[G]", "status 410" },
        /* combinations, as the stock module answers them: R without a
         * code keeps the code set before; F, G and R=non-3xx are not
         * undone by a later R */
        { "[R,F]", "status 403" },
        { "[R=303,F]", "status 403" },
        { "[R,G]", "status 410" },
        { "[R=301,G]", "status 410" },
        { "[F,G]", "status 410" },
        { "[R,R=404]", "status 404" },
        { "[F,R=200]", "status 200" },
        { "[R=301,R=temp]", "redirect 302" },
        { "[R=301,R=foo]", "redirect 302" },
        { "[R=seeother,R=foo]", "redirect 302" },
        { "[F,R]", "status 403" },
        { "[G,R]", "status 410" },
        { "[R=404,R]", "status 404" },
        { "[R=200,R]", "status 200" },
        { "[R=301,R]", "redirect 301" },
        { "[R=301,R=]", "redirect 301" },
        { "[R=permanent,R]", "redirect 301" },
        { "[F,R=301]", "status 301" },
        { "[G,R=301]", "status 301" },
        { "[R=404,R=301]", "status 301" },
        { "[F,R=permanent]", "status 301" },
    };
    apr_size_t i;
    rw_rule_t *r;

    for (i = 0; i < UNIT_NELTS(r_cases); ++i) {
        const char *what = apr_psprintf(P, "outcome of %s", r_cases[i].flags);
        r = new_rule();
        if (rw_parse_rule_flags(P, r_cases[i].flags, r))
            CHECK_STR(r_cases[i].outcome, "error", what);
        else
            CHECK_STR(r_cases[i].outcome, outcome(r), what);
    }

    /* S=n */
    r = new_rule();
    rw_parse_rule_flags(P, "[S=2]", r);
    CHECK_INT(2, r->skip, "[S=2] skip");
    r = new_rule();
    rw_parse_rule_flags(P, "[skip=10]", r);
    CHECK_INT(10, r->skip, "[skip=10] skip");
    r = new_rule();
    rw_parse_rule_flags(P, "[S=abc]", r);
    CHECK_INT(0, r->skip, "[S=abc] skip");
    r = new_rule();
    rw_parse_rule_flags(P, "[S]", r);
    CHECK_INT(0, r->skip, "[S] skip");

    /* N=n: the limit of rounds; N=abc and N=0 are 0 (the first round
     * already fails), N and N= keep the default */
    r = new_rule();
    rw_parse_rule_flags(P, "[N]", r);
    CHECK_INT(10000, r->maxrounds, "[N] maxrounds");
    r = new_rule();
    rw_parse_rule_flags(P, "[N=]", r);
    CHECK_INT(10000, r->maxrounds, "[N=] maxrounds");
    r = new_rule();
    rw_parse_rule_flags(P, "[N=5]", r);
    CHECK_INT(5, r->maxrounds, "[N=5] maxrounds");
    r = new_rule();
    rw_parse_rule_flags(P, "[next=32]", r);
    CHECK_INT(32, r->maxrounds, "[next=32] maxrounds");
    r = new_rule();
    rw_parse_rule_flags(P, "[N=abc]", r);
    CHECK_INT(0, r->maxrounds, "[N=abc] maxrounds");

    /* T=, H= */
    r = new_rule();
    rw_parse_rule_flags(P, "[T=text/html]", r);
    CHECK(r->type_tpl && r->type_tpl->literal
          && !strcmp(r->type_tpl->literal, "text/html"), "[T=..] template");
    r = new_rule();
    rw_parse_rule_flags(P, "[H=cgi-script]", r);
    CHECK_STR("cgi-script", r->handler_tpl ? r->handler_tpl->literal : NULL,
              "[H=cgi-script] handler");
    r = new_rule();
    rw_parse_rule_flags(P, "[type=%{ENV:t}]", r);
    CHECK(r->type_tpl && r->type_tpl->npieces == 1
          && r->type_tpl->pieces[0].kind == RW_PIECE_VAR,
          "[type=%{ENV:t}] is a template");

    /* E=, CO= collect their values in order */
    r = new_rule();
    rw_parse_rule_flags(P, "[E=a:b,E=!c,env=d]", r);
    CHECK_INT(3, r->env ? r->env->nelts : 0, "[E=a:b,E=!c,env=d] count");
    if (r->env && r->env->nelts == 3) {
        CHECK_STR("a:b", APR_ARRAY_IDX(r->env, 0, rw_env_t).spec->literal,
                  "first E=");
        CHECK_STR("!c", APR_ARRAY_IDX(r->env, 1, rw_env_t).spec->literal,
                  "second E=");
    }
    r = new_rule();
    rw_parse_rule_flags(P, "[E=a=b:c=d]", r);
    CHECK_STR("a=b:c=d", r->env && r->env->nelts
              ? APR_ARRAY_IDX(r->env, 0, rw_env_t).spec->literal : NULL,
              "[E=a=b:c=d] keeps the '=' after the first");
    r = new_rule();
    rw_parse_rule_flags(P, "[E=a:b ]", r);
    CHECK_STR("a:b", r->env && r->env->nelts
              ? APR_ARRAY_IDX(r->env, 0, rw_env_t).spec->literal : NULL,
              "[E=a:b ] drops the trailing space");
    r = new_rule();
    rw_parse_rule_flags(P, "[CO=a:b:.example.com,cookie=c:d:e]", r);
    CHECK_INT(2, r->cookies ? r->cookies->nelts : 0, "two CO= values");

    /* B=, BNE= lists */
    r = new_rule();
    rw_parse_rule_flags(P, "[B]", r);
    CHECK_STR(NULL, r->bchars, "[B] escapes every class");
    r = new_rule();
    rw_parse_rule_flags(P, "[B=]", r);
    CHECK_STR(NULL, r->bchars, "[B=] escapes every class");
    r = new_rule();
    rw_parse_rule_flags(P, "[B=/&?]", r);
    CHECK_STR("/&?", r->bchars, "[B=/&?] chars");
    r = new_rule();
    rw_parse_rule_flags(P, "[B=a/ ]", r);
    CHECK_STR("a/", r->bchars, "[B=a/ ] chars (trailing space dropped)");
    r = new_rule();
    rw_parse_rule_flags(P, "[BNE=/]", r);
    CHECK_STR("/", r->bnechars, "[BNE=/] chars");
    r = new_rule();
    rw_parse_rule_flags(P, "[BNE= /]", r);
    CHECK_STR(" /", r->bnechars, "[BNE= /] keeps the leading space");
}

/* ------------------------------------------------------------------ */
/* RewriteCond flags and patterns                                       */

static void test_cond_flags(void)
{
    static const struct {
        const char *flags, *err;
        unsigned bits;
    } cases[] = {
        { "[NC]", NULL, RW_CF_NOCASE },
        { "[nc]", NULL, RW_CF_NOCASE },
        { "[nocase]", NULL, RW_CF_NOCASE },
        { "[NOCASE]", NULL, RW_CF_NOCASE },
        { "[OR]", NULL, RW_CF_ORNEXT },
        { "[or]", NULL, RW_CF_ORNEXT },
        { "[ornext]", NULL, RW_CF_ORNEXT },
        { "[NV]", NULL, RW_CF_NOVARY },
        { "[nv]", NULL, RW_CF_NOVARY },
        { "[novary]", NULL, RW_CF_NOVARY },
        { "[NC,OR]", NULL, RW_CF_NOCASE | RW_CF_ORNEXT },
        { "[NC, OR,NV]", NULL, RW_CF_NOCASE | RW_CF_ORNEXT | RW_CF_NOVARY },
        { "[NC=1]", NULL, RW_CF_NOCASE },
        { "[NC ]", NULL, RW_CF_NOCASE },
        { "[X]", "unknown flag 'X'", 0 },
        { "[L]", "unknown flag 'L'", 0 },
        { "[ORx]", "unknown flag 'ORx'", 0 },
        { "[NCx]", "unknown flag 'NCx'", 0 },
        { "[]", "unknown flag ''", 0 },
        { "[OR,]", "unknown flag ''", 0 },
        { "[NC,,OR]", "unknown flag ''", 0 },
        { "NC", "bad flag delimiters", 0 },
        { "[NC", "bad flag delimiters", 0 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        rw_cond_t c;
        const char *what = apr_psprintf(P, "rw_parse_cond_flags(%s)",
                                        cases[i].flags);
        const char *err;
        memset(&c, 0, sizeof(c));
        err = rw_parse_cond_flags(P, cases[i].flags, &c);
        if (cases[i].err || err)
            CHECK_STR(cases[i].err, err, what);
        else
            CHECK_INT(cases[i].bits, c.flags, what);
    }
}

/* 1 when re (compiled from pattern) matches s, 0 when not, -1 when re
 * is NULL.  A pattern decided without PCRE (rw_shape_t; t/unit/test_exec.c
 * checks that matcher against PCRE) is matched by PCRE here. */
static int re_matches(const rw_regex_t *re, const char *pattern, int nocase,
                      const char *s)
{
    pcre2_match_data *md;
    pcre2_code *code;
    int rc, err;
    PCRE2_SIZE off;

    if (!re)
        return -1;
    code = re->pcre ? re->pcre->code : NULL;
    if (!code)
        code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                             rw_pcre_options(nocase), &err, &off, NULL);
    if (!code)
        return -1;
    md = pcre2_match_data_create(RW_MAX_REFS, NULL);
    rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (!re->pcre)
        pcre2_code_free(code);
    return rc >= 0;
}

static const char *cond_kind_name(rw_cond_kind_t k)
{
    static const char *const names[] = {
        "REGEX", "STR_LT", "STR_LE", "STR_EQ", "STR_GT", "STR_GE",
        "INT_LT", "INT_LE", "INT_EQ", "INT_GT", "INT_GE", "INT_NE",
        "FILE", "FILE_SIZE", "DIR", "LINK", "EXEC", "FILE_SUB", "URL_SUB",
        "EXPR"
    };
    return (unsigned)k < UNIT_NELTS(names) ? names[k] : "?";
}

static void test_cond_pattern(void)
{
    /* sig: [!]KIND, then "'operand'" for comparisons, "/regex/" */
    static const struct { const char *pattern, *sig; } cases[] = {
        { "=abc", "STR_EQ 'abc'" },
        { "=\"\"", "STR_EQ ''" },
        { "!=abc", "!STR_EQ 'abc'" },
        { "!=\"\"", "!STR_EQ ''" },
        { "==abc", "STR_EQ '=abc'" },
        { "=a\"b", "STR_EQ 'a\"b'" },
        { "<b", "STR_LT 'b'" },
        { "<=b", "STR_LE 'b'" },
        { ">b", "STR_GT 'b'" },
        { ">=b", "STR_GE 'b'" },
        /* only "=\"\"" means the empty string */
        { "<\"\"", "STR_LT '\"\"'" },
        { ">=\"\"", "STR_GE '\"\"'" },
        /* two-character operators may have an empty operand ... */
        { "<=", "STR_LE ''" },
        { ">=", "STR_GE ''" },
        /* ... a lone one-character operator is a regex */
        { "=", "REGEX /=/" },
        { "<", "REGEX /</" },
        { ">", "REGEX />/" },
        { "!=", "!REGEX /=/" },
        { "-eq5", "INT_EQ '5'" },
        { "-ge10", "INT_GE '10'" },
        { "-gt7", "INT_GT '7'" },
        { "-le10", "INT_LE '10'" },
        { "-lt0", "INT_LT '0'" },
        { "-ne5", "INT_NE '5'" },
        { "!-eq5", "!INT_EQ '5'" },
        { "-eq 5", "INT_EQ ' 5'" },
        { "-eq\"\"", "INT_EQ '\"\"'" },
        /* "-gt=5" compares with "=5", that is with 0 */
        { "-gt=5", "INT_GT '=5'" },
        { "-eq=5", "INT_EQ '=5'" },
        /* an integer operator without operand is a regex */
        { "-eq", "REGEX /-eq/" },
        { "-ge", "REGEX /-ge/" },
        { "-gt", "REGEX /-gt/" },
        { "-le", "REGEX /-le/" },
        { "-lt", "REGEX /-lt/" },
        { "-ne", "REGEX /-ne/" },
        { "-f", "FILE" },
        { "-s", "FILE_SIZE" },
        { "-d", "DIR" },
        { "-l", "LINK" },
        { "-L", "LINK" },
        { "-h", "LINK" },
        { "-x", "EXEC" },
        { "-F", "FILE_SUB" },
        { "-U", "URL_SUB" },
        { "!-f", "!FILE" },
        { "!-d", "!DIR" },
        { "-z", "REGEX /-z/" },
        { "-fx", "REGEX /-fx/" },
        { "-D", "REGEX /-D/" },
        { "^abc$", "REGEX /^abc$/" },
        { "!^a", "!REGEX /^a/" },
        { "", "REGEX //" },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        rw_cond_t c;
        const char *err, *sig;
        memset(&c, 0, sizeof(c));
        err = rw_parse_cond_pattern(P, apr_pstrdup(P, cases[i].pattern), &c);
        sig = apr_pstrcat(P, c.negate ? "!" : "", cond_kind_name(c.kind),
                          NULL);
        if (c.kind == RW_COND_REGEX)
            sig = apr_pstrcat(P, sig, " /", c.pattern, "/",
                              c.re ? "" : " (not compiled)", NULL);
        else if (c.kind >= RW_COND_STR_LT && c.kind <= RW_COND_INT_NE)
            sig = apr_pstrcat(P, sig, " '", c.operand ? c.operand : "(null)",
                              "'", NULL);
        CHECK_STR(cases[i].sig, err ? err : sig,
                  apr_psprintf(P, "rw_parse_cond_pattern(%s)",
                               cases[i].pattern));
    }

    {
        rw_cond_t c;
        memset(&c, 0, sizeof(c));
        CHECK(rw_parse_cond_pattern(P, apr_pstrdup(P, "(a"), &c) != NULL,
              "rw_parse_cond_pattern((a) fails");
        memset(&c, 0, sizeof(c));
        c.flags = RW_CF_NOCASE;
        rw_parse_cond_pattern(P, apr_pstrdup(P, "^abc$"), &c);
        CHECK_INT(1, re_matches(c.re, "^abc$", 1, "ABC"),
                  "[NC] condition regex is caseless");
        CHECK_INT(1, c.re->pcre ? 1 : c.re->lit_nocase,
                  "[NC] condition literal is caseless");
    }
}

/* ------------------------------------------------------------------ */
/* rw_regex_compile                                                    */

static void test_regex_compile(void)
{
    static const struct {
        const char *pattern;
        int nocase;
        const char *subject;
        int match;
    } cases[] = {
        { "^/a/(.*)$", 0, "/a/b", 1 },
        { "^/a/(.*)$", 0, "/b/a", 0 },
        /* RegexDefaultOptions is DOTALL and DOLLAR_ENDONLY */
        { "^/a.b$", 0, "/a\nb", 1 },
        { "^/a$", 0, "/a\n", 0 },
        { "^/a\\nb$", 0, "/a\nb", 1 },
        { "^/abc$", 0, "/ABC", 0 },
        { "^/abc$", 1, "/ABC", 1 },
        { "^/abc$", 1, "/aBc", 1 },
        { "(?i)^/abc$", 0, "/ABC", 1 },
        { "", 0, "anything", 1 },
        { "\\.php$", 0, "/index.php", 1 },
        { "\\.php$", 0, "/index.phps", 0 },
    };
    static const struct { const char *pattern; int ncaps; } caps[] = {
        { "^/a/(.*)$", 1 },
        { "(a)(b)?(c)", 3 },
        { "(?:x)(y)", 1 },
        { "(?<name>x)", 1 },
        { "abc", 0 },
        { "((a)(b))(c)(d)(e)(f)(g)(h)(i)(j)(k)", 12 },
    };
    static const char *const bad[] = {
        "(", "(a", "[a-", "a{2,1}", "\\", "*a", "(?<n>a)(?<n>b)",
    };
    apr_size_t i;
    rw_regex_t *re;

    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        const char *err;
        re = NULL;
        err = rw_regex_compile(P, cases[i].pattern, cases[i].nocase, &re);
        CHECK_INT(cases[i].match, err ? -2 : re_matches(re, cases[i].pattern, cases[i].nocase, cases[i].subject),
                  apr_psprintf(P, "/%s/%s against '%s'", cases[i].pattern,
                               cases[i].nocase ? "i" : "", cases[i].subject));
    }
    for (i = 0; i < UNIT_NELTS(caps); ++i) {
        re = NULL;
        rw_regex_compile(P, caps[i].pattern, 0, &re);
        CHECK_INT(caps[i].ncaps, re ? re->ncaps : -1,
                  apr_psprintf(P, "capture count of /%s/", caps[i].pattern));
    }
    for (i = 0; i < UNIT_NELTS(bad); ++i) {
        re = NULL;
        CHECK(rw_regex_compile(P, bad[i], 0, &re) != NULL,
              apr_psprintf(P, "/%s/ does not compile", bad[i]));
    }
    /* the error says PCRE2's reason and where (appended to the stock
     * module's wording by the directive handlers) */
    CHECK_STR("missing closing parenthesis at offset 4",
              rw_regex_compile(P, "^(ab", 0, &re), "reason of /^(ab/");
    CHECK_STR("quantifier does not follow a repeatable item at offset 0",
              rw_regex_compile(P, "*a", 0, &re), "reason of /*a/");

    /* the server's RegexDefaultOptions apply */
    unit_default_cflags = AP_REG_ICASE;
    re = NULL;
    rw_regex_compile(P, "^/abc$", 0, &re);
    CHECK_INT(1, re_matches(re, "^/abc$", 0, "/ABC"), "RegexDefaultOptions +ICASE");
    unit_default_cflags = 0;
    re = NULL;
    rw_regex_compile(P, "^/a.b$", 0, &re);
    CHECK_INT(0, re_matches(re, "^/a.b$", 0, "/a\nb"), "RegexDefaultOptions -DOTALL");
    re = NULL;
    rw_regex_compile(P, "^/a$", 0, &re);
    CHECK_INT(1, re_matches(re, "^/a$", 0, "/a\n"), "RegexDefaultOptions -DOLLAR_ENDONLY");
    unit_default_cflags = AP_REG_NEWLINE;
    re = NULL;
    rw_regex_compile(P, "^b$", 0, &re);
    CHECK_INT(1, re_matches(re, "^b$", 0, "a\nb"), "RegexDefaultOptions +NEWLINE");
    unit_default_cflags = AP_REG_DEFAULT;
}

/* ------------------------------------------------------------------ */
/* The .htaccess line cache                                            */

static int cache_entries(void)
{
    int n = 0;
    htentry_t *e;

    for (e = cache->head; e; e = e->next)
        ++n;
    return n;
}

static int regex_matches_plain(const rw_regex_t *re, const char *s)
{
    pcre2_match_data *md;
    int rc;

    if (!re->pcre)      /* decided without PCRE: its literal */
        return !strcmp(s, re->lit);
    md = pcre2_match_data_create(1, NULL);
    rc = pcre2_match(re->pcre->code, (PCRE2_SPTR)s, strlen(s), 0, 0, md,
                     NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static void test_htcache(void)
{
    apr_pool_t *req1, *req2, *cp;
    cmd_parms cmd;
    rw_rule_t r1, r2;
    unsigned char msg[15];
    apr_ssize_t klen;
    char line[64];
    int i, found;
    htentry_t *e;

    /* SipHash-2-4 reference vectors (key 00..0f; messages 00.., 0 and
     * 15 bytes long) */
    for (i = 0; i < 15; ++i)
        msg[i] = (unsigned char)i;
    CHECK(siphash_cd(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, 0, 2, 4)
          == 0x726fdb47dd0e0e31ULL, "siphash vector, empty");
    CHECK(siphash_cd(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, 15, 2, 4)
          == 0xa129ca6149be45e5ULL, "siphash vector, 15 bytes");
    /* the cache's 1-3: keyed (another key, another hash), and every
     * byte counts */
    CHECK(siphash13(1, 2, msg, 15) == siphash13(1, 2, msg, 15),
          "siphash13 deterministic");
    CHECK(siphash13(1, 2, msg, 15) != siphash13(1, 3, msg, 15),
          "siphash13 keyed");
    CHECK(siphash13(1, 2, msg, 15) != siphash13(1, 2, msg, 14),
          "siphash13 length");
    CHECK(siphash13(1, 2, msg, 15) != siphash_cd(1, 2, msg, 15, 2, 4),
          "siphash13 is not 2-4");

    apr_pool_create(&cp, P);
    rw_parse_init(cp);
    CHECK(cache != NULL, "cache created");
    if (!cache)
        return;
    /* "Ez" and "FY" collide in APR's default hash (times 33), so do all
     * strings made of them; not in ours */
    klen = APR_HASH_KEY_STRING;
    CHECK(apr_hashfunc_default("EzEz", &klen) ==
          (klen = APR_HASH_KEY_STRING, apr_hashfunc_default("FYFY", &klen)),
          "APR's default hash collides on EzEz/FYFY");
    klen = APR_HASH_KEY_STRING;
    found = rw_hash_keyed("EzEz", &klen) !=
            (klen = APR_HASH_KEY_STRING, rw_hash_keyed("FYFY", &klen));
    CHECK(found, "the cache's hash does not");

    cache->budget = 40 * RW_HTCACHE_NODE;
    unit_in_htaccess = 1;
    memset(&cmd, 0, sizeof(cmd));

    /* a hit gives the same compiled rule */
    apr_pool_create(&req1, P);
    cmd.pool = req1;
    CHECK_STR(NULL, compile_cached(&cmd, 0, "^a$ /b [L]", &r1, sizeof(r1),
                                   rule_fn), "first compile");
    CHECK_STR(NULL, compile_cached(&cmd, 0, "^a$ /b [L]", &r2, sizeof(r2),
                                   rule_fn), "second compile");
    CHECK(r1.re == r2.re && r1.pattern == r2.pattern, "hit: same entry");
    CHECK_INT(1, cache_entries(), "one entry");
    {
        rw_rule_t r3;
        CHECK_STR(NULL, compile_cached(&cmd, 0, "^(a|b)$ /b [L]", &r3,
                                       sizeof(r3), rule_fn), "third compile");
        CHECK_STR(NULL, compile_cached(&cmd, 0, "^(a|b)$ /b [L]", &r3,
                                       sizeof(r3), rule_fn), "fourth compile");
        /* no JIT code for .htaccess patterns, however often used */
        CHECK(r3.re->pcre && !r3.re->pcre->jitted, "no JIT in .htaccess");
        /* both went into this request's batch: one pool */
        CHECK(cache->head->batch->pool == cache->head->next->batch->pool &&
              cache->head->batch->pool ==
              ((htbatch_t *)request_batch(cache, req1))->pool,
              "the request's lines share its batch");
    }
    /* errors are not cached */
    CHECK(compile_cached(&cmd, 0, "^(a /b", &r2, sizeof(r2), rule_fn) != NULL,
          "bad pattern: error");
    CHECK_INT(2, cache_entries(), "error not cached");

    /* bounded in bytes: 100 new lines, one request each (a hostile
     * .htaccess changing on every request), the budget holds; the
     * oldest go first, except a line in use, which stays readable until
     * its request ends */
    for (i = 0; i < 100; ++i) {
        apr_pool_create(&req2, P);
        cmd.pool = req2;
        apr_snprintf(line, sizeof(line), "^/x%d/(.*)$ /y%d/$1 [L]", i, i);
        CHECK_STR(NULL, compile_cached(&cmd, 0, line, &r2, sizeof(r2),
                                       rule_fn), "compile");
        CHECK(cache->bytes <= cache->budget, "within the budget");
        /* keep "^/x0/..." recent */
        CHECK_STR(NULL, compile_cached(&cmd, 0, "^/x0/(.*)$ /y0/$1 [L]", &r2,
                                       sizeof(r2), rule_fn), "recompile");
        apr_pool_destroy(req2);
        CHECK(cache->bytes <= cache->budget, "within the budget");
    }
    CHECK(cache_entries() >= 10 && cache_entries() <= 40, "entries bounded");
    found = 0;
    for (e = cache->head; e; e = e->next)
        if (!strcmp(e->line, "^/x0/(.*)$ /y0/$1 [L]"))
            found = 1;
    CHECK(found, "the recently used line stays (LRU)");
    found = 0;
    for (e = cache->head; e; e = e->next)
        if (!strcmp(e->line, "^/x1/(.*)$ /y1/$1 [L]"))
            found = 1;
    CHECK(!found, "an old line went");
    /* the first entry was evicted while req1 used it: still readable */
    CHECK_STR("^a$", r1.pattern, "evicted entry in use: readable");
    CHECK_INT(1, regex_matches_plain(r1.re, "a"), "its regex still works");
    apr_pool_destroy(req1);     /* frees it */
    CHECK(cache->bytes <= cache->budget, "within the budget");

    /* one request with many new lines (a large .htaccess): all compile,
     * the request's batch holds them until it ends, and afterwards the
     * budget holds again */
    apr_pool_create(&req2, P);
    cmd.pool = req2;
    for (i = 0; i < 60; ++i) {
        apr_snprintf(line, sizeof(line), "^/big%d/(.*)$ /z%d/$1 [L]", i, i);
        CHECK_STR(NULL, compile_cached(&cmd, 0, line, &r2, sizeof(r2),
                                       rule_fn), "compile in one request");
    }
    CHECK_STR("^/big59/(.*)$", r2.pattern, "the last line compiled");
    apr_pool_destroy(req2);
    apr_pool_create(&req2, P);
    cmd.pool = req2;
    CHECK_STR(NULL, compile_cached(&cmd, 0, "^/after$ /a [L]", &r2,
                                   sizeof(r2), rule_fn), "next request");
    apr_pool_destroy(req2);
    CHECK(cache->bytes <= cache->budget, "within the budget afterwards");

    /* a line costing more than 1/16 of the budget is not kept */
    {
        apr_pool_t *req3;
        char *big = apr_palloc(P, 20000);
        memset(big, 'a', 19990);
        memcpy(big, "^/", 2);
        strcpy(big + 19990, " /b");
        apr_pool_create(&req3, P);
        cmd.pool = req3;
        i = cache_entries();
        CHECK_STR(NULL, compile_cached(&cmd, 0, big, &r2, sizeof(r2),
                                       rule_fn), "big line compiles");
        CHECK_INT(i, cache_entries(), "big line not kept");
        apr_pool_destroy(req3);
        CHECK(cache->bytes <= cache->budget, "big line: its batch freed");
    }
    unit_in_htaccess = 0;
    apr_pool_destroy(cp);
    CHECK(cache == NULL, "cache gone with its pool");
}

/* Which patterns keep JIT code in short rule lists (post_config). */
static void test_pattern_backtracks(void)
{
    static const struct { const char *pattern; int backtracks; } cases[] = {
        { "^/blog/(\\d{4})/(\\d{2})/([^/]+)/?$", 0 },
        { "^/shop/item/(\\d+)$", 0 },
        { "^/a/(.*)\\.html$", 0 },
        { "^/a\\|b", 0 },                  /* an escaped bar */
        { "^/a\\(x\\)+", 0 },              /* escaped parentheses */
        { "^/old-(?:shop|store)/(.*)$", 1 },
        { "^/x(?!y)", 1 },
        { "^/x(?=y)", 1 },
        { "^/x(?<=y)", 1 },
        { "^/c/((?:[a-z]+-)*/)+x", 1 },
        { "^/c/(ab)?x", 1 },
        { "^/c/(ab){2,}x", 1 },
        { "^/c/(.*)/(.*)$", 1 },
        { "^/c/(.+)-(.*)$", 1 },
        { "\\", 0 },
    };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(cases); ++i)
        CHECK_INT(cases[i].backtracks, rw_pattern_backtracks(cases[i].pattern),
                  apr_psprintf(P, "backtracks: %s", cases[i].pattern));
}

void test_parse(void)
{
    test_pattern_backtracks();
    test_split_args();
    test_parse_var();
    test_parse_template();
    test_rule_flags();
    test_rule_status_codes();
    test_rule_flag_values();
    test_cond_flags();
    test_cond_pattern();
    test_regex_compile();
    test_htcache();
}
