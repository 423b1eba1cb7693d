/*
 * topk_argminmax.c — TopK and ArgMax/ArgMin: validation, shape inference and reference
 * kernels for every dtype. Comparisons are exact (i64 for signed integers, u64 for u64, f64 for
 * floats); ties go to the lower index (ArgMax/ArgMin: the higher with select_last_index).
 * NaN ranks above every number in TopK and ArgMax and below in ArgMin (as numpy picks it).
 */
#include "ops/op.h"

#include <string.h>

static size_t prod(const int64_t *dims, int32_t from, int32_t to) {
    size_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= (size_t)dims[d];
    return p;
}

/* Keys of one slice along the axis, loaded once so comparisons are cheap and exact. */
typedef struct keys {
    enum { KEY_F64, KEY_I64, KEY_U64 } kind;
    union {
        double *f;
        int64_t *i;
    } v;
    bool nan_high; /* NaN compares above (true) or below (false) every number */
} keys;

static int cmp_keys(const keys *k, size_t a, size_t b) {
    if (k->kind == KEY_F64) {
        double x = k->v.f[a], y = k->v.f[b];
        bool xn = x != x, yn = y != y;
        if (xn || yn) return xn == yn ? 0 : (xn == k->nan_high ? 1 : -1);
        return x < y ? -1 : x > y;
    }
    if (k->kind == KEY_U64) {
        uint64_t x = (uint64_t)k->v.i[a], y = (uint64_t)k->v.i[b];
        return x < y ? -1 : x > y;
    }
    int64_t x = k->v.i[a], y = k->v.i[b];
    return x < y ? -1 : x > y;
}

static void load_keys(keys *k, anvil_dtype dt, const void *data, size_t first, size_t stride,
                      size_t len) {
    for (size_t t = 0; t < len; t++) {
        size_t i = first + t * stride;
        if (k->kind == KEY_F64)
            k->v.f[t] = anvil__load_f64(dt, data, i);
        else
            k->v.i[t] = anvil__load_i64(dt, data, i);
    }
}

static anvil_status keys_alloc(keys *k, anvil_dtype dt, size_t len, bool nan_high) {
    k->kind = anvil__dtype_is_float(dt) ? KEY_F64 : dt == ANVIL_DTYPE_U64 ? KEY_U64 : KEY_I64;
    k->nan_high = nan_high;
    void *p = anvil__malloc_array(len ? len : 1, 8);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (k->kind == KEY_F64)
        k->v.f = p;
    else
        k->v.i = p;
    return ANVIL_OK;
}

static void keys_free(keys *k) {
    anvil__free(k->kind == KEY_F64 ? (void *)k->v.f : (void *)k->v.i);
}

/* ---- TopK ---- */

anvil_status anvil__op_topk_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    static const char *ints[] = {"axis", "largest", "sorted"};
    for (int i = 0; i < 3; i++) {
        anvil_status s = anvil__attr_expect(node, ints[i], ANVIL_ATTR_INT);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status read_k(const anvil__node *n, const anvil__tensor *kt, int64_t dim, int64_t *k) {
    size_t count;
    anvil_status s = anvil__read_ints(n, kt, k, 1, &count);
    if (s != ANVIL_OK) return s;
    if (count != 1)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "K must hold exactly one value, got %zu", count);
    if (*k < 0 || (dim >= 0 && *k > dim))
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                 "K = %lld is out of range: the axis has %lld elements",
                                 (long long)*k, (long long)dim);
    return ANVIL_OK;
}

anvil_status anvil__op_topk_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *kt = ctx->inputs[1];
    anvil_status s;
    if (x->rank < 0) {
        if ((s = anvil__set_output(ctx, 0, x->dtype, -1, NULL)) != ANVIL_OK) return s;
        return anvil__set_output(ctx, 1, ANVIL_DTYPE_I64, -1, NULL);
    }
    if (x->rank == 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "input must have rank >= 1");
    int32_t axis;
    if ((s = anvil__axis(n, anvil__attr_int(n, "axis", -1), x->rank, &axis)) != ANVIL_OK) return s;
    int64_t k = -1, dims[ANVIL_MAX_RANK];
    if (kt->data && (s = read_k(n, kt, x->dims[axis], &k)) != ANVIL_OK) return s;
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    if ((s = anvil__set_output(ctx, 0, x->dtype, x->rank, dims)) != ANVIL_OK) return s;
    return anvil__set_output(ctx, 1, ANVIL_DTYPE_I64, x->rank, dims);
}

