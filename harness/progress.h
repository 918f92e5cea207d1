/* harness/progress.h — progress on stderr: a one-line display with ETA redrawn in place when stderr
 * is a terminal, otherwise one plain line per finished cell (CI logs). */
#ifndef MB_PROGRESS_H
#define MB_PROGRESS_H

typedef struct mb_progress {
    int tty, quiet, total, done;
    double t0, last_draw;
} mb_progress;

void mb_progress_init(mb_progress *p, int total, int quiet);
/* Within a cell: step `step` of `steps` (redraws at most 10 times a second, terminal only). */
void mb_progress_step(mb_progress *p, const char *label, int step, int steps);
/* A cell finished: `what` is a short result ("ok, 5.1 ms/step, peak 1.2 MiB"). */
void mb_progress_cell(mb_progress *p, const char *label, const char *what);
/* A line about work inside the current cell (a search's trial), not counted as a cell. */
void mb_progress_note(mb_progress *p, const char *label, const char *what);
void mb_progress_end(mb_progress *p);
double mb_now(void); /* monotonic seconds */

#endif
