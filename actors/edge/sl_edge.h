/*  sl_edge: the HTTP edge, Sluice's public API (docs/openapi.yaml).

    An actor without a handler: start() opens an HTTP server (libmicrohttpd)
    and returns; stop() drains it. Every request becomes broker traffic
    (docs/protocol.md §4): REQUESTs to `intake` to record ingest jobs and to
    `query` for jobs, documents, events and search; STATS and DLQ calls for
    health, metrics and dead letters; a SUB on the event endpoint for
    Server-Sent Events. The edge keeps no state of its own, so any number of
    edges can serve one broker and a job submitted through one can be
    followed through another.

    Threads: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
    Requests block only their own thread while they wait for the broker,
    and an SSE response is a content-reader callback that blocks its thread
    until the next event; hundreds of mostly idle threads cost little
    (small stacks), while the alternative, a fixed pool with suspend/resume,
    would need every blocking broker call turned inside out. Broker sockets
    come from a bounded pool (sl_edge_pool) and all SSE streams share one
    SUB socket (sl_edge_hub), so connections never map 1:1 to sockets.
    The edge accepts connections itself, on one thread, and hands them to
    MHD: out of file descriptors it waits instead of spinning, and what a
    request cannot open (a broker client, an upload's file) is a 503 with
    Retry-After, never an abort.

    Settings (section http unless noted; see docs/openapi.yaml for the API):
        http.bind (127.0.0.1), http.port (8080), http.max_upload (256m),
        http.timeout_s (60, idle connection timeout), http.max_connections
        (2048), http.sse_heartbeat_s (15), http.request_timeout_ms (10000),
        http.search_timeout_ms (30000), http.broker_clients (64),
        http.max_json (1m), http.cors_origin ("": no CORS headers; "*" or one
        origin), http.allow_open (false), http.broker_wait_ms (5000, wait
        for a free broker client before 503), http.allowed_hosts and
        http.allowed_origins (open mode: more Host names and page origins
        to trust), auth.keys ("key:workspace,..."), auth.admin_keys
        ("key,...": may read /metrics and the store-wide /v1/status)
    With no auth.keys the edge runs open (workspace "default") and refuses
    to bind a non-loopback address unless http.allow_open=true. Open mode
    answers only Host names of this server and refuses state-changing
    requests from other origins (browser safety: see sl_edge.c).
*/
#ifndef SL_EDGE_H_INCLUDED
#define SL_EDGE_H_INCLUDED

#include "sl_node.h"

#include <stdbool.h>

//  The actor definition sl_roles.c lists: role and name "edge".
extern const sl_actor_def_t sl_edge_actor;

//  The OpenAPI document compiled into the binary (docs/openapi.yaml).
extern const char sl_edge_openapi [];
extern const unsigned long sl_edge_openapi_len;

//  Parse an auth.keys value ("key:workspace,key2:workspace2") for checking:
//  returns the number of pairs, or -1 with a reason in err.
int sl_edge_keys_check (const char *value, char *err, size_t errlen);

//  Parse an auth.admin_keys value ("key,key2"): the number of keys, or -1
//  with a reason in err.
int sl_edge_admin_keys_check (const char *value, char *err, size_t errlen);

//  True if host (an address literal or "localhost") is a loopback address.
bool sl_edge_is_loopback (const char *host);

void sl_edge_test (bool verbose);

#endif
