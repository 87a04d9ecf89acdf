/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of rewrite_stats.c: rule identity (file, conditions, text;
 * not the line), counters and notes, the carry-over of counters to the
 * next generation (same rules kept, changed rules at 0), and the bounded
 * .htaccess table (every hit either counted or in htaccess_dropped).
 */
#include "apr_strings.h"

/* included for its static functions */
#include "../../rewrite_stats.c"

#include "unit.h"
#include "fake_request.h"

#define P unit_pool

typedef struct {
    cmd_parms cmd;
    ap_directive_t dir;
    apr_array_header_t *pending;
} fake_cmd_t;

static void fake_cmd(fake_cmd_t *f, server_rec *s, const char *file, int line)
{
    memset(f, 0, sizeof(*f));
    f->dir.filename = file;
    f->dir.line_num = (unsigned)line;
    f->dir.directive = "RewriteRule";
    f->cmd.directive = &f->dir;
    f->cmd.server = s;
    f->cmd.pool = P;
    f->cmd.override = RSRC_CONF;       /* read from httpd.conf */
    f->pending = apr_array_make(P, 1, sizeof(rw_cond_t));
}

/* Reads "RewriteCond cond" (when not NULL) and "RewriteRule text" at
 * file:line into *rule. */
static void read_rule(server_rec *s, const char *file, int line,
                      const char *cond, const char *text, rw_rule_t *rule)
{
    fake_cmd_t f;

    fake_cmd(&f, s, file, line);
    memset(rule, 0, sizeof(*rule));
    if (cond)
        rw_stats_cond_read(&f.cmd, f.pending, cond);
    rw_stats_rule_read(&f.cmd, f.pending, rule, text);
}

static uint64_t id_of(int slot)
{
    return APR_ARRAY_IDX(cfg.rules, slot, rw_stats_rule_t).id;
}

static void test_identity_and_hits(server_rec *s)
{
    rw_rule_t a, b, c, d, a2, b2, c2;
    request_rec *r;
    const rw_stats_snapshot_t *snap;

    rw_stats_pre_config(P);
    cfg.enabled = 1;
    read_rule(s, "/c.conf", 10, "%{HTTPS} off", "^/a$ /b [L]", &a);
    read_rule(s, "/c.conf", 11, NULL, "^/a$ /b [L]", &b);
    read_rule(s, "/c.conf", 12, NULL, "^/c$ - [F]", &c);
    read_rule(s, "/c.conf", 13, NULL, "^/c$ - [F]", &d);
    CHECK_INT(0, a.slot, "first rule: slot 0");
    CHECK_INT(3, d.slot, "fourth rule: slot 3");
    CHECK_STR("/c.conf", a.file, "rule file");
    CHECK_INT(10, a.line, "rule line");
    CHECK(id_of(0) != id_of(1), "the same text, other conditions: two identities");
    CHECK(id_of(2) != id_of(3), "the same text twice: two identities");
    CHECK_STR("%{HTTPS} off",
              APR_ARRAY_IDX(cfg.rules, 0, rw_stats_rule_t).conds,
              "conditions registered with their rule");
    CHECK_STR("", APR_ARRAY_IDX(cfg.rules, 1, rw_stats_rule_t).conds,
              "conditions taken by the rule before");

    CHECK_INT(OK, rw_stats_post_config(P, s), "post_config");
    CHECK(rw_stats_enabled(), "enabled");
    r = unit_request(P, s, "/a", NULL);
    r->request_time = apr_time_from_sec(1000);
    rw_stats_hit(r, &a, 0);
    rw_stats_hit(r, &a, 0);
    rw_stats_hit(r, &c, 1);
    r->status = HTTP_FORBIDDEN;
    rw_stats_hit(r, &c, 1);
    CHECK_STR("/c.conf:12", apr_table_get(r->notes, RW_NOTE_RULE), "note: rule");
    CHECK_STR("forbidden", apr_table_get(r->notes, RW_NOTE_OUTCOME),
              "note: outcome");
    snap = rw_stats_snapshot(P);
    CHECK_INT(4, snap->nrules, "snapshot: rules");
    CHECK_INT(2, snap->counts[0].hits, "rule a: 2 hits");
    CHECK_INT(0, snap->counts[1].hits, "rule b: none");
    CHECK_INT(2, snap->counts[2].hits, "rule c: 2 hits");
    CHECK(snap->counts[0].last == apr_time_from_sec(1000), "last hit time");
    CHECK(snap->counts[1].last == 0, "never hit: time 0");

    /* a sub-request counts but notes nothing */
    {
        request_rec *sub = unit_request(P, s, "/a", NULL);
        sub->main = r;
        rw_stats_hit(sub, &b, 0);
        CHECK(apr_table_get(sub->notes, RW_NOTE_RULE) == NULL,
              "sub-request: no note");
    }

    /* next generation: a line inserted above (every line + 1), rule c's
     * text changed */
    rw_stats_pre_config(P);
    CHECK(!rw_stats_enabled(), "pre_config: off until post_config");
    cfg.enabled = 1;
    read_rule(s, "/c.conf", 11, "%{HTTPS} off", "^/a$ /b [L]", &a2);
    read_rule(s, "/c.conf", 12, NULL, "^/a$ /b [L]", &b2);
    read_rule(s, "/c.conf", 13, NULL, "^/c$ - [G]", &c2);
    CHECK_INT(OK, rw_stats_post_config(P, s), "post_config, next generation");
    snap = rw_stats_snapshot(P);
    CHECK_INT(3, snap->nrules, "next generation: rules");
    CHECK_INT(2, snap->counts[0].hits, "moved rule keeps its counter");
    CHECK_INT(1, snap->counts[1].hits, "moved rule keeps its counter (sub-request hit)");
    CHECK_INT(0, snap->counts[2].hits, "changed rule starts at 0");
    CHECK(snap->counts[0].last == apr_time_from_sec(1000),
          "moved rule keeps its last hit time");

    /* statistics off: the shared memory goes, hits do nothing */
    rw_stats_pre_config(P);
    CHECK_INT(OK, rw_stats_post_config(P, s), "post_config, off");
    CHECK(!rw_stats_enabled(), "off");
    CHECK(rw_stats_snapshot(P) == NULL, "off: no snapshot");
    rw_stats_hit(r, &a2, 0);
}

