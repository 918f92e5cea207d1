/* methods/flash/flash.cu — memory-efficient exact causal grouped-query attention in bf16 on tensor
 * cores (mma.sync m16n8k16 fed by ldmatrix, fp32 accumulation), FlashAttention-2's tiling: forward
 * keeps an online softmax per query row and saves its log-sum-exp; backward recomputes the
 * probabilities from it, dk and dv per key block of a kv head over its query heads in order, and dq
 * per query block (two kernels, no atomics: deterministic). No T x T matrix exists. */
#include <math.h>
#include <cuda_pipeline.h>
#include <stdint.h>

#include "../../engine/cuda/cuda_common.h"
#include "flash_kernels.h"

typedef __nv_bfloat16 bf16;

#define FA_B 64        /* queries and keys per tile */
#define FA_THREADS 128 /* 4 warps, 16 rows each */

/* The row stride of a bf16 [64][HD] tile in shared memory: padded by 16 bytes so that ldmatrix's
 * eight row addresses fall in distinct banks; every row start 16-byte aligned. */
template <int HD> struct fa_ld {
    static constexpr int h = HD + 8;   /* bf16 [64][HD] tiles */
    static constexpr int s = FA_B + 4; /* float [rows][64] */
    static constexpr int p = FA_B + 8; /* bf16 [rows][64] */
    static constexpr int o = HD + 4;   /* float [64][HD] */
};

/* A 16 x 16 fp32 accumulator as two m16n8 MMA tiles, and a 16 x 16 bf16 A operand as one m16k16
 * MMA fragment (four packed pairs). Lane l holds rows l/4 and l/4 + 8, columns 2 (l % 4) + {0, 1}
 * and 8 more (fa_row, fa_col): the two layouts agree, so a tile of scores stays in registers from
 * S = Q K^T through the softmax into P V, as FlashAttention-2 keeps it. */
struct fa_acc {
    float x[8];
};
struct fa_a {
    uint32_t x[4];
};

__device__ __forceinline__ void fa_zero(fa_acc &a) {
#pragma unroll
    for (int i = 0; i < 8; i++) a.x[i] = 0.0f;
}

__device__ __forceinline__ uint32_t fa_saddr(const bf16 *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* Four 8 x 8 bf16 matrices from shared memory, each lane addressing one row; .trans transposes. */
__device__ __forceinline__ void fa_ldsm4(uint32_t *r, const bf16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(fa_saddr(p)));
}
__device__ __forceinline__ void fa_ldsm4t(uint32_t *r, const bf16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(fa_saddr(p)));
}

/* c[0..3] += A (16 x 16) . B (16 x 8), B as two packed k-halves. */
__device__ __forceinline__ void fa_mma(float *c, const fa_a &a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b0), "r"(b1));
}

/* Where accumulator element i of this lane sits in its 16 x 16 tile (see fa_acc). */
__device__ __forceinline__ int fa_row(int i) {
    return (int)(threadIdx.x % 32) / 4 + 8 * ((i >> 1) & 1);
}
__device__ __forceinline__ int fa_col(int i) {
    return (int)(threadIdx.x % 32) % 4 * 2 + (i & 1) + 8 * (i >> 2);
}

/* fa_load's copy issued asynchronously (cp.async, 16 bytes a thread at a time), so the next tile
 * arrives while this one is computed on; the caller commits and waits. Each thread copies the same
 * column of every (FA_THREADS / (HD / 8))-th row; rows past T are zeroed with plain stores. */
template <int HD>
__device__ __forceinline__ void fa_load_async(bf16 *dst, const bf16 *src, size_t ld, int r0,
                                              int T) {
    constexpr int per = HD / 8, step = FA_THREADS / per; /* rows a pass */
    const int r = (int)threadIdx.x / per, c = ((int)threadIdx.x % per) * 8;
    const bf16 *sp = src + (size_t)(r0 + r) * ld + c;
    bf16 *dp = dst + r * fa_ld<HD>::h + c;
#pragma unroll
    for (int j = 0; j < FA_B / step; j++) {
        bf16 *d = dp + j * step * fa_ld<HD>::h;
        if (r0 + r + j * step < T)
            __pipeline_memcpy_async(d, sp + (size_t)j * step * ld, 16);
        else
            *(uint4 *)d = make_uint4(0, 0, 0, 0);
    }
}

/* 64 rows of one head from a [B*T, ld] tensor into a padded tile, waited for (a kernel's first
 * tiles: the ones it keeps); rows at or past T are zero. Other copies in flight are waited for
 * too; the caller synchronises the block before reading. */
