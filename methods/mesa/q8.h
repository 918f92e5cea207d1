/* methods/mesa/q8.h — the arithmetic of the 8-bit activation codec (Mesa), inline for host and device, so
 * the CPU backend and the CUDA kernels quantize with one text: the range update, the stochastic
 * rounding to a code and the code's value. Every step in fp32, as Mesa's kernels compute. */
#ifndef MB_Q8_H
#define MB_Q8_H

#include <math.h>
#include <stdint.h>

#include "../../engine/philox.h"

#ifdef __CUDACC__
#define MB_Q8_FN __host__ __device__ static inline
#else
#define MB_Q8_FN static inline
#endif

#define MB_Q8_LEVELS 255.0f /* codes 0 .. 255 (Mesa's level 256, minus one) */

/* Element i of a tensor split into G groups by runs of `inner` elements. */
MB_Q8_FN int mb_q8_group(size_t i, size_t inner, int G) {
    return (int)((i / inner) % (size_t)G);
}

/* With tri > 0 the tensor is a stack of tri x tri matrices (causal attention probabilities) and
 * entries above their diagonals are not data: 1 for those. */
MB_Q8_FN int mb_q8_skip(size_t i, size_t tri) {
    return tri > 0 && i % tri > i / tri % tri;
}

/* Codes per unit of x: 255 / clip, 0 where clip is 0 or too small to invert (every code then
 * decodes to shift). */
MB_Q8_FN float mb_q8_scale(float clip) {
    float s = clip > 0.0f ? MB_Q8_LEVELS / clip : 0.0f;
    return s <= 3.0e38f ? s : 0.0f;
}

/* x per code: clip / 255, 0 where mb_q8_scale is 0. */
MB_Q8_FN float mb_q8_step(float clip) {
    return mb_q8_scale(clip) > 0.0f ? clip / MB_Q8_LEVELS : 0.0f;
}

/* The range after measuring [mn, mx]: the first time clip = mx - mn and shift = mn; after,
 * clip -= (1 - decay)(clip - (mx - mn)) and shift -= (1 - decay)(shift - mn) as Mesa's
 * update_clip_val_shift, each with one fused multiply-add so both backends round alike. */
MB_Q8_FN void mb_q8_ema(float *clip, float *shift, float mn, float mx, float decay, int first) {
    float r = mx - mn;
    if (first) {
        *clip = r;
        *shift = mn;
        return;
    }
    float a = -(1.0f - decay);
    *clip = fmaf(a, *clip - r, *clip);
    *shift = fmaf(a, *shift - mn, *shift);
}

/* Element i's uniform in [0, 1): 24 bits of word i % 4 of Philox block first + i / 4. */
MB_Q8_FN float mb_q8_uniform(uint64_t seed, uint32_t stream, uint64_t first, size_t i) {
    uint32_t w[4];
    mb_philox_block(seed, stream, first + i / 4, w);
    return (float)(w[i % 4] >> 8) * 0x1.0p-24f;
}

/* Stochastic rounding to a code: floor((x - shift) * scale + u) clamped to [0, 255]; the code
 * rounds up with probability the fraction, so it is unbiased inside the range. Mesa clamps only
 * at 0; above the range (the EMA lags a growing max) its uint8 wraps, ours saturates. */
MB_Q8_FN uint8_t mb_q8_code(float x, float shift, float scale, float u) {
    /* one rounding on both backends; the comparison also maps NaN to 0 */
    float v = floorf(fmaf(x - shift, scale, u));
    v = v > 0.0f ? v : 0.0f;
    return (uint8_t)(v < MB_Q8_LEVELS ? v : MB_Q8_LEVELS);
}

/* A code's value: q * step + shift in one fused multiply-add (Mesa divides by 255 / clip: the
 * two differ by an ulp), step = mb_q8_step(clip). */
MB_Q8_FN float mb_q8_value(uint8_t q, float shift, float step) {
    return fmaf((float)q, step, shift);
}

#endif