static void test_htaccess_table(server_rec *s)
{
    const rw_stats_snapshot_t *snap;
    request_rec *r;
    uint64_t counted = 0;
    int i, n = RW_STATS_HTSLOTS + 500;

    rw_stats_pre_config(P);
    cfg.enabled = 1;
    CHECK_INT(OK, rw_stats_post_config(P, s), "post_config, no rules");
    r = unit_request(P, s, "/x", NULL);
    for (i = 0; i < n; ++i) {
        rw_rule_t rule;
        memset(&rule, 0, sizeof(rule));
        rule.slot = -1;
        rule.file = apr_psprintf(P, "/var/www/site%d/.htaccess", i % 7);
        rule.line = i;
        rule.pattern = "^a$";
        rule.output = "b.html";
        rw_stats_hit(r, &rule, 0);
        if (i < 3)
            rw_stats_hit(r, &rule, 0);      /* counted twice, one entry */
    }
    snap = rw_stats_snapshot(P);
    CHECK(snap->nht <= RW_STATS_HTSLOTS, ".htaccess table: bounded");
    CHECK(snap->nht > RW_STATS_HTSLOTS / 2, ".htaccess table: mostly filled");
    for (i = 0; i < snap->nht; ++i)
        counted += snap->ht[i].count.hits;
    CHECK_INT(n + 3, counted + snap->ht_dropped,
              ".htaccess table: every hit counted or dropped");
    CHECK(snap->ht_dropped > 0, ".htaccess table full: hits dropped");
    for (i = 0; i < snap->nht; ++i)
        if (snap->ht[i].line == 1)
            break;
    CHECK(i < snap->nht, ".htaccess entry of line 1 kept");
    if (i < snap->nht) {
        CHECK_INT(2, snap->ht[i].count.hits, ".htaccess entry: 2 hits");
        CHECK_STR("/var/www/site1/.htaccess", snap->ht[i].file, ".htaccess entry: file");
        CHECK_STR("^a$ b.html", snap->ht[i].text, ".htaccess entry: text");
    }
    rw_stats_pre_config(P);
    rw_stats_post_config(P, s);
}

void test_stats(void)
{
    server_rec *s = unit_server(P, APLOG_WARNING);
    process_rec *proc = apr_pcalloc(P, sizeof(*proc));
    apr_pool_t *pp;

    apr_pool_create(&pp, P);
    proc->pool = pp;
    s->process = proc;
    test_identity_and_hits(s);
    test_htaccess_table(s);
}
