/*
 * bytes.c — the little-endian writer and bounds-checked reader of bytes.h. Values are
 * assembled byte by byte, so the encoding does not depend on the host's endianness or on
 * alignment. It knows nothing about what the bytes mean; graph and file layouts live elsewhere.
 */
#include "engine/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- writer ---- */

void anvil__bytes_free(anvil__bytes *b) {
    if (!b) return;
    anvil__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static anvil_status reserve(anvil__bytes *b, size_t n) {
    size_t need;
    if (!anvil__add_size(b->len, n, &need))
        return b->status = anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "byte buffer overflow");
    if (need <= b->cap) return ANVIL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = anvil__realloc(b->data, cap);
    if (!p) return b->status = ANVIL_STATUS_OUT_OF_MEMORY;
    b->data = p;
    b->cap = cap;
    return ANVIL_OK;
}

anvil_status anvil__bytes_put(anvil__bytes *b, const void *data, size_t n) {
    if (b->status != ANVIL_OK || n == 0) return b->status;
    if (reserve(b, n) != ANVIL_OK) return b->status;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return ANVIL_OK;
}

anvil_status anvil__bytes_zeros(anvil__bytes *b, size_t n) {
    if (b->status != ANVIL_OK || n == 0) return b->status;
    if (reserve(b, n) != ANVIL_OK) return b->status;
    memset(b->data + b->len, 0, n);
    b->len += n;
    return ANVIL_OK;
}

anvil_status anvil__bytes_align(anvil__bytes *b, size_t base, size_t align) {
    if (b->status != ANVIL_OK) return b->status;
    if (align == 0 || (align & (align - 1)) != 0 || base > b->len)
        return b->status = anvil__error(ANVIL_STATUS_INTERNAL, "bad alignment %zu", align);
    size_t rem = (b->len - base) & (align - 1);
    return anvil__bytes_zeros(b, rem ? align - rem : 0);
}

static anvil_status put_le(anvil__bytes *b, uint64_t v, size_t n) {
    uint8_t buf[8];
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
    return anvil__bytes_put(b, buf, n);
}

anvil_status anvil__bytes_u8(anvil__bytes *b, uint8_t v) { return put_le(b, v, 1); }
anvil_status anvil__bytes_u32(anvil__bytes *b, uint32_t v) { return put_le(b, v, 4); }
anvil_status anvil__bytes_u64(anvil__bytes *b, uint64_t v) { return put_le(b, v, 8); }
anvil_status anvil__bytes_i32(anvil__bytes *b, int32_t v) { return put_le(b, (uint32_t)v, 4); }
anvil_status anvil__bytes_i64(anvil__bytes *b, int64_t v) { return put_le(b, (uint64_t)v, 8); }

anvil_status anvil__bytes_f32(anvil__bytes *b, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return put_le(b, bits, 4);
}

anvil_status anvil__bytes_f64(anvil__bytes *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return put_le(b, bits, 8);
}

anvil_status anvil__bytes_str(anvil__bytes *b, const char *s, size_t n) {
    if (b->status != ANVIL_OK) return b->status;
    if (!s) return anvil__bytes_u32(b, ANVIL_BYTES_NULL_STR);
    if (n > ANVIL_BYTES_STR_MAX)
        return b->status = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                        "string of %zu bytes is over the limit of %zu", n,
                                        (size_t)ANVIL_BYTES_STR_MAX);
    anvil__bytes_u32(b, (uint32_t)n);
    return anvil__bytes_put(b, s, n);
}

anvil_status anvil__bytes_cstr(anvil__bytes *b, const char *s) {
    return anvil__bytes_str(b, s, s ? strlen(s) : 0);
}

anvil_status anvil__bytes_set_u32(anvil__bytes *b, size_t offset, uint32_t v) {
    if (b->status != ANVIL_OK) return b->status;
    if (offset > b->len || b->len - offset < 4)
        return b->status =
                   anvil__error(ANVIL_STATUS_INTERNAL,
                                "patch at offset %zu past the end (%zu bytes)", offset, b->len);
    for (size_t i = 0; i < 4; i++)
        b->data[offset + i] = (uint8_t)(v >> (8 * i));
    return ANVIL_OK;
}

/* ---- reader ---- */

void anvil__reader_init(anvil__reader *r, const void *data, size_t size, const char *where) {
    r->data = data;
    r->size = data ? size : 0;
    r->pos = 0;
    r->status = ANVIL_OK;
    r->where = where ? where : "stream";
}

