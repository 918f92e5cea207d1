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

/* What a GEMM's epilogue adds to D = op(A) op(B) + beta * D: a bias[m] per row of the column-major
 * result; a separate input matrix cin (D = op(A) op(B) + cin, beta 1, same layout as D); GELU with
 * the pre-activation written to aux (GELU_AUX_BIAS), or D multiplied by gelu'(aux) (DGELU). */
struct lt_epi {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    const void *bias = nullptr;
    const void *cin = nullptr;
    const void *aux = nullptr;
    int ldaux = 0;
};

/* D[m,n] (column-major, ld ldd) = op(A) op(B) + beta * D (or + cin) through the epilogue e. A is
 * m x k after op, B is k x n after op. Returns 1 when the GEMM was queued; 0 when cuBLASLt has no
 * algorithm for it, which is an error unless `optional` (then nothing ran and the caller falls back
 * to unfused kernels). */
template <typename T>
int lt_gemm(mb_ctx *ctx, bool ta, bool tb, int m, int n, int k, const T *A, int lda, const T *B,
            int ldb, T *D, int ldd, float beta, const lt_epi &e, bool optional = false) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return 1;
    cublasComputeType_t ct = (d->tf32 && data_type<T>() == CUDA_R_32F)
                                 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                 : CUBLAS_COMPUTE_32F;
    cudaDataType_t dt = data_type<T>();
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    float alpha = 1.0f;
    if (e.cin) beta = 1.0f;
    size_t ws = d->workspace.bytes;
    cublasLtEpilogue_t epi = e.epi;
    if (epi == CUBLASLT_EPILOGUE_DEFAULT && e.bias) epi = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulHeuristicResult_t h;
    int found = 0, ran = 1;
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
    if (e.bias) {
        cudaDataType_t bt = dt;
        if (MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(
                                  op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt)) ||
            MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                             &e.bias, sizeof e.bias)))
            goto out;
    }
    if (e.aux) {
        int64_t lda64 = e.ldaux;
        if (MB_CUBLAS_OK(
                ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
                                                    &e.aux, sizeof e.aux)) ||
            MB_CUBLAS_OK(ctx, cublasLtMatmulDescSetAttribute(
                                  op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &lda64, sizeof lda64)))
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
        key.epi = (int)epi;
        key.accumulate = beta != 0.0f;
        key.cin = e.cin != nullptr;
        key.ldaux = e.ldaux;
        key.dtype = (int)dt;
        int slot = -1;
        for (int i = 0; i < MB_LT_CACHE && slot < 0; i++) {
            mb_lt_algo *c = &d->lt_cache[i];
            if (!c->used)
                slot = i;
            else if (!memcmp(&c->ta, &key.ta,
                             offsetof(mb_lt_algo, none) - offsetof(mb_lt_algo, ta))) {
                if (c->none) {
                    ran = 0;
                    goto out;
                }
                h.algo = c->algo;
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
            /* an epilogue cuBLASLt cannot run here is reported as "not supported", not as zero
             * algorithms: both mean no algorithm */
            cublasStatus_t hs =
                cublasLtMatmulAlgoGetHeuristic(d->lt, op, la, lb, ld, ld, pref, 1, &h, &found);
            if (hs == CUBLAS_STATUS_NOT_SUPPORTED && optional)
                found = 0;
            else if (MB_CUBLAS_OK(ctx, hs))
                goto out;
            if (!found) {
                if (slot >= 0) {
                    key.none = 1;
                    d->lt_cache[slot] = key;
                }
                ran = 0;
                if (!optional)
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
    MB_CUBLAS_OK(ctx, cublasLtMatmul(d->lt, op, &alpha, A, la, B, lb, &beta, e.cin ? e.cin : D, ld,
                                     D, ld, &h.algo, d->workspace.ptr, ws, d->stream));
out:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return ran;
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
        lt_epi e0, e1;
        e0.bias = bias;
        e1.bias = bias ? bias + m1 : nullptr;
        lt_gemm<T>(ctx, true, false, m1, n, C, W, C, X, C, Y, ldo, 0.0f, e0);
        if (m1 < OC) /* the last OC - m1 output channels */
            lt_gemm<T>(ctx, true, false, OC - m1, n, C, W + (size_t)m1 * C, C, X, C, Y + m1, ldo,
                       0.0f, e1);
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
            lt_gemm<T>(ctx, false, false, C, n, k1, W, C, D, ldo, DI, C, 0.0f, lt_epi());
            if (k1 < OC)
                lt_gemm<T>(ctx, false, false, C, n, OC - k1, W + (size_t)k1 * C, C, D + k1, ldo, DI,
                           C, 1.0f, lt_epi());
        }
        /* dW[OC,C] += dout^T inp: column-major dW is C x OC = inp (C x N) times op_T(dout, stored
         * OC x N); row blocks add in order; OC split as above (GPT-2's head: 50,257 rows of dW
         * took 1.25 ms in an sm80 CUTLASS kernel as one GEMM) */
        if (dw) {
            const int n1 = mb_split8(OC);
            lt_gemm<T>(ctx, false, true, C, n1, n, X, C, D, ldo, (T *)dw, C, 1.0f, lt_epi());
            if (n1 < OC)
                lt_gemm<T>(ctx, false, true, C, OC - n1, n, X, C, D + n1, ldo,
                           (T *)dw + (size_t)n1 * C, C, 1.0f, lt_epi());
        }
    }
}

