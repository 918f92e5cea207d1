/* datasets/labeled.c — labelled sets (message -> ham/spam, image -> class): the stratified split,
 * and batches whose target is the label at each example's last token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/rng.h"
#include "data.h"

/* Copies the examples with is_val == v (a mask over nex) into split v of d. */
static mb_status take_split(mb_ctx *ctx, mb_dataset *d, int v, const int32_t *tok,
                            const size_t *off, const int32_t *lab, size_t nex,
                            const uint8_t *mask) {
    size_t ne = 0, nt = 0;
    for (size_t k = 0; k < nex; k++)
        if (mask[k] == v) ne++, nt += off[k + 1] - off[k];
    d->tokens[v] = malloc((nt ? nt : 1) * sizeof(int32_t));
    d->off[v] = malloc((ne + 1) * sizeof(size_t));
    d->labels[v] = malloc((ne ? ne : 1) * sizeof(int32_t));
    if (!d->tokens[v] || !d->off[v] || !d->labels[v])
        return mb_error(ctx, MB_ENOMEM, "out of host memory for %zu examples", ne);
    size_t e = 0, t = 0;
    d->off[v][0] = 0;
    for (size_t k = 0; k < nex; k++) {
        if (mask[k] != v) continue;
        size_t len = off[k + 1] - off[k];
        memcpy(d->tokens[v] + t, tok + off[k], len * sizeof *tok);
        t += len;
        d->labels[v][e] = lab[k];
        d->off[v][++e] = t;
    }
    d->nex[v] = ne;
    d->n[v] = nt;
    return MB_OK;
}

mb_status mb_data_from_examples(mb_ctx *ctx, mb_dataset *d, const int32_t *tok, const size_t *off,
                                const int32_t *lab, size_t nex, int vocab, int classes, int pad,
                                double val_fraction, const uint8_t *is_val, const char *desc) {
    memset(d, 0, sizeof *d);
    if (classes < 2)
        return mb_error(ctx, MB_EINVAL, "%s: a labelled set needs at least 2 classes, got %d", desc,
                        classes);
    if (!is_val && !(val_fraction > 0.0 && val_fraction <= 0.5))
        return mb_error(ctx, MB_EINVAL, "%s: val_fraction must be in (0, 0.5], got %g", desc,
                        val_fraction);
    if (pad < 0 || pad >= vocab)
        return mb_error(ctx, MB_EINVAL, "%s: pad token %d is outside the vocabulary of %d", desc,
                        pad, vocab);
    for (size_t k = 0; k < nex; k++) {
        if (off[k + 1] <= off[k])
            return mb_error(ctx, MB_EINVAL, "%s: example %zu is empty", desc, k);
        if (lab[k] < 0 || lab[k] >= classes)
            return mb_error(ctx, MB_EINVAL, "%s: example %zu has label %d, not in [0, %d)", desc, k,
                            (int)lab[k], classes);
        for (size_t i = off[k]; i < off[k + 1]; i++)
            if (tok[i] < 0 || tok[i] >= vocab)
                return mb_error(ctx, MB_EINVAL,
                                "%s: example %zu holds token %d, outside the "
                                "vocabulary of %d",
                                desc, k, (int)tok[i], vocab);
    }
    uint8_t *mask = malloc(nex ? nex : 1);
    size_t *seen = calloc((size_t)classes, sizeof *seen);
    size_t *count[2] = {calloc((size_t)classes, sizeof(size_t)),
                        calloc((size_t)classes, sizeof(size_t))};
    mb_status s = (mask && seen && count[0] && count[1])
                      ? MB_OK
                      : mb_error(ctx, MB_ENOMEM, "%s: out of host memory", desc);
    for (size_t k = 0; k < nex && s == MB_OK; k++) {
        if (is_val) {
            mask[k] = is_val[k] != 0;
        } else {
            double j = (double)seen[lab[k]]++;
            mask[k] = floor((j + 1) * val_fraction) > floor(j * val_fraction);
        }
        count[mask[k]][lab[k]]++;
    }
    for (int v = 0; v < 2 && s == MB_OK; v++) s = take_split(ctx, d, v, tok, off, lab, nex, mask);
    if (s == MB_OK && (d->nex[MB_SPLIT_TRAIN] == 0 || d->nex[MB_SPLIT_VAL] == 0))
        s = mb_error(ctx, MB_EINVAL,
                     "%s: %zu training and %zu validation examples; both splits "
                     "need at least one",
                     desc, d->nex[MB_SPLIT_TRAIN], d->nex[MB_SPLIT_VAL]);
    if (s == MB_OK) {
        int top = 0;
        for (int c = 1; c < classes; c++)
            if (count[MB_SPLIT_TRAIN][c] > count[MB_SPLIT_TRAIN][top]) top = c;
        d->vocab = vocab;
        d->classes = classes;
        d->pad = pad;
        d->entropy = NAN;
        d->majority = (double)count[MB_SPLIT_VAL][top] / (double)d->nex[MB_SPLIT_VAL];
        snprintf(d->desc, sizeof d->desc,
                 "%s: %zu examples, %d classes, train %zu / validation %zu, %zu tokens; "
                 "majority-class accuracy %.4f",
                 desc, nex, classes, d->nex[MB_SPLIT_TRAIN], d->nex[MB_SPLIT_VAL],
                 d->n[MB_SPLIT_TRAIN] + d->n[MB_SPLIT_VAL], d->majority);
    }
    free(mask);
    free(seen);
    free(count[0]);
    free(count[1]);
    if (s != MB_OK) mb_data_free(d);
    return s;
}

