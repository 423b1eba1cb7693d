/*
 * test_npy.c — the .npy reader and writer: files written by tests/data/gen/make_tensor_files.py
 * (numpy's exact layout, built without numpy) for every dtype and format version, write→read
 * round trips, one corrupt file per failure mode with exact status and message, truncations,
 * allocation failures, and the real inputs under /work/shared/models (skipped when absent).
 */
#include "anvil.h"
#include "check.h"
#include "file_bytes.h"
#include "core/core.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_DATA ANVIL_TEST_DATA_DIR "/npy/"

/* Reads a file that must hold one tensor of `dtype` and `rank`/`dims`; NULL on failure. */
static anvil_tensor_list *read_ok(const char *file, anvil_dtype dtype, int32_t rank,
                                  const int64_t *dims) {
    char path[512];
    snprintf(path, sizeof path, NPY_DATA "%s.npy", file);
    anvil_tensor_list *list = NULL;
    anvil_status s = anvil_npy_read(path, &list);
    if (s != ANVIL_OK) fprintf(stderr, "file %s:\n", file);
    CHECK_OK(s);
    if (!list) return NULL;
    CHECK_EQ(anvil_tensor_list_count(list), 1);
    const anvil_tensor *t = anvil_tensor_list_get(list, 0);
    CHECK(t->name == NULL);
    CHECK_EQ(t->dtype, dtype);
    CHECK_EQ(t->rank, rank);
    for (int32_t d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], dims[d]);
    CHECK_EQ(t->bytes, anvil_shape_numel(rank, dims) * (int64_t)anvil_dtype_size(dtype));
    return list;
}

static void check_f4_2x3(const char *file) {
    anvil_tensor_list *list = read_ok(file, ANVIL_DTYPE_F32, 2, (const int64_t[]){2, 3});
    const anvil_tensor *t = anvil_tensor_list_get(list, 0);
    for (int k = 0; t && k < 6; k++)
        CHECK_NEAR(((const float *)t->data)[k], 0.5 * k - 1, 0);
    anvil_tensor_list_destroy(list);
}

/* Five values per type, the same the generator packs with Python's struct module. */
static void check_typed(const char *file, anvil_dtype dtype, const void *expected) {
    anvil_tensor_list *list = read_ok(file, dtype, 1, (const int64_t[]){5});
    const anvil_tensor *t = anvil_tensor_list_get(list, 0);
    if (t && t->bytes == 5 * anvil_dtype_size(dtype) && memcmp(t->data, expected, t->bytes) != 0) {
        fprintf(stderr, "file %s: data differs\n", file);
        CHECK(0);
    }
    anvil_tensor_list_destroy(list);
}

static void test_good_files(void) {
    static const int8_t i1[] = {-128, -1, 0, 1, 127};
    static const uint8_t u1[] = {0, 1, 2, 254, 255};
    static const int16_t i2[] = {-32768, -1, 0, 1, 32767};
    static const uint16_t u2[] = {0, 1, 2, 65534, 65535};
    static const int32_t i4[] = {INT32_MIN, -1, 0, 1, INT32_MAX};
    static const uint32_t u4[] = {0, 1, 2, UINT32_MAX - 1, UINT32_MAX};
    static const int64_t i8[] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    static const uint64_t u8[] = {0, 1, 2, UINT64_MAX - 1, UINT64_MAX};
    static const uint8_t b1[] = {1, 0, 1, 1, 0};
    static const double f8[] = {1.0, -2.5, 1e300, -1e-300, 0.0};
    check_typed("i1", ANVIL_DTYPE_I8, i1);
    check_typed("u1", ANVIL_DTYPE_U8, u1);
    check_typed("u1_big_endian", ANVIL_DTYPE_U8, u1);
    check_typed("i2", ANVIL_DTYPE_I16, i2);
    check_typed("u2", ANVIL_DTYPE_U16, u2);
    check_typed("i4", ANVIL_DTYPE_I32, i4);
    check_typed("u4", ANVIL_DTYPE_U32, u4);
    check_typed("i8", ANVIL_DTYPE_I64, i8);
    check_typed("u8", ANVIL_DTYPE_U64, u8);
    check_typed("b1", ANVIL_DTYPE_BOOL, b1);
    check_typed("f8", ANVIL_DTYPE_F64, f8);

    anvil_tensor_list *list = read_ok("f2", ANVIL_DTYPE_F16, 1, (const int64_t[]){5});
    static const double f2[] = {1.0, -2.0, 0.5, 65504.0, 0.0};
    for (size_t k = 0; list && k < 5; k++)
        CHECK_NEAR(anvil__load_f64(ANVIL_DTYPE_F16, list->tensors[0].data, k), f2[k], 0);
    anvil_tensor_list_destroy(list);

    list = read_ok("f8_scalar", ANVIL_DTYPE_F64, 0, NULL);
    CHECK(list && *(const double *)list->tensors[0].data == 3.25);
    anvil_tensor_list_destroy(list);
    anvil_tensor_list_destroy(read_ok("f4_empty_0x3", ANVIL_DTYPE_F32, 2, (const int64_t[]){0, 3}));
    check_f4_2x3("f4_2x3");
    check_f4_2x3("v2");
    check_f4_2x3("v3");
    check_f4_2x3("keys_reordered");
}

