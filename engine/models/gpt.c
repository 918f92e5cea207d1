/* engine/models/gpt.c — GPT-2 descriptors, initialisation, forward and backward over a backend
 * table. */
#include "gpt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"

const char *const mb_gpt_preset_names[] = {"gpt-nano",  "gpt2-124m", "gpt2-350m",
                                           "gpt2-774m", "gpt2-1.5b", NULL};
static const mb_gpt_config presets[] = {
    {2, 64, 4, 32, 256, 0},         {12, 768, 12, 1024, 50257, 0},  {24, 1024, 16, 1024, 50257, 0},
    {36, 1280, 20, 1024, 50257, 0}, {48, 1600, 25, 1024, 50257, 0},
};

mb_status mb_gpt_preset(mb_ctx *ctx, const char *name, mb_gpt_config *out) {
    for (int i = 0; mb_gpt_preset_names[i]; i++) {
        if (strcmp(name, mb_gpt_preset_names[i]) == 0) {
            *out = presets[i];
            return MB_OK;
        }
    }
    return mb_error(ctx, MB_ENOTFOUND,
                    "unknown GPT preset '%s' (known: gpt-nano, gpt2-124m, gpt2-350m, gpt2-774m, "
                    "gpt2-1.5b)",
                    name);
}

mb_status mb_gpt_config_check(mb_ctx *ctx, const mb_gpt_config *c) {
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
    return MB_OK;
}

size_t mb_gpt_num_params(const mb_gpt_config *cfg) {
    size_t C = cfg->d_model, L = cfg->layers;
    return (size_t)cfg->vocab * C + (size_t)cfg->seq_len * C + L * (12 * C * C + 13 * C) + 2 * C +
           (size_t)cfg->classes * C;
}

int mb_gpt_head_rows(const mb_gpt_config *cfg) {
    return cfg->classes > 0 ? cfg->classes : cfg->vocab;
}

/* The output head's parameter: score (the architecture's last) for a classifier, else the tied
 * wte. */
static int head_id(const mb_gpt *m) {
    return m->cfg.classes > 0 ? m->nbase - 1 : 0;
}

static const char *const role_names[MB_ROLE_N] = {
    "wte",         "wpe",         "ln1_w", "ln1_b", "qkv_w", "qkv_b",
    "attn_proj_w", "attn_proj_b", "ln2_w", "ln2_b", "fc_w",  "fc_b",
    "fc_proj_w",   "fc_proj_b",   "lnf_w", "lnf_b", "score", "adapter",
};
const char *mb_role_name(mb_role r) {
    return (unsigned)r < MB_ROLE_N ? role_names[r] : "?";
}

int mb_role_is_bias(mb_role r) {
    return r == MB_ROLE_LN1_B || r == MB_ROLE_LN2_B || r == MB_ROLE_LNF_B || r == MB_ROLE_QKV_B ||
           r == MB_ROLE_ATTN_PROJ_B || r == MB_ROLE_FC_B || r == MB_ROLE_FC_PROJ_B;
}

int mb_role_is_ln_weight(mb_role r) {
    return r == MB_ROLE_LN1_W || r == MB_ROLE_LN2_W || r == MB_ROLE_LNF_W;
}

/* Hugging Face suffix of each per-block role. */
static const char *const hf_block_names[MB_GPT_PER_LAYER] = {
    "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
    "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
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

static void build_descriptors(const mb_gpt_config *cfg, mb_param *ps) {
    size_t C = cfg->d_model;
    int NH = cfg->heads, L = cfg->layers;
    describe(&ps[0], 0, -1, MB_ROLE_WTE, cfg->vocab, C);
    snprintf(ps[0].name, sizeof ps[0].name, "wte.weight");
    ps[0].tied_with = "lm_head";
    describe(&ps[1], 1, -1, MB_ROLE_WPE, cfg->seq_len, C);
    snprintf(ps[1].name, sizeof ps[1].name, "wpe.weight");
    static const size_t rows[MB_GPT_PER_LAYER] = {1, 1, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1};
    static const size_t cols[MB_GPT_PER_LAYER] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 0};
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < MB_GPT_PER_LAYER; k++) {
            int id = 2 + l * MB_GPT_PER_LAYER + k;
            mb_param *p = &ps[id];
            describe(p, id, l, (mb_role)(MB_ROLE_LN1_W + k), rows[k] * C, cols[k] * C);
            snprintf(p->name, sizeof p->name, "h.%d.%s", l, hf_block_names[k]);
            p->is_linear = cols[k] != 0;
            if (p->role == MB_ROLE_QKV_W || p->role == MB_ROLE_QKV_B) {
                p->heads = NH;
                p->nsplits = 3;
                p->splits[0] = p->splits[1] = p->splits[2] = C;
            }
            if (p->role == MB_ROLE_ATTN_PROJ_W) p->heads = NH;
        }
    }
    int f = 2 + L * MB_GPT_PER_LAYER;
    describe(&ps[f], f, -1, MB_ROLE_LNF_W, C, 0);
    snprintf(ps[f].name, sizeof ps[f].name, "ln_f.weight");
    describe(&ps[f + 1], f + 1, -1, MB_ROLE_LNF_B, C, 0);
    snprintf(ps[f + 1].name, sizeof ps[f + 1].name, "ln_f.bias");
    if (cfg->classes > 0) {
        describe(&ps[f + 2], f + 2, -1, MB_ROLE_SCORE, (size_t)cfg->classes, C);
        snprintf(ps[f + 2].name, sizeof ps[f + 2].name, "score.weight");
    }
}

