/* Tests anvil_engine_refit: refit(compile(v1), v2) equals compile(v2) byte for byte (slots and
 * outputs), in place and as a copy (and back to v1 on one thread); every bad source (missing, reshaped, retyped, NaN) and an
 * allocation failure at every allocation leave the engine bit-identical; a stripped engine
 * refits to the full one; refits alternating under concurrent runs give only v1 or v2 outputs. */
#include "check.h"
#include "refit_helpers.h"

#include <omp.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void time_refit(anvil_engine *e, const anvil_model *m2, size_t bytes) {
    anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, m2, NULL, NULL, 0};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_engine *out = NULL;
    double best = 1e9, best_copy = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        CHECK_OK(anvil_engine_refit(e, &src, &o, &out, NULL));
        best = fmin(best, now() - t0);
    }
    char *a = malloc(bytes), *b = malloc(bytes);
    if (a && b) {
        memset(a, 1, bytes);
        memset(b, 2, bytes);
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            memcpy(b, a, bytes);
            best_copy = fmin(best_copy, now() - t0);
        }
        CHECK(b[bytes - 1] == 1);
    }
    printf("refit %.2f ms, memcpy of %zu bytes %.2f ms (ratio %.1f)\n", best * 1e3, bytes,
           best_copy * 1e3, best / best_copy);
    free(a);
    free(b);
}

static void test_exact(const char *name) {
    anvil_model *m1 = load(name, "v1.onnx"), *m2 = load(name, "v2.onnx");
    anvil_tensor_list *in = read_npy(name, "input_0.npy");
    anvil_tensor_list *want2 = read_npy(name, "v2.output_0.npy");
    if (!m1 || !m2 || !in || !want2) return;
    anvil_engine *e1 = compile(m1), *e2 = compile(m2);
    anvil_tensor_list *o1 = run(e1, in), *o2 = run(e2, in);
    CHECK(!same_outputs(o1, o2)); /* the test means something */
    anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, m2, NULL, NULL, 0};
    anvil_refit_options opt = anvil_refit_options_default();
    anvil_refit_report rep;
    anvil_engine *r = NULL;
    CHECK_OK(anvil_engine_refit(e1, &src, &opt, &r, &rep));
    CHECK(r && r != e1);
    anvil_engine_info info;
    CHECK_OK(anvil_engine_get_info(e2, &info));
    CHECK_EQ(rep.sources, anvil_engine_refit_source_count(e1));
    CHECK_EQ(rep.bytes_packed, info.weight_bytes);
    if (r) {
        check_same_slots(r, e2);
        anvil_tensor_list *orf = run(r, in), *o1again = run(e1, in);
        CHECK(same_outputs(orf, o2));
        CHECK(same_outputs(o1again, o1)); /* the original is unchanged */
        check_near_ref(orf, want2);
        anvil_tensor_list_destroy(orf);
        anvil_tensor_list_destroy(o1again);
        anvil_engine_destroy(r);
    }
    opt.in_place = 1;
    CHECK_OK(anvil_engine_refit(e1, &src, &opt, &r, NULL));
    CHECK(r == e1);
    check_same_slots(e1, e2);
    anvil_tensor_list *oi = run(e1, in);
    CHECK(same_outputs(oi, o2));
    anvil_tensor_list_destroy(oi);
    /* threads = 1: the same bytes from the calling thread alone, whose OpenMP thread count is
       restored after; a negative count is refused */
    anvil_refit_source back = {ANVIL_REFIT_FROM_MODEL, m1, NULL, NULL, 0};
    int omp_before = omp_get_max_threads();
    opt.threads = 1;
    CHECK_OK(anvil_engine_refit(e1, &back, &opt, &r, NULL));
    CHECK_EQ(omp_get_max_threads(), omp_before);
    anvil_engine *e1again = compile(m1);
    if (e1again) check_same_slots(e1, e1again);
    anvil_engine_destroy(e1again);
    opt.threads = -1;
    CHECK_STATUS(anvil_engine_refit(e1, &src, &opt, &r, NULL), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "threads -1");
    if (strcmp(name, "mobilenet_v2") == 0) time_refit(e1, m2, rep.bytes_packed);
    anvil_tensor_list_destroy(o1);
    anvil_tensor_list_destroy(o2);
    anvil_engine_destroy(e1);
    anvil_engine_destroy(e2);
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want2);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

