/*
 * unfuse.c — the inverse of the fusion passes for checking: a copy of a run graph whose fused
 * post-ops (activations, residual Adds; see anvil__post_op) are expanded back into plain ONNX
 * nodes, so the reference interpreter can run it. Refit's `verify` and the pass tests use it.
 */
#include "passes/passes.h"
#include "ops/op.h"

#include <stdio.h>
#include <string.h>

/* `base` + `suffix`, made unique in g with a counter when taken (long names are cut, so two
 * outputs could otherwise meet). */
static void unique_name(const anvil__graph *g, const char *base, const char *suffix, char *out,
                        size_t size) {
    snprintf(out, size, "%.480s%s", base, suffix);
    for (int k = 1; anvil__graph_find(g, out) >= 0; k++)
        snprintf(out, size, "%.480s%s_%d", base, suffix, k);
}

/* Appends op_type(inputs) with one new output value named `out`; *v receives the output. */
static anvil_status add_node(anvil__graph *g, const char *op_type, const char *out,
                             const int32_t *ins, int32_t n_in, int32_t *v) {
    int32_t id;
    anvil_status s = anvil__graph_value(g, out, v);
    if (s == ANVIL_OK) s = anvil__graph_add_node(g, out, op_type, "", ins, n_in, v, 1, &id);
    if (s != ANVIL_OK) return s;
    g->nodes[id].op = anvil__op_find(op_type, "");
    return g->nodes[id].op >= 0 ? ANVIL_OK
                                : anvil__error(ANVIL_STATUS_INTERNAL, "no op '%s'", op_type);
}

static anvil_status add_scalar(anvil__graph *g, const char *name, float x, int32_t *v) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    anvil_status s = anvil__tensor_shape(&t, ANVIL_DTYPE_F32, 0, NULL);
    if (s == ANVIL_OK) s = anvil__tensor_alloc(&t);
    if (s != ANVIL_OK) return s;
    memcpy(t.data, &x, sizeof x);
    s = anvil__graph_add_value(g, name, v);
    if (s == ANVIL_OK) s = anvil__graph_add_init(g, *v, &t, true);
    if (s != ANVIL_OK) anvil__free(t.data);
    return s;
}

static anvil_status set_attr(anvil__graph *g, const char *name, anvil__attr_kind kind,
                             double f, const char *str) {
    anvil__attr *a;
    anvil_status s = anvil__node_add_attr(g, g->n_nodes - 1, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = kind;
    if (kind == ANVIL_ATTR_FLOAT) a->f = f;
    if (kind != ANVIL_ATTR_STRING) return ANVIL_OK;
    if (!(a->s = anvil__strdup(str))) return ANVIL_STATUS_OUT_OF_MEMORY;
    a->s_len = strlen(str);
    return ANVIL_OK;
}

/* One post-op applied to value `in`, producing value `out`; *v receives it. */
static anvil_status expand_step(anvil__graph *g, const anvil__post_op *p, const int32_t *extra,
                                int32_t in, const char *out, int k, int32_t *v) {
    char name[600];
    int32_t ins[3] = {in, -1, -1};
    if (p->op == ANVIL_OP_Add) {
        ins[1] = extra[p->input];
        return add_node(g, "Add", out, ins, 2, v);
    }
    if (p->op == ANVIL__POST_SILU) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "__post%d", k);
        unique_name(g, out, suffix, name, sizeof name);
        anvil_status s = add_node(g, "Sigmoid", name, ins, 1, &ins[1]);
        return s == ANVIL_OK ? add_node(g, "Mul", out, ins, 2, v) : s;
    }
    const anvil__op_def *def = anvil__op_get(p->op);
    if (!def) return anvil__error(ANVIL_STATUS_INTERNAL, "bad post-op %d", (int)p->op);
    if (p->op == ANVIL_OP_Clip) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "__min%d", k);
        unique_name(g, out, suffix, name, sizeof name);
        anvil_status s = add_scalar(g, name, p->alpha, &ins[1]);
        snprintf(suffix, sizeof suffix, "__max%d", k);
        unique_name(g, out, suffix, name, sizeof name);
        if (s == ANVIL_OK) s = add_scalar(g, name, p->beta, &ins[2]);
        return s == ANVIL_OK ? add_node(g, def->name, out, ins, 3, v) : s;
    }
    anvil_status s = add_node(g, def->name, out, ins, 1, v);
    if (s == ANVIL_OK && (p->op == ANVIL_OP_LeakyRelu || p->op == ANVIL_OP_Elu ||
                          p->op == ANVIL_OP_HardSigmoid))
        s = set_attr(g, "alpha", ANVIL_ATTR_FLOAT, p->alpha, NULL);
    if (s == ANVIL_OK && p->op == ANVIL_OP_HardSigmoid)
        s = set_attr(g, "beta", ANVIL_ATTR_FLOAT, p->beta, NULL);
    if (s == ANVIL_OK && p->op == ANVIL_OP_Gelu && p->alpha == 1)
        s = set_attr(g, "approximate", ANVIL_ATTR_STRING, 0, "tanh");
    return s;
}