uint64_t mb_data_pass_batches(const mb_dataset *d, mb_split split, int B) {
    if (d->classes <= 0 || B < 1) return 0;
    return (d->nex[split] + (size_t)B - 1) / (size_t)B;
}

/* Position j of epoch `epoch`'s order of n examples: a permutation of [0, n) that needs no storage.
 * A 4-round Feistel network over the smallest even number of bits covering n, its round function
 * Philox (seed, stream, counter = epoch, round, half), applied again while the result is >= n
 * (cycle walking; the domain is under 4n, so a few times at most). A bijection on [0, n). */
static size_t shuffled(uint64_t seed, uint32_t stream, uint64_t epoch, size_t j, size_t n) {
    int half = 1;
    while (((uint64_t)1 << (2 * half)) < (uint64_t)n) half++;
    uint64_t mask = ((uint64_t)1 << half) - 1, x = j;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint32_t w[4];
            mb_rng_block(seed, stream, (epoch << 40) | (round << 32) | r, w);
            uint64_t t = l ^ (((uint64_t)w[0] << 32 | w[1]) & mask);
            l = r;
            r = t;
        }
        x = l << half | r;
    } while (x >= n);
    return (size_t)x;
}

/* mb_data_batch for a labelled set (data.c checks split, B and T first). */
mb_status mb_data_labeled_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                                uint64_t index, int B, int T, int32_t *x, int32_t *y) {
    size_t nex = d->nex[split];
    if (nex == 0)
        return mb_error(ctx, MB_EINVAL, "the %s split holds no examples",
                        split == MB_SPLIT_TRAIN ? "training" : "validation");
    for (int b = 0; b < B; b++) {
        uint64_t idx = index * (uint64_t)B + (uint64_t)b;
        int32_t *xr = x + (size_t)b * (size_t)T, *yr = y + (size_t)b * (size_t)T;
        for (int t = 0; t < T; t++) xr[t] = d->pad, yr[t] = -1;
        size_t k;
        if (split == MB_SPLIT_TRAIN) /* epoch idx / nex, in its own shuffled order */
            k = shuffled(seed, (uint32_t)MB_RNG_STREAM_DATA + (uint32_t)split, idx / nex, idx % nex,
                         nex);
        else if (idx < nex)
            k = (size_t)idx;
        else
            continue; /* past the end of the pass: an empty row */
        size_t len = d->off[split][k + 1] - d->off[split][k];
        if (len > (size_t)T) len = (size_t)T;
        memcpy(xr, d->tokens[split] + d->off[split][k], len * sizeof *xr);
        yr[len - 1] = d->labels[split][k];
    }
    return MB_OK;
}
