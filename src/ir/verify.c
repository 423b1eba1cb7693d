/*
 * verify.c — structural checks on a graph (single assignment, every use defined before it,
 * consistent ids and initializers, outer references that resolve) and the stable topological
 * sort that puts nodes in an order the checks accept. Recurses into subgraphs. Op-specific
 * checks (attributes, input counts) belong to the op registry, not here.
 */
#include "ir/ir.h"

#include <stdio.h>
#include <string.h>

static const char *node_label(const anvil__node *n, char *buf, size_t size, int32_t index) {
    if (n->name && n->name[0]) return n->name;
    snprintf(buf, size, "#%d", (int)index);
    return buf;
}

/* ---- implicit inputs: values of `g` that a node's subgraphs read as outer references ---- */

typedef struct id_list {
    int32_t *ids;
    size_t n, cap;
} id_list;

static anvil_status id_push(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        int32_t *p = anvil__realloc(l->ids, cap * sizeof *p);
        if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return ANVIL_OK;
}

static anvil_status outer_refs(const anvil__graph *g, const anvil__graph *sub, id_list *out) {
    for (int32_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & ANVIL_VALUE_OUTER)) continue;
        int32_t id = anvil__graph_find(g, sub->values[v].name);
        if (id >= 0) {
            anvil_status s = id_push(out, id);
            if (s != ANVIL_OK) return s;
        }
    }
    for (int32_t i = 0; i < sub->n_nodes; i++) {
        const anvil__node *n = &sub->nodes[i];
        for (int32_t a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].kind != ANVIL_ATTR_GRAPH || !n->attrs[a].g) continue;
            anvil_status s = outer_refs(g, n->attrs[a].g, out);
            if (s != ANVIL_OK) return s;
        }
    }
    return ANVIL_OK;
}

/* Every value id node `i` reads: its inputs, then its subgraphs' references into `g`. */
static anvil_status node_reads(const anvil__graph *g, int32_t i, id_list *out) {
    const anvil__node *n = &g->nodes[i];
    out->n = 0;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        if (n->inputs[k] < 0) continue;
        anvil_status s = id_push(out, n->inputs[k]);
        if (s != ANVIL_OK) return s;
    }
    for (int32_t a = 0; a < n->n_attrs; a++) {
        if (n->attrs[a].kind != ANVIL_ATTR_GRAPH || !n->attrs[a].g) continue;
        anvil_status s = outer_refs(g, n->attrs[a].g, out);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

/* ---- producers ---- */

/* prod[v] = the node writing value v, or -1. Fails on bad ids and on a value written twice. */
static anvil_status find_producers(const anvil__graph *g, int32_t *prod) {
    char b1[16], b2[16];
    for (int32_t v = 0; v < g->n_values; v++) prod[v] = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const anvil__node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_outputs; k++) {
            int32_t o = n->outputs[k];
            if (o < 0) continue;
            if (o >= g->n_values)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "node '%s' (%s): output %d has invalid value id %d",
                                    node_label(n, b1, sizeof b1, i), n->op_type, (int)k, (int)o);
            const anvil__value *v = &g->values[o];
            if (prod[o] >= 0)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "value '%s' is defined twice: by node '%s' and node '%s'",
                                    v->name,
                                    node_label(&g->nodes[prod[o]], b2, sizeof b2, prod[o]),
                                    node_label(n, b1, sizeof b1, i));
            if (v->flags & (ANVIL_VALUE_INPUT | ANVIL_VALUE_INITIALIZER | ANVIL_VALUE_OUTER))
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "value '%s' is defined twice: as %s and by node '%s' (%s)",
                                    v->name,
                                    v->flags & ANVIL_VALUE_INPUT         ? "a graph input"
                                    : v->flags & ANVIL_VALUE_INITIALIZER ? "an initializer"
                                                                         : "an outer reference",
                                    node_label(n, b1, sizeof b1, i), n->op_type);
            prod[o] = i;
        }
    }
    return ANVIL_OK;
}

/* ---- topological sort ---- */

typedef struct heap { /* min-heap of node indices: ready nodes come out in original order */
    int32_t *a;
    int32_t n;
} heap;

static void heap_push(heap *h, int32_t x) {
    int32_t i = h->n++;
    while (i > 0 && h->a[(i - 1) / 2] > x) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = x;
}

