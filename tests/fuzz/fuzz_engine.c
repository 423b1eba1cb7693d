/*
 * fuzz_engine.c — libFuzzer target for engine files: the container parser (as given, and
 * again with every checksum recomputed so mutations reach the section checks behind them),
 * the slot table, and the graph deserializer on the RUN_GRAPH / WEIGHT_GRAPH sections and on
 * the raw input. A failure must come with a message; an accepted graph must print and
 * serialize back to bytes that deserialize and serialize to the same bytes again. An engine
 * that loads is refitted from made-up weights, by name or through its own name map, so crafted
 * weight graphs, layouts and maps reach the recipes and the packing (views included).
 * Seeds: tests/fuzz/corpus_engine (test_engine_graph_io --write-corpus DIR).
 */
#include "core/core.h"
#include "engine/file_format.h"
#include "engine/serialize_graph.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Outcomes (ANVIL_FUZZ_ENGINE_STATS=1 prints them at exit): engines loaded, refits that
 * succeeded, through the engine's name map, failed. */
static unsigned long n_loaded, n_refitted, n_mapped, n_refit_failed;

static void print_stats(void) {
    fprintf(stderr, "fuzz_engine: %lu engines loaded; refits: %lu ok (%lu through the name "
            "map), %lu failed\n", n_loaded, n_refitted, n_mapped, n_refit_failed);
}

/* oneDNN caches up to 1024 compiled primitives; over millions of mutated engines that cache
 * (jit code) outgrows the fuzzer's memory limit without any leak, so keep it small here. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    dnnl_set_primitive_cache_capacity(8);
    const char *stats = getenv("ANVIL_FUZZ_ENGINE_STATS");
    if (stats && *stats == '1') atexit(print_stats);
    return 0;
}

/* The backend version the seed files carry, so seeds do not depend on this machine's CPU. */
#define FUZZ_BACKEND_VERSION "anvil-fuzz 1"

static void sink(void *user, const char *text, size_t length) {
    volatile size_t *total = user;
    *total += length + (size_t)(text[0] == '\n');
}

static void graph(const uint8_t *data, size_t size) {
    anvil__graph *g = NULL;
    anvil__error_clear();
    if (anvil__graph_deserialize(data, size, NULL, &g) != ANVIL_OK) {
        if (g || anvil_last_error()[0] == '\0') __builtin_trap(); /* failures say why */
        return;
    }
    volatile size_t total = 0; /* (the deserializer already ran anvil__graph_verify) */
    if (anvil__graph_print(g, sink, (void *)&total) != ANVIL_OK) __builtin_trap();
    /* Accepted graphs are canonical after one round: serialize → deserialize → serialize. */
    anvil__bytes a = ANVIL_BYTES_INIT, b = ANVIL_BYTES_INIT;
    anvil__graph *g2 = NULL;
    if (anvil__graph_serialize(g, ANVIL_GRAPH_SER_INIT_DATA, &a) != ANVIL_OK ||
        anvil__graph_deserialize(a.data, a.len, NULL, &g2) != ANVIL_OK ||
        anvil__graph_serialize(g2, ANVIL_GRAPH_SER_INIT_DATA, &b) != ANVIL_OK || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0)
        __builtin_trap();
    anvil__graph_destroy(g2);
    anvil__graph_destroy(g);
    anvil__bytes_free(&a);
    anvil__bytes_free(&b);
}

static void container(const uint8_t *data, size_t size) {
    anvil__efile_view v;
    anvil__error_clear();
    if (anvil__efile_parse(data, size, FUZZ_BACKEND_VERSION, &v) != ANVIL_OK) {
        if (anvil_last_error()[0] == '\0') __builtin_trap();
        return;
    }
    for (size_t i = 0; i < v.n_sections; i++) {
        const anvil__efile_sview *s = &v.sections[i];
        if (s->data < data || s->size > size || s->data + s->size > data + size) __builtin_trap();
        if (s->type == ANVIL_SECTION_RUN_GRAPH || s->type == ANVIL_SECTION_WEIGHT_GRAPH)
            graph(s->data, s->size);
    }
    anvil__efile_slot *slots = NULL;
    size_t n = 0;
    anvil__error_clear();
    if (anvil__efile_slots(&v, &slots, &n) != ANVIL_OK) {
        if (slots || anvil_last_error()[0] == '\0') __builtin_trap();
        return;
    }
    volatile uint8_t x = 0; /* every slot byte must be readable */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; slots[i].data && k < slots[i].size; k++)
            x ^= slots[i].data[k];
    (void)x;
    anvil__free(slots);
}

static uint64_t get_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the section and header checksums a mutation invalidated (where the table's
 * offsets lie inside the input), so the checks behind them get exercised. */
static void fix_checksums(uint8_t *c, size_t size) {
    if (size < ANVIL_EFILE_FIXED_BYTES) return;
    uint64_t count = get_le(c + 20, 4);
    if (count > ANVIL_EFILE_MAX_SECTIONS) return;
    size_t hb = ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * (size_t)count + 8;
    if (size < hb) return;
    for (size_t i = 0; i < count; i++) {
        uint8_t *e = c + ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * i;
        uint64_t off = get_le(e + 8, 8), len = get_le(e + 16, 8);
        if (off <= size && len <= size - off) put_le(e + 24, XXH3_64bits(c + off, len), 8);
    }
    put_le(c + hb - 8, XXH3_64bits(c, hb - 8), 8);
}

