/*
 * patterns.c — recognizes ops that exporters write as basic ops and replaces each by the one
 * op: LayerNormalization (this file: ReduceMean → Sub → Pow 2 or Mul → ReduceMean → Add eps →
 * Sqrt → Div [→ Mul gamma] [→ Add beta], over the last axis) and Gelu (patterns_gelu.c). The
 * last node of a match is rewritten in place, so it keeps its output (and name); the other
 * nodes of the match must have no reader outside it.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <stdio.h>
#include <string.h>

/* ReduceMean over exactly the last axis (x of rank `rank`, -1 if unknown), keepdims on. */
static bool mean_over_last(const anvil__compile_state *st, const anvil__node *n, int32_t rank) {
    if (n->op != ANVIL_OP_ReduceMean || n->n_post || anvil__attr_int(n, "keepdims", 1) != 1)
        return false;
    int64_t axis;
    if (st->run->opset >= 18) {
        const anvil__tensor *t =
            n->n_inputs > 1 ? anvil__compile_slot_data(st, n->inputs[1]) : NULL;
        if (!t || anvil__tensor_numel(t) != 1 || !anvil__dtype_is_int(t->dtype)) return false;
        axis = anvil__load_i64(t->dtype, t->data, 0);
    } else {
        size_t count;
        const int64_t *axes = anvil__attr_ints(n, "axes", &count);
        if (!axes || count != 1 || n->n_inputs != 1) return false;
        axis = axes[0];
    }
    return axis == -1 || (rank > 0 && axis == rank - 1);
}

/* The nodes of one LayerNormalization match. */
typedef struct ln_match {
    int32_t x, d, eps_v, gamma, beta; /* values (gamma/beta -1 when absent) */
    int32_t nodes[9], n_nodes;        /* the match, last one = the node rewritten */
    double eps;
} ln_match;

/* The readers of d (x - mean) must be exactly the squaring node and the Div. */
static bool center_readers(const anvil__graph *run, const anvil__uses *u, int32_t d, int32_t *sq,
                           int32_t *div) {
    *sq = *div = -1;
    if (run->values[d].flags & ANVIL_VALUE_OUTPUT) return false;
    int32_t refs = 0;
    for (int32_t ni = 0; ni < run->n_nodes; ni++) {
        const anvil__node *n = &run->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        int32_t k = 0;
        for (int32_t i = 0; i < n->n_inputs; i++)
            k += n->inputs[i] == d;
        if (!k) continue;
        refs += k;
        if (n->op == ANVIL_OP_Div && n->n_inputs == 2 && n->inputs[0] == d && k == 1 && *div < 0)
            *div = ni;
        else if (*sq < 0 && ((n->op == ANVIL_OP_Pow && n->inputs[0] == d && k == 1) ||
                             (n->op == ANVIL_OP_Mul && k == 2)))
            *sq = ni;
        else
            return false;
    }
    return *sq >= 0 && *div >= 0 && refs == anvil__pass_uses_of(u, d);
}

static bool match_ln(const anvil__compile_state *st, const anvil__uses *u, int32_t r1,
                     ln_match *m) {
    const anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[r1];
    memset(m, 0, sizeof *m);
    m->x = n->inputs[0];
    int32_t rank = run->values[m->x].rank;
    if (!anvil__dtype_is_float(run->values[m->x].dtype) || !mean_over_last(st, n, rank))
        return false;
    int32_t sub = anvil__pass_consumer_op(run, u, n->outputs[0], ANVIL_OP_Sub);
    if (sub < 0 || run->nodes[sub].inputs[0] != m->x || run->nodes[sub].inputs[1] != n->outputs[0])
        return false;
    m->d = run->nodes[sub].outputs[0];
    int32_t sq, div;
    if (!center_readers(run, u, m->d, &sq, &div)) return false;
    if (run->nodes[sq].op == ANVIL_OP_Pow &&
        !anvil__pass_is_const(st, run->nodes[sq].inputs[1], 2.0, 0))
        return false;
    int32_t r2 = anvil__pass_consumer_op(run, u, run->nodes[sq].outputs[0], ANVIL_OP_ReduceMean);
    if (r2 < 0 || !mean_over_last(st, &run->nodes[r2], rank)) return false;
    int32_t add = anvil__pass_consumer_op(run, u, run->nodes[r2].outputs[0], ANVIL_OP_Add);
    if (add < 0) return false;
    m->eps_v = anvil__pass_other_input(&run->nodes[add], run->nodes[r2].outputs[0]);
    if (!anvil__pass_scalar(st, m->eps_v, &m->eps) || !(m->eps >= 0)) return false;
    int32_t sqrt = anvil__pass_consumer_op(run, u, run->nodes[add].outputs[0], ANVIL_OP_Sqrt);
    if (sqrt < 0 || anvil__pass_sole_consumer(run, u, run->nodes[sqrt].outputs[0]) != div ||
        run->nodes[div].inputs[1] != run->nodes[sqrt].outputs[0] || run->nodes[div].n_post)
        return false;
    int32_t chain[] = {r1, sub, sq, r2, add, sqrt, div};
    memcpy(m->nodes, chain, sizeof chain);
    m->n_nodes = 7;
    m->gamma = m->beta = -1;
    int32_t last = run->nodes[div].outputs[0];
    int32_t mul = anvil__pass_consumer_op(run, u, last, ANVIL_OP_Mul);
    int32_t g = mul >= 0 ? anvil__pass_other_input(&run->nodes[mul], last) : -1;
    if (g < 0 || !anvil__compile_slot_data(st, g)) return true;
    m->gamma = g;
    m->nodes[m->n_nodes++] = mul;
    last = run->nodes[mul].outputs[0];
    int32_t badd = anvil__pass_consumer_op(run, u, last, ANVIL_OP_Add);
    int32_t b = badd >= 0 ? anvil__pass_other_input(&run->nodes[badd], last) : -1;
    if (b < 0 || !anvil__compile_slot_data(st, b)) return true;
    m->beta = b;
    m->nodes[m->n_nodes++] = badd;
    return true;
}

