/*
 * refit.c — anvil_engine_refit: new source weights into a compiled engine by replaying its
 * recipes (the weight graph). Every source is validated before anything is built, the new set
 * is staged aside, and only then swapped in (in place) or given to a copy of the engine, so any
 * failure leaves the engine as it was. Not here: partial repacking by source hash, name maps.
 */
#include "api/model.h"
#include "engine/engine_internal.h"
#include "passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

anvil_refit_options anvil_refit_options_default(void) {
    anvil_refit_options o;
    memset(&o, 0, sizeof o);
    return o;
}

/* A bounded list of offending names for one error message. */
typedef struct name_list {
    char text[1536];
    size_t len;
    int count;
} name_list;

static void list_add(name_list *l, const char *name, const char *detail) {
    l->count++;
    if (l->len + 8 >= sizeof l->text) return;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s'%s'%s%s",
                     l->count > 1 ? ", " : "", name, detail ? " " : "", detail ? detail : "");
    if (n < 0) return;
    l->len += (size_t)n;
    if (l->len >= sizeof l->text - 8) { /* truncated: say so */
        l->len = sizeof l->text - 8;
        memcpy(l->text + l->len, ", ...", 6);
        l->len += 5;
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void from_public(const anvil_tensor *t, anvil__tensor *out) {
    memset(out, 0, sizeof *out);
    out->dtype = t->dtype;
    out->rank = t->rank;
    for (int32_t d = 0; d < t->rank && d < ANVIL_MAX_RANK; d++) out->dims[d] = t->dims[d];
    out->data = t->data;
    out->bytes = t->bytes;
}

/* Looks up source `name`; false if the source does not have it. */
static bool find_source(const anvil_refit_source *src, const char *name, anvil__tensor *out) {
    if (src->kind == ANVIL_REFIT_FROM_MODEL) {
        const anvil__graph *g = src->model->graph;
        int32_t v = anvil__graph_find(g, name);
        if (v < 0 || g->values[v].init < 0) return false;
        *out = g->inits[g->values[v].init].t;
        return true;
    }
    if (src->kind == ANVIL_REFIT_FROM_SAFETENSORS) {
        anvil_tensor t;
        if (anvil_safetensors_find(src->safetensors, name, &t) != ANVIL_OK) return false;
        from_public(&t, out);
        return true;
    }
    for (size_t i = 0; i < src->n_tensors; i++) {
        if (!src->tensors[i].name || strcmp(src->tensors[i].name, name) != 0) continue;
        from_public(&src->tensors[i], out);
        return true;
    }
    return false;
}

static bool same_shape(const anvil__value *want, const anvil__tensor *got) {
    if (want->rank != got->rank) return false;
    for (int32_t d = 0; d < got->rank; d++)
        if (want->dims[d] != got->dims[d]) return false;
    return true;
}

/* Index of the first non-finite element of a float tensor, -1 if all are finite. */
static int64_t first_non_finite(const anvil__tensor *t, int64_t numel) {
    if (!anvil__dtype_is_float(t->dtype)) return -1;
    if (t->dtype == ANVIL_DTYPE_F32) {
        const float *p = t->data;
        for (int64_t i = 0; i < numel; i++)
            if (!isfinite(p[i])) return i;
        return -1;
    }
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(anvil__load_f64(t->dtype, t->data, (size_t)i))) return i;
    return -1;
}

typedef struct problems {
    name_list missing, dtype, shape, finite, data;
} problems;

/* Checks source i against weight-graph input value `want`; records what is wrong. */
static void check_one(const anvil__value *want, anvil__tensor *t, bool check_finite,
                      problems *p) {
    char detail[256], a[96], b[96];
    if (t->dtype != want->dtype) {
        snprintf(detail, sizeof detail, "(expected %s, got %s)", anvil_dtype_name(want->dtype),
                 anvil_dtype_name(t->dtype));
        list_add(&p->dtype, want->name, detail);
        return;
    }
    if (!same_shape(want, t)) {
        snprintf(detail, sizeof detail, "(expected %s, got %s)",
                 anvil__shape_str(want->rank, want->dims, a, sizeof a),
                 anvil__shape_str(t->rank, t->dims, b, sizeof b));
        list_add(&p->shape, want->name, detail);
        return;
    }
    anvil__tensor expect;
    memset(&expect, 0, sizeof expect);
    if (anvil__tensor_shape(&expect, t->dtype, t->rank, t->dims) != ANVIL_OK ||
        expect.bytes != t->bytes || (!t->data && t->bytes)) {
        snprintf(detail, sizeof detail, "(%zu bytes for its shape, which needs %zu)", t->bytes,
                 expect.bytes);
        list_add(&p->data, want->name, detail);
        return;
    }
    if (!t->data) t->data = (void *)""; /* empty tensor */
    int64_t bad = check_finite ? first_non_finite(t, anvil__tensor_numel(t)) : -1;
    if (bad >= 0) {
        snprintf(detail, sizeof detail, "(element %lld is %g)", (long long)bad,
                 anvil__load_f64(t->dtype, t->data, (size_t)bad));
        list_add(&p->finite, want->name, detail);
    }
}

