/* tests/test_llama_kernels.c — the CPU LLaMA kernels (RMSNorm, RoPE, SwiGLU, grouped-query
 * attention, the encoder without position embedding): cpu-f64 against formulas written here and
 * central finite differences, cpu-f32 against cpu-f64 on the same inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/ctx.h"
#include "../engine/rng.h"
#include "check.h"

#define EPS 1e-6      /* RMSNorm's epsilon (LLaMA's rms_norm_eps) */
#define THETA 10000.0 /* RoPE base */
#define FD_H 1e-3     /* finite-difference step (4-point central stencil, error O(h^4)) */
#define FD_TOL 1e-7   /* backward vs finite differences, every entry */
#define FD_FLOOR 1e-4 /* relative error's denominator: max(|analytic|, |fd|, FD_FLOOR) */
#define F64_TOL 1e-14 /* fp64 forward vs the formulas here, relative to the largest magnitude */
#define F32_TOL 1e-5  /* cpu-f32 vs cpu-f64, relative to the largest magnitude */

static uint32_t g_stream = 1;

static double *randn(size_t n, double std) {
    double *h = malloc((n ? n : 1) * sizeof *h);
    MB_ASSERT(h);
    mb_rng_fill_normal(h, n, 1234, g_stream++, 0, 0.0, std);
    return h;
}
static double *copyv(const double *a, size_t n) {
    double *h = malloc((n ? n : 1) * sizeof *h);
    MB_ASSERT(h);
    memcpy(h, a, n * sizeof *h);
    return h;
}
static double *nans(size_t n) {
    double *h = malloc((n ? n : 1) * sizeof *h);
    MB_ASSERT(h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    return h;
}
static double dotv(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
/* max |a - b| / max |b| */
static double maxrel(const double *a, const double *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), m = fmax(m, fabs(b[i]));
    return d / fmax(m, 1e-300);
}
/* Rounds to fp32 in place: inputs that both backends hold exactly. */
static void to_f32(double *h, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    MB_ASSERT(f);
    mb_dtype_from_f64(MB_F32, f, h, n);
    mb_dtype_to_f64(MB_F32, h, f, n);
    free(f);
}

/* Host doubles to the backend's dtype (a CPU table's buffers are host memory) and back. */
static void *up(mb_ctx *ctx, const double *h, size_t n) {
    void *p = malloc((n ? n : 1) * mb_dtype_size(ctx->be->dtype));
    MB_ASSERT(p);
    mb_dtype_from_f64(ctx->be->dtype, p, h, n);
    return p;
}
static void *fresh(mb_ctx *ctx, size_t n) { /* NaN-filled: every output entry must be written */
    double *h = nans(n);
    void *p = up(ctx, h, n);
    free(h);
    return p;
}
static void down(mb_ctx *ctx, double *h, void *p, size_t n) {
    mb_dtype_to_f64(ctx->be->dtype, h, p, n);
    free(p);
}

/* ---- kernel runners: doubles in, doubles out, on ctx's backend ---- */

static void rms_fwd(mb_ctx *ctx, const double *x, const double *w, int N, int C, double *out,
                    double *rstd) {
    size_t n = (size_t)N * C;
    void *px = up(ctx, x, n), *pw = up(ctx, w, C), *po = fresh(ctx, n), *pr = fresh(ctx, N);
    ctx->be->rmsnorm_fwd(ctx, po, pr, px, pw, N, C, EPS);
    down(ctx, out, po, n), down(ctx, rstd, pr, N), free(px), free(pw);
}
/* dinp and dw accumulate into what they hold */
static void rms_bwd(mb_ctx *ctx, const double *x, const double *w, const double *dout, int N, int C,
                    double *dinp, double *dw) {
    size_t n = (size_t)N * C;
    void *px = up(ctx, x, n), *pw = up(ctx, w, C), *pd = up(ctx, dout, n), *po = fresh(ctx, n),
         *pr = fresh(ctx, N), *pdi = up(ctx, dinp, n), *pdw = up(ctx, dw, C);
    ctx->be->rmsnorm_fwd(ctx, po, pr, px, pw, N, C, EPS);
    ctx->be->rmsnorm_bwd(ctx, pdi, pdw, pd, px, pw, pr, N, C);
    down(ctx, dinp, pdi, n), down(ctx, dw, pdw, C);
    free(px), free(pw), free(pd), free(po), free(pr);
}
/* x[B, T, ld] in place; the heads start at column off */
static void rope_run(mb_ctx *ctx, double *x, int B, int T, int ld, int off, int H, int hs,
                     int inverse) {
    size_t n = (size_t)B * T * ld, es = mb_dtype_size(ctx->be->dtype);
    void *p = up(ctx, x, n);
    ctx->be->rope(ctx, (char *)p + (size_t)off * es, B, T, H, hs, ld, THETA, inverse);
    down(ctx, x, p, n);
}
static void swiglu_fwd(mb_ctx *ctx, const double *g, const double *u, size_t n, double *out) {
    void *pg = up(ctx, g, n), *pu = up(ctx, u, n), *po = fresh(ctx, n);
    ctx->be->swiglu_fwd(ctx, po, pg, pu, n);
    down(ctx, out, po, n), free(pg), free(pu);
}
static void swiglu_bwd(mb_ctx *ctx, const double *g, const double *u, const double *dout, size_t n,
                       double *dg, double *du) {
    void *pg = up(ctx, g, n), *pu = up(ctx, u, n), *pd = up(ctx, dout, n), *pdg = fresh(ctx, n),
         *pdu = fresh(ctx, n);
    ctx->be->swiglu_bwd(ctx, pdg, pdu, pd, pg, pu, n);
    down(ctx, dg, pdg, n), down(ctx, du, pdu, n), free(pg), free(pu), free(pd);
}

typedef struct att_dims {
    int B, T, NH, KV, hs;
} att_dims;
static size_t att_nqkv(const att_dims *d) {
    return (size_t)d->B * d->T * (d->NH + 2 * d->KV) * d->hs;
}
static size_t att_nout(const att_dims *d) {
    return (size_t)d->B * d->T * d->NH * d->hs;
}
static size_t att_natt(const att_dims *d) {
    return (size_t)d->B * d->NH * d->T * d->T;
}

static void att_fwd(mb_ctx *ctx, const att_dims *d, const double *qkv, double *out, double *att) {
    void *pq = up(ctx, qkv, att_nqkv(d)), *po = fresh(ctx, att_nout(d)),
         *pa = fresh(ctx, att_natt(d));
    ctx->be->attention_fwd(ctx, po, pa, pq, d->B, d->T, d->NH * d->hs, d->NH, d->KV);
    down(ctx, out, po, att_nout(d)), free(pq);
    if (att)
        down(ctx, att, pa, att_natt(d));
    else
        free(pa);
}
static void att_bwd(mb_ctx *ctx, const att_dims *d, const double *qkv, const double *dout,
                    double *dqkv) {
    void *pq = up(ctx, qkv, att_nqkv(d)), *po = fresh(ctx, att_nout(d)),
         *pa = fresh(ctx, att_natt(d)), *pd = up(ctx, dout, att_nout(d)),
         *pdq = fresh(ctx, att_nqkv(d)), *ps = fresh(ctx, (size_t)d->B * d->NH * d->T);
    const int C = d->NH * d->hs;
    ctx->be->attention_fwd(ctx, po, pa, pq, d->B, d->T, C, d->NH, d->KV);
    ctx->be->attention_bwd(ctx, pdq, ps, pd, pq, pa, d->B, d->T, C, d->NH, d->KV);
    down(ctx, dqkv, pdq, att_nqkv(d));
    free(pq), free(po), free(pa), free(pd), free(ps);
}

/* ---- finite differences: the loss sum(dout * fwd(x)) as a function of x[i] ---- */

typedef double (*loss_fn)(void *st);

/* Compares grad[n] with the 4-point central differences of L over x[n] (L reads x); x is restored.
 * Returns the largest relative error and counts entries over FD_TOL as failures. */
static double fd_check(const char *what, double *x, size_t n, loss_fn L, void *st,
                       const double *grad) {
    double worst = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], l[4];
        const double o[4] = {2 * FD_H, FD_H, -FD_H, -2 * FD_H};
        for (int k = 0; k < 4; k++) x[i] = x0 + o[k], l[k] = L(st);
        x[i] = x0;
        double fd = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12 * FD_H);
        double e = fabs(grad[i] - fd) / fmax(fmax(fabs(grad[i]), fabs(fd)), FD_FLOOR);
        if (!(e < FD_TOL) && bad++ < 5)
            fprintf(stderr, "%s[%zu]: analytic %.17g, finite differences %.17g\n", what, i, grad[i],
                    fd);
        worst = fmax(worst, isnan(e) ? INFINITY : e);
    }
    CHECK(bad == 0, "%s: %d of %zu entries off finite differences by more than %g", what, bad, n,
          FD_TOL);
    return worst;
}

