/* engine/method.h — THE plugin interface: one const mb_method per paper's technique, the slots
 * the engine calls it through (each slot replaces the default or chains, see mb_slot_kind), and
 * what a stack may combine. Plugins include this (through methods/method.h) and model.h only. */
#ifndef MB_METHOD_H
#define MB_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "models/model.h"

/* Changes whenever a header a plugin includes changes (tests/test_abi.c hashes them); a plugin
 * built for another version is refused with the version it has and the one expected. */
#define MB_METHOD_ABI_VERSION 8u

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

/* mb_act_mode, mb_linear_call, mb_attn_call, mb_loss_call and mb_saved are the model's extension
 * points, defined in engine/models/model.h. */

/* The running analytic memory prediction of a cell. The engine fills it with its own formulas
 * (weights, grads of every parameter, tokens), then each method of the stack, in stack order,
 * adjusts it in predict_bytes: an optimizer adds its state, an adapter changes which parameters
 * are trainable and adds its weights, an activation policy claims blocks in the walk (a block
 * another method claimed stays its), a method owning a site declares its bytes there
 * (mb_walk_own); last the engine adds the walk's peak (model.h). */
typedef struct mb_predict {
    const mb_model *model; /* descriptors (shapes) */
    int B, T;
    size_t elem;                /* bytes per element of the backend (weights, grads, activations) */
    size_t state_elem;          /* bytes per element of optimizer state (the backend's sdtype) */
    size_t trainable_numel;     /* parameters that get gradients; later methods read it */
    int64_t bytes[MB_MEM_NCAT]; /* peak bytes per category */
    int logits_ld;              /* row stride of the logits on this backend (mb_model_logits_ld) */
    /* [model->nparams]: 1 where the stack trains the parameter (all at first; an adapter method
     * clears the base's and sets its own). An optimizer counts state for these only. */
    uint8_t *trainable;
    /* The activation walk (mb_model_act_walk) the engine runs after every method's predict_bytes,
     * adding its peak to bytes[ACTIVATIONS] (which starts at 0: a method adds there only what it
     * holds through the whole step). walk.mode points at [layers] MB_ACT_KEEP: an activation
     * policy claims blocks with mb_predict_claim; a site's owner declares its bytes with
     * mb_walk_own; a forward-only step sets walk.lean. */
    mb_act_walk walk;
    /* [layers]: 1 where a method earlier in the stack claimed the block (mb_predict_claim) */
    uint8_t *claimed;
} mb_predict;

/* Claims block `layer` for mode m in the prediction unless an earlier method claimed it; returns 1
 * when the claim holds. */
int mb_predict_claim(mb_predict *pr, int layer, mb_act_mode m);

/* Declared properties of a method that the stack check reads at load time. */
enum {
    /* The method adds parameters to the model in init (an adapter): it must come before any
     * method that keeps per-parameter state (an optimizer, grad_ready, train_step). */
    MB_METHOD_ADDS_PARAMS = 1u << 0,
};

/* Every slot is one of two kinds (mb_slot_kinds in engine/method.c):
 * - REPLACE: one owner replaces the engine's default; two owners in a stack are an error found
 *   when the suite loads, naming both (linear_*, act_save/act_load, attention, loss, grad_ready,
 *   optimizer_step with optimizer_step_many, train_step).
 * - CHAIN: every owner is called in stack order (begin_step: each edits the plan; act_policy:
 *   each block goes to the first method that claims it, that is answers other than MB_ACT_KEEP;
 *   finish). */
