/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Internal types shared by the module's source files.
 *
 * Config time (rewrite_parse.c) compiles every directive into the
 * read-only structures below; request time (rewrite_exec.c) only walks
 * them.  Nothing here is written after the configuration is read.
 */
#ifndef RW_REWRITE_H
#define RW_REWRITE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_tables.h"
#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"

#include "mod_rewrite.h"

/* The tag of a log line of ours (notice or above) that the stock module
 * does not have: "RW00001: ...", stable, listed in README (Log lines),
 * so that people can grep for it and look it up, like httpd's AHnnnnn. */
#define RWLOGNO(n) "RW" #n ": "

/** Back-references available to substitutions: $0..$9 and %0..%9. */
#define RW_MAX_REFS 10

/** Value of a tri-state config field that was never set. */
#define RW_UNSET (-1)

/** Default limit of [N] passes (the stock module's, not the manual's). */
#define RW_MAX_ROUNDS 32000

/* ------------------------------------------------------------------ */
/* Regular expressions                                                 */

/** Patterns decided without PCRE (rw_regex_t.shape): "lit" is a run of
 *  plain characters, "." takes every byte (RegexDefaultOptions DOTALL,
 *  the default) and "$" is the very end (DOLLAR_ENDONLY, the default);
 *  the matcher gives the same $0/$1 as PCRE would. */
typedef enum {
    RW_SHAPE_PCRE = 0,  /* anything else: PCRE code */
    RW_SHAPE_EXACT,     /* ^lit$             (lit_exact) */
    RW_SHAPE_PREFIX,    /* ^lit   ^          $0 = lit */
    RW_SHAPE_REST,      /* ^lit(.*)$  ^lit(.*)   $1 = the rest */
    RW_SHAPE_ALL,       /* ^lit.*  ^lit.*$  .*  .*$   $0 = everything */
    RW_SHAPE_ONE,       /* .                 $0 = the first byte */
    RW_SHAPE_CONTAINS,  /* lit               $0 = its leftmost copy */
    RW_SHAPE_SUFFIX,    /* lit$              $0 = the end */
    RW_SHAPE_LASTSPLIT, /* ^(.*)lit          $1 = before the last copy */
    RW_SHAPE_ENDSPLIT   /* ^(.*)lit$         $1 = before the end */
} rw_shape_t;

/** The PCRE side of a pattern that needs it (rw_regex_t.pcre). */
typedef struct {
    pcre2_code *code;   /** compiled (and JIT-compiled where possible) */
    const char *src;    /** the pattern as compiled, for error logs */
    /* What PCRE2 knows every match needs (pattern info), tested before
     * pcre2_match, whose own test of it comes after setting up the match
     * (hundreds of instructions in the interpreter): the shortest
     * subject, and bytes that must be in it (ASCII, lower-cased, letters
     * looked for in both cases; 0: none). */
    apr_uint32_t minlen;
    unsigned char need[2];
    unsigned nojit : 1;     /** set in post_config: no JIT (rw_jit_all) */
    unsigned jitted : 1;    /** JIT code made: pcre2_jit_match applies */
} rw_pcre_t;

/** A compiled pattern; match data is per call, so this is shareable.
 *  Fields in the order that leaves no padding (memory per rule matters
 *  at 10,000 rules). */
typedef struct {
    rw_pcre_t *pcre;    /** NULL when shape decides without PCRE */
    /* Prefilter: every match starts with lit (ASCII case folded when
     * lit_nocase); with lit_exact the subject must equal lit, and then
     * the prefilter decides alone (the pattern is "^lit$", no groups).  Lets the
     * engine skip PCRE for rules that cannot match (e.g. thousands of
     * "^/old/page-123$" redirects).  NULL when the pattern has no such
     * literal. */
    const char *lit;
    apr_size_t litlen;
    /* CONTAINS, SUFFIX, LASTSPLIT, ENDSPLIT: the literal searched for
     * (case folded like lit) */
    const char *tail;
    apr_uint32_t taillen;
    unsigned lithash;   /** lit_exact: rw_lit_hash() of lit */
    int ncaps;          /** number of capture groups in the pattern */
    unsigned shape : 4;     /** rw_shape_t */
    unsigned lit_nocase : 1;
    unsigned lit_exact : 1;
} rw_regex_t;

/** Hash of s[0..n) (ASCII case folded when nocase), for the prefilter. */
static inline unsigned rw_lit_hash(const char *s, apr_size_t n, int nocase)
{
    unsigned h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (nocase && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 16777619u;
    }
    return h;
}

