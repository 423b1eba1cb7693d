/*
 * test_ops_shape.c — unit tests of the shape / data-movement ops (Reshape & co., Shape, Size,
 * Concat, Slice, Split, Transpose, Expand, Tile, Pad, Trilu, Range, Constant,
 * ConstantOfShape, DepthToSpace/SpaceToDepth): static inference with unknown data, error
 * statuses and messages, and results worked out by hand.
 */
#include "check.h"
#include "ops/op.h"

#include <stdlib.h>

#define MAXIO 8

typedef struct one_node {
    anvil__graph *g;
    int32_t id;
} one_node;

static one_node mk(const char *op, int32_t n_in, int32_t n_out) {
    one_node r = {anvil__graph_new(NULL), -1};
    int32_t ins[MAXIO], outs[MAXIO];
    char name[16];
    for (int32_t i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "i%d", (int)i);
        anvil__graph_add_value(r.g, name, &ins[i]);
    }
    for (int32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", (int)i);
        anvil__graph_add_value(r.g, name, &outs[i]);
    }
    anvil__graph_add_node(r.g, "n", op, "", ins, n_in, outs, n_out, &r.id);
    r.g->nodes[r.id].op = anvil__op_find(op, "");
    return r;
}

static anvil__attr *attr(one_node *n, const char *name, anvil__attr_kind kind) {
    anvil__attr *a = NULL;
    if (anvil__node_add_attr(n->g, n->id, name, &a) != ANVIL_OK) abort();
    a->kind = kind;
    return a;
}

static void attr_i(one_node *n, const char *name, int64_t v) {
    attr(n, name, ANVIL_ATTR_INT)->i = v;
}

static void attr_s(one_node *n, const char *name, const char *v) {
    anvil__attr *a = attr(n, name, ANVIL_ATTR_STRING);
    a->s = anvil__strdup(v);
    a->s_len = strlen(v);
}

static void attr_ints(one_node *n, const char *name, const int64_t *v, size_t count) {
    anvil__attr *a = attr(n, name, ANVIL_ATTR_INTS);
    a->ints = anvil__malloc_array(count ? count : 1, sizeof *v);
    memcpy(a->ints, v, count * sizeof *v);
    a->n = count;
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

static anvil__tensor vec64(const int64_t *v, int64_t n) { return tens(ANVIL_DTYPE_I64, 1, &n, v); }

/* validate + infer (+ alloc + run when `run`), like the interpreter. */
static anvil_status eval_(one_node *n, int64_t opset, anvil__tensor **ins, anvil__tensor *outs,
                          bool run) {
    const anvil__node *node = &n->g->nodes[n->id];
    anvil__tensor *optr[MAXIO];
    for (int32_t o = 0; o < node->n_outputs; o++) {
        memset(&outs[o], 0, sizeof outs[o]);
        optr[o] = &outs[o];
    }
    anvil_status s = anvil__op_validate_node(node, opset);
    if (s) return s;
    const anvil__op_def *def = anvil__op_get(node->op);
    anvil__op_ctx ctx = {node, opset, node->n_inputs, ins, node->n_outputs, optr, NULL, NULL};
    s = def->infer(&ctx);
    if (!run) return s;
    for (int32_t o = 0; !s && o < node->n_outputs; o++)
        s = anvil__tensor_alloc(&outs[o]);
    if (!s) s = def->run(&ctx);
    return s;
}

static anvil_status eval(one_node *n, int64_t opset, anvil__tensor **ins, anvil__tensor *outs) {
    return eval_(n, opset, ins, outs, true);
}

static anvil_status infer(one_node *n, int64_t opset, anvil__tensor **ins, anvil__tensor *outs) {
    return eval_(n, opset, ins, outs, false);
}

static void done(one_node *n, anvil__tensor *outs, int32_t n_out) {
    for (int32_t o = 0; o < n_out; o++)
        anvil__free(outs[o].data);
    anvil__graph_destroy(n->g);
}

static void check_shape(const anvil__tensor *t, int32_t rank, const int64_t *dims) {
    CHECK_EQ(t->rank, rank);
    for (int32_t d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], dims[d]);
}

