/*
 * binary.c — elementwise ops of two inputs with numpy broadcasting (and the pre-opset-7
 * `broadcast`/`axis` form): validation, dtype/shape inference, and the float arithmetic
 * kernels. Integer arithmetic, comparisons and logic ops are in binary_int.c.
 */
#include "ops/elementwise.h"

#include <math.h>
#include <string.h>

typedef enum op_kind { KIND_ARITH, KIND_COMPARE, KIND_LOGIC } op_kind;

static op_kind kind_of(int32_t op) {
    switch (op) {
    case ANVIL_OP_And:
    case ANVIL_OP_Or:
    case ANVIL_OP_Xor: return KIND_LOGIC;
    case ANVIL_OP_Equal:
    case ANVIL_OP_Greater:
    case ANVIL_OP_GreaterOrEqual:
    case ANVIL_OP_Less:
    case ANVIL_OP_LessOrEqual: return KIND_COMPARE;
    default: return KIND_ARITH;
    }
}

/* Ops that had the `broadcast`/`axis` attributes before opset 7. */
static bool has_legacy_broadcast(int32_t op, int64_t opset) {
    return opset < 7 && op != ANVIL_OP_PRelu && op != ANVIL_OP_Mod &&
           op != ANVIL_OP_GreaterOrEqual && op != ANVIL_OP_LessOrEqual;
}

anvil_status anvil__op_binary_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = ANVIL_OK;
    if (node->op == ANVIL_OP_Mod) {
        s = anvil__attr_expect(node, "fmod", ANVIL_ATTR_INT);
        int64_t f = anvil__attr_int(node, "fmod", 0);
        if (!s && f != 0 && f != 1)
            s = anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                  "attribute 'fmod' must be 0 or 1, got %lld", (long long)f);
    }
    if (!s && has_legacy_broadcast(node->op, opset)) {
        s = anvil__attr_expect(node, "broadcast", ANVIL_ATTR_INT);
        if (!s) s = anvil__attr_expect(node, "axis", ANVIL_ATTR_INT);
    }
    return s;
}

/* Before opset 7, broadcasting was opt-in: with broadcast=1, B's shape matches A's dims
 * starting at `axis` (default: B is a suffix of A). We express that as numpy broadcasting by
 * padding B's shape with trailing 1s. Writes the adjusted view of b into *view. */
static anvil_status legacy_view(const anvil__op_ctx *ctx, const anvil__tensor *a,
                                const anvil__tensor *b, anvil__tensor *view) {
    *view = *b;
    if (!has_legacy_broadcast(ctx->node->op, ctx->opset) || a->rank < 0 || b->rank < 0)
        return ANVIL_OK;
    char sa[ANVIL_SHAPE_STR_MAX], sb[ANVIL_SHAPE_STR_MAX];
    if (!anvil__attr_int(ctx->node, "broadcast", 0)) {
        bool same = a->rank == b->rank;
        for (int32_t d = 0; same && d < a->rank; d++)
            same = a->dims[d] < 0 || b->dims[d] < 0 || a->dims[d] == b->dims[d];
        if (same) return ANVIL_OK;
        return anvil__node_error(
            ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
            "shapes %s and %s differ and attribute 'broadcast' is not set (opset %lld)",
            anvil__shape_str(a->rank, a->dims, sa, sizeof sa),
            anvil__shape_str(b->rank, b->dims, sb, sizeof sb), (long long)ctx->opset);
    }
    int64_t axis = anvil__attr_int(ctx->node, "axis", a->rank - b->rank);
    if (axis < 0) axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "cannot broadcast %s to %s at axis %lld",
                                 anvil__shape_str(b->rank, b->dims, sb, sizeof sb),
                                 anvil__shape_str(a->rank, a->dims, sa, sizeof sa),
                                 (long long)axis);
    view->rank = (int32_t)(a->rank - axis);
    for (int32_t d = b->rank; d < view->rank; d++) view->dims[d] = 1;
    return ANVIL_OK;
}

