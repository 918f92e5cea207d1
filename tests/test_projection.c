/* tests/test_projection.c — svd_top against an eigendecomposition of the Gram matrix; galore,
 * apollo and apollo-mini for 5 steps on every gpt-nano tensor against fp64 references written here,
 * on the fp64 CPU (error < 1e-10) and the fp32 CPU (< 2e-6); predicted = measured optimizer bytes.
 */
#include <stdlib.h>

#include "../engine/rng.h"
#include "../methods/galore/galore_kernels.h"
#include "check.h"
#include "opt_fixture.h"
#include "planted.h"

extern const mb_method mb_method_galore, mb_method_apollo, mb_method_apollo_mini;

/* LAPACK's symmetric eigensolver (ascending eigenvalues, eigenvectors in the columns). */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t ljobz, size_t luplo);

#define STEPS 5
#define APOLLO_STREAM 0xA9011000u /* the stream apollo.c documents for its projections */

typedef struct ref_cfg {
    int kind; /* 0 galore, 1 apollo, 2 apollo-mini */
    double lr, b1, b2, eps, wd;
    int rank, gap;
    double scale;
    int front, limiter;
    int f32; /* set by run: the backend keeps state in fp32 (apollo's drawn projection rounded) */
} ref_cfg;

static int projected(mb_role r) {
    return r == MB_ROLE_ATTN_QKV || r == MB_ROLE_ATTN_OUT || r == MB_ROLE_MLP_UP ||
           r == MB_ROLE_MLP_DOWN;
}

/* The top r eigenvectors of G^T G (right: P[r,n], rows) or G G^T (left: P[m,r], columns): G's top
 * singular vectors. Each is signed so that its largest-magnitude entry is positive. */
static void top_vectors(const double *g, int m, int n, int r, int right, double *P) {
    int k = right ? n : m, lw = -1, info = 0;
    double *a = malloc((size_t)k * k * sizeof *a), *w = malloc((size_t)k * sizeof *w), q;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double acc = 0;
            if (right)
                for (int x = 0; x < m; x++) acc += g[(size_t)x * n + i] * g[(size_t)x * n + j];
            else
                for (int y = 0; y < n; y++) acc += g[(size_t)i * n + y] * g[(size_t)j * n + y];
            a[(size_t)i * k + j] = acc;
        }
    dsyev_("V", "U", &k, a, &k, w, &q, &lw, &info, 1, 1);
    lw = (int)q;
    double *work = malloc((size_t)lw * sizeof *work);
    dsyev_("V", "U", &k, a, &k, w, work, &lw, &info, 1, 1);
    MB_ASSERT(info == 0);
    for (int j = 0; j < r; j++) {
        const double *vec = a + (size_t)(k - 1 - j) * k; /* descending */
        int at = 0;
        for (int e = 1; e < k; e++)
            if (fabs(vec[e]) > fabs(vec[at])) at = e;
        double sg = vec[at] < 0 ? -1 : 1;
        for (int e = 0; e < k; e++) {
            if (right)
                P[(size_t)j * n + e] = sg * vec[e];
            else
                P[(size_t)e * r + j] = sg * vec[e];
        }
    }
    free(a);
    free(w);
    free(work);
}

/* The fp32 CPU backend's svd_top on g (float values), widened. */
static void svd_f32(const double *g, int m, int n, int r, int right, double *P) {
    mb_ctx ctx;
    MB_ASSERT(mb_ctx_init(&ctx, &mb_backend_cpu_f32) == MB_OK);
    size_t mn = (size_t)m * n, pn = (size_t)(right ? n : m) * r;
    float *a = malloc(mn * sizeof *a), *out = malloc(pn * sizeof *out);
    for (size_t i = 0; i < mn; i++) a[i] = (float)g[i];
    MB_ASSERT(mb_galore_kernels_of(ctx.be)->svd_top(&ctx, a, m, n, r, right, out) == MB_OK);
    for (size_t i = 0; i < pn; i++) P[i] = out[i];
    free(a);
    free(out);
    mb_ctx_fini(&ctx);
}

/* fp64 state of one tensor under the reference. */
typedef struct ref_t {
    double *m, *v, *P, lim;
    int refreshes;
} ref_t;

