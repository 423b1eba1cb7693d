/*
 * binary_int.c — binary kernels that are not float arithmetic: exact integer arithmetic
 * (wrapping modulo 2^64 in uint64_t, so no signed-overflow UB; division by zero is an error,
 * never SIGFPE), comparisons of any dtype, and bool logic. Dispatch lives in binary.c.
 */
#include "ops/elementwise.h"

#include <math.h>

/* base^e modulo 2^64 by squaring (the same bits for signed and unsigned bases). */
static uint64_t ipow(uint64_t base, uint64_t e) {
    uint64_t r = 1;
    while (e) {
        if (e & 1) r *= base;
        base *= base;
        e >>= 1;
    }
    return r;
}

typedef struct int_ctx {
    const anvil__node *node;
    int32_t op;
    bool fmod, is_signed;
    anvil_dtype dt;
} int_ctx;

static anvil_status div_zero(const int_ctx *c, const char *what) {
    return anvil__node_error(c->node, ANVIL_STATUS_OUT_OF_RANGE, "integer %s by zero (%s)",
                             what, anvil_dtype_name(c->dt));
}

/* Integer Pow with an integer exponent of dtype edt (value ev as loaded by load_i64). */
static anvil_status int_pow(const int_ctx *c, int64_t x, int64_t ev, anvil_dtype edt,
                            int64_t *r) {
    if (!anvil__dtype_is_signed(edt) || ev >= 0) {
        *r = (int64_t)ipow((uint64_t)x, (uint64_t)ev);
        return ANVIL_OK;
    }
    /* Negative exponent: the truncated value of 1 / x^|e|. */
    if (x == 0)
        return anvil__node_error(c->node, ANVIL_STATUS_OUT_OF_RANGE,
                                 "integer zero raised to a negative power (%lld)",
                                 (long long)ev);
    if (x == 1 || (c->is_signed && x == -1))
        *r = (x == -1 && (ev & 1)) ? -1 : 1;
    else
        *r = 0;
    return ANVIL_OK;
}

static anvil_status signed_op(const int_ctx *c, int64_t x, int64_t y, int64_t *r) {
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (c->op) {
    case ANVIL_OP_Add: *r = (int64_t)(ux + uy); return ANVIL_OK;
    case ANVIL_OP_Sub: *r = (int64_t)(ux - uy); return ANVIL_OK;
    case ANVIL_OP_Mul: *r = (int64_t)(ux * uy); return ANVIL_OK;
    case ANVIL_OP_PRelu: *r = x < 0 ? (int64_t)(ux * uy) : x; return ANVIL_OK;
    case ANVIL_OP_Div:
        if (y == 0) return div_zero(c, "division");
        if (x == INT64_MIN && y == -1)
            return anvil__node_error(c->node, ANVIL_STATUS_OUT_OF_RANGE,
                                     "integer division overflows: %lld / -1 (%s)",
                                     (long long)x, anvil_dtype_name(c->dt));
        *r = x / y; /* C truncates toward zero, as ONNX integer Div does */
        return ANVIL_OK;
    default: { /* Mod */
        if (y == 0) return div_zero(c, "modulo");
        int64_t m = (y == -1) ? 0 : x % y;
        if (!c->fmod && m != 0 && ((m < 0) != (y < 0))) m += y; /* sign of the divisor */
        *r = m;
        return ANVIL_OK;
    }
    }
}

static anvil_status unsigned_op(const int_ctx *c, uint64_t x, uint64_t y, int64_t *r) {
    switch (c->op) {
    case ANVIL_OP_Add: *r = (int64_t)(x + y); return ANVIL_OK;
    case ANVIL_OP_Sub: *r = (int64_t)(x - y); return ANVIL_OK;
    case ANVIL_OP_Mul: *r = (int64_t)(x * y); return ANVIL_OK;
    case ANVIL_OP_PRelu: *r = (int64_t)x; return ANVIL_OK; /* never negative */
    case ANVIL_OP_Div:
        if (y == 0) return div_zero(c, "division");
        *r = (int64_t)(x / y);
        return ANVIL_OK;
    default:
        if (y == 0) return div_zero(c, "modulo");
        *r = (int64_t)(x % y);
        return ANVIL_OK;
    }
}

