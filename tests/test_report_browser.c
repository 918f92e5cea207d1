/* tests/test_report_browser.c — index.html in headless Chromium, for the report fixture, the
 * quick start's own run and baselines/h100/activations-gpt2.csv: the summary table's cells as the
 * DOM holds them equal the ratios this file computes from the CSV on its own, every image decodes,
 * each SVG is a relative, well-formed file with legible text, and a screenshot shows the page.
 * argv: membench binary, source dir. Exits 77 (skipped) when chromium or gnuplot is not installed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "proc.h"

/* Appended to a copy of index.html: after load, the images that decoded, and every row of the
 * summary table with its cells URI-encoded (so no HTML escaping stands between them and us). */
static const char *probe =
    "<script>window.addEventListener('load', function () {\n"
    "  var im = document.images, ok = 0, out = [];\n"
    "  for (var i = 0; i < im.length; i++) if (im[i].complete && im[i].naturalWidth > 0) ok++;\n"
    "  out.push('MB_IMAGES ' + ok + '/' + im.length);\n"
    "  var t = document.getElementById('summary');\n"
    "  var rows = t ? t.querySelectorAll('tr') : [];\n"
    "  for (var r = 0; r < rows.length; r++) {\n"
    "    var c = rows[r].children, line = [];\n"
    "    for (var k = 0; k < c.length; k++) line.push(encodeURIComponent(c[k].textContent));\n"
    "    out.push((c.length && c[0].tagName == 'TH' ? 'MB_HEAD' : 'MB_ROW') + '\\t' +\n"
    "             line.join('\\t'));\n"
    "  }\n"
    "  var w = t && t.nextElementSibling && t.nextElementSibling.tagName == 'UL' ?\n"
    "          t.nextElementSibling.querySelectorAll('li') : [], nw = 0;\n"
    "  for (var i = 0; i < w.length; i++) if (/saves no memory/.test(w[i].textContent)) nw++;\n"
    "  out.push('MB_WARNINGS ' + nw);\n"
    "  var d = document.createElement('pre'); d.id = 'mb-check';\n"
    "  d.textContent = out.join('\\n') + '\\n';\n"
    "  document.body.appendChild(d);\n"
    "});</script>\n";

/* ---------------------------------------------------------------------------------------------
 * The expected summary, computed from the CSV here and not by reports/: a CSV reader of its own,
 * medians over ok rows, the baseline column or else the first stack of each setting. */

typedef struct csv {
    char ***rows; /* rows[0] is the header */
    int nrows, ncols;
} csv;

static int csv_read(const char *text, csv *t) {
    memset(t, 0, sizeof *t);
    int cap = 0;
    const char *p = text;
    while (*p) {
        char **f = NULL;
        int nf = 0;
        for (;;) { /* one field */
            size_t n = 0, room = 64;
            char *v = malloc(room);
            if (*p == '"') {
                for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                    if (*p == '"') p++; /* "" inside quotes */
                    if (n + 2 > room) v = realloc(v, room *= 2);
                    v[n++] = *p;
                }
                if (*p == '"') p++;
            }
            for (; *p && *p != ',' && *p != '\n'; p++) {
                if (n + 2 > room) v = realloc(v, room *= 2);
                v[n++] = *p;
            }
            v[n] = 0;
            f = realloc(f, (size_t)(nf + 1) * sizeof *f);
            f[nf++] = v;
            if (*p != ',') break;
            p++;
        }
        if (*p == '\n') p++;
        if (t->nrows == 0) t->ncols = nf;
        if (nf != t->ncols) return -1;
        if (t->nrows == cap)
            t->rows = realloc(t->rows, (size_t)(cap = cap * 2 + 8) * sizeof *t->rows);
        t->rows[t->nrows++] = f;
    }
    return t->nrows > 1 ? 0 : -1;
}

static int csv_col(const csv *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->rows[0][c], name)) return c;
    return -1;
}

static void csv_free(csv *t) {
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
}

#define MAXE 256
#define MAXR 64

typedef struct entry {
    char setting[256], stack[256], params[512];
    char named[512]; /* the stack as the run's label names it ("" for a file without labels) */
    int rows[MAXR], n, base;
    char status[256], peak[64], time[64], quality[64];
} entry;

