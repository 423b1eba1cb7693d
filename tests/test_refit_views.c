/* test_refit_views.c — packing that reads its weight in place: a BatchNorm fold recorded as a
 * Pack with scales (no product written), and name-map results (transposes, folds) left as
 * views of the checkpoint tensors. Each must give the bytes of the dense path exactly, and a
 * layout the backend cannot read a view into must fall back to a dense copy. */
#include "refit_helpers.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "namemap/name_map.h"

/* Fills a tensor's f32 data with a deterministic pattern in [-1, 1). */
static void fill(float *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

/* Values where a product could round or keep its sign differently: zeros of both signs,
 * subnormals, infinities, a NaN, huge values (overflow). */
static void add_special(float *p, size_t n) {
    const float special[] = {0.0f, -0.0f, 1e-40f, -1e-40f, __builtin_inff(), -__builtin_inff(),
                             __builtin_nanf(""), 3e38f, -3e38f, 1.0f};
    for (size_t i = 0; i < n; i += 7) p[i] = special[(i / 7) % (sizeof special / sizeof *special)];
}

/* mobilenet_v2_bn's folds become scaled Packs; for each, packing with scales equals packing the
 * products (the dense copy path), byte for byte, on random weights and scales with special
 * values — also where the weights are packed as bf16 (the product rounds to f32, then bf16). */
static void test_scaled_packs_exact(anvil_precision precision) {
    anvil_model *m = load("mobilenet_v2_bn", "v1.onnx");
    anvil_compile_options co = anvil_compile_options_default();
    co.autotune = 0;
    co.precision = precision;
    anvil_engine *e = NULL;
    if (m) CHECK_OK(anvil_engine_compile(m, &co, &e));
    if (!e) {
        anvil_model_destroy(m);
        return;
    }
    const anvil__graph *w = e->weights;
    const anvil__backend *be = e->backend;
    int scaled = 0, differ = 0;
    for (int32_t n = 0; n < w->n_nodes; n++) {
        const anvil__node *node = &w->nodes[n];
        if (node->op != ANVIL_OP_Pack || node->n_inputs != 2) continue;
        scaled++;
        const anvil__value *x = &w->values[node->inputs[0]];
        anvil__tensor t;
        CHECK_OK(anvil__tensor_shape(&t, x->dtype, x->rank, x->dims));
        anvil__layout to;
        CHECK_OK(anvil__pack_node_layout(node, &to));
        float *data = malloc(t.bytes), *scale = malloc((size_t)t.dims[0] * sizeof *scale);
        unsigned char *a = malloc(to.bytes), *b = malloc(to.bytes);
        if (!data || !scale || !a || !b) abort();
        fill(data, t.bytes / 4, (uint32_t)n);
        fill(scale, (size_t)t.dims[0], (uint32_t)n + 7u);
        add_special(data, t.bytes / 4);
        add_special(scale, (size_t)t.dims[0]);
        t.data = data;
        anvil__tensor_view v = {data, t.bytes, {0}, scale};
        anvil__strides(t.rank, t.dims, v.strides);
        memset(a, 0, to.bytes);
        memset(b, 0, to.bytes);
        CHECK_OK(be->pack_view(be->ctx, &t, v.strides, data, scale, &to, a));
        CHECK_OK(anvil__pack_dense_copy(be, &t, &v, &to, b));
        differ += memcmp(a, b, to.bytes) != 0;
        free(data);
        free(scale);
        free(a);
        free(b);
    }
    CHECK_EQ(scaled, 52); /* every conv of the model has its BatchNorm folded */
    CHECK_EQ(differ, 0);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
}

/* A transposed view packs to the bytes of its transposed copy; one scaled channel (which
 * oneDNN's scales cannot express) is refused as UNSUPPORTED, the caller's cue to copy. */
static void test_backend_views(void) {
    const anvil__backend *be = NULL;
    CHECK_OK(anvil__backend_get(ANVIL_BACKEND_CPU, &be));
    if (!be || !be->pack_view) return;
    anvil__tensor t;
    int64_t dims[2] = {96, 40};
    CHECK_OK(anvil__tensor_shape(&t, ANVIL_DTYPE_F32, 2, dims));
    float *base = malloc(t.bytes), *dense = malloc(t.bytes), *out1 = malloc(t.bytes),
          *out2 = malloc(t.bytes), one = 2.0f;
    if (!base || !dense || !out1 || !out2) abort();
    fill(base, 96 * 40, 3); /* base is the [40, 96] matrix whose transpose t is */
    for (int r = 0; r < 96; r++)
        for (int c = 0; c < 40; c++) dense[r * 40 + c] = base[c * 96 + r];
    anvil__layout plain = {0};
    plain.bytes = t.bytes;
    int64_t strides[2] = {1, 96};
    CHECK_OK(be->pack_view(be->ctx, &t, strides, base, NULL, &plain, out1));
    CHECK(memcmp(out1, dense, t.bytes) == 0);
    int64_t dims1[2] = {1, 40};
    anvil__tensor row;
    CHECK_OK(anvil__tensor_shape(&row, ANVIL_DTYPE_F32, 2, dims1));
    int64_t row_strides[2] = {40, 1};
    anvil__layout plain_row = {0};
    plain_row.bytes = row.bytes;
    CHECK_STATUS(be->pack_view(be->ctx, &row, row_strides, base, &one, &plain_row, out2),
                 ANVIL_STATUS_UNSUPPORTED);
    anvil__tensor_view v = {base, row.bytes, {40, 1}, &one};
    CHECK_OK(anvil__pack_dense_copy(be, &row, &v, &plain_row, out2));
    for (int c = 0; c < 40; c++) CHECK(out2[c] == base[c] * 2.0f);
    free(base);
    free(dense);
    free(out1);
    free(out2);
}

/* A refit from a state dict through the map packs views (default options) and dense copies
 * (check_finite reads dense tensors): the same slot bytes either way, for BatchNorm folds
 * (mobilenet_v2) and transposes (transformer_enc); the second refit from the same checkpoint
 * changes nothing. */
static void check_views_match_dense(const char *model) {
    char path[1024];
    anvil_model *m = load(model, "v1.onnx");
    anvil_engine *a = m ? compile(m) : NULL, *b = m ? compile(m) : NULL;
    anvil_safetensors *v1 = NULL, *v2 = NULL;
    snprintf(path, sizeof path, "%s/models/%s/v1.safetensors", ANVIL_SHARED_DIR, model);
    CHECK_OK(anvil_safetensors_open(path, &v1));
    snprintf(path, sizeof path, "%s/models/%s/v2.safetensors", ANVIL_SHARED_DIR, model);
    CHECK_OK(anvil_safetensors_open(path, &v2));
    anvil_name_map *map = NULL;
    if (m && v1) CHECK_OK(anvil_name_map_build(m, v1, NULL, &map));
    if (!a || !b || !v2 || !map) goto done;
    anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_SAFETENSORS, .safetensors = v2};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    o.name_map = map;
    anvil_refit_report r;
    anvil_engine *out = NULL;
    CHECK_OK(anvil_engine_refit(a, &src, &o, &out, &r));
    CHECK(r.sources_mapped > 0);
    o.check_finite = 1;
    CHECK_OK(anvil_engine_refit(b, &src, &o, &out, NULL));
    check_same_slots(a, b);
    o.check_finite = 0;
    CHECK_OK(anvil_engine_refit(a, &src, &o, &out, &r));
    CHECK_EQ(r.sources_changed, 0);
    CHECK_EQ(r.bytes_packed, 0);
done:
    anvil_name_map_destroy(map);
    anvil_safetensors_close(v1);
    anvil_safetensors_close(v2);
    anvil_engine_destroy(a);
    anvil_engine_destroy(b);
    anvil_model_destroy(m);
}

