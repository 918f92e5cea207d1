/* engine/fmt.h — number formatting shared by the CSV writer and parameter labels and hashes. */
#ifndef MB_FMT_H
#define MB_FMT_H

#include <stddef.h>

/* A double in the fewest digits (15 to 17) that read back exactly: "0.1", not "0.10000000000000001". */
void mb_fmt_double(char *buf, size_t n, double v);

#endif