/* ---- RMSNorm ---- */

typedef struct rms_st {
    mb_ctx *ctx;
    int N, C;
    double *x, *w, *dout;
} rms_st;
static double rms_loss(void *s_) {
    rms_st *s = s_;
    size_t n = (size_t)s->N * s->C;
    double *out = nans(n), *rstd = nans(s->N);
    rms_fwd(s->ctx, s->x, s->w, s->N, s->C, out, rstd);
    double l = dotv(s->dout, out, n);
    free(out), free(rstd);
    return l;
}

static int check_rmsnorm(mb_ctx *c64, mb_ctx *c32) {
    const int N = 6, C = 8;
    const size_t n = (size_t)N * C;
    double *x = randn(n, 1.5), *w = randn(C, 1.0), *dout = randn(n, 1.0);
    for (int c = 0; c < C; c++) w[c] += 1.0;
    double *out = nans(n), *rstd = nans(N);
    rms_fwd(c64, x, w, N, C, out, rstd);
    /* the formula */
    double *want = nans(n), *wr = nans(N);
    for (int r = 0; r < N; r++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += x[r * C + c] * x[r * C + c];
        wr[r] = 1.0 / sqrt(ss / C + EPS);
        for (int c = 0; c < C; c++) want[r * C + c] = x[r * C + c] * wr[r] * w[c];
    }
    double eo = maxrel(out, want, n), er = maxrel(rstd, wr, N);
    CHECK(eo <= F64_TOL && er <= F64_TOL, "rmsnorm_fwd: out %.3g, rstd %.3g from the formula", eo,
          er);
    /* backward: += onto nonzero starting values */
    double *d0 = randn(n, 1.0), *w0 = randn(C, 1.0);
    double *dinp = copyv(d0, n), *dw = copyv(w0, C);
    rms_bwd(c64, x, w, dout, N, C, dinp, dw);
    for (size_t i = 0; i < n; i++) dinp[i] -= d0[i];
    for (int c = 0; c < C; c++) dw[c] -= w0[c];
    rms_st st = {c64, N, C, x, w, dout};
    double ex = fd_check("rmsnorm dinp", x, n, rms_loss, &st, dinp);
    double ew = fd_check("rmsnorm dw", w, C, rms_loss, &st, dw);
    /* NULL dinp: dw alone, the same values */
    {
        void *px = up(c64, x, n), *pw = up(c64, w, C), *pd = up(c64, dout, n), *po = fresh(c64, n),
             *pr = fresh(c64, N), *pdw = up(c64, w0, C);
        double *dw2 = nans(C);
        c64->be->rmsnorm_fwd(c64, po, pr, px, pw, N, C, EPS);
        c64->be->rmsnorm_bwd(c64, NULL, pdw, pd, px, pw, pr, N, C);
        down(c64, dw2, pdw, C);
        for (int c = 0; c < C; c++) dw2[c] -= w0[c];
        CHECK(memcmp(dw2, dw, C * sizeof *dw) == 0, "rmsnorm_bwd: dw differs with dinp NULL");
        free(px), free(pw), free(pd), free(po), free(pr), free(dw2);
    }
    /* cpu-f32 against cpu-f64 on fp32-exact inputs */
    to_f32(x, n), to_f32(w, C), to_f32(dout, n), to_f32(d0, n), to_f32(w0, C);
    double *o32 = nans(n), *r32 = nans(N), *g32 = copyv(d0, n), *gw32 = copyv(w0, C);
    double *o64 = nans(n), *r64 = nans(N), *g64 = copyv(d0, n), *gw64 = copyv(w0, C);
    rms_fwd(c32, x, w, N, C, o32, r32), rms_fwd(c64, x, w, N, C, o64, r64);
    rms_bwd(c32, x, w, dout, N, C, g32, gw32), rms_bwd(c64, x, w, dout, N, C, g64, gw64);
    double f[4] = {maxrel(o32, o64, n), maxrel(r32, r64, N), maxrel(g32, g64, n),
                   maxrel(gw32, gw64, C)};
    CHECK(f[0] <= F32_TOL && f[1] <= F32_TOL && f[2] <= F32_TOL && f[3] <= F32_TOL,
          "rmsnorm f32 vs f64: out %.3g rstd %.3g dinp %.3g dw %.3g", f[0], f[1], f[2], f[3]);
    printf("rmsnorm N=%d C=%d: fwd %.2e rstd %.2e (tol %.0e); fd dinp %.2e dw %.2e (tol %.0e); "
           "f32 out %.2e rstd %.2e dinp %.2e dw %.2e (tol %.0e)\n",
           N, C, eo, er, F64_TOL, ex, ew, FD_TOL, f[0], f[1], f[2], f[3], F32_TOL);
    free(x), free(w), free(dout), free(out), free(rstd), free(want), free(wr), free(d0), free(w0);
    free(dinp), free(dw), free(o32), free(r32), free(g32), free(gw32), free(o64), free(r64);
    free(g64), free(gw64);
    return 0;
}

