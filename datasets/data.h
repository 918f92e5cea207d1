/* datasets/data.h — token data sets held on the host: synthetic Markov text and any file read as
 * bytes (vocab 256); a deterministic train/validation split; batches drawn with Philox. */
#ifndef MB_DATA_H
#define MB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef enum mb_split { MB_SPLIT_TRAIN = 0, MB_SPLIT_VAL = 1 } mb_split;

/* The largest data file read (a data.path, a cached corpus, JSON or IDX file): 4 GiB. A larger
 * file, a FIFO, a device or a directory is refused before a byte of it is read. */
#define MB_DATA_FILE_MAX ((uint64_t)4 << 30)

typedef struct mb_dataset {
    int vocab;
    int32_t *tokens[2]; /* [MB_SPLIT_TRAIN], [MB_SPLIT_VAL] */
    size_t n[2];
    char desc[256];     /* one line for logs and run.json */
    double entropy;     /* nats per token of the generating process when known (synthetic), else NaN */
    /* Labelled sets (classes > 0): example k of split s is tokens[s][off[s][k] .. off[s][k+1]),
     * never empty, with label labels[s][k] in [0, classes). */
    int classes;
    int pad;            /* the token that fills a batch row after its example */
    size_t nex[2];
    size_t *off[2];     /* nex + 1 offsets */
    int32_t *labels[2];
    double majority;    /* validation accuracy of always answering the training split's most
                         * common class: the floor a classifier must beat */
} mb_dataset;

/* Synthetic text: an order-1 Markov chain where each token has `branch` successors chosen by Philox
 * from (seed), each followed with equal probability, so the best achievable loss is ln(branch).
 * ntokens tokens in all; the last val_fraction of them is the validation split. */
mb_status mb_data_synthetic(mb_ctx *ctx, mb_dataset *d, int vocab, int branch, size_t ntokens,
                            uint64_t seed, double val_fraction);
/* Any regular file of at most MB_DATA_FILE_MAX bytes, one token per byte (vocab 256); the last
 * val_fraction of its bytes is validation. */
mb_status mb_data_text_file(mb_ctx *ctx, mb_dataset *d, const char *path, double val_fraction);
/* n tokens of a vocabulary of `vocab` (copied). block == 0: the last val_fraction of them is
 * validation; else the text is cut into blocks of `block` tokens and the val_fraction of the blocks
 * spread evenly through it (block k when floor((k+1) f) > floor(k f)) is validation, so a corpus
 * whose style drifts (speeches from 1790 to 2018) has both splits from every era. `desc` names the
 * set in messages and logs. */
mb_status mb_data_from_tokens(mb_ctx *ctx, mb_dataset *d, const int32_t *tok, size_t n, int vocab,
                              double val_fraction, size_t block, const char *desc);
/* A labelled set from nex examples in one list: example k is tok[off[k] .. off[k+1]) (at least
 * one token, each < vocab) with label lab[k] in [0, classes). Validation: the examples with
 * is_val[k] != 0, or, with is_val NULL, stratified: the j-th example of each class (in list order)
 * when floor((j+1) f) > floor(j f), so every class keeps the same fraction, spread through it.
 * Everything is copied. `desc` names the set in messages; d->desc gets counts and the majority
 * floor. */
mb_status mb_data_from_examples(mb_ctx *ctx, mb_dataset *d, const int32_t *tok, const size_t *off,
                                const int32_t *lab, size_t nex, int vocab, int classes, int pad,
                                double val_fraction, const uint8_t *is_val, const char *desc);
/* Batches a full pass over a split takes (labelled sets: ceil(nex / B)); 0 for token streams,
 * which are sampled rather than passed over. */
uint64_t mb_data_pass_batches(const mb_dataset *d, mb_split split, int B);

/* Batch `index` of a split: B windows of T+1 consecutive tokens whose starts are drawn uniformly
 * with Philox (seed, MB_RNG_STREAM_DATA + split, index*B + b); x = window[0..T), y = window[1..T].
 * MB_EINVAL when the split holds fewer than T+1 tokens (the message says how many it holds).
 * Labelled sets: row b holds one example's first min(len, T) tokens then `pad`; y is -1 except at
 * the example's last kept token, which holds its label. Training row i = index*B + b takes
 * position i % nex of epoch i / nex, each epoch a different Philox-keyed permutation of the
 * examples (seed, MB_RNG_STREAM_DATA), so every example is seen once per epoch; validation rows take
 * examples index*B + b in order (a pass: mb_data_pass_batches), and rows past the end are all pad
 * with y = -1. */
mb_status mb_data_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                        uint64_t index, int B, int T, int32_t *x, int32_t *y);
/* mb_data_batch's labelled-set half (datasets/labeled.c). */
mb_status mb_data_labeled_batch(mb_ctx *ctx, const mb_dataset *d, mb_split split, uint64_t seed,
                                uint64_t index, int B, int T, int32_t *x, int32_t *y);
void mb_data_free(mb_dataset *d);
/* A whole file into memory: *out is malloc'd and NUL-terminated, *len bytes without the NUL. Only
 * a regular file of at most MB_DATA_FILE_MAX bytes is read (engine/file.h's checks). */
mb_status mb_read_file(mb_ctx *ctx, const char *path, char **out, size_t *len);

#endif
