/*
 * test_ops_norm.c — unit tests for the normalization, softmax, reduction and recurrent op
 * families (norm.c, softmax.c, reduce.c, rnn.c). Each test builds one node by hand, runs
 * validate → infer → run, and compares with values derived by hand from the ONNX equations.
 */
#include "ops/op.h"

#include "check.h"

#include <math.h>
#include <stdlib.h>

/* ---- a tiny single-node harness ---- */

enum { MAX_IO = 8 };

typedef struct op_case {
    anvil__graph *g;
    int32_t node;
    int64_t opset;
    int32_t n_in, n_out;
    anvil__tensor in[MAX_IO], out[MAX_IO];
    anvil__tensor *in_ptrs[MAX_IO], *out_ptrs[MAX_IO];
} op_case;

/* Inputs/outputs named in `omit_in`/`omit_out` bit masks are omitted (""). */
static void oc_init(op_case *c, const char *op, int64_t opset, int32_t n_in, int32_t n_out,
                    unsigned omit_in, unsigned omit_out) {
    memset(c, 0, sizeof *c);
    c->g = anvil__graph_new(NULL);
    c->opset = opset;
    c->n_in = n_in;
    c->n_out = n_out;
    int32_t ins[MAX_IO], outs[MAX_IO];
    char name[16];
    for (int32_t i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in%d", (int)i);
        ins[i] = -1;
        if (!(omit_in & (1u << i))) CHECK_OK(anvil__graph_add_value(c->g, name, &ins[i]));
        c->in_ptrs[i] = ins[i] >= 0 ? &c->in[i] : NULL;
    }
    for (int32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "out%d", (int)i);
        outs[i] = -1;
        if (!(omit_out & (1u << i))) CHECK_OK(anvil__graph_add_value(c->g, name, &outs[i]));
        c->out_ptrs[i] = outs[i] >= 0 ? &c->out[i] : NULL;
    }
    CHECK_OK(anvil__graph_add_node(c->g, "n", op, "", ins, n_in, outs, n_out, &c->node));
    c->g->nodes[c->node].op = anvil__op_find(op, "");
    CHECK(c->g->nodes[c->node].op >= 0);
}

static void oc_input(op_case *c, int32_t i, anvil_dtype dt, int32_t rank, const int64_t *dims,
                     const void *data) {
    anvil__tensor *t = &c->in[i];
    t->dtype = dt;
    t->rank = rank;
    for (int32_t d = 0; d < rank; d++)
        t->dims[d] = dims[d];
    t->data = (void *)data;
    t->bytes = (size_t)anvil_shape_numel(rank, dims) * anvil_dtype_size(dt);
}

static anvil__attr *oc_attr(op_case *c, const char *name, anvil__attr_kind kind) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(c->g, c->node, name, &a));
    a->kind = kind;
    return a;
}

static void oc_int(op_case *c, const char *name, int64_t v) {
    oc_attr(c, name, ANVIL_ATTR_INT)->i = v;
}
static void oc_float(op_case *c, const char *name, double v) {
    oc_attr(c, name, ANVIL_ATTR_FLOAT)->f = v;
}
static void oc_string(op_case *c, const char *name, const char *v) {
    anvil__attr *a = oc_attr(c, name, ANVIL_ATTR_STRING);
    a->s = anvil__strdup(v);
    a->s_len = strlen(v);
}
static void oc_ints(op_case *c, const char *name, const int64_t *v, size_t n) {
    anvil__attr *a = oc_attr(c, name, ANVIL_ATTR_INTS);
    a->ints = anvil__malloc_array(n ? n : 1, sizeof *a->ints);
    if (n) memcpy(a->ints, v, n * sizeof *v);
    a->n = n;
}
static void oc_floats(op_case *c, const char *name, const float *v, size_t n) {
    anvil__attr *a = oc_attr(c, name, ANVIL_ATTR_FLOATS);
    a->floats = anvil__malloc_array(n ? n : 1, sizeof *a->floats);
    if (n) memcpy(a->floats, v, n * sizeof *v);
    a->n = n;
}
static void oc_strings(op_case *c, const char *name, const char *const *v, size_t n) {
    anvil__attr *a = oc_attr(c, name, ANVIL_ATTR_STRINGS);
    a->strings = anvil__malloc_array(n, sizeof *a->strings);
    for (size_t i = 0; i < n; i++)
        a->strings[i] = anvil__strdup(v[i]);
    a->n = n;
}

static anvil__op_ctx oc_ctx(op_case *c) {
    anvil__op_ctx ctx = {&c->g->nodes[c->node], c->opset, c->n_in, c->in_ptrs, c->n_out,
                         c->out_ptrs,           NULL,     NULL};
    return ctx;
}

