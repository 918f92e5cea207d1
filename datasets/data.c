/* datasets/data.c — synthetic Markov text and byte files as int32 tokens on the host, the
 * train/validation split, and Philox-addressed batches (see data.h for the contract). */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/file.h"
#include "../engine/rng.h"

/* Streams used only to build synthetic data (engine/rng.h reserves them), apart from batch order,
 * dropout and initialisation so one seed for data and training never reuses words. */
enum {
    MB_DATA_STREAM_SUCC = MB_RNG_STREAM_SYNTH,     /* successor table: index t*branch + j */
    MB_DATA_STREAM_WALK = MB_RNG_STREAM_SYNTH + 1, /* index 0: start token; i >= 1: choice at i */
};

/* floor(n * f). The tiny relative nudge keeps a product that is an integer in decimal (100 * 0.29)
 * from landing one below it through binary rounding (28.999999999999996). */
static size_t val_count(size_t n, double f) {
    double x = (double)n * f;
    size_t k = (size_t)floor(x + x * 1e-12);
    return k > n ? n : k;
}

static int fraction_ok(double f) {
    return f >= 0.0 && f <= 0.5;
} /* false for NaN too */

/* Allocates both splits of `total` tokens, the last `nval` being validation. Split arrays are
 * separate allocations so that mb_data_free needs no knowledge of how a dataset was built. */
static mb_status alloc_splits(mb_ctx *ctx, mb_dataset *d, size_t total, size_t nval,
                              const char *what) {
    size_t ntrain = total - nval;
    if (total > SIZE_MAX / sizeof(int32_t))
        return mb_error(ctx, MB_ENOMEM, "%s: %zu tokens do not fit in memory", what, total);
    d->tokens[MB_SPLIT_TRAIN] = malloc(ntrain * sizeof(int32_t));
    d->tokens[MB_SPLIT_VAL] = nval ? malloc(nval * sizeof(int32_t)) : NULL;
    if (!d->tokens[MB_SPLIT_TRAIN] || (nval && !d->tokens[MB_SPLIT_VAL])) {
        mb_data_free(d);
        return mb_error(ctx, MB_ENOMEM, "%s: cannot allocate %zu bytes for %zu tokens", what,
                        total * sizeof(int32_t), total);
    }
    d->n[MB_SPLIT_TRAIN] = ntrain;
    d->n[MB_SPLIT_VAL] = nval;
    return MB_OK;
}

/* Fills succ[t*branch .. +branch) with `branch` distinct tokens for every t by Floyd's sampling:
 * exactly `branch` draws per token whatever branch/vocab is (rejection sampling would need about
 * vocab*ln(vocab) draws per token when branch == vocab). Distinct successors make every row of the
 * transition matrix uniform over `branch` entries, so the entropy rate is exactly ln(branch).
 * mark[v] == t + 1 records that v is already a successor of t, so the array is never cleared. */
static void build_successors(int32_t *succ, int32_t *mark, int vocab, int branch, uint64_t seed) {
    for (int t = 0; t < vocab; t++) {
        int32_t *row = succ + (size_t)t * (size_t)branch;
        for (int j = vocab - branch, k = 0; j < vocab; j++, k++) {
            uint64_t idx = (uint64_t)t * (uint64_t)branch + (uint64_t)k;
            int32_t r = (int32_t)mb_rng_below(seed, MB_DATA_STREAM_SUCC, idx, (uint64_t)j + 1);
            if (mark[r] == t + 1) r = j; /* j itself cannot be taken yet: only values < j were */
            mark[r] = t + 1;
            row[k] = r;
        }
    }
}

