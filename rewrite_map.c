/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * RewriteMap: the registry of back ends, the dispatch of lookups, and
 * what the back ends share (trace lines, a bounded cache).
 *
 * The back ends (include/rewrite_map_backend.h) live one family a file:
 * rewrite_map_txt.c (txt, rnd), rewrite_map_int.c, rewrite_map_dbm.c,
 * rewrite_map_dbd.c (dbd, fastdbd) and rewrite_map_prg.c.  The table
 * below is the only list of them: RewriteMap's "TYPE:SOURCE" chooses
 * one by name, and the server's start, each child's start and every
 * lookup go through the chosen one's functions.
 *
 * Lookups write the stock module's trace lines through a sink the
 * caller gives (rw_map_lookup_log), so that per-directory prefixes come
 * out as the rest of the engine's lines do.
 *
 * Semantics kept from the stock module (observed, see t/diff/cases/map-*):
 *  - txt/rnd: "key value" lines, first whitespace-separated word of the
 *    value, lines starting with '#' or whitespace ignored, lines read in
 *    pieces of at most 1024 bytes, the first line of a key wins; cached
 *    per process until the file's mtime changes (misses too).
 *  - dbm: any type APR-util offers (sdbm, gdbm, db, default); cached
 *    like txt; the mtime is the newest of the DBM's files.
 *  - int: the function's result is used even when empty.
 *  - prg: one line in, one line out, "NULL" for none; keys with a newline
 *    are not sent; an empty answer is an empty value.
 *  - dbd: first column of a random row; NULL is no value; fastdbd caches
 *    forever.
 * Beyond stock: bounded caches, and prg programs that die are restarted
 * and programs that do not answer in time do not hang the worker.  A
 * txt/rnd/dbm file's mtime is read at its map's first lookup in a
 * request and remembered for the rest of the request (rw_map_memo_t):
 * a change is seen by the next request, as with stock.
 */
#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "rewrite.h"
#include "rewrite_map_backend.h"

APLOG_USE_MODULE(rewrite);

/* Cache bounds per map and process: past either, the cache is emptied. */
#define CACHE_MAX_ENTRIES  20000
#define CACHE_MAX_BYTES    (8 * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* The back ends                                                        */

