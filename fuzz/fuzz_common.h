/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Shared by the fuzz targets: APR start-up, splitting an input into
 * pieces, and the fake server/connection/request of
 * t/unit/fake_request.h.
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

#include "fake_request.h"

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

/* The fake server and request (shared with the unit tests). */
#define fz_conf_vector unit_conf_vector
#define fz_server      unit_server
#define fz_request     unit_request

#endif /* FUZZ_COMMON_H */
