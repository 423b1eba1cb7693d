/*
 * refit.c — anvil_engine_refit: new source weights into a compiled engine by replaying its
 * recipes (the weight graph). Every source is found and validated first (refit_sources.c), a
 * new set is staged aside — sharing the slots whose sources kept their content hash — and
 * optionally verified (refit_verify.c); only then is it swapped in (in place) or given to a
 * copy of the engine, so any failure leaves the engine as it was.
 */
#include "engine/refit_sources.h"

#include "api/model.h"
#include "namemap/name_map.h"
#include "passes/passes.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

anvil_refit_options anvil_refit_options_default(void) {
    anvil_refit_options o;
    memset(&o, 0, sizeof o);
    o.verify_tolerance = 1e-4;
    return o;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What the engine read at compile time must not change: small integer slots feed shapes
 * (Reshape targets, axes, ...) the plan was built for, and sources no run-time slot depends
 * on were folded into kernels (a fused Clip's bounds) or are unused. The engine keeps the
 * small slots' compile-time bytes in e->slots and every source's compile-time hash. A refit
 * that changes one is refused, naming every one. */
static void check_folded(const anvil_engine *e, const anvil__weight_set *set, const bool *live,
                         anvil__name_list *changed) {
    const anvil__graph *w = e->weights;
    for (int32_t i = 0; e->compile_hashes && i < w->n_inputs; i++)
        if (!live[w->inputs[i]] && set->source_hashes[i] != e->compile_hashes[i])
            anvil__name_list_add(changed, w->values[w->inputs[i]].name, NULL);
}

static anvil_status check_structure(const anvil_engine *e, const anvil__weight_set *set) {
    const anvil__backend *be = e->backend;
    unsigned char buf[ANVIL_SMALL_SLOT_BYTES];
    anvil__name_list *changed = anvil__calloc(1, sizeof *changed);
    bool *live = anvil__calloc((size_t)e->weights->n_values + 1, sizeof *live);
    anvil_status s = changed && live ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) {
        anvil__weights_live_at_run(e, live);
        check_folded(e, set, live, changed);
    }
    for (int32_t i = 0; s == ANVIL_OK && i < set->n_slots; i++) {
        const anvil__tensor *old = &e->slots[i].shape;
        if (!old->data || !set->slots[i] || old->bytes > sizeof buf ||
            !anvil__dtype_is_int(old->dtype))
            continue;
        if (set->slot_bytes[i] != old->bytes) {
            anvil__name_list_add(changed, e->run->values[e->run->inits[i].value].name, "(size)");
            continue;
        }
        s = be->copy(be->ctx, buf, set->slots[i], old->bytes, false);
        if (s == ANVIL_OK && memcmp(buf, old->data, old->bytes) != 0)
            anvil__name_list_add(changed, e->run->values[e->run->inits[i].value].name, NULL);
    }
    if (s == ANVIL_OK && changed->count)
        s = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                         "refit: %d weight(s) the engine's shapes or fused kernels were built "
                         "from changed (recompile instead): %s", changed->count, changed->text);
    anvil__free(changed);
    anvil__free(live);
    return s;
}

/* Refreshes the copies of small float slots kept for planning from a new set (a fresh engine
 * only: runs of a live engine may read them). */
