/* engine/models/llama.c — the LLaMA family (Hugging Face LlamaForCausalLM): RMSNorm, rotary
 * position embedding, grouped-query attention, a SwiGLU MLP, no biases, an untied head by default.
 * Forward and backward over a backend table, in the activation shape the walk replays. */
#include "llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"

/* What one block saves, in forward order; res3 (the block's output) is kept outside the inside.
 * The SwiGLU output is not saved: every block writes it into the shared mb_llama_acts.swi, and
 * backward recomputes it from gate and up. */
#define INSIDE 10
typedef struct layer_acts {
    mb_buf ln1, rstd1, qkv, att, atty, res2, ln2, rstd2, gate, up, res3;
} layer_acts;

typedef struct mb_llama_acts {
    int B, T;
    int lean;
    int counted;
    mb_buf tokens, targets; /* int32 [B,T], OTHER */
    mb_buf encoded;         /* [B,T,C] */
    mb_buf swi;             /* [B,T,F]: silu(gate) * up of the block being computed */
    layer_acts *layer;
    mb_buf lnf, lnf_rstd, logits, losses;
} mb_llama_acts;

static mb_llama_acts *acts_of(const mb_model *m) {
    return m->acts;
}

static const char *const preset_names[] = {"llama-nano", "llama-60m", "llama-130m",
                                           "llama-350m", "llama-1b",  NULL};
/* The LLaMA shapes the low-rank pretraining papers train (their configs/llama_60m.json ..
 * llama_1b.json: seq_len 1024, the T5 tokenizer's 32,000 entries); llama-nano is the tests' (GQA
 * 4 heads over 2). */
static const mb_model_config presets[] = {
    {.arch = MB_ARCH_LLAMA,
     .layers = 2,
     .d_model = 64,
     .heads = 4,
     .kv_heads = 2,
     .d_ff = 176,
     .seq_len = 32,
     .vocab = 256},
    {.arch = MB_ARCH_LLAMA,
     .layers = 8,
     .d_model = 512,
     .heads = 8,
     .d_ff = 1376,
     .seq_len = 1024,
     .vocab = 32000},
    {.arch = MB_ARCH_LLAMA,
     .layers = 12,
     .d_model = 768,
     .heads = 12,
     .d_ff = 2048,
     .seq_len = 1024,
     .vocab = 32000},
    {.arch = MB_ARCH_LLAMA,
     .layers = 24,
     .d_model = 1024,
     .heads = 16,
     .d_ff = 2736,
     .seq_len = 1024,
     .vocab = 32000},
    {.arch = MB_ARCH_LLAMA,
     .layers = 24,
     .d_model = 2048,
     .heads = 32,
     .d_ff = 5461,
     .seq_len = 1024,
     .vocab = 32000},
};

static mb_status llama_check(mb_ctx *ctx, mb_model_config *c) {
    if (c->layers < 1 || c->d_model < 1 || c->heads < 1 || c->seq_len < 1 || c->vocab < 1)
        return mb_error(ctx, MB_EINVAL,
                        "LLaMA shape must be positive: layers %d, d_model %d, heads %d, seq_len "
                        "%d, vocab %d",
                        c->layers, c->d_model, c->heads, c->seq_len, c->vocab);
    if (c->classes < 0 || c->classes == 1)
        return mb_error(ctx, MB_EINVAL,
                        "classes must be 0 (a language model) or at least 2, got %d", c->classes);
    if (c->d_model % c->heads)
        return mb_error(ctx, MB_EINVAL, "d_model %d is not divisible by heads %d", c->d_model,
                        c->heads);
    if ((c->d_model / c->heads) % 2)
        return mb_error(ctx, MB_EINVAL,
                        "head size %d (d_model %d / heads %d) must be even for rotary embedding",
                        c->d_model / c->heads, c->d_model, c->heads);
    if (!c->kv_heads) c->kv_heads = c->heads;
    if (c->kv_heads < 1 || c->heads % c->kv_heads)
        return mb_error(ctx, MB_EINVAL, "kv_heads %d must divide heads %d", c->kv_heads, c->heads);
    if (c->d_ff < 1)
        return mb_error(ctx, MB_EINVAL,
                        "a LLaMA shape needs d_ff >= 1 (the MLP's width; llama-60m's is 1376), got "
                        "%d",
                        c->d_ff);
    if (c->tie == 0) c->tie = -1; /* LlamaConfig's tie_word_embeddings is false */
    if (c->rope_theta == 0) c->rope_theta = 10000.0;
    if (c->norm_eps == 0) c->norm_eps = 1e-6;
    if (!(c->rope_theta > 1.0) || !(c->norm_eps > 0))
        return mb_error(ctx, MB_EINVAL, "rope_theta %g must be > 1 and norm_eps %g > 0",
                        c->rope_theta, c->norm_eps);
    return MB_OK;
}

