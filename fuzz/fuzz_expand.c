/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * fuzz_expand: substitution expansion (the static expand() of
 * rewrite_exec.c, included here as t/unit/test_exec.c does) with random
 * back-references, variables and maps, on a fake request.
 *
 * Input: a mode byte, 42 capture bytes, then 9 pieces (fuzz_common.h):
 *   mode  bit 0: trace8 logging (formats every trace line)
 *         bit 1: int maps lc, uc, esc, unesc (int:tolower, toupper,
 *                escape, unescape) exist; else no map at all
 *         bit 2: expand as a rule's substitution (ctx->cur set: [B],
 *                [BCTLS], ... apply); else as a TestString
 *         bit 3: real captures: piece 2 compiled and matched against
 *                pieces 3 and 4 (the first capture byte then gives the
 *                RegexDefaultOptions: 1 ICASE, 2 NEWLINE, 4 no DOTALL,
 *                8 no DOLLAR_ENDONLY; 16 and 32: pieces 3 and 4
 *                repeated to 20 KB, which overflows the JIT's stack);
 *                else fake captures from the
 *                capture bytes (below)
 *         bit 4: the request is a sub-request
 *         bit 5: also run the rule's E=, CO=, T= and H= (set_env,
 *                set_cookies, expand)
 *         bit 6: a txt map "txt" exists as well (bit 1)
 *         bit 7: directory context (ctx->perdir)
 *   captures  $ then %: a count byte (mod 11) and 10 pairs (start,
 *             length) folded into the subject; start 255 = unset group
 *   1 flags     rule flags "[...]" (parsed; errors give no flags)
 *   2 pattern   regex for real captures
 *   3 subject   what the rule's pattern matched ($N)
 *   4 csubject  what the last condition matched (%N)
 *   5 uri       r->uri and r->filename
 *   6 args      r->args (empty: none)
 *   7 header    value of Host, User-Agent, Cookie, Referer, Accept and
 *               X-Fuzz
 *   8 env       value of ENV:FUZZ (subprocess_env) and of note FUZZ_NOTE
 *   9 template  the substitution
 * Look-aheads (%{LA-U:..}) in a template make the request a sub-request
 * (they would need a server).  Besides the sanitizers: a template made
 * of literals and unescaped references must expand to exactly the
 * concatenation of its parts, and with real captures the engine's
 * prefilter (a pattern's required leading literal) must never change
 * whether a subject matches.
 */
#include "../rewrite_exec.c"

#include <unistd.h>

#include "apr_file_io.h"

#include "fuzz_common.h"
#include "fuzz_check.h"

static const char *map_file;    /* for the "txt" map */

static void remove_map_file(void)
{
    if (map_file)
        unlink(map_file);
}

static int var_has_lookahead(const rw_var_t *v)
{
    return v->kind == RW_VAR_LA_U || v->kind == RW_VAR_LA_F;
}

static int has_lookahead(const rw_tpl_t *t)
{
    int i;

    if (!t)
        return 0;
    for (i = 0; i < t->npieces; ++i) {
        const rw_piece_t *pc = &t->pieces[i];
        if (pc->kind == RW_PIECE_VAR && var_has_lookahead(&pc->var))
            return 1;
        if (pc->kind == RW_PIECE_MAP &&
            (has_lookahead(pc->key) || has_lookahead(pc->dflt)))
            return 1;
    }
    return 0;
}

static int rule_has_lookahead(const rw_rule_t *r)
{
    int i;

    if (has_lookahead(r->type_tpl) || has_lookahead(r->handler_tpl))
        return 1;
    for (i = 0; r->env && i < r->env->nelts; ++i)
        if (has_lookahead(APR_ARRAY_IDX(r->env, i, rw_env_t).spec))
            return 1;
    for (i = 0; r->cookies && i < r->cookies->nelts; ++i)
        if (has_lookahead(APR_ARRAY_IDX(r->cookies, i, const rw_tpl_t *)))
            return 1;
    return 0;
}

extern int unit_default_cflags;     /* t/unit/stubs.c */

/* s repeated up to about n bytes (at least once). */
static char *repeat(apr_pool_t *p, const char *s, apr_size_t n)
{
    apr_size_t l = strlen(s), k = l ? (n + l - 1) / l : 1, i;
    char *out = apr_palloc(p, k * l + 1);

    for (i = 0; i < k; ++i)
        memcpy(out + i * l, s, l);
    out[k * l] = '\0';
    return out;
}

/* Whether PCRE2 itself matches s with pattern, compiled here with the
 * options the module uses, without the engine's prefilter (a pattern
 * decided without PCRE has no code in the module) and with the
 * interpreter and PCRE2's default limits: the stock module's answer (a
 * JIT error must never change it); -1 when PCRE2 refuses the pattern. */
static pcre2_match_context *plain_mctx(void)
{
    static pcre2_match_context *mc;     /* one per fuzzer process */

    if (!mc) {
        mc = pcre2_match_context_create(NULL);
        if (!mc)
            abort();
        pcre2_set_match_limit(mc, 200000);
        pcre2_set_depth_limit(mc, 20000);
    }
    return mc;
}

static int plain_match(const char *pattern, int nocase, const char *s,
                       rw_match_t *m)
{
    pcre2_match_data *md = pcre2_match_data_create(RW_MAX_REFS, NULL);
    int err, rc;
    PCRE2_SIZE off;
    pcre2_code *code;

    if (!md)
        abort();
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         rw_pcre_options(nocase), &err, &off, NULL);
    if (!code) {
        pcre2_match_data_free(md);
        return -1;
    }
    /* a bounded search: a backtracking pattern on a 20,000-byte subject
     * would take the interpreter longer than the fuzzer's timeout under
     * PCRE2's default limits (CI, seed-dependent); such a case is not
     * compared (-2) */
    rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, PCRE2_NO_JIT, md,
                     plain_mctx());
    if (rc >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int i;
        m->n = rc == 0 ? RW_MAX_REFS : rc;
        for (i = 0; i < 2 * m->n; ++i)
            m->ov[i] = ov[i] != PCRE2_UNSET ? (int)ov[i] : -1;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT)
        return -2;
    return rc >= 0;
}

