/*
 * gather_scatter.c — Gather, GatherElements, GatherND and ScatterND: validation, shape
 * inference and reference kernels. Elements move as raw bytes, so every dtype works; indices
 * (i32/i64) are untrusted and checked one by one against the dimension they address.
 * Not here: ScatterElements, Compress (not in ops.def).
 */
#include "ops/op.h"

#include <string.h>

/* ---- shared helpers ---- */

static bool is_index_dtype(anvil_dtype d) { return d == ANVIL_DTYPE_I64 || d == ANVIL_DTYPE_I32; }

/* Normalizes index element `pos` of `ind` against a dimension of size `dim` (negative
 * indices count from the end); OUT_OF_RANGE naming the index and the valid range. */
static anvil_status load_index(const anvil__node *n, const anvil__tensor *ind, size_t pos,
                               int64_t dim, int32_t axis, int64_t *out) {
    int64_t v = anvil__load_i64(ind->dtype, ind->data, pos);
    if (v < -dim || v >= dim)
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                 "index %lld (indices element %zu) is out of range for axis %d "
                                 "of size %lld: valid range is [%lld, %lld]",
                                 (long long)v, pos, (int)axis, (long long)dim, (long long)-dim,
                                 (long long)(dim - 1));
    *out = v < 0 ? v + dim : v;
    return ANVIL_OK;
}

static size_t prod(const int64_t *dims, int32_t from, int32_t to) {
    size_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= (size_t)dims[d];
    return p;
}

static anvil_status need_rank(const anvil__node *n, const anvil__tensor *t, const char *what,
                              int32_t min_rank) {
    if (t->rank < 0 || t->rank >= min_rank) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "%s must have rank >= %d, got %d",
                             what, (int)min_rank, (int)t->rank);
}

/* The checks every op here starts with: a known indices dtype must be an integer one (an
 * undefined dtype, during static inference, passes), and data must not be a scalar. */
static anvil_status check_inputs(const anvil__node *n, const anvil__tensor *data,
                                 const anvil__tensor *ind) {
    if (ind->dtype != ANVIL_DTYPE_UNDEFINED && !is_index_dtype(ind->dtype))
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "indices must be i64 or i32, got %s",
                                 anvil_dtype_name(ind->dtype));
    return need_rank(n, data, "data", 1);
}

/* ---- Gather ---- */

anvil_status anvil__op_gather_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    return anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
}

anvil_status anvil__op_gather_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    anvil_status s = check_inputs(n, data, ind);
    if (s != ANVIL_OK) return s;
    if (data->rank < 0 || ind->rank < 0) return anvil__set_output(ctx, 0, data->dtype, -1, NULL);
    int32_t axis;
    s = anvil__axis(n, anvil__attr_int(n, "axis", 0), data->rank, &axis);
    if (s != ANVIL_OK) return s;
    int64_t dims[2 * ANVIL_MAX_RANK];
    int32_t r = 0;
    for (int32_t d = 0; d < axis; d++)
        dims[r++] = data->dims[d];
    for (int32_t d = 0; d < ind->rank; d++)
        dims[r++] = ind->dims[d];
    for (int32_t d = axis + 1; d < data->rank; d++)
        dims[r++] = data->dims[d];
    return anvil__set_output(ctx, 0, data->dtype, r, dims);
}

anvil_status anvil__op_gather_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    anvil__tensor *out = ctx->outputs[0];
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", 0), data->rank, &axis);
    if (s != ANVIL_OK) return s;
    size_t es = anvil_dtype_size(data->dtype);
    size_t outer = prod(data->dims, 0, axis), block = prod(data->dims, axis + 1, data->rank) * es;
    size_t n_idx = (size_t)anvil__tensor_numel(ind);
    int64_t dim = data->dims[axis];
    const char *src = data->data;
    char *dst = out->data;
    for (size_t j = 0; j < n_idx; j++) { /* check every index once, before moving anything */
        int64_t v;
        if ((s = load_index(n, ind, j, dim, axis, &v)) != ANVIL_OK) return s;
    }
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < n_idx; j++) {
            int64_t v = 0;
            load_index(n, ind, j, dim, axis, &v);
            memcpy(dst, src + (o * (size_t)dim + (size_t)v) * block, block);
            dst += block;
        }
    }
    return ANVIL_OK;
}

