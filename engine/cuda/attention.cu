/* engine/cuda/attention.cu — causal multi-head attention on the GPU: cuBLAS strided-batched GEMMs
 * straight on the q|k|v columns of qkv (one batch of NH heads per sequence, no permute copies) and
 * row-wise softmax kernels in float. Deterministic: no atomics. */
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

template <typename T> struct mb_att_type;
template <> struct mb_att_type<float> {
    static constexpr cudaDataType_t v = CUDA_R_32F;
};
template <> struct mb_att_type<__nv_bfloat16> {
    static constexpr cudaDataType_t v = CUDA_R_16BF;
};

__device__ __forceinline__ float mb_att_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float mb_att_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* A 16-byte (or one-element) pack for vectorised loads and stores. */
template <typename T, int V> struct alignas(sizeof(T) * V) mb_att_pk {
    T v[V];
};

#define MB_ATT_THREADS 256 /* 8 rows (one a warp) per block */

/* Causal softmax in place, one warp per row of att[rows, Tn] in packs of V elements (Tn % V == 0);
 * row r is query t = r % Tn: columns 0..t become the probabilities of the (already scaled)
 * scores, columns above t exact zeros. */
template <typename T, int V> __global__ void mb_att_softmax_k(T *att, int Tn, size_t rows) {
    typedef mb_att_pk<T, V> P;
    size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const int t = (int)(r % (size_t)Tn), np = Tn / V, nlow = t / V + 1; /* packs holding 0..t */
    P *a = (P *)(att + r * (size_t)Tn);
    float mx = -INFINITY;
    for (int p = lane; p < nlow; p += 32) {
        P pk = a[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) mx = fmaxf(mx, mb_ld(&pk.v[k]));
    }
    mx = mb_att_warp_max(mx);
    float s = 0.0f;
    for (int p = lane; p < nlow; p += 32) {
        P pk = a[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) s += expf(mb_ld(&pk.v[k]) - mx);
    }
    const float inv = 1.0f / mb_att_warp_sum(s);
    for (int p = lane; p < np; p += 32) {
        P pk;
        if (p < nlow) {
            pk = a[p];
#pragma unroll
            for (int k = 0; k < V; k++)
                mb_st(&pk.v[k], p * V + k <= t ? expf(mb_ld(&pk.v[k]) - mx) * inv : 0.0f);
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) mb_st(&pk.v[k], 0.0f);
        }
        a[p] = pk;
    }
}

/* Softmax backward in place over one sequence's att[NH*Tn, Tn] (probabilities in, dpre out), packs
 * as above: dpre[t, j] = att[t, j] * (datt[t, j] - sum_k att[t, k] * datt[t, k]) for j <= t, 0
 * above. */
template <typename T, int V>
__global__ void mb_att_softmax_bwd_k(T *att, const T *datt, int Tn, size_t rows) {
    typedef mb_att_pk<T, V> P;
    size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const int t = (int)(r % (size_t)Tn), np = Tn / V, nlow = t / V + 1;
    P *a = (P *)(att + r * (size_t)Tn);
    const P *d = (const P *)(datt + r * (size_t)Tn);
    float dot = 0.0f;
    for (int p = lane; p < nlow; p += 32) {
        P pa = a[p], pd = d[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) dot += mb_ld(&pa.v[k]) * mb_ld(&pd.v[k]);
    }
    dot = mb_att_warp_sum(dot);
    for (int p = lane; p < np; p += 32) {
        P pa;
        if (p < nlow) {
            pa = a[p];
            P pd = d[p];
#pragma unroll
            for (int k = 0; k < V; k++)
                mb_st(&pa.v[k],
                      p * V + k <= t ? mb_ld(&pa.v[k]) * (mb_ld(&pd.v[k]) - dot) : 0.0f);
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) mb_st(&pa.v[k], 0.0f);
        }
        a[p] = pa;
    }
}

/* C[i] = alpha * op(A[i]) . op(B[i]) (column-major, beta 0) for i < batch; A and B of type T, C of
 * type ct. Returns 1 after recording an error. */
