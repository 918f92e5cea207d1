/* methods/projection/projection.cu — the Adam direction GaLore and APOLLO share, on CUDA (fp32
 * state on every table): the cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. */
#include <math.h>

#include "../../engine/cuda/cuda_common.h"
#include "projection_kernels.h"

#define MB_PROJ_THREADS 256

__global__ void mb_adam_dir_k(const float *x, float *out, float *m, float *v, size_t n, float b1,
                              float b2, float w1, float w2, float e) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float xi = x[i], mi = b1 * m[i] + w1 * xi, vi = b2 * v[i] + w2 * xi * xi;
        m[i] = mi;
        v[i] = vi;
        out[i] = mi / (sqrtf(vi) + e);
    }
}

static void mb_adam_dir(mb_ctx *ctx, const void *x, void *out, void *m, void *v, size_t n,
                        double b1, double b2, double eps) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_adam_dir_k<<<mb_cuda_blocks(n, MB_PROJ_THREADS), MB_PROJ_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (const float *)x, (float *)out, (float *)m, (float *)v, n, (float)b1, (float)b2,
        (float)(1.0 - b1), (float)(1.0 - b2), (float)eps);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_projection_kernels mb_projection_cuda_f32 = {.adam_dir = mb_adam_dir};
const mb_projection_kernels mb_projection_cuda_bf16 = {.adam_dir = mb_adam_dir};
}
