/* tests/test_labeled.c — labelled sets: the stratified split's exact counts, batch rows (pad,
 * truncation, the label at the last kept token), per-epoch permutations, the validation pass; the
 * in-place JSON reader; and the text a SpamAssassin message is classified by. */
#include <stdlib.h>
#include <string.h>

#include "../datasets/data.h"
#include "../engine/jsonstr.h"
#include "../datasets/spam.h"
#include "check.h"

/* 30 examples: label k % 3 == 0 ? 1 : 0 (10 of class 1, 20 of class 0); example k holds k % 4 + 1
 * tokens, token i of it is (k + i) % 50 + 1. */
#define NEX 30
static void make(int32_t *tok, size_t *off, int32_t *lab) {
    size_t t = 0;
    for (int k = 0; k < NEX; k++) {
        off[k] = t;
        for (int i = 0; i < k % 4 + 1; i++) tok[t++] = (k + i) % 50 + 1;
        lab[k] = k % 3 == 0;
    }
    off[NEX] = t;
}

static int test_split_and_batches(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    int32_t tok[200], lab[NEX];
    size_t off[NEX + 1];
    make(tok, off, lab);
    mb_dataset d;
    CHECK_OK(&ctx, mb_data_from_examples(&ctx, &d, tok, off, lab, NEX, 64, 2, 0, 0.25, NULL, "t"));
    /* per class: floor(20 * 0.25) = 5 of class 0 and floor(10 * 0.25) = 2 of class 1; the j-th of a
     * class is validation when floor((j+1)/4) > floor(j/4): j = 3, 7, 11, 15, 19 */
    CHECK_EQ_U(d.nex[MB_SPLIT_VAL], 7);
    CHECK_EQ_U(d.nex[MB_SPLIT_TRAIN], 23);
    int nv[2] = {0, 0};
    for (size_t k = 0; k < d.nex[MB_SPLIT_VAL]; k++) nv[d.labels[MB_SPLIT_VAL][k]]++;
    CHECK(nv[0] == 5 && nv[1] == 2, "validation classes %d / %d, expected 5 / 2", nv[0], nv[1]);
    /* class 1 examples are k = 0, 3, 6, ...: its 4th (j = 3) is k = 9, its 8th (j = 7) k = 21;
     * validation keeps list order, so the first validation example of class 1 is k = 9 */
    size_t first1 = 99;
    for (size_t k = 0; k < d.nex[MB_SPLIT_VAL] && first1 == 99; k++)
        if (d.labels[MB_SPLIT_VAL][k] == 1) first1 = k;
    CHECK(first1 < 99, "no class-1 validation example");
    if (first1 < 99) {
        const int32_t *e = d.tokens[MB_SPLIT_VAL] + d.off[MB_SPLIT_VAL][first1];
        CHECK(e[0] == 10 && d.off[MB_SPLIT_VAL][first1 + 1] - d.off[MB_SPLIT_VAL][first1] == 2,
              "class-1 validation example starts with token %d, length %zu (expected k = 9: "
              "token 10, length 2)",
              (int)e[0], d.off[MB_SPLIT_VAL][first1 + 1] - d.off[MB_SPLIT_VAL][first1]);
    }
    /* majority: class 0 wins training (15 of 23); it is 5 of the 7 validation examples */
    CHECK(fabs(d.majority - 5.0 / 7.0) < 1e-15, "majority %.17g, expected 5/7", d.majority);

    /* validation pass: B = 3 -> ceil(7 / 3) = 3 batches; row 2 of batch 2 is past the end */
    CHECK_EQ_U(mb_data_pass_batches(&d, MB_SPLIT_VAL, 3), 3);
    int T = 3;
    int32_t x[3 * 3], y[3 * 3];
    CHECK_OK(&ctx, mb_data_batch(&ctx, &d, MB_SPLIT_VAL, 5, 2, 3, T, x, y));
    for (int t = 0; t < T; t++)
        CHECK(x[2 * T + t] == 0 && y[2 * T + t] == -1, "row past the end: x %d y %d at t=%d",
              (int)x[2 * T + t], (int)y[2 * T + t], t);
    /* every row: the example's first min(len, T) tokens, pad after; one label at its end */
    for (uint64_t bi = 0; bi < 3; bi++) {
        CHECK_OK(&ctx, mb_data_batch(&ctx, &d, MB_SPLIT_VAL, 5, bi, 3, T, x, y));
        for (int b = 0; b < 3; b++) {
            size_t k = bi * 3 + (size_t)b;
            if (k >= d.nex[MB_SPLIT_VAL]) continue;
            size_t len = d.off[MB_SPLIT_VAL][k + 1] - d.off[MB_SPLIT_VAL][k],
                   keep = len < 3 ? len : 3;
            for (int t = 0; t < T; t++) {
                int32_t want_x =
                    (size_t)t < keep ? d.tokens[MB_SPLIT_VAL][d.off[MB_SPLIT_VAL][k] + t] : 0;
                int32_t want_y = (size_t)t == keep - 1 ? d.labels[MB_SPLIT_VAL][k] : -1;
                CHECK(x[b * T + t] == want_x && y[b * T + t] == want_y,
                      "val example %zu t=%d: x %d y %d, expected %d %d", k, t, (int)x[b * T + t],
                      (int)y[b * T + t], (int)want_x, (int)want_y);
            }
        }
    }
    /* training: each epoch of 23 rows is a permutation (every example once), and epochs differ */
    int T1 = 4;
    int32_t xr[23 * 4], yr[23 * 4];
    int order[2][23];
    for (int ep = 0; ep < 2; ep++) {
        int seen[23] = {0};
        for (int i = 0; i < 23; i++) {
            CHECK_OK(&ctx, mb_data_batch(&ctx, &d, MB_SPLIT_TRAIN, 5, (uint64_t)(ep * 23 + i), 1,
                                         T1, xr, yr));
            /* identify the example by its tokens and label */
            int found = -1;
            for (size_t k = 0; k < d.nex[MB_SPLIT_TRAIN]; k++) {
                size_t len = d.off[0][k + 1] - d.off[0][k];
                int same = !memcmp(xr, d.tokens[0] + d.off[0][k], len * sizeof *xr) &&
                           yr[len - 1] == d.labels[0][k] && (len == 4 || xr[len] == 0);
                if (same && found < 0) found = (int)k;
            }
            CHECK(found >= 0, "epoch %d row %d matches no training example", ep, i);
            if (found >= 0) seen[found]++;
            order[ep][i] = found;
        }
        for (int k = 0; k < 23; k++)
            CHECK(seen[k] == 1, "epoch %d saw training example %d %d times", ep, k, seen[k]);
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0, "two epochs in the same order");
    mb_data_free(&d);

    /* errors */
    lab[4] = 2;
    CHECK(mb_data_from_examples(&ctx, &d, tok, off, lab, NEX, 64, 2, 0, 0.25, NULL, "t") ==
              MB_EINVAL,
          "a label out of range was accepted");
    CHECK_STR(ctx.err, "t: example 4 has label 2, not in [0, 2)");
    lab[4] = 0;
    off[5] = off[4]; /* example 4 empty */
    CHECK(mb_data_from_examples(&ctx, &d, tok, off, lab, NEX, 64, 2, 0, 0.25, NULL, "t") ==
              MB_EINVAL,
          "an empty example was accepted");
    CHECK_STR(ctx.err, "t: example 4 is empty");
    make(tok, off, lab);
    CHECK(mb_data_from_examples(&ctx, &d, tok, off, lab, NEX, 64, 2, 64, 0.25, NULL, "t") ==
              MB_EINVAL,
          "a pad outside the vocabulary was accepted");
    CHECK_STR(ctx.err, "t: pad token 64 is outside the vocabulary of 64");
    CHECK(mb_data_from_examples(&ctx, &d, tok, off, lab, NEX, 64, 2, 0, 0.0, NULL, "t") ==
              MB_EINVAL,
          "val_fraction 0 was accepted");
    CHECK_STR(ctx.err, "t: val_fraction must be in (0, 0.5], got 0");
    mb_ctx_fini(&ctx);
    return 0;
}

