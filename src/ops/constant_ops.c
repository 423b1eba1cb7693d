/*
 * constant_ops.c — ops that make tensors from attributes and scalars rather than from input
 * data: Constant, ConstantOfShape and Range. String and sparse constants are UNSUPPORTED
 * (anvil has no string dtype).
 */
#include "ops/strided_copy.h"

#include <math.h>
#include <string.h>

/* ---- Constant ---- */

static const char *const constant_attrs[] = {"value",         "value_float", "value_floats",
                                             "value_int",     "value_ints",  "value_string",
                                             "value_strings", "sparse_value"};
static const anvil__attr_kind constant_kinds[] = {
    ANVIL_ATTR_TENSOR, ANVIL_ATTR_FLOAT,  ANVIL_ATTR_FLOATS,  ANVIL_ATTR_INT,
    ANVIL_ATTR_INTS,   ANVIL_ATTR_STRING, ANVIL_ATTR_STRINGS, ANVIL_ATTR_TENSOR};
#define CONSTANT_ATTR_COUNT 8
/* Index in constant_attrs of the first kind anvil cannot represent (strings, sparse). */
#define CONSTANT_FIRST_UNSUPPORTED 5

/* The one value attribute of a Constant node (NULL when there is none). */
static const anvil__attr *constant_attr(const anvil__node *n, int *which) {
    for (int i = 0; i < CONSTANT_ATTR_COUNT; i++) {
        const anvil__attr *a = anvil__node_attr(n, constant_attrs[i]);
        if (a) {
            *which = i;
            return a;
        }
    }
    return NULL;
}

/* Checks an attribute tensor: known dtype, rank within limits, bytes matching its shape. */
static anvil_status check_attr_tensor(const anvil__node *n, const char *name,
                                      const anvil__tensor *t) {
    char buf[ANVIL_SHAPE_STR_MAX];
    if (!anvil__dtype_valid(t->dtype))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "attribute '%s' has an unsupported dtype (%d)", name,
                                 (int)t->dtype);
    int64_t numel = anvil__tensor_numel(t);
    size_t bytes;
    if (t->rank < 0 || t->rank > ANVIL_MAX_RANK || numel < 0 ||
        !anvil__mul_size((size_t)numel, anvil_dtype_size(t->dtype), &bytes))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "attribute '%s' has an invalid shape", name);
    if (bytes != t->bytes || (bytes && !t->data))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "attribute '%s' of shape %s %s holds %zu bytes, expected %zu",
                                 name, anvil__shape_str(t->rank, t->dims, buf, sizeof buf),
                                 anvil_dtype_name(t->dtype), t->data ? t->bytes : 0, bytes);
    return ANVIL_OK;
}

anvil_status anvil__op_constant_validate(const anvil__node *node, int64_t opset) {
    int which = -1, count = 0;
    const anvil__attr *a = constant_attr(node, &which);
    for (int i = 0; i < CONSTANT_ATTR_COUNT; i++)
        count += anvil__node_attr(node, constant_attrs[i]) != NULL;
    if (count != 1)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "expected exactly one value attribute, got %d", count);
    anvil_status s = anvil__attr_expect(node, constant_attrs[which], constant_kinds[which]);
    if (s != ANVIL_OK) return s;
    if (which >= CONSTANT_FIRST_UNSUPPORTED)
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED,
                                 "attribute '%s': string and sparse constants are not "
                                 "supported",
                                 constant_attrs[which]);
    if (which == 0) return check_attr_tensor(node, "value", &a->t);
    return ANVIL_OK;
}

anvil_status anvil__op_constant_infer(anvil__op_ctx *ctx) {
    int which = -1;
    const anvil__attr *a = constant_attr(ctx->node, &which);
    if (!a || which >= CONSTANT_FIRST_UNSUPPORTED)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_GRAPH, "no value attribute");
    int64_t n = (int64_t)a->n;
    switch (which) {
    case 0:
        return anvil__set_output(ctx, 0, a->t.dtype, a->t.rank, a->t.dims);
    case 1:
        return anvil__set_output(ctx, 0, ANVIL_DTYPE_F32, 0, NULL);
    case 2:
        return anvil__set_output(ctx, 0, ANVIL_DTYPE_F32, 1, &n);
    case 3:
        return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, 0, NULL);
    default:
        return anvil__set_output(ctx, 0, ANVIL_DTYPE_I64, 1, &n);
    }
}

