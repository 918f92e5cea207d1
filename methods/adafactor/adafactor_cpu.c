/* methods/adafactor/adafactor_cpu.c — Adafactor on the CPU: the cpu-f32 and cpu-f64 tables. The
 * kernel text (after #else) is compiled once per element type, with REAL and SFX defined
 * (engine/cpu/real.h). */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "adafactor_kernels.h"

#define REAL float
#define SFX(name) name##_f32
#include __FILE__
#undef REAL
#undef SFX
#define REAL double
#define SFX(name) name##_f64
#include __FILE__
#undef REAL
#undef SFX

const mb_adafactor_kernels mb_adafactor_cpu_f32 = {.adafactor = adafactor_f32};
const mb_adafactor_kernels mb_adafactor_cpu_f64 = {.adafactor = adafactor_f64};

#else

static void SFX(adafactor)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_, void *row_,
                           void *col_, void *master MB_UNUSED, size_t rows, size_t cols, double w,
                           double rho, double eps1, double eps2, double d, double lr, double wd) {
    REAL *p = p_, *row = row_, *col = col_;
    const REAL *g = g_;
    size_t n = rows * cols;
    double sp = 0;
    for (size_t i = 0; i < n; i++) sp += (double)p[i] * p[i];
    double alpha = fmax(eps2, sqrt(sp / (double)n)) * rho;
    if (wd != 0) {
        REAL decay = (REAL)(1.0 - lr * wd);
        for (size_t i = 0; i < n; i++) p[i] *= decay;
    }
    double rmean = 0;
    if (cols > 1) {
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
        for (size_t r = 0; r < rows; r++) {
            double a = 0;
            for (size_t c = 0; c < cols; c++) a += (double)g[r * cols + c] * g[r * cols + c];
            row[r] += (REAL)(w * (a / (double)cols - row[r]));
        }
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
        for (size_t c = 0; c < cols; c++) {
            double a = 0;
            for (size_t r = 0; r < rows; r++) a += (double)g[r * cols + c] * g[r * cols + c];
            col[c] += (REAL)(w * (a / (double)rows - col[c]));
        }
        for (size_t r = 0; r < rows; r++) rmean += row[r];
        rmean = fmax(rmean / (double)rows, eps1);
    } else {
        for (size_t i = 0; i < n; i++) row[i] += (REAL)(w * ((double)g[i] * g[i] - row[i]));
    }
    /* U twice: once for its RMS, once to apply, so no n-sized scratch is needed */
    double e2 = eps1 * eps1, su = 0;
    for (size_t i = 0; i < n; i++) {
        double v = cols > 1 ? (double)row[i / cols] * col[i % cols] / rmean : (double)row[i];
        double u = g[i] / sqrt(fmax(v, e2));
        su += u * u;
    }
    double step = alpha / fmax(1.0, sqrt(su / (double)n) / d);
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        double v = cols > 1 ? (double)row[i / cols] * col[i % cols] / rmean : (double)row[i];
        p[i] -= (REAL)(step * (g[i] / sqrt(fmax(v, e2))));
    }
}

#endif
