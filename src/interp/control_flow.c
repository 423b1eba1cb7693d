/*
 * control_flow.c — the If op: both branches are subgraphs that may read values of the
 * enclosing graphs by name. Its outputs' shapes can only be known by running a branch, so the
 * op allocates its own outputs (ANVIL_OP_SELF_ALLOC) through the interpreter's run_subgraph.
 */
#include "ops/op.h"

anvil_status anvil__op_if_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_require(node, "then_branch", ANVIL_ATTR_GRAPH);
    if (s == ANVIL_OK) s = anvil__attr_require(node, "else_branch", ANVIL_ATTR_GRAPH);
    if (s != ANVIL_OK) return s;
    const anvil__graph *t = anvil__node_attr(node, "then_branch")->g;
    const anvil__graph *e = anvil__node_attr(node, "else_branch")->g;
    if (t->n_outputs != node->n_outputs || e->n_outputs != node->n_outputs)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "branches have %d and %d outputs, the node has %d",
                                 (int)t->n_outputs, (int)e->n_outputs, (int)node->n_outputs);
    return ANVIL_OK;
}

/* Static inference: the dtype of each output is the branches' (they must agree); a dim is
 * known only where both branches declare the same size. */
anvil_status anvil__op_if_infer(anvil__op_ctx *ctx) {
    const anvil__graph *t = anvil__node_attr(ctx->node, "then_branch")->g;
    const anvil__graph *e = anvil__node_attr(ctx->node, "else_branch")->g;
    for (int32_t o = 0; o < ctx->n_outputs; o++) {
        const anvil__value *a = &t->values[t->outputs[o]], *b = &e->values[e->outputs[o]];
        if (a->dtype != b->dtype && a->dtype && b->dtype)
            return anvil__node_error(ctx->node, ANVIL_STATUS_DTYPE_MISMATCH,
                                     "output %d is %s in then_branch and %s in else_branch",
                                     (int)o, anvil_dtype_name(a->dtype),
                                     anvil_dtype_name(b->dtype));
        int64_t dims[ANVIL_MAX_RANK];
        int32_t rank = a->rank == b->rank ? a->rank : -1;
        for (int32_t d = 0; d < rank; d++) dims[d] = a->dims[d] == b->dims[d] ? a->dims[d] : -1;
        anvil_status s = anvil__set_output(ctx, o, a->dtype ? a->dtype : b->dtype, rank, dims);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

anvil_status anvil__op_if_run(anvil__op_ctx *ctx) {
    const anvil__tensor *cond = ctx->inputs[0];
    if (anvil__tensor_numel(cond) != 1)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "condition must hold one element, got %lld",
                                 (long long)anvil__tensor_numel(cond));
    if (!ctx->run_subgraph)
        return anvil__node_error(ctx->node, ANVIL_STATUS_INTERNAL, "no subgraph runner");
    bool taken = anvil__load_f64(cond->dtype, cond->data, 0) != 0;
    const anvil__graph *branch =
        anvil__node_attr(ctx->node, taken ? "then_branch" : "else_branch")->g;
    anvil_status s = ctx->run_subgraph(ctx->interp, branch, ctx->outputs, ctx->n_outputs);
    if (s != ANVIL_OK)
        return anvil__error_prefix(s, "node '%s' (If), %s branch", ctx->node->name,
                                   taken ? "then" : "else");
    return ANVIL_OK;
}
