/* reports/csvread.c — the CSV reader (libcsv) under every results.csv, steps.csv and peers.csv
 * that membench reads: one callback per record, with the line where the record starts. */
#include "csvread.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
    mb_csv_row_fn fn;  /* one of these two is set */
    mb_csv_rec_fn rfn; /* (mb_csv_read_records: each record says how it ended) */
    void *user;
    char **f;    /* the current record's fields, NUL-terminated copies */
    size_t *cap; /* allocated size of each f[i]; buffers are reused from record to record */
    int n, nalloc;
    int line;     /* 1-based line of the byte being fed */
    int rec_line; /* line where the record in progress started */
    int between;  /* no record in progress: the next non-blank byte starts one */
    int stopped, stop_ret, stop_line, nomem;
} scan;

static void on_field(void *s, size_t len, void *data) {
    scan *sc = data;
    if (sc->stopped || sc->nomem) return;
    if (sc->n == sc->nalloc) {
        int na = sc->nalloc ? 2 * sc->nalloc : 16;
        char **f = realloc(sc->f, (size_t)na * sizeof *f);
        if (f) sc->f = f;
        size_t *cap = f ? realloc(sc->cap, (size_t)na * sizeof *cap) : NULL;
        if (!cap) {
            sc->nomem = 1;
            return;
        }
        sc->cap = cap;
        for (int i = sc->nalloc; i < na; i++) {
            sc->f[i] = NULL;
            sc->cap[i] = 0;
        }
        sc->nalloc = na;
    }
    if (sc->cap[sc->n] < len + 1) {
        char *b = realloc(sc->f[sc->n], len + 1);
        if (!b) {
            sc->nomem = 1;
            return;
        }
        sc->f[sc->n] = b;
        sc->cap[sc->n] = len + 1;
    }
    if (len) memcpy(sc->f[sc->n], s, len); /* libcsv's buffer is only valid during this call */
    sc->f[sc->n][len] = 0;
    sc->n++;
}

static void deliver(scan *sc, mb_csv_end end) {
    if (sc->stopped || sc->nomem) return;
    int r = sc->rfn
                ? sc->rfn(sc->user,
                          &(mb_csv_rec){
                              .line = sc->rec_line, .nfields = sc->n, .fields = sc->f, .end = end})
                : sc->fn(sc->user, sc->rec_line, sc->n, sc->f);
    if (r) {
        sc->stopped = 1;
        sc->stop_ret = r;
        sc->stop_line = sc->rec_line;
    }
}

/* c is the character that ended the record, or -1 when csv_fini ended it: no line break follows. */
static void on_record(int c, void *data) {
    scan *sc = data;
    deliver(sc, c == -1 ? MB_CSV_NO_NEWLINE : MB_CSV_WHOLE);
    sc->n = 0;
    sc->between = 1;
    sc->rec_line = sc->line; /* a record after a bare CR starts on this same line */
}

/* libcsv's message; with `explain` (mb_csv_read_records), what strict RFC 4180 expected too. */
static mb_status parse_error(mb_ctx *ctx, const char *path, int line, int err, int explain) {
    if (explain && err == CSV_EPARSE)
        return mb_error(ctx, MB_EFORMAT,
                        "%s:%d: malformed CSV: expected a quote only around a whole field, and "
                        "doubled inside one (libcsv: %s)",
                        path, line, csv_strerror(err));
    return mb_error(ctx, MB_EFORMAT, "%s:%d: %s", path, line, csv_strerror(err));
}

static mb_status scan_stream(mb_ctx *ctx, FILE *fp, const char *path, scan sc, mb_csv_stop *stop) {
    struct csv_parser p;
    /* CSV_STRICT_FINI on top of CSV_STRICT: without it csv_fini accepts an unterminated quoted
     * field at EOF (a truncated file) as if it were complete. */
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return mb_error(ctx, MB_ENOMEM, "%s: cannot set up the CSV parser", path);
    const int records = sc.rfn != NULL;
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    mb_status st = MB_OK;
    if (!buf) st = mb_error(ctx, MB_ENOMEM, "%s: no memory for the read buffer", path);
    int eof = 0;
    while (st == MB_OK && !eof && !sc.stopped && !sc.nomem) {
        size_t got = fread(buf, 1, CHUNK, fp);
        if (got < CHUNK) {
            if (ferror(fp)) {
                st = mb_error(ctx, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
                break;
            }
            eof = 1;
        }
        /* Fed line by line so the line count is exact at every record boundary; libcsv itself
         * does not report positions. */
        for (size_t off = 0; off < got && !sc.stopped && !sc.nomem;) {
            const char *nl = memchr(buf + off, '\n', got - off);
            size_t end = nl ? (size_t)(nl - buf) + 1 : got;
            if (sc.between) {
                for (size_t i = off; i < end; i++) {
                    char ch = buf[i];
                    if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
                        sc.between = 0; /* blank lines and leading blanks are skipped by libcsv */
                        sc.rec_line = sc.line;
                        break;
                    }
                }
            }
            if (csv_parse(&p, buf + off, end - off, on_field, on_record, &sc) != end - off) {
                st = parse_error(ctx, path, sc.rec_line, csv_error(&p), records);
                break;
            }
            if (nl) sc.line++;
            off = end;
        }
    }
    /* Always finish: it hands over a last record that has no newline after it. It fails only on
     * an open quote at the end (CSV_STRICT_FINI): a record cut off, which `records` passes on. */
    if (st == MB_OK && !sc.stopped && !sc.nomem && csv_fini(&p, on_field, on_record, &sc) != 0) {
        if (records)
            deliver(&sc, MB_CSV_OPEN_QUOTE);
        else
            st = parse_error(ctx, path, sc.rec_line, csv_error(&p), 0);
    }
    if (st == MB_OK && sc.nomem)
        st =
            mb_error(ctx, MB_ENOMEM, "%s:%d: no memory for the record's fields", path, sc.rec_line);
    *stop = (mb_csv_stop){.stopped = sc.stopped, .ret = sc.stop_ret, .line = sc.stop_line};
    csv_free(&p);
    for (int i = 0; i < sc.nalloc; i++) free(sc.f[i]);
    free(sc.f);
    free(sc.cap);
    free(buf);
    return st;
}

mb_status mb_csv_scan(mb_ctx *ctx, FILE *fp, const char *path, mb_csv_row_fn fn, void *user,
                      mb_csv_stop *stop) {
    return scan_stream(ctx, fp, path,
                       (scan){.fn = fn, .user = user, .line = 1, .rec_line = 1, .between = 1},
                       stop);
}

static mb_status read_path(mb_ctx *ctx, const char *path, scan sc) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return mb_error(ctx, MB_EIO, "%s: cannot open: %s", path, strerror(errno));
    mb_csv_stop stop;
    mb_status st = scan_stream(ctx, fp, path, sc, &stop);
    fclose(fp);
    if (st == MB_OK && stop.stopped)
        st = mb_error(ctx, MB_EINVAL, "%s:%d: reading stopped by the row callback (it returned %d)",
                      path, stop.line, stop.ret);
    return st;
}

mb_status mb_csv_read(mb_ctx *ctx, const char *path, mb_csv_row_fn row, void *user) {
    return read_path(ctx, path,
                     (scan){.fn = row, .user = user, .line = 1, .rec_line = 1, .between = 1});
}

mb_status mb_csv_read_records(mb_ctx *ctx, const char *path, mb_csv_rec_fn fn, void *user) {
    return read_path(ctx, path,
                     (scan){.rfn = fn, .user = user, .line = 1, .rec_line = 1, .between = 1});
}
