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
/* n tokens of a vocabulary of `vocab` (copied). block == 0: the last val_fraction of them is
 * validation; else the text is cut into blocks of `block` tokens and the val_fraction of the blocks
 * spread evenly through it (block k when floor((k+1) f) > floor(k f)) is validation, so a corpus
 * whose style drifts (speeches from 1790 to 2018) has both splits from every era. `desc` names the
 * set in messages and logs. */
mb_status mb_data_from_tokens(mb_ctx *ctx, mb_dataset *d, const int32_t *tok, size_t n, int vocab,
                              double val_fraction, size_t block, const char *desc);
/* Batch `index` of a split: B windows of T+1 consecutive tokens whose starts are drawn uniformly
 * with Philox (seed, MB_RNG_STREAM_DATA + split, index*B + b); x = window[0..T), y = window[1..T].
 * MB_EINVAL when the split holds fewer than T+1 tokens (the message says how many it holds). */
mb_status mb_data_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                        uint64_t index, int B, int T, int32_t *x, int32_t *y);
void mb_data_free(mb_dataset *d);
/* A whole file into memory: *out is malloc'd and NUL-terminated, *len bytes without the NUL. */
mb_status mb_read_file(mb_ctx *ctx, const char *path, char **out, size_t *len);

#endif
