/*
 * test_onnx_import.c — the ONNX importer on handmade models (tests/data/onnx, made by
 * tests/data/gen/make_onnx_files.py): every attribute kind and typed field, subgraphs, external
 * data, zero-copy weights, one bad file per failure mode with its exact status and message;
 * then the shared real models and the ONNX conformance models; then truncation, byte-flip and
 * allocation-failure sweeps that must fail cleanly.
 */
#include "anvil.h"
#include "check.h"
#include "import/onnx.h"
#include "ops/op.h"

#include <stdlib.h>
#include <unistd.h>

#define DATA ANVIL_TEST_DATA_DIR "/onnx"

typedef struct loaded {
    anvil__mapping map;
    anvil__onnx_model *m;
} loaded;

static anvil_status load(const char *name, loaded *l) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DATA, name);
    memset(l, 0, sizeof *l);
    anvil_status s = anvil__map_file(path, &l->map);
    if (s != ANVIL_OK) {
        fprintf(stderr, "cannot map %s: %s\n", path, anvil_last_error());
        return s;
    }
    return anvil__onnx_import(l->map.data, l->map.size, DATA, &l->m);
}

static void unload(loaded *l) {
    anvil__onnx_model_destroy(l->m);
    anvil__unmap(&l->map);
}

static const anvil__init *find_init(const anvil__graph *g, const char *name) {
    int32_t id = anvil__graph_find(g, name);
    if (id < 0 || g->values[id].init < 0) return NULL;
    return &g->inits[g->values[id].init];
}

static bool inside(const void *p, const anvil__mapping *m) {
    const uint8_t *b = p;
    return b >= m->data && b < m->data + m->size;
}

static void expect_fail(const char *name, anvil_status status, const char *needle1,
                        const char *needle2) {
    loaded l;
    anvil_status s = load(name, &l);
    if (s != status)
        fprintf(stderr, "%s: got %s (%s), expected %s\n", name, anvil_status_string(s),
                anvil_last_error(), anvil_status_string(status));
    CHECK_EQ(s, status);
    CHECK(l.m == NULL);
    CHECK_CONTAINS(anvil_last_error(), needle1);
    if (needle2) CHECK_CONTAINS(anvil_last_error(), needle2);
    unload(&l);
}

/* ---- good handmade models ---- */

static void test_add(void) {
    loaded l;
    CHECK_OK(load("add.onnx", &l));
    if (!l.m) return;
    const anvil__graph *g = l.m->graph;
    CHECK_EQ(l.m->opset, 14);
    CHECK_EQ(g->opset, 14);
    CHECK_EQ(l.m->ir_version, 8);
    CHECK_STR_EQ(l.m->producer_name, "anvil-gen");
    CHECK_EQ(g->n_inputs, 1);
    CHECK_EQ(g->n_inits, 2);
    CHECK_EQ(g->n_nodes, 2);
    CHECK_EQ(g->n_outputs, 1);
    const anvil__value *x = &g->values[g->inputs[0]];
    CHECK_STR_EQ(x->name, "x");
    CHECK_EQ(x->dtype, ANVIL_DTYPE_F32);
    CHECK_EQ(x->rank, 2);
    CHECK_EQ(x->dims[0], -1);
    CHECK_STR_EQ(x->dim_names[0], "N");
    CHECK_EQ(x->dims[1], 3);
    CHECK_EQ(g->nodes[0].op, ANVIL_OP_Add);
    CHECK_EQ(g->nodes[1].op, ANVIL_OP_Mul);
    /* w's raw_data is aligned in the file: viewed in place; b's is not: an aligned copy. */
    const anvil__init *w = find_init(g, "w"), *b = find_init(g, "b");
    CHECK(w && b);
    if (w && b) {
        CHECK(!w->owned);
        CHECK(inside(w->t.data, &l.map));
        CHECK_EQ(w->t.bytes, 12);
        CHECK_EQ(((const float *)w->t.data)[2], 3.0);
        CHECK(b->owned);
        CHECK(!inside(b->t.data, &l.map));
        CHECK_EQ((uintptr_t)b->t.data % sizeof(float), 0);
        CHECK_EQ(((const float *)b->t.data)[1], 0.25);
    }
    unload(&l);

    /* End to end through the public API: y = (x + w) * b. */
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(DATA "/add.onnx", &m));
    float xv[3] = {1, 1, 1};
    anvil_tensor in = {"x", ANVIL_DTYPE_F32, 2, {1, 3}, xv, sizeof xv};
    anvil_tensor_list *out = NULL;
    if (m) CHECK_OK(anvil_model_run_reference(m, &in, 1, &out));
    if (out) {
        const float *y = anvil_tensor_list_get(out, 0)->data;
        CHECK_NEAR(y[0], 1.0, 0);
        CHECK_NEAR(y[1], 0.75, 0);
        CHECK_NEAR(y[2], 8.0, 0);
    }
    anvil_tensor_list_destroy(out);
    anvil_model_destroy(m);
}

