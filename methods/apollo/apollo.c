/* methods/apollo/apollo.c — APOLLO and APOLLO-Mini (zhuhanqing/APOLLO, apollo_torch/apollo.py):
 * Adam on a random projection of the gradient gives channel-wise (rank r) or tensor-wise (rank 1)
 * scales of the raw gradient, with Fira's norm-growth limiter. One file: the two share every line.
 */
#include <math.h>
#include <stdlib.h>

#include "../../engine/rng.h"
#include "../projection/projection.h"
#include "apollo_kernels.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_RANK, P_GAP, P_SCALE, P_FRONT, P_LIMITER, P_N };
_Static_assert(P_WD == 4 && P_RANK == 5 && P_GAP == 6, "mb_proj_init reads these indices");

#define GAP_HELP                                                                                   \
    "new random projection every this many updates, the first at update 1 (scripts 200; argparse " \
    "50)"
#define LIMITER_HELP                                                                               \
    "norm-growth limiter: |update| grows at most 1.01x per step (the code's disable_nl = false)"
#define LR_HELP "learning rate (the optimizer class's default; the pre-training scripts use 0.01)"

static const mb_param_decl apollo_params[P_N] = {
    MB_PROJ_ADAM_PARAMS(LR_HELP),
    {.name = "rank",
     .type = MB_PT_INT,
     .def = 128,
     .min = 1,
     .max = 65536,
     .choices = NULL,
     .help = "random-projection rank (argparse default 128; the scripts use d_model/4, README 256 "
             "for 1B)"},
    {.name = "update_proj_gap",
     .type = MB_PT_INT,
     .def = 200,
     .min = 1,
     .max = 1e9,
     .choices = NULL,
     .help = GAP_HELP},
    {.name = "scale",
     .type = MB_PT_FLOAT,
     .def = 1.0,
     .min = 0,
     .max = 1e6,
     .choices = NULL,
     .help = "the update is multiplied by sqrt(scale), as the code does (the paper writes scale)"},
    {.name = "scale_front",
     .type = MB_PT_BOOL,
     .def = 0,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "apply sqrt(scale) before the norm-growth limiter instead of after"},
    {.name = "limiter",
     .type = MB_PT_BOOL,
     .def = 1,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = LIMITER_HELP},
};

static const mb_param_decl mini_params[P_N] = {
    MB_PROJ_ADAM_PARAMS(LR_HELP),
    {"rank", MB_PT_INT, 1, 1, 65536, NULL, "random-projection rank (APOLLO-Mini: 1)"},
    {"update_proj_gap", MB_PT_INT, 200, 1, 1e9, NULL, GAP_HELP},
    {"scale", MB_PT_FLOAT, 128, 0, 1e6, NULL,
     "the update is multiplied by sqrt(scale) (README 128; the 130M script uses 192 with "
     "scale_front)"},
    {"scale_front", MB_PT_BOOL, 0, 0, 1, NULL,
     "apply sqrt(scale) before the norm-growth limiter (the 60M/130M scripts turn it on)"},
    {"limiter", MB_PT_BOOL, 1, 0, 1, NULL, LIMITER_HELP},
};

#define MB_APOLLO_STREAM 0xA9011000u /* + parameter id: the projections' counter-based stream */

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_apollo_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_apollo_cpu_f32,     [MB_BE_CPU_F64] = &mb_apollo_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_apollo_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_apollo_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_apollo_cuda_bf16,
#endif
};

const mb_apollo_kernels *mb_apollo_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct apollo_state {
    mb_proj pj;
    double k; /* sqrt(scale) */
    int front, limiter, tensor;
    const mb_apollo_kernels *kern;
} apollo_state;

static mb_status init_common(apollo_state *s, mb_train *tr, const mb_pvalue *v, int tensor,
                             const char *who) {
    s->k = sqrt(v[P_SCALE].num);
    s->front = v[P_FRONT].num != 0;
    s->limiter = v[P_LIMITER].num != 0;
    s->tensor = tensor;
    s->kern = mb_apollo_kernels_of(tr->ctx->be);
    if (!s->kern)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "%s: backend %s has no projection kernels", who,
                        tr->ctx->be->name);
    return mb_proj_init(&s->pj, tr, v, who);
}

static mb_status apollo_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    return init_common(priv, tr, v, 0, "apollo");
}
static mb_status mini_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    return init_common(priv, tr, v, 1, "apollo-mini");
}

static void apollo_fini(void *priv, mb_train *tr) {
    apollo_state *s = priv;
    mb_proj_fini(&s->pj, tr);
}

/* A new projection: entries N(0, 1/r) from the run's seed, stream MB_APOLLO_STREAM + parameter id,
 * counters picked by the refresh's index (updates so far / gap; draws come when gap divides it).
 * The official code draws torch.randn from a seeded generator: the values differ, the distribution
 * is the same. Drawn on the host and copied: the host buffer is the one untracked allocation, s*r
 * values for the moment of the copy. */
