/*
 * norm.c — BatchNormalization (inference, and training_mode batch statistics from opset 14),
 * InstanceNormalization, GroupNormalization (opset 18: scale/bias per group; 21: per channel),
 * LayerNormalization (with Mean/InvStdDev outputs) and LpNormalization. Statistics are
 * computed in double; any float dtype is read and written. Softmax lives in softmax.c.
 */
#include "ops/op.h"

#include <math.h>
#include <string.h>

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

static anvil_status need_float(const anvil__node *n, const anvil__tensor *t, const char *what) {
    if (!t || anvil__dtype_is_float(t->dtype)) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH, "%s must be a float tensor, got %s",
                             what, anvil_dtype_name(t->dtype));
}

/* Checks that required input `t` is a float tensor of `expected` elements (either side may be
 * unknown: -1). */
static anvil_status need_numel(const anvil__node *n, const anvil__tensor *t, const char *what,
                               int64_t expected) {
    if (!t)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "required input %s is missing",
                                 what);
    anvil_status s = need_float(n, t, what);
    if (s != ANVIL_OK) return s;
    int64_t got = anvil__tensor_numel(t);
    if (expected < 0 || got < 0 || got == expected) return ANVIL_OK;
    char buf[ANVIL_SHAPE_STR_MAX];
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                             "%s must have %lld elements, got shape %s", what, (long long)expected,
                             anvil__shape_str(t->rank, t->dims, buf, sizeof buf));
}

static anvil_status need_rank(const anvil__node *n, const anvil__tensor *x, int32_t min_rank) {
    if (x->rank < 0 || x->rank >= min_rank) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "input must have rank >= %d, got %d",
                             (int)min_rank, (int)x->rank);
}

/* Product of dims [from, to); -1 if any is unknown. */
static int64_t dims_product(const anvil__tensor *t, int32_t from, int32_t to) {
    int64_t p = 1;
    for (int32_t d = from; d < to; d++) {
        if (t->dims[d] < 0) return -1;
        p *= t->dims[d];
    }
    return p;
}

/* ---- BatchNormalization ---- */

