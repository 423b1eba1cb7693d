/*
 * engine_load.c — anvil_engine_load: validates an engine file (container, graphs, plan
 * decisions, slot table — every count and index is untrusted), re-creates the kernels from the
 * saved tactics and packed-weight layouts (no passes, no autotuning), and serves the weights
 * in place from the file mapping. A stripped file loads into the "needs weights" state.
 */
#include "engine/engine_file.h"

#include <string.h>

static void get_layout(anvil__reader *r, anvil__layout *l) {
    memset(l, 0, sizeof *l);
    l->kind = anvil__read_i32(r, "layout kind");
    uint64_t bytes = anvil__read_u64(r, "layout bytes");
    size_t len = 0;
    char *blob = anvil__read_str(r, ANVIL_STR_BINARY, &len, "layout blob");
    if (r->status != ANVIL_OK) return;
    if (len > ANVIL_LAYOUT_BLOB_MAX || bytes > ANVIL_MAX_ALLOC || l->kind < 0 ||
        (l->kind == ANVIL_LAYOUT_PLAIN && len != 0))
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "bad layout (kind %d, %zu blob bytes)",
                           (int)l->kind, len);
    else
        memcpy(l->blob, blob, len);
    l->size = (uint32_t)len;
    l->bytes = (size_t)bytes;
    anvil__free(blob);
}

static anvil_status read_meta(anvil_engine *e, const anvil__efile_sview *sec) {
    anvil__reader r;
    anvil__reader_init(&r, sec->data, sec->size, "engine META section");
    uint32_t version = anvil__read_u32(&r, "meta version");
    if (r.status == ANVIL_OK && version != ANVIL_ENGINE_META_VERSION)
        return anvil__reader_fail(&r, ANVIL_STATUS_VERSION_MISMATCH,
                                  "meta version %u, this library reads %u", version,
                                  ANVIL_ENGINE_META_VERSION);
    anvil_compile_options *o = &e->options;
    *o = anvil_compile_options_default();
    o->backend = (anvil_backend)anvil__read_i32(&r, "backend");
    o->threads = anvil__read_i32(&r, "threads");
    o->precision = (anvil_precision)anvil__read_i32(&r, "precision");
    o->refittable = anvil__read_i32(&r, "refittable");
    o->opt_level = anvil__read_i32(&r, "opt level");
    o->autotune = anvil__read_i32(&r, "autotune");
    o->disabled_passes = anvil__read_u32(&r, "disabled passes");
    e->dynamic = anvil__read_bool(&r, "dynamic");
    if (r.status == ANVIL_OK && (o->threads < 1 || o->threads > 4096 ||
                                 (unsigned)o->precision >= ANVIL_PRECISION_COUNT))
        return anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR, "bad threads %d or precision %d",
                                  (int)o->threads, (int)o->precision);
    uint32_t n = anvil__read_count(&r, 4096, 8, "input count");
    if (r.status != ANVIL_OK) return r.status;
    if (n != (uint32_t)e->run->n_inputs)
        return anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR,
                                  "%u input profiles for %d graph inputs", n, (int)e->run->n_inputs);
    e->profiles = anvil__calloc((size_t)n + 1, sizeof *e->profiles);
    if (!e->profiles) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < n && r.status == ANVIL_OK; i++) {
        anvil_input_profile *p = &e->profiles[i];
        p->name = anvil__read_str(&r, 0, NULL, "profile name");
        p->rank = anvil__read_i32(&r, "profile rank");
        if (r.status != ANVIL_OK) break;
        const anvil__value *v = &e->run->values[e->run->inputs[i]];
        if (strcmp(p->name, v->name) != 0 || p->rank < 0 || p->rank > ANVIL_MAX_RANK)
            return anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR,
                                      "profile %u ('%s', rank %d) does not match input '%s'", i,
                                      p->name, (int)p->rank, v->name);
        for (int32_t d = 0; d < p->rank; d++) {
            p->min[d] = anvil__read_i64(&r, "profile min");
            p->opt[d] = anvil__read_i64(&r, "profile opt");
            p->max[d] = anvil__read_i64(&r, "profile max");
            if (r.status == ANVIL_OK && !(0 <= p->min[d] && p->min[d] <= p->opt[d] &&
                                          p->opt[d] <= p->max[d]))
                return anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR,
                                          "profile of '%s' dim %d out of order", p->name, (int)d);
        }
    }
    return r.status;
}

