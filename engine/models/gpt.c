/* engine/models/gpt.c — the GPT-2 family: descriptors, initialisation, forward and backward over a
 * backend table, its activation shape and saved tensors. */
#include "gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"

/* Saved tensors of one block, in this order; the first MB_GPT_BLOCK_INSIDE are "inside" the block
 * (what recompute frees and act_save sees); res3, the block's output, is always kept. GELU's output
 * is not saved: every block writes it into the one shared mb_gpt_acts.gelu, and backward recomputes
 * it from fch (as llm.c does with recompute 1). */
#define MB_GPT_BLOCK_INSIDE 11
typedef struct mb_gpt_layer_acts {
    mb_buf ln1, ln1_mean, ln1_rstd, qkv, att, atty, res2, ln2, ln2_mean, ln2_rstd, fch, res3;
} mb_gpt_layer_acts;

/* Saved activations of one forward: kept until backward (or mb_model_free_acts). */
typedef struct mb_gpt_acts {
    int B, T;
    int lean;                 /* made by a lean forward: nothing kept for backward */
    int counted;              /* positions with a target: the loss is their mean */
    mb_buf tokens, targets;   /* int32 [B,T], category OTHER */
    mb_buf encoded;           /* [B,T,C] */
    mb_buf gelu;              /* [B,T,4C]: GELU(fch) of the block being computed, shared by all */
    mb_gpt_layer_acts *layer; /* host array of L */
    mb_buf lnf, lnf_mean, lnf_rstd, logits, losses;
} mb_gpt_acts;

static mb_gpt_acts *acts_of(const mb_model *m) {
    return m->acts;
}

static const char *const preset_names[] = {"gpt-nano",  "gpt2-124m", "gpt2-350m",
                                           "gpt2-774m", "gpt2-1.5b", NULL};
static const mb_model_config presets[] = {
    {.arch = MB_ARCH_GPT, .layers = 2, .d_model = 64, .heads = 4, .seq_len = 32, .vocab = 256},
    {.arch = MB_ARCH_GPT,
     .layers = 12,
     .d_model = 768,
     .heads = 12,
     .seq_len = 1024,
     .vocab = 50257},
    {.arch = MB_ARCH_GPT,
     .layers = 24,
     .d_model = 1024,
     .heads = 16,
     .seq_len = 1024,
     .vocab = 50257},
    {.arch = MB_ARCH_GPT,
     .layers = 36,
     .d_model = 1280,
     .heads = 20,
     .seq_len = 1024,
     .vocab = 50257},
    {.arch = MB_ARCH_GPT,
     .layers = 48,
     .d_model = 1600,
     .heads = 25,
     .seq_len = 1024,
     .vocab = 50257},
};

static mb_status gpt_check(mb_ctx *ctx, mb_model_config *c) {
    if (c->layers < 1 || c->d_model < 1 || c->heads < 1 || c->seq_len < 1 || c->vocab < 1)
        return mb_error(ctx, MB_EINVAL,
                        "GPT shape must be positive: layers %d, d_model %d, heads %d, seq_len %d, "
                        "vocab %d",
                        c->layers, c->d_model, c->heads, c->seq_len, c->vocab);
    if (c->classes < 0 || c->classes == 1)
        return mb_error(ctx, MB_EINVAL,
                        "classes must be 0 (a language model) or at least 2, got %d", c->classes);
    if (c->d_model % c->heads)
        return mb_error(ctx, MB_EINVAL, "d_model %d is not divisible by heads %d", c->d_model,
                        c->heads);
    if (c->kv_heads && c->kv_heads != c->heads)
        return mb_error(ctx, MB_EINVAL,
                        "GPT has one key/value head per query head: kv_heads %d must be %d (or "
                        "unset)",
                        c->kv_heads, c->heads);
    if (c->d_ff && c->d_ff != 4 * c->d_model)
        return mb_error(ctx, MB_EINVAL,
                        "GPT's MLP is 4 x d_model wide: d_ff %d must be %d (or "
                        "unset)",
                        c->d_ff, 4 * c->d_model);
    if (c->tie < 0)
        return mb_error(ctx, MB_EINVAL,
                        "GPT's LM head is tied to the token embedding "
                        "(tie_embeddings must be true)");
    c->kv_heads = c->heads;
    c->d_ff = 4 * c->d_model;
    c->tie = 1;
    return MB_OK;
}

static size_t gpt_num_params(const mb_model_config *cfg) {
    size_t C = cfg->d_model, L = cfg->layers;
    return (size_t)cfg->vocab * C + (size_t)cfg->seq_len * C + L * (12 * C * C + 13 * C) + 2 * C +
           (size_t)cfg->classes * C;
}

static int gpt_count(const mb_model_config *cfg) {
    return 4 + cfg->layers * MB_GPT_PER_LAYER + (cfg->classes > 0);
}

/* The output head's parameter: score (the architecture's last) for a classifier, else the tied
 * wte. */
