/* engine/dynmap.h — bitsandbytes' 8-bit "dynamic" quantization maps (signed for Adam's m, unsigned
 * for v) and the nearest-code search its blockwise optimizer kernel uses. */
#ifndef MB_DYNMAP_H
#define MB_DYNMAP_H

#include <stdint.h>

/* The 256 sorted values of create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for
 * exponent e = 0..6, 2^e (signed) or 2^(e+1) (unsigned) fraction midpoints of linspace(0.1, 1)
 * scaled by 10^(e-6), their negatives when signed, then 0 and 1. Built in double and rounded to
 * float (bitsandbytes builds them in float32: an entry may differ from its by one ulp). */
void mb_dynmap(int is_signed, float map[256]);

#ifdef __CUDACC__
#define MB_DYNMAP_FN __host__ __device__ static inline
#else
#define MB_DYNMAP_FN static inline
#endif

/* The code of x (already divided by its block's absmax) as quantize_2D finds it: a 7-step binary
 * search from index 127, then the nearer of the two codes bracketing x (a value exactly halfway
 * keeps the code the search ended on); before the search has moved a bound, the bounds are -1
 * (signed) or 0 below and 1 above. NaN gives code 0. Inline so that the CPU and CUDA kernels run
 * one definition, with the same float operations. */
MB_DYNMAP_FN uint8_t mb_dynmap_code(const float map[256], int is_signed, float x) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = is_signed ? -1.0f : 0.0f, upper = 1.0f, val = map[127];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map[pivot];
    }
    if (x > val) return (uint8_t)(x > (upper + val) * 0.5f ? upper_pivot : pivot);
    return (uint8_t)(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

#endif
