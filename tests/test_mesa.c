/* tests/test_mesa.c — Mesa's 8-bit codec and the method: every decoded element within the derived
 * bound of its group's range, stochastic rounding unbiased, the running range as Mesa moves it,
 * saturation above it; on gpt-nano the forward exact, the gradients close, the activation peak
 * equal to the walk written out, and 300 training steps within 2% of AdamW's loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/data.h"
#include "../methods/mesa/q8.h"
#include "../engine/train.h"
#include "../methods/mesa/mesa_kernels.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_mesa;
extern const mb_method mb_method_sgd;
extern const mb_method mb_method_adamw;

/* The decoding error's bound for a group with range [s, s + c], derived in fp32 arithmetic:
 * v = (x - s) * 255/c (255/c rounded: relative 2^-24; x - s rounded: 2^-24 |x - s|) and the code
 * floor(fl(v + u)) with u in [0, 1), so |q - v| < 1 + 2^-16 (v + u < 256 is rounded once, to
 * 2^-16). Decoding fma(q, c/255, s) adds two roundings of 2^-24 relative, and the element type's
 * (fp32: 2^-24 |x^|). So |x^ - x| <= c/255 (1 + 2^-15) + 2^-22 (|x| + |s|), plus, for x outside
 * [s, s + c] (the running range lags), its distance to the range: such a code saturates. */
static double bound(double c, double s, double x) {
    double out = x < s ? s - x : x > s + c ? x - (s + c) : 0.0;
    return c / 255.0 * (1.0 + 0x1.0p-15) + 0x1.0p-22 * (fabs(x) + fabs(s)) + out;
}

/* A tensor grouped two ways, with each group's own offset and scale (a shared range would break
 * the bound of the narrow groups): "att" [3, 4 heads, 10, 10] in 2 groups of 2 heads, runs of 200,
 * causal (tri 10: above each diagonal is not data, here 1e30 and NaN, which must change nothing);
 * "qkv" [30 rows, 96] in 6 groups of 16 columns. group[i] from the shape, not from mb_q8_group. */
typedef struct layout {
    const char *name;
    size_t n, inner;
    int G;
    size_t tri;
} layout;
static const layout layouts[2] = {{"att", 1200, 200, 2, 10}, {"qkv", 2880, 16, 6, 0}};

static int group_of(int which, size_t i) {
    if (which == 0) return (int)((i / 100) % 4) / 2; /* (b, h, t, t'): heads 0-1, 2-3 */
    return (int)((i % 96) / 16);
}

static int above_diagonal(int which, size_t i) {
    return which == 0 && i % 10 > (i / 10) % 10; /* t' > t */
}

static void fill(int which, double *x, size_t n, uint64_t seed) {
    mb_rng_fill_normal(x, n, seed, 1, 0, 0.0, 1.0);
    for (size_t i = 0; i < n; i++) {
        int g = group_of(which, i);
        x[i] = 0.5 * g - 1.0 + x[i] * (0.05 + 0.4 * g); /* narrow to wide, shifted */
        if (above_diagonal(which, i)) x[i] = i % 2 ? NAN : 1e30;
    }
}

/* Device buffers of one codec call on backend be. */
typedef struct codec {
    mb_ctx ctx;
    mb_buf x, xh, q, st;
    size_t es;
} codec;

static int codec_open(codec *k, const mb_backend *be, size_t n, int G) {
    CHECK_OK(&k->ctx, mb_ctx_init(&k->ctx, be));
    k->es = mb_dtype_size(be->dtype);
    CHECK_OK(&k->ctx, mb_alloc(&k->ctx, &k->x, n * k->es, MB_MEM_OTHER, "x"));
    CHECK_OK(&k->ctx, mb_alloc(&k->ctx, &k->xh, n * k->es, MB_MEM_OTHER, "xhat"));
    CHECK_OK(&k->ctx, mb_alloc(&k->ctx, &k->q, n, MB_MEM_OTHER, "codes"));
    CHECK_OK(&k->ctx, mb_alloc(&k->ctx, &k->st, 4 * (size_t)G * sizeof(float), MB_MEM_OTHER, "st"));
    float init[4 * 8];
    for (int g = 0; g < G; g++)
        init[g] = 1, init[G + g] = 0, init[2 * G + g] = INFINITY, init[3 * G + g] = -INFINITY;
    CHECK_OK(&k->ctx, be->to_device(&k->ctx, k->st.ptr, init, 4 * (size_t)G * sizeof(float)));
    return 0;
}

