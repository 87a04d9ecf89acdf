/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the maps (rewrite_map.c and its back ends) through
 * rw_map_define and rw_map_lookup_log: the choice of back end by
 * RewriteMap's argument, txt/rnd files, dbm files, int: functions, and
 * the configure-time errors.
 *
 * The expected values are those of the stock module (Debian apache2
 * 2.4.71): `apache2 -t` for the errors, ${map:key|NF} in a redirect for
 * the lookups.
 */
#include <unistd.h>

#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_dbm.h"

#include "rewrite.h"
#include "rewrite_map_backend.h"
#include "http_log.h"

#include "unit.h"

#define P unit_pool

static cmd_parms *fake_cmd(void)
{
    cmd_parms *cmd = apr_pcalloc(P, sizeof(*cmd));
    cmd->pool = P;
    cmd->temp_pool = P;
    return cmd;
}

static request_rec *fake_req(void)
{
    request_rec *r = apr_pcalloc(P, sizeof(*r));
    server_rec *s = apr_pcalloc(P, sizeof(*s));
    s->log.level = APLOG_WARNING;
    r->pool = P;
    r->server = s;
    r->log = &s->log;
    return r;
}

/* Map m of RewriteMap's second argument spec; the error or NULL. */
static const char *define(const char *spec, rw_map_t **out)
{
    *out = NULL;
    return rw_map_define(fake_cmd(), "m", spec, NULL, out);
}

/* A map of type name on source; the configure error or NULL. */
static const char *make_map(const char *type, const char *source,
                            rw_map_t **out)
{
    return define(apr_pstrcat(P, type, ":", source, NULL), out);
}

static const char *lookup(request_rec *r, const rw_map_t *map,
                          const char *key)
{
    return rw_map_lookup_log(r, map, key, NULL, NULL);
}

/* The back end RewriteMap's argument chooses, and its errors (the unit
 * stubs make a relative path /tmp/PATH). */
static void test_types(void)
{
    static const struct { const char *spec, *type, *err; } cases[] = {
        { "txt:/bin/sh", "txt", NULL },
        { "TXT:/bin/sh", "txt", NULL },
        { "Rnd:/bin/sh", "rnd", NULL },
        { "/bin/sh", "txt", NULL },
        { "int:toupper", "int", NULL },
        { "INT:tolower", "int", NULL },
        { "prg:/bin/cat", "prg", NULL },
        { "prg:", "prg", NULL },
        { "dbd:SELECT 1", NULL,
          "RewriteMap types dbd and fastdbd require mod_dbd!" },
        { "fastdbd:SELECT 1", NULL,
          "RewriteMap types dbd and fastdbd require mod_dbd!" },
        { "dbm", NULL, "RewriteMap: bad map:dbm" },
        { "DBMx:/x", NULL, "RewriteMap: bad map:DBMx:/x" },
        { "DBM=sdbm", NULL, "RewriteMap: bad map:dbm=sdbm" },
        { "dbm=nosuch:/x", NULL, "RewriteMap: dbm type nosuch is invalid" },
        { "dbm=sdbm:/nonexistent/x", NULL,
          "RewriteMap: file for map m not found:/nonexistent/x.dir" },
        { "xyz:foo", NULL,
          "RewriteMap: file for map m not found:/tmp/xyz:foo" },
        { "txtx:foo", NULL,
          "RewriteMap: file for map m not found:/tmp/txtx:foo" },
    };
    apr_size_t i;
    rw_map_t *map;

    rw_map_pre_config(P);
    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        const char *err = define(cases[i].spec, &map);
        CHECK_STR(cases[i].err, err,
                  apr_psprintf(P, "RewriteMap m %s: error", cases[i].spec));
        CHECK_STR(cases[i].type, map ? map->backend->name : NULL,
                  apr_psprintf(P, "RewriteMap m %s: type", cases[i].spec));
    }
}

