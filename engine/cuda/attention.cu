/* engine/cuda/attention.cu — causal grouped-query attention on the GPU: cuBLAS batched GEMMs
 * straight on the q|k|v columns of qkv (all heads of all sequences in one call, no permute copies),
 * cut into query chunks that skip the blocks above the diagonal, and row-wise softmax kernels in
 * float. Deterministic: no atomics; a shared kv head's gradient is summed over its query heads in
 * order. */
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

template <typename T> struct mb_att_type;
template <> struct mb_att_type<float> { static constexpr cudaDataType_t v = CUDA_R_32F; };
template <> struct mb_att_type<__nv_bfloat16> { static constexpr cudaDataType_t v = CUDA_R_16BF; };

#define MB_ATT_THREADS 256 /* 8 rows (one a warp) per block */
/* Queries per chunk: chunk i's scores are computed against keys 0 .. its last query only, so the
 * GEMMs skip the blocks above the diagonal (62.5% of the square's work at T = 1024). Measured on
 * the H100 for GPT-2 124M at 8 x 1024 (ms per step, fp32 / bf16): 64: 170.0 / 30.3, 128: 165.8
 * / 26.7, 256: 162.1 / 25.9, 512: 163.2 / 25.4, no chunks: 168.9 / 26.6; 512 needs 72 MiB more
 * scratch than 128 in bf16 (backward's datt is one chunk of rows for every head). */
#ifndef MB_ATT_CHUNK
#define MB_ATT_CHUNK 256
#endif

/* The end (exclusive) of the columns that query t's chunk computes. */
__device__ __forceinline__ int mb_att_chunk_end(int t, int Tn) {
    int e = (t / MB_ATT_CHUNK + 1) * MB_ATT_CHUNK;
    return e < Tn ? e : Tn;
}

/* Causal softmax in place, one warp per row of att[rows, Tn] in packs of V elements (Tn % V == 0);
 * row r is query t = r % Tn: columns 0..t become the probabilities of the (already scaled)
 * scores, columns t+1 .. the end of t's chunk exact zeros; columns past the chunk are not
 * touched. */
template <typename T, int V> __global__ void mb_att_softmax_k(T *att, int Tn, size_t rows) {
    typedef mb_pk<T, V> P;
    size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const int t = (int)(r % (size_t)Tn), nlow = t / V + 1; /* packs holding 0..t */
    const int np = (mb_att_chunk_end(t, Tn) + V - 1) / V;
    P *a = (P *)(att + r * (size_t)Tn);
    float mx = -INFINITY;
    for (int p = lane; p < nlow; p += 32) {
        P pk = a[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) mx = fmaxf(mx, mb_ld(&pk.v[k]));
    }
    mx = mb_warp_max(mx);
    float s = 0.0f;
    for (int p = lane; p < nlow; p += 32) {
        P pk = a[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) s += expf(mb_ld(&pk.v[k]) - mx);
    }
    const float inv = 1.0f / mb_warp_sum(s);
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

/* Softmax backward in place for the nq query rows of one chunk starting at q0, over every (b, h):
 * row r is (bh = r / nq, t = q0 + r % nq), its probabilities at att + (bh*Tn + t)*Tn and its datt
 * at datt + (bh*dr + r % nq)*Tn (dr rows a head); dpre[t, j] = att[t, j] * (datt[t, j] - sum_k
 * att[t, k] * datt[t, k]) for j <= t, zeros from t+1 to the end of the chunk. Packs as above. */
template <typename T, int V>
__global__ void mb_att_softmax_bwd_k(T *att, const T *datt, int Tn, int dr, int q0, int nq,
                                     size_t rows) {
    typedef mb_pk<T, V> P;
    size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const size_t bh = r / (size_t)nq;
    const int rr = (int)(r % (size_t)nq), t = q0 + rr, nlow = t / V + 1;
    const int np = (mb_att_chunk_end(t, Tn) + V - 1) / V;
    P *a = (P *)(att + (bh * Tn + t) * (size_t)Tn);
    const P *d = (const P *)(datt + (bh * dr + rr) * (size_t)Tn);
    float dot = 0.0f;
    for (int p = lane; p < nlow; p += 32) {
        P pa = a[p], pd = d[p];
#pragma unroll
        for (int k = 0; k < V; k++)
            if (p * V + k <= t) dot += mb_ld(&pa.v[k]) * mb_ld(&pd.v[k]);
    }
    dot = mb_warp_sum(dot);
    for (int p = lane; p < np; p += 32) {
        P pa;
        if (p < nlow) {
            pa = a[p];
            P pd = d[p];
#pragma unroll
            for (int k = 0; k < V; k++)
                mb_st(&pa.v[k], p * V + k <= t ? mb_ld(&pa.v[k]) * (mb_ld(&pd.v[k]) - dot) : 0.0f);
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) mb_st(&pa.v[k], 0.0f);
        }
        a[p] = pa;
    }
}

