/*
 * test_name_map_build.c — name map matching and computing on small hand-made graphs and
 * checkpoints: identity ties (own name, then checkpoint order), one-element constants left
 * unmatched, rank-3 and integer transposes, BatchNorm folds (conv bias present, eps 1e-3, a
 * fresh BN whose folded bias equals beta, two identical BN groups, f64, tolerance), and
 * anvil__name_map_compute's results (f32 / f16 / bf16 / f64 by the formulas of anvil.h) and
 * errors (missing sources, shapes, dtypes, byte counts).
 */
#include "anvil.h"
#include "api/model.h"
#include "check.h"
#include "namemap/name_map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fixtures ----------------------------------------------------------------------------- */

enum { MAX_T = 32 };

/* A set of named tensors with data owned here: the checkpoint side or the model side. */
typedef struct tset {
    anvil_tensor t[MAX_T];
    char names[MAX_T][64];
    size_t n;
} tset;

static float frand(unsigned *state) { /* deterministic, in [-1, 1) */
    *state = *state * 1103515245u + 12345u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static anvil_tensor *add(tset *s, const char *name, anvil_dtype dt, int32_t rank,
                         const int64_t *dims) {
    CHECK(s->n < MAX_T);
    anvil_tensor *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    t->name = s->names[s->n++];
    t->dtype = dt;
    t->rank = rank;
    memcpy(t->dims, dims, sizeof dims[0] * (size_t)rank);
    t->bytes = (size_t)anvil_shape_numel(rank, dims) * anvil_dtype_size(dt);
    t->data = calloc(1, t->bytes ? t->bytes : 1);
    return t;
}

/* Values in [-1, 1), or in [0.1, 1.1) when positive (variances). */
static anvil_tensor *add_rand(tset *s, const char *name, int32_t rank, const int64_t *dims,
                              unsigned seed, bool positive) {
    anvil_tensor *t = add(s, name, ANVIL_DTYPE_F32, rank, dims);
    float *p = t->data;
    for (size_t i = 0; i < t->bytes / 4; i++)
        p[i] = positive ? 0.1f + fabsf(frand(&seed)) : frand(&seed);
    return t;
}

static anvil_tensor *copy(tset *s, const char *name, const anvil_tensor *from) {
    anvil_tensor *t = add(s, name, from->dtype, from->rank, from->dims);
    memcpy(t->data, from->data, from->bytes);
    return t;
}

static anvil_tensor *get(tset *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static void tset_free(tset *s) {
    for (size_t i = 0; i < s->n; i++) free(s->t[i].data);
    s->n = 0;
}

/* A graph whose initializers are the model set, plus Conv nodes (weight, bias or NULL). */
typedef struct conv_spec {
    const char *weight, *bias;
} conv_spec;

static anvil__graph *make_graph(const tset *model, const conv_spec *convs, int n_convs) {
    anvil__graph *g = anvil__graph_new(NULL);
    int32_t x = -1;
    CHECK_OK(anvil__graph_add_value(g, "x", &x));
    CHECK_OK(anvil__graph_add_input(g, x));
    for (size_t i = 0; i < model->n; i++) {
        const anvil_tensor *t = &model->t[i];
        anvil__tensor it = {t->dtype, t->rank, {0}, t->data, t->bytes};
        memcpy(it.dims, t->dims, sizeof it.dims);
        int32_t v = -1;
        CHECK_OK(anvil__graph_add_value(g, t->name, &v));
        CHECK_OK(anvil__graph_add_init(g, v, &it, false));
    }
    for (int c = 0; c < n_convs; c++) {
        char out[32];
        snprintf(out, sizeof out, "y%d", c);
        int32_t in[3] = {x, anvil__graph_find(g, convs[c].weight), -1}, y = -1, id = -1;
        if (convs[c].bias) in[2] = anvil__graph_find(g, convs[c].bias);
        CHECK_OK(anvil__graph_add_value(g, out, &y));
        CHECK_OK(anvil__graph_add_node(g, out, "Conv", "", in, convs[c].bias ? 3 : 2, &y, 1, &id));
    }
    return g;
}

/* Builds the map of `model` (with its Conv nodes) against the checkpoint set. */
static anvil_name_map *build(const tset *model, const conv_spec *convs, int n_convs,
                             const tset *ckpt, const anvil_map_options *o, anvil_status want) {
    char path[] = "/tmp/anvil_test_nm_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_OK(anvil_safetensors_write(path, ckpt->t, ckpt->n));
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_open(path, &st));
    unlink(path);
    struct anvil_model m;
    memset(&m, 0, sizeof m);
    m.graph = make_graph(model, convs, n_convs);
    anvil_name_map *map = NULL;
    if (st) CHECK_STATUS(anvil_name_map_build(&m, st, o, &map), want);
    anvil__graph_destroy((anvil__graph *)m.graph);
    anvil_safetensors_close(st);
    return map;
}

static anvil_map_entry entry(const anvil_name_map *map, const char *onnx) {
    anvil_map_entry e;
    CHECK_OK(anvil_name_map_find(map, onnx, &e));
    return e;
}

static bool set_lookup(void *user, const char *name, anvil__tensor *out) {
    const anvil_tensor *t = get(user, name);
    if (!t) return false;
    out->dtype = t->dtype;
    out->rank = t->rank;
    memcpy(out->dims, t->dims, sizeof out->dims);
    out->data = t->data;
    out->bytes = t->bytes;
    return true;
}

/* The entry applied to the checkpoint set gives the model tensor bit for bit. */
static void check_reproduces(const anvil_map_entry *e, tset *ckpt, const anvil_tensor *want) {
    anvil__tensor got;
    CHECK_OK(anvil__name_map_compute(e, set_lookup, ckpt, &got));
    CHECK(got.dtype == want->dtype && got.bytes == want->bytes && got.rank == want->rank);
    CHECK(got.bytes == want->bytes && memcmp(got.data, want->data, got.bytes) == 0);
    anvil__free(got.data);
}

/* PyTorch's folding, written out here: s = gamma / sqrt(var + eps) in float. */
static void fold(const anvil_tensor *w, const float *cb, const tset *ck, const char *bn,
                 float eps, anvil_tensor *wout, anvil_tensor *bout) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", bn);
    const float *g = get((tset *)ck, name)->data;
    snprintf(name, sizeof name, "%s.bias", bn);
    const float *beta = get((tset *)ck, name)->data;
    snprintf(name, sizeof name, "%s.running_mean", bn);
    const float *mean = get((tset *)ck, name)->data;
    snprintf(name, sizeof name, "%s.running_var", bn);
    const float *var = get((tset *)ck, name)->data;
    size_t o = (size_t)w->dims[0], inner = w->bytes / 4 / o;
    for (size_t c = 0; c < o; c++) {
        float t = var[c] + eps;
        float r = sqrtf(t);
        float s = g[c] / r;
        for (size_t k = 0; k < inner; k++)
            ((float *)wout->data)[c * inner + k] = ((const float *)w->data)[c * inner + k] * s;
        if (bout) {
            float d = (cb ? cb[c] : 0.0f) - mean[c];
            float p = d * s;
            ((float *)bout->data)[c] = beta[c] + p;
        }
    }
}

static void add_bn(tset *ck, const char *bn, int64_t n, unsigned seed) {
    const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", bn, suffix[k]);
        add_rand(ck, name, 1, &n, seed + (unsigned)k, k == 3);
    }
}
