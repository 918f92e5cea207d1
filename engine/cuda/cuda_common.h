/* engine/cuda/cuda_common.h — what the CUDA backend's translation units share: the device state
 * hung off mb_ctx.dev, error recording for asynchronous kernels, scratch, and bf16/fp32 element
 * I/O. */
#ifndef MB_CUDA_COMMON_H
#define MB_CUDA_COMMON_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "../ctx.h"
}

/* A cuBLASLt algorithm chosen once per GEMM shape and epilogue (the heuristic query costs more host
 * time than a small GEMM takes on the device); none: the heuristic offered nothing. */
typedef struct mb_lt_algo {
    int used;
    int ta, tb, m, n, k, lda, ldb, ldd, epi, accumulate, cin, ldaux, dtype;
    int none;
    cublasLtMatmulAlgo_t algo;
} mb_lt_algo;
#define MB_LT_CACHE 64

/* Device state of one context. */
typedef struct mb_cuda {
    int device;
    int tf32;            /* GEMMs in TF32 (fp32 storage) */
    cudaStream_t stream; /* every kernel, copy, allocation and free of the context runs here */
    cudaMemPool_t pool;  /* our own stream-ordered pool: its reserved high watermark is reported */
    cublasLtHandle_t lt;
    cublasHandle_t blas; /* strided-batched GEMMs of attention, the projections' fp32 GEMMs */
    void *solver;        /* cusolverDnHandle_t, made at the first mb_cuda_solver */
    mb_buf workspace;    /* cuBLAS/cuBLASLt workspace, counted as WORKSPACE */
    mb_buf scratch; /* kernel scratch (partial sums, permuted heads), WORKSPACE, grown on demand */
    cudaEvent_t ev_start, ev_stop;
    mb_status err; /* first error since the last sync (message in ctx->err) */
    int sms;       /* multiprocessors */
    void *nvml;    /* engine/cuda/nvml.c state, NULL when NVML is absent */
    mb_lt_algo lt_cache[MB_LT_CACHE];
} mb_cuda;

static inline mb_cuda *mb_cuda_of(mb_ctx *ctx) {
    return (mb_cuda *)ctx->dev;
}
static inline cudaStream_t mb_cuda_stream(mb_ctx *ctx) {
    return mb_cuda_of(ctx)->stream;
}

