/*
 * test_engine_graph_io.c — the byte streams of bytes.h and graph serialization for engine
 * files: round trips (bytes identical, listings identical) of every loadable ONNX conformance
 * model, the shared models and a hand-built graph with every attribute kind, post-ops, flags
 * and nested subgraphs; truncated, bit-flipped and hand-crafted hostile streams. The container
 * is tested in test_engine_format.c.
 */
#include "anvil.h"
#include "api/model.h"
#include "check.h"
#include "engine/file_format.h"
#include "engine/serialize_graph.h"
#include "ops/op.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- helpers ---- */

static void sink(void *user, const char *text, size_t length) {
    anvil__bytes_put(user, text, length);
}

/* The printed listing as a NUL-terminated string (free with anvil__bytes_free). */
static anvil__bytes listing(const anvil__graph *g) {
    anvil__bytes b = ANVIL_BYTES_INIT;
    CHECK_OK(anvil__graph_print(g, sink, &b));
    anvil__bytes_u8(&b, 0);
    return b;
}

static bool same_bytes(const anvil__bytes *a, const anvil__bytes *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* serialize → deserialize → serialize: identical bytes; identical listings when data
 * travels. Returns false (with a note) on the first difference. */
static bool round_trip(const anvil__graph *g, uint32_t flags, const char *label) {
    anvil__bytes a = ANVIL_BYTES_INIT, b = ANVIL_BYTES_INIT;
    anvil__graph *g2 = NULL;
    bool ok = anvil__graph_serialize(g, flags, &a) == ANVIL_OK &&
              anvil__graph_deserialize(a.data, a.len, NULL, &g2) == ANVIL_OK &&
              anvil__graph_serialize(g2, flags, &b) == ANVIL_OK && same_bytes(&a, &b);
    if (ok && (flags & ANVIL_GRAPH_SER_INIT_DATA)) {
        anvil__bytes p1 = listing(g), p2 = listing(g2);
        ok = same_bytes(&p1, &p2);
        if (!ok) fprintf(stderr, "listings differ:\n%s\n----\n%s\n", p1.data, p2.data);
        for (int32_t i = 0; ok && i < g->n_inits; i++) /* the weights themselves */
            ok = g->inits[i].t.bytes == g2->inits[i].t.bytes &&
                 (!g->inits[i].t.data ||
                  memcmp(g->inits[i].t.data, g2->inits[i].t.data, g->inits[i].t.bytes) == 0);
        anvil__bytes_free(&p1);
        anvil__bytes_free(&p2);
    }
    if (!ok) {
        fprintf(stderr, "round trip of %s (flags %u) failed: %s\n", label, (unsigned)flags,
                anvil_last_error());
        check_failures_++;
    }
    anvil__graph_destroy(g2);
    anvil__bytes_free(&a);
    anvil__bytes_free(&b);
    return ok;
}

static bool model_round_trip(const char *path) {
    anvil_model *m = NULL;
    if (anvil_model_load(path, &m) != ANVIL_OK) return false; /* not loadable: not our test */
    round_trip(m->graph, ANVIL_GRAPH_SER_INIT_DATA, path);
    round_trip(m->graph, 0, path);
    anvil_model_destroy(m);
    return true;
}

/* ---- bytes.h ---- */

static void test_bytes(void) {
    anvil__bytes b = ANVIL_BYTES_INIT;
    anvil__bytes_u8(&b, 0xab);
    anvil__bytes_u32(&b, 0x01020304u);
    anvil__bytes_i64(&b, -5);
    anvil__bytes_f32(&b, -1.5f);
    anvil__bytes_f64(&b, 0.1);
    anvil__bytes_str(&b, "a\0b", 3);
    anvil__bytes_cstr(&b, NULL);
    anvil__bytes_align(&b, 0, 16);
    CHECK_OK(anvil__bytes_u64(&b, UINT64_MAX));
    CHECK_EQ(b.len % 8, 0);
    CHECK_EQ(b.data[1], 0x04); /* little-endian on any host */
    CHECK_EQ(b.data[4], 0x01);

    anvil__reader r;
    anvil__reader_init(&r, b.data, b.len, "test stream");
    CHECK_EQ(anvil__read_u8(&r, "u8"), 0xab);
    CHECK_EQ(anvil__read_u32(&r, "u32"), 0x01020304u);
    CHECK_EQ(anvil__read_i64(&r, "i64"), -5);
    CHECK(anvil__read_f32(&r, "f32") == -1.5f);
    CHECK(anvil__read_f64(&r, "f64") == 0.1);
    size_t len = 0;
    char *s = anvil__read_str(&r, ANVIL_STR_BINARY, &len, "binary");
    CHECK(s && len == 3 && s[0] == 'a' && s[1] == 0 && s[2] == 'b' && s[3] == 0);
    anvil__free(s);
    CHECK(anvil__read_str(&r, ANVIL_STR_NULLABLE, NULL, "null") == NULL);
    anvil__read_align(&r, 16, "pad");
    CHECK_EQ(anvil__read_u64(&r, "u64") == UINT64_MAX, 1);
    CHECK_EQ(r.status, ANVIL_OK);
    CHECK_EQ(anvil__reader_left(&r), 0);
    /* Truncation is sticky and names the field, the need and what was left. */
    CHECK_EQ(anvil__read_u32(&r, "tail field"), 0);
    CHECK_EQ(r.status, ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "tail field needs 4 bytes, only 0 left");
    CHECK_CONTAINS(anvil_last_error(), "test stream");
    CHECK_EQ(anvil__read_u8(&r, "after"), 0);
    CHECK_CONTAINS(anvil_last_error(), "tail field"); /* first failure wins */

    /* A string with NUL is refused unless binary; NULL refused unless nullable. */
    anvil__reader_init(&r, b.data + 1 + 4 + 8 + 4 + 8, 7, "s");
    CHECK(anvil__read_str(&r, 0, NULL, "name") == NULL);
    CHECK_CONTAINS(anvil_last_error(), "name contains a NUL byte");
    anvil__reader_init(&r, b.data + 1 + 4 + 8 + 4 + 8 + 7, 4, "s");
    CHECK(anvil__read_str(&r, 0, NULL, "name") == NULL && r.status == ANVIL_STATUS_PARSE_ERROR);
    /* Counts: bounded by max and by the bytes left. */
    anvil__bytes c = ANVIL_BYTES_INIT;
    anvil__bytes_u32(&c, 1000);
    anvil__bytes_zeros(&c, 100);
    anvil__reader_init(&r, c.data, c.len, "c");
    CHECK_EQ(anvil__read_count(&r, 5000, 4, "item count"), 0);
    CHECK_CONTAINS(anvil_last_error(), "item count 1000 is out of range");
    anvil__reader_init(&r, c.data, c.len, "c");
    CHECK_EQ(anvil__read_count(&r, 999, 0, "item count"), 0);
    CHECK_CONTAINS(anvil_last_error(), "(max 999)");
    anvil__reader_init(&r, c.data, c.len, "c");
    CHECK_EQ(anvil__read_count(&r, 5000, 0, "item count"), 1000);
    CHECK_OK(anvil__bytes_set_u32(&c, 0, 7));
    CHECK_EQ(c.data[0], 7);
    CHECK_STATUS(anvil__bytes_set_u32(&c, c.len - 2, 7), ANVIL_STATUS_INTERNAL);
    CHECK_STATUS(anvil__bytes_u8(&c, 1), ANVIL_STATUS_INTERNAL); /* sticky on the writer too */
    anvil__bytes_free(&c);
    anvil__bytes_free(&b);
}

/* ---- a hand-built graph with every IR feature ---- */

static int32_t value(anvil__graph *g, const char *name, anvil_dtype dt, int32_t rank,
                     const int64_t *dims) {
    int32_t id = -1;
    CHECK_OK(anvil__graph_add_value(g, name, &id));
    g->values[id].dtype = dt;
    g->values[id].rank = rank;
    for (int32_t d = 0; d < rank; d++)
        g->values[id].dims[d] = dims[d];
    return id;
}

static int32_t node(anvil__graph *g, const char *name, const char *op, const int32_t *in,
                    int32_t n_in, const int32_t *out, int32_t n_out) {
    int32_t id = -1;
    CHECK_OK(anvil__graph_add_node(g, name, op, "", in, n_in, out, n_out, &id));
    g->nodes[id].op = anvil__op_find(op, "");
    return id;
}

static anvil__attr *attr(anvil__graph *g, int32_t n, const char *name, anvil__attr_kind kind) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(g, n, name, &a));
    a->kind = kind;
    return a;
}

