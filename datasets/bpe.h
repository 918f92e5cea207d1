/* datasets/bpe.h — GPT-2's byte-level BPE tokenizer: encoder.json + vocab.bpe, the GPT-2
 * pre-tokenization regex through PCRE2 (Unicode classes from the library, not hand-written), and
 * encode/decode compatible token for token with OpenAI's encoder. */
#ifndef MB_BPE_H
#define MB_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef struct mb_bpe mb_bpe;

/* Names this implementation in the key of token files (datasets/corpus.h): change it whenever a
 * change here would tokenize any text differently, and every token file is made again. */
#define MB_BPE_IMPL "membench gpt2-bpe 1"

/* Loads the vocabulary (encoder.json: token string -> id, 50257 entries) and the merge ranks
 * (vocab.bpe). Errors name the file and what was wrong (FILE:LINE for vocab.bpe); a merge whose
 * token encoder.json lacks names encoder.json first, then the merge's FILE:LINE. */
mb_status mb_bpe_load(mb_ctx *ctx, const char *encoder_json, const char *vocab_bpe, mb_bpe **out);
void mb_bpe_free(mb_bpe *b);
int mb_bpe_vocab(const mb_bpe *b); /* number of token ids (50257 for GPT-2) */

/* Encodes UTF-8 text (len bytes; invalid UTF-8 is encoded byte by byte as GPT-2 would see the
 * bytes). *ids is malloc'd, *n tokens. */
mb_status mb_bpe_encode(mb_ctx *ctx, const mb_bpe *b, const char *text, size_t len, int32_t **ids,
                        size_t *n);
/* Decodes ids back to bytes; *text is malloc'd and NUL-terminated, *len bytes without the NUL.
 * An id outside the vocabulary is MB_EINVAL naming it and its position. */
mb_status mb_bpe_decode(mb_ctx *ctx, const mb_bpe *b, const int32_t *ids, size_t n, char **text,
                        size_t *len);

#endif
