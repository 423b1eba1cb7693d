/*
 * bench_refit.c — the refit side of `make bench`: for one model, compile time, the time of a
 * refit from a page-cached safetensors file (open + in-place refit + close) with checkpoints
 * in ONNX names and in PyTorch state-dict names through a name map, a memcpy of the same
 * bytes, and a check that refitted engines give the reference outputs. Alone it prints one
 * JSON object; with --serve it prints the setup as one JSON line and answers commands on
 * stdin, so a driver can interleave ONNX Runtime session creation. Not a test.
 */
#include "anvil.h"
#include "bench_common.h"
/* The public API lists initializers (name, dtype, shape) but gives no access to their data,
 * which the "onnx names" checkpoints are written from; the bench reads the model's graph. */
#include "api/model.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATH_BYTES 4096
#define DIR_BYTES 4000 /* a folder: room for a file name after it in PATH_BYTES */
#define N_ROWS 2

typedef struct row {
    const char *name;           /* "onnx names", "state dict via map" */
    char ckpt[2][PATH_BYTES];   /* checkpoint 0 holds v1's weights, 1 other weights */
    char second[64];            /* where checkpoint 1 comes from */
    char ref[2][PATH_BYTES];    /* reference output of each checkpoint ("" if none) */
    char reason[1024];          /* non-empty: the row cannot be measured */
    anvil_refit_report last;    /* the last timed refit's report */
    size_t min_changed;         /* fewest sources_changed over timed refits */
    double check_err[2];        /* rel. error vs ref[k]; NAN when not checked */
} row;

typedef struct bench {
    const char *model_path;
    char dir[DIR_BYTES], tmp[DIR_BYTES];
    int threads, compiles, refits, copies;
    bool serve;
    anvil_model *model;
    anvil_engine *engine;
    anvil_context *ctx;
    anvil_name_map *map;
    anvil_tensor_list *input;
    double compile_s; /* the first compile (the engine kept) */
    int current;      /* which checkpoint's weights the engine holds (0: v1) */
    row rows[N_ROWS];
    size_t bytes_total;
    const char *bytes_total_from;
    unsigned char *buf[2];
} bench;

static int fail(const char *what, anvil_status st) {
    return bench_fail("bench_refit", what, st);
}

static bool exists(const char *path) { return access(path, R_OK) == 0; }

/* A status and the library's message, as a row's "n/a" reason. */
static void set_reason(row *r, const char *what, anvil_status st) {
    snprintf(r->reason, sizeof r->reason, "%s: %s: %s", what, anvil_status_string(st),
             anvil_last_error());
}

/* ---- checkpoints in ONNX names --------------------------------------------------------- */

/* The model's initializers as borrowed tensors; with perturb, f32 tensors of more than one
 * element get x * 1.0001 + 1e-6 in fresh buffers (scalars stay: they are graph constants such
 * as eps or an exponent). *owned collects what to free. */
static anvil_status initializer_tensors(const anvil_model *m, bool perturb, anvil_tensor **out,
                                        size_t *n, void ***owned) {
    const anvil__graph *g = m->graph;
    size_t count = (size_t)g->n_inits;
    anvil_tensor *t = calloc(count ? count : 1, sizeof *t);
    void **keep = calloc(count ? count : 1, sizeof *keep);
    if (!t || !keep) {
        free(t);
        free(keep);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        const anvil__init *in = &g->inits[i];
        t[i].name = g->values[in->value].name;
        t[i].dtype = in->t.dtype;
        t[i].rank = in->t.rank;
        memcpy(t[i].dims, in->t.dims, sizeof t[i].dims);
        t[i].data = in->t.data;
        t[i].bytes = in->t.bytes;
        size_t numel = in->t.bytes / sizeof(float);
        if (!perturb || in->t.dtype != ANVIL_DTYPE_F32 || numel < 2) continue;
        float *p = malloc(in->t.bytes);
        if (!p) {
            for (size_t k = 0; k < i; k++) free(keep[k]);
            free(keep);
            free(t);
            return ANVIL_STATUS_OUT_OF_MEMORY;
        }
        for (size_t k = 0; k < numel; k++) p[k] = ((const float *)in->t.data)[k] * 1.0001f + 1e-6f;
        t[i].data = keep[i] = p;
    }
    *out = t;
    *n = count;
    *owned = keep;
    return ANVIL_OK;
}