static int32_t heap_pop(heap *h) {
    int32_t top = h->a[0], x = h->a[--h->n], i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->a[c + 1] < h->a[c]) c++;
        if (h->a[c] >= x) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = x;
    return top;
}

typedef struct topo {
    int32_t *prod, *indeg, *first, *users, *order, *heap_a;
    id_list reads;
} topo;

/* Names the nodes of a cycle among the nodes left unsorted (indeg > 0). */
static anvil_status cycle_error(const anvil__graph *g, topo *t) {
    int32_t at = 0;
    while (at < g->n_nodes && t->indeg[at] == 0) at++;
    /* Walk backwards along unsorted producers: after n steps we are on a cycle. */
    for (int32_t step = 0; step <= g->n_nodes; step++) {
        if (node_reads(g, at, &t->reads) != ANVIL_OK) return ANVIL_STATUS_OUT_OF_MEMORY;
        for (size_t k = 0; k < t->reads.n; k++) {
            int32_t p = t->prod[t->reads.ids[k]];
            if (p >= 0 && t->indeg[p] > 0) {
                at = p;
                break;
            }
        }
    }
    char names[512] = "", b[16];
    size_t len = 0;
    int32_t cur = at;
    for (int hops = 0; hops < 6; hops++) {
        len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s' (%s)",
                                hops ? " -> " : "", node_label(&g->nodes[cur], b, sizeof b, cur),
                                g->nodes[cur].op_type);
        if (len >= sizeof names) break;
        if (node_reads(g, cur, &t->reads) != ANVIL_OK) return ANVIL_STATUS_OUT_OF_MEMORY;
        int32_t next = -1;
        for (size_t k = 0; k < t->reads.n && next < 0; k++) {
            int32_t p = t->prod[t->reads.ids[k]];
            if (p >= 0 && t->indeg[p] > 0) next = p;
        }
        if (next < 0 || next == at) break;
        cur = next;
    }
    return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                        "graph '%s' has a cycle through node '%s' (%s): %s",
                        g->name ? g->name : "", node_label(&g->nodes[at], b, sizeof b, at),
                        g->nodes[at].op_type, names);
}

/* Kahn's algorithm over producer → consumer edges. */
static anvil_status sort_order(const anvil__graph *g, topo *t) {
    int32_t n = g->n_nodes;
    for (int32_t i = 0; i < n; i++) t->first[i + 1] = 0;
    for (int32_t i = 0; i < n; i++) { /* count edges per producer */
        anvil_status s = node_reads(g, i, &t->reads);
        if (s != ANVIL_OK) return s;
        for (size_t k = 0; k < t->reads.n; k++) {
            int32_t v = t->reads.ids[k];
            if (v >= g->n_values)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "node '%s' (%s): input has invalid value id %d",
                                    g->nodes[i].name, g->nodes[i].op_type, (int)v);
            if (t->prod[v] < 0) continue;
            t->indeg[i]++;
            t->first[t->prod[v] + 1]++;
        }
    }
    for (int32_t i = 0; i < n; i++) t->first[i + 1] += t->first[i];
    int32_t *fill = t->order; /* borrowed as a cursor array until the sort starts */
    for (int32_t i = 0; i < n; i++) fill[i] = t->first[i];
    for (int32_t i = 0; i < n; i++) {
        anvil_status s = node_reads(g, i, &t->reads);
        if (s != ANVIL_OK) return s;
        for (size_t k = 0; k < t->reads.n; k++) {
            int32_t p = t->prod[t->reads.ids[k]];
            if (p >= 0) t->users[fill[p]++] = i;
        }
    }
    heap h = {t->heap_a, 0};
    for (int32_t i = 0; i < n; i++)
        if (t->indeg[i] == 0) heap_push(&h, i);
    int32_t done = 0;
    while (h.n > 0) {
        int32_t i = heap_pop(&h);
        t->order[done++] = i;
        for (int32_t e = t->first[i]; e < t->first[i + 1]; e++)
            if (--t->indeg[t->users[e]] == 0) heap_push(&h, t->users[e]);
    }
    return done == n ? ANVIL_OK : cycle_error(g, t);
}

