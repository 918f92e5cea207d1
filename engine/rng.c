/* engine/rng.c — Philox 4x32-10 (Salmon et al., SC'11) and the derived distributions. */
#include "rng.h"

#include <math.h>

#include "philox.h"

void mb_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    mb_philox_rounds(ctr, key, out);
}

void mb_rng_block(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t out[4]) {
    mb_philox_block(seed, stream, counter, out);
}

uint32_t mb_rng_u32(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    mb_rng_block(seed, stream, index / 4, w);
    return w[index % 4];
}

double mb_rng_uniform(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    mb_rng_block(seed, stream, index / 2, w);
    int j = (int)(index % 2) * 2;
    return mb_philox_u53(w[j], w[j + 1]);
}

double mb_rng_normal(uint64_t seed, uint32_t stream, uint64_t index) {
    uint32_t w[4];
    double z0, z1;
    mb_rng_block(seed, stream, index / 2, w);
    mb_philox_box_muller(w, &z0, &z1);
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
        mb_philox_box_muller(w, &z[0], &z[1]);
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

uint32_t mb_rng_stream(const char *name) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return h | 0x80000000u;
}
