/*
 * weights.c — weight sets: evaluating the weight graph (the recipes) on source tensors gives
 * every slot's bytes; slots the plan reads are kept in backend memory, the rest (recipe
 * intermediates such as an unpacked copy of a packed weight) are dropped. Sets are
 * reference-counted so a run keeps the set it started with.
 */
#include "api/model.h"
#include "engine/engine_internal.h"
#include "interp/interp.h"

#include <string.h>

void anvil__weight_set_free(const anvil_engine *e, anvil__weight_set *set) {
    if (!set) return;
    for (int32_t i = 0; i < set->n_slots; i++)
        if (set->slot_owned && set->slot_owned[i] && set->slots[i])
            e->backend->free(e->backend->ctx, set->slots[i]);
    anvil__free(set->slots);
    anvil__free(set->slot_bytes);
    anvil__free(set->slot_owned);
    anvil__free(set->source_hashes);
    anvil__unmap(&set->file);
    anvil__free(set);
}

anvil__weight_set *anvil__weights_acquire(const anvil_engine *e) {
    anvil_engine *m = (anvil_engine *)e; /* the lock is the only mutable part */
    pthread_mutex_lock(&m->lock);
    anvil__weight_set *set = m->current;
    if (set) atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&m->lock);
    return set;
}

void anvil__weights_release(const anvil_engine *e, anvil__weight_set *set) {
    if (set && atomic_fetch_sub(&set->refs, 1) == 1) anvil__weight_set_free(e, set);
}

static anvil__weight_set *set_new(int32_t n_slots) {
    anvil__weight_set *set = anvil__calloc(1, sizeof *set);
    if (!set) return NULL;
    size_t n = (size_t)(n_slots + 1);
    set->slots = anvil__calloc(n, sizeof *set->slots);
    set->slot_bytes = anvil__calloc(n, sizeof *set->slot_bytes);
    set->slot_owned = anvil__calloc(n, sizeof *set->slot_owned);
    if (!set->slots || !set->slot_bytes || !set->slot_owned) {
        anvil__free(set->slots);
        anvil__free(set->slot_bytes);
        anvil__free(set->slot_owned);
        anvil__free(set);
        return NULL;
    }
    set->n_slots = n_slots;
    atomic_init(&set->refs, 1);
    return set;
}

anvil_status anvil__weights_build(const anvil_engine *e, const anvil__tensor *sources,
                                  anvil__weight_set **out) {
    *out = NULL;
    const anvil__graph *w = e->weights;
    anvil__weight_set *set = set_new(w->n_outputs);
    anvil__tensor *res = anvil__calloc((size_t)(w->n_outputs + 1), sizeof *res);
    anvil_status s = set && res ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__interp_run(w, NULL, sources, res);
    const anvil__backend *be = e->backend;
    for (int32_t i = 0; s == ANVIL_OK && i < w->n_outputs; i++) {
        if (!anvil__slot_stored(e, i)) continue;
        size_t bytes = res[i].bytes;
        void *p = be->alloc(be->ctx, bytes ? bytes : 1);
        if (!p) {
            s = anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes for slot %d",
                             bytes, (int)i);
            break;
        }
        s = be->copy(be->ctx, p, res[i].data, bytes, true);
        set->slots[i] = p;
        set->slot_owned[i] = true;
        set->slot_bytes[i] = bytes;
    }
    for (int32_t i = 0; res && i < w->n_outputs; i++) anvil__free(res[i].data);
    anvil__free(res);
    if (s != ANVIL_OK) {
        if (set) anvil__weight_set_free(e, set);
        return s;
    }
    *out = set;
    return ANVIL_OK;
}

anvil_status anvil__weights_from_model(const anvil_engine *e, const anvil_model *model,
                                       anvil__weight_set **out) {
    const anvil__graph *w = e->weights, *g = model->graph;
    anvil__tensor *src = anvil__calloc((size_t)(w->n_inputs + 1), sizeof *src);
    if (!src) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < w->n_inputs; i++) {
        const char *name = w->values[w->inputs[i]].name;
        int32_t v = anvil__graph_find(g, name);
        if (v < 0 || g->values[v].init < 0) {
            anvil__free(src);
            return anvil__error(ANVIL_STATUS_INTERNAL, "source weight '%s' not in the model", name);
        }
        src[i] = g->inits[g->values[v].init].t;
        if (!src[i].data) src[i].data = (void *)""; /* empty tensor */
    }
    anvil_status s = anvil__weights_build(e, src, out);
    anvil__free(src);
    return s;
}
