/* harness/cmd_run.c — `membench run SUITE.yaml`: load, plan, run every cell, print the summary. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runner.h"
#include "suite.h"

/* The one mutable global outside main's objects: a signal handler takes no argument, so it reaches
 * the runner through this pointer. Only on_stop_signal reads it; run_doc sets it before installing
 * the handler and clears it after restoring the old one. */
static mb_runner *volatile signalled;

/* The first SIGINT/SIGTERM asks the run to stop before the next step; a second ends the process at
 * once, after writing the run.json prepared for that case (interrupted, complete false). */
static void on_stop_signal(int sig) {
    mb_runner *r = signalled;
    if (!r) return;
    if (!r->stop) {
        r->stop = sig;
        return;
    }
    mb_runner_emergency(r, (int)r->stop);
    _exit(MB_EXIT_INTERRUPTED);
}

static void run_usage(FILE *fp) {
    fprintf(
        fp,
        "usage: membench run [OPTIONS] SUITE.yaml\n\n"
        "Runs every cell of the suite (target x model x method stack x matrix values x repeat)\n"
        "and appends one row per cell to DIR/results.csv, one per step to DIR/steps.csv, and\n"
        "writes DIR/run.json. Rows are flushed as each cell ends. A summary table goes to\n"
        "stdout, progress to stderr. A file of several YAML documents holds several suites,\n"
        "run in order, each into DIR/<suite name> (a pipeline: one saves a checkpoint with\n"
        "save: {checkpoint: NAME}, a later one starts from it with init: {suite: NAME}).\n\n"
        "options:\n"
        "  -o, --out DIR       results folder (default: results/<suite name>)\n"
        "  -f, --filter GLOB   run only cells whose label matches (repeatable: any of the\n"
        "                      patterns), e.g. 'cpu/gpt-nano/*' or\n"
        "                      '*/adamw(*' (labels: target/model/stack(parameters the suite\n"
        "                      sets)/bs=B/seq=T/precision/rN; a label as compare and report\n"
        "                      print it, without /rN, selects all repeats of that cell)\n"
        "  -n, --dry-run       print the planned cells and their config hashes, run nothing;\n"
        "                      a cell whose model a method refuses is marked (invalid: why)\n"
        "  -r, --resume        skip cells already in DIR/results.csv (by config hash); drop a\n"
        "                      truncated last row and the steps of cells without a row\n"
        "      --force         DIR holds an earlier run's results: delete its results.csv,\n"
        "                      steps.csv and run.json and start over (without --resume or\n"
        "                      --force, a folder that holds results is refused)\n"
        "  -p, --plugin PATH   load an out-of-tree method from a shared object (repeatable)\n"
        "      --isolate       run each cell in a child process: a cell that crashes (segfault,\n"
        "                      abort, ...) gets a row with status error naming the signal, and\n"
        "                      the suite goes on\n"
        "      --cell-timeout SECONDS\n"
        "                      kill a cell that runs longer (SIGKILL) and give it a row with\n"
        "                      status timeout; implies --isolate\n"
        "      --allow-invalid exit 0 even when every cell ended invalid or skipped (nothing\n"
        "                      ran: by default that is a failure, exit 1, with the reasons)\n"
        "  -q, --quiet         no progress output\n"
        "  -h, --help          this text\n\n"
        "DIR is locked while a run uses it: a second run into the same folder is refused\n"
        "with the pid of the one that holds it.\n\n"
        "exit codes: 0 every cell ended ok, oom, invalid or skipped, and at least one ran;\n"
        "1 a cell ended with status error or timeout, or no cell ran; 2 bad usage, an\n"
        "invalid suite, or DIR in use or holding other results; 4 a write failed for want\n"
        "of storage (disk full, quota, I/O error): the cell in flight leaves no row, so\n"
        "--resume reruns it once space is freed; 130 interrupted (SIGINT or SIGTERM): the\n"
        "cell in flight is dropped, the finished cells' summary is printed, run.json says\n"
        "complete false, and --resume finishes the run. A second Ctrl-C stops at once,\n"
        "leaving run.json marked interrupted.\n");
}

typedef struct run_opts {
    const char *path, *out;
    const mb_filter *filter;
    int dry, quiet, resume, force, isolate, allow_invalid;
    double cell_timeout;
    const char *slow_glob; /* MEMBENCH_TEST_SLOW's pattern, NULL: off */
    double slow_factor;
    int several; /* the file holds several suites: each gets OUT/<suite name> */
} run_opts;

/* A run in which every cell ended invalid or skipped measured nothing: each distinct reason goes
 * to stderr (also with --quiet) and, without --allow-invalid, the run fails. Returns 1 then. */
