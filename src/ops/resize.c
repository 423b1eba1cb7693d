/*
 * resize.c — Resize (opsets 10–19) and Upsample (7, 9): attributes, output sizes (scales or
 * sizes, axes, keep_aspect_ratio_policy) and the f32 reference kernel (the op is F32_COMPUTE).
 * The kernel is separable: one pass per axis over a table of taps (input index, weight) per
 * output coordinate, in f64, with the ONNX reference's coordinate formulas and filters.
 */
#include "ops/op.h"

#include <math.h>
#include <string.h>

typedef enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } rmode;
typedef enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE
} ctmode;
/* NM_SIMPLE is the legacy rule of Upsample and Resize-10 (as in ONNX Runtime): floor when
 * upsampling, ceil when downsampling. */
typedef enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE } nmode;
typedef enum { KA_STRETCH, KA_NOT_LARGER, KA_NOT_SMALLER } kapolicy;

typedef struct rparams {
    rmode mode;
    ctmode ct;
    nmode nearest;
    kapolicy keep;
    double cubic_a, extrapolation;
    bool exclude_outside, antialias;
    bool legacy; /* Upsample or Resize-10: scales only, input 1 */
} rparams;

/* Per-axis geometry of one resize. */
typedef struct rplan {
    int32_t rank;
    int64_t in[ANVIL_MAX_RANK], out[ANVIL_MAX_RANK]; /* out: -1 when not known statically */
    double scale[ANVIL_MAX_RANK], roi0[ANVIL_MAX_RANK], roi1[ANVIL_MAX_RANK];
    int32_t axes[ANVIL_MAX_RANK], n_axes;
} rplan;

static const char *const mode_names[] = {"nearest", "linear", "cubic"};
static const char *const ct_names[] = {
    "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
static const char *const nm_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
static const char *const ka_names[] = {"stretch", "not_larger", "not_smaller"};

/* Reads string attribute `name` as an index into `names`; UNSUPPORTED naming the value. */
static anvil_status pick(const anvil__node *n, const char *name, const char *const *names,
                         int count, int def, int *out) {
    anvil_status s = anvil__attr_expect(n, name, ANVIL_ATTR_STRING);
    if (s != ANVIL_OK) return s;
    const char *v = anvil__attr_string(n, name, NULL);
    if (!v) {
        *out = def;
        return ANVIL_OK;
    }
    for (int i = 0; i < count; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return ANVIL_OK;
        }
    }
    return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "unsupported %s '%s'", name, v);
}

static anvil_status parse_legacy(const anvil__node *n, int64_t opset, rparams *p) {
    anvil_status s = anvil__attr_expect(n, "mode", ANVIL_ATTR_STRING);
    if (s != ANVIL_OK) return s;
    const char *m = anvil__attr_string(n, "mode", "nearest");
    if (strcmp(m, "nearest") == 0)
        p->mode = MODE_NEAREST;
    else if (strcmp(m, "linear") == 0 || strcmp(m, "bilinear") == 0)
        p->mode = MODE_LINEAR;
    else
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "unsupported mode '%s'", m);
    p->ct = CT_ASYMMETRIC;
    p->nearest = NM_SIMPLE;
    if (n->op == ANVIL_OP_Upsample && opset < 9)
        return anvil__attr_require(n, "scales", ANVIL_ATTR_FLOATS);
    return ANVIL_OK;
}