static double elem(const anvil__graph *g, const char *name, size_t i) {
    const anvil__init *in = find_init(g, name);
    CHECK(in != NULL);
    return in ? anvil__load_f64(in->t.dtype, in->t.data, i) : -12345;
}

static int64_t ielem(const anvil__graph *g, const char *name, size_t i) {
    const anvil__init *in = find_init(g, name);
    CHECK(in != NULL);
    return in ? anvil__load_i64(in->t.dtype, in->t.data, i) : -12345;
}

static void test_typed(void) {
    loaded l;
    CHECK_OK(load("typed.onnx", &l));
    if (!l.m) return;
    const anvil__graph *g = l.m->graph;
    CHECK_EQ(g->n_inits, 15); /* the unused string tensor is skipped */
    CHECK(anvil__graph_find(g, "unused_string") < 0);
    CHECK_EQ(elem(g, "f32", 1), -2.0);
    CHECK_EQ(elem(g, "f64", 0), 0.125);
    CHECK_EQ(elem(g, "f64", 1), -1e300);
    CHECK_EQ(ielem(g, "i64", 1), (int64_t)1 << 40);
    CHECK_EQ(ielem(g, "i64", 2), -((int64_t)1 << 62));
    CHECK_EQ(ielem(g, "i32", 1), 2147483647);
    CHECK_EQ(ielem(g, "i16", 0), -300);
    CHECK_EQ(ielem(g, "u16", 0), 65535);
    CHECK_EQ(ielem(g, "i8", 0), -128);
    CHECK_EQ(ielem(g, "u8", 0), 255);
    CHECK_EQ(ielem(g, "b", 0) + ielem(g, "b", 1) * 2 + ielem(g, "b", 2) * 4, 5);
    CHECK_EQ(elem(g, "h", 0), 1.0);
    CHECK_EQ(elem(g, "h", 1), -2.0);
    CHECK_EQ(elem(g, "bf", 1), 3.0);
    CHECK_EQ(ielem(g, "u32", 0), 4294967295LL);
    const anvil__init *u64 = find_init(g, "u64");
    CHECK(u64 && u64->t.dtype == ANVIL_DTYPE_U64 && *(const uint64_t *)u64->t.data == UINT64_MAX);
    const anvil__init *sc = find_init(g, "scalar"), *em = find_init(g, "empty");
    CHECK(sc && sc->t.rank == 0 && sc->t.bytes == 4);
    CHECK(em && em->t.rank == 2 && em->t.bytes == 0 && em->t.data != NULL);
    for (int32_t i = 0; i < g->n_inits; i++) CHECK(g->inits[i].owned);

    const anvil__node *id = &g->nodes[0];
    CHECK_STR_EQ(id->op_type, "Identity");
    const anvil__attr *a = anvil__node_attr(id, "a_f");
    CHECK(a && a->kind == ANVIL_ATTR_FLOAT && a->f == 0.5);
    a = anvil__node_attr(id, "a_i");
    CHECK(a && a->kind == ANVIL_ATTR_INT && a->i == -3);
    a = anvil__node_attr(id, "a_s");
    CHECK(a && a->kind == ANVIL_ATTR_STRING && a->s_len == 2 && strcmp(a->s, "hi") == 0);
    a = anvil__node_attr(id, "a_t");
    CHECK(a && a->kind == ANVIL_ATTR_TENSOR && a->t.dtype == ANVIL_DTYPE_I64 &&
          ((const int64_t *)a->t.data)[1] == 5);
    a = anvil__node_attr(id, "a_fs");
    CHECK(a && a->kind == ANVIL_ATTR_FLOATS && a->n == 2 && a->floats[1] == 2.0f);
    a = anvil__node_attr(id, "a_is");
    CHECK(a && a->kind == ANVIL_ATTR_INTS && a->n == 2 && a->ints[1] == -1);
    a = anvil__node_attr(id, "a_ss");
    CHECK(a && a->kind == ANVIL_ATTR_STRINGS && a->n == 2 && strcmp(a->strings[1], "yz") == 0);
    a = anvil__node_attr(id, "old_i");
    CHECK(a && a->kind == ANVIL_ATTR_INT && a->i == 9);
    a = anvil__node_attr(id, "old_fs");
    CHECK(a && a->kind == ANVIL_ATTR_FLOATS && a->n == 1 && a->floats[0] == 3.0f);
    a = anvil__node_attr(id, "old_s");
    CHECK(a && a->kind == ANVIL_ATTR_STRING && strcmp(a->s, "abc") == 0);
    CHECK_EQ(g->nodes[1].op, ANVIL_OP_Constant);
    a = anvil__node_attr(&g->nodes[2], "value");
    CHECK(a && a->kind == ANVIL_ATTR_TENSOR && a->t.dtype == ANVIL_DTYPE_I32 &&
          ((const int32_t *)a->t.data)[1] == -4);
    int32_t ct = anvil__graph_find(g, "c_tensor");
    CHECK(ct >= 0 && g->values[ct].dtype == ANVIL_DTYPE_I32 && g->values[ct].rank == 1);
    unload(&l);
}

