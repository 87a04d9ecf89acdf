/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * RewriteMap back ends.  Each type is one rw_map_type_t: a configure
 * function run by the RewriteMap directive and a lookup function run at
 * request time.  A back end keeps its own data behind map->priv.
 */
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_hash.h"
#include "apr_file_io.h"
#include "apr_dbm.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "util_script.h"

#include "rewrite.h"

APLOG_USE_MODULE(rewrite);

/* ------------------------------------------------------------------ */
/* int: built-in functions and those registered by other modules       */

/* Written in pre_config only (single-threaded), read at request time. */
static apr_hash_t *int_funcs;

static char *fn_toupper(request_rec *r, char *key)
{
    char *s = apr_pstrdup(r->pool, key), *c;
    for (c = s; *c; ++c)
        *c = apr_toupper(*c);
    return s;
}

static char *fn_tolower(request_rec *r, char *key)
{
    char *s = apr_pstrdup(r->pool, key), *c;
    for (c = s; *c; ++c)
        *c = apr_tolower(*c);
    return s;
}

static char *fn_escape(request_rec *r, char *key)
{
    return ap_escape_uri(r->pool, key);
}

static char *fn_unescape(request_rec *r, char *key)
{
    char *s = apr_pstrdup(r->pool, key);
    ap_unescape_url(s);
    return s;
}

void rw_map_pre_config(apr_pool_t *p)
{
    int_funcs = apr_hash_make(p);
    rw_map_register_func("tolower", fn_tolower);
    rw_map_register_func("toupper", fn_toupper);
    rw_map_register_func("escape", fn_escape);
    rw_map_register_func("unescape", fn_unescape);
}

void rw_map_register_func(char *name, rewrite_mapfunc_t *func)
{
    if (int_funcs)
        apr_hash_set(int_funcs, name, APR_HASH_KEY_STRING, (void *)func);
}

static const char *int_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *src, const char *opt)
{
    (void)opt;
    if (!int_funcs || !apr_hash_get(int_funcs, src, APR_HASH_KEY_STRING))
        return apr_pstrcat(cmd->pool, "RewriteMap: internal map not found:",
                           src, NULL);
    map->source = src;
    map->priv = apr_hash_get(int_funcs, src, APR_HASH_KEY_STRING);
    return NULL;
}

static const char *int_lookup(request_rec *r, const rw_map_t *map,
                              const char *key)
{
    rewrite_mapfunc_t *fn = (rewrite_mapfunc_t *)map->priv;
    return fn(r, apr_pstrdup(r->pool, key));
}

/* ------------------------------------------------------------------ */
/* txt and rnd: text files, cached per process, reloaded on change     */

typedef struct {
    const char *path;
    apr_thread_mutex_t *lock;  /* guards the fields below */
    apr_pool_t *pool;          /* holds table; replaced on reload */
    apr_hash_t *table;         /* key -> first value */
    apr_time_t mtime;          /* of the file when table was read */
} txt_map_t;

static const char *file_configure(cmd_parms *cmd, rw_map_t *map,
                                  const char *src, const char *opt)
{
    txt_map_t *t = apr_pcalloc(cmd->pool, sizeof(*t));
    apr_finfo_t fi;

    (void)opt;
    t->path = ap_server_root_relative(cmd->pool, src);
    if (!t->path || apr_stat(&fi, t->path, APR_FINFO_MIN, cmd->temp_pool)
                    != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "RewriteMap: file for map ", map->name,
                           " not found:", t->path ? t->path : src, NULL);
    apr_thread_mutex_create(&t->lock, APR_THREAD_MUTEX_DEFAULT, cmd->pool);
    map->source = t->path;
    map->priv = t;
    return NULL;
}

/* Reads "key value" lines; '#' starts a comment line. */
static apr_hash_t *read_txt(apr_pool_t *p, const char *path)
{
    apr_file_t *f;
    apr_hash_t *h;
    char line[8192];

    if (apr_file_open(&f, path, APR_READ | APR_BUFFERED, APR_OS_DEFAULT, p)
        != APR_SUCCESS)
        return NULL;
    h = apr_hash_make(p);
    while (apr_file_gets(line, sizeof(line), f) == APR_SUCCESS) {
        char *k = line, *ke, *v, *ve;
        while (apr_isspace(*k))
            ++k;
        if (*k == '#' || !*k)
            continue;
        for (ke = k; *ke && !apr_isspace(*ke); ++ke)
            ;
        for (v = ke; *v && apr_isspace(*v); ++v)
            ;
        for (ve = v; *ve && !apr_isspace(*ve); ++ve)
            ;
        if (ve == v)
            continue;
        k = apr_pstrmemdup(p, k, ke - k);
        if (!apr_hash_get(h, k, APR_HASH_KEY_STRING))
            apr_hash_set(h, k, APR_HASH_KEY_STRING,
                         apr_pstrmemdup(p, v, ve - v));
    }
    apr_file_close(f);
    return h;
}

