/* reports/figures.c — what the figures share: gnuplot quoting, data-file text, a script's head
 * and tail, running gnuplot, and the list of figures in report order. */
#include "figures.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/file.h"
#include "escape.h"

/* A gnuplot string. Single-quoted ones cannot hold every name: gnuplot 5.4 misreads a '' escape
 * at the start of one or right after another ('''a' and 'a''''b' do not parse, and the script
 * fails). So double quotes, where a backslash escapes: '"' and '\' get one, and a backquote, which
 * would run a shell command there, is written as its octal escape \140. Control characters become
 * spaces, bytes that are not UTF-8 U+FFFD. In explicit tic labels gnuplot reads the text as a
 * format, so '%' is doubled there. */
void mb_rp_gp_quote(mb_text *b, const char *s, int tic) {
    mb_text_add(b, "\"");
    size_t i = 0;
    uint32_t cp;
    while (mb_esc_utf8_next(s, &i, &cp)) {
        if (cp == '"' || cp == '\\')
            mb_text_add(b, "\\%c", (int)cp);
        else if (cp == '`')
            mb_text_add(b, "\\140");
        else if (cp == '%' && tic)
            mb_text_add(b, "%%%%");
        else
            mb_text_add_cp(b, cp < 0x20 || cp == 0x7f ? ' ' : cp);
    }
    mb_text_add(b, "\"");
}

void mb_rp_plain_text(mb_text *b, const char *s) {
    mb_esc_plain(b, s);
}

static int on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (1) {
        size_t n = strcspn(path, ":");
        char full[4200];
        if (n)
            snprintf(full, sizeof full, "%.*s/%s", (int)n, path, prog);
        else
            snprintf(full, sizeof full, "./%s", prog); /* an empty entry is the current folder */
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) return 1;
        if (!path[n]) return 0;
        path += n + 1;
    }
}

#define GNUPLOT_MISSING                                                                            \
    "gnuplot is not on PATH; install it (Debian/Ubuntu: apt-get install gnuplot-nox) and run "     \
    "again"

/* `gnuplot NAME.gp` in `work` (the script names its files relative to its folder, so a person can
 * re-run it the same way in `dir`, where it is kept); its stdout goes to our stderr, which keeps
 * stdout for results. */
static mb_status run_gnuplot(mb_ctx *ctx, const char *work, const char *dir, const char *name) {
    char script[128], prog[] = "gnuplot";
    snprintf(script, sizeof script, "%s.gp", name);
    char *argv[] = {prog, script, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return mb_error(ctx, MB_EIO, "cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(work) != 0) _exit(126);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(prog, argv);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return mb_error(ctx, MB_EIO, "waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return mb_error(ctx, MB_ENOTFOUND, GNUPLOT_MISSING);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st))
            return mb_error(ctx, MB_EIO, "gnuplot %s was killed by signal %d (in %s)", script,
                            WTERMSIG(st), dir);
        return mb_error(ctx, MB_EIO,
                        "gnuplot %s failed with exit status %d (in %s, where the script and its "
                        "data are kept)",
                        script, WEXITSTATUS(st), dir);
    }
    static const char *const ext[] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        char path[4400];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s.%s", work, name, ext[i]) >= (int)sizeof path ||
            lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
            return mb_error(ctx, MB_EIO, "gnuplot %s wrote no %s.%s in %s", script, name, ext[i],
                            dir);
    }
    return MB_OK;
}

/* Moves work/FILE to dir/FILE, synced first: rename replaces whatever is at dir/FILE (a symlink
 * planted there included) without following it. */
static mb_status move_out(mb_ctx *ctx, const char *work, const char *dir, const char *file) {
    char from[4400], to[4400];
    if (snprintf(from, sizeof from, "%s/%s", work, file) >= (int)sizeof from ||
        snprintf(to, sizeof to, "%s/%s", dir, file) >= (int)sizeof to)
        return mb_error(ctx, MB_EINVAL, "path too long: %.64s.../%s", dir, file);
    int fd = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = fd < 0 ? errno : fsync(fd) != 0 && errno != EINVAL ? errno : 0;
    if (fd >= 0) close(fd);
    if (!e && rename(from, to) != 0) e = errno;
    if (e)
        return mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                        "cannot write %s: %s", to, strerror(e));
    return MB_OK;
}

void mb_rp_gp_begin(mb_text *g, const mb_report *R, const char *name, const char *what, int w,
                    int h) {
    mb_text_add(g, "# %s.gp - %s\n# Written by membench report from", name, what);
    for (int i = 0; i < R->nres; i++) {
        mb_text_add(g, " ");
        mb_rp_plain_text(g, R->res[i].path);
    }
    mb_text_add(g,
                ".\n# Edit it and re-run it here with: gnuplot %s.gp (writes %s.png and %s.svg)\n",
                name, name, name);
    /* noenhanced everywhere: in enhanced mode '_' and '^' set sub/superscripts and {} group,
     * which mangles method names such as adam_w^2. */
    mb_text_add(g,
                "set encoding utf8\n"
                "set datafile separator \"\\t\"\n"
                "set datafile missing \"NaN\"\n"
                "set terminal pngcairo size %d,%d font \"sans,13\" noenhanced\n"
                "set termoption noenhanced\n"
                "set output '%s.png'\n"
                "set grid ytics lc rgb '#dddddd'\n"
                "set border 3\nset tics nomirror\n",
                w, h, name);
    /* Legible when the page scales the figure down: 13 px text (tick labels, keys, axis
     * labels), a 16 px title; a later `set title` keeps this font. */
    mb_text_add(g, "set title font \",16\"\n");
}

