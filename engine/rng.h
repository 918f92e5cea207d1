/* engine/rng.h — Philox 4x32-10 counter-based generator keyed by (seed, stream, counter).
 * Every value is addressable by its index, so a stream can be regenerated anywhere (init on any
 * backend, data order, dropout, a method's perturbation regenerated several times a step). */
#ifndef MB_RNG_H
#define MB_RNG_H

#include <stddef.h>
#include <stdint.h>

/* The engine's numbered streams; a tensor's initialisation uses MB_RNG_STREAM_INIT + its parameter
 * id. A method names its own streams (mb_rng_stream), which never meet these. */
enum {
    MB_RNG_STREAM_DROPOUT = 2,
    MB_RNG_STREAM_DATA = 0x10, /* + split (train 0, validation 1): batch starts */
    MB_RNG_STREAM_SYNTH = 0x100, /* synthetic data: 0x100 successor table, 0x101 the walk */
    MB_RNG_STREAM_INIT = 0x10000,
};

/* The stream called `name` ("<method>.<purpose>", e.g. "template.noise"): the 32-bit FNV-1a hash
 * of the name with its top bit set, so a named stream is stable across runs, builds and stacks,
 * and lies above every numbered stream (those stay below 2^31: MB_RNG_STREAM_INIT + ids). */
uint32_t mb_rng_stream(const char *name);

/* The raw bijection: 10 rounds over ctr[4] with key[2] (Random123's philox4x32_R(10, ...)). */
void mb_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Block `counter` of stream `stream` under `seed`: key = {seed lo, seed hi},
 * ctr = {counter lo, counter hi, stream, 0}. */
void mb_rng_block(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t out[4]);

/* Value `index` of a stream. u32: word index%4 of block index/4. uniform: [0,1) with 53 random bits
 * from words (2*(index%2), +1) of block index/2. normal: Box-Muller on block index/2, cosine branch
 * for even indices, sine branch for odd ones. */
uint32_t mb_rng_u32(uint64_t seed, uint32_t stream, uint64_t index);
double mb_rng_uniform(uint64_t seed, uint32_t stream, uint64_t index);
double mb_rng_normal(uint64_t seed, uint32_t stream, uint64_t index);

/* Value `index` of a stream as an integer in [0, n), n >= 1: floor(v * n / 2^64) of the 64-bit word
 * pair (2*(index%2), +1) of block index/2, the layout of mb_rng_uniform. The bias is at most
 * n / 2^64 per value, where u32 % n would be off by up to n / 2^32 and could never reach past 2^32
 * (batch starts in a large file). */
uint64_t mb_rng_below(uint64_t seed, uint32_t stream, uint64_t index, uint64_t n);

/* out[i] = mean + std * normal(first + i), two values per block. */
void mb_rng_fill_normal(double *out, size_t n, uint64_t seed, uint32_t stream, uint64_t first,
                        double mean, double std);

#endif