/** s starts with the n bytes of lit, ASCII case folded when fold (the
 *  prefilter's and the index's comparison); a shorter s does not (lit
 *  holds no NUL, so the comparison stops at the end of s). */
static inline int rw_lit_at(const char *s, const char *lit, apr_size_t n,
                            int fold)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (a == b)
            continue;
        if (!fold || a > 127 || b > 127 || apr_tolower(a) != apr_tolower(b))
            return 0;
    }
    return 1;
}

/** Result of one match: offsets of $0..$9 in subject (-1 when unset). */
typedef struct {
    const char *subject; /** the string matched (kept for references) */
    int n;               /** number of valid pairs in ov */
    int ov[2 * RW_MAX_REFS];
} rw_match_t;

/* ------------------------------------------------------------------ */
/* Variables: %{NAME}, %{HTTP:x}, %{ENV:x}, %{SSL:x}, %{LA-U:x} ...    */

typedef enum {
    RW_VAR_UNKNOWN = 0, /* expands to the empty string */
    RW_VAR_HEADER,      /* HTTP_* names and HTTP:x: request header arg */
    RW_VAR_HTTP_HOST,   /* HTTP_HOST: like a header, but never in Vary */
    RW_VAR_ENV, RW_VAR_SSL, RW_VAR_LA_U, RW_VAR_LA_F,
    RW_VAR_TIME_YEAR, RW_VAR_TIME_MON, RW_VAR_TIME_DAY, RW_VAR_TIME_HOUR,
    RW_VAR_TIME_MIN, RW_VAR_TIME_SEC, RW_VAR_TIME_WDAY, RW_VAR_TIME,
    RW_VAR_API_VERSION, RW_VAR_AUTH_TYPE, RW_VAR_CONN_REMOTE_ADDR,
    RW_VAR_CONTEXT_PREFIX, RW_VAR_CONTEXT_DOCUMENT_ROOT, RW_VAR_IPV6,
    RW_VAR_PATH_INFO, RW_VAR_QUERY_STRING, RW_VAR_REMOTE_ADDR,
    RW_VAR_REMOTE_HOST, RW_VAR_REMOTE_IDENT, RW_VAR_REMOTE_PORT,
    RW_VAR_REMOTE_USER, RW_VAR_REQUEST_METHOD, RW_VAR_REQUEST_FILENAME,
    RW_VAR_DOCUMENT_ROOT, RW_VAR_SCRIPT_GROUP, RW_VAR_SCRIPT_USER,
    RW_VAR_SERVER_ADDR, RW_VAR_SERVER_ADMIN, RW_VAR_SERVER_NAME,
    RW_VAR_SERVER_PORT, RW_VAR_SERVER_PROTOCOL, RW_VAR_SERVER_SOFTWARE,
    RW_VAR_HTTPS, RW_VAR_IS_SUBREQ, RW_VAR_REQUEST_SCHEME,
    RW_VAR_REQUEST_URI, RW_VAR_THE_REQUEST
} rw_var_kind_t;

typedef struct rw_var_t rw_var_t;
struct rw_var_t {
    rw_var_kind_t kind;
    const char *arg;      /** header or env name; LA-U/LA-F: inner name */
    const rw_var_t *inner;/** LA-U/LA-F: the variable read in the subreq */
};

/* ------------------------------------------------------------------ */
/* Templates: a Substitution, TestString, E= or CO= value split into    */
/* pieces at config time so that expansion is one pass over an array.  */

typedef enum {
    RW_PIECE_LIT,       /* literal text */
    RW_PIECE_RULEREF,   /* $N */
    RW_PIECE_CONDREF,   /* %N */
    RW_PIECE_VAR,       /* %{VAR} */
    RW_PIECE_MAP        /* ${map:key|default} */
} rw_piece_kind_t;

typedef struct rw_tpl_t rw_tpl_t;

/* One field set a kind (32 bytes a piece: memory per rule matters at
 * 10,000 rules). */
typedef struct {
    rw_piece_kind_t kind;
    int mapid;                    /** MAP: the name's number
                                   *  (rw_map_name_id), -1 for none */
    union {
        struct {
            const char *lit;      /** LIT: the text */
            apr_size_t len;       /** LIT: its length */
        };
        int n;                    /** RULEREF/CONDREF: the number */
        rw_var_t var;             /** VAR */
        struct {
            const char *map;      /** MAP: the map name */
            const rw_tpl_t *key;  /** MAP: the key, itself a template */
            const rw_tpl_t *dflt; /** MAP: the default or NULL */
        };
    };
} rw_piece_t;

