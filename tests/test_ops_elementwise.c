/*
 * test_ops_elementwise.c — unit tests of the elementwise op families (unary, activation,
 * dropout, binary, where, variadic, cast): broadcasting shapes, exact integer arithmetic and
 * its errors, dtype checks, and values computed independently of the kernels.
 */
#include "check.h"
#include "ops/op.h"
#define ONE_NODE_NAME "node_x"
#include "one_node.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>


static void attr_f(one_node *n, const char *name, double v) {
    anvil__attr *a;
    if (anvil__node_add_attr(n->g, n->id, name, &a) == ANVIL_OK) a->kind = ANVIL_ATTR_FLOAT, a->f = v;
}

static void attr_i(one_node *n, const char *name, int64_t v) {
    anvil__attr *a;
    if (anvil__node_add_attr(n->g, n->id, name, &a) == ANVIL_OK) a->kind = ANVIL_ATTR_INT, a->i = v;
}

static void attr_s(one_node *n, const char *name, const char *v) {
    anvil__attr *a;
    if (anvil__node_add_attr(n->g, n->id, name, &a) == ANVIL_OK) {
        a->kind = ANVIL_ATTR_STRING;
        a->s = anvil__strdup(v);
        a->s_len = strlen(v);
    }
}

static anvil__tensor tens(anvil_dtype dt, int32_t rank, const int64_t *dims, const void *data) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int32_t d = 0; d < rank; d++) t.dims[d] = dims[d];
    t.data = (void *)data;
    int64_t n = anvil__tensor_numel(&t);
    t.bytes = n < 0 ? 0 : (size_t)n * anvil_dtype_size(dt);
    return t;
}

/* validate + infer + alloc + run, like the interpreter. Outputs must be freed (free_outs). */
static anvil_status eval(one_node *n, int64_t opset, anvil__tensor **ins, anvil__tensor *outs) {
    const anvil__node *node = &n->g->nodes[n->id];
    anvil__tensor *optr[4];
    for (int32_t o = 0; o < node->n_outputs; o++) {
        memset(&outs[o], 0, sizeof outs[o]);
        optr[o] = &outs[o];
    }
    anvil_status s = anvil__op_validate_node(node, opset);
    if (s) return s;
    const anvil__op_def *def = anvil__op_get(node->op);
    anvil__op_ctx ctx = {node, opset, node->n_inputs, ins, node->n_outputs, optr, NULL, NULL};
    s = def->infer(&ctx);
    for (int32_t o = 0; !s && o < node->n_outputs; o++) s = anvil__tensor_alloc(&outs[o]);
    if (!s) s = def->run(&ctx);
    return s;
}

/* Static inference only (data may be NULL). */
static anvil_status infer_only(one_node *n, int64_t opset, anvil__tensor **ins,
                               anvil__tensor *out) {
    const anvil__node *node = &n->g->nodes[n->id];
    anvil_status s = anvil__op_validate_node(node, opset);
    if (s) return s;
    anvil__tensor *optr[4] = {out, NULL, NULL, NULL};
    memset(out, 0, sizeof *out);
    anvil__op_ctx ctx = {node, opset, node->n_inputs, ins, node->n_outputs, optr, NULL, NULL};
    return anvil__op_get(node->op)->infer(&ctx);
}

static void done(one_node *n, anvil__tensor *outs, int32_t n_out) {
    for (int32_t o = 0; o < n_out; o++) anvil__free(outs[o].data);
    anvil__graph_destroy(n->g);
}

