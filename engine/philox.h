/* engine/philox.h — Philox 4x32-10 and the Box-Muller pair, inline for host and device: the CPU's
 * generator (rng.c) and a method's CUDA kernels that regenerate a stream on the GPU run one text. */
#ifndef MB_PHILOX_H
#define MB_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define MB_PHILOX_FN __host__ __device__ static inline
#else
#define MB_PHILOX_FN static inline
#endif

#define MB_PHILOX_M0 0xD2511F53u
#define MB_PHILOX_M1 0xCD9E8D57u
#define MB_PHILOX_W0 0x9E3779B9u
#define MB_PHILOX_W1 0xBB67AE85u

/* The raw bijection: 10 rounds over ctr[4] with key[2] (Random123's philox4x32_R(10, ...)). */
MB_PHILOX_FN void mb_philox_rounds(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += MB_PHILOX_W0;
            k1 += MB_PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)MB_PHILOX_M0 * c0, p1 = (uint64_t)MB_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Block `counter` of stream `stream` under `seed`: ctr = {counter lo, counter hi, stream, 0},
 * key = {seed lo, seed hi}. */
MB_PHILOX_FN void mb_philox_block(uint64_t seed, uint32_t stream, uint64_t counter,
                                  uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), stream, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    mb_philox_rounds(ctr, key, out);
}

/* [0, 1) from the top 53 bits of hi:lo. */
MB_PHILOX_FN double mb_philox_u53(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53;
}

/* Two standard normals from one block: r = sqrt(-2 log(1 - u(w0, w1))) (never log 0), angle
 * 2 pi u(w2, w3); z0 = r cos, z1 = r sin. */
MB_PHILOX_FN void mb_philox_box_muller(const uint32_t w[4], double *z0, double *z1) {
    double u1 = 1.0 - mb_philox_u53(w[0], w[1]);
    double u2 = mb_philox_u53(w[2], w[3]);
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * 3.14159265358979323846 * u2;
    *z0 = r * cos(a);
    *z1 = r * sin(a);
}

#endif
