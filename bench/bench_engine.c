/*
 * bench_engine.c — the anvil side of `make bench`: compiles one model twice (refittable and
 * immutable) at a thread count, checks the engine's output, and times the engines and the
 * reference interpreter. Alone it prints one JSON object with medians; with --serve it prints
 * the setup as one JSON line and then answers "anvil N" / "immutable N" / "interp N" / "pair N"
 * lines on stdin with the run times, so a driver can interleave it with ONNX Runtime. Not a
 * test.
 */
#include "anvil.h"
#include "bench_common.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INPUTS 16

typedef struct bench {
    const char *model_path;
    int threads, runs, warmup;
    bool serve, interp;
    anvil_model *model;
    anvil_engine *engine[2]; /* refittable, immutable */
    anvil_context *ctx[2];
    double compile_s[2];
    anvil_tensor inputs[MAX_INPUTS];
    anvil_tensor_list *input_lists[MAX_INPUTS];
    void *generated[MAX_INPUTS];
    size_t n_inputs;
    double rel_err;
    const char *checked_against;
    char input_files[MAX_INPUTS][4096]; /* "" for generated data */
} bench;

static int fail(const char *what, anvil_status st) {
    return bench_fail("bench_engine", what, st);
}

/* Path next to the model: "<dir>/<name>" (the model's folder holds input_<k>.npy). */
static void sibling(const char *model, const char *name, char *out, size_t size) {
    const char *slash = strrchr(model, '/');
    int dir = slash ? (int)(slash - model) : 1;
    snprintf(out, size, "%.*s/%s", dir, slash ? model : ".", name);
}

/* Input k: <dir>/input_<k>.npy when present, else the formula driver.js uses too:
 * x[i] = ((i * 7919) mod 2001 - 1000) / 1000 for f32, zeros otherwise. */
static int load_inputs(bench *b) {
    b->n_inputs = anvil_model_input_count(b->model);
    if (b->n_inputs > MAX_INPUTS) return fail("too many inputs", ANVIL_STATUS_LIMIT_EXCEEDED);
    for (size_t k = 0; k < b->n_inputs; k++) {
        anvil_tensor_desc d;
        char name[64], path[4096];
        anvil_status st = anvil_model_input(b->model, k, &d);
        if (st != ANVIL_OK) return fail("input", st);
        snprintf(name, sizeof name, "input_%zu.npy", k);
        sibling(b->model_path, name, path, sizeof path);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            if ((st = anvil_npy_read(path, &b->input_lists[k])) != ANVIL_OK) return fail(path, st);
            b->inputs[k] = *anvil_tensor_list_get(b->input_lists[k], 0);
            snprintf(b->input_files[k], sizeof b->input_files[k], "%s", path);
        } else {
            anvil_tensor *t = &b->inputs[k];
            t->dtype = d.dtype;
            t->rank = d.rank;
            for (int32_t i = 0; i < d.rank; i++) t->dims[i] = d.dims[i] < 0 ? 1 : d.dims[i];
            int64_t n = anvil_shape_numel(t->rank, t->dims);
            if (n < 0 || d.rank < 0) return fail("input shape", ANVIL_STATUS_UNSUPPORTED);
            t->bytes = (size_t)n * anvil_dtype_size(d.dtype);
            b->generated[k] = t->data = calloc(t->bytes + 1, 1);
            if (!t->data) return fail("input", ANVIL_STATUS_OUT_OF_MEMORY);
            for (int64_t i = 0; d.dtype == ANVIL_DTYPE_F32 && i < n; i++)
                ((float *)t->data)[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
        }
        b->inputs[k].name = d.name;
    }
    return 0;
}

static int compile_engines(bench *b) {
    for (int r = 0; r < 2; r++) {
        anvil_compile_options o = anvil_compile_options_default();
        o.threads = b->threads;
        o.refittable = r == 0;
        double t0 = now_s();
        anvil_status st = anvil_engine_compile(b->model, &o, &b->engine[r]);
        b->compile_s[r] = now_s() - t0;
        if (st != ANVIL_OK) return fail(r == 0 ? "compile" : "compile (immutable)", st);
        if ((st = anvil_context_create(b->engine[r], &b->ctx[r])) != ANVIL_OK)
            return fail("context", st);
    }
    return 0;
}

/* Max |a - ref| / max |ref| over f32 output 0. */
static double rel_error(const anvil_tensor *a, const anvil_tensor *ref) {
    if (a->dtype != ANVIL_DTYPE_F32 || ref->dtype != ANVIL_DTYPE_F32 || a->bytes != ref->bytes)
        return INFINITY;
    const float *x = a->data, *y = ref->data;
    double err = 0, mag = 0;
    for (size_t i = 0; i < a->bytes / sizeof(float); i++) {
        double e = fabs((double)x[i] - (double)y[i]);
        if (!(e <= err)) err = e;
        if (fabs((double)y[i]) > mag) mag = fabs((double)y[i]);
    }
    return mag > 0 ? err / mag : err;
}

