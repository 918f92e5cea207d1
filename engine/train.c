/* engine/train.c — the training step: slots called at fixed points, a REPLACE slot's owner or
 * the default, every owner of a CHAIN slot in stack order. */
#include "train.h"

#include <stdlib.h>
#include <string.h>

enum {
    S_BEGIN_STEP = MB_SLOT_BEGIN_STEP,
    S_LINEAR_FORWARD = MB_SLOT_LINEAR_FORWARD,
    S_LINEAR_BACKWARD = MB_SLOT_LINEAR_BACKWARD,
    S_ACT_POLICY = MB_SLOT_ACT_POLICY,
    S_ACT_SAVE = MB_SLOT_ACT_SAVE,
    S_ACT_LOAD = MB_SLOT_ACT_LOAD,
    S_ATTENTION = MB_SLOT_ATTENTION,
    S_LOSS = MB_SLOT_LOSS,
    S_GRAD_READY = MB_SLOT_GRAD_READY,
    S_OPTIMIZER_STEP = MB_SLOT_OPTIMIZER_STEP,
    S_TRAIN_STEP = MB_SLOT_TRAIN_STEP,
};

#define OWNER(tr, s) ((tr)->owner[s])
#define CALL(tr, s, fn, ...)                                                                       \
    ((tr)->calls[s]++, (tr)->methods[OWNER(tr, s)]->fn((tr)->priv[OWNER(tr, s)], (tr), __VA_ARGS__))

static mb_status h_linear_forward(void *u, const mb_linear_call *c) {
    mb_train *tr = u;
    return CALL(tr, S_LINEAR_FORWARD, linear_forward, c);
}
static mb_status h_linear_backward(void *u, const mb_linear_call *c) {
    mb_train *tr = u;
    return CALL(tr, S_LINEAR_BACKWARD, linear_backward, c);
}
/* A CHAIN per layer: the block goes to the first method in stack order that claims it. */
static mb_act_mode h_act_policy(void *u, int layer) {
    mb_train *tr = u;
    tr->calls[S_ACT_POLICY]++;
    for (int k = 0; k < tr->nchain[S_ACT_POLICY]; k++) {
        int i = tr->chain[S_ACT_POLICY][k];
        mb_act_mode m = tr->methods[i]->act_policy(tr->priv[i], tr, layer);
        if (m != MB_ACT_KEEP) return m;
    }
    return MB_ACT_KEEP;
}
static mb_status h_act_save(void *u, int layer, const mb_saved *what, mb_buf *act) {
    mb_train *tr = u;
    return CALL(tr, S_ACT_SAVE, act_save, layer, what, act);
}
static mb_status h_act_load(void *u, int layer, const mb_saved *what, mb_buf *act) {
    mb_train *tr = u;
    return CALL(tr, S_ACT_LOAD, act_load, layer, what, act);
}
static mb_status h_attention(void *u, const mb_attn_call *c) {
    mb_train *tr = u;
    return CALL(tr, S_ATTENTION, attention, c);
}
static mb_status h_loss(void *u, const mb_loss_call *c) {
    mb_train *tr = u;
    return CALL(tr, S_LOSS, loss, c);
}
static mb_status h_grad_ready(void *u, mb_param *p) {
    mb_train *tr = u;
    return CALL(tr, S_GRAD_READY, grad_ready, p);
}

mb_status mb_train_master(mb_train *tr, mb_param *p, mb_buf **out) {
    mb_ctx *ctx = tr->ctx;
    *out = NULL;
    if (ctx->be->dtype == ctx->be->sdtype) return MB_OK;
    if (!tr->master) {
        tr->master = calloc((size_t)tr->model->nparams, sizeof *tr->master);
        if (!tr->master) return mb_error(ctx, MB_ENOMEM, "host allocation of master-weight table");
        tr->nmaster = tr->model->nparams;
    }
    if (p->id >= tr->nmaster)
        return mb_error(ctx, MB_EINVAL, "parameter '%s' was added after the stack was set up",
                        p->name);
    mb_buf *b = &tr->master[p->id];
    if (!b->ptr) {
        MB_TRY(
            mb_alloc(ctx, b, p->numel * mb_dtype_size(ctx->be->sdtype), MB_MEM_WEIGHTS, "master"));
        ctx->be->widen(ctx, b->ptr, p->w.ptr, p->numel);
    }
    *out = b;
    return MB_OK;
}

