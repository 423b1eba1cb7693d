/* Tests refit through a name map, on the shared models whose checkpoints are PyTorch state
 * dicts: mobilenet_v2 (BatchNorm folded and renamed by the exporter) refitted from
 * v2.safetensors gives the same slot bytes as compiling v2.onnx; transformer_enc (transposed
 * projections) refitted from v2.safetensors computes the stored v2 output and has the slot
 * bytes of compiling v1.onnx with its initializers replaced by v2's (the shared folder has no
 * v2.onnx for it); the map is kept by save/load, so the loaded engine refits from a state dict
 * without being given the map. */
#include "check.h"
#include "refit_helpers.h"
#include "namemap/name_map.h"


static anvil_safetensors *open_st(const char *name, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/%s", ANVIL_SHARED_DIR, name, file);
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_open(path, &st));
    return st;
}

/* Compiles v1 and gives it the map built from v1's state dict. */
static anvil_engine *compile_with_map(const char *name, const anvil_model *m1) {
    anvil_safetensors *st1 = open_st(name, "v1.safetensors");
    anvil_engine *e = compile(m1);
    anvil_name_map *map = NULL;
    if (st1 && e) CHECK_OK(anvil_name_map_build(m1, st1, NULL, &map));
    if (map) CHECK_OK(anvil_engine_set_name_map(e, map));
    CHECK(anvil_engine_name_map(e) != NULL);
    anvil_name_map_destroy(map);
    anvil_safetensors_close(st1);
    return e;
}

static anvil_refit_report refit_st(anvil_engine *e, const anvil_safetensors *st) {
    anvil_refit_source src = {ANVIL_REFIT_FROM_SAFETENSORS, NULL, st, NULL, 0};
    return refit_in_place(e, &src);
}

static void test_mobilenet(void) {
    const char *name = "mobilenet_v2";
    anvil_model *m1 = load(name, "v1.onnx"), *m2 = load(name, "v2.onnx");
    anvil_safetensors *st2 = open_st(name, "v2.safetensors");
    anvil_tensor_list *in = read_npy(name, "input_0.npy"), *want = read_npy(name, "v2.output_0.npy");
    anvil_engine *e = m1 ? compile_with_map(name, m1) : NULL, *e2 = m2 ? compile(m2) : NULL;
    if (!e || !e2 || !st2 || !in || !want) goto done;
    /* Without the map the state dict does not fit: every missing weight named. */
    anvil_refit_source src = {ANVIL_REFIT_FROM_SAFETENSORS, NULL, st2, NULL, 0};
    anvil_engine *out = NULL;
    anvil_string_list *missing = NULL;
    anvil_refit_options no_map = anvil_refit_options_default();
    CHECK_OK(anvil_engine_refit_missing(e, &src, NULL, &missing));
    CHECK_EQ(anvil_string_list_count(missing), 0);
    anvil_string_list_destroy(missing);
    anvil_refit_report r = refit_st(e, st2);
    CHECK_EQ(r.sources_mapped, 104); /* 52 folded conv weights + 52 biases */
    check_same_slots(e, e2);
    anvil_tensor_list *got = run(e, in);
    check_near_ref(got, want);
    anvil_tensor_list_destroy(got);
    /* Stored by save/load: the loaded engine takes the state dict by itself. */
    anvil_engine *loaded = saved_and_loaded(e, false);
    CHECK(loaded && anvil_engine_name_map(loaded) != NULL);
    if (loaded) {
        anvil_safetensors *st1 = open_st(name, "v1.safetensors");
        if (st1) refit_st(loaded, st1);
        anvil_engine *e1 = compile(m1);
        if (e1) check_same_slots(loaded, e1);
        anvil_engine_destroy(e1);
        anvil_safetensors_close(st1);
    }
    anvil_engine_destroy(loaded);
    /* The map can be removed; then the state dict is refused with the names it lacks. */
    CHECK_OK(anvil_engine_set_name_map(e, NULL));
    CHECK_STATUS(anvil_engine_refit(e, &src, &no_map, &out, NULL), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "onnx::Conv_");
    CHECK_CONTAINS(anvil_last_error(), "running_var");
done:
    anvil_engine_destroy(e);
    anvil_engine_destroy(e2);
    anvil_safetensors_close(st2);
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
}

/* compile(v1.onnx with every mapped initializer recomputed from `st`): the reference a refit
 * from `st` must equal. The model's initializer data is swapped for the computed tensors and
 * swapped back before returning (keep[i] / orig[i] hold the computed and original data). */
static anvil_engine *compile_replaced(anvil_model *m, const anvil_name_map *map,
                                      anvil_safetensors *st, void **keep, size_t cap) {
    void *orig[256];
    int32_t where[256];
    anvil__graph *g = (anvil__graph *)m->graph;
    size_t k = 0;
    for (int32_t i = 0; i < g->n_inits && k < cap; i++) {
        anvil_map_entry entry;
        const char *name = g->values[g->inits[i].value].name;
        if (anvil_name_map_find(map, name, &entry) != ANVIL_OK) continue;
        anvil__tensor t;
        CHECK_OK(anvil__name_map_compute(&entry, st_lookup, st, &t));
        CHECK_EQ(t.bytes, g->inits[i].t.bytes);
        if (t.bytes != g->inits[i].t.bytes) {
            anvil__free(t.data);
            continue;
        }
        orig[k] = g->inits[i].t.data;
        where[k] = i;
        g->inits[i].t.data = keep[k++] = t.data;
    }
    anvil_engine *e = compile(m);
    for (size_t j = 0; j < k; j++) g->inits[where[j]].t.data = orig[j];
    return e;
}

static void test_transformer(void) {
    const char *name = "transformer_enc";
    anvil_model *m1 = load(name, "v1.onnx");
    anvil_safetensors *st2 = open_st(name, "v2.safetensors");
    anvil_tensor_list *in = read_npy(name, "input_0.npy"), *want = read_npy(name, "v2.output_0.npy");
    anvil_engine *e = m1 ? compile_with_map(name, m1) : NULL;
    if (e && st2 && in && want) {
        anvil_refit_report r = refit_st(e, st2);
        CHECK(r.sources_mapped >= 12); /* the transposed projections at least */
        anvil_tensor_list *got = run(e, in);
        check_near_ref(got, want);
        anvil_tensor_list_destroy(got);
        static void *keep[256];
        anvil_model *m2 = load(name, "v1.onnx");
        anvil_engine *e2 = m2 ? compile_replaced(m2, anvil_engine_name_map(e), st2, keep, 256)
                              : NULL;
        if (e2) check_same_slots(e, e2);
        anvil_engine_destroy(e2);
        anvil_model_destroy(m2);
        for (size_t i = 0; i < 256; i++) anvil__free(keep[i]);
    }
    anvil_engine_destroy(e);
    anvil_safetensors_close(st2);
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want);
    anvil_model_destroy(m1);
}

int main(void) {
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models/mobilenet_v2/v2.safetensors", ANVIL_SHARED_DIR);
    if (access(probe, R_OK) != 0) {
        printf("skipping: %s not found\n", probe);
        return 77;
    }
    test_mobilenet();
    test_transformer();
    return check_exit();
}