static void run_if(const anvil_model *m, bool cond, float e0, float e1) {
    uint8_t c = cond;
    float xv[2] = {1, 2};
    anvil_tensor in[2] = {{"cond", ANVIL_DTYPE_BOOL, 0, {0}, &c, 1},
                          {"x", ANVIL_DTYPE_F32, 1, {2}, xv, sizeof xv}};
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_model_run_reference(m, in, 2, &out));
    if (!out) return;
    const float *y = anvil_tensor_list_get(out, 0)->data;
    CHECK_NEAR(y[0], e0, 0);
    CHECK_NEAR(y[1], e1, 0);
    anvil_tensor_list_destroy(out);
}

static void test_if(void) {
    loaded l;
    CHECK_OK(load("if.onnx", &l));
    if (!l.m) return;
    const anvil__graph *g = l.m->graph;
    CHECK_EQ(g->n_inputs, 2);
    CHECK_EQ(g->n_nodes, 2);
    CHECK_STR_EQ(g->nodes[0].name, "neg0"); /* the If reads xn in its branch: Neg goes first */
    CHECK_STR_EQ(g->nodes[1].name, "if0");
    const anvil__attr *t = anvil__node_attr(&g->nodes[1], "then_branch");
    const anvil__attr *e = anvil__node_attr(&g->nodes[1], "else_branch");
    CHECK(t && t->kind == ANVIL_ATTR_GRAPH && t->g && t->g->parent == g);
    CHECK(e && e->kind == ANVIL_ATTR_GRAPH && e->g);
    if (t && t->g && e && e->g) {
        CHECK_EQ(t->g->opset, 16);
        int32_t xn = anvil__graph_find(t->g, "xn"), k = anvil__graph_find(t->g, "k");
        CHECK(xn >= 0 && (t->g->values[xn].flags & ANVIL_VALUE_OUTER));
        CHECK(k >= 0 && (t->g->values[k].flags & ANVIL_VALUE_OUTER));
        CHECK(k >= 0 && t->g->values[k].dtype == ANVIL_DTYPE_F32);
        CHECK_EQ(e->g->n_inits, 1);
        CHECK(e->g->n_inits == 1 && e->g->inits[0].owned);
        int32_t two = anvil__graph_find(e->g, "two");
        CHECK(two >= 0 && !(e->g->values[two].flags & ANVIL_VALUE_OUTER));
    }
    unload(&l);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(DATA "/if.onnx", &m));
    if (m) {
        run_if(m, true, 9, 18);  /* -x + k */
        run_if(m, false, 2, 4); /* x * 2 */
    }
    anvil_model_destroy(m);
}

