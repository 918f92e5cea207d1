/* methods/cce/cce_kernels.h — Cut Cross-Entropy's kernel table, one per backend: cce_cpu.c
 * (cpu-f32, cpu-f64) and cce.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_CCE_KERNELS_H
#define MB_CCE_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Over vocabulary chunks: z[N, n] (dtype, rows ldz apart) holds the logits of entries
 * v0 .. v0+n-1; mx, sum, losses and lse are sdtype [N]. */
typedef struct mb_cce_kernels {
    /* Online log-sum-exp: m' = max(mx, max_j z), sum = sum * exp(mx - m') + sum_j exp(z - m'),
     * mx = m' (first: from -inf and 0); losses[i] = z[i, targets[i] - v0] where that falls in the
     * chunk. */
    void (*cce_lse_chunk)(struct mb_ctx *ctx, const void *z, int N, int n, int ldz, int v0,
                          const int32_t *targets, void *mx, void *sum, void *losses, int first);
    /* After the last chunk: mx becomes the LSE mx + log(sum); losses = LSE - losses (the target's
     * logit), 0 where targets[i] < 0. */
    void (*cce_lse_end)(struct mb_ctx *ctx, void *mx, const void *sum, void *losses,
                        const int32_t *targets, int N);
    /* In place: z = (exp(z - lse) - [v0 + j == targets[i]]) * scale, rows with targets[i] < 0
     * zeroed. */
    void (*cce_grad_chunk)(struct mb_ctx *ctx, void *z, int N, int n, int ldz, int v0,
                           const int32_t *targets, const void *lse, double scale);
} mb_cce_kernels;

extern const mb_cce_kernels mb_cce_cpu_f32;
extern const mb_cce_kernels mb_cce_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_cce_kernels mb_cce_cuda_f32;
extern const mb_cce_kernels mb_cce_cuda_bf16;
#endif

/* The table for backend be (cce.c); NULL where it has none. */
const mb_cce_kernels *mb_cce_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
