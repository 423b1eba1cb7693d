/*
 * safetensors.c — reads safetensors files (8-byte header length, JSON header, data buffer) as
 * zero-copy views into a mapping, validating every field of the untrusted header, and writes
 * them atomically. The format does not promise aligned offsets, so a tensor whose data is not
 * aligned to its element size is copied. It does not keep the __metadata__ map (only checks it).
 */
#include "core/core.h"
#include "core/json_tokens.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference implementation's limit; a larger header is refused before any parsing. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Integers up to 2^53 are exact as doubles, the JSON numbers most readers use. */
#define ST_MAX_INT 9007199254740992.0
/* JSON tokens (20 bytes each: at most 160 MiB); a real header needs ~12 per tensor. */
#define ST_MAX_JSON_VALUES ((size_t)1 << 23)

struct anvil_safetensors {
    anvil__mapping map; /* base is NULL for a borrowed image (open_memory) */
    size_t count;
    anvil_tensor *tensors; /* file order; names owned here, data points into map.data */
    bool *copied;          /* tensors[i].data is an aligned copy owned here */
    anvil__name_map index; /* name → position in tensors */
};

typedef struct st_range {
    uint64_t begin, end;
    size_t tensor;
} st_range;

static const struct {
    const char *name;
    anvil_dtype dtype;
} st_dtypes[] = {
    {"F32", ANVIL_DTYPE_F32},   {"F16", ANVIL_DTYPE_F16}, {"BF16", ANVIL_DTYPE_BF16},
    {"F64", ANVIL_DTYPE_F64},   {"I8", ANVIL_DTYPE_I8},   {"U8", ANVIL_DTYPE_U8},
    {"I16", ANVIL_DTYPE_I16},   {"U16", ANVIL_DTYPE_U16}, {"I32", ANVIL_DTYPE_I32},
    {"U32", ANVIL_DTYPE_U32},   {"I64", ANVIL_DTYPE_I64}, {"U64", ANVIL_DTYPE_U64},
    {"BOOL", ANVIL_DTYPE_BOOL},
};
#define ST_N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a JSON number that must be a non-negative integer; `what` names it in messages, with
 * " <index>" after it when index >= 0 (formatted only on error: headers hold many numbers). */
static anvil_status json_uint(const anvil__json *j, int item, const char *tensor,
                              const char *field, int index, uint64_t *out) {
    bool number = anvil__json_type_of(j, item) == ANVIL_JSON_NUMBER, is_uint = false;
    double d = -1;
    uint64_t u = 0;
    if (number) anvil__json_number(j, item, &d, &is_uint, &u);
    if (is_uint && u <= (uint64_t)ST_MAX_INT) { /* digits only: the common case */
        *out = u;
        return ANVIL_OK;
    }
    if (!is_uint && number && d >= 0 && d <= ST_MAX_INT && (double)(uint64_t)d == d) { /* 1e3 */
        *out = (uint64_t)d;
        return ANVIL_OK;
    }
    char what[64];
    if (index >= 0)
        snprintf(what, sizeof what, "%s %d", field, index);
    else
        snprintf(what, sizeof what, "%s", field);
    if (!number)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is not a number", tensor,
                            what);
    if (d < 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is negative (%.17g)", tensor,
                            what, d);
    if (is_uint) /* exact: 2^53 + 1 is not rounded down to 2^53 */
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': %s %" PRIu64 " exceeds the limit of 2^53", tensor, what,
                            u);
    if (!(d <= ST_MAX_INT)) /* also catches inf */
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': %s %.17g exceeds the limit of 2^53", tensor, what, d);
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is not an integer (%.17g)",
                        tensor, what, d);
}

/* The values of an entry's three fields (-1 when absent); unknown fields are skipped. */
typedef struct st_fields {
    int dtype, shape, offsets;
} st_fields;