static void test_external(void) {
    loaded l;
    CHECK_OK(load("external.onnx", &l));
    if (!l.m) return;
    const anvil__graph *g = l.m->graph;
    CHECK_EQ(l.m->n_files, 1); /* two tensors, one file, mapped once */
    const anvil__init *w = find_init(g, "w"), *v = find_init(g, "v");
    CHECK(w && v);
    if (w && v && l.m->n_files == 1) {
        CHECK(!w->owned && inside(w->t.data, &l.m->files[0]));
        CHECK_EQ(((const float *)w->t.data)[0], 2.0);
        CHECK_EQ(((const float *)w->t.data)[3], 5.0);
        CHECK_EQ(((const float *)v->t.data)[1], 7.0);
    }
    unload(&l);
    /* From memory without a base folder, external data cannot be found. */
    anvil__mapping map;
    CHECK_OK(anvil__map_file(DATA "/external.onnx", &map));
    anvil__onnx_model *m = NULL;
    CHECK_STATUS(anvil__onnx_import(map.data, map.size, NULL, &m), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "external.bin");
    CHECK(m == NULL);
    anvil__unmap(&map);
}

/* A symlink inside the model's folder that points outside it is refused. */
static void test_symlink_escape(void) {
    char dir[] = "/tmp/anvil_onnx_XXXXXX", link_path[64], abs_bin[1024];
    if (!mkdtemp(dir)) return;
    snprintf(link_path, sizeof link_path, "%s/external.bin", dir);
    if (!realpath(DATA "/external.bin", abs_bin) || symlink(abs_bin, link_path) != 0) {
        rmdir(dir);
        return;
    }
    anvil__mapping map;
    CHECK_OK(anvil__map_file(DATA "/external.onnx", &map));
    anvil__onnx_model *m = NULL;
    CHECK_STATUS(anvil__onnx_import(map.data, map.size, dir, &m), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "outside the model's folder");
    CHECK(m == NULL);
    anvil__unmap(&map);
    unlink(link_path);
    rmdir(dir);
}

static void test_small_good(void) {
    loaded l;
    CHECK_OK(load("ir3.onnx", &l));
    if (l.m) {
        CHECK_EQ(l.m->graph->n_inputs, 1); /* w is listed as input but is an initializer */
        CHECK_EQ(l.m->graph->n_inits, 1);
        CHECK_STR_EQ(l.m->graph->values[l.m->graph->inputs[0]].name, "x");
    }
    unload(&l);
    CHECK_OK(load("unsorted.onnx", &l));
    if (l.m && l.m->graph->n_nodes == 3) {
        CHECK_STR_EQ(l.m->graph->nodes[0].name, "n1");
        CHECK_STR_EQ(l.m->graph->nodes[1].name, "n2");
        CHECK_STR_EQ(l.m->graph->nodes[2].name, "n3");
    }
    unload(&l);
    CHECK_OK(load("opset28.onnx", &l));
    if (l.m) CHECK_EQ(l.m->opset, 28);
    unload(&l);
}

/* ---- one bad file per failure mode ---- */

