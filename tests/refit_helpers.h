/* refit_helpers.h — what the refit tests share: loading the shared models and their data,
 * compiling without autotuning (so v1 and v2 get the same tactics and packed layouts), running,
 * and comparing outputs and slot bytes. Header-only: each test is one executable. */
#ifndef ANVIL_TEST_REFIT_HELPERS_H
#define ANVIL_TEST_REFIT_HELPERS_H

#include "check.h"
#include "api/model.h"
#include "engine/engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline anvil_model *load(const char *name, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/%s", ANVIL_SHARED_DIR, name, file);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(path, &m));
    return m;
}

static inline anvil_tensor_list *read_npy(const char *name, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/%s", ANVIL_SHARED_DIR, name, file);
    anvil_tensor_list *l = NULL;
    CHECK_OK(anvil_npy_read(path, &l));
    return l;
}

static inline anvil_engine *compile(const anvil_model *m) {
    anvil_compile_options o = anvil_compile_options_default();
    o.autotune = 0; /* the same tactics (and packed layouts) for v1 and v2 */
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(m, &o, &e));
    return e;
}

static inline anvil_tensor_list *run(const anvil_engine *e, const anvil_tensor_list *in) {
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    if (c) CHECK_OK(anvil_engine_run(c, anvil_tensor_list_get(in, 0), 1, &out));
    anvil_context_destroy(c);
    return out;
}

static inline bool same_outputs(const anvil_tensor_list *a, const anvil_tensor_list *b) {
    if (!a || !b || anvil_tensor_list_count(a) != anvil_tensor_list_count(b)) return false;
    for (size_t i = 0; i < anvil_tensor_list_count(a); i++) {
        const anvil_tensor *x = anvil_tensor_list_get(a, i), *y = anvil_tensor_list_get(b, i);
        if (x->bytes != y->bytes || memcmp(x->data, y->data, x->bytes) != 0) return false;
    }
    return true;
}

/* Every stored slot of a equals b's, byte for byte (CPU backend: slots are host memory). */
static inline void check_same_slots(const anvil_engine *a, const anvil_engine *b) {
    anvil__weight_set *x = anvil__weights_acquire(a), *y = anvil__weights_acquire(b);
    CHECK(x && y);
    int differ = 0, stored = 0;
    if (x && y) CHECK_EQ(x->n_slots, y->n_slots);
    for (int32_t i = 0; x && y && i < x->n_slots && i < y->n_slots; i++) {
        if (!x->slots[i] && !y->slots[i]) continue;
        stored++;
        differ += !x->slots[i] || !y->slots[i] || x->slot_bytes[i] != y->slot_bytes[i] ||
                  memcmp(x->slots[i], y->slots[i], x->slot_bytes[i]) != 0;
    }
    CHECK(stored > 0);
    CHECK_EQ(differ, 0);
    anvil__weights_release(a, x);
    anvil__weights_release(b, y);
}

static inline void check_near_ref(const anvil_tensor_list *got, const anvil_tensor_list *want) {
    const anvil_tensor *g = anvil_tensor_list_get(got, 0), *w = anvil_tensor_list_get(want, 0);
    CHECK(g && w && g->bytes == w->bytes);
    if (!g || !w || g->bytes != w->bytes) return;
    double m = 0, d = 0;
    for (size_t i = 0; i < w->bytes / 4; i++) {
        m = fmax(m, fabs(((float *)w->data)[i]));
        d = fmax(d, fabs((double)((float *)w->data)[i] - ((float *)g->data)[i]));
    }
    CHECK(d <= 1e-4 * m);
}

/* The engine's sources as named tensors viewing the model's initializers. */
static inline anvil_tensor *sources_of(const anvil_engine *e, const anvil_model *m, size_t *n) {
    *n = anvil_engine_refit_source_count(e);
    anvil_tensor *t = calloc(*n + 1, sizeof *t);
    const anvil__graph *g = m->graph;
    for (size_t i = 0; t && i < *n; i++) {
        anvil_tensor_desc d;
        CHECK_OK(anvil_engine_refit_source(e, i, &d));
        int32_t v = anvil__graph_find(g, d.name);
        CHECK(v >= 0 && g->values[v].init >= 0);
        if (v < 0 || g->values[v].init < 0) continue;
        const anvil__tensor *it = &g->inits[g->values[v].init].t;
        t[i].name = d.name;
        t[i].dtype = it->dtype;
        t[i].rank = it->rank;
        memcpy(t[i].dims, it->dims, sizeof t[i].dims);
        t[i].data = it->data;
        t[i].bytes = it->bytes;
    }
    return t;
}

/* Refits e in place from src (must succeed); returns the report. */
static inline anvil_refit_report refit_in_place(anvil_engine *e, const anvil_refit_source *src) {
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_refit_report r;
    memset(&r, 0, sizeof r);
    anvil_engine *out = NULL;
    CHECK_OK(anvil_engine_refit(e, src, &o, &out, &r));
    CHECK(out == e);
    return r;
}

/* e saved to a temp file (stripped: without weights) and loaded again; NULL on failure
 * (checked). */
static inline anvil_engine *saved_and_loaded(const anvil_engine *e, bool stripped) {
    char path[] = "/tmp/anvil_saved_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    close(fd);
    anvil_save_options so = anvil_save_options_default();
    so.stripped = stripped;
    anvil_engine *copy = NULL;
    CHECK_OK(anvil_engine_save(e, path, &so));
    CHECK_OK(anvil_engine_load(path, &copy));
    unlink(path);
    return copy;
}

/* The n tensors written to a temp safetensors file and opened (the file is unlinked: the
 * mapping keeps it); NULL on failure (checked). */
static inline anvil_safetensors *written_checkpoint(const anvil_tensor *t, size_t n) {
    char path[] = "/tmp/anvil_ckpt_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    close(fd);
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_write(path, t, n));
    CHECK_OK(anvil_safetensors_open(path, &st));
    unlink(path);
    return st;
}

/* A stripped copy of e: no weights, no source hashes (so its first refit rebuilds every
 * slot). NULL on failure (checked). */
static inline anvil_engine *stripped_copy(const anvil_engine *e) {
    return saved_and_loaded(e, true);
}

/* An anvil__lookup_fn over a safetensors file (user): its tensors as views. */
static inline bool st_lookup(void *user, const char *name, anvil__tensor *out) {
    anvil_tensor t;
    if (anvil_safetensors_find(user, name, &t) != ANVIL_OK) return false;
    memset(out, 0, sizeof *out);
    out->dtype = t.dtype;
    out->rank = t.rank;
    memcpy(out->dims, t.dims, sizeof out->dims);
    out->data = t.data;
    out->bytes = t.bytes;
    return true;
}

#endif /* ANVIL_TEST_REFIT_HELPERS_H */
