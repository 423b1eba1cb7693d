/* Tests a refit whose weights include one bigger than the size up to which pack jobs hash their
 * own source and run one per thread (8 MiB): that weight is hashed in chunks by every thread
 * and packed after the other jobs. x[1,2304] → MatMul(w1 [2304,1024], 9.4 MB) → Add(b) → Relu
 * → MatMul(w2 [1024,16]) → y. A refit to other weights gives bit for bit the outputs of an
 * engine compiled with them, and back, and those are the model's outputs computed here in
 * plain C (so a packing bug both engines share is caught too); refitting the same weights
 * packs nothing; changing only the small weight leaves the big slot shared. */
#include "passes_harness.h"

#include "api/model.h"

#include <math.h>

enum { IN = 2304, HID = 1024, OUT = 16 };

static anvil__graph *model(void) {
    anvil__graph *g = new_graph(13);
    static const int64_t xd[] = {1, IN}, w1d[] = {IN, HID}, bd[] = {HID}, w2d[] = {HID, OUT};
    int32_t x = add_input(g, "x", 2, xd);
    int32_t w1 = add_init(g, "w1", ANVIL_DTYPE_F32, 2, w1d, NULL, -0.05f, 0.05f);
    int32_t b = add_init(g, "b", ANVIL_DTYPE_F32, 1, bd, NULL, -0.1f, 0.1f);
    int32_t w2 = add_init(g, "w2", ANVIL_DTYPE_F32, 2, w2d, NULL, -0.1f, 0.1f);
    int32_t h = node(g, "Relu", "h", 1, node(g, "Add", "hb", 2, node(g, "MatMul", "m1", 2, x, w1), b));
    add_output(g, node(g, "MatMul", "y", 2, h, w2));
    CHECK_OK(anvil__graph_toposort(g));
    return g;
}

static anvil_engine *compile_graph(anvil__graph *g) {
    struct anvil_model m;
    memset(&m, 0, sizeof m);
    m.graph = g;
    anvil_compile_options o = anvil_compile_options_default();
    o.autotune = 0; /* both engines get the same tactics and layouts */
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(&m, &o, &e));
    return e;
}

static anvil_tensor weight(const anvil__graph *g, const char *name) {
    const anvil__tensor *t = &g->inits[g->values[anvil__graph_find(g, name)].init].t;
    anvil_tensor p = {name, t->dtype, t->rank, {0}, t->data, t->bytes};
    memcpy(p.dims, t->dims, sizeof p.dims);
    return p;
}

static anvil_refit_report refit(anvil_engine *e, const anvil__graph *g, const anvil__graph *w2) {
    anvil_tensor t[3] = {weight(g, "w1"), weight(g, "b"), weight(w2 ? w2 : g, "w2")};
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, 3};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_refit_report r;
    memset(&r, 0, sizeof r);
    anvil_engine *out = NULL;
    CHECK_OK(anvil_engine_refit(e, &src, &o, &out, &r));
    return r;
}

static float x[IN];

/* y = relu(x·w1 + b)·w2 with g's weights, in double. */
static void reference(const anvil__graph *g, double *y) {
    const float *w1 = weight(g, "w1").data, *b = weight(g, "b").data, *w2 = weight(g, "w2").data;
    static double h[HID];
    for (int j = 0; j < HID; j++) {
        double a = b[j];
        for (int i = 0; i < IN; i++) a += (double)x[i] * w1[(size_t)i * HID + j];
        h[j] = a > 0 ? a : 0;
    }
    for (int o = 0; o < OUT; o++) {
        y[o] = 0;
        for (int j = 0; j < HID; j++) y[o] += h[j] * w2[(size_t)j * OUT + o];
    }
}

/* e and f give bit-identical outputs on one input, within 1e-4 of g's reference outputs. */
static void check_same_outputs(const anvil_engine *e, const anvil_engine *f, const anvil__graph *g) {
    anvil_tensor in = {"x", ANVIL_DTYPE_F32, 2, {1, IN}, x, sizeof x};
    anvil_context *c = NULL, *d = NULL;
    anvil_tensor_list *a = NULL, *b = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    CHECK_OK(anvil_context_create(f, &d));
    if (c) CHECK_OK(anvil_engine_run(c, &in, 1, &a));
    if (d) CHECK_OK(anvil_engine_run(d, &in, 1, &b));
    const anvil_tensor *ya = a ? anvil_tensor_list_get(a, 0) : NULL;
    const anvil_tensor *yb = b ? anvil_tensor_list_get(b, 0) : NULL;
    CHECK(ya && yb && ya->bytes == yb->bytes && memcmp(ya->data, yb->data, ya->bytes) == 0);
    double ref[OUT], mag = 0, err = 0;
    reference(g, ref);
    for (int o = 0; ya && ya->bytes == sizeof(float) * OUT && o < OUT; o++) {
        mag = fmax(mag, fabs(ref[o]));
        err = fmax(err, fabs(ref[o] - ((const float *)ya->data)[o]));
    }
    CHECK(ya && ya->bytes == sizeof(float) * OUT && mag > 0 && err <= 1e-4 * mag);
    anvil_tensor_list_destroy(a);
    anvil_tensor_list_destroy(b);
    anvil_context_destroy(c);
    anvil_context_destroy(d);
}

int main(void) {
    for (int i = 0; i < IN; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    anvil__graph *g1 = model(), *g2 = model(); /* the random sequence goes on: other weights */
    anvil_engine *e = compile_graph(g1), *e1 = compile_graph(g1), *e2 = compile_graph(g2);
    if (!e || !e1 || !e2) return check_exit();
    anvil_engine_info info;
    CHECK_OK(anvil_engine_get_info(e, &info));
    anvil_refit_report r = refit(e, g2, NULL);
    CHECK_EQ(r.sources_changed, 3);
    CHECK_EQ(r.bytes_packed, info.weight_bytes);
    check_same_outputs(e, e2, g2);
    r = refit(e, g2, NULL); /* the same weights: nothing to pack */
    CHECK_EQ(r.sources_changed, 0);
    CHECK_EQ(r.bytes_packed, 0);
    r = refit(e, g2, g1); /* only the small weight: the big slot is shared */
    CHECK_EQ(r.sources_changed, 1);
    CHECK(r.bytes_packed > 0 && r.bytes_packed < (size_t)IN * HID * 4);
    r = refit(e, g1, NULL);
    CHECK_EQ(r.sources_changed, 2);
    CHECK(r.bytes_packed >= (size_t)IN * HID * 4);
    check_same_outputs(e, e1, g1);
    printf("big weight: %zu bytes of slots, refits exact\n", info.weight_bytes);
    anvil_engine_destroy(e);
    anvil_engine_destroy(e1);
    anvil_engine_destroy(e2);
    anvil__graph_destroy(g1);
    anvil__graph_destroy(g2);
    return check_exit();
}