static void test_bad_files(void) {
    expect_fail("bad_truncated.onnx", ANVIL_STATUS_PARSE_ERROR, "truncated", NULL);
    expect_fail("bad_garbage.onnx", ANVIL_STATUS_PARSE_ERROR, "malformed ONNX file", NULL);
    expect_fail("bad_no_graph.onnx", ANVIL_STATUS_PARSE_ERROR, "no graph", NULL);
    expect_fail("bad_deep.onnx", ANVIL_STATUS_PARSE_ERROR, "nested deeper", NULL);
    expect_fail("bad_negative_dim.onnx", ANVIL_STATUS_PARSE_ERROR, "tensor 'w'", "negative");
    expect_fail("bad_dims_overflow.onnx", ANVIL_STATUS_LIMIT_EXCEEDED, "tensor 'w'", "overflow");
    expect_fail("bad_rank.onnx", ANVIL_STATUS_LIMIT_EXCEEDED, "tensor 'w' has rank 9",
                "maximum of 8");
    expect_fail("bad_rank_input.onnx", ANVIL_STATUS_LIMIT_EXCEEDED, "value 'x' has rank 9", NULL);
    expect_fail("bad_raw_size.onnx", ANVIL_STATUS_PARSE_ERROR, "raw_data has 20 bytes",
                "expected 24");
    expect_fail("bad_typed_count.onnx", ANVIL_STATUS_PARSE_ERROR, "float_data holds 5 values",
                "expected 6");
    expect_fail("bad_ext_missing.onnx", ANVIL_STATUS_NOT_FOUND, "tensor 'w'", "missing.bin");
    expect_fail("bad_ext_escape.onnx", ANVIL_STATUS_INVALID_ARGUMENT, "'../external.bin'",
                "leaves the model's folder");
    expect_fail("bad_ext_absolute.onnx", ANVIL_STATUS_INVALID_ARGUMENT, "'/etc/passwd'",
                "absolute");
    expect_fail("bad_ext_offset.onnx", ANVIL_STATUS_PARSE_ERROR, "offset 1000",
                "past the end of 'external.bin'");
    expect_fail("bad_ext_length.onnx", ANVIL_STATUS_PARSE_ERROR, "length 12", "16 bytes");
    expect_fail("bad_cycle.onnx", ANVIL_STATUS_INVALID_GRAPH, "cycle", "loop_");
    expect_fail("bad_unknown_op.onnx", ANVIL_STATUS_UNSUPPORTED,
                "unsupported ops: Foo (nodes 'a', 'b'); Bar (node 'c'); com.example.Baz "
                "(node 'd')",
                NULL);
    expect_fail("bad_missing_attr.onnx", ANVIL_STATUS_INVALID_GRAPH, "cast0", "'to'");
    expect_fail("bad_undefined.onnx", ANVIL_STATUS_INVALID_GRAPH, "'add0'", "'nowhere'");
    expect_fail("bad_defined_twice.onnx", ANVIL_STATUS_INVALID_GRAPH, "'t' is defined twice",
                "second");
    expect_fail("bad_opset.onnx", ANVIL_STATUS_UNSUPPORTED, "opset", "99");
    expect_fail("bad_dtype.onnx", ANVIL_STATUS_UNSUPPORTED, "unsupported element types: string",
                "'x'");
}

/* ---- real models ---- */

static void test_shared_models(void) {
    static const char *const names[] = {"mobilenet_v2", "mobilenet_v2_bn", "transformer_enc"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s/v1.onnx", ANVIL_SHARED_DIR, names[k]);
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "skipping %s (absent)\n", path);
            continue;
        }
        anvil__mapping map;
        CHECK_OK(anvil__map_file(path, &map));
        anvil__onnx_model *m = NULL;
        CHECK_OK(anvil__onnx_import(map.data, map.size, NULL, &m));
        if (m) {
            const anvil__graph *g = m->graph;
            CHECK_EQ(g->n_inputs, 1);
            CHECK_EQ(g->n_outputs, 1);
            CHECK(g->n_inits > 20);
            CHECK(g->n_nodes > 50);
            CHECK_EQ(m->opset, 14);
            size_t views = 0, bytes = 0;
            for (int32_t i = 0; i < g->n_inits; i++) {
                const anvil__init *in = &g->inits[i];
                bytes += in->t.bytes;
                if (in->owned) continue;
                views++;
                CHECK(inside(in->t.data, &map));
                CHECK(inside((const uint8_t *)in->t.data + in->t.bytes - 1, &map));
            }
            CHECK(views > 0);
            CHECK(bytes <= map.size && bytes > map.size / 2); /* the weights are the file */
            for (int32_t i = 0; i < g->n_nodes; i++) CHECK(g->nodes[i].op >= 0);
            fprintf(stderr, "%s: %d nodes, %d initializers (%zu viewed in place)\n", names[k],
                    (int)g->n_nodes, (int)g->n_inits, views);
        }
        anvil__onnx_model_destroy(m);
        anvil__unmap(&map);
    }
}

