/*
 * dtype_narrow.c — the narrow dtypes (float8 E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ/E8M0, float4 E2M1,
 * int4/uint4/int2/uint2): one element per byte with the code in the low bits. Decoding to
 * double, encoding with ONNX Cast rules (round to nearest even, `saturate`, E8M0 round_mode),
 * and unpacking the 4/2-bit packed layout of ONNX tensors. No arithmetic on these types.
 */
#include "core/core.h"

#include <math.h>
#include <string.h>

/* How a minifloat spells its specials. */
enum special {
    SP_IEEE, /* E5M2: exponent all ones is inf (mantissa 0) or NaN */
    SP_FN,   /* E4M3FN: only S.1111.111 is NaN, no inf */
    SP_UZ,   /* FNUZ: 0x80 is the only NaN, no inf, no negative zero */
    SP_NONE, /* E2M1: neither NaN nor inf */
};

typedef struct minifloat {
    int bits, mbits, bias;
    double max; /* largest finite value */
    uint8_t max_code;
    enum special sp;
} minifloat;

static const minifloat *format_of(anvil_dtype d) {
    static const minifloat e4m3fn = {8, 3, 7, 448.0, 0x7e, SP_FN};
    static const minifloat e4m3fnuz = {8, 3, 8, 240.0, 0x7f, SP_UZ};
    static const minifloat e5m2 = {8, 2, 15, 57344.0, 0x7b, SP_IEEE};
    static const minifloat e5m2fnuz = {8, 2, 16, 57344.0, 0x7f, SP_UZ};
    static const minifloat e2m1 = {4, 1, 1, 6.0, 0x7, SP_NONE};
    switch (d) {
    case ANVIL_DTYPE_F8E4M3FN:
        return &e4m3fn;
    case ANVIL_DTYPE_F8E4M3FNUZ:
        return &e4m3fnuz;
    case ANVIL_DTYPE_F8E5M2:
        return &e5m2;
    case ANVIL_DTYPE_F8E5M2FNUZ:
        return &e5m2fnuz;
    case ANVIL_DTYPE_F4E2M1:
        return &e2m1;
    default:
        return NULL;
    }
}

bool anvil__dtype_is_narrow(anvil_dtype d) {
    return d >= ANVIL_DTYPE_F8E4M3FN && d <= ANVIL_DTYPE_U2;
}

bool anvil__dtype_is_narrow_float(anvil_dtype d) {
    return d >= ANVIL_DTYPE_F8E4M3FN && d <= ANVIL_DTYPE_F4E2M1;
}

int anvil__dtype_packed_bits(anvil_dtype d) {
    switch (d) {
    case ANVIL_DTYPE_F4E2M1:
    case ANVIL_DTYPE_I4:
    case ANVIL_DTYPE_U4:
        return 4;
    case ANVIL_DTYPE_I2:
    case ANVIL_DTYPE_U2:
        return 2;
    default:
        return 0;
    }
}

static double minifloat_decode(const minifloat *f, uint8_t code) {
    int ebits = f->bits - 1 - f->mbits;
    unsigned sign = (code >> (f->bits - 1)) & 1u, emask = (1u << ebits) - 1;
    unsigned e = (code >> f->mbits) & emask, m = code & ((1u << f->mbits) - 1);
    if (f->sp == SP_UZ && code == 0x80) return NAN;
    if (f->sp == SP_IEEE && e == emask)
        return m ? (sign ? -NAN : NAN) : (sign ? -INFINITY : INFINITY);
    if (f->sp == SP_FN && e == emask && m == (1u << f->mbits) - 1) return sign ? -NAN : NAN;
    double v = e == 0 ? ldexp((double)m, 1 - f->bias - f->mbits)
                      : ldexp((double)(m | (1u << f->mbits)), (int)e - f->bias - f->mbits);
    return sign ? -v : v;
}

/* Code of the overflow result when not saturating (and of NaN inputs). */
static uint8_t minifloat_special(const minifloat *f, unsigned sign, bool nan) {
    uint8_t s = (uint8_t)(sign << (f->bits - 1));
    switch (f->sp) {
    case SP_IEEE:
        return (uint8_t)(s | (nan ? 0x7e : 0x7c));
    case SP_FN:
        return (uint8_t)(s | 0x7f);
    case SP_UZ:
        return 0x80;
    case SP_NONE:
        break;
    }
    /* E2M1 has no NaN: the reference (ml_dtypes) turns NaN into 0x8, i.e. -0. */
    return nan ? 0x8 : (uint8_t)(s | f->max_code);
}

