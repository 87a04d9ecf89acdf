/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The contract between the map registry (rewrite_map.c) and the map
 * back ends, one file per family: rewrite_map_txt.c (txt, rnd),
 * rewrite_map_int.c, rewrite_map_dbm.c, rewrite_map_dbd.c (dbd,
 * fastdbd) and rewrite_map_prg.c.  Private to those files.
 *
 * Each back end exports one rw_map_backend_t.  The registry chooses it
 * by the type in RewriteMap's argument, calls it at the server's start
 * and at each child's, and dispatches every lookup through it.  A back
 * end keeps its own data behind rw_map_t.priv (nobody else reads it);
 * what it writes at request time (caches, prg pipes) it guards with a
 * lock of its own.
 */
#ifndef RW_MAP_BACKEND_H
#define RW_MAP_BACKEND_H

#include "rewrite.h"

/** One lookup: the request, and where its trace lines go. */
typedef struct {
    request_rec *r;
    rw_map_log_fn *log;     /** the trace sink, or NULL for none */
    void *baton;            /** log's first argument */
    rw_map_memo_t **memo;   /** the request's memo (rw_map_memo_get), or
                             *  NULL: nothing is remembered */
} rw_map_call_t;

/** One back end: a type of RewriteMap. */
struct rw_map_backend_t {
    /** The type as written before ':' in "TYPE:SOURCE", in any case. */
    const char *name;
    /** "TYPE=SUFFIX:SOURCE" is accepted too (dbm=sdbm:/path), and any
     *  other argument beginning with the name is an error, not a file. */
    int takes_suffix;
    /** pre_config, at every configuration cycle; optional. */
    void (*pre_config)(apr_pool_t *pconf);
    /** RewriteMap: checks source (suffix: the text after '=', or NULL)
     *  and options (MapTypeOptions, or NULL) and sets map->priv; the
     *  directive's error message, or NULL. */
    const char *(*configure)(cmd_parms *cmd, rw_map_t *map,
                             const char *suffix, const char *source,
                             const char *options);
    /** post_config, in the parent, except on the first pass that only
     *  checks the configuration: maps[0..nmaps) are this back end's
     *  maps that a server uses, in configuration order (nmaps > 0; the
     *  array lives for the call only).  OK, or an HTTP status that stops
     *  the server's start.  Optional. */
    int (*post_config)(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                       rw_map_t *const *maps, int nmaps);
    /** child_init: the same maps, in each child.  Optional. */
    void (*child_init)(apr_pool_t *p, server_rec *s, rw_map_t *const *maps,
                       int nmaps);
    /** Request time: key's value, NULL when there is none (the caller
     *  uses the default), with the stock module's trace lines. */
    const char *(*lookup)(const rw_map_call_t *c, const rw_map_t *map,
                          const char *key);
};

/** The back ends (the registry's table lists them). */
extern const rw_map_backend_t rw_map_txt, rw_map_rnd, rw_map_int,
    rw_map_dbm, rw_map_prg, rw_map_dbd, rw_map_fastdbd;

/* ------------------------------------------------------------------ */
/* What the registry offers the back ends                               */

/** Writes a trace line at level 1..8 (trace1..trace8) through c's sink,
 *  when it has one and the request's log level shows the line. */
void rw_map_trace(const rw_map_call_t *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** 1 and *mtime when the mtime of map's source was remembered by an
 *  earlier lookup of the same request (rw_map_memo_set), else 0. */
int rw_map_memo_get(const rw_map_call_t *c, const rw_map_t *map,
                    apr_time_t *mtime);
/** Remembers mtime as map's source's for the rest of the request (a
 *  failed stat is not remembered: it is made and logged again). */
void rw_map_memo_set(const rw_map_call_t *c, const rw_map_t *map,
                     apr_time_t mtime);

/** The directive's error for a file that does not exist. */
const char *rw_map_not_found(cmd_parms *cmd, const rw_map_t *map,
                             const char *path);

/** A pool with an allocator of its own, destroyed with owner: cleared
 *  and refilled at request time under its user's lock without touching
 *  owner's allocator.  NULL when out of memory. */
apr_pool_t *rw_map_private_pool(apr_pool_t *owner);

/** A uniformly random number below n (0 when n <= 1). */
unsigned rw_map_random_below(unsigned n);

/** A per-process key -> value cache, valid for one mtime of the map's
 *  source and bounded in entries and bytes (past either it is emptied).
 *  An empty value stands for "looked up, not found".  Thread-safe. */
typedef struct rw_map_cache_t rw_map_cache_t;

/** Config time: a cache living as long as p; NULL when out of memory. */
rw_map_cache_t *rw_map_cache_make(apr_pool_t *p);
/** key's value copied into p, or NULL when not cached.  A cache made for
 *  another mtime is emptied first. */
const char *rw_map_cache_get(rw_map_cache_t *c, apr_time_t mtime,
                             const char *key, apr_pool_t *p);
/** Caches key -> val for mtime (the first value of a key stays). */
void rw_map_cache_put(rw_map_cache_t *c, apr_time_t mtime, const char *key,
                      const char *val);

/** Reads key's value from map's source: NULL when absent (it logs its
 *  own errors). */
typedef const char *(rw_map_fetch_fn)(request_rec *r, const rw_map_t *map,
                                      const char *key);

/** A file map's lookup: cache in front of fetch, with the stock module's
 *  trace lines, which name the map "name[tname]".  mtime is the
 *  source's. */
const char *rw_map_cached_lookup(const rw_map_call_t *c, const rw_map_t *map,
                                 const char *tname, rw_map_cache_t *cache,
                                 apr_time_t mtime, const char *key,
                                 rw_map_fetch_fn *fetch);

#endif /* RW_MAP_BACKEND_H */
