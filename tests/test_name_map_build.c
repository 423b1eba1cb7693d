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

/* A graph whose initializers are the model set, plus Conv or Gemm nodes (weight, bias or
 * NULL). */
typedef struct conv_spec {
    const char *weight, *bias;
    const char *op; /* NULL: "Conv"; "Gemm" gets attribute transB = trans_b */
    int trans_b;
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
        const char *op = convs[c].op ? convs[c].op : "Conv";
        CHECK_OK(anvil__graph_add_node(g, out, op, "", in, convs[c].bias ? 3 : 2, &y, 1, &id));
        anvil__attr *a = NULL;
        if (strcmp(op, "Gemm") == 0) CHECK_OK(anvil__node_add_attr(g, id, "transB", &a));
        if (a) {
            a->kind = ANVIL_ATTR_INT;
            a->i = convs[c].trans_b;
        }
    }
    return g;
}

/* Builds the map of `model` (with its Conv nodes) against the checkpoint set. With fail_at >= 0
 * the allocation after fail_at more fails during the build. */
static anvil_name_map *build_with(const tset *model, const conv_spec *convs, int n_convs,
                                  const tset *ckpt, const anvil_map_options *o, long fail_at,
                                  anvil_status *status) {
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
    *status = ANVIL_STATUS_INTERNAL;
    if (st) {
        anvil__alloc_fail_after(fail_at);
        *status = anvil_name_map_build(&m, st, o, &map);
        anvil__alloc_fail_after(-1);
    }
    anvil__graph_destroy((anvil__graph *)m.graph);
    anvil_safetensors_close(st);
    return map;
}

