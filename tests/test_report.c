/* tests/test_report.c — `membench report` on tests/fixtures/report: every figure rendered, names
 * literal in the SVGs, failed rows listed but never plotted, index.html linking only to its own
 * files, exact errors. argv: membench binary, source dir; 77 when gnuplot is not on PATH. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "proc.h"
#include "textcheck.h"

static const char *bin, *src;
static char tmp[64];

static char *slurp_in(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return slurp(p);
}

static long file_size(const char *dir, const char *name) {
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) ? (long)st.st_size : -1;
}

/* Runs a shell command line (printf-style) with stdout and stderr captured in tmp/so, tmp/se. */
static out sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static out sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run_capture(".", tmp, cmd);
}

/* Whether one line of `text` holds all of the given words. */
static int some_line_has(const char *text, const char *a, const char *b, const char *c) {
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *line = strndup(p, n);
        int yes = strstr(line, a) && strstr(line, b) && strstr(line, c);
        free(line);
        if (yes) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* How gnuplot's svg terminal writes text: '&' and '<' escaped, the rest as is ('>' is also
 * accepted escaped, which XML allows). */
static int svg_has_name(const char *svg, const char *name) {
    char esc[256], esc_gt[256];
    size_t n = 0, m = 0;
    for (const char *p = name; *p && n < 200 && m < 200; p++) {
        const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : NULL;
        const char *g = *p == '>' ? "&gt;" : e;
        n += (size_t)snprintf(esc + n, sizeof esc - n, "%s", e ? e : (char[]){*p, 0});
        m += (size_t)snprintf(esc_gt + m, sizeof esc_gt - m, "%s", g ? g : (char[]){*p, 0});
    }
    return strstr(svg, esc) || strstr(svg, esc_gt);
}

/* The methods of the fixture's ok rows (plain cells), as they are written in results.csv. */
static const char *const ok_methods[] = {"adam_w^2", "sgd{m}&n<x>", "lion_8bit+ckpt~2",
                                         "galore'q\"\\%d"};
#define N_OK_METHODS 4
/* ... and of its two max_batch_size rows. */
static const char *const search_methods[] = {"adam_w^2", "sgd{m}&n<x>"};
/* The oom and error rows' names and numbers, found nowhere else in the fixture (bytes, the same
 * in MiB as report writes them, step times, tokens/s, val loss, and the error cell's steps). */
static const char *const failed[] = {
    "zz_oom_method", "987654321", "941.907",         "4242.42",   "4141.41", "4343.43",
    "31337",         "9.87654",   "zz_error_method", "876543219", "835.936", "5353.53",
    "5252.52",       "5454.54",   "27182.8",         "8.76543",   "77.7777",
};
#define N_FAILED ((int)(sizeof failed / sizeof failed[0]))

static const char *const figures[] = {"memory", "time", "pareto", "loss", "quality", "maxbatch"};

static void check_figures(const char *dir) {
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.png", figures[i]);
        CHECK(file_size(dir, name) > 0, "%s/%s missing or empty", dir, name);
        snprintf(name, sizeof name, "%s.gp", figures[i]);
        CHECK(file_size(dir, name) > 0, "%s/%s missing or empty", dir, name);
        snprintf(name, sizeof name, "%s.dat", figures[i]);
        CHECK(file_size(dir, name) > 0, "%s/%s missing or empty", dir, name);
        snprintf(name, sizeof name, "%s.svg", figures[i]);
        char *svg = slurp_in(dir, name);
        CHECK(svg && *svg, "%s/%s missing or empty", dir, name);
        if (!svg) continue;
        int search = !strcmp(figures[i], "maxbatch");
        for (int k = 0; k < (search ? 2 : N_OK_METHODS); k++) {
            const char *m = search ? search_methods[k] : ok_methods[k];
            CHECK(svg_has_name(svg, m), "%s does not show method %s literally", name, m);
        }
        CHECK(!strstr(svg, "zz_oom_method") && !strstr(svg, "zz_error_method"),
              "%s draws a row whose status is not ok", name);
        free(svg);
    }
    /* Two settings of one stack read apart: the parameter that differs is in the label. */
    char *svg = slurp_in(dir, "memory.svg");
    CHECK(svg && strstr(svg, "adam_w^2(weight_decay=0.1)") &&
              strstr(svg, "adam_w^2(weight_decay=0)"),
          "memory.svg does not tell the two adam_w^2 settings apart");
    free(svg);
}

