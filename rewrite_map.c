/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * RewriteMap back ends: txt, rnd, dbm, int, prg, dbd and fastdbd.
 *
 * Each type is one rw_map_type_t: a configure function run by the
 * RewriteMap directive and a lookup function run at request time.  A
 * back end keeps its own data behind map->priv; everything written at
 * request time (caches, prg pipes) is guarded by a lock of its own.
 *
 * Lookups write the stock module's trace lines through a caller-supplied
 * sink (rw_map_lookup_log), so that per-directory prefixes come out as
 * the rest of the engine's lines do.
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
 * and programs that do not answer in time do not hang the worker.
 */
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_hash.h"
#include "apr_file_io.h"
#include "apr_file_info.h"
#include "apr_dbm.h"
#include "apr_dbd.h"
#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_global_mutex.h"
#include "apr_thread_mutex.h"
#include "apr_portable.h"
#include "apr_thread_proc.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "util_mutex.h"
#include "mod_dbd.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "rewrite.h"
#include "rewrite_txtindex.h"

APLOG_USE_MODULE(rewrite);

/* Cache bounds per map and process: past either, the cache is emptied. */
#define CACHE_MAX_ENTRIES  20000
#define CACHE_MAX_BYTES    (8 * 1024 * 1024)

/* prg: default answer timeout, poll slice, answer size limit, restarts */
#define PRG_TIMEOUT_DEFAULT  apr_time_from_sec(10)
#define PRG_SLICE_MS         50
#define PRG_ANSWER_MAX       (1024 * 1024)
/* an answer over PRG_ANSWER_MAX is read to its newline and dropped, up
 * to this many bytes more; past them the program is killed (restarted) */
#define PRG_DRAIN_MAX        (64 * 1024 * 1024)
#define PRG_RAPID_DEATHS     5          /* in a row, each within ... */
#define PRG_RAPID_SECS       2          /* ... seconds of its start */

/* ------------------------------------------------------------------ */
/* Trace lines                                                         */

typedef struct {
    request_rec *r;
    rw_map_log_fn *fn;
    void *baton;
} mlog_t;