static anvil_status parse_params(const anvil__node *n, int64_t opset, rparams *p) {
    memset(p, 0, sizeof *p);
    p->cubic_a = -0.75;
    p->legacy = n->op == ANVIL_OP_Upsample || opset < 11;
    if (p->legacy) return parse_legacy(n, opset, p);
    int mode = 0, ct = 0, nm = 0, ka = 0; /* set by pick */
    anvil_status s = pick(n, "mode", mode_names, 3, MODE_NEAREST, &mode);
    if (s == ANVIL_OK) s = pick(n, "coordinate_transformation_mode", ct_names, 7, 0, &ct);
    if (s == ANVIL_OK) s = pick(n, "nearest_mode", nm_names, 4, 0, &nm);
    if (s == ANVIL_OK) s = pick(n, "keep_aspect_ratio_policy", ka_names, 3, 0, &ka);
    static const char *floats[] = {"cubic_coeff_a", "extrapolation_value"};
    static const char *ints[] = {"exclude_outside", "antialias"};
    for (int i = 0; i < 2 && s == ANVIL_OK; i++)
        s = anvil__attr_expect(n, floats[i], ANVIL_ATTR_FLOAT);
    for (int i = 0; i < 2 && s == ANVIL_OK; i++)
        s = anvil__attr_expect(n, ints[i], ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(n, "axes", ANVIL_ATTR_INTS);
    if (s != ANVIL_OK) return s;
    p->mode = (rmode)mode;
    p->ct = (ctmode)ct;
    p->nearest = (nmode)nm;
    p->keep = (kapolicy)ka;
    p->cubic_a = anvil__attr_float(n, "cubic_coeff_a", -0.75);
    p->extrapolation = anvil__attr_float(n, "extrapolation_value", 0.0);
    p->exclude_outside = anvil__attr_int(n, "exclude_outside", 0) != 0;
    p->antialias = anvil__attr_int(n, "antialias", 0) != 0 && p->mode != MODE_NEAREST;
    return ANVIL_OK;
}

anvil_status anvil__op_resize_validate(const anvil__node *node, int64_t opset) {
    rparams p;
    return parse_params(node, opset, &p);
}

/* ---- output geometry ---- */

/* Optional input i, or NULL when omitted or known to be empty (an empty tensor stands for an
 * absent roi/scales/sizes in opsets 11–12). */
static const anvil__tensor *opt_input(const anvil__op_ctx *ctx, int32_t i) {
    if (i >= ctx->n_inputs || !ctx->inputs[i]) return NULL;
    const anvil__tensor *t = ctx->inputs[i];
    return anvil__tensor_numel(t) == 0 ? NULL : t;
}

static anvil_status read_axes(const anvil__node *n, rplan *pl) {
    size_t count;
    const int64_t *a = anvil__attr_ints(n, "axes", &count);
    if (!a) {
        pl->n_axes = pl->rank;
        for (int32_t d = 0; d < pl->rank; d++)
            pl->axes[d] = d;
        return ANVIL_OK;
    }
    if (count > (size_t)pl->rank)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "%zu axes given for an input of rank %d", count, (int)pl->rank);
    bool seen[ANVIL_MAX_RANK] = {false};
    for (size_t i = 0; i < count; i++) {
        int32_t ax;
        anvil_status s = anvil__axis(n, a[i], pl->rank, &ax);
        if (s != ANVIL_OK) return s;
        if (seen[ax])
            return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "axis %d is repeated", (int)ax);
        seen[ax] = true;
        pl->axes[i] = ax;
    }
    pl->n_axes = (int32_t)count;
    return ANVIL_OK;
}

static anvil_status count_check(const anvil__node *n, const char *what, size_t got, size_t want) {
    if (got == want) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "%s has %zu values, expected %zu",
                             what, got, want);
}

/* Output sizes from scales: floor(in * scale), scale > 0 and finite. */
static anvil_status apply_scales(const anvil__node *n, const double *sc, rplan *pl) {
    for (int32_t i = 0; i < pl->n_axes; i++) {
        int32_t d = pl->axes[i];
        if (!(sc[i] > 0.0 && sc[i] < INFINITY))
            return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                     "scale %g for axis %d must be positive and finite", sc[i],
                                     (int)d);
        pl->scale[d] = sc[i];
        if (pl->in[d] < 0) {
            pl->out[d] = -1;
            continue;
        }
        double v = floor(sc[i] * (double)pl->in[d]);
        if (!(v < 9.0e15))
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "output dim %d (%g) is too large", (int)d, v);
        pl->out[d] = (int64_t)v;
    }
    return ANVIL_OK;
}

