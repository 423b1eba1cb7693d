/*
 * test_bf16_models.c — precision BF16 on the shared models (MobileNetV2, transformer encoder):
 * compiled, run and compared with the stored ONNX Runtime output; a saved and reloaded bf16
 * engine gives the same bytes; and the latency against an f32 engine (min of 20 interleaved
 * runs each) is printed, not checked.
 *
 * The tolerance is calibrated per model, not fixed: how far a model's output moves under bf16
 * rounding depends on the model (these have random weights and random BatchNorm statistics;
 * MobileNetV2's logits move 5-7% of their max). The yardstick is an f32 engine of the same
 * model whose weights alone are rounded to bf16: bf16 compute rounds the same weights (fewer:
 * depthwise and first convs stay f32) plus the kernels' inputs, so its error may exceed the
 * yardstick's by a small factor, never by the orders of magnitude a wrong layout, channel or
 * conversion gives. Kernel-level bf16 accuracy is checked in test_bf16.c.
 * Skipped (77) without ../shared or a CPU with avx512_bf16 (then BF16 must be UNSUPPORTED).
 */
#include "anvil.h"
#include "check.h"
#include "core/core.h"
#include "onnx.pb-c.h"

#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double max_abs(const anvil_tensor *t) {
    double m = 0;
    for (size_t i = 0; i < t->bytes / 4; i++)
        m = fmax(m, fabs(((const float *)t->data)[i]));
    return m;
}

static double max_diff(const anvil_tensor *a, const anvil_tensor *b) {
    if (a->bytes != b->bytes || a->dtype != b->dtype) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < a->bytes / 4; i++) {
        double e = fabs((double)((const float *)a->data)[i] - ((const float *)b->data)[i]);
        m = isnan(e) ? INFINITY : fmax(m, e);
    }
    return m;
}

static anvil_engine *compile(const anvil_model *m, anvil_precision p) {
    anvil_compile_options o = anvil_compile_options_default();
    o.threads = 2;
    o.precision = p;
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(m, &o, &e));
    return e;
}

/* One run's wall time in ms (its output kept in *out when out is not NULL). */
static double timed_run(anvil_context *c, const anvil_tensor *in, anvil_tensor_list **out) {
    anvil_tensor_list *res = NULL;
    double t0 = now_ms();
    CHECK_OK(anvil_engine_run(c, in, 1, &res));
    double t = now_ms() - t0;
    if (out) *out = res;
    else anvil_tensor_list_destroy(res);
    return t;
}

/* The model at `path` with every float initializer rounded to bf16 (nearest even) and back. */
static anvil_model *load_bf16_rounded(const char *path) {
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    uint8_t *bytes = n > 0 ? malloc((size_t)n) : NULL;
    bool read = f && bytes && fseek(f, 0, SEEK_SET) == 0 && fread(bytes, 1, (size_t)n, f) == (size_t)n;
    if (f) fclose(f);
    Onnx__ModelProto *mp = read ? onnx__model_proto__unpack(NULL, (size_t)n, bytes) : NULL;
    CHECK(mp && mp->graph);
    size_t rounded = 0;
    for (size_t i = 0; mp && mp->graph && i < mp->graph->n_initializer; i++) {
        Onnx__TensorProto *t = mp->graph->initializer[i];
        if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) continue;
        uint8_t *x = t->has_raw_data ? t->raw_data.data : (uint8_t *)t->float_data;
        size_t count = t->has_raw_data ? t->raw_data.len / sizeof(float) : t->n_float_data;
        for (size_t j = 0; j < count; j++) {
            float v; /* raw_data may be unaligned */
            memcpy(&v, x + j * sizeof v, sizeof v);
            v = anvil__bf16_to_f32(anvil__f32_to_bf16(v));
            memcpy(x + j * sizeof v, &v, sizeof v);
        }
        rounded += count;
    }
    CHECK(rounded > 0);
    anvil_model *m = NULL;
    size_t size = mp ? onnx__model_proto__get_packed_size(mp) : 0;
    uint8_t *packed = mp ? malloc(size) : NULL;
    if (packed) {
        onnx__model_proto__pack(mp, packed);
        CHECK_OK(anvil_model_load_memory(packed, size, NULL, &m));
    }
    free(packed);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(bytes);
    return m;
}

