/* engine/models/gpt.h — the GPT-2 family: presets, parameter descriptors, forward and backward.
 * Forward/backward are explicit (llm.c style) and run on any backend; fp64 on the CPU is the
 * reference. */
#ifndef MB_GPT_H
#define MB_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "../ctx.h"

typedef struct mb_gpt_config {
    int layers;  /* transformer blocks L */
    int d_model; /* channels C */
    int heads;   /* attention heads NH (C % NH == 0) */
    int seq_len; /* block size: longest sequence, rows of the position embedding */
    int vocab;   /* vocabulary V (rows of the tied token embedding / LM head) */
    int classes; /* 0: a language model; K >= 2: a classifier whose head "score" [K, C] reads the
                  * final LayerNorm's output (Hugging Face GPT2ForSequenceClassification: no bias)
                  * and whose targets are class indices (-1 = no label at that position) */
} mb_gpt_config;

/* Presets: gpt-nano (tests: L2 C64 NH4 T32 V256), gpt2-124m, gpt2-350m, gpt2-774m, gpt2-1.5b
 * (T1024 V50257, the Hugging Face shapes). Unknown name: MB_ENOTFOUND naming the valid ones. */
mb_status mb_gpt_preset(mb_ctx *ctx, const char *name, mb_gpt_config *out);
/* The preset names in order, NULL-terminated. */
extern const char *const mb_gpt_preset_names[];
mb_status mb_gpt_config_check(mb_ctx *ctx, const mb_gpt_config *cfg);
/* Parameters with the head tied to the token embedding:
 * V*C + T*C + L*(12*C*C + 13*C) + 2*C   (124,439,808 for gpt2-124m), + K*C for a classifier. */
size_t mb_gpt_num_params(const mb_gpt_config *cfg);

typedef enum mb_role {
    MB_ROLE_WTE,         /* token embedding [V, C], also the LM head */
    MB_ROLE_WPE,         /* position embedding [T, C] */
    MB_ROLE_LN1_W,       /* [C] */
    MB_ROLE_LN1_B,       /* [C] */
    MB_ROLE_QKV_W,       /* [3C, C]: rows q | k | v, each split into NH heads */
    MB_ROLE_QKV_B,       /* [3C] */
    MB_ROLE_ATTN_PROJ_W, /* [C, C], residual projection */
    MB_ROLE_ATTN_PROJ_B, /* [C] */
    MB_ROLE_LN2_W,
    MB_ROLE_LN2_B,
    MB_ROLE_FC_W,      /* [4C, C] MLP up */
    MB_ROLE_FC_B,      /* [4C] */
    MB_ROLE_FC_PROJ_W, /* [C, 4C] MLP down, residual projection */
    MB_ROLE_FC_PROJ_B, /* [C] */
    MB_ROLE_LNF_W,
    MB_ROLE_LNF_B,
    MB_ROLE_SCORE,   /* classifier head [K, C] (classes > 0 only), the architecture's last */
    MB_ROLE_ADAPTER, /* a tensor a method added (mb_gpt_add_param): the model never reads it */
    MB_ROLE_N
} mb_role;

const char *mb_role_name(mb_role r); /* "wte", "qkv_w", ... */
/* Biases: the LayerNorm shifts and the linear layers' biases (initialised to 0). */
int mb_role_is_bias(mb_role r);
/* LayerNorm scales (initialised to 1). */
int mb_role_is_ln_weight(mb_role r);

#define MB_GPT_PER_LAYER 12 /* parameter tensors per block: roles LN1_W .. FC_PROJ_B */

/* A parameter descriptor. Linear weights are [out, in] (y = x W^T + b), the PyTorch nn.Linear
 * layout; the Hugging Face checkpoint stores them transposed (Conv1D), which load/save undo. */