/* Operand pointer arrays of the chunked GEMMs, batched over all B*NH query heads. Batch entry i
 * is query head h = kh*G + g of sequence b (G = NH/KV query heads a kv head), with g = i / (B*KV)
 * and (b, kh) = (i % (B*KV)) / KV, % KV: member g of every group is the contiguous slice
 * [g*B*KV, (g+1)*B*KV), so a GEMM whose output a group shares runs slice after slice. (KV == NH:
 * i = b*NH + h.) Operand d of chunk c at entry i is base[d] + (b*sb[d] + x*sh[d] + c*sc[d])
 * elements of es bytes, x = kh where kv[d] (a key or value operand), else h. */
#define MB_ATT_MAXOPS 12
typedef struct mb_att_ops {
    const char *base[MB_ATT_MAXOPS];
    long long sb[MB_ATT_MAXOPS], sh[MB_ATT_MAXOPS], sc[MB_ATT_MAXOPS];
    int kv[MB_ATT_MAXOPS];
    int n;
} mb_att_ops;

__global__ void mb_att_ptrs_k(const void **ptrs, mb_att_ops ops, int es, int nc, int NH, int KV,
                              int BH) {
    size_t total = (size_t)ops.n * nc * BH;
    const int BKV = BH / NH * KV, G = NH / KV;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int bh = (int)(i % BH), c = (int)(i / BH % nc), d = (int)(i / ((size_t)BH * nc));
        int g = bh / BKV, r = bh % BKV, b = r / KV, kh = r % KV, h = kh * G + g;
        long long off = (long long)b * ops.sb[d] + (long long)(ops.kv[d] ? kh : h) * ops.sh[d] +
                        (long long)c * ops.sc[d];
        ptrs[i] = ops.base[d] + off * es;
    }
}

static void mb_att_op(mb_att_ops *o, const void *base, long long sb, long long sh, long long sc,
                      int kv) {
    o->base[o->n] = (const char *)base;
    o->sb[o->n] = sb;
    o->sh[o->n] = sh;
    o->sc[o->n] = sc;
    o->kv[o->n] = kv;
    o->n++;
}

/* Fills the pointer arrays of ops (operand d, chunk c at ptrs + (d*nc + c)*BH). 1 after an error.
 */
static int mb_att_fill(mb_ctx *ctx, const void **ptrs, const mb_att_ops *o, int es, int nc, int NH,
                       int KV, int BH) {
    size_t total = (size_t)o->n * nc * BH;
    mb_att_ptrs_k<<<mb_cuda_blocks(total, 256), 256, 0, mb_cuda_stream(ctx)>>>(ptrs, *o, es, nc, NH,
                                                                               KV, BH);
    return MB_CUDA_LAUNCHED(ctx);
}

/* C[i] = alpha * op(A[i]) . op(B[i]) + beta * C[i] (column-major) over the nb pointer triples from
 * batch entry `first` of operands a, b, c of chunk ci; every operand of type T. Returns 1 after
 * recording an error. */
template <typename T>
static int mb_att_gemm_part(mb_ctx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                            int k, float alpha, const void **ptrs, int nc, int BH, int ci, int a,
                            int lda, int b, int ldb, int c, int ldc, int first, int nb,
                            float beta) {
    mb_cuda *d = mb_cuda_of(ctx);
    cublasComputeType_t comp =
        (d->tf32 && sizeof(T) == sizeof(float)) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const cudaDataType_t ty = mb_att_type<T>::v;
    const void *const *pa = ptrs + ((size_t)a * nc + ci) * BH + first;
    const void *const *pb = ptrs + ((size_t)b * nc + ci) * BH + first;
    void *const *pc = (void *const *)(ptrs + ((size_t)c * nc + ci) * BH + first);
    return MB_CUBLAS_OK(ctx, cublasGemmBatchedEx(d->blas, ta, tb, m, n, k, &alpha, pa, ty, lda, pb,
                                                 ty, ldb, &beta, pc, ty, ldc, nb, comp,
                                                 CUBLAS_GEMM_DEFAULT));
}

