/* engine/fused.c — the unfused sequences the backends' fused slots stand for, through the context's
 * own table: the CPU tables fill the slots with them (so the engine's fused paths run in CPU tests,
 * with the bits of the sequence) and the CUDA slots fall back to them. */
#include "ctx.h"

void mb_seq_matmul_fwd_res(mb_ctx *ctx, void *out, const void *inp, const void *w, const void *b,
                           const void *res, int N, int C, int OC) {
    ctx->be->matmul_fwd(ctx, out, inp, w, b, N, C, OC, OC);
    ctx->be->residual_fwd(ctx, out, out, res, (size_t)N * OC);
}

void mb_seq_matmul_fwd_gelu(mb_ctx *ctx, void *out, void *pre, const void *inp, const void *w,
                            const void *b, int N, int C, int OC) {
    ctx->be->matmul_fwd(ctx, pre, inp, w, b, N, C, OC, OC);
    ctx->be->gelu_fwd(ctx, out, pre, (size_t)N * OC);
}

void mb_seq_matmul_bwd_dgelu(mb_ctx *ctx, void *dinp, void *dw, void *db, const void *dout,
                             const void *inp, const void *w, const void *pre, int N, int C,
                             int OC) {
    ctx->be->matmul_bwd(ctx, dinp, dw, db, dout, inp, w, N, C, OC, OC);
    ctx->be->gelu_bwd(ctx, dinp, pre, dinp, (size_t)N * C);
}
