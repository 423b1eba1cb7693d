/*
 * bytes.h — little-endian byte streams for anvil's own binary formats (engine files: graphs,
 * plan, slot tables). A growable writer (anvil__bytes) with checked appends and a bounds-checked
 * reader (anvil__reader). Both keep a *sticky* status: after the first failure every further
 * call does nothing and returns 0 / NULL, so a parser can read a whole record and check once.
 *
 * Encodings shared by every user of this file (docs/engine-format.md §1):
 *   u8 u32 u64 i32 i64  little-endian, two's complement;
 *   f32 f64             the IEEE-754 bits as u32 / u64 (NaN payloads kept);
 *   str                 u32 byte length L, then L bytes (no terminator). L = 0xFFFFFFFF encodes
 *                       a NULL string ("nstr" where a field may be NULL).
 */
#ifndef ANVIL_ENGINE_BYTES_H
#define ANVIL_ENGINE_BYTES_H

#include "core/core.h"

/* Longest string either side accepts (names, attribute strings, layout blobs). */
#define ANVIL_BYTES_STR_MAX ((size_t)1 << 24)
/* Length value that encodes a NULL string. */
#define ANVIL_BYTES_NULL_STR 0xFFFFFFFFu

/* ---- writer ---- */

typedef struct anvil__bytes {
    uint8_t *data; /* owned; anvil__bytes_free releases it */
    size_t len, cap;
    anvil_status status; /* ANVIL_OK, or the first failure (message already recorded) */
} anvil__bytes;

#define ANVIL_BYTES_INIT                                                                           \
    { NULL, 0, 0, ANVIL_OK }

void anvil__bytes_free(anvil__bytes *b);
/* Appends n bytes (data may be NULL when n == 0). Returns b->status. */
anvil_status anvil__bytes_put(anvil__bytes *b, const void *data, size_t n);
anvil_status anvil__bytes_zeros(anvil__bytes *b, size_t n);
/* Appends zeros until (b->len - base) is a multiple of align (a power of two). */
anvil_status anvil__bytes_align(anvil__bytes *b, size_t base, size_t align);
anvil_status anvil__bytes_u8(anvil__bytes *b, uint8_t v);
anvil_status anvil__bytes_u32(anvil__bytes *b, uint32_t v);
anvil_status anvil__bytes_u64(anvil__bytes *b, uint64_t v);
anvil_status anvil__bytes_i32(anvil__bytes *b, int32_t v);
anvil_status anvil__bytes_i64(anvil__bytes *b, int64_t v);
anvil_status anvil__bytes_f32(anvil__bytes *b, float v);
anvil_status anvil__bytes_f64(anvil__bytes *b, double v);
/* str of n bytes; s == NULL writes the NULL marker. INVALID_ARGUMENT above ANVIL_BYTES_STR_MAX. */
anvil_status anvil__bytes_str(anvil__bytes *b, const char *s, size_t n);
/* str of a NUL-terminated string (or NULL). */
anvil_status anvil__bytes_cstr(anvil__bytes *b, const char *s);
/* Overwrites 4 bytes at `offset` (< len) — back-patching a count written before its items. */
anvil_status anvil__bytes_set_u32(anvil__bytes *b, size_t offset, uint32_t v);

/* ---- reader ---- */

typedef struct anvil__reader {
    const uint8_t *data; /* borrowed */
    size_t size, pos;
    anvil_status status; /* ANVIL_OK or the first failure */
    const char *where;   /* message prefix, e.g. "engine run graph" (borrowed, static) */
} anvil__reader;

void anvil__reader_init(anvil__reader *r, const void *data, size_t size, const char *where);
static inline size_t anvil__reader_left(const anvil__reader *r) { return r->size - r->pos; }

/* Records a failure (first one wins): the message is prefixed with r->where and the offset.
 * Returns r->status. */
anvil_status anvil__reader_fail(anvil__reader *r, anvil_status status, const char *fmt, ...)
    ANVIL_PRINTF(3, 4);

/* Scalars; `what` names the field in the truncation message. 0 after a failure. */
uint8_t anvil__read_u8(anvil__reader *r, const char *what);
uint32_t anvil__read_u32(anvil__reader *r, const char *what);
uint64_t anvil__read_u64(anvil__reader *r, const char *what);
int32_t anvil__read_i32(anvil__reader *r, const char *what);
int64_t anvil__read_i64(anvil__reader *r, const char *what);
float anvil__read_f32(anvil__reader *r, const char *what);
double anvil__read_f64(anvil__reader *r, const char *what);
/* A u8 that must be 0 or 1. */
bool anvil__read_bool(anvil__reader *r, const char *what);
/* View of the next n bytes (borrowed from the reader's data); NULL after a failure. */
const uint8_t *anvil__read_bytes(anvil__reader *r, size_t n, const char *what);
/* A u32 count of items that each take at least min_item_bytes (≥ 1 unless max bounds it)
 * in the rest of the stream: fails with PARSE_ERROR when count > max or the items cannot fit,
 * so callers may allocate `count` items safely. */
uint32_t anvil__read_count(anvil__reader *r, size_t max, size_t min_item_bytes, const char *what);
/* Skips zero padding up to the next multiple of `align` (power of two) from r->data. */
void anvil__read_align(anvil__reader *r, size_t align, const char *what);

/* String flags. */
enum {
    ANVIL_STR_NULLABLE = 1 << 0, /* the NULL marker is allowed (returns NULL, status OK) */
    ANVIL_STR_BINARY = 1 << 1,   /* embedded NUL bytes are allowed */
};
/* Reads a str into a fresh NUL-terminated copy (anvil__free it); *len (may be NULL) gets its
 * byte length. NULL for a NULL string or after a failure (check r->status). */
char *anvil__read_str(anvil__reader *r, uint32_t flags, size_t *len, const char *what);

#endif /* ANVIL_ENGINE_BYTES_H */