/* Tensors per block: input norm, q, k, v, o, post-attention norm, gate, up, down. */
#define PER_LAYER 9
enum { K_LN1, K_Q, K_K, K_V, K_O, K_LN2, K_GATE, K_UP, K_DOWN };

/* An own LM head: a language model whose head is not tied (a classifier reads "score" instead). */
static int own_head(const mb_model_config *c) {
    return c->tie < 0 && c->classes == 0;
}

static size_t llama_num_params(const mb_model_config *c) {
    size_t C = c->d_model, L = c->layers, hs = C / (size_t)c->heads, KV = (size_t)c->kv_heads;
    size_t F = c->d_ff;
    size_t block = 2 * C + C * C + 2 * KV * hs * C + C * C + 3 * C * F;
    return (size_t)c->vocab * C * (own_head(c) ? 2 : 1) + L * block + C + (size_t)c->classes * C;
}

static int llama_count(const mb_model_config *c) {
    return 2 + c->layers * PER_LAYER + own_head(c) + (c->classes > 0);
}

static int pid(int l, int k) {
    return 1 + l * PER_LAYER + k;
}

static void describe(mb_param *p, int id, int layer, mb_role role, size_t r, size_t c,
                     const char *name) {
    memset(p, 0, sizeof *p);
    p->id = id;
    p->layer = layer;
    p->role = role;
    p->ndim = c ? 2 : 1;
    p->shape[0] = r;
    p->shape[1] = c;
    p->numel = c ? r * c : r;
    p->is_linear = c != 0 && role != MB_ROLE_EMBED;
    snprintf(p->name, sizeof p->name, "%s", name);
}

static void llama_describe(const mb_model_config *cfg, mb_param *ps) {
    size_t C = cfg->d_model, F = cfg->d_ff, hs = C / (size_t)cfg->heads;
    size_t Q = (size_t)cfg->heads * hs, KVd = (size_t)cfg->kv_heads * hs;
    char n[64];
    describe(&ps[0], 0, -1, MB_ROLE_EMBED, cfg->vocab, C, "model.embed_tokens.weight");
    if (cfg->tie > 0 && cfg->classes == 0) ps[0].tied_with = "lm_head";
    static const char *const names[PER_LAYER] = {
        "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight"};
    const mb_role roles[PER_LAYER] = {MB_ROLE_NORM,     MB_ROLE_ATTN_Q,   MB_ROLE_ATTN_K,
                                      MB_ROLE_ATTN_V,   MB_ROLE_ATTN_OUT, MB_ROLE_NORM,
                                      MB_ROLE_MLP_GATE, MB_ROLE_MLP_UP,   MB_ROLE_MLP_DOWN};
    const size_t rows[PER_LAYER] = {C, Q, KVd, KVd, C, C, F, F, C};
    const size_t cols[PER_LAYER] = {0, C, C, C, Q, 0, C, C, F};
    for (int l = 0; l < cfg->layers; l++)
        for (int k = 0; k < PER_LAYER; k++) {
            int id = pid(l, k);
            snprintf(n, sizeof n, "model.layers.%d.%s", l, names[k]);
            describe(&ps[id], id, l, roles[k], rows[k], cols[k], n);
            if (k == K_Q) ps[id].heads = cfg->heads;
            if (k == K_K || k == K_V) ps[id].heads = cfg->kv_heads;
            if (k == K_O) ps[id].heads = cfg->heads;
        }
    int f = pid(cfg->layers, 0);
    describe(&ps[f], f, -1, MB_ROLE_NORM, C, 0, "model.norm.weight");
    if (own_head(cfg)) {
        f++;
        describe(&ps[f], f, -1, MB_ROLE_HEAD, cfg->vocab, C, "lm_head.weight");
    }
    if (cfg->classes > 0) {
        f++;
        describe(&ps[f], f, -1, MB_ROLE_SCORE, (size_t)cfg->classes, C, "score.weight");
    }
}

/* Hugging Face's LlamaPreTrainedModel._init_weights: every linear and the embedding N(0, 0.02)
 * (initializer_range), RMSNorm scales 1. Tensor i draws from Philox stream MB_RNG_STREAM_INIT + i.
 */
