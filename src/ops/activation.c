/*
 * activation.c — elementwise activations with attributes (Relu, Sigmoid, Gelu, Elu, Selu,
 * Celu, LeakyRelu, HardSigmoid, HardSwish, Mish, Softplus, Softsign), Clip and Dropout
 * (inference only). Floats are computed in double with one rounding to the output dtype;
 * Relu and Clip also take integers, computed exactly.
 */
#include "ops/elementwise.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef struct act_params {
    double alpha, beta, gamma;
    bool gelu_tanh;
} act_params;

typedef void (*act_loop_fn)(anvil_dtype dt, const void *in, void *out, size_t n,
                            const act_params *p);

/* log(1 + exp(x)) without overflow for large x or loss of precision for very negative x. */
static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static inline double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline double gelu(double x, bool approx_tanh) {
    if (approx_tanh) {
        const double k = 0.7978845608028654; /* sqrt(2 / pi) */
        return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
}

/* One typed loop per activation so the math inlines (ANVIL_EW_FLOAT_MAP, as in unary.c). */
#define DEFINE_ACT(NAME, EXPR)                                                          \
    static void NAME##_loop(anvil_dtype dt, const void *in, void *out, size_t n,       \
                            const act_params *p) {                                      \
        (void)p;                                                                        \
        ANVIL_EW_FLOAT_MAP(dt, in, out, n, EXPR);                                       \
    }

DEFINE_ACT(relu, x < 0 ? 0.0 : x)
DEFINE_ACT(sigmoid, sigmoid(x))
DEFINE_ACT(gelu, gelu(x, p->gelu_tanh))
DEFINE_ACT(elu, x < 0 ? p->alpha * expm1(x) : x)
DEFINE_ACT(selu, x <= 0 ? p->gamma * p->alpha * expm1(x) : p->gamma * x)
DEFINE_ACT(celu, fmax(0.0, x) + fmin(0.0, p->alpha * expm1(x / p->alpha)))
DEFINE_ACT(leaky, x < 0 ? p->alpha * x : x)
DEFINE_ACT(hsig, fmax(0.0, fmin(1.0, p->alpha * x + p->beta)))
DEFINE_ACT(hswish, x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5)))
DEFINE_ACT(mish, x * tanh(softplus(x)))
DEFINE_ACT(softplus, softplus(x))
DEFINE_ACT(softsign, x / (1.0 + fabs(x)))

static act_loop_fn act_loop(int32_t op) {
    switch (op) {
    case ANVIL_OP_Relu: return relu_loop;
    case ANVIL_OP_Sigmoid: return sigmoid_loop;
    case ANVIL_OP_Gelu: return gelu_loop;
    case ANVIL_OP_Elu: return elu_loop;
    case ANVIL_OP_Selu: return selu_loop;
    case ANVIL_OP_Celu: return celu_loop;
    case ANVIL_OP_LeakyRelu: return leaky_loop;
    case ANVIL_OP_HardSigmoid: return hsig_loop;
    case ANVIL_OP_HardSwish: return hswish_loop;
    case ANVIL_OP_Mish: return mish_loop;
    case ANVIL_OP_Softplus: return softplus_loop;
    case ANVIL_OP_Softsign: return softsign_loop;
    default: return NULL;
    }
}

/* Spec defaults per op. */
static act_params params_of(const anvil__node *n) {
    act_params p = {0.0, 0.0, 0.0, false};
    switch (n->op) {
    case ANVIL_OP_Elu:
    case ANVIL_OP_Celu: p.alpha = anvil__attr_float(n, "alpha", 1.0); break;
    case ANVIL_OP_LeakyRelu: p.alpha = anvil__attr_float(n, "alpha", 0.01); break;
    case ANVIL_OP_HardSigmoid:
        p.alpha = anvil__attr_float(n, "alpha", 0.2);
        p.beta = anvil__attr_float(n, "beta", 0.5);
        break;
    case ANVIL_OP_Selu:
        p.alpha = anvil__attr_float(n, "alpha", 1.67326319217681884765625);
        p.gamma = anvil__attr_float(n, "gamma", 1.05070102214813232421875);
        break;
    case ANVIL_OP_Gelu:
        p.gelu_tanh = strcmp(anvil__attr_string(n, "approximate", "none"), "tanh") == 0;
        break;
    default: break;
    }
    return p;
}

