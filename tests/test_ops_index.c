/*
 * test_ops_index.c — unit tests of the indexing, resize and selection op families (Gather*,
 * ScatterND, NonZero, OneHot, CumSum, TopK, ArgMax/ArgMin, Resize/Upsample): out-of-range
 * indices rejected with a message naming node, index and range; static shape inference; and
 * small results worked out by hand from the ONNX spec.
 */
#include "check.h"
#include "ops/op.h"
#define ONE_NODE_NAME "idx_node"
#include "one_node.h"

#include <stdint.h>
#include <stdlib.h>


static anvil__attr *add_attr(one_node *n, const char *name, anvil__attr_kind kind) {
    anvil__attr *a = NULL;
    if (anvil__node_add_attr(n->g, n->id, name, &a) == ANVIL_OK) a->kind = kind;
    return a;
}

static void attr_i(one_node *n, const char *name, int64_t v) {
    anvil__attr *a = add_attr(n, name, ANVIL_ATTR_INT);
    if (a) a->i = v;
}

static void attr_s(one_node *n, const char *name, const char *v) {
    anvil__attr *a = add_attr(n, name, ANVIL_ATTR_STRING);
    if (a) {
        a->s = anvil__strdup(v);
        a->s_len = strlen(v);
    }
}

static void attr_floats(one_node *n, const char *name, const float *v, size_t count) {
    anvil__attr *a = add_attr(n, name, ANVIL_ATTR_FLOATS);
    if (a) {
        a->floats = anvil__malloc_array(count, sizeof(float));
        memcpy(a->floats, v, count * sizeof(float));
        a->n = count;
    }
}

static anvil__tensor tens(anvil_dtype dt, int32_t rank, const int64_t *dims, const void *data) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int32_t d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    t.data = (void *)data;
    int64_t n = anvil__tensor_numel(&t);
    t.bytes = n < 0 ? 0 : (size_t)n * anvil_dtype_size(dt);
    return t;
}

/* validate + infer + alloc + run, like the interpreter. */
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
    for (int32_t o = 0; !s && o < node->n_outputs; o++)
        s = anvil__tensor_alloc(&outs[o]);
    if (!s) s = def->run(&ctx);
    return s;
}

static anvil_status infer_only(one_node *n, int64_t opset, anvil__tensor **ins,
                               anvil__tensor *out) {
    const anvil__node *node = &n->g->nodes[n->id];
    anvil_status s = anvil__op_validate_node(node, opset);
    if (s) return s;
    anvil__tensor extra[3];
    anvil__tensor *optr[4] = {out, &extra[0], &extra[1], &extra[2]};
    memset(out, 0, sizeof *out);
    anvil__op_ctx ctx = {node, opset, node->n_inputs, ins, node->n_outputs, optr, NULL, NULL};
    return anvil__op_get(node->op)->infer(&ctx);
}

static void done(one_node *n, anvil__tensor *outs, int32_t n_out) {
    for (int32_t o = 0; o < n_out; o++)
        anvil__free(outs[o].data);
    anvil__graph_destroy(n->g);
}

static void check_dims(const anvil__tensor *t, int32_t rank, const int64_t *dims) {
    CHECK_EQ(t->rank, rank);
    for (int32_t d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], dims[d]);
}

/* ---- Gather family ---- */

