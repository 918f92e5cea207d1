/* methods/mesa/mesa.c — Mesa: the tensors a block saves for backward are stored as 8-bit codes with
 * a running range per group (per head by default) and stochastic rounding, and decoded before the
 * block's backward; forward computes with the exact values. Read from ziplab/Mesa
 * (custom_quant.py: pack_group, update_clip_val_shift, Quant.forward/restore; the CUDA packer). */
#include <math.h>
#include <stdlib.h>

#include "../../engine/rng.h"
#include "../../engine/train.h"
#include "mesa_kernels.h"

enum { P_GROUPS, P_DECAY, P_N };

static const mb_param_decl params[P_N] = {
    {.name = "groups",
     .type = MB_PT_INT,
     .def = 0,
     .min = 0,
     .max = 4096,
     .choices = NULL,
     .help =
         "ranges per saved tensor: its channels in this many contiguous groups (q, k and v each so "
         "split; attention probabilities by heads), dividing the heads; 0 = one per head, as "
         "Mesa's "
         "README sets DeiT-Ti (3 groups for its 3 heads). Codes above the range saturate at 255 "
         "(Mesa's packer clamps only at 0), and scale and shift are fp32 (Mesa casts them to the "
         "activation's dtype)"},
    {.name = "ema_decay",
     .type = MB_PT_FLOAT,
     .def = 0.9,
     .min = 0,
     .max = 0.999999,
     .choices = NULL,
     .help = "decay of the running range (Mesa's lambda): clip and shift move toward each step's "
             "max - min "
             "and min by 1 - ema_decay; the first step takes them as measured"},
};

/* Every tensor a block saves is coded but its norm statistics (MB_SAVED_STAT), which stay exact,
 * as does each block's output (the residual stream), which is not the block's to save (the next
 * block reads it). With GPT: both LayerNorms' outputs, q k v, the attention probabilities, the
 * projection's input, the residual inside the block and GELU's input (whose decoded values give
 * GELU's output too). */
static int coded(const mb_saved *w) {
    return w->kind != MB_SAVED_STAT;
}

/* The kernels per backend: cuda-tf32 stores fp32, so it runs the f32 ones. */
static const mb_mesa_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_mesa_cpu_f32,     [MB_BE_CPU_F64] = &mb_mesa_cpu_f64,
#ifdef MB_HAVE_CUDA
    [MB_BE_CUDA_F32] = &mb_mesa_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_mesa_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_mesa_cuda_bf16,
#endif
};

const mb_mesa_kernels *mb_mesa_kernels_of(const mb_backend *be) {
    return tables[be->id];
}

typedef struct mesa_state {
    int G; /* groups per channel split */
    float decay;
    int L;
    int ns;                       /* saved tensors per block (the family's list) */
    mb_saved sv[MB_MAX_SAVED];    /* at B = T = 1: kinds, splits and widths */
    int before[MB_MAX_SAVED + 1]; /* groups of the coded tensors before each, per block */
    const mb_mesa_kernels *k;
    mb_buf st;     /* per layer and coded tensor: clip, shift, min, max per group (fp32) */
    mb_buf *codes; /* [L * ns]: the codes of a saved tensor until its backward */
    size_t *bytes; /* [L * ns]: the full tensor's bytes, to give back */
    const char **tag;
    uint8_t *seen; /* [L * ns]: the range has had its first measurement */
} mesa_state;

/* A tensor's groups and run length at sequence T: its column splits each in G groups (q, k and v
 * each so), the probabilities [B, NH, T, T] by runs of NH/G heads. */
static void layout(const mb_saved *w, int G, int T, int *groups, size_t *inner) {
    *groups = w->splits * G;
    *inner =
        w->kind == MB_SAVED_ATTN_PROBS ? (size_t)(w->heads / G) * T * T : w->cols / (size_t)*groups;
}

/* The groups must split the model's heads and every coded tensor's columns evenly, and the
 * probabilities it codes must exist: no method of the stack replaces the attention. */
static mb_status mesa_check(mb_ctx *ctx, const mb_pvalue *v, const mb_model_config *cfg,
                            const mb_method *const *stack, int n) {
    int G = v[P_GROUPS].num > 0 ? (int)v[P_GROUPS].num : cfg->heads;
    if (cfg->heads % G)
        return mb_error(ctx, MB_EINVAL,
                        "groups %d does not divide the model's %d heads (a range must cover "
                        "whole heads)",
                        G, cfg->heads);
    const mb_model_family *fam = mb_model_family_of(cfg->arch);
    mb_saved sv[MB_MAX_SAVED];
    int ns = fam ? fam->saved(cfg, 1, 1, sv) : 0;
    for (int k = 0; k < ns; k++) {
        const mb_saved *w = &sv[k];
        size_t parts = (size_t)w->splits * (size_t)G;
        if (coded(w) && w->kind != MB_SAVED_ATTN_PROBS && w->cols % parts)
            return mb_error(ctx, MB_EINVAL,
                            "groups %d do not split the model's %s (%zu channels in %d part%s) "
                            "evenly; choose groups dividing it",
                            G, w->name, w->cols, w->splits, w->splits > 1 ? "s" : "");
    }
    for (int i = 0; i < n; i++)
        if (stack[i]->attention)
            return mb_error(ctx, MB_EUNSUPPORTED,
                            "the attention probabilities it codes do not exist under %s: the two "
                            "do not stack yet",
                            stack[i]->name);
    return MB_OK;
}