template <int HD>
__device__ __forceinline__ void fa_load(bf16 *dst, const bf16 *src, size_t ld, int r0, int T) {
    fa_load_async<HD>(dst, src, ld, r0, T);
    __pipeline_commit();
    __pipeline_wait_prior(0);
}

/* Key tile kb's k and v rows (the kv head's columns at kbase and vbase) issued into sK and sV. */
template <int HD>
__device__ __forceinline__ void fa_kv_issue(bf16 *sK, bf16 *sV, const bf16 *kbase,
                                            const bf16 *vbase, size_t ld, int kb, int T) {
    fa_load_async<HD>(sK, kbase, ld, kb * FA_B, T);
    fa_load_async<HD>(sV, vbase, ld, kb * FA_B, T);
    __pipeline_commit();
}

/* Before key tile kb's products (double buffers, tile kb at sK + (kb % 2) tiles): tile kb + 1
 * issued into the other buffer when there is one, then tile kb waited for by every thread. */
template <int HD>
__device__ __forceinline__ void fa_kv_next(bf16 *sK, bf16 *sV, const bf16 *kbase, const bf16 *vbase,
                                           size_t ld, int kb, int nkb, int T) {
    if (kb + 1 < nkb) {
        const int nx = ((kb + 1) & 1) * FA_B * fa_ld<HD>::h;
        fa_kv_issue<HD>(sK + nx, sV + nx, kbase, vbase, ld, kb + 1, T);
        __pipeline_wait_prior(1);
    } else {
        __pipeline_wait_prior(0);
    }
    __syncthreads();
}

/* A[16 x K] row-major at a (shared) into K/16 register fragments (a warp's rows, loaded once a
 * kernel). */
template <int K> __device__ __forceinline__ void fa_rows(fa_a *f, const bf16 *a, int lda) {
    const int l = (int)(threadIdx.x % 32);
#pragma unroll
    for (int k = 0; k < K / 16; k++) fa_ldsm4(f[k].x, a + (l % 16) * lda + k * 16 + (l / 16) * 8);
}

/* acc = A . B[K x 16] for A in register fragments (fa_rows) and B^T stored row-major at b (so B
 * is col-major: B(k, n) = b[n * ldb + k]); ldmatrix's rows are B's columns. */
template <int K>
__device__ __forceinline__ void fa_fbt(fa_acc &acc, const fa_a *a, const bf16 *b, int ldb) {
    const int l = (int)(threadIdx.x % 32);
    const bf16 *p = b + (l % 8 + (l / 16) * 8) * ldb + ((l / 8) % 2) * 8;
    fa_zero(acc);
#pragma unroll
    for (int k = 0; k < K / 16; k++) {
        uint32_t r[4];
        fa_ldsm4(r, p + k * 16);
        fa_mma(acc.x, a[k], r[0], r[1]);
        fa_mma(acc.x + 4, a[k], r[2], r[3]);
    }
}

/* acc += A . B[64 x 16] for A as four 16 x 16 register fragments, B row-major at b (transposed by
 * ldmatrix into the col-major operand). */
__device__ __forceinline__ void fa_ab(fa_acc &acc, const fa_a *a, const bf16 *b, int ldb) {
    const int l = (int)(threadIdx.x % 32);
    const bf16 *p = b + (l % 16) * ldb + (l / 16) * 8;
#pragma unroll
    for (int k = 0; k < FA_B / 16; k++) {
        uint32_t r[4];
        fa_ldsm4t(r, p + (size_t)k * 16 * ldb);
        fa_mma(acc.x, a[k], r[0], r[1]);
        fa_mma(acc.x + 4, a[k], r[2], r[3]);
    }
}

/* The two rows of a lane (i = 0: row lane/4, 1: row lane/4 + 8) reduced over the 4 lanes that
 * hold the rest of them. */