struct rw_tpl_t {
    int npieces;
    const rw_piece_t *pieces;
    const char *literal;  /** non-NULL when the whole template is plain text */
};

/* ------------------------------------------------------------------ */
/* Conditions                                                          */

typedef enum {
    RW_COND_REGEX = 0,
    RW_COND_STR_LT, RW_COND_STR_LE, RW_COND_STR_EQ, RW_COND_STR_GT,
    RW_COND_STR_GE,
    RW_COND_INT_LT, RW_COND_INT_LE, RW_COND_INT_EQ, RW_COND_INT_GT,
    RW_COND_INT_GE, RW_COND_INT_NE,
    RW_COND_FILE,       /* -f */
    RW_COND_FILE_SIZE,  /* -s */
    RW_COND_DIR,        /* -d */
    RW_COND_LINK,       /* -l -L -h */
    RW_COND_EXEC,       /* -x */
    RW_COND_FILE_SUB,   /* -F */
    RW_COND_URL_SUB,    /* -U */
    RW_COND_EXPR        /* TestString "expr" */
} rw_cond_kind_t;

#define RW_CF_NOCASE  (1u << 0) /* NC */
#define RW_CF_ORNEXT  (1u << 1) /* OR */
#define RW_CF_NOVARY  (1u << 2) /* NV */

/* Outcomes of a comparison condition (rw_cond_t.accept). */
#define RW_CMP_LESS  1u
#define RW_CMP_EQUAL 2u
#define RW_CMP_MORE  4u

typedef struct {
    const rw_tpl_t *input;   /** TestString */
    const char *pattern;     /** CondPattern as written, without '!' */
    const char *operand;     /** comparison operand (after the operator) */
    apr_size_t oplen;        /** STR_*: its length */
    rw_cond_kind_t kind;
    int negate;              /** pattern started with '!' */
    unsigned flags;          /** RW_CF_* */
    int opint;               /** INT_*: the operand read as an int */
    unsigned accept;         /** STR_/INT_: the outcomes that hold, as
                                 RW_CMP_LESS | RW_CMP_EQUAL | RW_CMP_MORE */
    rw_regex_t *re;          /** REGEX */
    ap_expr_info_t *expr;    /** EXPR */
} rw_cond_t;

/* ------------------------------------------------------------------ */
/* Rules                                                               */

#define RW_RF_CHAIN        (1u << 0)  /* C */
#define RW_RF_NOCASE       (1u << 1)  /* NC */
#define RW_RF_LAST         (1u << 2)  /* L */
#define RW_RF_END          (1u << 3)  /* END */
#define RW_RF_NEXT         (1u << 4)  /* N */
#define RW_RF_REDIRECT     (1u << 5)  /* R with a 3xx code */
#define RW_RF_STATUS       (1u << 6)  /* F, G, R=non-3xx: answer status */
#define RW_RF_PROXY        (1u << 7)  /* P */
#define RW_RF_PASSTHROUGH  (1u << 8)  /* PT */
#define RW_RF_NOSUBREQ     (1u << 9)  /* NS */
#define RW_RF_NOESCAPE     (1u << 10) /* NE */
#define RW_RF_QSAPPEND     (1u << 11) /* QSA */
#define RW_RF_QSDISCARD    (1u << 12) /* QSD */
#define RW_RF_QSLAST       (1u << 13) /* QSL */
#define RW_RF_ESCAPEBACKREF (1u << 14) /* B */
#define RW_RF_NOPLUS       (1u << 15) /* BNP */
#define RW_RF_ESCAPECTLS   (1u << 16) /* BCTLS */
#define RW_RF_DISCARDPATH  (1u << 17) /* DPI */
#define RW_RF_UNC          (1u << 18) /* UNC */
#define RW_RF_UNSAFE_3F    (1u << 19) /* UnsafeAllow3F */
#define RW_RF_RFLAG        (1u << 20) /* R given, any code */
#define RW_RF_SKIP         (1u << 21) /* S=n */
/* The stock module's trace shows this bit's value ("STATOK 4194304"). */
#define RW_RF_UNSAFE_PREFIX (1u << 22) /* UnsafePrefixStat */
#define RW_RF_QSNONE       (1u << 23) /* Substitution ended in a lone '?' */
#define RW_RF_OUT_DSLASH   (1u << 24) /* Substitution written with a leading "//" */