/* Stable bottom-up merge sort of idx[0..len) by key (descending when `desc`): equal keys
 * keep ascending index order, which is the tie rule TopK asks for. */
static void merge_sort(const keys *k, bool desc, int64_t *idx, int64_t *tmp, size_t len) {
    for (size_t w = 1; w < len; w *= 2) {
        for (size_t lo = 0; lo < len; lo += 2 * w) {
            size_t mid = lo + w < len ? lo + w : len, hi = lo + 2 * w < len ? lo + 2 * w : len;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                int c = cmp_keys(k, (size_t)idx[b], (size_t)idx[a]);
                bool take_b = desc ? c > 0 : c < 0;
                tmp[o++] = take_b ? idx[b++] : idx[a++];
            }
            while (a < mid)
                tmp[o++] = idx[a++];
            while (b < hi)
                tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, len * sizeof *idx);
    }
}

anvil_status anvil__op_topk_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *vals = ctx->outputs[0], *inds = ctx->outputs[1];
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", -1), x->rank, &axis);
    if (s != ANVIL_OK) return s;
    bool largest = anvil__attr_int(n, "largest", 1) != 0;
    size_t len = (size_t)x->dims[axis], k = (size_t)vals->dims[axis];
    size_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank);
    size_t es = anvil_dtype_size(x->dtype);
    keys key;
    if ((s = keys_alloc(&key, x->dtype, len, true)) != ANVIL_OK) return s;
    int64_t *idx = anvil__malloc_array(len ? 2 * len : 1, sizeof *idx);
    if (!idx) {
        keys_free(&key);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < inner; j++) {
            size_t base = o * len * inner + j;
            load_keys(&key, x->dtype, x->data, base, inner, len);
            for (size_t t = 0; t < len; t++)
                idx[t] = (int64_t)t;
            merge_sort(&key, largest, idx, idx + len, len);
            for (size_t t = 0; t < k; t++) {
                size_t dst = (o * k + t) * inner + j, src = base + (size_t)idx[t] * inner;
                memcpy((char *)vals->data + dst * es, (const char *)x->data + src * es, es);
                if (inds) ((int64_t *)inds->data)[dst] = idx[t];
            }
        }
    }
    anvil__free(idx);
    keys_free(&key);
    return ANVIL_OK;
}

/* ---- ArgMax / ArgMin ---- */

anvil_status anvil__op_argminmax_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    static const char *ints[] = {"axis", "keepdims", "select_last_index"};
    for (int i = 0; i < 3; i++) {
        anvil_status s = anvil__attr_expect(node, ints[i], ANVIL_ATTR_INT);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

anvil_status anvil__op_argminmax_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status narrow = anvil__reject_narrow(ctx);
    if (narrow != ANVIL_OK) return narrow;
    if (x->rank < 0) return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, -1, NULL);
    if (x->rank == 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "input must have rank >= 1");
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", 0), x->rank, &axis);
    if (s != ANVIL_OK) return s;
    bool keep = anvil__attr_int(n, "keepdims", 1) != 0;
    int64_t dims[ANVIL_MAX_RANK];
    int32_t r = 0;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d != axis)
            dims[r++] = x->dims[d];
        else if (keep)
            dims[r++] = 1;
    }
    return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, r, dims);
}

anvil_status anvil__op_argminmax_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    int64_t *out = ctx->outputs[0]->data;
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", 0), x->rank, &axis);
    if (s != ANVIL_OK) return s;
    bool is_max = n->op == ANVIL_OP_ArgMax;
    bool last = anvil__attr_int(n, "select_last_index", 0) != 0;
    size_t len = (size_t)x->dims[axis];
    size_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank);
    if (len == 0 && outer * inner > 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "cannot reduce axis %d of size 0",
                                 (int)axis);
    keys key;
    if ((s = keys_alloc(&key, x->dtype, len, is_max)) != ANVIL_OK) return s;
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < inner; j++) {
            load_keys(&key, x->dtype, x->data, o * len * inner + j, inner, len);
            size_t best = 0;
            for (size_t t = 1; t < len; t++) {
                int c = cmp_keys(&key, t, best);
                if (!is_max) c = -c;
                if (c > 0 || (c == 0 && last)) best = t;
            }
            out[o * inner + j] = (int64_t)best;
        }
    }
    keys_free(&key);
    return ANVIL_OK;
}
