/*
 * pool.c — AveragePool, MaxPool (with the optional Indices output and storage_order) and
 * GlobalAveragePool / GlobalMaxPool, 1-D to 6-D spatial, as direct reference loops. Windows
 * follow nn_window.c (pads, strides, dilations, auto_pad, ceil_mode). AveragePool and the
 * global pools see f32 only; MaxPool compares any supported dtype and copies elements.
 */
#include "ops/nn_common.h"

#include <math.h>
#include <string.h>

static bool is_max(const anvil__node *node) {
    return node->op == ANVIL_OP_MaxPool || node->op == ANVIL_OP_GlobalMaxPool;
}

/* MaxPool compares through double, so only dtypes that convert exactly are accepted. */
static anvil_status maxpool_dtype(const anvil__node *node, anvil_dtype dt) {
    switch (dt) {
    case ANVIL_DTYPE_UNDEFINED:
    case ANVIL_DTYPE_F32:
    case ANVIL_DTYPE_F16:
    case ANVIL_DTYPE_BF16:
    case ANVIL_DTYPE_F64:
    case ANVIL_DTYPE_I8:
    case ANVIL_DTYPE_U8:
    case ANVIL_DTYPE_I16:
    case ANVIL_DTYPE_U16:
    case ANVIL_DTYPE_I32:
    case ANVIL_DTYPE_U32:
        return ANVIL_OK;
    default:
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                                 "input X dtype %s is not supported", anvil_dtype_name(dt));
    }
}

anvil_status anvil__op_pool_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__window_validate(node, true);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "ceil_mode", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "count_include_pad", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "storage_order", ANVIL_ATTR_INT);
    if (s != ANVIL_OK) return s;
    int64_t so = anvil__attr_int(node, "storage_order", 0);
    if (so != 0 && so != 1)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "storage_order must be 0 or 1, got %lld", (long long)so);
    return ANVIL_OK;
}

typedef struct pool_geom {
    int32_t rank; /* -1 unknown */
    int64_t out_dims[ANVIL_MAX_RANK];
    anvil__window w;
    int64_t in[ANVIL_NN_MAX_SPATIAL], out[ANVIL_NN_MAX_SPATIAL];
} pool_geom;

static anvil_status pool_geometry(const anvil__op_ctx *ctx, pool_geom *g) {
    const anvil__node *node = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    g->rank = x->rank;
    if (x->rank < 0) return ANVIL_OK;
    if (x->rank < 3)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected rank >= 3 (N, C, spatial...), got %d", (int)x->rank);
    int32_t ns = x->rank - 2;
    memcpy(g->in, x->dims + 2, (size_t)ns * sizeof *g->in);
    bool ceil_mode = anvil__attr_int(node, "ceil_mode", 0) != 0;
    anvil_status s = anvil__window_read(node, ns, NULL, &g->w);
    if (s == ANVIL_OK) s = anvil__window_output(node, &g->w, g->in, ceil_mode, g->out);
    if (s != ANVIL_OK) return s;
    g->out_dims[0] = x->dims[0];
    g->out_dims[1] = x->dims[1];
    memcpy(g->out_dims + 2, g->out, (size_t)ns * sizeof *g->out);
    return ANVIL_OK;
}

anvil_status anvil__op_pool_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = is_max(ctx->node) ? maxpool_dtype(ctx->node, x->dtype)
                                       : anvil__nn_expect_float(ctx->node, x->dtype, "input X");
    if (s != ANVIL_OK) return s;
    pool_geom g;
    s = pool_geometry(ctx, &g);
    if (s == ANVIL_OK) s = anvil__set_output(ctx, 0, x->dtype, g.rank, g.out_dims);
    if (s == ANVIL_OK && is_max(ctx->node))
        s = anvil__set_output(ctx, 1, ANVIL_DTYPE_I64, g.rank, g.out_dims);
    return s;
}

