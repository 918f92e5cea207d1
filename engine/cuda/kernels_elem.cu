/* engine/cuda/kernels_elem.cu — the CUDA GPT kernels other than GEMMs and attention: encoder,
 * LayerNorm, GELU, residual, cross-entropy, master weights and bias gradients, templated over the
 * storage type (float, bf16) with float math. Every reduction runs in a fixed order: no atomics.
 * The optimizers' kernels are their methods' (methods/<name>/<name>.cu). */
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

/* ---------------------------------------------------------------------------------------------- */
/* helpers */

#define MB_THREADS 256

/* ---------------------------------------------------------------------------------------------- */
/* encoder */

template <typename T, int V>
__global__ void mb_encoder_fwd_k(T *out, const int32_t *tok, const T *wte, const T *wpe, int Tn,
                                 int C, size_t nvec) {
    MB_GRID_LOOP(i, nvec) {
        size_t e = i * V, bt = e / (size_t)C;
        int c = (int)(e - bt * (size_t)C), t = (int)(bt % (size_t)Tn);
        mb_pk<T, V> a = *(const mb_pk<T, V> *)(wte + (size_t)tok[bt] * C + c), o = a;
        if (wpe) { /* NULL: no position embedding (llama), out = wte's row */
            mb_pk<T, V> p = *(const mb_pk<T, V> *)(wpe + (size_t)t * C + c);
#pragma unroll
            for (int k = 0; k < V; k++) mb_st(&o.v[k], mb_ld(&a.v[k]) + mb_ld(&p.v[k]));
        }
        *(mb_pk<T, V> *)(out + e) = o;
    }
}

template <typename T>
static void mb_encoder_fwd(mb_ctx *ctx, void *out, const int32_t *tok, const void *wte,
                           const void *wpe, int B, int Tn, int C) {
    if (mb_cuda_failed(ctx)) return;
    size_t n = (size_t)B * Tn * C;
    if (!n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (C % V == 0 && mb_al16(out) && mb_al16(wte) && mb_al16(wpe))
        mb_encoder_fwd_k<T, V><<<mb_cuda_blocks(n / V, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)out, tok, (const T *)wte, (const T *)wpe, Tn, C, n / V);
    else
        mb_encoder_fwd_k<T, 1><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)out, tok, (const T *)wte, (const T *)wpe, Tn, C, n);
    MB_CUDA_LAUNCHED(ctx);
}

/* dwte: one block per position i (blockIdx.x) and channel chunk (blockIdx.y). The block leaves
 * unless i is the first occurrence of its token; then it walks every position j >= i in ascending
 * order and adds the matching dout rows, starting from the old dwte value (the CPU's order). */
#define MB_ENC_THREADS 256
#define MB_ENC_PER 4   /* channels per thread */
#define MB_ENC_BATCH 8 /* rows loaded before they are added */
template <typename T>
__global__ void __launch_bounds__(MB_ENC_THREADS)
    mb_encoder_bwd_wte_k(T *dwte, const T *dout, const int32_t *tok, int BT, int C) {
    __shared__ int list[MB_ENC_THREADS];
    __shared__ unsigned masks[MB_ENC_THREADS / 32];
    const int i = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int token = tok[i];
    if (token < 0) return;
    for (int j0 = 0; j0 < i; j0 += MB_ENC_THREADS) {
        int j = j0 + tid;
        if (__syncthreads_or(j < i && tok[j] == token)) return; /* uniform over the block */
    }
    const int c0 = blockIdx.y * (MB_ENC_THREADS * MB_ENC_PER) + tid;
    T *dst = dwte + (size_t)token * C;
    float acc[MB_ENC_PER];
#pragma unroll
    for (int k = 0; k < MB_ENC_PER; k++) {
        int c = c0 + k * MB_ENC_THREADS;
        acc[k] = c < C ? mb_ld(dst + c) : 0.0f;
    }
    for (int j0 = i; j0 < BT; j0 += MB_ENC_THREADS) {
        int j = j0 + tid;
        int hit = j < BT && tok[j] == token;
        unsigned m = __ballot_sync(0xffffffffu, hit);
        if (lane == 0) masks[warp] = m;
        __syncthreads();
        int before = 0, total = 0;
        for (int w = 0; w < MB_ENC_THREADS / 32; w++) {
            int p = __popc(masks[w]);
            before += w < warp ? p : 0;
            total += p;
        }
        if (hit) list[before + __popc(m & ((1u << lane) - 1u))] = j; /* ascending j */
        __syncthreads();
        /* MB_ENC_BATCH rows' loads in flight, then added in ascending j */
        for (int q = 0; q < total; q += MB_ENC_BATCH) {
            float vals[MB_ENC_BATCH][MB_ENC_PER];
#pragma unroll
            for (int u = 0; u < MB_ENC_BATCH; u++) {
                /* unconditional loads from valid addresses; the extra ones are not added */
                const T *row = dout + (size_t)(q + u < total ? list[q + u] : i) * C;
#pragma unroll
                for (int k = 0; k < MB_ENC_PER; k++) {
                    int c = c0 + k * MB_ENC_THREADS;
                    vals[u][k] = mb_ld(row + (c < C ? c : C - 1));
                }
            }
#pragma unroll
            for (int u = 0; u < MB_ENC_BATCH; u++)
                if (q + u < total)
#pragma unroll
                    for (int k = 0; k < MB_ENC_PER; k++) acc[k] += vals[u][k];
        }
        __syncthreads(); /* list and masks are rewritten next round */
    }
#pragma unroll
    for (int k = 0; k < MB_ENC_PER; k++) {
        int c = c0 + k * MB_ENC_THREADS;
        if (c < C) mb_st(dst + c, acc[k]);
    }
}

