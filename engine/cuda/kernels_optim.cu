/* engine/cuda/kernels_optim.cu — the optimizer kernels with reductions: 8-bit Adam (block absmax)
 * and APOLLO's scaled update (channel norms, norm-growth limiter).
 * Sums run in fp64 in a fixed order (no atomics); scalars stay on the device (no host sync). */
#include <math.h>
#include <stdint.h>

#include "../dynmap.h"
#include "cuda_common.h"
#include "kernels.h"

#define MB_OPT_THREADS MB_SUM_THREADS /* mb_block_sum_d's block */
#define MB_OPT_PARTS                                                                               \
    256 /* partial sums of a whole-tensor reduction: a constant, so a fixed order */

/* ---------------------------------------------------------------------------------------------- */
/* 8-bit Adam (see engine/backend.h): one CUDA block of MB_ADAM8_BLOCK threads per quantization
 * block, one element per thread. Every float operation is the CPU fp32 kernel's, explicitly rounded
 * (no contraction), so codes, absmax and weights equal the CPU's bit for bit. */
struct mb_adam8_k_args {
    float b1, b2, w1, w2, step, decay, ec2;
    int wd;
};

template <typename T>
__device__ __forceinline__ void mb_adam8_put(T *p, float *master, size_t i, float m, float v,
                                             mb_adam8_k_args a) {
    float pi = mb_ldw(p, master, i);
    pi = __fadd_rn(pi, __fmul_rn(a.step, __fdiv_rn(m, __fadd_rn(__fsqrt_rn(v), a.ec2))));
    if (a.wd) pi = __fmul_rn(pi, a.decay);
    if (master) master[i] = pi;
    mb_st(p + i, pi);
}

template <typename T>
__global__ void __launch_bounds__(MB_ADAM8_BLOCK)
    mb_adam8_k(T *p, const T *g, uint8_t *q1, uint8_t *q2, float *absmax1, float *absmax2,
               float *master, size_t n, const float *map1g, const float *map2g, mb_adam8_k_args a) {
    __shared__ float map1[256], map2[256], red1[MB_ADAM8_BLOCK / 32], red2[MB_ADAM8_BLOCK / 32];
    map1[threadIdx.x] = map1g[threadIdx.x];
    map2[threadIdx.x] = map2g[threadIdx.x];
    __syncthreads();
    const size_t b = blockIdx.x, i = b * MB_ADAM8_BLOCK + threadIdx.x;
    const bool in = i < n;
    float gi = in ? mb_ld(g + i) : 0.0f, m = 0.0f, v = 0.0f;
    const bool ok = in && isfinite(gi);
    if (ok) {
        v = __fmul_rn(map2[q2[i]], absmax2[b]);
        v = __fadd_rn(__fmul_rn(v, a.b2), __fmul_rn(__fmul_rn(a.w2, gi), gi));
        m = __fmul_rn(map1[q1[i]], absmax1[b]);
        m = __fadd_rn(__fmul_rn(m, a.b1), __fmul_rn(a.w1, gi));
    }
    /* the block's max |m| and |v| (the CPU's fmax fold from -FLT_MAX gives the same: all are >= 0)
     */
    float a1 = mb_warp_max(in ? fabsf(m) : 0.0f), a2 = mb_warp_max(in ? fabsf(v) : 0.0f);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
        red1[warp] = a1;
        red2[warp] = a2;
    }
    __syncthreads();
    a1 = red1[0];
    a2 = red2[0];
    for (int w = 1; w < MB_ADAM8_BLOCK / 32; w++) {
        a1 = fmaxf(a1, red1[w]);
        a2 = fmaxf(a2, red2[w]);
    }
    if (threadIdx.x == 0) {
        absmax1[b] = a1;
        absmax2[b] = a2;
    }
    if (!in) return;
    if (ok) mb_adam8_put(p, master, i, m, v, a);
    uint8_t c = mb_dynmap_code(map1, 1, __fdiv_rn(m, a1));
    if (signbit(map1[c]) != signbit(m)) c = (uint8_t)(m > 0 ? c + 1 : c - 1);
    q1[i] = c;
    q2[i] = mb_dynmap_code(map2, 0, __fdiv_rn(v, a2));
}