/* Hugging Face AdamW: p -= lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt v + eps); p -= lr wd p. */
static void ref_adamw(const ref_cfg *c, double *p, ref_t *s, const double *g, size_t n, int t) {
    double step = c->lr * sqrt(1 - pow(c->b2, t)) / (1 - pow(c->b1, t));
    for (size_t i = 0; i < n; i++) {
        s->m[i] = c->b1 * s->m[i] + (1 - c->b1) * g[i];
        s->v[i] = c->b2 * s->v[i] + (1 - c->b2) * g[i] * g[i];
        p[i] -= step * s->m[i] / (sqrt(s->v[i]) + c->eps);
        p[i] -= c->lr * c->wd * p[i];
    }
}

/* One projected step of GaLore or APOLLO on p[m,n] with gradient g. */
static void ref_proj(const ref_cfg *c, double *p, ref_t *s, const double *g, int m, int n, int t,
                     uint64_t seed, int id) {
    int sm = m < n ? m : n, r = c->rank < sm ? c->rank : sm, right = m >= n;
    size_t rows = right ? (size_t)m : (size_t)r, cols = right ? (size_t)r : (size_t)n,
           rn = rows * cols, pn = (size_t)sm * r;
    if ((t - 1) % c->gap == 0) {
        if (c->kind == 0 && c->f32) {
            /* fp32 vectors differ from fp64 ones by up to 1e-4 (check_svd), and Adam's direction
             * amplifies that where R is near 0: the fp32 run takes the fp32 SVD's vectors, checked
             * on their own by check_svd, and the rest of the reference stays fp64 */
            svd_f32(g, m, n, r, right, s->P);
        } else if (c->kind == 0) {
            top_vectors(g, m, n, r, right, s->P);
        } else {
            mb_rng_fill_normal(s->P, pn, seed, APOLLO_STREAM + (uint32_t)id,
                               (uint64_t)s->refreshes * pn, 0.0, 1.0 / sqrt((double)r));
            if (c->f32)
                for (size_t i = 0; i < pn; i++) s->P[i] = (float)s->P[i];
        }
        s->refreshes++;
    }
    double *R = calloc(rn, sizeof *R), *N = malloc(rn * sizeof *N);
    for (size_t x = 0; x < rows; x++)
        for (size_t y = 0; y < cols; y++) {
            double acc = 0;
            if (right) /* R = G P^T */
                for (int k = 0; k < n; k++) acc += g[x * n + k] * s->P[y * n + k];
            else /* R = P^T G */
                for (int k = 0; k < m; k++) acc += s->P[(size_t)k * r + x] * g[(size_t)k * n + y];
            R[x * cols + y] = acc;
        }
    for (size_t i = 0; i < rn; i++) {
        s->m[i] = c->b1 * s->m[i] + (1 - c->b1) * R[i];
        s->v[i] = c->b2 * s->v[i] + (1 - c->b2) * R[i] * R[i];
        N[i] = s->m[i] / (sqrt(s->v[i]) + c->eps);
    }
    double step = c->lr * sqrt(1 - pow(c->b2, t)) / (1 - pow(c->b1, t));
    if (c->kind == 0) {
        for (int x = 0; x < m; x++)
            for (int y = 0; y < n; y++) {
                double acc = 0;
                for (int k = 0; k < r; k++)
                    acc += right ? N[(size_t)x * r + k] * s->P[(size_t)k * n + y]
                                 : s->P[(size_t)x * r + k] * N[(size_t)k * n + y];
                p[(size_t)x * n + y] -= step * c->scale * acc;
            }
    } else {
        /* scaling factors: per row of G (right), per column (left), or one (mini) */
        size_t ns = c->kind == 2 ? 1 : right ? (size_t)m : (size_t)n;
        double *sc = malloc(ns * sizeof *sc);
        for (size_t ch = 0; ch < ns; ch++) {
            double nn = 0, rr = 0;
            for (size_t x = 0; x < rows; x++)
                for (size_t y = 0; y < cols; y++) {
                    int in = c->kind == 2 || (right ? x == ch : y == ch);
                    if (!in) continue;
                    nn += N[x * cols + y] * N[x * cols + y];
                    rr += R[x * cols + y] * R[x * cols + y];
                }
            sc[ch] = sqrt(nn) / (sqrt(rr) + 1e-8);
        }
        double k = sqrt(c->scale), uu = 0;
        double *u = malloc((size_t)m * n * sizeof *u);
        for (int x = 0; x < m; x++)
            for (int y = 0; y < n; y++) {
                size_t i = (size_t)x * n + y;
                u[i] = g[i] * sc[c->kind == 2 ? 0 : right ? (size_t)x : (size_t)y];
                if (c->front) u[i] *= k;
                uu += u[i] * u[i];
            }
        double lim = 1;
        if (c->limiter) {
            double a = sqrt(uu);
            if (s->lim >= 0) lim = fmax(a / (s->lim + 1e-8), 1.01) / 1.01;
            s->lim = a / lim;
        }
        for (size_t i = 0; i < (size_t)m * n; i++) p[i] -= step * (u[i] / lim) * (c->front ? 1 : k);
        free(u);
        free(sc);
    }
    for (size_t i = 0; i < (size_t)m * n; i++) p[i] -= c->lr * c->wd * p[i];
    free(R);
    free(N);
}

