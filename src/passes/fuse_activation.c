/*
 * fuse_activation.c — appends an activation (Relu, Clip with constant bounds, LeakyRelu,
 * Sigmoid, SiLU = x * Sigmoid(x), HardSwish, HardSigmoid, Gelu, Tanh, Elu) to the post-ops of
 * the Conv / ConvTranspose / Gemm / MatMul whose output only it reads; the producer then
 * writes the activation's output value. Parameters follow the conventions in passes.h.
 */
#include "passes/passes.h"

#include "ops/op.h"

#include <float.h>
#include <math.h>
#include <string.h>

static bool fusable_producer(const anvil__graph *g, int32_t p) {
    if (p < 0) return false;
    int32_t op = g->nodes[p].op;
    return (op == ANVIL_OP_Conv || op == ANVIL_OP_ConvTranspose || op == ANVIL_OP_Gemm ||
            op == ANVIL_OP_MatMul) &&
           g->nodes[p].n_post < ANVIL_MAX_POST_OPS && g->nodes[p].n_outputs == 1;
}

/* Clip bound from input i (absent: +-inf) or, before opset 11, the attribute. */
static bool clip_bound(const anvil__compile_state *st, const anvil__node *a, int32_t i,
                       float *out) {
    if (st->run->opset < 11) {
        *out = (float)anvil__attr_float(a, i == 1 ? "min" : "max", i == 1 ? -FLT_MAX : FLT_MAX);
        return true;
    }
    if (a->n_inputs <= i || a->inputs[i] < 0) {
        *out = i == 1 ? -INFINITY : INFINITY;
        return true;
    }
    double v;
    if (!anvil__pass_scalar(st, a->inputs[i], &v)) return false;
    *out = (float)v;
    return true;
}

/* The post-op equivalent to activation node a, false if a is not one (or not constant). */
static bool activation_post(const anvil__compile_state *st, const anvil__node *a,
                            anvil__post_op *p) {
    memset(p, 0, sizeof *p);
    p->op = a->op;
    p->input = -1;
    switch (a->op) {
    case ANVIL_OP_Relu:
    case ANVIL_OP_Sigmoid:
    case ANVIL_OP_Tanh:
    case ANVIL_OP_HardSwish:
        return true;
    case ANVIL_OP_LeakyRelu:
        p->alpha = (float)anvil__attr_float(a, "alpha", 0.01);
        return true;
    case ANVIL_OP_Elu:
        p->alpha = (float)anvil__attr_float(a, "alpha", 1.0);
        return true;
    case ANVIL_OP_HardSigmoid:
        p->alpha = (float)anvil__attr_float(a, "alpha", 0.2);
        p->beta = (float)anvil__attr_float(a, "beta", 0.5);
        return true;
    case ANVIL_OP_Gelu:
        p->alpha = strcmp(anvil__attr_string(a, "approximate", "none"), "tanh") == 0 ? 1.0f : 0;
        return true;
    case ANVIL_OP_Clip:
        return clip_bound(st, a, 1, &p->alpha) && clip_bound(st, a, 2, &p->beta);
    default:
        return false;
    }
}

static anvil_status fuse(anvil__graph *run, anvil__uses *u, int32_t prod,
                         const anvil__post_op *post, int32_t act, int32_t extra_dead,
                         const char *what) {
    anvil__node *p = &run->nodes[prod];
    anvil_status s = anvil__node_note_fused(p, what);
    if (s != ANVIL_OK) return s;
    p->post[p->n_post++] = *post;
    anvil__pass_take_output(run, prod, 0, run->nodes[act].outputs[0]);
    s = anvil__pass_kill(run, u, act);
    if (s == ANVIL_OK && extra_dead >= 0) s = anvil__pass_kill(run, u, extra_dead);
    return s;
}

/* Sigmoid node `sig` inside x * Sigmoid(x) with x a fusable producer's output. */
static anvil_status try_silu(anvil__compile_state *st, anvil__uses *u, int32_t sig, bool *changed) {
    anvil__graph *run = st->run;
    int32_t x = run->nodes[sig].inputs[0], p = anvil__pass_producer(run, x);
    if (!fusable_producer(run, p) || anvil__pass_uses_of(u, x) != 2 ||
        (run->values[x].flags & ANVIL_VALUE_OUTPUT))
        return ANVIL_OK;
    int32_t s_out = run->nodes[sig].outputs[0];
    int32_t mul = anvil__pass_consumer_op(run, u, s_out, ANVIL_OP_Mul);
    if (mul < 0 || anvil__pass_other_input(&run->nodes[mul], s_out) != x) return ANVIL_OK;
    anvil__post_op post = {ANVIL__POST_SILU, 0, 0, -1};
    *changed = true;
    return fuse(run, u, p, &post, mul, sig, "SiLU");
}

static anvil_status try_node(anvil__compile_state *st, anvil__uses *u, int32_t ni, bool *changed) {
    anvil__graph *run = st->run;
    const anvil__node *a = &run->nodes[ni];
    *changed = false;
    if (a->n_post || a->n_inputs < 1 || a->inputs[0] < 0 || a->n_outputs != 1 || a->outputs[0] < 0)
        return ANVIL_OK;
    int32_t x = a->inputs[0], p = anvil__pass_producer(run, x);
    if (!fusable_producer(run, p) || !anvil__dtype_is_float(run->values[x].dtype)) return ANVIL_OK;
    if (a->op == ANVIL_OP_Sigmoid && anvil__pass_sole_consumer(run, u, x) != ni)
        return try_silu(st, u, ni, changed);
    anvil__post_op post;
    if (anvil__pass_sole_consumer(run, u, x) != ni || !activation_post(st, a, &post))
        return ANVIL_OK;
    *changed = true;
    return fuse(run, u, p, &post, ni, -1, a->op_type);
}

anvil_status anvil__pass_fuse_activation(anvil__compile_state *st) {
    return anvil__pass_each_node(st, ANVIL_PASS_FUSE_ACTIVATION, try_node);
}
