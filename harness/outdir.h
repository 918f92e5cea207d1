/* harness/outdir.h — a run's results folder: created, locked against a second run (flock on
 * DIR/.lock, which names the holder's pid), and checked to hold this suite's results or none. */
#ifndef MB_OUTDIR_H
#define MB_OUTDIR_H

#include "../engine/ctx.h"

/* The lock file's name (in suite.c's table of names a checkpoint may not take). */
#define MB_OUT_LOCK ".lock"

typedef struct mb_outdir {
    int lock_fd; /* -1 when not held */
    int cleared; /* --force removed an earlier run's files */
} mb_outdir;

/* How a folder that already holds results may be used. */
typedef enum mb_out_mode {
    MB_OUT_FRESH = 0,  /* refused when the folder holds results */
    MB_OUT_RESUME = 1, /* continue this suite's run (refused for another suite's folder) */
    MB_OUT_FORCE = 2,  /* delete an earlier run's results.csv, steps.csv and run.json first */
} mb_out_mode;

/* Creates `dir` (and its parents), takes its lock (MB_EINVAL naming the holder's pid when another
 * run has it), then checks what it holds against `suite` and `mode`; the lock is held until
 * mb_outdir_close, so a --resume or --force changes nothing before it has the folder to itself. */
mb_status mb_outdir_open(mb_ctx *ctx, mb_outdir *o, const char *dir, const char *suite,
                         mb_out_mode mode);
/* Releases the lock (the lock file stays: removing it would let two runs lock two files). */
void mb_outdir_close(mb_outdir *o);
/* For a forked child: closes its copy of the lock's descriptor without releasing the parent's. */
void mb_outdir_forget(mb_outdir *o);

#endif