/* dwpe[t, c] += dout[b, t, c] for b = 0, 1, ... in order. */
template <typename T>
__global__ void mb_encoder_bwd_wpe_k(T *dwpe, const T *dout, int B, int Tn, int C) {
    size_t TC = (size_t)Tn * C;
    MB_GRID_LOOP(i, TC) {
        float acc = mb_ld(dwpe + i);
        for (int b = 0; b < B; b++) acc += mb_ld(dout + (size_t)b * TC + i);
        mb_st(dwpe + i, acc);
    }
}

template <typename T>
static void mb_encoder_bwd(mb_ctx *ctx, void *dwte, void *dwpe, const void *dout,
                           const int32_t *tok, int B, int Tn, int C) {
    if (mb_cuda_failed(ctx)) return;
    if (B <= 0 || Tn <= 0 || C <= 0) return;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (dwte) {
        int chunk = MB_ENC_THREADS * MB_ENC_PER;
        dim3 grd((unsigned)(B * Tn), (unsigned)((C + chunk - 1) / chunk));
        mb_encoder_bwd_wte_k<T>
            <<<grd, MB_ENC_THREADS, 0, st>>>((T *)dwte, (const T *)dout, tok, B * Tn, C);
        if (MB_CUDA_LAUNCHED(ctx)) return;
    }
    if (dwpe) {
        size_t TC = (size_t)Tn * C;
        mb_encoder_bwd_wpe_k<T><<<mb_cuda_blocks(TC, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)dwpe, (const T *)dout, B, Tn, C);
        MB_CUDA_LAUNCHED(ctx);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* LayerNorm */

/* One warp per row, in packs of V elements (C % V == 0). */
template <typename T, int V>
__global__ void mb_layernorm_fwd_k(T *__restrict__ out, float *__restrict__ mean,
                                   float *__restrict__ rstd, const T *__restrict__ inp,
                                   const T *__restrict__ w, const T *__restrict__ b, int N, int C) {
    typedef mb_pk<T, V> P;
    int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const int np = C / V;
    const P *x = (const P *)(inp + (size_t)row * C), *wp = (const P *)w, *bp = (const P *)b;
    P *o = (P *)(out + (size_t)row * C);
    float s = 0.0f;
    for (int p = lane; p < np; p += 32) {
        P xp = x[p];
#pragma unroll
        for (int k = 0; k < V; k++) s += mb_ld(&xp.v[k]);
    }
    const float m = mb_warp_sum(s) / (float)C;
    float v = 0.0f;
    for (int p = lane; p < np; p += 32) {
        P xp = x[p];
#pragma unroll
        for (int k = 0; k < V; k++) {
            float d = mb_ld(&xp.v[k]) - m;
            v += d * d;
        }
    }
    v = mb_warp_sum(v) / (float)C;
    const float r = 1.0f / sqrtf(v + 1e-5f);
    for (int p = lane; p < np; p += 32) {
        P xp = x[p], ww = wp[p], bb = bp[p], op;
#pragma unroll
        for (int k = 0; k < V; k++)
            mb_st(&op.v[k], (mb_ld(&xp.v[k]) - m) * r * mb_ld(&ww.v[k]) + mb_ld(&bb.v[k]));
        o[p] = op;
    }
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

static inline int mb_ln_vec_ok(int C, int V, const void *a, const void *b, const void *c,
                               const void *d) {
    return C % V == 0 && mb_al16(a) && mb_al16(b) && mb_al16(c) && mb_al16(d);
}

template <typename T>
static void mb_layernorm_fwd(mb_ctx *ctx, void *out, void *mean, void *rstd, const void *inp,
                             const void *w, const void *b, int N, int C) {
    if (mb_cuda_failed(ctx)) return;
    if (N <= 0 || C <= 0) return;
    constexpr int V = 16 / sizeof(T);
    const int rows_per_block = MB_THREADS / 32, blocks = (N + rows_per_block - 1) / rows_per_block;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_ln_vec_ok(C, V, out, inp, w, b))
        mb_layernorm_fwd_k<T, V><<<blocks, MB_THREADS, 0, st>>>((T *)out, (float *)mean,
                                                                (float *)rstd, (const T *)inp,
                                                                (const T *)w, (const T *)b, N, C);
    else
        mb_layernorm_fwd_k<T, 1><<<blocks, MB_THREADS, 0, st>>>((T *)out, (float *)mean,
                                                                (float *)rstd, (const T *)inp,
                                                                (const T *)w, (const T *)b, N, C);
    MB_CUDA_LAUNCHED(ctx);
}

/* LayerNorm backward, per pack: the row sums of w*dout and w*dout*norm, and one element's dinp
 * increment. Shared by the two-kernel and the fused paths, so both give the same bits. */
template <typename T, int V>
__device__ __forceinline__ void mb_ln_bwd_dots(const mb_pk<T, V> &xp, const mb_pk<T, V> &dp,
                                               const mb_pk<T, V> &ww, float m, float s, float &dm,
                                               float &dnm) {
#pragma unroll
    for (int k = 0; k < V; k++) {
        float dn = mb_ld(&ww.v[k]) * mb_ld(&dp.v[k]);
        dm += dn;
        dnm += dn * (mb_ld(&xp.v[k]) - m) * s;
    }
}
__device__ __forceinline__ float mb_ln_bwd_dx(float w, float d, float norm, float dm, float dnm,
                                              float s) {
    return (w * d - dm - norm * dnm) * s;
}

/* dinp += ..., one warp per row, packs of V elements. */
template <typename T, int V>
__global__ void mb_layernorm_bwd_dinp_k(T *__restrict__ dinp, const T *__restrict__ dout,
                                        const T *__restrict__ inp, const T *__restrict__ w,
                                        const float *__restrict__ mean,
                                        const float *__restrict__ rstd, int N, int C) {
    typedef mb_pk<T, V> P;
    int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const int np = C / V;
    const P *x = (const P *)(inp + (size_t)row * C), *d = (const P *)(dout + (size_t)row * C);
    const P *wp = (const P *)w;
    P *di = (P *)(dinp + (size_t)row * C);
    const float m = mean[row], s = rstd[row];
    float dm = 0.0f, dnm = 0.0f;
    for (int p = lane; p < np; p += 32) mb_ln_bwd_dots<T, V>(x[p], d[p], wp[p], m, s, dm, dnm);
    dm = mb_warp_sum(dm) / (float)C;
    dnm = mb_warp_sum(dnm) / (float)C;
    for (int p = lane; p < np; p += 32) {
        P xp = x[p], dp = d[p], ww = wp[p], ip = di[p];
#pragma unroll
        for (int k = 0; k < V; k++) {
            float norm = (mb_ld(&xp.v[k]) - m) * s;
            mb_st(&ip.v[k], mb_ld(&ip.v[k]) +
                                mb_ln_bwd_dx(mb_ld(&ww.v[k]), mb_ld(&dp.v[k]), norm, dm, dnm, s));
        }
        di[p] = ip;
    }
}

/* Stage 1 of dw/db: partial sums over rows [r*rows_per, (r+1)*rows_per) for r = blockIdx.y, one
 * column per thread, into pw[r*C + c] and pb[r*C + c]. */
template <typename T>
__global__ void mb_layernorm_bwd_part_k(float *pw, float *pb, const T *dout, const T *inp,
                                        const float *mean, const float *rstd, int N, int C,
                                        int rows_per) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
    if (c >= C) return;
    int n0 = r * rows_per, n1 = n0 + rows_per < N ? n0 + rows_per : N;
    float gw = 0.0f, gb = 0.0f;
    for (int n = n0; n < n1; n++) {
        size_t i = (size_t)n * C + c;
        float d = mb_ld(dout + i);
        gw += (mb_ld(inp + i) - mean[n]) * rstd[n] * d;
        gb += d;
    }
    pw[(size_t)r * C + c] = gw;
    pb[(size_t)r * C + c] = gb;
}

