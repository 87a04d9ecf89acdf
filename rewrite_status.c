/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The statistics reports: the page of `SetHandler rewrite-status` (HTML,
 * sortable by links, no script), the same as JSON (?json) and the
 * counters in the Prometheus text format (?prometheus or ?metrics); and
 * the short section in mod_status's server-status.
 *
 * Everything printed that comes from the configuration (patterns, paths,
 * server names, conditions) is user-controlled: it is made valid UTF-8
 * first (invalid bytes become U+FFFD), then escaped for the output's
 * syntax.  Nothing is shown unless RewriteStatistics is On and the
 * handler is configured: otherwise the handler declines, as if the
 * module did not know the name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_time.h"
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"

#include "rewrite.h"
#include "rewrite_stats.h"

/* One line of the reports. */
typedef struct {
    const char *server;     /* "name:port" */
    const char *context;    /* "server", "<Directory /x>", "htaccess" */
    const char *file;
    int line;
    const char *pattern;
    const char *subst;
    const char *flags;      /* "[R=301,L]" or "" */
    const char *conds;      /* RewriteCond lines, '\n'-separated, or "" */
    uint64_t hits;
    apr_time_t last;
    int order;              /* config order; .htaccess entries after */
} row_t;

typedef enum { OUT_HTML, OUT_JSON, OUT_PROM } out_t;

/* ------------------------------------------------------------------ */
/* Escaping                                                            */

/* Length of the valid UTF-8 sequence at s (0: invalid). */
static apr_size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    apr_size_t n, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else
        return 0;
    for (i = 1; i < n; ++i) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* s with each character that needs it replaced by what esc() gives
 * (NULL: kept), invalid UTF-8 bytes by U+FFFD. */
typedef struct esc_fmt_t esc_fmt_t;
static const char *esc_char(const esc_fmt_t *f, unsigned char c, char *buf);