static int head_id(const mb_model *m) {
    return m->cfg.classes > 0 ? m->nbase - 1 : 0;
}

/* Hugging Face suffix and role of each per-block tensor. */
static const char *const hf_block_names[MB_GPT_PER_LAYER] = {
    "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
    "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
};
static const mb_role block_roles[MB_GPT_PER_LAYER] = {
    MB_ROLE_NORM,     MB_ROLE_NORM_BIAS,     MB_ROLE_ATTN_QKV, MB_ROLE_ATTN_QKV_BIAS,
    MB_ROLE_ATTN_OUT, MB_ROLE_ATTN_OUT_BIAS, MB_ROLE_NORM,     MB_ROLE_NORM_BIAS,
    MB_ROLE_MLP_UP,   MB_ROLE_MLP_UP_BIAS,   MB_ROLE_MLP_DOWN, MB_ROLE_MLP_DOWN_BIAS,
};

static void describe(mb_param *p, int id, int layer, mb_role role, size_t r, size_t c) {
    memset(p, 0, sizeof *p);
    p->id = id;
    p->layer = layer;
    p->role = role;
    p->ndim = c ? 2 : 1;
    p->shape[0] = r;
    p->shape[1] = c;
    p->numel = c ? r * c : r;
}

static void gpt_describe(const mb_model_config *cfg, mb_param *ps) {
    size_t C = cfg->d_model;
    int NH = cfg->heads, L = cfg->layers;
    describe(&ps[0], 0, -1, MB_ROLE_EMBED, cfg->vocab, C);
    snprintf(ps[0].name, sizeof ps[0].name, "wte.weight");
    ps[0].tied_with = "lm_head";
    describe(&ps[1], 1, -1, MB_ROLE_POS_EMBED, cfg->seq_len, C);
    snprintf(ps[1].name, sizeof ps[1].name, "wpe.weight");
    static const size_t rows[MB_GPT_PER_LAYER] = {1, 1, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1};
    static const size_t cols[MB_GPT_PER_LAYER] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 0};
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < MB_GPT_PER_LAYER; k++) {
            int id = 2 + l * MB_GPT_PER_LAYER + k;
            mb_param *p = &ps[id];
            describe(p, id, l, block_roles[k], rows[k] * C, cols[k] * C);
            snprintf(p->name, sizeof p->name, "h.%d.%s", l, hf_block_names[k]);
            p->is_linear = cols[k] != 0;
            if (p->role == MB_ROLE_ATTN_QKV || p->role == MB_ROLE_ATTN_QKV_BIAS) {
                p->heads = NH;
                p->nsplits = 3;
                p->splits[0] = p->splits[1] = p->splits[2] = C;
            }
            if (p->role == MB_ROLE_ATTN_OUT) p->heads = NH;
        }
    }
    int f = 2 + L * MB_GPT_PER_LAYER;
    describe(&ps[f], f, -1, MB_ROLE_NORM, C, 0);
    snprintf(ps[f].name, sizeof ps[f].name, "ln_f.weight");
    describe(&ps[f + 1], f + 1, -1, MB_ROLE_NORM_BIAS, C, 0);
    snprintf(ps[f + 1].name, sizeof ps[f + 1].name, "ln_f.bias");
    if (cfg->classes > 0) {
        describe(&ps[f + 2], f + 2, -1, MB_ROLE_SCORE, (size_t)cfg->classes, C);
        snprintf(ps[f + 2].name, sizeof ps[f + 2].name, "score.weight");
    }
}

/* GPT-2 initialisation: weights N(0, 0.02), residual projections (attn c_proj, mlp c_proj)
 * N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weights 1. Tensor i draws from Philox stream
 * MB_RNG_STREAM_INIT + i, so fp32 and fp64 models of one seed hold the same values up to rounding.
 */
