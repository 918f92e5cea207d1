/* tests/test_report_browser.c — renders a report's index.html in headless Chromium and checks that
 * every image loaded (naturalWidth > 0). argv: membench binary, source dir. Exits 77 (skipped)
 * when chromium or gnuplot is not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "proc.h"

/* Appended to a copy of index.html: after load, count the images that decoded. */
static const char *probe =
    "<script>window.addEventListener('load', function () {\n"
    "  var im = document.images, ok = 0;\n"
    "  for (var i = 0; i < im.length; i++) if (im[i].complete && im[i].naturalWidth > 0) ok++;\n"
    "  var d = document.createElement('pre'); d.id = 'mb-check';\n"
    "  d.textContent = 'MB_IMAGES ' + ok + '/' + im.length;\n"
    "  document.body.appendChild(d);\n"
    "});</script>\n";

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *chromium = have("chromium") ? "chromium" : have("chromium-browser") ? "chromium-browser" : NULL;
    if (!chromium || !have("gnuplot")) {
        printf("skipped: needs chromium and gnuplot\n");
        return 77;
    }
    char tmp[] = "/tmp/mbbrowser.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char cmd[4096], path[512];
    snprintf(cmd, sizeof cmd, "%s report %s/tests/fixtures/report/results.csv --out %s/rep >%s/log 2>&1",
             argv[1], argv[2], tmp, tmp);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "membench report failed (see %s/log)", tmp);
    snprintf(path, sizeof path, "%s/rep/index.html", tmp);
    char *html = slurp(path);
    CHECK(html != NULL, "no index.html");
    if (!html) CHECK_DONE();
    char *end = strstr(html, "</body>");
    snprintf(path, sizeof path, "%s/rep/check.html", tmp);
    FILE *f = fopen(path, "w");
    if (end) {
        fwrite(html, 1, (size_t)(end - html), f);
        fputs(probe, f);
        fputs(end, f);
    } else {
        fputs(html, f);
        fputs(probe, f);
    }
    fclose(f);
    free(html);
    /* Flags as this machine's probe uses them: no sandbox as root, no network chatter. */
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--user-data-dir=%s/profile --allow-file-access-from-files "
             "--virtual-time-budget=10000 --dump-dom file://%s/rep/check.html >%s/dom 2>%s/err",
             chromium, tmp, tmp, tmp, tmp);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chromium exited with %d (see %s/err)",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1, tmp);
    snprintf(path, sizeof path, "%s/dom", tmp);
    char *dom = slurp(path);
    int ok = -1, total = -1;
    /* the probe's own source also contains the marker text: look for the element it adds */
    const char *m = dom ? strstr(dom, "id=\"mb-check\">MB_IMAGES ") : NULL;
    if (m) sscanf(m, "id=\"mb-check\">MB_IMAGES %d/%d", &ok, &total);
    printf("images loaded: %d of %d\n", ok, total);
    /* 6 figures in the fixture's report, each shown once at least */
    CHECK(total >= 6 && ok == total, "%d of %d images loaded", ok, total);
    free(dom);
    if (!mb_check_failures) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    }
    CHECK_DONE();
}
