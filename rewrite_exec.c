/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Request time: the rule engine.  It walks the compiled rules of
 * include/rewrite.h against a request_rec, in server context from the
 * translate_name hook and in directory context from the fixups hook.
 * Everything here is read-only on the configuration and allocates only
 * from the request pool, so it is safe under threaded MPMs.
 */
#include <pwd.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_uri.h"
#include "apr_user.h"
#include "apr_optional.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_vhost.h"
#include "ap_mmn.h"
#include "util_script.h"

#include "rewrite.h"
#include "rewrite_stats.h"

APLOG_USE_MODULE(rewrite);

/* mod_ssl's optional functions, resolved once in post_config. */
APR_DECLARE_OPTIONAL_FN(int, ssl_is_https, (conn_rec *));
APR_DECLARE_OPTIONAL_FN(char *, ssl_var_lookup,
                        (apr_pool_t *, server_rec *, conn_rec *,
                         request_rec *, char *));
static APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https_fn;
static APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *ssl_var_fn;
static int proxy_available;

void rw_exec_post_config(void)
{
    is_https_fn = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);
    ssl_var_fn = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    proxy_available = ap_find_linked_module("mod_proxy.c") != NULL;
}

/* Notes shared with the other hooks and with other modules. */
#define NOTE_MIMETYPE   "rewrite-forced-mimetype"
#define NOTE_HANDLER    "rewrite-forced-handler"
#define NOTE_REDUCED    "mod_rewrite_uri_reduced"
#define NOTE_REWRITTEN  "mod_rewrite_rewritten"
#define NOTE_VARY       "rewrite-perdir-vary"

/* What one rule did. */
enum {
    ACT_NOCHANGE = -1, /* matched, but '-' rewrote nothing */
    ACT_NONE = 0,     /* nothing matched */
    ACT_NORMAL,       /* rewritten */
    ACT_NOESCAPE,     /* rewritten by an [NE] rule */
    ACT_STATUS        /* answer with r->status */
};

/* What a rule list decided: the kind of the last substitution (or of
 * [PT], or of a forced status), read by the two passes instead of
 * prefixes written into r->filename. */
typedef enum {
    OUT_NONE = 0,     /* no substitution, no [PT]: nothing to do */
    OUT_INTERNAL,     /* a URL-path or file path in r->filename */
    OUT_REDIRECT,     /* an absolute URL in r->filename */
    OUT_PROXY,        /* [P]: r->filename is mod_proxy's "proxy:URL" */
    OUT_PASSTHROUGH,  /* [PT]: r->filename goes back to URL mapping */
    OUT_STATUS        /* answer with r->status */
} rw_out_kind_t;

typedef struct {
    rw_out_kind_t kind;
    int noescape;     /* the last substituting rule had [NE] */
    int refused;      /* OUT_STATUS: the refusal of a '?' an expansion
                       * brought in (AH10508), which the stock module
                       * leaves in r->status */
    int url;          /* OUT_STATUS: the last substitution before it was
                       * an absolute URL, whose query is not checked */
} rw_outcome_t;

typedef struct {
    request_rec *r;
    const char *perdir;       /* directory prefix, NULL in server context */
    apr_size_t perdir_len;
    const char *dsrc, *dpi;   /* r->filename, r->path_info that ... */
    const char *dsubj;        /* ... this per-dir rule subject is made of */
    rw_match_t rule;          /* $N of the rule being applied */
    rw_match_t cond;          /* %N of the last matched condition */
    const char *vary;         /* headers read by passing conditions */
    const char *vary_this;    /* headers read by the current condition */
    const rw_rule_t *cur;     /* rule whose substitution is expanded */
    int unsafe_3f;            /* the query's '?' came from an expansion */
    int q_first_expanded;     /* the substitution's first '?' did */
    int q_last_expanded;      /* its last '?' did ([QSL]) */
    int subst_noq;            /* the expanded substitution certainly
                               * holds no '?' (0: it may) */
    const char *orig_args;    /* r->args when the pass began */
    int depth;                /* nesting of expand() (map keys, defaults) */
    int tl;                   /* highest rewrite:traceN enabled, 0 none */
    const char *hsub;         /* subject the hashes below are of */
    apr_size_t hlen;
    unsigned hcase, hfold;    /* rw_lit_hash of hsub, exact and folded */
    const rw_rule_t *lastsub; /* last rule that substituted */
    rw_out_kind_t kind;       /* what the last substitution was */
    const char *csubject;     /* URL the candidates below are for */
    const int *cands;         /* indexed rules that may match it */
    int ncands, cpos;
    const int *always;        /* rules that are always candidates */
    int nalways, apos;
} rw_ctx_t;

/* ------------------------------------------------------------------ */
/* Logging: the stock module's trace format, so guides read the same.  */

static void vrwlog(rw_ctx_t *ctx, int showdir, int level, const char *fmt,
                   va_list ap)
{
    request_rec *r = ctx->r;
    request_rec *req;
    const char *redir = "", *user;
    const char *dir = showdir ? ctx->perdir : NULL;
    char *msg;
    int n = 0;

    level += APLOG_DEBUG;       /* trace1..8 */
    if (!APLOG_R_MODULE_IS_LEVEL(r, APLOG_MODULE_INDEX, level))
        return;
    msg = apr_pvsprintf(r->pool, fmt, ap);
    for (req = r; req->prev; req = req->prev)
        ++n;
    if (n)
        redir = apr_psprintf(r->pool, "/redir#%d", n);
    user = r->user ? (*r->user ? r->user : "\"\"") : "-";
    ap_log_rerror_("mod_rewrite.c", __LINE__, APLOG_MODULE_INDEX, level, 0,
                   r, "%s %s %s [%s/sid#%pp][rid#%pp/%s%s] %s%s%s%s",
                   ap_get_useragent_host(r, REMOTE_NAME, NULL),
                   ap_get_remote_logname(r) ? ap_get_remote_logname(r) : "-",
                   user, ap_get_server_name(r), (void *)r->server, (void *)r,
                   r->main ? "subreq" : "initial", redir,
                   dir ? "[perdir " : "", dir ? dir : "", dir ? "] " : "",
                   msg);
}

