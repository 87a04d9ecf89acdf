/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * A tiny unit test framework: each CHECK_* counts one check and prints
 * "file:line: what: expected X, got Y" when it fails.  main.c prints
 * the closing "unit: N passed, N failed" line.
 */
#ifndef RW_UNIT_H
#define RW_UNIT_H

#include <stdio.h>
#include <string.h>

#include "apr_pools.h"

extern int unit_passed, unit_failed;
extern apr_pool_t *unit_pool;   /* cleared between test groups */

/* stubs.c: the server's RegexDefaultOptions, and the last log line. */
extern int unit_default_cflags;
extern char unit_last_log[1024];
/* stubs.c: ap_check_cmd_context() says "in an .htaccess" when set. */
extern int unit_in_htaccess;

void unit_fail(const char *file, int line, const char *what,
               const char *expected, const char *got);
void unit_fail_int(const char *file, int line, const char *what,
                   long expected, long got);

#define UNIT_NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* A condition that must hold. */
#define CHECK(cond, what)                                               \
    do {                                                                \
        if (cond) ++unit_passed;                                        \
        else unit_fail(__FILE__, __LINE__, (what), "true", "false");    \
    } while (0)

/* Two strings, either of which may be NULL (printed as "(null)"). */
#define CHECK_STR(exp, got, what)                                       \
    do {                                                                \
        const char *e_ = (exp), *g_ = (got);                            \
        if ((!e_ && !g_) || (e_ && g_ && !strcmp(e_, g_))) ++unit_passed; \
        else unit_fail(__FILE__, __LINE__, (what), e_, g_);             \
    } while (0)

#define CHECK_INT(exp, got, what)                                       \
    do {                                                                \
        long e_ = (long)(exp), g_ = (long)(got);                        \
        if (e_ == g_) ++unit_passed;                                    \
        else unit_fail_int(__FILE__, __LINE__, (what), e_, g_);         \
    } while (0)

/* The test groups, one per source file (each includes that file). */
void test_parse(void);
void test_exec(void);
void test_map(void);
void test_txtindex(void);
void test_index(void);
void test_stats(void);

#endif /* RW_UNIT_H */
