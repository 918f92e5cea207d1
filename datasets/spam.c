/* datasets/spam.c — SpamAssassin messages: the "text" member of each JSON file, subject and body
 * kept, tokenized, labelled by group, split by class. */
#include "spam.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "fetch.h"
#include "../engine/jsonstr.h"

static int starts_ci(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != tolower((unsigned char)word[i])) return 0;
    return 1;
}

mb_status mb_spam_text(mb_ctx *ctx, const char *msg, size_t len, char **out, size_t *outlen) {
    const char *end = msg + len, *body = end, *hend = end;
    for (const char *p = msg; p + 1 < end; p++)
        if (p[0] == '\n' && p[1] == '\n') {
            hend = p + 1;
            body = p + 2;
            break;
        }
    size_t blen = (size_t)(end - body);
    if (blen > MB_SPAM_MAX_BODY) { /* cut at the last line end inside the limit */
        size_t cut = MB_SPAM_MAX_BODY;
        while (cut > 0 && body[cut - 1] != '\n') cut--;
        blen = cut ? cut : MB_SPAM_MAX_BODY;
    }
    char *o = malloc(hend - msg + blen + 16);
    if (!o) return mb_error(ctx, MB_ENOMEM, "out of host memory for a message");
    size_t n = 0;
    for (const char *line = msg; line < hend;) { /* the first Subject: header, unfolded */
        const char *eol = memchr(line, '\n', (size_t)(hend - line));
        if (!eol) eol = hend;
        if (starts_ci(line, eol, "subject:")) {
            memcpy(o, "Subject:", 8);
            n = 8;
            for (const char *p = line + 8;;) {
                memcpy(o + n, p, (size_t)(eol - p));
                n += (size_t)(eol - p);
                if (eol + 1 < hend && (eol[1] == ' ' || eol[1] == '\t')) { /* folded */
                    p = eol + 1;
                    eol = memchr(p, '\n', (size_t)(hend - p));
                    if (!eol) eol = hend;
                    continue;
                }
                break;
            }
            o[n++] = '\n';
            o[n++] = '\n';
            break;
        }
        line = eol + 1;
    }
    memcpy(o + n, body, blen);
    n += blen;
    o[n] = 0;
    *out = o;
    *outlen = n;
    return MB_OK;
}

/* The string value of top-level member "text" of the JSON object in s, as UTF-8 (malloc'd). */
static mb_status json_text(mb_ctx *ctx, const char *path, const unsigned char *s, size_t n,
                           char **out, size_t *outlen) {
    size_t i = 0;
    const char *why = "expected an object";
    mb_json_ws(s, n, &i);
    if (i >= n || s[i] != '{') goto bad;
    i++;
    for (;;) {
        mb_json_ws(s, n, &i);
        why = "expected a member name (a string)";
        if (i >= n || s[i] != '"') goto bad;
        i++;
        size_t k0 = i;
        uint32_t cp;
        int r;
        while ((r = mb_json_str_next(s, n, &i, &cp, &why)) == 1) {
        }
        if (r < 0) goto bad;
        int is_text = i - k0 == 5 && !memcmp(s + k0, "text", 4);
        mb_json_ws(s, n, &i);
        why = "expected ':'";
        if (i >= n || s[i] != ':') goto bad;
        i++;
        mb_json_ws(s, n, &i);
        if (is_text) {
            why = "\"text\" is not a string";
            if (i >= n || s[i] != '"') goto bad;
            i++;
            unsigned char *o = malloc(n - i + 1), u[4]; /* UTF-8 never grows when unescaped */
            if (!o) return mb_error(ctx, MB_ENOMEM, "%s: out of host memory", path);
            size_t on = 0;
            while ((r = mb_json_str_next(s, n, &i, &cp, &why)) == 1) {
                size_t w = mb_utf8_put(cp, u);
                memcpy(o + on, u, w);
                on += w;
            }
            if (r < 0) {
                free(o);
                goto bad;
            }
            o[on] = 0;
            *out = (char *)o;
            *outlen = on;
            return MB_OK;
        }
        if (mb_json_skip(s, n, &i, &why) < 0) goto bad;
        mb_json_ws(s, n, &i);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        why = "no \"text\" member";
        goto bad;
    }
bad:
    return mb_error(ctx, MB_EFORMAT, "%s: at byte %zu: %s", path, i, why);
}

static const struct {
    const char *group;
    int label;
} groups[] = {{"easy-ham-1/", MB_SPAM_HAM},
              {"easy-ham-2/", MB_SPAM_HAM},
              {"hard-ham-1/", MB_SPAM_HAM},
              {"spam-1/", MB_SPAM_SPAM},
              {"spam-2/", MB_SPAM_SPAM}};

typedef struct spam_acc {
    int32_t *tok;
    size_t ntok, cap;
    size_t *off;
    int32_t *lab;
    size_t nex, excap;
} spam_acc;

