/*
 * fuzz_onnx.c — libFuzzer target for the ONNX importer: loads the input as a model from
 * memory; a failure must come with a message; an accepted model must answer every query,
 * print, and pass the verifier again. Seeds: tests/fuzz/corpus_onnx (make_onnx_files.py).
 */
#include "anvil.h"
#include "api/model.h"
#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *user, const char *text, size_t length) {
    volatile size_t *total = user;
    *total += length + (size_t)(text[0] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anvil_model *m = NULL;
    anvil__error_clear();
    if (anvil_model_load_memory(data, size, NULL, &m) != ANVIL_OK) {
        if (m || anvil_last_error()[0] == '\0') __builtin_trap(); /* failures say why */
        return 0;
    }
    anvil_tensor_desc d;
    for (size_t i = 0; i < anvil_model_input_count(m); i++)
        if (anvil_model_input(m, i, &d) != ANVIL_OK || !d.name) __builtin_trap();
    for (size_t i = 0; i < anvil_model_output_count(m); i++)
        if (anvil_model_output(m, i, &d) != ANVIL_OK || !d.name) __builtin_trap();
    for (size_t i = 0; i < anvil_model_initializer_count(m); i++) {
        size_t bytes = 0;
        if (anvil_model_initializer(m, i, &d, &bytes) != ANVIL_OK) __builtin_trap();
        const anvil__init *in = &m->graph->inits[i];
        if (in->t.bytes != bytes || (bytes && !in->t.data)) __builtin_trap();
        volatile uint8_t x = 0; /* every weight byte must be readable */
        for (size_t k = 0; k < bytes; k++) x ^= ((const uint8_t *)in->t.data)[k];
        (void)x;
    }
    volatile size_t total = 0;
    if (anvil_model_print(m, sink, (void *)&total) != ANVIL_OK) __builtin_trap();
    if (anvil__graph_verify(m->graph) != ANVIL_OK) __builtin_trap();
    anvil_model_destroy(m);
    return 0;
}