static mb_status llama_init_weights(mb_ctx *ctx, mb_model *m, uint64_t seed) {
    size_t maxn = 0;
    for (int i = 0; i < m->nbase; i++)
        if (m->params[i].numel > maxn) maxn = m->params[i].numel;
    double *h = malloc(maxn * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of %zu values", maxn);
    mb_status s = MB_OK;
    for (int i = 0; i < m->nbase && s == MB_OK; i++) {
        mb_param *p = &m->params[i];
        if (mb_role_is_norm(p->role))
            for (size_t j = 0; j < p->numel; j++) h[j] = 1.0;
        else
            mb_rng_fill_normal(h, p->numel, seed, MB_RNG_STREAM_INIT + (uint32_t)i, 0, 0.0, 0.02);
        s = mb_model_param_set(ctx, &p->w, p->numel, h);
    }
    free(h);
    return s;
}

/* The fused qkv row width: q heads, then k, then v. */
static size_t qkv_width(const mb_model_config *c) {
    return (size_t)(c->heads + 2 * c->kv_heads) * (size_t)(c->d_model / c->heads);
}

size_t mb_llama_block_inside_bytes(const mb_model_config *c, int B, int T, size_t es, size_t ss) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff, NH = c->heads;
    return es * (4 * N * C + N * qkv_width(c) + 2 * N * F + NH * N * T) + ss * 2 * N;
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

static void llama_act_shape(const mb_model_config *c, int B, int T, size_t es, size_t ss, int ld,
                            mb_act_shape *s) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff, NH = c->heads;
    s->stem = es * (N * C + N * F); /* encoded and the shared SwiGLU buffer */
    s->block_out = es * N * C;
    s->inside = mb_llama_block_inside_bytes(c, B, T, es, ss);
    s->probs = es * NH * N * T;
    s->head = es * N * C + ss * 2 * N; /* the final norm, its rstd, the losses */
    s->logits = es * N * (size_t)ld;
    s->bwd_first = es * 2 * N * C; /* dres, dtmp */
    /* dqkv, the MLP's two gradients (the second also the [N, C] scratch of the input sums) */
    s->bwd_rest = es * (N * qkv_width(c) + N * F + N * max_sz(F, C));
    s->attn_rows = es * NH * N;
}

static int llama_saved(const mb_model_config *c, int B, int T, mb_saved *out) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff, NH = c->heads;
    const mb_saved sv[INSIDE] = {
        {.name = "ln1", .kind = MB_SAVED_NORM_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "rstd1", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "qkv",
         .kind = MB_SAVED_QKV,
         .rows = N,
         .cols = qkv_width(c),
         .splits = c->kv_heads == c->heads ? 3 : 1},
        {.name = "att",
         .kind = MB_SAVED_ATTN_PROBS,
         .rows = (size_t)B * NH * T,
         .cols = (size_t)T,
         .splits = 1,
         .heads = (int)NH},
        {.name = "atty", .kind = MB_SAVED_ATTN_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "res2", .kind = MB_SAVED_RESIDUAL, .rows = N, .cols = C, .splits = 1},
        {.name = "ln2", .kind = MB_SAVED_NORM_OUT, .rows = N, .cols = C, .splits = 1},
        {.name = "rstd2", .kind = MB_SAVED_STAT, .rows = N, .cols = 1, .splits = 1},
        {.name = "gate", .kind = MB_SAVED_MLP_PRE, .rows = N, .cols = F, .splits = 1},
        {.name = "up", .kind = MB_SAVED_MLP_PRE, .rows = N, .cols = F, .splits = 1},
    };
    memcpy(out, sv, sizeof sv);
    for (int k = 0; k < INSIDE; k++) out[k].index = k;
    return INSIDE;
}

/* ---- forward and backward ---- */

static mb_buf *inside_bufs(layer_acts *la) {
    return (mb_buf *)la;
}

static void free_inside(mb_ctx *ctx, layer_acts *la) {
    for (int k = 0; k < INSIDE; k++) mb_free(ctx, &inside_bufs(la)[k]);
}

static void llama_free_acts(mb_ctx *ctx, mb_model *m) {
    mb_llama_acts *a = acts_of(m);
    if (!a) return;
    mb_free(ctx, &a->tokens);
    mb_free(ctx, &a->targets);
    mb_free(ctx, &a->encoded);
    mb_free(ctx, &a->swi);
    if (a->layer) {
        for (int l = 0; l < m->cfg.layers; l++) {
            free_inside(ctx, &a->layer[l]);
            mb_free(ctx, &a->layer[l].res3);
        }
        free(a->layer);
    }
    mb_free(ctx, &a->lnf);
    mb_free(ctx, &a->lnf_rstd);
    mb_free(ctx, &a->logits);
    mb_free(ctx, &a->losses);
    free(a);
    m->acts = NULL;
}

