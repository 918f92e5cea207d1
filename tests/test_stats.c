/* tests/test_stats.c — medians and the one-sided Mann-Whitney U test against hand-computed values:
 * exact p of separated samples (1/C(m+n, m)), the exact distribution against brute-force
 * enumeration of every ordering, and tied samples against the normal-approximation formula. */
#include <math.h>
#include <stdlib.h>

#include "../harness/stats.h"
#include "check.h"

#define NEAR(a, b, tol)                                                                            \
    CHECK(fabs((a) - (b)) <= (tol)*fmax(1.0, fabs(b)), "%s = %.17g, expected %.17g", #a,           \
          (double)(a), (double)(b))

static mb_mwu test(const double *x, int nx, const double *y, int ny) {
    mb_mwu r;
    mb_status s = mb_mann_whitney(x, nx, y, ny, &r);
    CHECK(s == MB_OK, "mb_mann_whitney returned %s", mb_status_name(s));
    return r;
}

/* x = {base+0, ..., base+n-1} */
static void ramp(double *v, int n, double base) {
    for (int i = 0; i < n; i++) v[i] = base + i;
}

/* Every way to choose which nx of the ranks 0..nx+ny-1 belong to x: counts, per U, the orderings,
 * then checks P(U >= u) for every u. Independent of the dynamic programme in stats.c. */
static void brute_force(int nx, int ny) {
    int n = nx + ny, smax = nx * ny;
    double count[64] = {0}, total = 0;
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != nx) continue;
        int u = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                if ((mask >> a & 1) && !(mask >> b & 1) && a > b) u++;
        count[u]++;
        total++;
    }
    NEAR(total, 1.0 / mb_mwu_min_p(nx, ny), 1e-12);
    for (int u = 0; u <= smax; u++) {
        /* a sample whose U is u: x takes the ranks that give exactly u pairs */
        double x[32], y[32];
        int left = u, xi = 0, yi = 0;
        /* put x's values greedily: the x placed after k y's beats k of them */
        for (int i = 0; i < nx; i++) {
            int k = left < ny ? left : ny;
            left -= k;
            x[xi++] = k - 0.5 + i * 1e-3; /* between y values k-1 and k; no ties */
        }
        for (int j = 0; j < ny; j++) y[yi++] = j;
        mb_mwu r = test(x, nx, y, ny);
        double tail = 0;
        for (int s = u; s <= smax; s++) tail += count[s];
        CHECK(r.exact == 1 && r.u == u, "%d vs %d: u %g, expected %d (exact %d)", nx, ny, r.u, u,
              r.exact);
        NEAR(r.p, tail / total, 1e-12);
    }
}

