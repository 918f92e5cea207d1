/* datasets/corpus.c — corpus loading: the cached files checked against the manifest first, the
 * GPT-2 token file (derived once, written with mkstemp + rename, derived again whenever its source,
 * its tokenizer or its own hash does not match), and the split. */
#include "corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/file.h"
#include "bpe.h"
#include "hftok.h"
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

#define HDR MB_TOKFILE_HEADER
#define HASHED 88 /* the header before the file's own hash: hashed together with the tokens */

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void from_hex(const char hex[65], unsigned char out[32]) {
    for (int i = 0; i < 32; i++)
        out[i] = (unsigned char)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
}

static void to_hex(const unsigned char d[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = 0;
}

/* The token file's own hash: its first HASHED header bytes, then the tokens. */
static void file_hash(const unsigned char *b, size_t len, unsigned char out[32]) {
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, b, HASHED);
    mb_sha256_update(&h, b + HDR, len - HDR);
    mb_sha256_final(&h, out);
}

/* Reads the token file made from text `src` by tokenizer `tk`. MB_ENOTFOUND, with no message,
 * when it is absent, made from another text or tokenizer, or fails its own hash or shape checks:
 * the caller derives it again. A FIFO, device or folder at the path is refused (MB_EINVAL). */
static mb_status read_tokens(mb_ctx *ctx, const char *path, const unsigned char src[32],
                             const unsigned char tk[32], int32_t **tok, size_t *n, int *vocab) {
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return MB_ENOTFOUND;
    FILE *f;
    uint64_t size;
    MB_TRY(mb_file_open_read(ctx, path, "token file", HDR + 2 * MB_DATA_FILE_MAX, &f, &size));
    unsigned char *b = size >= HDR ? malloc((size_t)size) : NULL;
    if (size >= HDR && !b) {
        fclose(f);
        return mb_error(ctx, MB_ENOMEM, "token file %s: out of host memory", path);
    }
    size_t got = b ? fread(b, 1, (size_t)size, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(b);
        return mb_error(ctx, MB_EIO, "cannot read token file %s", path);
    }
    mb_status s = MB_ENOTFOUND;
    uint64_t count = b && got == size ? get_le(b + 16, 8) : 0;
    uint64_t v = b && got == size ? get_le(b + 12, 4) : 0;
    unsigned char own[32];
    if (b && got == size && !memcmp(b, MB_TOKFILE_MAGIC, 8) &&
        get_le(b + 8, 4) == MB_TOKFILE_VERSION && !memcmp(b + 24, src, 32) &&
        !memcmp(b + 56, tk, 32) && (size - HDR) % 2 == 0 && count == (size - HDR) / 2 && v >= 1 &&
        v <= 65536) {
        file_hash(b, (size_t)size, own);
        int32_t *t = memcmp(own, b + HASHED, 32) ? NULL : malloc((count ? count : 1) * sizeof *t);
        int ok = t != NULL;
        for (uint64_t i = 0; ok && i < count; i++)
            ok = (t[i] = (int32_t)get_le(b + HDR + 2 * i, 2)) < (int32_t)v;
        if (ok) {
            *tok = t;
            *n = (size_t)count;
            *vocab = (int)v;
            s = MB_OK;
        } else {
            free(t);
        }
    }
    free(b);
    return s;
}

/* Writes the token file through mb_file_begin/commit: a temporary file from mkstemp beside it
 * (never a planted name or symlink), renamed over it once complete and synced. */
static mb_status write_tokens(mb_ctx *ctx, const char *path, const unsigned char src[32],
                              const unsigned char tk[32], const int32_t *tok, size_t n, int vocab) {
    size_t bytes = HDR + 2 * n;
    unsigned char *b = malloc(bytes);
    if (!b) return mb_error(ctx, MB_ENOMEM, "token file %s: out of host memory", path);
    memcpy(b, MB_TOKFILE_MAGIC, 8);
    put_u32(b + 8, MB_TOKFILE_VERSION);
    put_u32(b + 12, (uint32_t)vocab);
    put_u64(b + 16, (uint64_t)n);
    memcpy(b + 24, src, 32);
    memcpy(b + 56, tk, 32);
    for (size_t i = 0; i < n; i++) {
        b[HDR + 2 * i] = (unsigned char)(tok[i] & 0xFF);
        b[HDR + 2 * i + 1] = (unsigned char)(tok[i] >> 8);
    }
    file_hash(b, bytes, b + HASHED);
    mb_file_out fo;
    mb_status s = mb_file_begin(ctx, &fo, path);
    if (s == MB_OK) {
        fwrite(b, 1, bytes, fo.fp); /* a short write sets the error flag: commit reports it */
        s = mb_file_commit(ctx, &fo);
    }
    free(b);
    return s;
}

static mb_status corpus_split(mb_ctx *ctx, mb_dataset *d, const int32_t *ids, size_t n, int vocab,
                              double val_fraction, const char *desc);