/* Fills m with captures of subject from the 21 bytes at b. */
static void fake_match(const unsigned char *b, const char *subject,
                       rw_match_t *m)
{
    int len = (int)strlen(subject), i;

    memset(m, 0, sizeof(*m));
    m->subject = subject;
    m->n = b[0] % (RW_MAX_REFS + 1);
    for (i = 0; i < RW_MAX_REFS; ++i) {
        int a = b[1 + 2 * i], l = b[2 + 2 * i];
        if (i >= m->n || a == 255) {
            m->ov[2 * i] = m->ov[2 * i + 1] = -1;
            continue;
        }
        m->ov[2 * i] = a % (len + 1);
        m->ov[2 * i + 1] = m->ov[2 * i] + l % (len - m->ov[2 * i] + 1);
    }
}

/* The expansion of t when it has only literals and references and
 * nothing escapes them; NULL otherwise. */
static const char *expected(apr_pool_t *p, const rw_ctx_t *ctx,
                            const rw_tpl_t *t)
{
    char *out = apr_pstrdup(p, "");
    int i;

    if (ctx->cur && (ctx->cur->flags & (RW_RF_ESCAPEBACKREF |
                                        RW_RF_ESCAPECTLS)))
        return NULL;
    for (i = 0; i < t->npieces; ++i) {
        const rw_piece_t *pc = &t->pieces[i];
        const rw_match_t *m;
        const char *part = "";
        apr_size_t len = 0;
        switch (pc->kind) {
        case RW_PIECE_LIT:
            part = pc->lit;
            len = pc->len;
            break;
        case RW_PIECE_RULEREF:
        case RW_PIECE_CONDREF:
            m = pc->kind == RW_PIECE_RULEREF ? &ctx->rule : &ctx->cond;
            if (m->subject && pc->n < m->n && m->ov[2 * pc->n] >= 0) {
                part = m->subject + m->ov[2 * pc->n];
                len = (apr_size_t)(m->ov[2 * pc->n + 1] - m->ov[2 * pc->n]);
            }
            break;
        default:
            return NULL;
        }
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, part, len), NULL);
    }
    return out;
}