int main(void) {
    /* median: odd, even, unsorted input, empty */
    double m1[] = {3, 1, 2};
    NEAR(mb_median(m1, 3), 2.0, 0);
    double m2[] = {4, 1, 3, 2};
    NEAR(mb_median(m2, 4), 2.5, 0);
    double m3[] = {7};
    NEAR(mb_median(m3, 1), 7.0, 0);
    CHECK(isnan(mb_median(m3, 0)), "median of nothing is NaN");

    double x[64], y[64];
    /* Fully separated, x above y: U = nx*ny and p = 1 / C(nx+ny, nx), the smallest possible. */
    ramp(x, 9, 100), ramp(y, 9, 0);
    mb_mwu r = test(x, 9, y, 9);
    CHECK(r.exact == 1 && r.u == 81, "9 vs 9: exact %d u %g", r.exact, r.u);
    NEAR(r.p, 1.0 / 48620, 1e-12);
    NEAR(mb_mwu_min_p(9, 9), 1.0 / 48620, 1e-12);
    ramp(x, 2, 10), ramp(y, 2, 0);
    r = test(x, 2, y, 2);
    CHECK(r.exact == 1 && r.u == 4, "2 vs 2: u %g", r.u);
    NEAR(r.p, 1.0 / 6, 1e-12);
    NEAR(mb_mwu_min_p(2, 2), 1.0 / 6, 1e-12);
    ramp(x, 3, 10), ramp(y, 3, 0);
    r = test(x, 3, y, 3);
    NEAR(r.p, 1.0 / 20, 1e-12);
    ramp(x, 4, 10), ramp(y, 4, 0);
    NEAR(test(x, 4, y, 4).p, 1.0 / 70, 1e-12);
    NEAR(mb_mwu_min_p(1, 1), 0.5, 0);
    NEAR(mb_mwu_min_p(20, 20), 1.0 / 137846528820.0, 1e-12);
    ramp(x, 20, 100), ramp(y, 20, 0);
    r = test(x, 20, y, 20);
    CHECK(r.exact == 1, "20 vs 20 untied is exact");
    NEAR(r.p, 1.0 / 137846528820.0, 1e-9);

    /* The other way round: x entirely below y, U = 0, and P(U >= 0) = 1. */
    ramp(x, 3, 0), ramp(y, 3, 10);
    r = test(x, 3, y, 3);
    CHECK(r.u == 0, "u %g", r.u);
    NEAR(r.p, 1.0, 1e-12);

    /* Interleaved 3 vs 3: x = {1,4,6}, y = {2,3,5}: U = 0 + 2 + 3 = 5. The counts of U = 0..9 over
     * the 20 orderings are 1 1 2 3 3 3 3 2 1 1, so P(U >= 5) = 10/20; for y against x U = 4 and
     * P(U >= 4) = 13/20. The two tails overlap in P(U = 5) = 3/20: 10/20 + 13/20 = 1 + 3/20. */
    double a[] = {1, 4, 6}, b[] = {2, 3, 5};
    r = test(a, 3, b, 3);
    CHECK(r.u == 5, "u %g", r.u);
    NEAR(r.p, 0.5, 1e-12);
    mb_mwu rr = test(b, 3, a, 3);
    CHECK(rr.u == 4, "u %g", rr.u);
    NEAR(rr.p, 0.65, 1e-12);
    NEAR(r.p + rr.p, 1.0 + 3.0 / 20, 1e-12);

    /* The exact distribution against enumeration of every ordering. */
    brute_force(5, 6);
    brute_force(6, 5);
    brute_force(1, 7);
    brute_force(7, 1);
    brute_force(4, 4);

    /* Ties: the normal approximation. x = {2,3,3,5}, y = {1,2,3,4}.
     * U: x=2 beats 1 and ties 2 (1.5); each x=3 beats 1, 2 and ties 3 (2.5 twice); x=5 beats all
     * four (4): U = 10.5. Pooled 1 2 2 3 3 3 4 5: tie groups of 2 and 3, sum t^3-t = 6 + 24 = 30.
     * var = 4*4/12 * (9 - 30/(8*7)) = 11.285714...; z = (10.5 - 8 - 0.5) / sqrt(var) = 0.59534;
     * p = 1 - Phi(z) = 0.27581 (R: wilcox.test(x, y, "greater", exact=FALSE) gives the same). */
    double tx[] = {2, 3, 3, 5}, ty[] = {1, 2, 3, 4};
    r = test(tx, 4, ty, 4);
    double var = 16.0 / 12.0 * (9.0 - 30.0 / 56.0), z = 2.0 / sqrt(var);
    CHECK(r.exact == 0 && r.u == 10.5, "tied: exact %d u %g", r.exact, r.u);
    NEAR(r.z, z, 1e-12);
    NEAR(r.z, 0.5953405577875872, 1e-12);
    NEAR(r.p, 0.5 * erfc(z / sqrt(2.0)), 1e-12);
    NEAR(r.p, 0.275807925257072, 1e-9);
    /* Symmetric: y against x has U' = 16 - 10.5 = 5.5, z' = (5.5 - 8 - 0.5)/sd = -3/sd. */
    rr = test(ty, 4, tx, 4);
    CHECK(rr.exact == 0 && rr.u == 5.5, "tied, swapped: u %g", rr.u);
    NEAR(rr.z, -3.0 / sqrt(var), 1e-12);
    NEAR(rr.p, 0.5 * erfc(-3.0 / sqrt(var) / sqrt(2.0)), 1e-12);

    /* All equal: U is always mn/2, so the upper tail is 1. */
    double e1[] = {5, 5, 5}, e2[] = {5, 5};
    r = test(e1, 3, e2, 2);
    CHECK(r.u == 3 && r.p == 1 && r.exact == 0, "all tied: u %g p %g", r.u, r.p);

    /* More than 20 a side, untied: normal approximation without tie term. 25 vs 25 separated:
     * U = 625, var = 625/12 * 51 = 2656.25, z = (625 - 312.5 - 0.5)/sqrt(var) = 6.05369. */
    ramp(x, 25, 100), ramp(y, 25, 0);
    r = test(x, 25, y, 25);
    CHECK(r.exact == 0 && r.u == 625, "25 vs 25: exact %d u %g", r.exact, r.u);
    NEAR(r.z, 312.0 / sqrt(2656.25), 1e-12);
    NEAR(r.p, 7.078281124247817e-10, 1e-6);
    /* 21 vs 3 crosses the exact limit on one side only: approximation. */
    ramp(x, 21, 100), ramp(y, 3, 0);
    CHECK(test(x, 21, y, 3).exact == 0, "21 vs 3 uses the approximation");

    /* Bad input. */
    double nan_[] = {NAN};
    CHECK(mb_mann_whitney(x, 0, y, 3, &r) == MB_EINVAL && isnan(r.p), "empty side");
    CHECK(mb_mann_whitney(nan_, 1, y, 3, &r) == MB_EINVAL, "NaN sample");
    CHECK_DONE();
}
