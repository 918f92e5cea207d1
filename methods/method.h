/* methods/method.h — THE plugin interface: one const mb_method per paper's technique.
 * abi_version comes first and fields are only ever appended (sqlite iVersion, ggml api_version).
 * A NULL slot means the engine's default; a stack gives each slot at most one owner. */
#ifndef MB_METHOD_H
#define MB_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"
#include "../engine/models/gpt.h"

#define MB_METHOD_ABI_VERSION 4u

/* ---- declared hyperparameters ---- */
typedef enum mb_ptype { MB_PT_INT, MB_PT_FLOAT, MB_PT_BOOL, MB_PT_ENUM } mb_ptype;

typedef struct mb_param_decl {
    const char *name;
    mb_ptype type;
    double def;          /* default (INT, FLOAT, BOOL 0/1; ENUM: index into choices) */
    double min, max;     /* inclusive range for INT and FLOAT */
    const char *choices; /* ENUM only: "a|b|c" */
    const char *help;    /* one line; says where the paper and the official code differ */
} mb_param_decl;

/* A resolved value: num for INT/FLOAT/BOOL and the ENUM index. */
typedef struct mb_pvalue {
    double num;
} mb_pvalue;

/* ---- what slots receive ---- */
struct mb_train;

/* The step plan a method may edit in begin_step. */
typedef struct mb_step_plan {
    uint8_t *trainable;  /* [model.nparams]: 0 = frozen this step (no gradient, no update) */
    int lowest_layer;    /* backward stops below this block (0 = reaches the embeddings) */
    int grads_on_demand; /* 1: no gradient buffers before backward; each trainable parameter's is
                          * allocated just before its first write (a grad_ready that frees it keeps
                          * the gradient peak to the tensors in flight) */
} mb_step_plan;

/* mb_act_mode, mb_linear_call, mb_attn_call and mb_loss_call are the model's extension points,
 * defined in engine/models/gpt.h. */

/* The running analytic memory prediction of a cell. The engine fills it with its own formulas
 * (weights, grads of every parameter, tokens), then each method of the stack, in stack order,
 * adjusts it in predict_bytes: an optimizer adds its state, an adapter changes which parameters
 * are trainable and adds its weights, checkpointing marks recomputed blocks in the activation walk,
 * a loss replacement declares its bytes there; last the engine adds the walk's peak (gpt.h). */
typedef struct mb_predict {
    const mb_gpt *model; /* descriptors (shapes) */
    int B, T;
    size_t elem;                /* bytes per element of the backend (weights, grads, activations) */
    size_t state_elem;          /* bytes per element of optimizer state (the backend's sdtype) */
    size_t trainable_numel;     /* parameters that get gradients; later methods read it */
    int64_t bytes[MB_MEM_NCAT]; /* peak bytes per category */
    int logits_ld;              /* row stride of the logits on this backend (mb_gpt_logits_ld) */
    /* [model->nparams]: 1 where the stack trains the parameter (all at first; an adapter method
     * clears the base's and sets its own). An optimizer counts state for these only. */
    uint8_t *trainable;
    /* The activation walk (mb_gpt_act_walk) the engine runs after every method's predict_bytes,
     * adding its peak to bytes[ACTIVATIONS] (which starts at 0: a method adds there only what it
     * holds through the whole step). walk.mode points at [layers] MB_ACT_KEEP: checkpointing
     * marks its blocks RECOMPUTE, an activation codec (Mesa) CUSTOM with its custom_* bytes; a
     * loss replacement sets own_loss and its bytes. */
    mb_act_walk walk;
} mb_predict;

typedef struct mb_method {
    uint32_t abi_version; /* MB_METHOD_ABI_VERSION at build time */
    const char *name;     /* lower-case, the YAML name */
    const char *paper;    /* full citation */
    const char *summary;  /* one line */
    const mb_param_decl *params;
    int nparams;
    size_t priv_size; /* the harness allocates and zeroes this much state */

    mb_status (*init)(void *priv, struct mb_train *tr, const mb_pvalue *vals);
    void (*fini)(void *priv, struct mb_train *tr); /* safe after a failed init */

    /* ---- training slots, in the order the engine reaches them in a step ---- */
    mb_status (*begin_step)(void *priv, struct mb_train *tr, mb_step_plan *plan);
    mb_status (*linear_forward)(void *priv, struct mb_train *tr, const mb_linear_call *c);
    mb_status (*linear_backward)(void *priv, struct mb_train *tr, const mb_linear_call *c);
    mb_act_mode (*act_policy)(void *priv, struct mb_train *tr, int layer);
    /* CUSTOM mode: act_save may replace *act's storage (free it, keep its own form); act_load must
     * put a full tensor of act->bytes back in *act before the block's backward. */
    mb_status (*act_save)(void *priv, struct mb_train *tr, int layer, int index, mb_buf *act);
    mb_status (*act_load)(void *priv, struct mb_train *tr, int layer, int index, mb_buf *act);
    mb_status (*attention)(void *priv, struct mb_train *tr, const mb_attn_call *c);
    mb_status (*loss)(void *priv, struct mb_train *tr, const mb_loss_call *c);
    /* Called once each parameter's gradient is complete in backward; it may update the parameter
     * and free p->g (then optimizer_step is not called for it this step). */
    mb_status (*grad_ready)(void *priv, struct mb_train *tr, mb_param *p);
    /* Called per trainable parameter that still holds a gradient, after backward. */
    mb_status (*optimizer_step)(void *priv, struct mb_train *tr, mb_param *p);
    /* Replaces the whole step (forward, backward, update); *loss gets the step's training loss. */
    mb_status (*train_step)(void *priv, struct mb_train *tr, double *loss);

    /* Adjusts the running prediction for what this method holds (see mb_predict). */
    void (*predict_bytes)(const mb_pvalue *vals, mb_predict *pred);

    /* ---- appended in ABI 3 ---- */
    /* Called for every method that has it, in stack order, once after the last training step and
     * before the final evaluation (mb_train_finish): LoRA merges its adapters into the weights. */
    mb_status (*finish)(void *priv, struct mb_train *tr);

    /* ---- appended in ABI 4 ---- */
    /* Optional beside optimizer_step: called once after backward with every trainable parameter
     * that still holds a gradient, in parameter order, instead of optimizer_step for each, so an
     * optimizer may update them all in one launch (adamw). */
    mb_status (*optimizer_step_many)(void *priv, struct mb_train *tr, mb_param *const *ps, int n);
} mb_method;

/* The entry point an out-of-tree plugin exports: returns its method table. */
typedef const mb_method *(*mb_plugin_entry_fn)(void);
#define MB_PLUGIN_ENTRY "membench_method"

#endif