/* Output sizes from sizes, with keep_aspect_ratio_policy; scales become out / in. */
static anvil_status apply_sizes(const anvil__node *n, const rparams *p, const int64_t *sz,
                                rplan *pl) {
    bool in_known = true;
    for (int32_t i = 0; i < pl->n_axes; i++) {
        int32_t d = pl->axes[i];
        if (sz[i] < 0)
            return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                     "size %lld for axis %d is negative", (long long)sz[i], (int)d);
        if (pl->in[d] == 0 && sz[i] != 0)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "cannot resize empty axis %d to %lld", (int)d,
                                     (long long)sz[i]);
        in_known = in_known && pl->in[d] >= 0;
    }
    if (p->keep == KA_STRETCH) {
        for (int32_t i = 0; i < pl->n_axes; i++) {
            int32_t d = pl->axes[i];
            pl->out[d] = sz[i];
            pl->scale[d] = pl->in[d] > 0 ? (double)sz[i] / (double)pl->in[d] : 1.0;
        }
        return ANVIL_OK;
    }
    double scale = p->keep == KA_NOT_LARGER ? INFINITY : 0.0;
    for (int32_t i = 0; i < pl->n_axes && in_known; i++) {
        int32_t d = pl->axes[i];
        double r = pl->in[d] > 0 ? (double)sz[i] / (double)pl->in[d] : 1.0;
        scale = p->keep == KA_NOT_LARGER ? fmin(scale, r) : fmax(scale, r);
    }
    for (int32_t i = 0; i < pl->n_axes; i++) {
        int32_t d = pl->axes[i];
        pl->scale[d] = scale;
        pl->out[d] = in_known ? (int64_t)(scale * (double)pl->in[d] + 0.5) : -1;
    }
    return ANVIL_OK;
}

static anvil_status read_float_values(const anvil__node *n, const anvil__tensor *t,
                                      const char *what, double *out, size_t want) {
    int64_t count = anvil__tensor_numel(t);
    if (t->rank != 1 || !anvil__dtype_is_float(t->dtype))
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "%s must be a 1-D float tensor, got %s of rank %d", what,
                                 anvil_dtype_name(t->dtype), (int)t->rank);
    anvil_status s = count_check(n, what, (size_t)count, want);
    for (size_t i = 0; s == ANVIL_OK && i < want; i++)
        out[i] = anvil__load_f64(t->dtype, t->data, i);
    return s;
}

/* Fills pl from the inputs; out dims stay -1 where the data is not known (static inference). */
static anvil_status make_plan(const anvil__op_ctx *ctx, const rparams *p, rplan *pl) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    pl->rank = x->rank;
    for (int32_t d = 0; d < pl->rank; d++) {
        pl->in[d] = pl->out[d] = x->dims[d];
        pl->scale[d] = 1.0;
        pl->roi0[d] = 0.0;
        pl->roi1[d] = 1.0;
    }
    anvil_status s = p->legacy ? ANVIL_OK : read_axes(n, pl);
    if (p->legacy) {
        pl->n_axes = pl->rank;
        for (int32_t d = 0; d < pl->rank; d++)
            pl->axes[d] = d;
    }
    if (s != ANVIL_OK) return s;
    double sc[ANVIL_MAX_RANK];
    if (n->op == ANVIL_OP_Upsample && ctx->opset < 9) {
        size_t count;
        const float *f = anvil__attr_floats(n, "scales", &count);
        if ((s = count_check(n, "scales", count, (size_t)pl->rank)) != ANVIL_OK) return s;
        for (int32_t d = 0; d < pl->rank; d++)
            sc[d] = f[d];
        return apply_scales(n, sc, pl);
    }
    const anvil__tensor *scales = opt_input(ctx, p->legacy ? 1 : 2);
    const anvil__tensor *sizes = p->legacy ? NULL : opt_input(ctx, 3);
    if (!scales && !sizes)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "needs non-empty 'scales' or 'sizes'");
    if ((scales && !scales->data) || (sizes && !sizes->data)) {
        for (int32_t i = 0; i < pl->n_axes; i++)
            pl->out[pl->axes[i]] = -1;
        return ANVIL_OK;
    }
    if (scales && sizes)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "only one of 'scales' and 'sizes' may be given");
    if (scales) {
        s = read_float_values(n, scales, "scales", sc, (size_t)pl->n_axes);
        return s == ANVIL_OK ? apply_scales(n, sc, pl) : s;
    }
    int64_t sz[ANVIL_MAX_RANK];
    size_t count;
    if ((s = anvil__read_ints(n, sizes, sz, ANVIL_MAX_RANK, &count)) != ANVIL_OK) return s;
    if ((s = count_check(n, "sizes", count, (size_t)pl->n_axes)) != ANVIL_OK) return s;
    return apply_sizes(n, p, sz, pl);
}

