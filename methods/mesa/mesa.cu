/* methods/mesa/mesa.cu — the 8-bit activation codec (Mesa) on CUDA with methods/mesa/q8.h's arithmetic:
 * per-group min and max by warp reductions and float atomics (order-free, so deterministic), the
 * range update in one small kernel, and packing 8 elements a thread (two Philox blocks); the
 * cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. */
#include "../../engine/cuda/cuda_common.h"
#include "q8.h"
#include "mesa_kernels.h"

#define MB_Q8_THREADS 256

/* Float min and max through the integer atomics: non-negative floats order as signed ints,
 * negative ones in reverse as unsigned ints. -0 is folded into +0 first. */
__device__ __forceinline__ void mb_atomic_minf(float *a, float v) {
    if (v >= 0.0f)
        atomicMin((int *)a, __float_as_int(v));
    else
        atomicMax((unsigned *)a, __float_as_uint(v));
}
__device__ __forceinline__ void mb_atomic_maxf(float *a, float v) {
    if (v >= 0.0f)
        atomicMax((int *)a, __float_as_int(v));
    else
        atomicMin((unsigned *)a, __float_as_uint(v));
}

/* Elements per thread in the codec's kernels: two Philox blocks, one 8-byte store of codes, 16-byte
 * loads. The divisions that place an element (its run of `inner`, its row of a tri x tri matrix)
 * are done once per thread; the cursor then steps through the 8. */
#define MB_Q8_PER 8
typedef uint2 q8_codes; /* MB_Q8_PER codes in one store */

/* Division by a fixed d through a multiply (Granlund and Montgomery; the form CUTLASS's FastDivmod
 * uses): x / d = umulhi(x, mul) >> shr for x < 2^31, d > 1. */
typedef struct q8_div {
    uint32_t d, mul, shr;
} q8_div;

static q8_div q8_div_of(size_t d) {
    q8_div v = {(uint32_t)d, 0, 0};
    if (d > 1 && d < (1u << 31)) {
        uint32_t p = 0;
        while (((size_t)1 << p) < d) p++;
        v.mul = (uint32_t)((((uint64_t)1 << (31 + p)) + d - 1) / d);
        v.shr = p - 1;
    }
    return v;
}

__device__ __forceinline__ uint32_t q8_quot(uint32_t x, q8_div v) {
    return v.d == 1 ? x : __umulhi(x, v.mul) >> v.shr;
}

/* What places element i: runs of `inner` in G groups, tri x tri matrices (tri 0: none). fast: every
 * index is under 2^31, so the multiply divisions apply. */
typedef struct q8_shape {
    size_t inner, tri;
    int G, fast;
    q8_div din, dg, dtri;
} q8_shape;

static q8_shape q8_shape_of(size_t n, size_t inner, int G, size_t tri) {
    q8_shape h;
    h.inner = inner, h.tri = tri, h.G = G;
    h.fast = n < (1u << 31) && inner < (1u << 31) && tri < (1u << 31);
    h.din = q8_div_of(inner), h.dg = q8_div_of((size_t)G), h.dtri = q8_div_of(tri ? tri : 1);
    return h;
}

typedef struct q8_cursor {
    size_t run, off; /* i / inner, i % inner */
    int g;           /* run % G */
    size_t row, col; /* with tri: (i / tri) % tri and i % tri */
} q8_cursor;

__device__ __forceinline__ q8_cursor q8_at(size_t i, const q8_shape &h) {
    q8_cursor c;
    c.row = c.col = 0;
    if (h.fast) {
        uint32_t x = (uint32_t)i, run = q8_quot(x, h.din);
        c.run = run;
        c.off = x - run * (uint32_t)h.inner;
        c.g = (int)(run - q8_quot(run, h.dg) * (uint32_t)h.G);
        if (h.tri) {
            uint32_t a = q8_quot(x, h.dtri);
            c.col = x - a * (uint32_t)h.tri;
            c.row = a - q8_quot(a, h.dtri) * (uint32_t)h.tri;
        }
        return c;
    }
    c.run = i / h.inner;
    c.off = i - c.run * h.inner;
    c.g = (int)(c.run % (size_t)h.G);
    if (h.tri) {
        size_t a = i / h.tri;
        c.col = i - a * h.tri;
        c.row = a % h.tri;
    }
    return c;
}

__device__ __forceinline__ void q8_next(q8_cursor &c, const q8_shape &h) {
    if (++c.off == h.inner) c.off = 0, c.run++, c.g = c.g + 1 == h.G ? 0 : c.g + 1;
    if (h.tri && ++c.col == h.tri) c.col = 0, c.row = c.row + 1 == h.tri ? 0 : c.row + 1;
}

__device__ __forceinline__ int q8_skipped(const q8_cursor &c, size_t tri) {
    return tri && c.col > c.row;
}

