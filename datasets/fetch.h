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
/* Every loader calls this before it reads a cached file. MB_OK when every set in `names`
 * (NULL-terminated) is fetched and each of its files hashes to the manifest's SHA-256 now (hashed
 * again on every call). Not fetched: MB_ENOTFOUND, "data set 'WHAT' is not fetched (looked in
 * ROOT/WHAT): run `membench data fetch WHAT`", or when it needs others: "data set 'WHAT' needs A B,
 * which are not fetched (looked in ROOT): run `membench data fetch A B`". A file that differs:
 * MB_EFORMAT, "PATH: SHA-256 mismatch: expected X, got Y (the cached file is damaged or was
 * changed); delete DIR and run `membench data fetch NAME` again". A FIFO, device or folder in a
 * file's place, or a file over MB_DATA_FILE_MAX: MB_EINVAL saying so, never read. */
mb_status mb_fetch_need(mb_ctx *ctx, const char *what, const char *const *names);
/* The manifest's SHA-256 (64 lowercase hex digits) of `file` in set `name`; MB_ENOTFOUND if it
 * lists none. What mb_fetch_need has just checked the cached file against. */
mb_status mb_fetch_expected(mb_ctx *ctx, const char *name, const char *file, char hex[65]);
/* SHA-256 (hex) of the manifest lines ("<hex>  <path>\n") of the sets in `names`, in that order:
 * what those sets hold, for config hashes. MB_EFORMAT when the manifest lists no file of one. */
mb_status mb_fetch_manifest_id(mb_ctx *ctx, const char *const *names, char hex[65]);
/* The manifest's files of set `name` whose path inside the set starts with `prefix` ("" for all),
 * in manifest order (sorted), as paths relative to the set's folder; free with mb_fetch_list_free. */
mb_status mb_fetch_list(mb_ctx *ctx, const char *name, const char *prefix, char ***out, size_t *n);
void mb_fetch_list_free(char **v, size_t n);
/* Downloads (npm pack / apt-get download), extracts what the manifest lists, checks every
 * file's SHA-256 against the committed manifest and writes the files into the cache. Progress
 * lines go to `log` (may be NULL). A missing tool is MB_EUNSUPPORTED saying what to install; a
 * checksum mismatch is MB_EFORMAT naming the file, both hashes, and what to delete. */
mb_status mb_fetch(mb_ctx *ctx, const char *name, FILE *log);
/* Re-hashes every cached file of `name`; MB_ENOTFOUND if not fetched, MB_EFORMAT on a mismatch,
 * MB_EINVAL for a FIFO, device or folder in a file's place (refused, not read). */
mb_status mb_fetch_verify(mb_ctx *ctx, const char *name, FILE *log);

/* "512 B", "1.2 KiB", "10.3 MiB", "1.50 GiB" */
void mb_fetch_fmt_size(uint64_t bytes, char *buf, size_t n);

#endif