static const char *escape(apr_pool_t *p, const char *s, const esc_fmt_t *f)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    apr_size_t cap = strlen((const char *)u) * 6 + 1, o = 0;
    char *out = apr_palloc(p, cap + 6), buf[8];

    while (*u) {
        apr_size_t n = utf8_len(u);
        const char *rep = NULL;
        if (n == 1)
            rep = esc_char(f, *u, buf);
        else if (n == 0)
            rep = "\xEF\xBF\xBD";
        if (rep) {
            apr_size_t rl = strlen(rep);
            if (o + rl > cap)
                break;
            memcpy(out + o, rep, rl);
            o += rl;
            u += n ? n : 1;
        }
        else {
            if (o + n > cap)
                break;
            memcpy(out + o, u, n);
            o += n;
            u += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* How one output format escapes: characters with a fixed replacement,
 * and the form of the other control characters it escapes (by code
 * point; none without ctl). */
struct esc_fmt_t {
    const char *chars;          /* replaced by reps[i] */
    const char *const *reps;
    const char *ctl;            /* format of base + c, or NULL */
    unsigned base;
    int keep_ws;                /* '\n' and '\t' are kept */
    int del;                    /* 0x7F is a control character too */
};

static const char *const html_reps[] = {
    "&amp;", "&lt;", "&gt;", "&quot;", "&#39;",
};
/* control characters as their pictures (U+2400...) */
static const esc_fmt_t html_fmt = { "&<>\"'", html_reps, "&#%u;", 0x2400u,
                                    1, 0 };

static const char *const json_reps[] = {
    "\\\"", "\\\\", "\\n", "\\t", "\\r",
    /* harmless if the JSON lands in HTML */
    "\\u003c", "\\u003e", "\\u0026",
};
static const esc_fmt_t json_fmt = { "\"\\\n\t\r<>&", json_reps, "\\u%04x", 0,
                                    0, 1 };

static const char *const prom_reps[] = { "\\\"", "\\\\", "\\n" };
static const esc_fmt_t prom_fmt = { "\"\\\n", prom_reps, NULL, 0, 0, 0 };

/* What c becomes in format f (buf: room for a code point), NULL: kept. */
static const char *esc_char(const esc_fmt_t *f, unsigned char c, char *buf)
{
    const char *at = c ? strchr(f->chars, c) : NULL;

    if (at)
        return f->reps[at - f->chars];
    if (f->ctl && (c < 0x20 || (f->del && c == 0x7F)) &&
        !(f->keep_ws && (c == '\n' || c == '\t'))) {
        apr_snprintf(buf, 8, f->ctl, f->base + c);
        return buf;
    }
    return NULL;
}

#define HTML(p, s) escape((p), (s), &html_fmt)
#define JSON(p, s) escape((p), (s), &json_fmt)
#define PROM(p, s) escape((p), (s), &prom_fmt)

/* ------------------------------------------------------------------ */
/* Rows                                                                */

static const char *server_label(apr_pool_t *p, const server_rec *s)
{
    const char *name = s->server_hostname ? s->server_hostname : "(unnamed)";

    return s->port ? apr_psprintf(p, "%s:%u", name, (unsigned)s->port) : name;
}

static void split_rule(apr_pool_t *p, const char *text, row_t *w)
{
    char *a1 = NULL, *a2 = NULL, *a3 = NULL;

    if (rw_split_args(p, text, &a1, &a2, &a3) || !a1) {
        w->pattern = text;
        w->subst = w->flags = "";
        return;
    }
    w->pattern = a1;
    w->subst = a2 ? a2 : "";
    w->flags = a3 ? a3 : "";
}

static row_t *make_rows(apr_pool_t *p, const rw_stats_snapshot_t *s, int *n)
{
    row_t *rows = apr_pcalloc(p, ((apr_size_t)(s->nrules + s->nht) + 1) *
                                 sizeof(*rows));
    int i, k = 0;

    for (i = 0; i < s->nrules; ++i, ++k) {
        const rw_stats_rule_t *e = &s->rules[i];
        row_t *w = &rows[k];
        w->server = server_label(p, e->server);
        w->context = e->context ? e->context : "server";
        w->file = e->file;
        w->line = e->line;
        split_rule(p, e->text, w);
        w->conds = e->conds;
        w->hits = s->counts[i].hits;
        w->last = s->counts[i].last;
        w->order = k;
    }
    for (i = 0; i < s->nht; ++i, ++k) {
        const rw_stats_htentry_t *e = &s->ht[i];
        row_t *w = &rows[k];
        const char *sp = strchr(e->text, ' ');
        w->server = "";
        w->context = "htaccess";
        w->file = e->file;
        w->line = e->line;
        w->pattern = sp ? apr_pstrndup(p, e->text, (apr_size_t)(sp - e->text))
                        : e->text;
        w->subst = sp ? sp + 1 : "";
        w->flags = w->conds = "";
        w->hits = e->count.hits;
        w->last = e->count.last;
        w->order = k;
    }
    *n = k;
    return rows;
}

static int by_order(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

static int by_hits(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->hits != y->hits)
        return x->hits < y->hits ? 1 : -1;      /* most first */
    return by_order(a, b);
}

static int by_last(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->last != y->last)
        return x->last < y->last ? 1 : -1;      /* latest first */
    return by_order(a, b);
}

static int by_file(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return (x->line > y->line) - (x->line < y->line);
    return by_order(a, b);
}

static int by_server(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->server, y->server);
    if (!c)
        c = strcmp(x->context, y->context);
    return c ? c : by_order(a, b);
}

static int by_context(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->context, y->context);
    return c ? c : by_order(a, b);
}

static int by_pattern(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->pattern, y->pattern);
    return c ? c : by_order(a, b);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static const char *iso_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;
    char buf[32];
    apr_size_t n;

    if (!t)
        return NULL;
    memset(&x, 0, sizeof(x));
    apr_time_exp_gmt(&x, t);
    apr_strftime(buf, &n, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &x);
    return apr_pstrdup(p, buf);
}

static const char *since_text(apr_pool_t *p, apr_time_t t)
{
    const char *s = iso_time(p, t);
    return s ? s : "(unknown)";
}

static void totals(const row_t *rows, int n, int nrules, uint64_t *hits,
                   int *never)
{
    int i;

    *hits = 0;
    *never = 0;
    for (i = 0; i < n; ++i) {
        *hits += rows[i].hits;
        if (i < nrules && !rows[i].hits)
            ++*never;
    }
}

