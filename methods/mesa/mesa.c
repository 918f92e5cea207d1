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
    {"groups", MB_PT_INT, 0, 0, 4096, NULL,
     "ranges per saved tensor: its channels in this many contiguous groups (q, k and v each so "
     "split; attention probabilities by heads), dividing the heads; 0 = one per head, as Mesa's "
     "README sets DeiT-Ti (3 groups for its 3 heads). Codes above the range saturate at 255 "
     "(Mesa's packer clamps only at 0), and scale and shift are fp32 (Mesa casts them to the "
     "activation's dtype)"},
    {"ema_decay", MB_PT_FLOAT, 0.9, 0, 0.999999, NULL,
     "decay of the running range (Mesa's lambda): clip and shift move toward each step's max - min "
     "and min by 1 - ema_decay; the first step takes them as measured"},
};

/* The block's saved tensors (gpt.h's order) that are coded: LayerNorm inputs and outputs, q k v,
 * the attention probabilities, the projection's input and GELU's input (whose decoded values
 * give GELU's output too). The LayerNorm statistics stay exact, as does each block's output res3,
 * which is not the block's to save (the next block reads it). */
enum { NSAVED = MB_GPT_BLOCK_INSIDE };
static const int coded[NSAVED] = {1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1};

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
    const mb_mesa_kernels *k;
    mb_buf st;     /* per layer and coded tensor: clip, shift, min, max per group (fp32) */
    mb_buf *codes; /* [L * NSAVED]: the codes of a saved tensor until its backward */
    size_t *bytes; /* [L * NSAVED]: the full tensor's bytes, to give back */
    const char **tag;
    uint8_t *seen; /* [L * NSAVED]: the range has had its first measurement */
} mesa_state;

/* Tensor k's groups and run length, for a batch of B x T: channel splits of G (qkv: 3G over its
 * 3C), the probabilities [B, NH, T, T] by runs of NH/G heads. */
static void layout(const mb_gpt_config *cfg, int G, int k, int T, int *groups, size_t *inner) {
    size_t C = (size_t)cfg->d_model, w = k == 3 ? 3 * C : k == 10 ? 4 * C : C;
    *groups = k == 3 ? 3 * G : G;
    *inner = k == 4 ? (size_t)(cfg->heads / G) * T * T : w / (size_t)*groups;
}

/* Groups before tensor k in a layer's slice of st, and per layer. */
static int groups_before(int G, int k) {
    int n = 0;
    for (int j = 0; j < k; j++) n += coded[j] ? (j == 3 ? 3 * G : G) : 0;
    return n;
}

static mb_status mesa_init(void *priv, mb_train *tr, const mb_pvalue *v) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    const mb_gpt_config *cfg = &tr->model->cfg;
    s->G = v[P_GROUPS].num > 0 ? (int)v[P_GROUPS].num : cfg->heads;
    s->decay = (float)v[P_DECAY].num;
    s->L = cfg->layers;
    if (cfg->heads % s->G)
        return mb_error(ctx, MB_EINVAL,
                        "mesa: groups %d does not divide the model's %d heads (a range must "
                        "cover whole heads)",
                        s->G, cfg->heads);
    for (int i = 0; i < tr->n; i++)
        if (tr->methods[i]->attention)
            return mb_error(ctx, MB_EUNSUPPORTED,
                            "the attention probabilities it codes do not exist under %s: the two "
                            "do not stack yet",
                            tr->methods[i]->name);
    s->k = mb_mesa_kernels_of(ctx->be);
    if (!s->k)
        return mb_error(ctx, MB_EUNSUPPORTED, "backend %s has no 8-bit activation codec",
                        ctx->be->name);
    size_t slots = (size_t)s->L * NSAVED, ng = (size_t)s->L * groups_before(s->G, NSAVED);
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
        for (int k = 0; k < NSAVED; k++) {
            if (!coded[k]) continue;
            int g, base = groups_before(s->G, k) + (int)l * groups_before(s->G, NSAVED);
            size_t inner;
            layout(cfg, s->G, k, 1, &g, &inner);
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
    for (size_t i = 0; s->codes && i < (size_t)s->L * NSAVED; i++) mb_free(tr->ctx, &s->codes[i]);
    mb_free(tr->ctx, &s->st);
    free(s->codes);
    free(s->bytes);
    free(s->tag);
    free(s->seen);
}

static mb_act_mode mesa_policy(void *priv, mb_train *tr, int layer) {
    (void)priv, (void)tr, (void)layer;
    return MB_ACT_CUSTOM;
}

/* Tensor k of block l's range slice (device). */
static float *ranges(const mesa_state *s, int l, int k) {
    int base = l * groups_before(s->G, NSAVED) + groups_before(s->G, k);
    return (float *)s->st.ptr + 4 * (size_t)base;
}

/* After forward: measure and move the range, code the tensor with this step's Philox words
 * (counter (step, block, tensor) << 32, four codes per block) and free the full tensor. */
