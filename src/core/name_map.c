/*
 * name_map.c — string → int32 hash map with open addressing and linear probing, for value and
 * tensor name lookups. Keys are borrowed (they live in the graph or file that owns them).
 */
#include "core/core.h"

#include <string.h>

static uint64_t hash_str(const char *s) { /* FNV-1a: short keys, no need for more */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static anvil_status grow_to(anvil__name_map *m, size_t cap) {
    const char **keys = anvil__calloc(cap, sizeof *keys);
    int32_t *values = anvil__calloc(cap, sizeof *values);
    if (!keys || !values) {
        anvil__free(keys);
        anvil__free(values);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash_str(m->keys[i]) & (cap - 1);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        values[j] = m->values[i];
    }
    anvil__free(m->keys);
    anvil__free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return ANVIL_OK;
}

static anvil_status grow(anvil__name_map *m) { return grow_to(m, m->cap ? m->cap * 2 : 64); }

anvil_status anvil__name_map_reserve(anvil__name_map *m, size_t n) {
    size_t cap = m->cap ? m->cap : 64;
    while (cap / 2 < n && cap <= SIZE_MAX / 4) cap *= 2;
    return cap > m->cap ? grow_to(m, cap) : ANVIL_OK;
}

anvil_status anvil__name_map_put(anvil__name_map *m, const char *key, int32_t value) {
    if ((m->count + 1) * 2 > m->cap) {
        anvil_status s = grow(m);
        if (s != ANVIL_OK) return s;
    }
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            m->values[j] = value;
            return ANVIL_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->values[j] = value;
    m->count++;
    return ANVIL_OK;
}

int32_t anvil__name_map_get(const anvil__name_map *m, const char *key) {
    if (!m->cap) return -1;
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) return m->values[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void anvil__name_map_free(anvil__name_map *m) {
    anvil__free(m->keys);
    anvil__free(m->values);
    memset(m, 0, sizeof *m);
}