typedef struct mb_param {
    int id;    /* index in mb_gpt.params */
    int layer; /* block index, -1 for embeddings and the final LayerNorm */
    mb_role role;
    char name[48];   /* Hugging Face name: "wte.weight", "h.3.attn.c_attn.weight" */
    int ndim;        /* 1 or 2 */
    size_t shape[2]; /* [rows, cols]; 1-D tensors use shape[0] */
    size_t numel;
    int is_linear; /* a matrix used as a linear layer weight (qkv, attn proj, fc, fc proj) */
    int heads;     /* heads its rows (qkv, qkv bias) or columns (attn proj) split into, else 0 */
    int nsplits;   /* fused QKV: 3 row blocks of `splits[i]` rows (q, k, v); else 0 */
    size_t splits[3];
    const char *tied_with; /* "lm_head" for wte (the head reuses it), else NULL */
    mb_buf w;              /* WEIGHTS */
    mb_buf g;              /* GRADS; unallocated until mb_gpt_alloc_grads */
} mb_param;

/* ---- extension points: what methods may replace (methods/method.h exposes them as slots) ---- */
typedef enum mb_act_mode {
    MB_ACT_KEEP,      /* keep the block's activations for backward (default) */
    MB_ACT_RECOMPUTE, /* free them after forward, recompute the block in backward */
    MB_ACT_CUSTOM, /* hand each saved tensor to act_save after forward, act_load before backward */
} mb_act_mode;

/* One linear layer y[N,OC] = x[N,C] . W[OC,C]^T + b. Forward fills out; backward fills dinp
 * (overwrite; NULL when not needed) and accumulates w->g and b->g when they are allocated. */
typedef struct mb_linear_call {
    int layer;
    mb_param *w, *b;
    void *out;
    const void *inp;
    void *dinp;
    const void *dout;
    int N, C, OC;
} mb_linear_call;

/* Causal self-attention of one block. Forward: out[B,T,C] from qkv[B,T,3C]; backward: dqkv from
 * dout. `att` is the engine's [B,NH,T,T] probability buffer, NULL when a replacement owns attention
 * (it keeps what it needs between the two calls itself, allocated through mb_alloc). */
typedef struct mb_attn_call {
    int backward, layer, B, T, C, NH;
    const void *qkv;
    void *out;
    const void *dout;
    void *dqkv;
    void *att;
} mb_attn_call;

/* Head and loss: forward turns lnf[N,C] into per-position losses[N] (targets < 0 ignored); backward
 * writes dlnf[N,C] and accumulates the head weight's gradient (head->g). `logits` is the engine's
 * [N,ld] buffer, NULL when a replacement owns the loss. scale = 1/(positions counted). The default
 * forward leaves dlogits (not probabilities) in `logits`, which its backward expects. */
typedef struct mb_loss_call {
    int backward, N, C, V; /* V: the head's rows (mb_gpt_head_rows) */
    int ld; /* row stride of logits (mb_gpt_logits_ld: V rounded up to the backend's alignment) */
    const void *lnf;
    mb_param *head;         /* wte (the tied LM head), or score for a classifier */
    const int32_t *targets; /* device */
    void *losses;
    void *dlnf;
    void *logits;
    double scale;
} mb_loss_call;

/* Hooks the training engine installs on a model; a NULL member means the default. */
typedef struct mb_gpt_hooks {
    void *user;
    mb_status (*linear_forward)(void *user, const mb_linear_call *c);
    mb_status (*linear_backward)(void *user, const mb_linear_call *c);
    mb_act_mode (*act_policy)(void *user, int layer);
    mb_status (*act_save)(void *user, int layer, int index, mb_buf *act);
    mb_status (*act_load)(void *user, int layer, int index, mb_buf *act);
    mb_status (*attention)(void *user, const mb_attn_call *c);
    mb_status (*loss)(void *user, const mb_loss_call *c);
    mb_status (*grad_ready)(void *user, mb_param *p);
    int lowest_layer; /* backward stops below this block; 0 reaches the embeddings */
} mb_gpt_hooks;

/* The defaults, for methods that wrap them. */
mb_status mb_gpt_linear_default(mb_ctx *ctx, const mb_linear_call *c, int backward);
mb_status mb_gpt_attention_default(mb_ctx *ctx, const mb_attn_call *c, void *scratch);
mb_status mb_gpt_loss_default(mb_ctx *ctx, const mb_loss_call *c);

