/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Makes APR pool allocations visible to AddressSanitizer.
 *
 * An APR pool hands out pieces of large blocks, so reading or writing a
 * few bytes past a pool string lands in the next piece and ASan sees
 * nothing.  The fuzz binaries therefore interpose apr_palloc and
 * apr_pcalloc (libapr calls them through its PLT too, so apr_pstrdup,
 * apr_pstrcat, arrays, tables and hashes are covered): every allocation
 * is a malloc() of its own, freed by a cleanup on the pool.  Pool
 * lifetimes are unchanged; overflows and use-after-clear become ASan
 * reports.
 *
 * LeakSanitizer is told to ignore these chunks (see guarded()); leaks
 * of plain malloc() memory, e.g. PCRE2's, are still reported.
 *
 * Not covered: apr_psprintf/apr_pvsprintf, which write into the pool's
 * block directly.  FUZZ_POOL_GUARD=0 in the environment turns the guard
 * off (plain pools), e.g. to tell a guard artefact from a real bug.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_pools.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define FZ_LSAN_IGNORE(m) __lsan_ignore_object(m)
#endif
#endif
#ifndef FZ_LSAN_IGNORE
#define FZ_LSAN_IGNORE(m) ((void)(m))
#endif

#undef apr_pcalloc

typedef void *(palloc_fn)(apr_pool_t *, apr_size_t);

static palloc_fn *real_palloc;
static int guard = -1;      /* -1: not decided yet */
static int in_guard;        /* the cleanup's own node comes from the pool */

static apr_status_t free_chunk(void *m)
{
    free(m);
    return APR_SUCCESS;
}

static void *guarded(apr_pool_t *p, apr_size_t n)
{
    void *m;

    if (!real_palloc) {
        real_palloc = (palloc_fn *)dlsym(RTLD_NEXT, "apr_palloc");
        if (!real_palloc) {
            fprintf(stderr, "pool_guard: apr_palloc not found\n");
            abort();
        }
    }
    if (guard < 0) {
        const char *e = getenv("FUZZ_POOL_GUARD");
        guard = !(e && *e == '0');
    }
    if (!guard || in_guard)
        return real_palloc(p, n);
    m = malloc(n);      /* ASan: even 0 bytes is a chunk of its own */
    if (!m && !(m = malloc(1)))
        return NULL;
    /* Only the pool's cleanup list points at m, and this APR keeps its
     * pools in mmap()ed blocks that LeakSanitizer does not scan: without
     * this every chunk of a long-lived pool would be reported as a leak.
     * The cleanup frees it when the pool goes, so it cannot leak. */
    FZ_LSAN_IGNORE(m);
    in_guard = 1;
    apr_pool_cleanup_register(p, m, free_chunk, apr_pool_cleanup_null);
    in_guard = 0;
    return m;
}

APR_DECLARE(void *) apr_palloc(apr_pool_t *p, apr_size_t n)
{
    return guarded(p, n);
}

APR_DECLARE(void *) apr_pcalloc(apr_pool_t *p, apr_size_t n)
{
    void *m = guarded(p, n);
    if (m)
        memset(m, 0, n);
    return m;
}
