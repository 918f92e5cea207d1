/* methods/cce/cce.cu — Cut Cross-Entropy's per-chunk kernels on CUDA: one warp per row, an online
 * log-sum-exp over the chunk's logits in fp32, and the chunk's logit gradient in place; the
 * cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. */
#include <math.h>

#include "../../engine/cuda/cuda_common.h"
#include "cce_kernels.h"

#define MB_CCE_WARPS 8 /* rows per CUDA block */

/* (m, s) pairs combine as m' = max(m1, m2), s = s1 exp(m1 - m') + s2 exp(m2 - m'); an empty side
 * (m = -inf) adds nothing. */
__device__ __forceinline__ void mb_lse_merge(float &m, float &s, float m2, float s2) {
    float nm = fmaxf(m, m2);
    if (nm == -INFINITY) return;
    s = (m == -INFINITY ? 0.0f : s * expf(m - nm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - nm));
    m = nm;
}

template <typename T>
__global__ void mb_cce_lse_k(const T *__restrict__ z, int N, int n, int ldz, int v0,
                             const int32_t *__restrict__ targets, float *mx, float *sum,
                             float *losses, int first) {
    int row = blockIdx.x * MB_CCE_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const T *r = z + (size_t)row * ldz;
    float m = -INFINITY, s = 0.0f;
    for (int j = lane; j < n; j += 32) {
        float x = mb_ld(r + j);
        if (x > m) {
            s = (m == -INFINITY ? 0.0f : s * expf(m - x)) + 1.0f;
            m = x;
        } else {
            s += expf(x - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        mb_lse_merge(m, s, m2, s2);
    }
    if (lane) return;
    float pm = first ? -INFINITY : mx[row], ps = first ? 0.0f : sum[row];
    mb_lse_merge(pm, ps, m, s);
    mx[row] = pm;
    sum[row] = ps;
    int t = targets[row] - v0;
    if (t >= 0 && t < n) losses[row] = mb_ld(r + t);
}

__global__ void mb_cce_end_k(float *mx, const float *sum, float *losses, const int32_t *targets,
                             int N) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float lse = mx[i] + logf(sum[i]);
    mx[i] = lse;
    losses[i] = targets[i] >= 0 ? lse - losses[i] : 0.0f;
}

template <typename T>
__global__ void mb_cce_grad_k(T *z, int N, int n, int ldz, int v0,
                              const int32_t *__restrict__ targets, const float *__restrict__ lse,
                              float scale) {
    int row = blockIdx.x * MB_CCE_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    T *r = z + (size_t)row * ldz;
    int t = targets[row];
    float l = lse[row];
    for (int j = lane; j < n; j += 32) {
        float g = t < 0 ? 0.0f : (expf(mb_ld(r + j) - l) - (v0 + j == t ? 1.0f : 0.0f)) * scale;
        mb_st(r + j, g);
    }
}

template <typename T>
static void mb_cce_lse(mb_ctx *ctx, const void *z, int N, int n, int ldz, int v0,
                       const int32_t *targets, void *mx, void *sum, void *losses, int first) {
    if (mb_cuda_failed(ctx) || N <= 0) return;
    mb_cce_lse_k<T>
        <<<(N + MB_CCE_WARPS - 1) / MB_CCE_WARPS, 32 * MB_CCE_WARPS, 0, mb_cuda_stream(ctx)>>>(
            (const T *)z, N, n, ldz, v0, targets, (float *)mx, (float *)sum, (float *)losses,
            first);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_cce_grad(mb_ctx *ctx, void *z, int N, int n, int ldz, int v0, const int32_t *targets,
                        const void *lse, double scale) {
    if (mb_cuda_failed(ctx) || N <= 0) return;
    mb_cce_grad_k<T>
        <<<(N + MB_CCE_WARPS - 1) / MB_CCE_WARPS, 32 * MB_CCE_WARPS, 0, mb_cuda_stream(ctx)>>>(
            (T *)z, N, n, ldz, v0, targets, (const float *)lse, (float)scale);
    MB_CUDA_LAUNCHED(ctx);
}

static void mb_cce_lse_end(mb_ctx *ctx, void *mx, const void *sum, void *losses,
                           const int32_t *targets, int N) {
    if (mb_cuda_failed(ctx) || N <= 0) return;
    mb_cce_end_k<<<(N + 255) / 256, 256, 0, mb_cuda_stream(ctx)>>>((float *)mx, (const float *)sum,
                                                                   (float *)losses, targets, N);
    MB_CUDA_LAUNCHED(ctx);
}

#define MB_CCE_TABLE(T)                                                                            \
    {                                                                                              \
        .cce_lse_chunk = mb_cce_lse<T>, .cce_lse_end = mb_cce_lse_end,                             \
        .cce_grad_chunk = mb_cce_grad<T>,                                                          \
    }
extern "C" {
const mb_cce_kernels mb_cce_cuda_f32 = MB_CCE_TABLE(float);
const mb_cce_kernels mb_cce_cuda_bf16 = MB_CCE_TABLE(__nv_bfloat16);
}
