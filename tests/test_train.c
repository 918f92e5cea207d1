/* tests/test_train.c — the training step calls every slot at its fixed point: a probe method fills
 * each slot by calling the engine's default (and replaces attention, loss and activation storage),
 * and must reproduce the plain stack bit for bit; call counts are checked per slot; an optimizer's
 * optimizer_step_many must give what its optimizer_step gives. */
#include <stdlib.h>

#include "../engine/train.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_sgd, mb_method_adamw;

typedef struct probe {
    mb_buf att[8], logits, saved[8][MB_MAX_SAVED];
    int frozen; /* parameter id frozen by begin_step, -1 none */
    int grad_ready_null;
} probe;

static mb_status p_begin(void *pv, mb_train *tr, mb_step_plan *plan) {
    probe *p = pv;
    (void)tr;
    if (p->frozen >= 0) plan->trainable[p->frozen] = 0;
    return MB_OK;
}
static mb_status p_lin_f(void *pv, mb_train *tr, const mb_linear_call *c) {
    (void)pv;
    return mb_model_linear_default(tr->ctx, c, 0);
}
static mb_status p_lin_b(void *pv, mb_train *tr, const mb_linear_call *c) {
    (void)pv;
    return mb_model_linear_default(tr->ctx, c, 1);
}
static mb_act_mode p_policy(void *pv, mb_train *tr, int layer) {
    (void)pv;
    (void)tr;
    return layer == 0 ? MB_ACT_RECOMPUTE : MB_ACT_CUSTOM;
}
/* CUSTOM: move each tensor into a buffer of our own, and back before backward. */
static mb_status p_save(void *pv, mb_train *tr, int layer, const mb_saved *w, mb_buf *act) {
    probe *p = pv;
    mb_buf *s = &p->saved[layer][w->index];
    MB_TRY(mb_alloc(tr->ctx, s, act->bytes, MB_MEM_ACTIVATIONS, "probe.saved"));
    memcpy(s->ptr, act->ptr, act->bytes);
    mb_free(tr->ctx, act);
    return MB_OK;
}
static mb_status p_load(void *pv, mb_train *tr, int layer, const mb_saved *w, mb_buf *act) {
    probe *p = pv;
    mb_buf *s = &p->saved[layer][w->index];
    MB_TRY(mb_alloc(tr->ctx, act, s->bytes, MB_MEM_ACTIVATIONS, "probe.loaded"));
    memcpy(act->ptr, s->ptr, s->bytes);
    mb_free(tr->ctx, s);
    return MB_OK;
}
static mb_status p_attn(void *pv, mb_train *tr, const mb_attn_call *c) {
    probe *p = pv;
    size_t es = mb_dtype_size(tr->ctx->be->dtype);
    mb_attn_call d = *c;
    if (!c->backward) {
        mb_free(tr->ctx, &p->att[c->layer]); /* a recomputed block runs forward again */
        MB_TRY(mb_alloc(tr->ctx, &p->att[c->layer], (size_t)c->NH * c->B * c->T * c->T * es,
                        MB_MEM_ACTIVATIONS, "probe.att"));
        d.att = p->att[c->layer].ptr;
        return mb_model_attention_default(tr->ctx, &d, NULL);
    }
    mb_buf scratch;
    MB_TRY(mb_alloc(tr->ctx, &scratch, (size_t)c->NH * c->B * c->T * es, MB_MEM_ACTIVATIONS, "s"));
    d.att = p->att[c->layer].ptr;
    mb_status s = mb_model_attention_default(tr->ctx, &d, scratch.ptr);
    mb_free(tr->ctx, &scratch);
    mb_free(tr->ctx, &p->att[c->layer]);
    return s;
}
static mb_status p_loss(void *pv, mb_train *tr, const mb_loss_call *c) {
    probe *p = pv;
    mb_loss_call d = *c;
    if (!c->backward)
        MB_TRY(mb_alloc(tr->ctx, &p->logits,
                        (size_t)c->N * c->ld * mb_dtype_size(tr->ctx->be->dtype),
                        MB_MEM_ACTIVATIONS, "probe.logits"));
    d.logits = p->logits.ptr;
    mb_status s = mb_model_loss_default(tr->ctx, &d);
    if (c->backward) mb_free(tr->ctx, &p->logits);
    return s;
}
static mb_status p_grad_ready(void *pv, mb_train *tr, mb_param *prm) {
    probe *p = pv;
    (void)tr;
    if (!prm->g.ptr) p->grad_ready_null++;
    return MB_OK;
}
static void p_fini(void *pv, mb_train *tr) {
    probe *p = pv;
    mb_free(tr->ctx, &p->logits);
    for (int l = 0; l < 8; l++) {
        mb_free(tr->ctx, &p->att[l]);
        for (int k = 0; k < MB_MAX_SAVED; k++) mb_free(tr->ctx, &p->saved[l][k]);
    }
}
static mb_status p_init(void *pv, mb_train *tr, const mb_pvalue *v) {
    probe *p = pv;
    (void)tr;
    p->frozen = (int)v[0].num;
    return MB_OK;
}
static const mb_param_decl probe_params[] = {{.name = "frozen",
                                             .type = MB_PT_INT,
                                             .def = -1,
                                             .min = -1,
                                             .max = 1000,
                                             .choices = NULL,
                                             .help = "parameter id to freeze"}};