anvil_status anvil__op_batchnorm_validate(const anvil__node *node, int64_t opset) {
    anvil_status s;
    if ((s = anvil__attr_expect(node, "epsilon", ANVIL_ATTR_FLOAT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "momentum", ANVIL_ATTR_FLOAT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "training_mode", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "spatial", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if (opset >= 14 && anvil__attr_int(node, "training_mode", 0) != 0 && node->n_outputs > 3)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "training mode has at most 3 outputs, got %d",
                                 (int)node->n_outputs);
    return ANVIL_OK;
}

static bool bn_training(const anvil__op_ctx *ctx) {
    return ctx->opset >= 14 && anvil__attr_int(ctx->node, "training_mode", 0) != 0;
}

/* spatial=0 (before opset 9): one parameter per element of X.shape[1:] instead of per channel. */
static bool bn_per_element(const anvil__op_ctx *ctx) {
    return ctx->opset < 9 && anvil__attr_int(ctx->node, "spatial", 1) == 0;
}

anvil_status anvil__op_batchnorm_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    static const char *names[] = {"X", "scale", "B", "input_mean", "input_var"};
    anvil_status s = need_float(n, x, names[0]);
    if (s != ANVIL_OK || (s = need_rank(n, x, 2)) != ANVIL_OK) return s;
    int64_t c = x->rank >= 2 ? x->dims[1] : -1;
    if (bn_per_element(ctx)) c = x->rank >= 2 ? dims_product(x, 1, x->rank) : -1;
    for (int32_t i = 1; i < 5; i++)
        if ((s = need_numel(n, ctx->inputs[i], names[i], c)) != ANVIL_OK) return s;
    if ((s = anvil__same_as_input(ctx, 0, 0)) != ANVIL_OK) return s;
    for (int32_t o = 1; o < ctx->n_outputs && o < 3; o++)
        if ((s = anvil__same_as_input(ctx, o, o + 2)) != ANVIL_OK) return s;
    return ANVIL_OK;
}

/* Per-channel mean and population variance over N and the spatial dims (training mode). */
static void bn_batch_stats(const anvil__tensor *x, size_t nb, size_t c, size_t sp, double *mean,
                           double *var) {
    double cnt = (double)(nb * sp);
    for (size_t ch = 0; ch < c; ch++) {
        double sum = 0, sq = 0;
        for (size_t b = 0; b < nb; b++)
            for (size_t i = 0; i < sp; i++)
                sum += ld(x, (b * c + ch) * sp + i);
        mean[ch] = cnt > 0 ? sum / cnt : 0;
        for (size_t b = 0; b < nb; b++)
            for (size_t i = 0; i < sp; i++) {
                double d = ld(x, (b * c + ch) * sp + i) - mean[ch];
                sq += d * d;
            }
        var[ch] = cnt > 0 ? sq / cnt : 0;
    }
}

anvil_status anvil__op_batchnorm_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0], *scale = ctx->inputs[1], *bias = ctx->inputs[2];
    const anvil__tensor *in_mean = ctx->inputs[3], *in_var = ctx->inputs[4];
    anvil__tensor *y = ctx->outputs[0];
    double eps = anvil__attr_float(ctx->node, "epsilon", 1e-5);
    double momentum = anvil__attr_float(ctx->node, "momentum", 0.9);
    size_t nb = (size_t)x->dims[0], c = (size_t)x->dims[1];
    size_t sp = (size_t)dims_product(x, 2, x->rank);
    size_t np = c;     /* parameter count */
    size_t inner = sp; /* elements sharing one parameter */
    if (bn_per_element(ctx)) np = c * sp, inner = 1;
    double *mean = anvil__malloc_array(np ? np * 2 : 1, sizeof *mean);
    if (!mean) return ANVIL_STATUS_OUT_OF_MEMORY;
    double *var = mean + np;
    bool training = bn_training(ctx);
    if (training) {
        bn_batch_stats(x, nb, c, sp, mean, var);
    } else {
        for (size_t i = 0; i < np; i++)
            mean[i] = ld(in_mean, i), var[i] = ld(in_var, i);
    }
    for (size_t p = 0; p < np; p++) {
        /* Fold into y = x * a + b per parameter. */
        double a = ld(scale, p) / sqrt(var[p] + eps);
        double b = ld(bias, p) - mean[p] * a;
        for (size_t bi = 0; y && bi < nb; bi++) {
            size_t base = (bi * np + p) * inner;
            for (size_t i = 0; i < inner; i++)
                st(y, base + i, ld(x, base + i) * a + b);
        }
    }
    /* Running statistics: updated with momentum in training; passed through otherwise. */
    anvil__tensor *run_mean = ctx->n_outputs > 1 ? ctx->outputs[1] : NULL;
    anvil__tensor *run_var = ctx->n_outputs > 2 ? ctx->outputs[2] : NULL;
    for (size_t p = 0; p < np; p++) {
        double m = ld(in_mean, p), v = ld(in_var, p);
        if (training) {
            m = m * momentum + mean[p] * (1 - momentum);
            v = v * momentum + var[p] * (1 - momentum);
        }
        if (run_mean) st(run_mean, p, m);
        if (run_var) st(run_var, p, v);
    }
    anvil__free(mean);
    return ANVIL_OK;
}

/* ---- InstanceNormalization and GroupNormalization ---- */

/* Normalizes blocks of `cpg` channels × `sp` spatial elements (contiguous in NCHW) for every
 * batch item and group; the affine parameters are per group or per channel. */
typedef struct group_geom {
    size_t nb, groups, cpg, sp;
    bool per_group_affine;
} group_geom;

