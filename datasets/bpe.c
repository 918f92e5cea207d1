/* datasets/bpe.c — GPT-2 byte-level BPE: a small dedicated reader for encoder.json, merge ranks in
 * a (left id, right id) -> (rank, merged id) hash table, pre-tokenization by PCRE2 (JIT when the
 * library has it), and a word -> ids cache for each encode call, since words repeat. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "bpe.h"

#include "data.h"
#include "../engine/jsonstr.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's pre-tokenization pattern with \s spelled \p{White_Space}: OpenAI's encoder runs it
 * through Python's `regex` module, whose \s is exactly the Unicode White_Space property. PCRE2's
 * own \s under PCRE2_UCP also matches U+180E, and JavaScript's (gpt-3-encoder) matches U+FEFF but
 * not U+0085; letters and numbers (\p{L}, \p{N}) are PCRE2's Unicode tables. */
static const char mb_bpe_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+"
    "|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

#define MB_BPE_NCHARS 324    /* code points of GPT-2's byte alphabet: up to 256 + 68 */
#define MB_BPE_LONG_WORD 128 /* longer pre-tokens: heap-ordered merging, and not cached */

typedef struct mb_bpe_merge {
    uint64_t key; /* left id << 32 | right id */
    int32_t rank; /* line order in vocab.bpe; -1 marks an empty slot */
    int32_t id;   /* the merged token */
} mb_bpe_merge;

struct mb_bpe {
    int nvocab;
    char *bytes; /* every token's bytes, back to back, in id order */
    size_t *off; /* token i is bytes[off[i]] up to bytes[off[i + 1]] (nvocab + 1 entries) */
    int32_t byte_id[256]; /* the one-byte token of each byte */
    mb_bpe_merge *merges; /* open addressing over a power of two of slots */
    size_t merge_mask;
    pcre2_code *re;
};

/* ---- small helpers ---- */

/* Grows an array to hold `need` elements of `size` bytes; returns the (maybe moved) array, or NULL
 * with the old one untouched when out of memory. */
static void *mb_bpe_grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return NULL;
        c *= 2;
    }
    void *q = realloc(p, c * size);
    if (q) *cap = c;
    return q;
}