static void check_f32(const anvil__tensor *t, const float *want, int64_t n) {
    CHECK_EQ(anvil__tensor_numel(t), n);
    for (int64_t i = 0; i < n && t->data; i++)
        CHECK_EQ(((const float *)t->data)[i], want[i]);
}

static void check_i64(const anvil__tensor *t, const int64_t *want, int64_t n) {
    CHECK_EQ(anvil__tensor_numel(t), n);
    for (int64_t i = 0; i < n && t->data; i++)
        CHECK_EQ(((const int64_t *)t->data)[i], want[i]);
}

static float iota_f[720];

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

static void test_reshape(void) {
    int64_t xd[] = {2, 3, 4}, sd[] = {3}, shape[] = {0, -1};
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 3, xd, iota_f), s = vec64(shape, 2), y[1];
    anvil__tensor *ins[] = {&x, &s};
    one_node n = mk("Reshape", 2, 1);
    CHECK_OK(eval(&n, 14, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 12});
    check_f32(&y[0], iota_f, 24);
    done(&n, y, 1);

    /* Unknown shape data: rank from the shape input's length, dims unknown. */
    anvil__tensor s_unknown = tens(ANVIL_DTYPE_I64, 1, sd, NULL);
    ins[1] = &s_unknown;
    n = mk("Reshape", 2, 1);
    CHECK_OK(infer(&n, 14, ins, y));
    check_shape(&y[0], 3, (int64_t[]){-1, -1, -1});
    /* Unknown input dims with a known shape: -1 cannot be resolved, the rest can. */
    anvil__tensor x_unknown = tens(ANVIL_DTYPE_F32, 3, (int64_t[]){-1, 3, 4}, NULL);
    ins[0] = &x_unknown;
    int64_t shape2[] = {-1, 3, 0};
    s = vec64(shape2, 3);
    ins[1] = &s;
    CHECK_OK(infer(&n, 14, ins, y));
    check_shape(&y[0], 3, (int64_t[]){-1, 3, 4});
    done(&n, y, 0);

    ins[0] = &x;
    int64_t two_neg[] = {-1, -1}, wrong[] = {5, 5}, zero_idx[] = {1, 1, 1, 0};
    struct {
        const int64_t *v;
        int64_t n;
        anvil_status want;
        const char *msg;
    } bad[] = {
        {two_neg, 2, ANVIL_STATUS_INVALID_ARGUMENT, "more than one -1"},
        {wrong, 2, ANVIL_STATUS_SHAPE_MISMATCH, "2x3x4"},
        {zero_idx, 4, ANVIL_STATUS_INVALID_ARGUMENT, "rank 3"},
        {(int64_t[]){-2, 12}, 2, ANVIL_STATUS_INVALID_ARGUMENT, "-2"},
        {(int64_t[]){7, -1}, 2, ANVIL_STATUS_SHAPE_MISMATCH, "7x"},
        {(int64_t[]){INT64_MAX, 4, 4}, 3, ANVIL_STATUS_LIMIT_EXCEEDED, "overflow"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = vec64(bad[i].v, bad[i].n);
        n = mk("Reshape", 2, 1);
        CHECK_STATUS(infer(&n, 14, ins, y), bad[i].want);
        if (i == 1) CHECK_CONTAINS(anvil_last_error(), "5x5");
        CHECK_CONTAINS(anvil_last_error(), bad[i].msg);
        done(&n, y, 0);
    }

    /* allowzero: a 0 is a real zero-size dim. */
    anvil__tensor empty = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){0, 3}, iota_f);
    int64_t z[] = {3, 0};
    s = vec64(z, 2);
    ins[0] = &empty;
    n = mk("Reshape", 2, 1);
    attr_i(&n, "allowzero", 1);
    CHECK_OK(eval(&n, 14, ins, y));
    check_shape(&y[0], 2, (int64_t[]){3, 0});
    done(&n, y, 1);
}