anvil_status anvil__op_activation_validate(const anvil__node *node, int64_t opset) {
    static const char *const float_attrs[] = {"alpha", "beta", "gamma"};
    for (size_t i = 0; i < sizeof float_attrs / sizeof *float_attrs; i++) {
        anvil_status s = anvil__attr_expect(node, float_attrs[i], ANVIL_ATTR_FLOAT);
        if (s) return s;
    }
    if (node->op == ANVIL_OP_Gelu) {
        anvil_status s = anvil__attr_expect(node, "approximate", ANVIL_ATTR_STRING);
        if (s) return s;
        const char *a = anvil__attr_string(node, "approximate", "none");
        if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "attribute 'approximate' must be \"none\" or \"tanh\", "
                                     "got \"%s\"",
                                     a);
    }
    if (node->op == ANVIL_OP_Clip) {
        if (opset < 11 && node->n_inputs > 1)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "before opset 11 Clip takes min/max as attributes, got %d "
                                     "inputs",
                                     (int)node->n_inputs);
        anvil_status s = anvil__attr_expect(node, "min", ANVIL_ATTR_FLOAT);
        if (!s) s = anvil__attr_expect(node, "max", ANVIL_ATTR_FLOAT);
        if (s) return s;
    }
    return ANVIL_OK;
}

static anvil_status clip_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    static const char *const names[] = {"input", "min", "max"};
    /* Integer Clip came with opset 12 (min/max attributes could not express it before). */
    unsigned ok = ctx->opset < 11 ? ANVIL_EW_FLOAT : ANVIL_EW_NUMERIC;
    anvil_status s = anvil__ew_accept(ctx->node, x->dtype, ok, "input");
    for (int32_t i = 1; !s && i < ctx->n_inputs; i++) {
        const anvil__tensor *b = ctx->inputs[i];
        if (!b) continue;
        s = anvil__ew_same_dtype(ctx->node, x->dtype, b->dtype, "input and min/max");
        int64_t numel = anvil__tensor_numel(b);
        if (!s && b->rank >= 0 && numel >= 0 && numel != 1)
            s = anvil__node_error(ctx->node, ANVIL_STATUS_SHAPE_MISMATCH,
                                  "'%s' must be a scalar, got %lld elements", names[i],
                                  (long long)numel);
    }
    if (s) return s;
    return anvil__same_as_input(ctx, 0, 0);
}

anvil_status anvil__op_activation_infer(anvil__op_ctx *ctx) {
    if (ctx->node->op == ANVIL_OP_Clip) return clip_infer(ctx);
    unsigned ok = ctx->node->op == ANVIL_OP_Relu ? ANVIL_EW_FLOAT | ANVIL_EW_SIGNED
                                                 : ANVIL_EW_FLOAT;
    anvil_status s = anvil__ew_accept(ctx->node, ctx->inputs[0]->dtype, ok, "input");
    if (s) return s;
    return anvil__same_as_input(ctx, 0, 0);
}

/* Clip bound i (1 = min, 2 = max) from the input or, before opset 11, the attribute. */
static const anvil__tensor *clip_bound(const anvil__op_ctx *ctx, int32_t i) {
    if (ctx->opset < 11 || i >= ctx->n_inputs) return NULL;
    return ctx->inputs[i];
}

static void clip_float(const anvil__op_ctx *ctx, const anvil__tensor *x, anvil__tensor *y,
                       size_t n) {
    const anvil__tensor *tlo = clip_bound(ctx, 1), *thi = clip_bound(ctx, 2);
    double lo = ctx->opset < 11 ? anvil__attr_float(ctx->node, "min", -DBL_MAX) : -INFINITY;
    double hi = ctx->opset < 11 ? anvil__attr_float(ctx->node, "max", DBL_MAX) : INFINITY;
    if (tlo) lo = anvil__load_f64(tlo->dtype, tlo->data, 0);
    if (thi) hi = anvil__load_f64(thi->dtype, thi->data, 0);
    /* max then min, so min > max gives max (numpy clip); NaN passes through. */
    if (x->dtype == ANVIL_DTYPE_F32) {
        const float *s = x->data;
        float *d = y->data;
        float flo = (float)lo, fhi = (float)hi;
        if (lo < -FLT_MAX) flo = -INFINITY;
        if (hi > FLT_MAX) fhi = INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = s[i] < flo ? flo : s[i];
            d[i] = v > fhi ? fhi : v;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double v = anvil__load_f64(x->dtype, x->data, i);
        v = v < lo ? lo : v;
        anvil__store_f64(y->dtype, y->data, i, v > hi ? hi : v);
    }
}

static void clip_int(const anvil__op_ctx *ctx, const anvil__tensor *x, anvil__tensor *y,
                     size_t n) {
    const anvil__tensor *tlo = clip_bound(ctx, 1), *thi = clip_bound(ctx, 2);
    bool sig = anvil__dtype_is_signed(x->dtype);
    int64_t slo = INT64_MIN, shi = INT64_MAX;
    uint64_t ulo = 0, uhi = UINT64_MAX;
    if (tlo) slo = anvil__load_i64(tlo->dtype, tlo->data, 0), ulo = (uint64_t)slo;
    if (thi) shi = anvil__load_i64(thi->dtype, thi->data, 0), uhi = (uint64_t)shi;
    for (size_t i = 0; i < n; i++) {
        int64_t v = anvil__load_i64(x->dtype, x->data, i);
        if (sig) {
            v = v < slo ? slo : v;
            v = v > shi ? shi : v;
        } else {
            uint64_t u = (uint64_t)v;
            u = u < ulo ? ulo : u;
            v = (int64_t)(u > uhi ? uhi : u);
        }
        anvil__store_i64(y->dtype, y->data, i, v);
    }
}