/** E=VAR:VAL, E=VAR, E=!VAR */
typedef struct {
    const rw_tpl_t *spec;    /** the whole argument, expanded then split */
} rw_env_t;

/* Pointers first, then the integers: no padding (memory per rule matters
 * at 10,000 rules). */
typedef struct {
    const char *pattern;     /** Pattern as written, without '!' */
    rw_regex_t *re;
    const char *output;      /** Substitution as written */
    const rw_tpl_t *subst;   /** NULL for '-' */
    const rw_tpl_t *type_tpl;    /** T= (expanded at run time) */
    const rw_tpl_t *handler_tpl; /** H= */
    apr_array_header_t *env;     /** rw_env_t */
    apr_array_header_t *cookies; /** const rw_tpl_t * */
    const char *bchars;      /** B=chars: characters to escape (NULL: all) */
    const char *bnechars;    /** BNE=chars: characters never escaped */
    const rw_cond_t *conds;
    const char *file;        /** where it was read (config file or
                              *  .htaccess), for the statistics */
    unsigned flags;          /** RW_RF_* */
    int negate;
    int status;              /** R code, or 403/410 for F/G */
    int skip;                /** S=n */
    int maxrounds;           /** N=n, default RW_MAX_ROUNDS */
    int nconds;
    int line;                /** line number in file */
    int slot;                /** statistics counter, -1: none (.htaccess) */
} rw_rule_t;

/* ------------------------------------------------------------------ */
/* Maps                                                                */

typedef struct rw_map_t rw_map_t;

/** A map back end (include/rewrite_map_backend.h). */
typedef struct rw_map_backend_t rw_map_backend_t;

struct rw_map_t {
    const char *name;
    const rw_map_backend_t *backend;
    void *priv;             /** the back end's own data */
    /* set by rw_map_post_config */
    unsigned used : 1;      /** in the maps of some server */
    unsigned engine_on : 1; /** ... of one whose RewriteEngine is on */
};

/* ------------------------------------------------------------------ */
/* Per-server and per-directory configuration                          */

#define RW_OPT_INHERIT              (1u << 0)
#define RW_OPT_INHERIT_BEFORE       (1u << 1)
#define RW_OPT_NOSLASH              (1u << 2)
#define RW_OPT_ANYURI               (1u << 3)
#define RW_OPT_MERGEBASE            (1u << 4)
#define RW_OPT_INHERIT_DOWN         (1u << 5)
#define RW_OPT_INHERIT_DOWN_BEFORE  (1u << 6)
#define RW_OPT_IGNORE_INHERIT       (1u << 7)
#define RW_OPT_IGNORE_CONTEXT_INFO  (1u << 8)
#define RW_OPT_LEGACY_PREFIX_DOCROOT (1u << 9)
#define RW_OPT_LONGURL              (1u << 10)
#define RW_OPT_UNSAFE_PREFIX        (1u << 11)

/** The rule index of a server's rule list (rewrite_index.c). */
typedef struct rw_index_t rw_index_t;

/** Rule lists shorter than this are walked without an index. */
#define RW_INDEX_MIN_RULES 16

typedef struct {
    int state;                  /** engine on (1), off (0), RW_UNSET */
    unsigned options;           /** RW_OPT_* */
    int options_set;            /** RewriteOptions seen here */
    apr_hash_t *maps;           /** name -> rw_map_t */
    const rw_map_t **mapids;    /** the same by name number
                                 *  (rw_map_name_id): this server's map of
                                 *  name i or NULL, for i < nmapids; made
                                 *  in post_config (NULL: look up by name) */
    int nmapids;
    apr_array_header_t *rules;  /** rw_rule_t */
    const rw_index_t *index;    /** of rules, made in post_config, or NULL */
    apr_array_header_t *pending;/** rw_cond_t waiting for their rule */
    server_rec *server;
} rw_server_conf_t;

typedef struct {
    int state;                  /** engine on (1), off (0), RW_UNSET */
    unsigned options;           /** RW_OPT_* */
    int options_set;
    apr_array_header_t *rules;  /** rw_rule_t */
    apr_array_header_t *pending;/** rw_cond_t waiting for their rule */
    const char *directory;      /** the section's path, '/'-terminated */
    const char *baseurl;        /** RewriteBase, or NULL */
    int baseurl_set;
} rw_dir_conf_t;

/* The only symbol the module exports (built with -fvisibility=hidden). */
extern module AP_MODULE_DECLARE_DATA rewrite_module
    __attribute__((visibility("default")));

