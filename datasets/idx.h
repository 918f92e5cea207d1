/* datasets/idx.h — IDX files (MNIST / Fashion-MNIST), gzip-compressed or not, read through zlib. */
#ifndef MB_IDX_H
#define MB_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef struct mb_idx {
    int ndim;
    uint32_t dims[4];
    uint8_t *data; /* unsigned bytes (type 0x08), product of dims */
    size_t n;      /* product of dims */
} mb_idx;

/* Reads an IDX file of unsigned bytes (magic 0x00000803 images or 0x00000801 labels). Errors name
 * the file and the offending field. */
mb_status mb_idx_read(mb_ctx *ctx, const char *path, mb_idx *out);
void mb_idx_free(mb_idx *x);

#endif
