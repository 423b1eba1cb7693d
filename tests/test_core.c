/* Tests core helpers: status text, errors, checked allocation, overflow, dtypes, f16/bf16
 * rounding, conversion, shape strings, the name map, atomic writes and mappings. */
#include "check.h"
#include "core/core.h"

#include <stdlib.h>
#include <unistd.h>

static void test_status(void) {
    CHECK_STR_EQ(anvil_status_string(ANVIL_STATUS_OK), "ok");
    CHECK_STR_EQ(anvil_status_string(ANVIL_STATUS_SHAPE_MISMATCH), "shape mismatch");
    CHECK_STR_EQ(anvil_status_string((anvil_status)999), "unknown status");
    CHECK_STR_EQ(anvil_version(), ANVIL_VERSION_STRING);
    CHECK_EQ(anvil__error(ANVIL_STATUS_PARSE_ERROR, "bad %s %d", "thing", 7),
             ANVIL_STATUS_PARSE_ERROR);
    CHECK_STR_EQ(anvil_last_error(), "bad thing 7");
    anvil__error_prefix(ANVIL_STATUS_PARSE_ERROR, "loading '%s'", "m.onnx");
    CHECK_STR_EQ(anvil_last_error(), "loading 'm.onnx': bad thing 7");
}

static void test_alloc(void) {
    CHECK(anvil__malloc(ANVIL_MAX_ALLOC + 1) == NULL);
    CHECK_CONTAINS(anvil_last_error(), "exceeds the limit");
    CHECK(anvil__malloc_array(SIZE_MAX / 2, 4) == NULL);
    CHECK(anvil__calloc(SIZE_MAX / 2, 4) == NULL);
    anvil__alloc_fail_after(1);
    void *a = anvil__malloc(16);
    void *b = anvil__malloc(16);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK_CONTAINS(anvil_last_error(), "out of memory");
    void *c = anvil__malloc(16); /* the hook fires once */
    CHECK(c != NULL);
    anvil__free(a);
    anvil__free(c);
    size_t s;
    CHECK(!anvil__mul_size(SIZE_MAX, 2, &s));
    CHECK(anvil__mul_size(3, 5, &s) && s == 15);
    CHECK(!anvil__add_size(SIZE_MAX, 1, &s));
    int64_t i;
    CHECK(!anvil__mul_i64(INT64_MAX / 2, 3, &i));
}

static void test_dtypes(void) {
    CHECK_EQ(anvil_dtype_size(ANVIL_DTYPE_F32), 4);
    CHECK_EQ(anvil_dtype_size(ANVIL_DTYPE_U64), 8);
    CHECK_EQ(anvil_dtype_size(ANVIL_DTYPE_BOOL), 1);
    CHECK_EQ(anvil_dtype_size((anvil_dtype)99), 0);
    CHECK_STR_EQ(anvil_dtype_name(ANVIL_DTYPE_BF16), "bf16");
    int64_t dims[] = {2, 3, 4};
    CHECK_EQ(anvil_shape_numel(3, dims), 24);
    CHECK_EQ(anvil_shape_numel(0, NULL), 1);
    int64_t huge[] = {INT64_MAX / 2, 4};
    CHECK_EQ(anvil_shape_numel(2, huge), -1);
    int64_t neg[] = {2, -1};
    CHECK_EQ(anvil_shape_numel(2, neg), -1);
    CHECK_EQ(anvil_shape_numel(ANVIL_MAX_RANK + 1, dims), -1);
}

