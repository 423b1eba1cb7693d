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
    X(INTERNAL, 13, "internal error")                                                         \
    X(NEEDS_WEIGHTS, 14, "engine needs weights")                                              \
    X(VERSION_MISMATCH, 15, "version mismatch")                                               \
    X(CHECKSUM_MISMATCH, 16, "checksum mismatch")

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
    /* Narrow types for Cast and quantized data. One byte per element in memory; the sub-byte
     * types (f4e2m1, i4, u4, i2, u2) are unpacked, one element per byte, low bits holding the
     * code (readers unpack the packed file encodings). */
    ANVIL_DTYPE_F8E4M3FN = 14,
    ANVIL_DTYPE_F8E4M3FNUZ = 15,
    ANVIL_DTYPE_F8E5M2 = 16,
    ANVIL_DTYPE_F8E5M2FNUZ = 17,
    ANVIL_DTYPE_F8E8M0 = 18,
    ANVIL_DTYPE_F4E2M1 = 19,
    ANVIL_DTYPE_I4 = 20,
    ANVIL_DTYPE_U4 = 21,
    ANVIL_DTYPE_I2 = 22,
    ANVIL_DTYPE_U2 = 23,
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
 * Errors: NOT_FOUND (no such file), IO_ERROR (cannot read), PARSE_ERROR (not a valid ONNX protobuf),
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

/* A safetensors file, mmapped; tensors are zero-copy views into the mapping, except a tensor
 * whose offset is not aligned to its element size, which is copied (still valid until close). */
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


/* ---------------------------------------------------------------------------------------------
 * Engines: a model compiled for one backend. Compile once (passes, tactic choice with
 * autotuning, memory plan, weight packing), then run many times from any number of threads,
 * save and load. Every engine weight buffer is a *slot* produced by a recorded *recipe* over the
 * model's source weights (DESIGN §2), so an engine can be refitted without compiling again.
 * ------------------------------------------------------------------------------------------- */
typedef struct anvil_engine anvil_engine;
/* Per-thread execution state (scratch memory, arena). One context serves one run at a time. */
typedef struct anvil_context anvil_context;

typedef enum anvil_backend {
    ANVIL_BACKEND_CPU = 0,  /* oneDNN + plain C kernels */
    ANVIL_BACKEND_CUDA = 1, /* cuDNN / cuBLASLt / CUDA C (when built with CUDA) */
    ANVIL_BACKEND_COUNT
} anvil_backend;

typedef enum anvil_precision {
    ANVIL_PRECISION_F32 = 0,
    ANVIL_PRECISION_BF16 = 1, /* opt-in; needs a CPU with avx512_bf16 (UNSUPPORTED otherwise) */
    ANVIL_PRECISION_COUNT
} anvil_precision;

/* Passes, for anvil_compile_options.disabled_passes (a bit mask of 1u << ANVIL_PASS_x). */
typedef enum anvil_pass {
    ANVIL_PASS_CONSTANT_FOLDING = 0,
    ANVIL_PASS_FOLD_BATCHNORM = 1,
    ANVIL_PASS_FUSE_ACTIVATION = 2,
    ANVIL_PASS_FUSE_RESIDUAL = 3,
    ANVIL_PASS_PATTERNS = 4, /* LayerNorm and GELU written as basic ops */
    ANVIL_PASS_ELIMINATE = 5, /* identity, dropout, transpose/reshape pairs */
    ANVIL_PASS_DEAD_CODE = 6,
    ANVIL_PASS_LAYOUT = 7, /* blocked layouts chosen by the backend; off: plain layouts */
    ANVIL_PASS_COUNT
} anvil_pass;

/* An optimization profile for one input: the range of shapes the engine must accept and the
 * shape to optimize (and autotune) for. Dims fixed by the model must equal theirs. */
typedef struct anvil_input_profile {
    const char *name; /* model input name (borrowed during compile; copied into the engine) */
    int32_t rank;
    int64_t min[ANVIL_MAX_RANK];
    int64_t opt[ANVIL_MAX_RANK];
    int64_t max[ANVIL_MAX_RANK];
} anvil_input_profile;

/* Progress of a long operation: stage ("passes", "autotune", "pack"), fraction in [0, 1]. */
typedef void (*anvil_progress_fn)(void *user, const char *stage, double fraction);

