/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The int map back end: the built-in functions (toupper, tolower,
 * escape, unescape) and those other modules register through
 * ap_register_rewrite_mapfunc (include/mod_rewrite.h).
 */
#include "apr_strings.h"
#include "apr_lib.h"
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "rewrite.h"
#include "rewrite_map_backend.h"

APLOG_USE_MODULE(rewrite);

/* A registered function (the value of int_funcs), and an int map's
 * priv: the function it calls. */
typedef struct {
    rewrite_mapfunc_t *fn;
} int_func_t;

/* Written and read at config time only (single-threaded).  It lives
 * until the end of the configuration cycle that filled it, so modules
 * may register from register_hooks or pre_config, before or after
 * ours.  A plain malloc'd array: a pool of its own would put a whole
 * 8 KiB block into every process for a handful of names. */
typedef struct {
    char *name;
    int_func_t f;
} int_entry_t;

static int_entry_t *int_funcs;
static int n_funcs, max_funcs;

static apr_status_t int_funcs_reset(void *unused)
{
    int i;

    for (i = 0; i < n_funcs; ++i)
        free(int_funcs[i].name);
    free(int_funcs);
    int_funcs = NULL;
    n_funcs = max_funcs = 0;
    return APR_SUCCESS;
}

static const int_func_t *int_find(const char *name)
{
    int i;

    for (i = n_funcs - 1; i >= 0; --i)   /* the last registration wins */
        if (!strcmp(int_funcs[i].name, name))
            return &int_funcs[i].f;
    return NULL;
}

static char *fn_toupper(request_rec *r, char *key)
{
    char *c;

    for (c = key; *c; ++c)
        *c = (char)apr_toupper(*c);
    return key;
}

static char *fn_tolower(request_rec *r, char *key)
{
    char *c;

    for (c = key; *c; ++c)
        *c = (char)apr_tolower(*c);
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

void rw_map_register_func(const char *name, rewrite_mapfunc_t *func)
{
    char *copy;

    if (!name || !func)
        return;
    if (n_funcs == max_funcs) {
        int_entry_t *grown = realloc(int_funcs, (size_t)(max_funcs + 8) *
                                                sizeof(*grown));
        if (!grown)
            return;
        int_funcs = grown;
        max_funcs += 8;
    }
    if (!(copy = strdup(name)))
        return;
    int_funcs[n_funcs].name = copy;
    int_funcs[n_funcs].f.fn = func;
    ++n_funcs;
}

static void int_pre_config(apr_pool_t *pconf)
{
    /* (hooks, and so these, are registered anew every cycle) */
    rw_map_register_func("tolower", fn_tolower);
    rw_map_register_func("toupper", fn_toupper);
    rw_map_register_func("escape", fn_escape);
    rw_map_register_func("unescape", fn_unescape);
    apr_pool_cleanup_register(pconf, NULL, int_funcs_reset,
                              apr_pool_cleanup_null);
}

static const char *int_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *suffix, const char *src,
                                 const char *opt)
{
    const int_func_t *f = int_find(src);

    if (!f)
        return apr_pstrcat(cmd->pool, "RewriteMap: internal map not found:",
                           src, NULL);
    map->priv = apr_pmemdup(cmd->pool, f, sizeof(*f));
    return NULL;
}

static const char *int_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    const int_func_t *f = map->priv;
    char *k = apr_pstrdup(c->r->pool, key);
    const char *val = f->fn(c->r, k);

    if (val)
        rw_map_trace(c, 5, "map lookup OK: map=%s key=%s -> val=%s",
                     map->name, k, val);
    else
        rw_map_trace(c, 5, "map lookup FAILED: map=%s key=%s", map->name, k);
    return val;
}

const rw_map_backend_t rw_map_int = {
    .name = "int", .pre_config = int_pre_config,
    .configure = int_configure, .lookup = int_lookup,
};
