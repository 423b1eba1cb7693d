/*
 * op.h — the op registry's contract. Every op listed in ops.def has an implementation family
 * `impl` providing three functions:
 *   anvil__op_<impl>_validate(node, opset): attributes present, of the right kind and in range;
 *       input/output counts are already checked against ops.def by the registry;
 *   anvil__op_<impl>_infer(ctx): output dtypes and shapes from the inputs' dtypes and shapes
 *       (and their data where known: shape tensors, constants, or every input at run time).
 *       With all input data known it must produce fully known shapes. With data missing it
 *       sets unknown dims to -1 (or rank to -1) rather than failing;
 *   anvil__op_<impl>_run(ctx): the plain C reference kernel; outputs are allocated by the
 *       interpreter from what infer produced.
 * One family may implement several ops and dispatch on ctx->node->op.
 */
#ifndef ANVIL_OP_H
#define ANVIL_OP_H

#include "ir/ir.h"

/* Op flags (ops.def last column). */
enum {
    /* The kernel handles floats as f32 only: the interpreter converts f16/bf16/f64 inputs to
     * f32, runs the op, and converts f32 outputs back to the original float dtype. */
    ANVIL_OP_F32_COMPUTE = 1 << 0,
    /* The output shapes depend on running the op (If): run() sets and allocates its outputs
     * itself instead of the interpreter allocating them from infer(). */
    ANVIL_OP_SELF_ALLOC = 1 << 1,
    /* anvil's own op (domain "anvil"), created by the compiler, never accepted from a model
     * file's default domain. */
    ANVIL_OP_INTERNAL = 1 << 2,
};

typedef enum anvil__op_id {
#define ANVIL_OP(name, impl, min_in, max_in, min_out, max_out, flags) ANVIL_OP_##name,
#include "ops/ops.def"
#undef ANVIL_OP
    ANVIL_OP_COUNT
} anvil__op_id;

typedef struct anvil__op_ctx {
    const anvil__node *node;
    int64_t opset;
    int32_t n_inputs;
    anvil__tensor **inputs; /* NULL entries for omitted optional inputs */
    int32_t n_outputs;
    anvil__tensor **outputs; /* NULL entries for omitted optional outputs */
    /* Runs a subgraph (If branches); set by the interpreter, NULL in static inference. */
    anvil_status (*run_subgraph)(void *interp, const anvil__graph *g, anvil__tensor **outputs,
                                 int32_t n_outputs);
    void *interp;
} anvil__op_ctx;

typedef struct anvil__op_def {
    const char *name;
    int32_t min_inputs, max_inputs, min_outputs, max_outputs;
    uint32_t flags;
    anvil_status (*validate)(const anvil__node *node, int64_t opset);
    anvil_status (*infer)(anvil__op_ctx *ctx);
    anvil_status (*run)(anvil__op_ctx *ctx);
} anvil__op_def;

#define ANVIL_OP_MAX_INPUTS_ANY 0x7fffffff

/* Registry. */
const anvil__op_def *anvil__op_get(int32_t op); /* NULL if out of range */
int32_t anvil__op_find(const char *op_type, const char *domain); /* -1 if unsupported */
/* anvil's internal ops (domain "anvil"), for graphs the compiler builds. */
int32_t anvil__op_find_internal(const char *op_type);
/* Checks input/output counts, then calls validate. Message names the node. */
anvil_status anvil__op_validate_node(const anvil__node *node, int64_t opset);

#define ANVIL_OP(name, impl, min_in, max_in, min_out, max_out, flags)                     \
    anvil_status anvil__op_##impl##_validate(const anvil__node *node, int64_t opset);     \
    anvil_status anvil__op_##impl##_infer(anvil__op_ctx *ctx);                            \
    anvil_status anvil__op_##impl##_run(anvil__op_ctx *ctx);
#include "ops/ops.def"
#undef ANVIL_OP

/* ---- helpers for op implementations (op_util.c) ---- */

/* Error naming the node: "node 'conv1' (Conv): <message>". */
anvil_status anvil__node_error(const anvil__node *node, anvil_status status, const char *fmt,
                               ...) ANVIL_PRINTF(3, 4);

/* Attribute getters with defaults; the *_checked variants fail with INVALID_GRAPH when the
 * attribute exists with another kind. */
int64_t anvil__attr_int(const anvil__node *n, const char *name, int64_t def);
double anvil__attr_float(const anvil__node *n, const char *name, double def);
const char *anvil__attr_string(const anvil__node *n, const char *name, const char *def);
/* Returns the INTS array (NULL and *count = 0 if absent). */
const int64_t *anvil__attr_ints(const anvil__node *n, const char *name, size_t *count);
const float *anvil__attr_floats(const anvil__node *n, const char *name, size_t *count);
/* Fails (INVALID_GRAPH naming node and attribute) when `name` is present with a kind other
 * than `kind`; succeeds when absent. Use in validate. */
anvil_status anvil__attr_expect(const anvil__node *n, const char *name, anvil__attr_kind kind);
/* Fails with INVALID_GRAPH "missing required attribute 'x'" when absent or of another kind. */
anvil_status anvil__attr_require(const anvil__node *n, const char *name, anvil__attr_kind kind);

/* Normalizes a possibly negative axis against rank; OUT_OF_RANGE naming the node if invalid. */
anvil_status anvil__axis(const anvil__node *n, int64_t axis, int32_t rank, int32_t *out);

/* Multidirectional (numpy) broadcasting of shapes; SHAPE_MISMATCH naming the node if
 * incompatible. Unknown dims (-1) broadcast to -1 unless the other side is known and > 1. */
anvil_status anvil__broadcast(const anvil__node *n, const anvil__tensor *const *ts, int32_t count,
                              int32_t *out_rank, int64_t *out_dims);
/* For output linear index `i` of shape (rank, dims), the linear index into an input of shape
 * (in_rank, in_dims) broadcast to it. Helper for simple reference loops. */
size_t anvil__broadcast_index(size_t i, int32_t rank, const int64_t *dims, int32_t in_rank,
                              const int64_t *in_dims);

/* Reads a 0-D/1-D integer input (i32/i64) into `out` (capacity `cap`), e.g. shapes and axes.
 * Returns the element count via *count. Fails when data is unknown (check t->data first). */
anvil_status anvil__read_ints(const anvil__node *n, const anvil__tensor *t, int64_t *out,
                              size_t cap, size_t *count);
/* Reads a scalar (or 1-element) input of any numeric dtype as double. */
anvil_status anvil__read_scalar(const anvil__node *n, const anvil__tensor *t, double *out);

/* Sets an output's dtype and shape (and checks limits); no data is allocated here. */
anvil_status anvil__set_output(anvil__op_ctx *ctx, int32_t i, anvil_dtype dtype, int32_t rank,
                               const int64_t *dims);
/* Copies dtype and shape of input j to output i. */
anvil_status anvil__same_as_input(anvil__op_ctx *ctx, int32_t i, int32_t j);

/* UNSUPPORTED naming the node when an input has a narrow dtype (float8, float4, int4, int2):
 * only Cast and data-movement ops handle those; arithmetic and comparisons must refuse them. */
anvil_status anvil__reject_narrow(const anvil__op_ctx *ctx);

/* Row-major strides of a shape, in elements. */
void anvil__strides(int32_t rank, const int64_t *dims, int64_t *strides);

#endif /* ANVIL_OP_H */