static void test_json(void) {
    const char *doc = "{\"id\":\"1\",\"n\":[1,-2.5e3,true,null,{}],\"o\":{\"a\":[]},"
                      "\"text\":\"caf\\u00e9 \\ud83d\\ude00\\n\\\"q\\\"\"}";
    const unsigned char *s = (const unsigned char *)doc;
    size_t n = strlen(doc), i = 0;
    const char *why = "";
    CHECK(mb_json_skip(s, n, &i, &why) == 0 && i == n, "skip stopped at %zu of %zu: %s", i, n, why);
    /* the "text" string decoded to UTF-8 */
    const char *q = strstr(doc, "\"text\":\"") + 8;
    i = (size_t)(q - doc);
    unsigned char out[64], u[4];
    size_t on = 0;
    uint32_t cp;
    int r;
    while ((r = mb_json_str_next(s, n, &i, &cp, &why)) == 1) {
        size_t w = mb_utf8_put(cp, u);
        memcpy(out + on, u, w);
        on += w;
    }
    out[on] = 0;
    CHECK(r == 0, "string ended with %d: %s", r, why);
    CHECK_STR((const char *)out, "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"q\"");
    static const struct {
        const char *text, *why;
        size_t at;
    } bad[] = {
        {"{\"a\" 1}", "expected ':' after a member name", 5},
        {"[1, 2", "expected ',' or ']'", 5},
        {"{\"a\": tru}", "expected a value", 6},
        {"\"ab\\x\"", "unknown escape", 3},
        {"\"\\ud83d!\"", "high surrogate without a low one", 7},
        {"{\"a\":1,}", "expected a member name (a string)", 7},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        i = 0;
        why = "";
        CHECK(mb_json_skip((const unsigned char *)bad[k].text, strlen(bad[k].text), &i, &why) < 0,
              "%s was accepted", bad[k].text);
        CHECK(!strcmp(why, bad[k].why) && i == bad[k].at, "%s: '%s' at %zu, expected '%s' at %zu",
              bad[k].text, why, i, bad[k].why, bad[k].at);
    }
}

