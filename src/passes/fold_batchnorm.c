/*
 * fold_batchnorm.c — folds an inference BatchNormalization into the Conv, ConvTranspose, Gemm
 * or MatMul-with-a-weight-slot that alone feeds it. With f = scale / sqrt(var + eps) per
 * output channel: W' = W * f (along the weight's output-channel axis) and
 * b' = (b - mean) * f + B (b = 0 when the producer has no bias). Both are recorded as weight
 * graph recipes of standard ONNX ops (Add, Sqrt, Div, Mul, Sub, Reshape), so a refit with new
 * BN statistics replays them. BNs with any other producer stay as they are.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <stdio.h>
#include <string.h>

/* Builds recipe nodes over run-graph slots; the first failure sticks in `s`. */
typedef struct recipe {
    anvil__compile_state *st;
    const char *base; /* name hint prefix */
    anvil_status s;
} recipe;

static int32_t r_node(recipe *r, const char *op, const int32_t *slots, int32_t n,
                      const char *what) {
    if (r->s != ANVIL_OK) return -1;
    int32_t win[2];
    for (int32_t i = 0; i < n; i++) {
        win[i] = anvil__compile_slot_value(r->st, slots[i]);
        if (win[i] < 0) {
            r->s = anvil__error(ANVIL_STATUS_INTERNAL, "recipe input %d is not a slot", (int)i);
            return -1;
        }
    }
    size_t len = strlen(r->base) + strlen(what) + 2;
    char *hint = anvil__malloc(len);
    if (!hint) {
        r->s = ANVIL_STATUS_OUT_OF_MEMORY;
        return -1;
    }
    snprintf(hint, len, "%s/%s", r->base, what);
    int32_t out = -1;
    r->s = anvil__compile_add_weight_node(r->st, op, win, n, hint, &out);
    anvil__free(hint);
    return out;
}

static int32_t r_bin(recipe *r, const char *op, int32_t a, int32_t b, const char *what) {
    int32_t ins[2] = {a, b};
    return r_node(r, op, ins, 2, what);
}

static int32_t r_const(recipe *r, anvil__tensor *t, const char *what) {
    if (r->s != ANVIL_OK) return -1;
    size_t len = strlen(r->base) + strlen(what) + 2;
    char *hint = anvil__malloc(len);
    if (!hint) {
        r->s = ANVIL_STATUS_OUT_OF_MEMORY;
        return -1;
    }
    snprintf(hint, len, "%s/%s", r->base, what);
    int32_t out = -1;
    r->s = anvil__compile_add_weight_const(r->st, t, hint, &out);
    anvil__free(hint);
    return out;
}

/* Reshape(x, dims) with a constant target. */
static int32_t r_reshape(recipe *r, int32_t x, int32_t rank, const int64_t *dims,
                         const char *what) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    int64_t n = rank;
    if (r->s == ANVIL_OK) r->s = anvil__tensor_shape(&t, ANVIL_DTYPE_I64, 1, &n);
    t.data = (void *)dims;
    int32_t shape = r_const(r, &t, what);
    return r_bin(r, "Reshape", x, shape, what);
}

/* Where the BN's channels lie in the producer's weight. */
typedef enum w_axis { W_AXIS0, W_AXIS_CONVT, W_AXIS_LAST } w_axis;

typedef struct bn_fold {
    int32_t bn, prod;                  /* node ids */
    int32_t x, scale, bias, mean, var; /* BN inputs (run values) */
    int32_t w, b;                      /* producer weight and bias (-1: none) */
    int64_t channels, group;
    w_axis axis;
    double eps;
} bn_fold;

static const anvil__value *val(const anvil__compile_state *st, int32_t v) {
    return &st->run->values[v];
}

/* A rank-1 float slot of `n` elements and dtype `dtype`. */
static bool param_ok(const anvil__compile_state *st, int32_t v, int64_t n, anvil_dtype dtype) {
    const anvil__tensor *t = anvil__compile_slot_data(st, v);
    return t && t->rank == 1 && t->dims[0] == n && t->dtype == dtype;
}

