/*
 * fuse_residual.c — folds Add(y, other) into the Conv / MatMul / Gemm producing y (read only
 * by that Add) as a post-op Add whose operand `other` is appended to the producer's inputs:
 *   - a residual: other has exactly y's shape (no broadcasting);
 *   - a MatMul bias: other is a slot of shape [N] and y is [..., N]; the backend may turn this
 *     broadcast Add into the matmul's own bias when it is the first post-op.
 * The producer then writes the Add's output value. Activations after it are fused later.
 */
#include "passes/passes.h"

#include "ops/op.h"

static bool residual_producer(const anvil__graph *g, int32_t p) {
    if (p < 0) return false;
    int32_t op = g->nodes[p].op;
    return (op == ANVIL_OP_Conv || op == ANVIL_OP_Gemm || op == ANVIL_OP_MatMul) &&
           g->nodes[p].n_post < ANVIL_MAX_POST_OPS && g->nodes[p].n_outputs == 1;
}

/* Whether `other` is a bias slot [N] for the [..., N] output y of MatMul node p. */
static bool matmul_bias(const anvil__compile_state *st, int32_t p, int32_t y, int32_t other) {
    const anvil__value *yv = &st->run->values[y];
    const anvil__tensor *b = anvil__compile_slot_data(st, other);
    return st->run->nodes[p].op == ANVIL_OP_MatMul && b && b->rank == 1 && yv->rank >= 1 &&
           b->dims[0] == yv->dims[yv->rank - 1] && b->dims[0] > 0 && b->dtype == yv->dtype;
}

/* Operand index j of Add node `add` whose producer can take the Add; -1 if none. Among two,
 * the later producer (its other operand is then ready earlier). */
static int32_t pick(const anvil__compile_state *st, const anvil__uses *u, int32_t add) {
    const anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[add];
    const anvil__value *out = &run->values[n->outputs[0]];
    int32_t best = -1, best_p = -1;
    for (int32_t j = 0; j < 2; j++) {
        int32_t y = n->inputs[j], other = n->inputs[1 - j], p = anvil__pass_producer(run, y);
        if (!residual_producer(run, p) || anvil__pass_sole_consumer(run, u, y) != add ||
            !anvil__dtype_is_float(out->dtype))
            continue;
        bool residual = anvil__pass_same_shape(&run->values[y], out) &&
                        anvil__pass_same_shape(&run->values[other], out);
        if ((residual || matmul_bias(st, p, y, other)) && p > best_p) {
            best = j;
            best_p = p;
        }
    }
    return best;
}

static anvil_status fuse(anvil__compile_state *st, anvil__uses *u, int32_t add, int32_t j) {
    anvil__graph *run = st->run;
    int32_t y = run->nodes[add].inputs[j], other = run->nodes[add].inputs[1 - j];
    int32_t p = anvil__pass_producer(run, y), index = run->nodes[p].n_inputs;
    anvil_status s = anvil__pass_set_input(run, u, p, index, other);
    if (s == ANVIL_OK) s = anvil__node_note_fused(&run->nodes[p], "Add");
    if (s != ANVIL_OK) return s;
    anvil__node *pn = &run->nodes[p];
    anvil__post_op post = {ANVIL_OP_Add, 0, 0, index};
    pn->post[pn->n_post++] = post;
    anvil__pass_take_output(run, p, 0, run->nodes[add].outputs[0]);
    return anvil__pass_kill(run, u, add);
}

anvil_status anvil__pass_fuse_residual(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_FUSE_RESIDUAL)) return ANVIL_OK;
    anvil__uses u = {0};
    anvil_status s = anvil__pass_uses_init(st->run, &u);
    for (int32_t ni = 0; s == ANVIL_OK && ni < st->run->n_nodes; ni++) {
        const anvil__node *n = &st->run->nodes[ni];
        if ((n->flags & ANVIL_NODE_DEAD) || n->op != ANVIL_OP_Add || n->n_post ||
            n->n_inputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0 ||
            n->inputs[0] == n->inputs[1] || n->n_outputs != 1 || n->outputs[0] < 0)
            continue;
        int32_t j = pick(st, &u, ni);
        if (j >= 0) s = fuse(st, &u, ni, j);
    }
    anvil__pass_uses_free(&u);
    return s;
}
