/* harness/compare.c — `membench compare`: the cells of two results.csv files matched by identity
 * and judged on status, memory (exact or within a tolerance), time (ratio AND Mann-Whitney U over
 * runs) and quality (median metric); printed, and written as Markdown and JUnit XML. */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/file.h"
#include "../reports/csvnum.h"
#include "../reports/csvtable.h"
#include "../reports/escape.h"
#include "../reports/label.h"
#include "../reports/metric.h"
#include "rounds.h"
#include "stats.h"

/* ---------------------------------------------------------------------------------------------
 * Columns */

/* A cell is these columns (DESIGN.md "Results"); rows that share them are repeats of one cell. */
enum { I_SUITE, I_TARGET, I_MODEL, I_STACK, I_PARAMS, I_TASK, I_BS, I_SEQ, I_PREC, I_SEARCH, NID };
static const char *const id_cols[NID] = {
    "suite", "target",     "model",   "method_stack", "method_params",
    "task",  "batch_size", "seq_len", "precision",    "search",
};

/* Memory figures gated: the tracked peak and the breakdown at that peak (mb_mem_cat order). */
#define NMEM 9
static const char *const mem_cols[NMEM] = {
    "tracked_peak_bytes",   "peak_weights_bytes",     "peak_grads_bytes",
    "peak_optimizer_bytes", "peak_activations_bytes", "peak_kv_cache_bytes",
    "peak_workspace_bytes", "peak_comm_bytes",        "peak_other_bytes",
};
static const char *const mem_names[NMEM] = {
    "tracked peak", "weights",   "grads", "optimizer", "activations",
    "kv_cache",     "workspace", "comm",  "other",
};

typedef struct cols {
    int id[NID], status, reason, mem[NMEM], time, metric, metric_value;
} cols;

/* ---------------------------------------------------------------------------------------------
 * A growable string; a failed allocation sticks (nomem) and is checked once at the end. */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int nomem;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->nomem) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->nomem = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 64;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->nomem = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* Takes the text (the caller frees it); NULL when an allocation failed along the way. */
