/*
 * graph.c — building and destroying the IR: values, nodes, attributes, initializers, and the
 * name index. Checking a finished graph is verify.c's job; printing it is print.c's.
 */
#include "ir/ir.h"

#include <string.h>

int64_t anvil__tensor_numel(const anvil__tensor *t) { return anvil_shape_numel(t->rank, t->dims); }

anvil_status anvil__tensor_shape(anvil__tensor *t, anvil_dtype dtype, int32_t rank,
                                 const int64_t *dims) {
    char buf[ANVIL_SHAPE_STR_MAX];
    if (!anvil__dtype_valid(dtype))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "unsupported dtype %d", (int)dtype);
    if (rank < 0 || rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "rank %d is over the maximum of %d",
                            (int)rank, ANVIL_MAX_RANK);
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "negative dim %lld in shape %s",
                                (long long)dims[i], anvil__shape_str(rank, dims, buf, sizeof buf));
    }
    int64_t n = anvil_shape_numel(rank, dims);
    size_t bytes;
    if (n < 0 || !anvil__mul_size((size_t)n, anvil_dtype_size(dtype), &bytes) ||
        bytes > ANVIL_MAX_ALLOC)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "shape %s of %s is too large (limit %zu bytes)",
                            anvil__shape_str(rank, dims, buf, sizeof buf), anvil_dtype_name(dtype),
                            (size_t)ANVIL_MAX_ALLOC);
    t->dtype = dtype;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->bytes = bytes;
    return ANVIL_OK;
}

anvil_status anvil__tensor_alloc(anvil__tensor *t) {
    t->data = anvil__calloc(1, t->bytes ? t->bytes : 1);
    return t->data ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
}

anvil__graph *anvil__graph_new(anvil__graph *parent) {
    anvil__graph *g = anvil__calloc(1, sizeof *g);
    if (!g) return NULL;
    g->parent = parent;
    g->opset = parent ? parent->opset : 0;
    return g;
}

static void attr_free(anvil__attr *a) {
    anvil__free(a->name);
    anvil__free(a->s);
    anvil__free(a->floats);
    anvil__free(a->ints);
    for (size_t i = 0; a->strings && i < a->n; i++) anvil__free(a->strings[i]);
    anvil__free(a->strings);
    anvil__free(a->t.data);
    anvil__graph_destroy(a->g);
}

void anvil__node_clear(anvil__node *n) {
    anvil__free(n->name);
    anvil__free(n->op_type);
    anvil__free(n->domain);
    anvil__free(n->inputs);
    anvil__free(n->outputs);
    for (int32_t a = 0; a < n->n_attrs; a++) attr_free(&n->attrs[a]);
    anvil__free(n->attrs);
    anvil__free(n->fused);
    memset(n, 0, sizeof *n);
}

void anvil__graph_destroy(anvil__graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_values; i++) {
        anvil__free(g->values[i].name);
        for (int d = 0; d < ANVIL_MAX_RANK; d++) anvil__free(g->values[i].dim_names[d]);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) anvil__node_clear(&g->nodes[i]);
    for (int32_t i = 0; i < g->n_inits; i++)
        if (g->inits[i].owned) anvil__free(g->inits[i].t.data);
    anvil__free(g->values);
    anvil__free(g->nodes);
    anvil__free(g->inits);
    anvil__free(g->inputs);
    anvil__free(g->outputs);
    anvil__free(g->name);
    anvil__name_map_free(&g->names);
    anvil__free(g);
}

/* Grows an array to hold one more element; doubles capacity. */
static anvil_status reserve(void **items, int32_t *cap, int32_t count, size_t elem) {
    if (count < *cap) return ANVIL_OK;
    if (count >= INT32_MAX / 2)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "graph has too many elements");
    int32_t ncap = *cap ? *cap * 2 : 16;
    void *p = anvil__realloc(*items, (size_t)ncap * elem);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *items = p;
    *cap = ncap;
    return ANVIL_OK;
}

int32_t anvil__graph_find(const anvil__graph *g, const char *name) {
    return anvil__name_map_get(&g->names, name);
}

anvil_status anvil__graph_add_value(anvil__graph *g, const char *name, int32_t *out_id) {
    if (anvil__graph_find(g, name) >= 0)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "value '%s' is defined twice", name);
    anvil_status s = reserve((void **)&g->values, &g->cap_values, g->n_values, sizeof *g->values);
    if (s != ANVIL_OK) return s;
    anvil__value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    if (!(v->name = anvil__strdup(name))) return ANVIL_STATUS_OUT_OF_MEMORY;
    v->rank = -1;
    v->producer = -1;
    v->init = -1;
    for (int d = 0; d < ANVIL_MAX_RANK; d++) v->dims[d] = -1;
    s = anvil__name_map_put(&g->names, v->name, g->n_values);
    if (s != ANVIL_OK) {
        anvil__free(v->name);
        return s;
    }
    *out_id = g->n_values++;
    return ANVIL_OK;
}