static void test_gather(void) {
    /* data 2x3 u8, indices [[2, -3]] on axis 1: out[i][0][j] = data[i][idx[j]]. */
    uint8_t data[] = {10, 11, 12, 20, 21, 22};
    int64_t idx[] = {2, -3}, dd[] = {2, 3}, di[] = {1, 2};
    anvil__tensor td = tens(ANVIL_DTYPE_U8, 2, dd, data), ti = tens(ANVIL_DTYPE_I64, 2, di, idx);
    anvil__tensor *ins[] = {&td, &ti}, out[1];
    one_node n = mk_node("Gather", 2, 1, 0);
    attr_i(&n, "axis", 1);
    CHECK_OK(eval(&n, 13, ins, out));
    check_dims(&out[0], 3, (int64_t[]){2, 1, 2});
    const uint8_t *o = out[0].data;
    CHECK_EQ(o[0], 12);
    CHECK_EQ(o[1], 10);
    CHECK_EQ(o[2], 22);
    CHECK_EQ(o[3], 20);
    done(&n, out, 1);

    /* index 3 on an axis of size 3 is out of range: a clear error, never a read. */
    int32_t bad[] = {0, 3};
    anvil__tensor tb = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){2}, bad);
    anvil__tensor *ins2[] = {&td, &tb};
    n = mk_node("Gather", 2, 1, 0);
    attr_i(&n, "axis", -1);
    CHECK_STATUS(eval(&n, 13, ins2, out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "idx_node");
    CHECK_CONTAINS(anvil_last_error(), "index 3");
    CHECK_CONTAINS(anvil_last_error(), "[-3, 2]");
    done(&n, out, 1);

    /* float indices are a dtype error. */
    float fidx[] = {0.0f};
    anvil__tensor tf = tens(ANVIL_DTYPE_F32, 1, (int64_t[]){1}, fidx);
    anvil__tensor *ins3[] = {&td, &tf};
    n = mk_node("Gather", 2, 1, 0);
    CHECK_STATUS(eval(&n, 13, ins3, out), ANVIL_STATUS_DTYPE_MISMATCH);
    done(&n, out, 1);
}

static void test_gather_elements(void) {
    /* axis 0: out[i][j] = data[idx[i][j]][j]. */
    int16_t data[] = {1, 2, 3, 4, 5, 6};
    int64_t idx[] = {2, 0, -1, 1};
    anvil__tensor td = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){3, 2}, data);
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, 2, (int64_t[]){2, 2}, idx);
    anvil__tensor *ins[] = {&td, &ti}, out[1];
    one_node n = mk_node("GatherElements", 2, 1, 0);
    CHECK_OK(eval(&n, 13, ins, out));
    const int16_t *o = out[0].data;
    CHECK_EQ(o[0], 5);
    CHECK_EQ(o[1], 2);
    CHECK_EQ(o[2], 5);
    CHECK_EQ(o[3], 4);
    done(&n, out, 1);

    idx[3] = -4;
    n = mk_node("GatherElements", 2, 1, 0);
    CHECK_STATUS(eval(&n, 13, ins, out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "index -4");
    done(&n, out, 1);
}

static void test_gather_nd(void) {
    /* batch_dims 1: data [2,2,2], indices [2,1,1] -> out [2,1,2] = data[b][idx[b]]. */
    float data[8];
    for (int i = 0; i < 8; i++)
        data[i] = (float)i;
    int64_t idx[] = {1, 0};
    anvil__tensor td = tens(ANVIL_DTYPE_F32, 3, (int64_t[]){2, 2, 2}, data);
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, 3, (int64_t[]){2, 1, 1}, idx);
    anvil__tensor *ins[] = {&td, &ti}, out[1];
    one_node n = mk_node("GatherND", 2, 1, 0);
    attr_i(&n, "batch_dims", 1);
    CHECK_OK(eval(&n, 13, ins, out));
    check_dims(&out[0], 3, (int64_t[]){2, 1, 2});
    const float *o = out[0].data;
    CHECK_EQ(o[0], 2);
    CHECK_EQ(o[1], 3);
    CHECK_EQ(o[2], 4);
    CHECK_EQ(o[3], 5);
    done(&n, out, 1);

    idx[1] = 2;
    n = mk_node("GatherND", 2, 1, 0);
    attr_i(&n, "batch_dims", 1);
    CHECK_STATUS(eval(&n, 13, ins, out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "index 2");
    done(&n, out, 1);

    /* indices last dim 3 > rank 3 - batch_dims 1 */
    int64_t idx3[] = {0, 0, 0, 0, 0, 0};
    anvil__tensor t3 = tens(ANVIL_DTYPE_I64, 2, (int64_t[]){2, 3}, idx3);
    anvil__tensor *ins3[] = {&td, &t3};
    n = mk_node("GatherND", 2, 1, 0);
    attr_i(&n, "batch_dims", 1);
    CHECK_STATUS(eval(&n, 13, ins3, out), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);
}

