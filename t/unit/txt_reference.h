/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The reference reading of a txt map file, straight from the rules the
 * stock module follows, against which the index (rewrite_txtindex.c) is
 * checked by the unit tests and by fuzz/fuzz_txtmap.c.
 */
#ifndef RW_TXT_REFERENCE_H
#define RW_TXT_REFERENCE_H

#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "rewrite_txtindex.h"

static int ref_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* Every entry of buf[0..n), read piece by piece, as key -> value (the
 * first piece of a key wins); *entries counts the pieces holding one. */
static apr_hash_t *txt_reference_table(apr_pool_t *p, const char *buf,
                                       apr_size_t n, apr_size_t *entries)
{
    apr_hash_t *h = apr_hash_make(p);
    apr_size_t pos = 0;

    *entries = 0;
    while (pos < n) {
        apr_size_t end = pos, lim = pos + RW_TXT_PIECE_MAX, ke, vs, ve;
        if (lim > n)
            lim = n;
        while (end < lim && buf[end] != '\n')
            ++end;
        if (end < lim)
            ++end;
        if (buf[pos] != '#' && buf[pos] && !ref_space(buf[pos])) {
            for (ke = pos; ke < end && buf[ke] && !ref_space(buf[ke]); ++ke)
                ;
            for (vs = ke; vs < end && buf[vs] && ref_space(buf[vs]); ++vs)
                ;
            for (ve = vs; ve < end && buf[ve] && !ref_space(buf[ve]); ++ve)
                ;
            if (ve > vs) {
                ++*entries;
                if (!apr_hash_get(h, buf + pos, ke - pos))
                    apr_hash_set(h, apr_pstrmemdup(p, buf + pos, ke - pos),
                                 ke - pos,
                                 apr_pstrmemdup(p, buf + vs, ve - vs));
            }
        }
        pos = end;
    }
    return h;
}

/* The value of key in buf[0..n) (NULL when none). */
static inline const char *txt_reference(apr_pool_t *p, const char *buf,
                                        apr_size_t n, const char *key)
{
    apr_size_t entries;

    return apr_hash_get(txt_reference_table(p, buf, n, &entries), key,
                        APR_HASH_KEY_STRING);
}

#endif