static void mlog(const mlog_t *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mlog(const mlog_t *l, int level, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (!l->fn || !APLOG_R_MODULE_IS_LEVEL(l->r, APLOG_MODULE_INDEX,
                                           APLOG_DEBUG + level))
        return;
    va_start(ap, fmt);
    msg = apr_pvsprintf(l->r->pool, fmt, ap);
    va_end(ap);
    l->fn(l->baton, level, msg);
}

/* ------------------------------------------------------------------ */
/* A pool with an allocator of its own: cleared and refilled at request */
/* time under the owner's lock, never touching pconf's allocator.       */

static apr_status_t destroy_pool(void *p)
{
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static apr_pool_t *private_pool(apr_pool_t *owner)
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

/* ------------------------------------------------------------------ */
/* Bounded key -> value cache, valid for one mtime of the source.       */
/* An empty value stands for "looked up, not found".                    */

typedef struct {
    apr_thread_mutex_t *lock;
    apr_pool_t *pool;       /* holds h and every entry */
    apr_hash_t *h;
    apr_time_t mtime;
    apr_size_t bytes;
} cache_t;

static cache_t *cache_make(apr_pool_t *p)
{
    cache_t *c = apr_pcalloc(p, sizeof(*c));

    if (apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS)
        return NULL;
    c->pool = private_pool(p);
    if (!c->pool)
        return NULL;
    c->h = apr_hash_make(c->pool);
    return c;
}

/* With c->lock held. */
static void cache_reset(cache_t *c, apr_time_t mtime)
{
    apr_pool_clear(c->pool);
    c->h = apr_hash_make(c->pool);
    c->bytes = 0;
    c->mtime = mtime;
}

/* Value for key copied into p, or NULL when not cached.  A cache made
 * for another mtime is emptied first. */
static const char *cache_get(cache_t *c, apr_time_t mtime, const char *key,
                             apr_pool_t *p)
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

static void cache_put(cache_t *c, apr_time_t mtime, const char *key,
                      const char *val)
{
    apr_size_t kl = strlen(key), vl = strlen(val);

    apr_thread_mutex_lock(c->lock);
    if (c->mtime != mtime)
        cache_reset(c, mtime);
    if (apr_hash_count(c->h) >= CACHE_MAX_ENTRIES ||
        c->bytes + kl + vl > CACHE_MAX_BYTES)
        cache_reset(c, mtime);
    if (!apr_hash_get(c->h, key, kl)) {
        apr_hash_set(c->h, apr_pstrmemdup(c->pool, key, kl), kl,
                     apr_pstrmemdup(c->pool, val, vl));
        c->bytes += kl + vl + 2 * sizeof(void *);
    }
    apr_thread_mutex_unlock(c->lock);
}

/* A uniformly random number below n (n > 0). */
static unsigned random_below(unsigned n)
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
/* int: built-in functions and those registered by other modules       */

static int prg_monitor(apr_pool_t *p, server_rec *s);

/* Written at config time only (single-threaded), read at request time.
 * It lives until the end of the configuration cycle that filled it, so
 * modules may register from register_hooks or pre_config, before or
 * after ours. */
static apr_hash_t *int_funcs;
static apr_pool_t *int_pool;

static apr_status_t int_funcs_reset(void *unused)
{
    (void)unused;
    int_funcs = NULL;
    if (int_pool)
        apr_pool_clear(int_pool);
    return APR_SUCCESS;
}

/* The built-ins work in place on the key, as the stock module's do (its
 * trace line shows the key after the call). */
static char *fn_toupper(request_rec *r, char *key)
{
    char *c;

    (void)r;
    for (c = key; *c; ++c)
        *c = apr_toupper(*c);
    return key;
}

static char *fn_tolower(request_rec *r, char *key)
{
    char *c;

    (void)r;
    for (c = key; *c; ++c)
        *c = apr_tolower(*c);
    return key;
}

static char *fn_escape(request_rec *r, char *key)
{
    return ap_escape_uri(r->pool, key);
}

/* %XX -> byte everywhere (also %2F and %00); malformed escapes stay. */
static char *fn_unescape(request_rec *r, char *key)
{
    char *s = key, *d = key;

    (void)r;
    for (; *s; ++s, ++d) {
        if (*s == '%' && apr_isxdigit(s[1]) && apr_isxdigit(s[2])) {
            int hi = apr_isdigit(s[1]) ? s[1] - '0'
                                       : apr_tolower(s[1]) - 'a' + 10;
            int lo = apr_isdigit(s[2]) ? s[2] - '0'
                                       : apr_tolower(s[2]) - 'a' + 10;
            *d = (char)(hi << 4 | lo);
            s += 2;
        }
        else {
            *d = *s;
        }
    }
    *d = '\0';
    return key;
}

void rw_map_pre_config(apr_pool_t *p)
{
    /* (hooks are registered anew for every configuration cycle) */
    ap_hook_monitor(prg_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    rw_map_register_func("tolower", fn_tolower);
    rw_map_register_func("toupper", fn_toupper);
    rw_map_register_func("escape", fn_escape);
    rw_map_register_func("unescape", fn_unescape);
    apr_pool_cleanup_register(p, NULL, int_funcs_reset,
                              apr_pool_cleanup_null);
    ap_mutex_register(p, "rewrite-map", NULL, APR_LOCK_DEFAULT, 0);
}

void rw_map_register_func(char *name, rewrite_mapfunc_t *func)
{
    if (!name || !func)
        return;
    if (!int_pool && apr_pool_create(&int_pool, NULL) != APR_SUCCESS)
        return;
    if (!int_funcs)
        int_funcs = apr_hash_make(int_pool);
    apr_hash_set(int_funcs, apr_pstrdup(int_pool, name), APR_HASH_KEY_STRING,
                 (void *)func);
}

static const char *int_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *src, const char *opt)
{
    rewrite_mapfunc_t *fn = int_funcs
        ? (rewrite_mapfunc_t *)apr_hash_get(int_funcs, src,
                                            APR_HASH_KEY_STRING)
        : NULL;

    (void)opt;
    if (!fn)
        return apr_pstrcat(cmd->pool, "RewriteMap: internal map not found:",
                           src, NULL);
    map->source = src;
    map->priv = (void *)fn;
    return NULL;
}

static const char *int_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    rewrite_mapfunc_t *fn = (rewrite_mapfunc_t *)map->priv;
    char *k = apr_pstrdup(l->r->pool, key);
    const char *val = fn(l->r, k);

    if (val)
        mlog(l, 5, "map lookup OK: map=%s key=%s -> val=%s", map->name, k,
             val);
    else
        mlog(l, 5, "map lookup FAILED: map=%s key=%s", map->name, k);
    return val;
}

/* ------------------------------------------------------------------ */
/* txt and rnd: text files, indexed per process, re-indexed on change   */

/* Like the stock module: looked-up keys (and misses) are cached per
 * process until the file's mtime changes; a key not in the cache is read
 * from the file as it is now.  Instead of scanning the file for every
 * such key, the file is indexed (rewrite_txtindex.c: 8 bytes a line) and
 * just the key's line is read.  The parent indexes the file at start-up
 * into memory its children share; a child that finds the file changed
 * since (mtime, ctime, size or inode) indexes it again for itself. */
typedef struct {
    apr_time_t mtime, ctime;
    apr_off_t size;
    apr_ino_t inode;
} file_id_t;

typedef struct {
    const char *path;
    cache_t *cache;         /* looked-up keys, valid for one mtime */
    /* made by the parent, read-only in the children */
    int shared_tried;
    int shared_ok;
    file_id_t shared_id;
    rw_txtindex_t shared;
    /* a process's own index, once the file has changed */
    apr_thread_mutex_t *lock; /* guards the fields below */
    apr_pool_t *pool;       /* owns the index; cleared on re-indexing */
    int indexed;
    file_id_t id;
    rw_txtindex_t index;
} txt_map_t;

static void file_id_set(file_id_t *id, const apr_finfo_t *fi)
{
    id->mtime = fi->mtime;
    id->ctime = fi->ctime;
    id->size = fi->size;
    id->inode = fi->inode;
}

static int file_id_same(const file_id_t *id, const apr_finfo_t *fi)
{
    return id->mtime == fi->mtime && id->ctime == fi->ctime &&
           id->size == fi->size && id->inode == fi->inode;
}

#define FILE_ID_WANTED \
    (APR_FINFO_MTIME | APR_FINFO_CTIME | APR_FINFO_SIZE | APR_FINFO_INODE)

static const char *not_found(cmd_parms *cmd, const rw_map_t *map,
                             const char *path)
{
    return apr_pstrcat(cmd->pool, "RewriteMap: file for map ", map->name,
                       " not found:", path, NULL);
}

static const char *file_configure(cmd_parms *cmd, rw_map_t *map,
                                  const char *src, const char *opt)
{
    txt_map_t *t = apr_pcalloc(cmd->pool, sizeof(*t));
    apr_finfo_t fi;

    (void)opt;
    t->path = ap_server_root_relative(cmd->pool, src);
    if (!t->path)
        return not_found(cmd, map, src);
    if (apr_stat(&fi, t->path, APR_FINFO_MIN, cmd->temp_pool) != APR_SUCCESS)
        return not_found(cmd, map, t->path);
    if (apr_thread_mutex_create(&t->lock, APR_THREAD_MUTEX_DEFAULT,
                                cmd->pool) != APR_SUCCESS ||
        !(t->pool = private_pool(cmd->pool)) ||
        !(t->cache = cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    map->source = t->path;
    map->priv = t;
    return NULL;
}

/* Value of key in the file as it is now (NULL when absent), through the
 * shared index when the file is the one the parent indexed, else through
 * this process's own, made again first when the file is not the one it
 * indexed either. */
static apr_status_t txt_find(txt_map_t *t, const char *key, apr_pool_t *p,
                             const char **val)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;

    *val = NULL;
    rv = apr_file_open(&f, t->path, APR_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_info_get(&fi, FILE_ID_WANTED, f);
    if (APR_STATUS_IS_INCOMPLETE(rv))
        rv = APR_SUCCESS;
    if (rv == APR_SUCCESS && t->shared_ok && file_id_same(&t->shared_id, &fi))
        rv = rw_txtindex_find(&t->shared, f, key, p, val);
    else if (rv == APR_SUCCESS) {
        apr_thread_mutex_lock(t->lock);
        if (!t->indexed || !file_id_same(&t->id, &fi)) {
            apr_pool_clear(t->pool);
            t->indexed = 0;
            rv = rw_txtindex_build(&t->index, f, t->pool);
            if (rv == APR_SUCCESS) {
                t->indexed = 1;
                file_id_set(&t->id, &fi);
            }
        }
        if (rv == APR_SUCCESS)
            rv = rw_txtindex_find(&t->index, f, key, p, val);
        apr_thread_mutex_unlock(t->lock);
    }
    apr_file_close(f);
    return rv;
}

/* post_config, in the parent: the index the children share.  A file
 * the parent cannot read is left to the children (they log why). */
static void txt_share(txt_map_t *t, apr_pool_t *pconf, apr_pool_t *ptemp)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;

    if (t->shared_tried)
        return;
    t->shared_tried = 1;
    if (apr_file_open(&f, t->path, APR_READ, APR_OS_DEFAULT, ptemp)
        != APR_SUCCESS)
        return;
    rv = apr_file_info_get(&fi, FILE_ID_WANTED, f);
    if ((rv == APR_SUCCESS || APR_STATUS_IS_INCOMPLETE(rv)) &&
        rw_txtindex_build_shared(&t->shared, f, pconf) == APR_SUCCESS) {
        file_id_set(&t->shared_id, &fi);
        t->shared_ok = 1;
    }
    apr_file_close(f);
}

/* A file map's lookup: the per-process cache in front of the file, both
 * with the stock module's trace lines; fetch reads key's value from the
 * file (NULL when absent; it logs its own errors), mtime is the file's. */
typedef const char *(file_fetch_fn)(request_rec *r, void *priv,
                                    const char *key);

static const char *cached_lookup(const mlog_t *l, const rw_map_t *map,
                                 const char *tname, cache_t *cache,
                                 apr_time_t mtime, const char *key,
                                 file_fetch_fn *fetch)
{
    const char *val = cache_get(cache, mtime, key, l->r->pool);

    if (val) {
        mlog(l, 5, "cache lookup OK: map=%s[%s] key=%s -> val=%s",
             map->name, tname, key, val);
        return *val ? val : NULL;
    }
    mlog(l, 6, "cache lookup FAILED, forcing new map lookup");
    val = fetch(l->r, map->priv, key);
    cache_put(cache, mtime, key, val ? val : "");
    if (val)
        mlog(l, 5, "map lookup OK: map=%s[%s] key=%s -> val=%s", map->name,
             tname, key, val);
    else
        mlog(l, 5, "map lookup FAILED: map=%s[%s] key=%s", map->name, tname,
             key);
    return val;
}

static const char *txt_fetch(request_rec *r, void *priv, const char *key)
{
    txt_map_t *t = priv;
    const char *val;
    apr_status_t rv = txt_find(t, key, r->pool, &val);

    if (rv == APR_FROM_OS_ERROR(EFBIG))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "mod_rewrite: text RewriteMap file %s has entries "
                      "past 4 GiB: not read", t->path);
    else if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00655)
                      "mod_rewrite: can't open text RewriteMap file %s",
                      t->path);
    return val;
}