/* Checks the producer side and fills f->w, f->b, f->axis, f->group. */
static bool producer_ok(const anvil__compile_state *st, bn_fold *f) {
    const anvil__node *p = &st->run->nodes[f->prod];
    const anvil__tensor *w = p->n_inputs > 1 ? anvil__compile_slot_data(st, p->inputs[1]) : NULL;
    if (!w || !anvil__dtype_is_float(w->dtype) || w->rank < 2) return false;
    f->w = p->inputs[1];
    f->b = p->n_inputs > 2 ? p->inputs[2] : -1;
    if (f->b >= 0 && !anvil__compile_slot_data(st, f->b)) return false;
    f->group = 1;
    int64_t c = -1;
    switch (p->op) {
    case ANVIL_OP_Conv:
        f->axis = W_AXIS0;
        c = w->dims[0];
        break;
    case ANVIL_OP_ConvTranspose:
        f->axis = W_AXIS_CONVT;
        f->group = anvil__attr_int(p, "group", 1);
        if (f->group < 1 || w->dims[0] % f->group || w->rank + 1 > ANVIL_MAX_RANK) return false;
        c = w->dims[1] * f->group;
        break;
    case ANVIL_OP_Gemm: {
        bool trans = anvil__attr_int(p, "transB", 0) != 0;
        if (w->rank != 2) return false;
        if (f->b >= 0 && anvil__attr_float(p, "beta", 1.0) != 1.0) return false;
        f->axis = trans ? W_AXIS0 : W_AXIS_LAST;
        c = trans ? w->dims[0] : w->dims[1];
        break;
    }
    case ANVIL_OP_MatMul:
        /* The BN channel axis is dim 1 of the output: the weight's columns only for 2-D. */
        if (w->rank != 2 || val(st, f->x)->rank != 2) return false;
        f->axis = W_AXIS_LAST;
        c = w->dims[1];
        break;
    default:
        return false;
    }
    if (c != f->channels) return false;
    if (f->b >= 0 && p->op != ANVIL_OP_Gemm && !param_ok(st, f->b, c, w->dtype)) return false;
    if (f->b >= 0 && anvil__compile_slot_data(st, f->b)->dtype != w->dtype) return false;
    return true;
}

static bool match(const anvil__compile_state *st, const anvil__uses *u, int32_t bi, bn_fold *f) {
    const anvil__graph *run = st->run;
    const anvil__node *bn = &run->nodes[bi];
    if (bn->n_inputs != 5 || bn->n_post || run->opset < 7) return false;
    for (int32_t i = 0; i < 5; i++)
        if (bn->inputs[i] < 0) return false;
    if (run->opset >= 14 && anvil__attr_int(bn, "training_mode", 0) != 0) return false;
    if (run->opset < 9 && anvil__attr_int(bn, "spatial", 1) == 0) return false;
    for (int32_t o = 1; o < bn->n_outputs; o++) {
        int32_t v = bn->outputs[o];
        if (v >= 0 &&
            (anvil__pass_uses_of(u, v) > 0 || (run->values[v].flags & ANVIL_VALUE_OUTPUT)))
            return false;
    }
    memset(f, 0, sizeof *f);
    f->bn = bi;
    f->x = bn->inputs[0];
    f->scale = bn->inputs[1];
    f->bias = bn->inputs[2];
    f->mean = bn->inputs[3];
    f->var = bn->inputs[4];
    f->eps = anvil__attr_float(bn, "epsilon", 1e-5);
    f->prod = anvil__pass_producer(run, f->x);
    if (f->prod < 0 || run->nodes[f->prod].n_post || anvil__pass_sole_consumer(run, u, f->x) != bi)
        return false;
    const anvil__tensor *scale = anvil__compile_slot_data(st, f->scale);
    if (!scale || scale->rank != 1) return false;
    f->channels = scale->dims[0];
    if (!producer_ok(st, f)) return false;
    anvil_dtype dt = anvil__compile_slot_data(st, f->w)->dtype;
    return param_ok(st, f->scale, f->channels, dt) && param_ok(st, f->bias, f->channels, dt) &&
           param_ok(st, f->mean, f->channels, dt) && param_ok(st, f->var, f->channels, dt);
}

/* W' = W * f along the weight's output-channel axis. */
static int32_t fold_weight(recipe *r, const bn_fold *f, int32_t factor) {
    /* Copy the shape: adding slots moves run->inits, where the slot data lives. */
    const anvil__tensor *wt = anvil__compile_slot_data(r->st, f->w);
    int64_t dims[ANVIL_MAX_RANK], w_dims[ANVIL_MAX_RANK];
    int32_t rank = wt->rank;
    memcpy(w_dims, wt->dims, sizeof w_dims);
    if (f->axis == W_AXIS_LAST) return r_bin(r, "Mul", f->w, factor, "weight");
    if (f->axis == W_AXIS0 || f->group == 1) { /* [C,1,1..] or, ConvTranspose, [1,C,1..] */
        for (int32_t d = 0; d < rank; d++)
            dims[d] = 1;
        dims[f->axis == W_AXIS0 ? 0 : 1] = f->channels;
        int32_t fr = r_reshape(r, factor, rank, dims, "factor");
        return r_bin(r, "Mul", f->w, fr, "weight");
    }
    /* Grouped ConvTranspose: W [Cin, C/g, k..] viewed as [g, Cin/g, C/g, k..], factor as
     * [g, 1, C/g, 1..]: output channel g_i * C/g + j scales W[g_i-th block, :, j]. */
    int64_t g = f->group, wd[ANVIL_MAX_RANK], fd[ANVIL_MAX_RANK];
    wd[0] = fd[0] = g;
    wd[1] = w_dims[0] / g;
    fd[1] = 1;
    wd[2] = fd[2] = w_dims[1];
    for (int32_t d = 2; d < rank; d++) {
        wd[d + 1] = w_dims[d];
        fd[d + 1] = 1;
    }
    int32_t wg = r_reshape(r, f->w, rank + 1, wd, "grouped");
    int32_t fr = r_reshape(r, factor, rank + 1, fd, "factor");
    int32_t m = r_bin(r, "Mul", wg, fr, "weight_grouped");
    return r_reshape(r, m, rank, w_dims, "weight");
}

