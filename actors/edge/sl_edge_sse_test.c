/*  sl_edge_sse_test: self-test of sl_edge_sse.

    A real PUB socket feeds the hub; the "journal" is a JSON array the fetch
    callback answers from, so the stream's dedupe, gap and resume logic run
    against known sequences.
*/
#include "sl_edge_sse.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"
#include <czmq.h>
#include <sys/eventfd.h>

typedef struct {
    json_t *journal;                //  array of stored events
    bool terminal;
    int queries;
} test_journal_t;

static int
s_test_fetch (void *arg, const char *job, int64_t after, json_t **reply)
{
    test_journal_t *tj = (test_journal_t *) arg;
    tj->queries++;
    json_t *events = json_array ();
    size_t index;
    json_t *event;
    json_array_foreach (tj->journal, index, event)
        if (json_integer_value (json_object_get (event, "seq")) > after)
            json_array_append (events, event);
    *reply = json_pack ("{s:o, s:b}", "events", events, "terminal", tj->terminal);
    return 200;
}

static void
s_test_publish (zsock_t *pub, const char *topic, int64_t seq, const char *type)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_int (&w, "seq", seq);
    sl_mpw_kv_str (&w, "type", type);
    sl_mpw_kv_int (&w, "ts", 1);
    sl_mpw_kv_str (&w, "job", topic);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, w.buf.data, w.buf.size);
    zmsg_send (&msg, pub);
    sl_mpw_reset (&w);
}

static json_t *
s_test_stored (int64_t seq, const char *type)
{
    return json_pack ("{s:I, s:s, s:I, s:{s:s, s:i}}", "seq", (json_int_t) seq, "type", type,
                      "ts", (json_int_t) 1, "data", "stage", "parse", "percent", (int) seq * 10);
}

//  Read the stream until it ends; return the text.
static char *
s_test_drain (sl_edge_stream_t *stream)
{
    size_t cap = 65536, len = 0;
    char *text = malloc (cap);
    char buf [7];                   //  small on purpose: partial copies
    ssize_t n;
    while ((n = sl_edge_stream_read (stream, buf, sizeof buf)) > 0) {
        assert (len + (size_t) n < cap);
        memcpy (text + len, buf, (size_t) n);
        len += (size_t) n;
    }
    text [len] = 0;
    return text;
}

static int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle))
        n++;
    return n;
}

