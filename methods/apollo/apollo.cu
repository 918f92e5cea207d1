/* methods/apollo/apollo.cu — APOLLO's scaled update on CUDA (channel norms, norm-growth limiter),
 * templated over the storage type (float, bf16) with fp32 state: the cuda-f32 (also cuda-tf32's)
 * and cuda-bf16 tables. Sums run in fp64 in a fixed order (no atomics); scalars stay on the device
 * (no host sync). */
#include <math.h>
#include <stdint.h>

#include "../../engine/cuda/cuda_common.h"
#include "apollo_kernels.h"

#define MB_OPT_THREADS MB_SUM_THREADS /* mb_block_sum_d's block */
#define MB_OPT_PARTS                                                                               \
    256 /* partial sums of a whole-tensor reduction: a constant, so a fixed order */

/* APOLLO's update (see apollo_kernels.h). Scalars on the device: sc[0] the fp64 sum of |u|^2 parts
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

extern "C" {
const mb_apollo_kernels mb_apollo_cuda_f32 = {.apollo_update = mb_apollo_update<float>};
const mb_apollo_kernels mb_apollo_cuda_bf16 = {.apollo_update = mb_apollo_update<__nv_bfloat16>};
}
