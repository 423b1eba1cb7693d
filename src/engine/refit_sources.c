/*
 * refit_sources.c — finding a refit's source weights: by their own name in an ONNX model, a
 * safetensors file or named tensors, else through a name map (checkpoint names, transposes,
 * BatchNorm folds), and validating every one before anything is built (ties of the map
 * included: checkpoint tensors one weight stands for must agree). One error names every
 * offending weight, and the source's unused tensors when some are missing (renamed or
 * restructured checkpoints are then obvious).
 */
#include "engine/refit_sources.h"

#include "api/model.h"
#include "namemap/name_map.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void anvil__name_list_add(anvil__name_list *l, const char *name, const char *detail) {
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
    anvil__name_list missing, dtype, shape, finite, data, unused, extra, tied;
} problems;

/* Checks source i against weight-graph input value `want`; records what is wrong. */
static void check_one(const anvil__value *want, anvil__tensor *t, bool check_finite,
                      problems *p) {
    char detail[256], a[96], b[96];
    if (t->dtype != want->dtype) {
        snprintf(detail, sizeof detail, "(expected %s, got %s)", anvil_dtype_name(want->dtype),
                 anvil_dtype_name(t->dtype));
        anvil__name_list_add(&p->dtype, want->name, detail);
        return;
    }
    if (!same_shape(want, t)) {
        snprintf(detail, sizeof detail, "(expected %s, got %s)",
                 anvil__shape_str(want->rank, want->dims, a, sizeof a),
                 anvil__shape_str(t->rank, t->dims, b, sizeof b));
        anvil__name_list_add(&p->shape, want->name, detail);
        return;
    }
    anvil__tensor expect;
    memset(&expect, 0, sizeof expect);
    if (anvil__tensor_shape(&expect, t->dtype, t->rank, t->dims) != ANVIL_OK ||
        expect.bytes != t->bytes || (!t->data && t->bytes)) {
        snprintf(detail, sizeof detail, "(%zu bytes for its shape, which needs %zu)", t->bytes,
                 expect.bytes);
        anvil__name_list_add(&p->data, want->name, detail);
        return;
    }
    if (!t->data) t->data = (void *)""; /* empty tensor */
    int64_t bad = check_finite ? first_non_finite(t, anvil__tensor_numel(t)) : -1;
    if (bad >= 0) {
        snprintf(detail, sizeof detail, "(element %lld is %g)", (long long)bad,
                 anvil__load_f64(t->dtype, t->data, (size_t)bad));
        anvil__name_list_add(&p->finite, want->name, detail);
    }
}

static anvil_status report_problems(const problems *p) {
    if (p->extra.count)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "refit: the source model's structure "
                            "differs from the engine's: its nodes read %d weight(s) the engine "
                            "does not have: %s%s%s", p->extra.count, p->extra.text,
                            p->missing.count ? "; and it lacks: " : "",
                            p->missing.count ? p->missing.text : "");
    if (p->missing.count)
        return anvil__error(ANVIL_STATUS_NOT_FOUND, "refit: %d source weight(s) missing: %s%s%s",
                            p->missing.count, p->missing.text,
                            p->unused.count ? "; the source has these tensors the engine does "
                                              "not use: " : "",
                            p->unused.count ? p->unused.text : "");
    if (p->tied.count)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "refit: %d group(s) of checkpoint "
                            "tensors tied in the name map (equal when it was built: an exporter "
                            "may have merged them into one initializer) differ in this source: "
                            "%s; one weight of the engine cannot hold them apart: export and "
                            "compile the model again, or, if some are copies the model does not "
                            "use (an EMA), build the map from a checkpoint where they differ",
                            p->tied.count, p->tied.text);
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


static bool lookup_source(void *user, const char *name, anvil__tensor *out) {
    return find_source(user, name, out);
}

