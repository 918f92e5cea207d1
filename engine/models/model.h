/* engine/models/model.h — the model interface: a family (gpt, llama) is a const table; a model is
 * parameter descriptors by role, the hooks through which methods replace its parts, and the
 * activation walk that predicts its training step's memory. Methods see only this header. */
#ifndef MB_MODEL_H
#define MB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../ctx.h"

typedef enum mb_arch { MB_ARCH_GPT, MB_ARCH_LLAMA, MB_ARCH_N } mb_arch;

/* A model's shape. Fields a family does not use are 0; mb_model_config_check fills the defaults a
 * family derives (gpt: kv_heads = heads, d_ff = 4 d_model, tied; llama: kv_heads = heads, rope
 * theta 10000, norm eps 1e-6). */
typedef struct mb_model_config {
    int layers;   /* transformer blocks L */
    int d_model;  /* channels C */
    int heads;    /* query heads NH (C % NH == 0; head size hs = C / NH) */
    int seq_len;  /* longest sequence (gpt: rows of the position embedding) */
    int vocab;    /* vocabulary V */
    int classes;  /* 0: a language model; K >= 2: a classifier whose head "score" [K, C] reads the
                   * final norm's output (no bias) and whose targets are class indices */
    mb_arch arch; /* MB_ARCH_GPT (0) unless set */
    int kv_heads; /* key/value heads KV (NH % KV == 0; KV = NH: multi-head, 1: multi-query) */
    int d_ff;     /* MLP hidden width F */
    int tie;      /* 1: the LM head is the token embedding (gpt's only form); -1: its own [V, C]
                   * tensor (llama's default); 0: the family's default */
    double rope_theta; /* rotary embedding base (llama) */
    double norm_eps;   /* RMSNorm epsilon (llama; gpt's LayerNorm uses 1e-5) */
} mb_model_config;

/* What a parameter is, whatever the family. Linear weights are [out, in] (y = x W^T + b). */
typedef enum mb_role {
    MB_ROLE_EMBED,         /* token embedding [V, C]; also the LM head when tied */
    MB_ROLE_POS_EMBED,     /* learned position embedding [T, C] */
    MB_ROLE_NORM,          /* a normalisation's scale [C] (LayerNorm or RMSNorm; 1 at init) */
    MB_ROLE_NORM_BIAS,     /* a LayerNorm's shift [C] */
    MB_ROLE_ATTN_QKV,      /* fused q | k | v rows [(NH + 2 KV) hs, C]: nsplits 3, splits[] rows */
    MB_ROLE_ATTN_QKV_BIAS, /* [(NH + 2 KV) hs] */
    MB_ROLE_ATTN_Q,        /* [NH hs, C] */
    MB_ROLE_ATTN_K,        /* [KV hs, C] */
    MB_ROLE_ATTN_V,        /* [KV hs, C] */
    MB_ROLE_ATTN_OUT,      /* [C, NH hs]: the attention's output projection (a residual branch) */
    MB_ROLE_ATTN_OUT_BIAS,
    MB_ROLE_MLP_UP, /* [F, C]: gpt's c_fc, llama's up_proj */
    MB_ROLE_MLP_UP_BIAS,
    MB_ROLE_MLP_GATE, /* [F, C]: llama's gate_proj */
    MB_ROLE_MLP_DOWN, /* [C, F]: the MLP's output projection (a residual branch) */
    MB_ROLE_MLP_DOWN_BIAS,
    MB_ROLE_HEAD,    /* an untied LM head [V, C] */
    MB_ROLE_SCORE,   /* a classifier head [K, C] */
    MB_ROLE_ADAPTER, /* a tensor a method added (mb_model_add_param): the model never reads it */
    MB_ROLE_N
} mb_role;

const char *mb_role_name(mb_role r); /* "embed", "attn_q", "mlp_down", ... */
int mb_role_is_bias(mb_role r);      /* the *_BIAS roles (0 at init) */
int mb_role_is_norm(mb_role r);      /* MB_ROLE_NORM (1 at init) */
/* The linear layers of attention and MLP: what low-rank projection and adapter methods act on. */
int mb_role_is_block_matrix(mb_role r);