/* The scatter plots' ranges come from the data (never below 0 here, where every value is
 * positive), the loss plot has a line per cell (the repeated cell's median of its two repeats,
 * between their lowest and highest), and every SVG's text is legible. */
static void check_figure_shapes(const char *dir) {
    static const char *const scatter[] = {"pareto.gp", "quality.gp"};
    for (int i = 0; i < 2; i++) {
        char *gp = slurp_in(dir, scatter[i]);
        double x0 = -1, x1 = -1, y0 = -1, y1 = -1;
        const char *xr = gp ? strstr(gp, "set xrange [") : NULL;
        const char *yr = gp ? strstr(gp, "set yrange [") : NULL;
        CHECK(xr && yr && sscanf(xr, "set xrange [%lf:%lf]", &x0, &x1) == 2 &&
                  sscanf(yr, "set yrange [%lf:%lf]", &y0, &y1) == 2,
              "%s sets no x and y ranges", scatter[i]);
        CHECK(x0 >= 0 && x1 > x0 && y0 >= 0 && y1 > y0, "%s: ranges [%g:%g] x [%g:%g]", scatter[i],
              x0, x1, y0, y1);
        free(gp);
    }
    char *gp = slurp_in(dir, "loss.gp"), *dat = slurp_in(dir, "loss.dat");
    int lines = 0;
    for (const char *p = gp; p && (p = strstr(p, "with lines")); p++) lines++;
    /* 13 ok plain rows, two of them repeats of one cell */
    CHECK(lines == 12, "loss.gp draws %d lines, expected 12 (one per cell)", lines);
    CHECK(gp && strstr(gp, "sgd{m}&n<x>/bs=2/seq=32/fp32 (median of 2, band: min-max)") &&
              strstr(gp, "with filledcurves"),
          "loss.gp does not draw the repeated cell as a median with a band");
    const char *blk = dat ? strstr(dat, "# train: cpu/gpt-micro/sgd{m}&n<x>/bs=2/seq=32/fp32 (2 "
                                        "repeats)\n# step\tmedian\tmin\tmax\n")
                          : NULL;
    double step = -1, med = 0, lo = 0, hi = 0;
    CHECK(blk &&
              sscanf(strchr(strchr(blk, '\n') + 1, '\n') + 1, "%lf %lf %lf %lf", &step, &med, &lo,
                     &hi) == 4 &&
              step == 0 && lo < hi && fabs(med - (lo + hi) / 2) < 1e-8,
          "loss.dat: the repeated cell's first step is not the median of two (%g: %g in [%g, %g])",
          step, med, lo, hi);
    free(gp);
    free(dat);
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.svg", figures[i]);
        char *svg = slurp_in(dir, name);
        double lo_px = 1e9, hi_px = 0;
        for (const char *p = svg; p && (p = strstr(p, "font-size=\"")); p += 11) {
            double v = atof(p + 11);
            lo_px = v < lo_px ? v : lo_px;
            hi_px = v > hi_px ? v : hi_px;
        }
        CHECK(lo_px >= 11 && hi_px >= 14, "%s: text %.1f to %.1f px (want >= 11, title >= 14)",
              name, lo_px, hi_px);
        free(svg);
    }
}

/* No data file that report wrote holds a value or a name of the oom and error rows. */
static void check_data_files(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot list %s", dir);
    if (!d) return;
    int ndata = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || (strcmp(e->d_name + n - 4, ".dat") && strcmp(e->d_name + n - 4, ".csv")))
            continue;
        ndata++;
        char *text = slurp_in(dir, e->d_name);
        CHECK(text != NULL, "cannot read %s", e->d_name);
        for (int k = 0; text && k < N_FAILED; k++)
            CHECK(!strstr(text, failed[k]), "%s holds '%s' from a row whose status is not ok",
                  e->d_name, failed[k]);
        free(text);
    }
    closedir(d);
    CHECK(ndata >= 7, "%d data files, expected the 6 figures' and pareto_frontier.dat", ndata);
}