/* A branch graph of `parent` reading parent value `outer` and producing one output. */
static anvil__graph *branch(anvil__graph *parent, const char *name, const char *op,
                            const char *outer, int nest) {
    anvil__graph *b = anvil__graph_new(parent);
    b->name = anvil__strdup(name);
    int32_t o = value(b, outer, ANVIL_DTYPE_UNDEFINED, -1, NULL);
    b->values[o].flags |= ANVIL_VALUE_OUTER;
    char out_name[64];
    snprintf(out_name, sizeof out_name, "%s_out", name);
    int32_t y = value(b, out_name, ANVIL_DTYPE_F32, -1, NULL);
    node(b, "", op, &o, 1, &y, 1);
    if (nest > 0) { /* an If inside the branch, reading the outermost value through two levels */
        int32_t cond = value(b, "inner_cond", ANVIL_DTYPE_BOOL, 0, NULL);
        b->values[cond].flags |= ANVIL_VALUE_OUTER;
        int32_t z = value(b, "inner_if_out", ANVIL_DTYPE_F32, -1, NULL);
        int32_t n = node(b, "inner_if", "If", &cond, 1, &z, 1);
        attr(b, n, "then_branch", ANVIL_ATTR_GRAPH)->g = branch(b, "deep_then", "Neg", outer, 0);
        attr(b, n, "else_branch", ANVIL_ATTR_GRAPH)->g = branch(b, "deep_else", "Abs", outer, 0);
    }
    CHECK_OK(anvil__graph_add_output(b, y));
    return b;
}

