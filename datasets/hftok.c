/* datasets/hftok.c — tokenizer.json loading: the document read whole (jsondoc.h), every field that
 * changes the ids checked against the two flavours membench encodes, then the vocabulary, merges
 * and added tokens into hash tables. */
#include "hftok_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "jsondoc.h"
#include "../engine/jsonstr.h"

typedef struct mb_hf_ld {
    mb_ctx *ctx;
    mb_jd doc;
    mb_hftok *t;
} mb_hf_ld;

/* "FILE:LINE:COL: " + message, at node n (or the document's start). */
static mb_status mb_hf_fail(mb_hf_ld *L, mb_status s, const mb_jd_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mb_status mb_hf_fail(mb_hf_ld *L, mb_status s, const mb_jd_node *n, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t line, col;
    mb_jd_pos(&L->doc, n ? n->at : 0, &line, &col);
    return mb_error(L->ctx, s, "%s:%zu:%zu: %s", L->doc.path, line, col, msg);
}

/* A field membench does not read: "PATH: VALUE is not supported (WANT)". */
static mb_status mb_hf_unsupported(mb_hf_ld *L, const mb_jd_node *at, const char *path,
                                   const mb_jd_node *v, const char *want) {
    char shown[64];
    mb_jd_show(&L->doc, v, shown, sizeof shown);
    return mb_hf_fail(L, MB_EUNSUPPORTED, at, "%s: %s is not supported (%s)", path, shown, want);
}

static int mb_hf_null(const mb_jd_node *v) {
    return !v || v->type == MB_JD_NULL;
}

/* A boolean field; absent or null is `def`. */
static mb_status mb_hf_bool(mb_hf_ld *L, const mb_jd_node *o, const char *key, const char *path,
                            int def, int *out) {
    const mb_jd_node *v = mb_jd_get(&L->doc, o, key);
    *out = def;
    if (mb_hf_null(v)) return MB_OK;
    if (v->type != MB_JD_TRUE && v->type != MB_JD_FALSE) {
        char shown[64];
        mb_jd_show(&L->doc, v, shown, sizeof shown);
        return mb_hf_fail(L, MB_EFORMAT, v, "%s: expected true or false, got %s", path, shown);
    }
    *out = v->type == MB_JD_TRUE;
    return MB_OK;
}

static const mb_jd_node *mb_hf_kid(const mb_hf_ld *L, const mb_jd_node *a, size_t i) {
    return &L->doc.node[a->a + i];
}

/* ---- the normalizer, pre-tokenizer and decoder ---- */

#define MB_HF_SP_NORM                                                                              \
    "membench reads no normalizer, or the Sequence of Prepend(\"\xe2\x96\x81\") and Replace(\" "   \
    "\", "                                                                                         \
    "\"\xe2\x96\x81\") of SentencePiece-style BPE"

static mb_status mb_hf_normalizer(mb_hf_ld *L, const mb_jd_node *n) {
    if (mb_hf_null(n)) return MB_OK;
    const mb_jd *d = &L->doc;
    const mb_jd_node *ty = mb_jd_get(d, n, "type"), *list = mb_jd_get(d, n, "normalizers");
    if (!mb_jd_is(d, ty, "Sequence"))
        return mb_hf_unsupported(L, ty ? ty : n, "normalizer.type", ty, MB_HF_SP_NORM);
    if (!list || list->type != MB_JD_ARR || list->n != 2)
        return mb_hf_unsupported(L, list ? list : n, "normalizer.normalizers", list,
                                 "two normalizers: Prepend(\"\xe2\x96\x81\") and Replace(\" \", "
                                 "\"\xe2\x96\x81\")");
    int prepend = 0, replace = 0;
    for (size_t i = 0; i < 2; i++) {
        const mb_jd_node *e = mb_hf_kid(L, list, i), *et = mb_jd_get(d, e, "type");
        char path[96];
        if (mb_jd_is(d, et, "Prepend") && !prepend) {
            const mb_jd_node *p = mb_jd_get(d, e, "prepend");
            snprintf(path, sizeof path, "normalizer.normalizers[%zu].prepend", i);
            if (!mb_jd_is(d, p, "\xe2\x96\x81"))
                return mb_hf_unsupported(L, p ? p : e, path, p,
                                         "membench prepends \"\xe2\x96\x81\"");
            prepend = 1;
        } else if (mb_jd_is(d, et, "Replace") && !replace) {
            const mb_jd_node *pat = mb_jd_get(d, e, "pattern"), *c = mb_jd_get(d, e, "content");
            const mb_jd_node *ps = mb_jd_get(d, pat, "String");
            snprintf(path, sizeof path, "normalizer.normalizers[%zu].pattern", i);
            if (!mb_jd_is(d, ps, " ") || pat->n != 1)
                return mb_hf_unsupported(L, pat ? pat : e, path, ps ? ps : pat,
                                         "membench replaces {\"String\": \" \"}");
            snprintf(path, sizeof path, "normalizer.normalizers[%zu].content", i);
            if (!mb_jd_is(d, c, "\xe2\x96\x81"))
                return mb_hf_unsupported(L, c ? c : e, path, c,
                                         "membench replaces spaces with \"\xe2\x96\x81\"");
            replace = 1;
        } else {
            snprintf(path, sizeof path, "normalizer.normalizers[%zu].type", i);
            return mb_hf_unsupported(L, et ? et : e, path, et, MB_HF_SP_NORM);
        }
    }
    L->t->sp = 1;
    return MB_OK;
}

#define MB_HF_PRETOK                                                                               \
    "membench reads ByteLevel, or a Sequence of Split (GPT-2's or Llama 3's pattern, Isolated) "   \
    "and "                                                                                         \
    "ByteLevel with use_regex false; none with the SentencePiece-style normalizer"

/* ByteLevel at `path`: its add_prefix_space and use_regex (defaults true, as in `tokenizers`). */
static mb_status mb_hf_bytelevel(mb_hf_ld *L, const mb_jd_node *n, const char *path, int *aps,
                                 int *regex) {
    char p[96];
    snprintf(p, sizeof p, "%s.add_prefix_space", path);
    MB_TRY(mb_hf_bool(L, n, "add_prefix_space", p, 1, aps));
    snprintf(p, sizeof p, "%s.use_regex", path);
    return mb_hf_bool(L, n, "use_regex", p, 1, regex);
}

static mb_status mb_hf_split(mb_hf_ld *L, const mb_jd_node *n, const char *path) {
    const mb_jd *d = &L->doc;
    const mb_jd_node *pat = mb_jd_get(d, n, "pattern"), *re = mb_jd_get(d, pat, "Regex");
    const mb_jd_node *beh = mb_jd_get(d, n, "behavior");
    char p[128];
    snprintf(p, sizeof p, "%s.pattern", path);
    if (!re || re->type != MB_JD_STR || pat->n != 1)
        return mb_hf_unsupported(L, pat ? pat : n, p, re ? re : pat,
                                 "membench reads {\"Regex\": GPT-2's or Llama 3's pattern}");
    snprintf(p, sizeof p, "%s.pattern.Regex", path);
    if (mb_jd_is(d, re, mb_pretok_gpt2))
        L->t->pattern = MB_PRETOK_GPT2;
    else if (mb_jd_is(d, re, mb_pretok_llama3))
        L->t->pattern = MB_PRETOK_LLAMA3;
    else
        return mb_hf_unsupported(L, re, p, re, "membench knows GPT-2's and Llama 3's patterns");
    snprintf(p, sizeof p, "%s.behavior", path);
    if (!mb_jd_is(d, beh, "Isolated"))
        return mb_hf_unsupported(L, beh ? beh : n, p, beh, "membench reads \"Isolated\"");
    int invert;
    snprintf(p, sizeof p, "%s.invert", path);
    MB_TRY(mb_hf_bool(L, n, "invert", p, 0, &invert));
    if (invert)
        return mb_hf_unsupported(L, mb_jd_get(d, n, "invert"), p, mb_jd_get(d, n, "invert"),
                                 "membench reads false");
    return MB_OK;
}

static mb_status mb_hf_pretokenizer(mb_hf_ld *L, const mb_jd_node *n) {
    const mb_jd *d = &L->doc;
    mb_hftok *t = L->t;
    if (mb_hf_null(n)) {
        if (t->sp) return MB_OK;
        return mb_hf_unsupported(L, n, "pre_tokenizer", n, MB_HF_PRETOK);
    }
    const mb_jd_node *ty = mb_jd_get(d, n, "type");
    if (t->sp) return mb_hf_unsupported(L, n, "pre_tokenizer", n, MB_HF_PRETOK);
    if (mb_jd_is(d, ty, "ByteLevel")) {
        MB_TRY(mb_hf_bytelevel(L, n, "pre_tokenizer", &t->add_prefix_space, &t->split));
        t->pattern = MB_PRETOK_GPT2;
        return MB_OK;
    }
    const mb_jd_node *list = mb_jd_get(d, n, "pretokenizers");
    if (!mb_jd_is(d, ty, "Sequence"))
        return mb_hf_unsupported(L, ty ? ty : n, "pre_tokenizer.type", ty, MB_HF_PRETOK);
    if (!list || list->type != MB_JD_ARR || list->n != 2)
        return mb_hf_unsupported(L, list ? list : n, "pre_tokenizer.pretokenizers", list,
                                 "membench reads Split then ByteLevel");
    const mb_jd_node *sp = mb_hf_kid(L, list, 0), *bl = mb_hf_kid(L, list, 1);
    const mb_jd_node *st = mb_jd_get(d, sp, "type"), *bt = mb_jd_get(d, bl, "type");
    if (!mb_jd_is(d, st, "Split"))
        return mb_hf_unsupported(L, st ? st : sp, "pre_tokenizer.pretokenizers[0].type", st,
                                 "membench reads Split then ByteLevel");
    if (!mb_jd_is(d, bt, "ByteLevel"))
        return mb_hf_unsupported(L, bt ? bt : bl, "pre_tokenizer.pretokenizers[1].type", bt,
                                 "membench reads Split then ByteLevel");
    MB_TRY(mb_hf_split(L, sp, "pre_tokenizer.pretokenizers[0]"));
    int regex;
    MB_TRY(mb_hf_bytelevel(L, bl, "pre_tokenizer.pretokenizers[1]", &t->add_prefix_space, &regex));
    if (regex)
        return mb_hf_unsupported(
            L, mb_jd_get(d, bl, "use_regex") ? mb_jd_get(d, bl, "use_regex") : bl,
            "pre_tokenizer.pretokenizers[1].use_regex", mb_jd_get(d, bl, "use_regex"),
            "membench reads false after a Split");
    t->split = 1;
    return MB_OK;
}

static mb_status mb_hf_decoder(mb_hf_ld *L, const mb_jd_node *n) {
    const mb_jd *d = &L->doc;
    if (mb_hf_null(n)) return MB_OK;
    const mb_jd_node *ty = mb_jd_get(d, n, "type");
    if (!L->t->sp) {
        if (mb_jd_is(d, ty, "ByteLevel")) return MB_OK;
        return mb_hf_unsupported(L, ty ? ty : n, "decoder.type", ty,
                                 "membench reads ByteLevel for byte-level BPE");
    }
    static const char want[] = "membench reads a Sequence of Replace, ByteFallback, Fuse and Strip "
                               "for SentencePiece-style BPE";
    const mb_jd_node *list = mb_jd_get(d, n, "decoders");
    if (!mb_jd_is(d, ty, "Sequence"))
        return mb_hf_unsupported(L, ty ? ty : n, "decoder.type", ty, want);
    if (!list || list->type != MB_JD_ARR)
        return mb_hf_unsupported(L, list ? list : n, "decoder.decoders", list, want);
    for (size_t i = 0; i < list->n; i++) {
        const mb_jd_node *e = mb_hf_kid(L, list, i), *et = mb_jd_get(d, e, "type");
        if (mb_jd_is(d, et, "Replace") || mb_jd_is(d, et, "ByteFallback") ||
            mb_jd_is(d, et, "Fuse") || mb_jd_is(d, et, "Strip"))
            continue;
        char path[64];
        snprintf(path, sizeof path, "decoder.decoders[%zu].type", i);
        return mb_hf_unsupported(L, et ? et : e, path, et, want);
    }
    return MB_OK;
}

/* ---- the model: vocabulary, merges, added tokens ---- */

uint64_t mb_hf_hash(const char *p, size_t n) { /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t mb_hf_mix(uint64_t k) { /* splitmix64's finalizer */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

static size_t mb_hf_pow2(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

int32_t mb_hf_vocab_find(const mb_hftok *t, const char *p, size_t n) {
    for (size_t i = mb_hf_hash(p, n) & t->vmask;; i = (i + 1) & t->vmask) {
        int32_t id = t->vslot[i];
        if (id < 0) return -1;
        size_t o = t->off[id];
        if (t->off[id + 1] - o == n && memcmp(t->str + o, p, n) == 0) return id;
    }
}

const mb_hf_merge *mb_hf_merge_find(const mb_hftok *t, int32_t l, int32_t r) {
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (size_t i = mb_hf_mix(key) & t->mmask;; i = (i + 1) & t->mmask) {
        if (t->merges[i].rank < 0) return NULL;
        if (t->merges[i].key == key) return &t->merges[i];
    }
}

static mb_status mb_hf_oom(mb_hf_ld *L) {
    return mb_error(L->ctx, MB_ENOMEM, "%s: out of host memory", L->doc.path);
}

/* Every id's string: model.vocab's members and added_tokens' contents, laid out in id order. */
static mb_status mb_hf_strings(mb_hf_ld *L, const mb_jd_node *vocab, const mb_jd_node *added) {
    const mb_jd *d = &L->doc;
    mb_hftok *t = L->t;
    int32_t top = -1, id;
    for (size_t i = 0; i < vocab->n; i++) {
        const mb_jd_node *m = mb_hf_kid(L, vocab, i);
        if (!mb_jd_uint(d, m, &id) || id == INT32_MAX)
            return mb_hf_fail(L, MB_EFORMAT, m,
                              "model.vocab: the id of \"%.*s\" is not an id "
                              "(an integer from 0 to 2147483646)",
                              (int)(m->klen > 40 ? 40 : m->klen), d->str + m->key);
        if (id > top) top = id;
    }
    for (size_t i = 0; added && i < added->n; i++) {
        const mb_jd_node *a = mb_hf_kid(L, added, i), *v = mb_jd_get(d, a, "id");
        if (!mb_jd_uint(d, v, &id) || id == INT32_MAX)
            return mb_hf_fail(L, MB_EFORMAT, v ? v : a,
                              "added_tokens[%zu].id: expected an id (an "
                              "integer from 0 to 2147483646)",
                              i);
        const mb_jd_node *c = mb_jd_get(d, a, "content");
        if (!c || c->type != MB_JD_STR || c->n == 0)
            return mb_hf_fail(L, MB_EFORMAT, c ? c : a,
                              "added_tokens[%zu].content: expected a "
                              "non-empty string",
                              i);
        if (id > top) top = id;
    }
    if (top < 0) return mb_hf_fail(L, MB_EFORMAT, vocab, "model.vocab holds no tokens");
    t->nvocab = top + 1;
    size_t nv = (size_t)t->nvocab;
    size_t *src = malloc(nv * sizeof *src), *len = calloc(nv, sizeof *len);
    t->what = calloc(nv, 1);
    t->off = malloc((nv + 1) * sizeof *t->off);
    mb_status s = MB_OK;
    if (!src || !len || !t->what || !t->off) {
        s = mb_hf_oom(L);
        goto done;
    }
    for (size_t i = 0; i < vocab->n; i++) {
        const mb_jd_node *m = mb_hf_kid(L, vocab, i);
        mb_jd_uint(d, m, &id);
        if (t->what[id]) {
            const mb_jd_node *o = mb_hf_kid(L, vocab, src[id]);
            s = mb_hf_fail(L, MB_EFORMAT, m, "model.vocab: \"%.*s\" and \"%.*s\" both have id %d",
                           (int)(o->klen > 40 ? 40 : o->klen), d->str + o->key,
                           (int)(m->klen > 40 ? 40 : m->klen), d->str + m->key, (int)id);
            goto done;
        }
        t->what[id] = MB_HF_MODEL;
        src[id] = i;
        len[id] = m->klen;
    }
    for (size_t i = 0; added && i < added->n; i++) {
        const mb_jd_node *a = mb_hf_kid(L, added, i), *c = mb_jd_get(d, a, "content");
        mb_jd_uint(d, mb_jd_get(d, a, "id"), &id);
        if (t->what[id] & MB_HF_ADDED) {
            s = mb_hf_fail(L, MB_EFORMAT, a, "added_tokens[%zu]: id %d is given twice", i, (int)id);
            goto done;
        }
        if (t->what[id] & MB_HF_MODEL) { /* the same token in both lists: the strings must agree */
            const mb_jd_node *m = mb_hf_kid(L, vocab, src[id]);
            if (m->klen != c->n || memcmp(d->str + m->key, d->str + c->a, c->n)) {
                s = mb_hf_fail(L, MB_EFORMAT, a,
                               "added_tokens[%zu]: id %d is \"%.*s\" in "
                               "model.vocab",
                               i, (int)id, (int)(m->klen > 40 ? 40 : m->klen), d->str + m->key);
                goto done;
            }
        }
        t->what[id] |= MB_HF_ADDED;
        src[id] = i;
        len[id] = c->n;
    }
    size_t total = 0;
    for (size_t i = 0; i < nv; i++) t->off[i] = total, total += len[i];
    t->off[nv] = total;
    t->str = malloc(total ? total : 1);
    if (!t->str) {
        s = mb_hf_oom(L);
        goto done;
    }
    for (size_t i = 0; i < nv; i++) {
        if (!t->what[i]) continue;
        const mb_jd_node *k =
            t->what[i] & MB_HF_ADDED ? mb_jd_get(d, mb_hf_kid(L, added, src[i]), "content") : NULL;
        const char *from = k ? d->str + k->a : d->str + mb_hf_kid(L, vocab, src[i])->key;
        memcpy(t->str + t->off[i], from, len[i]);
    }
done:
    free(src);
    free(len);
    return s;
}

static mb_status mb_hf_vocab_index(mb_hf_ld *L, const mb_jd_node *vocab) {
    mb_hftok *t = L->t;
    t->vmask = mb_hf_pow2(2 * vocab->n) - 1;
    t->vslot = malloc((t->vmask + 1) * sizeof *t->vslot);
    if (!t->vslot) return mb_hf_oom(L);
    for (size_t i = 0; i <= t->vmask; i++) t->vslot[i] = -1;
    for (int32_t id = 0; id < t->nvocab; id++) {
        if (!(t->what[id] & MB_HF_MODEL)) continue;
        const char *p = t->str + t->off[id];
        size_t n = t->off[id + 1] - t->off[id], i = mb_hf_hash(p, n) & t->vmask;
        for (; t->vslot[i] >= 0; i = (i + 1) & t->vmask) {
            int32_t o = t->vslot[i];
            if (t->off[o + 1] - t->off[o] == n && !memcmp(t->str + t->off[o], p, n))
                return mb_hf_fail(L, MB_EFORMAT, vocab,
                                  "model.vocab: \"%.*s\" appears twice (ids %d "
                                  "and %d)",
                                  (int)(n > 40 ? 40 : n), p, (int)o, (int)id);
        }
        t->vslot[i] = id;
    }
    return MB_OK;
}

/* One merge: "LEFT RIGHT" (one space) or ["LEFT", "RIGHT"]; both halves and their join must be
 * model.vocab tokens. A pair given twice keeps its later rank, as `tokenizers` does. */
static mb_status mb_hf_merge_one(mb_hf_ld *L, const mb_jd_node *m, size_t i, char **buf,
                                 size_t *cap) {
    const mb_jd *d = &L->doc;
    mb_hftok *t = L->t;
    const char *h[2];
    size_t hl[2];
    if (m->type == MB_JD_STR) {
        const char *p = d->str + m->a, *sp = memchr(p, ' ', m->n);
        if (!sp || memchr(sp + 1, ' ', m->n - (size_t)(sp + 1 - p)))
            return mb_hf_fail(L, MB_EFORMAT, m,
                              "model.merges[%zu]: expected two tokens separated "
                              "by one space",
                              i);
        h[0] = p, hl[0] = (size_t)(sp - p), h[1] = sp + 1, hl[1] = m->n - hl[0] - 1;
    } else if (m->type == MB_JD_ARR && m->n == 2 && mb_hf_kid(L, m, 0)->type == MB_JD_STR &&
               mb_hf_kid(L, m, 1)->type == MB_JD_STR) {
        for (int k = 0; k < 2; k++)
            h[k] = d->str + mb_hf_kid(L, m, (size_t)k)->a, hl[k] = mb_hf_kid(L, m, (size_t)k)->n;
    } else {
        return mb_hf_fail(L, MB_EFORMAT, m,
                          "model.merges[%zu]: expected \"LEFT RIGHT\" or "
                          "[\"LEFT\", \"RIGHT\"]",
                          i);
    }
    if (hl[0] + hl[1] > *cap) {
        char *q = realloc(*buf, hl[0] + hl[1]);
        if (!q) return mb_hf_oom(L);
        *buf = q;
        *cap = hl[0] + hl[1];
    }
    memcpy(*buf, h[0], hl[0]);
    memcpy(*buf + hl[0], h[1], hl[1]);
    int32_t l = mb_hf_vocab_find(t, h[0], hl[0]), r = mb_hf_vocab_find(t, h[1], hl[1]);
    int32_t j = mb_hf_vocab_find(t, *buf, hl[0] + hl[1]);
    const char *miss = l < 0 ? h[0] : r < 0 ? h[1] : *buf;
    size_t ml = l < 0 ? hl[0] : r < 0 ? hl[1] : hl[0] + hl[1];
    if (l < 0 || r < 0 || j < 0)
        return mb_hf_fail(L, MB_EFORMAT, m, "model.merges[%zu]: \"%.*s\" is not in model.vocab", i,
                          (int)(ml > 40 ? 40 : ml), miss);
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    size_t k = mb_hf_mix(key) & t->mmask;
    while (t->merges[k].rank >= 0 && t->merges[k].key != key) k = (k + 1) & t->mmask;
    t->merges[k] = (mb_hf_merge){.key = key, .rank = (int32_t)i, .id = j};
    return MB_OK;
}

static mb_status mb_hf_merges(mb_hf_ld *L, const mb_jd_node *merges) {
    mb_hftok *t = L->t;
    if (merges->n > INT32_MAX / 4)
        return mb_hf_fail(L, MB_EFORMAT, merges, "model.merges: %zu merges are too many",
                          merges->n);
    t->mmask = mb_hf_pow2(2 * merges->n) - 1;
    t->merges = malloc((t->mmask + 1) * sizeof *t->merges);
    if (!t->merges) return mb_hf_oom(L);
    for (size_t i = 0; i <= t->mmask; i++) t->merges[i].rank = -1;
    char *buf = NULL;
    size_t cap = 0;
    mb_status s = MB_OK;
    for (size_t i = 0; i < merges->n && s == MB_OK; i++)
        s = mb_hf_merge_one(L, mb_hf_kid(L, merges, i), i, &buf, &cap);
    free(buf);
    return s;
}

typedef struct mb_hf_akey {
    unsigned char first;
    size_t len;
    int32_t id;
} mb_hf_akey;

static int mb_hf_akey_cmp(const void *a, const void *b) {
    const mb_hf_akey *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* added_tokens: the flags that change matching must be the plain ones; then an index by first
 * byte, longest first, for the leftmost-longest search. */
static mb_status mb_hf_added(mb_hf_ld *L, const mb_jd_node *added) {
    const mb_jd *d = &L->doc;
    mb_hftok *t = L->t;
    static const char *const flags[] = {"single_word", "lstrip", "rstrip", "normalized"};
    for (size_t i = 0; added && i < added->n; i++) {
        const mb_jd_node *a = mb_hf_kid(L, added, i);
        for (int f = 0; f < 4; f++) {
            char path[64];
            int v;
            snprintf(path, sizeof path, "added_tokens[%zu].%s", i, flags[f]);
            MB_TRY(mb_hf_bool(L, a, flags[f], path, 0, &v));
            if (v && (f < 3 || t->sp))
                return mb_hf_unsupported(L, mb_jd_get(d, a, flags[f]), path,
                                         mb_jd_get(d, a, flags[f]),
                                         f < 3 ? "membench matches added tokens as they are"
                                               : "membench matches added tokens before the "
                                                 "normalizer");
        }
    }
    size_t n = 0;
    for (int32_t id = 0; id < t->nvocab; id++) n += (t->what[id] & MB_HF_ADDED) != 0;
    mb_hf_akey *k = malloc((n ? n : 1) * sizeof *k);
    t->added = malloc((n ? n : 1) * sizeof *t->added);
    if (!k || !t->added) {
        free(k);
        return mb_hf_oom(L);
    }
    n = 0;
    for (int32_t id = 0; id < t->nvocab; id++)
        if (t->what[id] & MB_HF_ADDED)
            k[n++] =
                (mb_hf_akey){(unsigned char)t->str[t->off[id]], t->off[id + 1] - t->off[id], id};
    qsort(k, n, sizeof *k, mb_hf_akey_cmp);
    for (size_t i = 0; i < n; i++) t->added[i] = k[i].id;
    t->nadded = n;
    size_t at = 0;
    for (int b = 0; b <= 256; b++) {
        while (at < n && k[at].first < b) at++;
        t->first[b] = at;
    }
    free(k);
    return MB_OK;
}

/* model must be a BPE model: checked before anything else, so a WordPiece or Unigram file is
 * refused for its model and not for whatever its normalizer is. */
static mb_status mb_hf_model_type(mb_hf_ld *L, const mb_jd_node *root) {
    const mb_jd_node *m = mb_jd_get(&L->doc, root, "model");
    if (!m || m->type != MB_JD_OBJ)
        return mb_hf_fail(L, MB_EFORMAT, m ? m : root, "model: expected an object");
    const mb_jd_node *ty = mb_jd_get(&L->doc, m, "type");
    if (!mb_jd_is(&L->doc, ty, "BPE"))
        return mb_hf_unsupported(L, ty ? ty : m, "model.type", ty, "membench reads BPE models");
    return MB_OK;
}

static mb_status mb_hf_model(mb_hf_ld *L, const mb_jd_node *root) {
    const mb_jd *d = &L->doc;
    mb_hftok *t = L->t;
    const mb_jd_node *m = mb_jd_get(d, root, "model");
    const mb_jd_node *v = mb_jd_get(d, m, "dropout");
    if (!mb_hf_null(v))
        return mb_hf_unsupported(L, v, "model.dropout", v, "membench encodes without dropout");
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        char path[64];
        snprintf(path, sizeof path, "model.%s", affix[k]);
        v = mb_jd_get(d, m, affix[k]);
        if (!mb_hf_null(v) && !mb_jd_is(d, v, ""))
            return mb_hf_unsupported(L, v, path, v, "membench reads null or \"\"");
    }
    MB_TRY(mb_hf_bool(L, m, "byte_fallback", "model.byte_fallback", 0, &t->byte_fallback));
    MB_TRY(mb_hf_bool(L, m, "fuse_unk", "model.fuse_unk", 0, &t->fuse_unk));
    MB_TRY(mb_hf_bool(L, m, "ignore_merges", "model.ignore_merges", 0, &t->ignore_merges));
    const mb_jd_node *vocab = mb_jd_get(d, m, "vocab"), *merges = mb_jd_get(d, m, "merges");
    const mb_jd_node *added = mb_jd_get(d, root, "added_tokens"),
                     *unk = mb_jd_get(d, m, "unk_token");
    if (!vocab || vocab->type != MB_JD_OBJ)
        return mb_hf_fail(L, MB_EFORMAT, vocab ? vocab : m,
                          "model.vocab: expected an object of "
                          "token -> id");
    if (!merges || merges->type != MB_JD_ARR)
        return mb_hf_fail(L, MB_EFORMAT, merges ? merges : m, "model.merges: expected an array");
    if (!mb_hf_null(added) && added->type != MB_JD_ARR)
        return mb_hf_fail(L, MB_EFORMAT, added, "added_tokens: expected an array");
    if (!mb_hf_null(unk) && unk->type != MB_JD_STR)
        return mb_hf_fail(L, MB_EFORMAT, unk, "model.unk_token: expected a string or null");
    if (mb_hf_null(added)) added = NULL;
    MB_TRY(mb_hf_strings(L, vocab, added));
    MB_TRY(mb_hf_vocab_index(L, vocab));
    t->unk = -1;
    if (!mb_hf_null(unk) && (t->unk = mb_hf_vocab_find(t, d->str + unk->a, unk->n)) < 0)
        return mb_hf_fail(L, MB_EFORMAT, unk, "model.unk_token: \"%.*s\" is not in model.vocab",
                          (int)(unk->n > 40 ? 40 : unk->n), d->str + unk->a);
    MB_TRY(mb_hf_merges(L, merges));
    return mb_hf_added(L, added);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the 68 others for
 * U+0100, U+0101, ... in byte order. */
static void mb_hf_byte_chars(uint32_t out[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        out[b] = printable ? (uint32_t)b : next++;
    }
}

/* SentencePiece-style pieces may be cut before each "▁" when no merge has a right half that
 * starts with "▁": nothing can then join the "▁" symbol (or what grows from it) to its left. */
static void mb_hf_chunkable(mb_hftok *t) {
    t->sp_chunk = 0;
    if (!t->sp || mb_hf_vocab_find(t, "\xe2\x96\x81", 3) < 0) return;
    for (size_t i = 0; i <= t->mmask; i++) {
        if (t->merges[i].rank < 0) continue;
        int32_t r = (int32_t)(uint32_t)t->merges[i].key;
        if (t->off[r + 1] - t->off[r] >= 3 && !memcmp(t->str + t->off[r], "\xe2\x96\x81", 3))
            return;
    }
    t->sp_chunk = 1;
}

mb_status mb_hftok_load(mb_ctx *ctx, const char *path, mb_hftok **out) {
    *out = NULL;
    char *text;
    size_t len;
    MB_TRY(mb_read_file(ctx, path, &text, &len));
    mb_hf_ld L = {.ctx = ctx};
    mb_status s = mb_jd_parse(ctx, path, text, len, &L.doc);
    if (s != MB_OK) {
        free(text);
        return s;
    }
    L.t = calloc(1, sizeof *L.t);
    const mb_jd_node *root = &L.doc.node[L.doc.root];
    if (!L.t)
        s = mb_hf_oom(&L);
    else if (root->type != MB_JD_OBJ)
        s = mb_hf_fail(&L, MB_EFORMAT, root, "expected a JSON object (a tokenizer.json)");
    if (s == MB_OK) s = mb_hf_model_type(&L, root);
    if (s == MB_OK) s = mb_hf_normalizer(&L, mb_jd_get(&L.doc, root, "normalizer"));
    if (s == MB_OK) s = mb_hf_pretokenizer(&L, mb_jd_get(&L.doc, root, "pre_tokenizer"));
    if (s == MB_OK) s = mb_hf_decoder(&L, mb_jd_get(&L.doc, root, "decoder"));
    if (s == MB_OK) s = mb_hf_model(&L, root); /* added tokens' checks need the flavour */
    mb_jd_free(&L.doc);
    free(text);
    if (s != MB_OK) {
        mb_hftok_free(L.t);
        return s;
    }
    mb_hf_byte_chars(L.t->byte_char);
    mb_hf_chunkable(L.t);
    for (int b = 0; b < 256; b++) { /* byte fallback tokens: "<0x0A>" as `tokenizers` spells them */
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        L.t->fallback[b] = mb_hf_vocab_find(L.t, name, 6);
    }
    *out = L.t;
    return MB_OK;
}

void mb_hftok_free(mb_hftok *t) {
    if (!t) return;
    free(t->str);
    free(t->off);
    free(t->what);
    free(t->vslot);
    free(t->merges);
    free(t->added);
    free(t);
}

int mb_hftok_vocab(const mb_hftok *t) {
    return t->nvocab;
}

const char *mb_hftok_kind(const mb_hftok *t) {
    if (t->sp) return "SentencePiece-style BPE";
    if (!t->split) return "byte-level BPE (no split)";
    return t->pattern == MB_PRETOK_LLAMA3 ? "byte-level BPE (Llama 3 split)"
                                          : "byte-level BPE (GPT-2 split)";
}