/* Declared shapes in the weight graph come from engine files, which are untrusted: a scale
 * value declared with no elements must not be read as C floats. The parallel packing skips
 * such a Pack and the interpreter's Pack, which checks the computed scales, packs it: the
 * refit still gives the slots of a fresh compile of the new weights. */
static void test_lying_scale_shape(void) {
    anvil_model *m1 = load("mobilenet_v2_bn", "v1.onnx"), *m2 = load("mobilenet_v2_bn", "v2.onnx");
    anvil_engine *e = m1 ? compile(m1) : NULL, *fresh = m2 ? compile(m2) : NULL;
    if (!e || !fresh) goto done;
    anvil__graph *w = e->weights;
    int lied = 0;
    for (int32_t n = 0; n < w->n_nodes && !lied; n++) {
        if (w->nodes[n].op != ANVIL_OP_Pack || w->nodes[n].n_inputs != 2) continue;
        anvil__value *sv = &w->values[w->nodes[n].inputs[1]];
        sv->dims[sv->rank - 1] = 0; /* declared [C, 1, 1, 0]: no elements */
        lied++;
    }
    CHECK_EQ(lied, 1);
    anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_MODEL, .model = m2};
    refit_in_place(e, &src);
    check_same_slots(e, fresh);
done:
    anvil_engine_destroy(e);
    anvil_engine_destroy(fresh);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

/* A layout from an untrusted file may merge ONNX dims ([2, 3, 4] as an md of [6, 4]): reading
 * a view through it would walk past the source, so pack_view refuses it (the caller then
 * packs a dense copy, as the plain reorder does). The source is exactly its size, so a read
 * past it shows under the address sanitizer. */
static void test_merged_layout_refused(void) {
    const anvil__backend *be = NULL;
    CHECK_OK(anvil__backend_get(ANVIL_BACKEND_CPU, &be));
    if (!be || !be->pack_view) return;
    anvil__tensor t;
    int64_t dims[3] = {2, 3, 4};
    CHECK_OK(anvil__tensor_shape(&t, ANVIL_DTYPE_F32, 3, dims));
    dnnl_memory_desc_t md;
    dnnl_dims_t md_dims = {6, 4};
    CHECK(dnnl_memory_desc_init_by_tag(&md, 2, md_dims, dnnl_f32, dnnl_ba) == dnnl_success);
    anvil__layout to;
    CHECK_OK(anvil__cpu_layout_blob(&md, NULL, &to));
    float *src = malloc(t.bytes), *dst = malloc(to.bytes);
    if (!src || !dst) abort();
    fill(src, 24, 5);
    int64_t transposed[3] = {1, 2, 6}; /* [2, 3, 4] viewing a [4, 3, 2] tensor */
    CHECK_STATUS(be->pack_view(be->ctx, &t, transposed, src, NULL, &to, dst),
                 ANVIL_STATUS_UNSUPPORTED);
    anvil__tensor_view v = {src, t.bytes, {1, 2, 6}, NULL};
    CHECK_OK(anvil__pack_view_or_copy(be, &t, &v, &to, dst)); /* the dense copy path */
    free(src);
    free(dst);
}

