/*
 * map.c — the anvil_name_map object: entries, the unmatched list and the tie groups, their
 * validation (shared by the JSON loader and the matcher), lookups, copies. Not here: JSON
 * (map_json.c), computing initializers (map_compute.c), matching a model to a checkpoint
 * (map_build*.c).
 */
#include "namemap/name_map.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int32_t n_sources;
} k_kinds[ANVIL_MAP_KIND_COUNT] = {
    [ANVIL_MAP_IDENTITY] = {"identity", 1},
    [ANVIL_MAP_TRANSPOSE] = {"transpose", 1},
    [ANVIL_MAP_CONV_BN_FOLD_WEIGHT] = {"conv_bn_fold_weight", 5},
    [ANVIL_MAP_CONV_BN_FOLD_BIAS] = {"conv_bn_fold_bias", 5},
};

anvil_map_options anvil_map_options_default(void) {
    anvil_map_options o;
    memset(&o, 0, sizeof o);
    o.tolerance = 1e-6;
    return o;
}

int32_t anvil__map_kind_sources(anvil_map_kind kind) {
    return (unsigned)kind < ANVIL_MAP_KIND_COUNT ? k_kinds[kind].n_sources : -1;
}

const char *anvil__map_kind_name(anvil_map_kind kind) {
    return (unsigned)kind < ANVIL_MAP_KIND_COUNT ? k_kinds[kind].name : NULL;
}

bool anvil__map_kind_parse(const char *name, anvil_map_kind *out) {
    for (int k = 0; k < ANVIL_MAP_KIND_COUNT; k++) {
        if (strcmp(name, k_kinds[k].name) == 0) {
            *out = (anvil_map_kind)k;
            return true;
        }
    }
    return false;
}

anvil_name_map *anvil__name_map_new(void) { return anvil__calloc(1, sizeof(anvil_name_map)); }

static void free_entry(anvil_map_entry *e) {
    anvil__free((void *)e->onnx);
    for (int i = 0; i < 5; i++) anvil__free((void *)e->sources[i]);
}

static void free_tie(anvil__tie_group *t) {
    for (size_t i = 0; t->names && i < t->count; i++) anvil__free(t->names[i]);
    anvil__free(t->names);
}

void anvil_name_map_destroy(anvil_name_map *map) {
    if (!map) return;
    for (size_t i = 0; i < map->count; i++) free_entry(&map->entries[i]);
    for (size_t i = 0; i < map->n_unmatched; i++) anvil__free(map->unmatched[i]);
    for (size_t i = 0; i < map->n_ties; i++) free_tie(&map->ties[i]);
    anvil__free(map->ties);
    anvil__free(map->entries);
    anvil__free(map->unmatched);
    anvil__name_map_free(&map->index);
    anvil__name_map_free(&map->unmatched_index);
    anvil__free(map);
}

/* A tensor name: non-empty (unless `empty_ok`), at most ANVIL_NAME_MAP_MAX_NAME bytes. */
static anvil_status check_name(const char *name, bool empty_ok, const char *where,
                               const char *field, anvil_status invalid) {
    if (!name) return anvil__error(invalid, "%s: field '%s': missing name", where, field);
    size_t n = strnlen(name, ANVIL_NAME_MAP_MAX_NAME + 1);
    if (n > ANVIL_NAME_MAP_MAX_NAME)
        return anvil__error(invalid, "%s: field '%s': name longer than %d bytes", where, field,
                            ANVIL_NAME_MAP_MAX_NAME);
    if (n == 0 && !empty_ok)
        return anvil__error(invalid, "%s: field '%s': empty name", where, field);
    return ANVIL_OK;
}

/* A transpose needs a perm; a fold weight may have one (folded, then transposed: a Gemm with
 * transB = 0 holds the checkpoint's [out, in] weight as [in, out]); no other kind has one. */
static anvil_status check_perm(const anvil_map_entry *e, const char *where,
                               anvil_status invalid) {
    bool optional = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT;
    if (e->kind != ANVIL_MAP_TRANSPOSE && !(optional && e->rank != 0)) {
        if (e->rank != 0)
            return anvil__error(invalid, "%s: field 'perm': not allowed for kind %s", where,
                                anvil__map_kind_name(e->kind));
        return ANVIL_OK;
    }
    if (e->rank < 1 || e->rank > ANVIL_MAX_RANK)
        return anvil__error(invalid, "%s: field 'perm': %d axes, expected 1 to %d", where,
                            (int)e->rank, ANVIL_MAX_RANK);
    bool seen[ANVIL_MAX_RANK] = {false};
    for (int32_t i = 0; i < e->rank; i++) {
        int32_t p = e->perm[i];
        if (p < 0 || p >= e->rank)
            return anvil__error(invalid, "%s: field 'perm': axis %d is out of range for rank %d",
                                where, (int)p, (int)e->rank);
        if (seen[p])
            return anvil__error(invalid, "%s: field 'perm': axis %d appears twice (not a "
                                "permutation)", where, (int)p);
        seen[p] = true;
    }
    return ANVIL_OK;
}