/* Value of key in a txt file map, with the stock module's trace ("txt"
 * also for rnd maps); NULL when absent. */
static const char *txt_value(const mlog_t *l, const rw_map_t *map,
                             const char *key)
{
    txt_map_t *t = map->priv;
    apr_finfo_t fi;
    apr_status_t rv;

    rv = apr_stat(&fi, t->path, APR_FINFO_MTIME, l->r->pool);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_INCOMPLETE(rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, l->r, APLOGNO(00661)
                      "mod_rewrite: can't access text RewriteMap file %s",
                      t->path);
        return NULL;
    }
    return cached_lookup(l, map, "txt", t->cache, fi.mtime, key, txt_fetch);
}

static const char *txt_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    return txt_value(l, map, key);
}

/* One of the '|'-separated choices, empty ones included (an empty choice
 * means no value). */
static const char *rnd_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    const char *val = txt_value(l, map, key), *s, *e;
    unsigned n = 1, pick;

    if (!val || !strchr(val, '|'))
        return val;
    for (s = val; *s; ++s)
        n += *s == '|';
    pick = random_below(n);
    for (s = val; pick; --pick)
        s = strchr(s, '|') + 1;
    e = strchr(s, '|');
    if (e == s || !*s)
        return NULL;
    return e ? apr_pstrmemdup(l->r->pool, s, e - s) : s;
}

/* ------------------------------------------------------------------ */
/* dbm: any DBM type APR-util offers, cached like txt                   */

typedef struct {
    const char *type;       /* APR dbm type name ("default", "sdbm", ...) */
    const char *path;
    const char *file1, *file2; /* the files it consists of (file2 or NULL) */
    cache_t *cache;
} dbm_map_t;

static const char *dbm_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *src, const char *opt)
{
    dbm_map_t *d = apr_pcalloc(cmd->pool, sizeof(*d));
    apr_finfo_t fi;

    (void)opt;
    d->type = "default";
    if (*src == '=') {          /* dbm=TYPE:PATH */
        const char *colon = strchr(src, ':');
        if (!colon)
            return apr_pstrcat(cmd->pool, "RewriteMap: bad map:dbm", src,
                               NULL);
        d->type = apr_pstrmemdup(cmd->pool, src + 1, colon - src - 1);
        src = colon + 1;
    }
    d->path = ap_server_root_relative(cmd->pool, src);
    if (!d->path)
        return not_found(cmd, map, src);
    if (apr_dbm_get_usednames_ex(cmd->pool, d->type, d->path, &d->file1,
                                 &d->file2) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "RewriteMap: dbm type ", d->type,
                           " is invalid", NULL);
    if (apr_stat(&fi, d->file1, APR_FINFO_MIN, cmd->temp_pool)
        != APR_SUCCESS)
        return not_found(cmd, map, d->file1);
    if (!(d->cache = cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    map->source = d->path;
    map->priv = d;
    return NULL;
}

static const char *dbm_fetch(request_rec *r, void *priv, const char *key)
{
    dbm_map_t *d = priv;
    const char *val = NULL;
    apr_status_t rv;
    apr_dbm_t *db;
    apr_datum_t k, v;

    rv = apr_dbm_open_ex(&db, d->type, d->path, APR_DBM_READONLY,
                         APR_OS_DEFAULT, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00656)
                      "mod_rewrite: can't open DBM RewriteMap %s", d->path);
        return NULL;
    }
    k.dptr = (char *)key;
    k.dsize = strlen(key);
    if (apr_dbm_fetch(db, k, &v) == APR_SUCCESS && v.dptr)
        val = apr_pstrmemdup(r->pool, v.dptr, v.dsize);
    apr_dbm_close(db);
    return val;
}

