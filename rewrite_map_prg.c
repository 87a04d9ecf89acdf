/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The prg map back end: an external program, one line in, one line
 * out, and the supervisor that keeps it running.
 *
 * The parent starts every program in post_config and keeps both ends
 * of both pipes, so the pipes outlive the program: when it dies, the
 * parent (which reaps it) starts a new one on the same pipes, and the
 * children, which inherited the pipes, carry on without noticing.
 * Children see the program's generation and state in shared memory.
 * A lookup holds the map's global mutex (processes and threads) for
 * one exchange, discards output left over by an earlier exchange, and
 * waits at most the map's timeout for the answer.
 */
#include "apr_strings.h"
#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_global_mutex.h"
#include "apr_portable.h"
#include "apr_thread_proc.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "util_mutex.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "rewrite.h"
#include "rewrite_map_backend.h"

APLOG_USE_MODULE(rewrite);

/* prg: default answer timeout, poll slice, answer size limit, restarts */
#define PRG_TIMEOUT_DEFAULT  apr_time_from_sec(10)
#define PRG_SLICE_MS         50
#define PRG_ANSWER_MAX       (1024 * 1024)
/* an answer over PRG_ANSWER_MAX is read to its newline and dropped, up
 * to this many bytes more; past them the program is killed (restarted) */
#define PRG_DRAIN_MAX        (64 * 1024 * 1024)
#define PRG_RAPID_DEATHS     5          /* in a row, each within ... */
#define PRG_RAPID_SECS       2          /* ... seconds of its start */

enum { PRG_ALIVE = 0, PRG_HUNG = 1, PRG_DEAD = 2 };

typedef struct {
    apr_uint32_t gen;       /* bumped at every (re)start */
    apr_uint32_t pid;
    apr_uint32_t state;     /* PRG_* */
    apr_uint32_t hung_at;   /* apr_time_sec() of the last timeout */
    apr_uint32_t answered;  /* gen of the last program that answered */
} prg_shared_t;

typedef struct {
    const rw_map_t *map;
    const char *prog;       /* argv[0], absolute */
    const char *const *argv;
    const char *user, *group;
    apr_interval_time_t timeout;
    /* set in post_config (parent), inherited by the children */
    int started;
    apr_file_t *to_r, *to_w;     /* key pipe: program's stdin, our end */
    apr_file_t *from_r, *from_w; /* answer pipe: our end, program's stdout */
    int fd_w, fd_r;              /* raw fds of to_w and from_r */
    apr_global_mutex_t *mutex;
    const char *mutex_file;
    prg_shared_t *sh;
    /* parent only */
    apr_proc_t proc;
    apr_time_t started_at;
    int rapid_deaths;
    apr_pool_t *pconf;
    server_rec *s;
} prg_map_t;

/* The shared slots of this generation's programs (post_config). */
typedef struct {
    prg_shared_t *sh;
    int n;
} prg_slots_t;

static apr_status_t prg_mark_dead(void *data)
{
    const prg_slots_t *slots = data;
    int i;

    for (i = 0; i < slots->n; ++i)
        apr_atomic_set32(&slots->sh[i].state, PRG_DEAD);
    return APR_SUCCESS;
}

/* The prg maps the servers use, for the monitor hook (set in
 * post_config, in the parent). */
static prg_map_t **prg_maps;
static int prg_nmaps;

static apr_status_t prg_maps_reset(void *unused)
{
    prg_maps = NULL;
    prg_nmaps = 0;
    return APR_SUCCESS;
}

/* argv with its first word replaced by prog. */
static const char *const *prg_argv(apr_pool_t *p, const char *prog,
                                   char *const *argv)
{
    const char **av;
    apr_size_t i, n = 1;

    while (argv[n])
        ++n;
    av = apr_palloc(p, sizeof(*av) * (n + 1));
    av[0] = prog;
    for (i = 1; i <= n; ++i)
        av[i] = argv[i];
    return av;
}

