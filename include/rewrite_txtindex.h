/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The index of a txt/rnd map file (rewrite_txtindex.c): one entry per
 * line holding a key, sorted by the key's hash, so a lookup costs a
 * binary search and one read of the line.
 */
#ifndef REWRITE_TXTINDEX_H
#define REWRITE_TXTINDEX_H

#include "apr_file_io.h"
#include "apr_pools.h"

/* The stock module reads map files in pieces of at most this many bytes;
 * a longer line is several pieces. */
#define RW_TXT_PIECE_MAX   1024

/* Offsets are 32-bit: a piece must start below 4 GiB. */
#define RW_TXT_OFFSET_MAX  0xffffffffu

typedef struct {
    apr_uint32_t hash;      /* of the key */
    apr_uint32_t off;       /* where the piece starts in the file */
} rw_txt_entry_t;

/* Entries read at a time from an index in a file (4 KiB). */
#define RW_TXT_WINDOW      512

typedef struct {
    rw_txt_entry_t *ent;    /* sorted by (hash, off); malloc'd (fd < 0) */
    apr_size_t n;
    int fd;                 /* >= 0: the entries are in this file */
} rw_txtindex_t;

/** Reads f from its current position to the end and indexes it; the
 *  entries are freed when p is cleared.  APR_SUCCESS, or the read error
 *  (EFBIG for a file with entries past 4 GiB, ENOMEM) and ix empty. */
apr_status_t rw_txtindex_build(rw_txtindex_t *ix, apr_file_t *f,
                               apr_pool_t *p);

/** Like rw_txtindex_build, with the entries in an in-memory file (memfd,
 *  else an unlinked temporary file) that processes forked afterwards
 *  inherit and read with pread(): in the page cache once, in no
 *  process's RSS; closed when p is cleared. */
apr_status_t rw_txtindex_build_shared(rw_txtindex_t *ix, apr_file_t *f,
                                      apr_pool_t *p);

/** *val: the value of key in f (the file ix was built from), copied into
 *  p, or NULL when the file has no entry for key.  APR_SUCCESS, or the
 *  read error (then *val is NULL). */
apr_status_t rw_txtindex_find(const rw_txtindex_t *ix, apr_file_t *f,
                              const char *key, apr_pool_t *p,
                              const char **val);

#endif