typedef struct corrupt_case {
    const char *file;
    anvil_status status;
    const char *message;
} corrupt_case;

static const corrupt_case corrupt_cases[] = {
    {"bad_magic", ANVIL_STATUS_PARSE_ERROR, "bad magic"},
    {"short", ANVIL_STATUS_PARSE_ERROR, "file is 8 bytes, too short for the header"},
    {"bad_version", ANVIL_STATUS_UNSUPPORTED, "format version 4.0 is not supported"},
    {"header_past_end", ANVIL_STATUS_PARSE_ERROR, "header length 4000 is larger than the file"},
    {"truncated_data", ANVIL_STATUS_PARSE_ERROR,
     "truncated data: expected 24 bytes for '<f4' 2x3, got 20"},
    {"trailing_data", ANVIL_STATUS_PARSE_ERROR, "4 trailing bytes after the data"},
    {"descr_complex", ANVIL_STATUS_UNSUPPORTED, "dtype '<c8' is not supported"},
    {"descr_bfloat16", ANVIL_STATUS_UNSUPPORTED, "dtype '<V2' is not supported"},
    {"descr_object", ANVIL_STATUS_UNSUPPORTED, "dtype '|O' is not supported"},
    {"big_endian", ANVIL_STATUS_UNSUPPORTED, "big-endian dtype '>f4' is not supported"},
    {"structured", ANVIL_STATUS_UNSUPPORTED, "structured dtypes"},
    {"fortran_order", ANVIL_STATUS_UNSUPPORTED, "Fortran-order arrays are not supported"},
    {"missing_key", ANVIL_STATUS_PARSE_ERROR, "missing key 'shape'"},
    {"unknown_key", ANVIL_STATUS_PARSE_ERROR, "unexpected key 'foo'"},
    {"duplicate_key", ANVIL_STATUS_PARSE_ERROR, "duplicate key 'descr'"},
    {"shape_not_tuple", ANVIL_STATUS_PARSE_ERROR, "'(n)' is not a tuple"},
    {"unclosed_dict", ANVIL_STATUS_PARSE_ERROR, "expected ',' or '}' at offset 118, got end"},
    {"not_a_dict", ANVIL_STATUS_PARSE_ERROR, "expected '{' at offset 0, got '['"},
    {"garbage_after_dict", ANVIL_STATUS_PARSE_ERROR, "expected only padding after '}'"},
    {"fortran_not_bool", ANVIL_STATUS_PARSE_ERROR, "expected True or False"},
    {"negative_dim", ANVIL_STATUS_PARSE_ERROR, "shape dim 0 is negative"},
    {"rank_too_large", ANVIL_STATUS_LIMIT_EXCEEDED, "shape has more than 8 dims"},
    {"dim_too_large", ANVIL_STATUS_LIMIT_EXCEEDED, "shape dim 0 does not fit in 64 bits"},
    {"dims_overflow", ANVIL_STATUS_LIMIT_EXCEEDED,
     "shape 4294967296x4294967296x4 has too many elements"},
    {"bad_bool", ANVIL_STATUS_PARSE_ERROR, "bool element 1 is 2, expected 0 or 1"},
};

