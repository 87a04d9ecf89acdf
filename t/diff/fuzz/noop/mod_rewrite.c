/*
 * A do-nothing stand-in for mod_rewrite, for fuzz-diff's self-test: it
 * accepts every Rewrite* directive in every context and does nothing.
 * The fuzzer must report differences on most requests against it.
 * Built into a temporary directory by `fuzz-diff --self-test` (apxs -c);
 * never installed.
 */
#include "httpd.h"
#include "http_config.h"

static const char *noop_cmd(cmd_parms *cmd, void *dconf, const char *args)
{
    (void)cmd; (void)dconf; (void)args;
    return NULL;
}

static const command_rec noop_cmds[] = {
    AP_INIT_RAW_ARGS("RewriteEngine", noop_cmd, NULL, OR_FILEINFO, "no-op"),
    AP_INIT_RAW_ARGS("RewriteOptions", noop_cmd, NULL, OR_FILEINFO, "no-op"),
    AP_INIT_RAW_ARGS("RewriteBase", noop_cmd, NULL, OR_FILEINFO, "no-op"),
    AP_INIT_RAW_ARGS("RewriteCond", noop_cmd, NULL, OR_FILEINFO, "no-op"),
    AP_INIT_RAW_ARGS("RewriteRule", noop_cmd, NULL, OR_FILEINFO, "no-op"),
    AP_INIT_RAW_ARGS("RewriteMap", noop_cmd, NULL, RSRC_CONF, "no-op"),
    { NULL }
};

module AP_MODULE_DECLARE_DATA rewrite_module = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL,
    noop_cmds,
    NULL
};
