/* engine/cpu/kernels_fused.h — the fused slots on the CPU, as the unfused sequences they stand for
 * (the same bits as calling them one after another): the engine's fused paths run in CPU tests. */

static void SFX(matmul_fwd_res)(struct mb_ctx *ctx, void *out, const void *inp, const void *w,
                                const void *b, const void *res, int N, int C, int OC) {
    SFX(matmul_fwd)(ctx, out, inp, w, b, N, C, OC, OC);
    SFX(residual_fwd)(ctx, out, out, res, (size_t)N * OC);
}

static void SFX(matmul_fwd_gelu)(struct mb_ctx *ctx, void *out, void *pre, const void *inp,
                                 const void *w, const void *b, int N, int C, int OC) {
    SFX(matmul_fwd)(ctx, pre, inp, w, b, N, C, OC, OC);
    SFX(gelu_fwd)(ctx, out, pre, (size_t)N * OC);
}

static void SFX(matmul_bwd_dgelu)(struct mb_ctx *ctx, void *dinp, void *dw, void *db,
                                  const void *dout, const void *inp, const void *w, const void *pre,
                                  int N, int C, int OC) {
    SFX(matmul_bwd)(ctx, dinp, dw, db, dout, inp, w, N, C, OC, OC);
    SFX(gelu_bwd)(ctx, dinp, pre, dinp, (size_t)N * C);
}

static void SFX(adamw_many)(struct mb_ctx *ctx, const mb_adamw_tensor *t, int n, double lr,
                            double beta1, double beta2, double eps, double wd) {
    for (int i = 0; i < n; i++) SFX(adamw)
    (ctx, t[i].p, t[i].g, t[i].m, t[i].v, t[i].master, t[i].n, lr, beta1, beta2, eps, wd, t[i].bc1,
     t[i].bc2);
}