/* LayerNorm backward in one pass: warp g of the grid takes rows g, g + W, ... (W warps in all),
 * adds to dinp (when not NULL) as mb_layernorm_bwd_dinp_k does, and keeps its columns' dw and db
 * partial sums in registers (J packs of V a lane: C <= 32*J*V); the block's warps then add theirs
 * into shared memory in warp order and the block writes one partial row of each, pw/pb[blockIdx.x
 * * C + c], for mb_colsum_final. Fixed order throughout: no atomics. */
#define MB_LNB_BLOCKS 256 /* partial rows: a function of nothing but this constant */
template <typename T, int V, int J>
__global__ void __launch_bounds__(MB_THREADS)
    mb_layernorm_bwd_fused_k(T *__restrict__ dinp, float *__restrict__ pw, float *__restrict__ pb,
                             const T *__restrict__ dout, const T *__restrict__ inp,
                             const T *__restrict__ w, const float *__restrict__ mean,
                             const float *__restrict__ rstd, int N, int C) {
    typedef mb_pk<T, V> P;
    extern __shared__ float mb_lnb_sh[]; /* dw partials [C], then db partials [C] */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int np = C / V;
    const P *wp = (const P *)w;
    float aw[J][V], ab[J][V];
#pragma unroll
    for (int j = 0; j < J; j++)
#pragma unroll
        for (int k = 0; k < V; k++) aw[j][k] = ab[j][k] = 0.0f;
    for (int row = blockIdx.x * nw + warp; row < N; row += gridDim.x * nw) {
        const P *x = (const P *)(inp + (size_t)row * C), *d = (const P *)(dout + (size_t)row * C);
        const float m = mean[row], s = rstd[row];
        float dm = 0.0f, dnm = 0.0f;
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int p = lane + 32 * j;
            if (p < np) mb_ln_bwd_dots<T, V>(x[p], d[p], wp[p], m, s, dm, dnm);
        }
        dm = mb_warp_sum(dm) / (float)C;
        dnm = mb_warp_sum(dnm) / (float)C;
        P *di = dinp ? (P *)(dinp + (size_t)row * C) : NULL;
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int p = lane + 32 * j;
            if (p < np) {
                P xp = x[p], dp = d[p], ww = wp[p];
                P ip;
                if (di) ip = di[p];
#pragma unroll
                for (int k = 0; k < V; k++) {
                    const float norm = (mb_ld(&xp.v[k]) - m) * s, dd = mb_ld(&dp.v[k]);
                    aw[j][k] += norm * dd;
                    ab[j][k] += dd;
                    if (di)
                        mb_st(&ip.v[k], mb_ld(&ip.v[k]) +
                                            mb_ln_bwd_dx(mb_ld(&ww.v[k]), dd, norm, dm, dnm, s));
                }
                if (di) di[p] = ip;
            }
        }
    }
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) mb_lnb_sh[c] = 0.0f;
    __syncthreads();
    for (int wi = 0; wi < nw; wi++) {
        if (warp == wi)
#pragma unroll
            for (int j = 0; j < J; j++) {
                const int p = lane + 32 * j;
                if (p < np)
#pragma unroll
                    for (int k = 0; k < V; k++) {
                        mb_lnb_sh[p * V + k] += aw[j][k];
                        mb_lnb_sh[C + p * V + k] += ab[j][k];
                    }
            }
        __syncthreads();
    }
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        pw[(size_t)blockIdx.x * C + c] = mb_lnb_sh[c];
        pb[(size_t)blockIdx.x * C + c] = mb_lnb_sh[C + c];
    }
}