/* The GEMM over all BH heads, beta 0. */
template <typename T>
static int mb_att_gemm(mb_ctx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       float alpha, const void **ptrs, int nc, int BH, int ci, int a, int lda,
                       int b, int ldb, int c, int ldc) {
    return mb_att_gemm_part<T>(ctx, ta, tb, m, n, k, alpha, ptrs, nc, BH, ci, a, lda, b, ldb, c,
                               ldc, 0, BH, 0.0f);
}

/* A GEMM whose output c is a kv head's, shared by the G query heads of its group: member 0's
 * product overwrites it (beta 0), members 1 .. G-1 add theirs in that order (beta 1), so the sum
 * has the same order, and bits, on every run. G == 1: one call over all heads, as mb_att_gemm. */
template <typename T>
static int mb_att_gemm_group(mb_ctx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                             int k, float alpha, const void **ptrs, int nc, int BH, int G, int ci,
                             int a, int lda, int b, int ldb, int c, int ldc) {
    const int BKV = BH / G;
    for (int g = 0; g < G; g++)
        if (mb_att_gemm_part<T>(ctx, ta, tb, m, n, k, alpha, ptrs, nc, BH, ci, a, lda, b, ldb, c,
                                ldc, g * BKV, BKV, g ? 1.0f : 0.0f))
            return 1;
    return 0;
}

/* Layout (row-major), W = C + 2*KV*hs the row width of qkv: q of query head h, k and v of kv head
 * kh in sequence b are [Tn, hs] with row stride W at qkv + b*Tn*W + {h*hs, C + kh*hs, C + KV*hs +
 * kh*hs}; seen column-major they are hs x Tn with ld W (call them Qc, Kc, Vc). att[b, h] is Tn x Tn
 * row-major, i.e. column-major its transpose Ac with ld Tn. out[b] rows have stride C, head h at
 * column h*hs. Queries are cut into chunks of MB_ATT_CHUNK: chunk i holds queries q0 = i*CH ..
 * q0+nq-1 and needs keys 0 .. nk-1 = q0+nq-1 only. Every GEMM is batched over all B*NH heads
 * through pointer arrays (kept in scratch). */
template <typename T>
static void mb_attention_fwd(mb_ctx *ctx, void *out_, void *att_, const void *qkv_, int B, int Tn,
                             int C, int NH, int KV) {
    if (mb_cuda_failed(ctx)) return;
    if (B <= 0 || Tn <= 0 || C <= 0 || NH <= 0) return;
    T *out = (T *)out_, *att = (T *)att_;
    const T *qkv = (const T *)qkv_;
    const int hs = C / NH, W = C + 2 * KV * hs, CH = MB_ATT_CHUNK, nc = (Tn + CH - 1) / CH;
    const int BH = B * NH;
    const long long TT = (long long)Tn * Tn, TW = (long long)Tn * W;
    const float scale = 1.0f / sqrtf((float)hs);
    const T *kq = qkv + C, *vq = qkv + C + (size_t)KV * hs; /* kv head 0's k and v */
    mb_att_ops o = {};
    mb_att_op(&o, kq, TW, hs, 0, 1);                                 /* 0: Kc */
    mb_att_op(&o, qkv, TW, hs, (long long)CH * W, 0);                /* 1: Qc, chunk columns */
    mb_att_op(&o, att, NH * TT, TT, (long long)CH * Tn, 0);          /* 2: Ac, chunk columns */
    mb_att_op(&o, vq, TW, hs, 0, 1);                                 /* 3: Vc */
    mb_att_op(&o, out, (long long)Tn * C, hs, (long long)CH * C, 0); /* 4: out^T, chunk columns */
    const void **ptrs = (const void **)mb_cuda_scratch(ctx, (size_t)o.n * nc * BH * sizeof(void *));
    if (!ptrs || mb_att_fill(ctx, ptrs, &o, (int)sizeof(T), nc, NH, KV, BH)) return;
    for (int i = 0; i < nc; i++) {
        const int q0 = i * CH, nq = Tn - q0 < CH ? Tn - q0 : CH, nk = q0 + nq;
        /* Ac[0:nk, chunk] = scale * Kc[:, 0:nk]^T . Qc[:, chunk] */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_T, CUBLAS_OP_N, nk, nq, hs, scale, ptrs, nc, BH, i, 0, W,
                           1, W, 2, Tn))
            return;
    }
    size_t rows = (size_t)BH * Tn;
    int blocks = (int)((rows + MB_ATT_THREADS / 32 - 1) / (MB_ATT_THREADS / 32));
    constexpr int V = 16 / sizeof(T);
    if (Tn % V == 0 && ((uintptr_t)att & 15) == 0)
        mb_att_softmax_k<T, V><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(att, Tn, rows);
    else
        mb_att_softmax_k<T, 1><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(att, Tn, rows);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    for (int i = 0; i < nc; i++) {
        const int q0 = i * CH, nq = Tn - q0 < CH ? Tn - q0 : CH, nk = q0 + nq;
        /* out^T[:, chunk] = Vc[:, 0:nk] . Ac[0:nk, chunk] */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_N, hs, nq, nk, 1.0f, ptrs, nc, BH, i, 3, W,
                           2, Tn, 4, C))
            return;
    }
}

