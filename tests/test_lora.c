/* tests/test_lora.c — LoRA on gpt-nano: step 0's loss is the base model's bit for bit, adapter
 * gradients match central differences (fp64), every memory category equals the formulas (alone and
 * stacked with checkpointing, adam8bit and cce), and the merge keeps the model's function. */
#include <stdlib.h>
#include <string.h>

#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_adamw;
extern const mb_method mb_method_adam8bit;
extern const mb_method mb_method_checkpointing;
extern const mb_method mb_method_lora;
extern const mb_method mb_method_cce;

enum { B = 3, T = 32, R = 8 };

/* A stack of `n` methods with lora's rank R and alpha 16 (scale 2); the others at defaults. */
typedef struct stack {
    const mb_method *ms[4];
    mb_pvalue vals[4][16];
    const mb_pvalue *vs[4];
    int n;
} stack;

static void make_stack(stack *s, const mb_method *const *ms, int n) {
    s->n = n;
    for (int i = 0; i < n; i++) {
        s->ms[i] = ms[i];
        mb_method_defaults(ms[i], s->vals[i]);
        s->vs[i] = s->vals[i];
        if (ms[i] == &mb_method_lora) {
            s->vals[i][mb_method_param_index(ms[i], "rank")].num = R;
            s->vals[i][mb_method_param_index(ms[i], "alpha")].num = 16;
        }
    }
}

/* gpt-nano on `be` (weights from seed 3) and a trainer over ms[0..n) (seed 5). */
static int setup(const mb_backend *be, const mb_method *const *ms, int n, mb_ctx *ctx,
                 mb_model_config *cfg, mb_model *m, stack *st, mb_train *tr) {
    CHECK_OK(ctx, fixture_nano(ctx, be, 3, cfg, m));
    make_stack(st, ms, n);
    CHECK_OK(ctx, mb_train_init(tr, ctx, m, st->ms, st->vs, st->n, NULL, 5));
    return 0;
}

/* Frees the trainer and the model; nothing may be left. */
static int teardown(mb_ctx *ctx, mb_model *m, mb_train *tr) {
    mb_train_fini(tr);
    mb_model_destroy(ctx, m);
    CHECK_EQ_U(ctx->mem.live, 0);
    return 0;
}

/* Step 0 of [lora, adamw] returns the loss a plain forward of the base model gives, exactly. */
static int check_step0(const mb_backend *be) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, be, 3, &cfg, &m));
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg.vocab, 11);
    double base = 0, first = 0;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &base));
    mb_model_free_acts(&ctx, &m);
    stack st;
    make_stack(&st, (const mb_method *[]){&mb_method_lora, &mb_method_adamw}, 2);
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, st.ms, st.vs, st.n, NULL, 5));
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &first));
    CHECK(memcmp(&base, &first, sizeof base) == 0, "%s: step 0 loss %.17g, base model %.17g",
          be->name, first, base);
    for (int i = 0; i < m.nbase; i++)
        CHECK(m.params[i].g.ptr == NULL, "%s: frozen %s has a gradient buffer", be->name,
              m.params[i].name);
    mb_train_fini(&tr);
    CHECK_EQ_U(m.nparams, m.nbase);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    printf("%s: step 0 loss %.10f equals the base model's bit for bit\n", be->name, first);
    return 0;
}

/* fp64: with B drawn non-zero (so A's gradient is not 0), every adapter's gradient at 3 elements
 * against (L(x + h) - L(x - h)) / 2h, h = 1e-5: truncation ~h^2 |L'''| and rounding
 * ~1e-16 / h = 1e-11, so |fd - g| <= 1e-8 + 1e-6 |g|. */
