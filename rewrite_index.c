/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The rule index of a server-context rule list: which rules can match a
 * URL, found without looking at the others.
 *
 * Built once at config time (post_config) from the literal every match
 * of a pattern must start with (rw_regex_t.lit): rules whose pattern is
 * an exact literal ("^/old/page-1$") are filed under that string, rules
 * with a literal prefix ("^/catalog/item-1/(.*)$") under the prefix,
 * both case-folded for [NC]; every other rule (negated patterns, no
 * literal, [NS]) is always a candidate.  At request time one pass over
 * the URL finds the exact entry and every prefix entry it starts with,
 * and the candidates come out in rule order, so that the engine walks
 * only them and keeps the stock semantics (see apply_rules).
 */
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "rewrite.h"

/* An entry: the rules filed under one literal.  The literal itself is
 * the pattern's (rules[ids[first]].re->lit): nothing is copied. */
typedef struct {
    unsigned hash;      /* rw_lit_hash of the literal, salted by kind */
    unsigned len;       /* its length */
    unsigned char prefix, fold;
    int first, n;       /* its rules: ids[first .. first + n) */
} entry_t;

struct rw_index_t {
    const rw_rule_t *rules;
    int nrules;
    unsigned mask;      /* slots - 1; slots hold entry index + 1 */
    int *slots;
    entry_t *entries;
    int *ids;           /* rule numbers, ascending within an entry */
    const int *always;  /* rules that are always candidates, ascending */
    int nalways;
    unsigned maxplen;   /* longest prefix literal */
    unsigned char *plen;/* plen[L]: some prefix literal has length L */
    unsigned maxelen;   /* longest exact literal */
    unsigned char *elen;/* elen[L]: some exact literal has length L */
};

static unsigned salt(int prefix, int fold)
{
    return 0x9e3779b9u * (unsigned)(1 + 2 * prefix + fold);
}

/* How rule p is filed: 0 always a candidate, 1 exact, 2 prefix. */
static int kind_of(const rw_rule_t *p)
{
    const rw_regex_t *re = p->re;

    if (p->negate || !re || !re->lit || !re->litlen)
        return 0;
    return re->lit_exact ? 1 : 2;
}

static const entry_t *find(const rw_index_t *ix, unsigned h, apr_size_t len,
                           int prefix, int fold, const char *s)
{
    unsigned slot = h & ix->mask;
    int e;

    while ((e = ix->slots[slot]) != 0) {
        const entry_t *en = &ix->entries[e - 1];
        if (en->hash == h && en->len == len && en->prefix == prefix &&
            en->fold == fold &&
            rw_lit_at(s, ix->rules[ix->ids[en->first]].re->lit, len, fold))
            return en;
        slot = (slot + 1) & ix->mask;
    }
    return NULL;
}

/* The order of two rules' keys: kind, fold, literal (ASCII folded when
 * fold); 0 when they are filed under the same entry. */
static int key_order(const rw_rule_t *a, const rw_rule_t *b)
{
    int ka = kind_of(a), kb = kind_of(b);
    int fa = a->re->lit_nocase != 0, fb = b->re->lit_nocase != 0;
    apr_size_t i;

    if (ka != kb)
        return ka - kb;
    if (fa != fb)
        return fa - fb;
    if (a->re->litlen != b->re->litlen)
        return a->re->litlen < b->re->litlen ? -1 : 1;
    for (i = 0; i < a->re->litlen; ++i) {
        unsigned char ca = (unsigned char)a->re->lit[i];
        unsigned char cb = (unsigned char)b->re->lit[i];
        if (fa) {
            if (ca < 128)
                ca = (unsigned char)apr_tolower(ca);
            if (cb < 128)
                cb = (unsigned char)apr_tolower(cb);
        }
        if (ca != cb)
            return ca - cb;
    }
    return 0;
}

/* qsort has no context argument: the rules are reached through this
 * pointer, set and used at config time only (one thread). */
static const rw_rule_t *sort_rules;

/* Keys in order, then rule numbers: each entry's rules ascend. */
static int id_cmp(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    int d = key_order(&sort_rules[a], &sort_rules[b]);

    return d ? d : a - b;
}

