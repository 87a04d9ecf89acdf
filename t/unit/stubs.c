/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Stand-ins for the httpd functions the module's sources call, so that
 * the unit binary links without a server.  Pure helpers are given small
 * working versions; request machinery that the tests never reach
 * (sub-requests, internal redirects, ap_expr) fails loudly.
 */
#include <stdio.h>
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_escape.h"
#include "apr_lib.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_vhost.h"
#include "ap_expr.h"
#include "ap_regex.h"

#include "unit.h"

module AP_MODULE_DECLARE_DATA rewrite_module;

/* RegexDefaultOptions; a test may change it around a call. */
int unit_default_cflags = AP_REG_DEFAULT;

/* The last message logged through ap_log_error / ap_log_rerror. */
char unit_last_log[1024];

static void never(const char *fn)
{
    fprintf(stderr, "unit: stub %s() called: not available without a "
            "server\n", fn);
    abort();
}

AP_DECLARE(int) ap_regcomp_get_default_cflags(void)
{
    return unit_default_cflags;
}

AP_DECLARE(void) ap_log_error_(const char *file, int line, int module_index,
                               int level, apr_status_t status,
                               const server_rec *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(unit_last_log, sizeof(unit_last_log), fmt, ap);
    va_end(ap);
}

AP_DECLARE(void) ap_log_rerror_(const char *file, int line, int module_index,
                                int level, apr_status_t status,
                                const request_rec *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(unit_last_log, sizeof(unit_last_log), fmt, ap);
    va_end(ap);
}

AP_DECLARE(char *) ap_escape_logitem(apr_pool_t *p, const char *str)
{
    return apr_pstrdup(p, str ? str : "");
}

int unit_in_htaccess;   /* directives read from an .htaccess */
ap_directive_t *ap_conftree;   /* no configuration tree */

AP_DECLARE(const char *) ap_check_cmd_context(cmd_parms *cmd,
                                              unsigned forbidden)
{
    return unit_in_htaccess && (forbidden & NOT_IN_HTACCESS)
        ? "not allowed in .htaccess" : NULL;
}

AP_DECLARE(ap_expr_info_t *) ap_expr_parse_cmd_mi(const cmd_parms *cmd,
                                                  const char *expr,
                                                  unsigned int flags,
                                                  const char **err,
                                                  ap_expr_lookup_fn_t *fn,
                                                  int module_index)
{
    *err = "ap_expr is not available in the unit tests";
    return NULL;
}

AP_DECLARE(int) ap_expr_exec_ctx(ap_expr_eval_ctx_t *ctx)
{
    never("ap_expr_exec_ctx");
    return -1;
}

AP_DECLARE(char *) ap_server_root_relative(apr_pool_t *p, const char *fname)
{
    return *fname == '/' ? apr_pstrdup(p, fname)
                         : apr_pstrcat(p, "/tmp/", fname, NULL);
}

AP_DECLARE(char *) ap_os_escape_path(apr_pool_t *p, const char *path,
                                     int partial)
{
    return (char *)apr_pescape_path(p, path, partial);
}

AP_DECLARE(int) ap_unescape_url(char *url)
{
    char *o = url;

    for (; *url; ++url) {
        if (*url == '%' && apr_isxdigit(url[1]) && apr_isxdigit(url[2])) {
            char hex[3] = { url[1], url[2], 0 };
            *o++ = (char)strtol(hex, NULL, 16);
            url += 2;
        }
        else
            *o++ = *url;
    }
    *o = '\0';
    return OK;
}

AP_DECLARE(module *) ap_find_linked_module(const char *name)
{
    return NULL;
}

/* ---- the request: a fixed virtual host http://localhost:80 ---- */

AP_DECLARE(const char *) ap_run_http_scheme(const request_rec *r)
{
    return "http";
}

AP_DECLARE(apr_port_t) ap_run_default_port(const request_rec *r)
{
    return 80;
}

AP_DECLARE(const char *) ap_get_server_name(request_rec *r)
{
    return r->hostname ? r->hostname : "localhost";
}

