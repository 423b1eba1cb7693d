/*
 * map_compute.c — applies one name map entry: the ONNX initializer from checkpoint tensors
 * (copy, transpose, or a BatchNorm folded into Conv / Gemm weights, then optionally transposed,
 * and biases). Every source is checked first (present, dtype, shape, byte size). Float arithmetic follows the formulas of anvil.h
 * operation by operation, one operation per statement, so that no compiler contracts them into
 * FMAs and f32 results are bit-identical to PyTorch's folding. Not here: finding entries.
 */
#include "namemap/name_map.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { N_MAX = 5 };

/* What an entry refers to: its tensors by position in the entry's sources. */
typedef struct nm_sources {
    anvil__tensor t[N_MAX];
    bool present[N_MAX]; /* false for the "" conv bias of a fold bias */
    const char *onnx;
    const char *kind;
} nm_sources;

/* Reads element i of a float buffer as double without assuming alignment. */
static double ld(anvil_dtype dt, const void *p, size_t i) {
    const unsigned char *b = p;
    if (dt == ANVIL_DTYPE_F32) {
        float v;
        memcpy(&v, b + 4 * i, 4);
        return v;
    }
    if (dt == ANVIL_DTYPE_F64) {
        double v;
        memcpy(&v, b + 8 * i, 8);
        return v;
    }
    uint16_t h;
    memcpy(&h, b + 2 * i, 2);
    return dt == ANVIL_DTYPE_F16 ? anvil__f16_to_f32(h) : anvil__bf16_to_f32(h);
}

/* Writes element i; f16/bf16 round to nearest even. */
static void st(anvil_dtype dt, void *p, size_t i, double v) {
    unsigned char *b = p;
    if (dt == ANVIL_DTYPE_F64) {
        memcpy(b + 8 * i, &v, 8);
        return;
    }
    float f = (float)v;
    if (dt == ANVIL_DTYPE_F32) {
        memcpy(b + 4 * i, &f, 4);
        return;
    }
    uint16_t h = dt == ANVIL_DTYPE_F16 ? anvil__f32_to_f16(f) : anvil__f32_to_bf16(f);
    memcpy(b + 2 * i, &h, 2);
}

/* "'a', 'b'" of the missing sources, cut with "..." when long. */
static anvil_status missing_error(const anvil_map_entry *e, const nm_sources *src) {
    char list[1024] = "";
    size_t len = 0;
    int n = 0;
    for (int32_t i = 0; i < e->n_sources; i++) {
        if (src->present[i] || !e->sources[i][0]) continue;
        int w = snprintf(list + len, sizeof list - len, "%s'%.200s'", n++ ? ", " : "",
                         e->sources[i]);
        if (w < 0 || (size_t)w >= sizeof list - len) {
            snprintf(list + sizeof list - 5, 5, "...");
            break;
        }
        len += (size_t)w;
    }
    return anvil__error(ANVIL_STATUS_NOT_FOUND,
                        "name map entry '%.200s' (%s): %d source(s) missing from the "
                        "checkpoint: %s", src->onnx, src->kind, n, list);
}

/* Checks that a found tensor is consistent with itself: dims, byte count, data. */
static anvil_status check_tensor(const nm_sources *src, const char *name, const anvil__tensor *t) {
    char shape[ANVIL_SHAPE_STR_MAX];
    int64_t numel = t->rank >= 0 && t->rank <= ANVIL_MAX_RANK ? anvil__tensor_numel(t) : -1;
    size_t es = anvil_dtype_size(t->dtype), bytes = 0;
    if (es == 0)
        return anvil__error(ANVIL_STATUS_DTYPE_MISMATCH,
                            "name map entry '%.200s': source '%.200s' has no valid dtype (%d)",
                            src->onnx, name, (int)t->dtype);
    if (numel < 0 || !anvil__mul_size((size_t)numel, es, &bytes) || bytes != t->bytes ||
        (bytes && !t->data))
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "name map entry '%.200s': source '%.200s' holds %zu bytes, its shape "
                            "%s of %s needs %zu", src->onnx, name, t->bytes,
                            numel < 0 ? "(invalid)"
                                      : anvil__shape_str(t->rank, t->dims, shape, sizeof shape),
                            anvil_dtype_name(t->dtype), bytes);
    return ANVIL_OK;
}

