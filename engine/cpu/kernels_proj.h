/* engine/cpu/kernels_proj.h — the CPU gradient-projection kernels (GaLore, APOLLO): sdtype GEMM,
 * LAPACK's SVD, the Adam direction, the APOLLO update. Included by backend_cpu.c once per element
 * type with REAL, SFX(name) and GESVD (sgesvd_ | dgesvd_) defined. Sums run in a fixed order. */

static void SFX(gemm_s)(struct mb_ctx *ctx MB_UNUSED, int ta, int tb, int M, int N, int K,
                        double alpha, const void *A_, int lda, const void *B_, int ldb, double beta,
                        void *C_, int ldc) {
    const REAL *A = A_, *B = B_;
    REAL *C = C_;
#pragma omp parallel for if ((size_t)M * N * K >= MB_PAR_MIN_WORK)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            REAL *c = &C[(size_t)i * ldc + j];
            /* beta == 0 overwrites C without reading it, as BLAS does */
            *c = (REAL)(alpha * acc + (beta != 0 ? beta * (double)*c : 0.0));
        }
}

/* Vector j of out (len entries, stride es, vectors vs apart) negated unless its largest-magnitude
 * entry (the first of equals) is positive. */
static void SFX(sign_fix)(REAL *out, int nvec, int len, size_t vs, size_t es) {
    for (int j = 0; j < nvec; j++) {
        REAL *v = out + (size_t)j * vs, best = 0;
        int at = 0;
        for (int e = 0; e < len; e++)
            if (SFX(fabs)(v[e * es]) > best) best = SFX(fabs)(v[e * es]), at = e;
        if (v[(size_t)at * es] < 0)
            for (int e = 0; e < len; e++) v[e * es] = -v[e * es];
    }
}

/* Row-major a[m,n] is LAPACK's column-major a^T (n x m) = Uc S Vc^T, so a = Vc S Uc^T: a's right
 * singular vectors are Uc's columns (jobu 'S'), its left ones Vc's columns (rows of Vc^T, jobvt
 * 'S'). Scratch (a's copy, S, the factor, LAPACK's work) is tracked as WORKSPACE. */
static mb_status SFX(svd_top)(struct mb_ctx *ctx, const void *a, int m, int n, int r, int right,
                              void *out_) {
    REAL *out = out_;
    int k = m < n ? m : n, lda = n, ldu = right ? n : 1, ldvt = right ? 1 : k, lwork = -1, info = 0;
    if (r < 1 || r > k)
        return mb_error(ctx, MB_EINVAL, "svd_top: rank %d outside 1..%d for a %d x %d matrix", r, k,
                        m, n);
    const char ju = right ? 'S' : 'N', jv = right ? 'N' : 'S';
    REAL q, dummy = 0;
    GESVD(&ju, &jv, &lda, &m, &dummy, &lda, &dummy, &dummy, &ldu, &dummy, &ldvt, &q, &lwork, &info,
          1, 1);
    if (info != 0)
        return mb_error(ctx, MB_EDEVICE, "svd_top: gesvd workspace query: info %d", info);
    lwork = (int)q;
    size_t es = sizeof(REAL), nf = (size_t)k * (right ? (size_t)n : (size_t)m);
    mb_buf ac = {0}, sv = {0}, f = {0}, work = {0};
    mb_status s = mb_alloc(ctx, &ac, (size_t)m * n * es, MB_MEM_WORKSPACE, "svd.a");
    if (s == MB_OK) s = mb_alloc(ctx, &sv, (size_t)k * es, MB_MEM_WORKSPACE, "svd.s");
    if (s == MB_OK) s = mb_alloc(ctx, &f, nf * es, MB_MEM_WORKSPACE, "svd.vectors");
    if (s == MB_OK) s = mb_alloc(ctx, &work, (size_t)lwork * es, MB_MEM_WORKSPACE, "svd.work");
    if (s == MB_OK) {
        memcpy(ac.ptr, a, (size_t)m * n * es);
        REAL *fv = f.ptr;
        GESVD(&ju, &jv, &lda, &m, ac.ptr, &lda, sv.ptr, right ? fv : &dummy, &ldu,
              right ? &dummy : fv, &ldvt, work.ptr, &lwork, &info, 1, 1);
        if (info != 0)
            s = mb_error(ctx, MB_EDEVICE, "svd_top: gesvd of a %d x %d matrix failed: info %d", m,
                         n, info);
        else if (right) { /* Uc is n x k column-major: its first r columns are Vh's first r rows */
            memcpy(out, fv, (size_t)r * n * es);
            SFX(sign_fix)(out, r, n, (size_t)n, 1);
        } else { /* Vc^T is k x m column-major: U[i][j] = Vc^T(j, i) */
            for (int i = 0; i < m; i++)
                for (int j = 0; j < r; j++) out[(size_t)i * r + j] = fv[j + (size_t)i * k];
            SFX(sign_fix)(out, r, m, 1, (size_t)r);
        }
    }
    mb_free(ctx, &work);
    mb_free(ctx, &f);
    mb_free(ctx, &sv);
    mb_free(ctx, &ac);
    return s;
}