/* Index of the first rank-4 f32 source (a conv weight). */
static size_t pick(const anvil_tensor *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (t[i].rank == 4 && t[i].dtype == ANVIL_DTYPE_F32) return i;
    return 0;
}

static void expect_refused(anvil_engine *e, const anvil_tensor *t, size_t n, int finite,
                           anvil_status want, const char *name, const anvil_tensor_list *in,
                           const anvil_tensor_list *o1) {
    anvil__weight_set *before = anvil__weights_acquire(e);
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, n};
    anvil_refit_options opt = anvil_refit_options_default();
    opt.check_finite = finite;
    for (int in_place = 0; in_place < 2; in_place++) {
        opt.in_place = in_place;
        anvil_engine *out = (anvil_engine *)1;
        CHECK_STATUS(anvil_engine_refit(e, &src, &opt, &out, NULL), want);
        CHECK_CONTAINS(anvil_last_error(), name);
        CHECK(out == NULL);
    }
    anvil__weight_set *after = anvil__weights_acquire(e);
    CHECK(before == after);
    anvil__weights_release(e, before);
    anvil__weights_release(e, after);
    anvil_tensor_list *o = run(e, in);
    CHECK(same_outputs(o, o1));
    anvil_tensor_list_destroy(o);
}

static void test_transactional(void) {
    const char *name = "mobilenet_v2";
    anvil_model *m1 = load(name, "v1.onnx"), *m2 = load(name, "v2.onnx");
    anvil_tensor_list *in = read_npy(name, "input_0.npy");
    if (!m1 || !m2 || !in) return;
    anvil_engine *e = compile(m1);
    anvil_tensor_list *o1 = run(e, in);
    size_t n = 0;
    anvil_tensor *t = sources_of(e, m2, &n);
    size_t k = pick(t, n), k2 = n - 1;
    anvil_tensor saved = t[k], saved2 = t[k2];
    /* Two missing: both named. */
    t[k] = t[n - 2];
    expect_refused(e, t, n - 2, 0, ANVIL_STATUS_NOT_FOUND, saved.name, in, o1);
    CHECK_CONTAINS(anvil_last_error(), saved2.name);
    t[k] = saved;
    t[k].dims[0] += 1;
    expect_refused(e, t, n, 0, ANVIL_STATUS_SHAPE_MISMATCH, saved.name, in, o1);
    t[k] = saved;
    t[k].dtype = ANVIL_DTYPE_F16;
    t[k].bytes /= 2;
    expect_refused(e, t, n, 0, ANVIL_STATUS_DTYPE_MISMATCH, saved.name, in, o1);
    t[k] = saved;
    float *nan = malloc(saved.bytes);
    if (nan) {
        memcpy(nan, saved.data, saved.bytes);
        nan[3] = NAN;
        t[k].data = nan;
        expect_refused(e, t, n, 1, ANVIL_STATUS_INVALID_ARGUMENT, saved.name, in, o1);
        t[k] = saved;
    }
    free(nan);
    free(t);
    anvil_tensor_list_destroy(o1);
    anvil_engine_destroy(e);
    anvil_tensor_list_destroy(in);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

/* Allocation failure at every allocation of a refit (a small model keeps this quick). */
static void test_alloc_failures(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p /tmp/anvil_test_refit && %s /tmp/anvil_test_refit "
             ">/dev/null", ANVIL_DEMO_MODEL_TOOL);
    CHECK_EQ(system(cmd), 0);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load("/tmp/anvil_test_refit/demo_cnn.onnx", &m));
    if (!m) return;
    anvil_engine *e = compile(m);
    anvil_tensor_desc d;
    CHECK_OK(anvil_engine_input(e, 0, &d));
    anvil_tensor x = {d.name, d.dtype, d.rank, {0}, NULL, 0};
    memcpy(x.dims, d.dims, sizeof x.dims);
    for (int32_t i = 0; i < x.rank; i++) x.dims[i] = x.dims[i] < 0 ? 1 : x.dims[i];
    x.bytes = (size_t)anvil_shape_numel(x.rank, x.dims) * 4;
    float *xd = calloc(x.bytes / 4 + 1, 4);
    for (size_t i = 0; xd && i < x.bytes / 4; i++) xd[i] = (float)(i % 7) * 0.25f - 0.5f;
    x.data = xd;
    anvil_tensor xin = x;
    anvil_context *c = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    anvil_tensor_list *o1 = NULL, *o = NULL;
    CHECK_OK(anvil_engine_run(c, &xin, 1, &o1));
    /* New sources: every float weight doubled. */
    size_t n = 0;
    anvil_tensor *t = sources_of(e, m, &n);
    float **copies = calloc(n + 1, sizeof *copies);
    for (size_t i = 0; t && copies && i < n; i++) {
        if (t[i].dtype != ANVIL_DTYPE_F32) continue;
        copies[i] = malloc(t[i].bytes + 4);
        for (size_t j = 0; copies[i] && j < t[i].bytes / 4; j++)
            copies[i][j] = 2.0f * ((const float *)t[i].data)[j];
        t[i].data = copies[i];
    }
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, n};
    /* The countdown is per thread: on one thread (options.threads = 1), the allocations of the
     * parallel pack jobs fail too. Each refit to the doubled weights is undone by one back to
     * the originals. (How many allocations the calling thread makes on two threads depends on
     * the schedule, so the rounds' counts are not compared.) */
    anvil_tensor *orig = sources_of(e, m, &n);
    anvil_refit_source back = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, orig, n};
    int threads = omp_get_max_threads();
    for (int round = 0; round < 4; round++) {
        int in_place = round % 2;
        anvil_refit_options opt = anvil_refit_options_default();
        opt.in_place = in_place;
        opt.threads = round < 2 ? 0 : 1;
        anvil__weight_set *before = anvil__weights_acquire(e);
        anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
        anvil_engine *out = NULL;
        int fails = 0;
        for (long k = 0; s != ANVIL_OK && k < 100000; k++) {
            anvil__alloc_fail_after(k);
            s = anvil_engine_refit(e, &src, &opt, &out, NULL);
            anvil__alloc_fail_after(-1);
            if (s == ANVIL_OK) break;
            fails++;
            CHECK(out == NULL);
            CHECK_EQ(omp_get_max_threads(), threads); /* restored on failure too */
            anvil__weight_set *now_set = anvil__weights_acquire(e);
            CHECK(now_set == before);
            anvil__weights_release(e, now_set);
            CHECK_OK(anvil_engine_run(c, &xin, 1, &o));
            CHECK(same_outputs(o, o1));
            anvil_tensor_list_destroy(o);
            o = NULL;
        }
        CHECK_OK(s);
        CHECK(fails > 5);
        printf("refit (in_place %d, %d thread(s)): %d allocation failures, engine unchanged "
               "each time\n", in_place, opt.threads ? opt.threads : threads, fails);
        anvil__weights_release(e, before);
        if (out && out != e) {
            anvil_context *c2 = NULL;
            CHECK_OK(anvil_context_create(out, &c2));
            CHECK_OK(anvil_engine_run(c2, &xin, 1, &o));
            CHECK(!same_outputs(o, o1));
            anvil_tensor_list_destroy(o);
            anvil_context_destroy(c2);
            anvil_engine_destroy(out);
        }
        if (in_place) { /* back to the original weights for the next round */
            anvil_engine *same = NULL;
            CHECK_OK(anvil_engine_refit(e, &back, &opt, &same, NULL));
        }
    }
    free(orig);
    for (size_t i = 0; copies && i < n; i++) free(copies[i]);
    free(copies);
    free(t);
    free(xd);
    anvil_tensor_list_destroy(o1);
    anvil_context_destroy(c);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
}