void mb_gpt_free_grads(mb_ctx *ctx, mb_gpt *m) {
    for (int i = 0; i < m->nparams; i++) mb_free(ctx, &m->params[i].g);
    m->grads_allocated = 0;
}

void mb_gpt_destroy(mb_ctx *ctx, mb_gpt *m) {
    mb_gpt_free_acts(ctx, m);
    if (m->params) {
        mb_gpt_free_grads(ctx, m);
        for (int i = 0; i < m->nparams; i++) mb_free(ctx, &m->params[i].w);
        free(m->params);
    }
    memset(m, 0, sizeof *m);
}

mb_status mb_gpt_create(mb_ctx *ctx, const mb_gpt_config *cfg, mb_gpt *m) {
    memset(m, 0, sizeof *m);
    MB_TRY(mb_gpt_config_check(ctx, cfg));
    m->cfg = *cfg;
    m->nparams = m->nbase = 4 + cfg->layers * MB_GPT_PER_LAYER + (cfg->classes > 0);
    m->params = calloc((size_t)m->nparams, sizeof *m->params);
    if (!m->params) return mb_error(ctx, MB_ENOMEM, "host allocation of parameter descriptors");
    build_descriptors(cfg, m->params);
    size_t es = mb_dtype_size(ctx->be->dtype);
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        m->num_params += p->numel;
        mb_status s = mb_alloc(ctx, &p->w, p->numel * es, MB_MEM_WEIGHTS, p->name);
        if (s != MB_OK) {
            mb_gpt_destroy(ctx, m);
            return mb_error_prefix(ctx, s, "creating GPT model");
        }
    }
    return MB_OK;
}

mb_status mb_gpt_add_param(mb_ctx *ctx, mb_gpt *m, int layer, const char *name, size_t rows,
                           size_t cols, int *id) {
    mb_param *ps = realloc(m->params, ((size_t)m->nparams + 1) * sizeof *ps);
    if (!ps) return mb_error(ctx, MB_ENOMEM, "host allocation of parameter descriptors");
    m->params = ps;
    mb_param *p = &ps[m->nparams];
    describe(p, m->nparams, layer, MB_ROLE_ADAPTER, rows, cols);
    snprintf(p->name, sizeof p->name, "%s", name);
    MB_TRY(mb_alloc(ctx, &p->w, p->numel * mb_dtype_size(ctx->be->dtype), MB_MEM_WEIGHTS, p->name));
    *id = m->nparams++;
    return MB_OK;
}

void mb_gpt_drop_params(mb_ctx *ctx, mb_gpt *m, int n) {
    if (n < m->nbase) n = m->nbase;
    for (int i = n; i < m->nparams; i++) {
        mb_free(ctx, &m->params[i].g);
        mb_free(ctx, &m->params[i].w);
    }
    if (n < m->nparams) m->nparams = n;
}

/* Host fp64 view of n elements of type t on the device. */
static mb_status read_as_f64(mb_ctx *ctx, mb_dtype t, const mb_buf *b, size_t numel, double *out) {
    size_t es = mb_dtype_size(t);
    void *stage = malloc(numel ? numel * es : 1);
    if (!stage) return mb_error(ctx, MB_ENOMEM, "host staging of %zu bytes", numel * es);
    mb_status s = ctx->be->to_host(ctx, stage, b->ptr, numel * es);
    if (s == MB_OK) mb_dtype_to_f64(t, out, stage, numel);
    free(stage);
    return s;
}

mb_status mb_gpt_param_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out) {
    return read_as_f64(ctx, ctx->be->dtype, b, numel, out);
}

mb_status mb_gpt_state_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out) {
    return read_as_f64(ctx, ctx->be->sdtype, b, numel, out);
}

mb_status mb_gpt_param_set(mb_ctx *ctx, mb_buf *b, size_t numel, const double *in) {
    size_t es = mb_dtype_size(ctx->be->dtype);
    void *stage = malloc(numel ? numel * es : 1);
    if (!stage) return mb_error(ctx, MB_ENOMEM, "host staging of %zu bytes", numel * es);
    mb_dtype_from_f64(ctx->be->dtype, stage, in, numel);
    mb_status s = ctx->be->to_device(ctx, b->ptr, stage, numel * es);
    free(stage);
    return s;
}

mb_status mb_gpt_grad_get(mb_ctx *ctx, const mb_gpt *m, int i, double *out) {
    const mb_param *p = &m->params[i];
    if (!p->g.ptr)
        return mb_error(ctx, MB_EINVAL, "parameter '%s' has no gradient buffer", p->name);
    return mb_gpt_param_get(ctx, &p->g, p->numel, out);
}

