/*
 * anvil.h — the one public header of anvil, a weight-refit inference engine.
 *
 * This header is the manual. Conventions (see docs and DESIGN §5):
 *   - every fallible call returns anvil_status (0 = ANVIL_OK); results come back through a
 *     trailing `out` parameter, set to NULL (or zero) on failure;
 *   - anvil_last_error() gives a thread-local message for the last failure on this thread:
 *     what failed, where, expected vs. got;
 *   - objects are opaque; anvil_<object>_destroy(NULL) is a no-op;
 *   - options are plain structs filled by anvil_<x>_options_default(); fields are only appended;
 *   - the library never exits, aborts or prints because of caller input.
 * Ownership is stated per pointer: "borrows" (caller keeps ownership, must outlive the call or
 * the object as stated), "copies", or "takes".
 */
#ifndef ANVIL_H
#define ANVIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANVIL_VERSION_MAJOR 0
#define ANVIL_VERSION_MINOR 1
#define ANVIL_VERSION_PATCH 0
#define ANVIL_VERSION_STRING "0.1.0"
/* One integer that grows with every release: major * 10000 + minor * 100 + patch. */
#define ANVIL_VERSION_NUMBER \
    (ANVIL_VERSION_MAJOR * 10000 + ANVIL_VERSION_MINOR * 100 + ANVIL_VERSION_PATCH)

