/*
 * eliminate.c — removes nodes that do not change their input (Identity, inference Dropout,
 * Cast/CastLike to the same dtype, Expand/Reshape-likes to the same shape, identity
 * Transposes), merges consecutive Transposes, turns Transposes that only move size-1 dims into
 * Reshapes, and collapses chains of Reshape/Flatten/Squeeze/Unsqueeze into one Reshape with a
 * constant target. Transposes of slots are left to
 * constant folding, which the pipeline runs again after this pass. Graph outputs keep names.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <stdio.h>
#include <string.h>

static bool reshape_like(int32_t op) {
    return op == ANVIL_OP_Reshape || op == ANVIL_OP_Flatten || op == ANVIL_OP_Squeeze ||
           op == ANVIL_OP_Unsqueeze;
}

/* Dropout computes its input when not training and nobody reads the mask. Before opset 12
 * there is no training flag and the reference treats it as identity, as runtimes do. */
static bool dropout_is_identity(const anvil__compile_state *st, const anvil__uses *u,
                                const anvil__node *n) {
    const anvil__graph *run = st->run;
    if (n->n_outputs > 1 && n->outputs[1] >= 0 &&
        (anvil__pass_uses_of(u, n->outputs[1]) > 0 ||
         (run->values[n->outputs[1]].flags & ANVIL_VALUE_OUTPUT)))
        return false;
    if (run->opset < 12 || n->n_inputs < 3 || n->inputs[2] < 0) return true;
    double training;
    return anvil__pass_scalar(st, n->inputs[2], &training) && training == 0;
}

/* The permutation of Transpose node n over an input of rank `rank` (default: reversed). */
static bool transpose_perm(const anvil__node *n, int32_t rank, int64_t *perm) {
    size_t count;
    const int64_t *p = anvil__attr_ints(n, "perm", &count);
    if (rank < 0 || rank > ANVIL_MAX_RANK) return false;
    if (!p) {
        for (int32_t d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return true;
    }
    if (count != (size_t)rank) return false;
    bool seen[ANVIL_MAX_RANK] = {false};
    for (int32_t d = 0; d < rank; d++) {
        int64_t a = p[d] < 0 ? p[d] + rank : p[d];
        if (a < 0 || a >= rank || seen[a]) return false;
        seen[a] = true;
        perm[d] = a;
    }
    return true;
}

static bool is_identity_perm(const int64_t *perm, int32_t rank) {
    for (int32_t d = 0; d < rank; d++)
        if (perm[d] != d) return false;
    return true;
}

/* Transpose(Transpose(x, p1), p2) = Transpose(x, q) with q[k] = p1[p2[k]]: rewrites the second
 * to read x (the first dies when it had no other reader). */
static anvil_status merge_transposes(anvil__compile_state *st, anvil__uses *u, int32_t ni,
                                     bool *changed) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[ni];
    int32_t mid = n->inputs[0], p = anvil__pass_producer(run, mid);
    if (p < 0 || run->nodes[p].op != ANVIL_OP_Transpose || run->nodes[p].n_post ||
        anvil__pass_sole_consumer(run, u, mid) != ni)
        return ANVIL_OK;
    int32_t src = run->nodes[p].inputs[0], rank = run->values[src].rank;
    int64_t p1[ANVIL_MAX_RANK], p2[ANVIL_MAX_RANK], q[ANVIL_MAX_RANK];
    if (!transpose_perm(&run->nodes[p], rank, p1) || !transpose_perm(n, rank, p2)) return ANVIL_OK;
    for (int32_t k = 0; k < rank; k++)
        q[k] = p1[p2[k]];
    anvil_status s = anvil__pass_set_attr_ints(run, ni, "perm", q, (size_t)rank);
    if (s == ANVIL_OK) s = anvil__pass_set_input(run, u, ni, 0, src);
    if (s == ANVIL_OK) s = anvil__pass_kill(run, u, p);
    *changed = s == ANVIL_OK;
    return s;
    return ANVIL_OK;
}

/* Whether Transpose(x, perm) keeps the order of every dim of x that is not known to be 1: it
 * then moves only size-1 dims and is a Reshape (the bytes stay in place). */
static bool moves_only_ones(const anvil__value *x, const int64_t *perm) {
    int64_t last = -1;
    for (int32_t k = 0; k < x->rank; k++) {
        if (x->dims[perm[k]] == 1) continue;
        if (perm[k] < last) return false;
        last = perm[k];
    }
    return true;
}

/* The target of a Reshape producing `out`, from its inferred shape: every dim known, or one
 * unknown (-1, inferred by Reshape) among dims that are all > 0. *zero: some dim is 0. */
static bool reshape_target(const anvil__value *out, int64_t *dims, bool *zero) {
    int32_t unknown = 0;
    bool positive = true;
    *zero = false;
    if (out->rank < 0) return false;
    for (int32_t d = 0; d < out->rank; d++) {
        dims[d] = out->dims[d];
        unknown += dims[d] < 0;
        positive &= dims[d] != 0;
        *zero |= dims[d] == 0;
        if (dims[d] < 0) dims[d] = -1;
    }
    return unknown == 0 || (unknown == 1 && positive);
}

