/* reports/csvnum.h — which columns of results.csv and steps.csv hold numbers, and the check that
 * a loaded table's do: compare and report refuse a file with a word where a number belongs. */
#ifndef MB_CSVNUM_H
#define MB_CSVNUM_H

#include "csvtable.h"

/* What a numeric column holds; an empty cell (a figure that does not apply) is always allowed. */
typedef enum mb_num_kind {
    MB_NUM_NONE,  /* not a numeric column */
    MB_NUM_BYTES, /* a whole number >= 0 */
    MB_NUM_INT,   /* a whole number (up to 2^64 - 1: seeds are unsigned 64-bit) */
    MB_NUM_REAL, /* a number as strtod reads it, "inf" included; not "nan" (NaN is written empty) */
} mb_num_kind;

/* The kind of each column of results.csv and of steps.csv by name (MB_NUM_NONE for text and for
 * columns this build does not know). */
mb_num_kind mb_results_num_kind(const char *col);
mb_num_kind mb_steps_num_kind(const char *col);

/* Every cell of every column whose `kind_of` is not MB_NUM_NONE is empty or a number of that kind;
 * else MB_EFORMAT "PATH:LINE: COLUMN: expected a whole number of bytes, found 'TEXT'" (or "a whole
 * number", "a number"), for the first such cell in file order. */
mb_status mb_table_check_numbers(mb_ctx *ctx, const mb_table *t,
                                 mb_num_kind (*kind_of)(const char *col));

#endif