/* ---- GatherElements ---- */

anvil_status anvil__op_gather_elements_validate(const anvil__node *node, int64_t opset) {
    return anvil__op_gather_validate(node, opset); /* the same one attribute, axis */
}

anvil_status anvil__op_gather_elements_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    anvil_status s = check_inputs(n, data, ind);
    if (s != ANVIL_OK) return s;
    if (data->rank >= 0 && ind->rank >= 0) {
        if (data->rank != ind->rank)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "indices must have the rank of data (%d), got %d",
                                     (int)data->rank, (int)ind->rank);
        int32_t axis;
        if ((s = anvil__axis(n, anvil__attr_int(n, "axis", 0), data->rank, &axis)) != ANVIL_OK)
            return s;
        /* Off the axis, an index coordinate addresses data directly: it must fit. */
        for (int32_t d = 0; d < data->rank; d++)
            if (d != axis && data->dims[d] >= 0 && ind->dims[d] > data->dims[d])
                return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                         "indices dim %d is %lld, larger than data dim %lld",
                                         (int)d, (long long)ind->dims[d], (long long)data->dims[d]);
    }
    return anvil__set_output(ctx, 0, data->dtype, ind->rank, ind->dims);
}

anvil_status anvil__op_gather_elements_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    anvil__tensor *out = ctx->outputs[0];
    int32_t axis, rank = data->rank;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", 0), rank, &axis);
    if (s != ANVIL_OK) return s;
    size_t es = anvil_dtype_size(data->dtype);
    int64_t strides[ANVIL_MAX_RANK], coord[ANVIL_MAX_RANK] = {0};
    anvil__strides(rank, data->dims, strides);
    size_t count = (size_t)anvil__tensor_numel(ind);
    for (size_t i = 0; i < count; i++) {
        int64_t v = 0;
        if ((s = load_index(n, ind, i, data->dims[axis], axis, &v)) != ANVIL_OK) return s;
        int64_t off = 0;
        for (int32_t d = 0; d < rank; d++)
            off += (d == axis ? v : coord[d]) * strides[d];
        memcpy((char *)out->data + i * es, (const char *)data->data + (size_t)off * es, es);
        for (int32_t d = rank - 1; d >= 0; d--) { /* next coordinate of indices */
            if (++coord[d] < ind->dims[d]) break;
            coord[d] = 0;
        }
    }
    return ANVIL_OK;
}

/* ---- GatherND ---- */

anvil_status anvil__op_gather_nd_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    anvil_status s = anvil__attr_expect(node, "batch_dims", ANVIL_ATTR_INT);
    if (s == ANVIL_OK && anvil__attr_int(node, "batch_dims", 0) < 0)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "batch_dims must be >= 0, got %lld",
                                 (long long)anvil__attr_int(node, "batch_dims", 0));
    return s;
}

/* Checks the ranks, batch dims and k = indices.shape[-1] shared by GatherND and ScatterND
 * (b = 0 for ScatterND). *k is -1 when not known statically. */
static anvil_status nd_check(const anvil__node *n, const anvil__tensor *data,
                             const anvil__tensor *ind, int64_t b, int64_t *k) {
    anvil_status s = check_inputs(n, data, ind);
    if (s == ANVIL_OK) s = need_rank(n, ind, "indices", 1);
    if (s != ANVIL_OK) return s;
    *k = -1;
    if (data->rank < 0 || ind->rank < 0) return ANVIL_OK;
    if (b >= data->rank || b >= ind->rank)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "batch_dims %lld must be less than the ranks of data (%d) and "
                                 "indices (%d)",
                                 (long long)b, (int)data->rank, (int)ind->rank);
    for (int32_t d = 0; d < b; d++)
        if (data->dims[d] >= 0 && ind->dims[d] >= 0 && data->dims[d] != ind->dims[d])
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "batch dim %d differs: data has %lld, indices %lld", (int)d,
                                     (long long)data->dims[d], (long long)ind->dims[d]);
    *k = ind->dims[ind->rank - 1];
    if (*k >= 0 && (*k < 1 || *k > data->rank - b))
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "indices last dim %lld must be in [1, %lld] (data rank %d, "
                                 "batch_dims %lld)",
                                 (long long)*k, (long long)(data->rank - b), (int)data->rank,
                                 (long long)b);
    return ANVIL_OK;
}

