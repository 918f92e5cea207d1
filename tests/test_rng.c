/* tests/test_rng.c — Philox 4x32-10 against the Random123 known-answer vectors (kat_vectors), and the
 * derived uniform/normal streams: addressable by index, in range, with the right moments. */
#include <stdint.h>

#include "../engine/rng.h"
#include "check.h"

int main(void) {
    /* Random123 tests/kat_vectors, "philox4x32 10": counter[4] key[2] -> output[4]. */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        mb_philox4x32_10(kat[v], kat[v] + 4, out);
        for (int i = 0; i < 4; i++)
            CHECK(out[i] == kat[v][6 + i], "vector %d word %d: %08x, expected %08x", v, i, out[i],
                  kat[v][6 + i]);
    }

    /* (seed, stream, counter) mapping: key = seed words, ctr = {counter lo, hi, stream, 0}. */
    uint32_t a[4], b[4];
    mb_rng_block(0x299f31d0a4093822ull, 0x13198a2e, 0x85a308d3243f6a88ull, a);
    uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0}, key[2] = {0xa4093822, 0x299f31d0};
    mb_philox4x32_10(ctr, key, b);
    for (int i = 0; i < 4; i++) CHECK(a[i] == b[i], "block word %d differs", i);
    mb_rng_block(0x299f31d0a4093822ull, 0x13198a2e, 0x0123456789abcdeull, a);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_U(mb_rng_u32(0x299f31d0a4093822ull, 0x13198a2e, 4 * 0x0123456789abcdeull + i), a[i]);

    /* Streams and seeds are independent: the same index differs across them. */
    CHECK(mb_rng_u32(1, 1, 0) != mb_rng_u32(1, 2, 0), "streams 1 and 2 collide");
    CHECK(mb_rng_u32(1, 1, 0) != mb_rng_u32(2, 1, 0), "seeds 1 and 2 collide");

    /* Moments over 2^20 draws: mean within 6 standard errors, variance within 1%. */
    const size_t n = 1u << 20;
    static double z[1u << 20];
    mb_rng_fill_normal(z, n, 42, 7, 0, 0.0, 1.0);
    double sum = 0, sq = 0, umin = 1, umax = 0, usum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += z[i];
        sq += z[i] * z[i];
        double u = mb_rng_uniform(42, 7, i);
        if (u < umin) umin = u;
        if (u > umax) umax = u;
        usum += u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    CHECK(fabs(mean) < 6.0 / sqrt((double)n), "normal mean %.6f", mean);
    CHECK(fabs(var - 1.0) < 0.01, "normal variance %.6f", var);
    CHECK(umin >= 0.0 && umax < 1.0, "uniform range [%.9f, %.9f]", umin, umax);
    CHECK(fabs(usum / n - 0.5) < 6.0 * sqrt(1.0 / 12 / n), "uniform mean %.6f", usum / n);

    /* Addressable: fill from an odd offset equals element-wise draws (regeneration is exact). */
    double part[5];
    mb_rng_fill_normal(part, 5, 42, 7, 3, 1.0, 2.0);
    for (int i = 0; i < 5; i++) {
        CHECK(part[i] == 1.0 + 2.0 * mb_rng_normal(42, 7, 3 + (uint64_t)i), "offset fill %d", i);
        CHECK(part[i] == 1.0 + 2.0 * z[3 + i], "offset fill vs full fill %d", i);
    }

    /* Named streams: FNV-1a of the name (the published test values of "a" and "foobar", 0xe40c292c
     * and 0xbf9cf968) with the top bit set, above every numbered stream. */
    CHECK(mb_rng_stream("a") == 0xe40c292cu, "stream 'a' = %#x", mb_rng_stream("a"));
    CHECK(mb_rng_stream("foobar") == (0xbf9cf968u | 0x80000000u), "stream 'foobar' = %#x",
          mb_rng_stream("foobar"));
    CHECK(mb_rng_stream("") == (2166136261u | 0x80000000u), "stream '' = %#x", mb_rng_stream(""));
    CHECK(mb_rng_stream("mezo.z") != mb_rng_stream("mesa.rounding") &&
              mb_rng_stream("lisa.draw") >= 0x80000000u && MB_RNG_STREAM_INIT < 0x80000000u,
          "named streams collide or overlap the numbered ones");
    CHECK_DONE();
}