static const rw_map_backend_t *const backends[] = {
    &rw_map_txt, &rw_map_rnd, &rw_map_dbm, &rw_map_prg, &rw_map_int,
    &rw_map_dbd, &rw_map_fastdbd,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/* Every map of the configuration, in the order of the RewriteMap lines
 * (config time only; read by post_config and child_init). */
static apr_array_header_t *all_maps;

/* The names of those maps, numbered in the order they first appear
 * (name -> int *): templates parsed after the name's RewriteMap line
 * take its number, and post_config gives each server its maps by number,
 * so that a request reaches a map without hashing its name (config time
 * only, like all_maps, in the same pool). */
static apr_hash_t *map_names;

static apr_status_t all_maps_reset(void *unused)
{
    all_maps = NULL;
    map_names = NULL;
    return APR_SUCCESS;
}

/* The back end that spec (RewriteMap's second argument) names, and the
 * suffix and source in it; the error message or NULL.  "TYPE:SOURCE",
 * and "TYPE=SUFFIX:SOURCE" for a back end that takes a suffix; anything
 * else is a txt file, as the stock module reads it. */
static const char *parse_spec(apr_pool_t *p, const char *spec,
                              const rw_map_backend_t **be,
                              const char **suffix, const char **source)
{
    apr_size_t i;

    for (i = 0; i < NBACKENDS; ++i) {
        const rw_map_backend_t *b = backends[i];
        apr_size_t n = strlen(b->name);
        const char *rest = spec + n, *colon;

        if (strncasecmp(spec, b->name, n))
            continue;
        if (*rest == ':') {
            *be = b;
            *suffix = NULL;
            *source = rest + 1;
            return NULL;
        }
        if (!b->takes_suffix)
            continue;
        if (*rest != '=')
            return apr_pstrcat(p, "RewriteMap: bad map:", spec, NULL);
        colon = strchr(rest, ':');
        if (!colon)
            return apr_pstrcat(p, "RewriteMap: bad map:", b->name, rest,
                               NULL);
        *be = b;
        *suffix = apr_pstrmemdup(p, rest + 1, (apr_size_t)(colon - rest - 1));
        *source = colon + 1;
        return NULL;
    }
    *be = &rw_map_txt;
    *suffix = NULL;
    *source = spec;
    return NULL;
}

const char *rw_map_define(cmd_parms *cmd, const char *name, const char *spec,
                          const char *options, rw_map_t **out)
{
    const rw_map_backend_t *be = NULL;
    const char *suffix = NULL, *source = NULL, *err;
    rw_map_t *map;

    err = parse_spec(cmd->pool, spec, &be, &suffix, &source);
    if (err || !be)
        return err ? err : "RewriteMap: bad map";
    map = apr_pcalloc(cmd->pool, sizeof(*map));
    map->name = name;
    map->backend = be;
    err = be->configure(cmd, map, suffix, source, options);
    if (err)
        return err;
    if (!all_maps) {
        all_maps = apr_array_make(cmd->pool, 8, sizeof(rw_map_t *));
        map_names = apr_hash_make(cmd->pool);
        apr_pool_cleanup_register(cmd->pool, NULL, all_maps_reset,
                                  apr_pool_cleanup_null);
    }
    APR_ARRAY_PUSH(all_maps, rw_map_t *) = map;
    if (!apr_hash_get(map_names, name, APR_HASH_KEY_STRING)) {
        int *id = apr_palloc(cmd->pool, sizeof(*id));
        *id = (int)apr_hash_count(map_names);
        apr_hash_set(map_names, name, APR_HASH_KEY_STRING, id);
    }
    *out = map;
    return NULL;
}

int rw_map_name_id(const char *name)
{
    const int *id;

    if (!map_names || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_RUN_MPM)
        return -1;
    id = apr_hash_get(map_names, name, APR_HASH_KEY_STRING);
    return id ? *id : -1;
}

const char *rw_map_lookup_log(request_rec *r, const rw_map_t *map,
                              const char *key, rw_map_log_fn *log,
                              void *baton)
{
    return rw_map_lookup_req(r, map, key, log, baton, NULL);
}

const char *rw_map_lookup_req(request_rec *r, const rw_map_t *map,
                              const char *key, rw_map_log_fn *log,
                              void *baton, rw_map_memo_t **memo)
{
    rw_map_call_t c;

    if (!map->backend || !map->priv)
        return NULL;
    c.r = r;
    c.log = log;
    c.baton = baton;
    c.memo = memo;
    /* the value lives in the request pool, not in c */
    /* cppcheck-suppress returnDanglingLifetime */
    return map->backend->lookup(&c, map, key ? key : "");
}

/* ------------------------------------------------------------------ */
/* Server start and child start                                        */

void rw_map_pre_config(apr_pool_t *p)
{
    apr_size_t i;

    for (i = 0; i < NBACKENDS; ++i)
        if (backends[i]->pre_config)
            backends[i]->pre_config(p);
}

/* be's maps that a server uses, in configuration order, in *maps (from
 * p); their number. */
static int maps_of(const rw_map_backend_t *be, apr_pool_t *p,
                   rw_map_t ***maps)
{
    int i, n = 0;

    *maps = apr_palloc(p, sizeof(rw_map_t *) * (apr_size_t)all_maps->nelts);
    for (i = 0; i < all_maps->nelts; ++i) {
        rw_map_t *m = APR_ARRAY_IDX(all_maps, i, rw_map_t *);
        if (m->backend == be && m->used)
            (*maps)[n++] = m;
    }
    return n;
}

/* sc's maps by name number (rw_server_conf_t.mapids), up to the
 * highest number among them; none (lookups by name) when that table
 * would be mostly empty: with a thousand vhosts each defining a map of
 * its own name, tables over every number would take a million slots. */
static void map_ids(apr_pool_t *pconf, apr_pool_t *ptemp,
                    rw_server_conf_t *sc)
{
    apr_hash_index_t *hi;
    int count = 0, top = -1;

    for (hi = apr_hash_first(ptemp, sc->maps); map_names && hi;
         hi = apr_hash_next(hi)) {
        const int *id = apr_hash_get(map_names, apr_hash_this_key(hi),
                                     APR_HASH_KEY_STRING);
        ++count;
        if (id && *id > top)
            top = *id;
    }
    if (top < 0 || top + 1 > 8 * count + 16)
        return;
    sc->mapids = apr_pcalloc(pconf, (apr_size_t)(top + 1) *
                             sizeof(*sc->mapids));
    sc->nmapids = top + 1;
    for (hi = apr_hash_first(ptemp, sc->maps); hi; hi = apr_hash_next(hi)) {
        const int *id = apr_hash_get(map_names, apr_hash_this_key(hi),
                                     APR_HASH_KEY_STRING);
        if (id)
            sc->mapids[*id] = apr_hash_this_val(hi);
    }
}

int rw_map_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;
    apr_size_t i;

    /* the first pass only checks the configuration */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    /* the maps each server uses, inherited ones included (a prg program
     * is started only for a server whose RewriteEngine is on) */
    for (v = s; v; v = v->next) {
        rw_server_conf_t *sc = ap_get_module_config(v->module_config,
                                                    &rewrite_module);
        apr_hash_index_t *hi;
        if (!sc || !sc->maps)
            continue;
        for (hi = apr_hash_first(ptemp, sc->maps); hi; hi = apr_hash_next(hi)) {
            rw_map_t *m = apr_hash_this_val(hi);
            m->used = 1;
            if (sc->state == 1)
                m->engine_on = 1;
        }
        map_ids(pconf, ptemp, sc);
    }
    for (i = 0; all_maps && i < NBACKENDS; ++i) {
        rw_map_t **maps;
        int n, rc;
        if (!backends[i]->post_config)
            continue;
        n = maps_of(backends[i], ptemp, &maps);
        if (n && (rc = backends[i]->post_config(pconf, ptemp, s, maps, n))
                 != OK)
            return rc;
    }
#ifdef __GLIBC__
    /* hand the heap indexing freed back to the system: the children
     * would otherwise each inherit it, resident, in their RSS */
    malloc_trim(0);
#endif
    return OK;
}

