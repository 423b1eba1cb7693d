/*
 * onnx.h — the ONNX importer: a serialized ModelProto (protobuf) → anvil's graph IR, and a
 * serialized TensorProto (.pb test data) → a tensor. Every byte is untrusted: malformed or
 * hostile input gets a specific status and message, never a crash or a giant allocation.
 * Not part of the public API (api/model.c wraps it).
 */
#ifndef ANVIL_IMPORT_ONNX_H
#define ANVIL_IMPORT_ONNX_H

#include "ir/ir.h"

/* Highest default-domain opset the importer accepts (the lowest is 1). */
#define ANVIL_ONNX_MAX_OPSET 28

/* Deepest message nesting accepted (Model > Graph > Node > Attribute > Graph > ... and nested
 * TypeProtos). Deeper input is PARSE_ERROR; it keeps recursion bounded on hostile files. */
#define ANVIL_ONNX_MAX_DEPTH 64

/* What an import produces. Everything is owned by the struct and released by
 * anvil__onnx_model_destroy, except the bytes given to anvil__onnx_import: initializers of
 * the main graph whose raw_data is suitably aligned are views into those bytes (init->owned ==
 * false), so the caller keeps them alive and unchanged as long as the model.
 *
 * Initializer data, by where it lives in the file:
 *   - raw_data, aligned to its element size: zero-copy view into the caller's bytes;
 *   - raw_data at an address not aligned to its element size (most exporters write them at
 *     arbitrary offsets): an owned aligned copy, because reading a float through a misaligned
 *     pointer is undefined behaviour in C and the kernels read typed arrays;
 *   - typed fields (float_data, int32_data, ...): converted into an owned buffer;
 *   - external data: a view into a file mapping held in `files` (aligned case) or an owned copy.
 * Tensors inside attributes (Constant's value, subgraph initializers) are always owned. */
typedef struct anvil__onnx_model {
    anvil__graph *graph;      /* main graph, nodes in topological order, verified */
    anvil__mapping *files;    /* mapped external-data files, one per distinct file */
    size_t n_files;
    int64_t ir_version;       /* ModelProto.ir_version (0 when absent) */
    int64_t opset;            /* default-domain opset (== graph->opset) */
    int64_t model_version;    /* ModelProto.model_version (0 when absent) */
    char *producer_name;      /* never NULL ("" when absent) */
    char *producer_version;   /* never NULL */
} anvil__onnx_model;

/* Imports a serialized ModelProto. `data` is borrowed and must outlive *out (see above).
 * base_dir: folder that external-data paths are relative to (NULL: a model with external data
 * fails with NOT_FOUND). External paths must be relative, contain no ".." component and, once
 * symlinks are resolved, stay inside base_dir (INVALID_ARGUMENT otherwise).
 * On success *out owns the graph: every supported node has node->op set, passed
 * anvil__op_validate_node, the graph is topologically sorted and anvil__graph_verify holds.
 * Errors: PARSE_ERROR (not protobuf, truncated, too deep, inconsistent tensor sizes, negative
 * dims, external data outside its file), UNSUPPORTED (one message listing every unsupported op
 * type with its node names, unsupported opsets and element types in use), INVALID_GRAPH (cycle,
 * undefined or doubly defined value, missing required attribute), LIMIT_EXCEEDED (rank over
 * ANVIL_MAX_RANK, element or byte counts that overflow or pass ANVIL_MAX_ALLOC), NOT_FOUND
 * (external data file missing: names the tensor and the path), INVALID_ARGUMENT, IO_ERROR,
 * OUT_OF_MEMORY. *out is NULL on failure. */
anvil_status anvil__onnx_import(const uint8_t *data, size_t size, const char *base_dir,
                                anvil__onnx_model **out);

/* Releases everything the model owns (graph, mappings, strings). NULL is a no-op. */
void anvil__onnx_model_destroy(anvil__onnx_model *model);

/* Parses a serialized TensorProto (the input_K.pb / output_K.pb files of the ONNX test suite)
 * into an owned tensor: out->data is allocated with anvil__malloc (never NULL, even for an
 * empty tensor) and freed by the caller with anvil__free. *out_name (may be NULL) receives the
 * tensor's name, allocated with anvil__malloc ("" when absent). External data is not supported
 * here (UNSUPPORTED). Same size checks and errors as initializers. */
anvil_status anvil__onnx_read_tensor(const uint8_t *data, size_t size, anvil__tensor *out,
                                     char **out_name);

#endif /* ANVIL_IMPORT_ONNX_H */