static int no_cell_ran(const mb_runner *r, const char *dir, int allow) {
    int n = r->plan->n, invalid = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        const char *st = r->summary[i].status;
        invalid += !strcmp(st, "invalid");
        skipped += !strcmp(st, "skipped");
    }
    if (n == 0 || invalid + skipped < n) return 0;
    fprintf(stderr, "membench run: no cell of %s ran: %d invalid, %d skipped\n", dir, invalid,
            skipped);
    /* each distinct reason once, with the first cell that gave it; at most 20 of them */
    enum { MAX_SHOWN = 20 };
    int shown[MAX_SHOWN], nshown = 0;
    for (int i = 0; i < n && nshown < MAX_SHOWN; i++) {
        int seen = 0;
        for (int k = 0; k < nshown && !seen; k++)
            seen = !strcmp(r->summary[shown[k]].reason, r->summary[i].reason) &&
                   !strcmp(r->summary[shown[k]].status, r->summary[i].status);
        if (seen) continue;
        shown[nshown++] = i;
        fprintf(stderr, "  %s: %s: %s\n", r->plan->cells[i].label, r->summary[i].status,
                r->summary[i].reason);
    }
    if (allow) return 0;
    fprintf(stderr, "membench run: --allow-invalid accepts a run in which no cell ran\n");
    return 1;
}

/* The results folder of document d: -o DIR (DIR/<name> when the file holds several suites), else
 * results/<name>. */
static void doc_dir(const mb_suite_file *sf, int d, const run_opts *o, char *dir, size_t n) {
    const char *name = sf->docs[d].name;
    if (o->out && o->several)
        snprintf(dir, n, "%s/%s", o->out, name);
    else if (o->out)
        snprintf(dir, n, "%s", o->out);
    else
        snprintf(dir, n, "results/%s", name);
}

/* Plans and runs document d of the file; returns its exit code. *matched counts documents with
 * a cell under the filter. */