static const char *query_arg(apr_pool_t *p, const char *args, const char *key)
{
    apr_size_t kl = strlen(key);
    const char *s = args;

    while (s && *s) {
        const char *e = s + strcspn(s, "&;");
        if ((apr_size_t)(e - s) >= kl && !strncmp(s, key, kl) &&
            (s + kl == e || s[kl] == '='))
            return s[kl] == '=' ? apr_pstrndup(p, s + kl + 1,
                                               (apr_size_t)(e - s - (apr_ssize_t)kl - 1))
                                : "";
        s = *e ? e + 1 : e;
    }
    return NULL;
}

static void put_json(request_rec *r, const rw_stats_snapshot_t *s,
                     const row_t *rows, int n)
{
    apr_pool_t *p = r->pool;
    uint64_t hits;
    int i, never;

    totals(rows, n, s->nrules, &hits, &never);
    ap_rprintf(r, "{\n\"since\": \"%s\",\n\"rules_total\": %d,\n"
               "\"hits_total\": %" APR_UINT64_T_FMT ",\n"
               "\"rules_never_hit\": %d,\n\"htaccess_slots\": %d,\n"
               "\"htaccess_used\": %d,\n"
               "\"htaccess_dropped\": %" APR_UINT64_T_FMT ",\n\"rules\": [",
               since_text(p, s->since), s->nrules, (apr_uint64_t)hits, never,
               RW_STATS_HTSLOTS, s->nht, (apr_uint64_t)s->ht_dropped);
    for (i = 0; i < n; ++i) {
        const row_t *w = &rows[i];
        const char *last = iso_time(p, w->last);
        ap_rprintf(r, "%s\n {\"server\": \"%s\", \"context\": \"%s\", "
                   "\"file\": \"%s\", \"line\": %d, \"pattern\": \"%s\", "
                   "\"substitution\": \"%s\", \"flags\": \"%s\", "
                   "\"conditions\": \"%s\", \"hits\": %" APR_UINT64_T_FMT ", "
                   "\"last_hit\": %s%s%s, \"last_hit_epoch\": %" APR_INT64_T_FMT
                   "}", i ? "," : "", JSON(p, w->server), JSON(p, w->context),
                   JSON(p, w->file), w->line, JSON(p, w->pattern),
                   JSON(p, w->subst), JSON(p, w->flags), JSON(p, w->conds),
                   (apr_uint64_t)w->hits, last ? "\"" : "",
                   last ? last : "null", last ? "\"" : "",
                   (apr_int64_t)apr_time_sec(w->last));
    }
    ap_rputs("\n]\n}\n", r);
}

static void put_prom(request_rec *r, const rw_stats_snapshot_t *s,
                     const row_t *rows, int n)
{
    apr_pool_t *p = r->pool;
    uint64_t hits;
    int i, never;

    totals(rows, n, s->nrules, &hits, &never);
    ap_rputs("# HELP rewrite_rule_hits_total Times the rule matched (pattern "
             "and conditions).\n# TYPE rewrite_rule_hits_total counter\n", r);
    for (i = 0; i < n; ++i)
        ap_rprintf(r, "rewrite_rule_hits_total{server=\"%s\",context=\"%s\","
                   "file=\"%s\",line=\"%d\"} %" APR_UINT64_T_FMT "\n",
                   PROM(p, rows[i].server), PROM(p, rows[i].context),
                   PROM(p, rows[i].file), rows[i].line,
                   (apr_uint64_t)rows[i].hits);
    ap_rputs("# HELP rewrite_rule_last_hit_timestamp_seconds Unix time of "
             "the rule's last hit (0: never).\n"
             "# TYPE rewrite_rule_last_hit_timestamp_seconds gauge\n", r);
    for (i = 0; i < n; ++i)
        ap_rprintf(r, "rewrite_rule_last_hit_timestamp_seconds{server=\"%s\","
                   "context=\"%s\",file=\"%s\",line=\"%d\"} %" APR_INT64_T_FMT
                   "\n", PROM(p, rows[i].server), PROM(p, rows[i].context),
                   PROM(p, rows[i].file), rows[i].line,
                   (apr_int64_t)apr_time_sec(rows[i].last));
    ap_rprintf(r, "# HELP rewrite_rules Rules of the configuration files.\n"
               "# TYPE rewrite_rules gauge\nrewrite_rules %d\n"
               "# HELP rewrite_rules_never_hit Rules of the configuration "
               "files never hit since the counters started.\n"
               "# TYPE rewrite_rules_never_hit gauge\n"
               "rewrite_rules_never_hit %d\n"
               "# HELP rewrite_htaccess_rules .htaccess rules counted.\n"
               "# TYPE rewrite_htaccess_rules gauge\n"
               "rewrite_htaccess_rules %d\n"
               "# HELP rewrite_htaccess_dropped_total Hits of .htaccess rules "
               "not counted (table full).\n"
               "# TYPE rewrite_htaccess_dropped_total counter\n"
               "rewrite_htaccess_dropped_total %" APR_UINT64_T_FMT "\n"
               "# HELP rewrite_counting_since_timestamp_seconds When the "
               "counters started.\n"
               "# TYPE rewrite_counting_since_timestamp_seconds gauge\n"
               "rewrite_counting_since_timestamp_seconds %" APR_INT64_T_FMT
               "\n", s->nrules, never, s->nht,
               (apr_uint64_t)s->ht_dropped, (apr_int64_t)apr_time_sec(s->since));
}

