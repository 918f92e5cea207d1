/* methods/galore/galore.cu — GaLore's SVD on CUDA: the top singular vectors through cuSOLVER's
 * gesvdj (the context's handle, engine/cuda/cuda_common.h) and the sign rule, fp32 on every table:
 * the cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. */
#include <cusolverDn.h>
#include <math.h>
#include <string.h>

#include "../../engine/cuda/cuda_common.h"
#include "galore_kernels.h"

#define MB_PROJ_THREADS 256

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

/* Row-major a[m,n] is column-major a^T (n x m) = U S V^T (gesvdj, economy size, any shape), so
 * a = V S U^T: a's right singular vectors are U's columns, its left ones V's. gesvdj (Jacobi) is
 * several times faster than gesvd (QR) on GPT-2's matrices. */
static mb_status mb_svd_top(mb_ctx *ctx, const void *a, int m, int n, int r, int right, void *out) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    const int k = m < n ? m : n;
    if (r < 1 || r > k)
        return mb_error(ctx, MB_EINVAL, "svd_top: rank %d outside 1..%d for a %d x %d matrix", r, k,
                        m, n);
    cusolverDnHandle_t h = NULL;
    MB_TRY(mb_cuda_solver(ctx, &h));
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

extern "C" {
const mb_galore_kernels mb_galore_cuda_f32 = {.svd_top = mb_svd_top};
const mb_galore_kernels mb_galore_cuda_bf16 = {.svd_top = mb_svd_top};
}
