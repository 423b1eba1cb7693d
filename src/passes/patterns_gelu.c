/*
 * patterns_gelu.c — GELU written as basic ops, found from its Erf or Tanh node:
 *   erf form:  x * 0.5 * (1 + erf(x / sqrt 2)) (or x * (1/sqrt 2) inside), associated as
 *              (x * (1+e)) * 0.5, ((1+e) * 0.5) * x or (x * 0.5) * (1+e);
 *   tanh form: the same tail over 1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)), x^3 as Pow(x, 3),
 *              x * (x * x) or (x * x) * x.
 * Additions may be Add or a two-input Sum (ONNX's expansion of Gelu writes Sum).
 * Every intermediate must be read only inside the match; the last node becomes the Gelu.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <math.h>
#include <string.h>

#define REL_TOL 1e-6
#define MAX_MATCH 12
#define SQRT_2_OVER_PI 0.79788456080286536

typedef struct gelu_match {
    int32_t x;
    int32_t nodes[MAX_MATCH], n; /* last = the node rewritten */
} gelu_match;

static void push(gelu_match *m, int32_t node) {
    if (m->n < MAX_MATCH) m->nodes[m->n++] = node;
}

/* For node n = op(a, c) with c a constant ≈ target (either side when commutative): a. */
static int32_t with_const(const anvil__compile_state *st, int32_t ni, int32_t op, double target,
                          bool commutative) {
    if (ni < 0) return -1;
    const anvil__node *n = &st->run->nodes[ni];
    if (n->op != op || n->n_inputs != 2 || n->n_post) return -1;
    if (anvil__pass_is_const(st, n->inputs[1], target, REL_TOL)) return n->inputs[0];
    if (commutative && anvil__pass_is_const(st, n->inputs[0], target, REL_TOL)) return n->inputs[1];
    return -1;
}

/* Node ni adds two values: Add, or Sum of two (as ONNX's own function bodies write it). */
static bool is_add2(const anvil__graph *g, int32_t ni) {
    if (ni < 0 || g->nodes[ni].n_post || g->nodes[ni].n_inputs != 2) return false;
    return g->nodes[ni].op == ANVIL_OP_Add || g->nodes[ni].op == ANVIL_OP_Sum;
}

/* The producer of v when v is read only by node `reader`. */
static int32_t private_producer(const anvil__graph *g, const anvil__uses *u, int32_t v,
                                int32_t reader) {
    if (anvil__pass_sole_consumer(g, u, v) != reader) return -1;
    return anvil__pass_producer(g, v);
}

/* 1 + e, then the product with x and 0.5 in any of the association orders. */
static bool match_tail(const anvil__compile_state *st, const anvil__uses *u, int32_t e,
                       gelu_match *m) {
    const anvil__graph *run = st->run;
    int32_t a1 = anvil__pass_sole_consumer(run, u, e);
    if (!is_add2(run, a1) ||
        !anvil__pass_is_const(st, anvil__pass_other_input(&run->nodes[a1], e), 1.0, REL_TOL))
        return false;
    push(m, a1);
    int32_t one_plus = run->nodes[a1].outputs[0];
    int32_t t1 = anvil__pass_consumer_op(run, u, one_plus, ANVIL_OP_Mul);
    if (t1 < 0) return false;
    int32_t other = anvil__pass_other_input(&run->nodes[t1], one_plus);
    if (other < 0) return false;
    int32_t t1_out = run->nodes[t1].outputs[0];
    if (other == m->x || anvil__pass_is_const(st, other, 0.5, REL_TOL)) {
        /* (x * (1+e)) * 0.5  or  ((1+e) * 0.5) * x */
        int32_t t2 = anvil__pass_consumer_op(run, u, t1_out, ANVIL_OP_Mul);
        if (t2 < 0) return false;
        int32_t last = anvil__pass_other_input(&run->nodes[t2], t1_out);
        bool ok = other == m->x ? anvil__pass_is_const(st, last, 0.5, REL_TOL) : last == m->x;
        if (!ok) return false;
        push(m, t1);
        push(m, t2);
        return true;
    }
    /* (x * 0.5) * (1+e) */
    int32_t h = private_producer(run, u, other, t1);
    if (with_const(st, h, ANVIL_OP_Mul, 0.5, true) != m->x) return false;
    push(m, h);
    push(m, t1);
    return true;
}