static const char *prg_configure(cmd_parms *cmd, rw_map_t *map,
                                 const char *suffix, const char *src,
                                 const char *opt)
{
    prg_map_t *pm = apr_pcalloc(cmd->pool, sizeof(*pm));
    char **argv = NULL;
    apr_finfo_t fi;

    pm->map = map;
    pm->timeout = PRG_TIMEOUT_DEFAULT;
    if (apr_tokenize_to_argv(src, &argv, cmd->pool) != APR_SUCCESS)
        argv = NULL;
    if (argv && argv[0] && *argv[0]) {
        pm->prog = ap_server_root_relative(cmd->pool, argv[0]);
        if (!pm->prog)
            return rw_map_not_found(cmd, map, argv[0]);
        if (apr_stat(&fi, pm->prog, APR_FINFO_MIN, cmd->temp_pool)
            != APR_SUCCESS)
            return rw_map_not_found(cmd, map, pm->prog);
        pm->argv = prg_argv(cmd->pool, pm->prog, argv);
    }
    /* MapTypeOptions: "user[:group]" as in the stock module; ours also
     * takes ",timeout=SECONDS" (or "timeout=SECONDS" alone). */
    if (opt && *opt) {
        char *o = apr_pstrdup(cmd->pool, opt), *tok, *last;
        for (tok = apr_strtok(o, ",", &last); tok;
             tok = apr_strtok(NULL, ",", &last)) {
            if (!strncasecmp(tok, "timeout=", 8)) {
                char *end;
                double secs = strtod(tok + 8, &end);
                if (end == tok + 8 || *end || secs <= 0 || secs > 86400)
                    return apr_pstrcat(cmd->pool, "RewriteMap: bad prg "
                                       "timeout for map ", map->name, ": ",
                                       tok + 8, NULL);
                pm->timeout = (apr_interval_time_t)(secs * APR_USEC_PER_SEC);
            }
            else if (!pm->user) {
                char *colon = strchr(tok, ':');
                if (colon) {
                    *colon = '\0';
                    pm->group = colon + 1;
                }
                pm->user = tok;
            }
        }
    }
    map->priv = pm;
    return NULL;
}

static void prg_maintenance(int reason, void *data, apr_wait_t status);

/* Discards whatever is waiting in fd (never blocks); bytes discarded. */
static apr_size_t drain_fd(int fd)
{
    char buf[4096];
    apr_size_t total = 0;
    struct pollfd pfd;

    for (;;) {
        ssize_t n;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
            break;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        total += (apr_size_t)n;
    }
    return total;
}

