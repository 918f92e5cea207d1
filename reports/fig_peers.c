/* reports/fig_peers.c — step time of membench's cells beside the peers' published figures, one
 * bar each, configuration by configuration (with --peers). */
#include "figures.h"

#include <stdlib.h>

#include "beside.h"

mb_status mb_rp_fig_peers(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (!R->npeers) return MB_OK;
    mb_rp_side *side = calloc((size_t)(R->ncells + R->npeers) + 1, sizeof *side);
    if (!side) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = mb_rp_side_by_side(R, side), ngroups = 0;
    for (int i = 0; i < R->npeers; i++) ngroups += mb_rp_peer_group_first(R, i) == i;
    mb_text d = {0}, g = {0};
    mb_text_add(&d,
                "# peers.dat - step time (ms) and peak (MiB, NaN when unpublished) of membench's "
                "cells and the peers' published figures, configuration by configuration\n"
                "# x\tstep_ms\tpeak_mib\tpeer\tlabel\n");
    /* The tic labels are written into the script, quoted there, not read from a data column: a
     * data file has no way to quote a name that holds a quote or a tab. */
    mb_text tics = {0};
    mb_text_add(&tics, "set xtics (");
    double x = 0;
    for (int i = 0; i < n; i++) {
        if (i && side[i].group != side[i - 1].group) x += 1; /* a gap between configurations */
        mb_text_add(&d, "%g\t", x);
        mb_rp_fmt_num(&d, side[i].ms);
        mb_text_add(&d, "\t");
        mb_rp_fmt_num(&d, side[i].mib);
        mb_text_add(&d, "\t%d", side[i].peer >= 0);
        mb_text l = {0};
        mb_rp_side_who(&l, R, &side[i]);
        if (ngroups > 1) {
            mb_text_add(&l, " (");
            mb_rp_side_config(&l, &R->peers[side[i].group]);
            mb_text_add(&l, ")");
        }
        mb_rp_dat_label(&d, mb_text_str(&l));
        mb_text_add(&tics, "%s", i ? ", " : "");
        mb_rp_gp_quote(&tics, mb_text_str(&l), 1);
        mb_text_add(&tics, " %g", x);
        mb_text_free(&l);
        x += 1;
    }
    mb_text_add(&tics, ") rotate by -35 left noenhanced\n");
    const int w = 200 + 70 * (int)x, h = 760;
    mb_rp_gp_begin(&g, R, "peers", "membench beside the peers' published step times",
                   w < 900 ? 900 : w, h);
    mb_text_add(&g,
                "set title 'Step time: membench (measured here) beside the peers (published)' "
                "noenhanced\n"
                "set ylabel 'ms per step' noenhanced\n"
                "set yrange [0:*]\n"
                "set style fill solid 0.75 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "set key top left noenhanced\n"
                "%s"
                "set bmargin 16\n"
                "plot 'peers.dat' using 1:($4 == 0 ? $2 : 1/0) with boxes lc rgb '#4c72b0' "
                "title 'membench', \
"
                "  'peers.dat' using 1:($4 == 1 ? $2 : 1/0) with boxes lc rgb '#dd8452' "
                "title 'peer (published)', \
"
                "  'peers.dat' using 1:2:(sprintf('%%.1f', $2)) with labels offset 0,0.7 "
                "notitle\n",
                mb_text_str(&tics));
    mb_text_free(&tics);
    mb_rp_gp_end(&g, "peers", w < 900 ? 900 : w, h);
    mb_status s = MB_OK;
    if (n == 0) {
        mb_text_add(&R->notes, "peers: no row of %s has a step time; figure left out\n",
                    R->peers_path);
    } else {
        s = mb_rp_draw(ctx, R, dir, "peers", &d, NULL, &g,
                       "Median step time of membench's ok cells on each configuration in the peers "
                       "file, beside the figures the peers published (%d configurations).",
                       ngroups);
    }
    mb_text_free(&d);
    mb_text_free(&g);
    free(side);
    return s;
}
