/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Rule statistics: the registry of rules (config time), the counters in
 * shared memory (post_config), the hits (request time).  The contract is
 * in include/rewrite_stats.h.
 *
 * Shared memory: one anonymous APR segment a generation, made by the
 * parent in post_config and inherited by every child it forks (prefork,
 * worker and event alike).  It lives in a pool of the process, not of the
 * configuration, so that the next generation's post_config can read it:
 * the counters of rules with the same identity are copied over, then the
 * old segment is released (children of the old generation keep their own
 * mapping until they exit; what they count after the copy is lost).
 *
 * Layout: a header, one counter a registered rule, the .htaccess table.
 * Counters are C11 atomics updated with relaxed order: nothing orders a
 * hit against another, and readers only want each number whole.
 */
#include <stdatomic.h>
#include <string.h>

#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_cfgtree.h"

#include "rewrite.h"
#include "rewrite_stats.h"

APLOG_USE_MODULE(rewrite);

/* Off unless RewriteStatistics On (the measured cost decided: README). */
#ifndef RW_STATS_DEFAULT
#define RW_STATS_DEFAULT 0
#endif

#define STORE_KEY "rewrite_module:stats-store"
#define SHM_MAGIC 0x52575354u   /* "RWST" */
#define HT_PROBES 16            /* entries tried for one .htaccess rule */

typedef struct {
    _Atomic uint64_t hits;
    _Atomic int64_t last;       /* apr_time_t of the last hit, 0: never */
} counter_t;

typedef struct {
    _Atomic uint64_t key;       /* 0: free; else hash of file, line, text */
    _Atomic uint32_t ready;     /* file, line and text are written */
    uint32_t line;
    _Atomic uint64_t hits;
    _Atomic int64_t last;
    char file[RW_STATS_HTPATH];
    char text[RW_STATS_HTTEXT];
} htslot_t;

typedef struct {
    uint32_t magic;
    uint32_t nrules;
    uint32_t nht;
    uint32_t unused;
    _Atomic uint64_t ht_dropped;
    int64_t since;
} head_t;

/* A generation's segment and what the next one needs to find its rules:
 * allocated from a pool of the process (survives the config pool). */
typedef struct {
    apr_pool_t *pool;
    head_t *head;
    counter_t *counters;
    htslot_t *ht;
    uint64_t *ids;              /* identity of each counter's rule */
    int nrules;
} store_t;

/* Config time only (pre_config to post_config, single-threaded). */
static struct {
    apr_pool_t *pool;           /* pconf */
    int enabled;                /* RewriteStatistics On */
    int collect;                /* rules are registered: -1 not known yet */
    apr_array_header_t *rules;  /* rw_stats_rule_t */
    apr_hash_t *conds;          /* pending list -> its RewriteCond lines */
    apr_hash_t *seen;           /* identity -> occurrences so far */
} cfg;

/* Set in post_config, read-only afterwards (children inherit it). */
static const store_t *live;
static const rw_stats_rule_t *live_rules;

/* ------------------------------------------------------------------ */
/* Config time                                                         */

static uint64_t fnv64(uint64_t h, const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t fnv64s(uint64_t h, const char *s)
{
    return fnv64(h, s, strlen(s) + 1);   /* the NUL separates fields */
}

void rw_stats_pre_config(apr_pool_t *pconf)
{
    cfg.pool = pconf;
    cfg.enabled = RW_STATS_DEFAULT;
    cfg.collect = -1;
    cfg.rules = NULL;               /* made when collecting (below) */
    cfg.conds = NULL;
    cfg.seen = NULL;
    live = NULL;
    live_rules = NULL;
}

const char *rw_cmd_statistics(cmd_parms *cmd, void *dconf, int flag)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    cfg.enabled = flag;
    return NULL;
}

/* The last RewriteStatistics line of the configuration says On (read
 * from the whole tree, since it may come after the rules). */
