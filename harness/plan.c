/* harness/plan.c — cell expansion and canonical cell descriptions for config hashes. */
#include "plan.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../datasets/content.h"
#include "../reports/label.h"
#include "../datasets/sha256.h"
#include "../engine/file.h"

void mb_plan_free(mb_plan *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->cells[i].config);
        free(p->cells[i].params);
    }
    free(p->cells);
    memset(p, 0, sizeof *p);
}

/* A growing string; on allocation failure it stays NULL and the caller reports it. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (!b->s && b->cap) return; /* an earlier failure */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) {
            free(b->s);
            b->s = NULL;
            b->cap = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Method parameters as "name.param=value;..." in stack and declaration order. */
static char *params_text(const mb_stack_cfg *st) {
    sbuf b = {0};
    sb_printf(&b, "%s", "");
    for (int i = 0; i < st->n; i++) {
        const mb_method *m = st->items[i].method;
        for (int k = 0; k < m->nparams; k++) {
            const mb_param_decl *d = &m->params[k];
            double v = st->items[i].vals[k].num;
            sb_printf(&b, "%s%s.%s=", b.len ? ";" : "", m->name, d->name);
            char val[64];
            mb_param_format(d, v, 1, val, sizeof val);
            sb_printf(&b, "%s", val);
        }
    }
    return b.s;
}

int mb_filter_matches(const mb_filter *f, const char *label) {
    if (!f || !f->n) return 1;
    for (int i = 0; i < f->n; i++)
        if (mb_plan_label_matches(f->pat[i], label)) return 1;
    return 0;
}

int mb_plan_label_matches(const char *pattern, const char *label) {
    if (fnmatch(pattern, label, 0) == 0) return 1;
    /* compare and report name a cell without its repeat: such a label selects all its repeats */
    size_t len = mb_label_cell_len(label);
    if (!len) return 0;
    char cell[sizeof((mb_cell *)0)->label];
    snprintf(cell, sizeof cell, "%.*s", (int)len, label);
    return fnmatch(pattern, cell, 0) == 0;
}

static mb_status add_cell(mb_ctx *ctx, const mb_suite *s, mb_plan *p, int *cap,
                          const mb_target_cfg *tg, const mb_model_cfg *md, const mb_stack_cfg *st,
                          int bs, int seq, mb_precision prec, int rep, mb_search_kind search,
                          const mb_filter *filter, char data_id[65]) {
    mb_cell c;
    memset(&c, 0, sizeof c);
    c.target = tg;
    c.model = md;
    c.stack = st;
    c.search = search;
    c.row_search = mb_search_name(search);
    c.batch_size = search == MB_SEARCH_MAX_BATCH ? 0 : bs;
    c.seq_len = search == MB_SEARCH_MAX_SEQ ? 0 : seq ? seq : md->shape.seq_len;
    c.precision = prec;
    c.repeat = rep;
    c.seed = s->seed + (uint64_t)rep;
    char sl[160], bl[16], tl[16];
    mb_stack_label(st, sl, sizeof sl);
    snprintf(bl, sizeof bl, "%d", c.batch_size);
    snprintf(tl, sizeof tl, "%d", c.seq_len);
    snprintf(c.label, sizeof c.label, "%s/%s/%s/bs=%s/seq=%s/%s/r%d", tg->name, md->name, sl,
             search == MB_SEARCH_MAX_BATCH ? "max" : bl, search == MB_SEARCH_MAX_SEQ ? "max" : tl,
             mb_precision_name(prec), rep);
    if (!mb_filter_matches(filter, c.label)) return MB_OK;
    mb_status ds =
        data_id[0] != '?'
            ? MB_OK /* the data's content id, once, for the first cell */
            : mb_data_content_id(ctx, mb_data_kinds[s->data.kind], s->data.tokenizer,
                                 s->data.tokenizer_file ? s->data.tokenizer_file : s->data.path,
                                 data_id);
    const char *file = s->path ? s->path : s->name;
    if (ds != MB_OK && s->data.line) /* where the suite names the data */
        return mb_error_prefix(ctx, ds, "%s:%d:%d: error", file, s->data.line, s->data.col);
    if (ds != MB_OK) return mb_error_prefix(ctx, ds, "%s: error: data", file);
    c.params = params_text(st);
    sbuf b = {0};
    const mb_model_config *g = &md->shape;
    sb_printf(&b,
              "membench-cell-v1\nsuite=%s\ntarget=%s backend=%s device=%d memory_cap=%zu\n"
              "model=%s arch=gpt layers=%d d_model=%d heads=%d seq_len=%d vocab=%d\n"
              "stack=%s\nparams=%s\ntask=%s batch_size=%d seq_len=%d precision=%s\n"
              "steps=%d warmup_steps=%d eval_every=%d eval_batches=%d\n",
              s->name, tg->name, tg->backend == MB_TARGET_CUDA ? "cuda" : "cpu", tg->device,
              tg->memory_cap, md->name, g->layers, g->d_model, g->heads, g->seq_len, g->vocab,
              st->label, c.params ? c.params : "", s->classify ? "classify" : "train", bs,
              c.seq_len, mb_precision_name(prec), s->steps, s->warmup_steps, s->eval_every,
              s->eval_batches);
    if (tg->threads) sb_printf(&b, "threads=%d\n", tg->threads); /* set: part of the cell */
    /* an attention set other than auto: part of the cell (GPT cells left on auto keep their hashes)
     */
    mb_attention_mode att = md->attention ? md->attention : tg->attention;
    if (att == MB_ATTN_NAIVE || att == MB_ATTN_FLASH)
        sb_printf(&b, "attention=%s\n", mb_attention_mode_name(att));
    /* a checkpoint's model: its path and the shape fields config.json sets beyond the line above;
     * a LLaMA given by preset or keys: the shape beyond GPT's keys */
    if (md->hf)
        sb_printf(&b, "hf=%s arch=%s kv_heads=%d d_ff=%d tie=%d rope_theta=%.17g norm_eps=%.17g\n",
                  md->hf, mb_arch_name(g->arch), g->kv_heads, g->d_ff, g->tie, g->rope_theta,
                  g->norm_eps);
    else if (g->arch == MB_ARCH_LLAMA)
        sb_printf(&b, "arch=llama kv_heads=%d d_ff=%d rope_theta=%.17g norm_eps=%.17g tie=%d\n",
                  g->kv_heads, g->d_ff, g->rope_theta, g->norm_eps, g->tie);
    if (s->data.kind == MB_DATA_FILE)
        sb_printf(&b, "data=file path=%s val_fraction=%.17g\n", s->data.path, s->data.val_fraction);
    else if (s->data.kind == MB_DATA_SOTU || s->data.kind == MB_DATA_MOBY_DICK ||
             s->data.kind == MB_DATA_SPAM)
        sb_printf(&b, "data=%s tokenizer=%s val_fraction=%.17g\n",
                  s->data.kind == MB_DATA_SOTU        ? "sotu"
                  : s->data.kind == MB_DATA_MOBY_DICK ? "moby-dick"
                                                      : "spam-assassin",
                  s->data.tokenizer == MB_DATA_TOK_FILE ? "json"
                  : s->data.tokenizer                   ? "bytes"
                                                        : "gpt2",
                  s->data.val_fraction);
    else if (s->data.kind == MB_DATA_FASHION_MNIST)
        sb_printf(&b, "data=fashion-mnist\n");
    else
        sb_printf(&b, "data=synthetic vocab=%d val_fraction=%.17g\n", s->data.vocab,
                  s->data.val_fraction);
    if (data_id[0]) sb_printf(&b, "data_sha256=%s\n", data_id);
    sb_printf(&b, "seed=%llu repeat=%d\n", (unsigned long long)c.seed, rep);
    if (search)
        sb_printf(&b, "search=%s start=%d max=%d trial_steps=%d\n", mb_search_name(search),
                  s->search.start, s->search.max, s->search.trial_steps);
    c.config = b.s;
    if (!c.config || !c.params) {
        free(c.config);
        free(c.params);
        return mb_error(ctx, MB_ENOMEM, "host allocation while planning");
    }
    mb_sha256_hex(c.config, c.hash);
    if (p->n == *cap) { /* doubling: the count is at most MB_MAX_CELLS, checked before */
        int ncap = *cap ? 2 * *cap : 16;
        mb_cell *cells = realloc(p->cells, (size_t)ncap * sizeof *cells);
        if (!cells) {
            free(c.config);
            free(c.params);
            return mb_error(ctx, MB_ENOMEM, "host allocation while planning");
        }
        p->cells = cells;
        *cap = ncap;
    }
    c.index = p->n;
    p->cells[p->n++] = c;
    return MB_OK;
}

static const mb_matrix_axis *axis(const mb_suite *s, const char *key) {
    for (int i = 0; i < s->naxes; i++)
        if (!strcmp(s->axes[i].key, key)) return &s->axes[i];
    return NULL;
}

static int by_hash(const void *a, const void *b) {
    const mb_cell *x = *(const mb_cell *const *)a, *y = *(const mb_cell *const *)b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Two cells of one configuration share a config hash, and results and --resume tell cells apart
 * by it: refused (the loader refuses duplicate lists; this holds for a suite changed in code). */
static mb_status unique_cells(mb_ctx *ctx, const mb_suite *s, const mb_plan *p) {
    if (p->n < 2) return MB_OK;
    const mb_cell **v = malloc((size_t)p->n * sizeof *v);
    if (!v) return mb_error(ctx, MB_ENOMEM, "host allocation while planning");
    for (int i = 0; i < p->n; i++) v[i] = &p->cells[i];
    qsort(v, (size_t)p->n, sizeof *v, by_hash);
    const mb_cell *first = NULL, *again = NULL; /* the earliest repeat, and what it repeats */
    for (int i = 1, g = 0; i < p->n; i++) {
        if (strcmp(v[i]->hash, v[g]->hash)) {
            g = i;
        } else if (i == g + 1 && (!again || v[i]->index < again->index)) {
            first = v[g];
            again = v[i];
        }
    }
    free(v);
    if (!again) return MB_OK;
    return mb_error(ctx, MB_EINVAL,
                    "%s: error: cells %d and %d have the same configuration (%s); their results "
                    "would mix",
                    s->path ? s->path : s->name, first->index, again->index, again->label);
}

mb_status mb_plan_build(mb_ctx *ctx, const mb_suite *s, const mb_filter *filter, mb_plan *out) {
    memset(out, 0, sizeof *out);
    const char *file = s->path ? s->path : s->name;
    char why[512];
    if (mb_suite_over_limit(s, why, sizeof why) >= 0) /* before a cell is allocated */
        return mb_error(ctx, MB_EINVAL, "%s: error: %s", file, why);
    /* A FIFO as init.checkpoint would block the run when the weights are opened; checked again
     * here because `membench run` resolves init: {suite: NAME} and the file may have changed since
     * loading. A missing file is the runner's to report. */
    struct stat sb;
    if (s->init_checkpoint && stat(s->init_checkpoint, &sb) == 0 && !S_ISREG(sb.st_mode) &&
        mb_file_check_regular(ctx, s->init_checkpoint, "init.checkpoint", 0) != MB_OK)
        return mb_error_prefix(ctx, MB_EINVAL, "%s: error", file);
    int cap = 0;
    const mb_matrix_axis *ab = axis(s, "batch_size"), *as = axis(s, "seq_len"),
                         *ap = axis(s, "precision");
    int nb = ab ? ab->n : 1, ns = as ? as->n : 1, np = ap ? ap->n : 1;
    char data_id[65] = "?";
    for (int t = 0; t < s->ntargets; t++)
        for (int mo = 0; mo < s->nmodels; mo++)
            for (int st = 0; st < s->nstacks; st++)
                for (int ib = 0; ib < nb; ib++)
                    for (int is = 0; is < ns; is++)
                        for (int ip = 0; ip < np; ip++)
                            for (int r = 0; r < s->repeat; r++) {
                                int bs = ab                         ? (int)ab->ints[ib]
                                         : s->models[mo].batch_size ? s->models[mo].batch_size
                                                                    : s->batch_size;
                                int seq = as ? (int)as->ints[is] : s->seq_len;
                                mb_precision pr = ap ? ap->precs[ip] : s->precision;
                                /* on the search target one cell per searched dimension */
                                mb_search_kind sk =
                                    t == s->search.target ? s->search.kind : MB_SEARCH_NONE;
                                if ((sk == MB_SEARCH_MAX_BATCH && ib > 0) ||
                                    (sk == MB_SEARCH_MAX_SEQ && is > 0))
                                    continue;
                                mb_status rc =
                                    add_cell(ctx, s, out, &cap, &s->targets[t], &s->models[mo],
                                             &s->stacks[st], bs, seq, pr, r, sk, filter, data_id);
                                if (rc != MB_OK) {
                                    mb_plan_free(out);
                                    return rc;
                                }
                            }
    mb_status rc = unique_cells(ctx, s, out);
    if (rc != MB_OK) mb_plan_free(out);
    return rc;
}
