/*
 * onnx_tensor.c — ONNX TensorProto → anvil__tensor: element types, dims checked against every
 * limit before anything is allocated, raw_data kept in place when aligned, typed fields
 * (float_data, int32_data, ...) converted, external data mapped from files that must stay
 * inside the model's folder. Also anvil__onnx_read_tensor for the .pb files of the test suite.
 */
#include "import/onnx_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_FLOAT = 1, T_UINT8 = 2, T_INT8 = 3, T_UINT16 = 4, T_INT16 = 5, T_INT32 = 6, T_INT64 = 7,
    T_STRING = 8, T_BOOL = 9, T_FLOAT16 = 10, T_DOUBLE = 11, T_UINT32 = 12, T_UINT64 = 13,
    T_COMPLEX64 = 14, T_COMPLEX128 = 15, T_BFLOAT16 = 16, T_FLOAT8E4M3FN = 17,
    T_FLOAT8E4M3FNUZ = 18, T_FLOAT8E5M2 = 19, T_FLOAT8E5M2FNUZ = 20, T_UINT4 = 21, T_INT4 = 22,
    T_FLOAT4E2M1 = 23, T_FLOAT8E8M0 = 24, T_UINT2 = 25, T_INT2 = 26,
};

bool anvil__onnx_dtype(int32_t onnx_type, anvil_dtype *out) {
    static const anvil_dtype map[] = {
        [T_FLOAT] = ANVIL_DTYPE_F32,   [T_UINT8] = ANVIL_DTYPE_U8,
        [T_INT8] = ANVIL_DTYPE_I8,     [T_UINT16] = ANVIL_DTYPE_U16,
        [T_INT16] = ANVIL_DTYPE_I16,   [T_INT32] = ANVIL_DTYPE_I32,
        [T_INT64] = ANVIL_DTYPE_I64,   [T_BOOL] = ANVIL_DTYPE_BOOL,
        [T_FLOAT16] = ANVIL_DTYPE_F16, [T_DOUBLE] = ANVIL_DTYPE_F64,
        [T_UINT32] = ANVIL_DTYPE_U32,  [T_UINT64] = ANVIL_DTYPE_U64,
        [T_BFLOAT16] = ANVIL_DTYPE_BF16,
        [T_FLOAT8E4M3FN] = ANVIL_DTYPE_F8E4M3FN, [T_FLOAT8E4M3FNUZ] = ANVIL_DTYPE_F8E4M3FNUZ,
        [T_FLOAT8E5M2] = ANVIL_DTYPE_F8E5M2, [T_FLOAT8E5M2FNUZ] = ANVIL_DTYPE_F8E5M2FNUZ,
        [T_UINT4] = ANVIL_DTYPE_U4,          [T_INT4] = ANVIL_DTYPE_I4,
        [T_FLOAT4E2M1] = ANVIL_DTYPE_F4E2M1, [T_FLOAT8E8M0] = ANVIL_DTYPE_F8E8M0,
        [T_UINT2] = ANVIL_DTYPE_U2,          [T_INT2] = ANVIL_DTYPE_I2,
    };
    if (onnx_type <= 0 || (size_t)onnx_type >= sizeof map / sizeof map[0] ||
        map[onnx_type] == ANVIL_DTYPE_UNDEFINED)
        return false;
    *out = map[onnx_type];
    return true;
}

const char *anvil__onnx_type_name(int32_t onnx_type) {
    static const char *const names[] = {
        "undefined", "float",  "uint8",        "int8",           "uint16",
        "int16",     "int32",  "int64",        "string",         "bool",
        "float16",   "double", "uint32",       "uint64",         "complex64",
        "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
        "float8e5m2fnuz", "uint4", "int4",     "float4e2m1",     "float8e8m0",
        "uint2",     "int2",
    };
    if (onnx_type < 0 || (size_t)onnx_type >= sizeof names / sizeof names[0])
        return "unknown element type";
    return names[onnx_type];
}

static const char *tensor_name(const Onnx__TensorProto *tp, const char *what) {
    return tp->name && tp->name[0] ? tp->name : what;
}

/* dtype, rank and dims with every check done before any allocation: rank, negative dims,
 * element count and byte count overflow. */
