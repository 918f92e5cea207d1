/* methods/flash/flash_kernels.h — FlashAttention-2's kernel table, one per backend that has it:
 * flash_cpu.c (cpu-f32, cpu-f64) and flash.cu (cuda-bf16: bf16 tensor cores only). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_FLASH_KERNELS_H
#define MB_FLASH_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory-efficient exact causal attention (FlashAttention-2's contract): no probabilities are
 * kept, each query row's log-sum-exp is. qkv [B, T, (NH + 2*KV)*hs] (grouped-query: query head h
 * reads kv head h / (NH/KV)) and out [B, T, C] as the core table's attention_fwd's; lse and D are
 * sdtype [B, NH, T]. */
typedef struct mb_flash_kernels {
    /* Once per context before the kernels run (CUDA: raises their shared-memory limits); NULL:
     * nothing to prepare. */
    mb_status (*init)(struct mb_ctx *ctx);
    /* out = softmax(q k^T / sqrt(hs), causal) v; lse = log sum_j exp(s_j) per row. */
    void (*flash_fwd)(struct mb_ctx *ctx, void *out, void *lse, const void *qkv, int B, int T,
                      int C, int NH, int KV);
    /* dqkv (overwritten) from dout, the forward's out and lse; D is scratch (rowsum(dout * out)).
     * A kv head's dk and dv are summed over its query heads in a fixed order. */
    void (*flash_bwd)(struct mb_ctx *ctx, void *dqkv, const void *dout, const void *qkv,
                      const void *out, const void *lse, void *D, int B, int T, int C, int NH,
                      int KV);
    /* 1 when head size hs has a kernel; NULL: every size does. */
    int (*flash_head_ok)(int hs);
} mb_flash_kernels;

extern const mb_flash_kernels mb_flash_cpu_f32;
extern const mb_flash_kernels mb_flash_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_flash_kernels mb_flash_cuda_bf16;
#endif

struct mb_model_config;

/* The table for backend be (flash.c); NULL where it has none (cuda-f32, cuda-tf32). */
const mb_flash_kernels *mb_flash_kernels_of(const mb_backend *be);
/* MB_OK when flash has a kernel for a model of shape cfg on backend be; else MB_EUNSUPPORTED with
 * the reason in ctx (what flash's init refuses a cell with; the runner's attention: auto asks it).
 */
mb_status mb_flash_supports(struct mb_ctx *ctx, const mb_backend *be,
                            const struct mb_model_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