static void group_norm(const group_geom *g, const anvil__tensor *x, const anvil__tensor *scale,
                       const anvil__tensor *bias, double eps, anvil__tensor *y) {
    size_t block = g->cpg * g->sp;
    for (size_t b = 0; b < g->nb; b++) {
        for (size_t gr = 0; gr < g->groups; gr++) {
            size_t base = (b * g->groups + gr) * block;
            double sum = 0, sq = 0;
            for (size_t i = 0; i < block; i++)
                sum += ld(x, base + i);
            double mean = block ? sum / (double)block : 0;
            for (size_t i = 0; i < block; i++) {
                double d = ld(x, base + i) - mean;
                sq += d * d;
            }
            double inv = 1.0 / sqrt((block ? sq / (double)block : 0) + eps);
            for (size_t c = 0; c < g->cpg; c++) {
                size_t p = g->per_group_affine ? gr : gr * g->cpg + c;
                double a = ld(scale, p) * inv, bb = ld(bias, p);
                size_t cb = base + c * g->sp;
                for (size_t i = 0; i < g->sp; i++)
                    st(y, cb + i, (ld(x, cb + i) - mean) * a + bb);
            }
        }
    }
}

anvil_status anvil__op_instancenorm_validate(const anvil__node *node, int64_t opset) {
    return anvil__attr_expect(node, "epsilon", ANVIL_ATTR_FLOAT);
}

anvil_status anvil__op_instancenorm_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = need_float(n, x, "input");
    if (s != ANVIL_OK || (s = need_rank(n, x, 2)) != ANVIL_OK) return s;
    int64_t c = x->rank >= 2 ? x->dims[1] : -1;
    if ((s = need_numel(n, ctx->inputs[1], "scale", c)) != ANVIL_OK) return s;
    if ((s = need_numel(n, ctx->inputs[2], "B", c)) != ANVIL_OK) return s;
    return anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_instancenorm_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    if (!ctx->outputs[0]) return ANVIL_OK;
    group_geom g = {(size_t)x->dims[0], (size_t)x->dims[1], 1, (size_t)dims_product(x, 2, x->rank),
                    false};
    group_norm(&g, x, ctx->inputs[1], ctx->inputs[2], anvil__attr_float(ctx->node, "epsilon", 1e-5),
               ctx->outputs[0]);
    return ANVIL_OK;
}