/* Every src= and href= of index.html names a file in DIR; nothing points outside it. */
static void check_html(const char *dir) {
    char *html = slurp_in(dir, "index.html");
    CHECK(html != NULL, "no index.html");
    if (!html) return;
    CHECK(!strstr(html, "://"), "index.html holds an absolute URL");
    int nsrc = 0, nlinks = 0;
    for (const char *p = html; (p = strpbrk(p, "sh"));) {
        int is_src = !strncmp(p, "src=\"", 5), is_href = !strncmp(p, "href=\"", 6);
        if (!is_src && !is_href) {
            p++;
            continue;
        }
        /* only attributes: the character before is a space */
        if (p == html || p[-1] != ' ') {
            p++;
            continue;
        }
        const char *v = p + (is_src ? 5 : 6), *end = strchr(v, '"');
        if (!end) break;
        char val[256];
        snprintf(val, sizeof val, "%.*s", (int)(end - v), v);
        nsrc += is_src;
        nlinks++;
        CHECK(val[0] && val[0] != '/' && !strchr(val, ':') && !strstr(val, ".."),
              "index.html links outside its folder: %s", val);
        CHECK(file_size(dir, val) > 0, "index.html links to %s, which is not in %s", val, dir);
        p = end;
    }
    CHECK(nsrc >= 6, "index.html shows %d images, expected the 6 figures", nsrc);
    CHECK(nlinks >= 6 * 5, "index.html has %d links", nlinks);
    CHECK(strstr(html, "sgd{m}&amp;n&lt;x&gt;") != NULL,
          "index.html does not escape a method name");
    CHECK(!strstr(html, "n<x>"), "index.html holds an unescaped '<' from a method name");
    CHECK(strstr(html, "zz_oom_method") && strstr(html, "zz_error_method"),
          "index.html does not list the rows that are not ok");
    free(html);
}

static void check_markdown(const char *dir) {
    char *md = slurp_in(dir, "report.md");
    CHECK(md != NULL, "no report.md");
    if (!md) return;
    CHECK(some_line_has(md, "zz_oom_method", "| oom |", "needs 987654321 bytes; the cap is 65536"),
          "report.md does not list the oom row with its reason:\n%s", md);
    CHECK(some_line_has(md, "zz_error_method", "| error |",
                        "training diverged: the loss is nan at step 7"),
          "report.md does not list the error row with its reason:\n%s", md);
    for (int i = 0; i < 6; i++) {
        char link[64];
        snprintf(link, sizeof link, "![%s](%s.png)", figures[i], figures[i]);
        CHECK(strstr(md, link) != NULL, "report.md lacks %s", link);
    }
    /* The summary comes first, before the figures, and warns about the stacks that save nothing. */
    const char *sum = strstr(md, "## Summary: each method stack against its baseline");
    CHECK(sum && sum < strstr(md, "![memory]"), "report.md does not open with the summary");
    CHECK(some_line_has(md, "- warning: cpu/gpt-micro/galore",
                        "saves no memory against its group's "
                        "baseline adam\\_w^2(weight\\_decay=0)",
                        "check its settings"),
          "report.md does not warn about galore under the summary");
    /* The repeated cell is one line with both runs; its median is the median of the medians. */
    CHECK(some_line_has(md, "`cpu/gpt-micro/sgd{m}&n<x>/bs=2/seq=32/fp32`", "| ok | 2 |", "0.650"),
          "report.md does not aggregate the two repeats");
    free(md);
}

/* `membench report` into a folder where every file it writes is first planted as a symlink to a
 * file elsewhere: each link is replaced by the file, no target is written through. */