/* Taps of one window that fall in [lo_bound, hi_bound) along one dim: k in [*lo, *hi). */
static void tap_range(int64_t start, int64_t dil, int64_t k, int64_t lo_bound, int64_t hi_bound,
                      int64_t *lo, int64_t *hi) {
    int64_t a = start >= lo_bound ? 0 : (lo_bound - start + dil - 1) / dil;
    int64_t b = start < hi_bound ? (hi_bound - 1 - start) / dil + 1 : 0;
    *lo = a < k ? a : k;
    *hi = b < k ? b : k;
    if (*hi < *lo) *hi = *lo;
}

/* What every output element of one pool run shares. */
typedef struct pool_run {
    const pool_geom *g;
    anvil_dtype dt;
    const void *x;
    int64_t in_stride[ANVIL_NN_MAX_SPATIAL];
    bool max;
} pool_run;

static double load(const pool_run *r, size_t i) {
    return r->dt == ANVIL_DTYPE_F32 ? (double)((const float *)r->x)[i]
                                    : anvil__load_f64(r->dt, r->x, i);
}

/* One output element at output coordinates `oidx` of the (n, c) plane starting at input
 * offset `plane`: visits every tap inside the input and returns how many. Average: *result is
 * the sum. Max: *result is the maximum, *best its input offset and best_coord its spatial
 * coordinates (ties keep the first). */
static int64_t pool_window(const pool_run *r, size_t plane, const int64_t *oidx, double *result,
                           size_t *best, int64_t *best_coord) {
    const anvil__window *w = &r->g->w;
    int32_t ns = w->n;
    int64_t start[ANVIL_NN_MAX_SPATIAL], lo[ANVIL_NN_MAX_SPATIAL], hi[ANVIL_NN_MAX_SPATIAL];
    int64_t span[ANVIL_NN_MAX_SPATIAL], k[ANVIL_NN_MAX_SPATIAL] = {0};
    for (int32_t d = 0; d < ns; d++) {
        start[d] = oidx[d] * w->stride[d] - w->pad_begin[d];
        tap_range(start[d], w->dilation[d], w->kernel[d], 0, r->g->in[d], &lo[d], &hi[d]);
        if (hi[d] == lo[d]) return 0;
        span[d] = hi[d] - lo[d];
    }
    double acc = r->max ? -INFINITY : 0.0;
    int64_t count = 0;
    bool found = false;
    do {
        size_t off = plane;
        for (int32_t d = 0; d < ns; d++)
            off += (size_t)((start[d] + (lo[d] + k[d]) * w->dilation[d]) * r->in_stride[d]);
        double v = load(r, off);
        count++;
        if (!r->max) {
            acc += v;
        } else if (!found || v > acc) {
            found = true;
            acc = v;
            *best = off;
            for (int32_t d = 0; d < ns; d++)
                best_coord[d] = start[d] + (lo[d] + k[d]) * w->dilation[d];
        }
    } while (anvil__nn_next(ns, span, k));
    *result = acc;
    return count;
}

/* Taps counted by count_include_pad: inside the input plus its explicit/auto pads (not the
 * extra room ceil_mode may add at the end). */
static int64_t padded_count(const anvil__window *w, const int64_t *in, const int64_t *oidx) {
    int64_t count = 1;
    for (int32_t d = 0; d < w->n; d++) {
        int64_t lo, hi, start = oidx[d] * w->stride[d] - w->pad_begin[d];
        tap_range(start, w->dilation[d], w->kernel[d], -w->pad_begin[d], in[d] + w->pad_end[d], &lo,
                  &hi);
        count *= hi - lo;
    }
    return count;
}

/* Flat index for the Indices output: the (n, c) plane, then the coordinates in row-major
 * (storage_order 0) or column-major (1) order. */
static int64_t max_index(const pool_geom *g, size_t plane_index, size_t in_size,
                         const int64_t *coord, bool col_major) {
    int64_t idx = 0, stride = 1;
    for (int32_t i = 0; i < g->w.n; i++) {
        int32_t d = col_major ? i : g->w.n - 1 - i;
        idx += coord[d] * stride;
        stride *= g->in[d];
    }
    return (int64_t)(plane_index * in_size) + idx;
}