static mb_status mesa_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_model_config *cfg = &tr->model->cfg;
    s->G = v[P_GROUPS].num > 0 ? (int)v[P_GROUPS].num : cfg->heads;
    s->decay = (float)v[P_DECAY].num;
    s->L = cfg->layers;
    s->ns = tr->model->fam->saved(cfg, 1, 1, s->sv);
    for (int k = 0; k < s->ns; k++)
        s->before[k + 1] = s->before[k] + (coded(&s->sv[k]) ? s->sv[k].splits * s->G : 0);
    s->k = mb_mesa_kernels_of(ctx->be);
    if (!s->k)
        return mb_error(ctx, MB_EUNSUPPORTED, "backend %s has no 8-bit activation codec",
                        ctx->be->name);
    size_t slots = (size_t)s->L * s->ns, ng = (size_t)s->L * s->before[s->ns];
    s->codes = calloc(slots, sizeof *s->codes);
    s->bytes = calloc(slots, sizeof *s->bytes);
    s->tag = calloc(slots, sizeof *s->tag);
    s->seen = calloc(slots, 1);
    float *h = malloc(ng * 4 * sizeof *h);
    mb_status st = s->codes && s->bytes && s->tag && s->seen && h
                       ? MB_OK
                       : mb_error(ctx, MB_ENOMEM, "mesa: host state");
    /* min and max start at +inf and -inf: q8_range's starting point (it leaves them so) */
    for (size_t l = 0; st == MB_OK && l < (size_t)s->L; l++)
        for (int k = 0; k < s->ns; k++) {
            if (!coded(&s->sv[k])) continue;
            int g, base = s->before[k] + (int)l * s->before[s->ns];
            size_t inner;
            layout(&s->sv[k], s->G, 1, &g, &inner);
            for (int j = 0; j < g; j++) {
                h[4 * (size_t)base + j] = 1.0f; /* clip, shift: Mesa's initial values */
                h[4 * (size_t)base + g + j] = 0.0f;
                h[4 * (size_t)base + 2 * g + j] = INFINITY;
                h[4 * (size_t)base + 3 * g + j] = -INFINITY;
            }
        }
    if (st == MB_OK)
        st = mb_alloc(ctx, &s->st, ng * 4 * sizeof(float), MB_MEM_ACTIVATIONS, "mesa.ranges");
    if (st == MB_OK) st = ctx->be->to_device(ctx, s->st.ptr, h, s->st.bytes);
    free(h);
    return st;
}

static void mesa_fini(void *priv, mb_train *tr) {
    mesa_state *s = priv;
    for (size_t i = 0; s->codes && i < (size_t)s->L * s->ns; i++) mb_free(tr->ctx, &s->codes[i]);
    mb_free(tr->ctx, &s->st);
    free(s->codes);
    free(s->bytes);
    free(s->tag);
    free(s->seen);
}

/* Every block backward reaches; those under the lowest it reaches are left to whoever drops
 * them (their codes would never be read). */
static mb_act_mode mesa_policy(void *priv, mb_train *tr, int layer) {
    (void)priv;
    return layer < tr->hooks.lowest_layer ? MB_ACT_KEEP : MB_ACT_CUSTOM;
}

/* Tensor k of block l's range slice (device). */
static float *ranges(const mesa_state *s, int l, int k) {
    int base = l * s->before[s->ns] + s->before[k];
    return (float *)s->st.ptr + 4 * (size_t)base;
}

/* After forward: measure and move the range, code the tensor with this step's Philox words
 * (counter (step, block, tensor) << 32, four codes per block) and free the full tensor. */
static mb_status mesa_save(void *priv, mb_train *tr, int l, const mb_saved *w, mb_buf *act) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    if (!coded(w)) return MB_OK;
    int k = w->index;
    size_t n = act->bytes / mb_dtype_size(ctx->be->dtype), inner, i = (size_t)l * s->ns + k;
    int g;
    layout(w, s->G, tr->T, &g, &inner);
    float *st = ranges(s, l, k);
    /* probabilities: only the causal triangle is data */
    size_t tri = w->kind == MB_SAVED_ATTN_PROBS ? (size_t)tr->T : 0;
    s->k->q8_range(ctx, st, act->ptr, n, inner, g, tri, s->decay, !s->seen[i]);
    s->seen[i] = 1;
    mb_free(ctx, &s->codes[i]);
    MB_TRY(mb_alloc(ctx, &s->codes[i], n, MB_MEM_ACTIVATIONS, "mesa.codes"));
    uint64_t first = ((uint64_t)tr->step * (uint64_t)s->L * (uint64_t)s->ns + i) << 32;
    s->k->q8_pack(ctx, s->codes[i].ptr, act->ptr, st, n, inner, g, tri, tr->seed,
                  mb_rng_stream("mesa.rounding"), first);
    s->bytes[i] = act->bytes;
    s->tag[i] = act->tag;
    mb_free(ctx, act);
    return MB_OK;
}