/* The fused backward when it applies (packs line up, C fits J <= 8 packs a lane): 1 if launched
 * (or an error recorded), 0 to take the two-kernel path. */
template <typename T>
static int mb_layernorm_bwd_fused(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                                  const void *inp, const void *w, const void *mean,
                                  const void *rstd, int N, int C) {
    constexpr int V = 16 / sizeof(T);
    const int np = C / V, J = (np + 31) / 32;
    /* fp32 only, as the cached cross-entropy (measured together: see mb_crossentropy_fwd) */
    if (sizeof(T) != 4) return 0;
    if (!dw || !db || J > 8 || !mb_ln_vec_ok(C, V, dinp ? dinp : dout, dout, inp, w)) return 0;
    const int nw = MB_THREADS / 32, G0 = (N + nw - 1) / nw;
    const int G = G0 < MB_LNB_BLOCKS ? G0 : MB_LNB_BLOCKS;
    float *part = (float *)mb_cuda_scratch(ctx, (size_t)2 * G * C * sizeof(float));
    if (!part) return 1;
    float *pw = part, *pb = part + (size_t)G * C;
    const size_t sh = (size_t)2 * C * sizeof(float);
    cudaStream_t st = mb_cuda_stream(ctx);
#define MB_LNB_LAUNCH(JJ)                                                                          \
    mb_layernorm_bwd_fused_k<T, V, JJ>                                                             \
        <<<G, MB_THREADS, sh, st>>>((T *)dinp, pw, pb, (const T *)dout, (const T *)inp,            \
                                    (const T *)w, (const float *)mean, (const float *)rstd, N, C)
    if (J <= 1)
        MB_LNB_LAUNCH(1);
    else if (J <= 2)
        MB_LNB_LAUNCH(2);
    else if (J <= 4)
        MB_LNB_LAUNCH(4);
    else
        MB_LNB_LAUNCH(8);
#undef MB_LNB_LAUNCH
    if (MB_CUDA_LAUNCHED(ctx)) return 1;
    if (mb_colsum_final<T>(ctx, (T *)dw, pw, G, C)) return 1;
    mb_colsum_final<T>(ctx, (T *)db, pb, G, C);
    return 1;
}