static void codec_close(codec *k) {
    mb_free(&k->ctx, &k->x), mb_free(&k->ctx, &k->xh), mb_free(&k->ctx, &k->q);
    mb_free(&k->ctx, &k->st);
    mb_ctx_fini(&k->ctx);
}

/* x in (through the element type: xs gets the stored values), range update, pack, unpack. */
static int roundtrip(codec *k, const layout *L, double *xs, double *xh, uint8_t *q, float *st,
                     int first, uint64_t counter) {
    const mb_backend *be = k->ctx.be;
    const mb_mesa_kernels *q8 = mb_mesa_kernels_of(be);
    CHECK_OK(&k->ctx, mb_model_param_set(&k->ctx, &k->x, L->n, xs));
    CHECK_OK(&k->ctx, mb_model_param_get(&k->ctx, &k->x, L->n, xs));
    q8->q8_range(&k->ctx, k->st.ptr, k->x.ptr, L->n, L->inner, L->G, L->tri, 0.9f, first);
    q8->q8_pack(&k->ctx, k->q.ptr, k->x.ptr, k->st.ptr, L->n, L->inner, L->G, L->tri, 99,
                mb_rng_stream("mesa.rounding"), counter);
    q8->q8_unpack(&k->ctx, k->xh.ptr, k->q.ptr, k->st.ptr, L->n, L->inner, L->G, L->tri);
    CHECK_OK(&k->ctx, mb_model_param_get(&k->ctx, &k->xh, L->n, xh));
    CHECK_OK(&k->ctx, be->to_host(&k->ctx, q, k->q.ptr, L->n));
    CHECK_OK(&k->ctx, be->to_host(&k->ctx, st, k->st.ptr, 4 * (size_t)L->G * sizeof(float)));
    return 0;
}

