/* engine/cuda/flash.cu — memory-efficient exact causal attention in bf16 on tensor cores (WMMA
 * 16x16x16, fp32 accumulation), FlashAttention-2's tiling: forward keeps an online softmax per
 * query row and saves its log-sum-exp; backward recomputes the probabilities from it, dk and dv per
 * key block and dq per query block (two kernels, no atomics: deterministic). No T x T matrix
 * exists. */
#include <math.h>
#include <mma.h>

#include "cuda_common.h"
#include "kernels.h"

using namespace nvcuda;
typedef __nv_bfloat16 bf16;

#define FA_B 64        /* queries and keys per tile */
#define FA_THREADS 128 /* 4 warps, 16 rows each */

/* Shared-memory row strides (elements): padded against bank conflicts, multiples of 8 (bf16) and
 * 4 (float) as WMMA needs, every tile start 32-byte aligned. */
template <int HD> struct fa_ld {
    static constexpr int h = HD + 8;   /* bf16 [64][HD] tiles */
    static constexpr int s = FA_B + 4; /* float [rows][64] */
    static constexpr int p = FA_B + 8; /* bf16 [rows][64] */
    static constexpr int o = HD + 4;   /* float [64][HD] */
};

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> fa_acc;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fa_br;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fa_bc;

/* 64 rows of one head from a [B*T, ld] tensor into a padded tile; rows at or past T are zero. */
template <int HD>
__device__ __forceinline__ void fa_load(bf16 *dst, const bf16 *src, size_t ld, int r0, int T) {
    constexpr int per = HD / 8; /* 16-byte packs a row */
    for (int i = threadIdx.x; i < FA_B * per; i += FA_THREADS) {
        int r = i / per, c = (i % per) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r0 + r < T) v = *(const uint4 *)(src + (size_t)(r0 + r) * ld + c);
        *(uint4 *)(dst + r * fa_ld<HD>::h + c) = v;
    }
}

/* acc[16 x 16*NT] = A[16 x K] . B, A row-major at a (lda), B^T stored row-major at b (so B is
 * col-major: B(k, n) = b[n * ldb + k]); K a multiple of 16. */
template <int K>
__device__ __forceinline__ void fa_abt(fa_acc &acc, const bf16 *a, int lda, const bf16 *b,
                                       int ldb) {
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int k = 0; k < K; k += 16) {
        fa_a fa;
        fa_bc fb;
        wmma::load_matrix_sync(fa, a + k, lda);
        wmma::load_matrix_sync(fb, b + k, ldb);
        wmma::mma_sync(acc, fa, fb, acc);
    }
}

/* acc += A[16 x 64] . B[64 x 16], both row-major. */
__device__ __forceinline__ void fa_ab(fa_acc &acc, const bf16 *a, int lda, const bf16 *b, int ldb) {
#pragma unroll
    for (int k = 0; k < FA_B; k += 16) {
        fa_a fa;
        fa_br fb;
        wmma::load_matrix_sync(fa, a + k, lda);
        wmma::load_matrix_sync(fb, b + (size_t)k * ldb, ldb);
        wmma::mma_sync(acc, fa, fb, acc);
    }
}

