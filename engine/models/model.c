/* engine/models/model.c — what every model family shares: descriptors and their buffers,
 * gradients, host views, checks around forward and backward, presets, the replaceable sites'
 * defaults. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mb_model_family *const families[MB_ARCH_N] = {
    [MB_ARCH_GPT] = &mb_family_gpt,
    [MB_ARCH_LLAMA] = &mb_family_llama,
};

const mb_model_family *mb_model_family_of(mb_arch arch) {
    return (unsigned)arch < MB_ARCH_N ? families[arch] : NULL;
}

const char *mb_arch_name(mb_arch arch) {
    return (unsigned)arch < MB_ARCH_N ? families[arch]->name : "?";
}

static const char *const role_names[MB_ROLE_N] = {
    [MB_ROLE_EMBED] = "embed",
    [MB_ROLE_POS_EMBED] = "pos_embed",
    [MB_ROLE_NORM] = "norm",
    [MB_ROLE_NORM_BIAS] = "norm_bias",
    [MB_ROLE_ATTN_QKV] = "attn_qkv",
    [MB_ROLE_ATTN_QKV_BIAS] = "attn_qkv_bias",
    [MB_ROLE_ATTN_Q] = "attn_q",
    [MB_ROLE_ATTN_K] = "attn_k",
    [MB_ROLE_ATTN_V] = "attn_v",
    [MB_ROLE_ATTN_OUT] = "attn_out",
    [MB_ROLE_ATTN_OUT_BIAS] = "attn_out_bias",
    [MB_ROLE_MLP_UP] = "mlp_up",
    [MB_ROLE_MLP_UP_BIAS] = "mlp_up_bias",
    [MB_ROLE_MLP_GATE] = "mlp_gate",
    [MB_ROLE_MLP_DOWN] = "mlp_down",
    [MB_ROLE_MLP_DOWN_BIAS] = "mlp_down_bias",
    [MB_ROLE_HEAD] = "head",
    [MB_ROLE_SCORE] = "score",
    [MB_ROLE_ADAPTER] = "adapter",
};

const char *mb_role_name(mb_role r) {
    return (unsigned)r < MB_ROLE_N ? role_names[r] : "?";
}

int mb_role_is_bias(mb_role r) {
    return r == MB_ROLE_NORM_BIAS || r == MB_ROLE_ATTN_QKV_BIAS || r == MB_ROLE_ATTN_OUT_BIAS ||
           r == MB_ROLE_MLP_UP_BIAS || r == MB_ROLE_MLP_DOWN_BIAS;
}

int mb_role_is_norm(mb_role r) {
    return r == MB_ROLE_NORM;
}

int mb_role_is_block_matrix(mb_role r) {
    return r == MB_ROLE_ATTN_QKV || r == MB_ROLE_ATTN_Q || r == MB_ROLE_ATTN_K ||
           r == MB_ROLE_ATTN_V || r == MB_ROLE_ATTN_OUT || r == MB_ROLE_MLP_UP ||
           r == MB_ROLE_MLP_GATE || r == MB_ROLE_MLP_DOWN;
}

/* ---- presets and shapes ---- */

int mb_model_preset_names(const char **out, int n) {
    int k = 0;
    for (int a = 0; a < MB_ARCH_N; a++)
        for (int i = 0; families[a]->preset_names[i]; i++, k++)
            if (k < n) out[k] = families[a]->preset_names[i];
    return k;
}

mb_status mb_model_preset(mb_ctx *ctx, const char *name, mb_model_config *out) {
    MB_TRY(mb_model_preset_raw(ctx, name, out));
    return mb_model_config_check(ctx, out);
}