template <typename T>
static void mb_layernorm_bwd(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                             const void *inp, const void *w, const void *mean, const void *rstd,
                             int N, int C) {
    if (mb_cuda_failed(ctx)) return;
    if (N <= 0 || C <= 0) return;
    if (mb_layernorm_bwd_fused<T>(ctx, dinp, dw, db, dout, inp, w, mean, rstd, N, C)) return;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (dinp) {
        constexpr int V = 16 / sizeof(T);
        const int rows_per_block = MB_THREADS / 32;
        const int blocks = (N + rows_per_block - 1) / rows_per_block;
        if (mb_ln_vec_ok(C, V, dinp, dout, inp, w))
            mb_layernorm_bwd_dinp_k<T, V><<<blocks, MB_THREADS, 0, st>>>(
                (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, (const float *)mean,
                (const float *)rstd, N, C);
        else
            mb_layernorm_bwd_dinp_k<T, 1><<<blocks, MB_THREADS, 0, st>>>(
                (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, (const float *)mean,
                (const float *)rstd, N, C);
        if (MB_CUDA_LAUNCHED(ctx)) return;
    }
    if (!dw && !db) return;
    int rows_per = (int)mb_colsum_rows_per((size_t)N), R = (N + rows_per - 1) / rows_per;
    float *part = (float *)mb_cuda_scratch(ctx, (size_t)2 * R * C * sizeof(float));
    if (!part) return;
    float *pw = part, *pb = part + (size_t)R * C;
    dim3 grd((unsigned)((C + MB_THREADS - 1) / MB_THREADS), (unsigned)R);
    mb_layernorm_bwd_part_k<T><<<grd, MB_THREADS, 0, st>>>(pw, pb, (const T *)dout, (const T *)inp,
                                                           (const float *)mean, (const float *)rstd,
                                                           N, C, rows_per);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    if (dw && mb_colsum_final<T>(ctx, (T *)dw, pw, R, C)) return;
    if (db) mb_colsum_final<T>(ctx, (T *)db, pb, R, C);
}

/* ---------------------------------------------------------------------------------------------- */
/* bias gradient: db[oc] += sum_n dout[n, oc] */

/* Partial column sums part[r, oc] over rows [64 r, 64 r + 64) of dout, V columns a load (16 bytes
 * where dout's rows are aligned, else 1): block (32 x 8 threads) sums its 64 rows of 32 V-wide
 * column packs, each of its 8 row lanes every 8th row, then the lanes in order. */
#define MB_BG_ROWS 64
template <typename T, int V>
__global__ void __launch_bounds__(256)
    mb_bias_grad_part_k(float *part, const T *dout, int N, int OC, int ld) {
    __shared__ float sh[8][32 * V + 1];
    const int tx = threadIdx.x, ty = threadIdx.y, c = (blockIdx.x * 32 + tx) * V;
    const int n0 = blockIdx.y * MB_BG_ROWS, n1 = min(n0 + MB_BG_ROWS, N);
    float s[V];
#pragma unroll
    for (int k = 0; k < V; k++) s[k] = 0.0f;
    if (c < OC)
#pragma unroll 4
        for (int n = n0 + ty; n < n1; n += 8) {
            mb_pk<T, V> a = *(const mb_pk<T, V> *)(dout + (size_t)n * ld + c);
#pragma unroll
            for (int k = 0; k < V; k++) s[k] += mb_ld(&a.v[k]);
        }
#pragma unroll
    for (int k = 0; k < V; k++) sh[ty][tx * V + k] = s[k];
    __syncthreads();
    /* 256 threads write the block's 32 V sums, each from the 8 lanes in order */
    for (int j = ty * 32 + tx; j < 32 * V; j += 256) {
        int cc = blockIdx.x * 32 * V + j;
        if (cc >= OC) continue;
        float t = 0.0f;
        for (int y = 0; y < 8; y++) t += sh[y][j];
        part[(size_t)blockIdx.y * OC + cc] = t;
    }
}

template <typename T, int V>
static void mb_bias_grad_v(mb_ctx *ctx, void *db, const void *dout, int N, int OC, int ld) {
    int R = (N + MB_BG_ROWS - 1) / MB_BG_ROWS;
    float *part = (float *)mb_cuda_scratch(ctx, (size_t)R * OC * sizeof(float));
    if (!part) return;
    dim3 grd((unsigned)((OC / V + 31) / 32), (unsigned)R), blk(32, 8);
    mb_bias_grad_part_k<T, V>
        <<<grd, blk, 0, mb_cuda_stream(ctx)>>>(part, (const T *)dout, N, OC, ld);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_colsum_final<T>(ctx, (T *)db, part, R, OC);
}

template <typename T>
static void mb_bias_grad(mb_ctx *ctx, void *db, const void *dout, int N, int OC, int ld) {
    if (mb_cuda_failed(ctx)) return;
    if (!db || N <= 0 || OC <= 0) return;
    constexpr int V = 16 / sizeof(T);
    if (OC % V == 0 && ld % V == 0 && mb_al16(dout))
        mb_bias_grad_v<T, V>(ctx, db, dout, N, OC, ld);
    else
        mb_bias_grad_v<T, 1>(ctx, db, dout, N, OC, ld);
}

/* ---------------------------------------------------------------------------------------------- */
/* GELU (tanh form) and residual */

#define MB_GELU_K 0.7978845608028654f /* sqrt(2/pi) */

__device__ __forceinline__ float mb_gelu_f(float x) {
    float u = MB_GELU_K * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

__device__ __forceinline__ float mb_gelu_grad_f(float x) {
    float u = MB_GELU_K * (x + 0.044715f * x * x * x);
    float th = tanhf(u);
    float sech2 = 1.0f - th * th;
    float du = MB_GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + th) + 0.5f * x * sech2 * du;
}

template <typename T, int V> __global__ void mb_gelu_fwd_k(T *out, const T *inp, size_t n) {
    size_t nv = n / V;
    MB_GRID_LOOP(i, nv) {
        mb_pk<T, V> x = *(const mb_pk<T, V> *)(inp + i * V), o;
#pragma unroll
        for (int k = 0; k < V; k++) mb_st(&o.v[k], mb_gelu_f(mb_ld(&x.v[k])));
        *(mb_pk<T, V> *)(out + i * V) = o;
    }
    MB_GRID_LOOP(j, n - nv * V) {
        size_t i = nv * V + j;
        mb_st(out + i, mb_gelu_f(mb_ld(inp + i)));
    }
}

/* dinp may alias dout: each element is read, then written, by one thread. */
template <typename T, int V>
__global__ void mb_gelu_bwd_k(T *dinp, const T *inp, const T *dout, size_t n) {
    size_t nv = n / V;
    MB_GRID_LOOP(i, nv) {
        mb_pk<T, V> x = *(const mb_pk<T, V> *)(inp + i * V);
        mb_pk<T, V> d = *(const mb_pk<T, V> *)(dout + i * V), o;
#pragma unroll
        for (int k = 0; k < V; k++) mb_st(&o.v[k], mb_gelu_grad_f(mb_ld(&x.v[k])) * mb_ld(&d.v[k]));
        *(mb_pk<T, V> *)(dinp + i * V) = o;
    }
    MB_GRID_LOOP(j, n - nv * V) {
        size_t i = nv * V + j;
        mb_st(dinp + i, mb_gelu_grad_f(mb_ld(inp + i)) * mb_ld(dout + i));
    }
}

template <typename T, int V>
__global__ void mb_residual_k(T *out, const T *a, const T *b, size_t n) {
    size_t nv = n / V;
    MB_GRID_LOOP(i, nv) {
        mb_pk<T, V> x = *(const mb_pk<T, V> *)(a + i * V);
        mb_pk<T, V> y = *(const mb_pk<T, V> *)(b + i * V), o;
#pragma unroll
        for (int k = 0; k < V; k++) mb_st(&o.v[k], mb_ld(&x.v[k]) + mb_ld(&y.v[k]));
        *(mb_pk<T, V> *)(out + i * V) = o;
    }
    MB_GRID_LOOP(j, n - nv * V) {
        size_t i = nv * V + j;
        mb_st(out + i, mb_ld(a + i) + mb_ld(b + i));
    }
}

template <typename T> static void mb_gelu_fwd(mb_ctx *ctx, void *out, const void *inp, size_t n) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_al16(out) && mb_al16(inp))
        mb_gelu_fwd_k<T, V><<<mb_cuda_blocks((n + V - 1) / V, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)out, (const T *)inp, n);
    else
        mb_gelu_fwd_k<T, 1>
            <<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, st>>>((T *)out, (const T *)inp, n);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_gelu_bwd(mb_ctx *ctx, void *dinp, const void *inp, const void *dout, size_t n) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_al16(dinp) && mb_al16(inp) && mb_al16(dout))
        mb_gelu_bwd_k<T, V><<<mb_cuda_blocks((n + V - 1) / V, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)dinp, (const T *)inp, (const T *)dout, n);
    else
        mb_gelu_bwd_k<T, 1><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)dinp, (const T *)inp, (const T *)dout, n);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_residual_fwd(mb_ctx *ctx, void *out, const void *a, const void *b, size_t n) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_al16(out) && mb_al16(a) && mb_al16(b))
        mb_residual_k<T, V><<<mb_cuda_blocks((n + V - 1) / V, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)out, (const T *)a, (const T *)b, n);
    else
        mb_residual_k<T, 1><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, st>>>(
            (T *)out, (const T *)a, (const T *)b, n);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* cross-entropy */

