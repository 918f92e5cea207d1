/* engine/ctx.h — the engine context passed to every call: backend, memory tracker, last error.
 * No globals: everything a run holds hangs off one of these. */
#ifndef MB_CTX_H
#define MB_CTX_H

#include "backend.h"
#include "mem.h"
#include "status.h"

#define MB_ERRMSG_MAX 1024

typedef struct mb_ctx {
    const mb_backend *be; /* kernels and raw allocation of the device this context runs on */
    void *dev;            /* backend state (streams, handles); NULL on the CPU */
    int device;           /* device index the backend opens (CUDA), 0 by default */
    mb_mem mem;           /* every byte the run holds on its device is counted here */
    char err[MB_ERRMSG_MAX];
} mb_ctx;

/* Sets up a context on backend `be` (no allocation on the CPU backend). */
mb_status mb_ctx_init(mb_ctx *ctx, const mb_backend *be);
/* The same on device `device` of the backend (CUDA device index). */
mb_status mb_ctx_init_on(mb_ctx *ctx, const mb_backend *be, int device);
void mb_ctx_fini(mb_ctx *ctx);

/* Records a formatted message as the context's last error and returns `s` (for `return mb_error(...)`). */
mb_status mb_error(mb_ctx *ctx, mb_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the current message with more context: "loading x: <old message>". */
mb_status mb_error_prefix(mb_ctx *ctx, mb_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define MB_TRY(expr)                                                                               \
    do {                                                                                           \
        mb_status mb_try_s_ = (expr);                                                              \
        if (mb_try_s_ != MB_OK) return mb_try_s_;                                                  \
    } while (0)

#endif