static anvil_status write_initializers(const anvil_model *m, bool perturb, const char *path) {
    anvil_tensor *t = NULL;
    void **owned = NULL;
    size_t n = 0;
    anvil_status st = initializer_tensors(m, perturb, &t, &n, &owned);
    if (st == ANVIL_OK) st = anvil_safetensors_write(path, t, n);
    for (size_t i = 0; owned && i < n; i++) free(owned[i]);
    free(owned);
    free(t);
    return st;
}

/* Row "onnx names": checkpoints from v1.onnx and v2.onnx (or v1 perturbed), in a temp folder. */
static int setup_onnx_row(bench *b, row *r) {
    char v2[PATH_BYTES];
    r->name = "onnx names";
    snprintf(r->ckpt[0], PATH_BYTES, "%s/onnx_v1.safetensors", b->tmp);
    snprintf(r->ckpt[1], PATH_BYTES, "%s/onnx_v2.safetensors", b->tmp);
    snprintf(r->ref[0], PATH_BYTES, "%s/v1.output_0.npy", b->dir);
    snprintf(v2, sizeof v2, "%s/v2.onnx", b->dir);
    anvil_status st = write_initializers(b->model, false, r->ckpt[0]);
    if (st != ANVIL_OK) return fail(r->ckpt[0], st);
    if (exists(v2)) {
        anvil_model *m2 = NULL;
        if ((st = anvil_model_load(v2, &m2)) != ANVIL_OK) return fail(v2, st);
        st = write_initializers(m2, false, r->ckpt[1]);
        anvil_model_destroy(m2);
        snprintf(r->second, sizeof r->second, "v2.onnx");
        snprintf(r->ref[1], PATH_BYTES, "%s/v2.output_0.npy", b->dir);
    } else {
        st = write_initializers(b->model, true, r->ckpt[1]);
        snprintf(r->second, sizeof r->second, "v1.onnx perturbed");
        r->ref[1][0] = '\0'; /* no reference output for made-up weights */
    }
    return st == ANVIL_OK ? 0 : fail(r->ckpt[1], st);
}

/* Row "state dict via map": the folder's v1/v2.safetensors through a map built against v1. */
static void setup_map_row(bench *b, row *r) {
    r->name = "state dict via map";
    snprintf(r->ckpt[0], PATH_BYTES, "%s/v1.safetensors", b->dir);
    snprintf(r->ckpt[1], PATH_BYTES, "%s/v2.safetensors", b->dir);
    snprintf(r->ref[0], PATH_BYTES, "%s/v1.output_0.npy", b->dir);
    snprintf(r->ref[1], PATH_BYTES, "%s/v2.output_0.npy", b->dir);
    snprintf(r->second, sizeof r->second, "v2.safetensors");
    if (!exists(r->ckpt[0]) || !exists(r->ckpt[1])) {
        snprintf(r->reason, sizeof r->reason, "no v1/v2.safetensors in the model folder");
        return;
    }
    anvil_safetensors *st = NULL;
    anvil_status s = anvil_safetensors_open(r->ckpt[0], &st);
    if (s == ANVIL_OK) s = anvil_name_map_build(b->model, st, NULL, &b->map);
    anvil_safetensors_close(st);
    if (s != ANVIL_OK) return set_reason(r, "anvil_name_map_build", s);
    if ((s = anvil_engine_set_name_map(b->engine, b->map)) != ANVIL_OK)
        return set_reason(r, "anvil_engine_set_name_map", s);
}

/* ---- refits ---------------------------------------------------------------------------- */

/* Open + in-place refit + close of row r's checkpoint k; seconds in *t, of which opening and
 * closing the file in *file (either may be NULL). */
