/*
 * map_build_bn.c — finds BatchNorm layers that an exporter folded into Conv, ConvTranspose or
 * Gemm weights and biases. For such a weight W' with no plain match (output channels in dim 0,
 * dim 1 for a ConvTranspose; a Gemm with transB = 0 holds its weight as [in, out], matched
 * through its transpose, and the entry transposes the fold back): a checkpoint tensor C of W's
 * shape such that each output channel of W' is that channel of C times one ratio r[o]; then a
 * BN group of the checkpoint (P.weight, P.bias, P.running_mean, P.running_var of length O) and
 * an eps among common values whose gamma / sqrt(var + eps) is r. Every candidate is confirmed
 * by computing the fold (map_compute.c) and comparing with W' (and the node's bias). Not here:
 * identity and transpose matches (map_build.c); ConvTranspose of several groups.
 */
#include "namemap/name_map.h"
#include "ops/op.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* eps values of common frameworks, most common first (a tie keeps the earlier). */
static const double k_eps[] = {1e-5, 1e-3, 1e-4, 1e-6, 1e-2};
#define N_EPS (sizeof k_eps / sizeof k_eps[0])

/* A complete BatchNorm parameter group of the checkpoint (indices into ck). */
typedef struct bn_group {
    size_t gamma, beta, mean, var;
    int64_t n;
} bn_group;

/* One candidate fold for a weight and how well it fits. */
typedef struct fold_fit {
    size_t conv;      /* C, index into ck */
    const bn_group *bn;
    double eps;
    double err;       /* max |computed - W'| */
    bool exact;       /* bit-identical */
    int bias;         /* 2: the Conv's bias matches exactly, 1: within tolerance, 0: not */
    size_t prefix;    /* common name prefix of C and the BN group (ties: the closest layer) */
} fold_fit;

typedef struct bn_state {
    anvil__nm_build *b;
    bn_group *groups;
    size_t n_groups;
    double *r, *cmax; /* per output channel: W'/C ratio, max |C| of the channel */
} bn_state;

/* Element i as double; f32 (the common case) inline, without assuming alignment. */
static inline double ld(anvil_dtype dt, const void *p, size_t i) {
    if (dt == ANVIL_DTYPE_F32) {
        float v;
        memcpy(&v, (const unsigned char *)p + 4 * i, 4);
        return v;
    }
    return anvil__load_f64(dt, p, i);
}

/* Unit roundoff of a float dtype: how far a ratio of rounded values may stray. */
static double roundoff(anvil_dtype dt) {
    switch (dt) {
    case ANVIL_DTYPE_F16: return 0x1p-11;
    case ANVIL_DTYPE_BF16: return 0x1p-8;
    case ANVIL_DTYPE_F64: return 0x1p-53;
    default: return 0x1p-24;
    }
}

static bool is_vector(const anvil__nm_build *b, int32_t j, anvil_dtype dt, int64_t n) {
    const anvil__tensor *t = &b->ck[j].t;
    return j >= 0 && b->ck[j].t.dtype == dt && t->rank == 1 && t->dims[0] == n;
}

/* Index of `prefix` + `suffix` in the checkpoint, or -1. */
static int32_t find_suffixed(const anvil__nm_build *b, const char *prefix, size_t len,
                             const char *suffix, char *buf) {
    memcpy(buf, prefix, len);
    strcpy(buf + len, suffix);
    return anvil__name_map_get(&b->ck_index, buf);
}

/* Every P with P.weight, P.bias, P.running_mean, P.running_var: float vectors of one length. */
static anvil_status find_groups(bn_state *st) {
    const anvil__nm_build *b = st->b;
    st->groups = anvil__calloc(b->n_ck ? b->n_ck : 1, sizeof *st->groups);
    if (!st->groups) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (size_t j = 0; j < b->n_ck; j++) {
        const char *name = b->ck[j].name;
        size_t len = strlen(name);
        const anvil__tensor *g = &b->ck[j].t;
        if (len < 7 || strcmp(name + len - 7, ".weight") != 0 || g->rank != 1 ||
            !anvil__dtype_is_float(g->dtype))
            continue;
        char *buf = anvil__malloc(len + 16);
        if (!buf) return ANVIL_STATUS_OUT_OF_MEMORY;
        size_t p = len - 7;
        int32_t beta = find_suffixed(b, name, p, ".bias", buf);
        int32_t mean = find_suffixed(b, name, p, ".running_mean", buf);
        int32_t var = find_suffixed(b, name, p, ".running_var", buf);
        anvil__free(buf);
        int64_t n = g->dims[0];
        if (is_vector(b, beta, g->dtype, n) && is_vector(b, mean, g->dtype, n) &&
            is_vector(b, var, g->dtype, n))
            st->groups[st->n_groups++] = (bn_group){j, (size_t)beta, (size_t)mean, (size_t)var, n};
    }
    return ANVIL_OK;
}

