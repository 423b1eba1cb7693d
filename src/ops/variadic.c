/*
 * variadic.c — elementwise ops over any number of broadcast inputs (Max, Min, Mean, Sum) and
 * Where. The output starts as input 0 broadcast, then folds in one input at a time, in
 * place. Integers are exact (Sum wraps modulo 2^64); Max/Min propagate NaN like numpy.
 */
#include "ops/elementwise.h"

#include <string.h>

anvil_status anvil__op_variadic_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    for (int32_t i = 0; i < node->n_inputs; i++)
        if (node->inputs[i] < 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "input %d is empty; every input is required", (int)i);
    return ANVIL_OK;
}

anvil_status anvil__op_variadic_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    anvil_dtype dt = ctx->inputs[0]->dtype;
    unsigned ok = n->op == ANVIL_OP_Mean ? ANVIL_EW_FLOAT : ANVIL_EW_NUMERIC;
    anvil_status s = anvil__ew_accept(n, dt, ok, "inputs");
    for (int32_t i = 1; !s && i < ctx->n_inputs; i++) {
        anvil_dtype di = ctx->inputs[i]->dtype;
        if (dt == ANVIL_DTYPE_UNDEFINED) dt = di;
        s = anvil__ew_same_dtype(n, dt, di, "inputs");
    }
    if (s) return s;
    return anvil__ew_broadcast_output(ctx, dt);
}

/* Copies elements of size esize from `in` broadcast to the shape of `out`. */
static void broadcast_copy(const anvil__tensor *in, anvil__tensor *out) {
    size_t es = anvil_dtype_size(out->dtype);
    anvil__ew_iter it;
    anvil__ew_init(&it, out, &in, 1);
    const uint8_t *src = in->data;
    uint8_t *dst = out->data;
    while (anvil__ew_next(&it)) {
        if (it.step[0]) {
            memcpy(dst + it.out_off * es, src + it.in_off[0] * es, it.inner * es);
        } else {
            for (size_t i = 0; i < it.inner; i++)
                memcpy(dst + (it.out_off + i) * es, src + it.in_off[0] * es, es);
        }
    }
}

static inline double fold_f64(int32_t op, double acc, double x) {
    switch (op) {
    case ANVIL_OP_Max: return acc > x || acc != acc ? acc : x;
    case ANVIL_OP_Min: return acc < x || acc != acc ? acc : x;
    default: return acc + x; /* Sum, Mean */
    }
}

static inline int64_t fold_i64(int32_t op, bool sig, int64_t acc, int64_t x) {
    uint64_t ua = (uint64_t)acc, ux = (uint64_t)x;
    switch (op) {
    case ANVIL_OP_Max: return (sig ? acc > x : ua > ux) ? acc : x;
    case ANVIL_OP_Min: return (sig ? acc < x : ua < ux) ? acc : x;
    default: return (int64_t)(ua + ux);
    }
}

static void fold_f32(int32_t op, float *acc, const float *x, size_t step, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float a = acc[i], v = x[i * step];
        switch (op) {
        case ANVIL_OP_Max: acc[i] = a > v || a != a ? a : v; break;
        case ANVIL_OP_Min: acc[i] = a < v || a != a ? a : v; break;
        default: acc[i] = a + v; break;
        }
    }
}

/* out = op(out, in) elementwise, in broadcast to out's shape. */
static void fold_input(int32_t op, anvil__tensor *out, const anvil__tensor *in) {
    anvil__ew_iter it;
    const anvil__tensor *ins[1] = {in};
    anvil__ew_init(&it, out, ins, 1);
    anvil_dtype dt = out->dtype;
    bool sig = anvil__dtype_is_signed(dt), flt = anvil__dtype_is_float(dt);
    while (anvil__ew_next(&it)) {
        size_t o = it.out_off, x0 = it.in_off[0], st = it.step[0];
        if (dt == ANVIL_DTYPE_F32) {
            fold_f32(op, (float *)out->data + o, (const float *)in->data + x0, st, it.inner);
            continue;
        }
        for (size_t i = 0; i < it.inner; i++) {
            if (flt) {
                double acc = anvil__load_f64(dt, out->data, o + i);
                double x = anvil__load_f64(dt, in->data, x0 + i * st);
                anvil__store_f64(dt, out->data, o + i, fold_f64(op, acc, x));
            } else {
                int64_t acc = anvil__load_i64(dt, out->data, o + i);
                int64_t x = anvil__load_i64(dt, in->data, x0 + i * st);
                anvil__store_i64(dt, out->data, o + i, fold_i64(op, sig, acc, x));
            }
        }
    }
}

