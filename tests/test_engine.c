/* Tests compiled engines on the CPU backend: every shared model compiled and run matches the
 * stored ONNX Runtime outputs and the reference interpreter; dynamic batch sizes inside a
 * profile; errors for inputs outside the profile or of the wrong dtype; concurrent runs from
 * several contexts; replaying the recipes gives the engine's weight bytes exactly. */
#include "check.h"
#include "engine/engine_internal.h"

#include <pthread.h>
#include <stdlib.h>

static double max_abs(const anvil_tensor *t) {
    double m = 0;
    for (size_t i = 0; i < t->bytes / 4; i++) m = fmax(m, fabs(((float *)t->data)[i]));
    return m;
}

static double max_diff(const anvil_tensor *a, const anvil_tensor *b) {
    if (a->bytes != b->bytes || a->dtype != b->dtype) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < a->bytes / 4; i++)
        m = fmax(m, fabs((double)((float *)a->data)[i] - ((float *)b->data)[i]));
    return m;
}

static anvil_tensor_list *run_engine(const anvil_engine *e, const anvil_tensor *in, size_t n) {
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    CHECK_OK(anvil_engine_run(c, in, n, &out));
    anvil_context_destroy(c);
    return out;
}

/* Every slot's bytes equal what replaying the recipes on the model's initializers gives. */
static void check_recipes_replay(const anvil_engine *e, const anvil_model *m) {
    anvil__weight_set *again = NULL;
    CHECK_OK(anvil__weights_from_model(e, m, &again));
    anvil__weight_set *cur = anvil__weights_acquire(e);
    int differ = 0, stored = 0;
    for (int32_t i = 0; again && cur && i < cur->n_slots; i++) {
        if (!cur->slots[i]) continue;
        stored++;
        if (cur->slot_bytes[i] != again->slot_bytes[i] ||
            memcmp(cur->slots[i], again->slots[i], cur->slot_bytes[i]) != 0)
            differ++;
    }
    CHECK(stored > 0);
    CHECK_EQ(differ, 0);
    anvil__weights_release(e, cur);
    anvil__weights_release(e, again);
}

static void test_shared_model(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/v1.onnx", ANVIL_SHARED_DIR, name);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(path, &m));
    if (!m) return;
    snprintf(path, sizeof path, "%s/models/%s/input_0.npy", ANVIL_SHARED_DIR, name);
    anvil_tensor_list *in = NULL, *want = NULL, *ref = NULL;
    CHECK_OK(anvil_npy_read(path, &in));
    snprintf(path, sizeof path, "%s/models/%s/v1.output_0.npy", ANVIL_SHARED_DIR, name);
    CHECK_OK(anvil_npy_read(path, &want));
    CHECK_OK(anvil_model_run_reference(m, anvil_tensor_list_get(in, 0), 1, &ref));
    for (int variant = 0; variant < 3 && in && want && ref; variant++) {
        anvil_compile_options o = anvil_compile_options_default();
        if (variant == 1) o.opt_level = 0;   /* no passes */
        if (variant == 2) o.refittable = 0;  /* immutable */
        anvil_engine *e = NULL;
        CHECK_OK(anvil_engine_compile(m, &o, &e));
        if (!e) continue;
        anvil_tensor_list *got = run_engine(e, anvil_tensor_list_get(in, 0), 1);
        if (got) {
            const anvil_tensor *g = anvil_tensor_list_get(got, 0), *w = anvil_tensor_list_get(want, 0);
            double err = max_diff(g, w), tol = 1e-4 * max_abs(w);
            double err_ref = max_diff(g, anvil_tensor_list_get(ref, 0));
            printf("%-16s variant %d: max error %.3g vs ORT, %.3g vs interpreter (tol %.3g)\n",
                   name, variant, err, err_ref, tol);
            CHECK(err <= tol);
            CHECK(err_ref <= tol);
        }
        if (variant == 0) check_recipes_replay(e, m);
        anvil_tensor_list_destroy(got);
        anvil_engine_destroy(e);
    }
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want);
    anvil_tensor_list_destroy(ref);
    anvil_model_destroy(m);
}

static anvil_model *demo_model(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p /tmp/anvil_test_engine && %s /tmp/anvil_test_engine >/dev/null",
             ANVIL_DEMO_MODEL_TOOL);
    CHECK_EQ(system(cmd), 0);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load("/tmp/anvil_test_engine/demo_cnn.onnx", &m));
    return m;
}