static void store_lowest(anvil_dtype dt, void *y, size_t i) {
    if (anvil__dtype_is_float(dt)) {
        anvil__store_f64(dt, y, i, -INFINITY);
    } else {
        int64_t lowest = dt == ANVIL_DTYPE_I8    ? INT8_MIN
                         : dt == ANVIL_DTYPE_I16 ? INT16_MIN
                         : dt == ANVIL_DTYPE_I32 ? INT32_MIN
                                                 : 0;
        anvil__store_i64(dt, y, i, lowest);
    }
}

anvil_status anvil__op_pool_run(anvil__op_ctx *ctx) {
    const anvil__node *node = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    pool_geom g;
    anvil_status s = pool_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    pool_run r = {&g, x->dtype, x->data, {0}, is_max(node)};
    if (!r.max && x->dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                                 "run-time input must be f32, got %s", anvil_dtype_name(x->dtype));
    int32_t ns = g.w.n;
    size_t in_size = 1, out_size = 1, esize = anvil_dtype_size(x->dtype);
    for (int32_t d = ns - 1; d >= 0; d--) {
        r.in_stride[d] = (int64_t)in_size;
        in_size *= (size_t)g.in[d];
        out_size *= (size_t)g.out[d];
    }
    size_t planes = (size_t)x->dims[0] * (size_t)x->dims[1];
    bool include_pad = anvil__attr_int(node, "count_include_pad", 0) != 0;
    bool col_major = anvil__attr_int(node, "storage_order", 0) != 0;
    anvil__tensor *y = ctx->outputs[0];
    anvil__tensor *ind = ctx->n_outputs > 1 ? ctx->outputs[1] : NULL;
    size_t o = 0;
    for (size_t p = 0; p < planes && out_size > 0; p++) {
        int64_t oidx[ANVIL_NN_MAX_SPATIAL] = {0};
        do {
            double v = 0.0;
            size_t best = 0;
            int64_t coord[ANVIL_NN_MAX_SPATIAL];
            int64_t n = pool_window(&r, p * in_size, oidx, &v, &best, coord);
            if (!r.max) {
                int64_t div = include_pad ? padded_count(&g.w, g.in, oidx) : n;
                ((float *)y->data)[o] = div > 0 ? (float)(v / (double)div) : NAN;
            } else if (n > 0) {
                memcpy((char *)y->data + o * esize, (const char *)x->data + best * esize, esize);
                if (ind) ((int64_t *)ind->data)[o] = max_index(&g, p, in_size, coord, col_major);
            } else {
                store_lowest(x->dtype, y->data, o);
                if (ind) ((int64_t *)ind->data)[o] = -1;
            }
            o++;
        } while (anvil__nn_next(ns, g.out, oidx));
    }
    return ANVIL_OK;
}

/* ---- GlobalAveragePool / GlobalMaxPool ------------------------------------------------------ */

anvil_status anvil__op_global_pool_validate(const anvil__node *node, int64_t opset) {
    return ANVIL_OK;
}

anvil_status anvil__op_global_pool_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = anvil__nn_expect_float(ctx->node, x->dtype, "input X");
    if (s != ANVIL_OK) return s;
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    if (x->rank < 2)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected rank >= 2 (N, C, spatial...), got %d", (int)x->rank);
    int64_t dims[ANVIL_MAX_RANK];
    for (int32_t d = 0; d < x->rank; d++)
        dims[d] = d < 2 ? x->dims[d] : 1;
    return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
}

anvil_status anvil__op_global_pool_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    if (x->dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "run-time input must be f32, got %s", anvil_dtype_name(x->dtype));
    size_t planes = (size_t)x->dims[0] * (size_t)x->dims[1], size = 1;
    for (int32_t d = 2; d < x->rank; d++)
        size *= (size_t)x->dims[d];
    bool max = is_max(ctx->node);
    const float *xd = x->data;
    float *y = ctx->outputs[0]->data;
    for (size_t p = 0; p < planes; p++) {
        const float *src = xd + p * size;
        double acc = max ? -INFINITY : 0.0;
        for (size_t i = 0; i < size; i++) {
            if (!max)
                acc += src[i];
            else if (src[i] > acc)
                acc = src[i];
        }
        y[p] = (float)(max ? acc : acc / (double)size);
    }
    return ANVIL_OK;
}