void mb_rp_gp_end(mb_text *g, const char *name, int w, int h) {
    mb_text_add(g,
                "\nset terminal svg size %d,%d font \"sans,13\" noenhanced\n"
                "set termoption noenhanced\n"
                "set output '%s.svg'\n"
                "replot\n"
                "unset output\n",
                w, h, name);
}

mb_status mb_rp_draw(mb_ctx *ctx, mb_report *R, const char *dir, const char *name,
                     const mb_text *dat, const mb_text *frontier, const mb_text *gp,
                     const char *caption, ...) {
    if (R->nfigs == MB_RP_MAX_FIGS)
        return mb_error(ctx, MB_EINVAL, "more than %d figures", MB_RP_MAX_FIGS);
    /* gnuplot opens its outputs with fopen, which follows a symlink planted at NAME.png: it runs in
     * a folder of our own (mkdtemp, mode 0700) and what it wrote is moved into `dir`. The data and
     * the script are moved out too, even when gnuplot fails, so they can be looked at. */
    enum { DAT, FRONTIER, GP, PNG, SVG, NFILES };
    char files[NFILES][160], work[4200];
    snprintf(files[DAT], sizeof files[DAT], "%s.dat", name);
    snprintf(files[FRONTIER], sizeof files[FRONTIER], "pareto_frontier.dat");
    snprintf(files[GP], sizeof files[GP], "%s.gp", name);
    snprintf(files[PNG], sizeof files[PNG], "%s.png", name);
    snprintf(files[SVG], sizeof files[SVG], "%s.svg", name);
    if (snprintf(work, sizeof work, "%s/.membench-%s.XXXXXX", dir, name) >= (int)sizeof work)
        return mb_error(ctx, MB_EINVAL, "output folder name too long: %.64s...", dir);
    if (!mkdtemp(work)) {
        int e = errno;
        return mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                        "cannot create a folder in %s for gnuplot: %s", dir, strerror(e));
    }
    mb_status s = mb_text_write(ctx, work, files[DAT], dat);
    if (s == MB_OK && frontier) s = mb_text_write(ctx, work, files[FRONTIER], frontier);
    if (s == MB_OK) s = mb_text_write(ctx, work, files[GP], gp);
    mb_status drawn = s == MB_OK ? run_gnuplot(ctx, work, dir, name) : s;
    char why[MB_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", ctx->err); /* gnuplot's failure, kept past the moves */
    for (int i = 0; i < NFILES && s == MB_OK; i++)
        if ((i != FRONTIER || frontier) && (i < PNG || drawn == MB_OK))
            s = move_out(ctx, work, dir, files[i]);
    for (int i = 0; i < NFILES; i++) { /* whatever was not moved out */
        char p[4400];
        if (snprintf(p, sizeof p, "%s/%s", work, files[i]) < (int)sizeof p) unlink(p);
    }
    rmdir(work);
    if (s == MB_OK && drawn != MB_OK) return mb_error(ctx, drawn, "%s", why);
    MB_TRY(s);
    mb_rp_fig *f = &R->figs[R->nfigs++];
    f->name = name;
    f->frontier = frontier != NULL;
    va_list ap;
    va_start(ap, caption);
    vsnprintf(f->caption, sizeof f->caption, caption, ap);
    va_end(ap);
    return MB_OK;
}

void mb_rp_dat_label(mb_text *d, const char *label) {
    mb_text_add(d, "\t");
    mb_rp_plain_text(d, label);
    mb_text_add(d, "\n");
}

void mb_rp_fmt_num(mb_text *b, double v) {
    if (isfinite(v))
        mb_text_add(b, "%.9g", v);
    else
        mb_text_add(b, "NaN");
}

mb_status mb_rp_gnuplot_check(mb_ctx *ctx) {
    return on_path("gnuplot") ? MB_OK : mb_error(ctx, MB_ENOTFOUND, GNUPLOT_MISSING);
}

/* The figures in the order report.md and index.html show them. */
static mb_status (*const figures[])(mb_ctx *, mb_report *, const char *) = {
    mb_rp_fig_memory,  mb_rp_fig_time,     mb_rp_fig_pareto, mb_rp_fig_loss,
    mb_rp_fig_quality, mb_rp_fig_maxbatch, mb_rp_fig_peers,
};

mb_status mb_rp_figures(mb_ctx *ctx, mb_report *R, const char *dir) {
    R->nfigs = 0;
    for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) MB_TRY(figures[i](ctx, R, dir));
    return MB_OK;
}