static const mb_method probe_method = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "probe",
    .paper = "test",
    .summary = "test",
    .params = probe_params,
    .nparams = 1,
    .priv_size = sizeof(probe),
    .init = p_init,
    .fini = p_fini,
    .begin_step = p_begin,
    .linear_forward = p_lin_f,
    .linear_backward = p_lin_b,
    .act_policy = p_policy,
    .act_save = p_save,
    .act_load = p_load,
    .attention = p_attn,
    .loss = p_loss,
    .grad_ready = p_grad_ready,
};

/* Trains 3 steps of gpt-nano with [extra..., opt] (opt NULL: sgd with lr 0.1, momentum 0.9;
 * else with lr 0.01); returns losses, weights. */
static int run_opt(const mb_method *extra, const mb_method *opt, int frozen, double loss[3],
                   double **w, uint64_t calls[], size_t *act_peak) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 11, &cfg, &m));
    mb_pvalue ov[8], pv[1] = {{frozen}};
    if (!opt) {
        opt = &mb_method_sgd;
        mb_method_defaults(opt, ov);
        ov[0].num = 0.1;
        ov[1].num = 0.9;
    } else {
        mb_method_defaults(opt, ov);
        ov[0].num = 0.01;
    }
    const mb_method *ms[2];
    const mb_pvalue *vs[2];
    int n = 0;
    if (extra) {
        ms[n] = extra;
        vs[n++] = pv;
    }
    ms[n] = opt;
    vs[n++] = ov;
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, n, NULL, 1));
    int B = 2, T = cfg.seq_len;
    int32_t x[64], y[64];
    for (int s = 0; s < 3; s++) {
        fixture_batch(x, y, B * T, cfg.vocab, 100); /* one batch: the loss must fall */
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &loss[s]));
    }
    *act_peak = ctx.mem.peak[MB_MEM_ACTIVATIONS];
    memcpy(calls, tr.calls, sizeof tr.calls);
    size_t off = 0;
    *w = malloc(m.num_params * sizeof **w);
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].w, m.params[i].numel, *w + off));
        off += m.params[i].numel;
    }
    if (extra) CHECK(((probe *)tr.priv[0])->grad_ready_null == 0, "grad_ready without a gradient");
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK(ctx.mem.live == 0, "%zu buffers leaked", ctx.mem.live);
    return 0;
}

static int run(const mb_method *extra, int frozen, double loss[3], double **w, uint64_t calls[],
               size_t *act_peak) {
    return run_opt(extra, NULL, frozen, loss, w, calls, act_peak);
}

