/*
 * pipeline.c — runs the passes in their one order: shape inference, constant folding,
 * elimination, constant folding again (slots exposed by elimination, e.g. a Transpose of a
 * weight), BatchNorm folding, patterns, residual fusion, activation fusion, dead code. Each
 * pass is followed by compaction and shape inference, so the next one sees a clean graph.
 * opt_level 0 runs no pass; 1 only folding, elimination and dead code; 2 everything.
 */
#include "passes/passes.h"

typedef struct pipeline_step {
    anvil_status (*run)(anvil__compile_state *st);
    anvil_pass pass;
    int32_t min_level;
} pipeline_step;

static const pipeline_step steps[] = {
    {anvil__pass_constant_folding, ANVIL_PASS_CONSTANT_FOLDING, 1},
    {anvil__pass_eliminate, ANVIL_PASS_ELIMINATE, 1},
    {anvil__pass_constant_folding, ANVIL_PASS_CONSTANT_FOLDING, 1},
    {anvil__pass_fold_batchnorm, ANVIL_PASS_FOLD_BATCHNORM, 2},
    {anvil__pass_patterns, ANVIL_PASS_PATTERNS, 2},
    {anvil__pass_fuse_residual, ANVIL_PASS_FUSE_RESIDUAL, 2},
    {anvil__pass_fuse_activation, ANVIL_PASS_FUSE_ACTIVATION, 2},
    {anvil__pass_dead_code, ANVIL_PASS_DEAD_CODE, 1},
};

anvil_status anvil__passes_run(anvil__compile_state *st) {
    anvil_status s = anvil__pass_infer_shapes(st);
    for (size_t i = 0; s == ANVIL_OK && i < sizeof steps / sizeof steps[0]; i++) {
        if (st->opt_level < steps[i].min_level || anvil__pass_disabled(st, steps[i].pass)) continue;
        s = steps[i].run(st);
        if (s == ANVIL_OK) s = anvil__compile_compact(st);
        if (s == ANVIL_OK) s = anvil__pass_infer_shapes(st);
    }
    return s;
}