static mb_status gpt_init_weights(mb_ctx *ctx, mb_model *m, uint64_t seed) {
    size_t maxn = 0;
    for (int i = 0; i < m->nbase; i++)
        if (m->params[i].numel > maxn) maxn = m->params[i].numel;
    double *h = malloc(maxn * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of %zu values", maxn);
    double resid_std = 0.02 / sqrt(2.0 * m->cfg.layers);
    mb_status s = MB_OK;
    for (int i = 0; i < m->nbase && s == MB_OK; i++) {
        mb_param *p = &m->params[i];
        if (mb_role_is_norm(p->role)) {
            for (size_t j = 0; j < p->numel; j++) h[j] = 1.0;
        } else if (mb_role_is_bias(p->role)) {
            memset(h, 0, p->numel * sizeof *h);
        } else {
            int resid = p->role == MB_ROLE_ATTN_OUT || p->role == MB_ROLE_MLP_DOWN;
            mb_rng_fill_normal(h, p->numel, seed, MB_RNG_STREAM_INIT + (uint32_t)i, 0, 0.0,
                               resid ? resid_std : 0.02);
        }
        s = mb_model_param_set(ctx, &p->w, p->numel, h);
    }
    free(h);
    return s;
}

size_t mb_gpt_act_bytes(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld) {
    size_t BT = (size_t)B * T, BTC = BT * cfg->d_model, L = (size_t)cfg->layers;
    /* embeddings, the shared GELU buffer and the final LayerNorm (1 + 4 + 1 BTC); each block's
     * output and inside; the logits; the final LayerNorm's mean and rstd and the losses */
    return es * 6 * BTC + L * (es * BTC + mb_gpt_block_inside_bytes(cfg, B, T, es, ss)) +
           es * BT * (size_t)ld + ss * 3 * BT;
}

size_t mb_gpt_bwd_scratch_elems(const mb_model_config *cfg, int B, int T) {
    size_t BT = (size_t)B * T;
    return 9 * BT * cfg->d_model + (size_t)B * cfg->heads * T;
}

size_t mb_gpt_block_inside_bytes(const mb_model_config *cfg, int B, int T, size_t es, size_t ss) {
    size_t BT = (size_t)B * T, C = cfg->d_model, NH = cfg->heads;
    return es * (11 * BT * C + NH * BT * T) + ss * 4 * BT;
}

static void gpt_act_shape(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                          mb_act_shape *s) {
    size_t BT = (size_t)B * T, BTC = BT * cfg->d_model, NH = (size_t)cfg->heads;
    s->stem = es * 5 * BTC; /* encoded and the shared GELU buffer */
    s->block_out = es * BTC;
    s->inside = mb_gpt_block_inside_bytes(cfg, B, T, es, ss);
    s->probs = es * NH * BT * T;
    s->head = es * BTC + ss * 3 * BT; /* lnf, its mean and rstd, the losses */
    s->logits = es * BT * (size_t)ld;
    s->bwd_first = es * 2 * BTC; /* dres, dtmp */
    s->bwd_rest = es * 7 * BTC;  /* dqkv 3C, dfch 4C */
    s->attn_rows = es * NH * BT;
}

size_t mb_gpt_train_act_peak(const mb_model_config *cfg, int B, int T, size_t es, size_t ss,
                             int ld) {
    const mb_act_walk plain = {0};
    mb_act_shape s = {0};
    gpt_act_shape(cfg, B, T, es, ss, ld, &s);
    return mb_act_walk_peak(&s, cfg->layers, &plain);
}

/* The block's inside in mb_gpt_layer_acts order. */
static int gpt_saved(const mb_model_config *cfg, int B, int T, mb_saved *out) {
    size_t N = (size_t)B * T, C = (size_t)cfg->d_model, NH = (size_t)cfg->heads;
    const mb_saved sv[MB_GPT_BLOCK_INSIDE] = {
        {.name = "ln1", .kind = MB_SAVED_NORM_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "ln1_mean", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "ln1_rstd", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "qkv", .kind = MB_SAVED_QKV, .rows = N, .cols = 3 * C, .splits = 3},
        {.name = "att",
         .kind = MB_SAVED_ATTN_PROBS,
         .rows = (size_t)B * NH * T,
         .cols = (size_t)T,
         .splits = 1,
         .heads = (int)NH},
        {.name = "atty", .kind = MB_SAVED_ATTN_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "res2", .kind = MB_SAVED_RESIDUAL, .rows = N, .cols = C, .splits = 1},
        {.name = "ln2", .kind = MB_SAVED_NORM_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "ln2_mean", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "ln2_rstd", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "fch", .kind = MB_SAVED_MLP_PRE, .rows = N, .cols = 4 * C, .splits = 1},
    };
    memcpy(out, sv, sizeof sv);
    for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++) out[k].index = k;
    return MB_GPT_BLOCK_INSIDE;
}

/* backward_impl's order: the head from the loss (the tied wte lives until the encoder adds its
 * part; a classifier's score is complete at once), the final LayerNorm, each block's ops from the
 * last (weight and bias together), the embeddings. */
static int add_ev(mb_grad_event *out, int n, int ready, int id) {
    if (out) out[n] = (mb_grad_event){.ready = ready, .id = id};
    return n + 1;
}

/* One op's weight and bias: both written, then both complete. */
static int add_pair(mb_grad_event *out, int n, int w) {
    n = add_ev(out, n, 0, w);
    n = add_ev(out, n, 0, w + 1);
    n = add_ev(out, n, 1, w);
    return add_ev(out, n, 1, w + 1);
}

static int gpt_grad_events(const mb_model_config *cfg, mb_grad_event *out) {
    int n = 0, L = cfg->layers, f = 2 + L * MB_GPT_PER_LAYER, H = cfg->classes > 0 ? f + 2 : 0;
    n = add_ev(out, n, 0, H);
    if (H) n = add_ev(out, n, 1, H);
    n = add_pair(out, n, f);
    for (int l = L - 1; l >= 0; l--) {
        int p = 2 + l * MB_GPT_PER_LAYER;
        for (int k = 10; k >= 0; k -= 2) /* fc proj, fc, ln2, attn proj, qkv, ln1 */
            n = add_pair(out, n, p + k);
    }
    return add_pair(out, n, 0);
}

