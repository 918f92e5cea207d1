/* engine/cuda/matmul.cu — linear layers through cuBLASLt: forward with the bias fused as an
 * epilogue, backward as two GEMMs (dinp, dW accumulated with beta = 1) and a deterministic bias
 * reduction. Row-major [rows, cols] buffers are read by cuBLAS (column-major) as their transposes.
 */
#include <stddef.h>
#include <string.h>

#include "cuda_common.h"
#include "kernels.h"

namespace {

template <typename T> constexpr cudaDataType_t data_type();
template <> constexpr cudaDataType_t data_type<float>() {
    return CUDA_R_32F;
}
template <> constexpr cudaDataType_t data_type<__nv_bfloat16>() {
    return CUDA_R_16BF;
}

/* D[m,n] (column-major, ld ldd) = alpha * op(A) op(B) + beta * D, optional bias[m] added per row of
 * the column-major result. A is m x k after op, B is k x n after op. */
template <typename T>
void lt_gemm(mb_ctx *ctx, bool ta, bool tb, int m, int n, int k, const T *A, int lda, const T *B,
             int ldb, T *D, int ldd, float beta, const T *bias) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return;
    cublasComputeType_t ct = (d->tf32 && data_type<T>() == CUDA_R_32F)
                                 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                 : CUBLAS_COMPUTE_32F;
    cudaDataType_t dt = data_type<T>();
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    float alpha = 1.0f;
    size_t ws = d->workspace.bytes;
    cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    if (MB_CUBLAS_OK(ctx, cublasLtMatmulDescCreate(&op, ct, CUDA_R_32F))) goto out;
    if (MB_CUBLAS_OK(
            ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa)))
        goto out;
    if (MB_CUBLAS_OK(
            ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb)))
        goto out;
    if (MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                         sizeof epi)))
        goto out;
    if (bias) {
        cudaDataType_t bt = dt;
        if (MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(
                                  op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt)) ||
            MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                             &bias, sizeof bias)))
            goto out;
    }
    if (MB_CUBLAS_OK(ctx, cublasLtMatrixLayoutCreate(&la, dt, ta ? k : m, ta ? m : k, lda)) ||
        MB_CUBLAS_OK(ctx, cublasLtMatrixLayoutCreate(&lb, dt, tb ? n : k, tb ? k : n, ldb)) ||
        MB_CUBLAS_OK(ctx, cublasLtMatrixLayoutCreate(&ld, dt, m, n, ldd)))
        goto out;
    {
        mb_lt_algo key;
        memset(&key, 0, sizeof key);
        key.used = 1;
        key.ta = ta;
        key.tb = tb;
        key.m = m;
        key.n = n;
        key.k = k;
        key.lda = lda;
        key.ldb = ldb;
        key.ldd = ldd;
        key.bias = bias != NULL;
        key.accumulate = beta != 0.0f;
        key.dtype = (int)dt;
        int slot = -1;
        for (int i = 0; i < MB_LT_CACHE && slot < 0; i++) {
            mb_lt_algo *e = &d->lt_cache[i];
            if (!e->used)
                slot = i;
            else if (!memcmp(&e->ta, &key.ta,
                             offsetof(mb_lt_algo, algo) - offsetof(mb_lt_algo, ta))) {
                h.algo = e->algo;
                found = 1;
                break;
            }
        }
        if (!found) {
            if (MB_CUBLAS_OK(ctx, cublasLtMatmulPreferenceCreate(&pref)) ||
                MB_CUBLAS_OK(ctx,
                             cublasLtMatmulPreferenceSetAttribute(
                                 pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)))
                goto out;
            if (MB_CUBLAS_OK(ctx, cublasLtMatmulAlgoGetHeuristic(d->lt, op, la, lb, ld, ld, pref, 1,
                                                                 &h, &found)))
                goto out;
            if (!found) {
                mb_cuda_fail(ctx, MB_EDEVICE, __FILE__, __LINE__,
                             "cuBLASLt has no algorithm for a %dx%dx%d %s GEMM", m, n, k,
                             dt == CUDA_R_16BF ? "bf16" : "fp32");
                goto out;
            }
            if (slot >= 0) { /* a full cache keeps working, only slower */
                key.algo = h.algo;
                d->lt_cache[slot] = key;
            }
        }
    }
    MB_CUBLAS_OK(ctx, cublasLtMatmul(d->lt, op, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &h.algo,
                                     d->workspace.ptr, ws, d->stream));
out:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
}

/* cuBLASLt runs a GEMM whose m or k is not a multiple of 8 on a much slower path (GPT-2's
 * vocabulary of 50257: the LM head took 6.5 ms instead of 0.8 on an H100), so such a dimension is
 * split into its largest multiple of 8 and a small remainder GEMM. */
static inline int mb_split8(int x) {
    return x > 8 ? x / 8 * 8 : x;
}

/* Rows of dout/out per GEMM call: a call's matrices stay under 2^31 elements. Seen on the H100: a
 * bf16 LM head at 64 x 1024 tokens (65,536 rows of 50,304 logits, 3.3e9 elements) ended in an
 * illegal address inside cuBLASLt; 35 x 1024 rows (1.8e9) ran. Below the bound nothing is split. */