/* ---- RoPE: x[B, T, ld] with the H heads at columns OFF .. OFF + H*hs, the rest untouched ---- */

typedef struct rope_st {
    mb_ctx *ctx;
    int B, T, ld, off, H, hs;
    double *x, *dout;
} rope_st;
static double rope_loss(void *s_) {
    rope_st *s = s_;
    size_t n = (size_t)s->B * s->T * s->ld;
    double *y = copyv(s->x, n);
    rope_run(s->ctx, y, s->B, s->T, s->ld, s->off, s->H, s->hs, 0);
    double l = dotv(s->dout, y, n);
    free(y);
    return l;
}

static int check_rope(mb_ctx *c64, mb_ctx *c32) {
    const int B = 2, T = 5, H = 2, hs = 8, off = 3, ld = off + H * hs + 5, half = hs / 2;
    const size_t n = (size_t)B * T * ld;
    double *x = randn(n, 1.0), *dout = randn(n, 1.0);
    double *y = copyv(x, n), *want = copyv(x, n);
    rope_run(c64, y, B, T, ld, off, H, hs, 0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < half; i++) {
                    size_t j = ((size_t)b * T + t) * ld + off + h * hs + i;
                    double a = t * pow(THETA, -2.0 * i / hs), x1 = x[j], x2 = x[j + half];
                    want[j] = x1 * cos(a) - x2 * sin(a);
                    want[j + half] = x2 * cos(a) + x1 * sin(a);
                }
    double ef = maxrel(y, want, n);
    CHECK(ef <= F64_TOL, "rope: %.3g from the formula", ef);
    /* columns outside the heads, and position 0, are left bit for bit */
    int moved = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < ld; c++) {
                size_t j = ((size_t)b * T + t) * ld + c;
                if ((t == 0 || c < off || c >= off + H * hs) &&
                    memcmp(&y[j], &x[j], sizeof *y) != 0)
                    moved++;
            }
    CHECK(moved == 0, "rope: %d entries at position 0 or outside the heads changed", moved);
    /* the inverse undoes it */
    double *z = copyv(y, n);
    rope_run(c64, z, B, T, ld, off, H, hs, 1);
    double ei = 0;
    for (size_t i = 0; i < n; i++) ei = fmax(ei, fabs(z[i] - x[i]));
    CHECK(ei <= 1e-14, "rope then inverse rope: %.3g from x", ei);
    /* backward = the inverse rotation of dout (the transpose) against finite differences */
    double *g = copyv(dout, n);
    rope_run(c64, g, B, T, ld, off, H, hs, 1);
    rope_st st = {c64, B, T, ld, off, H, hs, x, dout};
    double eg = fd_check("rope dx", x, n, rope_loss, &st, g);
    /* cpu-f32 */
    to_f32(x, n), to_f32(dout, n);
    double *y32 = copyv(x, n), *y64 = copyv(x, n), *b32 = copyv(dout, n), *b64 = copyv(dout, n);
    rope_run(c32, y32, B, T, ld, off, H, hs, 0), rope_run(c64, y64, B, T, ld, off, H, hs, 0);
    rope_run(c32, b32, B, T, ld, off, H, hs, 1), rope_run(c64, b64, B, T, ld, off, H, hs, 1);
    double f0 = maxrel(y32, y64, n), f1 = maxrel(b32, b64, n);
    CHECK(f0 <= F32_TOL && f1 <= F32_TOL, "rope f32 vs f64: fwd %.3g, inverse %.3g", f0, f1);
    printf("rope B=%d T=%d H=%d hs=%d ld=%d: fwd %.2e (tol %.0e); round trip %.2e (tol 1e-14); "
           "fd %.2e (tol %.0e); f32 fwd %.2e inverse %.2e (tol %.0e)\n",
           B, T, H, hs, ld, ef, F64_TOL, ei, eg, FD_TOL, f0, f1, F32_TOL);
    free(x), free(dout), free(y), free(want), free(z), free(g), free(y32), free(y64), free(b32);
    free(b64);
    return 0;
}

