/*
 * test_conformance.c — runs the ONNX backend node tests of ANVIL_SHARED_DIR/onnx-node-tests
 * through the reference interpreter and judges them like ONNX's runner does
 * (|a-e| <= 1e-7 + 1e-3|e|, NaN matches NaN; integers and bools must be exact).
 * Each test runs in a forked child, so a crash or hang is that test's failure, not the runner's.
 * It tests nothing by itself beyond the pass rate: per-op unit tests live elsewhere.
 */
#include "core/core.h"
#include "import/onnx.h"
#include "ir/ir.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ANVIL_SHARED_DIR
#define ANVIL_SHARED_DIR "../shared"
#endif

#define MAX_IO 64             /* tensors per test; node tests have at most a handful */
#ifndef TEST_TIMEOUT_S
#define TEST_TIMEOUT_S 120    /* per test, in the forked child */
#endif
#define PASS_TARGET 0.95      /* passed / (passed + failed) needed for exit 0 */

enum { RES_PASS, RES_FAIL, RES_SKIP };

typedef struct result {
    int kind;
    char reason[600];
} result;

typedef struct options {
    const char *const *filters;
    int n_filters;
    const char *markdown;
    bool fork_each;
    bool verbose;
} options;

/* One non-passing test, kept for the Markdown report. */
typedef struct entry {
    const char *name;
    result r;
} entry;

/* Tests whose expected outputs come from numpy's random generator: no engine can match them. */
static const char *const k_random_tests[] = {
    "test_training_dropout", "test_training_dropout_default",
    "test_training_dropout_default_mask", "test_training_dropout_mask",
};

static int set_result(result *r, int kind, const char *fmt, ...) ANVIL_PRINTF(3, 4);
static int set_result(result *r, int kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    /* Reasons are printed one per line and put in table cells. */
    for (char *p = r->reason; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    r->kind = kind;
    return kind;
}

/* ---- tensors ------------------------------------------------------------------------------ */

typedef struct tensor_set {
    anvil__tensor t[MAX_IO];
    char *names[MAX_IO];
    size_t count;
} tensor_set;

static void tensor_set_free(tensor_set *s) {
    for (size_t i = 0; i < s->count; i++) {
        anvil__free(s->t[i].data);
        anvil__free(s->names[i]);
    }
    s->count = 0;
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

/* Reads <dir>/test_data_set_0/<prefix>_K.pb for K = 0, 1, ... until one is missing.
 * Returns RES_PASS when all were read, else sets r (skip for unsupported element types). */
static int read_tensors(const char *dir, const char *prefix, tensor_set *s, result *r) {
    char path[4096];
    for (size_t k = 0;; k++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/%s_%zu.pb", dir, prefix, k);
        if (!file_exists(path)) return RES_PASS;
        if (k == MAX_IO) return set_result(r, RES_FAIL, "more than %d %s files", MAX_IO, prefix);
        anvil__mapping m;
        anvil_status st = anvil__map_file(path, &m);
        if (st == ANVIL_OK) {
            memset(&s->t[k], 0, sizeof s->t[k]);
            s->names[k] = NULL;
            st = anvil__onnx_read_tensor(m.data, m.size, &s->t[k], &s->names[k]);
            anvil__unmap(&m);
        }
        if (st != ANVIL_OK)
            return set_result(r, st == ANVIL_STATUS_UNSUPPORTED ? RES_SKIP : RES_FAIL,
                              "%s_%zu.pb: %s: %s", prefix, k, anvil_status_string(st),
                              anvil_last_error());
        s->count = k + 1;
    }
}

/* Formats element i of a tensor for messages, exactly for 64-bit integers. */
static void format_elem(anvil_dtype dt, const void *data, size_t i, char *buf, size_t size) {
    if (anvil__dtype_is_float(dt)) {
        snprintf(buf, size, "%.9g", anvil__load_f64(dt, data, i));
    } else if (dt == ANVIL_DTYPE_U64) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)data + i * 8, 8);
        snprintf(buf, size, "%" PRIu64, v);
    } else {
        snprintf(buf, size, "%" PRId64, anvil__load_i64(dt, data, i));
    }
}