static int check_gradients(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    stack st;
    mb_train tr;
    if (setup(&mb_backend_cpu_f64, (const mb_method *[]){&mb_method_lora, &mb_method_adamw}, 2,
              &ctx, &cfg, &m, &st, &tr))
        return 1;
    CHECK_EQ_U(m.nparams, m.nbase + 2 * 4 * cfg.layers);
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg.vocab, 12);
    size_t maxn = 0;
    for (int i = m.nbase; i < m.nparams; i++)
        if (m.params[i].numel > maxn) maxn = m.params[i].numel;
    double *h = malloc(maxn * sizeof *h), *g = malloc(maxn * sizeof *g);
    MB_ASSERT(h && g);
    for (int i = m.nbase; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        if (!strstr(p->name, "lora_B")) continue;
        mb_rng_fill_normal(h, p->numel, 99, 7, (uint64_t)i * 100000, 0.0, 0.05);
        CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
    }
    memset(tr.plan.trainable, 1, (size_t)m.nparams);
    CHECK_OK(&ctx, tr.methods[0]->begin_step(tr.priv[0], &tr, &tr.plan));
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, tr.plan.trainable));
    double l0;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &l0));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    double worst = 0, biggest = 0;
    int checked = 0;
    for (int i = m.nbase; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK(p->g.ptr != NULL, "%s has no gradient", p->name);
        if (!p->g.ptr) continue;
        CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, i, g));
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        size_t at[3] = {0, p->numel / 2 + 1, p->numel - 1};
        for (int k = 0; k < 3; k++) {
            const double e = 1e-5, keep = h[at[k]];
            double lp, lm;
            h[at[k]] = keep + e;
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
            CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &lp));
            h[at[k]] = keep - e;
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
            CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &lm));
            h[at[k]] = keep;
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
            double fd = (lp - lm) / (2 * e), d = fabs(fd - g[at[k]]);
            CHECK(d <= 1e-8 + 1e-6 * fabs(g[at[k]]), "%s[%zu]: gradient %.12g, difference %.12g",
                  p->name, at[k], g[at[k]], fd);
            if (d > worst) worst = d;
            if (fabs(g[at[k]]) > biggest) biggest = fabs(g[at[k]]);
            checked++;
        }
    }
    mb_model_free_acts(&ctx, &m);
    CHECK(biggest > 1e-4, "gradients too small to test (largest %g)", biggest);
    printf("fp64: %d adapter gradient entries match central differences, worst %.2e (largest "
           "|g| %.3g)\n",
           checked, worst, biggest);
    free(h);
    free(g);
    return teardown(&ctx, &m, &tr);
}

/* adam8bit's state of the adapters (bitsandbytes: tensors under min_8bit_size 4096 keep fp32 m
 * and v) plus its two maps. */
static size_t adam8_bytes(const mb_model *m) {
    size_t b = 2 * 256 * 4;
    for (int i = m->nbase; i < m->nparams; i++) {
        size_t n = m->params[i].numel;
        b += n < 4096 ? 8 * n : 2 * n + 8 * ((n + 255) / 256);
    }
    return b;
}

/* Two steps of a stack on the fp32 CPU; the measured peak of every category equals the prediction
 * and the formulas written out here. ckpt 0: [lora, adamw]; 1: [lora, checkpointing, adam8bit];
 * 2: [lora, checkpointing, adam8bit, cce]. */
static int check_memory(int ckpt, double *loss) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    stack st;
    mb_train tr;
    const mb_method *stacked[4] = {&mb_method_lora, &mb_method_checkpointing, &mb_method_adam8bit,
                                   &mb_method_cce},
                    *plain[2] = {&mb_method_lora, &mb_method_adamw};
    if (setup(&mb_backend_cpu_f32, ckpt ? stacked : plain, ckpt ? ckpt + 2 : 2, &ctx, &cfg, &m, &st,
              &tr))
        return 1;
    int32_t x[B * T], y[B * T];
    for (int s = 0; s < 2; s++) {
        fixture_batch(x, y, B * T, cfg.vocab, 20 + (uint64_t)s);
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &loss[s]));
    }
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    /* adapters: r (C + 3C) + r (C + C) + r (C + 4C) + r (4C + C) = 16 r C per block */
    const size_t E = 4, C = (size_t)cfg.d_model, L = (size_t)cfg.layers, ad = 16 * R * C * L;
    size_t want[MB_MEM_NCAT] = {0};
    want[MB_MEM_WEIGHTS] = E * (mb_model_num_params(&cfg) + ad);
    want[MB_MEM_GRADS] = E * ad;
    want[MB_MEM_OPTIMIZER] = ckpt ? adam8_bytes(&m) : 2 * E * ad;
    uint8_t all[2] = {MB_ACT_RECOMPUTE, MB_ACT_RECOMPUTE};
    /* cce (its whole vocabulary of 256, a multiple of 64, in one tile): no logits; the LSE from
     * forward to backward, a tile and the running sums in forward, a tile in backward */
    const size_t N = (size_t)B * T, V = (size_t)cfg.vocab;
    mb_act_walk w = {.mode = ckpt ? all : NULL};
    if (ckpt == 2) mb_walk_own(&w, MB_SITE_LOSS, E * N, E * N * V + E * N, E * N * V);
    want[MB_MEM_ACTIVATIONS] = mb_model_act_walk(&cfg, B, T, E, E, cfg.vocab, &w) + 2 * E * N * R;
    want[MB_MEM_OTHER] = 2 * 4 * B * T;
    size_t total = 0;
    for (int k = 0; k < MB_MEM_NCAT; k++) {
        CHECK(ctx.mem.peak[k] == want[k] && (size_t)pr.bytes[k] == want[k],
              "%s %s: measured %zu, predicted %lld, formula %zu", ckpt ? "ckpt" : "plain",
              mb_mem_cat_name((mb_mem_cat)k), ctx.mem.peak[k], (long long)pr.bytes[k], want[k]);
        total += want[k];
    }
    CHECK_EQ_U(ctx.mem.peak_total, total);
    printf("[lora%s] measured = predicted = formula: weights %zu, grads %zu, optimizer %zu, "
           "activations %zu, total %zu bytes\n",
           ckpt == 2 ? ", checkpointing, adam8bit, cce"
           : ckpt    ? ", checkpointing, adam8bit"
                     : ", adamw",
           want[0], want[1], want[2], want[3], total);
    return teardown(&ctx, &m, &tr);
}

