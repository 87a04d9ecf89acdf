/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * mod_rewrite: module glue only.  The directive table, the creation and
 * merging of configurations, and the hooks, each a thin call into
 * rewrite_parse.c (config time) or rewrite_exec.c (request time).
 *
 * This file must be compiled under the name mod_rewrite.c: httpd takes
 * the module's name from it, and <IfModule mod_rewrite.c> depends on it.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_request.h"
#include "http_log.h"
#include "http_protocol.h"

#include "mod_status.h"

#include "rewrite.h"
#include "rewrite_stats.h"

/* ------------------------------------------------------------------ */
/* Configuration records                                               */

static void *create_server(apr_pool_t *p, server_rec *s)
{
    rw_server_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->state = RW_UNSET;
    c->maps = apr_hash_make(p);
    c->rules = apr_array_make(p, 2, sizeof(rw_rule_t));
    c->pending = apr_array_make(p, 2, sizeof(rw_cond_t));
    c->server = s;
    return c;
}

/* Rules of a parent context joined to the child's, in the order the
 * options ask for. */
static apr_array_header_t *join_rules(apr_pool_t *p,
                                      apr_array_header_t *parent,
                                      apr_array_header_t *child, int before)
{
    return before ? apr_array_append(p, parent, child)
                  : apr_array_append(p, child, parent);
}

/* How a child takes its parent's rules: RW_OPT_INHERIT (after its own),
 * RW_OPT_INHERIT_BEFORE, or 0.  Plain Inherit, asked for by the child or
 * by the parent's InheritDown, wins over the "Before" forms. */
static unsigned inherit_mode(unsigned parent, unsigned child)
{
    int down = !(child & RW_OPT_IGNORE_INHERIT);

    if ((child & RW_OPT_INHERIT) || (down && (parent & RW_OPT_INHERIT_DOWN)))
        return RW_OPT_INHERIT;
    if ((child & RW_OPT_INHERIT_BEFORE) ||
        (down && (parent & RW_OPT_INHERIT_DOWN_BEFORE)))
        return RW_OPT_INHERIT_BEFORE;
    return 0;
}

/* What a server and a directory record merge alike: the engine state
 * and the options are the child's, else its parent's (a record without a
 * RewriteOptions line takes its parent's, Inherit included, as with the
 * stock module); the rules are the child's, with Inherit (or the
 * parent's InheritDown) joined to the parent's.  Returns the inherit
 * mode. */
static unsigned merge_engine(apr_pool_t *p, int bstate, unsigned bopts,
                             apr_array_header_t *brules, int astate,
                             unsigned aopts, int aset,
                             apr_array_header_t *arules, int *state,
                             unsigned *opts, apr_array_header_t **rules)
{
    unsigned inherit;

    *state = astate != RW_UNSET ? astate : bstate;
    *opts = aset ? aopts : bopts;
    inherit = inherit_mode(bopts, *opts);
    *rules = inherit ? join_rules(p, brules, arules,
                                  inherit == RW_OPT_INHERIT_BEFORE)
                     : arules;
    return inherit;
}

/* A virtual host inherits the main server's engine state; rules and maps
 * only with RewriteOptions Inherit (or the parent's InheritDown). */
static void *merge_server(apr_pool_t *p, void *basev, void *addv)
{
    rw_server_conf_t *base = basev, *add = addv;
    rw_server_conf_t *c = apr_pcalloc(p, sizeof(*c));
    unsigned inherit;

    inherit = merge_engine(p, base->state, base->options, base->rules,
                           add->state, add->options, add->options_set,
                           add->rules, &c->state, &c->options, &c->rules);
    c->options_set = add->options_set;
    c->server = add->server;
    c->pending = add->pending;
    c->maps = inherit ? apr_hash_overlay(p, add->maps, base->maps)
                      : add->maps;
    return c;
}

static void *create_dir(apr_pool_t *p, char *path)
{
    rw_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->state = RW_UNSET;
    c->rules = apr_array_make(p, 2, sizeof(rw_rule_t));
    c->pending = apr_array_make(p, 2, sizeof(rw_cond_t));
    if (path) {
        apr_size_t n = strlen(path);
        c->directory = (n && path[n - 1] == '/')
            ? apr_pstrdup(p, path) : apr_pstrcat(p, path, "/", NULL);
    }
    return c;
}

static void *merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    rw_dir_conf_t *base = basev, *add = addv;
    rw_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    /* InheritDown reaches the levels below only through the options
     * they take from their parent: a child with a RewriteOptions line of
     * its own passes its own options on, as with the stock module */
    merge_engine(p, base->state, base->options, base->rules, add->state,
                 add->options, add->options_set, add->rules, &c->state,
                 &c->options, &c->rules);
    /* a merged record keeps the options it took, since httpd merges
     * merged records again (the <Location> walk over the directory
     * walk's result) */
    c->options_set = add->options_set || base->options_set;
    c->directory = add->directory;
    c->pending = add->pending;
    /* RewriteBase: with MergeBase in the merged options, the child's
     * own base if it has a line or a MergeBase merge gave it one, else
     * the parent's; without MergeBase, the child's base, marked as not
     * set.  httpd merges the sections and .htaccess records a request
     * matches among themselves first and the server's default record
     * over the result (then the <Location> records over that), so with
     * a MergeBase in the vhost (or below) that last merge can take the
     * default record's empty base instead of a base that a merge without
     * MergeBase carried, as with the stock module (the rule fits every
     * configuration of t/diff/cases/mergebase-*-merge-order.case and
     * 257 more observed with stock) */
    if (c->options & RW_OPT_MERGEBASE) {
        c->baseurl = add->baseurl_set ? add->baseurl : base->baseurl;
        c->baseurl_set = add->baseurl_set || base->baseurl_set;
    }
    else
        c->baseurl = add->baseurl;
    return c;
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */

