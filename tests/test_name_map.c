/*
 * test_name_map.c — name maps on the shared models: the map built from v1.onnx + v1.safetensors
 * equals the data author's reference map.json (mobilenet_v2: BatchNorm folds, transformer_enc:
 * transposes), a BN-kept export maps to identities, and applying the map to a checkpoint
 * reproduces the initializers of the matching ONNX export (v1 and v2) bit for bit. Also: JSON
 * save / load / clone round trips, every corrupt file of tests/data/namemap refused with a
 * PARSE_ERROR naming entry and field, API argument errors. Skips (77) without the shared models.
 */
#include "anvil.h"
#include "api/model.h"
#include "check.h"
#include "namemap/name_map.h"
#include "refit_helpers.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODELS ANVIL_SHARED_DIR "/models"
#define MAP_DATA ANVIL_TEST_DATA_DIR "/namemap"

static const char *const k_kind_names[] = {"identity", "transpose", "conv_bn_fold_weight",
                                           "conv_bn_fold_bias"};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The reference lists a fold bias's sources like the weight's (conv weight first); anvil's
 * first source is the conv's bias, "" when the checkpoint has none. */
static void expected_bias_source(const cJSON *ref, const anvil_safetensors *ck, char *out,
                                 size_t size) {
    const char *conv = json_str(ref, "conv");
    anvil_tensor t;
    snprintf(out, size, "%s.bias", conv ? conv : "?");
    if (anvil_safetensors_find(ck, out, &t) != ANVIL_OK) out[0] = '\0';
}

static void compare_entry(const anvil_map_entry *e, const cJSON *ref, const anvil_safetensors *ck) {
    const char *kind = json_str(ref, "kind");
    CHECK((unsigned)e->kind < 4);
    if ((unsigned)e->kind >= 4 || !kind) return;
    CHECK_STR_EQ(k_kind_names[e->kind], kind);
    if (e->kind == ANVIL_MAP_IDENTITY || e->kind == ANVIL_MAP_TRANSPOSE) {
        CHECK_EQ(e->n_sources, 1);
        CHECK_STR_EQ(e->sources[0], json_str(ref, "source"));
    }
    if (e->kind == ANVIL_MAP_TRANSPOSE) {
        const cJSON *perm = cJSON_GetObjectItemCaseSensitive(ref, "perm");
        CHECK_EQ(e->rank, cJSON_GetArraySize(perm));
        for (int i = 0; i < e->rank && i < cJSON_GetArraySize(perm); i++)
            CHECK_EQ(e->perm[i], cJSON_GetArrayItem(perm, i)->valueint);
    }
    if (e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT || e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(ref, "sources");
        CHECK_EQ(e->n_sources, 5);
        CHECK_EQ(cJSON_GetArraySize(src), 5);
        for (int i = 1; i < 5 && i < e->n_sources; i++)
            CHECK_STR_EQ(e->sources[i], cJSON_GetArrayItem(src, i)->valuestring);
        char bias[512];
        expected_bias_source(ref, ck, bias, sizeof bias);
        CHECK_STR_EQ(e->sources[0], e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT
                                        ? cJSON_GetArrayItem(src, 0)->valuestring
                                        : bias);
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(ref, "eps");
        CHECK(cJSON_IsNumber(eps) && e->eps == eps->valuedouble);
    }
}

/* Every initializer of the reference is in the map with its kind, sources, perm and eps;
 * "constant" ones are unmatched. Returns the number of entries compared. */
static size_t compare_reference(const anvil_name_map *map, const char *ref_path,
                                const anvil_safetensors *ck) {
    cJSON *root = read_json(ref_path);
    const cJSON *inits = cJSON_GetObjectItemCaseSensitive(root, "initializers");
    CHECK(cJSON_IsArray(inits) && cJSON_GetArraySize(inits) > 0);
    size_t compared = 0, constants = 0;
    for (const cJSON *r = inits ? inits->child : NULL; r; r = r->next) {
        const char *onnx = json_str(r, "onnx"), *kind = json_str(r, "kind");
        CHECK(onnx && kind);
        if (!onnx || !kind) continue;
        anvil_map_entry e;
        if (strcmp(kind, "constant") == 0) {
            constants++;
            CHECK_STATUS(anvil_name_map_find(map, onnx, &e), ANVIL_STATUS_NOT_FOUND);
            continue;
        }
        anvil_status s = anvil_name_map_find(map, onnx, &e);
        if (s != ANVIL_OK) fprintf(stderr, "reference initializer '%s' not in the map\n", onnx);
        CHECK_OK(s);
        if (s != ANVIL_OK) continue;
        CHECK_STR_EQ(e.onnx, onnx);
        compare_entry(&e, r, ck);
        compared++;
    }
    CHECK_EQ(anvil_name_map_count(map), compared);
    CHECK_EQ(anvil_name_map_unmatched_count(map), constants);
    cJSON_Delete(root);
    return compared;
}

