/* reports/report.c — `membench report`: results.csv rows grouped into cells, one data file and one
 * gnuplot script per figure (kept, so a user can edit and re-run them), gnuplot run on each, then
 * report.md and index.html. Rows whose status is not ok are listed, never plotted. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csvtable.h"
#include "metric.h"
#include "peers.h"

#define MIB 1048576.0

/* ---------------------------------------------------------------------------------------------
 * Growable text */

typedef struct rp_buf {
    char *s;
    size_t len, cap;
    int oom;
} rp_buf;

static void buf_add(rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(rp_buf *b, const char *fmt, ...) {
    while (!b->oom) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            b->oom = 1;
        else {
            b->s = s;
            b->cap = cap;
        }
    }
}

static const char *buf_str(const rp_buf *b) {
    return b->s ? b->s : "";
}

static void buf_free(rp_buf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

static char *buf_take(rp_buf *b) {
    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    if (!b->s) buf_add(b, "%s", "");
    char *s = b->s;
    memset(b, 0, sizeof *b);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Quoting for the four output languages */

/* A gnuplot single-quoted string: nothing is substituted inside one (double-quoted strings run
 * `backquoted` shell commands), and '' is the only escape. Control characters become spaces. In
 * explicit tic labels gnuplot reads the text as a format, so '%' is doubled there. */
static void gp_quote(rp_buf *b, const char *s, int tic) {
    buf_add(b, "'");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\'')
            buf_add(b, "''");
        else if (*p == '%' && tic)
            buf_add(b, "%%%%");
        else if (*p < 0x20 || *p == 0x7f)
            buf_add(b, " ");
        else
            buf_add(b, "%c", *p);
    }
    buf_add(b, "'");
}

/* Text for a data-file column or a script comment: one line, no tabs. */
static void plain_text(rp_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        buf_add(b, "%c", *p < 0x20 || *p == 0x7f ? ' ' : *p);
}

static void html_text(rp_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            buf_add(b, "&amp;");
            break;
        case '<':
            buf_add(b, "&lt;");
            break;
        case '>':
            buf_add(b, "&gt;");
            break;
        case '"':
            buf_add(b, "&quot;");
            break;
        case '\'':
            buf_add(b, "&#39;");
            break;
        default:
            buf_add(b, "%c", *p < 0x20 || *p == 0x7f ? ' ' : *p);
        }
    }
}

/* Markdown prose inside a table cell: CommonMark lets any ASCII punctuation be backslash-escaped;
 * these are the characters that would otherwise format, link, or split the cell. */
static void md_text(rp_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (strchr("\\`*_[]<>|~&#!", *p))
            buf_add(b, "\\%c", *p);
        else
            buf_add(b, "%c", *p < 0x20 || *p == 0x7f ? ' ' : *p);
    }
}

/* A name shown literally in a Markdown table: a code span, fenced with more backticks than it
 * contains; '|' still needs its backslash there (GFM splits cells before parsing spans). */
static void md_code(rp_buf *b, const char *s) {
    int run = 0, longest = 0;
    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    char fence[16];
    int n = longest + 1 < (int)sizeof fence ? longest + 1 : (int)sizeof fence - 1;
    memset(fence, '`', (size_t)n);
    fence[n] = 0;
    buf_add(b, "%s%s", fence, longest ? " " : "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '|')
            buf_add(b, "\\|");
        else
            buf_add(b, "%c", *p < 0x20 || *p == 0x7f ? ' ' : *p);
    }
    buf_add(b, "%s%s", longest ? " " : "", fence);
}

/* ---------------------------------------------------------------------------------------------
 * The model: rows, cells (a row's identity without the repeat), groups */

/* Columns the report reads. Text columns come first; C_TRACKED and after are numbers. */
enum {
    C_SUITE,
    C_TARGET,
    C_MODEL,
    C_STACK,
    C_PARAMS,
    C_TASK,
    C_BS,
    C_SEQ,
    C_PREC,
    C_SEARCH,
    C_REPEAT,
    C_STATUS,
    C_REASON,
    C_HASH,
    C_METRIC_NAME,
    C_TRACKED,
    C_PRED,
    C_MED,
    C_P10,
    C_P90,
    C_TPS,
    C_METRIC,
    C_BSNUM,
    C_PEAK, /* C_PEAK + k: peak_<category k>_bytes */
    NCOL = C_PEAK + MB_MEM_NCAT
};
#define N_IDENTITY (C_SEARCH + 1) /* a cell is these columns; repeats share them */
#define N_TEXT C_TRACKED

static const char *const col_names[C_PEAK] = {
    "suite",
    "target",
    "model",
    "method_stack",
    "method_params",
    "task",
    "batch_size",
    "seq_len",
    "precision",
    "search",
    "repeat",
    "status",
    "reason",
    "config_hash",
    "metric",
    "tracked_peak_bytes",
    "pred_total_bytes",
    "step_ms_median",
    "step_ms_p10",
    "step_ms_p90",
    "tokens_per_s",
    "metric_value",
    "batch_size",
};

enum { K_PLAIN, K_MAXBATCH, K_SEARCH_OTHER, K_TRIAL };

typedef struct rp_row {
    int file, line, cell;
    unsigned long long idh;     /* hash of the identity columns: most comparisons stop there */
    const char *s[N_TEXT];      /* text (points into the loaded table) */
    double v[NCOL - C_TRACKED]; /* numbers; NaN when empty */
    char *label;                /* the cell's label plus /rREPEAT */
} rp_row;
#define NUM(row, c) ((row)->v[(c)-C_TRACKED])

/* Group dimensions; a bar chart puts cells of one group side by side. */
enum { G_MODEL, G_TARGET, G_BS, G_SEQ, G_PREC, G_TASK, G_SUITE, G_N };

typedef struct rp_cell {
    int kind, group;
    int *rows, n; /* every row of this identity (any status), in input order */
    char *method; /* method_stack plus the parameters that tell it apart from same-named stacks */
    char *label;  /* [suite:]target/model/method/bs=B/seq=T/precision[ [search]] */
} rp_cell;

typedef struct rp_group {
    int kind, has_ok;
    const char *d[G_N];
    char *label; /* the dimensions that vary between groups of its kind, "" when only one group */
} rp_group;

typedef struct rp_steps_cols {
    int hash, phase, step, loss;
} rp_steps_cols;

typedef struct rp_fig {
    const char *name;
    char caption[256];
    int frontier; /* writes pareto_frontier.dat too */
} rp_fig;

#define RP_MAX_FIGS 8

struct mb_report {
    mb_table *res, *steps;
    int nres, nsteps;
    rp_steps_cols *scols;
    rp_row *rows;
    int nrows;
    rp_cell *cells;
    int ncells;
    rp_group *groups;
    int ngroups;
    int many_suites, many_tasks;
    rp_buf notes;
    rp_fig figs[RP_MAX_FIGS];
    int nfigs;
    double *scratch; /* 3 x nrows, for the medians over a cell's repeats */
    mb_peer *peers;  /* --peers: other tools' published figures */
    int npeers;
    char *peers_path;
};

static int is_ok(const rp_row *r) {
    return !strcmp(r->s[C_STATUS], "ok");
}