/* A LayerNormalization parameter from slot p broadcast over the last axis (size n): p itself
 * when it is [n], a Reshape recipe to [n] when it is [1,..,1,n]; -1 when it is anything else
 * (that would broadcast differently). */
static anvil_status ln_param(anvil__compile_state *st, int32_t p, int64_t n, anvil_dtype dt,
                             int32_t x_rank, int32_t *out) {
    const anvil__tensor *t = anvil__compile_slot_data(st, p);
    *out = -1;
    if (!t || t->dtype != dt || t->rank < 1 || t->rank > x_rank || t->dims[t->rank - 1] != n)
        return ANVIL_OK;
    for (int32_t d = 0; d + 1 < t->rank; d++)
        if (t->dims[d] != 1) return ANVIL_OK;
    if (t->rank == 1) {
        *out = p;
        return ANVIL_OK;
    }
    anvil__tensor shape;
    memset(&shape, 0, sizeof shape);
    int64_t one = 1, dims[1] = {n};
    anvil_status s = anvil__tensor_shape(&shape, ANVIL_DTYPE_I64, 1, &one);
    shape.data = dims;
    char *name = anvil__strdup(st->run->values[p].name);
    int32_t sv = -1;
    if (!name) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__compile_add_weight_const(st, &shape, "ln_param_shape", &sv);
    int32_t win[2] = {anvil__compile_slot_value(st, p), anvil__compile_slot_value(st, sv)};
    if (s == ANVIL_OK) s = anvil__compile_add_weight_node(st, "Reshape", win, 2, name, out);
    anvil__free(name);
    return s;
}

/* Scale of ones for a LayerNorm written without gamma. */
static anvil_status ln_ones(anvil__compile_state *st, int64_t n, anvil_dtype dt, int32_t *out) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    anvil_status s = anvil__tensor_shape(&t, dt, 1, &n);
    if (s == ANVIL_OK) s = anvil__tensor_alloc(&t);
    for (int64_t i = 0; s == ANVIL_OK && i < n; i++)
        anvil__store_f64(dt, t.data, (size_t)i, 1.0);
    if (s == ANVIL_OK) s = anvil__compile_add_weight_const(st, &t, "layernorm_ones", out);
    anvil__free(t.data);
    return s;
}

static anvil_status apply_ln(anvil__compile_state *st, anvil__uses *u, const ln_match *m,
                             bool *changed) {
    anvil__graph *run = st->run;
    const anvil__value *x = &run->values[m->x];
    int64_t n = x->rank > 0 ? x->dims[x->rank - 1] : -1;
    anvil_dtype dt = x->dtype;
    int32_t rank = x->rank;
    if (n <= 0) return ANVIL_OK; /* parameters must line up with a known last dim */
    int32_t scale = -1, bias = -1;
    anvil_status s = ANVIL_OK;
    if (m->gamma >= 0) {
        s = ln_param(st, m->gamma, n, dt, rank, &scale);
        if (s != ANVIL_OK || scale < 0) return s;
    }
    if (m->beta >= 0) {
        s = ln_param(st, m->beta, n, dt, rank, &bias);
        if (s != ANVIL_OK || bias < 0) return s;
    }
    if (scale < 0) s = ln_ones(st, n, dt, &scale);
    int32_t last = m->nodes[m->n_nodes - 1];
    int32_t ins[3] = {m->x, scale, bias};
    if (s == ANVIL_OK)
        s = anvil__pass_rewrite_node(run, u, last, "LayerNormalization", ins, bias >= 0 ? 3 : 2);
    if (s == ANVIL_OK) s = anvil__pass_set_attr_int(run, last, "axis", -1);
    if (s == ANVIL_OK) s = anvil__pass_set_attr_float(run, last, "epsilon", (float)m->eps);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; s == ANVIL_OK && i + 1 < m->n_nodes; i++)
        s = anvil__pass_kill(run, u, m->nodes[i]);
    *changed = s == ANVIL_OK;
    return s;
}

static anvil_status try_node(anvil__compile_state *st, anvil__uses *u, int32_t ni, bool *changed) {
    const anvil__node *n = &st->run->nodes[ni];
    *changed = false;
    if (n->op == ANVIL_OP_ReduceMean && n->n_inputs >= 1 && n->inputs[0] >= 0) {
        ln_match m;
        if (match_ln(st, u, ni, &m)) return apply_ln(st, u, &m, changed);
        return ANVIL_OK;
    }
    if (n->op == ANVIL_OP_Erf || n->op == ANVIL_OP_Tanh)
        return anvil__pass_gelu(st, u, ni, changed);
    return ANVIL_OK;
}

anvil_status anvil__pass_patterns(anvil__compile_state *st) {
    return anvil__pass_each_node(st, ANVIL_PASS_PATTERNS, try_node);
}
