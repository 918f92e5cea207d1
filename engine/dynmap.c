/* engine/dynmap.c — the 8-bit dynamic maps and their nearest-code search (see dynmap.h). */
#include "dynmap.h"

#include <math.h>
#include <stdlib.h>

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void mb_dynmap(int is_signed, float map[256]) {
    int k = 0;
    for (int e = 0; e < 7; e++) {
        int items = is_signed ? (1 << e) + 1 : (1 << (e + 1)) + 1; /* boundaries */
        double scale = pow(10.0, (double)(e - 6));
        for (int j = 0; j + 1 < items; j++) {
            double b0 = 0.1 + 0.9 * j / (items - 1), b1 = 0.1 + 0.9 * (j + 1) / (items - 1);
            double mean = (b0 + b1) / 2;
            map[k++] = (float)(scale * mean);
            if (is_signed) map[k++] = (float)(-scale * mean);
        }
    }
    map[k++] = 0.0f;
    map[k++] = 1.0f;
    while (k < 256) map[k++] = 0.0f; /* signed and unsigned both fill all 256: never reached */
    qsort(map, 256, sizeof *map, cmp_float);
}
