/* methods/projection/projection.c — the shared half of GaLore and APOLLO (see projection.h):
 * selection, shapes, state, the projected gradient and its Adam direction, Hugging Face AdamW for
 * the other tensors. */
#include "projection.h"

#include <math.h>
#include <stdlib.h>

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_projection_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_projection_cpu_f32,     [MB_BE_CPU_F64] = &mb_projection_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_projection_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_projection_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_projection_cuda_bf16,
#endif
};

const mb_projection_kernels *mb_projection_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

/* The official code projects the modules whose names hold "attn" or "mlp": every attention and
 * MLP matrix (GPT's c_attn, c_proj, c_fc; LLaMA's q, k, v, o, gate, up, down). */
int mb_proj_selected(const mb_param *p) {
    return mb_role_is_block_matrix(p->role) && p->ndim == 2;
}

void mb_proj_dims_of(const mb_param *p, int rank, mb_proj_dims *d) {
    d->m = (int)p->shape[0];
    d->n = (int)p->shape[1];
    int s = d->m < d->n ? d->m : d->n;
    d->r = rank < s ? rank : s;
    d->right = d->m >= d->n;
    d->rows = d->right ? (size_t)d->m : (size_t)d->r;
    d->cols = d->right ? (size_t)d->r : (size_t)d->n;
}

mb_status mb_proj_init(mb_proj *s, mb_train *tr, const mb_pvalue *v, const char *who) {
    const mb_backend *be = tr->ctx->be;
    s->lr = v[0].num;
    s->b1 = v[1].num;
    s->b2 = v[2].num;
    s->eps = v[3].num;
    s->wd = v[4].num;
    s->rank = (int)v[5].num;
    s->gap = (int)v[6].num;
    s->k = mb_projection_kernels_of(be);
    s->adamw = mb_adamw_kernels_of(be);
    if (!be->gemm_s || !be->axpy_decay || !s->k || !s->adamw)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "%s: backend %s has no projection kernels", who,
                        be->name);
    MB_TRY(mb_opt_state_init(tr, &s->st, who));
    s->P = calloc((size_t)s->st.n, sizeof *s->P);
    s->aux = calloc((size_t)s->st.n, sizeof *s->aux);
    if (!s->P || !s->aux) return mb_error(tr->ctx, MB_ENOMEM, "%s: host state", who);
    return MB_OK;
}

void mb_proj_fini(mb_proj *s, mb_train *tr) {
    for (int i = 0; i < s->st.n; i++) {
        if (s->P) mb_free(tr->ctx, &s->P[i]);
        if (s->aux) mb_free(tr->ctx, &s->aux[i]);
    }
    free(s->P);
    free(s->aux);
    s->P = s->aux = NULL;
    mb_opt_state_fini(tr, &s->st);
}

/* m and v of `elems` elements, zeroed, on first use. */
static mb_status moments(mb_proj *s, mb_ctx *ctx, int i, size_t elems) {
    if (s->st.a[i].ptr) return MB_OK;
    size_t bytes = elems * mb_dtype_size(ctx->be->sdtype);
    MB_TRY(mb_alloc(ctx, &s->st.a[i], bytes, MB_MEM_OPTIMIZER, "proj.m"));
    MB_TRY(mb_alloc(ctx, &s->st.b[i], bytes, MB_MEM_OPTIMIZER, "proj.v"));
    ctx->be->zero(ctx, s->st.a[i].ptr, bytes);
    ctx->be->zero(ctx, s->st.b[i].ptr, bytes);
    return MB_OK;
}

mb_status mb_proj_adamw_step(mb_proj *s, mb_train *tr, mb_param *p) {
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    MB_TRY(moments(s, ctx, i, p->numel));
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    int t = ++s->st.t[i];
    double bc1 = 1 - pow(s->b1, t), bc2 = 1 - pow(s->b2, t);
    /* torch's kernel divides sqrt(v) by sqrt(bc2) before adding eps: eps/sqrt(bc2) there is eps
     * added to the uncorrected sqrt(v) here; its decay (before the step) is left off and applied
     * after, as Hugging Face's AdamW orders it */
    void *mp = master ? master->ptr : NULL;
    s->adamw->adamw(ctx, p->w.ptr, p->g.ptr, s->st.a[i].ptr, s->st.b[i].ptr, mp, p->numel, s->lr,
                    s->b1, s->b2, s->eps / sqrt(bc2), 0.0, bc1, bc2);
    if (s->wd > 0) ctx->be->axpy_decay(ctx, p->w.ptr, mp, NULL, p->numel, 0.0, 1 - s->lr * s->wd);
    return MB_OK;
}

mb_status mb_proj_prepare(mb_proj *s, mb_train *tr, mb_param *p, const mb_proj_dims *d,
                          mb_buf *Gbuf, const void **G, int *refresh) {
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    size_t es = mb_dtype_size(ctx->be->sdtype);
    MB_TRY(moments(s, ctx, i, d->rows * d->cols));
    if (!s->P[i].ptr) {
        size_t sr = (size_t)(d->right ? d->n : d->m) * (size_t)d->r;
        MB_TRY(mb_alloc(ctx, &s->P[i], sr * es, MB_MEM_OPTIMIZER, "proj.projector"));
    }
    *refresh = s->st.t[i] % s->gap == 0;
    if (ctx->be->dtype == ctx->be->sdtype) {
        *G = p->g.ptr;
        return MB_OK;
    }
    MB_TRY(mb_alloc(ctx, Gbuf, p->numel * es, MB_MEM_WORKSPACE, "proj.grad"));
    ctx->be->widen(ctx, Gbuf->ptr, p->g.ptr, p->numel);
    *G = Gbuf->ptr;
    return MB_OK;
}

mb_status mb_proj_adam(mb_proj *s, mb_train *tr, mb_param *p, const mb_proj_dims *d, const void *G,
                       void *R, void *out, double *step) {
    mb_ctx *ctx = tr->ctx;
    const mb_backend *be = ctx->be;
    int i = p->id, m = d->m, n = d->n, r = d->r;
    const void *P = s->P[i].ptr;
    if (d->right) /* R[m,r] = G[m,n] P[r,n]^T */
        be->gemm_s(ctx, 0, 1, m, r, n, 1.0, G, n, P, n, 0.0, R, r);
    else /* R[r,n] = P[m,r]^T G[m,n] */
        be->gemm_s(ctx, 1, 0, r, n, m, 1.0, P, r, G, n, 0.0, R, n);
    int t = ++s->st.t[i];
    s->k->adam_dir(ctx, R, out, s->st.a[i].ptr, s->st.b[i].ptr, d->rows * d->cols, s->b1, s->b2,
                   s->eps);
    *step = s->lr * sqrt(1 - pow(s->b2, t)) / (1 - pow(s->b1, t));
    return MB_OK;
}

size_t mb_proj_state_elems(const mb_model *m, const uint8_t *trainable, int rank, size_t extra) {
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++) {
        const mb_param *p = &m->params[i];
        if (trainable && !trainable[i]) continue;
        if (!mb_proj_selected(p)) {
            n += 2 * p->numel;
            continue;
        }
        mb_proj_dims d;
        mb_proj_dims_of(p, rank, &d);
        size_t l = d.m > d.n ? (size_t)d.m : (size_t)d.n,
               sm = d.m < d.n ? (size_t)d.m : (size_t)d.n;
        n += 2 * l * (size_t)d.r + sm * (size_t)d.r + extra;
    }
    return n;
}