/* Applies the map to `ckpt` and compares each entry with the initializer of `onnx`. Returns
 * how many came out bit-identical; the others must be within 1e-6 of the largest |value|. */
static size_t check_compute(const anvil_name_map *map, const char *onnx, const char *ckpt) {
    anvil_model *m = NULL;
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_model_load(onnx, &m));
    CHECK_OK(anvil_safetensors_open(ckpt, &st));
    if (!m || !st) return 0;
    const anvil__graph *g = m->graph;
    size_t exact = 0, n = 0;
    double worst = 0;
    for (int32_t i = 0; i < g->n_inits; i++) {
        const anvil__tensor *want = &g->inits[i].t;
        anvil_map_entry e;
        if (anvil_name_map_find(map, g->values[g->inits[i].value].name, &e) != ANVIL_OK) continue;
        anvil__tensor got;
        CHECK_OK(anvil__name_map_compute(&e, st_lookup, st, &got));
        n++;
        CHECK(got.dtype == want->dtype && got.rank == want->rank && got.bytes == want->bytes);
        if (got.bytes != want->bytes || got.dtype != ANVIL_DTYPE_F32) {
            anvil__free(got.data);
            continue;
        }
        CHECK(memcmp(got.dims, want->dims, sizeof got.dims[0] * (size_t)got.rank) == 0);
        if (memcmp(got.data, want->data, got.bytes) == 0) {
            exact++;
        } else {
            const float *a = got.data, *b = want->data;
            double err = 0, mag = 0;
            for (size_t k = 0; k < got.bytes / 4; k++) {
                err = fmax(err, fabs((double)a[k] - (double)b[k]));
                mag = fmax(mag, fabs((double)b[k]));
            }
            CHECK(err <= 1e-6 * mag);
            if (err / mag > worst) worst = err / mag;
        }
        anvil__free(got.data);
    }
    printf("%s from %s: %zu of %zu initializers bit-exact, worst relative error %g\n", onnx,
           ckpt, exact, n, worst);
    CHECK_EQ(n, anvil_name_map_count(map));
    anvil_safetensors_close(st);
    anvil_model_destroy(m);
    return exact;
}

static anvil_name_map *build(const char *onnx, const char *ckpt, double *ms) {
    anvil_model *m = NULL;
    anvil_safetensors *st = NULL;
    anvil_name_map *map = NULL;
    CHECK_OK(anvil_model_load(onnx, &m));
    CHECK_OK(anvil_safetensors_open(ckpt, &st));
    double t0 = now_s();
    if (m && st) CHECK_OK(anvil_name_map_build(m, st, NULL, &map));
    *ms = (now_s() - t0) * 1e3;
    anvil_safetensors_close(st);
    anvil_model_destroy(m);
    return map;
}

static void check_mobilenet(void) {
    double ms;
    anvil_name_map *map = build(MODELS "/mobilenet_v2/v1.onnx",
                                MODELS "/mobilenet_v2/v1.safetensors", &ms);
    printf("mobilenet_v2: map built in %.1f ms\n", ms);
    CHECK(ms < 1000);
    anvil_safetensors *ck = NULL;
    CHECK_OK(anvil_safetensors_open(MODELS "/mobilenet_v2/v1.safetensors", &ck));
    if (map && ck) CHECK_EQ(compare_reference(map, MODELS "/mobilenet_v2/map.json", ck), 106);
    anvil_safetensors_close(ck);
    if (!map) return;
    size_t n = anvil_name_map_count(map);
    CHECK_EQ(check_compute(map, MODELS "/mobilenet_v2/v1.onnx",
                           MODELS "/mobilenet_v2/v1.safetensors"), n);
    CHECK_EQ(check_compute(map, MODELS "/mobilenet_v2/v2.onnx",
                           MODELS "/mobilenet_v2/v2.safetensors"), n);
    anvil_name_map_destroy(map);
}