static bool match_erf(const anvil__compile_state *st, const anvil__uses *u, int32_t erf,
                      gelu_match *m) {
    const anvil__graph *run = st->run;
    int32_t a = run->nodes[erf].inputs[0];
    int32_t p = private_producer(run, u, a, erf);
    m->x = with_const(st, p, ANVIL_OP_Div, sqrt(2.0), false);
    if (m->x < 0) m->x = with_const(st, p, ANVIL_OP_Mul, sqrt(0.5), true);
    if (m->x < 0) return false;
    push(m, p);
    push(m, erf);
    return match_tail(st, u, run->nodes[erf].outputs[0], m);
}

/* c = x^3 read only by `reader`, as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x). */
static bool match_cube(const anvil__compile_state *st, const anvil__uses *u, int32_t c,
                       int32_t reader, int32_t x, gelu_match *m) {
    const anvil__graph *run = st->run;
    int32_t p = private_producer(run, u, c, reader);
    if (p < 0) return false;
    if (with_const(st, p, ANVIL_OP_Pow, 3.0, false) == x) {
        push(m, p);
        return true;
    }
    const anvil__node *n = &run->nodes[p];
    if (n->op != ANVIL_OP_Mul || n->n_post) return false;
    int32_t sq_v = anvil__pass_other_input(n, x);
    int32_t sq = sq_v >= 0 ? private_producer(run, u, sq_v, p) : -1;
    if (sq < 0 || run->nodes[sq].op != ANVIL_OP_Mul || run->nodes[sq].n_post ||
        run->nodes[sq].inputs[0] != x || run->nodes[sq].inputs[1] != x)
        return false;
    push(m, sq);
    push(m, p);
    return true;
}

static bool match_tanh(const anvil__compile_state *st, const anvil__uses *u, int32_t tanh_node,
                       gelu_match *m) {
    const anvil__graph *run = st->run;
    int32_t t = run->nodes[tanh_node].inputs[0];
    int32_t scale = private_producer(run, u, t, tanh_node);
    int32_t inner = with_const(st, scale, ANVIL_OP_Mul, SQRT_2_OVER_PI, true);
    int32_t add = inner >= 0 ? private_producer(run, u, inner, scale) : -1;
    if (!is_add2(run, add)) return false;
    for (int32_t j = 0; j < 2; j++) {
        gelu_match try = *m;
        try.x = run->nodes[add].inputs[j];
        int32_t term = run->nodes[add].inputs[1 - j];
        int32_t kappa = private_producer(run, u, term, add);
        int32_t cube = with_const(st, kappa, ANVIL_OP_Mul, 0.044715, true);
        if (cube < 0 || !match_cube(st, u, cube, kappa, try.x, &try)) continue;
        push(&try, kappa);
        push(&try, add);
        push(&try, scale);
        push(&try, tanh_node);
        if (!match_tail(st, u, run->nodes[tanh_node].outputs[0], &try)) continue;
        *m = try;
        return true;
    }
    return false;
}

anvil_status anvil__pass_gelu(anvil__compile_state *st, anvil__uses *u, int32_t node,
                              bool *changed) {
    anvil__graph *run = st->run;
    const anvil__node *n = &run->nodes[node];
    gelu_match m;
    memset(&m, 0, sizeof m);
    *changed = false;
    if (n->n_post || n->n_inputs != 1 || n->inputs[0] < 0) return ANVIL_OK;
    bool is_tanh = n->op == ANVIL_OP_Tanh;
    if (!(is_tanh ? match_tanh(st, u, node, &m) : match_erf(st, u, node, &m))) return ANVIL_OK;
    if (m.n >= MAX_MATCH || !anvil__dtype_is_float(run->values[m.x].dtype)) return ANVIL_OK;
    int32_t last = m.nodes[m.n - 1];
    anvil_status s = anvil__pass_rewrite_node(run, u, last, "Gelu", &m.x, 1);
    if (s == ANVIL_OK && is_tanh) s = anvil__pass_set_attr_string(run, last, "approximate", "tanh");
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; s == ANVIL_OK && i + 1 < m.n; i++)
        s = anvil__pass_kill(run, u, m.nodes[i]);
    *changed = s == ANVIL_OK;
    return s;
}