typedef struct anvil_compile_options {
    anvil_backend backend;     /* default CPU */
    int32_t threads;           /* threads per run; 0 = one per core (default) */
    anvil_precision precision; /* default F32 */
    int32_t refittable;        /* default 1: keep recipes so the engine can be refitted. It costs
                                  nothing at run time; 0 exists to measure that parity. */
    const anvil_input_profile *profiles; /* borrowed during compile; NULL: every dynamic dim
                                            must be given by a profile or defaults to 1 */
    size_t n_profiles;
    int32_t opt_level;        /* 0: no passes; 1: folding and elimination; 2 (default): all */
    int32_t autotune;         /* default 1: time candidate tactics on the opt shape */
    uint32_t disabled_passes; /* bit mask of 1u << anvil_pass */
    anvil_progress_fn progress; /* optional */
    void *progress_user;
} anvil_compile_options;

anvil_compile_options anvil_compile_options_default(void);

/* Compiles `model` (borrowed; the engine keeps no reference to it). On success *out is an
 * engine with its weights packed. Errors: UNSUPPORTED (backend, precision or an op the backend
 * cannot run), INVALID_ARGUMENT (bad profile: names an unknown input, min > opt > max, or
 * contradicts a fixed dim), and the passes' errors. Thread-safe for distinct outputs. */
anvil_status anvil_engine_compile(const anvil_model *model, const anvil_compile_options *options,
                                  anvil_engine **out);
void anvil_engine_destroy(anvil_engine *engine);

/* A context for running `engine` (borrowed; must outlive the context). */
anvil_status anvil_context_create(const anvil_engine *engine, anvil_context **out);
void anvil_context_destroy(anvil_context *context);

/* Runs the engine. inputs as for anvil_model_run_reference (by name, or by position when name
 * is NULL); every input shape must lie inside the engine's profiles (SHAPE_MISMATCH naming the
 * input, the dim, the value and the range otherwise; nothing runs). *out receives one tensor
 * per engine output. A stripped engine that was not refitted returns
 * ANVIL_STATUS_NEEDS_WEIGHTS. Thread-safety: one call per context at a time; any number of
 * contexts of one engine may run concurrently. */
anvil_status anvil_engine_run(anvil_context *context, const anvil_tensor *inputs, size_t n_inputs,
                              anvil_tensor_list **out);

/* Engine queries (thread-safe). */
size_t anvil_engine_input_count(const anvil_engine *engine);
size_t anvil_engine_output_count(const anvil_engine *engine);
/* Dims that vary are -1 in the descriptor; the profile of a dynamic input is available with
 * anvil_engine_profile. */
anvil_status anvil_engine_input(const anvil_engine *engine, size_t index, anvil_tensor_desc *out);
anvil_status anvil_engine_output(const anvil_engine *engine, size_t index,
                                 anvil_tensor_desc *out);
anvil_status anvil_engine_profile(const anvil_engine *engine, size_t input_index,
                                  anvil_input_profile *out);

typedef struct anvil_engine_info {
    anvil_backend backend;
    anvil_precision precision;
    int32_t threads;
    int32_t refittable;
    int32_t needs_weights;     /* 1 for a stripped engine not yet refitted */
    size_t layer_count;        /* executed steps */
    size_t slot_count;         /* weight buffers */
    size_t weight_bytes;       /* bytes of all slots */
    size_t source_count;       /* source weights the recipes read */
    size_t arena_bytes;        /* activation arena at the opt shapes, after reuse */
    size_t activation_bytes;   /* sum of all intermediate tensors at the opt shapes (no reuse) */
    double compile_seconds;    /* time anvil_engine_compile took (0 for a loaded engine) */
    size_t spare_bytes;        /* memory kept for the next refit (see anvil_engine_trim) */
} anvil_engine_info;
anvil_status anvil_engine_get_info(const anvil_engine *engine, anvil_engine_info *out);

typedef struct anvil_layer_info {
    const char *name;   /* node name */
    const char *op;     /* op type, e.g. "Conv" */
    const char *tactic; /* e.g. "onednn:conv", "ref" */
    const char *fused;  /* fused ops, e.g. "BatchNormalization+Relu", "" if none */
    int32_t rank;       /* output 0 at the opt shapes */
    int64_t dims[ANVIL_MAX_RANK];
} anvil_layer_info;
/* Strings are owned by the engine. */
anvil_status anvil_engine_layer(const anvil_engine *engine, size_t index, anvil_layer_info *out);

typedef struct anvil_save_options {
    int32_t stripped; /* 1: save plan and recipes without weights (needs a refit after load) */
} anvil_save_options;
anvil_save_options anvil_save_options_default(void);

/* Saves atomically (temp file, fsync, rename). options may be NULL (defaults). */
anvil_status anvil_engine_save(const anvil_engine *engine, const char *path,
                               const anvil_save_options *options);