/* Starts pm's program on its pipes (parent only). */
static apr_status_t prg_spawn(prg_map_t *pm)
{
    apr_procattr_t *attr;
    apr_status_t rv;
    apr_os_file_t fd;

    /* keys written for a program that is gone must not reach the new one */
    if (apr_os_file_get(&fd, pm->to_r) == APR_SUCCESS)
        drain_fd(fd);
    if ((rv = apr_procattr_create(&attr, pm->pconf)) != APR_SUCCESS ||
        (rv = apr_procattr_child_in_set(attr, pm->to_r, NULL))
            != APR_SUCCESS ||
        (rv = apr_procattr_child_out_set(attr, pm->from_w, NULL))
            != APR_SUCCESS ||
        (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
            != APR_SUCCESS)
        return rv;
    if (pm->user &&
        (rv = apr_procattr_user_set(attr, pm->user, NULL)) != APR_SUCCESS)
        return rv;
    if (pm->group &&
        (rv = apr_procattr_group_set(attr, pm->group)) != APR_SUCCESS)
        return rv;
    memset(&pm->proc, 0, sizeof(pm->proc));
    rv = apr_proc_create(&pm->proc, pm->prog, pm->argv, NULL, attr,
                         pm->pconf);
    if (rv != APR_SUCCESS)
        return rv;
    pm->started_at = apr_time_now();
    apr_pool_note_subprocess(pm->pconf, &pm->proc, APR_KILL_AFTER_TIMEOUT);
    apr_proc_other_child_register(&pm->proc, prg_maintenance, pm, NULL,
                                  pm->pconf);
    apr_atomic_set32(&pm->sh->pid, (apr_uint32_t)pm->proc.pid);
    apr_atomic_inc32(&pm->sh->gen);
    apr_atomic_set32(&pm->sh->state, PRG_ALIVE);
    return APR_SUCCESS;
}

/* Parent: the program died (DEATH/LOST) or is checked on (RUNNING). */
static void prg_maintenance(int reason, void *data, apr_wait_t status)
{
    prg_map_t *pm = data;
    apr_status_t rv;
    int mpm_state = 0;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(pm);
        apr_atomic_set32(&pm->sh->state, PRG_DEAD);
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS &&
            mpm_state == AP_MPMQ_STOPPING)
            return;             /* stop or restart: pconf's cleanup follows */
        /* given up only on a program that keeps dying before it ever
         * answers, not on one that dies on some keys under load */
        if (apr_time_now() - pm->started_at
            < apr_time_from_sec(PRG_RAPID_SECS) &&
            apr_atomic_read32(&pm->sh->answered)
            != apr_atomic_read32(&pm->sh->gen))
            ++pm->rapid_deaths;
        else
            pm->rapid_deaths = 0;
        if (pm->rapid_deaths >= PRG_RAPID_DEATHS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, pm->s,
                         RWLOGNO(00003) "mod_rewrite: RewriteMap program %s of map %s "
                         "(pid %" APR_PID_T_FMT ") died %d times in a row "
                         "right after its start; not restarting it, its "
                         "lookups get the default value",
                         pm->prog, pm->map->name, pm->proc.pid,
                         pm->rapid_deaths);
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s,
                     RWLOGNO(00004) "mod_rewrite: RewriteMap program %s of map %s "
                     "(pid %" APR_PID_T_FMT ") %s (status %d); restarting "
                     "it", pm->prog, pm->map->name, pm->proc.pid,
                     reason == APR_OC_REASON_DEATH ? "died" : "was lost",
                     (int)status);
        rv = prg_spawn(pm);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, pm->s,
                         RWLOGNO(00005) "mod_rewrite: could not restart RewriteMap program "
                         "%s of map %s", pm->prog, pm->map->name);
        else
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pm->s,
                         RWLOGNO(00006) "mod_rewrite: RewriteMap program %s of map %s "
                         "restarted (pid %" APR_PID_T_FMT ")", pm->prog,
                         pm->map->name, pm->proc.pid);
        break;
    case APR_OC_REASON_RUNNING:
        /* a program that stopped answering is killed; its death restarts
         * it (children cannot always signal it: it may run as root) */
        if (apr_atomic_read32(&pm->sh->state) == PRG_HUNG &&
            apr_atomic_read32(&pm->sh->pid) == (apr_uint32_t)pm->proc.pid) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s,
                         RWLOGNO(00007) "mod_rewrite: RewriteMap program %s of map %s "
                         "(pid %" APR_PID_T_FMT ") does not answer; killing "
                         "it", pm->prog, pm->map->name, pm->proc.pid);
            kill(pm->proc.pid, SIGKILL);
        }
        break;
    default:                    /* RESTART, UNREGISTER: pconf goes away */
        break;
    }
}

/* Parent, about every ten seconds (the MPM's monitor hook): programs
 * that stopped answering are killed, and their death restarts them
 * (children cannot always signal them: they may run as root). */
static int prg_monitor(apr_pool_t *p, server_rec *s)
{
    int i;

    for (i = 0; i < prg_nmaps; ++i)
        if (prg_maps[i]->started)
            prg_maintenance(APR_OC_REASON_RUNNING, prg_maps[i], 0);
    return DECLINED;
}

static apr_status_t set_nonblock(apr_file_t *f, int *fdp)
{
    apr_os_file_t fd;
    int fl;

    if (apr_os_file_get(&fd, f) != APR_SUCCESS)
        return APR_EGENERAL;
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return errno;
    *fdp = fd;
    return APR_SUCCESS;
}

/* Parent: pipes, shared state, mutex, then the program. */
static apr_status_t prg_start(prg_map_t *pm, apr_pool_t *pconf,
                              server_rec *s, prg_shared_t *sh, int index)
{
    apr_status_t rv;
    const char *id = apr_psprintf(pconf, "prg%d", index);

    pm->pconf = pconf;
    pm->s = s;
    pm->sh = sh;
    if ((rv = apr_file_pipe_create_ex(&pm->to_r, &pm->to_w, APR_FULL_BLOCK,
                                      pconf)) != APR_SUCCESS ||
        (rv = apr_file_pipe_create_ex(&pm->from_r, &pm->from_w,
                                      APR_FULL_BLOCK, pconf)) != APR_SUCCESS ||
        (rv = set_nonblock(pm->to_w, &pm->fd_w)) != APR_SUCCESS ||
        (rv = set_nonblock(pm->from_r, &pm->fd_r)) != APR_SUCCESS)
        return rv;
    rv = ap_global_mutex_create(&pm->mutex, &pm->mutex_file, "rewrite-map",
                                id, s, pconf, 0);
    if (rv != APR_SUCCESS)
        return rv;
    rv = prg_spawn(pm);
    if (rv == APR_SUCCESS)
        pm->started = 1;
    return rv;
}