static anvil_status tensor_header(const Onnx__TensorProto *tp, const char *name,
                                  anvil__tensor *out) {
    anvil_dtype dtype;
    if (!tp->has_data_type || tp->data_type == 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s' has no element type", name);
    if (!anvil__onnx_dtype(tp->data_type, &dtype))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "tensor '%s': element type %s (%d) is not "
                            "supported", name, anvil__onnx_type_name(tp->data_type),
                            (int)tp->data_type);
    if (tp->n_dims > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "tensor '%s' has rank %zu, over the maximum of %d", name, tp->n_dims,
                            ANVIL_MAX_RANK);
    int64_t numel = 1;
    for (size_t d = 0; d < tp->n_dims; d++) {
        if (tp->dims[d] < 0)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': dim %zu is negative (%lld)",
                                name, d, (long long)tp->dims[d]);
        if (!anvil__mul_i64(numel, tp->dims[d], &numel))
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                                "tensor '%s': the element count overflows (dims %lld at %zu)",
                                name, (long long)tp->dims[d], d);
    }
    anvil_status s = anvil__tensor_shape(out, dtype, (int32_t)tp->n_dims, tp->dims);
    if (s != ANVIL_OK) return anvil__error_prefix(s, "tensor '%s'", name);
    return ANVIL_OK;
}

/* Bytes the file stores: 4-bit types pack two elements a byte and 2-bit types four (first
 * element in the low bits), which anvil unpacks to one element a byte. */
static size_t stored_bytes(const anvil__tensor *t) {
    int bits = anvil__dtype_packed_bits(t->dtype);
    size_t per = bits ? (size_t)(8 / bits) : 1;
    return t->bytes / per + (t->bytes % per != 0);
}

/* Keeps `src` in place when it is aligned for the element type, else copies it (unpacking
 * packed types; src then holds stored_bytes(t) bytes). */
static anvil_status take_bytes(anvil__tensor *t, const uint8_t *src, bool may_view, bool *owned) {
    size_t align = anvil_dtype_size(t->dtype);
    if (anvil__dtype_packed_bits(t->dtype)) {
        t->data = anvil__malloc(t->bytes ? t->bytes : 1);
        if (!t->data) return ANVIL_STATUS_OUT_OF_MEMORY;
        anvil__narrow_unpack(t->dtype, t->data, src, t->bytes);
        *owned = true;
        return ANVIL_OK;
    }
    if (may_view && t->bytes > 0 && ((uintptr_t)src % align) == 0) {
        t->data = (void *)src; /* const is restored by the graph: initializers are read-only */
        *owned = false;
        return ANVIL_OK;
    }
    t->data = anvil__malloc(t->bytes ? t->bytes : 1);
    if (!t->data) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (t->bytes) memcpy(t->data, src, t->bytes);
    *owned = true;
    return ANVIL_OK;
}

/* The typed field ONNX stores a dtype in, with its element count. */
static const char *typed_field(const Onnx__TensorProto *tp, anvil_dtype dt, size_t *count) {
    switch (dt) {
    case ANVIL_DTYPE_F32: *count = tp->n_float_data; return "float_data";
    case ANVIL_DTYPE_F64: *count = tp->n_double_data; return "double_data";
    case ANVIL_DTYPE_I64: *count = tp->n_int64_data; return "int64_data";
    case ANVIL_DTYPE_U32:
    case ANVIL_DTYPE_U64: *count = tp->n_uint64_data; return "uint64_data";
    default: *count = tp->n_int32_data; return "int32_data"; /* i32 and every narrower type */
    }
}

static void convert_typed(const Onnx__TensorProto *tp, anvil__tensor *t, size_t n) {
    if (n == 0) return; /* the field's array may be NULL */
    switch (t->dtype) {
    case ANVIL_DTYPE_F32: memcpy(t->data, tp->float_data, n * sizeof(float)); break;
    case ANVIL_DTYPE_F64: memcpy(t->data, tp->double_data, n * sizeof(double)); break;
    case ANVIL_DTYPE_I64: memcpy(t->data, tp->int64_data, n * sizeof(int64_t)); break;
    case ANVIL_DTYPE_I32: memcpy(t->data, tp->int32_data, n * sizeof(int32_t)); break;
    case ANVIL_DTYPE_U64: memcpy(t->data, tp->uint64_data, n * sizeof(uint64_t)); break;
    case ANVIL_DTYPE_U32:
        for (size_t i = 0; i < n; i++) ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
        break;
    case ANVIL_DTYPE_F16:
    case ANVIL_DTYPE_BF16: /* bit patterns in the low 16 bits */
    case ANVIL_DTYPE_U16:
    case ANVIL_DTYPE_I16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i];
        break;
    case ANVIL_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0;
        break;
    default: /* i8, u8, float8 (one code per value) */
        for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i];
        break;
    }
}