/* A parameter descriptor. The Hugging Face checkpoint name is `name`. */
typedef struct mb_param {
    int id;    /* index in mb_model.params */
    int layer; /* block index, -1 for embeddings, the final norm and the heads */
    mb_role role;
    char name[64];   /* "h.3.attn.c_attn.weight", "model.layers.3.self_attn.q_proj.weight" */
    int ndim;        /* 1 or 2 */
    size_t shape[2]; /* [rows, cols]; 1-D tensors use shape[0] */
    size_t numel;
    int is_linear; /* a matrix used as a linear layer weight */
    int heads;   /* heads its rows (q, k, v, fused qkv) or columns (attn out) split into, else 0 */
    int nsplits; /* fused QKV: 3 row blocks of `splits[i]` rows (q, k, v); else 0 */
    size_t splits[3];
    const char *tied_with; /* "lm_head" for a tied embedding (the head reuses it), else NULL */
    mb_buf w;              /* WEIGHTS */
    mb_buf g;              /* GRADS; unallocated until mb_model_alloc_grads */
} mb_param;

/* ---- extension points: what methods may replace (the slots of engine/method.h) ---- */
typedef enum mb_act_mode {
    MB_ACT_KEEP,      /* keep the block's activations for backward (default; no claim) */
    MB_ACT_RECOMPUTE, /* free them after forward, recompute the block in backward */
    MB_ACT_CUSTOM, /* hand each saved tensor to act_save after forward, act_load before backward */
} mb_act_mode;

/* One linear layer y[N,OC] = x[N,C] . W[OC,C]^T + b (rows of out and dout ld >= OC apart, ld 0:
 * OC). Forward fills out; backward fills dinp (overwrite; NULL when not needed) and accumulates
 * w->g and b->g when they are allocated. b may be NULL. */
typedef struct mb_linear_call {
    int layer;
    mb_param *w, *b;
    void *out;
    const void *inp;
    void *dinp;
    const void *dout;
    int N, C, OC;
    int ld;
} mb_linear_call;

/* Causal self-attention of one block over qkv[B, T, (NH + 2 KV) hs] (q heads, then k, then v; q
 * and k already rotated where the family uses rotary embeddings). Forward: out[B, T, NH hs];
 * backward: dqkv (qkv's shape, overwritten) from dout. `att` is the engine's [B, NH, T, T]
 * probability buffer, NULL when a method owns the attention site (it keeps what it needs between
 * the two calls itself, allocated through mb_alloc). keep = 0: a lean forward (evaluation, a
 * forward-only training step),
 * no backward follows, keep nothing. */
typedef struct mb_attn_call {
    int backward, layer, B, T, C, NH, KV;
    int keep;
    const void *qkv;
    void *out;
    const void *dout;
    void *dqkv;
    void *att;
} mb_attn_call;

/* Head and loss: forward turns lnf[N,C] into per-position losses[N] (targets < 0 ignored); backward
 * writes dlnf[N,C] and accumulates the head weight's gradient (head->g). `logits` is the engine's
 * [N,ld] buffer, NULL when a method owns the loss site. scale = 1/(positions counted). The default
 * forward leaves dlogits (not probabilities) in `logits`, which its backward expects. keep as in
 * mb_attn_call. */
typedef struct mb_loss_call {
    int backward, N, C, V; /* V: the head's rows (mb_model_head_rows) */
    int ld; /* row stride of logits (mb_model_logits_ld: V rounded up to the backend's alignment) */
    int keep;
    const void *lnf;
    mb_param *head;         /* the LM head (tied embedding or its own), or a classifier's score */
    const int32_t *targets; /* device */
    void *losses;
    void *dlnf;
    void *logits;
    double scale;
} mb_loss_call;

/* What a block saves for its backward, by name: a method asks for "the attention probabilities of
 * layer l" by kind, never by position. */