static void check_pb(const char *dir, const char *file, const anvil__value *v) {
    char path[1024];
    snprintf(path, sizeof path, "%s/test_data_set_0/%s", dir, file);
    anvil__mapping map;
    CHECK_OK(anvil__map_file(path, &map));
    anvil__tensor t;
    char *name = NULL;
    CHECK_OK(anvil__onnx_read_tensor(map.data, map.size, &t, &name));
    CHECK_EQ(t.dtype, v->dtype);
    CHECK_EQ(t.rank, v->rank);
    for (int32_t d = 0; d < t.rank && d < v->rank; d++)
        if (v->dims[d] >= 0) CHECK_EQ(t.dims[d], v->dims[d]);
    CHECK(t.data != NULL);
    anvil__free(t.data);
    anvil__free(name);
    anvil__unmap(&map);
}

static void test_conformance_models(void) {
    static const char *const names[] = {
        "test_abs", "test_add_bcast", "test_constant", "test_layer_normalization_2d_axis0_expanded",
        "test_cast_FLOAT_to_FLOAT16", "test_cast_FLOAT16_to_FLOAT", "test_gather_0",
        "test_conv_with_strides_padding"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char dir[512], path[600];
        snprintf(dir, sizeof dir, "%s/onnx-node-tests/%s", ANVIL_SHARED_DIR, names[k]);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        if (access(path, R_OK) != 0) continue;
        anvil__mapping map;
        CHECK_OK(anvil__map_file(path, &map));
        anvil__onnx_model *m = NULL;
        CHECK_OK(anvil__onnx_import(map.data, map.size, dir, &m));
        if (m) {
            const anvil__graph *g = m->graph;
            CHECK(g->n_nodes >= 1);
            CHECK(g->n_outputs >= 1);
            if (g->n_inputs > 0) check_pb(dir, "input_0.pb", &g->values[g->inputs[0]]);
            check_pb(dir, "output_0.pb", &g->values[g->outputs[0]]);
        }
        anvil__onnx_model_destroy(m);
        anvil__unmap(&map);
    }
}

/* Every conformance model imports, or fails only because an op or type is unsupported. */
static void test_all_conformance_models(void) {
    char manifest[512], line[256];
    snprintf(manifest, sizeof manifest, "%s/onnx-node-tests/MANIFEST.txt", ANVIL_SHARED_DIR);
    FILE *f = fopen(manifest, "r");
    if (!f) return;
    int ok = 0, unsupported = 0, total = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        char dir[512], path[600];
        snprintf(dir, sizeof dir, "%s/onnx-node-tests/%s", ANVIL_SHARED_DIR, line);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        anvil__mapping map;
        if (anvil__map_file(path, &map) != ANVIL_OK) continue;
        anvil__onnx_model *m = NULL;
        anvil_status s = anvil__onnx_import(map.data, map.size, dir, &m);
        total++;
        if (s == ANVIL_OK) ok++;
        else if (s == ANVIL_STATUS_UNSUPPORTED) unsupported++;
        else fprintf(stderr, "%s: %s: %s\n", line, anvil_status_string(s), anvil_last_error());
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_UNSUPPORTED);
        anvil__onnx_model_destroy(m);
        anvil__unmap(&map);
    }
    fclose(f);
    fprintf(stderr, "conformance models: %d imported, %d unsupported, of %d\n", ok, unsupported,
            total);
}

/* ---- hostile variations of good files ---- */

