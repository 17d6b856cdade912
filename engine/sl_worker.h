/*  sl_worker: the actor runtime. Runs one stage's handler on a pool of
    threads, connected to a broker over inproc or tcp.

    A worker is a czmq actor (its own thread) that owns the DEALER socket to
    the broker, plus `concurrency` handler threads. The actor thread does all
    the talking: it announces the service with credit = concurrency, answers
    heartbeats, hands each delivered envelope to an idle handler thread and
    relays the handler's outcome (ACK with successors, NACK, REPLY) and its
    events to the broker. Handlers never touch the broker socket, so a
    handler that parses a 1000-page PDF for minutes does not stop heartbeats:
    the broker has no delivery deadline, so a message stays with its worker
    for as long as that worker heartbeats, however long its handler runs
    (tests/test_broker.c, long_handler). Inline mode (concurrency 0) gives
    this up, which is why sluiced never uses it for a stage.

    Resilience: if the broker falls silent for `liveness` heartbeats the
    actor throws its socket away and reconnects with exponential backoff,
    then announces itself again; handler results produced meanwhile are
    delivered on the new connection (the broker honours ACKs from peers it
    does not know, so finished work is not lost across a broker restart).

    A broker pair (cfg.broker "tcp://a:5555,tcp://b:5555", see sl_broker.h,
    "Failover"): the worker talks to one broker at a time and moves to the
    next when it is silent for `liveness` heartbeats, when its connection
    closes (a socket monitor: the broker's process died) or when it refuses
    with 421 (passive; with a retry hint the worker asks it again then).
    Results a handler finishes while no broker has taken the worker's READY
    wait in an outbox and go to the one that does. READY lists the
    envelopes the worker holds (running and prefetched), so a broker taking
    over from one that died knows they are in flight here. A worker that
    left a dead broker and is told "my peer is alive" by the other (which
    has not noticed yet) asks it again shortly rather than going back.

    Drain: sl_worker_destroy first withdraws credit (no new deliveries),
    waits for running handlers to finish and their ACKs to be sent, then
    says BYE (the broker re-queues anything not started) and joins. A
    handler still running after drain_timeout_ms cannot be stopped from
    outside (it may be deep in MuPDF); it is detached and reported, and
    the worker's own memory is left to it (see sl_worker_destroy).

    Handlers get an sl_ctx_t: the delivered envelope, its decoded body, and
    calls to forward successors, emit events, reply, or fail. Successor ids
    are derived from the delivered message's id, so a redelivered message
    produces the same successors and the broker drops the duplicates.
*/
#ifndef SL_WORKER_H_INCLUDED
#define SL_WORKER_H_INCLUDED

#include "sl_envelope.h"
#include <msgpack.h>
#include <stdbool.h>

typedef struct _sl_worker_t sl_worker_t;
typedef struct _sl_ctx_t sl_ctx_t;

//  What a handler returns.
typedef enum {
    SL_DONE = 0,        //  ACK: successors (if any) are queued
    SL_RETRY,           //  NACK, retryable: redelivered until max attempts
    SL_FAIL             //  NACK, permanent: straight to the dead-letter queue
} sl_outcome_t;

//  A handler runs on one of the pool's threads; state is shared by all of
//  them, so it must be thread-safe.
typedef sl_outcome_t (sl_handler_fn) (sl_ctx_t *ctx, void *state);

typedef struct {
    const char *service;        //  the stage served ("parse")
    const char *broker;         //  broker ROUTER endpoint, or a comma list (a pair)
    const char *name;           //  worker name in logs (default service)
    int concurrency;            //  handler threads (default 1); 0 = run the handler
                                //  on the actor thread itself (for handlers far
                                //  shorter than a heartbeat: no thread hand-off)
    int prefetch;               //  messages held beyond those running (default 0):
                                //  hides the broker round trip for cheap handlers,
                                //  but a prefetched message waits even if another
                                //  worker is idle
    int heartbeat_ms;           //  default 1000
    int liveness;               //  default 3
    int reconnect_max_ms;       //  backoff ceiling (default 5000)
    int drain_timeout_ms;       //  how long destroy waits for handlers (default 30000)
    sl_handler_fn *handler;
    void *state;
    bool stage_events;          //  emit stage_started/stage_completed/stage_retry
    struct _sl_metrics_t *metrics;  //  if set: sluice_stage_duration_seconds{stage,outcome}
    //  Optional gate at the stage boundary: asked before a message of a
    //  job is handled (and by sl_ctx_cancelled while it is); false means
    //  the job was cancelled: the message is acknowledged with no
    //  successor and no stage events. Must be thread-safe; answers true
    //  when in doubt (a job is never dropped for a failed look-up)
    bool (*admit) (const sl_envelope_t *env, void *arg);
    void *admit_arg;
    const char *curve_client;   //  path of this worker's CURVE cert (secret), or NULL
    const char *curve_server;   //  path of the broker's public cert, or NULL
} sl_worker_config_t;

