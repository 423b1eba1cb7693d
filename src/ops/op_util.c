/*
 * op_util.c — helpers shared by op implementations: errors naming the node, attribute access,
 * axes, broadcasting, reading small integer inputs, setting output shapes.
 */
#include "ops/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

anvil_status anvil__node_error(const anvil__node *node, anvil_status status, const char *fmt,
                               ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return anvil__error(status, "node '%s' (%s): %s", node->name, node->op_type, msg);
}

int64_t anvil__attr_int(const anvil__node *n, const char *name, int64_t def) {
    const anvil__attr *a = anvil__node_attr(n, name);
    return a && a->kind == ANVIL_ATTR_INT ? a->i : def;
}

double anvil__attr_float(const anvil__node *n, const char *name, double def) {
    const anvil__attr *a = anvil__node_attr(n, name);
    if (a && a->kind == ANVIL_ATTR_FLOAT) return a->f;
    if (a && a->kind == ANVIL_ATTR_INT) return (double)a->i;
    return def;
}

const char *anvil__attr_string(const anvil__node *n, const char *name, const char *def) {
    const anvil__attr *a = anvil__node_attr(n, name);
    return a && a->kind == ANVIL_ATTR_STRING ? a->s : def;
}

const int64_t *anvil__attr_ints(const anvil__node *n, const char *name, size_t *count) {
    const anvil__attr *a = anvil__node_attr(n, name);
    if (a && a->kind == ANVIL_ATTR_INTS) {
        *count = a->n;
        return a->ints;
    }
    *count = 0;
    return NULL;
}

const float *anvil__attr_floats(const anvil__node *n, const char *name, size_t *count) {
    const anvil__attr *a = anvil__node_attr(n, name);
    if (a && a->kind == ANVIL_ATTR_FLOATS) {
        *count = a->n;
        return a->floats;
    }
    *count = 0;
    return NULL;
}

static const char *kind_name(anvil__attr_kind k) {
    static const char *names[] = {"undefined", "float", "int",    "string", "tensor",
                                  "graph",     "floats", "ints", "strings"};
    return (unsigned)k < ANVIL_ATTR_KIND_COUNT ? names[k] : "unknown";
}

anvil_status anvil__attr_expect(const anvil__node *n, const char *name, anvil__attr_kind kind) {
    const anvil__attr *a = anvil__node_attr(n, name);
    if (!a || a->kind == kind) return ANVIL_OK;
    /* An int where a float is expected is harmless and some exporters write it. */
    if (kind == ANVIL_ATTR_FLOAT && a->kind == ANVIL_ATTR_INT) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                             "attribute '%s' must be %s, got %s", name, kind_name(kind),
                             kind_name(a->kind));
}

anvil_status anvil__attr_require(const anvil__node *n, const char *name, anvil__attr_kind kind) {
    if (!anvil__node_attr(n, name))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "missing required attribute '%s'", name);
    return anvil__attr_expect(n, name, kind);
}

anvil_status anvil__axis(const anvil__node *n, int64_t axis, int32_t rank, int32_t *out) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank > 0 ? rank : 1) || (rank == 0 && axis != 0 && axis != -1))
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                 "axis %lld is out of range for rank %d", (long long)axis,
                                 (int)rank);
    *out = (int32_t)a;
    return ANVIL_OK;
}

anvil_status anvil__broadcast(const anvil__node *n, const anvil__tensor *const *ts, int32_t count,
                              int32_t *out_rank, int64_t *out_dims) {
    int32_t rank = 0;
    for (int32_t i = 0; i < count; i++) {
        if (!ts[i]) continue;
        if (ts[i]->rank < 0) {
            *out_rank = -1;
            return ANVIL_OK;
        }
        if (ts[i]->rank > rank) rank = ts[i]->rank;
    }
    for (int32_t d = 0; d < rank; d++) out_dims[d] = 1;
    for (int32_t i = 0; i < count; i++) {
        const anvil__tensor *t = ts[i];
        if (!t) continue;
        for (int32_t d = 0; d < t->rank; d++) {
            int64_t *o = &out_dims[rank - t->rank + d];
            int64_t v = t->dims[d];
            if (v == 1) continue;
            if (*o == 1) {
                *o = v;
            } else if (v < 0 || *o < 0) {
                if (v > 1) *o = v; /* a known dim > 1 decides; an unknown stays unknown */
            } else if (v != *o) {
                char a[ANVIL_SHAPE_STR_MAX], b[ANVIL_SHAPE_STR_MAX];
                return anvil__node_error(
                    n, ANVIL_STATUS_SHAPE_MISMATCH, "cannot broadcast shapes %s and %s",
                    anvil__shape_str(ts[0] ? ts[0]->rank : 0, ts[0] ? ts[0]->dims : NULL, a,
                                     sizeof a),
                    anvil__shape_str(t->rank, t->dims, b, sizeof b));
            }
        }
    }
    *out_rank = rank;
    return ANVIL_OK;
}

