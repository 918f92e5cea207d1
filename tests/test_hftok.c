/* tests/test_hftok.c — tokenizer.json: hand-made fixtures (SentencePiece-style with byte fallback,
 * Llama 3's split) with ids worked out by hand, the pre-tokenizers against PCRE2 and the Unicode
 * table against PCRE2's, and exact messages for what membench refuses. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../datasets/hftok.h"
#include "../engine/jsonstr.h"
#include "../datasets/pretok.h"
#include "../datasets/unicode.h"
#include "../engine/rng.h"
#include "check.h"

static void check_ids(mb_ctx *ctx, const mb_hftok *t, const char *text, const int32_t *want,
                      size_t nwant, const char *decoded) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (mb_hftok_encode(ctx, t, text, strlen(text), &ids, &n) != MB_OK) {
        CHECK(0, "\"%s\": %s", text, ctx->err);
        return;
    }
    int same = n == nwant;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "\"%s\": got", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
        fputc('\n', stderr);
    }
    CHECK(same, "\"%s\": ids differ from the ones worked out by hand", text);
    char *back = NULL;
    size_t len = 0;
    if (mb_hftok_decode(ctx, t, ids, n, &back, &len) == MB_OK)
        CHECK_STR(back, decoded);
    else
        CHECK(0, "decode: %s", ctx->err);
    free(back);
    free(ids);
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / 4

/* sentencepiece.json (Llama 2's layout): <unk> 0, <s> 1, </s> 2 (also added tokens), <0x00> ..
 * <0xEF> 3 .. 242 (no fallback for bytes F0..FF, so 4-byte characters are unknown), then ▁ 243,
 * h 244, e 245, l 246, o 247, w 248, r 249, d 250, ll 251, ▁h 252, ell 253, ▁hell 254, ▁hello 255,
 * or 256, ▁w 257, ▁wor 258, ld 259, ▁world 260; merges by rank: l l, ▁ h, e ll, ▁h ell, ▁hell o,
 * o r, ▁ w, ▁w or, l d, ▁wor ld. byte_fallback and fuse_unk are on. */
static void test_sentencepiece(mb_ctx *ctx, const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/sentencepiece.json", dir);
    mb_hftok *t;
    if (mb_hftok_load(ctx, path, &t) != MB_OK) {
        CHECK(0, "%s", ctx->err);
        return;
    }
    CHECK_STR(mb_hftok_kind(t), "SentencePiece-style BPE");
    CHECK_EQ_U(mb_hftok_vocab(t), 261);
    /* "▁hello▁world", cut before each ▁: ▁ h e l l o merges l l (rank 0), ▁ h (1), e ll (2),
     * ▁h ell (3), ▁hell o (4): 255. ▁ w o r l d: o r (5), ▁ w (6), ▁w or (7), l d (8),
     * ▁wor ld (9): 260. */
    check_ids(ctx, t, "hello world", IDS(255, 260), "hello world");
    /* é is not a token: its bytes C3 A9 fall back to <0xC3> = 3 + 195 and <0xA9> = 3 + 169;
     * ▁ h and l l still merge, nothing crosses the byte tokens. */
    check_ids(ctx, t, "h\xc3\xa9llo", IDS(252, 198, 172, 251, 247), "h\xc3\xa9llo");
    /* a and b fall back to <0x61> 100 and <0x62> 101; each 😀 (F0 9F 98 80) has no <0xF0>, so it
     * is unknown, the two fused into one <unk>; `tokenizers` adds a pending <unk> only before the
     * next character that is a token itself, or at the end, so b's byte token comes first. */
    check_ids(ctx, t,
              "a\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
              "b",
              IDS(243, 100, 101, 0), "ab<unk>");
    /* added tokens are found before the normalizer; each piece between gets its own ▁ */
    check_ids(ctx, t, "<s>hello</s>", IDS(1, 255, 2), "<s> hello</s>");
    /* "hi " is "▁hi▁": ▁h (252), i by fallback (3 + 0x69 = 108), ▁ (243); then <s>; " hello" is
     * "▁▁hello": ▁ (243), ▁hello (255) */
    check_ids(ctx, t, "hi <s> hello", IDS(252, 108, 243, 1, 243, 255), "hi <s>  hello");
    int32_t bad[] = {255, 261};
    char *text;
    size_t len;
    CHECK(mb_hftok_decode(ctx, t, bad, 2, &text, &len) == MB_EINVAL, "id 261 decoded");
    CHECK_STR(ctx->err, "tokenizer.json decode: token id 261 at position 1 names no token");
    mb_hftok_free(t);
}

