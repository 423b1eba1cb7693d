/*
 * pack_op.c — the weight graph's Pack op (domain "anvil"): reorders a plain weight into the
 * layout a kernel wants, through the backend that chose it. Recording packing as an op of the
 * weight graph is what lets a refit replay it exactly. Attributes: `backend` (int, an
 * anvil_backend) and `layout` (string holding the anvil__layout's blob bytes) plus `kind`
 * and `bytes` (ints).
 */
#include "backend/backend.h"

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

anvil_status anvil__op_pack_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_require(node, "backend", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "layout", ANVIL_ATTR_STRING);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "bytes", ANVIL_ATTR_INT);
    anvil__layout l;
    return s == ANVIL_OK ? read_layout(node, &l) : s;
}

anvil_status anvil__op_pack_infer(anvil__op_ctx *ctx) {
    anvil__layout l;
    anvil_status s = read_layout(ctx->node, &l);
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
    from.bytes = ctx->inputs[0]->bytes;
    return be->reorder(be->ctx, ctx->inputs[0], &from, ctx->inputs[0]->data, &to,
                       ctx->outputs[0]->data);
}
