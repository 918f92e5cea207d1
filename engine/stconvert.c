/* engine/stconvert.c — checkpoint elements (F64, F32, F16, BF16) to a backend's element type in one
 * step: exact where the target holds the value, else one round to nearest even (never through an
 * intermediate type, which could round twice). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "safetensors.h"

static float f16_to_f32(uint16_t h) { /* exact: every half is a float */
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | (man << 13);
    else if (exp)
        bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man)
        bits = sign;
    else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40); /* a quiet NaN of the same sign */
    u += 0x7fff + ((u >> 16) & 1);                     /* ties to even; past the top: inf */
    return (uint16_t)(u >> 16);
}

/* Rounds once, to nearest even, straight from double: x * 2^k and nearbyint are exact steps. */
static uint16_t f64_to_bf16(double x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs(x);
    if (isnan(x)) return sign | 0x7fc0;
    if (isinf(x)) return sign | 0x7f80;
    if (a <
        0x1p-126) /* bf16's subnormals are multiples of 2^-133; 128 of them is the least normal */
        return sign | (uint16_t)nearbyint(ldexp(a, 133));
    int e = ilogb(a);
    double r = nearbyint(ldexp(a, 7 - e)); /* 8 significant bits: [128, 256] */
    if (r == 256) r = 128, e++;
    if (e > 127) return sign | 0x7f80;
    return sign | (uint16_t)((unsigned)(e + 127) << 7 | ((unsigned)r - 128));
}

/* (float)x rounds to nearest even; a double beyond float's range is handled here, where C leaves
 * the conversion undefined: it rounds to FLT_MAX below the midpoint 2^128 - 2^103, else to inf (the
 * midpoint itself goes to inf, the even side). */
static float f64_to_f32(double x) {
    if (!isnan(x) && fabs(x) > FLT_MAX)
        return fabs(x) < 0x1p128 - 0x1p103 ? (x < 0 ? -FLT_MAX : FLT_MAX)
                                           : (x < 0 ? -INFINITY : INFINITY);
    return (float)x;
}

static void store_f32(mb_dtype t, void *dst, size_t i, float v) {
    if (t == MB_F64)
        ((double *)dst)[i] = v;
    else if (t == MB_F32)
        ((float *)dst)[i] = v;
    else
        ((uint16_t *)dst)[i] = f32_to_bf16(v);
}

int mb_st_convert(mb_dtype t, void *dst, const char *st_dtype, const void *src, size_t n) {
    if (!strcmp(st_dtype, "F64")) {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, s + 8 * i, 8);
            if (t == MB_F64)
                ((double *)dst)[i] = v;
            else if (t == MB_F32)
                ((float *)dst)[i] = f64_to_f32(v);
            else
                ((uint16_t *)dst)[i] = f64_to_bf16(v);
        }
        return 1;
    }
    int kind = !strcmp(st_dtype, "F32")    ? 32
               : !strcmp(st_dtype, "F16")  ? 16
               : !strcmp(st_dtype, "BF16") ? 2
                                           : 0;
    if (!kind) return 0;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
        float v;
        if (kind == 32) {
            memcpy(&v, s + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            v = kind == 16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        store_f32(t, dst, i, v);
    }
    return 1;
}