/* llama3.json: byte-level, Split with Llama 3's pattern then ByteLevel (use_regex false),
 * ignore_merges on. Ids 0..255 are the bytes (token = GPT-2's character for the byte: Ġ space, Ċ
 * newline), then 'S 256, 12 257, 123 258, Ġw 259, Ġwe 260, e' 261, ĊĊ 262, ĠĠ 263, hello 264 (no
 * merge makes it), <|begin_of_text|> 265 (added); merges by rank: ' S, 1 2, 12 3, Ġ w, Ġw e, e ',
 * Ċ Ċ, Ġ Ġ. */
static void test_llama3(mb_ctx *ctx, const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/llama3.json", dir);
    mb_hftok *t;
    if (mb_hftok_load(ctx, path, &t) != MB_OK) {
        CHECK(0, "%s", ctx->err);
        return;
    }
    CHECK_STR(mb_hftok_kind(t), "byte-level BPE (Llama 3 split)");
    /* pre-tokens: [hello][ we]['S][ ][123][45][\n\n][ ][ x]. hello is a token, taken whole by
     * ignore_merges (264); " we": Ġ w (rank 3), Ġw e (4) = 260, never e ' (the contraction 'S,
     * case-insensitive, is its own pre-token: 256); the space before 12345 stays alone (a letter
     * must follow to join); numbers in threes: 123 = 258, then 4 5 (52 53); \n\n up to the last
     * newline of the white space (262); of the two spaces before x, the first alone (32), the
     * second leads " x" (32 120): no ĠĠ, since they are two pre-tokens. */
    check_ids(ctx, t, "<|begin_of_text|>hello we'S 12345\n\n  x",
              IDS(265, 264, 260, 256, 32, 258, 52, 53, 262, 32, 32, 120),
              "<|begin_of_text|>hello we'S 12345\n\n  x");
    mb_hftok_free(t);
}

/* The pre-tokens of s under `kind`, joined by '|'. */
static void split(mb_pretok kind, const char *s, char *out, size_t cap) {
    size_t n = strlen(s), k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = mb_pretok_next(kind, (const unsigned char *)s, n, i);
        if (i && k + 1 < cap) out[k++] = '|';
        for (size_t j = 0; j < l && k + 1 < cap; j++) out[k++] = s[i + j];
        i += l;
    }
    out[k] = 0;
}

static void test_split_by_hand(void) {
    char got[256];
    const char *s = "Hello world's  end\n\n x 12 ab";
    split(MB_PRETOK_GPT2, s, got, sizeof got);
    CHECK_STR(got, "Hello| world|'s| | end|\n\n| x| 12| ab");
    split(MB_PRETOK_LLAMA3, s, got, sizeof got);
    CHECK_STR(got, "Hello| world|'s| | end|\n\n| x| |12| ab");
    /* Llama 3: contractions in any case, U+017F (long s) folding to s; GPT-2: lower case only */
    split(MB_PRETOK_LLAMA3, "I'LL it'\xc5\xbf", got, sizeof got);
    CHECK_STR(got, "I|'LL| it|'\xc5\xbf");
    split(MB_PRETOK_GPT2, "I'LL it's", got, sizeof got);
    CHECK_STR(got, "I|'|LL| it|'s");
    /* Llama 3: punctuation keeps the newlines after it; a non-letter leads letters */
    split(MB_PRETOK_LLAMA3, "ok.\r\n\n(x) \t\n  y", got, sizeof got);
    CHECK_STR(got, "ok|.\r\n\n|(x|)| \t\n| | y");
}

/* The PCRE2 spelling of a pattern: \s and \S as Unicode White_Space, as `tokenizers` means them
 * (the Oniguruma engine's \s); PCRE2's own \s also takes U+180E. */
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

