/*
 * shape_ops.c — ops that change only the shape, never the bytes: Reshape, Flatten, Squeeze,
 * Unsqueeze (family reshape_like: run is one memcpy), and the shape queries Shape and Size.
 * Data-rearranging ops live in layout_ops.c, slice_split.c and pad_tile.c.
 */
#include "ops/strided_copy.h"

#include <string.h>

/* ---- helpers ---- */

static anvil_status unknown_rank_output(anvil__op_ctx *ctx, anvil_dtype dtype) {
    return anvil__set_output(ctx, 0, dtype, -1, NULL);
}

/* Output of `rank` unknown dims (rank itself known). */
static anvil_status unknown_dims_output(anvil__op_ctx *ctx, anvil_dtype dtype, int64_t rank) {
    int64_t dims[ANVIL_MAX_RANK];
    if (rank < 0) return unknown_rank_output(ctx, dtype);
    if (rank > ANVIL_MAX_RANK)
        return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "output rank %lld is over the maximum of %d", (long long)rank,
                                 ANVIL_MAX_RANK);
    for (int64_t d = 0; d < rank; d++)
        dims[d] = -1;
    return anvil__set_output(ctx, 0, dtype, (int32_t)rank, dims);
}

/* Product of dims[from, to); -1 if one is unknown; LIMIT_EXCEEDED on overflow. */
static anvil_status dims_product(const anvil__node *n, const int64_t *dims, int32_t from,
                                 int32_t to, int64_t *out) {
    int64_t p = 1;
    bool unknown = false;
    for (int32_t d = from; d < to; d++) {
        if (dims[d] < 0) {
            unknown = true;
            continue;
        }
        if (!anvil__mul_i64(p, dims[d], &p))
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED, "element count overflows");
    }
    *out = unknown ? -1 : p;
    return ANVIL_OK;
}

/* Reads the axes of Squeeze/Unsqueeze: the attribute before opset 13, the optional input
 * from 13. *have = false when no axes are given; *known = false when the input's data is not
 * known yet (then *count is its static length, or -1). */
static anvil_status read_axes(anvil__op_ctx *ctx, int64_t *axes, int64_t *count, bool *have,
                              bool *known) {
    const anvil__node *n = ctx->node;
    *have = false;
    *known = true;
    *count = 0;
    if (ctx->opset < 13) {
        size_t c;
        const int64_t *a = anvil__attr_ints(n, "axes", &c);
        if (!a) return ANVIL_OK;
        if (c > ANVIL_MAX_RANK)
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "%zu axes, more than the maximum rank %d", c, ANVIL_MAX_RANK);
        memcpy(axes, a, c * sizeof *axes);
        *have = true;
        *count = (int64_t)c;
        return ANVIL_OK;
    }
    const anvil__tensor *t = ctx->n_inputs > 1 ? ctx->inputs[1] : NULL;
    if (!t) return ANVIL_OK;
    *have = true;
    if (!t->data) {
        *known = false;
        *count = anvil__static_len(t);
        return ANVIL_OK;
    }
    size_t c;
    anvil_status s = anvil__read_ints(n, t, axes, ANVIL_MAX_RANK, &c);
    *count = (int64_t)c;
    return s;
}

/* ---- Reshape ---- */

/* Resolves one entry of the target shape (0 copies the input dim unless allowzero). */
static anvil_status reshape_entry(const anvil__node *n, const anvil__tensor *x, int64_t v,
                                  int32_t i, bool allowzero, int64_t *out) {
    if (v < -1)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "shape entry %d is %lld; entries must be >= -1", (int)i,
                                 (long long)v);
    if (v != 0 || allowzero) {
        *out = v;
        return ANVIL_OK;
    }
    if (x->rank >= 0 && i >= x->rank)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "shape entry %d is 0 (copy the input dim) but the input has "
                                 "rank %d",
                                 (int)i, (int)x->rank);
    *out = x->rank >= 0 ? x->dims[i] : -1;
    return ANVIL_OK;
}

static anvil_status reshape_mismatch(const anvil__node *n, const anvil__tensor *x,
                                     const int64_t *shape, size_t count) {
    char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
    return anvil__node_error(
        n, ANVIL_STATUS_SHAPE_MISMATCH, "cannot reshape %s (%lld elements) to %s",
        anvil__shape_str(x->rank, x->dims, a, sizeof a), (long long)anvil__tensor_numel(x),
        anvil__shape_str((int32_t)count, shape, b, sizeof b));
}

