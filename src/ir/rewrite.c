/*
 * rewrite.c — graph edits used by compiler passes: rewiring a node input, noting what was
 * fused into a node, and compaction (dropping dead nodes, unused values and initializers, then
 * renumbering ids). Passes mark nodes dead rather than deleting them in place, so ids stay
 * valid while a pass runs; the pipeline compacts once per pass.
 */
#include "ir/ir.h"

#include <string.h>

anvil_status anvil__node_set_input(anvil__graph *g, int32_t node, int32_t index, int32_t value) {
    anvil__node *n = &g->nodes[node];
    if (index < 0 || index > n->n_inputs)
        return anvil__error(ANVIL_STATUS_INTERNAL, "node '%s': bad input index %d", n->name,
                            (int)index);
    if (index == n->n_inputs) {
        int32_t *p = anvil__realloc(n->inputs, (size_t)(n->n_inputs + 1) * sizeof *p);
        if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
        n->inputs = p;
        n->n_inputs++;
    }
    n->inputs[index] = value;
    return ANVIL_OK;
}

anvil_status anvil__node_note_fused(anvil__node *n, const char *text) {
    size_t old = n->fused ? strlen(n->fused) : 0, add = strlen(text);
    char *p = anvil__realloc(n->fused, old + add + 2);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (old) p[old++] = '+';
    memcpy(p + old, text, add + 1);
    n->fused = p;
    return ANVIL_OK;
}

static void drop_dead_nodes(anvil__graph *g) {
    int32_t k = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].flags & ANVIL_NODE_DEAD) {
            anvil__node_clear(&g->nodes[i]);
            continue;
        }
        g->nodes[k++] = g->nodes[i];
    }
    g->n_nodes = k;
}

anvil_status anvil__graph_compact(anvil__graph *g) {
    drop_dead_nodes(g);
    size_t nv = (size_t)(g->n_values ? g->n_values : 1);
    int32_t *remap = anvil__malloc_array(nv, sizeof *remap);
    bool *used = anvil__calloc(nv, sizeof *used);
    if (!remap || !used) {
        anvil__free(remap);
        anvil__free(used);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (int32_t n = 0; n < g->n_nodes; n++) {
        for (int32_t i = 0; i < g->nodes[n].n_inputs; i++)
            if (g->nodes[n].inputs[i] >= 0) used[g->nodes[n].inputs[i]] = true;
        for (int32_t o = 0; o < g->nodes[n].n_outputs; o++)
            if (g->nodes[n].outputs[o] >= 0) used[g->nodes[n].outputs[o]] = true;
    }
    for (int32_t i = 0; i < g->n_inputs; i++) used[g->inputs[i]] = true;
    for (int32_t o = 0; o < g->n_outputs; o++) used[g->outputs[o]] = true;
    /* Values: keep used ones, renumbered in order. */
    int32_t k = 0;
    for (int32_t v = 0; v < g->n_values; v++) {
        if (!used[v]) {
            anvil__free(g->values[v].name);
            for (int d = 0; d < ANVIL_MAX_RANK; d++) anvil__free(g->values[v].dim_names[d]);
            remap[v] = -1;
            continue;
        }
        remap[v] = k;
        g->values[k++] = g->values[v];
    }
    g->n_values = k;
    /* Initializers whose value was dropped go too. */
    int32_t ki = 0;
    for (int32_t i = 0; i < g->n_inits; i++) {
        anvil__init *in = &g->inits[i];
        if (remap[in->value] < 0) {
            if (in->owned) anvil__free(in->t.data);
            continue;
        }
        in->value = remap[in->value];
        g->values[in->value].init = ki;
        g->inits[ki++] = *in;
    }
    g->n_inits = ki;
    for (int32_t n = 0; n < g->n_nodes; n++) {
        anvil__node *node = &g->nodes[n];
        for (int32_t i = 0; i < node->n_inputs; i++)
            if (node->inputs[i] >= 0) node->inputs[i] = remap[node->inputs[i]];
        for (int32_t o = 0; o < node->n_outputs; o++)
            if (node->outputs[o] >= 0) node->outputs[o] = remap[node->outputs[o]];
    }
    for (int32_t i = 0; i < g->n_inputs; i++) g->inputs[i] = remap[g->inputs[i]];
    for (int32_t o = 0; o < g->n_outputs; o++) g->outputs[o] = remap[g->outputs[o]];
    anvil__free(remap);
    anvil__free(used);
    /* Rebuild the name index and producers. */
    anvil__name_map_free(&g->names);
    for (int32_t v = 0; v < g->n_values; v++) {
        g->values[v].producer = -1;
        if (!(g->values[v].flags & ANVIL_VALUE_INITIALIZER)) g->values[v].init = -1;
        anvil_status s = anvil__name_map_put(&g->names, g->values[v].name, v);
        if (s != ANVIL_OK) return s;
    }
    for (int32_t n = 0; n < g->n_nodes; n++)
        for (int32_t o = 0; o < g->nodes[n].n_outputs; o++)
            if (g->nodes[n].outputs[o] >= 0) g->values[g->nodes[n].outputs[o]].producer = n;
    return ANVIL_OK;
}