static void test_stripped(void) {
    const char *name = "mobilenet_v2";
    anvil_model *m1 = load(name, "v1.onnx");
    anvil_tensor_list *in = read_npy(name, "input_0.npy");
    if (!m1 || !in) return;
    anvil_engine *e = compile(m1), *l = NULL, *r = NULL;
    anvil_tensor_list *o1 = run(e, in);
    anvil_save_options so = anvil_save_options_default();
    so.stripped = 1;
    CHECK_OK(anvil_engine_save(e, "/tmp/anvil_test_refit_stripped.anvil", &so));
    CHECK_OK(anvil_engine_load("/tmp/anvil_test_refit_stripped.anvil", &l));
    if (l) {
        anvil_engine_info info;
        CHECK_OK(anvil_engine_get_info(l, &info));
        CHECK_EQ(info.needs_weights, 1);
        anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, m1, NULL, NULL, 0};
        anvil_refit_options opt = anvil_refit_options_default();
        opt.in_place = 1;
        CHECK_OK(anvil_engine_refit(l, &src, &opt, &r, NULL));
        CHECK(r == l);
        CHECK_OK(anvil_engine_get_info(l, &info));
        CHECK_EQ(info.needs_weights, 0);
        anvil_tensor_list *o = run(l, in);
        CHECK(same_outputs(o, o1));
        anvil_tensor_list_destroy(o);
        anvil_engine_destroy(l);
    }
    remove("/tmp/anvil_test_refit_stripped.anvil");
    anvil_tensor_list_destroy(o1);
    anvil_engine_destroy(e);
    anvil_tensor_list_destroy(in);
    anvil_model_destroy(m1);
}

