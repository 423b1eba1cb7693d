/*
 * engine_save.c — anvil_engine_save: the engine as an engine file (docs/engine-format.md):
 * META (options, profiles), RUN_GRAPH and WEIGHT_GRAPH (the recipes), PLAN (per slot its
 * layout and small data; per node its tactic and which packed slot feeds each input), and the
 * slots, each 64-byte aligned, unless stripped. Kernels are not saved: loading re-creates them
 * from the saved decisions, with no passes and no autotuning.
 */
#include "engine/engine_file.h"
#include "namemap/name_map.h"

#include <string.h>

anvil_save_options anvil_save_options_default(void) {
    anvil_save_options o;
    memset(&o, 0, sizeof o);
    return o;
}

static void put_layout(anvil__bytes *b, const anvil__layout *l) {
    anvil__bytes_i32(b, l->kind);
    anvil__bytes_u64(b, (uint64_t)l->bytes);
    anvil__bytes_str(b, (const char *)l->blob, l->size);
}

static void put_meta(anvil__bytes *b, const anvil_engine *e) {
    const anvil_compile_options *o = &e->options;
    anvil__bytes_u32(b, ANVIL_ENGINE_META_VERSION);
    anvil__bytes_i32(b, (int32_t)o->backend);
    anvil__bytes_i32(b, o->threads);
    anvil__bytes_i32(b, (int32_t)o->precision);
    anvil__bytes_i32(b, o->refittable);
    anvil__bytes_i32(b, o->opt_level);
    anvil__bytes_i32(b, o->autotune);
    anvil__bytes_u32(b, o->disabled_passes);
    anvil__bytes_u8(b, e->dynamic);
    anvil__bytes_u32(b, (uint32_t)e->run->n_inputs);
    for (int32_t i = 0; i < e->run->n_inputs; i++) {
        const anvil_input_profile *p = &e->profiles[i];
        anvil__bytes_cstr(b, p->name);
        anvil__bytes_i32(b, p->rank);
        for (int32_t d = 0; d < p->rank; d++) {
            anvil__bytes_i64(b, p->min[d]);
            anvil__bytes_i64(b, p->opt[d]);
            anvil__bytes_i64(b, p->max[d]);
        }
    }
}

static void put_plan(anvil__bytes *b, const anvil_engine *e) {
    const anvil__graph *run = e->run;
    anvil__bytes_u32(b, (uint32_t)run->n_inits);
    for (int32_t i = 0; i < run->n_inits; i++) {
        const anvil__slot_info *si = &e->slots[i];
        put_layout(b, &si->layout);
        anvil__bytes_u64(b, (uint64_t)si->shape.bytes);
        anvil__bytes_str(b, si->shape.data ? si->shape.data : "", si->shape.data ? si->shape.bytes : 0);
        anvil__bytes_u8(b, si->shape.data != NULL);
    }
    /* One record per run node, in node order: its tactic and the slot feeding each input, or
     * tactic -1 for a node that needs no step (a reshape viewing its input's memory). */
    const anvil__plan *p = e->plan;
    anvil__bytes_u32(b, (uint32_t)run->n_nodes);
    for (int32_t ni = 0; ni < run->n_nodes; ni++) {
        const anvil__plan_step *st = NULL;
        for (int32_t k = 0; k < p->n_steps && !st; k++)
            if (p->steps[k].node == ni) st = &p->steps[k];
        anvil__bytes_i32(b, ni);
        anvil__bytes_i32(b, st ? st->tactic : -1);
        anvil__bytes_u32(b, (uint32_t)run->nodes[ni].n_inputs);
        for (int32_t i = 0; i < run->nodes[ni].n_inputs; i++) {
            const anvil__buf *buf = st && st->in[i] >= 0 ? &p->bufs[st->in[i]] : NULL;
            anvil__bytes_i32(b, buf && buf->kind == ANVIL_BUF_SLOT ? buf->index : -1);
        }
    }
}

