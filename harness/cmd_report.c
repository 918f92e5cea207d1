/* harness/cmd_report.c — `membench report RESULTS.csv... --out DIR`: figures (gnuplot), report.md
 * and index.html from one or more results files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "cli.h"

static void report_usage(FILE *fp) {
    fprintf(fp,
            "usage: membench report [OPTIONS] --out DIR RESULTS.csv...\n\n"
            "Draws the results of one or more runs. For each figure DIR gets a data file\n"
            "(NAME.dat) and a gnuplot script (NAME.gp) that you can edit and re-run with\n"
            "'gnuplot NAME.gp' in DIR, rendered to NAME.png and NAME.svg; then report.md\n"
            "(tables and image links to paste in a pull request) and index.html (open it in a\n"
            "browser; it links only to files in DIR). Figures:\n"
            "  memory    peak memory by category per cell, with the predicted total\n"
            "  time      median step time with p10-p90 bars (repeats: median of the medians)\n"
            "  pareto    peak memory against tokens/s, with the Pareto frontier\n"
            "  loss      loss curves from steps.csv, one line per cell\n"
            "  quality   validation loss against peak memory\n"
            "  maxbatch  the largest batch that fits (only with max_batch_size search rows)\n"
            "  peers     step time beside other tools' published figures (with --peers)\n"
            "Rows whose status is not ok are never plotted; they are listed with their reason.\n"
            "Needs gnuplot (Debian/Ubuntu: apt-get install gnuplot-nox).\n\n"
            "options:\n"
            "  -o, --out DIR      output folder, created if missing (required)\n"
            "  -s, --steps FILE   steps.csv to draw loss curves from (repeatable); by default\n"
            "                     the steps.csv beside each results file, when there is one\n"
            "  -p, --peers FILE   published figures of other tools to draw beside the rows on\n"
            "                     the same model, batch, sequence and precision: a CSV with\n"
            "                     peer,model,batch_size,seq_len,precision,step_ms,peak_mib,source\n"
            "                     (peak_mib may be empty); e.g. baselines/h100/gpt2-peers.csv\n"
            "  -h, --help         this text\n\n"
            "exit codes: 0 report written; 1 a file could not be written or gnuplot failed;\n"
            "2 bad usage, an unreadable or malformed CSV (a row with more or fewer fields than\n"
            "the header, a last row cut off mid-write, the header repeated, a word in a number\n"
            "column: nothing is drawn, the message names FILE:LINE), or gnuplot is not\n"
            "installed.\n");
}

int mb_cmd_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"steps", required_argument, NULL, 's'},
        {"peers", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *peers = NULL;
    const char **steps = calloc((size_t)argc + 1, sizeof *steps);
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nsteps = 0, nfiles = 0, rc = MB_EXIT_OK, c;
    if (!steps || !files) {
        fprintf(stderr, "membench report: out of memory\n");
        rc = MB_EXIT_FAIL;
        goto done;
    }
    /* Options may come before and after the file names (report a.csv b.csv --out DIR). */
    optind = 0;
    for (;;) {
        if ((c = getopt_long(argc, argv, "+o:s:p:h", opts, NULL)) == -1) {
            if (optind >= argc) break;
            files[nfiles++] = argv[optind++];
            continue;
        }
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 's':
            steps[nsteps++] = optarg;
            break;
        case 'p':
            peers = optarg;
            break;
        case 'h':
            report_usage(stdout);
            goto done;
        default:
            fprintf(stderr, "Try 'membench report --help'.\n");
            rc = MB_EXIT_USAGE;
            goto done;
        }
    }
    if (nfiles == 0) {
        fprintf(stderr, "membench report: expected at least one results.csv\n"
                        "Try 'membench report --help'.\n");
        rc = MB_EXIT_USAGE;
        goto done;
    }
    if (!out || !*out) {
        fprintf(stderr, "membench report: --out DIR is required\n"
                        "Try 'membench report --help'.\n");
        rc = MB_EXIT_USAGE;
        goto done;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_report *rep = NULL;
    if (mb_report_load(&ctx, files, nfiles, steps, nsteps, &rep) != MB_OK ||
        (peers && mb_report_peers(&ctx, rep, peers) != MB_OK)) {
        /* The message starts with FILE:LINE (or FILE:) already. */
        fprintf(stderr, "%s\n", ctx.err);
        rc = MB_EXIT_USAGE;
    } else {
        mb_status s = mb_report_write(&ctx, rep, out);
        fputs(mb_report_notes(rep), stderr);
        if (s != MB_OK) {
            fprintf(stderr, "membench report: %s\n", ctx.err);
            rc = s == MB_ENOTFOUND ? MB_EXIT_USAGE : MB_EXIT_FAIL;
        } else {
            const char *names[16];
            int n = mb_report_figures(rep, names, 16);
            printf("%s/report.md\n%s/index.html\n", out, out);
            for (int i = 0; i < n && i < 16; i++)
                printf("%s/%s.png\n%s/%s.svg\n", out, names[i], out, names[i]);
        }
    }
    mb_report_free(rep);
    mb_ctx_fini(&ctx);
done:
    free(files);
    free(steps);
    return rc;
}
