/* methods/adamw/adamw.c — AdamW with decoupled weight decay and bias correction,
 * torch.optim.AdamW's formulas (foreach=False); state m and v in the backend's state type (fp32
 * under bf16 mixed precision, which also updates an fp32 master copy), allocated at first update.
 */
#include <math.h>
#include <stdlib.h>

#include "../../engine/train.h"
#include "adamw_kernels.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 3e-4,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "learning rate (torch.optim.AdamW default 1e-3)"},
    {.name = "beta1",
     .type = MB_PT_FLOAT,
     .def = 0.9,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "first-moment decay"},
    {.name = "beta2",
     .type = MB_PT_FLOAT,
     .def = 0.999,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "second-moment decay"},
    {.name = "eps",
     .type = MB_PT_FLOAT,
     .def = 1e-8,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "added to sqrt(v_hat) in the denominator"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "decoupled decay: p *= 1 - lr*weight_decay (torch.optim.AdamW defaults to 0.01)"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_adamw_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_adamw_cpu_f32,     [MB_BE_CPU_F64] = &mb_adamw_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_adamw_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_adamw_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_adamw_cuda_bf16,
#endif
};

const mb_adamw_kernels *mb_adamw_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct adamw_state {
    double lr, beta1, beta2, eps, wd;
    const mb_adamw_kernels *k;
    mb_opt_state st;    /* a: m, b: v, t: updates per parameter */
    mb_adamw_tensor *t; /* the multi-tensor call's table, one entry per parameter */
} adamw_state;

static mb_status adamw_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    adamw_state *s = priv;
    s->k = mb_adamw_kernels_of(tr->ctx->be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "adamw: backend %s has no AdamW kernels",
                        tr->ctx->be->name);
    s->lr = v[P_LR].num;
    s->beta1 = v[P_BETA1].num;
    s->beta2 = v[P_BETA2].num;
    s->eps = v[P_EPS].num;
    s->wd = v[P_WD].num;
    /* the model's parameters are final here (methods that add some come earlier in the stack) */
    s->t = calloc((size_t)tr->model->nparams, sizeof *s->t);
    if (!s->t) return mb_error(tr->ctx, MB_ENOMEM, "adamw: host table");
    return mb_opt_state_init(tr, &s->st, "adamw");
}

static void adamw_fini(void *priv, mb_train *tr) {
    adamw_state *s = priv;
    mb_opt_state_fini(tr, &s->st);
    free(s->t);
    s->t = NULL;
}

/* Parameter p's update as one tensor of a multi-tensor call: its state made on first use, its
 * update count advanced and its bias corrections taken. */
static mb_status adamw_prepare(adamw_state *s, mb_train *tr, mb_param *p, mb_adamw_tensor *out) {
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
    *out = (mb_adamw_tensor){p->w.ptr,
                             p->g.ptr,
                             s->st.a[i].ptr,
                             s->st.b[i].ptr,
                             master ? master->ptr : NULL,
                             p->numel,
                             1.0 - pow(s->beta1, t),
                             1.0 - pow(s->beta2, t)};
    return MB_OK;
}

static mb_status adamw_step(void *priv, mb_train *tr, mb_param *p) {
    adamw_state *s = priv;
    mb_adamw_tensor t;
    MB_TRY(adamw_prepare(s, tr, p, &t));
    s->k->adamw(tr->ctx, t.p, t.g, t.m, t.v, t.master, t.n, s->lr, s->beta1, s->beta2, s->eps,
                s->wd, t.bc1, t.bc2);
    return MB_OK;
}

/* Every parameter in one backend call (CUDA: one launch for up to 224 tensors). */
static mb_status adamw_step_many(void *priv, mb_train *tr, mb_param *const *ps, int n) {
    adamw_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    for (int i = 0; i < n; i++) MB_TRY(adamw_prepare(s, tr, ps[i], &s->t[i]));
    s->k->adamw_many(ctx, s->t, n, s->lr, s->beta1, s->beta2, s->eps, s->wd);
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
    .optimizer_step_many = adamw_step_many,
};
