/* harness/cmd_compare.c — `membench compare BASE.csv NEW.csv`: the CI gate. Parses the tolerances,
 * runs the comparison, prints the report and maps its verdict to the exit code. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"

static void compare_usage(FILE *fp) {
    fprintf(fp,
            "usage: membench compare [OPTIONS] BASE.csv NEW.csv\n\n"
            "Compares two results.csv files cell by cell and exits non-zero on a regression (a CI\n"
            "gate). A cell is (suite, target, model, method_stack, method_params, task,\n"
            "batch_size, seq_len, precision, search); rows that share it are its runs (repeats).\n"
            "Columns are found by name: their order does not matter, extra ones are ignored.\n\n"
            "gates, for each cell in both files:\n"
            "  status   ok in BASE and not ok in NEW (oom, error, timeout, ...) is a regression;\n"
            "           the reverse is an improvement\n"
            "  memory   tracked_peak_bytes and each peak_<category>_bytes of the ok runs: any\n"
            "           growth is a regression (see --mem-tol), a decrease an improvement\n"
            "  time     ratio = median(NEW) / median(BASE) of step_ms_p10 over the ok runs (each\n"
            "           run's fast end: background load only adds time, so it bends p10 least).\n"
            "           A regression needs ratio > --time-ratio AND a one-sided Mann-Whitney U\n"
            "           test (NEW slower than BASE) with p < --alpha AND a change larger than the\n"
            "           noise (the spread of the middle half of a side's runs); short of that the\n"
            "           cell is inconclusive. With 3 or more cells in both files, each run is\n"
            "           first divided by the median cell of its round (the runs of one repeat\n"
            "           index, which run together), so a slow phase of the machine cancels; a\n"
            "           change of the whole suite is then judged on the raw times, and only\n"
            "           where both files' rounds stayed within --time-ratio of each other\n"
            "  quality  median metric_value over the runs (loss, perplexity: lower is better;\n"
            "           accuracy: higher is better); worse by more than --quality-tol is a\n"
            "           regression\n"
            "A cell only in BASE is missing (a regression); one only in NEW is new (listed, not a\n"
            "failure).\n\n"
            "options:\n"
            "  --mem-tol N|P%%     memory growth allowed per figure: N bytes (or N KiB, MiB, GiB)\n"
            "                     or P percent of the base value. Default 0, exact: every byte\n"
            "                     goes through the tagged allocator and runs reproduce bit for\n"
            "                     bit, so any growth is a real change\n"
            "  --time-ratio R     the slowdown that counts (default 1.10, asv's --factor: smaller\n"
            "                     differences are everyday run-to-run noise)\n"
            "  --alpha A          significance level of the U test (default 0.05, as\n"
            "                     google/benchmark's compare.py). The samples are the runs: 2 a\n"
            "                     side can never give p below 1/6, 4 can reach 1/70; set\n"
            "                     'repeat: %d' or more in the suite to gate time (every\n"
            "                     message that advises repeats says this number)\n"
            "  --ignore-time      show time but gate nothing on it (noisy CI machines)\n"
            "  --quality-tol F    relative worsening of the metric allowed, as F or P%% (default\n"
            "                     0.01 = 1%%: a loss reproduces exactly on one build and machine;\n"
            "                     this absorbs the rounding differences between compilers and\n"
            "                     devices, far below what a broken method costs)\n"
            "  --markdown FILE    also write a Markdown summary (for a pull-request comment)\n"
            "  --junit FILE       also write JUnit XML: one testcase per cell, <failure> for a\n"
            "                     regression or a missing cell, <skipped> for an inconclusive one\n"
            "  -h, --help         this text\n\n"
            "exit codes: 0 no regression and nothing inconclusive; 1 a regression (including a\n"
            "missing cell); 3 inconclusive only (too noisy: rerun, with more repeats; or cells\n"
            "that ran with another configuration on each side, no config hash in common: they\n"
            "are listed with the fields that differ and not gated); 2 bad\n"
            "usage, a file that cannot be read or written, a file without a required column, or\n"
            "malformed CSV: a row with more or fewer fields than the header (a last row cut off\n"
            "mid-write included), the header repeated, a column named twice, or a value that is\n"
            "not a number in a number column. Such a file is never compared: the message names\n"
            "FILE:LINE and what was expected there.\n",
            mb_compare_runs_advised(MB_COMPARE_ALPHA));
}

/* "4096", "64KiB", "1 MiB" -> bytes, or "2.5%" -> fraction of the base value. */
static int parse_mem_tol(const char *s, int64_t *bytes, double *frac) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    while (*end == ' ') end++;
    if (!strcmp(end, "%")) {
        *bytes = 0;
        *frac = v / 100;
        return 0;
    }
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(end, units[i].suffix)) continue;
        double b = v * units[i].scale;
        if (b != floor(b) || b > 9.0e18) return -1; /* a whole number of bytes */
        *bytes = (int64_t)b;
        *frac = 0;
        return 0;
    }
    return -1;
}

