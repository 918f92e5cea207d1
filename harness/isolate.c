/* harness/isolate.c — --isolate: a cell in a forked child of its own process group that dies with
 * its parent (PR_SET_PDEATHSIG) and never writes the results folder: its steps and its row come
 * back through pipes and the parent writes them, so nothing can be appended after the parent. */
#include "cell.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/file.h"

/* The child's message after its steps: the outcome and its results.csv row, as written. */
typedef struct child_msg {
    mb_cell_outcome o;
    size_t row_len;
    char row[16384];
} child_msg;

/* A child that ends because `stop` interrupted it exits with 128 + the signal, as a shell would. */
enum { CHILD_STOPPED = 128, CHILD_ORPHANED = 127 };

static const char *signal_abbrev(int sig) {
    /* strsignal gives prose ("Segmentation fault"); users search for the macro name. */
    static const struct {
        int sig;
        const char *name;
    } tab[] = {
        {.sig = SIGSEGV, .name = "SIGSEGV"}, {.sig = SIGABRT, .name = "SIGABRT"},
        {.sig = SIGBUS, .name = "SIGBUS"},   {.sig = SIGFPE, .name = "SIGFPE"},
        {.sig = SIGILL, .name = "SIGILL"},   {.sig = SIGKILL, .name = "SIGKILL"},
        {.sig = SIGTERM, .name = "SIGTERM"}, {.sig = SIGINT, .name = "SIGINT"},
        {.sig = SIGTRAP, .name = "SIGTRAP"}, {.sig = SIGSYS, .name = "SIGSYS"},
        {.sig = SIGPIPE, .name = "SIGPIPE"}, {.sig = SIGHUP, .name = "SIGHUP"},
        {.sig = SIGQUIT, .name = "SIGQUIT"}, {.sig = SIGXCPU, .name = "SIGXCPU"},
        {.sig = SIGXFSZ, .name = "SIGXFSZ"}, {.sig = SIGALRM, .name = "SIGALRM"},
        {.sig = SIGUSR1, .name = "SIGUSR1"}, {.sig = SIGUSR2, .name = "SIGUSR2"},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].sig == sig) return tab[i].name;
    return NULL;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* In the child: the cell with its rows redirected (steps into the steps pipe as they happen, the
 * row into memory), then the message. Never returns. */
static void child(mb_ctx *ctx, mb_runner *r, const mb_cell *c, pid_t parent, int steps_fd,
                  int msg_fd) {
    /* Dies with the parent; a parent that is already gone leaves nothing to report to. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(CHILD_ORPHANED);
    setpgid(0, 0);
    mb_outdir_forget(&r->outdir);
    r->sig_slot = -1; /* a second stop signal here must not write the parent's run.json */
    /* The parent's files stay the parent's: the buffers were flushed before the fork, and the
     * descriptors are closed here without writing. */
    if (r->steps.fp) fclose(r->steps.fp);
    if (r->results.fp) fclose(r->results.fp);
    r->steps.fp = fdopen(steps_fd, "wb");
    child_msg *m = calloc(1, sizeof *m);
    char *row = NULL;
    size_t row_len = 0;
    r->results.fp = open_memstream(&row, &row_len);
    if (!r->steps.fp || !r->results.fp || !m) _exit(1);
    if (mb_cell_run(ctx, r, c, &m->o) == MB_EINTERRUPTED) _exit(CHILD_STOPPED + (int)r->stop);
    fflush(r->steps.fp);
    fflush(r->results.fp);
    if (row_len >= sizeof m->row) {
        m->o.ws = MB_EIO;
        snprintf(m->o.err, sizeof m->o.err, "--isolate: the cell's row is %zu bytes, over %zu",
                 row_len, sizeof m->row);
    } else {
        memcpy(m->row, row, row_len);
        m->row_len = row_len;
    }
    _exit(write_all(msg_fd, m, sizeof *m) == 0 ? 0 : 1);
}

/* Appends the complete lines of buf[0..*len) to steps.csv and keeps the rest (a line the child is
 * still writing). */
static mb_status forward_lines(mb_ctx *ctx, mb_runner *r, char *buf, size_t *len) {
    size_t end = *len;
    while (end > 0 && buf[end - 1] != '\n') end--;
    if (end == 0) return MB_OK;
    errno = 0;
    if (fwrite(buf, 1, end, r->steps.fp) != end || fflush(r->steps.fp) != 0) {
        int e = errno ? errno : EIO;
        return mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                        "%s: cannot write: %s", r->steps.path, strerror(e));
    }
    memmove(buf, buf + end, *len - end);
    *len -= end;
    return MB_OK;
}

/* Reads what is there from the steps pipe into buf and forwards whole lines. *open is cleared at
 * end of file. */
static mb_status pump_steps(mb_ctx *ctx, mb_runner *r, int fd, char *buf, size_t cap, size_t *len,
                            int *open) {
    ssize_t n = read(fd, buf + *len, cap - *len);
    if (n < 0 && errno == EINTR) return MB_OK;
    if (n <= 0) {
        *open = 0;
        return MB_OK;
    }
    *len += (size_t)n;
    MB_TRY(forward_lines(ctx, r, buf, len));
    if (*len == cap) *len = 0; /* a line longer than the buffer is no steps row: dropped */
    return MB_OK;
}