/* Merges a running (max, sum of exp(x - max)) pair with another. */
__device__ __forceinline__ void mb_lse_merge(float &m, float &s, float m2, float s2) {
    if (m2 > m) {
        s = s * expf(m - m2) + s2;
        m = m2;
    } else if (m2 != -INFINITY) {
        s += s2 * expf(m2 - m);
    }
}

/* A row of n elements at x splits into a scalar head (up to the first 16-byte boundary), 16-byte
 * packs of VEC elements, and a scalar tail. */
typedef struct mb_row_split {
    int head, nvec, tail0;
} mb_row_split;
template <typename T, int VEC> __device__ __forceinline__ mb_row_split mb_split(const T *x, int n) {
    mb_row_split r;
    r.head = (int)(((16 - ((uintptr_t)x & 15)) & 15) / sizeof(T));
    if (r.head > n) r.head = n;
    r.nvec = (n - r.head) / VEC;
    r.tail0 = r.head + r.nvec * VEC;
    return r;
}

/* One block per row, in place: (p - onehot) * scale; rows with target < 0 become 0. */
__device__ __forceinline__ float mb_ce_grad(float p, int v, int tg, float scale) {
    return tg < 0 ? 0.0f : (p - (v == tg ? 1.0f : 0.0f)) * scale;
}

/* exp(x - c) as exp2(x log2(e) - c log2(e)): one FMA and the hardware's base-2 exponential per
 * element instead of expf's range reduction; the product's rounding moves p by about |x| 2^-24
 * relatively (the fp32 tables' tolerance is 1e-5). */
#define MB_LOG2E 1.4426950408889634f
#define MB_CE_THREADS 1024
/* Largest row kept in shared memory (H100: 227 KiB a block): GPT-2's 50,304 fp32 logits fit. */
#define MB_CE_SMEM_MAX (200 * 1024)
/* One block per row: an online max / sum of exponentials in one pass over the row (16-byte loads),
 * a fixed-order block merge, the loss from the float logit, then the probabilities written over
 * the logits. With CACHE the first pass also copies the row's packs to shared memory and the
 * second reads them there, so the row crosses DRAM once each way; without it the second pass
 * goes in reverse order (the row's end is then still in L2). Both give the same bits. */