/* Backward over the chunks: dv per key chunk from the probabilities; then per query chunk datt
 * (scratch of B*NH*min(CH, Tn)*Tn elements), the softmax backward (att becomes dpre) and dq; then
 * dk per key chunk from dpre. Key chunk j (keys k0 = j*CH ..) is seen by queries k0 .. Tn-1 only.
 * dk and dv of a kv head are summed over its G query heads in order (mb_att_gemm_group). Every
 * column of dqkv is written. The backend table's scratch argument is not needed. */
template <typename T>
static void mb_attention_bwd(mb_ctx *ctx, void *dqkv_, void *scratch, const void *dout_,
                             const void *qkv_, void *att_, int B, int Tn, int C, int NH, int KV) {
    (void)scratch;
    if (mb_cuda_failed(ctx)) return;
    if (B <= 0 || Tn <= 0 || C <= 0 || NH <= 0) return;
    T *dqkv = (T *)dqkv_, *att = (T *)att_;
    const T *dout = (const T *)dout_, *qkv = (const T *)qkv_;
    const int hs = C / NH, W = C + 2 * KV * hs, CH = MB_ATT_CHUNK, nc = (Tn + CH - 1) / CH;
    const int BH = B * NH, G = NH / KV;
    const size_t ko = (size_t)C, vo = (size_t)C + (size_t)KV * hs; /* kv head 0's k, v columns */
    const long long TT = (long long)Tn * Tn, TW = (long long)Tn * W, TC = (long long)Tn * C;
    const float scale = 1.0f / sqrtf((float)hs);
    const int DR = Tn < CH ? Tn : CH; /* rows of datt per head: one chunk's */
    const size_t ptr_bytes = ((size_t)MB_ATT_MAXOPS * nc * BH * sizeof(void *) + 255) / 256 * 256;
    char *sc = (char *)mb_cuda_scratch(ctx, ptr_bytes + (size_t)BH * DR * Tn * sizeof(T));
    if (!sc) return;
    const void **ptrs = (const void **)sc;
    T *datt = (T *)(sc + ptr_bytes);
    mb_att_ops o = {};
    mb_att_op(&o, dout, TC, hs, (long long)CH * C, 0);           /* 0: Dc, chunk columns */
    mb_att_op(&o, att, NH * TT, TT, (long long)CH * Tn + CH, 0); /* 1: Ac[key chunk, k0:] */
    mb_att_op(&o, dqkv + vo, TW, hs, (long long)CH * W, 1);      /* 2: dVc, key chunk */
    mb_att_op(&o, qkv + vo, TW, hs, 0, 1);                       /* 3: Vc */
    mb_att_op(&o, datt, (long long)NH * DR * Tn, (long long)DR * Tn, 0, 0); /* 4: datt^T, a chunk */
    mb_att_op(&o, qkv + ko, TW, hs, 0, 1);                                  /* 5: Kc */
    mb_att_op(&o, att, NH * TT, TT, (long long)CH * Tn, 0);                 /* 6: Pc, query chunk */
    mb_att_op(&o, dqkv, TW, hs, (long long)CH * W, 0);      /* 7: dQc, query chunk */
    mb_att_op(&o, qkv, TW, hs, (long long)CH * W, 0);       /* 8: Qc from key chunk */
    mb_att_op(&o, dqkv + ko, TW, hs, (long long)CH * W, 1); /* 9: dKc, key chunk */
    if (mb_att_fill(ctx, ptrs, &o, (int)sizeof(T), nc, NH, KV, BH)) return;
    for (int j = 0; j < nc; j++) {
        const int k0 = j * CH, nkj = Tn - k0 < CH ? Tn - k0 : CH, nt = Tn - k0;
        /* dVc[:, key chunk] = sum over the group of Dc[:, k0:Tn] . Ac[key chunk, k0:Tn]^T */
        if (mb_att_gemm_group<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_T, hs, nkj, nt, 1.0f, ptrs, nc, BH, G,
                                 j, 0, C, 1, Tn, 2, W))
            return;
    }
    constexpr int V = 16 / sizeof(T);
    const int vec = Tn % V == 0 && ((uintptr_t)att & 15) == 0 && ((uintptr_t)datt & 15) == 0;
    for (int i = 0; i < nc; i++) {
        const int q0 = i * CH, nq = Tn - q0 < CH ? Tn - q0 : CH, nk = q0 + nq;
        /* datt^T[0:nk, chunk rows] = Vc[:, 0:nk]^T . Dc[:, chunk] */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_T, CUBLAS_OP_N, nk, nq, hs, 1.0f, ptrs, nc, BH, i, 3, W,
                           0, C, 4, Tn))
            return;
        size_t rows = (size_t)BH * nq;
        int blocks = (int)((rows + MB_ATT_THREADS / 32 - 1) / (MB_ATT_THREADS / 32));
        if (vec)
            mb_att_softmax_bwd_k<T, V><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(
                att, datt, Tn, DR, q0, nq, rows);
        else
            mb_att_softmax_bwd_k<T, 1><<<blocks, MB_ATT_THREADS, 0, mb_cuda_stream(ctx)>>>(
                att, datt, Tn, DR, q0, nq, rows);
        if (MB_CUDA_LAUNCHED(ctx)) return;
        /* dQc[:, chunk] = scale * Kc[:, 0:nk] . Pc[0:nk, chunk] */
        if (mb_att_gemm<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_N, hs, nq, nk, scale, ptrs, nc, BH, i, 5, W,
                           6, Tn, 7, W))
            return;
    }
    for (int j = 0; j < nc; j++) {
        const int k0 = j * CH, nkj = Tn - k0 < CH ? Tn - k0 : CH, nt = Tn - k0;
        /* dKc[:, key chunk] = sum over the group of scale * Qc[:, k0:Tn] . Pc[key chunk, k0:Tn]^T
         */
        if (mb_att_gemm_group<T>(ctx, CUBLAS_OP_N, CUBLAS_OP_T, hs, nkj, nt, scale, ptrs, nc, BH, G,
                                 j, 8, W, 1, Tn, 9, W))
            return;
    }
}

