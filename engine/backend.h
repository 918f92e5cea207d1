/* engine/backend.h — a backend is a const table: raw allocation, copies, and the GPT kernels.
 * Buffers are untyped; a table names the element type of weights, activations and gradients (dtype)
 * and of statistics and optimizer state (sdtype): fp32/fp32, fp64/fp64, or bf16/fp32 (mixed). */
#ifndef MB_BACKEND_H
#define MB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct mb_ctx;

typedef enum mb_dtype { MB_F32, MB_F64, MB_BF16 } mb_dtype;

const char *mb_dtype_name(mb_dtype t); /* "f32", "f64", "bf16" */
size_t mb_dtype_size(mb_dtype t);
/* Host conversions between doubles and elements of type t (bf16: round to nearest even). */
void mb_dtype_from_f64(mb_dtype t, void *dst, const double *src, size_t n);
void mb_dtype_to_f64(mb_dtype t, double *dst, const void *src, size_t n);

/* Device memory as the runtime sees it (the CUDA backend; NULL on the CPU). */
typedef struct mb_dev_mem {
    size_t reserved_peak; /* the stream-ordered pool's reserved high watermark */
    size_t device_used; /* bytes in use on the device now (NVML per process, else cudaMemGetInfo) */
} mb_dev_mem;

/* What the device is, for provenance columns (the CUDA backend; NULL on the CPU). */
typedef struct mb_dev_info {
    char name[128], uuid[64], driver[32], runtime[32], blas[32];
} mb_dev_info;

/* The built-in tables, for what is kept per backend outside this table: a method's own kernels are
 * its array of tables indexed by the id (methods/<name>/<name>_kernels.h). */
typedef enum mb_backend_id {
    MB_BE_CPU_F32,
    MB_BE_CPU_F64,
    MB_BE_CUDA_F32,
    MB_BE_CUDA_TF32,
    MB_BE_CUDA_BF16,
    MB_BE_N
} mb_backend_id;

/* Every kernel takes the context first (CUDA: its stream, handles and workspace) and is
 * asynchronous on a GPU: errors are kept in the context and come back from the next call that
 * returns a status (sync, to_host). Shapes: N = B*T rows; C channels; OC output channels; V vocab.
 * "+=" marks outputs that accumulate; everything else is overwritten. */
