/* datasets/corpus.c — corpus loading: presence check with the fetch command in the error, the
 * GPT-2 token file (made once, atomically, keyed by the text's SHA-256), and the split. */
#include "corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "fetch.h"
#include "sha256.h"

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#define HDR 56 /* magic 8 + version 4 + vocab 4 + count 8 + sha256 32 */

/* Reads a token file made from text with hash `sha`; MB_ENOTFOUND when absent or stale. */
static mb_status read_tokens(mb_ctx *ctx, const char *path, const unsigned char sha[32],
                             int32_t **tok, size_t *n, int *vocab) {
    unsigned char *b;
    size_t len;
    if (access(path, R_OK) != 0) return MB_ENOTFOUND;
    MB_TRY(mb_read_file(ctx, path, (char **)&b, &len));
    mb_status s = MB_ENOTFOUND;
    if (len >= HDR && !memcmp(b, MB_TOKFILE_MAGIC, 8) && get_le(b + 8, 4) == MB_TOKFILE_VERSION &&
        !memcmp(b + 24, sha, 32)) {
        uint64_t count = get_le(b + 16, 8);
        if (count != (len - HDR) / 2 || (len - HDR) % 2) {
            s = mb_error(ctx, MB_EFORMAT,
                         "%s: header says %llu tokens, the file holds %zu bytes "
                         "of them: delete it and run again",
                         path, (unsigned long long)count, len - HDR);
        } else {
            int32_t *t = malloc((count ? count : 1) * sizeof *t);
            if (!t) {
                s = mb_error(ctx, MB_ENOMEM, "%s: out of host memory", path);
            } else {
                for (uint64_t i = 0; i < count; i++) t[i] = (int32_t)get_le(b + HDR + 2 * i, 2);
                *tok = t;
                *n = (size_t)count;
                *vocab = (int)get_le(b + 12, 4);
                s = MB_OK;
            }
        }
    }
    free(b);
    return s;
}

/* Writes path.tmp, then renames it over path: a crash never leaves a torn token file. */
static mb_status write_tokens(mb_ctx *ctx, const char *path, const unsigned char sha[32],
                              const int32_t *tok, size_t n, int vocab) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    size_t bytes = HDR + 2 * n;
    unsigned char *b = malloc(bytes);
    if (!b) return mb_error(ctx, MB_ENOMEM, "token file %s: out of host memory", path);
    memcpy(b, MB_TOKFILE_MAGIC, 8);
    put_u32(b + 8, MB_TOKFILE_VERSION);
    put_u32(b + 12, (uint32_t)vocab);
    put_u64(b + 16, (uint64_t)n);
    memcpy(b + 24, sha, 32);
    for (size_t i = 0; i < n; i++) {
        b[HDR + 2 * i] = (unsigned char)(tok[i] & 0xFF);
        b[HDR + 2 * i + 1] = (unsigned char)(tok[i] >> 8);
    }
    FILE *f = fopen(tmp, "wb");
    mb_status s = MB_OK;
    if (!f)
        s = mb_error(ctx, MB_EIO, "cannot create %s: %s", tmp, strerror(errno));
    else {
        size_t w = fwrite(b, 1, bytes, f);
        if (fclose(f) != 0 || w != bytes)
            s = mb_error(ctx, MB_EIO, "cannot write %s", tmp);
        else if (rename(tmp, path) != 0)
            s = mb_error(ctx, MB_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (s != MB_OK) remove(tmp);
    }
    free(b);
    return s;
}

mb_status mb_data_corpus(mb_ctx *ctx, mb_dataset *d, const char *name, mb_tokenizer tok,
                         double val_fraction) {
    memset(d, 0, sizeof *d);
    const char *need[] = {name, tok == MB_TOK_GPT2 ? "gpt2-bpe" : NULL, NULL};
    MB_TRY(mb_fetch_need(ctx, name, need));
    char text_path[4096], tok_path[4096], enc[4096], merges[4096], file[64];
    snprintf(file, sizeof file, "%s.txt", name);
    MB_TRY(mb_fetch_path(ctx, name, file, text_path, sizeof text_path));
    if (tok == MB_TOK_BYTES) {
        MB_TRY(mb_data_text_file(ctx, d, text_path, val_fraction));
        snprintf(d->desc, sizeof d->desc, "%s, bytes (%zu tokens)", name,
                 d->n[MB_SPLIT_TRAIN] + d->n[MB_SPLIT_VAL]);
        return MB_OK;
    }
    snprintf(file, sizeof file, "%s.gpt2.tokens", name);
    MB_TRY(mb_fetch_path(ctx, name, file, tok_path, sizeof tok_path));
    unsigned char *text;
    size_t len;
    MB_TRY(mb_read_file(ctx, text_path, (char **)&text, &len));
    /* the token file is keyed by the text and the tokenizer's files together */
    unsigned char sha[32];
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, text, len);
    mb_status s = mb_fetch_path(ctx, "gpt2-bpe", "encoder.json", enc, sizeof enc);
    if (s == MB_OK) s = mb_fetch_path(ctx, "gpt2-bpe", "vocab.bpe", merges, sizeof merges);
    for (int i = 0; i < 2 && s == MB_OK; i++) {
        unsigned char *vb;
        size_t vn;
        s = mb_read_file(ctx, i ? merges : enc, (char **)&vb, &vn);
        if (s == MB_OK) {
            mb_sha256_update(&h, vb, vn);
            free(vb);
        }
    }
    if (s != MB_OK) {
        free(text);
        return s;
    }
    mb_sha256_final(&h, sha);
    int32_t *ids = NULL;
    size_t n = 0;
    int vocab = 0;
    s = read_tokens(ctx, tok_path, sha, &ids, &n, &vocab);
    if (s == MB_ENOTFOUND) { /* first use, or the text changed: tokenize once and keep the file */
        mb_bpe *bpe = NULL;
        s = mb_bpe_load(ctx, enc, merges, &bpe);
        if (s == MB_OK) s = mb_bpe_encode(ctx, bpe, (const char *)text, len, &ids, &n);
        if (s == MB_OK) {
            vocab = mb_bpe_vocab(bpe);
            s = write_tokens(ctx, tok_path, sha, ids, n, vocab);
        }
        mb_bpe_free(bpe);
    }
    free(text);
    if (s == MB_OK) {
        char desc[256];
        snprintf(desc, sizeof desc, "%s, GPT-2 BPE (%zu tokens)", name, n);
        s = mb_data_from_tokens(ctx, d, ids, n, vocab, val_fraction, MB_CORPUS_BLOCK, desc);
    }
    if (s == MB_OK) {
        /* the bar a language model must clear: the unigram entropy of the training tokens */
        double *count = calloc((size_t)vocab, sizeof *count);
        if (count) {
            size_t nt = d->n[MB_SPLIT_TRAIN];
            for (size_t i = 0; i < nt; i++) count[d->tokens[MB_SPLIT_TRAIN][i]] += 1;
            double hsum = 0;
            for (int v = 0; v < vocab; v++)
                if (count[v] > 0) hsum -= count[v] / nt * log(count[v] / nt);
            size_t used = strlen(d->desc);
            snprintf(d->desc + used, sizeof d->desc - used,
                     "; training tokens' unigram entropy %.4f nats", hsum);
            free(count);
        }
    }
    free(ids);
    return s;
}
