/* engine/cuda/kernels_llama.cu — the CUDA LLaMA kernels (RMSNorm, rotary embedding, SwiGLU) over
 * float or bf16 storage, float math, fp32 statistics (engine/backend.h's contracts); RMSNorm's dw
 * sums in a fixed order (row-range partials, then per column): no atomics. */
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

#define MB_LL_THREADS 256 /* 8 rows (one a warp) per block in the row kernels */

static inline int mb_ll_row_blocks(int N) {
    const int rows_per_block = MB_LL_THREADS / 32;
    return (N + rows_per_block - 1) / rows_per_block;
}

/* ---------------------------------------------------------------------------------------------- */
/* RMSNorm */

/* One warp per row, V elements a lane through 16-byte accesses when the rows allow it (V = 1
 * otherwise): rstd = 1 / sqrt(mean(x^2) + eps), out = x * rstd * w. */
template <typename T, int V>
__global__ void mb_rmsnorm_fwd_k(T *out, float *rstd, const T *inp, const T *w, int N, int C,
                                 float eps) {
    const int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C;
    float ss = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        const mb_pk<T, V> xv = *(const mb_pk<T, V> *)(x + c);
#pragma unroll
        for (int k = 0; k < V; k++) {
            const float v = mb_ld(&xv.v[k]);
            ss += v * v;
        }
    }
    const float r = 1.0f / sqrtf(mb_warp_sum(ss) / (float)C + eps);
    T *o = out + (size_t)row * C;
    for (int c = lane * V; c < C; c += 32 * V) {
        const mb_pk<T, V> xv = *(const mb_pk<T, V> *)(x + c), wv = *(const mb_pk<T, V> *)(w + c);
        mb_pk<T, V> ov;
#pragma unroll
        for (int k = 0; k < V; k++) mb_st(&ov.v[k], mb_ld(&xv.v[k]) * r * mb_ld(&wv.v[k]));
        *(mb_pk<T, V> *)(o + c) = ov;
    }
    if (lane == 0) rstd[row] = r;
}

/* dinp += (w dout - x s mean(w dout x s)) s, one warp per row (s = the row's rstd), V as above. */
template <typename T, int V>
__global__ void mb_rmsnorm_bwd_dinp_k(T *dinp, const T *dout, const T *inp, const T *w,
                                      const float *rstd, int N, int C) {
    const int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
    const float s = rstd[row];
    float m = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        const mb_pk<T, V> xv = *(const mb_pk<T, V> *)(x + c), dv = *(const mb_pk<T, V> *)(d + c),
                          wv = *(const mb_pk<T, V> *)(w + c);
#pragma unroll
        for (int k = 0; k < V; k++) m += mb_ld(&wv.v[k]) * mb_ld(&dv.v[k]) * (mb_ld(&xv.v[k]) * s);
    }
    m = mb_warp_sum(m) / (float)C;
    T *di = dinp + (size_t)row * C;
    for (int c = lane * V; c < C; c += 32 * V) {
        const mb_pk<T, V> xv = *(const mb_pk<T, V> *)(x + c), dv = *(const mb_pk<T, V> *)(d + c),
                          wv = *(const mb_pk<T, V> *)(w + c);
        mb_pk<T, V> iv = *(const mb_pk<T, V> *)(di + c);
#pragma unroll
        for (int k = 0; k < V; k++)
            mb_st(&iv.v[k], mb_ld(&iv.v[k]) +
                                (mb_ld(&wv.v[k]) * mb_ld(&dv.v[k]) - mb_ld(&xv.v[k]) * s * m) * s);
        *(mb_pk<T, V> *)(di + c) = iv;
    }
}

/* Stage 1 of dw: part[r*C + c] = sum over rows [r*rows_per, (r+1)*rows_per) of x s dout, in row
 * order, one column per thread, r = blockIdx.y. */
