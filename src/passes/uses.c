/*
 * uses.c — who reads each run value, kept current while a pass edits the graph: counting once
 * per pass, then adjusting on every edit (kill, set input, rewrite, bypass) instead of
 * recounting, so passes stay linear in the graph size. Subgraph captures (If branches reading
 * outer values by name) count as reads; the rare edit involving them recounts.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <string.h>

static bool has_subgraph(const anvil__node *n) {
    for (int32_t a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].g) return true;
    return false;
}

/* Adds 1 to count[v] for every value of g that subgraph `sub` (at any depth) captures. */
static void count_captures(const anvil__graph *g, const anvil__graph *sub, int32_t *count) {
    for (int32_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & ANVIL_VALUE_OUTER)) continue;
        int32_t id = anvil__graph_find(g, sub->values[v].name);
        if (id >= 0) count[id]++;
    }
    for (int32_t n = 0; n < sub->n_nodes; n++)
        for (int32_t a = 0; a < sub->nodes[n].n_attrs; a++)
            if (sub->nodes[n].attrs[a].g) count_captures(g, sub->nodes[n].attrs[a].g, count);
}

static anvil_status reserve(anvil__uses *u, int32_t n) {
    if (n <= u->cap) return ANVIL_OK;
    int32_t cap = u->cap ? u->cap : 16;
    while (cap < n)
        cap = cap > INT32_MAX / 2 ? n : cap * 2;
    int32_t *count = anvil__realloc(u->count, (size_t)cap * sizeof *count);
    if (!count) return ANVIL_STATUS_OUT_OF_MEMORY;
    u->count = count;
    int32_t *reader = anvil__realloc(u->reader, (size_t)cap * sizeof *reader);
    if (!reader) return ANVIL_STATUS_OUT_OF_MEMORY;
    u->reader = reader;
    for (int32_t v = u->cap; v < cap; v++) {
        u->count[v] = 0;
        u->reader[v] = -1;
    }
    u->cap = cap;
    return ANVIL_OK;
}

anvil_status anvil__pass_uses_init(const anvil__graph *g, anvil__uses *u) {
    anvil_status s = reserve(u, g->n_values + 1);
    if (s != ANVIL_OK) return s;
    for (int32_t v = 0; v < u->cap; v++) {
        u->count[v] = 0;
        u->reader[v] = -1;
    }
    u->n = g->n_values;
    u->captures = false;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        const anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++) {
            if (n->inputs[i] < 0) continue;
            u->count[n->inputs[i]]++;
            u->reader[n->inputs[i]] = ni;
        }
        for (int32_t a = 0; a < n->n_attrs; a++) {
            if (!n->attrs[a].g) continue;
            u->captures = true;
            count_captures(g, n->attrs[a].g, u->count);
        }
    }
    return ANVIL_OK;
}

void anvil__pass_uses_free(anvil__uses *u) {
    anvil__free(u->count);
    anvil__free(u->reader);
    memset(u, 0, sizeof *u);
}

int32_t anvil__pass_uses_of(const anvil__uses *u, int32_t v) {
    return v >= 0 && v < u->n ? u->count[v] : 0;
}

anvil_status anvil__pass_uses_node(const anvil__graph *g, anvil__uses *u, int32_t node,
                                   int32_t delta) {
    const anvil__node *n = &g->nodes[node];
    for (int32_t i = 0; i < n->n_inputs; i++) {
        int32_t v = n->inputs[i];
        if (v < 0) continue;
        if (v >= u->n) {
            anvil_status s = reserve(u, v + 1);
            if (s != ANVIL_OK) return s;
            u->n = v + 1;
        }
        u->count[v] += delta;
        if (delta > 0) u->reader[v] = node;
    }
    return ANVIL_OK;
}

anvil_status anvil__pass_kill(anvil__graph *g, anvil__uses *u, int32_t node) {
    anvil__node *n = &g->nodes[node];
    if (n->flags & ANVIL_NODE_DEAD) return ANVIL_OK;
    if (has_subgraph(n)) { /* its captures go too: recount */
        n->flags |= ANVIL_NODE_DEAD;
        return anvil__pass_uses_init(g, u);
    }
    anvil_status s = anvil__pass_uses_node(g, u, node, -1);
    n->flags |= ANVIL_NODE_DEAD;
    return s;
}

