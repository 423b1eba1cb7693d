/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader: parses the input as an
 * in-memory image and, when it is accepted, checks each tensor's invariants and reads every
 * byte of every tensor so a view outside the image shows up under AddressSanitizer.
 */
#include "anvil.h"
#include "core/core.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tensor(const anvil_safetensors *st, const anvil_tensor *t) {
    int64_t numel = anvil_shape_numel(t->rank, t->dims);
    size_t elem = anvil_dtype_size(t->dtype);
    if (!t->name || numel < 0 || elem == 0 || (uint64_t)numel * elem != t->bytes) __builtin_trap();
    if (t->bytes && (!t->data || (uintptr_t)t->data % elem != 0)) __builtin_trap();
    anvil_tensor found;
    if (anvil_safetensors_find(st, t->name, &found) != ANVIL_OK || found.data != t->data)
        __builtin_trap();
    volatile uint8_t sink = 0;
    const uint8_t *p = t->data;
    for (size_t k = 0; k < t->bytes; k++)
        sink ^= p[k];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anvil_safetensors *st = NULL;
    anvil__error_clear();
    if (anvil_safetensors_open_memory(data, size, &st) != ANVIL_OK) {
        if (st || anvil_last_error()[0] == '\0') __builtin_trap(); /* failures say why */
        return 0;
    }
    size_t n = anvil_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor t;
        if (anvil_safetensors_get(st, i, &t) != ANVIL_OK) __builtin_trap();
        check_tensor(st, &t);
    }
    anvil_tensor t;
    if (anvil_safetensors_get(st, n, &t) != ANVIL_STATUS_OUT_OF_RANGE) __builtin_trap();
    anvil_safetensors_close(st);
    return 0;
}