static anvil_status find_fields(const anvil__json *j, int entry, const char *tensor,
                                st_fields *f) {
    static const char *const names[3] = {"dtype", "shape", "data_offsets"};
    int *slot[3] = {&f->dtype, &f->shape, &f->offsets};
    *f = (st_fields){-1, -1, -1};
    int k = entry + 1;
    for (int c = 0; c < anvil__json_size(j, entry); c++) {
        for (int m = 0; m < 3; m++) {
            if (!anvil__json_string_is(j, k, names[m])) continue;
            if (*slot[m] >= 0)
                return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                    "tensor '%s': field '%s' given twice", tensor, names[m]);
            *slot[m] = k + 1;
        }
        k = anvil__json_next(j, k + 1);
    }
    for (int m = 0; m < 3; m++)
        if (*slot[m] < 0)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': missing field '%s'",
                                tensor, names[m]);
    return ANVIL_OK;
}

static anvil_status parse_shape(const anvil__json *j, int shape, const char *name,
                                anvil_tensor *t) {
    if (anvil__json_type_of(j, shape) != ANVIL_JSON_ARRAY)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': field 'shape' is not an array",
                            name);
    int rank = anvil__json_size(j, shape);
    if (rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': rank %d exceeds the maximum rank %d", name, rank,
                            ANVIL_MAX_RANK);
    t->rank = rank;
    for (int d = 0, dim = shape + 1; d < rank; d++, dim = anvil__json_next(j, dim)) {
        uint64_t v;
        anvil_status s = json_uint(j, dim, name, "dim", d, &v);
        if (s != ANVIL_OK) return s;
        t->dims[d] = (int64_t)v;
    }
    return ANVIL_OK;
}

static anvil_status parse_offsets(const anvil__json *j, int offsets, const char *name,
                                  st_range *r) {
    if (anvil__json_type_of(j, offsets) != ANVIL_JSON_ARRAY || anvil__json_size(j, offsets) != 2)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': field 'data_offsets' is not an array of 2 integers",
                            name);
    int first = offsets + 1;
    anvil_status s = json_uint(j, first, name, "data_offsets[0]", -1, &r->begin);
    if (s == ANVIL_OK)
        s = json_uint(j, anvil__json_next(j, first), name, "data_offsets[1]", -1, &r->end);
    return s;
}

static anvil_status map_dtype(const anvil__json *j, int dtype, const char *name,
                              anvil_dtype *out) {
    char text[72];
    if (!anvil__json_string_copy(j, dtype, text, sizeof text)) strcpy(text, "(undecodable)");
    for (size_t i = 0; i < ST_N_DTYPES; i++) {
        if (strcmp(text, st_dtypes[i].name) == 0) {
            *out = st_dtypes[i].dtype;
            return ANVIL_OK;
        }
    }
    return anvil__error(ANVIL_STATUS_UNSUPPORTED, "tensor '%s': dtype '%.64s' is not supported",
                        name, text);
}

/* Checks the byte range of one tensor against its shape and the data buffer. */
static anvil_status check_range(const anvil_tensor *t, const st_range *r, size_t data_size) {
    size_t numel = 1, bytes;
    for (int32_t d = 0; d < t->rank; d++) {
        if (!anvil__mul_size(numel, (size_t)t->dims[d], &numel)) numel = SIZE_MAX;
        if (numel > INT64_MAX) break;
    }
    bool fits = numel <= INT64_MAX && anvil__mul_size(numel, anvil_dtype_size(t->dtype), &bytes);
    if (fits && r->begin <= r->end && r->end <= data_size && r->end - r->begin == bytes)
        return ANVIL_OK;
    char shape[ANVIL_SHAPE_STR_MAX]; /* the errors below */
    anvil__shape_str(t->rank, t->dims, shape, sizeof shape);
    if (!fits)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': shape %s has too many elements", t->name, shape);
    if (r->end < r->begin)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before begin",
                            t->name, r->begin, r->end);
    if (r->end > data_size)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] past end of file (data is %zu bytes)",
                            t->name, r->begin, r->end, data_size);
    if (r->end - r->begin != bytes)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                            " bytes, expected %zu for %s of shape %s",
                            t->name, r->begin, r->end, r->end - r->begin, bytes,
                            anvil_dtype_name(t->dtype), shape);
    return ANVIL_OK;
}