static int run(const mb_backend *be, const ref_cfg *cin, double tol) {
    ref_cfg cc = *cin, *c = &cc;
    cc.f32 = be->sdtype == MB_F32;
    static const mb_method *const ms[] = {&mb_method_galore, &mb_method_apollo,
                                          &mb_method_apollo_mini};
    const mb_method *meth = ms[c->kind];
    double v[10] = {c->lr,   c->b1,  c->b2,    c->eps,   c->wd,
                    c->rank, c->gap, c->scale, c->front, c->limiter};
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    mb_train tr;
    mb_pvalue vals[10];
    if (opt_setup_on(be, &ctx, &cfg, &m, &tr, meth, v, meth->nparams, vals)) return 1;
    double worst = 0;
    int64_t elems = 0;
    int nproj = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *pr = &m.params[i];
        size_t n = pr->numel;
        int proj = projected(pr->role);
        int rows = (int)pr->shape[0], cols = pr->ndim == 2 ? (int)pr->shape[1] : 1;
        int sm = rows < cols ? rows : cols, lg = rows < cols ? cols : rows;
        int r = c->rank < sm ? c->rank : sm;
        size_t sn = proj ? (size_t)lg * r : n;
        elems +=
            proj ? 2 * (int64_t)lg * r + (int64_t)sm * r + (c->kind && c->limiter) : 2 * (int64_t)n;
        nproj += proj;
        ref_t s = {calloc(sn, sizeof(double)), calloc(sn, sizeof(double)),
                   calloc((size_t)sm * r, sizeof(double)), -1, 0};
        double *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g),
               *got = malloc(n * sizeof *got);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, p));
        for (int t = 1; t <= STEPS; t++) {
            /* growing gradients: the norm-growth limiter acts from the second update */
            mb_rng_fill_normal(g, n, 81, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1 * t);
            for (size_t j = 0; j < n; j++) g[j] = (float)g[j];
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &pr->g, n, g));
            CHECK_OK(&ctx, meth->optimizer_step(tr.priv[0], &tr, pr));
            if (proj)
                ref_proj(c, p, &s, g, rows, cols, t, 1, i);
            else
                ref_adamw(c, p, &s, g, n, t);
        }
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, got));
        for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs(got[j] - p[j]));
        free(s.m), free(s.v), free(s.P), free(p), free(g), free(got);
    }
    int64_t bytes = elems * (int64_t)mb_dtype_size(be->sdtype);
    printf("%-12s %s rank %d gap %d scale %g front %d limiter %d wd %g: %d projected; max abs "
           "error after %d steps %.3e (tol %.0e); state %lld bytes\n",
           meth->name, be->name, c->rank, c->gap, c->scale, c->front, c->limiter, c->wd, nproj,
           STEPS, worst, tol, (long long)bytes);
    CHECK(nproj == 4 * cfg.layers, "%s: %d projected matrices, expected 4 per block", meth->name,
          nproj);
    CHECK(worst < tol, "%s on %s: max abs error %.3e >= %.0e", meth->name, be->name, worst, tol);
    return opt_finish(&ctx, &m, &tr, bytes);
}

/* The backend's svd_top against top_vectors on an m x n matrix with a planted spectrum: max
 * |difference| of the vectors (signs included) within tol. */
