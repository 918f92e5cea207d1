/* reports/html.c — index.html from the report's text model: a self-contained page (its images
 * and links name only files in the output folder), every name and message escaped. */
#include "table.h"

#include <string.h>

#include "escape.h"

/* Text, attribute-safe, valid UTF-8 (reports/escape.h). */
static void html_text(mb_text *b, const char *s) {
    mb_esc_xml(b, s, 1);
}

static void html_spans(mb_text *h, const mb_rp_span *v, int n) {
    for (int i = 0; i < n; i++) {
        if (v[i].kind == MB_RP_TEXT) {
            html_text(h, v[i].text);
        } else if (v[i].kind == MB_RP_CODE) {
            mb_text_add(h, "<code>");
            html_text(h, v[i].text);
            mb_text_add(h, "</code>");
        } else {
            mb_text_add(h, "%s", v[i].text);
        }
    }
}

static int same_group(const mb_rp_col *a, const mb_rp_col *b) {
    return a->group && b->group ? !strcmp(a->group, b->group) : a->group == b->group;
}

static void html_table(mb_text *h, const mb_rp_section *s) {
    mb_text_add(h, "<table%s%s%s>\n", s->id ? " id=\"" : "", s->id ? s->id : "", s->id ? "\"" : "");
    int groups = 0;
    for (int c = 0; c < s->ncols; c++) groups |= s->cols[c].group != NULL;
    if (groups) { /* a heading over each input's columns */
        mb_text_add(h, "<tr>");
        for (int c = 0, n; c < s->ncols; c += n) {
            for (n = 1; c + n < s->ncols && same_group(&s->cols[c], &s->cols[c + n]); n++) {
            }
            mb_text_add(h, "<th colspan=\"%d\" class=\"group\">", n);
            if (s->cols[c].group) html_text(h, s->cols[c].group);
            mb_text_add(h, "</th>");
        }
        mb_text_add(h, "</tr>\n");
    }
    mb_text_add(h, "<tr>");
    for (int c = 0; c < s->ncols; c++) {
        mb_text_add(h, "<th>");
        if (s->own) /* built from the results: names of inputs */
            html_text(h, s->cols[c].name);
        else
            mb_text_add(h, "%s", s->cols[c].name);
        mb_text_add(h, "</th>");
    }
    mb_text_add(h, "</tr>\n");
    for (int r = 0; r < s->nrows; r++) {
        mb_text_add(h, "<tr%s>", s->bad[r] ? " class=\"bad\"" : "");
        for (int c = 0; c < s->ncols; c++) {
            mb_text_add(h, "<td%s>", s->cols[c].right ? " class=\"n\"" : "");
            html_spans(h, &s->cells.v[r * s->ncols + c], 1);
            mb_text_add(h, "</td>");
        }
        mb_text_add(h, "</tr>\n");
    }
    mb_text_add(h, "</table>\n");
}

static void html_para(mb_text *h, const mb_rp_spans *p) {
    mb_text_add(h, "<p>");
    html_spans(h, p->v, p->n);
    mb_text_add(h, "</p>\n");
}

/* Sections [from, to): a heading each, then what it has. */
static void html_sections(mb_text *h, const mb_rp_doc *doc, int from, int to) {
    for (int i = from; i < to; i++) {
        const mb_rp_section *s = &doc->sec[i];
        mb_text_add(h, "<h2>%s</h2>\n", s->title);
        if (s->intro.n) html_para(h, &s->intro);
        if (s->ncols && s->nrows) {
            html_table(h, s);
        } else if (s->ncols && s->empty) {
            mb_text_add(h, "<p>");
            html_text(h, s->empty);
            mb_text_add(h, "</p>\n");
        }
        if (s->items.n) {
            mb_text_add(h, "<ul>\n");
            for (int k = 0; k < s->items.n; k++) {
                mb_text_add(h, "<li>");
                html_spans(h, &s->items.v[k], 1);
                mb_text_add(h, "</li>\n");
            }
            mb_text_add(h, "</ul>\n");
        }
        if (s->outro.n) html_para(h, &s->outro);
    }
}

mb_status mb_rp_write_html(mb_ctx *ctx, const mb_rp_doc *doc, const char *dir) {
    mb_text h = {0};
    mb_text_add(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
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
                    "th.group{text-align:center;background:#f4f4f8}\n"
                    "#summary{display:block;overflow-x:auto}\n#summary + ul li{color:#8a4b00}\n"
                    "</style>\n</head>\n<body>\n<h1>membench report</h1>\n");
    html_para(&h, &doc->from);
    html_sections(&h, doc, 0, doc->ntop);
    for (int i = 0; i < doc->nfigs; i++) {
        const mb_rp_fig *f = &doc->figs[i];
        mb_text_add(&h, "<figure id=\"%s\">\n<img src=\"%s.svg\" alt=\"%s\">\n<figcaption>",
                    f->name, f->name, f->name);
        html_text(&h, f->caption);
        mb_text_add(&h,
                    " <a href=\"%s.png\">PNG</a> &middot; <a href=\"%s.svg\">SVG</a> &middot; "
                    "<a href=\"%s.dat\">data</a> &middot; ",
                    f->name, f->name, f->name);
        if (f->frontier) mb_text_add(&h, "<a href=\"pareto_frontier.dat\">frontier</a> &middot; ");
        mb_text_add(&h, "<a href=\"%s.gp\">gnuplot script</a></figcaption>\n</figure>\n", f->name);
    }
    html_sections(&h, doc, doc->ntop, doc->nsec);
    mb_text_add(&h, "</body>\n</html>\n");
    mb_status s = mb_text_write(ctx, dir, "index.html", &h);
    mb_text_free(&h);
    return s;
}