anvil_status anvil__graph_value(anvil__graph *g, const char *name, int32_t *out_id) {
    int32_t id = anvil__graph_find(g, name);
    if (id >= 0) {
        *out_id = id;
        return ANVIL_OK;
    }
    return anvil__graph_add_value(g, name, out_id);
}

static anvil_status copy_ids(int32_t **dst, const int32_t *src, int32_t n) {
    *dst = anvil__malloc_array(n > 0 ? (size_t)n : 1, sizeof **dst);
    if (!*dst) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (n > 0) memcpy(*dst, src, (size_t)n * sizeof **dst);
    return ANVIL_OK;
}

anvil_status anvil__graph_add_node(anvil__graph *g, const char *name, const char *op_type,
                                   const char *domain, const int32_t *inputs, int32_t n_inputs,
                                   const int32_t *outputs, int32_t n_outputs, int32_t *out_id) {
    anvil_status s = reserve((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes);
    if (s != ANVIL_OK) return s;
    anvil__node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = -1;
    n->name = anvil__strdup(name ? name : "");
    n->op_type = anvil__strdup(op_type ? op_type : "");
    n->domain = anvil__strdup(domain ? domain : "");
    if (!n->name || !n->op_type || !n->domain || copy_ids(&n->inputs, inputs, n_inputs) ||
        copy_ids(&n->outputs, outputs, n_outputs)) {
        anvil__free(n->name);
        anvil__free(n->op_type);
        anvil__free(n->domain);
        anvil__free(n->inputs);
        anvil__free(n->outputs);
        memset(n, 0, sizeof *n);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int32_t i = 0; i < n_outputs; i++)
        if (outputs[i] >= 0 && outputs[i] < g->n_values) g->values[outputs[i]].producer = g->n_nodes;
    if (out_id) *out_id = g->n_nodes;
    g->n_nodes++;
    return ANVIL_OK;
}

anvil_status anvil__node_add_attr(anvil__graph *g, int32_t node, const char *name,
                                  anvil__attr **out) {
    anvil__node *n = &g->nodes[node];
    anvil__attr *attrs = anvil__realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *attrs);
    if (!attrs) return ANVIL_STATUS_OUT_OF_MEMORY;
    n->attrs = attrs;
    anvil__attr *a = &attrs[n->n_attrs];
    memset(a, 0, sizeof *a);
    if (!(a->name = anvil__strdup(name))) return ANVIL_STATUS_OUT_OF_MEMORY;
    n->n_attrs++;
    *out = a;
    return ANVIL_OK;
}

static anvil_status append_id(int32_t **ids, int32_t *count, int32_t value) {
    int32_t *p = anvil__realloc(*ids, (size_t)(*count + 1) * sizeof *p);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    p[(*count)++] = value;
    *ids = p;
    return ANVIL_OK;
}

anvil_status anvil__graph_add_input(anvil__graph *g, int32_t value) {
    g->values[value].flags |= ANVIL_VALUE_INPUT;
    return append_id(&g->inputs, &g->n_inputs, value);
}

anvil_status anvil__graph_add_output(anvil__graph *g, int32_t value) {
    g->values[value].flags |= ANVIL_VALUE_OUTPUT;
    return append_id(&g->outputs, &g->n_outputs, value);
}

anvil_status anvil__graph_add_init(anvil__graph *g, int32_t value, const anvil__tensor *t,
                                   bool owned) {
    anvil__value *v = &g->values[value];
    if (v->flags & ANVIL_VALUE_INITIALIZER)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "initializer '%s' is defined twice",
                            v->name);
    anvil_status s = reserve((void **)&g->inits, &g->cap_inits, g->n_inits, sizeof *g->inits);
    if (s != ANVIL_OK) return s;
    anvil__init *in = &g->inits[g->n_inits];
    in->value = value;
    in->t = *t;
    in->owned = owned;
    v->flags |= ANVIL_VALUE_INITIALIZER;
    v->init = g->n_inits++;
    v->dtype = t->dtype;
    v->rank = t->rank;
    for (int32_t d = 0; d < t->rank; d++) v->dims[d] = t->dims[d];
    return ANVIL_OK;
}

const anvil__attr *anvil__node_attr(const anvil__node *n, const char *name) {
    for (int32_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}