anvil_status anvil__op_gather_nd_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    int64_t b = anvil__attr_int(ctx->node, "batch_dims", 0), k;
    anvil_status s = nd_check(ctx->node, data, ind, b, &k);
    if (s != ANVIL_OK) return s;
    if (k < 0) return anvil__set_output(ctx, 0, data->dtype, -1, NULL);
    int64_t dims[2 * ANVIL_MAX_RANK];
    int32_t r = 0;
    for (int32_t d = 0; d < ind->rank - 1; d++)
        dims[r++] = ind->dims[d];
    for (int32_t d = (int32_t)(b + k); d < data->rank; d++)
        dims[r++] = data->dims[d];
    return anvil__set_output(ctx, 0, data->dtype, r, dims);
}

/* Element offset (inside one batch of data) addressed by index tuple `t` of `ind`, whose k
 * entries address data dims b .. b+k-1. */
static anvil_status nd_offset(const anvil__node *n, const anvil__tensor *data,
                              const anvil__tensor *ind, int32_t b, int32_t k, size_t t,
                              const int64_t *strides, size_t *off) {
    size_t o = 0;
    for (int32_t j = 0; j < k; j++) {
        int64_t v = 0;
        anvil_status s =
            load_index(n, ind, t * (size_t)k + (size_t)j, data->dims[b + j], b + j, &v);
        if (s != ANVIL_OK) return s;
        o += (size_t)v * (size_t)strides[b + j];
    }
    *off = o;
    return ANVIL_OK;
}

anvil_status anvil__op_gather_nd_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1];
    int32_t b = (int32_t)anvil__attr_int(n, "batch_dims", 0);
    int32_t k = (int32_t)ind->dims[ind->rank - 1];
    size_t es = anvil_dtype_size(data->dtype);
    size_t batches = prod(data->dims, 0, b), per_batch = prod(ind->dims, b, ind->rank - 1);
    size_t batch_elems = prod(data->dims, b, data->rank);
    size_t slice = prod(data->dims, b + k, data->rank) * es;
    int64_t strides[ANVIL_MAX_RANK];
    anvil__strides(data->rank, data->dims, strides);
    char *dst = ctx->outputs[0]->data;
    for (size_t bi = 0; bi < batches; bi++) {
        const char *src = (const char *)data->data + bi * batch_elems * es;
        for (size_t t = 0; t < per_batch; t++) {
            size_t off;
            anvil_status s = nd_offset(n, data, ind, b, k, bi * per_batch + t, strides, &off);
            if (s != ANVIL_OK) return s;
            memcpy(dst, src + off * es, slice);
            dst += slice;
        }
    }
    return ANVIL_OK;
}

/* ---- ScatterND ---- */

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

static int parse_reduction(const char *s) {
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

anvil_status anvil__op_scatter_nd_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "reduction", ANVIL_ATTR_STRING);
    if (s != ANVIL_OK) return s;
    const char *r = anvil__attr_string(node, "reduction", "none");
    int red = parse_reduction(r);
    if (red < 0 || (red >= RED_MAX && opset < 18) || (red != RED_NONE && opset < 16))
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                                 "reduction '%s' is not valid at opset %lld", r, (long long)opset);
    return ANVIL_OK;
}