static void check_symlinks(const char *fx) {
    static const char *const names[] = {
        "report.md",    "index.html",
        "memory.dat",   "memory.gp",
        "memory.png",   "memory.svg",
        "time.dat",     "time.gp",
        "time.png",     "time.svg",
        "pareto.dat",   "pareto.gp",
        "pareto.png",   "pareto_frontier.dat",
        "pareto.svg",   "loss.dat",
        "loss.gp",      "loss.png",
        "loss.svg",     "quality.dat",
        "quality.gp",   "quality.png",
        "quality.svg",  "maxbatch.dat",
        "maxbatch.gp",  "maxbatch.png",
        "maxbatch.svg",
    };
    enum { N = sizeof names / sizeof names[0] };
    char dir[256], vict[256], p[512], v[512];
    snprintf(dir, sizeof dir, "%s/linked", tmp);
    snprintf(vict, sizeof vict, "%s/victims", tmp);
    CHECK(mkdir(dir, 0777) == 0 && mkdir(vict, 0777) == 0, "mkdir %s", dir);
    for (int i = 0; i < N; i++) {
        snprintf(v, sizeof v, "%s/%s", vict, names[i]);
        FILE *f = fopen(v, "w");
        if (f) {
            fprintf(f, "precious %s\n", names[i]);
            fclose(f);
        }
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        CHECK(symlink(v, p) == 0, "symlink %s", p);
    }
    out o = sh("%s report %s/results.csv --out %s", bin, fx, dir);
    CHECK(o.rc == 0, "report into planted links: exit %d\n%s", o.rc, o.se);
    drop(&o);
    for (int i = 0; i < N; i++) {
        char *text = slurp_in(vict, names[i]), want[128];
        snprintf(want, sizeof want, "precious %s\n", names[i]);
        CHECK(text && !strcmp(text, want), "the target of %s/%s was written through", dir,
              names[i]);
        free(text);
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        struct stat st;
        CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0,
              "%s is not a regular file", p);
    }
}

static void write_tmp(const char *name, const char *text, size_t n, const char *tail);

/* A copy of `text` with every `from` replaced by `to`. */
static char *replace_all(const char *text, const char *from, const char *to) {
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = text; (p = strstr(p, from)); p += fl) n++;
    char *out = malloc(strlen(text) + n * tl + 1), *w = out;
    for (const char *p = text, *q; out; p = q + fl) {
        if (!(q = strstr(p, from))) {
            strcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, to, tl);
        w += tl;
    }
    return out;
}

/* Method names that broke or escaped the outputs: a leading quote and a doubled one (the gnuplot
 * script failed to parse: no report at all), a double quote, backslashes and a backquoted command
 * (double-quoted gnuplot strings run those), a printf format in a tic label, bytes that are not
 * UTF-8 and a control character (copied into SVG, HTML and Markdown as they were), and 15 backticks
 * before HTML (they closed report.md's 15-backtick code span and let the HTML out). */
static void check_names(const char *fx) {
    char path[1024], pwned[256], n2[512], n2csv[1024];
    snprintf(path, sizeof path, "%s/results.csv", fx);
    snprintf(pwned, sizeof pwned, "%s/PWNED", tmp);
    const char *n1 = "'adam''w";
    snprintf(n2, sizeof n2, "sgd\"q\\\"`touch %s`\xff\xc3(\x01%%d%%s\\n", pwned);
    char *w = n2csv;
    for (const char *p = n2; *p; p++) { /* inside a quoted CSV field, '"' is doubled */
        if (*p == '"') *w++ = '"';
        *w++ = *p;
    }
    *w = 0;
    const char *n3 = "```````````````<img src=x onerror=alert(1)>|";
    char *text = slurp(path);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    char *a = replace_all(text, "adam_w^2", n1), *b = replace_all(a, "sgd{m}&n<x>", n2csv),
         *c = replace_all(b, "lion_8bit+ckpt~2", n3);
    write_tmp("names.csv", c, strlen(c), "");
    free(text);
    free(a);
    free(b);
    free(c);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/names", tmp);
    out o = sh("%s report %s/names.csv --steps %s/steps.csv --out %s", bin, tmp, fx, dir);
    CHECK(o.rc == 0, "report with odd names: exit %d\n%s", o.rc, o.se);
    drop(&o);
    CHECK(access(pwned, F_OK) != 0, "a backquoted command in a name ran");
    static const char *const outs[] = {
        "report.md",   "index.html",   "memory.gp",  "memory.dat", "memory.svg", "time.gp",
        "time.svg",    "pareto.gp",    "pareto.dat", "pareto.svg", "quality.gp", "quality.svg",
        "maxbatch.gp", "maxbatch.svg", "loss.gp",    "loss.dat",   "loss.svg"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char *t = slurp_in(dir, outs[i]);
        CHECK(t != NULL, "no %s/%s", dir, outs[i]);
        size_t bad = t ? bad_utf8_at(t) : 0;
        CHECK(!bad, "%s: not valid UTF-8 (or a character XML forbids) at byte %zu", outs[i], bad);
        free(t);
    }
    char *md = slurp_in(dir, "report.md");
    size_t at = md ? md_raw_html_at(md) : 0;
    CHECK(md && !at, "report.md lets HTML out of its code spans at byte %zu:\n%s", at,
          md ? md + (at > 40 ? at - 40 : 0) : "");
    CHECK(md && strstr(md, "| ````````````````cpu/gpt-nano/```````````````<img src=x "
                           "onerror=alert(1)>\\|/bs=2/seq=32/fp32```````````````` |"),
          "report.md does not show the 15-backtick name literally:\n%s", md ? md : "");
    free(md);
    char *html = slurp_in(dir, "index.html");
    CHECK(html && !strstr(html, "<img src=x") && strstr(html, "&lt;img src=x onerror=alert(1)&gt;"),
          "index.html does not escape a name");
    free(html);
    /* the peers figure's tic labels: a peer named with quotes, a backquote and a format */
    o = sh(
        "printf 'peer,model,batch_size,seq_len,precision,step_ms,peak_mib,source\\n"
        "\"it'\\''s \"\"q\"\" `x` 50%%%%d\",gpt-nano,4,32,fp32,5.25,4.5,s\\n' >%s/odd_peers.csv && "
        "%s report %s/names.csv --peers %s/odd_peers.csv --out %s/peers_out",
        tmp, bin, tmp, tmp, tmp);
    CHECK(o.rc == 0, "report with an odd peer name: exit %d\n%s", o.rc, o.se);
    drop(&o);
    char pdir[256];
    snprintf(pdir, sizeof pdir, "%s/peers_out", tmp);
    char *psvg = slurp_in(pdir, "peers.svg");
    CHECK(psvg && svg_has_name(psvg, "it's \"q\" `x` 50%d"),
          "peers.svg does not show the peer's name literally");
    free(psvg);
    char *svg = slurp_in(dir, "memory.svg");
    CHECK(svg && svg_has_name(svg, n1), "memory.svg does not show %s literally", n1);
    CHECK(svg && svg_has_name(svg, "```````````````<img src=x onerror=alert(1)>|"),
          "memory.svg does not show the 15-backtick name literally");
    free(svg);
}

