/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Runs every unit test group and prints "unit: N passed, N failed";
 * exits 1 when a check failed.  No server is needed: the httpd
 * functions the sources call are stubbed in stubs.c.
 */
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "unit.h"

int unit_passed, unit_failed;
apr_pool_t *unit_pool;

/* Shows a string with non-printable bytes as \xNN; when quote is set,
 * in double quotes, with '"' and '\\' escaped. */
static const char *show_q(const char *s, int quote)
{
    static char buf[3][1024];
    static int which;
    char *b = buf[which = (which + 1) % 3], *o = b;

    if (!s)
        return "(null)";
    if (quote)
        *o++ = '"';
    for (; *s && o < b + sizeof(buf[0]) - 6; ++s) {
        unsigned char c = (unsigned char)*s;
        if (quote && (c == '"' || c == '\\'))
            o += sprintf(o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += sprintf(o, "\\x%02x", c);
        else
            *o++ = (char)c;
    }
    if (quote)
        *o++ = '"';
    *o = '\0';
    return b;
}

static const char *show(const char *s)
{
    return show_q(s, 1);
}

void unit_fail(const char *file, int line, const char *what,
               const char *expected, const char *got)
{
    ++unit_failed;
    printf("%s:%d: %s: expected %s, got %s\n", file, line,
           show_q(what, 0), show(expected), show(got));
}

void unit_fail_int(const char *file, int line, const char *what,
                   long expected, long got)
{
    ++unit_failed;
    printf("%s:%d: %s: expected %ld, got %ld\n", file, line,
           show_q(what, 0), expected, got);
}

int main(void)
{
    static void (*const groups[])(void) = { test_parse, test_exec,
                                            test_map, test_txtindex,
                                            test_index, test_stats };
    apr_size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    for (i = 0; i < UNIT_NELTS(groups); ++i) {
        apr_pool_create(&unit_pool, NULL);
        groups[i]();
        apr_pool_destroy(unit_pool);
    }
    apr_terminate();
    printf("unit: %d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}