static const char *dbm_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    dbm_map_t *d = map->priv;
    request_rec *r = l->r;
    apr_finfo_t fi;
    apr_time_t mtime;
    apr_status_t rv;

    rv = apr_stat(&fi, d->file1, APR_FINFO_MTIME, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00662)
                      "mod_rewrite: can't access DBM RewriteMap file %s",
                      d->file1);
        return NULL;
    }
    mtime = fi.mtime;
    if (d->file2) {
        rv = apr_stat(&fi, d->file2, APR_FINFO_MTIME, r->pool);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00663)
                          "mod_rewrite: can't access DBM RewriteMap file %s",
                          d->file2);
            return NULL;
        }
        if (fi.mtime > mtime)
            mtime = fi.mtime;
    }
    return cached_lookup(l, map, "dbm", d->cache, mtime, key, dbm_fetch);
}

/* ------------------------------------------------------------------ */
/* prg: an external program, one line in, one line out                  */
/*                                                                      */
/* The parent starts every program in post_config and keeps both ends  */
/* of both pipes, so the pipes outlive the program: when it dies, the  */
/* parent (which reaps it) starts a new one on the same pipes, and the  */
/* children, which inherited the pipes, carry on without noticing.     */
/* Children see the program's generation and state in shared memory.   */
/* A lookup holds the map's global mutex (processes and threads) for   */
/* one exchange, discards output left over by an earlier exchange, and */
/* waits at most the map's timeout for the answer.                     */

enum { PRG_ALIVE = 0, PRG_HUNG = 1, PRG_DEAD = 2 };

typedef struct {
    apr_uint32_t gen;       /* bumped at every (re)start */
    apr_uint32_t pid;
    apr_uint32_t state;     /* PRG_* */
    apr_uint32_t hung_at;   /* apr_time_sec() of the last timeout */
    apr_uint32_t answered;  /* gen of the last program that answered */
} prg_shared_t;

typedef struct {
    const rw_map_t *map;
    const char *prog;       /* argv[0], absolute */
    const char **argv;
    const char *user, *group;
    apr_interval_time_t timeout;
    int engine_seen;        /* defined in a context with RewriteEngine on */
    /* set in post_config (parent), inherited by the children */
    int started;
    int index;
    apr_file_t *to_r, *to_w;     /* key pipe: program's stdin, our end */
    apr_file_t *from_r, *from_w; /* answer pipe: our end, program's stdout */
    int fd_w, fd_r;              /* raw fds of to_w and from_r */
    apr_global_mutex_t *mutex;
    const char *mutex_file;
    prg_shared_t *sh;
    /* parent only */
    apr_proc_t proc;
    apr_time_t started_at;
    int rapid_deaths;
    apr_pool_t *pconf;
    server_rec *s;
} prg_map_t;

/* Number of prg_shared_t slots of this generation (post_config). */
static int prg_shared_n;

static apr_status_t prg_mark_dead(void *data)
{
    prg_shared_t *sh = data;
    int i;

    for (i = 0; i < prg_shared_n; ++i)
        apr_atomic_set32(&sh[i].state, PRG_DEAD);
    return APR_SUCCESS;
}

/* Every prg map of the configuration (config time; read-only later). */
static apr_array_header_t *prg_maps;

static apr_status_t prg_maps_reset(void *unused)
{
    (void)unused;
    prg_maps = NULL;
    return APR_SUCCESS;
}

static const char *prg_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *src, const char *opt)
{
    prg_map_t *pm = apr_pcalloc(cmd->pool, sizeof(*pm));
    char **argv = NULL;
    apr_finfo_t fi;

    pm->map = map;
    pm->timeout = PRG_TIMEOUT_DEFAULT;
    if (apr_tokenize_to_argv(src, &argv, cmd->pool) != APR_SUCCESS)
        argv = NULL;
    if (argv && argv[0] && *argv[0]) {
        pm->prog = ap_server_root_relative(cmd->pool, argv[0]);
        if (!pm->prog)
            return not_found(cmd, map, argv[0]);
        if (apr_stat(&fi, pm->prog, APR_FINFO_MIN, cmd->temp_pool)
            != APR_SUCCESS)
            return not_found(cmd, map, pm->prog);
        argv[0] = (char *)pm->prog;
        pm->argv = (const char **)argv;
    }
    /* MapTypeOptions: "user[:group]" as in the stock module; ours also
     * takes ",timeout=SECONDS" (or "timeout=SECONDS" alone). */
    if (opt && *opt) {
        char *o = apr_pstrdup(cmd->pool, opt), *tok, *last;
        for (tok = apr_strtok(o, ",", &last); tok;
             tok = apr_strtok(NULL, ",", &last)) {
            if (!strncasecmp(tok, "timeout=", 8)) {
                char *end;
                double secs = strtod(tok + 8, &end);
                if (end == tok + 8 || *end || secs <= 0 || secs > 86400)
                    return apr_pstrcat(cmd->pool, "RewriteMap: bad prg "
                                       "timeout for map ", map->name, ": ",
                                       tok + 8, NULL);
                pm->timeout = (apr_interval_time_t)(secs * APR_USEC_PER_SEC);
            }
            else if (!pm->user) {
                char *colon = strchr(tok, ':');
                if (colon) {
                    *colon = '\0';
                    pm->group = colon + 1;
                }
                pm->user = tok;
            }
        }
    }
    map->source = src;
    map->priv = pm;
    if (!prg_maps) {
        prg_maps = apr_array_make(cmd->pool, 4, sizeof(prg_map_t *));
        apr_pool_cleanup_register(cmd->pool, NULL, prg_maps_reset,
                                  apr_pool_cleanup_null);
    }
    *(prg_map_t **)apr_array_push(prg_maps) = pm;
    return NULL;
}

