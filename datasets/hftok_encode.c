/* datasets/hftok_encode.c — tokenizer.json encoding and decoding: added tokens split out first,
 * each piece normalized or pre-tokenized into words, each word's characters turned into ids (byte
 * fallback, unknown token) and merged lowest rank first, leftmost first, with a heap, as
 * `tokenizers`' Word::merge_all does; words up to MB_HF_CACHED bytes are remembered per call. */
#include "hftok_impl.h"

#include <stdlib.h>
#include <string.h>

#include "../engine/jsonstr.h"

#define MB_HF_CACHED 256

typedef struct mb_hf_cand {
    int32_t rank;
    uint32_t pos; /* the pair's left symbol */
} mb_hf_cand;

typedef struct mb_hf_cached {
    uint64_t hash;
    size_t word, ids; /* offsets into the arenas */
    uint32_t len, n;  /* len == 0: empty slot (no word is empty) */
} mb_hf_cached;

typedef struct mb_hf_enc {
    const mb_hftok *t;
    int32_t *out; /* the result */
    size_t n, cap;
    int32_t *sym; /* the word being merged */
    uint32_t *nxt, *prv;
    size_t symcap;
    mb_hf_cand *heap;
    size_t nheap, heapcap;
    char *buf; /* the piece normalized, or a pre-token in byte characters */
    size_t bufcap;
    mb_hf_cached *slot; /* the word cache, at most half full */
    size_t mask, used;
    char *words;
    size_t wn, wcap;
    int32_t *ids;
    size_t in, icap;
} mb_hf_enc;

static int mb_hf_grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return 0;
        c *= 2;
    }
    void *q = realloc(*p, c * size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int mb_hf_emit(mb_hf_enc *e, int32_t id) {
    if (!mb_hf_grow((void **)&e->out, &e->cap, e->n + 1, sizeof *e->out)) return 0;
    e->out[e->n++] = id;
    return 1;
}

static int mb_hf_push_sym(mb_hf_enc *e, size_t *n, int32_t id) {
    if (*n >= e->symcap) {
        size_t c = e->symcap;
        if (!mb_hf_grow((void **)&e->sym, &c, *n + 1, sizeof *e->sym)) return 0;
        size_t c2 = e->symcap, c3 = e->symcap;
        if (!mb_hf_grow((void **)&e->nxt, &c2, c, sizeof *e->nxt) ||
            !mb_hf_grow((void **)&e->prv, &c3, c, sizeof *e->prv))
            return 0;
        e->symcap = c;
    }
    e->sym[(*n)++] = id;
    return 1;
}

/* A word's characters as ids: the character's token, else (byte_fallback) a "<0xNN>" token for
 * each of its bytes, else the unknown token (consecutive ones fused into one with fuse_unk), else
 * nothing. A pending unknown token waits for the next character that has a token, as in
 * `tokenizers`' merge_word. A byte that is not valid UTF-8 counts as a character of its own. */
static int mb_hf_chars(mb_hf_enc *e, const char *w, size_t len, size_t *n) {
    const mb_hftok *t = e->t;
    int unk = 0;
    *n = 0;
    for (size_t p = 0; p < len;) {
        size_t q = p;
        uint32_t cp;
        if (!mb_utf8_next((const unsigned char *)w, len, &q, &cp)) q = p + 1;
        int32_t id = mb_hf_vocab_find(t, w + p, q - p);
        if (id >= 0) {
            if (unk && !mb_hf_push_sym(e, n, t->unk)) return 0;
            unk = 0;
            if (!mb_hf_push_sym(e, n, id)) return 0;
        } else {
            int all = t->byte_fallback;
            for (size_t k = p; all && k < q; k++) all = t->fallback[(unsigned char)w[k]] >= 0;
            if (all) {
                for (size_t k = p; k < q; k++)
                    if (!mb_hf_push_sym(e, n, t->fallback[(unsigned char)w[k]])) return 0;
            } else if (t->unk >= 0) {
                if (unk && !t->fuse_unk && !mb_hf_push_sym(e, n, t->unk)) return 0;
                unk = 1;
            }
        }
        p = q;
    }
    return !unk || mb_hf_push_sym(e, n, t->unk);
}

static int mb_hf_less(mb_hf_cand x, mb_hf_cand y) {
    return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos);
}