/* Tensors under the 8-bit size: fp32 m and v, the same expressions. */
template <typename T>
__global__ void mb_adam32_k(T *p, const T *g, float *m, float *v, float *master, size_t n,
                            mb_adam8_k_args a) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float gi = mb_ld(g + i);
        if (!isfinite(gi)) {
            m[i] = v[i] = 0.0f;
            continue;
        }
        float mi = __fadd_rn(__fmul_rn(m[i], a.b1), __fmul_rn(a.w1, gi));
        float vi = __fadd_rn(__fmul_rn(v[i], a.b2), __fmul_rn(__fmul_rn(a.w2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        mb_adam8_put(p, master, i, mi, vi, a);
    }
}

template <typename T>
static void mb_adam8bit(mb_ctx *ctx, void *p, const void *g, void *s1, void *s2, float *absmax1,
                        float *absmax2, void *master, size_t n, const float *map1,
                        const float *map2, double lr, double beta1, double beta2, double eps,
                        double wd, double c1, double c2) {
    if (mb_cuda_failed(ctx) || !n) return;
    /* the CPU fp32 kernel's scalars, rounded to float the same way */
    mb_adam8_k_args a;
    const float b1 = (float)beta1, b2 = (float)beta2, lrr = (float)lr;
    a.b1 = b1;
    a.b2 = b2;
    a.w1 = 1.0f - b1;
    a.w2 = 1.0f - b2;
    a.step = -lrr * (float)c2 / (float)c1;
    a.decay = 1.0f - lrr * (float)wd;
    a.ec2 = (float)eps * (float)c2;
    a.wd = wd > 0;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (absmax1) {
        size_t nb = (n + MB_ADAM8_BLOCK - 1) / MB_ADAM8_BLOCK;
        mb_adam8_k<T><<<(unsigned)nb, MB_ADAM8_BLOCK, 0, st>>>((T *)p, (const T *)g, (uint8_t *)s1,
                                                               (uint8_t *)s2, absmax1, absmax2,
                                                               (float *)master, n, map1, map2, a);
    } else {
        mb_adam32_k<T><<<mb_cuda_blocks(n, MB_OPT_THREADS), MB_OPT_THREADS, 0, st>>>(
            (T *)p, (const T *)g, (float *)s1, (float *)s2, (float *)master, n, a);
    }
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* APOLLO's update (see engine/backend.h). Scalars on the device: sc[0] the fp64 sum of |u|^2 parts
 * reduced, sc[1] the factor step * (front ? 1 : k) / lim * (front ? k : 1). */

/* s[c] = |N_c| / (|R_c| + 1e-8), one block per channel c (axis 1: row c; 0: column c; -1: all). */
__global__ void mb_apollo_scale_k(float *s, const float *R, const float *N, size_t rows,
                                  size_t cols, int axis) {
    const size_t c = blockIdx.x;
    const size_t len = axis == 1 ? cols : axis == 0 ? rows : rows * cols;
    const size_t at = axis == 1 ? c * cols : c, st = axis == 0 ? cols : 1;
    double nn = 0, rr = 0;
    for (size_t e = threadIdx.x; e < len; e += blockDim.x) {
        double a = N[at + e * st], b = R[at + e * st];
        nn += a * a;
        rr += b * b;
    }
    nn = mb_block_sum_d(nn);
    rr = mb_block_sum_d(rr);
    if (threadIdx.x == 0) s[c] = (float)(sqrt(nn) / (sqrt(rr) + 1e-8));
}

__device__ __forceinline__ double mb_apollo_s(const float *s, int axis, size_t i, size_t n) {
    return s[axis == 1 ? i / n : axis == 0 ? i % n : 0];
}

template <typename T>
__global__ void mb_apollo_sumsq_k(double *part, const T *g, const float *s, size_t mn, size_t n,
                                  int axis, double fk) {
    double a = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < mn;
         i += (size_t)gridDim.x * blockDim.x) {
        double u = (double)mb_ld(g + i) * mb_apollo_s(s, axis, i, n) * fk;
        a += u * u;
    }
    a = mb_block_sum_d(a);
    if (threadIdx.x == 0) part[blockIdx.x] = a;
}

/* The limiter, one block: q = lim_state (NULL: off). */
__global__ void mb_apollo_limit_k(double *sc, const double *part, float *q, double step,
                                  double back_k, double fk) {
    double a = 0;
    for (int i = threadIdx.x; i < MB_OPT_PARTS; i += blockDim.x) a += part[i];
    a = mb_block_sum_d(a);
    if (threadIdx.x != 0) return;
    double lim = 1.0;
    if (q) {
        double nrm = sqrt(a);
        if (*q >= 0) lim = fmax(nrm / ((double)*q + 1e-8), 1.01) / 1.01;
        *q = (float)(nrm / lim);
    }
    sc[1] = step * back_k / lim * fk;
}

template <typename T>
__global__ void mb_apollo_apply_k(T *p, float *master, const T *g, const float *s, const double *sc,
                                  size_t mn, size_t n, int axis, double decay) {
    const double f = sc[1];
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < mn;
         i += (size_t)gridDim.x * blockDim.x) {
        double w = mb_ldw(p, master, i);
        w = (w - f * ((double)mb_ld(g + i) * mb_apollo_s(s, axis, i, n))) * decay;
        if (master) master[i] = (float)w;
        mb_st(p + i, (float)w);
    }
}