void mb_train_fini(mb_train *tr) {
    if (tr->master) {
        for (int i = 0; i < tr->nmaster; i++) mb_free(tr->ctx, &tr->master[i]);
        free(tr->master);
    }
    for (int i = tr->n - 1; i >= 0; i--) {
        if (tr->inited[i] && tr->methods[i]->fini) tr->methods[i]->fini(tr->priv[i], tr);
        free(tr->priv[i]);
        tr->priv[i] = NULL;
        tr->inited[i] = 0;
    }
    if (tr->model && tr->model->hooks == &tr->hooks) tr->model->hooks = NULL;
    free(tr->plan.trainable);
    free(tr->ready);
    free(tr->pred_trainable);
    free(tr->pred_mode);
    free(tr->pred_claimed);
    free(tr->default_vals);
    memset(tr, 0, sizeof *tr);
}

mb_status mb_train_init(mb_train *tr, mb_ctx *ctx, mb_model *model, const mb_method *const *methods,
                        const mb_pvalue *const *vals, int n, const mb_method *default_opt,
                        uint64_t seed) {
    memset(tr, 0, sizeof *tr);
    tr->ctx = ctx;
    tr->model = model;
    tr->seed = seed;
    if (n < 0 || n > MB_MAX_STACK - 1)
        return mb_error(ctx, MB_EINVAL, "a stack holds at most %d methods", MB_MAX_STACK - 1);
    MB_TRY(mb_stack_check(ctx, methods, n));
    /* a method that refuses this model's shape (mb_method.check) makes the cell invalid, not an
     * error: the suite may hold models it fits */
    mb_status cs = mb_stack_check_model(ctx, methods, vals, n, &model->cfg);
    if (cs != MB_OK) return cs == MB_ENOMEM ? cs : MB_EUNSUPPORTED;
    for (int i = 0; i < n; i++) {
        tr->methods[i] = methods[i];
        tr->vals[i] = vals[i];
    }
    tr->n = n;
    int has_opt = 0;
    for (int i = 0; i < n; i++)
        has_opt |= mb_method_has_slot(methods[i], MB_SLOT_OPTIMIZER_STEP) ||
                   methods[i]->train_step != NULL;
    if (!has_opt && default_opt) {
        tr->default_vals = calloc((size_t)default_opt->nparams + 1, sizeof *tr->default_vals);
        if (!tr->default_vals) return mb_error(ctx, MB_ENOMEM, "host allocation");
        mb_method_defaults(default_opt, tr->default_vals);
        tr->methods[tr->n] = default_opt;
        tr->vals[tr->n] = tr->default_vals;
        tr->n++;
    }
    for (int s = 0; s < MB_NSLOTS; s++) {
        tr->owner[s] = -1;
        for (int i = 0; i < tr->n; i++)
            if (mb_method_has_slot(tr->methods[i], s)) {
                tr->owner[s] = i;
                tr->chain[s][tr->nchain[s]++] = i;
            }
    }
    if (OWNER(tr, S_OPTIMIZER_STEP) < 0 && OWNER(tr, S_TRAIN_STEP) < 0) {
        mb_train_fini(tr);
        return mb_error(ctx, MB_EINVAL,
                        "the stack has no optimizer (no method fills "
                        "optimizer_step or train_step)");
    }
    mb_model_hooks *h = &tr->hooks;
    h->user = tr;
    if (OWNER(tr, S_LINEAR_FORWARD) >= 0) h->linear_forward = h_linear_forward;
    if (OWNER(tr, S_LINEAR_BACKWARD) >= 0) h->linear_backward = h_linear_backward;
    if (OWNER(tr, S_ACT_POLICY) >= 0) h->act_policy = h_act_policy;
    if (OWNER(tr, S_ACT_SAVE) >= 0) h->act_save = h_act_save;
    if (OWNER(tr, S_ACT_LOAD) >= 0) h->act_load = h_act_load;
    if (OWNER(tr, S_ATTENTION) >= 0) h->attention = h_attention;
    if (OWNER(tr, S_LOSS) >= 0) h->loss = h_loss;
    if (OWNER(tr, S_GRAD_READY) >= 0) h->grad_ready = h_grad_ready;
    for (int i = 0; i < tr->n; i++) {
        const mb_method *m = tr->methods[i];
        tr->priv[i] = calloc(1, m->priv_size ? m->priv_size : 1);
        if (!tr->priv[i]) {
            mb_train_fini(tr);
            return mb_error(ctx, MB_ENOMEM, "host allocation of %s state", m->name);
        }
        tr->inited[i] = 1; /* fini runs even when init fails: it must cope with partial state */
        int before = model->nparams;
        if (m->init) {
            mb_status s = m->init(tr->priv[i], tr, tr->vals[i]);
            if (s != MB_OK) {
                mb_error_prefix(ctx, s, "%s", m->name);
                mb_train_fini(tr);
                return s;
            }
        }
        /* a method that adds parameters must say so (the stack check orders it by that) */
        if (model->nparams != before && !(m->flags & MB_METHOD_ADDS_PARAMS)) {
            mb_error(ctx, MB_EINVAL,
                     "%s added parameters to the model without declaring "
                     "MB_METHOD_ADDS_PARAMS",
                     m->name);
            mb_train_fini(tr);
            return MB_EINVAL;
        }
    }
    /* the parameters are final now: the step's trainable mask and the prediction's */
    tr->plan.trainable = malloc((size_t)model->nparams);
    tr->ready = malloc((size_t)model->nparams * sizeof *tr->ready);
    tr->pred_trainable = malloc((size_t)model->nparams);
    tr->pred_mode = malloc((size_t)model->cfg.layers + 1);
    tr->pred_claimed = malloc((size_t)model->cfg.layers + 1);
    if (!tr->plan.trainable || !tr->ready || !tr->pred_trainable || !tr->pred_mode ||
        !tr->pred_claimed) {
        mb_train_fini(tr);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    memset(tr->plan.trainable, 1, (size_t)model->nparams);
    model->hooks = h;
    return MB_OK;
}

mb_status mb_train_step(mb_train *tr, const int32_t *tokens, const int32_t *targets, int B, int T,
                        double *loss) {
    mb_ctx *ctx = tr->ctx;
    mb_model *m = tr->model;
    tr->tokens = tokens;
    tr->targets = targets;
    tr->B = B;
    tr->T = T;
    mb_status s;
    if (OWNER(tr, S_TRAIN_STEP) >= 0) {
        mb_mem_set_phase(&ctx->mem, MB_PHASE_FORWARD);
        s = CALL(tr, S_TRAIN_STEP, train_step, loss);
        tr->step++;
        if (s == MB_OK && ctx->be->sync) s = ctx->be->sync(ctx);
        return s;
    }
    memset(tr->plan.trainable, 1, (size_t)m->nparams);
    tr->plan.lowest_layer = 0;
    tr->plan.grads_on_demand = 0;
    for (int k = 0; k < tr->nchain[S_BEGIN_STEP]; k++) {
        int i = tr->chain[S_BEGIN_STEP][k];
        tr->calls[S_BEGIN_STEP]++;
        MB_TRY(tr->methods[i]->begin_step(tr->priv[i], tr, &tr->plan));
    }
    tr->hooks.lowest_layer = tr->plan.lowest_layer;
    mb_mem_set_phase(&ctx->mem, MB_PHASE_BACKWARD);
    if (tr->plan.grads_on_demand) {
        mb_model_grads_on_demand(ctx, m, tr->plan.trainable);
    } else {
        MB_TRY(mb_model_alloc_grads(ctx, m, tr->plan.trainable));
        mb_model_zero_grads(ctx, m);
    }
    mb_mem_set_phase(&ctx->mem, MB_PHASE_FORWARD);
    MB_TRY(mb_model_forward(ctx, m, tokens, targets, B, T, loss));
    mb_mem_set_phase(&ctx->mem, MB_PHASE_BACKWARD);
    MB_TRY(mb_model_backward(ctx, m));
    mb_mem_set_phase(&ctx->mem, MB_PHASE_OPTIMIZER);
    const mb_method *opt = tr->methods[OWNER(tr, S_OPTIMIZER_STEP)];
    if (opt->optimizer_step_many) {
        int n = 0;
        for (int i = 0; i < m->nparams; i++)
            if (tr->plan.trainable[i] && m->params[i].g.ptr) tr->ready[n++] = &m->params[i];
        tr->calls[S_OPTIMIZER_STEP] += (uint64_t)n; /* counted per parameter, as below */
        s = opt->optimizer_step_many(tr->priv[OWNER(tr, S_OPTIMIZER_STEP)], tr, tr->ready, n);
        if (s != MB_OK) return s;
    } else {
        for (int i = 0; i < m->nparams; i++) {
            mb_param *p = &m->params[i];
            if (!tr->plan.trainable[i] || !p->g.ptr) continue;
            MB_TRY(CALL(tr, S_OPTIMIZER_STEP, optimizer_step, p));
        }
    }
    tr->step++;
    return ctx->be->sync ? ctx->be->sync(ctx) : MB_OK;
}

mb_status mb_train_finish(mb_train *tr) {
    for (int i = 0; i < tr->n; i++)
        if (tr->methods[i]->finish) {
            mb_status s = tr->methods[i]->finish(tr->priv[i], tr);
            if (s != MB_OK) return mb_error_prefix(tr->ctx, s, "%s", tr->methods[i]->name);
        }
    return tr->ctx->be->sync ? tr->ctx->be->sync(tr->ctx) : MB_OK;
}

mb_status mb_train_eval(mb_train *tr, const int32_t *tokens, const int32_t *targets, int B, int T,
                        double *loss) {
    mb_ctx *ctx = tr->ctx;
    mb_phase prev = ctx->mem.phase;
    mb_mem_set_phase(&ctx->mem, MB_PHASE_EVAL);
    mb_status s = mb_model_forward_lean(ctx, tr->model, tokens, targets, B, T, loss);
    mb_model_free_acts(ctx, tr->model);
    mb_mem_set_phase(&ctx->mem, prev);
    return s;
}

mb_status mb_train_eval_labels(mb_train *tr, const int32_t *tokens, const int32_t *labels, int B,
                               int T, double *nll, long *correct, long *counted) {
    mb_ctx *ctx = tr->ctx;
    mb_phase prev = ctx->mem.phase;
    mb_mem_set_phase(&ctx->mem, MB_PHASE_EVAL);
    mb_status s = mb_model_forward_lean(ctx, tr->model, tokens, NULL, B, T, NULL);
    if (s == MB_OK) s = mb_model_score_labels(ctx, tr->model, labels, nll, correct, counted);
    mb_model_free_acts(ctx, tr->model);
    mb_mem_set_phase(&ctx->mem, prev);
    return s;
}

void mb_train_predict(const mb_train *tr, int B, int T, mb_predict *out) {
    const mb_model *m = tr->model;
    size_t es = mb_dtype_size(tr->ctx->be->dtype), ss = mb_dtype_size(tr->ctx->be->sdtype);
    memset(out, 0, sizeof *out);
    out->model = m;
    out->B = B;
    out->T = T;
    out->elem = es;
    out->state_elem = ss;
    out->trainable_numel = m->num_params;
    out->trainable = tr->pred_trainable;
    if (out->trainable) memset(out->trainable, 1, (size_t)m->nparams);
    out->bytes[MB_MEM_WEIGHTS] = (int64_t)(es * m->num_params);
    out->bytes[MB_MEM_GRADS] = (int64_t)(es * m->num_params);
    const int ld = mb_model_logits_ld(tr->ctx->be, mb_model_head_rows(&m->cfg));
    out->logits_ld = ld;
    out->walk.mode = tr->pred_mode;
    if (out->walk.mode) memset(out->walk.mode, 0, (size_t)m->cfg.layers);
    out->claimed = tr->pred_claimed;
    if (out->claimed) memset(out->claimed, 0, (size_t)m->cfg.layers);
    out->bytes[MB_MEM_OTHER] = (int64_t)(2 * (size_t)B * T * 4);
    for (int i = 0; i < tr->n; i++)
        if (tr->methods[i]->predict_bytes) tr->methods[i]->predict_bytes(tr->vals[i], out);
    out->bytes[MB_MEM_ACTIVATIONS] +=
        (int64_t)mb_model_act_walk(&m->cfg, B, T, es, ss, ld, &out->walk);
    /* mixed precision: an sdtype master copy of every trainable parameter (mb_train_master) */
    if (es != ss) out->bytes[MB_MEM_WEIGHTS] += (int64_t)(ss * out->trainable_numel);
}

mb_status mb_opt_state_init(mb_train *tr, mb_opt_state *s, const char *who) {
    s->n = tr->model->nparams;
    s->a = calloc((size_t)s->n, sizeof *s->a);
    s->b = calloc((size_t)s->n, sizeof *s->b);
    s->t = calloc((size_t)s->n, sizeof *s->t);
    if (!s->a || !s->b || !s->t) return mb_error(tr->ctx, MB_ENOMEM, "%s: host state", who);
    return MB_OK;
}

void mb_opt_state_fini(mb_train *tr, mb_opt_state *s) {
    for (int i = 0; s->a && s->b && i < s->n; i++) {
        mb_free(tr->ctx, &s->a[i]);
        mb_free(tr->ctx, &s->b[i]);
    }
    free(s->a);
    free(s->b);
    free(s->t);
    memset(s, 0, sizeof *s);
}