static void test_dynamic_batch(void) {
    anvil_model *m = demo_model();
    if (!m) return;
    anvil_input_profile p = {"image", 4, {1, 3, 32, 32}, {4, 3, 32, 32}, {8, 3, 32, 32}};
    anvil_compile_options o = anvil_compile_options_default();
    o.profiles = &p;
    o.n_profiles = 1;
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_compile(m, &o, &e));
    if (!e) {
        anvil_model_destroy(m);
        return;
    }
    anvil_context *c = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    float *data = malloc(9 * 3 * 32 * 32 * sizeof(float));
    for (int i = 0; i < 9 * 3 * 32 * 32; i++) data[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    int64_t batches[] = {4, 1, 8, 3, 4};
    for (int k = 0; k < 5; k++) {
        anvil_tensor t = {"image", ANVIL_DTYPE_F32, 4, {batches[k], 3, 32, 32}, data,
                          (size_t)batches[k] * 3 * 32 * 32 * 4};
        anvil_tensor_list *got = NULL, *ref = NULL;
        CHECK_OK(anvil_engine_run(c, &t, 1, &got));
        CHECK_OK(anvil_model_run_reference(m, &t, 1, &ref));
        if (got && ref) {
            const anvil_tensor *g = anvil_tensor_list_get(got, 0);
            CHECK_EQ(g->dims[0], batches[k]);
            CHECK(max_diff(g, anvil_tensor_list_get(ref, 0)) <= 1e-5);
        }
        anvil_tensor_list_destroy(got);
        anvil_tensor_list_destroy(ref);
    }
    /* Outside the profile, wrong dtype, missing input: clear errors, nothing runs. */
    anvil_tensor big = {"image", ANVIL_DTYPE_F32, 4, {9, 3, 32, 32}, data, 9 * 3 * 32 * 32 * 4};
    anvil_tensor_list *none = NULL;
    CHECK_STATUS(anvil_engine_run(c, &big, 1, &none), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "input 'image' dim 0: 9 is outside the engine's profile [1, 8]");
    anvil_tensor wrong = {"image", ANVIL_DTYPE_F16, 4, {1, 3, 32, 32}, data, 3 * 32 * 32 * 2};
    CHECK_STATUS(anvil_engine_run(c, &wrong, 1, &none), ANVIL_STATUS_DTYPE_MISMATCH);
    CHECK_STATUS(anvil_engine_run(c, NULL, 0, &none), ANVIL_STATUS_MISSING_INPUT);
    CHECK(none == NULL);
    anvil_engine_info info;
    CHECK_OK(anvil_engine_get_info(e, &info));
    CHECK(info.layer_count > 0 && info.arena_bytes > 0 && info.weight_bytes > 0);
    CHECK(info.arena_bytes <= info.activation_bytes);
    free(data);
    anvil_context_destroy(c);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
}

typedef struct worker {
    const anvil_engine *e;
    const anvil_tensor *in;
    const anvil_tensor *want;
    int mismatches;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    anvil_context *c = NULL;
    if (anvil_context_create(w->e, &c) != ANVIL_OK) return NULL;
    for (int i = 0; i < 10; i++) {
        anvil_tensor_list *out = NULL;
        if (anvil_engine_run(c, w->in, 1, &out) != ANVIL_OK ||
            memcmp(anvil_tensor_list_get(out, 0)->data, w->want->data, w->want->bytes) != 0)
            w->mismatches++;
        anvil_tensor_list_destroy(out);
    }
    anvil_context_destroy(c);
    return NULL;
}

static void test_concurrent_contexts(void) {
    anvil_model *m = demo_model();
    anvil_engine *e = NULL;
    if (m) CHECK_OK(anvil_engine_compile(m, NULL, &e));
    if (!e) {
        anvil_model_destroy(m);
        return;
    }
    float data[3 * 32 * 32];
    for (int i = 0; i < 3 * 32 * 32; i++) data[i] = (float)(i % 17) / 17.0f;
    anvil_tensor t = {NULL, ANVIL_DTYPE_F32, 4, {1, 3, 32, 32}, data, sizeof data};
    anvil_tensor_list *want = run_engine(e, &t, 1);
    worker w[3];
    pthread_t th[3];
    for (int i = 0; want && i < 3; i++) {
        w[i] = (worker){e, &t, anvil_tensor_list_get(want, 0), 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; want && i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].mismatches, 0);
    }
    anvil_tensor_list_destroy(want);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
}

int main(void) {
    test_dynamic_batch();
    test_concurrent_contexts();
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models", ANVIL_SHARED_DIR);
    FILE *f = fopen(probe, "r");
    if (f) {
        fclose(f);
        test_shared_model("mobilenet_v2");
        test_shared_model("mobilenet_v2_bn");
        test_shared_model("transformer_enc");
    } else {
        printf("skipping shared models: %s not found\n", probe);
    }
    return check_exit();
}