__device__ __forceinline__ float fa_rowmax(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float fa_rowsum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

/* 2^x in one MUFU instruction (|rel. error| < 2^-22; 2^-inf = +0, which the masks rely on). The
 * kernels work in base 2: scores are scaled by scale * log2(e) and the saved log-sum-exp is
 * converted, so each probability is one fused multiply-add and one ex2. */
__device__ __forceinline__ float fa_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#define FA_LOG2E 1.4426950408889634f

/* Fragment elements i and i + 1 (adjacent columns of one row) as one packed bf16 pair. */
__device__ __forceinline__ void fa_pack(fa_a &f, int i, float a, float b) {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    f.x[i >> 1] = *(const uint32_t *)&h;
}

/* A fragment's 16 rows (row0 on) times mul to bf16 at dst (row stride ld); rows at or past
 * `valid` are skipped. */
__device__ __forceinline__ void fa_put(bf16 *dst, size_t ld, const fa_acc &acc, float mul,
                                       int valid) {
#pragma unroll
    for (int i = 0; i < 8; i++)
        if (fa_row(i) < valid)
            dst[(size_t)fa_row(i) * ld + fa_col(i)] = __float2bfloat16_rn(acc.x[i] * mul);
}

/* The row width of qkv: NH query heads (C columns), then KV key heads and KV value heads. */
__device__ __forceinline__ size_t fa_width(int C, int KV, int HD) {
    return (size_t)C + 2 * (size_t)KV * HD;
}

/* Forward: block (query tile, query head, sequence); warp w owns rows 16w .. 16w+15 and keeps their
 * scores, probabilities and output in registers, with a running max and sum per row. k and v are
 * the head's kv head's, h / (NH/KV). */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    mb_fa_fwd_k(bf16 *out, float *lse, const bf16 *qkv, int T, int C, int NH, int KV, float scale) {
    typedef fa_ld<HD> LD;
    constexpr int TL = FA_B * LD::h; /* one tile */
    extern __shared__ __align__(32) unsigned char fa_smem[];
    bf16 *sQ = (bf16 *)fa_smem, *sK = sQ + TL, *sV = sK + 2 * TL; /* k, v double-buffered */
    /* the last query tiles, which see the most keys, are issued first */
    const int qt = (int)(gridDim.x - 1 - blockIdx.x);
    const int q0 = qt * FA_B, h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x / 32;
    const size_t ld = fa_width(C, KV, HD);
    const bf16 *base = qkv + (size_t)b * T * ld + (size_t)h * HD;
    const bf16 *kbase = qkv + (size_t)b * T * ld + C + (size_t)(h / (NH / KV)) * HD;
    const bf16 *vbase = kbase + (size_t)KV * HD;
    fa_load<HD>(sQ, base, ld, q0, T);
    const int qr = q0 + warp * 16; /* the warp's first query */
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    fa_a qf[HD / 16];
    __syncthreads();
    fa_rows<HD>(qf, sQ + warp * 16 * LD::h, LD::h);
    fa_acc o[HD / 16];
    for (int d = 0; d < HD / 16; d++) fa_zero(o[d]);
    const int nkb = min((q0 + FA_B - 1) / FA_B + 1, (T + FA_B - 1) / FA_B);
    const float sl2 = scale * FA_LOG2E; /* m, s: base-2 units */
    fa_kv_issue<HD>(sK, sV, kbase, vbase, ld, 0, T);
    for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * FA_B, cur = kb & 1;
        /* only a tile reaching past the warp's first query is masked; rows past T see keys past T
         * (zero rows) but are not written, and valid rows never reach past T */
        const bool diag = k0 + FA_B - 1 > qr;
        fa_kv_next<HD>(sK, sV, kbase, vbase, ld, kb, nkb, T);
        fa_acc s[FA_B / 16];
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < FA_B / 16; n++) {
            fa_fbt<HD>(s[n], qf, sK + cur * TL + n * 16 * LD::h, LD::h);
            if (diag)
#pragma unroll
                for (int i = 0; i < 8; i++)
                    if (k0 + n * 16 + fa_col(i) > qr + fa_row(i)) s[n].x[i] = -INFINITY;
#pragma unroll
            for (int i = 0; i < 8; i++) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[n].x[i]);
        }
        /* the max over raw scores (sl2 > 0), so each probability is one FMA and one ex2 */
        float alpha[2], sum[2] = {0.0f, 0.0f};
        for (int ri = 0; ri < 2; ri++) {
            float mn = fmaxf(m[ri], fa_rowmax(mx[ri]) * sl2); /* finite: key k0 <= q always */
            alpha[ri] = fa_exp2(m[ri] - mn);                  /* 0 on the first tile */
            m[ri] = mn;
        }
        fa_a pa[FA_B / 16];
#pragma unroll
        for (int n = 0; n < FA_B / 16; n++)
#pragma unroll
            for (int i = 0; i < 8; i += 2) {
                int ri = (i >> 1) & 1;
                float p0 = fa_exp2(fmaf(s[n].x[i], sl2, -m[ri]));
                float p1 = fa_exp2(fmaf(s[n].x[i + 1], sl2, -m[ri]));
                sum[ri] += p0 + p1;
                fa_pack(pa[n], i, p0, p1);
            }
        for (int ri = 0; ri < 2; ri++) l[ri] = l[ri] * alpha[ri] + fa_rowsum(sum[ri]);