static anvil_status apply_order(anvil__graph *g, const int32_t *order) {
    if (g->n_nodes == 0) return ANVIL_OK; /* g->nodes may be NULL */
    anvil__node *nodes = anvil__malloc_array((size_t)g->n_nodes, sizeof *nodes);
    if (!nodes) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < g->n_nodes; i++) nodes[i] = g->nodes[order[i]];
    memcpy(g->nodes, nodes, (size_t)g->n_nodes * sizeof *nodes);
    anvil__free(nodes);
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = i;
    return ANVIL_OK;
}

anvil_status anvil__graph_toposort(anvil__graph *g) {
    if (!g) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "graph is NULL");
    size_t n = (size_t)g->n_nodes, nv = (size_t)g->n_values;
    topo t;
    memset(&t, 0, sizeof t);
    t.prod = anvil__malloc_array(nv + 1, sizeof *t.prod);
    t.indeg = anvil__calloc(n + 1, sizeof *t.indeg);
    t.first = anvil__calloc(n + 2, sizeof *t.first);
    t.order = anvil__malloc_array(n + 1, sizeof *t.order);
    t.heap_a = anvil__malloc_array(n + 1, sizeof *t.heap_a);
    anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (t.prod && t.indeg && t.first && t.order && t.heap_a) s = find_producers(g, t.prod);
    if (s == ANVIL_OK) { /* one slot per edge: count them first */
        size_t edges = 0;
        for (int32_t i = 0; i < g->n_nodes && s == ANVIL_OK; i++) {
            s = node_reads(g, i, &t.reads);
            edges += t.reads.n;
        }
        if (s == ANVIL_OK && !(t.users = anvil__malloc_array(edges + 1, sizeof *t.users)))
            s = ANVIL_STATUS_OUT_OF_MEMORY;
    }
    if (s == ANVIL_OK) s = sort_order(g, &t);
    if (s == ANVIL_OK) s = apply_order(g, t.order);
    anvil__free(t.prod);
    anvil__free(t.indeg);
    anvil__free(t.first);
    anvil__free(t.users);
    anvil__free(t.order);
    anvil__free(t.heap_a);
    anvil__free(t.reads.ids);
    for (int32_t i = 0; i < g->n_nodes && s == ANVIL_OK; i++)
        for (int32_t a = 0; a < g->nodes[i].n_attrs && s == ANVIL_OK; a++)
            if (g->nodes[i].attrs[a].kind == ANVIL_ATTR_GRAPH && g->nodes[i].attrs[a].g)
                s = anvil__graph_toposort(g->nodes[i].attrs[a].g);
    return s;
}

/* ---- verification ---- */

static bool defined_outside(const anvil__graph *g, const char *name) {
    for (const anvil__graph *p = g->parent; p; p = p->parent)
        if (anvil__graph_find(p, name) >= 0) return true;
    return false;
}

static anvil_status check_values(const anvil__graph *g) {
    for (int32_t v = 0; v < g->n_values; v++) {
        const anvil__value *val = &g->values[v];
        if (val->dtype != ANVIL_DTYPE_UNDEFINED && !anvil__dtype_valid(val->dtype))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "value '%s' has invalid dtype %d",
                                val->name, (int)val->dtype);
        if (val->rank < -1 || val->rank > ANVIL_MAX_RANK)
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "value '%s' has invalid rank %d",
                                val->name, (int)val->rank);
        if ((val->flags & ANVIL_VALUE_INPUT) && (val->flags & ANVIL_VALUE_INITIALIZER))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "value '%s' is both a graph input and an initializer", val->name);
        if ((val->flags & ANVIL_VALUE_OUTER) && !defined_outside(g, val->name))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "subgraph '%s' refers to '%s', which no enclosing graph defines",
                                g->name ? g->name : "", val->name);
    }
    for (int32_t i = 0; i < g->n_inits; i++) {
        const anvil__init *in = &g->inits[i];
        if (in->value < 0 || in->value >= g->n_values || g->values[in->value].init != i ||
            !(g->values[in->value].flags & ANVIL_VALUE_INITIALIZER))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "initializer #%d refers to value %d, which does not point back",
                                (int)i, (int)in->value);
        size_t bytes;
        int64_t numel = anvil__tensor_numel(&in->t);
        if (numel < 0 || !anvil__mul_size((size_t)numel, anvil_dtype_size(in->t.dtype), &bytes) ||
            bytes != in->t.bytes || (!in->t.data && bytes))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "initializer '%s': %zu bytes of data do not match its shape",
                                g->values[in->value].name, in->t.bytes);
    }
    return ANVIL_OK;
}

