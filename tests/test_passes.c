/*
 * test_passes.c — the compiler passes on small graphs built by hand. Each test checks the
 * structural effect of a pass (node counts, post-ops, slots) and that the optimized graphs
 * compute what the original does: the weight graph, evaluated by the interpreter, must
 * reproduce the attached slot bytes exactly (refit exactness), and the run graph, with fused
 * post-ops expanded back into plain nodes, must give the original outputs. The real models are
 * test_passes_models.c's.
 */
#include "passes_harness.h"

/* ---- the state, folding and elimination ---- */

static void test_state_init(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[2] = {2, 3}, wd[2] = {3, 4}, bd[1] = {4};
    int32_t x = add_input(g, "x", 2, xd);
    int32_t w = add_init(g, "w", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1);
    int32_t b = add_init(g, "b", ANVIL_DTYPE_F32, 1, bd, NULL, -1, 1);
    add_init(g, "unused", ANVIL_DTYPE_F32, 1, bd, NULL, -1, 1);
    int32_t y = node(g, "MatMul", "y", 2, x, w);
    add_output(g, node(g, "Add", "z", 2, y, b));
    anvil__compile_state st;
    state_init(&st, g, NULL);
    CHECK_EQ(st.run->n_inits, 3);
    CHECK_EQ(st.weights->n_inputs, 3);
    CHECK_EQ(st.weights->n_outputs, 3);
    CHECK_EQ(st.weights->n_nodes, 0);
    for (int32_t i = 0; i < 3; i++) {
        CHECK(st.run->inits[i].t.data == g->inits[i].t.data); /* a view of the source */
        CHECK(!st.run->inits[i].owned);
        CHECK_STR_EQ(st.weights->values[st.weights->inputs[i]].name,
                     g->values[g->inits[i].value].name);
    }
    CHECK_EQ(st.run->n_inputs, 1);
    CHECK_STR_EQ(st.run->values[st.run->outputs[0]].name, "z");
    CHECK_EQ(anvil__compile_slot_value(&st, y), -1);
    CHECK(anvil__compile_slot_value(&st, w) >= 0);
    anvil__tensor *in = random_inputs(g);
    check_state(g, &st, in, 0);
    /* A recipe node computes its slot now; slots nobody reads go at compaction. */
    int32_t win[2] = {anvil__compile_slot_value(&st, w), anvil__compile_slot_value(&st, w)}, sq;
    CHECK_OK(anvil__compile_add_weight_node(&st, "Mul", win, 2, "w_sq", &sq));
    const anvil__tensor *t = anvil__compile_slot_data(&st, sq);
    CHECK(t && t->rank == 2 && t->dims[1] == 4);
    const float *wv = g->inits[0].t.data;
    if (t) CHECK_NEAR(((const float *)t->data)[5], wv[5] * wv[5], 0);
    CHECK_EQ(st.weights->n_outputs, 4);
    CHECK_OK(anvil__compile_compact(&st));
    CHECK_EQ(st.run->n_inits, 2);
    CHECK_EQ(st.weights->n_outputs, 2);
    CHECK_EQ(st.weights->n_nodes, 0);
    CHECK_EQ(st.weights->n_inputs, 3);
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    free_tensors(in, 1);
    free(in);
    anvil__graph_destroy(g);
}

/* x -> MatMul(Transpose(W)) -> Reshape to Concat(Gather(Shape(y), 0), -1). */
static anvil__graph *shape_graph(bool dynamic_batch) {
    anvil__graph *g = new_graph(14);
    int64_t xd[2] = {dynamic_batch ? -1 : 2, 3}, wd[2] = {4, 3}, zero = 0, minus1 = -1;
    int32_t x = add_input(g, "x", 2, xd);
    int32_t w = add_init(g, "W", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1);
    int32_t wt = node(g, "Transpose", "Wt", 1, w);
    attr_ints(g, "perm", 2, (int64_t[]){1, 0});
    int32_t y = node(g, "MatMul", "y", 2, x, wt);
    int32_t s = node(g, "Shape", "s", 1, y);
    int32_t i0 = node(g, "Constant", "i0", 0);
    attr_tensor_i64(g, "value", 1, &zero);
    int32_t m1 = node(g, "Constant", "m1", 0);
    attr_tensor_i64(g, "value", 1, &minus1);
    int32_t d0 = node(g, "Gather", "d0", 2, s, i0);
    int32_t target = node(g, "Concat", "target", 2, d0, m1);
    attr_i(g, "axis", 0);
    add_output(g, node(g, "Reshape", "out", 2, y, target));
    return g;
}

