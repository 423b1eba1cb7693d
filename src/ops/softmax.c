/*
 * softmax.c — Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis`
 * (default 1) and normalized over the flattened trailing block; from opset 13 over the single
 * dimension `axis` (default -1). Computes in double; reads/writes any float dtype.
 */
#include "ops/op.h"

#include <math.h>

anvil_status anvil__op_softmax_validate(const anvil__node *node, int64_t opset) {
    return anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
}

/* The normalized block: outer × len × inner, softmax over `len` with stride `inner`. */
typedef struct sm_geom {
    size_t outer, len, inner;
} sm_geom;

/* Normalizes `axis`: before opset 13 it may equal the rank (an empty trailing block, so every
 * row has length 1); from 13 it names an existing dimension. */
static anvil_status norm_axis(const anvil__op_ctx *ctx, int32_t r, int32_t *out) {
    bool old = ctx->opset < 13;
    int64_t axis = anvil__attr_int(ctx->node, "axis", old ? 1 : -1);
    int64_t hi = old ? r : r - 1;
    if (axis < -(int64_t)r || axis > hi || (!old && r == 0))
        return anvil__node_error(ctx->node, ANVIL_STATUS_OUT_OF_RANGE,
                                 "axis %lld is out of range for rank %d", (long long)axis, (int)r);
    *out = (int32_t)(axis < 0 ? axis + r : axis);
    return ANVIL_OK;
}

static anvil_status geometry(const anvil__op_ctx *ctx, const anvil__tensor *x, sm_geom *g) {
    int32_t a = 0, r = x->rank;
    anvil_status s = norm_axis(ctx, r, &a);
    if (s != ANVIL_OK) return s;
    g->outer = 1, g->len = 1, g->inner = 1;
    for (int32_t d = 0; d < a; d++)
        g->outer *= (size_t)x->dims[d];
    if (ctx->opset < 13) {
        for (int32_t d = a; d < r; d++)
            g->len *= (size_t)x->dims[d];
    } else {
        g->len = (size_t)x->dims[a];
        for (int32_t d = a + 1; d < r; d++)
            g->inner *= (size_t)x->dims[d];
    }
    return ANVIL_OK;
}

anvil_status anvil__op_softmax_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    if (!anvil__dtype_is_float(x->dtype))
        return anvil__node_error(ctx->node, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "input must be a float tensor, got %s",
                                 anvil_dtype_name(x->dtype));
    int32_t a;
    if (x->rank >= 0) {
        anvil_status s = norm_axis(ctx, x->rank, &a);
        if (s != ANVIL_OK) return s;
    }
    return anvil__same_as_input(ctx, 0, 0);
}

static inline double ld(const anvil__tensor *t, size_t i) {
    return t->dtype == ANVIL_DTYPE_F32 ? (double)((const float *)t->data)[i]
                                       : anvil__load_f64(t->dtype, t->data, i);
}

static inline void st(anvil__tensor *t, size_t i, double v) {
    if (t->dtype == ANVIL_DTYPE_F32)
        ((float *)t->data)[i] = (float)v;
    else
        anvil__store_f64(t->dtype, t->data, i, v);
}

anvil_status anvil__op_softmax_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    bool log_out = ctx->node->op == ANVIL_OP_LogSoftmax;
    sm_geom g;
    anvil_status s = geometry(ctx, x, &g);
    if (s != ANVIL_OK || !y) return s;
    if (g.outer == 0 || g.len == 0 || g.inner == 0) return ANVIL_OK;
    for (size_t o = 0; o < g.outer; o++) {
        for (size_t in = 0; in < g.inner; in++) {
            size_t base = o * g.len * g.inner + in;
            double m = -INFINITY;
            for (size_t k = 0; k < g.len; k++) {
                double v = ld(x, base + k * g.inner);
                if (v > m || isnan(v)) m = v;
                if (isnan(m)) break;
            }
            /* All -inf: keep the shift finite so the result is NaN, as exp-normalizing is
             * undefined; +inf max gives NaN too. Otherwise subtract the max for stability. */
            if (isinf(m) && m < 0) m = 0;
            double sum = 0;
            for (size_t k = 0; k < g.len; k++)
                sum += exp(ld(x, base + k * g.inner) - m);
            double log_sum = log(sum);
            for (size_t k = 0; k < g.len; k++) {
                double v = ld(x, base + k * g.inner) - m;
                st(y, base + k * g.inner, log_out ? v - log_sum : exp(v) / sum);
            }
        }
    }
    return ANVIL_OK;
}
