/* methods/galore/galore.c — GaLore (jiaweizzhao/GaLore, GaLoreAdamW with the 'std' projector): Adam
 * on the gradient projected onto its top-r singular vectors, refreshed by an SVD every
 * update_proj_gap steps, the update projected back and scaled; other tensors on AdamW. */
#include <math.h>

#include "../projection/projection.h"
#include "galore_kernels.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_RANK, P_GAP, P_SCALE, P_N };
_Static_assert(P_WD == 4 && P_RANK == 5 && P_GAP == 6, "mb_proj_init reads these indices");

static const mb_param_decl params[P_N] = {
    MB_PROJ_ADAM_PARAMS(
        "learning rate (GaLoreAdamW's default; the README's pre-training recipes use 0.01)"),
    {.name = "rank",
     .type = MB_PT_INT,
     .def = 128,
     .min = 1,
     .max = 65536,
     .choices = NULL,
     .help = "projection rank r, capped at min(rows, cols) (README and argparse default 128)"},
    {.name = "update_proj_gap",
     .type = MB_PT_INT,
     .def = 200,
     .min = 1,
     .max = 1e9,
     .choices = NULL,
     .help =
         "SVD refresh every this many updates, the first at update 1 (README 200; argparse 50)"},
    {.name = "scale",
     .type = MB_PT_FLOAT,
     .def = 0.25,
     .min = 0,
     .max = 1e6,
     .choices = NULL,
     .help = "multiplies the projected-back update (README 0.25; argparse galore_scale 1.0)"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_galore_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_galore_cpu_f32,     [MB_BE_CPU_F64] = &mb_galore_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_galore_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_galore_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_galore_cuda_bf16,
#endif
};

const mb_galore_kernels *mb_galore_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct galore_state {
    mb_proj pj;
    double scale;
    const mb_galore_kernels *k;
} galore_state;

static mb_status galore_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    galore_state *s = priv;
    s->scale = v[P_SCALE].num;
    s->k = mb_galore_kernels_of(tr->ctx->be);
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "galore: backend %s has no projection kernels",
                        tr->ctx->be->name);
    return mb_proj_init(&s->pj, tr, v, "galore");
}

static void galore_fini(void *priv, mb_train *tr) {
    galore_state *s = priv;
    mb_proj_fini(&s->pj, tr);
}

static mb_status galore_step(void *priv, mb_train *tr, mb_param *p) {
    galore_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    if (!mb_proj_selected(p)) return mb_proj_adamw_step(&s->pj, tr, p);
    mb_proj_dims d;
    mb_proj_dims_of(p, s->pj.rank, &d);
    mb_buf gbuf = {0}, rbuf = {0};
    const void *G;
    int refresh;
    double step;
    mb_buf *master = NULL;
    mb_status st = mb_proj_prepare(&s->pj, tr, p, &d, &gbuf, &G, &refresh);
    if (st == MB_OK && refresh)
        st = s->k->svd_top(ctx, G, d.m, d.n, d.r, d.right, s->pj.P[p->id].ptr);
    if (st == MB_OK)
        st = mb_alloc(ctx, &rbuf, d.rows * d.cols * mb_dtype_size(be->sdtype), MB_MEM_WORKSPACE,
                      "galore.R");
    if (st == MB_OK) st = mb_proj_adam(&s->pj, tr, p, &d, G, rbuf.ptr, rbuf.ptr, &step);
    if (st == MB_OK) st = mb_train_master(tr, p, &master);
    if (st == MB_OK) {
        /* W += -step*scale * (N P) or (P N), into the master copy when there is one */
        void *w = master ? master->ptr : p->w.ptr;
        const void *P = s->pj.P[p->id].ptr;
        double a = -step * s->scale;
        if (d.right)
            be->gemm_s(ctx, 0, 0, d.m, d.n, d.r, a, rbuf.ptr, d.r, P, d.n, 1.0, w, d.n);
        else
            be->gemm_s(ctx, 0, 0, d.m, d.n, d.r, a, P, d.r, rbuf.ptr, d.n, 1.0, w, d.n);
        if (master || s->pj.wd > 0)
            be->axpy_decay(ctx, p->w.ptr, master ? master->ptr : NULL, NULL, p->numel, 0.0,
                           1 - s->pj.lr * s->pj.wd);
    }
    mb_free(ctx, &rbuf);
    mb_free(ctx, &gbuf);
    return st;
}

/* Per projected matrix [m,n] (l = max, s = min, r = min(rank, s)): m and v of R (2 l r) and the
 * projector (s r); every other tensor AdamW's 2 numel; all in the state type. GPT-2 124M at rank
 * 128: 112,040,448 elements (448,161,792 bytes in fp32). */
static void galore_predict(const mb_pvalue *v, mb_predict *pr) {
    size_t n = mb_proj_state_elems(pr->model, pr->trainable, (int)v[P_RANK].num, 0);
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)(pr->state_elem * n);
}

const mb_method mb_method_galore = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "galore",
    .paper = "Jiawei Zhao, Zhenyu Zhang, Beidi Chen, Zhangyang Wang, Anima Anandkumar and Yuandong "
             "Tian. GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection. ICML "
             "2024. arXiv:2403.03507",
    .summary = "Adam on the gradient projected to its top-r singular vectors (SVD every "
               "update_proj_gap steps); attention/MLP matrices only",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(galore_state),
    .init = galore_init,
    .fini = galore_fini,
    .optimizer_step = galore_step,
    .predict_bytes = galore_predict,
};
