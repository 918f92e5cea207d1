/* tests/test_bpe.c — GPT-2 BPE: a tiny hand-made vocabulary (JSON escapes, load errors), then the
 * real one from the data cache: exact ids of the committed fixtures, decode(encode(x)) == x, the
 * id range error, and the time to tokenize all of sotu.txt. argv: FIXTURE_DIR [DATA_CACHE_DIR]. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../datasets/bpe.h"
#include "../datasets/data.h"
#include "check.h"


static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) && ok;
}

/* Whitespace-separated decimal ids. */
static mb_status read_ids(mb_ctx *ctx, const char *path, int32_t **ids, size_t *n) {
    char *t;
    size_t len;
    MB_TRY(mb_read_file(ctx, path, &t, &len));
    size_t cap = len / 2 + 1, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) {
        free(t);
        return mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
    }
    for (char *p = t, *end;; p = end) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > INT32_MAX || k == cap) {
            size_t at = (size_t)(p - t);
            free(t);
            free(v);
            return mb_error(ctx, MB_EFORMAT, "%s: bad id at byte %zu", path, at);
        }
        v[k++] = (int32_t)x;
    }
    free(t);
    *ids = v;
    *n = k;
    return MB_OK;
}

/* Largest length <= max that ends on a UTF-8 character boundary of t. */
static size_t utf8_cut(const char *t, size_t len, size_t max) {
    size_t n = len < max ? len : max;
    while (n > 0 && n < len && ((unsigned char)t[n] & 0xc0) == 0x80) n--;
    return n;
}

/* encode(text) == want (when want is given) and decode(encode(text)) == text. */
static int check_text(mb_ctx *ctx, const mb_bpe *b, const char *name, const char *text, size_t len,
                      const int32_t *want, size_t nwant) {
    int32_t *ids;
    size_t n;
    CHECK_OK(ctx, mb_bpe_encode(ctx, b, text, len, &ids, &n));
    if (want) {
        size_t i = 0;
        while (i < n && i < nwant && ids[i] == want[i]) i++;
        CHECK(i == n && n == nwant,
              "%s: %zu tokens, expected %zu; first difference at token %zu: got %d, expected %d",
              name, n, nwant, i, i < n ? ids[i] : -1, i < nwant ? want[i] : -1);
    }
    char *back;
    size_t blen;
    mb_status s = mb_bpe_decode(ctx, b, ids, n, &back, &blen);
    free(ids);
    CHECK_OK(ctx, s);
    CHECK(blen == len && memcmp(back, text, len) == 0,
          "%s: decode(encode(x)) != x (%zu vs %zu bytes)", name, blen, len);
    CHECK(back[blen] == 0, "%s: decoded text not NUL-terminated", name);
    free(back);
    return 0;
}

/* A 260-token vocabulary: the 256 bytes (as \uXXXX escapes: GPT-2's byte characters), "he", "ll",
 * "hell" and " w" (written with a raw UTF-8 "Ġ"), and its four merges; then broken variants. */