/* A trace line, tagged "[perdir DIR]" in directory context. */
static void rwlog_(rw_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rwlog_(rw_ctx_t *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrwlog(ctx, 1, level, fmt, ap);
    va_end(ap);
}

/* A trace line the stock module never tags with the directory. */
static void rwlog_nodir_(rw_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rwlog_nodir_(rw_ctx_t *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrwlog(ctx, 0, level, fmt, ap);
    va_end(ap);
}

/* The level test is inline, so that with tracing off a trace line costs
 * one comparison and its arguments are not even evaluated. */
#define rwlog(ctx, level, ...) \
    do { if ((ctx)->tl >= (level)) rwlog_(ctx, level, __VA_ARGS__); } while (0)
#define rwlog_nodir(ctx, level, ...) \
    do { if ((ctx)->tl >= (level)) rwlog_nodir_(ctx, level, __VA_ARGS__); } \
    while (0)

/* Sets up ctx for r: the trace level is read once per hook. */
static void ctx_init(rw_ctx_t *ctx, request_rec *r)
{
    int level = ap_get_request_module_loglevel(r, APLOG_MODULE_INDEX);

    memset(ctx, 0, sizeof(*ctx));
    ctx->r = r;
    ctx->orig_args = r->args;
    ctx->tl = level > APLOG_DEBUG ? level - APLOG_DEBUG : 0;
}

/* ------------------------------------------------------------------ */
/* Escaping                                                            */

static const char hexdigits[] = "0123456789abcdef";

/* Characters kept as they are in a redirect's path and query string:
 * the alphanumerics and "-._~!$&'()*+,;=:@/", as bits of two masks for
 * the ASCII range (bytes past it: whatever apr_isalnum says). */
static inline int uri_safe(unsigned char c)
{
    static const apr_uint64_t mask[2] = {
        APR_UINT64_C(0x2fffffd200000000), APR_UINT64_C(0x47fffffe87ffffff)
    };

    return c < 128 ? (int)((mask[c >> 6] >> (c & 63)) & 1)
                   : apr_isalnum(c) != 0;
}

/* Escapes s for a redirect; the first keep_q '?' stay literal (an ldap
 * URL's field separators dn?attributes?scope?filter?extensions), every
 * other one is escaped like any unsafe byte.  One pass, into room for
 * the worst case. */
static char *escape_uri(apr_pool_t *p, const char *s, int keep_q)
{
    const unsigned char *c;
    char *out, *o;
    int q = 0;

    o = out = apr_palloc(p, 3 * strlen(s) + 1);
    for (c = (const unsigned char *)s; *c; ++c) {
        if (uri_safe(*c) || (*c == '?' && q++ < keep_q))
            *o++ = (char)*c;
        else {
            *o++ = '%';
            *o++ = hexdigits[*c >> 4];
            *o++ = hexdigits[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

char *rw_escape_backref(apr_pool_t *p, const char *str, const char *only,
                        const char *except, int noplus, int ctls)
{
    apr_size_t n = strlen(str);
    char *out = apr_palloc(p, 3 * n + 1), *o = out;
    const unsigned char *c;

    for (c = (const unsigned char *)str; *c; ++c) {
        int esc;
        if (apr_isalnum(*c) || *c == '_')
            esc = 0;                    /* never, whatever the lists say */
        else if (ctls)                  /* [BCTLS], plus a [B=...] list */
            esc = apr_iscntrl(*c) || *c == ' ' || (only && strchr(only, *c));
        else
            esc = !only || strchr(only, *c) != NULL;
        if (esc && except && strchr(except, *c))
            esc = 0;
        if (!esc)
            *o++ = (char)*c;
        else if (*c == ' ' && !noplus)
            *o++ = '+';
        else {
            *o++ = '%';
            *o++ = hexdigits[*c >> 4];
            *o++ = hexdigits[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int has_ctl_or_space(const char *s)
{
    for (; *s; ++s)
        if (apr_iscntrl((unsigned char)*s) || *s == ' ')
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Regex matching                                                      */

/* What the engine keeps per request in its module slot: the PCRE2
 * match data (made once per request, not once per pattern), [END], and
 * what map lookups remember (each map file stat'ed once per request).
 * Sub-requests have their own. */
typedef struct {
    pcre2_match_data *md;
    int end;        /* an [END] rule matched in this request */
    rw_map_memo_t *maps;    /* what its map lookups remember */
} rw_reqstate_t;

static apr_status_t free_match_data(void *md)
{
    pcre2_match_data_free(md);
    return APR_SUCCESS;
}

static APR_INLINE rw_reqstate_t *req_state(request_rec *r)
{
    rw_reqstate_t *st = ap_get_module_config(r->request_config,
                                             &rewrite_module);
    if (!st) {
        st = apr_pcalloc(r->pool, sizeof(*st));
        ap_set_module_config(r->request_config, &rewrite_module, st);
    }
    return st;
}

static pcre2_match_data *match_data(request_rec *r)
{
    rw_reqstate_t *st = req_state(r);

    if (!st->md) {
        st->md = pcre2_match_data_create(RW_MAX_REFS, NULL);
        if (!st->md)
            return NULL;
        apr_pool_cleanup_register(r->pool, st->md, free_match_data,
                                  apr_pool_cleanup_null);
    }
    return st->md;
}

/* The pattern's required literal rules out a match (see rw_regex_t). */
static int cannot_match(const rw_regex_t *re, const char *s)
{
    if (!rw_lit_at(s, re->lit, re->litlen, re->lit_nocase))
        return 1;
    return re->lit_exact && s[re->litlen] != '\0';
}

/* Where re->tail starts in s[0..len): its first copy, or with last its
 * last one; -1 when s has none. */
static long find_tail(const rw_regex_t *re, const char *s, apr_size_t len,
                      int last)
{
    apr_size_t n = re->taillen, i;

    if (len < n)
        return -1;
    if (last) {
        for (i = len - n + 1; i-- > 0; )
            if (rw_lit_at(s + i, re->tail, n, re->lit_nocase))
                return (long)i;
    }
    else {
        for (i = 0; i + n <= len; ++i)
            if (rw_lit_at(s + i, re->tail, n, re->lit_nocase))
                return (long)i;
    }
    return -1;
}

/* A pattern decided without PCRE (rw_shape_t), its prefix literal
 * already checked by cannot_match: whether s matches, and $0/$1 in m
 * when m is not NULL, as PCRE would give them. */
static int shape_match(const rw_regex_t *re, const char *s, rw_match_t *m)
{
    apr_size_t len = 0;
    long from = 0, to, g1 = -1, g2 = -1;

    switch ((rw_shape_t)re->shape) {
    case RW_SHAPE_EXACT:
    case RW_SHAPE_PREFIX:
        to = (long)re->litlen;
        break;
    case RW_SHAPE_REST:
        to = g2 = (long)strlen(s);
        g1 = (long)re->litlen;
        break;
    case RW_SHAPE_ALL:
        to = (long)strlen(s);
        break;
    case RW_SHAPE_ONE:
        if (!*s)
            return 0;
        to = 1;
        break;
    case RW_SHAPE_CONTAINS:
        if ((from = find_tail(re, s, strlen(s), 0)) < 0)
            return 0;
        to = from + (long)re->taillen;
        break;
    case RW_SHAPE_LASTSPLIT:
        if ((g2 = find_tail(re, s, strlen(s), 1)) < 0)
            return 0;
        g1 = 0;
        to = g2 + (long)re->taillen;
        break;
    case RW_SHAPE_SUFFIX:
    case RW_SHAPE_ENDSPLIT:
        len = strlen(s);
        if (len < re->taillen ||
            !rw_lit_at(s + len - re->taillen, re->tail, re->taillen,
                    re->lit_nocase))
            return 0;
        to = (long)len;
        if (re->shape == RW_SHAPE_SUFFIX)
            from = (long)(len - re->taillen);
        else {
            g1 = 0;
            g2 = (long)(len - re->taillen);
        }
        break;
    default:
        return 0;
    }
    if (m) {
        m->subject = s;
        m->n = g1 < 0 ? 1 : 2;
        /* only the first m->n pairs are ever read (match_ref) */
        m->ov[0] = (int)from;
        m->ov[1] = (int)to;
        m->ov[2] = (int)g1;
        m->ov[3] = (int)g2;
    }
    return 1;
}

/* cannot_match() for the rule loop: an exact literal ("^/old/x$") is
 * first compared by length and hash, computed once per subject, so that
 * thousands of such rules cost a comparison each. */
static int cannot_match_fast(rw_ctx_t *ctx, const rw_regex_t *re,
                             const char *s)
{
    if (re->lit_exact) {
        if (ctx->hsub != s) {
            ctx->hsub = s;
            ctx->hlen = strlen(s);
            ctx->hcase = rw_lit_hash(s, ctx->hlen, 0);
            ctx->hfold = rw_lit_hash(s, ctx->hlen, 1);
        }
        if (ctx->hlen != re->litlen ||
            (re->lit_nocase ? ctx->hfold : ctx->hcase) != re->lithash)
            return 1;
    }
    return cannot_match(re, s);
}

/* s[0..len) has neither case of byte c (rw_pcre_t.need; 0: none
 * needed). */
static int lacks(const char *s, apr_size_t len, unsigned char c)
{
    if (!c || memchr(s, c, len))
        return 0;
    return !apr_isalpha(c) || !memchr(s, apr_toupper(c), len);
}

/* Matches s against re; fills m when m is not NULL. */
static int regex_match(request_rec *r, const rw_regex_t *re, const char *s,
                       rw_match_t *m)
{
    const rw_pcre_t *pc;
    pcre2_match_data *md;
    apr_size_t len;
    int rc, i;

    if (re->lit && cannot_match(re, s))
        return 0;
    if (!re->pcre)
        return shape_match(re, s, m);
    pc = re->pcre;
    len = strlen(s);
    if (len < pc->minlen || lacks(s, len, pc->need[0]) ||
        lacks(s, len, pc->need[1]))
        return 0;                   /* PCRE would say so, after more work */
    md = match_data(r);
    if (!md)
        return 0;
    /* with JIT code, the JIT's own entry: the same match without the
     * checks pcre2_match makes before it hands over to it */
    rc = pc->jitted
        ? pcre2_jit_match(pc->code, (PCRE2_SPTR)s, len, 0, 0, md, NULL)
        : pcre2_match(pc->code, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        /* The JIT failed (its stack overflows on long subjects; its match
         * limit counts otherwise than the interpreter's): the answer is
         * the interpreter's, with PCRE2's default limits, as in the stock
         * module.  A JIT error must never read as "no match": a deny rule
         * would let the request pass. */
        rc = pcre2_match(pc->code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, md,
                         NULL);
    }
    if (rc < 0) {
        if (rc != PCRE2_ERROR_NOMATCH) {
            /* the match limit (catastrophic backtracking): the stock
             * module takes it as "no match" without a word; so do we,
             * and say it */
            PCRE2_UCHAR msg[120];
            if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
                apr_cpystrn((char *)msg, "unknown error", sizeof(msg));
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, RWLOGNO(00001)
                          "mod_rewrite: regex match of '%s' against %" APR_SIZE_T_FMT
                          " bytes failed (PCRE2 error %d: %s): taken as no "
                          "match, as in the stock module", pc->src, len, rc,
                          (const char *)msg);
        }
        return 0;
    }
    if (m) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int n = rc == 0 ? RW_MAX_REFS : rc;
        m->subject = s;
        m->n = n;
        for (i = 0; i < 2 * n; ++i)      /* match_ref reads no more */
            m->ov[i] = ov[i] != PCRE2_UNSET ? (int)ov[i] : -1;
    }
    return 1;
}

static const char *match_ref(apr_pool_t *p, const rw_match_t *m, int n,
                             apr_size_t *len)
{
    if (!m->subject || n >= m->n || m->ov[2 * n] < 0) {
        *len = 0;
        return "";
    }
    *len = (apr_size_t)(m->ov[2 * n + 1] - m->ov[2 * n]);
    return m->subject + m->ov[2 * n];
}

/* ------------------------------------------------------------------ */
/* Variables                                                           */

static void add_vary(rw_ctx_t *ctx, const char *name)
{
    ctx->vary_this = ctx->vary_this
        ? apr_pstrcat(ctx->r->pool, ctx->vary_this, ",", name, NULL)
        : name;
}

static const char *lookup_header(rw_ctx_t *ctx, const char *name)
{
    const char *v = apr_table_get(ctx->r->headers_in, name);
    if (v)      /* only headers the client sent go into Vary */
        add_vary(ctx, name);
    return v;
}

static const char *lookup_var(rw_ctx_t *ctx, const rw_var_t *v);

/* A look-ahead (LA-U, LA-F, -U, -F) may run one more sub-request,
 * except from a sub-request for its parent's own URI (that would
 * recurse for ever), as with the stock module. */
static int may_look_ahead(const request_rec *r)
{
    return !r->main || !r->uri || !r->main->uri ||
           strcmp(r->uri, r->main->uri) != 0;
}

/* %{LA-U:x} and %{LA-F:x}: run a sub-request and read x there.  The
 * value is copied into the main request's pool before the sub-request
 * goes away. */
static const char *lookahead(rw_ctx_t *ctx, const rw_var_t *v)
{
    request_rec *r = ctx->r, *rsub;
    rw_ctx_t sub;
    const char *val, *path;
    int as_uri;

    if (r->filename == NULL || !may_look_ahead(r))
        return "";
    /* the current URL: in directory context a file path, which the
     * stock module also looks up as a URL for LA-U */
    path = r->filename;
    as_uri = v->kind == RW_VAR_LA_U;
    if (ctx->perdir) {
        /* as with the stock module: the path relative to the directory
         * (what the rules match) is made whole again with the
         * RewriteBase (LA-U) or the directory's prefix, joined as they
         * are ("/b" + "x" is "/bx"); a path that is not relative to it
         * (a <Location>, <DirectoryMatch>, <Files> or <If> prefix, or
         * an earlier rule's URL-path) is looked up as a URL, for LA-F
         * too */
        const rw_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                                       &rewrite_module);
        apr_size_t pl = strlen(ctx->perdir);
        const char *rel;
        if (r->path_info && *r->path_info)
            path = apr_pstrcat(r->pool, path, r->path_info, NULL);
        rel = strncmp(path, ctx->perdir, pl) ? path : path + pl;
        if (*rel == '/')
            as_uri = 1;
        else
            path = apr_pstrcat(r->pool, as_uri && dc && dc->baseurl
                                        ? dc->baseurl : ctx->perdir,
                               rel, NULL);
    }
    if (as_uri)
        rsub = ap_sub_req_lookup_uri(path, r, NULL);
    else
        rsub = ap_sub_req_lookup_file(path, r, NULL);
    sub = *ctx;
    sub.r = rsub;
    sub.vary_this = NULL;
    val = lookup_var(&sub, v->inner);
    val = apr_pstrdup(r->pool, val ? val : "");
    if (sub.vary_this)
        add_vary(ctx, apr_pstrdup(r->pool, sub.vary_this));
    rwlog(ctx, 5, "lookahead: path=%s var=%s -> val=%s", path, v->arg, val);
    ap_destroy_sub_req(rsub);
    return val;
}

static const char *script_owner(request_rec *r, int group)
{
    apr_finfo_t fi;
    char *name = NULL;

    /* the request's own stat first: for a missing file that is the
     * directory the walk stopped at, as the stock module reports */
    if (r->finfo.valid & (group ? APR_FINFO_GROUP : APR_FINFO_USER)) {
        if (group ? apr_gid_name_get(&name, r->finfo.group, r->pool)
                  : apr_uid_name_get(&name, r->finfo.user, r->pool))
            name = NULL;
    }
    else if (r->filename &&
        apr_stat(&fi, r->filename, group ? APR_FINFO_GROUP : APR_FINFO_USER,
                 r->pool) == APR_SUCCESS) {
        if (group ? apr_gid_name_get(&name, fi.group, r->pool)
                  : apr_uid_name_get(&name, fi.user, r->pool))
            name = NULL;
    }
    return name ? name : "<unknown>";
}

static const char *lookup_var(rw_ctx_t *ctx, const rw_var_t *v)
{
    request_rec *r = ctx->r;
    apr_time_exp_t tm;
    const char *s = NULL;

    switch (v->kind) {
    case RW_VAR_UNKNOWN:
        return "";
    case RW_VAR_HEADER:
        s = lookup_header(ctx, v->arg);
        break;
    case RW_VAR_HTTP_HOST:      /* the stock module adds no Vary for it */
        s = apr_table_get(r->headers_in, "Host");
        break;
    case RW_VAR_ENV:
        s = apr_table_get(r->notes, v->arg);
        if (!s)
            s = apr_table_get(r->subprocess_env, v->arg);
        if (!s)
            s = getenv(v->arg);
        break;
    case RW_VAR_SSL:
        if (ssl_var_fn)
            s = ssl_var_fn(r->pool, r->server, r->connection, r,
                           apr_pstrdup(r->pool, v->arg));
        break;
    case RW_VAR_LA_U:
    case RW_VAR_LA_F:
        return lookahead(ctx, v);
    case RW_VAR_TIME_YEAR: case RW_VAR_TIME_MON: case RW_VAR_TIME_DAY:
    case RW_VAR_TIME_HOUR: case RW_VAR_TIME_MIN: case RW_VAR_TIME_SEC:
    case RW_VAR_TIME_WDAY: case RW_VAR_TIME:
        apr_time_exp_lt(&tm, apr_time_now());
        switch (v->kind) {
        case RW_VAR_TIME_YEAR:
            return apr_psprintf(r->pool, "%04d", tm.tm_year + 1900);
        case RW_VAR_TIME_MON:
            return apr_psprintf(r->pool, "%02d", tm.tm_mon + 1);
        case RW_VAR_TIME_DAY:
            return apr_psprintf(r->pool, "%02d", tm.tm_mday);
        case RW_VAR_TIME_HOUR:
            return apr_psprintf(r->pool, "%02d", tm.tm_hour);
        case RW_VAR_TIME_MIN:
            return apr_psprintf(r->pool, "%02d", tm.tm_min);
        case RW_VAR_TIME_SEC:
            return apr_psprintf(r->pool, "%02d", tm.tm_sec);
        case RW_VAR_TIME_WDAY:
            return apr_psprintf(r->pool, "%d", tm.tm_wday);
        default:
            s = apr_psprintf(r->pool, "%04d%02d%02d%02d%02d%02d",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             tm.tm_hour, tm.tm_min, tm.tm_sec);
            rwlog(ctx, 1, "RESULT='%s'", s);
            return s;
        }
    case RW_VAR_API_VERSION:
        return apr_psprintf(r->pool, "%d:%d", MODULE_MAGIC_NUMBER_MAJOR,
                            MODULE_MAGIC_NUMBER_MINOR);
    case RW_VAR_AUTH_TYPE:
        s = r->ap_auth_type;
        break;
    case RW_VAR_CONN_REMOTE_ADDR:
        s = r->connection->client_ip;
        break;
    case RW_VAR_CONTEXT_PREFIX:
        s = ap_context_prefix(r);
        break;
    case RW_VAR_CONTEXT_DOCUMENT_ROOT:
        s = ap_context_document_root(r);
        break;
    case RW_VAR_IPV6:
#if APR_HAVE_IPV6
        {
            apr_sockaddr_t *a = r->useragent_addr;
            s = (a && a->family == AF_INET6 &&
                 !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a->ipaddr_ptr))
                ? "on" : "off";
        }
#else
        s = "off";
#endif
        rwlog(ctx, 1, "IPV6='%s'", s);
        break;
    case RW_VAR_PATH_INFO:
        s = r->path_info;
        break;
    case RW_VAR_QUERY_STRING:
        s = r->args;
        break;
    case RW_VAR_REMOTE_ADDR:
        s = r->useragent_ip;
        break;
    case RW_VAR_REMOTE_HOST:
        s = ap_get_useragent_host(r, REMOTE_NAME, NULL);
        break;
    case RW_VAR_REMOTE_IDENT:
        s = ap_get_remote_logname(r);
        break;
    case RW_VAR_REMOTE_PORT:
        return apr_itoa(r->pool, r->useragent_addr
                        ? r->useragent_addr->port
                        : r->connection->client_addr->port);
    case RW_VAR_REMOTE_USER:
        s = r->user;
        break;
    case RW_VAR_REQUEST_METHOD:
        s = r->method;
        break;
    case RW_VAR_REQUEST_FILENAME:
        s = r->filename;
        break;
    case RW_VAR_DOCUMENT_ROOT:
        s = ap_document_root(r);
        break;
    case RW_VAR_SCRIPT_GROUP:
        return script_owner(r, 1);
    case RW_VAR_SCRIPT_USER:
        return script_owner(r, 0);
    case RW_VAR_SERVER_ADDR:
        s = r->connection->local_ip;
        break;
    case RW_VAR_SERVER_ADMIN:
        s = r->server->server_admin;
        break;
    case RW_VAR_SERVER_NAME:
        s = ap_get_server_name_for_url(r);
        break;
    case RW_VAR_SERVER_PORT:
        return apr_itoa(r->pool, ap_get_server_port(r));
    case RW_VAR_SERVER_PROTOCOL:
        s = r->protocol;
        break;
    case RW_VAR_SERVER_SOFTWARE:
        s = ap_get_server_banner();
        break;
    case RW_VAR_HTTPS:
        s = (is_https_fn && is_https_fn(r->connection)) ? "on" : "off";
        break;
    case RW_VAR_IS_SUBREQ:
        s = r->main ? "true" : "false";
        break;
    case RW_VAR_REQUEST_SCHEME:
        s = ap_http_scheme(r);
        break;
    case RW_VAR_REQUEST_URI:
        s = r->uri;
        break;
    case RW_VAR_THE_REQUEST:
        s = r->the_request;
        break;
    }
    return s ? s : "";
}

/* ------------------------------------------------------------------ */
/* Template expansion                                                  */

typedef struct {
    const char *s;
    apr_size_t len;
} span_t;

static const char *expand(rw_ctx_t *ctx, const rw_tpl_t *t);
static char *expand_new(rw_ctx_t *ctx, const rw_tpl_t *t);

/* The back ends' trace lines, untagged like the stock module's. */
static void map_log(void *baton, int level, const char *msg)
{
    rw_ctx_t *ctx = baton;
    rwlog_nodir(ctx, level, "%s", msg);
}

static const char *map_value(rw_ctx_t *ctx, const rw_piece_t *pc)
{
    request_rec *r = ctx->r;
    rw_server_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                &rewrite_module);
    /* by number when the name had one at config time (the server's map
     * of that name or NULL, as by name) */
    const rw_map_t *map = pc->mapid >= 0 && pc->mapid < sc->nmapids
        ? sc->mapids[pc->mapid]
        : apr_hash_get(sc->maps, pc->map, APR_HASH_KEY_STRING);
    const char *key = expand(ctx, pc->key);
    const char *val = NULL;

    if (!map)
        return pc->dflt ? expand(ctx, pc->dflt) : "";
    /* NULL: not found, use the default; "" is a value (int, prg, dbd) */
    /* no trace sink when no map trace line (trace3 and up) would show */
    val = rw_map_lookup_req(r, map, key, ctx->tl >= 3 ? map_log : NULL, ctx,
                            &req_state(r)->maps);
    if (val)
        return val;
    return pc->dflt ? expand(ctx, pc->dflt) : "";
}

/* Where the '?' that starts the query string of the substitution being
 * expanded (t, whose values are v) comes from, for the [UnsafeAllow3F]
 * check: its first '?', the last one under [QSL]. */
static void note_query_marks(rw_ctx_t *ctx, const rw_tpl_t *t,
                             const span_t *v)
{
    int i, seen_q = 0;

    for (i = 0; i < t->npieces; ++i) {
        if (memchr(v[i].s, '?', v[i].len)) {
            int expanded = t->pieces[i].kind != RW_PIECE_LIT;
            if (!seen_q)
                ctx->q_first_expanded = expanded;
            ctx->q_last_expanded = expanded;
            seen_q = 1;
        }
    }
}

/* Expands t into a new pool string (a copy, for a template of plain
 * text): values are gathered first, then copied into a buffer of the
 * exact size.  Back-references of a rule with [B]/[BCTLS] are escaped;
 * for the substitution itself (depth 1) the origin of its '?' is noted
 * for the %3F check, and whether it has one at all. */
static char *expand_new(rw_ctx_t *ctx, const rw_tpl_t *t)
{
    span_t local[16], *v = local;
    apr_size_t total = 0;
    int i;
    char *out, *o;
    const rw_rule_t *rule = ctx->cur;

    if (t->literal)
        return apr_pstrdup(ctx->r->pool, t->literal);
    /* a lone $N or %N (a map key), unescaped, not the substitution: a
     * copy of it */
    if (t->npieces == 1 && (t->pieces[0].kind == RW_PIECE_RULEREF ||
                            t->pieces[0].kind == RW_PIECE_CONDREF) &&
        !(rule && (ctx->depth == 0 ||
                   (rule->flags & (RW_RF_ESCAPEBACKREF | RW_RF_ESCAPECTLS))))) {
        const rw_piece_t *pc = t->pieces;
        apr_size_t len;
        const char *ref = match_ref(ctx->r->pool, pc->kind == RW_PIECE_RULEREF
                                    ? &ctx->rule : &ctx->cond, pc->n, &len);
        return apr_pstrmemdup(ctx->r->pool, ref, len);
    }
    ++ctx->depth;
    if (t->npieces > 16)
        v = apr_palloc(ctx->r->pool, (apr_size_t)t->npieces * sizeof(*v));
    for (i = 0; i < t->npieces; ++i) {
        const rw_piece_t *pc = &t->pieces[i];
        switch (pc->kind) {
        case RW_PIECE_LIT:
            v[i].s = pc->lit;
            v[i].len = pc->len;
            break;
        case RW_PIECE_RULEREF:
        case RW_PIECE_CONDREF:
            v[i].s = match_ref(ctx->r->pool, pc->kind == RW_PIECE_RULEREF
                               ? &ctx->rule : &ctx->cond, pc->n, &v[i].len);
            if (rule && (rule->flags & (RW_RF_ESCAPEBACKREF |
                                        RW_RF_ESCAPECTLS))) {
                const char *raw = apr_pstrmemdup(ctx->r->pool, v[i].s,
                                                 v[i].len);
                v[i].s = rw_escape_backref(ctx->r->pool, raw,
                                           (rule->flags & RW_RF_ESCAPEBACKREF)
                                           ? rule->bchars : NULL,
                                           rule->bnechars,
                                           rule->flags & RW_RF_NOPLUS,
                                           rule->flags & RW_RF_ESCAPECTLS);
                v[i].len = strlen(v[i].s);
                rwlog(ctx, 5, "escaping backreference '%s' to '%s'", raw,
                      v[i].s);
            }
            break;
        case RW_PIECE_VAR:
            v[i].s = lookup_var(ctx, &pc->var);
            v[i].len = strlen(v[i].s);
            break;
        case RW_PIECE_MAP:
            v[i].s = map_value(ctx, pc);
            v[i].len = strlen(v[i].s);
            break;
        }
        total += v[i].len;
    }
    o = out = apr_palloc(ctx->r->pool, total + 1);
    for (i = 0; i < t->npieces; ++i) {
        memcpy(o, v[i].s, v[i].len);
        o += v[i].len;
    }
    *o = '\0';
    if (rule && ctx->depth == 1) {
        ctx->subst_noq = !memchr(out, '?', total);
        if (!ctx->subst_noq)
            note_query_marks(ctx, t, v);
    }
    --ctx->depth;
    return out;
}

/* Expands t: the template itself when it is plain text, else a new
 * pool string (expand_new). */
static const char *expand(rw_ctx_t *ctx, const rw_tpl_t *t)
{
    return t->literal ? t->literal : expand_new(ctx, t);
}

/* ------------------------------------------------------------------ */
/* Conditions                                                          */

static int file_test(rw_ctx_t *ctx, const rw_cond_t *c, const char *in)
{
    request_rec *r = ctx->r, *rsub;
    apr_finfo_t fi;
    int rc = 0;

    switch (c->kind) {
    case RW_COND_FILE:
        return apr_stat(&fi, in, APR_FINFO_MIN, r->pool) == APR_SUCCESS &&
               fi.filetype == APR_REG;
    case RW_COND_FILE_SIZE:
        return apr_stat(&fi, in, APR_FINFO_MIN, r->pool) == APR_SUCCESS &&
               fi.filetype == APR_REG && fi.size > 0;
    case RW_COND_DIR:
        return apr_stat(&fi, in, APR_FINFO_MIN, r->pool) == APR_SUCCESS &&
               fi.filetype == APR_DIR;
    case RW_COND_LINK:
        return apr_stat(&fi, in, APR_FINFO_MIN | APR_FINFO_LINK, r->pool)
               == APR_SUCCESS && fi.filetype == APR_LNK;
    case RW_COND_EXEC:
        return apr_stat(&fi, in, APR_FINFO_PROT, r->pool) == APR_SUCCESS &&
               (fi.protection & (APR_UEXECUTE | APR_GEXECUTE | APR_WEXECUTE));
    case RW_COND_URL_SUB:
        if (*in == '\0' || !may_look_ahead(r))
            return 0;
        rsub = ap_sub_req_lookup_uri(in, r, NULL);
        rc = rsub->status < 400;
        rwlog_nodir(ctx, 5, "RewriteCond URI (-U check: path=%s -> status=%d",
              in, rsub->status);
        ap_destroy_sub_req(rsub);
        return rc;
    case RW_COND_FILE_SUB:
        if (*in == '\0' || !may_look_ahead(r))
            return 0;
        rsub = ap_sub_req_lookup_file(in, r, NULL);
        /* the file the sub-request ends with: rewritten away (to
         * "redirect:...") it is no file, as with the stock module */
        rc = rsub->status < 400 && rsub->filename &&
             apr_stat(&fi, rsub->filename, APR_FINFO_MIN, r->pool)
             == APR_SUCCESS && fi.filetype == APR_REG;
        rwlog_nodir(ctx, 5, "RewriteCond file (-F check: path=%s -> file=%s "
              "status=%d", in, rsub->filename, rsub->status);
        ap_destroy_sub_req(rsub);
        return rc;
    default:
        return 0;
    }
}

/* An expr= condition: evaluated by httpd's expression parser; its regex
 * captures become %N.  1 when it holds (negation applied). */
static int apply_cond_expr(rw_ctx_t *ctx, const rw_cond_t *c)
{
    request_rec *r = ctx->r;
    const char *err = NULL;
    ap_regmatch_t regm[AP_MAX_REG_MATCH];
    ap_expr_eval_ctx_t ectx;
    const char *src = NULL, *vary = NULL;
    int rc;

    memset(&ectx, 0, sizeof(ectx));
    ectx.r = r;
    ectx.c = r->connection;
    ectx.s = r->server;
    ectx.p = r->pool;
    ectx.err = &err;
    ectx.info = c->expr;
    ectx.re_nmatch = AP_MAX_REG_MATCH;
    ectx.re_pmatch = regm;
    ectx.re_source = &src;
    /* the headers the expression read go into Vary whatever the result,
     * as with the stock module (not with [NV]: the parser got
     * AP_EXPR_FLAG_DONT_VARY) */
    ectx.vary_this = (c->flags & RW_CF_NOVARY) ? NULL : &vary;
    rc = ap_expr_exec_ctx(&ectx);
    if (vary)
        apr_table_merge(r->headers_out, "Vary", vary);
    if (rc < 0 || err) {
        rwlog(ctx, 1, "RewriteCond: expr='%s' evaluation failed: %s",
              c->pattern, err ? err : "");
        rc = 0;
    }
    else if (rc > 0 && src) {
        int i;
        ctx->cond.subject = src;
        ctx->cond.n = RW_MAX_REFS;
        for (i = 0; i < RW_MAX_REFS; ++i) {
            ctx->cond.ov[2 * i] = regm[i].rm_so;
            ctx->cond.ov[2 * i + 1] = regm[i].rm_eo;
        }
    }
    /* the stock module logs the expression's own result */
    rwlog(ctx, 4, "RewriteCond: input='(null)' pattern='%s%s'%s => %s",
          c->negate ? "!" : "", c->pattern,
          (c->flags & RW_CF_NOCASE) ? " [NC]" : "",
          rc ? "matched" : "not-matched");
    return c->negate ? !rc : rc;
}

/* The outcome of comparing in with a string operand: as in the stock
 * module, with [NC] the usual case-insensitive order; without, a shorter
 * string is the smaller one and bytes are compared only between strings
 * of equal length ('=' compares bytes). */
static unsigned str_compare(const rw_cond_t *c, const char *in)
{
    int d;

    if (c->flags & RW_CF_NOCASE)
        d = strcasecmp(in, c->operand);
    else if (c->kind == RW_COND_STR_EQ)
        d = strcmp(in, c->operand);
    else {
        apr_size_t li = strlen(in);
        d = li != c->oplen ? (li < c->oplen ? -1 : 1)
                           : strcmp(in, c->operand);
    }
    return d < 0 ? RW_CMP_LESS : d > 0 ? RW_CMP_MORE : RW_CMP_EQUAL;
}

/* Evaluates one condition; 1 when it holds (negation applied). */
static int apply_cond(rw_ctx_t *ctx, const rw_cond_t *c)
{
    const char *in;
    int rc = 0, nocase = c->flags & RW_CF_NOCASE;
    rw_match_t m;

    if (c->kind == RW_COND_EXPR)
        return apply_cond_expr(ctx, c);

    /* a TestString that is one variable ("%{HTTP_HOST}") is read as it
     * is, uncopied: a condition only reads its input */
    if (c->input->npieces == 1 && c->input->pieces[0].kind == RW_PIECE_VAR)
        in = lookup_var(ctx, &c->input->pieces[0].var);
    else
        in = expand(ctx, c->input);
    switch (c->kind) {
    case RW_COND_REGEX:
        rc = regex_match(ctx->r, c->re, in, &m);
        if (rc && !c->negate)
            ctx->cond = m;
        break;
    case RW_COND_STR_LT: case RW_COND_STR_LE: case RW_COND_STR_EQ:
    case RW_COND_STR_GT: case RW_COND_STR_GE:
        rc = (c->accept & str_compare(c, in)) != 0;
        break;
    case RW_COND_INT_LT: case RW_COND_INT_LE: case RW_COND_INT_EQ:
    case RW_COND_INT_GT: case RW_COND_INT_GE: case RW_COND_INT_NE: {
        /* an int, as the stock module reads it */
        int x = (int)strtol(in, NULL, 10);
        rc = (c->accept & (x < c->opint ? RW_CMP_LESS : x > c->opint
                           ? RW_CMP_MORE : RW_CMP_EQUAL)) != 0;
        break;
    }
    default:
        rc = file_test(ctx, c, in);
        break;
    }
    if (c->negate)
        rc = !rc;
    rwlog(ctx, 4, "RewriteCond: input='%s' pattern='%s%s'%s => %s", in,
          c->negate ? "!" : "", c->pattern, nocase ? " [NC]" : "",
          rc ? "matched" : "not-matched");
    return rc;
}

/* Runs the conditions of a rule with their AND/OR logic.  The rule fails
 * only when a condition without [OR] fails; a failing [OR] on the last
 * condition leaves the rule standing, as in the stock module. */
static int apply_conds(rw_ctx_t *ctx, const rw_rule_t *p)
{
    int i;

    for (i = 0; i < p->nconds; ++i) {
        const rw_cond_t *c = &p->conds[i];
        int rc;
        ctx->vary_this = NULL;
        rc = apply_cond(ctx, c);
        if (rc && ctx->vary_this && !(c->flags & RW_CF_NOVARY))
            ctx->vary = ctx->vary
                ? apr_pstrcat(ctx->r->pool, ctx->vary, ",", ctx->vary_this,
                              NULL)
                : ctx->vary_this;
        if (c->flags & RW_CF_ORNEXT) {
            if (rc) {
                /* one of an OR chain held: skip the rest of the chain */
                while (i < p->nconds - 1 && (p->conds[i].flags & RW_CF_ORNEXT))
                    ++i;
            }
            continue;
        }
        if (!rc)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Helpers on the rewritten URL                                        */

/* The schemes a substitution may start with to be a URL, as the stock
 * module knows them.  query: the scheme carries a query string, which is
 * split off and escaped on its own; the others keep every '?' in the URL
 * (and lose the request's query on a redirect).  ldap keeps its first
 * four '?' (the field separators) when escaped for a redirect. */
typedef struct {
    const char *name;
    int len;
    int query;
} rw_scheme_t;

static const rw_scheme_t *scheme_lookup(const char *u)
{
    static const rw_scheme_t schemes[] = {
        { "ajp://", 6, 1 }, { "balancer://", 11, 1 }, { "fcgi://", 7, 1 },
        { "ftp://", 6, 0 }, { "gopher://", 9, 0 }, { "http://", 7, 1 },
        { "https://", 8, 1 }, { "h2://", 5, 1 }, { "h2c://", 6, 1 },
        { "ldap://", 7, 0 }, { "mailto:", 7, 1 }, { "news:", 5, 0 },
        { "nntp://", 7, 0 }, { "scgi://", 7, 1 }, { "ws://", 5, 1 },
        { "wss://", 6, 1 }, { "unix:", 5, 1 },
    };
    apr_size_t i;

    /* no scheme starts with anything but a letter, and none has a ':'
     * past its 9th byte */
    if (!apr_isalpha((unsigned char)*u) || !memchr(u, ':', strnlen(u, 10)))
        return NULL;
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); ++i)
        if (!strncasecmp(u, schemes[i].name, (apr_size_t)schemes[i].len))
            return &schemes[i];
    return NULL;
}

/* The scheme of u, if it is one the module knows; a URL-path, the
 * usual case, is told apart at once. */
static APR_INLINE const rw_scheme_t *scheme_of(const char *u)
{
    return *u == '/' ? NULL : scheme_lookup(u);
}

static int is_absolute_uri(const char *u, int *hostpos)
{
    const rw_scheme_t *sch = scheme_of(u);

    if (sch && hostpos)
        *hostpos = sch->len;
    return sch != NULL;
}

/* An absolute URL whose scheme carries no query string (ftp, ldap...). */
static int is_queryless_url(const char *u)
{
    const rw_scheme_t *sch = scheme_of(u);

    return sch && !sch->query;
}

/* "http://host[:port]" of this request, no trailing slash. */
static const char *this_host_url(request_rec *r)
{
    apr_port_t port = ap_get_server_port(r);
    char buf[8], *p = buf + sizeof(buf);

    /* ":port" unless the scheme's default, written by hand: this runs for
     * every request (SCRIPT_URI) */
    *--p = '\0';
    if (!ap_is_default_port(port, r)) {
        do
            *--p = (char)('0' + port % 10);
        while ((port /= 10) > 0);
        *--p = ':';
    }
    return apr_pstrcat(r->pool, ap_http_scheme(r), "://",
                       ap_get_server_name_for_url(r), p, NULL);
}

static char *fully_qualify(request_rec *r, char *uri)
{
    if (is_absolute_uri(uri, NULL))
        return uri;
    return apr_pstrcat(r->pool, this_host_url(r), *uri == '/' ? "" : "/",
                       uri, NULL);
}

/* Reduces "http://thishost[:port]/path" to "/path". */
static char *reduce_uri(rw_ctx_t *ctx, char *u)
{
    request_rec *r = ctx->r;
    apr_uri_t parsed;
    int pos;

    if (!is_absolute_uri(u, &pos))
        return u;
    if (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8))
        return u;
    if (apr_uri_parse(r->pool, u, &parsed) != APR_SUCCESS || !parsed.hostname)
        return u;
    if (!ap_matches_request_vhost(r, parsed.hostname,
                                  parsed.port_str ? parsed.port
                                  : apr_uri_port_of_scheme(parsed.scheme)))
        return u;
    {
        char *path = u + pos + strcspn(u + pos, "/");
        char *res = *path ? path : apr_pstrdup(r->pool, "/");
        rwlog_nodir(ctx, 3, "reduce %s -> %s", u, res);
        apr_table_setn(r->notes, NOTE_REDUCED, "1");
        return res;
    }
}

/* Drops one '&' at the end of s. */
static char *strip_amp(char *s)
{
    apr_size_t n = strlen(s);

    if (n && s[n - 1] == '&')
        s[n - 1] = '\0';
    return s;
}

/* Moves the query string of *uri into r->args, per QSA/QSD/QSL.
 * discard: the substitution ended in a lone '?' (already removed).  No
 * '?' is looked for in a URL its expansion found none in
 * (ctx->subst_noq). */
static void split_query(rw_ctx_t *ctx, const rw_rule_t *p, char **uri,
                        int discard)
{
    request_rec *r = ctx->r;
    char *q, *full;
    int lone;

    /* ftp://, ldap://...: the '?' stays in the URL, and the request's
     * query is dropped for the rules that follow, as with the stock
     * module */
    /* discard: the substitution ended in a lone '?' (already removed) */
    lone = discard;
    if (is_queryless_url(*uri)) {
        r->args = NULL;
        if (((p->flags & RW_RF_QSDISCARD) && !strchr(*uri, '?')) ||
            (lone && !(p->flags & RW_RF_QSAPPEND)))
            rwlog_nodir(ctx, 2, "discarding query string, no parse from "
                        "substitution");
        return;
    }
    if (p->flags & RW_RF_QSDISCARD)
        discard = 1;
    else if (p->flags & RW_RF_QSAPPEND)
        discard = 0;    /* [QSA] keeps the query despite a trailing '?' */
    /* a substitution ending in a lone '?' gives no query at all: a '?'
     * before it stays in the URL, as with the stock module */
    q = (lone || ctx->subst_noq) ? NULL
        : (p->flags & RW_RF_QSLAST) ? strrchr(*uri, '?') : strchr(*uri, '?');
    if (q == NULL) {
        if (discard) {
            r->args = NULL;
            rwlog_nodir(ctx, 2, "discarding query string, no parse from "
                  "substitution");
        }
        return;
    }
    if (discard) {
        r->args = NULL;
        rwlog_nodir(ctx, 2, "discarding query string");
    }
    full = apr_pstrdup(r->pool, *uri);
    *q++ = '\0';
    /* as with the stock module: [QSA] joins with '&' and then drops one
     * '&' left at the end, so "a=1&" stays "a=1&" when the request has
     * no query to join; an empty substitution query leaves the request's
     * own; without [QSA] one trailing '&' is dropped */
    if (p->flags & RW_RF_QSAPPEND) {
        if (*q && r->args)
            r->args = strip_amp(apr_pstrcat(r->pool, q, "&", r->args, NULL));
        else if (*q)
            r->args = apr_pstrdup(r->pool, q);
    }
    else
        r->args = strip_amp(apr_pstrdup(r->pool, q));
    if (r->args && !*r->args)
        r->args = NULL;         /* empty is unset, as with the stock module */
    rwlog_nodir(ctx, 3, "split uri=%s -> uri=%s, args=%s", full, *uri,
          r->args ? r->args : "<none>");
}

/* ------------------------------------------------------------------ */
/* Environment, cookies                                                */

static void set_env(rw_ctx_t *ctx, const rw_rule_t *p)
{
    int i;

    for (i = 0; p->env && i < p->env->nelts; ++i) {
        const rw_env_t *e = &APR_ARRAY_IDX(p->env, i, rw_env_t);
        char *spec = apr_pstrdup(ctx->r->pool, expand(ctx, e->spec));
        char *val;
        if (*spec == '!') {
            rwlog_nodir(ctx, 5, "unsetting env variable '%s'", spec + 1);
            apr_table_unset(ctx->r->subprocess_env, spec + 1);
            continue;
        }
        val = strchr(spec, ':');
        if (val)
            *val++ = '\0';
        else
            val = spec + strlen(spec);     /* "" */
        rwlog_nodir(ctx, 5, "setting env variable '%s' to '%s'", spec, val);
        apr_table_set(ctx->r->subprocess_env, spec, val);
    }
}

static void set_cookies(rw_ctx_t *ctx, const rw_rule_t *p)
{
    static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
        "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    request_rec *r = ctx->r, *top = r;
    rw_ctx_t tctx;
    int i;

    if (!p->cookies)
        return;
    /* a cookie set in a sub-request (a look-ahead) belongs to the
     * response of the main request */
    while (top->main)
        top = top->main;
    /* logged as the main request's, as with the stock module */
    tctx = *ctx;
    tctx.r = top;
    for (i = 0; p->cookies && i < p->cookies->nelts; ++i) {
        const rw_tpl_t *t = APR_ARRAY_IDX(p->cookies, i, const rw_tpl_t *);
        char *spec = apr_pstrdup(r->pool, expand(ctx, t));
        char sep[2] = ":";
        char *f[8] = { 0 }, *tok, *last = NULL;
        const char *cookie, *exp = NULL;
        int n = 0, secure;

        if (*spec == ';') {
            sep[0] = ';';
            ++spec;
        }
        for (tok = apr_strtok(spec, sep, &last); tok && n < 8;
             tok = apr_strtok(NULL, sep, &last))
            f[n++] = tok;
        if (n < 3 || !f[0] || !f[1] || !f[2])
            continue;
        secure = f[5] && (!strcasecmp(f[5], "true") ||
                          !strcasecmp(f[5], "1") ||
                          !strcasecmp(f[5], "secure"));
        if (f[3] && atol(f[3]) != 0) {
            /* The lifetime (minutes) may come from the request.  As in
             * stock: atol() (saturating at LONG_MIN/LONG_MAX, trailing
             * junk ignored), no clamp, and the request time plus
             * minutes x 60,000,000 microseconds taken modulo 2^64 (stock
             * overflows signed integers there; the same values come out
             * of unsigned arithmetic here, which is defined); so a
             * huge lifetime can land in the past or in year -290,000.
             * apr_time_exp_gmt() takes any 64-bit time; the month and
             * weekday are checked before they index the name tables. */
            long mins = atol(f[3]);
            apr_uint64_t off = (apr_uint64_t)mins * APR_UINT64_C(60000000);
            apr_time_t when = (apr_time_t)((apr_uint64_t)r->request_time +
                                           off);
            apr_time_exp_t tm;
            if (apr_time_exp_gmt(&tm, when) == APR_SUCCESS &&
                tm.tm_mon >= 0 && tm.tm_mon < 12 && tm.tm_wday >= 0 &&
                tm.tm_wday < 7)
                exp = apr_psprintf(r->pool, "%s, %.2d-%s-%.4d %.2d:%.2d:%.2d "
                                   "GMT", apr_day_snames[tm.tm_wday],
                                   tm.tm_mday, months[tm.tm_mon],
                                   tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                                   tm.tm_sec);
        }
        cookie = apr_pstrcat(r->pool, f[0], "=", f[1],
                             "; path=", f[4] ? f[4] : "/",
                             "; domain=", f[2],
                             exp ? "; expires=" : "", exp ? exp : "",
                             secure ? "; secure" : "",
                             /* as in the stock module, HttpOnly only
                              * together with secure */
                             (secure && f[6] && (!strcasecmp(f[6], "true") ||
                                                 !strcasecmp(f[6], "1") ||
                                                 !strcasecmp(f[6], "HttpOnly")))
                             ? "; HttpOnly" : "",
                             (f[7] && strcasecmp(f[7], "false") &&
                              strcmp(f[7], "0"))
                             ? apr_pstrcat(r->pool, "; SameSite=", f[7], NULL)
                             : "", NULL);
        {
            /* a cookie of a name this module has already set in the
             * request (another value, domain, rule, or an earlier round)
             * is not set again, as with the stock module */
            const apr_array_header_t *h = apr_table_elts(top->err_headers_out);
            const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
            apr_size_t nl = strlen(f[0]);
            int j, dup = 0;
            for (j = 0; j < h->nelts; ++j)
                if (e[j].key && !strcasecmp(e[j].key, "Set-Cookie") &&
                    !strncmp(e[j].val, f[0], nl) && e[j].val[nl] == '=')
                    dup = 1;
            if (dup) {
                rwlog_nodir(&tctx, 5, "skipping already set cookie '%s'",
                            f[0]);
                continue;
            }
        }
        /* copied: a sub-request's pool goes before the main response */
        apr_table_add(top->err_headers_out, "Set-Cookie", cookie);
        rwlog_nodir(&tctx, 5, "setting cookie '%s'", cookie);
    }
}

/* If path starts with match (not empty), returns it with that prefix
 * replaced by subst, with a '/' between them unless subst is empty or
 * ends in one (a rest that starts with '/' keeps it: "/b" + "/x" is
 * "/b//x"); else NULL.  Logs like the stock module. */
static const char *subst_prefix(rw_ctx_t *ctx, const char *path,
                                const char *match, const char *subst)
{
    apr_size_t ml, sl;

    /* the callers' invariant: match is the rule set's directory
     * (rw_exec_dir declines without one) or a context root, subst the
     * RewriteBase or the context prefix, each tested for NULL there */
    AP_DEBUG_ASSERT(path && match && subst);
    ml = strlen(match);
    sl = strlen(subst);
    const char *rest;

    if (!ml || strncmp(path, match, ml))
        return NULL;
    rest = path + ml;
    rwlog_nodir(ctx, 5, "strip matching prefix: %s -> %s", path, rest);
    path = apr_pstrcat(ctx->r->pool, subst,
                       (!sl || subst[sl - 1] == '/') ? "" : "/", rest, NULL);
    rwlog_nodir(ctx, 4, "add subst prefix: %s -> %s", rest, path);
    return path;
}

/* T= and H= are remembered in notes and applied in the fixups, after
 * mod_mime (rw_exec_mimetype); in directory context after a substitution
 * that is the "redirect:" of this round, as in the stock module. */
/* An expanded T= or H= value: lower-cased; NULL when empty, which the
 * stock module ignores (mod_mime's choice stays). */
static char *meta_value(rw_ctx_t *ctx, const rw_tpl_t *t)
{
    const char *v = expand(ctx, t);
    char *low, *c;

    if (!*v)
        return NULL;
    low = apr_pstrdup(ctx->r->pool, v);
    for (c = low; *c; ++c)
        *c = (char)apr_tolower((unsigned char)*c);
    return low;
}

static void remember_meta(rw_ctx_t *ctx, const rw_rule_t *p)
{
    request_rec *r = ctx->r;
    const char *v;

    if (p->type_tpl && (v = meta_value(ctx, p->type_tpl))) {
        rwlog(ctx, 2, "remember %s to have MIME-type '%s'", r->filename, v);
        apr_table_setn(r->notes, NOTE_MIMETYPE, v);
    }
    if (p->handler_tpl && (v = meta_value(ctx, p->handler_tpl))) {
        rwlog(ctx, 2, "remember %s to have Content-handler '%s'",
              r->filename, v);
        apr_table_setn(r->notes, NOTE_HANDLER, v);
    }
}

/* ------------------------------------------------------------------ */
/* One rule                                                            */

/* Applies rule p to the URL in r->filename.  Returns ACT_*. */
static int apply_rule(rw_ctx_t *ctx, const rw_rule_t *p)
{
    request_rec *r = ctx->r;
    const char *uri = r->filename;
    char *newuri = NULL;
    int matched;

    /* per-dir: the path with its path info, the directory stripped;
     * made again only when the path changes (or for the trace lines that
     * stock logs for every rule) */
    if (ctx->perdir && ctx->tl < 3 && ctx->dsubj &&
        ctx->dsrc == r->filename && ctx->dpi == r->path_info)
        uri = ctx->dsubj;
    else if (ctx->perdir) {
        apr_size_t dl = ctx->perdir_len;
        if (r->path_info && *r->path_info) {
            rwlog(ctx, 3, "add path info postfix: %s -> %s%s", uri, uri,
                  r->path_info);
            uri = apr_pstrcat(r->pool, uri, r->path_info, NULL);
        }
        if (!strncmp(uri, ctx->perdir, dl)) {
            rwlog(ctx, 3, "strip per-dir prefix: %s -> %s", uri, uri + dl);
            uri += dl;
        }
        ctx->dsrc = r->filename;
        ctx->dpi = r->path_info;
        ctx->dsubj = uri;
    }
    rwlog(ctx, 3, "applying pattern '%s' to uri '%s'", p->pattern, uri);

    memset(&ctx->rule, 0, sizeof(ctx->rule));
    matched = regex_match(r, p->re, uri, p->negate ? NULL : &ctx->rule);
    if (p->negate)
        matched = !matched;
    if (!matched)
        return ACT_NONE;

    memset(&ctx->cond, 0, sizeof(ctx->cond));
    ctx->vary = NULL;
    if (p->nconds && !apply_conds(ctx, p))
        return ACT_NONE;

    if (ctx->vary) {
        apr_table_merge(r->headers_out, "Vary", ctx->vary);
        ctx->vary = NULL;
    }
    if (p->flags & RW_RF_STATUS) {
        set_env(ctx, p);
        set_cookies(ctx, p);
        remember_meta(ctx, p);  /* logged, as by the stock module */
        rwlog(ctx, 2, "forcing responsecode %d for %s", p->status, r->filename);
        r->status = p->status;
        return ACT_STATUS;
    }

    /* the substitution is expanded first, then E= and CO= */
    if (p->subst) {
        ctx->cur = p;
        ctx->q_first_expanded = ctx->q_last_expanded = 0;
        ctx->subst_noq = 0;
        newuri = expand_new(ctx, p->subst);
        ctx->cur = NULL;
        rwlog(ctx, 2, "rewrite '%s' -> '%s'", uri, newuri);
        /* CVE-2024-38474: a query string started by a '?' that an
         * expansion brought in ($N, %N, %{VAR}, ${map}), whatever the
         * request held, is refused by apply_rules unless the rule has
         * [UnsafeAllow3F]; nothing more is done with this result */
        ctx->unsafe_3f = !(p->flags & RW_RF_UNSAFE_3F) &&
            ((p->flags & RW_RF_QSLAST) ? ctx->q_last_expanded
                                       : ctx->q_first_expanded);
        if (ctx->unsafe_3f)
            return ACT_NORMAL;
    }
    set_env(ctx, p);
    set_cookies(ctx, p);
    if (!p->subst) {
        remember_meta(ctx, p);
        return ACT_NOCHANGE;        /* '-': flags only */
    }

    if (ctx->perdir) {
        /* a relative result is relative to the directory */
        if (!is_absolute_uri(newuri, NULL) && *newuri != '/') {
            rwlog(ctx, 3, "add per-dir prefix: %s -> %s%s", newuri,
                  ctx->perdir, newuri);
            newuri = apr_pstrcat(r->pool, ctx->perdir, newuri, NULL);
            ctx->subst_noq = 0;     /* a directory may have a '?' */
        }
        /* [DPI]: the path info of this round is forgotten */
        if (p->flags & RW_RF_DISCARDPATH)
            r->path_info = NULL;
    }
    else if (!(p->flags & (RW_RF_REDIRECT | RW_RF_PROXY)) &&
             !is_absolute_uri(newuri, NULL) && *newuri != '/') {
        rwlog(ctx, 3, "add root prefix: %s -> /%s", newuri, newuri);
        newuri = apr_pstrcat(r->pool, "/", newuri, NULL);
    }

    split_query(ctx, p, &newuri, p->flags & RW_RF_QSNONE);
    ctx->lastsub = p;

    if (p->flags & RW_RF_PROXY) {
        newuri = fully_qualify(r, newuri);
        r->filename = apr_pstrcat(r->pool, "proxy:", newuri, NULL);
        ctx->kind = OUT_PROXY;
        rwlog(ctx, 2, "forcing proxy-throughput with %s", newuri);
        return (p->flags & RW_RF_NOESCAPE) ? ACT_NOESCAPE : ACT_NORMAL;
    }

    if (p->flags & RW_RF_REDIRECT) {
        /* in directory context the file path goes into the URL as it is;
         * RewriteBase, if any, replaces it later (rw_exec_dir) */
        r->filename = fully_qualify(r, newuri);
        rwlog(ctx, 2, "explicitly forcing redirect with %s", r->filename);
        r->status = p->status;
        ctx->kind = OUT_REDIRECT;
        return (p->flags & RW_RF_NOESCAPE) ? ACT_NOESCAPE : ACT_NORMAL;
    }

    /* leading "//" from a back-reference is merged unless [UNC] */
    if (!(p->flags & (RW_RF_UNC | RW_RF_OUT_DSLASH)) &&
        newuri[0] == '/' && newuri[1] == '/') {
        while (newuri[1] == '/')
            ++newuri;
    }

    newuri = reduce_uri(ctx, newuri);
    r->filename = newuri;
    ctx->kind = OUT_INTERNAL;
    if (is_absolute_uri(newuri, NULL)) {
        ctx->kind = OUT_REDIRECT;
        r->status = HTTP_MOVED_TEMPORARILY;
        rwlog(ctx, 2, "implicitly forcing redirect (rc=%d with %s",
              r->status, newuri);
    }
    else    /* T= and H= are for local results only, as with stock */
        remember_meta(ctx, p);
    return (p->flags & RW_RF_NOESCAPE) ? ACT_NOESCAPE : ACT_NORMAL;
}

/* ------------------------------------------------------------------ */
/* A rule list                                                         */

static void new_subject(rw_ctx_t *ctx, const rw_index_t *ix, const char *s)
    __attribute__((noinline));

/* The candidates of a URL s that the last candidates were not looked up
 * for.  Out of line: the rule loop around next_candidate is hot. */
static void new_subject(rw_ctx_t *ctx, const rw_index_t *ix, const char *s)
{
    /* a new URL that begins as the last one did, over as many bytes as
     * the index reads, has the same candidates (a rule list that
     * rewrites a URL bit by bit): cpos stays where it is, which
     * next_candidate moves either way */
    if (!ctx->csubject || strncmp(ctx->csubject, s, rw_index_span(ix))) {
        ctx->cands = rw_index_candidates(ix, ctx->r->pool, s, &ctx->ncands);
        ctx->cpos = 0;
    }
    ctx->csubject = s;
}

/* With an index (server context, no trace line at level 3 or more to
 * lose): the first rule from i on that may match, rules that cannot
 * being failures as the engine would find them.  Since a failed rule
 * takes its [C] chain along, a candidate behind a passed-over chained
 * rule goes with it (in a sub-request [NS] and [R] rules fail nothing:
 * they are skipped alone).  The candidates are looked up again when the
 * URL changes. */
static int next_candidate(rw_ctx_t *ctx, const rw_index_t *ix,
                          const rw_rule_t *p, int n, int i)
{
    const char *s = ctx->r->filename;

    if (!ctx->always)
        ctx->always = rw_index_always(ix, &ctx->nalways);
    for (;;) {
        int j, a;
        if (ctx->csubject != s)
            new_subject(ctx, ix, s);
        /* the first of the URL's candidates and the rules that are
         * always candidates from i on (an [N] pass starts over) */
        while (ctx->cpos > 0 && ctx->cands[ctx->cpos - 1] >= i)
            --ctx->cpos;
        while (ctx->cpos < ctx->ncands && ctx->cands[ctx->cpos] < i)
            ++ctx->cpos;
        while (ctx->apos > 0 && ctx->always[ctx->apos - 1] >= i)
            --ctx->apos;
        while (ctx->apos < ctx->nalways && ctx->always[ctx->apos] < i)
            ++ctx->apos;
        j = ctx->cpos < ctx->ncands ? ctx->cands[ctx->cpos] : n;
        a = ctx->apos < ctx->nalways ? ctx->always[ctx->apos] : n;
        if (a < j)
            j = a;
        if (j == i || j >= n || !(p[j - 1].flags & RW_RF_CHAIN))
            return j;
        /* j follows rules of its chain that were passed over: they
         * failed, and took j along, unless every one of them is an [NS]
         * or [R] rule in a sub-request (skipped alone) */
        if (ctx->r->main) {
            int k = j - 1;
            while (k >= i && (p[k].flags & RW_RF_CHAIN) &&
                   (p[k].flags & (RW_RF_NOSUBREQ | RW_RF_RFLAG)))
                --k;
            if (k < i || !(p[k].flags & RW_RF_CHAIN))
                return j;
        }
        while (j < n - 1 && (p[j].flags & RW_RF_CHAIN))
            ++j;
        i = j + 1;
    }
}

/* The outcome of a status that ends the rule list ([F], [G], [R=4xx],
 * too many [N] rounds, too long a result), after the substitutions that
 * made 'last'. */
static rw_outcome_t status_after(rw_outcome_t last)
{
    rw_outcome_t o = { OUT_STATUS, 0, 0, last.kind == OUT_REDIRECT };

    return o;
}

static rw_outcome_t apply_rules(rw_ctx_t *ctx, const apr_array_header_t *rules,
                                const rw_index_t *ix)
{
    static const rw_outcome_t refused = { OUT_STATUS, 0, 1, 0 };
    const rw_rule_t *p = (const rw_rule_t *)rules->elts;
    request_rec *r = ctx->r;
    rw_outcome_t out = { OUT_NONE, 0, 0 };
    int i, rc, rounds = 1;   /* passes, this one too */

    if (ctx->perdir || ctx->tl >= 3)
        ix = NULL;
loop:
    for (i = 0; i < rules->nelts; ++i) {
        if (ix && (i = next_candidate(ctx, ix, p, rules->nelts, i))
                  >= rules->nelts)
            break;
        /* sub-requests skip [NS] rules (that rule alone, as with the
         * stock module), and [R] rules as well */
        if ((p[i].flags & RW_RF_NOSUBREQ) && r->main)
            continue;
        if ((p[i].flags & RW_RF_RFLAG) && r->main)
            continue;

        /* fast path: a rule whose required literal is missing fails at
         * once (in server context, when no trace line would be lost) */
        if (p[i].re->lit && !p[i].negate && !ctx->perdir && ctx->tl < 3 &&
            cannot_match_fast(ctx, p[i].re, r->filename))
            rc = ACT_NONE;
        else
            rc = apply_rule(ctx, &p[i]);
        if (rc != ACT_NONE)         /* matched: counted, noted */
            rw_stats_hit(r, &p[i], rc == ACT_STATUS);
        if (rc == ACT_NONE) {
            /* a failed rule of a chain takes the rest of it along */
            while (i < rules->nelts - 1 && (p[i].flags & RW_RF_CHAIN))
                ++i;
            continue;
        }
        if (rc == ACT_STATUS)
            return status_after(out);
        if (rc > 0) {
            out.kind = ctx->kind;
            out.noescape = rc == ACT_NOESCAPE;
            rwlog(ctx, 2, "setting lastsub to rule with output %s",
                  p[i].output);
            /* a result longer than two request lines (URL-path, or the
             * redirect or proxy target; the query string is split off)
             * ends the request, as in stock: rules that grow their
             * input ([N], or internal redirects) stop here and not
             * when memory runs out */
            if (strlen(r->filename) > 2 * (apr_size_t)r->server->limit_req_line) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "RewriteRule '%s' and URI '%s' exceeded "
                              "maximum length (%d)", p[i].pattern, r->uri,
                              2 * r->server->limit_req_line);
                r->status = HTTP_INTERNAL_SERVER_ERROR;
                return status_after(out);
            }
            if (ctx->unsafe_3f) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10508)
                              "Unsafe URL with %%3f URL rewritten without "
                              "UnsafeAllow3F");
                r->status = HTTP_FORBIDDEN;
                return refused;
            }
        }
        /* a matching [PT] rule ends the list, '-' included */
        if (p[i].flags & RW_RF_PASSTHROUGH) {
            rwlog(ctx, 2, "forcing '%s' to get passed through to next "
                  "API URI-to-filename handler", r->filename);
            out.kind = OUT_PASSTHROUGH;
            break;
        }
        if (p[i].flags & RW_RF_END) {
            rwlog(ctx, 8, "Rule has END flag, no further rewriting for this "
                  "request");
            req_state(r)->end = 1;
            break;
        }
        if (p[i].flags & (RW_RF_LAST | RW_RF_PROXY))
            break;
        if (p[i].flags & RW_RF_NEXT) {
            if (++rounds >= p[i].maxrounds) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(02596)
                              "RewriteRule '%s' and URI '%s' exceeded maximum "
                              "number of rounds (%d) via the [N] flag",
                              p[i].pattern, r->uri, p[i].maxrounds);
                r->status = HTTP_INTERNAL_SERVER_ERROR;
                return status_after(out);
            }
            goto loop;
        }
        if (p[i].flags & RW_RF_SKIP)
            i += p[i].skip;
        /* the rest of a chain runs only when this rule matched: go on */
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Shared final steps                                                  */

