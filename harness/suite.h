/* harness/suite.h — a YAML suite resolved into plain structs, validated with file:line:col errors.
 * Unknown keys, wrong types and out-of-range values are errors that name the nearest valid key. */
#ifndef MB_SUITE_H
#define MB_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/models/gpt.h"
#include "../methods/registry.h"

typedef enum mb_backend_kind { MB_TARGET_CPU, MB_TARGET_CUDA } mb_backend_kind;
typedef enum mb_precision { MB_PREC_FP32, MB_PREC_FP64, MB_PREC_TF32, MB_PREC_BF16 } mb_precision;
const char *mb_precision_name(mb_precision p); /* "fp32" ... */

/* Which attention a cell runs (`attention:` on a target or a model, the model's winning): unset
 * means auto, FlashAttention where its kernel takes the cell (cuda-bf16, a head size it has, no
 * method of the stack that replaces or codes the attention), else the engine's; naive, always the
 * engine's (its T x T probabilities kept, so their memory can be compared); flash, always flash
 * (a cell it cannot take ends invalid with its reason). */
typedef enum mb_attention_mode {
    MB_ATTN_UNSET,
    MB_ATTN_AUTO,
    MB_ATTN_NAIVE,
    MB_ATTN_FLASH
} mb_attention_mode;
const char *mb_attention_mode_name(mb_attention_mode a); /* "auto", "naive", "flash" */

typedef struct mb_target_cfg {
    char *name;
    mb_backend_kind backend; /* "cpu" (default) | "cuda" */
    int device;              /* default 0 */
    size_t memory_cap;       /* bytes; 0 = none. YAML: integer bytes or "24GiB", "512MiB", "8GB" */
    int threads; /* OpenMP threads for the cell's host work; 0: OMP_NUM_THREADS when set,
                  * else the machine's physical cores (mb_default_threads) */
    mb_attention_mode attention;
} mb_target_cfg;

typedef struct mb_model_cfg {
    /* hf: a Hugging Face checkpoint (folder, index or .safetensors file) resolved against the suite
     * file's folder; the shape came from its config.json and the runner loads its weights after
     * initialisation (before init.checkpoint); NULL otherwise */
    char *hf;
    char *name;
    char *preset;          /* NULL when the shape is given key by key */
    mb_model_config shape; /* resolved: the preset's, with any keys given overriding it */
    int batch_size;        /* 0: task.batch_size; else this model's (a matrix axis still wins) */
    mb_attention_mode attention; /* MB_ATTN_UNSET: the target's */
} mb_model_cfg;

typedef enum mb_data_kind {
    MB_DATA_SYNTHETIC,
    MB_DATA_FILE,
    MB_DATA_SOTU,         /* State of the Union corpus, fetched */
    MB_DATA_MOBY_DICK,    /* fetched */
    MB_DATA_SPAM,         /* SpamAssassin ham/spam, fetched: labelled (task kind classify) */
    MB_DATA_FASHION_MNIST /* fetched: labelled images as pixel tokens (task kind classify) */
} mb_data_kind;
#define MB_DATA_TOK_FILE 2 /* data.tokenizer: FILE.json (datasets/corpus.h's MB_TOK_FILE) */
typedef struct mb_data_cfg {
    mb_data_kind kind;    /* name: synthetic (default) | file | sotu | moby-dick | spam-assassin |
                           * fashion-mnist */
    int tokenizer;        /* corpora and spam-assassin: mb_tokenizer (0 gpt2, default; 1 bytes;
                           * MB_DATA_TOK_FILE: the corpora in tokenizer_file's tokens) */
    char *tokenizer_file; /* a Hugging Face tokenizer.json, resolved like path */
    char *path;           /* file: resolved relative to the suite file's folder */
    int vocab;            /* synthetic: default 256; file: always 256 (bytes); corpora and
                           * spam-assassin: 50257 (gpt2) or 256 (bytes), or tokenizer_file's;
                           * fashion-mnist: 16 */
    double val_fraction;  /* default 0.1, in [0, 0.5] ((0, 0.5] for spam-assassin; fashion-mnist
                           * has its own 10,000 test images) */
    int line, col;        /* where the suite names it (data.path for file, else data.name), 1-based,
                           * for the plan's "not fetched" and "cannot read" errors; 0: not given */
} mb_data_cfg;

typedef struct mb_method_inst {
    const mb_method *method;
    mb_pvalue *vals;    /* [method->nparams], defaults overridden by YAML */
    unsigned char *set; /* [method->nparams]: 1 where the suite gave the value (shown in labels
                         * even when it equals the default) */
} mb_method_inst;

typedef struct mb_stack_cfg {
    char *label; /* "adamw", "lora+adamw"; the methods joined by '+' in stack order */
    int n;
    mb_method_inst *items;
} mb_stack_cfg;

/* The stack as cells, compare and `baseline:` show it: the method names joined by '+', each with
 * the parameters the suite sets or that differ from their defaults, e.g.
 * "adamw(lr=0.003,weight_decay=0.1)+sgd". */
void mb_stack_label(const mb_stack_cfg *st, char *out, size_t n);

/* Whether `model` refuses the stack (each method's mb_method.check on its shape): MB_OK, or the
 * refusal with "method: why" in ctx->err. A stack every model of a suite refuses is a load error;
 * one only some refuse runs their cells as `invalid` with that message (`--dry-run` shows it). */
