/* tests/test_flash.c — flash attention on the CPU: the kernels against the engine's attention
 * (probabilities kept, grouped-query heads too) in fp64 and fp32, the log-sum-exp against its
 * definition; [flash, sgd] on
 * gpt-nano against [sgd]: loss and gradients, and the activation peak measured = predicted = the
 * walk written out, alone and under checkpointing; mesa refuses to stack with it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/train.h"
#include "../methods/flash/flash_kernels.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_flash;
extern const mb_method mb_method_sgd;
extern const mb_method mb_method_mesa;
extern const mb_method mb_method_checkpointing;

static double maxrel(const double *a, const double *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), m = fmax(m, fabs(b[i]));
    return d / fmax(m, 1e-300);
}

/* One (B, T, C, NH, KV) case on backend be: forward and backward of both kernels on the same qkv
 * ([B, T, (NH + 2 KV) hs]) and dout. The tolerances: fp64 1e-12, fp32 1e-5 (relative to the
 * largest magnitude). */
static int check_kernels(const mb_backend *be, int B, int T, int C, int NH, int KV) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    const int hs = C / NH, W = C + 2 * KV * hs;
    const size_t es = mb_dtype_size(be->dtype), n3 = (size_t)B * T * W, n1 = (size_t)B * T * C;
    const size_t rows = (size_t)B * NH * T;
    const double tol = be->dtype == MB_F64 ? 1e-12 : 1e-5;
    double *h = malloc(n3 * sizeof *h), *o1 = malloc(n1 * sizeof *o1),
           *o2 = malloc(n1 * sizeof *o2);
    double *g1 = malloc(n3 * sizeof *g1), *g2 = malloc(n3 * sizeof *g2),
           *l = malloc(rows * sizeof *l);
    MB_ASSERT(h && o1 && o2 && g1 && g2 && l);
    mb_buf qkv, dout, out1, out2, att, lse, D, dq1, dq2, scratch;
    CHECK_OK(&ctx, mb_alloc(&ctx, &qkv, n3 * es, MB_MEM_OTHER, "qkv"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &dout, n1 * es, MB_MEM_OTHER, "dout"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &out1, n1 * es, MB_MEM_OTHER, "out"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &out2, n1 * es, MB_MEM_OTHER, "out"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &att, rows * T * es, MB_MEM_OTHER, "att"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &lse, rows * es, MB_MEM_OTHER, "lse"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &D, rows * es, MB_MEM_OTHER, "D"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &dq1, n3 * es, MB_MEM_OTHER, "dqkv"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &dq2, n3 * es, MB_MEM_OTHER, "dqkv"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &scratch, (size_t)B * NH * T * es, MB_MEM_OTHER, "scratch"));
    mb_rng_fill_normal(h, n3, 9, 1, 0, 0.0, 1.0);
    CHECK_OK(&ctx, mb_model_param_set(&ctx, &qkv, n3, h));
    mb_rng_fill_normal(h, n1, 9, 2, 0, 0.0, 1.0);
    CHECK_OK(&ctx, mb_model_param_set(&ctx, &dout, n1, h));
    be->attention_fwd(&ctx, out1.ptr, att.ptr, qkv.ptr, B, T, C, NH, KV);
    mb_flash_kernels_of(be)->flash_fwd(&ctx, out2.ptr, lse.ptr, qkv.ptr, B, T, C, NH, KV);
    be->attention_bwd(&ctx, dq1.ptr, scratch.ptr, dout.ptr, qkv.ptr, att.ptr, B, T, C, NH, KV);
    mb_flash_kernels_of(be)->flash_bwd(&ctx, dq2.ptr, dout.ptr, qkv.ptr, out2.ptr, lse.ptr, D.ptr,
                                       B, T, C, NH, KV);
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &out1, n1, o1));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &out2, n1, o2));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &dq1, n3, g1));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &dq2, n3, g2));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &lse, rows, l));
    /* the LSE from its definition, in fp64 from the stored qkv */
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &qkv, n3, h));
    double lerr = 0;
    for (int b = 0; b < B; b++)
        for (int hh = 0; hh < NH; hh++)
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY, s[4096], sum = 0;
                MB_ASSERT(T <= 4096);
                for (int j = 0; j <= t; j++) {
                    double d = 0;
                    for (int i = 0; i < hs; i++)
                        d += h[((size_t)b * T + t) * W + hh * hs + i] *
                             h[((size_t)b * T + j) * W + C + hh / (NH / KV) * hs + i];
                    s[j] = d / sqrt((double)hs);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= t; j++) sum += exp(s[j] - mx);
                double want = mx + log(sum), got = l[((size_t)b * NH + hh) * T + t];
                lerr = fmax(lerr, fabs(got - want) / fmax(fabs(want), 1.0));
            }
    double eo = maxrel(o2, o1, n1), eg = maxrel(g2, g1, n3);
    printf("%s B=%d T=%d C=%d NH=%d KV=%d: out %.2e, dqkv %.2e, lse %.2e (tol %.0e)\n", be->name, B,
           T, C, NH, KV, eo, eg, lerr, tol);
    CHECK(eo <= tol && eg <= tol && lerr <= tol, "%s: flash differs from the engine's attention",
          be->name);
    mb_buf *bufs[] = {&qkv, &dout, &out1, &out2, &att, &lse, &D, &dq1, &dq2, &scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mb_free(&ctx, bufs[i]);
    free(h), free(o1), free(o2), free(g1), free(g2), free(l);
    mb_ctx_fini(&ctx);
    return 0;
}

