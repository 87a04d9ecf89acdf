/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * httpd symbols that the map files reference but t/unit/stubs.c does
 * not (yet) define.  They are weak: if stubs.c gains its own versions,
 * those win and the fuzz build still links.  None of them is reached
 * by the fuzz targets except ap_hook_monitor and ap_mutex_register
 * (from rw_map_pre_config, which registers the int: functions) and
 * ap_set_content_type_ex ([T=] in directory context).
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "util_mutex.h"

#define FZ_WEAK __attribute__((weak))

FZ_WEAK AP_DECLARE(void) ap_hook_monitor(ap_HOOK_monitor_t *pf,
                                         const char * const *aszPre,
                                         const char * const *aszSucc,
                                         int nOrder)
{
    (void)pf; (void)aszPre; (void)aszSucc; (void)nOrder;
}

FZ_WEAK AP_DECLARE(apr_status_t) ap_mutex_register(apr_pool_t *pconf,
                                                   const char *type,
                                                   const char *default_dir,
                                                   apr_lockmech_e mech,
                                                   apr_int32_t options)
{
    (void)pconf; (void)type; (void)default_dir; (void)mech; (void)options;
    return APR_SUCCESS;
}

FZ_WEAK AP_DECLARE(apr_status_t) ap_global_mutex_create(
    apr_global_mutex_t **mutex, const char **name, const char *type,
    const char *instance_id, server_rec *server, apr_pool_t *pool,
    apr_int32_t options)
{
    (void)name; (void)type; (void)instance_id; (void)server; (void)pool;
    (void)options;
    *mutex = NULL;
    return APR_ENOTIMPL;
}

FZ_WEAK AP_DECLARE(apr_status_t) ap_mpm_query(int query_code, int *result)
{
    (void)query_code;
    *result = 0;
    return APR_ENOTIMPL;
}

/* "Checking the configuration": rw_map_post_config starts nothing. */
FZ_WEAK AP_DECLARE(int) ap_state_query(int query_code)
{
    (void)query_code;
    return AP_SQ_MS_CREATE_PRE_CONFIG;
}

FZ_WEAK AP_DECLARE(void) ap_set_content_type_ex(request_rec *r,
                                                const char *ct, int trusted)
{
    (void)trusted;
    r->content_type = ct;
}