static void test_scatter_nd(void) {
    /* u64 data [4]; updates at 1, 1, -1 with reduction max: exact above 2^63. */
    uint64_t data[] = {1, UINT64_C(0x8000000000000000), 3, 4};
    int64_t idx[] = {1, 1, -1};
    uint64_t upd[] = {UINT64_C(0x8000000000000001), 7, 2};
    anvil__tensor td = tens(ANVIL_DTYPE_U64, 1, (int64_t[]){4}, data);
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, 2, (int64_t[]){3, 1}, idx);
    anvil__tensor tu = tens(ANVIL_DTYPE_U64, 1, (int64_t[]){3}, upd);
    anvil__tensor *ins[] = {&td, &ti, &tu}, out[1];
    one_node n = mk_node("ScatterND", 3, 1, 0);
    attr_s(&n, "reduction", "max");
    CHECK_OK(eval(&n, 18, ins, out));
    const uint64_t *o = out[0].data;
    CHECK(o[0] == 1);
    CHECK(o[1] == UINT64_C(0x8000000000000001));
    CHECK(o[2] == 3);
    CHECK(o[3] == 4);
    CHECK(data[1] == UINT64_C(0x8000000000000000)); /* input untouched */
    done(&n, out, 1);

    /* add with a repeated index accumulates: i32 [4], 2 updates at index 2. */
    int32_t d32[] = {1, 2, 3, 4}, u32[] = {10, 100};
    int64_t i2[] = {2, 2};
    anvil__tensor a = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){4}, d32);
    anvil__tensor b = tens(ANVIL_DTYPE_I64, 2, (int64_t[]){2, 1}, i2);
    anvil__tensor c = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){2}, u32);
    anvil__tensor *ins2[] = {&a, &b, &c};
    n = mk_node("ScatterND", 3, 1, 0);
    attr_s(&n, "reduction", "add");
    CHECK_OK(eval(&n, 18, ins2, out));
    CHECK_EQ(((int32_t *)out[0].data)[2], 113);
    CHECK_EQ(((int32_t *)out[0].data)[3], 4);
    done(&n, out, 1);

    i2[1] = 4;
    n = mk_node("ScatterND", 3, 1, 0);
    CHECK_STATUS(eval(&n, 18, ins2, out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "index 4");
    done(&n, out, 1);

    /* updates of the wrong shape */
    anvil__tensor c1 = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){1}, u32);
    anvil__tensor *ins3[] = {&a, &b, &c1};
    n = mk_node("ScatterND", 3, 1, 0);
    CHECK_STATUS(eval(&n, 18, ins3, out), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);
}

/* ---- NonZero, OneHot, CumSum ---- */

static void test_nonzero(void) {
    /* static: data unknown -> [rank, -1] */
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 3, (int64_t[]){2, -1, 4}, NULL), out[1];
    anvil__tensor *ins[] = {&tx};
    one_node n = mk_node("NonZero", 1, 1, 0);
    CHECK_OK(infer_only(&n, 13, ins, &out[0]));
    CHECK_EQ(out[0].dtype, ANVIL_DTYPE_I64);
    check_dims(&out[0], 2, (int64_t[]){3, -1});
    /* unknown rank -> [-1, -1] */
    tx.rank = -1;
    CHECK_OK(infer_only(&n, 13, ins, &out[0]));
    check_dims(&out[0], 2, (int64_t[]){-1, -1});
    done(&n, out, 0);

    /* known data: [[0, 3], [-1, 0], [0, NaN]] -> coordinates (0,1) (1,0) (2,1) */
    float x[] = {0, 3, -1, -0.0f, 0, NAN};
    anvil__tensor tk = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){3, 2}, x);
    anvil__tensor *ins2[] = {&tk};
    n = mk_node("NonZero", 1, 1, 0);
    CHECK_OK(infer_only(&n, 13, ins2, &out[0]));
    check_dims(&out[0], 2, (int64_t[]){2, 3});
    CHECK_OK(eval(&n, 13, ins2, out));
    const int64_t *o = out[0].data, want[] = {0, 1, 2, 1, 0, 1};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(o[i], want[i]);
    done(&n, out, 1);
}