static int gpt_ignorable(const mb_model *m, const char *name) {
    (void)m;
    if (!strncmp(name, "transformer.", 12)) name += 12;
    size_t n = strlen(name);
    if (!strcmp(name, "lm_head.weight")) return 1;
    if (n > 10 && !strcmp(name + n - 10, ".attn.bias")) return 1;
    if (n > 17 && !strcmp(name + n - 17, ".attn.masked_bias")) return 1;
    return 0;
}

static mb_buf *layer_bufs(mb_gpt_layer_acts *la) {
    return (mb_buf *)la;
}

static void free_block_inside(mb_ctx *ctx, mb_gpt_layer_acts *la) {
    for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++) mb_free(ctx, &layer_bufs(la)[k]);
}

/* The block's inside activations, in the order its forward fills them. */
static mb_status alloc_block_inside(mb_ctx *ctx, const mb_model *m, mb_gpt_layer_acts *la, int B,
                                    int T) {
    size_t es = mb_dtype_size(ctx->be->dtype), ss = mb_dtype_size(ctx->be->sdtype);
    size_t BT = (size_t)B * T, C = m->cfg.d_model, NH = m->cfg.heads;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &la->ln1, BT * C * es, A, "ln1"));
    MB_TRY(mb_alloc(ctx, &la->ln1_mean, BT * ss, A, "ln1_mean"));
    MB_TRY(mb_alloc(ctx, &la->ln1_rstd, BT * ss, A, "ln1_rstd"));
    MB_TRY(mb_alloc(ctx, &la->qkv, 3 * BT * C * es, A, "qkv"));
    if (!mb_model_attention_owned(m)) MB_TRY(mb_alloc(ctx, &la->att, NH * BT * T * es, A, "att"));
    MB_TRY(mb_alloc(ctx, &la->atty, BT * C * es, A, "atty"));
    MB_TRY(mb_alloc(ctx, &la->res2, BT * C * es, A, "res2"));
    MB_TRY(mb_alloc(ctx, &la->ln2, BT * C * es, A, "ln2"));
    MB_TRY(mb_alloc(ctx, &la->ln2_mean, BT * ss, A, "ln2_mean"));
    MB_TRY(mb_alloc(ctx, &la->ln2_rstd, BT * ss, A, "ln2_rstd"));
    MB_TRY(mb_alloc(ctx, &la->fch, 4 * BT * C * es, A, "fch"));
    return MB_OK;
}

#define W(id) (m->params[(id)].w.ptr)
#define G(id) (m->params[(id)].g.ptr)

static mb_status need_grad(mb_ctx *ctx, mb_model *m, int id) {
    return mb_model_need_grad(ctx, m, id);
}

static mb_status need_grads(mb_ctx *ctx, mb_model *m, int a, int b) {
    MB_TRY(need_grad(ctx, m, a));
    return need_grad(ctx, m, b);
}

static mb_status linear(mb_ctx *ctx, mb_model *m, int layer, int wid, int backward, void *out,
                        const void *inp, void *dinp, const void *dout, int N, int C, int OC) {
    if (backward) MB_TRY(need_grads(ctx, m, wid, wid + 1));
    mb_linear_call c = {.layer = layer,
                        .w = &m->params[wid],
                        .b = &m->params[wid + 1],
                        .out = out,
                        .inp = inp,
                        .dinp = dinp,
                        .dout = dout,
                        .N = N,
                        .C = C,
                        .OC = OC};
    const mb_model_hooks *h = m->hooks;
    if (h && !backward && h->linear_forward) return h->linear_forward(h->user, &c);
    if (h && backward && h->linear_backward) return h->linear_backward(h->user, &c);
    return mb_model_linear_default(ctx, &c, backward);
}

/* out = inp . W^T + b + res for linear wid of block l: the backend's fused call where it has one
 * and no method replaces the layer, else the layer and then the residual add. */
static mb_status linear_res(mb_ctx *ctx, mb_model *m, int l, int wid, void *out, const void *inp,
                            const void *res, int N, int C, int OC) {
    const mb_backend *be = ctx->be;
    if (mb_model_linear_plain(m, 0) && be->matmul_fwd_res) {
        be->matmul_fwd_res(ctx, out, inp, W(wid), W(wid + 1), res, N, C, OC);
        return MB_OK;
    }
    MB_TRY(linear(ctx, m, l, wid, 0, out, inp, NULL, NULL, N, C, OC));
    be->residual_fwd(ctx, out, out, res, (size_t)N * OC);
    return MB_OK;
}