anvil_status anvil__op_groupnorm_validate(const anvil__node *node, int64_t opset) {
    anvil_status s;
    if ((s = anvil__attr_require(node, "num_groups", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "epsilon", ANVIL_ATTR_FLOAT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "stash_type", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    int64_t g = anvil__attr_int(node, "num_groups", 0);
    if (g < 1)
        return anvil__node_error(node, ANVIL_STATUS_OUT_OF_RANGE,
                                 "num_groups must be >= 1, got %lld", (long long)g);
    return ANVIL_OK;
}

anvil_status anvil__op_groupnorm_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = need_float(n, x, "X");
    if (s != ANVIL_OK || (s = need_rank(n, x, 2)) != ANVIL_OK) return s;
    int64_t groups = anvil__attr_int(n, "num_groups", 1);
    int64_t c = x->rank >= 2 ? x->dims[1] : -1;
    if (c >= 0 && (groups <= 0 || c % groups != 0))
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "%lld channels are not divisible into %lld groups", (long long)c,
                                 (long long)groups);
    int64_t np = ctx->opset >= 21 ? c : groups;
    if ((s = need_numel(n, ctx->inputs[1], "scale", np)) != ANVIL_OK) return s;
    if ((s = need_numel(n, ctx->inputs[2], "bias", np)) != ANVIL_OK) return s;
    return anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_groupnorm_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    if (!ctx->outputs[0]) return ANVIL_OK;
    size_t groups = (size_t)anvil__attr_int(ctx->node, "num_groups", 1);
    group_geom g = {(size_t)x->dims[0], groups, (size_t)x->dims[1] / groups,
                    (size_t)dims_product(x, 2, x->rank), ctx->opset < 21};
    group_norm(&g, x, ctx->inputs[1], ctx->inputs[2], anvil__attr_float(ctx->node, "epsilon", 1e-5),
               ctx->outputs[0]);
    return ANVIL_OK;
}

/* ---- LayerNormalization ---- */

static anvil_dtype stash_dtype(int64_t stash_type) {
    switch (stash_type) {
    case 1:
        return ANVIL_DTYPE_F32;
    case 10:
        return ANVIL_DTYPE_F16;
    case 11:
        return ANVIL_DTYPE_F64;
    case 16:
        return ANVIL_DTYPE_BF16;
    default:
        return ANVIL_DTYPE_UNDEFINED;
    }
}

anvil_status anvil__op_layernorm_validate(const anvil__node *node, int64_t opset) {
    anvil_status s;
    if ((s = anvil__attr_expect(node, "axis", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "epsilon", ANVIL_ATTR_FLOAT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "stash_type", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    int64_t st_type = anvil__attr_int(node, "stash_type", 1);
    if (stash_dtype(st_type) == ANVIL_DTYPE_UNDEFINED)
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                                 "stash_type %lld is not a supported float type",
                                 (long long)st_type);
    return ANVIL_OK;
}

/* Checks that `p` (Scale or B) broadcasts to X; returns whether it lines up exactly with the
 * normalized block X.shape[axis:] so element i of a block uses parameter i. */
static anvil_status ln_param(const anvil__node *n, const anvil__tensor *x, int32_t axis,
                             const anvil__tensor *p, const char *what, bool *direct) {
    *direct = false;
    if (!p) return ANVIL_OK;
    anvil_status s = need_float(n, p, what);
    if (s != ANVIL_OK || p->rank < 0 || x->rank < 0) return s;
    char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
    if (p->rank > x->rank) goto mismatch;
    bool exact = p->rank >= x->rank - axis;
    for (int32_t d = 0; d < p->rank; d++) {
        int32_t xd = x->rank - p->rank + d;
        int64_t pv = p->dims[d], xv = x->dims[xd];
        if (pv >= 0 && xv >= 0 && pv != xv && pv != 1) goto mismatch;
        if (xd >= axis ? pv != xv : pv != 1) exact = false;
    }
    *direct = exact;
    return ANVIL_OK;
mismatch:
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                             "%s of shape %s does not broadcast "
                             "to X of shape %s",
                             what, anvil__shape_str(p->rank, p->dims, a, sizeof a),
                             anvil__shape_str(x->rank, x->dims, b, sizeof b));
}

anvil_status anvil__op_layernorm_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = need_float(n, x, "X");
    if (s != ANVIL_OK) return s;
    anvil_dtype sd = stash_dtype(anvil__attr_int(n, "stash_type", 1));
    if (x->rank < 0) {
        for (int32_t o = 0; o < 3; o++)
            if ((s = anvil__set_output(ctx, o, o ? sd : x->dtype, -1, NULL)) != ANVIL_OK) return s;
        return ANVIL_OK;
    }
    int32_t axis;
    bool direct;
    if (!ctx->inputs[1])
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "required input Scale is missing");
    if ((s = need_rank(n, x, 1)) != ANVIL_OK) return s;
    if ((s = anvil__axis(n, anvil__attr_int(n, "axis", -1), x->rank, &axis)) != ANVIL_OK) return s;
    if ((s = ln_param(n, x, axis, ctx->inputs[1], "Scale", &direct)) != ANVIL_OK) return s;
    if (ctx->n_inputs > 2 && (s = ln_param(n, x, axis, ctx->inputs[2], "B", &direct)) != ANVIL_OK)
        return s;
    if ((s = anvil__same_as_input(ctx, 0, 0)) != ANVIL_OK) return s;
    int64_t dims[ANVIL_MAX_RANK];
    for (int32_t d = 0; d < x->rank; d++)
        dims[d] = d < axis ? x->dims[d] : 1;
    for (int32_t o = 1; o < 3; o++)
        if ((s = anvil__set_output(ctx, o, sd, x->rank, dims)) != ANVIL_OK) return s;
    return ANVIL_OK;
}

