/* tests/test_data.c — data sets: synthetic Markov chains (determinism, distinct successors, entropy
 * ln(branch)), byte files (tokens, split sizes, error messages) and Philox batches (windows in
 * range, x/y shift, determinism by (seed, index), full coverage of the start range). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../datasets/data.h"
#include "check.h"

/* Token i of the whole stream, train then validation (the walk runs across the boundary). */
static int32_t tok_at(const mb_dataset *d, size_t i) {
    size_t nt = d->n[MB_SPLIT_TRAIN];
    return i < nt ? d->tokens[MB_SPLIT_TRAIN][i] : d->tokens[MB_SPLIT_VAL][i - nt];
}

/* Empirical conditional entropy H(next | current) in nats over the first n tokens of the stream. */
static double cond_entropy(const mb_dataset *d, size_t n, double *pairs_out) {
    size_t V = (size_t)d->vocab;
    double *pair = calloc(V * V, sizeof *pair), *row = calloc(V, sizeof *row);
    if (!pair || !row) {
        free(pair);
        free(row);
        return NAN;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        size_t a = (size_t)tok_at(d, i), b = (size_t)tok_at(d, i + 1);
        pair[a * V + b] += 1;
        row[a] += 1;
    }
    double h = 0, total = (double)(n - 1);
    for (size_t a = 0; a < V; a++)
        for (size_t b = 0; b < V; b++) {
            double c = pair[a * V + b];
            if (c > 0) h -= c / total * log(c / row[a]);
        }
    if (pairs_out) *pairs_out = total;
    free(pair);
    free(row);
    return h;
}

/* Learns each token's successor set from the first half of the stream, then checks that every
 * transition of the second half (train, the train->val boundary, val) stays inside it, that no
 * token has more than `branch` successors, and that tokens seen often have exactly `branch`. */
static int check_successors(const mb_dataset *d, int branch) {
    size_t V = (size_t)d->vocab, total = d->n[0] + d->n[1], half = total / 2;
    unsigned char *seen = calloc(V * V, 1);
    size_t *visits = calloc(V, sizeof *visits);
    if (!seen || !visits) {
        free(seen);
        free(visits);
        CHECK(0, "test allocation");
        return 1;
    }
    for (size_t i = 0; i + 1 < half; i++) {
        size_t a = (size_t)tok_at(d, i), b = (size_t)tok_at(d, i + 1);
        seen[a * V + b] = 1;
        visits[a]++;
    }
    int bad = 0;
    for (size_t a = 0; a < V; a++) {
        int k = 0;
        for (size_t b = 0; b < V; b++) k += seen[a * V + b];
        if (k > branch || (visits[a] >= 50u * (size_t)branch && k != branch)) {
            if (!bad++)
                CHECK(0, "token %zu: %d successors over %zu visits, branch %d", a, k, visits[a],
                      branch);
        }
    }
    size_t outside = 0;
    for (size_t i = half; i + 1 < total; i++)
        outside += !seen[(size_t)tok_at(d, i) * V + (size_t)tok_at(d, i + 1)];
    CHECK(outside == 0, "%zu transitions of the second half are not successors", outside);
    free(seen);
    free(visits);
    return bad;
}

/* Finds the window of row `b` in the split: x = tok[s..s+T), y = tok[s+1..s+T]. -1 when absent. */
static long long locate(const mb_dataset *d, mb_split sp, const int32_t *x, const int32_t *y,
                        int T) {
    const int32_t *tok = d->tokens[sp];
    size_t n = d->n[sp];
    for (size_t s = 0; s + (size_t)T < n; s++) {
        if (memcmp(tok + s, x, (size_t)T * sizeof *x) == 0 &&
            memcmp(tok + s + 1, y, (size_t)T * sizeof *y) == 0)
            return (long long)s;
    }
    return -1;
}

static int write_file(const char *path, const unsigned char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t w = n ? fwrite(bytes, 1, n, f) : 0;
    return (fclose(f) != 0 || w != n);
}

