/* reports/report.c — `membench report`, in order: the results (and steps) files read into the
 * model, the figures drawn, the text built once and written as report.md and index.html. Rows
 * whose status is not ok are listed, never plotted. */
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

mb_status mb_report_load(mb_ctx *ctx, const char *const *results, int nresults,
                         const char *const *steps, int nsteps, mb_report **out) {
    *out = NULL;
    mb_report *R = calloc(1, sizeof *R);
    int nst = nsteps > 0 ? nsteps : nresults;
    if (R) {
        R->res = calloc((size_t)nresults + 1, sizeof *R->res);
        R->steps = calloc((size_t)nst + 1, sizeof *R->steps);
        R->scols = calloc((size_t)nst + 1, sizeof *R->scols);
    }
    if (!R || !R->res || !R->steps || !R->scols) {
        mb_report_free(R);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    mb_status s = MB_OK;
    for (int i = 0; i < nresults && s == MB_OK; i++) {
        s = mb_table_load(ctx, results[i], &R->res[i]);
        if (s == MB_OK) {
            R->nres++;
            s = mb_rp_add_results(ctx, R, i);
        }
    }
    for (int i = 0; i < nsteps && s == MB_OK; i++) s = mb_rp_load_steps(ctx, R, steps[i]);
    for (int i = 0; nsteps == 0 && i < nresults && s == MB_OK; i++) {
        const char *slash = strrchr(results[i], '/');
        char path[4096];
        snprintf(path, sizeof path, "%.*ssteps.csv", slash ? (int)(slash + 1 - results[i]) : 0,
                 results[i]);
        if (access(path, F_OK) == 0)
            s = mb_rp_load_steps(ctx, R, path);
        else
            mb_text_add(&R->notes, "no %s beside %s: its cells have no loss curves\n", path,
                        results[i]);
    }
    if (s == MB_OK) s = mb_rp_build(ctx, R);
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
    mb_text_free(&R->notes);
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