static void test_add_broadcast(void) {
    /* [2,1,3] + [4,1] -> [2,4,3]; expected from explicit index arithmetic. */
    float a[6], b[4];
    for (int i = 0; i < 6; i++) a[i] = (float)(i * 10);
    for (int i = 0; i < 4; i++) b[i] = (float)(i + 1) * 0.5f;
    int64_t da[] = {2, 1, 3}, db[] = {4, 1};
    anvil__tensor ta = tens(ANVIL_DTYPE_F32, 3, da, a), tb = tens(ANVIL_DTYPE_F32, 2, db, b);
    anvil__tensor *ins[] = {&ta, &tb}, out[1];
    one_node n = mk_node("Add", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins, out));
    CHECK_EQ(out[0].rank, 3);
    CHECK_EQ(out[0].dims[0], 2);
    CHECK_EQ(out[0].dims[1], 4);
    CHECK_EQ(out[0].dims[2], 3);
    const float *o = out[0].data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++)
                CHECK_NEAR(o[(i * 4 + j) * 3 + k], a[i * 3 + k] + b[j], 0);
    done(&n, out, 1);

    /* scalar - vector exercises the "a broadcast, b strided" row. */
    float s = 10.0f, v[5] = {1, 2, 3, 4, 5};
    int64_t dv[] = {5};
    anvil__tensor ts = tens(ANVIL_DTYPE_F32, 0, NULL, &s), tv = tens(ANVIL_DTYPE_F32, 1, dv, v);
    anvil__tensor *ins2[] = {&ts, &tv};
    n = mk_node("Sub", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins2, out));
    CHECK_EQ(out[0].rank, 1);
    for (int i = 0; i < 5; i++) CHECK_NEAR(((float *)out[0].data)[i], 10.0f - v[i], 0);
    done(&n, out, 1);

    /* incompatible shapes */
    int64_t d3[] = {3}, d4[] = {4};
    anvil__tensor t3 = tens(ANVIL_DTYPE_F32, 1, d3, a), t4 = tens(ANVIL_DTYPE_F32, 1, d4, b);
    anvil__tensor *ins3[] = {&t3, &t4};
    n = mk_node("Mul", 2, 1, 0);
    CHECK_STATUS(eval(&n, 14, ins3, out), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);
}

static void test_f16_and_f64(void) {
    uint16_t a[2] = {anvil__f32_to_f16(1.5f), anvil__f32_to_f16(-2.0f)};
    uint16_t b[1] = {anvil__f32_to_f16(0.25f)};
    int64_t d2[] = {2}, d1[] = {1};
    anvil__tensor ta = tens(ANVIL_DTYPE_F16, 1, d2, a), tb = tens(ANVIL_DTYPE_F16, 1, d1, b);
    anvil__tensor *ins[] = {&ta, &tb}, out[1];
    one_node n = mk_node("Mul", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_F16);
    CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)out[0].data)[0]), 0.375, 0);
    CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)out[0].data)[1]), -0.5, 0);
    done(&n, out, 1);

    double x[3] = {0.5, -1.0, 2.0};
    int64_t d3[] = {3};
    anvil__tensor tx = tens(ANVIL_DTYPE_F64, 1, d3, x);
    anvil__tensor *ins1[] = {&tx};
    n = mk_node("Exp", 1, 1, 0);
    CHECK_OK(eval(&n, 13, ins1, out));
    for (int i = 0; i < 3; i++) CHECK_NEAR(((double *)out[0].data)[i], exp(x[i]), 1e-15);
    done(&n, out, 1);
}