static void test_flatten_squeeze(void) {
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 4, (int64_t[]){2, 1, 3, 1}, iota_f), y[1];
    anvil__tensor *ins[] = {&x, NULL};
    int64_t axes[] = {-1, 1};
    one_node n = mk("Flatten", 1, 1);
    attr_i(&n, "axis", -1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){6, 1});
    done(&n, y, 1);
    n = mk("Flatten", 1, 1);
    attr_i(&n, "axis", 5);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, y, 0);

    /* Squeeze without axes removes every 1; opset 11 axes attribute; opset 13 input. */
    n = mk("Squeeze", 1, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    done(&n, y, 1);
    n = mk("Squeeze", 1, 1);
    attr_ints(&n, "axes", axes, 1);
    CHECK_OK(infer(&n, 11, ins, y));
    check_shape(&y[0], 3, (int64_t[]){2, 1, 3});
    done(&n, y, 0);
    anvil__tensor a = vec64(axes, 2);
    ins[1] = &a;
    n = mk("Squeeze", 2, 1);
    CHECK_OK(infer(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    a = vec64((int64_t[]){2}, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "axis 2 of size 3");
    a = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){2}, NULL);
    CHECK_OK(infer(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){-1, -1});
    done(&n, y, 0);

    /* Unsqueeze: axes count against the output rank; duplicates fail. */
    anvil__tensor x2 = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){3, 4}, iota_f);
    ins[0] = &x2;
    a = vec64((int64_t[]){0, -1}, 2);
    n = mk("Unsqueeze", 2, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 4, (int64_t[]){1, 3, 4, 1});
    check_f32(&y[0], iota_f, 12);
    a = vec64((int64_t[]){1, -3}, 2);
    anvil__free(y[0].data);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "repeated");
    a = vec64((int64_t[]){4}, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_OUT_OF_RANGE);
    done(&n, y, 0);
    n = mk("Unsqueeze", 1, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_GRAPH); /* axes input required */
    done(&n, y, 0);
}

static void test_shape_size(void) {
    anvil__tensor x = tens(ANVIL_DTYPE_U8, 4, (int64_t[]){2, 3, 4, 5}, NULL), y[1];
    anvil__tensor *ins[] = {&x};
    static uint8_t bytes[120];
    one_node n = mk("Shape", 1, 1);
    attr_i(&n, "start", -3);
    attr_i(&n, "end", -1);
    x.data = bytes;
    CHECK_OK(eval(&n, 15, ins, y));
    check_i64(&y[0], (int64_t[]){3, 4}, 2);
    done(&n, y, 1);
    n = mk("Shape", 1, 1);
    attr_i(&n, "start", 10);
    CHECK_OK(eval(&n, 15, ins, y));
    check_shape(&y[0], 1, (int64_t[]){0});
    done(&n, y, 1);
    x.rank = -1;
    n = mk("Shape", 1, 1);
    CHECK_OK(infer(&n, 15, ins, y));
    check_shape(&y[0], 1, (int64_t[]){-1});
    done(&n, y, 0);
    x = tens(ANVIL_DTYPE_U8, 4, (int64_t[]){2, 3, 4, 5}, bytes);
    n = mk("Size", 1, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    CHECK_EQ(y[0].rank, 0);
    check_i64(&y[0], (int64_t[]){120}, 1);
    done(&n, y, 1);
}

/* ---- Concat, Slice, Split ---- */

static void test_concat(void) {
    int16_t a[] = {1, 2, 3, 4}, b[] = {5, 6};
    anvil__tensor ta = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){2, 2}, a);
    anvil__tensor tb = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){2, 1}, b), y[1];
    anvil__tensor *ins[] = {&ta, &tb};
    one_node n = mk("Concat", 2, 1);
    attr_i(&n, "axis", -1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    int16_t want[] = {1, 2, 5, 3, 4, 6};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(((int16_t *)y[0].data)[i], want[i]);
    anvil__free(y[0].data);
    /* Static: an unknown dim on the axis makes the sum unknown; other dims are merged. */
    anvil__tensor ua = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){-1, 2}, NULL);
    anvil__tensor ub = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){4, -1}, NULL);
    ins[0] = &ua, ins[1] = &ub;
    CHECK_OK(infer(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){4, -1});
    ins[0] = &ta;
    tb.dtype = ANVIL_DTYPE_I32;
    ins[1] = &tb;
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_DTYPE_MISMATCH);
    tb = tens(ANVIL_DTYPE_I16, 2, (int64_t[]){3, 1}, b);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "3x1");
    done(&n, y, 0);
    n = mk("Concat", 2, 1); /* axis is required from opset 4 */
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);
}