mb_status mb_stack_refusal(mb_ctx *ctx, const mb_stack_cfg *st, const mb_model_cfg *model);

typedef struct mb_matrix_axis {
    char *key; /* batch_size | seq_len | precision */
    int n;
    int64_t *ints; /* batch_size, seq_len values */
    mb_precision *precs;
} mb_matrix_axis;

/* search: one of max_batch_size / max_seq_len, on one capped target. */
typedef enum mb_search_kind {
    MB_SEARCH_NONE,
    MB_SEARCH_MAX_BATCH,
    MB_SEARCH_MAX_SEQ
} mb_search_kind;
const char *mb_search_name(mb_search_kind k); /* "", "max_batch_size", "max_seq_len" */
typedef struct mb_search_cfg {
    mb_search_kind kind;
    int target;      /* index into targets: the one searched (it has a memory_cap); its cells become
                      * searches, the other targets' cells run as usual */
    int start;       /* first size tried: default 1 (batch) or 16 (sequence) */
    int max;         /* largest size tried: default 65536 (batch) or 0 = the model's seq_len */
    int trial_steps; /* training steps per trial, default 2 (optimizer state allocated, peak real)
                      */
} mb_search_cfg;

typedef struct mb_suite {
    char *path;    /* as given */
    char *name;    /* `suite:` (required), names the results folder */
    uint64_t seed; /* default 0 */
    int repeat;    /* default 1, in [1, 1000] */
    /* defaults: */
    int steps;              /* default 20, >= 1 */
    int warmup_steps;       /* default 2, >= 0, < steps */
    mb_precision precision; /* default fp32 */
    int eval_every;         /* defaults.eval.every: 0 = only at the end; default 0 */
    int eval_batches;       /* defaults.eval.batches: default 4, >= 1 */
    /* task: */
    int classify;   /* task.kind: train (0, default: next-token language modelling) or
                     * classify (1: labelled data; the model gets a class head; the metric is
                     * accuracy over the whole validation split) */
    int batch_size; /* task.batch_size, default 4, >= 1 */
    int seq_len;    /* task.seq_len, 0 = the model's seq_len */
    mb_data_cfg data;
    int ntargets;
    mb_target_cfg *targets; /* default: one target {name: cpu, backend: cpu} */
    int nmodels;
    mb_model_cfg *models; /* required, >= 1 */
    int nstacks;
    mb_stack_cfg *stacks; /* `methods:` required, >= 1 */
    int baseline;         /* the stack the others are measured against, an index into stacks:
                           * `baseline:` names it by its label; default 0, the first listed */
    int naxes;
    mb_matrix_axis *axes;
    mb_search_cfg search;
    /* init.checkpoint: safetensors weights loaded into every cell's model after its
     * initialisation (mb_model_load: a classifier keeps its new head), resolved against the suite
     * file's folder; NULL: none */
    char *init_checkpoint;
    /* save.checkpoint: the trained weights (after the method's finish, LoRA merged) written as
     * safetensors into the results folder under this name, by a suite of exactly one cell; NULL */
    char *save_checkpoint;
    /* init.suite: an earlier document of the same file whose save.checkpoint this one starts
     * from (the runner resolves it into init_checkpoint); NULL */
    char *init_suite;
    int index; /* 0-based document of its file */
} mb_suite;

/* The most cells one suite may plan. The count (targets x models x methods x each matrix list x
 * repeat, before a search or --filter narrows it) is checked by arithmetic before anything is
 * planned: a 30 KB suite with a 3000 x 3000 matrix would otherwise plan 9 million cells. */
#define MB_MAX_CELLS 100000
/* -1 when the suite is within MB_MAX_CELLS. Over it: the factor that takes the count past the
 * limit, in that order (0 targets, 1 models, 2 methods, 3 + a for matrix axis a, 3 + naxes
 * repeat), and in why[cap] "the suite plans N cells (targets 1 x ... x repeat 1), more than the
 * limit of 100000; ...". The loader checks it at load, the planner again before planning. */
int mb_suite_over_limit(const mb_suite *s, char *why, size_t cap);

/* A suite file: one YAML document or several ("---" between them), each a suite, run in order: a
 * pipeline where an earlier one saves a checkpoint that a later one starts from. */
typedef struct mb_suite_file {
    int n;
    mb_suite *docs;
} mb_suite_file;
mb_status mb_suite_file_load(mb_ctx *ctx, const mb_registry *reg, const char *path,
                             mb_suite_file *out);
mb_status mb_suite_file_load_string(mb_ctx *ctx, const mb_registry *reg, const char *name,
                                    const char *text, mb_suite_file *out);
void mb_suite_file_free(mb_suite_file *f);

/* Loads and validates `path`, a file of one suite. On failure the context's error is
 * "FILE:LINE:COL: error: ..." (or "FILE: error: ..." when no position applies) and *out is
 * zeroed. */
mb_status mb_suite_load(mb_ctx *ctx, const mb_registry *reg, const char *path, mb_suite *out);
/* Same, from a string (tests); `name` stands for the file name in messages. */
mb_status mb_suite_load_string(mb_ctx *ctx, const mb_registry *reg, const char *name,
                               const char *text, mb_suite *out);
void mb_suite_free(mb_suite *s);

#endif