int main(void) {
    double l0[3], l1[3], l2[3], *w0, *w1, *w2;
    uint64_t c0[MB_NSLOTS], c1[MB_NSLOTS], c2[MB_NSLOTS];
    size_t a0, a1, a2;
    if (run(NULL, -1, l0, &w0, c0, &a0) || run(&probe_method, -1, l1, &w1, c1, &a1)) return 1;
    mb_model_config cfg = {.layers = 2, .d_model = 64, .heads = 4, .seq_len = 32, .vocab = 256, .classes = 0};
    size_t P = mb_model_num_params(&cfg);
    for (int s = 0; s < 3; s++)
        CHECK(l0[s] == l1[s], "step %d: loss %.9g vs %.9g", s, l0[s], l1[s]);
    CHECK(memcmp(w0, w1, P * sizeof *w0) == 0, "weights after 3 steps differ");
    CHECK(l0[2] < l0[0], "loss did not fall: %.5f -> %.5f", l0[0], l0[2]);
    /* Per step with L = 2 blocks, block 0 recomputed and block 1 custom: */
    int L = 2, np = 4 + 12 * L;
    CHECK_EQ_U(c1[0], 3);               /* begin_step */
    CHECK_EQ_U(c1[1], 3 * (4 * L + 4)); /* linear_forward: + 4 for the recomputed block */
    CHECK_EQ_U(c1[2], 3 * (4 * L));     /* linear_backward */
    CHECK_EQ_U(c1[3], 3 * (2 * L));     /* act_policy: after forward and before backward */
    CHECK_EQ_U(c1[4], 3 * 10);          /* act_save: block 1's 11 tensors less att (replaced) */
    CHECK_EQ_U(c1[5], 3 * 10);          /* act_load */
    CHECK_EQ_U(c1[6], 3 * (2 * L + 1)); /* attention: fwd, recompute of block 0, bwd */
    CHECK_EQ_U(c1[7], 3 * 2);           /* loss: fwd and bwd */
    CHECK_EQ_U(c1[8], 3 * np);          /* grad_ready: once per parameter */
    CHECK_EQ_U(c1[9], 3 * np);          /* optimizer_step */
    CHECK_EQ_U(c1[10], 0);              /* train_step: not filled */
    CHECK_EQ_U(c0[9], 3 * np);
    CHECK(a1 < a0, "recompute should lower the activation peak: %zu vs %zu", a1, a0);
    printf("activation peak: plain %zu bytes, probe (recompute + custom) %zu bytes\n", a0, a1);

    /* begin_step freezes ln_f.bias (last parameter): no gradient, no update, others identical. */
    int fb = np - 1;
    if (run(&probe_method, fb, l2, &w2, c2, &a2)) return 1;
    CHECK_EQ_U(c2[9], 3 * (np - 1));
    CHECK_EQ_U(c2[8], 3 * (np - 1));
    size_t off = P - 64;
    double *init_bias = calloc(64, sizeof(double)); /* biases start at 0 */
    CHECK(memcmp(w2 + off, init_bias, 64 * sizeof(double)) == 0, "frozen ln_f.bias moved");
    CHECK(memcmp(w0 + off, init_bias, 64 * sizeof(double)) != 0, "ln_f.bias never moves");
    free(init_bias);
    free(w0);
    free(w1);

    /* optimizer_step_many (adamw: every parameter in one call) against the same method with only
     * optimizer_step, with ln_f.bias frozen: the same weights bit for bit, the same count of
     * parameter updates */
    CHECK(mb_method_adamw.optimizer_step_many != NULL, "adamw fills optimizer_step_many");
    mb_method one = mb_method_adamw;
    one.optimizer_step_many = NULL;
    double l3[3], l4[3], *w3, *w4;
    uint64_t c3[MB_NSLOTS], c4[MB_NSLOTS];
    size_t a3, a4;
    if (run_opt(&probe_method, &mb_method_adamw, fb, l3, &w3, c3, &a3) ||
        run_opt(&probe_method, &one, fb, l4, &w4, c4, &a4))
        return 1;
    CHECK(memcmp(w3, w4, P * sizeof *w3) == 0, "adamw: many-tensor weights differ from one-tensor");
    CHECK(memcmp(w3, w2, P * sizeof *w3) != 0, "adamw and sgd gave the same weights");
    CHECK_EQ_U(c3[9], 3 * (np - 1));
    CHECK_EQ_U(c4[9], 3 * (np - 1));
    CHECK(l3[2] < l3[0], "adamw: loss did not fall: %.5f -> %.5f", l3[0], l3[2]);
    free(w2);
    free(w3);
    free(w4);
    CHECK_DONE();
}
