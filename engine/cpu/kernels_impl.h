/* engine/cpu/kernels_impl.h — the CPU GPT kernels, written once and compiled for two element types.
 * Included by backend_cpu.c with REAL (float | double) and SFX(name) defined. Every reduction runs
 * in a fixed order whatever the thread count, so results are bit-identical run to run. */

#include "real.h" /* SFX(dot), MB_PAR_MIN_WORK */

static void SFX(encoder_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, const int32_t *tok,
                             const void *wte_, const void *wpe_, int B, int T, int C) {
    REAL *out = out_;
    const REAL *wte = wte_, *wpe = wpe_;
#pragma omp parallel for if ((size_t)B * T * C >= MB_PAR_MIN_WORK)
    for (int bt = 0; bt < B * T; bt++) {
        int t = bt % T;
        const REAL *we = wte + (size_t)tok[bt] * C;
        REAL *o = out + (size_t)bt * C;
        if (wpe) {
            const REAL *pe = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = we[c] + pe[c];
        } else {
            for (int c = 0; c < C; c++) o[c] = we[c];
        }
    }
}

static void SFX(encoder_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dwte_, void *dwpe_,
                             const void *dout_, const int32_t *tok, int B, int T, int C) {
    REAL *dwte = dwte_, *dwpe = dwpe_;
    const REAL *dout = dout_;
    /* Channels are split across threads so repeated tokens never race; order per entry is bt. */
#pragma omp parallel for if ((size_t)B * T * C >= MB_PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        for (int bt = 0; bt < B * T; bt++) {
            REAL d = dout[(size_t)bt * C + c];
            if (dwte) dwte[(size_t)tok[bt] * C + c] += d;
            if (dwpe) dwpe[(size_t)(bt % T) * C + c] += d;
        }
    }
}

static void SFX(layernorm_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, void *mean_, void *rstd_,
                               const void *inp_, const void *w_, const void *b_, int N, int C) {
    REAL *out = out_, *mean = mean_, *rstd = rstd_;
    const REAL *inp = inp_, *w = w_, *b = b_;
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
    for (int n = 0; n < N; n++) {
        const REAL *x = inp + (size_t)n * C;
        REAL m = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        REAL v = 0;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        REAL s = (REAL)1 / SFX(sqrt)(v + (REAL)1e-5);
        REAL *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

static void SFX(layernorm_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dinp_, void *dw_, void *db_,
                               const void *dout_, const void *inp_, const void *w_,
                               const void *mean_, const void *rstd_, int N, int C) {
    REAL *dinp = dinp_, *dw = dw_, *db = db_;
    const REAL *dout = dout_, *inp = inp_, *w = w_, *mean = mean_, *rstd = rstd_;
    if (dinp) {
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
        for (int n = 0; n < N; n++) {
            const REAL *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
            REAL m = mean[n], s = rstd[n];
            REAL dnorm_mean = 0, dnorm_norm_mean = 0;
            for (int c = 0; c < C; c++) {
                REAL dnorm = w[c] * d[c];
                dnorm_mean += dnorm;
                dnorm_norm_mean += dnorm * (x[c] - m) * s;
            }
            dnorm_mean /= C;
            dnorm_norm_mean /= C;
            REAL *di = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                REAL norm = (x[c] - m) * s;
                di[c] += (w[c] * d[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for if ((size_t)N * C >= MB_PAR_MIN_WORK)
        for (int c = 0; c < C; c++) {
            REAL gw = 0, gb = 0;
            for (int n = 0; n < N; n++) {
                REAL d = dout[(size_t)n * C + c];
                gw += (inp[(size_t)n * C + c] - mean[n]) * rstd[n] * d;
                gb += d;
            }
            if (dw) dw[c] += gw;
            if (db) db[c] += gb;
        }
    }
}

static void SFX(matmul_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, const void *inp_,
                            const void *w_, const void *b_, int N, int C, int OC, int ldo) {
    REAL *out = out_;
    const REAL *inp = inp_, *w = w_, *b = b_;
#pragma omp parallel for collapse(2) if ((size_t)N * C * OC >= MB_PAR_MIN_WORK)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            REAL r = SFX(dot)(inp + (size_t)n * C, w + (size_t)o * C, C);
            out[(size_t)n * ldo + o] = b ? r + b[o] : r;
        }
    }
}

static void SFX(matmul_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dinp_, void *dw_, void *db_,
                            const void *dout_, const void *inp_, const void *w_, int N, int C,
                            int OC, int ldo) {
    REAL *dinp = dinp_, *dw = dw_, *db = db_;
    const REAL *dout = dout_, *inp = inp_, *w = w_;
    if (dinp) {
#pragma omp parallel for if ((size_t)N * C * OC >= MB_PAR_MIN_WORK)
        for (int n = 0; n < N; n++) {
            REAL *di = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) di[c] = 0;
            for (int o = 0; o < OC; o++) {
                REAL d = dout[(size_t)n * ldo + o];
                const REAL *wr = w + (size_t)o * C;
                for (int c = 0; c < C; c++) di[c] += d * wr[c];
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for if ((size_t)N * C * OC >= MB_PAR_MIN_WORK)
        for (int o = 0; o < OC; o++) {
            REAL gb = 0;
            REAL *dwr = dw ? dw + (size_t)o * C : NULL;
            for (int n = 0; n < N; n++) {
                REAL d = dout[(size_t)n * ldo + o];
                gb += d;
                if (dwr) {
                    const REAL *x = inp + (size_t)n * C;
                    for (int c = 0; c < C; c++) dwr[c] += d * x[c];
                }
            }
            if (db) db[o] += gb;
        }
    }
}

/* Grouped-query attention: qkv rows are (NH + 2*KV)*hs wide, query head h reads kv head h / G,
 * G = NH / KV. With KV == NH every offset and operation is multi-head attention's over q|k|v. */
static void SFX(attention_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, void *att_,
                               const void *qkv_, int B, int T, int C, int NH, int KV) {
    REAL *out = out_, *att = att_;
    const REAL *qkv = qkv_;
    const int hs = C / NH, G = NH / KV, CK = KV * hs, CQ = C + 2 * CK;
    REAL scale = (REAL)1 / SFX(sqrt)((REAL)hs);
#pragma omp parallel for collapse(3) if ((size_t)B * NH * T * T * (C / NH) >= MB_PAR_MIN_WORK)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const int kh = h / G;
                const REAL *q = qkv + ((size_t)b * T + t) * CQ + h * hs;
                REAL *a = att + (((size_t)b * NH + h) * T + t) * T;
                REAL mx = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const REAL *k = qkv + ((size_t)b * T + t2) * CQ + C + kh * hs;
                    a[t2] = SFX(dot)(q, k, hs) * scale;
                    if (a[t2] > mx) mx = a[t2];
                }
                REAL sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    a[t2] = SFX(exp)(a[t2] - mx);
                    sum += a[t2];
                }
                REAL inv = (REAL)1 / sum;
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0;
                REAL *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const REAL *v = qkv + ((size_t)b * T + t2) * CQ + C + CK + kh * hs;
                    for (int i = 0; i < hs; i++) o[i] += a[t2] * v[i];
                }
            }
        }
    }
}