static anvil_status refit_once(bench *b, row *r, int k, double *t, double *file,
                               anvil_refit_report *rep) {
    double t0 = now_s();
    anvil_safetensors *st = NULL;
    anvil_status s = anvil_safetensors_open(r->ckpt[k], &st);
    double opened = now_s(), refitted = opened;
    if (s == ANVIL_OK) {
        anvil_refit_source src = {0};
        src.kind = ANVIL_REFIT_FROM_SAFETENSORS;
        src.safetensors = st;
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        anvil_engine *out = NULL;
        s = anvil_engine_refit(b->engine, &src, &o, &out, rep);
        if (s == ANVIL_OK && out != b->engine)
            s = ANVIL_STATUS_INTERNAL; /* an in-place refit returns the engine itself */
        refitted = now_s();
    }
    anvil_safetensors_close(st);
    double t1 = now_s();
    if (t) *t = t1 - t0;
    if (file) *file = (opened - t0) + (t1 - refitted);
    if (s == ANVIL_OK) b->current = k;
    return s;
}

/* n timed refits of row r, each to the checkpoint the engine does not hold; file_ms: the part
 * of each spent opening and closing the file. */
static int time_refits(bench *b, row *r, int n, double *ms, double *file_ms) {
    for (int i = 0; i < n; i++) {
        anvil_refit_report rep;
        double t, file;
        anvil_status s = refit_once(b, r, 1 - b->current, &t, &file, &rep);
        if (s != ANVIL_OK) return fail(r->ckpt[1 - b->current], s);
        ms[i] = t * 1e3;
        file_ms[i] = file * 1e3;
        if (rep.sources_changed < r->min_changed) r->min_changed = rep.sources_changed;
        r->last = rep;
    }
    return 0;
}

/* Untimed refits to both checkpoints: warms the page cache and tells whether the row works. */
static void warm_row(bench *b, row *r) {
    for (int i = 0; i < 2 && !r->reason[0]; i++) {
        int k = 1 - b->current;
        anvil_status s = refit_once(b, r, k, NULL, NULL, &r->last);
        if (s != ANVIL_OK) {
            char what[96];
            snprintf(what, sizeof what, "refit from %s", k ? r->second : "v1");
            set_reason(r, what, s);
        }
    }
    r->min_changed = (size_t)-1;
}

/* ---- compile, memcpy, check -------------------------------------------------------------- */

static anvil_status compile(const bench *b, anvil_engine **out, double *seconds) {
    anvil_compile_options o = anvil_compile_options_default();
    o.threads = b->threads;
    double t0 = now_s();
    anvil_status st = anvil_engine_compile(b->model, &o, out);
    *seconds = now_s() - t0;
    return st;
}

static int time_compiles(bench *b, int n, double *ms) {
    for (int i = 0; i < n; i++) {
        anvil_engine *e = NULL;
        double s;
        anvil_status st = compile(b, &e, &s);
        anvil_engine_destroy(e);
        if (st != ANVIL_OK) return fail("compile", st);
        ms[i] = s * 1e3;
    }
    return 0;
}

static int time_copies(bench *b, int n, double *ms) {
    volatile unsigned char sink = 0; /* reads the copy so it cannot be left out */
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        memcpy(b->buf[i & 1], b->buf[!(i & 1)], b->bytes_total);
        ms[i] = (now_s() - t0) * 1e3;
        sink ^= b->buf[i & 1][b->bytes_total / 2];
    }
    (void)sink;
    return 0;
}

/* Max |got - ref| / max |ref| over f32 output 0 (INFINITY when sizes differ). */
static double rel_error(const anvil_tensor *a, const anvil_tensor *ref) {
    if (!a || !ref || a->dtype != ANVIL_DTYPE_F32 || ref->dtype != ANVIL_DTYPE_F32 ||
        a->bytes != ref->bytes)
        return INFINITY;
    const float *x = a->data, *y = ref->data;
    double err = 0, mag = 0;
    for (size_t i = 0; i < a->bytes / sizeof(float); i++) {
        double e = fabs((double)x[i] - (double)y[i]);
        if (!(e <= err)) err = e; /* NaN sticks */
        if (fabs((double)y[i]) > mag) mag = fabs((double)y[i]);
    }
    return mag > 0 ? err / mag : err;
}

