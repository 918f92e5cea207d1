/* methods/checkpointing/checkpointing.c — activation checkpointing: a block's inside activations
 * are freed after forward and the block is run forward again in backward, for every block or every
 * k-th one. Only the block's input (the residual stream) is kept, as torch.utils.checkpoint per
 * block does. */
#include "../../engine/train.h"

enum { P_EVERY, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "every",
     .type = MB_PT_INT,
     .def = 1,
     .min = 1,
     .max = 1000,
     .choices = NULL,
     .help = "recompute blocks 0, k, 2k, ... (k = every); 1 recomputes every block, as the PyTorch "
             "peer "
             "script does with torch.utils.checkpoint around each block"},
};

typedef struct ckpt_state {
    int every;
} ckpt_state;

static mb_status ckpt_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    (void)tr;
    ((ckpt_state *)priv)->every = (int)v[P_EVERY].num;
    return MB_OK;
}

static int recomputed(int every, int layer) {
    return layer % every == 0;
}

static mb_act_mode ckpt_policy(void *priv, mb_train *tr, int layer) {
    (void)tr;
    return recomputed(((ckpt_state *)priv)->every, layer) ? MB_ACT_RECOMPUTE : MB_ACT_KEEP;
}

/* The engine's activation walk with these blocks recomputed (mb_model_act_walk), each that no
 * method before it in the stack claimed; nothing else changes. */
static void ckpt_predict(const mb_pvalue *v, mb_predict *pr) {
    int L = pr->model->cfg.layers, every = (int)v[P_EVERY].num;
    for (int l = 0; l < L; l++)
        if (recomputed(every, l)) mb_predict_claim(pr, l, MB_ACT_RECOMPUTE);
}

const mb_method mb_method_checkpointing = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "checkpointing",
    .paper = "Tianqi Chen, Bing Xu, Chiyuan Zhang and Carlos Guestrin. Training Deep Nets with "
             "Sublinear Memory Cost. arXiv:1604.06174, 2016",
    .summary =
        "recompute each (or every k-th) transformer block in backward instead of storing its "
        "inside activations",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(ckpt_state),
    .init = ckpt_init,
    .act_policy = ckpt_policy,
    .predict_bytes = ckpt_predict,
};