static char *sb_take(sbuf *b) {
    char *s = b->nomem ? NULL : b->s ? b->s : strdup("");
    if (b->nomem) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Cells and findings */

enum { SIDE_BASE, SIDE_NEW };

typedef enum kind {
    F_REGRESSION,
    F_INCONCLUSIVE,
    F_IMPROVEMENT,
    F_NOTE,
    F_DIFFERS, /* the two sides ran different configurations: not gated */
    F_NKINDS
} kind;

typedef struct finding {
    int cell;
    kind kind;
    const char *gate; /* "memory", "time", "quality", "status", "missing", "new" */
    char *detail;     /* what follows "GATE: CELL: " */
} finding;

typedef struct cell {
    int *rows[2], n[2]; /* row indexes per file, in file order */
    const char *id[NID];
    char *label;
    mb_verdict verdict;
    int nkind[F_NKINDS];   /* findings about this cell, by kind */
    const char *status[2]; /* "ok" when every run is ok, else the first other status */
    /* figures for the table; has_* is 0 where a figure does not apply */
    int has_mem;
    int64_t mem[2]; /* tracked peak */
    int has_time, has_p;
    /* median(new) / median(base) of the figure the time gate judged (the cell's time over its
     * rounds' reference, or its raw time); p of the one-sided test in that direction */
    double ratio, p;
    double raw;    /* median(new) / median(base) of the step times as measured */
    char *differs; /* why the two sides are not comparable; NULL when they are */
    int has_q;
    const char *metric;
    double q[2];
} cell;

struct mb_compare {
    mb_compare_opts o;
    mb_table t[2];
    cols c[2];
    cell *cells;
    int ncells;
    finding *f;
    int nf, fcap;
    int many_suites, many_tasks;
    /* The time gate's view of the two files (plan_time): with MB_ROUNDS_MIN_CELLS shared cells or
     * more, each cell's time is judged over its rounds' reference (blocked), and a change of the
     * whole suite (shift, the median cell's ratio) only where both machines held steady. */
    int blocked;
    mb_rounds rounds[2];
    double shift, spread[2];
};

static mb_status nomem(mb_ctx *ctx) {
    return mb_error(ctx, MB_ENOMEM, "host allocation");
}

static const char *get(const mb_compare *C, int side, int row, int col) {
    return mb_table_get(&C->t[side], row, col);
}

static int is_ok(const mb_compare *C, int side, int row) {
    return !strcmp(get(C, side, row, C->c[side].status), "ok");
}

__attribute__((format(printf, 6, 7))) static mb_status
add_finding(mb_ctx *ctx, mb_compare *C, int cl, kind k, const char *gate, const char *fmt, ...) {
    if (C->nf == C->fcap) {
        int cap = C->fcap ? 2 * C->fcap : 32;
        finding *f = realloc(C->f, (size_t)cap * sizeof *f);
        if (!f) return nomem(ctx);
        C->f = f;
        C->fcap = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *d = strdup(buf);
    if (!d) return nomem(ctx);
    C->f[C->nf++] = (finding){cl, k, gate, d};
    C->cells[cl].nkind[k]++;
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Loading */

typedef struct col_need {
    int *dst;
    const char *name;
} col_need;

/* Every column a gate reads is required, so a file from elsewhere fails loudly instead of
 * comparing nothing; the rest (reason) only improves messages. */
static mb_status find_cols(mb_ctx *ctx, mb_compare *C, int side) {
    const mb_table *t = &C->t[side];
    cols *c = &C->c[side];
    col_need need[NID + NMEM + 4];
    int n = 0;
    for (int i = 0; i < NID; i++) need[n++] = (col_need){&c->id[i], id_cols[i]};
    need[n++] = (col_need){&c->status, "status"};
    for (int i = 0; i < NMEM; i++) need[n++] = (col_need){&c->mem[i], mem_cols[i]};
    need[n++] = (col_need){&c->time, "step_ms_p10"};
    need[n++] = (col_need){&c->metric, "metric"};
    need[n++] = (col_need){&c->metric_value, "metric_value"};
    for (int i = 0; i < n; i++)
        if ((*need[i].dst = mb_table_col(t, need[i].name)) < 0)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: missing column '%s' (is this a membench results.csv?)", t->path,
                            need[i].name);
    c->reason = mb_table_col(t, "reason"); /* only for messages */
    return MB_OK;
}

/* A whole number of bytes; *has = 0 for an empty cell. */
static mb_status read_bytes(mb_ctx *ctx, const mb_table *t, int row, int col, int64_t *v,
                            int *has) {
    const char *s = mb_table_get(t, row, col);
    *has = 0;
    if (!*s) return MB_OK;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno || x < 0)
        return mb_error(ctx, MB_EFORMAT, "%s:%d: %s: '%s' is not a number of bytes", t->path,
                        t->lines[row], t->cols[col], s);
    *v = x;
    *has = 1;
    return MB_OK;
}

/* A finite number; *has = 0 for an empty cell. */
static mb_status read_num(mb_ctx *ctx, const mb_table *t, int row, int col, double *v, int *has) {
    const char *s = mb_table_get(t, row, col);
    *has = 0;
    if (!*s) return MB_OK;
    double x = mb_table_num(t, row, col);
    if (!isfinite(x))
        return mb_error(ctx, MB_EFORMAT, "%s:%d: %s: '%s' is not a number", t->path, t->lines[row],
                        t->cols[col], s);
    *v = x;
    *has = 1;
    return MB_OK;
}

/* Rows are grouped into cells by sorting (side, row) entries on their identity key. */
typedef struct entry {
    char *key;
    int side, row;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    if (x->side != y->side) return x->side - y->side;
    return x->row - y->row;
}

/* Report order: the base file's order, then cells only in the new file in its order. */
static int cmp_cell_order(const void *a, const void *b) {
    const cell *x = a, *y = b;
    int xs = x->n[SIDE_BASE] ? 0 : 1, ys = y->n[SIDE_BASE] ? 0 : 1;
    if (xs != ys) return xs - ys;
    return x->rows[xs][0] - y->rows[ys][0];
}

static char *identity_key(const mb_compare *C, int side, int row) {
    sbuf b = {0};
    /* \x1f (unit separator) does not occur in a results.csv value. */
    for (int i = 0; i < NID; i++) sb_add(&b, "%s\x1f", get(C, side, row, C->c[side].id[i]));
    return sb_take(&b);
}

static mb_status group_cells(mb_ctx *ctx, mb_compare *C) {
    int n = C->t[0].nrows + C->t[1].nrows;
    entry *e = calloc((size_t)(n ? n : 1), sizeof *e);
    if (!e) return nomem(ctx);
    mb_status s = MB_OK;
    int k = 0;
    for (int side = 0; side < 2; side++)
        for (int r = 0; r < C->t[side].nrows; r++, k++) {
            e[k] = (entry){identity_key(C, side, r), side, r};
            if (!e[k].key) s = nomem(ctx);
        }
    if (s != MB_OK) goto done;
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    C->cells = calloc((size_t)(n ? n : 1), sizeof *C->cells);
    if (!C->cells) {
        s = nomem(ctx);
        goto done;
    }
    for (int a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && !strcmp(e[a].key, e[b].key); b++) {
        }
        cell *cl = &C->cells[C->ncells++];
        for (int i = a; i < b; i++) cl->n[e[i].side]++;
        for (int side = 0; side < 2; side++)
            if (cl->n[side] && !(cl->rows[side] = malloc((size_t)cl->n[side] * sizeof(int)))) {
                s = nomem(ctx);
                goto done;
            }
        int m[2] = {0, 0};
        for (int i = a; i < b; i++) cl->rows[e[i].side][m[e[i].side]++] = e[i].row;
        int side = cl->n[SIDE_BASE] ? SIDE_BASE : SIDE_NEW;
        for (int i = 0; i < NID; i++) cl->id[i] = get(C, side, cl->rows[side][0], C->c[side].id[i]);
    }
    qsort(C->cells, (size_t)C->ncells, sizeof *C->cells, cmp_cell_order);
done:
    for (int i = 0; i < n; i++) free(e[i].key);
    free(e);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Labels: target/model/method/bs=B/seq=T/precision, as the runner prints them (without /rN), with a
 * "suite:" prefix and a "/task" suffix only when the files hold several, and " [search]". */

typedef struct kv {
    const char *k, *v;
    int kn, vn;
} kv;

/* Parameters read per cell; a stack has a few dozen at most, and one past this only goes unshown.
 */
#define MAX_PARAMS 128

/* "adamw.lr=0.003;adamw.beta1=0.9" into spans. */
static int parse_params(const char *s, kv *out) {
    int n = 0;
    while (*s && n < MAX_PARAMS) {
        int len = (int)strcspn(s, ";");
        const char *eq = memchr(s, '=', (size_t)len);
        if (len) {
            int kn = eq ? (int)(eq - s) : len;
            out[n++] = (kv){s, eq ? eq + 1 : s + len, kn, eq ? len - kn - 1 : 0};
        }
        s += len + (s[len] == ';');
    }
    return n;
}

static const kv *kv_find(const kv *set, int n, const kv *key) {
    for (int i = 0; i < n; i++)
        if (set[i].kn == key->kn && !memcmp(set[i].k, key->k, (size_t)key->kn)) return &set[i];
    return NULL;
}

static int kv_same(const kv *a, const kv *b) {
    return a && b && a->vn == b->vn && !memcmp(a->v, b->v, (size_t)a->vn);
}

/* The method part of every label whose stack is that of cell c0: the stack name, then the
 * parameters that tell its cells apart, e.g. adamw(weight_decay=0.1). Parameters equal in every
 * cell of the stack say nothing and would make every line long. */
static mb_status label_stack(mb_ctx *ctx, mb_compare *C, int c0, char **method) {
    const char *stack = C->cells[c0].id[I_STACK];
    kv ref[MAX_PARAMS], cur[MAX_PARAMS], vary[MAX_PARAMS];
    int nref = parse_params(C->cells[c0].id[I_PARAMS], ref), nvary = 0;
    for (int c = c0 + 1; c < C->ncells; c++) {
        if (strcmp(C->cells[c].id[I_STACK], stack)) continue;
        int n = parse_params(C->cells[c].id[I_PARAMS], cur);
        for (int i = 0; i < n; i++)
            if (nvary < MAX_PARAMS && !kv_same(&cur[i], kv_find(ref, nref, &cur[i])) &&
                !kv_find(vary, nvary, &cur[i]))
                vary[nvary++] = cur[i];
        for (int i = 0; i < nref; i++)
            if (nvary < MAX_PARAMS && !kv_find(cur, n, &ref[i]) && !kv_find(vary, nvary, &ref[i]))
                vary[nvary++] = ref[i];
    }
    /* In a one-method stack "adamw.lr" says no more than "lr". */
    size_t sl = strlen(stack);
    int strip = strchr(stack, '+') == NULL;
    for (int c = c0; c < C->ncells; c++) {
        if (method[c] || strcmp(C->cells[c].id[I_STACK], stack)) continue;
        int n = parse_params(C->cells[c].id[I_PARAMS], cur), shown = 0;
        sbuf b = {0};
        sb_add(&b, "%s", stack);
        for (int i = 0; i < n; i++) {
            if (!kv_find(vary, nvary, &cur[i])) continue;
            const char *k = cur[i].k;
            int kn = cur[i].kn;
            if (strip && (size_t)kn > sl && !strncmp(k, stack, sl) && k[sl] == '.')
                k += sl + 1, kn -= (int)sl + 1;
            sb_add(&b, "%s%.*s=%.*s", shown++ ? "," : "(", kn, k, cur[i].vn, cur[i].v);
        }
        if (shown) sb_add(&b, ")");
        if (!(method[c] = sb_take(&b))) return nomem(ctx);
    }
    return MB_OK;
}

static mb_status make_labels(mb_ctx *ctx, mb_compare *C) {
    for (int c = 1; c < C->ncells; c++) {
        C->many_suites |= strcmp(C->cells[c].id[I_SUITE], C->cells[0].id[I_SUITE]) != 0;
        C->many_tasks |= strcmp(C->cells[c].id[I_TASK], C->cells[0].id[I_TASK]) != 0;
    }
    char **method = calloc((size_t)(C->ncells ? C->ncells : 1), sizeof *method);
    if (!method) return nomem(ctx);
    mb_status s = MB_OK;
    for (int c = 0; c < C->ncells && s == MB_OK; c++)
        if (!method[c]) s = label_stack(ctx, C, c, method);
    int lc[2] = {mb_table_col(&C->t[0], "label"), mb_table_col(&C->t[1], "label")};
    for (int c = 0; c < C->ncells && s == MB_OK; c++) {
        cell *cl = &C->cells[c];
        sbuf b = {0};
        if (C->many_suites) sb_add(&b, "%s:", cl->id[I_SUITE]);
        /* the label the run printed (and --filter takes), less its "/rN"; files written before
         * the label column get one built from the identity columns */
        int side = cl->n[SIDE_NEW] ? SIDE_NEW : SIDE_BASE;
        const char *run =
            lc[side] >= 0 && !*cl->id[I_SEARCH] ? get(C, side, cl->rows[side][0], lc[side]) : "";
        size_t len = mb_label_cell_len(run);
        if (len)
            sb_add(&b, "%.*s", (int)len, run);
        else
            sb_add(&b, "%s/%s/%s/bs=%s/seq=%s/%s", cl->id[I_TARGET], cl->id[I_MODEL], method[c],
                   cl->id[I_BS], cl->id[I_SEQ], cl->id[I_PREC]);
        if (C->many_tasks) sb_add(&b, "/%s", cl->id[I_TASK]);
        if (*cl->id[I_SEARCH]) sb_add(&b, " [%s]", cl->id[I_SEARCH]);
        if (!(cl->label = sb_take(&b))) s = nomem(ctx);
    }
    for (int c = 0; c < C->ncells; c++) free(method[c]);
    free(method);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * The gates */

static void fmt_pct(char *buf, size_t n, double frac) {
    snprintf(buf, n, "%+.2f%%", 100 * frac);
}

static mb_status gate_status(mb_ctx *ctx, mb_compare *C, int c) {
    cell *cl = &C->cells[c];
    int nbad[2] = {0, 0}, first_bad[2] = {-1, -1};
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < cl->n[side]; i++)
            if (!is_ok(C, side, cl->rows[side][i]) && nbad[side]++ == 0)
                first_bad[side] = cl->rows[side][i];
        cl->status[side] =
            first_bad[side] < 0 ? "ok" : get(C, side, first_bad[side], C->c[side].status);
    }
    if (!cl->n[SIDE_BASE] || !cl->n[SIDE_NEW]) return MB_OK;
    const char *reason =
        first_bad[SIDE_NEW] < 0 ? "" : get(C, SIDE_NEW, first_bad[SIDE_NEW], C->c[SIDE_NEW].reason);
    char runs[64] = "", why[600] = "";
    if (cl->n[SIDE_NEW] > 1)
        snprintf(runs, sizeof runs, " in %d of %d runs", nbad[SIDE_NEW], cl->n[SIDE_NEW]);
    if (*reason) snprintf(why, sizeof why, " (%.500s)", reason);
    if (!nbad[SIDE_BASE] && nbad[SIDE_NEW])
        return add_finding(ctx, C, c, F_REGRESSION, "status", "ok -> %s%s%s", cl->status[SIDE_NEW],
                           runs, why);
    if (nbad[SIDE_BASE] && !nbad[SIDE_NEW])
        return add_finding(ctx, C, c, F_IMPROVEMENT, "status", "%s -> ok", cl->status[SIDE_BASE]);
    if (nbad[SIDE_BASE] && strcmp(cl->status[SIDE_BASE], cl->status[SIDE_NEW]))
        return add_finding(ctx, C, c, F_NOTE, "status", "%s -> %s%s%s", cl->status[SIDE_BASE],
                           cl->status[SIDE_NEW], runs, why);
    return MB_OK;
}