/* The elements of channel ch of a tensor whose channels are dim `axis`: element k of channel
 * ch is at (a * channels + ch) * inner + i for a < outer, i < inner. */
typedef struct channel_geometry {
    size_t outer, channels, inner;
} channel_geometry;

static channel_geometry geometry_of(const anvil__tensor *w, int32_t axis) {
    channel_geometry g = {1, (size_t)w->dims[axis], 1};
    for (int32_t d = 0; d < axis; d++) g.outer *= (size_t)w->dims[d];
    for (int32_t d = axis + 1; d < w->rank; d++) g.inner *= (size_t)w->dims[d];
    return g;
}

/* r[o] = W'[o, k] / C[o, k] at the largest |C[o, :]| (o the channel), and checks that every
 * element of W' is C * r within `lim`. A channel of C that is all zero leaves r[o] NaN (any
 * scale fits). */
static bool channel_ratios(bn_state *st, const anvil__tensor *w, const anvil__tensor *c,
                           int32_t axis, double lim) {
    anvil_dtype dt = w->dtype;
    channel_geometry g = geometry_of(w, axis);
    for (size_t ch = 0; ch < g.channels; ch++) {
        size_t at = ch * g.inner;
        double best = 0;
        for (size_t a = 0; a < g.outer; a++)
            for (size_t k = (a * g.channels + ch) * g.inner, i = 0; i < g.inner; i++, k++) {
                double v = fabs(ld(dt, c->data, k));
                if (v > best) {
                    best = v;
                    at = k;
                }
            }
        st->cmax[ch] = best;
        double r = best > 0 ? ld(dt, w->data, at) / ld(dt, c->data, at) : NAN;
        st->r[ch] = r;
        for (size_t a = 0; a < g.outer; a++)
            for (size_t k = (a * g.channels + ch) * g.inner, i = 0; i < g.inner; i++, k++) {
                double want = best > 0 ? ld(dt, c->data, k) * r : 0.0;
                if (!(fabs(want - ld(dt, w->data, k)) <= lim)) return false;
            }
    }
    return true;
}

/* How far gamma / sqrt(var + eps) strays from the ratios, weighted by the channel magnitudes
 * (an estimate of max |C * s - W'|), computed in float like map_compute.c. */
static double scale_error(const bn_state *st, const bn_group *g, double eps, anvil_dtype dt) {
    const anvil__nm_build *b = st->b;
    const void *gamma = b->ck[g->gamma].t.data, *var = b->ck[g->var].t.data;
    double err = 0;
    for (size_t i = 0; i < (size_t)g->n; i++) {
        if (isnan(st->r[i])) continue;
        double s;
        if (dt == ANVIL_DTYPE_F64) {
            s = ld(dt, gamma, i) / sqrt(ld(dt, var, i) + eps);
        } else {
            float t = (float)ld(dt, var, i) + (float)eps;
            float q = (float)ld(dt, gamma, i) / sqrtf(t);
            s = q;
        }
        double e = fabs(s - st->r[i]) * st->cmax[i];
        if (!(e <= err)) err = e; /* NaN stays */
    }
    return err;
}

/* Computes entry e and compares it with the initializer t: *fits when it can be computed with
 * t's dtype and shape, *err = max |computed - t|, *exact when bit-identical. Fails only when
 * memory runs out (a match missed for want of memory would make a wrong map). */
