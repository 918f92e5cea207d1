/* methods/lomo/lomo.c — LOMO: plain SGD fused into backward. Gradients exist on demand, and each is
 * applied and freed the moment backward completes it, so the gradient peak is the tensors in
 * flight, not the model; there is no optimizer state. */
#include "../../engine/train.h"
#include "../sgd/sgd_kernels.h"

enum { P_LR, P_N };

static const mb_param_decl params[P_N] = {
    {"lr", MB_PT_FLOAT, 1e-3, 0, 10, NULL,
     "learning rate: p -= lr * g (lomo_optim's default; the paper's recipe uses 0.03 with a "
     "schedule). Gradient-norm clipping, which needs a second backward, is not offered"},
};

typedef struct lomo_state {
    double lr;
    const mb_sgd_kernels *sgd;
} lomo_state;

static mb_status lomo_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    lomo_state *s = priv;
    s->lr = v[P_LR].num;
    s->sgd = mb_sgd_kernels_of(tr->ctx->be);
    if (!s->sgd)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "lomo: backend %s has no SGD kernel",
                        tr->ctx->be->name);
    return MB_OK;
}

static mb_status lomo_begin(void *priv, mb_train *tr, mb_step_plan *plan) {
    (void)priv;
    (void)tr;
    plan->grads_on_demand = 1;
    return MB_OK;
}

/* p -= lr * g with sgd's kernel (no momentum, no decay; the fp32 master under bf16). */
static mb_status lomo_apply(lomo_state *s, mb_train *tr, mb_param *p) {
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    s->sgd->sgd(tr->ctx, p->w.ptr, p->g.ptr, NULL, master ? master->ptr : NULL, p->numel, s->lr,
                0.0, 0.0, 0.0, 0, 1);
    return MB_OK;
}

static mb_status lomo_grad_ready(void *priv, mb_train *tr, mb_param *p) {
    MB_TRY(lomo_apply(priv, tr, p));
    mb_free(tr->ctx, &p->g);
    return MB_OK;
}

/* Only a gradient no grad_ready took reaches here (none, with the engine's backward). */
static mb_status lomo_step(void *priv, mb_train *tr, mb_param *p) {
    MB_TRY(lomo_apply(priv, tr, p));
    mb_free(tr->ctx, &p->g);
    return MB_OK;
}

/* The gradient bytes alive at once in backward, in its order: the head's gradient from the loss
 * (the tied wte of a language model lives until the encoder adds its part; a classifier's score is
 * applied at once), then the final LayerNorm's pair, each block's pairs (weight and bias of one
 * op: the MLP's 4C^2 + 4C is the largest), and the embeddings (wte + wpe for a classifier). */
static void lomo_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    const mb_gpt *m = pr->model;
    size_t C = (size_t)m->cfg.d_model, V = (size_t)m->cfg.vocab, T = (size_t)m->cfg.seq_len;
    size_t pair = 4 * C * C + 4 * C, n;
    if (2 * C > pair) pair = 2 * C;
    if (m->cfg.classes > 0) {
        n = (size_t)m->cfg.classes * C;
        if (pair > n) n = pair;
        if (V * C + T * C > n) n = V * C + T * C;
    } else {
        n = V * C + (pair > T * C ? pair : T * C);
    }
    pr->bytes[MB_MEM_GRADS] = (int64_t)(pr->elem * n);
}

const mb_method mb_method_lomo = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "lomo",
    .paper = "Kai Lv, Yuqing Yang, Tengxiao Liu, Qinghui Gao, Qipeng Guo and Xipeng Qiu. Full "
             "Parameter Fine-tuning for Large Language Models with Limited Resources. ACL 2024. "
             "arXiv:2306.09782",
    .summary = "SGD fused into backward: each gradient applied and freed as soon as it is complete",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(lomo_state),
    .init = lomo_init,
    .begin_step = lomo_begin,
    .grad_ready = lomo_grad_ready,
    .optimizer_step = lomo_step,
    .predict_bytes = lomo_predict,
};
