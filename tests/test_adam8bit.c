/* tests/test_adam8bit.c — 8-bit Adam: the dynamic maps' shape and values, the code search against a
 * brute-force nearest, 5 steps on every gpt-nano tensor against a reference written here that
 * quantizes the same way (p within 1e-6: a code or absmax that differed would move p), against
 * unquantized Adam in fp64
 * (within a declared bound), a NaN gradient, and optimizer bytes = prediction on gpt-nano and for
 * GPT-2 124M. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/dynmap.h"
#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "opt_fixture.h"

extern const mb_method mb_method_adam8bit;

#define TOL 1e-6
#define BLK 256

/* Nearest map entry by exhaustive search (the first of equals). */
static int nearest(const float *map, float x) {
    int best = 0;
    for (int k = 1; k < 256; k++)
        if (fabsf(x - map[k]) < fabsf(x - map[best])) best = k;
    return best;
}

/* The reference state of one tensor: codes or fp32 m, v. */
typedef struct ref8 {
    size_t n;
    int eight;
    uint8_t *q1, *q2;
    float *a1, *a2, *m, *v, *p;
} ref8;

/* One step of bitsandbytes' Adam8bit on ref r, in float, written from the kernel's description. */
static void ref_step(ref8 *r, const float *g, const float *s_map, const float *u_map, int t,
                     float lr, float b1, float b2, float eps, float wd) {
    float c1 = 1.0f - powf(b1, (float)t), c2 = sqrtf(1.0f - powf(b2, (float)t));
    float step = -lr * c2 / c1;
    size_t n = r->n;
    if (!r->eight) {
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(g[i])) {
                r->m[i] = r->v[i] = 0;
                continue;
            }
            r->m[i] = r->m[i] * b1 + (1 - b1) * g[i];
            r->v[i] = r->v[i] * b2 + (1 - b2) * g[i] * g[i];
            r->p[i] = r->p[i] + step * (r->m[i] / (sqrtf(r->v[i]) + eps * c2));
            if (wd > 0) r->p[i] = r->p[i] * (1 - lr * wd);
        }
        return;
    }
    for (size_t b0 = 0; b0 < n; b0 += BLK) {
        size_t cnt = n - b0 < BLK ? n - b0 : BLK, blk = b0 / BLK;
        float m[BLK], v[BLK], a1 = -FLT_MAX, a2 = -FLT_MAX;
        for (size_t j = 0; j < cnt; j++) {
            float gi = g[b0 + j];
            m[j] = v[j] = 0;
            if (isfinite(gi)) {
                v[j] = u_map[r->q2[b0 + j]] * r->a2[blk] * b2 + (1 - b2) * gi * gi;
                m[j] = s_map[r->q1[b0 + j]] * r->a1[blk] * b1 + (1 - b1) * gi;
            }
            a1 = fmaxf(a1, fabsf(m[j]));
            a2 = fmaxf(a2, fabsf(v[j]));
        }
        r->a1[blk] = a1;
        r->a2[blk] = a2;
        for (size_t j = 0; j < cnt; j++) {
            size_t i = b0 + j;
            if (isfinite(g[i])) {
                r->p[i] = r->p[i] + step * (m[j] / (sqrtf(v[j]) + c2 * eps));
                if (wd > 0) r->p[i] = r->p[i] * (1 - lr * wd);
            }
            int c = nearest(s_map, m[j] / a1);
            if ((signbit(s_map[c]) != 0) != (signbit(m[j]) != 0)) c += m[j] > 0 ? 1 : -1;
            r->q1[i] = (uint8_t)c;
            r->q2[i] = (uint8_t)nearest(u_map, v[j] / a2);
        }
    }
}