/* Refits row r to checkpoint k and compares one run with its reference output. */
static int check_one(bench *b, row *r, int k) {
    anvil_tensor_list *got = NULL, *ref = NULL;
    anvil_status st = refit_once(b, r, k, NULL, NULL, NULL);
    if (st != ANVIL_OK) return fail(r->ckpt[k], st);
    st = anvil_engine_run(b->ctx, anvil_tensor_list_get(b->input, 0), 1, &got);
    if (st == ANVIL_OK) st = anvil_npy_read(r->ref[k], &ref);
    if (st == ANVIL_OK)
        r->check_err[k] = rel_error(anvil_tensor_list_get(got, 0), anvil_tensor_list_get(ref, 0));
    anvil_tensor_list_destroy(got);
    anvil_tensor_list_destroy(ref);
    return st == ANVIL_OK ? 0 : fail("check", st);
}

/* Checkpoint 1 first (v2: what the brief of the bench asks for), then v1. */
static int check_rows(bench *b) {
    for (int i = 0; i < N_ROWS; i++)
        for (int k = 1; k >= 0; k--) {
            row *r = &b->rows[i];
            r->check_err[k] = NAN;
            if (r->reason[0] || !r->ref[k][0] || !exists(r->ref[k]) || !b->input) continue;
            if (check_one(b, r, k) != 0) return 1;
        }
    return 0;
}

/* ---- setup ------------------------------------------------------------------------------- */

