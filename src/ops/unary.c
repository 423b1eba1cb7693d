/*
 * unary.c — elementwise ops of one input without attributes: math functions (float dtypes
 * only), Abs/Neg/Sign (floats and exact integers), Not (bool) and Identity (any dtype).
 * Floats are computed in double and rounded once to the output dtype.
 */
#include "ops/elementwise.h"

#include <math.h>
#include <string.h>

typedef void (*float_loop_fn)(anvil_dtype dt, const void *in, void *out, size_t n);

/* One typed loop per function so the math inlines (ANVIL_EW_FLOAT_MAP). */
#define DEFINE_UNARY(NAME, EXPR)                                                        \
    static void NAME##_loop(anvil_dtype dt, const void *in, void *out, size_t n) {     \
        ANVIL_EW_FLOAT_MAP(dt, in, out, n, EXPR);                                       \
    }

DEFINE_UNARY(abs, fabs(x))
DEFINE_UNARY(acos, acos(x))
DEFINE_UNARY(asin, asin(x))
DEFINE_UNARY(atan, atan(x))
DEFINE_UNARY(ceil, ceil(x))
DEFINE_UNARY(cos, cos(x))
DEFINE_UNARY(erf, erf(x))
DEFINE_UNARY(exp, exp(x))
DEFINE_UNARY(floor, floor(x))
DEFINE_UNARY(log, log(x))
DEFINE_UNARY(neg, -x)
DEFINE_UNARY(recip, 1.0 / x)
/* Sign keeps 0 and NaN as they are, like numpy. */
DEFINE_UNARY(sign, x > 0 ? 1.0 : x < 0 ? -1.0 : x)
DEFINE_UNARY(sin, sin(x))
DEFINE_UNARY(sqrt, sqrt(x))
DEFINE_UNARY(tanh, tanh(x))

static float_loop_fn float_loop(int32_t op) {
    switch (op) {
    case ANVIL_OP_Abs: return abs_loop;
    case ANVIL_OP_Acos: return acos_loop;
    case ANVIL_OP_Asin: return asin_loop;
    case ANVIL_OP_Atan: return atan_loop;
    case ANVIL_OP_Ceil: return ceil_loop;
    case ANVIL_OP_Cos: return cos_loop;
    case ANVIL_OP_Erf: return erf_loop;
    case ANVIL_OP_Exp: return exp_loop;
    case ANVIL_OP_Floor: return floor_loop;
    case ANVIL_OP_Log: return log_loop;
    case ANVIL_OP_Neg: return neg_loop;
    case ANVIL_OP_Reciprocal: return recip_loop;
    case ANVIL_OP_Sign: return sign_loop;
    case ANVIL_OP_Sin: return sin_loop;
    case ANVIL_OP_Sqrt: return sqrt_loop;
    case ANVIL_OP_Tanh: return tanh_loop;
    default: return NULL;
    }
}

/* Dtype classes each op accepts (ONNX type constraints; Neg has no unsigned types). */
static unsigned accepted(int32_t op) {
    switch (op) {
    case ANVIL_OP_Abs:
    case ANVIL_OP_Sign: return ANVIL_EW_NUMERIC;
    case ANVIL_OP_Neg: return ANVIL_EW_FLOAT | ANVIL_EW_SIGNED;
    case ANVIL_OP_Not: return ANVIL_EW_BOOL;
    case ANVIL_OP_Identity: return ANVIL_EW_ANY;
    default: return ANVIL_EW_FLOAT;
    }
}

anvil_status anvil__op_unary_validate(const anvil__node *node, int64_t opset) {
    (void)node;
    (void)opset;
    return ANVIL_OK; /* no attributes (opset-1 'consumed_inputs' is ignored) */
}

anvil_status anvil__op_unary_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_status s = anvil__ew_accept(ctx->node, x->dtype, accepted(ctx->node->op), "input");
    if (s) return s;
    return anvil__same_as_input(ctx, 0, 0);
}

/* Abs/Neg/Sign on integers, exact: signed in int64 arithmetic done in uint64 so that
 * -INT64_MIN wraps instead of overflowing; unsigned values are their own magnitude. */
static void int_unary(int32_t op, anvil_dtype dt, const void *in, void *out, size_t n) {
    bool is_signed = anvil__dtype_is_signed(dt);
    for (size_t i = 0; i < n; i++) {
        int64_t v = anvil__load_i64(dt, in, i);
        uint64_t u = (uint64_t)v, r;
        bool neg = is_signed && v < 0;
        switch (op) {
        case ANVIL_OP_Abs: r = neg ? 0 - u : u; break;
        case ANVIL_OP_Neg: r = 0 - u; break;
        default: r = neg ? UINT64_MAX : (u != 0); break; /* Sign: -1, 0 or 1 */
        }
        anvil__store_i64(dt, out, i, (int64_t)r);
    }
}

anvil_status anvil__op_unary_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int32_t op = ctx->node->op;
    int64_t numel = anvil__tensor_numel(y);
    if (numel <= 0) return ANVIL_OK;
    size_t n = (size_t)numel;
    if (op == ANVIL_OP_Identity) {
        memcpy(y->data, x->data, y->bytes);
        return ANVIL_OK;
    }
    if (op == ANVIL_OP_Not) {
        const uint8_t *s = x->data;
        uint8_t *d = y->data;
        for (size_t i = 0; i < n; i++) d[i] = !s[i];
        return ANVIL_OK;
    }
    if (anvil__dtype_is_int(x->dtype)) {
        int_unary(op, x->dtype, x->data, y->data, n);
        return ANVIL_OK;
    }
    float_loop_fn fn = float_loop(op);
    if (!fn || !anvil__dtype_is_float(x->dtype))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED, "no kernel for dtype %s",
                                 anvil_dtype_name(x->dtype));
    fn(x->dtype, x->data, y->data, n);
    return ANVIL_OK;
}
