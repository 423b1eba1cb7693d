/*
 * fuzz_refit.c — libFuzzer target for the refit path: each input is a safetensors image that,
 * once it parses, refits a small compiled model (Conv + BatchNormalization (folded) + Relu +
 * Flatten + Gemm + Add) in place or as a copy, with check_finite, verify or a name map on some
 * inputs (most use the map: it takes fc.weight transposed from "fc.weight_t" — packed through a
 * view — and conv.weight from "conv.w", tied to "conv.w_copy": where both are present they must
 * agree).
 * A failed refit must leave the engine giving bit-identical outputs; a successful one is
 * undone from the original weights, which must give the original outputs again exactly.
 * Seeds: tests/fuzz/corpus_refit (ANVIL_FUZZ_REFIT_WRITE_CORPUS=DIR ./fuzz_refit writes them);
 * ANVIL_FUZZ_REFIT_WRITE_ENGINE=FILE ./fuzz_refit saves its engine, a seed of fuzz_engine.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "anvil.h"
#include "core/core.h"
#include "../onnx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <oneapi/dnnl/dnnl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define die(...) (fprintf(stderr, "fuzz_refit: " __VA_ARGS__), fputc('\n', stderr), abort())

/* ---- the model: x 1x2x6x6 → Conv 3x2x3x3 (pads 1) → BN → Relu → Flatten → Gemm 4x108 →
 *      Add shift → y 1x4. Weights from a fixed pseudo-random sequence. ------------------- */

enum { N_WEIGHTS = 9, MAX_DIMS = 4 };
typedef struct weight {
    const char *name;
    int rank;
    int64_t dims[MAX_DIMS];
    float scale, offset; /* values: offset + scale * uniform[-1, 1) */
} weight;

static const weight WEIGHTS[N_WEIGHTS] = {
    {"conv.weight", 4, {3, 2, 3, 3}, 0.4f, 0.0f}, {"conv.bias", 1, {3}, 0.1f, 0.0f},
    {"bn.weight", 1, {3}, 0.2f, 1.0f},            {"bn.bias", 1, {3}, 0.1f, 0.0f},
    {"bn.running_mean", 1, {3}, 0.1f, 0.0f},      {"bn.running_var", 1, {3}, 0.2f, 1.0f},
    {"fc.weight", 2, {4, 108}, 0.2f, 0.0f},       {"fc.bias", 1, {4}, 0.1f, 0.0f},
    {"shift", 1, {4}, 0.5f, 0.0f},
};

typedef struct state {
    anvil_engine *engine;
    anvil_context *ctx;
    anvil_name_map *map;
    anvil_tensor input;
    float x[2 * 6 * 6];
    float *values[N_WEIGHTS];  /* the weights the engine was compiled with */
    anvil_tensor tensors[N_WEIGHTS];
    uint8_t *original;         /* safetensors image of those weights */
    size_t original_size;
    uint8_t *baseline;         /* output 0 with those weights */
    size_t baseline_bytes;
    /* outcomes (ANVIL_FUZZ_REFIT_STATS=1 prints them at exit): not a safetensors image,
     * refit failed, refit in place, refit as a copy, refit with verify, through the map */
    unsigned long unparsed, failed, in_place, copied, verified, mapped;
} state;

/* The only state of the target, set once by LLVMFuzzerInitialize. */
static state S;

static uint32_t rng = 2024u;
static float rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static size_t numel(const weight *w) {
    size_t n = 1;
    for (int i = 0; i < w->rank; i++) n *= (size_t)w->dims[i];
    return n;
}

static void make_weights(void) {
    for (int i = 0; i < N_WEIGHTS; i++) {
        const weight *w = &WEIGHTS[i];
        size_t n = numel(w);
        if (!(S.values[i] = malloc(n * sizeof(float)))) die("out of memory");
        for (size_t k = 0; k < n; k++) S.values[i][k] = w->offset + w->scale * rnd();
        anvil_tensor *t = &S.tensors[i];
        t->name = w->name;
        t->dtype = ANVIL_DTYPE_F32;
        t->rank = w->rank;
        memcpy(t->dims, w->dims, sizeof w->dims);
        t->data = S.values[i];
        t->bytes = n * sizeof(float);
    }
    for (int i = 0; i < 2 * 6 * 6; i++) S.x[i] = rnd();
    S.input = (anvil_tensor){"x", ANVIL_DTYPE_F32, 4, {1, 2, 6, 6}, S.x, sizeof S.x};
}

/* ---- ONNX bytes (protobuf-c structs on the stack, packed once) --------------------------- */

