/* reports/markdown.c — report.md from the report's text model: GitHub-flavoured Markdown with
 * images, tables and prose escaped (reports/escape.h) so that names from the results show
 * literally, in valid UTF-8. */
#include "table.h"

#include <string.h>

#include "escape.h"

static void md_spans(mb_text *m, const mb_rp_span *v, int n) {
    for (int i = 0; i < n; i++) {
        if (v[i].kind == MB_RP_TEXT)
            mb_esc_md_text(m, v[i].text);
        else if (v[i].kind == MB_RP_CODE)
            mb_esc_md_code(m, v[i].text);
        else
            mb_text_add(m, "%s", v[i].text);
    }
}

static void md_table(mb_text *m, const mb_rp_section *s) {
    mb_text_add(m, "|");
    for (int c = 0; c < s->ncols; c++) { /* Markdown has one header row: "GROUP: NAME" */
        mb_text_add(m, " ");
        if (s->cols[c].group) {
            mb_esc_md_text(m, s->cols[c].group);
            mb_text_add(m, ": ");
        }
        if (s->own) /* built from the results: names of inputs */
            mb_esc_md_text(m, s->cols[c].name);
        else
            mb_text_add(m, "%s", s->cols[c].name);
        mb_text_add(m, " |");
    }
    mb_text_add(m, "\n|");
    for (int c = 0; c < s->ncols; c++) mb_text_add(m, "%s|", s->cols[c].right ? "--:" : "---");
    mb_text_add(m, "\n");
    for (int r = 0; r < s->nrows; r++) {
        mb_text_add(m, "|");
        for (int c = 0; c < s->ncols; c++) {
            mb_text_add(m, " ");
            md_spans(m, &s->cells.v[r * s->ncols + c], 1);
            mb_text_add(m, " |");
        }
        mb_text_add(m, "\n");
    }
}

/* Sections [from, to): a heading each, then what it has. */
static void md_sections(mb_text *m, const mb_rp_doc *doc, int from, int to) {
    for (int i = from; i < to; i++) {
        const mb_rp_section *s = &doc->sec[i];
        mb_text_add(m, "%s## %s\n\n", i > doc->ntop ? "\n" : "", s->title);
        if (s->intro.n) {
            md_spans(m, s->intro.v, s->intro.n);
            mb_text_add(m, "\n\n");
        }
        if (s->ncols && s->nrows) {
            md_table(m, s);
        } else if (s->ncols && s->empty) {
            mb_esc_md_text(m, s->empty);
            mb_text_add(m, "\n");
        }
        if (s->items.n && s->ncols && s->nrows) mb_text_add(m, "\n"); /* a list under a table */
        for (int k = 0; k < s->items.n; k++) {
            mb_text_add(m, "- ");
            md_spans(m, &s->items.v[k], 1);
            mb_text_add(m, "\n");
        }
        if (s->outro.n) {
            mb_text_add(m, "\n");
            md_spans(m, s->outro.v, s->outro.n);
            mb_text_add(m, "\n");
        }
        if (i < doc->ntop) mb_text_add(m, "\n");
    }
}

mb_status mb_rp_write_markdown(mb_ctx *ctx, const mb_rp_doc *doc, const char *dir) {
    mb_text m = {0};
    mb_text_add(&m, "# membench report\n\n");
    md_spans(&m, doc->from.v, doc->from.n);
    mb_text_add(&m, "\n\n");
    md_sections(&m, doc, 0, doc->ntop);
    for (int i = 0; i < doc->nfigs; i++) {
        const mb_rp_fig *f = &doc->figs[i];
        mb_text_add(&m, "![%s](%s.png)\n\n", f->name, f->name);
        mb_esc_md_text(&m, f->caption);
        mb_text_add(&m, " ([SVG](%s.svg), [data](%s.dat)%s, [gnuplot script](%s.gp))\n\n", f->name,
                    f->name, f->frontier ? ", [frontier](pareto_frontier.dat)" : "", f->name);
    }
    md_sections(&m, doc, doc->ntop, doc->nsec);
    mb_status s = mb_text_write(ctx, dir, "report.md", &m);
    mb_text_free(&m);
    return s;
}