mb_status mb_data_corpus(mb_ctx *ctx, mb_dataset *d, const char *name, mb_tokenizer tok,
                         double val_fraction) {
    memset(d, 0, sizeof *d);
    const char *need[] = {name, tok == MB_TOK_GPT2 ? "gpt2-bpe" : NULL, NULL};
    MB_TRY(mb_fetch_need(ctx, name, need)); /* every file of the sets hashed against the manifest */
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
    MB_TRY(mb_fetch_path(ctx, "gpt2-bpe", "encoder.json", enc, sizeof enc));
    MB_TRY(mb_fetch_path(ctx, "gpt2-bpe", "vocab.bpe", merges, sizeof merges));
    /* The token file is keyed by its source (the text's SHA-256) and its tokenizer (the SHA-256
     * of encoder.json's and vocab.bpe's hashes and MB_BPE_IMPL): the manifest's hashes, which
     * mb_fetch_need has just checked the cached files against. */
    char src_hex[65], enc_hex[65], voc_hex[65], tk_text[160];
    snprintf(file, sizeof file, "%s.txt", name);
    MB_TRY(mb_fetch_expected(ctx, name, file, src_hex));
    MB_TRY(mb_fetch_expected(ctx, "gpt2-bpe", "encoder.json", enc_hex));
    MB_TRY(mb_fetch_expected(ctx, "gpt2-bpe", "vocab.bpe", voc_hex));
    unsigned char src[32], tk[32];
    from_hex(src_hex, src);
    snprintf(tk_text, sizeof tk_text, "%s\n%s\n%s\n", MB_BPE_IMPL, enc_hex, voc_hex);
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, tk_text, strlen(tk_text));
    mb_sha256_final(&h, tk);
    int32_t *ids = NULL;
    size_t n = 0;
    int vocab = 0;
    mb_status s = read_tokens(ctx, tok_path, src, tk, &ids, &n, &vocab);
    if (s == MB_ENOTFOUND) { /* first use, or stale or damaged: tokenize once and keep the file */
        unsigned char *text = NULL, got[32];
        size_t len = 0;
        s = mb_read_file(ctx, text_path, (char **)&text, &len);
        if (s == MB_OK) {
            mb_sha256_init(&h);
            mb_sha256_update(&h, text, len);
            mb_sha256_final(&h, got);
        }
        if (s == MB_OK && memcmp(got, src, 32)) {
            char got_hex[65];
            to_hex(got, got_hex);
            s = mb_error(ctx, MB_EFORMAT,
                         "%s: SHA-256 mismatch: expected %s, got %s (the file changed while it was "
                         "read); run again",
                         text_path, src_hex, got_hex);
        }
        mb_bpe *bpe = NULL;
        if (s == MB_OK) s = mb_bpe_load(ctx, enc, merges, &bpe);
        if (s == MB_OK) s = mb_bpe_encode(ctx, bpe, (const char *)text, len, &ids, &n);
        if (s == MB_OK && (vocab = mb_bpe_vocab(bpe)) > 65536)
            s = mb_error(ctx, MB_EUNSUPPORTED, "%s: %d tokens do not fit a token file's 16 bits",
                         enc, vocab);
        if (s == MB_OK) s = write_tokens(ctx, tok_path, src, tk, ids, n, vocab);
        mb_bpe_free(bpe);
        free(text);
    }
    if (s == MB_OK) {
        char desc[256];
        snprintf(desc, sizeof desc, "%s, GPT-2 BPE (%zu tokens)", name, n);
        s = corpus_split(ctx, d, ids, n, vocab, val_fraction, desc);
    }
    free(ids);
    return s;
}

/* The split, and the bar a language model must clear in the description: the unigram entropy of
 * the training tokens. */
static mb_status corpus_split(mb_ctx *ctx, mb_dataset *d, const int32_t *ids, size_t n, int vocab,
                              double val_fraction, const char *desc) {
    mb_status s = mb_data_from_tokens(ctx, d, ids, n, vocab, val_fraction, MB_CORPUS_BLOCK, desc);
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
    return s;
}

mb_status mb_data_corpus_hf(mb_ctx *ctx, mb_dataset *d, const char *name, const char *tokenizer,
                            double val_fraction) {
    memset(d, 0, sizeof *d);
    const char *need[] = {name, NULL};
    MB_TRY(mb_fetch_need(ctx, name, need));
    char text_path[4096], file[64];
    snprintf(file, sizeof file, "%s.txt", name);
    MB_TRY(mb_fetch_path(ctx, name, file, text_path, sizeof text_path));
    mb_hftok *t = NULL;
    char *text = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    mb_status s = mb_hftok_load(ctx, tokenizer, &t);
    if (s == MB_OK) s = mb_read_file(ctx, text_path, &text, &len);
    if (s == MB_OK) s = mb_hftok_encode(ctx, t, text, len, &ids, &n);
    if (s == MB_OK) {
        char desc[256];
        snprintf(desc, sizeof desc, "%s, %s of %s (%zu tokens)", name, mb_hftok_kind(t), tokenizer,
                 n);
        s = corpus_split(ctx, d, ids, n, mb_hftok_vocab(t), val_fraction, desc);
    }
    free(ids);
    free(text);
    mb_hftok_free(t);
    return s;
}
