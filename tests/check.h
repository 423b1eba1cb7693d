/*
 * check.h — the tiny test harness: CHECK-style macros that print both values and file:line,
 * count failures, and let a test continue to report every failure. A test's main returns
 * check_exit() (0 when every check passed, 1 otherwise; 77 means "skipped" to ctest).
 */
#ifndef ANVIL_CHECK_H
#define ANVIL_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures_ = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            check_failures_++;                                                       \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                      \
    do {                                                                                    \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                     \
        if (check_a_ != check_b_) {                                                         \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld vs %lld\n", __FILE__,     \
                    __LINE__, #a, #b, check_a_, check_b_);                                  \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                  \
    do {                                                                                    \
        const char *check_a_ = (a), *check_b_ = (b);                                        \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                    \
            fprintf(stderr, "%s:%d: CHECK_STR_EQ(%s, %s) failed: \"%s\" vs \"%s\"\n",       \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",             \
                    check_b_ ? check_b_ : "(null)");                                        \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(haystack, needle)                                                    \
    do {                                                                                    \
        const char *check_h_ = (haystack), *check_n_ = (needle);                            \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                                     \
            fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__,         \
                    __LINE__, check_h_ ? check_h_ : "(null)", check_n_);                    \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double check_a_ = (double)(a), check_b_ = (double)(b);                              \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                        \
            fprintf(stderr, "%s:%d: CHECK_NEAR(%s, %s) failed: %.9g vs %.9g (tol %g)\n",    \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_, (double)(tol));         \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

/* Checks an anvil call's status; prints anvil_last_error() on mismatch. */
#define CHECK_STATUS(call, expected)                                                        \
    do {                                                                                    \
        anvil_status check_s_ = (call);                                                     \
        if (check_s_ != (expected)) {                                                       \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__,          \
                    __LINE__, #call, anvil_status_string(check_s_),                         \
                    anvil_status_string(expected), anvil_last_error());                     \
            check_failures_++;                                                              \
        }                                                                                   \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, ANVIL_OK)

static inline int check_exit(void) {
    if (check_failures_) fprintf(stderr, "%d check(s) failed\n", check_failures_);
    return check_failures_ ? 1 : 0;
}

/* Folder of ../shared (CMake passes ANVIL_SHARED_DIR); tests that need it skip (77) without. */
#ifndef ANVIL_SHARED_DIR
#define ANVIL_SHARED_DIR "../shared"
#endif
#ifndef ANVIL_TEST_DATA_DIR
#define ANVIL_TEST_DATA_DIR "tests/data"
#endif

#endif /* ANVIL_CHECK_H */