anvil_status anvil__op_resize_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    rparams p;
    rplan pl;
    anvil_status s = parse_params(ctx->node, ctx->opset, &p);
    if (s != ANVIL_OK) return s;
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    if ((s = make_plan(ctx, &p, &pl)) != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, pl.rank, pl.out);
}

/* ---- taps: which input elements, with which weights, make each output coordinate ---- */

typedef struct taps {
    int64_t n;     /* taps per output coordinate */
    int64_t *idx;  /* out * n input indices, clamped to [0, in) (edge padding) */
    double *w;     /* out * n weights */
    bool *outside; /* out flags: tf_crop_and_resize extrapolation */
} taps;

/* Source coordinate of output coordinate x along one axis (ONNX reference formulas; note
 * they use the fractional output length scale * in). */
static double source_coord(const rparams *p, const rplan *pl, int32_t d, double x, bool *outside) {
    double in = (double)pl->in[d], s = pl->scale[d], out_w = s * in;
    double r0 = pl->roi0[d], r1 = pl->roi1[d], xo;
    *outside = false;
    switch (p->ct) {
    case CT_ALIGN_CORNERS:
        return out_w == 1.0 ? 0.0 : x * (in - 1.0) / (out_w - 1.0);
    case CT_ASYMMETRIC:
        return x / s;
    case CT_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / s;
    case CT_PYTORCH_HALF_PIXEL:
        return out_w == 1.0 ? -0.5 : (x + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)pl->out[d] / out_w, center = in / 2.0;
        return center * (1.0 - adjustment) + (x + 0.5) / s - 0.5;
    }
    case CT_TF_CROP_AND_RESIZE:
        xo = out_w == 1.0 ? (r1 - r0) * (in - 1.0) / 2.0
                          : x * (r1 - r0) * (in - 1.0) / (out_w - 1.0);
        xo += r0 * (in - 1.0);
        *outside = !(xo >= 0.0 && xo <= in - 1.0);
        return *outside ? 0.0 : xo;
    case CT_HALF_PIXEL:
        break;
    }
    return (x + 0.5) / s - 0.5;
}

