/* engine/backend.h — a backend is a const table: raw allocation, copies, and the GPT kernels.
 * Buffers are untyped; each table computes in one element type (cpu-f32, cpu-f64, ...). */
#ifndef MB_BACKEND_H
#define MB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct mb_ctx;

typedef enum mb_dtype { MB_F32, MB_F64 } mb_dtype;

const char *mb_dtype_name(mb_dtype t);
size_t mb_dtype_size(mb_dtype t);

typedef struct mb_backend {
    const char *name; /* "cpu-f32" */
    mb_dtype dtype;   /* element type of every float buffer the kernels see */

    mb_status (*init)(struct mb_ctx *ctx); /* may be NULL */
    void (*fini)(struct mb_ctx *ctx);      /* may be NULL */
    mb_status (*alloc)(struct mb_ctx *ctx, size_t bytes, void **out);
    void (*free)(struct mb_ctx *ctx, void *p);
    mb_status (*to_device)(struct mb_ctx *ctx, void *dst, const void *src, size_t bytes);
    mb_status (*to_host)(struct mb_ctx *ctx, void *dst, const void *src, size_t bytes);
    void (*zero)(void *p, size_t bytes);

    /* Element-wise transfers between host doubles and device elements (init, load, save, tests). */
    void (*from_f64)(void *dst, const double *src, size_t n);
    void (*to_f64)(double *dst, const void *src, size_t n);

    /* --- GPT kernels. Shapes: N = B*T rows; C channels; OC output channels; V vocabulary.
     * "+=" marks outputs that accumulate; everything else is overwritten. --- */
    /* out[b,t,:] = wte[tok[b,t],:] + wpe[t,:] */
    void (*encoder_fwd)(void *out, const int32_t *tok, const void *wte, const void *wpe, int B,
                        int T, int C);
    /* dwte[tok] += dout; dwpe[t] += dout */
    void (*encoder_bwd)(void *dwte, void *dwpe, const void *dout, const int32_t *tok, int B, int T,
                        int C);
    /* out = (inp - mean) * rstd * w + b, eps 1e-5; saves mean and rstd per row */
    void (*layernorm_fwd)(void *out, void *mean, void *rstd, const void *inp, const void *w,
                          const void *b, int N, int C);
    /* dinp +=, dw +=, db += */
    void (*layernorm_bwd)(void *dinp, void *dw, void *db, const void *dout, const void *inp,
                          const void *w, const void *mean, const void *rstd, int N, int C);
    /* out[N,OC] = inp[N,C] . w[OC,C]^T + b[OC] (b may be NULL) */
    void (*matmul_fwd)(void *out, const void *inp, const void *w, const void *b, int N, int C,
                       int OC);
    /* dinp = dout . w (overwritten; skipped when NULL), dw += dout^T . inp (skipped when NULL),
     * db += column sums of dout (skipped when NULL) */
    void (*matmul_bwd)(void *dinp, void *dw, void *db, const void *dout, const void *inp,
                       const void *w, int N, int C, int OC);
    /* causal multi-head attention over qkv[B,T,3C] (q|k|v, head h at columns h*C/NH);
     * out[B,T,C]; att[B,NH,T,T] keeps the softmax probabilities (zeros above the diagonal) */
    void (*attention_fwd)(void *out, void *att, const void *qkv, int B, int T, int C, int NH);
    /* dqkv overwritten; scratch holds B*NH*T elements */
    void (*attention_bwd)(void *dqkv, void *scratch, const void *dout, const void *qkv,
                          const void *att, int B, int T, int C, int NH);
    /* GELU, tanh form. bwd: dinp = dout * gelu'(inp); dinp may alias dout */
    void (*gelu_fwd)(void *out, const void *inp, size_t n);
    void (*gelu_bwd)(void *dinp, const void *inp, const void *dout, size_t n);
    /* out = a + b; out may alias a or b */
    void (*residual_fwd)(void *out, const void *a, const void *b, size_t n);
    /* Fused softmax cross-entropy. logits[N,V] are replaced by probabilities; losses[N] per row.
     * targets < 0 are ignored (loss 0, no gradient). */
    void (*crossentropy_fwd)(void *losses, void *logits, const int32_t *targets, int N, int V);
    /* In place: probs[N,V] become dlogits = (probs - onehot(target)) * scale */
    void (*crossentropy_bwd)(void *probs, const int32_t *targets, int N, int V, double scale);

    /* --- optimizer kernels (fp32 state on fp32 backends) --- */
    /* AdamW as torch.optim.AdamW (foreach=False) computes it: p *= 1 - lr*wd; m = lerp(m, g, 1-b1);
     * v = b2*v + (1-b2)*g*g; p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps), bc_i = 1 - b_i^t. */
    void (*adamw)(void *p, const void *g, void *m, void *v, size_t n, double lr, double beta1,
                  double beta2, double eps, double wd, double bc1, double bc2);
    /* SGD as torch.optim.SGD: d = g + wd*p; with momentum, buf = d on the first step, else
     * buf = momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf; p -= lr*d.
     * buf may be NULL when momentum == 0. */
    void (*sgd)(void *p, const void *g, void *buf, size_t n, double lr, double momentum,
                double dampening, double wd, int nesterov, int first);
} mb_backend;

extern const mb_backend mb_backend_cpu_f32;
extern const mb_backend mb_backend_cpu_f64;

#endif
