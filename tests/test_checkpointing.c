/* tests/test_checkpointing.c — checkpointing recomputes blocks without changing a bit: gradients of
 * one backward and 3 SGD steps equal the plain stack's exactly (every block, every 2nd), and the
 * measured activation peak equals the prediction and, for every block, the closed form. */
#include <stdlib.h>
#include <string.h>

#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_sgd;
extern const mb_method mb_method_checkpointing;

/* gpt-nano trained 3 steps by [checkpointing(every)?, sgd]; every 0 leaves checkpointing out.
 * Returns the losses, the gradients of the last backward and the weights, all as doubles. */
typedef struct run_out {
    double loss[3];
    double *grads, *weights;
    size_t act_peak, act_pred;
} run_out;

static int run(int every, run_out *o) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 7, &cfg, &m));
    mb_pvalue sgdv[5], ckv[1];
    mb_method_defaults(&mb_method_sgd, sgdv);
    sgdv[0].num = 0.1;
    sgdv[1].num = 0.9;
    mb_method_defaults(&mb_method_checkpointing, ckv);
    ckv[0].num = every;
    const mb_method *ms[2];
    const mb_pvalue *vs[2];
    int n = 0;
    if (every) {
        ms[n] = &mb_method_checkpointing;
        vs[n++] = ckv;
    }
    ms[n] = &mb_method_sgd;
    vs[n++] = sgdv;
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, n, NULL, 1));
    int B = 3, T = cfg.seq_len;
    int32_t x[3 * 32], y[3 * 32];
    for (int s = 0; s < 3; s++) {
        fixture_batch(x, y, B * T, cfg.vocab, 40 + (uint64_t)s);
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &o->loss[s]));
    }
    o->act_peak = ctx.mem.peak[MB_MEM_ACTIVATIONS];
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    o->act_pred = (size_t)pr.bytes[MB_MEM_ACTIVATIONS];
    o->grads = malloc(m.num_params * sizeof *o->grads);
    o->weights = malloc(m.num_params * sizeof *o->weights);
    MB_ASSERT(o->grads && o->weights);
    size_t off = 0;
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].g, m.params[i].numel, o->grads + off));
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].w, m.params[i].numel, o->weights + off));
        off += m.params[i].numel;
    }
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK(ctx.mem.live == 0, "%zu buffers leaked", ctx.mem.live);
    return 0;
}

int main(void) {
    run_out plain, all, half;
    if (run(0, &plain) || run(1, &all) || run(2, &half)) return 1;
    mb_ctx ctx;
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    size_t P = mb_model_num_params(&cfg);
    const run_out *ck[2] = {&all, &half};
    for (int k = 0; k < 2; k++) {
        for (int s = 0; s < 3; s++)
            CHECK(memcmp(&plain.loss[s], &ck[k]->loss[s], sizeof(double)) == 0,
                  "every=%d step %d: loss %.17g vs plain %.17g", k + 1, s, ck[k]->loss[s],
                  plain.loss[s]);
        CHECK(memcmp(plain.grads, ck[k]->grads, P * sizeof(double)) == 0,
              "every=%d: gradients differ from the plain backward", k + 1);
        CHECK(memcmp(plain.weights, ck[k]->weights, P * sizeof(double)) == 0,
              "every=%d: weights after 3 steps differ", k + 1);
        CHECK_EQ_U(ck[k]->act_peak, ck[k]->act_pred);
    }
    CHECK_EQ_U(plain.act_peak, plain.act_pred);

    /* Every block recomputed, written out (E = S = 4, ld = V on the CPU): forward holds encoded,
     * the GELU buffer and L res3 plus one block's inside I; backward adds dres and dtmp, frees the
     * logits, takes the rest of its scratch and then one recomputed block's inside. */
    size_t E = 4, B = 3, T = (size_t)cfg.seq_len, BT = B * T, C = (size_t)cfg.d_model,
           L = (size_t)cfg.layers, NH = (size_t)cfg.heads, V = (size_t)cfg.vocab;
    size_t I = E * (11 * BT * C + NH * BT * T + 4 * BT);
    CHECK_EQ_U(mb_gpt_block_inside_bytes(&cfg, (int)B, (int)T, E, E), I);
    size_t f1 = E * (5 + L) * BT * C + I;
    size_t f2 = E * ((6 + L) * BT * C + 3 * BT + BT * V + 2 * BT * C);
    size_t f3 = f2 - E * BT * V + E * (7 * BT * C + B * NH * T) + I;
    size_t want = f1 > f2 ? f1 : f2;
    want = want > f3 ? want : f3;
    CHECK_EQ_U(all.act_peak, want);
    /* with L = 2, every 2nd block is block 0 alone: backward frees block 1 before recomputing
     * block 0, so the peak is every block's */
    CHECK(all.act_peak == half.act_peak && half.act_peak < plain.act_peak,
          "peaks not ordered: every block %zu, every 2nd %zu, none %zu", all.act_peak,
          half.act_peak, plain.act_peak);
    printf("gpt-nano B=3 T=%zu activation peak: plain %zu, every 2nd block %zu, every block %zu "
           "bytes; gradients and 3 SGD steps bitwise equal\n",
           T, plain.act_peak, half.act_peak, all.act_peak);
    free(plain.grads), free(plain.weights), free(all.grads), free(all.weights);
    free(half.grads), free(half.weights);
    CHECK_DONE();
}
