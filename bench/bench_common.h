/* bench_common.h — what the bench programs share: a monotonic clock and the one-line failure
 * report on stderr, JSON strings on stdout. Header-only. */
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

/* Writes s as a JSON string (quotes, escapes) to stdout. */
static inline void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

#endif /* ANVIL_BENCH_COMMON_H */