mb_status mb_model_preset_raw(mb_ctx *ctx, const char *name, mb_model_config *out) {
    for (int a = 0; a < MB_ARCH_N; a++)
        for (int i = 0; families[a]->preset_names[i]; i++)
            if (!strcmp(name, families[a]->preset_names[i])) {
                *out = families[a]->presets[i];
                return MB_OK;
            }
    const char *names[64];
    int n = mb_model_preset_names(names, 64);
    char list[1024];
    size_t used = 0;
    list[0] = 0;
    for (int i = 0; i < n && i < 64 && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    return mb_error(ctx, MB_ENOTFOUND, "unknown model preset '%s' (known: %s)", name, list);
}

mb_status mb_model_config_check(mb_ctx *ctx, mb_model_config *cfg) {
    const mb_model_family *f = mb_model_family_of(cfg->arch);
    if (!f) return mb_error(ctx, MB_EINVAL, "unknown model architecture %d", (int)cfg->arch);
    return f->check(ctx, cfg);
}

size_t mb_model_num_params(const mb_model_config *cfg) {
    const mb_model_family *f = mb_model_family_of(cfg->arch);
    return f ? f->num_params(cfg) : 0;
}

int mb_model_head_rows(const mb_model_config *cfg) {
    return cfg->classes > 0 ? cfg->classes : cfg->vocab;
}

int mb_model_logits_ld(const mb_backend *be, int V) {
    int a = be->logits_align > 1 ? be->logits_align : 1;
    return (V + a - 1) / a * a;
}

mb_param *mb_model_find(const mb_model *m, int layer, mb_role role, int nth) {
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        if (p->layer == layer && p->role == role && nth-- == 0) return p;
    }
    return NULL;
}

mb_param *mb_model_head(const mb_model *m) {
    mb_param *p = mb_model_find(m, -1, m->cfg.classes > 0 ? MB_ROLE_SCORE : MB_ROLE_HEAD, 0);
    return p ? p : mb_model_find(m, -1, MB_ROLE_EMBED, 0);
}

/* ---- descriptors and buffers ---- */

void mb_model_free_grads(mb_ctx *ctx, mb_model *m) {
    for (int i = 0; i < m->nparams; i++) mb_free(ctx, &m->params[i].g);
    m->grads_allocated = 0;
}

void mb_model_free_acts(mb_ctx *ctx, mb_model *m) {
    if (m->fam) m->fam->free_acts(ctx, m);
    m->have_acts = 0;
}

void mb_model_destroy(mb_ctx *ctx, mb_model *m) {
    mb_model_free_acts(ctx, m);
    if (m->params) {
        mb_model_free_grads(ctx, m);
        for (int i = 0; i < m->nparams; i++) mb_free(ctx, &m->params[i].w);
        free(m->params);
    }
    memset(m, 0, sizeof *m);
}

mb_status mb_model_create(mb_ctx *ctx, const mb_model_config *cfg, mb_model *m) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    MB_TRY(mb_model_config_check(ctx, &m->cfg));
    m->fam = mb_model_family_of(cfg->arch);
    m->nparams = m->nbase = m->fam->count(&m->cfg);
    m->params = calloc((size_t)m->nparams, sizeof *m->params);
    if (!m->params) return mb_error(ctx, MB_ENOMEM, "host allocation of parameter descriptors");
    m->fam->describe(&m->cfg, m->params);
    size_t es = mb_dtype_size(ctx->be->dtype);
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        m->num_params += p->numel;
        mb_status s = mb_alloc(ctx, &p->w, p->numel * es, MB_MEM_WEIGHTS, p->name);
        if (s != MB_OK) {
            const char *title = m->fam->title;
            mb_model_destroy(ctx, m);
            return mb_error_prefix(ctx, s, "creating %s model", title);
        }
    }
    return MB_OK;
}

mb_status mb_model_init_weights(mb_ctx *ctx, mb_model *m, uint64_t seed) {
    return m->fam->init_weights(ctx, m, seed);
}

mb_status mb_model_add_param(mb_ctx *ctx, mb_model *m, int layer, const char *name, size_t rows,
                             size_t cols, int *id) {
    mb_param *ps = realloc(m->params, ((size_t)m->nparams + 1) * sizeof *ps);
    if (!ps) return mb_error(ctx, MB_ENOMEM, "host allocation of parameter descriptors");
    m->params = ps;
    mb_param *p = &ps[m->nparams];
    memset(p, 0, sizeof *p);
    p->id = m->nparams;
    p->layer = layer;
    p->role = MB_ROLE_ADAPTER;
    p->ndim = cols ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->numel = cols ? rows * cols : rows;
    snprintf(p->name, sizeof p->name, "%s", name);
    MB_TRY(mb_alloc(ctx, &p->w, p->numel * mb_dtype_size(ctx->be->dtype), MB_MEM_WEIGHTS, p->name));
    *id = m->nparams++;
    return MB_OK;
}

void mb_model_drop_params(mb_ctx *ctx, mb_model *m, int n) {
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

mb_status mb_model_param_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out) {
    return read_as_f64(ctx, ctx->be->dtype, b, numel, out);
}

