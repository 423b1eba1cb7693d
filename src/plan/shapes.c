/*
 * shapes.c — concrete shape inference for planning: every run-graph value gets its dtype and
 * shape for given input shapes. Small integer tensors (Shape → Gather → Concat chains that
 * compute Reshape targets) are evaluated on the way, so exported models with shape arithmetic
 * plan like static ones. Shapes that depend on tensor data (NonZero) cannot be planned.
 */
#include "plan/plan.h"

#include <string.h>

/* Largest tensor evaluated during planning: shape arithmetic is tiny; anything bigger is real
 * data and runs in the plan. */
#define SHAPE_EVAL_MAX_BYTES 4096

static bool small_int(const anvil__tensor *t) {
    return (t->dtype == ANVIL_DTYPE_I64 || t->dtype == ANVIL_DTYPE_I32) &&
           t->bytes <= SHAPE_EVAL_MAX_BYTES;
}

/* Evaluates node outputs when every input is known (or the op reads only shapes). */
static anvil_status maybe_evaluate(const anvil__op_def *def, anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    bool shape_only = n->op == ANVIL_OP_Shape || n->op == ANVIL_OP_Size;
    if (def->flags & (ANVIL_OP_F32_COMPUTE | ANVIL_OP_SELF_ALLOC)) return ANVIL_OK;
    for (int32_t i = 0; i < ctx->n_inputs && !shape_only; i++)
        if (ctx->inputs[i] && !ctx->inputs[i]->data) return ANVIL_OK;
    for (int32_t o = 0; o < ctx->n_outputs; o++)
        if (ctx->outputs[o] && !small_int(ctx->outputs[o])) return ANVIL_OK;
    for (int32_t o = 0; o < ctx->n_outputs; o++) {
        if (!ctx->outputs[o]) continue;
        anvil_status s = anvil__tensor_alloc(ctx->outputs[o]);
        if (s != ANVIL_OK) return s;
    }
    anvil_status s = def->run(ctx);
    if (s != ANVIL_OK)
        for (int32_t o = 0; o < ctx->n_outputs; o++)
            if (ctx->outputs[o]) {
                anvil__free(ctx->outputs[o]->data);
                ctx->outputs[o]->data = NULL;
            }
    return s;
}

static anvil_status infer_node(const anvil__graph *run, int32_t ni, anvil__tensor *shapes) {
    const anvil__node *n = &run->nodes[ni];
    const anvil__op_def *def = anvil__op_get(n->op);
    if (!def || (def->flags & ANVIL_OP_SELF_ALLOC))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "the engine cannot run this op (use the reference interpreter)");
    anvil__tensor *ins[64], *outs[64];
    if (n->n_inputs > 64 || n->n_outputs > 64)
        return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED, "more than 64 inputs/outputs");
    for (int32_t i = 0; i < n->n_inputs; i++)
        ins[i] = n->inputs[i] >= 0 ? &shapes[n->inputs[i]] : NULL;
    for (int32_t o = 0; o < n->n_outputs; o++)
        outs[o] = n->outputs[o] >= 0 ? &shapes[n->outputs[o]] : NULL;
    /* Post-op operands (residual Add) are extra inputs the op itself does not know about. */
    int32_t own_inputs = n->n_inputs;
    for (int32_t p = 0; p < n->n_post; p++)
        if (n->post[p].input >= 0 && n->post[p].input < own_inputs) own_inputs = n->post[p].input;
    anvil__op_ctx ctx = {n, run->opset, own_inputs, ins, n->n_outputs, outs, NULL, NULL};
    anvil_status s = def->infer(&ctx);
    if (s != ANVIL_OK) return s;
    for (int32_t o = 0; o < n->n_outputs; o++) {
        if (!outs[o]) continue;
        if (anvil_shape_numel(outs[o]->rank, outs[o]->dims) < 0)
            return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                     "output '%s' has a shape that depends on tensor data; the "
                                     "engine needs shapes known from the input shapes",
                                     run->values[n->outputs[o]].name);
        outs[o]->data = NULL;
    }
    return maybe_evaluate(def, &ctx);
}

anvil_status anvil__infer_concrete(const anvil__graph *run, const anvil__tensor *inputs,
                                   const anvil__slot_info *slots, anvil__tensor **out) {
    *out = NULL;
    anvil__tensor *shapes =
        anvil__calloc((size_t)(run->n_values ? run->n_values : 1), sizeof *shapes);
    if (!shapes) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < run->n_inputs; i++) {
        shapes[run->inputs[i]] = inputs[i];
        shapes[run->inputs[i]].data = NULL;
    }
    for (int32_t i = 0; i < run->n_inits; i++) shapes[run->inits[i].value] = slots[i].shape;
    size_t total = 0;
    for (int32_t ni = 0; ni < run->n_nodes; ni++) {
        anvil_status s = infer_node(run, ni, shapes);
        /* Bound the activations before any kernel is created: a hostile model or engine file
         * (huge pads, huge profile shapes) must fail fast, not allocate for minutes. */
        for (int32_t o = 0; s == ANVIL_OK && o < run->nodes[ni].n_outputs; o++) {
            int32_t v = run->nodes[ni].outputs[o];
            if (v < 0) continue;
            total += shapes[v].bytes;
            if (total > ANVIL_MAX_PLAN_BYTES)
                s = anvil__node_error(&run->nodes[ni], ANVIL_STATUS_LIMIT_EXCEEDED,
                                      "the activations up to output '%s' (%s) need more than "
                                      "the limit of %zu bytes at these input shapes",
                                      run->values[v].name,
                                      anvil__shape_str(shapes[v].rank, shapes[v].dims,
                                                       (char[ANVIL_SHAPE_STR_MAX]){0},
                                                       ANVIL_SHAPE_STR_MAX),
                                      (size_t)ANVIL_MAX_PLAN_BYTES);
        }
        if (s != ANVIL_OK) {
            anvil__shapes_free(run, shapes);
            return s;
        }
    }
    *out = shapes;
    return ANVIL_OK;
}

void anvil__shapes_free(const anvil__graph *run, anvil__tensor *shapes) {
    if (!shapes) return;
    for (int32_t v = 0; v < run->n_values; v++)
        if (run->values[v].producer >= 0) anvil__free(shapes[v].data);
    anvil__free(shapes);
}