static int acc_add(spam_acc *a, const int32_t *t, size_t n, int label) {
    if (n > MB_SPAM_MAX_TOKENS) n = MB_SPAM_MAX_TOKENS;
    if (a->ntok + n > a->cap) {
        size_t c = a->cap ? a->cap : 1 << 20;
        while (c < a->ntok + n) c *= 2;
        int32_t *p = realloc(a->tok, c * sizeof *p);
        if (!p) return 0;
        a->tok = p;
        a->cap = c;
    }
    if (a->nex + 2 > a->excap) {
        size_t c = a->excap ? 2 * a->excap : 8192;
        size_t *o = realloc(a->off, c * sizeof *o);
        if (o) a->off = o;
        int32_t *l = realloc(a->lab, c * sizeof *l);
        if (l) a->lab = l;
        if (!o || !l) return 0;
        a->excap = c;
    }
    if (a->nex == 0) a->off[0] = 0;
    memcpy(a->tok + a->ntok, t, n * sizeof *t);
    a->ntok += n;
    a->lab[a->nex] = label;
    a->off[++a->nex] = a->ntok;
    return 1;
}

mb_status mb_data_spam(mb_ctx *ctx, mb_dataset *d, mb_tokenizer tok, double val_fraction) {
    memset(d, 0, sizeof *d);
    const char *need[] = {"spam-assassin", tok == MB_TOK_GPT2 ? "gpt2-bpe" : NULL, NULL};
    MB_TRY(mb_fetch_need(ctx, "spam-assassin", need));
    mb_bpe *bpe = NULL;
    if (tok == MB_TOK_GPT2) {
        char enc[4096], merges[4096];
        MB_TRY(mb_fetch_path(ctx, "gpt2-bpe", "encoder.json", enc, sizeof enc));
        MB_TRY(mb_fetch_path(ctx, "gpt2-bpe", "vocab.bpe", merges, sizeof merges));
        MB_TRY(mb_bpe_load(ctx, enc, merges, &bpe));
    }
    spam_acc a = {0};
    size_t per[2] = {0, 0};
    mb_status s = MB_OK;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0] && s == MB_OK; g++) {
        char **files;
        size_t nf;
        s = mb_fetch_list(ctx, "spam-assassin", groups[g].group, &files, &nf);
        for (size_t f = 0; f < nf && s == MB_OK; f++) {
            char path[4096], *raw = NULL, *json_txt = NULL, *text = NULL;
            size_t rlen = 0, jlen = 0, tlen = 0, ntok = 0;
            int32_t *ids = NULL;
            s = mb_fetch_path(ctx, "spam-assassin", files[f], path, sizeof path);
            if (s == MB_OK) s = mb_read_file(ctx, path, &raw, &rlen);
            if (s == MB_OK)
                s = json_text(ctx, path, (const unsigned char *)raw, rlen, &json_txt, &jlen);
            if (s == MB_OK) s = mb_spam_text(ctx, json_txt, jlen, &text, &tlen);
            if (s == MB_OK && tok == MB_TOK_GPT2) {
                s = mb_bpe_encode(ctx, bpe, text, tlen, &ids, &ntok);
            } else if (s == MB_OK) {
                ntok = tlen < MB_SPAM_MAX_TOKENS ? tlen : MB_SPAM_MAX_TOKENS;
                ids = malloc((ntok ? ntok : 1) * sizeof *ids);
                if (!ids) s = mb_error(ctx, MB_ENOMEM, "out of host memory");
                for (size_t i = 0; ids && i < ntok; i++) ids[i] = (unsigned char)text[i];
            }
            if (s == MB_OK && ntok == 0)
                s = mb_error(ctx, MB_EFORMAT, "%s: the message has neither subject nor body", path);
            if (s == MB_OK && !acc_add(&a, ids, ntok, groups[g].label))
                s = mb_error(ctx, MB_ENOMEM, "out of host memory for the corpus");
            if (s == MB_OK) per[groups[g].label]++;
            free(raw);
            free(json_txt);
            free(text);
            free(ids);
        }
        if (s == MB_OK && nf == 0)
            s = mb_error(ctx, MB_EFORMAT, "the manifest lists no files of group %s",
                         groups[g].group);
        mb_fetch_list_free(files, nf);
    }
    mb_bpe_free(bpe);
    if (s == MB_OK) {
        char desc[128];
        snprintf(desc, sizeof desc, "spam-assassin (%zu ham, %zu spam; %s)", per[0], per[1],
                 tok == MB_TOK_GPT2 ? "gpt2 tokens" : "bytes");
        s = mb_data_from_examples(ctx, d, a.tok, a.off, a.lab, a.nex,
                                  tok == MB_TOK_GPT2 ? 50257 : 256, 2,
                                  tok == MB_TOK_GPT2 ? 50256 : 0, val_fraction, NULL, desc);
    }
    free(a.tok);
    free(a.off);
    free(a.lab);
    return s;
}