static int tree_says_on(const ap_directive_t *d, int on)
{
    for (; d; d = d->next) {
        if (d->directive && !strcasecmp(d->directive, "RewriteStatistics"))
            on = d->args && !strcasecmp(d->args, "on");
        on = tree_says_on(d->first_child, on);
    }
    return on;
}

/* Rules and conditions are registered (their identity, text, place)
 * only when statistics will be on: at 10,000 rules that is megabytes
 * the parent and every child would carry for nothing. */
static int collecting(void)
{
    if (cfg.collect < 0) {
        cfg.collect = cfg.enabled || tree_says_on(ap_conftree, 0);
        if (cfg.collect) {
            cfg.rules = apr_array_make(cfg.pool, 64, sizeof(rw_stats_rule_t));
            cfg.conds = apr_hash_make(cfg.pool);
            cfg.seen = apr_hash_make(cfg.pool);
        }
    }
    return cfg.collect;
}

void rw_stats_cond_register(cmd_parms *cmd,
                            const apr_array_header_t *pending,
                            const char *line)
{
    const char *prev;

    if (!cfg.pool || !collecting())
        return;
    prev = apr_hash_get(cfg.conds, &pending, sizeof(pending));
    apr_hash_set(cfg.conds,
                 apr_pmemdup(cfg.pool, &pending, sizeof(pending)),
                 sizeof(pending),
                 prev ? apr_pstrcat(cfg.pool, prev, "\n", line, NULL)
                      : apr_pstrdup(cfg.pool, line));
}

/* The section a directive is in ("<Directory /x>"), skipping the
 * conditional ones; NULL in server context. */
static const char *section_of(cmd_parms *cmd)
{
    const ap_directive_t *d;

    if (!cmd->path)
        return NULL;
    for (d = cmd->directive ? cmd->directive->parent : NULL; d; d = d->parent) {
        const char *n = d->directive;
        if (n[0] == '<' && strncasecmp(n, "<If", 3) &&
            strcasecmp(n, "<VirtualHost")) {
            const char *a = d->args ? d->args : "";
            apr_size_t len = strlen(a);
            if (len && a[len - 1] == '>')
                --len;
            return apr_psprintf(cfg.pool, "%s %.*s>", n, (int)len, a);
        }
        if (!strcasecmp(n, "<If") || !strcasecmp(n, "<ElseIf") ||
            !strcasecmp(n, "<Else"))
            return apr_psprintf(cfg.pool, "%s %s", n, d->args ? d->args : "");
    }
    return cmd->path;
}

void rw_stats_rule_register(cmd_parms *cmd,
                            const apr_array_header_t *pending,
                            rw_rule_t *rule, const char *line)
{
    rw_stats_rule_t *e;
    const char *conds;
    uint64_t id;
    int *count;

    if (!cfg.pool || !collecting())
        return;

    conds = apr_hash_get(cfg.conds, &pending, sizeof(pending));
    if (conds)
        apr_hash_set(cfg.conds, &pending, sizeof(pending), NULL);
    else
        conds = "";
    e = apr_array_push(cfg.rules);
    e->file = rule->file ? apr_pstrdup(cfg.pool, rule->file) : "(unknown)";
    e->line = rule->line;
    e->server = cmd->server;
    e->context = section_of(cmd);
    e->text = apr_pstrdup(cfg.pool, line);
    e->conds = conds;
    e->where = apr_psprintf(cfg.pool, "%s:%d", e->file, e->line);
    id = fnv64s(fnv64s(fnv64s(14695981039346656037ull, e->file), conds),
                e->text);
    count = apr_hash_get(cfg.seen, &id, sizeof(id));
    if (!count) {
        count = apr_pcalloc(cfg.pool, sizeof(*count));
        apr_hash_set(cfg.seen, apr_pmemdup(cfg.pool, &id, sizeof(id)),
                     sizeof(id), count);
    }
    e->id = fnv64(id, (const char *)count, sizeof(*count));
    ++*count;
    rule->slot = cfg.rules->nelts - 1;
}