static void tensor_proto(Onnx__TensorProto *t, int i) {
    onnx_init_f32(t, WEIGHTS[i].name, WEIGHTS[i].rank, WEIGHTS[i].dims, S.values[i],
                  S.tensors[i].bytes / sizeof(float));
}

static anvil_model *make_model(void) {
    Onnx__TensorProto inits[N_WEIGHTS], *pinits[N_WEIGHTS];
    for (int i = 0; i < N_WEIGHTS; i++) tensor_proto(&inits[i], i), pinits[i] = &inits[i];
    static const char *conv_in[] = {"x", "conv.weight", "conv.bias"}, *conv_out[] = {"c"};
    static const char *bn_in[] = {"c", "bn.weight", "bn.bias", "bn.running_mean",
                                  "bn.running_var"}, *bn_out[] = {"b"};
    static const char *relu_in[] = {"b"}, *relu_out[] = {"r"}, *flat_in[] = {"r"},
                      *flat_out[] = {"f"}, *fc_in[] = {"f", "fc.weight", "fc.bias"},
                      *fc_out[] = {"g"}, *add_in[] = {"g", "shift"}, *add_out[] = {"y"};
    static const int64_t pads[] = {1, 1, 1, 1};
    Onnx__AttributeProto pad = ONNX__ATTRIBUTE_PROTO__INIT, trans = ONNX__ATTRIBUTE_PROTO__INIT;
    pad.name = "pads", pad.has_type = 1, pad.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    pad.n_ints = 4, pad.ints = (int64_t *)pads;
    trans.name = "transB", trans.has_type = 1, trans.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    trans.has_i = 1, trans.i = 1;
    Onnx__AttributeProto *conv_attrs[] = {&pad}, *fc_attrs[] = {&trans};
    Onnx__NodeProto nodes[6], *pnodes[6];
    onnx_node(&nodes[0], "Conv", 3, conv_in, conv_out, 1, conv_attrs);
    onnx_node(&nodes[1], "BatchNormalization", 5, bn_in, bn_out, 0, NULL);
    onnx_node(&nodes[2], "Relu", 1, relu_in, relu_out, 0, NULL);
    onnx_node(&nodes[3], "Flatten", 1, flat_in, flat_out, 0, NULL);
    onnx_node(&nodes[4], "Gemm", 3, fc_in, fc_out, 1, fc_attrs);
    onnx_node(&nodes[5], "Add", 2, add_in, add_out, 0, NULL);
    for (int i = 0; i < 6; i++) pnodes[i] = &nodes[i];
    static const int64_t in_dims[] = {1, 2, 6, 6}, out_dims[] = {1, 4};
    onnx_io in, out;
    Onnx__ValueInfoProto *pin[] = {onnx_io_f32(&in, "x", 4, in_dims)},
                         *pout[] = {onnx_io_f32(&out, "y", 2, out_dims)};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "fuzz_refit";
    graph.n_node = 6, graph.node = pnodes;
    graph.n_initializer = N_WEIGHTS, graph.initializer = pinits;
    graph.n_input = 1, graph.input = pin;
    graph.n_output = 1, graph.output = pout;
    anvil_model *m = NULL;
    if (onnx_load_graph(&graph, 17, &m) != ANVIL_OK) die("model: %s", anvil_last_error());
    return m;
}

/* ---- safetensors images and seeds -------------------------------------------------------- */

/* The library's writer goes to files: write to a temp file, read it back. */
static void image_of(const anvil_tensor *t, size_t n, uint8_t **out, size_t *size) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/fuzz_refit_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp %s failed", path);
    close(fd);
    if (anvil_safetensors_write(path, t, n) != ANVIL_OK) die("write: %s", anvil_last_error());
    FILE *f = fopen(path, "rb");
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (!f || len <= 0 || fseek(f, 0, SEEK_SET) != 0 || !(*out = malloc((size_t)len)) ||
        fread(*out, 1, (size_t)len, f) != (size_t)len)
        die("cannot read back %s", path);
    fclose(f);
    unlink(path);
    *size = (size_t)len;
}

static void seed(const char *dir, const char *name, const anvil_tensor *t, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (anvil_safetensors_write(path, t, n) != ANVIL_OK) die("%s: %s", path, anvil_last_error());
}

/* The original weights, other weights (a refit that succeeds), and refits that must fail:
 * a tensor missing, a wrong dtype, a wrong shape, a NaN (with check_finite), plus an extra
 * tensor the model does not use. */
