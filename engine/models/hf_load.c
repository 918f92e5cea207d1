/* engine/models/hf_load.c — a checkpoint folder or index into a model: the index checked against
 * the model and against each shard, then each shard opened in turn (its header only) and its
 * tensors read one at a time, so the host never holds more than one tensor's bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../file.h"
#include "hf.h"

typedef struct where {
    char dir[MB_FILE_PATH_MAX];    /* the checkpoint's folder */
    char index[MB_FILE_PATH_MAX];  /* its index, or "" */
    char single[MB_FILE_PATH_MAX]; /* a single safetensors file, or "" */
} where;

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

static mb_status join(mb_ctx *ctx, char out[MB_FILE_PATH_MAX], const char *dir, const char *name) {
    if ((size_t)snprintf(out, MB_FILE_PATH_MAX, "%s/%s", dir, name) >= MB_FILE_PATH_MAX)
        return mb_error(ctx, MB_EINVAL, "%s/%s: path too long", dir, name);
    return MB_OK;
}

/* What `path` is: a safetensors file, an index file, or a folder holding one of the two. */
static mb_status locate(mb_ctx *ctx, const char *path, where *w) {
    struct stat sb;
    memset(w, 0, sizeof *w);
    if (stat(path, &sb) != 0)
        return mb_error(ctx, MB_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (!ends_with(path, ".index.json")) {
            snprintf(w->single, sizeof w->single, "%s", path);
            return MB_OK;
        }
        snprintf(w->index, sizeof w->index, "%s", path);
        const char *slash = strrchr(path, '/');
        if (!slash)
            snprintf(w->dir, sizeof w->dir, ".");
        else
            snprintf(w->dir, sizeof w->dir, "%.*s", (int)(slash != path ? slash - path : 1), path);
        return MB_OK;
    }
    snprintf(w->dir, sizeof w->dir, "%s", path);
    MB_TRY(join(ctx, w->index, path, MB_HF_INDEX));
    if (stat(w->index, &sb) == 0) return MB_OK;
    w->index[0] = 0;
    MB_TRY(join(ctx, w->single, path, MB_HF_SINGLE));
    if (stat(w->single, &sb) == 0) return MB_OK;
    return mb_error(ctx, MB_EIO,
                    "%s: a Hugging Face checkpoint folder holds %s or %s; neither is there", path,
                    MB_HF_INDEX, MB_HF_SINGLE);
}

static mb_status read_index(mb_ctx *ctx, const char *path, mb_hf_index *ix) {
    char *text;
    size_t size;
    memset(ix, 0, sizeof *ix);
    MB_TRY(mb_file_read_all(ctx, path, "checkpoint index", MB_HF_JSON_MAX, &text, &size));
    mb_status st = mb_hf_index_parse(ctx, path, (const unsigned char *)text, size, ix);
    free(text);
    return st;
}

/* The index against the model: every parameter listed once (with or without the family's
 * prefix; a classifier's score may be absent), every entry a parameter or ignorable. */
static mb_status index_vs_model(mb_ctx *ctx, const mb_model *m, const mb_hf_index *ix,
                                const char *path) {
    const char *pre = m->fam->hf_prefix;
    for (int pass = 0; pass < 2; pass++) /* names given twice first, then names not given */
        for (int i = 0; i < m->nbase; i++) {
            const mb_param *p = &m->params[i];
            char full[160];
            snprintf(full, sizeof full, "%s%s", pre ? pre : "", p->name);
            long a = mb_hf_index_find(ix, p->name), b = pre ? mb_hf_index_find(ix, full) : -1;
            if (pass == 0 && a >= 0 && b >= 0)
                return mb_error(ctx, MB_EFORMAT,
                                "%s: tensor '%s' is listed twice in weight_map (also as '%s')",
                                path, p->name, full);
            if (pass == 1 && a < 0 && b < 0 && p->role != MB_ROLE_SCORE)
                return mb_error(ctx, MB_EFORMAT,
                                "%s: tensor '%s' is missing from every shard (weight_map has no "
                                "entry for it)",
                                path, p->name);
        }
    for (size_t k = 0; k < ix->n; k++)
        if (!mb_hf_param_of(m, ix->names[k]) && !mb_hf_ignorable(m, ix->names[k]))
            return mb_error(ctx, MB_EFORMAT,
                            "%s: unexpected tensor '%s' (not a parameter of this %s shape)", path,
                            ix->names[k], m->fam->title);
    return MB_OK;
}

/* Shard s against the index, then its parameters loaded one tensor at a time. */
static mb_status load_shard(mb_ctx *ctx, mb_model *m, const mb_hf_index *ix, const where *w,
                            size_t s) {
    char path[MB_FILE_PATH_MAX];
    MB_TRY(join(ctx, path, w->dir, ix->shards[s]));
    mb_st_file f;
    MB_TRY(mb_st_open(ctx, path, &f));
    mb_status st = MB_OK;
    for (size_t k = 0; k < f.n && st == MB_OK; k++) {
        long e = mb_hf_index_find(ix, f.t[k].name);
        if (e < 0)
            st = mb_error(ctx, MB_EFORMAT, "%s: tensor '%s' is not in the weight_map of %s", path,
                          f.t[k].name, w->index);
        else if (ix->shard[e] != s)
            st = mb_error(ctx, MB_EFORMAT,
                          "%s: tensor '%s' is listed twice: %s puts it in %s, not in this shard",
                          path, f.t[k].name, w->index, ix->shards[ix->shard[e]]);
    }
    for (size_t k = 0; k < ix->n && st == MB_OK; k++)
        if (ix->shard[k] == s && !mb_st_find(&f, ix->names[k]))
            st = mb_error(ctx, MB_EFORMAT,
                          "%s: tensor '%s' is not in this shard, where the weight_map of %s puts "
                          "it",
                          path, ix->names[k], w->index);
    for (size_t k = 0; k < f.n && st == MB_OK; k++) {
        mb_param *p = mb_hf_param_of(m, f.t[k].name);
        if (p) st = mb_hf_load_tensor(ctx, p, m, &f, &f.t[k]);
    }
    mb_st_close(&f);
    return st;
}

mb_status mb_hf_load(mb_ctx *ctx, mb_model *m, const char *path) {
    where w;
    MB_TRY(locate(ctx, path, &w));
    if (w.single[0]) return mb_model_load(ctx, m, w.single);
    mb_hf_index ix;
    MB_TRY(read_index(ctx, w.index, &ix));
    mb_status st = index_vs_model(ctx, m, &ix, w.index);
    for (size_t s = 0; s < ix.nshards && st == MB_OK; s++) st = load_shard(ctx, m, &ix, &w, s);
    mb_hf_index_free(&ix);
    return st;
}

mb_status mb_hf_check(mb_ctx *ctx, const char *path) {
    where w;
    MB_TRY(locate(ctx, path, &w));
    if (w.single[0]) return mb_file_check_regular(ctx, w.single, "checkpoint", 0);
    mb_hf_index ix;
    MB_TRY(read_index(ctx, w.index, &ix));
    mb_status st = MB_OK;
    for (size_t s = 0; s < ix.nshards && st == MB_OK; s++) {
        char shard[MB_FILE_PATH_MAX];
        st = join(ctx, shard, w.dir, ix.shards[s]);
        if (st == MB_OK) st = mb_file_check_regular(ctx, shard, "checkpoint shard", 0);
    }
    mb_hf_index_free(&ix);
    return st;
}