/* Forward: block (query tile, head, sequence). Warp w owns rows 16w .. 16w+15; lanes 2r and 2r+1
 * hold row r's running max and sum and each handle half its columns. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    mb_fa_fwd_k(bf16 *out, float *lse, const bf16 *qkv, int T, int C, int NH, float scale) {
    typedef fa_ld<HD> LD;
    extern __shared__ __align__(32) unsigned char fa_smem[];
    bf16 *sQ = (bf16 *)fa_smem, *sK = sQ + FA_B * LD::h, *sV = sK + FA_B * LD::h;
    float *sS = (float *)(sV + FA_B * LD::h);
    bf16 *sP = (bf16 *)(sS + FA_B * LD::s);
    float *sO = (float *)(sP + FA_B * LD::p);
    const int q0 = blockIdx.x * FA_B, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t ld = 3 * (size_t)C;
    const bf16 *base = qkv + (size_t)b * T * ld + (size_t)h * HD;
    fa_load<HD>(sQ, base, ld, q0, T);
    for (int i = threadIdx.x; i < FA_B * LD::o; i += FA_THREADS) sO[i] = 0.0f;
    const int r = warp * 16 + lane / 2, half = lane % 2, qi = q0 + r;
    float m = -INFINITY, l = 0.0f;
    const int nkb = min((q0 + FA_B - 1) / FA_B + 1, (T + FA_B - 1) / FA_B);
    for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * FA_B;
        __syncthreads();
        fa_load<HD>(sK, base + C, ld, k0, T);
        fa_load<HD>(sV, base + 2 * (size_t)C, ld, k0, T);
        __syncthreads();
        for (int n = 0; n < FA_B / 16; n++) {
            fa_acc acc;
            fa_abt<HD>(acc, sQ + warp * 16 * LD::h, LD::h, sK + n * 16 * LD::h, LD::h);
            wmma::store_matrix_sync(sS + warp * 16 * LD::s + n * 16, acc, LD::s,
                                    wmma::mem_row_major);
        }
        __syncwarp();
        float *srow = sS + r * LD::s + half * 32;
        float mx = -INFINITY;
        for (int c = 0; c < 32; c++) {
            int key = k0 + half * 32 + c;
            float s = key <= qi && key < T ? srow[c] * scale : -INFINITY;
            srow[c] = s;
            mx = fmaxf(mx, s);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        const float mn = fmaxf(m, mx); /* finite: key k0 <= qi for every tile visited */
        const float alpha = m == -INFINITY ? 0.0f : expf(m - mn);
        float sum = 0.0f;
        bf16 *prow = sP + r * LD::p + half * 32;
        for (int c = 0; c < 32; c++) {
            float p = srow[c] == -INFINITY ? 0.0f : expf(srow[c] - mn);
            prow[c] = __float2bfloat16_rn(p);
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = l * alpha + sum;
        m = mn;
        float *orow = sO + r * LD::o + half * (HD / 2);
        for (int c = 0; c < HD / 2; c++) orow[c] *= alpha;
        __syncwarp();
        for (int n = 0; n < HD / 16; n++) {
            fa_acc acc;
            float *o = sO + warp * 16 * LD::o + n * 16;
            wmma::load_matrix_sync(acc, o, LD::o, wmma::mem_row_major);
            fa_ab(acc, sP + warp * 16 * LD::p, LD::p, sV + n * 16, LD::h);
            wmma::store_matrix_sync(o, acc, LD::o, wmma::mem_row_major);
        }
        __syncwarp();
    }
    if (qi >= T) return;
    const float inv = 1.0f / l;
    const float *orow = sO + r * LD::o + half * (HD / 2);
    bf16 *dst = out + ((size_t)b * T + qi) * C + (size_t)h * HD + half * (HD / 2);
    for (int c = 0; c < HD / 2; c++) dst[c] = __float2bfloat16_rn(orow[c] * inv);
    if (!half) lse[((size_t)b * NH + h) * T + qi] = m + logf(l);
}

/* D[b, h, t] = sum_d dout[b, t, h, d] * out[b, t, h, d], one warp per (b, t, h). */
template <int HD>
__global__ void mb_fa_dot_k(float *D, const bf16 *dout, const bf16 *out, int B, int T, int C,
                            int NH) {
    size_t w = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (w >= (size_t)B * T * NH) return;
    int h = (int)(w % NH);
    size_t bt = w / NH;
    const bf16 *a = dout + bt * C + (size_t)h * HD, *o = out + bt * C + (size_t)h * HD;
    float s = 0.0f;
    for (int d = lane; d < HD; d += 32) s += __bfloat162float(a[d]) * __bfloat162float(o[d]);
    s = mb_warp_sum(s);
    if (!lane) {
        int b = (int)(bt / T), t = (int)(bt % T);
        D[((size_t)b * NH + h) * T + t] = s;
    }
}

/* An accumulator fragment times `mul` to 16 rows of bf16 at dst (row stride ld), through a 16 x 16
 * float staging area; rows at or past `valid` are not written. */
__device__ __forceinline__ void fa_store(bf16 *dst, size_t ld, const fa_acc &acc, float *stage,
                                         int stage_ld, float mul, int valid) {
    wmma::store_matrix_sync(stage, acc, stage_ld, wmma::mem_row_major);
    __syncwarp();
    int lane = threadIdx.x % 32;
    for (int i = lane; i < 256; i += 32) {
        int rr = i / 16, cc = i % 16;
        if (rr < valid)
            dst[(size_t)rr * ld + cc] = __float2bfloat16_rn(stage[rr * stage_ld + cc] * mul);
    }
    __syncwarp();
}