static void check_transformer(void) {
    double ms;
    anvil_name_map *map = build(MODELS "/transformer_enc/v1.onnx",
                                MODELS "/transformer_enc/v1.safetensors", &ms);
    printf("transformer_enc: map built in %.1f ms\n", ms);
    anvil_safetensors *ck = NULL;
    CHECK_OK(anvil_safetensors_open(MODELS "/transformer_enc/v1.safetensors", &ck));
    if (map && ck) CHECK_EQ(compare_reference(map, MODELS "/transformer_enc/map.json", ck), 48);
    anvil_safetensors_close(ck);
    if (map)
        CHECK_EQ(check_compute(map, MODELS "/transformer_enc/v1.onnx",
                               MODELS "/transformer_enc/v1.safetensors"),
                 anvil_name_map_count(map));
    anvil_name_map_destroy(map);
}

/* BatchNorm kept: every initializer has its state-dict name. */
static void check_bn_kept(void) {
    double ms;
    anvil_name_map *map = build(MODELS "/mobilenet_v2_bn/v1.onnx",
                                MODELS "/mobilenet_v2/v1.safetensors", &ms);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(MODELS "/mobilenet_v2_bn/v1.onnx", &m));
    if (!map || !m) goto done;
    size_t n = anvil_model_initializer_count(m);
    CHECK(n > 106);
    CHECK_EQ(anvil_name_map_count(map), n);
    CHECK_EQ(anvil_name_map_unmatched_count(map), 0);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        anvil_map_entry e;
        CHECK_OK(anvil_model_initializer(m, i, &d, NULL));
        CHECK_OK(anvil_name_map_find(map, d.name, &e));
        CHECK_EQ(e.kind, ANVIL_MAP_IDENTITY);
        CHECK_STR_EQ(e.sources[0], d.name);
    }
done:
    anvil_model_destroy(m);
    anvil_name_map_destroy(map);
}

static void check_maps_equal(const anvil_name_map *a, const anvil_name_map *b) {
    CHECK_EQ(anvil_name_map_count(a), anvil_name_map_count(b));
    CHECK_EQ(anvil_name_map_unmatched_count(a), anvil_name_map_unmatched_count(b));
    for (size_t i = 0; i < anvil_name_map_count(a) && i < anvil_name_map_count(b); i++) {
        anvil_map_entry x, y;
        CHECK_OK(anvil_name_map_entry(a, i, &x));
        CHECK_OK(anvil_name_map_entry(b, i, &y));
        CHECK_STR_EQ(x.onnx, y.onnx);
        CHECK_EQ(x.kind, y.kind);
        CHECK_EQ(x.n_sources, y.n_sources);
        for (int k = 0; k < x.n_sources && k < y.n_sources; k++)
            CHECK_STR_EQ(x.sources[k], y.sources[k]);
        CHECK_EQ(x.rank, y.rank);
        CHECK(memcmp(x.perm, y.perm, sizeof x.perm[0] * (size_t)x.rank) == 0);
        CHECK(x.eps == y.eps && x.axis == y.axis);
    }
    CHECK_EQ(anvil_name_map_tie_count(a), anvil_name_map_tie_count(b));
    for (size_t i = 0; i < anvil_name_map_tie_count(a) && i < anvil_name_map_tie_count(b); i++) {
        const char *const *x = NULL, *const *y = NULL;
        size_t nx = 0, ny = 0;
        CHECK_OK(anvil_name_map_tie(a, i, &x, &nx));
        CHECK_OK(anvil_name_map_tie(b, i, &y, &ny));
        CHECK_EQ(nx, ny);
        for (size_t k = 0; k < nx && k < ny; k++) CHECK_STR_EQ(x[k], y[k]);
    }
    for (size_t i = 0; i < anvil_name_map_unmatched_count(a); i++)
        CHECK_STR_EQ(anvil_name_map_unmatched(a, i), anvil_name_map_unmatched(b, i));
}

/* The "version" a map's JSON text says (-1 if none). */
static int written_version(const char *text) {
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    int version = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(root);
    return version;
}

/* The good file holds each kind (and fold weights with a perm, with an axis) and tie groups:
 * its fields come out as written and survive save / load,
 * to_json / load_memory and clone unchanged. */