static anvil_status reshape_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *st = ctx->inputs[1];
    if (!st->data) return unknown_dims_output(ctx, x->dtype, anvil__static_len(st));
    int64_t shape[ANVIL_MAX_RANK], out[ANVIL_MAX_RANK];
    size_t count;
    anvil_status s = anvil__read_ints(n, st, shape, ANVIL_MAX_RANK, &count);
    if (s != ANVIL_OK) return s;
    bool allowzero = anvil__attr_int(n, "allowzero", 0) != 0;
    int32_t infer_at = -1;
    bool has_zero = false;
    for (int32_t i = 0; i < (int32_t)count; i++) {
        s = reshape_entry(n, x, shape[i], i, allowzero, &out[i]);
        if (s != ANVIL_OK) return s;
        has_zero |= shape[i] == 0;
        if (shape[i] != -1) continue;
        if (infer_at >= 0)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "shape has more than one -1 (entries %d and %d)",
                                     (int)infer_at, (int)i);
        infer_at = i;
    }
    if (allowzero && has_zero && infer_at >= 0)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "with allowzero=1 the shape may not hold both 0 and -1");
    int64_t known = 1, numel = anvil__tensor_numel(x);
    bool unknown = numel < 0;
    for (int32_t i = 0; i < (int32_t)count; i++) {
        if (i == infer_at) continue;
        if (out[i] < 0) {
            unknown = true;
        } else if (!anvil__mul_i64(known, out[i], &known)) {
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "element count of the target shape overflows");
        }
    }
    if (!unknown && infer_at >= 0) {
        if (known == 0 || numel % known != 0) return reshape_mismatch(n, x, shape, count);
        out[infer_at] = numel / known;
    } else if (!unknown && known != numel) {
        return reshape_mismatch(n, x, shape, count);
    }
    return anvil__set_output(ctx, 0, x->dtype, (int32_t)count, out);
}

/* ---- Flatten ---- */

static anvil_status flatten_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    int64_t axis = anvil__attr_int(n, "axis", 1), out[2];
    if (x->rank < 0) return unknown_dims_output(ctx, x->dtype, 2);
    if (axis < -(int64_t)x->rank || axis > x->rank)
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE, "axis %lld is out of range [%d, %d]",
                                 (long long)axis, -(int)x->rank, (int)x->rank);
    if (axis < 0) axis += x->rank;
    anvil_status s = dims_product(n, x->dims, 0, (int32_t)axis, &out[0]);
    if (s == ANVIL_OK) s = dims_product(n, x->dims, (int32_t)axis, x->rank, &out[1]);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, 2, out);
}

/* ---- Squeeze / Unsqueeze ---- */

static anvil_status squeeze_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    int64_t axes[ANVIL_MAX_RANK], count, out[ANVIL_MAX_RANK];
    bool have, known;
    anvil_status s = read_axes(ctx, axes, &count, &have, &known);
    if (s != ANVIL_OK) return s;
    if (x->rank < 0) return unknown_rank_output(ctx, x->dtype);
    if (!known) return unknown_dims_output(ctx, x->dtype, count < 0 ? -1 : x->rank - count);
    bool drop[ANVIL_MAX_RANK] = {false};
    if (!have) {
        for (int32_t d = 0; d < x->rank; d++) {
            if (x->dims[d] < 0) return unknown_rank_output(ctx, x->dtype);
            drop[d] = x->dims[d] == 1;
        }
    } else {
        s = anvil__norm_axes(n, axes, (size_t)count, x->rank);
        if (s != ANVIL_OK) return s;
        for (int64_t i = 0; i < count; i++) {
            int64_t dim = x->dims[axes[i]];
            if (dim != 1 && dim != -1)
                return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                         "cannot squeeze axis %lld of size %lld",
                                         (long long)axes[i], (long long)dim);
            drop[axes[i]] = true;
        }
    }
    int32_t r = 0;
    for (int32_t d = 0; d < x->rank; d++)
        if (!drop[d]) out[r++] = x->dims[d];
    return anvil__set_output(ctx, 0, x->dtype, r, out);
}

