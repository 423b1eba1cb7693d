/*
 * select_ops.c — NonZero, OneHot and CumSum: validation, shape inference and reference
 * kernels for every dtype (elements move as raw bytes; CumSum accumulates exactly for integers
 * and rounds to the element type after each step for floats, like numpy). TopK and
 * ArgMax/ArgMin live in topk_argminmax.c.
 */
#include "ops/op.h"

#include <string.h>

static size_t prod(const int64_t *dims, int32_t from, int32_t to) {
    size_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= (size_t)dims[d];
    return p;
}

/* ---- NonZero: i64 [rank, count] coordinates of the non-zero elements, row-major order ---- */

anvil_status anvil__op_nonzero_validate(const anvil__node *node, int64_t opset) {
    (void)node;
    (void)opset;
    return ANVIL_OK;
}

static bool elem_nonzero(anvil_dtype dt, const void *data, size_t i) {
    if (anvil__dtype_is_float(dt)) return anvil__load_f64(dt, data, i) != 0.0; /* NaN counts */
    return anvil__load_i64(dt, data, i) != 0;
}

anvil_status anvil__op_nonzero_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status narrow = anvil__reject_narrow(ctx);
    if (narrow != ANVIL_OK) return narrow;
    /* A scalar is treated as a 1-element vector (one coordinate row), as ONNX Runtime does. */
    int64_t dims[2] = {x->rank < 0 ? -1 : x->rank == 0 ? 1 : x->rank, -1};
    if (x->data) {
        size_t numel = (size_t)anvil__tensor_numel(x), count = 0;
        for (size_t i = 0; i < numel; i++)
            count += elem_nonzero(x->dtype, x->data, i);
        dims[1] = (int64_t)count;
    }
    return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, 2, dims);
}

anvil_status anvil__op_nonzero_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *out = ctx->outputs[0];
    int32_t rank = x->rank;
    size_t numel = (size_t)anvil__tensor_numel(x), count = (size_t)out->dims[1], c = 0;
    int64_t *o = out->data, coord[ANVIL_MAX_RANK] = {0};
    for (size_t i = 0; i < numel; i++) {
        if (elem_nonzero(x->dtype, x->data, i)) {
            if (c >= count) /* infer counted the same data: a mismatch is a bug */
                return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL,
                                         "non-zero count changed since shape inference");
            for (int32_t d = 0; d < rank; d++)
                o[(size_t)d * count + c] = coord[d];
            c++;
        }
        for (int32_t d = rank - 1; d >= 0; d--) {
            if (++coord[d] < x->dims[d]) break;
            coord[d] = 0;
        }
    }
    return ANVIL_OK;
}

/* ---- OneHot ---- */

anvil_status anvil__op_onehot_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    return anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
}

/* depth: a scalar or 1-element tensor of any numeric dtype, cast to an integer. */
static anvil_status read_depth(const anvil__node *n, const anvil__tensor *t, int64_t *depth) {
    double d;
    anvil_status s = anvil__read_scalar(n, t, &d);
    if (s != ANVIL_OK) return s;
    if (!(d >= 1.0 && d < 9.0e15)) /* also rejects NaN */
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                 "depth must be a positive integer, got %g", d);
    *depth = (int64_t)d;
    return ANVIL_OK;
}

anvil_status anvil__op_onehot_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *ind = ctx->inputs[0], *depth_t = ctx->inputs[1], *vals = ctx->inputs[2];
    if (vals->rank >= 0) {
        int64_t nv = anvil__tensor_numel(vals);
        if (vals->rank > 1 || (nv >= 0 && nv != 2))
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "values must be a 1-D tensor of 2 elements [off, on]");
    }
    if (ind->rank < 0) return anvil__set_output(ctx, 0, vals->dtype, -1, NULL);
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", -1), ind->rank + 1, &axis);
    if (s != ANVIL_OK) return s;
    int64_t depth = -1;
    if (depth_t->data && (s = read_depth(n, depth_t, &depth)) != ANVIL_OK) return s;
    int64_t dims[ANVIL_MAX_RANK + 1];
    int32_t r = 0;
    for (int32_t d = 0; d <= ind->rank; d++) {
        if (d == axis) dims[r++] = depth;
        if (d < ind->rank) dims[r++] = ind->dims[d];
    }
    return anvil__set_output(ctx, 0, vals->dtype, r, dims);
}

/* Index element i as an integer class in [0, depth), or -1 (an all-off row) when it is out
 * of [-depth, depth - 1]. Non-integer indices are truncated, as a cast to int64 would. */
