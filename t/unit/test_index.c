/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_index.c: for rule lists of exact literals,
 * literal prefixes ([NC] or not), negated patterns, patterns without a
 * literal, the candidates of a URL must be exactly the
 * rules a straight check of every literal leaves (the others cannot
 * match), in rule order; on hand-written lists and on generated ones.
 */
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_lib.h"

/* included for its static functions; the other tests link to it here */
#include "../../rewrite_index.c"

#include "unit.h"

#define P unit_pool

/* The straight check: rule p may match s. */
static int may_match(const rw_rule_t *p, const char *s)
{
    const rw_regex_t *re = p->re;
    apr_size_t i, n = strlen(s);

    if (p->negate || !re->lit)
        return 1;
    if (n < re->litlen || (re->lit_exact && n != re->litlen))
        return 0;
    for (i = 0; i < re->litlen; ++i) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)re->lit[i];
        if (a != b && (!re->lit_nocase || a > 127 || b > 127 ||
                       apr_tolower(a) != apr_tolower(b)))
            return 0;
    }
    return 1;
}

static rw_rule_t *make_rules(const char *const *pats, int n)
{
    rw_rule_t *rules = apr_pcalloc(P, n * sizeof(*rules));
    int i;

    for (i = 0; i < n; ++i) {
        const char *pat = pats[i];
        int nocase = 0;
        if (*pat == '~') {          /* test notation: [NC] */
            nocase = 1;
            ++pat;
        }
        if (*pat == '!') {
            rules[i].negate = 1;
            ++pat;
        }
        rules[i].pattern = pat;
        if (rw_regex_compile(P, pat, nocase, &rules[i].re))
            abort();
    }
    return rules;
}

static void check_url(const rw_index_t *ix, const rw_rule_t *rules, int n,
                      const char *url)
{
    int nc = 0, na = 0, i, k = 0, a = 0, ok = 1;
    const int *c = rw_index_candidates(ix, P, url, &nc);
    const int *al = rw_index_always(ix, &na);

    /* every rule the straight check leaves is in exactly one of the two
     * ascending lists, and no other rule is */
    for (i = 0; i < n; ++i) {
        int in_c = k < nc && c[k] == i, in_a = a < na && al[a] == i;
        if (may_match(&rules[i], url) != (in_c || in_a) || (in_c && in_a))
            ok = 0;
        k += in_c;
        a += in_a;
    }
    if (k != nc || a != na)
        ok = 0;
    if (ok)
        ++unit_passed;
    else
        unit_fail(__FILE__, __LINE__, apr_psprintf(P, "candidates of %s", url),
                  "the rules left by the straight check", "others");
}

static void test_hand_written(void)
{
    static const char *const pats[] = {
        "^/old/page-1$", "^/old/page-2$", "~^/Old/Page-3$", "^/old/page-1$",
        "^/catalog/item-1/(.*)$", "~^/catalog/ITEM-2/(.*)$", "!^/neg/",
        "\\.(gif|jpe?g)$", "^/(a|b)/x$", "^/pre", "^/prefix/long/er",
        "~^/PREFIX", "^/ns/", "^/old/page-1$", "^/caf\xc3\xa9/x", "~^/CAF\xc3\x89",
        "^/", "^/o", "^/old/", "(.*)",
    };
    static const char *const urls[] = {
        "/old/page-1", "/old/page-2", "/OLD/PAGE-3", "/old/page-3",
        "/catalog/item-1/x", "/CATALOG/item-2/y", "/catalog/item-2/",
        "/neg/x", "/pic.gif", "/a/x", "/prefix/long/er/x", "/Prefix",
        "/ns/", "/caf\xc3\xa9/x", "/caf\xc3\x89", "/CAF\xc3\xa9", "", "/", "/o",
        "/old/page-10", "x",
    };
    int n = (int)UNIT_NELTS(pats), i;
    rw_rule_t *rules = make_rules(pats, n);
    const rw_index_t *ix = rw_index_build(P, rules, n);

    CHECK(ix != NULL, "an index for 20 rules");
    CHECK(rw_index_build(P, rules, RW_INDEX_MIN_RULES - 1) == NULL,
          "no index for a short list");
    for (i = 0; i < (int)UNIT_NELTS(urls); ++i)
        check_url(ix, rules, n, urls[i]);
}

/* Many rules with shared prefixes of many lengths, some [NC]. */
static void test_generated(void)
{
    int n = 3000, i;
    const char **pats = apr_palloc(P, n * sizeof(*pats));
    rw_rule_t *rules;
    const rw_index_t *ix;
    unsigned seed = 12345;

    for (i = 0; i < n; ++i) {
        seed = seed * 1103515245u + 12345u;
        switch ((seed >> 16) % 6) {
        case 0:
            pats[i] = apr_psprintf(P, "^/old/page-%d$", i % 700);
            break;
        case 1:
            pats[i] = apr_psprintf(P, "~^/Catalog/Item-%d/(.*)$", i % 500);
            break;
        case 2:
            pats[i] = apr_psprintf(P, "^/c/%d", i % 97);
            break;
        case 3:
            pats[i] = apr_psprintf(P, "!^/x/%d", i);
            break;
        case 4:
            pats[i] = apr_psprintf(P, "~^/OLD/PAGE-%d$", i % 300);
            break;
        default:
            pats[i] = "\\.png$";
        }
    }
    rules = make_rules(pats, n);
    ix = rw_index_build(P, rules, n);
    for (i = 0; i < 400; ++i) {
        const char *url;
        seed = seed * 1103515245u + 12345u;
        switch ((seed >> 16) % 5) {
        case 0:
            url = apr_psprintf(P, "/old/page-%u", (seed >> 8) % 800);
            break;
        case 1:
            url = apr_psprintf(P, "/catalog/item-%u/a/b", (seed >> 8) % 600);
            break;
        case 2:
            url = apr_psprintf(P, "/c/%u", (seed >> 8) % 2000);
            break;
        case 3:
            url = apr_psprintf(P, "/Old/Page-%u", (seed >> 8) % 400);
            break;
        default:
            url = apr_psprintf(P, "/x/%u.png", (seed >> 8) % 3000);
        }
        check_url(ix, rules, n, url);
    }
}

void test_index(void)
{
    test_hand_written();
    test_generated();
}