static int check_codec(const mb_backend *be, int which) {
    const mb_mesa_kernels *q8 = mb_mesa_kernels_of(be);
    const layout *L = &layouts[which];
    const int G = L->G;
    codec k;
    if (codec_open(&k, be, L->n, G)) return 1;
    double *x = malloc(L->n * sizeof *x), *xh = malloc(L->n * sizeof *xh);
    double *sum = calloc(L->n, sizeof *sum);
    uint8_t *q = malloc(L->n);
    float st[4 * 8];
    MB_ASSERT(x && xh && sum && q);

    /* first measurement: the range is each group's [min, max] as stored */
    fill(which, x, L->n, 5);
    if (roundtrip(&k, L, x, xh, q, st, 1, 0)) return 1;
    float mn[8], mx[8];
    for (int g = 0; g < G; g++) mn[g] = INFINITY, mx[g] = -INFINITY;
    for (size_t i = 0; i < L->n; i++) {
        if (above_diagonal(which, i)) continue;
        int g = group_of(which, i);
        mn[g] = fminf(mn[g], (float)x[i]);
        mx[g] = fmaxf(mx[g], (float)x[i]);
    }
    double worst = 0; /* error over c/255 */
    int lo = 0, hi = 0;
    for (int g = 0; g < G; g++) {
        CHECK(st[g] == mx[g] - mn[g] && st[G + g] == mn[g],
              "%s %s group %d: range [%.9g, +%.9g], want [%.9g, +%.9g]", be->name, L->name, g,
              st[G + g], st[g], mn[g], mx[g] - mn[g]);
        CHECK(st[2 * G + g] == INFINITY && st[3 * G + g] == -INFINITY,
              "%s group %d: min/max not reset", be->name, g);
    }
    int zeroed = 0;
    for (size_t i = 0; i < L->n; i++) {
        int g = group_of(which, i);
        if (above_diagonal(which, i)) {
            zeroed += q[i] == 0 && xh[i] == 0.0;
            continue;
        }
        double e = fabs(xh[i] - x[i]);
        CHECK(e <= bound(st[g], st[G + g], x[i]), "%s %s element %zu: error %.3g over bound %.3g",
              be->name, L->name, i, e, bound(st[g], st[G + g], x[i]));
        worst = fmax(worst, e / (st[g] / 255.0));
        lo += q[i] == 0, hi += q[i] == 255;
    }
    /* the bound is tight (stochastic rounding moves up to a whole step) and the codes span the
     * range: each group's min codes to 0, its max to 255 */
    CHECK(worst > 0.9 && worst <= 1.0 + 0x1.0p-14, "%s %s: worst error %.4f steps", be->name,
          L->name, worst);
    CHECK(lo >= G && hi >= G, "%s %s: %d codes 0 and %d codes 255 for %d groups", be->name, L->name,
          lo, hi, G);
    int skipped = 0;
    for (size_t i = 0; i < L->n; i++) skipped += above_diagonal(which, i);
    CHECK(zeroed == skipped, "%s %s: %d of %d entries above the diagonals coded and decoded as 0",
          be->name, L->name, zeroed, skipped);

    /* unbiased: the mean of 400 codings (400 counters) is x within 5 standard deviations of the
     * mean (one coding's deviation is at most c/255 / 2) */
    const int R = 400;
    float st0[4 * 8];
    memcpy(st0, st, sizeof st0);
    double zmax = 0;
    for (int r = 0; r < R; r++) {
        q8->q8_pack(&k.ctx, k.q.ptr, k.x.ptr, k.st.ptr, L->n, L->inner, G, L->tri, 99,
                    mb_rng_stream("mesa.rounding"), (uint64_t)(r + 1) << 32);
        q8->q8_unpack(&k.ctx, k.xh.ptr, k.q.ptr, k.st.ptr, L->n, L->inner, G, L->tri);
        CHECK_OK(&k.ctx, mb_model_param_get(&k.ctx, &k.xh, L->n, xh));
        for (size_t i = 0; i < L->n; i++) sum[i] += xh[i];
    }
    for (size_t i = 0; i < L->n; i++) {
        int g = group_of(which, i);
        if (above_diagonal(which, i)) continue;
        double sd = st0[g] / 255.0 / 2.0 / sqrt((double)R), d = fabs(sum[i] / R - x[i]);
        double z = (d - 0x1.0p-22 * (fabs(x[i]) + fabs(st0[G + g]))) / sd;
        zmax = fmax(zmax, z);
    }
    CHECK(zmax < 5.0, "%s %s: a mean of %d codings is %.2f sd from x", be->name, L->name, R, zmax);

    /* the range moves as Mesa's update_clip_val_shift: clip -= 0.1 (clip - r), shift likewise;
     * values above the lagging range saturate at 255 and keep the bound with their distance */
    for (size_t i = 0; i < L->n; i++) x[i] = 1.5 * x[i] + 0.3;
    if (roundtrip(&k, L, x, xh, q, st, 0, 7ull << 32)) return 1;
    int outside = 0;
    for (int g = 0; g < G; g++) {
        mn[g] = INFINITY, mx[g] = -INFINITY;
        for (size_t i = 0; i < L->n; i++)
            if (group_of(which, i) == g && !above_diagonal(which, i)) {
                mn[g] = fminf(mn[g], (float)x[i]);
                mx[g] = fmaxf(mx[g], (float)x[i]);
            }
        double c = st0[g] - 0.1 * ((double)st0[g] - (mx[g] - mn[g]));
        double s = st0[G + g] - 0.1 * ((double)st0[G + g] - mn[g]);
        CHECK(fabs(st[g] - c) <= 1e-6 * fabs(c) && fabs(st[G + g] - s) <= 1e-6 * (fabs(s) + 1),
              "%s group %d: range [%.9g, +%.9g] after the move, want [%.9g, +%.9g]", be->name, g,
              st[G + g], st[g], s, c);
    }
    for (size_t i = 0; i < L->n; i++) {
        int g = group_of(which, i);
        if (above_diagonal(which, i)) continue;
        double e = fabs(xh[i] - x[i]);
        int above = x[i] > (double)st[G + g] + st[g] * (1 + 1e-6);
        outside += above || x[i] < st[G + g];
        CHECK(!above || q[i] == 255, "%s element %zu above the range coded %d, not 255", be->name,
              i, q[i]);
        CHECK(e <= bound(st[g], st[G + g], x[i]),
              "%s %s moved range, element %zu: error %.3g over bound %.3g", be->name, L->name, i, e,
              bound(st[g], st[G + g], x[i]));
    }
    CHECK(outside > 0, "%s %s: no element outside the lagging range", be->name, L->name);
    printf("%s %s (%zu elements, %d groups, %d above diagonals ignored): worst error %.4f steps of "
           "c/255 (bound 1 + 2^-15), %d codes 0/255; mean of %d codings within %.2f sd; after the "
           "range moved, %d elements outside it, all within the bound\n",
           be->name, L->name, L->n, G, skipped, worst, lo + hi, R, zmax, outside);
    free(x), free(xh), free(sum), free(q);
    codec_close(&k);
    return 0;
}