static anvil_status find_sources(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                 nm_sources *src) {
    bool missing = false;
    for (int32_t i = 0; i < e->n_sources; i++) {
        if (!e->sources[i])
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "name map entry '%.200s': source %d is NULL", src->onnx, (int)i);
        if (!e->sources[i][0]) continue; /* checked by the caller: only a fold's conv bias */
        src->present[i] = lookup(user, e->sources[i], &src->t[i]);
        if (!src->present[i]) missing = true;
    }
    if (missing) return missing_error(e, src);
    for (int32_t i = 0; i < e->n_sources; i++) {
        if (!src->present[i]) continue;
        anvil_status s = check_tensor(src, e->sources[i], &src->t[i]);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

/* Allocates out's data for the given dtype and shape. */
static anvil_status alloc_out(anvil__tensor *out, anvil_dtype dt, int32_t rank,
                              const int64_t *dims, size_t bytes) {
    out->dtype = dt;
    out->rank = rank;
    for (int32_t i = 0; i < rank; i++) out->dims[i] = dims[i];
    out->bytes = bytes;
    out->data = anvil__malloc(bytes ? bytes : 1);
    return out->data ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
}

static anvil_status compute_identity(const nm_sources *src, anvil__tensor *out) {
    const anvil__tensor *t = &src->t[0];
    anvil_status s = alloc_out(out, t->dtype, t->rank, t->dims, t->bytes);
    if (s == ANVIL_OK && t->bytes) memcpy(out->data, t->data, t->bytes);
    return s;
}

/* out[c][r] = in[r][c] for 4-byte elements, through 64x64 tiles in a local buffer: each
 * side then moves runs of four whole cache lines per row, which keeps the hardware
 * prefetchers and the TLB working where row strides are multiples of 4 KiB (measured on
 * transformer projections: about twice as fast as 16x16 tiles). */
static void transpose_2d_u32(const void *in, void *out, size_t rows, size_t cols) {
    enum { T = 64 };
    const uint32_t *a = in;
    uint32_t *b = out, tile[T][T];
    for (size_t r0 = 0; r0 < rows; r0 += T)
        for (size_t c0 = 0; c0 < cols; c0 += T) {
            size_t nr = rows - r0 < T ? rows - r0 : T, nc = cols - c0 < T ? cols - c0 : T;
            for (size_t r = 0; r < nr; r++) memcpy(tile[r], a + (r0 + r) * cols + c0, nc * 4);
            for (size_t c = 0; c < nc; c++) {
                uint32_t *dst = b + (c0 + c) * rows + r0;
                for (size_t r = 0; r < nr; r++) dst[r] = tile[r][c];
            }
        }
}

/* The result of transposing t (source 0 of e, or its fold) by e's perm: its dims, and the
 * element stride of each in t. */
static anvil_status transpose_geometry(const anvil_map_entry *e, const nm_sources *src,
                                       const anvil__tensor *t, int64_t *dims, int64_t *stride) {
    int32_t r = e->rank;
    bool seen[ANVIL_MAX_RANK] = {false}, ok = r == t->rank && r >= 1 && r <= ANVIL_MAX_RANK;
    for (int32_t i = 0; ok && i < r; i++) {
        ok = e->perm[i] >= 0 && e->perm[i] < r && !seen[e->perm[i]];
        if (ok) seen[e->perm[i]] = true;
    }
    if (!ok)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "name map entry '%.200s' (%s): perm of %d axes is not a "
                            "permutation of the %d axes of source '%.200s'", src->onnx,
                            src->kind, (int)r, (int)t->rank, e->sources[0]);
    int64_t in_stride[ANVIL_MAX_RANK], acc = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        in_stride[i] = acc;
        acc *= t->dims[i];
    }
    for (int32_t i = 0; i < r; i++) {
        dims[i] = t->dims[e->perm[i]];
        stride[i] = in_stride[e->perm[i]];
    }
    return ANVIL_OK;
}