static void test_constant_folding(void) {
    anvil__graph *g = shape_graph(false);
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_constant_folding);
    CHECK_EQ(st.run->n_nodes, 2); /* MatMul, Reshape */
    CHECK_EQ(count_op(st.run, "MatMul"), 1);
    CHECK_EQ(count_op(st.weights, "Transpose"), 1);
    int32_t target = anvil__graph_find(st.run, "target");
    const anvil__tensor *t = anvil__compile_slot_data(&st, target);
    CHECK(t && t->rank == 1 && t->dims[0] == 2);
    if (t) CHECK_EQ(((int64_t *)t->data)[0], 2);
    if (t) CHECK_EQ(((int64_t *)t->data)[1], -1);
    CHECK_EQ(st.run->n_inits, 2); /* W^T and the target; W itself is read by no run node */
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);

    /* Dynamic batch: Shape of y depends on it and must stay; the Transpose still folds. */
    g = shape_graph(true);
    state_init(&st, g, in);
    st.dynamic = true;
    run_pass(&st, anvil__pass_constant_folding);
    CHECK_EQ(count_op(st.run, "Shape"), 1);
    CHECK_EQ(count_op(st.run, "Transpose"), 0);
    CHECK(st.run->values[anvil__graph_find(st.run, "y")].dims[0] == -1);
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
    free_tensors(in, 1);
    free(in);
}

static void test_eliminate(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[3] = {2, 3, 4}, two = 2, one = 1;
    int32_t x = add_input(g, "x", 3, xd);
    int32_t a = node(g, "Identity", "a", 1, x);
    int32_t b = node(g, "Dropout", "b", 1, a);
    int32_t c = node(g, "Cast", "c", 1, b);
    attr_i(g, "to", 1); /* FLOAT */
    int32_t d = node(g, "Flatten", "d", 1, c);
    attr_i(g, "axis", 1);
    int32_t e = node(g, "Reshape", "e", 2, d,
                     add_init(g, "shape46", ANVIL_DTYPE_I64, 1, &two, (double[]){4, 6}, 0, 0));
    int32_t f = node(g, "Unsqueeze", "f", 2, e,
                     add_init(g, "axes0", ANVIL_DTYPE_I64, 1, &one, (double[]){0}, 0, 0));
    int32_t t1 = node(g, "Transpose", "t1", 1, f);
    attr_ints(g, "perm", 3, (int64_t[]){0, 2, 1});
    int32_t t2 = node(g, "Transpose", "t2", 1, t1);
    attr_ints(g, "perm", 3, (int64_t[]){0, 2, 1});
    int64_t three = 3;
    int32_t h =
        node(g, "Expand", "h", 2, t2,
             add_init(g, "shape146", ANVIL_DTYPE_I64, 1, &three, (double[]){1, 4, 6}, 0, 0));
    int32_t r = node(g, "Relu", "r", 1, h);
    add_output(g, node(g, "Identity", "out1", 1, r)); /* Relu must take over "out1" */
    add_output(g, node(g, "Identity", "out2", 1, x)); /* input to output: must stay */
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_eliminate);
    run_pass(&st, anvil__pass_dead_code);
    CHECK_EQ(st.run->n_nodes, 3);
    CHECK_EQ(count_op(st.run, "Reshape"), 1);
    CHECK_EQ(count_op(st.run, "Identity"), 1);
    int32_t out1 = anvil__graph_find(st.run, "out1");
    CHECK(out1 >= 0 && st.run->values[out1].producer >= 0 &&
          st.run->nodes[st.run->values[out1].producer].op == ANVIL_OP_Relu);
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
    free_tensors(in, 1);
    free(in);
}

/* Transposes that only move size-1 dims are Reshapes and join neighbouring Reshapes; a real
 * Transpose stays. */
static void test_transpose_as_reshape(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[3] = {1, 4, 6}, three = 3;
    int32_t x = add_input(g, "x", 3, xd);
    int32_t t = node(g, "Transpose", "t", 1, x);
    attr_ints(g, "perm", 3, (int64_t[]){1, 0, 2});
    int32_t r = node(g, "Reshape", "r", 2, t,
                     add_init(g, "s", ANVIL_DTYPE_I64, 1, &three, (double[]){2, 2, 6}, 0, 0));
    int32_t u = node(g, "Transpose", "u", 1, r);
    attr_ints(g, "perm", 3, (int64_t[]){0, 2, 1});
    add_output(g, node(g, "Relu", "out", 1, u));
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_eliminate);
    CHECK_EQ(count_op(st.run, "Reshape"), 1);
    CHECK_EQ(count_op(st.run, "Transpose"), 1);
    CHECK_EQ(st.run->n_nodes, 3);
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
    free_tensors(in, 1);
    free(in);
}