/* Saved tensors of one block, in this order; the first MB_GPT_BLOCK_INSIDE are "inside" the block
 * (what recompute frees and act_save sees); res3, the block's output, is always kept. GELU's output
 * is not saved: every block writes it into the one shared mb_gpt_acts.gelu, and backward recomputes
 * it from fch (as llm.c does with recompute 1). */
#define MB_GPT_BLOCK_INSIDE 11
typedef struct mb_gpt_layer_acts {
    mb_buf ln1, ln1_mean, ln1_rstd, qkv, att, atty, res2, ln2, ln2_mean, ln2_rstd, fch, res3;
} mb_gpt_layer_acts;

/* Saved activations of one forward: kept until backward (or mb_gpt_free_acts). */
typedef struct mb_gpt_acts {
    int B, T, has_targets;
    int lean;                 /* made by a lean forward: nothing kept for backward */
    int counted;              /* positions with a target: the loss is their mean */
    mb_buf tokens, targets;   /* int32 [B,T], category OTHER */
    mb_buf encoded;           /* [B,T,C] */
    mb_buf gelu;              /* [B,T,4C]: GELU(fch) of the block being computed, shared by all */
    mb_gpt_layer_acts *layer; /* host array of L */
    mb_buf lnf, lnf_mean, lnf_rstd, logits, losses;
} mb_gpt_acts;

typedef struct mb_gpt {
    mb_gpt_config cfg;
    int nparams;       /* descriptors: the architecture's, then any a method added */
    int nbase;         /* the architecture's (what init, save and load cover) */
    mb_param *params;  /* host array of descriptors */
    size_t num_params; /* elements over the architecture's tensors (mb_gpt_num_params) */
    int grads_allocated;
    /* Gradients on demand (mb_gpt_grads_on_demand): no buffer exists before backward; each
     * trainable parameter's is allocated (zeroed) just before the first kernel that writes it, so a
     * method that frees it in grad_ready keeps only the gradients in flight. */
    const uint8_t *grad_mask; /* trainable[nparams] while on demand, else NULL */
    mb_gpt_acts acts;
    int have_acts;
    /* A lean forward (evaluation, MeZO): no backward follows, so each block's inside and the
     * residual before it are freed as soon as the next block has read them; the peak is an
     * inference's. mb_gpt_forward_lean sets it for one call; backward refuses what it leaves. */
    int lean;
    const mb_gpt_hooks *hooks; /* NULL: plain forward/backward */
} mb_gpt;

/* Saved activation bytes of a training forward (category ACTIVATIONS) with default slots and every
 * block kept; elements of E = es bytes (the backend's dtype) and statistics of S = ss bytes
 * (sdtype), logits rows ld elements apart (mb_gpt_logits_ld): E * [ encoded B*T*C
 *       + L * (12*B*T*C + NH*B*T*T)
 *           ln1 C, qkv 3C, atty C, res2 C, ln2 C, fch 4C, res3 C   -> 12 C per token
 *           attention probabilities NH*T per token
 *       + gelu 4*B*T*C (one buffer for all blocks; backward recomputes it)
 *       + lnf B*T*C + logits (dlogits in place after the loss) B*T*ld ]
 *   (a classifier's logits have K columns: ld = mb_gpt_logits_ld(be, K))
 * + S * [ L * 4*B*T (mean and rstd of two LayerNorms) + 2*B*T (final LayerNorm) + B*T (losses) ]
 * Tokens and targets are 2*B*T*4 bytes under OTHER. */
size_t mb_gpt_act_bytes(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld);
/* Rows of the output head: the vocabulary, or the classes of a classifier. */
int mb_gpt_head_rows(const mb_gpt_config *cfg);
/* Row stride of the logits on backend `be`: V rounded up to be->logits_align (64 on CUDA, where
 * tensor cores need 16-byte-aligned rows: 50257 -> 50304; V itself on the CPU). */
int mb_gpt_logits_ld(const mb_backend *be, int V);
/* Scratch that backward allocates (ACTIVATIONS) and frees at its end: dres B*T*C, dtmp B*T*C,
 * dqkv 3*B*T*C, dfch 4*B*T*C, attention row scratch B*NH*T = 9*B*T*C + B*NH*T elements. dlogits
 * reuse the logits buffer, which is freed after the loss, before dqkv, dfch and the row scratch
 * are taken. */