anvil_status anvil__reader_fail(anvil__reader *r, anvil_status status, const char *fmt, ...) {
    if (r->status != ANVIL_OK) return r->status;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return r->status = anvil__error(status, "%s, offset %zu: %s", r->where, r->pos, msg);
}

/* Takes n bytes or fails naming the field and how much was missing. */
static const uint8_t *take(anvil__reader *r, size_t n, const char *what) {
    if (r->status != ANVIL_OK) return NULL;
    if (n > anvil__reader_left(r)) {
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR,
                           "truncated: %s needs %zu bytes, only %zu left", what, n,
                           anvil__reader_left(r));
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_le(anvil__reader *r, size_t n, const char *what) {
    const uint8_t *p = take(r, n, what);
    uint64_t v = 0;
    for (size_t i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t anvil__read_u8(anvil__reader *r, const char *what) { return (uint8_t)get_le(r, 1, what); }
uint32_t anvil__read_u32(anvil__reader *r, const char *what) {
    return (uint32_t)get_le(r, 4, what);
}
uint64_t anvil__read_u64(anvil__reader *r, const char *what) { return get_le(r, 8, what); }
int32_t anvil__read_i32(anvil__reader *r, const char *what) {
    uint32_t u = (uint32_t)get_le(r, 4, what);
    int32_t v;
    memcpy(&v, &u, 4); /* two's complement reinterpretation without implementation-defined casts */
    return v;
}
int64_t anvil__read_i64(anvil__reader *r, const char *what) {
    uint64_t u = get_le(r, 8, what);
    int64_t v;
    memcpy(&v, &u, 8);
    return v;
}

float anvil__read_f32(anvil__reader *r, const char *what) {
    uint32_t bits = (uint32_t)get_le(r, 4, what);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

double anvil__read_f64(anvil__reader *r, const char *what) {
    uint64_t bits = get_le(r, 8, what);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

bool anvil__read_bool(anvil__reader *r, const char *what) {
    uint8_t v = anvil__read_u8(r, what);
    if (v > 1)
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%s is %u, expected 0 or 1", what, v);
    return v == 1;
}

const uint8_t *anvil__read_bytes(anvil__reader *r, size_t n, const char *what) {
    return take(r, n, what);
}

uint32_t anvil__read_count(anvil__reader *r, size_t max, size_t min_item_bytes, const char *what) {
    uint32_t n = anvil__read_u32(r, what);
    if (r->status != ANVIL_OK) return 0;
    size_t need;
    if (n > max) {
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%s %u is out of range (max %zu)", what, n,
                           max);
        return 0;
    }
    if (!anvil__mul_size(n, min_item_bytes, &need) || need > anvil__reader_left(r)) {
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR,
                           "%s %u is out of range: %u items need at least %zu bytes each, "
                           "only %zu bytes left",
                           what, n, n, min_item_bytes, anvil__reader_left(r));
        return 0;
    }
    return n;
}

void anvil__read_align(anvil__reader *r, size_t align, const char *what) {
    if (r->status != ANVIL_OK) return;
    size_t rem = align ? r->pos & (align - 1) : 0;
    if (rem == 0) return;
    const uint8_t *p = take(r, align - rem, what);
    for (size_t i = 0; p && i < align - rem; i++)
        if (p[i] != 0) {
            r->pos -= align - rem - i;
            anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%s: padding byte is 0x%02x, not 0",
                               what, p[i]);
            return;
        }
}

char *anvil__read_str(anvil__reader *r, uint32_t flags, size_t *len, const char *what) {
    if (len) *len = 0;
    uint32_t n = anvil__read_u32(r, what);
    if (r->status != ANVIL_OK) return NULL;
    if (n == ANVIL_BYTES_NULL_STR) {
        if (!(flags & ANVIL_STR_NULLABLE))
            anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%s is missing (NULL string)", what);
        return NULL;
    }
    if (n > ANVIL_BYTES_STR_MAX) {
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR,
                           "%s: string length %u is over the limit of %zu", what, n,
                           (size_t)ANVIL_BYTES_STR_MAX);
        return NULL;
    }
    const uint8_t *p = take(r, n, what);
    if (!p) return NULL;
    if (!(flags & ANVIL_STR_BINARY) && memchr(p, 0, n)) {
        anvil__reader_fail(r, ANVIL_STATUS_PARSE_ERROR, "%s contains a NUL byte", what);
        return NULL;
    }
    char *s = anvil__malloc((size_t)n + 1);
    if (!s) {
        r->status = ANVIL_STATUS_OUT_OF_MEMORY;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    if (len) *len = n;
    return s;
}