/* tmp/name holds the first n bytes of text, then `tail`. */
static void write_tmp(const char *name, const char *text, size_t n, const char *tail) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(text, 1, n, f);
    fputs(tail, f);
    fclose(f);
}

/* `membench report` on tmp/name (with the fixture's steps.csv, or tmp/steps_name): exit 2 and
 * exactly "membench report: TMP/NAME:" + want on stderr, and no report.md. */
static void expect_refused(const char *name, const char *steps, const char *want) {
    out o = sh("%s report %s/%s --steps %s --out %s/refused", bin, tmp, name, steps, tmp);
    char full[1024], dir[256];
    snprintf(full, sizeof full, "membench report: %s/%s\n", tmp, want);
    snprintf(dir, sizeof dir, "%s/refused", tmp);
    CHECK(o.rc == 2 && !strcmp(o.se, full), "%s: exit %d, stderr:\n%s\nexpected exit 2 and:\n%s",
          name, o.rc, o.se, full);
    CHECK(file_size(dir, "report.md") < 0, "%s: report.md written from a malformed file", name);
    drop(&o);
}

/* Malformed results.csv and steps.csv are refused with FILE:LINE and what was expected: they used
 * to be drawn, a cut last row padded with empty fields, a garbage line or a second header as a
 * cell of their own, a word in a number column as a missing value. */