static void test_txt(void)
{
    static const char text[] =
        "a A\n"
        "x B\n"
        "a second\n"          /* the first line of a key wins */
        "k v1 extra\n"        /* the value is the second word */
        "lonely\n"            /* no value: no entry */
        "# c comment\n"
        "#x commented\n"
        "\tb  B1 B2\n"        /* an indented line is no entry */
        "c\tC\n"
        "multi one|two\n"
        "last L";             /* no final newline */
    static const struct { const char *key, *val; } cases[] = {
        { "a", "A" }, { "x", "B" }, { "k", "v1" }, { "c", "C" },
        { "multi", "one|two" }, { "last", "L" },
        { "lonely", NULL }, { "#", NULL }, { "#x", NULL }, { "b", NULL },
        { "B1", NULL }, { "A", NULL }, { "second", NULL }, { "", NULL },
        { "zz", NULL },
    };
    const char *tmp = NULL, *err;
    char *path;
    apr_file_t *f;
    apr_size_t i, n = sizeof(text) - 1;
    rw_map_t *map;
    request_rec *r = fake_req();

    if (apr_temp_dir_get(&tmp, P) != APR_SUCCESS)
        tmp = "/tmp";
    path = apr_psprintf(P, "%s/rw-unit-map-XXXXXX", tmp);
    if (apr_file_mktemp(&f, path, APR_CREATE | APR_WRITE | APR_EXCL,
                        P) != APR_SUCCESS) {
        CHECK(0, "temporary map file");
        return;
    }
    apr_file_write(f, text, &n);
    apr_file_close(f);

    err = make_map("txt", path, &map);
    CHECK_STR(NULL, err, "txt map configures");
    if (!err)
        for (i = 0; i < UNIT_NELTS(cases); ++i)
            CHECK_STR(cases[i].val, lookup(r, map, cases[i].key),
                      apr_psprintf(P, "txt lookup '%s'", cases[i].key));

    err = make_map("rnd", path, &map);
    CHECK_STR(NULL, err, "rnd map configures");
    if (!err) {
        int one = 0, two = 0, other = 0;
        for (i = 0; i < 64; ++i) {
            const char *v = lookup(r, map, "multi");
            if (v && !strcmp(v, "one"))
                ++one;
            else if (v && !strcmp(v, "two"))
                ++two;
            else
                ++other;
        }
        CHECK(one && two && !other, "rnd lookup picks one|two at random");
        CHECK_STR("A", lookup(r, map, "a"), "rnd lookup of one value");
        CHECK_STR(NULL, lookup(r, map, "zz"), "rnd lookup of nothing");
    }
    apr_file_remove(path, P);

    CHECK_STR("RewriteMap: file for map m not found:/nonexistent/x",
              make_map("txt", "/nonexistent/x", &map), "txt without file");
    CHECK_STR("RewriteMap: file for map m not found:/nonexistent/x",
              make_map("rnd", "/nonexistent/x", &map), "rnd without file");
}

static void test_int(void)
{
    static const struct { const char *fn, *key, *val; } cases[] = {
        { "toupper", "aBc\xc3\xa9", "ABC\xc3\xa9" },
        { "tolower", "aBc\xc3\xa9", "abc\xc3\xa9" },
        { "toupper", "", "" },
    };
    apr_size_t i;
    rw_map_t *map;
    request_rec *r = fake_req();

    rw_map_pre_config(P);
    for (i = 0; i < UNIT_NELTS(cases); ++i) {
        const char *err = make_map("int", cases[i].fn, &map);
        if (err)
            CHECK_STR(NULL, err, apr_psprintf(P, "int:%s", cases[i].fn));
        else
            CHECK_STR(cases[i].val, lookup(r, map, cases[i].key),
                      apr_psprintf(P, "int:%s of '%s'", cases[i].fn,
                                   cases[i].key));
    }
    CHECK(make_map("int", "escape", &map) == NULL, "int:escape exists");
    CHECK(make_map("int", "unescape", &map) == NULL, "int:unescape exists");
    CHECK_STR("RewriteMap: internal map not found:nope",
              make_map("int", "nope", &map), "int:nope");
    CHECK_STR("RewriteMap: internal map not found:TOUPPER",
              make_map("int", "TOUPPER", &map), "int:TOUPPER");
}