/* Bool tensors are viewed in place, so a byte other than 0 / 1 is refused here. */
static anvil_status check_bools(const anvil_tensor *t) {
    if (t->dtype != ANVIL_DTYPE_BOOL) return ANVIL_OK;
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->bytes; i++) {
        if (p[i] > 1)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "tensor '%s': bool element %zu is %u, expected 0 or 1", t->name, i,
                                p[i]);
    }
    return ANVIL_OK;
}

/* Kernels read elements through typed pointers, so misaligned data gets an aligned copy. */
static anvil_status set_data(anvil_safetensors *st, size_t i, const uint8_t *src, size_t bytes) {
    anvil_tensor *t = &st->tensors[i];
    t->bytes = bytes;
    if ((uintptr_t)src % anvil_dtype_size(t->dtype) == 0) {
        t->data = (void *)src;
        return ANVIL_OK;
    }
    if (!(t->data = anvil__malloc(bytes))) return ANVIL_STATUS_OUT_OF_MEMORY;
    memcpy(t->data, src, bytes);
    st->copied[i] = true;
    return ANVIL_OK;
}

/* One tensor: key token `key` (its name), its entry object after it. */
static anvil_status parse_entry(anvil_safetensors *st, const anvil__json *j, int key,
                                const uint8_t *base, size_t data_size, st_range *r) {
    anvil_tensor *t = &st->tensors[st->count];
    char *name = NULL;
    anvil_status s = anvil__json_strdup(j, key, &name);
    if (s != ANVIL_OK) return s;
    t->name = name;
    st->count++; /* from here on close() frees the name */
    if (anvil__name_map_get(&st->index, name) >= 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': duplicate name in header",
                            name);
    int entry = key + 1;
    if (anvil__json_type_of(j, entry) != ANVIL_JSON_OBJECT)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': entry is not a JSON object",
                            name);
    st_fields f;
    if ((s = find_fields(j, entry, name, &f)) != ANVIL_OK) return s;
    if (anvil__json_type_of(j, f.dtype) != ANVIL_JSON_STRING)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': field 'dtype' is not a string",
                            name);
    if ((s = parse_shape(j, f.shape, name, t)) != ANVIL_OK) return s;
    if ((s = parse_offsets(j, f.offsets, name, r)) != ANVIL_OK) return s;
    if ((s = map_dtype(j, f.dtype, name, &t->dtype)) != ANVIL_OK) return s;
    if ((s = check_range(t, r, data_size)) != ANVIL_OK) return s;
    r->tensor = st->count - 1;
    if ((s = set_data(st, r->tensor, base + r->begin, (size_t)(r->end - r->begin))) != ANVIL_OK)
        return s;
    if ((s = check_bools(t)) != ANVIL_OK) return s;
    return anvil__name_map_put(&st->index, t->name, (int32_t)r->tensor);
}

/* __metadata__ (its value at token meta): an object of strings, not kept. */
static anvil_status check_metadata(const anvil__json *j, int meta) {
    if (anvil__json_type_of(j, meta) != ANVIL_JSON_OBJECT)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "'__metadata__' is not a JSON object");
    int k = meta + 1;
    for (int c = 0; c < anvil__json_size(j, meta); c++, k = anvil__json_next(j, k + 1)) {
        if (anvil__json_type_of(j, k + 1) == ANVIL_JSON_STRING) continue;
        char key[256];
        if (!anvil__json_string_copy(j, k, key, sizeof key)) strcpy(key, "(undecodable)");
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "'__metadata__' entry '%s' is not a string",
                            key);
    }
    return ANVIL_OK;
}