template <typename T>
static int mb_att_gemm(mb_ctx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       float alpha, const void *A, int lda, long long sA, const void *B, int ldb,
                       long long sB, void *C, cudaDataType_t ct, int ldc, long long sC, int batch) {
    mb_cuda *d = mb_cuda_of(ctx);
    cublasComputeType_t comp = (d->tf32 && sizeof(T) == sizeof(float))
                                   ? CUBLAS_COMPUTE_32F_FAST_TF32
                                   : CUBLAS_COMPUTE_32F;
    const cudaDataType_t at = mb_att_type<T>::v;
    float beta = 0.0f;
    return MB_CUBLAS_OK(ctx, cublasGemmStridedBatchedEx(d->blas, ta, tb, m, n, k, &alpha, A, at,
                                                        lda, sA, B, at, ldb, sB, &beta, C, ct,
                                                        ldc, sC, batch, comp,
                                                        CUBLAS_GEMM_DEFAULT));
}

/* Layout (row-major): q, k, v of head h in sequence b are [Tn, hs] with row stride 3C at
 * qkv + b*Tn*3C + {0, C, 2C} + h*hs; seen column-major they are hs x Tn with ld 3C (call them
 * Qc, Kc, Vc; batch stride hs over heads). att[b, h] is Tn x Tn row-major, i.e. column-major its
 * transpose Ac with ld Tn (batch stride Tn*Tn). out[b] rows have stride C, head h at column
 * h*hs. */
template <typename T>
static void mb_attention_fwd(mb_ctx *ctx, void *out_, void *att_, const void *qkv_, int B, int Tn,
                             int C, int NH) {
    if (mb_cuda_failed(ctx)) return;
    if (B <= 0 || Tn <= 0 || C <= 0 || NH <= 0) return;
    T *out = (T *)out_, *att = (T *)att_;
    const T *qkv = (const T *)qkv_;
    const int hs = C / NH, C3 = 3 * C;
    const long long TT = (long long)Tn * Tn;
    const float scale = 1.0f / sqrtf((float)hs);
    const cudaDataType_t ty = mb_att_type<T>::v;
    for (int b = 0; b < B; b++) {
        const T *q = qkv + (size_t)b * Tn * C3;
        /* Ac = scale * Kc^T . Qc, i.e. att[t][t2] = scale * q_t . k_t2 */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_T, CUBLAS_OP_N, Tn, Tn, hs, scale, q + C, C3, hs, q, C3,
                           hs, att + (size_t)b * NH * TT, ty, Tn, TT, NH))
            return;
    }
    size_t rows = (size_t)B * NH * Tn;
    int blocks = (int)((rows + MB_ATT_THREADS / 32 - 1) / (MB_ATT_THREADS / 32));
    constexpr int V = 16 / sizeof(T);
    if (Tn % V == 0 && ((uintptr_t)att & 15) == 0)
        mb_att_softmax_k<T, V><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(att, Tn, rows);
    else
        mb_att_softmax_k<T, 1><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(att, Tn, rows);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    for (int b = 0; b < B; b++) {
        const T *q = qkv + (size_t)b * Tn * C3;
        /* out^T = Vc . Ac, i.e. out[t] = sum_t2 att[t][t2] v_t2 */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_N, hs, Tn, Tn, 1.0f, q + 2 * C, C3, hs,
                           att + (size_t)b * NH * TT, Tn, TT, out + (size_t)b * Tn * C, ty, C, hs,
                           NH))
            return;
    }
}

/* Per sequence b: dv, datt (scratch of NH*Tn*Tn elements of T), softmax backward over att (att
 * becomes dpre), then dq and dk. Every column of dqkv[b] is written (beta 0). The backend table's
 * scratch argument is not needed. */