typedef enum mb_saved_kind {
    MB_SAVED_NORM_OUT,   /* a norm's output [N, C] (the next linear layer's input) */
    MB_SAVED_STAT,       /* a norm's per-row statistics [N] (sdtype) */
    MB_SAVED_QKV,        /* the attention's input [N, (NH + 2 KV) hs]: three column splits */
    MB_SAVED_ATTN_PROBS, /* the causal probabilities [B, NH, T, T] (the default attention's) */
    MB_SAVED_ATTN_OUT,   /* the attention's output [N, NH hs] (the output projection's input) */
    MB_SAVED_RESIDUAL,   /* the residual stream inside the block [N, C] */
    MB_SAVED_MLP_PRE,    /* the MLP's pre-activation [N, F] (gpt's fch, llama's gate and up) */
    MB_SAVED_N
} mb_saved_kind;

/* One saved tensor of a block (mb_model_family.saved lists a block's, in the order its forward
 * makes them). Elements: rows x cols of the backend's dtype (a STAT: sdtype). */
typedef struct mb_saved {
    const char *name; /* "ln1", "qkv", "att", ... (the tag of its buffer) */
    mb_saved_kind kind;
    size_t rows, cols; /* PROBS: rows B NH T, cols T */
    int splits;        /* column blocks of equal width (QKV with KV = NH: 3), else 1 */
    int heads;         /* PROBS: heads NH (rows are head-major per batch), else 0 */
    int index;         /* its place in the block's list (a method's own per-tensor state) */
} mb_saved;

/* A gradient's lifetime in backward: first written (ready 0) and complete (ready 1), in the order
 * the family's backward reaches them (mb_model_family.grad_events). What a method that frees each
 * gradient when it is ready holds is the running sum over these. */
typedef struct mb_grad_event {
    int ready;
    int id;
} mb_grad_event;

/* Hooks the training engine installs on a model; a NULL member means the default. */
typedef struct mb_model_hooks {
    void *user;
    mb_status (*linear_forward)(void *user, const mb_linear_call *c);
    mb_status (*linear_backward)(void *user, const mb_linear_call *c);
    mb_act_mode (*act_policy)(void *user, int layer);
    mb_status (*act_save)(void *user, int layer, const mb_saved *what, mb_buf *act);
    mb_status (*act_load)(void *user, int layer, const mb_saved *what, mb_buf *act);
    mb_status (*attention)(void *user, const mb_attn_call *c);
    mb_status (*loss)(void *user, const mb_loss_call *c);
    mb_status (*grad_ready)(void *user, mb_param *p);
    int lowest_layer; /* backward stops below this block; 0 reaches the embeddings */
} mb_model_hooks;

/* ---- the activation walk: the analytic peak of a training step's ACTIVATIONS ---- */

/* What a family's step allocates, in bytes, in the order the walk replays it. Every family's
 * forward follows this shape: stem, then each block's output and inside, then the head; backward
 * takes bwd_first, frees the logits, takes bwd_rest (and the attention's row scratch), and runs
 * the blocks from the last, each freeing its inside. */
typedef struct mb_act_shape {
    size_t stem;      /* before the blocks, held to the end (gpt: encoded + the GELU buffer) */
    size_t block_out; /* a block's output, the residual stream, held to the end */
    size_t inside;    /* a block's saved inside, the attention probabilities included */
    size_t probs;     /* of which the default attention's probabilities */
    size_t head;      /* final norm output, its statistics and the per-position losses */
    size_t logits;    /* the [N, ld] logits */
    size_t bwd_first; /* backward scratch taken before the loss's backward (dres, dtmp) */
    size_t bwd_rest;  /* taken once the logits are freed (the blocks' input gradients) */
    size_t attn_rows; /* the default attention's backward row scratch */
} mb_act_shape;

/* The sites a method can own in the walk. */
typedef enum mb_site {
    MB_SITE_ATTENTION, /* no probabilities; keep: from each block's attention forward to its
                        * backward's end; bwd: more while that backward runs */
    MB_SITE_LOSS,      /* no logits; keep: from the loss's forward to its backward's end; fwd,
                        * bwd: while each runs */
    MB_SITE_CODEC,     /* CUSTOM blocks: keep after the saves instead of the inside; fwd: the most
                        * the saves hold above the full inside; bwd: the restore likewise */
    MB_SITE_N
} mb_site;