static anvil_status refresh_small(anvil_engine *e, const anvil__weight_set *set) {
    const anvil__backend *be = e->backend;
    for (int32_t i = 0; i < set->n_slots; i++) {
        anvil__tensor *t = &e->slots[i].shape;
        if (!t->data || !set->slots[i] || set->slot_bytes[i] != t->bytes ||
            e->slots[i].layout.kind != ANVIL_LAYOUT_PLAIN)
            continue;
        anvil_status s = be->copy(be->ctx, t->data, set->slots[i], t->bytes, false);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status copy_tables(const anvil_engine *e, anvil_engine *c) {
    int32_t n = e->run->n_inits, ni = e->run->n_inputs;
    c->slots = anvil__calloc((size_t)n + 1, sizeof *c->slots);
    c->profiles = anvil__calloc((size_t)ni + 1, sizeof *c->profiles);
    if (!c->slots || !c->profiles) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < n; i++) {
        c->slots[i] = e->slots[i];
        c->slots[i].shape.data = NULL;
        const anvil__tensor *t = &e->slots[i].shape;
        if (!t->data) continue;
        c->slots[i].shape.data = anvil__malloc(t->bytes ? t->bytes : 1);
        if (!c->slots[i].shape.data) return ANVIL_STATUS_OUT_OF_MEMORY;
        memcpy(c->slots[i].shape.data, t->data, t->bytes);
    }
    for (int32_t i = 0; i < ni; i++) {
        c->profiles[i] = e->profiles[i];
        c->profiles[i].name = NULL;
        if (!(c->profiles[i].name = anvil__strdup(e->profiles[i].name)))
            return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    return ANVIL_OK;
}

/* The copy's own plan (kernels borrow its run-graph nodes), built with the original plan as
 * the reference: same tactics and weight layouts, no autotuning. */
static anvil_status copy_plan(const anvil_engine *e, anvil_engine *c) {
    anvil__tensor *opt = anvil__calloc((size_t)c->run->n_inputs + 1, sizeof *opt);
    if (!opt) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; s == ANVIL_OK && i < c->run->n_inputs; i++)
        s = anvil__tensor_shape(&opt[i], c->run->values[c->run->inputs[i]].dtype,
                                c->profiles[i].rank, c->profiles[i].opt);
    if (s == ANVIL_OK) {
        anvil__plan *fresh = NULL;
        c->plan = e->plan;
        s = anvil__engine_replan(c, opt, &fresh);
        c->plan = fresh;
    }
    anvil__free(opt);
    return s;
}

/* A new engine equal to e with no weights: sharing nothing mutable with it. */
static anvil_status engine_copy(const anvil_engine *e, anvil_engine **out) {
    *out = NULL;
    anvil_engine *c = anvil__engine_new();
    if (!c) return ANVIL_STATUS_OUT_OF_MEMORY;
    c->backend = e->backend;
    c->options = e->options;
    c->dynamic = e->dynamic;
    c->compile_seconds = e->compile_seconds;
    anvil_status s = e->name_map ? anvil__name_map_clone(e->name_map, &c->name_map) : ANVIL_OK;
    if (s == ANVIL_OK && e->compile_hashes) {
        size_t n = (size_t)e->weights->n_inputs;
        c->compile_hashes = anvil__malloc_array(n + 1, sizeof *c->compile_hashes);
        if (!c->compile_hashes) s = ANVIL_STATUS_OUT_OF_MEMORY;
        else memcpy(c->compile_hashes, e->compile_hashes, n * sizeof *c->compile_hashes);
    }
    if (s == ANVIL_OK) s = anvil__pass_clone_graph(e->run, NULL, true, &c->run);
    if (s == ANVIL_OK) s = anvil__pass_clone_graph(e->weights, NULL, true, &c->weights);
    if (s == ANVIL_OK) s = copy_tables(e, c);
    if (s == ANVIL_OK) s = copy_plan(e, c);
    if (s != ANVIL_OK) {
        anvil_engine_destroy(c);
        return s;
    }
    *out = c;
    return ANVIL_OK;
}

anvil_status anvil__refit_check_source(const anvil_refit_source *src) {
    if ((unsigned)src->kind >= ANVIL_REFIT_SOURCE_COUNT)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "bad refit source kind %d",
                            (int)src->kind);
    if ((src->kind == ANVIL_REFIT_FROM_MODEL && (!src->model || !src->model->graph)) ||
        (src->kind == ANVIL_REFIT_FROM_SAFETENSORS && !src->safetensors) ||
        (src->kind == ANVIL_REFIT_FROM_TENSORS && !src->tensors && src->n_tensors))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "refit source of kind %d lacks its model, file or tensors",
                            (int)src->kind);
    return ANVIL_OK;
}

