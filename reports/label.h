/* reports/label.h — a run's cell label ("target/model/stack/bs=B/seq=T/precision/rN") and the cell
 * part compare, report and --filter share: the label less its "/rN". */
#ifndef MB_LABEL_H
#define MB_LABEL_H

#include <stddef.h>

/* The length of `label` without its trailing "/r<digits>"; 0 when it has none (an older file's
 * empty label, or not a run label). */
size_t mb_label_cell_len(const char *label);

#endif
