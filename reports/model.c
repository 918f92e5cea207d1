/* reports/model.c — results rows into cells and groups: identity, method labels (the run label's
 * stack; for older files, the parameters that tell same-named stacks apart), group labels, and
 * per-cell aggregates over the ok repeats. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csvnum.h"
#include "label.h"

/* The results.csv column of each MB_RC_ below MB_RC_PEAK (the peaks are named per category). */
static const char *const col_names[MB_RC_PEAK] = {
    [MB_RC_SUITE] = "suite",           [MB_RC_TARGET] = "target",
    [MB_RC_MODEL] = "model",           [MB_RC_STACK] = "method_stack",
    [MB_RC_PARAMS] = "method_params",  [MB_RC_TASK] = "task",
    [MB_RC_BS] = "batch_size",         [MB_RC_SEQ] = "seq_len",
    [MB_RC_PREC] = "precision",        [MB_RC_SEARCH] = "search",
    [MB_RC_REPEAT] = "repeat",         [MB_RC_STATUS] = "status",
    [MB_RC_REASON] = "reason",         [MB_RC_HASH] = "config_hash",
    [MB_RC_METRIC_NAME] = "metric",    [MB_RC_LABEL] = "label",
    [MB_RC_BASELINE] = "baseline",     [MB_RC_TRACKED] = "tracked_peak_bytes",
    [MB_RC_PRED] = "pred_total_bytes", [MB_RC_MED] = "step_ms_median",
    [MB_RC_P10] = "step_ms_p10",       [MB_RC_P90] = "step_ms_p90",
    [MB_RC_TPS] = "tokens_per_s",      [MB_RC_METRIC] = "metric_value",
    [MB_RC_BSNUM] = "batch_size",
};

int mb_rp_is_ok(const mb_rp_row *r) {
    return !strcmp(r->s[MB_RC_STATUS], "ok");
}