/* A thread's MB_Q8_PER elements from i0: 16-byte loads when whole and aligned. */
template <typename T>
__device__ __forceinline__ void q8_load(T *xv, const T *__restrict__ x, size_t i0, size_t n) {
    if (i0 + MB_Q8_PER <= n && ((uintptr_t)(x + i0) & 15) == 0)
        for (int j = 0; j < (int)(MB_Q8_PER * sizeof(T) / 16); j++)
            ((uint4 *)xv)[j] = ((const uint4 *)(x + i0))[j];
    else
        for (int k = 0; k < MB_Q8_PER; k++) xv[k] = i0 + k < n ? x[i0 + k] : x[i0];
}

/* One run's min and max folded into group g's (shared or global: the atomics serve both). */
__device__ __forceinline__ void q8_fold(float *mins, float *maxs, int g, float lo, float hi) {
    if (lo > hi) return; /* nothing seen */
    mb_atomic_minf(mins + g, lo);
    mb_atomic_maxf(maxs + g, hi);
}

#define MB_Q8_SHARED_G 2048 /* groups a block folds in shared memory (16 KiB); more go global */

/* Each thread takes MB_Q8_PER consecutive elements and folds each run into its group's min and
 * max; a warp whose elements share one run reduces with shuffles first. Folds go to the block's
 * shared min/max per group (G <= MB_Q8_SHARED_G), then one global atomic pair per group the block
 * touched, so a group's global atomics are one per block, not one per thread. */
template <typename T>
__global__ void mb_q8_minmax_k(float *st, const T *__restrict__ x, size_t n, q8_shape h) {
    const size_t inner = h.inner, tri = h.tri;
    const int G = h.G;
    extern __shared__ float sm[]; /* [2G]: min, max */
    const int shared = G <= MB_Q8_SHARED_G;
    float *mins = shared ? sm : st + 2 * G, *maxs = shared ? sm + G : st + 3 * G;
    if (shared) {
        for (int j = threadIdx.x; j < G; j += blockDim.x) sm[j] = INFINITY, sm[G + j] = -INFINITY;
        __syncthreads();
    }
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * MB_Q8_PER;
    const size_t w0 = (i0 / (32 * MB_Q8_PER)) * (32 * MB_Q8_PER); /* the warp's first element */
    const size_t wlast = min(w0 + 32 * MB_Q8_PER, n) - 1;
    const size_t r0 = h.fast ? q8_quot((uint32_t)w0, h.din) : w0 / inner;
    const size_t r1 = h.fast ? q8_quot((uint32_t)wlast, h.din) : wlast / inner;
    const int uniform = w0 < n && r0 == r1; /* the warp's span: one run */
    float lo = INFINITY, hi = -INFINITY;
    int g = -1;
    if (i0 < n) {
        alignas(16) T xv[MB_Q8_PER];
        q8_load(xv, x, i0, n);
        q8_cursor c = q8_at(i0, h);
        g = c.g;
        for (int k = 0; k < MB_Q8_PER && i0 + k < n; k++, q8_next(c, h)) {
            if (c.g != g) {
                q8_fold(mins, maxs, g, lo, hi);
                lo = INFINITY, hi = -INFINITY, g = c.g;
            }
            if (q8_skipped(c, tri)) continue;
            float v = mb_ld(xv + k) + 0.0f;
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
        }
    }
    if (uniform) {
        for (int o = 16; o > 0; o >>= 1) {
            lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
            hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, o));
        }
        g = threadIdx.x % 32 ? -1 : (int)(r0 % (size_t)G);
    }
    if (g >= 0) q8_fold(mins, maxs, g, lo, hi);
    if (!shared) return;
    __syncthreads();
    for (int j = threadIdx.x; j < G; j += blockDim.x)
        q8_fold(st + 2 * G, st + 3 * G, j, sm[j], sm[G + j]);
}

__global__ void mb_q8_ema_k(float *st, int G, float decay, int first) {
    for (int g = blockIdx.x * blockDim.x + threadIdx.x; g < G; g += gridDim.x * blockDim.x) {
        mb_q8_ema(&st[g], &st[G + g], st[2 * G + g], st[3 * G + g], decay, first);
        st[2 * G + g] = INFINITY;
        st[3 * G + g] = -INFINITY;
    }
}

static unsigned q8_blocks(size_t n) {
    size_t threads = (n + MB_Q8_PER - 1) / MB_Q8_PER;
    return (unsigned)((threads + MB_Q8_THREADS - 1) / MB_Q8_THREADS);
}

template <typename T>
static void mb_q8_range(mb_ctx *ctx, float *st, const void *x, size_t n, size_t inner, int G,
                        size_t tri, float decay, int first) {
    if (mb_cuda_failed(ctx) || !n || G < 1) return;
    size_t shm = G <= MB_Q8_SHARED_G ? 2 * (size_t)G * sizeof(float) : 0;
    mb_q8_minmax_k<T><<<q8_blocks(n), MB_Q8_THREADS, shm, mb_cuda_stream(ctx)>>>(
        st, (const T *)x, n, q8_shape_of(n, inner, G, tri));
    if (MB_CUDA_LAUNCHED(ctx)) return;
    mb_q8_ema_k<<<(G + 255) / 256, 256, 0, mb_cuda_stream(ctx)>>>(st, G, decay, first);
    MB_CUDA_LAUNCHED(ctx);
}

