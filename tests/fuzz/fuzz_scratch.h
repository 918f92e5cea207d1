/* tests/fuzz/fuzz_scratch.h — what the fuzz targets share: a scratch folder per process (in
 * /dev/shm when there is one, so the readers' and writers' fsyncs cost nothing), an input written
 * to a file there, and an input split in two at a marker line. */
#ifndef MB_FUZZ_SCRATCH_H
#define MB_FUZZ_SCRATCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every name the targets use in the scratch folder, removed with it at exit. */
static const char *const fz_names[] = {
    "in.csv",    "base.csv",  "new.csv",    "compare.md",     "junit.xml",         "results.csv",
    "steps.csv", "report.md", "index.html", "in.safetensors", "again.safetensors", "in.json",
};

static inline void fz_folder(char *out, size_t cap) {
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out, cap, "%s/mb_fuzz.%d", root, (int)getpid());
}

static inline void fz_cleanup(void) {
    char dir[96], p[160];
    fz_folder(dir, sizeof dir);
    for (size_t i = 0; i < sizeof fz_names / sizeof fz_names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, fz_names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* DIR/NAME (NAME one of fz_names, or "" for the folder itself) for this process: the folder is
 * made on first use and removed at exit. */
static inline void fz_path(char *out, size_t cap, const char *name) {
    static int made; /* a test program's own state, not library code */
    fz_folder(out, cap);
    if (!made && mkdir(out, 0700) == 0) atexit(fz_cleanup);
    made = 1;
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "/%s", name);
}

/* Writes n bytes to `path`; 0 on success. */
static inline int fz_write(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = !n || fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The marker that splits one input into two files (BASE and NEW, results and steps); seeds that
 * hold it teach the fuzzer to keep it. */
#define FZ_SPLIT "\n%%\n"

/* The length of the first part; *second and *nsecond the rest (NULL, 0 without a marker). */
static inline size_t fz_split(const uint8_t *data, size_t n, const uint8_t **second,
                              size_t *nsecond) {
    size_t m = sizeof FZ_SPLIT - 1;
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(data + i, FZ_SPLIT, m)) {
            *second = data + i + m;
            *nsecond = n - i - m;
            return i + 1; /* the first part keeps its newline */
        }
    *second = NULL;
    *nsecond = 0;
    return n;
}

#endif