static void test_onehot(void) {
    /* indices [1, -1, 3, -4] depth 3 on axis 0 (output [3, 4]): -1 wraps to 2, 3 and -4 are
     * out of range and give all-off columns. */
    int64_t idx[] = {1, -1, 3, -4}, depth = 3;
    int32_t vals[] = {5, 9};
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){4}, idx);
    anvil__tensor tdep = tens(ANVIL_DTYPE_I64, 0, NULL, &depth);
    anvil__tensor tv = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){2}, vals);
    anvil__tensor *ins[] = {&ti, &tdep, &tv}, out[1];
    one_node n = mk_node("OneHot", 3, 1, 0);
    attr_i(&n, "axis", 0);
    CHECK_OK(eval(&n, 11, ins, out));
    check_dims(&out[0], 2, (int64_t[]){3, 4});
    const int32_t *o = out[0].data;
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < 4; j++) {
            int on = (j == 0 && c == 1) || (j == 1 && c == 2);
            CHECK_EQ(o[c * 4 + j], on ? 9 : 5);
        }
    done(&n, out, 1);

    /* static: depth unknown -> -1 at the axis (default -1: last) */
    anvil__tensor tdu = tens(ANVIL_DTYPE_I64, 0, NULL, NULL);
    anvil__tensor *ins2[] = {&ti, &tdu, &tv};
    n = mk_node("OneHot", 3, 1, 0);
    CHECK_OK(infer_only(&n, 11, ins2, &out[0]));
    check_dims(&out[0], 2, (int64_t[]){4, -1});
    done(&n, out, 0);
}

static void test_cumsum(void) {
    /* i64 values near 2^62 stay exact; exclusive + reverse on axis 1 of [2,3]. */
    int64_t x[] = {INT64_C(1) << 62, 1, 2, 3, 4, 5}, axis = -1;
    anvil__tensor tx = tens(ANVIL_DTYPE_I64, 2, (int64_t[]){2, 3}, x);
    anvil__tensor ta = tens(ANVIL_DTYPE_I64, 0, NULL, &axis), out[1];
    anvil__tensor *ins[] = {&tx, &ta};
    one_node n = mk_node("CumSum", 2, 1, 0);
    attr_i(&n, "exclusive", 1);
    attr_i(&n, "reverse", 1);
    CHECK_OK(eval(&n, 14, ins, out));
    const int64_t *o = out[0].data;
    CHECK_EQ(o[0], 3);
    CHECK_EQ(o[1], 2);
    CHECK_EQ(o[2], 0);
    CHECK_EQ(o[3], 9);
    CHECK_EQ(o[4], 5);
    CHECK_EQ(o[5], 0);
    done(&n, out, 1);

    /* inclusive forward keeps the big value exact */
    n = mk_node("CumSum", 2, 1, 0);
    CHECK_OK(eval(&n, 14, ins, out));
    CHECK(((int64_t *)out[0].data)[2] == (INT64_C(1) << 62) + 3);
    done(&n, out, 1);

    axis = 2;
    n = mk_node("CumSum", 2, 1, 0);
    CHECK_STATUS(eval(&n, 14, ins, out), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, out, 1);
}

/* ---- TopK, ArgMax, ArgMin ---- */

