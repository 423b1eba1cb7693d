/*
 * safetensors.c — reads safetensors files (8-byte header length, JSON header, data buffer) as
 * zero-copy views into a mapping, validating every field of the untrusted header, and writes
 * them atomically. The format does not promise aligned offsets, so a tensor whose data is not
 * aligned to its element size is copied. It does not keep the __metadata__ map (only checks it).
 */
#include "core/core.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference implementation's limit; a larger header is refused before any parsing. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* JSON numbers are doubles in cJSON; integers up to 2^53 are exact. */
#define ST_MAX_INT 9007199254740992.0
/* About 500 MB of cJSON nodes; a real header needs ~12 values per tensor. */
#define ST_MAX_JSON_VALUES (1 << 23)

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
static anvil_status json_uint(const cJSON *item, const char *tensor, const char *field, int index,
                              uint64_t *out) {
    double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (d >= 0 && d <= ST_MAX_INT && (double)(uint64_t)d == d) {
        *out = (uint64_t)d;
        return ANVIL_OK;
    }
    char what[64];
    if (index >= 0)
        snprintf(what, sizeof what, "%s %d", field, index);
    else
        snprintf(what, sizeof what, "%s", field);
    if (!cJSON_IsNumber(item))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is not a number", tensor,
                            what);
    if (d < 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is negative (%.17g)", tensor,
                            what, d);
    if (!(d <= ST_MAX_INT)) /* also catches NaN / inf */
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': %s %.17g exceeds the limit of 2^53", tensor, what, d);
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': %s is not an integer (%.17g)",
                        tensor, what, d);
}

static const cJSON *get_field(const cJSON *entry, const char *tensor, const char *field,
                              anvil_status *s) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(entry, field);
    if (!item)
        *s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': missing field '%s'", tensor,
                          field);
    return item;
}

static anvil_status parse_shape(const cJSON *shape, const char *name, anvil_tensor *t) {
    if (!cJSON_IsArray(shape))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': field 'shape' is not an array",
                            name);
    int rank = cJSON_GetArraySize(shape);
    if (rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s': rank %d exceeds the maximum rank %d", name, rank,
                            ANVIL_MAX_RANK);
    t->rank = rank;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        anvil_status s = json_uint(dim, name, "dim", d, &v);
        if (s != ANVIL_OK) return s;
        t->dims[d] = (int64_t)v;
    }
    return ANVIL_OK;
}

static anvil_status parse_offsets(const cJSON *offsets, const char *name, st_range *r) {
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': field 'data_offsets' is not an array of 2 integers",
                            name);
    anvil_status s = json_uint(offsets->child, name, "data_offsets[0]", -1, &r->begin);
    if (s == ANVIL_OK) s = json_uint(offsets->child->next, name, "data_offsets[1]", -1, &r->end);
    return s;
}

static anvil_status map_dtype(const cJSON *dtype, const char *name, anvil_dtype *out) {
    for (size_t i = 0; i < ST_N_DTYPES; i++) {
        if (strcmp(dtype->valuestring, st_dtypes[i].name) == 0) {
            *out = st_dtypes[i].dtype;
            return ANVIL_OK;
        }
    }
    return anvil__error(ANVIL_STATUS_UNSUPPORTED, "tensor '%s': dtype '%.64s' is not supported",
                        name, dtype->valuestring);
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

static anvil_status parse_entry(anvil_safetensors *st, const cJSON *entry, const uint8_t *base,
                                size_t data_size, st_range *r) {
    anvil_tensor *t = &st->tensors[st->count];
    const char *name = entry->string;
    if (anvil__name_map_get(&st->index, name) >= 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': duplicate name in header",
                            name);
    if (!cJSON_IsObject(entry))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': entry is not a JSON object",
                            name);
    anvil_status s = ANVIL_OK;
    const cJSON *dtype = get_field(entry, name, "dtype", &s);
    const cJSON *shape = dtype ? get_field(entry, name, "shape", &s) : NULL;
    const cJSON *offsets = shape ? get_field(entry, name, "data_offsets", &s) : NULL;
    if (!offsets) return s;
    if (!cJSON_IsString(dtype))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': field 'dtype' is not a string",
                            name);
    if ((s = parse_shape(shape, name, t)) != ANVIL_OK) return s;
    if ((s = parse_offsets(offsets, name, r)) != ANVIL_OK) return s;
    if ((s = map_dtype(dtype, name, &t->dtype)) != ANVIL_OK) return s;
    if (!(t->name = anvil__strdup(name))) return ANVIL_STATUS_OUT_OF_MEMORY;
    st->count++; /* from here on close() frees the name */
    if ((s = check_range(t, r, data_size)) != ANVIL_OK) return s;
    r->tensor = st->count - 1;
    if ((s = set_data(st, r->tensor, base + r->begin, (size_t)(r->end - r->begin))) != ANVIL_OK)
        return s;
    if ((s = check_bools(t)) != ANVIL_OK) return s;
    return anvil__name_map_put(&st->index, t->name, (int32_t)r->tensor);
}