/* dk, dv: block (key tile, head, sequence); warp w owns keys 16w .. 16w+15 and keeps their dk and
 * dv in fragments over the query tiles at or after the key tile. For each: S^T = K Q^T and
 * dP^T = V dO^T per warp, P^T = exp(scale S^T - lse), dS^T = P^T (dP^T - D) (zero above the causal
 * diagonal and past T), dv += P^T dO, dk += dS^T Q. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    mb_fa_dkv_k(bf16 *dqkv, const bf16 *qkv, const bf16 *dout, const float *lse, const float *D,
                int T, int C, int NH, float scale) {
    typedef fa_ld<HD> LD;
    extern __shared__ __align__(32) unsigned char fa_smem[];
    bf16 *sK = (bf16 *)fa_smem, *sV = sK + FA_B * LD::h, *sQ = sV + FA_B * LD::h,
         *sO = sQ + FA_B * LD::h; /* sO: dO */
    float *sL = (float *)(sO + FA_B * LD::h), *sD = sL + FA_B;
    float *sS = sD + FA_B, *sdP = sS + FA_B * LD::s; /* [64][LD::s] each, 16 rows a warp */
    bf16 *sP = (bf16 *)(sdP + FA_B * LD::s), *sdS = sP + FA_B * LD::p;
    const int k0 = blockIdx.x * FA_B, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t ld = 3 * (size_t)C;
    const bf16 *base = qkv + (size_t)b * T * ld + (size_t)h * HD;
    const bf16 *obase = dout + (size_t)b * T * C + (size_t)h * HD;
    const float *L = lse + ((size_t)b * NH + h) * T, *Dd = D + ((size_t)b * NH + h) * T;
    fa_load<HD>(sK, base + C, ld, k0, T);
    fa_load<HD>(sV, base + 2 * (size_t)C, ld, k0, T);
    fa_acc dk[HD / 16], dv[HD / 16];
    for (int n = 0; n < HD / 16; n++)
        wmma::fill_fragment(dk[n], 0.0f), wmma::fill_fragment(dv[n], 0.0f);
    const int r = warp * 16 + lane / 2, half = lane % 2, key = k0 + r;
    float *wS = sS + warp * 16 * LD::s, *wdP = sdP + warp * 16 * LD::s;
    bf16 *wP = sP + warp * 16 * LD::p, *wdS = sdS + warp * 16 * LD::p;
    const int nqb = (T + FA_B - 1) / FA_B;
    for (int qb = blockIdx.x; qb < nqb; qb++) {
        const int q0 = qb * FA_B;
        __syncthreads();
        fa_load<HD>(sQ, base, ld, q0, T);
        fa_load<HD>(sO, obase, C, q0, T);
        for (int i = threadIdx.x; i < FA_B; i += FA_THREADS) {
            sL[i] = q0 + i < T ? L[q0 + i] : INFINITY;
            sD[i] = q0 + i < T ? Dd[q0 + i] : 0.0f;
        }
        __syncthreads();
        for (int n = 0; n < FA_B / 16; n++) {
            fa_acc acc;
            fa_abt<HD>(acc, sK + warp * 16 * LD::h, LD::h, sQ + n * 16 * LD::h, LD::h);
            wmma::store_matrix_sync(wS + n * 16, acc, LD::s, wmma::mem_row_major);
            fa_abt<HD>(acc, sV + warp * 16 * LD::h, LD::h, sO + n * 16 * LD::h, LD::h);
            wmma::store_matrix_sync(wdP + n * 16, acc, LD::s, wmma::mem_row_major);
        }
        __syncwarp();
        const float *srow = wS + (lane / 2) * LD::s + half * 32,
                    *prow = wdP + (lane / 2) * LD::s + half * 32;
        bf16 *pout = wP + (lane / 2) * LD::p + half * 32,
             *dsout = wdS + (lane / 2) * LD::p + half * 32;
        for (int c = 0; c < 32; c++) {
            int qc = half * 32 + c, q = q0 + qc;
            float p = q >= key && key < T ? expf(srow[c] * scale - sL[qc]) : 0.0f;
            pout[c] = __float2bfloat16_rn(p);
            dsout[c] = __float2bfloat16_rn(p * (prow[c] - sD[qc]));
        }
        __syncwarp();
        for (int n = 0; n < HD / 16; n++) {
            fa_ab(dv[n], wP, LD::p, sO + n * 16, LD::h);
            fa_ab(dk[n], wdS, LD::p, sQ + n * 16, LD::h);
        }
    }
    const int valid = min(16, T - (k0 + warp * 16));
    if (valid <= 0) return;
    bf16 *dk_dst = dqkv + ((size_t)b * T + k0 + warp * 16) * ld + C + (size_t)h * HD;
    for (int n = 0; n < HD / 16; n++) {
        fa_store(dk_dst + n * 16, ld, dk[n], wS, LD::s, scale, valid);
        fa_store(dk_dst + C + n * 16, ld, dv[n], wS, LD::s, 1.0f, valid);
    }
}

