/* tests/fuzz/fuzz_report.c — fuzz target for `membench report` short of gnuplot: the input, split
 * at FZ_SPLIT into results.csv and the steps.csv beside it (and read as a peers file too), loaded
 * into the report's model, built into its text and written as report.md and index.html; every label
 * quoted for gnuplot. Bad input must fail with a message; what is written must be valid UTF-8,
 * report.md must keep every '<' of a name inside a code span, and a gnuplot string must be one. */
#include <stdlib.h>

#include "../../reports/escape.h"
#include "../../reports/figures.h"
#include "../../reports/peers.h"
#include "../../reports/table.h"
#include "../proc.h"
#include "../textcheck.h"
#include "fuzz_scratch.h"

/* A gnuplot double-quoted string that ends where it should: every '"' inside has a backslash,
 * every backslash escapes '"', '\' or starts \140, no backquote or control character is left. */
static int gp_string_ok(const char *s, size_t n) {
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') return 0;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '`' || c < 0x20 || c == 0x7f) return 0;
        if (c != '\\') continue;
        if (s[i + 1] == '"' || s[i + 1] == '\\')
            i++;
        else if (!strncmp(s + i + 1, "140", 3))
            i += 3;
        else
            return 0;
    }
    return !bad_utf8_at(s);
}

static char *slurp_in(const char *dir, const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return slurp(p);
}

static void check_quote(const char *s) {
    for (int tic = 0; tic < 2; tic++) {
        mb_text b = {0};
        mb_rp_gp_quote(&b, s, tic);
        if (!b.oom && !gp_string_ok(mb_text_str(&b), b.len)) abort();
        mb_text_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char res[128], steps[128], dir[128];
    fz_path(res, sizeof res, "results.csv");
    fz_path(steps, sizeof steps, "steps.csv");
    fz_path(dir, sizeof dir, "");
    dir[strlen(dir) - 1] = 0; /* without the '/' */
    const uint8_t *second;
    size_t nsecond, nfirst = fz_split(data, n, &second, &nsecond);
    unlink(steps);
    if (fz_write(res, data, nfirst) || (second && fz_write(steps, second, nsecond))) return 0;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_peer *peers;
    int npeers;
    if (mb_peers_load(&ctx, res, &peers, &npeers) == MB_OK)
        free(peers);
    else if (!ctx.err[0])
        abort();
    const char *files[1] = {res};
    mb_report *R = NULL;
    ctx.err[0] = 0;
    mb_report_in in = {.results = files, .nresults = 1};
    if (mb_report_load(&ctx, &in, &R) == MB_OK) {
        for (int c = 0; c < R->ncells; c++) {
            check_quote(R->cells[c].label);
            check_quote(R->cells[c].method);
        }
        for (int g = 0; g < R->ngroups; g++) check_quote(R->groups[g].label);
        for (int i = 0; i < R->ncells; i++) (void)mb_rp_aggregate(R, &R->cells[i]);
        mb_rp_doc doc;
        if (mb_rp_doc_build(&ctx, R, &doc) == MB_OK) {
            if (mb_rp_write_markdown(&ctx, &doc, dir) == MB_OK) {
                char *t = slurp_in(dir, "report.md");
                if (!t || bad_utf8_at(t) || md_raw_html_at(t)) abort();
                free(t);
            }
            if (mb_rp_write_html(&ctx, &doc, dir) == MB_OK) {
                char *t = slurp_in(dir, "index.html");
                if (!t || bad_utf8_at(t)) abort();
                free(t);
            }
            mb_rp_doc_free(&doc);
        }
        mb_report_free(R);
    } else if (!ctx.err[0]) {
        abort();
    }
    mb_ctx_fini(&ctx);
    return 0;
}