static void test_topk(void) {
    /* ties: lower index first; values [3, 1, 3, 2, 1] */
    int32_t x[] = {3, 1, 3, 2, 1};
    int64_t k = 3;
    anvil__tensor tx = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){5}, x);
    anvil__tensor tk = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){1}, &k), out[2];
    anvil__tensor *ins[] = {&tx, &tk};
    one_node n = mk_node("TopK", 2, 2, 0);
    CHECK_OK(eval(&n, 11, ins, out));
    const int32_t *v = out[0].data;
    const int64_t *ix = out[1].data;
    CHECK_EQ(v[0], 3);
    CHECK_EQ(ix[0], 0);
    CHECK_EQ(v[1], 3);
    CHECK_EQ(ix[1], 2);
    CHECK_EQ(v[2], 2);
    CHECK_EQ(ix[2], 3);
    done(&n, out, 2);

    n = mk_node("TopK", 2, 2, 0);
    attr_i(&n, "largest", 0);
    CHECK_OK(eval(&n, 11, ins, out));
    ix = out[1].data;
    CHECK_EQ(ix[0], 1);
    CHECK_EQ(ix[1], 4);
    CHECK_EQ(ix[2], 3);
    done(&n, out, 2);

    k = 6;
    n = mk_node("TopK", 2, 2, 0);
    CHECK_STATUS(eval(&n, 11, ins, out), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, out, 2);

    /* static: K unknown -> axis dim -1 */
    anvil__tensor tku = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){1}, NULL);
    anvil__tensor *ins2[] = {&tx, &tku};
    n = mk_node("TopK", 2, 2, 0);
    CHECK_OK(infer_only(&n, 11, ins2, &out[0]));
    check_dims(&out[0], 1, (int64_t[]){-1});
    done(&n, out, 0);
}

static void test_argminmax(void) {
    /* [[1, 5, 5], [2, 0, 0]] along axis 1 */
    double x[] = {1, 5, 5, 2, 0, 0};
    anvil__tensor tx = tens(ANVIL_DTYPE_F64, 2, (int64_t[]){2, 3}, x), out[1];
    anvil__tensor *ins[] = {&tx};
    one_node n = mk_node("ArgMax", 1, 1, 0);
    attr_i(&n, "axis", 1);
    attr_i(&n, "keepdims", 0);
    CHECK_OK(eval(&n, 13, ins, out));
    check_dims(&out[0], 1, (int64_t[]){2});
    CHECK_EQ(((int64_t *)out[0].data)[0], 1);
    CHECK_EQ(((int64_t *)out[0].data)[1], 0);
    done(&n, out, 1);

    n = mk_node("ArgMin", 1, 1, 0);
    attr_i(&n, "axis", -1);
    attr_i(&n, "select_last_index", 1);
    CHECK_OK(eval(&n, 13, ins, out));
    check_dims(&out[0], 2, (int64_t[]){2, 1});
    CHECK_EQ(((int64_t *)out[0].data)[0], 0);
    CHECK_EQ(((int64_t *)out[0].data)[1], 2);
    done(&n, out, 1);
}

/* ---- Resize / Upsample ---- */

