/* reports/beside.h — membench's cells beside the peers' published figures, configuration by
 * configuration (model, batch, sequence, precision): the bars of the peers figure and the rows of
 * the "Beside the peers" table. */
#ifndef MB_RP_BESIDE_H
#define MB_RP_BESIDE_H

#include "model.h"
#include "text.h"

typedef struct mb_rp_side {
    int peer;  /* index in R->peers, or -1 for a membench cell */
    int cell;  /* membench: the cell */
    int group; /* the configuration: its first peer row */
    double ms, mib;
} mb_rp_side;

/* A peer's configuration: the index of the first peer row with its model, batch, sequence and
 * precision (i itself when it is the first). */
int mb_rp_peer_group_first(const mb_report *R, int i);
/* Every bar, configuration by configuration: membench's ok plain cells with step times, then the
 * peers. Returns how many; `side` has room for R->ncells + R->npeers. */
int mb_rp_side_by_side(const mb_report *R, mb_rp_side *side);
/* "MODEL BxT PRECISION" */
void mb_rp_side_config(mb_text *b, const mb_peer *p);
/* The peer's name, or "membench METHOD". */
void mb_rp_side_who(mb_text *b, const mb_report *R, const mb_rp_side *x);

#endif