static void check_round_trip(void) {
    anvil_name_map *map = NULL, *back = NULL, *mem = NULL, *copy = NULL;
    CHECK_OK(anvil_name_map_load(MAP_DATA "/good.json", &map));
    if (!map) return;
    CHECK_EQ(anvil_name_map_count(map), 7);
    CHECK_EQ(anvil_name_map_unmatched_count(map), 1);
    CHECK_STR_EQ(anvil_name_map_unmatched(map, 0), "onnx::Constant_3");
    CHECK(anvil_name_map_unmatched(map, 1) == NULL);
    anvil_map_entry e;
    CHECK_OK(anvil_name_map_find(map, "onnx::MatMul_7", &e));
    CHECK(e.kind == ANVIL_MAP_TRANSPOSE && e.rank == 2 && e.perm[0] == 1 && e.perm[1] == 0);
    CHECK_STR_EQ(e.sources[0], "proj.weight");
    CHECK_OK(anvil_name_map_find(map, "onnx::Conv_10", &e));
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_BIAS && e.eps == 0.001 && e.n_sources == 5);
    CHECK_STR_EQ(e.sources[0], "");
    CHECK_STR_EQ(e.sources[4], "bn.running_var");
    CHECK_OK(anvil_name_map_find(map, "onnx::Gemm_11", &e)); /* a fold, then transposed */
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.rank == 2 && e.perm[0] == 1);
    CHECK_OK(anvil_name_map_find(map, "onnx::Conv_9", &e));
    CHECK(e.rank == 0 && e.axis == 0);
    CHECK_OK(anvil_name_map_find(map, "onnx::ConvTranspose_12", &e)); /* channels in dim 1 */
    CHECK(e.kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && e.axis == 1 && e.rank == 0);
    CHECK_STATUS(anvil_name_map_find(map, "nosuch", &e), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "nosuch");
    const char *const *names = NULL;
    size_t n = 0;
    CHECK_EQ(anvil_name_map_tie_count(map), 2);
    CHECK_OK(anvil_name_map_tie(map, 0, &names, &n));
    CHECK_EQ(n, 3);
    if (n == 3) CHECK_STR_EQ(names[2], "ln2.weight");
    CHECK_STATUS(anvil_name_map_tie(map, 2, &names, &n), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK(names == NULL && n == 0);
    CHECK_STATUS(anvil_name_map_entry(map, 7, &e), ANVIL_STATUS_OUT_OF_RANGE);

    char path[] = "/tmp/anvil_test_name_map_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_OK(anvil_name_map_save(map, path));
    CHECK_OK(anvil_name_map_load(path, &back));
    if (back) check_maps_equal(map, back);
    unlink(path);
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(anvil__name_map_to_json(map, &text, &len));
    CHECK(text && strlen(text) == len);
    CHECK_EQ(written_version(text), 3); /* it holds tie groups */
    if (text) CHECK_OK(anvil_name_map_load_memory(text, len, &mem));
    if (mem) check_maps_equal(map, mem);
    anvil__free(text);
    CHECK_OK(anvil__name_map_clone(map, &copy));
    if (copy) check_maps_equal(map, copy);
    anvil_name_map_destroy(map);
    anvil_name_map_destroy(back);
    anvil_name_map_destroy(mem);
    anvil_name_map_destroy(copy);
}

/* A built map survives the round trip too (eps and "" sources included). */
static void check_built_round_trip(void) {
    double ms;
    anvil_name_map *map = build(MODELS "/mobilenet_v2/v1.onnx",
                                MODELS "/mobilenet_v2/v1.safetensors", &ms);
    anvil_name_map *back = NULL;
    char *text = NULL;
    size_t len = 0;
    if (map) CHECK_OK(anvil__name_map_to_json(map, &text, &len));
    CHECK_EQ(written_version(text), 1); /* conv folds only: older readers take it */
    if (text) CHECK_OK(anvil_name_map_load_memory(text, len, &back));
    if (back) check_maps_equal(map, back);
    anvil__free(text);
    anvil_name_map_destroy(map);
    anvil_name_map_destroy(back);
}

typedef struct corrupt_case {
    const char *file;
    const char *needles[3]; /* substrings of the message */
} corrupt_case;

