/*  sl_edge_sse: live job events for the HTTP edge, as Server-Sent Events.

    Two classes live here.

    sl_edge_hub_t: one SUB socket per edge process on the broker's event
    endpoint, and one thread that reads it and hands each event to the
    streams following that job. Hundreds of open SSE connections therefore
    cost one ZeroMQ socket, not hundreds (the ZeroMQ context has a socket
    limit, and each tcp SUB is a connection to the broker). Streams ask the
    hub to subscribe to their job id; the hub applies the change on its own
    thread (ZeroMQ sockets belong to one thread) and the call returns once
    the SUBSCRIBE is on the socket.

    sl_edge_stream_t: the state of one SSE response. The protocol
    (docs/protocol.md §4, "Live events") numbers every event of a job with
    a seq that grows by one, and the journal keeps them all, so a stream:
      1. subscribes FIRST (nothing published from now on can be missed),
      2. asks query/events for everything after Last-Event-ID (or 0),
      3. then forwards live events with seq = last + 1; a gap (seq > last+1,
         e.g. a dropped PUB message) triggers a re-query; seq <= last is a
         duplicate and is skipped.
    A subscription travels to the publisher asynchronously, so an event
    published right after step 1 may still be missed on the wire; the
    stream therefore re-queries whenever it has heard nothing for a while
    (250 ms, doubling up to 15 s), which bounds how late such an event can
    be. Each SSE event carries `id: <seq>`, `event: <type>` and one line of
    JSON; heartbeats (no id, so Last-Event-ID is untouched) keep idle
    connections and proxies alive; the stream ends after job_completed or
    job_failed.

    Threads: the hub is thread-safe. A stream belongs to the one HTTP
    connection thread that reads it (MHD thread-per-connection), and its
    read call blocks that thread until there is something to send.
*/
#ifndef SL_EDGE_SSE_H_INCLUDED
#define SL_EDGE_SSE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _sl_edge_hub_t sl_edge_hub_t;
typedef struct _sl_edge_sub_t sl_edge_sub_t;
typedef struct _sl_edge_stream_t sl_edge_stream_t;

//  --------------------------------------------------------------------------
//  Hub

//  Start the hub thread, connected to the broker's event endpoint. curve
//  paths may be NULL (plain link). Returns NULL with a reason in err.
//  Caller owns the result.
sl_edge_hub_t *sl_edge_hub_new (const char *pub_endpoint, const char *curve_client,
                                const char *curve_server, char *err, size_t errlen);

//  Stop the thread and free the hub. Every subscription must have been
//  destroyed first. Nulls *self_p; safe on NULL.
void sl_edge_hub_destroy (sl_edge_hub_t **self_p);

//  Wake every waiting subscriber with "shutting down" and refuse new ones:
//  called before the HTTP server joins its connection threads.
void sl_edge_hub_shutdown (sl_edge_hub_t *self);

//  Number of open subscriptions (for the sse_streams gauge).
int sl_edge_hub_streams (sl_edge_hub_t *self);

//  Subscribe to one job's events; returns once the hub has applied the
//  subscription (or after timeout_ms). NULL if the hub is shutting down.
//  Caller owns the result.
sl_edge_sub_t *sl_edge_hub_subscribe (sl_edge_hub_t *self, const char *topic, int timeout_ms);

//  Unsubscribe and free. Nulls *self_p; safe on NULL.
void sl_edge_sub_destroy (sl_edge_sub_t **self_p);

//  Wait up to timeout_ms for the next event (raw msgpack, malloc'd; caller
//  frees). Returns 1 with an event, 0 on timeout, -1 if the hub is shutting
//  down. If events were dropped because this subscriber fell too far
//  behind, *overflow is set (the caller re-queries).
int sl_edge_sub_wait (sl_edge_sub_t *self, int timeout_ms, char **data, size_t *size, bool *overflow);

//  --------------------------------------------------------------------------
//  Stream

//  Fetch a job's stored events after seq `after`: fill *reply with the
//  query/events reply ({events: [...], terminal}) and return 200, or return
//  an HTTP-like error status (404 ends the stream; others are retried).
typedef int (sl_edge_events_fn) (void *arg, const char *job, int64_t after, json_t **reply);

//  Create a stream for job from a subscription (taken over: the stream
//  destroys it), resuming after seq `after` (0 = from the start). The
//  stream sends a heartbeat after heartbeat_ms of silence.
sl_edge_stream_t *sl_edge_stream_new (sl_edge_sub_t *sub, const char *job, int64_t after,
                                      int heartbeat_ms, sl_edge_events_fn *fetch, void *arg);
void sl_edge_stream_destroy (sl_edge_stream_t **self_p);

//  Run the first query now (before the HTTP response starts) so the caller
//  can answer with a proper status. Returns 200 when the stream has
//  something to say, 204 when the job is finished and the client already
//  has every event (an EventSource then stops reconnecting), or the
//  error status of the query.
int sl_edge_stream_prime (sl_edge_stream_t *self);

//  MHD content-reader semantics: copy up to max bytes of SSE text into buf,
//  blocking until there is some. Returns the byte count, or -1 at the end
//  of the stream (terminal event sent, job gone, or shutdown).
ssize_t sl_edge_stream_read (sl_edge_stream_t *self, char *buf, size_t max);

//  Events written so far (not counting heartbeats).
int64_t sl_edge_stream_sent (sl_edge_stream_t *self);

//  Format one event as SSE text into a malloc'd string: "id: <seq>\n" (if
//  seq > 0), "event: <type>\n", "data: <json>\n\n". Caller frees.
char *sl_edge_sse_format (int64_t seq, const char *type, const json_t *data);

//  Flatten an event into one JSON object: a stored event {seq, type, ts,
//  data: {...}} gets its data fields lifted to the top level; a live event
//  is already flat. job is filled in when absent. Caller owns the result.
json_t *sl_edge_sse_flatten (const json_t *event, const char *job);

void sl_edge_sse_test (bool verbose);

#endif
