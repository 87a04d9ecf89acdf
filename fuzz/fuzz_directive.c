/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * fuzz_directive: the config-time parsers of rewrite_parse.c on
 * arbitrary directive arguments.
 *
 * Input: one mode byte, then 7 pieces (see fuzz_common.h):
 *   mode  bits 0-3: RegexDefaultOptions (ICASE, NEWLINE, DOTALL,
 *                   DOLLAR_ENDONLY) seen by rw_regex_compile
 *         bit 4:    server context (else a <Directory> context)
 *         bit 5:    nocase for the direct rw_regex_compile call
 *         bit 6:    also run RewriteMap on the words of the line
 *         bit 7:    the line comes from an .htaccess: RewriteCond and
 *                   RewriteRule go through the per-process line cache
 *                   (a small budget, so that entries are evicted), twice;
 *                   the budget holds, a hit equals the first compile,
 *                   and no entry is in use once the input's pool is gone
 *   1 line      RewriteCond/RewriteRule argument line: rw_split_args,
 *               then the RewriteCond and RewriteRule handlers (which
 *               compile it whole: flags, pattern, templates)
 *   2 flags     rw_parse_rule_flags ("[...]")
 *   3 cflags    rw_parse_cond_flags ("[...]")
 *   4 condpat   rw_parse_cond_pattern (with the flags of 3)
 *   5 template  rw_parse_template
 *   6 regex     rw_regex_compile
 *   7 option    RewriteOptions and RewriteBase argument
 * Besides the sanitizers, the compiled structures are walked and
 * checked (every piece of a template readable, references 0-9, ...).
 */
#include "../rewrite_parse.c"

#include "fuzz_common.h"
#include "fuzz_check.h"

extern int unit_default_cflags;     /* t/unit/stubs.c */
extern int unit_in_htaccess;        /* t/unit/stubs.c */

/* Reads every byte of s (ASan checks the whole string). */
static unsigned touch(const char *s)
{
    unsigned h = 0;

    for (; *s; ++s)
        h = h * 31 + (unsigned char)*s;
    return h;
}

static unsigned walk_tpl(const rw_tpl_t *t, int depth);

static unsigned walk_var(const rw_var_t *v, int depth)
{
    unsigned h = (unsigned)v->kind;

    FZ_CHECK(v->kind >= RW_VAR_UNKNOWN && v->kind <= RW_VAR_THE_REQUEST,
             "variable kind");
    if (v->arg)
        h += touch(v->arg);
    if (v->kind == RW_VAR_LA_U || v->kind == RW_VAR_LA_F) {
        FZ_CHECK(v->inner != NULL, "LA-U/LA-F without inner variable");
        FZ_CHECK(depth < 10000, "look-ahead nesting");
        h += walk_var(v->inner, depth + 1);
    }
    return h;
}

static unsigned walk_tpl(const rw_tpl_t *t, int depth)
{
    unsigned h = 0;
    int i;

    FZ_CHECK(t != NULL, "template");
    FZ_CHECK(t->npieces >= 0, "piece count");
    FZ_CHECK(depth < 10000, "map nesting");
    if (t->literal)
        h += touch(t->literal);
    FZ_CHECK(t->npieces == 0 || t->pieces != NULL, "pieces array");
    for (i = 0; i < t->npieces; ++i) {
        const rw_piece_t *pc = &t->pieces[i];
        apr_size_t j;
        switch (pc->kind) {
        case RW_PIECE_LIT:
            FZ_CHECK(pc->lit != NULL && pc->len > 0, "empty literal piece");
            for (j = 0; j < pc->len; ++j)
                h = h * 31 + (unsigned char)pc->lit[j];
            break;
        case RW_PIECE_RULEREF:
        case RW_PIECE_CONDREF:
            FZ_CHECK(pc->n >= 0 && pc->n < RW_MAX_REFS, "$N/%N number");
            break;
        case RW_PIECE_VAR:
            h += walk_var(&pc->var, 0);
            break;
        case RW_PIECE_MAP:
            FZ_CHECK(pc->map != NULL && pc->key != NULL, "map piece");
            h += touch(pc->map);
            h += walk_tpl(pc->key, depth + 1);
            if (pc->dflt)
                h += walk_tpl(pc->dflt, depth + 1);
            break;
        default:
            FZ_CHECK(0, "piece kind");
        }
    }
    if (t->literal && t->npieces == 1)
        FZ_CHECK(strlen(t->literal) <= t->pieces[0].len, "literal length");
    return h;
}

