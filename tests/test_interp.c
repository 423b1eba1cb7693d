/* Tests the reference interpreter on graphs built directly in the IR: a chain of nodes, value
 * lifetimes (an intermediate read twice), outputs that are inputs or initializers, F32_COMPUTE
 * conversion for f16, and If with branches that read an outer-scope value. */
#include "check.h"
#include "interp/interp.h"

static int32_t value(anvil__graph *g, const char *name, anvil_dtype dt, int32_t rank,
                     const int64_t *dims) {
    int32_t id = -1;
    CHECK_OK(anvil__graph_value(g, name, &id));
    g->values[id].dtype = dt;
    g->values[id].rank = rank;
    for (int32_t d = 0; d < rank; d++) g->values[id].dims[d] = dims[d];
    return id;
}

static int32_t add_node(anvil__graph *g, const char *op, int32_t a, int32_t b, int32_t out) {
    int32_t ins[] = {a, b}, id = -1;
    CHECK_OK(anvil__graph_add_node(g, op, op, "", ins, b >= 0 ? 2 : 1, &out, 1, &id));
    g->nodes[id].op = anvil__op_find(op, "");
    return id;
}

static void test_chain(void) {
    /* y = Relu(x + w) * (x + w); z = w (initializer as output); x2 = x (input as output) */
    anvil__graph *g = anvil__graph_new(NULL);
    g->opset = 17;
    int64_t d3[] = {3};
    int32_t x = value(g, "x", ANVIL_DTYPE_F32, 1, d3);
    int32_t w = value(g, "w", ANVIL_DTYPE_F32, 1, d3);
    static float wdata[] = {1.0f, -5.0f, 0.5f};
    anvil__tensor wt = {ANVIL_DTYPE_F32, 1, {3}, wdata, sizeof wdata};
    CHECK_OK(anvil__graph_add_init(g, w, &wt, false));
    CHECK_OK(anvil__graph_add_input(g, x));
    int32_t s = value(g, "s", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    int32_t r = value(g, "r", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    int32_t y = value(g, "y", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    add_node(g, "Add", x, w, s);
    add_node(g, "Relu", s, -1, r);
    add_node(g, "Mul", r, s, y);
    CHECK_OK(anvil__graph_add_output(g, y));
    CHECK_OK(anvil__graph_add_output(g, w));
    CHECK_OK(anvil__graph_add_output(g, x));
    float xdata[] = {2.0f, 3.0f, -1.0f};
    anvil__tensor in = {ANVIL_DTYPE_F32, 1, {3}, xdata, sizeof xdata};
    anvil__tensor out[3] = {0};
    CHECK_OK(anvil__interp_run(g, NULL, &in, out));
    float *yv = out[0].data;
    CHECK(yv && yv[0] == 9.0f && yv[1] == 0.0f && yv[2] == 0.0f);
    CHECK(out[1].data != wdata && ((float *)out[1].data)[1] == -5.0f); /* copied, not aliased */
    CHECK(out[2].data != xdata && ((float *)out[2].data)[0] == 2.0f);
    for (int i = 0; i < 3; i++) anvil__free(out[i].data);
    anvil__graph_destroy(g);
}

static void test_f32_compute_conversion(void) {
    /* Softmax is F32_COMPUTE: an f16 input must come back as f16 with softmax values. */
    anvil__graph *g = anvil__graph_new(NULL);
    g->opset = 13;
    int64_t d2[] = {2};
    int32_t x = value(g, "x", ANVIL_DTYPE_F16, 1, d2);
    int32_t y = value(g, "y", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    CHECK_OK(anvil__graph_add_input(g, x));
    add_node(g, "Softmax", x, -1, y);
    CHECK_OK(anvil__graph_add_output(g, y));
    uint16_t xdata[] = {anvil__f32_to_f16(0.0f), anvil__f32_to_f16(0.0f)};
    anvil__tensor in = {ANVIL_DTYPE_F16, 1, {2}, xdata, sizeof xdata};
    anvil__tensor out = {0};
    CHECK_OK(anvil__interp_run(g, NULL, &in, &out));
    CHECK_EQ(out.dtype, ANVIL_DTYPE_F16);
    CHECK_EQ(out.bytes, 4);
    if (out.data) CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)out.data)[0]), 0.5, 1e-3);
    anvil__free(out.data);
    anvil__graph_destroy(g);
}