static anvil_status compare_entry(anvil__nm_build *b, const anvil_map_entry *e,
                                  const anvil__tensor *t, bool *fits, double *err, bool *exact) {
    anvil__tensor got;
    *fits = *exact = false;
    *err = 0;
    anvil_status s = anvil__name_map_compute(e, anvil__nm_lookup, b, &got);
    if (s != ANVIL_OK) return s == ANVIL_STATUS_OUT_OF_MEMORY ? s : ANVIL_OK;
    bool ok = got.dtype == t->dtype && got.bytes == t->bytes && got.rank == t->rank &&
              memcmp(got.dims, t->dims, sizeof got.dims[0] * (size_t)t->rank) == 0;
    *exact = ok && (t->bytes == 0 || memcmp(got.data, t->data, t->bytes) == 0);
    size_t n = ok ? t->bytes / anvil_dtype_size(t->dtype) : 0;
    for (size_t i = 0; !*exact && i < n; i++) {
        double d = fabs(ld(t->dtype, got.data, i) - ld(t->dtype, t->data, i));
        if (!(d <= *err)) *err = d;
    }
    anvil__free(got.data);
    *fits = ok && !isnan(*err);
    return ANVIL_OK;
}

static double max_abs(const anvil__tensor *t) {
    size_t n = t->bytes / anvil_dtype_size(t->dtype);
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(ld(t->dtype, t->data, i));
        if (!(v <= m)) m = v;
    }
    return m;
}

static void fold_entry(const anvil__nm_build *b, anvil_map_kind kind, const char *onnx,
                       const char *first, const bn_group *g, double eps, anvil_map_entry *e) {
    memset(e, 0, sizeof *e);
    e->onnx = onnx;
    e->kind = kind;
    e->n_sources = 5;
    e->sources[0] = first;
    e->sources[1] = b->ck[g->gamma].name;
    e->sources[2] = b->ck[g->beta].name;
    e->sources[3] = b->ck[g->mean].name;
    e->sources[4] = b->ck[g->var].name;
    e->eps = eps;
}

/* The conv bias source for C: C's prefix + ".bias" when the checkpoint has it, else "". */
static anvil_status conv_bias_name(const anvil__nm_build *b, size_t conv, const char **out) {
    const char *name = b->ck[conv].name;
    size_t len = strlen(name);
    *out = "";
    if (len < 7 || strcmp(name + len - 7, ".weight") != 0) return ANVIL_OK;
    char *buf = anvil__malloc(len + 8);
    if (!buf) return ANVIL_STATUS_OUT_OF_MEMORY;
    int32_t j = find_suffixed(b, name, len - 7, ".bias", buf);
    anvil__free(buf);
    if (j >= 0) *out = b->ck[j].name;
    return ANVIL_OK;
}

static size_t common_prefix(const char *a, const char *c) {
    size_t n = 0;
    while (a[n] && a[n] == c[n]) n++;
    return n;
}

/* Lexicographic preference: bias fit, exact weight, smaller error, closer names. */
static bool better(const fold_fit *a, const fold_fit *c) {
    if (a->bias != c->bias) return a->bias > c->bias;
    if (a->exact != c->exact) return a->exact;
    if (a->err != c->err) return a->err < c->err;
    return a->prefix > c->prefix;
}

typedef struct conv_inits {
    int32_t weight, bias; /* initializer indices; bias -1 when the node has none */
    const anvil__tensor *w; /* the weight as the checkpoint holds it: the initializer's, or its
                               transpose when `transposed` */
    bool transposed;        /* a Gemm with transB = 0: entries transpose the fold (perm 1, 0) */
    int32_t axis;           /* the output channels' dim of w: 1 for a ConvTranspose, else 0 */
    double lim, pre;        /* acceptance and pre-filter bounds on |error| for the weight */
} conv_inits;

/* The fold weight entry of (C, group, eps) for the node's weight. */
static void weight_entry(const anvil__nm_build *b, const conv_inits *ci, size_t conv,
                         const bn_group *g, double eps, anvil_map_entry *e) {
    const anvil__init *w = &b->g->inits[ci->weight];
    fold_entry(b, ANVIL_MAP_CONV_BN_FOLD_WEIGHT, b->g->values[w->value].name, b->ck[conv].name, g,
               eps, e);
    e->axis = ci->axis;
    if (ci->transposed) {
        e->rank = 2;
        e->perm[0] = 1;
        e->perm[1] = 0;
    }
}

/* Full check of (C, group, eps): the computed fold against W' and the Conv's bias; *fits when
 * the weight matches. */
