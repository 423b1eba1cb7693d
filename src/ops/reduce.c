/*
 * reduce.c — ReduceL2/Max/Mean/Min/Prod/Sum/SumSquare: validation, shape inference and the
 * reference kernels. Every dtype is handled natively: floats accumulate in double, integers in
 * exact (wrapping) 64-bit arithmetic, bool only for Max/Min. Not here: ArgMax/ArgMin, LogSum*.
 */
#include "ops/op.h"

#include <math.h>
#include <string.h>

typedef enum reduce_kind { R_L2, R_MAX, R_MEAN, R_MIN, R_PROD, R_SUM, R_SUMSQ } reduce_kind;

static reduce_kind kind_of(const anvil__node *n) {
    switch (n->op) {
    case ANVIL_OP_ReduceL2:
        return R_L2;
    case ANVIL_OP_ReduceMax:
        return R_MAX;
    case ANVIL_OP_ReduceMean:
        return R_MEAN;
    case ANVIL_OP_ReduceMin:
        return R_MIN;
    case ANVIL_OP_ReduceProd:
        return R_PROD;
    case ANVIL_OP_ReduceSum:
        return R_SUM;
    default:
        return R_SUMSQ;
    }
}

/* Opset from which `axes` is an input rather than an attribute. */
static int64_t axes_input_opset(const anvil__node *n) {
    return n->op == ANVIL_OP_ReduceSum ? 13 : 18;
}

anvil_status anvil__op_reduce_validate(const anvil__node *node, int64_t opset) {
    anvil_status s;
    if ((s = anvil__attr_expect(node, "keepdims", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    if ((s = anvil__attr_expect(node, "noop_with_empty_axes", ANVIL_ATTR_INT)) != ANVIL_OK)
        return s;
    bool axes_input = opset >= axes_input_opset(node);
    if (axes_input) {
        if (anvil__node_attr(node, "axes"))
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "'axes' is an input from opset %lld, not an attribute "
                                     "(model opset %lld)",
                                     (long long)axes_input_opset(node), (long long)opset);
    } else {
        if ((s = anvil__attr_expect(node, "axes", ANVIL_ATTR_INTS)) != ANVIL_OK) return s;
        if (node->n_inputs > 1 && node->inputs[1] >= 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "'axes' is an attribute before opset %lld, got an input "
                                     "(model opset %lld)",
                                     (long long)axes_input_opset(node), (long long)opset);
    }
    return ANVIL_OK;
}

/* Which axes are reduced. `known` is false when the axes input's data is not available. */
typedef struct reduce_axes {
    bool known;
    bool mask[ANVIL_MAX_RANK];
    int32_t count; /* number of reduced axes (when known) */
} reduce_axes;

/* Reads axes from the attribute or input and normalizes them against `rank` (rank ≥ 0). */
static anvil_status get_axes(const anvil__op_ctx *ctx, int32_t rank, reduce_axes *out) {
    const anvil__node *n = ctx->node;
    int64_t axes[ANVIL_MAX_RANK + 1];
    size_t count = 0;
    memset(out, 0, sizeof *out);
    bool noop = false;
    if (ctx->opset >= axes_input_opset(n)) {
        noop = anvil__attr_int(n, "noop_with_empty_axes", 0) != 0;
        const anvil__tensor *t = ctx->n_inputs > 1 ? ctx->inputs[1] : NULL;
        if (t) {
            if (!t->data) {
                out->known = false;
                return ANVIL_OK;
            }
            anvil_status s = anvil__read_ints(n, t, axes, ANVIL_MAX_RANK + 1, &count);
            if (s != ANVIL_OK) return s;
        }
    } else {
        const int64_t *a = anvil__attr_ints(n, "axes", &count);
        if (count > ANVIL_MAX_RANK + 1)
            return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                     "%zu axes for an input of rank %d", count, (int)rank);
        if (count) memcpy(axes, a, count * sizeof *axes);
    }
    out->known = true;
    if (count == 0) {
        /* No axes: reduce everything, or (noop_with_empty_axes) reduce over no axis, which
         * still applies the per-element part (|x| for L2, x² for SumSquare) as ONNX does. */
        for (int32_t d = 0; d < rank && !noop; d++)
            out->mask[d] = true;
        out->count = noop ? 0 : rank;
        return ANVIL_OK;
    }
    for (size_t i = 0; i < count; i++) {
        int32_t a;
        if (axes[i] < -(int64_t)rank || axes[i] >= (int64_t)rank)
            return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                     "axis %lld is out of range for rank %d", (long long)axes[i],
                                     (int)rank);
        a = (int32_t)(axes[i] < 0 ? axes[i] + rank : axes[i]);
        if (out->mask[a])
            return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "axis %lld is repeated",
                                     (long long)axes[i]);
        out->mask[a] = true;
        out->count++;
    }
    return ANVIL_OK;
}