template <typename T, int CACHE>
__global__ void __launch_bounds__(MB_CE_THREADS)
    mb_crossentropy_fwd_k(float *losses, T *logits, const int32_t *targets, int V, int ld,
                          int fused, float scale) {
    constexpr int VEC = 16 / sizeof(T);
    extern __shared__ __align__(16) unsigned char mb_ce_smem[];
    mb_pk<T, VEC> *mb_ce_row = (mb_pk<T, VEC> *)mb_ce_smem;
    __shared__ float shm[MB_CE_THREADS / 32], shs[MB_CE_THREADS / 32];
    __shared__ float lse_sh;
    const int n = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    T *x = logits + (size_t)n * ld;
    const mb_row_split sp = mb_split<T, VEC>(x, V);
    float m = -INFINITY, s = 0.0f;
    /* two packs in flight per thread; each thread still takes its packs in ascending order */
    for (int i = tid; i < sp.nvec; i += 2 * MB_CE_THREADS) {
        const int i2 = i + MB_CE_THREADS, two = i2 < sp.nvec;
        mb_pk<T, VEC> pk[2];
        pk[0] = *(const mb_pk<T, VEC> *)(x + sp.head + (size_t)i * VEC);
        if (two) pk[1] = *(const mb_pk<T, VEC> *)(x + sp.head + (size_t)i2 * VEC);
        if (CACHE) {
            mb_ce_row[i] = pk[0];
            if (two) mb_ce_row[i2] = pk[1];
        }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            if (h == 1 && !two) break;
            float f[VEC], pm = -INFINITY;
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                f[k] = mb_ld(&pk[h].v[k]);
                pm = fmaxf(pm, f[k]);
            }
            if (pm > m) {
                s *= exp2f((m - pm) * MB_LOG2E);
                m = pm;
            }
            const float ml = m * MB_LOG2E;
#pragma unroll
            for (int k = 0; k < VEC; k++) s += exp2f(fmaf(f[k], MB_LOG2E, -ml));
        }
    }
    /* head and tail: fewer than VEC elements each */
    int e =
        tid < sp.head
            ? tid
            : (tid < 2 * VEC && sp.tail0 + tid - VEC < V && tid >= VEC ? sp.tail0 + tid - VEC : -1);
    if (e >= 0) mb_lse_merge(m, s, mb_ld(x + e), 1.0f);
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_down_sync(0xffffffffu, m, o), s2 = __shfl_down_sync(0xffffffffu, s, o);
        mb_lse_merge(m, s, m2, s2);
    }
    if (lane == 0) {
        shm[warp] = m;
        shs[warp] = s;
    }
    __syncthreads();
    if (tid == 0) {
        float bm = shm[0], bs = shs[0];
        for (int w = 1; w < MB_CE_THREADS / 32; w++) mb_lse_merge(bm, bs, shm[w], shs[w]);
        float lse = bm + logf(bs);
        int tg = targets ? targets[n] : -1;
        losses[n] = tg >= 0 ? lse - mb_ld(x + tg) : 0.0f; /* read before the row is overwritten */
        lse_sh = lse;
    }
    __syncthreads();
    const float lse = lse_sh, lsel = lse * MB_LOG2E;
    const int tg = targets ? targets[n] : -1;
    for (int j = tid; j < sp.nvec; j += MB_CE_THREADS) {
        const int i = CACHE ? j : sp.nvec - 1 - j; /* each thread reads back what it cached */
        mb_pk<T, VEC> *pp = (mb_pk<T, VEC> *)(x + sp.head + (size_t)i * VEC);
        mb_pk<T, VEC> pk = CACHE ? mb_ce_row[i] : *pp;
        const int v0 = sp.head + i * VEC;
#pragma unroll
        for (int k = 0; k < VEC; k++) {
            float p = exp2f(fmaf(mb_ld(&pk.v[k]), MB_LOG2E, -lsel));
            mb_st(&pk.v[k], fused ? mb_ce_grad(p, v0 + k, tg, scale) : p);
        }
        *pp = pk;
    }
    if (e >= 0) {
        float p = exp2f(fmaf(mb_ld(x + e), MB_LOG2E, -lsel));
        mb_st(x + e, fused ? mb_ce_grad(p, e, tg, scale) : p);
    }
}

template <typename T>
static void mb_crossentropy_fwd(mb_ctx *ctx, void *losses, void *logits, const int32_t *targets,
                                int N, int V, int ld, int fused, double scale) {
    if (mb_cuda_failed(ctx)) return;
    if (N <= 0 || V <= 0) return;
    const size_t row = ((size_t)V / (16 / sizeof(T)) + 1) * 16; /* packs of any row, bytes */
    /* fp32 only: bf16 rows (100 KB for GPT-2) stay in L2 anyway, and with both changes on, GPT-2
     * 124M bf16 went from 25.70 to 26.89 ms a step on the H100 (fp32: 161.5 -> 159.8) */
    if (sizeof(T) == 4 &&
        row <= MB_CE_SMEM_MAX) { /* its limit was raised by mb_cuda_kernels_init */
        mb_crossentropy_fwd_k<T, 1><<<N, MB_CE_THREADS, row, mb_cuda_stream(ctx)>>>(
            (float *)losses, (T *)logits, targets, V, ld, fused, (float)scale);
    } else {
        mb_crossentropy_fwd_k<T, 0><<<N, MB_CE_THREADS, 0, mb_cuda_stream(ctx)>>>(
            (float *)losses, (T *)logits, targets, V, ld, fused, (float)scale);
    }
    MB_CUDA_LAUNCHED(ctx);
}

#define MB_CEB_THREADS 512
template <typename T>
__global__ void __launch_bounds__(MB_CEB_THREADS)
    mb_crossentropy_bwd_k(T *probs, const int32_t *targets, int V, int ld, float scale) {
    constexpr int VEC = 16 / sizeof(T);
    const int n = blockIdx.x, tid = threadIdx.x;
    const int tg = targets[n];
    T *x = probs + (size_t)n * ld;
    const mb_row_split sp = mb_split<T, VEC>(x, V);
    for (int i = tid; i < sp.nvec; i += 2 * MB_CEB_THREADS) { /* two packs in flight */
        const int i2 = i + MB_CEB_THREADS, two = i2 < sp.nvec;
        mb_pk<T, VEC> *pp = (mb_pk<T, VEC> *)(x + sp.head) + i;
        mb_pk<T, VEC> pk[2];
        pk[0] = pp[0];
        if (two) pk[1] = pp[MB_CEB_THREADS];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int v0 = sp.head + (h ? i2 : i) * VEC;
#pragma unroll
            for (int k = 0; k < VEC; k++)
                mb_st(&pk[h].v[k], mb_ce_grad(mb_ld(&pk[h].v[k]), v0 + k, tg, scale));
        }
        pp[0] = pk[0];
        if (two) pp[MB_CEB_THREADS] = pk[1];
    }
    int e =
        tid < sp.head
            ? tid
            : (tid < 2 * VEC && sp.tail0 + tid - VEC < V && tid >= VEC ? sp.tail0 + tid - VEC : -1);
    if (e >= 0) mb_st(x + e, mb_ce_grad(mb_ld(x + e), e, tg, scale));
}