static void test_slice(void) {
    int64_t xv[10];
    for (int i = 0; i < 10; i++)
        xv[i] = i;
    anvil__tensor x = vec64(xv, 10), y[1];
    anvil__tensor st = vec64((int64_t[]){-1}, 1), en = vec64((int64_t[]){INT64_MIN}, 1);
    anvil__tensor ax = vec64((int64_t[]){0}, 1), sp = vec64((int64_t[]){-3}, 1);
    anvil__tensor *ins[] = {&x, &st, &en, &ax, &sp};
    one_node n = mk("Slice", 5, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_i64(&y[0], (int64_t[]){9, 6, 3, 0}, 4);
    anvil__free(y[0].data);
    /* Out-of-range starts/ends clamp; a huge step takes one element. */
    st = vec64((int64_t[]){-100}, 1), en = vec64((int64_t[]){100}, 1);
    sp = vec64((int64_t[]){INT64_MAX}, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_i64(&y[0], (int64_t[]){0}, 1);
    anvil__free(y[0].data);
    sp = vec64((int64_t[]){INT64_MIN}, 1), st = vec64((int64_t[]){5}, 1);
    en = vec64((int64_t[]){-100}, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_i64(&y[0], (int64_t[]){5}, 1);
    anvil__free(y[0].data);
    sp = vec64((int64_t[]){0}, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    sp = vec64((int64_t[]){1}, 1), ax = vec64((int64_t[]){1}, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_OUT_OF_RANGE);
    ax = vec64((int64_t[]){0, 0}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    /* Unknown starts: dims of the sliced axes unknown. */
    anvil__tensor x2 = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){4, 5}, NULL);
    ins[0] = &x2;
    st = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){1}, NULL);
    ax = vec64((int64_t[]){-1}, 1);
    CHECK_OK(infer(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){4, -1});
    done(&n, y, 0);

    /* Opset 9: attributes; 2-D slice with default axes. */
    anvil__tensor x3 = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){4, 5}, iota_f);
    anvil__tensor *ins1[] = {&x3};
    n = mk("Slice", 1, 1);
    attr_ints(&n, "starts", (int64_t[]){1, -2}, 2);
    attr_ints(&n, "ends", (int64_t[]){3, 1000}, 2);
    CHECK_OK(eval(&n, 9, ins1, y));
    check_shape(&y[0], 2, (int64_t[]){2, 2});
    check_f32(&y[0], (float[]){8, 9, 13, 14}, 4);
    done(&n, y, 1);
}

static void test_split(void) {
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){2, 7}, iota_f), y[3];
    anvil__tensor *ins[] = {&x, NULL};
    one_node n = mk("Split", 1, 3);
    attr_i(&n, "axis", 1);
    attr_i(&n, "num_outputs", 3);
    CHECK_OK(eval(&n, 18, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    check_shape(&y[2], 2, (int64_t[]){2, 1});
    check_f32(&y[1], (float[]){3, 4, 5, 10, 11, 12}, 6);
    check_f32(&y[2], (float[]){6, 13}, 2);
    done(&n, y, 3);
    n = mk("Split", 1, 2);
    attr_i(&n, "num_outputs", 3);
    CHECK_STATUS(infer(&n, 18, ins, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);

    anvil__tensor sp = vec64((int64_t[]){2, 4}, 2);
    ins[1] = &sp;
    n = mk("Split", 2, 2);
    attr_i(&n, "axis", -1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "sum to 6");
    sp = vec64((int64_t[]){9, -2}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    sp = vec64((int64_t[]){0, 7}, 2);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 0});
    check_f32(&y[1], iota_f, 14);
    done(&n, y, 2);
}

/* ---- Transpose, Expand, Tile, DepthToSpace / SpaceToDepth, Trilu ---- */

static void test_transpose(void) {
    uint8_t v[24];
    for (int i = 0; i < 24; i++)
        v[i] = (uint8_t)i;
    anvil__tensor x = tens(ANVIL_DTYPE_U8, 3, (int64_t[]){2, 3, 4}, v), y[1];
    anvil__tensor *ins[] = {&x};
    one_node n = mk("Transpose", 1, 1);
    attr_ints(&n, "perm", (int64_t[]){1, 2, 0}, 3);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 3, (int64_t[]){3, 4, 2});
    const uint8_t *o = y[0].data;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++)
                CHECK_EQ(o[(i * 4 + j) * 2 + k], v[(k * 3 + i) * 4 + j]);
    done(&n, y, 1);
    n = mk("Transpose", 1, 1); /* default: reversed */
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 3, (int64_t[]){4, 3, 2});
    CHECK_EQ(((uint8_t *)y[0].data)[1], 12);
    done(&n, y, 1);
    n = mk("Transpose", 1, 1);
    attr_ints(&n, "perm", (int64_t[]){0, 0, 1}, 3);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);
}