static void test_dead_code(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[1] = {5};
    int32_t x = add_input(g, "x", 1, xd);
    int32_t w = add_init(g, "w", ANVIL_DTYPE_F32, 1, xd, NULL, -1, 1);
    int32_t y = node(g, "Relu", "y", 1, x);
    int32_t dead = node(g, "Exp", "dead", 1, node(g, "Sigmoid", "sig", 1, y));
    node(g, "Mul", "dead2", 2, dead, node(g, "Neg", "wn", 1, w));
    add_output(g, y);
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_constant_folding); /* Neg(w) becomes a recipe */
    CHECK_EQ(st.weights->n_nodes, 1);
    run_pass(&st, anvil__pass_dead_code);
    CHECK_EQ(st.run->n_nodes, 1);
    CHECK_EQ(st.run->n_inits, 0);
    CHECK_EQ(st.weights->n_outputs, 0);
    CHECK_EQ(st.weights->n_nodes, 0);
    CHECK_EQ(st.weights->n_inputs, 1);
    check_state(g, &st, in, 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
    free_tensors(in, 1);
    free(in);
}

/* ---- BatchNorm folding ---- */

static int32_t bn(anvil__graph *g, const char *name, int32_t x, int64_t c) {
    char n[4][64];
    const char *what[4] = {"scale", "bias", "mean", "var"};
    int32_t p[4];
    for (int i = 0; i < 4; i++) {
        snprintf(n[i], sizeof n[i], "%s.%s", name, what[i]);
        p[i] = add_init(g, n[i], ANVIL_DTYPE_F32, 1, &c, NULL, i == 3 ? 0.5f : -1, 2);
    }
    int32_t y = node(g, "BatchNormalization", name, 5, x, p[0], p[1], p[2], p[3]);
    attr_f(g, "epsilon", 1e-3);
    return y;
}

/* Conv+bias, grouped Conv, grouped ConvTranspose, each with a BN, and a BN on the input. */
static anvil__graph *conv_bn_graph(uint32_t seed) {
    rng_state = seed;
    anvil__graph *g = new_graph(14);
    int64_t xd[4] = {1, 3, 5, 5}, w1[4] = {4, 3, 3, 3}, c4 = 4, w2[4] = {4, 2, 1, 1};
    int64_t wt[4] = {4, 3, 2, 2};
    int32_t x = add_input(g, "x", 4, xd);
    int32_t c1 = node(g, "Conv", "c1", 3, x, add_init(g, "w1", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1),
                      add_init(g, "b1", ANVIL_DTYPE_F32, 1, &c4, NULL, -1, 1));
    attr_ints(g, "pads", 4, (int64_t[]){1, 1, 1, 1});
    int32_t y1 = bn(g, "bn1", c1, 4);
    int32_t c2 =
        node(g, "Conv", "c2", 2, y1, add_init(g, "w2", ANVIL_DTYPE_F32, 4, w2, NULL, -1, 1));
    attr_i(g, "group", 2);
    int32_t y2 = bn(g, "bn2", c2, 4);
    int32_t c3 = node(g, "ConvTranspose", "c3", 2, y2,
                      add_init(g, "wt", ANVIL_DTYPE_F32, 4, wt, NULL, -1, 1));
    attr_i(g, "group", 2);
    attr_ints(g, "strides", 2, (int64_t[]){2, 2});
    add_output(g, bn(g, "bn3", c3, 6));
    add_output(g, bn(g, "bn_alone", x, 3));
    return g;
}

/* Gemm transB=1 with bias, then a MatMul by a weight, each with a BN. */
static anvil__graph *gemm_bn_graph(uint32_t seed) {
    rng_state = seed;
    anvil__graph *g = new_graph(14);
    int64_t xd[2] = {2, 5}, wd[2] = {3, 5}, c3 = 3, w2[2] = {3, 4};
    int32_t x = add_input(g, "x", 2, xd);
    int32_t y =
        node(g, "Gemm", "gemm", 3, x, add_init(g, "gw", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1),
             add_init(g, "gb", ANVIL_DTYPE_F32, 1, &c3, NULL, -1, 1));
    attr_i(g, "transB", 1);
    int32_t m = node(g, "MatMul", "mm", 2, bn(g, "bn1", y, 3),
                     add_init(g, "mw", ANVIL_DTYPE_F32, 2, w2, NULL, -1, 1));
    add_output(g, bn(g, "bn2", m, 4));
    return g;
}