/* Loads an engine file. Weights are mmapped in place (64-byte aligned). Errors: IO_ERROR,
 * PARSE_ERROR (wrong magic, truncated, counts or offsets out of range), VERSION_MISMATCH
 * (format newer than this library, other backend library version), CHECKSUM_MISMATCH,
 * UNSUPPORTED (backend not built or not available here). Messages name both values. */
anvil_status anvil_engine_load(const char *path, anvil_engine **out);
/* As anvil_engine_load from bytes (copied). */
anvil_status anvil_engine_load_memory(const void *data, size_t size, anvil_engine **out);


/* ---------------------------------------------------------------------------------------------
 * Refit: new weights into a compiled engine by replaying its recipes (the weight graph) on new
 * source weights. Exact (bit-identical to compiling with those weights), transactional (any
 * failure leaves the engine unchanged), live (runs in flight keep the weights they started with).
 * ------------------------------------------------------------------------------------------- */

/* Where the new source weights come from. Exactly one of the three is used, by `kind`. */
typedef enum anvil_refit_source_kind {
    ANVIL_REFIT_FROM_MODEL = 0,       /* an ONNX model of the same structure */
    ANVIL_REFIT_FROM_SAFETENSORS = 1, /* a safetensors checkpoint */
    ANVIL_REFIT_FROM_TENSORS = 2,     /* named host tensors */
    ANVIL_REFIT_SOURCE_COUNT
} anvil_refit_source_kind;

typedef struct anvil_refit_source {
    anvil_refit_source_kind kind;
    const anvil_model *model;              /* FROM_MODEL (borrowed for the call) */
    const anvil_safetensors *safetensors;  /* FROM_SAFETENSORS (borrowed for the call) */
    const anvil_tensor *tensors;           /* FROM_TENSORS: names required (borrowed) */
    size_t n_tensors;
} anvil_refit_source;

/* ---------------------------------------------------------------------------------------------
 * Name maps: how each ONNX initializer is computed from a checkpoint's tensors when the names
 * differ (PyTorch state-dict names vs. exporter-renamed initializers such as `onnx::Conv_538`
 * that hold a BatchNorm folded into the conv). Built once by matching content against the
 * checkpoint the model was exported from; stored in the engine so later checkpoints in
 * state-dict names refit directly.
 * ------------------------------------------------------------------------------------------- */
typedef struct anvil_name_map anvil_name_map;

typedef enum anvil_map_kind {
    ANVIL_MAP_IDENTITY = 0,            /* onnx = ckpt[sources[0]] */
    ANVIL_MAP_TRANSPOSE = 1,           /* onnx = ckpt[sources[0]].transpose(perm) */
    ANVIL_MAP_CONV_BN_FOLD_WEIGHT = 2, /* s = gamma / sqrt(var + eps); onnx = W * s (per output
                                          channel: dim `axis` of W, 1 for a ConvTranspose, else
                                          0), then transposed by perm when rank > 0 (a Gemm with
                                          transB = 0); sources: W, gamma, beta, mean, var */
    ANVIL_MAP_CONV_BN_FOLD_BIAS = 3,   /* onnx = beta + (b - mean) * s; sources: b or "" (no
                                          conv bias: 0), gamma, beta, mean, var */
    ANVIL_MAP_KIND_COUNT
} anvil_map_kind;

/* One entry: the ONNX initializer `onnx` and its recipe over checkpoint tensors. Strings are
 * owned by the map. */
typedef struct anvil_map_entry {
    const char *onnx;
    anvil_map_kind kind;
    int32_t n_sources;
    const char *sources[5];
    int32_t rank;            /* TRANSPOSE: rank of perm; CONV_BN_FOLD_WEIGHT: 0 or rank of perm */
    int32_t perm[ANVIL_MAX_RANK];
    double eps;              /* BN folds */
    int32_t axis;            /* CONV_BN_FOLD_WEIGHT: W's output channel dim (0 to 7; 1 for a
                                ConvTranspose, else 0) */
} anvil_map_entry;

typedef struct anvil_map_options {
    double tolerance; /* default 1e-6: a candidate matches when max|a-b| <= tolerance * max|b|
                         (BN folds computed in another order differ in the last bits) */
} anvil_map_options;
anvil_map_options anvil_map_options_default(void);

