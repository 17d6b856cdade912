/*  sl_client: the synchronous peer used by everything that talks to the
    broker without serving a stage: the HTTP edge, the CLI, the bindings,
    tests and benchmarks.

    Each call sends one command with a fresh correlation id and waits up to
    its timeout for the answer carrying that id; answers to earlier calls
    that timed out are recognised by their stale id and dropped. There is
    no connection state to repair: the DEALER socket reconnects by itself
    when the broker restarts, so the next call simply works again.

    A broker pair ("tcp://a:5555,tcp://b:5555", sl_broker.h "Failover"):
    a call refused by the passive broker (421) did nothing and is sent to
    the other one (or to the same one after its retry hint) within the
    call's timeout, as is a send that could not leave; a call that met
    silence ends with SL_CLIENT_TIMEOUT (the broker may have acted on it:
    only the caller knows whether to ask again), and the next call goes to
    the other broker. Event subscriptions follow every broker of the list.

    Live events: sl_client_subscribe opens a SUB socket on the broker's
    event endpoint for a topic: "<workspace>/<job>" for one job
    (sl_proto_topic), "<workspace>/" for a workspace, "" for everything (a
    client key may only subscribe to its own workspaces).

    Not thread-safe: one client per thread (ZeroMQ sockets are not shared).
*/
#ifndef SL_CLIENT_H_INCLUDED
#define SL_CLIENT_H_INCLUDED

#include "sl_envelope.h"
#include "sl_proto.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct _sl_client_t sl_client_t;

//  Outcome of a call.
typedef enum {
    SL_CLIENT_OK = 0,
    SL_CLIENT_BUSY = 1,         //  queue full: retry after result.retry_ms
    SL_CLIENT_ERROR = -1,       //  refused: result.code + result.reason
    SL_CLIENT_TIMEOUT = -2,     //  no answer in time (or the send itself timed out)
    SL_CLIENT_REFUSED = -3      //  the security handshake failed (watch_handshake only):
                                //  result.reason says why
} sl_client_rc_t;

typedef struct {
    sl_client_rc_t rc;
    int64_t code;               //  sl_errcode_t for errors
    int64_t retry_ms;           //  for BUSY
    int64_t depth;              //  for BUSY: queue depth seen
    char mid [65];              //  accepted message id
    char service [32];          //  service that was busy
    char reason [512];
} sl_client_result_t;

//  Connect to a broker ROUTER endpoint (or a comma list: a pair). With curve_client/curve_server
//  (paths to this client's secret cert and the broker's public cert) the
//  link is CURVE-encrypted. Returns NULL if the certs cannot be loaded or
//  no socket can be made (errno then says why, e.g. EMFILE when the
//  process is out of file descriptors). Caller owns the result.
sl_client_t *sl_client_new (const char *endpoint, const char *curve_client, const char *curve_server);

//  The same with options: CURVE from Z85 keys (all three, or none), and
//  watch_handshake: a handshake monitor on the socket, so a refused key
//  or a wrong broker key ends a call at once with SL_CLIENT_REFUSED (and
//  a reason a person can act on) instead of a silence until the timeout.
//  The monitor costs a socket; the library for applications (libsluice)
//  wants it, the edge's pooled clients do not.
typedef struct {
    const char *public_key;     //  this client's, Z85 (40 characters)
    const char *secret_key;
    const char *server_key;     //  the broker's public key
    bool watch_handshake;
} sl_client_opts_t;
sl_client_t *sl_client_new_opts (const char *endpoint, const sl_client_opts_t *opts);
void sl_client_destroy (sl_client_t **self_p);

//  Submit an envelope for its route's first service.
sl_client_rc_t sl_client_submit (sl_client_t *self, const sl_envelope_t *env, int timeout_ms,
                                 sl_client_result_t *result);

//  Submit env only if the broker holds no live pipeline message (queued or
//  in flight; dead letters do not count) of env's job: the check and the
//  queuing are one step in the broker, so two callers can never both queue
//  one. SL_CLIENT_OK: queued (or env's id was already known: idempotent);
//  SL_CLIENT_ERROR with result.code SL_ERR_HELD (409): the job's message is
//  waiting or being worked on, nothing was queued. For re-drivers, which
//  must tell a job that waits from one whose message was lost.
sl_client_rc_t sl_client_submit_if_absent (sl_client_t *self, const sl_envelope_t *env,
                                           int timeout_ms, sl_client_result_t *result);

//  Ask a service and wait for its reply body (malloc'd into *reply; caller
//  frees). The broker stamps a deadline of timeout_ms on the request.
sl_client_rc_t sl_client_request (sl_client_t *self, const sl_envelope_t *env, int timeout_ms,
                                  char **reply, size_t *size, sl_client_result_t *result);

//  Send a request and do not wait: any answer is dropped later by its
//  stale correlation id. Never blocks. 0 if sent, -1 if not.
int sl_client_post (sl_client_t *self, const sl_envelope_t *env, int timeout_ms);

//  Broker statistics as a msgpack map (see docs/protocol.md). Caller frees.
sl_client_rc_t sl_client_stats (sl_client_t *self, int timeout_ms, char **data, size_t *size,
                                sl_client_result_t *result);

//  Dead letters as a msgpack array of maps, at most limit. Caller frees.
sl_client_rc_t sl_client_dlq_list (sl_client_t *self, int limit, int timeout_ms,
                                   char **data, size_t *size, sl_client_result_t *result);

//  Put a dead letter back on its queue with attempt 0.
sl_client_rc_t sl_client_dlq_replay (sl_client_t *self, const char *mid, int timeout_ms,
                                     sl_client_result_t *result);

//  Subscribe to live events on the broker's event endpoint (topics above).
//  May be called again to add topics. 0 or -1.
int sl_client_subscribe (sl_client_t *self, const char *pub_endpoint, const char *topic);
int sl_client_unsubscribe (sl_client_t *self, const char *topic);

//  Wait up to timeout_ms for one event: topic copied into topic (SL_TOPIC_MAX),
//  data malloc'd (caller frees). 0 on event, -1 on timeout.
int sl_client_event (sl_client_t *self, int timeout_ms, char topic [SL_TOPIC_MAX], char **data, size_t *size);

//  The underlying sockets, for callers that poll several things at once.
void *sl_client_socket (sl_client_t *self);
void *sl_client_sub_socket (sl_client_t *self);

#endif