static anvil_status read_slots_info(anvil_engine *e, anvil__reader *r) {
    const anvil__graph *run = e->run;
    uint32_t n = anvil__read_count(r, (size_t)run->n_inits, 13, "slot count");
    if (r->status != ANVIL_OK) return r->status;
    if (n != (uint32_t)run->n_inits)
        return anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%u slots for %d initializers", n,
                                  (int)run->n_inits);
    e->slots = anvil__calloc((size_t)n + 1, sizeof *e->slots);
    if (!e->slots) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < n && r->status == ANVIL_OK; i++) {
        anvil__slot_info *si = &e->slots[i];
        get_layout(r, &si->layout);
        uint64_t bytes = anvil__read_u64(r, "slot bytes");
        size_t len = 0;
        char *small = anvil__read_str(r, ANVIL_STR_BINARY, &len, "slot data");
        bool has = anvil__read_bool(r, "slot has data");
        si->shape = run->inits[i].t;
        si->shape.data = NULL;
        size_t plain = si->shape.bytes;
        if (r->status == ANVIL_OK &&
            (bytes > ANVIL_MAX_ALLOC ||
             (si->layout.kind == ANVIL_LAYOUT_PLAIN ? bytes != plain : bytes != si->layout.bytes) ||
             (has && (len != bytes || bytes > ANVIL_SMALL_SLOT_BYTES))))
            anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR,
                               "slot %u: %llu bytes do not fit its shape and layout", i,
                               (unsigned long long)bytes);
        si->shape.bytes = (size_t)bytes;
        if (has && r->status == ANVIL_OK) si->shape.data = small;
        else anvil__free(small);
    }
    return r->status;
}

/* The saved decisions as a kernel-less plan: per node its tactic and, per input, the slot
 * buffer (layout included) it reads; plan_build's replanning takes it as its reference. */
static anvil_status read_decisions(anvil_engine *e, anvil__reader *r, anvil__plan *ref) {
    const anvil__graph *run = e->run;
    uint32_t n = anvil__read_count(r, (size_t)run->n_nodes, 12, "node record count");
    if (r->status != ANVIL_OK) return r->status;
    if (n != (uint32_t)run->n_nodes)
        return anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%u node records for %d nodes",
                                  n, (int)run->n_nodes);
    ref->steps = anvil__calloc((size_t)n + 1, sizeof *ref->steps);
    ref->bufs = anvil__calloc((size_t)run->n_inits + 1, sizeof *ref->bufs);
    if (!ref->steps || !ref->bufs) return ANVIL_STATUS_OUT_OF_MEMORY;
    ref->cap_steps = (int32_t)n + 1;
    for (int32_t i = 0; i < run->n_inits; i++) { /* buffer i = slot i */
        ref->bufs[i].kind = ANVIL_BUF_SLOT;
        ref->bufs[i].index = i;
        ref->bufs[i].layout = e->slots[i].layout;
    }
    ref->n_bufs = run->n_inits;
    for (uint32_t k = 0; k < n && r->status == ANVIL_OK; k++) {
        anvil__plan_step *st = &ref->steps[k];
        st->node = anvil__read_i32(r, "step node");
        st->tactic = anvil__read_i32(r, "step tactic");
        uint32_t n_in = anvil__read_count(r, 64, 4, "step inputs");
        if (r->status != ANVIL_OK) break;
        if (st->node != (int32_t)k || n_in != (uint32_t)run->nodes[st->node].n_inputs ||
            st->tactic < -1)
            return anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "step %u: bad node %d", k,
                                      (int)st->node);
        st->in = anvil__malloc_array(n_in + 1, sizeof *st->in);
        if (!st->in) return ANVIL_STATUS_OUT_OF_MEMORY;
        st->n_in = (int32_t)n_in;
        ref->n_steps++;
        for (uint32_t i = 0; i < n_in; i++) {
            st->in[i] = anvil__read_i32(r, "step input slot");
            if (r->status == ANVIL_OK && (st->in[i] < -1 || st->in[i] >= run->n_inits))
                return anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR,
                                          "step %u input %u: slot %d out of range", k, i,
                                          (int)st->in[i]);
        }
    }
    /* Nodes saved without a step (views) have no reference step. */
    int32_t kept = 0;
    for (int32_t k = 0; k < ref->n_steps; k++) {
        if (ref->steps[k].tactic < 0) {
            anvil__free(ref->steps[k].in);
            continue;
        }
        ref->steps[kept++] = ref->steps[k];
    }
    ref->n_steps = kept;
    return r->status;
}