anvil_status anvil__pass_set_input(anvil__graph *g, anvil__uses *u, int32_t node, int32_t index,
                                   int32_t value) {
    anvil_status s = anvil__pass_uses_node(g, u, node, -1);
    if (s == ANVIL_OK) s = anvil__node_set_input(g, node, index, value);
    anvil_status s2 = anvil__pass_uses_node(g, u, node, +1);
    return s != ANVIL_OK ? s : s2;
}

static bool reads(const anvil__node *n, int32_t v) {
    if (n->flags & ANVIL_NODE_DEAD) return false;
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] == v) return true;
    return false;
}

int32_t anvil__pass_sole_consumer(const anvil__graph *g, const anvil__uses *u, int32_t v) {
    if (v < 0 || v >= g->n_values || anvil__pass_uses_of(u, v) != 1) return -1;
    if (g->values[v].flags & ANVIL_VALUE_OUTPUT) return -1;
    int32_t hint = u->reader[v];
    if (hint >= 0 && hint < g->n_nodes && reads(&g->nodes[hint], v)) return hint;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) /* the hint went stale */
        if (reads(&g->nodes[ni], v)) return ni;
    return -1; /* the one reference is a capture */
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

anvil_status anvil__pass_rewrite_node(anvil__graph *g, anvil__uses *u, int32_t node,
                                      const char *op_type, const int32_t *inputs,
                                      int32_t n_inputs) {
    int32_t op = anvil__op_find(op_type, "");
    char *type = anvil__strdup(op_type), *domain = anvil__strdup("");
    int32_t *ins = anvil__malloc_array((size_t)n_inputs + 1, sizeof *ins);
    anvil_status s = u ? anvil__pass_uses_node(g, u, node, -1) : ANVIL_OK;
    if (op < 0 || !type || !domain || !ins || s != ANVIL_OK) {
        anvil__free(type);
        anvil__free(domain);
        anvil__free(ins);
        if (s == ANVIL_OK && u) anvil__pass_uses_node(g, u, node, +1);
        return op < 0 ? anvil__error(ANVIL_STATUS_INTERNAL, "no op '%s'", op_type)
                      : ANVIL_STATUS_OUT_OF_MEMORY;
    }
    anvil__node *n = &g->nodes[node];
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
    return u ? anvil__pass_uses_node(g, u, node, +1) : ANVIL_OK;
}

/* Whether value v is read by a subgraph of some live node. */
static bool captured(const anvil__graph *g, const anvil__uses *u, int32_t v) {
    if (!u->captures) return false;
    int32_t direct = 0;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        const anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++)
            direct += n->inputs[i] == v;
    }
    return direct != anvil__pass_uses_of(u, v);
}

/* Makes every live reader of `out` read `in`, stopping once all references are moved. Readers
 * normally follow `from` (the producer of `out`; nodes are in topological order), so the scan
 * starts there and wraps around. */
static void rewire(anvil__graph *g, anvil__uses *u, int32_t from, int32_t in, int32_t out) {
    int32_t left = anvil__pass_uses_of(u, out);
    for (int32_t k = 1; k <= g->n_nodes && left > 0; k++) {
        int32_t ni = (int32_t)(((int64_t)from + k) % g->n_nodes);
        anvil__node *n = &g->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        for (int32_t i = 0; i < n->n_inputs; i++) {
            if (n->inputs[i] != out) continue;
            n->inputs[i] = in;
            u->count[in]++;
            u->count[out]--;
            u->reader[in] = ni;
            left--;
        }
    }
}

anvil_status anvil__pass_bypass(anvil__graph *g, anvil__uses *u, int32_t node, int32_t in,
                                int32_t out, bool *done) {
    *done = false;
    if (in < 0 || out < 0 || captured(g, u, out)) return ANVIL_OK;
    if (!(g->values[out].flags & ANVIL_VALUE_OUTPUT)) {
        anvil_status s = anvil__pass_kill(g, u, node);
        if (s != ANVIL_OK) return s;
        rewire(g, u, node, in, out);
        *done = true;
        return ANVIL_OK;
    }
    /* `out` keeps its name: the producer of `in` writes it instead, if `in` is only ours. */
    int32_t p = anvil__pass_producer(g, in);
    if (p < 0 || anvil__pass_sole_consumer(g, u, in) != node) return ANVIL_OK;
    for (int32_t o = 0; o < g->nodes[p].n_outputs; o++)
        if (g->nodes[p].outputs[o] == in) anvil__pass_take_output(g, p, o, out);
    *done = true;
    return anvil__pass_kill(g, u, node);
}
