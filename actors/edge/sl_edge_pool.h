/*  sl_edge_pool: the HTTP edge's access to the broker.

    sl_client is not thread-safe and every HTTP connection runs on its own
    thread, so the edge keeps a pool of clients behind a mutex: a call takes
    one, uses it, and puts it back. The pool grows on demand up to a bound
    (http.broker_clients) so a burst of a thousand connections does not
    open a thousand broker sockets (ZeroMQ's context has a socket limit);
    beyond the bound, callers wait for a free client, but only so long
    (http.broker_wait_ms): then the request is a 503 with Retry-After
    rather than a thread parked forever. A client that cannot be created
    (the process is out of file descriptors) is a 503 too, never an abort.
    A client whose call timed out goes back too: sl_client drops late
    answers by correlation id.

    It also owns the one mapping from broker outcomes to HTTP statuses, so
    every endpoint answers the same way:
        reply {"error": {code, message}}     -> that code (400..599)
        BUSY (queue full)                     -> 429, Retry-After from retry_ms
        ERROR 503 (no worker for the service) -> 503
        no answer in time                     -> 503
        no free client in time, none creatable -> 503, Retry-After 1
        other broker ERRORs                   -> 502
    Thread-safe.
*/
#ifndef SL_EDGE_POOL_H_INCLUDED
#define SL_EDGE_POOL_H_INCLUDED

#include "sl_client.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct _sl_edge_pool_t sl_edge_pool_t;

//  Why a call did not produce a reply: an HTTP status, a message, and for
//  429 the seconds to wait.
typedef struct {
    int status;
    int retry_after_s;
    bool timed_out;             //  no answer in time: the request may have been done
    char message [512];
} sl_edge_fail_t;

//  A pool for the broker at endpoint (curve paths may be NULL), at most
//  max_clients clients; a caller waits at most wait_ms for a free one.
//  Caller owns the result.
sl_edge_pool_t *sl_edge_pool_new (const char *endpoint, const char *curve_client,
                                  const char *curve_server, int max_clients, int wait_ms);
void sl_edge_pool_destroy (sl_edge_pool_t **self_p);

//  Borrow a client and give it back. Waits while all are busy, up to the
//  pool's wait_ms; returns NULL with fail filled (503, Retry-After) when
//  none came free in time or a new one cannot be created.
sl_client_t *sl_edge_pool_take (sl_edge_pool_t *self, sl_edge_fail_t *fail);
void sl_edge_pool_give (sl_edge_pool_t *self, sl_client_t *client);

//  REQUEST service/kind in workspace ws with a JSON body (converted to
//  msgpack), job optional. On success returns 200 and *reply holds the JSON
//  reply (caller decrefs); otherwise returns the HTTP status and fills fail.
int sl_edge_pool_request (sl_edge_pool_t *self, const char *ws, const char *service, const char *kind,
                          const char *job, const json_t *body, int timeout_ms, json_t **reply,
                          sl_edge_fail_t *fail);

//  Map a non-OK client result to an HTTP status and message (what
//  sl_edge_pool_request does; exposed for STATS/DLQ calls).
int sl_edge_pool_map (const sl_client_result_t *result, const char *what, sl_edge_fail_t *fail);

//  Clients created so far (for tests and metrics).
int sl_edge_pool_size (sl_edge_pool_t *self);

void sl_edge_pool_test (bool verbose);

#endif
