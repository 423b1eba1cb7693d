/*
 * npy.c — reads and writes NumPy .npy files (format 1.0, 2.0, 3.0). The header is a Python dict
 * literal; a small strict parser accepts exactly the grammar numpy writes (keys 'descr',
 * 'fortran_order', 'shape' in any order) and nothing else. Data is copied into an owned tensor
 * list. Structured, object, big-endian and Fortran-order arrays are refused, not converted.
 */
#include "core/core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_DESCR_MAX 64

/* Type codes without the byte-order character; size comes from the dtype. */
static const struct {
    const char *code;
    anvil_dtype dtype;
} npy_types[] = {
    {"f4", ANVIL_DTYPE_F32}, {"f2", ANVIL_DTYPE_F16}, {"f8", ANVIL_DTYPE_F64},
    {"i1", ANVIL_DTYPE_I8},  {"u1", ANVIL_DTYPE_U8},  {"i2", ANVIL_DTYPE_I16},
    {"u2", ANVIL_DTYPE_U16}, {"i4", ANVIL_DTYPE_I32}, {"u4", ANVIL_DTYPE_U32},
    {"i8", ANVIL_DTYPE_I64}, {"u8", ANVIL_DTYPE_U64}, {"b1", ANVIL_DTYPE_BOOL},
};
#define NPY_N_TYPES (sizeof npy_types / sizeof npy_types[0])

typedef struct npy_header {
    char descr[NPY_DESCR_MAX];
    bool fortran_order;
    int32_t rank;
    int64_t dims[ANVIL_MAX_RANK];
} npy_header;

/* Cursor over the header text; `start` is kept to report offsets. */
typedef struct npy_lex {
    const char *start, *p, *end;
} npy_lex;

static void skip_ws(npy_lex *x) {
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
        x->p++;
}

static bool peek(npy_lex *x, char c) {
    skip_ws(x);
    return x->p < x->end && *x->p == c;
}

static bool eat(npy_lex *x, char c) {
    if (!peek(x, c)) return false;
    x->p++;
    return true;
}

static anvil_status syntax(const npy_lex *x, const char *expected) {
    if (x->p >= x->end)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy header: expected %s at offset %td, got end of header", expected,
                            x->p - x->start);
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy header: expected %s at offset %td, got '%c'",
                        expected, x->p - x->start, *x->p);
}

/* A quoted string without escapes, as numpy writes keys and dtype descriptions. */
static anvil_status lex_string(npy_lex *x, char *out, size_t cap) {
    skip_ws(x);
    if (x->p >= x->end || (*x->p != '\'' && *x->p != '"')) return syntax(x, "a quoted string");
    char quote = *x->p++;
    size_t n = 0;
    while (x->p < x->end && *x->p != quote) {
        if (*x->p == '\\' || *x->p == '\n' || n + 1 >= cap)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "npy header: bad or too long string at offset %td",
                                x->p - x->start);
        out[n++] = *x->p++;
    }
    if (x->p >= x->end) return syntax(x, "a closing quote");
    x->p++;
    out[n] = '\0';
    return ANVIL_OK;
}

static anvil_status lex_bool(npy_lex *x, bool *out) {
    skip_ws(x);
    size_t left = (size_t)(x->end - x->p);
    if (left >= 4 && memcmp(x->p, "True", 4) == 0) {
        *out = true;
        x->p += 4;
    } else if (left >= 5 && memcmp(x->p, "False", 5) == 0) {
        *out = false;
        x->p += 5;
    } else {
        return syntax(x, "True or False");
    }
    return ANVIL_OK;
}