/* Random strings from characters where the patterns turn (apostrophes and contraction letters in
 * both cases, spaces, CR, LF, tab, U+0085, U+00A0, U+180E, U+3000, digits of several scripts,
 * letters, marks, symbols, emoji), or from every code point when the table is PCRE2's Unicode
 * version: the hand matcher must cut them as PCRE2 runs the pattern. */
static void test_split_vs_pcre2(int any_cp) {
    static const uint32_t pool[] = {
        '\'', 's',   'S',    't',    'T',    'r',     'R',     'e',    'E',    'v',    'V',
        'm',  'M',   'l',    'L',    'd',    'D',     0x17F,   ' ',    ' ',    ' ',    '\r',
        '\n', '\t',  0x0B,   0x85,   0xA0,   0x180E,  0x3000,  0x2028, 0xFEFF, '1',    '2',
        '9',  0x663, 0x2167, 0xBD,   'a',    'z',     0xE9,    0x4E2D, 0x5D0,  0x301,  '.',
        '!',  '(',   '-',    0x2014, 0x20AC, 0x1F600, 0x10400, '_',    '"',    0x2019, 0x1D7CE};
    const char *const names[] = {"GPT-2", "Llama 3"};
    for (int kind = 0; kind < 2; kind++) {
        pcre2_code *re = compile(kind ? mb_pretok_llama3 : mb_pretok_gpt2);
        CHECK(re != NULL, "PCRE2 cannot compile the %s pattern", names[kind]);
        if (!re) return;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int bad = 0;
        for (uint64_t trial = 0; trial < 4000 && !bad; trial++) {
            unsigned char s[256];
            size_t n = 0, len = 1 + mb_rng_below(11, (uint32_t)kind, trial * 64, 40);
            for (size_t c = 0; c < len; c++) {
                uint64_t r = mb_rng_below(11, (uint32_t)kind, trial * 64 + 1 + c, 1u << 30);
                uint32_t cp = pool[r % (sizeof pool / sizeof *pool)];
                if (any_cp && (r >> 20) % 4 == 0) {
                    cp = (uint32_t)(r % 0x110000);
                    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
                }
                n += mb_utf8_put(cp, s + n);
            }
            for (size_t i = 0; i < n && !bad;) {
                int rc = pcre2_match(re, s, n, i, 0, md, NULL);
                size_t want = rc > 0 ? pcre2_get_ovector_pointer(md)[1] - i : 0;
                size_t got = mb_pretok_next((mb_pretok)kind, s, n, i);
                if (rc <= 0 || pcre2_get_ovector_pointer(md)[0] != i || want != got) {
                    fprintf(stderr, "%s: at byte %zu of", names[kind], i);
                    for (size_t j = 0; j < n; j++) fprintf(stderr, " %02x", s[j]);
                    fprintf(stderr, ": PCRE2 takes %zu bytes, membench %zu\n", want, got);
                    bad = 1;
                }
                i += got ? got : 1;
            }
        }
        CHECK(!bad, "the %s pre-tokenizer differs from PCRE2", names[kind]);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
}

/* Every code point's class against PCRE2's \p{L}, \p{N}, \p{White_Space}; only meaningful (and
 * only run) when PCRE2 was built from the same Unicode version as the table. */
static int test_table_vs_pcre2(void) {
    char ver[32];
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, ver);
    if (strcmp(ver, mb_unicode_version)) {
        printf("note: PCRE2 has Unicode %s, the table %s: the table is not compared with it\n", ver,
               mb_unicode_version);
        return 0;
    }
    const char *pat[] = {"\\p{L}", "\\p{N}", "\\p{White_Space}"};
    pcre2_code *re[3];
    int err;
    PCRE2_SIZE off;
    for (int k = 0; k < 3; k++)
        re[k] = pcre2_compile((PCRE2_SPTR)pat[k], PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, NULL);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    size_t differ = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        unsigned char s[4];
        size_t n = mb_utf8_put(cp, s);
        int want = 0;
        for (int k = 0; k < 3; k++)
            if (pcre2_match(re[k], s, n, 0, 0, md, NULL) > 0) want |= 1 << k;
        if (want != mb_unicode_class(cp) && differ++ < 5)
            fprintf(stderr, "U+%04X: PCRE2 class %d, table %d\n", (unsigned)cp, want,
                    mb_unicode_class(cp));
    }
    CHECK(differ == 0, "%zu code points are classed differently from PCRE2", differ);
    pcre2_match_data_free(md);
    for (int k = 0; k < 3; k++) pcre2_code_free(re[k]);
    printf("Unicode %s: every code point classed as PCRE2 does\n", ver);
    return 1;
}