static anvil_status check_entry(const anvil_map_entry *e, const char *where,
                                anvil_status invalid) {
    int32_t n = anvil__map_kind_sources(e->kind);
    if (n < 0)
        return anvil__error(invalid, "%s: field 'kind': unknown kind %d", where, (int)e->kind);
    anvil_status s = check_name(e->onnx, false, where, "onnx", invalid);
    if (s != ANVIL_OK) return s;
    if (e->n_sources != n)
        return anvil__error(invalid, "%s: field 'sources': kind %s takes %d source(s), got %d",
                            where, anvil__map_kind_name(e->kind), (int)n, (int)e->n_sources);
    for (int32_t i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, "sources[%d]", (int)i);
        bool empty_ok = e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && i == 0; /* no conv bias */
        if ((s = check_name(e->sources[i], empty_ok, where, field, invalid)) != ANVIL_OK)
            return s;
    }
    if ((s = check_perm(e, where, invalid)) != ANVIL_OK) return s;
    bool fold = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT || e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS;
    if (fold && !(isfinite(e->eps) && e->eps >= 0))
        return anvil__error(invalid, "%s: field 'eps': %g is not a finite number >= 0", where,
                            e->eps);
    if (!fold && e->eps != 0)
        return anvil__error(invalid, "%s: field 'eps': not allowed for kind %s", where,
                            anvil__map_kind_name(e->kind));
    if (e->kind != ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e->axis != 0)
        return anvil__error(invalid, "%s: field 'axis': not allowed for kind %s", where,
                            anvil__map_kind_name(e->kind));
    if (e->axis < 0 || e->axis >= ANVIL_MAX_RANK)
        return anvil__error(invalid, "%s: field 'axis': %d is not an axis (0 to %d)", where,
                            (int)e->axis, ANVIL_MAX_RANK - 1);
    return ANVIL_OK;
}

static anvil_status check_new_name(const anvil_name_map *map, const char *name,
                                   const char *where, const char *field, anvil_status invalid) {
    if (anvil__name_map_get(&map->index, name) >= 0 ||
        anvil__name_map_get(&map->unmatched_index, name) >= 0)
        return anvil__error(invalid, "%s: field '%s': initializer '%s' appears twice in the map",
                            where, field, name);
    return ANVIL_OK;
}

static anvil_status copy_entry(const anvil_map_entry *e, anvil_map_entry *c) {
    memset(c, 0, sizeof *c);
    c->kind = e->kind;
    c->n_sources = e->n_sources;
    c->rank = e->rank;
    memcpy(c->perm, e->perm, sizeof c->perm);
    c->eps = e->eps;
    c->axis = e->axis;
    c->onnx = anvil__strdup(e->onnx);
    bool ok = c->onnx != NULL;
    for (int32_t i = 0; ok && i < e->n_sources; i++)
        ok = (c->sources[i] = anvil__strdup(e->sources[i])) != NULL;
    if (ok) return ANVIL_OK;
    free_entry(c);
    return ANVIL_STATUS_OUT_OF_MEMORY;
}

/* Makes room for one more element of a growing array. */
static anvil_status reserve(void **items, size_t *cap, size_t count, size_t size) {
    if (count < *cap) return ANVIL_OK;
    if (count >= ANVIL_NAME_MAP_MAX_ENTRIES)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "name map: more than %zu entries",
                            ANVIL_NAME_MAP_MAX_ENTRIES);
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *p = anvil__realloc(*items, cap2 * size);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    *items = p;
    *cap = cap2;
    return ANVIL_OK;
}

anvil_status anvil__name_map_add(anvil_name_map *map, const anvil_map_entry *e, const char *where,
                                 anvil_status invalid) {
    anvil_status s = check_entry(e, where, invalid);
    if (s == ANVIL_OK) s = check_new_name(map, e->onnx, where, "onnx", invalid);
    if (s == ANVIL_OK)
        s = reserve((void **)&map->entries, &map->cap, map->count, sizeof *map->entries);
    if (s != ANVIL_OK) return s;
    anvil_map_entry *c = &map->entries[map->count];
    if ((s = copy_entry(e, c)) != ANVIL_OK) return s;
    if ((s = anvil__name_map_put(&map->index, c->onnx, (int32_t)map->count)) != ANVIL_OK) {
        free_entry(c);
        return s;
    }
    map->count++;
    return ANVIL_OK;
}

anvil_status anvil__name_map_add_unmatched(anvil_name_map *map, const char *name,
                                           const char *where, anvil_status invalid) {
    anvil_status s = check_name(name, false, where, "unmatched", invalid);
    if (s == ANVIL_OK) s = check_new_name(map, name, where, "unmatched", invalid);
    if (s == ANVIL_OK)
        s = reserve((void **)&map->unmatched, &map->cap_unmatched, map->n_unmatched,
                    sizeof *map->unmatched);
    if (s != ANVIL_OK) return s;
    char *c = anvil__strdup(name);
    if (!c) return ANVIL_STATUS_OUT_OF_MEMORY;
    s = anvil__name_map_put(&map->unmatched_index, c, (int32_t)map->n_unmatched);
    if (s != ANVIL_OK) {
        anvil__free(c);
        return s;
    }
    map->unmatched[map->n_unmatched++] = c;
    return ANVIL_OK;
}

