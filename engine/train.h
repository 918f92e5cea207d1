/* engine/train.h — one training step over a method stack: the engine calls each method slot at its
 * fixed point (methods/method.h) and uses its default where no method fills the slot. */
#ifndef MB_TRAIN_H
#define MB_TRAIN_H

#include "method.h"
#include "models/model.h"

#define MB_MAX_STACK 8

typedef struct mb_train {
    mb_ctx *ctx;
    mb_model *model;
    uint64_t seed;
    int step; /* 0-based index of the step being run (optimizers count step + 1) */
    /* the current batch (host) */
    const int32_t *tokens, *targets;
    int B, T;
    /* the stack, in order, with each method's state and resolved parameters */
    int n;
    const mb_method *methods[MB_MAX_STACK];
    void *priv[MB_MAX_STACK];
    const mb_pvalue *vals[MB_MAX_STACK];
    int inited[MB_MAX_STACK];
    mb_pvalue *default_vals; /* the implicit optimizer's defaults */
    int owner[MB_NSLOTS];    /* index into methods[] of a REPLACE slot's owner, -1 = default */
    int nchain[MB_NSLOTS];   /* CHAIN slots: how many methods fill it, in stack order in chain[] */
    int chain[MB_NSLOTS][MB_MAX_STACK];
    mb_step_plan plan; /* trainable[] lives here */
    mb_param **ready;  /* [model.nparams]: the parameters optimizer_step_many gets */
    mb_model_hooks hooks;
    mb_buf *master; /* mixed precision: sdtype master weights per parameter id (mb_train_master) */
    int nmaster;    /* entries of master */
    uint8_t *pred_trainable; /* mb_train_predict's trainable mask (mb_predict.trainable) */
    uint8_t *pred_mode;      /* and its blocks' activation modes (mb_predict.walk.mode) */
    uint8_t *pred_claimed;   /* and which blocks a method claimed (mb_predict.claimed) */
    /* per-step counts of slot calls, for tests and the run log */
    uint64_t calls[MB_NSLOTS];
} mb_train;

/* Sets up a stack on a created model: checks the stack (mb_stack_check) and each method's `check`
 * on the model (a refusal returns MB_EUNSUPPORTED, the cell's `invalid`; MB_ENOMEM passes through),
 * adds `default_opt` (with its defaults) when no method fills optimizer_step or train_step,
 * allocates each method's state and calls init. `default_opt` may be NULL to forbid the implicit
 * optimizer (tests). On failure everything set up is released (fini is called for every method
 * whose init ran). */
mb_status mb_train_init(mb_train *tr, mb_ctx *ctx, mb_model *model, const mb_method *const *methods,
                        const mb_pvalue *const *vals, int n, const mb_method *default_opt,
                        uint64_t seed);
void mb_train_fini(mb_train *tr);

/* Mixed precision (backend dtype != sdtype): parameter p's master copy in sdtype, category WEIGHTS,
 * tag "master", made from the weights on first use and kept until fini; optimizers update it and
 * write the rounded result into p->w. *out is NULL when the backend is not mixed. */
mb_status mb_train_master(mb_train *tr, mb_param *p, mb_buf **out);

/* An optimizer's per-parameter state: two buffers and an update count for each parameter id (what
 * an Adam's m and v, or a factored optimizer's row and column factors, are kept in). */
typedef struct mb_opt_state {
    mb_buf *a, *b;
    int *t;
    int n;
} mb_opt_state;
mb_status mb_opt_state_init(mb_train *tr, mb_opt_state *s, const char *who);
void mb_opt_state_fini(mb_train *tr, mb_opt_state *s); /* safe on a zeroed or half-made state */

/* One step on batch (tokens, targets)[B*T]: begin_step, forward, backward (grad_ready as each
 * gradient completes), optimizer_step per parameter still holding a gradient (or
 * optimizer_step_many once with all of them), or train_step alone. Sets the tracker's phase as it
 * goes. *loss gets the training loss of the step. */
mb_status mb_train_step(mb_train *tr, const int32_t *tokens, const int32_t *targets, int B, int T,
                        double *loss);

/* After the last training step, before the final evaluation: each method's finish slot in stack
 * order (an adapter merges its factors into the weights). */
mb_status mb_train_finish(mb_train *tr);

/* Mean loss of a lean forward (phase EVAL: each block's activations freed as the next one runs),
 * everything freed after. */
mb_status mb_train_eval(mb_train *tr, const int32_t *tokens, const int32_t *targets, int B, int T,
                        double *loss);

/* The analytic prediction for this stack at batch B x T: the engine's formulas for weights, grads
 * of trainable parameters, activations (gpt.h), tokens; then each method's predict_bytes in order.
 * Predicted peak = the sum over categories (every category peaks together in backward). */
/* A classifier's evaluation: a forward without targets (phase EVAL), then mb_model_score_labels
 * (cross-entropy summed into *nll, *correct and *counted incremented), activations freed after. */
mb_status mb_train_eval_labels(mb_train *tr, const int32_t *tokens, const int32_t *labels, int B,
                               int T, double *nll, long *correct, long *counted);
void mb_train_predict(const mb_train *tr, int B, int T, mb_predict *out);

#endif