/* ------------------------------------------------------------------ */
/* rewrite_parse.c: config time                                        */

/** Config time, once: sets up the per-process cache of compiled
 *  .htaccess lines. */
void rw_parse_init(apr_pool_t *pconf);

/** pre_config: patterns compiled from now on get their JIT code in
 *  rw_jit_all (post_config), not at once. */
void rw_jit_begin(apr_pool_t *pconf);
/** post_config: JIT-compiles the patterns waiting for it, except those
 *  marked nojit; later ones are JIT-compiled at once. */
void rw_jit_all(void);

/** Rule lists this long or longer: no JIT code for the rules' patterns
 *  (the index makes each request run few of them, and JIT code for
 *  thousands would take megabytes in every process: the stock module has
 *  none).  In shorter lists, patterns with a literal prefix of two or
 *  more characters go without JIT code unless rw_pattern_backtracks():
 *  the interpreter is quick enough on a pattern that runs only when the
 *  URL starts with its literal and does not backtrack much. */
#define RW_NOJIT_MIN_RULES 1000

/** The pattern has what makes the interpreter slow: alternatives,
 *  lookaround, or a repeated group. */
int rw_pattern_backtracks(const char *pattern);

/** The PCRE2 options of a pattern: the server's RegexDefaultOptions,
 *  plus PCRE2_CASELESS when nocase. */
uint32_t rw_pcre_options(int nocase);

/** Compiles pattern with the server's default regex options (plus
 *  PCRE2_CASELESS when nocase), without JIT (rw_regex_jit); error
 *  string or NULL. */
const char *rw_regex_compile(apr_pool_t *p, const char *pattern, int nocase,
                             rw_regex_t **out);

/** JIT-compiles re (not an exact literal, which never reaches PCRE);
 *  the interpreter stays the fallback.  Config time, or on a private
 *  copy: never on a regex other threads may be matching with. */
void rw_regex_jit(rw_regex_t *re);

/** Splits text into pieces; error string or NULL. */
const char *rw_parse_template(apr_pool_t *p, const char *text,
                              const rw_tpl_t **out);

/** An apr_hash function for tables whose keys strangers choose (the
 *  .htaccess line cache, the map caches): SipHash-1-3 under a random key
 *  drawn at startup (rw_parse_init), so keys cannot be made to collide.
 *  APR's default hash (times 33) lets a client fill one bucket: the stock
 *  module's map cache is open to that, ours deliberately is not. */
unsigned int rw_hash_keyed(const char *key, apr_ssize_t *klen);

/** A directive read from an .htaccess file: cmd->override holds that
 *  directory's AllowOverride bits there, while in *.conf it always has
 *  ACCESS_CONF (inside a section) or RSRC_CONF (outside).  The same answer
 *  as ap_check_cmd_context(cmd, NOT_IN_HTACCESS), without building its
 *  error message for every .htaccess line of every request. */
static inline int rw_in_htaccess(const cmd_parms *cmd)
{
    return !(cmd->override & (ACCESS_CONF | RSRC_CONF));
}

/** Parses a variable name as found in %{...}. */
void rw_parse_var(apr_pool_t *p, const char *name, rw_var_t *out);

/** Parses "[flags]" of a RewriteRule into rule; error string or NULL. */
const char *rw_parse_rule_flags(apr_pool_t *p, const char *flags,
                                rw_rule_t *rule);

/** Parses "[flags]" of a RewriteCond into cond; error string or NULL. */
const char *rw_parse_cond_flags(apr_pool_t *p, const char *flags,
                                rw_cond_t *cond);

/** Parses a CondPattern (operator and operand) into cond. */
const char *rw_parse_cond_pattern(apr_pool_t *p, const char *pattern,
                                  rw_cond_t *cond);

/** Splits a directive's argument line like the stock module: up to three
 *  words, quotes and backslash escapes honoured; error string or NULL. */
const char *rw_split_args(apr_pool_t *p, const char *line,
                          char **a1, char **a2, char **a3);

const char *rw_cmd_engine(cmd_parms *cmd, void *dconf, int flag);
const char *rw_cmd_options(cmd_parms *cmd, void *dconf, const char *opt);
const char *rw_cmd_base(cmd_parms *cmd, void *dconf, const char *a);
const char *rw_cmd_cond(cmd_parms *cmd, void *dconf, const char *line);
const char *rw_cmd_rule(cmd_parms *cmd, void *dconf, const char *line);
const char *rw_cmd_map(cmd_parms *cmd, void *dconf, const char *a1,
                       const char *a2, const char *a3);