static anvil_name_map *build(const tset *model, const conv_spec *convs, int n_convs,
                             const tset *ckpt, const anvil_map_options *o, anvil_status want) {
    anvil_status s;
    anvil_name_map *map = build_with(model, convs, n_convs, ckpt, o, -1, &s);
    CHECK_STATUS(s, want);
    CHECK((s == ANVIL_OK) == (map != NULL));
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

/* ---- matching ----------------------------------------------------------------------------- */

/* Identical tensors: the initializer's own name first, then checkpoint order; a one-element
 * constant is not matched by content (only by its own name); unmatched keep initializer order. */
static void check_identity_ties(void) {
    tset ck = {0}, md = {0};
    int64_t d4[1] = {4}, d1[1] = {1}, d2[1] = {2};
    anvil_tensor *a = add_rand(&ck, "later.b", 1, d4, 1, false);
    copy(&ck, "first.a", a);
    float one = 1.0f;
    memcpy(add(&ck, "scale", ANVIL_DTYPE_F32, 1, d1)->data, &one, 4);
    memcpy(add(&ck, "other_scale", ANVIL_DTYPE_F32, 1, d1)->data, &one, 4);
    copy(&md, "renamed", a);
    copy(&md, "first.a", a);
    int64_t shape[2] = {1, 4};
    memcpy(add(&md, "onnx::Constant_1", ANVIL_DTYPE_I64, 1, d2)->data, shape, sizeof shape);
    memcpy(add(&md, "onnx::Mul_2", ANVIL_DTYPE_F32, 1, d1)->data, &one, 4);
    memcpy(add(&md, "scale", ANVIL_DTYPE_F32, 1, d1)->data, &one, 4);
    anvil_name_map *map = build(&md, NULL, 0, &ck, NULL, ANVIL_OK);
    if (!map) goto done;
    CHECK_EQ(anvil_name_map_count(map), 3);
    CHECK_STR_EQ(entry(map, "renamed").sources[0], "later.b"); /* first in checkpoint order */
    CHECK_STR_EQ(entry(map, "first.a").sources[0], "first.a");
    CHECK_STR_EQ(entry(map, "scale").sources[0], "scale");
    CHECK_EQ(anvil_name_map_unmatched_count(map), 2);
    CHECK_STR_EQ(anvil_name_map_unmatched(map, 0), "onnx::Constant_1");
    CHECK_STR_EQ(anvil_name_map_unmatched(map, 1), "onnx::Mul_2");
    anvil_map_entry e;
    CHECK_OK(anvil_name_map_entry(map, 0, &e)); /* entries in initializer order */
    CHECK_STR_EQ(e.onnx, "renamed");
done:
    anvil_name_map_destroy(map);
    tset_free(&ck);
    tset_free(&md);
}

/* Under its own name a float tensor may differ within the tolerance; renamed it may not. */
static void check_own_name_tolerance(void) {
    tset ck = {0}, md = {0};
    int64_t d[1] = {64};
    anvil_tensor *a = add_rand(&ck, "ln.weight", 1, d, 7, false);
    anvil_tensor *b = copy(&md, "ln.weight", a), *c = copy(&md, "onnx::Mul_9", a);
    ((float *)b->data)[3] = nextafterf(((float *)b->data)[3], 2.0f);
    ((float *)c->data)[3] = nextafterf(((float *)c->data)[3], 2.0f);
    anvil_name_map *map = build(&md, NULL, 0, &ck, NULL, ANVIL_OK);
    if (map) {
        CHECK_EQ(anvil_name_map_count(map), 1);
        CHECK_STR_EQ(entry(map, "ln.weight").sources[0], "ln.weight");
        CHECK_EQ(anvil_name_map_unmatched_count(map), 1);
    }
    anvil_name_map_destroy(map);
    anvil_map_options o = anvil_map_options_default();
    o.tolerance = 0; /* exact only */
    map = build(&md, NULL, 0, &ck, &o, ANVIL_OK);
    if (map) CHECK_EQ(anvil_name_map_count(map), 0);
    anvil_name_map_destroy(map);
    tset_free(&ck);
    tset_free(&md);
}

static void check_transposes(void) {
    tset ck = {0}, md = {0};
    int64_t d3[3] = {2, 3, 4}, t3[3] = {4, 2, 3}, d2[2] = {3, 5}, t2[2] = {5, 3};
    anvil_tensor *src = add_rand(&ck, "attn.w", 3, d3, 3, false);
    anvil_tensor *isrc = add(&ck, "table", ANVIL_DTYPE_I64, 2, d2);
    for (int i = 0; i < 15; i++) ((int64_t *)isrc->data)[i] = i * 7 - 20;
    /* onnx[i][j][k] = src[j][k][i]: numpy transpose with perm (2, 0, 1) */
    anvil_tensor *tt = add(&md, "onnx::MatMul_5", ANVIL_DTYPE_F32, 3, t3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                ((float *)tt->data)[(i * 2 + j) * 3 + k] =
                    ((float *)src->data)[(j * 3 + k) * 4 + i];
    anvil_tensor *it = add(&md, "onnx::Gather_6", ANVIL_DTYPE_I64, 2, t2);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++)
            ((int64_t *)it->data)[i * 3 + j] = ((int64_t *)isrc->data)[j * 5 + i];
    anvil_name_map *map = build(&md, NULL, 0, &ck, NULL, ANVIL_OK);
    if (map) {
        anvil_map_entry e = entry(map, "onnx::MatMul_5");
        CHECK_EQ(e.kind, ANVIL_MAP_TRANSPOSE);
        CHECK_STR_EQ(e.sources[0], "attn.w");
        CHECK(e.rank == 3 && e.perm[0] == 2 && e.perm[1] == 0 && e.perm[2] == 1);
        check_reproduces(&e, &ck, tt);
        e = entry(map, "onnx::Gather_6");
        CHECK(e.kind == ANVIL_MAP_TRANSPOSE && e.rank == 2 && e.perm[0] == 1);
        check_reproduces(&e, &ck, it);
    }
    anvil_name_map_destroy(map);
    tset_free(&ck);
    tset_free(&md);
}

/* Conv with its own bias and eps 1e-3; a fresh BN (mean 0) whose folded bias equals beta; two
 * identical BN groups, the closer name wins; a weight off by 1e-5 needs a looser tolerance. */
static void check_folds(void) {
    tset ck = {0}, md = {0};
    int64_t w1[4] = {4, 2, 3, 3}, w2[4] = {6, 4, 1, 1}, w3[4] = {6, 6, 1, 1}, n4 = 4, n6 = 6;
    anvil_tensor *c1 = add_rand(&ck, "l1.conv.weight", 4, w1, 11, false);
    anvil_tensor *c1b = add_rand(&ck, "l1.conv.bias", 1, &n4, 12, false);
    add_bn(&ck, "l1.bn", 4, 20);
    anvil_tensor *c2 = add_rand(&ck, "l2.conv.weight", 4, w2, 13, false);
    add_bn(&ck, "l2.bn", 6, 30);
    memset(get(&ck, "l2.bn.running_mean")->data, 0, 6 * 4);
    add_bn(&ck, "l3.bn", 6, 40); /* identical to l4.bn, listed first */
    anvil_tensor *c3 = add_rand(&ck, "l4.conv.weight", 4, w3, 14, false);
    add_bn(&ck, "l4.bn", 6, 40);
    anvil_tensor *fw1 = add(&md, "onnx::Conv_1", ANVIL_DTYPE_F32, 4, w1);
    anvil_tensor *fb1 = add(&md, "onnx::Conv_2", ANVIL_DTYPE_F32, 1, &n4);
    anvil_tensor *fw2 = add(&md, "onnx::Conv_3", ANVIL_DTYPE_F32, 4, w2);
    anvil_tensor *fb2 = add(&md, "onnx::Conv_4", ANVIL_DTYPE_F32, 1, &n6);
    anvil_tensor *fw3 = add(&md, "onnx::Conv_5", ANVIL_DTYPE_F32, 4, w3);
    anvil_tensor *fb3 = add(&md, "onnx::Conv_6", ANVIL_DTYPE_F32, 1, &n6);
    fold(c1, c1b->data, &ck, "l1.bn", 1e-3f, fw1, fb1);
    fold(c2, NULL, &ck, "l2.bn", 1e-5f, fw2, fb2);
    fold(c3, NULL, &ck, "l4.bn", 1e-5f, fw3, fb3);
    CHECK(memcmp(fb2->data, get(&ck, "l2.bn.bias")->data, 6 * 4) == 0); /* the trap is set */
    conv_spec convs[3] = {{"onnx::Conv_1", "onnx::Conv_2", NULL, 0},
                          {"onnx::Conv_3", "onnx::Conv_4", NULL, 0},
                          {"onnx::Conv_5", "onnx::Conv_6", NULL, 0}};
    anvil_name_map *map = build(&md, convs, 3, &ck, NULL, ANVIL_OK);
    if (map) {
        CHECK_EQ(anvil_name_map_count(map), 6);
        anvil_map_entry e = entry(map, "onnx::Conv_1");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.eps == 1e-3);
        CHECK_STR_EQ(e.sources[0], "l1.conv.weight");
        CHECK_STR_EQ(e.sources[4], "l1.bn.running_var");
        check_reproduces(&e, &ck, fw1);
        e = entry(map, "onnx::Conv_2");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && e.eps == 1e-3);
        CHECK_STR_EQ(e.sources[0], "l1.conv.bias");
        check_reproduces(&e, &ck, fb1);
        e = entry(map, "onnx::Conv_4");
        CHECK_EQ(e.kind, ANVIL_MAP_CONV_BN_FOLD_BIAS); /* not identity with l2.bn.bias */
        CHECK(e.eps == 1e-5);
        CHECK_STR_EQ(e.sources[0], "");
        check_reproduces(&e, &ck, fb2);
        CHECK_STR_EQ(entry(map, "onnx::Conv_5").sources[1], "l4.bn.weight");
        CHECK_STR_EQ(entry(map, "onnx::Conv_6").sources[1], "l4.bn.weight");
    }
    anvil_name_map_destroy(map);
    /* every allocation of the build failing in turn: OUT_OF_MEMORY and nothing leaked */
    bool built = false;
    for (long k = 0; k < 2000 && !built; k++) {
        anvil_status s;
        map = build_with(&md, convs, 3, &ck, NULL, k, &s);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        CHECK((s == ANVIL_OK) == (map != NULL));
        if (map) CHECK_EQ(anvil_name_map_count(map), 6);
        built = map != NULL;
        anvil_name_map_destroy(map);
    }
    CHECK(built);
    for (int k = 0; k < 72; k++) ((float *)fw1->data)[k] *= 1.0f + 1e-5f; /* off by 1e-5 */
    map = build(&md, convs, 1, &ck, NULL, ANVIL_OK);
    if (map) {
        CHECK_STATUS(anvil_name_map_find(map, "onnx::Conv_1", &(anvil_map_entry){0}),
                     ANVIL_STATUS_NOT_FOUND);
        CHECK_STATUS(anvil_name_map_find(map, "onnx::Conv_2", &(anvil_map_entry){0}),
                     ANVIL_STATUS_NOT_FOUND);
    }
    anvil_name_map_destroy(map);
    anvil_map_options o = anvil_map_options_default();
    o.tolerance = 1e-4;
    map = build(&md, convs, 1, &ck, &o, ANVIL_OK);
    if (map) CHECK_EQ(entry(map, "onnx::Conv_1").kind, ANVIL_MAP_CONV_BN_FOLD_WEIGHT);
    anvil_name_map_destroy(map);
    o.tolerance = -1;
    CHECK(build(&md, convs, 1, &ck, &o, ANVIL_STATUS_INVALID_ARGUMENT) == NULL);
    o.tolerance = NAN;
    CHECK(build(&md, convs, 1, &ck, &o, ANVIL_STATUS_INVALID_ARGUMENT) == NULL);
    tset_free(&ck);
    tset_free(&md);
}