static void test_int_div_mod(void) {
    int32_t a[4] = {-7, 7, -7, 9}, b[4] = {2, -2, 3, 4};
    int64_t d4[] = {4};
    anvil__tensor ta = tens(ANVIL_DTYPE_I32, 1, d4, a), tb = tens(ANVIL_DTYPE_I32, 1, d4, b);
    anvil__tensor *ins[] = {&ta, &tb}, out[1];
    one_node n = mk_node("Div", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins, out));
    int32_t *o = out[0].data;
    CHECK_EQ(o[0], -3); /* truncation toward zero */
    CHECK_EQ(o[1], -3);
    CHECK_EQ(o[2], -2);
    CHECK_EQ(o[3], 2);
    done(&n, out, 1);

    n = mk_node("Mod", 2, 1, 0); /* fmod=0: sign of the divisor */
    CHECK_OK(eval(&n, 13, ins, out));
    o = out[0].data;
    CHECK_EQ(o[0], 1);
    CHECK_EQ(o[1], -1);
    CHECK_EQ(o[2], 2);
    CHECK_EQ(o[3], 1);
    done(&n, out, 1);

    n = mk_node("Mod", 2, 1, 0);
    attr_i(&n, "fmod", 1); /* sign of the dividend */
    CHECK_OK(eval(&n, 13, ins, out));
    o = out[0].data;
    CHECK_EQ(o[0], -1);
    CHECK_EQ(o[1], 1);
    CHECK_EQ(o[2], -1);
    done(&n, out, 1);

    /* division by zero: an error naming the node, never SIGFPE */
    int32_t z[4] = {1, 0, 1, 1};
    anvil__tensor tz = tens(ANVIL_DTYPE_I32, 1, d4, z);
    anvil__tensor *insz[] = {&ta, &tz};
    n = mk_node("Div", 2, 1, 0);
    CHECK_STATUS(eval(&n, 14, insz, out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "node_x");
    CHECK_CONTAINS(anvil_last_error(), "zero");
    done(&n, out, 1);
    n = mk_node("Mod", 2, 1, 0);
    CHECK_STATUS(eval(&n, 13, insz, out), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, out, 1);

    int64_t m[1] = {INT64_MIN}, m1[1] = {-1};
    int64_t d1[] = {1};
    anvil__tensor tm = tens(ANVIL_DTYPE_I64, 1, d1, m), tm1 = tens(ANVIL_DTYPE_I64, 1, d1, m1);
    anvil__tensor *insm[] = {&tm, &tm1};
    n = mk_node("Div", 2, 1, 0);
    CHECK_STATUS(eval(&n, 14, insm, out), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, out, 1);
    n = mk_node("Mod", 2, 1, 0);
    CHECK_OK(eval(&n, 13, insm, out));
    CHECK_EQ(((int64_t *)out[0].data)[0], 0);
    done(&n, out, 1);
}