/* Before the block's backward: the full tensor back, decoded with the range it was coded with. */
static mb_status mesa_load(void *priv, mb_train *tr, int l, const mb_saved *w, mb_buf *act) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    if (!coded(w)) return MB_OK;
    int k = w->index;
    size_t i = (size_t)l * s->ns + k, inner;
    if (!s->codes[i].ptr)
        return mb_error(ctx, MB_EINVAL, "mesa: block %d's %s was not saved", l, w->name);
    int g;
    layout(w, s->G, tr->T, &g, &inner);
    MB_TRY(mb_alloc(ctx, act, s->bytes[i], MB_MEM_ACTIVATIONS, s->tag[i]));
    s->k->q8_unpack(ctx, act->ptr, s->codes[i].ptr, ranges(s, l, k), s->codes[i].bytes, inner, g,
                    w->kind == MB_SAVED_ATTN_PROBS ? (size_t)tr->T : 0);
    mb_free(ctx, &s->codes[i]);
    return MB_OK;
}

/* Every block CUSTOM in the walk. Tensor k is f_k bytes in full and c_k coded (its elements; a
 * statistic stays f_k). After its saves a block keeps sum c_k. Saving k holds the codes beside the
 * full tensor, after the earlier ones were swapped: sum_{j<k} (c_j - f_j) + c_k above the block;
 * restoring k in backward holds sum_{j<=k} f_j + sum_{j>=k} c_j. The ranges are held throughout:
 * 16 bytes per group (GPT: 9 G groups per block). Blocks an earlier method claimed are not
 * coded. */
static void mesa_predict(const mb_pvalue *v, mb_predict *pr) {
    const mb_model_config *cfg = &pr->model->cfg;
    int G = v[P_GROUPS].num > 0 ? (int)v[P_GROUPS].num : cfg->heads;
    mb_saved sv[MB_MAX_SAVED];
    int ns = pr->model->fam->saved(cfg, pr->B, pr->T, sv);
    size_t f[MB_MAX_SAVED], c[MB_MAX_SAVED], I = 0, keep = 0, fwd = 0, bwd = 0, groups = 0;
    for (int k = 0; k < ns; k++) {
        size_t el = sv[k].rows * sv[k].cols;
        f[k] = el * (coded(&sv[k]) ? pr->elem : pr->state_elem); /* uncoded: the statistics */
        c[k] = coded(&sv[k]) ? el : f[k];
        I += f[k], keep += c[k];
        groups += coded(&sv[k]) ? (size_t)sv[k].splits * (size_t)G : 0;
    }
    /* swapped = sum_{j<k} (f_j - c_j), before = sum_{j<k} f_j, after = sum_{j>=k} c_j */
    size_t swapped = 0, before = 0, after = keep;
    for (int k = 0; k < ns; k++) {
        if (coded(&sv[k])) {
            size_t save = c[k] - swapped; /* may wrap below I: only the max above I counts */
            if (c[k] > swapped && save > fwd) fwd = save;
            size_t held = before + f[k] + after;
            if (held > I && held - I > bwd) bwd = held - I;
        }
        swapped += f[k] - c[k];
        before += f[k];
        after -= c[k];
    }
    for (int l = 0; l < cfg->layers; l++) mb_predict_claim(pr, l, MB_ACT_CUSTOM);
    mb_walk_own(&pr->walk, MB_SITE_CODEC, keep, fwd, bwd);
    pr->bytes[MB_MEM_ACTIVATIONS] += (int64_t)(16 * (size_t)cfg->layers * groups);
}

const mb_method mb_method_mesa = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "mesa",
    .paper = "Zizheng Pan, Peng Chen, Haoyu He, Jing Liu, Jianfei Cai and Bohan Zhuang. Mesa: A "
             "Memory-saving Training Framework for Transformers. arXiv:2111.11124, 2021",
    .summary = "store the activations saved for backward as 8-bit codes (a running range per head, "
               "stochastic rounding), decoded in backward; forward stays exact",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(mesa_state),
    .init = mesa_init,
    .check = mesa_check,
    .fini = mesa_fini,
    .act_policy = mesa_policy,
    .act_save = mesa_save,
    .act_load = mesa_load,
    .predict_bytes = mesa_predict,
};