/* dq: block (query tile, head, sequence); warp w owns queries 16w .. 16w+15: per key tile up to the
 * diagonal, S = Q K^T, dP = dO V^T, dS = P (dP - D), dq += dS K. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    mb_fa_dq_k(bf16 *dqkv, const bf16 *qkv, const bf16 *dout, const float *lse, const float *D,
               int T, int C, int NH, float scale) {
    typedef fa_ld<HD> LD;
    extern __shared__ __align__(32) unsigned char fa_smem[];
    bf16 *sQ = (bf16 *)fa_smem, *sO = sQ + FA_B * LD::h, *sK = sO + FA_B * LD::h,
         *sV = sK + FA_B * LD::h;
    float *sS = (float *)(sV + FA_B * LD::h), *sdP = sS + FA_B * LD::s;
    bf16 *sdS = (bf16 *)(sdP + FA_B * LD::s);
    const int q0 = blockIdx.x * FA_B, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t ld = 3 * (size_t)C;
    const bf16 *base = qkv + (size_t)b * T * ld + (size_t)h * HD;
    fa_load<HD>(sQ, base, ld, q0, T);
    fa_load<HD>(sO, dout + (size_t)b * T * C + (size_t)h * HD, C, q0, T);
    const int r = warp * 16 + lane / 2, half = lane % 2, qi = q0 + r;
    const size_t row = ((size_t)b * NH + h) * T + qi;
    const float Lq = qi < T ? lse[row] : INFINITY, Dq = qi < T ? D[row] : 0.0f;
    fa_acc dq[HD / 16];
    for (int n = 0; n < HD / 16; n++) wmma::fill_fragment(dq[n], 0.0f);
    float *wS = sS + warp * 16 * LD::s, *wdP = sdP + warp * 16 * LD::s;
    bf16 *wdS = sdS + warp * 16 * LD::p;
    const int nkb = min(blockIdx.x + 1, (T + FA_B - 1) / FA_B);
    for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * FA_B;
        __syncthreads();
        fa_load<HD>(sK, base + C, ld, k0, T);
        fa_load<HD>(sV, base + 2 * (size_t)C, ld, k0, T);
        __syncthreads();
        for (int n = 0; n < FA_B / 16; n++) {
            fa_acc acc;
            fa_abt<HD>(acc, sQ + warp * 16 * LD::h, LD::h, sK + n * 16 * LD::h, LD::h);
            wmma::store_matrix_sync(wS + n * 16, acc, LD::s, wmma::mem_row_major);
            fa_abt<HD>(acc, sO + warp * 16 * LD::h, LD::h, sV + n * 16 * LD::h, LD::h);
            wmma::store_matrix_sync(wdP + n * 16, acc, LD::s, wmma::mem_row_major);
        }
        __syncwarp();
        const float *srow = wS + (lane / 2) * LD::s + half * 32,
                    *prow = wdP + (lane / 2) * LD::s + half * 32;
        bf16 *dsout = wdS + (lane / 2) * LD::p + half * 32;
        for (int c = 0; c < 32; c++) {
            int k = k0 + half * 32 + c;
            float p = k <= qi && k < T ? expf(srow[c] * scale - Lq) : 0.0f;
            dsout[c] = __float2bfloat16_rn(p * (prow[c] - Dq));
        }
        __syncwarp();
        for (int n = 0; n < HD / 16; n++) fa_ab(dq[n], wdS, LD::p, sK + n * 16, LD::h);
    }
    const int valid = min(16, T - (q0 + warp * 16));
    if (valid <= 0) return;
    bf16 *dst = dqkv + ((size_t)b * T + q0 + warp * 16) * ld + (size_t)h * HD;
    for (int n = 0; n < HD / 16; n++) fa_store(dst + n * 16, ld, dq[n], wS, LD::s, scale, valid);
}

template <int HD> static size_t fa_fwd_smem() {
    typedef fa_ld<HD> LD;
    return 3 * FA_B * LD::h * sizeof(bf16) + FA_B * LD::s * sizeof(float) +
           FA_B * LD::p * sizeof(bf16) + FA_B * LD::o * sizeof(float);
}
template <int HD> static size_t fa_dkv_smem() {
    typedef fa_ld<HD> LD;
    return 4 * FA_B * LD::h * sizeof(bf16) + 2 * FA_B * sizeof(float) +
           2 * FA_B * LD::s * sizeof(float) + 2 * FA_B * LD::p * sizeof(bf16);
}
template <int HD> static size_t fa_dq_smem() {
    typedef fa_ld<HD> LD;
    return 4 * FA_B * LD::h * sizeof(bf16) + 2 * FA_B * LD::s * sizeof(float) +
           FA_B * LD::p * sizeof(bf16);
}

template <int HD>
static void fa_fwd(mb_ctx *ctx, void *out, void *lse, const void *qkv, int B, int T, int C,
                   int NH) {
    size_t sm = fa_fwd_smem<HD>();
    if (MB_CUDA_OK(ctx, cudaFuncSetAttribute(mb_fa_fwd_k<HD>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm)))
        return;
    dim3 grid((T + FA_B - 1) / FA_B, NH, B);
    mb_fa_fwd_k<HD><<<grid, FA_THREADS, sm, mb_cuda_stream(ctx)>>>(
        (bf16 *)out, (float *)lse, (const bf16 *)qkv, T, C, NH, 1.0f / sqrtf((float)HD));
    MB_CUDA_LAUNCHED(ctx);
}

template <int HD>
static void fa_bwd(mb_ctx *ctx, void *dqkv, const void *dout, const void *qkv, const void *out,
                   const void *lse, void *D, int B, int T, int C, int NH) {
    const float scale = 1.0f / sqrtf((float)HD);
    size_t rows = (size_t)B * T * NH;
    mb_fa_dot_k<HD><<<(unsigned)((rows * 32 + 255) / 256), 256, 0, mb_cuda_stream(ctx)>>>(
        (float *)D, (const bf16 *)dout, (const bf16 *)out, B, T, C, NH);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    dim3 grid((T + FA_B - 1) / FA_B, NH, B);
    size_t s1 = fa_dkv_smem<HD>(), s2 = fa_dq_smem<HD>();
    if (MB_CUDA_OK(ctx,
                   cudaFuncSetAttribute(mb_fa_dkv_k<HD>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s1)) ||
        MB_CUDA_OK(ctx, cudaFuncSetAttribute(mb_fa_dq_k<HD>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s2)))
        return;
    mb_fa_dkv_k<HD><<<grid, FA_THREADS, s1, mb_cuda_stream(ctx)>>>(
        (bf16 *)dqkv, (const bf16 *)qkv, (const bf16 *)dout, (const float *)lse, (const float *)D,
        T, C, NH, scale);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_fa_dq_k<HD><<<grid, FA_THREADS, s2, mb_cuda_stream(ctx)>>>(
        (bf16 *)dqkv, (const bf16 *)qkv, (const bf16 *)dout, (const float *)lse, (const float *)D,
        T, C, NH, scale);
    MB_CUDA_LAUNCHED(ctx);
}

/* Head sizes with a kernel: 32, 64, 128. */
extern "C" int mb_cuda_flash_head_ok(int hd) {
    return hd == 32 || hd == 64 || hd == 128;
}