/* ---- SwiGLU ---- */

typedef struct swi_st {
    mb_ctx *ctx;
    size_t n;
    double *g, *u, *dout;
} swi_st;
static double swi_loss(void *s_) {
    swi_st *s = s_;
    double *out = nans(s->n);
    swiglu_fwd(s->ctx, s->g, s->u, s->n, out);
    double l = dotv(s->dout, out, s->n);
    free(out);
    return l;
}

static int check_swiglu(mb_ctx *c64, mb_ctx *c32) {
    const size_t n = 48;
    double *g = randn(n, 2.0), *u = randn(n, 1.0), *dout = randn(n, 1.0);
    double *out = nans(n), *want = nans(n);
    swiglu_fwd(c64, g, u, n, out);
    for (size_t i = 0; i < n; i++) want[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
    double ef = maxrel(out, want, n);
    CHECK(ef <= F64_TOL, "swiglu_fwd: %.3g from the formula", ef);
    double *dg = nans(n), *du = nans(n);
    swiglu_bwd(c64, g, u, dout, n, dg, du);
    swi_st st = {c64, n, g, u, dout};
    double eg = fd_check("swiglu dgate", g, n, swi_loss, &st, dg);
    double eu = fd_check("swiglu dup", u, n, swi_loss, &st, du);
    to_f32(g, n), to_f32(u, n), to_f32(dout, n);
    double *o32 = nans(n), *o64 = nans(n), *g32 = nans(n), *g64 = nans(n), *u32 = nans(n),
           *u64 = nans(n);
    swiglu_fwd(c32, g, u, n, o32), swiglu_fwd(c64, g, u, n, o64);
    swiglu_bwd(c32, g, u, dout, n, g32, u32), swiglu_bwd(c64, g, u, dout, n, g64, u64);
    double f[3] = {maxrel(o32, o64, n), maxrel(g32, g64, n), maxrel(u32, u64, n)};
    CHECK(f[0] <= F32_TOL && f[1] <= F32_TOL && f[2] <= F32_TOL,
          "swiglu f32 vs f64: out %.3g dgate %.3g dup %.3g", f[0], f[1], f[2]);
    printf("swiglu n=%zu: fwd %.2e (tol %.0e); fd dgate %.2e dup %.2e (tol %.0e); f32 out %.2e "
           "dgate %.2e dup %.2e (tol %.0e)\n",
           n, ef, F64_TOL, eg, eu, FD_TOL, f[0], f[1], f[2], F32_TOL);
    free(g), free(u), free(dout), free(out), free(want), free(dg), free(du), free(o32), free(o64);
    free(g32), free(g64), free(u32), free(u64);
    return 0;
}

/* ---- grouped-query attention ---- */

/* The naive loop: every query head against its kv head h / (NH/KV), in fp64. */
static void naive_att(const att_dims *d, const double *qkv, double *out, double *att) {
    const int T = d->T, NH = d->NH, hs = d->hs, G = NH / d->KV, C = NH * hs;
    const int W = (NH + 2 * d->KV) * hs;
    for (int b = 0; b < d->B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * W + h * hs;
                double *p = att + (((size_t)b * NH + h) * T + t) * T, mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) p[j] = 0;
                for (int j = 0; j <= t; j++) {
                    const double *k = qkv + ((size_t)b * T + j) * W + C + (h / G) * hs;
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    p[j] = s / sqrt((double)hs);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) p[j] = exp(p[j] - mx), sum += p[j];
                for (int j = 0; j <= t; j++) p[j] /= sum;
                double *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++)
                        a += p[j] * qkv[((size_t)b * T + j) * W + C + (d->KV + h / G) * hs + i];
                    o[i] = a;
                }
            }
}

