/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * FZ_CHECK: an invariant of the code under test.  A failure prints the
 * condition and aborts, which libFuzzer reports as a crash (with the
 * input saved as an artefact), like a sanitizer finding.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_CHECK(cond, what)                                            \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: invariant failed: %s (%s)\n",       \
                    __FILE__, __LINE__, #cond, (what));                 \
            abort();                                                    \
        }                                                               \
    } while (0)

#endif /* FUZZ_CHECK_H */
