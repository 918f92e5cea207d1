/* methods/galore/galore_cpu.c — GaLore's SVD on the CPU: LAPACK's gesvd (linked statically, see
 * methods/CMakeLists.txt) and the sign rule; the cpu-f32 and cpu-f64 tables. The kernel text (after
 * #else) is compiled once per element type, with REAL, SFX and GESVD (sgesvd_ | dgesvd_) defined
 * (engine/cpu/real.h). */
#ifndef REAL
#include <string.h>

#include "../../engine/cpu/real.h"
#include "../../engine/ctx.h"
#include "galore_kernels.h"

/* LAPACK's SVD (Fortran calling convention: every argument by pointer, then the lengths of the two
 * CHARACTER arguments). */
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a,
             const int *lda, float *s, float *u, const int *ldu, float *vt, const int *ldvt,
             float *work, const int *lwork, int *info, size_t ljobu, size_t ljobvt);
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *info, size_t ljobu, size_t ljobvt);

#define REAL float
#define SFX(name) name##_f32
#define GESVD sgesvd_
#include __FILE__
#undef REAL
#undef SFX
#undef GESVD
#define REAL double
#define SFX(name) name##_f64
#define GESVD dgesvd_
#include __FILE__
#undef REAL
#undef SFX
#undef GESVD

const mb_galore_kernels mb_galore_cpu_f32 = {.svd_top = svd_top_f32};
const mb_galore_kernels mb_galore_cpu_f64 = {.svd_top = svd_top_f64};

#else

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

#endif
