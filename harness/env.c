/* harness/env.c — reads the build and host facts recorded with every result. */
#include "env.h"

#include <omp.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mb_version.h"

#ifndef MB_BUILD_TYPE
#define MB_BUILD_TYPE "unknown"
#endif

static void cpu_model(char *out, size_t n) {
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *v = strchr(line, ':');
        if (!v) break;
        v += 1 + strspn(v + 1, " \t");
        v[strcspn(v, "\n")] = 0;
        snprintf(out, n, "%s", v);
        break;
    }
    fclose(f);
}

void mb_env_read(mb_env *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->version, sizeof e->version, "%s", MB_VERSION);
    snprintf(e->git_sha, sizeof e->git_sha, "%s", MB_GIT_SHA);
    e->git_dirty = MB_GIT_DIRTY;
#if defined(__clang__)
    snprintf(e->compiler, sizeof e->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(e->compiler, sizeof e->compiler, "gcc %s", __VERSION__);
#endif
    snprintf(e->build_type, sizeof e->build_type, "%s", MB_BUILD_TYPE);
    if (gethostname(e->host, sizeof e->host - 1) != 0) snprintf(e->host, sizeof e->host, "unknown");
    struct utsname u;
    if (uname(&u) == 0) snprintf(e->os, sizeof e->os, "%s %s %s", u.sysname, u.release, u.machine);
    cpu_model(e->cpu, sizeof e->cpu);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    e->cpus = n > 0 ? (int)n : 1;
    e->omp_threads = omp_get_max_threads();
#ifdef MB_HAVE_CUDA
    e->cuda_built = 1;
#endif
}

void mb_env_print(FILE *fp, const mb_env *e) {
    fprintf(fp, "membench      %s\n", e->version);
    fprintf(fp, "git           %s%s\n", e->git_sha,
            e->git_dirty == 1 ? " (dirty)" : e->git_dirty < 0 ? " (state unknown)" : "");
    fprintf(fp, "build         %s, %s\n", e->build_type, e->compiler);
    fprintf(fp, "host          %s\n", e->host);
    fprintf(fp, "os            %s\n", e->os);
    fprintf(fp, "cpu           %s (%d online, %d OpenMP threads)\n", e->cpu, e->cpus,
            e->omp_threads);
    fprintf(fp, "backends      cpu-f32 cpu-f64%s\n", e->cuda_built ? " cuda" : "");
}
