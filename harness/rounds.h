/* harness/rounds.h — the rounds of a results file, for `compare`'s time gate: the rows of one
 * repeat index ran together (the runner interleaves repeats), so a round's median step time over
 * the cells both files share is the machine's speed at that moment, and a cell's time over it is
 * not. */
#ifndef MB_ROUNDS_H
#define MB_ROUNDS_H

#include "../engine/ctx.h"

/* Fewer cells than this in a round give no reference: the median of two is their mean, and one
 * cell slowing down would move it half as much. */
#define MB_ROUNDS_MIN_CELLS 3

typedef struct mb_rounds {
    int n;       /* rounds with a reference */
    long *id;    /* [n] the repeat index, ascending */
    double *ref; /* [n] the median step time of the round's reference rows */
} mb_rounds;

/* From n (repeat, step time) pairs, the ok rows of the reference cells; rounds with fewer than
 * MB_ROUNDS_MIN_CELLS rows get no reference. MB_ENOMEM only. */
mb_status mb_rounds_build(mb_ctx *ctx, const long *repeat, const double *ms, int n, mb_rounds *out);
/* The reference of round `id`; NaN when it has none. */
double mb_rounds_ref(const mb_rounds *r, long id);
/* How far the machine's speed moved between rounds: the largest reference over the smallest (1 for
 * fewer than two rounds). */
double mb_rounds_spread(const mb_rounds *r);
void mb_rounds_free(mb_rounds *r);

#endif