static anvil_status unsqueeze_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    int64_t axes[ANVIL_MAX_RANK], count, out[ANVIL_MAX_RANK];
    bool have, known;
    anvil_status s = read_axes(ctx, axes, &count, &have, &known);
    if (s != ANVIL_OK) return s;
    if (!have) return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "axes are required");
    if (x->rank < 0 || count < 0) return unknown_rank_output(ctx, x->dtype);
    int64_t rank = x->rank + count;
    if (!known) return unknown_dims_output(ctx, x->dtype, rank);
    if (rank > ANVIL_MAX_RANK)
        return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "output rank %lld is over the maximum of %d", (long long)rank,
                                 ANVIL_MAX_RANK);
    s = anvil__norm_axes(n, axes, (size_t)count, (int32_t)rank);
    if (s != ANVIL_OK) return s;
    bool inserted[ANVIL_MAX_RANK] = {false};
    for (int64_t i = 0; i < count; i++)
        inserted[axes[i]] = true;
    for (int32_t d = 0, j = 0; d < rank; d++)
        out[d] = inserted[d] ? 1 : x->dims[j++];
    return anvil__set_output(ctx, 0, x->dtype, (int32_t)rank, out);
}

/* ---- reshape_like family ---- */

anvil_status anvil__op_reshape_like_validate(const anvil__node *node, int64_t opset) {
    switch (node->op) {
    case ANVIL_OP_Reshape:
        return anvil__attr_expect(node, "allowzero", ANVIL_ATTR_INT);
    case ANVIL_OP_Flatten:
        return anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
    case ANVIL_OP_Squeeze:
    case ANVIL_OP_Unsqueeze:
        if (opset >= 13) {
            bool has_input = node->n_inputs > 1 && node->inputs[1] >= 0;
            if (node->op == ANVIL_OP_Unsqueeze && !has_input)
                return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                         "from opset 13 the axes input is required");
            return ANVIL_OK;
        }
        if (node->n_inputs > 1 && node->inputs[1] >= 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "before opset 13 axes are an attribute, not an input");
        if (node->op == ANVIL_OP_Unsqueeze)
            return anvil__attr_require(node, "axes", ANVIL_ATTR_INTS);
        return anvil__attr_expect(node, "axes", ANVIL_ATTR_INTS);
    default:
        return anvil__node_error(node, ANVIL_STATUS_INTERNAL, "not a reshape-like op");
    }
}

anvil_status anvil__op_reshape_like_infer(anvil__op_ctx *ctx) {
    switch (ctx->node->op) {
    case ANVIL_OP_Reshape:
        return reshape_infer(ctx);
    case ANVIL_OP_Flatten:
        return flatten_infer(ctx);
    case ANVIL_OP_Squeeze:
        return squeeze_infer(ctx);
    case ANVIL_OP_Unsqueeze:
        return unsqueeze_infer(ctx);
    default:
        return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL, "not a reshape-like op");
    }
}

anvil_status anvil__op_reshape_like_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    if (x->bytes != y->bytes)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL,
                                 "input has %zu bytes but output %zu", x->bytes, y->bytes);
    if (y->bytes) memcpy(y->data, x->data, y->bytes);
    return ANVIL_OK;
}

/* ---- Shape ---- */

/* The [start, end) range of dims Shape reports, clamped to [0, rank] as opset 15 says. */
static void shape_range(const anvil__node *n, int32_t rank, int64_t *start, int64_t *end) {
    int64_t s = anvil__attr_int(n, "start", 0);
    int64_t e = anvil__node_attr(n, "end") ? anvil__attr_int(n, "end", rank) : rank;
    if (s < 0) s = s < -(int64_t)rank ? 0 : s + rank;
    if (e < 0) e = e < -(int64_t)rank ? 0 : e + rank;
    *start = s > rank ? rank : s;
    *end = e > rank ? rank : e;
    if (*end < *start) *end = *start;
}

anvil_status anvil__op_shape_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "start", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "end", ANVIL_ATTR_INT);
    return s;
}

anvil_status anvil__op_shape_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t len = -1;
    if (x->rank >= 0) {
        int64_t start, end;
        shape_range(ctx->node, x->rank, &start, &end);
        len = end - start;
    }
    return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, 1, &len);
}

anvil_status anvil__op_shape_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t start, end;
    shape_range(ctx->node, x->rank, &start, &end);
    int64_t *out = ctx->outputs[0]->data;
    for (int64_t d = start; d < end; d++)
        out[d - start] = x->dims[d];
    return ANVIL_OK;
}

/* ---- Size ---- */

anvil_status anvil__op_size_validate(const anvil__node *node, int64_t opset) { return ANVIL_OK; }

anvil_status anvil__op_size_infer(anvil__op_ctx *ctx) {
    return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, 0, NULL);
}

anvil_status anvil__op_size_run(anvil__op_ctx *ctx) {
    int64_t numel = anvil__tensor_numel(ctx->inputs[0]);
    if (numel < 0)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL, "input shape is unknown");
    memcpy(ctx->outputs[0]->data, &numel, sizeof numel);
    return ANVIL_OK;
}