static anvil_status check_inputs(const anvil__graph *g, uint8_t *seen) {
    memset(seen, 0, (size_t)g->n_values + 1);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        int32_t v = g->inputs[i];
        if (v < 0 || v >= g->n_values || !(g->values[v].flags & ANVIL_VALUE_INPUT))
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "graph input #%d has invalid id %d",
                                (int)i, (int)v);
        if (seen[v]++)
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "value '%s' is defined twice: listed twice as a graph input",
                                g->values[v].name);
    }
    return ANVIL_OK;
}

/* Walks nodes in order: everything read must already be defined. */
static anvil_status check_order(const anvil__graph *g, const int32_t *prod, uint8_t *defined,
                                id_list *reads) {
    char b1[16], b2[16];
    for (int32_t v = 0; v < g->n_values; v++)
        defined[v] = (g->values[v].flags &
                      (ANVIL_VALUE_INPUT | ANVIL_VALUE_INITIALIZER | ANVIL_VALUE_OUTER)) != 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const anvil__node *n = &g->nodes[i];
        anvil_status s = node_reads(g, i, reads);
        if (s != ANVIL_OK) return s;
        for (size_t k = 0; k < reads->n; k++) {
            int32_t v = reads->ids[k];
            if (v >= g->n_values)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "node '%s' (%s): input has invalid value id %d",
                                    node_label(n, b1, sizeof b1, i), n->op_type, (int)v);
            if (defined[v]) continue;
            if (prod[v] >= 0)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "node '%s' (%s) reads '%s' before node '%s' defines it "
                                    "(nodes are not in topological order)",
                                    node_label(n, b1, sizeof b1, i), n->op_type,
                                    g->values[v].name,
                                    node_label(&g->nodes[prod[v]], b2, sizeof b2, prod[v]));
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "node '%s' (%s): input '%s' is used but never defined",
                                node_label(n, b1, sizeof b1, i), n->op_type, g->values[v].name);
        }
        for (int32_t k = 0; k < n->n_outputs; k++) {
            int32_t o = n->outputs[k];
            if (o < 0) continue;
            defined[o] = 1;
            if (g->values[o].producer != i)
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "value '%s' records producer %d, but node '%s' (#%d) "
                                    "writes it",
                                    g->values[o].name, (int)g->values[o].producer,
                                    node_label(n, b1, sizeof b1, i), (int)i);
        }
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        int32_t v = g->outputs[i];
        if (v < 0 || v >= g->n_values)
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "graph output #%d has invalid id %d",
                                (int)i, (int)v);
        if (!defined[v])
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "graph '%s': output '%s' is never defined", g->name ? g->name : "",
                                g->values[v].name);
    }
    return ANVIL_OK;
}

anvil_status anvil__graph_verify(const anvil__graph *g) {
    if (!g) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "graph is NULL");
    anvil_status s = check_values(g);
    if (s != ANVIL_OK) return s;
    int32_t *prod = anvil__malloc_array((size_t)g->n_values + 1, sizeof *prod);
    uint8_t *defined = anvil__malloc((size_t)g->n_values + 1);
    id_list reads = {NULL, 0, 0};
    s = prod && defined ? check_inputs(g, defined) : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = find_producers(g, prod);
    if (s == ANVIL_OK) s = check_order(g, prod, defined, &reads);
    anvil__free(prod);
    anvil__free(defined);
    anvil__free(reads.ids);
    for (int32_t i = 0; i < g->n_nodes && s == ANVIL_OK; i++) {
        const anvil__node *n = &g->nodes[i];
        for (int32_t a = 0; a < n->n_attrs && s == ANVIL_OK; a++) {
            const anvil__graph *sub = n->attrs[a].g;
            if (n->attrs[a].kind != ANVIL_ATTR_GRAPH) continue;
            if (!sub || sub->parent != g)
                s = anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                 "node '%s' (%s): graph attribute '%s' is %s", n->name,
                                 n->op_type, n->attrs[a].name,
                                 sub ? "not linked to its enclosing graph" : "missing");
            else
                s = anvil__graph_verify(sub);
        }
    }
    return s;
}