/* Linear + BatchNorm1d folded into Gemm: with transB = 1 the initializer is the fold itself;
 * with transB = 0 it is the fold's transpose, and the entry carries perm (1, 0). A BatchNorm
 * folded into a ConvTranspose scales dim 1 (axis 1). The map file keeps perm and axis. */
static void check_gemm_deconv_folds(void) {
    tset ck = {0}, md = {0};
    int64_t w1[2] = {6, 4}, w2[2] = {3, 6}, w2t[2] = {6, 3}, n6 = 6, n3 = 3;
    anvil_tensor *c1 = add_rand(&ck, "fc1.weight", 2, w1, 51, false);
    anvil_tensor *c1b = add_rand(&ck, "fc1.bias", 1, &n6, 52, false);
    add_bn(&ck, "bn1", 6, 60);
    anvil_tensor *c2 = add_rand(&ck, "fc2.weight", 2, w2, 53, false);
    add_bn(&ck, "bn2", 3, 70);
    anvil_tensor *fw1 = add(&md, "onnx::Gemm_1", ANVIL_DTYPE_F32, 2, w1);
    anvil_tensor *fb1 = add(&md, "onnx::Gemm_2", ANVIL_DTYPE_F32, 1, &n6);
    anvil_tensor *fw2t = add(&md, "onnx::Gemm_3", ANVIL_DTYPE_F32, 2, w2t);
    anvil_tensor *fb2 = add(&md, "onnx::Gemm_4", ANVIL_DTYPE_F32, 1, &n3);
    fold(c1, c1b->data, &ck, "bn1", 1e-5f, fw1, fb1);
    anvil_tensor fw2 = *c2;
    fw2.data = malloc(c2->bytes);
    fold(c2, NULL, &ck, "bn2", 1e-5f, &fw2, fb2);
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 6; i++)
            ((float *)fw2t->data)[i * 3 + o] = ((const float *)fw2.data)[o * 6 + i];
    /* ConvTranspose [in 4, out 6, 3, 3]: the output channels are dim 1 */
    int64_t wd[4] = {4, 6, 3, 3};
    anvil_tensor *cd = add_rand(&ck, "up.weight", 4, wd, 54, false);
    add_bn(&ck, "up_bn", 6, 80);
    anvil_tensor *fwd = add(&md, "onnx::ConvTranspose_5", ANVIL_DTYPE_F32, 4, wd);
    anvil_tensor *fbd = add(&md, "onnx::ConvTranspose_6", ANVIL_DTYPE_F32, 1, &n6);
    anvil_tensor scaled = *cd; /* fold() scales dim 0: fold the transposed [6, 4, 3, 3] */
    float *swapped = malloc(cd->bytes), *folded = malloc(cd->bytes);
    for (int i = 0; i < 4; i++)
        for (int o = 0; o < 6; o++)
            memcpy(swapped + (o * 4 + i) * 9, (float *)cd->data + (i * 6 + o) * 9, 9 * 4);
    scaled.dims[0] = 6, scaled.dims[1] = 4, scaled.data = swapped;
    anvil_tensor fscaled = scaled;
    fscaled.data = folded;
    fold(&scaled, NULL, &ck, "up_bn", 1e-5f, &fscaled, fbd);
    for (int i = 0; i < 4; i++)
        for (int o = 0; o < 6; o++)
            memcpy((float *)fwd->data + (i * 6 + o) * 9, folded + (o * 4 + i) * 9, 9 * 4);
    conv_spec gemms[3] = {{"onnx::Gemm_1", "onnx::Gemm_2", "Gemm", 1},
                          {"onnx::Gemm_3", "onnx::Gemm_4", "Gemm", 0},
                          {"onnx::ConvTranspose_5", "onnx::ConvTranspose_6", "ConvTranspose", 0}};
    anvil_name_map *map = build(&md, gemms, 3, &ck, NULL, ANVIL_OK);
    char path[] = "/tmp/anvil_test_gemm_map_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    anvil_name_map *loaded = NULL;
    if (map) {
        CHECK_EQ(anvil_name_map_count(map), 6);
        anvil_map_entry e = entry(map, "onnx::ConvTranspose_5");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.axis == 1 && e.rank == 0);
        CHECK_STR_EQ(e.sources[0], "up.weight");
        CHECK_STR_EQ(e.sources[1], "up_bn.weight");
        check_reproduces(&e, &ck, fwd);
        e = entry(map, "onnx::ConvTranspose_6");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && e.axis == 0 && e.sources[0][0] == 0);
        check_reproduces(&e, &ck, fbd);
        e = entry(map, "onnx::Gemm_1");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.rank == 0);
        CHECK_STR_EQ(e.sources[0], "fc1.weight");
        check_reproduces(&e, &ck, fw1);
        e = entry(map, "onnx::Gemm_2");
        CHECK_EQ(e.kind, ANVIL_MAP_CONV_BN_FOLD_BIAS);
        CHECK_STR_EQ(e.sources[0], "fc1.bias");
        check_reproduces(&e, &ck, fb1);
        e = entry(map, "onnx::Gemm_3");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.rank == 2);
        CHECK(e.perm[0] == 1 && e.perm[1] == 0);
        CHECK_STR_EQ(e.sources[0], "fc2.weight");
        CHECK_STR_EQ(e.sources[1], "bn2.weight");
        check_reproduces(&e, &ck, fw2t);
        e = entry(map, "onnx::Gemm_4");
        CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && e.sources[0][0] == 0);
        check_reproduces(&e, &ck, fb2);
        CHECK_OK(anvil_name_map_save(map, path));
        CHECK_OK(anvil_name_map_load(path, &loaded));
    }
    if (loaded) { /* the perm survives the file, and only the fold weight has one */
        anvil_map_entry e = entry(loaded, "onnx::Gemm_3");
        CHECK(e.rank == 2 && e.perm[0] == 1 && e.perm[1] == 0);
        check_reproduces(&e, &ck, fw2t);
        CHECK_EQ(entry(loaded, "onnx::Gemm_1").rank, 0);
        CHECK_EQ(entry(loaded, "onnx::Gemm_4").rank, 0);
        e = entry(loaded, "onnx::ConvTranspose_5"); /* and so does the axis */
        CHECK_EQ(e.axis, 1);
        check_reproduces(&e, &ck, fwd);
        CHECK_EQ(entry(loaded, "onnx::Gemm_3").axis, 0);
    }
    free(swapped);
    free(folded);
    unlink(path);
    anvil_name_map_destroy(loaded);
    anvil_name_map_destroy(map);
    free(fw2.data);
    tset_free(&ck);
    tset_free(&md);
}