static void check_rule(const rw_rule_t *r)
{
    int i;

    if (r->subst)
        walk_tpl(r->subst, 0);
    if (r->type_tpl)
        walk_tpl(r->type_tpl, 0);
    if (r->handler_tpl)
        walk_tpl(r->handler_tpl, 0);
    if (r->bchars)
        touch(r->bchars);
    if (r->bnechars)
        touch(r->bnechars);
    for (i = 0; r->env && i < r->env->nelts; ++i)
        walk_tpl(APR_ARRAY_IDX(r->env, i, rw_env_t).spec, 0);
    for (i = 0; r->cookies && i < r->cookies->nelts; ++i)
        walk_tpl(APR_ARRAY_IDX(r->cookies, i, const rw_tpl_t *), 0);
    /* (with F or G as well, the answer status wins: [R=301,F] is 403) */
    if ((r->flags & RW_RF_REDIRECT) && !(r->flags & RW_RF_STATUS))
        FZ_CHECK(ap_is_HTTP_REDIRECT(r->status), "[R] without a 3xx code");
    if (r->flags & RW_RF_STATUS)
        FZ_CHECK(r->status >= 100 && r->status < 600, "answer status");
}

static void check_cond(const rw_cond_t *c)
{
    if (c->input)
        walk_tpl(c->input, 0);
    if (c->pattern)
        touch(c->pattern);
    if (c->kind == RW_COND_REGEX)
        FZ_CHECK(c->re != NULL && c->re->ncaps >= 0, "regex condition");
    if (c->kind >= RW_COND_STR_LT && c->kind <= RW_COND_INT_NE)
        FZ_CHECK(c->operand != NULL, "comparison operand");
    if (c->operand)
        touch(c->operand);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    rw_map_pre_config(fz_global);   /* int: functions for RewriteMap */
    rw_parse_init(fz_global);       /* the .htaccess line cache */
    if (cache)
        cache->budget = 64 * RW_HTCACHE_NODE;
    return 0;
}

/* Every entry of the cache listed in its table; no request holds a
 * batch any more (each batch's references are its listed entries); the
 * charges add up; within the budget (but for a lone entry, which is
 * never evicted). */