/* A rewritten query string with raw spaces or control characters would
 * be forwarded as is (internal, proxy, unescaped redirect): refused. */
static int unsafe_args(rw_ctx_t *ctx, rw_outcome_t out)
{
    request_rec *r = ctx->r;
    int escaped_redirect = out.kind == OUT_REDIRECT && !out.noescape;

    if (!r->args || escaped_redirect || !has_ctl_or_space(r->args))
        return 0;
    if (ctx->perdir)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10411)
                      "Rewritten query string contains control characters "
                      "or spaces");
    else
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10410)
                      "Rewritten query string contains control characters "
                      "or spaces");
    return 1;
}

/* Answers an external redirect to r->filename (+ args).  Returns the
 * status to send. */
static int do_redirect(rw_ctx_t *ctx, int noescape)
{
    request_rec *r = ctx->r;
    char *loc = r->filename;
    int n = r->status;
    const rw_scheme_t *sch = scheme_of(loc);
    int queryless = sch && !sch->query;

    if (!noescape) {
        rwlog(ctx, 1, "escaping %s for redirect", loc);
        if (sch) {
            int pos = sch->len;
            /* after "scheme://host" for hierarchical schemes, after
             * "scheme:" for the others (mailto:, news:) */
            const char *path = loc[pos - 1] == '/'
                ? loc + pos + strcspn(loc + pos, "/") : loc + pos;
            loc = apr_pstrcat(r->pool,
                              apr_pstrmemdup(r->pool, loc, (apr_size_t)(path - loc)),
                              escape_uri(r->pool, path,
                                         strncasecmp(loc, "ldap:", 5) ? 0 : 4),
                              NULL);
        }
    }
    /* a scheme without a query string takes none from the request */
    if (r->args && !queryless) {
        /* a query string that a substitution changed is escaped; the
         * client's own (also when a substitution copied it unchanged,
         * %{QUERY_STRING}) is already escaped and is copied */
        int esc = !noescape && (!ctx->orig_args ||
                                strcmp(r->args, ctx->orig_args));
        const char *args = esc ? escape_uri(r->pool, r->args, 0)
                               : r->args;
        rwlog(ctx, 1, "%s %s to query string for redirect %s",
              esc ? "escaping" : "copying", r->args, esc ? args : "");
        loc = apr_pstrcat(r->pool, loc, "?", args, NULL);
    }
    if (!ctx->perdir && apr_table_get(r->headers_out, "Vary"))
        apr_table_setn(r->notes, "redirect-keeps-vary", "1");
    /* the escaped URL, query included, is the request's file name too
     * (a sub-request's shows in PATH_TRANSLATED), as with the stock
     * module; with [NE] the file name stays the unescaped URL */
    if (!noescape)
        r->filename = loc;
    apr_table_setn(r->headers_out, "Location", loc);
    r->status = HTTP_OK;
    if (!ap_is_HTTP_REDIRECT(n))
        n = HTTP_MOVED_TEMPORARILY;
    rwlog(ctx, 1, "redirect to %s [REDIRECT/%d]", loc, n);
    return n;
}