/* fp64: after 3 steps (B no longer 0), finish merges W += 2 B A: the weights move by exactly that
 * product and the evaluation loss stays within 1e-12. */
static int check_merge(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    stack st;
    mb_train tr;
    if (setup(&mb_backend_cpu_f64, (const mb_method *[]){&mb_method_lora, &mb_method_adamw}, 2,
              &ctx, &cfg, &m, &st, &tr))
        return 1;
    int32_t x[B * T], y[B * T];
    double l, before, after;
    for (int s = 0; s < 3; s++) {
        fixture_batch(x, y, B * T, cfg.vocab, 30 + (uint64_t)s);
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &l));
    }
    fixture_batch(x, y, B * T, cfg.vocab, 40);
    CHECK_OK(&ctx, mb_train_eval(&tr, x, y, B, T, &before));
    /* block 1's MLP projection: W [C, 4C], A [r, 4C], B [C, r] */
    const size_t C = (size_t)cfg.d_model;
    int wid = 2 + MB_GPT_PER_LAYER + 10, aid = -1;
    for (int i = m.nbase; i < m.nparams; i++)
        if (!strcmp(m.params[i].name, "h.1.mlp.c_proj.lora_A.weight")) aid = i;
    MB_ASSERT(aid > 0 && !strcmp(m.params[aid + 1].name, "h.1.mlp.c_proj.lora_B.weight"));
    double *w0 = malloc(4 * C * C * sizeof *w0), *w1 = malloc(4 * C * C * sizeof *w1);
    double *a = malloc(R * 4 * C * sizeof *a), *b = malloc(C * R * sizeof *b);
    MB_ASSERT(w0 && w1 && a && b);
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[wid].w, 4 * C * C, w0));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[aid].w, R * 4 * C, a));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[aid + 1].w, C * R, b));
    CHECK_OK(&ctx, mb_train_finish(&tr));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[wid].w, 4 * C * C, w1));
    double worst = 0, bmax = 0;
    for (size_t i = 0; i < C; i++)
        for (size_t j = 0; j < 4 * C; j++) {
            double ba = 0;
            for (size_t k = 0; k < R; k++) ba += b[i * R + k] * a[k * 4 * C + j];
            double d = fabs(w1[i * 4 * C + j] - (w0[i * 4 * C + j] + 2 * ba));
            if (d > worst) worst = d;
            if (fabs(ba) > bmax) bmax = fabs(ba);
        }
    CHECK(worst <= 1e-15 && bmax > 1e-4, "merged weight off by %g (largest B A entry %g)", worst,
          bmax);
    CHECK_OK(&ctx, mb_train_eval(&tr, x, y, B, T, &after));
    CHECK(fabs(after - before) <= 1e-12, "eval loss %.17g before the merge, %.17g after", before,
          after);
    printf("fp64 merge: W moved by 2 B A within %.1e (largest entry %.3g); eval loss %.15f before, "
           "%.15f after\n",
           worst, bmax, before, after);
    free(w0), free(w1), free(a), free(b);
    return teardown(&ctx, &m, &tr);
}

/* An optimizer's per-parameter tables are sized when it is set up: lora must come first. */
static int check_order(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 3, &cfg, &m));
    stack st;
    make_stack(&st, (const mb_method *[]){&mb_method_adamw, &mb_method_lora}, 2);
    mb_train tr;
    CHECK(mb_train_init(&tr, &ctx, &m, st.ms, st.vs, st.n, NULL, 5) == MB_EINVAL, "accepted");
    CHECK_STR(ctx.err, "'lora' adds parameters to the model, so it must come before 'adamw' in the "
                       "stack (write [lora, adamw])");
    CHECK_EQ_U(m.nparams, m.nbase);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

int main(void) {
    double plain[2], ckpt[2], all[2];
    if (check_step0(&mb_backend_cpu_f32) || check_step0(&mb_backend_cpu_f64) || check_gradients() ||
        check_memory(0, plain) || check_memory(1, ckpt) || check_memory(2, all) || check_merge() ||
        check_order())
        return 1;
    CHECK(ckpt[0] == plain[0], "step 0: %.17g with checkpointing, %.17g without", ckpt[0],
          plain[0]);
    CHECK(fabs(all[0] - plain[0]) <= 1e-6 * plain[0], "step 0: %.17g with cce, %.17g without",
          all[0], plain[0]);
    CHECK_DONE();
}