mb_status mb_gpt_init_weights(mb_ctx *ctx, mb_gpt *m, uint64_t seed) {
    size_t maxn = 0;
    for (int i = 0; i < m->nbase; i++)
        if (m->params[i].numel > maxn) maxn = m->params[i].numel;
    double *h = malloc(maxn * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of %zu values", maxn);
    double resid_std = 0.02 / sqrt(2.0 * m->cfg.layers);
    mb_status s = MB_OK;
    for (int i = 0; i < m->nbase && s == MB_OK; i++) {
        mb_param *p = &m->params[i];
        if (mb_role_is_ln_weight(p->role)) {
            for (size_t j = 0; j < p->numel; j++) h[j] = 1.0;
        } else if (mb_role_is_bias(p->role)) {
            memset(h, 0, p->numel * sizeof *h);
        } else {
            int resid = p->role == MB_ROLE_ATTN_PROJ_W || p->role == MB_ROLE_FC_PROJ_W;
            mb_rng_fill_normal(h, p->numel, seed, MB_RNG_STREAM_INIT + (uint32_t)i, 0, 0.0,
                               resid ? resid_std : 0.02);
        }
        s = mb_gpt_param_set(ctx, &p->w, p->numel, h);
    }
    free(h);
    return s;
}

mb_status mb_gpt_alloc_grads(mb_ctx *ctx, mb_gpt *m, const uint8_t *trainable) {
    m->grad_mask = NULL;
    size_t es = mb_dtype_size(ctx->be->dtype);
    /* frees first, so a changed trainable set (LISA) never holds both sets at once */
    for (int i = 0; i < m->nparams && trainable; i++)
        if (!trainable[i]) mb_free(ctx, &m->params[i].g);
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        if ((trainable && !trainable[i]) || p->g.ptr) continue;
        mb_status s = mb_alloc(ctx, &p->g, p->numel * es, MB_MEM_GRADS, p->name);
        if (s != MB_OK) {
            mb_gpt_free_grads(ctx, m);
            return s;
        }
        ctx->be->zero(ctx, p->g.ptr, p->g.bytes);
    }
    m->grads_allocated = 1;
    return MB_OK;
}

void mb_gpt_grads_on_demand(mb_ctx *ctx, mb_gpt *m, const uint8_t *trainable) {
    mb_gpt_free_grads(ctx, m);
    m->grad_mask = trainable;
}

void mb_gpt_zero_grads(mb_ctx *ctx, mb_gpt *m) {
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].g.ptr) ctx->be->zero(ctx, m->params[i].g.ptr, m->params[i].g.bytes);
}

int mb_gpt_logits_ld(const mb_backend *be, int V) {
    int a = be->logits_align > 1 ? be->logits_align : 1;
    return (V + a - 1) / a * a;
}

size_t mb_gpt_act_bytes(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld) {
    size_t BT = (size_t)B * T, BTC = BT * cfg->d_model, L = (size_t)cfg->layers;
    /* embeddings, the shared GELU buffer and the final LayerNorm (1 + 4 + 1 BTC); each block's
     * output and inside; the logits; the final LayerNorm's mean and rstd and the losses */
    return es * 6 * BTC + L * (es * BTC + mb_gpt_block_inside_bytes(cfg, B, T, es, ss)) +
           es * BT * (size_t)ld + ss * 3 * BT;
}

size_t mb_gpt_bwd_scratch_elems(const mb_gpt_config *cfg, int B, int T) {
    size_t BT = (size_t)B * T;
    return 9 * BT * cfg->d_model + (size_t)B * cfg->heads * T;
}