static int do_proxy(rw_ctx_t *ctx, int noescape)
{
    request_rec *r = ctx->r;

    if (!proxy_available) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10160)
                      "attempt to make remote request from mod_rewrite "
                      "without proxy enabled: %s", r->filename);
        return HTTP_FORBIDDEN;
    }
    /* a forward-proxy request stays one (mod_proxy_http then adds no
     * X-Forwarded-* headers), as with the stock module */
    int forward = r->proxyreq != PROXYREQ_NONE;

    /* mod_proxy's canonicalisation appends r->args itself to a reverse
     * proxy URL; with [NE] there is none, and a forward-proxy URL is
     * taken as it is, so in both cases the query goes into the URL here */
    if (noescape)
        apr_table_setn(r->notes, "proxy-nocanon", "1");
    if ((noescape || forward) && r->args)
        r->filename = apr_pstrcat(r->pool, r->filename, "?", r->args, NULL);
    if (!forward)
        r->proxyreq = PROXYREQ_REVERSE;
    r->handler = "proxy-server";
    rwlog(ctx, 1, "go-ahead with proxy request %s [OK]", r->filename);
    return OK;
}

/* The outcomes both passes answer alike: a status ([F], [G], [R=4xx]),
 * arguments that are unsafe to use, a hand-off to mod_proxy.  Returns 1
 * with *status to return when one of them applies. */
