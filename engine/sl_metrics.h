/*  sl_metrics: counters, gauges and histograms rendered in the Prometheus
    text format (served at /metrics by the edge, and by the broker's
    metrics port). One registry per process; every call is thread-safe
    (a mutex: metric updates are far off the per-byte hot paths).

    A series is a metric name plus a label string written the Prometheus
    way, e.g. `route="/v1/ingest",status="202"`; the caller is responsible
    for escaping label values (sl_metrics_label helps).
*/
#ifndef SL_METRICS_H_INCLUDED
#define SL_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sl_metrics_t sl_metrics_t;

typedef enum { SL_COUNTER, SL_GAUGE, SL_HISTOGRAM } sl_metric_type_t;

sl_metrics_t *sl_metrics_new (void);
void sl_metrics_destroy (sl_metrics_t **self_p);

//  Declare a metric's type and help text (rendered as # HELP / # TYPE).
void sl_metrics_declare (sl_metrics_t *self, const char *name, sl_metric_type_t type, const char *help);

void sl_metrics_add (sl_metrics_t *self, const char *name, const char *labels, double value);
void sl_metrics_set (sl_metrics_t *self, const char *name, const char *labels, double value);
//  Histogram in seconds, buckets 5 ms .. 300 s.
void sl_metrics_observe (sl_metrics_t *self, const char *name, const char *labels, double seconds);

//  Remove every series of a gauge (before re-setting a snapshot of it).
void sl_metrics_clear (sl_metrics_t *self, const char *name);

//  Render everything. Caller frees.
char *sl_metrics_render (sl_metrics_t *self);

//  The broker's STATS answer (msgpack bytes, the map of docs/protocol.md)
//  as metrics: the one mapping from broker figures to Prometheus names,
//  one name per figure (sluice_broker_*), used by the broker's metrics
//  port and the edge's /metrics alike. Replaces the previous snapshot;
//  data NULL (broker unreachable) just clears it. -1 if data is not a
//  msgpack map.
int sl_metrics_broker_stats (sl_metrics_t *self, const void *data, size_t size);

//  Escape a label value into buf (\\, \", \n). Returns buf.
char *sl_metrics_label (const char *value, char *buf, size_t cap);

void sl_metrics_test (bool verbose);

#endif
