/*
 * core.h — internal helpers shared by every part of anvil: error reporting, checked
 * allocation, overflow-safe arithmetic, element conversion. Not part of the public API.
 */
#ifndef ANVIL_CORE_H
#define ANVIL_CORE_H

#include "anvil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ANVIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ANVIL_PRINTF(f, a)
#endif

/* Records the thread-local message and returns `status`, so callers write
 * `return anvil__error(ANVIL_STATUS_PARSE_ERROR, "tensor '%s': ...", name);` */
anvil_status anvil__error(anvil_status status, const char *fmt, ...) ANVIL_PRINTF(2, 3);
/* Prepends context to the current message: "while loading 'x.onnx': <old message>". */
anvil_status anvil__error_prefix(anvil_status status, const char *fmt, ...) ANVIL_PRINTF(2, 3);
void anvil__error_clear(void);

/* Largest single allocation anvil makes on behalf of untrusted input (bytes). Files larger than
 * this are mmapped, never copied. Guards against giant allocations from corrupt headers. */
#define ANVIL_MAX_ALLOC ((size_t)1 << 36)

/* malloc/calloc/realloc that refuse sizes above ANVIL_MAX_ALLOC and overflowing products.
 * They set the thread-local error (OUT_OF_MEMORY / LIMIT_EXCEEDED) when they return NULL.
 * A test hook can make the n-th allocation fail (anvil__alloc_fail_after). */
void *anvil__malloc(size_t size);
void *anvil__calloc(size_t count, size_t size);
void *anvil__realloc(void *ptr, size_t size);
void *anvil__malloc_array(size_t count, size_t size);
void anvil__free(void *ptr);
char *anvil__strdup(const char *s);
char *anvil__strndup(const char *s, size_t n);
/* Test hook: the allocation after `n` more succeed fails; -1 disables. */
void anvil__alloc_fail_after(long n);

/* Overflow-checked arithmetic: return false on overflow. */
bool anvil__mul_size(size_t a, size_t b, size_t *out);
bool anvil__add_size(size_t a, size_t b, size_t *out);
bool anvil__mul_i64(int64_t a, int64_t b, int64_t *out);

/* Dtype helpers. */
bool anvil__dtype_valid(anvil_dtype dtype);
bool anvil__dtype_is_float(anvil_dtype dtype); /* f32 f16 bf16 f64 */
bool anvil__dtype_is_int(anvil_dtype dtype);   /* signed and unsigned integers, not bool */
bool anvil__dtype_is_signed(anvil_dtype dtype);

float anvil__f16_to_f32(uint16_t h);
uint16_t anvil__f32_to_f16(float f); /* round to nearest even, overflow to inf, NaN kept */
float anvil__bf16_to_f32(uint16_t b);
uint16_t anvil__f32_to_bf16(float f); /* round to nearest even, NaN kept */

/* Element i of a buffer of `dtype`, read as double / int64, and written from double / int64
 * (float→int truncates toward zero like a C cast; bool stores x != 0). Slow but general: the
 * reference kernels use them where speed does not matter. */
double anvil__load_f64(anvil_dtype dtype, const void *data, size_t i);
int64_t anvil__load_i64(anvil_dtype dtype, const void *data, size_t i);
void anvil__store_f64(anvil_dtype dtype, void *data, size_t i, double v);
void anvil__store_i64(anvil_dtype dtype, void *data, size_t i, int64_t v);
/* Converts `count` elements between dtypes (ONNX Cast semantics for the supported types). */
void anvil__convert(anvil_dtype to, void *dst, anvil_dtype from, const void *src, size_t count);

/* Narrow dtypes (float8, float4 E2M1, int4/uint4/int2/uint2; dtype_narrow.c): one element per
 * byte, the format's code in the low bits (int4/int2 codes are two's complement in 4/2 bits). */
typedef enum anvil__e8m0_round {
    ANVIL_E8M0_ROUND_UP, /* Cast's default round_mode */
    ANVIL_E8M0_ROUND_DOWN,
    ANVIL_E8M0_ROUND_NEAREST,
} anvil__e8m0_round;
bool anvil__dtype_is_narrow(anvil_dtype dtype);       /* every dtype listed above */
bool anvil__dtype_is_narrow_float(anvil_dtype dtype); /* float8 formats and float4 E2M1 */
int anvil__dtype_packed_bits(anvil_dtype dtype); /* 4 or 2 for ONNX's packed types, else 0 */
double anvil__narrow_decode(anvil_dtype dtype, uint8_t code);
/* ONNX Cast rules: round to nearest even; saturate clamps to the largest finite value (inf
 * too), else overflow gives inf (E5M2) or NaN; integers truncate toward zero and wrap. */
uint8_t anvil__narrow_encode(anvil_dtype dtype, double v, bool saturate, anvil__e8m0_round round);
uint8_t anvil__narrow_encode_i64(anvil_dtype dtype, int64_t v);
/* Unpacks n elements of 4- or 2-bit codes (first element in the low bits) to one per byte. */
void anvil__narrow_unpack(anvil_dtype dtype, uint8_t *dst, const uint8_t *src, size_t n);
/* anvil__convert with Cast's saturate and E8M0 round_mode (they only matter for float8). */
void anvil__convert_cast(anvil_dtype to, void *dst, anvil_dtype from, const void *src,
                         size_t count, bool saturate, anvil__e8m0_round round);

/* Formats a shape as "1x3x224x224" ("scalar" for rank 0, '?' for unknown dims) into buf. */
const char *anvil__shape_str(int32_t rank, const int64_t *dims, char *buf, size_t size);
#define ANVIL_SHAPE_STR_MAX 200

/* String lists (public type anvil_string_list): growable, strings copied. */
anvil_string_list *anvil__string_list_new(void);
anvil_status anvil__string_list_add(anvil_string_list *list, const char *s);

/* Tensor lists (public type anvil_tensor_list). */
struct anvil_tensor_list {
    size_t count;
    anvil_tensor *tensors; /* each tensor's name and data are owned by the list */
};
anvil_tensor_list *anvil__tensor_list_new(size_t count);
/* Sets entry i; copies `name`, takes ownership of `data` (allocated with anvil__malloc). */
anvil_status anvil__tensor_list_set(anvil_tensor_list *list, size_t i, const char *name,
                                    anvil_dtype dtype, int32_t rank, const int64_t *dims,
                                    void *data, size_t bytes);

/* Read-only file mapping. */
typedef struct anvil__mapping {
    const uint8_t *data;
    size_t size;
    void *base; /* munmap base, or NULL when data is heap/borrowed */
    size_t map_size;
} anvil__mapping;
anvil_status anvil__map_file(const char *path, anvil__mapping *out);
void anvil__unmap(anvil__mapping *m);

/* Writes `size` bytes atomically: temp file in the same folder, fsync, rename. */
anvil_status anvil__write_file_atomic(const char *path, const void *const *parts,
                                      const size_t *sizes, size_t n_parts);

/* Simple string → index hash map (open addressing) used for name lookups. Keys are borrowed. */
typedef struct anvil__name_map {
    const char **keys;
    int32_t *values;
    size_t cap;
    size_t count;
} anvil__name_map;
/* Room for n keys without growing (one allocation for a map filled in a loop). */
anvil_status anvil__name_map_reserve(anvil__name_map *m, size_t n);
anvil_status anvil__name_map_put(anvil__name_map *m, const char *key, int32_t value);
int32_t anvil__name_map_get(const anvil__name_map *m, const char *key); /* -1 if absent */
void anvil__name_map_free(anvil__name_map *m);

#endif /* ANVIL_CORE_H */
