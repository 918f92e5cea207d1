/* datasets/fetch.h — the data sets membench can fetch (npm packs, a Debian package), where they are
 * cached ($MEMBENCH_DATA, default ~/.cache/membench), and their SHA-256 manifest. */
#ifndef MB_FETCH_H
#define MB_FETCH_H

#include <stdint.h>
#include <stdio.h>

#include "../engine/ctx.h"

/* The fetchable names in order, NULL-terminated: "moby-dick", "sotu", "spam-assassin", "gpt2-bpe",
 * "fashion-mnist". */
extern const char *const mb_fetch_names[];

/* The cache root: $MEMBENCH_DATA if set, else $HOME/.cache/membench. */
mb_status mb_fetch_root(mb_ctx *ctx, char *buf, size_t n);
/* Path of `file` inside data set `name`'s folder of the cache (no check that it exists). */
mb_status mb_fetch_path(mb_ctx *ctx, const char *name, const char *file, char *buf, size_t n);
/* 1 when every manifest file of `name` is present (sizes not checked; verify does that). */
int mb_fetch_present(mb_ctx *ctx, const char *name);
/* MB_OK when every set in `names` (NULL-terminated) is fetched; else MB_ENOTFOUND whose message
 * is "data set WHAT needs A B, which is not fetched: run `membench data fetch A B`". */
mb_status mb_fetch_need(mb_ctx *ctx, const char *what, const char *const *names);
/* The manifest's files of set `name` whose path inside the set starts with `prefix` ("" for all),
 * in manifest order (sorted), as paths relative to the set's folder; free with mb_fetch_list_free. */
mb_status mb_fetch_list(mb_ctx *ctx, const char *name, const char *prefix, char ***out, size_t *n);
void mb_fetch_list_free(char **v, size_t n);
/* Downloads (npm pack / apt-get download), extracts what the manifest lists, checks every
 * file's SHA-256 against the committed manifest and writes the files into the cache. Progress
 * lines go to `log` (may be NULL). A missing tool is MB_EUNSUPPORTED saying what to install; a
 * checksum mismatch is MB_EFORMAT naming the file, both hashes, and what to delete. */
mb_status mb_fetch(mb_ctx *ctx, const char *name, FILE *log);
/* Re-hashes every cached file of `name`; MB_ENOTFOUND if not fetched, MB_EFORMAT on a mismatch. */
mb_status mb_fetch_verify(mb_ctx *ctx, const char *name, FILE *log);

/* "512 B", "1.2 KiB", "10.3 MiB", "1.50 GiB" */
void mb_fetch_fmt_size(uint64_t bytes, char *buf, size_t n);

#endif
