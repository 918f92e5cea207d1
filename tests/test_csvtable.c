/* tests/test_csvtable.c — the table loader's modes on malformed and cut-off files (exact messages,
 * what each mode keeps) and the numeric column check, value by value. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../reports/csvnum.h"
#include "../reports/csvtable.h"
#include "check.h"

static char dir[64];

static const char *put(const char *name, const char *text) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Loading `text` in `mode` fails with MB_EFORMAT and "DIR/t.csv:" + want. */
static void refused(mb_ctx *ctx, const char *text, mb_table_mode mode, const char *want, int at) {
    const char *p = put("t.csv", text);
    char full[512];
    snprintf(full, sizeof full, "%s:%s", p, want);
    mb_table t;
    ctx->err[0] = 0;
    mb_status s = mb_table_load_mode(ctx, p, mode, &t);
    CHECK(s == MB_EFORMAT && !strcmp(ctx->err, full),
          "line %d: mode %d: status %d, message:\n%s\nexpected:\n%s", at, (int)mode, (int)s,
          ctx->err, full);
    if (s == MB_OK) mb_table_free(&t);
}

/* Loading `text` in `mode` gives nrows rows, the last one's first field `last0`, and torn_line. */
static void loads(mb_ctx *ctx, const char *text, mb_table_mode mode, int nrows, const char *last0,
                  int torn_line, int at) {
    const char *p = put("t.csv", text);
    mb_table t;
    mb_status s = mb_table_load_mode(ctx, p, mode, &t);
    CHECK(s == MB_OK, "line %d: mode %d: %s", at, (int)mode, ctx->err);
    if (s != MB_OK) return;
    CHECK(t.nrows == nrows && t.torn_line == torn_line,
          "line %d: %d rows (torn %d), expected %d (%d)", at, t.nrows, t.torn_line, nrows,
          torn_line);
    if (t.nrows == nrows && nrows) CHECK_STR(t.rows[nrows - 1][0], last0);
    mb_table_free(&t);
}

#define CUT "the file ends mid-row (an interrupted write?)"

static void check_modes(mb_ctx *ctx) {
    const mb_table_mode all[] = {MB_TABLE_STRICT, MB_TABLE_TORN_LAST, MB_TABLE_TEXT};
    for (int i = 0; i < 3; i++) {
        mb_table_mode m = all[i];
        loads(ctx, "a,b\n1,2\n\n3,4\n", m, 2, "3", 0, __LINE__);
        loads(ctx, "a,b\n", m, 0, "", 0, __LINE__);
        /* wrong widths, a repeated header and a repeated name: refused wherever they are */
        refused(ctx, "a,b\n1\n3,4\n", m, "2: expected 2 fields as in the header, found 1",
                __LINE__);
        refused(ctx, "a,b\n1,2,3\n3,4\n", m, "2: expected 2 fields as in the header, found 3",
                __LINE__);
        refused(ctx, "a,b\n1,2\na,b\n3,4\n", m,
                "3: expected a data row, found the header again (two files joined?)", __LINE__);
        refused(ctx, "a,b,a\n1,2,3\n", m,
                "1: expected each column name once, found 'a' as columns 1 and 3", __LINE__);
        refused(ctx, "a,b\n1,x\"y\"\n", m,
                "2: malformed CSV: expected a quote only around a whole field, and doubled inside "
                "one (libcsv: error parsing data while strict checking enabled)",
                __LINE__);
        refused(ctx, "", m, "1: the file is empty", __LINE__);
    }
    /* a last row cut off: STRICT refuses it, TORN_LAST leaves it out and says where, TEXT keeps
     * a whole one */
    refused(ctx, "a,b\n1,2\n3", MB_TABLE_STRICT,
            "3: expected 2 fields as in the header, found 1; " CUT, __LINE__);
    refused(ctx, "a,b\n1,2\n3,4", MB_TABLE_STRICT,
            "3: expected a newline at the end of the last row; " CUT, __LINE__);
    refused(ctx, "a,b\n1,2\n3,\"x\ny", MB_TABLE_STRICT,
            "3: expected a closing quote; the file ends inside a quoted field (an interrupted "
            "write?)",
            __LINE__);
    refused(ctx, "a,b", MB_TABLE_STRICT, "1: expected a whole header line; " CUT, __LINE__);
    loads(ctx, "a,b\n1,2\n3", MB_TABLE_TORN_LAST, 1, "1", 3, __LINE__);
    loads(ctx, "a,b\n1,2\n3,4", MB_TABLE_TORN_LAST, 1, "1", 3, __LINE__);
    loads(ctx, "a,b\n1,2\n3,\"x\ny", MB_TABLE_TORN_LAST, 1, "1", 3, __LINE__);
    refused(ctx, "a,b\n1\n3,4", MB_TABLE_TORN_LAST,
            "2: expected 2 fields as in the header, found 1", __LINE__);
    loads(ctx, "a,b\n1,2\n3,4", MB_TABLE_TEXT, 2, "3", 0, __LINE__);
    refused(ctx, "a,b\n1,2\n3", MB_TABLE_TEXT,
            "3: expected 2 fields as in the header, found 1; " CUT, __LINE__);
    refused(ctx, "a,b\n1,\"2", MB_TABLE_TEXT,
            "2: expected a closing quote; the file ends inside a quoted field (an interrupted "
            "write?)",
            __LINE__);
}