static const float k_bias[2] = {0.5f, -0.25f}; /* a borrowed initializer's bytes */

static anvil__graph *rich_graph(void) {
    anvil__graph *g = anvil__graph_new(NULL);
    g->name = anvil__strdup("rich");
    g->opset = 17;
    int64_t xd[4] = {-1, 3, 4, 4}, wd[4] = {2, 3, 1, 1}, bd[1] = {2}, cd[4] = {-1, 2, 4, 4};
    int32_t x = value(g, "x", ANVIL_DTYPE_F32, 4, xd);
    g->values[x].dim_names[0] = anvil__strdup("batch");
    int32_t res = value(g, "res", ANVIL_DTYPE_F32, 4, cd);
    int32_t cond = value(g, "inner_cond", ANVIL_DTYPE_BOOL, 0, NULL);
    CHECK_OK(anvil__graph_add_input(g, x));
    CHECK_OK(anvil__graph_add_input(g, res));
    CHECK_OK(anvil__graph_add_input(g, cond));
    anvil__tensor w = {0}, b = {0};
    CHECK_OK(anvil__tensor_shape(&w, ANVIL_DTYPE_F32, 4, wd));
    CHECK_OK(anvil__tensor_alloc(&w));
    for (int i = 0; i < 6; i++)
        ((float *)w.data)[i] = (float)i - 2.5f;
    CHECK_OK(anvil__tensor_shape(&b, ANVIL_DTYPE_F32, 1, bd));
    b.data = (void *)k_bias;
    int32_t wv = value(g, "w", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    int32_t bv = value(g, "b", ANVIL_DTYPE_UNDEFINED, -1, NULL);
    CHECK_OK(anvil__graph_add_init(g, wv, &w, true));
    CHECK_OK(anvil__graph_add_init(g, bv, &b, false));

    int32_t c = value(g, "c", ANVIL_DTYPE_F32, 4, cd);
    int32_t conv_in[4] = {x, wv, bv, res};
    int32_t conv = node(g, "conv", "Conv", conv_in, 4, &c, 1);
    anvil__node *cn = &g->nodes[conv];
    cn->post[0] = (anvil__post_op){anvil__op_find("Clip", ""), 0.0f, 6.0f, -1};
    cn->post[1] = (anvil__post_op){anvil__op_find("Add", ""), 1.0f, 0.0f, 3};
    cn->n_post = 2;
    CHECK_OK(anvil__node_note_fused(cn, "BatchNormalization"));
    CHECK_OK(anvil__node_note_fused(cn, "Clip+Add"));
    anvil__attr *a = attr(g, conv, "strides", ANVIL_ATTR_INTS);
    a->n = 2;
    a->ints = anvil__malloc(2 * sizeof *a->ints);
    a->ints[0] = 1;
    a->ints[1] = INT64_MIN;

    int32_t k = value(g, "k", ANVIL_DTYPE_I64, 1, bd);
    int32_t kn = node(g, "const", "Constant", NULL, 0, &k, 1);
    a = attr(g, kn, "value", ANVIL_ATTR_TENSOR);
    CHECK_OK(anvil__tensor_shape(&a->t, ANVIL_DTYPE_I64, 1, bd));
    CHECK_OK(anvil__tensor_alloc(&a->t));
    ((int64_t *)a->t.data)[0] = 5;
    ((int64_t *)a->t.data)[1] = -7;
    attr(g, kn, "f", ANVIL_ATTR_FLOAT)->f = -0.1;
    attr(g, kn, "i", ANVIL_ATTR_INT)->i = -3;
    a = attr(g, kn, "s", ANVIL_ATTR_STRING);
    a->s = anvil__malloc(4);
    memcpy(a->s, "a\0b", 4);
    a->s_len = 3;
    a = attr(g, kn, "fs", ANVIL_ATTR_FLOATS);
    a->n = 3;
    a->floats = anvil__malloc(3 * sizeof *a->floats);
    a->floats[0] = 1.5f;
    a->floats[1] = -0.0f;
    a->floats[2] = NAN;
    a = attr(g, kn, "ss", ANVIL_ATTR_STRINGS);
    a->n = 2;
    a->strings = anvil__calloc(2, sizeof *a->strings);
    a->strings[0] = anvil__strdup("p");
    a->strings[1] = anvil__strdup("");
    attr(g, kn, "empty", ANVIL_ATTR_INTS);

    int32_t dead_out = value(g, "dead_out", ANVIL_DTYPE_F32, -1, NULL);
    g->nodes[node(g, "dead", "Relu", &x, 1, &dead_out, 1)].flags = ANVIL_NODE_DEAD;

    int32_t y = value(g, "y", ANVIL_DTYPE_F32, -1, NULL);
    int32_t ifn = node(g, "if", "If", &cond, 1, &y, 1);
    attr(g, ifn, "then_branch", ANVIL_ATTR_GRAPH)->g = branch(g, "then", "Identity", "c", 1);
    attr(g, ifn, "else_branch", ANVIL_ATTR_GRAPH)->g = branch(g, "else", "Neg", "c", 0);
    int32_t omitted[3] = {y, -1, k};
    int32_t z = value(g, "z", ANVIL_DTYPE_F32, -1, NULL);
    node(g, "sum", "Sum", omitted, 3, &z, 1);
    /* anvil's internal op, as the weight graph holds it: found only in domain "anvil". */
    int32_t packed = value(g, "w_packed", ANVIL_DTYPE_F32, 4, wd), pack = -1;
    CHECK_OK(anvil__graph_add_node(g, "pack", "Pack", "anvil", &wv, 1, &packed, 1, &pack));
    g->nodes[pack].op = anvil__op_find_internal("Pack");
    CHECK(g->nodes[pack].op >= 0);
    a = attr(g, pack, "layout", ANVIL_ATTR_STRING);
    a->s = anvil__malloc(5);
    memcpy(a->s, "\x01\0\xff\0", 5); /* an opaque blob with NULs */
    a->s_len = 4;
    CHECK_OK(anvil__graph_add_output(g, z));
    CHECK_OK(anvil__graph_add_output(g, k));
    CHECK_OK(anvil__graph_verify(g));
    return g;
}

static void test_rich_graph(void) {
    anvil__graph *g = rich_graph();
    round_trip(g, ANVIL_GRAPH_SER_INIT_DATA, "rich graph");
    round_trip(g, 0, "rich graph (no data)");

    anvil__bytes a = ANVIL_BYTES_INIT;
    anvil__bytes_put(&a, "xyz", 3); /* appending after other bytes: alignment is relative */
    CHECK_OK(anvil__graph_serialize(g, ANVIL_GRAPH_SER_INIT_DATA, &a));
    anvil__graph *h = NULL;
    CHECK_OK(anvil__graph_deserialize(a.data + 3, a.len - 3, NULL, &h));
    if (h) {
        const anvil__node *cn = &h->nodes[0];
        CHECK_EQ(cn->op, anvil__op_find("Conv", ""));
        CHECK_EQ(cn->n_post, 2);
        CHECK_EQ(cn->post[0].op, anvil__op_find("Clip", ""));
        CHECK(cn->post[0].beta == 6.0f && cn->post[1].alpha == 1.0f);
        CHECK_EQ(cn->post[1].input, 3);
        CHECK_STR_EQ(cn->fused, "BatchNormalization+Clip+Add");
        CHECK_EQ(h->nodes[2].flags, ANVIL_NODE_DEAD);
        const anvil__attr *s = anvil__node_attr(&h->nodes[1], "s");
        CHECK(s && s->s_len == 3 && memcmp(s->s, "a\0b", 4) == 0);
        const anvil__attr *fs = anvil__node_attr(&h->nodes[1], "fs");
        CHECK(fs && fs->n == 3 && isnan(fs->floats[2]) && signbit(fs->floats[1]));
        CHECK_STR_EQ(h->values[0].dim_names[0], "batch");
        CHECK(h->values[0].dim_names[1] == NULL);
        /* w was owned: copied; b was borrowed: a view into the buffer, 64-aligned in it. */
        CHECK(h->inits[0].owned && h->inits[1].owned == false);
        const uint8_t *bp = h->inits[1].t.data;
        CHECK(bp > a.data && bp < a.data + a.len && (size_t)(bp - (a.data + 3)) % 64 == 0);
        CHECK(memcmp(bp, k_bias, sizeof k_bias) == 0);
        const anvil__graph *deep = anvil__node_attr(&h->nodes[3], "then_branch")->g;
        CHECK(deep && deep->parent == h && deep->nodes[1].attrs[0].g->parent == deep);
        CHECK_EQ(h->nodes[5].op, anvil__op_find_internal("Pack"));
        CHECK(h->nodes[5].attrs[0].s_len == 4 &&
              memcmp(h->nodes[5].attrs[0].s, "\x01\0\xff", 4) == 0);
    }
    anvil__graph_destroy(h);
    anvil__bytes_free(&a);

    /* Stripped: initializers come back shape-only, and the graph still verifies. */
    CHECK_OK(anvil__graph_serialize(g, 0, &a));
    CHECK_OK(anvil__graph_deserialize(a.data, a.len, NULL, &h));
    CHECK(h && h->inits[0].t.data == NULL && h->inits[0].t.bytes == 24);
    anvil__graph_destroy(h);

    /* Every truncation fails cleanly; every byte flip fails cleanly or round-trips. */
    anvil__bytes_free(&a);
    CHECK_OK(anvil__graph_serialize(g, ANVIL_GRAPH_SER_INIT_DATA, &a));
    int bad = 0;
    for (size_t n = 0; n < a.len; n++) {
        anvil__error_clear();
        h = NULL;
        if (anvil__graph_deserialize(a.data, n, NULL, &h) != ANVIL_STATUS_PARSE_ERROR || h ||
            !anvil_last_error()[0])
            bad++;
    }
    CHECK_EQ(bad, 0);
    for (size_t i = 0; i < a.len; i++) {
        a.data[i] ^= 0x5a;
        anvil__error_clear();
        h = NULL;
        anvil_status s = anvil__graph_deserialize(a.data, a.len, NULL, &h);
        if (s == ANVIL_OK)
            anvil__graph_destroy(h);
        else if (h || !anvil_last_error()[0])
            bad++;
        a.data[i] ^= 0x5a;
    }
    CHECK_EQ(bad, 0);
    anvil__bytes_free(&a);
    anvil__graph_destroy(g);
}

/* ---- hand-written streams: the format as documented, independent of the writer ---- */

typedef struct knobs {
    uint32_t dtype, n_values, attr_kind, n_post, flags_x;
    int32_t rank, in_id;
    const char *op;
    bool trailing, attr;
} knobs;

static knobs defaults(void) {
    knobs k = {ANVIL_DTYPE_F32, 2, 0, 0, ANVIL_VALUE_INPUT, 1, 0, "Relu", false, false};
    return k;
}

static void put_value(anvil__bytes *b, const char *name, uint32_t dtype, int32_t rank,
                      uint32_t flags) {
    anvil__bytes_cstr(b, name);
    anvil__bytes_u32(b, dtype);
    anvil__bytes_i32(b, rank);
    for (int32_t d = 0; d < rank && d < 16; d++)
        anvil__bytes_i64(b, 4);
    for (int32_t d = 0; d < rank && d < 16; d++)
        anvil__bytes_cstr(b, NULL);
    anvil__bytes_u32(b, flags);
    anvil__bytes_i32(b, -1);
}

/* y = op(x) with x, y: f32[4] — docs/engine-format.md §3 written out by hand. */
static anvil__bytes craft(const knobs *k) {
    anvil__bytes b = ANVIL_BYTES_INIT;
    anvil__bytes_put(&b, "AGRF", 4);
    anvil__bytes_u32(&b, 1);
    anvil__bytes_u32(&b, 0);
    anvil__bytes_cstr(&b, "g");
    anvil__bytes_i64(&b, 17);
    anvil__bytes_u32(&b, k->n_values);
    put_value(&b, "x", k->dtype, k->rank, k->flags_x);
    put_value(&b, "y", ANVIL_DTYPE_F32, 1, ANVIL_VALUE_OUTPUT);
    anvil__bytes_u32(&b, 0); /* initializers */
    anvil__bytes_u32(&b, 1); /* nodes */
    anvil__bytes_cstr(&b, "n");
    anvil__bytes_cstr(&b, k->op);
    anvil__bytes_cstr(&b, NULL);
    anvil__bytes_u32(&b, 1);
    anvil__bytes_i32(&b, k->in_id);
    anvil__bytes_u32(&b, 1);
    anvil__bytes_i32(&b, 1);
    anvil__bytes_u32(&b, 0); /* node flags */
    anvil__bytes_u32(&b, k->attr ? 1 : 0);
    if (k->attr) {
        anvil__bytes_cstr(&b, "a");
        anvil__bytes_u32(&b, k->attr_kind);
        anvil__bytes_i64(&b, 1);
    }
    anvil__bytes_u32(&b, k->n_post);
    for (uint32_t p = 0; p < k->n_post; p++) {
        anvil__bytes_cstr(&b, "Relu");
        anvil__bytes_cstr(&b, "");
        anvil__bytes_f32(&b, 0);
        anvil__bytes_f32(&b, 0);
        anvil__bytes_i32(&b, -1);
    }
    anvil__bytes_cstr(&b, NULL); /* fused */
    anvil__bytes_u32(&b, 1);
    anvil__bytes_i32(&b, 0);
    anvil__bytes_u32(&b, 1);
    anvil__bytes_i32(&b, 1);
    if (k->trailing) anvil__bytes_u8(&b, 0);
    return b;
}

static void expect_crafted(const knobs *k, anvil_status want, const char *text) {
    anvil__bytes b = craft(k);
    anvil__graph *g = NULL;
    anvil_status s = anvil__graph_deserialize(b.data, b.len, NULL, &g);
    CHECK_EQ(s, want);
    if (s != want) fprintf(stderr, "  (%s) message: %s\n", text, anvil_last_error());
    if (want != ANVIL_OK) {
        CHECK(g == NULL);
        CHECK_CONTAINS(anvil_last_error(), text);
    } else if (g) {
        anvil__bytes again = ANVIL_BYTES_INIT; /* the writer agrees with the document */
        CHECK_OK(anvil__graph_serialize(g, 0, &again));
        CHECK(same_bytes(&b, &again));
        CHECK_EQ(g->nodes[0].op, anvil__op_find(k->op, ""));
        anvil__bytes_free(&again);
    }
    anvil__graph_destroy(g);
    anvil__bytes_free(&b);
}

/* depth levels of If nodes, each holding the next level's graph. */
static void put_nested(anvil__bytes *b, int levels) {
    anvil__bytes_cstr(b, NULL);
    anvil__bytes_i64(b, 17);
    anvil__bytes_u32(b, 1);
    put_value(b, "c", ANVIL_DTYPE_BOOL, 0, ANVIL_VALUE_INPUT);
    anvil__bytes_u32(b, 0);
    anvil__bytes_u32(b, 1);
    anvil__bytes_cstr(b, "if");
    anvil__bytes_cstr(b, "If");
    anvil__bytes_cstr(b, "");
    anvil__bytes_u32(b, 1);
    anvil__bytes_i32(b, 0);
    anvil__bytes_u32(b, 0);
    anvil__bytes_u32(b, 0);
    anvil__bytes_u32(b, levels > 0);
    if (levels > 0) {
        anvil__bytes_cstr(b, "then_branch");
        anvil__bytes_u32(b, ANVIL_ATTR_GRAPH);
        anvil__bytes_u8(b, 1);
        put_nested(b, levels - 1);
    }
    anvil__bytes_u32(b, 0);
    anvil__bytes_cstr(b, NULL);
    anvil__bytes_u32(b, 1);
    anvil__bytes_i32(b, 0);
    anvil__bytes_u32(b, 0);
}

static anvil_status nested(int levels) {
    anvil__bytes b = ANVIL_BYTES_INIT;
    anvil__bytes_put(&b, "AGRF", 4);
    anvil__bytes_u32(&b, 1);
    anvil__bytes_u32(&b, 0);
    put_nested(&b, levels);
    anvil__graph *g = NULL;
    anvil_status s = anvil__graph_deserialize(b.data, b.len, NULL, &g);
    anvil__graph_destroy(g);
    anvil__bytes_free(&b);
    return s;
}

static void test_crafted_streams(void) {
    knobs k = defaults();
    expect_crafted(&k, ANVIL_OK, "");
    k.rank = 9;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "rank 9 is out of range [-1, 8]");
    k = defaults();
    k.rank = -2;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "rank -2 is out of range");
    k = defaults();
    k.dtype = 99;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "invalid dtype 99");
    k = defaults();
    k.in_id = 5;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "value id 5 is out of range [-1, 2)");
    k = defaults();
    k.op = "NoSuchOp";
    expect_crafted(&k, ANVIL_STATUS_UNSUPPORTED, "op 'NoSuchOp' (domain '') is not an op");
    k = defaults();
    k.op = "Pack"; /* an internal op is only found in the "anvil" domain */
    expect_crafted(&k, ANVIL_STATUS_UNSUPPORTED, "op 'Pack'");
    k = defaults();
    k.attr = true;
    k.attr_kind = ANVIL_ATTR_INT;
    expect_crafted(&k, ANVIL_OK, "");
    k.attr_kind = 0;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "attribute 'a': invalid kind 0");
    k.attr_kind = ANVIL_ATTR_KIND_COUNT;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "invalid kind 9");
    k = defaults();
    k.n_post = 1;
    expect_crafted(&k, ANVIL_OK, "");
    k.n_post = ANVIL_MAX_POST_OPS + 1;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "post-op count 5 is out of range (max 4)");
    k = defaults();
    k.n_values = 100000000;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "value count 100000000 is out of range");
    k = defaults();
    k.n_values = 1; /* "y" is then read as the node count... and nothing fits */
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "serialized graph, offset");
    k = defaults();
    k.flags_x = 0; /* listed as a graph input without the input flag: verify refuses */
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "fails verification: graph input #0");
    k = defaults();
    k.flags_x = 0x100;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "unknown flags 0x100");
    k = defaults();
    k.trailing = true;
    expect_crafted(&k, ANVIL_STATUS_PARSE_ERROR, "1 unexpected bytes after the graph");

    CHECK_OK(nested(3));
    CHECK_OK(nested(ANVIL_GRAPH_MAX_DEPTH));
    CHECK_STATUS(nested(ANVIL_GRAPH_MAX_DEPTH + 1), ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "nested deeper than 64 levels");

    static const uint8_t junk[12] = "ONNXjunk....";
    anvil__graph *g = NULL;
    CHECK_STATUS(anvil__graph_deserialize(junk, sizeof junk, NULL, &g), ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "not a serialized anvil graph");
    CHECK_STATUS(anvil__graph_deserialize(junk, 0, NULL, &g), ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "magic needs 4 bytes, only 0 left");
}

