/* harness/env.h — the environment a run records: build (git SHA, dirty flag, compiler), host,
 * processor, OpenMP threads; printed by `membench env` and written into run.json and every row. */
#ifndef MB_ENV_H
#define MB_ENV_H

#include <stdio.h>

typedef struct mb_env {
    char version[32];
    char git_sha[48];
    int git_dirty; /* 1 dirty, 0 clean, -1 unknown */
    char compiler[96];
    char build_type[32];
    char host[128];
    char os[256];
    char cpu[160];
    int cpus, omp_threads;
    int cuda_built; /* the CUDA backend is compiled in */
} mb_env;

void mb_env_read(mb_env *e);
/* The machine's physical cores (SMT siblings counted once); the logical CPUs without topology. */
int mb_physical_cores(void);
/* A target's threads when the suite sets none: OMP_NUM_THREADS when it is set, else the physical
 * cores (a second SMT thread per core slows these kernels rather than helping). */
int mb_default_threads(void);
void mb_env_print(FILE *fp, const mb_env *e);

#endif