/* validate → infer → allocate → run, like the interpreter. */
static anvil_status oc_run(op_case *c) {
    const anvil__node *n = &c->g->nodes[c->node];
    const anvil__op_def *def = anvil__op_get(n->op);
    anvil_status s = anvil__op_validate_node(n, c->opset);
    if (s != ANVIL_OK) return s;
    anvil__op_ctx ctx = oc_ctx(c);
    if ((s = def->infer(&ctx)) != ANVIL_OK) return s;
    for (int32_t o = 0; o < c->n_out; o++)
        if (c->out_ptrs[o] && (s = anvil__tensor_alloc(&c->out[o])) != ANVIL_OK) return s;
    return def->run(&ctx);
}

static anvil_status oc_infer(op_case *c) {
    const anvil__node *n = &c->g->nodes[c->node];
    anvil_status s = anvil__op_validate_node(n, c->opset);
    if (s != ANVIL_OK) return s;
    anvil__op_ctx ctx = oc_ctx(c);
    return anvil__op_get(n->op)->infer(&ctx);
}

static void oc_free(op_case *c) {
    for (int32_t o = 0; o < c->n_out; o++)
        anvil__free(c->out[o].data);
    anvil__graph_destroy(c->g);
}

static float outf(const op_case *c, int32_t o, size_t i) {
    return ((const float *)c->out[o].data)[i];
}

static void check_shape(const anvil__tensor *t, int32_t rank, const int64_t *dims) {
    CHECK_EQ(t->rank, rank);
    for (int32_t d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], dims[d]);
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- Softmax ---- */

static void test_softmax(void) {
    op_case c;
    float x[6] = {1, 2, 3, -1, 0, 5};
    int64_t d23[2] = {2, 3};
    /* opset 13, default axis -1: each row of 3. */
    oc_init(&c, "Softmax", 13, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d23, x);
    CHECK_OK(oc_run(&c));
    for (int r = 0; r < 2; r++) {
        double s = exp(x[3 * r]) + exp(x[3 * r + 1]) + exp(x[3 * r + 2]);
        for (int k = 0; k < 3; k++)
            CHECK_NEAR(outf(&c, 0, 3 * r + k), exp(x[3 * r + k]) / s, 1e-6);
    }
    oc_free(&c);

    /* opset 13 axis 0: each column of 2. */
    oc_init(&c, "LogSoftmax", 13, 1, 1, 0, 0);
    oc_int(&c, "axis", 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d23, x);
    CHECK_OK(oc_run(&c));
    for (int k = 0; k < 3; k++) {
        double s = log(exp(x[k]) + exp(x[3 + k]));
        CHECK_NEAR(outf(&c, 0, k), x[k] - s, 1e-5);
        CHECK_NEAR(outf(&c, 0, 3 + k), x[3 + k] - s, 1e-5);
    }
    oc_free(&c);

    /* opset 11, default axis 1 on 3-D: normalizes over the flattened trailing 2×... block. */
    float x3[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t d222[3] = {2, 2, 2};
    oc_init(&c, "Softmax", 11, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, d222, x3);
    CHECK_OK(oc_run(&c));
    for (int b = 0; b < 2; b++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            s += exp(x3[4 * b + k]);
        for (int k = 0; k < 4; k++)
            CHECK_NEAR(outf(&c, 0, 4 * b + k), exp(x3[4 * b + k]) / s, 1e-6);
    }
    oc_free(&c);

    /* Large values do not overflow; bad axis fails. */
    float big[3] = {10000, 10001, 10002};
    int64_t d3[1] = {3};
    oc_init(&c, "Softmax", 13, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 1, d3, big);
    CHECK_OK(oc_run(&c));
    double s = 1 + exp(1) + exp(2);
    CHECK_NEAR(outf(&c, 0, 2), exp(2) / s, 1e-6);
    oc_free(&c);
    oc_init(&c, "Softmax", 13, 1, 1, 0, 0);
    oc_int(&c, "axis", 1);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 1, d3, big);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "axis 1");
    oc_free(&c);
}

/* ---- Reductions ---- */