static int64_t onehot_class(const anvil__tensor *ind, size_t i, int64_t depth) {
    int64_t v;
    if (anvil__dtype_is_float(ind->dtype)) {
        double f = anvil__load_f64(ind->dtype, ind->data, i);
        if (!(f > -(double)depth - 1.0 && f < (double)depth + 1.0)) return -1;
        v = (int64_t)f;
    } else {
        v = anvil__load_i64(ind->dtype, ind->data, i);
        if (ind->dtype == ANVIL_DTYPE_U64 && v < 0) return -1; /* above INT64_MAX */
    }
    if (v < 0) v += depth;
    return v >= 0 && v < depth ? v : -1;
}

anvil_status anvil__op_onehot_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *ind = ctx->inputs[0], *vals = ctx->inputs[2];
    anvil__tensor *out = ctx->outputs[0];
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", -1), ind->rank + 1, &axis);
    if (s != ANVIL_OK) return s;
    int64_t depth = out->dims[axis];
    size_t es = anvil_dtype_size(vals->dtype), total = (size_t)anvil__tensor_numel(out);
    const char *off = vals->data, *on = off + es;
    char *o = out->data;
    for (size_t i = 0; i < total; i++)
        memcpy(o + i * es, off, es);
    size_t outer = prod(ind->dims, 0, axis), inner = prod(ind->dims, axis, ind->rank);
    for (size_t a = 0; a < outer; a++) {
        for (size_t j = 0; j < inner; j++) {
            int64_t c = onehot_class(ind, a * inner + j, depth);
            if (c >= 0) memcpy(o + ((a * (size_t)depth + (size_t)c) * inner + j) * es, on, es);
        }
    }
    return ANVIL_OK;
}

/* ---- CumSum ---- */

anvil_status anvil__op_cumsum_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    anvil_status s = anvil__attr_expect(node, "exclusive", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "reverse", ANVIL_ATTR_INT);
    return s;
}

static anvil_status cumsum_axis(const anvil__op_ctx *ctx, int32_t *axis) {
    const anvil__tensor *x = ctx->inputs[0], *a = ctx->inputs[1];
    int64_t v;
    size_t count;
    if (a->rank > 1)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "axis must be a scalar, got rank %d", (int)a->rank);
    anvil_status s = anvil__read_ints(ctx->node, a, &v, 1, &count);
    if (s == ANVIL_OK && count != 1)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "axis must hold one value, got %zu", count);
    if (s == ANVIL_OK && x->rank >= 0) s = anvil__axis(ctx->node, v, x->rank, axis);
    return s;
}

anvil_status anvil__op_cumsum_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *a = ctx->inputs[1];
    if (x->dtype == ANVIL_DTYPE_BOOL)
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "CumSum does not take dtype %s", anvil_dtype_name(x->dtype));
    if (a->data) {
        int32_t axis;
        anvil_status s = cumsum_axis(ctx, &axis);
        if (s != ANVIL_OK) return s;
    }
    return anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_cumsum_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *out = ctx->outputs[0];
    int32_t axis = 0;
    anvil_status s = x->rank > 0 ? cumsum_axis(ctx, &axis) : ANVIL_OK;
    if (s != ANVIL_OK) return s;
    bool exclusive = anvil__attr_int(ctx->node, "exclusive", 0) != 0;
    bool reverse = anvil__attr_int(ctx->node, "reverse", 0) != 0;
    anvil_dtype dt = x->dtype;
    bool fp = anvil__dtype_is_float(dt);
    size_t len = x->rank > 0 ? (size_t)x->dims[axis] : 1;
    size_t outer = x->rank > 0 ? prod(x->dims, 0, axis) : 1;
    size_t inner = x->rank > 0 ? prod(x->dims, axis + 1, x->rank) : 1;
    uint64_t tmp; /* one element of dtype dt, to round a float sum to that dtype */
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < inner; j++) {
            double facc = 0.0;
            uint64_t iacc = 0; /* wrapping integer sum */
            for (size_t t = 0; t < len; t++) {
                size_t pos = reverse ? len - 1 - t : t, i = (o * len + pos) * inner + j;
                if (exclusive) {
                    if (fp)
                        anvil__store_f64(dt, out->data, i, facc);
                    else
                        anvil__store_i64(dt, out->data, i, (int64_t)iacc);
                }
                if (fp) {
                    anvil__store_f64(dt, &tmp, 0, facc + anvil__load_f64(dt, x->data, i));
                    facc = anvil__load_f64(dt, &tmp, 0);
                } else {
                    iacc += (uint64_t)anvil__load_i64(dt, x->data, i);
                }
                if (!exclusive) {
                    if (fp)
                        anvil__store_f64(dt, out->data, i, facc);
                    else
                        anvil__store_i64(dt, out->data, i, (int64_t)iacc);
                }
            }
        }
    }
    return ANVIL_OK;
}