anvil_status anvil__name_map_add_tie(anvil_name_map *map, const char *const *names, size_t count,
                                     const char *where, anvil_status invalid) {
    if (count < 2 || !names)
        return anvil__error(invalid, "%s: field 'tied': a group of %zu name(s), expected 2 or "
                            "more", where, count);
    if (count > ANVIL_NAME_MAP_MAX_ENTRIES - map->n_tie_names)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "name map: more than %zu tied names",
                            ANVIL_NAME_MAP_MAX_ENTRIES);
    anvil__name_map seen;
    memset(&seen, 0, sizeof seen);
    anvil_status s = ANVIL_OK;
    for (size_t i = 0; s == ANVIL_OK && i < count; i++) {
        char field[48];
        snprintf(field, sizeof field, "tied[%zu]", i);
        s = check_name(names[i], false, where, field, invalid);
        if (s == ANVIL_OK && anvil__name_map_get(&seen, names[i]) >= 0)
            s = anvil__error(invalid, "%s: field '%s': '%.200s' appears twice in the group",
                             where, field, names[i]);
        if (s == ANVIL_OK) s = anvil__name_map_put(&seen, names[i], (int32_t)i);
    }
    anvil__name_map_free(&seen);
    if (s == ANVIL_OK)
        s = reserve((void **)&map->ties, &map->cap_ties, map->n_ties, sizeof *map->ties);
    if (s != ANVIL_OK) return s;
    anvil__tie_group t = {anvil__calloc(count, sizeof(char *)), count};
    bool ok = t.names != NULL;
    for (size_t i = 0; ok && i < count; i++) ok = (t.names[i] = anvil__strdup(names[i])) != NULL;
    if (!ok) {
        free_tie(&t);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    map->ties[map->n_ties++] = t;
    map->n_tie_names += count;
    return ANVIL_OK;
}

size_t anvil_name_map_tie_count(const anvil_name_map *map) { return map ? map->n_ties : 0; }

anvil_status anvil_name_map_tie(const anvil_name_map *map, size_t index,
                                const char *const **names, size_t *count) {
    if (!map || !names || !count)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_tie: NULL argument");
    *names = NULL;
    *count = 0;
    if (index >= map->n_ties)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE,
                            "name_map_tie: index %zu out of range (%zu groups)", index,
                            map->n_ties);
    *names = (const char *const *)map->ties[index].names;
    *count = map->ties[index].count;
    return ANVIL_OK;
}

size_t anvil_name_map_count(const anvil_name_map *map) { return map ? map->count : 0; }

anvil_status anvil_name_map_entry(const anvil_name_map *map, size_t index, anvil_map_entry *out) {
    if (!map || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_entry: NULL argument");
    memset(out, 0, sizeof *out);
    if (index >= map->count)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE,
                            "name_map_entry: index %zu out of range (%zu entries)", index,
                            map->count);
    *out = map->entries[index];
    return ANVIL_OK;
}

anvil_status anvil_name_map_find(const anvil_name_map *map, const char *onnx,
                                 anvil_map_entry *out) {
    if (!map || !onnx || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_find: NULL argument");
    memset(out, 0, sizeof *out);
    int32_t i = anvil__name_map_get(&map->index, onnx);
    if (i < 0)
        return anvil__error(ANVIL_STATUS_NOT_FOUND, "name map has no entry for '%s' (%zu entries)",
                            onnx, map->count);
    *out = map->entries[i];
    return ANVIL_OK;
}

size_t anvil_name_map_unmatched_count(const anvil_name_map *map) {
    return map ? map->n_unmatched : 0;
}

const char *anvil_name_map_unmatched(const anvil_name_map *map, size_t index) {
    return map && index < map->n_unmatched ? map->unmatched[index] : NULL;
}

anvil_status anvil__name_map_clone(const anvil_name_map *map, anvil_name_map **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_clone: NULL argument");
    *out = NULL;
    if (!map) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_clone: NULL map");
    anvil_name_map *c = anvil__name_map_new();
    if (!c) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ANVIL_OK;
    for (size_t i = 0; s == ANVIL_OK && i < map->count; i++)
        s = anvil__name_map_add(c, &map->entries[i], "name map copy", ANVIL_STATUS_INTERNAL);
    for (size_t i = 0; s == ANVIL_OK && i < map->n_unmatched; i++)
        s = anvil__name_map_add_unmatched(c, map->unmatched[i], "name map copy",
                                          ANVIL_STATUS_INTERNAL);
    for (size_t i = 0; s == ANVIL_OK && i < map->n_ties; i++)
        s = anvil__name_map_add_tie(c, (const char *const *)map->ties[i].names,
                                    map->ties[i].count, "name map copy", ANVIL_STATUS_INTERNAL);
    if (s != ANVIL_OK) {
        anvil_name_map_destroy(c);
        return s;
    }
    *out = c;
    return ANVIL_OK;
}
