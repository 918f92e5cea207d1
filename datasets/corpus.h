/* datasets/corpus.h — the fetched English corpora (sotu, moby-dick) as token data sets: GPT-2 BPE
 * tokens, computed once and kept in a token file beside the text, a tokenizer.json's, or bytes. */
#ifndef MB_CORPUS_H
#define MB_CORPUS_H

#include "data.h"

/* MB_TOK_FILE: a Hugging Face tokenizer.json (datasets/hftok.h), mb_data_corpus_hf. */
typedef enum mb_tokenizer { MB_TOK_GPT2, MB_TOK_BYTES, MB_TOK_FILE } mb_tokenizer;

/* Token file, little-endian: "MBTOKENS", u32 version (2), u32 vocab, u64 count, the source (the
 * text's SHA-256), the tokenizer (SHA-256 of "MB_BPE_IMPL\nENCODER\nVOCAB\n", the hex SHA-256s of
 * encoder.json and vocab.bpe), the file's own SHA-256 (of the 88 header bytes before it and the
 * tokens), then `count` uint16 tokens, each < vocab. One whose source or tokenizer differs, or
 * that fails its own hash, is derived again; version 1 files (no own hash) are too. */
#define MB_TOKFILE_MAGIC "MBTOKENS"
#define MB_TOKFILE_VERSION 2u
#define MB_TOKFILE_HEADER 120

/* Validation is every 1/val_fraction-th block of this many tokens (mb_data_from_tokens). */
#define MB_CORPUS_BLOCK 4096

/* Loads corpus `name` ("sotu", "moby-dick") from the data cache with `tok`; val_fraction of its
 * tokens, in blocks spread through the text, is the validation split (bytes: the last
 * val_fraction, as for any file). Not fetched: MB_ENOTFOUND whose message is the exact
 * command that fetches what is missing. Every cached file it needs is hashed against the manifest
 * first (mb_fetch_need): a damaged one is an error naming it, never trained on. */
mb_status mb_data_corpus(mb_ctx *ctx, mb_dataset *d, const char *name, mb_tokenizer tok,
                         double val_fraction);
/* The same in the tokens of a Hugging Face tokenizer.json (datasets/hftok.h): the text is checked
 * against the manifest like the others, then encoded on every load (no token file is kept; the
 * largest corpus takes about a second), with the vocabulary the tokenizer's. */
mb_status mb_data_corpus_hf(mb_ctx *ctx, mb_dataset *d, const char *name, const char *tokenizer,
                            double val_fraction);

#endif
