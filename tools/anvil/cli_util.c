/*
 * cli_util.c — helpers of the `anvil` tool: error and usage messages with the documented exit
 * codes, output-name sanitizing, shape/count/byte formatting, mkdir -p, a clock and a median.
 * No command logic here; tests/test_cli.c compiles this file directly to test the sanitizer.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

const char cli_exit_codes_help[] =
    "EXIT CODES\n"
    "  0  success\n"
    "  1  runtime or library error; the message goes to stderr as\n"
    "     \"anvil: <status>: <details>\" (e.g. \"anvil: missing input: ...\")\n"
    "  2  usage error: unknown command or option, missing or bad argument\n";

int cli_library_error(anvil_status status) {
    fprintf(stderr, "anvil: %s: %s\n", anvil_status_string(status), anvil_last_error());
    return CLI_EXIT_ERROR;
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("anvil: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

int cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "anvil%s%s: ", command ? " " : "", command ? command : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'anvil %s%s'.\n", command ? "help " : "--help",
            command ? command : "");
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *command, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') return cli_usage_error(command, "option '%s' needs an argument", arg);
    if (optopt && strncmp(arg, "--", 2) != 0)
        return cli_usage_error(command, "unknown option '-%c'", optopt);
    return cli_usage_error(command, "unknown option '%s'", arg);
}

int cli_two_arguments(const char *command, int argc, char **argv, const char *first,
                      const char *second, const char **a, const char **b) {
    if (argc - optind < 2)
        return cli_usage_error(command, "missing %s argument", optind == argc ? first : second);
    if (argc - optind > 2)
        return cli_usage_error(command, "expected %s and %s, got %d arguments", first, second,
                               argc - optind);
    *a = argv[optind];
    *b = argv[optind + 1];
    return CLI_EXIT_OK;
}

int cli_model_argument(const char *command, int argc, char **argv, const char **path) {
    if (optind == argc) return cli_usage_error(command, "missing MODEL argument");
    if (optind != argc - 1)
        return cli_usage_error(command, "expected one MODEL, got %d arguments", argc - optind);
    *path = argv[optind];
    return CLI_EXIT_OK;
}

static bool name_char_ok(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

char *cli_sanitize_name(const char *name, char *out, size_t size) {
    size_t n = 0;
    for (; name && name[n] && n + 1 < size; n++)
        out[n] = name_char_ok((unsigned char)name[n]) ? name[n] : '_';
    if (n == 0 && size > 1) out[n++] = '_';
    out[n] = '\0';
    return out;
}

/* Appends formatted text at *len, never past size (snprintf truncation is kept in bounds). */
static void append(char *out, size_t size, size_t *len, const char *fmt, ...) CLI_PRINTF(4, 5);
static void append(char *out, size_t size, size_t *len, const char *fmt, ...) {
    if (*len >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len = (size_t)n >= size - *len ? size - 1 : *len + (size_t)n;
}

char *cli_format_shape(int32_t rank, const int64_t *dims, const char *const *dim_names,
                       char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    if (rank < 0 || rank > ANVIL_MAX_RANK) {
        append(out, size, &len, "[...]");
        return out;
    }
    append(out, size, &len, "[");
    for (int32_t i = 0; i < rank; i++) {
        const char *sep = i ? ", " : "";
        if (dims[i] >= 0)
            append(out, size, &len, "%s%lld", sep, (long long)dims[i]);
        else if (dim_names && dim_names[i])
            append(out, size, &len, "%s%s", sep, dim_names[i]);
        else
            append(out, size, &len, "%s?", sep);
    }
    append(out, size, &len, "]");
    return out;
}

char *cli_format_count(uint64_t value, char *out, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) append(out, size, &len, ",");
        append(out, size, &len, "%c", digits[i]);
    }
    return out;
}

char *cli_format_bytes(uint64_t bytes, char *out, size_t size) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, size, "%.1f %s", v, units[u]);
    return out;
}

int cli_make_dirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(buf, path, n + 1);
    /* Create each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cli_sort_median(double *v, size_t n) {
    qsort(v, n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
