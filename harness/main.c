/* harness/main.c — `membench`: dispatches to the subcommands in a const table (git style). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../methods/registry.h"
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
    {"forward", mb_cmd_forward,
     "one forward and backward of a Hugging Face checkpoint: loss, logits, gradients as JSON"},
    {"env", mb_cmd_env, "print the build and host facts recorded with every result"},
    {"report", mb_cmd_report,
     "summarise results.csv against its baselines (several side by side): tables, figures, HTML"},
    {"compare", mb_cmd_compare, "gate NEW.csv against BASE.csv: memory, time, quality, status"},
    {"data", mb_cmd_data,
     "list, fetch and verify the data sets (corpora, spam, GPT-2 BPE, Fashion-MNIST)"},
    {"version", mb_cmd_version, "print membench's version and git commit"},
    {"help", NULL, "describe a command: membench help COMMAND"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *fp) {
    fprintf(fp, "usage: membench COMMAND [OPTIONS] [ARGS]\n\n"
                "membench compares memory-efficient training methods on one engine, with exact\n"
                "memory accounting and reproducible runs.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\n'membench help COMMAND' (or 'membench COMMAND --help') describes a command.\n"
                "exit codes: 0 success; 1 a cell failed with status error, no cell ran, or compare\n"
                "found a regression; 2 bad usage or invalid input; 3 compare was inconclusive\n"
                "(rerun with more repeats); 4 a write failed for want of storage; 130 interrupted.\n"
                "OOM is a result (status=oom), not a failure.\n");
}

int mb_cmd_version(int argc, char **argv) {
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "membench version: takes no arguments\n");
        return MB_EXIT_USAGE;
    }
    printf("membench %s (git %s%s)\n", MB_VERSION, MB_GIT_SHA, MB_GIT_DIRTY == 1 ? ", dirty" : "");
    return MB_EXIT_OK;
}

static const mb_command *find(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return &commands[i];
    return NULL;
}

/* "unknown command 'runn'; did you mean 'run'?" (git's habit) */
static int unknown(const char *name) {
    const char *names[NCOMMANDS];
    for (int i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
    const char *near = mb_nearest(name, names, NCOMMANDS);
    fprintf(stderr, "membench: unknown command '%s'", name);
    if (near) fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, "\nTry 'membench help'.\n");
    return MB_EXIT_USAGE;
}

/* Runs a command with argv[0] "membench NAME", so getopt's messages carry the program's name. */
static int dispatch(const mb_command *c, int argc, char **argv) {
    char prog[64];
    snprintf(prog, sizeof prog, "membench %s", c->name);
    argv[0] = prog;
    return c->run(argc, argv);
}

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) then fails the write with EFBIG, which is reported as a storage
     * failure with the run's state kept, instead of killing the process mid-row. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return MB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(stdout);
        return MB_EXIT_OK;
    }
    if (!strcmp(argv[1], "help")) { /* membench help CMD: CMD --help */
        const mb_command *c = find(argv[2]);
        if (!c || !c->run) return unknown(argv[2]);
        char *args[] = {argv[2], "--help", NULL};
        return dispatch(c, 2, args);
    }
    if (!strcmp(argv[1], "--version")) return mb_cmd_version(1, argv + 1);
    const mb_command *c = find(argv[1]);
    if (!c || !c->run) return unknown(argv[1]);
    return dispatch(c, argc - 1, argv + 1);
}