/* Memory is deterministic, so repeats agree; the largest over a side's ok runs is taken so that a
 * run that somehow peaked higher is not hidden. */
static mb_status gate_memory(mb_ctx *ctx, mb_compare *C, int c) {
    cell *cl = &C->cells[c];
    for (int m = 0; m < NMEM; m++) {
        int64_t v[2] = {0, 0};
        int has[2] = {0, 0};
        for (int side = 0; side < 2; side++)
            for (int i = 0; i < cl->n[side]; i++) {
                int r = cl->rows[side][i], h;
                int64_t x;
                if (!is_ok(C, side, r)) continue;
                MB_TRY(read_bytes(ctx, &C->t[side], r, C->c[side].mem[m], &x, &h));
                if (h && (!has[side] || x > v[side])) v[side] = x;
                has[side] |= h;
            }
        if (!has[0] || !has[1]) continue;
        if (m == 0) {
            cl->has_mem = 1;
            cl->mem[0] = v[0];
            cl->mem[1] = v[1];
        }
        int64_t d = v[1] - v[0];
        double fr = C->o.mem_tol_frac * (double)v[0];
        int64_t allowed = C->o.mem_tol_bytes;
        if (fr > (double)allowed) allowed = (int64_t)fr;
        char tol[96] = "";
        if (allowed > 0 && C->o.mem_tol_frac > 0)
            snprintf(tol, sizeof tol, "%lld B (%g%% of %lld)", (long long)allowed,
                     100 * C->o.mem_tol_frac, (long long)v[0]);
        else
            snprintf(tol, sizeof tol, "%lld B", (long long)allowed);
        if (d > allowed)
            MB_TRY(add_finding(ctx, C, c, F_REGRESSION, "memory", "%s %+lld B (%lld -> %lld)%s%s",
                               mem_names[m], (long long)d, (long long)v[0], (long long)v[1],
                               allowed ? ", over the tolerance of " : "", allowed ? tol : ""));
        else if (d > 0)
            MB_TRY(add_finding(ctx, C, c, F_NOTE, "memory",
                               "%s %+lld B (%lld -> %lld), within the tolerance of %s",
                               mem_names[m], (long long)d, (long long)v[0], (long long)v[1], tol));
        else if (d < 0)
            MB_TRY(add_finding(ctx, C, c, F_IMPROVEMENT, "memory", "%s %lld B (%lld -> %lld)",
                               mem_names[m], (long long)d, (long long)v[0], (long long)v[1]));
    }
    return MB_OK;
}

/* Samples: step_ms_p10 of each ok run, the fast end of its steps, where background load (which only
 * ever adds time) intrudes least; a cell's runs are the independent samples (DESIGN.md: "timing
 * statistics use runs as samples"), the steps inside a run are not. Where the comparison is
 * blocked, rel[] gets each run's time over its round's reference (those rounds that have one). */
static mb_status time_samples(mb_ctx *ctx, const mb_compare *C, const cell *cl, int side, double *v,
                              int *n, double *rel, int *nrel) {
    *n = *nrel = 0;
    int rc = mb_table_col(&C->t[side], "repeat");
    for (int i = 0; i < cl->n[side]; i++) {
        int r = cl->rows[side][i], h;
        if (!is_ok(C, side, r)) continue;
        MB_TRY(read_num(ctx, &C->t[side], r, C->c[side].time, &v[*n], &h));
        if (!h || !(v[*n] > 0)) continue;
        if (C->blocked) {
            double ref = mb_rounds_ref(&C->rounds[side], atol(get(C, side, r, rc)));
            if (ref > 0) rel[(*nrel)++] = v[*n] / ref;
        }
        (*n)++;
    }
    return MB_OK;
}

/* The run count compare advises, the same number in every message and in `compare --help`: enough
 * runs a side that the U test can reach alpha with one run out of order, and never fewer than 7. */
int mb_compare_runs_advised(double alpha) {
    int k = 2;
    /* with one inversion between fully separated samples, P(U >= k*k - 1) = 2 / C(2k, k) */
    while (k < 1000 && 2 * mb_mwu_min_p(k, k) >= alpha) k++;
    return k < 7 ? 7 : k;
}