/* ---- computing ---------------------------------------------------------------------------- */

static anvil_map_entry fold_entry(anvil_map_kind kind, const char *first, double eps) {
    anvil_map_entry e;
    memset(&e, 0, sizeof e);
    e.onnx = kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT ? "onnx::Conv_1" : "onnx::Conv_2";
    e.kind = kind;
    e.n_sources = 5;
    e.sources[0] = first;
    e.sources[1] = "bn.weight";
    e.sources[2] = "bn.bias";
    e.sources[3] = "bn.running_mean";
    e.sources[4] = "bn.running_var";
    e.eps = eps;
    return e;
}

/* A checkpoint of dtype dt: conv [3,2] and bn vectors [3] with the given float values. */
static void make_fold_ckpt(tset *ck, anvil_dtype dt) {
    static const double w[6] = {0.5, -1.25, 2.0, 0.75, -0.375, 3.0};
    static const double g[3] = {1.5, -0.5, 2.0}, b[3] = {0.25, -1.0, 0.5};
    static const double m[3] = {0.125, 2.0, -0.75}, v[3] = {0.5, 1.25, 3.0};
    int64_t dw[2] = {3, 2}, dv = 3;
    anvil_tensor *t = add(ck, "conv.weight", dt, 2, dw);
    for (size_t i = 0; i < 6; i++) anvil__store_f64(dt, t->data, i, w[i]);
    const double *vals[5] = {g, b, m, v, b};
    const char *names[5] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                            "conv.bias"};
    for (int k = 0; k < 5; k++) {
        t = add(ck, names[k], dt, 1, &dv);
        for (size_t i = 0; i < 3; i++) anvil__store_f64(dt, t->data, i, vals[k][i]);
    }
}

