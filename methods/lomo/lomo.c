/* methods/lomo/lomo.c — LOMO: plain SGD fused into backward. Gradients exist on demand, and each is
 * applied and freed the moment backward completes it, so the gradient peak is the tensors in
 * flight, not the model; there is no optimizer state. */
#include <stdlib.h>

#include "../../engine/train.h"
#include "../sgd/sgd_kernels.h"

enum { P_LR, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help =
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

/* The gradient bytes alive at once in backward: the model's gradient events in order (each
 * trainable tensor's gradient from its first write until it is complete, then applied and freed).
 * GPT: the head's gradient from the loss (the tied wte lives until the encoder adds its part),
 * then one op's weight and bias at a time (the MLP's 4C^2 + 4C the largest). */
static void lomo_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    const mb_model *m = pr->model;
    int n = m->fam->grad_events(&m->cfg, NULL);
    mb_grad_event *ev = malloc((size_t)n * sizeof *ev);
    if (!ev) return; /* the prediction then leaves grads as the engine set them */
    m->fam->grad_events(&m->cfg, ev);
    uint8_t *alive = calloc((size_t)m->nparams, 1);
    if (!alive) {
        free(ev);
        return;
    }
    size_t cur = 0, peak = 0;
    for (int k = 0; k < n; k++) {
        const mb_param *p = &m->params[ev[k].id];
        if (pr->trainable && !pr->trainable[p->id]) continue;
        if (ev[k].ready && alive[p->id]) {
            cur -= p->numel, alive[p->id] = 0;
        } else if (!ev[k].ready && !alive[p->id]) {
            cur += p->numel, alive[p->id] = 1;
            if (cur > peak) peak = cur;
        }
    }
    free(alive);
    free(ev);
    /* the smaller of this and what an earlier method bounded it by (a layerwise method) */
    if ((int64_t)(pr->elem * peak) < pr->bytes[MB_MEM_GRADS])
        pr->bytes[MB_MEM_GRADS] = (int64_t)(pr->elem * peak);
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