static mb_status mesa_save(void *priv, mb_train *tr, int l, int k, mb_buf *act) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    if (!coded[k]) return MB_OK;
    size_t n = act->bytes / mb_dtype_size(ctx->be->dtype), inner, i = (size_t)l * NSAVED + k;
    int g;
    layout(&tr->model->cfg, s->G, k, tr->T, &g, &inner);
    float *st = ranges(s, l, k);
    size_t tri = k == 4 ? (size_t)tr->T : 0; /* probabilities: only the causal triangle is data */
    s->k->q8_range(ctx, st, act->ptr, n, inner, g, tri, s->decay, !s->seen[i]);
    s->seen[i] = 1;
    mb_free(ctx, &s->codes[i]);
    MB_TRY(mb_alloc(ctx, &s->codes[i], n, MB_MEM_ACTIVATIONS, "mesa.codes"));
    uint64_t first = ((uint64_t)tr->step * (uint64_t)s->L * NSAVED + i) << 32;
    s->k->q8_pack(ctx, s->codes[i].ptr, act->ptr, st, n, inner, g, tri, tr->seed,
                  MB_RNG_STREAM_MESA, first);
    s->bytes[i] = act->bytes;
    s->tag[i] = act->tag;
    mb_free(ctx, act);
    return MB_OK;
}

/* Before the block's backward: the full tensor back, decoded with the range it was coded with. */
static mb_status mesa_load(void *priv, mb_train *tr, int l, int k, mb_buf *act) {
    mesa_state *s = priv;
    mb_ctx *ctx = tr->ctx;
    if (!coded[k]) return MB_OK;
    size_t i = (size_t)l * NSAVED + k, inner;
    if (!s->codes[i].ptr)
        return mb_error(ctx, MB_EINVAL, "mesa: block %d's tensor %d was not saved", l, k);
    int g;
    layout(&tr->model->cfg, s->G, k, tr->T, &g, &inner);
    MB_TRY(mb_alloc(ctx, act, s->bytes[i], MB_MEM_ACTIVATIONS, s->tag[i]));
    s->k->q8_unpack(ctx, act->ptr, s->codes[i].ptr, ranges(s, l, k), s->codes[i].bytes, inner, g,
                    k == 4 ? (size_t)tr->T : 0);
    mb_free(ctx, &s->codes[i]);
    return MB_OK;
}

/* Every block CUSTOM in the walk. Tensor k is f_k bytes in full and c_k coded (its elements; a
 * statistic stays f_k). After its saves a block keeps sum c_k. Saving k holds the codes beside the
 * full tensor, after the earlier ones were swapped: sum_{j<k} (c_j - f_j) + c_k above the block;
 * restoring k in backward holds sum_{j<=k} f_j + sum_{j>=k} c_j. The ranges are held throughout:
 * 16 bytes per group, 9 G groups per block. */
static void mesa_predict(const mb_pvalue *v, mb_predict *pr) {
    const mb_gpt_config *cfg = &pr->model->cfg;
    int G = v[P_GROUPS].num > 0 ? (int)v[P_GROUPS].num : cfg->heads;
    size_t BT = (size_t)pr->B * pr->T, C = (size_t)cfg->d_model, NH = (size_t)cfg->heads;
    size_t el[NSAVED] = {BT * C, BT,     BT, 3 * BT * C, NH * BT * pr->T, BT * C,
                         BT * C, BT * C, BT, BT,         4 * BT * C};
    size_t f[NSAVED], c[NSAVED], I = 0, keep = 0, fwd = 0, bwd = 0;
    for (int k = 0; k < NSAVED; k++) {
        f[k] = el[k] * (coded[k] ? pr->elem : pr->state_elem); /* uncoded: the statistics */
        c[k] = coded[k] ? el[k] : f[k];
        I += f[k], keep += c[k];
    }
    /* swapped = sum_{j<k} (f_j - c_j), before = sum_{j<k} f_j, after = sum_{j>=k} c_j */
    size_t swapped = 0, before = 0, after = keep;
    for (int k = 0; k < NSAVED; k++) {
        if (coded[k]) {
            size_t save = c[k] - swapped; /* may wrap below I: only the max above I counts */
            if (c[k] > swapped && save > fwd) fwd = save;
            size_t held = before + f[k] + after;
            if (held > I && held - I > bwd) bwd = held - I;
        }
        swapped += f[k] - c[k];
        before += f[k];
        after -= c[k];
    }
    for (int l = 0; l < cfg->layers && pr->walk.mode; l++) pr->walk.mode[l] = MB_ACT_CUSTOM;
    pr->walk.custom_keep = keep;
    pr->walk.custom_fwd = fwd;
    pr->walk.custom_bwd = bwd;
    pr->bytes[MB_MEM_ACTIVATIONS] += (int64_t)(16 * (size_t)cfg->layers * 9 * (size_t)G);
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
    .fini = mesa_fini,
    .act_policy = mesa_policy,
    .act_save = mesa_save,
    .act_load = mesa_load,
    .predict_bytes = mesa_predict,
};
