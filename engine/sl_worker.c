/*  sl_worker: actor runtime (broker link + handler pool). See sl_worker.h.

    Inside a worker:
        broker  <-DEALER->  actor thread  <-ROUTER/DEALER inproc->  handlers
    Handler → actor frames: "I" (idle), "E" + proto msg (relay now),
    "R" + proto msg (outcome: relay and mark idle).
    Actor → handler frames: envelope bytes, or "$STOP".
*/
#include "sl_worker.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>

//  How long a stopping worker waits for a handler that has not spoken yet
#define S_HANDLER_STOP_MS 2000
//  Brokers a worker may know (a pair needs two)
#define S_ENDPOINTS_MAX 8

struct _sl_worker_t {
    sl_worker_config_t cfg;
    char service [SL_NAME_MAX];
    char name [65];
    char broker [512];
    char endpoints [S_ENDPOINTS_MAX][512];  //  cfg.broker split at commas
    int endpoint_count;
    char inproc [64];
    char curve_client [1024];
    char curve_server [1024];
    zactor_t *actor;
    pthread_t *threads;
    volatile uint64_t handled;
    volatile int64_t broker_seen;   //  mono ms of the last message from the broker
    volatile int64_t loop_seen;     //  mono ms of the actor loop's last turn
    bool abandoned;                 //  handler threads left running at stop
};

struct _sl_ctx_t {
    sl_worker_t *worker;
    zsock_t *sock;              //  to the actor (pool) or the broker (inline)
    bool direct;                //  inline: sock is the broker, no tags
    sl_envelope_t *env;
    sl_mp_t *body;
    zmsg_t *forwards;
    zmsg_t *reply;
    zmsg_t *after;              //  events to emit once the handler returned
    char error [SL_REASON_MAX];
    int64_t last_progress;
    bool cancelled;             //  the job was cancelled: drop what the handler made
    int64_t cancel_checked;     //  when sl_ctx_cancelled last asked (monotonic ms)
};

void
sl_worker_config_defaults (sl_worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->concurrency = 1;
    cfg->heartbeat_ms = 1000;
    cfg->liveness = 3;
    cfg->reconnect_max_ms = 5000;
    cfg->drain_timeout_ms = 30000;
}

//  ---------------------------------------------------------------------
//  Handler side

const sl_envelope_t *sl_ctx_envelope (sl_ctx_t *ctx) { return ctx->env; }
const char *sl_ctx_service (sl_ctx_t *ctx) { return ctx->worker->service; }

const msgpack_object *
sl_ctx_body (sl_ctx_t *ctx)
{
    if (!ctx->body) {
        size_t size;
        const void *data = sl_envelope_body (ctx->env, &size);
        if (size)
            ctx->body = sl_mp_decode (data, size, NULL, 0);
    }
    return ctx->body ? sl_mp_root (ctx->body) : NULL;
}

//  Send a proto message to the actor, tagged E (relay) or R (outcome).
static void
s_to_actor (sl_ctx_t *ctx, const char *tag, sl_proto_t *cmd)
{
    zmsg_t *msg = sl_proto_encode (cmd);
    if (!ctx->direct)
        zmsg_pushstr (msg, tag);
    zmsg_send (&msg, ctx->sock);
}

static void
s_add_envelope (zmsg_t **frames_p, sl_envelope_t *env)
{
    char *data;
    size_t size;
    sl_envelope_encode (env, &data, &size);
    if (!*frames_p)
        *frames_p = zmsg_new ();
    zmsg_addmem (*frames_p, data, size);
    free (data);
}

//  Queue next (a copy of the delivered envelope whose route the caller
//  set) as a successor. Shared by forward and forward_via.
static void
s_forward_env (sl_ctx_t *ctx, sl_envelope_t *next, const char *kind, const void *body, size_t size)
{
    //  Same input, same successor id: duplicates die at the broker
    char id [SL_ID_LEN + 1], index [16];
    snprintf (index, sizeof index, "%zu", ctx->forwards ? zmsg_size (ctx->forwards) : 0);
    sl_id_derive (id, sl_envelope_id (ctx->env), "fwd", index);
    sl_envelope_set_id (next, id);
    sl_envelope_set_attempt (next, 0);
    if (kind)
        sl_envelope_set_kind (next, kind);
    sl_envelope_set_body (next, body, size);
    s_add_envelope (&ctx->forwards, next);
}

int
sl_ctx_forward (sl_ctx_t *ctx, const char *kind, const void *body, size_t size)
{
    if (sl_envelope_route_size (ctx->env) < 2)
        return -1;
    sl_envelope_t *next = sl_envelope_dup (ctx->env);
    sl_envelope_route_pop (next);
    s_forward_env (ctx, next, kind, body, size);
    sl_envelope_destroy (&next);
    return 0;
}