size_t mb_gpt_bwd_scratch_elems(const mb_gpt_config *cfg, int B, int T);
/* Peak ACTIVATIONS bytes of a training step (forward then backward, default slots, every block
 * kept). Backward takes dres and dtmp (2*B*T*C) for the loss and the head's backward, frees the
 * logits, then takes the rest of its scratch:
 *   max(act + E*2*B*T*C,  act - E*B*T*ld + E*mb_gpt_bwd_scratch_elems)
 * with act = mb_gpt_act_bytes. GPT-2 (ld 50304) sits in the first; small vocabularies in the
 * second. */
size_t mb_gpt_train_act_peak(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld);
/* Bytes of one block's inside activations (what MB_ACT_RECOMPUTE frees after forward):
 * E * (11*B*T*C + NH*B*T*T) + S * 4*B*T (every saved tensor of the block but res3). */
size_t mb_gpt_block_inside_bytes(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss);
/* What the walk needs besides the shapes when methods change the step: the blocks recomputed (a
 * recomputed block frees its inside after forward and re-allocates it while its backward runs), a
 * loss that a method replaces (then no [N, ld] logits exist; it declares its own bytes), lean
 * forwards, the lowest block backward reaches. All zero: mb_gpt_train_act_peak. */
typedef struct mb_act_walk {
    uint8_t *mode;    /* [layers]: each block's mb_act_mode in this step; NULL: every block kept */
    int own_loss;     /* the loss slot is replaced */
    size_t loss_keep; /* bytes it holds from its forward until its backward ends */
    size_t loss_fwd;  /* bytes it holds only while its forward runs */
    size_t loss_bwd;  /* bytes it holds only while its backward runs */
    int lean;         /* the step runs lean forwards only (MeZO): no backward */
    int lowest;       /* backward stops below this block (LISA); blocks under it that are
                       * recomputed or custom are never restored */
    /* A CUSTOM block (act_save / act_load): after its forward's saves it holds custom_keep bytes
     * instead of its inside; its saves hold at most custom_fwd bytes above the full inside, and
     * its restore in backward at most custom_bwd above it. */
    size_t custom_keep, custom_fwd, custom_bwd;
    /* The attention slot is replaced (flash): no [B, NH, T, T] probabilities and no backward row
     * scratch; each block holds attn_keep bytes from its attention's forward until its backward
     * ends, and attn_bwd more while that backward runs. */
    int own_attn;
    size_t attn_keep, attn_bwd;
} mb_act_walk;
/* Peak ACTIVATIONS bytes of a training step under w, walking its allocations in order: the
 * forward's blocks (a custom block's saves after it runs); the loss's forward (own: after lnf and
 * the losses, + keep + fwd; default: the logits); the loss's backward after dres and dtmp (own:
 * + keep + bwd, keep freed at its end); the rest of the backward scratch with the logits gone; the
 * blocks' backward (a recomputed or custom block's inside restored first). Lean: encoded and
 * the GELU buffer, each block's output and inside while it runs beside the previous output, then
 * lnf, its statistics, the logits (or the loss's own bytes) and the losses. */
size_t mb_gpt_act_walk(const mb_gpt_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                       const mb_act_walk *w);

/* Builds descriptors and allocates the weights (category WEIGHTS), not initialised.
 * On failure everything taken is freed and *m is zeroed. */
mb_status mb_gpt_create(mb_ctx *ctx, const mb_gpt_config *cfg, mb_gpt *m);
/* GPT-2 initialisation: weights N(0, 0.02), residual projections (attn c_proj, mlp c_proj)
 * N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weights 1. Tensor i draws from Philox stream
 * MB_RNG_STREAM_INIT + i, so fp32 and fp64 models of one seed hold the same values up to rounding.
 */
mb_status mb_gpt_init_weights(mb_ctx *ctx, mb_gpt *m, uint64_t seed);
/* Allocates and zeroes gradients (GRADS) of the parameters with trainable[i] != 0 (all when NULL)
 * and frees those of the others. */