static void prg_maintenance(int reason, void *data, apr_wait_t status);

/* Discards whatever is waiting in fd (never blocks); bytes discarded. */
static apr_size_t drain_fd(int fd)
{
    char buf[4096];
    apr_size_t total = 0;
    struct pollfd pfd;

    for (;;) {
        ssize_t n;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
            break;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        total += (apr_size_t)n;
    }
    return total;
}

/* Starts pm's program on its pipes (parent only). */
static apr_status_t prg_spawn(prg_map_t *pm)
{
    apr_procattr_t *attr;
    apr_status_t rv;
    apr_os_file_t fd;

    /* keys written for a program that is gone must not reach the new one */
    if (apr_os_file_get(&fd, pm->to_r) == APR_SUCCESS)
        drain_fd(fd);
    if ((rv = apr_procattr_create(&attr, pm->pconf)) != APR_SUCCESS ||
        (rv = apr_procattr_child_in_set(attr, pm->to_r, NULL))
            != APR_SUCCESS ||
        (rv = apr_procattr_child_out_set(attr, pm->from_w, NULL))
            != APR_SUCCESS ||
        (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
            != APR_SUCCESS)
        return rv;
    if (pm->user &&
        (rv = apr_procattr_user_set(attr, pm->user, NULL)) != APR_SUCCESS)
        return rv;
    if (pm->group &&
        (rv = apr_procattr_group_set(attr, pm->group)) != APR_SUCCESS)
        return rv;
    memset(&pm->proc, 0, sizeof(pm->proc));
    rv = apr_proc_create(&pm->proc, pm->prog, pm->argv, NULL, attr,
                         pm->pconf);
    if (rv != APR_SUCCESS)
        return rv;
    pm->started_at = apr_time_now();
    apr_pool_note_subprocess(pm->pconf, &pm->proc, APR_KILL_AFTER_TIMEOUT);
    apr_proc_other_child_register(&pm->proc, prg_maintenance, pm, NULL,
                                  pm->pconf);
    apr_atomic_set32(&pm->sh->pid, (apr_uint32_t)pm->proc.pid);
    apr_atomic_inc32(&pm->sh->gen);
    apr_atomic_set32(&pm->sh->state, PRG_ALIVE);
    return APR_SUCCESS;
}

/* Parent: the program died (DEATH/LOST) or is checked on (RUNNING). */
static void prg_maintenance(int reason, void *data, apr_wait_t status)
{
    prg_map_t *pm = data;
    apr_status_t rv;
    int mpm_state = 0;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(pm);
        apr_atomic_set32(&pm->sh->state, PRG_DEAD);
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS &&
            mpm_state == AP_MPMQ_STOPPING)
            return;             /* stop or restart: pconf's cleanup follows */
        /* given up only on a program that keeps dying before it ever
         * answers, not on one that dies on some keys under load */
        if (apr_time_now() - pm->started_at
            < apr_time_from_sec(PRG_RAPID_SECS) &&
            apr_atomic_read32(&pm->sh->answered)
            != apr_atomic_read32(&pm->sh->gen))
            ++pm->rapid_deaths;
        else
            pm->rapid_deaths = 0;
        if (pm->rapid_deaths >= PRG_RAPID_DEATHS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, pm->s,
                         "mod_rewrite: RewriteMap program %s of map %s "
                         "(pid %" APR_PID_T_FMT ") died %d times in a row "
                         "right after its start; not restarting it, its "
                         "lookups get the default value",
                         pm->prog, pm->map->name, pm->proc.pid,
                         pm->rapid_deaths);
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s,
                     "mod_rewrite: RewriteMap program %s of map %s "
                     "(pid %" APR_PID_T_FMT ") %s (status %d); restarting "
                     "it", pm->prog, pm->map->name, pm->proc.pid,
                     reason == APR_OC_REASON_DEATH ? "died" : "was lost",
                     (int)status);
        rv = prg_spawn(pm);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, pm->s,
                         "mod_rewrite: could not restart RewriteMap program "
                         "%s of map %s", pm->prog, pm->map->name);
        else
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pm->s,
                         "mod_rewrite: RewriteMap program %s of map %s "
                         "restarted (pid %" APR_PID_T_FMT ")", pm->prog,
                         pm->map->name, pm->proc.pid);
        break;
    case APR_OC_REASON_RUNNING:
        /* a program that stopped answering is killed; its death restarts
         * it (children cannot always signal it: it may run as root) */
        if (apr_atomic_read32(&pm->sh->state) == PRG_HUNG &&
            apr_atomic_read32(&pm->sh->pid) == (apr_uint32_t)pm->proc.pid) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s,
                         "mod_rewrite: RewriteMap program %s of map %s "
                         "(pid %" APR_PID_T_FMT ") does not answer; killing "
                         "it", pm->prog, pm->map->name, pm->proc.pid);
            kill(pm->proc.pid, SIGKILL);
        }
        break;
    default:                    /* RESTART, UNREGISTER: pconf goes away */
        break;
    }
}

/* Parent, about every ten seconds (the MPM's monitor hook): programs
 * that stopped answering are killed, and their death restarts them
 * (children cannot always signal them: they may run as root). */
static int prg_monitor(apr_pool_t *p, server_rec *s)
{
    int i;

    (void)p;
    (void)s;
    if (!prg_maps)
        return DECLINED;
    for (i = 0; i < prg_maps->nelts; ++i) {
        prg_map_t *pm = APR_ARRAY_IDX(prg_maps, i, prg_map_t *);
        if (pm->started)
            prg_maintenance(APR_OC_REASON_RUNNING, pm, 0);
    }
    return DECLINED;
}

static apr_status_t set_nonblock(apr_file_t *f, int *fdp)
{
    apr_os_file_t fd;
    int fl;

    if (apr_os_file_get(&fd, f) != APR_SUCCESS)
        return APR_EGENERAL;
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return errno;
    *fdp = fd;
    return APR_SUCCESS;
}