anvil_status anvil__op_constant_run(anvil__op_ctx *ctx) {
    int which = -1;
    const anvil__attr *a = constant_attr(ctx->node, &which);
    anvil__tensor *y = ctx->outputs[0];
    float f;
    const void *src;
    size_t bytes;
    switch (which) {
    case 0:
        src = a->t.data, bytes = a->t.bytes;
        break;
    case 1:
        f = (float)a->f, src = &f, bytes = sizeof f;
        break;
    case 2:
        src = a->floats, bytes = a->n * sizeof(float);
        break;
    case 3:
        src = &a->i, bytes = sizeof a->i;
        break;
    case 4:
        src = a->ints, bytes = a->n * sizeof(int64_t);
        break;
    default:
        return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_GRAPH, "no value attribute");
    }
    if (bytes != y->bytes)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL,
                                 "constant holds %zu bytes, output %zu", bytes, y->bytes);
    if (bytes) memcpy(y->data, src, bytes);
    return ANVIL_OK;
}

/* ---- ConstantOfShape ---- */

anvil_status anvil__op_constant_of_shape_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "value", ANVIL_ATTR_TENSOR);
    const anvil__attr *a = anvil__node_attr(node, "value");
    if (s != ANVIL_OK || !a) return s;
    if ((s = check_attr_tensor(node, "value", &a->t)) != ANVIL_OK) return s;
    if (anvil__tensor_numel(&a->t) != 1)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "attribute 'value' must hold one element, got %lld",
                                 (long long)anvil__tensor_numel(&a->t));
    return ANVIL_OK;
}

anvil_status anvil__op_constant_of_shape_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    const anvil__tensor *st = ctx->inputs[0];
    const anvil__attr *a = anvil__node_attr(n, "value");
    anvil_dtype dtype = a && a->kind == ANVIL_ATTR_TENSOR ? a->t.dtype : ANVIL_DTYPE_F32;
    int64_t dims[ANVIL_MAX_RANK];
    if (!st->data) {
        int64_t len = anvil__static_len(st);
        if (len < 0) return anvil__set_output(ctx, 0, dtype, -1, NULL);
        if (len > ANVIL_MAX_RANK)
            return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "shape has %lld entries, more than the maximum rank %d",
                                     (long long)len, ANVIL_MAX_RANK);
        for (int64_t d = 0; d < len; d++)
            dims[d] = -1;
        return anvil__set_output(ctx, 0, dtype, (int32_t)len, dims);
    }
    size_t count;
    anvil_status s = anvil__read_ints(n, st, dims, ANVIL_MAX_RANK, &count);
    if (s != ANVIL_OK) return s;
    for (size_t i = 0; i < count; i++)
        if (dims[i] < 0)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "shape entry %zu is negative (%lld)", i, (long long)dims[i]);
    return anvil__set_output(ctx, 0, dtype, (int32_t)count, dims);
}

anvil_status anvil__op_constant_of_shape_run(anvil__op_ctx *ctx) {
    const anvil__attr *a = anvil__node_attr(ctx->node, "value");
    anvil__tensor *y = ctx->outputs[0];
    size_t es = anvil_dtype_size(y->dtype);
    if (!a || a->kind != ANVIL_ATTR_TENSOR) {
        memset(y->data, 0, y->bytes); /* default value: f32 0 */
        return ANVIL_OK;
    }
    uint8_t *dst = y->data;
    for (size_t off = 0; off < y->bytes; off += es)
        memcpy(dst + off, a->t.data, es);
    return ANVIL_OK;
}

/* ---- Range ---- */

anvil_status anvil__op_range_validate(const anvil__node *node, int64_t opset) { return ANVIL_OK; }