static void add_int_map(apr_pool_t *p, server_rec *s, rw_server_conf_t *sc,
                        const char *name, const char *type, const char *src)
{
    cmd_parms cmd;
    rw_map_t *map = NULL;

    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = p;
    cmd.temp_pool = p;
    cmd.server = s;
    if (rw_map_define(&cmd, name, apr_pstrcat(p, type, ":", src, NULL), NULL,
                      &map))
        abort();        /* the set-up, not the code under test */
    apr_hash_set(sc->maps, name, APR_HASH_KEY_STRING, map);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char text[] =
        "# a txt map for fuzz_expand\n"
        "home /index.html\n"
        "a b\n"
        "user /~user/\n"
        "q x=1?y=2\n"
        "sp %20\n";
    apr_file_t *f;
    apr_size_t n = sizeof(text) - 1;
    const char *tmp = NULL;
    char *path;

    (void)argc;
    (void)argv;
    fz_init();
    rw_map_pre_config(fz_global);
    if (apr_temp_dir_get(&tmp, fz_global) != APR_SUCCESS)
        tmp = "/tmp";
    path = apr_psprintf(fz_global, "%s/fuzz-expand-map-XXXXXX", tmp);
    if (apr_file_mktemp(&f, path, APR_CREATE | APR_WRITE | APR_EXCL,
                        fz_global) != APR_SUCCESS ||
        apr_file_write_full(f, text, n, NULL) != APR_SUCCESS ||
        apr_file_close(f) != APR_SUCCESS)
        abort();
    map_file = path;
    atexit(remove_map_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input_t in = { data, size };
    apr_pool_t *p;
    unsigned mode;
    unsigned char caps[42];
    char *piece[9];
    server_rec *s;
    request_rec *r;
    rw_server_conf_t *sc;
    rw_rule_t *rule;
    rw_ctx_t ctx;
    rw_regex_t *re = NULL;
    const rw_tpl_t *t;
    const char *out, *want;
    int i;

    if (apr_pool_create(&p, fz_global) != APR_SUCCESS)
        abort();
    mode = fz_byte(&in);
    for (i = 0; i < (int)sizeof(caps); ++i)
        caps[i] = (unsigned char)fz_byte(&in);
    fz_split(p, &in, 9, piece);

    if (rw_parse_template(p, piece[8], &t))
        goto done;
    rule = apr_pcalloc(p, sizeof(*rule));
    rule->maxrounds = RW_MAX_ROUNDS;
    if (*piece[0] && rw_parse_rule_flags(p, piece[0], rule)) {
        memset(rule, 0, sizeof(*rule));
        rule->maxrounds = RW_MAX_ROUNDS;
    }

    s = fz_server(p, (mode & 1) ? APLOG_TRACE8 : APLOG_WARNING);
    sc = apr_pcalloc(p, sizeof(*sc));
    sc->state = 1;
    sc->maps = apr_hash_make(p);
    sc->rules = apr_array_make(p, 1, sizeof(rw_rule_t));
    sc->pending = apr_array_make(p, 1, sizeof(rw_cond_t));
    sc->server = s;
    ap_set_module_config(s->module_config, &rewrite_module, sc);
    if (mode & 2) {
        add_int_map(p, s, sc, "lc", "int", "tolower");
        add_int_map(p, s, sc, "uc", "int", "toupper");
        add_int_map(p, s, sc, "esc", "int", "escape");
        add_int_map(p, s, sc, "unesc", "int", "unescape");
        if (mode & 64)
            add_int_map(p, s, sc, "txt", "txt", map_file);
    }

    r = fz_request(p, s, piece[4], *piece[5] ? piece[5] : NULL);
    for (i = 0; i < 6; ++i) {
        static const char *const names[] = { "Host", "User-Agent", "Cookie",
                                             "Referer", "Accept", "X-Fuzz" };
        apr_table_setn(r->headers_in, names[i], piece[6]);
    }
    apr_table_setn(r->subprocess_env, "FUZZ", piece[7]);
    apr_table_setn(r->notes, "FUZZ_NOTE", piece[7]);
    if ((mode & 16) || has_lookahead(t) ||
        ((mode & 32) && rule_has_lookahead(rule)))
        /* a sub-request for its main request's own URI: no look-ahead
         * (a real sub-request would need a server) */
        r->main = fz_request(p, s, r->uri, NULL);

    memset(&ctx, 0, sizeof(ctx));
    ctx.r = r;
    if (mode & 128)
        ctx.perdir = "/var/www/html/";
    if (mode & 8) {
        int m1, m2, p1, p2;
        rw_match_t pm1, pm2;
        /* the capture bytes are free: RegexDefaultOptions from the first */
        unit_default_cflags = ((caps[0] & 1) ? AP_REG_ICASE : 0) |
                              ((caps[0] & 2) ? AP_REG_NEWLINE : 0) |
                              ((caps[0] & 4) ? 0 : AP_REG_DOTALL) |
                              ((caps[0] & 8) ? 0 : AP_REG_DOLLAR_ENDONLY);
        if (rw_regex_compile(p, piece[1], (rule->flags & RW_RF_NOCASE) != 0,
                             &re))
            goto done;
        rw_regex_jit(re);
        /* long subjects: the JIT's stack overflows on them */
        if (caps[0] & 16)
            piece[2] = repeat(p, piece[2], 20000);
        if (caps[0] & 32)
            piece[3] = repeat(p, piece[3], 20000);
        m1 = regex_match(r, re, piece[2], &ctx.rule);
        m2 = regex_match(r, re, piece[3], &ctx.cond);
        /* neither the prefilter (the pattern's required literal) nor the
         * JIT (its stack, its limits) changes the interpreter's answer */
        p1 = plain_match(piece[1], (rule->flags & RW_RF_NOCASE) != 0,
                         piece[2], &pm1);
        p2 = plain_match(piece[1], (rule->flags & RW_RF_NOCASE) != 0,
                         piece[3], &pm2);
        FZ_CHECK(p1 == -2 || m1 == p1,
                 "prefilter, shape or JIT changed a match result ($N subject)");
        FZ_CHECK(p2 == -2 || m2 == p2,
                 "prefilter, shape or JIT changed a match result (%N subject)");
        /* and the captures: the pairs match_ref reads */
        FZ_CHECK(!(m1 && p1 == 1) || (ctx.rule.n == pm1.n &&
                 !memcmp(ctx.rule.ov, pm1.ov, 2 * (size_t)pm1.n * sizeof(int))),
                 "shape or JIT changed the captures ($N subject)");
        FZ_CHECK(!(m2 && p2 == 1) || (ctx.cond.n == pm2.n &&
                 !memcmp(ctx.cond.ov, pm2.ov, 2 * (size_t)pm2.n * sizeof(int))),
                 "shape or JIT changed the captures (%N subject)");
    }
    else {
        fake_match(caps, piece[2], &ctx.rule);
        fake_match(caps + 21, piece[3], &ctx.cond);
    }
    if (mode & 4)
        ctx.cur = rule;

    out = expand(&ctx, t);
    FZ_CHECK(out != NULL, "expand returned NULL");
    (void)strlen(out);
    if (t->literal)
        FZ_CHECK(!strcmp(out, t->literal), "literal template");
    want = expected(p, &ctx, t);
    if (want)
        FZ_CHECK(!strcmp(out, want), "expansion of literals and $N/%N");

    if (mode & 32) {
        set_env(&ctx, rule);
        set_cookies(&ctx, rule);
        if (rule->type_tpl)
            (void)strlen(expand(&ctx, rule->type_tpl));
        if (rule->handler_tpl)
            (void)strlen(expand(&ctx, rule->handler_tpl));
    }

done:
    apr_pool_destroy(p);
    return 0;
}
