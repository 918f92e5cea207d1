/* tests/test_cce.c — Cut Cross-Entropy against the engine's loss: the loss and every gradient of
 * one step equal within fp32 (and fp64) tolerances for even and uneven vocabulary chunks, and the
 * measured activation peak equals the walk's formula, a logits' worth below the plain step's. */
#include <stdlib.h>
#include <string.h>

#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_sgd;
extern const mb_method mb_method_cce;
extern const mb_method mb_method_checkpointing;

enum { B = 3, T = 32 };

/* A 2-layer model whose 4,000-token head outweighs the rest, as GPT-2's does. */
static const mb_model_config wide = {.layers = 2, .d_model = 64, .heads = 4, .seq_len = 32, .vocab = 4000, .classes = 0};

typedef struct out {
    double loss;
    double *grads;
    size_t act_peak, act_pred;
} out;

/* One forward and backward (then an SGD step with lr 0, which leaves the weights) of [cce?,
 * checkpointing?, sgd] on `be`; chunk 0 leaves cce out. */
static int run(const mb_backend *be, const mb_model_config *cfg, int chunk, int ckpt, out *o) {
    mb_ctx ctx;
    mb_model m;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    CHECK_OK(&ctx, mb_model_create(&ctx, cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 21));
    mb_pvalue sv[8], cv[2], kv[2];
    mb_method_defaults(&mb_method_sgd, sv);
    sv[0].num = 0; /* lr 0: the gradients are the product */
    mb_method_defaults(&mb_method_cce, cv);
    cv[0].num = chunk;
    mb_method_defaults(&mb_method_checkpointing, kv);
    const mb_method *ms[3];
    const mb_pvalue *vs[3];
    int n = 0;
    if (chunk) ms[n] = &mb_method_cce, vs[n++] = cv;
    if (ckpt) ms[n] = &mb_method_checkpointing, vs[n++] = kv;
    ms[n] = &mb_method_sgd, vs[n++] = sv;
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, n, NULL, 1));
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg->vocab, 8);
    y[5] = -1; /* an ignored position */
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &o->loss));
    o->act_peak = ctx.mem.peak[MB_MEM_ACTIVATIONS];
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    o->act_pred = (size_t)pr.bytes[MB_MEM_ACTIVATIONS];
    o->grads = malloc(m.num_params * sizeof *o->grads);
    MB_ASSERT(o->grads);
    size_t off = 0;
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, i, o->grads + off));
        off += m.params[i].numel;
    }
    /* an evaluation keeps nothing of the loss's */
    double l;
    CHECK_OK(&ctx, mb_train_eval(&tr, x, y, B, T, &l));
    CHECK(ctx.mem.cur[MB_MEM_ACTIVATIONS] == 0, "%zu activation bytes left after eval",
          ctx.mem.cur[MB_MEM_ACTIVATIONS]);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

/* max |a - b| / max |b| over the gradients of cfg's parameters. */
static double grad_err(const mb_model_config *cfg, const out *a, const out *b) {
    size_t n = mb_model_num_params(cfg);
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a->grads[i] - b->grads[i]));
        r = fmax(r, fabs(b->grads[i]));
    }
    return d / r;
}

/* Loss and gradients of cce at several chunk sizes against the plain loss on backend be. */
static int check_values(const mb_backend *be, const mb_model_config *cfg, double ltol, double gtol) {
    out plain, c;
    if (run(be, cfg, 0, 0, &plain)) return 1;
    /* one tile (V rounded up to 64); even; a short last chunk */
    const int chunks[3] = {4096, cfg->vocab == 256 ? 64 : 1024, cfg->vocab == 256 ? 192 : 1344};
    for (int k = 0; k < 3; k++) {
        if (run(be, cfg, chunks[k], 0, &c)) return 1;
        double le = fabs(c.loss - plain.loss) / plain.loss, ge = grad_err(cfg, &c, &plain);
        CHECK(le <= ltol && ge <= gtol,
              "%s chunk %d: loss %.17g vs %.17g (rel %.2e), gradients "
              "rel %.2e",
              be->name, chunks[k], c.loss, plain.loss, le, ge);
        printf("%s V=%d chunk %4d: loss %.10f (plain %.10f, rel %.1e, tol %.0e), gradients rel "
               "%.1e (tol %.0e)\n",
               be->name, cfg->vocab, chunks[k], c.loss, plain.loss, le, ltol, ge, gtol);
        free(c.grads);
    }
    free(plain.grads);
    return 0;
}