int
sl_ctx_forward_via (sl_ctx_t *ctx, const char *service, const char *kind, const void *body, size_t size)
{
    const sl_envelope_t *env = ctx->env;
    int size_route = sl_envelope_route_size (env);
    if (size_route < 2)
        return -1;
    //  service first, then what was left after the current stage
    sl_envelope_t *next = sl_envelope_dup (env);
    sl_envelope_set_route (next, "");
    int rc = sl_envelope_route_append (next, service);
    for (int i = 1; rc == 0 && i < size_route; i++)
        rc = sl_envelope_route_append (next, sl_envelope_route_at (env, i));
    if (rc == 0)
        s_forward_env (ctx, next, kind, body, size);
    sl_envelope_destroy (&next);
    return rc;
}

void
sl_ctx_submit (sl_ctx_t *ctx, sl_envelope_t **env_p)
{
    s_add_envelope (&ctx->forwards, *env_p);
    sl_envelope_destroy (env_p);
}

void
sl_ctx_event (sl_ctx_t *ctx, const void *data, size_t size)
{
    if (!*sl_envelope_job (ctx->env))
        return;
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_EVENT);
    snprintf (cmd.topic, sizeof cmd.topic, "%s", sl_envelope_job (ctx->env));
    snprintf (cmd.name, sizeof cmd.name, "%s", sl_envelope_workspace (ctx->env));
    cmd.frames = zmsg_new ();
    //  A retried job's events say which run they belong to: the journal
    //  moves the job row only for its current run, and a follower tells a
    //  late event of the run that was cancelled from the new run's
    uint32_t run = sl_envelope_run (ctx->env);
    char err [128];
    sl_mp_t *event = run ? sl_mp_decode (data, size, err, sizeof err) : NULL;
    if (event && sl_mp_root (event)->type == MSGPACK_OBJECT_MAP) {
        sl_mpw_t w;
        sl_mpw_init (&w);
        const char *const except [] = { "run", NULL };
        sl_mpw_map_extend (&w, sl_mp_root (event), except, 1);
        sl_mpw_kv_int (&w, "run", run);
        zmsg_addmem (cmd.frames, w.buf.data, w.buf.size);
        sl_mpw_reset (&w);
    }
    else
        zmsg_addmem (cmd.frames, data, size);
    sl_mp_destroy (&event);
    s_to_actor (ctx, "E", &cmd);
}

void
sl_ctx_event_after (sl_ctx_t *ctx, const void *data, size_t size)
{
    if (!ctx->after)
        ctx->after = zmsg_new ();
    zmsg_addmem (ctx->after, data, size);
}