#pragma unroll
        for (int d = 0; d < HD / 16; d++) {
#pragma unroll
            for (int i = 0; i < 8; i++) o[d].x[i] *= alpha[(i >> 1) & 1];
            fa_ab(o[d], pa, sV + cur * TL + d * 16, LD::h);
        }
        __syncthreads(); /* the buffer is reloaded two tiles on */
    }
    const int valid = min(16, T - qr);
    if (valid <= 0) return;
    bf16 *dst = out + ((size_t)b * T + qr) * C + (size_t)h * HD;
    const float il[2] = {1.0f / l[0], 1.0f / l[1]};
#pragma unroll
    for (int d = 0; d < HD / 16; d++)
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int row = fa_row(i);
            if (row < valid)
                dst[(size_t)row * C + d * 16 + fa_col(i)] =
                    __float2bfloat16_rn(o[d].x[i] * il[(i >> 1) & 1]);
        }
    if (threadIdx.x % 4 == 0)
        for (int ri = 0; ri < 2; ri++) {
            int row = (int)(threadIdx.x % 32) / 4 + 8 * ri;
            if (row < valid)
                lse[((size_t)b * NH + h) * T + qr + row] = m[ri] * (float)M_LN2 + logf(l[ri]);
        }
}

/* D[b, h, t] = sum_d dout[b, t, h, d] * out[b, t, h, d]: HD/8 lanes per (b, t, h), 16 bytes each,
 * summed across those lanes in a fixed order. */
template <int HD>
__global__ void mb_fa_dot_k(float *D, const bf16 *dout, const bf16 *out, int B, int T, int C,
                            int NH) {
    constexpr int per = HD / 8; /* lanes a row: 4, 8 or 16, so a row never straddles a warp */
    const size_t g = (size_t)blockIdx.x * blockDim.x + threadIdx.x, w = g / per;
    const int part = (int)(g % per);
    const bool ok = w < (size_t)B * T * NH;
    float s = 0.0f;
    const int h = (int)(w % NH);
    const size_t bt = w / NH;
    if (ok) {
        const size_t at = bt * C + (size_t)h * HD + part * 8;
        uint4 a = *(const uint4 *)(dout + at), o = *(const uint4 *)(out + at);
        const __nv_bfloat162 *a2 = (const __nv_bfloat162 *)&a, *o2 = (const __nv_bfloat162 *)&o;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float2 x = __bfloat1622float2(a2[k]), y = __bfloat1622float2(o2[k]);
            s += x.x * y.x + x.y * y.y;
        }
    }
#pragma unroll
    for (int m = 1; m < per; m <<= 1) s += __shfl_xor_sync(0xffffffffu, s, m);
    if (ok && !part) {
        int b = (int)(bt / T), t = (int)(bt % T);
        D[((size_t)b * NH + h) * T + t] = s;
    }
}

/* One query tile of the dk, dv kernel (its q, dO, base-2 lse and D rows at sQ, sO, sL, sD; its
 * first query q0; the warp's first key kr), in registers: S^T = K Q^T, dP^T = V dO^T, P^T =
 * exp(scale S^T - lse), dS^T = P^T (dP^T - D) (zero above the causal diagonal and past T); dv +=
 * P^T dO, dk += dS^T Q. */
template <int HD>
__device__ __forceinline__ void fa_dkv_tile(fa_acc *dk, fa_acc *dv, const fa_a *kf, const fa_a *vf,
                                            const bf16 *sQ, const bf16 *sO, const float *sL,
                                            const float *sD, int q0, int kr, float sl2) {
    typedef fa_ld<HD> LD;
    /* only a tile starting before the warp's last key is masked; queries past T have lse +inf
     * (p = 0), keys past T are not written */
    const bool diag = q0 < kr + 15;
    fa_a pa[FA_B / 16], dsa[FA_B / 16];
#pragma unroll
    for (int n = 0; n < FA_B / 16; n++) {
        fa_acc st, dpt;
        fa_fbt<HD>(st, kf, sQ + n * 16 * LD::h, LD::h);
        fa_fbt<HD>(dpt, vf, sO + n * 16 * LD::h, LD::h);
#pragma unroll
        for (int i = 0; i < 8; i += 2) {
            const int qc = n * 16 + fa_col(i), key = kr + fa_row(i); /* qc is even */
            const float2 Lp = *(const float2 *)&sL[qc];
            const float2 Dp = *(const float2 *)&sD[qc];
            float p0 = fa_exp2(st.x[i] * sl2 - Lp.x), p1 = fa_exp2(st.x[i + 1] * sl2 - Lp.y);
            if (diag) {
                if (q0 + qc < key) p0 = 0.0f;
                if (q0 + qc + 1 < key) p1 = 0.0f;
            }
            fa_pack(pa[n], i, p0, p1);
            fa_pack(dsa[n], i, p0 * (dpt.x[i] - Dp.x), p1 * (dpt.x[i + 1] - Dp.y));
        }
    }
#pragma unroll
    for (int d = 0; d < HD / 16; d++) {
        fa_ab(dv[d], pa, sO + d * 16, LD::h);
        fa_ab(dk[d], dsa, sQ + d * 16, LD::h);
    }
}