static anvil_status check_dtypes(const anvil__node *n, anvil_dtype a, anvil_dtype b) {
    anvil_status s;
    switch (n->op) {
    case ANVIL_OP_And:
    case ANVIL_OP_Or:
    case ANVIL_OP_Xor:
        s = anvil__ew_accept(n, a, ANVIL_EW_BOOL, "input A");
        return s ? s : anvil__ew_accept(n, b, ANVIL_EW_BOOL, "input B");
    case ANVIL_OP_Pow: /* base and exponent may differ; the output has the base's dtype */
        s = anvil__ew_accept(n, a, ANVIL_EW_NUMERIC, "base");
        return s ? s : anvil__ew_accept(n, b, ANVIL_EW_NUMERIC, "exponent");
    case ANVIL_OP_Equal:
        return anvil__ew_same_dtype(n, a, b, "inputs");
    default:
        s = anvil__ew_same_dtype(n, a, b, "inputs");
        return s ? s : anvil__ew_accept(n, a, ANVIL_EW_NUMERIC, "inputs");
    }
}

/* PRelu broadcasts slope to X only (unidirectional): the output has X's shape. */
static anvil_status prelu_shape(const anvil__op_ctx *ctx, const anvil__tensor *const *ab,
                                int32_t *rank, int64_t *dims) {
    anvil_status s = anvil__broadcast(ctx->node, ab, 2, rank, dims);
    if (s || ab[0]->rank < 0) return s;
    bool ok = *rank == ab[0]->rank;
    for (int32_t d = 0; ok && d < *rank; d++)
        ok = ab[0]->dims[d] < 0 || dims[d] < 0 || dims[d] == ab[0]->dims[d];
    if (!ok) {
        char sx[ANVIL_SHAPE_STR_MAX], ss[ANVIL_SHAPE_STR_MAX];
        return anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "slope of shape %s does not broadcast to X of shape %s",
                                 anvil__shape_str(ab[1]->rank, ab[1]->dims, ss, sizeof ss),
                                 anvil__shape_str(ab[0]->rank, ab[0]->dims, sx, sizeof sx));
    }
    *rank = ab[0]->rank;
    memcpy(dims, ab[0]->dims, sizeof(int64_t) * (size_t)*rank);
    return ANVIL_OK;
}

anvil_status anvil__op_binary_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0];
    anvil__tensor bv;
    anvil_status s = anvil__reject_narrow(ctx);
    if (!s) s = check_dtypes(ctx->node, a->dtype, ctx->inputs[1]->dtype);
    if (!s) s = legacy_view(ctx, a, ctx->inputs[1], &bv);
    if (s) return s;
    const anvil__tensor *ab[2] = {a, &bv};
    int32_t rank = 0;
    int64_t dims[ANVIL_MAX_RANK];
    if (ctx->node->op == ANVIL_OP_PRelu)
        s = prelu_shape(ctx, ab, &rank, dims);
    else
        s = anvil__broadcast(ctx->node, ab, 2, &rank, dims);
    if (s) return s;
    anvil_dtype dt = kind_of(ctx->node->op) == KIND_ARITH ? a->dtype : ANVIL_DTYPE_BOOL;
    return anvil__set_output(ctx, 0, dt, rank, dims);
}

/* ---- float arithmetic ---- */

