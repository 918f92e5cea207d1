/* methods/mezo/mezo.c — MeZO: zeroth-order SPSA training. A step runs two lean forwards at theta +
 * eps z and theta - eps z, restores theta, and moves it along z by the projected gradient (L+ - L-)
 * / 2 eps; z is regenerated from the counter-based generator each time (never stored), and there is
 * no backward and no gradient. Read from princeton-nlp/MeZO (large_models/trainer.py).
 */
#include "../../engine/rng.h"
#include "../../engine/train.h"
#include "mezo_kernels.h"

enum { P_LR, P_EPS, P_WD, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-5,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help =
         "learning rate (MeZO's OPT script, large_models/mezo.sh; its RoBERTa script uses 1e-6)"},
    {.name = "eps",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 1e-12,
     .max = 1,
     .choices = NULL,
     .help = "perturbation scale (zo_eps)"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help =
         "theta -= lr * (g z + wd theta) with the update, on every tensor but biases and LayerNorm "
         "weights, as zo_update does"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_mezo_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_mezo_cpu_f32,     [MB_BE_CPU_F64] = &mb_mezo_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_mezo_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_mezo_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_mezo_cuda_bf16,
#endif
};

const mb_mezo_kernels *mb_mezo_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct mezo_state {
    double lr, eps, wd;
    const mb_mezo_kernels *k;
    double gproj; /* the last step's projected gradient (L+ - L-) / 2 eps */
} mezo_state;

static mb_status mezo_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    mezo_state *s = priv;
    s->lr = v[P_LR].num;
    s->eps = v[P_EPS].num;
    s->wd = v[P_WD].num;
    s->k = mb_mezo_kernels_of(tr->ctx->be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "backend %s has no zo_axpy kernel",
                        tr->ctx->be->name);
    return MB_OK;
}

/* theta = theta * decay(p) + alpha z over every parameter (under mixed precision on the fp32
 * master, the weights rounded from it: a bf16 step of lr g z would round away). Step t's z for
 * parameter i is normals (t << 36) + (elements of parameters 0..i-1) onward of stream ZO under the
 * run's seed (a model under 2^36 elements, steps under 2^28). */
static mb_status move(mezo_state *s, mb_train *tr, double alpha, int update) {
    mb_model *m = tr->model;
    uint64_t off = (uint64_t)tr->step << 36;
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        mb_buf *master;
        MB_TRY(mb_train_master(tr, p, &master));
        int decays = !mb_role_is_bias(p->role) && !mb_role_is_norm(p->role);
        double decay = update && decays ? 1.0 - s->lr * s->wd : 1.0;
        s->k->zo_axpy(tr->ctx, p->w.ptr, master ? master->ptr : NULL, p->numel, tr->seed,
                      mb_rng_stream("mezo.z"), off, alpha, decay);
        off += p->numel;
    }
    return MB_OK;
}

/* The training loss at the current theta from a lean forward (nothing kept for a backward). */
static mb_status loss_at(mb_train *tr, double *loss) {
    mb_status s =
        mb_model_forward_lean(tr->ctx, tr->model, tr->tokens, tr->targets, tr->B, tr->T, loss);
    mb_model_free_acts(tr->ctx, tr->model);
    return s;
}

static mb_status mezo_step(void *priv, mb_train *tr, double *loss) {
    mezo_state *s = priv;
    double lp, lm;
    MB_TRY(move(s, tr, s->eps, 0));
    MB_TRY(loss_at(tr, &lp));
    MB_TRY(move(s, tr, -2 * s->eps, 0));
    MB_TRY(loss_at(tr, &lm));
    MB_TRY(move(s, tr, s->eps, 0));
    s->gproj = (lp - lm) / (2 * s->eps);
    mb_mem_set_phase(&tr->ctx->mem, MB_PHASE_OPTIMIZER);
    MB_TRY(move(s, tr, -s->lr * s->gproj, 1));
    *loss = lp; /* zo_step returns the loss at theta + eps z */
    return MB_OK;
}

/* No gradients and no optimizer state; the activations are a lean forward's (the walk's lean
 * form). Under mixed precision the engine counts the fp32 master of every parameter. */
static void mezo_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    pr->bytes[MB_MEM_GRADS] = 0;
    pr->walk.lean = 1;
}

const mb_method mb_method_mezo = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "mezo",
    .paper = "Sadhika Malladi, Tianyu Gao, Eshaan Nichani, Alex Damian, Jason D. Lee, Danqi Chen "
             "and Sanjeev Arora. Fine-Tuning Language Models with Just Forward Passes. NeurIPS "
             "2023. arXiv:2305.17333",
    .summary =
        "zeroth-order SPSA: two forwards at theta +/- eps z, z regenerated from the seed, no "
        "backward and no gradients",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(mezo_state),
    .init = mezo_init,
    .train_step = mezo_step,
    .predict_bytes = mezo_predict,
};