/* Parent: pipes, shared state, mutex, then the program. */
static apr_status_t prg_start(prg_map_t *pm, apr_pool_t *pconf,
                              server_rec *s, prg_shared_t *sh, int index)
{
    apr_status_t rv;
    const char *id = apr_psprintf(pconf, "prg%d", index);

    pm->pconf = pconf;
    pm->s = s;
    pm->sh = sh;
    pm->index = index;
    if ((rv = apr_file_pipe_create_ex(&pm->to_r, &pm->to_w, APR_FULL_BLOCK,
                                      pconf)) != APR_SUCCESS ||
        (rv = apr_file_pipe_create_ex(&pm->from_r, &pm->from_w,
                                      APR_FULL_BLOCK, pconf)) != APR_SUCCESS ||
        (rv = set_nonblock(pm->to_w, &pm->fd_w)) != APR_SUCCESS ||
        (rv = set_nonblock(pm->from_r, &pm->fd_r)) != APR_SUCCESS)
        return rv;
    rv = ap_global_mutex_create(&pm->mutex, &pm->mutex_file, "rewrite-map",
                                id, s, pconf, 0);
    if (rv != APR_SUCCESS)
        return rv;
    rv = prg_spawn(pm);
    if (rv == APR_SUCCESS)
        pm->started = 1;
    return rv;
}

/* Child: one exchange with the program.  Returns the answer (without
 * its newline), or NULL with *why set. */
/* After an answer line, the program wrote part of another line: reads
 * on to the end of that line (bytes ending in a newline), so that the
 * rest of it does not reach the next lookup.  0 when it does not end
 * within the deadline or PRG_DRAIN_MAX bytes. */
static int drain_partial_line(prg_map_t *pm, apr_time_t deadline)
{
    char buf[4096];
    apr_size_t total = 0;
    struct pollfd pfd;

    while (total <= PRG_DRAIN_MAX) {
        ssize_t n = read(pm->fd_r, buf, sizeof(buf));
        if (n > 0) {
            total += (apr_size_t)n;
            if (buf[n - 1] == '\n')
                return 1;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return 0;
        if (apr_time_now() >= deadline)
            return 0;
        pfd.fd = pm->fd_r;
        pfd.events = POLLIN;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }
    return 0;
}

/* The program is out of step (an answer that does not end): killed, as
 * on a timeout; the parent restarts it. */
static const char *prg_out_of_step(prg_map_t *pm, request_rec *r,
                                   const char *why)
{
    pid_t pid = (pid_t)apr_atomic_read32(&pm->sh->pid);

    apr_atomic_set32(&pm->sh->hung_at,
                     (apr_uint32_t)apr_time_sec(apr_time_now()));
    apr_atomic_set32(&pm->sh->state, PRG_HUNG);
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        why = apr_pstrcat(r->pool, why, "; killed it", NULL);
    return why;
}

static char *prg_exchange(prg_map_t *pm, request_rec *r, const char *key,
                          const char **why)
{
    apr_time_t deadline = apr_time_now() + pm->timeout;
    apr_uint32_t gen = apr_atomic_read32(&pm->sh->gen);
    apr_size_t stale, klen = strlen(key), off = 0, cap = 256, len = 0;
    apr_size_t dropped = 0;
    int toolong = 0;
    char *line = apr_pstrcat(r->pool, key, "\n", NULL);
    char *buf;
    struct pollfd pfd;

    stale = drain_fd(pm->fd_r);
    if (stale)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "mod_rewrite: discarded %" APR_SIZE_T_FMT " bytes of "
                      "stale output of RewriteMap program %s (map %s)",
                      stale, pm->prog, pm->map->name);
    if (apr_atomic_read32(&pm->sh->state) == PRG_HUNG)
        apr_atomic_set32(&pm->sh->state, PRG_ALIVE); /* it answered */

    /* write key\n */
    while (off < klen + 1) {
        ssize_t n = write(pm->fd_w, line + off, klen + 1 - off);
        if (n > 0) {
            off += (apr_size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            *why = apr_psprintf(r->pool, "cannot write to it: %s",
                                strerror(errno));
            return NULL;
        }
        if (apr_time_now() >= deadline) {
            *why = "it does not read its input";
            apr_atomic_set32(&pm->sh->hung_at,
                             (apr_uint32_t)apr_time_sec(apr_time_now()));
            apr_atomic_set32(&pm->sh->state, PRG_HUNG);
            return NULL;
        }
        pfd.fd = pm->fd_w;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }

    /* read up to the newline; an answer longer than PRG_ANSWER_MAX is
     * read to its end all the same and dropped, so that no piece of it
     * is left in the pipe for the next lookup (another request's) */
    buf = apr_palloc(r->pool, cap);
    for (;;) {
        apr_time_t now;
        ssize_t n = read(pm->fd_r, buf + len, cap - len);
        if (n > 0) {
            char *nl = memchr(buf + len, '\n', (apr_size_t)n);
            len += (apr_size_t)n;
            if (nl) {
                apr_size_t rest = len - (apr_size_t)(nl - buf) - 1;
                if (rest) {
                    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                                  "mod_rewrite: RewriteMap program %s (map "
                                  "%s) answered more than one line; the "
                                  "rest is discarded", pm->prog,
                                  pm->map->name);
                    /* a line begun after the answer: read to its end */
                    if (buf[len - 1] != '\n' &&
                        !drain_partial_line(pm, deadline)) {
                        *why = prg_out_of_step(pm, r, "its answer has a "
                                               "second line that does not "
                                               "end");
                        return NULL;
                    }
                }
                if (toolong) {
                    *why = apr_psprintf(r->pool, "its answer is too long (%"
                                        APR_SIZE_T_FMT " bytes, at most %d)"
                                        "; read and dropped", dropped +
                                        (apr_size_t)(nl - buf),
                                        PRG_ANSWER_MAX);
                    return NULL;
                }
                *nl = '\0';
                if (apr_atomic_read32(&pm->sh->gen) != gen) {
                    *why = "it was restarted during the lookup";
                    return NULL;
                }
                apr_atomic_set32(&pm->sh->answered, gen);
                return buf;
            }
            if (len == cap && (toolong || cap >= PRG_ANSWER_MAX)) {
                /* too long: go on reading into the same buffer */
                toolong = 1;
                dropped += len;
                len = 0;
                if (dropped > PRG_DRAIN_MAX) {
                    *why = prg_out_of_step(pm, r, apr_psprintf(r->pool,
                                           "its answer is longer than %d "
                                           "bytes", PRG_DRAIN_MAX));
                    return NULL;
                }
            }
            else if (len == cap) {
                char *nb = apr_palloc(r->pool, cap * 2);
                memcpy(nb, buf, len);
                buf = nb;
                cap *= 2;
            }
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            *why = apr_psprintf(r->pool, "cannot read from it: %s",
                                strerror(errno));
            return NULL;
        }
        if (apr_atomic_read32(&pm->sh->gen) != gen ||
            apr_atomic_read32(&pm->sh->state) == PRG_DEAD) {
            *why = "it died during the lookup";
            return NULL;
        }
        now = apr_time_now();
        if (now >= deadline) {
            pid_t pid = (pid_t)apr_atomic_read32(&pm->sh->pid);
            *why = apr_psprintf(r->pool, "no answer within %" APR_TIME_T_FMT
                                " ms", apr_time_as_msec(pm->timeout));
            apr_atomic_set32(&pm->sh->hung_at,
                             (apr_uint32_t)apr_time_sec(now));
            apr_atomic_set32(&pm->sh->state, PRG_HUNG);
            /* allowed when it runs as our user; else the parent does it */
            if (pid > 0 && kill(pid, SIGKILL) == 0)
                *why = apr_pstrcat(r->pool, *why, "; killed it", NULL);
            return NULL;
        }
        pfd.fd = pm->fd_r;
        pfd.events = POLLIN;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }
}

