/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * fuzz_txtmap: the txt (and rnd) map back end (rewrite_map_txt.c and
 * its index, rewrite_txtindex.c) on arbitrary map files, reached the
 * way the server reaches it: the input is written to a file, a map is
 * defined on it (rw_map_define: "txt:FILE") and looked up
 * (rw_map_lookup_log).
 *
 * Input: a mode byte, a key length byte, the key, then the map file:
 *   mode  bit 0: look up through an rnd map on the same file as well
 *         bit 1: then rewrite the file without its first line and look
 *                up again (reload, cache keyed by mtime)
 *         bit 2: trace8 logging through a log sink
 * Keys looked up: the key, the first word of each of the first 32
 * lines, and "".  Checked besides the sanitizers:
 *   - a value is non-empty and has no white space (a word);
 *   - an rnd value has no '|' either;
 *   - a found key and its value occur in the file;
 *   - looking a key up twice (the second time from the cache) gives
 *     the same answer;
 *   - a first line "key value..." shorter than 1024 bytes, not a
 *     comment nor indented, gives key -> value;
 *   - before the file is rewritten, every txt answer is the one the
 *     reference reading of the file gives (t/unit/txt_reference.h);
 *     afterwards a cached answer may stand (same mtime), as in stock.
 */
#include <unistd.h>

#include "apr_strings.h"

#include "rewrite.h"

#include "fuzz_common.h"
#include "fuzz_check.h"
#include "txt_reference.h"

#define MAX_KEYS 32

static char *map_path;

static void remove_map_file(void)
{
    if (map_path)
        unlink(map_path);
}

static void write_file(const char *buf, apr_size_t n)
{
    FILE *f = fopen(map_path, "wb");

    if (!f || (n && fwrite(buf, 1, n, f) != n) || fclose(f) != 0) {
        perror(map_path);
        abort();
    }
}

static void log_sink(void *baton, int level, const char *msg)
{
    (void)baton;
    FZ_CHECK(level >= 1 && level <= 8, "trace level");
    (void)strlen(msg);
}

static int fz_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static rw_map_t *make_map(apr_pool_t *p, server_rec *s, const char *type)
{
    cmd_parms cmd;
    rw_map_t *map = NULL;
    const char *err;

    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = p;
    cmd.temp_pool = p;
    cmd.server = s;
    err = rw_map_define(&cmd, "m", apr_pstrcat(p, type, ":", map_path, NULL),
                        NULL, &map);
    if (err) {
        fprintf(stderr, "%s\n", err);
        abort();        /* the file exists: the set-up failed */
    }
    return map;
}

/* Looks key up twice and checks the answer; returns it. */
static const char *lookup(request_rec *r, const rw_map_t *map,
                          const char *key, int rnd, int log,
                          const char *file, apr_size_t n, int exact)
{
    rw_map_log_fn *fn = log ? log_sink : NULL;
    const char *v = rw_map_lookup_log(r, map, key, fn, NULL);
    const char *c;

    if (v) {
        FZ_CHECK(*v != '\0', "empty value");
        for (c = v; *c; ++c) {
            FZ_CHECK(!fz_space(*c), "white space in a value");
            FZ_CHECK(!rnd || *c != '|', "'|' in an rnd value");
        }
        if (!rnd) {
            FZ_CHECK(memmem(file, n, key, strlen(key)) != NULL,
                     "found key not in the file");
            FZ_CHECK(memmem(file, n, v, strlen(v)) != NULL,
                     "value not in the file");
        }
    }
    if (!rnd) {
        const char *again = rw_map_lookup_log(r, map, key, fn, NULL);
        FZ_CHECK((!v && !again) || (v && again && !strcmp(v, again)),
                 "second lookup differs");
        if (exact) {
            const char *want = txt_reference(r->pool, file, n, key);
            FZ_CHECK((!v && !want) || (v && want && !strcmp(v, want)),
                     "answer differs from the reference reading");
        }
    }
    return v;
}

