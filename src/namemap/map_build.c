/*
 * map_build.c — anvil_name_map_build: matches each initializer of a model to checkpoint tensors
 * by content. Identity first (same name preferred, where float tensors may differ within the
 * tolerance; then by XXH3 hash, ties in checkpoint order), then transposes (rank 2 to 4, every
 * permutation the shapes allow), then BatchNorm folds into Conv weights (map_build_bn.c), then
 * tie groups (anvil.h: checkpoint tensors equal to a source that its initializer may stand for).
 * Renamed matches need at least 2 elements: a scalar constant would match by coincidence.
 */
#include "api/model.h"
#include "namemap/name_map.h"
#include "passes/passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/fast_hash.h"

enum { NM_MAX_TRANSPOSE_RANK = 4, NM_SAMPLES = 16 };

bool anvil__nm_lookup(void *user, const char *name, anvil__tensor *out) {
    const anvil__nm_build *b = user;
    int32_t i = anvil__name_map_get(&b->ck_index, name);
    if (i < 0) return false;
    *out = b->ck[i].t;
    return true;
}

static anvil_status load_checkpoint(anvil__nm_build *b, const anvil_safetensors *st) {
    b->n_ck = anvil_safetensors_count(st);
    if (b->n_ck > INT32_MAX)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "name map: %zu checkpoint tensors",
                            b->n_ck);
    b->ck = anvil__calloc(b->n_ck ? b->n_ck : 1, sizeof *b->ck);
    if (!b->ck) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (size_t i = 0; i < b->n_ck; i++) {
        anvil_tensor t;
        anvil_status s = anvil_safetensors_get(st, i, &t);
        if (s != ANVIL_OK) return s;
        anvil__nm_ckpt *c = &b->ck[i];
        c->name = t.name;
        c->t.dtype = t.dtype;
        c->t.rank = t.rank;
        memcpy(c->t.dims, t.dims, sizeof c->t.dims);
        c->t.data = t.data;
        c->t.bytes = t.bytes;
        c->numel = anvil_shape_numel(t.rank, t.dims);
        c->hash = XXH3_64bits(t.data, t.bytes);
        if ((s = anvil__name_map_put(&b->ck_index, c->name, (int32_t)i)) != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static bool same_shape(const anvil__tensor *a, const anvil__tensor *c) {
    if (a->dtype != c->dtype || a->rank != c->rank || a->bytes != c->bytes) return false;
    for (int32_t i = 0; i < a->rank; i++)
        if (a->dims[i] != c->dims[i]) return false;
    return true;
}

static bool equal_content(const anvil__tensor *a, const anvil__tensor *c) {
    return same_shape(a, c) && (a->bytes == 0 || memcmp(a->data, c->data, a->bytes) == 0);
}

/* Float tensors of one shape within the tolerance: max |a - c| <= tol * max |c|. Only for a
 * checkpoint tensor of the initializer's own name (the name is the evidence; exports may round
 * buffers such as BatchNorm statistics differently in the last bit). */
static bool close_content(const anvil__nm_build *b, const anvil__tensor *a,
                          const anvil__tensor *c) {
    if (!same_shape(a, c) || !anvil__dtype_is_float(a->dtype)) return false;
    size_t n = a->bytes / anvil_dtype_size(a->dtype);
    double err = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double x = anvil__load_f64(a->dtype, a->data, i), y = anvil__load_f64(c->dtype, c->data, i);
        double d = fabs(x - y);
        if (!(d <= err)) err = d; /* NaN sticks */
        if (fabs(y) > mag) mag = fabs(y);
    }
    return err <= b->tol * mag;
}

/* Checkpoint tensors by content hash; sorted by (hash, index) so ties stay in checkpoint
 * order. */
typedef struct nm_hashed {
    uint64_t hash;
    size_t index;
} nm_hashed;

static int cmp_hashed(const void *x, const void *y) {
    const nm_hashed *a = x, *c = y;
    if (a->hash != c->hash) return a->hash < c->hash ? -1 : 1;
    return a->index < c->index ? -1 : a->index > c->index;
}

static nm_hashed *hash_index(const anvil__nm_build *b) {
    nm_hashed *h = anvil__malloc_array(b->n_ck ? b->n_ck : 1, sizeof *h);
    if (!h) return NULL;
    for (size_t i = 0; i < b->n_ck; i++) {
        h[i].hash = b->ck[i].hash;
        h[i].index = i;
    }
    qsort(h, b->n_ck, sizeof *h, cmp_hashed);
    return h;
}

/* The first checkpoint tensor (in checkpoint order) equal to t, or -1. */
static int64_t find_equal(const anvil__nm_build *b, const nm_hashed *h, const anvil__tensor *t) {
    uint64_t hash = XXH3_64bits(t->data, t->bytes);
    size_t lo = 0, hi = b->n_ck;
    while (lo < hi) { /* first element with h[].hash >= hash */
        size_t mid = lo + (hi - lo) / 2;
        if (h[mid].hash < hash) lo = mid + 1;
        else hi = mid;
    }
    for (size_t k = lo; k < b->n_ck && h[k].hash == hash; k++)
        if (equal_content(t, &b->ck[h[k].index].t)) return (int64_t)h[k].index;
    return -1;
}

static void set_found(anvil__nm_build *b, int32_t init, anvil_map_kind kind, const char *source) {
    anvil_map_entry *e = &b->found[init];
    memset(e, 0, sizeof *e);
    e->onnx = b->g->values[b->g->inits[init].value].name;
    e->kind = kind;
    e->n_sources = 1;
    e->sources[0] = source;
}

/* ---- transposes --------------------------------------------------------------------------- */

/* Next permutation in lexicographic order; false after the last. */
static bool next_perm(int32_t *p, int32_t n) {
    int32_t i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1]) i--;
    if (i < 0) return false;
    int32_t j = n - 1;
    while (p[j] <= p[i]) j--;
    int32_t t = p[i];
    p[i] = p[j];
    p[j] = t;
    for (int32_t a = i + 1, z = n - 1; a < z; a++, z--) {
        t = p[a];
        p[a] = p[z];
        p[z] = t;
    }
    return true;
}

