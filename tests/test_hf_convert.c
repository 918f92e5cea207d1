/* tests/test_hf_convert.c — checkpoint dtypes to storage dtypes (mb_st_convert) against a reference
 * written here from the formats' definitions: every F16 and BF16 value to f32, f64 and bf16, F32
 * and F64 values (ties, subnormals, overflow, inf, NaN, a double-rounding trap) rounded to nearest
 * even. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "../engine/safetensors.h"
#include "check.h"

/* A binary16 or bfloat16 bit pattern's value: sign, exponent field e (of `eb` bits), fraction f (of
 * `fb` bits), from the IEEE 754 definition. */
static double decode16(uint16_t h, int eb, int fb) {
    int bias = (1 << (eb - 1)) - 1, emax = (1 << eb) - 1;
    int s = h >> 15, e = (h >> fb) & emax;
    unsigned f = h & ((1u << fb) - 1);
    double v;
    if (e == emax)
        v = f ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)f, 1 - bias - fb);
    else
        v = ldexp((double)((1u << fb) | f), e - bias - fb);
    return s ? -v : v;
}

/* x rounded to nearest even in a binary format of p significant bits, least normal exponent emin,
 * largest finite below 2^(emax + 1): the two neighbours compared, as the standard defines it. */
static double round_ref(double x, int p, int emin, int emax) {
    if (isnan(x) || isinf(x) || x == 0) return x;
    double a = fabs(x);
    int e = ilogb(a) < emin ? emin : ilogb(a);
    double q = ldexp(1.0, e - (p - 1)), lo = floor(a / q) * q, hi = lo + q, r;
    double dlo = a - lo, dhi = hi - a;
    if (dlo < dhi)
        r = lo;
    else if (dhi < dlo)
        r = hi;
    else
        r = fmod(lo / q, 2) == 0 ? lo : hi;
    if (r >= ldexp(1.0, emax + 1)) r = INFINITY;
    return x < 0 ? -r : r;
}