static bool float_close(double a, double e) {
    if (isnan(e)) return isnan(a);
    if (isinf(e)) return a == e;
    if (!isfinite(a)) return false;
    return fabs(a - e) <= 1e-7 + 1e-3 * fabs(e);
}

/* Compares output k; returns RES_PASS or sets r to a failure. */
static int compare_output(size_t k, const anvil_tensor *got, const anvil__tensor *exp,
                          result *r) {
    const char *name = got->name ? got->name : "";
    if (got->dtype != exp->dtype)
        return set_result(r, RES_FAIL, "output %zu '%s': dtype %s, expected %s", k, name,
                          anvil_dtype_name(got->dtype), anvil_dtype_name(exp->dtype));
    bool same_shape = got->rank == exp->rank;
    for (int32_t d = 0; same_shape && d < got->rank; d++)
        same_shape = got->dims[d] == exp->dims[d];
    if (!same_shape) {
        char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
        return set_result(r, RES_FAIL, "output %zu '%s': shape %s, expected %s", k, name,
                          anvil__shape_str(got->rank, got->dims, a, sizeof a),
                          anvil__shape_str(exp->rank, exp->dims, b, sizeof b));
    }
    int64_t n = anvil_shape_numel(got->rank, got->dims);
    size_t esize = anvil_dtype_size(got->dtype);
    if (n < 0 || got->bytes != (size_t)n * esize || exp->bytes != got->bytes ||
        (n > 0 && (!got->data || !exp->data)))
        return set_result(r, RES_FAIL, "output %zu '%s': %zu bytes, expected %zu", k, name,
                          got->bytes, exp->bytes);
    bool is_float = anvil__dtype_is_float(got->dtype);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < (size_t)n; i++) {
        bool ok = is_float ? float_close(anvil__load_f64(got->dtype, got->data, i),
                                         anvil__load_f64(exp->dtype, exp->data, i))
                           : memcmp((const uint8_t *)got->data + i * esize,
                                    (const uint8_t *)exp->data + i * esize, esize) == 0;
        if (!ok && bad++ == 0) first = i;
    }
    if (bad == 0) return RES_PASS;
    char a[64], e[64];
    format_elem(got->dtype, got->data, first, a, sizeof a);
    format_elem(exp->dtype, exp->data, first, e, sizeof e);
    return set_result(r, RES_FAIL, "output %zu '%s': %zu of %" PRId64
                      " values differ; first at flat index %zu: got %s, expected %s",
                      k, name, bad, n, first, a, e);
}

/* ---- one test ----------------------------------------------------------------------------- */

/* --engine: run each test through a compiled CPU engine instead of the interpreter. */
static bool g_engine = false;

static int run_loaded(const anvil_model *model, const tensor_set *in, const tensor_set *exp,
                      result *r) {
    if (anvil_model_input_count(model) != in->count)
        return set_result(r, RES_FAIL, "model has %zu inputs, test data has %zu",
                          anvil_model_input_count(model), in->count);
    anvil_tensor inputs[MAX_IO];
    for (size_t k = 0; k < in->count; k++) {
        const anvil__tensor *t = &in->t[k];
        memset(&inputs[k], 0, sizeof inputs[k]);
        inputs[k].name = NULL; /* input_K.pb feeds graph input K: match by position */
        inputs[k].dtype = t->dtype;
        inputs[k].rank = t->rank;
        if (t->rank > 0) memcpy(inputs[k].dims, t->dims, (size_t)t->rank * sizeof t->dims[0]);
        inputs[k].data = t->data;
        inputs[k].bytes = t->bytes;
    }
    anvil_tensor_list *out = NULL;
    anvil_status st;
    if (g_engine) { /* compile for the CPU backend and run the engine instead */
        anvil_compile_options co = anvil_compile_options_default();
        co.autotune = 0;
        co.threads = 1;
        anvil_engine *e = NULL;
        anvil_context *c = NULL;
        st = anvil_engine_compile(model, &co, &e);
        if (st == ANVIL_STATUS_UNSUPPORTED)
            return set_result(r, RES_SKIP, "engine: %s", anvil_last_error());
        if (st == ANVIL_OK) st = anvil_context_create(e, &c);
        if (st == ANVIL_OK) st = anvil_engine_run(c, inputs, in->count, &out);
        anvil_context_destroy(c);
        anvil_engine_destroy(e);
    } else {
        st = anvil_model_run_reference(model, inputs, in->count, &out);
    }
    if (st != ANVIL_OK)
        return set_result(r, RES_FAIL, "run: %s: %s", anvil_status_string(st),
                          anvil_last_error());
    int kind = RES_PASS;
    size_t n_out = anvil_tensor_list_count(out);
    if (n_out != exp->count)
        kind = set_result(r, RES_FAIL, "%zu outputs, expected %zu", n_out, exp->count);
    for (size_t k = 0; kind == RES_PASS && k < n_out; k++)
        kind = compare_output(k, anvil_tensor_list_get(out, k), &exp->t[k], r);
    anvil_tensor_list_destroy(out);
    return kind;
}

