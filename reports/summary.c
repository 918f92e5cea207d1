/* reports/summary.c — the summary's numbers: settings and their lines found through hash tables
 * (input order kept), each setting's baseline per run, medians over the ok repeats, and the
 * warnings for stacks that save no memory. */
#include "summary.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double mb_rp_ratio(double v, double base) {
    return isfinite(v) && isfinite(base) && base > 0 ? v / base : NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The median of column `col` over the cell's ok rows where it is a number; `tmp` holds cl->n. */
static double median_of(const mb_report *R, const mb_rp_cell *cl, int col, double *tmp) {
    int n = 0;
    for (int i = 0; i < cl->n; i++) {
        const mb_rp_row *r = &R->rows[cl->rows[i]];
        if (mb_rp_is_ok(r) && isfinite(MB_RP_NUM(r, col))) tmp[n++] = MB_RP_NUM(r, col);
    }
    return median(tmp, n);
}

static mb_rp_stat stat_of(const mb_report *R, const mb_rp_cell *cl, double *tmp) {
    mb_rp_stat s = {.n = cl->n, .nok = 0};
    for (int i = 0; i < cl->n; i++) s.nok += mb_rp_is_ok(&R->rows[cl->rows[i]]);
    s.peak = median_of(R, cl, MB_RC_TRACKED, tmp);
    s.ms = median_of(R, cl, MB_RC_MED, tmp);
    s.metric = median_of(R, cl, MB_RC_METRIC, tmp);
    for (int k = 0; k < MB_MEM_NCAT; k++) s.cat[k] = median_of(R, cl, MB_RC_PEAK + k, tmp);
    return s;
}

/* FNV-1a over strings, each followed by a separator. */
static uint64_t hash_str(uint64_t h, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211u;
    return (h ^ 0x1f) * 1099511628211u;
}

/* A group's setting: every dimension but the run. */
static uint64_t setting_hash(const mb_rp_group *g) {
    uint64_t h = 14695981039346656037u;
    for (int d = 0; d < MB_RG_N; d++)
        if (d != MB_RG_RUN) h = hash_str(h, g->d[d]);
    return h;
}

static int same_setting(const mb_rp_group *a, const mb_rp_group *b) {
    for (int d = 0; d < MB_RG_N; d++)
        if (d != MB_RG_RUN && strcmp(a->d[d], b->d[d])) return 0;
    return 1;
}

/* Open addressing over `cap` (a power of two) slots of indices, -1 empty. */
static int *slots_new(int n, int *cap) {
    *cap = 16;
    while (*cap < 2 * n) *cap *= 2;
    int *t = malloc((size_t)*cap * sizeof *t);
    if (t) memset(t, 0xff, (size_t)*cap * sizeof *t);
    return t;
}

void mb_rp_summary_free(mb_rp_summary *S) {
    if (!S) return;
    for (int s = 0; S->setting_label && s < S->nsettings; s++) free(S->setting_label[s]);
    free(S->setting_label);
    free(S->base);
    free(S->declared);
    free(S->lines);
    free(S->cells);
    free(S->stat);
    free(S);
}

/* Settings of the plain groups, in order; set[g] is group g's setting (-1 for other kinds). */
static mb_status find_settings(mb_ctx *ctx, const mb_report *R, mb_rp_summary *S, int *set,
                               int *first) {
    int cap, *slot = slots_new(R->ngroups, &cap);
    if (!slot) return mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int g = 0; g < R->ngroups; g++) {
        set[g] = -1;
        if (R->groups[g].kind != MB_RK_PLAIN) continue;
        uint64_t h = setting_hash(&R->groups[g]);
        size_t k = (size_t)h & (size_t)(cap - 1);
        while (slot[k] >= 0 && !same_setting(&R->groups[first[slot[k]]], &R->groups[g]))
            k = (k + 1) & (size_t)(cap - 1);
        if (slot[k] < 0) {
            slot[k] = S->nsettings;
            first[S->nsettings++] = g;
        }
        set[g] = slot[k];
    }
    free(slot);
    return MB_OK;
}

static char *setting_label(const mb_report *R, const mb_rp_group *g) {
    mb_text b = {0};
    mb_text_add(&b, "%s: %s/%s/bs=%s/seq=%s/%s", g->d[MB_RG_SUITE], g->d[MB_RG_TARGET],
                g->d[MB_RG_MODEL], g->d[MB_RG_BS], g->d[MB_RG_SEQ], g->d[MB_RG_PREC]);
    if (R->many_tasks) mb_text_add(&b, "/%s", g->d[MB_RG_TASK]);
    return mb_text_take(&b);
}