/* A value's bf16 bits (v already a bf16 value or an infinity). */
static uint16_t bf16_bits(double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static int same(double got, double want) { /* bitwise, NaN as NaN of the same sign */
    if (isnan(want)) return isnan(got) && signbit(got) == signbit(want);
    return got == want && signbit(got) == signbit(want);
}

/* Every pattern of a 16-bit dtype through each target. */
static void all16(const char *dtype, int eb, int fb) {
    uint16_t *src = malloc(65536 * 2), *b = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    double *d = malloc(65536 * 8);
    for (int i = 0; i < 65536; i++) src[i] = (uint16_t)i;
    CHECK(mb_st_convert(MB_F32, f, dtype, src, 65536), "%s -> f32 refused", dtype);
    CHECK(mb_st_convert(MB_F64, d, dtype, src, 65536), "%s -> f64 refused", dtype);
    CHECK(mb_st_convert(MB_BF16, b, dtype, src, 65536), "%s -> bf16 refused", dtype);
    int bad = 0;
    for (int i = 0; i < 65536 && bad < 5; i++) {
        double v = decode16((uint16_t)i, eb, fb), r = round_ref(v, 8, -126, 127);
        double gb = decode16(b[i], 8, 7);
        if (!same(f[i], v) || !same(d[i], v) || !same(gb, r)) {
            bad++;
            CHECK(0, "%s 0x%04x (%.9g): f32 %.9g, f64 %.17g, bf16 0x%04x (want 0x%04x)", dtype, i,
                  v, f[i], d[i], b[i], isnan(r) ? b[i] : bf16_bits(r));
        }
    }
    free(src);
    free(b);
    free(f);
    free(d);
}

int main(void) {
    all16("BF16", 8, 7);
    all16("F16", 5, 10);

    /* F32 -> bf16 and F64 -> f32, bf16: chosen values and pseudo-random bit patterns. */
    double pick[] = {0.0,
                     -0.0,
                     1.0,
                     1.0 + 0x1p-8,               /* a bf16 tie: to even, 1.0 */
                     1.0 + 3 * 0x1p-8,           /* a bf16 tie: to even, 1 + 2^-6 */
                     1.0 + 0x1p-8 + 0x1p-30,     /* above the tie: 1 + 2^-7 (via float: 1.0) */
                     1.0 + 0x1p-24 + 0x1p-50,    /* above an f32 tie */
                     0x1p-126,                   /* least normal float and bf16 */
                     0x1p-133,                   /* least bf16 subnormal */
                     0x1p-134,                   /* half of it: a tie, to 0 */
                     0x1.8p-134,                 /* 3/4 of it: up */
                     0x1p-149,                   /* least float subnormal */
                     0x1p-150,                   /* a float tie to 0 */
                     0x1.0000000001p-150,        /* just above: the least subnormal */
                     0x1.fcp-127,                /* bf16 subnormal rounding to the least normal */
                     FLT_MAX,                    /* bf16: past the top, infinity */
                     0x1.fep127,                 /* the largest bf16 */
                     0x1.fefffffp127,            /* below bf16's midpoint to infinity */
                     0x1.ffp127,                 /* bf16's midpoint: to infinity */
                     0x1p128 - 0x1p103,          /* f32's midpoint to infinity: infinity */
                     0x1p128 - 0x1p103 - 0x1p80, /* below it: FLT_MAX */
                     1e300,
                     -1e-300,
                     INFINITY,
                     -INFINITY,
                     NAN,
                     -NAN,
                     3.141592653589793,
                     -2.718281828459045e-20};
    int np = (int)(sizeof pick / sizeof pick[0]), nr = 4000, n = np + nr;
    double *x = malloc((size_t)n * 8), *d = malloc((size_t)n * 8);
    float *xf = malloc((size_t)n * 4), *f = malloc((size_t)n * 4);
    uint16_t *b = malloc((size_t)n * 2), *bf = malloc((size_t)n * 2);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        if (i < np) {
            x[i] = pick[i];
        } else { /* xorshift bits: every exponent, NaNs and subnormals included */
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            memcpy(&x[i], &state, 8);
            if (i % 2) x[i] = ldexp(x[i], 0) * 0x1p-900 * 0x1p-100; /* some near float's range */
            if (i % 3 == 0) x[i] = ldexp(fmod(fabs(x[i]), 1.0) + 1.0, (int)(state % 300) - 150);
        }
        xf[i] = (float)round_ref(x[i], 24, -126, 127); /* an F32 input: exactly a float */
    }
    CHECK(mb_st_convert(MB_F32, f, "F64", x, (size_t)n), "F64 -> f32 refused");
    CHECK(mb_st_convert(MB_BF16, b, "F64", x, (size_t)n), "F64 -> bf16 refused");
    CHECK(mb_st_convert(MB_F64, d, "F64", x, (size_t)n), "F64 -> f64 refused");
    CHECK(mb_st_convert(MB_BF16, bf, "F32", xf, (size_t)n), "F32 -> bf16 refused");
    int bad = 0;
    for (int i = 0; i < n && bad < 8; i++) {
        double rf = round_ref(x[i], 24, -126, 127), rb = round_ref(x[i], 8, -126, 127);
        double rbf = round_ref(xf[i], 8, -126, 127);
        int ok = same(f[i], rf) && same(decode16(b[i], 8, 7), rb) && same(d[i], x[i]) &&
                 same(decode16(bf[i], 8, 7), rbf);
        if (!ok) {
            bad++;
            CHECK(0, "%a: f32 %a (want %a), bf16 0x%04x (want %a), from F32 0x%04x (want %a)", x[i],
                  (double)f[i], rf, b[i], rb, bf[i], rbf);
        }
    }
    /* the trap where float first, then bf16, rounds twice: 1 + 2^-8 + 2^-30 is above the tie */
    CHECK(b[5] == 0x3f81, "F64 1 + 2^-8 + 2^-30 -> bf16 0x%04x, expected 0x3f81", b[5]);
    CHECK(!mb_st_convert(MB_F32, f, "I32", x, 1), "I32 accepted");
    CHECK(!mb_st_convert(MB_F32, f, "F8_E4M3", x, 1), "F8_E4M3 accepted");
    free(x);
    free(d);
    free(xf);
    free(f);
    free(b);
    free(bf);
    CHECK_DONE();
}