/* out (allocated here) = t transposed by e's perm, with the geometry above. */
static anvil_status transpose_into(const anvil_map_entry *e, const anvil__tensor *t,
                                   const int64_t *dims, const int64_t *stride,
                                   anvil__tensor *out) {
    int32_t r = e->rank;
    anvil_status s = alloc_out(out, t->dtype, r, dims, t->bytes);
    if (s != ANVIL_OK || t->bytes == 0) return s;
    size_t es = anvil_dtype_size(t->dtype), n = t->bytes / es;
    if (r == 2 && e->perm[0] == 1 && es == 4) { /* the common case, a matrix: cache blocks */
        transpose_2d_u32(t->data, out->data, (size_t)t->dims[0], (size_t)t->dims[1]);
        return ANVIL_OK;
    }
    int64_t idx[ANVIL_MAX_RANK] = {0}, off = 0;
    const unsigned char *in = t->data;
    unsigned char *o = out->data;
    for (size_t k = 0; k < n; k++) {
        memcpy(o + k * es, in + (size_t)off * es, es);
        for (int32_t a = r - 1; a >= 0; a--) { /* odometer over the output's axes */
            off += stride[a];
            if (++idx[a] < dims[a]) break;
            off -= stride[a] * dims[a];
            idx[a] = 0;
        }
    }
    return ANVIL_OK;
}

static anvil_status compute_transpose(const anvil_map_entry *e, const nm_sources *src,
                                      anvil__tensor *out) {
    int64_t dims[ANVIL_MAX_RANK], stride[ANVIL_MAX_RANK];
    anvil_status s = transpose_geometry(e, src, &src->t[0], dims, stride);
    return s == ANVIL_OK ? transpose_into(e, &src->t[0], dims, stride, out) : s;
}

/* The BN vectors (sources 1..4) and the conv bias (source 0 of a fold bias) must be float
 * vectors of length n with one dtype dt. */
static anvil_status check_fold(const anvil_map_entry *e, const nm_sources *src, int first,
                               anvil_dtype dt, int64_t n) {
    if (!anvil__dtype_is_float(dt))
        return anvil__error(ANVIL_STATUS_DTYPE_MISMATCH,
                            "name map entry '%.200s' (%s): source '%.200s' is %s, a fold needs "
                            "f32, f16, bf16 or f64", src->onnx, src->kind,
                            e->sources[e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT ? 0 : 1],
                            anvil_dtype_name(dt));
    for (int i = first; i < N_MAX; i++) {
        const anvil__tensor *t = &src->t[i];
        if (!src->present[i]) continue;
        if (t->dtype != dt)
            return anvil__error(ANVIL_STATUS_DTYPE_MISMATCH,
                                "name map entry '%.200s' (%s): source '%.200s' is %s, expected %s "
                                "like the others", src->onnx, src->kind, e->sources[i],
                                anvil_dtype_name(t->dtype), anvil_dtype_name(dt));
        if (t->rank != 1 || t->dims[0] != n) {
            char shape[ANVIL_SHAPE_STR_MAX];
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                                "name map entry '%.200s' (%s): source '%.200s' has shape %s, "
                                "expected a vector of %lld (the output channels)", src->onnx,
                                src->kind, e->sources[i],
                                anvil__shape_str(t->rank, t->dims, shape, sizeof shape),
                                (long long)n);
        }
    }
    return ANVIL_OK;
}

/* s = gamma / sqrt(var + eps), in float (f32, f16, bf16) or double (f64). */
static anvil_status bn_scale(const nm_sources *src, double eps, anvil_dtype dt, size_t n,
                             double **out) {
    double *s = anvil__malloc_array(n ? n : 1, sizeof *s);
    if (!s) return ANVIL_STATUS_OUT_OF_MEMORY;
    const void *g = src->t[1].data, *v = src->t[4].data;
    if (dt == ANVIL_DTYPE_F32) { /* the common case, without the per-element dtype dispatch
                                    (memcpy loads: caller tensors need not be aligned) */
        const float e = (float)eps;
        for (size_t i = 0; i < n; i++) {
            float gi, vi;
            memcpy(&gi, (const char *)g + i * sizeof gi, sizeof gi);
            memcpy(&vi, (const char *)v + i * sizeof vi, sizeof vi);
            float q = gi / sqrtf(vi + e);
            s[i] = q;
        }
        *out = s;
        return ANVIL_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (dt == ANVIL_DTYPE_F64) {
            double t = ld(dt, v, i) + eps;
            double r = sqrt(t);
            s[i] = ld(dt, g, i) / r;
        } else {
            float t = (float)ld(dt, v, i) + (float)eps;
            float r = sqrtf(t);
            float q = (float)ld(dt, g, i) / r;
            s[i] = q;
        }
    }
    *out = s;
    return ANVIL_OK;
}