anvil_status anvil__op_variadic_run(anvil__op_ctx *ctx) {
    anvil__tensor *out = ctx->outputs[0];
    int32_t op = ctx->node->op;
    int64_t numel = anvil__tensor_numel(out);
    if (numel <= 0) return ANVIL_OK;
    if (!anvil__dtype_is_float(out->dtype) && !anvil__dtype_is_int(out->dtype))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED, "no kernel for dtype %s",
                                 anvil_dtype_name(out->dtype));
    broadcast_copy(ctx->inputs[0], out);
    for (int32_t i = 1; i < ctx->n_inputs; i++) fold_input(op, out, ctx->inputs[i]);
    if (op == ANVIL_OP_Mean && ctx->n_inputs > 1) {
        double k = (double)ctx->n_inputs;
        for (size_t i = 0; i < (size_t)numel; i++)
            anvil__store_f64(out->dtype, out->data, i,
                             anvil__load_f64(out->dtype, out->data, i) / k);
    }
    return ANVIL_OK;
}

/* ---- Where ---- */

anvil_status anvil__op_where_validate(const anvil__node *node, int64_t opset) {
    (void)node;
    (void)opset;
    return ANVIL_OK;
}

anvil_status anvil__op_where_infer(anvil__op_ctx *ctx) {
    const anvil__node *n = ctx->node;
    anvil_status s = anvil__ew_accept(n, ctx->inputs[0]->dtype, ANVIL_EW_BOOL, "condition");
    if (!s) s = anvil__ew_same_dtype(n, ctx->inputs[1]->dtype, ctx->inputs[2]->dtype, "X and Y");
    if (s) return s;
    anvil_dtype dt = ctx->inputs[1]->dtype;
    return anvil__ew_broadcast_output(ctx, dt ? dt : ctx->inputs[2]->dtype);
}

anvil_status anvil__op_where_run(anvil__op_ctx *ctx) {
    anvil__tensor *out = ctx->outputs[0];
    const anvil__tensor *const *ins = (const anvil__tensor *const *)ctx->inputs;
    size_t es = anvil_dtype_size(out->dtype);
    anvil__ew_iter it;
    anvil__ew_init(&it, out, ins, 3);
    const uint8_t *c = ins[0]->data, *x = ins[1]->data, *y = ins[2]->data;
    uint8_t *dst = out->data;
    while (anvil__ew_next(&it)) {
        const uint8_t *pc = c + it.in_off[0];
        const uint8_t *px = x + it.in_off[1] * es, *py = y + it.in_off[2] * es;
        size_t sc = it.step[0], sx = it.step[1] * es, sy = it.step[2] * es;
        uint8_t *po = dst + it.out_off * es;
        if (es == 4) { /* the common f32/i32 case, without a memcpy call per element */
            for (size_t i = 0; i < it.inner; i++) {
                uint32_t v, w;
                memcpy(&v, px + i * sx, 4);
                memcpy(&w, py + i * sy, 4);
                v = pc[i * sc] ? v : w;
                memcpy(po + i * 4, &v, 4);
            }
            continue;
        }
        for (size_t i = 0; i < it.inner; i++)
            memcpy(po + i * es, pc[i * sc] ? px + i * sx : py + i * sy, es);
    }
    return ANVIL_OK;
}