static void test_reduce_basic(void) {
    op_case c;
    int32_t xi[6] = {1, 2, 3, 4, 5, 6};
    int64_t d23[2] = {2, 3}, ax1[1] = {1}, d1[1] = {1};
    /* ReduceSum opset 13, axes input, keepdims 0, i32 exact. */
    oc_init(&c, "ReduceSum", 13, 2, 1, 0, 0);
    oc_int(&c, "keepdims", 0);
    oc_input(&c, 0, ANVIL_DTYPE_I32, 2, d23, xi);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, ax1);
    CHECK_OK(oc_run(&c));
    int64_t e2[1] = {2};
    check_shape(&c.out[0], 1, e2);
    CHECK_EQ(c.out[0].dtype, ANVIL_DTYPE_I32);
    CHECK_EQ(((int32_t *)c.out[0].data)[0], 6);
    CHECK_EQ(((int32_t *)c.out[0].data)[1], 15);
    oc_free(&c);

    /* i64 sums stay exact beyond 2^53. */
    int64_t xl[2] = {(int64_t)1 << 60, 1};
    int64_t d2[1] = {2};
    oc_init(&c, "ReduceSum", 13, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_I64, 1, d2, xl);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(c.out[0].rank, 1);
    CHECK(((int64_t *)c.out[0].data)[0] == ((int64_t)1 << 60) + 1);
    oc_free(&c);

    /* ReduceMean opset 11 (axes attribute), keepdims default 1, negative axis. */
    float xf[6] = {1, 2, 3, 4, 5, 6};
    int64_t axm[1] = {-2};
    oc_init(&c, "ReduceMean", 11, 1, 1, 0, 0);
    oc_ints(&c, "axes", axm, 1);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d23, xf);
    CHECK_OK(oc_run(&c));
    int64_t e13[2] = {1, 3};
    check_shape(&c.out[0], 2, e13);
    CHECK_NEAR(outf(&c, 0, 0), 2.5, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), 4.5, 1e-6);
    oc_free(&c);

    /* ReduceL2 and ReduceSumSquare over everything (no axes) in f64. */
    double xd[4] = {3, 4, 0, 0};
    int64_t d4[1] = {4};
    oc_init(&c, "ReduceL2", 18, 1, 1, 0, 0);
    oc_int(&c, "keepdims", 0);
    oc_input(&c, 0, ANVIL_DTYPE_F64, 1, d4, xd);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(c.out[0].rank, 0);
    CHECK_NEAR(((double *)c.out[0].data)[0], 5.0, 1e-12);
    oc_free(&c);

    /* noop_with_empty_axes: no reduction, but SumSquare still squares each element. */
    oc_init(&c, "ReduceSumSquare", 18, 1, 1, 0, 0);
    oc_int(&c, "noop_with_empty_axes", 1);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d23, xf);
    CHECK_OK(oc_run(&c));
    check_shape(&c.out[0], 2, d23);
    CHECK_NEAR(outf(&c, 0, 4), 25.0, 1e-6);
    oc_free(&c);

    /* ReduceMean on integers divides exactly; ReduceProd on i8 wraps like the dtype. */
    int8_t x8[3] = {7, 8, -3};
    int64_t d3[1] = {3};
    oc_init(&c, "ReduceMean", 18, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_I8, 1, d3, x8);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(((int8_t *)c.out[0].data)[0], 4); /* 12 / 3 */
    oc_free(&c);
    oc_init(&c, "ReduceProd", 18, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_I8, 1, d3, x8);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(((int8_t *)c.out[0].data)[0], 88); /* -168 wraps to 88 in 8 bits */
    oc_free(&c);

    /* u64 max compares unsigned. */
    uint64_t xu[3] = {3, ((uint64_t)1 << 63) + 5, 7};
    oc_init(&c, "ReduceMax", 18, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_U64, 1, d3, xu);
    CHECK_OK(oc_run(&c));
    CHECK(((uint64_t *)c.out[0].data)[0] == ((uint64_t)1 << 63) + 5);
    oc_free(&c);

    /* bool ReduceMin = all, ReduceMax = any. */
    uint8_t xb[4] = {1, 0, 1, 1};
    int64_t d22[2] = {2, 2};
    oc_init(&c, "ReduceMin", 20, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_BOOL, 2, d22, xb);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, ax1);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(((uint8_t *)c.out[0].data)[0], 0);
    CHECK_EQ(((uint8_t *)c.out[0].data)[1], 1);
    oc_free(&c);
}

static void test_reduce_empty_and_errors(void) {
    op_case c;
    int64_t d20[2] = {2, 0}, ax1[1] = {1}, d1[1] = {1};
    float dummy = 0;
    static const char *ops[] = {"ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL2"};
    double want[] = {0, 1, -INFINITY, INFINITY, 0};
    for (int k = 0; k < 5; k++) {
        oc_init(&c, ops[k], 18, 2, 1, 0, 0);
        oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d20, &dummy);
        oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, ax1);
        CHECK_OK(oc_run(&c));
        int64_t e21[2] = {2, 1};
        check_shape(&c.out[0], 2, e21);
        CHECK(outf(&c, 0, 0) == (float)want[k] && outf(&c, 0, 1) == (float)want[k]);
        oc_free(&c);
    }
    /* Integer empty max: the dtype's minimum. */
    int32_t di = 0;
    oc_init(&c, "ReduceMax", 18, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_I32, 2, d20, &di);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, ax1);
    CHECK_OK(oc_run(&c));
    CHECK_EQ(((int32_t *)c.out[0].data)[0], INT32_MIN);
    oc_free(&c);

    /* Errors: repeated axis, axis out of range, axes attribute at opset 18, bool sum. */
    float x[4] = {1, 2, 3, 4};
    int64_t d22[2] = {2, 2}, rep[2] = {0, -2}, d2[1] = {2}, big[1] = {2};
    oc_init(&c, "ReduceSum", 13, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d22, x);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d2, rep);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "repeated");
    oc_free(&c);
    oc_init(&c, "ReduceMax", 18, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d22, x);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, big);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_OUT_OF_RANGE);
    oc_free(&c);
    oc_init(&c, "ReduceMax", 18, 1, 1, 0, 0);
    oc_ints(&c, "axes", ax1, 1);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d22, x);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "axes");
    oc_free(&c);
    uint8_t xb[4] = {1, 1, 0, 1};
    oc_init(&c, "ReduceSum", 13, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_BOOL, 2, d22, xb);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_UNSUPPORTED);
    oc_free(&c);

    /* Static inference with unknown axes: keepdims keeps the rank, dims unknown. */
    int64_t dq[3] = {4, 1, -1};
    oc_init(&c, "ReduceMean", 18, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dq, NULL);
    oc_input(&c, 1, ANVIL_DTYPE_I64, 1, d1, NULL);
    c.in[1].data = NULL;
    CHECK_OK(oc_infer(&c));
    CHECK_EQ(c.out[0].rank, 3);
    CHECK_EQ(c.out[0].dims[0], -1);
    CHECK_EQ(c.out[0].dims[1], 1);
    oc_free(&c);
}