/* Thread t codes elements 8t .. 8t+7 with the words of Philox blocks first + 2t, 2t + 1
 * (mb_q8_uniform's: element i takes word i % 4 of block first + i / 4), storing its codes at once
 * when all are in range. */
template <typename T>
__global__ void mb_q8_pack_k(uint8_t *q, const T *__restrict__ x, const float *__restrict__ st,
                             size_t n, q8_shape h, uint64_t seed, uint32_t stream, uint64_t first) {
    const size_t tri = h.tri;
    const int G = h.G;
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * MB_Q8_PER;
    if (i0 >= n) return;
    q8_cursor c = q8_at(i0, h);
    alignas(16) uint8_t out[MB_Q8_PER];
    alignas(16) T xv[MB_Q8_PER];
    q8_load(xv, x, i0, n);
    float shift = st[G + c.g], scale = mb_q8_scale(st[c.g]);
    int g = c.g;
    for (int b = 0; b < MB_Q8_PER / 4; b++) {
        uint32_t w[4];
        mb_philox_block(seed, stream, first + i0 / 4 + (size_t)b, w);
        for (int k = 0; k < 4; k++, q8_next(c, h)) {
            if (c.g != g) g = c.g, shift = st[G + g], scale = mb_q8_scale(st[g]);
            size_t i = i0 + 4 * (size_t)b + k;
            float u = (float)(w[k] >> 8) * 0x1.0p-24f;
            out[4 * b + k] = i >= n || q8_skipped(c, tri)
                                 ? 0
                                 : mb_q8_code(mb_ld(xv + 4 * b + k), shift, scale, u);
        }
    }
    if (i0 + MB_Q8_PER <= n && ((uintptr_t)(q + i0) & (sizeof(q8_codes) - 1)) == 0)
        *(q8_codes *)(q + i0) = *(const q8_codes *)out;
    else
        for (int k = 0; k < MB_Q8_PER && i0 + k < n; k++) q[i0 + k] = out[k];
}

template <typename T>
__global__ void mb_q8_unpack_k(T *x, const uint8_t *__restrict__ q, const float *__restrict__ st,
                               size_t n, q8_shape h) {
    const size_t tri = h.tri;
    const int G = h.G;
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * MB_Q8_PER;
    if (i0 >= n) return;
    alignas(16) uint8_t in[MB_Q8_PER] = {0};
    if (i0 + MB_Q8_PER <= n && ((uintptr_t)(q + i0) & (sizeof(q8_codes) - 1)) == 0)
        *(q8_codes *)in = *(const q8_codes *)(q + i0);
    else
        for (int k = 0; k < MB_Q8_PER && i0 + k < n; k++) in[k] = q[i0 + k];
    q8_cursor c = q8_at(i0, h);
    float shift = st[G + c.g], step = mb_q8_step(st[c.g]);
    int g = c.g;
    alignas(16) T xv[MB_Q8_PER];
    for (int k = 0; k < MB_Q8_PER; k++, q8_next(c, h)) {
        if (c.g != g) g = c.g, shift = st[G + g], step = mb_q8_step(st[g]);
        mb_st(xv + k, q8_skipped(c, tri) ? 0.0f : mb_q8_value(in[k], shift, step));
    }
    if (i0 + MB_Q8_PER <= n && ((uintptr_t)(x + i0) & 15) == 0)
        for (int j = 0; j < (int)(MB_Q8_PER * sizeof(T) / 16); j++)
            ((uint4 *)(x + i0))[j] = ((const uint4 *)xv)[j];
    else
        for (int k = 0; k < MB_Q8_PER && i0 + k < n; k++) x[i0 + k] = xv[k];
}

template <typename T>
static void mb_q8_pack(mb_ctx *ctx, uint8_t *q, const void *x, const float *st, size_t n,
                       size_t inner, int G, size_t tri, uint64_t seed, uint32_t stream,
                       uint64_t first) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_q8_pack_k<T><<<q8_blocks(n), MB_Q8_THREADS, 0, mb_cuda_stream(ctx)>>>(
        q, (const T *)x, st, n, q8_shape_of(n, inner, G, tri), seed, stream, first);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_q8_unpack(mb_ctx *ctx, void *x, const uint8_t *q, const float *st, size_t n,
                         size_t inner, int G, size_t tri) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_q8_unpack_k<T><<<q8_blocks(n), MB_Q8_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)x, q, st, n, q8_shape_of(n, inner, G, tri));
    MB_CUDA_LAUNCHED(ctx);
}

#define MB_MESA_TABLE(T)                                                                           \
    { .q8_range = mb_q8_range<T>, .q8_pack = mb_q8_pack<T>, .q8_unpack = mb_q8_unpack<T> }
extern "C" {
const mb_mesa_kernels mb_mesa_cuda_f32 = MB_MESA_TABLE(float);
const mb_mesa_kernels mb_mesa_cuda_bf16 = MB_MESA_TABLE(__nv_bfloat16);
}