void rw_map_child_init(apr_pool_t *p, server_rec *s)
{
    apr_size_t i;

    if (!all_maps)
        return;
    for (i = 0; i < NBACKENDS; ++i) {
        rw_map_t **maps;
        int n;
        if (!backends[i]->child_init)
            continue;
        n = maps_of(backends[i], p, &maps);
        if (n)
            backends[i]->child_init(p, s, maps, n);
    }
}

/* ------------------------------------------------------------------ */
/* Trace lines                                                         */

void rw_map_trace(const rw_map_call_t *c, int level, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (!c->log || !APLOG_R_MODULE_IS_LEVEL(c->r, APLOG_MODULE_INDEX,
                                            APLOG_DEBUG + level))
        return;
    va_start(ap, fmt);
    msg = apr_pvsprintf(c->r->pool, fmt, ap);
    va_end(ap);
    c->log(c->baton, level, msg);
}

/* ------------------------------------------------------------------ */
/* What a request remembers                                             */

/* The maps a request has looked up so far, rarely more than a few:
 * searched in order. */
struct rw_map_memo_t {
    int n, cap;
    struct {
        const rw_map_t *map;
        apr_time_t mtime;
    } *e;
};

int rw_map_memo_get(const rw_map_call_t *c, const rw_map_t *map,
                    apr_time_t *mtime)
{
    const rw_map_memo_t *m = c->memo ? *c->memo : NULL;
    int i;

    for (i = 0; m && i < m->n; ++i)
        if (m->e[i].map == map) {
            *mtime = m->e[i].mtime;
            return 1;
        }
    return 0;
}

void rw_map_memo_set(const rw_map_call_t *c, const rw_map_t *map,
                     apr_time_t mtime)
{
    rw_map_memo_t *m;

    if (!c->memo)
        return;
    if (!*c->memo)
        *c->memo = apr_pcalloc(c->r->pool, sizeof(rw_map_memo_t));
    m = *c->memo;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 4;
        void *e = apr_palloc(c->r->pool, (apr_size_t)cap * sizeof(*m->e));
        if (m->n)
            memcpy(e, m->e, (apr_size_t)m->n * sizeof(*m->e));
        m->e = e;
        m->cap = cap;
    }
    m->e[m->n].map = map;
    m->e[m->n].mtime = mtime;
    ++m->n;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

const char *rw_map_not_found(cmd_parms *cmd, const rw_map_t *map,
                             const char *path)
{
    return apr_pstrcat(cmd->pool, "RewriteMap: file for map ", map->name,
                       " not found:", path, NULL);
}

