/*
 * pass_util.c — small graph queries and edits shared by the passes: the node-by-node walk,
 * producers, scalar slots, shape equality, taking over an output, attribute setters. Reader
 * counts and the edits that keep them current are uses.c's. No pass logic here.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <math.h>
#include <string.h>

bool anvil__pass_disabled(const anvil__compile_state *st, anvil_pass p) {
    return (st->disabled & (1u << (unsigned)p)) != 0;
}

anvil_status anvil__pass_each_node(anvil__compile_state *st, anvil_pass p, anvil__pass_node_fn fn) {
    if (anvil__pass_disabled(st, p)) return ANVIL_OK;
    anvil__uses u = {0};
    anvil_status s = anvil__pass_uses_init(st->run, &u);
    for (int32_t ni = 0; s == ANVIL_OK && ni < st->run->n_nodes; ni++) {
        if (st->run->nodes[ni].flags & ANVIL_NODE_DEAD) continue;
        bool changed;
        s = fn(st, &u, ni, &changed);
    }
    anvil__pass_uses_free(&u);
    return s;
}

int32_t anvil__pass_producer(const anvil__graph *g, int32_t v) {
    if (v < 0 || v >= g->n_values) return -1;
    int32_t p = g->values[v].producer;
    if (p < 0 || p >= g->n_nodes || (g->nodes[p].flags & ANVIL_NODE_DEAD)) return -1;
    for (int32_t o = 0; o < g->nodes[p].n_outputs; o++)
        if (g->nodes[p].outputs[o] == v) return p;
    return -1;
}

bool anvil__pass_scalar(const anvil__compile_state *st, int32_t v, double *out) {
    const anvil__tensor *t = anvil__compile_slot_data(st, v);
    if (!t || !t->data || anvil__tensor_numel(t) != 1) return false;
    if (!anvil__dtype_is_float(t->dtype) && !anvil__dtype_is_int(t->dtype)) return false;
    *out = anvil__load_f64(t->dtype, t->data, 0);
    return true;
}

bool anvil__pass_is_const(const anvil__compile_state *st, int32_t v, double target,
                          double rel_tol) {
    double x;
    return anvil__pass_scalar(st, v, &x) && fabs(x - target) <= rel_tol * fabs(target);
}

int32_t anvil__pass_consumer_op(const anvil__graph *g, const anvil__uses *u, int32_t v,
                                int32_t op) {
    int32_t c = anvil__pass_sole_consumer(g, u, v);
    return c >= 0 && g->nodes[c].op == op && g->nodes[c].n_post == 0 ? c : -1;
}

int32_t anvil__pass_other_input(const anvil__node *n, int32_t v) {
    if (n->n_inputs != 2 || v < 0) return -1;
    if (n->inputs[0] == v && n->inputs[1] != v) return n->inputs[1];
    if (n->inputs[1] == v && n->inputs[0] != v) return n->inputs[0];
    return -1;
}

bool anvil__pass_shape_known(const anvil__value *v) {
    if (v->rank < 0) return false;
    for (int32_t d = 0; d < v->rank; d++)
        if (v->dims[d] < 0) return false;
    return true;
}

bool anvil__pass_same_shape(const anvil__value *a, const anvil__value *b) {
    if (a->dtype != b->dtype || a->rank != b->rank || !anvil__pass_shape_known(a) ||
        !anvil__pass_shape_known(b))
        return false;
    for (int32_t d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

void anvil__pass_take_output(anvil__graph *g, int32_t node, int32_t index, int32_t value) {
    anvil__node *n = &g->nodes[node];
    int32_t old = n->outputs[index];
    if (old >= 0 && old != value && g->values[old].producer == node) g->values[old].producer = -1;
    n->outputs[index] = value;
    g->values[value].producer = node;
}

/* The attribute `name` of node `node`, emptied for reuse, or a new one. */
static anvil_status attr_slot(anvil__graph *g, int32_t node, const char *name, anvil__attr **out) {
    anvil__node *n = &g->nodes[node];
    for (int32_t a = 0; a < n->n_attrs; a++) {
        if (strcmp(n->attrs[a].name, name) != 0) continue;
        /* Drop it (keeping order irrelevant) and add a fresh one. */
        anvil__node tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.n_attrs = 1;
        tmp.attrs = anvil__malloc(sizeof *tmp.attrs);
        if (!tmp.attrs) return ANVIL_STATUS_OUT_OF_MEMORY;
        tmp.attrs[0] = n->attrs[a];
        n->attrs[a] = n->attrs[n->n_attrs - 1];
        n->n_attrs--;
        anvil__node_clear(&tmp);
        break;
    }
    return anvil__node_add_attr(g, node, name, out);
}

anvil_status anvil__pass_set_attr_int(anvil__graph *g, int32_t node, const char *name, int64_t v) {
    anvil__attr *a;
    anvil_status s = attr_slot(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_INT;
    a->i = v;
    return ANVIL_OK;
}

anvil_status anvil__pass_set_attr_float(anvil__graph *g, int32_t node, const char *name, double v) {
    anvil__attr *a;
    anvil_status s = attr_slot(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_FLOAT;
    a->f = v;
    return ANVIL_OK;
}

anvil_status anvil__pass_set_attr_string(anvil__graph *g, int32_t node, const char *name,
                                         const char *v) {
    anvil__attr *a;
    anvil_status s = attr_slot(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_STRING;
    if (!(a->s = anvil__strdup(v))) return ANVIL_STATUS_OUT_OF_MEMORY;
    a->s_len = strlen(v);
    return ANVIL_OK;
}

anvil_status anvil__pass_set_attr_ints(anvil__graph *g, int32_t node, const char *name,
                                       const int64_t *v, size_t n) {
    anvil__attr *a;
    anvil_status s = attr_slot(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_INTS;
    a->ints = anvil__malloc_array(n ? n : 1, sizeof *a->ints);
    if (!a->ints) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (n) memcpy(a->ints, v, n * sizeof *v);
    a->n = n;
    return ANVIL_OK;
}
