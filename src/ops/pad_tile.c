/*
 * pad_tile.c — ops that grow a tensor from its own elements: Pad (constant, reflect, edge and
 * wrap modes; negative pads crop; pads as attribute before opset 11 and as input from 11,
 * axes input from 18) and Tile. Elements are copied as bytes, so every dtype works.
 */
#include "ops/strided_copy.h"

#include <string.h>

/* ---- Tile ---- */

anvil_status anvil__op_tile_validate(const anvil__node *node, int64_t opset) { return ANVIL_OK; }

static anvil_status tile_repeats(anvil__op_ctx *ctx, int64_t *reps) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    size_t count;
    anvil_status s = anvil__read_ints(n, ctx->inputs[1], reps, ANVIL_MAX_RANK, &count);
    if (s != ANVIL_OK) return s;
    if (count != (size_t)x->rank)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "repeats has %zu entries but the input has rank %d", count,
                                 (int)x->rank);
    for (size_t i = 0; i < count; i++)
        if (reps[i] < 0)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "repeats entry %zu is negative (%lld)", i, (long long)reps[i]);
    return ANVIL_OK;
}

anvil_status anvil__op_tile_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t reps[ANVIL_MAX_RANK], dims[ANVIL_MAX_RANK];
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    bool known = ctx->inputs[1]->data != NULL;
    if (known) {
        anvil_status s = tile_repeats(ctx, reps);
        if (s != ANVIL_OK) return s;
    }
    for (int32_t d = 0; d < x->rank; d++) {
        dims[d] = -1;
        if (known && x->dims[d] >= 0 && !anvil__mul_i64(x->dims[d], reps[d], &dims[d]))
            return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "dim %d: %lld repeated %lld times overflows", (int)d,
                                     (long long)x->dims[d], (long long)reps[d]);
    }
    return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
}

/* The output is viewed as (rep0, dim0, rep1, dim1, ...) with stride 0 along the repeats. */
anvil_status anvil__op_tile_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t reps[ANVIL_MAX_RANK], strides[ANVIL_MAX_RANK];
    int64_t vdims[ANVIL_VIEW_MAX_RANK], vstrides[ANVIL_VIEW_MAX_RANK];
    anvil_status s = tile_repeats(ctx, reps);
    if (s != ANVIL_OK) return s;
    anvil__strides(x->rank, x->dims, strides);
    for (int32_t d = 0; d < x->rank; d++) {
        vdims[2 * d] = reps[d];
        vstrides[2 * d] = 0;
        vdims[2 * d + 1] = x->dims[d];
        vstrides[2 * d + 1] = strides[d];
    }
    anvil__strided_copy(y->data, x->data, anvil_dtype_size(x->dtype), 2 * x->rank, vdims, vstrides,
                        0);
    return ANVIL_OK;
}

/* ---- Pad ---- */

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

/* Pads beyond this are rejected so that index arithmetic can never overflow. */
#define PAD_LIMIT ((int64_t)1 << 52)

static int pad_mode_of(const char *s) {
    static const char *names[] = {"constant", "reflect", "edge", "wrap"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

anvil_status anvil__op_pad_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "mode", ANVIL_ATTR_STRING);
    if (s != ANVIL_OK) return s;
    const char *mode = anvil__attr_string(node, "mode", "constant");
    if (pad_mode_of(mode) < 0)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "mode must be constant, reflect, edge or wrap; got '%s'", mode);
    if (opset >= 11) {
        if (node->n_inputs < 2 || node->inputs[1] < 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "from opset 11 the pads input is required");
        return ANVIL_OK;
    }
    if (node->n_inputs > 1)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "before opset 11 Pad takes one input, got %d",
                                 (int)node->n_inputs);
    s = anvil__attr_require(node, opset < 2 ? "paddings" : "pads", ANVIL_ATTR_INTS);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "value", ANVIL_ATTR_FLOAT);
    return s;
}

/* True when the pads (or axes) input is given but its data is not known (static inference). */
static bool pad_params_unknown(const anvil__op_ctx *ctx) {
    if (ctx->opset < 11) return false;
    if (!ctx->inputs[1]->data) return true;
    return ctx->n_inputs > 3 && ctx->inputs[3] && !ctx->inputs[3]->data;
}