/* Saved and reloaded, the bf16 engine (packed bf16 layouts in its file) gives equal bytes. */
static void check_reload(const anvil_engine *e, const anvil_tensor *in, const anvil_tensor *want) {
    const char *path = "/tmp/anvil_test_bf16.engine";
    anvil_engine *l = NULL;
    anvil_context *c = NULL;
    anvil_tensor_list *got = NULL;
    anvil_engine_info info;
    CHECK_OK(anvil_engine_save(e, path, NULL));
    CHECK_OK(anvil_engine_load(path, &l));
    if (l) CHECK_OK(anvil_engine_get_info(l, &info));
    if (l) CHECK_EQ(info.precision, ANVIL_PRECISION_BF16);
    if (l) CHECK_OK(anvil_context_create(l, &c));
    if (c) timed_run(c, in, &got);
    if (got) CHECK(memcmp(anvil_tensor_list_get(got, 0)->data, want->data, want->bytes) == 0);
    anvil_tensor_list_destroy(got);
    anvil_context_destroy(c);
    anvil_engine_destroy(l);
    remove(path);
}

static const char *path_of(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/v1.onnx", ANVIL_SHARED_DIR, name);
    return path;
}

/* The yardstick: max error vs `want` of an f32 engine of the model with bf16-rounded weights. */
static double rounded_weights_error(const char *path, const anvil_tensor *in,
                                    const anvil_tensor *want) {
    anvil_model *m = load_bf16_rounded(path);
    anvil_engine *e = m ? compile(m, ANVIL_PRECISION_F32) : NULL;
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    if (e) CHECK_OK(anvil_context_create(e, &c));
    if (c) timed_run(c, in, &out);
    double err = out ? max_diff(anvil_tensor_list_get(out, 0), want) : INFINITY;
    anvil_tensor_list_destroy(out);
    anvil_context_destroy(c);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
    return err;
}

static void test_model(const char *name) {
    char path[1024];
    anvil_model *m = NULL;
    anvil_tensor_list *in = NULL, *want = NULL, *got = NULL;
    CHECK_OK(anvil_model_load(path_of(name), &m));
    snprintf(path, sizeof path, "%s/models/%s/input_0.npy", ANVIL_SHARED_DIR, name);
    CHECK_OK(anvil_npy_read(path, &in));
    snprintf(path, sizeof path, "%s/models/%s/v1.output_0.npy", ANVIL_SHARED_DIR, name);
    CHECK_OK(anvil_npy_read(path, &want));
    anvil_engine *eb = m ? compile(m, ANVIL_PRECISION_BF16) : NULL;
    anvil_engine *ef = m ? compile(m, ANVIL_PRECISION_F32) : NULL;
    anvil_context *cb = NULL, *cf = NULL;
    if (eb) CHECK_OK(anvil_context_create(eb, &cb));
    if (ef) CHECK_OK(anvil_context_create(ef, &cf));
    if (cb && cf && in && want) {
        const anvil_tensor *x = anvil_tensor_list_get(in, 0), *w = anvil_tensor_list_get(want, 0);
        timed_run(cb, x, &got);
        const anvil_tensor *g = anvil_tensor_list_get(got, 0);
        double err = max_diff(g, w), yardstick = rounded_weights_error(path_of(name), x, w);
        /* 2x the yardstick, and never tighter than 1e-3 of max|ref| (bf16's epsilon is 2^-8) */
        double tol = fmax(2 * yardstick, 1e-3 * max_abs(w));
        double tb = INFINITY, tf = INFINITY;
        timed_run(cf, x, NULL); /* warm both */
        for (int r = 0; r < 20; r++) {
            tb = fmin(tb, timed_run(cb, x, NULL));
            tf = fmin(tf, timed_run(cf, x, NULL));
        }
        printf("%-16s bf16: max error %.3g vs ORT (%.3g of max|ref|; f32 with bf16-rounded "
               "weights %.3g, tol %.3g); latency bf16 %.2f ms, f32 %.2f ms (min of 20, 2 "
               "threads)\n",
               name, err, err / fmax(max_abs(w), 1e-30), yardstick, tol, tb, tf);
        CHECK(err <= tol);
        check_reload(eb, x, g);
    }
    anvil_tensor_list_destroy(got);
    anvil_context_destroy(cb);
    anvil_context_destroy(cf);
    anvil_engine_destroy(eb);
    anvil_engine_destroy(ef);
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want);
    anvil_model_destroy(m);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2/v1.onnx", ANVIL_SHARED_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skipped: no %s\n", path);
        return 77;
    }
    fclose(f);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(path, &m));
    anvil_compile_options o = anvil_compile_options_default();
    o.precision = ANVIL_PRECISION_BF16;
    anvil_engine *e = NULL;
    anvil_status s = m ? anvil_engine_compile(m, &o, &e) : ANVIL_STATUS_INTERNAL;
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
    if (s == ANVIL_STATUS_UNSUPPORTED) {
        CHECK_CONTAINS(anvil_last_error(), "avx512_bf16");
        printf("skipped: %s\n", anvil_last_error());
        return check_exit() ? check_exit() : 77;
    }
    CHECK_OK(s);
    test_model("mobilenet_v2");
    test_model("transformer_enc");
    return check_exit();
}
