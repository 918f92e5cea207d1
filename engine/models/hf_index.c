/* engine/models/hf_index.c — model.safetensors.index.json: weight_map (tensor name -> shard file)
 * read into sorted arrays, each shard path checked to stay inside the checkpoint's folder. */
#include <stdlib.h>
#include <string.h>

#include "../jsonstr.h"
#include "hf.h"

#define SHOW 120 /* longest name quoted whole in a message */

/* s fit for a message: control bytes as '?', cut after SHOW bytes with "...". */
static const char *show(char buf[SHOW + 4], const char *s) {
    size_t k = 0;
    for (; s[k] && k < SHOW; k++) buf[k] = (unsigned char)s[k] < 0x20 ? '?' : s[k];
    strcpy(buf + k, s[k] ? "..." : "");
    return buf;
}

static int by_name(const void *a, const void *b) {
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}
static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* NULL when `p` is a path inside the folder, else why not. */
static const char *escapes(const char *p) {
    if (!*p) return "is empty";
    if (*p == '/') return "is absolute";
    for (const char *c = p; *c;) {
        size_t k = strcspn(c, "/");
        if (k == 2 && c[0] == '.' && c[1] == '.') return "has a '..' component";
        c += k;
        while (*c == '/') c++;
    }
    return NULL;
}

void mb_hf_index_free(mb_hf_index *ix) {
    for (size_t i = 0; i < ix->n; i++) free(ix->names[i]);
    for (size_t i = 0; i < ix->nshards; i++) free(ix->shards[i]);
    free(ix->names);
    free(ix->shard);
    free(ix->shards);
    memset(ix, 0, sizeof *ix);
}

long mb_hf_index_find(const mb_hf_index *ix, const char *name) {
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->names[mid], name);
        if (!c) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* weight_map's members, in file order, into names[] and files[] (grown by doubling). */
static mb_status read_map(mb_ctx *ctx, const char *file, const unsigned char *s, size_t len,
                          size_t *i, char ***names, char ***files, size_t *n) {
    size_t cap = 0;
    int count = 0;
    const char *why;
    char nb[SHOW + 4], fb[SHOW + 4];
    for (;;) {
        char *key;
        int r = mb_json_member(s, len, i, &count, &key, &why);
        if (r < 0) return mb_error(ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: %s", file, *i, why);
        if (!r) return MB_OK;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            char **a = realloc(*names, nc * sizeof *a),
                 **b = a ? realloc(*files, nc * sizeof *b) : NULL;
            if (a) *names = a;
            if (b) *files = b;
            if (!a || !b) {
                free(key);
                return mb_error(ctx, MB_ENOMEM, "%s: out of memory", file);
            }
            cap = nc;
        }
        (*names)[*n] = key;
        (*files)[*n] = NULL;
        (*n)++;
        if (*i >= len || s[*i] != '"')
            return mb_error(ctx, MB_EFORMAT,
                            "%s: weight_map: tensor '%s' must map to a shard file name (a string)",
                            file, show(nb, key));
        (*i)++;
        if (mb_json_str_dup(s, len, i, &(*files)[*n - 1], &why))
            return mb_error(ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: %s", file, *i, why);
        const char *bad = escapes((*files)[*n - 1]);
        if (bad)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: weight_map: tensor '%s' has shard path '%s', which %s (a file "
                            "inside the checkpoint's folder is expected)",
                            file, show(nb, key), show(fb, (*files)[*n - 1]), bad);
    }
}

/* Sorts the entries, refuses a name twice, and gathers the distinct shards. */
static mb_status arrange(mb_ctx *ctx, const char *file, char **names, char **files, size_t n,
                         mb_hf_index *ix) {
    char ***ord = malloc((n ? n : 1) * sizeof *ord);
    ix->names = malloc((n ? n : 1) * sizeof *ix->names);
    ix->shard = malloc((n ? n : 1) * sizeof *ix->shard);
    ix->shards = malloc((n ? n : 1) * sizeof *ix->shards);
    if (!ord || !ix->names || !ix->shard || !ix->shards) {
        free(ord);
        return mb_error(ctx, MB_ENOMEM, "%s: out of memory", file);
    }
    for (size_t k = 0; k < n; k++) ord[k] = &names[k];
    qsort(ord, n, sizeof *ord, by_name);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(*ord[k - 1], *ord[k])) {
            char nb[SHOW + 4];
            mb_status st = mb_error(ctx, MB_EFORMAT, "%s: weight_map: tensor '%s' is listed twice",
                                    file, show(nb, *ord[k]));
            free(ord);
            return st;
        }
    /* distinct shards: sorted copies of the file names, then each entry's place among them */
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        free(ord);
        return mb_error(ctx, MB_ENOMEM, "%s: out of memory", file);
    }
    if (n) { /* an empty weight_map: files may be NULL, which memcpy and qsort must not see */
        memcpy(sorted, files, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, by_str);
    }
    for (size_t k = 0; k < n; k++)
        if (!k || strcmp(sorted[k], ix->shards[ix->nshards - 1]))
            ix->shards[ix->nshards++] = sorted[k];
    for (size_t k = 0; k < n; k++) {
        size_t e = (size_t)(ord[k] - names);
        char **hit = bsearch(&files[e], ix->shards, ix->nshards, sizeof *ix->shards, by_str);
        ix->names[k] = names[e];
        ix->shard[k] = (size_t)(hit - ix->shards);
    }
    ix->n = n;
    /* shards[] points into files[]; give each distinct one its own string, free the rest */
    for (size_t k = 0; k < ix->nshards; k++) {
        for (size_t e = 0; e < n; e++)
            if (files[e] == ix->shards[k]) files[e] = NULL;
    }
    for (size_t e = 0; e < n; e++) free(files[e]);
    free(sorted);
    free(ord);
    return MB_OK;
}

