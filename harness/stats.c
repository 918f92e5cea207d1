/* harness/stats.c — median and the one-sided Mann-Whitney U test: the exact null distribution by
 * counting orderings (dynamic programming), else the normal approximation with tie correction. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mb_median(double *v, int n) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mb_quantile(double *v, int n, double q) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

double mb_mwu_min_p(int nx, int ny) {
    /* 1 / C(nx+ny, nx) = nx! ny! / (nx+ny)! = prod_k k / (ny+k): no factorial overflows. */
    double p = 1.0;
    for (int k = 1; k <= nx; k++) p *= (double)k / (double)(ny + k);
    return p;
}

/* P(U >= u) for nx x's and ny y's without ties. Every one of the C(nx+ny, nx) orderings is equally
 * likely under the null hypothesis; f(i, j, s) counts the orderings of i x's and j y's whose U is
 * s. The largest of those i+j values is either an x, which beats all j y's, or a y, which beats
 * nothing: f(i, j, s) = f(i-1, j, s-j) + f(i, j-1, s), with f(0, j, 0) = f(i, 0, 0) = 1. The table
 * keeps one row per j for the current i and is updated in place (s descending, so f(i-1, j, s-j)
 * is still the previous i's value when it is read). Counts stay below C(40, 20) < 2^53: exact. */
static mb_status exact_upper_tail(int nx, int ny, double u, double *p) {
    int smax = nx * ny;
    size_t w = (size_t)smax + 1;
    double *f = calloc((size_t)(ny + 1) * w, sizeof *f);
    if (!f) return MB_ENOMEM;
#define F(j, s) f[(size_t)(j)*w + (size_t)(s)]
    for (int j = 0; j <= ny; j++) F(j, 0) = 1; /* i = 0: U is 0 in the one ordering */
    for (int i = 1; i <= nx; i++)
        for (int j = 1; j <= ny; j++)        /* j = 0 keeps f(i, 0, 0) = 1 */
            for (int s = i * j; s >= 0; s--) /* U of i x's and j y's is at most i*j */
                F(j, s) = (s >= j ? F(j, s - j) : 0) + F(j - 1, s);
    double tail = 0, total = 0;
    for (int s = 0; s <= smax; s++) {
        total += F(ny, s);
        if (s >= u) tail += F(ny, s);
    }
#undef F
    free(f);
    *p = tail / total;
    return MB_OK;
}

mb_status mb_mann_whitney(const double *x, int nx, const double *y, int ny, mb_mwu *out) {
    out->u = out->p = out->z = NAN;
    out->exact = 0;
    if (nx <= 0 || ny <= 0) return MB_EINVAL;
    for (int i = 0; i < nx; i++)
        if (isnan(x[i])) return MB_EINVAL;
    for (int j = 0; j < ny; j++)
        if (isnan(y[j])) return MB_EINVAL;
    /* U by counting pairs: run-level samples are few, and it is exact with ties (1/2 each). */
    double u = 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) u += x[i] > y[j] ? 1.0 : x[i] == y[j] ? 0.5 : 0.0;
    out->u = u;

    /* Ties, from the pooled sample sorted: sum over groups of equal values of t^3 - t. */
    int n = nx + ny;
    double *all = malloc((size_t)n * sizeof *all);
    if (!all) return MB_ENOMEM;
    for (int i = 0; i < nx; i++) all[i] = x[i];
    for (int j = 0; j < ny; j++) all[nx + j] = y[j];
    qsort(all, (size_t)n, sizeof *all, cmp_double);
    double ties = 0;
    for (int a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && all[b] == all[a]; b++) {
        }
        double t = b - a;
        ties += t * t * t - t;
    }
    free(all);

    if (ties == 0 && nx <= MB_MWU_EXACT_MAX && ny <= MB_MWU_EXACT_MAX) {
        double p;
        if (exact_upper_tail(nx, ny, u, &p) != MB_OK) return MB_ENOMEM;
        out->p = p;
        out->z = 0;
        out->exact = 1;
        return MB_OK;
    }
    /* Normal approximation. Ties shrink the variance of U: mn/12 * (N+1 - sum(t^3-t) / (N(N-1))).
     * The continuity correction (-1/2) matches the upper tail of a discrete U. */
    double m = nx, k = ny, N = n;
    double var = m * k / 12.0 * ((N + 1) - ties / (N * (N - 1)));
    if (var <= 0) { /* every value equal: U is always mn/2, so P(U >= u) = 1 */
        out->z = 0;
        out->p = 1;
        return MB_OK;
    }
    out->z = (u - m * k / 2.0 - 0.5) / sqrt(var);
    out->p = 0.5 * erfc(out->z / sqrt(2.0));
    return MB_OK;
}