extern "C" void mb_cuda_flash_fwd_bf16(struct mb_ctx *ctx, void *out, void *lse, const void *qkv,
                                       int B, int T, int C, int NH) {
    if (mb_cuda_failed(ctx) || B <= 0 || T <= 0) return;
    switch (C / NH) {
    case 32:
        fa_fwd<32>(ctx, out, lse, qkv, B, T, C, NH);
        break;
    case 64:
        fa_fwd<64>(ctx, out, lse, qkv, B, T, C, NH);
        break;
    case 128:
        fa_fwd<128>(ctx, out, lse, qkv, B, T, C, NH);
        break;
    default:
        mb_cuda_fail(ctx, MB_EUNSUPPORTED, __FILE__, __LINE__,
                     "flash attention: head size %d has no kernel (32, 64, 128)", C / NH);
    }
}

extern "C" void mb_cuda_flash_bwd_bf16(struct mb_ctx *ctx, void *dqkv, const void *dout,
                                       const void *qkv, const void *out, const void *lse, void *D,
                                       int B, int T, int C, int NH) {
    if (mb_cuda_failed(ctx) || B <= 0 || T <= 0) return;
    switch (C / NH) {
    case 32:
        fa_bwd<32>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH);
        break;
    case 64:
        fa_bwd<64>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH);
        break;
    case 128:
        fa_bwd<128>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH);
        break;
    default:
        mb_cuda_fail(ctx, MB_EUNSUPPORTED, __FILE__, __LINE__,
                     "flash attention: head size %d has no kernel (32, 64, 128)", C / NH);
    }
}
