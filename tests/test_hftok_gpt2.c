/* tests/test_hftok_gpt2.c — a tokenizer.json made from membench's own GPT-2 files (encoder.json,
 * vocab.bpe; merges written both as "a b" strings and as [a, b] pairs) must give the ids of the
 * GPT-2 BPE (datasets/bpe.c) on the fetched corpora, the tricky fixture and random bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../datasets/bpe.h"
#include "../datasets/data.h"
#include "../datasets/hftok.h"
#include "../engine/rng.h"
#include "check.h"

/* Writes s[0..n) as a JSON string. */
static void put_json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* tokenizer.json as Hugging Face's gpt2 repository has it, built from encoder.json and vocab.bpe;
 * pairs: merges as [a, b] (newer `tokenizers`), else "a b". */
static int write_tokenizer(const char *out, const char *enc, size_t enc_len, const char *merges,
                           size_t merges_len, int pairs) {
    FILE *f = fopen(out, "w");
    if (!f) return 0;
    fputs(
        "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n"
        "\"added_tokens\": [{\"id\": 50256, \"content\": \"<|endoftext|>\", \"single_word\": "
        "false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, \"special\": true}],\n"
        "\"normalizer\": null,\n"
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
        "\"trim_offsets\": true, \"use_regex\": true},\n"
        "\"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
        "\"trim_offsets\": false, \"use_regex\": true},\n"
        "\"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": "
        "true, \"use_regex\": true},\n"
        "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
        "\"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\", \"fuse_unk\": false, "
        "\"byte_fallback\": false, \"vocab\": ",
        f);
    fwrite(enc, 1, enc_len, f);
    fputs(", \"merges\": [", f);
    int first = 1, lineno = 0;
    for (size_t at = 0; at < merges_len;) {
        const char *line = merges + at, *nl = memchr(line, '\n', merges_len - at);
        size_t n = nl ? (size_t)(nl - line) : merges_len - at;
        at += n + 1;
        if (n == 0 || (++lineno == 1 && line[0] == '#')) continue; /* "#version: 0.2" */
        const char *sp = memchr(line, ' ', n);
        if (!sp) continue;
        fputs(first ? "\n" : ",\n", f);
        first = 0;
        if (pairs) {
            fputc('[', f);
            put_json_str(f, line, (size_t)(sp - line));
            fputs(", ", f);
            put_json_str(f, sp + 1, n - (size_t)(sp - line) - 1);
            fputc(']', f);
        } else {
            put_json_str(f, line, n);
        }
    }
    fputs("]}}\n", f);
    return fclose(f) == 0;
}