static anvil_status from_typed(const Onnx__TensorProto *tp, const char *name, anvil__tensor *t,
                               bool *owned) {
    size_t count, numel = t->bytes / anvil_dtype_size(t->dtype), want = stored_bytes(t);
    const char *field = typed_field(tp, t->dtype, &count);
    if (anvil__dtype_packed_bits(t->dtype)) { /* one packed byte per int32_data entry */
        if (count != want)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "tensor '%s' (%s, %zu elements): %s holds %zu values, expected "
                                "%zu packed bytes",
                                name, anvil_dtype_name(t->dtype), numel, field, count, want);
        uint8_t *packed = anvil__malloc(want ? want : 1);
        if (!packed) return ANVIL_STATUS_OUT_OF_MEMORY;
        for (size_t i = 0; i < want; i++) packed[i] = (uint8_t)tp->int32_data[i];
        anvil_status s = take_bytes(t, packed, false, owned);
        anvil__free(packed);
        return s;
    }
    if (count != numel) {
        if (count == 0 && numel > 0)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "tensor '%s' (%s, %zu elements) has no data: expected raw_data "
                                "or %s",
                                name, anvil_dtype_name(t->dtype), numel, field);
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': %s holds %zu values, expected %zu for its dims", name,
                            field, count, numel);
    }
    t->data = anvil__malloc(t->bytes ? t->bytes : 1);
    if (!t->data) return ANVIL_STATUS_OUT_OF_MEMORY;
    convert_typed(tp, t, numel);
    *owned = true;
    return ANVIL_OK;
}

/* ---- external data ---- */

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* Relative, no "..", no empty path: checked on the text before touching the file system. */
static anvil_status check_location(const char *loc, const char *name) {
    if (!loc || !*loc)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': external data has no 'location'", name);
    if (loc[0] == '/' || loc[0] == '\\' || (loc[0] && loc[1] == ':'))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "tensor '%s': external data path '%s' is absolute; it must be "
                            "relative to the model's folder",
                            name, loc);
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                "tensor '%s': external data path '%s' leaves the model's "
                                "folder ('..' is not allowed)",
                                name, loc);
        p += n;
        if (*p) p++;
    }
    return ANVIL_OK;
}

/* Finds or maps the file `loc` (relative to base_dir); *out points at its mapping. */
static anvil_status open_external(anvil__onnx_ctx *c, const char *loc, const char *name,
                                  const anvil__mapping **out) {
    anvil_status s = check_location(loc, name);
    if (s != ANVIL_OK) return s;
    if (!c->base_dir)
        return anvil__error(ANVIL_STATUS_NOT_FOUND,
                            "tensor '%s': external data file '%s' not found: the model was "
                            "loaded from memory without a base folder",
                            name, loc);
    if (!c->base_real && !(c->base_real = realpath(c->base_dir, NULL)))
        return anvil__error(ANVIL_STATUS_NOT_FOUND, "tensor '%s': model folder '%s' not found",
                            name, c->base_dir);
    size_t blen = strlen(c->base_real), llen = strlen(loc);
    char *joined = anvil__malloc(blen + llen + 2);
    if (!joined) return ANVIL_STATUS_OUT_OF_MEMORY;
    memcpy(joined, c->base_real, blen);
    joined[blen] = '/';
    memcpy(joined + blen + 1, loc, llen + 1);
    char *real = realpath(joined, NULL);
    if (!real) {
        int err = errno;
        s = anvil__error(err == ENOENT || err == ENOTDIR ? ANVIL_STATUS_NOT_FOUND
                                                         : ANVIL_STATUS_IO_ERROR,
                         "tensor '%s': external data file '%s' not found (%s: %s)", name, loc,
                         joined, strerror(err));
        anvil__free(joined);
        return s;
    }
    anvil__free(joined);
    /* A symlink inside the folder may still point outside it. */
    bool inside = strncmp(real, c->base_real, blen) == 0 &&
                  (real[blen] == '/' || (blen == 1 && c->base_real[0] == '/'));
    if (!inside) {
        s = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                         "tensor '%s': external data path '%s' resolves to '%s', outside the "
                         "model's folder '%s'",
                         name, loc, real, c->base_real);
        free(real);
        return s;
    }
    for (size_t i = 0; i < c->model->n_files; i++) {
        if (strcmp(c->file_paths[i], real) == 0) {
            free(real);
            *out = &c->model->files[i];
            return ANVIL_OK;
        }
    }
    size_t n = c->model->n_files;
    anvil__mapping *files = anvil__realloc(c->model->files, (n + 1) * sizeof *files);
    if (files) c->model->files = files;
    char **paths = files ? anvil__realloc(c->file_paths, (n + 1) * sizeof *paths) : NULL;
    if (paths) c->file_paths = paths;
    char *copy = paths ? anvil__strdup(real) : NULL;
    free(real);
    if (!copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    s = anvil__map_file(copy, &files[n]);
    if (s != ANVIL_OK) {
        anvil__free(copy);
        return anvil__error_prefix(s, "tensor '%s': external data", name);
    }
    paths[n] = copy;
    c->model->n_files = n + 1;
    *out = &files[n];
    return ANVIL_OK;
}