/* Finds and validates the sources, stages a new weight set from them (sharing what did not
 * change with the current set) and checks the engine's structure still holds. */
static anvil_status stage(const anvil_engine *e, const anvil_refit_source *source,
                          const anvil_refit_options *o, anvil__refit_sources *src,
                          anvil__weight_set **out, anvil__build_stats *stats) {
    *out = NULL;
    const anvil_name_map *map = o->name_map ? o->name_map : e->name_map;
    /* verify and check_finite read the sources as dense tensors */
    bool views = !o->check_finite && !o->n_verify_inputs;
    anvil_status s = anvil__refit_gather(e, source, map, o->check_finite != 0, views, src);
    if (s != ANVIL_OK) return s;
    anvil__weight_set *base = anvil__weights_acquire(e);
    s = anvil__weights_build(e, src->t, src->views, base, out, stats);
    anvil__weights_release(e, base);
    if (s == ANVIL_OK) s = check_structure(e, *out);
    if (s != ANVIL_OK) {
        anvil__weight_set_free(e, *out);
        *out = NULL;
        anvil__refit_sources_free(src);
    }
    return s;
}

/* verify failed: compile the source model afresh when allowed, else report the failure. */
static anvil_status fall_back(const anvil_engine *e, const anvil_refit_source *source,
                              const anvil_refit_options *o, anvil_status failed,
                              anvil_engine **out) {
    if (!o->fallback_compile || source->kind != ANVIL_REFIT_FROM_MODEL) return failed;
    anvil_compile_options co = e->options;
    co.profiles = e->profiles;
    co.n_profiles = (size_t)e->run->n_inputs;
    anvil_status s = anvil_engine_compile(source->model, &co, out);
    if (s != ANVIL_OK) return anvil__error_prefix(s, "refit verify failed and so did the "
                                                     "fallback compile");
    if (e->name_map) s = anvil_engine_set_name_map(*out, e->name_map);
    if (s != ANVIL_OK) {
        anvil_engine_destroy(*out);
        *out = NULL;
    }
    return s;
}

/* Makes `set` the weights of `engine` (in place) or of a new copy of it. */
static anvil_status commit(anvil_engine *engine, anvil__weight_set *set, bool in_place,
                           anvil_engine **out) {
    anvil_engine *target = engine;
    if (!in_place) {
        anvil_status s = engine_copy(engine, &target);
        if (s == ANVIL_OK) s = refresh_small(target, set);
        if (s != ANVIL_OK) {
            anvil_engine_destroy(target);
            anvil__weight_set_free(engine, set);
            return s;
        }
    }
    pthread_mutex_lock(&target->lock);
    anvil__weight_set *old = target->current;
    target->current = set;
    pthread_mutex_unlock(&target->lock);
    anvil__weights_release(target, old); /* runs in flight hold their own reference */
    *out = target;
    return ANVIL_OK;
}

static size_t stored_bytes(const anvil__weight_set *set) {
    size_t n = 0;
    for (int32_t i = 0; i < set->n_slots; i++)
        if (set->slots[i]) n += set->slot_bytes[i];
    return n;
}

