/*
 * layout_ops.c — ops that rearrange elements without changing them: Transpose, Expand,
 * DepthToSpace / SpaceToDepth (family space_depth) and Trilu. Each is a strided view copied
 * with anvil__strided_copy, so every dtype works. Slicing, padding and tiling live elsewhere.
 */
#include "ops/strided_copy.h"

#include <string.h>

static anvil_status unknown_dims(anvil__op_ctx *ctx, anvil_dtype dtype, int32_t rank) {
    int64_t dims[ANVIL_MAX_RANK];
    for (int32_t d = 0; d < rank; d++)
        dims[d] = -1;
    return anvil__set_output(ctx, 0, dtype, rank, dims);
}

/* ---- Transpose ---- */

anvil_status anvil__op_transpose_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "perm", ANVIL_ATTR_INTS);
    if (s != ANVIL_OK) return s;
    size_t n;
    const int64_t *perm = anvil__attr_ints(node, "perm", &n);
    if (n > ANVIL_MAX_RANK)
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "perm has %zu entries, more than the maximum rank %d", n,
                                 ANVIL_MAX_RANK);
    bool seen[ANVIL_MAX_RANK] = {false};
    for (size_t i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= (int64_t)n || seen[perm[i]])
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "perm is not a permutation of 0..%zu (entry %zu is %lld)",
                                     n - 1, i, (long long)perm[i]);
        seen[perm[i]] = true;
    }
    return ANVIL_OK;
}

/* The permutation for an input of `rank`: the attribute, or reversed dims by default. */
static anvil_status transpose_perm(const anvil__node *n, int32_t rank, int64_t *perm) {
    size_t count;
    const int64_t *p = anvil__attr_ints(n, "perm", &count);
    if (!p) {
        for (int32_t d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return ANVIL_OK;
    }
    if ((int64_t)count != rank)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "perm has %zu entries but the input has rank %d", count,
                                 (int)rank);
    memcpy(perm, p, count * sizeof *perm);
    return ANVIL_OK;
}

anvil_status anvil__op_transpose_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t perm[ANVIL_MAX_RANK], dims[ANVIL_MAX_RANK];
    if (x->rank < 0) {
        size_t count;
        if (anvil__attr_ints(ctx->node, "perm", &count))
            return unknown_dims(ctx, x->dtype, (int32_t)count);
        return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    }
    anvil_status s = transpose_perm(ctx->node, x->rank, perm);
    if (s != ANVIL_OK) return s;
    for (int32_t d = 0; d < x->rank; d++)
        dims[d] = x->dims[perm[d]];
    return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
}

anvil_status anvil__op_transpose_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t perm[ANVIL_MAX_RANK], in_strides[ANVIL_MAX_RANK], strides[ANVIL_MAX_RANK];
    anvil_status s = transpose_perm(ctx->node, x->rank, perm);
    if (s != ANVIL_OK) return s;
    anvil__strides(x->rank, x->dims, in_strides);
    for (int32_t d = 0; d < x->rank; d++)
        strides[d] = in_strides[perm[d]];
    anvil__strided_copy(y->data, x->data, anvil_dtype_size(x->dtype), y->rank, y->dims, strides, 0);
    return ANVIL_OK;
}

/* ---- Expand ---- */

anvil_status anvil__op_expand_validate(const anvil__node *node, int64_t opset) { return ANVIL_OK; }

anvil_status anvil__op_expand_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *st = ctx->inputs[1];
    anvil__tensor target = {.dtype = x->dtype};
    if (!st->data) {
        int64_t len = anvil__static_len(st);
        if (len < 0 || x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
        if (len > ANVIL_MAX_RANK)
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "shape has %lld entries, more than the maximum rank %d",
                                     (long long)len, ANVIL_MAX_RANK);
        return unknown_dims(ctx, x->dtype, x->rank > len ? x->rank : (int32_t)len);
    }
    size_t count;
    anvil_status s = anvil__read_ints(n, st, target.dims, ANVIL_MAX_RANK, &count);
    if (s != ANVIL_OK) return s;
    target.rank = (int32_t)count;
    for (size_t i = 0; i < count; i++)
        if (target.dims[i] < 0)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "shape entry %zu is negative (%lld)", i,
                                     (long long)target.dims[i]);
    const anvil__tensor *pair[2] = {x, &target};
    int64_t dims[ANVIL_MAX_RANK];
    int32_t rank;
    s = anvil__broadcast(n, pair, 2, &rank, dims);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, rank, dims);
}

anvil_status anvil__op_expand_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t in_strides[ANVIL_MAX_RANK], strides[ANVIL_MAX_RANK];
    anvil__strides(x->rank, x->dims, in_strides);
    for (int32_t d = 0; d < y->rank; d++) {
        int32_t id = d - (y->rank - x->rank);
        strides[d] = id < 0 || x->dims[id] == 1 ? 0 : in_strides[id];
    }
    anvil__strided_copy(y->data, x->data, anvil_dtype_size(x->dtype), y->rank, y->dims, strides, 0);
    return ANVIL_OK;
}

/* ---- DepthToSpace / SpaceToDepth ---- */