/* The engine's output 0 against <stem>.output_0.npy next to the model, else the interpreter. */
static int check_output(bench *b) {
    anvil_tensor_list *got = NULL, *ref = NULL;
    anvil_status st = anvil_engine_run(b->ctx[0], b->inputs, b->n_inputs, &got);
    if (st != ANVIL_OK) return fail("run", st);
    char path[4096];
    size_t len = strlen(b->model_path);
    if (len > 5 && strcmp(b->model_path + len - 5, ".onnx") == 0)
        snprintf(path, sizeof path, "%.*s.output_0.npy", (int)(len - 5), b->model_path);
    else path[0] = '\0';
    FILE *f = path[0] && b->input_lists[0] ? fopen(path, "rb") : NULL;
    if (f) {
        fclose(f);
        st = anvil_npy_read(path, &ref);
        b->checked_against = "reference file";
    } else {
        st = anvil_model_run_reference(b->model, b->inputs, b->n_inputs, &ref);
        b->checked_against = "interpreter";
    }
    if (st == ANVIL_OK)
        b->rel_err = rel_error(anvil_tensor_list_get(got, 0), anvil_tensor_list_get(ref, 0));
    anvil_tensor_list_destroy(got);
    anvil_tensor_list_destroy(ref);
    return st == ANVIL_OK ? 0 : fail("reference output", st);
}

/* Runs `which` (0 refittable, 1 immutable, 2 interpreter) n times; times[i] in ms. */
static int time_runs(bench *b, int which, int n, double *times) {
    for (int i = 0; i < n; i++) {
        anvil_tensor_list *out = NULL;
        double t0 = now_s();
        anvil_status st = which < 2 ? anvil_engine_run(b->ctx[which], b->inputs, b->n_inputs, &out)
                                    : anvil_model_run_reference(b->model, b->inputs,
                                                                b->n_inputs, &out);
        if (times) times[i] = (now_s() - t0) * 1e3;
        anvil_tensor_list_destroy(out);
        if (st != ANVIL_OK) return fail("run", st);
    }
    return 0;
}

static void print_setup(const bench *b) {
    anvil_engine_info info;
    anvil_engine_get_info(b->engine[0], &info);
    printf("{\"model\": ");
    json_string(b->model_path);
    printf(", \"threads\": %d, \"compile_s\": %.6f, \"compile_immutable_s\": %.6f, "
           "\"engine_threads\": %d, \"layers\": %zu, \"slots\": %zu, \"weight_bytes\": %zu, "
           "\"arena_bytes\": %zu, \"activation_bytes\": %zu, \"checked_against\": \"%s\"",
           b->threads, b->compile_s[0], b->compile_s[1], (int)info.threads, info.layer_count,
           info.slot_count, info.weight_bytes, info.arena_bytes, info.activation_bytes,
           b->checked_against);
    if (isfinite(b->rel_err)) printf(", \"rel_err\": %.3g", b->rel_err);
    else printf(", \"rel_err\": null"); /* shapes or dtypes differ */
    printf(", \"inputs\": [");
    for (size_t k = 0; k < b->n_inputs; k++) {
        const anvil_tensor *t = &b->inputs[k];
        printf("%s{\"name\": ", k ? ", " : "");
        json_string(t->name);
        printf(", \"dtype\": \"%s\", \"shape\": [", anvil_dtype_name(t->dtype));
        for (int32_t i = 0; i < t->rank; i++) printf("%s%lld", i ? ", " : "", (long long)t->dims[i]);
        printf("], \"file\": ");
        if (b->input_files[k][0]) json_string(b->input_files[k]);
        else printf("null");
        printf("}");
    }
    printf("]");
}

static int compare_ms(const void *x, const void *y) {
    double a = *(const double *)x, c = *(const double *)y;
    return a < c ? -1 : a > c;
}

/* ", "name": {"min": .., "median": .., "max": ..}" from n times (sorted in place). */
static void print_stats(const char *name, double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, compare_ms);
    double median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    printf(", \"%s\": {\"runs\": %d, \"min\": %.4f, \"median\": %.4f, \"max\": %.4f}", name, n,
           t[0], median, t[n - 1]);
}

/* Alone: warm-up, then refittable and immutable alternately in rounds of 5, then the
 * interpreter; one JSON object. */