/* Node ni keeps its own inputs and computes `<out>__pre`; its post-ops follow as nodes. */
static anvil_status expand_node(anvil__graph *g, int32_t ni) {
    anvil__node saved = g->nodes[ni];
    int32_t extra[64], own = saved.n_inputs;
    if (saved.n_inputs > 64 || saved.n_outputs < 1)
        return anvil__node_error(&saved, ANVIL_STATUS_INTERNAL, "cannot expand post-ops");
    for (int32_t i = 0; i < saved.n_inputs; i++) extra[i] = saved.inputs[i];
    for (int32_t p = 0; p < saved.n_post; p++) {
        if (saved.post[p].op == ANVIL_OP_Add &&
            (saved.post[p].input < 0 || saved.post[p].input >= saved.n_inputs))
            return anvil__node_error(&saved, ANVIL_STATUS_INTERNAL, "post-op input out of range");
        if (saved.post[p].op == ANVIL_OP_Add && saved.post[p].input < own) own = saved.post[p].input;
    }
    int32_t result = saved.outputs[0]; /* the node's output value, produced last below */
    char out[512], step[600];
    snprintf(out, sizeof out, "%s", g->values[result].name);
    unique_name(g, out, "__pre", step, sizeof step);
    int32_t cur;
    anvil_status s = anvil__graph_add_value(g, step, &cur);
    if (s != ANVIL_OK) return s;
    g->nodes[ni].outputs[0] = cur;
    g->values[cur].producer = ni;
    g->nodes[ni].n_inputs = own;
    g->nodes[ni].n_post = 0;
    for (int k = 0; s == ANVIL_OK && k < saved.n_post; k++) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "__step%d", k);
        unique_name(g, out, suffix, step, sizeof step);
        s = expand_step(g, &saved.post[k], extra, cur,
                        k + 1 == saved.n_post ? g->values[result].name : step, k, &cur);
    }
    return s;
}

anvil_status anvil__pass_unfuse(const anvil__graph *run, anvil__graph **out) {
    *out = NULL;
    anvil__graph *g = NULL;
    anvil_status s = anvil__pass_clone_graph(run, NULL, true, &g);
    int32_t n_nodes = s == ANVIL_OK ? g->n_nodes : 0;
    for (int32_t ni = 0; s == ANVIL_OK && ni < n_nodes; ni++)
        if (g->nodes[ni].n_post) s = expand_node(g, ni);
    if (s == ANVIL_OK) s = anvil__graph_toposort(g);
    if (s != ANVIL_OK) {
        anvil__graph_destroy(g);
        return s;
    }
    *out = g;
    return ANVIL_OK;
}
