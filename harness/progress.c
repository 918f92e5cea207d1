/* harness/progress.c — the progress line and the monotonic clock. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double mb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void mb_progress_init(mb_progress *p, int total, int quiet) {
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->total = total;
    p->done = 0;
    p->t0 = mb_now();
    p->last_draw = 0;
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (s < 0 || s > 360000) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%d:%02d", t / 60, t % 60);
}

void mb_progress_step(mb_progress *p, const char *label, int step, int steps) {
    if (p->quiet || !p->tty) return;
    double now = mb_now();
    if (now - p->last_draw < 0.1 && step != steps) return;
    p->last_draw = now;
    double frac = steps > 0 ? (double)step / steps : 0;
    double doneish = p->done + frac;
    char eta[32];
    fmt_eta(eta, sizeof eta, doneish > 0 ? (now - p->t0) / doneish * (p->total - doneish) : -1);
    fprintf(stderr, "\r\033[K[%d/%d] %.60s step %d/%d  ETA %s", p->done + 1, p->total, label,
            step, steps, eta);
    fflush(stderr);
}

void mb_progress_cell(mb_progress *p, const char *label, const char *what) {
    p->done++;
    if (p->quiet) return;
    if (p->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "[%d/%d] %s: %s\n", p->done, p->total, label, what);
    fflush(stderr);
}

void mb_progress_note(mb_progress *p, const char *label, const char *what) {
    if (p->quiet) return;
    if (p->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "  %s: %s\n", label, what);
    fflush(stderr);
}

void mb_progress_end(mb_progress *p) {
    if (!p->quiet && p->tty) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
