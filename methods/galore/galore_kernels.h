/* methods/galore/galore_kernels.h — GaLore's kernel table, one per backend: galore_cpu.c (cpu-f32,
 * cpu-f64) and galore.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_GALORE_KERNELS_H
#define MB_GALORE_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_galore_kernels {
    /* The top r (<= min(m, n)) singular vectors of a[m,n] (row-major, sdtype) from a library SVD
     * (LAPACK gesvd on the CPU, cuSOLVER gesvdj on CUDA): right != 0: out[r,n] = Vh[:r,:] (one
     * vector per row); right == 0: out[m,r] = U[:,:r] (one per column). Each vector's sign is set
     * so that its largest-magnitude entry (the first of equals) is positive. a is left unchanged.
     */
    mb_status (*svd_top)(struct mb_ctx *ctx, const void *a, int m, int n, int r, int right,
                         void *out);
} mb_galore_kernels;

extern const mb_galore_kernels mb_galore_cpu_f32;
extern const mb_galore_kernels mb_galore_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_galore_kernels mb_galore_cuda_f32;
extern const mb_galore_kernels mb_galore_cuda_bf16;
#endif

/* The table for backend be (galore.c); NULL where it has none. */
const mb_galore_kernels *mb_galore_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
