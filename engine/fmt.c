/* engine/fmt.c — exact, short number formatting. */
#include "fmt.h"

#include <stdio.h>
#include <stdlib.h>

/* %.17g always round-trips; trying 15 and 16 first keeps 0.1 as "0.1" for people and plots.
 * membench never calls setlocale, so printf uses the C locale; a ',' could only be a decimal comma. */
void mb_fmt_double(char *b, size_t n, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, n, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    for (char *p = b; *p; p++)
        if (*p == ',') *p = '.';
}