/* Checks the three inputs: one numeric dtype, one element each. */
static anvil_status range_check(anvil__op_ctx *ctx) {
    static const char *names[3] = {"start", "limit", "delta"};
    const anvil__node *n = ctx->node;
    anvil_dtype dt = ctx->inputs[0]->dtype;
    if (dt == ANVIL_DTYPE_BOOL || !anvil__dtype_valid(dt))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "Range of dtype %s",
                                 anvil_dtype_name(dt));
    for (int i = 0; i < 3; i++) {
        const anvil__tensor *t = ctx->inputs[i];
        if (t->dtype != dt)
            return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH, "%s is %s but start is %s",
                                     names[i], anvil_dtype_name(t->dtype), anvil_dtype_name(dt));
        int64_t numel = anvil__tensor_numel(t);
        if (numel >= 0 && numel != 1)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "%s must be a scalar, got %lld elements", names[i],
                                     (long long)numel);
    }
    return ANVIL_OK;
}

/* Length of an integer range, exactly: values are two's complement views (as uint64) so that
 * differences never overflow; unsigned dtypes compare as unsigned. */
static anvil_status range_count_int(const anvil__node *n, anvil_dtype dt, const void *const *p,
                                    uint64_t *count) {
    uint64_t s = (uint64_t)anvil__load_i64(dt, p[0], 0), l = (uint64_t)anvil__load_i64(dt, p[1], 0);
    uint64_t d = (uint64_t)anvil__load_i64(dt, p[2], 0), span = 0, mag;
    if (d == 0) return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "delta is 0");
    bool is_unsigned = !anvil__dtype_is_signed(dt);
    if (is_unsigned || (int64_t)d > 0) {
        bool ahead = is_unsigned ? l > s : (int64_t)l > (int64_t)s;
        span = ahead ? l - s : 0;
        mag = d;
    } else {
        span = (int64_t)s > (int64_t)l ? s - l : 0;
        mag = (uint64_t)0 - d;
    }
    *count = span ? (span - 1) / mag + 1 : 0;
    return ANVIL_OK;
}

static anvil_status range_count(const anvil__node *n, anvil_dtype dt, const void *const *p,
                                uint64_t *count) {
    if (!anvil__dtype_is_float(dt)) return range_count_int(n, dt, p, count);
    double s = anvil__load_f64(dt, p[0], 0), l = anvil__load_f64(dt, p[1], 0);
    double d = anvil__load_f64(dt, p[2], 0);
    if (d == 0) return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "delta is 0");
    double q = ceil((l - s) / d);
    if (!isfinite(s) || !isfinite(l) || !isfinite(d) || isnan(q))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "start %g, limit %g, delta %g do not define a range", s, l, d);
    *count = q > (double)ANVIL_MAX_ALLOC ? (uint64_t)ANVIL_MAX_ALLOC + 1 : q > 0 ? (uint64_t)q : 0;
    return ANVIL_OK;
}

anvil_status anvil__op_range_infer(anvil__op_ctx *ctx) {
    anvil_status s = range_check(ctx);
    if (s != ANVIL_OK) return s;
    anvil_dtype dt = ctx->inputs[0]->dtype;
    int64_t len = -1;
    const void *p[3] = {ctx->inputs[0]->data, ctx->inputs[1]->data, ctx->inputs[2]->data};
    if (p[0] && p[1] && p[2]) {
        uint64_t count;
        if ((s = range_count(ctx->node, dt, p, &count)) != ANVIL_OK) return s;
        if (count > ANVIL_MAX_ALLOC)
            return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "range of %llu elements is too large",
                                     (unsigned long long)count);
        len = (int64_t)count;
    }
    return anvil__set_output(ctx, 0, dt, 1, &len);
}

anvil_status anvil__op_range_run(anvil__op_ctx *ctx) {
    anvil__tensor *y = ctx->outputs[0];
    anvil_dtype dt = y->dtype;
    const void *p[3] = {ctx->inputs[0]->data, ctx->inputs[1]->data, ctx->inputs[2]->data};
    int64_t len = y->dims[0];
    if (anvil__dtype_is_float(dt)) {
        double s = anvil__load_f64(dt, p[0], 0), d = anvil__load_f64(dt, p[2], 0);
        for (int64_t i = 0; i < len; i++)
            anvil__store_f64(dt, y->data, (size_t)i, s + (double)i * d);
        return ANVIL_OK;
    }
    uint64_t s = (uint64_t)anvil__load_i64(dt, p[0], 0), d = (uint64_t)anvil__load_i64(dt, p[2], 0);
    for (int64_t i = 0; i < len; i++)
        anvil__store_i64(dt, y->data, (size_t)i, (int64_t)(s + (uint64_t)i * d));
    return ANVIL_OK;
}
