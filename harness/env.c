/* harness/env.c — reads the build and host facts recorded with every result. */
#include "env.h"

#include <omp.h>
#include <stdlib.h>
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

int mb_physical_cores(void) {
    /* distinct (package, core) pairs of the online CPUs; SMT siblings share one */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) return 1;
    int seen[1024][2], ns = 0;
    for (long c = 0; c < n && c < 1024; c++) {
        int v[2] = {-1, -1};
        static const char *const f[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            char path[128];
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", c, f[k]);
            FILE *fp = fopen(path, "r");
            if (!fp || fscanf(fp, "%d", &v[k]) != 1) v[k] = -1;
            if (fp) fclose(fp);
        }
        if (v[1] < 0) return (int)n; /* no topology: count logical CPUs */
        int dup = 0;
        for (int i = 0; i < ns && !dup; i++) dup = seen[i][0] == v[0] && seen[i][1] == v[1];
        if (!dup) {
            seen[ns][0] = v[0];
            seen[ns][1] = v[1];
            ns++;
        }
    }
    return ns > 0 ? ns : 1;
}

int mb_default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if ((*end == 0 || *end == ',') && v >= 1 && v <= 4096) return (int)v;
    }
    return mb_physical_cores();
}

void mb_env_print(FILE *fp, const mb_env *e) {
    fprintf(fp, "membench      %s\n", e->version);
    fprintf(fp, "git           %s%s\n", e->git_sha,
            e->git_dirty == 1  ? " (dirty)"
            : e->git_dirty < 0 ? " (state unknown)"
                               : "");
    fprintf(fp, "build         %s, %s\n", e->build_type, e->compiler);
    fprintf(fp, "host          %s\n", e->host);
    fprintf(fp, "os            %s\n", e->os);
    fprintf(fp, "cpu           %s (%d online, %d OpenMP threads)\n", e->cpu, e->cpus,
            e->omp_threads);
    fprintf(fp, "backends      cpu-f32 cpu-f64%s\n", e->cuda_built ? " cuda" : "");
}