/* Too few runs or too much noise for the ratio seen: why the slowdown is only inconclusive. */
static void noise_hint(const mb_compare *C, int nb, int nn, char *hint, size_t len) {
    hint[0] = 0;
    double pmin = mb_mwu_min_p(nn, nb);
    if (pmin >= C->o.alpha)
        snprintf(hint, len,
                 "; %d vs %d runs cannot give p below %.3g: rerun with repeat: %d or more", nb, nn,
                 pmin, mb_compare_runs_advised(C->o.alpha));
    else
        snprintf(hint, len, ": too noisy, rerun (with repeat: %d or more if it stays)",
                 mb_compare_runs_advised(C->o.alpha));
}

/* How widely a cell's figure varies within a file: the upper quartile over the lower, the larger of
 * the two files'. A change smaller than that is the machine's, not the code's: past the ratio and
 * significant, it is still only inconclusive. Sorts v in place. */
static double noise_of(double *v[2], const int n[2]) {
    double w = 1;
    for (int side = 0; side < 2; side++) {
        double lo = mb_quantile(v[side], n[side], 0.25), hi = mb_quantile(v[side], n[side], 0.75);
        if (n[side] >= 4 && lo > 0 && hi / lo > w) w = hi / lo;
    }
    return w;
}

/* A slowdown past the ratio: a regression when significant and above the noise, else
 * inconclusive with what would settle it. */
static mb_status judge_slower(mb_ctx *ctx, mb_compare *C, int c, const char *what, double ratio,
                              double p, double noise, int nb, int nn) {
    double a = C->o.alpha;
    if (p < a && ratio > noise)
        return add_finding(ctx, C, c, F_REGRESSION, "time",
                           "%s, Mann-Whitney U p = %.3g < alpha %g", what, p, a);
    char hint[320];
    if (p < a)
        snprintf(hint, sizeof hint,
                 ", but within the noise: the middle half of a side's runs spans %.2fx; rerun on a "
                 "quieter machine",
                 noise);
    else {
        char more[120];
        noise_hint(C, nb, nn, more, sizeof more);
        snprintf(hint, sizeof hint, ", but not significant: Mann-Whitney U p = %.3g >= alpha %g%s",
                 p, a, more);
    }
    return add_finding(ctx, C, c, F_INCONCLUSIVE, "time", "%s%s", what, hint);
}

/* One-sided U test in the direction of the ratio: "new slower" or "new faster". */
static mb_status u_test(mb_ctx *ctx, const cell *cl, double *v[2], const int n[2], int slower,
                        mb_mwu *t) {
    mb_status s = slower ? mb_mann_whitney(v[1], n[1], v[0], n[0], t)
                         : mb_mann_whitney(v[0], n[0], v[1], n[1], t);
    return s == MB_OK ? MB_OK : mb_error(ctx, s, "Mann-Whitney U test for %s", cl->label);
}

/* Time, blocked: first the cell against the median cell of its own rounds (a slow phase of the
 * machine moves the whole round, not the cell); when the cell kept pace with its rounds but its
 * raw time moved (the whole suite did), that is judged only where both machines held steady. */
static mb_status gate_time_blocked(mb_ctx *ctx, mb_compare *C, int c, double *v[2], const int n[2],
                                   double *w[2], const int m[2], const double med[2]) {
    cell *cl = &C->cells[c];
    double q = mb_median(w[1], m[1]) / mb_median(w[0], m[0]), thr = C->o.time_ratio, a = C->o.alpha;
    int slower = q >= 1;
    mb_mwu t;
    MB_TRY(u_test(ctx, cl, w, m, slower, &t));
    cl->ratio = q;
    cl->has_p = 1;
    cl->p = t.p;
    if (C->o.ignore_time) return MB_OK;
    char what[320];
    snprintf(what, sizeof what,
             "%.2fx %s against the median cell of its rounds (raw median p10 step %.4g -> %.4g ms, "
             "%.2fx, over %d vs %d runs)",
             slower ? q : 1 / q, slower ? "slower" : "faster", med[0], med[1], cl->raw, m[0], m[1]);
    double noise = noise_of(w, m);
    if (slower && q > thr) return judge_slower(ctx, C, c, what, q, t.p, noise, m[0], m[1]);
    if (!slower && 1 / q > thr && t.p < a && 1 / q > noise)
        return add_finding(ctx, C, c, F_IMPROVEMENT, "time", "%s, Mann-Whitney U p = %.3g", what,
                           t.p);
    /* The cell kept pace with its rounds; did the whole suite move? */
    double r = cl->raw;
    int rslower = r >= 1;
    if ((rslower ? r : 1 / r) <= thr) return MB_OK;
    MB_TRY(u_test(ctx, cl, v, n, rslower, &t));
    cl->ratio = r; /* the table shows the figure the finding is about */
    cl->p = t.p;
    int steady = C->spread[0] <= thr && C->spread[1] <= thr;
    snprintf(
        what, sizeof what,
        "%.2fx %s (median p10 step %.4g -> %.4g ms over %d vs %d runs) with the whole suite (its "
        "median cell %.2fx)",
        rslower ? r : 1 / r, rslower ? "slower" : "faster", med[0], med[1], n[0], n[1], C->shift);
    if (!steady) {
        if (rslower)
            return add_finding(ctx, C, c, F_INCONCLUSIVE, "time",
                               "%s, while the machine's speed moved %.2fx between rounds in BASE "
                               "and %.2fx in NEW: a change that slows every cell cannot be told "
                               "from the machine; rerun both on a quiet machine",
                               what, C->spread[0], C->spread[1]);
        return MB_OK;
    }
    noise = noise_of(v, n);
    if (!rslower) {
        if (t.p < a && 1 / r > noise)
            return add_finding(ctx, C, c, F_IMPROVEMENT, "time",
                               "%s, the machine steady (rounds within %.2fx and %.2fx), "
                               "Mann-Whitney U p = %.3g",
                               what, C->spread[0], C->spread[1], t.p);
        return MB_OK;
    }
    size_t l = strlen(what);
    snprintf(what + l, sizeof what - l, ", the machine steady (rounds within %.2fx and %.2fx)",
             C->spread[0], C->spread[1]);
    return judge_slower(ctx, C, c, what, r, t.p, noise, n[0], n[1]);
}

/* Time, unblocked (fewer shared cells than a round reference needs): the raw times. */
static mb_status gate_time_raw(mb_ctx *ctx, mb_compare *C, int c, double *v[2], const int n[2],
                               const double med[2]) {
    cell *cl = &C->cells[c];
    int slower = cl->ratio >= 1;
    mb_mwu t;
    MB_TRY(u_test(ctx, cl, v, n, slower, &t));
    cl->has_p = 1;
    cl->p = t.p;
    if (C->o.ignore_time) return MB_OK;
    double a = C->o.alpha;
    char what[256];
    snprintf(what, sizeof what, "%.2fx %s (median p10 step %.4g -> %.4g ms over %d vs %d runs)",
             slower ? cl->ratio : 1 / cl->ratio, slower ? "slower" : "faster", med[0], med[1], n[0],
             n[1]);
    double noise = noise_of(v, n);
    if (slower && cl->ratio > C->o.time_ratio)
        return judge_slower(ctx, C, c, what, cl->ratio, t.p, noise, n[0], n[1]);
    if (!slower && 1 / cl->ratio > C->o.time_ratio && t.p < a && 1 / cl->ratio > noise)
        return add_finding(ctx, C, c, F_IMPROVEMENT, "time", "%s, Mann-Whitney U p = %.3g", what,
                           t.p);
    return MB_OK;
}