/* Matches every initializer of `model` to tensors of `checkpoint` by content: exact, transposed,
 * or a BatchNorm folded into a preceding Conv, ConvTranspose (one group) or Gemm (eps searched
 * among common values).
 * Initializers that exist in the checkpoint under their own name with equal content (float
 * tensors: within the tolerance) are identity entries. Initializers nothing matches are left
 * out of the map (they are listed by anvil_name_map_unmatched).
 * Tie groups (anvil_name_map_tie): exporters merge weights of equal value into one initializer
 * (PyTorch's exporter deduplicates initializers by value in eval mode), and content cannot tell
 * which of several equal checkpoint tensors a renamed initializer came from. So an identity or
 * transpose entry's source and the other checkpoint tensors (of at least 2 elements) bitwise
 * equal to it whose role is not otherwise known (not matched by an initializer of their own
 * name, not a BatchNorm fold's source) form a tie group; for an initializer matched under its
 * own name only when the model reads it more than once (through Identity nodes and subgraphs
 * too), the signature of a merge: an unused copy (an EMA) of a weight read once is not tied.
 * Errors: OUT_OF_MEMORY, INVALID_ARGUMENT. */
anvil_status anvil_name_map_build(const anvil_model *model, const anvil_safetensors *checkpoint,
                                  const anvil_map_options *options, anvil_name_map **out);
/* JSON file: {"format": "anvil-name-map", "version": 1, "initializers": [{"onnx": ...,
 * "kind": "identity" | "transpose" | "conv_bn_fold_weight" | "conv_bn_fold_bias",
 * "sources": [...], "perm": [...], "eps": ..., "axis": ...}, ...], "unmatched": [...],
 * "tied": [[name, name, ...], ...]} ("perm": transpose, optional for conv_bn_fold_weight;
 * "axis": optional for conv_bn_fold_weight, default 0; "tied": optional, groups of 2 or more
 * distinct names). A map is written with the oldest version that holds it: 3 if it has tie
 * groups, else 2 if a fold weight uses perm or axis, else 1; versions 1 to 3 are read. Loading
 * checks every field (PARSE_ERROR naming the entry and the field). */
anvil_status anvil_name_map_load(const char *path, anvil_name_map **out);
anvil_status anvil_name_map_load_memory(const void *data, size_t size, anvil_name_map **out);
anvil_status anvil_name_map_save(const anvil_name_map *map, const char *path);
void anvil_name_map_destroy(anvil_name_map *map);
size_t anvil_name_map_count(const anvil_name_map *map);
/* Borrowed, valid until the map is destroyed. */
anvil_status anvil_name_map_entry(const anvil_name_map *map, size_t index, anvil_map_entry *out);
/* Entry for an ONNX initializer name; NOT_FOUND if the map has none. */
anvil_status anvil_name_map_find(const anvil_name_map *map, const char *onnx,
                                 anvil_map_entry *out);
size_t anvil_name_map_unmatched_count(const anvil_name_map *map);
const char *anvil_name_map_unmatched(const anvil_name_map *map, size_t index);
/* Tie groups: checkpoint tensors that were bitwise equal when the map was built and that one
 * initializer may stand for (see anvil_name_map_build). A refit through the map refuses
 * (INVALID_GRAPH, naming them) a checkpoint in which members of a group differ: one weight of
 * the engine cannot hold them apart. Group `index` has *count >= 2 names (borrowed, valid until
 * the map is destroyed). */
size_t anvil_name_map_tie_count(const anvil_name_map *map);
anvil_status anvil_name_map_tie(const anvil_name_map *map, size_t index,
                                const char *const **names, size_t *count);

/* Stores a copy of `map` in the engine (replacing any): refits then accept checkpoints in the
 * map's source names, and engine files keep it. NULL removes it. */
anvil_status anvil_engine_set_name_map(anvil_engine *engine, const anvil_name_map *map);
/* The engine's map (borrowed from the engine), NULL if none. */
const anvil_name_map *anvil_engine_name_map(const anvil_engine *engine);

