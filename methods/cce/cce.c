/* methods/cce/cce.c — Cut Cross-Entropy: the loss and its gradients without the [N, V] logits. The
 * vocabulary is taken in chunks: each chunk's logits are computed into one [N, chunk] tile, folded
 * into an online log-sum-exp, and recomputed in backward for that chunk's gradients. */
#include "../../engine/train.h"
#include "cce_kernels.h"

enum { P_CHUNK, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "vocab_chunk",
     .type = MB_PT_INT,
     .def = 4096,
     .min = 64,
     .max = 1 << 20,
     .choices = NULL,
     .help =
         "vocabulary entries per chunk, a multiple of 64 (tile rows stay 16-byte aligned for "
         "tensor "
         "cores): one [tokens, chunk] tile of logits exists at a time (a vocabulary under the "
         "chunk "
         "takes one tile of V rounded up to 64). The "
         "official kernels keep their tiles in on-chip memory and skip gradient tiles below 2^-12 "
         "(filter_eps); here the tile is in device memory and nothing is filtered (the paper's "
         "exact "
         "variant)"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_cce_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_cce_cpu_f32,     [MB_BE_CPU_F64] = &mb_cce_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_cce_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_cce_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_cce_cuda_bf16,
#endif
};

const mb_cce_kernels *mb_cce_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct cce_state {
    int chunk;
    const mb_cce_kernels *k;
    mb_buf lse; /* [N] sdtype: each row's log-sum-exp, from the forward to the end of backward */
} cce_state;

static mb_status cce_check(mb_ctx *ctx, const mb_pvalue *v, const mb_model_config *cfg,
                           const mb_method *const *stack, int n) {
    (void)cfg;
    (void)stack;
    (void)n;
    if ((int)v[P_CHUNK].num % 64)
        return mb_error(ctx, MB_EINVAL, "vocab_chunk %d is not a multiple of 64",
                        (int)v[P_CHUNK].num);
    return MB_OK;
}

static mb_status cce_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    cce_state *s = priv;
    const mb_backend *be = tr->ctx->be;
    s->chunk = (int)v[P_CHUNK].num;
    s->k = mb_cce_kernels_of(be);
    if (!s->k || !be->gemm)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "backend %s has no Cut Cross-Entropy kernels",
                        be->name);
    return MB_OK;
}

static void cce_fini(void *priv, mb_train *tr) {
    mb_free(tr->ctx, &((cce_state *)priv)->lse);
}

/* Entries per chunk and the tile's row stride: the chunk, or V rounded up to 64 when smaller. */
static int chunk_of(int chunk, int V) {
    int v64 = (V + 63) / 64 * 64;
    return chunk < v64 ? chunk : v64;
}

/* Forward: per chunk, z = lnf W[v0 : v0 + n]^T, then the online log-sum-exp (the target's logit
 * lands in losses); a lean forward (evaluation, MeZO: no backward follows) keeps no LSE. */
static mb_status cce_forward(cce_state *s, mb_train *tr, const mb_loss_call *c) {
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    size_t es = mb_dtype_size(be->dtype), ss = mb_dtype_size(be->sdtype), N = (size_t)c->N;
    int Vc = chunk_of(s->chunk, c->V);
    const char *W = c->head->w.ptr;
    mb_buf z = {0}, sum = {0};
    mb_free(ctx, &s->lse);
    MB_TRY(mb_alloc(ctx, &s->lse, N * ss, MB_MEM_ACTIVATIONS, "cce.lse"));
    mb_status st = mb_alloc(ctx, &sum, N * ss, MB_MEM_ACTIVATIONS, "cce.sum");
    if (st == MB_OK) st = mb_alloc(ctx, &z, N * (size_t)Vc * es, MB_MEM_ACTIVATIONS, "cce.logits");
    for (int v0 = 0; v0 < c->V && st == MB_OK; v0 += Vc) {
        int n = c->V - v0 < Vc ? c->V - v0 : Vc;
        be->matmul_fwd(ctx, z.ptr, c->lnf, W + (size_t)v0 * c->C * es, NULL, c->N, c->C, n, Vc);
        s->k->cce_lse_chunk(ctx, z.ptr, c->N, n, Vc, v0, c->targets, s->lse.ptr, sum.ptr, c->losses,
                            v0 == 0);
    }
    if (st == MB_OK) s->k->cce_lse_end(ctx, s->lse.ptr, sum.ptr, c->losses, c->targets, c->N);
    mb_free(ctx, &z);
    mb_free(ctx, &sum);
    if (st != MB_OK || !c->keep) mb_free(ctx, &s->lse);
    return st;
}

