/*
 * plan.h — an execution plan: the run graph's nodes as backend kernels in order, with every
 * tensor placed in a buffer (caller input, arena offset, weight slot) in a layout, and
 * reorders where a producer's layout differs from what a consumer wants. A plan is built for
 * concrete input shapes: the engine's at compile time for the opt shapes (choosing tactics by
 * autotuning and weight layouts), and, for other shapes inside the profiles, by contexts at
 * run time with the engine's tactics and weight layouts fixed.
 */
#ifndef ANVIL_PLAN_H
#define ANVIL_PLAN_H

#include "backend/backend.h"

typedef enum anvil__buf_kind {
    ANVIL_BUF_INPUT = 1, /* caller's input `index` (plain) */
    ANVIL_BUF_ARENA = 2, /* context arena at `offset` */
    ANVIL_BUF_SLOT = 3,  /* weight slot `index` (in the weight set) */
} anvil__buf_kind;

typedef struct anvil__buf {
    anvil__buf_kind kind;
    int32_t index;       /* input or slot index */
    int32_t value;       /* run-graph value this buffer holds (in `layout`) */
    size_t offset;       /* arena offset */
    size_t bytes;
    anvil__tensor shape; /* logical dtype/shape (data NULL) */
    anvil__layout layout;
    int32_t first, last; /* steps that write first / read last (memory plan) */
    int32_t alias_of;    /* -1, or the buffer whose memory this one views (a reshape needs no
                            copy: same bytes, another shape) */
} anvil__buf;

typedef struct anvil__plan_step {
    int32_t node;  /* run-graph node; -1 for a reorder */
    int32_t tactic;
    anvil__kernel *kernel; /* NULL for a reorder */
    int32_t n_in, n_out;
    int32_t *in;   /* buffer ids, -1 for an omitted input */
    int32_t *out;
    size_t scratch_bytes;
} anvil__plan_step;

typedef struct anvil__plan {
    anvil__plan_step *steps;
    int32_t n_steps, cap_steps;
    anvil__buf *bufs;
    int32_t n_bufs, cap_bufs;
    int32_t *output_bufs;  /* per run-graph output: plain buffer holding it */
    size_t arena_bytes;
    size_t activation_bytes; /* sum of arena buffers without reuse */
    size_t scratch_bytes;
    anvil__tensor *input_shapes; /* the shapes this plan is for (one per run-graph input) */
    int32_t n_inputs;
} anvil__plan;

/* What a plan needs to know of the weights: per slot, the logical shape, the layout it is
 * stored in, and (for small plain slots) its data, used by shape inference. */
typedef struct anvil__slot_info {
    anvil__tensor shape;  /* data set for small plain integer/float slots */
    anvil__layout layout;
} anvil__slot_info;

typedef struct anvil__plan_request {
    const anvil__backend *backend;
    const anvil__graph *run;
    const anvil__tensor *input_shapes; /* one per run->inputs (data NULL) */
    const anvil__slot_info *slots;     /* one per run->inits */
    int32_t threads;
    bool autotune;
    bool plain_layouts;                /* ANVIL_PASS_LAYOUT disabled */
    anvil_precision precision;
    /* Replanning for other shapes: the compiled plan, whose tactics and packed weights (slot
     * and layout per node input) are reused. NULL at compile time. */
    const anvil__plan *reference;
    anvil_progress_fn progress;
    void *progress_user;
} anvil__plan_request;

/* A weight input some kernel wants in a non-plain layout: the compiler packs slot `slot` into
 * `layout`, making a new slot, and points buffer `buf` at it. */
typedef struct anvil__pack_request {
    int32_t slot;
    int32_t buf;
    anvil__layout layout;
} anvil__pack_request;

anvil_status anvil__plan_build(const anvil__plan_request *req, anvil__plan **out,
                               anvil__pack_request **packs, int32_t *n_packs);
void anvil__plan_destroy(const anvil__backend *backend, anvil__plan *plan);

/* Largest sum of activation bytes a plan accepts (before reuse), so a hostile model or engine
 * file cannot make planning allocate or build kernels for absurd shapes. */
#define ANVIL_MAX_PLAN_BYTES ((size_t)1 << 33)

/* Concrete shape inference over the run graph for the given input shapes, evaluating small
 * integer tensors (shape arithmetic) on the way so Reshape targets etc. are known. shapes
 * receives one tensor per run value (owned data for evaluated small tensors: free with
 * anvil__shapes_free). Fails with UNSUPPORTED naming the node when a shape depends on data. */
anvil_status anvil__infer_concrete(const anvil__graph *run, const anvil__tensor *inputs,
                                   const anvil__slot_info *slots, anvil__tensor **shapes);
void anvil__shapes_free(const anvil__graph *run, anvil__tensor *shapes);

/* Assigns arena offsets to ARENA buffers by liveness (first-fit over buffers sorted by size). */
anvil_status anvil__memory_plan(anvil__plan *plan);

#endif /* ANVIL_PLAN_H */