/* Up to MAX_KEYS first words of lines of buf. */
static int line_keys(apr_pool_t *p, const char *buf, apr_size_t n,
                     const char **keys)
{
    apr_size_t pos = 0;
    int k = 0;

    while (pos < n && k < MAX_KEYS) {
        apr_size_t e = pos;
        while (e < n && buf[e] && !fz_space(buf[e]))
            ++e;
        if (e > pos)
            keys[k++] = apr_pstrmemdup(p, buf + pos, e - pos);
        while (pos < n && buf[pos] != '\n')
            ++pos;
        ++pos;
    }
    return k;
}

/* The first line's key and value when it is a plain entry. */
static int first_entry(apr_pool_t *p, const char *buf, apr_size_t n,
                       const char **key, const char **val)
{
    apr_size_t e = 0, vs, ve, nl;

    for (nl = 0; nl < n && buf[nl] != '\n'; ++nl)
        if (!buf[nl])
            return 0;
    if (nl >= 1023 || !nl || buf[0] == '#' || fz_space(buf[0]))
        return 0;
    while (e < nl && !fz_space(buf[e]))
        ++e;
    for (vs = e; vs < nl && fz_space(buf[vs]); ++vs)
        ;
    for (ve = vs; ve < nl && !fz_space(buf[ve]); ++ve)
        ;
    if (ve == vs)
        return 0;
    *key = apr_pstrmemdup(p, buf, e);
    *val = apr_pstrmemdup(p, buf + vs, ve - vs);
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = NULL;
    int fd;

    (void)argc;
    (void)argv;
    fz_init();
    if (apr_temp_dir_get(&tmp, fz_global) != APR_SUCCESS)
        tmp = "/tmp";
    map_path = apr_psprintf(fz_global, "%s/fuzz-txtmap-XXXXXX", tmp);
    fd = mkstemp(map_path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_map_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input_t in = { data, size };
    apr_pool_t *p;
    unsigned mode, klen;
    const char *key, *file, *keys[MAX_KEYS], *fk, *fv, *v;
    apr_size_t n;
    server_rec *s;
    request_rec *r;
    rw_map_t *txt, *rnd = NULL;
    int nkeys, i, log;

    if (apr_pool_create(&p, fz_global) != APR_SUCCESS)
        abort();
    mode = fz_byte(&in);
    klen = fz_byte(&in);
    if (klen > in.n)
        klen = (unsigned)in.n;
    key = apr_pstrmemdup(p, (const char *)in.d, klen);
    in.d += klen;
    in.n -= klen;
    file = (const char *)in.d;
    n = in.n;
    log = (mode & 4) != 0;

    write_file(file, n);
    s = fz_server(p, log ? APLOG_TRACE8 : APLOG_WARNING);
    r = fz_request(p, s, "/", NULL);
    txt = make_map(p, s, "txt");
    if (mode & 1)
        rnd = make_map(p, s, "rnd");

    nkeys = line_keys(p, file, n, keys);
    lookup(r, txt, key, 0, log, file, n, 1);
    lookup(r, txt, "", 0, log, file, n, 1);
    for (i = 0; i < nkeys; ++i)
        lookup(r, txt, keys[i], 0, log, file, n, 1);
    if (first_entry(p, file, n, &fk, &fv)) {
        v = lookup(r, txt, fk, 0, log, file, n, 1);
        FZ_CHECK(v && !strcmp(v, fv), "first line's entry");
    }
    if (rnd) {
        lookup(r, rnd, key, 1, log, file, n, 1);
        for (i = 0; i < nkeys; ++i)
            lookup(r, rnd, keys[i], 1, log, file, n, 1);
    }

    if (mode & 2) {
        /* the file edited: its first line removed */
        const char *nl = memchr(file, '\n', n);
        apr_size_t off = nl ? (apr_size_t)(nl - file) + 1 : n;
        write_file(file + off, n - off);
        lookup(r, txt, key, 0, log, file, n, 0);
        for (i = 0; i < nkeys; ++i)
            lookup(r, txt, keys[i], 0, log, file, n, 0);
        if (rnd)
            lookup(r, rnd, key, 1, log, file, n, 0);
    }

    apr_pool_destroy(p);
    return 0;
}