static anvil_status report_problems(const problems *p) {
    if (p->missing.count)
        return anvil__error(ANVIL_STATUS_NOT_FOUND, "refit: %d source weight(s) missing: %s",
                            p->missing.count, p->missing.text);
    if (p->dtype.count)
        return anvil__error(ANVIL_STATUS_DTYPE_MISMATCH, "refit: %d source weight(s) of the "
                            "wrong dtype: %s", p->dtype.count, p->dtype.text);
    if (p->shape.count)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "refit: %d source weight(s) of the "
                            "wrong shape: %s", p->shape.count, p->shape.text);
    if (p->data.count)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "refit: %d source weight(s) with "
                            "bad data: %s", p->data.count, p->data.text);
    if (p->finite.count)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "refit: %d source weight(s) not "
                            "finite: %s", p->finite.count, p->finite.text);
    return ANVIL_OK;
}

/* Gathers every source in weights->inputs order into src and validates all of them. */
static anvil_status gather_sources(const anvil_engine *e, const anvil_refit_source *source,
                                   bool check_finite, anvil__tensor *src) {
    const anvil__graph *w = e->weights;
    problems *p = anvil__calloc(1, sizeof *p);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < w->n_inputs; i++) {
        const anvil__value *want = &w->values[w->inputs[i]];
        if (!find_source(source, want->name, &src[i])) {
            list_add(&p->missing, want->name, NULL);
            continue;
        }
        check_one(want, &src[i], check_finite, p);
    }
    anvil_status s = report_problems(p);
    anvil__free(p);
    return s;
}

/* Small integer slots feed shapes (Reshape targets, axes, ...) that the plan was built for: a
 * refit may not change them. The engine keeps their bytes in e->slots. */
static anvil_status check_structure(const anvil_engine *e, const anvil__weight_set *set) {
    const anvil__backend *be = e->backend;
    unsigned char buf[ANVIL_SMALL_SLOT_BYTES];
    name_list *changed = anvil__calloc(1, sizeof *changed);
    if (!changed) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; s == ANVIL_OK && i < set->n_slots; i++) {
        const anvil__tensor *old = &e->slots[i].shape;
        if (!old->data || !anvil__dtype_is_int(old->dtype) || !set->slots[i] ||
            old->bytes > sizeof buf)
            continue;
        if (set->slot_bytes[i] != old->bytes) {
            list_add(changed, e->run->values[e->run->inits[i].value].name, "(size)");
            continue;
        }
        s = be->copy(be->ctx, buf, set->slots[i], old->bytes, false);
        if (s == ANVIL_OK && memcmp(buf, old->data, old->bytes) != 0)
            list_add(changed, e->run->values[e->run->inits[i].value].name, NULL);
    }
    if (s == ANVIL_OK && changed->count)
        s = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                         "refit: %d integer weight(s) the engine's shapes depend on changed "
                         "(recompile instead): %s", changed->count, changed->text);
    anvil__free(changed);
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
    anvil_status s = anvil__pass_clone_graph(e->run, NULL, true, &c->run);
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

static anvil_status check_args(const anvil_engine *e, const anvil_refit_source *src) {
    if (!e || !src) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or source is NULL");
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

/* Validates the sources and stages a new weight set from them. */
static anvil_status stage(const anvil_engine *e, const anvil_refit_source *source,
                          bool check_finite, anvil__weight_set **out) {
    *out = NULL;
    anvil__tensor *src = anvil__calloc((size_t)e->weights->n_inputs + 1, sizeof *src);
    if (!src) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = gather_sources(e, source, check_finite, src);
    if (s == ANVIL_OK) s = anvil__weights_build(e, src, out);
    anvil__free(src);
    if (s == ANVIL_OK) s = check_structure(e, *out);
    if (s != ANVIL_OK && *out) {
        anvil__weight_set_free(e, *out);
        *out = NULL;
    }
    return s;
}

static size_t set_bytes(const anvil__weight_set *set) {
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
    anvil_status s = check_args(engine, source);
    if (s != ANVIL_OK) return s;
    anvil_refit_options o = options ? *options : anvil_refit_options_default();
    double t0 = now_seconds();
    anvil__weight_set *set = NULL;
    s = stage(engine, source, o.check_finite != 0, &set);
    if (s != ANVIL_OK) return s;
    size_t bytes = set_bytes(set);
    anvil_engine *target = engine;
    if (!o.in_place) {
        s = engine_copy(engine, &target);
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
    if (report) {
        report->sources = (size_t)engine->weights->n_inputs;
        report->bytes_packed = bytes;
        report->seconds = now_seconds() - t0;
    }
    return ANVIL_OK;
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