static mb_status attention(mb_ctx *ctx, mb_model *m, mb_gpt_layer_acts *la, int layer, int backward,
                           const void *dout, void *dqkv, void *scratch) {
    const mb_gpt_acts *a = acts_of(m);
    mb_attn_call c = {.backward = backward,
                      .layer = layer,
                      .B = a->B,
                      .T = a->T,
                      .C = m->cfg.d_model,
                      .NH = m->cfg.heads,
                      .KV = m->cfg.heads,
                      .keep = !a->lean,
                      .qkv = la->qkv.ptr,
                      .out = la->atty.ptr,
                      .dout = dout,
                      .dqkv = dqkv,
                      .att = la->att.ptr};
    if (mb_model_attention_owned(m)) return m->hooks->attention(m->hooks->user, &c);
    return mb_model_attention_default(ctx, &c, scratch);
}

/* A custom block's saved tensors handed to act_save, each with its description. */
static mb_status save_block(mb_ctx *ctx, mb_model *m, int l) {
    (void)ctx;
    mb_gpt_layer_acts *la = &acts_of(m)->layer[l];
    mb_saved sv[MB_MAX_SAVED];
    gpt_saved(&m->cfg, acts_of(m)->B, acts_of(m)->T, sv);
    for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++)
        if (layer_bufs(la)[k].ptr)
            MB_TRY(m->hooks->act_save(m->hooks->user, l, &sv[k], &layer_bufs(la)[k]));
    return MB_OK;
}

/* One block's forward from res_in into la (inside buffers allocated here; res3 by the caller). */
static mb_status block_forward(mb_ctx *ctx, mb_model *m, int l, const void *res_in) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = acts_of(m);
    mb_gpt_layer_acts *la = &a->layer[l];
    int C = m->cfg.d_model, N = a->B * a->T, p = 2 + l * MB_GPT_PER_LAYER;
    MB_TRY(alloc_block_inside(ctx, m, la, a->B, a->T));
    be->layernorm_fwd(ctx, la->ln1.ptr, la->ln1_mean.ptr, la->ln1_rstd.ptr, res_in, W(p), W(p + 1),
                      N, C);
    MB_TRY(linear(ctx, m, l, p + 2, 0, la->qkv.ptr, la->ln1.ptr, NULL, NULL, N, C, 3 * C));
    MB_TRY(attention(ctx, m, la, l, 0, NULL, NULL, NULL));
    MB_TRY(linear_res(ctx, m, l, p + 4, la->res2.ptr, la->atty.ptr, res_in, N, C, C));
    be->layernorm_fwd(ctx, la->ln2.ptr, la->ln2_mean.ptr, la->ln2_rstd.ptr, la->res2.ptr, W(p + 6),
                      W(p + 7), N, C);
    if (mb_model_linear_plain(m, 0) && be->matmul_fwd_gelu) {
        be->matmul_fwd_gelu(ctx, a->gelu.ptr, la->fch.ptr, la->ln2.ptr, W(p + 8), W(p + 9), N, C,
                            4 * C);
    } else {
        MB_TRY(linear(ctx, m, l, p + 8, 0, la->fch.ptr, la->ln2.ptr, NULL, NULL, N, C, 4 * C));
        be->gelu_fwd(ctx, a->gelu.ptr, la->fch.ptr, (size_t)N * 4 * C);
    }
    return linear_res(ctx, m, l, p + 10, la->res3.ptr, a->gelu.ptr, la->res2.ptr, N, 4 * C, C);
}

