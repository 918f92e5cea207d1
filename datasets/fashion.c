/* datasets/fashion.c — Fashion-MNIST: the IDX files of the fetched Debian package, checked,
 * normalised, and pooled and quantized into pixel tokens. */
#include "fashion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "idx.h"

#define SIDE MB_FASHION_SIDE
#define TSIDE (MB_FASHION_SIDE / MB_FASHION_POOL)

mb_status mb_fashion_load(mb_ctx *ctx, mb_split split, float **pixels, uint8_t **labels,
                          size_t *n) {
    *pixels = NULL;
    *labels = NULL;
    *n = 0;
    const char *need[] = {"fashion-mnist", NULL};
    MB_TRY(mb_fetch_need(ctx, "fashion-mnist", need));
    const char *pre = split == MB_SPLIT_TRAIN ? "train" : "t10k";
    size_t want = split == MB_SPLIT_TRAIN ? 60000 : 10000;
    char img_path[4096], lab_path[4096], f[64];
    snprintf(f, sizeof f, "%s-images-idx3-ubyte.gz", pre);
    MB_TRY(mb_fetch_path(ctx, "fashion-mnist", f, img_path, sizeof img_path));
    snprintf(f, sizeof f, "%s-labels-idx1-ubyte.gz", pre);
    MB_TRY(mb_fetch_path(ctx, "fashion-mnist", f, lab_path, sizeof lab_path));
    mb_idx img = {0}, lab = {0};
    mb_status s = mb_idx_read(ctx, img_path, &img);
    if (s == MB_OK) s = mb_idx_read(ctx, lab_path, &lab);
    if (s == MB_OK &&
        (img.ndim != 3 || img.dims[0] != want || img.dims[1] != SIDE || img.dims[2] != SIDE))
        s = mb_error(ctx, MB_EFORMAT, "%s: expected %zu images of %dx%d", img_path, want, SIDE,
                     SIDE);
    if (s == MB_OK && (lab.ndim != 1 || lab.dims[0] != want))
        s = mb_error(ctx, MB_EFORMAT, "%s: expected %zu labels", lab_path, want);
    for (size_t i = 0; s == MB_OK && i < want; i++)
        if (lab.data[i] >= MB_FASHION_CLASSES)
            s = mb_error(ctx, MB_EFORMAT, "%s: label %u of image %zu is not in 0..9", lab_path,
                         lab.data[i], i);
    if (s == MB_OK) {
        *pixels = malloc(want * SIDE * SIDE * sizeof **pixels);
        *labels = malloc(want);
        if (!*pixels || !*labels) {
            free(*pixels);
            free(*labels);
            *pixels = NULL;
            *labels = NULL;
            s = mb_error(ctx, MB_ENOMEM, "out of host memory for %zu images", want);
        }
    }
    if (s == MB_OK) {
        for (size_t i = 0; i < want * SIDE * SIDE; i++) (*pixels)[i] = img.data[i] / 255.0f;
        memcpy(*labels, lab.data, want);
        *n = want;
    }
    mb_idx_free(&img);
    mb_idx_free(&lab);
    return s;
}

void mb_fashion_tokens(const float *image, int32_t *out) {
    const int P = MB_FASHION_POOL;
    for (int r = 0; r < TSIDE; r++)
        for (int c = 0; c < TSIDE; c++) {
            float m = 0;
            for (int i = 0; i < P; i++)
                for (int j = 0; j < P; j++) m += image[(r * P + i) * SIDE + c * P + j];
            int t = (int)(m / (float)(P * P) * MB_FASHION_LEVELS);
            out[r * TSIDE + c] = t < MB_FASHION_LEVELS - 1 ? t : MB_FASHION_LEVELS - 1;
        }
}

mb_status mb_data_fashion_mnist(mb_ctx *ctx, mb_dataset *d) {
    memset(d, 0, sizeof *d);
    float *px[2] = {NULL, NULL};
    uint8_t *lb[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    mb_status s = mb_fashion_load(ctx, MB_SPLIT_TRAIN, &px[0], &lb[0], &n[0]);
    if (s == MB_OK) s = mb_fashion_load(ctx, MB_SPLIT_VAL, &px[1], &lb[1], &n[1]);
    size_t total = n[0] + n[1], L = (size_t)TSIDE * TSIDE;
    int32_t *tok = NULL, *lab = NULL;
    size_t *off = NULL;
    uint8_t *is_val = NULL;
    if (s == MB_OK) {
        tok = malloc(total * L * sizeof *tok);
        lab = malloc(total * sizeof *lab);
        off = malloc((total + 1) * sizeof *off);
        is_val = malloc(total);
        if (!tok || !lab || !off || !is_val)
            s = mb_error(ctx, MB_ENOMEM, "out of host memory for %zu images", total);
    }
    for (size_t k = 0; s == MB_OK && k < total; k++) {
        int v = k >= n[0];
        size_t i = v ? k - n[0] : k;
        mb_fashion_tokens(px[v] + i * SIDE * SIDE, tok + k * L);
        lab[k] = lb[v][i];
        off[k] = k * L;
        is_val[k] = (uint8_t)v;
    }
    if (s == MB_OK) {
        off[total] = total * L;
        s = mb_data_from_examples(ctx, d, tok, off, lab, total, MB_FASHION_LEVELS,
                                  MB_FASHION_CLASSES, 0, 0.0, is_val,
                                  "fashion-mnist (14x14 pixel tokens, 16 gray levels)");
    }
    for (int v = 0; v < 2; v++) {
        free(px[v]);
        free(lb[v]);
    }
    free(tok);
    free(lab);
    free(off);
    free(is_val);
    return s;
}
