/* harness/cmd_env.c — `membench env`: the build and host facts every result row records. */
#include <stdio.h>
#include <string.h>

#include "../engine/ctx.h"
#include "cli.h"
#include "env.h"

/* The CUDA device the runner would open, with the runtime baseline it measures at start. */
static void print_cuda(void) {
#ifdef MB_HAVE_CUDA
    mb_ctx ctx;
    if (mb_ctx_init(&ctx, &mb_backend_cuda_f32) != MB_OK) {
        printf("cuda device   none (%s)\n", ctx.err);
        return;
    }
    mb_dev_info d;
    ctx.be->describe(&ctx, &d);
    printf("cuda device   0: %s (%s)\ndriver        %s\ncuda runtime  %s\ncublasLt      %s\n"
           "runtime baseline %zu bytes (context and handles, measured at start)\n",
           d.name, d.uuid, d.driver, d.runtime, d.blas, ctx.mem.baseline);
    mb_ctx_fini(&ctx);
#endif
}

int mb_cmd_env(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: membench env\n\nPrints the version, git SHA and dirty flag of the build, the "
               "compiler, host,\noperating system, processor and OpenMP threads: what run.json and "
               "every\nresults.csv row record. A CUDA build also opens device 0 and prints its "
               "name,\nUUID, driver and library versions and the runtime baseline.\n");
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
    print_cuda();
    return MB_EXIT_OK;
}