static const command_rec rewrite_cmds[] = {
    AP_INIT_FLAG("RewriteEngine", rw_cmd_engine, NULL, OR_FILEINFO,
                 "On or Off to enable or disable (default) the whole "
                 "rewriting engine"),
    AP_INIT_ITERATE("RewriteOptions", rw_cmd_options, NULL, OR_FILEINFO,
                    "List of option strings to set"),
    AP_INIT_TAKE1("RewriteBase", rw_cmd_base, NULL, OR_FILEINFO,
                  "the base URL of the per-directory context"),
    AP_INIT_RAW_ARGS("RewriteCond", rw_cmd_cond, NULL, OR_FILEINFO,
                     "an input string and a to be applied regexp-pattern"),
    AP_INIT_RAW_ARGS("RewriteRule", rw_cmd_rule, NULL, OR_FILEINFO,
                     "an URL-applied regexp-pattern and a substitution URL"),
    AP_INIT_TAKE23("RewriteMap", rw_cmd_map, NULL, RSRC_CONF,
                   "a mapname and a filename and options"),
    AP_INIT_FLAG("RewriteStatistics", rw_cmd_statistics, NULL, RSRC_CONF,
                 "On to count rule hits, note the deciding rule and serve "
                 "the rewrite-status page (main server only)"),
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Hooks                                                               */

static int pre_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp)
{
    rw_map_pre_config(p);
    rw_parse_init(p);
    rw_jit_begin(p);
    rw_stats_pre_config(p);
    return OK;
}

static int post_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    server_rec *v;
    int rc;

    /* every server's rule list gets its index (a vhost without rewrite
     * directives shares the main server's record: made once) */
    for (v = s; v; v = v->next) {
        rw_server_conf_t *sc = ap_get_module_config(v->module_config,
                                                    &rewrite_module);
        if (sc && !sc->index && sc->rules) {
            rw_rule_t *rules = (rw_rule_t *)sc->rules->elts;
            int i, n = sc->rules->nelts;
            sc->index = rw_index_build(p, rules, n);
            for (i = 0; i < n; ++i)
                if (rules[i].re && rules[i].re->pcre &&
                    (n >= RW_NOJIT_MIN_RULES ||
                     (rules[i].re->lit && rules[i].re->litlen >= 2 &&
                      !rules[i].negate &&
                      !rw_pattern_backtracks(rules[i].pattern))))
                    rules[i].re->pcre->nojit = 1;
        }
    }
    rw_jit_all();
    rw_exec_post_config();
    if ((rc = rw_stats_post_config(p, s)) != OK)
        return rc;
    return rw_map_post_config(p, plog, ptemp, s);
}

static void child_init(apr_pool_t *p, server_rec *s)
{
    rw_map_child_init(p, s);
}

/* translate_name, first: server rules see the URL before any other
 * module maps it (Alias, core). */
static int hook_translate(request_rec *r)
{
    return rw_exec_server(r);
}

/* fixups, first: directory rules need the .htaccess files, which are read
 * only during the directory walk after translation and access checks. */
static int hook_fixups(request_rec *r)
{
    return rw_exec_dir(r);
}

/* fixups, last: T= and H= remembered by the rules are applied after the
 * other modules' fixups (mod_mime chose already; mod_include and mod_dir
 * have decided), as with the stock module. */
static int hook_mimetype(request_rec *r)
{
    return rw_exec_mimetype(r);
}

static int hook_handler(request_rec *r)
{
    return rw_exec_redirect_handler(r);
}

/* SetHandler rewrite-status: the statistics page (RewriteStatistics On). */
static int hook_status_page(request_rec *r)
{
    return rw_status_handler(r);
}

/* log_transaction, first: before mod_log_config reads the notes. */
static int hook_log(request_rec *r)
{
    rw_stats_log(r);
    return DECLINED;
}

/* mod_status's server-status, when mod_status is loaded: a short
 * rewrite section. */
static int hook_server_status(request_rec *r, int flags)
{
    return rw_status_hook(r, flags);
}

/* The public optional function: other modules add int: map functions. */
static void ap_register_rewrite_mapfunc(char *name, rewrite_mapfunc_t *func)
{
    rw_map_register_func(name, func);
}

static void register_hooks(apr_pool_t *p)
{
    /* mod_proxy must see [P] results; mod_alias and mod_userdir must not
     * translate before us. */
    static const char *const after_us[] = { "mod_proxy.c", NULL };

    APR_REGISTER_OPTIONAL_FN(ap_register_rewrite_mapfunc);
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(hook_translate, NULL, after_us, APR_HOOK_FIRST);
    ap_hook_fixups(hook_fixups, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_fixups(hook_mimetype, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(hook_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hook_status_page, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(hook_log, NULL, NULL, APR_HOOK_FIRST);
    APR_OPTIONAL_HOOK(ap, status_hook, hook_server_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(rewrite) = {
    STANDARD20_MODULE_STUFF,
    create_dir,
    merge_dir,
    create_server,
    merge_server,
    rewrite_cmds,
    register_hooks
};