mb_status mb_hf_index_parse(mb_ctx *ctx, const char *file, const unsigned char *s, size_t len,
                            mb_hf_index *out) {
    memset(out, 0, sizeof *out);
    char **names = NULL, **files = NULL;
    size_t n = 0, i = 0;
    int count = 0, have_map = 0;
    const char *why;
    mb_status st = MB_OK;
    for (;;) {
        char *key;
        int r = mb_json_member(s, len, &i, &count, &key, &why);
        if (r < 0) {
            st = mb_error(ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: %s", file, i, why);
            break;
        }
        if (!r) break;
        int is_map = !strcmp(key, "weight_map");
        free(key);
        if (is_map && have_map) {
            st = mb_error(ctx, MB_EFORMAT, "%s: \"weight_map\" is given twice", file);
            break;
        }
        if (is_map) {
            have_map = 1;
            if (i >= len || s[i] != '{') {
                st = mb_error(ctx, MB_EFORMAT,
                              "%s: \"weight_map\" must be an object of tensor name -> shard file",
                              file);
                break;
            }
            st = read_map(ctx, file, s, len, &i, &names, &files, &n);
        } else if (mb_json_skip(s, len, &i, &why)) {
            st = mb_error(ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: %s", file, i, why);
        }
        if (st != MB_OK) break;
    }
    if (st == MB_OK) {
        mb_json_ws(s, len, &i);
        if (i < len)
            st = mb_error(ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: text after the object", file,
                          i);
        else if (!have_map)
            st = mb_error(ctx, MB_EFORMAT,
                          "%s: no \"weight_map\" (an index maps each tensor to its shard file)",
                          file);
    }
    if (st == MB_OK) st = arrange(ctx, file, names, files, n, out);
    if (st != MB_OK) {
        free(out->names); /* arrange's arrays; the strings are still names[] and files[] */
        free(out->shard);
        free(out->shards);
        memset(out, 0, sizeof *out);
        for (size_t k = 0; k < n; k++) {
            free(names[k]);
            free(files[k]);
        }
    }
    free(names);
    free(files);
    return st;
}
