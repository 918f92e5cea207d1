/* datasets/content.c — content ids of a suite's data: a data file's SHA-256, a fetched set's
 * manifest hashes once the cache is checked against them (and a tokenizer.json's SHA-256 with
 * them), nothing for synthetic data. */
#include "content.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../engine/file.h"
#include "data.h"
#include "fetch.h"
#include "sha256.h"

const char *const mb_data_kinds[] = {"synthetic",     "file",          "sotu", "moby-dick",
                                     "spam-assassin", "fashion-mnist", NULL};

/* SHA-256 of a data file, read through mb_file_open_read's checks. */
static mb_status file_id(mb_ctx *ctx, const char *path, char hex[65]) {
    FILE *f;
    MB_TRY(mb_file_open_read(ctx, path, "data file", MB_DATA_FILE_MAX, &f, NULL));
    mb_sha256 h;
    mb_sha256_init(&h);
    unsigned char buf[1 << 16];
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0 && (total += got) <= MB_DATA_FILE_MAX)
        mb_sha256_update(&h, buf, got);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e) return mb_error(ctx, MB_EIO, "cannot read data file %s: %s", path, strerror(e));
    if (total > MB_DATA_FILE_MAX)
        return mb_error(ctx, MB_EINVAL, "data file %s grew past the limit of %llu bytes while read",
                        path, (unsigned long long)MB_DATA_FILE_MAX);
    uint8_t d[32];
    mb_sha256_final(&h, d);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = 0;
    return MB_OK;
}

mb_status mb_data_content_id(mb_ctx *ctx, const char *kind, int tokenizer, const char *path,
                             char hex[65]) {
    hex[0] = 0;
    if (!strcmp(kind, "synthetic")) return MB_OK;
    if (!strcmp(kind, "file")) {
        if (!path || !*path) return mb_error(ctx, MB_EINVAL, "data: name file needs a path");
        return file_id(ctx, path, hex);
    }
    int text =
        !strcmp(kind, "sotu") || !strcmp(kind, "moby-dick") || !strcmp(kind, "spam-assassin");
    if (!text && strcmp(kind, "fashion-mnist"))
        return mb_error(ctx, MB_EINVAL, "unknown data set '%s'", kind);
    const char *sets[] = {kind, text && tokenizer == 0 ? "gpt2-bpe" : NULL, NULL};
    MB_TRY(mb_fetch_need(ctx, kind, sets));
    MB_TRY(mb_fetch_manifest_id(ctx, sets, hex));
    if (!text || tokenizer != 2) return MB_OK;
    /* a tokenizer.json (`path`): the set's id and the file's SHA-256, hashed together */
    if (!path || !*path) return mb_error(ctx, MB_EINVAL, "data: the tokenizer.json has no path");
    char tok[65], both[140];
    MB_TRY(file_id(ctx, path, tok));
    snprintf(both, sizeof both, "%s\n%s\n", hex, tok);
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, both, strlen(both));
    uint8_t d[32];
    mb_sha256_final(&h, d);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = 0;
    return MB_OK;
}