/* ------------------------------------------------------------------ */
/* post_config: this generation's segment                              */

static apr_status_t store_make(apr_pool_t *parent, int nrules, store_t **out)
{
    apr_pool_t *pool;
    apr_shm_t *shm;
    apr_size_t size;
    apr_status_t rv;
    char *base;
    store_t *st;

    if ((rv = apr_pool_create(&pool, parent)) != APR_SUCCESS)
        return rv;
    size = sizeof(head_t) + (apr_size_t)nrules * sizeof(counter_t) +
           RW_STATS_HTSLOTS * sizeof(htslot_t);
    if ((rv = apr_shm_create(&shm, size, NULL, pool)) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return rv;
    }
    base = apr_shm_baseaddr_get(shm);
    memset(base, 0, size);
    st = apr_pcalloc(pool, sizeof(*st));
    st->pool = pool;
    st->head = (head_t *)(void *)base;
    st->counters = (counter_t *)(void *)(base + sizeof(head_t));
    st->ht = (htslot_t *)(void *)(base + sizeof(head_t) +
                                  (apr_size_t)nrules * sizeof(counter_t));
    st->nrules = nrules;
    st->ids = apr_pcalloc(pool, ((apr_size_t)nrules + 1) * sizeof(uint64_t));
    st->head->magic = SHM_MAGIC;
    st->head->nrules = (uint32_t)nrules;
    st->head->nht = RW_STATS_HTSLOTS;
    *out = st;
    return APR_SUCCESS;
}

/* Counters of old's rules that st has too (same identity), and the whole
 * .htaccess table.  Returns how many rules kept their counters. */
static int store_carry(store_t *st, const store_t *old, apr_pool_t *ptemp)
{
    apr_hash_t *ix = apr_hash_make(ptemp);
    int i, kept = 0;

    for (i = 0; i < old->nrules; ++i)
        apr_hash_set(ix, &old->ids[i], sizeof(uint64_t), &old->counters[i]);
    for (i = 0; i < st->nrules; ++i) {
        counter_t *c = apr_hash_get(ix, &st->ids[i], sizeof(uint64_t));
        if (!c)
            continue;
        atomic_store(&st->counters[i].hits, atomic_load(&c->hits));
        atomic_store(&st->counters[i].last, atomic_load(&c->last));
        ++kept;
    }
    for (i = 0; i < RW_STATS_HTSLOTS; ++i) {
        htslot_t *o = &old->ht[i];
        htslot_t *n = &st->ht[i];
        if (!atomic_load(&o->ready))
            continue;
        n->line = o->line;
        memcpy(n->file, o->file, sizeof(n->file));
        memcpy(n->text, o->text, sizeof(n->text));
        atomic_store(&n->hits, atomic_load(&o->hits));
        atomic_store(&n->last, atomic_load(&o->last));
        atomic_store(&n->key, atomic_load(&o->key));
        atomic_store(&n->ready, 1u);
    }
    atomic_store(&st->head->ht_dropped,
                 atomic_load(&old->head->ht_dropped));
    st->head->since = old->head->since;
    return kept;
}