static int run_test(const char *root, const char *name, result *r) {
    for (size_t i = 0; i < sizeof k_random_tests / sizeof k_random_tests[0]; i++)
        if (strcmp(name, k_random_tests[i]) == 0)
            return set_result(r, RES_SKIP, "training-mode Dropout with ratio > 0: expected "
                                           "outputs come from numpy's random generator");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    anvil_model *model = NULL;
    anvil_status st = anvil_model_load(path, &model);
    if (st != ANVIL_OK)
        return set_result(r, st == ANVIL_STATUS_UNSUPPORTED ? RES_SKIP : RES_FAIL,
                          "load: %s: %s", anvil_status_string(st), anvil_last_error());
    tensor_set *in = calloc(1, sizeof *in), *exp = calloc(1, sizeof *exp);
    int kind = (in && exp) ? RES_PASS : set_result(r, RES_FAIL, "out of memory in the runner");
    if (kind == RES_PASS) kind = read_tensors(dir, "input", in, r);
    if (kind == RES_PASS) kind = read_tensors(dir, "output", exp, r);
    if (kind == RES_PASS) kind = run_loaded(model, in, exp, r);
    if (in) tensor_set_free(in);
    if (exp) tensor_set_free(exp);
    free(in);
    free(exp);
    anvil_model_destroy(model);
    return kind;
}

/* Runs one test in a child process so that a crash, an abort or a hang is reported as this
 * test's failure. The child sends its result through a pipe. */
static void run_isolated(const char *root, const char *name, bool fork_each, result *r) {
    memset(r, 0, sizeof *r);
    if (!fork_each) {
        run_test(root, name, r);
        return;
    }
    int fd[2];
    if (pipe(fd) != 0) {
        set_result(r, RES_FAIL, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        set_result(r, RES_FAIL, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(TEST_TIMEOUT_S);
        run_test(root, name, r);
        ssize_t w = write(fd[1], r, sizeof *r);
        _exit(w == (ssize_t)sizeof *r ? 0 : 3);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd[0], (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM)
        set_result(r, RES_FAIL, "timed out after %d s", TEST_TIMEOUT_S);
    else if (WIFSIGNALED(wstatus))
        set_result(r, RES_FAIL, "crashed: signal %d (%s)", WTERMSIG(wstatus),
                   strsignal(WTERMSIG(wstatus)));
    else if (got != sizeof *r)
        set_result(r, RES_FAIL, "child exited with status %d without a result",
                   WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    r->reason[sizeof r->reason - 1] = '\0';
}

/* ---- driver ------------------------------------------------------------------------------- */

static bool selected(const options *o, const char *name) {
    if (o->n_filters == 0) return true;
    for (int i = 0; i < o->n_filters; i++)
        if (strstr(name, o->filters[i])) return true;
    return false;
}

/* Writes a table cell: '|' escaped, and the data folder prefix dropped so that the report does
 * not depend on where the data lives ("test_x/model.onnx"). */
static void md_cell(FILE *f, const char *s, const char *root) {
    size_t root_len = strlen(root);
    for (; *s; s++) {
        if (strncmp(s, root, root_len) == 0 && s[root_len] == '/') s += root_len + 1;
        if (!*s) break;
        if (*s == '|') fputs("\\|", f);
        else fputc(*s, f);
    }
}

static int write_markdown(const char *path, const char *root, const entry *e, size_t n,
                          const char *summary) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\n\n", summary);
    if (n == 0) {
        fputs("Every selected test passed.\n", f);
    } else {
        fputs("| test | result | reason |\n| --- | --- | --- |\n", f);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "| `%s` | %s | ", e[i].name, e[i].r.kind == RES_FAIL ? "fail" : "skip");
            md_cell(f, e[i].r.reason, root);
            fputs(" |\n", f);
        }
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "error writing %s\n", path);
        return -1;
    }
    return 0;
}