static void test_expand_tile(void) {
    float v[] = {1, 2, 3};
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 2, (int64_t[]){3, 1}, v), y[1];
    anvil__tensor s = vec64((int64_t[]){2, 1, 2}, 3);
    anvil__tensor *ins[] = {&x, &s};
    one_node n = mk("Expand", 2, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 3, (int64_t[]){2, 3, 2});
    check_f32(&y[0], (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12);
    anvil__free(y[0].data);
    s = vec64((int64_t[]){2, 2}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    s = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){4}, NULL);
    CHECK_OK(infer(&n, 13, ins, y));
    check_shape(&y[0], 4, (int64_t[]){-1, -1, -1, -1});
    done(&n, y, 0);

    anvil__tensor r = vec64((int64_t[]){2, 2}, 2);
    ins[1] = &r;
    n = mk("Tile", 2, 1);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 2, (int64_t[]){6, 2});
    check_f32(&y[0], (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12);
    anvil__free(y[0].data);
    r = vec64((int64_t[]){1, -1}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    r = vec64((int64_t[]){1}, 1);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    r = vec64((int64_t[]){INT64_MAX / 2, 1}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_LIMIT_EXCEEDED);
    done(&n, y, 0);
}

static void test_space_depth(void) {
    float v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 4, (int64_t[]){1, 8, 1, 1}, v), y[1];
    anvil__tensor *ins[] = {&x};
    one_node n = mk("DepthToSpace", 1, 1);
    attr_i(&n, "blocksize", 2);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 4, (int64_t[]){1, 2, 2, 2});
    check_f32(&y[0], (float[]){0, 2, 4, 6, 1, 3, 5, 7}, 8); /* out[c][i][j] = in[(2i+j)*2+c] */
    done(&n, y, 1);
    n = mk("DepthToSpace", 1, 1);
    attr_i(&n, "blocksize", 2);
    attr_s(&n, "mode", "CRD");
    CHECK_OK(eval(&n, 13, ins, y));
    check_f32(&y[0], v, 8); /* out[c][i][j] = in[c*4+2i+j] */
    done(&n, y, 1);
    n = mk("DepthToSpace", 1, 1);
    attr_i(&n, "blocksize", 3);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, y, 0);

    /* SpaceToDepth undoes DepthToSpace (DCR) on a bigger tensor. */
    anvil__tensor big = tens(ANVIL_DTYPE_F32, 4, (int64_t[]){2, 3, 4, 6}, iota_f), z[1];
    ins[0] = &big;
    n = mk("SpaceToDepth", 1, 1);
    attr_i(&n, "blocksize", 2);
    CHECK_OK(eval(&n, 13, ins, y));
    check_shape(&y[0], 4, (int64_t[]){2, 12, 2, 3});
    CHECK_EQ(((float *)y[0].data)[1], 2.0f);  /* channel 0 = (i=0,j=0,c=0): in[0][0][0][2] */
    CHECK_EQ(((float *)y[0].data)[6], 24.0f); /* channel 1 = (i=0,j=0,c=1): in[0][1][0][0] */
    CHECK_EQ(((float *)y[0].data)[18], 1.0f); /* channel 3 = (i=0,j=1,c=0): in[0][0][0][1] */
    one_node m = mk("DepthToSpace", 1, 1);
    attr_i(&m, "blocksize", 2);
    anvil__tensor *ins2[] = {&y[0]};
    CHECK_OK(eval(&m, 13, ins2, z));
    check_f32(&z[0], iota_f, 144);
    done(&m, z, 1);
    done(&n, y, 1);
}

