/* engine/cpu/kernels_prim.h — the CPU's generic primitives beside the GPT kernels: GEMM (in sdtype,
 * also the dtype GEMM: the two types are one on the CPU) and axpy_decay. Included by backend_cpu.c
 * once per element type with REAL and SFX(name) defined. Sums run in a fixed order. */

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

static void SFX(axpy_decay)(struct mb_ctx *ctx MB_UNUSED, void *p_, void *master MB_UNUSED,
                            const void *d_, size_t n, double alpha, double decay) {
    REAL *p = p_;
    const REAL *d = d_;
    const REAL a = (REAL)alpha, dc = (REAL)decay;
    for (size_t i = 0; i < n; i++) p[i] = (d ? p[i] + a * d[i] : p[i]) * dc;
}
