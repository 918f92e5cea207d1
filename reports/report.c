/* reports/report.c — `membench report`, in order: the results (and steps) files read into the
 * model and its summary, the figures drawn, the text built once and written as report.md and
 * index.html. Rows whose status is not ok are listed, never plotted. */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "figures.h"
#include "model.h"
#include "summary.h"
#include "table.h"

/* `dir` and its parents, like mkdir -p. */
static mb_status mkdirs(mb_ctx *ctx, const char *dir) {
    char buf[4096];
    if (!*dir) return mb_error(ctx, MB_EINVAL, "the output folder name is empty");
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return mb_error(ctx, MB_EINVAL, "output folder name too long: %s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/') continue;
        char was = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mb_error(ctx, MB_EIO, "cannot create %s: %s", buf, strerror(errno));
        if (!(*p = was)) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mb_error(ctx, MB_EIO, "%s is not a folder", dir);
    return MB_OK;
}

/* The trailing `k` path components of `path`. */
static const char *tail(const char *path, int k) {
    const char *p = path + strlen(path);
    while (p > path && p[-1] == '/') p--; /* not a file name, but no empty name either */
    for (int seen = 0; p > path; p--)
        if (p[-1] == '/' && ++seen == k) break;
    return p;
}

static const char *run_name(const mb_report_in *in, int i, int k) {
    return in->nnames ? in->names[i] : tail(in->results[i], k);
}

/* Each run's name: the given ones, or the shortest trailing part of the paths that tells every
 * file apart ("a.csv" and "b.csv"; "x/results.csv" and "y/results.csv"). */
static mb_status name_runs(mb_ctx *ctx, mb_report *R, const mb_report_in *in) {
    R->nruns = in->merge || in->nresults < 2 ? 1 : in->nresults;
    if (in->nnames && (R->nruns == 1 || in->nnames != in->nresults))
        return mb_error(ctx, MB_EINVAL,
                        "--names gives %d names for %d results files%s; give one per file",
                        in->nnames, in->nresults, in->merge ? " merged into one run" : "");
    if (!(R->run_names = calloc((size_t)R->nruns, sizeof *R->run_names)))
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    int k = 1;
    for (;; k++) {
        int clash = 0, whole = 1;
        for (int i = 0; i < R->nruns; i++) {
            for (int j = 0; j < i && !clash; j++)
                clash = !strcmp(run_name(in, i, k), run_name(in, j, k));
            if (clash && in->nnames)
                return mb_error(ctx, MB_EINVAL, "--names: '%s' is given twice", in->names[i]);
            whole &= tail(in->results[i], k) == in->results[i];
        }
        /* the same path twice is told apart by no length: then the paths as given */
        if (!clash || whole) break;
    }
    for (int i = 0; i < R->nruns; i++)
        if (!(R->run_names[i] = strdup(R->nruns == 1 ? "" : run_name(in, i, k))))
            return mb_error(ctx, MB_ENOMEM, "host allocation");
    return MB_OK;
}

mb_status mb_report_load(mb_ctx *ctx, const mb_report_in *in, mb_report **out) {
    *out = NULL;
    mb_report *R = calloc(1, sizeof *R);
    int nresults = in->nresults, nsteps = in->nsteps, nst = nsteps > 0 ? nsteps : nresults;
    if (R) {
        R->res = calloc((size_t)nresults + 1, sizeof *R->res);
        R->steps = calloc((size_t)nst + 1, sizeof *R->steps);
        R->scols = calloc((size_t)nst + 1, sizeof *R->scols);
    }
    if (!R || !R->res || !R->steps || !R->scols) {
        mb_report_free(R);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    mb_status s = name_runs(ctx, R, in);
    for (int i = 0; i < nresults && s == MB_OK; i++) {
        s = mb_table_load(ctx, in->results[i], &R->res[i]);
        if (s == MB_OK) {
            R->nres++;
            s = mb_rp_add_results(ctx, R, i);
        }
    }
    for (int i = 0; i < nsteps && s == MB_OK; i++) s = mb_rp_load_steps(ctx, R, in->steps[i]);
    for (int i = 0; nsteps == 0 && i < nresults && s == MB_OK; i++) {
        const char *slash = strrchr(in->results[i], '/');
        char path[4096];
        snprintf(path, sizeof path, "%.*ssteps.csv", slash ? (int)(slash + 1 - in->results[i]) : 0,
                 in->results[i]);
        if (access(path, F_OK) == 0)
            s = mb_rp_load_steps(ctx, R, path);
        else
            mb_text_add(&R->notes, "no %s beside %s: its cells have no loss curves\n", path,
                        in->results[i]);
    }
    if (s == MB_OK) s = mb_rp_build(ctx, R);
    if (s == MB_OK) s = mb_rp_summary_build(ctx, R);
    if (s == MB_OK && R->notes.oom) s = mb_error(ctx, MB_ENOMEM, "host allocation");
    if (s != MB_OK) {
        mb_report_free(R);
        return s;
    }
    *out = R;
    return MB_OK;
}

void mb_report_free(mb_report *R) {
    if (!R) return;
    for (int i = 0; i < R->nres; i++) mb_table_free(&R->res[i]);
    for (int i = 0; i < R->nsteps; i++) mb_table_free(&R->steps[i]);
    for (int i = 0; i < R->nrows; i++) free(R->rows[i].label);
    for (int c = 0; c < R->ncells; c++) {
        free(R->cells[c].rows);
        free(R->cells[c].method);
        free(R->cells[c].label);
    }
    for (int g = 0; g < R->ngroups; g++) free(R->groups[g].label);
    free(R->res);
    free(R->steps);
    free(R->scols);
    free(R->rows);
    free(R->cells);
    free(R->groups);
    free(R->scratch);
    free(R->peers);
    free(R->peers_path);
    for (int i = 0; R->run_names && i < R->nruns; i++) free(R->run_names[i]);
    free(R->run_names);
    mb_rp_summary_free(R->sum);
    mb_text_free(&R->notes);
    mb_text_free(&R->warnings);
    free(R);
}

mb_status mb_report_peers(mb_ctx *ctx, mb_report *R, const char *path) {
    mb_peer *p;
    int n;
    MB_TRY(mb_peers_load(ctx, path, &p, &n));
    free(R->peers);
    free(R->peers_path);
    R->peers = p;
    R->npeers = n;
    if (!(R->peers_path = strdup(path))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    return MB_OK;
}

int mb_report_figures(const mb_report *R, const char **names, int max) {
    for (int i = 0; i < R->nfigs && i < max; i++) names[i] = R->figs[i].name;
    return R->nfigs;
}

const char *mb_report_notes(const mb_report *R) {
    return mb_text_str(&R->notes);
}

const char *mb_report_warnings(const mb_report *R) {
    return mb_text_str(&R->warnings);
}

mb_status mb_report_write(mb_ctx *ctx, mb_report *R, const char *dir) {
    MB_TRY(mb_rp_gnuplot_check(ctx)); /* before anything is written */
    MB_TRY(mkdirs(ctx, dir));
    MB_TRY(mb_rp_figures(ctx, R, dir));
    if (R->notes.oom) return mb_error(ctx, MB_ENOMEM, "host allocation");
    mb_rp_doc doc;
    MB_TRY(mb_rp_doc_build(ctx, R, &doc));
    mb_status s = mb_rp_write_markdown(ctx, &doc, dir);
    if (s == MB_OK) s = mb_rp_write_html(ctx, &doc, dir);
    mb_rp_doc_free(&doc);
    return s;
}