static anvil_status check_metadata(const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "'__metadata__' is not a JSON object");
    for (const cJSON *item = meta->child; item; item = item->next) {
        if (!cJSON_IsString(item))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "'__metadata__' entry '%s' is not a string", item->string);
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

static anvil_status parse_entries(anvil_safetensors *st, const cJSON *root, const uint8_t *base,
                                  size_t data_size) {
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        n++;
    if (n > INT32_MAX)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "header has %zu entries", n);
    st->tensors = anvil__calloc(n ? n : 1, sizeof *st->tensors);
    st->copied = anvil__calloc(n ? n : 1, sizeof *st->copied);
    st_range *ranges = anvil__calloc(n ? n : 1, sizeof *ranges);
    anvil_status s = st->tensors && st->copied && ranges ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__name_map_reserve(&st->index, n);
    for (const cJSON *e = root->child; e && s == ANVIL_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            s = check_metadata(e);
        else
            s = parse_entry(st, e, base, data_size, &ranges[st->count]);
    }
    if (s == ANVIL_OK) s = check_overlaps(st, ranges);
    anvil__free(ranges);
    return s;
}

/* cJSON spends ~64 bytes per JSON value, so a 100 MB header of "[0,0,0,..." would cost
 * gigabytes. Counting separators outside strings bounds the values before parsing. */
static anvil_status check_json_size(const char *text, size_t n) {
    size_t values = 1, upper = 1;
    for (size_t i = 0; i < n; i++) /* separators in strings too: a bound, and a loop without
                                      branches the compiler vectorizes */
        upper += (text[i] == ',') | (text[i] == '[') | (text[i] == '{');
    if (upper <= ST_MAX_JSON_VALUES) return ANVIL_OK;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            values++;
        }
    }
    if (values > ST_MAX_JSON_VALUES)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "header holds about %zu JSON values, more than the limit of %d", values,
                            ST_MAX_JSON_VALUES);
    return ANVIL_OK;
}

/* Parses the NUL-terminated header text and validates it against the data buffer. */
static anvil_status parse_json(anvil_safetensors *st, const char *text, size_t n,
                               const uint8_t *data, size_t data_size) {
    anvil_status s = check_json_size(text, n);
    if (s != ANVIL_OK) return s;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "header is not valid JSON (error near byte %td)",
                            end ? end - text : (ptrdiff_t)0);
    /* Writers pad the header with spaces; anything else after the JSON is corruption. */
    size_t at = (size_t)(end - text);
    while (at < n && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t'))
        at++;
    if (at < n)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR,
                         "header has unexpected byte 0x%02x at offset %zu after the JSON",
                         (unsigned)(uint8_t)text[at], at);
    else if (!cJSON_IsObject(root))
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "header is not a JSON object");
    else
        s = parse_entries(st, root, data, data_size);
    cJSON_Delete(root);
    return s;
}

/* cJSON needs a NUL-terminated string, and a private copy keeps it from reading past the
 * header into the data buffer. */
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
    anvil_status s = parse_json(st, text, (size_t)n, p + 8 + n, size - 8 - (size_t)n);
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
