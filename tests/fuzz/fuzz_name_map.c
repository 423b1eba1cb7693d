/*
 * fuzz_name_map.c — libFuzzer target for name map files: loads the input as JSON text and,
 * when it is accepted, checks every entry's invariants, writes the map back to JSON, loads that
 * and requires the same map (entries, sources, perm, eps, unmatched, tie groups), and a clone
 * equal too.
 */
#include "anvil.h"
#include "core/core.h"
#include "namemap/name_map.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const anvil_map_entry *e) {
    if (!e->onnx || !e->onnx[0] || (unsigned)e->kind >= ANVIL_MAP_KIND_COUNT) __builtin_trap();
    int32_t n = e->kind <= ANVIL_MAP_TRANSPOSE ? 1 : 5;
    if (e->n_sources != n) __builtin_trap();
    for (int32_t i = 0; i < 5; i++)
        if ((i < n) != (e->sources[i] != NULL)) __builtin_trap();
    /* a transpose has a perm; a fold weight may have one (folded, then transposed) */
    bool permuted = e->kind == ANVIL_MAP_TRANSPOSE ||
                    (e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e->rank != 0);
    if (permuted) {
        unsigned seen = 0;
        if (e->rank < 1 || e->rank > ANVIL_MAX_RANK) __builtin_trap();
        for (int32_t i = 0; i < e->rank; i++) {
            if (e->perm[i] < 0 || e->perm[i] >= e->rank || (seen >> e->perm[i] & 1u))
                __builtin_trap();
            seen |= 1u << e->perm[i];
        }
    } else if (e->rank != 0) {
        __builtin_trap();
    }
    if (!(e->eps >= 0 && isfinite(e->eps))) __builtin_trap();
    if (e->axis < 0 || e->axis >= ANVIL_MAX_RANK ||
        (e->axis != 0 && e->kind != ANVIL_MAP_CONV_BN_FOLD_WEIGHT))
        __builtin_trap();
}

static void check_same(const anvil_name_map *a, const anvil_name_map *b) {
    size_t n = anvil_name_map_count(a), u = anvil_name_map_unmatched_count(a);
    if (n != anvil_name_map_count(b) || u != anvil_name_map_unmatched_count(b)) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        anvil_map_entry x, y, z;
        if (anvil_name_map_entry(a, i, &x) != ANVIL_OK ||
            anvil_name_map_entry(b, i, &y) != ANVIL_OK)
            __builtin_trap();
        check_entry(&x);
        if (strcmp(x.onnx, y.onnx) || x.kind != y.kind || x.n_sources != y.n_sources ||
            x.rank != y.rank || x.eps != y.eps || x.axis != y.axis ||
            memcmp(x.perm, y.perm, sizeof x.perm[0] * (size_t)x.rank))
            __builtin_trap();
        for (int32_t k = 0; k < x.n_sources; k++)
            if (strcmp(x.sources[k], y.sources[k])) __builtin_trap();
        if (anvil_name_map_find(b, x.onnx, &z) != ANVIL_OK || strcmp(z.onnx, x.onnx))
            __builtin_trap();
    }
    /* tie groups: 2 or more distinct, non-empty names, the same in both */
    if (anvil_name_map_tie_count(a) != anvil_name_map_tie_count(b)) __builtin_trap();
    for (size_t i = 0; i < anvil_name_map_tie_count(a); i++) {
        const char *const *x = NULL, *const *y = NULL;
        size_t nx = 0, ny = 0;
        if (anvil_name_map_tie(a, i, &x, &nx) != ANVIL_OK ||
            anvil_name_map_tie(b, i, &y, &ny) != ANVIL_OK || nx != ny || nx < 2)
            __builtin_trap();
        for (size_t k = 0; k < nx; k++) {
            if (!x[k][0] || strcmp(x[k], y[k])) __builtin_trap();
            for (size_t m = 0; m < k; m++)
                if (!strcmp(x[k], x[m])) __builtin_trap();
        }
    }
    for (size_t i = 0; i < u; i++) {
        const char *x = anvil_name_map_unmatched(a, i), *y = anvil_name_map_unmatched(b, i);
        anvil_map_entry z;
        if (!x || !y || strcmp(x, y) || anvil_name_map_find(b, x, &z) != ANVIL_STATUS_NOT_FOUND)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anvil_name_map *map = NULL, *back = NULL, *copy = NULL;
    anvil__error_clear();
    if (anvil_name_map_load_memory(data, size, &map) != ANVIL_OK) {
        if (map || anvil_last_error()[0] == '\0') __builtin_trap(); /* failures say why */
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    if (anvil__name_map_to_json(map, &text, &len) != ANVIL_OK) __builtin_trap();
    if (anvil_name_map_load_memory(text, len, &back) != ANVIL_OK) __builtin_trap();
    check_same(map, back);
    if (anvil__name_map_clone(map, &copy) != ANVIL_OK) __builtin_trap();
    check_same(map, copy);
    anvil__free(text);
    anvil_name_map_destroy(map);
    anvil_name_map_destroy(back);
    anvil_name_map_destroy(copy);
    return 0;
}