static anvil_status fit_candidate(bn_state *st, const conv_inits *ci, size_t conv,
                                  const bn_group *g, double eps, fold_fit *fit,
                                  const char **bias_src, bool *fits) {
    anvil__nm_build *b = st->b;
    const anvil__init *w = &b->g->inits[ci->weight];
    anvil_map_entry e;
    weight_entry(b, ci, conv, g, eps, &e);
    memset(fit, 0, sizeof *fit);
    anvil_status s = compare_entry(b, &e, &w->t, fits, &fit->err, &fit->exact);
    if (s != ANVIL_OK || !*fits) return s;
    *fits = fit->exact || fit->err <= ci->lim;
    if (!*fits) return ANVIL_OK;
    fit->conv = conv;
    fit->bn = g;
    fit->eps = eps;
    fit->prefix = common_prefix(b->ck[conv].name, b->ck[g->gamma].name);
    const anvil__init *bias = ci->bias >= 0 ? &b->g->inits[ci->bias] : NULL;
    if (!bias || !anvil__dtype_is_float(bias->t.dtype) || bias->t.rank != 1) return ANVIL_OK;
    if ((s = conv_bias_name(b, conv, bias_src)) != ANVIL_OK) return s;
    fold_entry(b, ANVIL_MAP_CONV_BN_FOLD_BIAS, b->g->values[bias->value].name, *bias_src, g, eps,
               &e);
    double err;
    bool exact, ok;
    if ((s = compare_entry(b, &e, &bias->t, &ok, &err, &exact)) != ANVIL_OK) return s;
    if (ok) fit->bias = exact ? 2 : err <= b->tol * max_abs(&bias->t) ? 1 : 0;
    return ANVIL_OK;
}

/* Tries every eps whose scale is close to the ratios; keeps the best fit. */
static anvil_status try_group(bn_state *st, const conv_inits *ci, size_t conv,
                              const bn_group *g, fold_fit *best, const char **best_bias,
                              bool *have) {
    anvil_dtype dt = st->b->ck[conv].t.dtype;
    for (size_t k = 0; k < N_EPS; k++) {
        if (!(scale_error(st, g, k_eps[k], dt) <= ci->pre)) continue;
        fold_fit fit;
        const char *bias_src = "";
        bool fits = false;
        anvil_status s = fit_candidate(st, ci, conv, g, k_eps[k], &fit, &bias_src, &fits);
        if (s != ANVIL_OK) return s;
        if (!fits || (*have && !better(&fit, best))) continue;
        *best = fit;
        *best_bias = bias_src;
        *have = true;
    }
    return ANVIL_OK;
}

static void record(bn_state *st, const conv_inits *ci, const fold_fit *f, const char *bias_src) {
    anvil__nm_build *b = st->b;
    weight_entry(b, ci, f->conv, f->bn, f->eps, &b->found[ci->weight]);
    /* The bias of a folded conv is a fold too, even when it also equals a checkpoint tensor by
     * coincidence (running_mean 0 makes it equal to beta); only its own name wins. */
    if (ci->bias < 0 || f->bias == 0 || b->same_name[ci->bias]) return;
    const anvil__init *bias = &b->g->inits[ci->bias];
    fold_entry(b, ANVIL_MAP_CONV_BN_FOLD_BIAS, b->g->values[bias->value].name, bias_src, f->bn,
               f->eps, &b->found[ci->bias]);
}

static anvil_status fold_conv(bn_state *st, conv_inits *ci) {
    anvil__nm_build *b = st->b;
    const anvil__tensor *w = ci->w;
    int64_t numel = anvil__tensor_numel(w);
    if (!anvil__dtype_is_float(w->dtype) || w->rank < 2 || numel <= 0 ||
        w->dims[ci->axis] <= 0 || !w->data)
        return ANVIL_OK;
    double m = max_abs(w);
    if (!(m > 0 && isfinite(m))) return ANVIL_OK; /* all zero: any BN group would fit */
    ci->lim = b->tol * m;
    ci->pre = fmax(b->tol, 8 * roundoff(w->dtype)) * m;
    fold_fit best;
    memset(&best, 0, sizeof best);
    const char *best_bias = "";
    bool have = false;
    anvil_status s = ANVIL_OK;
    for (size_t j = 0; s == ANVIL_OK && j < b->n_ck; j++) {
        const anvil__tensor *c = &b->ck[j].t;
        bool shape = c->dtype == w->dtype && c->rank == w->rank && c->bytes == w->bytes &&
                     memcmp(c->dims, w->dims, sizeof c->dims[0] * (size_t)w->rank) == 0;
        if (!shape || !channel_ratios(st, w, c, ci->axis, ci->pre)) continue;
        for (size_t k = 0; s == ANVIL_OK && k < st->n_groups; k++)
            if (st->groups[k].n == w->dims[ci->axis] &&
                b->ck[st->groups[k].gamma].t.dtype == w->dtype)
                s = try_group(st, ci, j, &st->groups[k], &best, &best_bias, &have);
    }
    if (s == ANVIL_OK && have) record(st, ci, &best, best_bias);
    return s;
}