typedef struct att_st {
    mb_ctx *ctx;
    const att_dims *d;
    double *qkv, *dout;
} att_st;
static double att_loss(void *s_) {
    att_st *s = s_;
    double *out = nans(att_nout(s->d));
    att_fwd(s->ctx, s->d, s->qkv, out, NULL);
    double l = dotv(s->dout, out, att_nout(s->d));
    free(out);
    return l;
}

/* qkv with KV kv heads widened to NH (each kv head repeated for its query heads): the multi-head
 * path's input for the same attention. */
static double *expand_kv(const att_dims *d, const double *qkv) {
    const int NH = d->NH, KV = d->KV, hs = d->hs, G = NH / KV, C = NH * hs;
    const int W = (NH + 2 * KV) * hs;
    double *e = nans((size_t)d->B * d->T * 3 * C);
    for (size_t r = 0; r < (size_t)d->B * d->T; r++) {
        memcpy(e + r * 3 * C, qkv + r * W, C * sizeof *e);
        for (int h = 0; h < NH; h++) {
            memcpy(e + r * 3 * C + C + h * hs, qkv + r * W + C + (h / G) * hs, hs * sizeof *e);
            memcpy(e + r * 3 * C + 2 * C + h * hs, qkv + r * W + C + (KV + h / G) * hs,
                   hs * sizeof *e);
        }
    }
    return e;
}

