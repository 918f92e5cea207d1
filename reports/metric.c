/* reports/metric.c — a metric's better direction, from words in its name. */
#include "metric.h"

#include <string.h>

const char *mb_metric_direction(const char *m) {
    if (strstr(m, "loss") || strstr(m, "perplexity") || strstr(m, "ppl")) return "lower";
    if (strstr(m, "accuracy") || strstr(m, "acc")) return "higher";
    return NULL;
}