static double cubic_kernel(double x, double a) {
    x = fabs(x);
    if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

/* Taps of one output coordinate with source coordinate xo. base = ceil(xo) - 1 and
 * ratio = xo - base in (0, 1], so tap i sits at input base + i. */
static void coord_taps(const rparams *p, double scale, int64_t in, double xo, int64_t n,
                       int64_t start, int64_t *idx, double *w) {
    xo = fmax(fmin(xo, (double)in + 8.0), -8.0); /* inert for valid inputs; keeps casts safe */
    double fl = floor(xo);
    int64_t base = xo == fl ? (int64_t)fl - 1 : (int64_t)fl;
    double ratio = xo - (double)base;
    if (p->mode == MODE_NEAREST) {
        int64_t pos;
        if (p->nearest == NM_SIMPLE)
            pos = scale < 1.0 ? (int64_t)ceil(xo) : (int64_t)fl;
        else if (ratio == 1.0)
            pos = base + 1;
        else if (p->nearest == NM_ROUND_PREFER_FLOOR)
            pos = ratio <= 0.5 ? base : base + 1;
        else if (p->nearest == NM_ROUND_PREFER_CEIL)
            pos = ratio < 0.5 ? base : base + 1;
        else
            pos = p->nearest == NM_FLOOR ? base : base + 1;
        idx[0] = pos < 0 ? 0 : pos >= in ? in - 1 : pos;
        w[0] = 1.0;
        return;
    }
    double s_eff = p->antialias ? fmin(scale, 1.0) : 1.0, sum = 0.0, kept = 0.0;
    for (int64_t t = 0; t < n; t++) {
        double arg = ((double)(start + t) - ratio) * s_eff;
        w[t] = p->mode == MODE_LINEAR ? fmax(0.0, 1.0 - fabs(arg)) : cubic_kernel(arg, p->cubic_a);
        sum += w[t];
    }
    for (int64_t t = 0; t < n; t++) {
        int64_t pos = base + start + t;
        if (p->antialias && sum != 0.0) w[t] /= sum;
        if (p->exclude_outside && (pos < 0 || pos >= in)) w[t] = 0.0;
        kept += w[t];
        idx[t] = pos < 0 ? 0 : pos >= in ? in - 1 : pos;
    }
    if (p->exclude_outside && kept != 0.0)
        for (int64_t t = 0; t < n; t++)
            w[t] /= kept;
}

static void taps_free(taps *t) {
    anvil__free(t->idx);
    anvil__free(t->w);
    anvil__free(t->outside);
}

static anvil_status build_taps(const anvil__node *node, const rparams *p, const rplan *pl,
                               int32_t d, taps *t) {
    memset(t, 0, sizeof *t);
    int64_t start = 0, out = pl->out[d];
    if (p->mode != MODE_NEAREST) {
        /* Filter support 1 (linear) or 2 (cubic), stretched by 1/scale when antialiasing a
         * downsample; scale * in >= 1/2 for any non-empty output, so n stays O(in). */
        double support = p->mode == MODE_LINEAR ? 1.0 : 2.0;
        double s_eff = p->antialias ? fmin(pl->scale[d], 1.0) : 1.0;
        double st = floor(-support / s_eff) + 1.0;
        if (!(st > -1.0e9))
            return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "antialias filter for axis %d is too wide", (int)d);
        start = (int64_t)st;
    }
    t->n = p->mode == MODE_NEAREST ? 1 : 2 - 2 * start;
    size_t cells;
    if (!anvil__mul_size((size_t)out, (size_t)t->n, &cells))
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED, "resize taps overflow");
    t->idx = anvil__malloc_array(cells ? cells : 1, sizeof *t->idx);
    t->w = anvil__malloc_array(cells ? cells : 1, sizeof *t->w);
    t->outside = anvil__calloc(out ? (size_t)out : 1, sizeof *t->outside);
    if (!t->idx || !t->w || !t->outside) {
        taps_free(t);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (int64_t x = 0; x < out; x++) {
        double xo = source_coord(p, pl, d, (double)x, &t->outside[x]);
        coord_taps(p, pl->scale[d], pl->in[d], xo, t->n, start, t->idx + x * t->n, t->w + x * t->n);
    }
    return ANVIL_OK;
}

/* True when the taps reproduce the input unchanged (e.g. an axis with scale 1). */
static bool taps_identity(const taps *t, int64_t in, int64_t out) {
    if (in != out) return false;
    for (int64_t x = 0; x < out; x++) {
        if (t->outside[x]) return false;
        double self = 0.0;
        for (int64_t k = 0; k < t->n; k++) {
            double w = t->w[x * t->n + k];
            if (t->idx[x * t->n + k] == x)
                self += w;
            else if (w != 0.0)
                return false;
        }
        if (self != 1.0) return false;
    }
    return true;
}

