/* datasets/hftok_impl.h — what a loaded tokenizer.json holds, shared by the loader (hftok.c) and
 * the encoder (hftok_encode.c); nothing outside those two includes it. */
#ifndef MB_HFTOK_IMPL_H
#define MB_HFTOK_IMPL_H

#include "hftok.h"
#include "pretok.h"

typedef struct mb_hf_merge {
    uint64_t key; /* left id << 32 | right id */
    int32_t rank; /* -1: an empty slot */
    int32_t id;   /* the merged token */
} mb_hf_merge;

/* what an id names: bits, since a token may be in model.vocab and added_tokens both */
enum { MB_HF_MODEL = 1, MB_HF_ADDED = 2 };

struct mb_hftok {
    int sp;            /* SentencePiece-style (normalizer Prepend + Replace), else byte-level */
    int split;         /* byte-level: pre-tokenize with `pattern` (else each piece is one word) */
    mb_pretok pattern; /* GPT-2's or Llama 3's */
    int add_prefix_space; /* byte-level: a space before each piece that does not start with one */
    int byte_fallback, fuse_unk, ignore_merges;
    int sp_chunk;   /* SentencePiece-style: no merge ever joins anything to a "▁" on its right,
                     * so a piece can be cut before each "▁" and the cuts merged apart */
    int32_t unk;    /* model.unk_token's id, -1 when none */
    int32_t nvocab; /* largest id + 1 */
    char *str;      /* every id's token string (UTF-8, as in the JSON), in id order */
    size_t *off;    /* id i is str[off[i] .. off[i + 1]) */
    unsigned char *what; /* MB_HF_* of each id */
    int32_t *vslot;      /* model.vocab: token string -> id, open addressing, -1 empty */
    size_t vmask;
    mb_hf_merge *merges; /* (left, right) -> (rank, merged), open addressing */
    size_t mmask;
    uint32_t byte_char[256]; /* byte-level: the character each byte stands for (GPT-2's map) */
    int32_t fallback[256];   /* the id of "<0xNN>" for each byte, -1 when absent */
    int32_t *added;          /* added token ids by first byte, longest first */
    size_t nadded;
    size_t first[257]; /* added[first[b] .. first[b + 1]) start with byte b */
};

uint64_t mb_hf_hash(const char *p, size_t n);
uint64_t mb_hf_mix(uint64_t k);
/* model.vocab's id of the token string p[0..n), or -1. */
int32_t mb_hf_vocab_find(const mb_hftok *t, const char *p, size_t n);
/* The merge of (l, r), or NULL. */
const mb_hf_merge *mb_hf_merge_find(const mb_hftok *t, int32_t l, int32_t r);

#endif
