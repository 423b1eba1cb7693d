/*
 * slice_split.c — ops that cut tensors apart or join them along axes: Slice (with the spec's
 * clamping and negative steps), Split (sizes from the attribute, the input, num_outputs or
 * equal parts) and Concat. Element bytes are copied as is, so every dtype works.
 */
#include "ops/strided_copy.h"

#include <string.h>

/* ---- Concat ---- */

anvil_status anvil__op_concat_validate(const anvil__node *node, int64_t opset) {
    if (opset >= 4) return anvil__attr_require(node, "axis", ANVIL_ATTR_INT);
    return anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
}

/* Common rank and dtype of the inputs (rank -1 when no input's rank is known). */
static anvil_status concat_rank(anvil__op_ctx *ctx, int32_t *rank, anvil_dtype *dtype) {
    const anvil__node *n = ctx->node;
    *rank = -1;
    *dtype = ANVIL_DTYPE_UNDEFINED;
    for (int32_t i = 0; i < ctx->n_inputs; i++) {
        const anvil__tensor *t = ctx->inputs[i];
        if (!t)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "input %d is missing", (int)i);
        if (*dtype == ANVIL_DTYPE_UNDEFINED) *dtype = t->dtype;
        if (t->dtype != ANVIL_DTYPE_UNDEFINED && t->dtype != *dtype)
            return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                     "input %d is %s but input 0 is %s", (int)i,
                                     anvil_dtype_name(t->dtype), anvil_dtype_name(*dtype));
        if (t->rank < 0) continue;
        if (*rank >= 0 && t->rank != *rank)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "input %d has rank %d but an earlier input has rank %d",
                                     (int)i, (int)t->rank, (int)*rank);
        *rank = t->rank;
    }
    if (*rank == 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "cannot concatenate scalars");
    return ANVIL_OK;
}

static anvil_status concat_axis(const anvil__node *n, int32_t rank, int32_t *axis) {
    return anvil__axis(n, anvil__attr_int(n, "axis", 1), rank, axis);
}

anvil_status anvil__op_concat_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    int32_t rank, axis;
    anvil_dtype dtype;
    anvil_status s = concat_rank(ctx, &rank, &dtype);
    if (s != ANVIL_OK) return s;
    if (rank < 0) return anvil__set_output(ctx, 0, dtype, -1, NULL);
    if ((s = concat_axis(n, rank, &axis)) != ANVIL_OK) return s;
    int64_t dims[ANVIL_MAX_RANK];
    for (int32_t d = 0; d < rank; d++)
        dims[d] = d == axis ? 0 : -1;
    for (int32_t i = 0; i < ctx->n_inputs; i++) {
        const anvil__tensor *t = ctx->inputs[i];
        if (t->rank < 0) {
            dims[axis] = -1;
            continue;
        }
        for (int32_t d = 0; d < rank; d++) {
            int64_t v = t->dims[d];
            if (d == axis) {
                if (v < 0 || dims[d] < 0) {
                    dims[d] = -1;
                    continue;
                }
                if (v > INT64_MAX - dims[d])
                    return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                             "concatenated dim overflows");
                dims[d] += v;
            } else if (v >= 0 && dims[d] >= 0 && v != dims[d]) {
                char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
                return anvil__node_error(
                    n, ANVIL_STATUS_SHAPE_MISMATCH,
                    "input %d has shape %s, which differs from %s outside axis %d", (int)i,
                    anvil__shape_str(t->rank, t->dims, a, sizeof a),
                    anvil__shape_str(rank, dims, b, sizeof b), (int)axis);
            } else if (v >= 0) {
                dims[d] = v;
            }
        }
    }
    return anvil__set_output(ctx, 0, dtype, rank, dims);
}

anvil_status anvil__op_concat_run(anvil__op_ctx *ctx) {
    anvil__tensor *y = ctx->outputs[0];
    int32_t axis;
    anvil_status s = concat_axis(ctx->node, y->rank, &axis);
    if (s != ANVIL_OK) return s;
    size_t es = anvil_dtype_size(y->dtype), inner = es, outer = 1;
    for (int32_t d = axis + 1; d < y->rank; d++)
        inner *= (size_t)y->dims[d];
    for (int32_t d = 0; d < axis; d++)
        outer *= (size_t)y->dims[d];
    uint8_t *dst = y->data;
    for (size_t o = 0; o < outer; o++) {
        for (int32_t i = 0; i < ctx->n_inputs; i++) {
            const anvil__tensor *t = ctx->inputs[i];
            size_t chunk = (size_t)t->dims[axis] * inner;
            if (chunk) memcpy(dst, (const uint8_t *)t->data + o * chunk, chunk);
            dst += chunk;
        }
    }
    return ANVIL_OK;
}

