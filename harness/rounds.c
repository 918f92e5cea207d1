/* harness/rounds.c — each round's reference step time (the median over the shared cells' rows of
 * that repeat index), for `compare` to judge a cell against its own rounds (rounds.h). */
#include "rounds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

typedef struct pair {
    long id;
    double ms;
} pair;

static int by_round(const void *a, const void *b) {
    const pair *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->ms < y->ms ? -1 : x->ms > y->ms;
}

mb_status mb_rounds_build(mb_ctx *ctx, const long *repeat, const double *ms, int n,
                          mb_rounds *out) {
    memset(out, 0, sizeof *out);
    pair *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    out->id = malloc((size_t)(n ? n : 1) * sizeof *out->id);
    out->ref = malloc((size_t)(n ? n : 1) * sizeof *out->ref);
    if (!p || !v || !out->id || !out->ref) {
        free(p);
        free(v);
        mb_rounds_free(out);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    for (int i = 0; i < n; i++) p[i] = (pair){repeat[i], ms[i]};
    qsort(p, (size_t)n, sizeof *p, by_round);
    for (int i = 0, j; i < n; i = j) {
        int k = 0;
        for (j = i; j < n && p[j].id == p[i].id; j++) v[k++] = p[j].ms;
        if (k < MB_ROUNDS_MIN_CELLS) continue;
        out->id[out->n] = p[i].id;
        out->ref[out->n++] = mb_median(v, k);
    }
    free(p);
    free(v);
    return MB_OK;
}

double mb_rounds_ref(const mb_rounds *r, long id) {
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (r->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->n && r->id[lo] == id ? r->ref[lo] : NAN;
}

double mb_rounds_spread(const mb_rounds *r) {
    if (r->n < 2) return 1;
    double lo = r->ref[0], hi = r->ref[0];
    for (int i = 1; i < r->n; i++) {
        lo = fmin(lo, r->ref[i]);
        hi = fmax(hi, r->ref[i]);
    }
    return hi / lo;
}

void mb_rounds_free(mb_rounds *r) {
    free(r->id);
    free(r->ref);
    memset(r, 0, sizeof *r);
}