/* ---- BatchNormalization ---- */

static void test_batchnorm(void) {
    op_case c;
    /* X: N=2, C=2, spatial 2. */
    float x[8] = {1, 3, 10, 20, 5, 7, 30, 40};
    float scale[2] = {2, 0.5f}, bias[2] = {1, -1}, mean[2] = {4, 25}, var[2] = {4, 100};
    int64_t dx[3] = {2, 2, 2}, dc[1] = {2};
    oc_init(&c, "BatchNormalization", 15, 5, 1, 0, 0);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, dc, scale);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, dc, bias);
    oc_input(&c, 3, ANVIL_DTYPE_F32, 1, dc, mean);
    oc_input(&c, 4, ANVIL_DTYPE_F32, 1, dc, var);
    CHECK_OK(oc_run(&c));
    /* channel 0: (x - 4) / 2 * 2 + 1; channel 1: (x - 25) / 10 * 0.5 - 1 */
    CHECK_NEAR(outf(&c, 0, 0), -2.0, 1e-6);
    CHECK_NEAR(outf(&c, 0, 1), 0.0, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), -1.75, 1e-6);
    CHECK_NEAR(outf(&c, 0, 7), -0.25, 1e-6);
    CHECK_NEAR(outf(&c, 0, 4), 2.0, 1e-6);
    oc_free(&c);

    /* Training mode: batch statistics. Channel 0 values {1,3,5,7}: mean 4, var 5.
     * Channel 1 {10,20,30,40}: mean 25, var 125. */
    float rmean[2] = {0, 10}, rvar[2] = {1, 1};
    oc_init(&c, "BatchNormalization", 15, 5, 3, 0, 0);
    oc_float(&c, "epsilon", 0.0);
    oc_float(&c, "momentum", 0.5);
    oc_int(&c, "training_mode", 1);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, dc, scale);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, dc, bias);
    oc_input(&c, 3, ANVIL_DTYPE_F32, 1, dc, rmean);
    oc_input(&c, 4, ANVIL_DTYPE_F32, 1, dc, rvar);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), (1 - 4) / sqrt(5.0) * 2 + 1, 1e-5);
    CHECK_NEAR(outf(&c, 0, 3), (20 - 25) / sqrt(125.0) * 0.5 - 1, 1e-5);
    CHECK_NEAR(outf(&c, 1, 0), 0 * 0.5 + 4 * 0.5, 1e-6);
    CHECK_NEAR(outf(&c, 1, 1), 10 * 0.5 + 25 * 0.5, 1e-6);
    CHECK_NEAR(outf(&c, 2, 0), 1 * 0.5 + 5 * 0.5, 1e-6);
    CHECK_NEAR(outf(&c, 2, 1), 1 * 0.5 + 125 * 0.5, 1e-5);
    oc_free(&c);

    /* Wrong parameter size. */
    int64_t d3[1] = {3};
    float p3[3] = {1, 1, 1};
    oc_init(&c, "BatchNormalization", 15, 5, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, d3, p3);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, dc, bias);
    oc_input(&c, 3, ANVIL_DTYPE_F32, 1, dc, mean);
    oc_input(&c, 4, ANVIL_DTYPE_F32, 1, dc, var);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "scale");
    oc_free(&c);
}

/* ---- Instance, Group, Layer, Lp ---- */

