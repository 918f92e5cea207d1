/* tests/fuzz/fuzz_csv.c — fuzz target for the CSV reader (libcsv through mb_csv_read) and the table
 * loader built on it: any bytes must parse or fail with "FILE:LINE: ...", never crash or leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../reports/csvtable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    /* mb_csv_read reads a path: one scratch file per process, rewritten for each input */
    char path[64];
    snprintf(path, sizeof path, "/tmp/mb_fuzz_csv.%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_table t;
    if (mb_table_load(&ctx, path, &t) == MB_OK) {
        for (int r = 0; r < t.nrows; r++)
            for (int c = 0; c < t.ncols; c++) (void)mb_table_num(&t, r, c);
        mb_table_free(&t);
    } else if (!ctx.err[0]) {
        abort();
    }
    mb_ctx_fini(&ctx);
    unlink(path);
    return 0;
}
