/* methods/adafactor/adafactor.cu — Adafactor on CUDA (factored second moment, RMS-scaled step),
 * templated over the storage type (float, bf16) with fp32 state: the cuda-f32 (also cuda-tf32's)
 * and cuda-bf16 tables. Sums run in fp64 in a fixed order (no atomics); scalars stay on the device
 * (no host sync). */
#include <math.h>
#include <stdint.h>

#include "../../engine/cuda/cuda_common.h"
#include "adafactor_kernels.h"

#define MB_OPT_THREADS MB_SUM_THREADS /* mb_block_sum_d's block */
#define MB_OPT_PARTS                                                                               \
    256 /* partial sums of a whole-tensor reduction: a constant, so a fixed order */

/* Adafactor: see adafactor_kernels.h for the update. Device scalars sc[]: */
enum { AF_ALPHA, AF_RMEAN, AF_STEP, AF_NSCAL };

/* V-hat of element i (cols > 1: factored; else the full second moment). */
__device__ __forceinline__ double mb_af_vhat(const float *row, const float *col, const double *sc,
                                             size_t i, size_t cols) {
    return cols > 1 ? (double)row[i / cols] * (double)col[i % cols] / sc[AF_RMEAN] : (double)row[i];
}

/* Stage 1 of a whole-tensor sum of squares: of p (what == 0) or of U = g / sqrt(max(Vhat, e2))
 * (what == 1); block b sums the grid-stride elements of its threads into part[b]. */
template <typename T>
__global__ void mb_af_sumsq_k(double *part, int what, const T *p, const float *master, const T *g,
                              const float *row, const float *col, const double *sc, size_t n,
                              size_t cols, double e2) {
    double a = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double x;
        if (what == 0)
            x = (double)mb_ldw(p, master, i);
        else
            x = (double)mb_ld(g + i) / sqrt(fmax(mb_af_vhat(row, col, sc, i, cols), e2));
        a += x * x;
    }
    a = mb_block_sum_d(a);
    if (threadIdx.x == 0) part[blockIdx.x] = a;
}

/* Stage 2, one block: the total of part[0..MB_OPT_PARTS) in a fixed order, then the scalar:
 * what 0: alpha = max(eps2, sqrt(total/n)) * rho; what 1: step = alpha / max(1, sqrt(total/n)/d).
 */
__global__ void mb_af_scalar_k(double *sc, const double *part, int what, size_t n, double eps2,
                               double rho, double d) {
    double a = 0;
    for (int i = threadIdx.x; i < MB_OPT_PARTS; i += blockDim.x) a += part[i];
    a = mb_block_sum_d(a);
    if (threadIdx.x != 0) return;
    double rms = sqrt(a / (double)n);
    if (what == 0)
        sc[AF_ALPHA] = fmax(eps2, rms) * rho;
    else
        sc[AF_STEP] = sc[AF_ALPHA] / fmax(1.0, rms / d);
}

/* p *= decay (on master when there is one; p is then master rounded). */
template <typename T> __global__ void mb_af_decay_k(T *p, float *master, size_t n, float decay) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = __fmul_rn(mb_ldw(p, master, i), decay);
        if (master) master[i] = v;
        mb_st(p + i, v);
    }
}

/* row[r] += w * (mean over the row of g^2 - row[r]), one block per row. */
template <typename T> __global__ void mb_af_rows_k(float *row, const T *g, size_t cols, double w) {
    const size_t r = blockIdx.x;
    const T *gr = g + r * cols;
    double a = 0;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) {
        double x = mb_ld(gr + c);
        a += x * x;
    }
    a = mb_block_sum_d(a);
    if (threadIdx.x == 0) row[r] += (float)(w * (a / (double)cols - row[r]));
}

/* Column sums of g^2, stage 1: rows [y*rows_per, (y+1)*rows_per) of column c into part[y*cols+c].
 */
template <typename T>
__global__ void mb_af_cols_part_k(double *part, const T *g, size_t rows, size_t cols,
                                  size_t rows_per) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (c >= cols) return;
    size_t r0 = y * rows_per, r1 = r0 + rows_per < rows ? r0 + rows_per : rows;
    double a = 0;
    for (size_t r = r0; r < r1; r++) {
        double x = mb_ld(g + r * cols + c);
        a += x * x;
    }
    part[y * cols + c] = a;
}

/* Stage 2: col[c] += w * (sum of the R partials in order / rows - col[c]). */
__global__ void mb_af_cols_k(float *col, const double *part, size_t R, size_t rows, size_t cols,
                             double w) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    double a = 0;
    for (size_t y = 0; y < R; y++) a += part[y * cols + c];
    col[c] += (float)(w * (a / (double)rows - col[c]));
}

/* rmean = max(mean(row), eps1), one block, in a fixed order. */
__global__ void mb_af_rmean_k(double *sc, const float *row, size_t rows, double eps1) {
    double a = 0;
    for (size_t r = threadIdx.x; r < rows; r += blockDim.x) a += row[r];
    a = mb_block_sum_d(a);
    if (threadIdx.x == 0) sc[AF_RMEAN] = fmax(a / (double)rows, eps1);
}