static void test_int_wrap_and_pow(void) {
    uint64_t a[2] = {UINT64_MAX, 5}, b[2] = {2, 7};
    int64_t d2[] = {2};
    anvil__tensor ta = tens(ANVIL_DTYPE_U64, 1, d2, a), tb = tens(ANVIL_DTYPE_U64, 1, d2, b);
    anvil__tensor *ins[] = {&ta, &tb}, out[1];
    one_node n = mk_node("Add", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins, out));
    CHECK(((uint64_t *)out[0].data)[0] == 1);
    CHECK(((uint64_t *)out[0].data)[1] == 12);
    done(&n, out, 1);
    n = mk_node("Greater", 2, 1, 0); /* unsigned order: UINT64_MAX > 2 */
    CHECK_OK(eval(&n, 13, ins, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_BOOL);
    CHECK_EQ(((uint8_t *)out[0].data)[0], 1);
    CHECK_EQ(((uint8_t *)out[0].data)[1], 0);
    done(&n, out, 1);

    int64_t x[2] = {INT64_MAX, 3}, e[2] = {2, 39};
    anvil__tensor tx = tens(ANVIL_DTYPE_I64, 1, d2, x), te = tens(ANVIL_DTYPE_I64, 1, d2, e);
    anvil__tensor *ins2[] = {&tx, &te};
    n = mk_node("Mul", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins2, out));
    CHECK_EQ(((int64_t *)out[0].data)[0], -2); /* wraps modulo 2^64 */
    done(&n, out, 1);
    n = mk_node("Pow", 2, 1, 0);
    CHECK_OK(eval(&n, 15, ins2, out));
    int64_t p = 1;
    for (int i = 0; i < 39; i++) p *= 3; /* 3^39 < 2^63 */
    CHECK_EQ(((int64_t *)out[0].data)[1], p);
    done(&n, out, 1);

    /* mixed dtypes: f32 base, i64 exponent -> f32; i32 base, f32 exponent -> i32 */
    float fb[3] = {2.0f, -3.0f, 0.5f};
    int64_t ie[3] = {3, 2, -1}, d3[] = {3};
    anvil__tensor tfb = tens(ANVIL_DTYPE_F32, 1, d3, fb), tie = tens(ANVIL_DTYPE_I64, 1, d3, ie);
    anvil__tensor *ins3[] = {&tfb, &tie};
    n = mk_node("Pow", 2, 1, 0);
    CHECK_OK(eval(&n, 15, ins3, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_F32);
    CHECK_NEAR(((float *)out[0].data)[0], 8.0, 0);
    CHECK_NEAR(((float *)out[0].data)[1], 9.0, 0);
    CHECK_NEAR(((float *)out[0].data)[2], 2.0, 0);
    done(&n, out, 1);
    int32_t ib[3] = {2, 9, 5};
    float fe[3] = {0.5f, 0.5f, 1.5f};
    anvil__tensor tib = tens(ANVIL_DTYPE_I32, 1, d3, ib), tfe = tens(ANVIL_DTYPE_F32, 1, d3, fe);
    anvil__tensor *ins4[] = {&tib, &tfe};
    n = mk_node("Pow", 2, 1, 0);
    CHECK_OK(eval(&n, 15, ins4, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_I32);
    CHECK_EQ(((int32_t *)out[0].data)[0], 1);  /* 1.414 truncated */
    CHECK_EQ(((int32_t *)out[0].data)[1], 3);
    CHECK_EQ(((int32_t *)out[0].data)[2], 11); /* 11.18 truncated */
    done(&n, out, 1);
}

static void test_dtype_errors(void) {
    float a[1] = {1};
    int64_t b[1] = {1}, d1[] = {1};
    anvil__tensor ta = tens(ANVIL_DTYPE_F32, 1, d1, a), tb = tens(ANVIL_DTYPE_I64, 1, d1, b);
    anvil__tensor *ins[] = {&ta, &tb}, out[1];
    one_node n = mk_node("Add", 2, 1, 0);
    CHECK_STATUS(eval(&n, 14, ins, out), ANVIL_STATUS_DTYPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "f32");
    CHECK_CONTAINS(anvil_last_error(), "i64");
    done(&n, out, 1);

    /* caught during static inference too, without data */
    int64_t dyn[] = {-1, 3};
    anvil__tensor sa = tens(ANVIL_DTYPE_F32, 2, dyn, NULL), sb = tens(ANVIL_DTYPE_F16, 2, dyn, NULL);
    anvil__tensor *sins[] = {&sa, &sb};
    n = mk_node("Equal", 2, 1, 0);
    CHECK_STATUS(infer_only(&n, 19, sins, out), ANVIL_STATUS_DTYPE_MISMATCH);
    anvil__graph_destroy(n.g);

    /* static inference with unknown dims */
    int64_t dyn2[] = {3};
    anvil__tensor sc = tens(ANVIL_DTYPE_F32, 1, dyn2, NULL);
    anvil__tensor *sins2[] = {&sa, &sc};
    n = mk_node("Less", 2, 1, 0);
    CHECK_OK(infer_only(&n, 13, sins2, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_BOOL);
    CHECK_EQ(out[0].rank, 2);
    CHECK_EQ(out[0].dims[0], -1);
    CHECK_EQ(out[0].dims[1], 3);
    anvil__graph_destroy(n.g);

    anvil__tensor *ins1[] = {&ta};
    n = mk_node("Not", 1, 1, 0);
    CHECK_STATUS(eval(&n, 1, ins1, out), ANVIL_STATUS_DTYPE_MISMATCH);
    done(&n, out, 1);
    anvil__tensor *ins2[] = {&tb, &tb};
    n = mk_node("And", 2, 1, 0);
    CHECK_STATUS(eval(&n, 7, ins2, out), ANVIL_STATUS_DTYPE_MISMATCH);
    done(&n, out, 1);
    anvil__tensor *ins3[] = {&tb};
    n = mk_node("Sqrt", 1, 1, 0);
    CHECK_STATUS(eval(&n, 13, ins3, out), ANVIL_STATUS_DTYPE_MISMATCH);
    done(&n, out, 1);
}

static float run_act1(const char *op, float x, const char *attr_name, const char *sval) {
    int64_t d1[] = {1};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, d1, &x);
    anvil__tensor *ins[] = {&tx}, out[1];
    one_node n = mk_node(op, 1, 1, 0);
    if (attr_name) attr_s(&n, attr_name, sval);
    float r = NAN;
    anvil_status s = eval(&n, 22, ins, out);
    CHECK_OK(s);
    if (!s) r = ((float *)out[0].data)[0];
    done(&n, out, 1);
    return r;
}

static void test_activations(void) {
    /* Reference values from the textbook formulas, evaluated independently. */
    CHECK_NEAR(run_act1("Gelu", 1.0f, NULL, NULL), 0.5 * (1 + erf(1 / sqrt(2.0))), 1e-6);
    CHECK_NEAR(run_act1("Gelu", 1.0f, "approximate", "tanh"),
               0.5 * (1 + tanh(sqrt(2 / M_PI) * (1 + 0.044715))), 1e-6);
    CHECK_NEAR(run_act1("Selu", -1.0f, NULL, NULL),
               1.05070102214813232421875 * 1.67326319217681884765625 * (exp(-1.0) - 1), 1e-6);
    CHECK_NEAR(run_act1("Softplus", 100.0f, NULL, NULL), 100.0, 1e-4);
    CHECK_NEAR(run_act1("Softplus", 0.0f, NULL, NULL), log(2.0), 1e-7);
    CHECK_NEAR(run_act1("Mish", 1.0f, NULL, NULL), tanh(log1p(exp(1.0))), 1e-6);
    CHECK_NEAR(run_act1("HardSwish", 1.0f, NULL, NULL), 1.0 / 6 + 0.5, 1e-7);
    CHECK_NEAR(run_act1("HardSwish", -4.0f, NULL, NULL), 0.0, 0);
    CHECK_NEAR(run_act1("HardSigmoid", 1.0f, NULL, NULL), 0.7, 1e-7);
    CHECK_NEAR(run_act1("LeakyRelu", -2.0f, NULL, NULL), -0.02, 1e-8);
    CHECK_NEAR(run_act1("Elu", -1.0f, NULL, NULL), exp(-1.0) - 1, 1e-7);
    CHECK_NEAR(run_act1("Celu", -1.0f, NULL, NULL), exp(-1.0) - 1, 1e-7);
    CHECK_NEAR(run_act1("Sigmoid", -800.0f, NULL, NULL), 0.0, 0);
    CHECK_NEAR(run_act1("Sigmoid", 2.0f, NULL, NULL), 1 / (1 + exp(-2.0)), 1e-7);
    CHECK_NEAR(run_act1("Softsign", 3.0f, NULL, NULL), 0.75, 1e-7);
    CHECK_NEAR(run_act1("Relu", -3.0f, NULL, NULL), 0.0, 0);
    CHECK_NEAR(run_act1("Sign", -3.0f, NULL, NULL), -1.0, 0);
    CHECK_NEAR(run_act1("Reciprocal", 4.0f, NULL, NULL), 0.25, 0);

    /* Gelu with a bad 'approximate' is an invalid graph */
    int64_t d1[] = {1};
    float x = 1;
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, d1, &x);
    anvil__tensor *ins[] = {&tx}, out[1];
    one_node n = mk_node("Gelu", 1, 1, 0);
    attr_s(&n, "approximate", "fast");
    CHECK_STATUS(eval(&n, 20, ins, out), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, out, 1);
}