static int ended(rw_ctx_t *ctx, rw_outcome_t out, int *status)
{
    request_rec *r = ctx->r;

    int forced = 0;

    /* a forced status ([F], [G], [R=4xx], too many rounds...) is
     * answered as itself, with r->status back at 200 (an ErrorDocument's
     * request included), as with the stock module; the refusal of an unsafe '?' stays in r->status, as with the stock
     * module: httpd clears it before answering the first request, but
     * in an internally redirected one (per-directory rewrite,
     * ErrorDocument, a CGI's local Location) it reports the refusal as
     * met while serving an ErrorDocument ("Additionally, a 403 ...") */
    if (out.kind == OUT_STATUS) {
        forced = r->status;
        if (!out.refused)
            r->status = HTTP_OK;
    }
    /* an unsafe query left by an earlier rule is refused before the
     * status a later rule forces, as with the stock module; not the
     * query of an absolute URL (a redirect, [NE] or not): the status
     * is answered */
    if (!(out.kind == OUT_STATUS && out.url) && unsafe_args(ctx, out)) {
        *status = HTTP_FORBIDDEN;
        return 1;
    }
    if (forced) {
        *status = forced;
        return 1;
    }
    if (out.kind == OUT_PROXY) {
        *status = do_proxy(ctx, out.noescape);
        return 1;
    }
    return 0;
}

