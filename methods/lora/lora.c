/* methods/lora/lora.c — LoRA: y = W x + b + (alpha/r) B A x on the chosen linear layers, A [r, in]
 * and B [out, r] the only trained tensors (the base is frozen: no gradients, no optimizer state),
 * the product merged into W before the final evaluation. Read from huggingface/peft's LoRA layer.
 */
#include "../../engine/rng.h"
#include "../../engine/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_RANK, P_ALPHA, P_TARGETS, P_RSLORA, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "rank",
     .type = MB_PT_INT,
     .def = 8,
     .min = 1,
     .max = 4096,
     .choices = NULL,
     .help = "adapter rank r (peft LoraConfig r, default 8)"},
    {.name = "alpha",
     .type = MB_PT_FLOAT,
     .def = 8,
     .min = 0,
     .max = 1e6,
     .choices = NULL,
     .help =
         "lora_alpha: the update is scaled by alpha/r (peft's default 8; microsoft/LoRA's GPT-2 "
         "recipe uses r 4, alpha 32)"},
    {.name = "targets",
     .type = MB_PT_ENUM,
     .def = 0,
     .min = 0,
     .max = 0,
     .choices = "all|attn|mlp|qkv",
     .help =
         "adapted layers: all = every attention and MLP matrix (GPT: c_attn, attn.c_proj, "
         "mlp.c_fc, "
         "mlp.c_proj, the peer script's target_modules; LLaMA: q, k, v, o, gate, up, down_proj); "
         "attn = the attention's; mlp = the MLP's; qkv = the query, key and value projections "
         "(GPT's fused c_attn; microsoft/LoRA adapts its q and v rows, here all three)"},
    {.name = "rslora",
     .type = MB_PT_BOOL,
     .def = 0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "scale by alpha/sqrt(r) instead of alpha/r (peft use_rslora). Dropout on the adapter "
             "input "
             "(peft lora_dropout, default 0) is not offered"},
};

/* The adaptable roles, in block order (a family has some of them); `targets` picks a subset. */
#define NK 8
static const mb_role kinds[NK] = {MB_ROLE_ATTN_QKV, MB_ROLE_ATTN_Q,   MB_ROLE_ATTN_K,
                                  MB_ROLE_ATTN_V,   MB_ROLE_ATTN_OUT, MB_ROLE_MLP_GATE,
                                  MB_ROLE_MLP_UP,   MB_ROLE_MLP_DOWN};
static const unsigned target_sets[4] = {0xFF, 0x1F, 0xE0, 0x0F}; /* bit k: kinds[k] */

typedef struct lora_state {
    int rank, L, nbase, merged;
    unsigned set;
    double scale;
    int *a_id, *b_id; /* [L * NK]: parameter ids of A and B, -1 where not adapted */
    mb_buf u, du;     /* [N, r] scratch: x A^T and its gradient, kept between calls */
} lora_state;

static int kind_of(mb_role r) {
    for (int k = 0; k < NK; k++)
        if (kinds[k] == r) return k;
    return -1;
}

/* Block l's weight of kind k ([out, in] as every linear's descriptor holds it), NULL where the
 * family has none. */
static mb_param *base_of(const mb_model *m, int l, int k) {
    return mb_model_find(m, l, kinds[k], 0);
}

static void lora_fini(void *priv, mb_train *tr) {
    lora_state *s = priv;
    mb_free(tr->ctx, &s->u);
    mb_free(tr->ctx, &s->du);
    if (s->nbase) mb_model_drop_params(tr->ctx, tr->model, s->nbase);
    free(s->a_id);
    free(s->b_id);
}

/* A ~ U(-1/sqrt(in), 1/sqrt(in)): kaiming_uniform_(a = sqrt(5)) as peft's reset_lora_parameters
 * does (gain sqrt(1/3), bound gain * sqrt(3 / fan_in)); B = 0. Drawn in fp64 from stream
 * MB_RNG_STREAM_INIT + the adapter's id under the run's seed. */