mb_status mb_gpt_alloc_grads(mb_ctx *ctx, mb_gpt *m, const uint8_t *trainable);
void mb_gpt_zero_grads(mb_ctx *ctx, mb_gpt *m);
/* Frees every gradient and makes the next backward allocate those of parameters with
 * trainable[i] != 0 on demand (the mask must outlive that backward). */
void mb_gpt_grads_on_demand(mb_ctx *ctx, mb_gpt *m, const uint8_t *trainable);
void mb_gpt_free_grads(mb_ctx *ctx, mb_gpt *m);
void mb_gpt_free_acts(mb_ctx *ctx, mb_gpt *m);
void mb_gpt_destroy(mb_ctx *ctx, mb_gpt *m); /* safe on a zeroed or half-built model */
/* Appends a parameter a method adds (LoRA's adapters): role MB_ROLE_ADAPTER, block `layer`, shape
 * rows x cols (cols 0: a vector), weights allocated (WEIGHTS, tagged with the name, not
 * initialised). *id gets its index. m->params may move: keep ids, not pointers. */
mb_status mb_gpt_add_param(mb_ctx *ctx, mb_gpt *m, int layer, const char *name, size_t rows,
                           size_t cols, int *id);
/* Frees the added parameters with ids >= n (n >= nbase) and forgets them. */
void mb_gpt_drop_params(mb_ctx *ctx, mb_gpt *m, int n);

/* Forward over tokens[B*T] (host int32). With targets (host, -1 = ignore; class indices for a
 * classifier) the mean loss over the counted positions goes to *loss and activations are kept for
 * backward; without, logits are left in acts.logits. Replaces any activations of an earlier
 * forward. */
mb_status mb_gpt_forward(mb_ctx *ctx, mb_gpt *m, const int32_t *tokens, const int32_t *targets,
                         int B, int T, double *loss);
/* mb_gpt_forward with m->lean set for the call (evaluation, MeZO): the peak is an inference's and
 * nothing is kept for a backward. */
mb_status mb_gpt_forward_lean(mb_ctx *ctx, mb_gpt *m, const int32_t *tokens, const int32_t *targets,
                              int B, int T, double *loss);
/* After a forward without targets, at every position with labels[i] >= 0 (host, B*T): adds the
 * cross-entropy -log softmax(logits)[label] (computed on the host in fp64 from the head's logits)
 * to *nll, 1 to *correct when the highest logit (the first, on a tie) is the label, and 1 to
 * *counted. The evaluation of a classifier: loss and accuracy from one forward. */
mb_status mb_gpt_score_labels(mb_ctx *ctx, const mb_gpt *m, const int32_t *labels, double *nll,
                              long *correct, long *counted);
/* Accumulates d(mean loss)/d(param) into every allocated gradient, then frees the activations. */
mb_status mb_gpt_backward(mb_ctx *ctx, mb_gpt *m);

/* Host fp64 views of a parameter or its gradient (tests, checkpoints, reference checks). */
mb_status mb_gpt_param_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out);
/* The same for a buffer of the backend's statistics/state type (sdtype): losses, optimizer state.
 */
mb_status mb_gpt_state_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out);
mb_status mb_gpt_param_set(mb_ctx *ctx, mb_buf *b, size_t numel, const double *in);
/* Parameter i's gradient as host fp64 (MB_EINVAL when it has no gradient buffer). */
mb_status mb_gpt_grad_get(mb_ctx *ctx, const mb_gpt *m, int i, double *out);

/* Safetensors with Hugging Face GPT-2 names (Conv1D weights stored [in, out]). Load accepts an
 * optional "transformer." prefix, F32/F64/F16/BF16 data, and ignores the attention-mask buffers
 * ("h.N.attn.bias", "h.N.attn.masked_bias") and a tied "lm_head.weight". A classifier's
 * "score.weight" is [K, C] as stored; loading a language model's checkpoint (which has none) into a
 * classifier leaves the head as initialised, the fine-tuning start. */
mb_status mb_gpt_save(mb_ctx *ctx, const mb_gpt *m, const char *path);
mb_status mb_gpt_load(mb_ctx *ctx, mb_gpt *m, const char *path);

#endif
