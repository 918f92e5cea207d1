/* engine/cpu/real.h — what CPU kernels written once over an element type share (backend_cpu.c, the
 * methods' <name>_cpu.c): the math functions by suffix, the threading threshold, the dot product.
 * Such a source includes its kernel text once per type, with REAL (float | double) and SFX(name)
 * (name_f32 | name_f64) defined; the text includes this header again to get SFX(dot). */
#ifndef MB_CPU_REAL_H
#define MB_CPU_REAL_H

#include <math.h>
#include <stddef.h>

#define MB_UNUSED __attribute__((unused))

#ifndef MB_PAR_MIN_WORK
/* Below this many multiply-adds a loop runs on one thread: forking costs more than it saves, and on
 * a loaded 2-core machine a spinning team can stall for milliseconds. */
#define MB_PAR_MIN_WORK 32768
#endif

#define sqrt_f32 sqrtf
#define exp_f32 expf
#define log_f32 logf
#define tanh_f32 tanhf
#define fmax_f32 fmaxf
#define fabs_f32 fabsf
#define sqrt_f64 sqrt
#define exp_f64 exp
#define log_f64 log
#define tanh_f64 tanh
#define fmax_f64 fmax
#define fabs_f64 fabs

#endif

#ifdef REAL
/* Dot product with 8 independent partial sums (vectorizable, fixed order). */
static MB_UNUSED REAL SFX(dot)(const REAL *a, const REAL *b, int n) {
    REAL s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    REAL r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}
#endif