static mb_status alloc_inside(mb_ctx *ctx, const mb_model *m, layer_acts *la, int B, int T) {
    size_t es = mb_dtype_size(ctx->be->dtype), ss = mb_dtype_size(ctx->be->sdtype);
    size_t N = (size_t)B * T, C = m->cfg.d_model, F = m->cfg.d_ff, NH = m->cfg.heads;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &la->ln1, N * C * es, A, "ln1"));
    MB_TRY(mb_alloc(ctx, &la->rstd1, N * ss, A, "rstd1"));
    MB_TRY(mb_alloc(ctx, &la->qkv, N * qkv_width(&m->cfg) * es, A, "qkv"));
    if (!mb_model_attention_owned(m)) MB_TRY(mb_alloc(ctx, &la->att, NH * N * T * es, A, "att"));
    MB_TRY(mb_alloc(ctx, &la->atty, N * C * es, A, "atty"));
    MB_TRY(mb_alloc(ctx, &la->res2, N * C * es, A, "res2"));
    MB_TRY(mb_alloc(ctx, &la->ln2, N * C * es, A, "ln2"));
    MB_TRY(mb_alloc(ctx, &la->rstd2, N * ss, A, "rstd2"));
    MB_TRY(mb_alloc(ctx, &la->gate, N * F * es, A, "gate"));
    MB_TRY(mb_alloc(ctx, &la->up, N * F * es, A, "up"));
    return MB_OK;
}

#define W(id) (m->params[(id)].w.ptr)
#define G(id) (m->params[(id)].g.ptr)

/* Linear wid of block `layer` (no bias): out rows ld apart (0: OC). */
static mb_status linear(mb_ctx *ctx, mb_model *m, int layer, int wid, int backward, void *out,
                        const void *inp, void *dinp, const void *dout, int N, int C, int OC,
                        int ld) {
    if (backward) MB_TRY(mb_model_need_grad(ctx, m, wid));
    mb_linear_call c = {.layer = layer,
                        .w = &m->params[wid],
                        .b = NULL,
                        .out = out,
                        .inp = inp,
                        .dinp = dinp,
                        .dout = dout,
                        .N = N,
                        .C = C,
                        .OC = OC,
                        .ld = ld};
    const mb_model_hooks *h = m->hooks;
    if (h && !backward && h->linear_forward) return h->linear_forward(h->user, &c);
    if (h && backward && h->linear_backward) return h->linear_backward(h->user, &c);
    return mb_model_linear_default(ctx, &c, backward);
}

static mb_status attention(mb_ctx *ctx, mb_model *m, layer_acts *la, int layer, int backward,
                           const void *dout, void *dqkv, void *scratch) {
    const mb_llama_acts *a = acts_of(m);
    mb_attn_call c = {.backward = backward,
                      .layer = layer,
                      .B = a->B,
                      .T = a->T,
                      .C = m->cfg.d_model,
                      .NH = m->cfg.heads,
                      .KV = m->cfg.kv_heads,
                      .keep = !a->lean,
                      .qkv = la->qkv.ptr,
                      .out = la->atty.ptr,
                      .dout = dout,
                      .dqkv = dqkv,
                      .att = la->att.ptr};
    if (mb_model_attention_owned(m)) return m->hooks->attention(m->hooks->user, &c);
    return mb_model_attention_default(ctx, &c, scratch);
}

/* Rotary embedding on q and k of a [N, qkv_width] buffer, forward or inverse (its backward): k's
 * heads follow q's in each row, so one call rotates heads + kv_heads heads. */
static void rope_qk(mb_ctx *ctx, const mb_model *m, void *qkv, int B, int T, int inverse) {
    const mb_model_config *c = &m->cfg;
    int hs = c->d_model / c->heads, ld = (int)qkv_width(c);
    ctx->be->rope(ctx, qkv, B, T, c->heads + c->kv_heads, hs, ld, c->rope_theta, inverse);
}