/* ------------------------------------------------------------------ */
/* rewrite_exec.c: request time                                        */

/** translate_name: server-context rules; OK, DECLINED or an HTTP status. */
int rw_exec_server(request_rec *r);
/** fixups: per-directory rules; OK, DECLINED or an HTTP status. */
int rw_exec_dir(request_rec *r);
/** fixups: applies T= and H= remembered by server-context rules. */
int rw_exec_mimetype(request_rec *r);
/** the "redirect-handler": internal redirect after per-dir rewrite. */
int rw_exec_redirect_handler(request_rec *r);
/** post_config: resolve optional functions of other modules. */
void rw_exec_post_config(void);

/** Escapes str for a URL path the way [B] does (pure; for unit tests). */
char *rw_escape_backref(apr_pool_t *p, const char *str, const char *only,
                        const char *except, int noplus, int ctls_only);

/* ------------------------------------------------------------------ */
/* rewrite_index.c: which rules can match a URL                         */

/** Config time: the index of rules[0..nrules), or NULL when the list is
 *  too short to need one. */
const rw_index_t *rw_index_build(apr_pool_t *p, const rw_rule_t *rules,
                                 int nrules);
/** Request time: the numbers of the indexed rules that can match URL s
 *  (every other indexed rule's pattern cannot), ascending; from pool or
 *  the index itself. */
const int *rw_index_candidates(const rw_index_t *ix, apr_pool_t *pool,
                               const char *s, int *ncands);
/** How many bytes of a URL rw_index_candidates reads at most: two URLs
 *  equal over that many bytes (strncmp) have the same candidates. */
apr_size_t rw_index_span(const rw_index_t *ix);
/** The rules that are candidates for every URL (not indexed), ascending. */
const int *rw_index_always(const rw_index_t *ix, int *n);

/* ------------------------------------------------------------------ */
/* rewrite_map.c: maps (the back ends: rewrite_map_*.c)               */

/** RewriteMap name spec [options]: the map of spec "TYPE:SOURCE" (TYPE
 *  in any case; "dbm=SUFFIX:SOURCE"; anything else is a txt file) in
 *  *out; the directive's error message or NULL. */
const char *rw_map_define(cmd_parms *cmd, const char *name, const char *spec,
                          const char *options, rw_map_t **out);
/** Config time: the number of map name (rw_server_conf_t.mapids), the
 *  same in every server, when a RewriteMap line read so far defines
 *  that name somewhere; else (and at request time) -1. */
int rw_map_name_id(const char *name);
/** Receives the trace lines of one lookup (level 1..8 = trace1..8). */
typedef void (rw_map_log_fn)(void *baton, int level, const char *msg);
/** Looks up key in map, writing the stock module's trace lines for it
 *  ("map lookup OK: map=m[txt] key=k -> val=v", "cache lookup ...",
 *  "SQL map lookup ...") through log(baton, ...); log may be NULL.
 *  NULL means no value (the caller uses the default); an empty string
 *  is a value (int, prg and dbd maps can return one). */
const char *rw_map_lookup_log(request_rec *r, const rw_map_t *map,
                              const char *key, rw_map_log_fn *log,
                              void *baton);
/** What the lookups of one request remember for the rest of it: the
 *  mtime each file map's source had at its first lookup, so that a map
 *  file is stat'ed once per request and not once per lookup (a changed
 *  file is still seen by the next request).  In the request pool. */
typedef struct rw_map_memo_t rw_map_memo_t;
/** rw_map_lookup_log, remembering in *memo (a slot of the request's own
 *  state, NULL at first; memo itself may be NULL: nothing remembered). */
const char *rw_map_lookup_req(request_rec *r, const rw_map_t *map,
                              const char *key, rw_map_log_fn *log,
                              void *baton, rw_map_memo_t **memo);
/** Registers an int: map function (the public optional function). */
void rw_map_register_func(const char *name, rewrite_mapfunc_t *func);
/** pre_config: the back ends' (int: functions, prg supervision). */
void rw_map_pre_config(apr_pool_t *p);
/** post_config: each back end's for the maps the servers use (txt
 *  indexes, prg programs); OK or an HTTP status. */
int rw_map_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s);
/** child_init: each back end's (prg locks). */
void rw_map_child_init(apr_pool_t *p, server_rec *s);

#endif /* RW_REWRITE_H */