static int test_small(mb_ctx *ctx, const char *dir) {
    char enc[600], merges[600];
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(merges, sizeof merges, "%s/vocab.bpe", dir);
    char json[256 * 16 + 256];
    size_t o = 0;
    int next = 256;
    o += (size_t)snprintf(json + o, sizeof json - o, "{");
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
        o += (size_t)snprintf(json + o, sizeof json - o, "\"\\u%04X\": %d, ",
                              printable ? c : next++, c);
    }
    snprintf(json + o, sizeof json - o,
             "\"he\": 256,\n\"ll\" :257 , \"hell\": 258, \"\xc4\xa0w\": 259 }\n");
    CHECK(write_file(enc, json), "cannot write %s", enc);
    CHECK(write_file(merges, "#version: 0.2\nh e\nl l\nhe ll\n\xc4\xa0 w\n"), "write %s", merges);
    mb_bpe *b;
    CHECK_OK(ctx, mb_bpe_load(ctx, enc, merges, &b));
    CHECK_EQ_U(mb_bpe_vocab(b), 260);
    static const int32_t hello[] = {258, 'o', 259, 'o', 'r', 'l', 'd'};
    check_text(ctx, b, "small vocabulary", "hello world", 11, hello, 7);
    /* invalid UTF-8 is one token a byte; here every token is a byte but 'he' */
    static const int32_t bad[] = {256, 0xff, 'x', 0xc3, 0x80, ' ', 0xe2, 0x82};
    const char *badtext = "he\xffx\xc3\x80 \xe2\x82";
    int32_t *ids;
    size_t n;
    CHECK_OK(ctx, mb_bpe_encode(ctx, b, badtext, strlen(badtext), &ids, &n));
    CHECK_EQ_U(n, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        CHECK(ids[i] == bad[i], "invalid UTF-8: token %zu is %d, expected %d", i, ids[i], bad[i]);
    free(ids);
    check_text(ctx, b, "invalid UTF-8", badtext, strlen(badtext), NULL, 0);
    check_text(ctx, b, "NUL bytes", "a\0b\0\0", 5, NULL, 0);
    CHECK_OK(ctx, mb_bpe_encode(ctx, b, "", 0, &ids, &n));
    CHECK_EQ_U(n, 0);
    free(ids);
    mb_bpe_free(b);

    /* Load errors name the file (and line for vocab.bpe). */
    struct {
        const char *json, *merges, *want;
    } bad_files[] = {
        {NULL, "#version: 0.2\nh e\nl l m\n",
         "%s:3: expected two tokens separated by a space, got 3"},
        {NULL, "#version: 0.2\nh e\nhe \xe2\x82\xac\n",
         "%s:3: \"he \xe2\x82\xac\" holds a character outside GPT-2's byte alphabet"},
        {NULL, "#version: 0.2\nh e\nh e\n", "%s:3: the merge \"h e\" appears twice"},
        {"{\"a\": 0, \"\\ud83d\\ude00\": 1}", NULL,
         "%s: at byte 10: U+1F600 is not one of GPT-2's 256 byte characters"},
        {"{\"a\": 0, \"\\ud83d\": 1}", NULL, "%s: at byte 16: high surrogate without a low one"},
        {"{\"a\": 0, \"b\": 0}", NULL, "%s: token id 0 is given to two tokens"},
        {"{\"a\": 0, \"b\": 2}", NULL,
         "%s: token id 2 is out of range: 2 tokens must have ids 0..1"},
        {"{\"a\": 0, \"\\u0061\": 1}", NULL, "%s: tokens 0 and 1 are the same bytes"},
        {"{\"a\": 0, \"b\": 1.5}", NULL, "%s: at byte 15: token ids must be integers"},
        {"{\"a\": 0} x", NULL, "%s: at byte 9: trailing characters after the object"},
        {"{\"a\": 0, \"b\": 1}", NULL, "%s: no token for the single byte 0x00"},
    };
    char good_json_path[700];
    snprintf(good_json_path, sizeof good_json_path, "%s", enc);
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        char e2[700], m2[700], want[900];
        snprintf(e2, sizeof e2, "%s/bad%zu.json", dir, i);
        snprintf(m2, sizeof m2, "%s/bad%zu.bpe", dir, i);
        if (bad_files[i].json) write_file(e2, bad_files[i].json);
        if (bad_files[i].merges) write_file(m2, bad_files[i].merges);
        const char *ep = bad_files[i].json ? e2 : good_json_path;
        const char *mp = bad_files[i].merges ? m2 : merges;
        snprintf(want, sizeof want, bad_files[i].want, bad_files[i].json ? e2 : m2);
        mb_bpe *x = NULL;
        mb_status s = mb_bpe_load(ctx, ep, mp, &x);
        CHECK(s == MB_EFORMAT, "bad file %zu: got %s", i, mb_status_name(s));
        CHECK(x == NULL, "bad file %zu: a tokenizer came back", i);
        CHECK_STR(ctx->err, want);
        mb_bpe_free(x);
        unlink(e2);
        unlink(m2);
    }
    /* A merge whose token encoder.json lacks: either file may be the damaged one (a flipped byte
     * in encoder.json lands here), so encoder.json is named first, then the merge's FILE:LINE. */
    char lo[700], want_lo[1600];
    snprintf(lo, sizeof lo, "%s/lo.bpe", dir);
    write_file(lo, "#version: 0.2\nh e\nl o\n");
    snprintf(want_lo, sizeof want_lo,
             "%s has no token \"lo\" for the merge on %s:3: one of the two files is damaged, or "
             "they are not a pair",
             enc, lo);
    mb_bpe *xlo = NULL;
    CHECK(mb_bpe_load(ctx, enc, lo, &xlo) == MB_EFORMAT && xlo == NULL, "lo.bpe: %s", ctx->err);
    CHECK_STR(ctx->err, want_lo);
    unlink(lo);
    char missing[700];
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    mb_bpe *x = NULL;
    CHECK(mb_bpe_load(ctx, missing, merges, &x) == MB_EIO, "missing file: %s", ctx->err);
    unlink(enc);
    unlink(merges);
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [DATA_CACHE_DIR]\n", argv[0]);
        return 1;
    }
    const char *fix = argv[1];
    mb_ctx ctx;
    memset(&ctx, 0, sizeof ctx); /* only the error buffer is used */

    char tmp[] = "/tmp/mbbpe.XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_small(&ctx, tmp);
    rmdir(tmp);

    /* The real vocabulary and corpora: argv[2], else the data cache ($MEMBENCH_DATA, else
     * $HOME/.cache/membench). */
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
            if (mb_check_failures) CHECK_DONE();
            printf("skipped: %s is missing (run `membench data fetch gpt2-bpe moby-dick sotu`, "
                   "or pass the data folder as argv[2])\n",
                   path[i]);
            return 77;
        }
    }
    mb_bpe *b;
    double t0 = now();
    CHECK_OK(&ctx, mb_bpe_load(&ctx, path[0], path[1], &b));
    printf("loaded the GPT-2 vocabulary in %.3f s\n", now() - t0);
    CHECK_EQ_U(mb_bpe_vocab(b), 50257);

    char *moby, *sotu, *tricky, fpath[700];
    size_t moby_len, sotu_len, tricky_len;
    CHECK_OK(&ctx, mb_read_file(&ctx, path[2], &moby, &moby_len));
    CHECK_OK(&ctx, mb_read_file(&ctx, path[3], &sotu, &sotu_len));
    snprintf(fpath, sizeof fpath, "%s/tricky.txt", fix);
    CHECK_OK(&ctx, mb_read_file(&ctx, fpath, &tricky, &tricky_len));
    struct {
        const char *ids, *text;
        size_t len;
    } fx[] = {
        {"moby-dick-200k.ids", moby, utf8_cut(moby, moby_len, 200000)},
        {"sotu-200k.ids", sotu, utf8_cut(sotu, sotu_len, 200000)},
        {"tricky.ids", tricky, tricky_len},
    };
    for (size_t i = 0; i < sizeof fx / sizeof *fx; i++) {
        int32_t *want = NULL;
        size_t nwant = 0;
        snprintf(fpath, sizeof fpath, "%s/%s", fix, fx[i].ids);
        CHECK_OK(&ctx, read_ids(&ctx, fpath, &want, &nwant));
        check_text(&ctx, b, fx[i].ids, fx[i].text, fx[i].len, want, nwant);
        printf("%s: %zu bytes, %zu tokens\n", fx[i].ids, fx[i].len, nwant);
        free(want);
    }

    /* Whitespace is Unicode's White_Space property, as \s in OpenAI's encoder (Python's `regex`):
     * U+0085 is white space, U+FEFF and U+180E are not. Ids from OpenAI's algorithm; the JS
     * gpt-3-encoder differs here (its \s takes U+FEFF but not U+0085). */
    static const int32_t ws[] = {64,    220, 126, 227, 65,  27332, 119, 123, 66,
                                 28053, 254, 236, 67,  126, 227,   126, 227, 304};
    const char *wstext = "a \xc2\x85"
                         "b \xef\xbb\xbf"
                         "c \xe1\xa0\x8e"
                         "d\xc2\x85\xc2\x85 e";
    check_text(&ctx, b, "White_Space", wstext, strlen(wstext), ws, sizeof ws / sizeof *ws);

    /* Ids outside the vocabulary. */
    static const int32_t out_of_range[] = {64, 65, 50257};
    char *text;
    size_t len;
    CHECK(mb_bpe_decode(&ctx, b, out_of_range, 3, &text, &len) == MB_EINVAL, "id 50257 accepted");
    CHECK_STR(ctx.err, "GPT-2 BPE decode: token id 50257 at position 2 is outside the vocabulary "
                       "(0..50256)");
    static const int32_t negative[] = {-1};
    CHECK(mb_bpe_decode(&ctx, b, negative, 1, &text, &len) == MB_EINVAL, "id -1 accepted");
    CHECK_STR(ctx.err, "GPT-2 BPE decode: token id -1 at position 0 is outside the vocabulary "
                       "(0..50256)");
    CHECK_OK(&ctx, mb_bpe_decode(&ctx, b, NULL, 0, &text, &len));
    CHECK(len == 0 && text && text[0] == 0, "decoding no ids");
    free(text);
    static const int32_t eot[] = {50256};
    CHECK_OK(&ctx, mb_bpe_decode(&ctx, b, eot, 1, &text, &len));
    CHECK_STR(text, "<|endoftext|>");
    free(text);

    /* Whole corpora: round trip, and the time for sotu.txt (reported, not asserted). */
    check_text(&ctx, b, "moby-dick.txt", moby, moby_len, NULL, 0);
    int32_t *ids;
    size_t n;
    t0 = now();
    CHECK_OK(&ctx, mb_bpe_encode(&ctx, b, sotu, sotu_len, &ids, &n));
    double dt = now() - t0;
    printf("sotu.txt: %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n", sotu_len, n, dt,
           (double)sotu_len / 1e6 / dt);
    CHECK_OK(&ctx, mb_bpe_decode(&ctx, b, ids, n, &text, &len));
    CHECK(len == sotu_len && memcmp(text, sotu, len) == 0, "sotu.txt: decode(encode(x)) != x");
    free(text);
    free(ids);

    free(moby);
    free(sotu);
    free(tricky);
    mb_bpe_free(b);
    CHECK_DONE();
}