static void test_trilu(void) {
    int32_t v[12];
    for (int i = 0; i < 12; i++)
        v[i] = i + 1;
    anvil__tensor x = tens(ANVIL_DTYPE_I32, 2, (int64_t[]){3, 4}, v), y[1];
    anvil__tensor k = tens(ANVIL_DTYPE_I64, 0, NULL, (int64_t[]){1});
    anvil__tensor *ins[] = {&x, &k};
    one_node n = mk("Trilu", 2, 1);
    CHECK_OK(eval(&n, 14, ins, y));
    int32_t up[] = {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12};
    for (int i = 0; i < 12; i++)
        CHECK_EQ(((int32_t *)y[0].data)[i], up[i]);
    done(&n, y, 1);
    n = mk("Trilu", 2, 1);
    attr_i(&n, "upper", 0);
    k = tens(ANVIL_DTYPE_I64, 0, NULL, (int64_t[]){-1});
    CHECK_OK(eval(&n, 14, ins, y));
    int32_t lo[] = {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0};
    for (int i = 0; i < 12; i++)
        CHECK_EQ(((int32_t *)y[0].data)[i], lo[i]);
    anvil__free(y[0].data);
    k = tens(ANVIL_DTYPE_I64, 0, NULL, (int64_t[]){INT64_MIN});
    CHECK_OK(eval(&n, 14, ins, y));
    for (int i = 0; i < 12; i++)
        CHECK_EQ(((int32_t *)y[0].data)[i], 0);
    done(&n, y, 1);
    anvil__tensor v1 = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){3}, v);
    ins[0] = &v1;
    n = mk("Trilu", 1, 1);
    CHECK_STATUS(infer(&n, 14, ins, y), ANVIL_STATUS_SHAPE_MISMATCH);
    done(&n, y, 0);
}

/* ---- Pad ---- */

static void pad_case(const char *mode, const int64_t *pads, const float *want, int64_t n_want) {
    float v[] = {1, 2, 3};
    anvil__tensor x = tens(ANVIL_DTYPE_F32, 1, (int64_t[]){3}, v), p = vec64(pads, 2), y[1];
    anvil__tensor c = tens(ANVIL_DTYPE_F32, 0, NULL, (float[]){9});
    anvil__tensor *ins[] = {&x, &p, &c};
    one_node n = mk("Pad", 3, 1);
    attr_s(&n, "mode", mode);
    CHECK_OK(eval(&n, 19, ins, y));
    check_f32(&y[0], want, n_want);
    done(&n, y, 1);
}

