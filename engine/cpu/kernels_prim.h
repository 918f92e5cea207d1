/* engine/cpu/kernels_prim.h — the CPU's generic primitives beside the GPT kernels: GEMM (in sdtype,
 * also the dtype GEMM: the two types are one on the CPU) and axpy_decay. Included by backend_cpu.c
 * once per element type with REAL and SFX(name) defined. Sums run in a fixed order. */

/* C's element at c from its sum: alpha acc + beta c; beta == 0 overwrites C without reading it, as
 * BLAS does. */
static inline void SFX(gemm_put)(REAL *c, double acc, double alpha, double beta) {
    *c = (REAL)(alpha * acc + (beta != 0 ? beta * (double)*c : 0.0));
}

/* One output element's sum over k (tb: B's rows are contiguous in k, so the plain order reads
 * both operands in stride). */
static void SFX(gemm_ijk)(int ta, int i, int N, int K, double alpha, const REAL *A, int lda,
                          const REAL *B, int ldb, double beta, REAL *C, int ldc) {
    for (int j = 0; j < N; j++) {
        double acc = 0;
        for (int k = 0; k < K; k++) {
            double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
            acc += a * (double)B[(size_t)j * ldb + k];
        }
        SFX(gemm_put)(&C[(size_t)i * ldc + j], acc, alpha, beta);
    }
}

/* B not transposed: a block of a row's sums at once, k outermost, so B's rows are read in
 * stride; each sum still adds k = 0 .. K-1 in order, so the bits equal the plain loop's. */
#define MB_GEMM_JB 256
static void SFX(gemm_ikj)(int ta, int i, int N, int K, double alpha, const REAL *A, int lda,
                          const REAL *B, int ldb, double beta, REAL *C, int ldc) {
    double acc[MB_GEMM_JB];
    for (int j0 = 0; j0 < N; j0 += MB_GEMM_JB) {
        const int nj = N - j0 < MB_GEMM_JB ? N - j0 : MB_GEMM_JB;
        for (int j = 0; j < nj; j++) acc[j] = 0;
        for (int k = 0; k < K; k++) {
            const double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
            const REAL *b = B + (size_t)k * ldb + j0;
            for (int j = 0; j < nj; j++) acc[j] += a * (double)b[j];
        }
        REAL *c = C + (size_t)i * ldc + j0;
        for (int j = 0; j < nj; j++) SFX(gemm_put)(c + j, acc[j], alpha, beta);
    }
}

static void SFX(gemm_s)(struct mb_ctx *ctx MB_UNUSED, int ta, int tb, int M, int N, int K,
                        double alpha, const void *A_, int lda, const void *B_, int ldb, double beta,
                        void *C_, int ldc) {
    const REAL *A = A_, *B = B_;
    REAL *C = C_;
#pragma omp parallel for if ((size_t)M * N * K >= MB_PAR_MIN_WORK)
    for (int i = 0; i < M; i++) {
        if (tb)
            SFX(gemm_ijk)(ta, i, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        else
            SFX(gemm_ikj)(ta, i, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

static void SFX(axpy_decay)(struct mb_ctx *ctx MB_UNUSED, void *p_, void *master MB_UNUSED,
                            const void *d_, size_t n, double alpha, double decay) {
    REAL *p = p_;
    const REAL *d = d_;
    const REAL a = (REAL)alpha, dc = (REAL)decay;
    for (size_t i = 0; i < n; i++) p[i] = (d ? p[i] + a * d[i] : p[i]) * dc;
}