static int compare_ranges(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorts the ranges by start; two non-empty ranges overlap if one starts before the furthest
 * end seen so far. Gaps between tensors are allowed. */
static anvil_status check_overlaps(const anvil_safetensors *st, st_range *ranges) {
    qsort(ranges, st->count, sizeof *ranges, compare_ranges);
    const st_range *furthest = NULL;
    for (size_t i = 0; i < st->count; i++) {
        const st_range *r = &ranges[i];
        if (r->begin == r->end) continue;
        if (furthest && r->begin < furthest->end)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64
                                ", %" PRIu64 "] overlap",
                                st->tensors[furthest->tensor].name, furthest->begin, furthest->end,
                                st->tensors[r->tensor].name, r->begin, r->end);
        if (!furthest || r->end > furthest->end) furthest = r;
    }
    return ANVIL_OK;
}

/* The root object's entries: tensors, and __metadata__. */
static anvil_status parse_entries(anvil_safetensors *st, const anvil__json *j, const uint8_t *base,
                                  size_t data_size) {
    size_t n = (size_t)anvil__json_size(j, 0);
    st->tensors = anvil__calloc(n ? n : 1, sizeof *st->tensors);
    st->copied = anvil__calloc(n ? n : 1, sizeof *st->copied);
    st_range *ranges = anvil__calloc(n ? n : 1, sizeof *ranges);
    anvil_status s = st->tensors && st->copied && ranges ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__name_map_reserve(&st->index, n);
    int key = 1;
    for (size_t c = 0; c < n && s == ANVIL_OK; c++, key = anvil__json_next(j, key + 1)) {
        if (anvil__json_string_is(j, key, "__metadata__"))
            s = check_metadata(j, key + 1);
        else
            s = parse_entry(st, j, key, base, data_size, &ranges[st->count]);
    }
    if (s == ANVIL_OK) s = check_overlaps(st, ranges);
    anvil__free(ranges);
    return s;
}

/* A private copy of the header keeps what is checked from changing under the checks (the file
 * is mapped shared), and keeps the tokenizer from reading into the data buffer. */
static anvil_status parse_header(anvil_safetensors *st) {
    const uint8_t *p = st->map.data;
    size_t size = st->map.size;
    if (size < 8)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "file is %zu bytes, too short for the 8-byte header length", size);
    uint64_t n = load_le64(p);
    if (n > ST_MAX_HEADER)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "header length %" PRIu64 " exceeds the limit of 100 MB", n);
    if (n > size - 8)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "header length %" PRIu64 " is larger than the file (%zu bytes after "
                            "the length field)",
                            n, size - 8);
    char *text = anvil__malloc((size_t)n + 1);
    if (!text) return ANVIL_STATUS_OUT_OF_MEMORY;
    memcpy(text, p + 8, (size_t)n);
    text[n] = '\0';
    anvil__json *j = NULL;
    anvil_status s = anvil__json_parse(text, (size_t)n, ST_MAX_JSON_VALUES, &j);
    if (s == ANVIL_OK) s = parse_entries(st, j, p + 8 + n, size - 8 - (size_t)n);
    anvil__json_free(j);
    anvil__free(text);
    return s;
}

void anvil_safetensors_close(anvil_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) {
        anvil__free((void *)st->tensors[i].name);
        if (st->copied[i]) anvil__free(st->tensors[i].data);
    }
    anvil__free(st->tensors);
    anvil__free(st->copied);
    anvil__name_map_free(&st->index);
    anvil__unmap(&st->map);
    anvil__free(st);
}

static anvil_status finish_open(anvil_safetensors *st, anvil_safetensors **out) {
    anvil_status s = parse_header(st);
    if (s != ANVIL_OK) {
        anvil_safetensors_close(st);
        return s;
    }
    *out = st;
    return ANVIL_OK;
}

anvil_status anvil_safetensors_open_memory(const void *data, size_t size, anvil_safetensors **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors: out is NULL");
    *out = NULL;
    if (!data && size)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors: data is NULL");
    anvil_safetensors *st = anvil__calloc(1, sizeof *st);
    if (!st) return ANVIL_STATUS_OUT_OF_MEMORY;
    static const uint8_t empty[1];
    st->map.data = data ? data : empty;
    st->map.size = size;
    return finish_open(st, out);
}