typedef struct live {
    anvil_engine *e;
    const anvil_tensor_list *in, *o1, *o2;
    atomic_int stop;
    atomic_int runs, bad, v2_seen, v1_seen;
} live;

static void *runner(void *arg) {
    live *L = arg;
    anvil_context *c = NULL;
    if (anvil_context_create(L->e, &c) != ANVIL_OK) {
        atomic_fetch_add(&L->bad, 1);
        return NULL;
    }
    while (!atomic_load(&L->stop)) {
        anvil_tensor_list *o = NULL;
        if (anvil_engine_run(c, anvil_tensor_list_get(L->in, 0), 1, &o) != ANVIL_OK) {
            atomic_fetch_add(&L->bad, 1);
            continue;
        }
        bool is1 = same_outputs(o, L->o1), is2 = same_outputs(o, L->o2);
        if (!is1 && !is2) atomic_fetch_add(&L->bad, 1);
        if (is1) atomic_fetch_add(&L->v1_seen, 1);
        if (is2) atomic_fetch_add(&L->v2_seen, 1);
        atomic_fetch_add(&L->runs, 1);
        anvil_tensor_list_destroy(o);
    }
    anvil_context_destroy(c);
    return NULL;
}

static void test_live(void) {
    const char *name = "mobilenet_v2";
    anvil_model *m1 = load(name, "v1.onnx"), *m2 = load(name, "v2.onnx");
    anvil_tensor_list *in = read_npy(name, "input_0.npy");
    if (!m1 || !m2 || !in) return;
    anvil_engine *e = compile(m1), *e2 = compile(m2);
    anvil_tensor_list *o1 = run(e, in), *o2 = run(e2, in);
    live L = {e, in, o1, o2, 0, 0, 0, 0, 0};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, runner, &L);
    anvil_refit_options opt = anvil_refit_options_default();
    opt.in_place = 1;
    for (int r = 0; r < 20; r++) {
        anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, r % 2 ? m1 : m2, NULL, NULL, 0};
        anvil_engine *out = NULL;
        CHECK_OK(anvil_engine_refit(e, &src, &opt, &out, NULL));
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&L.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    printf("live: %d runs (%d v1, %d v2) during 20 refits\n", (int)L.runs, (int)L.v1_seen,
           (int)L.v2_seen);
    CHECK_EQ((int)L.bad, 0);
    CHECK(L.runs > 0);
    anvil_tensor_list *o = run(e, in); /* 20 refits: ends on v1 */
    CHECK(same_outputs(o, o1));
    anvil_tensor_list_destroy(o);
    anvil_tensor_list_destroy(o1);
    anvil_tensor_list_destroy(o2);
    anvil_engine_destroy(e);
    anvil_engine_destroy(e2);
    anvil_tensor_list_destroy(in);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

int main(void) {
    test_alloc_failures();
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models", ANVIL_SHARED_DIR);
    FILE *f = fopen(probe, "r");
    if (!f) {
        printf("skipping: %s not found\n", probe);
        return check_failures_ ? check_exit() : 77;
    }
    fclose(f);
    test_exact("mobilenet_v2");
    test_exact("mobilenet_v2_bn");
    test_transactional();
    test_stripped();
    test_live();
    return check_exit();
}