static const char *txt_lookup(request_rec *r, const rw_map_t *map,
                              const char *key)
{
    txt_map_t *t = map->priv;
    apr_finfo_t fi;
    const char *val = NULL;

    if (apr_stat(&fi, t->path, APR_FINFO_MTIME, r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(00661)
                      "mod_rewrite: can't access text RewriteMap file %s",
                      t->path);
        return NULL;
    }
    apr_thread_mutex_lock(t->lock);
    if (!t->table || t->mtime != fi.mtime) {
        apr_pool_t *np;
        apr_hash_t *h;
        apr_pool_create(&np, NULL);
        h = read_txt(np, t->path);
        if (!h) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(00655)
                          "mod_rewrite: can't open text RewriteMap file %s",
                          t->path);
            apr_pool_destroy(np);
        }
        else {
            if (t->pool)
                apr_pool_destroy(t->pool);
            t->pool = np;
            t->table = h;
            t->mtime = fi.mtime;
        }
    }
    if (t->table) {
        val = apr_hash_get(t->table, key, APR_HASH_KEY_STRING);
        if (val)
            val = apr_pstrdup(r->pool, val);
    }
    apr_thread_mutex_unlock(t->lock);
    return val;
}

static const char *rnd_lookup(request_rec *r, const rw_map_t *map,
                              const char *key)
{
    const char *val = txt_lookup(r, map, key);
    char *copy, *tok, *last;
    int n = 0, pick;
    unsigned char rb[4];

    if (!val || !strchr(val, '|'))
        return val;
    copy = apr_pstrdup(r->pool, val);
    for (tok = copy; *tok; ++tok)
        n += *tok == '|';
    ++n;
    if (apr_generate_random_bytes(rb, sizeof(rb)) != APR_SUCCESS)
        rb[0] = rb[1] = rb[2] = rb[3] = 0;
    pick = (int)(((unsigned)rb[0] << 24 | rb[1] << 16 | rb[2] << 8 | rb[3])
                 % (unsigned)n);
    for (tok = apr_strtok(copy, "|", &last); tok && pick > 0;
         tok = apr_strtok(NULL, "|", &last))
        --pick;
    return tok ? tok : "";
}

/* ------------------------------------------------------------------ */
/* Not built yet: refused at config time rather than ignored           */

static const char *todo_configure(cmd_parms *cmd, rw_map_t *map,
                                  const char *src, const char *opt)
{
    (void)src;
    (void)opt;
    return apr_psprintf(cmd->pool, "RewriteMap: map type '%s' of map %s is "
                        "not implemented yet", map->type->name, map->name);
}

static const char *none_lookup(request_rec *r, const rw_map_t *map,
                               const char *key)
{
    (void)r;
    (void)map;
    (void)key;
    return NULL;
}

/* ------------------------------------------------------------------ */

static const rw_map_type_t map_types[] = {
    { "txt", file_configure, txt_lookup },
    { "rnd", file_configure, rnd_lookup },
    { "int", int_configure, int_lookup },
    { "dbm", todo_configure, none_lookup },
    { "prg", todo_configure, none_lookup },
    { "dbd", todo_configure, none_lookup },
    { "fastdbd", todo_configure, none_lookup },
};

int rw_map_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    return OK;
}

void rw_map_child_init(apr_pool_t *p, server_rec *s)
{
}

const rw_map_type_t *rw_map_type_find(const char *name)
{
    apr_size_t i;

    for (i = 0; i < sizeof(map_types) / sizeof(map_types[0]); ++i)
        if (!strcmp(map_types[i].name, name))
            return &map_types[i];
    return NULL;
}

const char *rw_map_lookup(request_rec *r, const rw_map_t *map,
                          const char *key)
{
    return map->type->lookup(r, map, key);
}