static void test_clip(void) {
    float x[4] = {-5, 0.5f, 3, NAN};
    int64_t d4[] = {4};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, d4, x);
    anvil__tensor *ins[] = {&tx}, out[1];
    one_node n = mk_node("Clip", 1, 1, 0); /* opset 6: attributes */
    attr_f(&n, "min", -1.0);
    attr_f(&n, "max", 2.0);
    CHECK_OK(eval(&n, 6, ins, out));
    float *o = out[0].data;
    CHECK_NEAR(o[0], -1, 0);
    CHECK_NEAR(o[1], 0.5, 0);
    CHECK_NEAR(o[2], 2, 0);
    CHECK(isnan(o[3]));
    done(&n, out, 1);

    float hi = 1.0f; /* opset 13, min omitted ("") */
    anvil__tensor thi = tens(ANVIL_DTYPE_F32, 0, NULL, &hi);
    anvil__tensor *ins2[] = {&tx, NULL, &thi};
    n = mk_node("Clip", 3, 1, 2u);
    CHECK_OK(eval(&n, 13, ins2, out));
    o = out[0].data;
    CHECK_NEAR(o[0], -5, 0);
    CHECK_NEAR(o[2], 1, 0);
    done(&n, out, 1);

    int8_t xi[3] = {-100, 5, 100}, lo8 = -10, hi8 = 10;
    int64_t d3[] = {3};
    anvil__tensor ti = tens(ANVIL_DTYPE_I8, 1, d3, xi), tl = tens(ANVIL_DTYPE_I8, 0, NULL, &lo8),
                  th = tens(ANVIL_DTYPE_I8, 0, NULL, &hi8);
    anvil__tensor *ins3[] = {&ti, &tl, &th};
    n = mk_node("Clip", 3, 1, 0);
    CHECK_OK(eval(&n, 13, ins3, out));
    CHECK_EQ(((int8_t *)out[0].data)[0], -10);
    CHECK_EQ(((int8_t *)out[0].data)[1], 5);
    CHECK_EQ(((int8_t *)out[0].data)[2], 10);
    done(&n, out, 1);
}

