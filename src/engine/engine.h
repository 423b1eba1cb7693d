/*
 * engine.h — the insides of a compiled engine, shared by compile (plan), run, save/load and
 * refit. An engine is a *run graph* (the optimized graph the backend executes) plus a *weight
 * graph* (the recipes: a graph whose inputs are source weights and whose outputs are slots)
 * plus a weight set (the slots' bytes). Slot i is weights->outputs[i]; the run graph refers to it
 * as initializer i (run->inits[i], same value name, data NULL: the bytes live in the set).
 */
#ifndef ANVIL_ENGINE_H
#define ANVIL_ENGINE_H

#include "plan/plan.h"

#include <pthread.h>
#include <stdatomic.h>

/* A loaded engine file whose slots are used in place; lives while any slot views it. */
typedef struct anvil__shared_file {
    atomic_int refs;
    anvil__mapping mapping;
} anvil__shared_file;

/* One slot's bytes, shared by every weight set whose sources for that slot kept their content
 * (a partial refit shares what it did not rebuild): backend memory, or a view into `file`. */
typedef struct anvil__slot_buf {
    atomic_int refs;
    void *data;
    size_t bytes;
    anvil__shared_file *file; /* non-NULL: data views this file (not backend memory) */
} anvil__slot_buf;

/* Backend memory of slots no weight set uses any more, kept for the next refit to write into
 * (double buffering): a refit then touches memory that is already mapped, where fresh pages
 * would cost a fault each (about as much as the whole refit on mobilenet_v2). At most one
 * set's worth; anvil_engine_trim frees it. */
typedef struct anvil__slot_pool {
    pthread_mutex_t lock;
    void **data;
    size_t *bytes;
    int32_t count, cap;
} anvil__slot_pool;

/* The bytes of every slot, in backend memory. Reference-counted: a run holds the set it
 * started with, so a refit can swap in a new set without pausing inference. */
typedef struct anvil__weight_set {
    atomic_int refs;
    int32_t n_slots;
    void **slots;           /* slots[i] == bufs[i]->data; NULL for slots the plan never reads */
    size_t *slot_bytes;
    anvil__slot_buf **bufs; /* reference-counted owner of each slot's bytes */
    uint64_t *source_hashes; /* XXH3 of each source weight the set was built from; NULL when
                                unknown (an engine file without them): a refit rebuilds all */
    int32_t n_sources;
} anvil__weight_set;

struct anvil_engine {
    const anvil__backend *backend;
    anvil_compile_options options; /* profiles/progress pointers cleared */
    anvil__graph *run;
    anvil__graph *weights;
    anvil__plan *plan;             /* for the opt shapes */
    anvil__slot_info *slots;       /* one per slot (run->inits / weights->outputs) */
    anvil_input_profile *profiles; /* one per run-graph input (names owned) */
    bool dynamic;                  /* some profile has min != max */
    /* The current weight set. Readers take a reference under `lock` (a pointer read and an
     * increment must not race with a swap that drops the last reference). */
    anvil__weight_set *current;
    pthread_mutex_t lock;
    double compile_seconds;
    anvil__slot_pool pool;    /* retired slot memory for the next refit */
    anvil_name_map *name_map; /* checkpoint names → source weights (NULL: none) */
    /* XXH3 of each source weight as compiled (weights->inputs order), NULL when unknown. The
     * sources no run-time slot depends on were folded into the plan (a fused Clip's bounds):
     * a refit must find them unchanged. */
    uint64_t *compile_hashes;
};

/* Acquire/release a reference to the engine's current weight set (NULL if stripped). */
anvil__weight_set *anvil__weights_acquire(const anvil_engine *e);
void anvil__weights_release(const anvil_engine *e, anvil__weight_set *set);

/* What building a weight set did. */
typedef struct anvil__build_stats {
    size_t sources_changed; /* sources whose hash differs from the base set's */
    size_t slots_rebuilt;
    size_t bytes_rebuilt;
} anvil__build_stats;

/* Evaluates the weight graph on source tensors (in weights->inputs order) into a new set.
 * With a base set that knows its sources' hashes, slots none of whose sources changed are
 * shared with it instead of rebuilt (only the recipe nodes feeding changed slots run).
 * `views` (NULL, or per source with base NULL for a plain one) gives sources that are read
 * through a view; only sources anvil__weights_viewable allows may be views. A view's content
 * hash covers its base tensor's bytes, strides and scales (not the bytes it stands for). */
anvil_status anvil__weights_build(const anvil_engine *e, const anvil__tensor *sources,
                                  const anvil__tensor_view *views, const anvil__weight_set *base,
                                  anvil__weight_set **out, anvil__build_stats *stats);
/* Per source: whether it may be given as a view — the backend packs views into host memory,
 * and the weight graph only packs the source (single-input Packs of stored slots, no slot of
 * its own stored, no subgraphs that make the interpreter run every node). */
void anvil__weights_viewable(const anvil_engine *e, bool *viewable);
/* An empty set for n_slots slots and n_sources source hashes (slots NULL). */
anvil__weight_set *anvil__weight_set_new(int32_t n_slots, int32_t n_sources);

#endif /* ANVIL_ENGINE_H */
