/* harness/cmd_report.c — `membench report RESULTS.csv... --out DIR`: a summary against each
 * setting's baseline, figures (gnuplot), report.md and index.html from one results file, several
 * side by side (--names), or several merged (--merge). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "cli.h"

static void report_usage(FILE *fp) {
    fprintf(fp,
            "usage: membench report [OPTIONS] --out DIR RESULTS.csv [NEW.csv...]\n\n"
            "Answers first: report.md and index.html open with a summary table that puts,\n"
            "per setting (suite, target, model, batch, sequence, precision), each method\n"
            "stack beside the setting's baseline stack: tracked peak memory, median step\n"
            "time and the metric (val loss, accuracy) as ratios to the baseline's, medians\n"
            "over the ok repeats, and the bytes saved per memory category at the peak. The\n"
            "baseline is the suite's declared one where results.csv has a baseline column,\n"
            "else the setting's first stack in the file. A stack that saves no memory\n"
            "against its baseline is warned about, in the report and on stderr. Cells whose\n"
            "status is not ok show their status and reason instead.\n\n"
            "Two or more results files are put side by side: each is a column group of the\n"
            "summary (named by --names, else by its file name), with each cell's figures\n"
            "over the same cell's in the first file (new/base); in the figures, labels\n"
            "start with the file's name. --merge pools them into one run instead.\n\n"
            "For each figure DIR gets a data file (NAME.dat) and a gnuplot script (NAME.gp)\n"
            "that you can edit and re-run with 'gnuplot NAME.gp' in DIR, rendered to NAME.png\n"
            "and NAME.svg; index.html links only to files in DIR. Figures:\n"
            "  memory    peak memory by category per cell, with the predicted total\n"
            "  time      median step time with p10-p90 bars (repeats: median of the medians)\n"
            "  pareto    peak memory against tokens/s, with the Pareto frontier\n"
            "  loss      loss curves from steps.csv: a colour per method stack, the median\n"
            "            over its repeats with their min-max as a band\n"
            "  quality   validation loss against peak memory\n"
            "  maxbatch  the largest batch that fits (only with max_batch_size search rows)\n"
            "  peers     step time beside other tools' published figures (with --peers)\n"
            "Rows whose status is not ok are never plotted; they are listed with their reason.\n"
            "Needs gnuplot (Debian/Ubuntu: apt-get install gnuplot-nox).\n\n"
            "options:\n"
            "  -o, --out DIR      output folder, created if missing (required)\n"
            "  -n, --names A,B    names of the results files side by side, one per file in\n"
            "                     order (default: their file names, with as much of the\n"
            "                     path as tells them apart)\n"
            "  -m, --merge        pool the results files' rows as one run (repeats of a cell\n"
            "                     in several files aggregated together) instead\n"
            "  -s, --steps FILE   steps.csv to draw loss curves from (repeatable); by default\n"
            "                     the steps.csv beside each results file, when there is one\n"
            "  -p, --peers FILE   published figures of other tools to draw beside the rows on\n"
            "                     the same model, batch, sequence and precision: a CSV with\n"
            "                     peer,model,batch_size,seq_len,precision,step_ms,peak_mib,source\n"
            "                     (peak_mib may be empty); e.g. baselines/h100/gpt2-peers.csv\n"
            "  -h, --help         this text\n\n"
            "examples:\n"
            "  membench report results/quickstart/results.csv --out results/quickstart/report\n"
            "  membench report --names main,branch base/results.csv new/results.csv --out cmp\n\n"
            "exit codes: 0 report written; 1 a file could not be written or gnuplot failed;\n"
            "2 bad usage, an unreadable or malformed CSV (a row with more or fewer fields than\n"
            "the header, a last row cut off mid-write, the header repeated, a word in a number\n"
            "column: nothing is drawn, the message names FILE:LINE), or gnuplot is not\n"
            "installed.\n");
}

/* "a,b,c" into names[] (pointers into `list`, which is split in place); returns how many. */
static int split_names(char *list, const char **names) {
    int n = 0;
    for (char *p = list;; p++) {
        names[n++] = p;
        p += strcspn(p, ",");
        if (!*p) return n;
        *p = 0;
    }
}

int mb_cmd_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"steps", required_argument, NULL, 's'},
        {"peers", required_argument, NULL, 'p'},
        {"names", required_argument, NULL, 'n'},
        {"merge", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *peers = NULL;
    const char **steps = calloc((size_t)argc + 1, sizeof *steps);
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    char *names_arg = NULL;
    const char **names = NULL;
    int nsteps = 0, nfiles = 0, nnames = 0, merge = 0, rc = MB_EXIT_OK, c;
    if (!steps || !files) {
        fprintf(stderr, "membench report: out of memory\n");
        rc = MB_EXIT_FAIL;
        goto done;
    }
    /* Options may come before and after the file names (report a.csv b.csv --out DIR). */
    optind = 0;
    for (;;) {
        if ((c = getopt_long(argc, argv, "+o:s:p:n:mh", opts, NULL)) == -1) {
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
        case 'n':
            free(names_arg);
            free(names);
            names_arg = strdup(optarg);
            names = calloc(strlen(optarg) + 2, sizeof *names);
            if (!names_arg || !names) {
                fprintf(stderr, "membench report: out of memory\n");
                rc = MB_EXIT_FAIL;
                goto done;
            }
            nnames = split_names(names_arg, names);
            break;
        case 'm':
            merge = 1;
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
    if (nnames && (nnames != nfiles || nfiles < 2 || merge)) {
        fprintf(stderr,
                "membench report: --names gives %d names for %d results files%s; it names each of "
                "two or more files side by side\nTry 'membench report --help'.\n",
                nnames, nfiles, merge ? " merged into one run (--merge)" : "");
        rc = MB_EXIT_USAGE;
        goto done;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_report *rep = NULL;
    mb_report_in in = {.results = files,
                       .nresults = nfiles,
                       .steps = steps,
                       .nsteps = nsteps,
                       .names = names,
                       .nnames = nnames,
                       .merge = merge};
    if (mb_report_load(&ctx, &in, &rep) != MB_OK ||
        (peers && mb_report_peers(&ctx, rep, peers) != MB_OK)) {
        /* the program's name first, as compare and run give it (then FILE:LINE: or --names) */
        fprintf(stderr, "membench report: %s\n", ctx.err);
        rc = MB_EXIT_USAGE;
    } else {
        mb_status s = mb_report_write(&ctx, rep, out);
        fputs(mb_report_notes(rep), stderr);
        /* the runner's wording, also under the report's summary table */
        for (const char *p = mb_report_warnings(rep); *p;) {
            size_t n = strcspn(p, "\n");
            fprintf(stderr, "membench report: warning: %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
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
    free(names);
    free(names_arg);
    free(files);
    free(steps);
    return rc;
}