/* Backward: per chunk, z recomputed and turned into dz = (softmax - onehot) * scale in place;
 * dlnf (+)= dz W[v0 : v0 + n] and the head's gradient rows v0 .. v0 + n - 1 += dz^T lnf. */
static mb_status cce_backward(cce_state *s, mb_train *tr, const mb_loss_call *c) {
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    if (!s->lse.ptr) return mb_error(ctx, MB_EINVAL, "cce: backward without a training forward");
    size_t es = mb_dtype_size(be->dtype), N = (size_t)c->N;
    int Vc = chunk_of(s->chunk, c->V);
    const char *W = c->head->w.ptr;
    char *dW = c->head->g.ptr;
    mb_buf z = {0};
    mb_status st = mb_alloc(ctx, &z, N * (size_t)Vc * es, MB_MEM_ACTIVATIONS, "cce.logits");
    for (int v0 = 0; v0 < c->V && st == MB_OK; v0 += Vc) {
        int n = c->V - v0 < Vc ? c->V - v0 : Vc;
        const char *Wc = W + (size_t)v0 * c->C * es;
        be->matmul_fwd(ctx, z.ptr, c->lnf, Wc, NULL, c->N, c->C, n, Vc);
        s->k->cce_grad_chunk(ctx, z.ptr, c->N, n, Vc, v0, c->targets, s->lse.ptr, c->scale);
        be->gemm(ctx, 0, 0, c->N, c->C, n, 1.0, z.ptr, Vc, Wc, c->C, v0 ? 1.0 : 0.0, c->dlnf, c->C);
        if (dW)
            be->matmul_bwd(ctx, NULL, dW + (size_t)v0 * c->C * es, NULL, z.ptr, c->lnf, Wc, c->N,
                           c->C, n, Vc);
    }
    mb_free(ctx, &z);
    mb_free(ctx, &s->lse);
    return st;
}

static mb_status cce_loss(void *priv, mb_train *tr, const mb_loss_call *c) {
    return c->backward ? cce_backward(priv, tr, c) : cce_forward(priv, tr, c);
}

/* No [N, ld] logits; the LSE (N sdtype) lives from the loss's forward to the end of its backward,
 * the forward adds one [N, chunk] tile and the running sums (N sdtype), the backward one tile. */
static void cce_predict(const mb_pvalue *v, mb_predict *pr) {
    size_t N = (size_t)pr->B * pr->T;
    size_t Vc = (size_t)chunk_of((int)v[P_CHUNK].num, mb_model_head_rows(&pr->model->cfg));
    mb_walk_own(&pr->walk, MB_SITE_LOSS, pr->state_elem * N, pr->elem * N * Vc + pr->state_elem * N,
                pr->elem * N * Vc);
}

const mb_method mb_method_cce = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "cce",
    .paper = "Erik Wijmans, Brody Huval, Alexander Hertzberg, Vladlen Koltun and Philipp "
             "Kraehenbuehl. Cut Your Losses in Large-Vocabulary Language Models. ICLR 2025. "
             "arXiv:2411.09009",
    .summary = "the loss and its gradients over vocabulary chunks, without the batch x vocabulary "
               "logits",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(cce_state),
    .init = cce_init,
    .check = cce_check,
    .fini = cce_fini,
    .loss = cce_loss,
    .predict_bytes = cce_predict,
};