/* gpt-nano one step of [ckpt?, flash?, sgd(lr 0)] on backend be: loss, gradients, activation peak
 * and its prediction. */
typedef struct step_out {
    double loss, *grads;
    size_t peak, pred;
} step_out;

static int one_step(const mb_backend *be, int flash, int ckpt, int B, int T, step_out *o) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, be, 7, &cfg, &m));
    mb_pvalue sv[5], cv[1];
    mb_method_defaults(&mb_method_sgd, sv);
    mb_method_defaults(&mb_method_checkpointing, cv);
    sv[0].num = 0;
    const mb_method *ms[3];
    const mb_pvalue *vs[3];
    int n = 0;
    if (ckpt) ms[n] = &mb_method_checkpointing, vs[n++] = cv;
    if (flash) ms[n] = &mb_method_flash, vs[n++] = NULL;
    ms[n] = &mb_method_sgd, vs[n++] = sv;
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, n, NULL, 3));
    int32_t x[4 * 32], y[4 * 32];
    fixture_batch(x, y, B * T, cfg.vocab, 40);
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &o->loss));
    o->peak = ctx.mem.peak[MB_MEM_ACTIVATIONS];
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    o->pred = (size_t)pr.bytes[MB_MEM_ACTIVATIONS];
    o->grads = malloc(m.num_params * sizeof *o->grads);
    MB_ASSERT(o->grads);
    for (int i = 0, off = 0; i < m.nparams; off += (int)m.params[i].numel, i++)
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].g, m.params[i].numel, o->grads + off));
    /* an evaluation after the step: a lean forward keeps no LSE */
    double vl;
    CHECK_OK(&ctx, mb_model_forward_lean(&ctx, &m, x, y, B, T, &vl));
    mb_model_free_acts(&ctx, &m);
    CHECK(memcmp(&vl, &o->loss, sizeof vl) == 0, "lean forward's loss %.17g, step's %.17g", vl,
          o->loss);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