static int make_temp_dir(bench *b) {
    const char *base = getenv("TMPDIR");
    snprintf(b->tmp, sizeof b->tmp, "%s/anvil-bench-refit-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(b->tmp)) return 0;
    fprintf(stderr, "bench_refit: mkdtemp %s: %s\n", b->tmp, strerror(errno));
    b->tmp[0] = '\0';
    return 1;
}

static void remove_temp_dir(const bench *b) {
    if (!b->tmp[0]) return;
    for (int k = 0; k < 2; k++) remove(b->rows[0].ckpt[k]);
    rmdir(b->tmp);
}

static int setup(bench *b) {
    const char *slash = strrchr(b->model_path, '/');
    snprintf(b->dir, sizeof b->dir, "%.*s", slash ? (int)(slash - b->model_path) : 1,
             slash ? b->model_path : ".");
    char input[PATH_BYTES + 16];
    snprintf(input, sizeof input, "%s/input_0.npy", b->dir);
    anvil_status st;
    if ((st = anvil_model_load(b->model_path, &b->model)) != ANVIL_OK)
        return fail(b->model_path, st);
    if (exists(input) && (st = anvil_npy_read(input, &b->input)) != ANVIL_OK)
        return fail(input, st);
    if ((st = compile(b, &b->engine, &b->compile_s)) != ANVIL_OK) return fail("compile", st);
    if ((st = anvil_context_create(b->engine, &b->ctx)) != ANVIL_OK) return fail("context", st);
    if (make_temp_dir(b) || setup_onnx_row(b, &b->rows[0])) return 1;
    warm_row(b, &b->rows[0]);
    setup_map_row(b, &b->rows[1]);
    warm_row(b, &b->rows[1]);
    anvil_engine_info info;
    if ((st = anvil_engine_get_info(b->engine, &info)) != ANVIL_OK) return fail("info", st);
    /* report.bytes_total when the refit fills it; the engine's slot bytes otherwise */
    const row *r = !b->rows[0].reason[0] ? &b->rows[0] : &b->rows[1];
    b->bytes_total = r->last.bytes_total ? r->last.bytes_total : info.weight_bytes;
    b->bytes_total_from = r->last.bytes_total ? "refit report" : "engine info";
    for (int k = 0; k < 2; k++) {
        if (!(b->buf[k] = malloc(b->bytes_total + 1)))
            return fail("memcpy buffers", ANVIL_STATUS_OUT_OF_MEMORY);
        memset(b->buf[k], 0x3c + k, b->bytes_total + 1); /* warm: every page touched */
    }
    return 0;
}

/* "tactics": {"onednn:conv": 52, ...}: refit repacks per tactic, so its time depends on them. */
static void print_tactics(const bench *b) {
    anvil_engine_info info;
    const char *seen[64];
    size_t count[64], n = 0;
    if (anvil_engine_get_info(b->engine, &info) != ANVIL_OK) info.layer_count = 0;
    for (size_t i = 0; i < info.layer_count; i++) {
        anvil_layer_info l;
        if (anvil_engine_layer(b->engine, i, &l) != ANVIL_OK || !l.tactic) continue;
        size_t k = 0;
        while (k < n && strcmp(seen[k], l.tactic) != 0) k++;
        if (k == n && n == 64) continue;
        if (k == n) seen[n] = l.tactic, count[n++] = 0;
        count[k]++;
    }
    printf(", \"tactics\": {");
    for (size_t k = 0; k < n; k++) {
        printf("%s", k ? ", " : "");
        json_string(seen[k]);
        printf(": %zu", count[k]);
    }
    printf("}");
}

static void print_setup(const bench *b) {
    printf("{\"model\": ");
    json_string(b->model_path);
    printf(", \"threads\": %d, \"compile_s\": %.6f, \"bytes_total\": %zu, "
           "\"bytes_total_from\": \"%s\"",
           b->threads, b->compile_s, b->bytes_total, b->bytes_total_from);
    print_tactics(b);
    printf(", \"rows\": [");
    for (int i = 0; i < N_ROWS; i++) {
        const row *r = &b->rows[i];
        printf("%s{\"name\": \"%s\", \"second\": ", i ? ", " : "", r->name);
        json_string(r->second);
        printf(", \"ok\": %s", r->reason[0] ? "false" : "true");
        if (r->reason[0]) {
            printf(", \"reason\": ");
            json_string(r->reason);
        }
        printf("}");
    }
    printf("]");
}

/* ---- answers ----------------------------------------------------------------------------- */

static void print_list(const char *key, const double *ms, int n) {
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.4f", i ? ", " : "", ms[i]);
    printf("]");
}

static void print_times(const double *ms, int n) { print_list("times_ms", ms, n); }

static void print_refit_answer(const row *r, const double *ms, const double *file_ms, int n) {
    printf("{");
    print_times(ms, n);
    printf(", ");
    print_list("file_ms", file_ms, n);
    printf(", \"bytes_packed\": %zu, \"bytes_total\": %zu, \"slots_rebuilt\": %zu, "
           "\"sources\": %zu, \"sources_changed_min\": %zu, \"sources_mapped\": %zu}",
           r->last.bytes_packed, r->last.bytes_total, r->last.slots_rebuilt, r->last.sources,
           r->min_changed, r->last.sources_mapped);
}

/* {"checks": [...]}; a check above 1e-4 (or that could not compare) also goes to stderr. */
static void print_checks(const bench *b) {
    printf("{\"checks\": [");
    int n = 0;
    for (int i = 0; i < N_ROWS; i++)
        for (int k = 1; k >= 0; k--) {
            const row *r = &b->rows[i];
            double e = r->check_err[k];
            if (isnan(e) && (r->reason[0] || !r->ref[k][0] || !exists(r->ref[k]) || !b->input))
                continue; /* not checked */
            const char *ref = strrchr(r->ref[k], '/') + 1;
            bool ok = e <= 1e-4;
            printf("%s{\"row\": \"%s\", \"checkpoint\": ", n++ ? ", " : "", r->name);
            json_string(k ? r->second : "v1");
            printf(", \"against\": ");
            json_string(ref);
            if (isfinite(e)) printf(", \"rel_err\": %.3g, \"ok\": %s}", e, ok ? "true" : "false");
            else printf(", \"rel_err\": null, \"ok\": false}");
            if (!ok)
                fprintf(stderr, "bench_refit: FAIL: %s, %s refitted to %s: max rel error %g "
                        "against %s (limit 1e-4)\n", b->model_path, r->name,
                        k ? r->second : "v1", e, ref);
        }
    printf("]}");
}

/* One command: "compile N", "refit ROW N", "memcpy N", "check". */
static int answer(bench *b, const char *what, int arg, int n) {
    if (strcmp(what, "check") == 0) {
        if (check_rows(b)) return 1;
        print_checks(b);
        return 0;
    }
    double *ms = calloc((size_t)(n > 0 ? n : 1), sizeof *ms);
    double *file_ms = calloc((size_t)(n > 0 ? n : 1), sizeof *file_ms);
    int rc = ms && file_ms ? 0 : fail("timing", ANVIL_STATUS_OUT_OF_MEMORY);
    if (rc == 0 && strcmp(what, "compile") == 0) rc = time_compiles(b, n, ms);
    else if (rc == 0 && strcmp(what, "memcpy") == 0) rc = time_copies(b, n, ms);
    else if (rc == 0) rc = time_refits(b, &b->rows[arg], n, ms, file_ms);
    if (rc == 0 && strcmp(what, "refit") == 0) {
        print_refit_answer(&b->rows[arg], ms, file_ms, n);
    } else if (rc == 0) {
        printf("{");
        print_times(ms, n);
        printf("}");
    }
    free(ms);
    free(file_ms);
    return rc;
}

static bool valid_command(const bench *b, const char *what, int arg, int n) {
    if (strcmp(what, "check") == 0) return true;
    if (n < 1 || n > 100000) return false;
    if (strcmp(what, "compile") == 0 || strcmp(what, "memcpy") == 0) return true;
    return strcmp(what, "refit") == 0 && arg >= 0 && arg < N_ROWS && !b->rows[arg].reason[0];
}

static int serve(bench *b) {
    char line[256], what[32];
    print_setup(b);
    printf("}\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        int a = 0, c = 0, got = sscanf(line, "%31s %d %d", what, &a, &c);
        if (got < 1 || strcmp(what, "quit") == 0) break;
        int arg = strcmp(what, "refit") == 0 ? a : 0, n = strcmp(what, "refit") == 0 ? c : a;
        if (!valid_command(b, what, arg, n)) {
            printf("{\"error\": \"bad command\"}\n");
        } else {
            if (answer(b, what, arg, n)) return 1;
            printf("\n");
        }
        fflush(stdout);
    }
    return 0;
}

/* Alone: compiles, refits of each row, memcpys, then the checks; one JSON object. */
static int run_alone(bench *b) {
    print_setup(b);
    printf(", \"compile_ms\": ");
    int rc = answer(b, "compile", 0, b->compiles);
    for (int i = 0; i < N_ROWS && rc == 0; i++) {
        printf(", \"refit_%d\": ", i);
        if (b->rows[i].reason[0]) printf("null");
        else rc = answer(b, "refit", i, b->refits);
    }
    if (rc == 0) {
        printf(", \"memcpy_ms\": ");
        rc = answer(b, "memcpy", 0, b->copies);
    }
    if (rc == 0) {
        printf(", \"check\": ");
        rc = answer(b, "check", 0, 0);
    }
    printf("}\n");
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_refit MODEL_DIR/v1.onnx [--threads N] [--compiles N] "
                    "[--refits N] [--copies N] [--serve]\n");
    return 2;
}