static void test_where_variadic(void) {
    uint8_t c[2] = {1, 0};
    int64_t x[3] = {1, 2, 3}, y = -7;
    int64_t dc[] = {2, 1}, dx[] = {3};
    anvil__tensor tc = tens(ANVIL_DTYPE_BOOL, 2, dc, c), tx = tens(ANVIL_DTYPE_I64, 1, dx, x),
                  ty = tens(ANVIL_DTYPE_I64, 0, NULL, &y);
    anvil__tensor *ins[] = {&tc, &tx, &ty}, out[1];
    one_node n = mk_node("Where", 3, 1, 0);
    CHECK_OK(eval(&n, 16, ins, out));
    CHECK_EQ(out[0].rank, 2);
    CHECK_EQ(out[0].dims[0], 2);
    CHECK_EQ(out[0].dims[1], 3);
    int64_t *o = out[0].data;
    for (int j = 0; j < 3; j++) {
        CHECK_EQ(o[j], x[j]);
        CHECK_EQ(o[3 + j], -7);
    }
    done(&n, out, 1);

    float a[3] = {1, NAN, 3}, b[1] = {2}, cc[2] = {10, 20};
    int64_t d3[] = {3}, d1[] = {1}, d21[] = {2, 1};
    anvil__tensor ta = tens(ANVIL_DTYPE_F32, 1, d3, a), tb = tens(ANVIL_DTYPE_F32, 1, d1, b),
                  tcc = tens(ANVIL_DTYPE_F32, 2, d21, cc);
    anvil__tensor *ins2[] = {&ta, &tb, &tcc};
    n = mk_node("Sum", 3, 1, 0);
    CHECK_OK(eval(&n, 13, ins2, out));
    CHECK_EQ(out[0].rank, 2);
    CHECK_NEAR(((float *)out[0].data)[0], 13, 0);
    CHECK_NEAR(((float *)out[0].data)[5], 25, 0);
    done(&n, out, 1);
    n = mk_node("Max", 2, 1, 0);
    CHECK_OK(eval(&n, 13, ins2, out));
    CHECK_NEAR(((float *)out[0].data)[0], 2, 0);
    CHECK(isnan(((float *)out[0].data)[1])); /* NaN propagates like numpy.maximum */
    CHECK_NEAR(((float *)out[0].data)[2], 3, 0);
    done(&n, out, 1);
    n = mk_node("Mean", 2, 1, 0);
    anvil__tensor *ins3[] = {&ta, &tb};
    CHECK_OK(eval(&n, 13, ins3, out));
    CHECK_NEAR(((float *)out[0].data)[2], 2.5, 0);
    done(&n, out, 1);

    uint32_t u[2] = {0xffffffffu, 1}, v[2] = {1, 2};
    int64_t d2[] = {2};
    anvil__tensor tu = tens(ANVIL_DTYPE_U32, 1, d2, u), tv = tens(ANVIL_DTYPE_U32, 1, d2, v);
    anvil__tensor *ins4[] = {&tu, &tv};
    n = mk_node("Min", 2, 1, 0);
    CHECK_OK(eval(&n, 13, ins4, out));
    CHECK_EQ(((uint32_t *)out[0].data)[0], 1);
    CHECK_EQ(((uint32_t *)out[0].data)[1], 1);
    done(&n, out, 1);
}

