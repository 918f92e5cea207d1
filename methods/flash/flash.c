/* methods/flash/flash.c — FlashAttention-2: exact causal attention without the [B, NH, T, T]
 * probabilities. Forward keeps each query row's log-sum-exp (4 bytes a row); backward recomputes
 * the probabilities from it tile by tile. The kernels are this folder's (flash_kernels.h:
 * flash.cu, bf16 tensor cores; flash_cpu.c, a row at a time). */
#include <stdlib.h>

#include "../../engine/train.h"
#include "flash_kernels.h"

/* The kernels per backend: on CUDA bf16 tensor cores only. */
static const mb_flash_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_flash_cpu_f32,
    [MB_BE_CPU_F64] = &mb_flash_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_BF16] = &mb_flash_cuda_bf16,
#endif
};

const mb_flash_kernels *mb_flash_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct flash_state {
    int L;
    const mb_flash_kernels *k;
    mb_buf *lse; /* [L]: each block's log-sum-exp rows, from its forward to its backward */
} flash_state;

mb_status mb_flash_supports(mb_ctx *ctx, const mb_backend *be, const mb_model_config *cfg) {
    const mb_flash_kernels *k = mb_flash_kernels_of(be);
    if (!k)
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "flash: backend %s has no flash attention kernels (on CUDA: cuda-bf16, "
                        "precision bf16)",
                        be->name);
    int hs = cfg->d_model / cfg->heads;
    if (k->flash_head_ok && !k->flash_head_ok(hs))
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "flash: head size %d (d_model %d / %d heads) has no %s kernel; sizes 32, "
                        "64 and 128 do",
                        hs, cfg->d_model, cfg->heads, be->name);
    return MB_OK;
}

static mb_status flash_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    (void)v;
    flash_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_model_config *cfg = &tr->model->cfg;
    MB_TRY(mb_flash_supports(ctx, ctx->be, cfg));
    s->k = mb_flash_kernels_of(ctx->be);
    if (s->k->init) MB_TRY(s->k->init(ctx));
    s->L = cfg->layers;
    s->lse = calloc((size_t)s->L, sizeof *s->lse);
    if (!s->lse) return mb_error(ctx, MB_ENOMEM, "flash: host state");
    return MB_OK;
}

static void flash_fini(void *priv, mb_train *tr) {
    flash_state *s = priv;
    for (int l = 0; s->lse && l < s->L; l++) mb_free(tr->ctx, &s->lse[l]);
    free(s->lse);
}

/* Forward: out and this block's LSE. Block 0 first drops every LSE an earlier step left (blocks
 * its backward never reached); a lean forward (evaluation, MeZO) keeps none. Backward: D scratch,
 * dqkv, then the block's LSE is done. */
static mb_status flash_attention(void *priv, mb_train *tr, const mb_attn_call *c) {
    flash_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    size_t rows = (size_t)c->B * c->NH * c->T, ss = mb_dtype_size(be->sdtype);
    mb_buf *lse = &s->lse[c->layer];
    if (!c->backward) {
        if (c->layer == 0)
            for (int l = 0; l < s->L; l++) mb_free(ctx, &s->lse[l]);
        mb_free(ctx, lse);
        MB_TRY(mb_alloc(ctx, lse, rows * ss, MB_MEM_ACTIVATIONS, "flash.lse"));
        s->k->flash_fwd(ctx, c->out, lse->ptr, c->qkv, c->B, c->T, c->C, c->NH, c->KV);
        if (!c->keep) mb_free(ctx, lse);
        return MB_OK;
    }
    if (!lse->ptr)
        return mb_error(ctx, MB_EINVAL, "flash: block %d's backward without its forward", c->layer);
    mb_buf D;
    MB_TRY(mb_alloc(ctx, &D, rows * ss, MB_MEM_ACTIVATIONS, "flash.rowdot"));
    s->k->flash_bwd(ctx, c->dqkv, c->dout, c->qkv, c->out, lse->ptr, D.ptr, c->B, c->T, c->C, c->NH,
                    c->KV);
    mb_free(ctx, &D);
    mb_free(ctx, lse);
    return MB_OK;
}

/* The walk without probabilities: a block keeps its LSE rows (B NH T in sdtype) from its
 * attention's forward on, and its backward takes as many again for D. */
static void flash_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    const mb_model_config *cfg = &pr->model->cfg;
    size_t rows = (size_t)pr->B * cfg->heads * pr->T;
    mb_walk_own(&pr->walk, MB_SITE_ATTENTION, pr->state_elem * rows, 0, pr->state_elem * rows);
}

const mb_method mb_method_flash = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "flash",
    .paper = "Tri Dao. FlashAttention-2: Faster Attention with Better Parallelism and Work "
             "Partitioning. ICLR 2024. arXiv:2307.08691",
    .summary = "exact causal attention in tiles with an online softmax: no T x T probabilities, "
               "one log-sum-exp per query row kept for backward",
    .params = NULL,
    .nparams = 0,
    .priv_size = sizeof(flash_state),
    .init = flash_init,
    .fini = flash_fini,
    .attention = flash_attention,
    .predict_bytes = flash_predict,
};