size_t mb_gpt_block_inside_bytes(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss) {
    size_t BT = (size_t)B * T, C = cfg->d_model, NH = cfg->heads;
    return es * (11 * BT * C + NH * BT * T) + ss * 4 * BT;
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

size_t mb_gpt_act_walk(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                       const mb_act_walk *w) {
    size_t BT = (size_t)B * T, BTC = BT * cfg->d_model, L = (size_t)cfg->layers;
    /* a replaced attention allocates no probabilities; it holds A from its forward on */
    const size_t probs = w->own_attn ? es * (size_t)cfg->heads * BT * T : 0;
    const size_t A = w->own_attn ? w->attn_keep : 0, Ab = w->own_attn ? w->attn_bwd : 0;
    size_t I = mb_gpt_block_inside_bytes(cfg, B, T, es, ss) - probs, gone = 0, peak = 0;
    if (w->lean) {
        size_t cur = es * 5 * BTC;
        for (size_t l = 0; l < L; l++) {
            peak = max_sz(peak, cur + es * BTC + I + A);
            cur = es * 6 * BTC; /* this block's output replaces the previous one */
        }
        cur += es * BTC + ss * 3 * BT + (w->own_loss ? 0 : es * BT * (size_t)ld);
        return max_sz(peak, cur + (w->own_loss ? w->loss_keep + w->loss_fwd : 0));
    }
    /* forward: after the embeddings and the shared GELU buffer, each block holds its output and
     * its inside while it runs; then a recomputed block frees its inside and a custom one saves
     * it in its own form */
    size_t cur = es * 5 * BTC;
    for (size_t l = 0; l < L; l++) {
        int mode = w->mode ? w->mode[l] : MB_ACT_KEEP;
        peak = max_sz(peak, cur += es * BTC + I + A);
        if (mode == MB_ACT_RECOMPUTE) cur -= I, gone += I;
        if (mode == MB_ACT_CUSTOM) {
            peak = max_sz(peak, cur + w->custom_fwd);
            cur = cur - I + w->custom_keep, gone += I - w->custom_keep;
        }
    }
    /* the end of forward: what mb_gpt_act_bytes counts, less what the blocks gave up (and the
     * logits, when a method owns the loss: its forward holds keep + fwd instead) */
    const size_t logits = w->own_loss ? 0 : es * BT * (size_t)ld;
    cur = mb_gpt_act_bytes(cfg, B, T, es, ss, ld) - L * (probs - A) - gone - es * BT * (size_t)ld +
          logits;
    if (w->own_loss) peak = max_sz(peak, cur + w->loss_keep + w->loss_fwd);
    /* backward: dres and dtmp through the loss, then the logits freed and the rest of the
     * scratch taken (no attention row with a replaced attention); a recomputed block's inside
     * comes back while it runs, a custom block's replaces what it kept, a kept one's goes */
    peak = max_sz(peak, cur + es * 2 * BTC + (w->own_loss ? w->loss_keep + w->loss_bwd : 0));
    cur = cur - logits + es * mb_gpt_bwd_scratch_elems(cfg, B, T) -
          (w->own_attn ? es * (size_t)B * cfg->heads * T : 0);
    peak = max_sz(peak, cur);
    for (size_t l = L; l-- > (size_t)(w->lowest > 0 ? w->lowest : 0);) {
        int mode = w->mode ? w->mode[l] : MB_ACT_KEEP;
        if (mode == MB_ACT_RECOMPUTE)
            peak = max_sz(peak, cur + I + Ab);
        else if (mode == MB_ACT_CUSTOM)
            peak = max_sz(peak, cur - w->custom_keep + I + w->custom_bwd), cur -= w->custom_keep;
        else
            peak = max_sz(peak, cur + Ab), cur -= I;
        cur -= A;
    }
    return peak;
}

size_t mb_gpt_train_act_peak(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld) {
    const mb_act_walk plain = {0};
    return mb_gpt_act_walk(cfg, B, T, es, ss, ld, &plain);
}
static mb_buf *layer_bufs(mb_gpt_layer_acts *la) {
    return (mb_buf *)la;
}

static void free_block_inside(mb_ctx *ctx, mb_gpt_layer_acts *la) {
    for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++) mb_free(ctx, &layer_bufs(la)[k]);
}

void mb_gpt_free_acts(mb_ctx *ctx, mb_gpt *m) {
    mb_gpt_acts *a = &m->acts;
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
    memset(a, 0, sizeof *a);
    m->have_acts = 0;
}

static int attention_replaced(const mb_gpt *m) {
    return m->hooks && m->hooks->attention;
}
static int loss_replaced(const mb_gpt *m) {
    return m->hooks && m->hooks->loss;
}

/* The block's inside activations, in the order its forward fills them. */
static mb_status alloc_block_inside(mb_ctx *ctx, const mb_gpt *m, mb_gpt_layer_acts *la, int B,
                                    int T) {
    size_t es = mb_dtype_size(ctx->be->dtype), ss = mb_dtype_size(ctx->be->sdtype);
    size_t BT = (size_t)B * T, C = m->cfg.d_model, NH = m->cfg.heads;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &la->ln1, BT * C * es, A, "ln1"));
    MB_TRY(mb_alloc(ctx, &la->ln1_mean, BT * ss, A, "ln1_mean"));
    MB_TRY(mb_alloc(ctx, &la->ln1_rstd, BT * ss, A, "ln1_rstd"));
    MB_TRY(mb_alloc(ctx, &la->qkv, 3 * BT * C * es, A, "qkv"));
    if (!attention_replaced(m)) MB_TRY(mb_alloc(ctx, &la->att, NH * BT * T * es, A, "att"));
    MB_TRY(mb_alloc(ctx, &la->atty, BT * C * es, A, "atty"));
    MB_TRY(mb_alloc(ctx, &la->res2, BT * C * es, A, "res2"));
    MB_TRY(mb_alloc(ctx, &la->ln2, BT * C * es, A, "ln2"));
    MB_TRY(mb_alloc(ctx, &la->ln2_mean, BT * ss, A, "ln2_mean"));
    MB_TRY(mb_alloc(ctx, &la->ln2_rstd, BT * ss, A, "ln2_rstd"));
    MB_TRY(mb_alloc(ctx, &la->fch, 4 * BT * C * es, A, "fch"));
    return MB_OK;
}

static mb_status check_tokens(mb_ctx *ctx, const mb_gpt *m, const int32_t *tok, int B, int T,
                              int allow_ignore, const char *what) {
    int classes = allow_ignore && m->cfg.classes > 0, n = classes ? m->cfg.classes : m->cfg.vocab;
    for (int i = 0; i < B * T; i++) {
        int v = tok[i];
        if ((v < 0 && !(allow_ignore && v == -1)) || v >= n)
            return mb_error(ctx, MB_EINVAL, "%s %d at (b=%d, t=%d) is outside the %s [0, %d)", what,
                            v, i / T, i % T, classes ? "classes" : "vocabulary", n);
    }
    return MB_OK;
}

