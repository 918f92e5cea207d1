/* tests/test_gpt_memory.c — tracked bytes are exact: weights and grads 4 bytes per parameter
 * (gpt-nano, gpt2-124m), activations equal the formula in gpt.h, per-phase peaks, and a cap below
 * the model's size fails creation with MB_ENOMEM naming the category, freeing everything it had
 * taken. */
#include "check.h"
#include "gpt_fixture.h"

/* gpt-nano with vocabulary V (its own 256, or GPT-2's: then the logits outweigh the rest of
 * backward's scratch and the other side of the peak's max is taken). */
static int check_train_memory(const mb_backend *be, size_t es, int vocab) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    cfg.vocab = vocab;
    size_t P = mb_model_num_params(&cfg);
    mb_model m;
    mb_mem_set_phase(&ctx.mem, MB_PHASE_LOAD);
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 1));
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_WEIGHTS], es * P);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_GRADS], es * P);
    int B = 3, T = 20; /* T below the block size: formulas use the actual T */
    int32_t x[60], y[60];
    fixture_batch(x, y, B * T, cfg.vocab, 9);
    double loss;
    mb_mem_set_phase(&ctx.mem, MB_PHASE_FORWARD);
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &loss));
    size_t act = mb_gpt_act_bytes(&cfg, B, T, es, es, cfg.vocab);
    size_t BT = (size_t)B * T, C = cfg.d_model, L = cfg.layers, NH = cfg.heads, V = cfg.vocab;
    /* the formula written out once more, independently of mb_gpt_act_bytes (sdtype == dtype on
     * the CPU) */
    size_t by_hand = es * (BT * C + L * (12 * BT * C + 4 * BT + NH * BT * T) + 4 * BT * C + BT * C +
                           2 * BT + BT * V + BT);
    CHECK_EQ_U(act, by_hand);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_ACTIVATIONS], act);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_OTHER], 2 * BT * 4);
    mb_mem_set_phase(&ctx.mem, MB_PHASE_BACKWARD);
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    size_t scratch = es * mb_gpt_bwd_scratch_elems(&cfg, B, T);
    CHECK_EQ_U(scratch, es * (9 * BT * C + B * NH * T));
    /* backward: dres and dtmp through the loss, then the logits freed and the rest taken */
    size_t at_loss = act + es * 2 * BT * C, after = act - es * BT * V + scratch;
    size_t peak_act = at_loss > after ? at_loss : after;
    CHECK(vocab == 256 ? after > at_loss : at_loss > after, "V=%d: the wrong side of the max",
          vocab);
    CHECK_EQ_U(mb_gpt_train_act_peak(&cfg, B, T, es, es, cfg.vocab), peak_act);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_ACTIVATIONS], peak_act);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_ACTIVATIONS], 0);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_OTHER], 0);
    size_t model = 2 * es * P, in = 2 * BT * 4;
    CHECK_EQ_U(ctx.mem.peak_total, model + peak_act + in);
    CHECK_EQ_U(ctx.mem.at_peak[MB_MEM_ACTIVATIONS], peak_act);
    CHECK_EQ_U(ctx.mem.phase_peak[MB_PHASE_LOAD], model);
    CHECK_EQ_U(ctx.mem.phase_peak[MB_PHASE_FORWARD], model + act + in);
    CHECK_EQ_U(ctx.mem.phase_peak[MB_PHASE_BACKWARD], model + peak_act + in);
    printf("%s gpt-nano V=%zu B=%d T=%d: weights %zu, grads %zu, activations %zu, peak %zu\n",
           be->name, V, B, T, es * P, es * P, act, peak_act);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.cur_total, 0);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

int main(void) {
    if (check_train_memory(&mb_backend_cpu_f32, 4, 256)) return 1;
    if (check_train_memory(&mb_backend_cpu_f64, 8, 256)) return 1;
    if (check_train_memory(&mb_backend_cpu_f32, 4, 50257)) return 1;

    /* gpt2-124m: allocate weights and grads without training. */
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-124m", &cfg));
    mb_model m;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    CHECK_EQ_U(m.num_params, 124439808);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_WEIGHTS], 4ull * 124439808);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_GRADS], 4ull * 124439808);
    CHECK_EQ_U(ctx.mem.live, 2 * m.nparams);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.cur_total, 0);

    /* A cap one byte below the weights: creation fails, names the category, holds nothing after. */
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    size_t wbytes = 4 * mb_model_num_params(&cfg);
    ctx.mem.cap = wbytes - 1;
    ctx.mem.baseline = 0;
    mb_status s = mb_model_create(&ctx, &cfg, &m);
    CHECK(s == MB_ENOMEM, "status %s", mb_status_name(s));
    printf("capped creation: %s\n", ctx.err);
    CHECK(strncmp(ctx.err, "creating GPT model: out of memory: weights 'ln_f.bias' needs 256 bytes",
                  70) == 0,
          "message: %s", ctx.err);
    CHECK_EQ_U(ctx.mem.cur_total, 0);
    CHECK_EQ_U(ctx.mem.live, 0);
    CHECK(m.params == NULL && m.nparams == 0, "the model is zeroed after a failed create");
    /* With the exact size it fits; the runtime baseline counts against the cap too. */
    ctx.mem.cap = wbytes;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    mb_model_destroy(&ctx, &m);
    ctx.mem.baseline = 1;
    CHECK(mb_model_create(&ctx, &cfg, &m) == MB_ENOMEM, "baseline pushes it over");
    CHECK_EQ_U(ctx.mem.live, 0);
    CHECK_DONE();
}