static void put_html(request_rec *r, const rw_stats_snapshot_t *s,
                     const row_t *rows, int n, const char *sort)
{
    static const char *const cols[][2] = {
        { "server", "Server" }, { "context", "Section" },
        { "file", "File:line" }, { NULL, "Conditions" },
        { "pattern", "Pattern" }, { NULL, "Substitution" },
        { NULL, "Flags" }, { "hits", "Hits" }, { "last", "Last hit" }
    };
    apr_pool_t *p = r->pool;
    uint64_t hits;
    int i, never;
    apr_size_t c;

    totals(rows, n, s->nrules, &hits, &never);
    ap_rputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>mod_rewrite rule statistics</title>\n<style>\n"
             "body{font-family:sans-serif;margin:1em 2em;color:#222}\n"
             "table{border-collapse:collapse;font-size:13px}\n"
             "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;"
             "vertical-align:top}\n"
             "th{background:#eee}th a{color:#124;text-decoration:none}\n"
             "th.sorted{background:#d8e4f0}\n"
             "td.pat,td.sub,td.cond{font-family:monospace;white-space:pre-wrap;"
             "word-break:break-all;max-width:28em}\n"
             "td.num{text-align:right}\n"
             "tr.never td{background:#fff1e6}\n"
             ".badge{display:inline-block;background:#c0392b;color:#fff;"
             "border-radius:3px;padding:0 4px;font-size:11px;margin-left:4px}\n"
             ".sum{margin:.5em 0 1em}\n"
             "</style></head><body>\n<h1>mod_rewrite rule statistics</h1>\n", r);
    ap_rprintf(r, "<p class=\"sum\" id=\"summary\">Server %s. Counting since "
               "%s. <b>%d</b> rules, <b>%" APR_UINT64_T_FMT "</b> hits, "
               "<b id=\"never-count\">%d</b> rules never hit "
               "<span class=\"badge\">never hit</span>; %d .htaccess rules "
               "counted (of %d entries; %" APR_UINT64_T_FMT " hits not "
               "counted).</p>\n",
               HTML(p, server_label(p, r->server)), since_text(p, s->since),
               s->nrules, (apr_uint64_t)hits, never, s->nht,
               RW_STATS_HTSLOTS, (apr_uint64_t)s->ht_dropped);
    ap_rputs("<p>Sort: click a heading (<a href=\"?\">configuration order"
             "</a>). Machine-readable: <a href=\"?json\">JSON</a>, "
             "<a href=\"?prometheus\">Prometheus</a>.</p>\n"
             "<table id=\"rules\"><thead><tr>", r);
    for (c = 0; c < sizeof(cols) / sizeof(cols[0]); ++c) {
        if (!cols[c][0])
            ap_rprintf(r, "<th>%s</th>", cols[c][1]);
        else
            ap_rprintf(r, "<th%s><a href=\"?sort=%s\">%s</a></th>",
                       sort && !strcmp(sort, cols[c][0]) ? " class=\"sorted\""
                                                         : "",
                       cols[c][0], cols[c][1]);
    }
    ap_rputs("</tr></thead>\n<tbody>\n", r);
    for (i = 0; i < n; ++i) {
        const row_t *w = &rows[i];
        const char *last = iso_time(p, w->last);
        ap_rprintf(r, "<tr class=\"rule%s\" data-hits=\"%" APR_UINT64_T_FMT
                   "\"><td>%s</td><td>%s</td><td>%s:%d</td>"
                   "<td class=\"cond\">%s</td><td class=\"pat\">%s</td>"
                   "<td class=\"sub\">%s</td><td>%s</td>"
                   "<td class=\"num\">%" APR_UINT64_T_FMT "%s</td>"
                   "<td>%s</td></tr>\n",
                   w->hits ? "" : " never", (apr_uint64_t)w->hits,
                   HTML(p, w->server), HTML(p, w->context), HTML(p, w->file),
                   w->line, HTML(p, w->conds), HTML(p, w->pattern),
                   HTML(p, w->subst), HTML(p, w->flags),
                   (apr_uint64_t)w->hits,
                   w->hits ? "" : "<span class=\"badge\">never hit</span>",
                   last ? last : "&mdash;");
    }
    ap_rputs("</tbody></table>\n</body></html>\n", r);
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