anvil_status anvil_safetensors_open(const char *path, anvil_safetensors **out) {
    if (!out || !path)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors: path or out is NULL");
    *out = NULL;
    anvil_safetensors *st = anvil__calloc(1, sizeof *st);
    if (!st) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = anvil__map_file(path, &st->map);
    if (s != ANVIL_OK) {
        anvil__free(st);
        return s;
    }
    s = finish_open(st, out);
    return s == ANVIL_OK ? s : anvil__error_prefix(s, "while reading '%s'", path);
}

size_t anvil_safetensors_count(const anvil_safetensors *st) { return st ? st->count : 0; }

anvil_status anvil_safetensors_get(const anvil_safetensors *st, size_t index, anvil_tensor *out) {
    if (!out || !st)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors_get: NULL argument");
    memset(out, 0, sizeof *out);
    if (index >= st->count)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE,
                            "safetensors_get: index %zu out of range (%zu tensors)", index,
                            st->count);
    *out = st->tensors[index];
    return ANVIL_OK;
}

anvil_status anvil_safetensors_find(const anvil_safetensors *st, const char *name,
                                    anvil_tensor *out) {
    if (!out || !st || !name)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors_find: NULL argument");
    memset(out, 0, sizeof *out);
    int32_t i = anvil__name_map_get(&st->index, name);
    if (i < 0)
        return anvil__error(ANVIL_STATUS_NOT_FOUND, "tensor '%s' not found (file has %zu tensors)",
                            name, st->count);
    *out = st->tensors[i];
    return ANVIL_OK;
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct st_buf {
    char *p;
    size_t len, cap;
} st_buf;

static anvil_status buf_put(st_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (!anvil__mul_size(cap, 2, &cap))
                return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "safetensors header too large");
        }
        char *p = anvil__realloc(b->p, cap);
        if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return ANVIL_OK;
}

static anvil_status buf_str(st_buf *b, const char *s) { return buf_put(b, s, strlen(s)); }

static anvil_status buf_u64(st_buf *b, uint64_t v) {
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRIu64, v);
    return buf_put(b, num, (size_t)n);
}

/* A JSON string literal: quotes and backslashes escaped, control bytes as \u00XX; other bytes
 * (UTF-8) pass through. */
static anvil_status buf_json_string(st_buf *b, const char *s) {
    anvil_status st = buf_put(b, "\"", 1);
    for (; *s && st == ANVIL_OK; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            st = buf_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            st = buf_put(b, esc, 6);
        } else {
            st = buf_put(b, (const char *)&c, 1);
        }
    }
    return st == ANVIL_OK ? buf_put(b, "\"", 1) : st;
}

static const char *st_dtype_name(anvil_dtype dtype) {
    for (size_t i = 0; i < ST_N_DTYPES; i++)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
    return NULL;
}

static anvil_status check_write_tensor(const anvil_tensor *t, size_t i) {
    if (!t->name)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor %zu has no "
                            "name",
                            i);
    if (strcmp(t->name, "__metadata__") == 0)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor name '__metadata__' is reserved");
    if (!anvil__dtype_valid(t->dtype))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor '%s' has invalid dtype %d", t->name,
                            (int)t->dtype);
    if (!st_dtype_name(t->dtype))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "safetensors_write: tensor '%s': dtype %s has no safetensors name",
                            t->name, anvil_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor '%s' has rank %d (0..%d allowed)", t->name,
                            (int)t->rank, ANVIL_MAX_RANK);
    int64_t numel = anvil_shape_numel(t->rank, t->dims);
    size_t bytes;
    if (numel < 0 || !anvil__mul_size((size_t)numel, anvil_dtype_size(t->dtype), &bytes))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor '%s' has a negative or too large shape",
                            t->name);
    if (bytes != t->bytes)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor '%s' has %zu bytes, expected %zu", t->name,
                            t->bytes, bytes);
    if (bytes && !t->data)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "safetensors_write: tensor '%s' has no data", t->name);
    return ANVIL_OK;
}