/* gpt-nano, B x T, one step of [mesa?, sgd(lr 0)] on batch 40: loss and gradients. */
#define B 3
#define T 32
static int one_step(int mesa, double *loss, double **grads, size_t *act_peak, size_t *act_pred) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 7, &cfg, &m));
    mb_pvalue sv[5], mv[2];
    mb_method_defaults(&mb_method_sgd, sv);
    mb_method_defaults(&mb_method_mesa, mv);
    sv[0].num = 0;
    const mb_method *ms[2] = {&mb_method_mesa, &mb_method_sgd};
    const mb_pvalue *vs[2] = {mv, sv};
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms + !mesa, vs + !mesa, 1 + mesa, NULL, 3));
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg.vocab, 40);
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, loss));
    *act_peak = ctx.mem.peak[MB_MEM_ACTIVATIONS];
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    *act_pred = (size_t)pr.bytes[MB_MEM_ACTIVATIONS];
    *grads = malloc(m.num_params * sizeof **grads);
    MB_ASSERT(*grads);
    for (int i = 0, off = 0; i < m.nparams; off += (int)m.params[i].numel, i++)
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].g, m.params[i].numel, *grads + off));
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

static int check_step(void) {
    double l0, l1, *g0, *g1;
    size_t p0, q0, p1, q1;
    if (one_step(0, &l0, &g0, &p0, &q0) || one_step(1, &l1, &g1, &p1, &q1)) return 1;
    CHECK(memcmp(&l0, &l1, sizeof l0) == 0, "mesa's forward changed the loss: %.17g vs %.17g", l1,
          l0);
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 7, &cfg, &m));
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0, off = 0; i < m.nparams; off += (int)m.params[i].numel, i++) {
        double d = 0, n = 0;
        for (size_t j = 0; j < m.params[i].numel; j++)
            d += (g1[off + j] - g0[off + j]) * (g1[off + j] - g0[off + j]),
                n += g0[off + j] * g0[off + j];
        double rel = sqrt(d / n);
        if (rel > worst) worst = rel, worst_name = m.params[i].name;
    }
    /* 8-bit codes of the saved tensors: each gradient within 5% (relative L2) of the exact one,
     * and not equal to it (the codes are used) */
    CHECK(worst < 0.05 && worst > 1e-4, "worst gradient error %.4g (%s)", worst, worst_name);
    CHECK_EQ_U(p1, q1);
    CHECK_EQ_U(p0, q0);

    /* The walk written out (E = S = 4 on the CPU): a block's tensors f_k, codes c_k (1 byte per
     * element; statistics kept), K = sum c_k after its saves; saving holds ln1's codes beside the
     * whole block; restoring holds fch's codes beside it; the ranges 16 bytes x 9 G per block. */
    size_t E = 4, BT = B * T, C = (size_t)cfg.d_model, NH = (size_t)cfg.heads,
           V = (size_t)cfg.vocab, BTC = BT * C, L = (size_t)cfg.layers;
    size_t I = E * (11 * BTC + NH * BT * T) + 4 * E * BT, K = 11 * BTC + NH * BT * T + 4 * E * BT;
    size_t fwd = 5 * E * BTC + L * E * BTC + (L - 1) * K + I + BTC; /* last block's save */
    size_t end = (6 + L) * E * BTC + L * K + E * BT * V + 3 * E * BT;
    size_t loss_bwd = end + 2 * E * BTC;
    size_t restore = end - E * BT * V + E * (9 * BTC + B * NH * T) - K + I + 4 * BTC;
    size_t want = fwd > loss_bwd ? fwd : loss_bwd;
    want = (want > restore ? want : restore) + 16 * L * 9 * NH;
    CHECK_EQ_U(p1, want);
    printf("gpt-nano B=%d T=%d: loss %.10f both; worst gradient error %.4f (%s); activation peak "
           "%zu bytes (plain %zu), measured = predicted = written out\n",
           B, T, l1, worst, worst_name, p1, p0);
    free(g0), free(g1);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    return 0;
}

