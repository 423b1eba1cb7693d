/*
 * model.h — the definition of the public anvil_model, shared by the API files that need its
 * insides (model.c now; the compiler and refit later).
 */
#ifndef ANVIL_API_MODEL_H
#define ANVIL_API_MODEL_H

#include "import/onnx.h"
#include "ir/ir.h"

struct anvil_model {
    anvil__mapping bytes;     /* the ONNX image: a file mapping, or owned_bytes */
    uint8_t *owned_bytes;     /* copy made by anvil_model_load_memory */
    anvil__onnx_model *onnx;  /* importer result: graph + external data mappings */
    const anvil__graph *graph;
    const char **op_types;    /* op histogram in first-seen order (strings owned by graph) */
    size_t *op_counts;
    size_t n_op_types;
};

#endif /* ANVIL_API_MODEL_H */