static int check_svd(const mb_backend *be, int m, int n, int r, int right, double tol) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    size_t mn = (size_t)m * n, pn = (size_t)(right ? n : m) * r, es = mb_dtype_size(be->sdtype);
    double *g = malloc(mn * sizeof *g), *want = malloc(pn * sizeof *want),
           *got = malloc(pn * sizeof *got);
    planted_matrix(g, m, n, (uint64_t)(m * 7 + n + right)); /* singular values 0.9^j */
    for (size_t i = 0; i < mn; i++) g[i] = (float)g[i];
    mb_buf a, out;
    CHECK_OK(&ctx, mb_alloc(&ctx, &a, mn * es, MB_MEM_OTHER, "a"));
    CHECK_OK(&ctx, mb_alloc(&ctx, &out, pn * es, MB_MEM_OTHER, "out"));
    CHECK_OK(&ctx, mb_model_param_set(&ctx, &a, mn, g));
    CHECK_OK(&ctx, mb_galore_kernels_of(be)->svd_top(&ctx, a.ptr, m, n, r, right, out.ptr));
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &out, pn, got));
    top_vectors(g, m, n, r, right, want);
    double worst = 0;
    for (size_t i = 0; i < pn; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    printf("svd_top %s %dx%d r=%d %s: max |vector difference| %.3e (tol %.0e)\n", be->name, m, n, r,
           right ? "right" : "left", worst, tol);
    CHECK(worst < tol, "svd_top on %s, %dx%d: %.3e", be->name, m, n, worst);
    mb_free(&ctx, &a);
    mb_free(&ctx, &out);
    mb_ctx_fini(&ctx);
    free(g), free(want), free(got);
    return 0;
}

int main(void) {
    for (int b = 0; b < 2; b++) {
        const mb_backend *be = b ? &mb_backend_cpu_f32 : &mb_backend_cpu_f64;
        double tl = b ? 2e-5 : 1e-10;
        if (check_svd(be, 192, 64, 8, 1, tl) || check_svd(be, 64, 256, 8, 0, tl) ||
            check_svd(be, 64, 64, 32, 1, tl) || check_svd(be, 64, 256, 32, 0, tl))
            return 1;
    }
    /* gap 2: projections are rebuilt at updates 1, 3 and 5 while m and v carry over, so the sign
     * rule and the refresh count are exercised */
    const ref_cfg cases[] = {
        {0, 1e-3, 0.9, 0.999, 1e-6, 0.0, 128, 200, 0.25, 0, 0,
         0},                                                      /* galore's defaults, full rank */
        {0, 1e-2, 0.9, 0.99, 1e-6, 0.1, 8, 2, 0.25, 0, 0, 0},     /* rank 8, decay */
        {0, 1e-2, 0.8, 0.999, 1e-6, 0.0, 5, 1, 1.0, 0, 0, 0},     /* an SVD every update */
        {1, 1e-3, 0.9, 0.999, 1e-6, 0.0, 128, 200, 1.0, 0, 1, 0}, /* apollo's defaults */
        {1, 1e-2, 0.9, 0.99, 1e-6, 0.1, 4, 2, 2.0, 0, 1, 0},      /* rank 4, decay, limiter */
        {1, 1e-2, 0.9, 0.99, 1e-6, 0.0, 4, 2, 2.0, 1, 0, 0},      /* scale in front, no limiter */
        {2, 1e-3, 0.9, 0.999, 1e-6, 0.0, 1, 200, 128, 0, 1, 0},   /* apollo-mini's defaults */
        {2, 1e-2, 0.9, 0.999, 1e-6, 0.1, 1, 2, 192, 1, 1, 0},     /* the 130M script's front */
    };
    const mb_backend *bes[] = {&mb_backend_cpu_f64, &mb_backend_cpu_f32};
    const double tols[] = {1e-10, 2e-6};
    for (size_t b = 0; b < 2; b++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (run(bes[b], &cases[i], tols[b])) return 1;
    /* the declared defaults are the official code's */
    mb_pvalue d[10];
    mb_method_defaults(&mb_method_galore, d);
    CHECK(d[0].num == 1e-3 && d[3].num == 1e-6 && d[5].num == 128 && d[6].num == 200 &&
              d[7].num == 0.25,
          "galore defaults: lr 1e-3, eps 1e-6, rank 128, gap 200, scale 0.25");
    mb_method_defaults(&mb_method_apollo_mini, d);
    CHECK(d[5].num == 1 && d[7].num == 128 && d[9].num == 1, "apollo-mini: rank 1, scale 128");
    CHECK_DONE();
}
