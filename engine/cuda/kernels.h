/* engine/cuda/kernels.h — the CUDA kernels behind the backend tables, one instantiation per storage
 * type (f32: float, bf16: __nv_bfloat16 with fp32 statistics and state). Semantics:
 * engine/backend.h. */
#ifndef MB_CUDA_KERNELS_H
#define MB_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mb_ctx;

#define MB_CUDA_KERNEL_DECLS(sfx)                                                                  \
    void mb_cuda_encoder_fwd_##sfx(struct mb_ctx *ctx, void *out, const int32_t *tok,              \
                                   const void *wte, const void *wpe, int B, int T, int C);         \
    void mb_cuda_encoder_bwd_##sfx(struct mb_ctx *ctx, void *dwte, void *dwpe, const void *dout,   \
                                   const int32_t *tok, int B, int T, int C);                       \
    void mb_cuda_layernorm_fwd_##sfx(struct mb_ctx *ctx, void *out, void *mean, void *rstd,        \
                                     const void *inp, const void *w, const void *b, int N, int C); \
    void mb_cuda_layernorm_bwd_##sfx(struct mb_ctx *ctx, void *dinp, void *dw, void *db,           \
                                     const void *dout, const void *inp, const void *w,             \
                                     const void *mean, const void *rstd, int N, int C);            \
    void mb_cuda_matmul_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *inp, const void *w,   \
                                  const void *b, int N, int C, int OC, int ldo);                   \
    void mb_cuda_matmul_bwd_##sfx(struct mb_ctx *ctx, void *dinp, void *dw, void *db,              \
                                  const void *dout, const void *inp, const void *w, int N, int C,  \
                                  int OC, int ldo);                                                \
    void mb_cuda_attention_fwd_##sfx(struct mb_ctx *ctx, void *out, void *att, const void *qkv,    \
                                     int B, int T, int C, int NH, int KV);                         \
    void mb_cuda_attention_bwd_##sfx(struct mb_ctx *ctx, void *dqkv, void *scratch,                \
                                     const void *dout, const void *qkv, void *att, int B, int T,   \
                                     int C, int NH, int KV);                                       \
    void mb_cuda_gelu_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *inp, size_t n);         \
    void mb_cuda_gelu_bwd_##sfx(struct mb_ctx *ctx, void *dinp, const void *inp, const void *dout, \
                                size_t n);                                                         \
    void mb_cuda_residual_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *a, const void *b,   \
                                    size_t n);                                                     \
    void mb_cuda_crossentropy_fused_##sfx(struct mb_ctx *ctx, void *losses, void *logits,          \
                                          const int32_t *targets, int N, int V, int ld,            \
                                          double scale);                                           \
    /* the fused loss's two halves, in no table (test_cuda_kernels checks them): logits become     \
     * probabilities and losses are written; probabilities become dlogits */                       \
    void mb_cuda_crossentropy_fwd_##sfx(struct mb_ctx *ctx, void *losses, void *logits,            \
                                        const int32_t *targets, int N, int V, int ld);             \
    void mb_cuda_crossentropy_bwd_##sfx(struct mb_ctx *ctx, void *probs, const int32_t *targets,   \
                                        int N, int V, int ld, double scale);                       \
    void mb_cuda_widen_##sfx(struct mb_ctx *ctx, void *dst, const void *src, size_t n);            \
    void mb_cuda_axpy_decay_##sfx(struct mb_ctx *ctx, void *p, void *master, const void *d,        \
                                  size_t n, double alpha, double decay);                           \
    void mb_cuda_matmul_fwd_res_##sfx(struct mb_ctx *ctx, void *out, const void *inp,              \
                                      const void *w, const void *b, const void *res, int N, int C, \
                                      int OC);                                                     \
    void mb_cuda_matmul_fwd_gelu_##sfx(struct mb_ctx *ctx, void *out, void *pre, const void *inp,  \
                                       const void *w, const void *b, int N, int C, int OC);        \
    void mb_cuda_matmul_bwd_dgelu_##sfx(struct mb_ctx *ctx, void *dinp, void *dw, void *db,        \
                                        const void *dout, const void *inp, const void *w,          \
                                        const void *pre, int N, int C, int OC);                    \
    /* db[OC] += column sums of dout[N,OC], rows ld apart (deterministic two-stage reduction) */   \
    void mb_cuda_bias_grad_##sfx(struct mb_ctx *ctx, void *db, const void *dout, int N, int OC,    \
                                 int ld);

void mb_cuda_gemm_f32(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                      const void *A, int lda, const void *B, int ldb, double beta, void *C,
                      int ldc);
void mb_cuda_gemm_bf16(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                       const void *A, int lda, const void *B, int ldb, double beta, void *C,
                       int ldc);
void mb_cuda_gemm_s(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                    const void *A, int lda, const void *B, int ldb, double beta, void *C, int ldc);

/* The LLaMA kernels (kernels_llama.cu). */
#define MB_CUDA_LLAMA_DECLS(sfx)                                                                   \
    void mb_cuda_rmsnorm_fwd_##sfx(struct mb_ctx *ctx, void *out, void *rstd, const void *inp,     \
                                   const void *w, int N, int C, double eps);                       \
    void mb_cuda_rmsnorm_bwd_##sfx(struct mb_ctx *ctx, void *dinp, void *dw, const void *dout,     \
                                   const void *inp, const void *w, const void *rstd, int N,        \
                                   int C);                                                         \
    void mb_cuda_rope_##sfx(struct mb_ctx *ctx, void *x, int B, int T, int H, int hs, int ld,      \
                            double theta, int inverse);                                            \
    void mb_cuda_swiglu_fwd_##sfx(struct mb_ctx *ctx, void *out, const void *gate, const void *up, \
                                  size_t n);                                                       \
    void mb_cuda_swiglu_bwd_##sfx(struct mb_ctx *ctx, void *dgate, void *dup, const void *dout,    \
                                  const void *gate, const void *up, size_t n);

MB_CUDA_KERNEL_DECLS(f32)
MB_CUDA_KERNEL_DECLS(bf16)
MB_CUDA_LLAMA_DECLS(f32)
MB_CUDA_LLAMA_DECLS(bf16)

#ifdef __cplusplus
}
#endif

#endif