/* dbm=TYPE: a DBM file of that type. */
static void test_dbm(void)
{
    const char *tmp = NULL, *path, *err;
    apr_dbm_t *db;
    apr_datum_t k, v;
    rw_map_t *map;
    request_rec *r = fake_req();

    if (apr_temp_dir_get(&tmp, P) != APR_SUCCESS)
        tmp = "/tmp";
    path = apr_psprintf(P, "%s/rw-unit-dbm-%ld", tmp, (long)getpid());
    if (apr_dbm_open_ex(&db, "sdbm", path, APR_DBM_RWCREATE, APR_OS_DEFAULT,
                        P) != APR_SUCCESS) {
        CHECK(0, "temporary dbm file");
        return;
    }
    k.dptr = apr_pstrdup(P, "k");
    k.dsize = 1;
    v.dptr = apr_pstrdup(P, "V");
    v.dsize = 1;
    apr_dbm_store(db, k, v);
    apr_dbm_close(db);

    err = define(apr_pstrcat(P, "dbm=sdbm:", path, NULL), &map);
    CHECK_STR(NULL, err, "dbm=sdbm map configures");
    if (!err) {
        CHECK_STR("dbm", map->backend->name, "dbm=sdbm is a dbm map");
        CHECK_STR("V", lookup(r, map, "k"), "dbm lookup");
        CHECK_STR("V", lookup(r, map, "k"), "dbm lookup from the cache");
        CHECK_STR(NULL, lookup(r, map, "zz"), "dbm lookup of nothing");
    }
    apr_file_remove(apr_pstrcat(P, path, ".pag", NULL), P);
    apr_file_remove(apr_pstrcat(P, path, ".dir", NULL), P);
}

/* Map caches hash their keys (which clients choose: $N of the URL) with
 * the keyed SipHash, not APR's default times-33 hash, where "Ez" and
 * "FY" collide and so do all 2^n strings made of them: one bucket would
 * hold every key and each lookup walk them all.  Deliberately safer than
 * the stock module.  4096 such keys: each keeps its own value, and the
 * table's hash tells the two apart. */
static void test_cache_collisions(void)
{
    rw_map_cache_t *c = rw_map_cache_make(P);
    char key[32];
    apr_ssize_t k1 = APR_HASH_KEY_STRING, k2 = APR_HASH_KEY_STRING;
    int i, j, ok = 1;

    CHECK(c != NULL, "map cache made");
    if (!c)
        return;
    CHECK(rw_hash_keyed("EzEzEzEz", &k1) != rw_hash_keyed("FYFYFYFY", &k2),
          "map cache hash: times-33 collisions do not collide");
    for (i = 0; i < 4096; ++i) {
        for (j = 0; j < 12; ++j)
            memcpy(key + 2 * j, (i >> j) & 1 ? "FY" : "Ez", 2);
        key[24] = '\0';
        rw_map_cache_put(c, 1, key, apr_itoa(P, i));
    }
    for (i = 0; i < 4096; ++i) {
        const char *v;
        for (j = 0; j < 12; ++j)
            memcpy(key + 2 * j, (i >> j) & 1 ? "FY" : "Ez", 2);
        key[24] = '\0';
        v = rw_map_cache_get(c, 1, key, P);
        if (!v || atoi(v) != i)
            ok = 0;
    }
    CHECK(ok, "map cache: 4096 colliding keys, each with its value");
}

void test_map(void)
{
    test_cache_collisions();
    test_types();
    test_txt();
    test_dbm();
    test_int();
}