/* The document root without a trailing slash: its length. */
static apr_size_t docroot_len(const char *root)
{
    apr_size_t rl = strlen(root);

    return rl && root[rl - 1] == '/' ? rl - 1 : rl;
}

/* Decides whether a server-context result names a file-system path:
 * its first segment must exist at the root, and (unless UnsafePrefixStat)
 * the rule must have written that segment literally, or the path must
 * already lie under the document root. */
static int prefix_stat(rw_ctx_t *ctx, const char *path, int unsafe_ok)
{
    request_rec *r = ctx->r;
    const char *end, *out, *root;
    const char *seg;
    apr_finfo_t fi;
    int ok, dotseg;

    if (*path != '/')
        return 0;
    while (path[1] == '/')      /* "//x": the segment is "/x" */
        ++path;
    end = strchr(path + 1, '/');
    seg = end ? apr_pstrmemdup(r->pool, path, (apr_size_t)(end - path))
              : apr_pstrdup(r->pool, path);
    /* a dot segment: the stock module stats (and logs) "/" */
    dotseg = !strcmp(seg, "/.") || !strcmp(seg, "/..");
    if (dotseg)
        seg = "/";
    if (apr_stat(&fi, seg, APR_FINFO_MIN, r->pool) != APR_SUCCESS)
        return 0;
    if (!ctx->lastsub || unsafe_ok < 0) {
        rwlog(ctx, 3, "prefix_stat no lastsub subst prefix %s", seg);
        return !dotseg;
    }
    out = ctx->lastsub->output;
    rwlog(ctx, 3, "prefix_stat compare statpath %s and lastsub output %s "
          "STATOK %d ", seg, out, unsafe_ok);
    /* Deliberately safer than stock: "/./any/path" and "/../any/path"
     * pass the stock module's check ("/" starts every output) and are
     * served as file-system paths; here they are URL-paths, merged onto
     * the document root (t/safer.t) */
    if (dotseg)
        return 0;
    if (unsafe_ok)
        return 1;
    ok = !strncmp(out, seg, strlen(seg));
    rwlog(ctx, 5, "prefix_stat startsWith(%s, %s) %d", out, seg, ok);
    if (ok)
        return 1;
    root = ap_document_root(r);
    ok = !strncmp(path, root, strlen(root));
    rwlog(ctx, 5, "prefix_stat startsWith(%s, %s) %d", path, root, ok);
    return ok;
}