mb_status mb_model_state_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out) {
    return read_as_f64(ctx, ctx->be->sdtype, b, numel, out);
}

mb_status mb_model_param_set(mb_ctx *ctx, mb_buf *b, size_t numel, const double *in) {
    size_t es = mb_dtype_size(ctx->be->dtype);
    void *stage = malloc(numel ? numel * es : 1);
    if (!stage) return mb_error(ctx, MB_ENOMEM, "host staging of %zu bytes", numel * es);
    mb_dtype_from_f64(ctx->be->dtype, stage, in, numel);
    mb_status s = ctx->be->to_device(ctx, b->ptr, stage, numel * es);
    free(stage);
    return s;
}

mb_status mb_model_grad_get(mb_ctx *ctx, const mb_model *m, int i, double *out) {
    const mb_param *p = &m->params[i];
    if (!p->g.ptr)
        return mb_error(ctx, MB_EINVAL, "parameter '%s' has no gradient buffer", p->name);
    return mb_model_param_get(ctx, &p->g, p->numel, out);
}

mb_status mb_model_alloc_grads(mb_ctx *ctx, mb_model *m, const uint8_t *trainable) {
    m->grad_mask = NULL;
    size_t es = mb_dtype_size(ctx->be->dtype);
    /* frees first, so a changed trainable set (a layerwise method) never holds both sets */
    for (int i = 0; i < m->nparams && trainable; i++)
        if (!trainable[i]) mb_free(ctx, &m->params[i].g);
    for (int i = 0; i < m->nparams; i++) {
        mb_param *p = &m->params[i];
        if ((trainable && !trainable[i]) || p->g.ptr) continue;
        mb_status s = mb_alloc(ctx, &p->g, p->numel * es, MB_MEM_GRADS, p->name);
        if (s != MB_OK) {
            mb_model_free_grads(ctx, m);
            return s;
        }
        ctx->be->zero(ctx, p->g.ptr, p->g.bytes);
    }
    m->grads_allocated = 1;
    return MB_OK;
}

void mb_model_grads_on_demand(mb_ctx *ctx, mb_model *m, const uint8_t *trainable) {
    mb_model_free_grads(ctx, m);
    m->grad_mask = trainable;
}

void mb_model_zero_grads(mb_ctx *ctx, mb_model *m) {
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].g.ptr) ctx->be->zero(ctx, m->params[i].g.ptr, m->params[i].g.bytes);
}

mb_status mb_model_need_grad(mb_ctx *ctx, mb_model *m, int id) {
    mb_param *p = &m->params[id];
    if (!m->grad_mask || !m->grad_mask[id] || p->g.ptr) return MB_OK;
    MB_TRY(mb_alloc(ctx, &p->g, p->numel * mb_dtype_size(ctx->be->dtype), MB_MEM_GRADS, p->name));
    ctx->be->zero(ctx, p->g.ptr, p->g.bytes);
    return MB_OK;
}

/* ---- the hooks, as the families ask them ---- */

int mb_model_attention_owned(const mb_model *m) {
    return m->hooks && m->hooks->attention;
}

int mb_model_loss_owned(const mb_model *m) {
    return m->hooks && m->hooks->loss;
}

int mb_model_linear_plain(const mb_model *m, int backward) {
    const mb_model_hooks *h = m->hooks;
    return !h || !(backward ? h->linear_backward : h->linear_forward);
}

mb_act_mode mb_model_act_policy(const mb_model *m, int layer) {
    return m->hooks && m->hooks->act_policy ? m->hooks->act_policy(m->hooks->user, layer)
                                            : MB_ACT_KEEP;
}

mb_status mb_model_grad_ready(mb_model *m, int id) {
    mb_param *p = &m->params[id];
    if (!p->g.ptr || !m->hooks || !m->hooks->grad_ready) return MB_OK;
    return m->hooks->grad_ready(m->hooks->user, p);
}

/* ---- the replaceable sites' defaults ---- */

mb_status mb_model_linear_default(mb_ctx *ctx, const mb_linear_call *c, int backward) {
    const mb_backend *be = ctx->be;
    int ld = c->ld ? c->ld : c->OC;
    if (!backward) {
        be->matmul_fwd(ctx, c->out, c->inp, c->w->w.ptr, c->b ? c->b->w.ptr : NULL, c->N, c->C,
                       c->OC, ld);
    } else {
        be->matmul_bwd(ctx, c->dinp, c->w->g.ptr, c->b ? c->b->g.ptr : NULL, c->dout, c->inp,
                       c->w->w.ptr, c->N, c->C, c->OC, ld);
    }
    return MB_OK;
}

