/* methods/adam_mini/adam_mini.cu — Adam-mini on CUDA (one second moment per block), templated over
 * the storage type (float, bf16) with fp32 state: the cuda-f32 (also cuda-tf32's) and cuda-bf16
 * tables. Sums run in fp64 in a fixed order (no atomics). */
#include <math.h>
#include <stdint.h>

#include "../../engine/cuda/cuda_common.h"
#include "adam_mini_kernels.h"

#define MB_OPT_THREADS MB_SUM_THREADS /* mb_block_sum_d's block */

/* Adam-mini's element update with its block's denominator (the CPU fp32 expressions, explicitly
 * rounded). */
template <typename T>
__device__ __forceinline__ void mb_mini_elem(T *p, const T *g, float *m, float *master, size_t i,
                                             float denom, float decay, float w1, float step) {
    float pi = __fmul_rn(mb_ldw(p, master, i), decay);
    float mi = m[i];
    mi = __fadd_rn(mi, __fmul_rn(w1, __fsub_rn(mb_ld(g + i), mi)));
    pi = __fsub_rn(pi, __fmul_rn(step, __fdiv_rn(mi, denom)));
    m[i] = mi;
    if (master) master[i] = pi;
    mb_st(p + i, pi);
}

/* Adam-mini: one CUDA block per parameter block k: v[k] from the fp64 mean of g^2 over the block,
 * then the AdamW-shaped element update with v[k] (the CPU fp32 expressions, explicitly rounded). */
template <typename T>
__global__ void mb_adam_mini_k(T *p, const T *g, float *m, float *v, float *master, size_t block,
                               double beta2, float decay, float w1, float step, float bc2s,
                               float e) {
    const size_t k = blockIdx.x, i0 = k * block;
    double a = 0;
    for (size_t i = threadIdx.x; i < block; i += blockDim.x) {
        double x = mb_ld(g + i0 + i);
        a += x * x;
    }
    a = mb_block_sum_d(a);
    __shared__ float vk;
    if (threadIdx.x == 0) {
        vk = (float)(beta2 * v[k] + (1.0 - beta2) * (a / (double)block));
        v[k] = vk;
    }
    __syncthreads();
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vk), bc2s), e);
    for (size_t i = i0 + threadIdx.x; i < i0 + block; i += blockDim.x) {
        mb_mini_elem(p, g, m, master, i, denom, decay, w1, step);
    }
}

/* Large blocks (wpe's 786,432 elements are one block, a query head 49,152) would leave one CUDA
 * block alone on the device: there the sum of squares runs in parts of MB_MINI_PART elements (stage
 * 1, many CUDA blocks), each block's parts are added in order with the v update (stage 2), and the
 * element update is a grid-stride pass (stage 3). */
#define MB_MINI_PART 4096
#define MB_MINI_SPLIT 16384 /* blocks at least this large take the three-stage path */

template <typename T>
__global__ void mb_mini_part_k(double *part, const T *g, size_t block, size_t parts) {
    const size_t k = blockIdx.x / parts, j = blockIdx.x % parts;
    const size_t i0 = k * block + j * MB_MINI_PART;
    const size_t end =
        j * MB_MINI_PART + MB_MINI_PART < block ? i0 + MB_MINI_PART : k * block + block;
    double a = 0;
    for (size_t i = i0 + threadIdx.x; i < end; i += blockDim.x) {
        double x = mb_ld(g + i);
        a += x * x;
    }
    a = mb_block_sum_d(a);
    if (threadIdx.x == 0) part[blockIdx.x] = a;
}

__global__ void mb_mini_v_k(float *v, const double *part, size_t nb, size_t block, size_t parts,
                            double beta2) {
    size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= nb) return;
    double a = 0;
    for (size_t j = 0; j < parts; j++) a += part[k * parts + j];
    v[k] = (float)(beta2 * v[k] + (1.0 - beta2) * (a / (double)block));
}

template <typename T>
__global__ void mb_mini_apply_k(T *p, const T *g, float *m, const float *v, float *master, size_t n,
                                size_t block, float decay, float w1, float step, float bc2s,
                                float e) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v[i / block]), bc2s), e);
        mb_mini_elem(p, g, m, master, i, denom, decay, w1, step);
    }
}

template <typename T>
static void mb_adam_mini(mb_ctx *ctx, void *p, const void *g, void *m, void *v, void *master,
                         size_t n, size_t block, double lr, double beta1, double beta2, double eps,
                         double wd, double bc1, double bc2) {
    if (mb_cuda_failed(ctx)) return;
    if (!n || !block) return;
    const size_t nb = n / block;
    const float decay = (float)(1.0 - lr * wd), w1 = (float)(1.0 - beta1), step = (float)(lr / bc1),
                bc2s = (float)sqrt(bc2), e = (float)eps;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (block < MB_MINI_SPLIT) {
        mb_adam_mini_k<T><<<(unsigned)nb, MB_OPT_THREADS, 0, st>>>(
            (T *)p, (const T *)g, (float *)m, (float *)v, (float *)master, block, beta2, decay, w1,
            step, bc2s, e);
        MB_CUDA_LAUNCHED(ctx);
        return;
    }
    const size_t parts = (block + MB_MINI_PART - 1) / MB_MINI_PART;
    double *part = (double *)mb_cuda_scratch(ctx, nb * parts * sizeof(double));
    if (!part) return;
    mb_mini_part_k<T>
        <<<(unsigned)(nb * parts), MB_OPT_THREADS, 0, st>>>(part, (const T *)g, block, parts);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_mini_v_k<<<(unsigned)((nb + MB_OPT_THREADS - 1) / MB_OPT_THREADS), MB_OPT_THREADS, 0, st>>>(
        (float *)v, part, nb, block, parts, beta2);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_mini_apply_k<T><<<mb_cuda_blocks(n, MB_OPT_THREADS), MB_OPT_THREADS, 0, st>>>(
        (T *)p, (const T *)g, (float *)m, (const float *)v, (float *)master, n, block, decay, w1,
        step, bc2s, e);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_adam_mini_kernels mb_adam_mini_cuda_f32 = {.adam_mini = mb_adam_mini<float>};
const mb_adam_mini_kernels mb_adam_mini_cuda_bf16 = {.adam_mini = mb_adam_mini<__nv_bfloat16>};
}
