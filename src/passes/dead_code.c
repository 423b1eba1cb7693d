/*
 * dead_code.c — removes run nodes none of whose outputs is read (by a node, a subgraph or as
 * a graph output), sweeping backwards so whole dead chains go in one pass. Slots nobody reads
 * any more, and the recipes only they needed, are dropped by the compaction that follows
 * (anvil__compile_compact). No op has side effects in inference, so nothing else is kept.
 */
#include "passes/passes.h"

anvil_status anvil__pass_dead_code(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_DEAD_CODE)) return ANVIL_OK;
    anvil__graph *run = st->run;
    anvil__uses u = {0};
    anvil_status s = anvil__pass_uses_init(run, &u);
    for (int32_t ni = run->n_nodes - 1; s == ANVIL_OK && ni >= 0; ni--) {
        const anvil__node *n = &run->nodes[ni];
        if (n->flags & ANVIL_NODE_DEAD) continue;
        bool read = false;
        for (int32_t o = 0; o < n->n_outputs && !read; o++) {
            int32_t v = n->outputs[o];
            read = v >= 0 &&
                   (anvil__pass_uses_of(&u, v) > 0 || (run->values[v].flags & ANVIL_VALUE_OUTPUT));
        }
        if (!read) s = anvil__pass_kill(run, &u, ni);
    }
    anvil__pass_uses_free(&u);
    return s;
}