static void test_resize(void) {
    /* linear, half_pixel, [1, 2] to 4: source coords -0.25 0.25 0.75 1.25, clamped at the
     * edges: 1, 1.25, 1.75, 2. */
    float x[] = {1, 2}, scales[] = {2};
    anvil__tensor tx = tens(ANVIL_DTYPE_F32, 1, (int64_t[]){2}, x);
    anvil__tensor ts = tens(ANVIL_DTYPE_F32, 1, (int64_t[]){1}, scales), out[1];
    anvil__tensor *ins[] = {&tx, NULL, &ts};
    one_node n = mk_node("Resize", 3, 1, 2u);
    attr_s(&n, "mode", "linear");
    CHECK_OK(eval(&n, 19, ins, out));
    check_dims(&out[0], 1, (int64_t[]){4});
    const float *o = out[0].data;
    CHECK_NEAR(o[0], 1.0, 1e-6);
    CHECK_NEAR(o[1], 1.25, 1e-6);
    CHECK_NEAR(o[2], 1.75, 1e-6);
    CHECK_NEAR(o[3], 2.0, 1e-6);
    done(&n, out, 1);

    /* nearest asymmetric floor, sizes on axis 1 only of [1, 3] -> [1, 5]:
     * source x * 3/5 = 0, .6, 1.2, 1.8, 2.4 -> 0 0 1 1 2 */
    float y[] = {7, 8, 9};
    int64_t sizes[] = {5};
    anvil__tensor ty = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){1, 3}, y);
    anvil__tensor tz = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){1}, sizes);
    anvil__tensor *ins2[] = {&ty, NULL, NULL, &tz};
    n = mk_node("Resize", 4, 1, 6u);
    attr_s(&n, "coordinate_transformation_mode", "asymmetric");
    attr_s(&n, "nearest_mode", "floor");
    anvil__attr *axes = add_attr(&n, "axes", ANVIL_ATTR_INTS);
    axes->ints = anvil__malloc_array(1, sizeof(int64_t));
    axes->ints[0] = -1;
    axes->n = 1;
    CHECK_OK(eval(&n, 19, ins2, out));
    check_dims(&out[0], 2, (int64_t[]){1, 5});
    const float want[] = {7, 7, 8, 8, 9};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(((float *)out[0].data)[i], want[i]);
    /* static: input dims unknown, sizes known -> the resized axis is known */
    anvil__free(out[0].data);
    ty.dims[0] = -1;
    ty.data = NULL;
    CHECK_OK(infer_only(&n, 19, ins2, &out[0]));
    check_dims(&out[0], 2, (int64_t[]){-1, 5});
    done(&n, out, 0);

    /* a non-positive scale is rejected */
    scales[0] = 0.0f;
    n = mk_node("Resize", 3, 1, 2u);
    CHECK_STATUS(eval(&n, 19, ins, out), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, out, 1);

    /* Upsample-7, scales attribute, nearest: repeat each element twice along axis 0 */
    float u[] = {1, 2};
    anvil__tensor tu = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){2, 1}, u);
    anvil__tensor *ins3[] = {&tu};
    n = mk_node("Upsample", 1, 1, 0);
    attr_floats(&n, "scales", (const float[]){2.0f, 1.0f}, 2);
    CHECK_OK(eval(&n, 7, ins3, out));
    check_dims(&out[0], 2, (int64_t[]){4, 1});
    const float wu[] = {1, 1, 2, 2};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(((float *)out[0].data)[i], wu[i]);
    done(&n, out, 1);
}

/* ---- random indices: every outcome is OK or OUT_OF_RANGE, never a bad access ---- */

static uint32_t rng_state = 12345u;
static int64_t rnd(int64_t lo, int64_t hi) { /* inclusive */
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (int64_t)((rng_state >> 8) % (uint32_t)(hi - lo + 1));
}

/* Gather on random [d0,d1,d2] int32 data (element value = its linear offset) with random
 * indices; in-range results are checked by coordinate arithmetic. */