/* dk, dv: block (key tile, kv head kh, sequence); warp w owns keys 16w .. 16w+15; over the query
 * tiles at or after the key tile (fa_dkv_tile), double-buffered. GQ (KV < NH): the tiles of the
 * group's query heads kh*G .. kh*G + G-1 in that order, summed in fp32; !GQ: the one head's, the
 * loop multi-head attention has always run (its code, and bits, unchanged). */
template <int HD, bool GQ>
__global__ void __launch_bounds__(FA_THREADS, HD <= 64 ? 3 : 1) /* HD 64: 3 blocks an SM */
    mb_fa_dkv_k(bf16 *dqkv, const bf16 *qkv, const bf16 *dout, const float *lse, const float *D,
                int T, int C, int NH, int KV, float scale) {
    typedef fa_ld<HD> LD;
    constexpr int TL = FA_B * LD::h;
    extern __shared__ __align__(32) unsigned char fa_smem[];
    /* q, dO (sO), lse and D rows double-buffered */
    bf16 *sK = (bf16 *)fa_smem, *sV = sK + TL, *sQ = sV + TL, *sO = sQ + 2 * TL;
    float *sL = (float *)(sO + 2 * TL), *sD = sL + 2 * FA_B;
    const int k0 = blockIdx.x * FA_B, kh = blockIdx.y, b = blockIdx.z, warp = threadIdx.x / 32;
    /* the row width and the v columns' offset from the k columns (KV == NH: 3C and C) */
    const size_t ld = GQ ? fa_width(C, KV, HD) : 3 * (size_t)C;
    const size_t kv = GQ ? (size_t)KV * HD : (size_t)C;
    const bf16 *kbase = qkv + (size_t)b * T * ld + C + (size_t)kh * HD;
    fa_load<HD>(sK, kbase, ld, k0, T);
    fa_load<HD>(sV, kbase + kv, ld, k0, T);
    fa_acc dk[HD / 16], dv[HD / 16];
    for (int n = 0; n < HD / 16; n++) fa_zero(dk[n]), fa_zero(dv[n]);
    const int kr = k0 + warp * 16; /* the warp's first key */
    const int nqb = (T + FA_B - 1) / FA_B;
    const float sl2 = scale * FA_LOG2E;
    fa_a kf[HD / 16], vf[HD / 16];
    __syncthreads();
    fa_rows<HD>(kf, sK + warp * 16 * LD::h, LD::h);
    fa_rows<HD>(vf, sV + warp * 16 * LD::h, LD::h);
    /* query tile q (its first row) of the query head at base, obase, L, Dd into buffer j */
    auto issue = [&](const bf16 *base, const bf16 *obase, const float *L, const float *Dd, int q,
                     int j) {
        fa_load_async<HD>(sQ + j * TL, base, ld, q, T);
        fa_load_async<HD>(sO + j * TL, obase, C, q, T);
        for (int i = threadIdx.x; i < FA_B; i += FA_THREADS) {
            sL[j * FA_B + i] = q + i < T ? L[q + i] * FA_LOG2E : INFINITY; /* base 2 */
            sD[j * FA_B + i] = q + i < T ? Dd[q + i] : 0.0f;
        }
        __pipeline_commit();
    };
    if constexpr (!GQ) {
        const bf16 *base = qkv + (size_t)b * T * ld + (size_t)kh * HD;
        const bf16 *obase = dout + (size_t)b * T * C + (size_t)kh * HD;
        const float *L = lse + ((size_t)b * NH + kh) * T, *Dd = D + ((size_t)b * NH + kh) * T;
        issue(base, obase, L, Dd, blockIdx.x * FA_B, 0);
        for (int qb = blockIdx.x; qb < nqb; qb++) {
            const int q0 = qb * FA_B, cur = (qb - blockIdx.x) & 1;
            if (qb + 1 < nqb) {
                issue(base, obase, L, Dd, q0 + FA_B, cur ^ 1);
                __pipeline_wait_prior(1);
            } else {
                __pipeline_wait_prior(0);
            }
            __syncthreads();
            fa_dkv_tile<HD>(dk, dv, kf, vf, sQ + cur * TL, sO + cur * TL, sL + cur * FA_B,
                            sD + cur * FA_B, q0, kr, sl2);
            __syncthreads(); /* the buffers are reloaded two tiles on */
        }
    } else {
        /* one stream of (head, tile) steps: head h = kh*G .. in order, tiles blockIdx.x .. nqb-1 */
        const int G = NH / KV, h1 = kh * G + G;
        int h = kh * G, qb = blockIdx.x, cur = 0;
        auto issue_h = [&](int hh, int q, int j) {
            issue(qkv + (size_t)b * T * ld + (size_t)hh * HD,
                  dout + (size_t)b * T * C + (size_t)hh * HD, lse + ((size_t)b * NH + hh) * T,
                  D + ((size_t)b * NH + hh) * T, q, j);
        };
        issue_h(h, qb * FA_B, 0);
        for (;;) {
            const int nq = qb + 1 < nqb ? qb + 1 : (int)blockIdx.x, nh = qb + 1 < nqb ? h : h + 1;
            const bool more = nh < h1;
            if (more) {
                issue_h(nh, nq * FA_B, cur ^ 1);
                __pipeline_wait_prior(1);
            } else {
                __pipeline_wait_prior(0);
            }
            __syncthreads();
            fa_dkv_tile<HD>(dk, dv, kf, vf, sQ + cur * TL, sO + cur * TL, sL + cur * FA_B,
                            sD + cur * FA_B, qb * FA_B, kr, sl2);
            __syncthreads(); /* the buffers are reloaded two tiles on */
            if (!more) break;
            qb = nq, h = nh, cur ^= 1;
        }
    }
    const int valid = min(16, T - kr);
    if (valid <= 0) return;
    bf16 *dst = dqkv + ((size_t)b * T + kr) * ld + C + (size_t)kh * HD;
    for (int d = 0; d < HD / 16; d++) {
        fa_put(dst + d * 16, ld, dk[d], scale, valid);
        fa_put(dst + kv + d * 16, ld, dv[d], 1.0f, valid);
    }
}

