/*
 * infer_shapes.c — static shape inference over the run graph: each op's infer() in node order,
 * fed with the opt input shapes and the attached slot data (other values' data is unknown).
 * With a dynamic profile, input dims the model does not fix stay unknown (-1), so what passes
 * read from here holds for every shape the engine accepts. Folding Shape/Size into constants
 * is constant_folding.c's job; concrete shapes for planning are plan/shapes.c's.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <string.h>

enum { MAX_IO = 64 };

/* The static view of value v: slot data, the opt shape of an input, or what is known so far. */
static void value_tensor(const anvil__compile_state *st, int32_t v, const int32_t *input_index,
                         anvil__tensor *t) {
    const anvil__value *val = &st->run->values[v];
    const anvil__tensor *slot = anvil__compile_slot_data(st, v);
    memset(t, 0, sizeof *t);
    if (slot) {
        *t = *slot;
        return;
    }
    t->dtype = val->dtype;
    t->rank = val->rank;
    memcpy(t->dims, val->dims, sizeof t->dims);
    int32_t k = input_index[v];
    if (k < 0 || !st->opt_inputs) return;
    const anvil__tensor *opt = &st->opt_inputs[k];
    t->dtype = opt->dtype != ANVIL_DTYPE_UNDEFINED ? opt->dtype : val->dtype;
    t->rank = opt->rank;
    for (int32_t d = 0; d < opt->rank && d < ANVIL_MAX_RANK; d++) {
        bool fixed = val->rank == opt->rank && val->dims[d] >= 0;
        t->dims[d] = st->dynamic && !fixed ? -1 : opt->dims[d];
    }
}

static void store_result(anvil__value *v, const anvil__tensor *t) {
    v->dtype = t->dtype;
    v->rank = t->rank;
    for (int32_t d = 0; d < ANVIL_MAX_RANK; d++) {
        v->dims[d] = d < t->rank ? t->dims[d] : -1;
        if (d < t->rank && t->dims[d] >= 0) {
            anvil__free(v->dim_names[d]); /* a known size replaces a symbolic name */
            v->dim_names[d] = NULL;
        }
    }
}

static anvil_status infer_node(anvil__compile_state *st, int32_t ni, const int32_t *input_index) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[ni];
    const anvil__op_def *def = anvil__op_get(n->op);
    if (!def) return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "unsupported op");
    if (n->n_inputs > MAX_IO || n->n_outputs > MAX_IO)
        return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED, "more than %d inputs or outputs",
                                 MAX_IO);
    anvil__tensor in[MAX_IO], out[MAX_IO], *in_p[MAX_IO], *out_p[MAX_IO];
    for (int32_t i = 0; i < n->n_inputs; i++) {
        in_p[i] = NULL;
        if (n->inputs[i] < 0) continue;
        value_tensor(st, n->inputs[i], input_index, &in[i]);
        in_p[i] = &in[i];
    }
    for (int32_t o = 0; o < n->n_outputs; o++) {
        memset(&out[o], 0, sizeof out[o]);
        out_p[o] = n->outputs[o] >= 0 ? &out[o] : NULL;
    }
    /* Operands of fused post-ops are appended inputs the op itself does not know about. */
    int32_t own = n->n_inputs;
    for (int32_t p = 0; p < n->n_post; p++)
        if (n->post[p].input >= 0 && n->post[p].input < own) own = n->post[p].input;
    anvil__op_ctx ctx = {n, run->opset, own, in_p, n->n_outputs, out_p, NULL, NULL};
    anvil_status s = def->infer(&ctx);
    if (s != ANVIL_OK) return s;
    for (int32_t o = 0; o < n->n_outputs; o++)
        if (out_p[o]) store_result(&run->values[n->outputs[o]], &out[o]);
    return ANVIL_OK;
}

anvil_status anvil__pass_infer_shapes(anvil__compile_state *st) {
    anvil__graph *run = st->run;
    int32_t *input_index = anvil__malloc_array((size_t)run->n_values + 1, sizeof *input_index);
    if (!input_index) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t v = 0; v < run->n_values; v++)
        input_index[v] = -1;
    for (int32_t i = 0; i < run->n_inputs; i++)
        input_index[run->inputs[i]] = i;
    anvil_status s = ANVIL_OK;
    for (int32_t ni = 0; ni < run->n_nodes && s == ANVIL_OK; ni++)
        if (!(run->nodes[ni].flags & ANVIL_NODE_DEAD)) s = infer_node(st, ni, input_index);
    anvil__free(input_index);
    return s;
}