/* A non-negative Python int literal (no sign, no leading zeros, no L suffix). */
static anvil_status lex_dim(npy_lex *x, int32_t d, int64_t *out) {
    skip_ws(x);
    if (x->p < x->end && *x->p == '-')
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy header: shape dim %d is negative",
                            (int)d);
    if (x->p >= x->end || *x->p < '0' || *x->p > '9') return syntax(x, "a dimension");
    if (*x->p == '0' && x->p + 1 < x->end && x->p[1] >= '0' && x->p[1] <= '9')
        return syntax(x, "a dimension without leading zeros");
    int64_t v = 0;
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
        int digit = *x->p++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                                "npy header: shape dim %d does not fit in 64 bits", (int)d);
        v = v * 10 + digit;
    }
    *out = v;
    return ANVIL_OK;
}

/* "()" for a scalar, "(n,)" for one dim, "(a, b, ...)" with an optional trailing comma. */
static anvil_status lex_shape(npy_lex *x, npy_header *h) {
    if (!eat(x, '(')) return syntax(x, "'(' opening the shape tuple");
    h->rank = 0;
    while (!eat(x, ')')) {
        if (h->rank == ANVIL_MAX_RANK)
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                                "npy header: shape has more than %d dims (the maximum rank)",
                                ANVIL_MAX_RANK);
        anvil_status s = lex_dim(x, h->rank, &h->dims[h->rank]);
        if (s != ANVIL_OK) return s;
        h->rank++;
        if (eat(x, ',')) continue;
        if (!peek(x, ')')) return syntax(x, "',' or ')' in the shape tuple");
        if (h->rank == 1) return syntax(x, "',' after the only dim ('(n)' is not a tuple)");
    }
    return ANVIL_OK;
}

static anvil_status parse_value(npy_lex *x, const char *key, npy_header *h, unsigned *seen) {
    static const char *const keys[] = {"descr", "fortran_order", "shape"};
    unsigned k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0)
        k++;
    if (k == 3)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy header: unexpected key '%s'", key);
    if (*seen & (1u << k))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy header: duplicate key '%s'", key);
    *seen |= 1u << k;
    if (k == 0) {
        if (peek(x, '['))
            return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                                "npy: structured dtypes (a list 'descr') are not supported");
        return lex_string(x, h->descr, sizeof h->descr);
    }
    if (k == 1) return lex_bool(x, &h->fortran_order);
    return lex_shape(x, h);
}

static anvil_status parse_dict(const char *text, size_t len, npy_header *h) {
    npy_lex x = {text, text, text + len};
    unsigned seen = 0;
    if (!eat(&x, '{')) return syntax(&x, "'{'");
    while (!eat(&x, '}')) {
        char key[32];
        anvil_status s = lex_string(&x, key, sizeof key);
        if (s == ANVIL_OK && !eat(&x, ':')) s = syntax(&x, "':'");
        if (s == ANVIL_OK) s = parse_value(&x, key, h, &seen);
        if (s != ANVIL_OK) return s;
        if (!eat(&x, ',') && !peek(&x, '}')) return syntax(&x, "',' or '}'");
    }
    skip_ws(&x); /* numpy pads with spaces and ends with '\n' */
    if (x.p < x.end) return syntax(&x, "only padding after '}'");
    static const char *const names[] = {"descr", "fortran_order", "shape"};
    for (unsigned k = 0; k < 3; k++) {
        if (!(seen & (1u << k)))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy header: missing key '%s'", names[k]);
    }
    return ANVIL_OK;
}

static anvil_status map_descr(const char *descr, anvil_dtype *out) {
    for (size_t i = 0; descr[0] && i < NPY_N_TYPES; i++) {
        if (strcmp(descr + 1, npy_types[i].code) != 0) continue;
        char order = descr[0];
        size_t size = anvil_dtype_size(npy_types[i].dtype);
        if (order == '<' || (size == 1 && (order == '|' || order == '>' || order == '=')))
            *out = npy_types[i].dtype;
        else if (order == '>')
            return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                                "npy: big-endian dtype '%s' is not supported", descr);
        else
            return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                                "npy: dtype '%s' is not supported (byte order must be '<')", descr);
        return ANVIL_OK;
    }
    return anvil__error(ANVIL_STATUS_UNSUPPORTED, "npy: dtype '%s' is not supported", descr);
}