/* ---- Slice ---- */

typedef struct slice_params {
    size_t count;
    int64_t starts[ANVIL_MAX_RANK], ends[ANVIL_MAX_RANK];
    int64_t axes[ANVIL_MAX_RANK], steps[ANVIL_MAX_RANK];
} slice_params;

anvil_status anvil__op_slice_validate(const anvil__node *node, int64_t opset) {
    if (opset >= 10) {
        if (node->n_inputs < 3 || node->inputs[1] < 0 || node->inputs[2] < 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "from opset 10 the starts and ends inputs are required");
        return ANVIL_OK;
    }
    if (node->n_inputs > 1)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "before opset 10 Slice takes one input, got %d",
                                 (int)node->n_inputs);
    anvil_status s = anvil__attr_require(node, "starts", ANVIL_ATTR_INTS);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "ends", ANVIL_ATTR_INTS);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "axes", ANVIL_ATTR_INTS);
    return s;
}

/* Reads one parameter list from an attribute (opset < 10) or input `idx`. *present = false when
 * it is absent; LIMIT_EXCEEDED when it has more entries than any tensor has dims. */
static anvil_status slice_list(anvil__op_ctx *ctx, const char *name, int32_t idx, int64_t *out,
                               size_t *count, bool *present) {
    const anvil__node *n = ctx->node;
    if (ctx->opset < 10) {
        const int64_t *a = anvil__attr_ints(n, name, count);
        *present = a != NULL;
        if (*count > ANVIL_MAX_RANK)
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "'%s' has %zu entries, more than the maximum rank %d", name,
                                     *count, ANVIL_MAX_RANK);
        if (a) memcpy(out, a, *count * sizeof *out);
        return ANVIL_OK;
    }
    const anvil__tensor *t = idx < ctx->n_inputs ? ctx->inputs[idx] : NULL;
    *present = t != NULL;
    *count = 0;
    return t ? anvil__read_ints(n, t, out, ANVIL_MAX_RANK, count) : ANVIL_OK;
}

/* True when some parameter input is given but its data is not known (static inference). */
static bool slice_params_unknown(const anvil__op_ctx *ctx) {
    if (ctx->opset < 10) return false;
    for (int32_t i = 1; i < ctx->n_inputs && i < 5; i++)
        if (ctx->inputs[i] && !ctx->inputs[i]->data) return true;
    return false;
}

static anvil_status slice_params_read(anvil__op_ctx *ctx, int32_t rank, slice_params *p) {
    const anvil__node *n = ctx->node;
    size_t ne, na, ns;
    bool has_axes, has_steps, present;
    anvil_status s = slice_list(ctx, "starts", 1, p->starts, &p->count, &present);
    if (s == ANVIL_OK) s = slice_list(ctx, "ends", 2, p->ends, &ne, &present);
    if (s == ANVIL_OK) s = slice_list(ctx, "axes", 3, p->axes, &na, &has_axes);
    if (s == ANVIL_OK) s = slice_list(ctx, "steps", 4, p->steps, &ns, &has_steps);
    if (s != ANVIL_OK) return s;
    if (ne != p->count || (has_axes && na != p->count) || (has_steps && ns != p->count))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "starts, ends, axes and steps must have the same length; got "
                                 "%zu, %zu, %zu, %zu",
                                 p->count, ne, has_axes ? na : p->count, has_steps ? ns : p->count);
    for (size_t i = 0; i < p->count; i++) {
        if (!has_axes) p->axes[i] = (int64_t)i;
        if (!has_steps) p->steps[i] = 1;
        if (p->steps[i] == 0)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "step %zu is 0", i);
    }
    return anvil__norm_axes(n, p->axes, p->count, rank);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* First index and element count of a slice of a dim, with the spec's clamping: negative
 * indices count from the end; starts/ends are clamped to [0, dim] for positive steps and to
 * [0, dim-1] / [-1, dim-1] for negative ones. */
