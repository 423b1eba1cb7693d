/*
 * pack_op.c — the weight graph's Pack op (domain "anvil"): reorders a plain weight into the
 * layout a kernel wants, through the backend that chose it. Recording packing as an op of the
 * weight graph is what lets a refit replay it exactly. Attributes: `backend` (int, an
 * anvil_backend) and `layout` (string holding the anvil__layout's blob bytes) plus `kind`
 * and `bytes` (ints).
 */
#include "engine/engine_internal.h"
#include "ops/strided_copy.h"

#include <string.h>

static anvil_status read_layout(const anvil__node *n, anvil__layout *l) {
    const anvil__attr *blob = anvil__node_attr(n, "layout");
    memset(l, 0, sizeof *l);
    l->kind = (int32_t)anvil__attr_int(n, "kind", 0);
    int64_t bytes = anvil__attr_int(n, "bytes", -1);
    if (!blob || blob->kind != ANVIL_ATTR_STRING || blob->s_len > ANVIL_LAYOUT_BLOB_MAX ||
        bytes < 0 || (uint64_t)bytes > ANVIL_MAX_ALLOC)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "bad packed layout");
    memcpy(l->blob, blob->s, blob->s_len);
    l->size = (uint32_t)blob->s_len;
    l->bytes = (size_t)bytes;
    return ANVIL_OK;
}

anvil_status anvil__pack_scaled(const anvil__backend *be, const anvil__tensor *w,
                                const float *scale, const anvil__layout *to, void *dst) {
    anvil__tensor_view v = {w->data, w->bytes, {0}, (float *)scale};
    anvil__strides(w->rank, w->dims, v.strides);
    return anvil__pack_view_or_copy(be, w, &v, to, dst);
}

anvil_status anvil__pack_node_layout(const anvil__node *n, anvil__layout *out) {
    return read_layout(n, out);
}

anvil_status anvil__pack_dense_copy(const anvil__backend *be, const anvil__tensor *shape,
                                    const anvil__tensor_view *v, const anvil__layout *to,
                                    void *dst) {
    anvil__tensor dense = *shape;
    dense.data = anvil__malloc(shape->bytes ? shape->bytes : 1);
    if (!dense.data) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__strided_copy(dense.data, v->base, anvil_dtype_size(shape->dtype), shape->rank,
                        shape->dims, v->strides, 0);
    if (v->scale && shape->dtype == ANVIL_DTYPE_F32 && shape->rank >= 1) {
        size_t n = (size_t)anvil__tensor_numel(shape), rows = (size_t)shape->dims[0];
        size_t inner = rows ? n / rows : 0;
        float *y = dense.data;
        for (size_t r = 0; r < rows; r++)
            for (size_t k = r * inner; k < (r + 1) * inner; k++) y[k] = y[k] * v->scale[r];
    }
    anvil__layout from = {0};
    from.bytes = shape->bytes;
    anvil_status s = be->reorder(be->ctx, &dense, &from, dense.data, to, dst);
    anvil__free(dense.data);
    return s;
}

anvil_status anvil__pack_view_or_copy(const anvil__backend *be, const anvil__tensor *shape,
                                      const anvil__tensor_view *v, const anvil__layout *to,
                                      void *dst) {
    anvil_status s = be->pack_view ? be->pack_view(be->ctx, shape, v->strides, v->base, v->scale,
                                                   to, dst)
                                   : ANVIL_STATUS_UNSUPPORTED;
    return s == ANVIL_STATUS_UNSUPPORTED ? anvil__pack_dense_copy(be, shape, v, to, dst) : s;
}

anvil_status anvil__op_pack_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_require(node, "backend", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "layout", ANVIL_ATTR_STRING);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "bytes", ANVIL_ATTR_INT);
    anvil__layout l;
    return s == ANVIL_OK ? read_layout(node, &l) : s;
}

bool anvil__pack_scale_fits(anvil_dtype dtype, int32_t rank, const int64_t *dims,
                            const anvil__tensor *w) {
    bool ok = dtype == ANVIL_DTYPE_F32 && w->dtype == ANVIL_DTYPE_F32 && w->rank >= 1 &&
              rank == w->rank && dims[0] == w->dims[0] && w->dims[0] >= 0;
    for (int32_t d = 1; ok && d < rank; d++) ok = dims[d] == 1;
    return ok;
}

/* The scale input, when present: f32 [C, 1, ...] for the f32 weight of dim 0 C. */
static anvil_status check_scale(const anvil__op_ctx *ctx) {
    const anvil__tensor *w = ctx->inputs[0], *sc = ctx->n_inputs > 1 ? ctx->inputs[1] : NULL;
    if (!sc || w->rank < 0 || sc->rank < 0) return ANVIL_OK; /* not known yet */
    if (!anvil__pack_scale_fits(sc->dtype, sc->rank, sc->dims, w))
        return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_GRAPH,
                                 "a scaled Pack needs an f32 weight of rank >= 1 and f32 scales "
                                 "of shape [C, 1, ...] (C: the weight's dim 0) of its rank");
    return ANVIL_OK;
}

/* The layout must describe the input (engine files are untrusted: a Pack whose byte count
 * disagrees with its layout would have the interpreter allocate that count). */
static anvil_status check_layout(const anvil__op_ctx *ctx, const anvil__layout *l) {
    const anvil__tensor *w = ctx->inputs[0];
    if (w->rank < 0 || anvil__tensor_numel(w) < 0) return ANVIL_OK; /* not known yet */
    const anvil__backend *be = NULL;
    anvil_status s = anvil__backend_get((anvil_backend)anvil__attr_int(ctx->node, "backend", 0), &be);
    if (s == ANVIL_OK && be->check_layout) s = be->check_layout(be->ctx, w, l);
    return s == ANVIL_OK ? s : anvil__node_error(ctx->node, s, "%s", anvil_last_error());
}

anvil_status anvil__op_pack_infer(anvil__op_ctx *ctx) {
    anvil__layout l;
    anvil_status s = read_layout(ctx->node, &l);
    if (s == ANVIL_OK) s = check_layout(ctx, &l);
    if (s == ANVIL_OK) s = check_scale(ctx);
    if (s == ANVIL_OK) s = anvil__same_as_input(ctx, 0, 0);
    if (s == ANVIL_OK && ctx->outputs[0] && ctx->outputs[0]->rank >= 0) ctx->outputs[0]->bytes = l.bytes;
    return s;
}

anvil_status anvil__op_pack_run(anvil__op_ctx *ctx) {
    anvil__layout to, from = {0};
    anvil_status s = read_layout(ctx->node, &to);
    if (s != ANVIL_OK) return s;
    const anvil__backend *be = NULL;
    s = anvil__backend_get((anvil_backend)anvil__attr_int(ctx->node, "backend", 0), &be);
    if (s != ANVIL_OK) return s;
    const anvil__tensor *w = ctx->inputs[0];
    from.bytes = w->bytes;
    if (ctx->n_inputs < 2 || !ctx->inputs[1])
        return be->reorder(be->ctx, w, &from, w->data, &to, ctx->outputs[0]->data);
    if ((s = check_scale(ctx)) != ANVIL_OK) return s;
    return anvil__pack_scaled(be, w, ctx->inputs[1]->data, &to, ctx->outputs[0]->data);
}