/* Name of the source's i-th tensor, NULL past the end. */
static const char *source_name(const anvil_refit_source *src, size_t i) {
    if (src->kind == ANVIL_REFIT_FROM_MODEL) {
        const anvil__graph *g = src->model->graph;
        return i < (size_t)g->n_inits ? g->values[g->inits[i].value].name : NULL;
    }
    if (src->kind == ANVIL_REFIT_FROM_SAFETENSORS) {
        anvil_tensor t;
        return anvil_safetensors_get(src->safetensors, i, &t) == ANVIL_OK ? t.name : NULL;
    }
    return i < src->n_tensors ? (src->tensors[i].name ? src->tensors[i].name : "") : NULL;
}

/* Lists the source's tensors that neither the engine nor the map's entries for it read. */
static anvil_status list_unused(const anvil_engine *e, const anvil_refit_source *src,
                                const anvil_name_map *map, anvil__name_list *unused) {
    const anvil__graph *w = e->weights;
    anvil__name_map used;
    memset(&used, 0, sizeof used);
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; s == ANVIL_OK && i < w->n_inputs; i++) {
        const char *name = w->values[w->inputs[i]].name;
        s = anvil__name_map_put(&used, name, i);
        anvil_map_entry entry;
        if (s != ANVIL_OK || !map || anvil_name_map_find(map, name, &entry) != ANVIL_OK) continue;
        for (int32_t k = 0; s == ANVIL_OK && k < entry.n_sources; k++)
            s = anvil__name_map_put(&used, entry.sources[k], i);
    }
    for (size_t g = 0; map && g < map->n_ties; g++) /* checked against each other: read */
        for (size_t k = 0; s == ANVIL_OK && k < map->ties[g].count; k++)
            s = anvil__name_map_put(&used, map->ties[g].names[k], 0);
    const char *name;
    for (size_t i = 0; s == ANVIL_OK && (name = source_name(src, i)); i++)
        if (anvil__name_map_get(&used, name) < 0) anvil__name_list_add(unused, name, NULL);
    anvil__name_map_free(&used);
    return s;
}

/* For an ONNX model source: the initializers that nodes computing the model's outputs read
 * and that the engine has no source for — a model of another structure (a weight added or
 * renamed), which a refit must refuse even when every weight the engine needs is there. */
static anvil_status list_extra(const anvil_engine *e, const anvil__graph *g,
                               anvil__name_list *extra) {
    bool *needed = anvil__calloc((size_t)g->n_values + 1, sizeof *needed);
    anvil__name_map sources;
    memset(&sources, 0, sizeof sources);
    anvil_status s = needed ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    const anvil__graph *w = e->weights;
    for (int32_t i = 0; s == ANVIL_OK && i < w->n_inputs; i++)
        s = anvil__name_map_put(&sources, w->values[w->inputs[i]].name, i);
    for (int32_t o = 0; s == ANVIL_OK && o < g->n_outputs; o++) needed[g->outputs[o]] = true;
    for (int32_t n = g->n_nodes - 1; s == ANVIL_OK && n >= 0; n--) {
        const anvil__node *node = &g->nodes[n];
        bool live = false;
        for (int32_t k = 0; k < node->n_outputs; k++)
            live |= node->outputs[k] >= 0 && needed[node->outputs[k]];
        for (int32_t k = 0; live && k < node->n_inputs; k++)
            if (node->inputs[k] >= 0) needed[node->inputs[k]] = true;
    }
    for (int32_t i = 0; s == ANVIL_OK && i < g->n_inits; i++) {
        const char *name = g->values[g->inits[i].value].name;
        if (needed[g->inits[i].value] && anvil__name_map_get(&sources, name) < 0)
            anvil__name_list_add(extra, name, NULL);
    }
    anvil__name_map_free(&sources);
    anvil__free(needed);
    return s;
}

static bool same_bits(const anvil__tensor *a, const anvil__tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank || a->bytes != b->bytes) return false;
    for (int32_t d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return a->bytes == 0 || (a->data && b->data && memcmp(a->data, b->data, a->bytes) == 0);
}

/* The initializer a tie group stands behind (an entry whose source is a member), for messages:
 * runs on errors only, so a plain scan. */