static size_t mb_bpe_pow2(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

static uint64_t mb_bpe_hash(const char *p, size_t n) { /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mb_bpe_mix(uint64_t k) { /* splitmix64's finalizer */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

/* GPT-2's bytes_to_unicode, inverted: printable Latin-1 bytes (33..126, 161..172, 174..255) stand
 * for themselves, the 68 others for 256, 257, ... in byte order. cp_byte[cp] is -1 off the map. */
static void mb_bpe_alphabet(int16_t cp_byte[MB_BPE_NCHARS]) {
    for (int c = 0; c < MB_BPE_NCHARS; c++) cp_byte[c] = -1;
    int next = 256;
    for (int byte = 0; byte < 256; byte++) {
        int printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
        cp_byte[printable ? byte : next++] = (int16_t)byte;
    }
}

/* ---- the vocabulary: token bytes -> id, used while loading ---- */

typedef struct mb_bpe_index {
    const mb_bpe *b;
    int32_t *slot; /* token ids, -1 empty */
    size_t mask;
} mb_bpe_index;

static int32_t mb_bpe_lookup(const mb_bpe_index *x, const char *p, size_t n) {
    for (size_t i = mb_bpe_hash(p, n) & x->mask;; i = (i + 1) & x->mask) {
        int32_t id = x->slot[i];
        if (id < 0) return -1;
        size_t o = x->b->off[id], len = x->b->off[id + 1] - o;
        if (len == n && memcmp(x->b->bytes + o, p, n) == 0) return id;
    }
}

/* Adds token `id`; returns the id already holding the same bytes, or -1 when it is new. */
static int32_t mb_bpe_index_add(mb_bpe_index *x, int32_t id) {
    const char *p = x->b->bytes + x->b->off[id];
    size_t n = x->b->off[id + 1] - x->b->off[id];
    size_t i = mb_bpe_hash(p, n) & x->mask;
    for (; x->slot[i] >= 0; i = (i + 1) & x->mask) {
        int32_t o = x->slot[i];
        size_t on = x->b->off[o + 1] - x->b->off[o];
        if (on == n && memcmp(x->b->bytes + x->b->off[o], p, n) == 0) return o;
    }
    x->slot[i] = id;
    return -1;
}

/* ---- encoder.json ---- */

typedef struct mb_bpe_json {
    mb_ctx *ctx;
    const char *path;
    const unsigned char *s;
    size_t n, i;
    const int16_t *cp_byte;
} mb_bpe_json;

static mb_status mb_bpe_json_fail(mb_bpe_json *j, const char *what) {
    return mb_error(j->ctx, MB_EFORMAT, "%s: at byte %zu: %s", j->path, j->i, what);
}

static void mb_bpe_json_ws(mb_bpe_json *j) { mb_json_ws(j->s, j->n, &j->i); }

/* Reads the JSON string at j->i (its opening quote) as GPT-2 byte characters and appends the
 * bytes they stand for to (*out, *len, *cap). \uXXXX escapes may be surrogate pairs. */
static mb_status mb_bpe_json_token(mb_bpe_json *j, char **out, size_t *len, size_t *cap) {
    if (j->i >= j->n || j->s[j->i] != '"') return mb_bpe_json_fail(j, "expected a string");
    j->i++;
    for (;;) {
        size_t at = j->i;
        uint32_t cp;
        const char *why;
        int r = mb_json_str_next(j->s, j->n, &j->i, &cp, &why);
        if (r == 0) return MB_OK;
        if (r < 0) return mb_bpe_json_fail(j, why);
        if (cp >= MB_BPE_NCHARS || j->cp_byte[cp] < 0) {
            char what[96];
            snprintf(what, sizeof what, "U+%04X is not one of GPT-2's 256 byte characters",
                     (unsigned)cp);
            j->i = at;
            return mb_bpe_json_fail(j, what);
        }
        char *q = mb_bpe_grow(*out, cap, *len + 1, 1);
        if (!q) return mb_error(j->ctx, MB_ENOMEM, "%s: out of host memory", j->path);
        *out = q;
        (*out)[(*len)++] = (char)j->cp_byte[cp];
    }
}

static mb_status mb_bpe_json_id(mb_bpe_json *j, int32_t *v) {
    if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
        return mb_bpe_json_fail(j, "expected a token id (a non-negative integer)");
    long long x = 0;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
        x = x * 10 + (j->s[j->i++] - '0');
        if (x > INT32_MAX - 1) return mb_bpe_json_fail(j, "token id too large");
    }
    if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
        return mb_bpe_json_fail(j, "token ids must be integers");
    *v = (int32_t)x;
    return MB_OK;
}

typedef struct mb_bpe_entry {
    size_t end; /* where the token's bytes end in the key arena */
    int32_t id;
} mb_bpe_entry;

/* Fills b->nvocab, b->bytes, b->off from the JSON object {"token": id, ...}; ids must be 0..n-1,
 * each once. */
static mb_status mb_bpe_load_vocab(mb_ctx *ctx, mb_bpe *b, const char *path,
                                   const int16_t *cp_byte) {
    char *text;
    size_t tlen;
    MB_TRY(mb_read_file(ctx, path, &text, &tlen));
    mb_bpe_json j = {ctx, path, (const unsigned char *)text, tlen, 0, cp_byte};
    char *keys = NULL; /* token bytes in file order */
    size_t klen = 0, kcap = 0;
    mb_bpe_entry *ent = NULL;
    size_t ne = 0, ecap = 0;
    int32_t *pos = NULL; /* entry of each id */
    mb_status s = MB_OK;

    mb_bpe_json_ws(&j);
    if (j.i >= j.n || j.s[j.i] != '{') {
        s = mb_bpe_json_fail(&j, "expected '{' (a JSON object of token -> id)");
        goto done;
    }
    j.i++;
    mb_bpe_json_ws(&j);
    if (j.i < j.n && j.s[j.i] == '}') {
        s = mb_bpe_json_fail(&j, "the object holds no tokens");
        goto done;
    }
    for (;;) {
        mb_bpe_json_ws(&j);
        if ((s = mb_bpe_json_token(&j, &keys, &klen, &kcap)) != MB_OK) goto done;
        mb_bpe_json_ws(&j);
        if (j.i >= j.n || j.s[j.i] != ':') {
            s = mb_bpe_json_fail(&j, "expected ':'");
            goto done;
        }
        j.i++;
        mb_bpe_json_ws(&j);
        int32_t id = 0;
        if ((s = mb_bpe_json_id(&j, &id)) != MB_OK) goto done;
        mb_bpe_entry *q = mb_bpe_grow(ent, &ecap, ne + 1, sizeof *ent);
        if (!q) {
            s = mb_error(ctx, MB_ENOMEM, "%s: out of host memory", path);
            goto done;
        }
        ent = q;
        ent[ne++] = (mb_bpe_entry){klen, id};
        mb_bpe_json_ws(&j);
        if (j.i < j.n && j.s[j.i] == ',') {
            j.i++;
            continue;
        }
        if (j.i < j.n && j.s[j.i] == '}') {
            j.i++;
            break;
        }
        s = mb_bpe_json_fail(&j, "expected ',' or '}'");
        goto done;
    }
    mb_bpe_json_ws(&j);
    if (j.i != j.n) {
        s = mb_bpe_json_fail(&j, "trailing characters after the object");
        goto done;
    }
    if (ne > INT32_MAX / 2) {
        s = mb_error(ctx, MB_EFORMAT, "%s: %zu tokens are too many", path, ne);
        goto done;
    }
    pos = malloc(ne * sizeof *pos);
    b->off = malloc((ne + 1) * sizeof *b->off);
    b->bytes = malloc(klen ? klen : 1);
    if (!pos || !b->off || !b->bytes) {
        s = mb_error(ctx, MB_ENOMEM, "%s: out of host memory", path);
        goto done;
    }
    for (size_t i = 0; i < ne; i++) pos[i] = -1;
    for (size_t e = 0; e < ne; e++) {
        int32_t id = ent[e].id;
        if ((size_t)id >= ne) {
            s = mb_error(ctx, MB_EFORMAT,
                         "%s: token id %d is out of range: %zu tokens must have ids 0..%zu", path,
                         id, ne, ne - 1);
            goto done;
        }
        if (pos[id] >= 0) {
            s = mb_error(ctx, MB_EFORMAT, "%s: token id %d is given to two tokens", path, id);
            goto done;
        }
        pos[id] = (int32_t)e;
    }
    size_t o = 0;
    for (size_t id = 0; id < ne; id++) {
        size_t e = (size_t)pos[id], start = e ? ent[e - 1].end : 0;
        b->off[id] = o;
        memcpy(b->bytes + o, keys + start, ent[e].end - start);
        o += ent[e].end - start;
    }
    b->off[ne] = o;
    b->nvocab = (int)ne;
done:
    free(text);
    free(keys);
    free(ent);
    free(pos);
    return s;
}

/* ---- vocab.bpe ---- */

/* Converts one merge half (UTF-8 byte characters) to the bytes it stands for; 0 if it is not. */
static int mb_bpe_field(const unsigned char *p, size_t n, const int16_t *cp_byte, char *out,
                        size_t *len) {
    *len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (!mb_utf8_next(p, n, &i, &cp) || cp >= MB_BPE_NCHARS || cp_byte[cp] < 0) return 0;
        out[(*len)++] = (char)cp_byte[cp];
    }
    return 1;
}

static mb_bpe_merge *mb_bpe_merge_slot(const mb_bpe *b, uint64_t key) {
    size_t i = mb_bpe_mix(key) & b->merge_mask;
    while (b->merges[i].rank >= 0 && b->merges[i].key != key) i = (i + 1) & b->merge_mask;
    return &b->merges[i];
}

/* The merge ranks, one "left right" pair a line after the "#version" line, lowest rank first. A
 * merge whose token is not in the vocabulary names encoder.json (`enc`) first: either file may be
 * the damaged one, and a flipped byte in encoder.json shows up here, not while parsing it. */
static mb_status mb_bpe_load_merges(mb_ctx *ctx, mb_bpe *b, const char *path, const char *enc,
                                    const int16_t *cp_byte, const mb_bpe_index *vocab) {
    char *text;
    size_t tlen;
    MB_TRY(mb_read_file(ctx, path, &text, &tlen));
    size_t lines = 1;
    for (size_t i = 0; i < tlen; i++) lines += text[i] == '\n';
    mb_status s = MB_OK;
    char *buf = malloc(tlen + 1); /* a merge's two halves */
    if (lines > INT32_MAX / 4) {
        s = mb_error(ctx, MB_EFORMAT, "%s: %zu lines are too many", path, lines);
        goto done;
    }
    b->merge_mask = mb_bpe_pow2(2 * lines) - 1;
    b->merges = malloc((b->merge_mask + 1) * sizeof *b->merges);
    if (!buf || !b->merges) {
        s = mb_error(ctx, MB_ENOMEM, "%s: out of host memory", path);
        goto done;
    }
    for (size_t i = 0; i <= b->merge_mask; i++) b->merges[i].rank = -1;
    int32_t rank = 0;
    size_t lineno = 0;
    for (size_t at = 0; at < tlen;) {
        const char *line = text + at, *nl = memchr(line, '\n', tlen - at);
        size_t n = nl ? (size_t)(nl - line) : tlen - at;
        at += n + 1;
        lineno++;
        if (n && line[n - 1] == '\r') n--;
        if (lineno == 1 && n && line[0] == '#') continue; /* "#version: 0.2" */
        const char *f[3];
        size_t fl[3];
        int nf = 0;
        for (size_t i = 0; i < n;) {
            while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
            if (i == n) break;
            size_t st = i;
            while (i < n && line[i] != ' ' && line[i] != '\t') i++;
            if (nf < 3) f[nf] = line + st, fl[nf] = i - st;
            nf++;
        }
        if (nf == 0) continue; /* blank line (the file's last) */
        if (nf != 2) {
            s = mb_error(ctx, MB_EFORMAT,
                         "%s:%zu: expected two tokens separated by a space, got %d", path, lineno,
                         nf);
            goto done;
        }
        size_t la = 0, lb = 0; /* the halves' bytes go to buf back to back */
        if (!mb_bpe_field((const unsigned char *)f[0], fl[0], cp_byte, buf, &la) ||
            !mb_bpe_field((const unsigned char *)f[1], fl[1], cp_byte, buf + la, &lb)) {
            s = mb_error(ctx, MB_EFORMAT,
                         "%s:%zu: \"%.*s\" holds a character outside GPT-2's byte alphabet", path,
                         lineno, (int)(n < 200 ? n : 200), line);
            goto done;
        }
        int32_t ia = mb_bpe_lookup(vocab, buf, la), ib = mb_bpe_lookup(vocab, buf + la, lb);
        int32_t im = mb_bpe_lookup(vocab, buf, la + lb);
        if (ia < 0 || ib < 0 || im < 0) {
            int k = ia < 0 ? 0 : ib < 0 ? 1 : 2;
            if (k < 2)
                s = mb_error(ctx, MB_EFORMAT,
                             "%s has no token \"%.*s\" for the merge on %s:%zu: one of the two "
                             "files is damaged, or they are not a pair",
                             enc, (int)fl[k], f[k], path, lineno);
            else
                s = mb_error(ctx, MB_EFORMAT,
                             "%s has no token \"%.*s%.*s\" for the merge on %s:%zu: one of the two "
                             "files is damaged, or they are not a pair",
                             enc, (int)fl[0], f[0], (int)fl[1], f[1], path, lineno);
            goto done;
        }
        uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        mb_bpe_merge *m = mb_bpe_merge_slot(b, key);
        if (m->rank >= 0) {
            s = mb_error(ctx, MB_EFORMAT, "%s:%zu: the merge \"%.*s %.*s\" appears twice", path,
                         lineno, (int)fl[0], f[0], (int)fl[1], f[1]);
            goto done;
        }
        m->key = key;
        m->rank = rank++;
        m->id = im;
    }
done:
    free(buf);
    free(text);
    return s;
}

/* ---- load / free ---- */

mb_status mb_bpe_load(mb_ctx *ctx, const char *encoder_json, const char *vocab_bpe, mb_bpe **out) {
    *out = NULL;
    mb_bpe *b = calloc(1, sizeof *b);
    if (!b) return mb_error(ctx, MB_ENOMEM, "GPT-2 BPE: out of host memory");
    int16_t cp_byte[MB_BPE_NCHARS];
    mb_bpe_alphabet(cp_byte);
    mb_bpe_index vocab = {b, NULL, 0};
    mb_status s = mb_bpe_load_vocab(ctx, b, encoder_json, cp_byte);
    if (s == MB_OK) {
        vocab.mask = mb_bpe_pow2(2 * (size_t)b->nvocab) - 1;
        vocab.slot = malloc((vocab.mask + 1) * sizeof *vocab.slot);
        if (!vocab.slot) s = mb_error(ctx, MB_ENOMEM, "%s: out of host memory", encoder_json);
    }
    if (s == MB_OK) {
        for (size_t i = 0; i <= vocab.mask; i++) vocab.slot[i] = -1;
        for (int32_t id = 0; id < b->nvocab && s == MB_OK; id++) {
            int32_t dup = mb_bpe_index_add(&vocab, id);
            if (dup >= 0)
                s = mb_error(ctx, MB_EFORMAT, "%s: tokens %d and %d are the same bytes",
                             encoder_json, dup, id);
        }
    }
    for (int c = 0; c < 256 && s == MB_OK; c++) {
        char byte = (char)c;
        b->byte_id[c] = mb_bpe_lookup(&vocab, &byte, 1);
        if (b->byte_id[c] < 0)
            s = mb_error(ctx, MB_EFORMAT, "%s: no token for the single byte 0x%02x", encoder_json,
                         c);
    }
    if (s == MB_OK) s = mb_bpe_load_merges(ctx, b, vocab_bpe, encoder_json, cp_byte, &vocab);
    free(vocab.slot);
    if (s == MB_OK) {
        int err;
        PCRE2_SIZE eoff;
        b->re = pcre2_compile((PCRE2_SPTR)mb_bpe_pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
        if (!b->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            s = mb_error(ctx, MB_EUNSUPPORTED,
                         "PCRE2 cannot compile GPT-2's pre-tokenization pattern (offset %zu): %s",
                         (size_t)eoff, (const char *)msg);
        } else {
            (void)pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE); /* else the interpreter runs it */
        }
    }
    if (s != MB_OK) {
        mb_bpe_free(b);
        return s;
    }
    *out = b;
    return MB_OK;
}

void mb_bpe_free(mb_bpe *b) {
    if (!b) return;
    pcre2_code_free(b->re);
    free(b->bytes);
    free(b->off);
    free(b->merges);
    free(b);
}

int mb_bpe_vocab(const mb_bpe *b) {
    return b->nvocab;
}

/* ---- encode ---- */

/* Merges one pre-token's byte tokens the way OpenAI's encoder does: take the adjacent pair with the
 * lowest rank, merge every occurrence of it left to right, repeat until no pair has a rank.
 * sym holds len entries; returns how many tokens are left in it. */
static size_t mb_bpe_word(const mb_bpe *b, const unsigned char *w, size_t len, int32_t *sym) {
    size_t n = len;
    for (size_t i = 0; i < n; i++) sym[i] = b->byte_id[w[i]];
    while (n > 1) {
        int32_t best = -1, l = 0, r = 0, m = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            const mb_bpe_merge *e =
                mb_bpe_merge_slot(b, (uint64_t)(uint32_t)sym[i] << 32 | (uint32_t)sym[i + 1]);
            if (e->rank >= 0 && (best < 0 || e->rank < best)) {
                best = e->rank;
                l = sym[i];
                r = sym[i + 1];
                m = e->id;
            }
        }
        if (best < 0) break;
        size_t k = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && sym[i] == l && sym[i + 1] == r) {
                sym[k++] = m;
                i += 2;
            } else {
                sym[k++] = sym[i++];
            }
        }
        n = k;
    }
    return n;
}

