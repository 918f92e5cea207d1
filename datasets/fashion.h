/* datasets/fashion.h — Fashion-MNIST (fetched): 28x28 gray images of 10 kinds of clothing,
 * normalised to [0, 1], and as a labelled set of pixel tokens for the classification task. */
#ifndef MB_FASHION_H
#define MB_FASHION_H

#include "data.h"

#define MB_FASHION_SIDE 28    /* pixels per image side */
#define MB_FASHION_CLASSES 10 /* 0 T-shirt/top ... 9 ankle boot */
#define MB_FASHION_POOL 2     /* the token sequence averages 2x2 blocks: 14 x 14 = 196 tokens */
#define MB_FASHION_LEVELS 16  /* gray levels a pooled pixel is quantized to: the vocabulary */

/* One split of the fetched set (MB_SPLIT_TRAIN: 60,000 images; MB_SPLIT_VAL: the 10,000 test
 * images): pixels as floats in [0, 1] (byte / 255), row-major, n * 784 of them, and labels.
 * Both malloc'd. Not fetched: MB_ENOTFOUND with the fetch command; a file whose counts or sizes
 * disagree: MB_EFORMAT naming it. */
mb_status mb_fashion_load(mb_ctx *ctx, mb_split split, float **pixels, uint8_t **labels, size_t *n);
/* The image as tokens: each 2x2 block's mean m in [0, 1] becomes min(15, floor(16 m)), row by row
 * (196 tokens); out holds 196. */
void mb_fashion_tokens(const float *image, int32_t *out);
/* Both splits as a labelled set (vocab 16, pad 0, 196 tokens per example, the test images as the
 * validation split). */
mb_status mb_data_fashion_mnist(mb_ctx *ctx, mb_dataset *d);

#endif