/* dq: block (query tile, query head, sequence); warp w owns queries 16w .. 16w+15: per key tile up
 * to the diagonal, in registers, S = Q K^T, dP = dO V^T, dS = P (dP - D), dq += dS K (k and v of
 * the head's kv head). */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    mb_fa_dq_k(bf16 *dqkv, const bf16 *qkv, const bf16 *dout, const float *lse, const float *D,
               int T, int C, int NH, int KV, float scale) {
    typedef fa_ld<HD> LD;
    constexpr int TL = FA_B * LD::h;
    extern __shared__ __align__(32) unsigned char fa_smem[];
    bf16 *sQ = (bf16 *)fa_smem, *sO = sQ + TL, *sK = sO + TL, *sV = sK + 2 * TL; /* k, v: two */
    /* the last query tiles, which see the most keys, are issued first */
    const int qt = (int)(gridDim.x - 1 - blockIdx.x);
    const int q0 = qt * FA_B, h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x / 32;
    const size_t ld = fa_width(C, KV, HD);
    const bf16 *base = qkv + (size_t)b * T * ld + (size_t)h * HD;
    const bf16 *kbase = qkv + (size_t)b * T * ld + C + (size_t)(h / (NH / KV)) * HD;
    const bf16 *vbase = kbase + (size_t)KV * HD;
    fa_load<HD>(sQ, base, ld, q0, T);
    fa_load<HD>(sO, dout + (size_t)b * T * C + (size_t)h * HD, C, q0, T);
    const int qr = q0 + warp * 16;
    float Lq[2], Dq[2];
    for (int ri = 0; ri < 2; ri++) {
        int q = qr + (int)(threadIdx.x % 32) / 4 + 8 * ri;
        size_t row = ((size_t)b * NH + h) * T + q;
        Lq[ri] = q < T ? lse[row] * FA_LOG2E : INFINITY; /* base 2 */
        Dq[ri] = q < T ? D[row] : 0.0f;
    }
    fa_acc dq[HD / 16];
    for (int n = 0; n < HD / 16; n++) fa_zero(dq[n]);
    fa_a qf[HD / 16], of[HD / 16];
    __syncthreads();
    fa_rows<HD>(qf, sQ + warp * 16 * LD::h, LD::h);
    fa_rows<HD>(of, sO + warp * 16 * LD::h, LD::h);
    const int nkb = min(qt + 1, (T + FA_B - 1) / FA_B);
    const float sl2 = scale * FA_LOG2E;
    fa_kv_issue<HD>(sK, sV, kbase, vbase, ld, 0, T);
    for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * FA_B, cur = kb & 1;
        fa_kv_next<HD>(sK, sV, kbase, vbase, ld, kb, nkb, T);
        /* only the diagonal tile is masked: there it also hides keys past T from valid queries;
         * elsewhere those keys' rows are zero and add nothing to dq */
        const bool diag = k0 + FA_B - 1 > qr;
        fa_a dsa[FA_B / 16];
#pragma unroll
        for (int n = 0; n < FA_B / 16; n++) {
            fa_acc s, dp;
            fa_fbt<HD>(s, qf, sK + cur * TL + n * 16 * LD::h, LD::h);
            fa_fbt<HD>(dp, of, sV + cur * TL + n * 16 * LD::h, LD::h);
#pragma unroll
            for (int i = 0; i < 8; i += 2) {
                const int key = k0 + n * 16 + fa_col(i), q = qr + fa_row(i), ri = (i >> 1) & 1;
                float p0 = fa_exp2(s.x[i] * sl2 - Lq[ri]), p1 = fa_exp2(s.x[i + 1] * sl2 - Lq[ri]);
                if (diag) {
                    if (key > q) p0 = 0.0f;
                    if (key + 1 > q) p1 = 0.0f;
                }
                fa_pack(dsa[n], i, p0 * (dp.x[i] - Dq[ri]), p1 * (dp.x[i + 1] - Dq[ri]));
            }
        }
#pragma unroll
        for (int d = 0; d < HD / 16; d++) fa_ab(dq[d], dsa, sK + cur * TL + d * 16, LD::h);
        __syncthreads(); /* the buffers are reloaded two tiles on */
    }
    const int valid = min(16, T - qr);
    if (valid <= 0) return;
    bf16 *dst = dqkv + ((size_t)b * T + qr) * ld + (size_t)h * HD;
    for (int d = 0; d < HD / 16; d++) fa_put(dst + d * 16, ld, dq[d], scale, valid);
}