#define W(id) (m->params[(id)].w.ptr)
#define G(id) (m->params[(id)].g.ptr)

mb_status mb_gpt_linear_default(mb_ctx *ctx, const mb_linear_call *c, int backward) {
    const mb_backend *be = ctx->be;
    if (!backward) {
        be->matmul_fwd(ctx, c->out, c->inp, c->w->w.ptr, c->b ? c->b->w.ptr : NULL, c->N, c->C,
                       c->OC, c->OC);
    } else {
        be->matmul_bwd(ctx, c->dinp, c->w->g.ptr, c->b ? c->b->g.ptr : NULL, c->dout, c->inp,
                       c->w->w.ptr, c->N, c->C, c->OC, c->OC);
    }
    return MB_OK;
}

mb_status mb_gpt_attention_default(mb_ctx *ctx, const mb_attn_call *c, void *scratch) {
    if (!c->backward)
        ctx->be->attention_fwd(ctx, c->out, c->att, c->qkv, c->B, c->T, c->C, c->NH, c->NH);
    else
        ctx->be->attention_bwd(ctx, c->dqkv, scratch, c->dout, c->qkv, c->att, c->B, c->T, c->C,
                               c->NH, c->NH);
    return MB_OK;
}

mb_status mb_gpt_loss_default(mb_ctx *ctx, const mb_loss_call *c) {
    const mb_backend *be = ctx->be;
    if (!c->backward) {
        be->matmul_fwd(ctx, c->logits, c->lnf, c->head->w.ptr, NULL, c->N, c->C, c->V, c->ld);
        /* losses, and dlogits in place of the logits at once: one pass over B*T*V, not three */
        be->crossentropy_fused(ctx, c->losses, c->logits, c->targets, c->N, c->V, c->ld, c->scale);
    } else {
        be->matmul_bwd(ctx, c->dlnf, c->head->g.ptr, NULL, c->logits, c->lnf, c->head->w.ptr, c->N,
                       c->C, c->V, c->ld);
    }
    return MB_OK;
}

/* On demand: parameter id's gradient, allocated and zeroed if it is trainable and has none yet. */
static mb_status need_grad(mb_ctx *ctx, mb_gpt *m, int id) {
    mb_param *p = &m->params[id];
    if (!m->grad_mask || !m->grad_mask[id] || p->g.ptr) return MB_OK;
    MB_TRY(mb_alloc(ctx, &p->g, p->numel * mb_dtype_size(ctx->be->dtype), MB_MEM_GRADS, p->name));
    ctx->be->zero(ctx, p->g.ptr, p->g.bytes);
    return MB_OK;
}

static mb_status need_grads(mb_ctx *ctx, mb_gpt *m, int a, int b) {
    MB_TRY(need_grad(ctx, m, a));
    return need_grad(ctx, m, b);
}

static mb_status linear(mb_ctx *ctx, mb_gpt *m, int layer, int wid, int backward, void *out,
                        const void *inp, void *dinp, const void *dout, int N, int C, int OC) {
    if (backward) MB_TRY(need_grads(ctx, m, wid, wid + 1));
    mb_linear_call c = {layer, &m->params[wid], &m->params[wid + 1], out, inp, dinp, dout, N, C,
                        OC};
    const mb_gpt_hooks *h = m->hooks;
    if (h && !backward && h->linear_forward) return h->linear_forward(h->user, &c);
    if (h && backward && h->linear_backward) return h->linear_backward(h->user, &c);
    return mb_gpt_linear_default(ctx, &c, backward);
}

/* 1 when no method replaces this direction of the linear layers: the backend's fused linear
 * kernels (bias + GELU, + residual) may then stand for a layer plus the elementwise pass after it.
 */
static int linear_plain(const mb_gpt *m, int backward) {
    const mb_gpt_hooks *h = m->hooks;
    return !h || !(backward ? h->linear_backward : h->linear_forward);
}

/* out = inp . W^T + b + res for linear wid of block l: the backend's fused call where it has one
 * and no method replaces the layer, else the layer and then the residual add. */
static mb_status linear_res(mb_ctx *ctx, mb_gpt *m, int l, int wid, void *out, const void *inp,
                            const void *res, int N, int C, int OC) {
    const mb_backend *be = ctx->be;
    if (linear_plain(m, 0) && be->matmul_fwd_res) {
        be->matmul_fwd_res(ctx, out, inp, W(wid), W(wid + 1), res, N, C, OC);
        return MB_OK;
    }
    MB_TRY(linear(ctx, m, l, wid, 0, out, inp, NULL, NULL, N, C, OC));
    be->residual_fwd(ctx, out, out, res, (size_t)N * OC);
    return MB_OK;
}

static mb_status attention(mb_ctx *ctx, mb_gpt *m, mb_gpt_layer_acts *la, int layer, int backward,
                           const void *dout, void *dqkv, void *scratch) {
    const mb_gpt_acts *a = &m->acts;
    mb_attn_call c = {backward,    layer,        a->B, a->T, m->cfg.d_model, m->cfg.heads,
                      la->qkv.ptr, la->atty.ptr, dout, dqkv, la->att.ptr};
    if (attention_replaced(m)) return m->hooks->attention(m->hooks->user, &c);
    return mb_gpt_attention_default(ctx, &c, scratch);
}