static anvil_status apply(anvil__compile_state *st, anvil__uses *u, const bn_fold *f) {
    anvil__graph *run = st->run;
    const anvil__node *bn = &run->nodes[f->bn];
    const char *base = bn->name && bn->name[0] ? bn->name : run->values[bn->outputs[0]].name;
    char *base_copy = anvil__strdup(base);
    if (!base_copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    recipe r = {st, base_copy, ANVIL_OK};
    anvil_dtype dt = anvil__compile_slot_data(st, f->var)->dtype;
    anvil__tensor eps_t;
    memset(&eps_t, 0, sizeof eps_t);
    uint64_t eps_bytes = 0;
    r.s = anvil__tensor_shape(&eps_t, dt, 0, NULL);
    eps_t.data = &eps_bytes;
    if (r.s == ANVIL_OK) anvil__store_f64(dt, eps_t.data, 0, f->eps);
    int32_t eps = r_const(&r, &eps_t, "epsilon");
    int32_t var_eps = r_bin(&r, "Add", f->var, eps, "var_eps");
    int32_t std = r_node(&r, "Sqrt", &var_eps, 1, "std");
    int32_t factor = r_bin(&r, "Div", f->scale, std, "factor");
    int32_t w = fold_weight(&r, f, factor);
    int32_t b;
    if (f->b >= 0) {
        int32_t centered = r_bin(&r, "Sub", f->b, f->mean, "centered");
        b = r_bin(&r, "Add", r_bin(&r, "Mul", centered, factor, "scaled"), f->bias, "bias");
    } else {
        b = r_bin(&r, "Sub", f->bias, r_bin(&r, "Mul", f->mean, factor, "scaled_mean"), "bias");
    }
    anvil__free(base_copy);
    if (r.s != ANVIL_OK) return r.s;
    int32_t op = run->nodes[f->prod].op;
    anvil_status s;
    if (op == ANVIL_OP_MatMul) { /* MatMul + bias is a Gemm (A is 2-D here) */
        int32_t ins[3] = {run->nodes[f->prod].inputs[0], w, b};
        s = anvil__pass_rewrite_node(run, u, f->prod, "Gemm", ins, 3);
    } else {
        s = anvil__pass_set_input(run, u, f->prod, 1, w);
        if (s == ANVIL_OK) s = anvil__pass_set_input(run, u, f->prod, 2, b);
        if (s == ANVIL_OK && op == ANVIL_OP_Gemm)
            s = anvil__pass_set_attr_float(run, f->prod, "beta", 1.0);
    }
    if (s == ANVIL_OK) s = anvil__node_note_fused(&run->nodes[f->prod], "BatchNormalization");
    if (s != ANVIL_OK) return s;
    anvil__pass_take_output(run, f->prod, 0, run->nodes[f->bn].outputs[0]);
    return anvil__pass_kill(run, u, f->bn);
}

anvil_status anvil__pass_fold_batchnorm(anvil__compile_state *st) {
    if (anvil__pass_disabled(st, ANVIL_PASS_FOLD_BATCHNORM)) return ANVIL_OK;
    anvil__uses u = {0};
    anvil_status s = anvil__pass_uses_init(st->run, &u);
    for (int32_t ni = 0; s == ANVIL_OK && ni < st->run->n_nodes; ni++) {
        const anvil__node *n = &st->run->nodes[ni];
        bn_fold f;
        if (!(n->flags & ANVIL_NODE_DEAD) && n->op == ANVIL_OP_BatchNormalization &&
            match(st, &u, ni, &f))
            s = apply(st, &u, &f);
    }
    anvil__pass_uses_free(&u);
    return s;
}
