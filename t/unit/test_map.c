/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_map.c through its back-end table: type names,
 * txt/rnd files, int: functions, and the configure-time errors.
 *
 * The expected values are those of the stock module (Debian apache2
 * 2.4.71): `apache2 -t` for the errors, ${map:key|NF} in a redirect for
 * the lookups.
 */
#include <unistd.h>

#include "apr_file_io.h"

#include "../../rewrite_map.c"

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

/* A map of type name on source; the configure error or NULL. */
static const char *make_map(const char *type, const char *source,
                            rw_map_t **out)
{
    rw_map_t *map = apr_pcalloc(P, sizeof(*map));

    map->name = "m";
    map->type = rw_map_type_find(type);
    *out = map;
    if (!map->type)
        return "no such type";
    return map->type->configure
        ? map->type->configure(fake_cmd(), map, source, NULL) : NULL;
}

static void test_types(void)
{
    static const char *const known[] = {
        "txt", "rnd", "int", "dbm", "prg", "dbd", "fastdbd",
    };
    static const char *const unknown[] = { "xyz", "", "TXT", "txt:" };
    apr_size_t i;

    for (i = 0; i < UNIT_NELTS(known); ++i) {
        const rw_map_type_t *t = rw_map_type_find(known[i]);
        CHECK_STR(known[i], t ? t->name : NULL,
                  apr_psprintf(P, "rw_map_type_find(%s)", known[i]));
    }
    for (i = 0; i < UNIT_NELTS(unknown); ++i)
        CHECK(rw_map_type_find(unknown[i]) == NULL,
              apr_psprintf(P, "rw_map_type_find(%s) is NULL", unknown[i]));
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
    const char *tmp = NULL, *path, *err;
    apr_file_t *f;
    apr_size_t i, n = sizeof(text) - 1;
    rw_map_t *map;
    request_rec *r = fake_req();

    if (apr_temp_dir_get(&tmp, P) != APR_SUCCESS)
        tmp = "/tmp";
    path = apr_psprintf(P, "%s/rw-unit-map-XXXXXX", tmp);
    if (apr_file_mktemp(&f, (char *)path, APR_CREATE | APR_WRITE | APR_EXCL,
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
            CHECK_STR(cases[i].val, rw_map_lookup(r, map, cases[i].key),
                      apr_psprintf(P, "txt lookup '%s'", cases[i].key));

    err = make_map("rnd", path, &map);
    CHECK_STR(NULL, err, "rnd map configures");
    if (!err) {
        int one = 0, two = 0, other = 0;
        for (i = 0; i < 64; ++i) {
            const char *v = rw_map_lookup(r, map, "multi");
            if (v && !strcmp(v, "one"))
                ++one;
            else if (v && !strcmp(v, "two"))
                ++two;
            else
                ++other;
        }
        CHECK(one && two && !other, "rnd lookup picks one|two at random");
        CHECK_STR("A", rw_map_lookup(r, map, "a"), "rnd lookup of one value");
        CHECK_STR(NULL, rw_map_lookup(r, map, "zz"), "rnd lookup of nothing");
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
            CHECK_STR(cases[i].val, rw_map_lookup(r, map, cases[i].key),
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

void test_map(void)
{
    test_types();
    test_txt();
    test_int();
}