/* After an answer line, the program wrote part of another line: reads
 * on to the end of that line (bytes ending in a newline), so that the
 * rest of it does not reach the next lookup.  0 when it does not end
 * within the deadline or PRG_DRAIN_MAX bytes. */
static int drain_partial_line(prg_map_t *pm, apr_time_t deadline)
{
    char buf[4096];
    apr_size_t total = 0;
    struct pollfd pfd;

    while (total <= PRG_DRAIN_MAX) {
        ssize_t n = read(pm->fd_r, buf, sizeof(buf));
        if (n > 0) {
            total += (apr_size_t)n;
            if (buf[n - 1] == '\n')
                return 1;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return 0;
        if (apr_time_now() >= deadline)
            return 0;
        pfd.fd = pm->fd_r;
        pfd.events = POLLIN;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }
    return 0;
}

/* The program is out of step (an answer that does not end): killed, as
 * on a timeout; the parent restarts it. */
static const char *prg_out_of_step(prg_map_t *pm, request_rec *r,
                                   const char *why)
{
    pid_t pid = (pid_t)apr_atomic_read32(&pm->sh->pid);

    apr_atomic_set32(&pm->sh->hung_at,
                     (apr_uint32_t)apr_time_sec(apr_time_now()));
    apr_atomic_set32(&pm->sh->state, PRG_HUNG);
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        why = apr_pstrcat(r->pool, why, "; killed it", NULL);
    return why;
}

/* Child: one exchange with the program.  Returns the answer (without
 * its newline), or NULL with *why set. */
static char *prg_exchange(prg_map_t *pm, request_rec *r, const char *key,
                          const char **why)
{
    apr_time_t deadline = apr_time_now() + pm->timeout;
    apr_uint32_t gen = apr_atomic_read32(&pm->sh->gen);
    apr_size_t stale, klen = strlen(key), off = 0, cap = 256, len = 0;
    apr_size_t dropped = 0;
    int toolong = 0;
    char *line = apr_pstrcat(r->pool, key, "\n", NULL);
    char *buf;
    struct pollfd pfd;

    stale = drain_fd(pm->fd_r);
    if (stale)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      RWLOGNO(00008) "mod_rewrite: discarded %" APR_SIZE_T_FMT " bytes of "
                      "stale output of RewriteMap program %s (map %s)",
                      stale, pm->prog, pm->map->name);
    if (apr_atomic_read32(&pm->sh->state) == PRG_HUNG)
        apr_atomic_set32(&pm->sh->state, PRG_ALIVE); /* it answered */

    /* write key\n */
    while (off < klen + 1) {
        ssize_t n = write(pm->fd_w, line + off, klen + 1 - off);
        if (n > 0) {
            off += (apr_size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            *why = apr_psprintf(r->pool, "cannot write to it: %s",
                                strerror(errno));
            return NULL;
        }
        if (apr_time_now() >= deadline) {
            *why = "it does not read its input";
            apr_atomic_set32(&pm->sh->hung_at,
                             (apr_uint32_t)apr_time_sec(apr_time_now()));
            apr_atomic_set32(&pm->sh->state, PRG_HUNG);
            return NULL;
        }
        pfd.fd = pm->fd_w;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }

    /* read up to the newline; an answer longer than PRG_ANSWER_MAX is
     * read to its end all the same and dropped, so that no piece of it
     * is left in the pipe for the next lookup (another request's) */
    buf = apr_palloc(r->pool, cap);
    for (;;) {
        apr_time_t now;
        ssize_t n = read(pm->fd_r, buf + len, cap - len);
        if (n > 0) {
            char *nl = memchr(buf + len, '\n', (apr_size_t)n);
            len += (apr_size_t)n;
            if (nl) {
                apr_size_t rest = len - (apr_size_t)(nl - buf) - 1;
                if (rest) {
                    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                                  RWLOGNO(00009) "mod_rewrite: RewriteMap program %s (map "
                                  "%s) answered more than one line; the "
                                  "rest is discarded", pm->prog,
                                  pm->map->name);
                    /* a line begun after the answer: read to its end */
                    if (buf[len - 1] != '\n' &&
                        !drain_partial_line(pm, deadline)) {
                        *why = prg_out_of_step(pm, r, "its answer has a "
                                               "second line that does not "
                                               "end");
                        return NULL;
                    }
                }
                if (toolong) {
                    *why = apr_psprintf(r->pool, "its answer is too long (%"
                                        APR_SIZE_T_FMT " bytes, at most %d)"
                                        "; read and dropped", dropped +
                                        (apr_size_t)(nl - buf),
                                        PRG_ANSWER_MAX);
                    return NULL;
                }
                *nl = '\0';
                if (apr_atomic_read32(&pm->sh->gen) != gen) {
                    *why = "it was restarted during the lookup";
                    return NULL;
                }
                apr_atomic_set32(&pm->sh->answered, gen);
                return buf;
            }
            if (len == cap && (toolong || cap >= PRG_ANSWER_MAX)) {
                /* too long: go on reading into the same buffer */
                toolong = 1;
                dropped += len;
                len = 0;
                if (dropped > PRG_DRAIN_MAX) {
                    *why = prg_out_of_step(pm, r, apr_psprintf(r->pool,
                                           "its answer is longer than %d "
                                           "bytes", PRG_DRAIN_MAX));
                    return NULL;
                }
            }
            else if (len == cap) {
                char *nb = apr_palloc(r->pool, cap * 2);
                memcpy(nb, buf, len);
                buf = nb;
                cap *= 2;
            }
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            *why = apr_psprintf(r->pool, "cannot read from it: %s",
                                strerror(errno));
            return NULL;
        }
        if (apr_atomic_read32(&pm->sh->gen) != gen ||
            apr_atomic_read32(&pm->sh->state) == PRG_DEAD) {
            *why = "it died during the lookup";
            return NULL;
        }
        now = apr_time_now();
        if (now >= deadline) {
            pid_t pid = (pid_t)apr_atomic_read32(&pm->sh->pid);
            *why = apr_psprintf(r->pool, "no answer within %" APR_TIME_T_FMT
                                " ms", apr_time_as_msec(pm->timeout));
            apr_atomic_set32(&pm->sh->hung_at,
                             (apr_uint32_t)apr_time_sec(now));
            apr_atomic_set32(&pm->sh->state, PRG_HUNG);
            /* allowed when it runs as our user; else the parent does it */
            if (pid > 0 && kill(pid, SIGKILL) == 0)
                *why = apr_pstrcat(r->pool, *why, "; killed it", NULL);
            return NULL;
        }
        pfd.fd = pm->fd_r;
        pfd.events = POLLIN;
        pfd.revents = 0;
        poll(&pfd, 1, PRG_SLICE_MS);
    }
}