static anvil_status check_write_args(const anvil_tensor *tensors, size_t count) {
    anvil__name_map names = {0};
    anvil_status s = ANVIL_OK;
    if (count > INT32_MAX)
        s = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors_write: %zu tensors", count);
    for (size_t i = 0; i < count && s == ANVIL_OK; i++) {
        s = check_write_tensor(&tensors[i], i);
        if (s == ANVIL_OK && anvil__name_map_get(&names, tensors[i].name) >= 0)
            s = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                             "safetensors_write: duplicate tensor name '%s'", tensors[i].name);
        if (s == ANVIL_OK) s = anvil__name_map_put(&names, tensors[i].name, (int32_t)i);
    }
    anvil__name_map_free(&names);
    return s;
}

static anvil_status write_entry(st_buf *b, const anvil_tensor *t, uint64_t begin) {
    anvil_status s = buf_json_string(b, t->name);
    if (s == ANVIL_OK) s = buf_str(b, ":{\"dtype\":\"");
    if (s == ANVIL_OK) s = buf_str(b, st_dtype_name(t->dtype));
    if (s == ANVIL_OK) s = buf_str(b, "\",\"shape\":[");
    for (int32_t d = 0; d < t->rank && s == ANVIL_OK; d++) {
        if (d) s = buf_str(b, ",");
        if (s == ANVIL_OK) s = buf_u64(b, (uint64_t)t->dims[d]);
    }
    if (s == ANVIL_OK) s = buf_str(b, "],\"data_offsets\":[");
    if (s == ANVIL_OK) s = buf_u64(b, begin);
    if (s == ANVIL_OK) s = buf_str(b, ",");
    if (s == ANVIL_OK) s = buf_u64(b, begin + t->bytes);
    return s == ANVIL_OK ? buf_str(b, "]}") : s;
}

/* Header in the caller's order, padded with spaces so the data buffer starts 8-aligned. */
static anvil_status build_header(st_buf *b, const anvil_tensor *tensors, size_t count) {
    anvil_status s = buf_str(b, "{");
    uint64_t offset = 0;
    for (size_t i = 0; i < count && s == ANVIL_OK; i++) {
        if (i) s = buf_str(b, ",");
        if (s == ANVIL_OK) s = write_entry(b, &tensors[i], offset);
        offset += tensors[i].bytes;
    }
    if (s == ANVIL_OK) s = buf_str(b, "}");
    while (s == ANVIL_OK && (8 + b->len) % 8 != 0)
        s = buf_str(b, " ");
    return s;
}

anvil_status anvil_safetensors_write(const char *path, const anvil_tensor *tensors, size_t count) {
    if (!path || (!tensors && count))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "safetensors_write: NULL argument");
    anvil_status s = check_write_args(tensors, count);
    if (s != ANVIL_OK) return s;
    st_buf header = {0};
    s = build_header(&header, tensors, count);
    const void **parts = anvil__calloc(count + 2, sizeof *parts);
    size_t *sizes = anvil__calloc(count + 2, sizeof *sizes);
    if (s == ANVIL_OK && (!parts || !sizes)) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) {
        uint8_t len[8];
        for (int i = 0; i < 8; i++)
            len[i] = (uint8_t)((uint64_t)header.len >> (8 * i));
        parts[0] = len;
        sizes[0] = 8;
        parts[1] = header.p;
        sizes[1] = header.len;
        for (size_t i = 0; i < count; i++) {
            parts[i + 2] = tensors[i].data;
            sizes[i + 2] = tensors[i].bytes;
        }
        s = anvil__write_file_atomic(path, parts, sizes, count + 2);
    }
    anvil__free(parts);
    anvil__free(sizes);
    anvil__free(header.p);
    return s;
}