/* Expands "/~user/rest" to the user's home directory. */
static char *expand_tilde(request_rec *r, char *uri)
{
    char *user, *home, *rest;

    if (uri[0] != '/' || uri[1] != '~')
        return uri;
    rest = strchr(uri + 2, '/');
    user = rest ? apr_pstrmemdup(r->pool, uri + 2, (apr_size_t)(rest - (uri + 2)))
                : uri + 2;
    if (!*user || apr_uid_homepath_get(&home, user, r->pool) != APR_SUCCESS)
        return uri;
    return apr_pstrcat(r->pool, home, rest ? rest : "", NULL);
}

/* [END] was applied to this request or to one it was internally
 * redirected from (per-directory re-injection, ErrorDocument): it holds
 * for all of them, as in stock.  It does not pass into sub-requests
 * (DirectoryIndex, look-ups, SSI): their rules run, so a rule that
 * refuses a file still refuses it when mod_dir looks it up. */
/* [END] matched in this request or one it was internally redirected
 * from.  Kept in the module's request slot, not in r->notes: a
 * sub-request's [END] that mod_dir's fast redirect brings into the main
 * request (with the sub-request's notes) stops nothing there, as with
 * the stock module. */
static int end_seen(request_rec *r)
{
    for (; r; r = r->prev) {
        const rw_reqstate_t *st = ap_get_module_config(r->request_config,
                                                       &rewrite_module);
        if (st && st->end)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Server context: translate_name                                      */

static void set_script_vars(request_rec *r)
{
    const char *url = apr_table_get(r->subprocess_env, "REDIRECT_SCRIPT_URL");

    /* a sub-request (SSI include, DirectoryIndex, look-ahead) shows the
     * main request's URL, empty when the engine did not run there, as
     * with the stock module */
    if (r->main) {
        url = apr_table_get(r->main->subprocess_env, "SCRIPT_URL");
        if (!url)
            url = "";
    }
    else if (!url)
        url = r->uri;
    apr_table_setn(r->subprocess_env, "SCRIPT_URL", url);
    apr_table_setn(r->subprocess_env, "SCRIPT_URI",
                   apr_pstrcat(r->pool, this_host_url(r), url, NULL));
}

int rw_exec_server(request_rec *r)
{
    rw_server_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                &rewrite_module);
    rw_ctx_t ctx;
    rw_outcome_t out = { OUT_NONE, 0, 0 };
    int passed, status;

    rw_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                             &rewrite_module);
    const apr_array_header_t *rules;
    int own = sc && sc->server == r->server;
    const char *vary;

    /* a request that a per-directory rewrite redirected internally takes
     * the Vary of that round into its headers_out: kept when it succeeds,
     * dropped with them when it ends in an error, as with the stock
     * module */
    if (r->prev && (vary = apr_table_get(r->prev->notes, NOTE_VARY)))
        apr_table_merge(r->headers_out, "Vary", vary);

    /* A vhost without rewrite directives shares the main server's record:
     * its rules are not for this vhost.  The engine state is the
     * per-directory one, already merged with <Location> at this point:
     * the server's RewriteEngine line, or a <Location> that turns the
     * engine on or off for its URLs. */
    if (!own || !dc || dc->state != 1)
        return DECLINED;
    rules = own ? sc->rules : NULL;
    ctx_init(&ctx, r);

    if (end_seen(r)) {
        rwlog_nodir(&ctx, 8, "Declining, no further rewriting due to END "
                    "flag");
        return DECLINED;
    }

    if (!r->uri ||
        (!(own && (sc->options & RW_OPT_ANYURI)) && r->uri[0] != '/')) {
        rwlog(&ctx, 8, "Declining, request-URI '%s' is not a URL-path. "
              "Consult the manual entry for the RewriteOptions directive "
              "for options and caveats about matching other strings.",
              r->uri ? r->uri : "");
        return DECLINED;
    }

    set_script_vars(r);

    /* a forward proxy request arrives with its filename already set */
    passed = r->filename != NULL;
    if (passed)
        rwlog(&ctx, 2, "init rewrite engine with passed filename %s. "
              "Original uri = %s", r->filename, r->uri);
    else {
        rwlog(&ctx, 2, "init rewrite engine with requested uri %s", r->uri);
        r->filename = apr_pstrdup(r->pool, r->uri);
    }
    if (rules)
        out = apply_rules(&ctx, rules, sc->index);
    if (out.kind == OUT_NONE) {
        /* the filename: "proxy:URL" for a forward-proxy request; else
         * the URL-path stays in it, as with the stock module: the core
         * maps it to a file next, and where that fails (a path too long
         * for the file system) a look-ahead reads the URL-path */
        rwlog(&ctx, 1, "pass through %s", r->filename);
        return DECLINED;
    }
    if (ended(&ctx, out, &status))
        return status;
    if (out.kind == OUT_REDIRECT)
        return do_redirect(&ctx, out.noescape);
    if (out.kind == OUT_PASSTHROUGH) {
        r->uri = r->filename;
        r->filename = NULL;
        return DECLINED;
    }

    r->filename = expand_tilde(r, r->filename);
    rwlog(&ctx, 2, "local path result: %s", r->filename);
    if (r->filename[0] != '/')
        return HTTP_BAD_REQUEST;

    {
        int reduced = apr_table_get(r->notes, NOTE_REDUCED) != NULL;
        /* RewriteOptions UnsafePrefixStat: -1, no comparison at all;
         * [UnsafePrefixStat]: its flag bit, which the trace shows */
        int unsafe_ok = (sc->options & RW_OPT_UNSAFE_PREFIX) ? -1
                      : ctx.lastsub ? (int)(ctx.lastsub->flags &
                                            RW_RF_UNSAFE_PREFIX) : 0;
        int is_fs = prefix_stat(&ctx, r->filename, unsafe_ok) &&
                    (!reduced || (sc->options & RW_OPT_LEGACY_PREFIX_DOCROOT));
        if (!is_fs && passed) {
            rwlog(&ctx, 1, "prefixing with document_root of %s FAILED",
                  r->filename);
            return HTTP_FORBIDDEN;
        }
        if (!is_fs) {
            /* merged onto the document root the way the core maps a URL
             * to a file: '.' and '..' resolved, a result above the root
             * (or with an over-long segment) refused, as with the stock
             * module */
            char *merged;
            const char *rel = r->filename;
            while (*rel == '/')
                ++rel;
            if (apr_filepath_merge(&merged, ap_document_root(r), rel,
                                   APR_FILEPATH_TRUENAME |
                                   APR_FILEPATH_SECUREROOT, r->pool)
                != APR_SUCCESS) {
                rwlog(&ctx, 1, "prefixing with document_root of %s FAILED",
                      r->filename);
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(00127)
                              "Cannot map %s to file", r->the_request);
                return HTTP_FORBIDDEN;
            }
            r->filename = merged;
            rwlog(&ctx, 2, "prefixed with document_root to %s", r->filename);
        }
    }
    rwlog(&ctx, 1, "go-ahead with %s [OK]", r->filename);
    apr_table_setn(r->notes, NOTE_REWRITTEN, "1");
    return OK;
}