static void check_malformed(const char *fx) {
    char path[1024], steps[1024];
    snprintf(path, sizeof path, "%s/results.csv", fx);
    snprintf(steps, sizeof steps, "%s/steps.csv", fx);
    char *text = slurp(path), *st = slurp(steps);
    CHECK(text && st, "cannot read the fixture");
    if (!text || !st) return;
    size_t len = strlen(text);
    int last = 0; /* the line of the last row */
    for (const char *p = text; *p; p++) last += *p == '\n';
    const char *row = text + len - 1;
    while (row > text && row[-1] != '\n') row--;
    const char *peak = strstr(row, "\"ok\",\"\",");
    CHECK(peak != NULL, "no ok row last in the fixture");
    if (!peak) return;
    char want[512];
    write_tmp("cut.csv", text, (size_t)(peak - text) + strlen("\"ok\",\"\",15"), "");
    snprintf(want, sizeof want,
             "cut.csv:%d: expected 68 fields as in the header, found 16; the file ends mid-row "
             "(an interrupted write?)",
             last);
    expect_refused("cut.csv", steps, want);
    write_tmp("nonl.csv", text, len - 1, "");
    snprintf(want, sizeof want,
             "nonl.csv:%d: expected a newline at the end of the last row; the file ends mid-row "
             "(an interrupted write?)",
             last);
    expect_refused("nonl.csv", steps, want);
    write_tmp("garbage.csv", text, len, "<html>\n");
    snprintf(want, sizeof want, "garbage.csv:%d: expected 68 fields as in the header, found 1",
             last + 1);
    expect_refused("garbage.csv", steps, want);
    write_tmp("twice.csv", text, len, text);
    snprintf(want, sizeof want,
             "twice.csv:%d: expected a data row, found the header again (two files joined?)",
             last + 1);
    expect_refused("twice.csv", steps, want);
    char *word = strdup(text), *p = strstr(word + (row - text), ",0.016157776000000013,");
    CHECK(p != NULL, "no wall_s to replace in the fixture");
    if (p) {
        memcpy(p, ",abc", 4);
        memmove(p + 4, p + 21, strlen(p + 21) + 1);
        write_tmp("word.csv", word, strlen(word), "");
        snprintf(want, sizeof want, "word.csv:%d: wall_s: expected a number, found 'abc'", last);
        expect_refused("word.csv", steps, want);
    }
    free(word);
    /* steps.csv: a short row in the middle, a number that is not one */
    char sp[512];
    const char *l3 = strchr(strchr(st, '\n') + 1, '\n') + 1;
    write_tmp("steps_short.csv", st, (size_t)(l3 - st), "\"abc\",0,1\n");
    snprintf(sp, sizeof sp, "%s/steps_short.csv", tmp);
    write_tmp("ok.csv", text, len, "");
    expect_refused("ok.csv", sp, "steps_short.csv:3: expected 9 fields as in the header, found 3");
    write_tmp("steps_nan.csv", st, (size_t)(l3 - st), "\"abc\",0,2,\"train\",nan,0.003,1,1,1\n");
    snprintf(sp, sizeof sp, "%s/steps_nan.csv", tmp);
    expect_refused("ok.csv", sp, "steps_nan.csv:3: loss: expected a number, found 'nan'");
    free(text);
    free(st);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_report MEMBENCH SOURCE_DIR\n");
        return 2;
    }
    bin = argv[1];
    src = argv[2];
    if (!have("gnuplot")) {
        printf("skipped: gnuplot is not on PATH\n");
        return 77;
    }
    snprintf(tmp, sizeof tmp, "/tmp/mbreport.XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    char dir[256], fx[512];
    snprintf(dir, sizeof dir, "%s/out/rep", tmp); /* parents created too */
    snprintf(fx, sizeof fx, "%s/tests/fixtures/report", src);

    out o = sh("%s report %s/results.csv --out %s", bin, fx, dir);
    CHECK(o.rc == 0, "membench report exited with %d:\n%s", o.rc, o.se);
    CHECK(strstr(o.so, "index.html") != NULL, "stdout does not name the files:\n%s", o.so);
    drop(&o);
    check_figures(dir);
    check_figure_shapes(dir);
    check_data_files(dir);
    check_html(dir);
    check_markdown(dir);

    /* The kept scripts re-run on their own, where they are. */
    o = sh("cd %s && rm -f memory.png && gnuplot memory.gp", dir);
    CHECK(o.rc == 0 && file_size(dir, "memory.png") > 0, "gnuplot memory.gp again: %d\n%s", o.rc,
          o.se);
    drop(&o);

    /* steps.csv comes from beside results.csv; elsewhere there is no loss figure, unless --steps
     * names one. Options may come after the file names. */
    o = sh("mkdir -p %s/alone && cp %s/results.csv %s/alone/ && %s report %s/alone/results.csv "
           "--out %s/r2",
           tmp, fx, tmp, bin, tmp, tmp);
    char r2[256];
    snprintf(r2, sizeof r2, "%s/r2", tmp);
    CHECK(o.rc == 0, "report without steps.csv exited with %d:\n%s", o.rc, o.se);
    CHECK(file_size(r2, "loss.svg") < 0, "a loss figure without steps.csv");
    CHECK(file_size(r2, "memory.svg") > 0, "no memory figure without steps.csv");
    CHECK(strstr(o.se, "steps.csv") != NULL, "no note about the missing steps.csv:\n%s", o.se);
    drop(&o);
    o = sh("%s report --steps %s/steps.csv -o %s/r3 %s/alone/results.csv", bin, fx, tmp, tmp);
    char r3[256];
    snprintf(r3, sizeof r3, "%s/r3", tmp);
    CHECK(o.rc == 0 && file_size(r3, "loss.svg") > 0, "--steps: rc %d, no loss.svg\n%s", o.rc,
          o.se);
    drop(&o);

    /* --peers: other tools' published figures beside the cells on their configuration; a peer
     * whose configuration membench did not run stands alone; an empty peak is a dash. */
    o = sh("printf 'peer,model,batch_size,seq_len,precision,step_ms,peak_mib,source\\n"
           "torch,gpt-nano,4,32,fp32,5.25,4.5,paper table 2\\n"
           "other,gpt-nano,4,32,fp32,9,,blog\\n"
           "solo,gpt-x,1,8,bf16,2,1,site\\n' >%s/peers.csv && "
           "%s report %s/alone/results.csv --peers %s/peers.csv --out %s/r4",
           tmp, bin, tmp, tmp, tmp);
    char r4[256];
    snprintf(r4, sizeof r4, "%s/r4", tmp);
    CHECK(o.rc == 0 && file_size(r4, "peers.svg") > 0 && file_size(r4, "peers.png") > 0,
          "--peers: rc %d, no peers figure\n%s", o.rc, o.se);
    drop(&o);
    char *md4 = slurp_in(r4, "report.md");
    char want4[1024];
    snprintf(want4, sizeof want4,
             "| configuration | who | step ms | peak MiB | source |\n|---|---|--:|--:|---|\n"
             "| gpt-nano 4x32 fp32 | membench adam\\_w^2(weight\\_decay=0) | 4.7 | 3.4 | this "
             "report |\n"
             "| gpt-nano 4x32 fp32 | membench sgd{m}\\&n\\<x\\> | 4.4 | 3.0 | this report |\n"
             "| gpt-nano 4x32 fp32 | membench lion\\_8bit+ckpt\\~2 | 6.1 | 1.6 | this report |\n"
             "| gpt-nano 4x32 fp32 | torch | 5.2 | 4.5 | paper table 2 |\n"
             "| gpt-nano 4x32 fp32 | other | 9.0 | %s | blog |\n"
             "| gpt-x 1x8 bf16 | solo | 2.0 | 1.0 | site |\n",
             "\xe2\x80\x93");
    CHECK(md4 && strstr(md4, want4), "report.md's peers table, want:\n%s\ngot:\n%s", want4,
          md4 ? md4 : "(none)");
    free(md4);
    char *dat4 = slurp_in(r4, "peers.dat");
    int lines4 = 0;
    for (const char *p = dat4 ? dat4 : ""; *p; p++) lines4 += *p == '\n';
    CHECK(lines4 == 2 + 6, "peers.dat: %d lines", lines4);
    free(dat4);
    o = sh("printf 'peer,model,batch_size,seq_len,precision,step_ms,source\\nt,m,1,1,fp32,1,s\\n' "
           ">%s/p1.csv && %s report %s/alone/results.csv --peers %s/p1.csv --out %s/x",
           tmp, bin, tmp, tmp, tmp);
    char want5[512];
    snprintf(want5, sizeof want5,
             "membench report: %s/p1.csv: missing column 'peak_mib' (a peers file has peer, model, "
             "batch_size, seq_len, precision, step_ms, peak_mib, source)\n",
             tmp);
    CHECK(o.rc == 2 && !strcmp(o.se, want5), "peers without peak_mib: %d\n%s", o.rc, o.se);
    drop(&o);
    o = sh("printf 'peer,model,batch_size,seq_len,precision,step_ms,peak_mib,source\\n"
           "t,m,1,1,fp32,1,,s\\nu,m,2,1,fp32,fast,,s\\n' >%s/p2.csv && %s report "
           "%s/alone/results.csv --peers %s/p2.csv --out %s/x",
           tmp, bin, tmp, tmp, tmp);
    snprintf(want5, sizeof want5,
             "membench report: %s/p2.csv:3: step_ms 'fast' is not a positive number\n", tmp);
    CHECK(o.rc == 2 && !strcmp(o.se, want5), "peers with a bad step_ms: %d\n%s", o.rc, o.se);
    drop(&o);

    /* Two files side by side, named; --names must name each; --merge pools them. */
    o = sh("%s report --names old,new %s/results.csv %s/alone/results.csv --out %s/r5", bin, fx,
           tmp, tmp);
    char r5[256];
    snprintf(r5, sizeof r5, "%s/r5", tmp);
    char *md5 = slurp_in(r5, "report.md");
    CHECK(o.rc == 0 && md5 && strstr(md5, "| old: status | old: peak |") &&
              strstr(md5, "| new: peak new/base | new: step time new/base |"),
          "side by side: rc %d\n%s", o.rc, md5 ? md5 : o.se);
    free(md5);
    drop(&o);
    o = sh("%s report --names old %s/results.csv %s/alone/results.csv --out %s/x", bin, fx, tmp,
           tmp);
    CHECK(o.rc == 2 && strstr(o.se, "membench report: --names gives 1 names for 2 results files"),
          "--names short of a name: %d\n%s", o.rc, o.se);
    drop(&o);
    o = sh("%s report --merge %s/results.csv %s/alone/results.csv --out %s/r6", bin, fx, tmp, tmp);
    char r6[256];
    snprintf(r6, sizeof r6, "%s/r6", tmp);
    char *md6 = slurp_in(r6, "report.md");
    CHECK(o.rc == 0 && md6 && strstr(md6, "| setting | method stack | status | peak |"),
          "--merge: rc %d\n%s", o.rc, o.se);
    free(md6);
    drop(&o);

    /* Usage and input errors: exit 2 with the message. */
    o = sh("%s report --help", bin);
    CHECK(o.rc == 0 && strstr(o.so, "usage: membench report"), "--help: %d\n%s", o.rc, o.so);
    drop(&o);
    o = sh("%s report %s/results.csv", bin, fx);
    CHECK(o.rc == 2 && strstr(o.se, "membench report: --out DIR is required"), "no --out: %d\n%s",
          o.rc, o.se);
    drop(&o);
    o = sh("%s report --out %s/x", bin, tmp);
    CHECK(o.rc == 2 && strstr(o.se, "membench report: expected at least one results.csv"),
          "no file: %d\n%s", o.rc, o.se);
    drop(&o);
    o = sh("%s report %s/nonexistent.csv --out %s/x", bin, tmp, tmp);
    CHECK(o.rc == 2 && strstr(o.se, "nonexistent.csv"), "missing file: %d\n%s", o.rc, o.se);
    drop(&o);
    o = sh("printf 'suite,target\\n\"s\",\"t\"\\n' >%s/cols.csv && "
           "%s report %s/cols.csv --out %s/x",
           tmp, bin, tmp, tmp);
    char want[512];
    snprintf(want, sizeof want, "%s/cols.csv: missing column 'model'", tmp);
    CHECK(o.rc == 2 && strstr(o.se, want), "missing column: %d\n%s", o.rc, o.se);
    drop(&o);
    o = sh("(echo 'a,b'; echo '1,2,3') >%s/long.csv && %s report %s/long.csv --out %s/x", tmp, bin,
           tmp, tmp);
    snprintf(want, sizeof want, "%s/long.csv:2:", tmp);
    CHECK(o.rc == 2 && strstr(o.se, want), "malformed CSV: %d\n%s", o.rc, o.se);
    drop(&o);
    check_malformed(fx);
    check_symlinks(fx);
    check_names(fx);
    o = sh("env PATH=%s/nowhere %s report %s/results.csv --out %s/x", tmp, bin, fx, tmp);
    CHECK(o.rc == 2 && strstr(o.se, "gnuplot is not on PATH; install it (Debian/Ubuntu: apt-get "
                                    "install gnuplot-nox)"),
          "no gnuplot: %d\n%s", o.rc, o.se);
    char x[256];
    snprintf(x, sizeof x, "%s/x", tmp);
    CHECK(file_size(x, "report.md") < 0, "report.md written although gnuplot is missing");
    drop(&o);

    if (!mb_check_failures) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    } else {
        fprintf(stderr, "output kept in %s\n", tmp);
    }
    CHECK_DONE();
}
