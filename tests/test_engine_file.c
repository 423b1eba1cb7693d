/* Tests engine save/load: a saved and loaded engine gives bit-identical outputs; a stripped
 * engine loads into the needs-weights state and every run says so; corrupt engine files
 * (truncated, flipped bytes in the weights, wrong magic) get exact statuses, never a crash. */
#include "check.h"
#include "file_bytes.h"
#include "anvil.h"

#include <stdlib.h>
#include <unistd.h>

static anvil_tensor_list *run_once(const anvil_engine *e, const anvil_tensor *in,
                                   anvil_status expect) {
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    CHECK_STATUS(anvil_engine_run(c, in, 1, &out), expect);
    anvil_context_destroy(c);
    return out;
}

static void test_round_trip(const char *model_path, const anvil_tensor *in) {
    anvil_model *m = NULL;
    anvil_engine *e = NULL, *loaded = NULL, *stripped = NULL;
    CHECK_OK(anvil_model_load(model_path, &m));
    if (m) CHECK_OK(anvil_engine_compile(m, NULL, &e));
    if (!e) goto done;
    const char *path = "/tmp/anvil_test_engine_file.anvil";
    const char *spath = "/tmp/anvil_test_engine_file.stripped.anvil";
    CHECK_OK(anvil_engine_save(e, path, NULL));
    anvil_save_options so = anvil_save_options_default();
    so.stripped = 1;
    CHECK_OK(anvil_engine_save(e, spath, &so));
    CHECK_OK(anvil_engine_load(path, &loaded));
    CHECK_OK(anvil_engine_load(spath, &stripped));
    anvil_tensor_list *a = run_once(e, in, ANVIL_OK);
    anvil_tensor_list *b = loaded ? run_once(loaded, in, ANVIL_OK) : NULL;
    if (a && b) {
        const anvil_tensor *x = anvil_tensor_list_get(a, 0), *y = anvil_tensor_list_get(b, 0);
        CHECK_EQ(x->bytes, y->bytes);
        CHECK(memcmp(x->data, y->data, x->bytes) == 0); /* same kernels, same weights */
    }
    anvil_engine_info info;
    if (stripped) {
        CHECK_OK(anvil_engine_get_info(stripped, &info));
        CHECK_EQ(info.needs_weights, 1);
        anvil_tensor_list *none = run_once(stripped, in, ANVIL_STATUS_NEEDS_WEIGHTS);
        CHECK(none == NULL);
        CHECK_CONTAINS(anvil_last_error(), "refit");
    }
    size_t full_size = 0, stripped_size = 0;
    uint8_t *full = read_all(path, &full_size), *small = read_all(spath, &stripped_size);
    CHECK(full && small && stripped_size < full_size);
    if (full) {
        anvil_engine *bad = NULL;
        /* Truncated: every prefix length class fails cleanly. */
        size_t cuts[] = {0, 7, 100, full_size / 2, full_size - 1};
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
            anvil_status s = anvil_engine_load_memory(full, cuts[k], &bad);
            CHECK(s == ANVIL_STATUS_PARSE_ERROR);
            CHECK(bad == NULL);
        }
        /* A flipped byte in the last slot's data: the section checksum catches it. */
        full[full_size - 1] ^= 0x40;
        CHECK_STATUS(anvil_engine_load_memory(full, full_size, &bad), ANVIL_STATUS_CHECKSUM_MISMATCH);
        full[full_size - 1] ^= 0x40;
        CHECK_OK(anvil_engine_load_memory(full, full_size, &bad));
        anvil_engine_destroy(bad);
        bad = NULL;
        full[0] = 'X';
        CHECK_STATUS(anvil_engine_load_memory(full, full_size, &bad), ANVIL_STATUS_PARSE_ERROR);
        CHECK_CONTAINS(anvil_last_error(), "magic");
    }
    free(full);
    free(small);
    anvil_tensor_list_destroy(a);
    anvil_tensor_list_destroy(b);
    unlink(path);
    unlink(spath);
done:
    anvil_engine_destroy(stripped);
    anvil_engine_destroy(loaded);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
}

int main(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p /tmp/anvil_test_engine_file && %s /tmp/anvil_test_engine_file >/dev/null",
             ANVIL_DEMO_MODEL_TOOL);
    CHECK_EQ(system(cmd), 0);
    static float image[3 * 32 * 32];
    for (int i = 0; i < 3 * 32 * 32; i++) image[i] = (float)((i * 31) % 97) / 97.0f - 0.5f;
    anvil_tensor in = {NULL, ANVIL_DTYPE_F32, 4, {1, 3, 32, 32}, image, sizeof image};
    test_round_trip("/tmp/anvil_test_engine_file/demo_cnn.onnx", &in);
    char path[1024];
    snprintf(path, sizeof path, "%s/models/transformer_enc/v1.onnx", ANVIL_SHARED_DIR);
    anvil_tensor_list *tin = NULL;
    char npy[1024];
    snprintf(npy, sizeof npy, "%s/models/transformer_enc/input_0.npy", ANVIL_SHARED_DIR);
    if (access(path, R_OK) == 0 && anvil_npy_read(npy, &tin) == ANVIL_OK) {
        test_round_trip(path, anvil_tensor_list_get(tin, 0));
        anvil_tensor_list_destroy(tin);
    }
    return check_exit();
}
