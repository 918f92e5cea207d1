/* engine/mem.h — the tagged allocator: every device byte of a run, by category, with peaks per phase.
 * A cap makes an allocation fail with MB_ENOMEM (never exit()); a test hook fails the N-th allocation. */
#ifndef MB_MEM_H
#define MB_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct mb_ctx;

typedef enum mb_mem_cat {
    MB_MEM_WEIGHTS,
    MB_MEM_GRADS,
    MB_MEM_OPTIMIZER,
    MB_MEM_ACTIVATIONS,
    MB_MEM_KV_CACHE,
    MB_MEM_WORKSPACE,
    MB_MEM_COMM,
    MB_MEM_OTHER,
    MB_MEM_NCAT
} mb_mem_cat;

typedef enum mb_phase {
    MB_PHASE_LOAD,
    MB_PHASE_FORWARD,
    MB_PHASE_BACKWARD,
    MB_PHASE_OPTIMIZER,
    MB_PHASE_EVAL,
    MB_PHASE_PREFILL,
    MB_PHASE_DECODE,
    MB_PHASE_N
} mb_phase;

/* One allocation. The caller keeps it and hands it back to mb_free, so the tracker needs no
 * pointer->size table (device pointers cannot carry a header). */
typedef struct mb_buf {
    void *ptr;
    size_t bytes;
    mb_mem_cat cat;
    const char *tag; /* static string naming what the bytes hold ("h.3.attn.c_attn.weight" etc.) */
} mb_buf;

typedef struct mb_mem {
    size_t cur[MB_MEM_NCAT];     /* bytes held now, per category */
    size_t peak[MB_MEM_NCAT];    /* highest value of cur[c] on its own */
    size_t cur_total, peak_total;
    size_t at_peak[MB_MEM_NCAT]; /* cur[] at the moment peak_total was last raised */
    size_t phase_peak[MB_PHASE_N]; /* highest cur_total seen while in each phase */
    mb_phase phase;
    size_t cap;      /* 0: no cap. Otherwise cur_total + baseline must stay <= cap */
    size_t baseline; /* bytes the runtime holds outside the tracker (CUDA context, handles) */
    uint64_t n_allocs; /* allocation calls so far (nonzero sizes); the index used by fail_at */
    uint64_t fail_at;  /* test hook: the n-th allocation (1-based) fails with MB_ENOMEM; 0 = off */
    size_t live;       /* buffers not yet freed */
} mb_mem;

void mb_mem_init(mb_mem *m);
/* Allocates `bytes` on the context's device, counted under `cat`. On failure *out is zeroed and the
 * context's error names the category, the tag and the sizes. bytes == 0 gives ptr == NULL, MB_OK. */
mb_status mb_alloc(struct mb_ctx *ctx, mb_buf *out, size_t bytes, mb_mem_cat cat, const char *tag);
/* Frees and zeroes `b`; a zeroed (never allocated or already freed) buffer is a no-op. */
void mb_free(struct mb_ctx *ctx, mb_buf *b);

/* Sets the phase that later allocations count toward; the phase's peak starts at the current total. */
void mb_mem_set_phase(mb_mem *m, mb_phase p);
/* Forgets peaks (per category, total, per phase): they restart at the current values. */
void mb_mem_reset_peaks(mb_mem *m);

const char *mb_mem_cat_name(mb_mem_cat c); /* "weights", "grads", ... (CSV column suffixes) */
const char *mb_phase_name(mb_phase p);     /* "load", "forward", ... */

#endif