static void test_pad(void) {
    pad_case("reflect", (int64_t[]){2, 3}, (float[]){3, 2, 1, 2, 3, 2, 1, 2}, 8);
    pad_case("edge", (int64_t[]){2, 3}, (float[]){1, 1, 1, 2, 3, 3, 3, 3}, 8);
    pad_case("wrap", (int64_t[]){2, 3}, (float[]){2, 3, 1, 2, 3, 1, 2, 3}, 8);
    pad_case("constant", (int64_t[]){-1, 1}, (float[]){2, 3, 9}, 3);
    pad_case("reflect", (int64_t[]){5, 0}, (float[]){2, 1, 2, 3, 2, 1, 2, 3}, 8);

    /* Opset 2: pads and value attributes, on an i8 2-D tensor. */
    int8_t v[] = {1, 2, 3, 4};
    anvil__tensor x = tens(ANVIL_DTYPE_I8, 2, (int64_t[]){2, 2}, v), y[1];
    anvil__tensor *ins[] = {&x, NULL, NULL, NULL};
    one_node n = mk("Pad", 1, 1);
    attr_ints(&n, "pads", (int64_t[]){1, 0, 0, 1}, 4);
    attr(&n, "value", ANVIL_ATTR_FLOAT)->f = -5;
    CHECK_OK(eval(&n, 2, ins, y));
    check_shape(&y[0], 2, (int64_t[]){3, 3});
    int8_t want[] = {-5, -5, -5, 1, 2, -5, 3, 4, -5};
    for (int i = 0; i < 9; i++)
        CHECK_EQ(((int8_t *)y[0].data)[i], want[i]);
    done(&n, y, 1);

    /* Opset 18 axes input; errors for crops past the dim and for bad lengths. */
    anvil__tensor p = vec64((int64_t[]){1, 2}, 2), ax = vec64((int64_t[]){-1}, 1);
    ins[1] = &p, ins[3] = &ax;
    n = mk("Pad", 4, 1);
    CHECK_OK(eval(&n, 18, ins, y));
    check_shape(&y[0], 2, (int64_t[]){2, 5});
    int8_t want2[] = {0, 1, 2, 0, 0, 0, 3, 4, 0, 0};
    for (int i = 0; i < 10; i++)
        CHECK_EQ(((int8_t *)y[0].data)[i], want2[i]);
    anvil__free(y[0].data);
    p = vec64((int64_t[]){-2, -1}, 2);
    CHECK_STATUS(infer(&n, 18, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "gives size -1");
    p = vec64((int64_t[]){1, 2, 3}, 3);
    CHECK_STATUS(infer(&n, 18, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    p = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){2}, NULL);
    CHECK_OK(infer(&n, 18, ins, y));
    check_shape(&y[0], 2, (int64_t[]){-1, -1});
    done(&n, y, 0);
    n = mk("Pad", 2, 1);
    attr_s(&n, "mode", "mirror");
    CHECK_STATUS(infer(&n, 18, ins, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);
}

/* ---- Range, Constant, ConstantOfShape ---- */

static void test_range(void) {
    int32_t s = 10, l = 1, d = -3;
    anvil__tensor ts = tens(ANVIL_DTYPE_I32, 0, NULL, &s), tl = tens(ANVIL_DTYPE_I32, 0, NULL, &l);
    anvil__tensor td = tens(ANVIL_DTYPE_I32, 0, NULL, &d), y[1];
    anvil__tensor *ins[] = {&ts, &tl, &td};
    one_node n = mk("Range", 3, 1);
    CHECK_OK(eval(&n, 11, ins, y));
    CHECK_EQ(y[0].dtype, ANVIL_DTYPE_I32);
    check_shape(&y[0], 1, (int64_t[]){3});
    for (int i = 0; i < 3; i++)
        CHECK_EQ(((int32_t *)y[0].data)[i], 10 - 3 * i);
    anvil__free(y[0].data);
    d = 0;
    CHECK_STATUS(infer(&n, 11, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    d = 3; /* limit below start with a positive delta: empty */
    CHECK_OK(infer(&n, 11, ins, y));
    check_shape(&y[0], 1, (int64_t[]){0});
    td.data = NULL;
    CHECK_OK(infer(&n, 11, ins, y));
    check_shape(&y[0], 1, (int64_t[]){-1});
    td.dtype = ANVIL_DTYPE_I64;
    CHECK_STATUS(infer(&n, 11, ins, y), ANVIL_STATUS_DTYPE_MISMATCH);
    /* i64 range of 2^64 - 1 elements: no overflow, just too large. */
    int64_t ls = INT64_MIN, ll = INT64_MAX, ld = 1;
    ts = tens(ANVIL_DTYPE_I64, 0, NULL, &ls), tl = tens(ANVIL_DTYPE_I64, 0, NULL, &ll);
    td = tens(ANVIL_DTYPE_I64, 0, NULL, &ld);
    CHECK_STATUS(infer(&n, 11, ins, y), ANVIL_STATUS_LIMIT_EXCEEDED);
    float fs = 0, fl = 1e30f, fd = 1;
    ts = tens(ANVIL_DTYPE_F32, 0, NULL, &fs), tl = tens(ANVIL_DTYPE_F32, 0, NULL, &fl);
    td = tens(ANVIL_DTYPE_F32, 0, NULL, &fd);
    CHECK_STATUS(infer(&n, 11, ins, y), ANVIL_STATUS_LIMIT_EXCEEDED);
    fl = 1.0f, fd = 0.25f, fs = -0.1f;
    CHECK_OK(eval(&n, 11, ins, y));
    check_shape(&y[0], 1, (int64_t[]){5}); /* ceil(1.1 / 0.25) */
    CHECK_NEAR(((float *)y[0].data)[4], 0.9, 1e-6);
    done(&n, y, 1);
}

static void test_constant(void) {
    anvil__tensor y[1];
    one_node n = mk("Constant", 0, 1);
    attr_ints(&n, "value_ints", (int64_t[]){4, 5, 6}, 3);
    CHECK_OK(eval(&n, 13, NULL, y));
    check_i64(&y[0], (int64_t[]){4, 5, 6}, 3);
    done(&n, y, 1);

    n = mk("Constant", 0, 1);
    anvil__attr *a = attr(&n, "value", ANVIL_ATTR_TENSOR);
    uint16_t *data = anvil__malloc(6 * sizeof *data);
    for (int i = 0; i < 6; i++)
        data[i] = (uint16_t)(100 + i);
    a->t = tens(ANVIL_DTYPE_U16, 2, (int64_t[]){2, 3}, data);
    CHECK_OK(eval(&n, 13, NULL, y));
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    CHECK_EQ(((uint16_t *)y[0].data)[5], 105);
    done(&n, y, 1);

    n = mk("Constant", 0, 1);
    attr_s(&n, "value_string", "hi");
    CHECK_STATUS(infer(&n, 13, NULL, y), ANVIL_STATUS_UNSUPPORTED);
    done(&n, y, 0);
    n = mk("Constant", 0, 1);
    attr_i(&n, "value_int", 1);
    attr_i(&n, "value_float", 1);
    CHECK_STATUS(infer(&n, 13, NULL, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);
    n = mk("Constant", 0, 1);
    a = attr(&n, "value", ANVIL_ATTR_TENSOR);
    a->t = tens(ANVIL_DTYPE_F32, 1, (int64_t[]){4}, anvil__malloc(8));
    a->t.bytes = 8; /* 4 floats need 16 bytes */
    CHECK_STATUS(infer(&n, 13, NULL, y), ANVIL_STATUS_INVALID_GRAPH);
    done(&n, y, 0);

    /* ConstantOfShape: i32 value; default f32 zeros; unknown shape data. */
    anvil__tensor s = vec64((int64_t[]){2, 3}, 2);
    anvil__tensor *ins[] = {&s};
    n = mk("ConstantOfShape", 1, 1);
    a = attr(&n, "value", ANVIL_ATTR_TENSOR);
    int32_t *seven = anvil__malloc(sizeof *seven);
    *seven = 7;
    a->t = tens(ANVIL_DTYPE_I32, 1, (int64_t[]){1}, seven);
    CHECK_OK(eval(&n, 13, ins, y));
    CHECK_EQ(y[0].dtype, ANVIL_DTYPE_I32);
    check_shape(&y[0], 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++)
        CHECK_EQ(((int32_t *)y[0].data)[i], 7);
    done(&n, y, 1);
    n = mk("ConstantOfShape", 1, 1);
    s = tens(ANVIL_DTYPE_I64, 1, (int64_t[]){3}, NULL);
    CHECK_OK(infer(&n, 13, ins, y));
    CHECK_EQ(y[0].dtype, ANVIL_DTYPE_F32);
    check_shape(&y[0], 3, (int64_t[]){-1, -1, -1});
    s = vec64((int64_t[]){2, -3}, 2);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_INVALID_ARGUMENT);
    s = vec64((int64_t[]){1 << 20, 1 << 20, 1 << 20}, 3);
    CHECK_STATUS(infer(&n, 13, ins, y), ANVIL_STATUS_LIMIT_EXCEEDED);
    done(&n, y, 0);
}

int main(void) {
    for (int i = 0; i < 720; i++)
        iota_f[i] = (float)i;
    test_reshape();
    test_flatten_squeeze();
    test_shape_size();
    test_concat();
    test_slice();
    test_split();
    test_transpose();
    test_expand_tile();
    test_space_depth();
    test_trilu();
    test_pad();
    test_range();
    test_constant();
    return check_exit();
}
