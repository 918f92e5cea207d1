/* tests/fuzz/fuzz_safetensors.c — fuzz target for the safetensors loader (mb_st_open, mb_st_find,
 * mb_st_read, mb_st_meta_get) and, for what it accepts, the writer: any bytes must open or fail
 * with a message, never crash or leak; an opened file must be what the loader promises (tensors in
 * offset order, inside the data, of the size their shape says, no two sharing a byte or a name)
 * and must write back and read back the same. */
#include <stdlib.h>

#include "../../engine/safetensors.h"
#include "fuzz_scratch.h"

static void check_open(mb_ctx *ctx, const mb_st_file *f, unsigned char **bytes) {
    uint64_t far = 0;
    for (size_t i = 0; i < f->n; i++) {
        const mb_st_tensor *t = &f->t[i];
        size_t es = mb_st_dtype_size(t->dtype);
        if (!es || t->end < t->begin || t->end > f->data_size || t->end - t->begin != t->numel * es)
            abort();
        if (i && t->begin < f->t[i - 1].begin) abort();
        if (t->end > t->begin && t->begin < far) abort(); /* overlap */
        if (t->end > far) far = t->end;
        if (mb_st_find(f, t->name) != t) abort();
        size_t nb = (size_t)(t->end - t->begin);
        bytes[i] = malloc(nb ? nb : 1);
        if (!bytes[i] || mb_st_read(ctx, f, t, bytes[i], nb) != MB_OK) abort();
    }
    for (size_t i = 0; i < f->n_meta; i++)
        if (!mb_st_meta_get(f, f->meta[i].key)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[128], again[128];
    fz_path(path, sizeof path, "in.safetensors");
    fz_path(again, sizeof again, "again.safetensors");
    if (fz_write(path, data, n)) return 0;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_st_file f;
    if (mb_st_open(&ctx, path, &f) != MB_OK) {
        if (!ctx.err[0]) abort();
        mb_ctx_fini(&ctx);
        return 0;
    }
    unsigned char **bytes = calloc(f.n + 1, sizeof *bytes);
    mb_st_entry *e = calloc(f.n + 1, sizeof *e);
    if (!bytes || !e) abort();
    check_open(&ctx, &f, bytes);
    /* What was read writes back (in offset order, without the metadata) and reads back equal. */
    for (size_t i = 0; i < f.n; i++) {
        const mb_st_tensor *t = &f.t[i];
        e[i] = (mb_st_entry){.name = t->name,
                             .dtype = t->dtype,
                             .ndim = t->ndim,
                             .data = bytes[i],
                             .bytes = (size_t)(t->end - t->begin)};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    if (mb_st_write(&ctx, again, e, f.n, NULL) != MB_OK) abort();
    mb_st_file g;
    if (mb_st_open(&ctx, again, &g) != MB_OK || g.n != f.n) abort();
    for (size_t i = 0; i < f.n; i++) {
        const mb_st_tensor *t = mb_st_find(&g, f.t[i].name);
        size_t nb = (size_t)(f.t[i].end - f.t[i].begin);
        unsigned char *b = malloc(nb ? nb : 1);
        if (!t || !b || strcmp(t->dtype, f.t[i].dtype) || t->ndim != f.t[i].ndim ||
            memcmp(t->shape, f.t[i].shape, sizeof t->shape) || t->end - t->begin != nb ||
            mb_st_read(&ctx, &g, t, b, nb) != MB_OK || (nb && memcmp(b, bytes[i], nb)))
            abort();
        free(b);
    }
    mb_st_close(&g);
    for (size_t i = 0; i < f.n; i++) free(bytes[i]);
    free(bytes);
    free(e);
    mb_st_close(&f);
    mb_ctx_fini(&ctx);
    return 0;
}
