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

/* One warp per row: rstd = 1 / sqrt(mean(x^2) + eps), out = x * rstd * w. */
template <typename T>
__global__ void mb_rmsnorm_fwd_k(T *out, float *rstd, const T *inp, const T *w, int N, int C,
                                 float eps) {
    const int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C;
    float ss = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float v = mb_ld(x + c);
        ss += v * v;
    }
    const float r = 1.0f / sqrtf(mb_warp_sum(ss) / (float)C + eps);
    T *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) mb_st(o + c, mb_ld(x + c) * r * mb_ld(w + c));
    if (lane == 0) rstd[row] = r;
}

/* dinp += (w dout - x s mean(w dout x s)) s, one warp per row (s = the row's rstd). */
template <typename T>
__global__ void mb_rmsnorm_bwd_dinp_k(T *dinp, const T *dout, const T *inp, const T *w,
                                      const float *rstd, int N, int C) {
    const int row = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
    const float s = rstd[row];
    float m = 0.0f;
    for (int c = lane; c < C; c += 32) m += mb_ld(w + c) * mb_ld(d + c) * (mb_ld(x + c) * s);
    m = mb_warp_sum(m) / (float)C;
    T *di = dinp + (size_t)row * C;
    for (int c = lane; c < C; c += 32)
        mb_st(di + c, mb_ld(di + c) + (mb_ld(w + c) * mb_ld(d + c) - mb_ld(x + c) * s * m) * s);
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

/* Stage 2: dw[c] += the R partial sums of column c, in order r = 0 .. R-1. */
template <typename T>
__global__ void mb_rmsnorm_bwd_final_k(T *dw, const float *part, int R, int C) {
    MB_GRID_LOOP(c, (size_t)C) {
        float s = 0.0f;
        for (int r = 0; r < R; r++) s += part[(size_t)r * C + c];
        mb_st(dw + c, mb_ld(dw + c) + s);
    }
}

template <typename T>
static void mb_rmsnorm_fwd(mb_ctx *ctx, void *out, void *rstd, const void *inp, const void *w,
                           int N, int C, double eps) {
    if (mb_cuda_failed(ctx) || N <= 0 || C <= 0) return;
    mb_rmsnorm_fwd_k<T><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)out, (float *)rstd, (const T *)inp, (const T *)w, N, C, (float)eps);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_rmsnorm_bwd(mb_ctx *ctx, void *dinp, void *dw, const void *dout, const void *inp,
                           const void *w, const void *rstd, int N, int C) {
    if (mb_cuda_failed(ctx) || N <= 0 || C <= 0) return;
    cudaStream_t st = mb_cuda_stream(ctx);
    if (dinp) {
        mb_rmsnorm_bwd_dinp_k<T><<<mb_ll_row_blocks(N), MB_LL_THREADS, 0, st>>>(
            (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, (const float *)rstd, N, C);
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
    mb_rmsnorm_bwd_final_k<T>
        <<<mb_cuda_blocks((size_t)C, MB_LL_THREADS), MB_LL_THREADS, 0, st>>>((T *)dw, part, R, C);
    MB_CUDA_LAUNCHED(ctx);
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

template <typename T>
__global__ void mb_swiglu_fwd_k(T *out, const T *gate, const T *up, size_t n) {
    MB_GRID_LOOP(i, n) {
        const float g = mb_ld(gate + i);
        mb_st(out + i, g / (1.0f + expf(-g)) * mb_ld(up + i));
    }
}

/* silu'(g) = sig (1 + g (1 - sig)); dgate may alias dout: each element is read, then written, by
 * one thread. */
template <typename T>
__global__ void mb_swiglu_bwd_k(T *dgate, T *dup, const T *dout, const T *gate, const T *up,
                                size_t n) {
    MB_GRID_LOOP(i, n) {
        const float g = mb_ld(gate + i), u = mb_ld(up + i), d = mb_ld(dout + i);
        const float e = 1.0f + expf(-g), sig = 1.0f / e;
        mb_st(dgate + i, d * u * (sig * (1.0f + g * (1.0f - sig))));
        mb_st(dup + i, d * (g / e));
    }
}

template <typename T>
static void mb_swiglu_fwd(mb_ctx *ctx, void *out, const void *gate, const void *up, size_t n) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_swiglu_fwd_k<T><<<mb_cuda_blocks(n, MB_LL_THREADS), MB_LL_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)out, (const T *)gate, (const T *)up, n);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_swiglu_bwd(mb_ctx *ctx, void *dgate, void *dup, const void *dout, const void *gate,
                          const void *up, size_t n) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_swiglu_bwd_k<T><<<mb_cuda_blocks(n, MB_LL_THREADS), MB_LL_THREADS, 0, mb_cuda_stream(ctx)>>>(
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
