/*
 * string_list.c — anvil_string_list, the public list of names the library returns (e.g. the
 * source weights a refit source lacks). Strings are copied in and owned by the list.
 */
#include "core/core.h"

#include <string.h>

struct anvil_string_list {
    char **items;
    size_t count, cap;
};

anvil_string_list *anvil__string_list_new(void) {
    return anvil__calloc(1, sizeof(anvil_string_list));
}

anvil_status anvil__string_list_add(anvil_string_list *list, const char *s) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        char **items = anvil__malloc_array(cap, sizeof *items);
        if (!items) return ANVIL_STATUS_OUT_OF_MEMORY;
        if (list->count) memcpy(items, list->items, list->count * sizeof *items);
        anvil__free(list->items);
        list->items = items;
        list->cap = cap;
    }
    char *copy = anvil__strdup(s);
    if (!copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    list->items[list->count++] = copy;
    return ANVIL_OK;
}

size_t anvil_string_list_count(const anvil_string_list *list) { return list ? list->count : 0; }

const char *anvil_string_list_get(const anvil_string_list *list, size_t index) {
    return list && index < list->count ? list->items[index] : NULL;
}

void anvil_string_list_destroy(anvil_string_list *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) anvil__free(list->items[i]);
    anvil__free(list->items);
    anvil__free(list);
}
