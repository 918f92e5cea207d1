/* engine/ctx.c — context set-up and error messages. */
#include "ctx.h"

#include <stdarg.h>
#include <string.h>

mb_status mb_ctx_init(mb_ctx *ctx, const mb_backend *be) {
    return mb_ctx_init_on(ctx, be, 0);
}

mb_status mb_ctx_init_on(mb_ctx *ctx, const mb_backend *be, int device) {
    memset(ctx, 0, sizeof *ctx);
    ctx->be = be;
    ctx->device = device;
    mb_mem_init(&ctx->mem);
    if (be->init) return be->init(ctx);
    return MB_OK;
}

void mb_ctx_fini(mb_ctx *ctx) {
    if (ctx->be && ctx->be->fini) ctx->be->fini(ctx);
    ctx->dev = NULL;
}

mb_status mb_error(mb_ctx *ctx, mb_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return s;
}

mb_status mb_error_prefix(mb_ctx *ctx, mb_status s, const char *fmt, ...) {
    char old[MB_ERRMSG_MAX];
    memcpy(old, ctx->err, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof ctx->err ? (size_t)n : sizeof ctx->err - 1;
    if (!strncmp(old, ctx->err, used) && !strncmp(old + used, ": ", 2)) {
        memcpy(ctx->err, old, sizeof old); /* already said by its author: not twice */
        return s;
    }
    size_t room = sizeof ctx->err - used;
    if (room > 2) {
        memcpy(ctx->err + used, ": ", 2);
        size_t len = strnlen(old, sizeof old);
        if (len > room - 3) len = room - 3;
        memcpy(ctx->err + used + 2, old, len);
        ctx->err[used + 2 + len] = 0;
    }
    return s;
}