void
sl_ctx_progress (sl_ctx_t *ctx, int percent, const char *fmt, ...)
{
    int64_t now = sl_mono_ms ();
    if (percent < 100 && now - ctx->last_progress < 200)
        return;
    ctx->last_progress = now;
    char message [256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_kv_str (&w, "type", "stage_progress");
    sl_mpw_kv_str (&w, "stage", ctx->worker->service);
    sl_mpw_kv_int (&w, "percent", percent);
    sl_mpw_kv_str (&w, "message", message);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_ctx_event (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

void
sl_ctx_publish (sl_ctx_t *ctx, const char *topic, const void *data, size_t size)
{
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_PUBLISH);
    snprintf (cmd.topic, sizeof cmd.topic, "%s", topic);
    //  The broker publishes on "<workspace>/<topic>": the workspace of the
    //  message being handled (the journal republishes a job's events)
    snprintf (cmd.name, sizeof cmd.name, "%s", sl_envelope_workspace (ctx->env));
    cmd.frames = zmsg_new ();
    zmsg_addmem (cmd.frames, data, size);
    s_to_actor (ctx, "E", &cmd);
}

void
sl_ctx_reply (sl_ctx_t *ctx, const void *data, size_t size)
{
    zmsg_destroy (&ctx->reply);
    ctx->reply = zmsg_new ();
    zmsg_addmem (ctx->reply, data, size);
}

void
sl_ctx_reply_error (sl_ctx_t *ctx, int code, const char *fmt, ...)
{
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_key (&w, "error");
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_int (&w, "code", code);
    sl_mpw_kv_str (&w, "message", message);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  Stage lifecycle events, emitted by the runtime so every stage reports
//  the same way without each handler remembering to.
static void
s_stage_event (sl_ctx_t *ctx, const char *type, int64_t duration_ms, const char *reason)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4 + (duration_ms >= 0) + (reason != NULL));
    sl_mpw_kv_str (&w, "type", type);
    sl_mpw_kv_str (&w, "stage", ctx->worker->service);
    sl_mpw_kv_int (&w, "attempt", sl_envelope_attempt (ctx->env));
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    if (duration_ms >= 0)
        sl_mpw_kv_int (&w, "duration_ms", duration_ms);
    if (reason)
        sl_mpw_kv_str (&w, "reason", reason);
    sl_ctx_event (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

void
sl_ctx_set_error (sl_ctx_t *ctx, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (ctx->error, sizeof ctx->error, fmt, args);
    va_end (args);
}

sl_outcome_t
sl_ctx_write_failed (sl_ctx_t *ctx, int error, const char *what)
{
    if (sl_disk_full (error)) {
        sl_ctx_set_error (ctx, "disk full writing %s (%s)", what, strerror (error));
        return SL_FAIL;
    }
    sl_ctx_set_error (ctx, "%s: cannot write %s: %s", sl_ctx_service (ctx), what, strerror (error ? error : EIO));
    return SL_RETRY;
}

bool
sl_ctx_cancelled (sl_ctx_t *ctx)
{
    const sl_worker_config_t *cfg = &ctx->worker->cfg;
    if (ctx->cancelled || !cfg->admit || !*sl_envelope_job (ctx->env))
        return ctx->cancelled;
    int64_t now = sl_mono_ms ();
    if (ctx->cancel_checked && now - ctx->cancel_checked < SL_CANCEL_POLL_MS)
        return false;
    ctx->cancel_checked = now;
    ctx->cancelled = !cfg->admit (ctx->env, cfg->admit_arg);
    return ctx->cancelled;
}

//  The stage boundary: a message of a job that was cancelled is not
//  handled (the gate removes what the job left), only acknowledged
static void
s_boundary (sl_ctx_t *ctx, int64_t now)
{
    const sl_worker_config_t *cfg = &ctx->worker->cfg;
    ctx->cancelled = cfg->admit && *sl_envelope_job (ctx->env) && !cfg->admit (ctx->env, cfg->admit_arg);
    ctx->cancel_checked = now;
    if (ctx->cancelled)
        sl_info (sl_envelope_job (ctx->env), "%s: job cancelled: message dropped", ctx->worker->service);
}

//  Cancelled before or while the handler ran: nothing it made goes on,
//  and asking the gate once more removes what it wrote meanwhile
static void
s_drop_cancelled (sl_ctx_t *ctx)
{
    const sl_worker_config_t *cfg = &ctx->worker->cfg;
    if (cfg->admit)
        cfg->admit (ctx->env, cfg->admit_arg);
    zmsg_destroy (&ctx->forwards);
    zmsg_destroy (&ctx->after);
}

//  Run the handler on one delivered envelope and report the outcome.
//  direct: called on the actor thread, sock is the broker socket.
static void
s_handle_one (sl_worker_t *worker, zsock_t *sock, zframe_t *frame, bool direct)
{
    sl_ctx_t ctx = { .worker = worker, .sock = sock, .direct = direct };
    char err [256];
    sl_proto_t out;
    ctx.env = sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0, err, sizeof err);
    if (!ctx.env) {
        //  Cannot even name the message: nothing to ACK; the broker's
        //  liveness/attempt logic will dead-letter it if it keeps coming
        sl_error (NULL, "undecodable delivery: %s", err);
        if (!direct)
            zstr_send (sock, "X");
        return;
    }
    bool events = worker->cfg.stage_events && *sl_envelope_job (ctx.env);
    int64_t started = sl_mono_ms ();
    s_boundary (&ctx, started);
    if (events && !ctx.cancelled)
        s_stage_event (&ctx, "stage_started", -1, NULL);
    sl_outcome_t outcome = ctx.cancelled ? SL_DONE : worker->cfg.handler (&ctx, worker->cfg.state);
    if (ctx.cancelled) {
        s_drop_cancelled (&ctx);
        outcome = SL_DONE;
        events = false;
    }
    if (events && outcome == SL_DONE)
        s_stage_event (&ctx, "stage_completed", sl_mono_ms () - started, NULL);
    else
    if (events && outcome == SL_RETRY)
        s_stage_event (&ctx, "stage_retry", -1, ctx.error [0] ? ctx.error : "retrying");
    if (worker->cfg.metrics) {
        char labels [96];
        snprintf (labels, sizeof labels, "stage=\"%s\",outcome=\"%s\"", worker->service,
                  outcome == SL_DONE ? "done" : outcome == SL_RETRY ? "retry" : "fail");
        sl_metrics_observe (worker->cfg.metrics, "sluice_stage_duration_seconds", labels,
                            (double) (sl_mono_ms () - started) / 1000.0);
    }
    if (outcome == SL_DONE && ctx.after)
        for (zframe_t *f = zmsg_first (ctx.after); f; f = zmsg_next (ctx.after))
            sl_ctx_event (&ctx, zframe_data (f), zframe_size (f));
    zmsg_destroy (&ctx.after);
    if (outcome == SL_DONE && ctx.reply) {
        //  Reply body first, then any successors (intake replies and forwards)
        sl_proto_init (&out, SL_CMD_REPLY);
        out.frames = ctx.reply;
        ctx.reply = NULL;
        zframe_t *frame;
        while (ctx.forwards && (frame = zmsg_pop (ctx.forwards)))
            zmsg_append (out.frames, &frame);
    }
    else
    if (outcome == SL_DONE) {
        sl_proto_init (&out, SL_CMD_ACK);
        out.frames = ctx.forwards;
        ctx.forwards = NULL;
    }
    else {
        sl_proto_init (&out, SL_CMD_NACK);
        out.retry = outcome == SL_RETRY;
        snprintf (out.reason, sizeof out.reason, "%s", ctx.error [0] ? ctx.error : "handler failed");
        sl_warn (sl_envelope_job (ctx.env), "%s %s: %s", worker->service,
                 out.retry ? "will retry" : "failed", out.reason);
    }
    snprintf (out.mid, sizeof out.mid, "%s", sl_envelope_id (ctx.env));
    s_to_actor (&ctx, "R", &out);
    zmsg_destroy (&ctx.forwards);
    zmsg_destroy (&ctx.reply);
    sl_mp_destroy (&ctx.body);
    sl_envelope_destroy (&ctx.env);
    __atomic_add_fetch (&worker->handled, 1, __ATOMIC_RELAXED);
}

static void *
s_handler_thread (void *args)
{
    sl_worker_t *worker = (sl_worker_t *) args;
    sl_log_set_role (worker->service);
    zsock_t *sock = zsock_new_dealer (worker->inproc);
    assert (sock);
    zstr_send (sock, "I");
    while (true) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first (msg);
        if (zframe_streq (frame, "$STOP")) {
            zmsg_destroy (&msg);
            break;
        }
        s_handle_one (worker, sock, frame, false);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sock);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Actor side

typedef struct {
    sl_worker_t *worker;
    zsock_t *pipe;
    zsock_t *broker;
    zsock_t *handlers;
    zlistx_t *idle;             //  handler identities (zframe_t *)
    zlistx_t *backlog;          //  deliveries waiting for a handler (zframe_t *)
    int busy;
    int64_t broker_expiry;
    int64_t heartbeat_at;
    int backoff_ms;
    bool draining;
    int64_t drain_deadline;
    //  Several brokers (a pair): the one we talk to, whether it took our
    //  READY (results wait in the outbox until then: a passive broker
    //  would drop them), when to send READY again, and a monitor of the
    //  link, whose closing means the broker process died
    int current;
    bool confirmed;
    zlistx_t *outbox;           //  zmsg_t *, for the broker once confirmed
    int64_t ready_at;           //  0: none pending
    int refusals;               //  in a row, from any broker
    int64_t fled;               //  when we left a broker that died (closed, silent)
    void *monitor;
    zhashx_t *running;          //  handler identity (hex) -> envelope frame it works on
} actor_t;

static bool
s_pair (actor_t *self)
{
    return self->worker->endpoint_count > 1;
}

//  A handler's identity as a hash key
static const char *
s_who_key (zframe_t *who, char *buf, size_t cap)
{
    static const char digits [] = "0123456789abcdef";
    size_t n = zframe_size (who);
    if (n * 2 + 1 > cap)
        n = (cap - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        buf [2 * i] = digits [zframe_data (who) [i] >> 4];
        buf [2 * i + 1] = digits [zframe_data (who) [i] & 15];
    }
    buf [2 * n] = 0;
    return buf;
}

static void
s_send_ready (actor_t *self)
{
    sl_worker_config_t *cfg = &self->worker->cfg;
    sl_proto_t ready;
    sl_proto_init (&ready, SL_CMD_READY);
    //  A pair: READY lists what this worker holds (running and waiting),
    //  so a broker that takes over from one that died knows those
    //  messages are in flight here: their jobs are not re-driven under us,
    //  and if we die they are re-queued (sl_broker.c, s_adopt)
    if (s_pair (self) && (zhashx_size (self->running) || zlistx_size (self->backlog))) {
        ready.frames = zmsg_new ();
        for (zframe_t *env = zhashx_first (self->running); env; env = zhashx_next (self->running))
            zmsg_addmem (ready.frames, zframe_data (env), zframe_size (env));
        for (zframe_t *env = zlistx_first (self->backlog); env; env = zlistx_next (self->backlog))
            zmsg_addmem (ready.frames, zframe_data (env), zframe_size (env));
    }
    snprintf (ready.name, sizeof ready.name, "%s", self->worker->name);
    snprintf (ready.svc [0], sizeof ready.svc [0], "%s", self->worker->service);
    ready.svc_count = 1;
    //  -1, not 0: a zero field is not encoded, and the broker reads an
    //  absent credit as 1
    ready.credit = self->draining ? -1 : (cfg->concurrency > 0 ? cfg->concurrency : 1) + cfg->prefetch;
    sl_proto_send (&ready, self->broker);
}

static void
s_monitor_stop (actor_t *self)
{
    if (self->monitor) {
        zmq_socket_monitor (zsock_resolve (self->broker), NULL, 0);
        int zero = 0;
        zmq_setsockopt (self->monitor, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
}

//  With several brokers, watch the link: when the broker's process dies
//  its kernel closes the connection, and the worker moves at once
//  instead of after `liveness` heartbeats of silence
static void
s_monitor_start (actor_t *self)
{
    char address [80], id [SL_ID_LEN + 1];
    sl_id_new (id);
    snprintf (address, sizeof address, "inproc://sl-worker-mon-%s", id);
    if (zmq_socket_monitor (zsock_resolve (self->broker), address, ZMQ_EVENT_DISCONNECTED))
        return;
    self->monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
    if (self->monitor && zmq_connect (self->monitor, address)) {
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
    if (!self->monitor)
        zmq_socket_monitor (zsock_resolve (self->broker), NULL, 0);
}

static void
s_broker_connect (actor_t *self)
{
    sl_worker_config_t *cfg = &self->worker->cfg;
    if (self->broker)
        s_monitor_stop (self);
    zsock_destroy (&self->broker);
    self->broker = zsock_new (ZMQ_DEALER);
    zsock_set_linger (self->broker, 2000);
    zsock_set_sndhwm (self->broker, 100000);
    zsock_set_rcvhwm (self->broker, 100000);
    sl_proto_limit (self->broker);
    if (self->worker->curve_client [0]) {
        zcert_t *mine = zcert_load (self->worker->curve_client);
        zcert_t *theirs = zcert_load (self->worker->curve_server);
        if (mine && theirs) {
            zcert_apply (mine, self->broker);
            zsock_set_curve_serverkey (self->broker, zcert_public_txt (theirs));
        }
        else
            sl_error (NULL, "cannot load CURVE certificates %s / %s", self->worker->curve_client,
                      self->worker->curve_server);
        zcert_destroy (&mine);
        zcert_destroy (&theirs);
    }
    const char *endpoint = self->worker->endpoints [self->current];
    if (s_pair (self)) {
        s_monitor_start (self);
        self->confirmed = false;
    }
    zsock_connect (self->broker, "%s", endpoint);
    //  After every broker refused in a row, a pause: no hot loop between
    //  two that both stand by (a backup alone, a primary just started)
    int64_t now = sl_mono_ms ();
    if (self->refusals >= self->worker->endpoint_count)
        self->ready_at = now + cfg->heartbeat_ms;
    else {
        self->ready_at = 0;
        s_send_ready (self);
    }
    self->broker_expiry = now + (self->ready_at ? cfg->heartbeat_ms : 0) + self->backoff_ms;
}

//  The next broker of the list (a pair: the other one)
static void
s_broker_next (actor_t *self, const char *why, bool died)
{
    sl_worker_t *worker = self->worker;
    int from = self->current;
    self->fled = died ? sl_mono_ms () : 0;
    self->current = (self->current + 1) % worker->endpoint_count;
    sl_warn (NULL, "broker %s %s: moving to %s", worker->endpoints [from], why,
             worker->endpoints [self->current]);
    s_broker_connect (self);
}

//  To the broker, or, while a broker of a pair has not taken our READY,
//  into the outbox (a passive one would drop it; the active one gets it)
static void
s_to_broker (actor_t *self, zmsg_t **msg_p)
{
    if (s_pair (self) && !self->confirmed)
        zlistx_add_end (self->outbox, *msg_p);
    else
        zmsg_send (msg_p, self->broker);
    *msg_p = NULL;
}

static void
s_confirmed (actor_t *self)
{
    if (self->confirmed)
        return;
    self->confirmed = true;
    self->refusals = 0;
    size_t held = zlistx_size (self->outbox);
    for (zmsg_t *msg = zlistx_first (self->outbox); msg; msg = zlistx_first (self->outbox)) {
        zlistx_detach_cur (self->outbox);
        zmsg_send (&msg, self->broker);
    }
    if (held)
        sl_info (NULL, "broker %s took us: %zu held result(s) sent", self->worker->endpoints [self->current],
                 held);
}

//  A broker of a pair stands by (DISCONNECT 421). retry_ms 0: its peer
//  is alive, go there; more: its peer is falling silent, ask it again
//  then (it takes over once the peer has been silent long enough)
static void
s_on_passive (actor_t *self, sl_proto_t *cmd)
{
    sl_worker_config_t *cfg = &self->worker->cfg;
    self->confirmed = false;
    self->refusals++;
    if (cmd->retry_ms > 0 && cmd->retry_ms <= (int64_t) cfg->heartbeat_ms * cfg->liveness * 2) {
        self->ready_at = sl_mono_ms () + cmd->retry_ms;
        self->broker_expiry = self->ready_at + (int64_t) cfg->heartbeat_ms * cfg->liveness;
        sl_debug (NULL, "broker %s stands by (%s): asking again in %lld ms",
                  self->worker->endpoints [self->current], cmd->reason, (long long) cmd->retry_ms);
    }
    else
    if (s_pair (self) && self->fled && sl_mono_ms () - self->fled < (int64_t) cfg->heartbeat_ms * cfg->liveness * 2) {
        //  We left the other broker because it died, and this one has not
        //  noticed yet (it heard its peer a moment ago): going back would
        //  meet the dead one again. Ask this one again shortly; it takes
        //  over once it sees its peer gone
        self->ready_at = sl_mono_ms () + cfg->heartbeat_ms / 4;
        self->broker_expiry = self->ready_at + (int64_t) cfg->heartbeat_ms * cfg->liveness;
    }
    else
    if (s_pair (self))
        s_broker_next (self, "stands by", false);
    else {
        //  One broker that stands by: nothing else to try but it, later
        self->ready_at = sl_mono_ms () + cfg->heartbeat_ms;
        self->broker_expiry = self->ready_at + (int64_t) cfg->heartbeat_ms * cfg->liveness;
    }
}

static void
s_on_monitor (actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    uint16_t event = 0;
    if (frame && zframe_size (frame) >= 2)
        memcpy (&event, zframe_data (frame), 2);
    zmsg_destroy (&msg);
    if (event == ZMQ_EVENT_DISCONNECTED && !self->draining)
        s_broker_next (self, "closed the connection", true);
}

static void
s_send_broker (actor_t *self, sl_cmd_t cmd_type)
{
    sl_proto_t cmd;
    sl_proto_init (&cmd, cmd_type);
    sl_proto_send (&cmd, self->broker);
}

static void
s_dispatch_local (actor_t *self)
{
    while (zlistx_size (self->idle) && zlistx_size (self->backlog)) {
        zframe_t *who = zlistx_first (self->idle);
        zlistx_detach_cur (self->idle);
        zframe_t *env = zlistx_first (self->backlog);
        zlistx_detach_cur (self->backlog);
        if (s_pair (self)) {
            char key [128];
            zhashx_update (self->running, s_who_key (who, key, sizeof key), zframe_dup (env));
        }
        zmsg_t *msg = zmsg_new ();
        zmsg_append (msg, &who);
        zmsg_append (msg, &env);
        zmsg_send (&msg, self->handlers);
        self->busy++;
    }
}

static void
s_on_broker (actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->broker);
    if (!msg)
        return;
    sl_worker_config_t *cfg = &self->worker->cfg;
    self->broker_expiry = sl_mono_ms () + (int64_t) cfg->heartbeat_ms * cfg->liveness;
    self->backoff_ms = cfg->heartbeat_ms * cfg->liveness;
    sl_proto_t cmd;
    char err [256];
    if (sl_proto_decode (&msg, &cmd, err, sizeof err)) {
        sl_warn (NULL, "bad message from broker: %s", err);
        return;
    }
    if (cmd.cmd == SL_CMD_DISCONNECT && cmd.code == SL_ERR_PASSIVE) {
        s_on_passive (self, &cmd);
        sl_proto_clear (&cmd);
        return;
    }
    __atomic_store_n (&self->worker->broker_seen, sl_mono_ms (), __ATOMIC_RELAXED);
    if (s_pair (self))
        s_confirmed (self);
    if (cmd.cmd == SL_CMD_DELIVER && cmd.frames && zmsg_size (cmd.frames) >= 1) {
        zframe_t *env = zmsg_pop (cmd.frames);
        if (self->worker->cfg.concurrency == 0) {
            s_handle_one (self->worker, self->broker, env, true);
            zframe_destroy (&env);
        }
        else {
            zlistx_add_end (self->backlog, env);
            s_dispatch_local (self);
        }
    }
    else
    if (cmd.cmd == SL_CMD_DISCONNECT) {
        sl_info (NULL, "broker asked us to re-announce (%s)", cmd.reason);
        s_send_ready (self);
    }
    sl_proto_clear (&cmd);
}

static void
s_on_handler (actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->handlers);
    if (!msg)
        return;
    zframe_t *who = zmsg_pop (msg);
    char *tag = zmsg_popstr (msg);
    if (tag && streq (tag, "I"))
        zlistx_add_end (self->idle, who);
    else
    if (tag && (streq (tag, "R") || streq (tag, "E") || streq (tag, "X"))) {
        if (!streq (tag, "X"))
            s_to_broker (self, &msg);
        if (!streq (tag, "E")) {
            char key [128];
            zhashx_delete (self->running, s_who_key (who, key, sizeof key));
            self->busy--;
            zlistx_add_end (self->idle, who);
        }
        else
            zframe_destroy (&who);
    }
    else
        zframe_destroy (&who);
    zstr_free (&tag);
    zmsg_destroy (&msg);
    s_dispatch_local (self);
}

static void
s_stop_one (actor_t *self, zframe_t *who)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, zframe_data (who), zframe_size (who));
    zmsg_addstr (msg, "$STOP");
    zmsg_send (&msg, self->handlers);
}

//  Stop every handler thread and join it. Idle ones stop at once. A worker
//  stopped right after it started (a process whose later actor failed to
//  start) has handlers that have not said "I" yet, and a drain that timed
//  out has busy ones: wait a little for each to speak, then stop it (a
//  late result is dropped: the BYE already gave its message back). A
//  handler still stuck after that is detached, and the worker's memory is
//  kept for it (see sl_worker_destroy): freeing it under a running thread
//  would be a use after free.
static void
s_stop_handlers (actor_t *self)
{
    sl_worker_t *worker = self->worker;
    int concurrency = worker->cfg.concurrency;
    int stopped = 0;
    for (zframe_t *who = zlistx_first (self->idle); who; who = zlistx_next (self->idle)) {
        s_stop_one (self, who);
        stopped++;
    }
    int64_t deadline = sl_mono_ms () + S_HANDLER_STOP_MS;
    while (stopped < concurrency && sl_mono_ms () < deadline) {
        zmq_pollitem_t item = { zsock_resolve (self->handlers), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) < 1)
            continue;
        zmsg_t *msg = zmsg_recv (self->handlers);
        zframe_t *who = msg ? zmsg_pop (msg) : NULL;
        char *tag = msg ? zmsg_popstr (msg) : NULL;
        //  "E" is an event from a handler still at work: it speaks again
        if (who && tag && !streq (tag, "E")) {
            s_stop_one (self, who);
            stopped++;
        }
        zstr_free (&tag);
        zframe_destroy (&who);
        zmsg_destroy (&msg);
    }
    for (int i = 0; i < concurrency; i++) {
        if (stopped == concurrency)
            pthread_join (worker->threads [i], NULL);
        else
            pthread_detach (worker->threads [i]);
    }
    if (stopped < concurrency) {
        sl_error (NULL, "%d handler(s) still running after the drain: left behind",
                  concurrency - stopped);
        __atomic_store_n (&worker->abandoned, true, __ATOMIC_RELEASE);
    }
}