size_t anvil__broadcast_index(size_t i, int32_t rank, const int64_t *dims, int32_t in_rank,
                              const int64_t *in_dims) {
    size_t in_index = 0, in_stride = 1;
    for (int32_t d = rank - 1; d >= 0; d--) {
        size_t coord = (size_t)(i % (size_t)dims[d]);
        i /= (size_t)dims[d];
        int32_t id = d - (rank - in_rank);
        if (id < 0) break;
        if (in_dims[id] != 1) in_index += coord * in_stride;
        in_stride *= (size_t)in_dims[id];
    }
    return in_index;
}

anvil_status anvil__read_ints(const anvil__node *n, const anvil__tensor *t, int64_t *out,
                              size_t cap, size_t *count) {
    if (!t->data)
        return anvil__node_error(n, ANVIL_STATUS_INTERNAL, "integer input is not known");
    if (t->dtype != ANVIL_DTYPE_I64 && t->dtype != ANVIL_DTYPE_I32)
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "expected an i64 or i32 tensor, got %s",
                                 anvil_dtype_name(t->dtype));
    if (t->rank > 1)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected a 0-D or 1-D tensor, got rank %d", (int)t->rank);
    int64_t numel = anvil__tensor_numel(t);
    if (numel < 0 || (size_t)numel > cap)
        return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "expected at most %zu values, got %lld", cap, (long long)numel);
    for (int64_t i = 0; i < numel; i++) out[i] = anvil__load_i64(t->dtype, t->data, (size_t)i);
    *count = (size_t)numel;
    return ANVIL_OK;
}

anvil_status anvil__read_scalar(const anvil__node *n, const anvil__tensor *t, double *out) {
    if (!t->data)
        return anvil__node_error(n, ANVIL_STATUS_INTERNAL, "scalar input is not known");
    if (anvil__tensor_numel(t) != 1)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "expected a single value, got %lld elements",
                                 (long long)anvil__tensor_numel(t));
    *out = anvil__load_f64(t->dtype, t->data, 0);
    return ANVIL_OK;
}

anvil_status anvil__set_output(anvil__op_ctx *ctx, int32_t i, anvil_dtype dtype, int32_t rank,
                               const int64_t *dims) {
    if (i >= ctx->n_outputs || !ctx->outputs[i]) return ANVIL_OK; /* omitted optional output */
    anvil__tensor *t = ctx->outputs[i];
    if (rank > ANVIL_MAX_RANK)
        return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "output rank %d is over the maximum of %d", (int)rank,
                                 ANVIL_MAX_RANK);
    t->dtype = dtype;
    t->rank = rank;
    t->bytes = 0;
    bool known = rank >= 0;
    for (int32_t d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        if (dims[d] < 0) known = false;
    }
    if (!known) return ANVIL_OK;
    int64_t numel = anvil_shape_numel(rank, dims);
    size_t bytes;
    if (numel < 0 || !anvil__mul_size((size_t)numel, anvil_dtype_size(dtype), &bytes) ||
        bytes > ANVIL_MAX_ALLOC) {
        char buf[ANVIL_SHAPE_STR_MAX];
        return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "output %d of shape %s is too large", (int)i,
                                 anvil__shape_str(rank, dims, buf, sizeof buf));
    }
    t->bytes = bytes;
    return ANVIL_OK;
}

anvil_status anvil__same_as_input(anvil__op_ctx *ctx, int32_t i, int32_t j) {
    const anvil__tensor *in = ctx->inputs[j];
    return anvil__set_output(ctx, i, in->dtype, in->rank, in->dims);
}

void anvil__strides(int32_t rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int32_t d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

anvil_status anvil__reject_narrow(const anvil__op_ctx *ctx) {
    for (int32_t i = 0; i < ctx->n_inputs; i++)
        if (ctx->inputs[i] && anvil__dtype_is_narrow(ctx->inputs[i]->dtype))
            return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                     "input %d has dtype %s, which this op does not take (Cast "
                                     "it first)",
                                     (int)i, anvil_dtype_name(ctx->inputs[i]->dtype));
    return ANVIL_OK;
}