/* The activation peak: measured = predicted = the walk written out, E = S = 4 bytes on the fp32
 * CPU (ld = V there), for the plain step and cce with a 1,024-entry chunk. */
static int check_memory(void) {
    out plain, c, ck;
    if (run(&mb_backend_cpu_f32, &wide, 0, 0, &plain) ||
        run(&mb_backend_cpu_f32, &wide, 1024, 0, &c) ||
        run(&mb_backend_cpu_f32, &wide, 1024, 1, &ck))
        return 1;
    const size_t E = 4, N = (size_t)B * T, C = 64, V = 4000, Vc = 1024, L = 2, NH = 4;
    size_t I = E * (11 * N * C + NH * N * T + 4 * N), logits = E * N * V;
    size_t act = E * (6 * N * C + L * N * C + N * V + 3 * N) + L * I;
    size_t scratch = E * (9 * N * C + B * NH * T), fwd_blocks = E * (5 + L) * N * C + L * I;
    /* plain: the loss's backward holds the logits with dres and dtmp */
    size_t want_plain = fwd_blocks;
    want_plain = want_plain > act + 2 * E * N * C ? want_plain : act + 2 * E * N * C;
    want_plain = want_plain > act - logits + scratch ? want_plain : act - logits + scratch;
    /* cce: no logits; LSE kept (E N), a tile (E N Vc) and sums (E N) in forward, a tile in
     * backward with dres and dtmp */
    size_t a2 = act - logits, want_cce = fwd_blocks;
    size_t pts[3] = {a2 + E * N + E * N * Vc + E * N, a2 + 2 * E * N * C + E * N + E * N * Vc,
                     a2 + scratch};
    for (int k = 0; k < 3; k++) want_cce = want_cce > pts[k] ? want_cce : pts[k];
    CHECK(plain.act_peak == want_plain && plain.act_pred == want_plain,
          "plain: measured %zu, predicted %zu, formula %zu", plain.act_peak, plain.act_pred,
          want_plain);
    CHECK(c.act_peak == want_cce && c.act_pred == want_cce,
          "cce: measured %zu, predicted %zu, formula %zu", c.act_peak, c.act_pred, want_cce);
    CHECK(ck.act_peak == ck.act_pred && ck.act_peak < c.act_peak,
          "cce + checkpointing: measured %zu, predicted %zu (cce alone %zu)", ck.act_peak,
          ck.act_pred, c.act_peak);
    printf("activation peak, V=4000, B*T=%zu: plain %zu, cce %zu bytes: down %zu; the logits are "
           "%zu, the chunk tile and LSE %zu; with checkpointing %zu\n",
           N, plain.act_peak, c.act_peak, plain.act_peak - c.act_peak, logits, E * N * Vc + E * N,
           ck.act_peak);
    CHECK_EQ_U(plain.act_peak - c.act_peak, logits - E * N * Vc - E * N);
    free(plain.grads), free(c.grads), free(ck.grads);
    return 0;
}

int main(void) {
    mb_model_config nano;
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &nano));
    /* fp32: only the order of the log-sum-exp and of the head's gradient sums differs */
    if (check_values(&mb_backend_cpu_f32, &wide, 1e-6, 1e-5) ||
        check_values(&mb_backend_cpu_f64, &wide, 1e-14, 1e-12) ||
        check_values(&mb_backend_cpu_f32, &nano, 1e-6, 1e-5) || check_memory())
        return 1;
    CHECK_DONE();
}