/* Child: the program's answer to key (without its newline), or NULL
 * with *why set. */
static char *prg_ask(prg_map_t *pm, request_rec *r, const char *key,
                     const char **why)
{
    char *val = NULL;
    apr_status_t rv;
    apr_uint32_t state;

    if (apr_atomic_read32(&pm->sh->state) == PRG_DEAD) {
        *why = "it is not running";
        return NULL;
    }
    if ((rv = apr_global_mutex_lock(pm->mutex)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(00659)
                      "apr_global_mutex_lock(rewrite_mapr_lock_acquire) "
                      "failed");
        *why = "the map's lock failed";
        return NULL;
    }
    state = apr_atomic_read32(&pm->sh->state);
    if (state == PRG_DEAD)
        /* died since the check above: no key is written now, for it
         * could reach the program the parent is starting after the
         * lookup gave up, whose answer the next lookup would take */
        *why = "it is not running";
    else if (state == PRG_HUNG && !drain_fd(pm->fd_r))
        *why = "it did not answer an earlier lookup in time";
    else
        val = prg_exchange(pm, r, key, why);
    apr_global_mutex_unlock(pm->mutex);
    return val;
}

/* No value for a key with a newline, nor when the program is not
 * running or does not answer (logged), nor for the answer "NULL". */