static void test_instance_group_norm(void) {
    op_case c;
    /* N=1, C=2, spatial 2: channel 0 {1, 3} → ±1; channel 1 {2, 6} → ±1. */
    float x[4] = {1, 3, 2, 6}, scale[2] = {2, 3}, bias[2] = {0, 1};
    int64_t dx[3] = {1, 2, 2}, dc[1] = {2};
    oc_init(&c, "InstanceNormalization", 22, 3, 1, 0, 0);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, dc, scale);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, dc, bias);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), -2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 1), 2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), -2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 3), 4, 1e-6);
    oc_free(&c);

    /* GroupNorm: N=1, C=4, spatial 1, 2 groups: {1,3} and {2,6} normalize to ±1 each. */
    float xg[4] = {1, 3, 2, 6};
    int64_t dg[3] = {1, 4, 1}, d4[1] = {4};
    float s4[4] = {1, 2, 3, 4}, b4[4] = {0, 0, 0, 10};
    oc_init(&c, "GroupNormalization", 21, 3, 1, 0, 0);
    oc_int(&c, "num_groups", 2);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dg, xg);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, d4, s4);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, d4, b4);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), -1, 1e-6);
    CHECK_NEAR(outf(&c, 0, 1), 2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), -3, 1e-6);
    CHECK_NEAR(outf(&c, 0, 3), 14, 1e-6);
    oc_free(&c);
    /* Opset 18: one scale/bias per group. */
    float s2[2] = {2, 3}, b2[2] = {0, 1};
    oc_init(&c, "GroupNormalization", 18, 3, 1, 0, 0);
    oc_int(&c, "num_groups", 2);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dg, xg);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, dc, s2);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, dc, b2);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 1), 2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), -2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 3), 4, 1e-6);
    oc_free(&c);
    /* Channels not divisible by groups. */
    oc_init(&c, "GroupNormalization", 21, 3, 1, 0, 0);
    oc_int(&c, "num_groups", 3);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dg, xg);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, d4, s4);
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, d4, b4);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    oc_free(&c);
}

static void test_layernorm(void) {
    op_case c;
    /* X [2, 2, 2], axis 1: each block of 4 normalized. Block 0 {1,2,3,4}: mean 2.5, var 1.25. */
    float x[8] = {1, 2, 3, 4, 10, 10, 10, 10};
    float scale[2] = {1, 2}, bias[2] = {0, 1};
    int64_t dx[3] = {2, 2, 2}, ds[1] = {2};
    oc_init(&c, "LayerNormalization", 17, 3, 3, 0, 0);
    oc_int(&c, "axis", 1);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, ds, scale); /* broadcasts over the last dim */
    oc_input(&c, 2, ANVIL_DTYPE_F32, 1, ds, bias);
    CHECK_OK(oc_run(&c));
    double inv = 1 / sqrt(1.25);
    CHECK_NEAR(outf(&c, 0, 0), (1 - 2.5) * inv * 1 + 0, 1e-5);
    CHECK_NEAR(outf(&c, 0, 1), (2 - 2.5) * inv * 2 + 1, 1e-5);
    CHECK_NEAR(outf(&c, 0, 3), (4 - 2.5) * inv * 2 + 1, 1e-5);
    int64_t dm[3] = {2, 1, 1};
    check_shape(&c.out[1], 3, dm);
    check_shape(&c.out[2], 3, dm);
    CHECK_EQ(c.out[1].dtype, ANVIL_DTYPE_F32);
    CHECK_NEAR(outf(&c, 1, 0), 2.5, 1e-6);
    CHECK_NEAR(outf(&c, 1, 1), 10, 1e-6);
    CHECK_NEAR(outf(&c, 2, 0), inv, 1e-5);
    oc_free(&c);

    /* Scale broadcasts against X like the op's function body (Mul): a [2, 2] scale varies
     * over dims 1 and 2 even with axis -1. A [3] scale does not broadcast. */
    float s2x2[4] = {1, 2, 3, 4}, s3[3] = {1, 1, 1};
    int64_t d22[2] = {2, 2}, d3[1] = {3};
    oc_init(&c, "LayerNormalization", 17, 2, 1, 0, 0);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 2, d22, s2x2);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), -1, 1e-6); /* {1,2} → {-1, 1} */
    CHECK_NEAR(outf(&c, 0, 1), 2, 1e-6);
    CHECK_NEAR(outf(&c, 0, 2), -3, 1e-6); /* {3,4} → {-1, 1} */
    CHECK_NEAR(outf(&c, 0, 3), 4, 1e-6);
    oc_free(&c);
    oc_init(&c, "LayerNormalization", 17, 2, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, d3, s3);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "Scale");
    oc_free(&c);
    /* Default axis -1, no bias, omitted Mean output. */
    oc_init(&c, "LayerNormalization", 17, 2, 3, 0, 2);
    oc_float(&c, "epsilon", 0.0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 3, dx, x);
    oc_input(&c, 1, ANVIL_DTYPE_F32, 1, ds, scale);
    CHECK_OK(oc_run(&c));
    CHECK(c.out_ptrs[1] == NULL);
    CHECK_NEAR(outf(&c, 0, 0), -1, 1e-6); /* {1,2}: mean 1.5, std 0.5 */
    CHECK_NEAR(outf(&c, 0, 1), 2, 1e-6);
    CHECK_NEAR(outf(&c, 2, 0), 2, 1e-5);
    oc_free(&c);
}