static mb_act_mode act_policy(const mb_gpt *m, int layer) {
    return m->hooks && m->hooks->act_policy ? m->hooks->act_policy(m->hooks->user, layer)
                                            : MB_ACT_KEEP;
}

/* One block's forward from res_in into la (inside buffers allocated here; res3 by the caller). */
static mb_status block_forward(mb_ctx *ctx, mb_gpt *m, int l, const void *res_in) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = &m->acts;
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
    if (linear_plain(m, 0) && be->matmul_fwd_gelu) {
        be->matmul_fwd_gelu(ctx, a->gelu.ptr, la->fch.ptr, la->ln2.ptr, W(p + 8), W(p + 9), N, C,
                            4 * C);
    } else {
        MB_TRY(linear(ctx, m, l, p + 8, 0, la->fch.ptr, la->ln2.ptr, NULL, NULL, N, C, 4 * C));
        be->gelu_fwd(ctx, a->gelu.ptr, la->fch.ptr, (size_t)N * 4 * C);
    }
    return linear_res(ctx, m, l, p + 10, la->res3.ptr, a->gelu.ptr, la->res2.ptr, N, 4 * C, C);
}

static mb_status forward_impl(mb_ctx *ctx, mb_gpt *m, const int32_t *tokens, const int32_t *targets,
                              int B, int T, double *loss) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = &m->acts;
    int C = m->cfg.d_model, V = mb_gpt_head_rows(&m->cfg), L = m->cfg.layers, N = B * T;
    const int LD = mb_gpt_logits_ld(be, V); /* logits row stride */
    const int H = head_id(m);
    size_t es = mb_dtype_size(be->dtype), ss = mb_dtype_size(be->sdtype), BT = (size_t)N;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    a->B = B;
    a->T = T;
    a->has_targets = targets != NULL;
    a->lean = m->lean;
    m->have_acts = 1;
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
        mb_act_mode mode = act_policy(m, l);
        if (mode == MB_ACT_RECOMPUTE)
            free_block_inside(ctx, la);
        else if (mode == MB_ACT_CUSTOM)
            for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++)
                if (layer_bufs(la)[k].ptr)
                    MB_TRY(m->hooks->act_save(m->hooks->user, l, k, &layer_bufs(la)[k]));
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
    if (!loss_replaced(m)) MB_TRY(mb_alloc(ctx, &a->logits, BT * LD * es, A, "logits"));
    MB_TRY(mb_alloc(ctx, &a->losses, BT * ss, A, "losses"));
    int counted = 0;
    for (int i = 0; i < N; i++) counted += targets[i] >= 0;
    a->counted = counted;
    mb_loss_call lc = {0,
                       N,
                       C,
                       V,
                       LD,
                       a->lnf.ptr,
                       &m->params[H],
                       a->targets.ptr,
                       a->losses.ptr,
                       NULL,
                       a->logits.ptr,
                       counted ? 1.0 / counted : 0.0};
    MB_TRY(loss_replaced(m) ? m->hooks->loss(m->hooks->user, &lc) : mb_gpt_loss_default(ctx, &lc));
    double *h = malloc(BT * sizeof *h);
    if (!h) return mb_error(ctx, MB_ENOMEM, "host staging of losses");
    mb_status s = mb_gpt_state_get(ctx, &a->losses, BT, h);
    if (s == MB_OK) {
        double sum = 0;
        for (int i = 0; i < N; i++)
            if (targets[i] >= 0) sum += h[i];
        if (loss) *loss = counted ? sum / counted : 0.0;
    }
    free(h);
    return s;
}

mb_status mb_gpt_score_labels(mb_ctx *ctx, const mb_gpt *m, const int32_t *labels, double *nll,
                              long *correct, long *counted) {
    const mb_gpt_acts *a = &m->acts;
    if (!m->have_acts || a->has_targets || !a->logits.ptr)
        return mb_error(ctx, MB_EINVAL,
                        "scoring labels needs the logits of a forward without "
                        "targets");
    int V = mb_gpt_head_rows(&m->cfg), LD = mb_gpt_logits_ld(ctx->be, V), N = a->B * a->T;
    size_t es = mb_dtype_size(ctx->be->dtype);
    void *stage = malloc((size_t)V * es);
    double *z = malloc((size_t)V * sizeof *z);
    mb_status s = stage && z ? MB_OK : mb_error(ctx, MB_ENOMEM, "host staging of %d logits", V);
    for (int i = 0; i < N && s == MB_OK; i++) {
        if (labels[i] < 0) continue;
        if (labels[i] >= V) {
            s = mb_error(ctx, MB_EINVAL, "label %d at position %d is outside [0, %d)", labels[i], i,
                         V);
            break;
        }
        s = ctx->be->to_host(ctx, stage, (const char *)a->logits.ptr + (size_t)i * LD * es,
                             (size_t)V * es);
        if (s != MB_OK) break;
        mb_dtype_to_f64(ctx->be->dtype, z, stage, (size_t)V);
        int best = 0;
        for (int j = 1; j < V; j++)
            if (z[j] > z[best]) best = j;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp(z[j] - z[best]);
        *nll += log(sum) - (z[labels[i]] - z[best]);
        *correct += best == labels[i];
        *counted += 1;
    }
    free(stage);
    free(z);
    return s;
}

