/* tests/fuzz/fuzz_hftok.c — fuzz target for tokenizer.json: an input that starts with '{' is a
 * tokenizer.json (it loads or fails with a message; loaded, it encodes a sample to ids it can
 * decode); any other input is text, encoded by the two fixtures of tests/fixtures/hftok (byte-level
 * gives the bytes back exactly; SentencePiece-style too where nothing is unknown or "▁"), and cut
 * by both pre-tokenizers exactly where PCRE2 cuts it. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "../../datasets/hftok.h"
#include "../../engine/jsonstr.h"
#include "../../datasets/pretok.h"
#include "fuzz_scratch.h"

static void check_ids(mb_ctx *ctx, const mb_hftok *t, const char *s, size_t n, int exact) {
    int32_t *ids = NULL;
    size_t k = 0;
    if (mb_hftok_encode(ctx, t, s, n, &ids, &k) != MB_OK) abort();
    for (size_t i = 0; i < k; i++)
        if (ids[i] < 0 || ids[i] >= mb_hftok_vocab(t)) abort();
    char *back = NULL;
    size_t bl = 0;
    if (mb_hftok_decode(ctx, t, ids, k, &back, &bl) != MB_OK) abort();
    if (exact && (bl != n || memcmp(back, s, n))) abort();
    free(back);
    free(ids);
}

/* PCRE2's spelling of a pattern: \s and \S as White_Space (see tests/test_hftok.c). */
static pcre2_code *compile(const char *pattern) {
    char buf[512];
    size_t k = 0;
    for (const char *p = pattern; *p && k + 20 < sizeof buf; p++) {
        if (p[0] == '\\' && (p[1] == 's' || p[1] == 'S')) {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "\\%c{White_Space}",
                                  p[1] == 's' ? 'p' : 'P');
            p++;
        } else {
            buf[k++] = *p;
        }
    }
    buf[k] = 0;
    int err;
    PCRE2_SIZE off;
    return pcre2_compile((PCRE2_SPTR)buf, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off,
                         NULL);
}

static void check_split(pcre2_code *re, pcre2_match_data *md, mb_pretok kind,
                        const unsigned char *s, size_t n) {
    for (size_t at = 0; at < n;) { /* each run of valid UTF-8 */
        size_t run = at;
        for (uint32_t cp; run < n && mb_utf8_next(s, n, &run, &cp);) {
        }
        for (size_t i = at; i < run;) {
            size_t got = mb_pretok_next(kind, s + at, run - at, i - at);
            /* PCRE2 checks the whole subject's UTF-8 on every call unless told not to: once per
             * run, or a long input takes quadratic time */
            int rc = pcre2_match(re, s + at, run - at, i - at, i > at ? PCRE2_NO_UTF_CHECK : 0, md,
                                 NULL);
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (got == 0 || rc <= 0 || ov[0] != i - at || ov[1] - ov[0] != got) abort();
            i += got;
        }
        at = run < n ? run + 1 : run; /* past the byte that is not valid UTF-8 */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    mb_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (n && data[0] == '{') {
        char path[128];
        fz_path(path, sizeof path, "in.json");
        if (fz_write(path, data, n)) return 0;
        mb_hftok *t = NULL;
        if (mb_hftok_load(&ctx, path, &t) != MB_OK) {
            if (!ctx.err[0] || t) abort();
            return 0;
        }
        static const char sample[] = "Hello, world's  12345\n\n\t\xc3\xa9\xe2\x96\x81x \xff<s>";
        check_ids(&ctx, t, sample, sizeof sample - 1, 0);
        mb_hftok_free(t);
        return 0;
    }
    static mb_hftok *sp, *l3; /* the fixtures, loaded once: a test program's own state */
    static pcre2_code *re[2];
    static pcre2_match_data *md;
    if (!sp) {
        if (mb_hftok_load(&ctx, MB_FIXTURES "/sentencepiece.json", &sp) != MB_OK ||
            mb_hftok_load(&ctx, MB_FIXTURES "/llama3.json", &l3) != MB_OK) {
            fprintf(stderr, "fuzz_hftok: %s\n", ctx.err);
            abort();
        }
        re[0] = compile(mb_pretok_gpt2);
        re[1] = compile(mb_pretok_llama3);
        md = pcre2_match_data_create(4, NULL);
        if (!re[0] || !re[1] || !md) abort();
    }
    const char *s = (const char *)data;
    int plain = 1; /* no "▁" and no byte without a fallback token (F0..FF) */
    for (size_t i = 0; i < n && plain; i++)
        plain = data[i] < 0xF0 && !(i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3));
    check_ids(&ctx, l3, s, n, 1);
    /* each piece between added tokens gets a "▁" of its own (the decoder drops only the first):
     * text that holds an added token does not come back as it was */
    static const char *const added[] = {"<unk>", "<s>", "</s>"};
    for (int k = 0; k < 3 && plain; k++) plain = !memmem(s, n, added[k], strlen(added[k]));
    check_ids(&ctx, sp, s, n, plain);
    check_split(re[0], md, MB_PRETOK_GPT2, data, n);
    check_split(re[1], md, MB_PRETOK_LLAMA3, data, n);
    return 0;
}