static void test_lpnorm(void) {
    op_case c;
    float x[6] = {3, -4, 0, 0, 1, 1};
    int64_t d32[2] = {3, 2};
    oc_init(&c, "LpNormalization", 22, 1, 1, 0, 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d32, x);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), 0.6, 1e-6);
    CHECK_NEAR(outf(&c, 0, 1), -0.8, 1e-6);
    CHECK(outf(&c, 0, 2) == 0 && outf(&c, 0, 3) == 0); /* zero vector stays zero */
    CHECK_NEAR(outf(&c, 0, 4), 1 / sqrt(2.0), 1e-6);
    oc_free(&c);
    oc_init(&c, "LpNormalization", 22, 1, 1, 0, 0);
    oc_int(&c, "p", 1);
    oc_int(&c, "axis", 0);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d32, x);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 0, 0), 0.75, 1e-6); /* 3 / (3+0+1) */
    CHECK_NEAR(outf(&c, 0, 1), -0.8, 1e-6); /* -4 / (4+0+1) */
    oc_free(&c);
    oc_init(&c, "LpNormalization", 22, 1, 1, 0, 0);
    oc_int(&c, "p", 3);
    oc_input(&c, 0, ANVIL_DTYPE_F32, 2, d32, x);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_OUT_OF_RANGE);
    oc_free(&c);
}

/* ---- GRU / LSTM ---- */

/* Sets up a GRU/LSTM with I = 1 and H = 1; arrays are owned by the caller. */
static void rnn_inputs(op_case *c, const float *x, int64_t seq, int64_t batch, int64_t nd,
                       int64_t gates, const float *w, const float *r, const float *b,
                       int64_t layout) {
    int64_t dx[3] = {seq, batch, 1}, dxl[3] = {batch, seq, 1};
    int64_t dw[3] = {nd, gates, 1}, db[2] = {nd, 2 * gates};
    oc_input(c, 0, ANVIL_DTYPE_F32, 3, layout ? dxl : dx, x);
    oc_input(c, 1, ANVIL_DTYPE_F32, 3, dw, w);
    oc_input(c, 2, ANVIL_DTYPE_F32, 3, dw, r);
    if (b) oc_input(c, 3, ANVIL_DTYPE_F32, 2, db, b);
}