typedef struct mb_backend {
    const char *name; /* "cpu-f32", "cuda-bf16" */
    mb_backend_id id; /* which of the built-in tables this is */
    mb_dtype dtype;   /* weights, activations, gradients */
    mb_dtype sdtype; /* LayerNorm mean/rstd, per-position losses, optimizer state, master weights */
    int logits_align; /* rows of the [N, V] logits are V rounded up to this many elements apart
                       * (tensor-core GEMMs need 16-byte-aligned leading dimensions) */

    mb_status (*init)(struct mb_ctx *ctx); /* may be NULL */
    void (*fini)(struct mb_ctx *ctx);      /* may be NULL */
    mb_status (*alloc)(struct mb_ctx *ctx, size_t bytes, void **out);
    void (*free)(struct mb_ctx *ctx, void *p);
    mb_status (*to_device)(struct mb_ctx *ctx, void *dst, const void *src, size_t bytes);
    mb_status (*to_host)(struct mb_ctx *ctx, void *dst, const void *src, size_t bytes);
    void (*zero)(struct mb_ctx *ctx, void *p, size_t bytes);
    /* Waits for queued work; returns the first error a kernel hit since the last call.
     * NULL: no-op. */
    mb_status (*sync)(struct mb_ctx *ctx);
    /* Step timing on the device (CUDA events). stop=0 records the start, stop=1 records the end,
     * waits for it and writes the milliseconds between. NULL: the host clock is used. */
    mb_status (*timer)(struct mb_ctx *ctx, int stop, double *ms);
    /* NULL on the CPU. */
    mb_status (*mem_info)(struct mb_ctx *ctx, mb_dev_mem *out);
    void (*describe)(struct mb_ctx *ctx, mb_dev_info *out);

    /* out[b,t,:] = wte[tok[b,t],:] + wpe[t,:]; wpe NULL: out[b,t,:] = wte[tok[b,t],:] (no position
     * embedding: llama) */
    void (*encoder_fwd)(struct mb_ctx *ctx, void *out, const int32_t *tok, const void *wte,
                        const void *wpe, int B, int T, int C);
    /* dwte[tok] += dout; dwpe[t] += dout (either may be NULL) */
    void (*encoder_bwd)(struct mb_ctx *ctx, void *dwte, void *dwpe, const void *dout,
                        const int32_t *tok, int B, int T, int C);
    /* out = (inp - mean) * rstd * w + b, eps 1e-5; saves mean and rstd (sdtype) per row */
    void (*layernorm_fwd)(struct mb_ctx *ctx, void *out, void *mean, void *rstd, const void *inp,
                          const void *w, const void *b, int N, int C);
    /* dinp += (skipped when NULL), dw +=, db += */
    void (*layernorm_bwd)(struct mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                          const void *inp, const void *w, const void *mean, const void *rstd, int N,
                          int C);
    /* out[N,OC] = inp[N,C] . w[OC,C]^T + b[OC] (b may be NULL); rows of out are ldo >= OC elements
     * apart (columns OC..ldo-1 are left alone) */
    void (*matmul_fwd)(struct mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b,
                       int N, int C, int OC, int ldo);
    /* dinp = dout . w (overwritten; skipped when NULL), dw += dout^T . inp (skipped when NULL),
     * db += column sums of dout (skipped when NULL); rows of dout are ldo elements apart */
    void (*matmul_bwd)(struct mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                       const void *inp, const void *w, int N, int C, int OC, int ldo);
    /* causal grouped-query attention, hs = C/NH, over qkv[B,T,(NH+2*KV)*hs]: NH query heads at
     * columns [0, C) (head h at h*hs), then KV key heads, then KV value heads (NH % KV == 0; query
     * head h reads kv head h / (NH/KV); KV == NH is multi-head attention over q|k|v, [B,T,3C]);
     * out[B,T,C]; att[B,NH,T,T] keeps the softmax probabilities on and below the diagonal; what
     * lies above it is unspecified (the CPU writes zeros, CUDA skips the blocks of 256 queries x
     * 256 keys that lie wholly above it). */
    void (*attention_fwd)(struct mb_ctx *ctx, void *out, void *att, const void *qkv, int B, int T,
                          int C, int NH, int KV);
    /* dqkv (qkv's shape) overwritten, a shared kv head's gradient summed over its query heads in
     * order; scratch holds B*NH*T elements; att may be overwritten (it is freed or recomputed
     * after backward) */
    void (*attention_bwd)(struct mb_ctx *ctx, void *dqkv, void *scratch, const void *dout,
                          const void *qkv, void *att, int B, int T, int C, int NH, int KV);
    /* GELU, tanh form. bwd: dinp = dout * gelu'(inp); dinp may alias dout */
    void (*gelu_fwd)(struct mb_ctx *ctx, void *out, const void *inp, size_t n);
    void (*gelu_bwd)(struct mb_ctx *ctx, void *dinp, const void *inp, const void *dout, size_t n);
    /* out = a + b; out may alias a or b */
    void (*residual_fwd)(struct mb_ctx *ctx, void *out, const void *a, const void *b, size_t n);
    /* Softmax cross-entropy, loss and gradient in one pass over logits[N,V] (rows ld >= V elements
     * apart): losses[N] (sdtype) = log(sum exp(logits)) - logits[target] per row, and the logits
     * replaced by dlogits = (softmax(logits) - onehot(target)) * scale (the training forward's
     * loss). targets < 0 are ignored (loss 0, gradient 0). */
    void (*crossentropy_fused)(struct mb_ctx *ctx, void *losses, void *logits,
                               const int32_t *targets, int N, int V, int ld, double scale);

    /* --- master weights: where dtype != sdtype an optimizer updates an sdtype copy of the
     * weights and rounds it into them (its own kernels: methods/<name>/<name>_kernels.h). --- */
    /* Copies n elements of src (dtype) into dst (sdtype): master weights from the weights. */
    void (*widen)(struct mb_ctx *ctx, void *dst, const void *src, size_t n);

    /* --- generic primitives, for methods' own arithmetic: row-major matrices; NULL where the
     * backend has none. --- */
    /* C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C, op(X) = X^T when tX (X then stored K x M
     * or N x K), every operand in sdtype, in full sdtype arithmetic (no TF32). */
    void (*gemm_s)(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                   const void *A, int lda, const void *B, int ldb, double beta, void *C, int ldc);
    /* w = (w + alpha*d) * decay over n elements (d in sdtype), w = master when given (then p = w
     * rounded to dtype), else p itself (dtype == sdtype). d may be NULL: w *= decay. */
    void (*axpy_decay)(struct mb_ctx *ctx, void *p, void *master, const void *d, size_t n,
                       double alpha, double decay);
    /* C[M,N] = alpha * op(A) . op(B) + beta * C as gemm_s, every operand in dtype, with the
     * backend's linear-layer arithmetic (fp32 accumulation; TF32 on cuda-tf32): low-rank adapters'
     * products, a chunked loss's input gradient. */
    void (*gemm)(struct mb_ctx *ctx, int ta, int tb, int M, int N, int K, double alpha,
                 const void *A, int lda, const void *B, int ldb, double beta, void *C, int ldc);

    /* --- fused linear layers (NULL: the engine runs the unfused kernels above).
     * Each computes what its unfused sequence computes; a GPU may round once where the sequence
     * rounds twice. --- */
    /* out[N,OC] = inp . w^T + b + res (matmul_fwd then residual_fwd; b may be NULL; res[N,OC] is
     * read, out != res) */
    void (*matmul_fwd_res)(struct mb_ctx *ctx, void *out, const void *inp, const void *w,
                           const void *b, const void *res, int N, int C, int OC);
    /* pre[N,OC] = inp . w^T + b, out = gelu(pre) (matmul_fwd then gelu_fwd) */
    void (*matmul_fwd_gelu)(struct mb_ctx *ctx, void *out, void *pre, const void *inp,
                            const void *w, const void *b, int N, int C, int OC);
    /* matmul_bwd (ld = OC) with dinp = (dout . w) * gelu'(pre): matmul_bwd then gelu_bwd on dinp;
     * dinp is not NULL */
    void (*matmul_bwd_dgelu)(struct mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                             const void *inp, const void *w, const void *pre, int N, int C, int OC);
    /* --- LLaMA kernels (Hugging Face LlamaForCausalLM). NULL where the backend has none. --- */
    /* RMSNorm: out = inp * rstd * w, rstd = 1/sqrt(mean(inp^2) + eps) per row, saved (sdtype) */
    void (*rmsnorm_fwd)(struct mb_ctx *ctx, void *out, void *rstd, const void *inp, const void *w,
                        int N, int C, double eps);
    /* dinp += (skipped when NULL), dw += (skipped when NULL) */
    void (*rmsnorm_bwd)(struct mb_ctx *ctx, void *dinp, void *dw, const void *dout, const void *inp,
                        const void *w, const void *rstd, int N, int C);
    /* Rotary position embedding in place on x[B, T, rows ld elements apart]: H heads of hs (even)
     * from column 0, rotate_half pairs (i, i + hs/2), i < hs/2: angle = t * theta^(-2i/hs),
     * x[i] = x1*cos - x2*sin, x[i+hs/2] = x2*cos + x1*sin (x1 = x[i], x2 = x[i+hs/2]); angles, cos
     * and sin in fp64. inverse != 0 rotates by -angle: the backward pass. */
    void (*rope)(struct mb_ctx *ctx, void *x, int B, int T, int H, int hs, int ld, double theta,
                 int inverse);
    /* out = silu(gate) * up, silu(x) = x / (1 + exp(-x)) */
    void (*swiglu_fwd)(struct mb_ctx *ctx, void *out, const void *gate, const void *up, size_t n);
    /* dgate = dout * up * silu'(gate), dup = dout * silu(gate) (both overwritten; dgate may alias
     * dout) */
    void (*swiglu_bwd)(struct mb_ctx *ctx, void *dgate, void *dup, const void *dout,
                       const void *gate, const void *up, size_t n);
} mb_backend;

/* The unfused sequences each fused slot stands for, through ctx's own table (engine/fused.c): what
 * the CPU tables fill the slots with, and what the CUDA slots fall back to. */
void mb_seq_matmul_fwd_res(struct mb_ctx *ctx, void *out, const void *inp, const void *w,
                           const void *b, const void *res, int N, int C, int OC);
void mb_seq_matmul_fwd_gelu(struct mb_ctx *ctx, void *out, void *pre, const void *inp,
                            const void *w, const void *b, int N, int C, int OC);
void mb_seq_matmul_bwd_dgelu(struct mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                             const void *inp, const void *w, const void *pre, int N, int C, int OC);

extern const mb_backend mb_backend_cpu_f32;
extern const mb_backend mb_backend_cpu_f64;
#ifdef MB_HAVE_CUDA
/* engine/cuda: fp32 GEMMs, TF32 GEMMs (fp32 storage), and bf16 mixed precision. */
extern const mb_backend mb_backend_cuda_f32;
extern const mb_backend mb_backend_cuda_tf32;
extern const mb_backend mb_backend_cuda_bf16;
#endif

#endif
