/* datasets/hftok.h — Hugging Face tokenizer.json (the `tokenizers` library's format) for BPE
 * models: byte-level BPE (GPT-2, Llama 3) and SentencePiece-style BPE with byte fallback (Llama 2).
 * Anything else is refused with the JSON path of the field membench does not read. */
#ifndef MB_HFTOK_H
#define MB_HFTOK_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef struct mb_hftok mb_hftok;

/* Reads tokenizer.json. Errors are MB_EFORMAT (bad JSON, a field of the wrong type or an id out
 * of place: "FILE:LINE:COL: ...") or MB_EUNSUPPORTED ("FILE:LINE:COL: JSON.PATH: ... is not
 * supported (what membench reads)"). */
mb_status mb_hftok_load(mb_ctx *ctx, const char *path, mb_hftok **out);
void mb_hftok_free(mb_hftok *t);
/* The number of ids: the largest id of model.vocab and added_tokens, plus one. */
int mb_hftok_vocab(const mb_hftok *t);
/* "byte-level BPE (GPT-2 split)", "byte-level BPE (Llama 3 split)", "SentencePiece-style BPE". */
const char *mb_hftok_kind(const mb_hftok *t);

/* Encodes text as `tokenizers` does with add_special_tokens=False: added tokens found in the text
 * first (longest at the leftmost place), the pieces between normalized, pre-tokenized and merged.
 * Bytes that are not valid UTF-8 (which `tokenizers` cannot be given) are each a piece of their
 * own. *ids is malloc'd. */
mb_status mb_hftok_encode(mb_ctx *ctx, const mb_hftok *t, const char *text, size_t len,
                          int32_t **ids, size_t *n);
/* Decodes ids to bytes (byte-level: the byte characters back to bytes; SentencePiece-style:
 * <0xNN> to its byte, "▁" to a space, the first space dropped). *text is malloc'd and
 * NUL-terminated. An id that names no token is MB_EINVAL naming it and its position. */
mb_status mb_hftok_decode(mb_ctx *ctx, const mb_hftok *t, const int32_t *ids, size_t n, char **text,
                          size_t *len);

#endif
