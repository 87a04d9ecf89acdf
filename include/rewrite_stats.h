/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Rule statistics (issue 18): which rule decided a request, and how often
 * every rule matched.  Turned on by `RewriteStatistics On` in the main
 * server config; without it nothing here does anything (no notes, no
 * shared memory, no status page: the module behaves as stock).
 *
 * Config time (rewrite_parse.c) registers every rule of the config files
 * with its file, line, server, section and text.  post_config lays out one
 * counter a rule in anonymous shared memory (inherited by every child, of
 * any MPM) and carries the counters of the previous generation over to the
 * rules that have the same identity (file, text of its conditions and of
 * the rule, occurrence of that text in the file; not the line, so an
 * insertion above does not reset the rules below).  .htaccess rules are
 * counted in a bounded table keyed by file, line and text.
 *
 * Request time: rw_stats_hit() only, when a rule matched (pattern and
 * conditions): two relaxed atomic stores, no lock, and the request notes.
 */
#ifndef RW_STATS_H
#define RW_STATS_H

#include <stdint.h>

#include "apr_pools.h"
#include "apr_tables.h"
#include "httpd.h"
#include "http_config.h"

#include "rewrite.h"

/** Request notes, usable as %{rewrite-rule}n and %{rewrite-outcome}n. */
#define RW_NOTE_RULE    "rewrite-rule"
#define RW_NOTE_OUTCOME "rewrite-outcome"

/** Handler name of the status page (SetHandler rewrite-status). */
#define RW_STATUS_HANDLER "rewrite-status"

/** Entries of the .htaccess table (file + line + text a key); hits of
 *  rules that find no free entry are counted in htaccess_dropped. */
#define RW_STATS_HTSLOTS 1024
/** Bytes kept of an .htaccess path and rule text (the tail of a longer
 *  path, the head of a longer text). */
#define RW_STATS_HTPATH 200
#define RW_STATS_HTTEXT 200

/** A rule of the config files, as registered at config time. */
typedef struct {
    const char *file;       /** config file */
    int line;               /** line of the RewriteRule */
    const server_rec *server; /** the (virtual) server it belongs to */
    const char *context;    /** NULL in server context, else the section,
                             *  e.g. "<Directory /var/www>" */
    const char *text;       /** the RewriteRule's arguments as written */
    const char *conds;      /** its RewriteCond lines, '\n'-separated, or "" */
    const char *where;      /** "file:line", the note's value */
    uint64_t id;            /** identity across restarts (see above) */
} rw_stats_rule_t;

/** One counter snapshot, for the reports. */
typedef struct {
    uint64_t hits;
    apr_time_t last;        /** 0: never hit */
} rw_stats_count_t;

/** An .htaccess entry snapshot. */
typedef struct {
    char file[RW_STATS_HTPATH];
    char text[RW_STATS_HTTEXT];
    int line;
    rw_stats_count_t count;
} rw_stats_htentry_t;

/** What the reports read: the registered rules, their counters, the
 *  .htaccess entries in use. */
typedef struct {
    const rw_stats_rule_t *rules;
    rw_stats_count_t *counts;
    int nrules;
    rw_stats_htentry_t *ht;
    int nht;
    uint64_t ht_dropped;    /** hits of .htaccess rules not counted */
    apr_time_t since;       /** counting since (the first start that had
                             *  this table layout) */
} rw_stats_snapshot_t;

/** pre_config: statistics off, an empty registry. */
void rw_stats_pre_config(apr_pool_t *pconf);

/** RewriteStatistics On|Off (main server only). */
const char *rw_cmd_statistics(cmd_parms *cmd, void *dconf, int flag);

/** Config time (not in an .htaccess): a RewriteCond line was read into
 *  the list pending. */
void rw_stats_cond_register(cmd_parms *cmd, const apr_array_header_t *pending,
                            const char *line);
/** Config time (not in an .htaccess): rule, just compiled from line, its
 *  conditions from the list pending, gets its counter slot. */
void rw_stats_rule_register(cmd_parms *cmd, const apr_array_header_t *pending,
                            rw_rule_t *rule, const char *line);

/** A RewriteCond line was read (inline: nothing to do in an .htaccess). */
static inline void rw_stats_cond_read(cmd_parms *cmd,
                                      const apr_array_header_t *pending,
                                      const char *line)
{
    if (!rw_in_htaccess(cmd))
        rw_stats_cond_register(cmd, pending, line);
}

/** A rule was read: its file and line; a counter slot outside .htaccess
 *  files (-1 inside: counted by file and line). */
static inline void rw_stats_rule_read(cmd_parms *cmd,
                                      const apr_array_header_t *pending,
                                      rw_rule_t *rule, const char *line)
{
    const ap_directive_t *d = cmd->directive;

    rule->file = d ? d->filename : NULL;
    rule->line = d ? (int)d->line_num : 0;
    rule->slot = -1;
    if (!rw_in_htaccess(cmd))
        rw_stats_rule_register(cmd, pending, rule, line);
}

/** post_config: the shared counters of this generation (kept from the
 *  previous one where the rules are the same); OK or an error status. */
int rw_stats_post_config(apr_pool_t *pconf, server_rec *s);

/** Statistics are on in this generation. */
int rw_stats_enabled(void);

/** Request time: rule matched (pattern and conditions); status: it
 *  answers with r->status ([F], [G], [R=4xx]).  Counts it and sets the
 *  notes.  Never fails. */
void rw_stats_hit(request_rec *r, const rw_rule_t *rule, int status);

/** log_transaction, before the loggers: the notes of the last request
 *  of an internal redirect chain (r and its r->next) that has them go to
 *  the first and the final request, whichever the log format reads. */
void rw_stats_log(request_rec *r);

/** A consistent-enough copy of the counters (each counter read
 *  atomically), allocated from p; NULL when statistics are off. */
const rw_stats_snapshot_t *rw_stats_snapshot(apr_pool_t *p);

/** The handler of SetHandler rewrite-status (rewrite_status.c). */
int rw_status_handler(request_rec *r);
/** mod_status's status_hook: a short rewrite section in server-status. */
int rw_status_hook(request_rec *r, int flags);

#endif /* RW_STATS_H */
