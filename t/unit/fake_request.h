/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * A fake server, connection and request good enough for the module's
 * request-time code, for the unit tests (t/unit/test_exec.c) and the
 * fuzz targets (fuzz/fuzz_common.h).
 */
#ifndef RW_FAKE_REQUEST_H
#define RW_FAKE_REQUEST_H

#include <stdlib.h>

#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_network_io.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

/* A module-config vector with room for rewrite_module (index 0 in the
 * stubbed build) and a few more. */
static inline struct ap_conf_vector_t *unit_conf_vector(apr_pool_t *p)
{
    return apr_pcalloc(p, 8 * sizeof(void *));
}

/* A server on http://localhost:80 with log level `level` (APLOG_WARNING
 * skips every trace line; APLOG_TRACE8 formats all of them). */
static inline server_rec *unit_server(apr_pool_t *p, int level)
{
    server_rec *s = apr_pcalloc(p, sizeof(*s));

    s->log.level = level;
    s->server_hostname = "localhost";
    s->server_admin = "admin@localhost";
    s->port = 80;
    s->module_config = unit_conf_vector(p);
    s->lookup_defaults = unit_conf_vector(p);
    return s;
}

/* A GET request for uri?args on s (args may be NULL). */
static inline request_rec *unit_request(apr_pool_t *p, server_rec *s,
                                      const char *uri, const char *args)
{
    conn_rec *c = apr_pcalloc(p, sizeof(*c));
    request_rec *r = apr_pcalloc(p, sizeof(*r));
    apr_sockaddr_t *sa = NULL;

    if (apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 54321, 0, p)
        != APR_SUCCESS)
        abort();
    c->base_server = s;
    c->pool = p;
    c->client_ip = "127.0.0.1";
    c->local_ip = "127.0.0.1";
    c->client_addr = sa;
    c->local_addr = sa;
    r->pool = p;
    r->server = s;
    r->connection = c;
    r->log = &s->log;
    r->per_dir_config = unit_conf_vector(p);
    r->request_config = unit_conf_vector(p);
    r->headers_in = apr_table_make(p, 4);
    r->headers_out = apr_table_make(p, 4);
    r->err_headers_out = apr_table_make(p, 4);
    r->notes = apr_table_make(p, 4);
    r->subprocess_env = apr_table_make(p, 4);
    r->method = "GET";
    r->method_number = M_GET;
    r->protocol = "HTTP/1.1";
    r->hostname = "localhost";
    r->useragent_ip = "127.0.0.1";
    r->useragent_addr = sa;
    r->request_time = apr_time_from_sec(1700000000);
    r->uri = apr_pstrdup(p, uri);
    r->unparsed_uri = r->uri;
    r->filename = apr_pstrdup(p, uri);
    r->args = args ? apr_pstrdup(p, args) : NULL;
    r->the_request = apr_psprintf(p, "GET %s%s%s HTTP/1.1", uri,
                                  args ? "?" : "", args ? args : "");
    return r;
}

#endif /* RW_FAKE_REQUEST_H */
