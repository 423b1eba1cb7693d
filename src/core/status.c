/*
 * status.c — status strings, the library version, and the thread-local last-error message.
 * Messages are formatted once at the failure site; anvil__error_prefix adds context on the way
 * up so the user sees "while loading 'm.onnx': tensor 'w': ..." in one line.
 */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ANVIL_ERROR_MAX 4096

static _Thread_local char last_error[ANVIL_ERROR_MAX];

const char *anvil_version(void) { return ANVIL_VERSION_STRING; }

const char *anvil_status_string(anvil_status status) {
    switch (status) {
#define ANVIL_X_(name, value, text) \
    case ANVIL_STATUS_##name:       \
        return text;
        ANVIL_STATUS_LIST(ANVIL_X_)
#undef ANVIL_X_
    default:
        return "unknown status";
    }
}

const char *anvil_last_error(void) { return last_error; }

void anvil__error_clear(void) { last_error[0] = '\0'; }

anvil_status anvil__error(anvil_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

anvil_status anvil__error_prefix(anvil_status status, const char *fmt, ...) {
    char prefix[1024];
    char old[ANVIL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* prefix + ": " + old message, truncated to the buffer. */
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return status;
}
