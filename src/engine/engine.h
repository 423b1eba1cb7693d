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

/* The bytes of every slot, in backend memory. Reference-counted: a run holds the set it
 * started with, so a refit can swap in a new set without pausing inference. */
typedef struct anvil__weight_set {
    atomic_int refs;
    int32_t n_slots;
    void **slots;         /* backend memory per slot (or views into `file` for a loaded engine) */
    size_t *slot_bytes;
    bool *slot_owned;     /* slots[i] allocated with backend->free-able memory */
    uint64_t *source_hashes; /* xxh3 of each source weight the set was built from */
    int32_t n_sources;
    anvil__mapping file;  /* engine file mapping the slots may point into */
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
};

/* Acquire/release a reference to the engine's current weight set (NULL if stripped). */
anvil__weight_set *anvil__weights_acquire(const anvil_engine *e);
void anvil__weights_release(const anvil_engine *e, anvil__weight_set *set);

/* Evaluates the weight graph on source tensors (in weights->inputs order) into a new set. */
anvil_status anvil__weights_build(const anvil_engine *e, const anvil__tensor *sources,
                                  anvil__weight_set **out);

#endif /* ANVIL_ENGINE_H */