template <typename T>
__global__ void mb_rmsnorm_bwd_part_k(float *part, const T *dout, const T *inp, const float *rstd,
                                      int N, int C, int rows_per) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
    if (c >= C) return;
    const int n0 = r * rows_per, n1 = n0 + rows_per < N ? n0 + rows_per : N;
    float g = 0.0f;
    for (int n = n0; n < n1; n++) {
        const size_t i = (size_t)n * C + c;
        g += mb_ld(inp + i) * rstd[n] * mb_ld(dout + i);
    }
    part[(size_t)r * C + c] = g;
}

template <typename T>
static void mb_rmsnorm_fwd(mb_ctx *ctx, void *out, void *rstd, const void *inp, const void *w,
                           int N, int C, double eps) {
    if (mb_cuda_failed(ctx) || N <= 0 || C <= 0) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (C % V == 0 && mb_al16(out) && mb_al16(inp) && mb_al16(w))
        mb_rmsnorm_fwd_k<T, V><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, st>>>(
            (T *)out, (float *)rstd, (const T *)inp, (const T *)w, N, C, (float)eps);
    else
        mb_rmsnorm_fwd_k<T, 1><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, st>>>(
            (T *)out, (float *)rstd, (const T *)inp, (const T *)w, N, C, (float)eps);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_rmsnorm_bwd(mb_ctx *ctx, void *dinp, void *dw, const void *dout, const void *inp,
                           const void *w, const void *rstd, int N, int C) {
    if (mb_cuda_failed(ctx) || N <= 0 || C <= 0) return;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (dinp) {
        constexpr int V = 16 / sizeof(T);
        if (C % V == 0 && mb_al16(dinp) && mb_al16(dout) && mb_al16(inp) && mb_al16(w))
            mb_rmsnorm_bwd_dinp_k<T, V><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, st>>>(
                (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, (const float *)rstd, N,
                C);
        else
            mb_rmsnorm_bwd_dinp_k<T, 1><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, st>>>(
                (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, (const float *)rstd, N,
                C);
        if (MB_CUDA_LAUNCHED(ctx)) return;
    }
    if (!dw) return;
    /* the row ranges depend on N alone: the same order, and bits, on every run */
    const int rows_per = (int)mb_colsum_rows_per((size_t)N), R = (N + rows_per - 1) / rows_per;
    float *part = (float *)mb_cuda_scratch(ctx, (size_t)R * C * sizeof(float));
    if (!part) return;
    dim3 grd((unsigned)((C + MB_LL_THREADS - 1) / MB_LL_THREADS), (unsigned)R);
    mb_rmsnorm_bwd_part_k<T><<<grd, MB_LL_THREADS, 0, st>>>(part, (const T *)dout, (const T *)inp,
                                                            (const float *)rstd, N, C, rows_per);
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_colsum_final<T>(ctx, (T *)dw, part, R, C); /* 16 rows of threads a column block */
}

/* ---------------------------------------------------------------------------------------------- */
/* rotary position embedding */

/* One thread per (b, t, i < hs/2): the angle t * theta^(-2i/hs) and its cos and sin in fp64, then
 * the pair (i, i + hs/2) of every one of the H heads of that row rotated in float. */
template <typename T>
__global__ void mb_rope_k(T *x, int B, int Tn, int H, int hs, int ld, double theta, int inverse) {
    const int half = hs / 2;
    const size_t n = (size_t)B * Tn * half;
    MB_GRID_LOOP(j, n) {
        const int i = (int)(j % (size_t)half);
        const size_t bt = j / (size_t)half;
        const int t = (int)(bt % (size_t)Tn);
        const double a = (double)t / pow(theta, (double)(2 * i) / hs);
        double sd, cd;
        sincos(a, &sd, &cd);
        const float c = (float)cd, s = (float)(inverse ? -sd : sd);
        T *row = x + bt * (size_t)ld;
        for (int h = 0; h < H; h++) {
            T *p = row + (size_t)h * hs;
            const float x1 = mb_ld(p + i), x2 = mb_ld(p + i + half);
            mb_st(p + i, x1 * c - x2 * s);
            mb_st(p + i + half, x2 * c + x1 * s);
        }
    }
}

template <typename T>
static void mb_rope(mb_ctx *ctx, void *x, int B, int Tn, int H, int hs, int ld, double theta,
                    int inverse) {
    if (mb_cuda_failed(ctx) || B <= 0 || Tn <= 0 || H <= 0 || hs < 2) return;
    if (hs % 2) {
        mb_cuda_fail(ctx, MB_EINVAL, __FILE__, __LINE__, "rope: head size %d is odd", hs);
        return;
    }
    const size_t n = (size_t)B * Tn * (hs / 2);
    mb_rope_k<T><<<mb_cuda_blocks(n, MB_LL_THREADS), MB_LL_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)x, B, Tn, H, hs, ld, theta, inverse);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* SwiGLU */

/* V elements a thread through 16-byte accesses where every pointer allows it (V = 1 otherwise);
 * the per-element arithmetic is the same either way, so the bits are too. */
__device__ __forceinline__ float mb_swiglu_f(float g, float u) {
    return g / (1.0f + expf(-g)) * u;
}

template <typename T, int V>
__global__ void mb_swiglu_fwd_k(T *out, const T *gate, const T *up, size_t n) {
    const size_t nv = n / V;
    MB_GRID_LOOP(i, nv) {
        mb_pk<T, V> g = *(const mb_pk<T, V> *)(gate + i * V);
        mb_pk<T, V> u = *(const mb_pk<T, V> *)(up + i * V), o;
#pragma unroll
        for (int k = 0; k < V; k++) mb_st(&o.v[k], mb_swiglu_f(mb_ld(&g.v[k]), mb_ld(&u.v[k])));
        *(mb_pk<T, V> *)(out + i * V) = o;
    }
    MB_GRID_LOOP(j, n - nv * V) {
        const size_t i = nv * V + j;
        mb_st(out + i, mb_swiglu_f(mb_ld(gate + i), mb_ld(up + i)));
    }
}

/* silu'(g) = sig (1 + g (1 - sig)); dgate may alias dout: each element is read, then written, by
 * one thread. */
__device__ __forceinline__ void mb_swiglu_grad_f(float g, float u, float d, float *dg, float *du) {
    const float e = 1.0f + expf(-g), sig = 1.0f / e;
    *dg = d * u * (sig * (1.0f + g * (1.0f - sig)));
    *du = d * (g / e);
}

template <typename T, int V>
__global__ void mb_swiglu_bwd_k(T *dgate, T *dup, const T *dout, const T *gate, const T *up,
                                size_t n) {
    const size_t nv = n / V;
    MB_GRID_LOOP(i, nv) {
        mb_pk<T, V> g = *(const mb_pk<T, V> *)(gate + i * V);
        mb_pk<T, V> u = *(const mb_pk<T, V> *)(up + i * V);
        mb_pk<T, V> d = *(const mb_pk<T, V> *)(dout + i * V), og, ou;
#pragma unroll
        for (int k = 0; k < V; k++) {
            float a, b;
            mb_swiglu_grad_f(mb_ld(&g.v[k]), mb_ld(&u.v[k]), mb_ld(&d.v[k]), &a, &b);
            mb_st(&og.v[k], a);
            mb_st(&ou.v[k], b);
        }
        *(mb_pk<T, V> *)(dgate + i * V) = og;
        *(mb_pk<T, V> *)(dup + i * V) = ou;
    }
    MB_GRID_LOOP(j, n - nv * V) {
        const size_t i = nv * V + j;
        float a, b;
        mb_swiglu_grad_f(mb_ld(gate + i), mb_ld(up + i), mb_ld(dout + i), &a, &b);
        mb_st(dgate + i, a);
        mb_st(dup + i, b);
    }
}

template <typename T>
static void mb_swiglu_fwd(mb_ctx *ctx, void *out, const void *gate, const void *up, size_t n) {
    if (mb_cuda_failed(ctx) || !n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_al16(out) && mb_al16(gate) && mb_al16(up))
        mb_swiglu_fwd_k<T, V>
            <<<mb_cuda_blocks((n + V - 1) / V, MB_LL_THREADS), MB_LL_THREADS, 0, st>>>(
                (T *)out, (const T *)gate, (const T *)up, n);
    else
        mb_swiglu_fwd_k<T, 1><<<mb_cuda_blocks(n, MB_LL_THREADS), MB_LL_THREADS, 0, st>>>(
            (T *)out, (const T *)gate, (const T *)up, n);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_swiglu_bwd(mb_ctx *ctx, void *dgate, void *dup, const void *dout, const void *gate,
                          const void *up, size_t n) {
    if (mb_cuda_failed(ctx) || !n) return;
    constexpr int V = 16 / sizeof(T);
    cudaStream_t st = mb_cuda_stream(ctx);
    if (mb_al16(dgate) && mb_al16(dup) && mb_al16(dout) && mb_al16(gate) && mb_al16(up))
        mb_swiglu_bwd_k<T, V>
            <<<mb_cuda_blocks((n + V - 1) / V, MB_LL_THREADS), MB_LL_THREADS, 0, st>>>(
                (T *)dgate, (T *)dup, (const T *)dout, (const T *)gate, (const T *)up, n);
    else
        mb_swiglu_bwd_k<T, 1><<<mb_cuda_blocks(n, MB_LL_THREADS), MB_LL_THREADS, 0, st>>>(
            (T *)dgate, (T *)dup, (const T *)dout, (const T *)gate, (const T *)up, n);
    MB_CUDA_LAUNCHED(ctx);
}

/* ---------------------------------------------------------------------------------------------- */
/* extern "C" entry points */

#define MB_LLAMA_WRAPPERS(sfx, T)                                                                  \
    extern "C" void mb_cuda_rmsnorm_fwd_##sfx(struct mb_ctx *ctx, void *out, void *rstd,           \
                                              const void *inp, const void *w, int N, int C,        \
                                              double eps) {                                        \
        mb_rmsnorm_fwd<T>(ctx, out, rstd, inp, w, N, C, eps);                                      \
    }                                                                                              \
    extern "C" void mb_cuda_rmsnorm_bwd_##sfx(struct mb_ctx *ctx, void *dinp, void *dw,            \
                                              const void *dout, const void *inp, const void *w,    \
                                              const void *rstd, int N, int C) {                    \
        mb_rmsnorm_bwd<T>(ctx, dinp, dw, dout, inp, w, rstd, N, C);                                \
    }                                                                                              \
    extern "C" void mb_cuda_rope_##sfx(struct mb_ctx *ctx, void *x, int B, int Tn, int H, int hs,  \
                                       int ld, double theta, int inverse) {                        \
        mb_rope<T>(ctx, x, B, Tn, H, hs, ld, theta, inverse);                                      \
    }                                                                                              \
    extern "C" void mb_cuda_swiglu_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *gate,      \
                                             const void *up, size_t n) {                           \
        mb_swiglu_fwd<T>(ctx, out, gate, up, n);                                                   \
    }                                                                                              \
    extern "C" void mb_cuda_swiglu_bwd_##sfx(struct mb_ctx *ctx, void *dgate, void *dup,           \
                                             const void *dout, const void *gate, const void *up,   \
                                             size_t n) {                                           \
        mb_swiglu_bwd<T>(ctx, dgate, dup, dout, gate, up, n);                                      \
    }

MB_LLAMA_WRAPPERS(f32, float)
MB_LLAMA_WRAPPERS(bf16, __nv_bfloat16)