static void random_gather_once(void) {
    int64_t dd[3] = {rnd(0, 3), rnd(1, 3), rnd(0, 3)}, di[2] = {rnd(0, 3), rnd(1, 2)};
    int32_t data[27], axis = (int32_t)rnd(0, 2), irank = (int32_t)rnd(0, 2);
    int64_t idx[6];
    for (int i = 0; i < 27; i++)
        data[i] = i;
    int64_t n_idx = irank == 0 ? 1 : irank == 1 ? di[0] : di[0] * di[1];
    bool in_range = true;
    for (int i = 0; i < 6; i++) {
        idx[i] = rnd(-4, 4);
        if (i < n_idx) in_range = in_range && idx[i] >= -dd[axis] && idx[i] < dd[axis];
    }
    anvil__tensor td = tens(ANVIL_DTYPE_I32, 3, dd, data);
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, irank, di, idx), out[1];
    anvil__tensor *ins[] = {&td, &ti};
    one_node n = mk_node("Gather", 2, 1, 0);
    attr_i(&n, "axis", axis);
    anvil_status s = eval(&n, 13, ins, out);
    int64_t n_out = anvil__tensor_numel(&out[0]);
    /* An empty output reads nothing, so it may succeed whatever the indices. */
    if (!in_range && !(s == ANVIL_OK && n_out == 0)) CHECK_STATUS(s, ANVIL_STATUS_OUT_OF_RANGE);
    if (in_range) CHECK_OK(s);
    if (s == ANVIL_OK) {
        int64_t before = 1, after = 1;
        for (int d = 0; d < axis; d++)
            before *= dd[d];
        for (int d = axis + 1; d < 3; d++)
            after *= dd[d];
        const int32_t *o = out[0].data;
        for (int64_t b = 0; b < before; b++)
            for (int64_t j = 0; j < n_idx; j++)
                for (int64_t a = 0; a < after; a++) {
                    int64_t v = idx[j] < 0 ? idx[j] + dd[axis] : idx[j];
                    int64_t want = (b * dd[axis] + v) * after + a; /* = the element's value */
                    CHECK_EQ(o[(b * n_idx + j) * after + a], want);
                }
    }
    done(&n, out, 1);
}

/* GatherND / ScatterND / GatherElements with random shapes and indices: no crash (the ASan
 * build checks accesses), and only OK, OUT_OF_RANGE or SHAPE_MISMATCH come back. */
static void random_nd_once(const char *op) {
    int64_t dd[3] = {rnd(1, 3), rnd(1, 3), rnd(1, 3)}, di[2] = {rnd(1, 3), rnd(1, 3)};
    float data[27] = {0}, upd[27] = {0};
    int64_t idx[9];
    for (int i = 0; i < 9; i++)
        idx[i] = rnd(-4, 4);
    bool elements = strcmp(op, "GatherElements") == 0;
    int32_t irank = elements ? 3 : 2;
    int64_t die[3] = {rnd(1, 3), rnd(1, 2), rnd(1, 1)};
    anvil__tensor td = tens(ANVIL_DTYPE_F32, 3, dd, data);
    anvil__tensor ti = tens(ANVIL_DTYPE_I64, irank, elements ? die : di, idx), out[1];
    /* updates shaped as ScatterND wants when k = di[1] fits */
    int64_t du[3] = {di[0], 0, 0};
    int32_t urank = 1;
    for (int64_t d = di[1]; d < 3; d++)
        du[urank++] = dd[d];
    anvil__tensor tu = tens(ANVIL_DTYPE_F32, urank, du, upd);
    anvil__tensor *ins[] = {&td, &ti, &tu};
    bool scatter = strcmp(op, "ScatterND") == 0;
    one_node n = mk_node(op, scatter ? 3 : 2, 1, 0);
    if (strcmp(op, "GatherND") == 0) attr_i(&n, "batch_dims", rnd(0, 1));
    if (elements) attr_i(&n, "axis", rnd(-3, 2));
    anvil_status s = eval(&n, 18, ins, out);
    CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_RANGE || s == ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, out, 1);
}

static void test_random_indices(void) {
    for (int i = 0; i < 400; i++) {
        random_gather_once();
        random_nd_once("GatherND");
        random_nd_once("ScatterND");
        random_nd_once("GatherElements");
    }
}

int main(void) {
    test_gather();
    test_gather_elements();
    test_gather_nd();
    test_scatter_nd();
    test_nonzero();
    test_onehot();
    test_cumsum();
    test_topk();
    test_argminmax();
    test_resize();
    test_random_indices();
    return check_exit();
}
