/* methods/adam8bit/adam8bit.cu — 8-bit Adam on CUDA (block absmax, codes by dynmap.h), templated
 * over the storage type (float, bf16): the cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. */
#include <math.h>
#include <stdint.h>

#include "../../engine/cuda/cuda_common.h"
#include "../../engine/dynmap.h"
#include "adam8bit_kernels.h"

#define MB_OPT_THREADS 256

/* 8-bit Adam (see adam8bit_kernels.h): one CUDA block of MB_ADAM8_BLOCK threads per quantization
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

extern "C" {
const mb_adam8bit_kernels mb_adam8bit_cuda_f32 = {.adam8bit = mb_adam8bit<float>};
const mb_adam8bit_kernels mb_adam8bit_cuda_bf16 = {.adam8bit = mb_adam8bit<__nv_bfloat16>};
}