static int check_attention(mb_ctx *c64, mb_ctx *c32, int KV) {
    const att_dims d = {2, 7, 4, KV, 4}, de = {2, 7, 4, 4, 4};
    const size_t nq = att_nqkv(&d), no = att_nout(&d), na = att_natt(&d);
    const int NH = d.NH, hs = d.hs, G = NH / KV, C = NH * hs, W = (NH + 2 * KV) * hs;
    double *qkv = randn(nq, 1.0), *dout = randn(no, 1.0);
    double *out = nans(no), *att = nans(na), *wo = nans(no), *wa = nans(na);
    att_fwd(c64, &d, qkv, out, att);
    naive_att(&d, qkv, wo, wa);
    double eo = maxrel(out, wo, no), ea = maxrel(att, wa, na);
    CHECK(eo <= F64_TOL && ea <= F64_TOL, "attention KV=%d: out %.3g, att %.3g from the naive loop",
          KV, eo, ea);
    double *dq = nans(nq);
    att_bwd(c64, &d, qkv, dout, dq);
    att_st st = {c64, &d, qkv, dout};
    char what[64];
    snprintf(what, sizeof what, "attention KV=%d dqkv", KV);
    double eg = fd_check(what, qkv, nq, att_loss, &st, dq);
    /* the multi-head path (KV == NH) on the kv heads repeated: the same forward bit for bit, the
     * same dq bit for bit, and dk, dv of a kv head the sums over its query heads */
    double *qe = expand_kv(&d, qkv), *oe = nans(no), *ae = nans(na), *ge = nans(att_nqkv(&de));
    att_fwd(c64, &de, qe, oe, ae);
    att_bwd(c64, &de, qe, dout, ge);
    CHECK(memcmp(oe, out, no * sizeof *out) == 0 && memcmp(ae, att, na * sizeof *att) == 0,
          "attention KV=%d: forward differs from multi-head attention on repeated kv heads", KV);
    double *gs = nans(nq);
    for (size_t r = 0; r < (size_t)d.B * d.T; r++) {
        memcpy(gs + r * W, ge + r * 3 * C, C * sizeof *gs);
        for (int kh = 0; kh < 2 * KV; kh++)
            for (int i = 0; i < hs; i++) {
                double s = 0;
                for (int h = (kh % KV) * G; h < (kh % KV + 1) * G; h++)
                    s += ge[r * 3 * C + C + (kh / KV) * C + h * hs + i];
                gs[r * W + C + kh * hs + i] = s;
            }
    }
    int qbits = 0;
    for (size_t r = 0; r < (size_t)d.B * d.T; r++)
        qbits += memcmp(gs + r * W, dq + r * W, C * sizeof *dq) != 0;
    double em = maxrel(dq, gs, nq);
    CHECK(qbits == 0 && em <= F64_TOL,
          "attention KV=%d: dq differs in %d rows, dqkv %.3g from multi-head attention's", KV,
          qbits, em);
    /* cpu-f32 */
    to_f32(qkv, nq), to_f32(dout, no);
    double *o32 = nans(no), *a32 = nans(na), *g32 = nans(nq), *o64 = nans(no), *a64 = nans(na),
           *g64 = nans(nq);
    att_fwd(c32, &d, qkv, o32, a32), att_fwd(c64, &d, qkv, o64, a64);
    att_bwd(c32, &d, qkv, dout, g32), att_bwd(c64, &d, qkv, dout, g64);
    double f[3] = {maxrel(o32, o64, no), maxrel(a32, a64, na), maxrel(g32, g64, nq)};
    CHECK(f[0] <= F32_TOL && f[1] <= F32_TOL && f[2] <= F32_TOL,
          "attention KV=%d f32 vs f64: out %.3g att %.3g dqkv %.3g", KV, f[0], f[1], f[2]);
    printf("attention B=%d T=%d NH=%d KV=%d hs=%d: fwd out %.2e att %.2e (tol %.0e); fd %.2e (tol "
           "%.0e); vs multi-head on repeated kv: fwd and dq bit for bit, dqkv %.2e; f32 out %.2e "
           "att %.2e dqkv %.2e (tol %.0e)\n",
           d.B, d.T, NH, KV, hs, eo, ea, F64_TOL, eg, FD_TOL, em, f[0], f[1], f[2], F32_TOL);
    free(qkv), free(dout), free(out), free(att), free(wo), free(wa), free(dq), free(qe), free(oe);
    free(ae), free(ge), free(gs), free(o32), free(a32), free(g32), free(o64), free(a64), free(g64);
    return 0;
}