static anvil_status build_plan(anvil_engine *e, const anvil__efile_sview *sec) {
    anvil__reader r;
    anvil__reader_init(&r, sec->data, sec->size, "engine PLAN section");
    anvil__plan *ref = anvil__calloc(1, sizeof *ref);
    if (!ref) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = read_slots_info(e, &r);
    if (s == ANVIL_OK) s = read_decisions(e, &r, ref);
    if (s == ANVIL_OK && anvil__reader_left(&r) != 0)
        s = anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR, "%zu trailing bytes",
                               anvil__reader_left(&r));
    anvil__tensor *opt = anvil__calloc((size_t)e->run->n_inputs + 1, sizeof *opt);
    if (s == ANVIL_OK && !opt) s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < e->run->n_inputs; i++)
        s = anvil__tensor_shape(&opt[i], e->run->values[e->run->inputs[i]].dtype,
                                e->profiles[i].rank, e->profiles[i].opt);
    if (s == ANVIL_OK) {
        anvil__plan *fresh = NULL;
        e->plan = ref;
        s = anvil__engine_replan(e, opt, &fresh);
        e->plan = fresh;
    }
    anvil__free(opt);
    anvil__plan_destroy(e->backend, ref);
    return s;
}

/* Runs each node's own validation, as the importer does, so attributes from a file (strides,
 * axes, ...) get the same checks. Operands appended for fused post-ops are not the op's. */
static anvil_status validate_nodes(const anvil__graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        anvil__node n = g->nodes[i];
        for (int32_t p = 0; p < n.n_post; p++)
            if (n.post[p].input >= 0 && n.post[p].input < n.n_inputs) n.n_inputs = n.post[p].input;
        anvil_status s = anvil__op_validate_node(&n, g->opset);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status check_graphs(const anvil_engine *e) {
    const anvil__graph *run = e->run, *w = e->weights;
    anvil_status s = validate_nodes(run);
    if (s == ANVIL_OK) s = validate_nodes(w);
    if (s != ANVIL_OK) return anvil__error_prefix(ANVIL_STATUS_PARSE_ERROR, "engine graph");
    if (run->n_inits != w->n_outputs)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine has %d slots in its run graph and %d in its weight graph",
                            (int)run->n_inits, (int)w->n_outputs);
    for (int32_t i = 0; i < run->n_inits; i++)
        if (strcmp(run->values[run->inits[i].value].name, w->values[w->outputs[i]].name) != 0)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "slot %d is '%s' in the run graph and "
                                "'%s' in the weight graph", (int)i,
                                run->values[run->inits[i].value].name,
                                w->values[w->outputs[i]].name);
    return ANVIL_OK;
}

/* Source hashes (SOURCE_HASHES, optional): the engine's compile-time record of its sources,
 * and of the saved slots' sources when the file has slots; without them the first refit after
 * load rebuilds every slot and cannot check the sources folded into the plan. */