/* Records the first asynchronous error of the context (later ones are dropped) and returns it. */
mb_status mb_cuda_fail(mb_ctx *ctx, mb_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 1 when the context already holds an error: kernels then return without launching. */
static inline int mb_cuda_failed(mb_ctx *ctx) {
    return mb_cuda_of(ctx)->err != MB_OK;
}
/* Checks a runtime call; on error records "<call>: <cuda message> (file:line)". Evaluates to 1 on
 * error, 0 on success. */
#define MB_CUDA_OK(ctx, call) mb_cuda_check_rt((ctx), (call), #call, __FILE__, __LINE__)
#define MB_CUBLAS_OK(ctx, call) mb_cuda_check_blas((ctx), (int)(call), #call, __FILE__, __LINE__)
/* After a launch: records a launch error (bad configuration, sticky fault). */
#define MB_CUDA_LAUNCHED(ctx)                                                                      \
    mb_cuda_check_rt((ctx), cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
int mb_cuda_check_rt(mb_ctx *ctx, cudaError_t e, const char *what, const char *file, int line);
int mb_cuda_check_blas(mb_ctx *ctx, int st, const char *what, const char *file, int line);

/* Kernel attributes set once per context, in cuda_init (kernels_elem.cu). */
extern "C" cudaError_t mb_cuda_kernels_init(void);

/* The context's cuSOLVER handle on its stream (cusolverDnHandle_t), made at the first call and
 * destroyed with the context (a method's SVD). On failure the error is in ctx. */
struct cusolverDnContext;
mb_status mb_cuda_solver(mb_ctx *ctx, struct cusolverDnContext **out);

/* Device scratch of at least `bytes` (WORKSPACE, tag "cuda.scratch"), valid until the next call to
 * this function. Grows by reallocating (stream-ordered). NULL after recording MB_ENOMEM. */
void *mb_cuda_scratch(mb_ctx *ctx, size_t bytes);

/* Element I/O: kernels are templates over the storage type (float or __nv_bfloat16) and compute in
 * float. */
template <typename T> __device__ __forceinline__ float mb_ld(const T *p);
template <> __device__ __forceinline__ float mb_ld<float>(const float *p) {
    return *p;
}
template <> __device__ __forceinline__ float mb_ld<__nv_bfloat16>(const __nv_bfloat16 *p) {
    return __bfloat162float(*p);
}
__device__ __forceinline__ void mb_st(float *p, float v) {
    *p = v;
}
__device__ __forceinline__ void mb_st(__nv_bfloat16 *p, float v) {
    *p = __float2bfloat16_rn(v);
}

/* A weight as the optimizers read it: the fp32 master copy when there is one, else p itself. */
template <typename T>
__device__ __forceinline__ float mb_ldw(const T *p, const float *master, size_t i) {
    return master ? master[i] : mb_ld(p + i);
}

/* A 16-byte (or one-element) pack for vectorised loads and stores. */
template <typename T, int V> struct alignas(sizeof(T) * V) mb_pk { T v[V]; };

/* Whether p can be read or written through mb_pk's 16-byte accesses. */
static inline int mb_al16(const void *p) {
    return ((uintptr_t)p & 15) == 0;
}

/* Sum and max over the 32 lanes of a warp; every lane gets the result. */
__device__ __forceinline__ float mb_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float mb_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Tree sum of one double per thread over a block of MB_SUM_THREADS threads (blockDim.x), in a
 * fixed order; every thread gets the total. The optimizers' fp64 reductions. */
#define MB_SUM_THREADS 256
__device__ __forceinline__ double mb_block_sum_d(double v) {
    __shared__ double sh[MB_SUM_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = MB_SUM_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Rows per partial sum in the two-stage column reductions (LayerNorm and bias gradients, a
 * method's column sums): depends on N alone, so the summation order (and the result) is the
 * same on every run; at most 1024 partial rows. */
static inline size_t mb_colsum_rows_per(size_t N) {
    size_t r = (N + 1023) / 1024;
    return r < 32 ? 32 : r;
}

/* Stage 2 of a column reduction: dst[c] += sum over r in [0, R) of part[r*C + c], in a fixed
 * order (each of 16 slices sums every 16th partial row in order, then the slices in order). */
#define MB_CS_Y 16
template <typename T> __global__ void mb_colsum_final_k(T *dst, const float *part, int R, int C) {
    __shared__ float sh[MB_CS_Y][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < C)
        for (int r = threadIdx.y; r < R; r += MB_CS_Y) s += part[(size_t)r * C + c];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = 0.0f;
        for (int y = 0; y < MB_CS_Y; y++) t += sh[y][threadIdx.x];
        mb_st(dst + c, mb_ld(dst + c) + t);
    }
}

template <typename T>
static inline int mb_colsum_final(mb_ctx *ctx, T *dst, const float *part, int R, int C) {
    dim3 blk(32, MB_CS_Y), grd((unsigned)((C + 31) / 32));
    mb_colsum_final_k<T><<<grd, blk, 0, mb_cuda_stream(ctx)>>>(dst, part, R, C);
    return MB_CUDA_LAUNCHED(ctx);
}

/* Grid-stride loop over [0, n). */
#define MB_GRID_LOOP(i, n)                                                                         \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)gridDim.x * blockDim.x)

/* Blocks for a grid-stride loop over n items: enough to fill the device, no more than needed. */
static inline int mb_cuda_blocks(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return (int)(b < 65535 * 16 ? (b ? b : 1) : 65535 * 16);
}

#endif