static int mb_hf_heap_push(mb_hf_enc *e, mb_hf_cand c) {
    if (!mb_hf_grow((void **)&e->heap, &e->heapcap, e->nheap + 1, sizeof *e->heap)) return 0;
    size_t i = e->nheap++;
    while (i > 0 && mb_hf_less(c, e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = c;
    return 1;
}

static mb_hf_cand mb_hf_heap_pop(mb_hf_enc *e) {
    mb_hf_cand *h = e->heap, top = h[0], last = h[--e->nheap];
    size_t i = 0, n = e->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && mb_hf_less(h[c + 1], h[c])) c++;
        if (!mb_hf_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

#define MB_HF_NONE UINT32_MAX

/* Queues the pair at p (p and its right neighbour) when it has a merge. */
static int mb_hf_queue(mb_hf_enc *e, uint32_t p) {
    if (p == MB_HF_NONE || e->nxt[p] == MB_HF_NONE) return 1;
    const mb_hf_merge *m = mb_hf_merge_find(e->t, e->sym[p], e->sym[e->nxt[p]]);
    return !m || mb_hf_heap_push(e, (mb_hf_cand){m->rank, p});
}

/* Merges sym[0..n): the lowest (rank, position) first; an entry whose pair has changed since it
 * was queued is dropped when it comes out. Leaves the result in sym[0..*n). */
static int mb_hf_merge_all(mb_hf_enc *e, size_t *n) {
    size_t len = *n;
    if (len >= MB_HF_NONE) return 0;
    for (size_t i = 0; i < len; i++) {
        e->prv[i] = i ? (uint32_t)i - 1 : MB_HF_NONE;
        e->nxt[i] = i + 1 < len ? (uint32_t)i + 1 : MB_HF_NONE;
    }
    e->nheap = 0;
    for (uint32_t i = 0; i + 1 < len; i++)
        if (!mb_hf_queue(e, i)) return 0;
    while (e->nheap) {
        mb_hf_cand c = mb_hf_heap_pop(e);
        uint32_t p = c.pos, q = e->nxt[p];
        if (e->sym[p] < 0 || q == MB_HF_NONE) continue;
        const mb_hf_merge *m = mb_hf_merge_find(e->t, e->sym[p], e->sym[q]);
        if (!m || m->rank != c.rank) continue;
        e->sym[p] = m->id;
        e->sym[q] = -1;
        e->nxt[p] = e->nxt[q];
        if (e->nxt[q] != MB_HF_NONE) e->prv[e->nxt[q]] = p;
        if (!mb_hf_queue(e, e->prv[p]) || !mb_hf_queue(e, p)) return 0;
    }
    size_t k = 0;
    for (uint32_t p = 0; p != MB_HF_NONE; p = e->nxt[p]) e->sym[k++] = e->sym[p];
    *n = k;
    return 1;
}

/* A word's ids into sym[0..*n). */
static int mb_hf_tokens(mb_hf_enc *e, const char *w, size_t len, size_t *n) {
    int32_t id;
    if (e->t->ignore_merges && (id = mb_hf_vocab_find(e->t, w, len)) >= 0) {
        *n = 0;
        return mb_hf_push_sym(e, n, id);
    }
    if (!mb_hf_chars(e, w, len, n)) return 0;
    return *n < 2 || mb_hf_merge_all(e, n);
}

static int mb_hf_cache_grow(mb_hf_enc *e) {
    size_t ncap = e->slot ? 2 * (e->mask + 1) : 4096;
    mb_hf_cached *ns = calloc(ncap, sizeof *ns);
    if (!ns) return 0;
    for (size_t i = 0; e->slot && i <= e->mask; i++) {
        if (!e->slot[i].len) continue;
        size_t j = e->slot[i].hash & (ncap - 1);
        while (ns[j].len) j = (j + 1) & (ncap - 1);
        ns[j] = e->slot[i];
    }
    free(e->slot);
    e->slot = ns;
    e->mask = ncap - 1;
    return 1;
}

/* Appends a word's ids, from the cache when the word has been seen in this call. */
static int mb_hf_word(mb_hf_enc *e, const char *w, size_t len) {
    size_t n;
    if (len > MB_HF_CACHED) {
        if (!mb_hf_tokens(e, w, len, &n)) return 0;
        for (size_t i = 0; i < n; i++)
            if (!mb_hf_emit(e, e->sym[i])) return 0;
        return 1;
    }
    uint64_t h = mb_hf_hash(w, len);
    size_t i = h & e->mask;
    for (; e->slot[i].len; i = (i + 1) & e->mask) {
        const mb_hf_cached *c = &e->slot[i];
        if (c->hash == h && c->len == len && !memcmp(e->words + c->word, w, len)) break;
    }
    if (!e->slot[i].len) {
        if (!mb_hf_tokens(e, w, len, &n) ||
            !mb_hf_grow((void **)&e->words, &e->wcap, e->wn + len, 1) ||
            !mb_hf_grow((void **)&e->ids, &e->icap, e->in + n + 1, sizeof *e->ids))
            return 0;
        memcpy(e->words + e->wn, w, len);
        memcpy(e->ids + e->in, e->sym, n * sizeof *e->ids);
        e->slot[i] = (mb_hf_cached){h, e->wn, e->in, (uint32_t)len, (uint32_t)n};
        e->wn += len;
        e->in += n;
        if (++e->used * 2 > e->mask + 1) {
            if (!mb_hf_cache_grow(e)) return 0;
            for (i = h & e->mask; e->slot[i].hash != h || e->slot[i].len != len ||
                                  memcmp(e->words + e->slot[i].word, w, len);
                 i = (i + 1) & e->mask) {
            }
        }
    }
    const mb_hf_cached *c = &e->slot[i];
    for (uint32_t k = 0; k < c->n; k++)
        if (!mb_hf_emit(e, e->ids[c->ids + k])) return 0;
    return 1;
}

/* A byte-level pre-token: its bytes as GPT-2's byte characters (UTF-8), then the word. */
static int mb_hf_bytes_word(mb_hf_enc *e, const unsigned char *s, size_t n) {
    if (!mb_hf_grow((void **)&e->buf, &e->bufcap, 2 * n, 1)) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += mb_utf8_put(e->t->byte_char[s[i]], (unsigned char *)e->buf + k);
    return mb_hf_word(e, e->buf, k);
}

/* A byte-level piece: runs of valid UTF-8 pre-tokenized (or each run one word), a byte that is
 * not valid UTF-8 a word of its own. */
static int mb_hf_bytelevel(mb_hf_enc *e, const unsigned char *s, size_t n) {
    for (size_t at = 0; at < n;) {
        size_t run = at;
        for (uint32_t cp; run < n;)
            if (s[run] < 0x80)
                run++;
            else if (!mb_utf8_next(s, n, &run, &cp))
                break;
        if (run == at) {
            if (!mb_hf_bytes_word(e, s + at, 1)) return 0;
            at++;
            continue;
        }
        for (size_t i = at; i < run;) {
            size_t k =
                e->t->split ? mb_pretok_next(e->t->pattern, s + at, run - at, i - at) : run - i;
            if (!mb_hf_bytes_word(e, s + i, k)) return 0;
            i += k;
        }
        at = run;
    }
    return 1;
}

/* A SentencePiece-style piece: "▁" before it and for every space, then one word, or one word
 * from each "▁" to the next when the merges allow the cut (mb_hftok.sp_chunk). */
static int mb_hf_sentencepiece(mb_hf_enc *e, const char *s, size_t n) {
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    if (!mb_hf_grow((void **)&e->buf, &e->bufcap, n + 2 * spaces + 3, 1)) return 0;
    char *b = e->buf;
    size_t k = 0;
    memcpy(b, "\xe2\x96\x81", 3), k = 3;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            memcpy(b + k, "\xe2\x96\x81", 3), k += 3;
        else
            b[k++] = s[i];
    }
    if (!e->t->sp_chunk) return mb_hf_word(e, b, k);
    for (size_t i = 0; i < k;) { /* cut before each "▁" */
        size_t j = i + 1;
        while (j < k && !(j + 3 <= k && !memcmp(b + j, "\xe2\x96\x81", 3))) j++;
        if (!mb_hf_word(e, b + i, j - i)) return 0;
        i = j;
    }
    return 1;
}

static int mb_hf_piece(mb_hf_enc *e, const char *s, size_t n) {
    if (n == 0) return 1;
    if (e->t->sp) return mb_hf_sentencepiece(e, s, n);
    if (!e->t->add_prefix_space || s[0] == ' ')
        return mb_hf_bytelevel(e, (const unsigned char *)s, n);
    char *p = malloc(n + 1); /* ByteLevel's add_prefix_space */
    if (!p) return 0;
    p[0] = ' ';
    memcpy(p + 1, s, n);
    int ok = mb_hf_bytelevel(e, (const unsigned char *)p, n + 1);
    free(p);
    return ok;
}

/* The longest added token at s[i], or -1. */
static int32_t mb_hf_added_at(const mb_hftok *t, const char *s, size_t n, size_t i, size_t *len) {
    unsigned char b = (unsigned char)s[i];
    for (size_t k = t->first[b]; k < t->first[b + 1]; k++) {
        int32_t id = t->added[k];
        size_t l = t->off[id + 1] - t->off[id];
        if (l <= n - i && !memcmp(s + i, t->str + t->off[id], l)) {
            *len = l;
            return id;
        }
    }
    return -1;
}

mb_status mb_hftok_encode(mb_ctx *ctx, const mb_hftok *t, const char *text, size_t len,
                          int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    mb_hf_enc e;
    memset(&e, 0, sizeof e);
    e.t = t;
    int ok = mb_hf_cache_grow(&e);
    size_t from = 0;
    for (size_t i = 0; ok && i < len;) {
        size_t l = 0;
        int32_t id = t->nadded ? mb_hf_added_at(t, text, len, i, &l) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        ok = mb_hf_piece(&e, text + from, i - from) && mb_hf_emit(&e, id);
        i += l;
        from = i;
    }
    if (ok) ok = mb_hf_piece(&e, text + from, len - from);
    free(e.sym);
    free(e.nxt);
    free(e.prv);
    free(e.heap);
    free(e.buf);
    free(e.slot);
    free(e.words);
    free(e.ids);
    if (!ok) {
        free(e.out);
        return mb_error(ctx, MB_ENOMEM, "tokenizer.json encode: out of host memory");
    }
    *ids = e.out ? e.out : malloc(sizeof(int32_t));
    if (!*ids) return mb_error(ctx, MB_ENOMEM, "tokenizer.json encode: out of host memory");
    *n = e.n;
    return MB_OK;
}

static int mb_hf_hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One token's bytes as the flavour's decoder gives them, appended at out (room for 2 x its
 * string's length); returns how many. */
static size_t mb_hf_decode_one(const mb_hftok *t, int32_t id, char *out) {
    const char *p = t->str + t->off[id];
    size_t l = t->off[id + 1] - t->off[id], k = 0;
    if (t->what[id] & MB_HF_ADDED) {
        memcpy(out, p, l);
        return l;
    }
    if (t->sp) {
        if (l == 6 && !memcmp(p, "<0x", 3) && p[5] == '>' && mb_hf_hexval(p[3]) >= 0 &&
            mb_hf_hexval(p[4]) >= 0 && t->byte_fallback) {
            out[0] = (char)(mb_hf_hexval(p[3]) << 4 | mb_hf_hexval(p[4]));
            return 1;
        }
        for (size_t i = 0; i < l;) {
            if (i + 3 <= l && !memcmp(p + i, "\xe2\x96\x81", 3)) {
                out[k++] = ' ';
                i += 3;
            } else {
                out[k++] = p[i++];
            }
        }
        return k;
    }
    /* byte-level: each character back to its byte; a token with a character off the map is
     * given as it is, as `tokenizers`' ByteLevel decoder does */
    for (size_t i = 0; i < l;) {
        uint32_t cp;
        int byte = -1;
        if (mb_utf8_next((const unsigned char *)p, l, &i, &cp))
            for (int b = 0; b < 256 && byte < 0; b++)
                if (t->byte_char[b] == cp) byte = b;
        if (byte < 0) {
            memcpy(out, p, l);
            return l;
        }
        out[k++] = (char)byte;
    }
    return k;
}

mb_status mb_hftok_decode(mb_ctx *ctx, const mb_hftok *t, const int32_t *ids, size_t n, char **text,
                          size_t *len) {
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->nvocab || !t->what[ids[i]])
            return mb_error(ctx, MB_EINVAL,
                            "tokenizer.json decode: token id %ld at position %zu names no token",
                            (long)ids[i], i);
        total += t->off[ids[i] + 1] - t->off[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out) return mb_error(ctx, MB_ENOMEM, "tokenizer.json decode: out of host memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += mb_hf_decode_one(t, ids[i], out + k);
    if (t->sp && k && out[0] == ' ') memmove(out, out + 1, --k); /* Strip(" ", 1, 0) */
    out[k] = 0;
    *text = out;
    *len = k;
    return MB_OK;
}