/* Returns ANVIL_VERSION_STRING of the library actually linked (static text). Thread-safe. */
const char *anvil_version(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes. Values are explicit and append-only.
 * ------------------------------------------------------------------------------------------- */
#define ANVIL_STATUS_LIST(X)                                                                  \
    X(OK, 0, "ok")                                                                            \
    X(INVALID_ARGUMENT, 1, "invalid argument")                                                \
    X(OUT_OF_MEMORY, 2, "out of memory")                                                      \
    X(IO_ERROR, 3, "i/o error")                                                               \
    X(PARSE_ERROR, 4, "malformed file")                                                       \
    X(UNSUPPORTED, 5, "unsupported feature")                                                  \
    X(INVALID_GRAPH, 6, "invalid graph")                                                      \
    X(SHAPE_MISMATCH, 7, "shape mismatch")                                                    \
    X(DTYPE_MISMATCH, 8, "dtype mismatch")                                                    \
    X(NOT_FOUND, 9, "not found")                                                              \
    X(OUT_OF_RANGE, 10, "value out of range")                                                 \
    X(LIMIT_EXCEEDED, 11, "size limit exceeded")                                              \
    X(MISSING_INPUT, 12, "missing input")                                                     \
    X(INTERNAL, 13, "internal error")

typedef enum anvil_status {
#define ANVIL_X_(name, value, text) ANVIL_STATUS_##name = value,
    ANVIL_STATUS_LIST(ANVIL_X_)
#undef ANVIL_X_
    ANVIL_STATUS_COUNT
} anvil_status;

#define ANVIL_OK ANVIL_STATUS_OK

/* Static text naming a status ("shape mismatch"); "unknown status" for values out of range. */
const char *anvil_status_string(anvil_status status);

/* Message of the last failure on the calling thread, e.g.
 * "input 'x' dim 1: expected 3, got 4". Never NULL; "" before any failure. The pointer stays
 * valid until the next anvil call on this thread. */
const char *anvil_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Element types. Values are explicit and append-only.
 * ------------------------------------------------------------------------------------------- */
typedef enum anvil_dtype {
    ANVIL_DTYPE_UNDEFINED = 0,
    ANVIL_DTYPE_F32 = 1,
    ANVIL_DTYPE_F16 = 2,
    ANVIL_DTYPE_BF16 = 3,
    ANVIL_DTYPE_F64 = 4,
    ANVIL_DTYPE_I8 = 5,
    ANVIL_DTYPE_U8 = 6,
    ANVIL_DTYPE_I16 = 7,
    ANVIL_DTYPE_I32 = 8,
    ANVIL_DTYPE_I64 = 9,
    ANVIL_DTYPE_BOOL = 10, /* one byte per element, 0 or 1 */
    ANVIL_DTYPE_U16 = 11,
    ANVIL_DTYPE_U32 = 12,
    ANVIL_DTYPE_U64 = 13,
    ANVIL_DTYPE_COUNT
} anvil_dtype;

/* Bytes per element (0 for UNDEFINED or out of range). */
size_t anvil_dtype_size(anvil_dtype dtype);
/* Short static name: "f32", "bf16", "i64", "bool", ...; "undefined" for unknown values. */
const char *anvil_dtype_name(anvil_dtype dtype);

/* ---------------------------------------------------------------------------------------------
 * Tensors.
 * ------------------------------------------------------------------------------------------- */
#define ANVIL_MAX_RANK 8

/* Describes a tensor of a model: its name, element type and shape. A dimension that is not
 * fixed by the model is -1 in dims; dim_names[i] then holds its symbolic name (e.g. "batch")
 * or NULL when the model gives none. rank is -1 when the model does not state the rank.
 * Strings are owned by the object the descriptor came from and live as long as it. */
typedef struct anvil_tensor_desc {
    const char *name;
    anvil_dtype dtype;
    int32_t rank;
    int64_t dims[ANVIL_MAX_RANK];
    const char *dim_names[ANVIL_MAX_RANK];
} anvil_tensor_desc;

/* A tensor in host memory, dense, row-major (C order), little-endian.
 * As an input: name selects the model input (NULL: matched by position); data is borrowed for
 * the duration of the call and must hold `bytes` bytes = element count * dtype size.
 * As an output: everything is owned by the anvil_tensor_list it came from. */
typedef struct anvil_tensor {
    const char *name;
    anvil_dtype dtype;
    int32_t rank;
    int64_t dims[ANVIL_MAX_RANK];
    void *data;
    size_t bytes;
} anvil_tensor;

/* Element count of a shape (1 for rank 0); -1 if a dim is negative or the count overflows. */
int64_t anvil_shape_numel(int32_t rank, const int64_t *dims);

/* A list of tensors returned by the library (run outputs). */
typedef struct anvil_tensor_list anvil_tensor_list;

size_t anvil_tensor_list_count(const anvil_tensor_list *list);
/* Borrowed pointer into the list, valid until the list is destroyed; NULL if index is out of
 * range. */
const anvil_tensor *anvil_tensor_list_get(const anvil_tensor_list *list, size_t index);
void anvil_tensor_list_destroy(anvil_tensor_list *list);

/* ---------------------------------------------------------------------------------------------
 * Models: an imported ONNX graph with its source weights (initializers).
 * A model is immutable after load; every const query is thread-safe.
 * ------------------------------------------------------------------------------------------- */
typedef struct anvil_model anvil_model;

/* Loads an ONNX model file. Weights are mmapped and viewed without copies where possible;
 * external data files are resolved relative to the model's folder and must stay inside it.
 * Errors: IO_ERROR (cannot open/read), PARSE_ERROR (not a valid ONNX protobuf),
 * UNSUPPORTED (one message listing every unsupported op / opset with node names),
 * INVALID_GRAPH (cycles, undefined values, double assignment), LIMIT_EXCEEDED. */
anvil_status anvil_model_load(const char *path, anvil_model **out);

/* Loads an ONNX model from memory. The bytes are copied where needed; `data` may be freed after
 * the call. base_dir (may be NULL) is where external data files are looked up; with NULL,
 * a model referring to external data fails with NOT_FOUND. */
anvil_status anvil_model_load_memory(const void *data, size_t size, const char *base_dir,
                                     anvil_model **out);

void anvil_model_destroy(anvil_model *model);

size_t anvil_model_input_count(const anvil_model *model);
size_t anvil_model_output_count(const anvil_model *model);
/* Graph inputs that are not initializers, in model order. OUT_OF_RANGE for a bad index. */
anvil_status anvil_model_input(const anvil_model *model, size_t index, anvil_tensor_desc *out);
anvil_status anvil_model_output(const anvil_model *model, size_t index, anvil_tensor_desc *out);

/* Source weights (ONNX initializers of the main graph). */
size_t anvil_model_initializer_count(const anvil_model *model);
/* Fills `out` with the initializer's name, dtype and shape; *bytes (may be NULL) gets its size
 * in bytes. */
anvil_status anvil_model_initializer(const anvil_model *model, size_t index,
                                     anvil_tensor_desc *out, size_t *bytes);

/* Number of nodes of the main graph, and per op type (op_type NULL: all nodes). */
size_t anvil_model_node_count(const anvil_model *model, const char *op_type);
/* Op histogram: the index-th distinct op type in first-seen order, and its count; returns
 * NULL when index is past the end. The string is owned by the model. */
const char *anvil_model_op_type(const anvil_model *model, size_t index, size_t *count);
/* Highest opset of the default ONNX domain the model imports. */
int64_t anvil_model_opset(const anvil_model *model);

/* Writes a human-readable listing of the graph (values, nodes, shapes) to a callback. */
typedef void (*anvil_write_fn)(void *user, const char *text, size_t length);
anvil_status anvil_model_print(const anvil_model *model, anvil_write_fn write, void *user);

/* ---------------------------------------------------------------------------------------------
 * Reference interpreter: runs any supported model with plain C kernels, one node at a time.
 * It is the oracle every backend is checked against, not a fast path.
 * ------------------------------------------------------------------------------------------- */

/* Runs the model. inputs: n_inputs tensors (borrowed), matched to model inputs by name, or by
 * position when name is NULL. Every input must be given with the model's dtype and a shape that
 * fits its declared dims. On success *out holds one tensor per model output, in model order,
 * which the caller destroys with anvil_tensor_list_destroy.
 * Errors: MISSING_INPUT (the message names each missing input with dtype and shape),
 * SHAPE_MISMATCH / DTYPE_MISMATCH for wrong inputs, NOT_FOUND for an unknown input name,
 * and the kernels' errors (e.g. OUT_OF_RANGE for a bad index in Gather).
 * Thread-safe: several threads may run the same model at once. */
anvil_status anvil_model_run_reference(const anvil_model *model, const anvil_tensor *inputs,
                                       size_t n_inputs, anvil_tensor_list **out);

/* ---------------------------------------------------------------------------------------------
 * Tensor files: safetensors and NumPy .npy.
 * ------------------------------------------------------------------------------------------- */

/* A safetensors file, mmapped; tensors are zero-copy views into the mapping. */
typedef struct anvil_safetensors anvil_safetensors;

/* Errors: IO_ERROR, PARSE_ERROR (bad header length, JSON errors, bad offsets, overlaps),
 * UNSUPPORTED (unknown dtype), LIMIT_EXCEEDED (rank too large, size overflow). */
anvil_status anvil_safetensors_open(const char *path, anvil_safetensors **out);
/* Parses a safetensors image in memory; `data` is borrowed and must outlive the object. */
anvil_status anvil_safetensors_open_memory(const void *data, size_t size,
                                           anvil_safetensors **out);
void anvil_safetensors_close(anvil_safetensors *st);
size_t anvil_safetensors_count(const anvil_safetensors *st);
/* The index-th tensor in file order; data points into the mapping (valid until close). */
anvil_status anvil_safetensors_get(const anvil_safetensors *st, size_t index, anvil_tensor *out);
/* Finds a tensor by name; NOT_FOUND if absent. */
anvil_status anvil_safetensors_find(const anvil_safetensors *st, const char *name,
                                    anvil_tensor *out);
/* Writes tensors (borrowed; each needs a unique non-NULL name) to a safetensors file,
 * atomically (temp file, fsync, rename). */
anvil_status anvil_safetensors_write(const char *path, const anvil_tensor *tensors, size_t count);

/* Reads a .npy file (format v1/v2/v3, little-endian or byte-order-free dtypes, C order).
 * On success *out is a one-tensor list owning the data. Fortran order, big-endian and object
 * arrays are UNSUPPORTED. */
anvil_status anvil_npy_read(const char *path, anvil_tensor_list **out);
anvil_status anvil_npy_read_memory(const void *data, size_t size, anvil_tensor_list **out);
/* Writes a tensor (borrowed) as a .npy v1 file (v2 if the header needs it), atomically. */
anvil_status anvil_npy_write(const char *path, const anvil_tensor *tensor);

#ifdef __cplusplus
}
#endif
#endif /* ANVIL_H */
