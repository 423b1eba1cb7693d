/* bench_common.h — what the bench programs share: a monotonic clock and the one-line failure
 * report on stderr. Header-only. */
#ifndef ANVIL_BENCH_COMMON_H
#define ANVIL_BENCH_COMMON_H

#include "anvil.h"

#include <stdio.h>
#include <time.h>

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "PROGRAM: what: status: message" on stderr; returns the exit code 1. */
static inline int bench_fail(const char *program, const char *what, anvil_status st) {
    fprintf(stderr, "%s: %s: %s: %s\n", program, what, anvil_status_string(st),
            anvil_last_error());
    return 1;
}

#endif /* ANVIL_BENCH_COMMON_H */