/* Folds of each float dtype against the formulas, rounded the way the dtype is. */
static void check_fold_values(void) {
    const anvil_dtype dts[4] = {ANVIL_DTYPE_F32, ANVIL_DTYPE_F16, ANVIL_DTYPE_BF16,
                                ANVIL_DTYPE_F64};
    for (int d = 0; d < 4; d++) {
        tset ck = {0};
        anvil_dtype dt = dts[d];
        make_fold_ckpt(&ck, dt);
        anvil_map_entry ew = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "conv.weight", 1e-3);
        anvil_map_entry eb = fold_entry(ANVIL_MAP_CONV_BN_FOLD_BIAS, "conv.bias", 1e-3);
        anvil__tensor w, b;
        CHECK_OK(anvil__name_map_compute(&ew, set_lookup, &ck, &w));
        CHECK_OK(anvil__name_map_compute(&eb, set_lookup, &ck, &b));
        CHECK(w.dtype == dt && w.rank == 2 && w.dims[0] == 3 && w.dims[1] == 2);
        CHECK(b.dtype == dt && b.rank == 1 && b.dims[0] == 3);
        for (size_t c = 0; c < 3 && w.data && b.data; c++) {
            double var = anvil__load_f64(dt, get(&ck, "bn.running_var")->data, c);
            double g = anvil__load_f64(dt, get(&ck, "bn.weight")->data, c);
            double be = anvil__load_f64(dt, get(&ck, "bn.bias")->data, c);
            double mu = anvil__load_f64(dt, get(&ck, "bn.running_mean")->data, c);
            double cb = anvil__load_f64(dt, get(&ck, "conv.bias")->data, c);
            double s = g / sqrt(var + 1e-3), tol = dt == ANVIL_DTYPE_F64 ? 1e-15
                                                 : dt == ANVIL_DTYPE_F32 ? 1e-6 : 1e-2;
            for (size_t k = 0; k < 2; k++) {
                double cw = anvil__load_f64(dt, get(&ck, "conv.weight")->data, c * 2 + k);
                CHECK_NEAR(anvil__load_f64(dt, w.data, c * 2 + k), cw * s, tol * 4);
            }
            CHECK_NEAR(anvil__load_f64(dt, b.data, c), be + (cb - mu) * s, tol * 4);
        }
        if (dt == ANVIL_DTYPE_F32) { /* exactly the float operations of anvil.h */
            anvil_tensor fw = {0}, fb = {0};
            tset out = {0};
            fw = *add(&out, "w", dt, 2, get(&ck, "conv.weight")->dims);
            fb = *add(&out, "b", dt, 1, get(&ck, "conv.bias")->dims);
            fold(get(&ck, "conv.weight"), get(&ck, "conv.bias")->data, &ck, "bn", 1e-3f, &fw, &fb);
            CHECK(memcmp(fw.data, w.data, 24) == 0 && memcmp(fb.data, b.data, 12) == 0);
            tset_free(&out);
        }
        anvil__free(w.data);
        anvil__free(b.data);
        tset_free(&ck);
    }
}

