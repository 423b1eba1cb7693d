/*
 * engine.c — the engine object: creation and destruction, and the read-only queries the CLI
 * and users ask (inputs, outputs, profiles, info, layers).
 */
#include "engine/engine_internal.h"

#include <string.h>

anvil_engine *anvil__engine_new(void) {
    anvil_engine *e = anvil__calloc(1, sizeof *e);
    if (!e) return NULL;
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        anvil__free(e);
        return NULL;
    }
    if (pthread_mutex_init(&e->pool.lock, NULL) != 0) {
        pthread_mutex_destroy(&e->lock);
        anvil__free(e);
        return NULL;
    }
    return e;
}

void anvil_engine_destroy(anvil_engine *e) {
    if (!e) return;
    if (e->current) anvil__weights_release(e, e->current);
    if (e->plan) anvil__plan_destroy(e->backend, e->plan);
    for (int32_t i = 0; e->slots && e->run && i < e->run->n_inits; i++)
        anvil__free(e->slots[i].shape.data);
    anvil__free(e->slots);
    for (int32_t i = 0; e->profiles && e->run && i < e->run->n_inputs; i++)
        anvil__free((void *)e->profiles[i].name);
    anvil__free(e->profiles);
    anvil__graph_destroy(e->run);
    anvil__graph_destroy(e->weights);
    anvil_engine_trim(e); /* after the set: its slots may have gone to the pool */
    pthread_mutex_destroy(&e->pool.lock);
    anvil_name_map_destroy(e->name_map);
    anvil__free(e->compile_hashes);
    pthread_mutex_destroy(&e->lock);
    anvil__free(e);
}

size_t anvil_engine_input_count(const anvil_engine *e) { return e ? (size_t)e->run->n_inputs : 0; }
size_t anvil_engine_output_count(const anvil_engine *e) {
    return e ? (size_t)e->run->n_outputs : 0;
}

static void fill_desc(const anvil_engine *e, int32_t v, anvil_tensor_desc *out) {
    const anvil__value *val = &e->run->values[v];
    memset(out, 0, sizeof *out);
    out->name = val->name;
    out->dtype = val->dtype;
    out->rank = val->rank;
    for (int32_t d = 0; d < val->rank && d < ANVIL_MAX_RANK; d++) {
        out->dims[d] = val->dims[d];
        out->dim_names[d] = val->dim_names[d];
    }
}

anvil_status anvil_engine_input(const anvil_engine *e, size_t index, anvil_tensor_desc *out) {
    if (!e || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    if (index >= (size_t)e->run->n_inputs)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "input index %zu: the engine has %d",
                            index, (int)e->run->n_inputs);
    fill_desc(e, e->run->inputs[index], out);
    const anvil_input_profile *p = &e->profiles[index];
    out->rank = p->rank;
    for (int32_t d = 0; d < p->rank; d++) out->dims[d] = p->min[d] == p->max[d] ? p->min[d] : -1;
    return ANVIL_OK;
}

anvil_status anvil_engine_output(const anvil_engine *e, size_t index, anvil_tensor_desc *out) {
    if (!e || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    if (index >= (size_t)e->run->n_outputs)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "output index %zu: the engine has %d",
                            index, (int)e->run->n_outputs);
    fill_desc(e, e->run->outputs[index], out);
    /* Output shapes at the opt profile, from the plan. */
    const anvil__buf *b = &e->plan->bufs[e->plan->output_bufs[index]];
    out->rank = b->shape.rank;
    for (int32_t d = 0; d < b->shape.rank; d++) out->dims[d] = e->dynamic ? -1 : b->shape.dims[d];
    return ANVIL_OK;
}

anvil_status anvil_engine_profile(const anvil_engine *e, size_t index, anvil_input_profile *out) {
    if (!e || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    if (index >= (size_t)e->run->n_inputs)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "input index %zu: the engine has %d",
                            index, (int)e->run->n_inputs);
    *out = e->profiles[index];
    return ANVIL_OK;
}

anvil_status anvil_engine_get_info(const anvil_engine *e, anvil_engine_info *out) {
    if (!e || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    memset(out, 0, sizeof *out);
    out->backend = e->options.backend;
    out->precision = e->options.precision;
    out->threads = e->options.threads;
    out->refittable = e->options.refittable;
    anvil__weight_set *set = anvil__weights_acquire(e);
    out->needs_weights = set == NULL;
    for (int32_t i = 0; i < e->plan->n_steps; i++) out->layer_count += e->plan->steps[i].node >= 0;
    for (int32_t i = 0; i < e->run->n_inits; i++) {
        if (!anvil__slot_stored(e, i)) continue;
        out->slot_count++;
        out->weight_bytes += e->slots[i].shape.bytes;
    }
    anvil__weights_release(e, set);
    out->source_count = (size_t)e->weights->n_inputs;
    out->arena_bytes = e->plan->arena_bytes;
    out->activation_bytes = e->plan->activation_bytes;
    out->compile_seconds = e->compile_seconds;
    out->spare_bytes = anvil__pool_bytes(e);
    return ANVIL_OK;
}

anvil_status anvil_engine_layer(const anvil_engine *e, size_t index, anvil_layer_info *out) {
    if (!e || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    size_t k = 0;
    for (int32_t i = 0; i < e->plan->n_steps; i++) {
        const anvil__plan_step *st = &e->plan->steps[i];
        if (st->node < 0 || k++ != index) continue;
        const anvil__node *n = &e->run->nodes[st->node];
        memset(out, 0, sizeof *out);
        out->name = n->name;
        out->op = n->op_type;
        out->tactic = e->backend->tactic_name(e->backend->ctx, st->tactic);
        out->fused = n->fused ? n->fused : "";
        if (st->n_out > 0 && st->out[0] >= 0) {
            const anvil__buf *b = &e->plan->bufs[st->out[0]];
            out->rank = b->shape.rank;
            memcpy(out->dims, b->shape.dims, sizeof out->dims);
        }
        return ANVIL_OK;
    }
    return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "layer index %zu: the engine has %zu", index,
                        k);
}
