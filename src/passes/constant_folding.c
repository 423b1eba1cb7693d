/*
 * constant_folding.c — moves every run node whose inputs are all slots (Constant included)
 * into the weight graph, so a refit replays it, and turns Shape/Size of a tensor whose shape
 * is statically known into constants first. Nodes with subgraphs are never folded, nor
 * generators whose result would be much larger than what they read (ConstantOfShape, Expand,
 * Tile of a huge shape): those stay cheap to compute and would bloat every weight set.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <string.h>

/* A fold may produce at most this many bytes more than twice what it reads. */
#define FOLD_GROWTH_BYTES ((size_t)4 << 20)

enum { MAX_IO = 64 };

static bool has_subgraph(const anvil__node *n) {
    for (int32_t a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].g) return true;
    return false;
}

static bool all_inputs_slots(const anvil__compile_state *st, const anvil__node *n) {
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0 && !anvil__compile_slot_data(st, n->inputs[i])) return false;
    return true;
}

/* Whether folding node n keeps the weights small: infers its outputs on the slot data (all
 * known, so the shapes come out exact) and compares sizes. Constant always fits: its bytes
 * are in the model already. */
static anvil_status fold_fits(const anvil__compile_state *st, const anvil__node *n, bool *fits) {
    *fits = false;
    const anvil__op_def *def = anvil__op_get(n->op);
    if (!def || n->n_inputs > MAX_IO || n->n_outputs > MAX_IO) return ANVIL_OK;
    if (n->op == ANVIL_OP_Constant) {
        *fits = true;
        return ANVIL_OK;
    }
    anvil__tensor out[MAX_IO], *in_p[MAX_IO], *out_p[MAX_IO];
    size_t in_bytes = 0, out_bytes = 0;
    for (int32_t i = 0; i < n->n_inputs; i++) {
        const anvil__tensor *t =
            n->inputs[i] >= 0 ? anvil__compile_slot_data(st, n->inputs[i]) : NULL;
        in_p[i] = (anvil__tensor *)t; /* infer only reads its inputs */
        if (t) in_bytes += t->bytes;
    }
    for (int32_t o = 0; o < n->n_outputs; o++) {
        memset(&out[o], 0, sizeof out[o]);
        out_p[o] = n->outputs[o] >= 0 ? &out[o] : NULL;
    }
    anvil__op_ctx ctx = {n, st->run->opset, n->n_inputs, in_p, n->n_outputs, out_p, NULL, NULL};
    anvil_status s = def->infer(&ctx);
    if (s != ANVIL_OK) return s;
    for (int32_t o = 0; o < n->n_outputs; o++) {
        if (!out_p[o]) continue;
        if (anvil__tensor_numel(&out[o]) < 0) return ANVIL_OK; /* data-dependent: leave it */
        out_bytes += out[o].bytes;
    }
    *fits = out_bytes <= 2 * in_bytes + FOLD_GROWTH_BYTES;
    return ANVIL_OK;
}

/* Whether the Shape/Size result holds only known numbers (unknown dims read as -1). */
static bool result_known(const anvil__tensor *t) {
    int64_t n = anvil__tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (anvil__load_i64(t->dtype, t->data, (size_t)i) < 0) return false;
    return n >= 0;
}

/* Shape/Size of a value whose (selected) dims are known: computes the result with the op's
 * own kernel, which reads only dims, rewrites the node as a Constant holding it, and folds it.
 * Shape with start/end needs only the dims it returns. */
static anvil_status fold_shape_of(anvil__compile_state *st, int32_t ni) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[ni];
    const anvil__value *x = &run->values[n->inputs[0]];
    if (x->rank < 0 || n->n_outputs != 1 || n->outputs[0] < 0) return ANVIL_OK;
    if (n->op == ANVIL_OP_Size && !anvil__pass_shape_known(x)) return ANVIL_OK;
    const anvil__op_def *def = anvil__op_get(n->op);
    anvil__tensor in, out;
    memset(&in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    in.dtype = x->dtype;
    in.rank = x->rank;
    memcpy(in.dims, x->dims, sizeof in.dims);
    anvil__tensor *in_p = &in, *out_p = &out;
    anvil__op_ctx ctx = {n, run->opset, 1, &in_p, 1, &out_p, NULL, NULL};
    anvil_status s = def->infer(&ctx);
    if (s == ANVIL_OK && anvil__tensor_numel(&out) < 0) return ANVIL_OK;
    if (s == ANVIL_OK) s = anvil__tensor_alloc(&out);
    if (s == ANVIL_OK) s = def->run(&ctx);
    if (s == ANVIL_OK && !result_known(&out)) {
        anvil__free(out.data);
        return ANVIL_OK;
    }
    if (s == ANVIL_OK) s = anvil__pass_rewrite_node(run, NULL, ni, "Constant", NULL, 0);
    anvil__attr *a = NULL;
    if (s == ANVIL_OK) s = anvil__node_add_attr(run, ni, "value", &a);
    if (s != ANVIL_OK) {
        anvil__free(out.data);
        return s;
    }
    a->kind = ANVIL_ATTR_TENSOR;
    a->t = out; /* the attribute owns the bytes now */
    return anvil__compile_fold_node(st, ni);
}

anvil_status anvil__pass_constant_folding(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_CONSTANT_FOLDING)) return ANVIL_OK;
    anvil__graph *run = st->run;
    for (int32_t ni = 0; ni < run->n_nodes; ni++) {
        const anvil__node *n = &run->nodes[ni];
        if ((n->flags & ANVIL_NODE_DEAD) || has_subgraph(n) || n->n_post > 0) continue;
        anvil_status s = ANVIL_OK;
        if (all_inputs_slots(st, n)) {
            bool fits;
            s = fold_fits(st, n, &fits);
            if (s == ANVIL_OK && fits) s = anvil__compile_fold_node(st, ni);
        } else if ((n->op == ANVIL_OP_Shape || n->op == ANVIL_OP_Size) && n->n_inputs == 1 &&
                   n->inputs[0] >= 0) {
            s = fold_shape_of(st, ni);
        }
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}