/* New recipes over weight values that are no slots any more (a source the run graph stopped
 * reading, a folding intermediate) are computed from the sources. */
static void check_recipe_values(anvil__compile_state *st, const anvil__graph *g) {
    const anvil__graph *w = st->weights;
    int32_t var = anvil__graph_find(w, "bn1.var"), factor = anvil__graph_find(w, "bn1/factor");
    CHECK(var >= 0 && factor >= 0 && anvil__graph_find(st->run, "bn1.var") < 0 &&
          anvil__graph_find(st->run, "bn1/factor") < 0);
    if (var < 0 || factor < 0) return;
    int32_t neg_var, neg_factor;
    CHECK_OK(anvil__compile_add_weight_node(st, "Neg", &var, 1, "neg_var", &neg_var));
    CHECK_OK(anvil__compile_add_weight_node(st, "Neg", &factor, 1, "neg_factor", &neg_factor));
    const float *nv = anvil__compile_slot_data(st, neg_var)->data;
    const float *nf = anvil__compile_slot_data(st, neg_factor)->data;
    const float *v = g->inits[g->values[anvil__graph_find(g, "bn1.var")].init].t.data;
    const float *sc = g->inits[g->values[anvil__graph_find(g, "bn1.scale")].init].t.data;
    for (int c = 0; c < 4; c++) {
        CHECK(nv[c] == -v[c]);
        CHECK_NEAR(nf[c], -sc[c] / sqrt(v[c] + 1e-3), 1e-6);
    }
}

static void test_fold_batchnorm(void) {
    anvil__graph *(*build[2])(uint32_t) = {conv_bn_graph, gemm_bn_graph};
    for (int k = 0; k < 2; k++) {
        anvil__graph *g = build[k](7), *g2 = build[k](99);
        anvil__tensor *in = random_inputs(g);
        anvil__compile_state st;
        state_init(&st, g, in);
        run_pass(&st, anvil__pass_fold_batchnorm);
        CHECK_EQ(count_op(st.run, "BatchNormalization"), k == 0 ? 1 : 0);
        CHECK_EQ(st.run->n_nodes, k == 0 ? 4 : 2);
        for (int32_t i = 0; i < st.run->n_nodes; i++)
            if (st.run->nodes[i].op != ANVIL_OP_BatchNormalization)
                CHECK_STR_EQ(st.run->nodes[i].fused, "BatchNormalization");
        if (k == 1) CHECK_EQ(count_op(st.run, "Gemm"), 2); /* MatMul + bias = Gemm */
        check_state(g, &st, in, 1e-5);
        check_state(g2, &st, in, 1e-5); /* refit: the recipes replay on new weights */
        if (k == 0) check_recipe_values(&st, g);
        anvil__compile_state_free(&st);
        anvil__graph_destroy(g);
        anvil__graph_destroy(g2);
        free_tensors(in, 1);
        free(in);
    }
}

/* ---- patterns ---- */

/* ReduceMean over axis -1: an attribute before opset 18, an input from then on. */
static int32_t mean_last(anvil__graph *g, const char *out, const char *axes_name, int32_t x) {
    int64_t axes = -1, one = 1;
    if (g->opset >= 18)
        return node(g, "ReduceMean", out, 2, x,
                    add_init(g, axes_name, ANVIL_DTYPE_I64, 1, &one, (double[]){-1}, 0, 0));
    int32_t m = node(g, "ReduceMean", out, 1, x);
    attr_ints(g, "axes", 1, &axes);
    return m;
}