static int parse_args(int argc, char **argv, bench *b) {
    b->threads = 1, b->compiles = 3, b->refits = 10, b->copies = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has_value) b->threads = atoi(argv[++i]);
        else if (strcmp(a, "--compiles") == 0 && has_value) b->compiles = atoi(argv[++i]);
        else if (strcmp(a, "--refits") == 0 && has_value) b->refits = atoi(argv[++i]);
        else if (strcmp(a, "--copies") == 0 && has_value) b->copies = atoi(argv[++i]);
        else if (strcmp(a, "--serve") == 0) b->serve = true;
        else if (a[0] == '-' || b->model_path) return usage();
        else b->model_path = a;
    }
    if (!b->model_path || b->threads < 0 || b->compiles < 1 || b->refits < 1 || b->copies < 1)
        return usage();
    return 0;
}

int main(int argc, char **argv) {
    bench b = {0};
    int rc = parse_args(argc, argv, &b);
    if (rc == 0) rc = setup(&b);
    if (rc == 0) rc = b.serve ? serve(&b) : run_alone(&b);
    remove_temp_dir(&b);
    anvil_context_destroy(b.ctx);
    anvil_engine_destroy(b.engine);
    anvil_name_map_destroy(b.map);
    anvil_tensor_list_destroy(b.input);
    anvil_model_destroy(b.model);
    free(b.buf[0]);
    free(b.buf[1]);
    return rc;
}