anvil_status anvil_engine_refit(anvil_engine *engine, const anvil_refit_source *source,
                                const anvil_refit_options *options, anvil_engine **out,
                                anvil_refit_report *report) {
    if (out) *out = NULL;
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    if (!engine || !source)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or source is NULL");
    anvil_status s = anvil__refit_check_source(source);
    if (s != ANVIL_OK) return s;
    anvil_refit_options o = options ? *options : anvil_refit_options_default();
    if (o.n_verify_inputs && !o.verify_inputs)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "verify_inputs is NULL");
    if (o.threads < 0)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "threads %d: expected 0 (OpenMP's "
                            "count) or more", (int)o.threads);
    double t0 = now_seconds();
    anvil__refit_sources src;
    anvil__weight_set *set = NULL;
    anvil__build_stats stats;
    memset(&stats, 0, sizeof stats);
    /* The parallel regions of staging (and the reorders run outside them) take the calling
     * thread's OpenMP count: set for the call, restored after. */
    int prev_threads = omp_get_max_threads();
    if (o.threads > 0) omp_set_num_threads(o.threads);
    s = stage(engine, source, &o, &src, &set, &stats);
    if (o.threads > 0) omp_set_num_threads(prev_threads);
    if (s != ANVIL_OK) return s;
    double worst = 0, tolerance = o.verify_tolerance > 0 ? o.verify_tolerance : 1e-4;
    int32_t worst_output = -1;
    if (o.n_verify_inputs) s = anvil__refit_verify(engine, set, &src, &o, &worst, &worst_output);
    size_t mapped = src.n_mapped, total = stored_bytes(set);
    anvil__refit_sources_free(&src);
    bool recompiled = false;
    if (s == ANVIL_OK && worst_output >= 0 && !(worst <= tolerance)) {
        anvil__weight_set_free(engine, set);
        set = NULL;
        s = anvil__error(ANVIL_STATUS_OUT_OF_RANGE,
                         "refit verify: output '%s' differs from the reference by %.3g of its "
                         "max |value| (tolerance %.3g); the refit was rolled back",
                         engine->run->values[engine->run->outputs[worst_output]].name, worst,
                         tolerance);
        s = fall_back(engine, source, &o, s, out);
        recompiled = s == ANVIL_OK;
    }
    if (s != ANVIL_OK) {
        anvil__weight_set_free(engine, set);
        return s;
    }
    if (set && (s = commit(engine, set, o.in_place != 0, out)) != ANVIL_OK) return s;
    anvil_engine_info info;
    if (recompiled && anvil_engine_get_info(*out, &info) == ANVIL_OK) total = info.weight_bytes;
    if (report) report->bytes_total = total;
    if (report) {
        report->sources = (size_t)engine->weights->n_inputs;
        report->bytes_packed = recompiled ? 0 : stats.bytes_rebuilt;
        report->sources_changed = stats.sources_changed;
        report->sources_mapped = mapped;
        report->slots_rebuilt = recompiled ? 0 : stats.slots_rebuilt;
        report->verify_error = worst;
        report->recompiled = recompiled;
        report->seconds = now_seconds() - t0;
    }
    return ANVIL_OK;
}

anvil_status anvil_engine_set_name_map(anvil_engine *engine, const anvil_name_map *map) {
    if (!engine) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine is NULL");
    anvil_name_map *copy = NULL;
    if (map) {
        anvil_status s = anvil__name_map_clone(map, &copy);
        if (s != ANVIL_OK) return s;
    }
    anvil_name_map_destroy(engine->name_map);
    engine->name_map = copy;
    return ANVIL_OK;
}

const anvil_name_map *anvil_engine_name_map(const anvil_engine *engine) {
    return engine ? engine->name_map : NULL;
}

size_t anvil_engine_refit_source_count(const anvil_engine *engine) {
    return engine ? (size_t)engine->weights->n_inputs : 0;
}

anvil_status anvil_engine_refit_source(const anvil_engine *engine, size_t index,
                                       anvil_tensor_desc *out) {
    if (!engine || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or out is NULL");
    const anvil__graph *w = engine->weights;
    if (index >= (size_t)w->n_inputs)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "source index %zu: the engine has %d",
                            index, (int)w->n_inputs);
    const anvil__value *v = &w->values[w->inputs[index]];
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->dtype = v->dtype;
    out->rank = v->rank;
    for (int32_t d = 0; d < v->rank && d < ANVIL_MAX_RANK; d++) out->dims[d] = v->dims[d];
    return ANVIL_OK;
}