/* LayerNorm over the last axis as torch exports it; square by Pow or Mul, optional affine. */
static int32_t layernorm(anvil__graph *g, const char *p, int32_t x, bool pow, int gamma_rank,
                         bool beta) {
    char n[16][64];
    for (int i = 0; i < 16; i++)
        snprintf(n[i], sizeof n[i], "%s_%d", p, i);
    int64_t d[3] = {1, 1, 8};
    int32_t m = mean_last(g, n[0], n[13], x);
    int32_t c = node(g, "Sub", n[1], 2, x, m);
    int32_t sq =
        pow ? node(g, "Pow", n[2], 2, c, scalar(g, n[3], 2)) : node(g, "Mul", n[2], 2, c, c);
    int32_t v = mean_last(g, n[4], n[14], sq);
    int32_t s = node(g, "Sqrt", n[5], 1, node(g, "Add", n[6], 2, v, scalar(g, n[7], 1e-5)));
    int32_t y = node(g, "Div", n[8], 2, c, s);
    if (gamma_rank)
        y = node(g, "Mul", n[9], 2,
                 add_init(g, n[10], ANVIL_DTYPE_F32, gamma_rank, d + 3 - gamma_rank, NULL, 0, 2),
                 y);
    if (beta)
        y = node(g, "Add", n[11], 2, y, add_init(g, n[12], ANVIL_DTYPE_F32, 1, d + 2, NULL, -1, 1));
    return y;
}

/* The erf GELU in association `form` (0: (x*(1+e))*0.5, 1: ((1+e)*0.5)*x, 2: (x*0.5)*(1+e)). */
static int32_t gelu_erf(anvil__graph *g, const char *p, int32_t x, int form) {
    char n[12][64];
    for (int i = 0; i < 12; i++)
        snprintf(n[i], sizeof n[i], "%s_%d", p, i);
    int32_t a = form == 1 ? node(g, "Mul", n[0], 2, x, scalar(g, n[1], 0.70710678118654752))
                          : node(g, "Div", n[0], 2, x, scalar(g, n[1], 1.41421356237309505));
    int32_t e = node(g, form == 1 ? "Sum" : "Add", n[3], 2, scalar(g, n[2], 1),
                     node(g, "Erf", n[4], 1, a)); /* ONNX function bodies use Sum */
    if (form == 0)
        return node(g, "Mul", n[5], 2, node(g, "Mul", n[6], 2, x, e), scalar(g, n[7], 0.5));
    if (form == 1)
        return node(g, "Mul", n[5], 2, node(g, "Mul", n[6], 2, e, scalar(g, n[7], 0.5)), x);
    return node(g, "Mul", n[5], 2, node(g, "Mul", n[6], 2, scalar(g, n[7], 0.5), x), e);
}

static int32_t gelu_tanh(anvil__graph *g, const char *p, int32_t x, bool pow) {
    char n[16][64];
    for (int i = 0; i < 16; i++)
        snprintf(n[i], sizeof n[i], "%s_%d", p, i);
    int32_t cube = pow ? node(g, "Pow", n[0], 2, x, scalar(g, n[1], 3))
                       : node(g, "Mul", n[0], 2, x, node(g, "Mul", n[1], 2, x, x));
    int32_t inner =
        node(g, "Add", n[2], 2, x, node(g, "Mul", n[3], 2, scalar(g, n[4], 0.044715), cube));
    int32_t t = node(g, "Tanh", n[5], 1,
                     node(g, "Mul", n[6], 2, inner, scalar(g, n[7], 0.7978845608028654)));
    int32_t e = node(g, "Add", n[8], 2, t, scalar(g, n[9], 1));
    return node(g, "Mul", n[10], 2, node(g, "Mul", n[11], 2, x, e), scalar(g, n[12], 0.5));
}

static void test_patterns_at(int64_t opset) {
    anvil__graph *g = new_graph(opset);
    int64_t xd[3] = {2, 3, 8};
    int32_t x = add_input(g, "x", 3, xd);
    int32_t y = layernorm(g, "ln1", x, true, 1, true);
    y = layernorm(g, "ln2", y, false, 3, false);
    y = layernorm(g, "ln3", y, true, 0, false);
    for (int form = 0; form < 3; form++) {
        char p[16];
        snprintf(p, sizeof p, "erf%d", form);
        y = gelu_erf(g, p, y, form);
    }
    y = gelu_tanh(g, "tanh0", y, true);
    y = gelu_tanh(g, "tanh1", y, false);
    add_output(g, y);
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_patterns);
    CHECK_EQ(count_op(st.run, "LayerNormalization"), 3);
    CHECK_EQ(count_op(st.run, "Gelu"), 5);
    CHECK_EQ(st.run->n_nodes, 8);
    int tanh_gelus = 0;
    for (int32_t i = 0; i < st.run->n_nodes; i++)
        tanh_gelus += st.run->nodes[i].op == ANVIL_OP_Gelu &&
                      strcmp(anvil__attr_string(&st.run->nodes[i], "approximate", ""), "tanh") == 0;
    CHECK_EQ(tanh_gelus, 2);
    CHECK_STR_EQ(st.run->values[st.run->outputs[0]].name, g->values[y].name);
    check_state(g, &st, in, 2e-5);
    anvil__compile_state_free(&st);
    free_tensors(in, 1);
    free(in);
    anvil__graph_destroy(g);
}