template <typename T>
static void mb_apollo_update(mb_ctx *ctx, void *p, const void *g, void *master, const void *R,
                             const void *N, size_t m, size_t n, size_t rows, size_t cols, int axis,
                             int front, double k, void *lim_state, double step, double decay,
                             void *s_scratch) {
    if (mb_cuda_failed(ctx) || !m || !n) return;
    double *sc = (double *)mb_cuda_scratch(ctx, (2 + MB_OPT_PARTS) * sizeof(double));
    if (!sc) return;
    cudaStream_t st = mb_cuda_stream(ctx);
    float *s = (float *)s_scratch;
    const unsigned ns = (unsigned)(axis == 1 ? rows : axis == 0 ? cols : 1);
    const double fk = front ? k : 1.0, back_k = front ? 1.0 : k;
    mb_apollo_scale_k<<<ns, MB_OPT_THREADS, 0, st>>>(s, (const float *)R, (const float *)N, rows,
                                                     cols, axis);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_apollo_sumsq_k<T>
        <<<MB_OPT_PARTS, MB_OPT_THREADS, 0, st>>>(sc + 2, (const T *)g, s, m * n, n, axis, fk);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_apollo_limit_k<<<1, MB_OPT_THREADS, 0, st>>>(sc, sc + 2, (float *)lim_state, step, back_k,
                                                    fk);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_apollo_apply_k<T><<<mb_cuda_blocks(m * n, MB_OPT_THREADS), MB_OPT_THREADS, 0, st>>>(
        (T *)p, (float *)master, (const T *)g, s, sc, m * n, n, axis, decay);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
#define MB_OPT_WRAPPERS(sfx, T)                                                                    \
    extern "C" void mb_cuda_adam8bit_##sfx(                                                        \
        struct mb_ctx *ctx, void *p, const void *g, void *s1, void *s2, float *absmax1,            \
        float *absmax2, void *master, size_t n, const float *map1, const float *map2, double lr,   \
        double beta1, double beta2, double eps, double wd, double c1, double c2) {                 \
        mb_adam8bit<T>(ctx, p, g, s1, s2, absmax1, absmax2, master, n, map1, map2, lr, beta1,      \
                       beta2, eps, wd, c1, c2);                                                    \
    }                                                                                              \
    extern "C" void mb_cuda_apollo_update_##sfx(                                                   \
        struct mb_ctx *ctx, void *p, const void *g, void *master, const void *R, const void *N,    \
        size_t m, size_t n, size_t rows, size_t cols, int axis, int front, double k,               \
        void *lim_state, double step, double decay, void *s_scratch) {                             \
        mb_apollo_update<T>(ctx, p, g, master, R, N, m, n, rows, cols, axis, front, k, lim_state,  \
                            step, decay, s_scratch);                                               \
    }

MB_OPT_WRAPPERS(f32, float)
MB_OPT_WRAPPERS(bf16, __nv_bfloat16)