static void test_cast(void) {
    float x[5] = {-2.7f, 2.7f, 0.0f, 1.0f / 3.0f, 300.0f};
    int64_t d5[] = {5};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, d5, x);
    anvil__tensor *ins[] = {&tx}, out[1];
    one_node n = mk_node("Cast", 1, 1, 0);
    attr_i(&n, "to", 6); /* INT32 */
    CHECK_OK(eval(&n, 21, ins, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_I32);
    CHECK_EQ(((int32_t *)out[0].data)[0], -2);
    CHECK_EQ(((int32_t *)out[0].data)[1], 2);
    CHECK_EQ(((int32_t *)out[0].data)[4], 300);
    done(&n, out, 1);

    n = mk_node("Cast", 1, 1, 0);
    attr_i(&n, "to", 9); /* BOOL */
    CHECK_OK(eval(&n, 21, ins, out));
    CHECK_EQ(((uint8_t *)out[0].data)[0], 1);
    CHECK_EQ(((uint8_t *)out[0].data)[2], 0);
    done(&n, out, 1);

    n = mk_node("Cast", 1, 1, 0);
    attr_s(&n, "to", "FLOAT16"); /* opset 1 names the type */
    CHECK_OK(eval(&n, 1, ins, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_F16);
    CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)out[0].data)[3]), 1.0 / 3.0, 1.0 / 2048);
    done(&n, out, 1);

    n = mk_node("Cast", 1, 1, 0);
    attr_i(&n, "to", 8);
    CHECK_STATUS(eval(&n, 21, ins, out), ANVIL_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(anvil_last_error(), "STRING");
    done(&n, out, 1);

    double like = 0;
    anvil__tensor tl = tens(ANVIL_DTYPE_F64, 0, NULL, &like);
    anvil__tensor *ins2[] = {&tx, &tl};
    n = mk_node("CastLike", 2, 1, 0);
    CHECK_OK(eval(&n, 21, ins2, out));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_F64);
    CHECK_NEAR(((double *)out[0].data)[3], (double)(1.0f / 3.0f), 0);
    done(&n, out, 1);
}

static void test_dropout(void) {
    float x[3] = {1, 2, 3}, ratio = 0.5f, zero = 0.0f;
    uint8_t train = 1;
    int64_t d3[] = {3};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, d3, x), tr = tens(ANVIL_DTYPE_F32, 0, NULL, &ratio),
                  tz = tens(ANVIL_DTYPE_F32, 0, NULL, &zero),
                  tt = tens(ANVIL_DTYPE_BOOL, 0, NULL, &train);
    anvil__tensor *ins[] = {&tx, &tr, &tt}, out[2];
    one_node n = mk_node("Dropout", 3, 2, 0);
    CHECK_STATUS(eval(&n, 13, ins, out), ANVIL_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(anvil_last_error(), "training_mode");
    done(&n, out, 2);

    anvil__tensor *ins2[] = {&tx, &tz, &tt};
    n = mk_node("Dropout", 3, 2, 0);
    CHECK_OK(eval(&n, 13, ins2, out));
    CHECK_EQ(out[1].dtype, ANVIL_DTYPE_BOOL);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(((float *)out[0].data)[i], x[i], 0);
        CHECK_EQ(((uint8_t *)out[1].data)[i], 1);
    }
    done(&n, out, 2);

    anvil__tensor *ins3[] = {&tx};
    n = mk_node("Dropout", 1, 1, 0);
    attr_f(&n, "ratio", 0.3);
    CHECK_OK(eval(&n, 7, ins3, out));
    CHECK_NEAR(((float *)out[0].data)[2], 3, 0);
    done(&n, out, 1);
}