/* 300 AdamW steps (lr 1e-3, batch 8 x 32) on synthetic Markov text (vocabulary 256, 4 successors:
 * the floor is ln 4 = 1.386), with and without mesa, on the same batches: the mean training loss
 * of the last 50 steps and of all 300 within 2% of AdamW's. */
static int check_training(void) {
    enum { STEPS = 300, TB = 8, TT = 32, TAIL = 50 };
    mb_ctx dctx;
    mb_dataset d;
    CHECK_OK(&dctx, mb_ctx_init(&dctx, &mb_backend_cpu_f32));
    CHECK_OK(&dctx, mb_data_synthetic(&dctx, &d, 256, 4, 200000, 11, 0.1));
    double all[2] = {0, 0}, tail[2] = {0, 0}, first = 0;
    for (int mesa = 0; mesa < 2; mesa++) {
        mb_ctx ctx;
        mb_model_config cfg;
        mb_model m;
        CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 7, &cfg, &m));
        mb_pvalue av[8], mv[2];
        mb_method_defaults(&mb_method_adamw, av);
        mb_method_defaults(&mb_method_mesa, mv);
        av[0].num = 1e-3;
        const mb_method *ms[2] = {&mb_method_mesa, &mb_method_adamw};
        const mb_pvalue *vs[2] = {mv, av};
        mb_train tr;
        CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms + !mesa, vs + !mesa, 1 + mesa, NULL, 3));
        int32_t x[TB * TT], y[TB * TT];
        for (int s = 0; s < STEPS; s++) {
            double loss;
            CHECK_OK(&dctx, mb_data_batch(&dctx, &d, MB_SPLIT_TRAIN, 5, (uint64_t)s, TB, TT, x, y));
            CHECK_OK(&ctx, mb_train_step(&tr, x, y, TB, TT, &loss));
            if (s == 0) first = loss;
            all[mesa] += loss / STEPS;
            if (s >= STEPS - TAIL) tail[mesa] += loss / TAIL;
        }
        mb_train_fini(&tr);
        mb_model_destroy(&ctx, &m);
        CHECK_EQ_U(ctx.mem.live, 0);
    }
    double ra = all[1] / all[0] - 1, rt = tail[1] / tail[0] - 1;
    printf("300 steps: mean training loss adamw %.4f, mesa+adamw %.4f (%+.2f%%); last 50 steps "
           "%.4f, %.4f (%+.2f%%)\n",
           all[0], all[1], 100 * ra, tail[0], tail[1], 100 * rt);
    CHECK(fabs(ra) <= 0.02 && fabs(rt) <= 0.02,
          "mesa's training loss is more than 2%% from adamw's");
    CHECK(tail[0] < 0.5 * first, "adamw did not train: last 50 steps %.4f, step 0 %.4f", tail[0],
          first);
    mb_data_free(&d);
    return 0;
}

int main(void) {
    const mb_backend *bes[2] = {&mb_backend_cpu_f32, &mb_backend_cpu_f64};
    for (int b = 0; b < 2; b++)
        for (int w = 0; w < 2; w++)
            if (check_codec(bes[b], w)) return 1;
    if (check_step() || check_training()) return 1;
    CHECK_DONE();
}