static anvil_status read_hashes(anvil_engine *e, const anvil__efile_view *v) {
    const anvil__efile_sview *sec = anvil__efile_find(v, ANVIL_SECTION_SOURCE_HASHES);
    int32_t n = e->weights->n_inputs;
    anvil__weight_set *set = e->current;
    if (!sec) {
        if (set) {
            anvil__free(set->source_hashes);
            set->source_hashes = NULL;
        }
        return ANVIL_OK;
    }
    anvil__reader r;
    anvil__reader_init(&r, sec->data, sec->size, "SOURCE_HASHES section");
    uint32_t count = anvil__read_u32(&r, "count");
    if (r.status == ANVIL_OK && (count != (uint32_t)n || anvil__reader_left(&r) != (size_t)n * 8))
        return anvil__reader_fail(&r, ANVIL_STATUS_PARSE_ERROR, "%u hashes in %zu bytes for %d "
                                  "source weights", (unsigned)count, sec->size, (int)n);
    e->compile_hashes = anvil__malloc_array((size_t)n + 1, sizeof *e->compile_hashes);
    if (!e->compile_hashes) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < n; i++) e->compile_hashes[i] = anvil__read_u64(&r, "hash");
    if (r.status == ANVIL_OK && set)
        memcpy(set->source_hashes, e->compile_hashes, (size_t)n * sizeof *e->compile_hashes);
    return r.status;
}

/* Slots from the file: in place when the image is a file mapping the set keeps, else copied. */
static anvil_status read_weights(anvil_engine *e, const anvil__efile_view *v,
                                 anvil__mapping *mapping) {
    if (v->flags & ANVIL_EFILE_STRIPPED) return ANVIL_OK;
    anvil__efile_slot *slots = NULL;
    size_t n = 0;
    anvil_status s = anvil__efile_slots(v, &slots, &n);
    if (s == ANVIL_OK && n != (size_t)e->run->n_inits)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "slot table has %zu slots, the engine %d", n,
                         (int)e->run->n_inits);
    anvil__weight_set *set =
        s == ANVIL_OK ? anvil__weight_set_new((int32_t)n, e->weights->n_inputs) : NULL;
    if (s == ANVIL_OK && !set) s = ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__shared_file *file = NULL; /* holds one reference of its own until the end */
    if (s == ANVIL_OK && mapping) {
        if (!(file = anvil__calloc(1, sizeof *file))) s = ANVIL_STATUS_OUT_OF_MEMORY;
        else {
            atomic_init(&file->refs, 1);
            file->mapping = *mapping;
            memset(mapping, 0, sizeof *mapping);
        }
    }
    const anvil__backend *be = e->backend;
    for (size_t i = 0; s == ANVIL_OK && i < n; i++) {
        if (!anvil__slot_stored(e, (int32_t)i)) continue;
        if (slots[i].size != e->slots[i].shape.bytes) {
            s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "slot %zu holds %zu bytes, expected %zu",
                             i, slots[i].size, e->slots[i].shape.bytes);
            break;
        }
        set->slot_bytes[i] = slots[i].size;
        anvil__slot_buf *b = anvil__calloc(1, sizeof *b);
        if (!b) {
            s = ANVIL_STATUS_OUT_OF_MEMORY;
            break;
        }
        atomic_init(&b->refs, 1);
        set->bufs[i] = b;
        if (file) { /* used in place: the slot keeps the mapping alive */
            atomic_fetch_add(&file->refs, 1);
            b->file = file;
            b->data = set->slots[i] = (void *)slots[i].data;
            continue;
        }
        b->bytes = slots[i].size ? slots[i].size : 1;
        b->data = set->slots[i] = be->alloc(be->ctx, b->bytes);
        s = b->data ? be->copy(be->ctx, b->data, slots[i].data, slots[i].size, true)
                    : ANVIL_STATUS_OUT_OF_MEMORY;
    }
    anvil__free(slots);
    if (file && atomic_fetch_sub(&file->refs, 1) == 1) { /* no slot took it (or failure) */
        *mapping = file->mapping; /* the caller unmaps it */
        anvil__free(file);
    }
    if (s != ANVIL_OK) {
        anvil__weight_set_free(e, set);
        return s;
    }
    e->current = set;
    return ANVIL_OK;
}