static mb_status block_forward(mb_ctx *ctx, mb_model *m, int l, const void *res_in) {
    const mb_backend *be = ctx->be;
    mb_llama_acts *a = acts_of(m);
    layer_acts *la = &a->layer[l];
    const mb_model_config *c = &m->cfg;
    int C = c->d_model, F = c->d_ff, N = a->B * a->T, hs = C / c->heads;
    int QW = (int)qkv_width(c), Qd = c->heads * hs, KVd = c->kv_heads * hs;
    size_t es = mb_dtype_size(be->dtype);
    char *qkv;
    MB_TRY(alloc_inside(ctx, m, la, a->B, a->T));
    qkv = la->qkv.ptr;
    be->rmsnorm_fwd(ctx, la->ln1.ptr, la->rstd1.ptr, res_in, W(pid(l, K_LN1)), N, C, c->norm_eps);
    MB_TRY(linear(ctx, m, l, pid(l, K_Q), 0, qkv, la->ln1.ptr, NULL, NULL, N, C, Qd, QW));
    MB_TRY(linear(ctx, m, l, pid(l, K_K), 0, qkv + (size_t)Qd * es, la->ln1.ptr, NULL, NULL, N, C,
                  KVd, QW));
    MB_TRY(linear(ctx, m, l, pid(l, K_V), 0, qkv + (size_t)(Qd + KVd) * es, la->ln1.ptr, NULL, NULL,
                  N, C, KVd, QW));
    rope_qk(ctx, m, qkv, a->B, a->T, 0);
    MB_TRY(attention(ctx, m, la, l, 0, NULL, NULL, NULL));
    if (mb_model_linear_plain(m, 0) && be->matmul_fwd_res) {
        be->matmul_fwd_res(ctx, la->res2.ptr, la->atty.ptr, W(pid(l, K_O)), NULL, res_in, N, Qd, C);
    } else {
        MB_TRY(
            linear(ctx, m, l, pid(l, K_O), 0, la->res2.ptr, la->atty.ptr, NULL, NULL, N, Qd, C, 0));
        be->residual_fwd(ctx, la->res2.ptr, la->res2.ptr, res_in, (size_t)N * C);
    }
    be->rmsnorm_fwd(ctx, la->ln2.ptr, la->rstd2.ptr, la->res2.ptr, W(pid(l, K_LN2)), N, C,
                    c->norm_eps);
    MB_TRY(linear(ctx, m, l, pid(l, K_GATE), 0, la->gate.ptr, la->ln2.ptr, NULL, NULL, N, C, F, 0));
    MB_TRY(linear(ctx, m, l, pid(l, K_UP), 0, la->up.ptr, la->ln2.ptr, NULL, NULL, N, C, F, 0));
    be->swiglu_fwd(ctx, a->swi.ptr, la->gate.ptr, la->up.ptr, (size_t)N * F);
    if (mb_model_linear_plain(m, 0) && be->matmul_fwd_res) {
        be->matmul_fwd_res(ctx, la->res3.ptr, a->swi.ptr, W(pid(l, K_DOWN)), NULL, la->res2.ptr, N,
                           F, C);
        return MB_OK;
    }
    MB_TRY(linear(ctx, m, l, pid(l, K_DOWN), 0, la->res3.ptr, a->swi.ptr, NULL, NULL, N, F, C, 0));
    be->residual_fwd(ctx, la->res3.ptr, la->res3.ptr, la->res2.ptr, (size_t)N * C);
    return MB_OK;
}

static mb_status save_block(mb_model *m, int l) {
    mb_llama_acts *a = acts_of(m);
    layer_acts *la = &a->layer[l];
    mb_saved sv[MB_MAX_SAVED];
    llama_saved(&m->cfg, a->B, a->T, sv);
    for (int k = 0; k < INSIDE; k++)
        if (inside_bufs(la)[k].ptr)
            MB_TRY(m->hooks->act_save(m->hooks->user, l, &sv[k], &inside_bufs(la)[k]));
    return MB_OK;
}

/* The output head: a classifier's score, the untied head, or the tied embedding. */
static int head_id(const mb_model *m) {
    return mb_model_head(m)->id;
}

