/* methods/lisa/lisa.c — LISA: every `interval` steps, `layers` transformer blocks are drawn
 * uniformly without replacement and only they train beside the embeddings, the final LayerNorm and
 * the head; backward stops below the lowest drawn block, whose predecessors keep no activations.
 * Read from OptimalScale/LMFlow (lisa_trainer.py, DynamicLayerActivationCallback). */
#include "../../engine/rng.h"
#include "../../engine/train.h"
#include "lisa.h"

#include <stdlib.h>

enum { P_INTERVAL, P_LAYERS, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "interval",
     .type = MB_PT_INT,
     .def = 20,
     .min = 1,
     .max = 1000000,
     .choices = NULL,
     .help =
         "steps between draws (lisa_interval_steps). Optimizer state follows LMFlow, whose "
         "optimizer "
         "is built once: a block's state is made at its first update and kept when the block "
         "leaves "
         "the active set (the optimizer's bytes grow towards a full model's as blocks are drawn)"},
    {.name = "layers",
     .type = MB_PT_INT,
     .def = 2,
     .min = 1,
     .max = 1000,
     .choices = NULL,
     .help =
         "blocks trained at a time (lisa_activated_layers). LMFlow keeps the input embeddings "
         "trainable, which needs backward through every frozen block; here backward stops below "
         "the "
         "lowest drawn block, so wpe and the input side of the tied wte only train when block 0 is "
         "drawn (the tied head's side of wte always does)"},
};

typedef struct lisa_state {
    int interval, layers, L;
    int *perm;      /* [L]: a partial Fisher-Yates shuffle; its first `layers` are active */
    uint8_t *drawn; /* [L]: 1 for the active blocks */
    int lowest;
} lisa_state;

static mb_status lisa_check(mb_ctx *ctx, const mb_pvalue *v, const mb_model_config *cfg,
                            const mb_method *const *stack, int n) {
    (void)stack;
    (void)n;
    if ((int)v[P_LAYERS].num > cfg->layers)
        return mb_error(ctx, MB_EINVAL, "layers %d is more than the model's %d blocks",
                        (int)v[P_LAYERS].num, cfg->layers);
    return MB_OK;
}

static mb_status lisa_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    lisa_state *s = priv;
    s->interval = (int)v[P_INTERVAL].num;
    s->layers = (int)v[P_LAYERS].num;
    s->L = tr->model->cfg.layers;
    s->perm = malloc((size_t)s->L * sizeof *s->perm);
    s->drawn = calloc((size_t)s->L, 1);
    if (!s->perm || !s->drawn) return mb_error(tr->ctx, MB_ENOMEM, "host allocation");
    return MB_OK;
}

static void lisa_fini(void *priv, mb_train *tr) {
    (void)tr;
    lisa_state *s = priv;
    free(s->perm);
    free(s->drawn);
}

void mb_lisa_draw(uint64_t seed, uint64_t d, int L, int k, int *perm, uint8_t *drawn) {
    for (int j = 0; j < L; j++) perm[j] = j, drawn[j] = 0;
    for (int j = 0; j < k; j++) {
        int r = j + (int)mb_rng_below(seed, mb_rng_stream("lisa.draw"),
                                      d * (uint64_t)L + (uint64_t)j, (uint64_t)(L - j));
        int t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
        drawn[perm[j]] = 1;
    }
}

static mb_status lisa_begin(void *priv, mb_train *tr, mb_step_plan *plan) {
    lisa_state *s = priv;
    mb_model *m = tr->model;
    if (tr->step % s->interval == 0) {
        mb_lisa_draw(tr->seed, (uint64_t)(tr->step / s->interval), s->L, s->layers, s->perm,
                     s->drawn);
        s->lowest = s->L;
        for (int l = 0; l < s->L; l++)
            if (s->drawn[l] && l < s->lowest) s->lowest = l;
    }
    for (int i = 0; i < m->nparams; i++) {
        const mb_param *p = &m->params[i];
        if (p->layer >= 0) {
            plan->trainable[i] &= s->drawn[p->layer];
        } else if (s->lowest > 0 &&
                   (p->role == MB_ROLE_POS_EMBED || (p->role == MB_ROLE_EMBED && !p->tied_with))) {
            /* their gradient needs backward through block 0 (a tied embedding's head side
             * still trains) */
            plan->trainable[i] = 0;
        }
    }
    plan->lowest_layer = s->lowest;
    return MB_OK;
}

/* Blocks under the lowest drawn one are never reached by backward: their insides go after
 * forward (and are not recomputed). */
static mb_act_mode lisa_policy(void *priv, mb_train *tr, int layer) {
    (void)tr;
    return layer < ((lisa_state *)priv)->lowest ? MB_ACT_RECOMPUTE : MB_ACT_KEEP;
}

/* The most a step holds, as a bound (which blocks are drawn is known only when the step runs):
 * gradients of `layers` blocks and of everything outside the blocks that the stack trains (an
 * adapter before it in the stack has narrowed that to its own tensors); activations of a step
 * whose lowest drawn block is block 0 (the engine's walk, unchanged); the optimizer's state for
 * every trainable parameter, where LMFlow's policy leads once every block has been drawn. */
static void lisa_predict(const mb_pvalue *v, mb_predict *pr) {
    const mb_model *m = pr->model;
    size_t outside = 0, block = 0, *per = calloc((size_t)m->cfg.layers, sizeof *per);
    if (!per) return;
    for (int i = 0; i < m->nparams; i++) {
        if (pr->trainable && !pr->trainable[i]) continue;
        if (m->params[i].layer < 0)
            outside += m->params[i].numel;
        else
            per[m->params[i].layer] += m->params[i].numel;
    }
    /* the largest `layers` blocks (equal in every family here, so any draw reaches it) */
    for (int k = 0; k < (int)v[P_LAYERS].num && k < m->cfg.layers; k++) {
        int best = 0;
        for (int l = 1; l < m->cfg.layers; l++)
            if (per[l] > per[best]) best = l;
        block += per[best];
        per[best] = 0;
    }
    free(per);
    /* the smaller of this and what an earlier method bounded it by (gradients freed as ready) */
    if ((int64_t)(pr->elem * (outside + block)) < pr->bytes[MB_MEM_GRADS])
        pr->bytes[MB_MEM_GRADS] = (int64_t)(pr->elem * (outside + block));
}

const mb_method mb_method_lisa = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "lisa",
    .paper = "Rui Pan, Xiang Liu, Shizhe Diao, Renjie Pi, Jipeng Zhang, Chi Han and Tong Zhang. "
             "LISA: Layerwise Importance Sampling for Memory-Efficient Large Language Model "
             "Fine-Tuning. NeurIPS 2024. arXiv:2403.17919",
    .summary = "train a few randomly drawn blocks at a time (redrawn every K steps) beside the "
               "embeddings and head; backward stops below the lowest",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(lisa_state),
    .init = lisa_init,
    .check = lisa_check,
    .fini = lisa_fini,
    .begin_step = lisa_begin,
    .act_policy = lisa_policy,
    .predict_bytes = lisa_predict,
};