static void test_half(void) {
    /* Exact values and known encodings. */
    CHECK_EQ(anvil__f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(anvil__f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ(anvil__f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(anvil__f32_to_f16(65520.0f), 0x7c00); /* rounds to infinity */
    CHECK_EQ(anvil__f32_to_f16(5.9604644775390625e-8f), 0x0001); /* smallest subnormal */
    CHECK_EQ(anvil__f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);      /* tie → even */
    CHECK_EQ(anvil__f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);      /* tie → even (up) */
    CHECK(anvil__f16_to_f32(0x7e00) != anvil__f16_to_f32(0x7e00)); /* NaN */
    CHECK_NEAR(anvil__f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(anvil__f16_to_f32(0x0001), 5.9604644775390625e-8, 0);
    /* Every finite half round-trips exactly. */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (anvil__f32_to_f16(anvil__f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(anvil__f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(anvil__f32_to_bf16(1.00390625f), 0x3f80); /* tie → even */
    CHECK_EQ(anvil__f32_to_bf16(1.01171875f), 0x3f82); /* tie → even (up) */
    CHECK_NEAR(anvil__bf16_to_f32(0xc040), -3.0, 0);
}

static void test_convert(void) {
    float f[] = {1.5f, -2.7f, 300.0f, 0.0f};
    int32_t i[4];
    anvil__convert(ANVIL_DTYPE_I32, i, ANVIL_DTYPE_F32, f, 4);
    CHECK_EQ(i[0], 1);
    CHECK_EQ(i[1], -2);
    CHECK_EQ(i[2], 300);
    uint8_t b[4];
    anvil__convert(ANVIL_DTYPE_BOOL, b, ANVIL_DTYPE_F32, f, 4);
    CHECK(b[0] == 1 && b[1] == 1 && b[3] == 0);
    int64_t big[] = {INT64_MAX, -5};
    int64_t back[2];
    anvil__convert(ANVIL_DTYPE_I64, back, ANVIL_DTYPE_I64, big, 2);
    CHECK(back[0] == INT64_MAX);
    uint64_t u[2];
    anvil__convert(ANVIL_DTYPE_U64, u, ANVIL_DTYPE_I64, big, 2);
    CHECK(u[1] == (uint64_t)-5);
    double d[2];
    uint64_t umax[] = {UINT64_MAX, 7};
    anvil__convert(ANVIL_DTYPE_F64, d, ANVIL_DTYPE_U64, umax, 2);
    CHECK(d[0] > 1.8e19 && d[1] == 7.0);
    CHECK_EQ(anvil__load_i64(ANVIL_DTYPE_F32, (float[]){NAN}, 0), 0);
}

static void test_shape_str(void) {
    char buf[ANVIL_SHAPE_STR_MAX];
    int64_t dims[] = {1, 3, -1, 224};
    CHECK_STR_EQ(anvil__shape_str(4, dims, buf, sizeof buf), "1x3x?x224");
    CHECK_STR_EQ(anvil__shape_str(0, dims, buf, sizeof buf), "scalar");
    CHECK_STR_EQ(anvil__shape_str(-1, dims, buf, sizeof buf), "?");
}

static void test_name_map(void) {
    anvil__name_map m = {0};
    char names[500][16];
    for (int i = 0; i < 500; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        CHECK_OK(anvil__name_map_put(&m, names[i], i));
    }
    CHECK_EQ(anvil__name_map_get(&m, "v0"), 0);
    CHECK_EQ(anvil__name_map_get(&m, "v499"), 499);
    CHECK_EQ(anvil__name_map_get(&m, "missing"), -1);
    CHECK_EQ(m.count, 500);
    anvil__name_map_free(&m);
    CHECK_EQ(anvil__name_map_get(&m, "v1"), -1);
}

static void test_files(void) {
    char path[] = "/tmp/anvil_test_core_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    const void *parts[] = {"hello ", "world"};
    size_t sizes[] = {6, 5};
    CHECK_OK(anvil__write_file_atomic(path, parts, sizes, 2));
    anvil__mapping m;
    CHECK_OK(anvil__map_file(path, &m));
    CHECK_EQ(m.size, 11);
    CHECK(memcmp(m.data, "hello world", 11) == 0);
    anvil__unmap(&m);
    unlink(path);
    CHECK_STATUS(anvil__map_file("/nonexistent/anvil", &m), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "/nonexistent/anvil");
    CHECK_STATUS(anvil__write_file_atomic("/nonexistent/dir/x", parts, sizes, 2),
                 ANVIL_STATUS_IO_ERROR);
}

static void test_tensor_list(void) {
    anvil_tensor_list *l = anvil__tensor_list_new(2);
    CHECK(l != NULL);
    int64_t dims[] = {2};
    float *data = anvil__malloc(8);
    CHECK_OK(anvil__tensor_list_set(l, 1, "y", ANVIL_DTYPE_F32, 1, dims, data, 8));
    CHECK_EQ(anvil_tensor_list_count(l), 2);
    CHECK_STR_EQ(anvil_tensor_list_get(l, 1)->name, "y");
    CHECK(anvil_tensor_list_get(l, 2) == NULL);
    anvil_tensor_list_destroy(l);
    anvil_tensor_list_destroy(NULL);
}

int main(void) {
    test_status();
    test_alloc();
    test_dtypes();
    test_half();
    test_convert();
    test_shape_str();
    test_name_map();
    test_files();
    test_tensor_list();
    return check_exit();
}