static int kind_of(const char *search) {
    if (!*search) return MB_RK_PLAIN;
    if (!strcmp(search, "trial")) return MB_RK_TRIAL;
    if (!strcmp(search, "max_batch_size")) return MB_RK_MAXBATCH;
    return MB_RK_SEARCH_OTHER;
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

/* ---------------------------------------------------------------------------------------------
 * Method labels */

typedef struct rp_kv {
    const char *k, *v;
    int kn, vn;
} rp_kv;

/* "adamw.lr=0.003;adamw.beta1=0.9" into key/value spans (no copies). */
static int split_params(const char *p, rp_kv *kv, int max) {
    int n = 0;
    while (*p && n < max) {
        size_t len = strcspn(p, ";");
        const char *eq = memchr(p, '=', len);
        if (len) {
            kv[n].k = p;
            kv[n].kn = eq ? (int)(eq - p) : (int)len;
            kv[n].v = eq ? eq + 1 : p + len;
            kv[n].vn = eq ? (int)(len - (size_t)(eq - p) - 1) : 0;
            n++;
        }
        p += len;
        if (*p == ';') p++;
    }
    return n;
}

static const rp_kv *find_key(const rp_kv *kv, int n, const rp_kv *key) {
    for (int i = 0; i < n; i++)
        if (kv[i].kn == key->kn && !memcmp(kv[i].k, key->k, (size_t)key->kn)) return &kv[i];
    return NULL;
}

#define RP_MAX_PARAMS 256

static int same_value(const rp_kv *a, const rp_kv *b) {
    return a && b ? a->vn == b->vn && !memcmp(a->v, b->v, (size_t)a->vn) : a == b;
}

static void add_key(rp_kv *set, int *n, const rp_kv *key) {
    if (*n < RP_MAX_PARAMS && !find_key(set, *n, key)) set[(*n)++] = *key;
}

/* The stack part of the row's run label ("TARGET/MODEL/STACK/bs=B/seq=T/PREC/rN"): `run`'s name
 * for it, every parameter the suite set or that differs from its default. *out stays NULL when the
 * label is empty (an older file) or does not frame the row's own columns. */
static mb_status stack_from_label(mb_ctx *ctx, const mb_rp_row *r, char **out) {
    const char *label = r->s[MB_RC_LABEL];
    size_t len = mb_label_cell_len(label);
    if (!len) return MB_OK;
    mb_text pre = {0}, suf = {0};
    mb_text_add(&pre, "%s/%s/", r->s[MB_RC_TARGET], r->s[MB_RC_MODEL]);
    mb_text_add(&suf, "/bs=%s/seq=%s/%s", r->s[MB_RC_BS], r->s[MB_RC_SEQ], r->s[MB_RC_PREC]);
    mb_status st = pre.oom || suf.oom ? mb_error(ctx, MB_ENOMEM, "host allocation") : MB_OK;
    size_t np = pre.len, ns = suf.len;
    if (st == MB_OK && len > np + ns && !memcmp(label, mb_text_str(&pre), np) &&
        !memcmp(label + len - ns, mb_text_str(&suf), ns)) {
        mb_text b = {0};
        mb_text_add(&b, "%.*s", (int)(len - np - ns), label + np);
        if (!(*out = mb_text_take(&b))) st = mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    mb_text_free(&pre);
    mb_text_free(&suf);
    return st;
}

/* Labels every cell whose stack is that of cell `first`: method_stack, then in parentheses the
 * parameters whose value is not the same in every cell with that stack name (the other settings
 * of it in these results), so two adamw cells read apart. A key differs somewhere exactly when
 * some cell differs from the first one, so each cell is compared with the first only. */
static mb_status label_stack(mb_ctx *ctx, mb_report *R, int first) {
    const char *stack = R->rows[R->cells[first].rows[0]].s[MB_RC_STACK];
    rp_kv ref[RP_MAX_PARAMS], kv[RP_MAX_PARAMS], vary[RP_MAX_PARAMS];
    int nref = split_params(R->rows[R->cells[first].rows[0]].s[MB_RC_PARAMS], ref, RP_MAX_PARAMS);
    int nvary = 0;
    for (int c = first + 1; c < R->ncells; c++) {
        const mb_rp_row *o = &R->rows[R->cells[c].rows[0]];
        if (strcmp(o->s[MB_RC_STACK], stack)) continue;
        int n = split_params(o->s[MB_RC_PARAMS], kv, RP_MAX_PARAMS);
        for (int i = 0; i < n; i++)
            if (!same_value(&kv[i], find_key(ref, nref, &kv[i]))) add_key(vary, &nvary, &kv[i]);
        for (int i = 0; i < nref; i++)
            if (!find_key(kv, n, &ref[i])) add_key(vary, &nvary, &ref[i]);
    }
    /* In a one-method stack "adamw.lr" says nothing "lr" does not. */
    int strip = strchr(stack, '+') == NULL;
    for (int c = first; c < R->ncells; c++) {
        const mb_rp_row *o = &R->rows[R->cells[c].rows[0]];
        if (R->cells[c].method || strcmp(o->s[MB_RC_STACK], stack)) continue;
        int n = split_params(o->s[MB_RC_PARAMS], kv, RP_MAX_PARAMS), opened = 0;
        mb_text b = {0};
        mb_text_add(&b, "%s", stack);
        for (int i = 0; i < n; i++) {
            if (!find_key(vary, nvary, &kv[i])) continue;
            const char *k = kv[i].k;
            int kn = kv[i].kn;
            const char *dot = strip ? memchr(k, '.', (size_t)kn) : NULL;
            if (dot) {
                kn -= (int)(dot + 1 - k);
                k = dot + 1;
            }
            mb_text_add(&b, "%s%.*s=%.*s", opened ? "," : "(", kn, k, kv[i].vn, kv[i].v);
            opened = 1;
        }
        if (opened) mb_text_add(&b, ")");
        if (!(R->cells[c].method = mb_text_take(&b)))
            return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Loading */

mb_status mb_rp_add_results(mb_ctx *ctx, mb_report *R, int fi) {
    const mb_table *t = &R->res[fi];
    MB_TRY(mb_table_check_numbers(ctx, t, mb_results_num_kind));
    int col[MB_RC_N];
    for (int c = 0; c < MB_RC_N; c++) {
        char name[64];
        if (c >= MB_RC_PEAK)
            snprintf(name, sizeof name, "peak_%s_bytes", mb_mem_cat_name(c - MB_RC_PEAK));
        else
            snprintf(name, sizeof name, "%s", col_names[c]);
        col[c] = mb_table_col(t, name);
        /* `search`, `label` and `baseline` were appended to the schema later: older files read
         * as plain cells, labelled from their identity columns, with no declared baseline. */
        if (col[c] < 0 && c != MB_RC_SEARCH && c != MB_RC_LABEL && c != MB_RC_BASELINE)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: missing column '%s' (is this a membench results.csv?)", t->path,
                            name);
    }
    mb_rp_row *rows = realloc(R->rows, (size_t)(R->nrows + t->nrows + 1) * sizeof *rows);
    if (!rows) return mb_error(ctx, MB_ENOMEM, "host allocation");
    R->rows = rows;
    for (int r = 0; r < t->nrows; r++) {
        mb_rp_row *w = &R->rows[R->nrows++];
        memset(w, 0, sizeof *w);
        w->file = fi;
        w->run = R->nruns > 1 ? fi : 0;
        w->line = t->lines[r];
        w->cell = -1;
        for (int c = 0; c < MB_RC_N_TEXT; c++) w->s[c] = mb_table_get(t, r, col[c]);
        for (int c = MB_RC_TRACKED; c < MB_RC_N; c++) MB_RP_NUM(w, c) = mb_table_num(t, r, col[c]);
    }
    return MB_OK;
}

mb_status mb_rp_load_steps(mb_ctx *ctx, mb_report *R, const char *path) {
    mb_table *t = &R->steps[R->nsteps];
    MB_TRY(mb_table_load(ctx, path, t));
    R->nsteps++;
    MB_TRY(mb_table_check_numbers(ctx, t, mb_steps_num_kind));
    mb_rp_steps_cols *c = &R->scols[R->nsteps - 1];
    const struct {
        const char *name;
        int *col;
    } want[] = {
        {.name = "config_hash", .col = &c->hash},
        {.name = "phase", .col = &c->phase},
        {.name = "step", .col = &c->step},
        {.name = "loss", .col = &c->loss},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if ((*want[i].col = mb_table_col(t, want[i].name)) < 0)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: missing column '%s' (is this a membench steps.csv?)", path,
                            want[i].name);
    return MB_OK;
}

/* A search's batch size is its answer, not part of what was asked: repeats of one search that
 * found different answers are one cell. */
static int identity_col(const mb_rp_row *r, int c) {
    return !(c == MB_RC_BS && !strcmp(r->s[MB_RC_SEARCH], "max_batch_size"));
}

static unsigned long long identity_hash(const mb_rp_row *r) {
    unsigned long long h = 14695981039346656037ull;          /* FNV-1a */
    h = (h ^ (unsigned long long)r->run) * 1099511628211ull; /* runs side by side stay apart */
    for (int c = 0; c < MB_RC_N_IDENTITY; c++) {
        if (!identity_col(r, c)) continue;
        for (const unsigned char *p = (const unsigned char *)r->s[c]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull; /* a separator, so "ab","c" differs from "a","bc" */
    }
    return h;
}

static int same_identity(const mb_rp_row *a, const mb_rp_row *b) {
    if (a->idh != b->idh || a->run != b->run) return 0;
    for (int c = 0; c < MB_RC_N_IDENTITY; c++)
        if (identity_col(a, c) && strcmp(a->s[c], b->s[c])) return 0;
    return 1;
}

static const char *group_dim(const mb_report *R, const mb_rp_row *r, int d, int kind) {
    switch (d) {
    case MB_RG_RUN:
        return R->run_names[r->run];
    case MB_RG_MODEL:
        return r->s[MB_RC_MODEL];
    case MB_RG_TARGET:
        return r->s[MB_RC_TARGET];
    case MB_RG_BS:
        return kind == MB_RK_MAXBATCH ? "" : r->s[MB_RC_BS]; /* the batch is the answer there */
    case MB_RG_SEQ:
        return r->s[MB_RC_SEQ];
    case MB_RG_PREC:
        return r->s[MB_RC_PREC];
    case MB_RG_TASK:
        return r->s[MB_RC_TASK];
    default:
        return r->s[MB_RC_SUITE];
    }
}

mb_status mb_rp_build(mb_ctx *ctx, mb_report *R) {
    R->cells = calloc((size_t)R->nrows + 1, sizeof *R->cells);
    R->groups = calloc((size_t)R->nrows + 1, sizeof *R->groups);
    R->scratch = calloc(3 * (size_t)R->nrows + 1, sizeof *R->scratch);
    if (!R->cells || !R->groups || !R->scratch) return mb_error(ctx, MB_ENOMEM, "host allocation");
    /* Cells in order of first appearance; first each row finds its cell (rows[0] holds the
     * cell's first row meanwhile), then each cell gets an array of exactly its rows. */
    int *first = calloc((size_t)R->nrows + 1, sizeof *first);
    if (!first) return mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int i = 0; i < R->nrows; i++) {
        mb_rp_row *r = &R->rows[i];
        r->idh = identity_hash(r);
        int c = 0;
        while (c < R->ncells && !same_identity(&R->rows[first[c]], r)) c++;
        if (c == R->ncells) {
            first[c] = i;
            R->cells[c].kind = kind_of(r->s[MB_RC_SEARCH]);
            R->cells[c].group = -1;
            R->ncells++;
        }
        R->cells[c].n++;
        r->cell = c;
        if (strcmp(r->s[MB_RC_SUITE], R->rows[0].s[MB_RC_SUITE])) R->many_suites = 1;
        if (strcmp(r->s[MB_RC_TASK], R->rows[0].s[MB_RC_TASK])) R->many_tasks = 1;
    }
    free(first);
    for (int c = 0; c < R->ncells; c++) {
        if (!(R->cells[c].rows = malloc((size_t)R->cells[c].n * sizeof(int))))
            return mb_error(ctx, MB_ENOMEM, "host allocation");
        R->cells[c].n = 0;
    }
    for (int i = 0; i < R->nrows; i++) {
        mb_rp_cell *cl = &R->cells[R->rows[i].cell];
        cl->rows[cl->n++] = i;
    }
    /* Groups, for the cells a bar chart shows. */
    for (int c = 0; c < R->ncells; c++) {
        mb_rp_cell *cl = &R->cells[c];
        if (cl->kind != MB_RK_PLAIN && cl->kind != MB_RK_MAXBATCH) continue;
        const mb_rp_row *r = &R->rows[cl->rows[0]];
        int g = 0;
        for (; g < R->ngroups; g++) {
            if (R->groups[g].kind != cl->kind) continue;
            int d = 0;
            while (d < MB_RG_N && !strcmp(R->groups[g].d[d], group_dim(R, r, d, cl->kind))) d++;
            if (d == MB_RG_N) break;
        }
        if (g == R->ngroups) {
            R->groups[g].kind = cl->kind;
            for (int d = 0; d < MB_RG_N; d++) R->groups[g].d[d] = group_dim(R, r, d, cl->kind);
            R->ngroups++;
        }
        cl->group = g;
        for (int i = 0; i < cl->n; i++) R->groups[g].has_ok |= mb_rp_is_ok(&R->rows[cl->rows[i]]);
    }
    /* A group's label names what sets it apart from the other groups that get drawn: a target
     * where every cell ran out of memory adds no bar, so it should not lengthen every label. */
    for (int g = 0; g < R->ngroups; g++) {
        mb_rp_group *gr = &R->groups[g];
        mb_text b = {0};
        mb_text_add(&b, "%s", "");
        for (int d = 0; d < MB_RG_N; d++) {
            int varies = 0;
            for (int h = 0; h < R->ngroups && !varies; h++)
                varies = R->groups[h].kind == gr->kind && R->groups[h].has_ok &&
                         strcmp(R->groups[h].d[d], gr->d[d]);
            if (!varies) continue;
            static const char *const prefix[MB_RG_N] = {
                [MB_RG_RUN] = "",   [MB_RG_MODEL] = "",      [MB_RG_TARGET] = "",
                [MB_RG_BS] = "bs=", [MB_RG_SEQ] = "seq=",    [MB_RG_PREC] = "",
                [MB_RG_TASK] = "",  [MB_RG_SUITE] = "suite "};
            mb_text_add(&b, "%s%s%s", b.len ? " " : "", prefix[d], gr->d[d]);
        }
        if (!(gr->label = mb_text_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    /* Labels: the stack as the run's label names it (one label for a cell everywhere), else, for
     * an older file or a search, told apart by the parameters that vary. */
    for (int c = 0; c < R->ncells; c++)
        if (R->cells[c].kind == MB_RK_PLAIN)
            MB_TRY(stack_from_label(ctx, &R->rows[R->cells[c].rows[0]], &R->cells[c].method));
    for (int c = 0; c < R->ncells; c++)
        if (!R->cells[c].method) MB_TRY(label_stack(ctx, R, c));
    for (int c = 0; c < R->ncells; c++) {
        mb_rp_cell *cl = &R->cells[c];
        const mb_rp_row *r = &R->rows[cl->rows[0]];
        mb_text b = {0};
        if (R->nruns > 1) mb_text_add(&b, "%s: ", R->run_names[r->run]);
        if (R->many_suites) mb_text_add(&b, "%s:", r->s[MB_RC_SUITE]);
        /* the run's label less its "/rN", as compare shows it and --filter takes it */
        const char *run = cl->kind == MB_RK_PLAIN ? r->s[MB_RC_LABEL] : "";
        size_t len = mb_label_cell_len(run);
        if (len)
            mb_text_add(&b, "%.*s", (int)len, run);
        else
            mb_text_add(&b, "%s/%s/%s/bs=%s/seq=%s/%s", r->s[MB_RC_TARGET], r->s[MB_RC_MODEL],
                        cl->method, r->s[MB_RC_BS], r->s[MB_RC_SEQ], r->s[MB_RC_PREC]);
        if (R->many_tasks) mb_text_add(&b, "/%s", r->s[MB_RC_TASK]);
        if (cl->kind != MB_RK_PLAIN) mb_text_add(&b, " [%s]", r->s[MB_RC_SEARCH]);
        if (!(cl->label = mb_text_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    for (int i = 0; i < R->nrows; i++) {
        mb_rp_row *r = &R->rows[i];
        const mb_rp_cell *cl = &R->cells[r->cell];
        mb_text b = {0};
        /* The repeat goes where the runner's labels have it: after the precision. */
        const char *sp = cl->kind != MB_RK_PLAIN ? strstr(cl->label, " [") : NULL;
        int base = sp ? (int)(sp - cl->label) : (int)strlen(cl->label);
        mb_text_add(&b, "%.*s/r%s%s", base, cl->label, r->s[MB_RC_REPEAT], sp ? sp : "");
        if (!(r->label = mb_text_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Aggregates over a cell's ok rows (repeats) */

mb_rp_agg mb_rp_aggregate(const mb_report *R, const mb_rp_cell *cl) {
    mb_rp_agg a = {.nok = 0,
                   .peak_mib = NAN,
                   .peak_row = -1,
                   .pred_mib = NAN,
                   .ms = NAN,
                   .lo = NAN,
                   .hi = NAN,
                   .tps = NAN,
                   .metric = NAN,
                   .bs_min = NAN};
    double *ms = R->scratch, *tps = ms + cl->n, *met = tps + cl->n;
    int nms = 0, ntps = 0, nmet = 0;
    double best_sum = -1;
    for (int i = 0; i < cl->n; i++) {
        const mb_rp_row *r = &R->rows[cl->rows[i]];
        if (!mb_rp_is_ok(r)) continue;
        a.nok++;
        double t = MB_RP_NUM(r, MB_RC_TRACKED);
        if (isfinite(t) && !(t / MB_RP_MIB <= a.peak_mib)) a.peak_mib = t / MB_RP_MIB;
        double sum = 0;
        int k = 0;
        for (; k < MB_MEM_NCAT && isfinite(MB_RP_NUM(r, MB_RC_PEAK + k)); k++)
            sum += MB_RP_NUM(r, MB_RC_PEAK + k);
        if (k == MB_MEM_NCAT && sum > best_sum) {
            best_sum = sum;
            a.peak_row = cl->rows[i];
        }
        if (isnan(a.pred_mib) && isfinite(MB_RP_NUM(r, MB_RC_PRED)))
            a.pred_mib = MB_RP_NUM(r, MB_RC_PRED) / MB_RP_MIB;
        double m = MB_RP_NUM(r, MB_RC_MED), p10 = MB_RP_NUM(r, MB_RC_P10),
               p90 = MB_RP_NUM(r, MB_RC_P90);
        if (isfinite(m) && isfinite(p10) && isfinite(p90)) {
            ms[nms++] = m;
            if (!(p10 >= a.lo)) a.lo = p10;
            if (!(p90 <= a.hi)) a.hi = p90;
        }
        if (isfinite(MB_RP_NUM(r, MB_RC_TPS))) tps[ntps++] = MB_RP_NUM(r, MB_RC_TPS);
        if (isfinite(MB_RP_NUM(r, MB_RC_METRIC))) met[nmet++] = MB_RP_NUM(r, MB_RC_METRIC);
        double bs = MB_RP_NUM(r, MB_RC_BSNUM);
        if (isfinite(bs) && !(bs >= a.bs_min)) a.bs_min = bs;
    }
    a.ms = median(ms, nms);
    a.tps = median(tps, ntps);
    a.metric = median(met, nmet);
    return a;
}
