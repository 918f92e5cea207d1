/* engine/models/model_io.c — a model's weights to and from safetensors under Hugging Face names.
 * Linear weights are [out, in] here; a family whose checkpoints store them [in, out] (GPT-2's
 * Conv1D: hf_conv1d) has them transposed on save and load. */
#include <stdlib.h>
#include <string.h>

#include "../safetensors.h"
#include "model.h"

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

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | (man << 13);
    else if (exp)
        bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man)
        bits = sign;
    else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Converts `n` elements of a file dtype to double. */
static int to_double(const char *dtype, const void *src, double *dst, size_t n) {
    if (!strcmp(dtype, "F32")) {
        const float *p = src;
        for (size_t i = 0; i < n; i++) dst[i] = p[i];
    } else if (!strcmp(dtype, "F64")) {
        memcpy(dst, src, n * 8);
    } else if (!strcmp(dtype, "BF16")) {
        const uint16_t *p = src;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)p[i] << 16;
            float f;
            memcpy(&f, &bits, 4);
            dst[i] = f;
        }
    } else if (!strcmp(dtype, "F16")) {
        const uint16_t *p = src;
        for (size_t i = 0; i < n; i++) dst[i] = half_to_float(p[i]);
    } else {
        return 0;
    }
    return 1;
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

static int ignorable(const mb_model *m, const char *name) {
    return m->fam->hf_ignorable && m->fam->hf_ignorable(m, name);
}

static int is_param_name(const mb_model *m, const char *name) {
    const char *pre = m->fam->hf_prefix;
    if (pre && !strncmp(name, pre, strlen(pre))) name += strlen(pre);
    for (int i = 0; i < m->nbase; i++)
        if (!strcmp(m->params[i].name, name)) return 1;
    return 0;
}

static mb_status load_tensors(mb_ctx *ctx, mb_model *m, const mb_st_file *f, const char *path,
                              double *h, double *t, void *raw) {
    for (size_t i = 0; i < f->n; i++)
        if (!is_param_name(m, f->t[i].name) && !ignorable(m, f->t[i].name))
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
        int64_t want[2];
        hf_shape(m, p, want);
        int ok = st->ndim == p->ndim && st->shape[0] == want[0] &&
                 (p->ndim == 1 || st->shape[1] == want[1]);
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
            return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", path,
                            p->name, got, exp);
        }
        MB_TRY(mb_st_read(ctx, f, st, raw, st->end - st->begin));
        if (!to_double(st->dtype, raw, p->is_linear && m->fam->hf_conv1d ? t : h, p->numel))
            return mb_error(ctx, MB_EFORMAT,
                            "%s: tensor '%s' has dtype %s; F32, F64, F16 or BF16 "
                            "expected",
                            path, p->name, st->dtype);
        if (p->is_linear && m->fam->hf_conv1d) transpose(h, t, p->shape[1], p->shape[0]);
        MB_TRY(mb_model_param_set(ctx, &p->w, p->numel, h));
    }
    return MB_OK;
}

mb_status mb_model_load(mb_ctx *ctx, mb_model *m, const char *path) {
    mb_st_file f;
    MB_TRY(mb_st_open(ctx, path, &f));
    size_t maxn = 0;
    for (int i = 0; i < m->nbase; i++)
        if (m->params[i].numel > maxn) maxn = m->params[i].numel;
    double *h = malloc(maxn * sizeof *h), *t = malloc(maxn * sizeof *t);
    void *raw = malloc(maxn * 8);
    mb_status s = (h && t && raw) ? load_tensors(ctx, m, &f, path, h, t, raw)
                                  : mb_error(ctx, MB_ENOMEM, "host staging for loading %s", path);
    free(h);
    free(t);
    free(raw);
    mb_st_close(&f);
    return s;
}