static void usage(FILE *f) {
    fputs("usage: test_conformance [--engine] [--markdown FILE] [--no-fork] [--verbose] "
          "[SUBSTRING...]\n"
          "--engine compiles each model for the CPU backend and runs the engine.\n"
          "Runs the ONNX node tests of " ANVIL_SHARED_DIR "/onnx-node-tests whose names\n"
          "contain any SUBSTRING (all without one). Exit 0 when passed >= 95% of\n"
          "passed + failed, 1 otherwise, 77 when the test folder is missing.\n",
          f);
}

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->fork_each = true;
    o->filters = (const char *const *)argv; /* compacted in place below */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0) {
            if (++i == argc) {
                usage(stderr);
                return 2;
            }
            o->markdown = argv[i];
        } else if (strcmp(argv[i], "--engine") == 0) {
            g_engine = true;
        } else if (strcmp(argv[i], "--no-fork") == 0) {
            o->fork_each = false;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            o->verbose = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else {
            argv[o->n_filters++] = argv[i];
        }
    }
    return -1;
}

/* Reads MANIFEST.txt: one test folder name per line, blank lines skipped. The names point into
 * *storage; both arrays are freed by the caller. */
static char **read_manifest(const char *root, char **storage, size_t *count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST.txt", root);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 < cap) continue;
        char *grown = realloc(buf, cap *= 2);
        if (!grown) free(buf);
        buf = grown;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[len] = '\0';
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    char **names = calloc(lines, sizeof *names);
    if (!names) {
        free(buf);
        return NULL;
    }
    *count = 0;
    for (char *line = strtok(buf, "\r\n"); line; line = strtok(NULL, "\r\n"))
        names[(*count)++] = line;
    *storage = buf;
    return names;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    const char *root = ANVIL_SHARED_DIR "/onnx-node-tests";
    size_t n_names = 0;
    char *storage = NULL;
    char **names = read_manifest(root, &storage, &n_names);
    if (!names) {
        printf("conformance: %s/MANIFEST.txt not found, skipping\n", root);
        return 77;
    }
    entry *entries = calloc(n_names ? n_names : 1, sizeof *entries);
    if (!entries) return 1;
    size_t n_entries = 0, passed = 0, failed = 0, skipped = 0, total = 0;
    for (size_t i = 0; i < n_names; i++) {
        const char *name = names[i];
        if (!selected(&o, name)) continue;
        total++;
        result r;
        run_isolated(root, name, o.fork_each, &r);
        if (r.kind == RES_PASS) {
            passed++;
            if (o.verbose) printf("PASS %s\n", name);
            continue;
        }
        if (r.kind == RES_FAIL) failed++;
        else skipped++;
        printf("%s %s: %s\n", r.kind == RES_FAIL ? "FAIL" : "SKIP", name, r.reason);
        fflush(stdout);
        entries[n_entries].name = name;
        entries[n_entries++].r = r;
    }
    char summary[200];
    snprintf(summary, sizeof summary, "conformance: %zu passed, %zu failed, %zu skipped (of %zu)",
             passed, failed, skipped, total);
    printf("%s\n", summary);
    rc = (passed + failed > 0 && (double)passed >= PASS_TARGET * (double)(passed + failed)) ? 0
         : passed + failed == 0 ? 77
                                : 1;
    if (o.markdown && write_markdown(o.markdown, root, entries, n_entries, summary) != 0) rc = 1;
    if (rc == 1)
        printf("conformance: pass rate below the %.0f%% target\n", PASS_TARGET * 100);
    free(entries);
    free(names);
    free(storage);
    return rc;
}
