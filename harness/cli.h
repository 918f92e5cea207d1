/* harness/cli.h — the subcommands of the membench CLI; each parses its own options, prints --help
 * on stdout and returns the process exit code (DESIGN.md: 0 ok, 1 a cell failed or a regression,
 * 2 bad usage or invalid input, 3 inconclusive, 4 storage failed: a write found the disk full or
 * failing, and no result was recorded for what was in flight). */
#ifndef MB_CLI_H
#define MB_CLI_H

enum {
    MB_EXIT_OK = 0,
    MB_EXIT_FAIL = 1,
    MB_EXIT_USAGE = 2,
    MB_EXIT_INCONCLUSIVE = 3,
    MB_EXIT_STORAGE = 4,
    MB_EXIT_INTERRUPTED = 130 /* 128 + SIGINT, the shell's convention for a Ctrl-C'd program */
};

int mb_cmd_run(int argc, char **argv);
int mb_cmd_methods(int argc, char **argv);
int mb_cmd_models(int argc, char **argv);
int mb_cmd_env(int argc, char **argv);
int mb_cmd_report(int argc, char **argv);
int mb_cmd_compare(int argc, char **argv);
int mb_cmd_data(int argc, char **argv);
int mb_cmd_data_tokenize(int argc, char **argv); /* `membench data tokenize` */
int mb_cmd_version(int argc, char **argv);
int mb_cmd_forward(int argc, char **argv);

#endif
