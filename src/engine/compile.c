/*
 * compile.c — anvil_engine_compile: profiles → opt shapes, passes, plan (tactics, autotune,
 * layouts), weight packing recorded as Pack ops in the weight graph, and the first weight set
 * built by evaluating the weight graph on the model's own initializers — exactly what a refit
 * does later with new sources.
 */
#include "api/model.h"
#include "engine/engine_internal.h"
#include "passes/passes.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

anvil_compile_options anvil_compile_options_default(void) {
    anvil_compile_options o;
    memset(&o, 0, sizeof o);
    o.backend = ANVIL_BACKEND_CPU;
    o.threads = 0;
    o.precision = ANVIL_PRECISION_F32;
    o.refittable = 1;
    o.opt_level = 2;
    o.autotune = 1;
    return o;
}

static const anvil_input_profile *find_profile(const anvil_compile_options *o, const char *name) {
    for (size_t i = 0; i < o->n_profiles; i++)
        if (o->profiles[i].name && strcmp(o->profiles[i].name, name) == 0) return &o->profiles[i];
    return NULL;
}

/* Resolves each model input's profile: fixed dims come from the model; dynamic dims from the
 * caller's profile (or 1 when none is given). Checks min <= opt <= max and fixed dims. */
static anvil_status resolve_profiles(const anvil__graph *g, const anvil_compile_options *o,
                                     anvil_input_profile *out, anvil__tensor *opt) {
    for (size_t k = 0; k < o->n_profiles; k++) {
        if (!o->profiles[k].name || anvil__graph_find(g, o->profiles[k].name) < 0 ||
            !(g->values[anvil__graph_find(g, o->profiles[k].name)].flags & ANVIL_VALUE_INPUT))
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "profile names '%s', which is not an input of the model",
                                o->profiles[k].name ? o->profiles[k].name : "(null)");
    }
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const anvil__value *v = &g->values[g->inputs[i]];
        const anvil_input_profile *p = find_profile(o, v->name);
        if (v->rank < 0 && !p)
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "input '%s' has no declared rank: give a profile", v->name);
        int32_t rank = v->rank >= 0 ? v->rank : p->rank;
        if (p && p->rank != rank)
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "profile of input '%s' has rank %d, the input has rank %d", v->name,
                                (int)p->rank, (int)rank);
        out[i].name = v->name;
        out[i].rank = rank;
        for (int32_t d = 0; d < rank; d++) {
            int64_t fixed = v->rank >= 0 ? v->dims[d] : -1;
            int64_t mn = p ? p->min[d] : (fixed >= 0 ? fixed : 1);
            int64_t op = p ? p->opt[d] : mn, mx = p ? p->max[d] : mn;
            if (mn < 0 || mn > op || op > mx)
                return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                    "profile of input '%s' dim %d: need 0 <= min <= opt <= max, "
                                    "got %lld, %lld, %lld",
                                    v->name, (int)d, (long long)mn, (long long)op, (long long)mx);
            if (fixed >= 0 && (mn != fixed || mx != fixed))
                return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                    "profile of input '%s' dim %d: the model fixes it to %lld, "
                                    "the profile gives %lld..%lld",
                                    v->name, (int)d, (long long)fixed, (long long)mn,
                                    (long long)mx);
            out[i].min[d] = mn;
            out[i].opt[d] = op;
            out[i].max[d] = mx;
        }
        anvil_status s = anvil__tensor_shape(&opt[i], v->dtype, rank, out[i].opt);
        if (s != ANVIL_OK) return anvil__error_prefix(s, "input '%s'", v->name);
    }
    return ANVIL_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Slot descriptions for planning: logical shape, plain layout, and a copy of small slots'
 * data (shape arithmetic reads it). */
static anvil_status describe_slots(anvil_engine *e) {
    const anvil__graph *run = e->run;
    e->slots = anvil__calloc((size_t)(run->n_inits + 1), sizeof *e->slots);
    if (!e->slots) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < run->n_inits; i++) {
        anvil__slot_info *si = &e->slots[i];
        si->shape = run->inits[i].t;
        si->shape.data = NULL;
        if (run->inits[i].t.data && run->inits[i].t.bytes <= ANVIL_SMALL_SLOT_BYTES) {
            si->shape.data = anvil__malloc(run->inits[i].t.bytes ? run->inits[i].t.bytes : 1);
            if (!si->shape.data) return ANVIL_STATUS_OUT_OF_MEMORY;
            memcpy(si->shape.data, run->inits[i].t.data, run->inits[i].t.bytes);
        }
    }
    return ANVIL_OK;
}