/* ---- models ---- */

static void test_models(void) {
    char path[1024], name[256];
    snprintf(path, sizeof path, "%s/onnx-node-tests/MANIFEST.txt", ANVIL_SHARED_DIR);
    FILE *f = fopen(path, "r");
    int loaded = 0, listed = 0;
    while (f && fgets(name, sizeof name, f)) {
        name[strcspn(name, "\r\n")] = 0;
        if (!name[0]) continue;
        listed++;
        snprintf(path, sizeof path, "%s/onnx-node-tests/%s/model.onnx", ANVIL_SHARED_DIR, name);
        loaded += model_round_trip(path);
    }
    if (f) fclose(f);
    printf("conformance models: %d of %d loaded and round-tripped\n", loaded, listed);
    CHECK(!f || loaded > listed * 9 / 10);
    const char *models[] = {"mobilenet_v2", "mobilenet_v2_bn", "transformer_enc"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        snprintf(path, sizeof path, "%s/models/%s/v1.onnx", ANVIL_SHARED_DIR, models[i]);
        if (access(path, R_OK) != 0) continue;
        CHECK(model_round_trip(path));
        printf("%s: round-tripped\n", models[i]);
    }
    snprintf(path, sizeof path, "%s/onnx/if.onnx", ANVIL_TEST_DATA_DIR);
    CHECK(model_round_trip(path));
}