static void compare(mb_ctx *ctx, const mb_bpe *b, const mb_hftok *t, const char *what,
                    const char *text, size_t len) {
    int32_t *want = NULL, *got = NULL;
    size_t nw = 0, ng = 0;
    if (mb_bpe_encode(ctx, b, text, len, &want, &nw) != MB_OK ||
        mb_hftok_encode(ctx, t, text, len, &got, &ng) != MB_OK) {
        CHECK(0, "%s: encoding failed: %s", what, ctx->err);
        free(want);
        return;
    }
    size_t i = 0;
    while (i < nw && i < ng && want[i] == got[i]) i++;
    CHECK(i == nw && i == ng,
          "%s: tokenizer.json gives %zu ids, GPT-2 BPE %zu; first difference "
          "at %zu (%d vs %d)",
          what, ng, nw, i, i < ng ? (int)got[i] : -1, i < nw ? (int)want[i] : -1);
    char *back = NULL;
    size_t bl = 0;
    CHECK(mb_hftok_decode(ctx, t, got, ng, &back, &bl) == MB_OK && bl == len &&
              memcmp(back, text, len) == 0,
          "%s: decode(encode(x)) != x", what);
    printf("%s: %zu bytes, %zu tokens, identical\n", what, len, ng);
    free(back);
    free(want);
    free(got);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [DATA_CACHE_DIR]\n", argv[0]);
        return 1;
    }
    mb_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    char data[512];
    const char *env = getenv("MEMBENCH_DATA"), *home = getenv("HOME");
    if (argc > 2)
        snprintf(data, sizeof data, "%s", argv[2]);
    else if (env && *env)
        snprintf(data, sizeof data, "%s", env);
    else
        snprintf(data, sizeof data, "%s/.cache/membench", home ? home : ".");
    static const char *const need[] = {"gpt2-bpe/encoder.json", "gpt2-bpe/vocab.bpe",
                                       "moby-dick/moby-dick.txt", "sotu/sotu.txt"};
    char path[4][700];
    for (int i = 0; i < 4; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", data, need[i]);
        if (access(path[i], R_OK) != 0) {
            printf("skipped: %s is missing (run `membench data fetch gpt2-bpe moby-dick sotu`, "
                   "or pass the data folder as argv[2])\n",
                   path[i]);
            return 77;
        }
    }
    char *enc, *merges, *moby, *sotu, *tricky, fpath[700];
    size_t enc_len, merges_len, moby_len, sotu_len, tricky_len;
    CHECK_OK(&ctx, mb_read_file(&ctx, path[0], &enc, &enc_len));
    CHECK_OK(&ctx, mb_read_file(&ctx, path[1], &merges, &merges_len));
    CHECK_OK(&ctx, mb_read_file(&ctx, path[2], &moby, &moby_len));
    CHECK_OK(&ctx, mb_read_file(&ctx, path[3], &sotu, &sotu_len));
    snprintf(fpath, sizeof fpath, "%s/tricky.txt", argv[1]);
    CHECK_OK(&ctx, mb_read_file(&ctx, fpath, &tricky, &tricky_len));
    mb_bpe *b;
    CHECK_OK(&ctx, mb_bpe_load(&ctx, path[0], path[1], &b));

    /* random bytes: invalid UTF-8 included, each such byte a piece of its own in both */
    size_t rlen = 1 << 16;
    char *rnd = malloc(rlen);
    for (size_t i = 0; i < rlen; i++) {
        uint64_t r = mb_rng_below(7, 0, i, 1000);
        /* mostly ASCII letters and spaces, some of every byte */
        rnd[i] = r < 600   ? (char)('a' + r % 26)
                 : r < 800 ? ' '
                 : r < 850 ? '\''
                 : r < 900 ? '\n'
                           : (char)mb_rng_below(7, 1, i, 256);
    }

    char tmp[] = "/tmp/mbhftok.XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    for (int pairs = 0; pairs < 2; pairs++) {
        char tj[600];
        snprintf(tj, sizeof tj, "%s/tokenizer-%s.json", tmp, pairs ? "pairs" : "strings");
        CHECK(write_tokenizer(tj, enc, enc_len, merges, merges_len, pairs), "writing %s", tj);
        mb_hftok *t;
        CHECK_OK(&ctx, mb_hftok_load(&ctx, tj, &t));
        CHECK_EQ_U(mb_hftok_vocab(t), 50257);
        CHECK_STR(mb_hftok_kind(t), "byte-level BPE (GPT-2 split)");
        printf("merges as %s:\n", pairs ? "[a, b] pairs" : "\"a b\" strings");
        compare(&ctx, b, t, "moby-dick.txt", moby, moby_len);
        compare(&ctx, b, t, "sotu.txt", sotu, sotu_len);
        compare(&ctx, b, t, "tricky.txt", tricky, tricky_len);
        compare(&ctx, b, t, "random bytes", rnd, rlen);
        /* the one difference by design: an added token in the text is that token */
        int32_t *ids;
        size_t n;
        CHECK_OK(&ctx, mb_hftok_encode(&ctx, t, "a<|endoftext|>b", 15, &ids, &n));
        CHECK(n == 3 && ids[0] == 64 && ids[1] == 50256 && ids[2] == 65, "added token: %zu ids", n);
        free(ids);
        mb_hftok_free(t);
        unlink(tj);
    }
    rmdir(tmp);
    mb_bpe_free(b);
    free(rnd);
    free(enc);
    free(merges);
    free(moby);
    free(sotu);
    free(tricky);
    CHECK_DONE();
}