static int kind_of(const char *search) {
    if (!*search) return K_PLAIN;
    if (!strcmp(search, "trial")) return K_TRIAL;
    if (!strcmp(search, "max_batch_size")) return K_MAXBATCH;
    return K_SEARCH_OTHER;
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

/* Labels every cell whose stack is that of cell `first`: method_stack, then in parentheses the
 * parameters whose value is not the same in every cell with that stack name (the other settings
 * of it in these results), so two adamw cells read apart. A key differs somewhere exactly when
 * some cell differs from the first one, so each cell is compared with the first only. */
static mb_status label_stack(mb_ctx *ctx, mb_report *R, int first) {
    const char *stack = R->rows[R->cells[first].rows[0]].s[C_STACK];
    rp_kv ref[RP_MAX_PARAMS], kv[RP_MAX_PARAMS], vary[RP_MAX_PARAMS];
    int nref = split_params(R->rows[R->cells[first].rows[0]].s[C_PARAMS], ref, RP_MAX_PARAMS);
    int nvary = 0;
    for (int c = first + 1; c < R->ncells; c++) {
        const rp_row *o = &R->rows[R->cells[c].rows[0]];
        if (strcmp(o->s[C_STACK], stack)) continue;
        int n = split_params(o->s[C_PARAMS], kv, RP_MAX_PARAMS);
        for (int i = 0; i < n; i++)
            if (!same_value(&kv[i], find_key(ref, nref, &kv[i]))) add_key(vary, &nvary, &kv[i]);
        for (int i = 0; i < nref; i++)
            if (!find_key(kv, n, &ref[i])) add_key(vary, &nvary, &ref[i]);
    }
    /* In a one-method stack "adamw.lr" says nothing "lr" does not. */
    int strip = strchr(stack, '+') == NULL;
    for (int c = first; c < R->ncells; c++) {
        const rp_row *o = &R->rows[R->cells[c].rows[0]];
        if (R->cells[c].method || strcmp(o->s[C_STACK], stack)) continue;
        int n = split_params(o->s[C_PARAMS], kv, RP_MAX_PARAMS), opened = 0;
        rp_buf b = {0};
        buf_add(&b, "%s", stack);
        for (int i = 0; i < n; i++) {
            if (!find_key(vary, nvary, &kv[i])) continue;
            const char *k = kv[i].k;
            int kn = kv[i].kn;
            const char *dot = strip ? memchr(k, '.', (size_t)kn) : NULL;
            if (dot) {
                kn -= (int)(dot + 1 - k);
                k = dot + 1;
            }
            buf_add(&b, "%s%.*s=%.*s", opened ? "," : "(", kn, k, kv[i].vn, kv[i].v);
            opened = 1;
        }
        if (opened) buf_add(&b, ")");
        if (!(R->cells[c].method = buf_take(&b)))
            return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Loading */

static mb_status add_table(mb_ctx *ctx, mb_report *R, int fi) {
    const mb_table *t = &R->res[fi];
    int col[NCOL];
    for (int c = 0; c < NCOL; c++) {
        char name[64];
        if (c >= C_PEAK)
            snprintf(name, sizeof name, "peak_%s_bytes", mb_mem_cat_name(c - C_PEAK));
        else
            snprintf(name, sizeof name, "%s", col_names[c]);
        col[c] = mb_table_col(t, name);
        /* `search` was appended to the schema later: older files read as plain cells. */
        if (col[c] < 0 && c != C_SEARCH)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: missing column '%s' (is this a membench results.csv?)", t->path,
                            name);
    }
    rp_row *rows = realloc(R->rows, (size_t)(R->nrows + t->nrows + 1) * sizeof *rows);
    if (!rows) return mb_error(ctx, MB_ENOMEM, "host allocation");
    R->rows = rows;
    for (int r = 0; r < t->nrows; r++) {
        rp_row *w = &R->rows[R->nrows++];
        memset(w, 0, sizeof *w);
        w->file = fi;
        w->line = t->lines[r];
        w->cell = -1;
        for (int c = 0; c < N_TEXT; c++) w->s[c] = mb_table_get(t, r, col[c]);
        for (int c = C_TRACKED; c < NCOL; c++) NUM(w, c) = mb_table_num(t, r, col[c]);
    }
    return MB_OK;
}

static mb_status load_steps(mb_ctx *ctx, mb_report *R, const char *path) {
    mb_table *t = &R->steps[R->nsteps];
    MB_TRY(mb_table_load(ctx, path, t));
    R->nsteps++;
    rp_steps_cols *c = &R->scols[R->nsteps - 1];
    const char *names[4] = {"config_hash", "phase", "step", "loss"};
    int *dst[4] = {&c->hash, &c->phase, &c->step, &c->loss};
    for (int i = 0; i < 4; i++)
        if ((*dst[i] = mb_table_col(t, names[i])) < 0)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: missing column '%s' (is this a membench steps.csv?)", path,
                            names[i]);
    return MB_OK;
}

/* A search's batch size is its answer, not part of what was asked: repeats of one search that
 * found different answers are one cell. */
static int identity_col(const rp_row *r, int c) {
    return !(c == C_BS && !strcmp(r->s[C_SEARCH], "max_batch_size"));
}

static unsigned long long identity_hash(const rp_row *r) {
    unsigned long long h = 14695981039346656037ull; /* FNV-1a */
    for (int c = 0; c < N_IDENTITY; c++) {
        if (!identity_col(r, c)) continue;
        for (const unsigned char *p = (const unsigned char *)r->s[c]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull; /* a separator, so "ab","c" differs from "a","bc" */
    }
    return h;
}

static int same_identity(const rp_row *a, const rp_row *b) {
    if (a->idh != b->idh) return 0;
    for (int c = 0; c < N_IDENTITY; c++)
        if (identity_col(a, c) && strcmp(a->s[c], b->s[c])) return 0;
    return 1;
}

static const char *group_dim(const rp_row *r, int d, int kind) {
    switch (d) {
    case G_MODEL:
        return r->s[C_MODEL];
    case G_TARGET:
        return r->s[C_TARGET];
    case G_BS:
        return kind == K_MAXBATCH ? "" : r->s[C_BS]; /* the batch is the answer there */
    case G_SEQ:
        return r->s[C_SEQ];
    case G_PREC:
        return r->s[C_PREC];
    case G_TASK:
        return r->s[C_TASK];
    default:
        return r->s[C_SUITE];
    }
}

static mb_status build_cells(mb_ctx *ctx, mb_report *R) {
    R->cells = calloc((size_t)R->nrows + 1, sizeof *R->cells);
    R->groups = calloc((size_t)R->nrows + 1, sizeof *R->groups);
    R->scratch = calloc(3 * (size_t)R->nrows + 1, sizeof *R->scratch);
    if (!R->cells || !R->groups || !R->scratch) return mb_error(ctx, MB_ENOMEM, "host allocation");
    /* Cells in order of first appearance; first each row finds its cell (rows[0] holds the
     * cell's first row meanwhile), then each cell gets an array of exactly its rows. */
    int *first = calloc((size_t)R->nrows + 1, sizeof *first);
    if (!first) return mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int i = 0; i < R->nrows; i++) {
        rp_row *r = &R->rows[i];
        r->idh = identity_hash(r);
        int c = 0;
        while (c < R->ncells && !same_identity(&R->rows[first[c]], r)) c++;
        if (c == R->ncells) {
            first[c] = i;
            R->cells[c].kind = kind_of(r->s[C_SEARCH]);
            R->cells[c].group = -1;
            R->ncells++;
        }
        R->cells[c].n++;
        r->cell = c;
        if (strcmp(r->s[C_SUITE], R->rows[0].s[C_SUITE])) R->many_suites = 1;
        if (strcmp(r->s[C_TASK], R->rows[0].s[C_TASK])) R->many_tasks = 1;
    }
    free(first);
    for (int c = 0; c < R->ncells; c++) {
        if (!(R->cells[c].rows = malloc((size_t)R->cells[c].n * sizeof(int))))
            return mb_error(ctx, MB_ENOMEM, "host allocation");
        R->cells[c].n = 0;
    }
    for (int i = 0; i < R->nrows; i++) {
        rp_cell *cl = &R->cells[R->rows[i].cell];
        cl->rows[cl->n++] = i;
    }
    /* Groups, for the cells a bar chart shows. */
    for (int c = 0; c < R->ncells; c++) {
        rp_cell *cl = &R->cells[c];
        if (cl->kind != K_PLAIN && cl->kind != K_MAXBATCH) continue;
        const rp_row *r = &R->rows[cl->rows[0]];
        int g = 0;
        for (; g < R->ngroups; g++) {
            if (R->groups[g].kind != cl->kind) continue;
            int d = 0;
            while (d < G_N && !strcmp(R->groups[g].d[d], group_dim(r, d, cl->kind))) d++;
            if (d == G_N) break;
        }
        if (g == R->ngroups) {
            R->groups[g].kind = cl->kind;
            for (int d = 0; d < G_N; d++) R->groups[g].d[d] = group_dim(r, d, cl->kind);
            R->ngroups++;
        }
        cl->group = g;
        for (int i = 0; i < cl->n; i++) R->groups[g].has_ok |= is_ok(&R->rows[cl->rows[i]]);
    }
    /* A group's label names what sets it apart from the other groups that get drawn: a target
     * where every cell ran out of memory adds no bar, so it should not lengthen every label. */
    for (int g = 0; g < R->ngroups; g++) {
        rp_group *gr = &R->groups[g];
        rp_buf b = {0};
        buf_add(&b, "%s", "");
        for (int d = 0; d < G_N; d++) {
            int varies = 0;
            for (int h = 0; h < R->ngroups && !varies; h++)
                varies = R->groups[h].kind == gr->kind && R->groups[h].has_ok &&
                         strcmp(R->groups[h].d[d], gr->d[d]);
            if (!varies) continue;
            static const char *const prefix[G_N] = {"", "", "bs=", "seq=", "", "", "suite "};
            buf_add(&b, "%s%s%s", b.len ? " " : "", prefix[d], gr->d[d]);
        }
        if (!(gr->label = buf_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    /* Labels. */
    for (int c = 0; c < R->ncells; c++)
        if (!R->cells[c].method) MB_TRY(label_stack(ctx, R, c));
    for (int c = 0; c < R->ncells; c++) {
        rp_cell *cl = &R->cells[c];
        const rp_row *r = &R->rows[cl->rows[0]];
        rp_buf b = {0};
        if (R->many_suites) buf_add(&b, "%s:", r->s[C_SUITE]);
        buf_add(&b, "%s/%s/%s/bs=%s/seq=%s/%s", r->s[C_TARGET], r->s[C_MODEL], cl->method,
                r->s[C_BS], r->s[C_SEQ], r->s[C_PREC]);
        if (R->many_tasks) buf_add(&b, "/%s", r->s[C_TASK]);
        if (cl->kind != K_PLAIN) buf_add(&b, " [%s]", r->s[C_SEARCH]);
        if (!(cl->label = buf_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    for (int i = 0; i < R->nrows; i++) {
        rp_row *r = &R->rows[i];
        const rp_cell *cl = &R->cells[r->cell];
        rp_buf b = {0};
        /* The repeat goes where the runner's labels have it: after the precision. */
        const char *sp = cl->kind != K_PLAIN ? strstr(cl->label, " [") : NULL;
        int base = sp ? (int)(sp - cl->label) : (int)strlen(cl->label);
        buf_add(&b, "%.*s/r%s%s", base, cl->label, r->s[C_REPEAT], sp ? sp : "");
        if (!(r->label = buf_take(&b))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
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
            s = add_table(ctx, R, i);
        }
    }
    for (int i = 0; i < nsteps && s == MB_OK; i++) s = load_steps(ctx, R, steps[i]);
    for (int i = 0; nsteps == 0 && i < nresults && s == MB_OK; i++) {
        const char *slash = strrchr(results[i], '/');
        char path[4096];
        snprintf(path, sizeof path, "%.*ssteps.csv", slash ? (int)(slash + 1 - results[i]) : 0,
                 results[i]);
        if (access(path, F_OK) == 0)
            s = load_steps(ctx, R, path);
        else
            buf_add(&R->notes, "no %s beside %s: its cells have no loss curves\n", path,
                    results[i]);
    }
    if (s == MB_OK) s = build_cells(ctx, R);
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
    buf_free(&R->notes);
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
    return buf_str(&R->notes);
}

/* ---------------------------------------------------------------------------------------------
 * Aggregates over a cell's ok rows (repeats) */

typedef struct rp_agg {
    int nok;
    double peak_mib;   /* largest tracked peak: the memory a run of this cell needs */
    int peak_row;      /* the row with that peak and the whole breakdown, -1 if none */
    double pred_mib;   /* predicted total (deterministic, so the first one) */
    double ms, lo, hi; /* median of the medians, lowest p10, highest p90 (rows with all three) */
    double tps, metric, bs_min;
} rp_agg;

static rp_agg aggregate(const mb_report *R, const rp_cell *cl) {
    rp_agg a = {0, NAN, -1, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    double *ms = R->scratch, *tps = ms + cl->n, *met = tps + cl->n;
    int nms = 0, ntps = 0, nmet = 0;
    double best_sum = -1;
    for (int i = 0; i < cl->n; i++) {
        const rp_row *r = &R->rows[cl->rows[i]];
        if (!is_ok(r)) continue;
        a.nok++;
        double t = NUM(r, C_TRACKED);
        if (isfinite(t) && !(t / MIB <= a.peak_mib)) a.peak_mib = t / MIB;
        double sum = 0;
        int k = 0;
        for (; k < MB_MEM_NCAT && isfinite(NUM(r, C_PEAK + k)); k++) sum += NUM(r, C_PEAK + k);
        if (k == MB_MEM_NCAT && sum > best_sum) {
            best_sum = sum;
            a.peak_row = cl->rows[i];
        }
        if (isnan(a.pred_mib) && isfinite(NUM(r, C_PRED))) a.pred_mib = NUM(r, C_PRED) / MIB;
        double m = NUM(r, C_MED), p10 = NUM(r, C_P10), p90 = NUM(r, C_P90);
        if (isfinite(m) && isfinite(p10) && isfinite(p90)) {
            ms[nms++] = m;
            if (!(p10 >= a.lo)) a.lo = p10;
            if (!(p90 <= a.hi)) a.hi = p90;
        }
        if (isfinite(NUM(r, C_TPS))) tps[ntps++] = NUM(r, C_TPS);
        if (isfinite(NUM(r, C_METRIC))) met[nmet++] = NUM(r, C_METRIC);
        double bs = NUM(r, C_BSNUM);
        if (isfinite(bs) && !(bs >= a.bs_min)) a.bs_min = bs;
    }
    a.ms = median(ms, nms);
    a.tps = median(tps, ntps);
    a.metric = median(met, nmet);
    return a;
}

/* ---------------------------------------------------------------------------------------------
 * Files and gnuplot */

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

static mb_status write_file(mb_ctx *ctx, const char *dir, const char *name, const rp_buf *b) {
    if (b->oom) return mb_error(ctx, MB_ENOMEM, "host allocation while writing %s", name);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) return mb_error(ctx, MB_EIO, "cannot write %s: %s", path, strerror(errno));
    size_t n = fwrite(buf_str(b), 1, b->len, fp);
    int bad = n != b->len || ferror(fp);
    if (fclose(fp) != 0 || bad) return mb_error(ctx, MB_EIO, "cannot write %s", path);
    return MB_OK;
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

/* `gnuplot NAME.gp` in `dir` (the script names its files relative to it, so a person can re-run
 * it the same way); its stdout goes to our stderr, which keeps stdout for results. */
static mb_status run_gnuplot(mb_ctx *ctx, const char *dir, const char *name) {
    char script[128], prog[] = "gnuplot";
    snprintf(script, sizeof script, "%s.gp", name);
    char *argv[] = {prog, script, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return mb_error(ctx, MB_EIO, "cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(126);
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
        char path[4200];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext[i]);
        if (stat(path, &sb) != 0 || sb.st_size == 0)
            return mb_error(ctx, MB_EIO, "gnuplot %s wrote no %s.%s in %s", script, name, ext[i],
                            dir);
    }
    return MB_OK;
}

static void gp_begin(rp_buf *g, const mb_report *R, const char *name, const char *what, int w,
                     int h) {
    buf_add(g, "# %s.gp - %s\n# Written by membench report from", name, what);
    for (int i = 0; i < R->nres; i++) {
        buf_add(g, " ");
        plain_text(g, R->res[i].path);
    }
    buf_add(g, ".\n# Edit it and re-run it here with: gnuplot %s.gp (writes %s.png and %s.svg)\n",
            name, name, name);
    /* noenhanced everywhere: in enhanced mode '_' and '^' set sub/superscripts and {} group,
     * which mangles method names such as adam_w^2. */
    buf_add(g,
            "set encoding utf8\n"
            "set datafile separator \"\\t\"\n"
            "set datafile missing \"NaN\"\n"
            "set terminal pngcairo size %d,%d font \"DejaVu Sans,10\" noenhanced\n"
            "set termoption noenhanced\n"
            "set output '%s.png'\n"
            "set grid ytics lc rgb '#dddddd'\n"
            "set border 3\nset tics nomirror\n",
            w, h, name);
}

static void gp_end(rp_buf *g, const char *name, int w, int h) {
    buf_add(g,
            "\nset terminal svg size %d,%d font \"DejaVu Sans,10\" noenhanced\n"
            "set termoption noenhanced\n"
            "set output '%s.svg'\n"
            "replot\n"
            "unset output\n",
            w, h, name);
}

static void add_fig(mb_report *R, const char *name, int frontier, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_fig(mb_report *R, const char *name, int frontier, const char *fmt, ...) {
    rp_fig *f = &R->figs[R->nfigs++];
    f->name = name;
    f->frontier = frontier;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->caption, sizeof f->caption, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * Bar charts: cells of one kind side by side, a gap between groups */

typedef struct rp_bars {
    int n, ngroups;
    int *cell;
    double *x;
    rp_agg *agg;
} rp_bars;

/* The cells of `kind` for which `keep` says the aggregate has what the figure needs, ordered by
 * group and then by first appearance (input order). */
static int bars_collect(const mb_report *R, int kind, int (*keep)(const rp_agg *), rp_bars *b) {
    memset(b, 0, sizeof *b);
    b->cell = calloc((size_t)R->ncells + 1, sizeof *b->cell);
    b->x = calloc((size_t)R->ncells + 1, sizeof *b->x);
    b->agg = calloc((size_t)R->ncells + 1, sizeof *b->agg);
    if (!b->cell || !b->x || !b->agg) return -1;
    double x = 0;
    for (int g = 0; g < R->ngroups; g++) {
        if (R->groups[g].kind != kind) continue;
        int any = 0;
        for (int c = 0; c < R->ncells; c++) {
            if (R->cells[c].group != g) continue;
            rp_agg a = aggregate(R, &R->cells[c]);
            if (!a.nok || !keep(&a)) continue;
            if (!any && b->n) x += 0.6; /* the gap between groups */
            any = 1;
            b->cell[b->n] = c;
            b->agg[b->n] = a;
            b->x[b->n++] = x;
            x += 1;
        }
        b->ngroups += any;
    }
    return b->n;
}

static void bars_free(rp_bars *b) {
    free(b->cell);
    free(b->x);
    free(b->agg);
}

/* The longest line of the bars' tic labels, in characters. */
static size_t bars_longest(const mb_report *R, const rp_bars *b) {
    size_t longest = 0;
    for (int i = 0; i < b->n; i++) {
        const rp_cell *cl = &R->cells[b->cell[i]];
        size_t a = strlen(cl->method), gl = strlen(R->groups[cl->group].label);
        if (a > longest) longest = a;
        if (b->ngroups > 1 && gl > longest) longest = gl;
    }
    return longest;
}

/* How a bar chart is laid out: labels sit level under their bars unless that would make the
 * figure too wide to read (about 1800 px); then they are turned, on one line each (gnuplot turns
 * each line of a rotated label about its own anchor, so two lines would collide). */
typedef struct rp_layout {
    int w, rotate, key_px;
    int lmargin_px; /* a turned first label hangs left of its bar: room for it */
} rp_layout;

static void tic_label(rp_buf *l, const mb_report *R, const rp_bars *b, int i, int rotate) {
    const rp_cell *cl = &R->cells[b->cell[i]];
    if (b->ngroups > 1 && rotate)
        buf_add(l, "%s (%s)", cl->method, R->groups[cl->group].label);
    else
        buf_add(l, "%s", cl->method);
}

static rp_layout bars_layout(const mb_report *R, const rp_bars *b, int key_px) {
    rp_layout L = {0, 0, key_px, 80};
    double per = 7.0 * (double)bars_longest(R, b) + 14, slots = b->n + 0.6 * (b->ngroups - 1) + 1.6;
    if (per < 80) per = 80;
    L.rotate = L.lmargin_px + key_px + 60 + per * slots > 1800;
    if (L.rotate) per = 60;
    if (L.rotate) {
        rp_buf l = {0};
        tic_label(&l, R, b, 0, 1);
        double hang = 0.87 * 7.2 * (double)l.len - 0.8 * per + 40; /* cos 30 x text width */
        buf_free(&l);
        if (hang > L.lmargin_px) L.lmargin_px = (int)hang;
    }
    L.w = L.lmargin_px + key_px + 60 + (int)(per * slots);
    L.w = L.w < 900 ? 900 : L.w > 5000 ? 5000 : L.w;
    return L;
}

/* x tics: the method label, and the group (second line, or in parentheses when turned) when
 * there is more than one group. */
static void bars_xtics(rp_buf *g, const mb_report *R, const rp_bars *b, const rp_layout *L) {
    buf_add(g, "set xtics (");
    for (int i = 0; i < b->n; i++) {
        const rp_cell *cl = &R->cells[b->cell[i]];
        rp_buf l = {0};
        tic_label(&l, R, b, i, L->rotate);
        buf_add(g, "%s", i ? ", " : "");
        gp_quote(g, buf_str(&l), 1);
        buf_free(&l);
        if (b->ngroups > 1 && !L->rotate) {
            buf_add(g, ".\"\\n\".");
            gp_quote(g, R->groups[cl->group].label, 1);
        }
        buf_add(g, " %g", b->x[i]);
    }
    buf_add(g, ") noenhanced%s\n", L->rotate ? " rotate by 30 right" : "");
    /* gnuplot sizes the bottom margin for one line of tic labels; make room for the second. */
    if (b->ngroups > 1 && !L->rotate) buf_add(g, "set bmargin 5\n");
    if (L->rotate) {
        /* Fixed margins: gnuplot's own reserve room on both sides for turned labels. */
        buf_add(g, "set lmargin at screen %.4f\n", (double)L->lmargin_px / L->w);
        buf_add(g, "set rmargin at screen %.4f\n", 1.0 - (double)(L->key_px + 30) / L->w);
    }
    buf_add(g, "set xrange [%g:%g]\n", -0.8, b->n ? b->x[b->n - 1] + 0.8 : 1.0);
}

static void dat_label(rp_buf *d, const char *label) {
    buf_add(d, "\t");
    plain_text(d, label);
    buf_add(d, "\n");
}

static void fmt_num(rp_buf *b, double v) {
    if (isfinite(v))
        buf_add(b, "%.9g", v);
    else
        buf_add(b, "NaN");
}

/* ---------------------------------------------------------------------------------------------
 * Figures. Each returns MB_OK without drawing when it has nothing to show (a note says so). */

static int keep_memory(const rp_agg *a) {
    return a->peak_row >= 0;
}
static int keep_time(const rp_agg *a) {
    return isfinite(a->ms);
}
static int keep_maxbatch(const rp_agg *a) {
    return isfinite(a->bs_min);
}

static mb_status fig_memory(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_bars b;
    if (bars_collect(R, K_PLAIN, keep_memory, &b) < 0) {
        bars_free(&b);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    if (b.n == 0) {
        bars_free(&b);
        buf_add(&R->notes, "memory: no ok cell has a memory breakdown; figure left out\n");
        return MB_OK;
    }
    rp_buf d = {0}, g = {0};
    int shown[MB_MEM_NCAT] = {0};
    buf_add(&d, "# memory.dat - peak memory at the tracked peak, by category (MiB), per cell\n# x");
    for (int k = 0; k < MB_MEM_NCAT; k++) buf_add(&d, "\t%s", mb_mem_cat_name(k));
    buf_add(&d, "\ttracked_total\tpredicted_total\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const rp_row *r = &R->rows[b.agg[i].peak_row];
        buf_add(&d, "%g", b.x[i]);
        for (int k = 0; k < MB_MEM_NCAT; k++) {
            double v = NUM(r, C_PEAK + k) / MIB;
            if (v > 0) shown[k] = 1;
            buf_add(&d, "\t");
            fmt_num(&d, v);
        }
        buf_add(&d, "\t");
        fmt_num(&d, NUM(r, C_TRACKED) / MIB);
        buf_add(&d, "\t");
        fmt_num(&d, b.agg[i].pred_mib);
        const rp_cell *cl = &R->cells[b.cell[i]];
        rp_buf l = {0};
        buf_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                b.ngroups > 1 ? R->groups[cl->group].label : "");
        dat_label(&d, buf_str(&l));
        buf_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 160);
    int w = L.w;
    gp_begin(&g, R, "memory", "peak memory by category, stacked, per cell", w, 720);
    buf_add(&g, "set title 'Peak memory by category at the tracked peak (points: predicted total)' "
                "noenhanced\n"
                "set ylabel 'MiB' noenhanced\n"
                "set yrange [0:*]\n"
                "set style fill solid 0.85 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "set key outside right top noenhanced\n");
    bars_xtics(&g, R, &b, &L);
    /* Stacked by overdrawing: the sum of all categories first, then ever shorter sums, so each
     * visible band is one category and the legend reads top to bottom like the bars. */
    buf_add(&g, "plot");
    int first = 1;
    for (int k = MB_MEM_NCAT - 1; k >= 0; k--) {
        if (!shown[k]) continue;
        buf_add(&g, "%s \\\n  'memory.dat' using 1:(", first ? "" : ",");
        for (int j = 0; j <= k; j++) buf_add(&g, "%s$%d", j ? "+" : "", j + 2);
        buf_add(&g, ") with boxes title '%s'", mb_mem_cat_name(k));
        first = 0;
    }
    buf_add(&g,
            "%s \\\n  'memory.dat' using 1:%d with points pt 7 ps 1.4 lc rgb 'black' "
            "title 'predicted total'\n",
            first ? "" : ",", MB_MEM_NCAT + 3);
    gp_end(&g, "memory", w, 720);
    mb_status s = write_file(ctx, dir, "memory.dat", &d);
    if (s == MB_OK) s = write_file(ctx, dir, "memory.gp", &g);
    if (s == MB_OK) s = run_gnuplot(ctx, dir, "memory");
    if (s == MB_OK)
        add_fig(R, "memory", 0,
                "Peak memory of each cell by category at the moment of the tracked peak (MiB); "
                "points: the predicted total.");
    buf_free(&d);
    buf_free(&g);
    bars_free(&b);
    return s;
}

static mb_status fig_time(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_bars b;
    if (bars_collect(R, K_PLAIN, keep_time, &b) < 0) {
        bars_free(&b);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    if (b.n == 0) {
        bars_free(&b);
        buf_add(&R->notes, "time: no ok cell has step times; figure left out\n");
        return MB_OK;
    }
    rp_buf d = {0}, g = {0};
    int repeats = 0;
    buf_add(&d, "# time.dat - step time per cell (ms): median of the runs' medians, lowest p10, "
                "highest p90\n# x\tmedian_ms\tp10_ms\tp90_ms\truns\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const rp_cell *cl = &R->cells[b.cell[i]];
        buf_add(&d, "%g\t", b.x[i]);
        fmt_num(&d, b.agg[i].ms);
        buf_add(&d, "\t");
        fmt_num(&d, b.agg[i].lo);
        buf_add(&d, "\t");
        fmt_num(&d, b.agg[i].hi);
        buf_add(&d, "\t%d", b.agg[i].nok);
        if (b.agg[i].nok > 1) repeats = 1;
        rp_buf l = {0};
        buf_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                b.ngroups > 1 ? R->groups[cl->group].label : "");
        dat_label(&d, buf_str(&l));
        buf_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 0);
    int w = L.w;
    gp_begin(&g, R, "time", "median step time with p10-p90 bars, per cell", w, 720);
    buf_add(&g, "set title ");
    gp_quote(&g,
             repeats ? "Step time: median (of the repeats' medians), bars from the lowest p10 to "
                       "the highest p90"
                     : "Step time: median, bars from p10 to p90",
             0);
    buf_add(&g, " noenhanced\n");
    buf_add(&g, "set ylabel 'ms per step' noenhanced\n"
                "set yrange [0:*]\n"
                "set style fill solid 0.75 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "set key top left noenhanced\n");
    bars_xtics(&g, R, &b, &L);
    buf_add(&g, "plot 'time.dat' using 1:2 with boxes lc rgb '#4c72b0' title 'median', \\\n"
                "  'time.dat' using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 lw 1.5 "
                "title 'p10 to p90'\n");
    gp_end(&g, "time", w, 720);
    mb_status s = write_file(ctx, dir, "time.dat", &d);
    if (s == MB_OK) s = write_file(ctx, dir, "time.gp", &g);
    if (s == MB_OK) s = run_gnuplot(ctx, dir, "time");
    if (s == MB_OK)
        add_fig(R, "time", 0,
                "Median step time with p10 to p90 bars (cells with repeats: median of the medians, "
                "lowest p10 to highest p90).");
    buf_free(&d);
    buf_free(&g);
    bars_free(&b);
    return s;
}

static mb_status fig_maxbatch(mb_ctx *ctx, mb_report *R, const char *dir) {
    int any = 0;
    for (int c = 0; c < R->ncells && !any; c++) any = R->cells[c].kind == K_MAXBATCH;
    if (!any) return MB_OK; /* no search in these results: not a figure to miss */
    rp_bars b;
    if (bars_collect(R, K_MAXBATCH, keep_maxbatch, &b) < 0) {
        bars_free(&b);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    if (b.n == 0) {
        bars_free(&b);
        buf_add(&R->notes, "maxbatch: no max_batch_size row is ok; figure left out\n");
        return MB_OK;
    }
    rp_buf d = {0}, g = {0};
    buf_add(&d, "# maxbatch.dat - the largest batch size that fits (search max_batch_size), per "
                "method\n# x\tbatch_size\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const rp_cell *cl = &R->cells[b.cell[i]];
        buf_add(&d, "%g\t%.0f", b.x[i], b.agg[i].bs_min);
        rp_buf l = {0};
        buf_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                b.ngroups > 1 ? R->groups[cl->group].label : "");
        dat_label(&d, buf_str(&l));
        buf_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 0);
    int w = L.w;
    gp_begin(&g, R, "maxbatch", "largest batch size that fits, per method", w, 720);
    buf_add(&g, "set title 'Largest batch size that fits (search: max_batch_size)' noenhanced\n"
                "set ylabel 'batch size' noenhanced\n"
                "set yrange [0:*]\n"
                "set offsets 0, 0, graph 0.08, 0\n"
                "set style fill solid 0.75 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "unset key\n");
    bars_xtics(&g, R, &b, &L);
    buf_add(&g, "plot 'maxbatch.dat' using 1:2 with boxes lc rgb '#55a868', \\\n"
                "  'maxbatch.dat' using 1:2:(sprintf('%%d', int($2))) with labels offset 0,0.8\n");
    gp_end(&g, "maxbatch", w, 720);
    mb_status s = write_file(ctx, dir, "maxbatch.dat", &d);
    if (s == MB_OK) s = write_file(ctx, dir, "maxbatch.gp", &g);
    if (s == MB_OK) s = run_gnuplot(ctx, dir, "maxbatch");
    if (s == MB_OK)
        add_fig(R, "maxbatch", 0,
                "The largest batch size that fits, found by the max_batch_size search, per "
                "method.");
    buf_free(&d);
    buf_free(&g);
    bars_free(&b);
    return s;
}

/* A scatter point: one plain cell. */
typedef struct rp_pt {
    double x, y;
    int cell, front;
} rp_pt;

static int cmp_pareto(const void *a, const void *b) {
    const rp_pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y < q->y) - (p->y > q->y); /* higher throughput first at equal memory */
}

static int n_plain_groups(const mb_report *R) {
    int n = 0;
    for (int g = 0; g < R->ngroups; g++) n += R->groups[g].kind == K_PLAIN;
    return n;
}

/* Point labels are `set label` commands, not a data column: the text is quoted by us, and a
 * gnuplot data file has no way to quote a label that holds quotes or tabs. Labels of points that
 * (nearly) coincide are stacked one line apart instead of printed over each other. */
static void scatter_labels(rp_buf *g, const mb_report *R, const rp_pt *p, int n) {
    int groups = n_plain_groups(R) > 1;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, p[i].x), x1 = fmax(x1, p[i].x);
        y0 = fmin(y0, p[i].y), y1 = fmax(y1, p[i].y);
    }
    double dx = (x1 - x0) * 0.15 + 1e-300, dy = (y1 - y0) * 0.02 + 1e-300;
    for (int i = 0; i < n; i++) {
        const rp_cell *cl = &R->cells[p[i].cell];
        int below = 0;
        for (int j = 0; j < i; j++)
            below += fabs(p[j].x - p[i].x) < dx && fabs(p[j].y - p[i].y) < dy;
        buf_add(g, "set label %d ", i + 1);
        rp_buf l = {0};
        buf_add(&l, "%s%s%s", cl->method, groups ? " " : "",
                groups ? R->groups[cl->group].label : "");
        gp_quote(g, buf_str(&l), 0);
        buf_free(&l);
        buf_add(g, " at %.9g,%.9g offset char 0.8,%.1f font ',9' noenhanced front\n", p[i].x,
                p[i].y, 0.6 - 1.1 * below);
    }
}

static int collect_points(const mb_report *R, int ycol, rp_pt *p) {
    int n = 0;
    for (int c = 0; c < R->ncells; c++) {
        if (R->cells[c].kind != K_PLAIN) continue;
        rp_agg a = aggregate(R, &R->cells[c]);
        double y = ycol == C_TPS ? a.tps : a.metric;
        if (!a.nok || !isfinite(a.peak_mib) || !isfinite(y)) continue;
        p[n++] = (rp_pt){a.peak_mib, y, c, 0};
    }
    return n;
}

static void scatter_xscale(rp_buf *g, const rp_pt *p, int n) {
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].x < lo) lo = p[i].x;
        if (p[i].x > hi) hi = p[i].x;
    }
    /* Decades of memory (tiny to large models) crush the small ones against the axis. */
    if (lo > 0 && hi / lo > 30) buf_add(g, "set logscale x 2\n");
    buf_add(g, "set offsets graph 0.05, graph 0.3, graph 0.1, graph 0.1\n");
}

static mb_status fig_pareto(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_pt *p = calloc((size_t)R->ncells + 1, sizeof *p);
    if (!p) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = collect_points(R, C_TPS, p);
    if (n == 0) {
        free(p);
        buf_add(&R->notes,
                "pareto: no ok cell has both a peak and a throughput; figure left out\n");
        return MB_OK;
    }
    /* Frontier: less memory and more throughput are better; walking up the memory axis, a point is
     * on it when nothing at or below its memory has at least its throughput. */
    qsort(p, (size_t)n, sizeof *p, cmp_pareto);
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (p[i].y > best) {
            p[i].front = 1;
            best = p[i].y;
        }
    rp_buf d = {0}, f = {0}, g = {0};
    buf_add(&d, "# pareto.dat - tracked peak memory (MiB) and throughput (tokens/s) per cell\n"
                "# peak_mib\ttokens_per_s\ton_frontier\tlabel\n");
    buf_add(&f, "# pareto_frontier.dat - the cells no other cell beats on both memory and "
                "throughput, by memory\n# peak_mib\ttokens_per_s\tlabel\n");
    for (int i = 0; i < n; i++) {
        const rp_cell *cl = &R->cells[p[i].cell];
        buf_add(&d, "%.9g\t%.9g\t%d", p[i].x, p[i].y, p[i].front);
        dat_label(&d, cl->label);
        if (!p[i].front) continue;
        buf_add(&f, "%.9g\t%.9g", p[i].x, p[i].y);
        dat_label(&f, cl->label);
    }
    int w = 1200, h = 800;
    gp_begin(&g, R, "pareto", "peak memory against throughput, with the Pareto frontier", w, h);
    buf_add(&g, "set title 'Memory against throughput (better: left and up); line: Pareto "
                "frontier' noenhanced\n"
                "set xlabel 'tracked peak memory (MiB)' noenhanced\n"
                "set ylabel 'throughput (tokens/s)' noenhanced\n"
                "set key bottom right noenhanced\n"
                "set grid xtics ytics lc rgb '#dddddd'\n");
    scatter_xscale(&g, p, n);
    scatter_labels(&g, R, p, n);
    buf_add(&g, "plot 'pareto.dat' using 1:2 with points pt 7 ps 1.3 lc rgb '#4c72b0' "
                "title 'cells', \\\n"
                "  'pareto_frontier.dat' using 1:2 with steps lw 2 lc rgb '#c44e52' "
                "title 'Pareto frontier', \\\n"
                "  'pareto_frontier.dat' using 1:2 with points pt 6 ps 2 lc rgb '#c44e52' "
                "notitle\n");
    gp_end(&g, "pareto", w, h);
    mb_status s = write_file(ctx, dir, "pareto.dat", &d);
    if (s == MB_OK) s = write_file(ctx, dir, "pareto_frontier.dat", &f);
    if (s == MB_OK) s = write_file(ctx, dir, "pareto.gp", &g);
    if (s == MB_OK) s = run_gnuplot(ctx, dir, "pareto");
    if (s == MB_OK)
        add_fig(R, "pareto", 1,
                "Tracked peak memory against throughput; the line is the Pareto frontier (no other "
                "cell has less memory and more throughput).");
    buf_free(&d);
    buf_free(&f);
    buf_free(&g);
    free(p);
    return s;
}

static mb_status fig_quality(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_pt *p = calloc((size_t)R->ncells + 1, sizeof *p);
    if (!p) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = collect_points(R, C_METRIC, p);
    if (n == 0) {
        free(p);
        buf_add(&R->notes, "quality: no ok cell has both a peak and a metric value; figure left "
                           "out\n");
        return MB_OK;
    }
    /* The y axis says which metric (val_loss, accuracy): the name comes from the rows. */
    const char *metric = R->rows[R->cells[p[0].cell].rows[0]].s[C_METRIC_NAME];
    for (int i = 1; i < n; i++)
        if (strcmp(R->rows[R->cells[p[i].cell].rows[0]].s[C_METRIC_NAME], metric)) metric = "";
    if (!*metric) metric = "metric_value";
    rp_buf d = {0}, g = {0};
    buf_add(&d,
            "# quality.dat - tracked peak memory (MiB) and %s per cell\n"
            "# peak_mib\tmetric_value\tlabel\n",
            metric);
    for (int i = 0; i < n; i++) {
        buf_add(&d, "%.9g\t%.9g", p[i].x, p[i].y);
        dat_label(&d, R->cells[p[i].cell].label);
    }
    int w = 1200, h = 800;
    gp_begin(&g, R, "quality", "validation metric against peak memory", w, h);
    rp_buf t = {0};
    const char *better = mb_metric_direction(metric);
    int higher = better && !strcmp(better, "higher");
    buf_add(&t, "%s against peak memory (%s and to the left is better)", metric,
            higher ? "higher" : "lower");
    buf_add(&g, "set title ");
    gp_quote(&g, buf_str(&t), 0);
    buf_add(&g, " noenhanced\nset ylabel ");
    buf_free(&t);
    buf_add(&t, "%s (%s is better)", metric, higher ? "higher" : "lower");
    gp_quote(&g, buf_str(&t), 0);
    buf_free(&t);
    buf_add(&g, " noenhanced\n"
                "set xlabel 'tracked peak memory (MiB)' noenhanced\n"
                "set grid xtics ytics lc rgb '#dddddd'\n"
                "unset key\n");
    scatter_xscale(&g, p, n);
    scatter_labels(&g, R, p, n);
    buf_add(&g, "plot 'quality.dat' using 1:2 with points pt 7 ps 1.3 lc rgb '#8172b2'\n");
    gp_end(&g, "quality", w, h);
    mb_status s = write_file(ctx, dir, "quality.dat", &d);
    if (s == MB_OK) s = write_file(ctx, dir, "quality.gp", &g);
    if (s == MB_OK) s = run_gnuplot(ctx, dir, "quality");
    if (s == MB_OK)
        add_fig(R, "quality", 0, "%s (%s is better) against tracked peak memory.", metric,
                higher ? "higher" : "lower");
    buf_free(&d);
    buf_free(&g);
    free(p);
    return s;
}

/* One loss curve: the rows of one config hash in one steps file. Only the first contiguous run of
 * a hash is used: a suite re-run into the same folder appends its steps again, and joining the
 * two runs would draw one zigzag line. */
typedef struct rp_series {
    const char *hash;
    int row, table, first, end; /* results row; steps table and its rows [first, end) */
    int ntrain, neval;
} rp_series;

/* The config hashes of the ok plain rows, sorted, for bsearch: steps of failed cells are never
 * drawn, and each hash gets one line (`taken`) even when several steps files have it. */
typedef struct rp_hashed {
    const char *hash;
    int row, taken;
} rp_hashed;

static int cmp_hashed(const void *a, const void *b) {
    const rp_hashed *x = a, *y = b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x->row > y->row) - (x->row < y->row); /* the first row of a duplicate wins */
}

static int steps_point(const mb_table *st, const rp_steps_cols *c, int r, double *step,
                       double *loss) {
    *loss = mb_table_num(st, r, c->loss);
    *step = mb_table_num(st, r, c->step);
    return isfinite(*loss) && isfinite(*step);
}

/* The series of every steps file, in file order; *out is owned by the caller (NULL on error). */
static mb_status collect_series(mb_ctx *ctx, const mb_report *R, rp_series **out, int *nout) {
    int cap = 16, n = 0, nh = 0;
    rp_series *sr = malloc((size_t)cap * sizeof *sr);
    rp_hashed *idx = malloc(((size_t)R->nrows + 1) * sizeof *idx);
    *out = NULL;
    *nout = 0;
    if (!sr || !idx) {
        free(sr);
        free(idx);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    for (int i = 0; i < R->nrows; i++) {
        const rp_row *r = &R->rows[i];
        if (is_ok(r) && R->cells[r->cell].kind == K_PLAIN)
            idx[nh++] = (rp_hashed){r->s[C_HASH], i, 0};
    }
    qsort(idx, (size_t)nh, sizeof *idx, cmp_hashed);
    for (int t = 0; t < R->nsteps; t++) {
        const mb_table *st = &R->steps[t];
        const rp_steps_cols *c = &R->scols[t];
        for (int r = 0; r < st->nrows;) {
            const char *h = mb_table_get(st, r, c->hash);
            int end = r + 1;
            while (end < st->nrows && !strcmp(mb_table_get(st, end, c->hash), h)) end++;
            /* lower bound: row -1 sorts before every row with this hash, so this lands on
             * the first of them (the row a duplicate hash maps to) */
            rp_hashed key = {h, -1, 0}, *f = NULL;
            int lo = 0, hi = nh;
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (cmp_hashed(&idx[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < nh && !strcmp(idx[lo].hash, h)) f = &idx[lo];
            if (f && !f->taken) {
                f->taken = 1;
                if (n == cap) {
                    rp_series *m = realloc(sr, (size_t)(cap *= 2) * sizeof *sr);
                    if (!m) {
                        free(sr);
                        free(idx);
                        return mb_error(ctx, MB_ENOMEM, "host allocation");
                    }
                    sr = m;
                }
                rp_series *e = &sr[n++];
                *e = (rp_series){h, f->row, t, r, end, 0, 0};
                for (int i = r; i < end; i++) {
                    double step, loss;
                    if (!steps_point(st, c, i, &step, &loss)) continue;
                    if (!strcmp(mb_table_get(st, i, c->phase), "eval"))
                        e->neval++;
                    else
                        e->ntrain++;
                }
            }
            r = end;
        }
    }
    free(idx);
    *out = sr;
    *nout = n;
    return MB_OK;
}

static mb_status fig_loss(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (R->nsteps == 0) {
        buf_add(&R->notes, "loss: no steps.csv; figure left out\n");
        return MB_OK;
    }
    rp_series *sr;
    int n;
    MB_TRY(collect_series(ctx, R, &sr, &n));
    /* Blocks in loss.dat: gnuplot's `index` counts blocks split by two blank lines; empty blocks
     * are not written, so their numbers are kept here. */
    rp_buf d = {0}, g = {0}, plot = {0};
    buf_add(&d, "# loss.dat - loss against step from steps.csv: per cell a block of training "
                "losses, then a block of validation losses (loss.gp names the index of each)\n");
    int block = 0, drawn = 0;
    for (int k = 0; k < n; k++) {
        if (!sr[k].ntrain && !sr[k].neval) continue;
        const char *label = R->rows[sr[k].row].label;
        const mb_table *st = &R->steps[sr[k].table];
        const rp_steps_cols *c = &R->scols[sr[k].table];
        for (int phase = 0; phase < 2; phase++) {
            if (!(phase ? sr[k].neval : sr[k].ntrain)) continue;
            buf_add(&d, "%s# %s: ", block ? "\n\n" : "", phase ? "eval" : "train");
            plain_text(&d, label);
            buf_add(&d, "\n# step\tloss\n");
            for (int r = sr[k].first; r < sr[k].end; r++) {
                double step, loss;
                int is_eval = !strcmp(mb_table_get(st, r, c->phase), "eval");
                if (is_eval == phase && steps_point(st, c, r, &step, &loss))
                    buf_add(&d, "%.9g\t%.9g\n", step, loss);
            }
            /* One colour per cell (and a dash pattern once the 8 colours run out); its validation
             * points in the same colour, without a legend entry of their own. */
            buf_add(&plot, "%s \\\n  'loss.dat' index %d using 1:2 ", block ? "," : "", block);
            if (phase)
                buf_add(&plot, "with points pt 7 ps 1.1 lc %d notitle", drawn % 8 + 1);
            else {
                buf_add(&plot, "with lines lw 1.6 lc %d dt %d title ", drawn % 8 + 1,
                        drawn / 8 % 5 + 1);
                gp_quote(&plot, label, 0);
                buf_add(&plot, " noenhanced");
            }
            block++;
        }
        drawn++;
    }
    mb_status s = MB_OK;
    if (drawn == 0) {
        buf_add(&R->notes, "loss: no ok cell has rows in steps.csv; figure left out\n");
    } else {
        /* A legend of more lines than this would be taller than the plot and unreadable (and
         * Cairo refuses canvases tens of thousands of pixels high). */
        enum { MAX_KEY = 40 };
        int w = 1300, h = 700 + 18 * (drawn > MAX_KEY ? 0 : drawn);
        gp_begin(&g, R, "loss", "loss curves from steps.csv, one line per cell", w, h);
        buf_add(&g,
                "set title 'Loss: lines are training loss, points are validation loss' "
                "noenhanced\n"
                "set xlabel 'step' noenhanced\n"
                "set ylabel 'loss' noenhanced\n"
                "%s\n"
                "plot%s\n",
                drawn > MAX_KEY ? "unset key"
                                : "set key outside below left vertical maxcols 1 noenhanced",
                buf_str(&plot));
        if (drawn > MAX_KEY)
            buf_add(&R->notes,
                    "loss: %d lines, too many for a legend; loss.gp and loss.dat name "
                    "each\n",
                    drawn);
        gp_end(&g, "loss", w, h);
        s = write_file(ctx, dir, "loss.dat", &d);
        if (s == MB_OK) s = write_file(ctx, dir, "loss.gp", &g);
        if (s == MB_OK) s = run_gnuplot(ctx, dir, "loss");
        if (s == MB_OK)
            add_fig(R, "loss", 0,
                    "Training loss per step (lines) and validation loss (points), one colour per "
                    "cell, from steps.csv.");
    }
    buf_free(&d);
    buf_free(&g);
    buf_free(&plot);
    free(sr);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * report.md and index.html */

typedef struct rp_cells_line {
    const char *label;
    char status[96], runs[32], peak[32], pred[32], time[64], tps[32], metric[32];
} rp_cells_line;

#define DASH "\u2013"

static void fmt_or_dash(char *out, size_t n, const char *fmt, double v) {
    if (isfinite(v))
        snprintf(out, n, fmt, v);
    else
        snprintf(out, n, DASH);
}

/* The summary line of a cell (trials of a search are left to the non-ok table and their result
 * row): numbers only from its ok rows. */
static void cells_line(const mb_report *R, const rp_cell *cl, rp_cells_line *L) {
    rp_agg a = aggregate(R, cl);
    L->label = cl->label;
    if (a.nok == cl->n)
        snprintf(L->status, sizeof L->status, "ok");
    else if (a.nok)
        snprintf(L->status, sizeof L->status, "ok in %d of %d", a.nok, cl->n);
    else
        snprintf(L->status, sizeof L->status, "%s", R->rows[cl->rows[0]].s[C_STATUS]);
    snprintf(L->runs, sizeof L->runs, "%d", cl->n);
    fmt_or_dash(L->peak, sizeof L->peak, "%.3f", a.peak_mib);
    fmt_or_dash(L->pred, sizeof L->pred, "%.3f", a.pred_mib);
    if (isfinite(a.ms))
        snprintf(L->time, sizeof L->time, "%.3f [%.3f" DASH "%.3f]", a.ms, a.lo, a.hi);
    else
        snprintf(L->time, sizeof L->time, DASH);
    fmt_or_dash(L->tps, sizeof L->tps, "%.0f", a.tps);
    fmt_or_dash(L->metric, sizeof L->metric, "%.4f", a.metric);
}

static int n_not_ok(const mb_report *R) {
    int n = 0;
    for (int i = 0; i < R->nrows; i++) n += !is_ok(&R->rows[i]);
    return n;
}

static int n_trials(const mb_report *R) {
    int n = 0;
    for (int i = 0; i < R->nrows; i++) n += R->cells[R->rows[i].cell].kind == K_TRIAL;
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Beside the peers: membench's ok cells on each configuration a peer published, and the peers */

/* A peer's configuration: the first peer row with this model, batch, sequence and precision. */
static int peer_group_first(const mb_report *R, int i) {
    const mb_peer *p = &R->peers[i];
    for (int j = 0; j < i; j++) {
        const mb_peer *q = &R->peers[j];
        if (!strcmp(p->model, q->model) && p->batch_size == q->batch_size &&
            p->seq_len == q->seq_len && !strcmp(p->precision, q->precision))
            return j;
    }
    return i;
}

/* Whether plain cell cl ran peer p's configuration. */
static int cell_on_peer(const mb_report *R, const rp_cell *cl, const mb_peer *p) {
    const rp_row *r = &R->rows[cl->rows[0]];
    return cl->kind == K_PLAIN && !strcmp(r->s[C_MODEL], p->model) &&
           atoi(r->s[C_BS]) == p->batch_size && atoi(r->s[C_SEQ]) == p->seq_len &&
           !strcmp(r->s[C_PREC], p->precision);
}

typedef struct rp_side {
    int peer;  /* index in R->peers, or -1 for a membench cell */
    int cell;  /* membench: the cell */
    int group; /* the configuration: its first peer row */
    double ms, mib;
} rp_side;

/* Every bar, configuration by configuration: membench's ok cells with step times, then the peers.
 * Returns how many (side has room for ncells + npeers). */
static int side_by_side(const mb_report *R, rp_side *side) {
    int n = 0;
    for (int g = 0; g < R->npeers; g++) {
        if (peer_group_first(R, g) != g) continue;
        for (int c = 0; c < R->ncells; c++) {
            if (!cell_on_peer(R, &R->cells[c], &R->peers[g])) continue;
            rp_agg a = aggregate(R, &R->cells[c]);
            if (!isfinite(a.ms)) continue;
            side[n++] = (rp_side){-1, c, g, a.ms, a.peak_mib};
        }
        for (int i = g; i < R->npeers; i++)
            if (peer_group_first(R, i) == g)
                side[n++] = (rp_side){i, -1, g, R->peers[i].step_ms, R->peers[i].peak_mib};
    }
    return n;
}

static void side_config(rp_buf *b, const mb_peer *p) {
    buf_add(b, "%s %dx%d %s", p->model, p->batch_size, p->seq_len, p->precision);
}

static void side_who(rp_buf *b, const mb_report *R, const rp_side *x) {
    if (x->peer >= 0)
        buf_add(b, "%s", R->peers[x->peer].name);
    else
        buf_add(b, "membench %s", R->cells[x->cell].method);
}

static mb_status fig_peers(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (!R->npeers) return MB_OK;
    rp_side *side = calloc((size_t)(R->ncells + R->npeers) + 1, sizeof *side);
    if (!side) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = side_by_side(R, side), ngroups = 0;
    for (int i = 0; i < R->npeers; i++) ngroups += peer_group_first(R, i) == i;
    rp_buf d = {0}, g = {0};
    buf_add(&d, "# peers.dat - step time (ms) and peak (MiB, NaN when unpublished) of membench's "
                "cells and the peers' published figures, configuration by configuration\n"
                "# x\tstep_ms\tpeak_mib\tpeer\tlabel\n");
    double x = 0;
    for (int i = 0; i < n; i++) {
        if (i && side[i].group != side[i - 1].group) x += 1; /* a gap between configurations */
        buf_add(&d, "%g\t", x);
        fmt_num(&d, side[i].ms);
        buf_add(&d, "\t");
        fmt_num(&d, side[i].mib);
        buf_add(&d, "\t%d", side[i].peer >= 0);
        rp_buf l = {0};
        side_who(&l, R, &side[i]);
        if (ngroups > 1) {
            buf_add(&l, " (");
            side_config(&l, &R->peers[side[i].group]);
            buf_add(&l, ")");
        }
        dat_label(&d, buf_str(&l));
        buf_free(&l);
        x += 1;
    }
    const int w = 200 + 70 * (int)x, h = 760;
    gp_begin(&g, R, "peers", "membench beside the peers' published step times", w < 900 ? 900 : w,
             h);
    buf_add(&g, "set title 'Step time: membench (measured here) beside the peers (published)' "
                "noenhanced\n"
                "set ylabel 'ms per step' noenhanced\n"
                "set yrange [0:*]\n"
                "set style fill solid 0.75 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "set key top left noenhanced\n"
                "set xtics rotate by -35 left noenhanced\n"
                "set bmargin 16\n"
                "plot 'peers.dat' using 1:($4 == 0 ? $2 : 1/0):xtic(5) with boxes lc rgb '#4c72b0' "
                "title 'membench', \
"
                "  'peers.dat' using 1:($4 == 1 ? $2 : 1/0) with boxes lc rgb '#dd8452' "
                "title 'peer (published)', \
"
                "  'peers.dat' using 1:2:(sprintf('%%.1f', $2)) with labels offset 0,0.7 "
                "notitle\n");
    gp_end(&g, "peers", w < 900 ? 900 : w, h);
    mb_status s = MB_OK;
    if (n == 0) {
        buf_add(&R->notes, "peers: no row of %s has a step time; figure left out\n", R->peers_path);
    } else {
        s = write_file(ctx, dir, "peers.dat", &d);
        if (s == MB_OK) s = write_file(ctx, dir, "peers.gp", &g);
        if (s == MB_OK) s = run_gnuplot(ctx, dir, "peers");
        if (s == MB_OK)
            add_fig(R, "peers", 0,
                    "Median step time of membench's ok cells on each configuration in the peers "
                    "file, beside the figures the peers published (%d configurations).",
                    ngroups);
    }
    buf_free(&d);
    buf_free(&g);
    free(side);
    return s;
}

/* report.md's table of the same bars, with peaks and the peers' sources. */
static void md_peers(rp_buf *m, const mb_report *R) {
    if (!R->npeers) return;
    rp_side *side = calloc((size_t)(R->ncells + R->npeers) + 1, sizeof *side);
    if (!side) {
        m->oom = 1;
        return;
    }
    int n = side_by_side(R, side);
    buf_add(m, "## Beside the peers\n\nmembench's rows are measured here; the peers' are the "
               "figures they published, from ");
    md_code(m, R->peers_path);
    buf_add(m, ".\n\n| configuration | who | step ms | peak MiB | source |\n"
               "|---|---|--:|--:|---|\n");
    for (int i = 0; i < n; i++) {
        rp_buf c = {0}, w = {0};
        side_config(&c, &R->peers[side[i].group]);
        side_who(&w, R, &side[i]);
        char ms[32], mib[32];
        fmt_or_dash(ms, sizeof ms, "%.1f", side[i].ms);
        fmt_or_dash(mib, sizeof mib, "%.1f", side[i].mib);
        buf_add(m, "| ");
        md_text(m, buf_str(&c));
        buf_add(m, " | ");
        md_text(m, buf_str(&w));
        buf_add(m, " | %s | %s | ", ms, mib);
        if (side[i].peer >= 0)
            md_text(m, R->peers[side[i].peer].source);
        else
            buf_add(m, "this report");
        buf_add(m, " |\n");
        buf_free(&c);
        buf_free(&w);
    }
    if (!n) buf_add(m, "| - | no row has a step time | - | - | - |\n");
    buf_add(m, "\n");
    free(side);
}

/* index.html's table of the same bars. */
static void html_peers(rp_buf *h, const mb_report *R) {
    if (!R->npeers) return;
    rp_side *side = calloc((size_t)(R->ncells + R->npeers) + 1, sizeof *side);
    if (!side) {
        h->oom = 1;
        return;
    }
    int n = side_by_side(R, side);
    buf_add(h, "<h2>Beside the peers</h2>\n<p>");
    html_text(h, "membench's rows are measured here; the peers' are the figures they published, "
                 "from ");
    buf_add(h, "<code>");
    html_text(h, R->peers_path);
    buf_add(h, "</code>.</p>\n<table>\n<tr><th>configuration</th><th>who</th><th>step ms</th>"
               "<th>peak MiB</th><th>source</th></tr>\n");
    for (int i = 0; i < n; i++) {
        rp_buf c = {0}, w = {0};
        side_config(&c, &R->peers[side[i].group]);
        side_who(&w, R, &side[i]);
        char ms[32], mib[32];
        fmt_or_dash(ms, sizeof ms, "%.1f", side[i].ms);
        fmt_or_dash(mib, sizeof mib, "%.1f", side[i].mib);
        buf_add(h, "<tr><td>");
        html_text(h, buf_str(&c));
        buf_add(h, "</td><td>");
        html_text(h, buf_str(&w));
        buf_add(h, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>", ms, mib);
        html_text(h, side[i].peer >= 0 ? R->peers[side[i].peer].source : "this report");
        buf_add(h, "</td></tr>\n");
        buf_free(&c);
        buf_free(&w);
    }
    if (!n)
        buf_add(h, "<tr><td>-</td><td>no row has a step time</td><td class=\"n\">-</td>"
                   "<td class=\"n\">-</td><td>-</td></tr>\n");
    buf_add(h, "</table>\n");
    free(side);
}

static mb_status write_markdown(mb_ctx *ctx, const mb_report *R, const char *dir) {
    rp_buf m = {0};
    buf_add(&m, "# membench report\n\nFrom");
    for (int i = 0; i < R->nres; i++) {
        buf_add(&m, "%s", i ? "," : "");
        buf_add(&m, " ");
        md_code(&m, R->res[i].path);
    }
    buf_add(&m, " (%d rows, %d cells).\n\n", R->nrows, R->ncells);
    for (int i = 0; i < R->nfigs; i++) {
        const rp_fig *f = &R->figs[i];
        buf_add(&m, "![%s](%s.png)\n\n", f->name, f->name);
        md_text(&m, f->caption);
        buf_add(&m, " ([SVG](%s.svg), [data](%s.dat)%s, [gnuplot script](%s.gp))\n\n", f->name,
                f->name, f->frontier ? ", [frontier](pareto_frontier.dat)" : "", f->name);
    }
    md_peers(&m, R);
    buf_add(&m, "## Cells\n\n| cell | status | runs | peak MiB | predicted MiB | step ms median "
                "[p10" DASH "p90] | tokens/s | val loss |\n"
                "|---|---|--:|--:|--:|--:|--:|--:|\n");
    for (int c = 0; c < R->ncells; c++) {
        if (R->cells[c].kind == K_TRIAL) continue;
        rp_cells_line L;
        cells_line(R, &R->cells[c], &L);
        buf_add(&m, "| ");
        md_code(&m, L.label);
        buf_add(&m, " | ");
        md_text(&m, L.status);
        buf_add(&m, " | %s | %s | %s | %s | %s | %s |\n", L.runs, L.peak, L.pred, L.time, L.tps,
                L.metric);
    }
    int bad = n_not_ok(R), trials = n_trials(R);
    if (trials)
        buf_add(&m,
                "\n%d trial rows of searches are not in this table or the figures; each "
                "search's answer is its max\\_batch\\_size row.\n",
                trials);
    buf_add(&m, "\n## Not plotted: status not ok\n\n");
    if (!bad)
        buf_add(&m, "Every row ended ok.\n");
    else
        buf_add(&m, "| cell | status | reason |\n|---|---|---|\n");
    for (int i = 0; i < R->nrows; i++) {
        const rp_row *r = &R->rows[i];
        if (is_ok(r)) continue;
        buf_add(&m, "| ");
        md_code(&m, r->label);
        buf_add(&m, " | ");
        md_text(&m, r->s[C_STATUS]);
        buf_add(&m, " | ");
        md_text(&m, r->s[C_REASON]);
        buf_add(&m, " |\n");
    }
    if (R->notes.len) {
        buf_add(&m, "\n## Notes\n\n");
        for (const char *p = buf_str(&R->notes); *p;) {
            size_t n = strcspn(p, "\n");
            char line[4096];
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            buf_add(&m, "- ");
            md_text(&m, line);
            buf_add(&m, "\n");
            p += n + (p[n] == '\n');
        }
    }
    mb_status s = write_file(ctx, dir, "report.md", &m);
    buf_free(&m);
    return s;
}

static mb_status write_html(mb_ctx *ctx, const mb_report *R, const char *dir) {
    rp_buf h = {0};
    buf_add(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>membench report</title>\n<style>\n"
                "body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:2em auto;"
                "max-width:1400px;padding:0 1em;color:#222}\n"
                "h1,h2{font-weight:600}\n"
                "figure{margin:2em 0}\nfigure img{max-width:100%%;height:auto;"
                "border:1px solid #ddd}\n"
                "figcaption{color:#444;margin-top:.4em}\n"
                "table{border-collapse:collapse;font-size:.9em}\n"
                "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;"
                "vertical-align:top}\n"
                "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
                "code{font-family:'DejaVu Sans Mono',monospace;font-size:.95em}\n"
                "tr.bad td{background:#fff4f4}\n"
                "</style>\n</head>\n<body>\n<h1>membench report</h1>\n<p>From");
    for (int i = 0; i < R->nres; i++) {
        buf_add(&h, "%s <code>", i ? "," : "");
        html_text(&h, R->res[i].path);
        buf_add(&h, "</code>");
    }
    buf_add(&h, " (%d rows, %d cells).</p>\n", R->nrows, R->ncells);
    for (int i = 0; i < R->nfigs; i++) {
        const rp_fig *f = &R->figs[i];
        buf_add(&h, "<figure id=\"%s\">\n<img src=\"%s.svg\" alt=\"%s\">\n<figcaption>", f->name,
                f->name, f->name);
        html_text(&h, f->caption);
        buf_add(&h,
                " <a href=\"%s.png\">PNG</a> &middot; <a href=\"%s.svg\">SVG</a> &middot; "
                "<a href=\"%s.dat\">data</a> &middot; ",
                f->name, f->name, f->name);
        if (f->frontier) buf_add(&h, "<a href=\"pareto_frontier.dat\">frontier</a> &middot; ");
        buf_add(&h, "<a href=\"%s.gp\">gnuplot script</a></figcaption>\n</figure>\n", f->name);
    }
    html_peers(&h, R);
    buf_add(&h, "<h2>Cells</h2>\n<table>\n<tr><th>cell</th><th>status</th><th>runs</th>"
                "<th>peak MiB</th><th>predicted MiB</th><th>step ms median [p10" DASH "p90]</th>"
                "<th>tokens/s</th><th>val loss</th></tr>\n");
    for (int c = 0; c < R->ncells; c++) {
        if (R->cells[c].kind == K_TRIAL) continue;
        rp_cells_line L;
        cells_line(R, &R->cells[c], &L);
        buf_add(&h, "<tr%s><td><code>", strcmp(L.status, "ok") ? " class=\"bad\"" : "");
        html_text(&h, L.label);
        buf_add(&h, "</code></td><td>");
        html_text(&h, L.status);
        buf_add(&h,
                "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
                L.runs, L.peak, L.pred, L.time, L.tps, L.metric);
    }
    buf_add(&h, "</table>\n");
    int bad = n_not_ok(R), trials = n_trials(R);
    if (trials) {
        rp_buf t = {0};
        buf_add(&t,
                "%d trial rows of searches are not in this table or the figures; each "
                "search's answer is its max_batch_size row.",
                trials);
        buf_add(&h, "<p>");
        html_text(&h, buf_str(&t));
        buf_add(&h, "</p>\n");
        buf_free(&t);
    }
    buf_add(&h, "<h2>Not plotted: status not ok</h2>\n");
    if (!bad)
        buf_add(&h, "<p>Every row ended ok.</p>\n");
    else
        buf_add(&h, "<table>\n<tr><th>cell</th><th>status</th><th>reason</th></tr>\n");
    for (int i = 0; i < R->nrows; i++) {
        const rp_row *r = &R->rows[i];
        if (is_ok(r)) continue;
        buf_add(&h, "<tr><td><code>");
        html_text(&h, r->label);
        buf_add(&h, "</code></td><td>");
        html_text(&h, r->s[C_STATUS]);
        buf_add(&h, "</td><td>");
        html_text(&h, r->s[C_REASON]);
        buf_add(&h, "</td></tr>\n");
    }
    if (bad) buf_add(&h, "</table>\n");
    if (R->notes.len) {
        buf_add(&h, "<h2>Notes</h2>\n<ul>\n");
        for (const char *p = buf_str(&R->notes); *p;) {
            size_t n = strcspn(p, "\n");
            char line[4096];
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            buf_add(&h, "<li>");
            html_text(&h, line);
            buf_add(&h, "</li>\n");
            p += n + (p[n] == '\n');
        }
        buf_add(&h, "</ul>\n");
    }
    buf_add(&h, "</body>\n</html>\n");
    mb_status s = write_file(ctx, dir, "index.html", &h);
    buf_free(&h);
    return s;
}

mb_status mb_report_write(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (!on_path("gnuplot")) return mb_error(ctx, MB_ENOTFOUND, GNUPLOT_MISSING);
    MB_TRY(mkdirs(ctx, dir));
    R->nfigs = 0;
    MB_TRY(fig_memory(ctx, R, dir));
    MB_TRY(fig_time(ctx, R, dir));
    MB_TRY(fig_pareto(ctx, R, dir));
    MB_TRY(fig_loss(ctx, R, dir));
    MB_TRY(fig_quality(ctx, R, dir));
    MB_TRY(fig_maxbatch(ctx, R, dir));
    MB_TRY(fig_peers(ctx, R, dir));
    if (R->notes.oom) return mb_error(ctx, MB_ENOMEM, "host allocation");
    MB_TRY(write_markdown(ctx, R, dir));
    return write_html(ctx, R, dir);
}