static void test_corrupt(void) {
    for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++) {
        const corrupt_case *c = &corrupt_cases[i];
        char path[512];
        snprintf(path, sizeof path, NPY_DATA "%s.npy", c->file);
        anvil_tensor_list *list = (anvil_tensor_list *)1;
        anvil_status s = anvil_npy_read(path, &list);
        if (s != c->status) fprintf(stderr, "case %s:\n", c->file);
        CHECK_STATUS(s, c->status);
        CHECK_CONTAINS(anvil_last_error(), c->message);
        CHECK_CONTAINS(anvil_last_error(), c->file); /* the path prefixes the message */
        CHECK(list == NULL);
    }
}

static void test_truncations_and_oom(void) {
    size_t size;
    uint8_t *image = read_all(NPY_DATA "f4_2x3.npy", &size);
    CHECK(image != NULL);
    if (!image) return;
    for (size_t n = 0; n < size; n++) {
        anvil_tensor_list *list = (anvil_tensor_list *)1;
        CHECK_STATUS(anvil_npy_read_memory(image, n, &list), ANVIL_STATUS_PARSE_ERROR);
        CHECK(list == NULL);
    }
    anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (long k = 0; k < 20 && s == ANVIL_STATUS_OUT_OF_MEMORY; k++) {
        anvil_tensor_list *list = NULL;
        anvil__alloc_fail_after(k);
        s = anvil_npy_read_memory(image, size, &list);
        anvil__alloc_fail_after(-1);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        CHECK((s == ANVIL_OK) == (list != NULL));
        anvil_tensor_list_destroy(list);
    }
    CHECK_OK(s);
    free(image);
    anvil_tensor_list *list = NULL;
    CHECK_STATUS(anvil_npy_read(NPY_DATA "no_such_file.npy", &list), ANVIL_STATUS_NOT_FOUND);
    CHECK_STATUS(anvil_npy_read_memory(NULL, 0, NULL), ANVIL_STATUS_INVALID_ARGUMENT);
}