static const char *prg_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    prg_map_t *pm = map->priv;
    request_rec *r = l->r;
    const char *why = NULL;
    char *val = NULL;
    apr_status_t rv;
    apr_uint32_t state;

    if (!pm->started || !pm->mutex || strchr(key, '\n')) {
        mlog(l, 5, "map lookup FAILED: map=%s key=%s", map->name, key);
        return NULL;
    }
    state = apr_atomic_read32(&pm->sh->state);
    if (state == PRG_DEAD) {
        why = "it is not running";
    }
    else if ((rv = apr_global_mutex_lock(pm->mutex)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00659)
                      "apr_global_mutex_lock(rewrite_mapr_lock_acquire) "
                      "failed");
        why = "the map's lock failed";
    }
    else {
        state = apr_atomic_read32(&pm->sh->state);
        if (state == PRG_DEAD)
            /* died since the check above: no key is written now, for it
             * could reach the program the parent is starting after the
             * lookup gave up, whose answer the next lookup would take */
            why = "it is not running";
        else if (state == PRG_HUNG && !drain_fd(pm->fd_r))
            why = "it did not answer an earlier lookup in time";
        else
            val = prg_exchange(pm, r, key, &why);
        apr_global_mutex_unlock(pm->mutex);
    }
    if (!val) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_rewrite: RewriteMap program %s (map %s) failed "
                      "for key '%s': %s; using the default value",
                      pm->prog, map->name, key, why ? why : "unknown error");
        mlog(l, 5, "map lookup FAILED: map=%s key=%s", map->name, key);
        return NULL;
    }
    if (!strcmp(val, "NULL")) {
        mlog(l, 5, "map lookup FAILED: map=%s key=%s", map->name, key);
        return NULL;
    }
    mlog(l, 5, "map lookup OK: map=%s key=%s -> val=%s", map->name, key, val);
    return val;
}

/* ------------------------------------------------------------------ */
/* dbd and fastdbd: an SQL SELECT through mod_dbd                        */

typedef struct {
    const char *label;      /* prepared statement's label: the map name */
    cache_t *cache;         /* fastdbd only */
} dbd_map_t;

/* mod_dbd's optional functions, resolved at config time. */
static ap_dbd_t *(*dbd_acquire_fn)(request_rec *);
static void (*dbd_prepare_fn)(server_rec *, const char *, const char *);

static const char *dbd_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *src, const char *opt)
{
    dbd_map_t *d = apr_pcalloc(cmd->pool, sizeof(*d));

    (void)opt;
    if (!dbd_acquire_fn || !dbd_prepare_fn) {
        dbd_acquire_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
        dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    }
    if (!dbd_acquire_fn || !dbd_prepare_fn)
        return "RewriteMap types dbd and fastdbd require mod_dbd!";
    d->label = map->name;
    if (!strcmp(map->type->name, "fastdbd") &&
        !(d->cache = cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    dbd_prepare_fn(cmd->server, src, d->label);
    map->source = src;
    map->priv = d;
    return NULL;
}

/* First column of a random row (NULL values skipped); NULL if none. */
static const char *dbd_query(const mlog_t *l, const dbd_map_t *d,
                             const char *key, const char *mapname)
{
    request_rec *r = l->r;
    ap_dbd_t *db = dbd_acquire_fn(r);
    apr_dbd_prepared_t *stmt;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *val = NULL;
    unsigned n = 0;
    int rv;

    if (!db) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(02963)
                      "rewritemap: No db handle available! "
                      "Check your database access");
        return NULL;
    }
    stmt = apr_hash_get(db->prepared, d->label, APR_HASH_KEY_STRING);
    if (!stmt) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(02964)
                      "rewritemap: No dbd prepared statement for map %s",
                      mapname);
        return NULL;
    }
    rv = apr_dbd_pvselect(db->driver, r->pool, db->handle, &res, stmt, 0,
                          key, NULL);
    if (rv != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(02965)
                      "rewritemap: error %s querying for %s",
                      apr_dbd_error(db->driver, db->handle, rv), key);
        return NULL;
    }
    /* read every row (the driver needs it), keep a uniform random one */
    while (apr_dbd_get_row(db->driver, r->pool, res, &row, -1) == 0) {
        /* SQL NULL is no value: datum_get tells it apart from "" for
         * every driver (get_entry gives "" for NULL with pgsql) */
        const char *v = NULL;
        apr_status_t st = apr_dbd_datum_get(db->driver, row, 0,
                                            APR_DBD_TYPE_STRING, &v);
        if (st == APR_ENOTIMPL)
            v = apr_dbd_get_entry(db->driver, row, 0);
        else if (st != APR_SUCCESS)
            v = NULL;
        if (v && n == 1)
            mlog(l, 3, "Multiple values found for %s", key);
        if (v && random_below(++n) == 0)
            val = apr_pstrdup(r->pool, v);
    }
    return val;
}

