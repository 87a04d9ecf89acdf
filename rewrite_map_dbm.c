/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The dbm map back end: any DBM type APR-util offers, named after '='
 * ("dbm=sdbm:/path"; plain "dbm:" is APR's default type).  Cached per
 * process like txt maps, until the newest of the DBM's files changes.
 */
#include "apr_strings.h"
#include "apr_file_info.h"
#include "apr_dbm.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "rewrite.h"
#include "rewrite_map_backend.h"

APLOG_USE_MODULE(rewrite);

typedef struct {
    const char *type;       /* APR dbm type name ("default", "sdbm", ...) */
    const char *path;
    const char *file1, *file2; /* the files it consists of (file2 or NULL) */
    rw_map_cache_t *cache;
} dbm_map_t;

static const char *dbm_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *suffix, const char *src,
                                 const char *opt)
{
    dbm_map_t *d = apr_pcalloc(cmd->pool, sizeof(*d));
    apr_finfo_t fi;

    d->type = suffix ? suffix : "default";
    d->path = ap_server_root_relative(cmd->pool, src);
    if (!d->path)
        return rw_map_not_found(cmd, map, src);
    if (apr_dbm_get_usednames_ex(cmd->pool, d->type, d->path, &d->file1,
                                 &d->file2) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "RewriteMap: dbm type ", d->type,
                           " is invalid", NULL);
    if (apr_stat(&fi, d->file1, APR_FINFO_MIN, cmd->temp_pool)
        != APR_SUCCESS)
        return rw_map_not_found(cmd, map, d->file1);
    if (!(d->cache = rw_map_cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    map->priv = d;
    return NULL;
}

static const char *dbm_fetch(request_rec *r, const rw_map_t *map,
                             const char *key)
{
    const dbm_map_t *d = map->priv;
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
    k.dsize = strlen(key);
    k.dptr = apr_pstrmemdup(r->pool, key, k.dsize);   /* not const */
    if (apr_dbm_fetch(db, k, &v) == APR_SUCCESS && v.dptr)
        val = apr_pstrmemdup(r->pool, v.dptr, v.dsize);
    apr_dbm_close(db);
    return val;
}

/* The cache is valid for the newest mtime of the DBM's files. */
static const char *dbm_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    const dbm_map_t *d = map->priv;
    const char *const files[2] = { d->file1, d->file2 };
    apr_time_t mtime = 0;
    int i;

    /* the files' mtime, once per request */
    if (rw_map_memo_get(c, map, &mtime))
        return rw_map_cached_lookup(c, map, "dbm", d->cache, mtime, key,
                                    dbm_fetch);
    for (i = 0; i < 2 && files[i]; ++i) {
        apr_finfo_t fi;
        apr_status_t rv = apr_stat(&fi, files[i], APR_FINFO_MTIME,
                                   c->r->pool);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, c->r, "%s"
                          "mod_rewrite: can't access DBM RewriteMap file %s",
                          i ? APLOGNO(00663) : APLOGNO(00662), files[i]);
            return NULL;
        }
        if (!i || fi.mtime > mtime)
            mtime = fi.mtime;
    }
    rw_map_memo_set(c, map, mtime);
    return rw_map_cached_lookup(c, map, "dbm", d->cache, mtime, key,
                                dbm_fetch);
}

const rw_map_backend_t rw_map_dbm = {
    .name = "dbm", .takes_suffix = 1,
    .configure = dbm_configure, .lookup = dbm_lookup,
};
