/* datasets/content.h — what a suite's data holds, as one SHA-256 for the cells' config hashes, so
 * that a changed corpus or file never shares a hash with the data a baseline was measured on. */
#ifndef MB_CONTENT_H
#define MB_CONTENT_H

#include "../engine/ctx.h"

/* A suite's data.name values, NULL-terminated, in the order of harness/suite.h's mb_data_kind:
 * "synthetic", "file", "sotu", "moby-dick", "spam-assassin", "fashion-mnist". */
extern const char *const mb_data_kinds[];

/* The content id of data `kind` (one of mb_data_kinds) into hex[65]:
 *  - synthetic: "" (its generator's parameters are in the config already);
 *  - file: the SHA-256 of `path`, a regular file of at most MB_DATA_FILE_MAX bytes (a FIFO,
 *    device or folder is refused before it is opened for reading);
 *  - fetched sets: the SHA-256 of the manifest lines of the set and, with `tokenizer` 0 (GPT-2)
 *    for sotu, moby-dick and spam-assassin, of gpt2-bpe's (mb_fetch_manifest_id), after
 *    mb_fetch_need has checked every cached file against them: a set not fetched or damaged is
 *    an error here, at plan time, with the command that fixes it; with `tokenizer` 2 (a
 *    tokenizer.json, for sotu and moby-dick) `path` names that file, and the id is the SHA-256 of
 *    the set's id and the file's SHA-256 (hex, a line each). */
mb_status mb_data_content_id(mb_ctx *ctx, const char *kind, int tokenizer, const char *path,
                             char hex[65]);

#endif
