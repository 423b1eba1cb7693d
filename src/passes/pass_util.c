/*
 * pass_util.c — small graph queries and edits shared by the passes: use counts (subgraph
 * captures included), sole consumers, scalar slots, shape equality, in-place node rewrites,
 * bypassing a node that copies its input, and attribute setters. No pass logic here.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <math.h>
#include <string.h>

bool anvil__pass_disabled(const anvil__compile_state *st, anvil_pass p) {
    return (st->disabled & (1u << (unsigned)p)) != 0;
}

/* Adds 1 to uses[v] for every value of g that subgraph `sub` (at any depth) captures. */
static void count_captures(const anvil__graph *g, const anvil__graph *sub, int32_t *uses) {
    for (int32_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & ANVIL_VALUE_OUTER)) continue;
        int32_t id = anvil__graph_find(g, sub->values[v].name);
        if (id >= 0) uses[id]++;
    }
    for (int32_t n = 0; n < sub->n_nodes; n++)
        for (int32_t a = 0; a < sub->nodes[n].n_attrs; a++)
            if (sub->nodes[n].attrs[a].g) count_captures(g, sub->nodes[n].attrs[a].g, uses);
}

anvil_status anvil__pass_count_uses(const anvil__graph *g, int32_t **out) {
    int32_t *uses = anvil__calloc((size_t)g->n_values + 1, sizeof *uses);
    *out = uses;
    if (!uses) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        const anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++)
            if (n->inputs[i] >= 0) uses[n->inputs[i]]++;
        for (int32_t a = 0; a < n->n_attrs; a++)
            if (n->attrs[a].g) count_captures(g, n->attrs[a].g, uses);
    }
    return ANVIL_OK;
}

int32_t anvil__pass_sole_consumer(const anvil__graph *g, const int32_t *uses, int32_t v) {
    if (v < 0 || v >= g->n_values || uses[v] != 1) return -1;
    if (g->values[v].flags & ANVIL_VALUE_OUTPUT) return -1;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        const anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++)
            if (n->inputs[i] == v) return ni;
    }
    return -1; /* the one use is a capture */
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

int32_t anvil__pass_consumer_op(const anvil__graph *g, const int32_t *uses, int32_t v, int32_t op) {
    int32_t c = anvil__pass_sole_consumer(g, uses, v);
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

static void free_attrs(anvil__node *n) {
    /* anvil__node_clear frees attributes with everything else; keep the rest of the node. */
    anvil__node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.n_attrs = n->n_attrs;
    tmp.attrs = n->attrs;
    anvil__node_clear(&tmp);
    n->attrs = NULL;
    n->n_attrs = 0;
}

anvil_status anvil__pass_rewrite_node(anvil__graph *g, int32_t node, const char *op_type,
                                      const int32_t *inputs, int32_t n_inputs) {
    anvil__node *n = &g->nodes[node];
    int32_t op = anvil__op_find(op_type, "");
    char *type = anvil__strdup(op_type), *domain = anvil__strdup("");
    int32_t *ins = anvil__malloc_array((size_t)n_inputs + 1, sizeof *ins);
    if (op < 0 || !type || !domain || !ins) {
        anvil__free(type);
        anvil__free(domain);
        anvil__free(ins);
        return op < 0 ? anvil__error(ANVIL_STATUS_INTERNAL, "no op '%s'", op_type)
                      : ANVIL_STATUS_OUT_OF_MEMORY;
    }
    if (n_inputs) memcpy(ins, inputs, (size_t)n_inputs * sizeof *ins);
    free_attrs(n);
    anvil__free(n->op_type);
    anvil__free(n->domain);
    anvil__free(n->inputs);
    n->op_type = type;
    n->domain = domain;
    n->op = op;
    n->inputs = ins;
    n->n_inputs = n_inputs;
    n->n_post = 0;
    return ANVIL_OK;
}

void anvil__pass_take_output(anvil__graph *g, int32_t node, int32_t index, int32_t value) {
    anvil__node *n = &g->nodes[node];
    int32_t old = n->outputs[index];
    if (old >= 0 && old != value && g->values[old].producer == node) g->values[old].producer = -1;
    n->outputs[index] = value;
    g->values[value].producer = node;
}

/* Whether value v is read by a subgraph of some live node. */
static bool captured(const anvil__graph *g, const int32_t *uses, int32_t v) {
    int32_t direct = 0;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        const anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++)
            direct += n->inputs[i] == v;
    }
    return direct != uses[v];
}

bool anvil__pass_bypass(anvil__graph *g, const int32_t *uses, int32_t node, int32_t in,
                        int32_t out) {
    if (in < 0 || out < 0 || captured(g, uses, out)) return false;
    if (!(g->values[out].flags & ANVIL_VALUE_OUTPUT)) {
        for (int32_t ni = 0; ni < g->n_nodes; ni++) {
            anvil__node *n = &g->nodes[ni];
            if (n->flags & ANVIL_NODE_DEAD) continue;
            for (int32_t i = 0; i < n->n_inputs; i++)
                if (n->inputs[i] == out) n->inputs[i] = in;
        }
        g->nodes[node].flags |= ANVIL_NODE_DEAD;
        return true;
    }
    /* `out` keeps its name: the producer of `in` writes it instead, if `in` is only ours. */
    int32_t p = anvil__pass_producer(g, in);
    if (p < 0 || anvil__pass_sole_consumer(g, uses, in) != node) return false;
    for (int32_t o = 0; o < g->nodes[p].n_outputs; o++)
        if (g->nodes[p].outputs[o] == in) anvil__pass_take_output(g, p, o, out);
    g->nodes[node].flags |= ANVIL_NODE_DEAD;
    return true;
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
