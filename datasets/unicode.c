/* datasets/unicode.c — class lookup: ASCII by rule, everything else by binary search over the
 * generated ranges (datasets/unicode_table.c). */
#include "unicode.h"

int mb_unicode_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return MB_UNI_L;
        if (cp >= '0' && cp <= '9') return MB_UNI_N;
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) ? MB_UNI_WS : 0;
    }
    size_t lo = 0, hi = mb_unicode_nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp > mb_unicode_ranges[mid].hi)
            lo = mid + 1;
        else if (cp < mb_unicode_ranges[mid].lo)
            hi = mid;
        else
            return mb_unicode_ranges[mid].cls;
    }
    return 0;
}
