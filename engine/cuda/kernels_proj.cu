/* engine/cuda/kernels_proj.cu — gradient projection on CUDA (GaLore, APOLLO): fp32 GEMM through
 * cuBLAS (pedantic fp32, no TF32), the top singular vectors through cuSOLVER's gesvdj, the Adam
 * direction and the weight update. */
#include <cusolverDn.h>
#include <math.h>
#include <string.h>

#include "cuda_common.h"
#include "kernels.h"

#define MB_PROJ_THREADS 256

extern "C" void mb_cuda_gemm_s(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K,
                               double alpha, const void *A, int lda, const void *B, int ldb,
                               double beta, void *C, int ldc) {
    if (mb_cuda_failed(ctx) || !M || !N) return;
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    const float a = (float)alpha, b = (float)beta;
    MB_CUBLAS_OK(ctx, cublasGemmEx(mb_cuda_of(ctx)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &a, B, CUDA_R_32F, ldb,
                                   A, CUDA_R_32F, lda, &b, C, CUDA_R_32F, ldc,
                                   CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

/* out[x, y] (rows x cols, row-major) = src[x*sx + y*sy]. */
__global__ void mb_gather_k(float *out, const float *src, int rows, int cols, size_t sx,
                            size_t sy) {
    size_t n = (size_t)rows * cols;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t x = i / cols, y = i % cols;
        out[i] = src[x * sx + y * sy];
    }
}

/* One block per vector j (len entries es apart, vectors vs apart): negated unless its
 * largest-magnitude entry, the first of equals, is positive. */
__global__ void mb_sign_fix_k(float *out, int len, size_t vs, size_t es) {
    __shared__ float bv[MB_PROJ_THREADS];
    __shared__ int bi[MB_PROJ_THREADS];
    float *v = out + blockIdx.x * vs;
    float best = -1.0f;
    int at = 0;
    for (int e = threadIdx.x; e < len; e += blockDim.x) {
        float a = fabsf(v[e * es]);
        if (a > best) best = a, at = e; /* within a thread e rises: ties keep the first */
    }
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = at;
    __syncthreads();
    for (int s = MB_PROJ_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            float o = bv[threadIdx.x + s];
            int oi = bi[threadIdx.x + s];
            if (o > bv[threadIdx.x] || (o == bv[threadIdx.x] && oi < bi[threadIdx.x])) {
                bv[threadIdx.x] = o;
                bi[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    const bool flip = v[(size_t)bi[0] * es] < 0.0f;
    if (!flip) return;
    for (int e = threadIdx.x; e < len; e += blockDim.x) v[e * es] = -v[e * es];
}

static mb_status mb_solver(mb_ctx *ctx, cusolverDnHandle_t *h) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (!d->solver) {
        cusolverDnHandle_t s = NULL;
        if (cusolverDnCreate(&s) != CUSOLVER_STATUS_SUCCESS)
            return mb_error(ctx, MB_EDEVICE, "cusolverDnCreate failed");
        if (cusolverDnSetStream(s, d->stream) != CUSOLVER_STATUS_SUCCESS) {
            cusolverDnDestroy(s);
            return mb_error(ctx, MB_EDEVICE, "cusolverDnSetStream failed");
        }
        d->solver = s;
    }
    *h = (cusolverDnHandle_t)d->solver;
    return MB_OK;
}

/* Row-major a[m,n] is column-major a^T (n x m) = U S V^T (gesvdj, economy size, any shape), so
 * a = V S U^T: a's right singular vectors are U's columns, its left ones V's. gesvdj (Jacobi) is
 * several times faster than gesvd (QR) on GPT-2's matrices. */
extern "C" mb_status mb_cuda_svd_top(struct mb_ctx *ctx, const void *a, int m, int n, int r,
                                     int right, void *out) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    const int k = m < n ? m : n;
    if (r < 1 || r > k)
        return mb_error(ctx, MB_EINVAL, "svd_top: rank %d outside 1..%d for a %d x %d matrix", r, k,
                        m, n);
    cusolverDnHandle_t h = NULL;
    MB_TRY(mb_solver(ctx, &h));
    gesvdjInfo_t params = NULL;
    if (cusolverDnCreateGesvdjInfo(&params) != CUSOLVER_STATUS_SUCCESS)
        return mb_error(ctx, MB_EDEVICE, "cusolverDnCreateGesvdjInfo failed");
    mb_buf ac, sv, u, v, work, info;
    memset(&ac, 0, sizeof ac), memset(&sv, 0, sizeof sv), memset(&u, 0, sizeof u);
    memset(&v, 0, sizeof v), memset(&work, 0, sizeof work), memset(&info, 0, sizeof info);
    const size_t f = sizeof(float);
    const mb_mem_cat W = MB_MEM_WORKSPACE;
    const cusolverEigMode_t jobz = CUSOLVER_EIG_MODE_VECTOR;
    mb_status s = mb_alloc(ctx, &ac, (size_t)m * n * f, W, "svd.a");
    if (s == MB_OK) s = mb_alloc(ctx, &sv, (size_t)k * f, W, "svd.s");
    if (s == MB_OK) s = mb_alloc(ctx, &u, (size_t)n * k * f, W, "svd.u");
    if (s == MB_OK) s = mb_alloc(ctx, &v, (size_t)m * k * f, W, "svd.v");
    if (s == MB_OK) s = mb_alloc(ctx, &info, sizeof(int), W, "svd.info");
    int lwork = 0;
    if (s == MB_OK && cusolverDnSgesvdj_bufferSize(h, jobz, 1, n, m, (const float *)ac.ptr, n,
                                                   (const float *)sv.ptr, (const float *)u.ptr, n,
                                                   (const float *)v.ptr, m, &lwork,
                                                   params) != CUSOLVER_STATUS_SUCCESS)
        s = mb_error(ctx, MB_EDEVICE, "cusolverDnSgesvdj_bufferSize(%d, %d) failed", n, m);
    if (s == MB_OK) s = mb_alloc(ctx, &work, (size_t)lwork * f, W, "svd.work");
    if (s == MB_OK && !MB_CUDA_OK(ctx, cudaMemcpyAsync(ac.ptr, a, (size_t)m * n * f,
                                                       cudaMemcpyDeviceToDevice, d->stream))) {
        cusolverStatus_t cs = cusolverDnSgesvdj(
            h, jobz, 1, n, m, (float *)ac.ptr, n, (float *)sv.ptr, (float *)u.ptr, n,
            (float *)v.ptr, m, (float *)work.ptr, lwork, (int *)info.ptr, params);
        if (cs != CUSOLVER_STATUS_SUCCESS)
            s = mb_error(ctx, MB_EDEVICE, "cusolverDnSgesvdj(%d x %d) failed: status %d", n, m,
                         (int)cs);
        int hinfo = 0;
        if (s == MB_OK &&
            !MB_CUDA_OK(ctx, cudaMemcpyAsync(&hinfo, info.ptr, sizeof hinfo, cudaMemcpyDeviceToHost,
                                             d->stream)) &&
            !MB_CUDA_OK(ctx, cudaStreamSynchronize(d->stream)) && hinfo != 0)
            s = mb_error(ctx, MB_EDEVICE, "svd_top: gesvdj of a %d x %d matrix: info %d", m, n,
                         hinfo);
        if (s == MB_OK && d->err == MB_OK) {
            /* right: out[r,n], vector j = U's column j (row j of out); left: out[m,r], vector j =
             * V's column j (column j of out) */
            const int orow = right ? r : m, ocol = right ? n : r;
            mb_gather_k<<<mb_cuda_blocks((size_t)orow * ocol, MB_PROJ_THREADS), MB_PROJ_THREADS, 0,
                          d->stream>>>((float *)out, (const float *)(right ? u.ptr : v.ptr), orow,
                                       ocol, right ? (size_t)n : 1, right ? 1 : (size_t)m);
            if (!MB_CUDA_LAUNCHED(ctx))
                mb_sign_fix_k<<<r, MB_PROJ_THREADS, 0, d->stream>>>(
                    (float *)out, right ? n : m, right ? (size_t)n : 1, right ? 1 : (size_t)r);
            MB_CUDA_LAUNCHED(ctx);
        }
    }
    mb_free(ctx, &work);
    mb_free(ctx, &info);
    mb_free(ctx, &v);
    mb_free(ctx, &u);
    mb_free(ctx, &sv);
    mb_free(ctx, &ac);
    cusolverDnDestroyGesvdjInfo(params);
    return s != MB_OK ? s : d->err;
}

__global__ void mb_adam_dir_k(const float *x, float *out, float *m, float *v, size_t n, float b1,
                              float b2, float w1, float w2, float e) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float xi = x[i], mi = b1 * m[i] + w1 * xi, vi = b2 * v[i] + w2 * xi * xi;
        m[i] = mi;
        v[i] = vi;
        out[i] = mi / (sqrtf(vi) + e);
    }
}

extern "C" void mb_cuda_adam_dir(struct mb_ctx *ctx, const void *x, void *out, void *m, void *v,
                                 size_t n, double b1, double b2, double eps) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_adam_dir_k<<<mb_cuda_blocks(n, MB_PROJ_THREADS), MB_PROJ_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (const float *)x, (float *)out, (float *)m, (float *)v, n, (float)b1, (float)b2,
        (float)(1.0 - b1), (float)(1.0 - b2), (float)eps);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
__global__ void mb_axpy_decay_k(T *p, float *master, const float *d, size_t n, float a, float dc) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float w = mb_ldw(p, master, i);
        w = (d ? w + a * d[i] : w) * dc;
        if (master) master[i] = w;
        mb_st(p + i, w);
    }
}

template <typename T>
static void mb_axpy_decay(mb_ctx *ctx, void *p, void *master, const void *d, size_t n, double alpha,
                          double decay) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_axpy_decay_k<T>
        <<<mb_cuda_blocks(n, MB_PROJ_THREADS), MB_PROJ_THREADS, 0, mb_cuda_stream(ctx)>>>(
            (T *)p, (float *)master, (const float *)d, n, (float)alpha, (float)decay);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" void mb_cuda_axpy_decay_f32(struct mb_ctx *ctx, void *p, void *master, const void *d,
                                       size_t n, double alpha, double decay) {
    mb_axpy_decay<float>(ctx, p, master, d, n, alpha, decay);
}
extern "C" void mb_cuda_axpy_decay_bf16(struct mb_ctx *ctx, void *p, void *master, const void *d,
                                        size_t n, double alpha, double decay) {
    mb_axpy_decay<__nv_bfloat16>(ctx, p, master, d, n, alpha, decay);
}
