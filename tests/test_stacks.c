/* tests/test_stacks.c — what a stack may combine: every registered method alone on llama-nano
 * (measured = predicted in every category but the transient workspace), the chained slots on
 * gpt-nano ([lora, lisa], [lisa, checkpointing], [lora, lisa, adam8bit], [checkpointing, mesa])
 * measured = predicted, and the stack check's errors word for word. */
#include <stdlib.h>
#include <string.h>

#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_adamw;

typedef struct setting {
    const char *method, *param;
    double value;
} setting;

/* Parameters that differ from the defaults here: ranks that fit a 64-wide model, LISA drawing one
 * block of two anew each step (both are drawn within the run, so its bounds are reached). */
static const setting settings[] = {
    {.method = "galore", .param = "rank", .value = 8},
    {.method = "apollo", .param = "rank", .value = 8},
    {.method = "lisa", .param = "layers", .value = 1},
    {.method = "lisa", .param = "interval", .value = 1},
    {.method = "lora", .param = "rank", .value = 4},
};

static void values(const mb_method *m, mb_pvalue *v) {
    mb_method_defaults(m, v);
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (!strcmp(settings[i].method, m->name)) {
            int k = mb_method_param_index(m, settings[i].param);
            if (k >= 0) v[k].num = settings[i].value;
        }
}

/* Trains `steps` steps of `preset` with the named stack (adamw added when it has no optimizer) and
 * checks every category's peak against the prediction but WORKSPACE: the transient scratch of a
 * projection's SVD or of cuBLAS, which no prediction covers. Returns 0 when it ran and matched, 2
 * when the stack was refused (the message in err), 1 on a failed check. */
static int run(const mb_registry *reg, const char *preset, const char *const *names, int n,
               int steps, char *err, size_t errn) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    const mb_method *ms[8];
    mb_pvalue vals[8][16];
    const mb_pvalue *vs[8];
    char label[128] = "";
    for (int i = 0; i < n; i++) {
        ms[i] = mb_registry_find(reg, names[i]);
        if (!ms[i]) {
            fprintf(stderr, "no method %s\n", names[i]);
            return 1;
        }
        values(ms[i], vals[i]);
        vs[i] = vals[i];
        strcat(label, i ? "+" : "");
        strcat(label, names[i]);
    }
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    CHECK_OK(&ctx, mb_model_preset(&ctx, preset, &cfg));
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 3));
    mb_train tr;
    mb_status s = mb_train_init(&tr, &ctx, &m, ms, vs, n, &mb_method_adamw, 11);
    if (s != MB_OK) {
        snprintf(err, errn, "%s", ctx.err);
        mb_model_destroy(&ctx, &m);
        mb_ctx_fini(&ctx);
        return 2;
    }
    int B = 2, T = 16;
    int32_t x[32], y[32];
    double loss = 0;
    for (int t = 0; t < steps; t++) {
        fixture_batch(x, y, B * T, cfg.vocab, 100 + (uint64_t)t);
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &loss));
    }
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    int bad = 0;
    for (int k = 0; k < MB_MEM_NCAT; k++)
        if (k != MB_MEM_WORKSPACE && ctx.mem.peak[k] != (size_t)pr.bytes[k]) {
            fprintf(stderr, "%s on %s: %s measured %zu, predicted %lld\n", label, preset,
                    mb_mem_cat_name((mb_mem_cat)k), ctx.mem.peak[k], (long long)pr.bytes[k]);
            bad++;
        }
    CHECK(bad == 0, "%s on %s: %d categories differ from the prediction", label, preset, bad);
    CHECK(loss == loss && loss > 0, "%s on %s: loss %g", label, preset, loss);
    printf("%-28s %-10s loss %.4f  weights %8zu grads %8zu optimizer %8zu activations %8zu = "
           "predicted\n",
           label, preset, loss, ctx.mem.peak[MB_MEM_WEIGHTS], ctx.mem.peak[MB_MEM_GRADS],
           ctx.mem.peak[MB_MEM_OPTIMIZER], ctx.mem.peak[MB_MEM_ACTIVATIONS]);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK(ctx.mem.live == 0, "%s: %zu buffers leaked", label, ctx.mem.live);
    mb_ctx_fini(&ctx);
    return bad ? 1 : 0;
}