static apr_status_t destroy_pool(void *p)
{
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

apr_pool_t *rw_map_private_pool(apr_pool_t *owner)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    if (apr_allocator_create(&a) != APR_SUCCESS)
        return NULL;
    apr_allocator_max_free_set(a, 1024 * 1024);
    if (apr_pool_create_ex(&p, NULL, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    apr_pool_tag(p, "rewrite-map-cache");
    apr_pool_cleanup_register(owner, p, destroy_pool, apr_pool_cleanup_null);
    return p;
}

unsigned rw_map_random_below(unsigned n)
{
    unsigned char rb[4];
    apr_uint32_t x;

    if (n <= 1)
        return 0;
    if (apr_generate_random_bytes(rb, sizeof(rb)) != APR_SUCCESS)
        return 0;
    x = (apr_uint32_t)rb[0] << 24 | (apr_uint32_t)rb[1] << 16 |
        (apr_uint32_t)rb[2] << 8 | rb[3];
    return (unsigned)(x % n);
}

/* ------------------------------------------------------------------ */
/* The cache                                                            */

struct rw_map_cache_t {
    apr_thread_mutex_t *lock;
    apr_pool_t *pool;       /* holds h and every entry */
    apr_hash_t *h;
    apr_time_t mtime;
    apr_size_t bytes;
};

rw_map_cache_t *rw_map_cache_make(apr_pool_t *p)
{
    rw_map_cache_t *c = apr_pcalloc(p, sizeof(*c));

    if (apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS)
        return NULL;
    c->pool = rw_map_private_pool(p);
    if (!c->pool)
        return NULL;
    c->h = apr_hash_make_custom(c->pool, rw_hash_keyed);
    return c;
}

/* With c->lock held. */
static void cache_reset(rw_map_cache_t *c, apr_time_t mtime)
{
    apr_pool_clear(c->pool);
    c->h = apr_hash_make_custom(c->pool, rw_hash_keyed);
    c->bytes = 0;
    c->mtime = mtime;
}

const char *rw_map_cache_get(rw_map_cache_t *c, apr_time_t mtime,
                             const char *key, apr_pool_t *p)
{
    const char *v;

    apr_thread_mutex_lock(c->lock);
    if (c->mtime != mtime)
        cache_reset(c, mtime);
    v = apr_hash_get(c->h, key, APR_HASH_KEY_STRING);
    if (v)
        v = apr_pstrdup(p, v);
    apr_thread_mutex_unlock(c->lock);
    return v;
}

void rw_map_cache_put(rw_map_cache_t *c, apr_time_t mtime, const char *key,
                      const char *val)
{
    apr_size_t kl = strlen(key), vl = strlen(val);

    apr_thread_mutex_lock(c->lock);
    if (c->mtime != mtime)
        cache_reset(c, mtime);
    if (apr_hash_count(c->h) >= CACHE_MAX_ENTRIES ||
        c->bytes + kl + vl > CACHE_MAX_BYTES)
        cache_reset(c, mtime);
    if (!apr_hash_get(c->h, key, (apr_ssize_t)kl)) {
        apr_hash_set(c->h, apr_pstrmemdup(c->pool, key, kl), (apr_ssize_t)kl,
                     apr_pstrmemdup(c->pool, val, vl));
        c->bytes += kl + vl + 2 * sizeof(void *);
    }
    apr_thread_mutex_unlock(c->lock);
}

const char *rw_map_cached_lookup(const rw_map_call_t *c, const rw_map_t *map,
                                 const char *tname, rw_map_cache_t *cache,
                                 apr_time_t mtime, const char *key,
                                 rw_map_fetch_fn *fetch)
{
    const char *val = rw_map_cache_get(cache, mtime, key, c->r->pool);

    if (val) {
        rw_map_trace(c, 5, "cache lookup OK: map=%s[%s] key=%s -> val=%s",
                     map->name, tname, key, val);
        return *val ? val : NULL;
    }
    rw_map_trace(c, 6, "cache lookup FAILED, forcing new map lookup");
    val = fetch(c->r, map, key);
    rw_map_cache_put(cache, mtime, key, val ? val : "");
    if (val)
        rw_map_trace(c, 5, "map lookup OK: map=%s[%s] key=%s -> val=%s",
                     map->name, tname, key, val);
    else
        rw_map_trace(c, 5, "map lookup FAILED: map=%s[%s] key=%s",
                     map->name, tname, key);
    return val;
}
