/*
 * interp.h — the reference interpreter: runs a graph node by node with the ops' plain C
 * kernels. It is the oracle for every backend, so it favours clarity over speed, but frees
 * each intermediate after its last use so real models fit in memory.
 */
#ifndef ANVIL_INTERP_H
#define ANVIL_INTERP_H

#include "ops/op.h"

typedef struct anvil__interp_env anvil__interp_env;

/* Runs graph g. inputs[i] feeds g->inputs[i] (borrowed; already checked by the caller).
 * outputs (g->n_outputs entries) receive owned tensors (data allocated with anvil__malloc).
 * parent is the enclosing scope for subgraphs (NULL for the main graph). */
anvil_status anvil__interp_run(const anvil__graph *g, const anvil__interp_env *parent,
                               const anvil__tensor *inputs, anvil__tensor *outputs);

/* anvil__interp_run with two refinements the weight graph (refit) needs:
 *   want: per graph output, whether to compute it (NULL: all). Nodes feeding no wanted output
 *         are skipped; unwanted outputs come back with data NULL. Graphs with subgraphs: all.
 *   into: outputs[o].data of every wanted output is caller memory of exactly the output's
 *         byte count, holding anything: the value is written there (by its own kernel when
 *         it can — zeroed first unless the kernel writes every element — else copied) and
 *         stays the caller's, also on failure.
 *   keep: n_keep more values of g (not outputs) to hand back: computed like wanted outputs
 *         and copied into kept[k].data, caller memory of exactly their byte count.
 *   max_value_bytes: when not 0, a value larger than this fails with LIMIT_EXCEEDED naming
 *         its node before anything is allocated for it (graphs from untrusted files). */
typedef struct anvil__interp_opts {
    const bool *want;
    bool into;
    const int32_t *keep;
    int32_t n_keep;
    anvil__tensor *kept;
    size_t max_value_bytes;
} anvil__interp_opts;
anvil_status anvil__interp_run_ex(const anvil__graph *g, const anvil__tensor *inputs,
                                  anvil__tensor *outputs, const anvil__interp_opts *opts);

/* Checks caller tensors against the graph's declared inputs (dtype, rank, fixed dims, and
 * consistent symbolic dims). Reports every missing input in one MISSING_INPUT message.
 * order[i] receives the index in `given` of the tensor feeding g->inputs[i]. */
anvil_status anvil__interp_check_inputs(const anvil__graph *g, const anvil_tensor *given,
                                        size_t n_given, size_t *order);

#endif /* ANVIL_INTERP_H */