static int run_alone(bench *b) {
    int n = b->runs, rc = 0;
    double *t[3] = {calloc((size_t)n + 5, sizeof(double)), calloc((size_t)n + 5, sizeof(double)),
                    calloc((size_t)n + 5, sizeof(double))};
    if (!t[0] || !t[1] || !t[2]) rc = fail("timing", ANVIL_STATUS_OUT_OF_MEMORY);
    for (int w = 0; w < 2 && rc == 0; w++) rc = time_runs(b, w, b->warmup, NULL);
    for (int done = 0; done < n && rc == 0; done += 5) {
        int k = n - done < 5 ? n - done : 5;
        for (int j = 0; j < 2 && rc == 0; j++) {
            int w = (done / 5 + j) % 2; /* alternate which engine goes first */
            rc = time_runs(b, w, k, t[w] + done);
        }
    }
    if (b->interp && rc == 0) rc = time_runs(b, 2, n, t[2]);
    if (rc == 0) {
        print_setup(b);
        print_stats("anvil_ms", t[0], n);
        print_stats("immutable_ms", t[1], n);
        if (b->interp) print_stats("interp_ms", t[2], n);
        printf("}\n");
    }
    for (int i = 0; i < 3; i++) free(t[i]);
    return rc;
}

/* N runs of each engine alternately, which one goes first alternating too, so both see the
 * same machine (as the refittable/immutable comparison needs); t[0] and t[1] get N times each. */
static int time_pairs(bench *b, int n, double *t[2]) {
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        for (int j = 0; j < 2 && rc == 0; j++) {
            int w = (i + j) % 2;
            rc = time_runs(b, w, 1, t[w] + i);
        }
    return rc;
}

static void print_times(const char *name, const double *t, int n) {
    printf("\"%s\": [", name);
    for (int i = 0; i < n; i++) printf("%s%.4f", i ? ", " : "", t[i]);
    printf("]");
}

/* --serve: answers "anvil N", "immutable N", "interp N" with {"times_ms": [...]}, "pair N"
 * with {"times_ms": [...], "immutable_ms": [...]} (time_pairs); "quit". */
static int serve(bench *b) {
    char line[256], what[32];
    print_setup(b);
    printf("}\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        if (sscanf(line, "%31s %d", what, &n) < 1 || strcmp(what, "quit") == 0) break;
        int which = strcmp(what, "anvil") == 0 ? 0 : strcmp(what, "immutable") == 0 ? 1
                  : strcmp(what, "interp") == 0 ? 2 : strcmp(what, "pair") == 0 ? 3 : -1;
        if (which < 0 || n < 1 || n > 100000) {
            printf("{\"error\": \"bad command\"}\n");
            fflush(stdout);
            continue;
        }
        double *t[2] = {calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double))};
        int rc = !t[0] || !t[1] ? fail("timing", ANVIL_STATUS_OUT_OF_MEMORY)
               : which == 3     ? time_pairs(b, n, t)
                                : time_runs(b, which, n, t[0]);
        if (rc == 0) {
            printf("{");
            print_times("times_ms", t[0], n);
            if (which == 3) printf(", "), print_times("immutable_ms", t[1], n);
            printf("}\n");
            fflush(stdout);
        }
        free(t[0]);
        free(t[1]);
        if (rc != 0) return 1;
    }
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_engine MODEL.onnx [--threads N] [--runs N] [--warmup N] "
                    "[--no-interp] [--serve]\n");
    return 2;
}

static int parse_args(int argc, char **argv, bench *b) {
    b->threads = 1, b->runs = 20, b->warmup = 5, b->interp = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has_value) b->threads = atoi(argv[++i]);
        else if (strcmp(a, "--runs") == 0 && has_value) b->runs = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && has_value) b->warmup = atoi(argv[++i]);
        else if (strcmp(a, "--serve") == 0) b->serve = true;
        else if (strcmp(a, "--no-interp") == 0) b->interp = false;
        else if (a[0] == '-' || b->model_path) return usage();
        else b->model_path = a;
    }
    if (!b->model_path || b->threads < 0 || b->runs < 1 || b->warmup < 0) return usage();
    return 0;
}

int main(int argc, char **argv) {
    bench b = {0};
    int rc = parse_args(argc, argv, &b);
    anvil_status st;
    if (rc == 0 && (st = anvil_model_load(b.model_path, &b.model)) != ANVIL_OK)
        rc = fail(b.model_path, st);
    if (rc == 0) rc = load_inputs(&b);
    if (rc == 0) rc = compile_engines(&b);
    if (rc == 0) rc = check_output(&b);
    if (rc == 0) rc = b.serve ? serve(&b) : run_alone(&b);
    for (int r = 0; r < 2; r++) {
        anvil_context_destroy(b.ctx[r]);
        anvil_engine_destroy(b.engine[r]);
    }
    for (size_t k = 0; k < MAX_INPUTS; k++) {
        anvil_tensor_list_destroy(b.input_lists[k]);
        free(b.generated[k]);
    }
    anvil_model_destroy(b.model);
    return rc;
}
