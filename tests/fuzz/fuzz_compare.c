/* tests/fuzz/fuzz_compare.c — fuzz target for `membench compare` behind its CSV reader: the input,
 * split at FZ_SPLIT into BASE and NEW (or the same bytes as both), compared, printed and written as
 * Markdown and JUnit. Bad input must fail with a message; what is written must be valid UTF-8, and
 * the Markdown must keep every '<' of a name inside a code span. */
#include <stdlib.h>

#include "../../harness/compare.h"
#include "../textcheck.h"
#include "fuzz_scratch.h"
#include "../proc.h"

/* The file's text with compare's own two HTML tags blanked out. */
static char *read_md(const char *path) {
    char *t = slurp(path);
    static const char *const tags[] = {"<details><summary>", "</summary>", "</details>"};
    for (int i = 0; t && i < 3; i++)
        for (char *p = t; (p = strstr(p, tags[i]));) memset(p, ' ', strlen(tags[i]));
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char base[128], new_[128], md[128], xml[128];
    fz_path(base, sizeof base, "base.csv");
    fz_path(new_, sizeof new_, "new.csv");
    fz_path(md, sizeof md, "compare.md");
    fz_path(xml, sizeof xml, "junit.xml");
    const uint8_t *second;
    size_t nsecond, nfirst = fz_split(data, n, &second, &nsecond);
    if (fz_write(base, data, nfirst) ||
        fz_write(new_, second ? second : data, second ? nsecond : n))
        return 0;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_compare_opts o;
    mb_compare_opts_default(&o);
    o.ignore_time = n & 1;
    mb_compare *c = NULL;
    if (mb_compare_run(&ctx, base, new_, &o, &c) == MB_OK) {
        mb_compare_counts k;
        mb_compare_count(c, &k);
        if (k.ok + k.improved + k.new_cells + k.differs + k.inconclusive + k.missing +
                k.regressions !=
            k.cells)
            abort();
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            mb_compare_print(c, null);
            fclose(null);
        }
        if (mb_compare_write_markdown(&ctx, c, md) == MB_OK) {
            char *t = read_md(md);
            if (!t || bad_utf8_at(t) || md_raw_html_at(t)) abort();
            free(t);
        }
        if (mb_compare_write_junit(&ctx, c, xml) == MB_OK) {
            char *t = slurp(xml);
            if (!t || bad_utf8_at(t)) abort();
            free(t);
        }
        mb_compare_free(c);
    } else if (!ctx.err[0]) {
        abort();
    }
    mb_ctx_fini(&ctx);
    return 0;
}
