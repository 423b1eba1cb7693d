/*
 * nn_common.h — pieces shared by the nn op families (conv.c, conv_transpose.c, pool.c,
 * matmul.c): the sliding-window geometry of Conv/ConvTranspose/pools (kernel, strides,
 * dilations, pads, auto_pad; nn_window.c), the input checks Conv and ConvTranspose share
 * (nn_window.c) and the blocked f32 GEMM (matmul.c). Internal to src/ops.
 */
#ifndef ANVIL_NN_COMMON_H
#define ANVIL_NN_COMMON_H

#include "ops/op.h"

#define ANVIL_NN_MAX_SPATIAL (ANVIL_MAX_RANK - 2)
/* Bounds on window attributes and spatial dims, so that every size computed from them fits in
 * int64 without overflow checks at each step (the checks live at the edges instead). */
#define ANVIL_NN_MAX_ATTR ((int64_t)1 << 31)
#define ANVIL_NN_MAX_DIM ((int64_t)1 << 40)

typedef enum anvil__auto_pad {
    ANVIL_AUTO_PAD_NOTSET = 0,
    ANVIL_AUTO_PAD_SAME_UPPER = 1,
    ANVIL_AUTO_PAD_SAME_LOWER = 2,
    ANVIL_AUTO_PAD_VALID = 3,
} anvil__auto_pad;

/* Window geometry for `n` spatial dims. kernel entries may be -1 (unknown) during static
 * inference when kernel_shape is absent and the weight shape is not known. */
typedef struct anvil__window {
    int32_t n;
    anvil__auto_pad auto_pad;
    int64_t kernel[ANVIL_NN_MAX_SPATIAL];
    int64_t stride[ANVIL_NN_MAX_SPATIAL];
    int64_t dilation[ANVIL_NN_MAX_SPATIAL];
    int64_t pad_begin[ANVIL_NN_MAX_SPATIAL];
    int64_t pad_end[ANVIL_NN_MAX_SPATIAL];
} anvil__window;

/* validate(): kinds and ranges of auto_pad, kernel_shape, strides, dilations, pads (and that
 * their lengths agree with each other). `kernel_required` for pools. */
anvil_status anvil__window_validate(const anvil__node *node, bool kernel_required);
/* Reads the attributes for `n` spatial dims. `kernel` (n entries, may hold -1) is used when
 * kernel_shape is absent; when both are known they must agree (SHAPE_MISMATCH). */
anvil_status anvil__window_read(const anvil__node *node, int32_t n, const int64_t *kernel,
                                anvil__window *w);
/* Output spatial dims of Conv/pools for input spatial dims `in` (-1 → -1). Resolves auto_pad
 * into pad_begin/pad_end. ceil_mode keeps the last window only if it starts inside the input
 * or its left padding. SHAPE_MISMATCH when the window is larger than the padded input. */
anvil_status anvil__window_output(const anvil__node *node, anvil__window *w, const int64_t *in,
                                  bool ceil_mode, int64_t *out);
/* Parses auto_pad ("NOTSET" when absent); INVALID_GRAPH for an unknown value. */
anvil_status anvil__window_auto_pad(const anvil__node *node, anvil__auto_pad *out);
/* Floor division for possibly negative numerators (ONNX reference uses Python's //). */
static inline int64_t anvil__floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* For positions (first + j) * stride + off, j in [0, run): the sub-range [*lo, *hi) that lands
 * inside [0, limit). Lets im2col/col2im copy runs without a bounds test per element. */
static inline void anvil__nn_run_range(int64_t first, int64_t stride, int64_t off, int64_t limit,
                                       size_t run, size_t *lo, size_t *hi) {
    int64_t jl = -anvil__floor_div(off, stride) - first;                /* ceil(-off/stride) */
    int64_t jh = anvil__floor_div(limit - off - 1, stride) - first + 1; /* exclusive */
    int64_t r = (int64_t)run;
    jl = jl < 0 ? 0 : jl > r ? r : jl;
    jh = jh < jl ? jl : jh > r ? r : jh;
    *lo = (size_t)jl;
    *hi = (size_t)jh;
}

/* C[m x n] += alpha * A[m x k] * B[k x n]; row-major with leading dimensions (elements).
 * C must not overlap A or B. Blocked for cache; accumulates in f32. */
void anvil__gemm_f32(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                     const float *b, size_t ldb, float *c, size_t ldc);

/* Advances a row-major multi-index over `dims`; false after the last one. */
static inline bool anvil__nn_next(int32_t rank, const int64_t *dims, int64_t *idx) {
    for (int32_t d = rank - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return true;
        idx[d] = 0;
    }
    return false;
}

/* Infer helpers: dtype checks for float-only nn ops (f32 at run time, any float statically;
 * UNDEFINED passes). */
anvil_status anvil__nn_expect_float(const anvil__node *node, anvil_dtype dtype, const char *what);

/* ---- Conv and ConvTranspose (nn_window.c) ---- */

/* Everything their kernels need, derived from the inputs' shapes and the attributes. For
 * ConvTranspose, pad_begin/pad_end may be negative (output_shape larger than natural). */
typedef struct anvil__conv_geom {
    int32_t rank; /* output rank; -1 unknown */
    int64_t out_dims[ANVIL_MAX_RANK];
    anvil__window w;
    int64_t n, c, m, group;
    int64_t in[ANVIL_NN_MAX_SPATIAL], out[ANVIL_NN_MAX_SPATIAL];
} anvil__conv_geom;

/* The optional bias input B; NULL when absent. */
static inline const anvil__tensor *anvil__nn_conv_bias(const anvil__op_ctx *ctx) {
    return ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
}
/* validate(): the window attributes, and `group` an INT in [1, ANVIL_NN_MAX_ATTR]. */
anvil_status anvil__nn_conv_validate(const anvil__node *node);
/* X and W must have the same rank; *rank gets it (-1 when neither is known). */
anvil_status anvil__nn_conv_rank(const anvil__node *node, const anvil__tensor *x,
                                 const anvil__tensor *w, int32_t *rank);
/* For a known rank: checks it is 3 to ANVIL_MAX_RANK (N, C, spatial...) and copies the
 * spatial dims of W into kernel and of X into in (-1 where unknown). */
anvil_status anvil__nn_conv_spatial(const anvil__node *node, const anvil__tensor *x,
                                    const anvil__tensor *w, int32_t rank, int64_t *kernel,
                                    int64_t *in);
/* Last step of the geometry, once n, m and out are set: checks that B (may be NULL) is [m]
 * and fills out_dims. */
anvil_status anvil__nn_conv_finish(const anvil__node *node, const anvil__tensor *b,
                                   anvil__conv_geom *g);
/* infer(): X, W and B (when given) must be float (anvil__nn_expect_float). */
anvil_status anvil__nn_conv_expect_float(const anvil__op_ctx *ctx);
/* run(): X, W and B (when given) must be f32; UNSUPPORTED otherwise. */
anvil_status anvil__nn_conv_expect_f32(const anvil__op_ctx *ctx);
/* run(): sets each of the `rows` rows of y (row i is channel i % m; `size` elements each) to
 * its channel's bias. */
void anvil__nn_fill_bias(float *y, const float *bias, size_t rows, size_t m, size_t size);

#endif /* ANVIL_NN_COMMON_H */