/* Builds a branch graph: out = Op(outer_value) where outer_value lives in the parent. */
static anvil__graph *branch(anvil__graph *parent, const char *op, const char *out_name) {
    anvil__graph *b = anvil__graph_new(parent);
    int32_t x = value(b, "x", ANVIL_DTYPE_F32, 1, (int64_t[]){2});
    b->values[x].flags |= ANVIL_VALUE_OUTER;
    int32_t y = value(b, out_name, ANVIL_DTYPE_F32, 1, (int64_t[]){2});
    add_node(b, op, x, -1, y);
    CHECK_OK(anvil__graph_add_output(b, y));
    return b;
}

static void test_if(void) {
    anvil__graph *g = anvil__graph_new(NULL);
    g->opset = 17;
    int32_t c = value(g, "cond", ANVIL_DTYPE_BOOL, 0, NULL);
    int32_t x = value(g, "x", ANVIL_DTYPE_F32, 1, (int64_t[]){2});
    int32_t y = value(g, "y", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    CHECK_OK(anvil__graph_add_input(g, c));
    CHECK_OK(anvil__graph_add_input(g, x));
    int32_t n = add_node(g, "If", c, -1, y);
    anvil__attr *a;
    CHECK_OK(anvil__node_add_attr(g, n, "then_branch", &a));
    a->kind = ANVIL_ATTR_GRAPH;
    a->g = branch(g, "Neg", "then_out");
    CHECK_OK(anvil__node_add_attr(g, n, "else_branch", &a));
    a->kind = ANVIL_ATTR_GRAPH;
    a->g = branch(g, "Abs", "else_out");
    CHECK_OK(anvil__graph_add_output(g, y));
    CHECK_OK(anvil__op_validate_node(&g->nodes[n], 17));
    for (int taken = 0; taken < 2; taken++) {
        uint8_t cond = (uint8_t)taken;
        float xdata[] = {-3.0f, 4.0f};
        anvil__tensor in[2] = {{ANVIL_DTYPE_BOOL, 0, {0}, &cond, 1},
                               {ANVIL_DTYPE_F32, 1, {2}, xdata, sizeof xdata}};
        anvil__tensor out = {0};
        CHECK_OK(anvil__interp_run(g, NULL, in, &out));
        float *v = out.data;
        CHECK(v != NULL);
        if (v && taken) CHECK(v[0] == 3.0f && v[1] == -4.0f);
        if (v && !taken) CHECK(v[0] == 3.0f && v[1] == 4.0f);
        anvil__free(out.data);
    }
    anvil__graph_destroy(g);
}

static void test_kernel_error_propagates(void) {
    /* Gather with an out-of-range index: the run fails with OUT_OF_RANGE naming the node. */
    anvil__graph *g = anvil__graph_new(NULL);
    g->opset = 13;
    int32_t x = value(g, "x", ANVIL_DTYPE_F32, 1, (int64_t[]){3});
    int32_t i = value(g, "i", ANVIL_DTYPE_I64, 1, (int64_t[]){1});
    int32_t y = value(g, "y", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    CHECK_OK(anvil__graph_add_input(g, x));
    CHECK_OK(anvil__graph_add_input(g, i));
    add_node(g, "Gather", x, i, y);
    CHECK_OK(anvil__graph_add_output(g, y));
    float xd[] = {1, 2, 3};
    int64_t id[] = {7};
    anvil__tensor in[2] = {{ANVIL_DTYPE_F32, 1, {3}, xd, sizeof xd},
                           {ANVIL_DTYPE_I64, 1, {1}, id, sizeof id}};
    anvil__tensor out = {0};
    CHECK_STATUS(anvil__interp_run(g, NULL, in, &out), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(anvil_last_error(), "Gather");
    CHECK(out.data == NULL);
    anvil__graph_destroy(g);
}

int main(void) {
    test_chain();
    test_f32_compute_conversion();
    test_if();
    test_kernel_error_propagates();
    return check_exit();
}