static inline int mb_rows_per_call(int ld) {
    long long r = 2147483647LL / (ld > 0 ? ld : 1);
    return r < 1 ? 1 : (int)r;
}

/* out[N,OC] = inp[N,C] W[OC,C]^T + b. Column-major, out is OC x N = op_T(W, stored C x OC) times
 * inp (stored C x N); the bias runs along the OC rows. */
template <typename T>
void matmul_fwd(mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b, int N, int C,
                int OC, int ldo) {
    const T *W = (const T *)w, *bias = (const T *)b;
    const int m1 = mb_split8(OC), R = mb_rows_per_call(ldo > C ? ldo : C);
    for (int r0 = 0; r0 < N; r0 += R) {
        const int n = N - r0 < R ? N - r0 : R;
        const T *X = (const T *)inp + (size_t)r0 * C;
        T *Y = (T *)out + (size_t)r0 * ldo;
        lt_gemm<T>(ctx, true, false, m1, n, C, W, C, X, C, Y, ldo, 0.0f, bias);
        if (m1 < OC) /* the last OC - m1 output channels */
            lt_gemm<T>(ctx, true, false, OC - m1, n, C, W + (size_t)m1 * C, C, X, C, Y + m1, ldo,
                       0.0f, bias ? bias + m1 : (const T *)NULL);
    }
}

template <typename T>
void matmul_bwd(mb_ctx *ctx, void *dinp, void *dw, const void *dout, const void *inp, const void *w,
                int N, int C, int OC, int ldo) {
    const T *W = (const T *)w;
    const int R = mb_rows_per_call(ldo > C ? ldo : C);
    for (int r0 = 0; r0 < N; r0 += R) {
        const int n = N - r0 < R ? N - r0 : R;
        const T *D = (const T *)dout + (size_t)r0 * ldo, *X = (const T *)inp + (size_t)r0 * C;
        /* dinp[N,C] = dout[N,OC] W[OC,C]: column-major dinp^T (C x N) = W (C x OC) dout^T
         * (OC x N); the sum over OC is split as above, the remainder accumulated (beta 1) */
        if (dinp) {
            T *DI = (T *)dinp + (size_t)r0 * C;
            const int k1 = mb_split8(OC);
            lt_gemm<T>(ctx, false, false, C, n, k1, W, C, D, ldo, DI, C, 0.0f, (const T *)NULL);
            if (k1 < OC)
                lt_gemm<T>(ctx, false, false, C, n, OC - k1, W + (size_t)k1 * C, C, D + k1, ldo, DI,
                           C, 1.0f, (const T *)NULL);
        }
        /* dW[OC,C] += dout^T inp: column-major dW is C x OC = inp (C x N) times op_T(dout, stored
         * OC x N); row blocks add in order */
        if (dw)
            lt_gemm<T>(ctx, false, true, C, OC, n, X, C, D, ldo, (T *)dw, C, 1.0f, (const T *)NULL);
    }
}

} // namespace

extern "C" {
void mb_cuda_matmul_fwd_f32(mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b,
                            int N, int C, int OC, int ldo) {
    matmul_fwd<float>(ctx, out, inp, w, b, N, C, OC, ldo);
}
void mb_cuda_matmul_fwd_bf16(mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b,
                             int N, int C, int OC, int ldo) {
    matmul_fwd<__nv_bfloat16>(ctx, out, inp, w, b, N, C, OC, ldo);
}
void mb_cuda_matmul_bwd_f32(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                            const void *inp, const void *w, int N, int C, int OC, int ldo) {
    matmul_bwd<float>(ctx, dinp, dw, dout, inp, w, N, C, OC, ldo);
    if (db) mb_cuda_bias_grad_f32(ctx, db, dout, N, OC, ldo);
}
/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T; cublasGemmEx with fp32
 * accumulation (TF32 on cuda-tf32) and scalars. */
static void gemm_ex(mb_ctx *ctx, cudaDataType_t dt, int ta, int tb, int M, int N, int K,
                    double alpha, const void *A, int lda, const void *B, int ldb, double beta,
                    void *C, int ldc) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK || !M || !N) return;
    const float a = (float)alpha, b = (float)beta;
    cublasComputeType_t ct =
        (d->tf32 && dt == CUDA_R_32F) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    MB_CUBLAS_OK(ctx, cublasGemmEx(d->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &a, B, dt, ldb, A, dt,
                                   lda, &b, C, dt, ldc, ct, CUBLAS_GEMM_DEFAULT));
}
void mb_cuda_gemm_f32(mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha, const void *A,
                      int lda, const void *B, int ldb, double beta, void *C, int ldc) {
    gemm_ex(ctx, CUDA_R_32F, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void mb_cuda_gemm_bf16(mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                       const void *A, int lda, const void *B, int ldb, double beta, void *C,
                       int ldc) {
    gemm_ex(ctx, CUDA_R_16BF, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void mb_cuda_matmul_bwd_bf16(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                             const void *inp, const void *w, int N, int C, int OC, int ldo) {
    matmul_bwd<__nv_bfloat16>(ctx, dinp, dw, dout, inp, w, N, C, OC, ldo);
    if (db) mb_cuda_bias_grad_bf16(ctx, db, dout, N, OC, ldo);
}
}
