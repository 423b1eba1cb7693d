/*
 * conv.c — Conv (1-D to 6-D spatial, groups, strides, dilations, pads, auto_pad) as a
 * reference kernel: im2col of a tile of output positions, then the shared blocked f32 GEMM.
 * 1x1 stride-1 unpadded convolutions skip im2col. f32 only (the interpreter converts other
 * floats). Geometry lives in nn_window.c; ConvTranspose in conv_transpose.c.
 */
#include "ops/nn_common.h"

#include <string.h>

/* im2col tile budget in floats (512 KiB): bounds memory for huge convolutions and keeps the
 * tile in L2 while the GEMM walks it. */
#define CONV_COL_BUDGET ((size_t)1 << 17)

anvil_status anvil__op_conv_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__window_validate(node, false);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "group", ANVIL_ATTR_INT);
    int64_t group = anvil__attr_int(node, "group", 1);
    if (s == ANVIL_OK && (group < 1 || group > ANVIL_NN_MAX_ATTR))
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "group must be in [1, %lld], got %lld",
                                 (long long)ANVIL_NN_MAX_ATTR, (long long)group);
    return s;
}

/* Everything the kernel needs, derived from the inputs' shapes and the attributes. */
typedef struct conv_geom {
    int32_t rank; /* output rank; -1 unknown */
    int64_t out_dims[ANVIL_MAX_RANK];
    anvil__window w;
    int64_t n, c, m, group;
    int64_t in[ANVIL_NN_MAX_SPATIAL], out[ANVIL_NN_MAX_SPATIAL];
} conv_geom;

static const anvil__tensor *conv_bias(const anvil__op_ctx *ctx) {
    return ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
}

static anvil_status conv_geometry(const anvil__op_ctx *ctx, conv_geom *g) {
    const anvil__node *node = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = conv_bias(ctx);
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "input X has rank %d but weight W has rank %d", (int)x->rank,
                                 (int)w->rank);
    int32_t rank = x->rank >= 0 ? x->rank : w->rank;
    size_t nk = 0;
    if (rank < 0 && anvil__attr_ints(node, "kernel_shape", &nk)) rank = (int32_t)nk + 2;
    g->rank = rank;
    if (rank < 0) return ANVIL_OK;
    if (rank < 3 || rank > ANVIL_MAX_RANK)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected rank 3 to %d (N, C, spatial...), got %d", ANVIL_MAX_RANK,
                                 (int)rank);
    int32_t ns = rank - 2;
    int64_t kernel[ANVIL_NN_MAX_SPATIAL];
    for (int32_t i = 0; i < ns; i++) {
        kernel[i] = w->rank >= 0 ? w->dims[2 + i] : -1;
        g->in[i] = x->rank >= 0 ? x->dims[2 + i] : -1;
    }
    anvil_status s = anvil__window_read(node, ns, kernel, &g->w);
    if (s == ANVIL_OK) s = anvil__window_output(node, &g->w, g->in, false, g->out);
    if (s != ANVIL_OK) return s;
    g->group = anvil__attr_int(node, "group", 1);
    g->n = x->rank >= 0 ? x->dims[0] : -1;
    g->c = x->rank >= 0 ? x->dims[1] : -1;
    g->m = w->rank >= 0 ? w->dims[0] : -1;
    int64_t cw = w->rank >= 0 ? w->dims[1] : -1;
    int64_t need = -1;
    if (g->c >= 0 && cw >= 0 && (!anvil__mul_i64(cw, g->group, &need) || g->c != need))
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "input X has %lld channels but weight W expects %lld "
                                 "(%lld per group x group %lld)",
                                 (long long)g->c, (long long)need, (long long)cw,
                                 (long long)g->group);
    if (g->m >= 0 && g->m % g->group != 0)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "weight W has %lld output channels, not a multiple of group %lld",
                                 (long long)g->m, (long long)g->group);
    if (b && b->rank >= 0 &&
        (b->rank != 1 || (b->dims[0] >= 0 && g->m >= 0 && b->dims[0] != g->m))) {
        char buf[ANVIL_SHAPE_STR_MAX];
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "bias B has shape %s, expected [%lld] (output channels)",
                                 anvil__shape_str(b->rank, b->dims, buf, sizeof buf),
                                 (long long)g->m);
    }
    g->out_dims[0] = g->n;
    g->out_dims[1] = g->m;
    memcpy(g->out_dims + 2, g->out, (size_t)ns * sizeof *g->out);
    return ANVIL_OK;
}

anvil_status anvil__op_conv_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = conv_bias(ctx);
    anvil_status s = anvil__nn_expect_float(ctx->node, x->dtype, "input X");
    if (s == ANVIL_OK) s = anvil__nn_expect_float(ctx->node, w->dtype, "weight W");
    if (s == ANVIL_OK && b) s = anvil__nn_expect_float(ctx->node, b->dtype, "bias B");
    if (s != ANVIL_OK) return s;
    conv_geom g;
    s = conv_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, g.rank, g.out_dims);
}

/* Fills rows of the im2col matrix for output positions [p0, p0 + t): row (c, kernel offset)
 * holds, per output position, the input element that kernel tap reads (0 in the padding).
 * `x` points at the group's first channel. */