/* Reads the begin/end pads of every axis of a rank-`rank` input (0 for axes not listed). */
static anvil_status pad_amounts(anvil__op_ctx *ctx, int32_t rank, int64_t *begin, int64_t *end) {
    const anvil__node *n = ctx->node;
    int64_t pads[2 * ANVIL_MAX_RANK], axes[ANVIL_MAX_RANK];
    size_t np, na = (size_t)rank;
    anvil_status s = ANVIL_OK;
    if (ctx->opset < 11) {
        const int64_t *a = anvil__attr_ints(n, ctx->opset < 2 ? "paddings" : "pads", &np);
        if (a && np <= 2 * ANVIL_MAX_RANK) memcpy(pads, a, np * sizeof *pads);
    } else {
        s = anvil__read_ints(n, ctx->inputs[1], pads, 2 * ANVIL_MAX_RANK, &np);
    }
    const anvil__tensor *at = ctx->opset >= 18 && ctx->n_inputs > 3 ? ctx->inputs[3] : NULL;
    if (s == ANVIL_OK && at) s = anvil__read_ints(n, at, axes, ANVIL_MAX_RANK, &na);
    if (s == ANVIL_OK && at) s = anvil__norm_axes(n, axes, na, rank);
    if (s != ANVIL_OK) return s;
    if (np != 2 * na)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "pads has %zu entries; expected %zu (2 x %zu axes)", np, 2 * na,
                                 na);
    for (int32_t d = 0; d < rank; d++)
        begin[d] = end[d] = 0;
    for (size_t i = 0; i < na; i++) {
        int64_t a = at ? axes[i] : (int64_t)i;
        begin[a] = pads[i];
        end[a] = pads[i + na];
        if (begin[a] < -PAD_LIMIT || begin[a] > PAD_LIMIT || end[a] < -PAD_LIMIT ||
            end[a] > PAD_LIMIT)
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "pads %lld, %lld of axis %lld are too large",
                                     (long long)begin[a], (long long)end[a], (long long)a);
    }
    return ANVIL_OK;
}

static pad_mode pad_mode_get(const anvil__node *n) {
    return (pad_mode)pad_mode_of(anvil__attr_string(n, "mode", "constant"));
}

/* Output dims of Pad; -1 where the input dim is unknown. */
static anvil_status pad_dims(anvil__op_ctx *ctx, const int64_t *begin, const int64_t *end,
                             int64_t *dims) {
    const anvil__tensor *x = ctx->inputs[0];
    pad_mode mode = pad_mode_get(ctx->node);
    for (int32_t d = 0; d < x->rank; d++) {
        int64_t in = x->dims[d];
        dims[d] = -1;
        if (in < 0) continue;
        if (in > INT64_MAX - 2 * PAD_LIMIT)
            return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED, "dim %d is too large",
                                     (int)d);
        dims[d] = in + begin[d] + end[d];
        if (dims[d] < 0)
            return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "axis %d of size %lld with pads %lld, %lld gives size %lld",
                                     (int)d, (long long)in, (long long)begin[d], (long long)end[d],
                                     (long long)dims[d]);
        if (mode != PAD_CONSTANT && in == 0 && dims[d] > 0)
            return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "axis %d is empty and cannot be padded in this mode", (int)d);
    }
    return ANVIL_OK;
}

anvil_status anvil__op_pad_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    int64_t begin[ANVIL_MAX_RANK], end[ANVIL_MAX_RANK], dims[ANVIL_MAX_RANK];
    if (x->rank < 0) return anvil__set_output(ctx, 0, x->dtype, -1, NULL);
    if (pad_params_unknown(ctx)) {
        for (int32_t d = 0; d < x->rank; d++)
            dims[d] = -1;
        return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
    }
    anvil_status s = pad_amounts(ctx, x->rank, begin, end);
    if (s == ANVIL_OK) s = pad_dims(ctx, begin, end, dims);
    if (s != ANVIL_OK) return s;
    return anvil__set_output(ctx, 0, x->dtype, x->rank, dims);
}

/* The constant's bytes in the input's dtype: `value` attribute before opset 11, the optional
 * constant_value input from 11 (same dtype as the data), else zero. */