mb_status mb_cell_run_isolated(mb_ctx *ctx, mb_runner *r, const mb_cell *c, mb_cell_outcome *o) {
    memset(o, 0, sizeof *o);
    int sp[2], mp[2];
    if (pipe(sp) != 0) {
        o->ws = mb_error(ctx, MB_EIO, "--isolate: pipe: %s", strerror(errno));
        snprintf(o->err, sizeof o->err, "%s", ctx->err);
        return MB_OK;
    }
    if (pipe(mp) != 0) {
        close(sp[0]);
        close(sp[1]);
        o->ws = mb_error(ctx, MB_EIO, "--isolate: pipe: %s", strerror(errno));
        snprintf(o->err, sizeof o->err, "%s", ctx->err);
        return MB_OK;
    }
    char started[32];
    mb_utc_now(started, sizeof started);
    double t0 = mb_now();
    fflush(NULL); /* whatever sits in a stdio buffer now would be written by both processes */
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        close(sp[0]);
        close(sp[1]);
        close(mp[0]);
        close(mp[1]);
        o->ws = mb_error(ctx, MB_EIO, "--isolate: fork: %s", strerror(errno));
        snprintf(o->err, sizeof o->err, "%s", ctx->err);
        return MB_OK;
    }
    if (pid == 0) {
        /* The parent never trains under --isolate, so no OpenMP pool exists here to be broken by
         * the fork. */
        close(sp[0]);
        close(mp[0]);
        child(ctx, r, c, parent, sp[1], mp[1]);
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    close(sp[1]);
    close(mp[1]);
    child_msg *m = calloc(1, sizeof *m);
    char steps[65536];
    size_t slen = 0, got = 0;
    int steps_open = 1, msg_open = 1, forwarded = 0, timed_out = 0;
    mb_status ws = m ? MB_OK : mb_error(ctx, MB_ENOMEM, "host allocation");
    while (ws == MB_OK && (steps_open || msg_open)) {
        /* A signal sent to the parent alone (kill PID) reaches the cell too, so it stops. */
        if (r->stop && !forwarded) {
            kill(pid, (int)r->stop);
            forwarded = 1;
        }
        int wait_ms = 100;
        if (r->cell_timeout > 0) {
            double left = r->cell_timeout - (mb_now() - t0);
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            if (left * 1e3 < wait_ms) wait_ms = (int)(left * 1e3) + 1;
        }
        struct pollfd pfd[2] = {
            {.fd = steps_open ? sp[0] : -1, .events = POLLIN},
            {.fd = msg_open ? mp[0] : -1, .events = POLLIN},
        };
        if (poll(pfd, 2, wait_ms) <= 0) continue; /* timeout, or EINTR from a stop signal */
        if (pfd[0].revents) ws = pump_steps(ctx, r, sp[0], steps, sizeof steps, &slen, &steps_open);
        if (ws == MB_OK && pfd[1].revents) {
            ssize_t n = read(mp[0], (char *)m + got, sizeof *m - got);
            if (n > 0) got += (size_t)n;
            if (n == 0 || (n < 0 && errno != EINTR) || got == sizeof *m) msg_open = 0;
        }
    }
    if (timed_out || ws != MB_OK) { /* the child and anything it started */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    /* The child is gone: what it wrote before dying is in the pipes and reading cannot block. */
    while (ws == MB_OK && steps_open)
        ws = pump_steps(ctx, r, sp[0], steps, sizeof steps, &slen, &steps_open);
    while (ws == MB_OK && msg_open && got < sizeof *m) {
        ssize_t n = read(mp[0], (char *)m + got, sizeof *m - got);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(sp[0]);
    close(mp[0]);
    if (ws != MB_OK) { /* writing the steps failed: no row for this cell */
        o->ws = ws;
        snprintf(o->err, sizeof o->err, "%s", ctx->err);
        free(m);
        return MB_OK;
    }
    if (got == sizeof *m) { /* the child finished: its row, written here */
        *o = m->o;
        if (o->ws == MB_OK && m->row_len > 0) {
            errno = 0;
            if (fwrite(m->row, 1, m->row_len, r->results.fp) != m->row_len ||
                fflush(r->results.fp) != 0) {
                int e = errno ? errno : EIO;
                o->ws = mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                                 "%s: cannot write: %s", r->results.path, strerror(e));
                snprintf(o->err, sizeof o->err, "%s", ctx->err);
            }
        }
        free(m);
        return MB_OK;
    }
    free(m);
    memset(o, 0, sizeof *o);
    int sig = WIFSIGNALED(wst) ? WTERMSIG(wst) : 0;
    int code = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
    if (!timed_out && r->stop && (sig || code > CHILD_STOPPED)) return MB_EINTERRUPTED;
    if (!timed_out && code > CHILD_STOPPED) { /* a stop signal sent to the child alone */
        r->stop = code - CHILD_STOPPED;
        return MB_EINTERRUPTED;
    }
    const char *status = "error";
    if (timed_out) {
        status = "timeout";
        snprintf(o->reason, sizeof o->reason,
                 "the cell ran past --cell-timeout %g s and was killed", r->cell_timeout);
    } else {
        const char *name = sig ? signal_abbrev(sig) : NULL;
        if (sig && name)
            snprintf(o->reason, sizeof o->reason, "the cell's process was killed by signal %d (%s)",
                     sig, name);
        else if (sig)
            snprintf(o->reason, sizeof o->reason, "the cell's process was killed by signal %d",
                     sig);
        else
            snprintf(o->reason, sizeof o->reason,
                     "the cell's process exited with code %d without writing its row", code);
    }
    mb_cell_write_failed(ctx, r, c, status, started, mb_now() - t0, o);
    return MB_OK;
}