static int check_maps(void) {
    float s[256], u[256];
    mb_dynmap(1, s);
    mb_dynmap(0, u);
    int neg = 0, pos = 0;
    for (int k = 0; k < 256; k++) {
        if (k) CHECK(s[k] > s[k - 1] && u[k] > u[k - 1], "maps not strictly increasing at %d", k);
        neg += s[k] < 0;
        pos += s[k] > 0;
    }
    /* signed: 127 negatives, 0, 127 positives and 1; the e = 0 fraction has one midpoint,
     * (0.1 + 1)/2 * 1e-6; unsigned: 0, 254 positives, 1, the e = 0 fraction two midpoints */
    CHECK(neg == 127 && pos == 128, "signed map: %d negative, %d positive", neg, pos);
    CHECK(s[127] == 0.0f && s[128] == 5.5e-7f && s[126] == -5.5e-7f && s[255] == 1.0f,
          "signed map entries %g %g %g %g", s[126], s[127], s[128], s[255]);
    CHECK(s[254] == (float)((0.1 + 0.9 * 63 / 64 + 1.0) / 2), "signed s[254] %.9g", s[254]);
    CHECK(u[0] == 0.0f && u[1] == 3.25e-7f && u[2] == 7.75e-7f && u[255] == 1.0f,
          "unsigned map entries %g %g %g %g", u[0], u[1], u[2], u[255]);
    /* the search finds a nearest code for every x in [-1, 1] (or [0, 1]) */
    double xs[20000];
    mb_rng_fill_normal(xs, 20000, 5, 1, 0, 0.0, 0.3);
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        float x = (float)fmax(-1.0, fmin(1.0, xs[i] * pow(10.0, -(i % 7)))), ux = fabsf(x);
        int c = mb_dynmap_code(s, 1, x), cu = mb_dynmap_code(u, 0, ux);
        bad += fabsf(x - s[c]) != fabsf(x - s[nearest(s, x)]);
        bad += fabsf(ux - u[cu]) != fabsf(ux - u[nearest(u, ux)]);
    }
    for (int k = 0; k < 256; k++) bad += mb_dynmap_code(s, 1, s[k]) != k;
    CHECK(bad == 0, "%d searches missed the nearest code", bad);
    CHECK(mb_dynmap_code(s, 1, NAN) == 0, "NaN's code");
    return 0;
}

/* 5 steps (a NaN gradient in step 3) on every gpt-nano tensor through the method, against ref_step
 * and against fp64 Adam without quantization (bitsandbytes' formula). */
