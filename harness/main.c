/* harness/main.c — `membench`: dispatches to the subcommands in a const table (git style). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mb_version.h"

typedef struct mb_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} mb_command;

static const mb_command commands[] = {
    {"run", mb_cmd_run, "run a YAML suite and write results.csv, steps.csv and run.json"},
    {"methods", mb_cmd_methods, "list the methods, or show one's paper and parameters"},
    {"models", mb_cmd_models, "list the model presets with their shapes and sizes"},
    {"env", mb_cmd_env, "print the build and host facts recorded with every result"},
    {"report", mb_cmd_report, "draw results.csv files: figures (gnuplot), report.md, index.html"},
    {"compare", mb_cmd_compare, "gate NEW.csv against BASE.csv: memory, time, quality, status"},
    {"data", mb_cmd_data,
     "list, fetch and verify the data sets (corpora, spam, GPT-2 BPE, Fashion-MNIST)"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *fp) {
    fprintf(fp, "usage: membench COMMAND [OPTIONS] [ARGS]\n\n"
                "membench compares memory-efficient training methods on one engine, with exact\n"
                "memory accounting and reproducible runs.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\n'membench COMMAND --help' describes a command.\n"
                "exit codes: 0 success; 1 a cell failed with status error, or compare found a\n"
                "regression; 2 bad usage or invalid input; 3 compare was inconclusive (rerun with\n"
                "more repeats). OOM is a result (status=oom), not a failure.\n");
}

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) then fails the write with EFBIG, which is reported as a storage
     * failure with the run's state kept, instead of killing the process mid-row. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return MB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return MB_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("membench %s (git %s%s)\n", MB_VERSION, MB_GIT_SHA,
               MB_GIT_DIRTY == 1 ? ", dirty" : "");
        return MB_EXIT_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "membench: unknown command '%s'\nTry 'membench --help'.\n", argv[1]);
    return MB_EXIT_USAGE;
}