static mb_status forward_impl(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                              const int32_t *targets, int B, int T, double *loss) {
    const mb_backend *be = ctx->be;
    mb_llama_acts *a = acts_of(m);
    const mb_model_config *c = &m->cfg;
    int C = c->d_model, V = mb_model_head_rows(c), L = c->layers, N = B * T;
    const int LD = mb_model_logits_ld(be, V), H = head_id(m);
    size_t es = mb_dtype_size(be->dtype), ss = mb_dtype_size(be->sdtype), BT = (size_t)N;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    if (!be->rmsnorm_fwd || !be->rope || !be->swiglu_fwd)
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "backend %s has no LLaMA kernels (RMSNorm, rotary embedding, SwiGLU)",
                        be->name);
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
    MB_TRY(mb_alloc(ctx, &a->swi, BT * (size_t)c->d_ff * es, A, "swiglu"));
    be->encoder_fwd(ctx, a->encoded.ptr, a->tokens.ptr, W(0), NULL, B, T, C);
    const void *res = a->encoded.ptr;
    for (int l = 0; l < L; l++) {
        layer_acts *la = &a->layer[l];
        MB_TRY(mb_alloc(ctx, &la->res3, BT * C * es, A, "res3"));
        MB_TRY(block_forward(ctx, m, l, res));
        if (m->lean) {
            free_inside(ctx, la);
            if (l > 0) mb_free(ctx, &a->layer[l - 1].res3);
            res = la->res3.ptr;
            continue;
        }
        mb_act_mode mode = mb_model_act_policy(m, l);
        if (mode == MB_ACT_RECOMPUTE)
            free_inside(ctx, la);
        else if (mode == MB_ACT_CUSTOM)
            MB_TRY(save_block(m, l));
        res = la->res3.ptr;
    }
    int f = pid(L, 0);
    MB_TRY(mb_alloc(ctx, &a->lnf, BT * C * es, A, "lnf"));
    MB_TRY(mb_alloc(ctx, &a->lnf_rstd, BT * ss, A, "lnf_rstd"));
    be->rmsnorm_fwd(ctx, a->lnf.ptr, a->lnf_rstd.ptr, res, W(f), N, C, c->norm_eps);
    if (!targets) {
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

/* Backward scratch: dres and dtmp from the start, the rest once the logits are freed. */
typedef struct bwd_scratch {
    mb_buf dres, dtmp, dqkv, dmlp, dmlp2, datt;
} bwd_scratch;

static mb_status block_restore(mb_ctx *ctx, mb_model *m, int l, mb_act_mode mode) {
    mb_llama_acts *a = acts_of(m);
    layer_acts *la = &a->layer[l];
    if (mode == MB_ACT_RECOMPUTE)
        return block_forward(ctx, m, l, l ? a->layer[l - 1].res3.ptr : a->encoded.ptr);
    if (mode == MB_ACT_CUSTOM) {
        mb_saved sv[MB_MAX_SAVED];
        llama_saved(&m->cfg, a->B, a->T, sv);
        for (int k = 0; k < INSIDE; k++)
            if (sv[k].kind != MB_SAVED_ATTN_PROBS || !mb_model_attention_owned(m))
                MB_TRY(m->hooks->act_load(m->hooks->user, l, &sv[k], &inside_bufs(la)[k]));
    }
    return MB_OK;
}

/* dtmp += the input gradient of linear wid: a plain linear's product accumulates into dtmp (beta
 * 1, rounded once), a method's goes into scratch and is added (its call overwrites dinp). */
static mb_status linear_bwd_add(mb_ctx *ctx, mb_model *m, int l, int wid, const void *inp,
                                void *dtmp, void *scratch, const void *dout, int N, int C, int OC,
                                int ld) {
    if (mb_model_linear_plain(m, 1) && ctx->be->gemm) {
        MB_TRY(linear(ctx, m, l, wid, 1, NULL, inp, NULL, dout, N, C, OC, ld));
        ctx->be->gemm(ctx, 0, 0, N, C, OC, 1.0, dout, ld ? ld : OC, W(wid), C, 1.0, dtmp, C);
        return MB_OK;
    }
    MB_TRY(linear(ctx, m, l, wid, 1, NULL, inp, scratch, dout, N, C, OC, ld));
    ctx->be->residual_fwd(ctx, dtmp, dtmp, scratch, (size_t)N * C);
    return MB_OK;
}

static mb_status block_backward(mb_ctx *ctx, mb_model *m, int l, const bwd_scratch *s,
                                int need_dinp) {
    const mb_backend *be = ctx->be;
    mb_llama_acts *a = acts_of(m);
    layer_acts *la = &a->layer[l];
    const mb_model_config *c = &m->cfg;
    int C = c->d_model, F = c->d_ff, N = a->B * a->T, hs = C / c->heads;
    int QW = (int)qkv_width(c), Qd = c->heads * hs, KVd = c->kv_heads * hs;
    size_t es = mb_dtype_size(be->dtype), NF = (size_t)N * F;
    const void *res_in = l ? a->layer[l - 1].res3.ptr : a->encoded.ptr;
    const mb_act_mode mode = mb_model_act_policy(m, l);
    MB_TRY(block_restore(ctx, m, l, mode));
    /* SwiGLU's output for the down projection's weight gradient (a recomputed block has it) */
    if (mode != MB_ACT_RECOMPUTE) be->swiglu_fwd(ctx, a->swi.ptr, la->gate.ptr, la->up.ptr, NF);
    MB_TRY(linear(ctx, m, l, pid(l, K_DOWN), 1, NULL, a->swi.ptr, s->dmlp.ptr, s->dres.ptr, N, F, C,
                  0));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_DOWN)));
    /* dgate overwrites the SwiGLU output's gradient in place, dup goes to the second buffer */
    be->swiglu_bwd(ctx, s->dmlp.ptr, s->dmlp2.ptr, s->dmlp.ptr, la->gate.ptr, la->up.ptr, NF);
    MB_TRY(linear(ctx, m, l, pid(l, K_GATE), 1, NULL, la->ln2.ptr, s->dtmp.ptr, s->dmlp.ptr, N, C,
                  F, 0));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_GATE)));
    MB_TRY(linear_bwd_add(ctx, m, l, pid(l, K_UP), la->ln2.ptr, s->dtmp.ptr, s->dqkv.ptr,
                          s->dmlp2.ptr, N, C, F, 0));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_UP)));
    MB_TRY(mb_model_need_grad(ctx, m, pid(l, K_LN2)));
    be->rmsnorm_bwd(ctx, s->dres.ptr, G(pid(l, K_LN2)), s->dtmp.ptr, la->res2.ptr, W(pid(l, K_LN2)),
                    la->rstd2.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, pid(l, K_LN2)));
    MB_TRY(linear(ctx, m, l, pid(l, K_O), 1, NULL, la->atty.ptr, s->dtmp.ptr, s->dres.ptr, N, Qd, C,
                  0));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_O)));
    MB_TRY(attention(ctx, m, la, l, 1, s->dtmp.ptr, s->dqkv.ptr, s->datt.ptr));
    rope_qk(ctx, m, s->dqkv.ptr, a->B, a->T, 1);
    char *dq = s->dqkv.ptr;
    MB_TRY(linear(ctx, m, l, pid(l, K_Q), 1, NULL, la->ln1.ptr, s->dtmp.ptr, dq, N, C, Qd, QW));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_Q)));
    MB_TRY(linear_bwd_add(ctx, m, l, pid(l, K_K), la->ln1.ptr, s->dtmp.ptr, s->dmlp2.ptr,
                          dq + (size_t)Qd * es, N, C, KVd, QW));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_K)));
    MB_TRY(linear_bwd_add(ctx, m, l, pid(l, K_V), la->ln1.ptr, s->dtmp.ptr, s->dmlp2.ptr,
                          dq + (size_t)(Qd + KVd) * es, N, C, KVd, QW));
    MB_TRY(mb_model_grad_ready(m, pid(l, K_V)));
    MB_TRY(mb_model_need_grad(ctx, m, pid(l, K_LN1)));
    be->rmsnorm_bwd(ctx, need_dinp ? s->dres.ptr : NULL, G(pid(l, K_LN1)), s->dtmp.ptr, res_in,
                    W(pid(l, K_LN1)), la->rstd1.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, pid(l, K_LN1)));
    free_inside(ctx, la);
    return MB_OK;
}