/* Near misses: an intermediate read outside the match, a wrong constant, a mean over another
 * axis. Nothing may change. */
static void test_patterns_negative(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[3] = {2, 3, 8};
    int32_t x = add_input(g, "x", 3, xd);
    int32_t ln = layernorm(g, "ln", x, true, 1, true);
    add_output(g, anvil__graph_find(g, "ln_1")); /* x - mean is an output too */
    add_output(g, ln);
    int32_t a = node(g, "Div", "g0", 2, x, scalar(g, "g1", 1.3));
    int32_t e = node(g, "Add", "g2", 2, node(g, "Erf", "g3", 1, a), scalar(g, "g4", 1));
    add_output(g, node(g, "Mul", "g5", 2, node(g, "Mul", "g6", 2, x, e), scalar(g, "g7", 0.5)));
    int32_t m = node(g, "ReduceMean", "m0", 1, x);
    attr_ints(g, "axes", 1, (int64_t[]){1});
    int32_t c = node(g, "Sub", "m1", 2, x, m);
    int32_t v = node(g, "ReduceMean", "m2", 1, node(g, "Mul", "m3", 2, c, c));
    attr_ints(g, "axes", 1, (int64_t[]){1});
    int32_t sd = node(g, "Sqrt", "m4", 1, node(g, "Add", "m5", 2, v, scalar(g, "m6", 1e-5)));
    add_output(g, node(g, "Div", "m7", 2, c, sd));
    anvil__compile_state st;
    state_init(&st, g, NULL);
    int32_t before = st.run->n_nodes;
    run_pass(&st, anvil__pass_patterns);
    CHECK_EQ(st.run->n_nodes, before);
    CHECK_EQ(count_op(st.run, "LayerNormalization") + count_op(st.run, "Gelu"), 0);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
}

static void test_patterns(void) {
    test_patterns_at(14);
    test_patterns_at(18); /* ReduceMean axes as an input */
    test_patterns_negative();
}

/* ---- fusion ---- */

static const anvil__node *producer_of(const anvil__graph *g, const char *value) {
    int32_t v = anvil__graph_find(g, value);
    return v >= 0 && g->values[v].producer >= 0 ? &g->nodes[g->values[v].producer] : NULL;
}

static anvil__graph *conv_fusion_graph(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[4] = {1, 4, 6, 6}, w3[4] = {4, 4, 3, 3}, w1[4] = {4, 4, 1, 1}, c4 = 4;
    int32_t x = add_input(g, "x", 4, xd);
    int32_t c1 = node(g, "Conv", "c1", 3, x, add_init(g, "w1", ANVIL_DTYPE_F32, 4, w3, NULL, -1, 1),
                      add_init(g, "b1", ANVIL_DTYPE_F32, 1, &c4, NULL, -1, 1));
    attr_ints(g, "pads", 4, (int64_t[]){1, 1, 1, 1});
    int32_t r1 = node(g, "Relu", "r1", 1, node(g, "Add", "a1", 2, c1, x));
    int32_t c2 =
        node(g, "Conv", "c2", 2, r1, add_init(g, "w2", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1));
    int32_t s2 = node(g, "Mul", "s2", 2, c2, node(g, "Sigmoid", "sg", 1, c2));
    int32_t c3 =
        node(g, "Conv", "c3", 2, s2, add_init(g, "w3", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1));
    int32_t cl = node(g, "Clip", "cl", 3, c3, scalar(g, "zero", 0), scalar(g, "six", 6));
    int32_t c4v =
        node(g, "Conv", "c4", 2, cl, add_init(g, "w4", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1));
    int32_t lr = node(g, "LeakyRelu", "out", 1, c4v);
    attr_f(g, "alpha", 0.1);
    add_output(g, lr);
    /* Read twice: neither the Add nor the Relu may be fused into c5. */
    int32_t c5 =
        node(g, "Conv", "c5", 2, lr, add_init(g, "w5", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1));
    add_output(g, node(g, "Add", "twice", 2, node(g, "Relu", "r5", 1, c5), c5));
    /* Broadcast residual: not fused. */
    int64_t bd[4] = {1, 4, 1, 1};
    int32_t c6 =
        node(g, "Conv", "c6", 2, lr, add_init(g, "w6", ANVIL_DTYPE_F32, 4, w1, NULL, -1, 1));
    add_output(g, node(g, "Add", "bcast", 2, c6, add_input(g, "small", 4, bd)));
    return g;
}

