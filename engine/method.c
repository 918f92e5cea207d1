/* engine/method.c — the slot table (names and kinds) and what a stack may combine, checked when a
 * suite loads and again when a stack is set up. */
#include "method.h"

#include <string.h>

const char *const mb_slot_names[MB_NSLOTS] = {
    [MB_SLOT_BEGIN_STEP] = "begin_step",
    [MB_SLOT_LINEAR_FORWARD] = "linear_forward",
    [MB_SLOT_LINEAR_BACKWARD] = "linear_backward",
    [MB_SLOT_ACT_POLICY] = "act_policy",
    [MB_SLOT_ACT_SAVE] = "act_save",
    [MB_SLOT_ACT_LOAD] = "act_load",
    [MB_SLOT_ATTENTION] = "attention",
    [MB_SLOT_LOSS] = "loss",
    [MB_SLOT_GRAD_READY] = "grad_ready",
    [MB_SLOT_OPTIMIZER_STEP] = "optimizer_step",
    [MB_SLOT_TRAIN_STEP] = "train_step",
    [MB_SLOT_FINISH] = "finish",
};

const mb_slot_kind mb_slot_kinds[MB_NSLOTS] = {
    [MB_SLOT_BEGIN_STEP] = MB_SLOT_CHAIN,        [MB_SLOT_LINEAR_FORWARD] = MB_SLOT_REPLACE,
    [MB_SLOT_LINEAR_BACKWARD] = MB_SLOT_REPLACE, [MB_SLOT_ACT_POLICY] = MB_SLOT_CHAIN,
    [MB_SLOT_ACT_SAVE] = MB_SLOT_REPLACE,        [MB_SLOT_ACT_LOAD] = MB_SLOT_REPLACE,
    [MB_SLOT_ATTENTION] = MB_SLOT_REPLACE,       [MB_SLOT_LOSS] = MB_SLOT_REPLACE,
    [MB_SLOT_GRAD_READY] = MB_SLOT_REPLACE,      [MB_SLOT_OPTIMIZER_STEP] = MB_SLOT_REPLACE,
    [MB_SLOT_TRAIN_STEP] = MB_SLOT_REPLACE,      [MB_SLOT_FINISH] = MB_SLOT_CHAIN,
};

int mb_method_has_slot(const mb_method *m, int s) {
    switch ((mb_slot)s) {
    case MB_SLOT_BEGIN_STEP:
        return m->begin_step != NULL;
    case MB_SLOT_LINEAR_FORWARD:
        return m->linear_forward != NULL;
    case MB_SLOT_LINEAR_BACKWARD:
        return m->linear_backward != NULL;
    case MB_SLOT_ACT_POLICY:
        return m->act_policy != NULL;
    case MB_SLOT_ACT_SAVE:
        return m->act_save != NULL;
    case MB_SLOT_ACT_LOAD:
        return m->act_load != NULL;
    case MB_SLOT_ATTENTION:
        return m->attention != NULL;
    case MB_SLOT_LOSS:
        return m->loss != NULL;
    case MB_SLOT_GRAD_READY:
        return m->grad_ready != NULL;
    case MB_SLOT_OPTIMIZER_STEP:
        return m->optimizer_step != NULL || m->optimizer_step_many != NULL;
    case MB_SLOT_TRAIN_STEP:
        return m->train_step != NULL;
    case MB_SLOT_FINISH:
        return m->finish != NULL;
    case MB_NSLOTS:
        break;
    }
    return 0;
}

/* Acts per parameter (keeps state sized when it is set up, or edits the plan's trainable mask and
 * predicts from it): it must see every parameter there is, so an adapter's come first. */
static int per_param(const mb_method *m) {
    return mb_method_has_slot(m, MB_SLOT_OPTIMIZER_STEP) || m->grad_ready || m->train_step ||
           m->begin_step;
}

mb_status mb_stack_check(mb_ctx *ctx, const mb_method *const *ms, int n) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ms[i] == ms[j] || !strcmp(ms[i]->name, ms[j]->name))
                return mb_error(ctx, MB_EINVAL, "method '%s' appears twice in one stack",
                                ms[i]->name);
    for (int s = 0; s < MB_NSLOTS; s++) {
        if (mb_slot_kinds[s] != MB_SLOT_REPLACE) continue;
        int owner = -1;
        for (int i = 0; i < n; i++) {
            if (!mb_method_has_slot(ms[i], s)) continue;
            if (owner >= 0)
                return mb_error(ctx, MB_EINVAL,
                                "methods '%s' and '%s' both fill the %s slot, which takes one "
                                "owner",
                                ms[owner]->name, ms[i]->name, mb_slot_names[s]);
            owner = i;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!(ms[i]->flags & MB_METHOD_ADDS_PARAMS)) continue;
        /* the model's backward reports its own parameters' gradients, not an adapter's */
        for (int j = 0; j < n; j++)
            if (ms[j]->grad_ready)
                return mb_error(ctx, MB_EINVAL,
                                "'%s' adds parameters whose gradients the model's backward does "
                                "not report to grad_ready, so it does not stack with '%s'",
                                ms[i]->name, ms[j]->name);
        for (int j = 0; j < i; j++)
            if (per_param(ms[j]))
                return mb_error(ctx, MB_EINVAL,
                                "'%s' adds parameters to the model, so it must come before '%s' "
                                "in the stack (write [%s, %s])",
                                ms[i]->name, ms[j]->name, ms[i]->name, ms[j]->name);
    }
    return MB_OK;
}

mb_status mb_stack_check_model(mb_ctx *ctx, const mb_method *const *ms,
                               const mb_pvalue *const *vals, int n, const mb_model_config *cfg) {
    for (int i = 0; i < n; i++) {
        if (!ms[i]->check) continue;
        mb_status s = ms[i]->check(ctx, vals[i], cfg, ms, n);
        if (s != MB_OK) return mb_error_prefix(ctx, s, "%s", ms[i]->name);
    }
    return MB_OK;
}

void mb_method_defaults(const mb_method *m, mb_pvalue *vals) {
    for (int i = 0; i < m->nparams; i++) vals[i].num = m->params[i].def;
}

int mb_predict_claim(mb_predict *pr, int layer, mb_act_mode m) {
    if (!pr->walk.mode || !pr->claimed || layer < 0 || layer >= pr->model->cfg.layers) return 0;
    if (pr->claimed[layer]) return 0;
    pr->claimed[layer] = 1;
    pr->walk.mode[layer] = (uint8_t)m;
    return 1;
}