static mb_status backward_impl(mb_ctx *ctx, mb_model *m, bwd_scratch *s) {
    const mb_backend *be = ctx->be;
    mb_llama_acts *a = acts_of(m);
    const mb_model_config *c = &m->cfg;
    int N = a->B * a->T, C = c->d_model, V = mb_model_head_rows(c), L = c->layers;
    int f = pid(L, 0), H = head_id(m);
    int lowest = m->hooks ? m->hooks->lowest_layer : 0;
    if (lowest < 0) lowest = 0;
    if (!be->rmsnorm_bwd || !be->swiglu_bwd)
        return mb_error(ctx, MB_EUNSUPPORTED, "backend %s has no LLaMA backward kernels", be->name);
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
    MB_TRY(mb_model_need_grad(ctx, m, H));
    MB_TRY(mb_model_loss_owned(m) ? m->hooks->loss(m->hooks->user, &lc)
                                  : mb_model_loss_default(ctx, &lc));
    if (H != 0) MB_TRY(mb_model_grad_ready(m, H)); /* an untied head or a classifier's: complete */
    mb_free(ctx, &a->logits);
    size_t es = mb_dtype_size(be->dtype), NQ = (size_t)N * qkv_width(c), NF = (size_t)N * c->d_ff;
    size_t NF2 = (size_t)N * max_sz((size_t)c->d_ff, (size_t)C);
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &s->dqkv, NQ * es, A, "d_qkv"));
    MB_TRY(mb_alloc(ctx, &s->dmlp, NF * es, A, "d_mlp"));
    MB_TRY(mb_alloc(ctx, &s->dmlp2, NF2 * es, A, "d_mlp2"));
    if (!mb_model_attention_owned(m))
        MB_TRY(mb_alloc(ctx, &s->datt, (size_t)a->B * c->heads * a->T * es, A, "d_att_row"));
    be->zero(ctx, s->dres.ptr, (size_t)N * C * es);
    MB_TRY(mb_model_need_grad(ctx, m, f));
    be->rmsnorm_bwd(ctx, s->dres.ptr, G(f), s->dtmp.ptr, a->layer[L - 1].res3.ptr, W(f),
                    a->lnf_rstd.ptr, N, C);
    MB_TRY(mb_model_grad_ready(m, f));
    for (int l = L - 1; l >= lowest && l >= 0; l--)
        MB_TRY(block_backward(ctx, m, l, s, l > lowest || lowest == 0));
    if (lowest == 0) MB_TRY(mb_model_need_grad(ctx, m, 0));
    if (lowest == 0 && G(0))
        be->encoder_bwd(ctx, G(0), NULL, s->dres.ptr, a->tokens.ptr, a->B, a->T, C);
    MB_TRY(mb_model_grad_ready(m, 0));
    return MB_OK;
}