int rw_stats_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *proc = s->process->pool;
    store_t *old = NULL, *st;
    apr_pool_t *ptemp;
    apr_status_t rv;
    int i, n, kept = 0;

    apr_pool_userdata_get((void **)&old, STORE_KEY, proc);
    live = NULL;
    live_rules = NULL;
    if (!cfg.enabled) {
        if (old) {
            apr_pool_destroy(old->pool);
            apr_pool_userdata_set(NULL, STORE_KEY, apr_pool_cleanup_null, proc);
        }
        return OK;
    }
    n = cfg.rules ? cfg.rules->nelts : 0;
    if ((rv = store_make(proc, n, &st)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "RewriteStatistics: cannot create the shared memory "
                     "for %d rules", n);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < n; ++i)
        st->ids[i] = APR_ARRAY_IDX(cfg.rules, i, rw_stats_rule_t).id;
    if (old) {
        if (apr_pool_create(&ptemp, st->pool) == APR_SUCCESS) {
            kept = store_carry(st, old, ptemp);
            apr_pool_destroy(ptemp);
        }
        apr_pool_destroy(old->pool);
    }
    else
        st->head->since = apr_time_now();
    apr_pool_userdata_set(st, STORE_KEY, apr_pool_cleanup_null, proc);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "RewriteStatistics: %d rules, %d kept their counters",
                 n, kept);
    live = st;
    live_rules = cfg.rules ? (const rw_stats_rule_t *)cfg.rules->elts : NULL;
    return OK;
}

int rw_stats_enabled(void)
{
    return live != NULL;
}

/* ------------------------------------------------------------------ */
/* Request time                                                        */

/* Copies the last n-1 bytes of s (a path: its end says most). */
static void copy_tail(char *dst, apr_size_t n, const char *s)
{
    apr_size_t len = strlen(s);

    if (len >= n)
        s += len - (n - 1);
    apr_cpystrn(dst, s, n);
}

