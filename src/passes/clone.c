/*
 * clone.c — deep copies of IR graphs for the compiler: values, nodes with every attribute kind
 * (tensors and subgraphs included), post-ops, inputs, outputs and optionally initializers.
 * The compile state starts from such a copy so passes never touch the caller's model.
 */
#include "passes/passes.h"

#include <string.h>

static anvil_status dup_bytes(void **dst, const void *src, size_t bytes) {
    *dst = NULL;
    if (!src) return ANVIL_OK;
    *dst = anvil__malloc(bytes ? bytes : 1);
    if (!*dst) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (bytes) memcpy(*dst, src, bytes);
    return ANVIL_OK;
}

/* Copies everything but the name (set by anvil__node_add_attr) into a zeroed dst. */
static anvil_status clone_attr(const anvil__attr *src, anvil__attr *dst, anvil__graph *owner) {
    dst->kind = src->kind;
    dst->f = src->f;
    dst->i = src->i;
    dst->n = src->n;
    anvil_status s = ANVIL_OK;
    if (src->s) {
        s = dup_bytes((void **)&dst->s, src->s, src->s_len + 1);
        dst->s_len = src->s_len;
    }
    if (s == ANVIL_OK && src->floats)
        s = dup_bytes((void **)&dst->floats, src->floats, src->n * sizeof *src->floats);
    if (s == ANVIL_OK && src->ints)
        s = dup_bytes((void **)&dst->ints, src->ints, src->n * sizeof *src->ints);
    if (s == ANVIL_OK && src->strings) {
        dst->strings = anvil__calloc(src->n ? src->n : 1, sizeof *dst->strings);
        if (!dst->strings) return ANVIL_STATUS_OUT_OF_MEMORY;
        for (size_t k = 0; k < src->n; k++)
            if (src->strings[k] && !(dst->strings[k] = anvil__strdup(src->strings[k])))
                return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    if (s == ANVIL_OK && src->kind == ANVIL_ATTR_TENSOR) {
        dst->t = src->t;
        s = dup_bytes(&dst->t.data, src->t.data, src->t.bytes);
    }
    if (s == ANVIL_OK && src->g) s = anvil__pass_clone_graph(src->g, owner, true, &dst->g);
    return s;
}

static anvil_status clone_values(const anvil__graph *src, anvil__graph *g) {
    for (int32_t v = 0; v < src->n_values; v++) {
        const anvil__value *sv = &src->values[v];
        int32_t id;
        anvil_status s = anvil__graph_add_value(g, sv->name, &id);
        if (s != ANVIL_OK) return s;
        anvil__value *dv = &g->values[id];
        dv->dtype = sv->dtype;
        dv->rank = sv->rank;
        memcpy(dv->dims, sv->dims, sizeof dv->dims);
        for (int d = 0; d < ANVIL_MAX_RANK; d++)
            if (sv->dim_names[d] && !(dv->dim_names[d] = anvil__strdup(sv->dim_names[d])))
                return ANVIL_STATUS_OUT_OF_MEMORY;
        /* Input/output flags come back with the lists below; initializers with theirs. */
        dv->flags = sv->flags & ANVIL_VALUE_OUTER;
        dv->producer = sv->producer;
    }
    return ANVIL_OK;
}

anvil_status anvil__pass_copy_attrs(anvil__graph *g, int32_t node, const anvil__node *from) {
    for (int32_t a = 0; a < from->n_attrs; a++) {
        anvil__attr *da;
        anvil_status s = anvil__node_add_attr(g, node, from->attrs[a].name, &da);
        if (s == ANVIL_OK) s = clone_attr(&from->attrs[a], da, g);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status clone_node(const anvil__node *sn, anvil__graph *g) {
    int32_t id;
    anvil_status s = anvil__graph_add_node(g, sn->name, sn->op_type, sn->domain, sn->inputs,
                                           sn->n_inputs, sn->outputs, sn->n_outputs, &id);
    if (s != ANVIL_OK) return s;
    anvil__node *dn = &g->nodes[id];
    dn->op = sn->op;
    dn->flags = sn->flags;
    dn->n_post = sn->n_post;
    memcpy(dn->post, sn->post, sizeof dn->post);
    if (sn->fused && !(dn->fused = anvil__strdup(sn->fused))) return ANVIL_STATUS_OUT_OF_MEMORY;
    return anvil__pass_copy_attrs(g, id, sn);
}

static anvil_status clone_body(const anvil__graph *src, anvil__graph *g, bool with_inits) {
    g->opset = src->opset;
    if (src->name && !(g->name = anvil__strdup(src->name))) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = clone_values(src, g);
    for (int32_t n = 0; s == ANVIL_OK && n < src->n_nodes; n++)
        s = clone_node(&src->nodes[n], g);
    for (int32_t i = 0; s == ANVIL_OK && i < src->n_inputs; i++)
        s = anvil__graph_add_input(g, src->inputs[i]);
    for (int32_t o = 0; s == ANVIL_OK && o < src->n_outputs; o++)
        s = anvil__graph_add_output(g, src->outputs[o]);
    for (int32_t i = 0; s == ANVIL_OK && with_inits && i < src->n_inits; i++) {
        const anvil__init *in = &src->inits[i];
        anvil__tensor t = in->t;
        if (in->owned) s = dup_bytes(&t.data, in->t.data, in->t.bytes);
        if (s == ANVIL_OK) s = anvil__graph_add_init(g, in->value, &t, in->owned);
        if (s != ANVIL_OK && in->owned) anvil__free(t.data);
    }
    return s;
}

anvil_status anvil__pass_clone_graph(const anvil__graph *src, anvil__graph *parent, bool with_inits,
                                     anvil__graph **out) {
    *out = NULL;
    anvil__graph *g = anvil__graph_new(parent);
    if (!g) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = clone_body(src, g, with_inits);
    if (s != ANVIL_OK) {
        anvil__graph_destroy(g);
        return s;
    }
    *out = g;
    return ANVIL_OK;
}
