/* methods/projection/projection.h — what GaLore and APOLLO share: which matrices are projected, the
 * side and rank rule, the projected gradient R, the Adam state on it, and Hugging Face AdamW for
 * the rest.
 */
#ifndef MB_PROJECTION_H
#define MB_PROJECTION_H

#include "../../engine/train.h"
#include "../adamw/adamw_kernels.h"
#include "projection_kernels.h"

/* The Hugging Face AdamW hyperparameters GaLore and APOLLO declare first (indices 0-4), with their
 * optimizer classes' defaults; LR_HELP says where the recipes differ. */
// clang-format off
#define MB_PROJ_ADAM_PARAMS(LR_HELP)                                                               \
    {.name = "lr", .type = MB_PT_FLOAT, .def = 1e-3, .min = 0, .max = 10, .choices = NULL,         \
     .help = LR_HELP},                                                                             \
    {.name = "beta1", .type = MB_PT_FLOAT, .def = 0.9, .min = 0, .max = 0.999999,                  \
     .choices = NULL, .help = "first-moment decay"},                                               \
    {.name = "beta2", .type = MB_PT_FLOAT, .def = 0.999, .min = 0, .max = 0.999999,                \
     .choices = NULL, .help = "second-moment decay"},                                              \
    {.name = "eps", .type = MB_PT_FLOAT, .def = 1e-6, .min = 0, .max = 1, .choices = NULL,         \
     .help = "added to sqrt(v) before bias correction (Hugging Face AdamW's placement and "        \
             "default)"},                                                                          \
    {.name = "weight_decay", .type = MB_PT_FLOAT, .def = 0.0, .min = 0, .max = 10, .choices = NULL, \
     .help = "decoupled, after the update: p -= lr*weight_decay*p (unscaled lr, as the official "  \
             "code)"}
// clang-format on

/* A projected matrix p[m,n]: rank r = min(rank, m, n); right (m >= n): P[r,n], R = G P^T [m,r];
 * left: P[m,r], R = P^T G [r,n]. l = max(m, n), s = min(m, n); R has l*r elements, P s*r. */
typedef struct mb_proj_dims {
    int m, n, r, right;
    size_t rows, cols; /* R's shape */
} mb_proj_dims;

/* The common hyperparameters and state. a/b of st: Adam's m and v (R's shape when projected, the
 * parameter's otherwise); t: updates per parameter; P: projectors; aux: one per parameter for the
 * method (APOLLO's limiter value). */
typedef struct mb_proj {
    double lr, b1, b2, eps, wd;
    int rank, gap;
    const mb_projection_kernels *k;
    const mb_adamw_kernels *adamw; /* the unprojected tensors' update */
    mb_opt_state st;
    mb_buf *P, *aux;
} mb_proj;

/* The attention and MLP linear weights (qkv, attention output, MLP up, MLP down), as the official
 * code's "attn"/"mlp" filter selects; every other parameter takes AdamW. */
int mb_proj_selected(const mb_param *p);
void mb_proj_dims_of(const mb_param *p, int rank, mb_proj_dims *d);

/* Reads the common values from v (indices 0-4 as MB_PROJ_ADAM_PARAMS declares them, 5 rank, 6
 * update_proj_gap) and makes the per-parameter state. */
mb_status mb_proj_init(mb_proj *s, mb_train *tr, const mb_pvalue *v, const char *who);
void mb_proj_fini(mb_proj *s, mb_train *tr);

/* Hugging Face AdamW (the optimizer class GaLore and APOLLO extend) on an unprojected parameter:
 * p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps), then p -= lr wd p. */
mb_status mb_proj_adamw_step(mb_proj *s, mb_train *tr, mb_param *p);

/* The first half of a projected step: state allocated on first use (m, v zeroed; P allocated, to
 * be filled by the caller when refresh), g in sdtype in *G (p->g itself, or a WORKSPACE copy in
 * *Gbuf), and *refresh = 1 when the projector is to be rebuilt this step (updates so far % gap ==
 * 0, the count before this step's, as the official code checks it). */
mb_status mb_proj_prepare(mb_proj *s, mb_train *tr, mb_param *p, const mb_proj_dims *d,
                          mb_buf *Gbuf, const void **G, int *refresh);
/* R = project(G) into R (WORKSPACE, rows x cols); then the update count is incremented and the
 * Adam direction N = m / (sqrt(v) + eps) written to out (may be R). Returns the step size
 * lr sqrt(1 - b2^t) / (1 - b1^t) in *step. */
mb_status mb_proj_adam(mb_proj *s, mb_train *tr, mb_param *p, const mb_proj_dims *d, const void *G,
                       void *R, void *out, double *step);

/* Optimizer elements of a model under these rules: per projected matrix 2 l r + s r + extra, per
 * other parameter 2 numel. */
size_t mb_proj_state_elems(const mb_model *m, const uint8_t *trainable, int rank, size_t extra);

#endif
