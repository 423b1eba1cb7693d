/*
 * test_ir.c — graph verifier, topological sort and printer on graphs built by hand:
 * stable ordering, cycles, undefined and doubly defined values, subgraph outer references
 * (including the implicit dependency of a node on what its subgraph reads), and the listing.
 */
#include "anvil.h"
#include "check.h"
#include "ir/ir.h"

#include <stdlib.h>

static int32_t val(anvil__graph *g, const char *name) {
    int32_t id = -1;
    CHECK_OK(anvil__graph_value(g, name, &id));
    return id;
}

/* Adds node `name`: op(ins...) -> out. ins is a space-separated list of value names. */
static int32_t add(anvil__graph *g, const char *name, const char *op, const char *ins,
                   const char *out) {
    int32_t in_ids[8], n_in = 0, out_id = val(g, out), id = -1;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", ins);
    for (char *tok = strtok(buf, " "); tok && n_in < 8; tok = strtok(NULL, " "))
        in_ids[n_in++] = val(g, tok);
    CHECK_OK(anvil__graph_add_node(g, name, op, "", in_ids, n_in, &out_id, 1, &id));
    return id;
}

static anvil__graph *with_input(const char *input, anvil_dtype dtype) {
    anvil__graph *g = anvil__graph_new(NULL);
    CHECK(g != NULL);
    g->name = anvil__strdup("main");
    int32_t x = val(g, input);
    g->values[x].dtype = dtype;
    g->values[x].rank = 2;
    g->values[x].dims[0] = 2;
    g->values[x].dims[1] = 3;
    CHECK_OK(anvil__graph_add_input(g, x));
    return g;
}

static void expect_order(const anvil__graph *g, const char *names) {
    char buf[256] = "";
    for (int32_t i = 0; i < g->n_nodes; i++) {
        strcat(buf, i ? " " : "");
        strcat(buf, g->nodes[i].name);
    }
    CHECK_STR_EQ(buf, names);
}

static void test_sort_keeps_valid_order(void) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    add(g, "a", "Relu", "x", "ta");
    add(g, "b", "Neg", "x", "tb"); /* independent of a: must stay after it */
    add(g, "c", "Add", "ta tb", "y");
    CHECK_OK(anvil__graph_add_output(g, val(g, "y")));
    CHECK_OK(anvil__graph_toposort(g));
    expect_order(g, "a b c");
    CHECK_OK(anvil__graph_verify(g));
    anvil__graph_destroy(g);
}

static void test_sort_reorders(void) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    add(g, "d", "Add", "t2 t3", "y");
    add(g, "c", "Abs", "t1", "t3");
    add(g, "b", "Neg", "t1", "t2");
    add(g, "a", "Relu", "x", "t1");
    CHECK_OK(anvil__graph_add_output(g, val(g, "y")));
    /* Before sorting, verify reports the order problem and names both nodes. */
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "before node");
    CHECK_OK(anvil__graph_toposort(g));
    expect_order(g, "a c b d"); /* ready nodes leave in their original order: c before b */
    CHECK_OK(anvil__graph_verify(g));
    for (int32_t i = 0; i < g->n_nodes; i++) /* producers follow the nodes */
        CHECK_EQ(g->values[g->nodes[i].outputs[0]].producer, i);
    anvil__graph_destroy(g);
}

static void test_cycle(void) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    add(g, "pre", "Relu", "x", "p");
    add(g, "loop_a", "Add", "p c", "a");
    add(g, "loop_b", "Relu", "a", "b");
    add(g, "loop_c", "Neg", "b", "c");
    add(g, "after", "Abs", "a", "y");
    CHECK_OK(anvil__graph_add_output(g, val(g, "y")));
    CHECK_STATUS(anvil__graph_toposort(g), ANVIL_STATUS_INVALID_GRAPH);
    const char *msg = anvil_last_error();
    CHECK_CONTAINS(msg, "cycle");
    CHECK(strstr(msg, "'loop_a'") || strstr(msg, "'loop_b'") || strstr(msg, "'loop_c'"));
    CHECK(!strstr(msg, "through node 'after'") && !strstr(msg, "through node 'pre'"));
    anvil__graph_destroy(g);

    g = with_input("x", ANVIL_DTYPE_F32); /* a node reading its own output */
    add(g, "self", "Add", "x s", "s");
    CHECK_STATUS(anvil__graph_toposort(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "'self'");
    anvil__graph_destroy(g);
}

static void test_undefined_and_twice(void) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    add(g, "n1", "Add", "x ghost", "y");
    CHECK_OK(anvil__graph_add_output(g, val(g, "y")));
    CHECK_OK(anvil__graph_toposort(g));
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "'n1'");
    CHECK_CONTAINS(anvil_last_error(), "'ghost'");
    CHECK_CONTAINS(anvil_last_error(), "never defined");
    anvil__graph_destroy(g);

    g = with_input("x", ANVIL_DTYPE_F32);
    add(g, "first", "Relu", "x", "t");
    add(g, "second", "Neg", "x", "t");
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "defined twice");
    CHECK_CONTAINS(anvil_last_error(), "'t'");
    CHECK_STATUS(anvil__graph_toposort(g), ANVIL_STATUS_INVALID_GRAPH);
    anvil__graph_destroy(g);

    g = with_input("x", ANVIL_DTYPE_F32); /* a node overwriting a graph input */
    add(g, "clobber", "Relu", "x", "x");
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "graph input");
    anvil__graph_destroy(g);

    g = with_input("x", ANVIL_DTYPE_F32); /* an output nothing defines */
    CHECK_OK(anvil__graph_add_output(g, val(g, "nothing")));
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "'nothing'");
    anvil__graph_destroy(g);
}