/* Tampers with mobilenet_v2's compiled engine as a crafted engine file could (tamper returns
 * false if it found nothing to change), then checks that a refit to v2 is refused with a
 * message containing `expect` and that the engine still gives its v1 outputs. */
static void expect_refused(bool (*tamper)(anvil_engine *), const char *expect) {
    anvil_model *m1 = load("mobilenet_v2", "v1.onnx"), *m2 = load("mobilenet_v2", "v2.onnx");
    anvil_engine *e = m1 ? compile(m1) : NULL;
    anvil_tensor_list *in = read_npy("mobilenet_v2", "input_0.npy");
    if (!e || !m2 || !in) goto done;
    anvil_tensor_list *before = run(e, in);
    CHECK(tamper(e));
    anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_MODEL, .model = m2};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_engine *out = NULL;
    CHECK(anvil_engine_refit(e, &src, &o, &out, NULL) != ANVIL_OK);
    CHECK(out == NULL);
    CHECK_CONTAINS(anvil_last_error(), expect);
    anvil_tensor_list *after = run(e, in);
    CHECK(same_outputs(before, after));
    anvil_tensor_list_destroy(before);
    anvil_tensor_list_destroy(after);
done:
    anvil_tensor_list_destroy(in);
    anvil_engine_destroy(e);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

/* A packed slot declared smaller than its Pack writes: the parallel packing leaves it to the
 * interpreter, which refuses it. */
static bool shrink_packed_slot(anvil_engine *e) {
    for (int32_t i = 0; i < e->run->n_inits; i++) {
        if (e->slots[i].layout.kind == ANVIL_LAYOUT_PLAIN || e->slots[i].shape.bytes <= 4096) continue;
        e->slots[i].shape.bytes = 64;
        return true;
    }
    return false;
}

/* A Pack whose byte count disagrees with its layout (a crafted engine file asked the
 * interpreter for 36 GB): refused before anything is allocated. */
static bool inflate_pack_bytes(anvil_engine *e) {
    anvil__graph *w = e->weights;
    for (int32_t n = w->n_nodes - 1; n >= 0; n--) {
        if (w->nodes[n].op != ANVIL_OP_Pack) continue;
        for (int32_t a = 0; a < w->nodes[n].n_attrs; a++) {
            if (strcmp(w->nodes[n].attrs[a].name, "bytes") != 0) continue;
            w->nodes[n].attrs[a].i = (int64_t)36 << 30;
            return true;
        }
    }
    return false;
}

/* A Pack whose optional scale input is absent (-1, as an engine file may declare it) packs
 * without scales: the refit must not fail, nor read a value -1 (which only the ASan build of
 * this test, run by `make asan`, would catch). */
static void test_absent_scale(void) {
    anvil_model *m1 = load("mobilenet_v2_bn", "v1.onnx"), *m2 = load("mobilenet_v2_bn", "v2.onnx");
    anvil_engine *e = m1 ? compile(m1) : NULL;
    int tampered = 0;
    for (int32_t n = 0; e && n < e->weights->n_nodes; n++) {
        anvil__node *node = &e->weights->nodes[n];
        if (node->op == ANVIL_OP_Pack && node->n_inputs == 2 && tampered++ < 3) node->inputs[1] = -1;
    }
    CHECK(tampered > 0);
    if (e && m2) {
        anvil_refit_source src = {.kind = ANVIL_REFIT_FROM_MODEL, .model = m2};
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        anvil_engine *out = NULL;
        anvil_refit_report r;
        CHECK_OK(anvil_engine_refit(e, &src, &o, &out, &r));
        CHECK(r.bytes_packed > 0);
    }
    anvil_engine_destroy(e);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

int main(void) {
    test_absent_scale();
    expect_refused(inflate_pack_bytes, "layout");
    test_merged_layout_refused();
    expect_refused(shrink_packed_slot, "bytes");
    test_lying_scale_shape();
    test_backend_views();
    test_scaled_packs_exact(ANVIL_PRECISION_F32);
    const anvil__backend *cpu = NULL;
    if (anvil__backend_get(ANVIL_BACKEND_CPU, &cpu) == ANVIL_OK && cpu->supports_precision &&
        cpu->supports_precision(cpu->ctx, ANVIL_PRECISION_BF16))
        test_scaled_packs_exact(ANVIL_PRECISION_BF16);
    check_views_match_dense("mobilenet_v2");
    check_views_match_dense("transformer_enc");
    return check_exit();
}
