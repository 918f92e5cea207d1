/* methods/adam8bit/adam8bit.c — 8-bit Adam as bitsandbytes' Adam8bit runs it: m and v of each
 * tensor of at least min_8bit_size elements kept as uint8 codes of the dynamic maps with one fp32
 * absmax per block of 256 (the blockwise kernel), smaller tensors with fp32 m and v (its 32-bit
 * path). */
#include <math.h>

#include "../../engine/dynmap.h"
#include "../../engine/train.h"
#include "adam8bit_kernels.h"

enum { P_LR, P_BETA1, P_BETA2, P_EPS, P_WD, P_MIN8, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-3,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "learning rate (bnb.optim.Adam8bit default 1e-3)"},
    {.name = "beta1",
     .type = MB_PT_FLOAT,
     .def = 0.9,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "first-moment decay"},
    {.name = "beta2",
     .type = MB_PT_FLOAT,
     .def = 0.999,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "second-moment decay"},
    {.name = "eps",
     .type = MB_PT_FLOAT,
     .def = 1e-8,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "added to sqrt(v), scaled by sqrt(1 - beta2^t) as bitsandbytes does"},
    {.name = "weight_decay",
     .type = MB_PT_FLOAT,
     .def = 0.0,
     .min = 0,
     .max = 10,
     .choices = NULL,
     .help = "decoupled, applied after the step: p *= 1 - lr*weight_decay (bitsandbytes' order; "
             "torch.optim.AdamW decays before)"},
    {.name = "min_8bit_size",
     .type = MB_PT_INT,
     .def = 4096,
     .min = 1,
     .max = 1e9,
     .choices = NULL,
     .help = "tensors with fewer elements keep fp32 m and v (bitsandbytes' default 4096). Blocks "
             "are 256 "
             "elements as in its code; the paper describes 2048"},
};

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_adam8bit_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_adam8bit_cpu_f32,     [MB_BE_CPU_F64] = &mb_adam8bit_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_adam8bit_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_adam8bit_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_adam8bit_cuda_bf16,
#endif
};

const mb_adam8bit_kernels *mb_adam8bit_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct adam8_state {
    double lr, beta1, beta2, eps, wd;
    size_t min8;
    const mb_adam8bit_kernels *k;
    mb_opt_state st;   /* a: m (codes or fp32), b: v, t: updates per parameter */
    mb_buf *am1, *am2; /* per parameter: block absmax of m and v (8-bit tensors only) */
    mb_buf map;        /* the signed map, then the unsigned one: 2 x 256 fp32 */
} adam8_state;

static mb_status adam8_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    adam8_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    s->lr = v[P_LR].num;
    s->beta1 = v[P_BETA1].num;
    s->beta2 = v[P_BETA2].num;
    s->eps = v[P_EPS].num;
    s->wd = v[P_WD].num;
    s->min8 = (size_t)v[P_MIN8].num;
    s->k = mb_adam8bit_kernels_of(ctx->be);
    if (!s->k)
        return mb_error(ctx, MB_EINVAL, "adam8bit: backend %s has no 8-bit Adam kernel",
                        ctx->be->name);
    MB_TRY(mb_opt_state_init(tr, &s->st, "adam8bit"));
    s->am1 = calloc((size_t)s->st.n, sizeof *s->am1);
    s->am2 = calloc((size_t)s->st.n, sizeof *s->am2);
    if (!s->am1 || !s->am2) return mb_error(ctx, MB_ENOMEM, "adam8bit: host state");
    float maps[512];
    mb_dynmap(1, maps);
    mb_dynmap(0, maps + 256);
    MB_TRY(mb_alloc(ctx, &s->map, sizeof maps, MB_MEM_OPTIMIZER, "adam8bit.qmap"));
    return ctx->be->to_device(ctx, s->map.ptr, maps, sizeof maps);
}