anvil_status anvil_engine_save(const anvil_engine *e, const char *path,
                               const anvil_save_options *options) {
    if (!e || !path) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "engine or path is NULL");
    anvil_save_options o = options ? *options : anvil_save_options_default();
    anvil__weight_set *set = anvil__weights_acquire(e);
    bool stripped = o.stripped || !set;
    anvil__bytes meta = ANVIL_BYTES_INIT, run = ANVIL_BYTES_INIT, weights = ANVIL_BYTES_INIT,
                 plan = ANVIL_BYTES_INIT, table = ANVIL_BYTES_INIT;
    put_meta(&meta, e);
    put_plan(&plan, e);
    anvil_status s = meta.status != ANVIL_OK ? meta.status : plan.status;
    if (s == ANVIL_OK) s = anvil__graph_serialize(e->run, 0, &run);
    if (s == ANVIL_OK) s = anvil__graph_serialize(e->weights, ANVIL_GRAPH_SER_INIT_DATA, &weights);
    int32_t n = e->run->n_inits;
    const void **data = anvil__calloc((size_t)n + 1, sizeof *data);
    size_t *sizes = anvil__calloc((size_t)n + 1, sizeof *sizes);
    if (s == ANVIL_OK && (!data || !sizes)) s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && set && i < n; i++) {
        data[i] = set->slots[i];
        sizes[i] = set->slots[i] ? set->slot_bytes[i] : 0;
    }
    anvil__bytes hashes = ANVIL_BYTES_INIT;
    char *map_json = NULL;
    size_t map_len = 0;
    /* The saved slots' source hashes, or (stripped) the compile-time ones: both agree on the
     * sources folded into the plan, which is what a stripped engine's refit checks. */
    const uint64_t *saved = !stripped && set->source_hashes ? set->source_hashes
                                                            : e->compile_hashes;
    if (s == ANVIL_OK && saved) {
        anvil__bytes_u32(&hashes, (uint32_t)e->weights->n_inputs);
        for (int32_t i = 0; i < e->weights->n_inputs; i++) anvil__bytes_u64(&hashes, saved[i]);
        s = hashes.status;
    }
    if (s == ANVIL_OK && e->name_map) s = anvil__name_map_to_json(e->name_map, &map_json, &map_len);
    anvil__efile_section sec[8] = {
        {ANVIL_SECTION_META, meta.data, meta.len, 8, NULL, NULL, 0, 0},
        {ANVIL_SECTION_RUN_GRAPH, run.data, run.len, 8, NULL, NULL, 0, 0},
        {ANVIL_SECTION_WEIGHT_GRAPH, weights.data, weights.len, 8, NULL, NULL, 0, 0},
        {ANVIL_SECTION_PLAN, plan.data, plan.len, 8, NULL, NULL, 0, 0},
    };
    size_t n_slot_sections = 0;
    if (s == ANVIL_OK)
        s = anvil__efile_slot_sections(data, sizes, (size_t)n, stripped, &table, &sec[4],
                                       &n_slot_sections);
    size_t n_sec = 4 + n_slot_sections;
    if (hashes.len)
        sec[n_sec++] = (anvil__efile_section){ANVIL_SECTION_SOURCE_HASHES, hashes.data,
                                              hashes.len, 8, NULL, NULL, 0, 0};
    if (map_json)
        sec[n_sec++] = (anvil__efile_section){ANVIL_SECTION_NAME_MAP, map_json, map_len, 8,
                                              NULL, NULL, 0, 0};
    if (s == ANVIL_OK) {
        anvil__efile_header h = {e->backend->kind, e->backend->version(e->backend->ctx),
                                 stripped ? ANVIL_EFILE_STRIPPED : 0u};
        s = anvil__efile_write(path, &h, sec, n_sec);
    }
    anvil__weights_release(e, set);
    anvil__free(data);
    anvil__free(sizes);
    anvil__bytes_free(&meta);
    anvil__bytes_free(&run);
    anvil__bytes_free(&weights);
    anvil__bytes_free(&plan);
    anvil__bytes_free(&table);
    anvil__bytes_free(&hashes);
    anvil__free(map_json);
    if (s != ANVIL_OK) return anvil__error_prefix(s, "saving engine '%s'", path);
    return ANVIL_OK;
}
