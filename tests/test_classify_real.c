/* tests/test_classify_real.c — the labelled sets from the real cache (else exit 77): SpamAssassin's
 * counts and stratified split, Fashion-MNIST as pixel tokens, and `membench run` classifying spam
 * well above the majority-class floor. argv: the membench binary. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../datasets/fashion.h"
#include "../datasets/fetch.h"
#include "../datasets/spam.h"
#include "check.h"
#include "proc.h"

static int test_spam(mb_ctx *ctx) {
    mb_dataset d;
    CHECK_OK(ctx, mb_data_spam(ctx, &d, MB_TOK_GPT2, 0.2));
    printf("%s\n", d.desc);
    size_t c[2][2] = {{0, 0}, {0, 0}};
    for (int v = 0; v < 2; v++)
        for (size_t k = 0; k < d.nex[v]; k++) c[v][d.labels[v][k]]++;
    /* 4,150 ham and 1,896 spam; validation floor(4150 * 0.2) = 830 and floor(1896 * 0.2) = 379 */
    CHECK(c[0][0] + c[1][0] == 4150 && c[0][1] + c[1][1] == 1896, "ham %zu spam %zu",
          c[0][0] + c[1][0], c[0][1] + c[1][1]);
    CHECK(c[1][0] == 830 && c[1][1] == 379, "validation ham %zu spam %zu, expected 830 / 379",
          c[1][0], c[1][1]);
    CHECK(fabs(d.majority - 830.0 / 1209.0) < 1e-12, "majority %.6f", d.majority);
    size_t longest = 0;
    for (int v = 0; v < 2; v++)
        for (size_t k = 0; k < d.nex[v]; k++) {
            size_t len = d.off[v][k + 1] - d.off[v][k];
            if (len > longest) longest = len;
        }
    CHECK_EQ_U(longest, MB_SPAM_MAX_TOKENS);
    CHECK(d.vocab == 50257 && d.pad == 50256 && d.classes == 2, "vocab %d pad %d classes %d",
          d.vocab, d.pad, d.classes);
    mb_data_free(&d);
    return 0;
}

static int test_fashion(mb_ctx *ctx) {
    float *px;
    uint8_t *lab;
    size_t n;
    CHECK_OK(ctx, mb_fashion_load(ctx, MB_SPLIT_TRAIN, &px, &lab, &n));
    CHECK_EQ_U(n, 60000);
    CHECK_EQ_U(lab[0], 9);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < n * 784; i++) {
        if (px[i] < lo) lo = px[i];
        if (px[i] > hi) hi = px[i];
    }
    CHECK(lo == 0.0f && hi == 1.0f, "pixels span [%g, %g], expected [0, 1]", lo, hi);
    int32_t want[196];
    mb_fashion_tokens(px, want);
    mb_dataset d;
    CHECK_OK(ctx, mb_data_fashion_mnist(ctx, &d));
    printf("%s\n", d.desc);
    CHECK(d.nex[0] == 60000 && d.nex[1] == 10000, "examples %zu / %zu", d.nex[0], d.nex[1]);
    CHECK(d.off[0][1] == 196 && !memcmp(d.tokens[0], want, sizeof want) && d.labels[0][0] == 9,
          "the first training example is not image 0's 196 tokens with label 9");
    /* the same by hand for one block: pixels (0..1, 0..1) of image 0 */
    double m = (px[0] + px[1] + px[28] + px[29]) / 4;
    int t = (int)(m * 16) < 15 ? (int)(m * 16) : 15;
    CHECK(d.tokens[0][0] == t, "token 0 is %d, expected %d", (int)d.tokens[0][0], t);
    size_t per[10] = {0};
    for (size_t k = 0; k < d.nex[1]; k++) per[d.labels[1][k]]++;
    for (int c = 0; c < 10; c++) CHECK_EQ_U(per[c], 1000);
    mb_data_free(&d);
    free(px);
    free(lab);
    return 0;
}

/* 150 steps of gpt-nano on 64-token messages: accuracy well above always answering ham. */
static int test_run(const char *membench) {
    char tmp[] = "/tmp/mb-test-classify-XXXXXX", p[64], cmd[256];
    if (!mkdtemp(tmp)) return 1;
    snprintf(p, sizeof p, "%s/s.yaml", tmp);
    FILE *f = fopen(p, "w");
    if (!f) return 1;
    fputs("suite: spam\nseed: 1\ndefaults: {steps: 150, warmup_steps: 2}\n"
          "models: [{name: m, preset: gpt-nano, vocab: 50257, seq_len: 64}]\n"
          "data: {name: spam-assassin, val_fraction: 0.2}\n"
          "task: {kind: classify, batch_size: 16, seq_len: 64}\n"
          "methods: [{name: adamw, lr: 0.003}]\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s run -q -o %s/out %s/s.yaml", membench, tmp, tmp);
    out o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "membench run exited %d: %s", o.rc, o.se);
    mb_table t;
    snprintf(p, sizeof p, "%s/out", tmp);
    if (o.rc == 0 && !load_results(p, &t)) {
        const char *metric = t.nrows ? mb_table_get(&t, 0, mb_table_col(&t, "metric")) : "";
        double acc = t.nrows ? mb_table_num(&t, 0, mb_table_col(&t, "metric_value")) : 0;
        const char *task = t.nrows ? mb_table_get(&t, 0, mb_table_col(&t, "task")) : "";
        printf("spam-assassin, gpt-nano, 150 steps: %s %.4f (majority floor 0.6865)\n", metric,
               acc);
        CHECK_STR(metric, "accuracy");
        CHECK_STR(task, "classify");
        CHECK(acc > 0.90, "accuracy %.4f, expected above 0.90", acc);
        mb_table_free(&t);
    }
    drop(&o);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    if (argc < 2) {
        fprintf(stderr, "usage: test_classify_real MEMBENCH\n");
        return 2;
    }
    if (!mb_fetch_present(&ctx, "spam-assassin") || !mb_fetch_present(&ctx, "gpt2-bpe") ||
        !mb_fetch_present(&ctx, "fashion-mnist")) {
        printf("skipped: spam-assassin, gpt2-bpe and fashion-mnist are not all fetched (run "
               "`membench data fetch spam-assassin gpt2-bpe fashion-mnist`)\n");
        return 77;
    }
    if (test_spam(&ctx) || test_fashion(&ctx) || test_run(argv[1])) return 1;
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