/* ---- fuzzing seeds (tests/fuzz/corpus_engine) ---- */

static void write_seed(const char *dir, const char *name, const anvil__bytes *b) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_OK(anvil__write_file_atomic(path, (const void *const[]){b->data}, &b->len, 1));
}

static void write_engine_seed(const char *dir, const char *name, const anvil__bytes *run,
                              const anvil__bytes *weights, bool stripped) {
    static const uint8_t meta[16] = "meta", plan[64] = "plan";
    static const uint8_t s0[3] = {1, 2, 3}, s1[70] = {4};
    const void *const slots[2] = {s0, s1};
    const size_t sizes[2] = {sizeof s0, sizeof s1};
    anvil__efile_section s[6] = {
        {.type = ANVIL_SECTION_META, .data = meta, .size = sizeof meta},
        {.type = ANVIL_SECTION_RUN_GRAPH, .data = run->data, .size = run->len, .align = 64},
        {.type = ANVIL_SECTION_WEIGHT_GRAPH,
         .data = weights->data,
         .size = weights->len,
         .align = 64},
        {.type = ANVIL_SECTION_PLAN, .data = plan, .size = sizeof plan}};
    anvil__bytes table = ANVIL_BYTES_INIT, img = ANVIL_BYTES_INIT;
    size_t n = 0;
    CHECK_OK(anvil__efile_slot_sections(slots, sizes, 2, stripped, &table, s + 4, &n));
    anvil__efile_header h = {ANVIL_BACKEND_CPU, "anvil-fuzz 1",
                             stripped ? ANVIL_EFILE_STRIPPED : 0};
    CHECK_OK(anvil__efile_build(&h, s, 4 + n, &img));
    write_seed(dir, name, &img);
    anvil__bytes_free(&table);
    anvil__bytes_free(&img);
}