static uint8_t minifloat_encode(const minifloat *f, double v, bool saturate) {
    unsigned sign = signbit(v) ? 1u : 0u;
    double a = fabs(v);
    if (isnan(v)) return minifloat_special(f, sign, true);
    if (f->sp == SP_NONE) saturate = true; /* nothing else to overflow to */
    if (saturate && a > f->max) a = f->max;
    if (isinf(a)) return minifloat_special(f, sign, false);
    int emin = 1 - f->bias, e;
    frexp(a, &e); /* a = frac * 2^e, frac in [0.5, 1): the leading bit is 2^(e-1) */
    int lead = e - 1 < emin ? emin : e - 1;
    /* Scaling by a power of two is exact, so one rounding (to nearest even) happens here;
     * the exponent is unbounded above so that overflow is decided on the rounded value. */
    double r = ldexp(nearbyint(ldexp(a, f->mbits - lead)), lead - f->mbits);
    if (r > f->max)
        return saturate ? (uint8_t)((sign << (f->bits - 1)) | f->max_code)
                        : minifloat_special(f, sign, false);
    if (r == 0) return f->sp == SP_UZ ? 0 : (uint8_t)(sign << (f->bits - 1));
    frexp(r, &e);
    unsigned field, mant;
    if (e - 1 < emin) {
        field = 0;
        mant = (unsigned)ldexp(r, f->mbits - emin);
    } else {
        field = (unsigned)(e - 1 + f->bias);
        mant = (unsigned)ldexp(r, f->mbits - (e - 1)) - (1u << f->mbits);
    }
    return (uint8_t)((sign << (f->bits - 1)) | (field << f->mbits) | mant);
}

/* E8M0 follows the ONNX reference: the float32 exponent field, bumped by the rounding mode;
 * the sign is ignored, inf and NaN become 0xFF, and saturation stops at 0xFE (2^127).
 * Unlike the reference, float32 subnormals are normalized first, so 2^-127 gives code 0. */
static uint8_t e8m0_encode(double v, bool saturate, anvil__e8m0_round round) {
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    int exp = (int)((bits >> 23) & 0xff);
    uint32_t frac = bits & 0x7fffffu;
    if (exp == 0xff) return 0xff;
    if (exp == 0 && frac != 0) { /* subnormal: move the leading one to the implicit bit */
        exp = 1;
        while (!(frac & 0x800000u))
            frac <<= 1, exp--;
        frac &= 0x7fffffu;
    }
    bool up = false;
    if (round == ANVIL_E8M0_ROUND_UP) {
        up = frac != 0;
    } else if (round == ANVIL_E8M0_ROUND_NEAREST) { /* guard, round, sticky; ties go up */
        bool g = (frac & 0x400000u) != 0, r = (frac & 0x200000u) != 0;
        bool s = (frac & 0x1fffffu) != 0;
        up = g && (r || s || exp > 0);
    }
    if (up && saturate && exp == 0xfe) up = false;
    int code = exp + (up ? 1 : 0); /* 0xfe + 1 = 0xff: NaN when not saturating */
    return (uint8_t)(code < 0 ? 0 : code);
}

double anvil__narrow_decode(anvil_dtype d, uint8_t code) {
    const minifloat *f = format_of(d);
    if (f) return minifloat_decode(f, code);
    switch (d) {
    case ANVIL_DTYPE_F8E8M0:
        return code == 0xff ? NAN : ldexp(1.0, (int)code - 127);
    case ANVIL_DTYPE_I4:
        return (double)(((code & 0xf) ^ 0x8) - 0x8);
    case ANVIL_DTYPE_U4:
        return (double)(code & 0xf);
    case ANVIL_DTYPE_I2:
        return (double)(((code & 0x3) ^ 0x2) - 0x2);
    case ANVIL_DTYPE_U2:
        return (double)(code & 0x3);
    default:
        return 0.0;
    }
}

uint8_t anvil__narrow_encode_i64(anvil_dtype d, int64_t v) {
    switch (d) {
    case ANVIL_DTYPE_I4:
    case ANVIL_DTYPE_U4:
        return (uint8_t)((uint64_t)v & 0xf); /* wraps, like numpy's astype */
    case ANVIL_DTYPE_I2:
    case ANVIL_DTYPE_U2:
        return (uint8_t)((uint64_t)v & 0x3);
    default:
        return anvil__narrow_encode(d, (double)v, true, ANVIL_E8M0_ROUND_UP);
    }
}

uint8_t anvil__narrow_encode(anvil_dtype d, double v, bool saturate, anvil__e8m0_round round) {
    const minifloat *f = format_of(d);
    if (f) return minifloat_encode(f, v, saturate);
    if (d == ANVIL_DTYPE_F8E8M0) return e8m0_encode(v, saturate, round);
    /* Integers: truncate toward zero like a C cast (NaN → 0, saturating at the i64 range),
     * then keep the low bits. */
    int64_t i = 0;
    if (v >= 9223372036854775807.0)
        i = INT64_MAX;
    else if (v <= -9223372036854775808.0)
        i = INT64_MIN;
    else if (v == v)
        i = (int64_t)v;
    return anvil__narrow_encode_i64(d, i);
}

void anvil__narrow_unpack(anvil_dtype d, uint8_t *dst, const uint8_t *src, size_t n) {
    int bits = anvil__dtype_packed_bits(d);
    if (bits == 0) {
        memcpy(dst, src, n);
        return;
    }
    size_t per = (size_t)(8 / bits);
    unsigned mask = (1u << bits) - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)((src[i / per] >> (bits * (int)(i % per))) & mask);
}

void anvil__convert_cast(anvil_dtype to, void *dst, anvil_dtype from, const void *src, size_t n,
                         bool saturate, anvil__e8m0_round round) {
    bool plain = !anvil__dtype_is_narrow_float(to) || (saturate && round == ANVIL_E8M0_ROUND_UP);
    if (plain || to == from) {
        anvil__convert(to, dst, from, src, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)dst)[i] =
            anvil__narrow_encode(to, anvil__load_f64(from, src, i), saturate, round);
}