/* Index of the parameter for element i of X (flat), given the block size. */
static inline size_t ln_index(const anvil__tensor *x, const anvil__tensor *p, bool direct, size_t i,
                              size_t inner) {
    return direct ? i % inner : anvil__broadcast_index(i, x->rank, x->dims, p->rank, p->dims);
}

anvil_status anvil__op_layernorm_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0], *scale = ctx->inputs[1];
    const anvil__tensor *bias = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    anvil__tensor *y = ctx->outputs[0];
    anvil__tensor *mean_out = ctx->n_outputs > 1 ? ctx->outputs[1] : NULL;
    anvil__tensor *inv_out = ctx->n_outputs > 2 ? ctx->outputs[2] : NULL;
    int32_t axis;
    bool ds, db;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", -1), x->rank, &axis);
    if (s != ANVIL_OK || (s = ln_param(n, x, axis, scale, "Scale", &ds)) != ANVIL_OK ||
        (s = ln_param(n, x, axis, bias, "B", &db)) != ANVIL_OK)
        return s;
    double eps = anvil__attr_float(n, "epsilon", 1e-5);
    size_t outer = (size_t)dims_product(x, 0, axis), inner = (size_t)dims_product(x, axis, x->rank);
    for (size_t o = 0; o < outer; o++) {
        size_t base = o * inner;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < inner; i++)
            sum += ld(x, base + i);
        double mean = inner ? sum / (double)inner : 0;
        for (size_t i = 0; i < inner; i++) {
            double d = ld(x, base + i) - mean;
            sq += d * d;
        }
        double inv = 1.0 / sqrt((inner ? sq / (double)inner : 0) + eps);
        if (mean_out) st(mean_out, o, mean);
        if (inv_out) st(inv_out, o, inv);
        for (size_t i = 0; y && i < inner; i++) {
            size_t e = base + i;
            double v = (ld(x, e) - mean) * inv * ld(scale, ln_index(x, scale, ds, e, inner));
            if (bias) v += ld(bias, ln_index(x, bias, db, e, inner));
            st(y, e, v);
        }
    }
    return ANVIL_OK;
}

/* ---- LpNormalization ---- */

anvil_status anvil__op_lpnorm_validate(const anvil__node *node, int64_t opset) {
    anvil_status s;
    if ((s = anvil__attr_expect(node, "axis", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "p", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    int64_t p = anvil__attr_int(node, "p", 2);
    if (p != 1 && p != 2)
        return anvil__node_error(node, ANVIL_STATUS_OUT_OF_RANGE, "p must be 1 or 2, got %lld",
                                 (long long)p);
    return ANVIL_OK;
}

anvil_status anvil__op_lpnorm_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = need_float(ctx->node, x, "input");
    int32_t axis;
    if (s == ANVIL_OK && x->rank >= 0)
        s = anvil__axis(ctx->node, anvil__attr_int(ctx->node, "axis", -1), x->rank, &axis);
    return s != ANVIL_OK ? s : anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_lpnorm_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int32_t axis;
    anvil_status s = anvil__axis(ctx->node, anvil__attr_int(ctx->node, "axis", -1), x->rank, &axis);
    if (s != ANVIL_OK || !y) return s;
    bool l1 = anvil__attr_int(ctx->node, "p", 2) == 1;
    size_t outer = (size_t)dims_product(x, 0, axis);
    size_t len = x->rank ? (size_t)x->dims[axis] : 1;
    size_t inner = (size_t)dims_product(x, axis + 1, x->rank);
    for (size_t o = 0; o < outer; o++) {
        for (size_t in = 0; in < inner; in++) {
            size_t base = o * len * inner + in;
            double norm = 0;
            for (size_t k = 0; k < len; k++) {
                double v = ld(x, base + k * inner);
                norm += l1 ? fabs(v) : v * v;
            }
            if (!l1) norm = sqrt(norm);
            /* A zero vector stays zero rather than becoming 0/0. */
            for (size_t k = 0; k < len; k++) {
                size_t e = base + k * inner;
                st(y, e, norm > 0 ? ld(x, e) / norm : 0.0);
            }
        }
    }
    return ANVIL_OK;
}