static mb_status draw(apollo_state *s, mb_train *tr, const mb_param *p, const mb_proj_dims *d) {
    mb_ctx *ctx = tr->ctx;
    mb_buf *P = &s->pj.P[p->id];
    size_t cnt = P->bytes / mb_dtype_size(ctx->be->sdtype);
    double *h = malloc(cnt * sizeof *h);
    void *x = malloc(P->bytes);
    if (!h || !x) {
        free(h);
        free(x);
        return mb_error(ctx, MB_ENOMEM, "apollo: host buffer for a projection");
    }
    uint64_t first = (uint64_t)(s->pj.st.t[p->id] / s->pj.gap) * cnt;
    mb_rng_fill_normal(h, cnt, tr->seed, MB_APOLLO_STREAM + (uint32_t)p->id, first, 0.0,
                       1.0 / sqrt((double)d->r));
    mb_dtype_from_f64(ctx->be->sdtype, x, h, cnt);
    mb_status st = ctx->be->to_device(ctx, P->ptr, x, P->bytes);
    free(h);
    free(x);
    return st;
}

static mb_status apollo_step(void *priv, mb_train *tr, mb_param *p) {
    apollo_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    if (!mb_proj_selected(p)) return mb_proj_adamw_step(&s->pj, tr, p);
    mb_proj_dims d;
    mb_proj_dims_of(p, s->pj.rank, &d);
    size_t es = mb_dtype_size(be->sdtype), rn = d.rows * d.cols;
    mb_buf gbuf = {0}, rbuf = {0}, nbuf = {0}, sbuf = {0};
    mb_buf *lim = &s->pj.aux[p->id];
    const void *G;
    int refresh;
    double step;
    mb_buf *master = NULL;
    mb_status st = mb_proj_prepare(&s->pj, tr, p, &d, &gbuf, &G, &refresh);
    if (st == MB_OK && s->limiter && !lim->ptr) { /* no previous norm yet: a negative value */
        double neg = -1;
        unsigned char x[8];
        st = mb_alloc(ctx, lim, es, MB_MEM_OPTIMIZER, "apollo.limiter");
        mb_dtype_from_f64(be->sdtype, x, &neg, 1);
        if (st == MB_OK) st = be->to_device(ctx, lim->ptr, x, es);
    }
    if (st == MB_OK && refresh) st = draw(s, tr, p, &d);
    if (st == MB_OK) st = mb_alloc(ctx, &rbuf, rn * es, MB_MEM_WORKSPACE, "apollo.R");
    if (st == MB_OK) st = mb_alloc(ctx, &nbuf, rn * es, MB_MEM_WORKSPACE, "apollo.N");
    if (st == MB_OK)
        st = mb_alloc(ctx, &sbuf, (d.rows > d.cols ? d.rows : d.cols) * es, MB_MEM_WORKSPACE,
                      "apollo.scales");
    if (st == MB_OK) st = mb_proj_adam(&s->pj, tr, p, &d, G, rbuf.ptr, nbuf.ptr, &step);
    if (st == MB_OK) st = mb_train_master(tr, p, &master);
    if (st == MB_OK) {
        /* channel: norms over the rank dimension, one scale per row (right) or column (left) */
        int axis = s->tensor ? -1 : d.right ? 1 : 0;
        s->kern->apollo_update(ctx, p->w.ptr, p->g.ptr, master ? master->ptr : NULL, rbuf.ptr,
                               nbuf.ptr, (size_t)d.m, (size_t)d.n, d.rows, d.cols, axis, s->front,
                               s->k, s->limiter ? lim->ptr : NULL, step, 1 - s->pj.lr * s->pj.wd,
                               sbuf.ptr);
    }
    mb_free(ctx, &sbuf);
    mb_free(ctx, &nbuf);
    mb_free(ctx, &rbuf);
    mb_free(ctx, &gbuf);
    return st;
}

/* Per projected matrix [m,n] (l = max, s = min, r = min(rank, s)): m and v of R (2 l r), the
 * projector kept between refreshes as the official code keeps it (s r), and the limiter's previous
 * norm (1, when on); every other tensor AdamW's 2 numel. */
static void apollo_predict(const mb_pvalue *v, mb_predict *pr) {
    size_t n = mb_proj_state_elems(pr->model, pr->trainable, (int)v[P_RANK].num,
                                   v[P_LIMITER].num != 0 ? 1 : 0);
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(pr->state_elem * n);
}

#define APOLLO_PAPER                                                                               \
    "Hanqing Zhu, Zhenyu Zhang, Wenyan Cong, Xi Liu, Sem Park, Vikas Chandra, Bo Long, David Z. "  \
    "Pan, Zhangyang Wang and Jinwon Lee. APOLLO: SGD-like Memory, AdamW-level Performance. "       \
    "MLSys 2025. arXiv:2412.05270"

const mb_method mb_method_apollo = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "apollo",
    .paper = APOLLO_PAPER,
    .summary = "channel-wise gradient scales from Adam on a rank-r random projection, "
               "norm-growth limiter; attention/MLP matrices only",
    .params = apollo_params,
    .nparams = P_N,
    .priv_size = sizeof(apollo_state),
    .init = apollo_init,
    .fini = apollo_fini,
    .optimizer_step = apollo_step,
    .predict_bytes = apollo_predict,
};

const mb_method mb_method_apollo_mini = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "apollo-mini",
    .paper = APOLLO_PAPER,
    .summary = "APOLLO with one tensor-wise scale from a rank-1 random projection "
               "(sqrt(128) by default)",
    .params = mini_params,
    .nparams = P_N,
    .priv_size = sizeof(apollo_state),
    .init = mini_init,
    .fini = apollo_fini,
    .optimizer_step = apollo_step,
    .predict_bytes = apollo_predict,
};
