/* methods/lisa/lisa.h — LISA's block draw, shared by the method and its test. */
#ifndef MB_LISA_H
#define MB_LISA_H

#include <stdint.h>

/* Draw number d of k blocks out of L: perm[0..k) are the blocks (the first k swaps of a
 * Fisher-Yates shuffle, swap j taking index j + below(L - j) from stream LISA at d L + j under
 * seed) and drawn[l] is 1 for them, 0 for the rest. */
void mb_lisa_draw(uint64_t seed, uint64_t d, int L, int k, int *perm, uint8_t *drawn);

#endif
