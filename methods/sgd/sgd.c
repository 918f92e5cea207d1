/* methods/sgd/sgd.c — stochastic gradient descent with optional (Nesterov) momentum and L2 weight
 * decay, torch.optim.SGD's formulas; the momentum buffer exists only when momentum > 0. */
#include "../../engine/train.h"
#include "sgd_kernels.h"

enum { P_LR, P_MOMENTUM, P_DAMPENING, P_WD, P_NESTEROV, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 0,
     .max = 100,
     .choices = NULL,
     .help = "learning rate (torch.optim.SGD default 1e-3)"},
    {.name = "momentum",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "heavy-ball momentum; 0 keeps no buffer"},
    {.name = "dampening",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "scales the new gradient in the buffer by 1 - d"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "L2 penalty added to the gradient (coupled)"},
    {.name = "nesterov",
     .type = MB_PT_BOOL,
     .def = 0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "Nesterov momentum in the Sutskever et al. form PyTorch uses (needs momentum > 0, "
             "dampening 0)"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_sgd_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_sgd_cpu_f32,     [MB_BE_CPU_F64] = &mb_sgd_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_sgd_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_sgd_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_sgd_cuda_bf16,
#endif
};

const mb_sgd_kernels *mb_sgd_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct sgd_state {
    double lr, momentum, dampening, wd;
    int nesterov, n;
    const mb_sgd_kernels *k;
    mb_buf *buf; /* per parameter id */
} sgd_state;

static mb_status sgd_check(mb_ctx *ctx, const mb_pvalue *v, const mb_model_config *cfg,
                           const mb_method *const *stack, int n) {
    (void)cfg;
    (void)stack;
    (void)n;
    if (v[P_NESTEROV].num != 0 && (v[P_MOMENTUM].num <= 0 || v[P_DAMPENING].num != 0))
        return mb_error(ctx, MB_EINVAL, "nesterov needs momentum > 0 and dampening 0");
    return MB_OK;
}

static mb_status sgd_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    sgd_state *s = priv;
    s->k = mb_sgd_kernels_of(tr->ctx->be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "sgd: backend %s has no SGD kernel",
                        tr->ctx->be->name);
    s->lr = v[P_LR].num;
    s->momentum = v[P_MOMENTUM].num;
    s->dampening = v[P_DAMPENING].num;
    s->wd = v[P_WD].num;
    s->nesterov = v[P_NESTEROV].num != 0;
    s->n = tr->model->nparams;
    s->buf = calloc((size_t)s->n, sizeof *s->buf);
    if (!s->buf) return mb_error(tr->ctx, MB_ENOMEM, "sgd: host state");
    return MB_OK;
}

static void sgd_fini(void *priv, mb_train *tr) {
    sgd_state *s = priv;
    for (int i = 0; s->buf && i < s->n; i++) mb_free(tr->ctx, &s->buf[i]);
    free(s->buf);
}

static mb_status sgd_step(void *priv, mb_train *tr, mb_param *p) {
    sgd_state *s = priv;
    mb_buf *b = &s->buf[p->id];
    mb_ctx *ctx = tr->ctx;
    int first = 0;
    if (s->momentum > 0 && !b->ptr) {
        MB_TRY(mb_alloc(ctx, b, p->numel * mb_dtype_size(ctx->be->sdtype), MB_MEM_OPTIMIZER,
                        "sgd.momentum"));
        first = 1;
    }
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    s->k->sgd(ctx, p->w.ptr, p->g.ptr, b->ptr, master ? master->ptr : NULL, p->numel, s->lr,
              s->momentum, s->dampening, s->wd, s->nesterov, first);
    return MB_OK;
}

static void sgd_predict(const mb_pvalue *v, mb_predict *pr) {
    if (v[P_MOMENTUM].num > 0)
        pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(pr->state_elem * pr->trainable_numel);
}

const mb_method mb_method_sgd = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "sgd",
    .paper = "Herbert Robbins and Sutton Monro. A Stochastic Approximation Method. Annals of "
             "Mathematical Statistics 22(3), 1951; momentum: Boris T. Polyak. Some methods of "
             "speeding up the convergence of iteration methods. USSR Comput. Math. Math. Phys. "
             "4(5), 1964; Nesterov form: Ilya Sutskever, James Martens, George Dahl and Geoffrey "
             "Hinton. On the importance of initialization and momentum in deep learning. ICML 2013",
    .summary = "SGD with optional heavy-ball or Nesterov momentum (torch.optim.SGD semantics)",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(sgd_state),
    .init = sgd_init,
    .check = sgd_check,
    .fini = sgd_fini,
    .optimizer_step = sgd_step,
    .predict_bytes = sgd_predict,
};