static void adam8_fini(void *priv, mb_train *tr) {
    adam8_state *s = priv;
    for (int i = 0; i < s->st.n; i++) {
        if (s->am1) mb_free(tr->ctx, &s->am1[i]);
        if (s->am2) mb_free(tr->ctx, &s->am2[i]);
    }
    free(s->am1);
    free(s->am2);
    mb_free(tr->ctx, &s->map);
    mb_opt_state_fini(tr, &s->st);
}

static size_t blocks_of(size_t n) {
    return (n + MB_ADAM8_BLOCK - 1) / MB_ADAM8_BLOCK;
}

/* State allocated at the first update, zeroed (code 0 with absmax 0 dequantizes to 0). */
static mb_status adam8_alloc(adam8_state *s, mb_ctx *ctx, const mb_param *p) {
    int i = p->id;
    const mb_mem_cat O = MB_MEM_OPTIMIZER;
    size_t n = p->numel, es = n < s->min8 ? mb_dtype_size(ctx->be->sdtype) : 1;
    MB_TRY(mb_alloc(ctx, &s->st.a[i], n * es, O, "adam8bit.m"));
    MB_TRY(mb_alloc(ctx, &s->st.b[i], n * es, O, "adam8bit.v"));
    ctx->be->zero(ctx, s->st.a[i].ptr, n * es);
    ctx->be->zero(ctx, s->st.b[i].ptr, n * es);
    if (n < s->min8) return MB_OK;
    size_t ab = blocks_of(n) * sizeof(float);
    MB_TRY(mb_alloc(ctx, &s->am1[i], ab, O, "adam8bit.absmax_m"));
    MB_TRY(mb_alloc(ctx, &s->am2[i], ab, O, "adam8bit.absmax_v"));
    ctx->be->zero(ctx, s->am1[i].ptr, ab);
    ctx->be->zero(ctx, s->am2[i].ptr, ab);
    return MB_OK;
}

static mb_status adam8_step(void *priv, mb_train *tr, mb_param *p) {
    adam8_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    int i = p->id;
    if (!s->st.a[i].ptr) MB_TRY(adam8_alloc(s, ctx, p));
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    int t = ++s->st.t[i];
    /* bitsandbytes computes the corrections in float from float betas */
    float c1 = 1.0f - powf((float)s->beta1, (float)t),
          c2 = sqrtf(1.0f - powf((float)s->beta2, (float)t));
    const float *maps = s->map.ptr;
    s->k->adam8bit(ctx, p->w.ptr, p->g.ptr, s->st.a[i].ptr, s->st.b[i].ptr, s->am1[i].ptr,
                   s->am2[i].ptr, master ? master->ptr : NULL, p->numel, maps, maps + 256, s->lr,
                   s->beta1, s->beta2, s->eps, s->wd, c1, c2);
    return MB_OK;
}

/* Per tensor of n >= min_8bit_size: 2n code bytes + 2 fp32 absmax per block of 256; smaller: 2n
 * state elements; plus the two 256-entry fp32 maps (2,048 bytes). */
static void adam8_predict(const mb_pvalue *v, mb_predict *pr) {
    size_t min8 = (size_t)v[P_MIN8].num, bytes = 2 * 256 * sizeof(float);
    const mb_model *m = pr->model;
    for (int i = 0; i < m->nparams; i++) {
        if (pr->trainable && !pr->trainable[i]) continue;
        size_t n = m->params[i].numel;
        bytes += n < min8 ? 2 * n * pr->state_elem : 2 * n + 2 * sizeof(float) * blocks_of(n);
    }
    pr->bytes[MB_MEM_OPTIMIZER] += (int64_t)bytes;
}

const mb_method mb_method_adam8bit = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "adam8bit",
    .paper = "Tim Dettmers, Mike Lewis, Sam Shleifer and Luke Zettlemoyer. 8-bit Optimizers via "
             "Block-wise Quantization. ICLR 2022. arXiv:2110.02861",
    .summary = "Adam with m and v as 8-bit dynamic-map codes, one absmax per block of 256 "
               "(bitsandbytes Adam8bit)",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(adam8_state),
    .init = adam8_init,
    .fini = adam8_fini,
    .optimizer_step = adam8_step,
    .predict_bytes = adam8_predict,
};