static anvil_status check_dtype(const anvil__node *n, anvil_dtype dt) {
    reduce_kind k = kind_of(n);
    if (anvil__dtype_is_float(dt) || anvil__dtype_is_int(dt)) return ANVIL_OK;
    if (dt == ANVIL_DTYPE_BOOL && (k == R_MAX || k == R_MIN)) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "input dtype %s is not supported",
                             anvil_dtype_name(dt));
}

anvil_status anvil__op_reduce_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = check_dtype(n, x->dtype);
    if (s != ANVIL_OK) return s;
    bool keep = anvil__attr_int(n, "keepdims", 1) != 0;
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    reduce_axes ax;
    if ((s = get_axes(ctx, x->rank, &ax)) != ANVIL_OK) return s;
    int64_t dims[ANVIL_MAX_RANK];
    if (!ax.known) {
        if (!keep) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
        for (int32_t d = 0; d < x->rank; d++)
            dims[d] = x->dims[d] == 1 ? 1 : -1;
        return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
    }
    int32_t r = 0;
    for (int32_t d = 0; d < x->rank; d++) {
        if (!ax.mask[d])
            dims[r++] = x->dims[d];
        else if (keep)
            dims[r++] = 1;
    }
    return anvil__set_output(ctx, 0, x->dtype, r, dims);
}

/* ---- kernels ---- */

/* Walks the input in row-major order and yields, for each element, the index of the output
 * element it reduces into. */
typedef struct walker {
    int32_t rank;
    int64_t dims[ANVIL_MAX_RANK];
    int64_t ostride[ANVIL_MAX_RANK]; /* 0 for reduced axes */
    int64_t coord[ANVIL_MAX_RANK];
    size_t out;
} walker;

static void walker_init(walker *w, const anvil__tensor *x, const reduce_axes *ax) {
    int64_t kdims[ANVIL_MAX_RANK];
    memset(w, 0, sizeof *w);
    w->rank = x->rank;
    for (int32_t d = 0; d < x->rank; d++) {
        w->dims[d] = x->dims[d];
        kdims[d] = ax->mask[d] ? 1 : x->dims[d];
    }
    anvil__strides(x->rank, kdims, w->ostride);
    for (int32_t d = 0; d < x->rank; d++)
        if (ax->mask[d]) w->ostride[d] = 0;
}

static inline void walker_next(walker *w) {
    for (int32_t d = w->rank - 1; d >= 0; d--) {
        w->out += (size_t)w->ostride[d];
        if (++w->coord[d] < w->dims[d]) return;
        w->out -= (size_t)(w->ostride[d] * w->coord[d]);
        w->coord[d] = 0;
    }
}

static inline double load_f(anvil_dtype dt, const void *p, size_t i) {
    return dt == ANVIL_DTYPE_F32 ? (double)((const float *)p)[i] : anvil__load_f64(dt, p, i);
}

static void reduce_float(reduce_kind k, const anvil__tensor *x, const reduce_axes *ax, size_t n_out,
                         double count, double *acc, anvil__tensor *y) {
    double init = k == R_MAX ? -INFINITY : k == R_MIN ? INFINITY : k == R_PROD ? 1.0 : 0.0;
    for (size_t i = 0; i < n_out; i++)
        acc[i] = init;
    size_t n_in = (size_t)anvil__tensor_numel(x);
    walker w;
    walker_init(&w, x, ax);
    for (size_t i = 0; i < n_in; i++, walker_next(&w)) {
        double v = load_f(x->dtype, x->data, i);
        double *a = &acc[w.out];
        switch (k) {
        case R_MAX:
            if (v > *a || isnan(v)) *a = isnan(*a) ? *a : v;
            break;
        case R_MIN:
            if (v < *a || isnan(v)) *a = isnan(*a) ? *a : v;
            break;
        case R_PROD:
            *a *= v;
            break;
        case R_L2:
        case R_SUMSQ:
            *a += v * v;
            break;
        default:
            *a += v;
            break;
        }
    }
    for (size_t i = 0; i < n_out; i++) {
        double v = acc[i];
        if (k == R_L2) v = sqrt(v);
        if (k == R_MEAN) v = v / count; /* empty set: 0/0 = NaN, like numpy */
        if (y->dtype == ANVIL_DTYPE_F32)
            ((float *)y->data)[i] = (float)v;
        else
            anvil__store_f64(y->dtype, y->data, i, v);
    }
}

/* Smallest and largest value of an integer (or bool) dtype, as int64 bit patterns; for u64
 * the comparisons below are unsigned. */