/* One output element from elements ia of a and ib of b. */
static anvil_status int_elem(const int_ctx *c, const anvil__tensor *a, size_t ia,
                             const anvil__tensor *b, size_t ib, int64_t *r) {
    int64_t x = anvil__load_i64(a->dtype, a->data, ia);
    if (c->op == ANVIL_OP_Pow)
        return int_pow(c, x, anvil__load_i64(b->dtype, b->data, ib), b->dtype, r);
    int64_t y = anvil__load_i64(b->dtype, b->data, ib);
    if (c->is_signed) return signed_op(c, x, y, r);
    return unsigned_op(c, (uint64_t)x, (uint64_t)y, r);
}

anvil_status anvil__binary_int_run(const anvil__node *node, bool fmod, const anvil__tensor *a,
                                   const anvil__tensor *b, anvil__tensor *out) {
    int_ctx c = {node, node->op, fmod, anvil__dtype_is_signed(a->dtype), a->dtype};
    anvil__ew_iter it;
    const anvil__tensor *ins[2] = {a, b};
    anvil__ew_init(&it, out, ins, 2);
    bool float_exp = c.op == ANVIL_OP_Pow && anvil__dtype_is_float(b->dtype);
    while (anvil__ew_next(&it)) {
        if (float_exp) { /* like numpy: pow in double, then truncated to the base dtype */
            for (size_t i = 0; i < it.inner; i++) {
                int64_t x = anvil__load_i64(a->dtype, a->data, it.in_off[0] + i * it.step[0]);
                double y = anvil__load_f64(b->dtype, b->data, it.in_off[1] + i * it.step[1]);
                double base = c.is_signed ? (double)x : (double)(uint64_t)x;
                anvil__store_f64(out->dtype, out->data, it.out_off + i, pow(base, y));
            }
            continue;
        }
        for (size_t i = 0; i < it.inner; i++) {
            int64_t r = 0;
            anvil_status s =
                int_elem(&c, a, it.in_off[0] + i * it.step[0], b, it.in_off[1] + i * it.step[1],
                         &r);
            if (s) return s;
            anvil__store_i64(out->dtype, out->data, it.out_off + i, r);
        }
    }
    return ANVIL_OK;
}

/* ---- comparisons ---- */

/* -1, 0, 1 for x <, ==, > y; 2 when unordered (a NaN): every comparison is then false. */
static int compare_elem(anvil_dtype dt, const void *pa, size_t ia, const void *pb, size_t ib) {
    if (anvil__dtype_is_float(dt)) {
        double x = anvil__load_f64(dt, pa, ia), y = anvil__load_f64(dt, pb, ib);
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    int64_t x = anvil__load_i64(dt, pa, ia), y = anvil__load_i64(dt, pb, ib);
    if (anvil__dtype_is_signed(dt) || dt == ANVIL_DTYPE_BOOL) return (x > y) - (x < y);
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    return (ux > uy) - (ux < uy);
}

static bool compare_result(int32_t op, int c) {
    if (c == 2) return false;
    switch (op) {
    case ANVIL_OP_Equal: return c == 0;
    case ANVIL_OP_Greater: return c > 0;
    case ANVIL_OP_GreaterOrEqual: return c >= 0;
    case ANVIL_OP_Less: return c < 0;
    default: return c <= 0; /* LessOrEqual */
    }
}

void anvil__binary_compare_run(int32_t op, const anvil__tensor *a, const anvil__tensor *b,
                               anvil__tensor *out) {
    anvil__ew_iter it;
    const anvil__tensor *ins[2] = {a, b};
    anvil__ew_init(&it, out, ins, 2);
    uint8_t *po = out->data;
    while (anvil__ew_next(&it)) {
        for (size_t i = 0; i < it.inner; i++) {
            int c = compare_elem(a->dtype, a->data, it.in_off[0] + i * it.step[0], b->data,
                                 it.in_off[1] + i * it.step[1]);
            po[it.out_off + i] = compare_result(op, c);
        }
    }
}

void anvil__binary_logic_run(int32_t op, const anvil__tensor *a, const anvil__tensor *b,
                             anvil__tensor *out) {
    anvil__ew_iter it;
    const anvil__tensor *ins[2] = {a, b};
    anvil__ew_init(&it, out, ins, 2);
    const uint8_t *pa = a->data, *pb = b->data;
    uint8_t *po = out->data;
    while (anvil__ew_next(&it)) {
        for (size_t i = 0; i < it.inner; i++) {
            bool x = pa[it.in_off[0] + i * it.step[0]] != 0;
            bool y = pb[it.in_off[1] + i * it.step[1]] != 0;
            po[it.out_off + i] = op == ANVIL_OP_And ? (x && y) : op == ANVIL_OP_Or ? (x || y)
                                                                                    : (x != y);
        }
    }
}
