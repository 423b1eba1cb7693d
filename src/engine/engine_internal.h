/*
 * engine_internal.h — functions shared by the engine's source files (compile, plan glue,
 * weight sets, run, save/load). Not part of the public API.
 */
#ifndef ANVIL_ENGINE_INTERNAL_H
#define ANVIL_ENGINE_INTERNAL_H

#include "engine/engine.h"

/* Slots at most this large keep a copy of their data in the engine for shape arithmetic. */
#define ANVIL_SMALL_SLOT_BYTES 4096

/* A zeroed engine with its lock initialized (destroy with anvil_engine_destroy). */
anvil_engine *anvil__engine_new(void);

/* Builds e->plan for the given input shapes. At compile time (compile = true) tactics are
 * chosen (autotuned if asked) and weights a kernel wants packed become Pack ops in the weight
 * graph with new slots; e->tactics records the choice per run node. */
anvil_status anvil__engine_plan(anvil_engine *e, const anvil__tensor *input_shapes, bool compile,
                               anvil_progress_fn progress, void *progress_user);

/* Builds a plan for other input shapes with the engine's tactics and weight layouts. */
anvil_status anvil__engine_replan(const anvil_engine *e, const anvil__tensor *input_shapes,
                                  anvil__plan **out);

/* Builds a weight set from the model's own initializers (matched to sources by name). */
anvil_status anvil__weights_from_model(const anvil_engine *e, const anvil_model *model,
                                       anvil__weight_set **out);
void anvil__weight_set_free(const anvil_engine *e, anvil__weight_set *set);

/* Whether slot i is read by the engine's plan (the others are recipe intermediates the
 * weight set does not keep). */
bool anvil__slot_stored(const anvil_engine *e, int32_t slot);
/* anvil__slot_stored for every slot (weights->n_outputs entries), in one pass. */
void anvil__slots_stored(const anvil_engine *e, bool *stored);
/* Per weight-graph value: whether the engine reads it when it runs, itself or through a slot
 * made from it (a packed copy). The others were only read at compile time: shape arithmetic,
 * or scalars folded into kernels such as a fused Clip's bounds. live: weights->n_values. */
void anvil__weights_live_at_run(const anvil_engine *e, bool *live);
/* Marks live every value a live value is computed from (live: weights->n_values). */
void anvil__weights_live_back(const anvil__graph *w, bool *live);

/* The packed layout a weight graph Pack node produces (its attributes, checked). */
anvil_status anvil__pack_node_layout(const anvil__node *n, anvil__layout *out);
/* Packs the view `v` of a tensor of `shape` into layout `to` by way of a dense copy (for
 * layouts the backend cannot read a view into): the copy's bytes are those a pack_view would
 * read, products rounded to f32 alike. */
anvil_status anvil__pack_dense_copy(const anvil__backend *be, const anvil__tensor *shape,
                                    const anvil__tensor_view *v, const anvil__layout *to,
                                    void *dst);
/* Packs f32 weight w times scale[i_0] (a folded BatchNorm) into `to`. */
anvil_status anvil__pack_scaled(const anvil__backend *be, const anvil__tensor *w,
                                const float *scale, const anvil__layout *to, void *dst);
/* Whether scales of this dtype and shape fit a scaled Pack of weight w: f32 [C, 1, ..., 1]
 * of w's rank, C being the f32 weight's dim 0. */
bool anvil__pack_scale_fits(anvil_dtype dtype, int32_t rank, const int64_t *dims,
                            const anvil__tensor *w);
/* Packs the view through the backend's pack_view, else (UNSUPPORTED) a dense copy. */
anvil_status anvil__pack_view_or_copy(const anvil__backend *be, const anvil__tensor *shape,
                                      const anvil__tensor_view *v, const anvil__layout *to,
                                      void *dst);

/* Runs the engine on a given weight set (a refit verifies a staged set before it is swapped
 * in). Inputs as for anvil_engine_run. */
anvil_status anvil__engine_run_set(anvil_context *c, const anvil__weight_set *set,
                                   const anvil_tensor *inputs, size_t n_inputs,
                                   anvil_tensor_list **out);

/* Bytes of retired slot memory the engine keeps for its next refit. */
size_t anvil__pool_bytes(const anvil_engine *e);

#endif /* ANVIL_ENGINE_INTERNAL_H */