static anvil__graph *matmul_fusion_graph(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[3] = {2, 8, 16}, wd[2] = {16, 16}, n16 = 16;
    int32_t x = add_input(g, "x", 3, xd);
    int32_t m1 =
        node(g, "MatMul", "m1", 2, x, add_init(g, "mw1", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1));
    int32_t a1 =
        node(g, "Add", "a1", 2, add_init(g, "mb1", ANVIL_DTYPE_F32, 1, &n16, NULL, -1, 1), m1);
    int32_t h = node(g, "HardSigmoid", "h", 1, a1);
    attr_f(g, "alpha", 0.3);
    int32_t m2 =
        node(g, "MatMul", "m2", 2, h, add_init(g, "mw2", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1));
    int32_t e = node(g, "Elu", "e", 1, node(g, "Add", "res", 2, x, m2));
    int32_t m3 =
        node(g, "MatMul", "m3", 2, e, add_init(g, "mw3", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1));
    int32_t m4 = node(g, "MatMul", "m4", 2, node(g, "Tanh", "t", 1, m3),
                      add_init(g, "mw4", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1));
    int32_t m5 = node(g, "MatMul", "m5", 2, node(g, "HardSwish", "hs", 1, m4),
                      add_init(g, "mw5", ANVIL_DTYPE_F32, 2, wd, NULL, -1, 1));
    add_output(g, node(g, "Gelu", "out", 1, m5));
    return g;
}

static void check_post(const anvil__node *n, int count, int32_t op0, int32_t op1) {
    CHECK(n != NULL);
    if (!n) return;
    CHECK_EQ(n->n_post, count);
    if (count > 0) CHECK_EQ(n->post[0].op, op0);
    if (count > 1) CHECK_EQ(n->post[1].op, op1);
}

static void test_fusion(void) {
    anvil__graph *g = conv_fusion_graph();
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_fuse_residual);
    run_pass(&st, anvil__pass_fuse_activation);
    const anvil__node *c1 = producer_of(st.run, "r1");
    check_post(c1, 2, ANVIL_OP_Add, ANVIL_OP_Relu);
    if (c1) CHECK_EQ(c1->post[0].input, 3); /* after x, w, b */
    if (c1) CHECK_STR_EQ(c1->fused, "Add+Relu");
    check_post(producer_of(st.run, "s2"), 1, ANVIL__POST_SILU, 0);
    const anvil__node *c3 = producer_of(st.run, "cl");
    check_post(c3, 1, ANVIL_OP_Clip, 0);
    if (c3) CHECK(c3->post[0].alpha == 0 && c3->post[0].beta == 6);
    const anvil__node *c4 = producer_of(st.run, "out");
    check_post(c4, 1, ANVIL_OP_LeakyRelu, 0);
    if (c4) CHECK_NEAR(c4->post[0].alpha, 0.1, 1e-7);
    check_post(producer_of(st.run, "c5"), 0, 0, 0);
    check_post(producer_of(st.run, "c6"), 0, 0, 0);
    CHECK_EQ(count_op(st.run, "Conv"), 6);
    CHECK_EQ(st.run->n_nodes, 9); /* 6 Conv, r5, twice, bcast */
    check_state(g, &st, in, 1e-6);
    anvil__compile_state_free(&st);
    free_tensors(in, g->n_inputs);
    free(in);
    anvil__graph_destroy(g);

    g = matmul_fusion_graph();
    in = random_inputs(g);
    state_init(&st, g, in);
    run_pass(&st, anvil__pass_fuse_residual);
    run_pass(&st, anvil__pass_fuse_activation);
    const anvil__node *m1 = producer_of(st.run, "h");
    check_post(m1, 2, ANVIL_OP_Add, ANVIL_OP_HardSigmoid);
    if (m1) CHECK(m1->post[0].input == 2 && m1->post[1].alpha == 0.3f && m1->post[1].beta == 0.5f);
    check_post(producer_of(st.run, "e"), 2, ANVIL_OP_Add, ANVIL_OP_Elu);
    check_post(producer_of(st.run, "t"), 1, ANVIL_OP_Tanh, 0);
    check_post(producer_of(st.run, "hs"), 1, ANVIL_OP_HardSwish, 0);
    check_post(producer_of(st.run, "out"), 1, ANVIL_OP_Gelu, 0);
    CHECK_EQ(st.run->n_nodes, 5);
    check_state(g, &st, in, 1e-6);
    anvil__compile_state_free(&st);
    free_tensors(in, g->n_inputs);
    free(in);
    anvil__graph_destroy(g);
}

