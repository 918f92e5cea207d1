/* engine/dtype.c — element types: names, sizes, and host conversions to and from double
 * (bf16 rounds to nearest even, as __float2bfloat16_rn does on the GPU). */
#include <math.h>
#include <string.h>

#include "backend.h"

const char *mb_dtype_name(mb_dtype t) {
    return t == MB_F64 ? "f64" : t == MB_BF16 ? "bf16" : "f32";
}
size_t mb_dtype_size(mb_dtype t) { return t == MB_F64 ? 8 : t == MB_BF16 ? 2 : 4; }

static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40); /* keep NaN a (quiet) NaN */
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void mb_dtype_from_f64(mb_dtype t, void *dst, const double *src, size_t n) {
    if (t == MB_F64) {
        if (n) memcpy(dst, src, n * sizeof *src);
    } else if (t == MB_F32) {
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = (float)src[i];
    } else {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16((float)src[i]);
    }
}

void mb_dtype_to_f64(mb_dtype t, double *dst, const void *src, size_t n) {
    if (t == MB_F64) {
        if (n) memcpy(dst, src, n * sizeof *dst);
    } else if (t == MB_F32) {
        const float *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = s[i];
    } else {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
    }
}
