/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The dbd and fastdbd map back ends: an SQL SELECT through mod_dbd,
 * prepared under the map's name; the value is the first column of a
 * random row.  fastdbd caches every answer (misses too) for the life of
 * the process.
 */
#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_dbd.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_dbd.h"

#include "rewrite.h"
#include "rewrite_map_backend.h"

APLOG_USE_MODULE(rewrite);

typedef struct {
    const char *label;      /* prepared statement's label: the map name */
    rw_map_cache_t *cache;  /* fastdbd only */
} dbd_map_t;

/* mod_dbd's optional functions, resolved at config time. */
static ap_dbd_t *(*dbd_acquire_fn)(request_rec *);
static void (*dbd_prepare_fn)(server_rec *, const char *, const char *);

static const char *dbd_setup(cmd_parms *cmd, rw_map_t *map, const char *src,
                             int cached)
{
    dbd_map_t *d = apr_pcalloc(cmd->pool, sizeof(*d));

    if (!dbd_acquire_fn || !dbd_prepare_fn) {
        dbd_acquire_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
        dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    }
    if (!dbd_acquire_fn || !dbd_prepare_fn)
        return "RewriteMap types dbd and fastdbd require mod_dbd!";
    d->label = map->name;
    if (cached && !(d->cache = rw_map_cache_make(cmd->pool)))
        return "RewriteMap: out of memory";
    dbd_prepare_fn(cmd->server, src, d->label);
    map->priv = d;
    return NULL;
}

static const char *dbd_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *suffix, const char *src,
                                 const char *opt)
{
    return dbd_setup(cmd, map, src, 0);
}

static const char *fastdbd_configure(cmd_parms *cmd, rw_map_t *map,
                                     const char *suffix, const char *src,
                                     const char *opt)
{
    return dbd_setup(cmd, map, src, 1);
}

/* First column of a random row (NULL values skipped); NULL if none. */
static const char *dbd_query(const rw_map_call_t *c, const dbd_map_t *d,
                             const char *key, const char *mapname)
{
    request_rec *r = c->r;
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
            rw_map_trace(c, 3, "Multiple values found for %s", key);
        if (v && rw_map_random_below(++n) == 0)
            val = apr_pstrdup(r->pool, v);
    }
    return val;
}

static const char *dbd_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    const dbd_map_t *d = map->priv;
    const char *val;

    if (d->cache) {
        val = rw_map_cache_get(d->cache, 0, key, c->r->pool);
        if (val) {
            rw_map_trace(c, 5, "cache lookup OK: map=%s[SQL] key=%s, val=%s",
                         map->name, key, val);
            return *val ? val : NULL;
        }
        rw_map_trace(c, 6, "cache lookup FAILED, forcing new map lookup");
    }
    val = dbd_query(c, d, key, map->name);
    if (d->cache)
        rw_map_cache_put(d->cache, 0, key, val ? val : "");
    if (val) {
        rw_map_trace(c, 5, "SQL map lookup OK: map %s key=%s, val=%s",
                     map->name, key, val);
        return val;
    }
    rw_map_trace(c, 5, "SQL map lookup FAILED: map %s key=%s", map->name,
                 key);
    return NULL;
}

const rw_map_backend_t rw_map_dbd = {
    .name = "dbd", .configure = dbd_configure, .lookup = dbd_lookup,
};

const rw_map_backend_t rw_map_fastdbd = {
    .name = "fastdbd", .configure = fastdbd_configure, .lookup = dbd_lookup,
};
