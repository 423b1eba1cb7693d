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
    return anvil__nn_conv_validate(node);
}

static anvil_status conv_geometry(const anvil__op_ctx *ctx, anvil__conv_geom *g) {
    const anvil__node *node = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    int32_t rank;
    anvil_status s = anvil__nn_conv_rank(node, x, w, &rank);
    if (s != ANVIL_OK) return s;
    size_t nk = 0;
    if (rank < 0 && anvil__attr_ints(node, "kernel_shape", &nk)) rank = (int32_t)nk + 2;
    g->rank = rank;
    if (rank < 0) return ANVIL_OK;
    int32_t ns = rank - 2;
    int64_t kernel[ANVIL_NN_MAX_SPATIAL];
    s = anvil__nn_conv_spatial(node, x, w, rank, kernel, g->in);
    if (s == ANVIL_OK) s = anvil__window_read(node, ns, kernel, &g->w);
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
    return anvil__nn_conv_finish(node, anvil__nn_conv_bias(ctx), g);
}

anvil_status anvil__op_conv_infer(anvil__op_ctx *ctx) {
    anvil_status s = anvil__nn_conv_expect_float(ctx);
    if (s != ANVIL_OK) return s;
    anvil__conv_geom g;
    s = conv_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, ctx->inputs[0]->dtype, g.rank, g.out_dims);
}

/* Fills rows of the im2col matrix for output positions [p0, p0 + t): row (c, kernel offset)
 * holds, per output position, the input element that kernel tap reads (0 in the padding).
 * `x` points at the group's first channel. */
static void im2col(const anvil__conv_geom *g, const float *x, int64_t cg, size_t p0, size_t t,
                   float *col) {
    const anvil__window *w = &g->w;
    int32_t ns = w->n, last = ns - 1;
    int64_t in_stride[ANVIL_NN_MAX_SPATIAL];
    anvil__strides(ns, g->in, in_stride);
    size_t in_size = (size_t)(in_stride[0] * g->in[0]);
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
    const anvil__tensor *x = ctx->inputs[0], *wt = ctx->inputs[1], *b = anvil__nn_conv_bias(ctx);
    anvil_status s = anvil__nn_conv_expect_f32(ctx);
    if (s != ANVIL_OK) return s;
    anvil__conv_geom g;
    s = conv_geometry(ctx, &g);
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
    if (b) anvil__nn_fill_bias(y, b->data, n * m, m, out_size);
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