template <int HD> static size_t fa_fwd_smem() { /* q, two k, two v */
    return 5 * FA_B * fa_ld<HD>::h * sizeof(bf16);
}
template <int HD> static size_t fa_dkv_smem() { /* k, v, two q, two dO, two lse and D rows */
    return 6 * FA_B * fa_ld<HD>::h * sizeof(bf16) + 4 * FA_B * sizeof(float);
}
template <int HD> static size_t fa_dq_smem() { /* q, dO, two k, two v */
    return 6 * FA_B * fa_ld<HD>::h * sizeof(bf16);
}

template <int HD>
static void fa_fwd(mb_ctx *ctx, void *out, void *lse, const void *qkv, int B, int T, int C, int NH,
                   int KV) {
    size_t sm = fa_fwd_smem<HD>(); /* its limit was raised by mb_flash_init */
    dim3 grid((T + FA_B - 1) / FA_B, NH, B);
    mb_fa_fwd_k<HD><<<grid, FA_THREADS, sm, mb_cuda_stream(ctx)>>>(
        (bf16 *)out, (float *)lse, (const bf16 *)qkv, T, C, NH, KV, 1.0f / sqrtf((float)HD));
    MB_CUDA_LAUNCHED(ctx);
}

template <int HD>
static void fa_bwd(mb_ctx *ctx, void *dqkv, const void *dout, const void *qkv, const void *out,
                   const void *lse, void *D, int B, int T, int C, int NH, int KV) {
    const float scale = 1.0f / sqrtf((float)HD);
    size_t rows = (size_t)B * T * NH;
    mb_fa_dot_k<HD><<<(unsigned)((rows * (HD / 8) + 255) / 256), 256, 0, mb_cuda_stream(ctx)>>>(
        (float *)D, (const bf16 *)dout, (const bf16 *)out, B, T, C, NH);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    dim3 grid((T + FA_B - 1) / FA_B, NH, B), kvgrid((T + FA_B - 1) / FA_B, KV, B);
    size_t s1 = fa_dkv_smem<HD>(), s2 = fa_dq_smem<HD>(); /* raised by mb_flash_init */
    if (KV == NH)
        mb_fa_dkv_k<HD, false><<<kvgrid, FA_THREADS, s1, mb_cuda_stream(ctx)>>>(
            (bf16 *)dqkv, (const bf16 *)qkv, (const bf16 *)dout, (const float *)lse,
            (const float *)D, T, C, NH, KV, scale);
    else
        mb_fa_dkv_k<HD, true><<<kvgrid, FA_THREADS, s1, mb_cuda_stream(ctx)>>>(
            (bf16 *)dqkv, (const bf16 *)qkv, (const bf16 *)dout, (const float *)lse,
            (const float *)D, T, C, NH, KV, scale);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_fa_dq_k<HD><<<grid, FA_THREADS, s2, mb_cuda_stream(ctx)>>>(
        (bf16 *)dqkv, (const bf16 *)qkv, (const bf16 *)dout, (const float *)lse, (const float *)D,
        T, C, NH, KV, scale);
    MB_CUDA_LAUNCHED(ctx);
}