static void test_gru(void) {
    op_case c;
    float zero3[3] = {0, 0, 0}, x1[1] = {0.7f}, h0[1] = {1};
    int64_t dh[3] = {1, 1, 1};
    /* Zero weights, initial_h 1: z = r = 0.5, h~ = tanh(Wbh = 1), H = 0.5 h~ + 0.5. */
    float b[6] = {0, 0, 1, 0, 0, 0};
    oc_init(&c, "GRU", 14, 6, 2, 1u << 4, 0);
    oc_int(&c, "hidden_size", 1);
    rnn_inputs(&c, x1, 1, 1, 1, 3, zero3, zero3, b, 0);
    oc_input(&c, 5, ANVIL_DTYPE_F32, 3, dh, h0);
    CHECK_OK(oc_run(&c));
    int64_t dy[4] = {1, 1, 1, 1};
    check_shape(&c.out[0], 4, dy);
    check_shape(&c.out[1], 3, dh);
    CHECK_NEAR(outf(&c, 0, 0), 0.5 * tanh(1.0) + 0.5, 1e-6);
    CHECK_NEAR(outf(&c, 1, 0), 0.5 * tanh(1.0) + 0.5, 1e-6);
    oc_free(&c);

    /* linear_before_reset: Rh = 1, Rbh = 1, h0 = 1, W = 0.
     * lbr 0: h~ = tanh(Rh (r h) + Rbh) = tanh(1.5); lbr 1: h~ = tanh(r (Rh h + Rbh)) = tanh(1). */
    float rr[3] = {0, 0, 1}, bl[6] = {0, 0, 0, 0, 0, 1};
    for (int lbr = 0; lbr < 2; lbr++) {
        oc_init(&c, "GRU", 14, 6, 2, 1u << 4, 1u);
        oc_int(&c, "linear_before_reset", lbr);
        rnn_inputs(&c, x1, 1, 1, 1, 3, zero3, rr, bl, 0);
        oc_input(&c, 5, ANVIL_DTYPE_F32, 3, dh, h0);
        CHECK_OK(oc_run(&c));
        double ht = lbr ? tanh(1.0) : tanh(1.5);
        CHECK_NEAR(outf(&c, 1, 0), 0.5 * ht + 0.5, 1e-6);
        oc_free(&c);
    }

    /* Bidirectional, 2 steps, Wh = 1 only: H_t = 0.5 tanh(x_t) + 0.5 H_{t-1}. Forward:
     * F0 = 0.5 tanh(1), F1 = 0.5 tanh(2) + 0.5 F0; reverse: G1 = 0.5 tanh(2),
     * G0 = 0.5 tanh(1) + 0.5 G1. Checked in both layouts. */
    float x2[2] = {1, 2}, w2[6] = {0, 0, 1, 0, 0, 1}, r2[6] = {0};
    double f0 = 0.5 * tanh(1.0), f1 = 0.5 * tanh(2.0) + 0.5 * f0;
    double g1 = 0.5 * tanh(2.0), g0 = 0.5 * tanh(1.0) + 0.5 * g1;
    for (int layout = 0; layout < 2; layout++) {
        oc_init(&c, "GRU", 14, 3, 2, 0, 0);
        oc_string(&c, "direction", "bidirectional");
        oc_int(&c, "layout", layout);
        rnn_inputs(&c, x2, 2, 1, 2, 3, w2, r2, NULL, layout);
        CHECK_OK(oc_run(&c));
        int64_t ey0[4] = {2, 2, 1, 1}, ey1[4] = {1, 2, 2, 1};
        check_shape(&c.out[0], 4, layout ? ey1 : ey0);
        /* With batch 1 and H 1 both layouts store Y as [t][dir]. */
        CHECK_NEAR(outf(&c, 0, 0), f0, 1e-6);
        CHECK_NEAR(outf(&c, 0, 1), g0, 1e-6);
        CHECK_NEAR(outf(&c, 0, 2), f1, 1e-6);
        CHECK_NEAR(outf(&c, 0, 3), g1, 1e-6);
        CHECK_NEAR(outf(&c, 1, 0), f1, 1e-6);
        CHECK_NEAR(outf(&c, 1, 1), g0, 1e-6);
        oc_free(&c);
    }

    /* Layout 1 states are [batch, dir, hidden]: zero weights halve the initial state
     * (z = 0.5, h~ = 0), so Y and Y_h must come back as 0.5 × initial_h in the same order. */
    float xz[2] = {0, 0}, hinit[4] = {1, 2, 3, 4};
    int64_t dhl[3] = {2, 2, 1};
    oc_init(&c, "GRU", 14, 6, 2, 1u << 3 | 1u << 4, 0);
    oc_string(&c, "direction", "bidirectional");
    oc_int(&c, "layout", 1);
    rnn_inputs(&c, xz, 1, 2, 2, 3, r2, r2, NULL, 1);
    oc_input(&c, 5, ANVIL_DTYPE_F32, 3, dhl, hinit);
    CHECK_OK(oc_run(&c));
    int64_t eyl[4] = {2, 1, 2, 1};
    check_shape(&c.out[0], 4, eyl);
    check_shape(&c.out[1], 3, dhl);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(outf(&c, 0, (size_t)i), 0.5 * hinit[i], 1e-6);
        CHECK_NEAR(outf(&c, 1, (size_t)i), 0.5 * hinit[i], 1e-6);
    }
    oc_free(&c);

    /* sequence_lens: batch 2 with lengths {2, 1}, reverse direction. Row 1 only sees x[0][1]. */
    float xb[4] = {1, 3, 2, 9}; /* [t][b] */
    int32_t lens[2] = {2, 1};
    int64_t d2[1] = {2};
    oc_init(&c, "GRU", 14, 5, 2, 1u << 3, 0);
    oc_string(&c, "direction", "reverse");
    rnn_inputs(&c, xb, 2, 2, 1, 3, w2, r2, NULL, 0);
    oc_input(&c, 4, ANVIL_DTYPE_I32, 1, d2, lens);
    CHECK_OK(oc_run(&c));
    double r1 = 0.5 * tanh(2.0), r0 = 0.5 * tanh(1.0) + 0.5 * r1;
    CHECK_NEAR(outf(&c, 0, 0), r0, 1e-6);              /* Y[0][0][0] */
    CHECK_NEAR(outf(&c, 0, 1), 0.5 * tanh(3.0), 1e-6); /* Y[0][0][1] */
    CHECK_NEAR(outf(&c, 0, 2), r1, 1e-6);              /* Y[1][0][0] */
    CHECK(outf(&c, 0, 3) == 0);                        /* padded step */
    CHECK_NEAR(outf(&c, 1, 0), r0, 1e-6);
    CHECK_NEAR(outf(&c, 1, 1), 0.5 * tanh(3.0), 1e-6);
    oc_free(&c);

    /* A length beyond the sequence is rejected. */
    int32_t bad[2] = {3, 1};
    oc_init(&c, "GRU", 14, 5, 2, 1u << 3, 0);
    rnn_inputs(&c, xb, 2, 2, 1, 3, w2, r2, NULL, 0);
    oc_input(&c, 4, ANVIL_DTYPE_I32, 1, d2, bad);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_OUT_OF_RANGE);
    oc_free(&c);
}