static void write_corpus(const char *dir) {
    anvil_tensor t[N_WEIGHTS + 1];
    float other[4 * 108];
    double wide[4];
    seed(dir, "original", S.tensors, N_WEIGHTS);
    memcpy(t, S.tensors, sizeof S.tensors);
    for (int k = 0; k < 4 * 108; k++) other[k] = S.values[6][k] * 1.5f + 0.01f;
    t[6].data = other;
    seed(dir, "other_fc_weight", t, N_WEIGHTS);
    memcpy(t, S.tensors, sizeof S.tensors);
    seed(dir, "missing_four", t, N_WEIGHTS - 4); /* running_var, fc.*, shift */
    t[5] = t[8];
    seed(dir, "missing_one", t, N_WEIGHTS - 1);
    memcpy(t, S.tensors, sizeof S.tensors);
    for (int k = 0; k < 4; k++) wide[k] = S.values[7][k];
    t[7].dtype = ANVIL_DTYPE_F64, t[7].data = wide, t[7].bytes = sizeof wide;
    seed(dir, "wrong_dtype", t, N_WEIGHTS);
    memcpy(t, S.tensors, sizeof S.tensors);
    t[6].dims[0] = 108, t[6].dims[1] = 4;
    seed(dir, "wrong_shape", t, N_WEIGHTS);
    memcpy(t, S.tensors, sizeof S.tensors);
    memcpy(other, S.values[0], 54 * sizeof(float));
    other[5] = __builtin_nanf("");
    t[0].data = other;
    seed(dir, "nan", t, N_WEIGHTS);
    memcpy(t, S.tensors, sizeof S.tensors);
    float transposed[108 * 4];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 108; c++) transposed[c * 4 + r] = S.values[6][r * 108 + c] * 0.5f;
    t[6].name = "fc.weight_t", t[6].dims[0] = 108, t[6].dims[1] = 4, t[6].data = transposed;
    t[0].name = "conv.w";
    seed(dir, "mapped", t, N_WEIGHTS); /* needs the map: fc.weight transposed, conv renamed */
    memcpy(t, S.tensors, sizeof S.tensors);
    t[0].name = "conv.w";
    t[N_WEIGHTS] = t[0];
    t[N_WEIGHTS].name = "conv.w_copy";
    seed(dir, "tied", t, N_WEIGHTS + 1); /* through the map, the tie agreeing (bytes decide) */
    memcpy(t, S.tensors, sizeof S.tensors);
    int64_t unused = 7;
    t[N_WEIGHTS] = (anvil_tensor){"num_batches_tracked", ANVIL_DTYPE_I64, 0, {0}, &unused, 8};
    seed(dir, "extra_tensor", t, N_WEIGHTS + 1);
}

/* ---- the target -------------------------------------------------------------------------- */

static void run_ok(anvil_context *ctx, anvil_tensor_list **out, const char *when) {
    if (anvil_engine_run(ctx, &S.input, 1, out) != ANVIL_OK)
        die("run %s failed: %s", when, anvil_last_error());
}

/* The engine must give exactly the output of its original weights. */
static void expect_baseline(const char *when) {
    anvil_tensor_list *out = NULL;
    run_ok(S.ctx, &out, when);
    const anvil_tensor *y = anvil_tensor_list_get(out, 0);
    if (!y || y->bytes != S.baseline_bytes || memcmp(y->data, S.baseline, y->bytes) != 0)
        die("the engine's output changed %s", when);
    anvil_tensor_list_destroy(out);
}