/* onnx = W * s per output channel (dim `axis` of W: outer x channels x inner elements). */
static void fold_weight(const anvil__tensor *w, int32_t axis, const double *s, anvil__tensor *out) {
    anvil_dtype dt = w->dtype;
    size_t o = (size_t)w->dims[axis], outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; d++) outer *= (size_t)w->dims[d];
    for (int32_t d = axis + 1; d < w->rank; d++) inner *= (size_t)w->dims[d];
    for (size_t a = 0; a < outer; a++) {
        for (size_t c = 0; c < o; c++) {
            size_t k = (a * o + c) * inner, end = k + inner;
            if (dt == ANVIL_DTYPE_F32) { /* the common case: no per-element dispatch, 4 lanes at
                                            once (each the same single rounding as a scalar) */
                typedef float f32x4 __attribute__((vector_size(16)));
                const float *x = w->data;
                float *y = out->data, sc = (float)s[c];
                f32x4 vs = {sc, sc, sc, sc};
                for (; k + 4 <= end; k += 4) {
                    f32x4 v;
                    memcpy(&v, x + k, sizeof v);
                    v *= vs;
                    memcpy(y + k, &v, sizeof v);
                }
                for (; k < end; k++) y[k] = x[k] * sc;
            }
            for (; k < end; k++) {
                if (dt == ANVIL_DTYPE_F64) {
                    st(dt, out->data, k, ld(dt, w->data, k) * s[c]);
                } else {
                    float p = (float)ld(dt, w->data, k) * (float)s[c];
                    st(dt, out->data, k, p);
                }
            }
        }
    }
}

/* onnx = beta + (b - mean) * s, b = 0 without a conv bias. */
static void fold_bias(const nm_sources *src, const double *s, anvil_dtype dt, size_t n,
                      anvil__tensor *out) {
    const void *b = src->present[0] ? src->t[0].data : NULL;
    const void *beta = src->t[2].data, *mean = src->t[3].data;
    for (size_t i = 0; i < n; i++) {
        if (dt == ANVIL_DTYPE_F64) {
            double d = (b ? ld(dt, b, i) : 0.0) - ld(dt, mean, i);
            double p = d * s[i];
            st(dt, out->data, i, ld(dt, beta, i) + p);
        } else {
            float d = (b ? (float)ld(dt, b, i) : 0.0f) - (float)ld(dt, mean, i);
            float p = d * (float)s[i];
            float r = (float)ld(dt, beta, i) + p;
            st(dt, out->data, i, r);
        }
    }
}

/* Checks a fold entry's sources and computes its per-channel scale s (*scale, caller frees). */
static anvil_status fold_scale(const anvil_map_entry *e, const nm_sources *src, double **scale) {
    bool weight = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT;
    const anvil__tensor *first = weight ? &src->t[0] : &src->t[1];
    anvil_dtype dt = first->dtype;
    *scale = NULL;
    if (!(isfinite(e->eps) && e->eps >= 0))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "name map entry '%.200s' (%s): eps %g is not a finite number >= 0",
                            src->onnx, src->kind, e->eps);
    int32_t axis = weight ? e->axis : 0;
    if (first->rank <= axis || axis < 0)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "name map entry '%.200s' (%s): source '%.200s' has rank %d, expected "
                            "output channels in dim %d", src->onnx, src->kind,
                            e->sources[weight ? 0 : 1], (int)first->rank, (int)axis);
    int64_t n = first->dims[axis];
    anvil_status s = check_fold(e, src, weight ? 1 : 0, dt, n);
    if (s == ANVIL_OK) s = bn_scale(src, e->eps, dt, (size_t)n, scale);
    return s;
}

/* A fold weight is scaled per output channel (dim `axis` of the source), then transposed when
 * it has a perm: a Gemm with transB = 0 holds the checkpoint's [out, in] weight as [in, out]. */