/* ---- refits of loaded engines -------------------------------------------------------------- */

enum { REFIT_MAX_TENSORS = 1024, REFIT_MAX_BYTES = 8 << 20 };


typedef struct made_up {
    anvil_tensor t[REFIT_MAX_TENSORS];
    size_t count, bytes;
    bool too_big;
} made_up;

/* Appends a tensor of this dtype and shape: f32 values in [-0.5, 1], other dtypes zeros. */
static void add(made_up *w, const char *name, anvil_dtype dt, int32_t rank, const int64_t *dims) {
    size_t n = 1, es = anvil_dtype_size(dt);
    for (int32_t d = 0; d < rank; d++) n = dims[d] >= 0 && n <= REFIT_MAX_BYTES ? n * (size_t)dims[d] : SIZE_MAX;
    if (w->count == REFIT_MAX_TENSORS || rank < 0 || rank > ANVIL_MAX_RANK || es == 0 ||
        n > REFIT_MAX_BYTES / es || w->bytes + n * es > REFIT_MAX_BYTES) {
        w->too_big = true;
        return;
    }
    void *data = calloc(n ? n * es : 1, 1);
    if (!data) {
        w->too_big = true;
        return;
    }
    for (size_t i = 0; dt == ANVIL_DTYPE_F32 && i < n; i++) ((float *)data)[i] = (float)(i % 7) * 0.25f - 0.5f;
    anvil_tensor *t = &w->t[w->count++];
    *t = (anvil_tensor){name, dt, rank, {0}, data, n * es};
    for (int32_t d = 0; d < rank; d++) t->dims[d] = dims[d];
    w->bytes += n * es;
}

/* The checkpoint tensors map entry m computes source d from (shapes derived from d's). */
static void add_mapped(made_up *w, const anvil_map_entry *m, const anvil_tensor_desc *d) {
    int64_t dims[ANVIL_MAX_RANK], c = d->rank >= 1 ? d->dims[0] : 1;
    if (m->kind == ANVIL_MAP_TRANSPOSE || m->kind == ANVIL_MAP_IDENTITY) {
        for (int32_t k = 0; k < d->rank; k++) dims[k] = d->dims[k];
        for (int32_t k = 0; m->kind == ANVIL_MAP_TRANSPOSE && m->rank == d->rank && k < m->rank; k++)
            if (m->perm[k] >= 0 && m->perm[k] < m->rank) dims[m->perm[k]] = d->dims[k];
        add(w, m->sources[0], d->dtype, d->rank, dims);
        return;
    }
    for (int32_t k = 0; k < m->n_sources && k < 5; k++) {
        bool whole = m->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && k == 0;
        if (m->sources[k] && m->sources[k][0])
            add(w, m->sources[k], d->dtype, whole ? d->rank : 1, whole ? d->dims : &c);
    }
}

/* Refits e in place from made-up weights; a failure must come with a message. */
static void refit(anvil_engine *e, bool mapped) {
    made_up *w = calloc(1, sizeof *w);
    const anvil_name_map *map = mapped ? anvil_engine_name_map(e) : NULL;
    size_t n = anvil_engine_refit_source_count(e);
    for (size_t i = 0; w && i < n && !w->too_big; i++) {
        anvil_tensor_desc d;
        anvil_map_entry m;
        if (anvil_engine_refit_source(e, i, &d) != ANVIL_OK) __builtin_trap();
        if (map && anvil_name_map_find(map, d.name, &m) == ANVIL_OK) add_mapped(w, &m, &d);
        else add(w, d.name, d.dtype, d.rank, d.dims);
    }
    if (w && !w->too_big) {
        anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_TENSORS, .tensors = w->t,
                                  .n_tensors = w->count};
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        anvil_engine *out = NULL;
        anvil_refit_report r;
        anvil__error_clear();
        anvil_status st = anvil_engine_refit(e, &src, &o, &out, &r);
        n_refitted += st == ANVIL_OK;
        n_mapped += st == ANVIL_OK && r.sources_mapped > 0;
        n_refit_failed += st != ANVIL_OK;
        if (st != ANVIL_OK && (out || anvil_last_error()[0] == '\0')) __builtin_trap();
        if (st == ANVIL_OK && out != e) __builtin_trap();
    }
    for (size_t i = 0; w && i < w->count; i++) free(w->t[i].data);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    container(data, size);
    uint8_t *copy = anvil__malloc(size ? size : 1);
    if (copy) {
        memcpy(copy, data, size);
        fix_checksums(copy, size);
        container(copy, size);
        /* The whole loader: graphs, plan decisions, kernels re-created from (mutated) layout
         * blobs, slot table. Seeds saved by this machine's backend get past the version check. */
        anvil_engine *e = NULL;
        if (anvil_engine_load_memory(copy, size, &e) == ANVIL_OK) {
            anvil_engine_info info;
            if (anvil_engine_get_info(e, &info) != ANVIL_OK) __builtin_trap();
            n_loaded++;
            refit(e, (size & 1) != 0);
        } else if (e) {
            __builtin_trap();
        }
        anvil_engine_destroy(e);
        anvil__free(copy);
    }
    graph(data, size);
    return 0;
}