/* Unfactored second moment: row[i] += w * (g^2 - row[i]). */
template <typename T> __global__ void mb_af_full_k(float *row, const T *g, size_t n, double w) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double x = mb_ld(g + i);
        row[i] += (float)(w * (x * x - row[i]));
    }
}

/* p -= step * U. */
template <typename T>
__global__ void mb_af_apply_k(T *p, float *master, const T *g, const float *row, const float *col,
                              const double *sc, size_t n, size_t cols, double e2) {
    const double step = sc[AF_STEP];
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double u = (double)mb_ld(g + i) / sqrt(fmax(mb_af_vhat(row, col, sc, i, cols), e2));
        float v = __fsub_rn(mb_ldw(p, master, i), (float)(step * u));
        if (master) master[i] = v;
        mb_st(p + i, v);
    }
}

/* Stage 1 and 2 of a whole-tensor sum of squares into a scalar. 1 after an error. */
template <typename T>
static int mb_af_reduce(mb_ctx *ctx, double *sc, double *part, int what, const T *p,
                        const float *master, const T *g, const float *row, const float *col,
                        size_t n, size_t cols, double e2, double eps2, double rho, double d) {
    cudaStream_t st = mb_cuda_stream(ctx);
    mb_af_sumsq_k<T><<<MB_OPT_PARTS, MB_OPT_THREADS, 0, st>>>(part, what, p, master, g, row, col,
                                                              sc, n, cols, e2);
    if (MB_CUDA_LAUNCHED(ctx)) return 1;
    mb_af_scalar_k<<<1, MB_OPT_THREADS, 0, st>>>(sc, part, what, n, eps2, rho, d);
    return MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_adafactor(mb_ctx *ctx, void *p_, const void *g_, void *row_, void *col_,
                         void *master_, size_t rows, size_t cols, double w, double rho, double eps1,
                         double eps2, double d, double lr, double wd) {
    if (mb_cuda_failed(ctx)) return;
    const size_t n = rows * cols;
    if (!n) return;
    T *p = (T *)p_;
    const T *g = (const T *)g_;
    float *row = (float *)row_, *col = (float *)col_, *master = (float *)master_;
    /* scratch: the scalars, the whole-tensor partials, then the column partials */
    const size_t rows_per = cols > 1 ? mb_colsum_rows_per(rows) : 0;
    const size_t R = rows_per ? (rows + rows_per - 1) / rows_per : 0;
    double *sc =
        (double *)mb_cuda_scratch(ctx, (AF_NSCAL + MB_OPT_PARTS + R * cols) * sizeof(double));
    if (!sc) return;
    double *part = sc + AF_NSCAL, *cpart = part + MB_OPT_PARTS;
    const double e2 = eps1 * eps1;
    cudaStream_t st = mb_cuda_stream(ctx);
    const int blocks = mb_cuda_blocks(n, MB_OPT_THREADS);
    /* alpha from p before the decay */
    if (mb_af_reduce<T>(ctx, sc, part, 0, p, master, g, row, col, n, cols, e2, eps2, rho, d))
        return;
    if (wd != 0) {
        mb_af_decay_k<T><<<blocks, MB_OPT_THREADS, 0, st>>>(p, master, n, (float)(1.0 - lr * wd));
        if (MB_CUDA_LAUNCHED(ctx)) return;
    }
    if (cols > 1) {
        mb_af_rows_k<T><<<(unsigned)rows, MB_OPT_THREADS, 0, st>>>(row, g, cols, w);
        if (MB_CUDA_LAUNCHED(ctx)) return;
        dim3 grd((unsigned)((cols + MB_OPT_THREADS - 1) / MB_OPT_THREADS), (unsigned)R);
        mb_af_cols_part_k<T><<<grd, MB_OPT_THREADS, 0, st>>>(cpart, g, rows, cols, rows_per);
        if (MB_CUDA_LAUNCHED(ctx)) return;
        mb_af_cols_k<<<(unsigned)((cols + MB_OPT_THREADS - 1) / MB_OPT_THREADS), MB_OPT_THREADS, 0,
                       st>>>(col, cpart, R, rows, cols, w);
        if (MB_CUDA_LAUNCHED(ctx)) return;
        mb_af_rmean_k<<<1, MB_OPT_THREADS, 0, st>>>(sc, row, rows, eps1);
        if (MB_CUDA_LAUNCHED(ctx)) return;
    } else {
        mb_af_full_k<T><<<blocks, MB_OPT_THREADS, 0, st>>>(row, g, n, w);
        if (MB_CUDA_LAUNCHED(ctx)) return;
    }
    /* RMS(U), then the step */
    if (mb_af_reduce<T>(ctx, sc, part, 1, p, master, g, row, col, n, cols, e2, eps2, rho, d))
        return;
    mb_af_apply_k<T><<<blocks, MB_OPT_THREADS, 0, st>>>(p, master, g, row, col, sc, n, cols, e2);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_adafactor_kernels mb_adafactor_cuda_f32 = {.adafactor = mb_adafactor<float>};
const mb_adafactor_kernels mb_adafactor_cuda_bf16 = {.adafactor = mb_adafactor<__nv_bfloat16>};
}