/* One value in a column of each kind: `ok` says whether the check lets it through. */
static void number(mb_ctx *ctx, const char *col, const char *value, int ok, const char *want,
                   int at) {
    char text[256];
    snprintf(text, sizeof text, "suite,%s\n\"s\",\"%s\"\n", col, value);
    const char *p = put("n.csv", text);
    mb_table t;
    if (mb_table_load(ctx, p, &t) != MB_OK) {
        CHECK(0, "line %d: %s", at, ctx->err);
        return;
    }
    mb_status s = mb_table_check_numbers(ctx, &t, mb_results_num_kind);
    mb_table_free(&t);
    if (ok) {
        CHECK(s == MB_OK, "line %d: %s '%s' refused: %s", at, col, value, ctx->err);
        return;
    }
    char full[512];
    snprintf(full, sizeof full, "%s:2: %s: expected %s, found '%s'", p, col, want, value);
    CHECK(s == MB_EFORMAT && !strcmp(ctx->err, full), "line %d: got %d %s\nexpected %s", at, (int)s,
          ctx->err, full);
}

static void check_numbers(mb_ctx *ctx) {
    const char *B = "a whole number of bytes", *I = "a whole number", *R = "a number";
    number(ctx, "tracked_peak_bytes", "", 1, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "5256192", 1, B, __LINE__);
    number(ctx, "peak_new_category_bytes", "0", 1, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "9223372036854775807", 1, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "9223372036854775808", 0, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "-1", 0, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "52x", 0, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "1e6", 0, B, __LINE__);
    number(ctx, "tracked_peak_bytes", " 5", 0, B, __LINE__);
    number(ctx, "tracked_peak_bytes", "+5", 0, B, __LINE__);
    number(ctx, "seed", "18446744073709551615", 1, I, __LINE__);
    number(ctx, "seed", "18446744073709551616", 0, I, __LINE__);
    number(ctx, "repeat", "-3", 1, I, __LINE__);
    number(ctx, "repeat", "1.0", 0, I, __LINE__);
    number(ctx, "repeat", "-", 0, I, __LINE__);
    number(ctx, "step_ms_median", "3.0655349999051396", 1, R, __LINE__);
    number(ctx, "step_ms_median", "1e-08", 1, R, __LINE__);
    number(ctx, "step_ms_median", "inf", 1, R, __LINE__);
    number(ctx, "step_ms_median", "-inf", 1, R, __LINE__);
    number(ctx, "step_ms_median", "nan", 0, R, __LINE__);
    number(ctx, "step_ms_median", "fast", 0, R, __LINE__);
    number(ctx, "step_ms_median", "3.5ms", 0, R, __LINE__);
    number(ctx, "metric", "anything at all", 1, R, __LINE__); /* a text column */
    CHECK(mb_steps_num_kind("loss") == MB_NUM_REAL && mb_steps_num_kind("phase") == MB_NUM_NONE &&
              mb_steps_num_kind("peak_bytes") == MB_NUM_BYTES,
          "steps.csv kinds");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/mbcsvtable.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    check_modes(&ctx);
    check_numbers(&ctx);
    mb_ctx_fini(&ctx);
    char p[256];
    snprintf(p, sizeof p, "%s/t.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/n.csv", dir);
    unlink(p);
    rmdir(dir);
    CHECK_DONE();
}
