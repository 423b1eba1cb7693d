/* Refit through a name map whose entries fold BatchNorm layers into ConvTranspose and Gemm
 * weights, as an exporter's optimizer that fuses them writes them (Conv folds are tested on the
 * shared mobilenet_v2 in test_refit_map):
 *   x [1, 4, 5, 5] -> ConvTranspose (+ BatchNorm2d: output channels in dim 1 of the weight)
 *   -> Flatten -> Gemm transB = 1 (Linear + BatchNorm1d, with a Linear bias)
 *   -> Relu -> Gemm transB = 0 (the folded weight stored transposed, [in, out]; no bias) -> y.
 * The model is built here (ONNX bytes through protobuf-c) from two state dicts folded the way
 * PyTorch and onnxscript fold; then compile(v1) + map + refit from state dict v2 must give the
 * slot bytes and outputs of compile(v2), and back again to v1. */
#include "check.h"
#include "onnx_build.h"
#include "refit_helpers.h"

#include <stdio.h>

enum { CIN = 4, COUT = 6, K = 3, HW = 5, UP = HW + K - 1, FLAT = COUT * UP * UP, HID = 32,
       OUT = 16 };

/* ---- state dicts ---------------------------------------------------------------------------- */

typedef struct tdef {
    const char *name;
    int rank;
    int64_t dims[4];
    bool positive; /* a running variance */
} tdef;

enum { UP_W, UP_B, BN0, FC1_W = BN0 + 4, FC1_B, BN1, FC2_W = BN1 + 4, BN2, N_CK = BN2 + 4 };
static const tdef CK[N_CK] = {
    {"up.weight", 4, {CIN, COUT, K, K}, false}, {"up.bias", 1, {COUT}, false},
    {"bn0.weight", 1, {COUT}, false}, {"bn0.bias", 1, {COUT}, false},
    {"bn0.running_mean", 1, {COUT}, false}, {"bn0.running_var", 1, {COUT}, true},
    {"fc1.weight", 2, {HID, FLAT}, false}, {"fc1.bias", 1, {HID}, false},
    {"bn1.weight", 1, {HID}, false}, {"bn1.bias", 1, {HID}, false},
    {"bn1.running_mean", 1, {HID}, false}, {"bn1.running_var", 1, {HID}, true},
    {"fc2.weight", 2, {OUT, HID}, false},
    {"bn2.weight", 1, {OUT}, false}, {"bn2.bias", 1, {OUT}, false},
    {"bn2.running_mean", 1, {OUT}, false}, {"bn2.running_var", 1, {OUT}, true},
};

typedef struct ckpt {
    anvil_tensor t[N_CK];
} ckpt;