mb_status mb_model_attention_default(mb_ctx *ctx, const mb_attn_call *c, void *scratch) {
    if (!c->backward)
        ctx->be->attention_fwd(ctx, c->out, c->att, c->qkv, c->B, c->T, c->C, c->NH, c->KV);
    else
        ctx->be->attention_bwd(ctx, c->dqkv, scratch, c->dout, c->qkv, c->att, c->B, c->T, c->C,
                               c->NH, c->KV);
    return MB_OK;
}

mb_status mb_model_loss_default(mb_ctx *ctx, const mb_loss_call *c) {
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

/* ---- forward and backward around the family's ---- */

static mb_status check_tokens(mb_ctx *ctx, const mb_model *m, const int32_t *tok, int B, int T,
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

mb_status mb_model_forward(mb_ctx *ctx, mb_model *m, const int32_t *tokens, const int32_t *targets,
                           int B, int T, double *loss) {
    if (B < 1 || T < 1 || T > m->cfg.seq_len)
        return mb_error(ctx, MB_EINVAL,
                        "batch %d x sequence %d: need batch >= 1 and 1 <= sequence <= %d", B, T,
                        m->cfg.seq_len);
    MB_TRY(check_tokens(ctx, m, tokens, B, T, 0, "token"));
    if (targets) MB_TRY(check_tokens(ctx, m, targets, B, T, 1, "target"));
    mb_model_free_acts(ctx, m);
    m->B = B;
    m->T = T;
    m->has_targets = targets != NULL;
    m->acts_lean = m->lean;
    m->have_acts = 1;
    mb_status s = m->fam->forward(ctx, m, tokens, targets, B, T, loss);
    if (s != MB_OK) mb_model_free_acts(ctx, m);
    return s;
}

mb_status mb_model_forward_lean(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                                const int32_t *targets, int B, int T, double *loss) {
    m->lean = 1;
    mb_status s = mb_model_forward(ctx, m, tokens, targets, B, T, loss);
    m->lean = 0;
    return s;
}

mb_status mb_model_backward(mb_ctx *ctx, mb_model *m) {
    if (!m->have_acts || !m->has_targets)
        return mb_error(ctx, MB_EINVAL, "backward needs a forward with targets first");
    if (m->acts_lean)
        return mb_error(ctx, MB_EINVAL,
                        "backward needs a training forward; a lean forward "
                        "(evaluation) keeps nothing for it");
    if (!m->fam->backward)
        return mb_error(ctx, MB_EUNSUPPORTED, "the %s family has no backward", m->fam->name);
    if (!m->grads_allocated && !m->grad_mask)
        return mb_error(ctx, MB_EINVAL, "backward needs gradient buffers (or gradients on demand)");
    mb_status s = m->fam->backward(ctx, m);
    mb_model_free_acts(ctx, m);
    return s;
}

mb_status mb_model_score_labels(mb_ctx *ctx, const mb_model *m, const int32_t *labels, double *nll,
                                long *correct, long *counted) {
    if (!m->have_acts || m->has_targets)
        return mb_error(ctx, MB_EINVAL,
                        "scoring labels needs the logits of a forward without "
                        "targets");
    int V = mb_model_head_rows(&m->cfg), N = m->B * m->T;
    double *z = malloc((size_t)V * sizeof *z);
    mb_status s = z ? MB_OK : mb_error(ctx, MB_ENOMEM, "host staging of %d logits", V);
    for (int i = 0; i < N && s == MB_OK; i++) {
        if (labels[i] < 0) continue;
        if (labels[i] >= V) {
            s = mb_error(ctx, MB_EINVAL, "label %d at position %d is outside [0, %d)", labels[i], i,
                         V);
            break;
        }
        s = m->fam->logits_row(ctx, m, i, z);
        if (s != MB_OK) break;
        int best = 0;
        for (int j = 1; j < V; j++)
            if (z[j] > z[best]) best = j;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp(z[j] - z[best]);
        *nll += log(sum) - (z[labels[i]] - z[best]);
        *correct += best == labels[i];
        *counted += 1;
    }
    free(z);
    return s;
}