static anvil_status take_graphs(anvil_engine *e, anvil__compile_state *st) {
    e->run = st->run;
    e->weights = st->weights;
    st->run = st->weights = NULL;
    anvil_status s = describe_slots(e);
    if (s != ANVIL_OK) return s;
    /* Run-graph initializers carry no bytes in an engine: slots live in weight sets. */
    for (int32_t i = 0; i < e->run->n_inits; i++) {
        if (e->run->inits[i].owned) anvil__free(e->run->inits[i].t.data);
        e->run->inits[i].t.data = NULL;
        e->run->inits[i].owned = false;
    }
    return ANVIL_OK;
}

static anvil_status compile_body(anvil_engine *e, const anvil_model *model,
                                 const anvil_compile_options *o) {
    const anvil__graph *g = model->graph;
    anvil__tensor *opt = anvil__calloc((size_t)g->n_inputs + 1, sizeof *opt);
    e->profiles = anvil__calloc((size_t)g->n_inputs + 1, sizeof *e->profiles);
    if (!opt || !e->profiles) {
        anvil__free(opt);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    anvil_status s = resolve_profiles(g, o, e->profiles, opt);
    for (int32_t i = 0; s == ANVIL_OK && i < g->n_inputs; i++) {
        e->profiles[i].name = anvil__strdup(e->profiles[i].name);
        if (!e->profiles[i].name) s = ANVIL_STATUS_OUT_OF_MEMORY;
        for (int32_t d = 0; d < e->profiles[i].rank; d++)
            e->dynamic |= e->profiles[i].min[d] != e->profiles[i].max[d];
    }
    anvil__compile_state st;
    memset(&st, 0, sizeof st);
    if (s == ANVIL_OK) s = anvil__compile_state_init(&st, g);
    if (s == ANVIL_OK) {
        st.opt_inputs = opt;
        st.disabled = o->disabled_passes;
        st.opt_level = o->opt_level;
        st.dynamic = e->dynamic;
        if (o->progress) o->progress(o->progress_user, "passes", 0.0);
        s = anvil__passes_run(&st);
    }
    if (s == ANVIL_OK) s = take_graphs(e, &st);
    anvil__compile_state_free(&st);
    if (s == ANVIL_OK) s = anvil__engine_plan(e, opt, true, o->progress, o->progress_user);
    if (s == ANVIL_OK) {
        if (o->progress) o->progress(o->progress_user, "pack", 0.0);
        anvil__weight_set *set = NULL;
        s = anvil__weights_from_model(e, model, &set);
        if (s == ANVIL_OK) {
            e->current = set;
            size_t n = (size_t)set->n_sources;
            e->compile_hashes = anvil__malloc_array(n + 1, sizeof *e->compile_hashes);
            if (!e->compile_hashes) s = ANVIL_STATUS_OUT_OF_MEMORY;
            else memcpy(e->compile_hashes, set->source_hashes, n * sizeof *e->compile_hashes);
        }
        if (o->progress) o->progress(o->progress_user, "pack", 1.0);
    }
    anvil__free(opt);
    return s;
}

anvil_status anvil_engine_compile(const anvil_model *model, const anvil_compile_options *options,
                                  anvil_engine **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!model) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "model is NULL");
    anvil_compile_options o = options ? *options : anvil_compile_options_default();
    if ((unsigned)o.precision >= ANVIL_PRECISION_COUNT || (unsigned)o.backend >= ANVIL_BACKEND_COUNT)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "bad backend %d or precision %d",
                            (int)o.backend, (int)o.precision);
    if (o.precision != ANVIL_PRECISION_F32) {
        const anvil__backend *be = NULL;
        anvil_status bs = anvil__backend_get(o.backend, &be);
        if (bs != ANVIL_OK) return bs;
        if (!be->supports_precision || !be->supports_precision(be->ctx, o.precision))
            return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                                "precision bf16 needs a CPU with avx512_bf16, which this machine "
                                "lacks (backend %s); use f32",
                                be->name);
    }
    if (o.threads < 0 || o.opt_level < 0 || o.opt_level > 2)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "bad threads %d or opt_level %d",
                            (int)o.threads, (int)o.opt_level);
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 && n < 1024 ? (int32_t)n : 1;
    }
    double t0 = now_seconds();
    anvil_engine *e = anvil__engine_new();
    if (!e) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = anvil__backend_get(o.backend, &e->backend);
    e->options = o;
    e->options.profiles = NULL;
    e->options.n_profiles = 0;
    e->options.progress = NULL;
    e->options.progress_user = NULL;
    if (s == ANVIL_OK) s = compile_body(e, model, &o);
    if (s != ANVIL_OK) {
        anvil_engine_destroy(e);
        return s;
    }
    e->compile_seconds = now_seconds() - t0;
    *out = e;
    return ANVIL_OK;
}