static anvil_status pad_constant(anvil__op_ctx *ctx, uint8_t *value) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *x = ctx->inputs[0];
    memset(value, 0, 16);
    if (ctx->opset < 11) {
        anvil__store_f64(x->dtype, value, 0, anvil__attr_float(n, "value", 0.0));
        return ANVIL_OK;
    }
    const anvil__tensor *c = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (!c) return ANVIL_OK;
    if (c->dtype != x->dtype)
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "constant_value is %s but the data is %s",
                                 anvil_dtype_name(c->dtype), anvil_dtype_name(x->dtype));
    int64_t count = anvil__tensor_numel(c);
    if (count > 1)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "constant_value must hold one value, got %lld", (long long)count);
    if (count == 1) memcpy(value, c->data, anvil_dtype_size(x->dtype));
    return ANVIL_OK;
}

/* Input index feeding output index o of an axis of size `in` padded by `begin` in front;
 * -1 when it is the constant. */
static int64_t pad_source(pad_mode mode, int64_t o, int64_t in, int64_t begin) {
    int64_t x = o - begin;
    if (x >= 0 && x < in) return x;
    switch (mode) {
    case PAD_EDGE:
        return x < 0 ? 0 : in - 1;
    case PAD_WRAP:
        return ((x % in) + in) % in;
    case PAD_REFLECT: {
        if (in == 1) return 0;
        int64_t period = 2 * (in - 1), m = ((x % period) + period) % period;
        return m < in ? m : period - m;
    }
    default:
        return -1;
    }
}

typedef struct pad_job {
    int32_t rank;
    size_t es;
    const int64_t *dims;
    int64_t *map[ANVIL_MAX_RANK]; /* per axis: output index -> input index or -1 */
    int64_t strides[ANVIL_MAX_RANK];
    uint8_t value[16];
} pad_job;

/* Writes one output row (the last axis) whose outer coordinates start at input element
 * `base`, or the constant everywhere when base < 0. */
static uint8_t *pad_row(const pad_job *j, uint8_t *dst, const uint8_t *src, int64_t base) {
    int32_t last = j->rank - 1;
    for (int64_t o = 0; o < j->dims[last]; o++, dst += j->es) {
        int64_t i = base < 0 ? -1 : j->map[last][o];
        memcpy(dst, i < 0 ? j->value : src + (size_t)(base + i) * j->es, j->es);
    }
    return dst;
}

static void pad_copy(const pad_job *j, uint8_t *dst, const uint8_t *src) {
    int64_t coord[ANVIL_MAX_RANK] = {0};
    if (j->rank == 0) {
        memcpy(dst, src, j->es);
        return;
    }
    for (int32_t d = 0; d < j->rank; d++)
        if (j->dims[d] == 0) return;
    for (;;) {
        int64_t base = 0;
        for (int32_t d = 0; d < j->rank - 1 && base >= 0; d++) {
            int64_t i = j->map[d][coord[d]];
            base = i < 0 ? -1 : base + i * j->strides[d];
        }
        dst = pad_row(j, dst, src, base);
        int32_t d = j->rank - 2;
        for (; d >= 0; d--) {
            if (++coord[d] < j->dims[d]) break;
            coord[d] = 0;
        }
        if (d < 0) return;
    }
}

anvil_status anvil__op_pad_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t begin[ANVIL_MAX_RANK], end[ANVIL_MAX_RANK], dims[ANVIL_MAX_RANK];
    pad_job j = {.rank = x->rank, .es = anvil_dtype_size(x->dtype), .dims = y->dims};
    anvil_status s = pad_amounts(ctx, x->rank, begin, end);
    if (s == ANVIL_OK) s = pad_dims(ctx, begin, end, dims); /* re-checks modes vs. empty axes */
    if (s == ANVIL_OK) s = pad_constant(ctx, j.value);
    if (s != ANVIL_OK) return s;
    size_t total = 0;
    for (int32_t d = 0; d < x->rank; d++)
        total += (size_t)y->dims[d];
    int64_t *maps = anvil__malloc_array(total ? total : 1, sizeof *maps);
    if (!maps) return ANVIL_STATUS_OUT_OF_MEMORY;
    pad_mode mode = pad_mode_get(ctx->node);
    anvil__strides(x->rank, x->dims, j.strides);
    int64_t *m = maps;
    for (int32_t d = 0; d < x->rank; d++) {
        j.map[d] = m;
        for (int64_t o = 0; o < y->dims[d]; o++)
            m[o] = pad_source(mode, o, x->dims[d], begin[d]);
        m += y->dims[d];
    }
    pad_copy(&j, y->data, x->data);
    anvil__free(maps);
    return ANVIL_OK;
}