static const corrupt_case k_corrupt[] = {
    {"not_json.json", {"not valid JSON"}},
    {"not_object.json", {"not a JSON object"}},
    {"trailing_garbage.json", {"after the JSON"}},
    {"wrong_format.json", {"field 'format'", "anvil-engine"}},
    {"wrong_version.json", {"field 'version'", "3"}},
    {"version_string.json", {"field 'version'", "not a number"}},
    {"missing_initializers.json", {"field 'initializers'", "missing"}},
    {"unknown_top_field.json", {"field 'model'", "unknown field"}},
    {"entry_not_object.json", {"initializers[0]", "not an object"}},
    {"missing_onnx.json", {"initializers[1]", "field 'onnx'", "missing"}},
    {"onnx_not_string.json", {"initializers[1]", "field 'onnx'", "not a string"}},
    {"missing_kind.json", {"initializers[1] ('onnx::MatMul_7')", "field 'kind'", "missing"}},
    {"unknown_kind.json", {"initializers[1] ('onnx::MatMul_7')", "field 'kind'", "'rotate'"}},
    {"missing_sources.json", {"('onnx::MatMul_7')", "field 'sources'", "missing"}},
    {"sources_count.json", {"('onnx::MatMul_7')", "field 'sources'", "got 2"}},
    {"fold_sources_count.json", {"initializers[0] ('w')", "field 'sources'", "got 4"}},
    {"source_not_string.json", {"('onnx::MatMul_7')", "field 'sources[0]'", "not a string"}},
    {"source_empty.json", {"('onnx::MatMul_7')", "field 'sources[0]'", "empty"}},
    {"fold_weight_empty_conv.json", {"('w')", "field 'sources[0]'", "empty"}},
    {"huge_sources.json", {"('onnx::MatMul_7')", "field 'sources'", "more than 5"}},
    {"perm_missing.json", {"('onnx::MatMul_7')", "field 'perm'", "missing"}},
    {"perm_not_permutation.json", {"('onnx::MatMul_7')", "field 'perm'", "twice"}},
    {"perm_out_of_range.json", {"('onnx::MatMul_7')", "field 'perm'", "out of range"}},
    {"perm_not_integer.json", {"('onnx::MatMul_7')", "field 'perm'", "element 0"}},
    {"perm_negative.json", {"('onnx::MatMul_7')", "field 'perm'", "element 0"}},
    {"perm_empty.json", {"('onnx::MatMul_7')", "field 'perm'", "empty"}},
    {"huge_perm.json", {"('onnx::MatMul_7')", "field 'perm'", "more than 8"}},
    {"perm_on_identity.json", {"('a')", "field 'perm'", "not allowed"}},
    {"perm_on_fold_bias.json", {"('b')", "field 'perm'", "not allowed"}},
    {"fold_perm_not_permutation.json", {"('w')", "field 'perm'", "twice"}},
    {"axis_on_identity.json", {"('a')", "field 'axis'", "not allowed"}},
    {"axis_out_of_range.json", {"('w')", "field 'axis'", "not an axis"}},
    {"axis_not_integer.json", {"('w')", "field 'axis'", "not an axis"}},
    {"eps_missing.json", {"('w')", "field 'eps'", "missing"}},
    {"eps_negative.json", {"('w')", "field 'eps'", ">= 0"}},
    {"eps_string.json", {"('w')", "field 'eps'", "not a number"}},
    {"eps_huge.json", {"('w')", "field 'eps'", "finite"}},
    {"eps_on_transpose.json", {"('onnx::MatMul_7')", "field 'eps'", "not allowed"}},
    {"tied_not_array.json", {"name map", "field 'tied'", "not an array"}},
    {"tied_group_not_array.json", {"tied[1]", "field 'tied'", "not an array"}},
    {"tied_not_string.json", {"tied[0]", "field 'tied[1]'", "not a string"}},
    {"tied_empty_name.json", {"tied[0]", "field 'tied[1]'", "empty name"}},
    {"tied_single.json", {"tied[0]", "a group of 1 name"}},
    {"tied_twice.json", {"tied[0]", "field 'tied[2]'", "appears twice"}},
    {"tied_in_entry.json", {"('onnx::MatMul_7')", "field 'tied'", "unknown"}},
    {"version_fraction.json", {"field 'version'", "1.5"}},
    {"unknown_field.json", {"('onnx::MatMul_7')", "field 'note'", "unknown"}},
    {"duplicate_field.json", {"initializers[1]", "field 'kind'", "twice"}},
    {"duplicate_onnx.json", {"initializers[7] ('fc.weight')", "field 'onnx'", "twice"}},
    {"long_name.json", {"initializers[1]", "field 'onnx'", "longer than 4096"}},
    {"unmatched_duplicate.json", {"unmatched[0]", "'fc.weight'", "twice"}},
    {"unmatched_not_string.json", {"unmatched[0]", "not a string"}},
    {"nul_byte.json", {"NUL byte"}},
};