typedef struct mb_method {
    uint32_t abi_version; /* MB_METHOD_ABI_VERSION at build time */
    const char *name;     /* lower-case, the YAML name */
    const char *paper;    /* full citation */
    const char *summary;  /* one line */
    const mb_param_decl *params;
    int nparams;
    size_t priv_size; /* the harness allocates and zeroes this much state */
    unsigned flags;   /* MB_METHOD_* */

    mb_status (*init)(void *priv, struct mb_train *tr, const mb_pvalue *vals);
    void (*fini)(void *priv, struct mb_train *tr); /* safe after a failed init */
    /* Optional: refuses what the method cannot run, decided from its values, the model's shape
     * (`cfg`, defaults filled by mb_model_config_check; the family is cfg->arch) and the other
     * methods of its stack (stack[0..n), itself included), before anything is allocated. The
     * suite loader calls it for every model and method stack: refused on every model of the
     * suite, an error at load with file:line:col (`run --dry-run` included); on some, those cells
     * are `invalid` with the reason (mb_train_init calls it again before init and returns
     * MB_EUNSUPPORTED). MB_EINVAL or MB_EUNSUPPORTED with the reason in ctx->err. */
    mb_status (*check)(mb_ctx *ctx, const mb_pvalue *vals, const mb_model_config *cfg,
                       const struct mb_method *const *stack, int n);

    /* ---- training slots, in the order the engine reaches them in a step ---- */
    mb_status (*begin_step)(void *priv, struct mb_train *tr, mb_step_plan *plan); /* CHAIN */
    mb_status (*linear_forward)(void *priv, struct mb_train *tr, const mb_linear_call *c);
    mb_status (*linear_backward)(void *priv, struct mb_train *tr, const mb_linear_call *c);
    mb_act_mode (*act_policy)(void *priv, struct mb_train *tr, int layer); /* CHAIN, per layer */
    /* CUSTOM blocks (claimed by this method's act_policy): act_save may replace *act's storage
     * (free it, keep its own form); act_load must put a full tensor of act->bytes back in *act
     * before the block's backward. `what` names the tensor (mb_saved). */
    mb_status (*act_save)(void *priv, struct mb_train *tr, int layer, const mb_saved *what,
                          mb_buf *act);
    mb_status (*act_load)(void *priv, struct mb_train *tr, int layer, const mb_saved *what,
                          mb_buf *act);
    mb_status (*attention)(void *priv, struct mb_train *tr, const mb_attn_call *c);
    mb_status (*loss)(void *priv, struct mb_train *tr, const mb_loss_call *c);
    /* Called once each parameter's gradient is complete in backward; it may update the parameter
     * and free p->g (then optimizer_step is not called for it this step). */
    mb_status (*grad_ready)(void *priv, struct mb_train *tr, mb_param *p);
    /* Called per trainable parameter that still holds a gradient, after backward. */
    mb_status (*optimizer_step)(void *priv, struct mb_train *tr, mb_param *p);
    /* Optional beside optimizer_step (the same slot): called once after backward with every
     * trainable parameter that still holds a gradient, in parameter order, instead of
     * optimizer_step for each, so an optimizer may update them all in one launch. */
    mb_status (*optimizer_step_many)(void *priv, struct mb_train *tr, mb_param *const *ps, int n);
    /* Replaces the whole step (forward, backward, update); *loss gets the step's training loss. */
    mb_status (*train_step)(void *priv, struct mb_train *tr, double *loss);
    /* CHAIN: called for every method that has it, in stack order, once after the last training
     * step and before the final evaluation (mb_train_finish): an adapter merges its weights. */
    mb_status (*finish)(void *priv, struct mb_train *tr);

    /* Adjusts the running prediction for what this method holds (see mb_predict). */
    void (*predict_bytes)(const mb_pvalue *vals, mb_predict *pred);
} mb_method;

/* The entry point an out-of-tree plugin exports: returns its method table. */
typedef const mb_method *(*mb_plugin_entry_fn)(void);
#define MB_PLUGIN_ENTRY "membench_method"

/* ---- slots and stacks (engine/method.c) ---- */
typedef enum mb_slot {
    MB_SLOT_BEGIN_STEP,
    MB_SLOT_LINEAR_FORWARD,
    MB_SLOT_LINEAR_BACKWARD,
    MB_SLOT_ACT_POLICY,
    MB_SLOT_ACT_SAVE,
    MB_SLOT_ACT_LOAD,
    MB_SLOT_ATTENTION,
    MB_SLOT_LOSS,
    MB_SLOT_GRAD_READY,
    MB_SLOT_OPTIMIZER_STEP,
    MB_SLOT_TRAIN_STEP,
    MB_SLOT_FINISH,
    MB_NSLOTS
} mb_slot;

typedef enum mb_slot_kind { MB_SLOT_REPLACE, MB_SLOT_CHAIN } mb_slot_kind;

extern const char *const mb_slot_names[MB_NSLOTS];
extern const mb_slot_kind mb_slot_kinds[MB_NSLOTS];
/* Whether method m fills slot s (optimizer_step_many counts as optimizer_step). */
int mb_method_has_slot(const mb_method *m, int s);
/* What a stack may combine, in stack order: a REPLACE slot has at most one owner (MB_EINVAL with
 * "methods 'a' and 'b' both fill the X slot, which takes one owner"), a method appears once, and a
 * method that adds parameters comes before every method acting per parameter (an optimizer,
 * grad_ready, train_step, begin_step) and never stacks with one filling grad_ready. */
mb_status mb_stack_check(mb_ctx *ctx, const mb_method *const *ms, int n);
/* Every method's check (where it has one) on a model of shape cfg, in stack order; the first
 * refusal's message is prefixed with the method's name ("mesa: ..."). */
mb_status mb_stack_check_model(mb_ctx *ctx, const mb_method *const *ms,
                               const mb_pvalue *const *vals, int n, const mb_model_config *cfg);
/* Fills vals[] with the declared defaults. */
void mb_method_defaults(const mb_method *m, mb_pvalue *vals);

#endif
