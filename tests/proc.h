/* tests/proc.h — helpers for tests that run programs: read and write a whole file, look a program
 * up on PATH, run a shell command capturing its exit code, stdout and stderr, load the results.csv
 * it wrote. */
#ifndef MB_TEST_PROC_H
#define MB_TEST_PROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../reports/csvtable.h"

/* The whole file as a NUL-terminated string; NULL when it cannot be read. */
static inline char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = s ? fread(s, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    if (s) s[got] = 0;
    fclose(f);
    return s;
}

/* Writes `text` as the whole file; 0 on success, else prints why and returns 1. */
static inline int write_whole(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "cannot write %s\n", path);
    return !ok;
}

static inline int have(const char *prog) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

typedef struct out {
    int rc;        /* exit code; 128 when killed */
    char *so, *se; /* stdout, stderr; never NULL */
} out;

/* Runs `cmd` (shell text) in folder `cwd`; its stdout and stderr go through dir/so and dir/se. */
static inline out run_capture(const char *cwd, const char *dir, const char *cmd) {
    char full[8192], p[512];
    snprintf(full, sizeof full, "cd %s && %s >%s/so 2>%s/se", cwd, cmd, dir, dir);
    int st = system(full);
    out o = {WIFEXITED(st) ? WEXITSTATUS(st) : 128, NULL, NULL};
    snprintf(p, sizeof p, "%s/so", dir);
    if (!(o.so = slurp(p))) o.so = strdup("");
    snprintf(p, sizeof p, "%s/se", dir);
    if (!(o.se = slurp(p))) o.se = strdup("");
    return o;
}

static inline void drop(out *o) {
    free(o->so);
    free(o->se);
}

/* Loads DIR/results.csv; on failure prints why and returns nonzero (the test then stops). */
static inline int load_results(const char *dir, mb_table *t) {
    mb_ctx ctx;
    char p[512];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_status s = mb_table_load(&ctx, p, t);
    if (s != MB_OK) fprintf(stderr, "loading %s: %s\n", p, ctx.err);
    mb_ctx_fini(&ctx);
    return s != MB_OK;
}

#endif
