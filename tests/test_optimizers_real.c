/* tests/test_optimizers_real.c — suites/optimizers-nano.yaml end to end (skipped, 77, when sotu is
 * not fetched): no optimizer method's final validation loss on 300 steps of SOTU text is more than
 * 10% above AdamW's (a lower one is not a failure). argv: the membench binary, the source folder.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../datasets/fetch.h"
#include "check.h"
#include "proc.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_optimizers_real MEMBENCH SOURCE_DIR\n");
        return 2;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    if (!mb_fetch_present(&ctx, "sotu")) {
        printf("skipped: sotu is not fetched (run `membench data fetch sotu gpt2-bpe`)\n");
        return 77;
    }
    char tmp[] = "/tmp/mb-test-opt-XXXXXX", cmd[1024], dir[64];
    if (!mkdtemp(tmp)) return 1;
    snprintf(cmd, sizeof cmd, "%s run -q -o %s/out %s/suites/optimizers-nano.yaml", argv[1], tmp,
             argv[2]);
    out o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "membench run exited %d: %s", o.rc, o.se);
    drop(&o);
    snprintf(dir, sizeof dir, "%s/out", tmp);
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int cm = mb_table_col(&t, "method_stack"), cv = mb_table_col(&t, "metric_value"),
        cs = mb_table_col(&t, "status");
    double adamw = NAN;
    for (int i = 0; i < t.nrows; i++)
        if (!strcmp(mb_table_get(&t, i, cm), "adamw")) adamw = mb_table_num(&t, i, cv);
    CHECK(isfinite(adamw), "no adamw row");
    const char *want[] = {"sgd",    "adafactor", "adam-mini",   "adam8bit",
                          "galore", "apollo",    "apollo-mini", "lomo"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int found = 0;
        for (int i = 0; i < t.nrows; i++) {
            if (strcmp(mb_table_get(&t, i, cm), want[k])) continue;
            found = 1;
            double v = mb_table_num(&t, i, cv), rel = (v - adamw) / adamw;
            printf("%-10s val loss %.4f, adamw %.4f: %+.1f%%\n", want[k], v, adamw, 100 * rel);
            CHECK_STR(mb_table_get(&t, i, cs), "ok");
            CHECK(rel <= 0.10, "%s: val loss %.4f is %+.1f%% from adamw's %.4f", want[k], v,
                  100 * rel, adamw);
        }
        CHECK(found, "no %s row", want[k]);
    }
    mb_table_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
