/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Shared by the fuzz targets: APR start-up, splitting an input into
 * pieces, and a fake server/connection/request good enough for the
 * module's request-time code (the same ground as t/unit/test_exec.c).
 *
 * Input layout used by every target ("header, then pieces"):
 *   - a few mode bytes, read with fz_byte();
 *   - k-1 length bytes L1..Lk-1, then piece 1 (L1 bytes), piece 2 (L2
 *     bytes), ..., and piece k = everything left.
 * A piece is copied into the pool with a terminating NUL (an embedded
 * NUL simply ends the C string early).  Short inputs give short or
 * empty pieces; every byte string is a valid input.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_network_io.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

typedef struct {
    const uint8_t *d;
    size_t n;
} fz_input_t;

/* The next byte, 0 once the input is used up. */
static inline unsigned fz_byte(fz_input_t *in)
{
    if (!in->n)
        return 0;
    --in->n;
    return *in->d++;
}

/* Splits the rest of in into k pieces (see above) into out[0..k-1]. */
static inline void fz_split(apr_pool_t *p, fz_input_t *in, int k, char **out)
{
    size_t len[16];
    int i;

    for (i = 0; i < k - 1 && i < 16; ++i)
        len[i] = fz_byte(in);
    for (i = 0; i < k; ++i) {
        size_t n = i < k - 1 ? len[i] : in->n;
        if (n > in->n)
            n = in->n;
        out[i] = apr_pstrmemdup(p, (const char *)in->d, n);
        in->d += n;
        in->n -= n;
    }
}

/* Process-wide state: APR, a pool that lives as long as the process. */
static apr_pool_t *fz_global;

static inline void fz_init(void)
{
    if (fz_global)
        return;
    apr_initialize();
    if (apr_pool_create(&fz_global, NULL) != APR_SUCCESS)
        abort();
}

/* A module-config vector with room for rewrite_module (index 0 in the
 * stubbed build) and a few more. */
static inline struct ap_conf_vector_t *fz_conf_vector(apr_pool_t *p)
{
    return apr_pcalloc(p, 8 * sizeof(void *));
}

/* A server on http://localhost:80 with log level `level` (APLOG_WARNING
 * skips every trace line; APLOG_TRACE8 formats all of them). */
static inline server_rec *fz_server(apr_pool_t *p, int level)
{
    server_rec *s = apr_pcalloc(p, sizeof(*s));

    s->log.level = level;
    s->server_hostname = "localhost";
    s->server_admin = "admin@localhost";
    s->port = 80;
    s->module_config = fz_conf_vector(p);
    s->lookup_defaults = fz_conf_vector(p);
    return s;
}

/* A GET request for uri?args on s (args may be NULL). */
static inline request_rec *fz_request(apr_pool_t *p, server_rec *s,
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
    r->per_dir_config = fz_conf_vector(p);
    r->request_config = fz_conf_vector(p);
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

#endif /* FUZZ_COMMON_H */