static void check_cache_idle(void)
{
    htentry_t *e;
    apr_size_t bytes = 0;
    apr_pool_t *tmp;
    apr_hash_t *seen;
    apr_hash_index_t *hi;

    apr_pool_create(&tmp, NULL);
    seen = apr_hash_make(tmp);
    for (e = cache->head; e; e = e->next) {
        int *n;
        FZ_CHECK(apr_hash_get(e->table, e->line, APR_HASH_KEY_STRING) == e,
                 "listed entry not in its table");
        n = apr_hash_get(seen, &e->batch, sizeof(e->batch));
        if (!n) {
            n = apr_pcalloc(tmp, sizeof(*n));
            apr_hash_set(seen, apr_pmemdup(tmp, &e->batch, sizeof(e->batch)),
                         sizeof(e->batch), n);
            bytes += e->batch->bytes;
        }
        ++*n;
    }
    for (hi = apr_hash_first(tmp, seen); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        FZ_CHECK((*(htbatch_t *const *)k)->refs == *(int *)v,
                 "batch still in use after its request");
    }
    FZ_CHECK(bytes == cache->bytes, "cache byte count");
    FZ_CHECK(cache->bytes <= cache->budget || cache->head == cache->tail,
             "cache over its budget");
    apr_pool_destroy(tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input_t in = { data, size };
    apr_pool_t *p;
    unsigned mode;
    char *piece[7], *a1, *a2, *a3;
    cmd_parms cmd;
    server_rec *s;
    rw_server_conf_t *sc;
    rw_dir_conf_t *dc;
    void *dconf;
    rw_rule_t rule;
    rw_cond_t cond;
    rw_regex_t *re = NULL;
    const rw_tpl_t *tpl = NULL;
    const char *err;
    int i;

    if (apr_pool_create(&p, fz_global) != APR_SUCCESS)
        abort();
    mode = fz_byte(&in);
    fz_split(p, &in, 7, piece);
    unit_default_cflags = ((mode & 1) ? AP_REG_ICASE : 0) |
                          ((mode & 2) ? AP_REG_NEWLINE : 0) |
                          ((mode & 4) ? AP_REG_DOTALL : 0) |
                          ((mode & 8) ? AP_REG_DOLLAR_ENDONLY : 0);

    /* the contexts the handlers write into */
    s = fz_server(p, APLOG_WARNING);
    sc = apr_pcalloc(p, sizeof(*sc));
    sc->state = RW_UNSET;
    sc->maps = apr_hash_make(p);
    sc->rules = apr_array_make(p, 2, sizeof(rw_rule_t));
    sc->pending = apr_array_make(p, 2, sizeof(rw_cond_t));
    sc->server = s;
    ap_set_module_config(s->module_config, &rewrite_module, sc);
    dc = apr_pcalloc(p, sizeof(*dc));
    dc->state = RW_UNSET;
    dc->rules = apr_array_make(p, 2, sizeof(rw_rule_t));
    dc->pending = apr_array_make(p, 2, sizeof(rw_cond_t));
    dc->directory = "/var/www/html/";
    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = p;
    cmd.temp_pool = p;
    cmd.server = s;
    cmd.path = (mode & 16) ? NULL : "/var/www/html/";
    dconf = (mode & 16) ? NULL : dc;

    /* 1: the argument line, split and compiled by the handlers */
    if (!rw_split_args(p, piece[0], &a1, &a2, &a3)) {
        FZ_CHECK(a1 && a2, "split_args: two words on success");
        touch(a1);
        touch(a2);
        if (a3)
            touch(a3);
        if ((mode & 64) && !rw_cmd_map(&cmd, dconf, a1, a2, a3)) {
            rw_map_t *m = apr_hash_get(sc->maps, a1, APR_HASH_KEY_STRING);
            FZ_CHECK(m && m->backend, "RewriteMap entry");
        }
    }
    else
        FZ_CHECK(!a2, "split_args: error with a second word");
    unit_in_htaccess = (mode & 128) && cache;
    if (rw_cmd_cond(&cmd, dconf, piece[0]))
        /* a configuration error: httpd would stop here, and the
         * half-filled condition left pending is never used */
        apr_array_clear((mode & 16) ? sc->pending : dc->pending);
    if (!rw_cmd_rule(&cmd, dconf, piece[0])) {
        apr_array_header_t *rules = (mode & 16) ? sc->rules : dc->rules;
        const rw_rule_t *r = &APR_ARRAY_IDX(rules, rules->nelts - 1,
                                            rw_rule_t);
        check_rule(r);
        FZ_CHECK(r->re != NULL, "rule without regex");
        for (i = 0; i < r->nconds; ++i)
            if (r->conds[i].kind != RW_COND_EXPR)
                check_cond(&r->conds[i]);
        if (unit_in_htaccess) {
            /* again: a hit (or a JIT-compiled replacement), the same */
            rw_rule_t again;
            FZ_CHECK(!compile_cached(&cmd, 0, piece[0], &again,
                                     sizeof(again), rule_fn),
                     "cached line fails the second time");
            FZ_CHECK(!strcmp(again.pattern, r->pattern) &&
                     again.flags == r->flags && again.negate == r->negate &&
                     !strcmp(again.output, r->output),
                     "cached rule differs");
            check_rule(&again);
            FZ_CHECK(cache->bytes <= cache->budget, "cache over its budget");
        }
    }
    unit_in_htaccess = 0;

    /* 2: rule flags */
    memset(&rule, 0, sizeof(rule));
    rule.maxrounds = RW_MAX_ROUNDS;
    if (!rw_parse_rule_flags(p, piece[1], &rule))
        check_rule(&rule);

    /* 3 and 4: condition flags and pattern */
    memset(&cond, 0, sizeof(cond));
    err = rw_parse_cond_flags(p, piece[2], &cond);
    FZ_CHECK(err || (cond.flags & ~(RW_CF_NOCASE | RW_CF_ORNEXT |
                                    RW_CF_NOVARY)) == 0, "cond flag bits");
    if (!rw_parse_cond_pattern(p, piece[3], &cond))
        check_cond(&cond);

    /* 5: a template */
    if (!rw_parse_template(p, piece[4], &tpl))
        walk_tpl(tpl, 0);

    /* 6: a regex */
    if (!rw_regex_compile(p, piece[5], (mode & 32) != 0, &re))
        FZ_CHECK(re && (re->pcre != NULL) == (re->shape == RW_SHAPE_PCRE) &&
                 (re->shape != RW_SHAPE_EXACT || re->lit) &&
                 (re->tail != NULL) == (re->shape >= RW_SHAPE_CONTAINS) &&
                 re->ncaps >= 0, "compiled regex");

    /* 7: RewriteOptions and RewriteBase */
    rw_cmd_options(&cmd, dconf, piece[6]);
    rw_cmd_base(&cmd, dconf, piece[6]);

    apr_pool_destroy(p);
    if (cache)
        check_cache_idle();
    return 0;
}
