/*
 * test_models.c — runs the real architectures of ANVIL_SHARED_DIR/models (MobileNetV2 with and
 * without BatchNorm, a transformer encoder) through the reference interpreter and compares with
 * the ONNX Runtime / PyTorch outputs stored beside them: max|a-b| <= 1e-4 * max|b|.
 * Prints the max error and the run time per model; it is not a benchmark.
 */
#include "anvil.h"
#include "check.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 16

typedef struct io_names {
    char *inputs[MAX_NAMES];
    char *outputs[MAX_NAMES];
    int n_inputs, n_outputs;
} io_names;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        } else {
            buf[size] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int json_names(const cJSON *array, char **out) {
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, array) {
        if (n < MAX_NAMES && cJSON_IsString(item)) out[n++] = strdup(item->valuestring);
    }
    return n;
}

static bool read_io(const char *dir, io_names *io) {
    char path[4096];
    snprintf(path, sizeof path, "%s/io.json", dir);
    char *text = read_text(path);
    memset(io, 0, sizeof *io);
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!json) return false;
    io->n_inputs = json_names(cJSON_GetObjectItemCaseSensitive(json, "inputs"), io->inputs);
    io->n_outputs = json_names(cJSON_GetObjectItemCaseSensitive(json, "outputs"), io->outputs);
    cJSON_Delete(json);
    return io->n_inputs > 0 && io->n_outputs > 0;
}

static void free_io(io_names *io) {
    for (int i = 0; i < io->n_inputs; i++) free(io->inputs[i]);
    for (int i = 0; i < io->n_outputs; i++) free(io->outputs[i]);
}

/* max|a-b| <= 1e-4 * max|b|, same dtype (f32) and shape. Returns the max error. */
static double compare(const char *what, const anvil_tensor *got, const anvil_tensor *exp) {
    CHECK_EQ(got->dtype, ANVIL_DTYPE_F32);
    CHECK_EQ(exp->dtype, ANVIL_DTYPE_F32);
    CHECK_EQ(got->rank, exp->rank);
    if (got->dtype != ANVIL_DTYPE_F32 || exp->dtype != ANVIL_DTYPE_F32 ||
        got->rank != exp->rank || got->bytes != exp->bytes) {
        fprintf(stderr, "%s: output %s %d-d %zu bytes, expected %s %d-d %zu bytes\n", what,
                anvil_dtype_name(got->dtype), got->rank, got->bytes,
                anvil_dtype_name(exp->dtype), exp->rank, exp->bytes);
        CHECK(false);
        return INFINITY;
    }
    for (int32_t d = 0; d < got->rank; d++) CHECK_EQ(got->dims[d], exp->dims[d]);
    const float *a = got->data, *b = exp->data;
    size_t n = got->bytes / sizeof(float);
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - (double)b[i]);
        if (!(err <= max_err)) max_err = err; /* NaN makes it NaN, failing the check below */
        if (fabs((double)b[i]) > max_ref) max_ref = fabs((double)b[i]);
    }
    if (!(max_err <= 1e-4 * max_ref)) {
        fprintf(stderr, "%s: max error %.3g exceeds 1e-4 * max|ref| = %.3g\n", what, max_err,
                1e-4 * max_ref);
        check_failures_++;
    }
    return max_err;
}

/* Runs <dir>/<version>.onnx on the input and compares with <dir>/<version>.output_K.npy. */
static void check_version(const char *dir, const char *model_name, const char *version,
                          const io_names *io, const anvil_tensor *inputs, size_t n_inputs) {
    char path[4096], what[512];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, version);
    snprintf(what, sizeof what, "%s/%s", model_name, version);
    double t0 = now_ms();
    anvil_model *model = NULL;
    CHECK_OK(anvil_model_load(path, &model));
    if (!model) return;
    double t1 = now_ms();
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_model_run_reference(model, inputs, n_inputs, &out));
    double t2 = now_ms();
    if (out) {
        CHECK_EQ(anvil_tensor_list_count(out), (size_t)io->n_outputs);
        double worst = 0;
        for (int k = 0; k < io->n_outputs && (size_t)k < anvil_tensor_list_count(out); k++) {
            const anvil_tensor *got = anvil_tensor_list_get(out, (size_t)k);
            CHECK_STR_EQ(got->name, io->outputs[k]);
            snprintf(path, sizeof path, "%s/%s.output_%d.npy", dir, version, k);
            anvil_tensor_list *ref = NULL;
            CHECK_OK(anvil_npy_read(path, &ref));
            if (!ref) continue;
            double err = compare(what, got, anvil_tensor_list_get(ref, 0));
            if (!(err <= worst)) worst = err;
            anvil_tensor_list_destroy(ref);
        }
        printf("%-24s load %8.1f ms  run %9.1f ms  max error %.3g\n", what, t1 - t0, t2 - t1,
               worst);
    }
    anvil_tensor_list_destroy(out);
    anvil_model_destroy(model);
}

/* Returns false when the folder holds no v1.onnx (not a model folder). */
static bool check_model(const char *root, const char *name) {
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(path, sizeof path, "%s/v1.onnx", dir);
    if (access(path, R_OK) != 0) return false;
    io_names io;
    if (!read_io(dir, &io)) {
        fprintf(stderr, "%s: io.json missing or malformed\n", dir);
        check_failures_++;
        free_io(&io);
        return true;
    }
    anvil_tensor_list *lists[MAX_NAMES] = {0};
    anvil_tensor inputs[MAX_NAMES];
    bool ok = true;
    for (int k = 0; k < io.n_inputs; k++) {
        snprintf(path, sizeof path, "%s/input_%d.npy", dir, k);
        CHECK_OK(anvil_npy_read(path, &lists[k]));
        if (!lists[k]) {
            ok = false;
            continue;
        }
        inputs[k] = *anvil_tensor_list_get(lists[k], 0);
        inputs[k].name = io.inputs[k];
    }
    const char *versions[] = {"v1", "v2"};
    for (size_t v = 0; ok && v < 2; v++) {
        snprintf(path, sizeof path, "%s/%s.onnx", dir, versions[v]);
        if (access(path, R_OK) == 0)
            check_version(dir, name, versions[v], &io, inputs, (size_t)io.n_inputs);
    }
    for (int k = 0; k < io.n_inputs; k++) anvil_tensor_list_destroy(lists[k]);
    free_io(&io);
    return true;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(void) {
    const char *root = ANVIL_SHARED_DIR "/models";
    DIR *d = opendir(root);
    if (!d) {
        printf("%s not found, skipping\n", root);
        return 77;
    }
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        checked += check_model(root, names[i]);
        free(names[i]);
    }
    if (checked == 0) {
        printf("no model folder with v1.onnx in %s, skipping\n", root);
        return 77;
    }
    return check_exit();
}