/* Writes `t`, checks numpy's layout (v1.0, dict text, 64-byte aligned data) and reads it back. */
static void round_trip(const char *dir, const anvil_tensor *t, const char *dict) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    CHECK_OK(anvil_npy_write(path, t));
    size_t size;
    uint8_t *image = read_all(path, &size);
    CHECK(image != NULL && size >= 10);
    if (!image || size < 10) return;
    size_t header_len = (size_t)image[8] | (size_t)image[9] << 8;
    CHECK(memcmp(image, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_EQ((10 + header_len) % 64, 0);
    CHECK_EQ(size, 10 + header_len + t->bytes);
    CHECK(header_len > 0 && image[10 + header_len - 1] == '\n');
    CHECK(size > 10 + strlen(dict) && memcmp(image + 10, dict, strlen(dict)) == 0);
    free(image);

    anvil_tensor_list *list = NULL;
    CHECK_OK(anvil_npy_read(path, &list));
    const anvil_tensor *r = anvil_tensor_list_get(list, 0);
    CHECK(r != NULL);
    if (!r) return;
    CHECK_EQ(r->dtype, t->dtype);
    CHECK_EQ(r->rank, t->rank);
    for (int32_t d = 0; d < t->rank && d < r->rank; d++)
        CHECK_EQ(r->dims[d], t->dims[d]);
    CHECK(r->bytes == t->bytes && memcmp(r->data, t->data, t->bytes) == 0);
    anvil_tensor_list_destroy(list);
}

static void test_round_trip(const char *dir) {
    static const struct {
        anvil_dtype dtype;
        const char *descr;
    } types[] = {
        {ANVIL_DTYPE_F32, "<f4"}, {ANVIL_DTYPE_F16, "<f2"}, {ANVIL_DTYPE_F64, "<f8"},
        {ANVIL_DTYPE_I8, "|i1"},  {ANVIL_DTYPE_U8, "|u1"},  {ANVIL_DTYPE_I16, "<i2"},
        {ANVIL_DTYPE_U16, "<u2"}, {ANVIL_DTYPE_I32, "<i4"}, {ANVIL_DTYPE_U32, "<u4"},
        {ANVIL_DTYPE_I64, "<i8"}, {ANVIL_DTYPE_U64, "<u8"}, {ANVIL_DTYPE_BOOL, "|b1"},
    };
    uint8_t buf[3 * 5 * 8];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        anvil_dtype dt = types[i].dtype;
        for (size_t k = 0; k < 15; k++)
            anvil__store_i64(dt, buf, k,
                             dt == ANVIL_DTYPE_BOOL ? (int64_t)(k % 3 == 0) : (int64_t)(k * 5 + i));
        anvil_tensor t = {.dtype = dt,
                          .rank = 2,
                          .dims = {3, 5},
                          .data = buf,
                          .bytes = 15 * anvil_dtype_size(dt)};
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3, 5), }",
                 types[i].descr);
        round_trip(dir, &t, dict);
        t.rank = 1;
        t.dims[0] = 15;
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (15,), }",
                 types[i].descr);
        round_trip(dir, &t, dict);
        t.rank = 0;
        t.bytes = anvil_dtype_size(dt);
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (), }",
                 types[i].descr);
        round_trip(dir, &t, dict);
    }
    anvil_tensor big = {.dtype = ANVIL_DTYPE_U8,
                        .rank = 8,
                        .data = buf,
                        .bytes = 0,
                        .dims = {1, 2, 3, 4, 5, 6, 7, 0}};
    round_trip(dir, &big,
               "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, "
               "0), }");

    char path[512];
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    anvil_tensor bad = {.dtype = ANVIL_DTYPE_BF16, .rank = 1, .dims = {2}, .data = buf, .bytes = 4};
    CHECK_STATUS(anvil_npy_write(path, &bad), ANVIL_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(anvil_last_error(), "bf16");
    bad.dtype = ANVIL_DTYPE_F32;
    CHECK_STATUS(anvil_npy_write(path, &bad), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "has 4 bytes, expected 8");
    bad.rank = 9;
    CHECK_STATUS(anvil_npy_write(path, &bad), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK(access(path, F_OK) != 0);
}

static int test_real_inputs(void) {
    static const struct {
        const char *path;
        int32_t rank;
        int64_t dims[4];
        float first, last;
    } inputs[] = {
        {ANVIL_SHARED_DIR "/models/mobilenet_v2/input_0.npy",
         4,
         {1, 3, 224, 224},
         -0.7219191789627075f,
         -0.9607936143875122f},
        {ANVIL_SHARED_DIR "/models/transformer_enc/input_0.npy",
         3,
         {1, 128, 256},
         -0.16165900230407715f,
         -0.4828757047653198f},
    };
    struct stat sb;
    if (stat(inputs[0].path, &sb) != 0 || stat(inputs[1].path, &sb) != 0) {
        fprintf(stderr, "skipping real inputs: %s absent\n", inputs[0].path);
        return 0;
    }
    for (size_t i = 0; i < 2; i++) {
        anvil_tensor_list *list = NULL;
        CHECK_OK(anvil_npy_read(inputs[i].path, &list));
        const anvil_tensor *t = anvil_tensor_list_get(list, 0);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK_EQ(t->dtype, ANVIL_DTYPE_F32);
        CHECK_EQ(t->rank, inputs[i].rank);
        for (int32_t d = 0; d < t->rank && d < inputs[i].rank; d++)
            CHECK_EQ(t->dims[d], inputs[i].dims[d]);
        size_t n = t->bytes / 4;
        CHECK(n > 0 && ((const float *)t->data)[0] == inputs[i].first);
        CHECK(n > 0 && ((const float *)t->data)[n - 1] == inputs[i].last);
        anvil_tensor_list_destroy(list);
    }
    return 1;
}

int main(void) {
    char dir[] = "/tmp/anvil_test_npy_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_good_files();
    test_corrupt();
    test_truncations_and_oom();
    test_round_trip(dir);
    int ran_real = test_real_inputs();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (!ran_real && !check_failures_) return 77;
    return check_exit();
}