mb_status mb_gpt_forward(mb_ctx *ctx, mb_gpt *m, const int32_t *tokens, const int32_t *targets,
                         int B, int T, double *loss) {
    if (B < 1 || T < 1 || T > m->cfg.seq_len)
        return mb_error(ctx, MB_EINVAL,
                        "batch %d x sequence %d: need batch >= 1 and 1 <= sequence <= %d", B, T,
                        m->cfg.seq_len);
    MB_TRY(check_tokens(ctx, m, tokens, B, T, 0, "token"));
    if (targets) MB_TRY(check_tokens(ctx, m, targets, B, T, 1, "target"));
    mb_gpt_free_acts(ctx, m);
    mb_status s = forward_impl(ctx, m, tokens, targets, B, T, loss);
    if (s != MB_OK) mb_gpt_free_acts(ctx, m);
    return s;
}

mb_status mb_gpt_forward_lean(mb_ctx *ctx, mb_gpt *m, const int32_t *tokens, const int32_t *targets,
                              int B, int T, double *loss) {
    m->lean = 1;
    mb_status s = mb_gpt_forward(ctx, m, tokens, targets, B, T, loss);
    m->lean = 0;
    return s;
}

static mb_status grad_ready(mb_gpt *m, int id) {
    mb_param *p = &m->params[id];
    if (!p->g.ptr || !m->hooks || !m->hooks->grad_ready) return MB_OK;
    return m->hooks->grad_ready(m->hooks->user, p);
}

/* Scratch buffers of backward (see mb_gpt_bwd_scratch_elems): dres and dtmp from the start, the
 * others taken once the loss is done and the logits are freed. */
typedef struct bwd_scratch {
    mb_buf dres, dtmp, dqkv, dfch, datt;
} bwd_scratch;

/* Makes block l's inside activations available again: recomputed or handed back by act_load. */
static mb_status block_restore(mb_ctx *ctx, mb_gpt *m, int l, mb_act_mode mode) {
    mb_gpt_layer_acts *la = &m->acts.layer[l];
    if (mode == MB_ACT_RECOMPUTE) {
        /* block_forward rewrites res3 with identical values (deterministic kernels) */
        const void *res_in = l ? m->acts.layer[l - 1].res3.ptr : m->acts.encoded.ptr;
        return block_forward(ctx, m, l, res_in);
    }
    if (mode == MB_ACT_CUSTOM)
        for (int k = 0; k < MB_GPT_BLOCK_INSIDE; k++)
            if (k != 4 || !attention_replaced(m))
                MB_TRY(m->hooks->act_load(m->hooks->user, l, k, &layer_bufs(la)[k]));
    return MB_OK;
}

static mb_status block_backward(mb_ctx *ctx, mb_gpt *m, int l, const bwd_scratch *s,
                                int need_dinp) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = &m->acts;
    mb_gpt_layer_acts *la = &a->layer[l];
    int C = m->cfg.d_model, N = a->B * a->T, p = 2 + l * MB_GPT_PER_LAYER;
    size_t NC = (size_t)N * C;
    const void *res_in = l ? a->layer[l - 1].res3.ptr : a->encoded.ptr;
    const mb_act_mode mode = act_policy(m, l);
    MB_TRY(block_restore(ctx, m, l, mode));
    /* GELU's output for the weight gradient of the MLP projection (a recomputed block has it) */
    if (mode != MB_ACT_RECOMPUTE) be->gelu_fwd(ctx, a->gelu.ptr, la->fch.ptr, 4 * NC);
    if (linear_plain(m, 1) && be->matmul_bwd_dgelu) {
        MB_TRY(need_grads(ctx, m, p + 10, p + 11));
        be->matmul_bwd_dgelu(ctx, s->dfch.ptr, G(p + 10), G(p + 11), s->dres.ptr, a->gelu.ptr,
                             W(p + 10), la->fch.ptr, N, 4 * C, C);
        MB_TRY(grad_ready(m, p + 10));
        MB_TRY(grad_ready(m, p + 11));
    } else {
        MB_TRY(
            linear(ctx, m, l, p + 10, 1, NULL, a->gelu.ptr, s->dfch.ptr, s->dres.ptr, N, 4 * C, C));
        MB_TRY(grad_ready(m, p + 10));
        MB_TRY(grad_ready(m, p + 11));
        be->gelu_bwd(ctx, s->dfch.ptr, la->fch.ptr, s->dfch.ptr, 4 * NC);
    }
    MB_TRY(linear(ctx, m, l, p + 8, 1, NULL, la->ln2.ptr, s->dtmp.ptr, s->dfch.ptr, N, C, 4 * C));
    MB_TRY(grad_ready(m, p + 8));
    MB_TRY(grad_ready(m, p + 9));
    MB_TRY(need_grads(ctx, m, p + 6, p + 7));
    be->layernorm_bwd(ctx, s->dres.ptr, G(p + 6), G(p + 7), s->dtmp.ptr, la->res2.ptr, W(p + 6),
                      la->ln2_mean.ptr, la->ln2_rstd.ptr, N, C);
    MB_TRY(grad_ready(m, p + 6));
    MB_TRY(grad_ready(m, p + 7));
    MB_TRY(linear(ctx, m, l, p + 4, 1, NULL, la->atty.ptr, s->dtmp.ptr, s->dres.ptr, N, C, C));
    MB_TRY(grad_ready(m, p + 4));
    MB_TRY(grad_ready(m, p + 5));
    MB_TRY(attention(ctx, m, la, l, 1, s->dtmp.ptr, s->dqkv.ptr, s->datt.ptr));
    MB_TRY(linear(ctx, m, l, p + 2, 1, NULL, la->ln1.ptr, s->dtmp.ptr, s->dqkv.ptr, N, C, 3 * C));
    MB_TRY(grad_ready(m, p + 2));
    MB_TRY(grad_ready(m, p + 3));
    MB_TRY(need_grads(ctx, m, p, p + 1));
    be->layernorm_bwd(ctx, need_dinp ? s->dres.ptr : NULL, G(p), G(p + 1), s->dtmp.ptr, res_in,
                      W(p), la->ln1_mean.ptr, la->ln1_rstd.ptr, N, C);
    MB_TRY(grad_ready(m, p));
    MB_TRY(grad_ready(m, p + 1));
    /* The block's inside is no longer needed: free it now so the peak is one block's worth. */
    free_block_inside(ctx, la);
    return MB_OK;
}