static anvil_status load_image(const uint8_t *data, size_t size, anvil__mapping *mapping,
                               anvil_engine **out) {
    anvil__efile_view view;
    anvil_status s = anvil__efile_parse(data, size, NULL, &view);
    if (s != ANVIL_OK) return s;
    const anvil__efile_sview *meta = anvil__efile_find(&view, ANVIL_SECTION_META);
    const anvil__efile_sview *rg = anvil__efile_find(&view, ANVIL_SECTION_RUN_GRAPH);
    const anvil__efile_sview *wg = anvil__efile_find(&view, ANVIL_SECTION_WEIGHT_GRAPH);
    const anvil__efile_sview *plan = anvil__efile_find(&view, ANVIL_SECTION_PLAN);
    if (!meta || !rg || !wg || !plan)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file lacks a required section (META, RUN_GRAPH, "
                            "WEIGHT_GRAPH and PLAN are needed)");
    anvil_engine *e = anvil__engine_new();
    if (!e) return ANVIL_STATUS_OUT_OF_MEMORY;
    e->backend = view.backend;
    s = anvil__graph_deserialize(rg->data, rg->size, NULL, &e->run);
    if (s == ANVIL_OK) s = anvil__graph_deserialize(wg->data, wg->size, NULL, &e->weights);
    if (s == ANVIL_OK) s = check_graphs(e);
    if (s == ANVIL_OK) s = read_meta(e, meta);
    if (s == ANVIL_OK && e->options.backend != view.backend_kind)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "META names backend %d, the header %d",
                         (int)e->options.backend, (int)view.backend_kind);
    if (s == ANVIL_OK) s = build_plan(e, plan);
    if (s == ANVIL_OK) s = read_weights(e, &view, mapping);
    if (s == ANVIL_OK) s = read_hashes(e, &view);
    const anvil__efile_sview *map = anvil__efile_find(&view, ANVIL_SECTION_NAME_MAP);
    if (s == ANVIL_OK && map) {
        s = anvil_name_map_load_memory(map->data, map->size, &e->name_map);
        if (s != ANVIL_OK) s = anvil__error_prefix(s, "NAME_MAP section");
    }
    if (s != ANVIL_OK) {
        anvil_engine_destroy(e);
        return s;
    }
    *out = e;
    return ANVIL_OK;
}

anvil_status anvil_engine_load(const char *path, anvil_engine **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!path) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "path is NULL");
    anvil__mapping m;
    anvil_status s = anvil__map_file(path, &m);
    if (s == ANVIL_OK) s = load_image(m.data, m.size, &m, out);
    anvil__unmap(&m); /* no-op when the weight set took the mapping */
    if (s != ANVIL_OK) return anvil__error_prefix(s, "loading engine '%s'", path);
    return ANVIL_OK;
}

anvil_status anvil_engine_load_memory(const void *data, size_t size, anvil_engine **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data is NULL");
    /* Section views need the alignment the file was written with: parse an aligned copy. */
    uint8_t *copy = anvil__malloc(size + ANVIL_EFILE_MAX_ALIGN);
    if (!copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    uint8_t *aligned = (uint8_t *)(((uintptr_t)copy + ANVIL_EFILE_MAX_ALIGN - 1) &
                                   ~(uintptr_t)(ANVIL_EFILE_MAX_ALIGN - 1));
    if (size) memcpy(aligned, data, size);
    anvil_status s = load_image(aligned, size, NULL, out);
    anvil__free(copy);
    return s;
}