AP_DECLARE(const char *) ap_get_server_name_for_url(request_rec *r)
{
    return ap_get_server_name(r);
}

AP_DECLARE(apr_port_t) ap_get_server_port(const request_rec *r)
{
    return 80;
}

AP_DECLARE(int) ap_matches_request_vhost(request_rec *r, const char *host,
                                         apr_port_t port)
{
    return !strcasecmp(host, ap_get_server_name(r)) && port == 80;
}

AP_DECLARE(const char *) ap_get_server_banner(void)
{
    return "Apache";
}

AP_DECLARE(const char *) ap_document_root(request_rec *r)
{
    return "/var/www/html";
}

AP_DECLARE(const char *) ap_context_document_root(request_rec *r)
{
    return "/var/www/html";
}

AP_DECLARE(const char *) ap_context_prefix(request_rec *r)
{
    return "";
}

AP_DECLARE(const char *) ap_get_useragent_host(request_rec *req, int type,
                                               int *str_is_ip)
{
    if (str_is_ip)
        *str_is_ip = 1;
    return "127.0.0.1";
}

AP_DECLARE(const char *) ap_get_remote_logname(request_rec *r)
{
    return NULL;
}

AP_DECLARE(int) ap_allow_options(request_rec *r)
{
    return OPT_SYM_LINKS;
}

AP_DECLARE(void) ap_set_content_type(request_rec *r, const char *ct)
{
    r->content_type = ct;
}

AP_DECLARE(request_rec *) ap_sub_req_lookup_uri(const char *new_uri,
                                                const request_rec *r,
                                                ap_filter_t *next_filter)
{
    never("ap_sub_req_lookup_uri");
    return NULL;
}

AP_DECLARE(request_rec *) ap_sub_req_lookup_file(const char *new_file,
                                                 const request_rec *r,
                                                 ap_filter_t *next_filter)
{
    never("ap_sub_req_lookup_file");
    return NULL;
}

AP_DECLARE(void) ap_destroy_sub_req(request_rec *r)
{
}

AP_DECLARE(void) ap_internal_redirect(const char *new_uri, request_rec *r)
{
    never("ap_internal_redirect");
}

/* Used by rewrite_map_prg.c and rewrite_exec.c; never reached by
 * the unit tests except where noted. */
#include "util_mutex.h"
#include "ap_mpm.h"
#include "mpm_common.h"

AP_DECLARE(void) ap_set_content_type_ex(request_rec *r, const char *ct,
                                        int trusted)
{
    (void)trusted;
    r->content_type = ct;
}

AP_DECLARE(apr_status_t) ap_mutex_register(apr_pool_t *pconf,
                                           const char *type,
                                           const char *default_dir,
                                           apr_lockmech_e default_mech,
                                           apr_int32_t options)
{
    return APR_SUCCESS;
}

AP_DECLARE(apr_status_t) ap_global_mutex_create(apr_global_mutex_t **mutex,
                                                const char **name,
                                                const char *type,
                                                const char *instance_id,
                                                server_rec *server,
                                                apr_pool_t *pool,
                                                apr_int32_t options)
{
    never("ap_global_mutex_create");
    return APR_ENOTIMPL;
}

AP_DECLARE(int) ap_state_query(int query_code)
{
    return AP_SQ_MS_CREATE_PRE_CONFIG;
}

AP_DECLARE(apr_status_t) ap_mpm_query(int query_code, int *result)
{
    *result = 0;
    return APR_SUCCESS;
}

AP_DECLARE(void) ap_hook_monitor(ap_HOOK_monitor_t *pf,
                                 const char * const *aszPre,
                                 const char * const *aszSucc, int nOrder)
{
}

AP_DECLARE(void) ap_no2slash(char *name)
{
    char *d = name, *s = name;

    for (; *s; ++s)
        if (!(s[0] == '/' && s[1] == '/'))
            *d++ = *s;
    *d = '\0';
}