void
sl_edge_sse_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge_sse: ");

    //  Formatting and flattening
    json_t *stored = s_test_stored (3, "stage_progress");
    json_t *flat = sl_edge_sse_flatten (stored, "j1");
    assert (json_integer_value (json_object_get (flat, "percent")) == 30);
    assert (strcmp (json_string_value (json_object_get (flat, "job")), "j1") == 0);
    assert (json_object_get (flat, "data") == NULL);
    char *text = sl_edge_sse_format (3, "stage_progress", flat);
    assert (strncmp (text, "id: 3\nevent: stage_progress\ndata: {", 35) == 0);
    assert (strstr (text, "\n\n") == text + strlen (text) - 2);
    free (text);
    json_decref (flat);
    json_decref (stored);
    json_t *nl = json_pack ("{s:s}", "message", "two\nlines");
    text = sl_edge_sse_format (0, "evil\ntype", nl);
    assert (strncmp (text, "event: eviltype\ndata: {\"message\":\"two\\nlines\"}\n\n", 48) == 0);
    free (text);
    json_decref (nl);

    //  Hub: real PUB socket -> hub -> subscriber
    zsock_t *pub = zsock_new_pub ("inproc://sl-edge-sse-test");
    assert (pub);
    char err [256];
    sl_edge_hub_t *hub = sl_edge_hub_new ("inproc://sl-edge-sse-test", NULL, NULL, err, sizeof err);
    assert (hub);
    sl_edge_sub_t *sub = sl_edge_hub_subscribe (hub, "jobA", 2000);
    sl_edge_sub_t *other = sl_edge_hub_subscribe (hub, "jobB", 2000);
    assert (sub && other);
    assert (sl_edge_hub_streams (hub) == 2);
    zclock_sleep (50);
    s_test_publish (pub, "jobB", 1, "job_started");
    s_test_publish (pub, "jobA", 1, "job_started");
    char *data;
    size_t size;
    bool overflow = false;
    assert (sl_edge_sub_wait (sub, 2000, &data, &size, &overflow) == 1);
    json_t *ev = sl_json_from_msgpack (data, size, err, sizeof err);
    assert (ev && strcmp (json_string_value (json_object_get (ev, "job")), "jobA") == 0);
    json_decref (ev);
    free (data);
    assert (sl_edge_sub_wait (sub, 100, &data, &size, &overflow) == 0);
    sl_edge_sub_destroy (&other);
    assert (other == NULL);

    //  Stream: journal holds 1..3; live delivers a duplicate (2), the next
    //  (4), then skips 5 (gap) and sends 6 = terminal. The stream must emit
    //  1..6 exactly once each, in order, and end.
    test_journal_t tj = { json_array (), false, 0 };
    for (int i = 1; i <= 3; i++)
        json_array_append_new (tj.journal, s_test_stored (i, i == 1 ? "job_started" : "stage_progress"));
    sl_edge_stream_t *stream = sl_edge_stream_new (sub, "jobA", 0, 60000, s_test_fetch, &tj);
    sub = NULL;
    assert (sl_edge_stream_prime (stream) == 200);
    //  sub still holds live event 1 from above: it is a duplicate now
    json_array_append_new (tj.journal, s_test_stored (4, "stage_progress"));
    json_array_append_new (tj.journal, s_test_stored (5, "stage_completed"));
    json_array_append_new (tj.journal, s_test_stored (6, "job_completed"));
    tj.terminal = true;
    s_test_publish (pub, "jobA", 2, "stage_progress");
    s_test_publish (pub, "jobA", 4, "stage_progress");
    s_test_publish (pub, "jobA", 6, "job_completed");
    text = s_test_drain (stream);
    for (int i = 1; i <= 6; i++) {
        char id [32];
        snprintf (id, sizeof id, "id: %d\n", i);
        assert (s_count (text, id) == 1);
    }
    assert (strstr (text, "id: 1\n") < strstr (text, "id: 6\n"));
    assert (s_count (text, "event: job_completed") == 1);
    assert (strncmp (text, "retry: 2000\n\n", 13) == 0);
    assert (sl_edge_stream_sent (stream) == 6);
    free (text);
    sl_edge_stream_destroy (&stream);

    //  Resume after 4 (Last-Event-ID): gets exactly 5 and 6
    sub = sl_edge_hub_subscribe (hub, "jobA", 2000);
    stream = sl_edge_stream_new (sub, "jobA", 4, 60000, s_test_fetch, &tj);
    assert (sl_edge_stream_prime (stream) == 200);
    text = s_test_drain (stream);
    assert (s_count (text, "id: ") == 2 && strstr (text, "id: 5\n") && strstr (text, "id: 6\n"));
    free (text);
    sl_edge_stream_destroy (&stream);

    //  Resume after the terminal event: nothing to say -> 204
    sub = sl_edge_hub_subscribe (hub, "jobA", 2000);
    stream = sl_edge_stream_new (sub, "jobA", 6, 60000, s_test_fetch, &tj);
    assert (sl_edge_stream_prime (stream) == 204);
    sl_edge_stream_destroy (&stream);

    //  Idle stream: heartbeat after heartbeat_ms, without an id line; a
    //  live event whose journal entry arrives only later is caught by the
    //  re-query after silence
    json_array_clear (tj.journal);
    tj.terminal = false;
    sub = sl_edge_hub_subscribe (hub, "jobC", 2000);
    stream = sl_edge_stream_new (sub, "jobC", 0, 300, s_test_fetch, &tj);
    assert (sl_edge_stream_prime (stream) == 200);
    char buf [4096];
    ssize_t n = sl_edge_stream_read (stream, buf, sizeof buf);
    assert (n == 13);               //  the retry line
    int64_t start = sl_mono_ms ();
    n = sl_edge_stream_read (stream, buf, sizeof buf);
    assert (n > 0);
    buf [n] = 0;
    assert (strncmp (buf, "event: heartbeat\ndata: {", 24) == 0);
    assert (sl_mono_ms () - start >= 250);
    json_array_append_new (tj.journal, s_test_stored (1, "job_failed"));
    tj.terminal = true;
    text = s_test_drain (stream);   //  no live event at all: re-query finds it
    assert (strstr (text, "id: 1\nevent: job_failed\n"));
    free (text);
    sl_edge_stream_destroy (&stream);

    //  Shutdown wakes a blocked reader
    sub = sl_edge_hub_subscribe (hub, "jobD", 2000);
    json_array_clear (tj.journal);
    tj.terminal = false;
    stream = sl_edge_stream_new (sub, "jobD", 0, 60000, s_test_fetch, &tj);
    assert (sl_edge_stream_prime (stream) == 200);
    n = sl_edge_stream_read (stream, buf, sizeof buf);
    assert (n == 13);
    sl_edge_hub_shutdown (hub);
    assert (sl_edge_stream_read (stream, buf, sizeof buf) == -1);
    assert (sl_edge_hub_subscribe (hub, "jobE", 100) == NULL);
    sl_edge_stream_destroy (&stream);
    sl_edge_hub_destroy (&hub);
    assert (hub == NULL);
    json_decref (tj.journal);
    zsock_destroy (&pub);
    if (verbose)
        printf ("OK\n");
}