anvil_status anvil__op_activation_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    int64_t numel = anvil__tensor_numel(y);
    if (numel <= 0) return ANVIL_OK;
    size_t n = (size_t)numel;
    int32_t op = ctx->node->op;
    if (op == ANVIL_OP_Clip) {
        if (anvil__dtype_is_float(x->dtype))
            clip_float(ctx, x, y, n);
        else
            clip_int(ctx, x, y, n);
        return ANVIL_OK;
    }
    if (op == ANVIL_OP_Relu && anvil__dtype_is_signed(x->dtype)) {
        for (size_t i = 0; i < n; i++) {
            int64_t v = anvil__load_i64(x->dtype, x->data, i);
            anvil__store_i64(y->dtype, y->data, i, v < 0 ? 0 : v);
        }
        return ANVIL_OK;
    }
    act_loop_fn fn = act_loop(op);
    if (!fn || !anvil__dtype_is_float(x->dtype))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED, "no kernel for dtype %s",
                                 anvil_dtype_name(x->dtype));
    act_params p = params_of(ctx->node);
    fn(x->dtype, x->data, y->data, n, &p);
    return ANVIL_OK;
}

/* ---- Dropout: inference only ---- */

anvil_status anvil__op_dropout_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "seed", ANVIL_ATTR_INT);
    if (s) return s;
    if (opset < 12) {
        if (node->n_inputs > 1)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "before opset 12 Dropout takes one input, got %d",
                                     (int)node->n_inputs);
        s = anvil__attr_expect(node, "ratio", ANVIL_ATTR_FLOAT);
        if (!s) s = anvil__attr_expect(node, "is_test", ANVIL_ATTR_INT);
    }
    return s;
}

/* Training mode with a ratio > 0 draws random masks, which an inference engine does not do.
 * Before opset 12 there is no training flag: runtimes treat Dropout as identity (old models
 * leave is_test unset even for inference), and so do we. */
static anvil_status dropout_check_mode(const anvil__op_ctx *ctx) {
    if (ctx->opset < 12 || ctx->n_inputs < 3 || !ctx->inputs[2]) return ANVIL_OK;
    const anvil__tensor *t = ctx->inputs[2], *r = ctx->n_inputs > 1 ? ctx->inputs[1] : NULL;
    if (t->dtype != ANVIL_DTYPE_BOOL && t->dtype != ANVIL_DTYPE_UNDEFINED)
        return anvil__node_error(ctx->node, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "training_mode must be bool, got %s",
                                 anvil_dtype_name(t->dtype));
    if (!t->data || anvil__tensor_numel(t) != 1) return ANVIL_OK;
    if (!anvil__load_i64(t->dtype, t->data, 0)) return ANVIL_OK;
    double ratio = 0.5;
    if (r) {
        if (!r->data) return ANVIL_OK; /* decided at run time */
        anvil_status s = anvil__read_scalar(ctx->node, r, &ratio);
        if (s) return s;
    }
    if (ratio > 0)
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "training_mode is true with ratio %g: random dropout is not "
                                 "supported (inference only; set training_mode to false)",
                                 ratio);
    return ANVIL_OK;
}

anvil_status anvil__op_dropout_infer(anvil__op_ctx *ctx) {
    anvil_status s = dropout_check_mode(ctx);
    if (!s) s = anvil__same_as_input(ctx, 0, 0);
    if (s) return s;
    const anvil__tensor *x = ctx->inputs[0];
    /* The mask became bool in opset 10; before it had the data's dtype. */
    anvil_dtype mask = ctx->opset < 10 ? x->dtype : ANVIL_DTYPE_BOOL;
    return anvil__set_output(ctx, 1, mask, x->rank, x->dims);
}

anvil_status anvil__op_dropout_run(anvil__op_ctx *ctx) {
    anvil_status s = dropout_check_mode(ctx);
    if (s) return s;
    anvil__tensor *y = ctx->outputs[0], *mask = ctx->n_outputs > 1 ? ctx->outputs[1] : NULL;
    if (y->bytes) memcpy(y->data, ctx->inputs[0]->data, y->bytes);
    int64_t numel = anvil__tensor_numel(y);
    if (mask && numel > 0)
        for (size_t i = 0; i < (size_t)numel; i++) anvil__store_i64(mask->dtype, mask->data, i, 1);
    return ANVIL_OK;
}
