/*
 * dead_code.c — removes run nodes none of whose outputs is read (by a node, a subgraph or as
 * a graph output), sweeping backwards so whole dead chains go in one pass. Slots nobody reads
 * any more, and the recipes only they needed, are dropped by the compaction that follows
 * (anvil__compile_compact). No op has side effects in inference, so nothing else is kept.
 */
#include "passes/passes.h"

/* Subtracts node n's references (inputs and subgraph captures) from uses. */
static anvil_status release_inputs(const anvil__graph *g, const anvil__node *n, int32_t *uses) {
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0) uses[n->inputs[i]]--;
    bool has_graph = false;
    for (int32_t a = 0; a < n->n_attrs; a++)
        has_graph |= n->attrs[a].g != NULL;
    if (!has_graph) return ANVIL_OK;
    /* Captures are rare (If); recount instead of walking subgraphs twice. */
    int32_t *fresh = NULL;
    anvil_status s = anvil__pass_count_uses(g, &fresh);
    if (s != ANVIL_OK) return s;
    for (int32_t v = 0; v < g->n_values; v++)
        uses[v] = fresh[v];
    anvil__free(fresh);
    return ANVIL_OK;
}

anvil_status anvil__pass_dead_code(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_DEAD_CODE)) return ANVIL_OK;
    anvil__graph *run = st->run;
    int32_t *uses = NULL;
    anvil_status s = anvil__pass_count_uses(run, &uses);
    for (int32_t ni = run->n_nodes - 1; s == ANVIL_OK && ni >= 0; ni--) {
        anvil__node *n = &run->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        bool read = false;
        for (int32_t o = 0; o < n->n_outputs && !read; o++) {
            int32_t v = n->outputs[o];
            read = v >= 0 && (uses[v] > 0 || (run->values[v].flags & ANVIL_VALUE_OUTPUT));
        }
        if (read) continue;
        n->flags |= ANVIL_NODE_DEAD;
        s = release_inputs(run, n, uses);
    }
    anvil__free(uses);
    return s;
}
