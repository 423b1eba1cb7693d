/*
 * run.c — execution contexts and anvil_engine_run. A context owns the arena and scratch
 * memory of one thread's runs and caches plans for input shapes other than the opt shapes
 * (dynamic profiles). A run holds a reference to the weight set it started with, so a refit
 * that swaps sets never pauses or disturbs it.
 */
#include "engine/engine_internal.h"
#include "interp/interp.h"

#include <string.h>

#define CONTEXT_PLAN_CACHE 4

struct anvil_context {
    const anvil_engine *engine;
    void *arena;
    size_t arena_bytes;
    void *scratch;
    size_t scratch_bytes;
    anvil__plan *cache[CONTEXT_PLAN_CACHE]; /* plans for other shapes, most recent first */
};

anvil_status anvil_context_create(const anvil_engine *e, anvil_context **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!e) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine is NULL");
    anvil_context *c = anvil__calloc(1, sizeof *c);
    if (!c) return ANVIL_STATUS_OUT_OF_MEMORY;
    c->engine = e;
    *out = c;
    return ANVIL_OK;
}

void anvil_context_destroy(anvil_context *c) {
    if (!c) return;
    const anvil__backend *be = c->engine->backend;
    if (c->arena) be->free(be->ctx, c->arena);
    if (c->scratch) be->free(be->ctx, c->scratch);
    for (int i = 0; i < CONTEXT_PLAN_CACHE; i++) anvil__plan_destroy(be, c->cache[i]);
    anvil__free(c);
}

static bool same_shapes(const anvil__plan *p, const anvil__tensor *shapes) {
    for (int32_t i = 0; i < p->n_inputs; i++) {
        if (p->input_shapes[i].rank != shapes[i].rank) return false;
        for (int32_t d = 0; d < shapes[i].rank; d++)
            if (p->input_shapes[i].dims[d] != shapes[i].dims[d]) return false;
    }
    return true;
}

/* The plan for these input shapes: the engine's, a cached one, or a new one. */
static anvil_status find_plan(anvil_context *c, const anvil__tensor *shapes,
                              const anvil__plan **out) {
    const anvil_engine *e = c->engine;
    if (same_shapes(e->plan, shapes)) {
        *out = e->plan;
        return ANVIL_OK;
    }
    for (int i = 0; i < CONTEXT_PLAN_CACHE; i++) {
        if (!c->cache[i] || !same_shapes(c->cache[i], shapes)) continue;
        anvil__plan *hit = c->cache[i]; /* move to front */
        memmove(&c->cache[1], &c->cache[0], sizeof c->cache[0] * (size_t)i);
        c->cache[0] = hit;
        *out = hit;
        return ANVIL_OK;
    }
    anvil__plan *p = NULL;
    anvil_status s = anvil__engine_replan(e, shapes, &p);
    if (s != ANVIL_OK) return s;
    anvil__plan_destroy(e->backend, c->cache[CONTEXT_PLAN_CACHE - 1]);
    memmove(&c->cache[1], &c->cache[0], sizeof c->cache[0] * (CONTEXT_PLAN_CACHE - 1));
    c->cache[0] = p;
    *out = p;
    return ANVIL_OK;
}

static anvil_status reserve(const anvil__backend *be, void **mem, size_t *have, size_t need) {
    if (*have >= need && *mem) return ANVIL_OK;
    if (*mem) be->free(be->ctx, *mem);
    *mem = be->alloc(be->ctx, need ? need : 64);
    *have = *mem ? need : 0;
    return *mem ? ANVIL_OK
                : anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes", need);
}

/* Checks caller inputs against the engine's profiles (dtype, rank, range per dim). */
static anvil_status check_profiles(const anvil_engine *e, const anvil_tensor *given,
                                   const size_t *order) {
    for (int32_t i = 0; i < e->run->n_inputs; i++) {
        const anvil_tensor *t = &given[order[i]];
        const anvil_input_profile *p = &e->profiles[i];
        if (t->rank != p->rank)
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "input '%s': expected rank %d, got %d",
                                p->name, (int)p->rank, (int)t->rank);
        for (int32_t d = 0; d < p->rank; d++)
            if (t->dims[d] < p->min[d] || t->dims[d] > p->max[d])
                return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                                    "input '%s' dim %d: %lld is outside the engine's profile "
                                    "[%lld, %lld]",
                                    p->name, (int)d, (long long)t->dims[d],
                                    (long long)p->min[d], (long long)p->max[d]);
    }
    return ANVIL_OK;
}

static void *buffer_ptr(const anvil_context *c, const anvil__plan *p, int32_t b,
                        const anvil_tensor *given, const size_t *order,
                        const anvil__weight_set *set) {
    if (b < 0) return NULL;
    const anvil__buf *buf = &p->bufs[b];
    switch (buf->kind) {
    case ANVIL_BUF_INPUT: return given[order[buf->index]].data;
    case ANVIL_BUF_ARENA: return (char *)c->arena + buf->offset;
    case ANVIL_BUF_SLOT: return set->slots[buf->index];
    }
    return NULL;
}

