/*
 * nn_window.c — sliding-window geometry shared by Conv, ConvTranspose, AveragePool and
 * MaxPool: attribute validation, reading kernel/strides/dilations/pads, auto_pad and output
 * sizes (ONNX spec formulas, pool ceil_mode rule); and the input checks Conv and ConvTranspose
 * share (ranks, bias, dtypes). No kernels here.
 */
#include "ops/nn_common.h"

#include <string.h>

anvil_status anvil__window_auto_pad(const anvil__node *node, anvil__auto_pad *out) {
    const char *s = anvil__attr_string(node, "auto_pad", "NOTSET");
    static const char *names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (anvil__auto_pad)i;
            return ANVIL_OK;
        }
    }
    /* Older exporters wrote an empty string for the default. */
    if (s[0] == '\0') {
        *out = ANVIL_AUTO_PAD_NOTSET;
        return ANVIL_OK;
    }
    return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                             "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '%s'",
                             s);
}

/* Checks kind and value range of one INTS attribute; sets *len (0 when absent). */
static anvil_status check_ints(const anvil__node *node, const char *name, int64_t lo, size_t *len) {
    anvil_status s = anvil__attr_expect(node, name, ANVIL_ATTR_INTS);
    if (s != ANVIL_OK) return s;
    const int64_t *v = anvil__attr_ints(node, name, len);
    for (size_t i = 0; i < *len; i++) {
        if (v[i] < lo || v[i] > ANVIL_NN_MAX_ATTR)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "%s[%zu] = %lld is out of range [%lld, %lld]", name, i,
                                     (long long)v[i], (long long)lo, (long long)ANVIL_NN_MAX_ATTR);
    }
    return ANVIL_OK;
}

anvil_status anvil__window_validate(const anvil__node *node, bool kernel_required) {
    anvil_status s = anvil__attr_expect(node, "auto_pad", ANVIL_ATTR_STRING);
    anvil__auto_pad ap;
    if (s == ANVIL_OK) s = anvil__window_auto_pad(node, &ap);
    if (s == ANVIL_OK && kernel_required)
        s = anvil__attr_require(node, "kernel_shape", ANVIL_ATTR_INTS);
    size_t nk = 0, ns = 0, nd = 0, np = 0;
    if (s == ANVIL_OK) s = check_ints(node, "kernel_shape", 1, &nk);
    if (s == ANVIL_OK) s = check_ints(node, "strides", 1, &ns);
    if (s == ANVIL_OK) s = check_ints(node, "dilations", 1, &nd);
    if (s == ANVIL_OK) s = check_ints(node, "pads", 0, &np);
    if (s != ANVIL_OK) return s;
    /* Every present attribute must describe the same number of spatial dims. */
    size_t n = nk ? nk : ns ? ns : nd ? nd : np / 2;
    if (n > ANVIL_NN_MAX_SPATIAL || (nk && nk != n) || (ns && ns != n) || (nd && nd != n) ||
        (np && np != 2 * n))
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "kernel_shape (%zu values), strides (%zu), dilations (%zu) and "
                                 "pads (%zu) disagree on the number of spatial dims (at most %d)",
                                 nk, ns, nd, np, ANVIL_NN_MAX_SPATIAL);
    return ANVIL_OK;
}

/* Copies an optional INTS attribute of n values (or fills `def`). */
static anvil_status read_ints(const anvil__node *node, const char *name, size_t n, int64_t def,
                              int64_t *out) {
    size_t len;
    const int64_t *v = anvil__attr_ints(node, name, &len);
    if (!v) {
        for (size_t i = 0; i < n; i++)
            out[i] = def;
        return ANVIL_OK;
    }
    if (len != n)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "attribute '%s' has %zu values, expected %zu for this input", name,
                                 len, n);
    memcpy(out, v, n * sizeof *out);
    return ANVIL_OK;
}

anvil_status anvil__window_read(const anvil__node *node, int32_t n, const int64_t *kernel,
                                anvil__window *w) {
    memset(w, 0, sizeof *w);
    if (n < 1 || n > ANVIL_NN_MAX_SPATIAL)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected 1 to %d spatial dims, got %d", ANVIL_NN_MAX_SPATIAL,
                                 (int)n);
    w->n = n;
    size_t sn = (size_t)n;
    int64_t pads[2 * ANVIL_NN_MAX_SPATIAL];
    anvil_status s = anvil__window_auto_pad(node, &w->auto_pad);
    if (s == ANVIL_OK) s = read_ints(node, "strides", sn, 1, w->stride);
    if (s == ANVIL_OK) s = read_ints(node, "dilations", sn, 1, w->dilation);
    if (s == ANVIL_OK) s = read_ints(node, "pads", 2 * sn, 0, pads);
    if (s == ANVIL_OK) s = read_ints(node, "kernel_shape", sn, -1, w->kernel);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; i < n; i++) {
        w->pad_begin[i] = pads[i];
        w->pad_end[i] = pads[n + i];
        int64_t k = kernel ? kernel[i] : -1;
        if (w->kernel[i] < 0) {
            w->kernel[i] = k;
        } else if (k >= 0 && k != w->kernel[i]) {
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "kernel_shape[%d] = %lld but the weight's spatial dim is %lld",
                                     (int)i, (long long)w->kernel[i], (long long)k);
        }
        if (w->kernel[i] > ANVIL_NN_MAX_ATTR)
            return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "kernel dim %d of %lld is too large", (int)i,
                                     (long long)w->kernel[i]);
    }
    return ANVIL_OK;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

