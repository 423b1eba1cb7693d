/* Refit through a name map whose entries fold BatchNorm1d layers into Gemm weights, as an
 * exporter that fuses Linear + BatchNorm writes them: fc1 (transB = 1, with a bias) and fc2
 * (transB = 0: the initializer is the folded weight transposed, [in, out]; no Linear bias).
 * The model is built here (ONNX bytes through protobuf-c) from two state dicts folded the way
 * PyTorch folds; then compile(v1) + map + refit from state dict v2 must give the slot bytes and
 * outputs of compile(v2), and back again to v1. */
#include "check.h"
#include "onnx.pb-c.h"
#include "refit_helpers.h"

#include <stdio.h>

enum { IN = 32, HID = 48, OUT = 16, BATCH = 2 };

/* ---- state dicts ---------------------------------------------------------------------------- */

/* fc1.weight [HID, IN], fc1.bias, bn1.*, fc2.weight [OUT, HID], bn2.* */
enum { FC1_W, FC1_B, BN1_G, BN1_B, BN1_M, BN1_V, FC2_W, BN2_G, BN2_B, BN2_M, BN2_V, N_CK };
static const char *const CK_NAMES[N_CK] = {
    "fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
    "fc2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"};

typedef struct ckpt {
    anvil_tensor t[N_CK];
    float fc1_w[HID * IN], fc1_b[HID], bn1[4][HID], fc2_w[OUT * HID], bn2[4][OUT];
} ckpt;

static float rnd(unsigned *s) { /* in [-1, 1) */
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static void vec(anvil_tensor *t, const char *name, float *data, int64_t n) {
    *t = (anvil_tensor){name, ANVIL_DTYPE_F32, 1, {n}, data, (size_t)n * sizeof(float)};
}

static void make_ckpt(ckpt *c, unsigned seed) {
    float *fill[] = {c->fc1_w, c->fc1_b, c->fc2_w};
    size_t sizes[] = {HID * IN, HID, OUT * HID};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sizes[k]; i++) fill[k][i] = rnd(&seed);
    for (int k = 0; k < 4; k++) { /* gamma, beta, mean, var (> 0) */
        for (int i = 0; i < HID; i++) c->bn1[k][i] = k == 3 ? 0.2f + fabsf(rnd(&seed)) : rnd(&seed);
        for (int i = 0; i < OUT; i++) c->bn2[k][i] = k == 3 ? 0.2f + fabsf(rnd(&seed)) : rnd(&seed);
    }
    c->t[FC1_W] = (anvil_tensor){CK_NAMES[FC1_W], ANVIL_DTYPE_F32, 2, {HID, IN}, c->fc1_w,
                                 sizeof c->fc1_w};
    vec(&c->t[FC1_B], CK_NAMES[FC1_B], c->fc1_b, HID);
    c->t[FC2_W] = (anvil_tensor){CK_NAMES[FC2_W], ANVIL_DTYPE_F32, 2, {OUT, HID}, c->fc2_w,
                                 sizeof c->fc2_w};
    for (int k = 0; k < 4; k++) {
        vec(&c->t[BN1_G + k], CK_NAMES[BN1_G + k], c->bn1[k], HID);
        vec(&c->t[BN2_G + k], CK_NAMES[BN2_G + k], c->bn2[k], OUT);
    }
}

/* ---- the folded model ----------------------------------------------------------------------- */

/* PyTorch's fold in float, one operation per statement: s = gamma / sqrt(var + eps); weight rows
 * times s; bias = beta + (b - mean) * s. With transpose, w_out is [in, out]. */
static void fold(const float *w, const float *b, const float *const bn[4], int out, int in,
                 bool transpose, float *w_out, float *b_out) {
    for (int o = 0; o < out; o++) {
        float t = bn[3][o] + 1e-5f;
        float r = sqrtf(t);
        float s = bn[0][o] / r;
        for (int i = 0; i < in; i++) w_out[transpose ? i * out + o : o * in + i] = w[o * in + i] * s;
        float d = (b ? b[o] : 0.0f) - bn[2][o];
        float p = d * s;
        b_out[o] = bn[1][o] + p;
    }
}

static void init_proto(Onnx__TensorProto *t, const char *name, int rank, const int64_t *dims,
                       const float *data, size_t n) {
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)rank;
    t->dims = (int64_t *)dims;
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
}

typedef struct io_proto {
    Onnx__ValueInfoProto v;
    Onnx__TypeProto type;
    Onnx__TypeProto__Tensor tt;
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dims[2], *pdims[2];
} io_proto;

static Onnx__ValueInfoProto *io(io_proto *p, const char *name, int64_t d0, int64_t d1) {
    onnx__value_info_proto__init(&p->v);
    onnx__type_proto__init(&p->type);
    onnx__type_proto__tensor__init(&p->tt);
    onnx__tensor_shape_proto__init(&p->shape);
    int64_t d[2] = {d0, d1};
    for (int i = 0; i < 2; i++) {
        onnx__tensor_shape_proto__dimension__init(&p->dims[i]);
        p->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        p->dims[i].dim_value = d[i];
        p->pdims[i] = &p->dims[i];
    }
    p->shape.n_dim = 2, p->shape.dim = p->pdims;
    p->tt.has_elem_type = 1, p->tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    p->tt.shape = &p->shape;
    p->type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, p->type.tensor_type = &p->tt;
    p->v.name = (char *)name, p->v.type = &p->type;
    return &p->v;
}

static void gemm_node(Onnx__NodeProto *n, const char **in, const char **out,
                      Onnx__AttributeProto **trans) {
    onnx__node_proto__init(n);
    n->name = (char *)out[0], n->op_type = "Gemm";
    n->n_input = 3, n->input = (char **)in, n->n_output = 1, n->output = (char **)out;
    n->n_attribute = 1, n->attribute = trans;
}