static void print_stats(void) {
    fprintf(stderr, "fuzz_refit: %lu inputs not safetensors, %lu refits failed, %lu in place, "
            "%lu as a copy; %lu with verify, %lu through the name map\n", S.unparsed, S.failed,
            S.in_place, S.copied, S.verified, S.mapped);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* Bounded like fuzz_engine.c: copies re-create kernels, which fill oneDNN's cache. */
    dnnl_set_primitive_cache_capacity(8);
    make_weights();
    const char *corpus = getenv("ANVIL_FUZZ_REFIT_WRITE_CORPUS");
    if (corpus && *corpus) {
        write_corpus(corpus);
        exit(0);
    }
    anvil_model *m = make_model();
    anvil_compile_options o = anvil_compile_options_default();
    o.threads = 1;
    o.autotune = 0;
    if (anvil_engine_compile(m, &o, &S.engine) != ANVIL_OK ||
        anvil_context_create(S.engine, &S.ctx) != ANVIL_OK)
        die("compile: %s", anvil_last_error());
    anvil_model_destroy(m);
    anvil_tensor_list *out = NULL;
    run_ok(S.ctx, &out, "after compile");
    const anvil_tensor *y = anvil_tensor_list_get(out, 0);
    S.baseline_bytes = y->bytes;
    if (!(S.baseline = malloc(y->bytes))) die("out of memory");
    memcpy(S.baseline, y->data, y->bytes);
    anvil_tensor_list_destroy(out);
    image_of(S.tensors, N_WEIGHTS, &S.original, &S.original_size);
    static const char map[] =
        "{\"format\": \"anvil-name-map\", \"version\": 3, \"initializers\": ["
        "{\"onnx\": \"fc.weight\", \"kind\": \"transpose\", \"sources\": [\"fc.weight_t\"], "
        "\"perm\": [1, 0]}, "
        "{\"onnx\": \"conv.weight\", \"kind\": \"identity\", \"sources\": [\"conv.w\"]}], "
        "\"tied\": [[\"conv.w\", \"conv.w_copy\"]]}";
    if (anvil_name_map_load_memory(map, sizeof map - 1, &S.map) != ANVIL_OK)
        die("name map: %s", anvil_last_error());
    /* A seed for fuzz_engine: this engine (a scaled Pack, packed slots, the name map). */
    const char *engine_seed = getenv("ANVIL_FUZZ_REFIT_WRITE_ENGINE");
    if (engine_seed && *engine_seed) {
        if (anvil_engine_set_name_map(S.engine, S.map) != ANVIL_OK ||
            anvil_engine_save(S.engine, engine_seed, NULL) != ANVIL_OK)
            die("engine seed: %s", anvil_last_error());
        exit(0);
    }
    const char *stats = getenv("ANVIL_FUZZ_REFIT_STATS");
    if (stats && *stats == '1') atexit(print_stats);
    return 0;
}

/* Refit back to the original weights (in place), which must give the original output. */
static void restore(const char *when) {
    anvil_safetensors *st = NULL;
    if (anvil_safetensors_open_memory(S.original, S.original_size, &st) != ANVIL_OK)
        die("original image: %s", anvil_last_error());
    anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_SAFETENSORS, .safetensors = st};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_engine *out = NULL;
    if (anvil_engine_refit(S.engine, &src, &o, &out, NULL) != ANVIL_OK || out != S.engine)
        die("refit back to the original weights %s: %s", when, anvil_last_error());
    anvil_safetensors_close(st);
    expect_baseline("after a refit back to the original weights");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anvil_safetensors *st = NULL;
    anvil__error_clear();
    if (anvil_safetensors_open_memory(data, size, &st) != ANVIL_OK) {
        if (st || anvil_last_error()[0] == '\0') die("open failed without a message");
        S.unparsed++;
        return 0;
    }
    /* Options from the input's last byte and size, so mutations flip them. */
    unsigned flags = size ? (unsigned)data[size - 1] ^ (unsigned)size : 0;
    anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_SAFETENSORS, .safetensors = st};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = (int32_t)(flags & 1);
    o.check_finite = (int32_t)((flags >> 1) & 1);
    if (flags & 4) o.verify_inputs = &S.input, o.n_verify_inputs = 1;
    if (!(flags & 8)) o.name_map = S.map; /* names the image has are taken first */
    anvil_engine *out = NULL;
    anvil_refit_report report;
    anvil__error_clear();
    anvil_status s = anvil_engine_refit(S.engine, &src, &o, &out, &report);
    S.verified += o.n_verify_inputs > 0 && s == ANVIL_OK;
    S.mapped += s == ANVIL_OK && report.sources_mapped > 0;
    if (s != ANVIL_OK) {
        S.failed++;
        if (out || anvil_last_error()[0] == '\0') die("failed refit: output set or no message");
        expect_baseline("after a failed refit"); /* transactional: nothing changed */
    } else if (o.in_place) {
        if (out != S.engine) die("in-place refit returned another engine");
        S.in_place++;
        anvil_tensor_list *y = NULL;
        run_ok(S.ctx, &y, "after an in-place refit");
        anvil_tensor_list_destroy(y);
        restore("after an in-place refit");
    } else {
        if (!out || out == S.engine) die("refit as a copy returned no new engine");
        S.copied++;
        anvil_context *c = NULL;
        anvil_tensor_list *y = NULL;
        if (anvil_context_create(out, &c) != ANVIL_OK) die("context: %s", anvil_last_error());
        run_ok(c, &y, "of a refitted copy");
        anvil_tensor_list_destroy(y);
        anvil_context_destroy(c);
        anvil_engine_destroy(out);
        expect_baseline("after a refit as a copy"); /* the original is untouched */
    }
    anvil_safetensors_close(st);
    return 0;
}