/* Splits the file into header text and data; checks magic, version and header length. */
static anvil_status read_prefix(const uint8_t *p, size_t size, const char **header,
                                size_t *header_len, size_t *data_at) {
    size_t m = size < NPY_MAGIC_LEN ? size : NPY_MAGIC_LEN;
    if (memcmp(p, NPY_MAGIC, m) != 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "npy: bad magic (not an .npy file)");
    if (size < 10)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy: file is %zu bytes, too short for the header", size);
    unsigned major = p[6], minor = p[7];
    size_t len, at;
    if (major == 1 && minor == 0) {
        len = (size_t)p[8] | (size_t)p[9] << 8;
        at = 10;
    } else if ((major == 2 || major == 3) && minor == 0 && size >= 12) {
        len = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        at = 12;
    } else if (major == 2 || major == 3) {
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy: file is %zu bytes, too short for the header", size);
    } else {
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "npy: format version %u.%u is not supported",
                            major, minor);
    }
    if (len > size - at)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy: header length %zu is larger than the file (%zu bytes after "
                            "the prefix)",
                            len, size - at);
    *header = (const char *)p + at;
    *header_len = len;
    *data_at = at + len;
    return ANVIL_OK;
}

static anvil_status check_data(const npy_header *h, anvil_dtype dtype, size_t have, size_t *bytes) {
    size_t numel = 1;
    char shape[ANVIL_SHAPE_STR_MAX];
    anvil__shape_str(h->rank, h->dims, shape, sizeof shape);
    bool ok = true;
    for (int32_t d = 0; d < h->rank && ok; d++)
        ok = anvil__mul_size(numel, (size_t)h->dims[d], &numel);
    if (!ok || !anvil__mul_size(numel, anvil_dtype_size(dtype), bytes))
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "npy: shape %s has too many elements",
                            shape);
    if (have < *bytes)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy: truncated data: expected %zu bytes for '%s' %s, got %zu", *bytes,
                            h->descr, shape, have);
    if (have > *bytes)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "npy: %zu trailing bytes after the data (expected %zu bytes for '%s' "
                            "%s, got %zu)",
                            have - *bytes, *bytes, h->descr, shape, have);
    return ANVIL_OK;
}

static anvil_status check_bools(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] > 1)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "npy: bool element %zu is %u, expected 0 or 1", i, p[i]);
    }
    return ANVIL_OK;
}