static float rnd(unsigned *s) { /* in [-1, 1) */
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static void make_ckpt(ckpt *c, unsigned seed) {
    for (int i = 0; i < N_CK; i++) {
        size_t n = (size_t)anvil_shape_numel(CK[i].rank, CK[i].dims);
        float *p = malloc(n * sizeof *p);
        CHECK(p != NULL);
        for (size_t k = 0; p && k < n; k++)
            p[k] = CK[i].positive ? 0.2f + fabsf(rnd(&seed)) : rnd(&seed);
        c->t[i] = (anvil_tensor){CK[i].name, ANVIL_DTYPE_F32, CK[i].rank, {0}, p, n * sizeof *p};
        memcpy(c->t[i].dims, CK[i].dims, sizeof CK[i].dims);
    }
}

static void free_ckpt(ckpt *c) {
    for (int i = 0; i < N_CK; i++) free(c->t[i].data);
}

static const float *f(const ckpt *c, int i) { return c->t[i].data; }

/* ---- the folded model ----------------------------------------------------------------------- */

/* The fold in float, one operation per statement: s = gamma / sqrt(var + eps); bias = beta +
 * (b - mean) * s. */
static float bn_scale(const ckpt *c, int bn, int ch) {
    float t = f(c, bn + 3)[ch] + 1e-5f;
    float r = sqrtf(t);
    return f(c, bn)[ch] / r;
}

static float bn_bias(const ckpt *c, int bn, int ch, float b) {
    float d = b - f(c, bn + 2)[ch];
    float p = d * bn_scale(c, bn, ch);
    return f(c, bn + 1)[ch] + p;
}

/* The six initializers of the exported model. */
typedef struct folded {
    float up_w[CIN * COUT * K * K], up_b[COUT], w1[HID * FLAT], b1[HID], w2[HID * OUT], b2[OUT];
} folded;

static void fold_all(const ckpt *c, folded *m) {
    for (int i = 0; i < CIN; i++) /* ConvTranspose weight [in, out, k, k]: channels in dim 1 */
        for (int o = 0; o < COUT; o++)
            for (int k = 0; k < K * K; k++) {
                size_t at = ((size_t)i * COUT + o) * K * K + k;
                m->up_w[at] = f(c, UP_W)[at] * bn_scale(c, BN0, o);
            }
    for (int o = 0; o < COUT; o++) m->up_b[o] = bn_bias(c, BN0, o, f(c, UP_B)[o]);
    for (int o = 0; o < HID; o++) { /* Gemm transB = 1: [out, in] as the Linear */
        for (int i = 0; i < FLAT; i++)
            m->w1[o * FLAT + i] = f(c, FC1_W)[o * FLAT + i] * bn_scale(c, BN1, o);
        m->b1[o] = bn_bias(c, BN1, o, f(c, FC1_B)[o]);
    }
    for (int o = 0; o < OUT; o++) { /* Gemm transB = 0: [in, out], no Linear bias */
        for (int i = 0; i < HID; i++)
            m->w2[i * OUT + o] = f(c, FC2_W)[o * HID + i] * bn_scale(c, BN2, o);
        m->b2[o] = bn_bias(c, BN2, o, 0.0f);
    }
}

/* The model with the initializer names a fusing exporter gives. */
static anvil_model *folded_model(const ckpt *c) {
    static folded m;
    fold_all(c, &m);
    static const int64_t d_up[] = {CIN, COUT, K, K}, d_up_b[] = {COUT}, d_w1[] = {HID, FLAT},
                         d_b1[] = {HID}, d_w2[] = {HID, OUT}, d_b2[] = {OUT};
    Onnx__TensorProto inits[6], *pinits[6];
    onnx_init_f32(&inits[0], "onnx::ConvTranspose_7", 4, d_up, m.up_w, CIN * COUT * K * K);
    onnx_init_f32(&inits[1], "onnx::ConvTranspose_8", 1, d_up_b, m.up_b, COUT);
    onnx_init_f32(&inits[2], "onnx::Gemm_11", 2, d_w1, m.w1, HID * FLAT);
    onnx_init_f32(&inits[3], "onnx::Gemm_12", 1, d_b1, m.b1, HID);
    onnx_init_f32(&inits[4], "onnx::Gemm_13", 2, d_w2, m.w2, HID * OUT);
    onnx_init_f32(&inits[5], "onnx::Gemm_14", 1, d_b2, m.b2, OUT);
    for (int i = 0; i < 6; i++) pinits[i] = &inits[i];
    static const char *up_in[] = {"x", "onnx::ConvTranspose_7", "onnx::ConvTranspose_8"},
                      *up_out[] = {"u"}, *fl_in[] = {"u"}, *fl_out[] = {"f"};
    static const char *g1_in[] = {"f", "onnx::Gemm_11", "onnx::Gemm_12"}, *g1_out[] = {"h"};
    static const char *r_in[] = {"h"}, *r_out[] = {"r"};
    static const char *g2_in[] = {"r", "onnx::Gemm_13", "onnx::Gemm_14"}, *g2_out[] = {"y"};
    Onnx__AttributeProto t1 = ONNX__ATTRIBUTE_PROTO__INIT, t0 = ONNX__ATTRIBUTE_PROTO__INIT;
    t1.name = t0.name = "transB";
    t1.has_type = t0.has_type = 1;
    t1.type = t0.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    t1.has_i = t0.has_i = 1;
    t1.i = 1, t0.i = 0;
    Onnx__AttributeProto *a1[] = {&t1}, *a0[] = {&t0};
    Onnx__NodeProto nodes[5], *pnodes[5];
    onnx_node(&nodes[0], "ConvTranspose", 3, up_in, up_out, 0, NULL);
    onnx_node(&nodes[1], "Flatten", 1, fl_in, fl_out, 0, NULL);
    onnx_node(&nodes[2], "Gemm", 3, g1_in, g1_out, 1, a1);
    onnx_node(&nodes[3], "Relu", 1, r_in, r_out, 0, NULL);
    onnx_node(&nodes[4], "Gemm", 3, g2_in, g2_out, 1, a0);
    for (int i = 0; i < 5; i++) pnodes[i] = &nodes[i];
    static const int64_t d_x[] = {1, CIN, HW, HW}, d_y[] = {1, OUT};
    onnx_io in, out;
    Onnx__ValueInfoProto *pin[] = {onnx_io_f32(&in, "x", 4, d_x)},
                         *pout[] = {onnx_io_f32(&out, "y", 2, d_y)};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "bn_folded";
    graph.n_node = 5, graph.node = pnodes;
    graph.n_initializer = 6, graph.initializer = pinits;
    graph.n_input = 1, graph.input = pin, graph.n_output = 1, graph.output = pout;
    anvil_model *mo = NULL;
    CHECK_OK(onnx_load_graph(&graph, 17, &mo));
    return mo;
}

/* ---- the test ------------------------------------------------------------------------------- */

static anvil_safetensors *write_ckpt(const ckpt *c) { return written_checkpoint(c->t, N_CK); }

static anvil_tensor_list *run_x(const anvil_engine *e, const anvil_tensor *x) {
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    if (c) CHECK_OK(anvil_engine_run(c, x, 1, &out));
    anvil_context_destroy(c);
    return out;
}

/* e refitted from st must hold what compile(m) holds, and compute the same outputs. */
static void check_refit_to(anvil_engine *e, const anvil_safetensors *st, const anvil_model *m,
                           const anvil_tensor *x) {
    anvil_refit_source src = {ANVIL_REFIT_FROM_SAFETENSORS, NULL, st, NULL, 0};
    anvil_refit_report r = refit_in_place(e, &src);
    CHECK_EQ(r.sources_mapped, 6);
    CHECK_EQ(r.sources_changed, 6);
    anvil_engine *want = compile(m);
    if (!want) return;
    check_same_slots(e, want);
    anvil_tensor_list *a = run_x(e, x), *b = run_x(want, x);
    CHECK(a && b);
    CHECK(same_outputs(a, b));
    anvil_tensor_list_destroy(a);
    anvil_tensor_list_destroy(b);
    anvil_engine_destroy(want);
}

static void check_entries(const anvil_name_map *map) {
    CHECK_EQ(anvil_name_map_count(map), 6);
    CHECK_EQ(anvil_name_map_unmatched_count(map), 0);
    anvil_map_entry e;
    CHECK_OK(anvil_name_map_find(map, "onnx::ConvTranspose_7", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.axis == 1 && e.rank == 0);
    CHECK_OK(anvil_name_map_find(map, "onnx::ConvTranspose_8", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && strcmp(e.sources[0], "up.bias") == 0);
    CHECK_OK(anvil_name_map_find(map, "onnx::Gemm_11", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.axis == 0 && e.rank == 0);
    CHECK_OK(anvil_name_map_find(map, "onnx::Gemm_13", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.rank == 2 && e.perm[0] == 1);
    CHECK_OK(anvil_name_map_find(map, "onnx::Gemm_14", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && e.sources[0][0] == '\0');
}

int main(void) {
    static ckpt c1, c2;
    make_ckpt(&c1, 1);
    make_ckpt(&c2, 2);
    anvil_safetensors *st1 = write_ckpt(&c1), *st2 = write_ckpt(&c2);
    anvil_model *m1 = folded_model(&c1), *m2 = folded_model(&c2);
    float xs[CIN * HW * HW];
    unsigned seed = 9;
    for (int i = 0; i < CIN * HW * HW; i++) xs[i] = rnd(&seed);
    anvil_tensor x = {"x", ANVIL_DTYPE_F32, 4, {1, CIN, HW, HW}, xs, sizeof xs};
    anvil_name_map *map = NULL;
    if (m1 && st1) CHECK_OK(anvil_name_map_build(m1, st1, NULL, &map));
    anvil_engine *e = m1 ? compile(m1) : NULL;
    if (map && e && m2 && st2) {
        check_entries(map);
        CHECK_OK(anvil_engine_set_name_map(e, map));
        check_refit_to(e, st2, m2, &x);
        check_refit_to(e, st1, m1, &x);
    }
    anvil_engine_destroy(e);
    anvil_name_map_destroy(map);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
    anvil_safetensors_close(st1);
    anvil_safetensors_close(st2);
    free_ckpt(&c1);
    free_ckpt(&c2);
    return check_exit();
}