static void
s_start_drain (actor_t *self)
{
    self->draining = true;
    self->drain_deadline = sl_mono_ms () + self->worker->cfg.drain_timeout_ms;
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_CREDIT);
    cmd.credit = -1;            //  no new work
    sl_proto_send (&cmd, self->broker);
    sl_info (NULL, "draining: %d message(s) in progress, %zu waiting", self->busy,
             zlistx_size (self->backlog));
}

static void
s_worker_actor (zsock_t *pipe, void *args)
{
    sl_worker_t *worker = (sl_worker_t *) args;
    sl_worker_config_t *cfg = &worker->cfg;
    sl_log_set_role (worker->service);
    char name [16];             //  the handlers carry the bare service name
    snprintf (name, sizeof name, "%.11s/io", worker->service);
    pthread_setname_np (pthread_self (), name);
    actor_t self = { .worker = worker, .pipe = pipe };
    self.handlers = zsock_new_router (worker->inproc);
    assert (self.handlers);
    self.idle = zlistx_new ();
    zlistx_set_destructor (self.idle, (zlistx_destructor_fn *) zframe_destroy);
    self.backlog = zlistx_new ();
    zlistx_set_destructor (self.backlog, (zlistx_destructor_fn *) zframe_destroy);
    self.running = zhashx_new ();
    zhashx_set_destructor (self.running, (zhashx_destructor_fn *) zframe_destroy);
    self.outbox = zlistx_new ();
    zlistx_set_destructor (self.outbox, (zlistx_destructor_fn *) zmsg_destroy);
    self.backoff_ms = cfg->heartbeat_ms * cfg->liveness;
    s_broker_connect (&self);
    self.heartbeat_at = sl_mono_ms () + cfg->heartbeat_ms;
    zsock_signal (pipe, 0);

    //  zmq_poll with items rebuilt every turn: the broker socket is
    //  replaced on reconnect, and a cached poll set would keep the old one
    while (true) {
        zmq_pollitem_t items [] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self.handlers), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self.broker), 0, ZMQ_POLLIN, 0 },
            { self.monitor, 0, ZMQ_POLLIN, 0 },
        };
        int rc = zmq_poll (items, self.monitor ? 4 : 3, 100);
        if (rc == -1 && zmq_errno () == ETERM) {
            if (!self.draining)
                s_start_drain (&self);
        }
        else
        if (rc > 0) {
            if (items [0].revents & ZMQ_POLLIN) {
                char *command = zstr_recv (pipe);
                bool term = !command || streq (command, "$TERM");
                zstr_free (&command);
                if (term && !self.draining)
                    s_start_drain (&self);
            }
            if (items [1].revents & ZMQ_POLLIN)
                s_on_handler (&self);
            if (items [2].revents & ZMQ_POLLIN)
                s_on_broker (&self);
            if (self.monitor && (items [3].revents & ZMQ_POLLIN))
                s_on_monitor (&self);
        }
        int64_t now = sl_mono_ms ();
        __atomic_store_n (&worker->loop_seen, now, __ATOMIC_RELAXED);
        if (self.draining && (self.busy == 0 || now > self.drain_deadline))
            break;
        if (self.ready_at && now >= self.ready_at) {
            self.ready_at = 0;
            s_send_ready (&self);
        }
        //  A broker of a pair that has not taken us is asked with READY,
        //  not heartbeats
        if (now >= self.heartbeat_at) {
            if (!s_pair (&self) || self.confirmed)
                s_send_broker (&self, SL_CMD_HEARTBEAT);
            self.heartbeat_at = now + cfg->heartbeat_ms;
        }
        if (now > self.broker_expiry && s_pair (&self)) {
            //  Silent: the next broker. The backoff grows once per round
            if (self.current + 1 == worker->endpoint_count)
                self.backoff_ms = self.backoff_ms * 2 > cfg->reconnect_max_ms
                                ? cfg->reconnect_max_ms : self.backoff_ms * 2;
            s_broker_next (&self, "silent", true);
        }
        else
        if (now > self.broker_expiry) {
            sl_warn (NULL, "broker silent: reconnecting to %s (next try in %d ms)", cfg->broker,
                     self.backoff_ms);
            self.backoff_ms = self.backoff_ms * 2 > cfg->reconnect_max_ms
                            ? cfg->reconnect_max_ms : self.backoff_ms * 2;
            s_broker_connect (&self);
        }
    }
    if (self.busy > 0)
        sl_error (NULL, "drain timed out with %d message(s) still running", self.busy);
    //  What was delivered but never started goes back to the broker
    s_send_broker (&self, SL_CMD_BYE);
    s_stop_handlers (&self);
    s_monitor_stop (&self);
    if (zlistx_size (self.outbox))
        sl_warn (NULL, "stopping with %zu result(s) no broker took: their messages are redelivered",
                 zlistx_size (self.outbox));
    zlistx_destroy (&self.outbox);
    zhashx_destroy (&self.running);
    zlistx_destroy (&self.idle);
    zlistx_destroy (&self.backlog);
    zsock_destroy (&self.broker);
    zsock_destroy (&self.handlers);
}