/* main: c = If(cond) with then-branch reading `late` (an outer reference) and `x`. */
static anvil__graph *if_graph(bool late_first, const char *outer_name) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    int32_t cond = val(g, "cond");
    g->values[cond].dtype = ANVIL_DTYPE_BOOL;
    g->values[cond].rank = 0;
    CHECK_OK(anvil__graph_add_input(g, cond));
    if (late_first) add(g, "make_late", "Neg", "x", "late");
    int32_t node = add(g, "if0", "If", "cond", "y");
    if (!late_first) add(g, "make_late", "Neg", "x", "late");
    CHECK_OK(anvil__graph_add_output(g, val(g, "y")));
    anvil__attr *a;
    CHECK_OK(anvil__node_add_attr(g, node, "then_branch", &a));
    a->kind = ANVIL_ATTR_GRAPH;
    a->g = anvil__graph_new(g);
    a->g->name = anvil__strdup("then");
    int32_t o = val(a->g, outer_name);
    a->g->values[o].flags |= ANVIL_VALUE_OUTER;
    int32_t ox = val(a->g, "x");
    a->g->values[ox].flags |= ANVIL_VALUE_OUTER;
    add(a->g, "inner", "Add", "x late", "t_out");
    if (strcmp(outer_name, "late") != 0) { /* reads a name nobody defines */
        a->g->nodes[0].inputs[1] = o;
    }
    CHECK_OK(anvil__graph_add_output(a->g, val(a->g, "t_out")));
    return g;
}

static void test_subgraphs(void) {
    anvil__graph *g = if_graph(false, "late");
    /* `late` is produced after the If in node order: the subgraph's read is a dependency. */
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_OK(anvil__graph_toposort(g));
    expect_order(g, "make_late if0");
    CHECK_OK(anvil__graph_verify(g));
    anvil__graph_destroy(g);

    g = if_graph(true, "phantom");
    CHECK_OK(anvil__graph_toposort(g));
    CHECK_STATUS(anvil__graph_verify(g), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "'phantom'");
    CHECK_CONTAINS(anvil_last_error(), "enclosing");
    anvil__graph_destroy(g);
}

typedef struct text {
    char buf[4096];
    size_t len;
    int lines;
} text;

static void collect(void *user, const char *s, size_t n) {
    text *t = user;
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        t->buf[t->len] = '\0';
    }
    t->lines++;
}

static void test_print(void) {
    anvil__graph *g = with_input("x", ANVIL_DTYPE_F32);
    g->opset = 17;
    int32_t x = val(g, "x");
    g->values[x].dims[0] = -1;
    g->values[x].dim_names[0] = anvil__strdup("batch");
    int32_t w = val(g, "w");
    anvil__tensor t;
    CHECK_OK(anvil__tensor_shape(&t, ANVIL_DTYPE_F32, 1, (const int64_t[]){3}));
    CHECK_OK(anvil__tensor_alloc(&t));
    ((float *)t.data)[0] = 1.5f;
    CHECK_OK(anvil__graph_add_init(g, w, &t, true));
    int32_t n = add(g, "conv1", "Add", "x w", "y");
    anvil__attr *a;
    CHECK_OK(anvil__node_add_attr(g, n, "strides", &a));
    a->kind = ANVIL_ATTR_INTS;
    a->n = 2;
    a->ints = anvil__malloc(2 * sizeof *a->ints);
    a->ints[0] = a->ints[1] = 1;
    CHECK_OK(anvil__node_add_attr(g, n, "mode", &a));
    a->kind = ANVIL_ATTR_STRING;
    a->s = anvil__strdup("a\"b");
    a->s_len = 3;
    int32_t y = val(g, "y");
    g->values[y].dtype = ANVIL_DTYPE_F32;
    g->values[y].rank = 2;
    g->values[y].dims[0] = 2;
    g->values[y].dims[1] = 3;
    CHECK_OK(anvil__graph_add_output(g, y));
    text out = {.len = 0, .lines = 0};
    CHECK_OK(anvil__graph_print(g, collect, &out));
    CHECK_CONTAINS(out.buf, "graph 'main' (opset 17)");
    CHECK_CONTAINS(out.buf, "input %x : f32[batchx3]");
    CHECK_CONTAINS(out.buf, "init %w : f32[3]");
    CHECK_CONTAINS(out.buf, "%y = Add(%x, %w) {strides=[1,1], mode=\"a\\\"b\"} : f32[2x3]");
    CHECK_CONTAINS(out.buf, "# conv1");
    CHECK_CONTAINS(out.buf, "output %y : f32[2x3]");
    CHECK_EQ(out.lines, 5); /* header, input, init, node, output */
    anvil__graph_destroy(g);

    g = if_graph(true, "late"); /* subgraphs are listed under their node, indented */
    out.len = 0;
    out.lines = 0;
    CHECK_OK(anvil__graph_print(g, collect, &out));
    CHECK_CONTAINS(out.buf, "then_branch=graph 'then'");
    CHECK_CONTAINS(out.buf, "    graph 'then'");
    CHECK_CONTAINS(out.buf, "outer %late : ?[*]");
    CHECK_STATUS(anvil__graph_print(NULL, collect, &out), ANVIL_STATUS_INVALID_ARGUMENT);
    anvil__graph_destroy(g);
}

int main(void) {
    test_sort_keeps_valid_order();
    test_sort_reorders();
    test_cycle();
    test_undefined_and_twice();
    test_subgraphs();
    test_print();
    return check_exit();
}