int rw_status_handler(request_rec *r)
{
    const rw_stats_snapshot_t *s;
    const char *sort;
    row_t *rows;
    out_t out = OUT_HTML;
    int n;

    /* RewriteStatistics Off: declined, as stock would */
    if (!rw_stats_enabled() || !r->handler ||
        strcmp(r->handler, RW_STATUS_HANDLER))
        return DECLINED;
    if (!(s = rw_stats_snapshot(r->pool)))
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET)
        return DECLINED;
    if (query_arg(r->pool, r->args, "json"))
        out = OUT_JSON;
    else if (query_arg(r->pool, r->args, "prometheus") ||
             query_arg(r->pool, r->args, "metrics"))
        out = OUT_PROM;
    sort = query_arg(r->pool, r->args, "sort");

    rows = make_rows(r->pool, s, &n);
    if (sort && n > 1) {
        int (*cmp)(const void *, const void *) =
            !strcmp(sort, "hits") ? by_hits :
            !strcmp(sort, "last") ? by_last :
            !strcmp(sort, "file") ? by_file :
            !strcmp(sort, "pattern") ? by_pattern :
            !strcmp(sort, "server") ? by_server :
            !strcmp(sort, "context") ? by_context : NULL;
        if (cmp)
            qsort(rows, (size_t)n, sizeof(*rows), cmp);
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    switch (out) {
    case OUT_JSON:
        ap_set_content_type(r, "application/json");
        break;
    case OUT_PROM:
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
        break;
    default:
        ap_set_content_type(r, "text/html; charset=utf-8");
        apr_table_setn(r->headers_out, "Content-Security-Policy",
                       "default-src 'none'; style-src 'unsafe-inline'");
        break;
    }
    if (r->header_only)
        return OK;
    if (out == OUT_JSON)
        put_json(r, s, rows, n);
    else if (out == OUT_PROM)
        put_prom(r, s, rows, n);
    else
        put_html(r, s, rows, n, sort);
    return OK;
}

int rw_status_hook(request_rec *r, int flags)
{
    const rw_stats_snapshot_t *s = rw_stats_snapshot(r->pool);
    row_t *rows;
    uint64_t hits;
    int n, never;

    if (!s)
        return OK;
    rows = make_rows(r->pool, s, &n);
    totals(rows, n, s->nrules, &hits, &never);
    if (flags & AP_STATUS_SHORT)
        ap_rprintf(r, "RewriteRules: %d\nRewriteHits: %" APR_UINT64_T_FMT
                   "\nRewriteRulesNeverHit: %d\nRewriteHtaccessRules: %d\n",
                   s->nrules, (apr_uint64_t)hits, never, s->nht);
    else
        ap_rprintf(r, "<hr /><h2>mod_rewrite</h2>\n<dl><dt>%d rules, "
                   "%" APR_UINT64_T_FMT " hits, %d rules never hit since "
                   "%s</dt><dt>%d .htaccess rules counted, %" APR_UINT64_T_FMT
                   " hits not counted</dt></dl>\n", s->nrules,
                   (apr_uint64_t)hits, never, since_text(r->pool, s->since),
                   s->nht, (apr_uint64_t)s->ht_dropped);
    return OK;
}
