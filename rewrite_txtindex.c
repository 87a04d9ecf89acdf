/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The index of a txt (or rnd) map file: where each key's line starts.
 *
 * A map of 100,000 lines parsed into a hash table costs every process
 * about 10 MiB; the stock module keeps no such table and scans the file
 * for every key it has not seen.  The index is in between: one 8-byte
 * entry per line (a hash of the key and the line's offset), sorted, so
 * that a key is found with a binary search and one pread() of its line,
 * and the file's text stays in the page cache, shared by every process.
 * The parent indexes every map file at start-up into an in-memory file
 * its children inherit (rw_txtindex_build_shared): like the map file, the
 * index then sits in the page cache once for all processes, read with
 * pread(), and counts in no process's RSS; a child indexes a file in its
 * own memory only once the file has changed since start-up.
 *
 * The file is read the way the stock module reads it: in pieces of at
 * most RW_TXT_PIECE_MAX bytes, each ending at a newline; a piece starting
 * with '#', white space or NUL is ignored; otherwise its first word is the
 * key and its second word the value (a piece without a value is ignored);
 * a NUL ends the piece's text; the first piece of a key wins.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "apr_portable.h"
#include "apr_strings.h"

#include "rewrite_txtindex.h"

/* Bytes read at a time while indexing (a multiple of no piece size). */
#define READ_CHUNK  (64 * 1024)

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* FNV-1a: short keys, no adversary choosing the file's keys. */
static apr_uint32_t key_hash(const char *k, apr_size_t n)
{
    apr_uint32_t h = 2166136261u;

    while (n--) {
        h ^= (unsigned char)*k++;
        h *= 16777619u;
    }
    return h;
}

/* Length of the piece starting at buf (at most avail bytes there); 0 when
 * the piece may go on past avail and more of the file follows. */
static apr_size_t piece_len(const char *buf, apr_size_t avail, int at_eof)
{
    apr_size_t lim = avail < RW_TXT_PIECE_MAX ? avail : RW_TXT_PIECE_MAX;
    const char *nl = memchr(buf, '\n', lim);

    if (nl)
        return (apr_size_t)(nl - buf) + 1;
    if (lim == RW_TXT_PIECE_MAX || at_eof)
        return lim;
    return 0;
}

/* Key and value of a piece; 0 when the piece holds no entry. */
static int piece_entry(const char *p, apr_size_t len, apr_size_t *klen,
                       const char **val, apr_size_t *vlen)
{
    apr_size_t ke, vs, ve;

    if (!len || p[0] == '#' || p[0] == '\0' || is_space(p[0]))
        return 0;
    for (ke = 0; ke < len && p[ke] && !is_space(p[ke]); ++ke)
        ;
    for (vs = ke; vs < len && p[vs] && is_space(p[vs]); ++vs)
        ;
    for (ve = vs; ve < len && p[ve] && !is_space(p[ve]); ++ve)
        ;
    if (ve == vs)
        return 0;
    *klen = ke;
    *val = p + vs;
    *vlen = ve - vs;
    return 1;
}

static int entry_cmp(const void *a, const void *b)
{
    const rw_txt_entry_t *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static apr_status_t free_entries(void *data)
{
    rw_txtindex_t *ix = data;

    free(ix->ent);
    ix->ent = NULL;
    ix->n = 0;
    return APR_SUCCESS;
}

static apr_status_t add_entry(rw_txt_entry_t **ent, apr_size_t *n,
                              apr_size_t *cap, apr_uint32_t hash,
                              apr_uint64_t off)
{
    if (*n == *cap) {
        apr_size_t ncap = *cap ? *cap * 2 : 1024;
        rw_txt_entry_t *e = realloc(*ent, ncap * sizeof(*e));
        if (!e)
            return APR_ENOMEM;
        *ent = e;
        *cap = ncap;
    }
    (*ent)[*n].hash = hash;
    (*ent)[*n].off = (apr_uint32_t)off;
    ++*n;
    return APR_SUCCESS;
}

apr_status_t rw_txtindex_build(rw_txtindex_t *ix, apr_file_t *f,
                               apr_pool_t *p)
{
    rw_txt_entry_t *ent = NULL, *fit;
    apr_size_t n = 0, cap = 0, have = 0;
    apr_uint64_t base = 0;      /* file offset of buf[0] */
    apr_status_t rv = APR_SUCCESS;
    int at_eof = 0;
    char *buf = malloc(READ_CHUNK);

    memset(ix, 0, sizeof(*ix));
    ix->fd = -1;
    if (!buf)
        return APR_ENOMEM;
    while (rv == APR_SUCCESS) {
        apr_size_t pos = 0, len, want = READ_CHUNK - have;

        if (!at_eof) {
            rv = apr_file_read_full(f, buf + have, want, &want);
            have += want;
            if (APR_STATUS_IS_EOF(rv)) {
                at_eof = 1;
                rv = APR_SUCCESS;
            }
            if (rv != APR_SUCCESS)
                break;
        }
        while (pos < have && (len = piece_len(buf + pos, have - pos, at_eof))) {
            apr_size_t kl, vl;
            const char *v;

            if (piece_entry(buf + pos, len, &kl, &v, &vl)) {
                if (base + pos > RW_TXT_OFFSET_MAX) {
                    rv = APR_FROM_OS_ERROR(EFBIG);
                    break;
                }
                rv = add_entry(&ent, &n, &cap, key_hash(buf + pos, kl),
                               base + pos);
                if (rv != APR_SUCCESS)
                    break;
            }
            pos += len;
        }
        if (rv != APR_SUCCESS || (at_eof && pos >= have))
            break;
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        base += pos;
    }
    free(buf);
    if (rv != APR_SUCCESS) {
        free(ent);
        return rv;
    }
    if (n) {
        qsort(ent, n, sizeof(*ent), entry_cmp);
        fit = realloc(ent, n * sizeof(*ent));  /* give back the slack */
        if (fit)
            ent = fit;
    }
    ix->ent = ent;
    ix->n = n;
    apr_pool_cleanup_register(p, ix, free_entries, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* Entries [start, start + count) of ix: in place for an index in
 * memory, else read into buf. */
static apr_status_t entries_at(const rw_txtindex_t *ix, apr_size_t start,
                               apr_size_t count, rw_txt_entry_t *buf,
                               const rw_txt_entry_t **out)
{
    apr_size_t want = count * sizeof(*buf);
    ssize_t got;

    if (ix->fd < 0) {
        *out = ix->ent + start;
        return APR_SUCCESS;
    }
    got = pread(ix->fd, buf, want, (off_t)(start * sizeof(*buf)));
    if (got < 0) {  /* never APR_SUCCESS: the callers would read *out */
        int err = errno;
        return err ? APR_FROM_OS_ERROR(err) : APR_EGENERAL;
    }
    if ((apr_size_t)got != want)
        return APR_EOF;
    *out = buf;
    return APR_SUCCESS;
}

/* *pos: the first entry whose hash is >= h (n when none).  The hashes
 * are uniform, so the first window read is centred where h would sit,
 * and holds the answer but for about one lookup in a thousand (the
 * answer strays from there by about sqrt(n)/2 entries); then the
 * search halves what is left. */
static apr_status_t first_at_least(const rw_txtindex_t *ix, apr_uint32_t h,
                                   rw_txt_entry_t *buf, apr_size_t *pos)
{
    apr_size_t n = ix->n, lo = 0, hi = n, g;
    apr_status_t rv;

    g = (apr_size_t)(((apr_uint64_t)h * n) >> 32);
    while (lo < hi) {               /* the answer is in [lo, hi] */
        apr_size_t ws = g > RW_TXT_WINDOW / 2 ? g - RW_TXT_WINDOW / 2 : 0;
        apr_size_t we, i, j;
        const rw_txt_entry_t *e;

        if (ws < lo)
            ws = lo;
        we = hi - ws > RW_TXT_WINDOW ? ws + RW_TXT_WINDOW : hi;
        if ((rv = entries_at(ix, ws, we - ws, buf, &e)) != APR_SUCCESS)
            return rv;
        if (e[0].hash >= h)
            hi = ws;
        else if (e[we - ws - 1].hash < h)
            lo = we;
        else {                      /* e[0] < h <= e[last] */
            for (i = 1, j = we - ws - 1; i < j; ) {
                apr_size_t mid = i + (j - i) / 2;
                if (e[mid].hash < h)
                    i = mid + 1;
                else
                    j = mid;
            }
            *pos = ws + i;
            return APR_SUCCESS;
        }
        g = lo + (hi - lo) / 2;
    }
    *pos = lo;
    return APR_SUCCESS;
}

apr_status_t rw_txtindex_find(const rw_txtindex_t *ix, apr_file_t *f,
                              const char *key, apr_pool_t *p,
                              const char **val)
{
    apr_size_t kl = strlen(key), i, at = 0, have = 0;
    apr_uint32_t h = key_hash(key, kl);
    apr_os_file_t fd;
    apr_status_t rv;
    rw_txt_entry_t buf[RW_TXT_WINDOW];
    const rw_txt_entry_t *e = NULL;
    char piece[RW_TXT_PIECE_MAX];

    *val = NULL;
    if (apr_os_file_get(&fd, f) != APR_SUCCESS)
        return APR_EBADF;
    if ((rv = first_at_least(ix, h, buf, &i)) != APR_SUCCESS)
        return rv;
    for (; i < ix->n; ++i) {
        ssize_t got;
        apr_size_t len, pkl, vl;
        const char *v;

        if (i >= at + have) {       /* the next window of entries */
            at = i;
            have = ix->n - i < RW_TXT_WINDOW ? ix->n - i : RW_TXT_WINDOW;
            if ((rv = entries_at(ix, at, have, buf, &e)) != APR_SUCCESS)
                return rv;
        }
        if (e[i - at].hash != h)
            break;
        got = pread(fd, piece, sizeof(piece), e[i - at].off);
        if (got < 0)
            return APR_FROM_OS_ERROR(errno);
        len = piece_len(piece, (apr_size_t)got, 1);
        if (piece_entry(piece, len, &pkl, &v, &vl) && pkl == kl &&
            !memcmp(piece, key, kl)) {
            *val = apr_pstrmemdup(p, v, vl);
            return APR_SUCCESS;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t close_fd(void *data)
{
    close(*(int *)data);
    return APR_SUCCESS;
}

/* A file for the entries that lives in memory only and is inherited by
 * the children: memfd on Linux, else an unlinked temporary file. */
static int anonymous_file(apr_pool_t *p)
{
    const char *dir = NULL;
    char *path;
    int fd;

#ifdef MFD_CLOEXEC
    fd = memfd_create("rewrite-txt-index", MFD_CLOEXEC);
    if (fd >= 0 || errno != ENOSYS)
        return fd;
#endif
    if (apr_temp_dir_get(&dir, p) != APR_SUCCESS)
        dir = "/tmp";
    path = apr_pstrcat(p, dir, "/rewrite-txt-index-XXXXXX", NULL);
    fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
}

apr_status_t rw_txtindex_build_shared(rw_txtindex_t *ix, apr_file_t *f,
                                      apr_pool_t *p)
{
    rw_txtindex_t priv;
    apr_pool_t *tmp;
    apr_status_t rv;
    int *fd;

    memset(ix, 0, sizeof(*ix));
    ix->fd = -1;
    rv = apr_pool_create(&tmp, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = rw_txtindex_build(&priv, f, tmp);
    if (rv == APR_SUCCESS && priv.n) {
        apr_size_t len = priv.n * sizeof(*priv.ent), done = 0;

        fd = apr_palloc(p, sizeof(*fd));
        *fd = anonymous_file(tmp);
        if (*fd < 0)
            rv = APR_FROM_OS_ERROR(errno);
        else {
            apr_pool_cleanup_register(p, fd, close_fd,
                                      apr_pool_cleanup_null);
            while (done < len) {
                ssize_t w = write(*fd, (char *)priv.ent + done, len - done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    rv = w < 0 ? APR_FROM_OS_ERROR(errno) : APR_EGENERAL;
                    break;
                }
                done += (apr_size_t)w;
            }
            if (rv == APR_SUCCESS) {
                ix->fd = *fd;
                ix->n = priv.n;
            }
        }
    }
    apr_pool_destroy(tmp);
    return rv;
}