static mb_status init_adapter(mb_train *tr, int a, int b, size_t in) {
    mb_ctx *ctx = tr->ctx;
    mb_param *pa = &tr->model->params[a];
    double bound = 1.0 / sqrt((double)in);
    double *h = malloc(pa->numel * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of %zu values", pa->numel);
    for (size_t j = 0; j < pa->numel; j++)
        h[j] = (2.0 * mb_rng_uniform(tr->seed, MB_RNG_STREAM_INIT + (uint32_t)a, j) - 1.0) * bound;
    mb_status s = mb_model_param_set(ctx, &pa->w, pa->numel, h);
    free(h);
    mb_param *pb = &tr->model->params[b];
    if (s == MB_OK) ctx->be->zero(ctx, pb->w.ptr, pb->w.bytes);
    return s;
}

static mb_status lora_check(mb_ctx *ctx, const mb_pvalue *v, const mb_model_config *cfg,
                            const mb_method *const *stack, int n) {
    (void)stack;
    (void)n;
    if ((int)v[P_RANK].num > cfg->d_model)
        return mb_error(ctx, MB_EINVAL, "rank %d is larger than the model's width %d",
                        (int)v[P_RANK].num, cfg->d_model);
    return MB_OK;
}

static mb_status lora_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    lora_state *s = priv;
    mb_model *m = tr->model;
    mb_ctx *ctx = tr->ctx;
    if (!ctx->be->gemm)
        return mb_error(ctx, MB_EUNSUPPORTED, "backend %s has no gemm kernel", ctx->be->name);
    s->rank = (int)v[P_RANK].num;
    s->set = target_sets[(int)v[P_TARGETS].num];
    s->scale = v[P_ALPHA].num / (v[P_RSLORA].num != 0 ? sqrt(s->rank) : s->rank);
    s->L = m->cfg.layers;
    s->nbase = m->nparams;
    s->a_id = malloc((size_t)s->L * NK * sizeof *s->a_id);
    s->b_id = malloc((size_t)s->L * NK * sizeof *s->b_id);
    if (!s->a_id || !s->b_id) return mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int l = 0; l < s->L; l++)
        for (int k = 0; k < NK; k++) {
            int *a = &s->a_id[l * NK + k], *b = &s->b_id[l * NK + k];
            *a = *b = -1;
            const mb_param *w = base_of(m, l, k);
            if (!(s->set >> k & 1) || !w) continue;
            char name[96], base[64];
            size_t in = w->shape[1], out = w->shape[0];
            /* peft's names, on the module that owns the weight: "h.0.attn.c_attn.lora_A.weight";
             * w points into m->params, which adding a parameter may move: copy what is needed */
            int n = (int)(strlen(w->name) - strlen(".weight"));
            snprintf(base, sizeof base, "%.*s", n, w->name);
            snprintf(name, sizeof name, "%s.lora_A.weight", base);
            MB_TRY(mb_model_add_param(ctx, m, l, name, (size_t)s->rank, in, a));
            snprintf(name, sizeof name, "%s.lora_B.weight", base);
            MB_TRY(mb_model_add_param(ctx, m, l, name, out, (size_t)s->rank, b));
            MB_TRY(init_adapter(tr, *a, *b, in));
        }
    return MB_OK;
}

/* Only the adapters train; a classifier's score head trains too, as peft's SEQ_CLS task type
 * (modules_to_save) does. Embeddings, LayerNorms and biases are frozen (peft bias = "none"). */
static int trains(const mb_param *p) {
    return p->role == MB_ROLE_ADAPTER || p->role == MB_ROLE_SCORE;
}

/* Narrows the plan (a chain: a layerwise method's choice before or after it stays). */
static mb_status lora_begin(void *priv, mb_train *tr, mb_step_plan *plan) {
    (void)priv;
    for (int i = 0; i < tr->model->nparams; i++)
        plan->trainable[i] &= (uint8_t)trains(&tr->model->params[i]);
    return MB_OK;
}

/* The adapter of call c, or -1 (not adapted, or merged). */
static int slot_of(const lora_state *s, const mb_linear_call *c) {
    int k = kind_of(c->w->role);
    if (s->merged || k < 0 || c->layer < 0 || c->layer >= s->L) return -1;
    return s->a_id[c->layer * NK + k] >= 0 ? c->layer * NK + k : -1;
}

/* u and du hold N x r; they grow to the largest N seen and stay (ACTIVATIONS). */
static mb_status scratch(lora_state *s, mb_ctx *ctx, int N) {
    size_t bytes = (size_t)N * s->rank * mb_dtype_size(ctx->be->dtype);
    if (s->u.bytes >= bytes) return MB_OK;
    mb_free(ctx, &s->u);
    mb_free(ctx, &s->du);
    MB_TRY(mb_alloc(ctx, &s->u, bytes, MB_MEM_ACTIVATIONS, "lora.u"));
    return mb_alloc(ctx, &s->du, bytes, MB_MEM_ACTIVATIONS, "lora.du");
}

/* y = x W^T + b, then u = x A^T and y += scale u B^T (B = 0 at first: y is left bit for bit). */
static mb_status lora_forward(void *priv, mb_train *tr, const mb_linear_call *c) {
    lora_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    MB_TRY(mb_model_linear_default(ctx, c, 0));
    int k = slot_of(s, c), r = s->rank;
    if (k < 0) return MB_OK;
    MB_TRY(scratch(s, ctx, c->N));
    const mb_param *A = &tr->model->params[s->a_id[k]], *B = &tr->model->params[s->b_id[k]];
    ctx->be->gemm(ctx, 0, 1, c->N, r, c->C, 1.0, c->inp, c->C, A->w.ptr, c->C, 0.0, s->u.ptr, r);
    ctx->be->gemm(ctx, 0, 1, c->N, c->OC, r, s->scale, s->u.ptr, r, B->w.ptr, r, 1.0, c->out,
                  c->ld ? c->ld : c->OC);
    return MB_OK;
}

/* The base's dinp (its W and b have no gradient buffers), then with u = x A^T recomputed:
 * dB += scale dout^T u; du = scale dout B; dA += du^T x; dinp += du A. */
