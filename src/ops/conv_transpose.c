/*
 * conv_transpose.c — ConvTranspose (1-D to 6-D spatial, groups, strides, dilations, pads,
 * output_padding, output_shape, auto_pad) as a reference kernel: the shared f32 GEMM makes
 * each input position's contribution per (output channel, kernel tap), then col2im adds them
 * into the output. f32 only. Window attributes are read by nn_window.c.
 */
#include "ops/nn_common.h"

#include <string.h>

/* col tile budget in floats (512 KiB), as in conv.c. */
#define CONVT_COL_BUDGET ((size_t)1 << 17)

anvil_status anvil__op_conv_transpose_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__nn_conv_validate(node);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "output_padding", ANVIL_ATTR_INTS);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "output_shape", ANVIL_ATTR_INTS);
    if (s != ANVIL_OK) return s;
    static const char *names[] = {"output_padding", "output_shape"};
    for (int a = 0; a < 2; a++) {
        size_t len;
        const int64_t *v = anvil__attr_ints(node, names[a], &len);
        for (size_t i = 0; i < len; i++)
            if (v[i] < 0 || v[i] > ANVIL_NN_MAX_DIM)
                return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                         "%s[%zu] = %lld is out of range", names[a], i,
                                         (long long)v[i]);
    }
    return ANVIL_OK;
}

/* Reads output_padding / output_shape for ns spatial dims (output_shape may also list N, C). */
static anvil_status out_attrs(const anvil__node *node, int32_t ns, int64_t *opad,
                              const int64_t **oshape) {
    size_t len;
    const int64_t *v = anvil__attr_ints(node, "output_padding", &len);
    if (v && len != (size_t)ns)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "output_padding has %zu values, expected %d", len, (int)ns);
    for (int32_t i = 0; i < ns; i++)
        opad[i] = v ? v[i] : 0;
    v = anvil__attr_ints(node, "output_shape", &len);
    *oshape = NULL;
    if (!v) return ANVIL_OK;
    if (len != (size_t)ns && len != (size_t)ns + 2)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "output_shape has %zu values, expected %d", len, (int)ns);
    *oshape = v + (len - (size_t)ns);
    return ANVIL_OK;
}

/* Output size and pads of spatial dim i (input size known). */
static anvil_status spatial_dim(const anvil__node *node, anvil__window *w, int32_t i, int64_t in,
                                int64_t opad, const int64_t *oshape, int64_t *out) {
    int64_t span = (w->kernel[i] - 1) * w->dilation[i] + 1, grown;
    if (in > ANVIL_NN_MAX_DIM || !anvil__mul_i64(w->stride[i], in > 0 ? in - 1 : 0, &grown) ||
        grown > ANVIL_NN_MAX_DIM)
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "spatial dim %d: output of stride %lld x input %lld is too large",
                                 (int)i, (long long)w->stride[i], (long long)in);
    int64_t full = grown + opad + span; /* output size before cropping by pads */
    bool same =
        w->auto_pad == ANVIL_AUTO_PAD_SAME_UPPER || w->auto_pad == ANVIL_AUTO_PAD_SAME_LOWER;
    if (oshape || same) {
        *out = oshape ? oshape[i] : in * w->stride[i];
        int64_t total = full - *out, half = anvil__floor_div(total, 2);
        bool upper = w->auto_pad == ANVIL_AUTO_PAD_SAME_UPPER;
        w->pad_begin[i] = upper ? half : total - half;
        w->pad_end[i] = upper ? total - half : half;
        return ANVIL_OK;
    }
    if (w->auto_pad == ANVIL_AUTO_PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
    *out = full - w->pad_begin[i] - w->pad_end[i];
    if (*out < 0)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "spatial dim %d: pads %lld + %lld exceed the output size %lld",
                                 (int)i, (long long)w->pad_begin[i], (long long)w->pad_end[i],
                                 (long long)full);
    return ANVIL_OK;
}