static void SFX(adam_dir)(struct mb_ctx *ctx MB_UNUSED, const void *x_, void *out_, void *m_,
                          void *v_, size_t n, double b1, double b2, double eps) {
    const REAL *x = x_;
    REAL *out = out_, *m = m_, *v = v_;
    const REAL rb1 = (REAL)b1, rb2 = (REAL)b2, w1 = (REAL)(1.0 - b1), w2 = (REAL)(1.0 - b2),
               e = (REAL)eps;
    for (size_t i = 0; i < n; i++) {
        REAL xi = x[i];
        m[i] = rb1 * m[i] + w1 * xi;
        v[i] = rb2 * v[i] + w2 * xi * xi;
        out[i] = m[i] / (SFX(sqrt)(v[i]) + e);
    }
}

static void SFX(axpy_decay)(struct mb_ctx *ctx MB_UNUSED, void *p_, void *master MB_UNUSED,
                            const void *d_, size_t n, double alpha, double decay) {
    REAL *p = p_;
    const REAL *d = d_;
    const REAL a = (REAL)alpha, dc = (REAL)decay;
    for (size_t i = 0; i < n; i++) p[i] = (d ? p[i] + a * d[i] : p[i]) * dc;
}

static void SFX(apollo_update)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_,
                               void *master MB_UNUSED, const void *R_, const void *N_, size_t m,
                               size_t n, size_t rows, size_t cols, int axis, int front, double k,
                               void *lim_state, double step, double decay, void *s_scratch) {
    REAL *p = p_, *sc = s_scratch, *q = lim_state;
    const REAL *g = g_, *R = R_, *N = N_;
    size_t ns = axis == 1 ? rows : axis == 0 ? cols : 1;
    for (size_t c = 0; c < ns; c++) {
        double nn = 0, rr = 0;
        size_t len = axis == 1 ? cols : axis == 0 ? rows : rows * cols;
        size_t at = axis == 1 ? c * cols : c, st = axis == 0 ? cols : 1;
        for (size_t e = 0; e < len; e++) {
            double a = N[at + e * st], b = R[at + e * st];
            nn += a * a;
            rr += b * b;
        }
        sc[c] = (REAL)(sqrt(nn) / (sqrt(rr) + 1e-8));
    }
    double front_k = front ? k : 1.0, uu = 0;
    for (size_t i = 0; i < m * n; i++) {
        double s = sc[axis == 1 ? i / n : axis == 0 ? i % n : 0];
        double u = (double)g[i] * s * front_k;
        uu += u * u;
    }
    double lim = 1.0;
    if (q) {
        double a = sqrt(uu);
        if (*q >= 0) lim = fmax(a / ((double)*q + 1e-8), 1.01) / 1.01;
        *q = (REAL)(a / lim);
    }
    const double f = step * (front ? 1.0 : k) / lim * front_k;
    for (size_t i = 0; i < m * n; i++) {
        double s = sc[axis == 1 ? i / n : axis == 0 ? i % n : 0];
        p[i] = (REAL)(((double)p[i] - f * ((double)g[i] * s)) * decay);
    }
}