static int test_spam_text(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    const char *msg = "From x\nReceived: by y\nSUBJECT: Cheap\n\tpills now\nX-Spam-Status: Yes\n\n"
                      "Buy them.\n\nBye\n";
    char *t;
    size_t n;
    CHECK_OK(&ctx, mb_spam_text(&ctx, msg, strlen(msg), &t, &n));
    CHECK_STR(t, "Subject: Cheap\tpills now\n\nBuy them.\n\nBye\n");
    CHECK_EQ_U(n, strlen(t));
    free(t);
    const char *nosubj = "From x\n\nonly body";
    CHECK_OK(&ctx, mb_spam_text(&ctx, nosubj, strlen(nosubj), &t, &n));
    CHECK_STR(t, "only body");
    free(t);
    /* a long body is cut at the last line end inside MB_SPAM_MAX_BODY */
    size_t big = MB_SPAM_MAX_BODY + 100;
    char *m = malloc(big + 8);
    memcpy(m, "A: b\n\n", 6);
    memset(m + 6, 'x', big);
    m[6 + 1000] = '\n';
    m[6 + big - 1] = '\n';
    CHECK_OK(&ctx, mb_spam_text(&ctx, m, 6 + big, &t, &n));
    CHECK_EQ_U(n, 1001);
    free(t);
    free(m);
    mb_ctx_fini(&ctx);
    return 0;
}

int main(void) {
    if (test_split_and_batches()) return 1;
    test_json();
    if (test_spam_text()) return 1;
    CHECK_DONE();
}
