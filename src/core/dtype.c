/*
 * dtype.c — element types: sizes and names, f16/bf16 conversions (round to nearest even), and
 * the generic element load/store used by reference kernels that must accept every dtype.
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    size_t size;
    const char *name;
} dtype_info[ANVIL_DTYPE_COUNT] = {
    [ANVIL_DTYPE_UNDEFINED] = {0, "undefined"}, [ANVIL_DTYPE_F32] = {4, "f32"},
    [ANVIL_DTYPE_F16] = {2, "f16"},             [ANVIL_DTYPE_BF16] = {2, "bf16"},
    [ANVIL_DTYPE_F64] = {8, "f64"},             [ANVIL_DTYPE_I8] = {1, "i8"},
    [ANVIL_DTYPE_U8] = {1, "u8"},               [ANVIL_DTYPE_I16] = {2, "i16"},
    [ANVIL_DTYPE_I32] = {4, "i32"},             [ANVIL_DTYPE_I64] = {8, "i64"},
    [ANVIL_DTYPE_BOOL] = {1, "bool"},           [ANVIL_DTYPE_U16] = {2, "u16"},
    [ANVIL_DTYPE_U32] = {4, "u32"},             [ANVIL_DTYPE_U64] = {8, "u64"},
    [ANVIL_DTYPE_F8E4M3FN] = {1, "f8e4m3fn"},   [ANVIL_DTYPE_F8E4M3FNUZ] = {1, "f8e4m3fnuz"},
    [ANVIL_DTYPE_F8E5M2] = {1, "f8e5m2"},       [ANVIL_DTYPE_F8E5M2FNUZ] = {1, "f8e5m2fnuz"},
    [ANVIL_DTYPE_F8E8M0] = {1, "f8e8m0"},       [ANVIL_DTYPE_F4E2M1] = {1, "f4e2m1"},
    [ANVIL_DTYPE_I4] = {1, "i4"},               [ANVIL_DTYPE_U4] = {1, "u4"},
    [ANVIL_DTYPE_I2] = {1, "i2"},               [ANVIL_DTYPE_U2] = {1, "u2"},
};

size_t anvil_dtype_size(anvil_dtype dtype) {
    return (unsigned)dtype < ANVIL_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

const char *anvil_dtype_name(anvil_dtype dtype) {
    return (unsigned)dtype < ANVIL_DTYPE_COUNT ? dtype_info[dtype].name : "undefined";
}

bool anvil__dtype_valid(anvil_dtype dtype) {
    return dtype > ANVIL_DTYPE_UNDEFINED && dtype < ANVIL_DTYPE_COUNT;
}

bool anvil__dtype_is_float(anvil_dtype d) {
    return d == ANVIL_DTYPE_F32 || d == ANVIL_DTYPE_F16 || d == ANVIL_DTYPE_BF16 ||
           d == ANVIL_DTYPE_F64;
}

bool anvil__dtype_is_signed(anvil_dtype d) {
    return d == ANVIL_DTYPE_I8 || d == ANVIL_DTYPE_I16 || d == ANVIL_DTYPE_I32 ||
           d == ANVIL_DTYPE_I64;
}

bool anvil__dtype_is_int(anvil_dtype d) {
    return anvil__dtype_is_signed(d) || d == ANVIL_DTYPE_U8 || d == ANVIL_DTYPE_U16 ||
           d == ANVIL_DTYPE_U32 || d == ANVIL_DTYPE_U64;
}

int64_t anvil_shape_numel(int32_t rank, const int64_t *dims) {
    if (rank < 0 || rank > ANVIL_MAX_RANK || (rank > 0 && !dims)) return -1;
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || !anvil__mul_i64(n, dims[i], &n)) return -1;
    }
    return n;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float anvil__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf / NaN */
    if (exp == 0) {                                   /* zero or subnormal: mant * 2^-24 */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t anvil__f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or NaN (keep NaN quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 | ((abs >> 13) & 0x3ff) : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {                                   /* result is subnormal or 0 */
        /* value * 2^24 rounded to nearest even is the subnormal mantissa. */
        float v = bits_f32(abs) * 16777216.0f;
        return (uint16_t)(sign | (uint16_t)nearbyintf(v));
    }
    uint32_t mant_odd = (abs >> 13) & 1;
    abs += 0xfffu + mant_odd; /* round to nearest even at bit 13 */
    return (uint16_t)(sign | ((abs - 0x38000000u) >> 13));
}

float anvil__bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t anvil__f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

#define LOAD_CASES(RET)                                        \
    case ANVIL_DTYPE_F32: return (RET)((const float *)p)[i];   \
    case ANVIL_DTYPE_F64: return (RET)((const double *)p)[i];  \
    case ANVIL_DTYPE_I8: return (RET)((const int8_t *)p)[i];   \
    case ANVIL_DTYPE_U8: return (RET)((const uint8_t *)p)[i];  \
    case ANVIL_DTYPE_I16: return (RET)((const int16_t *)p)[i]; \
    case ANVIL_DTYPE_U16: return (RET)((const uint16_t *)p)[i];\
    case ANVIL_DTYPE_I32: return (RET)((const int32_t *)p)[i]; \
    case ANVIL_DTYPE_U32: return (RET)((const uint32_t *)p)[i];\
    case ANVIL_DTYPE_I64: return (RET)((const int64_t *)p)[i]; \
    case ANVIL_DTYPE_U64: return (RET)((const uint64_t *)p)[i];\
    case ANVIL_DTYPE_BOOL: return (RET)(((const uint8_t *)p)[i] != 0);

double anvil__load_f64(anvil_dtype dtype, const void *p, size_t i) {
    switch (dtype) {
        LOAD_CASES(double)
    case ANVIL_DTYPE_F16: return anvil__f16_to_f32(((const uint16_t *)p)[i]);
    case ANVIL_DTYPE_BF16: return anvil__bf16_to_f32(((const uint16_t *)p)[i]);
    default:
        return anvil__dtype_is_narrow(dtype) ? anvil__narrow_decode(dtype, ((const uint8_t *)p)[i])
                                             : 0.0;
    }
}

/* Float → integer like a C cast, but defined for NaN/inf/out-of-range (saturates; NaN → 0). */
static int64_t f64_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

int64_t anvil__load_i64(anvil_dtype dtype, const void *p, size_t i) {
    switch (dtype) {
    case ANVIL_DTYPE_F32: return f64_to_i64(((const float *)p)[i]);
    case ANVIL_DTYPE_F64: return f64_to_i64(((const double *)p)[i]);
    case ANVIL_DTYPE_F16: return f64_to_i64(anvil__f16_to_f32(((const uint16_t *)p)[i]));
    case ANVIL_DTYPE_BF16: return f64_to_i64(anvil__bf16_to_f32(((const uint16_t *)p)[i]));
    case ANVIL_DTYPE_I8: return ((const int8_t *)p)[i];
    case ANVIL_DTYPE_U8: return ((const uint8_t *)p)[i];
    case ANVIL_DTYPE_I16: return ((const int16_t *)p)[i];
    case ANVIL_DTYPE_U16: return ((const uint16_t *)p)[i];
    case ANVIL_DTYPE_I32: return ((const int32_t *)p)[i];
    case ANVIL_DTYPE_U32: return ((const uint32_t *)p)[i];
    case ANVIL_DTYPE_I64: return ((const int64_t *)p)[i];
    case ANVIL_DTYPE_U64: return (int64_t)((const uint64_t *)p)[i]; /* two's complement view */
    case ANVIL_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    default:
        return anvil__dtype_is_narrow(dtype)
                   ? f64_to_i64(anvil__narrow_decode(dtype, ((const uint8_t *)p)[i]))
                   : 0;
    }
}

/* Float → unsigned integer of `bits` width, modular like numpy's astype on typical targets. */
static uint64_t f64_to_u64_bits(double v) {
    if (v != v) return 0;
    if (v < 0) return (uint64_t)f64_to_i64(v);
    if (v >= 18446744073709551615.0) return UINT64_MAX;
    return (uint64_t)v;
}

void anvil__store_f64(anvil_dtype dtype, void *p, size_t i, double v) {
    switch (dtype) {
    case ANVIL_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case ANVIL_DTYPE_F64: ((double *)p)[i] = v; break;
    case ANVIL_DTYPE_F16: ((uint16_t *)p)[i] = anvil__f32_to_f16((float)v); break;
    case ANVIL_DTYPE_BF16: ((uint16_t *)p)[i] = anvil__f32_to_bf16((float)v); break;
    case ANVIL_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case ANVIL_DTYPE_U64: ((uint64_t *)p)[i] = f64_to_u64_bits(v); break;
    case ANVIL_DTYPE_U32: ((uint32_t *)p)[i] = (uint32_t)f64_to_u64_bits(v); break;
    default:
        if (anvil__dtype_is_narrow(dtype)) {
            ((uint8_t *)p)[i] = anvil__narrow_encode(dtype, v, true, ANVIL_E8M0_ROUND_UP);
            break;
        } anvil__store_i64(dtype, p, i, f64_to_i64(v)); break;
    }
}

void anvil__store_i64(anvil_dtype dtype, void *p, size_t i, int64_t v) {
    switch (dtype) {
    case ANVIL_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case ANVIL_DTYPE_F64: ((double *)p)[i] = (double)v; break;
    case ANVIL_DTYPE_F16: ((uint16_t *)p)[i] = anvil__f32_to_f16((float)v); break;
    case ANVIL_DTYPE_BF16: ((uint16_t *)p)[i] = anvil__f32_to_bf16((float)v); break;
    case ANVIL_DTYPE_I8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
    case ANVIL_DTYPE_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case ANVIL_DTYPE_I16: ((int16_t *)p)[i] = (int16_t)(uint16_t)v; break;
    case ANVIL_DTYPE_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case ANVIL_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
    case ANVIL_DTYPE_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case ANVIL_DTYPE_I64: ((int64_t *)p)[i] = v; break;
    case ANVIL_DTYPE_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case ANVIL_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default:
        if (anvil__dtype_is_narrow(dtype)) ((uint8_t *)p)[i] = anvil__narrow_encode_i64(dtype, v);
        break;
    }
}

void anvil__convert(anvil_dtype to, void *dst, anvil_dtype from, const void *src, size_t n) {
    if (to == from) {
        memcpy(dst, src, n * anvil_dtype_size(to));
        return;
    }
    if (to == ANVIL_DTYPE_F32 && from == ANVIL_DTYPE_F16) {
        for (size_t i = 0; i < n; i++)
            ((float *)dst)[i] = anvil__f16_to_f32(((const uint16_t *)src)[i]);
        return;
    }
    if (to == ANVIL_DTYPE_F32 && from == ANVIL_DTYPE_BF16) {
        for (size_t i = 0; i < n; i++)
            ((float *)dst)[i] = anvil__bf16_to_f32(((const uint16_t *)src)[i]);
        return;
    }
    /* f64 → f16/bf16 must round once (through f32 would double-round) only in rare ties;
     * ONNX runtimes also go through f32, so we match them. */
    bool exact_int = anvil__dtype_is_int(from) && !anvil__dtype_is_float(to);
    for (size_t i = 0; i < n; i++) {
        if (exact_int)
            anvil__store_i64(to, dst, i, anvil__load_i64(from, src, i));
        else if (from == ANVIL_DTYPE_U64 && anvil__dtype_is_float(to))
            anvil__store_f64(to, dst, i, (double)((const uint64_t *)src)[i]);
        else
            anvil__store_f64(to, dst, i, anvil__load_f64(from, src, i));
    }
}

const char *anvil__shape_str(int32_t rank, const int64_t *dims, char *buf, size_t size) {
    if (size == 0) return buf;
    if (rank < 0) {
        snprintf(buf, size, "?");
        return buf;
    }
    if (rank == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < rank && used < size; i++) {
        int w = dims[i] < 0 ? snprintf(buf + used, size - used, "%s?", i ? "x" : "")
                            : snprintf(buf + used, size - used, "%s%lld", i ? "x" : "",
                                       (long long)dims[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}