static int run(float lr, float wd) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    mb_train tr;
    mb_pvalue vals[6];
    const double v[5] = {lr, 0.9, 0.999, 1e-8, wd}; /* min_8bit_size stays 4096 */
    if (opt_setup(&ctx, &cfg, &m, &tr, &mb_method_adam8bit, v, 5, vals)) return 1;
    float smap[256], umap[256];
    mb_dynmap(1, smap);
    mb_dynmap(0, umap);
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    double worst = 0, drift = 0;
    int n8 = 0;
    int64_t state = 2 * 256 * 4;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *pr = &m.params[i];
        size_t n = pr->numel, nb = (n + BLK - 1) / BLK;
        ref8 r = {n,
                  n >= 4096,
                  calloc(n, 1),
                  calloc(n, 1),
                  calloc(nb, 4),
                  calloc(nb, 4),
                  calloc(n, 4),
                  calloc(n, 4),
                  malloc(n * 4)};
        n8 += r.eight;
        state += r.eight ? (int64_t)(2 * n + 8 * nb) : (int64_t)(8 * n);
        double *h = malloc(n * sizeof *h), *p64 = malloc(n * sizeof *p64);
        double *m64 = calloc(n, sizeof *m64), *v64 = calloc(n, sizeof *v64);
        float *g = malloc(n * sizeof *g);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, h));
        for (size_t j = 0; j < n; j++) r.p[j] = (float)h[j], p64[j] = h[j];
        for (int t = 1; t <= 5; t++) {
            mb_rng_fill_normal(h, n, 81, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1);
            for (size_t j = 0; j < n; j++) g[j] = (float)h[j];
            if (t == 3) g[n / 2] = NAN; /* zeroes that element's m and v, leaves its p */
            for (size_t j = 0; j < n; j++) h[j] = g[j];
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &pr->g, n, h));
            CHECK_OK(&ctx, mb_method_adam8bit.optimizer_step(tr.priv[0], &tr, pr));
            ref_step(&r, g, smap, umap, t, lr, b1, b2, eps, wd);
            double c1 = 1 - pow(b1, t), c2 = sqrt(1 - pow(b2, t));
            for (size_t j = 0; j < n; j++) {
                if (!isfinite(g[j])) {
                    m64[j] = v64[j] = 0;
                    continue;
                }
                m64[j] = b1 * m64[j] + (1 - b1) * (double)g[j];
                v64[j] = b2 * v64[j] + (1 - b2) * (double)g[j] * g[j];
                p64[j] += -lr * c2 / c1 * m64[j] / (sqrt(v64[j]) + eps * c2);
                if (wd > 0) p64[j] *= 1 - (double)lr * wd;
            }
        }
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, h));
        for (size_t j = 0; j < n; j++) {
            worst = fmax(worst, fabs(h[j] - r.p[j]));
            drift = fmax(drift, fabs(h[j] - p64[j]));
        }
        free(r.q1), free(r.q2), free(r.a1), free(r.a2), free(r.m), free(r.v), free(r.p);
        free(h), free(p64), free(m64), free(v64), free(g);
    }
    printf("adam8bit lr %g wd %g: %d of %d tensors 8-bit; max |p - reference| %.3e; max |p - fp64 "
           "Adam| %.3e (bound %.1e = 10%% of 5 steps of lr); state %lld bytes\n",
           lr, wd, n8, m.nparams, worst, drift, 0.5 * lr, (long long)state);
    CHECK(worst < TOL, "adam8bit: max abs error against the reference %.3e", worst);
    CHECK(drift < 0.5 * lr, "adam8bit: %.3e from unquantized Adam", drift);
    return opt_finish(&ctx, &m, &tr, state);
}

/* GPT-2 124M: the prediction against the formula summed here from the shapes. */
static int bytes_124m(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-124m", &cfg));
    mb_model m;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    mb_pvalue vals[6];
    mb_method_defaults(&mb_method_adam8bit, vals);
    mb_predict pr;
    memset(&pr, 0, sizeof pr);
    pr.model = &m;
    pr.elem = pr.state_elem = 4;
    mb_method_adam8bit.predict_bytes(vals, &pr);
    int64_t want = 2048, small = 0;
    for (int i = 0; i < m.nparams; i++) {
        int64_t n = (int64_t)m.params[i].numel;
        if (n < 4096)
            want += 8 * n, small += n;
        else
            want += 2 * n + 8 * ((n + 255) / 256);
    }
    printf("adam8bit on GPT-2 124M: %lld optimizer bytes (%lld parameters in tensors under 4096 "
           "elements keep fp32 m and v); AdamW: 995,518,464\n",
           (long long)pr.bytes[MB_MEM_OPTIMIZER], (long long)small);
    CHECK_EQ_U(pr.bytes[MB_MEM_OPTIMIZER], want);
    mb_model_destroy(&ctx, &m);
    return 0;
}

int main(void) {
    if (check_maps()) return 1;
    if (run(1e-3f, 0.0f) || run(1e-2f, 0.1f)) return 1;
    if (bytes_124m()) return 1;
    mb_pvalue d[6];
    mb_method_defaults(&mb_method_adam8bit, d);
    CHECK(d[0].num == 1e-3 && d[1].num == 0.9 && d[2].num == 0.999 && d[3].num == 1e-8 &&
              d[4].num == 0 && d[5].num == 4096,
          "adam8bit defaults are bnb.optim.Adam8bit's");
    CHECK_DONE();
}