static anvil_status compute_fold(const anvil_map_entry *e, const nm_sources *src,
                                 anvil__tensor *out) {
    bool weight = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT;
    const anvil__tensor *first = weight ? &src->t[0] : &src->t[1];
    int64_t dims[ANVIL_MAX_RANK], stride[ANVIL_MAX_RANK];
    bool permuted = weight && e->rank > 0;
    anvil_status s = permuted ? transpose_geometry(e, src, first, dims, stride) : ANVIL_OK;
    double *scale = NULL;
    if (s == ANVIL_OK) s = fold_scale(e, src, &scale);
    anvil__tensor folded = {0}, *into = permuted ? &folded : out;
    if (s == ANVIL_OK) s = alloc_out(into, first->dtype, first->rank, first->dims, first->bytes);
    if (s == ANVIL_OK && weight) fold_weight(first, e->axis, scale, into);
    if (s == ANVIL_OK && !weight) fold_bias(src, scale, first->dtype, (size_t)first->dims[0], into);
    if (s == ANVIL_OK && permuted) s = transpose_into(e, &folded, dims, stride, out);
    anvil__free(folded.data);
    anvil__free(scale);
    return s;
}

/* Checks the entry's kind and source names, then finds and checks its sources. */
static anvil_status entry_sources(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                  nm_sources *src) {
    memset(src, 0, sizeof *src);
    src->onnx = e->onnx ? e->onnx : "?";
    src->kind = anvil__map_kind_name(e->kind);
    if (!src->kind || e->n_sources != anvil__map_kind_sources(e->kind))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "name map entry '%.200s': kind %d with %d source(s) is invalid",
                            src->onnx, (int)e->kind, (int)e->n_sources);
    for (int32_t i = 0; i < e->n_sources; i++)
        if (e->sources[i] && !e->sources[i][0] &&
            !(e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && i == 0))
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "name map entry '%.200s' (%s): source %d is empty", src->onnx,
                                src->kind, (int)i);
    return find_sources(e, lookup, user, src);
}

anvil_status anvil__name_map_compute(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                     anvil__tensor *out) {
    if (!e || !lookup || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_compute: NULL argument");
    memset(out, 0, sizeof *out);
    nm_sources src;
    anvil_status s = entry_sources(e, lookup, user, &src);
    if (s == ANVIL_OK) {
        if (e->kind == ANVIL_MAP_IDENTITY) s = compute_identity(&src, out);
        else if (e->kind == ANVIL_MAP_TRANSPOSE) s = compute_transpose(e, &src, out);
        else s = compute_fold(e, &src, out);
    }
    if (s != ANVIL_OK) {
        anvil__free(out->data);
        memset(out, 0, sizeof *out);
    }
    return s;
}

anvil_status anvil__name_map_view(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                  anvil__tensor *shape, anvil__tensor_view *view) {
    if (!e || !lookup || !shape || !view)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_view: NULL argument");
    memset(shape, 0, sizeof *shape);
    memset(view, 0, sizeof *view);
    if (e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "a fold's bias is computed, not viewed");
    nm_sources src;
    anvil_status s = entry_sources(e, lookup, user, &src);
    if (s != ANVIL_OK) return s;
    const anvil__tensor *t = &src.t[0];
    if (e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT &&
        (t->dtype != ANVIL_DTYPE_F32 || e->rank || e->axis))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "only f32 folds along axis 0 without a "
                            "perm are viewed (a view scales along its first axis)");
    *shape = *t;
    int64_t acc = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) { /* identity and fold: the source as it is */
        view->strides[d] = acc;
        acc *= t->dims[d];
    }
    if (e->kind == ANVIL_MAP_TRANSPOSE) {
        shape->rank = e->rank;
        s = transpose_geometry(e, &src, t, shape->dims, view->strides);
    }
    double *scale = NULL;
    if (s == ANVIL_OK && e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT) {
        s = fold_scale(e, &src, &scale);
        size_t n = (size_t)t->dims[0];
        view->scale = s == ANVIL_OK ? anvil__malloc_array(n ? n : 1, sizeof *view->scale) : NULL;
        if (s == ANVIL_OK && !view->scale) s = ANVIL_STATUS_OUT_OF_MEMORY;
        for (size_t i = 0; s == ANVIL_OK && i < n; i++) view->scale[i] = (float)scale[i];
        anvil__free(scale);
    }
    if (s != ANVIL_OK) {
        anvil__free(view->scale);
        memset(view, 0, sizeof *view);
        memset(shape, 0, sizeof *shape);
        return s;
    }
    view->base = t->data ? t->data : (const void *)"";
    view->base_bytes = t->bytes;
    shape->data = (void *)view->base;
    return ANVIL_OK;
}