static const char *tie_weight(const anvil_name_map *map, const anvil__tie_group *tie) {
    for (size_t i = 0; i < map->count; i++)
        for (size_t k = 0; k < tie->count; k++)
            if (strcmp(map->entries[i].sources[0], tie->names[k]) == 0)
                return map->entries[i].onnx;
    return "?";
}

/* The map's tie groups (anvil_name_map_tie): the members a checkpoint has must be bitwise
 * equal, since one weight of the engine stands for all of them. A source of ONNX initializers
 * is not a checkpoint: nothing to check. */
static void check_ties(const anvil_refit_source *src, const anvil_name_map *map, problems *p) {
    if (!map || src->kind == ANVIL_REFIT_FROM_MODEL) return;
    for (size_t g = 0; g < map->n_ties; g++) {
        const anvil__tie_group *tie = &map->ties[g];
        anvil__tensor first, t;
        size_t at = tie->count; /* the first member the source has */
        for (size_t k = 0; k < tie->count; k++) {
            if (at == tie->count) {
                if (find_source(src, tie->names[k], &first)) at = k;
                continue;
            }
            if (!find_source(src, tie->names[k], &t) || same_bits(&first, &t)) continue;
            char detail[320];
            snprintf(detail, sizeof detail, "and '%.100s' (a group of %zu, weight '%.100s')",
                     tie->names[k], tie->count, tie_weight(map, tie));
            anvil__name_list_add(&p->tied, tie->names[at], detail);
            break;
        }
    }
}

/* A source weight to compute through the name map, or to view. */
typedef struct map_job {
    int32_t input;
    bool view; /* try a view first */
    anvil_map_entry entry;
    anvil_status status;
    char message[256];
} map_job;

/* Computes (or views) the jobs — transposes and BatchNorm folds of whole checkpoints: spread
 * over the threads; each records its status and message, since errors are per thread. */
static void compute_mapped(const anvil_refit_source *src, map_job *jobs, int32_t n,
                           anvil__refit_sources *out) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int32_t k = 0; k < n; k++) {
        map_job *j = &jobs[k];
        anvil__tensor *t = &out->t[j->input];
        j->status = j->view ? anvil__name_map_view(&j->entry, lookup_source, (void *)src, t,
                                                   &out->views[j->input])
                            : ANVIL_STATUS_UNSUPPORTED;
        if (j->status == ANVIL_STATUS_UNSUPPORTED) {
            j->status = anvil__name_map_compute(&j->entry, lookup_source, (void *)src, t);
            if (j->status == ANVIL_OK) out->computed[j->input] = t->data;
        }
        if (j->status != ANVIL_OK) snprintf(j->message, sizeof j->message, "%s", anvil_last_error());
    }
}

/* Finds every source by name, else queues it for the map (else it is missing); then computes
 * the queued ones. `viewable` (NULL: none) marks sources that may stay views. */
static anvil_status find_all(const anvil_engine *e, const anvil_refit_source *src,
                             const anvil_name_map *map, const bool *viewable,
                             anvil__refit_sources *out, bool *found, problems *p) {
    const anvil__graph *w = e->weights;
    map_job *jobs = anvil__calloc((size_t)w->n_inputs + 1, sizeof *jobs);
    if (!jobs) return ANVIL_STATUS_OUT_OF_MEMORY;
    int32_t n = 0;
    for (int32_t i = 0; i < w->n_inputs; i++) {
        const char *name = w->values[w->inputs[i]].name;
        if ((found[i] = find_source(src, name, &out->t[i]))) continue;
        if (map && anvil_name_map_find(map, name, &jobs[n].entry) == ANVIL_OK) {
            jobs[n].view = viewable && viewable[i];
            jobs[n++].input = i;
        } else {
            anvil__name_list_add(&p->missing, name, NULL);
        }
    }
    if (n) compute_mapped(src, jobs, n, out); /* an empty parallel region still wakes threads */
    anvil_status s = ANVIL_OK;
    for (int32_t k = 0; k < n && s == ANVIL_OK; k++) {
        const char *name = w->values[w->inputs[jobs[k].input]].name;
        if (jobs[k].status == ANVIL_STATUS_OUT_OF_MEMORY) {
            s = anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "%s", jobs[k].message);
        } else if (jobs[k].status != ANVIL_OK) {
            char detail[320];
            snprintf(detail, sizeof detail, "(name map: %s)", jobs[k].message);
            anvil__name_list_add(&p->missing, name, detail);
        } else {
            found[jobs[k].input] = true;
            out->n_mapped++;
        }
    }
    anvil__free(jobs);
    return s;
}

