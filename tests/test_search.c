/* tests/test_search.c — max_batch_size and max_seq_len searches on the CPU find exactly the largest
 * size whose tracked peak, from the engine's formulas computed here, fits a cap set between two
 * sizes; every trial's peak equals the formula; --resume reuses trials. argv: membench binary. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/models/gpt.h"
#include "check.h"
#include "proc.h"

/* gpt-nano, AdamW, fp32 on the CPU: weights, gradients and two moments (4 x 4 bytes per
 * parameter), the activations' training peak, and the int32 tokens and targets. */
static int64_t peak_formula(const mb_model_config *g, int B, int T) {
    size_t P = mb_model_num_params(g);
    return (int64_t)(16 * P + mb_gpt_train_act_peak(g, B, T, 4, 4, g->vocab) + (size_t)B * T * 8);
}

static int write_suite(const char *path, const char *search, long long cap) {
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f,
            "suite: s\nseed: 1\ndefaults: {steps: 3, warmup_steps: 1}\n"
            "targets: [{name: capped, backend: cpu, memory_cap: %lld}]\n"
            "models: [{name: nano, preset: gpt-nano}]\ntask: {batch_size: 4}\n"
            "methods: [adamw]\nsearch: %s\n",
            cap, search);
    return fclose(f) != 0;
}

/* Runs the suite (extra options in `opts`), then checks rows: the trials (their count, each ok
 * trial's peak = formula, each oom trial's formula over the cap) and the one result row. */
static int check_search(const char *membench, const char *dir, const char *opts, int batch,
                        int answer, int ntrials, const mb_model_config *g, long long cap) {
    char cmd[1024], out_dir[128];
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    snprintf(cmd, sizeof cmd, "%s run -q %s -o %s %s/s.yaml", membench, opts, out_dir, dir);
    out o = run_capture(dir, dir, cmd);
    CHECK(o.rc == 0, "membench run exited %d: %s", o.rc, o.se);
    drop(&o);
    mb_table t;
    if (load_results(out_dir, &t)) return 1;
    int cs = mb_table_col(&t, "search"), cst = mb_table_col(&t, "status"),
        cb = mb_table_col(&t, "batch_size"), ct = mb_table_col(&t, "seq_len"),
        cp = mb_table_col(&t, "tracked_peak_bytes"), cr = mb_table_col(&t, "reason");
    int trials = 0, results = 0;
    for (int i = 0; i < t.nrows; i++) {
        const char *s = mb_table_get(&t, i, cs), *st = mb_table_get(&t, i, cst);
        int B = (int)mb_table_num(&t, i, cb), T = (int)mb_table_num(&t, i, ct);
        if (!strcmp(s, "trial")) {
            trials++;
            int64_t f = peak_formula(g, B, T);
            if (!strcmp(st, "ok"))
                CHECK((int64_t)mb_table_num(&t, i, cp) == f && f <= cap,
                      "trial B=%d T=%d: peak %.0f, formula %lld, cap %lld", B, T,
                      mb_table_num(&t, i, cp), (long long)f, cap);
            else
                CHECK(!strcmp(st, "oom") && f > cap, "trial B=%d T=%d: %s, formula %lld, cap %lld",
                      B, T, st, (long long)f, cap);
        } else {
            results++;
            CHECK_STR(s, batch ? "max_batch_size" : "max_seq_len");
            CHECK_STR(st, "ok");
            CHECK((batch ? B : T) == answer, "answer %d, expected %d", batch ? B : T, answer);
            char want[64];
            snprintf(want, sizeof want, "%d trials under the cap", ntrials);
            CHECK(!strncmp(mb_table_get(&t, i, cr), want, strlen(want)), "reason '%s'",
                  mb_table_get(&t, i, cr));
        }
    }
    CHECK(trials == ntrials && results == 1, "%d trial rows and %d result rows, expected %d and 1",
          trials, results, ntrials);
    mb_table_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_search MEMBENCH\n");
        return 2;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_model_config g;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &g));
    char dir[] = "/tmp/mb-test-search-XXXXXX", path[128], cmd[256];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/s.yaml", dir);

    /* batch: the cap halfway between the peaks of 13 and 14 -> trials 1 2 4 8 16x 12 14x 13 */
    long long cap = (peak_formula(&g, 13, 32) + peak_formula(&g, 14, 32)) / 2;
    printf("max_batch_size: peak(13) %lld, peak(14) %lld, cap %lld\n",
           (long long)peak_formula(&g, 13, 32), (long long)peak_formula(&g, 14, 32), cap);
    if (write_suite(path, "{max_batch_size: {}}", cap)) return 1;
    if (check_search(argv[1], dir, "", 1, 13, 8, &g, cap)) return 1;

    /* --resume after losing the result row: the 8 trials are reused, not run again */
    snprintf(cmd, sizeof cmd, "sed -i '$d' %s/out/results.csv", dir);
    CHECK(system(cmd) == 0, "sed failed");
    if (check_search(argv[1], dir, "--resume", 1, 13, 8, &g, cap)) return 1;

    /* sequence length at batch 4: halfway between T = 20 and 21 -> 16, 32x, 24x, 20, 22x, 21x */
    snprintf(cmd, sizeof cmd, "rm -rf %s/out", dir);
    CHECK(system(cmd) == 0, "rm failed");
    cap = (peak_formula(&g, 4, 20) + peak_formula(&g, 4, 21)) / 2;
    printf("max_seq_len: peak(T=20) %lld, peak(T=21) %lld, cap %lld\n",
           (long long)peak_formula(&g, 4, 20), (long long)peak_formula(&g, 4, 21), cap);
    if (write_suite(path, "{max_seq_len: {start: 16}}", cap)) return 1;
    if (check_search(argv[1], dir, "", 0, 20, 6, &g, cap)) return 1;

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "rm failed");
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