static void slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                       int64_t *count) {
    uint64_t span, mag;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = clamp64(start, 0, dim);
        end = clamp64(end, 0, dim);
        span = end > start ? (uint64_t)(end - start) : 0;
        mag = (uint64_t)step;
    } else {
        start = clamp64(start, 0, dim - 1);
        end = clamp64(end, -1, dim - 1);
        span = start > end ? (uint64_t)(start - end) : 0;
        mag = (uint64_t)0 - (uint64_t)step; /* exact even for INT64_MIN */
    }
    *count = dim == 0 || span == 0 ? 0 : (int64_t)((span - 1) / mag + 1);
    *first = *count ? start : 0;
}

anvil_status anvil__op_slice_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t dims[ANVIL_MAX_RANK];
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    memcpy(dims, x->dims, sizeof dims);
    if (slice_params_unknown(ctx)) {
        const anvil__tensor *axes = ctx->n_inputs > 3 ? ctx->inputs[3] : NULL;
        int64_t known_axes[ANVIL_MAX_RANK];
        size_t na;
        bool ok = axes && axes->data &&
                  anvil__read_ints(ctx->node, axes, known_axes, ANVIL_MAX_RANK, &na) == ANVIL_OK &&
                  anvil__norm_axes(ctx->node, known_axes, na, x->rank) == ANVIL_OK;
        anvil__error_clear();
        for (int32_t d = 0; d < x->rank; d++)
            dims[d] = ok ? dims[d] : -1;
        for (size_t i = 0; ok && i < na; i++)
            dims[known_axes[i]] = -1;
        return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
    }
    slice_params p;
    anvil_status s = slice_params_read(ctx, x->rank, &p);
    if (s != ANVIL_OK) return s;
    for (size_t i = 0; i < p.count; i++) {
        int64_t a = p.axes[i], first;
        if (x->dims[a] >= 0)
            slice_axis(x->dims[a], p.starts[i], p.ends[i], p.steps[i], &first, &dims[a]);
    }
    return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
}

anvil_status anvil__op_slice_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    slice_params p;
    anvil_status s = slice_params_read(ctx, x->rank, &p);
    if (s != ANVIL_OK) return s;
    int64_t strides[ANVIL_MAX_RANK], view[ANVIL_MAX_RANK], offset = 0;
    anvil__strides(x->rank, x->dims, strides);
    memcpy(view, strides, sizeof view);
    for (size_t i = 0; i < p.count; i++) {
        int64_t a = p.axes[i], first, count;
        slice_axis(x->dims[a], p.starts[i], p.ends[i], p.steps[i], &first, &count);
        offset += first * strides[a];
        /* A dim walked more than once has |step| < dim, so the product cannot overflow. */
        view[a] = count > 1 ? p.steps[i] * strides[a] : 0;
    }
    anvil__strided_copy(y->data, x->data, anvil_dtype_size(x->dtype), y->rank, y->dims, view,
                        offset);
    return ANVIL_OK;
}

/* ---- Split ---- */

anvil_status anvil__op_split_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
    if (s != ANVIL_OK) return s;
    bool has_input = node->n_inputs > 1 && node->inputs[1] >= 0;
    if (opset < 13 && has_input)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "before opset 13 split sizes are an attribute, not an input");
    if (opset < 13) return anvil__attr_expect(node, "split", ANVIL_ATTR_INTS);
    if (opset < 18 || !anvil__node_attr(node, "num_outputs")) return ANVIL_OK;
    if ((s = anvil__attr_expect(node, "num_outputs", ANVIL_ATTR_INT)) != ANVIL_OK) return s;
    int64_t num = anvil__attr_int(node, "num_outputs", 0);
    if (has_input)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "split input and num_outputs attribute are both given");
    if (num != node->n_outputs)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "num_outputs is %lld but the node has %d outputs", (long long)num,
                                 (int)node->n_outputs);
    return ANVIL_OK;
}

/* Fills sizes[n_outputs] for an axis of length dim: given sizes (attribute or input) must
 * sum to dim; otherwise parts of ceil(dim / n) with a smaller last part. Sizes are -1 when
 * they cannot be known yet (dim or the split input unknown). */