anvil_status anvil__refit_gather(const anvil_engine *e, const anvil_refit_source *src,
                                 const anvil_name_map *map, bool check_finite, bool allow_views,
                                 anvil__refit_sources *out) {
    const anvil__graph *w = e->weights;
    size_t n = (size_t)w->n_inputs + 1;
    memset(out, 0, sizeof *out);
    out->n = w->n_inputs;
    out->t = anvil__calloc(n, sizeof *out->t);
    out->computed = anvil__calloc(n, sizeof *out->computed);
    out->views = anvil__calloc(n, sizeof *out->views);
    problems *p = anvil__calloc(1, sizeof *p);
    bool *found = anvil__calloc(n, sizeof *found);
    bool *viewable = allow_views && map ? anvil__calloc(n, sizeof *viewable) : NULL;
    anvil_status s = out->t && out->computed && out->views && p && found &&
                             (viewable || !allow_views || !map)
                         ? ANVIL_OK
                         : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK && viewable) anvil__weights_viewable(e, viewable);
    if (s == ANVIL_OK) s = find_all(e, src, map, viewable, out, found, p);
    for (int32_t i = 0; s == ANVIL_OK && i < w->n_inputs; i++)
        if (found[i]) check_one(&w->values[w->inputs[i]], &out->t[i], check_finite, p);
    if (s == ANVIL_OK) check_ties(src, map, p);
    anvil__free(found);
    anvil__free(viewable);
    if (s == ANVIL_OK && src->kind == ANVIL_REFIT_FROM_MODEL)
        s = list_extra(e, src->model->graph, &p->extra);
    if (s == ANVIL_OK && p->missing.count) s = list_unused(e, src, map, &p->unused);
    if (s == ANVIL_OK) s = report_problems(p);
    anvil__free(p);
    if (s != ANVIL_OK) anvil__refit_sources_free(out);
    return s;
}

void anvil__refit_sources_free(anvil__refit_sources *s) {
    for (int32_t i = 0; s->computed && i < s->n; i++) anvil__free(s->computed[i]);
    for (int32_t i = 0; s->views && i < s->n; i++) anvil__free(s->views[i].scale);
    anvil__free(s->views);
    anvil__free(s->computed);
    anvil__free(s->t);
    memset(s, 0, sizeof *s);
}

anvil_status anvil_engine_refit_missing(const anvil_engine *engine,
                                        const anvil_refit_source *source,
                                        const anvil_refit_options *options,
                                        anvil_string_list **out) {
    if (out) *out = NULL;
    if (!engine || !source || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine, source or out is NULL");
    anvil_status s = anvil__refit_check_source(source);
    if (s != ANVIL_OK) return s;
    const anvil_name_map *map = options && options->name_map ? options->name_map
                                                              : engine->name_map;
    const anvil__graph *w = engine->weights;
    anvil_string_list *list = anvil__string_list_new();
    if (!list) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < w->n_inputs; i++) {
        const char *name = w->values[w->inputs[i]].name;
        anvil__tensor t;
        if (find_source(source, name, &t)) continue;
        anvil_map_entry entry;
        bool mapped = map && anvil_name_map_find(map, name, &entry) == ANVIL_OK;
        for (int32_t k = 0; mapped && k < entry.n_sources; k++)
            mapped = !entry.sources[k][0] || find_source(source, entry.sources[k], &t);
        if (!mapped) s = anvil__string_list_add(list, name);
    }
    if (s != ANVIL_OK) {
        anvil_string_list_destroy(list);
        return s;
    }
    *out = list;
    return ANVIL_OK;
}