/* opt_level 1 folds and eliminates but fuses nothing; disabled passes do nothing. */
/* Producers read twice or written as graph outputs keep their ops; with a dynamic batch the
 * residual cannot be proven free of broadcasting, the activation still fuses. */
static void test_fusion_guards(void) {
    anvil__graph *g = new_graph(14);
    int64_t xd[4] = {-1, 4, 5, 5}, wd[4] = {4, 4, 1, 1};
    int32_t x = add_input(g, "x", 4, xd);
    int32_t c1 =
        node(g, "Conv", "c1", 2, x, add_init(g, "w1", ANVIL_DTYPE_F32, 4, wd, NULL, -1, 1));
    add_output(g, c1);
    add_output(g, node(g, "Relu", "r1", 1, c1));
    int32_t c2 =
        node(g, "Conv", "c2", 2, x, add_init(g, "w2", ANVIL_DTYPE_F32, 4, wd, NULL, -1, 1));
    add_output(g, node(g, "Add", "res", 2, c2, x));
    int32_t c3 =
        node(g, "Conv", "c3", 2, x, add_init(g, "w3", ANVIL_DTYPE_F32, 4, wd, NULL, -1, 1));
    add_output(g, bn(g, "bn", c3, 4));
    add_output(g, node(g, "Sigmoid", "s3", 1, c3));
    int32_t c4 =
        node(g, "Conv", "c4", 2, x, add_init(g, "w4", ANVIL_DTYPE_F32, 4, wd, NULL, -1, 1));
    add_output(g, node(g, "Tanh", "t4", 1, c4));
    int64_t od[4] = {2, 4, 5, 5};
    anvil__tensor opt;
    memset(&opt, 0, sizeof opt);
    CHECK_OK(anvil__tensor_shape(&opt, ANVIL_DTYPE_F32, 4, od));
    anvil__compile_state st;
    state_init(&st, g, &opt);
    st.dynamic = true;
    CHECK_OK(anvil__passes_run(&st));
    CHECK_EQ(count_fused(st.run), 1);
    CHECK(producer_of(st.run, "t4") && producer_of(st.run, "t4")->op == ANVIL_OP_Conv);
    CHECK_EQ(count_op(st.run, "BatchNormalization"), 1);
    CHECK_EQ(count_op(st.run, "Relu") + count_op(st.run, "Add") + count_op(st.run, "Sigmoid"), 3);
    /* A node reading a non-slot cannot be folded. */
    CHECK_STATUS(anvil__compile_fold_node(&st, 0), ANVIL_STATUS_INTERNAL);
    anvil__compile_state_free(&st);
    anvil__graph_destroy(g);
}

static void test_levels(void) {
    anvil__graph *g = conv_bn_graph(3);
    anvil__tensor *in = random_inputs(g);
    anvil__compile_state st;
    state_init(&st, g, in);
    st.opt_level = 1;
    CHECK_OK(anvil__passes_run(&st));
    CHECK_EQ(count_op(st.run, "BatchNormalization"), 4);
    anvil__compile_state_free(&st);
    state_init(&st, g, in);
    st.disabled = 1u << ANVIL_PASS_FOLD_BATCHNORM;
    CHECK_OK(anvil__passes_run(&st));
    CHECK_EQ(count_op(st.run, "BatchNormalization"), 4);
    anvil__compile_state_free(&st);
    state_init(&st, g, in);
    CHECK_OK(anvil__passes_run(&st));
    CHECK_EQ(count_op(st.run, "BatchNormalization"), 1);
    check_state(g, &st, in, 1e-5);
    anvil__compile_state_free(&st);
    free_tensors(in, 1);
    free(in);
    anvil__graph_destroy(g);
}

int main(void) {
    test_state_init();
    test_constant_folding();
    test_eliminate();
    test_transpose_as_reshape();
    test_dead_code();
    test_fold_batchnorm();
    test_patterns();
    test_fusion();
    test_fusion_guards();
    test_levels();
    return check_exit();
}
