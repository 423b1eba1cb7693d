/*
 * test_safetensors.c — the safetensors reader and writer: a handcrafted good file (written by
 * tests/data/gen/make_tensor_files.py, not by anvil), write→read round trips for every dtype,
 * one corrupt file per failure mode with its exact status and message, truncations, allocation
 * failures, and the real checkpoints under /work/shared/models (skipped when absent).
 */
#include "anvil.h"
#include "check.h"
#include "file_bytes.h"
#include "core/core.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_DATA ANVIL_TEST_DATA_DIR "/safetensors/"

static void check_shape(const anvil_tensor *t, int32_t rank, const int64_t *dims) {
    CHECK_EQ(t->rank, rank);
    for (int32_t d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], dims[d]);
}

/* The good file lists tensors g, f, e, d, c, b, a (reverse name order) with known values. */
static void check_basic(const anvil_safetensors *st) {
    static const char *const order[] = {"g", "f", "e", "d", "c", "b", "a"};
    CHECK_EQ(anvil_safetensors_count(st), 7);
    anvil_tensor t;
    for (size_t i = 0; i < 7; i++) {
        CHECK_OK(anvil_safetensors_get(st, i, &t));
        CHECK_STR_EQ(t.name, order[i]);
    }
    CHECK_OK(anvil_safetensors_find(st, "a", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_F32);
    check_shape(&t, 2, (const int64_t[]){2, 3});
    CHECK_EQ(t.bytes, 24);
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(((const float *)t.data)[k], 0.5 * k - 1, 0);
    CHECK_OK(anvil_safetensors_find(st, "b", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_I64);
    CHECK_EQ(t.rank, 0);
    CHECK_EQ(anvil__load_i64(t.dtype, t.data, 0), -7);
    CHECK_OK(anvil_safetensors_find(st, "c", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_F16);
    static const double c[] = {1.0, -2.0, 0.5, 65504.0};
    for (size_t k = 0; k < 4; k++)
        CHECK_NEAR(anvil__load_f64(t.dtype, t.data, k), c[k], 0);
    CHECK_OK(anvil_safetensors_find(st, "d", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_BOOL);
    CHECK(t.bytes == 3 && memcmp(t.data, "\1\0\1", 3) == 0);
    CHECK_OK(anvil_safetensors_find(st, "e", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_U8);
    check_shape(&t, 1, (const int64_t[]){0});
    CHECK_EQ(t.bytes, 0);
    CHECK_OK(anvil_safetensors_find(st, "f", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_BF16);
    CHECK_NEAR(anvil__load_f64(t.dtype, t.data, 0), 1.0, 0);
    CHECK_NEAR(anvil__load_f64(t.dtype, t.data, 1), -3.5, 0);
    CHECK_OK(anvil_safetensors_find(st, "g", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_U16);
    CHECK_EQ(anvil__load_i64(t.dtype, t.data, 1), 65535);
    CHECK_STATUS(anvil_safetensors_find(st, "__metadata__", &t), ANVIL_STATUS_NOT_FOUND);
    CHECK_STATUS(anvil_safetensors_find(st, "zz", &t), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "'zz'");
    CHECK(t.data == NULL && t.name == NULL);
    CHECK_STATUS(anvil_safetensors_get(st, 7, &t), ANVIL_STATUS_OUT_OF_RANGE);
}

static void test_basic(void) {
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_open(ST_DATA "basic.safetensors", &st));
    if (st) check_basic(st);
    anvil_safetensors_close(st);

    size_t size;
    uint8_t *image = read_all(ST_DATA "basic.safetensors", &size);
    CHECK(image != NULL);
    if (!image) return;
    st = NULL;
    CHECK_OK(anvil_safetensors_open_memory(image, size, &st));
    if (st) {
        check_basic(st);
        /* g (u16 at data offset 0) is a view; a (f32 at 27) and c (f16 at 11) are misaligned,
         * so they must be aligned copies. */
        anvil_tensor t;
        CHECK_OK(anvil_safetensors_find(st, "g", &t));
        CHECK((const uint8_t *)t.data >= image && (const uint8_t *)t.data < image + size);
        CHECK_OK(anvil_safetensors_find(st, "a", &t));
        CHECK((uintptr_t)t.data % 4 == 0);
        CHECK((const uint8_t *)t.data < image || (const uint8_t *)t.data >= image + size);
        CHECK_OK(anvil_safetensors_find(st, "c", &t));
        CHECK((uintptr_t)t.data % 2 == 0);
    }
    anvil_safetensors_close(st);

    /* Every truncation of the file must fail cleanly (the last tensor ends at the last byte). */
    for (size_t n = 0; n < size; n++) {
        st = (anvil_safetensors *)1;
        CHECK_STATUS(anvil_safetensors_open_memory(image, n, &st), ANVIL_STATUS_PARSE_ERROR);
        CHECK(st == NULL);
    }
    /* Allocation failures at every step return OUT_OF_MEMORY and leak nothing (ASan). */
    anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (long k = 0; k < 100 && s == ANVIL_STATUS_OUT_OF_MEMORY; k++) {
        st = NULL;
        anvil__alloc_fail_after(k);
        s = anvil_safetensors_open_memory(image, size, &st);
        anvil__alloc_fail_after(-1);
        CHECK(s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY);
        CHECK((s == ANVIL_OK) == (st != NULL));
        anvil_safetensors_close(st);
    }
    CHECK_OK(s);
    free(image);

    CHECK_STATUS(anvil_safetensors_open(ST_DATA "no_such_file.safetensors", &st),
                 ANVIL_STATUS_NOT_FOUND);
    CHECK_STATUS(anvil_safetensors_open_memory(NULL, 0, NULL), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_EQ(anvil_safetensors_count(NULL), 0);
    anvil_safetensors_close(NULL);
}

typedef struct corrupt_case {
    const char *file;
    anvil_status status;
    const char *message;
} corrupt_case;

static const corrupt_case corrupt_cases[] = {
    {"short", ANVIL_STATUS_PARSE_ERROR, "file is 5 bytes, too short for the 8-byte header"},
    {"truncated_header", ANVIL_STATUS_PARSE_ERROR, "header length 100 is larger than the file"},
    {"huge_header_len", ANVIL_STATUS_LIMIT_EXCEEDED,
     "header length 1099511627776 exceeds the limit of 100 MB"},
    {"not_json", ANVIL_STATUS_PARSE_ERROR, "header is not valid JSON"},
    {"not_object", ANVIL_STATUS_PARSE_ERROR, "header is not a JSON object"},
    {"trailing_garbage", ANVIL_STATUS_PARSE_ERROR, "unexpected byte 0x78 at offset 2"},
    {"entry_not_object", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': entry is not a JSON object"},
    {"missing_dtype", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': missing field 'dtype'"},
    {"missing_shape", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': missing field 'shape'"},
    {"missing_offsets", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': missing field 'data_offsets'"},
    {"dtype_not_string", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': field 'dtype' is not a string"},
    {"shape_not_array", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': field 'shape' is not an array"},
    {"dim_not_integer", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': dim 1 is not an integer (1.5)"},
    {"offsets_not_pair", ANVIL_STATUS_PARSE_ERROR,
     "tensor 'w': field 'data_offsets' is not an array of 2 integers"},
    {"metadata_not_strings", ANVIL_STATUS_PARSE_ERROR, "'__metadata__' entry 'a' is not a string"},
    {"offsets_past_end", ANVIL_STATUS_PARSE_ERROR,
     "tensor 'w': data_offsets [0, 16] past end of file (data is 8 bytes)"},
    {"end_before_begin", ANVIL_STATUS_PARSE_ERROR,
     "tensor 'w': data_offsets [16, 0] end before begin"},
    {"size_mismatch", ANVIL_STATUS_PARSE_ERROR,
     "tensor 'w': data_offsets [0, 16] hold 16 bytes, expected 12 for f32 of shape 3"},
    {"overlap", ANVIL_STATUS_PARSE_ERROR, "tensors 'a' [0, 16] and 'b' [8, 24] overlap"},
    {"duplicate_name", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': duplicate name"},
    {"unknown_dtype", ANVIL_STATUS_UNSUPPORTED, "tensor 'w': dtype 'F8_E4M3' is not supported"},
    {"rank_too_large", ANVIL_STATUS_LIMIT_EXCEEDED,
     "tensor 'w': rank 9 exceeds the maximum rank 8"},
    {"dims_overflow", ANVIL_STATUS_LIMIT_EXCEEDED,
     "tensor 'w': shape 4294967296x4294967296x16 has "
     "too many elements"},
    {"negative_dim", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': dim 0 is negative (-2)"},
    {"huge_dim", ANVIL_STATUS_LIMIT_EXCEEDED, "tensor 'w': dim 0 1.0000000000000001e+300 exceeds"},
    {"bad_bool", ANVIL_STATUS_PARSE_ERROR, "tensor 'w': bool element 1 is 2, expected 0 or 1"},
};

/* A header of millions of tiny JSON values is refused once the tokens reach the limit. */
static void test_json_value_limit(void) {
    size_t values = ((size_t)1 << 23) + 1, n = 6 + 2 * values + 1;
    uint8_t *image = malloc(8 + n);
    CHECK(image != NULL);
    if (!image) return;
    for (int i = 0; i < 8; i++)
        image[i] = (uint8_t)((uint64_t)n >> (8 * i));
    char *text = (char *)image + 8;
    memcpy(text, "{\"a\":[", 6);
    for (size_t k = 0; k < values; k++)
        memcpy(text + 6 + 2 * k, "0,", 2);
    memcpy(text + n - 2, "]}", 2);
    anvil_safetensors *st = NULL;
    CHECK_STATUS(anvil_safetensors_open_memory(image, 8 + n, &st), ANVIL_STATUS_LIMIT_EXCEEDED);
    CHECK_CONTAINS(anvil_last_error(), "more JSON values than the limit of 8388608");
    free(image);
}

/* Opens an image of `json` as the header followed by 8 zero bytes of data (the image stays
 * until the next call: tensors view it). */
static anvil_status open_header(const char *json, anvil_safetensors **st) {
    static uint8_t image[1024];
    size_t n = strlen(json);
    CHECK(8 + n + 8 <= sizeof image);
    if (8 + n + 8 > sizeof image) return ANVIL_STATUS_INVALID_ARGUMENT;
    memset(image, 0, sizeof image);
    for (int i = 0; i < 8; i++) image[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(image + 8, json, n);
    return anvil_safetensors_open_memory(image, 8 + n + 8, st);
}

#define W "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

/* The header is parsed as strict JSON (RFC 8259) although the tokenizer alone is lenient:
 * text it accepts that is not JSON is refused; escapes in names are decoded. */
static void test_json_strictness(void) {
    static const char *const bad[] = {
        "{\"w\":" W " \"v\":" W "}",              /* no ',' between entries */
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2 1],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[,2],\"data_offsets\":[0,8]}}",
        "{\"w\":" W ",}",                              /* trailing ',' */
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":tru}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[+2],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":\"a\tb\"}}",
        "{\"w\" " W "}",                               /* no ':' */
        "{\"w\":" W ", \"__metadata__\": {\"a\": \"b\" \"c\": \"d\"}}",
        "x{\"w\":" W "}",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        anvil_safetensors *st = NULL;
        anvil_status s = open_header(bad[i], &st);
        if (s == ANVIL_OK) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_STATUS(s, ANVIL_STATUS_PARSE_ERROR);
        CHECK(st == NULL);
    }
    /* 70 nested arrays in an unknown field: deeper than the 64 levels allowed */
    char deep[512] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":";
    for (int i = 0; i < 70; i++) strcat(deep, "[");
    for (int i = 0; i < 70; i++) strcat(deep, "]");
    strcat(deep, "}}");
    anvil_safetensors *st = NULL;
    CHECK_STATUS(open_header(deep, &st), ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "deeper than 64");
    /* names: a NUL character or a lone surrogate cannot be a C string's UTF-8 */
    CHECK_STATUS(open_header("{\"a\\u0000b\":" W "}", &st), ANVIL_STATUS_PARSE_ERROR);
    CHECK_STATUS(open_header("{\"a\\ud800\":" W "}", &st), ANVIL_STATUS_PARSE_ERROR);
    CHECK_STATUS(open_header("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[0,8]}}", &st), ANVIL_STATUS_PARSE_ERROR);
    CHECK_CONTAINS(anvil_last_error(), "field 'dtype' given twice");
    /* 2^53 + 1 is refused as it is written, not rounded to 2^53 */
    CHECK_STATUS(open_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[9007199254740993],"
                             "\"data_offsets\":[0,8]}}", &st), ANVIL_STATUS_LIMIT_EXCEEDED);
    CHECK_CONTAINS(anvil_last_error(), "dim 0 9007199254740993 exceeds the limit of 2^53");
    /* valid: escapes decoded (UTF-8, a surrogate pair), an escaped field name, 2e0 and 8.0 as
       integers, whitespace of every kind, literals in unknown fields */
    const char *good = " \r\n\t{ \"\\u00e9\\ud83d\\ude00\\\"\\n\" : { \"dty\\u0070e\" : \"F\\u00332\" ,"
                       "\"shape\":[2e0],\"data_offsets\":[0,8.0],\"x\":[true,false,null,-1.5e-3]}"
                       ",\"__metadata__\":{\"format\":\"pt\"} } \n";
    CHECK_OK(open_header(good, &st));
    if (st) {
        anvil_tensor t;
        CHECK_EQ(anvil_safetensors_count(st), 1);
        CHECK_OK(anvil_safetensors_find(st, "\xc3\xa9\xf0\x9f\x98\x80\"\n", &t));
        CHECK(t.dtype == ANVIL_DTYPE_F32 && t.rank == 1 && t.dims[0] == 2 && t.bytes == 8);
    }
    anvil_safetensors_close(st);
}
#undef W

static void test_corrupt(void) {
    for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++) {
        const corrupt_case *c = &corrupt_cases[i];
        char path[512];
        snprintf(path, sizeof path, ST_DATA "%s.safetensors", c->file);
        anvil_safetensors *st = (anvil_safetensors *)1;
        anvil_status s = anvil_safetensors_open(path, &st);
        if (s != c->status) fprintf(stderr, "case %s:\n", c->file);
        CHECK_STATUS(s, c->status);
        CHECK_CONTAINS(anvil_last_error(), c->message);
        CHECK_CONTAINS(anvil_last_error(), c->file); /* the path prefixes the message */
        CHECK(st == NULL);
    }
}

/* One tensor of every dtype plus a scalar, an empty tensor and a name that needs escaping. */
static void test_round_trip(const char *dir) {
    static const anvil_dtype dtypes[] = {
        ANVIL_DTYPE_F32, ANVIL_DTYPE_F16, ANVIL_DTYPE_BF16, ANVIL_DTYPE_F64, ANVIL_DTYPE_I8,
        ANVIL_DTYPE_U8,  ANVIL_DTYPE_I16, ANVIL_DTYPE_U16,  ANVIL_DTYPE_I32, ANVIL_DTYPE_U32,
        ANVIL_DTYPE_I64, ANVIL_DTYPE_U64, ANVIL_DTYPE_BOOL,
    };
    enum { N_DT = sizeof dtypes / sizeof dtypes[0], N = N_DT + 2 };
    anvil_tensor in[N];
    char names[N][32];
    uint8_t buf[N][3 * 5 * 8];
    memset(in, 0, sizeof in);
    for (size_t i = 0; i < N; i++) {
        anvil_dtype dt = i < N_DT ? dtypes[i] : ANVIL_DTYPE_F32;
        snprintf(names[i], sizeof names[i], "t%zu.%s", i, anvil_dtype_name(dt));
        in[i] = (anvil_tensor){
            .name = names[i], .dtype = dt, .rank = 2, .dims = {3, 5}, .data = buf[i]};
        for (size_t k = 0; k < 15; k++)
            anvil__store_i64(dt, buf[i], k, (int64_t)(k * 7 + i) % 2);
        for (size_t k = 0; k < 15 && dt != ANVIL_DTYPE_BOOL; k++)
            anvil__store_f64(dt, buf[i], k, (double)k + 3.0 * (double)i);
        in[i].bytes = 15 * anvil_dtype_size(dt);
    }
    in[N_DT].rank = 0; /* scalar */
    in[N_DT].bytes = 4;
    snprintf(names[N_DT], sizeof names[N_DT], "we\"ird\\name\n");
    in[N_DT + 1].dims[0] = 0; /* empty 0x5 */
    in[N_DT + 1].bytes = 0;

    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    CHECK_OK(anvil_safetensors_write(path, in, N));
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_open(path, &st));
    CHECK_EQ(anvil_safetensors_count(st), N);
    for (size_t i = 0; st && i < N; i++) {
        anvil_tensor t;
        CHECK_OK(anvil_safetensors_get(st, i, &t));
        CHECK_STR_EQ(t.name, in[i].name);
        CHECK_EQ(t.dtype, in[i].dtype);
        check_shape(&t, in[i].rank, in[i].dims);
        CHECK_EQ(t.bytes, in[i].bytes);
        CHECK(t.bytes == in[i].bytes && memcmp(t.data, in[i].data, t.bytes) == 0);
        CHECK((uintptr_t)t.data % 8 == 0 || i > 0); /* page-aligned map + padded header */
    }
    anvil_safetensors_close(st);
    size_t size;
    uint8_t *image = read_all(path, &size);
    CHECK(image && size >= 8 && (8 + image[0] + 256 * image[1]) % 8 == 0);
    CHECK(image && image[8] == '{');
    free(image);

    /* Bad arguments leave no file behind. */
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    anvil_tensor dup[2] = {in[0], in[1]};
    dup[1].name = in[0].name;
    CHECK_STATUS(anvil_safetensors_write(path, dup, 2), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "duplicate tensor name 't0.f32'");
    dup[1] = in[1];
    dup[1].name = NULL;
    CHECK_STATUS(anvil_safetensors_write(path, dup, 2), ANVIL_STATUS_INVALID_ARGUMENT);
    dup[1] = in[1];
    dup[1].bytes -= 1;
    CHECK_STATUS(anvil_safetensors_write(path, dup, 2), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "expected 30");
    dup[1] = in[1];
    dup[1].name = "__metadata__";
    CHECK_STATUS(anvil_safetensors_write(path, dup, 2), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK(access(path, F_OK) != 0);

    /* An empty file list is a valid file with an empty header. */
    CHECK_OK(anvil_safetensors_write(path, NULL, 0));
    CHECK_OK(anvil_safetensors_open(path, &st));
    CHECK_EQ(anvil_safetensors_count(st), 0);
    anvil_safetensors_close(st);
}

/* Many tensors (the writer sends them in batches of parts, resuming after short writes), some
 * empty with no data at all: every byte comes back where it belongs. */
static void test_round_trip_many(const char *dir) {
    enum { N = 300 };
    anvil_tensor in[N];
    char names[N][16];
    uint8_t *data[N];
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        int64_t n = i % 7 == 3 ? 0 : (int64_t)((i * 37) % 1500 + 1);
        snprintf(names[i], sizeof names[i], "w%03zu", i);
        data[i] = n ? malloc((size_t)n) : NULL;
        for (int64_t k = 0; data[i] && k < n; k++) data[i][k] = (uint8_t)(i * 31 + (size_t)k * 7);
        in[i] = (anvil_tensor){.name = names[i], .dtype = ANVIL_DTYPE_U8, .rank = 1, .dims = {n},
                               .data = data[i], .bytes = (size_t)n};
        total += (size_t)n;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/many.safetensors", dir);
    CHECK_OK(anvil_safetensors_write(path, in, N));
    anvil_safetensors *st = NULL;
    CHECK_OK(anvil_safetensors_open(path, &st));
    CHECK_EQ(anvil_safetensors_count(st), N);
    size_t got = 0;
    for (size_t i = 0; st && i < N; i++) {
        anvil_tensor t;
        CHECK_OK(anvil_safetensors_find(st, names[i], &t));
        CHECK(t.bytes == in[i].bytes && (!t.bytes || memcmp(t.data, data[i], t.bytes) == 0));
        got += t.bytes;
    }
    CHECK_EQ(got, total);
    anvil_safetensors_close(st);
    for (size_t i = 0; i < N; i++) free(data[i]);
}

static bool shared_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Facts read from the files' headers with a separate Python script. */
static int test_real_checkpoints(void) {
    const char *mn = ANVIL_SHARED_DIR "/models/mobilenet_v2/v1.safetensors";
    const char *te = ANVIL_SHARED_DIR "/models/transformer_enc/v1.safetensors";
    if (!shared_file(mn) || !shared_file(te)) {
        fprintf(stderr, "skipping real checkpoints: %s absent\n", mn);
        return 0;
    }
    anvil_safetensors *st = NULL;
    anvil_tensor t;
    CHECK_OK(anvil_safetensors_open(mn, &st));
    CHECK_EQ(anvil_safetensors_count(st), 314);
    CHECK_OK(anvil_safetensors_find(st, "classifier.1.weight", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_F32);
    check_shape(&t, 2, (const int64_t[]){1000, 1280});
    CHECK_NEAR(((const float *)t.data)[0], 0.011795287020504475, 1e-9);
    CHECK_OK(anvil_safetensors_find(st, "features.0.0.weight", &t));
    check_shape(&t, 4, (const int64_t[]){32, 3, 3, 3});
    CHECK_OK(anvil_safetensors_find(st, "features.0.1.num_batches_tracked", &t));
    CHECK_EQ(t.dtype, ANVIL_DTYPE_I64);
    CHECK_EQ(t.rank, 0);
    CHECK_EQ(anvil__load_i64(t.dtype, t.data, 0), 2);
    CHECK_OK(anvil_safetensors_get(st, 0, &t));
    CHECK_STR_EQ(t.name, "classifier.1.bias");
    anvil_safetensors_close(st);

    st = NULL;
    CHECK_OK(anvil_safetensors_open(te, &st));
    CHECK_EQ(anvil_safetensors_count(st), 48);
    CHECK_OK(anvil_safetensors_find(st, "layers.0.linear1.weight", &t));
    check_shape(&t, 2, (const int64_t[]){1024, 256});
    CHECK_NEAR(((const float *)t.data)[1], -0.0493561327457428, 1e-9);
    CHECK_OK(anvil_safetensors_get(st, 47, &t));
    CHECK_STR_EQ(t.name, "layers.3.self_attn.out_proj.weight");
    anvil_safetensors_close(st);
    return 1;
}

int main(void) {
    char dir[] = "/tmp/anvil_test_st_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_basic();
    test_corrupt();
    test_json_value_limit();
    test_json_strictness();
    test_round_trip(dir);
    test_round_trip_many(dir);
    int ran_real = test_real_checkpoints();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (!ran_real && !check_failures_) return 77;
    return check_exit();
}