static mb_status llama_backward(mb_ctx *ctx, mb_model *m) {
    mb_llama_acts *a = acts_of(m);
    size_t es = mb_dtype_size(ctx->be->dtype), NC = (size_t)a->B * a->T * m->cfg.d_model;
    bwd_scratch sc;
    memset(&sc, 0, sizeof sc);
    mb_status s = mb_alloc(ctx, &sc.dres, NC * es, MB_MEM_ACTIVATIONS, "d_residual");
    if (s == MB_OK) s = mb_alloc(ctx, &sc.dtmp, NC * es, MB_MEM_ACTIVATIONS, "d_tmp");
    if (s == MB_OK) s = backward_impl(ctx, m, &sc);
    mb_free(ctx, &sc.datt);
    mb_free(ctx, &sc.dmlp2);
    mb_free(ctx, &sc.dmlp);
    mb_free(ctx, &sc.dqkv);
    mb_free(ctx, &sc.dtmp);
    mb_free(ctx, &sc.dres);
    return s;
}

static mb_status llama_forward(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                               const int32_t *targets, int B, int T, double *loss) {
    m->acts = calloc(1, sizeof(mb_llama_acts));
    if (!m->acts) return mb_error(ctx, MB_ENOMEM, "host allocation of activation table");
    return forward_impl(ctx, m, tokens, targets, B, T, loss);
}

static mb_status llama_logits_row(mb_ctx *ctx, const mb_model *m, int i, double *z) {
    const mb_llama_acts *a = acts_of(m);
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

/* backward_impl's order: the head from the loss (a tied embedding lives until the encoder adds
 * its part), the final norm, each block's tensors from the last (down, gate, up, the second norm,
 * o, q, k, v, the first norm), the embedding. */
static int add_ev(mb_grad_event *out, int n, int ready, int id) {
    if (out) out[n] = (mb_grad_event){.ready = ready, .id = id};
    return n + 1;
}

static int llama_grad_events(const mb_model_config *c, mb_grad_event *out) {
    static const int order[PER_LAYER] = {K_DOWN, K_GATE, K_UP, K_LN2, K_O, K_Q, K_K, K_V, K_LN1};
    int n = 0, f = pid(c->layers, 0);
    int H = c->classes > 0 || own_head(c) ? f + 1 : 0;
    n = add_ev(out, n, 0, H);
    if (H) n = add_ev(out, n, 1, H);
    n = add_ev(out, n, 0, f);
    n = add_ev(out, n, 1, f);
    for (int l = c->layers - 1; l >= 0; l--)
        for (int k = 0; k < PER_LAYER; k++) {
            n = add_ev(out, n, 0, pid(l, order[k]));
            n = add_ev(out, n, 1, pid(l, order[k]));
        }
    n = add_ev(out, n, 0, 0);
    n = add_ev(out, n, 1, 0);
    return n;
}

/* A tied checkpoint may still carry lm_head.weight (equal to the embedding); older transformers
 * saved the rotary inverse frequencies. */
static int llama_ignorable(const mb_model *m, const char *name) {
    static const char suffix[] = ".self_attn.rotary_emb.inv_freq";
    size_t n = strlen(name), k = sizeof suffix - 1;
    if (!own_head(&m->cfg) && !strcmp(name, "lm_head.weight")) return 1;
    return n > k && !strcmp(name + n - k, suffix);
}

const mb_model_family mb_family_llama = {
    .name = "llama",
    .title = "LLaMA",
    .preset_names = preset_names,
    .presets = presets,
    .check = llama_check,
    .num_params = llama_num_params,
    .count = llama_count,
    .describe = llama_describe,
    .init_weights = llama_init_weights,
    .forward = llama_forward,
    .backward = llama_backward,
    .free_acts = llama_free_acts,
    .logits_row = llama_logits_row,
    .act_shape = llama_act_shape,
    .grad_events = llama_grad_events,
    .saved = llama_saved,
    .hf_conv1d = 0,
    .hf_prefix = NULL,
    .hf_ignorable = llama_ignorable,
};
