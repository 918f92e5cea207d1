/* engine/cpu/kernels_llama.h — the CPU LLaMA kernels (RMSNorm, RoPE, SwiGLU), compiled per REAL. */

static void SFX(rmsnorm_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, void *rstd_,
                             const void *inp_, const void *w_, int N, int C, double eps) {
    REAL *out = out_, *rstd = rstd_;
    const REAL *inp = inp_, *w = w_;
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
    for (int n = 0; n < N; n++) {
        const REAL *x = inp + (size_t)n * C;
        REAL v = 0;
        for (int c = 0; c < C; c++) v += x[c] * x[c];
        v /= C;
        REAL s = (REAL)1 / SFX(sqrt)(v + (REAL)eps);
        REAL *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = x[c] * s * w[c];
        rstd[n] = s;
    }
}

/* y = x s w with s = (mean(x^2) + eps)^-1/2: dx = s (w dy - xs mean(w dy xs)), dw = sum xs dy */
static void SFX(rmsnorm_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dinp_, void *dw_,
                             const void *dout_, const void *inp_, const void *w_, const void *rstd_,
                             int N, int C) {
    REAL *dinp = dinp_, *dw = dw_;
    const REAL *dout = dout_, *inp = inp_, *w = w_, *rstd = rstd_;
    if (dinp) {
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
        for (int n = 0; n < N; n++) {
            const REAL *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
            REAL s = rstd[n], dnorm_norm_mean = 0;
            for (int c = 0; c < C; c++) dnorm_norm_mean += w[c] * d[c] * (x[c] * s);
            dnorm_norm_mean /= C;
            REAL *di = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) di[c] += (w[c] * d[c] - x[c] * s * dnorm_norm_mean) * s;
        }
    }
    if (dw) {
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
        for (int c = 0; c < C; c++) {
            REAL gw = 0;
            for (int n = 0; n < N; n++)
                gw += inp[(size_t)n * C + c] * rstd[n] * dout[(size_t)n * C + c];
            dw[c] += gw;
        }
    }
}

/* One position per task: its hs/2 angles once, then every (b, head) row of that position. */
static void SFX(rope)(struct mb_ctx *ctx MB_UNUSED, void *x_, int B, int T, int H, int hs, int ld,
                      double theta, int inverse) {
    REAL *x = x_;
    const int half = hs / 2;
#pragma omp parallel for if ((size_t)B * T * H * hs >= MB_PAR_MIN_WORK)
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < half; i++) {
            double a = (double)t / pow(theta, (double)(2 * i) / hs);
            REAL c = (REAL)cos(a), s = (REAL)(inverse ? -sin(a) : sin(a));
            for (int b = 0; b < B; b++) {
                REAL *row = x + ((size_t)b * T + t) * (size_t)ld;
                for (int h = 0; h < H; h++) {
                    REAL *p = row + (size_t)h * hs;
                    REAL x1 = p[i], x2 = p[i + half];
                    p[i] = x1 * c - x2 * s;
                    p[i + half] = x2 * c + x1 * s;
                }
            }
        }
    }
}

static void SFX(swiglu_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, const void *gate_,
                            const void *up_, size_t n) {
    REAL *out = out_;
    const REAL *g = gate_, *u = up_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) out[i] = g[i] / ((REAL)1 + SFX(exp)(-g[i])) * u[i];
}

/* silu'(g) = sig (1 + g (1 - sig)), sig = 1 / (1 + exp(-g)) */
static void SFX(swiglu_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dgate_, void *dup_,
                            const void *dout_, const void *gate_, const void *up_, size_t n) {
    REAL *dgate = dgate_, *dup = dup_;
    const REAL *d = dout_, *g = gate_, *u = up_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        REAL e = (REAL)1 + SFX(exp)(-g[i]), sig = (REAL)1 / e;
        REAL dg = sig * ((REAL)1 + g[i] * ((REAL)1 - sig));
        REAL gi = g[i], ui = u[i], di = d[i];
        dgate[i] = di * ui * dg;
        dup[i] = di * (gi / e);
    }
}
