/*
 * passes.h — the compiler's graph passes, one per file, run in order by pipeline.c.
 * A pass rewrites a compile state: the run graph (what will execute) and the weight graph
 * (recipes: how each weight slot is computed from source weights). Any computation that
 * depends only on weights moves into the weight graph, so a refit replays it exactly.
 */
#ifndef ANVIL_PASSES_H
#define ANVIL_PASSES_H

#include "ir/ir.h"

typedef struct anvil__compile_state {
    /* Run graph. Its inputs are the model inputs; its initializers are slots (run->inits[i] ↔
     * weights->outputs[i], same name) whose data is attached during compile (owned copies of
     * the slot values, kept current by passes that create slots) so shape inference and
     * decisions that need constant values (Reshape targets, Clip bounds) can read them. */
    anvil__graph *run;
    /* Weight graph. Inputs: source weights (the model's initializers, by name). Outputs:
     * slots. Evaluating it with the reference interpreter gives every slot's bytes. */
    anvil__graph *weights;
    /* Concrete input shapes to optimize for (opt profile), one per run->inputs. */
    const anvil__tensor *opt_inputs;
    uint32_t disabled; /* bit mask of 1u << anvil_pass */
    int32_t opt_level;
} anvil__compile_state;

/* Builds the initial state from a model graph (deep copies; the model is not modified):
 * run = the model graph with its initializers turned into slots, weights = identity recipes. */
anvil_status anvil__compile_state_init(anvil__compile_state *st, const anvil__graph *model);
void anvil__compile_state_free(anvil__compile_state *st);

/* Moves run-graph node `node` (all of whose inputs are slots or absent) into the weight graph:
 * its outputs become new slots whose data is computed now with the reference kernel. */
anvil_status anvil__compile_fold_node(anvil__compile_state *st, int32_t node);

/* Adds a new slot computed by `op_type` (default domain) over existing weight-graph values
 * `inputs` with attributes copied from `attrs_from` (may be NULL) — used by folds such as
 * BatchNorm into Conv. Returns the run-graph value id of the new slot. */
anvil_status anvil__compile_add_weight_node(anvil__compile_state *st, const char *op_type,
                                            const int32_t *weight_inputs, int32_t n_inputs,
                                            const char *name_hint, int32_t *out_run_value);
/* The weight-graph value id of run-graph slot value `run_value` (-1 if it is not a slot). */
int32_t anvil__compile_slot_value(const anvil__compile_state *st, int32_t run_value);

/* Runs static shape inference over the run graph with the opt input shapes and the attached
 * slot data; fills every value's dtype/rank/dims (-1 where data-dependent). */
anvil_status anvil__pass_infer_shapes(anvil__compile_state *st);

/* The passes (each a no-op when disabled). */
anvil_status anvil__pass_constant_folding(anvil__compile_state *st);
anvil_status anvil__pass_eliminate(anvil__compile_state *st);
anvil_status anvil__pass_fold_batchnorm(anvil__compile_state *st);
anvil_status anvil__pass_patterns(anvil__compile_state *st);
anvil_status anvil__pass_fuse_activation(anvil__compile_state *st);
anvil_status anvil__pass_fuse_residual(anvil__compile_state *st);
anvil_status anvil__pass_dead_code(anvil__compile_state *st);

/* Runs the pipeline in order, compacting the graphs after each pass and re-inferring shapes. */
anvil_status anvil__passes_run(anvil__compile_state *st);

#endif /* ANVIL_PASSES_H */