static void SFX(attention_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dqkv_, void *scratch_,
                               const void *dout_, const void *qkv_, void *att_, int B, int T, int C,
                               int NH, int KV) {
    REAL *dqkv = dqkv_, *scratch = scratch_;
    const REAL *dout = dout_, *qkv = qkv_, *att = att_;
    const int hs = C / NH, G = NH / KV, CK = KV * hs, CQ = C + 2 * CK;
    REAL scale = (REAL)1 / SFX(sqrt)((REAL)hs);
    /* One (b, kv head) pair per task: every write lands in that pair's own columns of dqkv (its
     * kv head's and its G query heads'); the query heads add into dk and dv in order h = kh*G .. */
#pragma omp parallel for collapse(2) if ((size_t)B * NH * T * T * (C / NH) >= MB_PAR_MIN_WORK)
    for (int b = 0; b < B; b++) {
        for (int kh = 0; kh < KV; kh++) {
            for (int t = 0; t < T; t++) {
                REAL *dk = dqkv + ((size_t)b * T + t) * CQ + C + kh * hs, *dv = dk + CK;
                for (int i = 0; i < hs; i++) dk[i] = dv[i] = 0;
                for (int h = kh * G; h < (kh + 1) * G; h++) {
                    REAL *dq = dqkv + ((size_t)b * T + t) * CQ + h * hs;
                    for (int i = 0; i < hs; i++) dq[i] = 0;
                }
            }
            for (int h = kh * G; h < (kh + 1) * G; h++) {
                REAL *datt = scratch + ((size_t)b * NH + h) * T;
                for (int t = 0; t < T; t++) {
                    const REAL *a = att + (((size_t)b * NH + h) * T + t) * T;
                    const REAL *d = dout + ((size_t)b * T + t) * C + h * hs;
                    const REAL *q = qkv + ((size_t)b * T + t) * CQ + h * hs;
                    REAL *dq = dqkv + ((size_t)b * T + t) * CQ + h * hs;
                    /* out = sum att * v  =>  dv += att * dout, datt = v . dout */
                    REAL rowdot = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        const size_t kv = ((size_t)b * T + t2) * CQ + C + CK + kh * hs;
                        const REAL *v = qkv + kv;
                        REAL *dv = dqkv + kv;
                        for (int i = 0; i < hs; i++) dv[i] += a[t2] * d[i];
                        datt[t2] = SFX(dot)(v, d, hs);
                        rowdot += a[t2] * datt[t2];
                    }
                    /* softmax backward, then the scaled q.k product */
                    for (int t2 = 0; t2 <= t; t2++) {
                        REAL dpre = a[t2] * (datt[t2] - rowdot) * scale;
                        const size_t kk = ((size_t)b * T + t2) * CQ + C + kh * hs;
                        const REAL *k = qkv + kk;
                        REAL *dk = dqkv + kk;
                        for (int i = 0; i < hs; i++) {
                            dq[i] += dpre * k[i];
                            dk[i] += dpre * q[i];
                        }
                    }
                }
            }
        }
    }
}

