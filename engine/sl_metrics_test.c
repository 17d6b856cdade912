/*  sl_metrics_test: self-test of sl_metrics.

    Declaring, adding, setting and observing series, label
    escaping, the broker's STATS figures, and the Prometheus text rendering.
*/
#include "sl_metrics.h"
#include "sl_mp.h"
#include <czmq.h>
#include <pthread.h>

void
sl_metrics_test (bool verbose)
{
    sl_metrics_t *m = sl_metrics_new ();
    sl_metrics_declare (m, "sluice_http_requests_total", SL_COUNTER, "HTTP requests");
    sl_metrics_add (m, "sluice_http_requests_total", "route=\"/v1/ingest\",status=\"202\"", 1);
    sl_metrics_add (m, "sluice_http_requests_total", "route=\"/v1/ingest\",status=\"202\"", 2);
    sl_metrics_set (m, "sluice_broker_queue_depth", "service=\"parse\"", 7);
    sl_metrics_observe (m, "sluice_stage_duration_seconds", "stage=\"parse\"", 0.2);
    sl_metrics_observe (m, "sluice_stage_duration_seconds", "stage=\"parse\"", 40);
    char *text = sl_metrics_render (m);
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "# TYPE sluice_http_requests_total counter\n"));
    assert (strstr (text, "sluice_http_requests_total{route=\"/v1/ingest\",status=\"202\"} 3\n"));
    assert (strstr (text, "sluice_broker_queue_depth{service=\"parse\"} 7\n"));
    assert (strstr (text, "sluice_stage_duration_seconds_bucket{stage=\"parse\",le=\"0.25\"} 1\n"));
    assert (strstr (text, "sluice_stage_duration_seconds_bucket{stage=\"parse\",le=\"60\"} 2\n"));
    assert (strstr (text, "sluice_stage_duration_seconds_count{stage=\"parse\"} 2\n"));
    free (text);
    sl_metrics_clear (m, "sluice_broker_queue_depth");
    text = sl_metrics_render (m);
    assert (!strstr (text, "sluice_broker_queue_depth{"));
    free (text);
    //  The broker's STATS map, one name per figure
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_key (&w, "services");
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_key (&w, "parse");
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_int (&w, "queued", 4);
    sl_mpw_kv_int (&w, "dead", 2);
    sl_mpw_kv_int (&w, "dlq", 2);
    assert (sl_metrics_broker_stats (m, w.buf.data, w.buf.size) == 0);
    sl_mpw_reset (&w);
    text = sl_metrics_render (m);
    assert (strstr (text, "sluice_broker_queue_depth{service=\"parse\"} 4\n"));
    assert (strstr (text, "# TYPE sluice_broker_dead_letters_total counter\n"));
    assert (strstr (text, "sluice_broker_dead_letters_total{service=\"parse\"} 2\n"));
    assert (strstr (text, "sluice_broker_dlq_size 2\n"));
    assert (strstr (text, "sluice_broker_peers 0\n"));
    free (text);
    assert (sl_metrics_broker_stats (m, NULL, 0) == 0);
    text = sl_metrics_render (m);
    assert (!strstr (text, "sluice_broker_queue_depth{") && !strstr (text, "\nsluice_broker_dlq_size "));
    free (text);
    assert (sl_metrics_broker_stats (m, "\x01", 1) == -1);
    char buf [32];
    assert (streq (sl_metrics_label ("a\"b\\c", buf, sizeof buf), "a\\\"b\\\\c"));
    sl_metrics_destroy (&m);
    assert (m == NULL);
}
