/* Tests recipes that are more than packing. (1) A product of two weights, folded into one slot
 * by constant folding (a merged LoRA-style factorization), refitted back and forth several
 * times: the recipe's MatMul accumulates into its output, and a refit writes into memory that
 * held earlier weights, so every refit must give exactly the fresh result. (2) A refit refuses
 * to change a weight the compiler folded into a kernel: Clip's
 * bounds given as initializers become a fused post-op of the Conv (ReLU6 style), so no slot
 * carries them at run time. A refit with the same bounds and new conv weights works (and is
 * exact); one with another bound fails with INVALID_ARGUMENT naming the bound, and the engine
 * is unchanged — also for a stripped engine loaded from a file, which keeps the hashes of the
 * sources it was compiled with. */
#include "passes_harness.h"

#include "api/model.h"
#include "engine/engine_internal.h"

#include <unistd.h>

/* x[1,3,8,8] → Conv(w, b) → Clip(lo, hi) → y, opset 13, weights from the fixed sequence. */
static anvil__graph *clip_model(void) {
    anvil__graph *g = new_graph(13);
    static const int64_t xd[] = {1, 3, 8, 8}, wd[] = {4, 3, 3, 3}, bd[] = {4};
    int32_t x = add_input(g, "x", 4, xd);
    int32_t w = add_init(g, "w", ANVIL_DTYPE_F32, 4, wd, NULL, -1, 1);
    int32_t b = add_init(g, "b", ANVIL_DTYPE_F32, 1, bd, NULL, -1, 1);
    int32_t lo = scalar(g, "lo", 0.0), hi = scalar(g, "hi", 0.5);
    int32_t c = node(g, "Conv", "c", 3, x, w, b);
    add_output(g, node(g, "Clip", "y", 3, c, lo, hi));
    CHECK_OK(anvil__graph_toposort(g));
    return g;
}

static anvil_tensor as_public(const anvil__graph *g, const char *name) {
    int32_t v = anvil__graph_find(g, name);
    const anvil__tensor *t = &g->inits[g->values[v].init].t;
    anvil_tensor p = {name, t->dtype, t->rank, {0}, t->data, t->bytes};
    memcpy(p.dims, t->dims, sizeof p.dims);
    return p;
}

/* x[2,2] + MatMul(a, b) → y, where a and b are weights: the product is one recipe slot. */
static void test_product_recipe(void) {
    anvil__graph *g = new_graph(13);
    static const int64_t d[] = {2, 2};
    static const double a_vals[] = {1, 2, 3, 4}, b_vals[] = {1, 0, 0, 1};
    int32_t x = add_input(g, "x", 2, d);
    int32_t a = add_init(g, "a", ANVIL_DTYPE_F32, 2, d, a_vals, 0, 0);
    int32_t b = add_init(g, "b", ANVIL_DTYPE_F32, 2, d, b_vals, 0, 0);
    add_output(g, node(g, "Add", "y", 2, x, node(g, "MatMul", "ab", 2, a, b)));
    CHECK_OK(anvil__graph_toposort(g));
    struct anvil_model m;
    memset(&m, 0, sizeof m);
    m.graph = g;
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(&m, NULL, &e));
    float xs[4] = {0, 0, 0, 0}, av[4] = {1, 2, 3, 4}, b1[4] = {1, 0, 0, 1}, b2[4] = {2, 0, 0, 2};
    anvil_tensor in = {"x", ANVIL_DTYPE_F32, 2, {2, 2}, xs, sizeof xs};
    for (int k = 0; e && k < 5; k++) {
        float *bv = k % 2 ? b1 : b2, scale = bv[0];
        anvil_tensor t[2] = {{"a", ANVIL_DTYPE_F32, 2, {2, 2}, av, sizeof av},
                             {"b", ANVIL_DTYPE_F32, 2, {2, 2}, bv, sizeof b1}};
        anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, 2};
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        anvil_engine *out = NULL;
        CHECK_OK(anvil_engine_refit(e, &src, &o, &out, NULL));
        anvil_context *c = NULL;
        anvil_tensor_list *res = NULL;
        CHECK_OK(anvil_context_create(e, &c));
        if (c) CHECK_OK(anvil_engine_run(c, &in, 1, &res));
        const float *y = res ? anvil_tensor_list_get(res, 0)->data : NULL;
        for (int i = 0; y && i < 4; i++) CHECK(y[i] == av[i] * scale);
        anvil_tensor_list_destroy(res);
        anvil_context_destroy(c);
    }
    anvil_engine_destroy(e);
    anvil__graph_destroy(g);
}

int main(void) {
    test_product_recipe();
    anvil__graph *g = clip_model();
    struct anvil_model m;
    memset(&m, 0, sizeof m);
    m.graph = g;
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(&m, NULL, &e));
    if (!e) return check_exit();
    anvil_layer_info l;
    CHECK_OK(anvil_engine_layer(e, 0, &l));
    CHECK_CONTAINS(l.fused, "Clip"); /* the premise: the bounds were folded into the conv */

    float w2[108], lo = 0.0f, hi = 0.5f, hi2 = 0.25f;
    anvil_tensor t[4] = {as_public(g, "w"), as_public(g, "b"), as_public(g, "lo"),
                         as_public(g, "hi")};
    for (int i = 0; i < 108; i++) w2[i] = ((const float *)t[0].data)[i] * 0.5f;
    t[0].data = w2;
    t[2].data = &lo;
    t[3].data = &hi;
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, 4};
    anvil_engine *out = NULL;
    anvil_refit_report r;
    CHECK_OK(anvil_engine_refit(e, &src, NULL, &out, &r)); /* same bounds: fine */
    CHECK_EQ(r.sources_changed, 1);
    anvil_engine_destroy(out);

    t[3].data = &hi2;
    anvil__weight_set *before = anvil__weights_acquire(e);
    for (int in_place = 0; in_place < 2; in_place++) {
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = in_place;
        CHECK_STATUS(anvil_engine_refit(e, &src, &o, &out, NULL), ANVIL_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(anvil_last_error(), "'hi'");
        CHECK_CONTAINS(anvil_last_error(), "recompile");
        CHECK(out == NULL);
    }
    anvil__weight_set *after = anvil__weights_acquire(e);
    CHECK(before == after);
    anvil__weights_release(e, before);
    anvil__weights_release(e, after);

    char path[] = "/tmp/anvil_baked_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    anvil_save_options so = anvil_save_options_default();
    so.stripped = 1;
    anvil_engine *stripped = NULL;
    CHECK_OK(anvil_engine_save(e, path, &so));
    CHECK_OK(anvil_engine_load(path, &stripped));
    unlink(path);
    if (stripped) {
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        CHECK_STATUS(anvil_engine_refit(stripped, &src, &o, &out, NULL),
                     ANVIL_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(anvil_last_error(), "'hi'");
        t[3].data = &hi;
        CHECK_OK(anvil_engine_refit(stripped, &src, &o, &out, NULL));
    }
    anvil_engine_destroy(stripped);
    anvil_engine_destroy(e);
    anvil__graph_destroy(g);
    return check_exit();
}