template <typename T>
static void mb_attention_bwd(mb_ctx *ctx, void *dqkv_, void *scratch, const void *dout_,
                             const void *qkv_, void *att_, int B, int Tn, int C, int NH) {
    (void)scratch;
    if (mb_cuda_failed(ctx)) return;
    if (B <= 0 || Tn <= 0 || C <= 0 || NH <= 0) return;
    T *dqkv = (T *)dqkv_, *att = (T *)att_;
    const T *dout = (const T *)dout_, *qkv = (const T *)qkv_;
    const int hs = C / NH, C3 = 3 * C;
    const long long TT = (long long)Tn * Tn;
    const float scale = 1.0f / sqrtf((float)hs);
    const cudaDataType_t ty = mb_att_type<T>::v;
    T *datt = (T *)mb_cuda_scratch(ctx, (size_t)NH * TT * sizeof(T));
    if (!datt) return;
    size_t rows = (size_t)NH * Tn;
    int blocks = (int)((rows + MB_ATT_THREADS / 32 - 1) / (MB_ATT_THREADS / 32));
    constexpr int V = 16 / sizeof(T);
    const int vec = Tn % V == 0 && ((uintptr_t)att & 15) == 0 && ((uintptr_t)datt & 15) == 0;
    for (int b = 0; b < B; b++) {
        const T *q = qkv + (size_t)b * Tn * C3, *d = dout + (size_t)b * Tn * C;
        T *dq = dqkv + (size_t)b * Tn * C3, *a = att + (size_t)b * NH * TT;
        /* dv^T = Dc . Ac^T, i.e. dv[t2] = sum_t att[t][t2] dout[t] (Dc: dout seen hs x Tn, ld C) */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_T, hs, Tn, Tn, 1.0f, d, C, hs, a, Tn, TT,
                           dq + 2 * C, ty, C3, hs, NH))
            return;
        /* datt^T = Vc^T . Dc, i.e. datt[t][t2] = dout[t] . v_t2 */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_T, CUBLAS_OP_N, Tn, Tn, hs, 1.0f, q + 2 * C, C3, hs, d, C,
                           hs, datt, ty, Tn, TT, NH))
            return;
        if (vec)
            mb_att_softmax_bwd_k<T, V><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(
                a, datt, Tn, rows);
        else
            mb_att_softmax_bwd_k<T, 1><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(
                a, datt, Tn, rows);
        if (MB_CUDA_LAUNCHED(ctx)) return;
        /* dq^T = scale * Kc . Pc, i.e. dq[t] = scale * sum_t2 dpre[t][t2] k_t2 */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_N, hs, Tn, Tn, scale, q + C, C3, hs, a, Tn,
                           TT, dq, ty, C3, hs, NH))
            return;
        /* dk^T = scale * Qc . Pc^T, i.e. dk[t2] = scale * sum_t dpre[t][t2] q_t */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_T, hs, Tn, Tn, scale, q, C3, hs, a, Tn, TT,
                           dq + C, ty, C3, hs, NH))
            return;
    }
}

extern "C" void mb_cuda_attention_fwd_f32(struct mb_ctx *ctx, void *out, void *att, const void *qkv,
                                          int B, int T, int C, int NH) {
    mb_attention_fwd<float>(ctx, out, att, qkv, B, T, C, NH);
}
extern "C" void mb_cuda_attention_fwd_bf16(struct mb_ctx *ctx, void *out, void *att,
                                           const void *qkv, int B, int T, int C, int NH) {
    mb_attention_fwd<__nv_bfloat16>(ctx, out, att, qkv, B, T, C, NH);
}
extern "C" void mb_cuda_attention_bwd_f32(struct mb_ctx *ctx, void *dqkv, void *scratch,
                                          const void *dout, const void *qkv, void *att, int B,
                                          int T, int C, int NH) {
    mb_attention_bwd<float>(ctx, dqkv, scratch, dout, qkv, att, B, T, C, NH);
}
extern "C" void mb_cuda_attention_bwd_bf16(struct mb_ctx *ctx, void *dqkv, void *scratch,
                                           const void *dout, const void *qkv, void *att, int B,
                                           int T, int C, int NH) {
    mb_attention_bwd<__nv_bfloat16>(ctx, dqkv, scratch, dout, qkv, att, B, T, C, NH);
}