/* Python's % for floats: the result takes the divisor's sign. */
static inline double py_mod(double x, double y) {
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

static inline double float_op(int32_t op, bool use_fmod, double x, double y) {
    switch (op) {
    case ANVIL_OP_Add: return x + y;
    case ANVIL_OP_Sub: return x - y;
    case ANVIL_OP_Mul: return x * y;
    case ANVIL_OP_Div: return x / y;
    case ANVIL_OP_Pow: return pow(x, y);
    case ANVIL_OP_Mod: return use_fmod ? fmod(x, y) : py_mod(x, y);
    default: return x < 0 ? x * y : x; /* PRelu */
    }
}

/* One f32 row with the four stride patterns spelled out so each loop vectorizes. */
#define F32_ROW(EXPR)                                                                   \
    do {                                                                                \
        if (sa && sb) {                                                                 \
            for (size_t i = 0; i < n; i++) {                                            \
                float x = pa[i], y = pb[i];                                             \
                po[i] = (EXPR);                                                         \
            }                                                                           \
        } else if (sa) {                                                                \
            float y = pb[0];                                                            \
            for (size_t i = 0; i < n; i++) {                                            \
                float x = pa[i];                                                        \
                po[i] = (EXPR);                                                         \
            }                                                                           \
        } else if (sb) {                                                                \
            float x = pa[0];                                                            \
            for (size_t i = 0; i < n; i++) {                                            \
                float y = pb[i];                                                        \
                po[i] = (EXPR);                                                         \
            }                                                                           \
        } else {                                                                        \
            float x = pa[0], y = pb[0], r = (EXPR);                                     \
            for (size_t i = 0; i < n; i++) po[i] = r;                                   \
        }                                                                               \
    } while (0)

static void f32_row(int32_t op, bool use_fmod, float *po, const float *pa, size_t sa,
                    const float *pb, size_t sb, size_t n) {
    switch (op) {
    case ANVIL_OP_Add: F32_ROW(x + y); break;
    case ANVIL_OP_Sub: F32_ROW(x - y); break;
    case ANVIL_OP_Mul: F32_ROW(x * y); break;
    case ANVIL_OP_Div: F32_ROW(x / y); break;
    case ANVIL_OP_PRelu: F32_ROW(x < 0 ? x * y : x); break;
    case ANVIL_OP_Pow:
        if (!sb && pb[0] == 2.0f) { /* x^2 (decomposed norms): exactly x * x, vectorized */
            F32_ROW(((void)y, x * x));
            break;
        }
        F32_ROW((float)pow(x, y));
        break;
    default: F32_ROW((float)float_op(op, use_fmod, x, y)); break;
    }
}

static void float_run(int32_t op, bool use_fmod, const anvil__tensor *a, const anvil__tensor *b,
                      anvil__tensor *out) {
    anvil__ew_iter it;
    const anvil__tensor *ins[2] = {a, b};
    anvil__ew_init(&it, out, ins, 2);
    bool f32 = a->dtype == ANVIL_DTYPE_F32 && b->dtype == ANVIL_DTYPE_F32;
    while (anvil__ew_next(&it)) {
        size_t n = it.inner, ao = it.in_off[0], bo = it.in_off[1], sa = it.step[0],
               sb = it.step[1];
        if (f32) {
            f32_row(op, use_fmod, (float *)out->data + it.out_off, (const float *)a->data + ao,
                    sa, (const float *)b->data + bo, sb, n);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            double x = anvil__load_f64(a->dtype, a->data, ao + i * sa);
            double y = anvil__load_f64(b->dtype, b->data, bo + i * sb);
            anvil__store_f64(out->dtype, out->data, it.out_off + i,
                             float_op(op, use_fmod, x, y));
        }
    }
}

anvil_status anvil__op_binary_run(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0];
    anvil__tensor bv, *out = ctx->outputs[0];
    anvil_status s = legacy_view(ctx, a, ctx->inputs[1], &bv);
    if (s) return s;
    int32_t op = ctx->node->op;
    switch (kind_of(op)) {
    case KIND_LOGIC: anvil__binary_logic_run(op, a, &bv, out); return ANVIL_OK;
    case KIND_COMPARE: anvil__binary_compare_run(op, a, &bv, out); return ANVIL_OK;
    default: break;
    }
    bool use_fmod = anvil__attr_int(ctx->node, "fmod", 0) != 0;
    if (anvil__dtype_is_float(a->dtype)) {
        float_run(op, use_fmod, a, &bv, out);
        return ANVIL_OK;
    }
    if (anvil__dtype_is_int(a->dtype)) return anvil__binary_int_run(ctx->node, use_fmod, a, &bv, out);
    return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED, "no kernel for dtype %s",
                             anvil_dtype_name(a->dtype));
}
