/*
 * fuzz_npy.c — libFuzzer target for the .npy reader: parses the input from memory and, when it
 * is accepted, checks the tensor's invariants and reads every byte of its (copied) data.
 */
#include "anvil.h"
#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anvil_tensor_list *list = NULL;
    anvil__error_clear();
    if (anvil_npy_read_memory(data, size, &list) != ANVIL_OK) {
        if (list || anvil_last_error()[0] == '\0') __builtin_trap(); /* failures say why */
        return 0;
    }
    if (anvil_tensor_list_count(list) != 1) __builtin_trap();
    const anvil_tensor *t = anvil_tensor_list_get(list, 0);
    int64_t numel = anvil_shape_numel(t->rank, t->dims);
    size_t elem = anvil_dtype_size(t->dtype);
    if (numel < 0 || elem == 0 || (uint64_t)numel * elem != t->bytes || t->bytes > size)
        __builtin_trap();
    volatile uint8_t sink = 0;
    const uint8_t *p = t->data;
    for (size_t k = 0; k < t->bytes; k++)
        sink ^= p[k];
    (void)sink;
    anvil_tensor_list_destroy(list);
    return 0;
}