static anvil_status split_sizes(anvil__op_ctx *ctx, int64_t dim, int64_t *sizes) {
    const anvil__node *n = ctx->node;
    int32_t nout = ctx->n_outputs;
    size_t count = 0, c;
    const int64_t *given = NULL;
    const anvil__tensor *t = ctx->opset >= 13 && ctx->n_inputs > 1 ? ctx->inputs[1] : NULL;
    if (t && !t->data) {
        for (int32_t i = 0; i < nout; i++)
            sizes[i] = -1;
        return ANVIL_OK;
    }
    if (t) {
        anvil_status s = anvil__read_ints(n, t, sizes, (size_t)nout, &count);
        if (s != ANVIL_OK) return s;
        given = sizes;
    } else if ((given = anvil__attr_ints(n, "split", &c)) != NULL) {
        if (c != (size_t)nout)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "split has %zu sizes but the node has %d outputs", c,
                                     (int)nout);
        memcpy(sizes, given, c * sizeof *sizes);
        count = c;
    }
    if (given) {
        int64_t sum = 0;
        if (count != (size_t)nout)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "split has %zu sizes but the node has %d outputs", count,
                                     (int)nout);
        for (int32_t i = 0; i < nout; i++) {
            if (sizes[i] < 0 || sizes[i] > INT64_MAX - sum)
                return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "split size %d is %lld",
                                         (int)i, (long long)sizes[i]);
            sum += sizes[i];
        }
        if (dim >= 0 && sum != dim)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "split sizes sum to %lld but the axis has %lld elements",
                                     (long long)sum, (long long)dim);
        return ANVIL_OK;
    }
    int64_t chunk = dim < 0 ? -1 : dim / nout + (dim % nout != 0);
    for (int32_t i = 0; i < nout; i++)
        sizes[i] = chunk;
    if (dim >= 0) sizes[nout - 1] = dim - chunk * (nout - 1);
    if (sizes[nout - 1] < -1 || (dim >= 0 && sizes[nout - 1] < 0))
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "an axis of %lld elements cannot be split into %d parts of %lld",
                                 (long long)dim, (int)nout, (long long)chunk);
    return ANVIL_OK;
}

/* Axis, sizes (allocated, n_outputs entries) and input for Split's infer and run. */
static anvil_status split_prepare(anvil__op_ctx *ctx, int32_t *axis, int64_t **sizes) {
    const anvil__tensor *x = ctx->inputs[0];
    *sizes = NULL;
    anvil_status s = anvil__axis(ctx->node, anvil__attr_int(ctx->node, "axis", 0), x->rank, axis);
    if (s == ANVIL_OK && x->rank == 0)
        s = anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH, "cannot split a scalar");
    if (s != ANVIL_OK) return s;
    *sizes = anvil__malloc_array((size_t)ctx->n_outputs, sizeof **sizes);
    if (!*sizes) return ANVIL_STATUS_OUT_OF_MEMORY;
    s = split_sizes(ctx, x->dims[*axis], *sizes);
    if (s != ANVIL_OK) {
        anvil__free(*sizes);
        *sizes = NULL;
    }
    return s;
}

anvil_status anvil__op_split_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = ANVIL_OK;
    if (x->rank < 0) {
        for (int32_t i = 0; i < ctx->n_outputs && s == ANVIL_OK; i++)
            s = anvil__set_output(ctx, i, x->dtype, -1, NULL);
        return s;
    }
    int32_t axis;
    int64_t *sizes, dims[ANVIL_MAX_RANK];
    if ((s = split_prepare(ctx, &axis, &sizes)) != ANVIL_OK) return s;
    memcpy(dims, x->dims, sizeof dims);
    for (int32_t i = 0; i < ctx->n_outputs && s == ANVIL_OK; i++) {
        dims[axis] = sizes[i];
        s = anvil__set_output(ctx, i, x->dtype, x->rank, dims);
    }
    anvil__free(sizes);
    return s;
}

anvil_status anvil__op_split_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int32_t axis;
    int64_t *sizes;
    anvil_status s = split_prepare(ctx, &axis, &sizes);
    if (s != ANVIL_OK) return s;
    size_t es = anvil_dtype_size(x->dtype), inner = es, outer = 1;
    for (int32_t d = axis + 1; d < x->rank; d++)
        inner *= (size_t)x->dims[d];
    for (int32_t d = 0; d < axis; d++)
        outer *= (size_t)x->dims[d];
    size_t row = (size_t)x->dims[axis] * inner, at = 0;
    for (int32_t i = 0; i < ctx->n_outputs; i++) {
        size_t chunk = (size_t)sizes[i] * inner;
        anvil__tensor *y = ctx->outputs[i];
        for (size_t o = 0; y && chunk && o < outer; o++)
            memcpy((uint8_t *)y->data + o * chunk, (const uint8_t *)x->data + o * row + at, chunk);
        at += chunk;
    }
    anvil__free(sizes);
    return ANVIL_OK;
}
