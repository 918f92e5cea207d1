/* reports/figures.h — the figures: each a data file (NAME.dat) and a gnuplot script (NAME.gp)
 * kept in the output folder, rendered to NAME.png and NAME.svg by running gnuplot there.
 * figures.c holds what they share; fig_*.c one kind of figure each. */
#ifndef MB_RP_FIGURES_H
#define MB_RP_FIGURES_H

#include "model.h"
#include "text.h"

/* MB_ENOTFOUND, saying how to install it, when gnuplot is not on PATH. */
mb_status mb_rp_gnuplot_check(mb_ctx *ctx);
/* Draws every figure into `dir` in report order, filling R->figs; a figure with nothing to show
 * adds a line to R->notes instead. MB_EIO when a file cannot be written or gnuplot fails. */
mb_status mb_rp_figures(mb_ctx *ctx, mb_report *R, const char *dir);

/* One figure each; MB_OK without drawing (and a note) when there is nothing to show. */
mb_status mb_rp_fig_memory(mb_ctx *ctx, mb_report *R, const char *dir);   /* fig_bars.c */
mb_status mb_rp_fig_time(mb_ctx *ctx, mb_report *R, const char *dir);     /* fig_bars.c */
mb_status mb_rp_fig_maxbatch(mb_ctx *ctx, mb_report *R, const char *dir); /* fig_bars.c */
mb_status mb_rp_fig_pareto(mb_ctx *ctx, mb_report *R, const char *dir);   /* fig_scatter.c */
mb_status mb_rp_fig_quality(mb_ctx *ctx, mb_report *R, const char *dir);  /* fig_scatter.c */
mb_status mb_rp_fig_loss(mb_ctx *ctx, mb_report *R, const char *dir);     /* fig_loss.c */
mb_status mb_rp_fig_peers(mb_ctx *ctx, mb_report *R, const char *dir);    /* fig_peers.c */

/* A gnuplot string literal that shows s as it is, whatever it holds (double-quoted, escaped, valid
 * UTF-8); `tic`: for an explicit tic label, where '%' is doubled. */
void mb_rp_gp_quote(mb_text *b, const char *s, int tic);
/* Text for a data-file column or a script comment: one line, no tabs, valid UTF-8. */
void mb_rp_plain_text(mb_text *b, const char *s);
/* A data file's last column: a tab, the label, the end of the line. */
void mb_rp_dat_label(mb_text *d, const char *label);
/* A data-file number: %.9g, or NaN (gnuplot's "missing"). */
void mb_rp_fmt_num(mb_text *b, double v);
/* A script's head (what wrote it and how to re-run it, the PNG terminal of w x h pixels) and its
 * tail (the same plot again as SVG). */
void mb_rp_gp_begin(mb_text *g, const mb_report *R, const char *name, const char *what, int w,
                    int h);
void mb_rp_gp_end(mb_text *g, const char *name, int w, int h);

/* What every figure ends with: writes NAME.dat (`dat`), pareto_frontier.dat (`frontier`, unless
 * NULL) and NAME.gp (`gp`) into `dir`, runs gnuplot there, and adds the figure to R->figs with
 * the caption. `name` must outlive R (a literal). */
mb_status mb_rp_draw(mb_ctx *ctx, mb_report *R, const char *dir, const char *name,
                     const mb_text *dat, const mb_text *frontier, const mb_text *gp,
                     const char *caption, ...) __attribute__((format(printf, 8, 9)));

#endif