static int test_synthetic_args(mb_ctx *ctx) {
    mb_dataset d;
    CHECK(mb_data_synthetic(ctx, &d, 1, 1, 100, 1, 0.1) == MB_EINVAL, "vocab 1");
    CHECK_STR(ctx->err, "synthetic data: vocab must be in [2, 65536], got 1");
    CHECK(mb_data_synthetic(ctx, &d, 65537, 4, 100, 1, 0.1) == MB_EINVAL, "vocab 65537");
    CHECK_STR(ctx->err, "synthetic data: vocab must be in [2, 65536], got 65537");
    CHECK(mb_data_synthetic(ctx, &d, 16, 0, 100, 1, 0.1) == MB_EINVAL, "branch 0");
    CHECK_STR(ctx->err, "synthetic data: branch must be in [1, vocab = 16], got 0");
    CHECK(mb_data_synthetic(ctx, &d, 16, 17, 100, 1, 0.1) == MB_EINVAL, "branch 17");
    CHECK_STR(ctx->err, "synthetic data: branch must be in [1, vocab = 16], got 17");
    CHECK(mb_data_synthetic(ctx, &d, 16, 4, 1, 1, 0.1) == MB_EINVAL, "1 token");
    CHECK_STR(ctx->err, "synthetic data: ntokens must be at least 2, got 1");
    CHECK(mb_data_synthetic(ctx, &d, 16, 4, 100, 1, 0.6) == MB_EINVAL, "val_fraction 0.6");
    CHECK_STR(ctx->err, "synthetic data: val_fraction must be in [0, 0.5], got 0.6");
    CHECK(mb_data_synthetic(ctx, &d, 16, 4, 100, 1, NAN) == MB_EINVAL, "val_fraction NaN");
    CHECK(d.tokens[0] == NULL && d.tokens[1] == NULL && d.n[0] == 0, "a refusal leaves d zeroed");
    mb_data_free(&d);
    mb_data_free(&d);
    return 0;
}

static int test_synthetic(mb_ctx *ctx) {
    mb_dataset a, b, c;
    CHECK_OK(ctx, mb_data_synthetic(ctx, &a, 256, 4, 262144, 1, 0.1));
    CHECK_EQ_U(a.n[MB_SPLIT_VAL], 26214); /* floor(262144 * 0.1) */
    CHECK_EQ_U(a.n[MB_SPLIT_TRAIN], 262144 - 26214);
    CHECK_EQ_U(a.vocab, 256);
    CHECK(a.entropy == log(4.0), "entropy %.17g", a.entropy);
    CHECK_STR(a.desc, "synthetic markov vocab=256 branch=4 tokens=262144 seed=1");
    size_t outside = 0;
    for (size_t i = 0; i < a.n[0] + a.n[1]; i++) outside += (uint32_t)tok_at(&a, i) >= 256u;
    CHECK(outside == 0, "%zu tokens outside [0, 256)", outside);

    CHECK_OK(ctx, mb_data_synthetic(ctx, &b, 256, 4, 262144, 1, 0.1));
    CHECK(memcmp(a.tokens[0], b.tokens[0], a.n[0] * sizeof(int32_t)) == 0 &&
              memcmp(a.tokens[1], b.tokens[1], a.n[1] * sizeof(int32_t)) == 0,
          "same seed, different tokens");
    CHECK_OK(ctx, mb_data_synthetic(ctx, &c, 256, 4, 262144, 2, 0.1));
    size_t same = 0;
    for (size_t i = 0; i < a.n[0]; i++) same += a.tokens[0][i] == c.tokens[0][i];
    CHECK(same < a.n[0] / 50, "seeds 1 and 2 agree on %zu of %zu tokens", same, a.n[0]);

    check_successors(&a, 4);
    double h = cond_entropy(&a, 200000, NULL);
    CHECK(fabs(h - log(4.0)) <= 0.02 * log(4.0), "conditional entropy %.5f, ln 4 = %.5f", h,
          log(4.0));
    mb_data_free(&a);
    mb_data_free(&a); /* twice is a no-op */
    mb_data_free(&b);
    mb_data_free(&c);

    /* Edge branches: every token a successor (branch == vocab), and a deterministic cycle. */
    CHECK_OK(ctx, mb_data_synthetic(ctx, &a, 8, 8, 200000, 3, 0.1));
    check_successors(&a, 8);
    h = cond_entropy(&a, 200000, NULL);
    CHECK(fabs(h - log(8.0)) <= 0.02 * log(8.0), "branch 8: entropy %.5f, ln 8 = %.5f", h,
          log(8.0));
    mb_data_free(&a);
    CHECK_OK(ctx, mb_data_synthetic(ctx, &a, 50, 1, 10000, 3, 0.0));
    CHECK(a.entropy == 0.0, "branch 1 entropy %g", a.entropy);
    CHECK(a.n[MB_SPLIT_VAL] == 0 && a.tokens[MB_SPLIT_VAL] == NULL, "val_fraction 0: no val");
    check_successors(&a, 1);
    CHECK(cond_entropy(&a, 10000, NULL) == 0.0, "branch 1 is deterministic");
    int32_t x[8], y[8];
    CHECK(mb_data_batch(ctx, &a, MB_SPLIT_VAL, 1, 0, 1, 8, x, y) == MB_EINVAL, "empty val split");
    CHECK_STR(ctx->err, "the validation split holds 0 tokens, fewer than seq_len + 1 = 9");
    mb_data_free(&a);
    /* The largest vocabulary builds its successor table without trouble. */
    CHECK_OK(ctx, mb_data_synthetic(ctx, &a, 65536, 3, 1000, 4, 0.5));
    CHECK_EQ_U(a.n[MB_SPLIT_VAL], 500);
    mb_data_free(&a);
    return 0;
}