static mb_status lora_backward(void *priv, mb_train *tr, const mb_linear_call *c) {
    lora_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    MB_TRY(mb_model_linear_default(ctx, c, 1));
    int k = slot_of(s, c), r = s->rank, N = c->N, ld = c->ld ? c->ld : c->OC;
    if (k < 0) return MB_OK;
    MB_TRY(scratch(s, ctx, N));
    mb_param *A = &tr->model->params[s->a_id[k]], *B = &tr->model->params[s->b_id[k]];
    be->gemm(ctx, 0, 1, N, r, c->C, 1.0, c->inp, c->C, A->w.ptr, c->C, 0.0, s->u.ptr, r);
    if (B->g.ptr)
        be->gemm(ctx, 1, 0, c->OC, r, N, s->scale, c->dout, ld, s->u.ptr, r, 1.0, B->g.ptr, r);
    be->gemm(ctx, 0, 0, N, r, c->OC, s->scale, c->dout, ld, B->w.ptr, r, 0.0, s->du.ptr, r);
    if (A->g.ptr)
        be->gemm(ctx, 1, 0, r, c->C, N, 1.0, s->du.ptr, r, c->inp, c->C, 1.0, A->g.ptr, c->C);
    if (c->dinp)
        be->gemm(ctx, 0, 0, N, c->C, r, 1.0, s->du.ptr, r, A->w.ptr, c->C, 1.0, c->dinp, c->C);
    return MB_OK;
}

/* W += scale B A for every adapter (fp32 accumulation, W rounded once), after which the layers
 * run as plain linears: peft's merge_and_unload before the final evaluation. */
static mb_status lora_finish(void *priv, mb_train *tr) {
    lora_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    mb_model *m = tr->model;
    for (int l = 0; l < s->L && !s->merged; l++)
        for (int k = 0; k < NK; k++) {
            if (s->a_id[l * NK + k] < 0) continue;
            mb_param *W = base_of(m, l, k);
            const mb_param *A = &m->params[s->a_id[l * NK + k]];
            const mb_param *B = &m->params[s->b_id[l * NK + k]];
            int in = (int)W->shape[1], out = (int)W->shape[0];
            ctx->be->gemm(ctx, 0, 0, out, in, s->rank, s->scale, B->w.ptr, s->rank, A->w.ptr, in,
                          1.0, W->w.ptr, in);
        }
    s->merged = 1;
    mb_free(ctx, &s->u);
    mb_free(ctx, &s->du);
    return MB_OK;
}

/* Per adapted [out, in] weight r (in + out); GPT's four: r (C + 3C) + r (C + C) + r (C + 4C) +
 * r (4C + C) = 16 r C per block. They add to WEIGHTS; grads (and a mixed-precision master) and
 * the optimizer's state cover them (and a classifier's score) only; u and du add 2 N r elements. */
static void lora_predict(const mb_pvalue *v, mb_predict *pr) {
    const mb_model *m = pr->model;
    size_t r = (size_t)v[P_RANK].num, adapters = 0, trained = 0;
    unsigned set = target_sets[(int)v[P_TARGETS].num];
    for (int i = 0; i < m->nbase; i++) {
        int k = kind_of(m->params[i].role);
        if (k >= 0 && (set >> k & 1))
            adapters += r * (m->params[i].shape[0] + m->params[i].shape[1]);
    }
    for (int i = 0; i < m->nparams; i++) {
        int t = trains(&m->params[i]) && (!pr->trainable || pr->trainable[i]);
        if (pr->trainable) pr->trainable[i] = (uint8_t)t;
        if (t && m->params[i].role != MB_ROLE_ADAPTER) trained += m->params[i].numel;
    }
    pr->trainable_numel = adapters + trained;
    pr->bytes[MB_MEM_WEIGHTS] += (int64_t)(pr->elem * adapters);
    pr->bytes[MB_MEM_GRADS] = (int64_t)(pr->elem * pr->trainable_numel);
    pr->bytes[MB_MEM_ACTIVATIONS] += (int64_t)(2 * pr->elem * (size_t)pr->B * pr->T * r);
}

const mb_method mb_method_lora = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "lora",
    .paper = "Edward J. Hu, Yelong Shen, Phillip Wallis, Zeyuan Allen-Zhu, Yuanzhi Li, Shean Wang, "
             "Lu Wang and Weizhu Chen. LoRA: Low-Rank Adaptation of Large Language Models. ICLR "
             "2022. arXiv:2106.09685",
    .summary =
        "frozen base weights plus trained rank-r adapters (alpha/r) B A on the attention and "
        "MLP linears, merged into the weights before the final evaluation",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(lora_state),
    .flags = MB_METHOD_ADDS_PARAMS,
    .init = lora_init,
    .check = lora_check,
    .fini = lora_fini,
    .begin_step = lora_begin,
    .linear_forward = lora_forward,
    .linear_backward = lora_backward,
    .predict_bytes = lora_predict,
    .finish = lora_finish,
};
