/* reports/metric.h — which way a quality metric is better, by its name: what the report's quality
 * figure says and what `membench compare` gates on. */
#ifndef MB_METRIC_H
#define MB_METRIC_H

/* "lower" or "higher" is better for a metric name (val_loss, perplexity: lower; accuracy: higher);
 * NULL when membench does not know the metric. */
const char *mb_metric_direction(const char *metric);

#endif