mb_status mb_data_synthetic(mb_ctx *ctx, mb_dataset *d, int vocab, int branch, size_t ntokens,
                            uint64_t seed, double val_fraction) {
    memset(d, 0, sizeof *d);
    if (vocab < 2 || vocab > 65536)
        return mb_error(ctx, MB_EINVAL, "synthetic data: vocab must be in [2, 65536], got %d",
                        vocab);
    if (branch < 1 || branch > vocab)
        return mb_error(ctx, MB_EINVAL, "synthetic data: branch must be in [1, vocab = %d], got %d",
                        vocab, branch);
    if (ntokens < 2)
        return mb_error(ctx, MB_EINVAL, "synthetic data: ntokens must be at least 2, got %zu",
                        ntokens);
    if (!fraction_ok(val_fraction))
        return mb_error(ctx, MB_EINVAL, "synthetic data: val_fraction must be in [0, 0.5], got %g",
                        val_fraction);

    /* vocab * branch <= 2^32 entries: 16 GiB at the extreme, so a refusal is reported, not fatal.
     */
    size_t nsucc = (size_t)vocab * (size_t)branch;
    if (nsucc > SIZE_MAX / sizeof(int32_t))
        return mb_error(ctx, MB_ENOMEM,
                        "synthetic data: a %d x %d successor table does not fit "
                        "in memory",
                        vocab, branch);
    int32_t *succ = malloc(nsucc * sizeof *succ);
    int32_t *mark = calloc((size_t)vocab, sizeof *mark);
    if (!succ || !mark) {
        free(succ);
        free(mark);
        return mb_error(ctx, MB_ENOMEM,
                        "synthetic data: cannot allocate %zu bytes for the successor table",
                        nsucc * sizeof *succ + (size_t)vocab * sizeof *mark);
    }
    build_successors(succ, mark, vocab, branch, seed);
    free(mark);

    size_t nval = val_count(ntokens, val_fraction);
    mb_status s = alloc_splits(ctx, d, ntokens, nval, "synthetic data");
    if (s != MB_OK) {
        free(succ);
        return s;
    }
    int32_t *train = d->tokens[MB_SPLIT_TRAIN], *val = d->tokens[MB_SPLIT_VAL];
    size_t ntrain = d->n[MB_SPLIT_TRAIN];
    /* One walk across both splits, so validation continues the chain where training stops. */
    int32_t cur = (int32_t)mb_rng_below(seed, MB_DATA_STREAM_WALK, 0, (uint64_t)vocab);
    for (size_t i = 0; i < ntokens; i++) {
        if (i > 0) {
            uint64_t k = mb_rng_below(seed, MB_DATA_STREAM_WALK, i, (uint64_t)branch);
            cur = succ[(size_t)cur * (size_t)branch + k];
        }
        if (i < ntrain)
            train[i] = cur;
        else
            val[i - ntrain] = cur;
    }
    free(succ);

    d->vocab = vocab;
    d->entropy = log((double)branch);
    snprintf(d->desc, sizeof d->desc, "synthetic markov vocab=%d branch=%d tokens=%zu seed=%llu",
             vocab, branch, ntokens, (unsigned long long)seed);
    return MB_OK;
}

mb_status mb_read_file(mb_ctx *ctx, const char *path, char **out, size_t *len) {
    return mb_file_read_all(ctx, path, "file", MB_DATA_FILE_MAX, out, len);
}

mb_status mb_data_text_file(mb_ctx *ctx, mb_dataset *d, const char *path, double val_fraction) {
    memset(d, 0, sizeof *d);
    if (!fraction_ok(val_fraction))
        return mb_error(ctx, MB_EINVAL, "%s: val_fraction must be in [0, 0.5], got %g", path,
                        val_fraction);
    FILE *f; /* a FIFO would block here and /dev/zero fill memory: refused before reading */
    MB_TRY(mb_file_open_read(ctx, path, "data file", MB_DATA_FILE_MAX, &f, NULL));
    unsigned char *bytes = NULL;
    size_t n = 0;
    mb_status s = mb_file_read_stream(ctx, f, path, MB_DATA_FILE_MAX, &bytes, &n);
    fclose(f);
    if (s != MB_OK) return s;
    if (n == 0) {
        free(bytes);
        return mb_error(ctx, MB_EINVAL, "%s is empty", path);
    }
    s = alloc_splits(ctx, d, n, val_count(n, val_fraction), path);
    if (s != MB_OK) {
        free(bytes);
        return s;
    }
    size_t ntrain = d->n[MB_SPLIT_TRAIN];
    for (size_t i = 0; i < ntrain; i++) d->tokens[MB_SPLIT_TRAIN][i] = bytes[i];
    for (size_t i = ntrain; i < n; i++) d->tokens[MB_SPLIT_VAL][i - ntrain] = bytes[i];
    free(bytes);
    d->vocab = 256;
    d->entropy = NAN;
    snprintf(d->desc, sizeof d->desc, "file %s (%zu bytes)", path, n);
    return MB_OK;
}