typedef struct mb_walk_site {
    int owned;
    size_t keep, fwd, bwd;
} mb_walk_site;

/* A step's changes to the walk: each block's mode (claimed per layer), the sites methods own and
 * their bytes, a forward-only step, the lowest block backward reaches. All zero: the plain step. */
typedef struct mb_act_walk {
    uint8_t *mode; /* [layers]: each block's mb_act_mode; NULL: every block kept */
    mb_walk_site site[MB_SITE_N];
    int lean;   /* the step runs lean forwards only: no backward */
    int lowest; /* backward stops below this block; blocks under it are never restored */
} mb_act_walk;

/* A method takes a site with the bytes it holds there (see mb_site). */
void mb_walk_own(mb_act_walk *w, mb_site site, size_t keep, size_t fwd, size_t bwd);
/* Peak ACTIVATIONS bytes of a step of `layers` blocks of shape s under w. */
size_t mb_act_walk_peak(const mb_act_shape *s, int layers, const mb_act_walk *w);

/* ---- the model ---- */
struct mb_model_family;

typedef struct mb_model {
    const struct mb_model_family *fam;
    mb_model_config cfg;
    int nparams;       /* descriptors: the architecture's, then any a method added */
    int nbase;         /* the architecture's (what init, save and load cover) */
    mb_param *params;  /* host array of descriptors */
    size_t num_params; /* elements over the architecture's tensors (mb_model_num_params) */
    int grads_allocated;
    /* Gradients on demand (mb_model_grads_on_demand): no buffer exists before backward; each
     * trainable parameter's is allocated (zeroed) just before the first kernel that writes it. */
    const uint8_t *grad_mask;
    void *acts;      /* the family's saved activations of the last forward */
    int have_acts;   /* a forward's activations are held */
    int B, T;        /* their batch and sequence */
    int has_targets; /* made by a forward with targets (else the logits are kept) */
    int acts_lean;   /* made by a lean forward: nothing is kept for a backward */
    /* A lean forward (evaluation, forward-only training): no backward follows, so each block's inside and the
     * residual before it are freed as soon as the next block has read them. */
    int lean;
    const mb_model_hooks *hooks; /* NULL: plain forward/backward */
} mb_model;

/* A model family: a const table (engine/models/gpt.c, llama.c). Future families (an inference
 * decoder with a KV cache: prefill and decode phases; CNNs and ViTs for on-device methods) add
 * entries here; members they lack are NULL and the engine refuses the calls that need them. */
typedef struct mb_model_family {
    const char *name;                /* "gpt", "llama" (suites' arch) */
    const char *title;               /* "GPT", "LLaMA" (messages) */
    const char *const *preset_names; /* NULL-terminated */
    const mb_model_config *presets;  /* one per name */
    /* Fills the family's derived defaults and checks the shape (MB_EINVAL naming the field). */
    mb_status (*check)(mb_ctx *ctx, mb_model_config *cfg);
    size_t (*num_params)(const mb_model_config *cfg);
    /* Fills params[0 .. count) (count from `count`) for cfg: names, roles, shapes. */
    int (*count)(const mb_model_config *cfg);
    void (*describe)(const mb_model_config *cfg, mb_param *params);
    /* The family's initialisation; tensor i draws from Philox stream MB_RNG_STREAM_INIT + i. */
    mb_status (*init_weights)(mb_ctx *ctx, mb_model *m, uint64_t seed);
    mb_status (*forward)(mb_ctx *ctx, mb_model *m, const int32_t *tokens, const int32_t *targets,
                         int B, int T, double *loss);
    mb_status (*backward)(mb_ctx *ctx, mb_model *m);
    void (*free_acts)(mb_ctx *ctx, mb_model *m);
    /* The logits of the last forward without targets: row i's V values (host fp64). */
    mb_status (*logits_row)(mb_ctx *ctx, const mb_model *m, int i, double *z);
    /* The activation shape of a step at B x T (elements es bytes, statistics ss, logits ld). */
    void (*act_shape)(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                      mb_act_shape *out);
    /* The gradient events of a full backward (every parameter trainable) into out (NULL: only
     * counted); returns their number. */
    int (*grad_events)(const mb_model_config *cfg, mb_grad_event *out);
    /* A block's saved tensors at B x T in forward order; returns their number (<= 16). */
    int (*saved)(const mb_model_config *cfg, int B, int T, mb_saved *out);
    /* Safetensors with Hugging Face names (engine/models/model_io.c): linear weights stored
     * [in, out] (GPT-2's Conv1D) when hf_conv1d, else [out, in] (nn.Linear); a loaded name may
     * carry hf_prefix ("transformer."); hf_ignorable names tensors a checkpoint may hold besides
     * the parameters (causal-mask buffers, a tied head). */
    int hf_conv1d;
    const char *hf_prefix;
    int (*hf_ignorable)(const mb_model *m, const char *name);
} mb_model_family;