#define SFX_GELU_K ((REAL)0.7978845608028654) /* sqrt(2/pi) */

static void SFX(gelu_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, const void *inp_, size_t n) {
    REAL *out = out_;
    const REAL *x = inp_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        REAL u = SFX_GELU_K * (x[i] + (REAL)0.044715 * x[i] * x[i] * x[i]);
        out[i] = (REAL)0.5 * x[i] * ((REAL)1 + SFX(tanh)(u));
    }
}

static void SFX(gelu_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dinp_, const void *inp_,
                          const void *dout_, size_t n) {
    REAL *dinp = dinp_;
    const REAL *x = inp_, *dout = dout_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        REAL u = SFX_GELU_K * (x[i] + (REAL)0.044715 * x[i] * x[i] * x[i]);
        REAL th = SFX(tanh)(u);
        REAL sech2 = (REAL)1 - th * th;
        REAL du = SFX_GELU_K * ((REAL)1 + (REAL)3 * (REAL)0.044715 * x[i] * x[i]);
        REAL g = (REAL)0.5 * ((REAL)1 + th) + (REAL)0.5 * x[i] * sech2 * du;
        dinp[i] = g * dout[i];
    }
}
#undef SFX_GELU_K

static void SFX(residual_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, const void *a_,
                              const void *b_, size_t n) {
    REAL *out = out_;
    const REAL *a = a_, *b = b_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void SFX(crossentropy_fwd)(struct mb_ctx *ctx MB_UNUSED, void *losses_, void *logits_,
                                  const int32_t *targets, int N, int V, int ld) {
    REAL *losses = losses_, *logits = logits_;
#pragma omp parallel for if ((size_t)N * V >= MB_PAR_MIN_WORK)
    for (int n = 0; n < N; n++) {
        REAL *l = logits + (size_t)n * ld;
        REAL mx = -INFINITY;
        for (int v = 0; v < V; v++)
            if (l[v] > mx) mx = l[v];
        REAL sum = 0;
        for (int v = 0; v < V; v++) sum += SFX(exp)(l[v] - mx);
        REAL lse = mx + SFX(log)(sum);
        int tg = targets ? targets[n] : -1;
        losses[n] = tg >= 0 ? lse - l[tg] : 0;
        for (int v = 0; v < V; v++) l[v] = SFX(exp)(l[v] - lse);
    }
}

static void SFX(crossentropy_bwd)(struct mb_ctx *ctx MB_UNUSED, void *probs_,
                                  const int32_t *targets, int N, int V, int ld, double scale) {
    REAL *probs = probs_;
    REAL s = (REAL)scale;
#pragma omp parallel for if ((size_t)N * V >= MB_PAR_MIN_WORK)
    for (int n = 0; n < N; n++) {
        REAL *p = probs + (size_t)n * ld;
        int tg = targets[n];
        if (tg < 0) {
            for (int v = 0; v < V; v++) p[v] = 0;
            continue;
        }
        for (int v = 0; v < V; v++) p[v] = (p[v] - (v == tg ? (REAL)1 : (REAL)0)) * s;
    }
}

/* The CPU reference of the fused loss is the two passes in turn. */
static void SFX(crossentropy_fused)(struct mb_ctx *ctx, void *losses, void *logits,
                                    const int32_t *targets, int N, int V, int ld, double scale) {
    SFX(crossentropy_fwd)(ctx, losses, logits, targets, N, V, ld);
    SFX(crossentropy_bwd)(ctx, logits, targets, N, V, ld, scale);
}

/* Mixed precision is a GPU mode: on the CPU dtype == sdtype, so widening is a copy. */
static void SFX(widen)(struct mb_ctx *ctx MB_UNUSED, void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n * sizeof(REAL));
}
