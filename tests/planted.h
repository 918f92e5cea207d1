/* tests/planted.h — a test matrix with a known, well-separated spectrum: a = sum_j 0.9^j u_j v_j^T
 * over orthonormal u_j, v_j (Gram-Schmidt on random vectors), so that each singular vector is
 * determined to about eps / 0.1 and fp32 and fp64 SVDs agree closely. */
#ifndef MB_PLANTED_H
#define MB_PLANTED_H

#include <math.h>
#include <stdlib.h>

#include "../engine/rng.h"

/* k orthonormal vectors of length len, one per row of q[k, len]. */
static inline void planted_basis(double *q, int k, int len, uint64_t seed, uint32_t stream) {
    mb_rng_fill_normal(q, (size_t)k * len, seed, stream, 0, 0.0, 1.0);
    for (int j = 0; j < k; j++) {
        double *v = q + (size_t)j * len;
        for (int pass = 0; pass < 2; pass++) /* twice: orthogonal to working precision */
            for (int i = 0; i < j; i++) {
                const double *w = q + (size_t)i * len;
                double d = 0;
                for (int e = 0; e < len; e++) d += v[e] * w[e];
                for (int e = 0; e < len; e++) v[e] -= d * w[e];
            }
        double nrm = 0;
        for (int e = 0; e < len; e++) nrm += v[e] * v[e];
        nrm = sqrt(nrm);
        for (int e = 0; e < len; e++) v[e] /= nrm;
    }
}

/* a[m,n] (row-major) with singular values 0.9^j, j = 0 .. min(m, n) - 1. */
static inline void planted_matrix(double *a, int m, int n, uint64_t seed) {
    int k = m < n ? m : n;
    double *u = malloc((size_t)k * m * sizeof *u), *v = malloc((size_t)k * n * sizeof *v);
    planted_basis(u, k, m, seed, 1);
    planted_basis(v, k, n, seed, 2);
    for (size_t i = 0; i < (size_t)m * n; i++) a[i] = 0;
    double s = 1;
    for (int j = 0; j < k; j++, s *= 0.9)
        for (int x = 0; x < m; x++)
            for (int y = 0; y < n; y++)
                a[(size_t)x * n + y] += s * u[(size_t)j * m + x] * v[(size_t)j * n + y];
    free(u);
    free(v);
}

#endif