anvil_status anvil__op_space_depth_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_require(node, "blocksize", ANVIL_ATTR_INT);
    if (s != ANVIL_OK) return s;
    int64_t b = anvil__attr_int(node, "blocksize", 0);
    if (b < 1 || b > (int64_t)1 << 24)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "blocksize must be in [1, 2^24], got %lld", (long long)b);
    if (node->op != ANVIL_OP_DepthToSpace) return ANVIL_OK;
    s = anvil__attr_expect(node, "mode", ANVIL_ATTR_STRING);
    const char *mode = anvil__attr_string(node, "mode", "DCR");
    if (s == ANVIL_OK && strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "mode must be DCR or CRD, got '%s'", mode);
    return s;
}

/* One dim of the output: in * b (grow) or in / b (shrink, which must divide). */
static anvil_status block_dim(const anvil__node *n, int64_t in, int64_t b, bool grow,
                              const char *what, int64_t *out) {
    if (in < 0) {
        *out = -1;
    } else if (grow) {
        if (!anvil__mul_i64(in, b, out))
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED, "%s overflows", what);
    } else if (in % b != 0) {
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "%s %lld is not divisible by %lld",
                                 what, (long long)in, (long long)b);
    } else {
        *out = in / b;
    }
    return ANVIL_OK;
}

anvil_status anvil__op_space_depth_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    if (x->rank < 0) return unknown_dims(ctx, x->dtype, 4);
    if (x->rank != 4)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected a rank-4 NCHW input, got rank %d", (int)x->rank);
    int64_t b = anvil__attr_int(n, "blocksize", 1), bb = b * b, dims[4];
    bool d2s = n->op == ANVIL_OP_DepthToSpace;
    dims[0] = x->dims[0];
    anvil_status s = block_dim(n, x->dims[1], bb, !d2s, "channel count", &dims[1]);
    if (s == ANVIL_OK) s = block_dim(n, x->dims[2], b, d2s, "height", &dims[2]);
    if (s == ANVIL_OK) s = block_dim(n, x->dims[3], b, d2s, "width", &dims[3]);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, 4, dims);
}

/* Both ops are a 6-D transpose. The output is viewed as 6 dims and each gets the input
 * stride of the input dim it walks along (ONNX spec's reshape/transpose/reshape). */
anvil_status anvil__op_space_depth_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t b = anvil__attr_int(n, "blocksize", 1);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t v[6], st[6];
    if (n->op == ANVIL_OP_DepthToSpace) {
        int64_t c = C / (b * b); /* out[n][c][h*b+i][w*b+j] */
        bool crd = strcmp(anvil__attr_string(n, "mode", "DCR"), "CRD") == 0;
        int64_t v_[6] = {N, c, H, b, W, b};
        /* DCR: in channel (i*b + j)*c + ch; CRD: ch*b*b + i*b + j. */
        int64_t st_[6] = {C * H * W, (crd ? b * b : 1) * H * W, W, (crd ? b : b * c) * H * W,
                          1,         (crd ? 1 : c) * H * W};
        memcpy(v, v_, sizeof v);
        memcpy(st, st_, sizeof st);
    } else {
        int64_t h = H / b, w = W / b; /* out[n][(i*b + j)*C + c][h][w] = in[n][c][h*b+i][w*b+j] */
        int64_t v_[6] = {N, b, b, C, h, w};
        int64_t st_[6] = {C * H * W, W, 1, H * W, b * W, b};
        memcpy(v, v_, sizeof v);
        memcpy(st, st_, sizeof st);
    }
    anvil__strided_copy(y->data, x->data, anvil_dtype_size(x->dtype), 6, v, st, 0);
    return ANVIL_OK;
}

/* ---- Trilu ---- */

anvil_status anvil__op_trilu_validate(const anvil__node *node, int64_t opset) {
    return anvil__attr_expect(node, "upper", ANVIL_ATTR_INT);
}

anvil_status anvil__op_trilu_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    if (x->rank >= 0 && x->rank < 2)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected rank >= 2, got rank %d", (int)x->rank);
    return anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_trilu_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t k = 0;
    if (ctx->n_inputs > 1 && ctx->inputs[1]) {
        size_t count;
        anvil_status s = anvil__read_ints(n, ctx->inputs[1], &k, 1, &count);
        if (s != ANVIL_OK) return s;
        if (count != 1)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "k must hold one value, got %zu", count);
    }
    bool upper = anvil__attr_int(n, "upper", 1) != 0;
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    if (rows == 0 || cols == 0) return ANVIL_OK;
    /* Clamping k keeps i + k from overflowing and changes no result. */
    if (k > cols + 1) k = cols + 1;
    if (k < -rows - 1) k = -rows - 1;
    size_t es = anvil_dtype_size(x->dtype), row_bytes = (size_t)cols * es;
    int64_t mats = anvil__tensor_numel(x) / (rows * cols);
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < rows; i++, src += row_bytes, dst += row_bytes) {
            /* Keep columns j with j - i >= k (upper) or j - i <= k (lower). */
            int64_t lo = upper ? i + k : 0, hi = upper ? cols : i + k + 1;
            lo = lo < 0 ? 0 : lo > cols ? cols : lo;
            hi = hi < lo ? lo : hi > cols ? cols : hi;
            memset(dst, 0, row_bytes);
            memcpy(dst + (size_t)lo * es, src + (size_t)lo * es, (size_t)(hi - lo) * es);
        }
    }
    return ANVIL_OK;
}
