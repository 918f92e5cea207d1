/* reports/peers.c — the peers file: other tools' published step times and peaks, checked cell by
 * cell so that a typo is an error with its line, not a silently missing bar. */
#include "peers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csvtable.h"

static const char *const peer_cols[] = {"peer",      "model",   "batch_size", "seq_len",
                                        "precision", "step_ms", "peak_mib",   "source"};
enum { P_PEER, P_MODEL, P_BS, P_SEQ, P_PREC, P_MS, P_PEAK, P_SOURCE, P_N };

/* A positive finite number; empty text is allowed only when `optional` (then NaN). */
static int positive(const char *s, int optional, double *v) {
    if (!*s) {
        *v = NAN;
        return optional;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !*end && !errno && isfinite(*v) && *v > 0;
}

mb_status mb_peers_load(mb_ctx *ctx, const char *path, mb_peer **out, int *n) {
    *out = NULL;
    *n = 0;
    mb_table t;
    MB_TRY(mb_table_load_mode(ctx, path, MB_TABLE_TEXT, &t));
    int col[P_N];
    mb_status s = MB_OK;
    for (int k = 0; k < P_N && s == MB_OK; k++)
        if ((col[k] = mb_table_col(&t, peer_cols[k])) < 0)
            s = mb_error(ctx, MB_EFORMAT,
                         "%s: missing column '%s' (a peers file has peer, model, "
                         "batch_size, seq_len, precision, step_ms, peak_mib, source)",
                         path, peer_cols[k]);
    mb_peer *p = s == MB_OK ? calloc((size_t)t.nrows + 1, sizeof *p) : NULL;
    if (s == MB_OK && !p) s = mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int r = 0; r < t.nrows && s == MB_OK; r++) {
        mb_peer *q = &p[r];
        const char *v[P_N];
        for (int k = 0; k < P_N; k++) v[k] = mb_table_get(&t, r, col[k]);
        q->line = t.lines[r];
        double bs, seq;
        if (!*v[P_PEER] || !*v[P_MODEL])
            s = mb_error(ctx, MB_EFORMAT, "%s:%d: %s is empty", path, q->line,
                         *v[P_PEER] ? "model" : "peer");
        else if (!positive(v[P_BS], 0, &bs) || bs != floor(bs) || bs > 1e9)
            s = mb_error(ctx, MB_EFORMAT, "%s:%d: batch_size '%s' is not a positive integer", path,
                         q->line, v[P_BS]);
        else if (!positive(v[P_SEQ], 0, &seq) || seq != floor(seq) || seq > 1e9)
            s = mb_error(ctx, MB_EFORMAT, "%s:%d: seq_len '%s' is not a positive integer", path,
                         q->line, v[P_SEQ]);
        else if (!positive(v[P_MS], 0, &q->step_ms))
            s = mb_error(ctx, MB_EFORMAT, "%s:%d: step_ms '%s' is not a positive number", path,
                         q->line, v[P_MS]);
        else if (!positive(v[P_PEAK], 1, &q->peak_mib))
            s = mb_error(ctx, MB_EFORMAT,
                         "%s:%d: peak_mib '%s' is not a positive number (leave it empty when the "
                         "source gives none)",
                         path, q->line, v[P_PEAK]);
        else {
            q->batch_size = (int)bs;
            q->seq_len = (int)seq;
            snprintf(q->name, sizeof q->name, "%s", v[P_PEER]);
            snprintf(q->model, sizeof q->model, "%s", v[P_MODEL]);
            snprintf(q->precision, sizeof q->precision, "%s", v[P_PREC]);
            snprintf(q->source, sizeof q->source, "%s", v[P_SOURCE]);
        }
    }
    if (s == MB_OK) {
        *out = p;
        *n = t.nrows;
    } else {
        free(p);
    }
    mb_table_free(&t);
    return s;
}
