/*
 * tensor_list.c — the public anvil_tensor_list: a small owning array of named host tensors,
 * returned by runs and the .npy reader.
 */
#include "core/core.h"

#include <string.h>

anvil_tensor_list *anvil__tensor_list_new(size_t count) {
    anvil_tensor_list *list = anvil__calloc(1, sizeof *list);
    if (!list) return NULL;
    list->tensors = anvil__calloc(count ? count : 1, sizeof *list->tensors);
    if (!list->tensors) {
        anvil__free(list);
        return NULL;
    }
    list->count = count;
    return list;
}

anvil_status anvil__tensor_list_set(anvil_tensor_list *list, size_t i, const char *name,
                                    anvil_dtype dtype, int32_t rank, const int64_t *dims,
                                    void *data, size_t bytes) {
    if (i >= list->count || rank < 0 || rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_INTERNAL, "tensor list: bad entry %zu", i);
    anvil_tensor *t = &list->tensors[i];
    char *copy = NULL;
    if (name && !(copy = anvil__strdup(name))) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__free((void *)t->name);
    anvil__free(t->data);
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->dtype = dtype;
    t->rank = rank;
    for (int32_t d = 0; d < rank; d++) t->dims[d] = dims[d];
    t->data = data;
    t->bytes = bytes;
    return ANVIL_OK;
}

size_t anvil_tensor_list_count(const anvil_tensor_list *list) { return list ? list->count : 0; }

const anvil_tensor *anvil_tensor_list_get(const anvil_tensor_list *list, size_t index) {
    return list && index < list->count ? &list->tensors[index] : NULL;
}

void anvil_tensor_list_destroy(anvil_tensor_list *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) {
        anvil__free((void *)list->tensors[i].name);
        anvil__free(list->tensors[i].data);
    }
    anvil__free(list->tensors);
    anvil__free(list);
}
