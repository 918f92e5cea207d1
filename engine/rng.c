/* engine/rng.c — Philox 4x32-10 (Salmon et al., SC'11) and the derived distributions. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void mb_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void mb_rng_block(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), stream, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    mb_philox4x32_10(ctr, key, out);
}

uint32_t mb_rng_u32(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    mb_rng_block(seed, stream, index / 4, w);
    return w[index % 4];
}

static double u53(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53;
}

double mb_rng_uniform(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    mb_rng_block(seed, stream, index / 2, w);
    int j = (int)(index % 2) * 2;
    return u53(w[j], w[j + 1]);
}

static void box_muller(const uint32_t w[4], double *z0, double *z1) {
    double u1 = 1.0 - u53(w[0], w[1]); /* (0, 1]: log never sees 0 */
    double u2 = u53(w[2], w[3]);
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * M_PI * u2;
    *z0 = r * cos(a);
    *z1 = r * sin(a);
}

double mb_rng_normal(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    double z0, z1;
    mb_rng_block(seed, stream, index / 2, w);
    box_muller(w, &z0, &z1);
    return index % 2 ? z1 : z0;
}

void mb_rng_fill_normal(double *out, size_t n, uint64_t seed, uint32_t stream, uint64_t first,
                        double mean, double std) {
    size_t i = 0;
    while (i < n) {
        uint64_t idx = first + i;
        uint32_t w[4];
        double z[2];
        mb_rng_block(seed, stream, idx / 2, w);
        box_muller(w, &z[0], &z[1]);
        for (int j = (int)(idx % 2); j < 2 && i < n; j++, i++) out[i] = mean + std * z[j];
    }
}

/* High 64 bits of a 64x64-bit product, from 32-bit halves (no __int128 in C11). */
static uint64_t mulhi64(uint64_t a, uint64_t b) {
    uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl; /* < 3 * 2^32: no overflow */
    return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

uint64_t mb_rng_below(uint64_t seed, uint32_t stream, uint64_t index, uint64_t n) {
    uint32_t w[4];
    mb_rng_block(seed, stream, index / 2, w);
    int j = (int)(index % 2) * 2;
    uint64_t v = ((uint64_t)w[j] << 32) | w[j + 1];
    return mulhi64(v, n);
}