/* One separable pass along axis d: src has dims cur (cur[d] = in), dst gets cur[d] = out. */
static void resize_pass(const taps *t, double extrapolation, const double *src, double *dst,
                        size_t outer, size_t in, size_t out, size_t inner) {
    for (size_t o = 0; o < outer; o++) {
        for (size_t x = 0; x < out; x++) {
            double *row = dst + (o * out + x) * inner;
            if (t->outside[x]) {
                for (size_t j = 0; j < inner; j++)
                    row[j] = extrapolation;
                continue;
            }
            for (size_t j = 0; j < inner; j++)
                row[j] = 0.0;
            for (int64_t k = 0; k < t->n; k++) {
                double w = t->w[x * (size_t)t->n + (size_t)k];
                if (w == 0.0) continue;
                const double *s =
                    src + (o * in + (size_t)t->idx[x * (size_t)t->n + (size_t)k]) * inner;
                for (size_t j = 0; j < inner; j++)
                    row[j] += w * s[j];
            }
        }
    }
}

static anvil_status read_roi(const anvil__op_ctx *ctx, rplan *pl) {
    const anvil__tensor *roi = opt_input(ctx, 1);
    if (!roi || !roi->data)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_GRAPH,
                                 "tf_crop_and_resize needs a non-empty 'roi' input");
    double v[2 * ANVIL_MAX_RANK];
    anvil_status s = read_float_values(ctx->node, roi, "roi", v, 2 * (size_t)pl->n_axes);
    for (int32_t i = 0; s == ANVIL_OK && i < pl->n_axes; i++) {
        pl->roi0[pl->axes[i]] = v[i];
        pl->roi1[pl->axes[i]] = v[pl->n_axes + i];
    }
    return s;
}

static size_t prod(const int64_t *dims, int32_t from, int32_t to) {
    size_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= (size_t)dims[d];
    return p;
}

/* Runs every non-identity axis as a pass over f64 buffers; *buf holds the result. */
static anvil_status run_passes(const anvil__node *n, const rparams *p, const rplan *pl,
                               double **buf) {
    int64_t cur[ANVIL_MAX_RANK];
    memcpy(cur, pl->in, sizeof cur);
    for (int32_t d = 0; d < pl->rank; d++) {
        taps t;
        anvil_status s = build_taps(n, p, pl, d, &t);
        if (s != ANVIL_OK) return s;
        if (!taps_identity(&t, pl->in[d], pl->out[d])) {
            cur[d] = pl->out[d];
            size_t count = prod(cur, 0, pl->rank);
            double *next = anvil__malloc_array(count ? count : 1, sizeof *next);
            if (!next) {
                taps_free(&t);
                return ANVIL_STATUS_OUT_OF_MEMORY;
            }
            resize_pass(&t, p->extrapolation, *buf, next, prod(cur, 0, d), (size_t)pl->in[d],
                        (size_t)pl->out[d], prod(cur, d + 1, pl->rank));
            anvil__free(*buf);
            *buf = next;
        }
        taps_free(&t);
    }
    return ANVIL_OK;
}

anvil_status anvil__op_resize_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    if (x->dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "computes in f32, got %s",
                                 anvil_dtype_name(x->dtype));
    rparams p;
    rplan pl;
    anvil_status s = parse_params(n, ctx->opset, &p);
    if (s == ANVIL_OK) s = make_plan(ctx, &p, &pl);
    if (s == ANVIL_OK && p.ct == CT_TF_CROP_AND_RESIZE) s = read_roi(ctx, &pl);
    if (s != ANVIL_OK) return s;
    size_t count = (size_t)anvil__tensor_numel(x);
    double *buf = anvil__malloc_array(count ? count : 1, sizeof *buf);
    if (!buf) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (size_t i = 0; i < count; i++)
        buf[i] = ((const float *)x->data)[i];
    s = run_passes(n, &p, &pl, &buf);
    if (s == ANVIL_OK) {
        size_t total = (size_t)anvil__tensor_numel(y);
        for (size_t i = 0; i < total; i++)
            ((float *)y->data)[i] = (float)buf[i];
    }
    anvil__free(buf);
    return s;
}