anvil_status anvil__op_scatter_nd_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1], *upd = ctx->inputs[2];
    int64_t k;
    anvil_status s = nd_check(n, data, ind, 0, &k);
    if (s != ANVIL_OK) return s;
    if (upd->dtype != ANVIL_DTYPE_UNDEFINED && data->dtype != ANVIL_DTYPE_UNDEFINED &&
        upd->dtype != data->dtype)
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "updates must have the dtype of data (%s), got %s",
                                 anvil_dtype_name(data->dtype), anvil_dtype_name(upd->dtype));
    if (k >= 0 && upd->rank >= 0) { /* updates shape = indices.shape[:-1] + data.shape[k:] */
        int64_t want[2 * ANVIL_MAX_RANK];
        int32_t r = 0;
        for (int32_t d = 0; d < ind->rank - 1; d++)
            want[r++] = ind->dims[d];
        for (int32_t d = (int32_t)k; d < data->rank; d++)
            want[r++] = data->dims[d];
        bool ok = r == upd->rank;
        for (int32_t d = 0; ok && d < r; d++)
            ok = want[d] < 0 || upd->dims[d] < 0 || want[d] == upd->dims[d];
        if (!ok) {
            char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "updates must have shape %s, got %s",
                                     anvil__shape_str(r, want, a, sizeof a),
                                     anvil__shape_str(upd->rank, upd->dims, b, sizeof b));
        }
    }
    return anvil__same_as_input(ctx, 0, 0);
}

/* dst[i] = dst[i] (op) src[j] in the dtype of both; integers exact (wrapping), unsigned
 * compared as unsigned, bool add/mul as or/and (numpy semantics). */
static void combine(anvil_dtype dt, void *dst, size_t i, const void *src, size_t j, reduction red) {
    if (anvil__dtype_is_float(dt)) {
        double a = anvil__load_f64(dt, dst, i), b = anvil__load_f64(dt, src, j);
        double r = red == RED_ADD   ? a + b
                   : red == RED_MUL ? a * b
                   : red == RED_MAX ? (a >= b || a != a ? a : b)
                                    : (a <= b || a != a ? a : b);
        anvil__store_f64(dt, dst, i, r);
        return;
    }
    int64_t a = anvil__load_i64(dt, dst, i), b = anvil__load_i64(dt, src, j);
    bool is_u64 = dt == ANVIL_DTYPE_U64;
    bool a_ge = is_u64 ? (uint64_t)a >= (uint64_t)b : a >= b;
    int64_t r;
    if (red == RED_ADD)
        r = (int64_t)((uint64_t)a + (uint64_t)b);
    else if (red == RED_MUL)
        r = (int64_t)((uint64_t)a * (uint64_t)b);
    else if (red == RED_MAX)
        r = a_ge ? a : b;
    else
        r = a_ge ? b : a;
    anvil__store_i64(dt, dst, i, r);
}

anvil_status anvil__op_scatter_nd_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *data = ctx->inputs[0], *ind = ctx->inputs[1], *upd = ctx->inputs[2];
    anvil__tensor *out = ctx->outputs[0];
    reduction red = (reduction)parse_reduction(anvil__attr_string(n, "reduction", "none"));
    int32_t k = (int32_t)ind->dims[ind->rank - 1];
    size_t es = anvil_dtype_size(data->dtype);
    size_t count = prod(ind->dims, 0, ind->rank - 1), slice = prod(data->dims, k, data->rank);
    int64_t strides[ANVIL_MAX_RANK];
    anvil__strides(data->rank, data->dims, strides);
    if (data->bytes) memcpy(out->data, data->data, data->bytes);
    for (size_t t = 0; t < count; t++) {
        size_t off;
        anvil_status s = nd_offset(n, data, ind, 0, k, t, strides, &off);
        if (s != ANVIL_OK) return s;
        if (red == RED_NONE) {
            memcpy((char *)out->data + off * es, (const char *)upd->data + t * slice * es,
                   slice * es);
            continue;
        }
        for (size_t e = 0; e < slice; e++)
            combine(data->dtype, out->data, off + e, upd->data, t * slice + e, red);
    }
    return ANVIL_OK;
}