static mb_status forward_impl(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                              const int32_t *targets, int B, int T, double *loss) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = acts_of(m);
    int C = m->cfg.d_model, V = mb_model_head_rows(&m->cfg), L = m->cfg.layers, N = B * T;
    const int LD = mb_model_logits_ld(be, V); /* logits row stride */
    const int H = head_id(m);
    size_t es = mb_dtype_size(be->dtype), ss = mb_dtype_size(be->sdtype), BT = (size_t)N;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    a->B = B;
    a->T = T;
    a->lean = m->lean;
    a->layer = calloc((size_t)L, sizeof *a->layer);
    if (!a->layer) return mb_error(ctx, MB_ENOMEM, "host allocation of activation table");
    MB_TRY(mb_alloc(ctx, &a->tokens, BT * 4, MB_MEM_OTHER, "tokens"));
    if (targets) MB_TRY(mb_alloc(ctx, &a->targets, BT * 4, MB_MEM_OTHER, "targets"));
    MB_TRY(be->to_device(ctx, a->tokens.ptr, tokens, BT * 4));
    if (targets) MB_TRY(be->to_device(ctx, a->targets.ptr, targets, BT * 4));
    MB_TRY(mb_alloc(ctx, &a->encoded, BT * C * es, A, "encoded"));
    MB_TRY(mb_alloc(ctx, &a->gelu, 4 * BT * C * es, A, "fch_gelu"));
    be->encoder_fwd(ctx, a->encoded.ptr, a->tokens.ptr, W(0), W(1), B, T, C);
    const void *res = a->encoded.ptr;
    for (int l = 0; l < L; l++) {
        mb_gpt_layer_acts *la = &a->layer[l];
        MB_TRY(mb_alloc(ctx, &la->res3, BT * C * es, A, "res3"));
        MB_TRY(block_forward(ctx, m, l, res));
        if (m->lean) { /* no backward: the next block reads res3 only */
            free_block_inside(ctx, la);
            if (l > 0) mb_free(ctx, &a->layer[l - 1].res3);
            res = la->res3.ptr;
            continue;
        }
        mb_act_mode mode = mb_model_act_policy(m, l);
        if (mode == MB_ACT_RECOMPUTE)
            free_block_inside(ctx, la);
        else if (mode == MB_ACT_CUSTOM)
            MB_TRY(save_block(ctx, m, l));
        res = la->res3.ptr;
    }
    int f = 2 + L * MB_GPT_PER_LAYER;
    MB_TRY(mb_alloc(ctx, &a->lnf, BT * C * es, A, "lnf"));
    MB_TRY(mb_alloc(ctx, &a->lnf_mean, BT * ss, A, "lnf_mean"));
    MB_TRY(mb_alloc(ctx, &a->lnf_rstd, BT * ss, A, "lnf_rstd"));
    be->layernorm_fwd(ctx, a->lnf.ptr, a->lnf_mean.ptr, a->lnf_rstd.ptr, res, W(f), W(f + 1), N, C);
    if (!targets) {
        /* inference: logits only */
        MB_TRY(mb_alloc(ctx, &a->logits, BT * LD * es, A, "logits"));
        be->matmul_fwd(ctx, a->logits.ptr, a->lnf.ptr, W(H), NULL, N, C, V, LD);
        return MB_OK;
    }
    if (!mb_model_loss_owned(m)) MB_TRY(mb_alloc(ctx, &a->logits, BT * LD * es, A, "logits"));
    MB_TRY(mb_alloc(ctx, &a->losses, BT * ss, A, "losses"));
    int counted = 0;
    for (int i = 0; i < N; i++) counted += targets[i] >= 0;
    a->counted = counted;
    mb_loss_call lc = {.backward = 0,
                       .N = N,
                       .C = C,
                       .V = V,
                       .ld = LD,
                       .keep = !a->lean,
                       .lnf = a->lnf.ptr,
                       .head = &m->params[H],
                       .targets = a->targets.ptr,
                       .losses = a->losses.ptr,
                       .logits = a->logits.ptr,
                       .scale = counted ? 1.0 / counted : 0.0};
    MB_TRY(mb_model_loss_owned(m) ? m->hooks->loss(m->hooks->user, &lc)
                                  : mb_model_loss_default(ctx, &lc));
    double *h = malloc(BT * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of losses");
    mb_status s = mb_model_state_get(ctx, &a->losses, BT, h);
    if (s == MB_OK) {
        double sum = 0;
        for (int i = 0; i < N; i++)
            if (targets[i] >= 0) sum += h[i];
        if (loss) *loss = counted ? sum / counted : 0.0;
    }
    free(h);
    return s;
}

/* Scratch buffers of backward (see mb_gpt_bwd_scratch_elems): dres and dtmp from the start, the
 * others taken once the loss is done and the logits are freed. */
typedef struct bwd_scratch {
    mb_buf dres, dtmp, dqkv, dfch, datt;
} bwd_scratch;

/* Makes block l's inside activations available again: recomputed or handed back by act_load. */
static mb_status block_restore(mb_ctx *ctx, mb_model *m, int l, mb_act_mode mode) {
    mb_gpt_layer_acts *la = &acts_of(m)->layer[l];
    if (mode == MB_ACT_RECOMPUTE) {
        /* block_forward rewrites res3 with identical values (deterministic kernels) */
        const void *res_in = l ? acts_of(m)->layer[l - 1].res3.ptr : acts_of(m)->encoded.ptr;
        return block_forward(ctx, m, l, res_in);
    }
    if (mode == MB_ACT_CUSTOM) {
        mb_saved sv[MB_MAX_SAVED];
        gpt_saved(&m->cfg, acts_of(m)->B, acts_of(m)->T, sv);
        for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++)
            if (k != 4 || !mb_model_attention_owned(m))
                MB_TRY(m->hooks->act_load(m->hooks->user, l, &sv[k], &layer_bufs(la)[k]));
    }
    return MB_OK;
}