static mb_status gate_time(mb_ctx *ctx, mb_compare *C, int c) {
    cell *cl = &C->cells[c];
    double *v[2] = {NULL, NULL}, *w[2] = {NULL, NULL};
    mb_status s = MB_OK;
    for (int side = 0; side < 2; side++) {
        v[side] = malloc((size_t)(cl->n[side] + 1) * sizeof(double));
        w[side] = malloc((size_t)(cl->n[side] + 1) * sizeof(double));
        if (!v[side] || !w[side]) s = nomem(ctx);
    }
    int n[2] = {0, 0}, m[2] = {0, 0};
    for (int side = 0; side < 2 && s == MB_OK; side++)
        s = time_samples(ctx, C, cl, side, v[side], &n[side], w[side], &m[side]);
    if (s == MB_OK && n[0] && n[1]) {
        /* mb_median sorts in place; neither the U test nor the rest depend on the order */
        double med[2] = {mb_median(v[0], n[0]), mb_median(v[1], n[1])};
        cl->has_time = 1;
        cl->ratio = cl->raw = med[1] / med[0];
        s = C->blocked && m[0] && m[1] ? gate_time_blocked(ctx, C, c, v, n, w, m, med)
                                       : gate_time_raw(ctx, C, c, v, n, med);
    }
    for (int side = 0; side < 2; side++) {
        free(v[side]);
        free(w[side]);
    }
    return s;
}

static mb_status gate_quality(mb_ctx *ctx, mb_compare *C, int c) {
    cell *cl = &C->cells[c];
    const char *metric[2] = {"", ""};
    double med[2];
    for (int side = 0; side < 2; side++) {
        double *v = malloc((size_t)(cl->n[side] + 1) * sizeof *v);
        if (!v) return nomem(ctx);
        int n = 0;
        for (int i = 0; i < cl->n[side]; i++) {
            int r = cl->rows[side][i], h;
            if (!is_ok(C, side, r)) continue;
            const char *m = get(C, side, r, C->c[side].metric);
            if (!*metric[side]) metric[side] = m;
            mb_status s = read_num(ctx, &C->t[side], r, C->c[side].metric_value, &v[n], &h);
            if (s != MB_OK) {
                free(v);
                return s;
            }
            n += h;
        }
        med[side] = mb_median(v, n);
        free(v);
    }
    if (!*metric[0] || !*metric[1] || isnan(med[0]) || isnan(med[1])) return MB_OK;
    if (strcmp(metric[0], metric[1]))
        return add_finding(ctx, C, c, F_NOTE, "quality",
                           "the metric is %s in BASE and %s in NEW: not compared", metric[0],
                           metric[1]);
    cl->has_q = 1;
    cl->metric = metric[0];
    cl->q[0] = med[0];
    cl->q[1] = med[1];
    const char *dir = mb_metric_direction(metric[0]);
    if (!dir)
        return add_finding(ctx, C, c, F_NOTE, "quality",
                           "metric '%s' not gated (known: loss, perplexity: lower is "
                           "better; accuracy: higher is better)",
                           metric[0]);
    /* Relative to the base value; from a base of exactly 0 the change itself is compared. */
    double change = med[0] != 0 ? (med[1] - med[0]) / fabs(med[0]) : med[1] - med[0];
    double worse = !strcmp(dir, "lower") ? change : -change;
    char pct[32];
    fmt_pct(pct, sizeof pct, change);
    if (worse > C->o.quality_tol)
        return add_finding(ctx, C, c, F_REGRESSION, "quality",
                           "%s %.6g -> %.6g (%s, %s is better; tolerance %g%%)", metric[0], med[0],
                           med[1], pct, dir, 100 * C->o.quality_tol);
    if (-worse > C->o.quality_tol)
        return add_finding(ctx, C, c, F_IMPROVEMENT, "quality",
                           "%s %.6g -> %.6g (%s, %s is better)", metric[0], med[0], med[1], pct,
                           dir);
    return MB_OK;
}

/* Whether the cell's runs on the two sides share a configuration (a config hash in common); when
 * they share none, `why` names the fields that differ between the first run of each side, or says
 * that only the hash does (data, model shape, evaluation). Files without config_hash pass. */
static int config_differs(const mb_compare *C, const cell *cl, char *why, size_t n) {
    int h[2] = {mb_table_col(&C->t[0], "config_hash"), mb_table_col(&C->t[1], "config_hash")};
    if (h[0] < 0 || h[1] < 0) return 0;
    for (int i = 0; i < cl->n[1]; i++)
        for (int k = 0; k < cl->n[0]; k++)
            if (!strcmp(get(C, 1, cl->rows[1][i], h[1]), get(C, 0, cl->rows[0][k], h[0]))) return 0;
    static const char *const fields[] = {"steps", "warmup_steps", "seed"};
    size_t used = 0;
    why[0] = 0;
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        int col[2] = {mb_table_col(&C->t[0], fields[f]), mb_table_col(&C->t[1], fields[f])};
        if (col[0] < 0 || col[1] < 0) continue;
        const char *v[2] = {get(C, 0, cl->rows[0][0], col[0]), get(C, 1, cl->rows[1][0], col[1])};
        if (!strcmp(v[0], v[1])) continue;
        if (used < n)
            used += (size_t)snprintf(why + used, n - used, "%s%s %.40s in BASE, %.40s in NEW",
                                     used ? "; " : "", fields[f], v[0], v[1]);
    }
    if (!used)
        snprintf(why, n,
                 "config_hash differs, the columns alike: the data, the model's shape or "
                 "the evaluation differ (see each run.json)");
    return 1;
}

/* Before any cell is judged: which cells are comparable, each file's rounds over the cells both
 * share (ok runs), how far the machine's speed moved between them, and the whole suite's shift (the
 * median over those cells of their raw time ratios). */
