/* tests/fuzz/fuzz_csv.c — fuzz target for the CSV reader (libcsv through mb_csv_read_records) and
 * the table loader built on it, in each of its modes, and the number check compare and report run
 * on results.csv and steps.csv: any bytes must load or fail with "FILE:LINE: ...", never crash or
 * leak, and a loaded table must be a table (every row as wide as the header). */
#include <stdlib.h>

#include "../../reports/csvnum.h"
#include "../../reports/csvtable.h"
#include "fuzz_scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[128];
    fz_path(path, sizeof path, "in.csv");
    if (fz_write(path, data, n)) return 0;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    const mb_table_mode modes[] = {MB_TABLE_STRICT, MB_TABLE_TORN_LAST, MB_TABLE_TEXT};
    int loaded[3] = {0, 0, 0};
    for (int m = 0; m < 3; m++) {
        mb_table t;
        ctx.err[0] = 0;
        mb_status s = mb_table_load_mode(&ctx, path, modes[m], &t);
        if (s != MB_OK) {
            /* every input error names the file first: "FILE:LINE: ..." */
            if (!ctx.err[0] || (s != MB_ENOMEM && strncmp(ctx.err, path, strlen(path)))) abort();
            continue;
        }
        loaded[m] = 1;
        for (int r = 0; r < t.nrows; r++) {
            /* a bare CR ends a record without starting a line: rows may share one */
            if (t.lines[r] < 1 || (r && t.lines[r] < t.lines[r - 1])) abort();
            for (int c = 0; c < t.ncols; c++) {
                if (!t.rows[r][c]) abort();
                (void)mb_table_num(&t, r, c);
            }
        }
        if (t.torn_line && modes[m] != MB_TABLE_TORN_LAST) abort();
        ctx.err[0] = 0;
        if (mb_table_check_numbers(&ctx, &t, mb_results_num_kind) != MB_OK && !ctx.err[0]) abort();
        ctx.err[0] = 0;
        if (mb_table_check_numbers(&ctx, &t, mb_steps_num_kind) != MB_OK && !ctx.err[0]) abort();
        mb_table_free(&t);
    }
    /* STRICT is the strictest: what it loads, the others load too */
    if (loaded[0] && (!loaded[1] || !loaded[2])) abort();
    mb_ctx_fini(&ctx);
    unlink(path);
    return 0;
}