void sl_worker_config_defaults (sl_worker_config_t *cfg);

//  Start the worker. Caller owns the result.
sl_worker_t *sl_worker_new (const sl_worker_config_t *cfg);

//  Drain and stop (see above). Nulls the pointer. Returns true if every
//  handler thread stopped. false means a handler was still running when
//  the drain and a short grace ran out: it was detached and keeps running,
//  and it still uses cfg.state and whatever that reaches (the node, the
//  store), so the caller must not free those; the process should exit
//  without freeing them (sluiced does, with _exit). Safe on NULL (true).
bool sl_worker_destroy (sl_worker_t **self_p);

//  Number of messages handled so far (ACKed or NACKed).
uint64_t sl_worker_handled (sl_worker_t *self);

//  True if the broker was heard from within the liveness window (for a
//  readiness probe: this worker can receive work).
bool sl_worker_connected (sl_worker_t *self);

//  True if the worker's actor loop turned within the last 10 s (for a
//  liveness probe: the process is not wedged).
bool sl_worker_alive (sl_worker_t *self);

//  --- For handlers -----------------------------------------------------

//  The delivered envelope (read-only, valid during the handler).
const sl_envelope_t *sl_ctx_envelope (sl_ctx_t *ctx);

//  The body decoded as msgpack, or NULL if the body is empty or not valid
//  msgpack (the handler should then fail permanently).
const msgpack_object *sl_ctx_body (sl_ctx_t *ctx);

//  Queue a successor for the next stage of the route, with this body
//  (copied). kind NULL keeps the delivered kind. A handler may forward
//  several times (fan-out). Sent with the ACK. 0 or -1 (route finished).
int sl_ctx_forward (sl_ctx_t *ctx, const char *kind, const void *body, size_t size);

//  Like sl_ctx_forward, but the successor goes to service first and then
//  on along the rest of the route ("parse,chunk,embed" handled by parse
//  with service "ocr" -> "ocr,chunk,embed"): a stage that only some
//  messages need, inserted by the stage before it. Same successor id
//  scheme as sl_ctx_forward, so a redelivered message makes the same
//  successor. 0, or -1 if the route is finished, full, or service is not
//  a valid name.
int sl_ctx_forward_via (sl_ctx_t *ctx, const char *service, const char *kind,
                        const void *body, size_t size);

//  Queue an arbitrary new envelope (ownership taken), sent with the ACK.
void sl_ctx_submit (sl_ctx_t *ctx, sl_envelope_t **env_p);

//  Emit an event now (msgpack map bytes, copied) on the job's topic.
void sl_ctx_event (sl_ctx_t *ctx, const void *data, size_t size);

//  Emit an event after the handler returns, after the runtime's own
//  stage_completed: for events that must come last (job_completed).
void sl_ctx_event_after (sl_ctx_t *ctx, const void *data, size_t size);

//  Emit a stage_progress event: {"type":"stage_progress","stage":service,
//  "percent":p,"message":...}. Rate-limited per message to one per 200 ms
//  unless percent is 100.
void sl_ctx_progress (sl_ctx_t *ctx, int percent, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Publish data without persistence (live only) on "<workspace>/<topic>",
//  the workspace being the delivered envelope's (topic: a job id).
void sl_ctx_publish (sl_ctx_t *ctx, const char *topic, const void *data, size_t size);

//  Answer a request (REQUEST from a client). Body copied.
void sl_ctx_reply (sl_ctx_t *ctx, const void *data, size_t size);

//  Answer a request with {"error": {"code": code, "message": ...}}.
void sl_ctx_reply_error (sl_ctx_t *ctx, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Record why the handler failed; used with SL_RETRY / SL_FAIL.
void sl_ctx_set_error (sl_ctx_t *ctx, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  A write of an artifact (what: "pages.mp") failed with errno error. A
//  full disk (ENOSPC, EDQUOT) fails the job with a reason that says so
//  ("disk full writing pages.mp (No space left on device)"): retrying at
//  once would meet the same full disk, and the collector may take a while
//  to make room. Any other error may pass: "<service>: cannot write
//  <what>: <strerror>" and a retry. The one policy every stage follows.
sl_outcome_t sl_ctx_write_failed (sl_ctx_t *ctx, int error, const char *what);

//  Has the job been cancelled since its message was delivered? Asks the
//  worker's gate (cfg.admit) at most every SL_CANCEL_POLL_MS, so a long
//  handler may call it every page. Once true, the handler should stop and
//  return SL_DONE: whatever it forwarded or emitted is dropped, and the
//  gate is asked once more after it returns, so it removes what the
//  handler wrote meanwhile too. Always false without a gate.
#define SL_CANCEL_POLL_MS 250
bool sl_ctx_cancelled (sl_ctx_t *ctx);

//  The service this worker serves (= the stage name).
const char *sl_ctx_service (sl_ctx_t *ctx);


#endif
