/* engine/cuda/kernels_prim.cu — generic primitives on CUDA: the sdtype (fp32) GEMM through cuBLAS
 * (pedantic fp32, no TF32) and axpy_decay. */
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

#define MB_PRIM_THREADS 256

extern "C" void mb_cuda_gemm_s(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K,
                               double alpha, const void *A, int lda, const void *B, int ldb,
                               double beta, void *C, int ldc) {
    if (mb_cuda_failed(ctx) || !M || !N) return;
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    const float a = (float)alpha, b = (float)beta;
    MB_CUBLAS_OK(ctx, cublasGemmEx(mb_cuda_of(ctx)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &a, B, CUDA_R_32F, ldb,
                                   A, CUDA_R_32F, lda, &b, C, CUDA_R_32F, ldc,
                                   CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

template <typename T>
__global__ void mb_axpy_decay_k(T *p, float *master, const float *d, size_t n, float a, float dc) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float w = mb_ldw(p, master, i);
        w = (d ? w + a * d[i] : w) * dc;
        if (master) master[i] = w;
        mb_st(p + i, w);
    }
}

template <typename T>
static void mb_axpy_decay(mb_ctx *ctx, void *p, void *master, const void *d, size_t n, double alpha,
                          double decay) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_axpy_decay_k<T>
        <<<mb_cuda_blocks(n, MB_PRIM_THREADS), MB_PRIM_THREADS, 0, mb_cuda_stream(ctx)>>>(
            (T *)p, (float *)master, (const float *)d, n, (float)alpha, (float)decay);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" void mb_cuda_axpy_decay_f32(struct mb_ctx *ctx, void *p, void *master, const void *d,
                                       size_t n, double alpha, double decay) {
    mb_axpy_decay<float>(ctx, p, master, d, n, alpha, decay);
}
extern "C" void mb_cuda_axpy_decay_bf16(struct mb_ctx *ctx, void *p, void *master, const void *d,
                                        size_t n, double alpha, double decay) {
    mb_axpy_decay<__nv_bfloat16>(ctx, p, master, d, n, alpha, decay);
}