/* One GEMM covers the layer: no split of m or k into a multiple of 8 and a remainder (an epilogue
 * cannot see the remainder's share) and no row blocks. */
static inline bool one_gemm(int N, int C, int OC) {
    return OC % 8 == 0 && C % 8 == 0 && N <= mb_rows_per_call(OC > C ? OC : C);
}

/* out = inp W^T + b + res: res enters as the epilogue's C matrix (beta 1), so the sum is rounded
 * once and the residual kernel's pass over three tensors goes. */
template <typename T>
void matmul_fwd_res(mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b,
                    const void *res, int N, int C, int OC) {
    if (one_gemm(N, C, OC)) {
        lt_epi e;
        e.bias = b;
        e.cin = res;
        if (lt_gemm<T>(ctx, true, false, OC, N, C, (const T *)w, C, (const T *)inp, C, (T *)out, OC,
                       1.0f, e, true))
            return;
    }
    mb_seq_matmul_fwd_res(ctx, out, inp, w, b, res, N, C, OC);
}

/* cuBLASLt's GELU epilogues run where the storage is bf16 only: measured on the H100, their GELU
 * gradient is within about 1.3e-5 of fp64 (our kernel's 3e-7), far below bf16's rounding but above
 * the fp32 tables' 1e-5. */
template <typename T> constexpr bool gelu_epilogue() {
    return sizeof(T) == 2;
}

/* pre = inp W^T + b and out = gelu(pre) from one GEMM (GELU_AUX_BIAS: cuBLASLt's GELU is the tanh
 * form, applied to the fp32 sum before rounding). */
template <typename T>
void matmul_fwd_gelu(mb_ctx *ctx, void *out, void *pre, const void *inp, const void *w,
                     const void *b, int N, int C, int OC) {
    if (gelu_epilogue<T>() && one_gemm(N, C, OC)) {
        lt_epi e;
        e.epi = b ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
        e.bias = b;
        e.aux = pre;
        e.ldaux = OC;
        if (lt_gemm<T>(ctx, true, false, OC, N, C, (const T *)w, C, (const T *)inp, C, (T *)out, OC,
                       0.0f, e, true))
            return;
    }
    mb_seq_matmul_fwd_gelu(ctx, out, pre, inp, w, b, N, C, OC);
}

/* matmul_bwd with dinp = (dout W) * gelu'(pre): the input-gradient GEMM's DGELU epilogue reads pre
 * and scales the fp32 product before it is rounded. */
template <typename T>
void matmul_bwd_dgelu(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                      const void *inp, const void *w, const void *pre, int N, int C, int OC) {
    if (gelu_epilogue<T>() && one_gemm(N, C, OC)) {
        lt_epi e;
        e.epi = CUBLASLT_EPILOGUE_DGELU;
        e.aux = pre;
        e.ldaux = C;
        if (lt_gemm<T>(ctx, false, false, C, N, OC, (const T *)w, C, (const T *)dout, OC, (T *)dinp,
                       C, 0.0f, e, true)) { /* the weight and bias gradients as matmul_bwd's */
            ctx->be->matmul_bwd(ctx, NULL, dw, db, dout, inp, w, N, C, OC, OC);
            return;
        }
    }
    mb_seq_matmul_bwd_dgelu(ctx, dinp, dw, db, dout, inp, w, pre, N, C, OC);
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

#define MB_FUSED_WRAPPERS(sfx, T)                                                                  \
    void mb_cuda_matmul_fwd_res_##sfx(mb_ctx *ctx, void *out, const void *inp, const void *w,      \
                                      const void *b, const void *res, int N, int C, int OC) {      \
        matmul_fwd_res<T>(ctx, out, inp, w, b, res, N, C, OC);                                     \
    }                                                                                              \
    void mb_cuda_matmul_fwd_gelu_##sfx(mb_ctx *ctx, void *out, void *pre, const void *inp,         \
                                       const void *w, const void *b, int N, int C, int OC) {       \
        matmul_fwd_gelu<T>(ctx, out, pre, inp, w, b, N, C, OC);                                    \
    }                                                                                              \
    void mb_cuda_matmul_bwd_dgelu_##sfx(mb_ctx *ctx, void *dinp, void *dw, void *db,               \
                                        const void *dout, const void *inp, const void *w,          \
                                        const void *pre, int N, int C, int OC) {                   \
        matmul_bwd_dgelu<T>(ctx, dinp, dw, db, dout, inp, w, pre, N, C, OC);                       \
    }
MB_FUSED_WRAPPERS(f32, float)
MB_FUSED_WRAPPERS(bf16, __nv_bfloat16)
}