static void expect_compute_error(const anvil_map_entry *e, tset *ck, anvil_status want,
                                 const char *n1, const char *n2) {
    anvil__tensor out;
    out.data = (void *)&out; /* must come back NULL */
    CHECK_STATUS(anvil__name_map_compute(e, set_lookup, ck, &out), want);
    CHECK(out.data == NULL);
    CHECK_CONTAINS(anvil_last_error(), e->onnx);
    if (n1) CHECK_CONTAINS(anvil_last_error(), n1);
    if (n2) CHECK_CONTAINS(anvil_last_error(), n2);
}

static void check_compute_errors(void) {
    tset ck = {0};
    make_fold_ckpt(&ck, ANVIL_DTYPE_F32);
    anvil_map_entry e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "nosuch.weight", 1e-5);
    e.sources[3] = "nosuch.running_mean";
    expect_compute_error(&e, &ck, ANVIL_STATUS_NOT_FOUND, "'nosuch.weight'",
                         "'nosuch.running_mean'");
    anvil_map_entry id = {.onnx = "onnx::Id", .kind = ANVIL_MAP_IDENTITY, .n_sources = 1,
                          .sources = {"gone"}};
    expect_compute_error(&id, &ck, ANVIL_STATUS_NOT_FOUND, "'gone'", NULL);
    /* gamma of the wrong length */
    int64_t d4 = 4, d32[2] = {3, 2};
    anvil_tensor *g = get(&ck, "bn.weight");
    g->dims[0] = 2;
    g->bytes = 8;
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "conv.weight", 1e-5);
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'bn.weight'", "3");
    g->dims[0] = 3;
    g->bytes = 12;
    /* bytes that do not fit the shape */
    get(&ck, "bn.bias")->bytes = 16;
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'bn.bias'", "16 bytes");
    get(&ck, "bn.bias")->bytes = 12;
    /* integer weights, and mixed float dtypes, cannot be folded */
    add(&ck, "int.weight", ANVIL_DTYPE_I32, 2, d32);
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "int.weight", 1e-5);
    expect_compute_error(&e, &ck, ANVIL_STATUS_DTYPE_MISMATCH, "'int.weight'", "i32");
    add(&ck, "f64.weight", ANVIL_DTYPE_F64, 2, d32);
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "f64.weight", 1e-5);
    expect_compute_error(&e, &ck, ANVIL_STATUS_DTYPE_MISMATCH, "'bn.weight'", "f64");
    add(&ck, "long.bias", ANVIL_DTYPE_F32, 1, &d4);
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_BIAS, "long.bias", 1e-5);
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'long.bias'", NULL);
    /* identity and transpose take any dtype; a perm must fit the source's rank */
    anvil__tensor out;
    id.sources[0] = "int.weight";
    CHECK_OK(anvil__name_map_compute(&id, set_lookup, &ck, &out));
    CHECK(out.dtype == ANVIL_DTYPE_I32 && out.bytes == 24);
    anvil__free(out.data);
    anvil_map_entry tr = {.onnx = "onnx::T", .kind = ANVIL_MAP_TRANSPOSE, .n_sources = 1,
                          .sources = {"int.weight"}, .rank = 3, .perm = {2, 0, 1}};
    expect_compute_error(&tr, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'int.weight'", NULL);
    tr.rank = 2;
    tr.perm[0] = 1;
    tr.perm[1] = 0;
    CHECK_OK(anvil__name_map_compute(&tr, set_lookup, &ck, &out));
    CHECK(out.dtype == ANVIL_DTYPE_I32 && out.rank == 2 && out.dims[0] == 2 && out.dims[1] == 3);
    anvil__free(out.data);
    /* a fold weight's perm must fit its rank too; a fitting one transposes the fold */
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "conv.weight", 1e-5);
    e.rank = 3;
    e.perm[0] = 2, e.perm[1] = 0, e.perm[2] = 1;
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'conv.weight'", "perm");
    anvil__tensor plain;
    e.rank = 0;
    CHECK_OK(anvil__name_map_compute(&e, set_lookup, &ck, &plain));
    e.rank = 2;
    e.perm[0] = 1, e.perm[1] = 0;
    CHECK_OK(anvil__name_map_compute(&e, set_lookup, &ck, &out));
    CHECK(out.rank == 2 && out.dims[0] == 2 && out.dims[1] == 3);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            CHECK(memcmp((float *)out.data + c * 3 + r, (float *)plain.data + r * 2 + c, 4) == 0);
    anvil__free(out.data);
    anvil__free(plain.data);
    /* the fold's channel axis must be within the weight's rank, and scales that dim */
    e.rank = 0;
    e.axis = 2;
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'conv.weight'", "dim 2");
    e.axis = 1; /* conv.weight is [3, 2]: two channels, bn vectors of 3 */
    expect_compute_error(&e, &ck, ANVIL_STATUS_SHAPE_MISMATCH, "'bn.weight'", "2");
    e.axis = 0;
    /* a kind with the wrong number of sources, a negative eps */
    id.n_sources = 2;
    expect_compute_error(&id, &ck, ANVIL_STATUS_INVALID_ARGUMENT, NULL, NULL);
    e = fold_entry(ANVIL_MAP_CONV_BN_FOLD_WEIGHT, "conv.weight", -1);
    expect_compute_error(&e, &ck, ANVIL_STATUS_INVALID_ARGUMENT, "eps", NULL);
    tset_free(&ck);
}

int main(void) {
    check_identity_ties();
    check_own_name_tolerance();
    check_transposes();
    check_folds();
    check_gemm_deconv_folds();
    check_fold_values();
    check_compute_errors();
    return check_exit();
}
