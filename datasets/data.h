/* datasets/data.h — token data sets held on the host: synthetic Markov text and any file read as
 * bytes (vocab 256); a deterministic train/validation split; batches drawn with Philox. */
#ifndef MB_DATA_H
#define MB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef enum mb_split { MB_SPLIT_TRAIN = 0, MB_SPLIT_VAL = 1 } mb_split;

typedef struct mb_dataset {
    int vocab;
    int32_t *tokens[2]; /* [MB_SPLIT_TRAIN], [MB_SPLIT_VAL] */
    size_t n[2];
    char desc[256];     /* one line for logs and run.json */
    double entropy;     /* nats per token of the generating process when known (synthetic), else NaN */
} mb_dataset;

/* Synthetic text: an order-1 Markov chain where each token has `branch` successors chosen by Philox
 * from (seed), each followed with equal probability, so the best achievable loss is ln(branch).
 * ntokens tokens in all; the last val_fraction of them is the validation split. */
mb_status mb_data_synthetic(mb_ctx *ctx, mb_dataset *d, int vocab, int branch, size_t ntokens,
                            uint64_t seed, double val_fraction);
/* Any file, one token per byte (vocab 256); the last val_fraction of its bytes is validation. */
mb_status mb_data_text_file(mb_ctx *ctx, mb_dataset *d, const char *path, double val_fraction);
/* Batch `index` of a split: B windows of T+1 consecutive tokens whose starts are drawn uniformly
 * with Philox (seed, MB_RNG_STREAM_DATA + split, index*B + b); x = window[0..T), y = window[1..T].
 * MB_EINVAL when the split holds fewer than T+1 tokens (the message says how many it holds). */
mb_status mb_data_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                        uint64_t index, int B, int T, int32_t *x, int32_t *y);
void mb_data_free(mb_dataset *d);

#endif