const rw_index_t *rw_index_build(apr_pool_t *p, const rw_rule_t *rules,
                                 int nrules)
{
    rw_index_t *ix;
    int *always, *ids;
    int i, k, nalways = 0, nids = 0, nentries = 0;
    unsigned slots = 16;

    if (nrules < RW_INDEX_MIN_RULES)
        return NULL;
    ix = apr_pcalloc(p, sizeof(*ix));
    ix->rules = rules;
    ix->nrules = nrules;
    /* one pass to count, then the lists at their final size: at 10,000
     * rules every temporary structure would show in the parent's peak
     * RSS, which the children inherit */
    for (i = 0; i < nrules; ++i) {
        if (!kind_of(&rules[i]))
            ++nalways;
        else {
            ++nids;
            if (kind_of(&rules[i]) == 2 && rules[i].re->litlen > ix->maxplen)
                ix->maxplen = (unsigned)rules[i].re->litlen;
            if (kind_of(&rules[i]) == 1 && rules[i].re->litlen > ix->maxelen)
                ix->maxelen = (unsigned)rules[i].re->litlen;
        }
    }
    always = apr_palloc(p, (apr_size_t)(nalways ? nalways : 1) * sizeof(int));
    ids = apr_palloc(p, (apr_size_t)(nids ? nids : 1) * sizeof(int));
    for (i = 0, k = 0, nalways = 0; i < nrules; ++i) {
        if (kind_of(&rules[i]))
            ids[k++] = i;
        else
            always[nalways++] = i;
    }
    sort_rules = rules;
    qsort(ids, (size_t)nids, sizeof(int), id_cmp);
    sort_rules = NULL;
    for (i = 0; i < nids; ++i)
        if (!i || key_order(&rules[ids[i - 1]], &rules[ids[i]]))
            ++nentries;
    while (slots < (unsigned)nentries + (unsigned)nentries / 2)
        slots <<= 1;
    ix->mask = slots - 1;
    ix->slots = apr_pcalloc(p, slots * sizeof(int));
    ix->entries = apr_palloc(p, (apr_size_t)(nentries ? nentries : 1) * sizeof(entry_t));
    ix->ids = ids;
    ix->plen = apr_pcalloc(p, ix->maxplen + 1);
    ix->elen = apr_pcalloc(p, ix->maxelen + 1);
    ix->always = always;
    ix->nalways = nalways;

    for (i = 0, k = -1; i < nids; ++i) {
        const rw_regex_t *re = rules[ids[i]].re;
        entry_t *en;
        unsigned slot;
        if (k >= 0 && !key_order(&rules[ids[i - 1]], &rules[ids[i]])) {
            ++ix->entries[k].n;
            continue;
        }
        en = &ix->entries[++k];
        en->prefix = !re->lit_exact;
        en->fold = re->lit_nocase ? 1 : 0;
        en->len = (unsigned)re->litlen;
        en->hash = rw_lit_hash(re->lit, re->litlen, en->fold) ^
                   salt(en->prefix, en->fold);
        en->first = i;
        en->n = 1;
        if (en->prefix)
            ix->plen[en->len] = 1;
        else
            ix->elen[en->len] = 1;
        for (slot = en->hash & ix->mask; ix->slots[slot];
             slot = (slot + 1) & ix->mask)
            ;
        ix->slots[slot] = k + 1;
    }
    return ix;
}

/* Merges the ascending lists a[0..na) and b[0..nb) into out. */
static int merge(int *out, const int *a, int na, const int *b, int nb)
{
    int i = 0, j = 0, n = 0;

    while (i < na && j < nb)
        out[n++] = a[i] < b[j] ? a[i++] : b[j++];
    while (i < na)
        out[n++] = a[i++];
    while (j < nb)
        out[n++] = b[j++];
    return n;
}

apr_size_t rw_index_span(const rw_index_t *ix)
{
    /* the loop below reads s[0 .. limit], and s[len] for an exact
     * literal only when len <= maxelen <= limit */
    return (ix->maxplen > ix->maxelen ? ix->maxplen : ix->maxelen) + 1;
}

const int *rw_index_always(const rw_index_t *ix, int *n)
{
    *n = ix->nalways;
    return ix->always;
}

const int *rw_index_candidates(const rw_index_t *ix, apr_pool_t *pool,
                               const char *s, int *ncands)
{
    const entry_t *hits[2 * 64 + 2];
    int nhits = 0, total = 0, i, n;
    unsigned hcase = 2166136261u, hfold = 2166136261u;
    apr_size_t len, L, limit;
    int *out, *buf;

    /* one pass: the running hashes give every prefix length's hash; it
     * stops past the longest literal (a URL longer than every exact
     * literal is none of them) */
    limit = ix->maxplen > ix->maxelen ? ix->maxplen : ix->maxelen;
    for (L = 0; L <= limit && s[L]; ++L) {
        unsigned char c = (unsigned char)s[L];
        unsigned char f = (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a')
                                                 : c;
        hcase = (hcase ^ c) * 16777619u;
        hfold = (hfold ^ f) * 16777619u;
        if (L + 1 <= ix->maxplen && ix->plen[L + 1] &&
            nhits < (int)(sizeof(hits) / sizeof(hits[0])) - 2) {
            const entry_t *e;
            if ((e = find(ix, hcase ^ salt(1, 0), L + 1, 1, 0, s)))
                hits[nhits++] = e;
            if ((e = find(ix, hfold ^ salt(1, 1), L + 1, 1, 1, s)))
                hits[nhits++] = e;
        }
    }
    len = L;
    if (!s[len] && len <= ix->maxelen && ix->elen[len]) {
        const entry_t *e;
        if ((e = find(ix, hcase ^ salt(0, 0), len, 0, 0, s)))
            hits[nhits++] = e;
        if ((e = find(ix, hfold ^ salt(0, 1), len, 0, 1, s)))
            hits[nhits++] = e;
    }
    if (nhits == (int)(sizeof(hits) / sizeof(hits[0])) - 2) {
        /* more prefix lengths hit than kept: every rule is a candidate */
        out = apr_palloc(pool, (apr_size_t)ix->nrules * sizeof(int));
        for (i = 0; i < ix->nrules; ++i)
            out[i] = i;
        *ncands = ix->nrules;
        return out;
    }
    if (nhits == 1) {           /* the usual case: no copy */
        *ncands = hits[0]->n;
        return ix->ids + hits[0]->first;
    }
    for (i = 0; i < nhits; ++i)
        total += hits[i]->n;
    out = apr_palloc(pool, (apr_size_t)(total ? total : 1) * sizeof(int));
    buf = apr_palloc(pool, (apr_size_t)(total ? total : 1) * sizeof(int));
    n = 0;
    for (i = 0; i < nhits; ++i) {
        int *t;
        n = merge(buf, out, n, ix->ids + hits[i]->first, hits[i]->n);
        t = out;
        out = buf;
        buf = t;
    }
    *ncands = n;
    return out;
}
