/*
 * elementwise.h — shared pieces of the elementwise op families (unary, activation, binary,
 * variadic, where, cast): a broadcasting row iterator and dtype checks. Internal to src/ops.
 */
#ifndef ANVIL_ELEMENTWISE_H
#define ANVIL_ELEMENTWISE_H

#include "ops/op.h"

#define ANVIL_EW_MAX_IN 3

/* Walks an output of known shape row by row together with up to three inputs broadcast to it.
 * Dims of size 1 are dropped and adjacent dims with the same broadcast pattern are merged, so
 * same-shape and scalar cases become a single long row. Per row: the output elements are
 * [out_off, out_off + inner); input k's elements are in_off[k] + j * step[k] (step 0 or 1).
 * Input shapes must broadcast to the output shape (infer guarantees it). */
typedef struct anvil__ew_iter {
    int32_t n_in;
    int32_t rank; /* merged rank, >= 1 */
    int64_t dims[ANVIL_MAX_RANK];
    int64_t strides[ANVIL_EW_MAX_IN][ANVIL_MAX_RANK];
    int64_t coord[ANVIL_MAX_RANK];
    size_t inner;  /* elements per row */
    size_t rows;   /* number of rows */
    size_t row;    /* rows handed out so far */
    size_t step[ANVIL_EW_MAX_IN];
    size_t in_off[ANVIL_EW_MAX_IN];
    size_t out_off;
} anvil__ew_iter;

void anvil__ew_init(anvil__ew_iter *it, const anvil__tensor *out, const anvil__tensor *const *in,
                    int32_t n_in);
/* Advances to the next row; false when every row was visited (at once for empty outputs). */
bool anvil__ew_next(anvil__ew_iter *it);

/* DTYPE_MISMATCH naming the node unless a and b are equal (UNDEFINED, i.e. not known yet
 * during static inference, matches anything). `what` names the operands ("inputs"). */
anvil_status anvil__ew_same_dtype(const anvil__node *n, anvil_dtype a, anvil_dtype b,
                                  const char *what);
/* DTYPE_MISMATCH naming the node when dtype is known and not accepted. The accepted set is a
 * mask of the ANVIL_EW_* classes below. */
enum {
    ANVIL_EW_FLOAT = 1 << 0,
    ANVIL_EW_SIGNED = 1 << 1,
    ANVIL_EW_UNSIGNED = 1 << 2,
    ANVIL_EW_BOOL = 1 << 3,
    ANVIL_EW_INT = ANVIL_EW_SIGNED | ANVIL_EW_UNSIGNED,
    ANVIL_EW_NUMERIC = ANVIL_EW_FLOAT | ANVIL_EW_INT,
    ANVIL_EW_ANY = ANVIL_EW_NUMERIC | ANVIL_EW_BOOL,
};
anvil_status anvil__ew_accept(const anvil__node *n, anvil_dtype dtype, unsigned classes,
                              const char *what);

/* Statement body of a float map loop over n elements of dtype dt: for each i, binds the
 * double `x` to element i of `in` and writes EXPR (a double expression in x) to element i of
 * `out`, rounded once. f32 and f64 are walked directly so that EXPR inlines; f16/bf16 go
 * through the generic element load/store. Used by the per-function loops of unary.c and
 * activation.c. */
#define ANVIL_EW_FLOAT_MAP(dt, in, out, n, EXPR)                                        \
    do {                                                                                \
        if ((dt) == ANVIL_DTYPE_F32) {                                                  \
            const float *s_ = (in);                                                     \
            float *d_ = (out);                                                          \
            for (size_t i_ = 0; i_ < (n); i_++) {                                       \
                double x = s_[i_];                                                      \
                d_[i_] = (float)(EXPR);                                                 \
            }                                                                           \
        } else if ((dt) == ANVIL_DTYPE_F64) {                                           \
            const double *s_ = (in);                                                    \
            double *d_ = (out);                                                         \
            for (size_t i_ = 0; i_ < (n); i_++) {                                       \
                double x = s_[i_];                                                      \
                d_[i_] = (EXPR);                                                        \
            }                                                                           \
        } else {                                                                        \
            for (size_t i_ = 0; i_ < (n); i_++) {                                       \
                double x = anvil__load_f64((dt), (in), i_);                             \
                anvil__store_f64((dt), (out), i_, (EXPR));                              \
            }                                                                           \
        }                                                                               \
    } while (0)

/* Broadcast output shape of the present inputs in ctx (NULL entries skipped), set as output 0
 * with `dtype`. */
anvil_status anvil__ew_broadcast_output(anvil__op_ctx *ctx, anvil_dtype dtype);

/* Kernels of binary ops on broadcast operands a and b (binary_int.c); `out` has the broadcast
 * shape. Integer arithmetic (Add Sub Mul Div Mod Pow PRelu) is exact modulo 2^64 and fails
 * with OUT_OF_RANGE naming the node on division by zero; the Pow exponent may have any
 * numeric dtype. Comparisons take any dtype pair of equal dtypes and write bool. Logic ops
 * (And Or Xor) take bool. */
anvil_status anvil__binary_int_run(const anvil__node *node, bool fmod, const anvil__tensor *a,
                                   const anvil__tensor *b, anvil__tensor *out);
void anvil__binary_compare_run(int32_t op, const anvil__tensor *a, const anvil__tensor *b,
                               anvil__tensor *out);
void anvil__binary_logic_run(int32_t op, const anvil__tensor *a, const anvil__tensor *b,
                             anvil__tensor *out);

#endif /* ANVIL_ELEMENTWISE_H */