static mb_status block_backward(mb_ctx *ctx, mb_model *m, int l, const bwd_scratch *s,
                                int need_dinp) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = acts_of(m);
    mb_gpt_layer_acts *la = &a->layer[l];
    int C = m->cfg.d_model, N = a->B * a->T, p = 2 + l * MB_GPT_PER_LAYER;
    size_t NC = (size_t)N * C;
    const void *res_in = l ? a->layer[l - 1].res3.ptr : a->encoded.ptr;
    const mb_act_mode mode = mb_model_act_policy(m, l);
    MB_TRY(block_restore(ctx, m, l, mode));
    /* GELU's output for the weight gradient of the MLP projection (a recomputed block has it) */
    if (mode != MB_ACT_RECOMPUTE) be->gelu_fwd(ctx, a->gelu.ptr, la->fch.ptr, 4 * NC);
    if (mb_model_linear_plain(m, 1) && be->matmul_bwd_dgelu) {
        MB_TRY(need_grads(ctx, m, p + 10, p + 11));
        be->matmul_bwd_dgelu(ctx, s->dfch.ptr, G(p + 10), G(p + 11), s->dres.ptr, a->gelu.ptr,
                             W(p + 10), la->fch.ptr, N, 4 * C, C);
        MB_TRY(mb_model_grad_ready(m, p + 10));
        MB_TRY(mb_model_grad_ready(m, p + 11));
    } else {
        MB_TRY(
            linear(ctx, m, l, p + 10, 1, NULL, a->gelu.ptr, s->dfch.ptr, s->dres.ptr, N, 4 * C, C));
        MB_TRY(mb_model_grad_ready(m, p + 10));
        MB_TRY(mb_model_grad_ready(m, p + 11));
        be->gelu_bwd(ctx, s->dfch.ptr, la->fch.ptr, s->dfch.ptr, 4 * NC);
    }
    MB_TRY(linear(ctx, m, l, p + 8, 1, NULL, la->ln2.ptr, s->dtmp.ptr, s->dfch.ptr, N, C, 4 * C));
    MB_TRY(mb_model_grad_ready(m, p + 8));
    MB_TRY(mb_model_grad_ready(m, p + 9));
    MB_TRY(need_grads(ctx, m, p + 6, p + 7));
    be->layernorm_bwd(ctx, s->dres.ptr, G(p + 6), G(p + 7), s->dtmp.ptr, la->res2.ptr, W(p + 6),
                      la->ln2_mean.ptr, la->ln2_rstd.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, p + 6));
    MB_TRY(mb_model_grad_ready(m, p + 7));
    MB_TRY(linear(ctx, m, l, p + 4, 1, NULL, la->atty.ptr, s->dtmp.ptr, s->dres.ptr, N, C, C));
    MB_TRY(mb_model_grad_ready(m, p + 4));
    MB_TRY(mb_model_grad_ready(m, p + 5));
    MB_TRY(attention(ctx, m, la, l, 1, s->dtmp.ptr, s->dqkv.ptr, s->datt.ptr));
    MB_TRY(linear(ctx, m, l, p + 2, 1, NULL, la->ln1.ptr, s->dtmp.ptr, s->dqkv.ptr, N, C, 3 * C));
    MB_TRY(mb_model_grad_ready(m, p + 2));
    MB_TRY(mb_model_grad_ready(m, p + 3));
    MB_TRY(need_grads(ctx, m, p, p + 1));
    be->layernorm_bwd(ctx, need_dinp ? s->dres.ptr : NULL, G(p), G(p + 1), s->dtmp.ptr, res_in,
                      W(p), la->ln1_mean.ptr, la->ln1_rstd.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, p));
    MB_TRY(mb_model_grad_ready(m, p + 1));
    /* The block's inside is no longer needed: free it now so the peak is one block's worth. */
    free_block_inside(ctx, la);
    return MB_OK;
}

static mb_status backward_impl(mb_ctx *ctx, mb_model *m, bwd_scratch *s) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = acts_of(m);
    int N = a->B * a->T, C = m->cfg.d_model, V = mb_model_head_rows(&m->cfg), L = m->cfg.layers;
    int f = 2 + L * MB_GPT_PER_LAYER, H = head_id(m);
    int lowest = m->hooks ? m->hooks->lowest_layer : 0;
    if (lowest < 0) lowest = 0;
    mb_loss_call lc = {.backward = 1,
                       .N = N,
                       .C = C,
                       .V = V,
                       .ld = mb_model_logits_ld(be, V),
                       .keep = 1,
                       .lnf = a->lnf.ptr,
                       .head = &m->params[H],
                       .targets = a->targets.ptr,
                       .losses = a->losses.ptr,
                       .dlnf = s->dtmp.ptr,
                       .logits = a->logits.ptr,
                       .scale = a->counted ? 1.0 / a->counted : 0.0};
    MB_TRY(need_grad(ctx, m, H));
    MB_TRY(mb_model_loss_owned(m) ? m->hooks->loss(m->hooks->user, &lc)
                                  : mb_model_loss_default(ctx, &lc));
    if (H != 0)
        MB_TRY(mb_model_grad_ready(m, H)); /* a classifier's head is complete after the loss */
    /* The logits (dlogits by now) are spent: free them before taking the rest of the scratch, so
     * backward's peak holds one or the other (see mb_gpt_train_act_peak). */
    mb_free(ctx, &a->logits);
    size_t es = mb_dtype_size(be->dtype), NC = (size_t)N * C;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &s->dqkv, 3 * NC * es, A, "d_qkv"));
    MB_TRY(mb_alloc(ctx, &s->dfch, 4 * NC * es, A, "d_fch"));
    if (!mb_model_attention_owned(m))
        MB_TRY(mb_alloc(ctx, &s->datt, (size_t)a->B * m->cfg.heads * a->T * es, A, "d_att_row"));
    be->zero(ctx, s->dres.ptr, (size_t)N * C * mb_dtype_size(be->dtype));
    MB_TRY(need_grads(ctx, m, f, f + 1));
    be->layernorm_bwd(ctx, s->dres.ptr, G(f), G(f + 1), s->dtmp.ptr, a->layer[L - 1].res3.ptr, W(f),
                      a->lnf_mean.ptr, a->lnf_rstd.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, f));
    MB_TRY(mb_model_grad_ready(m, f + 1));
    for (int l = L - 1; l >= lowest && l >= 0; l--)
        MB_TRY(block_backward(ctx, m, l, s, l > lowest || lowest == 0));
    if (lowest == 0) MB_TRY(need_grads(ctx, m, 0, 1));
    if (lowest == 0 && (G(0) || G(1))) /* frozen embeddings (an adapter's base) need no pass */
        be->encoder_bwd(ctx, G(0), G(1), s->dres.ptr, a->tokens.ptr, a->B, a->T, C);
    MB_TRY(mb_model_grad_ready(m, 0));
    if (lowest == 0) MB_TRY(mb_model_grad_ready(m, 1));
    return MB_OK;
}