/* The contract's head counts: NH query heads over KV kv heads, NH % KV == 0. 1 after recording an
 * error. */
static int mb_att_heads_bad(mb_ctx *ctx, int NH, int KV) {
    if (mb_cuda_failed(ctx)) return 1;
    if (NH > 0 && KV > 0 && NH % KV == 0) return 0;
    mb_cuda_fail(ctx, MB_EINVAL, __FILE__, __LINE__,
                 "attention: %d query heads cannot share %d kv heads (NH %% KV must be 0)", NH, KV);
    return 1;
}

extern "C" void mb_cuda_attention_fwd_f32(struct mb_ctx *ctx, void *out, void *att, const void *qkv,
                                          int B, int T, int C, int NH, int KV) {
    if (mb_att_heads_bad(ctx, NH, KV)) return;
    mb_attention_fwd<float>(ctx, out, att, qkv, B, T, C, NH, KV);
}
extern "C" void mb_cuda_attention_fwd_bf16(struct mb_ctx *ctx, void *out, void *att,
                                           const void *qkv, int B, int T, int C, int NH, int KV) {
    if (mb_att_heads_bad(ctx, NH, KV)) return;
    mb_attention_fwd<__nv_bfloat16>(ctx, out, att, qkv, B, T, C, NH, KV);
}
extern "C" void mb_cuda_attention_bwd_f32(struct mb_ctx *ctx, void *dqkv, void *scratch,
                                          const void *dout, const void *qkv, void *att, int B,
                                          int T, int C, int NH, int KV) {
    if (mb_att_heads_bad(ctx, NH, KV)) return;
    mb_attention_bwd<float>(ctx, dqkv, scratch, dout, qkv, att, B, T, C, NH, KV);
}
extern "C" void mb_cuda_attention_bwd_bf16(struct mb_ctx *ctx, void *dqkv, void *scratch,
                                           const void *dout, const void *qkv, void *att, int B,
                                           int T, int C, int NH, int KV) {
    if (mb_att_heads_bad(ctx, NH, KV)) return;
    mb_attention_bwd<__nv_bfloat16>(ctx, dqkv, scratch, dout, qkv, att, B, T, C, NH, KV);
}