/* Strides of source c walked in the order of t's axes under perm; false when the dims do not
 * line up (t.dims[k] must be c.dims[perm[k]]). */
static bool perm_strides(const anvil__tensor *t, const anvil__tensor *c, const int32_t *perm,
                         int64_t *stride) {
    int64_t in_stride[ANVIL_MAX_RANK], acc = 1;
    for (int32_t i = c->rank - 1; i >= 0; i--) {
        in_stride[i] = acc;
        acc *= c->dims[i];
    }
    for (int32_t k = 0; k < t->rank; k++) {
        if (t->dims[k] != c->dims[perm[k]]) return false;
        stride[k] = in_stride[perm[k]];
    }
    return true;
}

/* Offset in c of element k of t (row-major) under the strides. */
static int64_t source_offset(const anvil__tensor *t, const int64_t *stride, int64_t k) {
    int64_t off = 0;
    for (int32_t a = t->rank - 1; a >= 0; a--) {
        off += (k % t->dims[a]) * stride[a];
        k /= t->dims[a];
    }
    return off;
}

/* Bitwise equality of one element (small fixed sizes inline: this runs per element). */
static inline bool elem_equal(const unsigned char *a, const unsigned char *c, size_t es) {
    if (es == 4) {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, c, 4);
        return x == y;
    }
    if (es == 2) {
        uint16_t x, y;
        memcpy(&x, a, 2);
        memcpy(&y, c, 2);
        return x == y;
    }
    if (es == 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, c, 8);
        return x == y;
    }
    return memcmp(a, c, es) == 0;
}