/* Each setting's baseline cell per run: the first cell with a row marked baseline=1, else the
 * first cell of that setting and run in input order. */
static void find_baselines(const mb_report *R, mb_rp_summary *S, const int *set) {
    int nb = S->nsettings * S->nruns;
    for (int i = 0; i < nb; i++) S->base[i] = -1;
    for (int c = 0; c < R->ncells; c++) {
        const mb_rp_cell *cl = &R->cells[c];
        if (cl->kind != MB_RK_PLAIN) continue;
        int at = set[cl->group] * S->nruns + R->rows[cl->rows[0]].run, marked = 0;
        for (int i = 0; i < cl->n && !marked; i++)
            marked = !strcmp(R->rows[cl->rows[i]].s[MB_RC_BASELINE], "1");
        if (S->base[at] < 0 || (marked && !S->declared[at])) {
            S->base[at] = c;
            S->declared[at] = marked;
        }
    }
}

typedef struct sum_key {
    int line, order, setting, is_base;
} sum_key;

static int cmp_line(const void *a, const void *b) {
    const sum_key *x = a, *y = b;
    if (x->setting != y->setting) return x->setting < y->setting ? -1 : 1;
    if (x->is_base != y->is_base) return y->is_base - x->is_base;
    return (x->order > y->order) - (x->order < y->order);
}

/* Lines: one per (setting, method label), in input order, the baseline's first in its setting. */
static mb_status find_lines(mb_ctx *ctx, const mb_report *R, mb_rp_summary *S, const int *set) {
    int cap, *slot = slots_new(R->ncells, &cap),
             *line_of = calloc((size_t)R->ncells + 1, sizeof(int));
    mb_rp_sum_line *lines = calloc((size_t)R->ncells + 1, sizeof *lines);
    sum_key *key = calloc((size_t)R->ncells + 1, sizeof *key);
    int *cells = malloc(((size_t)R->ncells * (size_t)S->nruns + 1) * sizeof(int));
    mb_status st = MB_OK;
    if (!slot || !line_of || !lines || !key || !cells) {
        st = mb_error(ctx, MB_ENOMEM, "host allocation");
        goto out;
    }
    int n = 0;
    for (int c = 0; c < R->ncells; c++) {
        const mb_rp_cell *cl = &R->cells[c];
        line_of[c] = -1;
        if (cl->kind != MB_RK_PLAIN) continue;
        int s = set[cl->group];
        size_t k =
            (size_t)hash_str((uint64_t)s * 0x9e3779b97f4a7c15u, cl->method) & (size_t)(cap - 1);
        while (slot[k] >= 0 &&
               (lines[slot[k]].setting != s || strcmp(lines[slot[k]].method, cl->method)))
            k = (k + 1) & (size_t)(cap - 1);
        if (slot[k] < 0) {
            slot[k] = n;
            lines[n] = (mb_rp_sum_line){.setting = s, .method = cl->method, .cell = NULL};
            key[n] = (sum_key){.line = n, .order = n, .setting = s, .is_base = 0};
            for (int r = 0; r < S->nruns; r++) cells[(size_t)n * (size_t)S->nruns + (size_t)r] = -1;
            n++;
        }
        int l = slot[k], run = R->rows[cl->rows[0]].run;
        cells[(size_t)l * (size_t)S->nruns + (size_t)run] = c;
        line_of[c] = l;
    }
    /* The line of the first run's baseline (of any run's when the first lacks the setting). */
    for (int s = 0; s < S->nsettings; s++)
        for (int r = 0; r < S->nruns; r++) {
            int b = S->base[s * S->nruns + r];
            if (b < 0) continue;
            key[line_of[b]].is_base = 1;
            break;
        }
    qsort(key, (size_t)n, sizeof *key, cmp_line);
    S->lines = malloc(((size_t)n + 1) * sizeof *S->lines);
    S->cells = malloc(((size_t)n * (size_t)S->nruns + 1) * sizeof(int));
    if (!S->lines || !S->cells) {
        st = mb_error(ctx, MB_ENOMEM, "host allocation");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        S->lines[i] = lines[key[i].line];
        S->lines[i].cell = S->cells + (size_t)i * (size_t)S->nruns;
        memcpy(S->lines[i].cell, cells + (size_t)key[i].line * (size_t)S->nruns,
               (size_t)S->nruns * sizeof(int));
    }
    S->nlines = n;
out:
    free(slot);
    free(line_of);
    free(lines);
    free(key);
    free(cells);
    return st;
}