static anvil_status convt_geometry(const anvil__op_ctx *ctx, anvil__conv_geom *g) {
    const anvil__node *node = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    int32_t rank;
    anvil_status s = anvil__nn_conv_rank(node, x, w, &rank);
    if (s != ANVIL_OK) return s;
    g->rank = rank;
    if (rank < 0) return ANVIL_OK;
    int32_t ns = rank - 2;
    int64_t kernel[ANVIL_NN_MAX_SPATIAL], opad[ANVIL_NN_MAX_SPATIAL];
    const int64_t *oshape;
    s = anvil__nn_conv_spatial(node, x, w, rank, kernel, g->in);
    if (s == ANVIL_OK) s = anvil__window_read(node, ns, kernel, &g->w);
    if (s == ANVIL_OK) s = out_attrs(node, ns, opad, &oshape);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; i < ns; i++) {
        g->out[i] = -1;
        if (g->in[i] >= 0 && g->w.kernel[i] >= 0) {
            s = spatial_dim(node, &g->w, i, g->in[i], opad[i], oshape, &g->out[i]);
            if (s != ANVIL_OK) return s;
        } else if (oshape) {
            g->out[i] = oshape[i];
        }
    }
    g->group = anvil__attr_int(node, "group", 1);
    g->n = x->rank >= 0 ? x->dims[0] : -1;
    g->c = x->rank >= 0 ? x->dims[1] : -1;
    int64_t cw = w->rank >= 0 ? w->dims[0] : -1, mg = w->rank >= 0 ? w->dims[1] : -1;
    if (g->c >= 0 && cw >= 0 && g->c != cw)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "input X has %lld channels but weight W has %lld", (long long)g->c,
                                 (long long)cw);
    if (cw >= 0 && cw % g->group != 0)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "weight W has %lld input channels, not a multiple of group %lld",
                                 (long long)cw, (long long)g->group);
    g->m = -1;
    if (mg >= 0 && !anvil__mul_i64(mg, g->group, &g->m))
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "%lld output channels per group x group %lld is too large",
                                 (long long)mg, (long long)g->group);
    return anvil__nn_conv_finish(node, anvil__nn_conv_bias(ctx), g);
}

anvil_status anvil__op_conv_transpose_infer(anvil__op_ctx *ctx) {
    anvil_status s = anvil__nn_conv_expect_float(ctx);
    if (s != ANVIL_OK) return s;
    anvil__conv_geom g;
    s = convt_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, ctx->inputs[0]->dtype, g.rank, g.out_dims);
}

/* Adds col rows (output channel mm, kernel tap) for input positions [p0, p0 + t) into y (the
 * group's first output channel): input position i and tap k land on output i*s + k*d - pad. */
static void col2im(const anvil__conv_geom *g, const float *col, size_t mg, size_t p0, size_t t,
                   float *y) {
    const anvil__window *w = &g->w;
    int32_t ns = w->n, last = ns - 1;
    int64_t out_stride[ANVIL_NN_MAX_SPATIAL];
    anvil__strides(ns, g->out, out_stride);
    size_t out_size = (size_t)(out_stride[0] * g->out[0]);
    int64_t kidx[ANVIL_NN_MAX_SPATIAL] = {0};
    const float *src = col;
    for (size_t mm = 0; mm < mg; mm++) {
        float *ym = y + mm * out_size;
        do {
            int64_t idx[ANVIL_NN_MAX_SPATIAL];
            size_t rem = p0;
            for (int32_t d = last; d >= 0; d--) {
                idx[d] = (int64_t)(rem % (size_t)g->in[d]);
                rem /= (size_t)g->in[d];
            }
            int64_t off_last = kidx[last] * w->dilation[last] - w->pad_begin[last];
            for (size_t p = 0; p < t;) {
                size_t run = (size_t)(g->in[last] - idx[last]);
                if (run > t - p) run = t - p;
                bool inside = true;
                int64_t base = 0;
                for (int32_t d = 0; d < last; d++) {
                    int64_t oc = idx[d] * w->stride[d] - w->pad_begin[d] + kidx[d] * w->dilation[d];
                    if (oc < 0 || oc >= g->out[d]) inside = false;
                    base += oc * out_stride[d];
                }
                size_t lo = 0, hi = 0;
                int64_t st = w->stride[last];
                if (inside)
                    anvil__nn_run_range(idx[last], st, off_last, g->out[last], run, &lo, &hi);
                if (hi > lo) { /* dst: the output element of input position lo */
                    float *dst = ym + base + (idx[last] + (int64_t)lo) * st + off_last;
                    for (size_t j = lo; j < hi; j++)
                        dst[(int64_t)(j - lo) * st] += src[p + j];
                }
                p += run;
                idx[last] += (int64_t)run;
                if (idx[last] == g->in[last]) {
                    idx[last] = 0;
                    anvil__nn_next(last, g->in, idx);
                }
            }
            src += t;
        } while (anvil__nn_next(ns, w->kernel, kidx));
    }
}