static void test_prelu_and_legacy(void) {
    float x[6] = {-1, 2, -3, 4, -5, 6}, s[3] = {0.1f, 0.2f, 0.3f};
    int64_t dx[] = {2, 3}, ds[] = {3};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 2, dx, x), ts = tens(ANVIL_DTYPE_F32, 1, ds, s);
    anvil__tensor *ins[] = {&tx, &ts}, out[1];
    one_node n = mk_node("PRelu", 2, 1, 0);
    CHECK_OK(eval(&n, 16, ins, out));
    float *o = out[0].data;
    for (int i = 0; i < 6; i++) CHECK_NEAR(o[i], x[i] < 0 ? x[i] * s[i % 3] : x[i], 1e-7);
    done(&n, out, 1);

    /* slope larger than X: unidirectional broadcasting refuses */
    int64_t dbig[] = {4, 2, 3};
    float big[24] = {0};
    anvil__tensor tb = tens(ANVIL_DTYPE_F32, 3, dbig, big);
    anvil__tensor *ins2[] = {&tx, &tb};
    n = mk_node("PRelu", 2, 1, 0);
    CHECK_STATUS(eval(&n, 16, ins2, out), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);

    /* opset 6 Add with broadcast=1, axis=0: B of shape [2] aligns with A's first dim */
    float b2[2] = {100, 200};
    int64_t d2[] = {2};
    anvil__tensor t2 = tens(ANVIL_DTYPE_F32, 1, d2, b2);
    anvil__tensor *ins3[] = {&tx, &t2};
    n = mk_node("Add", 2, 1, 0);
    attr_i(&n, "broadcast", 1);
    attr_i(&n, "axis", 0);
    CHECK_OK(eval(&n, 6, ins3, out));
    o = out[0].data;
    for (int i = 0; i < 6; i++) CHECK_NEAR(o[i], x[i] + b2[i / 3], 0);
    done(&n, out, 1);
    n = mk_node("Add", 2, 1, 0); /* without broadcast=1 the shapes must match */
    CHECK_STATUS(eval(&n, 6, ins3, out), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);
}

static void test_unary_int(void) {
    int16_t x[4] = {-32768, -5, 0, 7};
    int64_t d4[] = {4};
    anvil__tensor tx = tens(ANVIL_DTYPE_I16, 1, d4, x);
    anvil__tensor *ins[] = {&tx}, out[1];
    one_node n = mk_node("Abs", 1, 1, 0);
    CHECK_OK(eval(&n, 13, ins, out));
    int16_t *o = out[0].data;
    CHECK_EQ(o[0], -32768); /* wraps like numpy */
    CHECK_EQ(o[1], 5);
    CHECK_EQ(o[3], 7);
    done(&n, out, 1);
    n = mk_node("Sign", 1, 1, 0);
    CHECK_OK(eval(&n, 13, ins, out));
    o = out[0].data;
    CHECK_EQ(o[0], -1);
    CHECK_EQ(o[2], 0);
    CHECK_EQ(o[3], 1);
    done(&n, out, 1);
}

int main(void) {
    test_add_broadcast();
    test_f16_and_f64();
    test_int_div_mod();
    test_int_wrap_and_pow();
    test_dtype_errors();
    test_activations();
    test_clip();
    test_where_variadic();
    test_cast();
    test_dropout();
    test_prelu_and_legacy();
    test_unary_int();
    return check_exit();
}