static void check_corrupt(void) {
    for (size_t i = 0; i < sizeof k_corrupt / sizeof k_corrupt[0]; i++) {
        const corrupt_case *c = &k_corrupt[i];
        char path[512];
        snprintf(path, sizeof path, MAP_DATA "/%s", c->file);
        anvil_name_map *map = (anvil_name_map *)&map; /* must come back NULL */
        anvil_status s = anvil_name_map_load(path, &map);
        if (s != ANVIL_STATUS_PARSE_ERROR)
            fprintf(stderr, "%s: %s (%s)\n", c->file, anvil_status_string(s), anvil_last_error());
        CHECK_EQ(s, ANVIL_STATUS_PARSE_ERROR);
        CHECK(map == NULL);
        CHECK_CONTAINS(anvil_last_error(), c->file);
        for (int k = 0; k < 3 && c->needles[k]; k++)
            CHECK_CONTAINS(anvil_last_error(), c->needles[k]);
    }
}

/* Every allocation of load, clone and to_json failing in turn: OUT_OF_MEMORY, nothing leaked
 * (the sanitizer builds check), until enough succeed. */
static void check_alloc_failures(void) {
    static char text[1 << 16];
    FILE *f = fopen(MAP_DATA "/good.json", "rb");
    size_t n = f ? fread(text, 1, sizeof text, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0);
    bool done[3] = {false, false, false};
    for (long k = 0; k < 500 && !(done[0] && done[1] && done[2]); k++) {
        anvil_name_map *map = NULL, *copy = NULL;
        char *json = NULL;
        anvil__alloc_fail_after(k);
        anvil_status s = anvil_name_map_load_memory(text, n, &map);
        anvil__alloc_fail_after(-1);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        CHECK((s == ANVIL_OK) == (map != NULL));
        done[0] = done[0] || s == ANVIL_OK;
        if (!map) continue;
        anvil__alloc_fail_after(k);
        s = anvil__name_map_clone(map, &copy);
        anvil__alloc_fail_after(-1);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        done[1] = done[1] || s == ANVIL_OK;
        anvil__alloc_fail_after(k);
        s = anvil__name_map_to_json(map, &json, NULL);
        anvil__alloc_fail_after(-1);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        done[2] = done[2] || s == ANVIL_OK;
        anvil__free(json);
        anvil_name_map_destroy(copy);
        anvil_name_map_destroy(map);
    }
    CHECK(done[0] && done[1] && done[2]);
}

static void check_api_errors(void) {
    anvil_name_map *map = NULL;
    anvil_map_entry e;
    CHECK_STATUS(anvil_name_map_load(MAP_DATA "/nosuch.json", &map), ANVIL_STATUS_NOT_FOUND);
    CHECK_STATUS(anvil_name_map_load(NULL, &map), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(anvil_name_map_load_memory(NULL, 3, &map), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(anvil_name_map_load_memory("", 0, &map), ANVIL_STATUS_PARSE_ERROR);
    CHECK_STATUS(anvil_name_map_save(NULL, "/tmp/x.json"), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(anvil_name_map_entry(NULL, 0, &e), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(anvil_name_map_find(NULL, "a", &e), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(anvil_name_map_build(NULL, NULL, NULL, &map), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_EQ(anvil_name_map_count(NULL), 0);
    CHECK_EQ(anvil_name_map_unmatched_count(NULL), 0);
    CHECK(anvil_name_map_unmatched(NULL, 0) == NULL);
    anvil_name_map_destroy(NULL);
    anvil_map_options o = anvil_map_options_default();
    CHECK(o.tolerance == 1e-6);
    CHECK_OK(anvil_name_map_load(MAP_DATA "/good.json", &map));
    if (map) CHECK_STATUS(anvil_name_map_save(map, "/nonexistent_dir/x.json"),
                          ANVIL_STATUS_IO_ERROR);
    anvil_name_map_destroy(map);
}

int main(void) {
    check_round_trip();
    check_corrupt();
    check_api_errors();
    check_alloc_failures();
    if (access(MODELS "/mobilenet_v2/map.json", R_OK) != 0 ||
        access(MODELS "/transformer_enc/map.json", R_OK) != 0) {
        printf("%s missing: model checks skipped\n", MODELS);
        return check_failures_ ? check_exit() : 77;
    }
    check_mobilenet();
    check_transformer();
    check_bn_kept();
    check_built_round_trip();
    return check_exit();
}