static bool transposed_equal(const anvil__tensor *t, const anvil__tensor *c,
                             const int64_t *stride, int64_t numel) {
    size_t es = anvil_dtype_size(t->dtype);
    const unsigned char *x = t->data, *y = c->data;
    for (int k = 0; k < NM_SAMPLES; k++) { /* a few elements first: most candidates fail here */
        int64_t i = (numel - 1) * k / (NM_SAMPLES - 1);
        if (!elem_equal(x + (size_t)i * es, y + (size_t)source_offset(t, stride, i) * es, es))
            return false;
    }
    int64_t idx[ANVIL_MAX_RANK] = {0}, off = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (!elem_equal(x + (size_t)i * es, y + (size_t)off * es, es)) return false;
        for (int32_t a = t->rank - 1; a >= 0; a--) {
            off += stride[a];
            if (++idx[a] < t->dims[a]) break;
            off -= stride[a] * t->dims[a];
            idx[a] = 0;
        }
    }
    return true;
}

/* The first checkpoint tensor that t is a transpose of (first permutation in lexicographic
 * order), or -1. */
static int64_t find_transpose(const anvil__nm_build *b, const anvil__tensor *t, int64_t numel,
                              int32_t *perm_out) {
    if (t->rank < 2 || t->rank > NM_MAX_TRANSPOSE_RANK) return -1;
    for (size_t j = 0; j < b->n_ck; j++) {
        const anvil__tensor *c = &b->ck[j].t;
        if (c->dtype != t->dtype || c->rank != t->rank || b->ck[j].numel != numel) continue;
        int32_t perm[ANVIL_MAX_RANK];
        for (int32_t k = 0; k < t->rank; k++) perm[k] = k;
        while (next_perm(perm, t->rank)) { /* skips the identity, matched before */
            int64_t stride[ANVIL_MAX_RANK];
            if (!perm_strides(t, c, perm, stride) || !transposed_equal(t, c, stride, numel))
                continue;
            memcpy(perm_out, perm, sizeof perm[0] * (size_t)t->rank);
            return (int64_t)j;
        }
    }
    return -1;
}

/* ---- driver ------------------------------------------------------------------------------- */

static void match_plain(anvil__nm_build *b, const nm_hashed *h, int32_t i) {
    const anvil__init *in = &b->g->inits[i];
    const anvil__tensor *t = &in->t;
    const char *name = b->g->values[in->value].name;
    int64_t numel = anvil__tensor_numel(t);
    if (!anvil__dtype_valid(t->dtype) || numel < 0 || (t->bytes && !t->data)) return;
    int32_t j = anvil__name_map_get(&b->ck_index, name);
    if (j >= 0 && (equal_content(t, &b->ck[j].t) || close_content(b, t, &b->ck[j].t))) {
        set_found(b, i, ANVIL_MAP_IDENTITY, b->ck[j].name);
        b->same_name[i] = true;
        return;
    }
    if (numel < 2) return;
    int64_t k = find_equal(b, h, t);
    if (k >= 0) {
        set_found(b, i, ANVIL_MAP_IDENTITY, b->ck[k].name);
        return;
    }
    int32_t perm[ANVIL_MAX_RANK];
    if ((k = find_transpose(b, t, numel, perm)) >= 0) {
        set_found(b, i, ANVIL_MAP_TRANSPOSE, b->ck[k].name);
        b->found[i].rank = t->rank;
        memcpy(b->found[i].perm, perm, sizeof perm[0] * (size_t)t->rank);
    }
}

/* ---- tie groups ------------------------------------------------------------------------- */

/* Per initializer, how many times the model reads it: node inputs and subgraph captures
 * (anvil__pass_uses_init), and through an Identity node its output's readers. */