/* Per group: W_g is stored (cg, mg*kk); the GEMM wants its transpose (mg*kk, cg). */
static float *weight_transposed(const float *wd, size_t groups, size_t cg, size_t rows) {
    float *t = anvil__malloc_array(groups * cg, rows * sizeof *t);
    if (!t) return NULL;
    for (size_t gi = 0; gi < groups; gi++) {
        const float *src = wd + gi * cg * rows;
        float *dst = t + gi * cg * rows;
        for (size_t c = 0; c < cg; c++)
            for (size_t r = 0; r < rows; r++)
                dst[r * cg + c] = src[c * rows + r];
    }
    return t;
}

anvil_status anvil__op_conv_transpose_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *wt = ctx->inputs[1], *b = anvil__nn_conv_bias(ctx);
    anvil_status s = anvil__nn_conv_expect_f32(ctx);
    if (s != ANVIL_OK) return s;
    anvil__conv_geom g;
    s = convt_geometry(ctx, &g);
    if (s != ANVIL_OK) return s;
    size_t in_size = 1, out_size = 1, kk = 1;
    for (int32_t d = 0; d < g.w.n; d++) {
        in_size *= (size_t)g.in[d];
        out_size *= (size_t)g.out[d];
        kk *= (size_t)g.w.kernel[d];
    }
    size_t n = (size_t)g.n, m = (size_t)g.m, c = (size_t)g.c, groups = (size_t)g.group;
    size_t mg = m / groups, cg = c / groups, rows = mg * kk;
    float *y = ctx->outputs[0]->data;
    if (n * m * out_size == 0) return ANVIL_OK;
    if (b) anvil__nn_fill_bias(y, b->data, n * m, m, out_size);
    if (rows == 0 || in_size == 0 || cg == 0) return ANVIL_OK;
    size_t tile = CONVT_COL_BUDGET / rows;
    if (tile < 64) tile = 64;
    if (tile > in_size) tile = in_size;
    float *wtr = weight_transposed(wt->data, groups, cg, rows);
    float *col = wtr ? anvil__malloc_array(rows, tile * sizeof *col) : NULL;
    if (!col) {
        anvil__free(wtr);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    const float *xd = x->data;
    for (size_t i = 0; i < n; i++) {
        for (size_t gi = 0; gi < groups; gi++) {
            const float *xg = xd + (i * c + gi * cg) * in_size;
            float *yg = y + (i * m + gi * mg) * out_size;
            for (size_t p0 = 0; p0 < in_size; p0 += tile) {
                size_t t = in_size - p0 < tile ? in_size - p0 : tile;
                memset(col, 0, rows * t * sizeof *col);
                anvil__gemm_f32(rows, t, cg, 1.0f, wtr + gi * cg * rows, cg, xg + p0, in_size, col,
                                t);
                col2im(&g, col, mg, p0, t, yg);
            }
        }
    }
    anvil__free(col);
    anvil__free(wtr);
    return ANVIL_OK;
}