static mb_status plan_time(mb_ctx *ctx, mb_compare *C) {
    char why[512];
    for (int c = 0; c < C->ncells; c++) {
        cell *cl = &C->cells[c];
        if (cl->n[0] && cl->n[1] && config_differs(C, cl, why, sizeof why) &&
            !(cl->differs = strdup(why)))
            return nomem(ctx);
    }
    int rc[2] = {mb_table_col(&C->t[0], "repeat"), mb_table_col(&C->t[1], "repeat")};
    if (rc[0] < 0 || rc[1] < 0) return MB_OK;
    int cap = C->t[0].nrows + C->t[1].nrows + 1, nshared = 0;
    long *rep = malloc((size_t)cap * sizeof *rep);
    double *ms = malloc((size_t)cap * sizeof *ms), *ratio = malloc((size_t)cap * sizeof *ratio),
           *one = malloc((size_t)cap * sizeof *one);
    mb_status s = rep && ms && ratio && one ? MB_OK : nomem(ctx);
    for (int side = 0; side < 2 && s == MB_OK; side++) {
        int n = 0;
        for (int c = 0; c < C->ncells && s == MB_OK; c++) {
            const cell *cl = &C->cells[c];
            if (!cl->n[0] || !cl->n[1] || cl->differs) continue;
            for (int i = 0; i < cl->n[side] && s == MB_OK; i++) {
                int r = cl->rows[side][i], h;
                if (!is_ok(C, side, r)) continue;
                s = read_num(ctx, &C->t[side], r, C->c[side].time, &ms[n], &h);
                if (s == MB_OK && h && ms[n] > 0) rep[n++] = atol(get(C, side, r, rc[side]));
            }
        }
        if (s == MB_OK) s = mb_rounds_build(ctx, rep, ms, n, &C->rounds[side]);
        if (s == MB_OK) C->spread[side] = mb_rounds_spread(&C->rounds[side]);
    }
    /* the whole suite's shift: each shared cell's raw median ratio, their median */
    for (int c = 0; c < C->ncells && s == MB_OK; c++) {
        const cell *cl = &C->cells[c];
        if (!cl->n[0] || !cl->n[1] || cl->differs) continue;
        double med[2];
        for (int side = 0; side < 2 && s == MB_OK; side++) {
            int n = 0;
            for (int i = 0; i < cl->n[side] && s == MB_OK; i++) {
                int r = cl->rows[side][i], h;
                if (!is_ok(C, side, r)) continue;
                s = read_num(ctx, &C->t[side], r, C->c[side].time, &one[n], &h);
                if (s == MB_OK && h && one[n] > 0) n++;
            }
            med[side] = n ? mb_median(one, n) : NAN;
        }
        if (s == MB_OK && med[0] > 0 && med[1] > 0) ratio[nshared++] = med[1] / med[0];
    }
    if (s == MB_OK && nshared >= MB_ROUNDS_MIN_CELLS && C->rounds[0].n && C->rounds[1].n) {
        C->blocked = 1;
        C->shift = mb_median(ratio, nshared);
    }
    free(rep);
    free(ms);
    free(ratio);
    free(one);
    return s;
}

static mb_status judge(mb_ctx *ctx, mb_compare *C, int c) {
    cell *cl = &C->cells[c];
    MB_TRY(gate_status(ctx, C, c));
    if (!cl->n[SIDE_NEW])
        return add_finding(ctx, C, c, F_REGRESSION, "missing", "in BASE (%d run%s), not in NEW",
                           cl->n[SIDE_BASE], cl->n[SIDE_BASE] == 1 ? "" : "s");
    if (!cl->n[SIDE_BASE])
        return add_finding(ctx, C, c, F_NOTE, "new", "only in NEW (%d run%s, %s)", cl->n[SIDE_NEW],
                           cl->n[SIDE_NEW] == 1 ? "" : "s", cl->status[SIDE_NEW]);
    if (cl->differs)
        return add_finding(ctx, C, c, F_DIFFERS, "config", "not comparable, not gated: %s",
                           cl->differs);
    MB_TRY(gate_memory(ctx, C, c));
    MB_TRY(gate_time(ctx, C, c));
    return gate_quality(ctx, C, c);
}

static void set_verdicts(mb_compare *C) {
    for (int c = 0; c < C->ncells; c++) {
        cell *cl = &C->cells[c];
        const int *k = cl->nkind;
        if (!cl->n[SIDE_NEW])
            cl->verdict = MB_VERDICT_MISSING;
        else if (k[F_REGRESSION])
            cl->verdict = MB_VERDICT_REGRESSION;
        else if (k[F_INCONCLUSIVE])
            cl->verdict = MB_VERDICT_INCONCLUSIVE;
        else if (k[F_DIFFERS])
            cl->verdict = MB_VERDICT_DIFFERS;
        else if (!cl->n[SIDE_BASE])
            cl->verdict = MB_VERDICT_NEW;
        else if (k[F_IMPROVEMENT])
            cl->verdict = MB_VERDICT_IMPROVED;
        else
            cl->verdict = MB_VERDICT_OK;
    }
}

void mb_compare_opts_default(mb_compare_opts *o) {
    memset(o, 0, sizeof *o);
    o->time_ratio = MB_COMPARE_TIME_RATIO;
    o->alpha = MB_COMPARE_ALPHA;
    o->quality_tol = MB_COMPARE_QUALITY_TOL;
}

mb_status mb_compare_run(mb_ctx *ctx, const char *base_path, const char *new_path,
                         const mb_compare_opts *o, mb_compare **out) {
    *out = NULL;
    mb_compare *C = calloc(1, sizeof *C);
    if (!C) return nomem(ctx);
    C->o = *o;
    const char *path[2] = {base_path, new_path};
    mb_status s = MB_OK;
    for (int side = 0; side < 2 && s == MB_OK; side++) {
        s = mb_table_load(ctx, path[side], &C->t[side]);
        if (s == MB_OK) s = mb_table_check_numbers(ctx, &C->t[side], mb_results_num_kind);
        if (s == MB_OK) s = find_cols(ctx, C, side);
    }
    if (s == MB_OK) s = group_cells(ctx, C);
    if (s == MB_OK) s = make_labels(ctx, C);
    if (s == MB_OK) s = plan_time(ctx, C);
    for (int c = 0; c < C->ncells && s == MB_OK; c++) s = judge(ctx, C, c);
    if (s != MB_OK) {
        mb_compare_free(C);
        return s;
    }
    set_verdicts(C);
    *out = C;
    return MB_OK;
}

void mb_compare_free(mb_compare *C) {
    if (!C) return;
    for (int c = 0; c < C->ncells; c++) {
        free(C->cells[c].rows[0]);
        free(C->cells[c].rows[1]);
        free(C->cells[c].label);
        free(C->cells[c].differs);
    }
    mb_rounds_free(&C->rounds[0]);
    mb_rounds_free(&C->rounds[1]);
    free(C->cells);
    for (int i = 0; i < C->nf; i++) free(C->f[i].detail);
    free(C->f);
    mb_table_free(&C->t[0]);
    mb_table_free(&C->t[1]);
    free(C);
}

/* ---------------------------------------------------------------------------------------------
 * Results */

const char *mb_verdict_name(mb_verdict v) {
    static const char *const names[] = {"ok",           "improved", "new",       "differs",
                                        "inconclusive", "missing",  "REGRESSION"};
    return (unsigned)v < sizeof names / sizeof *names ? names[v] : "?";
}

void mb_compare_count(const mb_compare *C, mb_compare_counts *n) {
    memset(n, 0, sizeof *n);
    n->cells = C->ncells;
    for (int c = 0; c < C->ncells; c++) switch (C->cells[c].verdict) {
        case MB_VERDICT_OK:
            n->ok++;
            break;
        case MB_VERDICT_IMPROVED:
            n->improved++;
            break;
        case MB_VERDICT_NEW:
            n->new_cells++;
            break;
        case MB_VERDICT_DIFFERS:
            n->differs++;
            break;
        case MB_VERDICT_INCONCLUSIVE:
            n->inconclusive++;
            break;
        case MB_VERDICT_MISSING:
            n->missing++;
            break;
        case MB_VERDICT_REGRESSION:
            n->regressions++;
            break;
        }
    for (int i = 0; i < C->nf; i++) {
        n->findings_regression += C->f[i].kind == F_REGRESSION;
        n->findings_inconclusive += C->f[i].kind == F_INCONCLUSIVE;
    }
}