static void ht_hit(const store_t *st, const rw_rule_t *p, apr_time_t now)
{
    uint64_t key = 14695981039346656037ull;
    char num[16];
    int i, len;

    len = apr_snprintf(num, sizeof(num), "%d", p->line);
    key = fnv64s(key, p->file);
    key = fnv64(key, num, (apr_size_t)len + 1);
    key = fnv64(key, p->negate ? "!" : "", p->negate ? 1 : 0);
    key = fnv64s(key, p->pattern);
    key = fnv64s(key, p->output ? p->output : "");
    key |= 1;                                   /* 0 means free */

    for (i = 0; i < HT_PROBES; ++i) {
        htslot_t *h = &st->ht[(key + (uint64_t)i) % RW_STATS_HTSLOTS];
        uint64_t k = atomic_load_explicit(&h->key, memory_order_acquire);
        if (k == 0) {
            uint64_t expect = 0;
            if (atomic_compare_exchange_strong(&h->key, &expect, key)) {
                h->line = (uint32_t)p->line;
                copy_tail(h->file, sizeof(h->file), p->file);
                apr_snprintf(h->text, sizeof(h->text), "%s%s %s",
                             p->negate ? "!" : "", p->pattern,
                             p->output ? p->output : "-");
                atomic_store_explicit(&h->ready, 1u, memory_order_release);
                k = key;
            }
            else
                k = expect;
        }
        if (k == key) {
            atomic_fetch_add_explicit(&h->hits, 1, memory_order_relaxed);
            atomic_store_explicit(&h->last, now, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&st->head->ht_dropped, 1, memory_order_relaxed);
}

/* The outcome note: constant strings for the usual answers (no
 * formatting on the request path). */
static const char *outcome(request_rec *r, const rw_rule_t *p, int status)
{
    int st = r->status;

    if (status) {
        switch (st) {
        case HTTP_FORBIDDEN: return "forbidden";
        case HTTP_GONE: return "gone";
        default: return apr_psprintf(r->pool, "status %d", st);
        }
    }
    if (p->flags & RW_RF_PROXY)
        return "proxy";
    if (ap_is_HTTP_REDIRECT(st)) {
        switch (st) {
        case HTTP_MOVED_PERMANENTLY: return "redirect 301";
        case HTTP_MOVED_TEMPORARILY: return "redirect 302";
        case HTTP_SEE_OTHER: return "redirect 303";
        case HTTP_TEMPORARY_REDIRECT: return "redirect 307";
        case HTTP_PERMANENT_REDIRECT: return "redirect 308";
        default: return apr_psprintf(r->pool, "redirect %d", st);
        }
    }
    if (p->flags & RW_RF_PASSTHROUGH)
        return "passthrough";
    if (!p->subst)
        return "unchanged";
    return "internal";
}

/* Counts and notes a hit (statistics on). */
static void __attribute__((noinline))
count_hit(const store_t *st, request_rec *r, const rw_rule_t *p, int status)
{
    const char *where, *what;

    if (p->slot >= 0 && p->slot < st->nrules) {
        counter_t *c = &st->counters[p->slot];
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        atomic_store_explicit(&c->last, r->request_time, memory_order_relaxed);
        where = live_rules[p->slot].where;
    }
    else if (p->file) {
        ht_hit(st, p, r->request_time);
        where = NULL;
    }
    else
        return;
    /* a sub-request (look-ahead, -F, an index file) decides nothing */
    if (r->main)
        return;
    if (!where)
        where = apr_psprintf(r->pool, "%s:%d", p->file, p->line);
    what = outcome(r, p, status);
    apr_table_setn(r->notes, RW_NOTE_RULE, where);
    apr_table_setn(r->notes, RW_NOTE_OUTCOME, what);
}

void rw_stats_log(request_rec *r)
{
    request_rec *f, *last = NULL, *final = r;
    const char *where, *what;

    if (!live || !r->next)
        return;         /* no internal redirect: the notes are in place */
    for (f = r; f; f = f->next) {
        if (apr_table_get(f->notes, RW_NOTE_RULE))
            last = f;
        final = f;
    }
    if (!last)
        return;
    where = apr_table_get(last->notes, RW_NOTE_RULE);
    what = apr_table_get(last->notes, RW_NOTE_OUTCOME);
    for (f = r; f; f = f == final ? NULL : final) {
        if (f == last)
            continue;
        apr_table_set(f->notes, RW_NOTE_RULE, where);
        if (what)
            apr_table_set(f->notes, RW_NOTE_OUTCOME, what);
    }
}

/* Kept small: with statistics off a matched rule costs a call and a test. */
void rw_stats_hit(request_rec *r, const rw_rule_t *p, int status)
{
    const store_t *st = live;

    if (st)
        count_hit(st, r, p, status);
}

/* ------------------------------------------------------------------ */
/* Reports                                                             */

const rw_stats_snapshot_t *rw_stats_snapshot(apr_pool_t *p)
{
    const store_t *st = live;
    rw_stats_snapshot_t *s;
    int i;

    if (!st)
        return NULL;
    s = apr_pcalloc(p, sizeof(*s));
    s->rules = live_rules;
    s->nrules = st->nrules;
    s->counts = apr_pcalloc(p, ((apr_size_t)st->nrules + 1) * sizeof(*s->counts));
    for (i = 0; i < st->nrules; ++i) {
        s->counts[i].hits = atomic_load_explicit(&st->counters[i].hits,
                                                 memory_order_relaxed);
        s->counts[i].last = atomic_load_explicit(&st->counters[i].last,
                                                 memory_order_relaxed);
    }
    s->ht = apr_pcalloc(p, RW_STATS_HTSLOTS * sizeof(*s->ht));
    for (i = 0; i < RW_STATS_HTSLOTS; ++i) {
        htslot_t *h = &st->ht[i];
        rw_stats_htentry_t *e = &s->ht[s->nht];
        if (!atomic_load_explicit(&h->ready, memory_order_acquire))
            continue;
        memcpy(e->file, h->file, sizeof(e->file));
        memcpy(e->text, h->text, sizeof(e->text));
        e->file[sizeof(e->file) - 1] = e->text[sizeof(e->text) - 1] = '\0';
        e->line = (int)h->line;
        e->count.hits = atomic_load_explicit(&h->hits, memory_order_relaxed);
        e->count.last = atomic_load_explicit(&h->last, memory_order_relaxed);
        ++s->nht;
    }
    s->ht_dropped = atomic_load_explicit(&st->head->ht_dropped,
                                         memory_order_relaxed);
    s->since = st->head->since;
    return s;
}