static anvil_status execute(anvil_context *c, const anvil__plan *p, const anvil_tensor *given,
                            const size_t *order, const anvil__weight_set *set) {
    const anvil__backend *be = c->engine->backend;
    void *ins[64], *outs[64];
    anvil__tensor in_shapes[64], out_shapes[64];
    for (int32_t si = 0; si < p->n_steps; si++) {
        const anvil__plan_step *st = &p->steps[si];
        for (int32_t i = 0; i < st->n_in; i++) {
            ins[i] = buffer_ptr(c, p, st->in[i], given, order, set);
            if (st->in[i] >= 0) in_shapes[i] = p->bufs[st->in[i]].shape;
            else memset(&in_shapes[i], 0, sizeof in_shapes[i]);
        }
        for (int32_t o = 0; o < st->n_out; o++) {
            outs[o] = buffer_ptr(c, p, st->out[o], given, order, set);
            if (st->out[o] >= 0) out_shapes[o] = p->bufs[st->out[o]].shape;
            else memset(&out_shapes[o], 0, sizeof out_shapes[o]);
        }
        anvil_status s;
        if (st->node < 0) {
            const anvil__buf *from = &p->bufs[st->in[0]], *to = &p->bufs[st->out[0]];
            s = be->reorder(be->ctx, &from->shape, &from->layout, ins[0], &to->layout, outs[0]);
        } else {
            anvil__exec_args args = {ins, outs, in_shapes, out_shapes, c->scratch};
            s = be->kernel_run(be->ctx, st->kernel, &args);
        }
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status collect_outputs(const anvil_context *c, const anvil__plan *p,
                                    const anvil_tensor *given, const size_t *order,
                                    const anvil__weight_set *set, anvil_tensor_list *list) {
    const anvil__graph *run = c->engine->run;
    const anvil__backend *be = c->engine->backend;
    for (int32_t o = 0; o < run->n_outputs; o++) {
        const anvil__buf *b = &p->bufs[p->output_bufs[o]];
        void *data = anvil__malloc(b->shape.bytes ? b->shape.bytes : 1);
        if (!data) return ANVIL_STATUS_OUT_OF_MEMORY;
        anvil_status s = be->copy(be->ctx, data,
                                  buffer_ptr(c, p, p->output_bufs[o], given, order, set),
                                  b->shape.bytes, false);
        if (s == ANVIL_OK)
            s = anvil__tensor_list_set(list, (size_t)o, run->values[run->outputs[o]].name,
                                       b->shape.dtype, b->shape.rank, b->shape.dims, data,
                                       b->shape.bytes);
        if (s != ANVIL_OK) {
            anvil__free(data);
            return s;
        }
    }
    return ANVIL_OK;
}

anvil_status anvil__engine_run_set(anvil_context *c, const anvil__weight_set *set,
                                   const anvil_tensor *inputs, size_t n_inputs,
                                   anvil_tensor_list **out) {
    const anvil_engine *e = c->engine;
    const anvil__graph *run = e->run;
    size_t order[256];
    anvil__tensor shapes[256];
    anvil_tensor_list *list = NULL;
    const anvil__plan *plan = NULL;
    anvil_status s = ANVIL_OK;
    if (run->n_inputs > 256)
        s = anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "more than 256 inputs");
    if (s == ANVIL_OK) s = anvil__interp_check_inputs(run, inputs, n_inputs, order);
    if (s == ANVIL_OK) s = check_profiles(e, inputs, order);
    for (int32_t i = 0; s == ANVIL_OK && i < run->n_inputs; i++) {
        memset(&shapes[i], 0, sizeof shapes[i]);
        const anvil_tensor *t = &inputs[order[i]];
        s = anvil__tensor_shape(&shapes[i], t->dtype, t->rank, t->dims);
    }
    if (s == ANVIL_OK) s = find_plan(c, shapes, &plan);
    const anvil__backend *be = e->backend;
    if (s == ANVIL_OK) s = reserve(be, &c->arena, &c->arena_bytes, plan->arena_bytes);
    if (s == ANVIL_OK) s = reserve(be, &c->scratch, &c->scratch_bytes, plan->scratch_bytes);
    if (s == ANVIL_OK) s = execute(c, plan, inputs, order, set);
    if (s == ANVIL_OK && !(list = anvil__tensor_list_new((size_t)run->n_outputs)))
        s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = collect_outputs(c, plan, inputs, order, set, list);
    if (s != ANVIL_OK) {
        anvil_tensor_list_destroy(list);
        return s;
    }
    *out = list;
    return ANVIL_OK;
}

anvil_status anvil_engine_run(anvil_context *c, const anvil_tensor *inputs, size_t n_inputs,
                              anvil_tensor_list **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!c || (n_inputs && !inputs))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "context or inputs is NULL");
    anvil__weight_set *set = anvil__weights_acquire(c->engine);
    if (!set)
        return anvil__error(ANVIL_STATUS_NEEDS_WEIGHTS,
                            "this engine was saved stripped of its weights: refit it before "
                            "running");
    anvil_status s = anvil__engine_run_set(c, set, inputs, n_inputs, out);
    anvil__weights_release(c->engine, set);
    return s;
}
