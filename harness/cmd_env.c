/* harness/cmd_env.c — `membench env`: the build and host facts every result row records. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "env.h"

int mb_cmd_env(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: membench env\n\nPrints the version, git SHA and dirty flag of the build, the "
               "compiler, host,\noperating system, processor and OpenMP threads: what run.json and "
               "every\nresults.csv row record.\n");
        return MB_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "membench env: unexpected argument '%s'\nTry 'membench env --help'.\n",
                argv[1]);
        return MB_EXIT_USAGE;
    }
    mb_env e;
    mb_env_read(&e);
    mb_env_print(stdout, &e);
    return MB_EXIT_OK;
}