static int check_model(const mb_backend *be) {
    const int B = 3, T = 32;
    const double tol = be->dtype == MB_F64 ? 1e-12 : 1e-5;
    step_out plain, fl, ck;
    if (one_step(be, 0, 0, B, T, &plain) || one_step(be, 1, 0, B, T, &fl) ||
        one_step(be, 1, 1, B, T, &ck))
        return 1;
    mb_model_config cfg;
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    size_t P = mb_model_num_params(&cfg);
    double eg = maxrel(fl.grads, plain.grads, P), el = fabs(fl.loss - plain.loss) / plain.loss;
    CHECK(el <= tol && eg <= tol, "%s: loss %.3g, gradients %.3g from the plain step", be->name, el,
          eg);
    CHECK(memcmp(fl.grads, ck.grads, P * sizeof(double)) == 0,
          "%s: checkpointing changed flash's gradients", be->name);
    CHECK_EQ_U(fl.peak, fl.pred);
    CHECK_EQ_U(ck.peak, ck.pred);
    CHECK_EQ_U(plain.peak, plain.pred);
    /* The walk written out (E = S = es on the CPU): the plain step's blocks less the
     * probabilities E NH B T T each, plus their LSE rows S NH B T kept to backward; backward's
     * scratch has no attention row and the attention backward takes S NH B T for D. */
    size_t E = mb_dtype_size(be->dtype), BT = (size_t)B * T, C = (size_t)cfg.d_model,
           NH = (size_t)cfg.heads, V = (size_t)cfg.vocab, L = (size_t)cfg.layers, BTC = BT * C;
    size_t I = E * 11 * BTC + 4 * E * BT, R = E * NH * BT; /* inside without probabilities; LSE */
    size_t fwd = E * (5 + L) * BTC + L * (I + R);
    size_t end = (6 + L) * E * BTC + L * (I + R) + E * BT * V + 3 * E * BT;
    size_t lossb = end + 2 * E * BTC;
    size_t blk = end - E * BT * V + E * 9 * BTC + R; /* the top block's backward, with D */
    size_t want = fwd > lossb ? fwd : lossb;
    want = want > blk ? want : blk;
    CHECK_EQ_U(fl.peak, want);
    printf("%s gpt-nano B=%d T=%d: loss %.12f (plain %.12f), gradients %.2e; activation peak %zu "
           "bytes (plain %zu, with checkpointing %zu) = prediction = written out\n",
           be->name, B, T, fl.loss, plain.loss, eg, fl.peak, plain.peak, ck.peak);
    free(plain.grads), free(fl.grads), free(ck.grads);
    mb_ctx_fini(&ctx);
    return 0;
}

/* mesa codes the probabilities flash never makes: the stack is refused with this message. */
static int check_mesa_refused(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 7, &cfg, &m));
    mb_pvalue mv[2], sv[5];
    mb_method_defaults(&mb_method_mesa, mv);
    mb_method_defaults(&mb_method_sgd, sv);
    const mb_method *ms[3] = {&mb_method_flash, &mb_method_mesa, &mb_method_sgd};
    const mb_pvalue *vs[3] = {NULL, mv, sv};
    mb_train tr;
    mb_status s = mb_train_init(&tr, &ctx, &m, ms, vs, 3, NULL, 3);
    CHECK(s == MB_EUNSUPPORTED, "mesa + flash: status %s", mb_status_name(s));
    CHECK_STR(ctx.err, "mesa: the attention probabilities it codes do not exist under flash: the "
                       "two do not stack yet");
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

int main(void) {
    const mb_backend *bes[2] = {&mb_backend_cpu_f64, &mb_backend_cpu_f32};
    for (int i = 0; i < 2; i++) {
        if (check_kernels(bes[i], 2, 37, 24, 3, 3) || check_kernels(bes[i], 1, 64, 64, 4, 4) ||
            check_kernels(bes[i], 2, 1, 16, 2, 2) || check_kernels(bes[i], 2, 37, 64, 4, 2) ||
            check_kernels(bes[i], 1, 50, 48, 4, 1))
            return 1;
        if (check_model(bes[i])) return 1;
    }
    if (check_mesa_refused()) return 1;
    CHECK_DONE();
}