/* ------------------------------------------------------------------ */
/* Directory context: fixups                                           */


int rw_exec_dir(request_rec *r)
{
    rw_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                             &rewrite_module);
    rw_ctx_t ctx;
    rw_outcome_t out;
    const char *ofilename, *uri, *b;
    int status;

    /* no section or .htaccess with rewrite directives applies: the
     * server's default record has no rules of its own */
    if (!dc || dc->state != 1 || !dc->directory || r->filename == NULL)
        return DECLINED;
    ctx_init(&ctx, r);
    ctx.perdir = dc->directory;
    ctx.perdir_len = strlen(dc->directory);

    if (end_seen(r)) {
        rwlog(&ctx, 8, "Declining, no further rewriting due to END flag");
        return DECLINED;
    }
    /* the rules of a directory requested without its trailing slash wait
     * for mod_dir's redirect; the rules of its parents still run; checked before
     * FollowSymLinks, so mod_dir's 301 wins over the 403 */
    /* (the file name tells, not the URI: a server rule's result, or a
     * file sub-request (-F, LA-F) whose URI is empty) */
    if (!(dc->options & RW_OPT_NOSLASH) && r->finfo.filetype == APR_DIR &&
        *r->filename && r->filename[strlen(r->filename) - 1] != '/' &&
        dc->directory) {
        apr_size_t fl = strlen(r->filename);
        if (!strncmp(dc->directory, r->filename, fl) &&
            (!strcmp(dc->directory + fl, "/") || !dc->directory[fl]))
            return DECLINED;
    }

    if (!(ap_allow_options(r) & (OPT_SYM_LINKS | OPT_SYM_OWNER))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(00670)
                      "Options FollowSymLinks and SymLinksIfOwnerMatch are "
                      "both off, so the RewriteRule directive is also "
                      "forbidden due to its similar ability to circumvent "
                      "directory restrictions : %s", r->filename);
        return HTTP_FORBIDDEN;
    }
    ofilename = r->filename;
    out = apply_rules(&ctx, dc->rules, NULL);
    if (out.kind == OUT_NONE) {
        rwlog(&ctx, 1, "pass through %s", r->filename);
        return DECLINED;
    }
    if (ended(&ctx, out, &status))
        return status;
    if (out.kind == OUT_REDIRECT) {
        int pos;
        const char *path = NULL;
        if (dc->baseurl && is_absolute_uri(r->filename, &pos))
            path = r->filename + pos + strcspn(r->filename + pos, "/");
        /* the directory inside the redirect URL becomes RewriteBase; not
         * for an empty path ("http://host" or "http://host/") */
        if (path && *path && path[1]) {
            /* compared without the URL's first '/', and so without one
             * leading '/' of the directory (but "/" of <Location "/">
             * stays: it matches a second '/' only) and of the base; an
             * <If>'s "*If/" matches as it is */
            const char *m = dc->directory + (*dc->directory == '/' &&
                                             dc->directory[1]);
            const char *s = dc->baseurl + (*dc->baseurl == '/');
            rwlog(&ctx, 2, "trying to replace prefix %s with %s",
                  dc->directory, dc->baseurl);
            ++path;
            if ((b = subst_prefix(&ctx, path, m, s)))
                r->filename = apr_pstrcat(r->pool,
                                          apr_pstrmemdup(r->pool, r->filename,
                                                         (apr_size_t)(path -
                                                         r->filename)),
                                          b, NULL);
        }
        return do_redirect(&ctx, out.noescape);
    }
    /* no path to redirect to ([PT] with an absolute URL, a relative
     * result in an <If> at server level): the stock module answers 400
     * without a log line */
    if (*r->filename != '/')
        return HTTP_BAD_REQUEST;

    if (!strcmp(r->filename, ofilename)) {
        rwlog(&ctx, 1, "initial URL equal rewritten URL: %s "
              "[IGNORING REWRITE]", r->filename);
        return OK;
    }

    /* turn the file-system result back into a URL: RewriteBase, else
     * the document root (not tried when a RewriteBase did not match, as
     * with the stock module), else the context (Alias, userdir) */
    uri = r->filename;
    b = NULL;
    if (dc->baseurl) {
        rwlog(&ctx, 2, "trying to replace prefix %s with %s", dc->directory,
              dc->baseurl);
        if ((b = subst_prefix(&ctx, uri, dc->directory, dc->baseurl)))
            uri = b;
    }
    if (!b) {
        const char *root = ap_document_root(r);
        apr_size_t rl = docroot_len(root);
        if (!dc->baseurl && !strncmp(uri, root, rl) && uri[rl] == '/') {
            rwlog(&ctx, 2, "strip document_root prefix: %s -> %s", uri,
                  uri + rl);
            uri += rl;
        }
        else if (!(dc->options & RW_OPT_IGNORE_CONTEXT_INFO)) {
            /* reached through Alias or userdir: their URL prefix */
            const char *croot = ap_context_document_root(r);
            const char *cpfx = ap_context_prefix(r);
            rwlog(&ctx, 2, "trying to replace context docroot %s with "
                  "context prefix %s", croot ? croot : "", cpfx ? cpfx : "");
            /* the context root as a whole path segment only: not the
             * "/root" of "/root.css" */
            apr_size_t cl = croot ? strlen(croot) : 0;
            if (croot && cpfx && !strncmp(uri, croot, cl) &&
                (!cl || croot[cl - 1] == '/' || uri[cl] == '/' ||
                 !uri[cl]) &&
                /* the '/' after the context root goes with it */
                (b = subst_prefix(&ctx, uri,
                                  (cl && croot[cl - 1] != '/' &&
                                   uri[cl] == '/')
                                  ? apr_pstrcat(r->pool, croot, "/", NULL)
                                  : croot, cpfx)))
                uri = b;
        }
    }
    rwlog(&ctx, 1, "internal redirect with %s [INTERNAL REDIRECT]", uri);
    /* the query string stays in r->args: the handler adds it */
    r->filename = apr_pstrcat(r->pool, "redirect:", uri, NULL);
    r->handler = REWRITE_REDIRECT_HANDLER_NAME;
    /* the Vary of this round reaches the answer of the redirected
     * request, unless that ends in an error (see rw_exec_server) */
    {
        const char *vary = apr_table_get(r->headers_out, "Vary");
        if (vary)
            apr_table_setn(r->notes, NOTE_VARY, vary);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* type_checker and handler                                            */

int rw_exec_mimetype(request_rec *r)
{
    const char *t = apr_table_get(r->notes, NOTE_MIMETYPE);
    const char *h = apr_table_get(r->notes, NOTE_HANDLER);
    rw_ctx_t ctx;

    ctx_init(&ctx, r);
    if (t) {
        rwlog(&ctx, 1, "force filename %s to have MIME-type '%s'",
              r->filename, t);
        ap_set_content_type_ex(r, t, 1);   /* trusted: may pick the handler */
    }
    if (h) {
        rwlog(&ctx, 1, "force filename %s to have the Content-handler '%s'",
              r->filename, h);
        r->handler = h;
    }
    return DECLINED;
}

int rw_exec_redirect_handler(request_rec *r)
{
    if (strcmp(r->handler ? r->handler : "", REWRITE_REDIRECT_HANDLER_NAME))
        return DECLINED;
    if (!r->filename || strncmp(r->filename, "redirect:", 9))
        return DECLINED;
    ap_internal_redirect(r->args ? apr_pstrcat(r->pool, r->filename + 9, "?",
                                               r->args, NULL)
                                 : r->filename + 9, r);
    return OK;
}
