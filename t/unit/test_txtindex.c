/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_txtindex.c: every lookup through the index must
 * give what a straight reading of the file gives (txt_reference.h, the
 * reading rules of the stock module: pieces of at most 1024 bytes ending
 * at a newline, '#'/white space/NUL at the start of a piece makes it no
 * entry, first word key, second word value, NUL ends the text, the first
 * piece of a key wins), on hand-written files and on generated ones large
 * enough to be read in several chunks.
 */
#include <stdlib.h>
#include <unistd.h>

#include "apr_file_io.h"
#include "apr_strings.h"

/* included for its static functions; the other tests link to it here */
#include "../../rewrite_txtindex.c"

#include "unit.h"
#include "txt_reference.h"

#define P unit_pool

static const char *write_tmp(const char *buf, apr_size_t n)
{
    const char *tmp = NULL;
    char *path;
    apr_file_t *f;

    if (apr_temp_dir_get(&tmp, P) != APR_SUCCESS)
        tmp = "/tmp";
    path = apr_psprintf(P, "%s/rw-unit-txtindex-XXXXXX", tmp);
    if (apr_file_mktemp(&f, path, APR_CREATE | APR_WRITE | APR_EXCL, P)
        != APR_SUCCESS)
        return NULL;
    if (n)
        apr_file_write_full(f, buf, n, NULL);
    apr_file_close(f);
    return path;
}

/* Indexes buf (as a file) and checks every key against ref_lookup. */
/* Every key through ix against the reference reading: one check, the
 * first difference reported. */
static void check_keys(const char *what, const rw_txtindex_t *ix,
                       apr_file_t *f, const char *buf, apr_size_t n,
                       const char *const *keys, apr_size_t nkeys)
{
    apr_size_t i, entries;
    const char *got = NULL;
    apr_hash_t *ref = txt_reference_table(P, buf, n, &entries);

    CHECK_INT(entries, ix->n, apr_psprintf(P, "%s: entries", what));
    for (i = 0; i < nkeys; ++i) {
        const char *v = NULL;
        const char *want = apr_hash_get(ref, keys[i], APR_HASH_KEY_STRING);
        apr_status_t rv = rw_txtindex_find(ix, f, keys[i], P, &v);
        if (rv != APR_SUCCESS || (want ? !v || strcmp(want, v) : v != NULL))
            break;
    }
    if (i < nkeys)
        CHECK_STR(apr_hash_get(ref, keys[i], APR_HASH_KEY_STRING),
                  rw_txtindex_find(ix, f, keys[i], P, &got) ? "(error)" : got,
                  apr_psprintf(P, "%s: key '%s'", what, keys[i]));
    else
        CHECK(1, what);
}

/* Indexes buf (as a file), privately and shared, and checks every key. */
static void check_file(const char *what, const char *buf, apr_size_t n,
                       const char *const *keys, apr_size_t nkeys)
{
    const char *path = write_tmp(buf, n);
    rw_txtindex_t ix, sh;
    apr_file_t *f;
    apr_pool_t *p;
    apr_off_t zero = 0;

    if (!path || apr_file_open(&f, path, APR_READ, APR_OS_DEFAULT, P)
        != APR_SUCCESS) {
        CHECK(0, apr_psprintf(P, "%s: temporary file", what));
        return;
    }
    apr_pool_create(&p, P);
    CHECK_INT(APR_SUCCESS, rw_txtindex_build(&ix, f, p),
              apr_psprintf(P, "%s: build", what));
    check_keys(what, &ix, f, buf, n, keys, nkeys);
    apr_file_seek(f, APR_SET, &zero);
    CHECK_INT(APR_SUCCESS, rw_txtindex_build_shared(&sh, f, p),
              apr_psprintf(P, "%s: build shared", what));
    check_keys(apr_psprintf(P, "%s, shared", what), &sh, f, buf, n, keys,
               nkeys);
    apr_pool_destroy(p);
    CHECK(ix.ent == NULL && ix.n == 0,
          apr_psprintf(P, "%s: entries freed with the pool", what));
    apr_file_close(f);
    apr_file_remove(path, P);
}

static void test_small(void)
{
    static const char text[] =
        "a A\n" "x B\n" "a second\n" "k v1 extra\n" "lonely\n"
        "# c comment\n" "#x commented\n" "\tb  B1 B2\n" "c\tC\n"
        "crlf CR\r\n" "multi one|two\n" "nul\0key v\n" "nv \0v\n"
        "e\v\fE\n" "last L";
    static const char *const keys[] = {
        "a", "x", "k", "lonely", "#", "#x", "b", "B1", "c", "crlf", "CR",
        "multi", "nul", "nv", "e", "last", "L", "", "zz", "A", "second",
    };
    apr_size_t want;

    check_file("small", text, sizeof(text) - 1, keys, UNIT_NELTS(keys));
    CHECK_STR("A", apr_hash_get(txt_reference_table(P, text,
                                                    sizeof(text) - 1, &want),
                                "a", APR_HASH_KEY_STRING),
              "reference: first line of a key wins");
    CHECK_INT(9, want, "reference: entries of the small file");
    check_file("empty", "", 0, keys, UNIT_NELTS(keys));
    check_file("no entries", "# only\n\n  x y\n", 14, keys, 3);
}

/* Lines around the 1024-byte piece size: a long line is several
 * pieces, and the piece after the first may be an entry of its own. */