static bool is_init(const anvil__graph *g, const anvil__node *n, int32_t input, int32_t *init) {
    if (input >= n->n_inputs || n->inputs[input] < 0) return false;
    const anvil__value *v = &g->values[n->inputs[input]];
    if (!(v->flags & ANVIL_VALUE_INITIALIZER) || v->init < 0) return false;
    *init = v->init;
    return true;
}

/* t's transpose (a matrix of any dtype), data from anvil__malloc; false when memory runs out. */
static bool transposed_copy(const anvil__tensor *t, anvil__tensor *out) {
    size_t rows = (size_t)t->dims[0], cols = (size_t)t->dims[1], es = anvil_dtype_size(t->dtype);
    *out = *t;
    out->dims[0] = t->dims[1];
    out->dims[1] = t->dims[0];
    unsigned char *d = anvil__malloc(t->bytes ? t->bytes : 1);
    const unsigned char *a = t->data;
    if (!d) return false;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) memcpy(d + (c * rows + r) * es, a + (r * cols + c) * es, es);
    out->data = d;
    return true;
}

/* The weight and bias initializers of a Conv, ConvTranspose (inputs 1, 2) or Gemm (B, C) node
 * that may hold a fold not matched yet; false for other nodes. A Gemm's B is [in, out] unless
 * transB = 1; a ConvTranspose's weight is [in, out / group, ...] (only one group is matched:
 * with more, a channel's scale would not be one slice of dim 1). */
static bool fold_target(const anvil__nm_build *b, const anvil__node *n, conv_inits *ci) {
    bool conv = strcmp(n->op_type, "Conv") == 0, gemm = strcmp(n->op_type, "Gemm") == 0;
    bool deconv = strcmp(n->op_type, "ConvTranspose") == 0;
    if (!(conv || gemm || deconv) || n->domain[0] || !is_init(b->g, n, 1, &ci->weight) ||
        b->found[ci->weight].n_sources)
        return false;
    if (!is_init(b->g, n, 2, &ci->bias)) ci->bias = -1;
    ci->w = &b->g->inits[ci->weight].t;
    ci->transposed = gemm && anvil__attr_int(n, "transB", 0) == 0;
    ci->axis = deconv ? 1 : 0;
    if (deconv) return anvil__attr_int(n, "group", 1) == 1 && ci->w->rank >= 2;
    return !gemm || (ci->w->rank == 2 && ci->w->data);
}

anvil_status anvil__nm_match_folds(anvil__nm_build *b) {
    bn_state st;
    memset(&st, 0, sizeof st);
    st.b = b;
    anvil_status s = find_groups(&st);
    for (int32_t i = 0; s == ANVIL_OK && st.n_groups && i < b->g->n_nodes; i++) {
        conv_inits ci = {-1, -1, NULL, false, 0, 0, 0};
        if (!fold_target(b, &b->g->nodes[i], &ci)) continue;
        anvil__tensor flipped = {0};
        if (ci.transposed && !transposed_copy(ci.w, &flipped)) {
            s = ANVIL_STATUS_OUT_OF_MEMORY;
            break;
        }
        if (ci.transposed) ci.w = &flipped;
        const anvil__tensor *w = ci.w;
        size_t o = w->rank > ci.axis && w->dims[ci.axis] > 0 ? (size_t)w->dims[ci.axis] : 1;
        st.r = anvil__malloc_array(o, sizeof *st.r);
        st.cmax = anvil__malloc_array(o, sizeof *st.cmax);
        if (!st.r || !st.cmax) s = ANVIL_STATUS_OUT_OF_MEMORY;
        else s = fold_conv(&st, &ci);
        anvil__free(st.r);
        anvil__free(st.cmax);
        anvil__free(flipped.data);
        st.r = st.cmax = NULL;
    }
    anvil__free(st.groups);
    return s;
}
