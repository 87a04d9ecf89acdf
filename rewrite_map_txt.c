/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The txt and rnd map back ends: text files of "key value" lines
 * (rnd: the value is '|'-separated choices, one taken at random).
 *
 * Like the stock module, looked-up keys (and misses) are cached per
 * process until the file's mtime changes, and a key not in the cache is
 * read from the file as it is now.  Instead of scanning the file for
 * every such key, the file is indexed (rewrite_txtindex.c: 8 bytes a
 * line) and just the key's line is read.  The parent indexes the file at
 * start-up into memory its children share; a child that finds the file
 * changed since (mtime, ctime, size or inode) indexes it again for
 * itself.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_file_info.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include <errno.h>

#include "rewrite.h"
#include "rewrite_map_backend.h"
#include "rewrite_txtindex.h"

APLOG_USE_MODULE(rewrite);

typedef struct {
    apr_time_t mtime, ctime;
    apr_off_t size;
    apr_ino_t inode;
} file_id_t;

typedef struct {
    const char *path;
    rw_map_cache_t *cache;  /* looked-up keys, valid for one mtime */
    /* made by the parent, read-only in the children */
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

#define FILE_ID_WANTED \
    (APR_FINFO_MTIME | APR_FINFO_CTIME | APR_FINFO_SIZE | APR_FINFO_INODE)

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

static const char *txt_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *suffix, const char *src,
                                 const char *opt)
{
    txt_map_t *t = apr_pcalloc(cmd->pool, sizeof(*t));
    apr_finfo_t fi;

    t->path = ap_server_root_relative(cmd->pool, src);
    if (!t->path)
        return rw_map_not_found(cmd, map, src);
    if (apr_stat(&fi, t->path, APR_FINFO_MIN, cmd->temp_pool) != APR_SUCCESS)
        return rw_map_not_found(cmd, map, t->path);
    if (apr_thread_mutex_create(&t->lock, APR_THREAD_MUTEX_DEFAULT,
                                cmd->pool) != APR_SUCCESS ||
        !(t->pool = rw_map_private_pool(cmd->pool)) ||
        !(t->cache = rw_map_cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    map->priv = t;
    return NULL;
}

/* post_config, in the parent: the index the children share.  A file
 * the parent cannot read is left to the children (they log why). */
static int txt_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                           server_rec *s, rw_map_t *const *maps, int nmaps)
{
    int i;

    for (i = 0; i < nmaps; ++i) {
        txt_map_t *t = maps[i]->priv;
        apr_file_t *f;
        apr_finfo_t fi;
        apr_status_t rv;

        if (apr_file_open(&f, t->path, APR_READ, APR_OS_DEFAULT, ptemp)
            != APR_SUCCESS)
            continue;
        rv = apr_file_info_get(&fi, FILE_ID_WANTED, f);
        if ((rv == APR_SUCCESS || APR_STATUS_IS_INCOMPLETE(rv)) &&
            rw_txtindex_build_shared(&t->shared, f, pconf) == APR_SUCCESS) {
            file_id_set(&t->shared_id, &fi);
            t->shared_ok = 1;
        }
        apr_file_close(f);
    }
    return OK;
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

static const char *txt_fetch(request_rec *r, const rw_map_t *map,
                             const char *key)
{
    txt_map_t *t = map->priv;
    const char *val;
    apr_status_t rv = txt_find(t, key, r->pool, &val);

    if (rv == APR_FROM_OS_ERROR(EFBIG))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      RWLOGNO(00002) "mod_rewrite: text RewriteMap file %s has entries "
                      "past 4 GiB: not read", t->path);
    else if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00655)
                      "mod_rewrite: can't open text RewriteMap file %s",
                      t->path);
    return val;
}

/* Value of key in a txt file map, with the stock module's trace ("txt"
 * also for rnd maps); NULL when absent. */
static const char *txt_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    txt_map_t *t = map->priv;
    apr_time_t mtime;

    /* the file's mtime, once per request */
    if (!rw_map_memo_get(c, map, &mtime)) {
        apr_finfo_t fi;
        apr_status_t rv = apr_stat(&fi, t->path, APR_FINFO_MTIME, c->r->pool);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_INCOMPLETE(rv)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, c->r, APLOGNO(00661)
                          "mod_rewrite: can't access text RewriteMap file %s",
                          t->path);
            return NULL;
        }
        mtime = fi.mtime;
        rw_map_memo_set(c, map, mtime);
    }
    return rw_map_cached_lookup(c, map, "txt", t->cache, mtime, key,
                                txt_fetch);
}

/* One of the '|'-separated choices, empty ones included (an empty choice
 * means no value). */
static const char *rnd_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    const char *val = txt_lookup(c, map, key), *s, *e;
    unsigned n = 1, pick;

    if (!val || !strchr(val, '|'))
        return val;
    for (s = val; *s; ++s)
        n += *s == '|';
    pick = rw_map_random_below(n);
    for (s = val; pick; --pick)
        s = strchr(s, '|') + 1;
    e = strchr(s, '|');
    if (e == s || !*s)
        return NULL;
    return e ? apr_pstrmemdup(c->r->pool, s, (apr_size_t)(e - s)) : s;
}

const rw_map_backend_t rw_map_txt = {
    .name = "txt", .configure = txt_configure,
    .post_config = txt_post_config, .lookup = txt_lookup,
};

const rw_map_backend_t rw_map_rnd = {
    .name = "rnd", .configure = txt_configure,
    .post_config = txt_post_config, .lookup = rnd_lookup,
};