static int32_t *read_counts(const anvil__graph *g) {
    anvil__uses u;
    memset(&u, 0, sizeof u);
    int32_t *reads = anvil__calloc((size_t)g->n_inits + 1, sizeof *reads);
    if (!reads || anvil__pass_uses_init(g, &u) != ANVIL_OK) {
        anvil__pass_uses_free(&u);
        anvil__free(reads);
        return NULL;
    }
    for (int32_t ni = g->n_nodes - 1; ni >= 0; ni--) { /* topological order: readers first */
        const anvil__node *n = &g->nodes[ni];
        if (!n->op_type || strcmp(n->op_type, "Identity") != 0 || n->n_inputs != 1 ||
            n->n_outputs != 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
            continue;
        int32_t more = anvil__pass_uses_of(&u, n->outputs[0]) - 1;
        if (more > 0 && n->inputs[0] < u.n) u.count[n->inputs[0]] += more;
    }
    for (int32_t i = 0; i < g->n_inits; i++) reads[i] = anvil__pass_uses_of(&u, g->inits[i].value);
    anvil__pass_uses_free(&u);
    return reads;
}

/* Classes of bitwise equal checkpoint tensors of 2+ elements: next[k] is the following member of
 * k's class in checkpoint order (-1 at the end), head[k] its first member (-1 for a tensor equal
 * to no other). One pass over h's runs of equal hashes. */
static void equal_classes(const anvil__nm_build *b, const nm_hashed *h, int64_t *head,
                          int64_t *next) {
    for (size_t k = 0; k < b->n_ck; k++) head[k] = next[k] = -1;
    for (size_t lo = 0, hi; lo < b->n_ck; lo = hi) {
        for (hi = lo + 1; hi < b->n_ck && h[hi].hash == h[lo].hash;) hi++;
        for (size_t a = lo; hi - lo > 1 && a < hi; a++) { /* h: by index within a hash */
            size_t first = h[a].index, last = first;
            if (head[first] >= 0 || b->ck[first].numel < 2) continue;
            for (size_t c = a + 1; c < hi; c++) {
                size_t k = h[c].index;
                if (head[k] >= 0 || !equal_content(&b->ck[k].t, &b->ck[first].t)) continue;
                head[k] = head[first] = (int64_t)first;
                next[last] = (int64_t)k;
                last = k;
            }
        }
    }
}

/* claimed[k]: tensor k's role is known: an initializer of its name matched it, or it is a
 * BatchNorm fold's source (found by layer structure). */
static void claim_known(const anvil__nm_build *b, bool *claimed) {
    for (int32_t i = 0; i < b->g->n_inits; i++) {
        const anvil_map_entry *e = &b->found[i];
        bool fold = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT ||
                    e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS;
        for (int32_t k = 0; (b->same_name[i] || fold) && k < e->n_sources; k++) {
            int32_t j = e->sources[k][0] ? anvil__name_map_get(&b->ck_index, e->sources[k]) : -1;
            if (j >= 0) claimed[j] = true;
        }
    }
}

/* The tie group of initializer i, if any: its source j and the unclaimed tensors equal to it;
 * none for an initializer matched under its own name and read once (then the name is taken at
 * its word). Groups are emitted once: per class for unclaimed sources, per claimed source. */
static anvil_status tie_group(const anvil__nm_build *b, int32_t i, const int32_t *reads,
                              const int64_t *head, const int64_t *next, const bool *claimed,
                              bool *done, const char **names, anvil_name_map *map) {
    const anvil_map_entry *e = &b->found[i];
    if (e->n_sources == 0 || (e->kind != ANVIL_MAP_IDENTITY && e->kind != ANVIL_MAP_TRANSPOSE))
        return ANVIL_OK;
    if (b->same_name[i] && reads[i] < 2) return ANVIL_OK;
    int32_t j = anvil__name_map_get(&b->ck_index, e->sources[0]);
    if (j < 0 || head[j] < 0) return ANVIL_OK;
    /* done: [0, n_ck) by class for unclaimed sources, [n_ck, 2 n_ck) by claimed source */
    size_t key = claimed[j] ? b->n_ck + (size_t)j : (size_t)head[j], m = 0;
    if (done[key]) return ANVIL_OK;
    done[key] = true;
    if (claimed[j]) names[m++] = b->ck[j].name;
    for (int64_t k = head[j]; k >= 0; k = next[k])
        if (!claimed[k]) names[m++] = b->ck[k].name;
    if (m < 2) return ANVIL_OK;
    return anvil__name_map_add_tie(map, names, m, "name map", ANVIL_STATUS_INVALID_ARGUMENT);
}

static anvil_status match_ties(const anvil__nm_build *b, const nm_hashed *h,
                               anvil_name_map *map) {
    size_t n = b->n_ck + 1;
    int32_t *reads = read_counts(b->g);
    int64_t *head = anvil__malloc_array(n, sizeof *head);
    int64_t *next = anvil__malloc_array(n, sizeof *next);
    bool *claimed = anvil__calloc(n, sizeof *claimed), *done = anvil__calloc(2 * n, sizeof *done);
    const char **names = anvil__calloc(n, sizeof *names);
    anvil_status s = reads && head && next && claimed && done && names
                         ? ANVIL_OK
                         : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) {
        equal_classes(b, h, head, next);
        claim_known(b, claimed);
    }
    for (int32_t i = 0; s == ANVIL_OK && i < b->g->n_inits; i++)
        s = tie_group(b, i, reads, head, next, claimed, done, names, map);
    anvil__free(reads);
    anvil__free(head);
    anvil__free(next);
    anvil__free(claimed);
    anvil__free(done);
    anvil__free(names);
    return s;
}