static anvil_status from_external(anvil__onnx_ctx *c, const Onnx__TensorProto *tp,
                                  const char *name, bool may_view, anvil__tensor *t,
                                  bool *owned) {
    const char *loc = NULL, *off_s = NULL, *len_s = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key) continue;
        if (strcmp(e->key, "location") == 0) loc = e->value;
        else if (strcmp(e->key, "offset") == 0) off_s = e->value;
        else if (strcmp(e->key, "length") == 0) len_s = e->value;
    }
    uint64_t off = 0, len = stored_bytes(t);
    if ((off_s && !parse_u64(off_s, &off)) || (len_s && !parse_u64(len_s, &len)))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': external data offset '%s' / length '%s' is not a "
                            "non-negative integer",
                            name, off_s ? off_s : "", len_s ? len_s : "");
    if (len != stored_bytes(t)) {
        char buf[ANVIL_SHAPE_STR_MAX];
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': external data length %llu does not match the %zu "
                            "bytes of its %s[%s] shape",
                            name, (unsigned long long)len, stored_bytes(t),
                            anvil_dtype_name(t->dtype),
                            anvil__shape_str(t->rank, t->dims, buf, sizeof buf));
    }
    const anvil__mapping *m = NULL;
    anvil_status s = open_external(c, loc, name, &m);
    if (s != ANVIL_OK) return s;
    if (off > m->size || len > m->size - off)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "tensor '%s': external data at offset %llu, length %llu is past "
                            "the end of '%s' (%zu bytes)",
                            name, (unsigned long long)off, (unsigned long long)len, loc, m->size);
    return take_bytes(t, m->data + off, may_view, owned);
}

anvil_status anvil__onnx_tensor(anvil__onnx_ctx *c, const Onnx__TensorProto *tp,
                                const anvil__onnx_span *raw, bool may_view, const char *what,
                                anvil__tensor *out, bool *owned) {
    const char *name = tensor_name(tp, what);
    memset(out, 0, sizeof *out);
    *owned = false;
    anvil_status s = tensor_header(tp, name, out);
    if (s != ANVIL_OK) return s;
    if (tp->segment)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "tensor '%s' is segmented", name);
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (!c)
            return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                                "tensor '%s': external data is not supported here", name);
        s = from_external(c, tp, name, may_view, out, owned);
    } else if (raw || tp->has_raw_data) {
        const uint8_t *p = raw ? raw->data : tp->raw_data.data;
        size_t len = raw ? raw->size : tp->raw_data.len;
        if (len != stored_bytes(out))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "tensor '%s': raw_data has %zu bytes, expected %zu for %s[%lld "
                                "elements]",
                                name, len, stored_bytes(out), anvil_dtype_name(out->dtype),
                                (long long)anvil__tensor_numel(out));
        s = take_bytes(out, p, may_view && raw, owned);
    } else {
        s = from_typed(tp, name, out, owned);
    }
    if (s != ANVIL_OK) memset(out, 0, sizeof *out);
    return s;
}

void anvil__onnx_ctx_free(anvil__onnx_ctx *c) {
    for (size_t i = 0; c->file_paths && c->model && i < c->model->n_files; i++)
        anvil__free(c->file_paths[i]);
    anvil__free(c->file_paths);
    free(c->base_real); /* from realpath() */
    c->file_paths = NULL;
    c->base_real = NULL;
}

anvil_status anvil__onnx_read_tensor(const uint8_t *data, size_t size, anvil__tensor *out,
                                     char **out_name) {
    if (!out || (!data && size))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data or out is NULL");
    memset(out, 0, sizeof *out);
    if (out_name) *out_name = NULL;
    anvil_status s = anvil__onnx_wire_check(data, size, &onnx__tensor_proto__descriptor);
    if (s != ANVIL_OK) return s;
    anvil__onnx_alloc a;
    anvil__onnx_alloc_init(&a);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&a.pc, size, data);
    if (!tp) return anvil__onnx_unpack_error(&a, "TensorProto");
    bool owned = false;
    s = anvil__onnx_tensor(NULL, tp, NULL, false, "(unnamed)", out, &owned);
    if (s == ANVIL_OK && out_name && !(*out_name = anvil__strdup(tp->name ? tp->name : ""))) {
        anvil__free(out->data);
        memset(out, 0, sizeof *out);
        s = ANVIL_STATUS_OUT_OF_MEMORY;
    }
    onnx__tensor_proto__free_unpacked(tp, &a.pc);
    return s;
}
