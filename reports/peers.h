/* reports/peers.h — published figures of other tools (peers.csv), drawn beside membench's rows by
 * `membench report --peers`: who, on what configuration, how fast, how much memory, and where from.
 */
#ifndef MB_PEERS_H
#define MB_PEERS_H

#include "../engine/ctx.h"

typedef struct mb_peer {
    char name[64], model[64], precision[16], source[512];
    int batch_size, seq_len, line;
    double step_ms, peak_mib; /* peak_mib NaN when the source gives none */
} mb_peer;

/* Loads `path`: a CSV with columns peer, model, batch_size, seq_len, precision, step_ms, peak_mib,
 * source (any order, others ignored), read as MB_TABLE_TEXT (a hand-written file: its last line
 * may lack a newline). Errors (MB_EFORMAT unless the file cannot be read, MB_EIO):
 * "PATH: missing column 'NAME'", "PATH:LINE: step_ms '...' is not a positive number", likewise
 * batch_size and seq_len (positive integers) and peak_mib (empty or a positive number), and empty
 * peer or model. Fills *out (free() it) and *n. */
mb_status mb_peers_load(mb_ctx *ctx, const char *path, mb_peer **out, int *n);

#endif
