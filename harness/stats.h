/* harness/stats.h — the statistics `membench compare` gates time with: medians and the one-sided
 * Mann-Whitney U test over run-level samples (exact null distribution for small untied samples). */
#ifndef MB_STATS_H
#define MB_STATS_H

#include "../engine/status.h"

/* Median of v[0..n-1]; sorts v in place. NaN when n == 0. */
double mb_median(double *v, int n);
/* Order statistics with linear interpolation (numpy's default): q in [0, 1]; sorts v in place. NaN
 * when n == 0. */
double mb_quantile(double *v, int n, double q);

/* Result of a one-sided Mann-Whitney U test of "x tends to be larger than y". */
typedef struct mb_mwu {
    double u;  /* pairs (x_i, y_j) with x_i > y_j, a tie counting 1/2; 0 <= u <= nx*ny */
    double p;  /* P(U >= u) under the null hypothesis that x and y come from one distribution */
    double z;  /* the normal approximation's z (continuity-corrected); 0 when exact */
    int exact; /* 1: p from the exact distribution; 0: normal approximation with tie correction */
} mb_mwu;

/* Largest per-side sample count for which the exact distribution is used (when there are no ties):
 * it has nx*ny+1 terms and its counts stay below C(40,20) = 1.4e11, exact in a double. */
#define MB_MWU_EXACT_MAX 20

/* The test. MB_EINVAL when a side is empty or holds a NaN, MB_ENOMEM when scratch memory cannot be
 * had; `out` is then {NaN...}. */
mb_status mb_mann_whitney(const double *x, int nx, const double *y, int ny, mb_mwu *out);

/* The smallest one-sided p the test can give for nx vs ny untied samples, 1 / C(nx+ny, nx) (both
 * sides fully separated): when it is not below alpha, no amount of difference can be significant,
 * only more runs help. */
double mb_mwu_min_p(int nx, int ny);

#endif