static void test_long_lines(void)
{
    static const apr_size_t lens[] = { 1021, 1022, 1023, 1024, 1025, 2047,
                                       2048, 2049, 3000 };
    static const char *const keys[] = { "k", "tail", "after", "w", "" };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(lens); ++i) {
        /* "k " + filler up to lens[i] bytes (newline included), where
         * the filler is "v" then spaces then "tail T" near the end */
        apr_size_t n = lens[i], j;
        char *buf = apr_palloc(P, n + 32);
        memcpy(buf, "k v", 3);
        for (j = 3; j < n - 1; ++j)
            buf[j] = ' ';
        if (n > 1030)
            memcpy(buf + 1024, "tail T", 6);     /* starts piece 2 */
        buf[n - 1] = '\n';
        memcpy(buf + n, "after A\nw W", 11);
        check_file(apr_psprintf(P, "line of %" APR_SIZE_T_FMT, n), buf,
                   n + 11, keys, UNIT_NELTS(keys));
    }
}

/* FNV-1a collides on c693596 and c1170850: the index must read past an
 * entry of another key with the same hash. */
static void test_collision(void)
{
    static const char both[] = "c693596 first\nc1170850 second\n";
    static const char one[] = "c693596 first\n";
    static const char *const keys[] = { "c693596", "c1170850" };

    check_file("collision", both, sizeof(both) - 1, keys, 2);
    check_file("collision, other key absent", one, sizeof(one) - 1, keys,
               2);
}

/* A few hundred KiB of entries, comments, blank and indented lines,
 * duplicates and long lines: read in several chunks. */
static void test_generated(void)
{
    apr_size_t cap = 600 * 1024, n = 0, nkeys = 0, i;
    char *buf = malloc(cap);
    const char **keys = apr_palloc(P, 4001 * sizeof(*keys));  /* + "missing" */
    unsigned x = 12345;

    if (!buf) {
        CHECK(0, "generated: memory");
        return;
    }
    while (n < cap - 4096) {
        unsigned kind;
        x = x * 1103515245u + 12345u;
        kind = (x >> 16) % 20;
        if (kind == 0)
            n += (apr_size_t)sprintf(buf + n, "# comment %u\n", x);
        else if (kind == 1)
            buf[n++] = '\n';
        else if (kind == 2)
            n += (apr_size_t)sprintf(buf + n, "  k%u indented\n", x % 5000);
        else if (kind == 3) {        /* a long line */
            apr_size_t len = 900 + (x >> 8) % 400, j;
            n += (apr_size_t)sprintf(buf + n, "long%u L", x % 5000);
            for (j = 0; j < len; ++j)
                buf[n++] = (j % 97 == 96) ? ' ' : 'a' + j % 26;
            buf[n++] = '\n';
        }
        else {
            int len = sprintf(buf + n, "k%u v%u\n", x % 5000, x);
            if (nkeys < 4000)
                keys[nkeys++] = apr_psprintf(P, "k%u", x % 5000);
            n += (apr_size_t)len;
        }
    }
    for (i = 0; i < 50 && nkeys < 4000; ++i)
        keys[nkeys++] = apr_psprintf(P, "long%u", (unsigned)i * 101);
    keys[nkeys++] = "missing";
    check_file("generated", buf, n, keys, nkeys);
    free(buf);
}

/* The window search on hashes that are not uniform: the first window
 * misses and the search goes on by halves, in memory and in a file. */
static void test_search(void)
{
    static const apr_uint32_t probes[] = { 0, 1, 5, 6, 7, 1000, 1001,
                                           0x7fffffff, 0xfffffffe,
                                           0xffffffff };
    apr_size_t n = 5000, i, k, pos, want;
    rw_txt_entry_t *ent = apr_palloc(P, n * sizeof(*ent));
    rw_txt_entry_t buf[RW_TXT_WINDOW];
    rw_txtindex_t mem, file;
    int bad = 0;

    for (i = 0; i < n; ++i) {       /* skewed: all low but the last few */
        ent[i].hash = i < n - 3 ? (apr_uint32_t)(i / 2) * 3 + 5
                                : 0xfffffff0u + (apr_uint32_t)i % 7;
        ent[i].off = (apr_uint32_t)i;
    }
    mem.ent = ent;
    mem.n = n;
    mem.fd = -1;
    file.ent = NULL;
    file.n = n;
    file.fd = anonymous_file(P);
    CHECK(file.fd >= 0, "search: anonymous file");
    if (file.fd < 0)
        return;
    CHECK_INT(n * sizeof(*ent), write(file.fd, ent, n * sizeof(*ent)),
              "search: entries written");
    for (k = 0; k < UNIT_NELTS(probes) + 3000; ++k) {
        apr_uint32_t h = k < UNIT_NELTS(probes)
            ? probes[k] : (apr_uint32_t)(k - UNIT_NELTS(probes)) * 3;
        for (want = 0; want < n && ent[want].hash < h; ++want)
            ;
        if (first_at_least(&mem, h, buf, &pos) || pos != want ||
            first_at_least(&file, h, buf, &pos) || pos != want) {
            if (!bad++)
                CHECK_INT(want, pos, apr_psprintf(P, "search: hash %u", h));
        }
    }
    CHECK_INT(0, bad, "search: every hash, in memory and in a file");
    mem.n = 0;
    CHECK(first_at_least(&mem, 7, buf, &pos) == APR_SUCCESS && pos == 0,
          "search: empty index");
    close(file.fd);
}

void test_txtindex(void)
{
    test_search();
    test_small();
    test_long_lines();
    test_collision();
    test_generated();
}