typedef struct anvil_refit_options {
    int32_t in_place;     /* default 0: *out is a new engine sharing nothing mutable with the
                             original, which stays unchanged. 1: the engine itself takes the
                             new weights (*out is the same engine). */
    int32_t check_finite; /* default 0: 1 refuses NaN/inf in float sources (names them) */
    /* Name map (borrowed for the call) used to find source weights the source lacks under
     * their own name; NULL: the engine's own map (anvil_engine_set_name_map), if any. */
    const anvil_name_map *name_map;
    /* verify: with n_verify_inputs > 0, the refitted weights are first run on these inputs
     * (borrowed, as for anvil_engine_run) both by the engine and by the reference interpreter
     * on the engine's graph with unpacked weights; an output whose max |engine - reference|
     * exceeds verify_tolerance * max |reference| makes the refit fail with OUT_OF_RANGE naming
     * the worst output and its error, and nothing changes. */
    const anvil_tensor *verify_inputs;
    size_t n_verify_inputs;
    double verify_tolerance; /* default 1e-4 */
    /* With verify failing and fallback_compile = 1 and a source of kind FROM_MODEL, the source
     * model is compiled afresh with the engine's compile options instead; *out is then a new
     * engine (even with in_place) and the report says so. */
    int32_t fallback_compile;
    /* default 0: hashing, map computing and packing use OpenMP's threads (all cores unless
     * OMP_NUM_THREADS says otherwise); N > 0: at most N threads (1: the calling thread only),
     * whatever the engine's run-time `threads`. */
    int32_t threads;
} anvil_refit_options;
anvil_refit_options anvil_refit_options_default(void);

/* What a refit did. */
typedef struct anvil_refit_report {
    size_t sources;         /* source weights of the engine */
    size_t bytes_packed;    /* slot bytes rebuilt (slots whose sources all kept their content
                               hash are shared with the previous weight set, not rebuilt) */
    double seconds;
    size_t sources_changed; /* sources whose content hash differs from the current set's */
    size_t sources_mapped;  /* sources computed through the name map */
    size_t slots_rebuilt;
    size_t bytes_total;     /* bytes of all slots */
    double verify_error;    /* worst max|engine - ref| / max|ref| over outputs (0 without verify) */
    int32_t recompiled;     /* 1: verify failed and fallback_compile compiled the model */
} anvil_refit_report;

/* Refits `engine` from `source`. On success *out is the refitted engine (see in_place) and
 * *report (may be NULL) says what was done. Only slots whose sources changed content (XXH3
 * per source, kept with the weights and in engine files) are rebuilt; the others are shared.
 * Errors, each leaving the engine unchanged:
 * NOT_FOUND (sources missing: the message names every one, and the source's tensors the
 * engine does not use), INVALID_GRAPH (an ONNX source whose nodes read weights the engine does
 * not have: another structure), SHAPE_MISMATCH / DTYPE_MISMATCH (names every mismatched source
 * with expected vs. got), INVALID_ARGUMENT (non-finite values with check_finite; sources the
 * compile folded into the plan changed: integer sources shapes depend on, scalars fused into
 * kernels such as Clip bounds — recompile instead), OUT_OF_RANGE (verify failed), the name
 * map's errors, LIMIT_EXCEEDED (a recipe value or slot larger than 4 times the source
 * weights and 256 MiB: a damaged engine file), OUT_OF_MEMORY; INVALID_ARGUMENT for threads
 * < 0. Hashing and packing run on options.threads (see there). Thread-safe with concurrent runs of the engine (a run keeps
 * the weights it started with); concurrent refits are each atomic (the last to finish wins);
 * anvil_engine_set_name_map must not run during a refit of the same engine. */
anvil_status anvil_engine_refit(anvil_engine *engine, const anvil_refit_source *source,
                                const anvil_refit_options *options, anvil_engine **out,
                                anvil_refit_report *report);

/* A refit builds the new weights aside (runs in flight keep the old ones); once the old
 * weights are no longer used, the engine keeps their memory for its next refit to write into
 * (double buffering: fresh memory would cost a page fault per 4 KiB, about as much as the
 * refit itself). This frees that memory now; the next refit allocates afresh. Not to be
 * called during a refit of the same engine. */
void anvil_engine_trim(anvil_engine *engine);

/* Refittable source weights of the engine: name, dtype and shape of the index-th one. */
size_t anvil_engine_refit_source_count(const anvil_engine *engine);
anvil_status anvil_engine_refit_source(const anvil_engine *engine, size_t index,
                                       anvil_tensor_desc *out);
/* Which refittable source weights `source` lacks (after the name map: options may be NULL).
 * *out (destroy with anvil_string_list_destroy) lists their names; empty when complete. */
typedef struct anvil_string_list anvil_string_list;
size_t anvil_string_list_count(const anvil_string_list *list);
const char *anvil_string_list_get(const anvil_string_list *list, size_t index);
void anvil_string_list_destroy(anvil_string_list *list);
anvil_status anvil_engine_refit_missing(const anvil_engine *engine,
                                        const anvil_refit_source *source,
                                        const anvil_refit_options *options,
                                        anvil_string_list **out);

#ifdef __cplusplus
}
#endif
#endif /* ANVIL_H */