/* x [BATCH, IN] -> Gemm(transB 1) -> Relu -> Gemm(transB 0) -> y [BATCH, OUT], with the
 * initializer names a fusing exporter gives. */
static anvil_model *folded_model(const ckpt *c) {
    static float w1[HID * IN], b1[HID], w2[HID * OUT], b2[OUT];
    const float *const bn1[4] = {c->bn1[0], c->bn1[1], c->bn1[2], c->bn1[3]};
    const float *const bn2[4] = {c->bn2[0], c->bn2[1], c->bn2[2], c->bn2[3]};
    fold(c->fc1_w, c->fc1_b, bn1, HID, IN, false, w1, b1);
    fold(c->fc2_w, NULL, bn2, OUT, HID, true, w2, b2);
    static const int64_t d_w1[] = {HID, IN}, d_b1[] = {HID}, d_w2[] = {HID, OUT}, d_b2[] = {OUT};
    Onnx__TensorProto inits[4], *pinits[4];
    init_proto(&inits[0], "onnx::Gemm_11", 2, d_w1, w1, HID * IN);
    init_proto(&inits[1], "onnx::Gemm_12", 1, d_b1, b1, HID);
    init_proto(&inits[2], "onnx::Gemm_13", 2, d_w2, w2, HID * OUT);
    init_proto(&inits[3], "onnx::Gemm_14", 1, d_b2, b2, OUT);
    for (int i = 0; i < 4; i++) pinits[i] = &inits[i];
    static const char *g1_in[] = {"x", "onnx::Gemm_11", "onnx::Gemm_12"}, *g1_out[] = {"h"};
    static const char *r_in[] = {"h"}, *r_out[] = {"r"};
    static const char *g2_in[] = {"r", "onnx::Gemm_13", "onnx::Gemm_14"}, *g2_out[] = {"y"};
    Onnx__AttributeProto t1 = ONNX__ATTRIBUTE_PROTO__INIT, t0 = ONNX__ATTRIBUTE_PROTO__INIT;
    t1.name = t0.name = "transB";
    t1.has_type = t0.has_type = 1;
    t1.type = t0.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    t1.has_i = t0.has_i = 1;
    t1.i = 1, t0.i = 0;
    Onnx__AttributeProto *a1[] = {&t1}, *a0[] = {&t0};
    Onnx__NodeProto nodes[3], *pnodes[3] = {&nodes[0], &nodes[1], &nodes[2]};
    gemm_node(&nodes[0], g1_in, g1_out, a1);
    onnx__node_proto__init(&nodes[1]);
    nodes[1].name = "relu", nodes[1].op_type = "Relu";
    nodes[1].n_input = 1, nodes[1].input = (char **)r_in;
    nodes[1].n_output = 1, nodes[1].output = (char **)r_out;
    gemm_node(&nodes[2], g2_in, g2_out, a0);
    io_proto in, out;
    Onnx__ValueInfoProto *pin[] = {io(&in, "x", BATCH, IN)}, *pout[] = {io(&out, "y", BATCH, OUT)};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "linear_bn_folded";
    graph.n_node = 3, graph.node = pnodes;
    graph.n_initializer = 4, graph.initializer = pinits;
    graph.n_input = 1, graph.input = pin, graph.n_output = 1, graph.output = pout;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[] = {&opset};
    opset.domain = "", opset.has_version = 1, opset.version = 17;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1, model.ir_version = 8;
    model.graph = &graph, model.n_opset_import = 1, model.opset_import = opsets;
    size_t size = onnx__model_proto__get_packed_size(&model);
    uint8_t *bytes = malloc(size);
    anvil_model *m = NULL;
    CHECK(bytes != NULL);
    if (bytes && onnx__model_proto__pack(&model, bytes) == size)
        CHECK_OK(anvil_model_load_memory(bytes, size, NULL, &m));
    free(bytes);
    return m;
}

/* ---- the test ------------------------------------------------------------------------------- */

static anvil_safetensors *write_ckpt(const ckpt *c, char *path) {
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_write(path, c->t, N_CK));
    CHECK_OK(anvil_safetensors_open(path, &st));
    unlink(path);
    return st;
}

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
    CHECK_EQ(r.sources_mapped, 4);
    CHECK_EQ(r.sources_changed, 4);
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

int main(void) {
    static ckpt c1, c2;
    make_ckpt(&c1, 1);
    make_ckpt(&c2, 2);
    char p1[] = "/tmp/anvil_gemm_v1_XXXXXX", p2[] = "/tmp/anvil_gemm_v2_XXXXXX";
    anvil_safetensors *st1 = write_ckpt(&c1, p1), *st2 = write_ckpt(&c2, p2);
    anvil_model *m1 = folded_model(&c1), *m2 = folded_model(&c2);
    float xs[BATCH * IN];
    unsigned seed = 9;
    for (int i = 0; i < BATCH * IN; i++) xs[i] = rnd(&seed);
    anvil_tensor x = {"x", ANVIL_DTYPE_F32, 2, {BATCH, IN}, xs, sizeof xs};
    anvil_name_map *map = NULL;
    if (m1 && st1) CHECK_OK(anvil_name_map_build(m1, st1, NULL, &map));
    anvil_engine *e = m1 ? compile(m1) : NULL;
    if (map && e && m2 && st2) {
        CHECK_EQ(anvil_name_map_count(map), 4);
        CHECK_EQ(anvil_name_map_unmatched_count(map), 0);
        anvil_map_entry w2;
        CHECK_OK(anvil_name_map_find(map, "onnx::Gemm_13", &w2));
        CHECK(w2.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && w2.rank == 2 && w2.perm[0] == 1);
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
    return check_exit();
}
