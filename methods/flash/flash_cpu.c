/* methods/flash/flash_cpu.c — memory-efficient exact causal attention on the CPU, the contract of
 * the GPU's flash kernels: forward saves each query row's log-sum-exp (no probabilities), backward
 * recomputes them from it; the cpu-f32 and cpu-f64 tables. The kernel text (after #else) is
 * compiled once per element type, with REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include <stdlib.h>

#include "../../engine/cpu/real.h"
#include "flash_kernels.h"

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

#define MB_FLASH_CPU_TABLE(sfx)                                                                    \
    {                                                                                              \
        .init = NULL, .flash_fwd = flash_fwd_##sfx, .flash_bwd = flash_bwd_##sfx,                  \
        .flash_head_ok = NULL                                                                      \
    }
const mb_flash_kernels mb_flash_cpu_f32 = MB_FLASH_CPU_TABLE(f32);
const mb_flash_kernels mb_flash_cpu_f64 = MB_FLASH_CPU_TABLE(f64);

#else

#include "../../engine/cpu/real.h" /* SFX(dot) for this element type */

/* out[b, t, h] = sum_{j <= t} p_j v_j with p_j = exp(s_j - lse), s_j = q . k_j / sqrt(hs), k and v
 * of query head h's kv head h / (NH/KV) (rows W = C + 2 KV hs wide); lse[(b*NH + h)*T + t] (REAL)
 * = max_j s_j + log(sum_j exp(s_j - max)). A row of scores at a time in `row` (heap). */
static void SFX(flash_fwd)(struct mb_ctx *ctx MB_UNUSED, void *out_, void *lse_, const void *qkv_,
                           int B, int T, int C, int NH, int KV) {
    REAL *out = out_, *lse = lse_;
    const REAL *qkv = qkv_;
    const int hs = C / NH, G = NH / KV, W = C + 2 * KV * hs;
    const REAL scale = (REAL)1 / SFX(sqrt)((REAL)hs);
#pragma omp parallel for collapse(2) if ((size_t)B * NH * T * T * hs >= MB_PAR_MIN_WORK)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            REAL *s = malloc((size_t)T * sizeof *s);
            if (!s) continue; /* out of host memory: out is left unwritten */
            const int ko = C + (h / G) * hs, vo = C + (KV + h / G) * hs;
            for (int t = 0; t < T; t++) {
                const REAL *q = qkv + ((size_t)b * T + t) * W + h * hs;
                REAL mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    s[j] = SFX(dot)(q, qkv + ((size_t)b * T + j) * W + ko, hs) * scale;
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j <= t; j++) sum += s[j] = SFX(exp)(s[j] - mx);
                REAL *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0;
                for (int j = 0; j <= t; j++) {
                    const REAL *v = qkv + ((size_t)b * T + j) * W + vo;
                    for (int i = 0; i < hs; i++) o[i] += s[j] / sum * v[i];
                }
                lse[((size_t)b * NH + h) * T + t] = mx + SFX(log)(sum);
            }
            free(s);
        }
}

/* D = rowsum(dout * out) per (b, h, t) into D_; then p_j = exp(s_j - lse), ds_j = p_j (dout . v_j -
 * D): dq = scale sum_j ds_j k_j, dk_j += scale ds_j q, dv_j += p_j dout. One (b, kv head) per task,
 * its query heads h = kh*G .. in order, then t and j in order: deterministic, and every write in
 * the task's own columns. dqkv is overwritten. */
static void SFX(flash_bwd)(struct mb_ctx *ctx MB_UNUSED, void *dqkv_, const void *dout_,
                           const void *qkv_, const void *out_, const void *lse_, void *D_, int B,
                           int T, int C, int NH, int KV) {
    REAL *dqkv = dqkv_, *D = D_;
    const REAL *dout = dout_, *qkv = qkv_, *out = out_, *lse = lse_;
    const int hs = C / NH, G = NH / KV, W = C + 2 * KV * hs;
    const REAL scale = (REAL)1 / SFX(sqrt)((REAL)hs);
#pragma omp parallel for collapse(2) if ((size_t)B * NH * T * T * hs >= MB_PAR_MIN_WORK)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < KV; kh++) {
            const int ko = C + kh * hs, vo = C + (KV + kh) * hs;
            for (int t = 0; t < T; t++) {
                const size_t r = (size_t)b * T + t;
                for (int i = 0; i < hs; i++) dqkv[r * W + ko + i] = dqkv[r * W + vo + i] = 0;
            }
            for (int h = kh * G; h < (kh + 1) * G; h++) {
                REAL *Dr = D + ((size_t)b * NH + h) * T;
                const REAL *L = lse + ((size_t)b * NH + h) * T;
                for (int t = 0; t < T; t++) {
                    const size_t r = (size_t)b * T + t;
                    Dr[t] = SFX(dot)(dout + r * C + h * hs, out + r * C + h * hs, hs);
                    for (int i = 0; i < hs; i++) dqkv[r * W + h * hs + i] = 0;
                }
                for (int t = 0; t < T; t++) {
                    const size_t r = (size_t)b * T + t;
                    const REAL *q = qkv + r * W + h * hs, *go = dout + r * C + h * hs;
                    REAL *dq = dqkv + r * W + h * hs;
                    for (int j = 0; j <= t; j++) {
                        const size_t rj = (size_t)b * T + j;
                        const REAL *k = qkv + rj * W + ko, *v = qkv + rj * W + vo;
                        REAL p = SFX(exp)(SFX(dot)(q, k, hs) * scale - L[t]);
                        REAL ds = p * (SFX(dot)(go, v, hs) - Dr[t]);
                        REAL *dk = dqkv + rj * W + ko, *dv = dqkv + rj * W + vo;
                        for (int i = 0; i < hs; i++) {
                            dq[i] += scale * ds * k[i];
                            dk[i] += scale * ds * q[i];
                            dv[i] += p * go[i];
                        }
                    }
                }
            }
        }
}

#endif