static int run_doc(mb_ctx *ctx, mb_suite_file *sf, int d, const run_opts *o, int *matched) {
    mb_suite *suite = &sf->docs[d];
    mb_plan plan;
    memset(&plan, 0, sizeof plan);
    int rc = MB_EXIT_OK;
    char dir[4096];
    doc_dir(sf, d, o, dir, sizeof dir);
    if (suite->init_suite) { /* the checkpoint an earlier document of the file saves */
        for (int k = 0; k < d; k++)
            if (!strcmp(sf->docs[k].name, suite->init_suite)) {
                char from[4096], file[8192];
                doc_dir(sf, k, o, from, sizeof from);
                snprintf(file, sizeof file, "%s/%s", from, sf->docs[k].save_checkpoint);
                free(suite->init_checkpoint);
                if (!(suite->init_checkpoint = strdup(file))) {
                    fprintf(stderr, "membench run: out of memory\n");
                    return MB_EXIT_FAIL;
                }
            }
    }
    /* Other than memory, a plan fails on the suite's input (its data missing or damaged), with
     * "FILE[:LINE:COL]: error: ..." as the loader's messages: printed as they are. */
    mb_status ps = mb_plan_build(ctx, suite, o->filter, &plan);
    if (ps != MB_OK) {
        fprintf(stderr, "%s%s\n", ps == MB_ENOMEM ? "membench run: " : "", ctx->err);
        mb_plan_free(&plan);
        return ps == MB_ENOMEM ? MB_EXIT_FAIL : MB_EXIT_USAGE;
    }
    if (plan.n == 0) { /* another document may match */
        mb_plan_free(&plan);
        return MB_EXIT_OK;
    }
    (*matched)++;
    if (o->dry) {
        for (int i = 0; i < plan.n; i++) {
            const mb_cell *c = &plan.cells[i];
            /* a cell whose model refuses its stack: say so now, not after the run */
            if (mb_stack_refusal(ctx, c->stack, c->model) != MB_OK)
                printf("%s  %s  (invalid: %s)\n", c->hash, c->label, ctx->err);
            else
                printf("%s  %s\n", c->hash, c->label);
        }
        mb_plan_free(&plan);
        return MB_EXIT_OK;
    }
    mb_runner r;
    mb_out_mode mode = o->force ? MB_OUT_FORCE : o->resume ? MB_OUT_RESUME : MB_OUT_FRESH;
    mb_status os = mb_runner_open(ctx, &r, suite, &plan, dir, o->quiet, mode);
    if (os != MB_OK) {
        fprintf(stderr, "membench run: %s\n", ctx->err);
        mb_runner_close(&r);
        mb_plan_free(&plan);
        return os == MB_ESTORAGE ? MB_EXIT_STORAGE : MB_EXIT_USAGE;
    }
    if (r.outdir.cleared)
        fprintf(stderr, "membench: --force: deleted the earlier results in %s\n", dir);
    if (o->resume) {
        /* Said even with --quiet: rows were removed from the user's files. */
        if (r.dropped_results)
            fprintf(stderr,
                    "membench: --resume: dropped a truncated last row (%zu bytes) from "
                    "%s/results.csv\n",
                    r.dropped_results, dir);
        if (r.dropped_steps)
            fprintf(stderr,
                    "membench: --resume: dropped a truncated last row (%zu bytes) from "
                    "%s/steps.csv\n",
                    r.dropped_steps, dir);
        if (r.dropped_step_rows)
            fprintf(stderr,
                    "membench: --resume: dropped %ld steps.csv rows of cells with no "
                    "results.csv row\n",
                    r.dropped_step_rows);
        fprintf(stderr, "membench: --resume: skipping %d of %d cells already in %s/results.csv\n",
                r.nskipped, plan.n, dir);
    }
    r.isolate = o->isolate;
    r.cell_timeout = o->cell_timeout;
    if (o->slow_glob) {
        r.slow_glob = o->slow_glob;
        r.slow_factor = o->slow_factor;
        fprintf(stderr,
                "membench: warning: MEMBENCH_TEST_SLOW: timed steps of cells matching '%s' are "
                "made %.2fx slower on CPU targets (a test hook; run.json records it)\n",
                o->slow_glob, o->slow_factor);
    }
    if (!o->quiet)
        fprintf(stderr, "membench: %d cells of suite %s -> %s\n", plan.n, suite->name, dir);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    signalled = &r;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    mb_status s = mb_runner_run(ctx, &r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    signalled = NULL;
    if (s == MB_OK && r.interrupted) {
        int written = 0;
        for (int i = 0; i < plan.n; i++) written += r.summary[i].status[0] != 0;
        if (written) mb_runner_print_summary(&r, stdout, 1); /* what finished */
        fprintf(stderr,
                "membench run: interrupted by %s: %d of %d cells are in %s/results.csv; run.json "
                "says complete false; rerun with --resume to finish\n",
                r.interrupted == SIGTERM ? "SIGTERM" : "SIGINT", written, plan.n, dir);
        rc = MB_EXIT_INTERRUPTED;
    } else if (s == MB_ESTORAGE) {
        int written = 0;
        for (int i = 0; i < plan.n; i++) written += r.summary[i].status[0] != 0;
        fprintf(stderr,
                "membench run: %s\nmembench run: stopped: %d of %d cells are in %s/results.csv; "
                "the cell in flight left no row; free space and rerun with --resume to finish\n",
                ctx->err, written, plan.n, dir);
        rc = MB_EXIT_STORAGE;
    } else if (s != MB_OK) {
        fprintf(stderr, "membench run: %s\n", ctx->err);
        rc = MB_EXIT_FAIL;
    } else {
        mb_runner_print_summary(&r, stdout, 0);
        if (!o->quiet)
            fprintf(stderr, "results: %s/results.csv, %s/steps.csv, %s/run.json\n", dir, dir, dir);
        if (r.nerror) rc = MB_EXIT_FAIL;
        if (no_cell_ran(&r, dir, o->allow_invalid)) rc = MB_EXIT_FAIL;
    }
    mb_runner_close(&r);
    mb_plan_free(&plan);
    return rc;
}

int mb_cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},
        {"dry-run", no_argument, NULL, 'n'},
        {"plugin", required_argument, NULL, 'p'},
        {"resume", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'F'},
        {"allow-invalid", no_argument, NULL, 'A'},
        {"isolate", no_argument, NULL, 'I'},
        {"cell-timeout", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *plugins[MB_MAX_PLUGINS];
    mb_filter filter = {.n = 0};
    int dry = 0, quiet = 0, resume = 0, force = 0, isolate = 0, allow_invalid = 0, nplugins = 0, c;
    double cell_timeout = 0;
    char *end;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:f:np:qrh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (out) { /* the later one winning quietly would write somewhere not asked for */
                fprintf(stderr, "membench run: --out given twice ('%s' and '%s'); give one\n", out,
                        optarg);
                return MB_EXIT_USAGE;
            }
            out = optarg;
            if (!out[0]) {
                fprintf(stderr, "membench run: --out needs a folder name, got ''\n");
                return MB_EXIT_USAGE;
            }
            break;
        case 'f': /* repeatable: a cell matching any pattern runs */
            if (filter.n == MB_MAX_FILTERS) {
                fprintf(stderr, "membench run: at most %d --filter patterns\n", MB_MAX_FILTERS);
                return MB_EXIT_USAGE;
            }
            filter.pat[filter.n++] = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'r':
            resume = 1;
            break;
        case 'F':
            force = 1;
            break;
        case 'A':
            allow_invalid = 1;
            break;
        case 'I':
            isolate = 1;
            break;
        case 'T':
            cell_timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(cell_timeout > 0 && cell_timeout < 1e9)) {
                fprintf(stderr,
                        "membench run: --cell-timeout takes a number of seconds > 0, "
                        "got '%s'\n",
                        optarg);
                return MB_EXIT_USAGE;
            }
            isolate = 1;
            break;
        case 'p':
            if (nplugins == MB_MAX_PLUGINS) {
                fprintf(stderr, "membench run: at most %d plugins\n", MB_MAX_PLUGINS);
                return MB_EXIT_USAGE;
            }
            plugins[nplugins++] = optarg;
            break;
        case 'h':
            run_usage(stdout);
            return MB_EXIT_OK;
        default:
            fprintf(stderr, "Try 'membench run --help'.\n");
            return MB_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr,
                "membench run: expected one suite file, got %d arguments\n"
                "Try 'membench run --help'.\n",
                argc - optind);
        return MB_EXIT_USAGE;
    }
    if (resume && force) {
        fprintf(stderr, "membench run: --resume and --force contradict each other: --resume "
                        "finishes the run in DIR, --force deletes it\n");
        return MB_EXIT_USAGE;
    }
    /* The timing test hook (README, "Gating CI"): GLOB:FACTOR, the factor after the last colon. */
    char slow_glob[256];
    double slow_factor = 0;
    const char *slow = getenv("MEMBENCH_TEST_SLOW");
    if (slow && *slow) {
        const char *colon = strrchr(slow, ':');
        if (colon) slow_factor = strtod(colon + 1, &end);
        if (!colon || colon == slow || (size_t)(colon - slow) >= sizeof slow_glob ||
            end == colon + 1 || *end || !(slow_factor > 1 && slow_factor <= 100)) {
            fprintf(stderr,
                    "membench run: MEMBENCH_TEST_SLOW: expected GLOB:FACTOR (a cell label pattern "
                    "and a factor in (1, 100]), got '%s'\n",
                    slow);
            return MB_EXIT_USAGE;
        }
        snprintf(slow_glob, sizeof slow_glob, "%.*s", (int)(colon - slow), slow);
    }
    const char *path = argv[optind];
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_registry reg;
    mb_registry_init(&reg);
    int rc = MB_EXIT_OK;
    mb_suite_file sf;
    memset(&sf, 0, sizeof sf);
    for (int i = 0; i < nplugins; i++) {
        if (mb_registry_load_plugin(&ctx, &reg, plugins[i]) != MB_OK) {
            fprintf(stderr, "membench run: %s\n", ctx.err);
            rc = MB_EXIT_USAGE;
            goto done;
        }
    }
    if (mb_suite_file_load(&ctx, &reg, path, &sf) != MB_OK) {
        fprintf(stderr, "%s\n", ctx.err);
        rc = MB_EXIT_USAGE;
        goto done;
    }
    run_opts o = {.path = path,
                  .out = out,
                  .slow_glob = slow_factor > 0 ? slow_glob : NULL,
                  .slow_factor = slow_factor,
                  .filter = &filter,
                  .dry = dry,
                  .quiet = quiet,
                  .resume = resume,
                  .force = force,
                  .isolate = isolate,
                  .allow_invalid = allow_invalid,
                  .cell_timeout = cell_timeout,
                  .several = sf.n > 1};
    int matched = 0;
    for (int d = 0;
         d < sf.n && rc != MB_EXIT_INTERRUPTED && rc != MB_EXIT_USAGE && rc != MB_EXIT_STORAGE;
         d++) {
        int r = run_doc(&ctx, &sf, d, &o, &matched);
        if (r > rc || r == MB_EXIT_INTERRUPTED) rc = r;
    }
    if (rc == MB_EXIT_OK && !matched) {
        fprintf(stderr, "membench run: no cell of %s matches --filter", path);
        for (int i = 0; i < filter.n; i++)
            fprintf(stderr, "%s '%s'", i ? " or" : "", filter.pat[i]);
        fputc('\n', stderr);
        rc = MB_EXIT_USAGE;
    }
done:
    mb_suite_file_free(&sf);
    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    return rc;
}
