/* tests/test_abi.c — the method ABI is honest: the SHA-256 of every header a plugin includes
 * (methods/method.h and what it includes, transitively) is recorded in engine/method_abi.txt for
 * MB_METHOD_ABI_VERSION; a header changed without a version bump fails here with the fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/sha256.h"
#include "../engine/method.h"
#include "check.h"

#define MAXH 64
#define PL 512 /* a header's path under the source root */

static char found[MAXH][PL];
static int nfound;

/* Collapses "a/b/../c" to "a/c". */
static void normalise(char *p) {
    char *parts[32], buf[PL];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", p);
    for (char *t = strtok(buf, "/"); t && n < 32; t = strtok(NULL, "/")) {
        if (!strcmp(t, "..") && n > 0)
            n--;
        else if (strcmp(t, "."))
            parts[n++] = t;
    }
    p[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(p, "/");
        strcat(p, parts[i]);
    }
}

/* Adds `rel` (relative to the source root) and every quoted include in it, depth first. */
static int walk(const char *root, const char *rel) {
    for (int i = 0; i < nfound; i++)
        if (!strcmp(found[i], rel)) return 0;
    if (nfound == MAXH) return -1;
    snprintf(found[nfound++], sizeof found[0], "%s", rel);
    char path[2 * PL], line[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    char dir[PL];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char inc[PL / 2];
        if (sscanf(line, " #include \"%255[^\"]\"", inc) != 1) continue;
        char next[PL];
        if (strlen(dir) + strlen(inc) + 2 > sizeof next) return -1;
        strcpy(next, dir);
        if (dir[0]) strcat(next, "/");
        strcat(next, inc);
        normalise(next);
        rc = walk(root, next);
    }
    fclose(f);
    return rc;
}

static int cmp(const void *a, const void *b) {
    return strcmp(a, b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_abi SOURCE_DIR\n");
        return 2;
    }
    const char *root = argv[1];
    if (walk(root, "methods/method.h")) return 1;
    qsort(found, (size_t)nfound, sizeof found[0], cmp);
    mb_sha256 s;
    mb_sha256_init(&s);
    for (int i = 0; i < nfound; i++) {
        char path[2 * PL];
        snprintf(path, sizeof path, "%s/%s", root, found[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "cannot read %s", path);
        if (!f) return 1;
        mb_sha256_update(&s, found[i], strlen(found[i]) + 1);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) mb_sha256_update(&s, buf, n);
        fclose(f);
    }
    uint8_t d[32];
    char hex[65];
    mb_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    char path[2 * PL], line[256], recorded[65] = "";
    snprintf(path, sizeof path, "%s/engine/method_abi.txt", root);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f) return 1;
    while (fgets(line, sizeof line, f)) {
        unsigned v;
        char h[65];
        if (line[0] != '#' && sscanf(line, "%u %64s", &v, h) == 2 && v == MB_METHOD_ABI_VERSION)
            snprintf(recorded, sizeof recorded, "%s", h);
    }
    fclose(f);
    printf("plugin headers (%d): ", nfound);
    for (int i = 0; i < nfound; i++) printf("%s%s", i ? ", " : "", found[i]);
    printf("\nsha256 %s, ABI version %u\n", hex, MB_METHOD_ABI_VERSION);
    CHECK(recorded[0], "engine/method_abi.txt has no line for ABI version %u: add '%u %s'",
          MB_METHOD_ABI_VERSION, MB_METHOD_ABI_VERSION, hex);
    CHECK(!recorded[0] || !strcmp(recorded, hex),
          "a header plugins include changed (sha256 %s) while MB_METHOD_ABI_VERSION stayed %u "
          "(recorded %s): bump MB_METHOD_ABI_VERSION in engine/method.h and add '%u %s' to "
          "engine/method_abi.txt",
          hex, MB_METHOD_ABI_VERSION, recorded, MB_METHOD_ABI_VERSION + 1, hex);
    CHECK(nfound >= 6, "only %d headers found", nfound);

    /* The backend table stays a core: at most 35 function pointers (a method's kernels live in its
     * own folder), counted in engine/backend.h's struct mb_backend. */
    snprintf(path, sizeof path, "%s/engine/backend.h", root);
    f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f) return 1;
    int in = 0, ptrs = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "typedef struct mb_backend {")) in = 1;
        else if (in && strstr(line, "} mb_backend;")) in = 0;
        else if (in && strstr(line, "(*")) ptrs++;
    }
    fclose(f);
    printf("struct mb_backend: %d function pointers (at most 35)\n", ptrs);
    CHECK(ptrs >= 20 && ptrs <= 35, "struct mb_backend has %d function pointers", ptrs);
    CHECK_DONE();
}