int main(void) {
    mb_registry reg;
    mb_registry_init(&reg);
    char err[1024];
    int ran = 0, refused = 0;
    for (int i = 0; i < mb_registry_count(&reg); i++) {
        const char *name = mb_registry_get(&reg, i)->name;
        int r = run(&reg, "llama-nano", &name, 1, 4, err, sizeof err);
        if (r == 1) return 1;
        /* every method runs on llama-nano's CPU cell (flash too: grouped-query kernels) */
        CHECK(r != 2, "%s refused llama-nano: %s", name, err);
        if (r == 2) {
            printf("%-28s %-10s refused: %s\n", name, "llama-nano", err);
            refused++;
        } else {
            ran++;
        }
    }
    CHECK(ran + refused == mb_registry_count(&reg) && ran >= 15, "%d ran, %d refused", ran,
          refused);
    /* chained slots: begin_step (lora, lisa) and per-layer activation claims */
    static const char *const s1[] = {"lora", "lisa"}, *const s2[] = {"lisa", "checkpointing"},
                             *const s3[] = {"lora", "lisa", "adam8bit"},
                             *const s4[] = {"checkpointing", "mesa"};
    const struct {
        const char *const *names;
        int n;
    } stacks[] = {{s1, 2}, {s2, 2}, {s3, 3}, {s4, 2}};
    for (size_t k = 0; k < sizeof stacks / sizeof *stacks; k++)
        for (int f = 0; f < 2; f++)
            CHECK(run(&reg, f ? "llama-nano" : "gpt-nano", stacks[k].names, stacks[k].n, 6, err,
                      sizeof err) == 0,
                  "stack %zu on %s: %s", k, f ? "llama-nano" : "gpt-nano", err);
    /* what the stack check refuses, at load as at set-up */
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    const mb_method *bad1[2] = {mb_registry_find(&reg, "adamw"), mb_registry_find(&reg, "lora")};
    CHECK(mb_stack_check(&ctx, bad1, 2) == MB_EINVAL, "adamw before lora accepted");
    CHECK_STR(ctx.err, "'lora' adds parameters to the model, so it must come before 'adamw' in the "
                       "stack (write [lora, adamw])");
    const mb_method *bad2[2] = {mb_registry_find(&reg, "cce"), mb_registry_find(&reg, "cce")};
    CHECK(mb_stack_check(&ctx, bad2, 2) == MB_EINVAL, "cce twice accepted");
    CHECK_STR(ctx.err, "method 'cce' appears twice in one stack");
    const mb_method *bad3[2] = {mb_registry_find(&reg, "sgd"), mb_registry_find(&reg, "galore")};
    CHECK(mb_stack_check(&ctx, bad3, 2) == MB_EINVAL, "two optimizers accepted");
    CHECK_STR(ctx.err, "methods 'sgd' and 'galore' both fill the optimizer_step slot, which takes "
                       "one owner");
    const mb_method *bad4[2] = {mb_registry_find(&reg, "lora"), mb_registry_find(&reg, "lomo")};
    CHECK(mb_stack_check(&ctx, bad4, 2) == MB_EINVAL, "[lora, lomo] accepted");
    CHECK_STR(ctx.err, "'lora' adds parameters whose gradients the model's backward does not "
                       "report to grad_ready, so it does not stack with 'lomo'");
    const mb_method *bad5[2] = {mb_registry_find(&reg, "lisa"), mb_registry_find(&reg, "lora")};
    CHECK(mb_stack_check(&ctx, bad5, 2) == MB_EINVAL, "[lisa, lora] accepted");
    CHECK_STR(ctx.err, "'lora' adds parameters to the model, so it must come before 'lisa' in the "
                       "stack (write [lora, lisa])");
    const mb_method *ok[3] = {mb_registry_find(&reg, "lora"), mb_registry_find(&reg, "lisa"),
                              mb_registry_find(&reg, "checkpointing")};
    CHECK(mb_stack_check(&ctx, ok, 3) == MB_OK, "[lora, lisa, checkpointing] refused: %s", ctx.err);
    mb_ctx_fini(&ctx);
    mb_registry_fini(&reg);
    printf("%d methods ran on llama-nano with measured = predicted, %d refused\n", ran, refused);
    CHECK_DONE();
}