/* What membench refuses, and bad JSON: the exact message, with FILE:LINE:COL and the JSON path. */
static void test_errors(mb_ctx *ctx, const char *tmp) {
    static const struct {
        const char *json;
        mb_status status;
        const char *msg; /* after "PATH:" */
    } cases[] = {
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", MB_EUNSUPPORTED,
         "1:20: model.type: \"WordPiece\" is not supported (membench reads BPE models)"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}, \"normalizer\": {\"type\": "
         "\"NFKC\"}}",
         MB_EUNSUPPORTED,
         "1:20: model.type: \"Unigram\" is not supported (membench reads BPE models)"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},\n"
         " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "
         "\"prepend\": \"\\u2581\"}, {\"type\": \"NFKC\"}]}}",
         MB_EUNSUPPORTED,
         "2:104: normalizer.normalizers[1].type: \"NFKC\" is not supported (membench reads no "
         "normalizer, or the Sequence of Prepend(\"\xe2\x96\x81\") and Replace(\" \", "
         "\"\xe2\x96\x81\") of SentencePiece-style BPE)"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},\n"
         " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
         "\"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
         "{\"type\": \"ByteLevel\", \"use_regex\": false}]}}",
         MB_EUNSUPPORTED,
         "2:97: pre_tokenizer.pretokenizers[0].pattern.Regex: \"\\w+\" is not supported "
         "(membench knows GPT-2's and Llama 3's patterns)"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
         "\"pre_tokenizer\": "
         "{\"type\": \"Whitespace\"}}",
         MB_EUNSUPPORTED,
         "1:87: pre_tokenizer.type: \"Whitespace\" is not supported (membench reads ByteLevel, or "
         "a Sequence of Split (GPT-2's or Llama 3's pattern, Isolated) and ByteLevel with "
         "use_regex false; none with the SentencePiece-style normalizer)"},
        {"{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": "
         "[]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
         MB_EUNSUPPORTED,
         "1:38: model.dropout: 0.1 is not supported (membench encodes without dropout)"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a "
         "b\"]},\n"
         " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
         MB_EFORMAT, "1:65: model.merges[0]: \"ab\" is not in model.vocab"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},\n "
         "\"pre_tokenizer\": "
         "{\"type\": \"ByteLevel\"},\n \"added_tokens\": [{\"id\": 1, \"content\": \"<x>\", "
         "\"lstrip\": true}]}",
         MB_EUNSUPPORTED,
         "3:57: added_tokens[0].lstrip: true is not supported (membench matches added tokens as "
         "they are)"},
        {"{\"model\": {\"type\": \"BPE\",\n  \"vocab\": {\"a\": 0,}}}", MB_EFORMAT,
         "2:20: expected a member name (a string)"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}, "
         "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
         MB_EFORMAT, "1:50: model.vocab: \"a\" and \"b\" both have id 0"},
    };
    char path[600], want[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        if (!f) return;
        fputs(cases[i].json, f);
        fclose(f);
        mb_hftok *t = NULL;
        mb_status s = mb_hftok_load(ctx, path, &t);
        CHECK(s == cases[i].status && !t, "case %zu: status %s", i, mb_status_name(s));
        snprintf(want, sizeof want, "%s:%s", path, cases[i].msg);
        CHECK_STR(ctx->err, want);
        mb_hftok_free(t);
    }
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 1;
    }
    mb_ctx ctx;
    memset(&ctx, 0, sizeof ctx); /* only the error buffer is used */
    char tmp[] = "/tmp/mbhftok.XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_sentencepiece(&ctx, argv[1]);
    test_llama3(&ctx, argv[1]);
    test_split_by_hand();
    int same = test_table_vs_pcre2();
    test_split_vs_pcre2(same);
    test_errors(&ctx, tmp);
    rmdir(tmp);
    CHECK_DONE();
}
