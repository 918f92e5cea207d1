/* harness/cell.h — inside the runner: one cell run in this process (runner.c) or in a child that
 * dies with its parent and writes nothing itself (isolate.c). Not for use outside harness/. */
#ifndef MB_CELL_H
#define MB_CELL_H

#include "runner.h"

/* What the suite loop needs of a finished cell: its summary line and reason, and whether its row
 * was written. ws is MB_ESTORAGE when a write found the disk full or failing: then no row exists
 * for the cell, and the run stops. */
typedef struct mb_cell_outcome {
    mb_cell_summary sm;
    char reason[MB_ERRMSG_MAX + 64];
    mb_status ws;            /* writing the row (and, for storage, the cell's steps) */
    char err[MB_ERRMSG_MAX]; /* ws's message */
} mb_cell_outcome;

/* Runs cell `c` here and writes its row. MB_EINTERRUPTED when `stop` cut it short (no row then);
 * otherwise MB_OK with o->ws saying whether the row was written. */
mb_status mb_cell_run(mb_ctx *ctx, mb_runner *r, const mb_cell *c, mb_cell_outcome *o);
/* The same in a forked child (--isolate); the child's steps and row come back through pipes and
 * the parent writes them, so a child outliving a killed parent has nowhere to write. */
mb_status mb_cell_run_isolated(mb_ctx *ctx, mb_runner *r, const mb_cell *c, mb_cell_outcome *o);
/* The row of a cell that ended without one of its own (its process died or timed out): identity
 * columns, `status`, o->reason; written and summarised into `o`. */
void mb_cell_write_failed(mb_ctx *ctx, mb_runner *r, const mb_cell *c, const char *status,
                          const char *started, double wall_s, mb_cell_outcome *o);
void mb_utc_now(char *buf, size_t n);

#endif
