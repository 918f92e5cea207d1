/* datasets/corpus.h — the fetched English corpora (sotu, moby-dick) as token data sets: GPT-2 BPE
 * tokens, computed once and kept in a token file beside the text, or plain bytes. */
#ifndef MB_CORPUS_H
#define MB_CORPUS_H

#include "data.h"

typedef enum mb_tokenizer { MB_TOK_GPT2, MB_TOK_BYTES } mb_tokenizer;

/* Token file: "MBTOKENS", u32 version (1), u32 vocab, u64 count, 32-byte SHA-256 of the text,
 * encoder.json and vocab.bpe it was made from, then `count` little-endian uint16 tokens. A file
 * whose hash differs is remade. */
#define MB_TOKFILE_MAGIC "MBTOKENS"
#define MB_TOKFILE_VERSION 1u

/* Validation is every 1/val_fraction-th block of this many tokens (mb_data_from_tokens). */
#define MB_CORPUS_BLOCK 4096

/* Loads corpus `name` ("sotu", "moby-dick") from the data cache with `tok`; val_fraction of its
 * tokens, in blocks spread through the text, is the validation split (bytes: the last
 * val_fraction, as for any file). Not fetched: MB_ENOTFOUND whose message is the exact
 * command that fetches what is missing. */
mb_status mb_data_corpus(mb_ctx *ctx, mb_dataset *d, const char *name, mb_tokenizer tok,
                         double val_fraction);

#endif