/* The same merges for a long pre-token in O(n log n): the symbols form a linked list, and every
 * adjacent pair with a rank sits in a heap ordered by (rank, position). All pairs of the lowest
 * rank are taken out together and merged left to right, as one round of mb_bpe_word; pairs a merge
 * creates never have that rank (they hold the merged token), so they wait for the next round.
 * Entries whose pair has changed since they went in are dropped when they come out. */
typedef struct mb_bpe_cand {
    int32_t rank;
    uint32_t pos; /* index of the pair's left symbol */
} mb_bpe_cand;

#define MB_BPE_NONE UINT32_MAX

static int mb_bpe_cand_less(mb_bpe_cand x, mb_bpe_cand y) {
    return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos);
}

static void mb_bpe_heap_push(mb_bpe_cand *h, size_t *n, mb_bpe_cand c) {
    size_t i = (*n)++;
    while (i > 0 && mb_bpe_cand_less(c, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static mb_bpe_cand mb_bpe_heap_pop(mb_bpe_cand *h, size_t *n) {
    mb_bpe_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && mb_bpe_cand_less(h[c + 1], h[c])) c++;
        if (!mb_bpe_cand_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* The merge of symbol p with its right neighbour, or NULL (no neighbour, no rank). */
static const mb_bpe_merge *mb_bpe_pair_at(const mb_bpe *b, const int32_t *sym, const uint32_t *nxt,
                                          uint32_t p) {
    if (p == MB_BPE_NONE || sym[p] < 0 || nxt[p] == MB_BPE_NONE) return NULL;
    const mb_bpe_merge *e =
        mb_bpe_merge_slot(b, (uint64_t)(uint32_t)sym[p] << 32 | (uint32_t)sym[nxt[p]]);
    return e->rank >= 0 ? e : NULL;
}

/* mb_bpe_word for len < UINT32_MAX bytes; 0 when out of memory, else 1 with *n tokens in sym. */
static int mb_bpe_word_long(const mb_bpe *b, const unsigned char *w, size_t len, int32_t *sym,
                            size_t *n) {
    uint32_t *nxt = malloc(len * sizeof *nxt), *prv = malloc(len * sizeof *prv);
    uint32_t *round = malloc(len * sizeof *round);
    mb_bpe_cand *heap = malloc(3 * len * sizeof *heap); /* n - 1 pairs, then 2 per merge */
    size_t nh = 0;
    if (!nxt || !prv || !round || !heap) {
        free(nxt);
        free(prv);
        free(round);
        free(heap);
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        sym[i] = b->byte_id[w[i]];
        prv[i] = i ? (uint32_t)i - 1 : MB_BPE_NONE;
        nxt[i] = i + 1 < len ? (uint32_t)i + 1 : MB_BPE_NONE;
    }
    for (uint32_t i = 0; i + 1 < len; i++) {
        const mb_bpe_merge *e = mb_bpe_pair_at(b, sym, nxt, i);
        if (e) mb_bpe_heap_push(heap, &nh, (mb_bpe_cand){e->rank, i});
    }
    while (nh) {
        int32_t rank = heap[0].rank;
        size_t nr = 0;
        while (nh && heap[0].rank == rank) { /* one entry a position: a pair's rank is unique */
            MB_ASSERT(nr < len);
            round[nr++] = mb_bpe_heap_pop(heap, &nh).pos;
        }
        for (size_t k = 0; k < nr; k++) { /* positions ascend: left to right */
            uint32_t p = round[k];
            const mb_bpe_merge *e = mb_bpe_pair_at(b, sym, nxt, p);
            if (!e || e->rank != rank) continue; /* stale, or taken by the merge on its left */
            uint32_t q = nxt[p];
            sym[p] = e->id;
            sym[q] = -1;
            nxt[p] = nxt[q];
            if (nxt[q] != MB_BPE_NONE) prv[nxt[q]] = p;
            const mb_bpe_merge *l = mb_bpe_pair_at(b, sym, nxt, prv[p]);
            if (l) mb_bpe_heap_push(heap, &nh, (mb_bpe_cand){l->rank, prv[p]});
            const mb_bpe_merge *r = mb_bpe_pair_at(b, sym, nxt, p);
            if (r) mb_bpe_heap_push(heap, &nh, (mb_bpe_cand){r->rank, p});
        }
    }
    size_t k = 0;
    for (uint32_t p = 0; p != MB_BPE_NONE; p = nxt[p]) sym[k++] = sym[p];
    *n = k;
    free(nxt);
    free(prv);
    free(round);
    free(heap);
    return 1;
}

typedef struct mb_bpe_cached {
    uint64_t hash;
    size_t word, ids; /* offsets into the word and id arenas */
    uint32_t len, n;  /* n == 0: empty slot */
} mb_bpe_cached;

typedef struct mb_bpe_enc {
    int32_t *out; /* the result */
    size_t n, cap;
    int32_t *sym; /* the pre-token being merged */
    size_t symcap;
    mb_bpe_cached *slot; /* word cache: open addressing, at most half full */
    size_t mask, used;
    char *words; /* cached pre-tokens, back to back */
    size_t wn, wcap;
    int32_t *ids; /* their tokens, back to back */
    size_t in, icap;
} mb_bpe_enc;

static int mb_bpe_emit(mb_bpe_enc *e, const int32_t *ids, size_t n) {
    int32_t *q = mb_bpe_grow(e->out, &e->cap, e->n + n, sizeof *e->out);
    if (!q) return 0;
    e->out = q;
    memcpy(e->out + e->n, ids, n * sizeof *ids);
    e->n += n;
    return 1;
}

static int mb_bpe_cache_grow(mb_bpe_enc *e) {
    size_t ncap = e->slot ? 2 * (e->mask + 1) : 4096;
    mb_bpe_cached *ns = calloc(ncap, sizeof *ns);
    if (!ns) return 0;
    for (size_t i = 0; e->slot && i <= e->mask; i++) {
        if (!e->slot[i].n) continue;
        size_t j = e->slot[i].hash & (ncap - 1);
        while (ns[j].n) j = (j + 1) & (ncap - 1);
        ns[j] = e->slot[i];
    }
    free(e->slot);
    e->slot = ns;
    e->mask = ncap - 1;
    return 1;
}

/* Appends the tokens of one pre-token, from the cache when it has been seen before. */
static mb_status mb_bpe_pretoken(mb_ctx *ctx, const mb_bpe *b, mb_bpe_enc *e, const char *w,
                                 size_t len) {
    if (len > MB_BPE_LONG_WORD) {
        if (len >= UINT32_MAX)
            return mb_error(ctx, MB_EINVAL,
                            "GPT-2 BPE encode: a pre-token of %zu bytes is too long", len);
        int32_t *q = mb_bpe_grow(e->sym, &e->symcap, len, sizeof *e->sym);
        if (!q) return mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
        e->sym = q;
        size_t n;
        if (!mb_bpe_word_long(b, (const unsigned char *)w, len, e->sym, &n) ||
            !mb_bpe_emit(e, e->sym, n))
            return mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
        return MB_OK;
    }
    uint64_t h = mb_bpe_hash(w, len);
    size_t i = h & e->mask;
    int ok = 1;
    for (; e->slot[i].n; i = (i + 1) & e->mask) {
        const mb_bpe_cached *c = &e->slot[i];
        if (c->hash == h && c->len == len && memcmp(e->words + c->word, w, len) == 0) break;
    }
    if (!e->slot[i].n) { /* first sight: merge it and keep the result */
        char *nw = mb_bpe_grow(e->words, &e->wcap, e->wn + len, 1);
        if (nw) e->words = nw;
        int32_t *ni = mb_bpe_grow(e->ids, &e->icap, e->in + len, sizeof *e->ids);
        if (ni) e->ids = ni;
        if (!nw || !ni) return mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
        size_t n = mb_bpe_word(b, (const unsigned char *)w, len, e->ids + e->in);
        memcpy(e->words + e->wn, w, len);
        e->slot[i] = (mb_bpe_cached){h, e->wn, e->in, (uint32_t)len, (uint32_t)n};
        e->wn += len;
        e->in += n;
        ok = mb_bpe_emit(e, e->ids + e->in - n, n);
        if (ok && ++e->used * 2 > e->mask + 1) ok = mb_bpe_cache_grow(e);
    } else {
        ok = mb_bpe_emit(e, e->ids + e->slot[i].ids, e->slot[i].n);
    }
    return ok ? MB_OK : mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
}

mb_status mb_bpe_encode(mb_ctx *ctx, const mb_bpe *b, const char *text, size_t len, int32_t **ids,
                        size_t *n) {
    *ids = NULL;
    *n = 0;
    mb_bpe_enc e;
    memset(&e, 0, sizeof e);
    mb_status s = MB_OK;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(b->re, NULL);
    if (!md || !mb_bpe_cache_grow(&e) ||
        !(e.out = mb_bpe_grow(NULL, &e.cap, len / 3 + 16, sizeof *e.out))) {
        s = mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
        goto done;
    }
    /* The text goes to PCRE2 one run of valid UTF-8 at a time, with PCRE2_NO_UTF_CHECK: without
     * JIT, a UTF check on each call would rescan the rest of the text (quadratic time). A byte that
     * does not start a valid character becomes its own token, as under PCRE2_MATCH_INVALID_UTF: no
     * match could cross it, and the one lookahead, (?!\P{White_Space}), holds before it just as at
     * the end of a run. */
    for (size_t at = 0; at < len && s == MB_OK;) {
        size_t run = at;
        for (uint32_t cp; run < len;)
            if ((unsigned char)text[run] < 0x80)
                run++;
            else if (!mb_utf8_next((const unsigned char *)text, len, &run, &cp))
                break;
        if (run == at) {
            if (!mb_bpe_emit(&e, &b->byte_id[(unsigned char)text[at]], 1))
                s = mb_error(ctx, MB_ENOMEM, "GPT-2 BPE encode: out of host memory");
            at++;
            continue;
        }
        const char *sub = text + at;
        size_t sublen = run - at;
        for (size_t i = 0; i < sublen && s == MB_OK;) {
            int rc = pcre2_match(b->re, (PCRE2_SPTR)sub, sublen, i, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                s = mb_error(ctx, MB_EINVAL, "GPT-2 pre-tokenizer: PCRE2 failed at byte %zu: %s",
                             at + i, (const char *)msg);
                break;
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            /* every character starts a match: letters, numbers, white space or the rest */
            MB_ASSERT(ov[0] == i && ov[1] > i && ov[1] <= sublen);
            s = mb_bpe_pretoken(ctx, b, &e, sub + i, ov[1] - i);
            i = ov[1];
        }
        at = run;
    }
    if (s == MB_OK) {
        *ids = e.out;
        *n = e.n;
        e.out = NULL;
    }
done:
    pcre2_match_data_free(md);
    free(e.out);
    free(e.sym);
    free(e.slot);
    free(e.words);
    free(e.ids);
    return s;
}

/* ---- decode ---- */

mb_status mb_bpe_decode(mb_ctx *ctx, const mb_bpe *b, const int32_t *ids, size_t n, char **text,
                        size_t *len) {
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->nvocab)
            return mb_error(ctx, MB_EINVAL,
                            "GPT-2 BPE decode: token id %ld at position %zu is outside the "
                            "vocabulary (0..%d)",
                            (long)ids[i], i, b->nvocab - 1);
        total += b->off[ids[i] + 1] - b->off[ids[i]];
    }
    char *t = malloc(total + 1);
    if (!t) return mb_error(ctx, MB_ENOMEM, "GPT-2 BPE decode: cannot allocate %zu bytes", total);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = b->off[ids[i]], l = b->off[ids[i] + 1] - a;
        memcpy(t + o, b->bytes + a, l);
        o += l;
    }
    t[o] = 0;
    *text = t;
    *len = o;
    return MB_OK;
}