#define MB_MAX_SAVED 16

extern const mb_model_family mb_family_gpt;
extern const mb_model_family mb_family_llama;
/* The family of an architecture; NULL when out of range. */
const mb_model_family *mb_model_family_of(mb_arch arch);
const char *mb_arch_name(mb_arch arch); /* "gpt", "llama" */

/* Finds a preset by name over every family (gpt-nano, gpt2-124m, llama-60m, ...). Unknown:
 * MB_ENOTFOUND naming the valid ones. */
mb_status mb_model_preset(mb_ctx *ctx, const char *name, mb_model_config *out);
/* The same as written in the family's table, before its check fills the derived fields: what a
 * suite overrides key by key (then checks with mb_model_config_check). */
mb_status mb_model_preset_raw(mb_ctx *ctx, const char *name, mb_model_config *out);
/* Every preset name over the families, in order; fills up to n, returns how many exist. */
int mb_model_preset_names(const char **out, int n);
/* Fills the family's defaults and checks the shape. */
mb_status mb_model_config_check(mb_ctx *ctx, mb_model_config *cfg);
size_t mb_model_num_params(const mb_model_config *cfg);
/* Rows of the output head: the vocabulary, or the classes of a classifier. */
int mb_model_head_rows(const mb_model_config *cfg);
/* Row stride of the logits on backend `be`: V rounded up to be->logits_align. */
int mb_model_logits_ld(const mb_backend *be, int V);
/* The output head: a classifier's score, an untied head, or the tied embedding. */
mb_param *mb_model_head(const mb_model *m);
/* The parameter of `role` in block `layer` (-1: outside the blocks), the `nth` of that role there
 * (0: the first); NULL when none. */
mb_param *mb_model_find(const mb_model *m, int layer, mb_role role, int nth);

/* Builds descriptors and allocates the weights (category WEIGHTS), not initialised. The config is
 * checked (and its defaults filled) first. On failure everything taken is freed and *m zeroed. */
mb_status mb_model_create(mb_ctx *ctx, const mb_model_config *cfg, mb_model *m);
mb_status mb_model_init_weights(mb_ctx *ctx, mb_model *m, uint64_t seed);
/* Allocates and zeroes gradients (GRADS) of the parameters with trainable[i] != 0 (all when NULL)
 * and frees those of the others. */
mb_status mb_model_alloc_grads(mb_ctx *ctx, mb_model *m, const uint8_t *trainable);
void mb_model_zero_grads(mb_ctx *ctx, mb_model *m);
/* Frees every gradient and makes the next backward allocate those of parameters with
 * trainable[i] != 0 on demand (the mask must outlive that backward). */