/* Rewrites node ni as Reshape(src, constant target = its inferred output shape); the
 * producer `dead` (-1: none) of its old input dies with it. No change when the target is not
 * static enough (more than one unknown dim, or a 0 before opset 14's allowzero). */
static anvil_status make_reshape(anvil__compile_state *st, anvil__uses *u, int32_t ni, int32_t src,
                                 int32_t dead, bool *changed) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[ni];
    int64_t dims[ANVIL_MAX_RANK];
    bool zero;
    const anvil__value *out = &run->values[n->outputs[0]];
    if (!reshape_target(out, dims, &zero) || (zero && run->opset < 14)) return ANVIL_OK;
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    int64_t rank = out->rank;
    anvil_status s = anvil__tensor_shape(&t, ANVIL_DTYPE_I64, 1, &rank);
    t.data = dims;
    size_t len = strlen(out->name) + 8;
    char *hint = anvil__malloc(len);
    if (!hint) return ANVIL_STATUS_OUT_OF_MEMORY;
    snprintf(hint, len, "%s_shape", out->name);
    int32_t shape = -1;
    if (s == ANVIL_OK) s = anvil__compile_add_weight_const(st, &t, hint, &shape);
    anvil__free(hint);
    int32_t ins[2] = {src, shape};
    if (s == ANVIL_OK) s = anvil__pass_rewrite_node(run, u, ni, "Reshape", ins, 2);
    if (s == ANVIL_OK && zero) s = anvil__pass_set_attr_int(run, ni, "allowzero", 1);
    if (s == ANVIL_OK && dead >= 0) s = anvil__pass_kill(run, u, dead);
    *changed = s == ANVIL_OK;
    return s;
}

/* Reshape-like(Reshape-like(x)) → Reshape(x, constant target of the outer one). */
static anvil_status collapse_reshapes(anvil__compile_state *st, anvil__uses *u, int32_t ni,
                                      bool *changed) {
    anvil__graph *run = st->run;
    int32_t mid = run->nodes[ni].inputs[0], p = anvil__pass_producer(run, mid);
    if (p < 0 || !reshape_like(run->nodes[p].op) || run->nodes[p].n_post ||
        anvil__pass_sole_consumer(run, u, mid) != ni)
        return ANVIL_OK;
    return make_reshape(st, u, ni, run->nodes[p].inputs[0], p, changed);
}

static anvil_status eliminate_node(anvil__compile_state *st, anvil__uses *u, int32_t ni,
                                   bool *changed) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[ni];
    *changed = false;
    if (n->n_post || n->n_inputs < 1 || n->n_outputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
        return ANVIL_OK;
    int32_t in = n->inputs[0], out = n->outputs[0];
    const anvil__value *iv = &run->values[in], *ov = &run->values[out];
    bool same_dtype = iv->dtype != ANVIL_DTYPE_UNDEFINED && iv->dtype == ov->dtype;
    int64_t perm[ANVIL_MAX_RANK];
    switch (n->op) {
    case ANVIL_OP_Identity:
        return anvil__pass_bypass(run, u, ni, in, out, changed);
    case ANVIL_OP_Dropout:
        if (!dropout_is_identity(st, u, n)) return ANVIL_OK;
        return anvil__pass_bypass(run, u, ni, in, out, changed);
    case ANVIL_OP_Cast:
    case ANVIL_OP_CastLike:
        return same_dtype ? anvil__pass_bypass(run, u, ni, in, out, changed) : ANVIL_OK;
    case ANVIL_OP_Expand:
        if (!anvil__pass_same_shape(iv, ov)) return ANVIL_OK;
        return anvil__pass_bypass(run, u, ni, in, out, changed);
    case ANVIL_OP_Transpose: {
        if (!transpose_perm(n, iv->rank, perm)) return ANVIL_OK;
        if (is_identity_perm(perm, iv->rank) && same_dtype)
            return anvil__pass_bypass(run, u, ni, in, out, changed);
        bool ones = moves_only_ones(iv, perm);
        anvil_status s = merge_transposes(st, u, ni, changed);
        if (s == ANVIL_OK && !*changed && ones) s = make_reshape(st, u, ni, in, -1, changed);
        return s;
    }
    default:
        break;
    }
    if (!reshape_like(n->op)) return ANVIL_OK;
    if (anvil__pass_same_shape(iv, ov)) {
        anvil_status s = anvil__pass_bypass(run, u, ni, in, out, changed);
        if (s != ANVIL_OK || *changed) return s;
    }
    return collapse_reshapes(st, u, ni, changed);
}

anvil_status anvil__pass_eliminate(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_ELIMINATE)) return ANVIL_OK;
    anvil__uses u = {0};
    anvil_status s = anvil__pass_uses_init(st->run, &u);
    for (int32_t ni = 0; s == ANVIL_OK && ni < st->run->n_nodes; ni++) {
        if (st->run->nodes[ni].flags & ANVIL_NODE_DEAD) continue;
        bool changed;
        s = eliminate_node(st, &u, ni, &changed);
        /* A rewritten node (merged Transpose, new Reshape) may simplify again: look again. */
        if (s == ANVIL_OK && changed && !(st->run->nodes[ni].flags & ANVIL_NODE_DEAD)) ni--;
    }
    anvil__pass_uses_free(&u);
    return s;
}