sl_worker_t *
sl_worker_new (const sl_worker_config_t *cfg)
{
    assert (cfg && cfg->service && cfg->broker && cfg->handler);
    sl_worker_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *cfg;
    if (self->cfg.concurrency < 0)
        self->cfg.concurrency = 1;
    if (self->cfg.prefetch < 0)
        self->cfg.prefetch = 0;
    snprintf (self->service, sizeof self->service, "%s", cfg->service);
    snprintf (self->name, sizeof self->name, "%s-%d", cfg->name ? cfg->name : cfg->service, getpid ());
    //  A serial, not the address: a new worker can get a freed one's
    //  address while libzmq still holds that one's endpoint (closing is
    //  asynchronous), and its bind would fail
    static uint64_t serial;
    snprintf (self->inproc, sizeof self->inproc, "inproc://sl-worker-%" PRIu64,
              __atomic_add_fetch (&serial, 1, __ATOMIC_RELAXED));
    if (cfg->curve_client && cfg->curve_server) {
        snprintf (self->curve_client, sizeof self->curve_client, "%s", cfg->curve_client);
        snprintf (self->curve_server, sizeof self->curve_server, "%s", cfg->curve_server);
    }
    snprintf (self->broker, sizeof self->broker, "%s", cfg->broker);
    //  "tcp://a:5555,tcp://b:5555": a pair, tried in this order
    char list [512], *save = NULL;
    snprintf (list, sizeof list, "%s", cfg->broker);
    for (char *ep = strtok_r (list, ",", &save); ep && self->endpoint_count < S_ENDPOINTS_MAX;
         ep = strtok_r (NULL, ",", &save))
        if (*ep)
            snprintf (self->endpoints [self->endpoint_count++], sizeof self->endpoints [0], "%s", ep);
    if (self->endpoint_count == 0)
        snprintf (self->endpoints [self->endpoint_count++], sizeof self->endpoints [0], "%s", cfg->broker);
    self->cfg.service = self->service;
    self->cfg.name = self->name;
    self->cfg.broker = self->broker;
    self->cfg.curve_client = self->cfg.curve_server = NULL;
    self->actor = zactor_new (s_worker_actor, self);
    //  The actor has bound the inproc endpoint: handlers may connect now
    self->threads = calloc ((size_t) self->cfg.concurrency, sizeof (pthread_t));
    for (int i = 0; i < self->cfg.concurrency; i++)
        pthread_create (&self->threads [i], NULL, s_handler_thread, self);
    return self;
}

bool
sl_worker_destroy (sl_worker_t **self_p)
{
    bool clean = true;
    if (*self_p) {
        sl_worker_t *self = *self_p;
        zactor_destroy (&self->actor);
        //  Abandoned handlers still read self: leak it rather than free it
        //  under them (the process is on its way out)
        clean = !__atomic_load_n (&self->abandoned, __ATOMIC_ACQUIRE);
        if (clean) {
            free (self->threads);
            free (self);
        }
        *self_p = NULL;
    }
    return clean;
}

uint64_t
sl_worker_handled (sl_worker_t *self)
{
    return __atomic_load_n (&self->handled, __ATOMIC_RELAXED);
}

bool
sl_worker_connected (sl_worker_t *self)
{
    int64_t seen = __atomic_load_n (&self->broker_seen, __ATOMIC_RELAXED);
    return seen && sl_mono_ms () - seen <= (int64_t) self->cfg.heartbeat_ms * self->cfg.liveness;
}

bool
sl_worker_alive (sl_worker_t *self)
{
    int64_t seen = __atomic_load_n (&self->loop_seen, __ATOMIC_RELAXED);
    return seen == 0 || sl_mono_ms () - seen <= 10000;
}