/* ---- encoder without position embedding ---- */

static int check_encoder(mb_ctx *ctx) {
    const int B = 2, T = 3, C = 8, V = 5;
    const int32_t tok[6] = {4, 0, 4, 2, 1, 3};
    double *wte = randn((size_t)V * C, 1.0), *wpe = randn((size_t)T * C, 1.0);
    to_f32(wte, (size_t)V * C), to_f32(wpe, (size_t)T * C);
    const size_t n = (size_t)B * T * C;
    void *pte = up(ctx, wte, (size_t)V * C), *ppe = up(ctx, wpe, (size_t)T * C),
         *p1 = fresh(ctx, n), *p2 = fresh(ctx, n);
    ctx->be->encoder_fwd(ctx, p1, tok, pte, NULL, B, T, C);
    ctx->be->encoder_fwd(ctx, p2, tok, pte, ppe, B, T, C);
    double *o1 = nans(n), *o2 = nans(n), *w1 = nans(n), *w2 = nans(n);
    down(ctx, o1, p1, n), down(ctx, o2, p2, n), free(pte), free(ppe);
    for (int bt = 0; bt < B * T; bt++)
        for (int c = 0; c < C; c++) {
            w1[bt * C + c] = wte[tok[bt] * C + c];
            /* fp32 inputs: the fp64 sum rounded to dtype is the dtype's own sum */
            w2[bt * C + c] = wte[tok[bt] * C + c] + wpe[(bt % T) * C + c];
        }
    if (ctx->be->dtype == MB_F32) to_f32(w2, n);
    CHECK(memcmp(o1, w1, n * sizeof *o1) == 0, "%s encoder_fwd, wpe NULL: not wte's rows",
          ctx->be->name);
    CHECK(memcmp(o2, w2, n * sizeof *o2) == 0, "%s encoder_fwd: not wte + wpe", ctx->be->name);
    printf("%s encoder_fwd B=%d T=%d C=%d: wpe NULL = wte rows, wpe = wte + wpe, bit for bit\n",
           ctx->be->name, B, T, C);
    free(wte), free(wpe), free(o1), free(o2), free(w1), free(w2);
    return 0;
}

int main(void) {
    mb_ctx c64, c32;
    CHECK_OK(&c64, mb_ctx_init(&c64, &mb_backend_cpu_f64));
    CHECK_OK(&c32, mb_ctx_init(&c32, &mb_backend_cpu_f32));
    if (check_rmsnorm(&c64, &c32) || check_rope(&c64, &c32) || check_swiglu(&c64, &c32) ||
        check_attention(&c64, &c32, 2) || check_attention(&c64, &c32, 1) ||
        check_attention(&c64, &c32, 4) || check_encoder(&c64) || check_encoder(&c32))
        return 1;
    mb_ctx_fini(&c64);
    mb_ctx_fini(&c32);
    CHECK_DONE();
}