static void sweep(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DATA, name);
    anvil__mapping map;
    CHECK_OK(anvil__map_file(path, &map));
    uint8_t *buf = malloc(map.size);
    int failures_without_message = 0;
    for (size_t cut = 0; cut < map.size; cut++) { /* every truncation */
        memcpy(buf, map.data, cut);
        anvil__onnx_model *m = NULL;
        anvil__error_clear();
        anvil_status s = anvil__onnx_import(buf, cut, DATA, &m);
        if (s != ANVIL_OK && anvil_last_error()[0] == '\0') failures_without_message++;
        CHECK((s == ANVIL_OK) == (m != NULL));
        anvil__onnx_model_destroy(m);
    }
    for (size_t i = 0; i < map.size; i++) { /* every byte flipped */
        memcpy(buf, map.data, map.size);
        buf[i] ^= 0xff;
        anvil__onnx_model *m = NULL;
        anvil__error_clear();
        anvil_status s = anvil__onnx_import(buf, map.size, DATA, &m);
        if (s != ANVIL_OK && anvil_last_error()[0] == '\0') failures_without_message++;
        CHECK((s == ANVIL_OK) == (m != NULL));
        anvil__onnx_model_destroy(m);
    }
    CHECK_EQ(failures_without_message, 0);
    free(buf);
    anvil__unmap(&map);
}

/* Each allocation in turn fails: the import reports OUT_OF_MEMORY (or LIMIT_EXCEEDED), leaks
 * nothing (the sanitizer build checks) and eventually succeeds. */
static void alloc_failures(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DATA, name);
    anvil__mapping map;
    CHECK_OK(anvil__map_file(path, &map));
    bool succeeded = false;
    for (long n = 0; n < 5000 && !succeeded; n++) {
        anvil__onnx_model *m = NULL;
        anvil__alloc_fail_after(n);
        anvil_status s = anvil__onnx_import(map.data, map.size, DATA, &m);
        anvil__alloc_fail_after(-1);
        if (s == ANVIL_OK) succeeded = true;
        else if (s != ANVIL_STATUS_OUT_OF_MEMORY)
            fprintf(stderr, "%s: failing allocation %ld gave %s: %s\n", name, n,
                    anvil_status_string(s), anvil_last_error());
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        CHECK((s == ANVIL_OK) == (m != NULL));
        anvil__onnx_model_destroy(m);
    }
    CHECK(succeeded);
    anvil__unmap(&map);
}

static void test_read_tensor_errors(void) {
    anvil__tensor t;
    char *name = NULL;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    CHECK_STATUS(anvil__onnx_read_tensor(garbage, sizeof garbage, &t, &name),
                 ANVIL_STATUS_PARSE_ERROR);
    CHECK(name == NULL && t.data == NULL);
    /* dims [2], FLOAT, raw_data of 4 bytes: size mismatch */
    static const uint8_t short_raw[] = {0x08, 0x02, 0x10, 0x01, 0x4a, 0x04, 0, 0, 0, 0};
    CHECK_STATUS(anvil__onnx_read_tensor(short_raw, sizeof short_raw, &t, &name),
                 ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "expected 8");
    /* dims [1], STRING */
    static const uint8_t str[] = {0x08, 0x01, 0x10, 0x08, 0x32, 0x01, 'a'};
    CHECK_STATUS(anvil__onnx_read_tensor(str, sizeof str, &t, &name), ANVIL_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(anvil_last_error(), "string");
    static const uint8_t ok[] = {0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 'v', 0x4a, 0x08,
                                 0,    0,    0x80, 0x3f, 0,    0,    0,   0x40};
    CHECK_OK(anvil__onnx_read_tensor(ok, sizeof ok, &t, &name));
    CHECK_STR_EQ(name, "v");
    CHECK(t.dtype == ANVIL_DTYPE_F32 && t.rank == 1 && t.dims[0] == 2);
    if (t.data) CHECK_EQ(((float *)t.data)[1], 2.0);
    anvil__free(t.data);
    anvil__free(name);
}

int main(void) {
    test_add();
    test_typed();
    test_if();
    test_external();
    test_symlink_escape();
    test_small_good();
    test_bad_files();
    test_read_tensor_errors();
    test_shared_models();
    test_conformance_models();
    test_all_conformance_models();
    sweep("if.onnx");
    sweep("typed.onnx");
    alloc_failures("add.onnx");
    alloc_failures("if.onnx");
    alloc_failures("typed.onnx");
    alloc_failures("external.onnx");
    return check_exit();
}
