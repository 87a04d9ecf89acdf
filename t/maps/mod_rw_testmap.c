/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Test module: registers RewriteMap int: functions through the optional
 * function ap_register_rewrite_mapfunc, as third-party modules do.
 *
 *   apxs -c -o mod_rw_testmap.la mod_rw_testmap.c
 *   LoadModule rw_testmap_module .../mod_rw_testmap.so
 *   RewriteMap rev int:rw_reverse   -> the key reversed
 *   RewriteMap nul int:rw_null      -> no value (the default is used)
 *   RewriteMap emp int:rw_empty     -> an empty value
 *   RewriteMap len int:rw_length    -> the key's length in bytes
 *
 * It registers from its pre_config hook, which may run before or after
 * mod_rewrite's own pre_config.
 */
#include "apr_optional.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"

typedef char *(rewrite_mapfunc_t)(request_rec *r, char *key);
APR_DECLARE_OPTIONAL_FN(void, ap_register_rewrite_mapfunc,
                        (char *name, rewrite_mapfunc_t *func));

static char *rw_reverse(request_rec *r, char *key)
{
    apr_size_t n = strlen(key), i;
    char *out = apr_palloc(r->pool, n + 1);

    for (i = 0; i < n; ++i)
        out[i] = key[n - 1 - i];
    out[n] = '\0';
    return out;
}

static char *rw_null(request_rec *r, char *key)
{
    (void)r;
    (void)key;
    return NULL;
}

static char *rw_empty(request_rec *r, char *key)
{
    (void)key;
    return apr_pstrdup(r->pool, "");
}

static char *rw_length(request_rec *r, char *key)
{
    return apr_psprintf(r->pool, "%" APR_SIZE_T_FMT, strlen(key));
}

static int pre_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp)
{
    APR_OPTIONAL_FN_TYPE(ap_register_rewrite_mapfunc) *reg =
        APR_RETRIEVE_OPTIONAL_FN(ap_register_rewrite_mapfunc);

    (void)p;
    (void)plog;
    (void)ptemp;
    if (reg) {
        reg("rw_reverse", rw_reverse);
        reg("rw_null", rw_null);
        reg("rw_empty", rw_empty);
        reg("rw_length", rw_length);
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    /* APR_HOOK_FIRST: before mod_rewrite's pre_config, the harder case */
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(rw_testmap) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks
};
