/* methods/adamw.c — AdamW with decoupled weight decay and bias correction, torch.optim.AdamW's
 * formulas (foreach=False); state m and v in the backend's state type (fp32 under bf16 mixed
 * precision, which also updates an fp32 master copy), allocated at first update. */
#include <math.h>

#include "../engine/train.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_N };

static const mb_param_decl params[P_N] = {
    {"lr", MB_PT_FLOAT, 3e-4, 0, 10, NULL, "learning rate (torch.optim.AdamW default 1e-3)"},
    {"beta1", MB_PT_FLOAT, 0.9, 0, 0.999999, NULL, "first-moment decay"},
    {"beta2", MB_PT_FLOAT, 0.999, 0, 0.999999, NULL, "second-moment decay"},
    {"eps", MB_PT_FLOAT, 1e-8, 0, 1, NULL, "added to sqrt(v_hat) in the denominator"},
    {"weight_decay", MB_PT_FLOAT, 0.0, 0, 10, NULL,
     "decoupled decay: p *= 1 - lr*weight_decay (torch.optim.AdamW defaults to 0.01)"},
};

typedef struct adamw_state {
    double lr, beta1, beta2, eps, wd;
    mb_opt_state st; /* a: m, b: v, t: updates per parameter */
} adamw_state;

static mb_status adamw_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    adamw_state *s = priv;
    s->lr = v[P_LR].num;
    s->beta1 = v[P_BETA1].num;
    s->beta2 = v[P_BETA2].num;
    s->eps = v[P_EPS].num;
    s->wd = v[P_WD].num;
    return mb_opt_state_init(tr, &s->st, "adamw");
}

static void adamw_fini(void *priv, mb_train *tr) {
    adamw_state *s = priv;
    mb_opt_state_fini(tr, &s->st);
}

static mb_status adamw_step(void *priv, mb_train *tr, mb_param *p) {
    adamw_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    size_t bytes = p->numel * mb_dtype_size(ctx->be->sdtype);
    if (!s->st.a[i].ptr) {
        MB_TRY(mb_alloc(ctx, &s->st.a[i], bytes, MB_MEM_OPTIMIZER, "adamw.m"));
        MB_TRY(mb_alloc(ctx, &s->st.b[i], bytes, MB_MEM_OPTIMIZER, "adamw.v"));
        ctx->be->zero(ctx, s->st.a[i].ptr, bytes);
        ctx->be->zero(ctx, s->st.b[i].ptr, bytes);
    }
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    int t = ++s->st.t[i];
    double bc1 = 1.0 - pow(s->beta1, t), bc2 = 1.0 - pow(s->beta2, t);
    ctx->be->adamw(ctx, p->w.ptr, p->g.ptr, s->st.a[i].ptr, s->st.b[i].ptr,
                   master ? master->ptr : NULL, p->numel, s->lr, s->beta1, s->beta2, s->eps, s->wd,
                   bc1, bc2);
    return MB_OK;
}

/* m and v: two state elements per trainable parameter. */
static void adamw_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(2 * pr->state_elem * pr->trainable_numel);
}

const mb_method mb_method_adamw = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "adamw",
    .paper = "Ilya Loshchilov and Frank Hutter. Decoupled Weight Decay Regularization. ICLR 2019. "
             "arXiv:1711.05101",
    .summary = "Adam with decoupled weight decay (torch.optim.AdamW semantics); the default "
               "optimizer",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(adamw_state),
    .init = adamw_init,
    .fini = adamw_fini,
    .optimizer_step = adamw_step,
    .predict_bytes = adamw_predict,
};
