/* tests/test_mem.c — the tagged allocator: per-category current and peak bytes, the breakdown at
 * the total peak, per-phase peaks, the cap (MB_ENOMEM with the category named) and the failure
 * hook. */
#include "../engine/ctx.h"
#include "check.h"

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    /* an error prefix adds context once: a message its author already began with it is kept */
    mb_error(&ctx, MB_EINVAL, "bad %d", 7);
    CHECK(mb_error_prefix(&ctx, MB_EINVAL, "lora") == MB_EINVAL, "prefix returns its status");
    CHECK_STR(ctx.err, "lora: bad 7");
    mb_error(&ctx, MB_EINVAL, "flash: head size %d", 48);
    mb_error_prefix(&ctx, MB_EINVAL, "%s", "flash");
    CHECK_STR(ctx.err, "flash: head size 48");
    mb_error(&ctx, MB_EINVAL, "flashy: no");
    mb_error_prefix(&ctx, MB_EINVAL, "flash");
    CHECK_STR(ctx.err, "flash: flashy: no");
    mb_mem *m = &ctx.mem;
    mb_buf w, g, a1, a2, z;
    mb_mem_set_phase(m, MB_PHASE_LOAD);
    CHECK_OK(&ctx, mb_alloc(&ctx, &w, 1000, MB_MEM_WEIGHTS, "w"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &z, 0, MB_MEM_OTHER, "empty"));
    CHECK(z.ptr == NULL && m->live == 1, "a zero-byte allocation holds nothing");
    mb_mem_set_phase(m, MB_PHASE_FORWARD);
    CHECK_OK(&ctx, mb_alloc(&ctx, &a1, 300, MB_MEM_ACTIVATIONS, "a1"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &a2, 200, MB_MEM_ACTIVATIONS, "a2"));
    mb_mem_set_phase(m, MB_PHASE_BACKWARD);
    CHECK_OK(&ctx, mb_alloc(&ctx, &g, 1000, MB_MEM_GRADS, "g"));
    /* total peak 2500 here: weights 1000, activations 500, grads 1000 */
    mb_free(&ctx, &a2);
    mb_free(&ctx, &a1);
    mb_buf big;
    CHECK_OK(&ctx, mb_alloc(&ctx, &big, 400, MB_MEM_ACTIVATIONS, "big"));
    CHECK_EQ_U(m->peak_total, 2500);
    CHECK_EQ_U(m->at_peak[MB_MEM_WEIGHTS], 1000);
    CHECK_EQ_U(m->at_peak[MB_MEM_ACTIVATIONS], 500);
    CHECK_EQ_U(m->at_peak[MB_MEM_GRADS], 1000);
    CHECK_EQ_U(m->peak[MB_MEM_ACTIVATIONS], 500);
    CHECK_EQ_U(m->cur[MB_MEM_ACTIVATIONS], 400);
    CHECK_EQ_U(m->cur_total, 2400);
    CHECK_EQ_U(m->phase_peak[MB_PHASE_LOAD], 1000);
    CHECK_EQ_U(m->phase_peak[MB_PHASE_FORWARD], 1500);
    CHECK_EQ_U(m->phase_peak[MB_PHASE_BACKWARD], 2500);
    CHECK_EQ_U(m->phase_peak[MB_PHASE_OPTIMIZER], 0);
    mb_free(&ctx, &big);
    mb_free(&ctx, &big); /* double free of a zeroed buffer is a no-op */

    /* Cap: tracked + baseline must stay <= cap. 2000 held + 100 baseline, cap 2600. */
    m->baseline = 100;
    m->cap = 2600;
    mb_buf c1, c2;
    CHECK_OK(&ctx, mb_alloc(&ctx, &c1, 500, MB_MEM_OPTIMIZER, "exact fit"));
    CHECK(mb_alloc(&ctx, &c2, 1, MB_MEM_OPTIMIZER, "adam.m") == MB_ENOMEM,
          "over the cap by 1 byte");
    CHECK_STR(ctx.err, "out of memory: optimizer 'adam.m' needs 1 bytes; tracked 2500 + runtime "
                       "baseline 100 would exceed the cap of 2600 bytes");
    CHECK(c2.ptr == NULL && m->cur_total == 2500, "a refused allocation changes nothing");
    CHECK(mb_alloc(&ctx, &c2, (size_t)-1, MB_MEM_KV_CACHE, "huge") == MB_ENOMEM, "no overflow");
    mb_free(&ctx, &c1);

    /* Reset: peaks restart at the current values. */
    mb_mem_reset_peaks(m);
    CHECK_EQ_U(m->peak_total, 2000);
    CHECK_EQ_U(m->peak[MB_MEM_ACTIVATIONS], 0);

    /* Failure hook: the 3rd allocation from now fails, the others succeed. */
    m->cap = 0;
    m->fail_at = m->n_allocs + 3;
    mb_buf f[4];
    mb_status st[4];
    for (int i = 0; i < 4; i++) st[i] = mb_alloc(&ctx, &f[i], 8, MB_MEM_WORKSPACE, "ws");
    CHECK(st[0] == MB_OK && st[1] == MB_OK && st[2] == MB_ENOMEM && st[3] == MB_OK,
          "statuses %d %d %d %d", st[0], st[1], st[2], st[3]);
    CHECK(strstr(ctx.err, "injected failure at allocation") != NULL, "message: %s", ctx.err);
    for (int i = 0; i < 4; i++) mb_free(&ctx, &f[i]);

    mb_free(&ctx, &g);
    mb_free(&ctx, &w);
    CHECK_EQ_U(m->cur_total, 0);
    CHECK_EQ_U(m->live, 0);
    CHECK_STR(mb_mem_cat_name(MB_MEM_KV_CACHE), "kv_cache");
    CHECK_STR(mb_phase_name(MB_PHASE_DECODE), "decode");
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