static const char *dbd_lookup(const mlog_t *l, const rw_map_t *map,
                              const char *key)
{
    const dbd_map_t *d = map->priv;
    const char *val;

    if (d->cache) {
        val = cache_get(d->cache, 0, key, l->r->pool);
        if (val) {
            mlog(l, 5, "cache lookup OK: map=%s[SQL] key=%s, val=%s",
                 map->name, key, val);
            return *val ? val : NULL;
        }
        mlog(l, 6, "cache lookup FAILED, forcing new map lookup");
    }
    val = dbd_query(l, d, key, map->name);
    if (d->cache)
        cache_put(d->cache, 0, key, val ? val : "");
    if (val) {
        mlog(l, 5, "SQL map lookup OK: map %s key=%s, val=%s", map->name,
             key, val);
        return val;
    }
    mlog(l, 5, "SQL map lookup FAILED: map %s key=%s", map->name, key);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The table of types                                                   */

typedef const char *(traced_lookup_t)(const mlog_t *l, const rw_map_t *map,
                                      const char *key);

static const char *plain_lookup(request_rec *r, const rw_map_t *map,
                                const char *key);

static const rw_map_type_t map_types[] = {
    { "txt", file_configure, plain_lookup },
    { "rnd", file_configure, plain_lookup },
    { "int", int_configure, plain_lookup },
    { "dbm", dbm_configure, plain_lookup },
    { "prg", prg_configure, plain_lookup },
    { "dbd", dbd_configure, plain_lookup },
    { "fastdbd", dbd_configure, plain_lookup },
};

/* Same order as map_types. */
static traced_lookup_t *const traced[] = {
    txt_lookup, rnd_lookup, int_lookup, dbm_lookup, prg_lookup, dbd_lookup,
    dbd_lookup,
};

const rw_map_type_t *rw_map_type_find(const char *name)
{
    apr_size_t i;

    for (i = 0; i < sizeof(map_types) / sizeof(map_types[0]); ++i)
        if (!strcmp(map_types[i].name, name))
            return &map_types[i];
    return NULL;
}

const char *rw_map_lookup_log(request_rec *r, const rw_map_t *map,
                              const char *key, rw_map_log_fn *log,
                              void *baton)
{
    mlog_t l;
    apr_size_t i = (apr_size_t)(map->type - map_types);

    if (i >= sizeof(map_types) / sizeof(map_types[0]) || !map->priv)
        return NULL;
    l.r = r;
    l.fn = log;
    l.baton = baton;
    return traced[i](&l, map, key ? key : "");
}

static const char *plain_lookup(request_rec *r, const rw_map_t *map,
                                const char *key)
{
    return rw_map_lookup_log(r, map, key, NULL, NULL);
}

const char *rw_map_lookup(request_rec *r, const rw_map_t *map,
                          const char *key)
{
    return rw_map_lookup_log(r, map, key, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Server start and child start                                        */

int rw_map_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;
    apr_shm_t *shm;
    prg_shared_t *sh;
    apr_status_t rv;
    int i, n = 0;

    (void)plog;
    /* the first pass only checks the configuration */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    /* txt and rnd files are indexed once, for every child; programs are
     * started only for maps of a server (or virtual host) whose
     * RewriteEngine is on, inherited maps included */
    for (v = s; v; v = v->next) {
        rw_server_conf_t *sc = ap_get_module_config(v->module_config,
                                                    &rewrite_module);
        apr_hash_index_t *hi;
        if (!sc || !sc->maps)
            continue;
        for (hi = apr_hash_first(ptemp, sc->maps); hi; hi = apr_hash_next(hi)) {
            rw_map_t *m = apr_hash_this_val(hi);
            if (!m->priv)
                continue;
            if (m->type == rw_map_type_find("txt") ||
                m->type == rw_map_type_find("rnd"))
                txt_share(m->priv, pconf, ptemp);
            else if (m->type == rw_map_type_find("prg") && sc->state == 1)
                ((prg_map_t *)m->priv)->engine_seen = 1;
        }
    }
#ifdef __GLIBC__
    /* hand the heap indexing freed back to the system: the children
     * would otherwise each inherit it, resident, in their RSS */
    malloc_trim(0);
#endif
    if (!prg_maps || !prg_maps->nelts)
        return OK;
    for (i = 0; i < prg_maps->nelts; ++i) {
        prg_map_t *pm = APR_ARRAY_IDX(prg_maps, i, prg_map_t *);
        if (pm->engine_seen && pm->prog)
            ++n;
    }
    if (!n)
        return OK;
    rv = apr_shm_create(&shm, sizeof(prg_shared_t) * (apr_size_t)n, NULL,
                        pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "mod_rewrite: cannot create shared memory for "
                     "RewriteMap programs");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    sh = apr_shm_baseaddr_get(shm);
    memset(sh, 0, sizeof(prg_shared_t) * (apr_size_t)n);
    /* at a restart the programs go away with pconf, but processes of the
     * old generation may still look up: they must see them dead at once
     * (registered after the segment, so it runs before its removal) */
    prg_shared_n = n;
    apr_pool_cleanup_register(pconf, sh, prg_mark_dead,
                              apr_pool_cleanup_null);
    n = 0;
    for (i = 0; i < prg_maps->nelts; ++i) {
        prg_map_t *pm = APR_ARRAY_IDX(prg_maps, i, prg_map_t *);
        if (!pm->engine_seen || !pm->prog || pm->started)
            continue;
        rv = prg_start(pm, pconf, s, &sh[n], n);
        ++n;
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(00654)
                         "mod_rewrite: could not start RewriteMap program %s",
                         pm->prog);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

void rw_map_child_init(apr_pool_t *p, server_rec *s)
{
    int i;

    if (!prg_maps)
        return;
    for (i = 0; i < prg_maps->nelts; ++i) {
        prg_map_t *pm = APR_ARRAY_IDX(prg_maps, i, prg_map_t *);
        apr_status_t rv;
        if (!pm->started || !pm->mutex)
            continue;
        rv = apr_global_mutex_child_init(&pm->mutex, pm->mutex_file, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(00666)
                         "mod_rewrite: could not init rewrite_mapr_lock_acquire"
                         " in child");
            pm->mutex = NULL;
        }
    }
}