/* The dynamic shared memory each kernel takes for head size HD, allowed once per context. */
template <int HD> static cudaError_t fa_init() {
    cudaError_t e = cudaFuncSetAttribute(
        mb_fa_fwd_k<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)fa_fwd_smem<HD>());
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(mb_fa_dkv_k<HD, false>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)fa_dkv_smem<HD>());
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(mb_fa_dkv_k<HD, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)fa_dkv_smem<HD>());
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(mb_fa_dq_k<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)fa_dq_smem<HD>());
    return e;
}

static cudaError_t fa_init_all(void) {
    cudaError_t e = fa_init<32>();
    if (e == cudaSuccess) e = fa_init<64>();
    return e == cudaSuccess ? fa_init<128>() : e;
}

/* The table's init: the shared-memory limits of every kernel, once per context (the flash method's
 * init). */
static mb_status mb_flash_init(mb_ctx *ctx) {
    if (!mb_cuda_failed(ctx)) MB_CUDA_OK(ctx, fa_init_all());
    return mb_cuda_of(ctx)->err;
}

/* Head sizes with a kernel: 32, 64, 128. */
static int mb_flash_head_ok(int hd) {
    return hd == 32 || hd == 64 || hd == 128;
}

/* NH query heads over KV kv heads, NH % KV == 0: 1 after recording an error. */
static int mb_flash_heads_bad(mb_ctx *ctx, int NH, int KV) {
    if (NH > 0 && KV > 0 && NH % KV == 0) return 0;
    mb_cuda_fail(ctx, MB_EINVAL, __FILE__, __LINE__,
                 "flash attention: %d query heads cannot share %d kv heads", NH, KV);
    return 1;
}

static void mb_flash_fwd(mb_ctx *ctx, void *out, void *lse, const void *qkv, int B, int T, int C,
                         int NH, int KV) {
    if (mb_cuda_failed(ctx) || B <= 0 || T <= 0 || mb_flash_heads_bad(ctx, NH, KV)) return;
    switch (C / NH) {
    case 32:
        fa_fwd<32>(ctx, out, lse, qkv, B, T, C, NH, KV);
        break;
    case 64:
        fa_fwd<64>(ctx, out, lse, qkv, B, T, C, NH, KV);
        break;
    case 128:
        fa_fwd<128>(ctx, out, lse, qkv, B, T, C, NH, KV);
        break;
    default:
        mb_cuda_fail(ctx, MB_EUNSUPPORTED, __FILE__, __LINE__,
                     "flash attention: head size %d has no kernel (32, 64, 128)", C / NH);
    }
}

static void mb_flash_bwd(mb_ctx *ctx, void *dqkv, const void *dout, const void *qkv,
                         const void *out, const void *lse, void *D, int B, int T, int C, int NH,
                         int KV) {
    if (mb_cuda_failed(ctx) || B <= 0 || T <= 0 || mb_flash_heads_bad(ctx, NH, KV)) return;
    switch (C / NH) {
    case 32:
        fa_bwd<32>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH, KV);
        break;
    case 64:
        fa_bwd<64>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH, KV);
        break;
    case 128:
        fa_bwd<128>(ctx, dqkv, dout, qkv, out, lse, D, B, T, C, NH, KV);
        break;
    default:
        mb_cuda_fail(ctx, MB_EUNSUPPORTED, __FILE__, __LINE__,
                     "flash attention: head size %d has no kernel (32, 64, 128)", C / NH);
    }
}

extern "C" const mb_flash_kernels mb_flash_cuda_bf16 = {.init = mb_flash_init,
                                                        .flash_fwd = mb_flash_fwd,
                                                        .flash_bwd = mb_flash_bwd,
                                                        .flash_head_ok = mb_flash_head_ok};
