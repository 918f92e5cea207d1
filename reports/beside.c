/* reports/beside.c — membench's ok cells on each configuration a peer published, then the
 * peers. */
#include "beside.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mb_rp_peer_group_first(const mb_report *R, int i) {
    const mb_peer *p = &R->peers[i];
    for (int j = 0; j < i; j++) {
        const mb_peer *q = &R->peers[j];
        if (!strcmp(p->model, q->model) && p->batch_size == q->batch_size &&
            p->seq_len == q->seq_len && !strcmp(p->precision, q->precision))
            return j;
    }
    return i;
}

/* Whether plain cell cl ran peer p's configuration. */
static int cell_on_peer(const mb_report *R, const mb_rp_cell *cl, const mb_peer *p) {
    const mb_rp_row *r = &R->rows[cl->rows[0]];
    return cl->kind == MB_RK_PLAIN && !strcmp(r->s[MB_RC_MODEL], p->model) &&
           atoi(r->s[MB_RC_BS]) == p->batch_size && atoi(r->s[MB_RC_SEQ]) == p->seq_len &&
           !strcmp(r->s[MB_RC_PREC], p->precision);
}

int mb_rp_side_by_side(const mb_report *R, mb_rp_side *side) {
    int n = 0;
    for (int g = 0; g < R->npeers; g++) {
        if (mb_rp_peer_group_first(R, g) != g) continue;
        for (int c = 0; c < R->ncells; c++) {
            if (!cell_on_peer(R, &R->cells[c], &R->peers[g])) continue;
            mb_rp_agg a = mb_rp_aggregate(R, &R->cells[c]);
            if (!isfinite(a.ms)) continue;
            side[n++] =
                (mb_rp_side){.peer = -1, .cell = c, .group = g, .ms = a.ms, .mib = a.peak_mib};
        }
        for (int i = g; i < R->npeers; i++)
            if (mb_rp_peer_group_first(R, i) == g)
                side[n++] = (mb_rp_side){.peer = i,
                                         .cell = -1,
                                         .group = g,
                                         .ms = R->peers[i].step_ms,
                                         .mib = R->peers[i].peak_mib};
    }
    return n;
}

void mb_rp_side_config(mb_text *b, const mb_peer *p) {
    mb_text_add(b, "%s %dx%d %s", p->model, p->batch_size, p->seq_len, p->precision);
}

void mb_rp_side_who(mb_text *b, const mb_report *R, const mb_rp_side *x) {
    if (x->peer >= 0)
        mb_text_add(b, "%s", R->peers[x->peer].name);
    else
        mb_text_add(b, "membench %s", R->cells[x->cell].method);
}