mb_verdict mb_compare_verdict(const mb_compare *C) {
    mb_verdict v = MB_VERDICT_OK;
    for (int c = 0; c < C->ncells; c++)
        if (C->cells[c].verdict > v) v = C->cells[c].verdict;
    /* The worst of a whole comparison reads as one of three outcomes. */
    if (v == MB_VERDICT_MISSING) return MB_VERDICT_REGRESSION;
    if (v == MB_VERDICT_DIFFERS) return MB_VERDICT_INCONCLUSIVE; /* nothing to judge them by */
    if (v == MB_VERDICT_NEW || v == MB_VERDICT_IMPROVED) return MB_VERDICT_OK;
    return v;
}

/* The table's figures as text ("-" where they do not apply). */
typedef struct figs {
    char status[80], runs[32], mem[48], ratio[24], p[24], quality[96];
} figs;

static void cell_figs(const mb_compare *C, const cell *cl, figs *f) {
    snprintf(f->runs, sizeof f->runs, "%d:%d", cl->n[0], cl->n[1]);
    if (!cl->n[0] || !cl->n[1] || !strcmp(cl->status[0], cl->status[1]))
        snprintf(f->status, sizeof f->status, "%.30s", cl->status[cl->n[0] ? 0 : 1]);
    else
        snprintf(f->status, sizeof f->status, "%.30s->%.30s", cl->status[0], cl->status[1]);
    if (cl->has_mem) {
        long long d = (long long)(cl->mem[1] - cl->mem[0]);
        if (d)
            snprintf(f->mem, sizeof f->mem, "%+lld B", d);
        else
            snprintf(f->mem, sizeof f->mem, "0 B");
    } else
        snprintf(f->mem, sizeof f->mem, "-");
    if (cl->has_time)
        snprintf(f->ratio, sizeof f->ratio, "%.2fx%s", cl->ratio, C->o.ignore_time ? "*" : "");
    else
        snprintf(f->ratio, sizeof f->ratio, "-");
    if (cl->has_p)
        snprintf(f->p, sizeof f->p, "%.3g", cl->p);
    else
        snprintf(f->p, sizeof f->p, "-");
    if (cl->has_q) {
        char pct[32];
        fmt_pct(pct, sizeof pct,
                cl->q[0] != 0 ? (cl->q[1] - cl->q[0]) / fabs(cl->q[0]) : cl->q[1] - cl->q[0]);
        snprintf(f->quality, sizeof f->quality, "%.40s %s", cl->metric, pct);
    } else
        snprintf(f->quality, sizeof f->quality, "-");
}

static const char *const kind_title[F_NKINDS] = {
    "regressions", "inconclusive (too noisy: rerun)", "improvements", "notes",
    "not comparable (the configurations differ: rerun BASE, or update it)"};

static void gates_text(const mb_compare *C, char *buf, size_t n) {
    char mem[96];
    if (C->o.mem_tol_bytes || C->o.mem_tol_frac)
        snprintf(mem, sizeof mem, "memory growth up to %lld B or %g%%",
                 (long long)C->o.mem_tol_bytes, 100 * C->o.mem_tol_frac);
    else
        snprintf(mem, sizeof mem, "memory exact");
    char tm[192];
    if (C->o.ignore_time)
        snprintf(tm, sizeof tm, "time ignored");
    else if (C->blocked)
        snprintf(tm, sizeof tm,
                 "time: each cell over its rounds' median cell, ratio > %.2f and Mann-Whitney U "
                 "p < %g",
                 C->o.time_ratio, C->o.alpha);
    else
        snprintf(tm, sizeof tm, "time: ratio > %.2f and Mann-Whitney U p < %g", C->o.time_ratio,
                 C->o.alpha);
    snprintf(buf, n, "%s; %s; quality tolerance %g%%", mem, tm, 100 * C->o.quality_tol);
}

static void summary_text(const mb_compare *C, char *buf, size_t n) {
    mb_compare_counts k;
    mb_compare_count(C, &k);
    snprintf(buf, n,
             "%d cell%s: %d ok, %d regression%s, %d inconclusive, %d improved, %d new, %d missing",
             k.cells, k.cells == 1 ? "" : "s", k.ok, k.regressions, k.regressions == 1 ? "" : "s",
             k.inconclusive, k.improved, k.new_cells, k.missing);
    if (k.differs) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, ", %d not comparable (configurations differ)", k.differs);
    }
}

void mb_compare_print(const mb_compare *C, FILE *fp) {
    int w = 4;
    for (int c = 0; c < C->ncells; c++) {
        int l = (int)strlen(C->cells[c].label);
        if (l > w) w = l;
    }
    char gates[400];
    gates_text(C, gates, sizeof gates);
    fprintf(fp, "base: %s\nnew:  %s\ngates: %s\n", C->t[0].path, C->t[1].path, gates);
    if (C->blocked)
        fprintf(fp,
                "rounds: %d in BASE, %d in NEW; the machine's speed moved %.2fx and %.2fx between "
                "them; the whole suite's median cell %.2fx\n",
                C->rounds[0].n, C->rounds[1].n, C->spread[0], C->spread[1], C->shift);
    fputc('\n', fp);
    fprintf(fp, "%-12s  %-*s  %-9s  %7s  %14s  %7s  %9s  %s\n", "verdict", w, "cell", "status",
            "runs", "memory", "time", "p", "quality");
    for (int c = 0; c < C->ncells; c++) {
        const cell *cl = &C->cells[c];
        figs f;
        cell_figs(C, cl, &f);
        fprintf(fp, "%-12s  %-*s  %-9s  %7s  %14s  %7s  %9s  %s\n", mb_verdict_name(cl->verdict), w,
                cl->label, f.status, f.runs, f.mem, f.ratio, f.p, f.quality);
    }
    if (C->o.ignore_time && C->ncells) fprintf(fp, "* --ignore-time: time gates nothing\n");
    for (int k = 0; k < F_NKINDS; k++) {
        int n = 0;
        for (int i = 0; i < C->nf; i++) n += C->f[i].kind == (kind)k;
        if (!n) continue;
        fprintf(fp, "\n%s (%d):\n", kind_title[k], n);
        for (int i = 0; i < C->nf; i++)
            if (C->f[i].kind == (kind)k)
                fprintf(fp, "  %s: %s: %s\n", C->f[i].gate, C->cells[C->f[i].cell].label,
                        C->f[i].detail);
    }
    char sum[256];
    summary_text(C, sum, sizeof sum);
    mb_verdict v = mb_compare_verdict(C);
    mb_compare_counts kc;
    mb_compare_count(C, &kc);
    fprintf(fp, "\n%s\nresult: %s\n", sum,
            v == MB_VERDICT_REGRESSION ? "REGRESSION"
            : v == MB_VERDICT_INCONCLUSIVE && kc.differs && !kc.inconclusive
                ? "INCONCLUSIVE (cells ran with other configurations: rerun BASE with this suite)"
            : v == MB_VERDICT_INCONCLUSIVE ? "INCONCLUSIVE (too noisy: rerun with more repeats)"
                                           : "OK");
}

/* Markdown prose and code spans, and XML text, as report.md and index.html escape them
 * (reports/escape.h): valid UTF-8, no code span a name can close early. */
typedef void (*escaper)(mb_text *b, const char *s);

static void put_escaped(FILE *fp, escaper esc, const char *s) {
    mb_text t = {0};
    esc(&t, s);
    fputs(mb_text_str(&t), fp); /* on a failed allocation nothing: the file is incomplete, */
    if (t.oom) fputc('\0', fp); /* and a NUL makes it invalid rather than silently short */
    mb_text_free(&t);
}

