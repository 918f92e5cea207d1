/* engine/models/model_io.c — a model's weights to and from safetensors under Hugging Face names.
 * Linear weights are [out, in] here; a family whose checkpoints store them [in, out] (GPT-2's
 * Conv1D: hf_conv1d) has them transposed on save and load. A tensor loads straight into the
 * backend's element type (mb_st_convert), one tensor's bytes at a time on the host. */
#include <stdlib.h>
#include <string.h>

#include "../safetensors.h"
#include "hf.h"

/* The tensor's shape as the Hugging Face checkpoint stores it. */
static void hf_shape(const mb_model *m, const mb_param *p, int64_t shape[2]) {
    if (p->is_linear && m->fam->hf_conv1d) {
        shape[0] = (int64_t)p->shape[1];
        shape[1] = (int64_t)p->shape[0];
    } else {
        shape[0] = (int64_t)p->shape[0];
        shape[1] = (int64_t)p->shape[1];
    }
}

static void transpose(double *dst, const double *src, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

mb_status mb_model_save(mb_ctx *ctx, const mb_model *m, const char *path) {
    int f64 = ctx->be->dtype == MB_F64;
    size_t es = f64 ? 8 : 4;
    mb_st_entry *e = calloc((size_t)m->nbase, sizeof *e);
    void **data = calloc((size_t)m->nbase, sizeof *data);
    double *h = NULL, *t = NULL;
    size_t maxn = 0;
    for (int i = 0; i < m->nbase; i++)
        if (m->params[i].numel > maxn) maxn = m->params[i].numel;
    mb_status s = MB_OK;
    if (e && data) {
        h = malloc(maxn * sizeof *h);
        t = malloc(maxn * sizeof *t);
    }
    if (!e || !data || !h || !t) s = mb_error(ctx, MB_ENOMEM, "host staging for saving %s", path);
    for (int i = 0; i < m->nbase && s == MB_OK; i++) {
        const mb_param *p = &m->params[i];
        s = mb_model_param_get(ctx, &p->w, p->numel, h);
        if (s != MB_OK) break;
        const double *src = h;
        if (p->is_linear && m->fam->hf_conv1d) {
            transpose(t, h, p->shape[0], p->shape[1]);
            src = t;
        }
        data[i] = malloc(p->numel * es);
        if (!data[i]) {
            s = mb_error(ctx, MB_ENOMEM, "host staging for saving %s", path);
            break;
        }
        for (size_t j = 0; j < p->numel; j++) {
            if (f64)
                ((double *)data[i])[j] = src[j];
            else
                ((float *)data[i])[j] = (float)src[j];
        }
        e[i].name = p->name;
        e[i].dtype = f64 ? "F64" : "F32";
        e[i].ndim = p->ndim;
        hf_shape(m, p, e[i].shape);
        e[i].data = data[i];
        e[i].bytes = p->numel * es;
    }
    if (s == MB_OK) {
        char meta[256];
        snprintf(meta, sizeof meta,
                 "{\"format\":\"pt\",\"membench.arch\":\"%s\",\"membench.layers\":\"%d\","
                 "\"membench.d_model\":\"%d\",\"membench.heads\":\"%d\",\"membench.seq_len\":"
                 "\"%d\",\"membench.vocab\":\"%d\"}",
                 m->fam->name, m->cfg.layers, m->cfg.d_model, m->cfg.heads, m->cfg.seq_len,
                 m->cfg.vocab);
        s = mb_st_write(ctx, path, e, (size_t)m->nbase, meta);
    }
    if (data)
        for (int i = 0; i < m->nbase; i++) free(data[i]);
    free(data);
    free(e);
    free(h);
    free(t);
    return s;
}

/* The tensor of a parameter name, with the family's optional prefix. */
static const mb_st_tensor *find_tensor(const mb_model *m, const mb_st_file *f, const char *name) {
    const mb_st_tensor *t = mb_st_find(f, name);
    if (!t && m->fam->hf_prefix) {
        char pre[128];
        snprintf(pre, sizeof pre, "%s%s", m->fam->hf_prefix, name);
        t = mb_st_find(f, pre);
    }
    return t;
}

static int prefixed(const mb_model *m, const char *name) {
    const char *pre = m->fam->hf_prefix;
    return pre && !strncmp(name, pre, strlen(pre));
}

mb_param *mb_hf_param_of(const mb_model *m, const char *name) {
    if (prefixed(m, name)) name += strlen(m->fam->hf_prefix);
    for (int i = 0; i < m->nbase; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

int mb_hf_ignorable(const mb_model *m, const char *name) {
    return m->fam->hf_ignorable && m->fam->hf_ignorable(m, name);
}

/* Element i of a [rows, cols] matrix of es-byte elements to its place in the transpose. */
static void transpose_bytes(unsigned char *dst, const unsigned char *src, size_t rows, size_t cols,
                            size_t es) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            memcpy(dst + (c * rows + r) * es, src + (r * cols + c) * es, es);
}

mb_status mb_hf_load_tensor(mb_ctx *ctx, mb_param *p, const mb_model *m, const mb_st_file *f,
                            const mb_st_tensor *st) {
    int64_t want[2];
    hf_shape(m, p, want);
    int ok =
        st->ndim == p->ndim && st->shape[0] == want[0] && (p->ndim == 1 || st->shape[1] == want[1]);
    if (!ok) {
        char got[96] = "", exp[64];
        size_t used = 0;
        for (int d = 0; d < st->ndim && used < sizeof got; d++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", d ? ", " : "",
                                     (long long)st->shape[d]);
        if (p->ndim == 1)
            snprintf(exp, sizeof exp, "%lld", (long long)want[0]);
        else
            snprintf(exp, sizeof exp, "%lld, %lld", (long long)want[0], (long long)want[1]);
        return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", f->path,
                        st->name, got, exp);
    }
    const mb_dtype dt = ctx->be->dtype;
    const size_t es = mb_dtype_size(dt), bytes = st->end - st->begin;
    const int conv1d = p->is_linear && m->fam->hf_conv1d;
    unsigned char *raw = malloc(bytes ? bytes : 1), *val = malloc(p->numel * es + 1),
                  *tr = conv1d ? malloc(p->numel * es + 1) : NULL;
    mb_status s =
        raw && val && (tr || !conv1d)
            ? MB_OK
            : mb_error(ctx, MB_ENOMEM, "%s: host staging for tensor '%s'", f->path, st->name);
    if (s == MB_OK) s = mb_st_read(ctx, f, st, raw, bytes);
    if (s == MB_OK && !mb_st_convert(dt, val, st->dtype, raw, p->numel))
        s = mb_error(ctx, MB_EFORMAT,
                     "%s: tensor '%s' has dtype %s; F32, F64, F16 or BF16 expected", f->path,
                     st->name, st->dtype);
    if (s == MB_OK && conv1d) transpose_bytes(tr, val, p->shape[1], p->shape[0], es);
    if (s == MB_OK) s = ctx->be->to_device(ctx, p->w.ptr, conv1d ? tr : val, p->numel * es);
    free(raw);
    free(val);
    free(tr);
    return s;
}

static mb_status load_tensors(mb_ctx *ctx, mb_model *m, const mb_st_file *f, const char *path) {
    for (size_t i = 0; i < f->n; i++)
        if (!mb_hf_param_of(m, f->t[i].name) && !mb_hf_ignorable(m, f->t[i].name))
            return mb_error(ctx, MB_EFORMAT,
                            "%s: unexpected tensor '%s' (not a parameter of this "
                            "%s shape)",
                            path, f->t[i].name, m->fam->title);
    for (int i = 0; i < m->nbase; i++) {
        mb_param *p = &m->params[i];
        const mb_st_tensor *st = find_tensor(m, f, p->name);
        if (!st && p->role == MB_ROLE_SCORE)
            continue; /* a language model's checkpoint under a
                       * classifier: the head keeps its init */
        if (!st) return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s' is missing", path, p->name);
        MB_TRY(mb_hf_load_tensor(ctx, p, m, f, st));
    }
    return MB_OK;
}

mb_status mb_model_load(mb_ctx *ctx, mb_model *m, const char *path) {
    mb_st_file f;
    MB_TRY(mb_st_open(ctx, path, &f));
    mb_status s = load_tensors(ctx, m, &f, path);
    mb_st_close(&f);
    return s;
}