static int test_text_file(mb_ctx *ctx, const char *dir) {
    char path[512], expect[1024];
    unsigned char bytes[1000];
    for (int i = 0; i < 1000; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    bytes[0] = 0;
    bytes[1] = 255;
    bytes[2] = 128;
    bytes[999] = 0;
    snprintf(path, sizeof path, "%s/bytes.bin", dir);
    CHECK(write_file(path, bytes, 1000) == 0, "writing %s", path);
    mb_dataset d;
    CHECK_OK(ctx, mb_data_text_file(ctx, &d, path, 0.1));
    CHECK_EQ_U(d.n[MB_SPLIT_TRAIN], 900);
    CHECK_EQ_U(d.n[MB_SPLIT_VAL], 100);
    CHECK_EQ_U(d.vocab, 256);
    CHECK(isnan(d.entropy), "entropy %g, expected NaN", d.entropy);
    snprintf(expect, sizeof expect, "file %s (1000 bytes)", path);
    CHECK_STR(d.desc, expect);
    size_t wrong = 0;
    for (size_t i = 0; i < 1000; i++) wrong += tok_at(&d, i) != (int32_t)bytes[i];
    CHECK(wrong == 0, "%zu tokens differ from the file's bytes", wrong);

    /* Short splits: the message names the split and what it holds; n == T + 1 has one window. */
    int32_t x[100], y[100];
    CHECK(mb_data_batch(ctx, &d, MB_SPLIT_VAL, 1, 0, 2, 100, x, y) == MB_EINVAL, "val too short");
    CHECK_STR(ctx->err, "the validation split holds 100 tokens, fewer than seq_len + 1 = 101");
    CHECK(mb_data_batch(ctx, &d, MB_SPLIT_TRAIN, 1, 0, 1, 900, NULL, NULL) == MB_EINVAL, "train");
    CHECK_STR(ctx->err, "the training split holds 900 tokens, fewer than seq_len + 1 = 901");
    CHECK_OK(ctx, mb_data_batch(ctx, &d, MB_SPLIT_VAL, 5, 9, 1, 99, x, y));
    for (int t = 0; t < 99; t++) CHECK(x[t] == bytes[900 + t] && y[t] == bytes[901 + t], "t %d", t);
    CHECK(mb_data_batch(ctx, &d, MB_SPLIT_TRAIN, 1, 0, 0, 4, x, y) == MB_EINVAL, "B 0");
    CHECK_STR(ctx->err, "batch size and seq_len must be positive, got 0 and 4");
    mb_data_free(&d);

    /* floor(n * f) split sizes, including a product that is 28.999999999999996 in binary. */
    CHECK_OK(ctx, mb_data_text_file(ctx, &d, path, 0.5));
    CHECK(d.n[0] == 500 && d.n[1] == 500, "0.5: %zu + %zu", d.n[0], d.n[1]);
    mb_data_free(&d);
    snprintf(path, sizeof path, "%s/ten.bin", dir);
    CHECK(write_file(path, bytes, 10) == 0, "writing %s", path);
    CHECK_OK(ctx, mb_data_text_file(ctx, &d, path, 0.25));
    CHECK(d.n[0] == 8 && d.n[1] == 2, "0.25 of 10: %zu + %zu", d.n[0], d.n[1]);
    CHECK(mb_data_batch(ctx, &d, MB_SPLIT_VAL, 1, 0, 1, 32, x, y) == MB_EINVAL, "10 tokens");
    mb_data_free(&d);
    snprintf(path, sizeof path, "%s/hundred.bin", dir);
    CHECK(write_file(path, bytes, 100) == 0, "writing %s", path);
    CHECK_OK(ctx, mb_data_text_file(ctx, &d, path, 0.29));
    CHECK(d.n[0] == 71 && d.n[1] == 29, "0.29 of 100: %zu + %zu", d.n[0], d.n[1]);
    mb_data_free(&d);
    CHECK_OK(ctx, mb_data_text_file(ctx, &d, path, 0.1));
    CHECK(mb_data_batch(ctx, &d, MB_SPLIT_VAL, 1, 0, 4, 32, x, y) == MB_EINVAL, "10 val tokens");
    CHECK_STR(ctx->err, "the validation split holds 10 tokens, fewer than seq_len + 1 = 33");
    mb_data_free(&d);

    /* Failures: missing file, empty file, a directory, a bad fraction; d stays zeroed. */
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    CHECK(mb_data_text_file(ctx, &d, path, 0.1) == MB_EIO, "missing file");
    snprintf(expect, sizeof expect, "cannot read data file %s: %s", path, strerror(ENOENT));
    CHECK_STR(ctx->err, expect);
    CHECK(d.tokens[0] == NULL && d.n[0] == 0, "a failed load leaves d zeroed");
    snprintf(path, sizeof path, "%s/empty.bin", dir);
    CHECK(write_file(path, bytes, 0) == 0, "writing %s", path);
    CHECK(mb_data_text_file(ctx, &d, path, 0.1) == MB_EINVAL, "empty file");
    snprintf(expect, sizeof expect, "%s is empty", path);
    CHECK_STR(ctx->err, expect);
    /* refused before reading (engine/file.h); tests/test_data_integrity.c has FIFOs, devices */
    CHECK(mb_data_text_file(ctx, &d, dir, 0.1) == MB_EINVAL, "a directory");
    snprintf(expect, sizeof expect, "data file %s is a directory; expected a regular file", dir);
    CHECK_STR(ctx->err, expect);
    snprintf(path, sizeof path, "%s/bytes.bin", dir);
    CHECK(mb_data_text_file(ctx, &d, path, -0.1) == MB_EINVAL, "negative fraction");
    snprintf(expect, sizeof expect, "%s: val_fraction must be in [0, 0.5], got -0.1", path);
    CHECK_STR(ctx->err, expect);
    mb_data_free(&d);
    return 0;
}

static int test_batches(mb_ctx *ctx) {
    enum { B = 8, T = 32 };
    static int32_t x[B * T], y[B * T], x2[B * T], y2[B * T];
    mb_dataset d;
    CHECK_OK(ctx, mb_data_synthetic(ctx, &d, 256, 4, 262144, 1, 0.1));
    for (int sp = 0; sp < 2; sp++) {
        CHECK_OK(ctx, mb_data_batch(ctx, &d, (mb_split)sp, 7, 3, B, T, x, y));
        for (int b = 0; b < B; b++) {
            const int32_t *xr = x + b * T, *yr = y + b * T;
            int shifted = 1;
            for (int t = 0; t + 1 < T; t++) shifted &= yr[t] == xr[t + 1];
            CHECK(shifted, "split %d row %d: y is not x shifted by one", sp, b);
            /* locate() also demands y[T-1] == tok[s+T], the token after the window. */
            CHECK(locate(&d, (mb_split)sp, xr, yr, T) >= 0, "split %d row %d: window not found", sp,
                  b);
        }
        CHECK_OK(ctx, mb_data_batch(ctx, &d, (mb_split)sp, 7, 3, B, T, x2, y2));
        CHECK(memcmp(x, x2, sizeof x) == 0 && memcmp(y, y2, sizeof y) == 0,
              "split %d: same (seed, index), different batch", sp);
        CHECK_OK(ctx, mb_data_batch(ctx, &d, (mb_split)sp, 7, 4, B, T, x2, y2));
        CHECK(memcmp(x, x2, sizeof x) != 0, "split %d: index 3 and 4 give the same batch", sp);
        CHECK_OK(ctx, mb_data_batch(ctx, &d, (mb_split)sp, 8, 3, B, T, x2, y2));
        CHECK(memcmp(x, x2, sizeof x) != 0, "split %d: seeds 7 and 8 give the same batch", sp);
    }
    mb_data_free(&d);

    /* Tokens 0..n-1, so a row's first token is its start: every start in [0, n - T), and over
     * 32000 draws each of the 992 starts turns up (P(miss one) ~ 992 e^-32). */
    enum { N = 1000, TT = 8, BB = 16, NB = 2000 };
    mb_dataset id;
    memset(&id, 0, sizeof id);
    id.vocab = N;
    id.n[MB_SPLIT_TRAIN] = N;
    id.tokens[MB_SPLIT_TRAIN] = malloc(N * sizeof(int32_t));
    size_t *hits = calloc(N, sizeof *hits);
    if (!id.tokens[0] || !hits) {
        free(id.tokens[0]);
        free(hits);
        CHECK(0, "test allocation");
        return 1;
    }
    for (int i = 0; i < N; i++) id.tokens[0][i] = i;
    int32_t bx[BB * TT], by[BB * TT];
    size_t out_of_range = 0;
    for (int k = 0; k < NB; k++) {
        CHECK_OK(ctx, mb_data_batch(ctx, &id, MB_SPLIT_TRAIN, 11, (uint64_t)k, BB, TT, bx, by));
        for (int b = 0; b < BB; b++) {
            int32_t s = bx[b * TT];
            if (s < 0 || s > N - TT - 1 || by[b * TT + TT - 1] != s + TT) {
                out_of_range++;
                continue;
            }
            hits[s]++;
        }
    }
    CHECK(out_of_range == 0, "%zu windows outside the split", out_of_range);
    size_t missed = 0, lo_half = 0;
    for (int s = 0; s <= N - TT - 1; s++) {
        missed += hits[s] == 0;
        if (s < (N - TT) / 2) lo_half += hits[s];
    }
    CHECK(hits[0] > 0 && hits[N - TT - 1] > 0, "first/last start drawn %zu/%zu times", hits[0],
          hits[N - TT - 1]);
    CHECK(missed == 0, "%zu starts never drawn", missed);
    /* Half the starts should get half the draws: 16000 +- 89.4 (binomial), allow 5 sd. */
    CHECK(fabs((double)lo_half - NB * BB / 2.0) < 5 * sqrt(NB * BB / 4.0), "lower half %zu",
          lo_half);
    free(hits);
    mb_data_free(&id);
    return 0;
}

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    char dir[] = "/tmp/mbdata.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    mb_dataset zero;
    memset(&zero, 0, sizeof zero);
    mb_data_free(&zero); /* safe on a zeroed struct */

    test_synthetic_args(&ctx);
    test_synthetic(&ctx);
    test_text_file(&ctx, dir);
    test_batches(&ctx);

    static const char *const files[] = {"bytes.bin", "ten.bin", "hundred.bin", "empty.bin"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rmdir(dir) != 0) fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