static mb_status gpt_backward(mb_ctx *ctx, mb_model *m) {
    mb_gpt_acts *a = acts_of(m);
    size_t es = mb_dtype_size(ctx->be->dtype), NC = (size_t)a->B * a->T * m->cfg.d_model;
    bwd_scratch sc;
    memset(&sc, 0, sizeof sc);
    mb_status s = mb_alloc(ctx, &sc.dres, NC * es, MB_MEM_ACTIVATIONS, "d_residual");
    if (s == MB_OK) s = mb_alloc(ctx, &sc.dtmp, NC * es, MB_MEM_ACTIVATIONS, "d_tmp");
    if (s == MB_OK) s = backward_impl(ctx, m, &sc);
    mb_free(ctx, &sc.datt);
    mb_free(ctx, &sc.dfch);
    mb_free(ctx, &sc.dqkv);
    mb_free(ctx, &sc.dtmp);
    mb_free(ctx, &sc.dres);
    return s;
}

static void gpt_free_acts(mb_ctx *ctx, mb_model *m) {
    mb_gpt_acts *a = acts_of(m);
    if (!a) return;
    mb_free(ctx, &a->tokens);
    mb_free(ctx, &a->targets);
    mb_free(ctx, &a->encoded);
    mb_free(ctx, &a->gelu);
    if (a->layer) {
        for (int l = 0; l < m->cfg.layers; l++) {
            free_block_inside(ctx, &a->layer[l]);
            mb_free(ctx, &a->layer[l].res3);
        }
        free(a->layer);
    }
    mb_free(ctx, &a->lnf);
    mb_free(ctx, &a->lnf_mean);
    mb_free(ctx, &a->lnf_rstd);
    mb_free(ctx, &a->logits);
    mb_free(ctx, &a->losses);
    free(a);
    m->acts = NULL;
}

static mb_status gpt_forward(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                             const int32_t *targets, int B, int T, double *loss) {
    m->acts = calloc(1, sizeof(mb_gpt_acts));
    if (!m->acts) return mb_error(ctx, MB_ENOMEM, "host allocation of activation table");
    return forward_impl(ctx, m, tokens, targets, B, T, loss);
}

static mb_status gpt_logits_row(mb_ctx *ctx, const mb_model *m, int i, double *z) {
    const mb_gpt_acts *a = acts_of(m);
    if (!a || !a->logits.ptr)
        return mb_error(ctx, MB_EINVAL, "no logits: the last forward had targets");
    int V = mb_model_head_rows(&m->cfg), LD = mb_model_logits_ld(ctx->be, V);
    size_t es = mb_dtype_size(ctx->be->dtype);
    void *stage = malloc((size_t)V * es);
    if (!stage) return mb_error(ctx, MB_ENOMEM, "host staging of %d logits", V);
    mb_status s = ctx->be->to_host(ctx, stage, (const char *)a->logits.ptr + (size_t)i * LD * es,
                                   (size_t)V * es);
    if (s == MB_OK) mb_dtype_to_f64(ctx->be->dtype, z, stage, (size_t)V);
    free(stage);
    return s;
}

const mb_model_family mb_family_gpt = {
    .name = "gpt",
    .title = "GPT",
    .preset_names = preset_names,
    .presets = presets,
    .check = gpt_check,
    .num_params = gpt_num_params,
    .count = gpt_count,
    .describe = gpt_describe,
    .init_weights = gpt_init_weights,
    .forward = gpt_forward,
    .backward = gpt_backward,
    .free_acts = gpt_free_acts,
    .logits_row = gpt_logits_row,
    .act_shape = gpt_act_shape,
    .grad_events = gpt_grad_events,
    .saved = gpt_saved,
    .hf_conv1d = 1,
    .hf_prefix = "transformer.",
    .hf_ignorable = gpt_ignorable,
};
