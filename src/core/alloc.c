/*
 * alloc.c — checked allocation. Every size that can come from a file passes through here, so a
 * corrupt header cannot trigger a giant allocation or an overflowing product. A thread-local
 * countdown lets tests fail the n-th allocation to prove error paths leave objects unchanged.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local long fail_countdown = -1;

void anvil__alloc_fail_after(long n) { fail_countdown = n; }

static bool should_fail(void) {
    if (fail_countdown < 0) return false;
    if (fail_countdown == 0) {
        fail_countdown = -1;
        return true;
    }
    fail_countdown--;
    return false;
}

bool anvil__mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool anvil__add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

bool anvil__mul_i64(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

static void *fail_size(size_t size) {
    anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                 "allocation of %zu bytes exceeds the limit of %zu bytes", size,
                 (size_t)ANVIL_MAX_ALLOC);
    return NULL;
}

static void *fail_oom(size_t size) {
    anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "out of memory allocating %zu bytes", size);
    return NULL;
}

void *anvil__malloc(size_t size) {
    if (size > ANVIL_MAX_ALLOC) return fail_size(size);
    if (should_fail()) return fail_oom(size);
    void *p = malloc(size ? size : 1);
    return p ? p : fail_oom(size);
}

void *anvil__calloc(size_t count, size_t size) {
    size_t total;
    if (!anvil__mul_size(count, size, &total)) return fail_size(SIZE_MAX);
    if (total > ANVIL_MAX_ALLOC) return fail_size(total);
    if (should_fail()) return fail_oom(total);
    void *p = calloc(total ? total : 1, 1);
    return p ? p : fail_oom(total);
}

void *anvil__malloc_array(size_t count, size_t size) {
    size_t total;
    if (!anvil__mul_size(count, size, &total)) return fail_size(SIZE_MAX);
    return anvil__malloc(total);
}

void *anvil__realloc(void *ptr, size_t size) {
    if (size > ANVIL_MAX_ALLOC) return fail_size(size);
    if (should_fail()) return fail_oom(size);
    void *p = realloc(ptr, size ? size : 1);
    return p ? p : fail_oom(size);
}

void anvil__free(void *ptr) { free(ptr); }

char *anvil__strndup(const char *s, size_t n) {
    char *d = anvil__malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *anvil__strdup(const char *s) { return anvil__strndup(s, strlen(s)); }