static void int_limits(anvil_dtype dt, int64_t *lo, int64_t *hi) {
    switch (dt) {
    case ANVIL_DTYPE_I8:
        *lo = INT8_MIN, *hi = INT8_MAX;
        break;
    case ANVIL_DTYPE_U8:
        *lo = 0, *hi = UINT8_MAX;
        break;
    case ANVIL_DTYPE_I16:
        *lo = INT16_MIN, *hi = INT16_MAX;
        break;
    case ANVIL_DTYPE_U16:
        *lo = 0, *hi = UINT16_MAX;
        break;
    case ANVIL_DTYPE_I32:
        *lo = INT32_MIN, *hi = INT32_MAX;
        break;
    case ANVIL_DTYPE_U32:
        *lo = 0, *hi = UINT32_MAX;
        break;
    case ANVIL_DTYPE_U64:
        *lo = 0, *hi = -1; /* UINT64_MAX */
        break;
    case ANVIL_DTYPE_BOOL:
        *lo = 0, *hi = 1;
        break;
    default:
        *lo = INT64_MIN, *hi = INT64_MAX;
        break;
    }
}

static inline bool int_less(bool is_unsigned, int64_t a, int64_t b) {
    return is_unsigned ? (uint64_t)a < (uint64_t)b : a < b;
}

/* Integer reductions are exact: sums and products wrap in 64 bits (then truncate to the
 * dtype like numpy's cast), Mean divides the exact sum, L2 takes sqrt of the exact sum of
 * squares. */
static void reduce_int(reduce_kind k, const anvil__tensor *x, const reduce_axes *ax, size_t n_out,
                       uint64_t count, int64_t *acc, anvil__tensor *y) {
    bool uns = x->dtype == ANVIL_DTYPE_U64;
    int64_t lo, hi;
    int_limits(x->dtype, &lo, &hi);
    int64_t init = k == R_MAX ? lo : k == R_MIN ? hi : k == R_PROD ? 1 : 0;
    for (size_t i = 0; i < n_out; i++)
        acc[i] = init;
    size_t n_in = (size_t)anvil__tensor_numel(x);
    walker w;
    walker_init(&w, x, ax);
    for (size_t i = 0; i < n_in; i++, walker_next(&w)) {
        int64_t v = anvil__load_i64(x->dtype, x->data, i);
        int64_t *a = &acc[w.out];
        switch (k) {
        case R_MAX:
            if (int_less(uns, *a, v)) *a = v;
            break;
        case R_MIN:
            if (int_less(uns, v, *a)) *a = v;
            break;
        case R_PROD:
            *a = (int64_t)((uint64_t)*a * (uint64_t)v);
            break;
        case R_L2:
        case R_SUMSQ:
            *a = (int64_t)((uint64_t)*a + (uint64_t)v * (uint64_t)v);
            break;
        default:
            *a = (int64_t)((uint64_t)*a + (uint64_t)v);
            break;
        }
    }
    for (size_t i = 0; i < n_out; i++) {
        int64_t v = acc[i];
        if (k == R_MEAN) {
            if (count == 0)
                v = 0;
            else if (uns)
                v = (int64_t)((uint64_t)v / count);
            else
                v = v / (int64_t)count;
        } else if (k == R_L2) {
            v = (int64_t)sqrt(uns ? (double)(uint64_t)v : (double)v);
        }
        anvil__store_i64(y->dtype, y->data, i, v);
    }
}

anvil_status anvil__op_reduce_run(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    if (!y) return ANVIL_OK;
    anvil_status s = check_dtype(n, x->dtype);
    if (s != ANVIL_OK) return s;
    reduce_axes ax;
    if ((s = get_axes(ctx, x->rank, &ax)) != ANVIL_OK) return s;
    if (!ax.known)
        return anvil__node_error(n, ANVIL_STATUS_INTERNAL, "axes input has no value at run");
    int64_t n_out = anvil__tensor_numel(y), n_in = anvil__tensor_numel(x);
    if (n_out < 0 || n_in < 0)
        return anvil__node_error(n, ANVIL_STATUS_INTERNAL, "tensor shapes are not known");
    uint64_t count = 1;
    for (int32_t d = 0; d < x->rank; d++)
        if (ax.mask[d]) count *= (uint64_t)x->dims[d];
    if (n_out == 0) return ANVIL_OK;
    if (anvil__dtype_is_float(x->dtype)) {
        double *acc = anvil__malloc_array((size_t)n_out, sizeof *acc);
        if (!acc) return ANVIL_STATUS_OUT_OF_MEMORY;
        reduce_float(kind_of(n), x, &ax, (size_t)n_out, (double)count, acc, y);
        anvil__free(acc);
    } else {
        int64_t *acc = anvil__malloc_array((size_t)n_out, sizeof *acc);
        if (!acc) return ANVIL_STATUS_OUT_OF_MEMORY;
        reduce_int(kind_of(n), x, &ax, (size_t)n_out, count, acc, y);
        anvil__free(acc);
    }
    return ANVIL_OK;
}