/* The categories some ok stack's bytes differ in from its ok baseline's. */
static void find_savings(mb_rp_summary *S) {
    for (int i = 0; i < S->nlines; i++)
        for (int r = 0; r < S->nruns; r++) {
            int c = S->lines[i].cell[r], b = S->base[S->lines[i].setting * S->nruns + r];
            if (c < 0 || b < 0 || c == b || !S->stat[c].nok || !S->stat[b].nok) continue;
            for (int k = 0; k < MB_MEM_NCAT; k++)
                S->show_cat[k] |= S->stat[c].cat[k] != S->stat[b].cat[k] &&
                                  isfinite(S->stat[c].cat[k]) && isfinite(S->stat[b].cat[k]);
        }
}

/* The runner's warning (harness/runner.c, warn_no_saving), for each run of each stack whose methods
 * differ from its baseline's. */
static void warn_no_saving(mb_report *R, const mb_rp_summary *S) {
    for (int i = 0; i < S->nlines; i++)
        for (int r = 0; r < S->nruns; r++) {
            int c = S->lines[i].cell[r], at = S->lines[i].setting * S->nruns + r, b = S->base[at];
            if (c < 0 || b < 0 || c == b) continue;
            const mb_rp_stat *sc = &S->stat[c], *sb = &S->stat[b];
            if (!sc->nok || !sb->nok || !isfinite(sc->peak) || !isfinite(sb->peak) ||
                sc->peak < sb->peak)
                continue;
            /* the baseline's own methods with other settings (a learning rate) are not meant to
             * save anything */
            if (!strcmp(R->rows[R->cells[c].rows[0]].s[MB_RC_STACK],
                        R->rows[R->cells[b].rows[0]].s[MB_RC_STACK]))
                continue;
            mb_text_add(&R->warnings,
                        "%s saves no memory against %s baseline %s: tracked peak %.3f MiB, "
                        "baseline %.3f MiB; check its settings (a rank at or above the matrix's "
                        "smaller side, say)\n",
                        R->cells[c].label, S->declared[at] ? "the suite's" : "its group's",
                        R->cells[b].method, sc->peak / MB_RP_MIB, sb->peak / MB_RP_MIB);
        }
}

mb_status mb_rp_summary_build(mb_ctx *ctx, mb_report *R) {
    mb_rp_summary *S = calloc(1, sizeof *S);
    int *set = calloc((size_t)R->ngroups + 1, sizeof *set);
    int *first = calloc((size_t)R->ngroups + 1, sizeof *first);
    double *tmp = calloc((size_t)R->nrows + 1, sizeof *tmp);
    mb_status st = MB_OK;
    if (!S || !set || !first || !tmp) {
        st = mb_error(ctx, MB_ENOMEM, "host allocation");
        goto out;
    }
    S->nruns = R->nruns;
    st = find_settings(ctx, R, S, set, first);
    if (st != MB_OK) goto out;
    size_t nb = (size_t)S->nsettings * (size_t)S->nruns + 1;
    S->setting_label = calloc((size_t)S->nsettings + 1, sizeof *S->setting_label);
    S->base = calloc(nb, sizeof *S->base);
    S->declared = calloc(nb, sizeof *S->declared);
    S->stat = calloc((size_t)R->ncells + 1, sizeof *S->stat);
    if (!S->setting_label || !S->base || !S->declared || !S->stat) {
        st = mb_error(ctx, MB_ENOMEM, "host allocation");
        goto out;
    }
    for (int s = 0; s < S->nsettings; s++)
        if (!(S->setting_label[s] = setting_label(R, &R->groups[first[s]]))) {
            st = mb_error(ctx, MB_ENOMEM, "host allocation");
            goto out;
        }
    for (int c = 0; c < R->ncells; c++) {
        if (R->cells[c].kind != MB_RK_PLAIN) continue;
        S->stat[c] = stat_of(R, &R->cells[c], tmp);
        for (int k = 0; k < MB_MEM_NCAT; k++) S->held_cat[k] |= S->stat[c].cat[k] > 0;
    }
    find_baselines(R, S, set);
    st = find_lines(ctx, R, S, set);
    if (st != MB_OK) goto out;
    find_savings(S);
    warn_no_saving(R, S);
    if (R->warnings.oom) st = mb_error(ctx, MB_ENOMEM, "host allocation");
out:
    free(set);
    free(first);
    free(tmp);
    if (st == MB_OK) {
        R->sum = S;
    } else {
        mb_rp_summary_free(S);
    }
    return st;
}