static void md_text(FILE *fp, const char *s) {
    put_escaped(fp, mb_esc_md_text, s);
}

static void md_code(FILE *fp, const char *s) {
    put_escaped(fp, mb_esc_md_code, s);
}

static void xml_esc(mb_text *b, const char *s) {
    mb_esc_xml(b, s, 0);
}

mb_status mb_compare_write_markdown(mb_ctx *ctx, const mb_compare *C, const char *path) {
    /* A new file renamed over `path` when complete: a symlink planted there is replaced, never
     * written through, and CI never reads a half-written summary. */
    mb_file_out out;
    MB_TRY(mb_file_begin(ctx, &out, path));
    FILE *fp = out.fp;
    mb_verdict v = mb_compare_verdict(C);
    fprintf(fp, "## membench compare: %s\n\n",
            v == MB_VERDICT_REGRESSION     ? "REGRESSION"
            : v == MB_VERDICT_INCONCLUSIVE ? "inconclusive (too noisy: rerun)"
                                           : "OK");
    char sum[256], gates[400];
    summary_text(C, sum, sizeof sum);
    gates_text(C, gates, sizeof gates);
    fprintf(fp, "Base ");
    md_code(fp, C->t[0].path);
    fprintf(fp, ", new ");
    md_code(fp, C->t[1].path);
    fprintf(fp, ": ");
    md_text(fp, sum);
    fprintf(fp, ".\n\nGates: ");
    md_text(fp, gates);
    fprintf(fp, ".\n");
    static const char *const md_title[F_NKINDS] = {"Regressions", "Inconclusive (too noisy: rerun)",
                                                   "Improvements", "Notes"};
    for (int k = 0; k < F_NKINDS; k++) {
        int n = 0;
        for (int i = 0; i < C->nf; i++) n += C->f[i].kind == (kind)k;
        if (!n) continue;
        fprintf(fp, "\n### %s (%d)\n\n", md_title[k], n);
        for (int i = 0; i < C->nf; i++) {
            if (C->f[i].kind != (kind)k) continue;
            fprintf(fp, "- **%s** ", C->f[i].gate);
            md_code(fp, C->cells[C->f[i].cell].label);
            fprintf(fp, ": ");
            md_text(fp, C->f[i].detail);
            fputc('\n', fp);
        }
    }
    fprintf(fp, "\n<details><summary>All %d cells</summary>\n\n", C->ncells);
    fprintf(fp,
            "| verdict | cell | status | runs (base:new) | memory (tracked peak) | time (new/base) "
            "| p | quality |\n|---|---|---|--:|--:|--:|--:|--:|\n");
    for (int c = 0; c < C->ncells; c++) {
        const cell *cl = &C->cells[c];
        figs f;
        cell_figs(C, cl, &f);
        fprintf(fp, "| %s | ", mb_verdict_name(cl->verdict));
        md_code(fp, cl->label);
        fprintf(fp, " | ");
        md_text(fp, f.status);
        fprintf(fp, " | %s | %s | ", f.runs, f.mem);
        md_text(fp, f.ratio);
        fprintf(fp, " | %s | ", f.p);
        md_text(fp, f.quality);
        fprintf(fp, " |\n");
    }
    fprintf(fp, "\n</details>\n");
    return mb_file_commit(ctx, &out);
}

/* XML 1.0 text or attribute value (mb_esc_xml): the five entities, tab and newline as character
 * references, other control characters as their control pictures, bad UTF-8 as U+FFFD. */
static void xml_text(FILE *fp, const char *s) {
    put_escaped(fp, xml_esc, s);
}

/* "GATE: CELL: DETAIL", escaped. */
static void xml_finding(FILE *fp, const mb_compare *C, const finding *f) {
    xml_text(fp, f->gate);
    fputs(": ", fp);
    xml_text(fp, C->cells[f->cell].label);
    fputs(": ", fp);
    xml_text(fp, f->detail);
}

static void junit_findings(FILE *fp, const mb_compare *C, int c, kind k, const char *tag) {
    int n = 0, first = -1;
    for (int i = 0; i < C->nf; i++)
        if (C->f[i].cell == c && C->f[i].kind == k && n++ == 0) first = i;
    if (!n) return;
    fprintf(fp, "    <%s message=\"", tag);
    xml_finding(fp, C, &C->f[first]);
    if (n > 1) fprintf(fp, " (and %d more)", n - 1);
    fprintf(fp, "\"%s>", k == F_REGRESSION ? " type=\"regression\"" : "");
    for (int i = 0; i < C->nf; i++) {
        if (C->f[i].cell != c || C->f[i].kind != k) continue;
        xml_finding(fp, C, &C->f[i]);
        fputs("&#10;", fp);
    }
    fprintf(fp, "</%s>\n", tag);
}

mb_status mb_compare_write_junit(mb_ctx *ctx, const mb_compare *C, const char *path) {
    mb_file_out out; /* as in mb_compare_write_markdown */
    MB_TRY(mb_file_begin(ctx, &out, path));
    FILE *fp = out.fp;
    mb_compare_counts k;
    mb_compare_count(C, &k);
    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuite name=\"membench compare\" tests=\"%d\" failures=\"%d\" errors=\"0\" "
            "skipped=\"%d\">\n",
            k.cells, k.regressions + k.missing, k.inconclusive);
    fputs("  <properties>\n    <property name=\"base\" value=\"", fp);
    xml_text(fp, C->t[0].path);
    fputs("\"/>\n    <property name=\"new\" value=\"", fp);
    xml_text(fp, C->t[1].path);
    char gates[400];
    gates_text(C, gates, sizeof gates);
    fputs("\"/>\n    <property name=\"gates\" value=\"", fp);
    xml_text(fp, gates);
    fputs("\"/>\n  </properties>\n", fp);
    for (int c = 0; c < C->ncells; c++) {
        const cell *cl = &C->cells[c];
        fputs("  <testcase classname=\"", fp);
        xml_text(fp, cl->id[I_SUITE]);
        fputs("\" name=\"", fp);
        xml_text(fp, cl->label);
        fputs("\">\n", fp);
        if (cl->verdict == MB_VERDICT_REGRESSION || cl->verdict == MB_VERDICT_MISSING)
            junit_findings(fp, C, c, F_REGRESSION, "failure");
        else if (cl->verdict == MB_VERDICT_INCONCLUSIVE)
            junit_findings(fp, C, c, F_INCONCLUSIVE, "skipped");
        else if (cl->verdict == MB_VERDICT_DIFFERS)
            junit_findings(fp, C, c, F_DIFFERS, "skipped");
        /* Improvements and notes ride along as output: CI shows them, nothing fails on them. */
        int other = 0;
        for (int i = 0; i < C->nf; i++)
            other += C->f[i].cell == c && (C->f[i].kind == F_IMPROVEMENT || C->f[i].kind == F_NOTE);
        if (other) {
            fputs("    <system-out>", fp);
            for (int i = 0; i < C->nf; i++) {
                if (C->f[i].cell != c || (C->f[i].kind != F_IMPROVEMENT && C->f[i].kind != F_NOTE))
                    continue;
                xml_finding(fp, C, &C->f[i]);
                fputs("&#10;", fp);
            }
            fputs("</system-out>\n", fp);
        }
        fputs("  </testcase>\n", fp);
    }
    fputs("</testsuite>\n", fp);
    return mb_file_commit(ctx, &out);
}