static void im2col(const conv_geom *g, const float *x, int64_t cg, size_t p0, size_t t,
                   float *col) {
    const anvil__window *w = &g->w;
    int32_t ns = w->n, last = ns - 1;
    size_t in_size = 1;
    int64_t in_stride[ANVIL_NN_MAX_SPATIAL];
    for (int32_t d = last; d >= 0; d--) {
        in_stride[d] = (int64_t)in_size;
        in_size *= (size_t)g->in[d];
    }
    int64_t kidx[ANVIL_NN_MAX_SPATIAL] = {0};
    float *dst = col;
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = x + (size_t)c * in_size;
        do { /* one row per kernel tap */
            int64_t idx[ANVIL_NN_MAX_SPATIAL];
            size_t rem = p0;
            for (int32_t d = last; d >= 0; d--) {
                idx[d] = (int64_t)(rem % (size_t)g->out[d]);
                rem /= (size_t)g->out[d];
            }
            int64_t off_last = kidx[last] * w->dilation[last] - w->pad_begin[last];
            int64_t st = w->stride[last], in_last = g->in[last];
            for (size_t p = 0; p < t;) {
                /* A run along the last output dim; outer dims fixed. */
                size_t run = (size_t)(g->out[last] - idx[last]);
                if (run > t - p) run = t - p;
                bool inside = true;
                int64_t base = 0;
                for (int32_t d = 0; d < last; d++) {
                    int64_t ic = idx[d] * w->stride[d] - w->pad_begin[d] + kidx[d] * w->dilation[d];
                    if (ic < 0 || ic >= g->in[d]) inside = false;
                    base += ic * in_stride[d];
                }
                float *o = dst + p;
                size_t lo = run, hi = run;
                if (inside) anvil__nn_run_range(idx[last], st, off_last, in_last, run, &lo, &hi);
                memset(o, 0, lo * sizeof *o);
                if (hi > lo) { /* src: the input element of output position lo */
                    const float *src = xc + base + (idx[last] + (int64_t)lo) * st + off_last;
                    if (st == 1) {
                        memcpy(o + lo, src, (hi - lo) * sizeof *o);
                    } else {
                        for (size_t j = lo; j < hi; j++)
                            o[j] = src[(int64_t)(j - lo) * st];
                    }
                }
                memset(o + hi, 0, (run - hi) * sizeof *o);
                p += run;
                idx[last] += (int64_t)run;
                if (idx[last] == g->out[last]) {
                    idx[last] = 0;
                    anvil__nn_next(last, g->out, idx);
                }
            }
            dst += t;
        } while (anvil__nn_next(ns, w->kernel, kidx));
    }
}

anvil_status anvil__op_conv_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *wt = ctx->inputs[1], *b = conv_bias(ctx);
    if (x->dtype != ANVIL_DTYPE_F32 || wt->dtype != ANVIL_DTYPE_F32 ||
        (b && b->dtype != ANVIL_DTYPE_F32))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "run-time inputs must be f32, got X %s",
                                 anvil_dtype_name(x->dtype));
    conv_geom g;
    anvil_status s = conv_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    const anvil__window *w = &g.w;
    size_t in_size = 1, out_size = 1, kk = 1;
    bool pointwise = true; /* 1x1 kernel, stride 1, no padding: the input is its own im2col */
    for (int32_t d = 0; d < w->n; d++) {
        in_size *= (size_t)g.in[d];
        out_size *= (size_t)g.out[d];
        kk *= (size_t)w->kernel[d];
        if (w->kernel[d] != 1 || w->stride[d] != 1 || w->pad_begin[d] || w->pad_end[d])
            pointwise = false;
    }
    size_t n = (size_t)g.n, m = (size_t)g.m, c = (size_t)g.c, groups = (size_t)g.group;
    size_t mg = m / groups, cg = c / groups, rows = cg * kk;
    float *y = ctx->outputs[0]->data;
    const float *xd = x->data, *wd = wt->data;
    if (n * m * out_size == 0) return ANVIL_OK;
    if (b)
        for (size_t i = 0; i < n * m; i++)
            for (size_t p = 0; p < out_size; p++)
                y[i * out_size + p] = ((const float *)b->data)[i % m];
    if (rows == 0) return ANVIL_OK;
    size_t tile = CONV_COL_BUDGET / rows;
    if (tile < 64) tile = 64;
    if (tile > out_size) tile = out_size;
    float *col = NULL;
    if (!pointwise) {
        col = anvil__malloc_array(rows, tile * sizeof *col);
        if (!col) return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t gi = 0; gi < groups; gi++) {
            const float *xg = xd + (i * c + gi * cg) * in_size;
            const float *wg = wd + gi * mg * rows;
            float *yg = y + (i * m + gi * mg) * out_size;
            if (pointwise) {
                anvil__gemm_f32(mg, out_size, cg, 1.0f, wg, rows, xg, in_size, yg, out_size);
                continue;
            }
            for (size_t p0 = 0; p0 < out_size; p0 += tile) {
                size_t t = out_size - p0 < tile ? out_size - p0 : tile;
                im2col(&g, xg, (int64_t)cg, p0, t, col);
                anvil__gemm_f32(mg, t, rows, 1.0f, wg, rows, col, t, yg + p0, out_size);
            }
        }
    }
    anvil__free(col);
    return ANVIL_OK;
}
