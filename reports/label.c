/* reports/label.c — the cell part of a run's label. */
#include "label.h"

#include <string.h>

size_t mb_label_cell_len(const char *label) {
    const char *r = label ? strrchr(label, '/') : NULL;
    if (!r || r[1] != 'r' || !r[2]) return 0;
    for (const char *p = r + 2; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return (size_t)(r - label);
}