static void test_lstm(void) {
    op_case c;
    float zero4[4] = {0}, x1[1] = {0.3f}, c0[1] = {1}, h0[1] = {0.25f};
    int64_t dh[3] = {1, 1, 1};
    /* Zero W and R, Wbc = 1: i = o = f = 0.5, c~ = tanh(1), C = 0.5 + 0.5 tanh(1),
     * H = 0.5 tanh(C). */
    float b[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    oc_init(&c, "LSTM", 14, 7, 3, 1u << 4, 0);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, b, 0);
    oc_input(&c, 5, ANVIL_DTYPE_F32, 3, dh, h0);
    oc_input(&c, 6, ANVIL_DTYPE_F32, 3, dh, c0);
    CHECK_OK(oc_run(&c));
    double C = 0.5 + 0.5 * tanh(1.0), H = 0.5 * tanh(C);
    CHECK_NEAR(outf(&c, 0, 0), H, 1e-6);
    CHECK_NEAR(outf(&c, 1, 0), H, 1e-6);
    CHECK_NEAR(outf(&c, 2, 0), C, 1e-6);
    oc_free(&c);

    /* Peepholes P = (pi, po, pf) = (1, 2, -1), zero weights, c0 = 1:
     * i = σ(1), f = σ(-1), c~ = 0, C = σ(-1), o = σ(2 C), H = o tanh(C). */
    float p[3] = {1, 2, -1};
    int64_t dp[2] = {1, 3};
    oc_init(&c, "LSTM", 14, 8, 3, 1u << 3 | 1u << 4 | 1u << 5, 0);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, NULL, 0);
    oc_input(&c, 6, ANVIL_DTYPE_F32, 3, dh, c0);
    oc_input(&c, 7, ANVIL_DTYPE_F32, 2, dp, p);
    CHECK_OK(oc_run(&c));
    double Cp = sigm(-1.0), Hp = sigm(2 * Cp) * tanh(Cp);
    CHECK_NEAR(outf(&c, 2, 0), Cp, 1e-6);
    CHECK_NEAR(outf(&c, 1, 0), Hp, 1e-6);
    oc_free(&c);

    /* Activations with alpha/beta: f = HardSigmoid(0.3, 0.4), g = Affine(2, 0.5), h = Relu;
     * zero weights, c0 = 1: gates = 0.4, c~ = 0.5, C = 0.4 + 0.2, H = 0.4 relu(0.6). */
    static const char *acts[3] = {"HardSigmoid", "affine", "Relu"};
    float alpha[2] = {0.3f, 2.0f}, beta[2] = {0.4f, 0.5f};
    oc_init(&c, "LSTM", 14, 7, 3, 1u << 3 | 1u << 4 | 1u << 5, 0);
    oc_strings(&c, "activations", acts, 3);
    oc_floats(&c, "activation_alpha", alpha, 2);
    oc_floats(&c, "activation_beta", beta, 2);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, NULL, 0);
    oc_input(&c, 6, ANVIL_DTYPE_F32, 3, dh, c0);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 2, 0), 0.6, 1e-6);
    CHECK_NEAR(outf(&c, 1, 0), 0.24, 1e-6);
    oc_free(&c);

    /* clip = 1 bounds the cell gate input: Wbc = 10 → c~ = tanh(1); C = 0.5 tanh(1). */
    float bc[8] = {0, 0, 0, 10, 0, 0, 0, 0};
    oc_init(&c, "LSTM", 14, 4, 3, 0, 1u);
    oc_float(&c, "clip", 1.0);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, bc, 0);
    CHECK_OK(oc_run(&c));
    CHECK_NEAR(outf(&c, 2, 0), 0.5 * tanh(1.0), 1e-6);
    oc_free(&c);

    /* Unknown activation and bad direction are rejected at validation. */
    static const char *bad_acts[3] = {"Sigmoid", "Swish", "Tanh"};
    oc_init(&c, "LSTM", 14, 3, 1, 0, 0);
    oc_strings(&c, "activations", bad_acts, 3);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, NULL, 0);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(anvil_last_error(), "Swish");
    oc_free(&c);
    oc_init(&c, "LSTM", 14, 3, 1, 0, 0);
    oc_string(&c, "direction", "sideways");
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, NULL, 0);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_INVALID_GRAPH);
    oc_free(&c);

    /* hidden_size disagreeing with R. */
    oc_init(&c, "LSTM", 14, 3, 1, 0, 0);
    oc_int(&c, "hidden_size", 2);
    rnn_inputs(&c, x1, 1, 1, 1, 4, zero4, zero4, NULL, 0);
    CHECK_STATUS(oc_run(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "hidden size");
    oc_free(&c);
}

int main(void) {
    test_softmax();
    test_reduce_basic();
    test_reduce_empty_and_errors();
    test_batchnorm();
    test_instance_group_norm();
    test_layernorm();
    test_lpnorm();
    test_gru();
    test_lstm();
    return check_exit();
}
