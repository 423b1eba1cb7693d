/*
 * backend.h — the interface a backend implements (DESIGN §3): a struct of function pointers
 * plus a context. The planner asks a backend which tactics can run a node, creates kernels for
 * concrete shapes, and learns from each kernel how its weights must be packed and which layout
 * it wants for each activation. Passes and the planner never include a backend's own headers.
 */
#ifndef ANVIL_BACKEND_H
#define ANVIL_BACKEND_H

#include "ops/op.h"

/* A memory layout of an activation or packed weight. PLAIN is dense row-major in the value's
 * dtype; anything else is backend-specific and described by an opaque, serializable blob
 * (for oneDNN: the bytes of a dnnl_memory_desc_t) whose size in bytes may exceed the plain
 * size (blocked formats pad channels). */
#define ANVIL_LAYOUT_BLOB_MAX 1024
typedef struct anvil__layout {
    int32_t kind;   /* 0 = plain; otherwise backend-defined */
    uint32_t size;  /* blob bytes used */
    size_t bytes;   /* bytes of a tensor in this layout */
    uint8_t blob[ANVIL_LAYOUT_BLOB_MAX];
} anvil__layout;

#define ANVIL_LAYOUT_PLAIN 0

/* What a backend sees of a node when it creates a kernel: the node (with fused post-ops), the
 * concrete dtypes/shapes of its inputs and outputs, which inputs are weights (slots) and the
 * layouts the activation inputs arrive in. */
typedef struct anvil__kernel_desc {
    const anvil__node *node;
    int64_t opset;
    int32_t tactic;
    int32_t n_inputs, n_outputs;
    const anvil__tensor *inputs;  /* shapes/dtypes; data set only for small constant slots */
    const anvil__tensor *outputs; /* shapes/dtypes */
    const bool *is_weight;        /* per input: a weight slot (packed once, at compile/refit) */
    const anvil__layout *in_layouts; /* per input: layout it arrives in (plain for weights) */
    /* Weight layouts fixed by an earlier compile (reload, or a new shape of a dynamic engine):
     * the kernel must use them, not choose. NULL when the kernel may choose. */
    const anvil__layout *fixed_weight_layouts;
    int32_t threads;
    /* Activations stay in plain layouts (ANVIL_PASS_LAYOUT off): the kernel must accept and
     * produce plain activations; only weights may be packed. */
    bool plain_activations;
    /* ANVIL_PRECISION_BF16: the kernel may compute in bf16 (weights packed as bf16);
     * activations between kernels stay f32. */
    anvil_precision precision;
} anvil__kernel_desc;

typedef struct anvil__kernel anvil__kernel; /* backend-defined */

/* Buffers of one kernel execution, in the layouts the kernel declared. */
typedef struct anvil__exec_args {
    void *const *inputs;  /* NULL for omitted optional inputs */
    void *const *outputs;
    const anvil__tensor *in_shapes; /* concrete shapes for this run */
    const anvil__tensor *out_shapes;
    void *scratch;        /* kernel_scratch_bytes() bytes, per context */
} anvil__exec_args;

typedef struct anvil__backend {
    const char *name; /* "cpu" */
    anvil_backend kind;
    void *ctx;

    /* Candidate tactics for the node, best first (ids are backend-defined, stable across
     * versions of the engine format). Returns the count written (0: cannot run the node). */
    int32_t (*tactics)(void *ctx, const anvil__node *node, const anvil__tensor *inputs,
                       int32_t n_inputs, int32_t *ids, int32_t cap);
    const char *(*tactic_name)(void *ctx, int32_t tactic);

    /* Creates a kernel. On success the kernel reports, through the query functions below, the
     * layout it wants for each input and produces for each output. */
    anvil_status (*kernel_create)(void *ctx, const anvil__kernel_desc *desc, anvil__kernel **out);
    void (*kernel_destroy)(void *ctx, anvil__kernel *k);
    /* Layout the kernel wants input i in (weights: the packed layout; the planner adds a Pack
     * recipe step producing it) and produces output o in. */
    void (*kernel_input_layout)(void *ctx, const anvil__kernel *k, int32_t i, anvil__layout *out);
    void (*kernel_output_layout)(void *ctx, const anvil__kernel *k, int32_t o,
                                 anvil__layout *out);
    size_t (*kernel_scratch_bytes)(void *ctx, const anvil__kernel *k);
    anvil_status (*kernel_run)(void *ctx, const anvil__kernel *k, const anvil__exec_args *args);

    /* Converts between layouts (activations and weight packing): src in layout `from`, dst in
     * layout `to`, same logical tensor `shape`. Deterministic: packing replays bit-exactly. */
    anvil_status (*reorder)(void *ctx, const anvil__tensor *shape, const anvil__layout *from,
                            const void *src, const anvil__layout *to, void *dst);

    /* Checks that layout `l` describes a tensor of `shape` in exactly l->bytes bytes (a Pack's
     * layout and byte count come from engine files, which are untrusted). NULL: no check. */
    anvil_status (*check_layout)(void *ctx, const anvil__tensor *shape, const anvil__layout *l);

    /* Packs a plain tensor read through a view into layout `to` (NULL: not supported). The
     * element at ONNX index (i_0, ..., i_r-1) of `shape` is src[sum_d i_d * strides[d]]
     * (strides in elements; NULL: dense), times scale[i_0] when scale is not NULL (f32 only;
     * the product rounds exactly like an f32 multiply, so the bytes equal packing the
     * multiplied tensor). A refit packs a transposed or BatchNorm-folded checkpoint tensor
     * this way without writing the intermediate. UNSUPPORTED when the backend cannot read this
     * view or layout; the caller then packs a dense copy. */
    anvil_status (*pack_view)(void *ctx, const anvil__tensor *shape, const int64_t *strides,
                              const void *src, const float *scale, const anvil__layout *to,
                              void *dst);

    /* Whether alloc() returns host memory the CPU can write directly (weight sets are then
     * built in place instead of staged on the host and copied). */
    bool host_memory;
    /* Device memory (host memory for the CPU backend). */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p);
    /* Copies between host and backend memory (to_device: host → backend). */
    anvil_status (*copy)(void *ctx, void *dst, const void *src, size_t bytes, bool to_device);

    /* Identifies the kernel library for engine files ("onednn 2.6.3 avx512_core"); a loaded
     * engine whose string differs is refused with VERSION_MISMATCH. */
    const char *(*version)(void *ctx);

    /* Whether kernels can compute in precision `p` on this machine (F32 always). NULL: F32
     * only. The CPU backend answers BF16 when the CPU has avx512_bf16. */
    bool (*supports_precision)(void *ctx, anvil_precision p);
} anvil__backend;

/* The backends built into this library. NULL + UNSUPPORTED error when `kind` is not built or
 * not usable on this machine. Backends are process-wide singletons, created on first use. */
anvil_status anvil__backend_get(anvil_backend kind, const anvil__backend **out);

#endif /* ANVIL_BACKEND_H */