/* A finite number; "P%" is read as P/100 when `pct` allows it. */
static int parse_num(const char *s, int pct, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v)) return -1;
    if (pct && !strcmp(end, "%")) v /= 100, end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

static int bad_value(const char *opt, const char *arg, const char *want) {
    fprintf(stderr, "membench compare: %s: '%s' is not %s\nTry 'membench compare --help'.\n", opt,
            arg, want);
    return MB_EXIT_USAGE;
}

int mb_cmd_compare(int argc, char **argv) {
    enum { O_MEMTOL = 256, O_RATIO, O_ALPHA, O_IGNTIME, O_QTOL, O_MD, O_JUNIT };
    static const struct option opts[] = {
        {"mem-tol", required_argument, NULL, O_MEMTOL},
        {"time-ratio", required_argument, NULL, O_RATIO},
        {"alpha", required_argument, NULL, O_ALPHA},
        {"ignore-time", no_argument, NULL, O_IGNTIME},
        {"quality-tol", required_argument, NULL, O_QTOL},
        {"markdown", required_argument, NULL, O_MD},
        {"junit", required_argument, NULL, O_JUNIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mb_compare_opts o;
    mb_compare_opts_default(&o);
    const char *md = NULL, *junit = NULL;
    int c;
    optind = 0;
    /* No leading '+': options may follow the two files, as in the documented usage line. */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_MEMTOL:
            if (parse_mem_tol(optarg, &o.mem_tol_bytes, &o.mem_tol_frac))
                return bad_value("--mem-tol", optarg,
                                 "a byte count (N, N KiB, ...) or a percentage");
            break;
        case O_RATIO:
            if (parse_num(optarg, 0, &o.time_ratio) || o.time_ratio < 1)
                return bad_value("--time-ratio", optarg, "a ratio >= 1");
            break;
        case O_ALPHA:
            if (parse_num(optarg, 0, &o.alpha) || o.alpha <= 0 || o.alpha >= 1)
                return bad_value("--alpha", optarg, "a probability between 0 and 1");
            break;
        case O_IGNTIME:
            o.ignore_time = 1;
            break;
        case O_QTOL:
            if (parse_num(optarg, 1, &o.quality_tol) || o.quality_tol < 0)
                return bad_value("--quality-tol", optarg, "a fraction >= 0 or a percentage");
            break;
        case O_MD:
            md = optarg;
            break;
        case O_JUNIT:
            junit = optarg;
            break;
        case 'h':
            compare_usage(stdout);
            return MB_EXIT_OK;
        default:
            fprintf(stderr, "Try 'membench compare --help'.\n");
            return MB_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr,
                "membench compare: expected two results files (BASE.csv NEW.csv), got %d "
                "arguments\nTry 'membench compare --help'.\n",
                argc - optind);
        return MB_EXIT_USAGE;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_compare *cmp = NULL;
    int rc;
    if (mb_compare_run(&ctx, argv[optind], argv[optind + 1], &o, &cmp) != MB_OK) {
        fprintf(stderr, "membench compare: %s\n", ctx.err);
        rc = MB_EXIT_USAGE;
        goto done;
    }
    mb_compare_print(cmp, stdout);
    fflush(stdout);
    /* A requested artifact that cannot be written is an error of its own: CI would otherwise
     * report a pass with nothing to show for it. */
    if ((md && mb_compare_write_markdown(&ctx, cmp, md) != MB_OK) ||
        (junit && mb_compare_write_junit(&ctx, cmp, junit) != MB_OK)) {
        fprintf(stderr, "membench compare: %s\n", ctx.err);
        rc = MB_EXIT_USAGE;
        goto done;
    }
    switch (mb_compare_verdict(cmp)) {
    case MB_VERDICT_REGRESSION:
        rc = MB_EXIT_FAIL;
        break;
    case MB_VERDICT_INCONCLUSIVE:
        rc = MB_EXIT_INCONCLUSIVE;
        break;
    default:
        rc = MB_EXIT_OK;
        break;
    }
done:
    mb_compare_free(cmp);
    mb_ctx_fini(&ctx);
    return rc;
}