/* Entries in initializer order; the initializers without one go to the unmatched list. */
static anvil_status emit(const anvil__nm_build *b, anvil_name_map *map) {
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; s == ANVIL_OK && i < b->g->n_inits; i++) {
        const char *name = b->g->values[b->g->inits[i].value].name;
        if (b->found[i].n_sources)
            s = anvil__name_map_add(map, &b->found[i], "name map", ANVIL_STATUS_INVALID_ARGUMENT);
        else
            s = anvil__name_map_add_unmatched(map, name, "name map",
                                              ANVIL_STATUS_INVALID_ARGUMENT);
    }
    return s;
}

static anvil_status check_build_args(const anvil_model *model, const anvil_safetensors *st,
                                     const anvil_map_options *o, anvil_name_map **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_build: NULL out");
    *out = NULL;
    if (!model || !model->graph || !st)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_build: NULL %s",
                            st ? "model" : "checkpoint");
    if (!(isfinite(o->tolerance) && o->tolerance >= 0 && o->tolerance < 1))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "name_map_build: tolerance %g is not in [0, 1)", o->tolerance);
    return ANVIL_OK;
}

anvil_status anvil_name_map_build(const anvil_model *model, const anvil_safetensors *checkpoint,
                                  const anvil_map_options *options, anvil_name_map **out) {
    anvil_map_options o = options ? *options : anvil_map_options_default();
    anvil_status s = check_build_args(model, checkpoint, &o, out);
    if (s != ANVIL_OK) return s;
    anvil__nm_build b;
    memset(&b, 0, sizeof b);
    b.g = model->graph;
    b.tol = o.tolerance;
    size_t n = (size_t)b.g->n_inits;
    nm_hashed *h = NULL;
    anvil_name_map *map = NULL;
    b.found = anvil__calloc(n ? n : 1, sizeof *b.found);
    b.same_name = anvil__calloc(n ? n : 1, sizeof *b.same_name);
    if (!b.found || !b.same_name) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = load_checkpoint(&b, checkpoint);
    if (s == ANVIL_OK && !(h = hash_index(&b))) s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < b.g->n_inits; i++) match_plain(&b, h, i);
    if (s == ANVIL_OK) s = anvil__nm_match_folds(&b);
    if (s == ANVIL_OK && !(map = anvil__name_map_new())) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = emit(&b, map);
    if (s == ANVIL_OK) s = match_ties(&b, h, map);
    anvil__free(h);
    anvil__free(b.ck);
    anvil__free(b.found);
    anvil__free(b.same_name);
    anvil__name_map_free(&b.ck_index);
    if (s != ANVIL_OK) {
        anvil_name_map_destroy(map);
        return s;
    }
    *out = map;
    return ANVIL_OK;
}