static const char *prg_lookup(const rw_map_call_t *c, const rw_map_t *map,
                              const char *key)
{
    prg_map_t *pm = map->priv;
    const char *why = NULL;
    const char *val = NULL;

    if (pm->started && pm->mutex && !strchr(key, '\n')) {
        val = prg_ask(pm, c->r, key, &why);
        if (!val)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r,
                          RWLOGNO(00010) "mod_rewrite: RewriteMap program %s (map %s) "
                          "failed for key '%s': %s; using the default "
                          "value", pm->prog, map->name, key,
                          why ? why : "unknown error");
        else if (!strcmp(val, "NULL"))
            val = NULL;
    }
    if (val)
        rw_map_trace(c, 5, "map lookup OK: map=%s key=%s -> val=%s",
                     map->name, key, val);
    else
        rw_map_trace(c, 5, "map lookup FAILED: map=%s key=%s", map->name,
                     key);
    return val;
}

/* ------------------------------------------------------------------ */
/* Server start and child start                                        */

static void prg_pre_config(apr_pool_t *pconf)
{
    /* (hooks are registered anew for every configuration cycle) */
    ap_hook_monitor(prg_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_mutex_register(pconf, "rewrite-map", NULL, APR_LOCK_DEFAULT, 0);
}

/* Starts the programs of the maps used by a server whose RewriteEngine
 * is on, with their shared state in one segment. */
static int prg_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                           server_rec *s, rw_map_t *const *maps, int nmaps)
{
    prg_slots_t *slots;
    apr_shm_t *shm;
    apr_status_t rv;
    int i, n = 0;

    prg_maps = apr_palloc(pconf, sizeof(*prg_maps) * (apr_size_t)nmaps);
    prg_nmaps = nmaps;
    apr_pool_cleanup_register(pconf, NULL, prg_maps_reset,
                              apr_pool_cleanup_null);
    for (i = 0; i < nmaps; ++i) {
        prg_maps[i] = maps[i]->priv;
        if (maps[i]->engine_on && prg_maps[i]->prog)
            ++n;
    }
    if (!n)
        return OK;
    rv = apr_shm_create(&shm, sizeof(prg_shared_t) * (apr_size_t)n, NULL,
                        pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     RWLOGNO(00011) "mod_rewrite: cannot create shared memory for "
                     "RewriteMap programs");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    slots = apr_palloc(pconf, sizeof(*slots));
    slots->sh = apr_shm_baseaddr_get(shm);
    slots->n = n;
    memset(slots->sh, 0, sizeof(prg_shared_t) * (apr_size_t)n);
    /* at a restart the programs go away with pconf, but processes of the
     * old generation may still look up: they must see them dead at once
     * (registered after the segment, so it runs before its removal) */
    apr_pool_cleanup_register(pconf, slots, prg_mark_dead,
                              apr_pool_cleanup_null);
    n = 0;
    for (i = 0; i < nmaps; ++i) {
        prg_map_t *pm = prg_maps[i];
        if (!maps[i]->engine_on || !pm->prog)
            continue;
        rv = prg_start(pm, pconf, s, &slots->sh[n], n);
        ++n;
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(00654)
                         "mod_rewrite: could not start RewriteMap program %s",
                         pm->prog);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static void prg_child_init(apr_pool_t *p, server_rec *s,
                           rw_map_t *const *maps, int nmaps)
{
    int i;

    for (i = 0; i < nmaps; ++i) {
        prg_map_t *pm = maps[i]->priv;
        apr_status_t rv;
        if (!pm->started || !pm->mutex)
            continue;
        rv = apr_global_mutex_child_init(&pm->mutex, pm->mutex_file, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, APLOGNO(00666)
                         "mod_rewrite: could not init rewrite_mapr_lock_acquire"
                         " in child");
            pm->mutex = NULL;
        }
    }
}

const rw_map_backend_t rw_map_prg = {
    .name = "prg", .pre_config = prg_pre_config,
    .configure = prg_configure, .post_config = prg_post_config,
    .child_init = prg_child_init, .lookup = prg_lookup,
};