anvil_status anvil__window_output(const anvil__node *node, anvil__window *w, const int64_t *in,
                                  bool ceil_mode, int64_t *out) {
    for (int32_t i = 0; i < w->n; i++) {
        int64_t k = w->kernel[i], st = w->stride[i];
        if (st < 1 || w->dilation[i] < 1) /* validate refuses these; graphs from engine files
                                             reach here too, so check again */
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "spatial dim %d: stride %lld and dilation %lld must be >= 1",
                                     (int)i, (long long)st, (long long)w->dilation[i]);
        if (in[i] < 0 || k < 0) {
            out[i] = -1;
            continue;
        }
        if (in[i] > ANVIL_NN_MAX_DIM)
            return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "spatial dim %d of %lld is too large", (int)i,
                                     (long long)in[i]);
        if (k == 0)
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "kernel spatial dim %d is 0", (int)i);
        int64_t span = (k - 1) * w->dilation[i] + 1; /* extent of one window */
        if (w->auto_pad == ANVIL_AUTO_PAD_SAME_UPPER || w->auto_pad == ANVIL_AUTO_PAD_SAME_LOWER) {
            out[i] = ceil_div(in[i], st);
            int64_t total = (out[i] - 1) * st + span - in[i];
            if (total < 0) total = 0;
            int64_t small = total / 2;
            bool upper = w->auto_pad == ANVIL_AUTO_PAD_SAME_UPPER;
            w->pad_begin[i] = upper ? small : total - small;
            w->pad_end[i] = upper ? total - small : small;
            continue;
        }
        if (w->auto_pad == ANVIL_AUTO_PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
        int64_t room = in[i] + w->pad_begin[i] + w->pad_end[i] - span;
        if (room < 0)
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "spatial dim %d: window of %lld (kernel %lld, dilation %lld) "
                                     "is larger than the padded input of %lld",
                                     (int)i, (long long)span, (long long)k,
                                     (long long)w->dilation[i],
                                     (long long)(in[i] + w->pad_begin[i] + w->pad_end[i]));
        out[i] = (ceil_mode ? ceil_div(room, st) : room / st) + 1;
        /* The last window must start inside the input or its left padding. */
        if (ceil_mode && (out[i] - 1) * st >= in[i] + w->pad_begin[i]) out[i]--;
    }
    return ANVIL_OK;
}

anvil_status anvil__nn_expect_float(const anvil__node *node, anvil_dtype dtype, const char *what) {
    if (dtype == ANVIL_DTYPE_UNDEFINED || anvil__dtype_is_float(dtype)) return ANVIL_OK;
    return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                             "%s has dtype %s; only float types are supported", what,
                             anvil_dtype_name(dtype));
}

/* ---- Conv and ConvTranspose ---- */

anvil_status anvil__nn_conv_validate(const anvil__node *node) {
    anvil_status s = anvil__window_validate(node, false);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "group", ANVIL_ATTR_INT);
    int64_t group = anvil__attr_int(node, "group", 1);
    if (s == ANVIL_OK && (group < 1 || group > ANVIL_NN_MAX_ATTR))
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "group must be in [1, %lld], got %lld",
                                 (long long)ANVIL_NN_MAX_ATTR, (long long)group);
    return s;
}

anvil_status anvil__nn_conv_rank(const anvil__node *node, const anvil__tensor *x,
                                 const anvil__tensor *w, int32_t *rank) {
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "input X has rank %d but weight W has rank %d", (int)x->rank,
                                 (int)w->rank);
    *rank = x->rank >= 0 ? x->rank : w->rank;
    return ANVIL_OK;
}

anvil_status anvil__nn_conv_spatial(const anvil__node *node, const anvil__tensor *x,
                                    const anvil__tensor *w, int32_t rank, int64_t *kernel,
                                    int64_t *in) {
    if (rank < 3 || rank > ANVIL_MAX_RANK)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected rank 3 to %d (N, C, spatial...), got %d", ANVIL_MAX_RANK,
                                 (int)rank);
    for (int32_t i = 0; i < rank - 2; i++) {
        kernel[i] = w->rank >= 0 ? w->dims[2 + i] : -1;
        in[i] = x->rank >= 0 ? x->dims[2 + i] : -1;
    }
    return ANVIL_OK;
}

anvil_status anvil__nn_conv_finish(const anvil__node *node, const anvil__tensor *b,
                                   anvil__conv_geom *g) {
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
    memcpy(g->out_dims + 2, g->out, (size_t)(g->rank - 2) * sizeof *g->out);
    return ANVIL_OK;
}

anvil_status anvil__nn_conv_expect_float(const anvil__op_ctx *ctx) {
    const anvil__tensor *b = anvil__nn_conv_bias(ctx);
    anvil_status s = anvil__nn_expect_float(ctx->node, ctx->inputs[0]->dtype, "input X");
    if (s == ANVIL_OK) s = anvil__nn_expect_float(ctx->node, ctx->inputs[1]->dtype, "weight W");
    if (s == ANVIL_OK && b) s = anvil__nn_expect_float(ctx->node, b->dtype, "bias B");
    return s;
}

anvil_status anvil__nn_conv_expect_f32(const anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *b = anvil__nn_conv_bias(ctx);
    if (x->dtype != ANVIL_DTYPE_F32 || ctx->inputs[1]->dtype != ANVIL_DTYPE_F32 ||
        (b && b->dtype != ANVIL_DTYPE_F32))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "run-time inputs must be f32, got X %s",
                                 anvil_dtype_name(x->dtype));
    return ANVIL_OK;
}

void anvil__nn_fill_bias(float *y, const float *bias, size_t rows, size_t m, size_t size) {
    for (size_t i = 0; i < rows; i++)
        for (size_t p = 0; p < size; p++)
            y[i * size + p] = bias[i % m];
}