anvil_status anvil_npy_read_memory(const void *data, size_t size, anvil_tensor_list **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_read: out is NULL");
    *out = NULL;
    if (!data && size) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_read: data is NULL");
    const uint8_t *p = size ? data : (const uint8_t *)"";
    const char *text = NULL;
    size_t text_len = 0, at = 0, bytes = 0;
    npy_header h = {0};
    anvil_dtype dtype = ANVIL_DTYPE_UNDEFINED;
    anvil_status s = read_prefix(p, size, &text, &text_len, &at);
    if (s == ANVIL_OK) s = parse_dict(text, text_len, &h);
    if (s == ANVIL_OK) s = map_descr(h.descr, &dtype);
    if (s == ANVIL_OK && h.fortran_order)
        s = anvil__error(ANVIL_STATUS_UNSUPPORTED, "npy: Fortran-order arrays are not supported");
    if (s == ANVIL_OK) s = check_data(&h, dtype, size - at, &bytes);
    if (s == ANVIL_OK && dtype == ANVIL_DTYPE_BOOL) s = check_bools(p + at, bytes);
    if (s != ANVIL_OK) return s;
    if (bytes > ANVIL_MAX_ALLOC)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "npy: %zu bytes of data exceed the copy limit of %zu bytes", bytes,
                            (size_t)ANVIL_MAX_ALLOC);
    void *copy = anvil__malloc(bytes);
    if (!copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (bytes) memcpy(copy, p + at, bytes);
    anvil_tensor_list *list = anvil__tensor_list_new(1);
    if (list) s = anvil__tensor_list_set(list, 0, NULL, dtype, h.rank, h.dims, copy, bytes);
    if (!list || s != ANVIL_OK) {
        anvil__free(copy);
        anvil_tensor_list_destroy(list);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    *out = list;
    return ANVIL_OK;
}

anvil_status anvil_npy_read(const char *path, anvil_tensor_list **out) {
    if (!out || !path)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_read: path or out is NULL");
    *out = NULL;
    anvil__mapping map;
    anvil_status s = anvil__map_file(path, &map);
    if (s != ANVIL_OK) return s;
    s = anvil_npy_read_memory(map.data, map.size, out);
    anvil__unmap(&map);
    return s == ANVIL_OK ? s : anvil__error_prefix(s, "while reading '%s'", path);
}

/* ---- writer ---------------------------------------------------------------------------- */

static const char *npy_descr(anvil_dtype dtype, char *buf, size_t cap) {
    for (size_t i = 0; i < NPY_N_TYPES; i++) {
        if (npy_types[i].dtype != dtype) continue;
        snprintf(buf, cap, "%c%s", anvil_dtype_size(dtype) == 1 ? '|' : '<', npy_types[i].code);
        return buf;
    }
    return NULL;
}

static anvil_status check_write(const anvil_tensor *t, size_t *bytes) {
    if (t->rank < 0 || t->rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_write: rank %d (0..%d allowed)",
                            (int)t->rank, ANVIL_MAX_RANK);
    int64_t numel = anvil_shape_numel(t->rank, t->dims);
    if (numel < 0 || !anvil__mul_size((size_t)numel, anvil_dtype_size(t->dtype), bytes))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "npy_write: negative or too large shape");
    if (*bytes != t->bytes)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "npy_write: tensor has %zu bytes, expected %zu", t->bytes, *bytes);
    if (*bytes && !t->data)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_write: tensor has no data");
    return ANVIL_OK;
}

/* "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" as numpy writes it. */
static size_t format_dict(const anvil_tensor *t, const char *descr, char *buf, size_t cap) {
    size_t n =
        (size_t)snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int32_t d = 0; d < t->rank; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, d ? ", " : "", t->dims[d]);
    n += (size_t)snprintf(buf + n, cap - n, "%s), }", t->rank == 1 ? "," : "");
    return n;
}

anvil_status anvil_npy_write(const char *path, const anvil_tensor *tensor) {
    if (!path || !tensor)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "npy_write: NULL argument");
    char descr[8];
    if (!npy_descr(tensor->dtype, descr, sizeof descr))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "npy_write: dtype %s has no .npy type",
                            anvil_dtype_name(tensor->dtype));
    size_t bytes;
    anvil_status s = check_write(tensor, &bytes);
    if (s != ANVIL_OK) return s;
    /* Rank <= 8 bounds the dict to ~250 bytes; the rest of the buffer is padding room. */
    char header[512 + NPY_ALIGN];
    size_t n = format_dict(tensor, descr, header, 512);
    if (n >= 512) return anvil__error(ANVIL_STATUS_INTERNAL, "npy_write: header too long");
    /* Format 1.0 (2-byte header length) always suffices: 2.0 is only for headers > 64 KiB. */
    while ((10 + n + 1) % NPY_ALIGN != 0)
        header[n++] = ' '; /* +1: the closing '\n' */
    header[n++] = '\n';
    uint8_t head[10];
    memcpy(head, NPY_MAGIC, NPY_MAGIC_LEN);
    head[6] = 1;
    head[7] = 0;
    head[8] = (uint8_t)n;
    head[9] = (uint8_t)(n >> 8);
    const void *parts[3] = {head, header, tensor->data};
    size_t sizes[3] = {sizeof head, n, bytes};
    return anvil__write_file_atomic(path, parts, sizes, 3);
}