mb_status mb_data_from_tokens(mb_ctx *ctx, mb_dataset *d, const int32_t *tok, size_t n, int vocab,
                              double val_fraction, size_t block, const char *desc) {
    memset(d, 0, sizeof *d);
    if (!fraction_ok(val_fraction))
        return mb_error(ctx, MB_EINVAL, "%s: val_fraction must be in [0, 0.5], got %g", desc,
                        val_fraction);
    if (n == 0) return mb_error(ctx, MB_EINVAL, "%s holds no tokens", desc);
    if (block == 0) { /* the tail */
        MB_TRY(alloc_splits(ctx, d, n, val_count(n, val_fraction), desc));
        size_t ntrain = d->n[MB_SPLIT_TRAIN];
        memcpy(d->tokens[MB_SPLIT_TRAIN], tok, ntrain * sizeof *tok);
        if (n > ntrain) memcpy(d->tokens[MB_SPLIT_VAL], tok + ntrain, (n - ntrain) * sizeof *tok);
    } else {
        /* block k goes to validation when floor((k+1) f) > floor(k f): the val_fraction of blocks
         * spread evenly through the text, so both splits see every part of the corpus */
        size_t nblocks = (n + block - 1) / block, nval = 0;
        for (size_t k = 0; k < nblocks; k++)
            if (floor((double)(k + 1) * val_fraction) > floor((double)k * val_fraction))
                nval += (k + 1 == nblocks) ? n - k * block : block;
        MB_TRY(alloc_splits(ctx, d, n, nval, desc));
        size_t at[2] = {0, 0};
        for (size_t k = 0; k < nblocks; k++) {
            size_t len = (k + 1 == nblocks) ? n - k * block : block;
            int v = floor((double)(k + 1) * val_fraction) > floor((double)k * val_fraction);
            memcpy(d->tokens[v] + at[v], tok + k * block, len * sizeof *tok);
            at[v] += len;
        }
    }
    d->vocab = vocab;
    d->entropy = NAN;
    snprintf(d->desc, sizeof d->desc, "%s", desc);
    return MB_OK;
}

mb_status mb_data_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                        uint64_t index, int B, int T, int32_t *x, int32_t *y) {
    if (split != MB_SPLIT_TRAIN && split != MB_SPLIT_VAL)
        return mb_error(ctx, MB_EINVAL, "unknown data split %d", (int)split);
    if (B < 1 || T < 1)
        return mb_error(ctx, MB_EINVAL, "batch size and seq_len must be positive, got %d and %d", B,
                        T);
    if (d->classes > 0) return mb_data_labeled_batch(ctx, d, split, seed, index, B, T, x, y);
    const char *name = split == MB_SPLIT_TRAIN ? "training" : "validation";
    size_t n = d->n[split];
    if (n < (size_t)T + 1) /* int T < SIZE_MAX: T + 1 cannot wrap */
        return mb_error(ctx, MB_EINVAL,
                        "the %s split holds %zu tokens, fewer than seq_len + 1 = %lld", name, n,
                        (long long)T + 1);
    const int32_t *tok = d->tokens[split];
    uint64_t starts = (uint64_t)(n - (size_t)T); /* s in [0, n - T): window [s, s + T] fits */
    for (int b = 0; b < B; b++) {
        uint64_t idx = index * (uint64_t)B + (uint64_t)b; /* wraps only past 2^64 draws */
        size_t s =
            (size_t)mb_rng_below(seed, (uint32_t)MB_RNG_STREAM_DATA + (uint32_t)split, idx, starts);
        const int32_t *w = tok + s;
        int32_t *xr = x + (size_t)b * (size_t)T, *yr = y + (size_t)b * (size_t)T;
        memcpy(xr, w, (size_t)T * sizeof *xr);
        memcpy(yr, w + 1, (size_t)T * sizeof *yr);
    }
    return MB_OK;
}

void mb_data_free(mb_dataset *d) {
    for (int v = 0; v < 2; v++) {
        free(d->tokens[v]);
        free(d->off[v]);
        free(d->labels[v]);
    }
    memset(d, 0, sizeof *d);
}