static void write_corpus(const char *dir) {
    anvil__graph *rich = rich_graph();
    anvil_model *m = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/onnx/if.onnx", ANVIL_TEST_DATA_DIR);
    CHECK_OK(anvil_model_load(path, &m));
    anvil__bytes r = ANVIL_BYTES_INIT, rs = ANVIL_BYTES_INIT, w = ANVIL_BYTES_INIT;
    CHECK_OK(anvil__graph_serialize(rich, ANVIL_GRAPH_SER_INIT_DATA, &r));
    CHECK_OK(anvil__graph_serialize(rich, 0, &rs));
    if (m) CHECK_OK(anvil__graph_serialize(m->graph, ANVIL_GRAPH_SER_INIT_DATA, &w));
    write_seed(dir, "graph_rich", &r);
    write_seed(dir, "graph_rich_stripped", &rs);
    write_seed(dir, "graph_if", &w);
    write_engine_seed(dir, "engine_full", &r, &w, false);
    write_engine_seed(dir, "engine_stripped", &rs, &w, true);
    anvil__bytes_free(&r);
    anvil__bytes_free(&rs);
    anvil__bytes_free(&w);
    anvil_model_destroy(m);
    anvil__graph_destroy(rich);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
        write_corpus(argv[2]);
        return check_exit();
    }
    test_bytes();
    test_rich_graph();
    test_crafted_streams();
    test_models();
    return check_exit();
}
