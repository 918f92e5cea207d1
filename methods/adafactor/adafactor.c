/* methods/adafactor/adafactor.c — Adafactor with PyTorch's formulas (torch.optim.Adafactor, the
 * peer we compare with): a factored second moment (row and column EMAs) for matrices, a full one
 * for vectors, no first moment, relative step size capped by lr, update clipping by RMS. */
#include <float.h>
#include <math.h>

#include "../../engine/train.h"
#include "adafactor_kernels.h"

enum { P_LR, P_DECAY, P_EPS1, P_EPS2, P_D, P_WD, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-2,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help =
         "cap on the relative step rho_t = min(lr, 1/sqrt(t)) and the weight-decay factor (torch's "
         "default; the paper has no lr and caps rho_t at 0.01)"},
    {.name = "beta2_decay",
     .type = MB_PT_FLOAT,
     .def = -0.8,
     .min = -10,
     .max = 0,
     .choices = NULL,
     .help = "1 - beta2_t = t^beta2_decay (paper: beta2_t = 1 - t^-0.8)"},
    {.name = "eps1",
     .type = MB_PT_FLOAT,
     .def = 0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help =
         "floor of the variance estimate (squared) and of mean(row); 0 = the state type's machine "
         "epsilon, torch's None (the paper adds 1e-30 to g^2 instead)"},
    {.name = "eps2",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "floor of RMS(p) in the step size alpha_t"},
    {.name = "d",
     .type = MB_PT_FLOAT,
     .def = 1.0,
     .min = 1,
     .max = 100,
     .choices = NULL,
     .help = "clipping threshold: U / max(1, RMS(U)/d)"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "decoupled decay: p *= 1 - lr*weight_decay"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_adafactor_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_adafactor_cpu_f32,     [MB_BE_CPU_F64] = &mb_adafactor_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_adafactor_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_adafactor_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_adafactor_cuda_bf16,
#endif
};

const mb_adafactor_kernels *mb_adafactor_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct adafactor_state {
    double lr, decay, eps1, eps2, d, wd;
    const mb_adafactor_kernels *k;
    mb_opt_state st; /* a: row factor (or full v), b: col factor, t: updates per parameter */
} adafactor_state;

/* Matrices are factored over their [rows, cols]; vectors keep one value per element. */
static void factors(const mb_param *p, size_t *rows, size_t *cols) {
    *rows = p->ndim == 2 ? p->shape[0] : p->numel;
    *cols = p->ndim == 2 ? p->shape[1] : 1;
}

static mb_status adafactor_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    adafactor_state *s = priv;
    const mb_backend *be = tr->ctx->be;
    s->k = mb_adafactor_kernels_of(be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED,
                        "adafactor: backend %s has no Adafactor kernel (this build has it on the "
                        "cpu and cuda backends)",
                        be->name);
    s->lr = v[P_LR].num;
    s->decay = v[P_DECAY].num;
    s->eps1 = v[P_EPS1].num > 0 ? v[P_EPS1].num : be->sdtype == MB_F64 ? DBL_EPSILON : FLT_EPSILON;
    s->eps2 = v[P_EPS2].num;
    s->d = v[P_D].num;
    s->wd = v[P_WD].num;
    return mb_opt_state_init(tr, &s->st, "adafactor");
}

static void adafactor_fini(void *priv, mb_train *tr) {
    adafactor_state *s = priv;
    mb_opt_state_fini(tr, &s->st);
}

static mb_status adafactor_step(void *priv, mb_train *tr, mb_param *p) {
    adafactor_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    size_t rows, cols, es = mb_dtype_size(ctx->be->sdtype);
    factors(p, &rows, &cols);
    if (!s->st.a[i].ptr) {
        MB_TRY(mb_alloc(ctx, &s->st.a[i], rows * es, MB_MEM_OPTIMIZER, "adafactor.row"));
        ctx->be->zero(ctx, s->st.a[i].ptr, rows * es);
        if (cols > 1) {
            MB_TRY(mb_alloc(ctx, &s->st.b[i], cols * es, MB_MEM_OPTIMIZER, "adafactor.col"));
            ctx->be->zero(ctx, s->st.b[i].ptr, cols * es);
        }
    }
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    double t = ++s->st.t[i];
    s->k->adafactor(ctx, p->w.ptr, p->g.ptr, s->st.a[i].ptr, s->st.b[i].ptr,
                    master ? master->ptr : NULL, rows, cols, pow(t, s->decay),
                    fmin(s->lr, 1.0 / sqrt(t)), s->eps1, s->eps2, s->d, s->lr, s->wd);
    return MB_OK;
}

/* rows + cols state elements per matrix, numel per vector, for every parameter of the model
 * (GPT-2 124M: 321,617 elements, 1,286,468 bytes in fp32). */
static void adafactor_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    size_t n = 0;
    for (int i = 0; i < pr->model->nparams; i++) {
        if (pr->trainable && !pr->trainable[i]) continue;
        size_t rows, cols;
        factors(&pr->model->params[i], &rows, &cols);
        n += rows + (cols > 1 ? cols : 0);
    }
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(pr->state_elem * n);
}

const mb_method mb_method_adafactor = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "adafactor",
    .paper = "Noam Shazeer and Mitchell Stern. Adafactor: Adaptive Learning Rates with Sublinear "
             "Memory Cost. ICML 2018. arXiv:1804.04235",
    .summary = "factored second moment (row + column EMAs per matrix), no first moment; "
               "torch.optim.Adafactor's formulas",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(adafactor_state),
    .init = adafactor_init,
    .fini = adafactor_fini,
    .optimizer_step = adafactor_step,
    .predict_bytes = adafactor_predict,
};