static mb_status backward_impl(mb_ctx *ctx, mb_gpt *m, bwd_scratch *s) {
    const mb_backend *be = ctx->be;
    mb_gpt_acts *a = &m->acts;
    int N = a->B * a->T, C = m->cfg.d_model, V = mb_gpt_head_rows(&m->cfg), L = m->cfg.layers;
    int f = 2 + L * MB_GPT_PER_LAYER, H = head_id(m);
    int lowest = m->hooks ? m->hooks->lowest_layer : 0;
    if (lowest < 0) lowest = 0;
    mb_loss_call lc = {1,
                       N,
                       C,
                       V,
                       mb_gpt_logits_ld(be, V),
                       a->lnf.ptr,
                       &m->params[H],
                       a->targets.ptr,
                       a->losses.ptr,
                       s->dtmp.ptr,
                       a->logits.ptr,
                       a->counted ? 1.0 / a->counted : 0.0};
    MB_TRY(need_grad(ctx, m, H));
    MB_TRY(loss_replaced(m) ? m->hooks->loss(m->hooks->user, &lc) : mb_gpt_loss_default(ctx, &lc));
    if (H != 0) MB_TRY(grad_ready(m, H)); /* a classifier's head is complete after the loss */
    /* The logits (dlogits by now) are spent: free them before taking the rest of the scratch, so
     * backward's peak holds one or the other (see mb_gpt_train_act_peak). */
    mb_free(ctx, &a->logits);
    size_t es = mb_dtype_size(be->dtype), NC = (size_t)N * C;
    const mb_mem_cat A = MB_MEM_ACTIVATIONS;
    MB_TRY(mb_alloc(ctx, &s->dqkv, 3 * NC * es, A, "d_qkv"));
    MB_TRY(mb_alloc(ctx, &s->dfch, 4 * NC * es, A, "d_fch"));
    if (!attention_replaced(m))
        MB_TRY(mb_alloc(ctx, &s->datt, (size_t)a->B * m->cfg.heads * a->T * es, A, "d_att_row"));
    be->zero(ctx, s->dres.ptr, (size_t)N * C * mb_dtype_size(be->dtype));
    MB_TRY(need_grads(ctx, m, f, f + 1));
    be->layernorm_bwd(ctx, s->dres.ptr, G(f), G(f + 1), s->dtmp.ptr, a->layer[L - 1].res3.ptr, W(f),
                      a->lnf_mean.ptr, a->lnf_rstd.ptr, N, C);
    MB_TRY(grad_ready(m, f));
    MB_TRY(grad_ready(m, f + 1));
    for (int l = L - 1; l >= lowest && l >= 0; l--)
        MB_TRY(block_backward(ctx, m, l, s, l > lowest || lowest == 0));
    if (lowest == 0) MB_TRY(need_grads(ctx, m, 0, 1));
    if (lowest == 0 && (G(0) || G(1))) /* frozen embeddings (LoRA) need no pass */
        be->encoder_bwd(ctx, G(0), G(1), s->dres.ptr, a->tokens.ptr, a->B, a->T, C);
    MB_TRY(grad_ready(m, 0));
    if (lowest == 0) MB_TRY(grad_ready(m, 1));
    return MB_OK;
}

mb_status mb_gpt_backward(mb_ctx *ctx, mb_gpt *m) {
    mb_gpt_acts *a = &m->acts;
    if (!m->have_acts || !a->has_targets)
        return mb_error(ctx, MB_EINVAL, "backward needs a forward with targets first");
    if (a->lean)
        return mb_error(ctx, MB_EINVAL,
                        "backward needs a training forward; a lean forward "
                        "(evaluation) keeps nothing for it");
    if (!m->grads_allocated && !m->grad_mask)
        return mb_error(ctx, MB_EINVAL, "backward needs gradient buffers (or gradients on demand)");
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
    mb_gpt_free_acts(ctx, m);
    return s;
}
