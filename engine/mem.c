/* engine/mem.c — tagged allocator bookkeeping; the raw allocation is the backend's. */
#include "mem.h"

#include <string.h>

#include "ctx.h"

static const char *const cat_names[MB_MEM_NCAT] = {
    "weights", "grads", "optimizer", "activations", "kv_cache", "workspace", "comm", "other",
};
static const char *const phase_names[MB_PHASE_N] = {
    "load", "forward", "backward", "optimizer", "eval", "prefill", "decode",
};

const char *mb_mem_cat_name(mb_mem_cat c) { return (unsigned)c < MB_MEM_NCAT ? cat_names[c] : "?"; }
const char *mb_phase_name(mb_phase p) { return (unsigned)p < MB_PHASE_N ? phase_names[p] : "?"; }

void mb_mem_init(mb_mem *m) { memset(m, 0, sizeof *m); }

void mb_mem_set_phase(mb_mem *m, mb_phase p) {
    MB_ASSERT((unsigned)p < MB_PHASE_N);
    m->phase = p;
    if (m->cur_total > m->phase_peak[p]) m->phase_peak[p] = m->cur_total;
}

void mb_mem_reset_peaks(mb_mem *m) {
    for (int c = 0; c < MB_MEM_NCAT; c++) m->peak[c] = m->at_peak[c] = m->cur[c];
    m->peak_total = m->cur_total;
    for (int p = 0; p < MB_PHASE_N; p++) m->phase_peak[p] = 0;
    m->phase_peak[m->phase] = m->cur_total;
}

mb_status mb_alloc(mb_ctx *ctx, mb_buf *out, size_t bytes, mb_mem_cat cat, const char *tag) {
    mb_mem *m = &ctx->mem;
    MB_ASSERT((unsigned)cat < MB_MEM_NCAT);
    memset(out, 0, sizeof *out);
    if (bytes == 0) return MB_OK;
    m->n_allocs++;
    if (m->fail_at && m->n_allocs == m->fail_at)
        return mb_error(ctx, MB_ENOMEM,
                        "out of memory: injected failure at allocation #%llu (%zu bytes, %s '%s')",
                        (unsigned long long)m->n_allocs, bytes, mb_mem_cat_name(cat), tag);
    if (m->cap && (bytes > m->cap || m->cur_total + m->baseline > m->cap - bytes))
        return mb_error(ctx, MB_ENOMEM,
                        "out of memory: %s '%s' needs %zu bytes; tracked %zu + runtime baseline "
                        "%zu would exceed the cap of %zu bytes",
                        mb_mem_cat_name(cat), tag, bytes, m->cur_total, m->baseline, m->cap);
    void *p = NULL;
    mb_status s = ctx->be->alloc(ctx, bytes, &p);
    if (s != MB_OK)
        return mb_error_prefix(ctx, s, "allocating %zu bytes for %s '%s'", bytes,
                               mb_mem_cat_name(cat), tag);
    out->ptr = p;
    out->bytes = bytes;
    out->cat = cat;
    out->tag = tag;
    m->live++;
    m->cur[cat] += bytes;
    m->cur_total += bytes;
    if (m->cur[cat] > m->peak[cat]) m->peak[cat] = m->cur[cat];
    if (m->cur_total > m->peak_total) {
        m->peak_total = m->cur_total;
        memcpy(m->at_peak, m->cur, sizeof m->at_peak);
    }
    if (m->cur_total > m->phase_peak[m->phase]) m->phase_peak[m->phase] = m->cur_total;
    return MB_OK;
}

void mb_free(mb_ctx *ctx, mb_buf *b) {
    if (!b->ptr) return;
    mb_mem *m = &ctx->mem;
    MB_ASSERT(m->cur[b->cat] >= b->bytes && m->live > 0);
    ctx->be->free(ctx, b->ptr);
    m->cur[b->cat] -= b->bytes;
    m->cur_total -= b->bytes;
    m->live--;
    memset(b, 0, sizeof *b);
}