typedef struct expected {
    entry e[MAXE];
    int n, nwarn;
    char warn[MAXE][256]; /* the stacks that save nothing */
} expected;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of column c over the entry's ok rows; NaN when none has a number there. */
static double med(const csv *t, const entry *e, int c, int st) {
    double v[MAXR];
    int n = 0;
    for (int i = 0; i < e->n; i++) {
        char **r = t->rows[e->rows[i]];
        if (strcmp(r[st], "ok") || !*r[c]) continue;
        v[n++] = strtod(r[c], NULL);
    }
    if (!n) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int nok(const csv *t, const entry *e, int st) {
    int k = 0;
    for (int i = 0; i < e->n; i++) k += !strcmp(t->rows[e->rows[i]][st], "ok");
    return k;
}

static void ratio(char *out, size_t n, const char *fmt, double a, double b) {
    if (isfinite(a) && isfinite(b) && b > 0)
        snprintf(out, n, fmt, a / b);
    else
        snprintf(out, n, "\u2013");
}

static int expect_from(const char *path, expected *x) {
    char *text = slurp(path);
    csv t;
    if (!text || csv_read(text, &t)) {
        free(text);
        return -1;
    }
    free(text);
    memset(x, 0, sizeof *x);
    int suite = csv_col(&t, "suite"), target = csv_col(&t, "target"), model = csv_col(&t, "model"),
        stack = csv_col(&t, "method_stack"), params = csv_col(&t, "method_params"),
        bs = csv_col(&t, "batch_size"), seq = csv_col(&t, "seq_len"),
        prec = csv_col(&t, "precision"), st = csv_col(&t, "status"), why = csv_col(&t, "reason"),
        peak = csv_col(&t, "tracked_peak_bytes"), ms = csv_col(&t, "step_ms_median"),
        metric = csv_col(&t, "metric_value"), mname = csv_col(&t, "metric"),
        search = csv_col(&t, "search"), base = csv_col(&t, "baseline"),
        label = csv_col(&t, "label");
    for (int r = 1; r < t.nrows; r++) {
        char **f = t.rows[r];
        if (search >= 0 && *f[search]) continue; /* searches are not in the summary */
        char setting[256];
        snprintf(setting, sizeof setting, "%s: %s/%s/bs=%s/seq=%s/%s", f[suite], f[target],
                 f[model], f[bs], f[seq], f[prec]);
        int i = 0;
        while (i < x->n && (strcmp(x->e[i].setting, setting) || strcmp(x->e[i].stack, f[stack]) ||
                            strcmp(x->e[i].params, f[params])))
            i++;
        if (i == x->n) {
            if (x->n == MAXE) break;
            entry *e = &x->e[x->n++];
            snprintf(e->setting, sizeof e->setting, "%s", setting);
            snprintf(e->stack, sizeof e->stack, "%s", f[stack]);
            snprintf(e->params, sizeof e->params, "%s", f[params]);
            /* TARGET/MODEL/STACK/bs=B/seq=T/PREC/rN: the part between model and bs=, which the
             * summary must show as is (one label for a cell everywhere) */
            const char *l = label >= 0 ? f[label] : "";
            size_t np = strlen(f[target]) + strlen(f[model]) + 2;
            const char *bsat = strlen(l) > np ? strstr(l + np, "/bs=") : NULL;
            if (bsat)
                snprintf(e->named, sizeof e->named, "%.*s", (int)(bsat - l - (int)np), l + np);
        }
        if (x->e[i].n < MAXR) x->e[i].rows[x->e[i].n++] = r;
    }
    /* each setting's baseline: the entry with a row marked 1, else its first */
    for (int i = 0; i < x->n; i++) {
        int first = -1, marked = -1;
        for (int j = 0; j < x->n; j++) {
            if (strcmp(x->e[j].setting, x->e[i].setting)) continue;
            if (first < 0) first = j;
            for (int k = 0; base >= 0 && k < x->e[j].n && marked < 0; k++)
                if (!strcmp(t.rows[x->e[j].rows[k]][base], "1")) marked = j;
        }
        x->e[i].base = marked >= 0 ? marked : first;
    }
    for (int i = 0; i < x->n; i++) {
        entry *e = &x->e[i], *b = &x->e[e->base];
        int k = nok(&t, e, st), kb = nok(&t, b, st);
        const char *word = e->base == i ? "baseline" : "ok";
        char **f0 = t.rows[e->rows[0]];
        if (!k)
            snprintf(e->status, sizeof e->status, "%s: %s", f0[st], f0[why]);
        else if (k < e->n)
            snprintf(e->status, sizeof e->status, "%s in %d of %d", word, k, e->n);
        else
            snprintf(e->status, sizeof e->status, "%s", word);
        double p = med(&t, e, peak, st), m = med(&t, e, ms, st), q = med(&t, e, metric, st);
        double pb = med(&t, b, peak, st), mb = med(&t, b, ms, st), qb = med(&t, b, metric, st);
        if (!k || (e->base != i && !kb)) {
            snprintf(e->peak, sizeof e->peak, "\u2013");
            snprintf(e->time, sizeof e->time, "\u2013");
            snprintf(e->quality, sizeof e->quality, "\u2013");
        } else if (e->base == i) {
            snprintf(e->peak, sizeof e->peak, "%.2f MiB", p / 1048576.0);
            snprintf(e->time, sizeof e->time, "%.3f ms", m);
            snprintf(e->quality, sizeof e->quality, "%.4f %s", q, f0[mname]);
        } else {
            ratio(e->peak, sizeof e->peak, "%.3f\u00d7", p, pb);
            ratio(e->time, sizeof e->time, "%.3f\u00d7", m, mb);
            ratio(e->quality, sizeof e->quality, "%.4f\u00d7", q, qb);
            /* only stacks of other methods than the baseline's are meant to save memory */
            if (p >= pb && strcmp(e->stack, b->stack)) {
                /* a bounded copy (snprintf from e into x: gcc -Wrestrict cannot tell them apart) */
                size_t l = strnlen(e->stack, sizeof x->warn[0] - 1);
                memcpy(x->warn[x->nwarn], e->stack, l);
                x->warn[x->nwarn++][l] = 0;
            }
        }
    }
    csv_free(&t);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The DOM's rows */

static void uri_decode(char *s) {
    char *w = s;
    for (char *p = s; *p; p++) {
        unsigned v;
        if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
            *w++ = (char)v;
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
}

/* Splits a probe line at tabs into decoded cells (after the tag); returns how many. */
static int cells(char *line, char **v, int max) {
    int n = 0;
    for (char *p = strchr(line, '\t'); p && n < max;) {
        *p++ = 0;
        v[n++] = p;
        p = strchr(p, '\t');
    }
    for (int i = 0; i < n; i++) {
        char *tab = strchr(v[i], '\t');
        if (tab) *tab = 0;
        uri_decode(v[i]);
    }
    return n;
}

static int col_named(char **head, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(head[i], name)) return i;
    return -1;
}

/* The stack cell shows method_stack, and "(param=value,...)" when settings of it differ. */
static int stack_matches(const char *cell, const char *stack) {
    size_t n = strlen(stack);
    return !strncmp(cell, stack, n) && (cell[n] == 0 || cell[n] == '(');
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static long size_of(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode) ? (long)s.st_size : -1;
}

/* Every image index.html shows: a relative name of a file in dir, a whole SVG document whose
 * text is at least 11 px and whose title is at least 14. Returns how many. */
static int check_svgs(const char *dir, const char *html) {
    int n = 0;
    for (const char *p = html; (p = strstr(p, "<img src=\""));) {
        p += 10;
        const char *end = strchr(p, '"');
        if (!end) break;
        char name[256], path[1024];
        snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
        CHECK(name[0] != '/' && !strchr(name, ':') && !strstr(name, ".."),
              "index.html shows %s, not a file beside it", name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        char *svg = slurp(path);
        CHECK(svg != NULL, "%s is missing", path);
        if (!svg) continue;
        n++;
        const char *close = strstr(svg, "</svg>");
        CHECK(!strncmp(svg, "<?xml", 5) && strstr(svg, "<svg") && close &&
                  strspn(close + 6, " \n") == strlen(close + 6),
              "%s is not a whole SVG document", name);
        double lo = 1e9, hi = 0;
        for (const char *q = svg; (q = strstr(q, "font-size=\"")); q += 11) {
            double v = strtod(q + 11, NULL);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        CHECK(lo >= 11 && hi >= 14, "%s: text from %.1f to %.1f px (want >= 11, a title >= 14)",
              name, lo, hi);
        free(svg);
    }
    return n;
}

/* Reports `csv_path` into tmp/NAME, renders it in Chromium and checks it; `min_rows` guards the
 * check against passing on an empty table. */
static void check_report(const char *bin, const char *chromium, const char *tmp, const char *name,
                         const char *csv_path, int min_rows, int min_images) {
    static expected x;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    CHECK(expect_from(csv_path, &x) == 0, "cannot read %s", csv_path);
    CHECK(x.n >= min_rows, "%s: %d summary lines expected, want at least %d", name, x.n, min_rows);
    int rc = run("%s report %s --out %s >%s.out 2>%s.err", bin, csv_path, dir, dir, dir);
    CHECK(rc == 0, "membench report %s exited with %d (see %s.err)", csv_path, rc, dir);
    /* each warning also on stderr, as `membench run` words it */
    snprintf(path, sizeof path, "%s.err", dir);
    char *err = slurp(path);
    int nwarn = 0;
    for (const char *p = err ? err : ""; (p = strstr(p, "membench report: warning: ")); p++)
        nwarn++;
    CHECK(nwarn == x.nwarn, "%s: %d warnings on stderr, expected %d:\n%s", name, nwarn, x.nwarn,
          err ? err : "");
    for (int i = 0; i < x.nwarn; i++)
        CHECK(err && strstr(err, x.warn[i]), "%s: no warning names %s", name, x.warn[i]);
    free(err);

    snprintf(path, sizeof path, "%s/index.html", dir);
    char *html = slurp(path);
    CHECK(html != NULL, "no %s", path);
    if (!html) return;
    CHECK(strstr(html, "<table id=\"summary\">") &&
              strstr(html, "<table id=\"summary\">") < strstr(html, "<figure"),
          "%s: the summary table does not come before the figures", name);
    int nsvg = check_svgs(dir, html);
    CHECK(nsvg >= min_images, "%s: %d images, expected at least %d", name, nsvg, min_images);
    char *end = strstr(html, "</body>");
    snprintf(path, sizeof path, "%s/check.html", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fwrite(html, 1, end ? (size_t)(end - html) : strlen(html), f);
        fputs(probe, f);
        fputs(end ? end : "", f);
        fclose(f);
    }
    free(html);
    /* Flags as this machine's probe uses them: no sandbox as root, no network chatter. */
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update "
                        "--disable-sync --allow-file-access-from-files --hide-scrollbars";
    rc = run("timeout 120 %s %s --user-data-dir=%s/profile --virtual-time-budget=10000 "
             "--dump-dom file://%s/check.html >%s/dom 2>%s/chromium.err",
             chromium, flags, tmp, dir, dir, dir);
    CHECK(rc == 0, "chromium --dump-dom exited with %d (see %s/chromium.err)", rc, dir);
    rc = run("timeout 120 %s %s --user-data-dir=%s/profile --virtual-time-budget=10000 "
             "--window-size=1400,2000 --screenshot=%s/shot.png file://%s/index.html "
             ">/dev/null 2>>%s/chromium.err",
             chromium, flags, tmp, dir, dir, dir);
    snprintf(path, sizeof path, "%s/shot.png", dir);
    long shot = size_of(path);
    char *png = slurp(path);
    /* a blank 1400x2000 page compresses to a few KB; the table and the figures to far more */
    CHECK(rc == 0 && shot > 60 * 1024 && png && !memcmp(png, "\x89PNG", 4),
          "%s: screenshot rc %d, %ld bytes", name, rc, shot);
    free(png);

    snprintf(path, sizeof path, "%s/dom", dir);
    char *dom = slurp(path);
    /* the probe's own source holds the tags too: start at the element it adds */
    char *m = dom ? strstr(dom, "id=\"mb-check\">MB_IMAGES ") : NULL;
    CHECK(m != NULL, "%s: the probe did not run (see %s)", name, path);
    if (!m) {
        free(dom);
        return;
    }
    char *stop = strstr(m, "</pre>");
    if (stop) *stop = 0;
    int ok = -1, total = -1, nw = -1, nrows = 0, matched = 0, used[MAXE] = {0};
    sscanf(m, "id=\"mb-check\">MB_IMAGES %d/%d", &ok, &total);
    CHECK(total >= min_images && ok == total, "%s: %d of %d images loaded", name, ok, total);
    char *wl = strstr(m, "MB_WARNINGS ");
    if (wl) sscanf(wl, "MB_WARNINGS %d", &nw);
    CHECK(nw == x.nwarn, "%s: %d warnings under the table, expected %d", name, nw, x.nwarn);
    int cs = -1, cm = -1, cst = -1, cp = -1, ct = -1, cq = -1;
    char setting[256] = "";
    for (char *line = m; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *v[64];
        if (!strncmp(line, "MB_HEAD\t", 8)) {
            int n = cells(line, v, 64);
            cs = col_named(v, n, "setting"), cm = col_named(v, n, "method stack");
            cst = col_named(v, n, "status"), cp = col_named(v, n, "peak");
            ct = col_named(v, n, "step time"), cq = col_named(v, n, "quality");
        } else if (!strncmp(line, "MB_ROW\t", 7)) {
            int n = cells(line, v, 64);
            nrows++;
            if (cs >= 0 && cs < n && *v[cs]) snprintf(setting, sizeof setting, "%s", v[cs]);
            int found = -1;
            for (int i = 0; i < x.n && found < 0 && cq >= 0 && cq < n; i++) {
                const entry *e = &x.e[i];
                if (!used[i] && !strcmp(e->setting, setting) &&
                    (*e->named ? !strcmp(v[cm], e->named) : stack_matches(v[cm], e->stack)) &&
                    !strcmp(e->status, v[cst]) && !strcmp(e->peak, v[cp]) &&
                    !strcmp(e->time, v[ct]) && !strcmp(e->quality, v[cq]))
                    found = i;
            }
            if (found >= 0) {
                used[found] = 1;
                matched++;
            } else {
                CHECK(0,
                      "%s: the DOM row %s | %s | %s | %s | %s | %s matches no line computed "
                      "from the CSV",
                      name, setting, cm >= 0 && cm < n ? v[cm] : "?",
                      cst >= 0 && cst < n ? v[cst] : "?", cp >= 0 && cp < n ? v[cp] : "?",
                      ct >= 0 && ct < n ? v[ct] : "?", cq >= 0 && cq < n ? v[cq] : "?");
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(cs >= 0 && cm >= 0 && cst >= 0 && cp >= 0 && ct >= 0 && cq >= 0,
          "%s: the summary's header lacks a column", name);
    for (int i = 0; i < x.n; i++)
        CHECK(used[i], "%s: no DOM row for %s %s: %s | %s | %s | %s", name, x.e[i].setting,
              x.e[i].stack, x.e[i].status, x.e[i].peak, x.e[i].time, x.e[i].quality);
    printf("%s: %d summary rows in the DOM, %d as computed from the CSV; images %d of %d; "
           "screenshot %ld bytes\n",
           name, nrows, matched, ok, total, shot);
    CHECK(nrows == x.n && matched == x.n, "%s: %d rows, %d matched, %d expected", name, nrows,
          matched, x.n);
    free(dom);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *chromium = have("chromium")           ? "chromium"
                           : have("chromium-browser") ? "chromium-browser"
                                                      : NULL;
    if (!chromium || !have("gnuplot")) {
        printf("skipped: needs chromium and gnuplot\n");
        return 77;
    }
    char tmp[] = "/tmp/mbbrowser.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char fixture[1024], gpt2[1024], quick[1024];
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/report/results.csv", argv[2]);
    snprintf(quick, sizeof quick, "%s/tests/fixtures/quickstart/results.csv", argv[2]);
    snprintf(gpt2, sizeof gpt2, "%s/baselines/h100/activations-gpt2.csv", argv[2]);
    /* the fixture: 14 lines (a repeat, settings of one stack, an oom and an error cell, two
     * stacks that save nothing), 6 figures; the quick start: 2 models x 3 stacks, 5 figures (loss
     * curves included); the GPT-2 run: 9 stacks, 4 figures (no steps) */
    check_report(argv[1], chromium, tmp, "fixture", fixture, 14, 6);
    check_report(argv[1], chromium, tmp, "quickstart", quick, 6, 5);
    check_report(argv[1], chromium, tmp, "gpt2", gpt2, 9, 4);
    if (!mb_check_failures) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    } else {
        fprintf(stderr, "output kept in %s\n", tmp);
    }
    CHECK_DONE();
}
