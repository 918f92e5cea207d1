/* methods/adam_mini/adam_mini.c — Adam-mini: Adam's first moment per element, one second moment
 * per block of parameters chosen by role as zyushun/Adam-mini (v1.1.1) partitions by name:
 * token-embedding and output-head rows, query and key heads (GPT's fused QKV split by rows;
 * LLaMA's k_proj by its key/value heads), one row per output neuron of V, the attention output and
 * the MLP, a full v for biases, one per tensor for the rest. */
#include <math.h>
#include <string.h>

#include "../../engine/train.h"
#include "adam_mini_kernels.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "learning rate (the official default; its GPT-2 small "
             "config uses 6e-4)"},
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
     .help = "block second-moment decay (GPT-2 config: "
             "0.95)"},
    {.name = "eps",
     .type = MB_PT_FLOAT,
     .def = 1e-8,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "added to sqrt(v_hat)"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "decoupled decay p *= 1 - lr*wd, skipped for LayerNorms and biases as the official "
             "code does"},
};

/* One contiguous range of a tensor and its block size. */
typedef struct span {
    size_t first, n, block;
} span;

/* The spans of parameter p (at most 3: the fused QKV's q, k and v rows). */
static int spans(const mb_model *m, const mb_param *p, span out[3]) {
    size_t C = (size_t)m->cfg.d_model, NH = (size_t)m->cfg.heads,
           cols = p->ndim == 2 ? p->shape[1] : 1;
    switch (p->role) {
    case MB_ROLE_EMBED: /* embedding and output head: a row per token */
    case MB_ROLE_HEAD:
    case MB_ROLE_ATTN_V:
    case MB_ROLE_ATTN_OUT:
    case MB_ROLE_MLP_GATE:
    case MB_ROLE_MLP_UP:
    case MB_ROLE_MLP_DOWN: /* a row per output neuron */
        out[0] = (span){0, p->numel, cols};
        return 1;
    case MB_ROLE_ATTN_Q: /* a block per head (its hs rows), k by the key/value heads */
    case MB_ROLE_ATTN_K:
        out[0] = (span){0, p->numel, p->numel / (size_t)p->heads};
        return 1;
    case MB_ROLE_ATTN_QKV: /* q and k: a block per head (C/NH rows); v: a row per neuron */
        out[0] = (span){0, C * C, C * C / NH};
        out[1] = (span){C * C, C * C, C * C / NH};
        out[2] = (span){2 * C * C, C * C, C};
        return 3;
    default: /* names with "bias": plain Adam; LayerNorm weights, wpe, a classifier's score: one
              * v per tensor */
        out[0] = (span){0, p->numel, mb_role_is_bias(p->role) ? 1 : p->numel};
        return 1;
    }
}

static size_t v_count(const mb_model *m, const mb_param *p) {
    span s[3];
    size_t n = 0;
    for (int k = 0, ns = spans(m, p, s); k < ns; k++) n += s[k].n / s[k].block;
    return n;
}

/* The official code skips decay for names with "norm", "ln" or "bias". */
static int decays(const mb_param *p) {
    return !mb_role_is_bias(p->role) && !mb_role_is_norm(p->role);
}

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_adam_mini_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_adam_mini_cpu_f32,     [MB_BE_CPU_F64] = &mb_adam_mini_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_adam_mini_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_adam_mini_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_adam_mini_cuda_bf16,
#endif
};

const mb_adam_mini_kernels *mb_adam_mini_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct adam_mini_state {
    double lr, beta1, beta2, eps, wd;
    const mb_adam_mini_kernels *k;
    mb_opt_state st; /* a: m, b: block v, t: updates per parameter */
} adam_mini_state;

static mb_status adam_mini_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    adam_mini_state *s = priv;
    const mb_backend *be = tr->ctx->be;
    s->k = mb_adam_mini_kernels_of(be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED,
                        "adam-mini: backend %s has no Adam-mini kernel (this build has it on the "
                        "cpu and cuda backends)",
                        be->name);
    s->lr = v[P_LR].num;
    s->beta1 = v[P_BETA1].num;
    s->beta2 = v[P_BETA2].num;
    s->eps = v[P_EPS].num;
    s->wd = v[P_WD].num;
    return mb_opt_state_init(tr, &s->st, "adam-mini");
}

static void adam_mini_fini(void *priv, mb_train *tr) {
    adam_mini_state *s = priv;
    mb_opt_state_fini(tr, &s->st);
}

static mb_status adam_mini_step(void *priv, mb_train *tr, mb_param *p) {
    adam_mini_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    size_t es = mb_dtype_size(ctx->be->dtype), ss = mb_dtype_size(ctx->be->sdtype);
    size_t nv = v_count(tr->model, p);
    if (!s->st.a[i].ptr) {
        MB_TRY(mb_alloc(ctx, &s->st.a[i], p->numel * ss, MB_MEM_OPTIMIZER, "adam_mini.m"));
        MB_TRY(mb_alloc(ctx, &s->st.b[i], nv * ss, MB_MEM_OPTIMIZER, "adam_mini.v"));
        ctx->be->zero(ctx, s->st.a[i].ptr, p->numel * ss);
        ctx->be->zero(ctx, s->st.b[i].ptr, nv * ss);
    }
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    int t = ++s->st.t[i];
    double bc1 = 1.0 - pow(s->beta1, t), bc2 = 1.0 - pow(s->beta2, t), wd = decays(p) ? s->wd : 0;
    span sp[3];
    size_t vat = 0;
    for (int k = 0, ns = spans(tr->model, p, sp); k < ns; k++) {
        size_t a = sp[k].first;
        s->k->adam_mini(ctx, (char *)p->w.ptr + a * es, (const char *)p->g.ptr + a * es,
                        (char *)s->st.a[i].ptr + a * ss, (char *)s->st.b[i].ptr + vat * ss,
                        master ? (char *)master->ptr + a * ss : NULL, sp[k].n, sp[k].block, s->lr,
                        s->beta1, s->beta2, s->eps, wd, bc1, bc2);
        vat += sp[k].n / sp[k].block;
    }
    return MB_OK;
}

/* m: one element per parameter; v: one per block (GPT-2 124M: 124,439,808 + 217,227 elements). */
static void adam_mini_predict(const mb_pvalue *v, mb_predict *pr) {
    (void)v;
    size_t n = 0;
    for (int i = 0; i < pr->model->nparams; i++)
        if (!pr->trainable || pr->trainable[i])
            n += pr->model->params[i].numel + v_count(pr->model, &pr->model->params[i]);
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(pr->state_elem * n);
}

const mb_method mb_method_adam_mini = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "adam-mini",
    .paper = "Yushun Zhang, Congliang Chen, Ziniu Li, Tian Ding, Chenwei Wu, Diederik P. Kingma, "
             "Yinyu Ye, Zhi-Quan Luo and Ruoyu Sun. Adam-mini: Use Fewer Learning Rates To Gain "
             "More. ICLR 2025. arXiv:2406.16793",
    .summary = "Adam with one second-moment value per parameter block (heads, neurons, token rows)",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(adam_mini_state),
    .init = adam_mini_init,
    .fini = adam_mini_fini,
    .optimizer_step = adam_mini_step,
    .predict_bytes = adam_mini_predict,
};