template <typename T>
static void mb_crossentropy_bwd(mb_ctx *ctx, void *probs, const int32_t *targets, int N, int V,
                                int ld, double scale) {
    if (mb_cuda_failed(ctx)) return;
    if (N <= 0 || V <= 0) return;
    mb_crossentropy_bwd_k<T>
        <<<N, MB_CEB_THREADS, 0, mb_cuda_stream(ctx)>>>((T *)probs, targets, V, ld, (float)scale);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* master weights: the weights widened to fp32 */

template <typename T> __global__ void mb_widen_k(float *dst, const T *src, size_t n) {
    MB_GRID_LOOP(i, n) dst[i] = mb_ld(src + i);
}

template <typename T> static void mb_widen(mb_ctx *ctx, void *dst, const void *src, size_t n) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    mb_widen_k<T><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (float *)dst, (const T *)src, n);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* extern "C" entry points */

#define MB_ELEM_WRAPPERS(sfx, T)                                                                   \
    extern "C" void mb_cuda_encoder_fwd_##sfx(struct mb_ctx *ctx, void *out, const int32_t *tok,   \
                                              const void *wte, const void *wpe, int B, int Tn,     \
                                              int C) {                                             \
        mb_encoder_fwd<T>(ctx, out, tok, wte, wpe, B, Tn, C);                                      \
    }                                                                                              \
    extern "C" void mb_cuda_encoder_bwd_##sfx(struct mb_ctx *ctx, void *dwte, void *dwpe,          \
                                              const void *dout, const int32_t *tok, int B, int Tn, \
                                              int C) {                                             \
        mb_encoder_bwd<T>(ctx, dwte, dwpe, dout, tok, B, Tn, C);                                   \
    }                                                                                              \
    extern "C" void mb_cuda_layernorm_fwd_##sfx(struct mb_ctx *ctx, void *out, void *mean,         \
                                                void *rstd, const void *inp, const void *w,        \
                                                const void *b, int N, int C) {                     \
        mb_layernorm_fwd<T>(ctx, out, mean, rstd, inp, w, b, N, C);                                \
    }                                                                                              \
    extern "C" void mb_cuda_layernorm_bwd_##sfx(                                                   \
        struct mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout, const void *inp,     \
        const void *w, const void *mean, const void *rstd, int N, int C) {                         \
        mb_layernorm_bwd<T>(ctx, dinp, dw, db, dout, inp, w, mean, rstd, N, C);                    \
    }                                                                                              \
    extern "C" void mb_cuda_gelu_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *inp,         \
                                           size_t n) {                                             \
        mb_gelu_fwd<T>(ctx, out, inp, n);                                                          \
    }                                                                                              \
    extern "C" void mb_cuda_gelu_bwd_##sfx(struct mb_ctx *ctx, void *dinp, const void *inp,        \
                                           const void *dout, size_t n) {                           \
        mb_gelu_bwd<T>(ctx, dinp, inp, dout, n);                                                   \
    }                                                                                              \
    extern "C" void mb_cuda_residual_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *a,       \
                                               const void *b, size_t n) {                          \
        mb_residual_fwd<T>(ctx, out, a, b, n);                                                     \
    }                                                                                              \
    extern "C" void mb_cuda_crossentropy_fwd_##sfx(struct mb_ctx *ctx, void *losses, void *logits, \
                                                   const int32_t *targets, int N, int V, int ld) { \
        mb_crossentropy_fwd<T>(ctx, losses, logits, targets, N, V, ld, 0, 0.0);                    \
    }                                                                                              \
    extern "C" void mb_cuda_crossentropy_fused_##sfx(struct mb_ctx *ctx, void *losses,             \
                                                     void *logits, const int32_t *targets, int N,  \
                                                     int V, int ld, double scale) {                \
        mb_crossentropy_fwd<T>(ctx, losses, logits, targets, N, V, ld, 1, scale);                  \
    }                                                                                              \
    extern "C" void mb_cuda_crossentropy_bwd_##sfx(struct mb_ctx *ctx, void *probs,                \
                                                   const int32_t *targets, int N, int V, int ld,   \
                                                   double scale) {                                 \
        mb_crossentropy_bwd<T>(ctx, probs, targets, N, V, ld, scale);                              \
    }                                                                                              \
    extern "C" void mb_cuda_widen_##sfx(struct mb_ctx *ctx, void *dst, const void *src,            \
                                        size_t n) {                                                \
        mb_widen<T>(ctx, dst, src, n);                                                             \
    }                                                                                              \
    extern "C" void mb_cuda_bias_grad_##sfx(struct mb_ctx *ctx, void *db, const void *dout, int N, \
                                            int OC, int ld) {                                      \
        mb_bias_grad<T>(ctx, db, dout, N, OC, ld);                                                 \
    }

MB_ELEM_WRAPPERS(f32, float)
MB_ELEM_WRAPPERS(bf16, __nv_bfloat16)

/* Once per context: the fp32 cross-entropy's dynamic shared memory limit, raised to the most a row
 * may take (MB_CE_SMEM_MAX). */
extern "C" cudaError_t mb_cuda_kernels_init(void) {
    return cudaFuncSetAttribute(mb_crossentropy_fwd_k<float, 1>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize, MB_CE_SMEM_MAX);
}