void mb_model_grads_on_demand(mb_ctx *ctx, mb_model *m, const uint8_t *trainable);
/* The family's kernels call this before writing parameter id's gradient. */
mb_status mb_model_need_grad(mb_ctx *ctx, mb_model *m, int id);
void mb_model_free_grads(mb_ctx *ctx, mb_model *m);
void mb_model_free_acts(mb_ctx *ctx, mb_model *m);
void mb_model_destroy(mb_ctx *ctx, mb_model *m); /* safe on a zeroed or half-built model */
/* Appends a parameter a method adds (an adapter's factors): role MB_ROLE_ADAPTER, block `layer`, shape
 * rows x cols (cols 0: a vector), weights allocated (WEIGHTS, tagged with the name, not
 * initialised). *id gets its index. m->params may move: keep ids, not pointers. */
mb_status mb_model_add_param(mb_ctx *ctx, mb_model *m, int layer, const char *name, size_t rows,
                             size_t cols, int *id);
/* Frees the added parameters with ids >= n (n >= nbase) and forgets them. */
void mb_model_drop_params(mb_ctx *ctx, mb_model *m, int n);

/* Forward over tokens[B*T] (host int32). With targets (host, -1 = ignore; class indices for a
 * classifier) the mean loss over the counted positions goes to *loss and activations are kept for
 * backward; without, the logits are kept (mb_model_score_labels). Replaces any activations of an
 * earlier forward. */
mb_status mb_model_forward(mb_ctx *ctx, mb_model *m, const int32_t *tokens, const int32_t *targets,
                           int B, int T, double *loss);
/* mb_model_forward with m->lean set for the call: the peak is an inference's, nothing is kept. */
mb_status mb_model_forward_lean(mb_ctx *ctx, mb_model *m, const int32_t *tokens,
                                const int32_t *targets, int B, int T, double *loss);
/* After a forward without targets, at every position with labels[i] >= 0 (host, B*T): adds the
 * cross-entropy -log softmax(logits)[label] (fp64 on the host) to *nll, 1 to *correct when the
 * highest logit (the first, on a tie) is the label, and 1 to *counted. */
mb_status mb_model_score_labels(mb_ctx *ctx, const mb_model *m, const int32_t *labels, double *nll,
                                long *correct, long *counted);
/* Accumulates d(mean loss)/d(param) into every allocated gradient, then frees the activations. */
mb_status mb_model_backward(mb_ctx *ctx, mb_model *m);

/* Peak ACTIVATIONS bytes of a training step under w (mb_act_walk_peak over the family's shape). */
size_t mb_model_act_walk(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                         const mb_act_walk *w);

/* What a family's forward and backward ask of the hooks: whether a method owns the attention or the
 * loss, whether no method replaces the linear layers in this direction (the backend's fused kernels
 * may then stand for a layer and the elementwise pass after it), a block's activation mode, and
 * telling the owner of grad_ready that parameter id's gradient is complete. */
int mb_model_attention_owned(const mb_model *m);
int mb_model_loss_owned(const mb_model *m);
int mb_model_linear_plain(const mb_model *m, int backward);
mb_act_mode mb_model_act_policy(const mb_model *m, int layer);
mb_status mb_model_grad_ready(mb_model *m, int id);

/* The defaults of the replaceable sites, for methods that wrap them. */
mb_status mb_model_linear_default(mb_ctx *ctx, const mb_linear_call *c, int backward);
mb_status mb_model_attention_default(mb_ctx *ctx, const mb_attn_call *c, void *scratch);
mb_status mb_model_loss_default(mb_ctx *ctx, const mb_loss_call *c);

/* Host fp64 views of a parameter or its gradient (tests, checkpoints, reference checks). */
mb_status mb_model_param_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out);
/* The same for a buffer of the backend's statistics/state type (sdtype): losses, optimizer state.
 */
mb_status mb_model_state_get(mb_ctx *ctx, const mb_buf *b, size_t numel, double *out);
mb_status mb_model_param_set(mb_ctx *ctx, mb_buf *b, size_t numel, const double *in);
/* Parameter i's gradient as host fp64 (MB_EINVAL when it has no gradient buffer). */
mb_status mb_model_grad_get(mb_ctx *ctx, const mb_model *m, int i, double *out);

mb_status mb_model_save(mb_ctx *ctx, const mb_model *m, const char *path);
mb_status mb_model_load(mb_ctx *ctx, mb_model *m, const char *path);

#endif
