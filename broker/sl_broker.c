/*  sl_broker: reliable ROUTER broker. Design and guarantees in sl_broker.h;
    wire format in docs/protocol.md.

    State (all owned by the broker thread):
      services   name → service: FIFO queue of items + workers serving it
      workers    identity → worker: credit, items it holds, expiry
      items      message id → item, for every message queued or in flight
      done       recently completed ids (bounded), to drop late duplicates
      dlq        dead letters, oldest first, bounded
      jobs       job id → how many of its pipeline messages are live
    An item is in exactly one place: a service queue (queue_handle set), a
    worker's hands (worker set), or the DLQ (dead). Moving it means updating
    that one field and the counters beside it; nothing else is derived,
    except the jobs index, which s_item_live keeps (see there).
*/
#include "sl_broker.h"
#include "sl_bstar.h"
#include "sl_envelope.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_trust.h"
#include "sl_util.h"

#include <assert.h>
#include <pthread.h>

#define DONE_MEMORY 200000          //  completed ids remembered for dedupe
#define SUBSCRIPTION_MAX 4096       //  largest message the event socket takes (subscriptions)
#define ADOPT_MAX 1024              //  messages one READY may list as held (s_adopt)

typedef struct _worker_t worker_t;
typedef struct _service_t service_t;

typedef struct {
    sl_envelope_t *env;
    zframe_t *raw;                  //  env encoded, as received; NULL once env changed
    service_t *service;             //  service it is queued for / held by
    void *queue_handle;             //  in service->queue when queued
    worker_t *worker;               //  holder when in flight
    bool dead;                      //  in the DLQ
    bool live;                      //  counted in broker->jobs (s_item_live)
    zframe_t *reply_to;             //  requests: client identity
    char corr [65];                 //  requests: client correlation id
    char reason [SL_REASON_MAX];    //  why it was dead-lettered
    int64_t dead_ms;
    void *dlq_handle;
} item_t;

struct _service_t {
    char name [SL_NAME_MAX];
    zlistx_t *queue;                //  item_t *, FIFO
    zlistx_t *workers;              //  worker_t *, round-robin order
    int64_t inflight;
    uint64_t submitted, completed, dead, busy, redelivered;
    uint64_t held;                  //  SUBMIT ifabsent refused: the job had a live message
};

struct _worker_t {
    char *key;                      //  identity as hex: hash key
    zframe_t *identity;
    char name [65];
    service_t *services [SL_PROTO_MAX_SERVICES];
    int service_count;
    int64_t credit;
    int64_t held;                   //  items in flight here
    int64_t expiry;                 //  mono ms after which it is dead
};

typedef struct {
    sl_broker_config_t cfg;
    zsock_t *pipe;
    zsock_t *router;
    zsock_t *pub;                   //  PUB, or with CURVE an XPUB that vets subscriptions
    sl_trust_t *trust;              //  with CURVE: the keys and what each may do
    zsock_t *zap;                   //  with CURVE: the ZAP handler (answered here)
    zhashx_t *services;
    zhashx_t *workers;
    zhashx_t *items;
    zhashx_t *done;
    zlistx_t *done_order;
    zlistx_t *dlq;
    zhashx_t *jobs;                 //  job id → live pipeline messages (intptr_t, > 0)
    zframe_t *deliver_header;       //  the DELIVER header never changes: encoded once
    int64_t heartbeat_at;
    int64_t started;
    uint64_t published, malformed, refused;
    bool terminated;
    //  A pair (cfg.pair): the Binary Star machine, our state's PUB, the
    //  peer's SUB, and a monitor of that SUB (its connection closing is
    //  the peer's process dying)
    sl_bstar_t *bstar;
    zsock_t *state_pub;
    zsock_t *state_sub;
    void *state_monitor;
    uint64_t passive_refused;
    uint64_t adopted;               //  messages workers brought from the peer (s_adopt)
    bool pair_misconfigured;        //  said that both brokers are configured alike
    char epoch [SL_ID_LEN + 1];     //  this broker's run: a new one knows nothing of the old
} broker_t;

struct _sl_broker_t {
    zactor_t *actor;
    char *endpoint;
    char *pub_endpoint;
    sl_broker_config_t cfg;
    pthread_mutex_t stats_lock;
    char *stats;                    //  latest stats snapshot (msgpack), every heartbeat
    size_t stats_size;
};

void
sl_broker_config_defaults (sl_broker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->heartbeat_ms = 1000;
    cfg->liveness = 3;
    cfg->queue_limit = 10000;
    cfg->retry_after_ms = 1000;
    cfg->dlq_limit = 100000;
    cfg->max_msg_size = SL_MAX_MSG_DEFAULT;
}

//  ---------------------------------------------------------------------
//  Items, services, workers

//  The envelope changed (attempt, deadline, id): the bytes as received no
//  longer describe it, so DELIVER must encode it afresh.
static void
s_item_dirty (item_t *item)
{
    zframe_destroy (&item->raw);
}

//  Does the item carry its job through the pipeline? Requests (answered to
//  a caller, never part of a job's progress) and events (journal traffic
//  about the job) do not.
static bool
s_item_tracked (item_t *item)
{
    return !item->reply_to && *sl_envelope_job (item->env)
        && strcmp (sl_envelope_kind (item->env), "event") != 0;
}

//  Count the item in, or out of, its job's live messages. Live means the
//  broker will deliver it without anyone's help: queued or in flight.
//  Dead letters are not live: they wait for an operator, and a job whose
//  only message is one must stay re-drivable (or fail as abandoned), not
//  hang. This index is what SUBMIT ifabsent asks, so it is updated in the
//  same step as the item moves: s_enqueue counts in, s_dead_letter and
//  s_item_destroy count out.
static void
s_item_live (broker_t *self, item_t *item, bool live)
{
    if (item->live == live || (live && !s_item_tracked (item)))
        return;
    const char *job = sl_envelope_job (item->env);
    intptr_t count = (intptr_t) zhashx_lookup (self->jobs, job) + (live ? 1 : -1);
    if (count > 0)
        zhashx_update (self->jobs, job, (void *) count);
    else
        zhashx_delete (self->jobs, job);
    item->live = live;
}

static intptr_t
s_job_live (broker_t *self, const char *job)
{
    return *job ? (intptr_t) zhashx_lookup (self->jobs, job) : 0;
}

static void
s_item_destroy (broker_t *self, item_t **item_p)
{
    if (*item_p) {
        s_item_live (self, *item_p, false);
        zframe_destroy (&(*item_p)->raw);
        sl_envelope_destroy (&(*item_p)->env);
        zframe_destroy (&(*item_p)->reply_to);
        free (*item_p);
        *item_p = NULL;
    }
}

static void
s_service_destroy (void **item)
{
    service_t *self = (service_t *) *item;
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->workers);
    free (self);
    *item = NULL;
}

static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = zhashx_lookup (self->services, name);
    if (!service) {
        service = calloc (1, sizeof *service);
        assert (service);
        snprintf (service->name, sizeof service->name, "%s", name);
        service->queue = zlistx_new ();
        service->workers = zlistx_new ();
        zhashx_insert (self->services, name, service);
    }
    return service;
}

//  ---------------------------------------------------------------------
//  Sending

static void
s_send_to (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    zmsg_t *msg = sl_proto_encode (cmd);
    zmsg_pushmem (msg, zframe_data (identity), zframe_size (identity));
    if (zmsg_send (&msg, self->router))
        zmsg_destroy (&msg);        //  peer gone (ROUTER_MANDATORY): drop
}

static void
s_reply_error (broker_t *self, zframe_t *identity, const char *corr, int code, const char *reason)
{
    sl_proto_t reply;
    sl_proto_init (&reply, SL_CMD_ERROR);
    snprintf (reply.corr, sizeof reply.corr, "%s", corr);
    reply.code = code;
    snprintf (reply.reason, sizeof reply.reason, "%s", reason);
    s_send_to (self, identity, &reply);
}

//  Live events go out on "<workspace>/<job>" (sl_proto_topic), so a
//  subscriber's key can be checked against the workspace in the prefix.
static void
s_publish (broker_t *self, const char *ws, const char *job, const void *data, size_t size)
{
    char topic [SL_TOPIC_MAX];
    snprintf (topic, sizeof topic, "%s/%s", ws ? ws : "", job ? job : "");
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, data, size);
    zmsg_send (&msg, self->pub);
    self->published++;
}

//  ---------------------------------------------------------------------
//  Queueing

static void s_dispatch (broker_t *self, service_t *service);
static void s_enqueue (broker_t *self, item_t *item, bool front);

//  Events either go to the journal service (persisted, then republished
//  with a sequence number) or, with no journal, straight to subscribers.
static void
s_emit_event (broker_t *self, const char *job, const char *ws, const void *data, size_t size)
{
    if (!self->cfg.journal_service || !*job) {
        s_publish (self, ws, job, data, size);
        return;
    }
    sl_envelope_t *env = sl_envelope_new ("event", job, ws);
    if (!env)
        return;
    sl_envelope_route_append (env, self->cfg.journal_service);
    sl_envelope_set_max_attempts (env, 10);
    sl_envelope_set_body (env, data, size);
    item_t *item = calloc (1, sizeof *item);
    assert (item);
    item->env = env;
    s_enqueue (self, item, false);
}

static void
s_dead_letter (broker_t *self, item_t *item, const char *reason)
{
    sl_envelope_t *env = item->env;
    const char *stage = item->service ? item->service->name : "?";
    if (item->reply_to) {
        //  A request nobody could answer: tell the client, keep no letter
        s_reply_error (self, item->reply_to, item->corr, SL_ERR_TIMEOUT, reason);
        zhashx_delete (self->items, sl_envelope_id (env));
        s_item_destroy (self, &item);
        return;
    }
    sl_warn (sl_envelope_job (env), "dead-letter %s at %s after %u attempts: %s",
             sl_envelope_id (env), stage, sl_envelope_attempt (env), reason);
    if (item->service)
        item->service->dead++;
    s_item_live (self, item, false);
    item->dead = true;
    item->dead_ms = sl_now_ms ();
    snprintf (item->reason, sizeof item->reason, "%s", reason);
    item->dlq_handle = zlistx_add_end (self->dlq, item);
    //  Bounded: the oldest letter goes when full (logged, counted)
    while (zlistx_size (self->dlq) > self->cfg.dlq_limit) {
        item_t *old = zlistx_first (self->dlq);
        zlistx_delete (self->dlq, old->dlq_handle);
        sl_warn (sl_envelope_job (old->env), "DLQ full: dropping oldest letter %s",
                 sl_envelope_id (old->env));
        zhashx_delete (self->items, sl_envelope_id (old->env));
        s_item_destroy (self, &old);
    }
    //  Tell whoever follows the job (the store marks it failed)
    if (strcmp (sl_envelope_kind (env), "event") != 0) {
        sl_mpw_t w;
        sl_mpw_init (&w);
        uint32_t run = sl_envelope_run (env);
        msgpack_pack_map (&w.pk, 7 + (run ? 1 : 0));
        if (run)                //  the journal fails the job only if it is still that run
            sl_mpw_kv_int (&w, "run", run);
        sl_mpw_kv_str (&w, "type", "dead_letter");
        sl_mpw_kv_str (&w, "stage", stage);
        sl_mpw_kv_str (&w, "reason", reason);
        sl_mpw_kv_int (&w, "attempts", sl_envelope_attempt (env) + 1);
        sl_mpw_kv_str (&w, "mid", sl_envelope_id (env));
        sl_mpw_kv_str (&w, "kind", sl_envelope_kind (env));
        sl_mpw_kv_int (&w, "ts", sl_now_ms ());
        s_emit_event (self, sl_envelope_job (env), sl_envelope_workspace (env),
                      w.buf.data, w.buf.size);
        sl_mpw_reset (&w);
    }
}

//  Put an item on its service's queue (front for redeliveries, so a
//  message that was already in progress does not wait behind new work).
static void
s_enqueue (broker_t *self, item_t *item, bool front)
{
    const char *name = sl_envelope_service (item->env);
    item->service = s_service_require (self, name);
    item->worker = NULL;
    item->queue_handle = front ? zlistx_add_start (item->service->queue, item)
                               : zlistx_add_end (item->service->queue, item);
    zhashx_update (self->items, sl_envelope_id (item->env), item);
    s_item_live (self, item, true);
    s_dispatch (self, item->service);
}

//  A message comes back from a worker that died or left. A graceful leave
//  (BYE, drain) does not count as an attempt; a death does.
static void
s_requeue (broker_t *self, item_t *item, bool count_attempt, const char *why)
{
    service_t *service = item->service;
    service->inflight--;
    item->worker = NULL;
    if (count_attempt) {
        uint32_t attempt = sl_envelope_attempt (item->env) + 1;
        sl_envelope_set_attempt (item->env, attempt);
        s_item_dirty (item);
        if (attempt >= sl_envelope_max_attempts (item->env)) {
            char reason [SL_REASON_MAX];
            snprintf (reason, sizeof reason, "%s (attempt %u of %u)", why, attempt,
                      sl_envelope_max_attempts (item->env));
            sl_envelope_set_attempt (item->env, attempt - 1);
            s_dead_letter (self, item, reason);
            return;
        }
        service->redelivered++;
    }
    s_enqueue (self, item, true);
}

static void
s_worker_destroy (broker_t *self, worker_t **worker_p, bool count_attempt, const char *why)
{
    worker_t *worker = *worker_p;
    //  Out of every service's rotation first, so nothing re-queued below
    //  is dispatched straight back to it.
    for (int i = 0; i < worker->service_count; i++) {
        void *handle = zlistx_find (worker->services [i]->workers, worker);
        if (handle)
            zlistx_delete (worker->services [i]->workers, handle);
    }
    worker->service_count = 0;
    zhashx_delete (self->workers, worker->key);
    //  Return everything the worker held. Items point at their holder, so
    //  a scan of the live items finds them without a second index.
    if (worker->held > 0) {
        zlistx_t *held = zlistx_new ();
        for (item_t *item = zhashx_first (self->items); item; item = zhashx_next (self->items))
            if (item->worker == worker)
                zlistx_add_end (held, item);
        for (item_t *item = zlistx_first (held); item; item = zlistx_next (held))
            s_requeue (self, item, count_attempt, why);
        zlistx_destroy (&held);
    }
    zframe_destroy (&worker->identity);
    free (worker->key);
    free (worker);
    *worker_p = NULL;
}

static void
s_deliver (broker_t *self, worker_t *worker, item_t *item)
{
    if (!item->raw) {
        char *data;
        size_t size;
        sl_envelope_encode (item->env, &data, &size);
        item->raw = zframe_new (data, size);
        free (data);
    }
    zframe_t *header = self->deliver_header;
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, zframe_data (worker->identity), zframe_size (worker->identity));
    zmsg_addmem (msg, zframe_data (header), zframe_size (header));
    zmsg_addmem (msg, zframe_data (item->raw), zframe_size (item->raw));
    if (zmsg_send (&msg, self->router)) {
        //  The worker's connection is gone: its process died (or it
        //  reconnected under another identity). This message never reached
        //  it and goes back to the front as it was. What the worker did
        //  hold counts an attempt, as if its heartbeats had stopped: a
        //  document that kills its worker must reach the dead-letter queue
        //  whichever way the death is noticed, not go round forever
        zmsg_destroy (&msg);
        item->queue_handle = zlistx_add_start (item->service->queue, item);
        sl_warn (NULL, "worker %s unreachable: declared dead, re-queuing %lld message(s)",
                 worker->name, (long long) worker->held);
        s_worker_destroy (self, &worker, true, "worker died while processing");
        return;
    }
    item->worker = worker;
    item->service->inflight++;
    worker->held++;
}

//  Hand queued messages to workers with credit, round-robin. A worker that
//  gets one moves to the back of the service's list.
static void
s_dispatch (broker_t *self, service_t *service)
{
    while (zlistx_size (service->queue) > 0) {
        worker_t *chosen = NULL;
        for (worker_t *w = zlistx_first (service->workers); w; w = zlistx_next (service->workers))
            if (w->held < w->credit) {
                chosen = w;
                break;
            }
        if (!chosen)
            return;
        item_t *item = zlistx_first (service->queue);
        zlistx_delete (service->queue, item->queue_handle);
        item->queue_handle = NULL;
        int64_t deadline = sl_envelope_deadline (item->env);
        if (deadline && sl_now_ms () > deadline) {
            s_dead_letter (self, item, "deadline exceeded before delivery");
            continue;
        }
        zlistx_move_end (service->workers, zlistx_find (service->workers, chosen));
        s_deliver (self, chosen, item);
    }
}

static void
s_remember_done (broker_t *self, const char *mid)
{
    if (zhashx_lookup (self->done, mid))
        return;
    zhashx_insert (self->done, mid, (void *) 1);
    zlistx_add_end (self->done_order, strdup (mid));
    if (zlistx_size (self->done_order) > DONE_MEMORY) {
        char *old = zlistx_first (self->done_order);
        zhashx_delete (self->done, old);
        zlistx_delete (self->done_order, zlistx_cursor (self->done_order));
    }
}

//  ---------------------------------------------------------------------
//  Commands from peers

//  Identity as hex in a caller's buffer: the ACK path runs per message and
//  should not allocate for a hash lookup.
static const char *
s_identity_key (zframe_t *identity, char *buf, size_t cap)
{
    static const char digits [] = "0123456789ABCDEF";
    const unsigned char *data = zframe_data (identity);
    size_t n = zframe_size (identity);
    if (n * 2 + 1 > cap)
        n = (cap - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        buf [2 * i] = digits [data [i] >> 4];
        buf [2 * i + 1] = digits [data [i] & 15];
    }
    buf [2 * n] = 0;
    return buf;
}

static worker_t *
s_worker_lookup (broker_t *self, zframe_t *identity)
{
    char key [512];
    return zhashx_lookup (self->workers, s_identity_key (identity, key, sizeof key));
}

//  A worker that moved here from a broker of the pair that died lists
//  what it holds with its READY: each message becomes in flight here, at
//  that worker, as if this broker had delivered it. Its job is then live
//  (SUBMIT ifabsent holds the re-driver off it), its ACK is not an
//  orphan's, and if the worker dies it is re-queued like any other. A
//  message this broker knows already (queued, done) is left as it is.
static void
s_adopt (broker_t *self, worker_t *worker, zframe_t *frame)
{
    char err [256];
    sl_envelope_t *env = sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0, err, sizeof err);
    if (!env || !sl_envelope_service (env)) {
        self->malformed++;
        sl_envelope_destroy (&env);
        return;
    }
    const char *mid = sl_envelope_id (env);
    if (zhashx_lookup (self->items, mid) || zhashx_lookup (self->done, mid)) {
        sl_envelope_destroy (&env);
        return;
    }
    item_t *item = calloc (1, sizeof *item);
    assert (item);
    item->env = env;
    item->raw = zframe_dup (frame);
    item->service = s_service_require (self, sl_envelope_service (env));
    item->worker = worker;
    item->service->inflight++;
    worker->held++;
    zhashx_update (self->items, mid, item);
    s_item_live (self, item, true);
    self->adopted++;
}

static void
s_on_ready (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    char buf [512];
    const char *key = s_identity_key (identity, buf, sizeof buf);
    worker_t *worker = zhashx_lookup (self->workers, key);
    if (!worker) {
        worker = calloc (1, sizeof *worker);
        assert (worker);
        worker->key = strdup (key);
        worker->identity = zframe_dup (identity);
        zhashx_insert (self->workers, worker->key, worker);
    }
    snprintf (worker->name, sizeof worker->name, "%s", cmd->name [0] ? cmd->name : "worker");
    for (int i = 0; i < worker->service_count; i++) {
        void *handle = zlistx_find (worker->services [i]->workers, worker);
        if (handle)
            zlistx_delete (worker->services [i]->workers, handle);
    }
    worker->service_count = cmd->svc_count;
    worker->credit = cmd->credit < 0 ? 0 : cmd->credit == 0 ? 1 : cmd->credit;
    worker->expiry = sl_mono_ms () + (int64_t) self->cfg.heartbeat_ms * self->cfg.liveness;
    sl_info (NULL, "worker %s ready: %d service(s), credit %lld", worker->name,
             cmd->svc_count, (long long) worker->credit);
    for (int i = 0; i < cmd->svc_count; i++) {
        worker->services [i] = s_service_require (self, cmd->svc [i]);
        zlistx_add_end (worker->services [i]->workers, worker);
    }
    size_t listed = cmd->frames ? zmsg_size (cmd->frames) : 0;
    for (size_t i = 0; i < listed && i < ADOPT_MAX; i++) {
        zframe_t *frame = zmsg_pop (cmd->frames);
        s_adopt (self, worker, frame);
        zframe_destroy (&frame);
    }
    for (int i = 0; i < worker->service_count; i++)
        s_dispatch (self, worker->services [i]);
}

//  Decode and queue one successor envelope from an ACK. Internal forwards
//  are not subject to the queue bound: refusing them would lose work that
//  was already accepted.
static void
s_forward (broker_t *self, zframe_t *frame)
{
    char err [256];
    sl_envelope_t *env = sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0,
                                             err, sizeof err);
    if (!env) {
        self->malformed++;
        sl_warn (NULL, "dropping malformed forward: %s", err);
        return;
    }
    if (!sl_envelope_service (env)) {
        sl_envelope_destroy (&env);
        return;                 //  route finished: nothing to queue
    }
    if (zhashx_lookup (self->items, sl_envelope_id (env)) || zhashx_lookup (self->done, sl_envelope_id (env))) {
        sl_envelope_destroy (&env);
        return;                 //  same successor already queued or done
    }
    item_t *item = calloc (1, sizeof *item);
    assert (item);
    item->env = env;
    item->raw = zframe_dup (frame);
    item->service = s_service_require (self, sl_envelope_service (env));
    item->service->submitted++;
    s_enqueue (self, item, false);
}

//  Settle a message: the worker is done with it (ACK, REPLY, final NACK).
//  Returns false if the message had already been settled (a duplicate).
static bool
s_settle (broker_t *self, worker_t *worker, const char *mid)
{
    if (zhashx_lookup (self->done, mid))
        return false;
    item_t *item = zhashx_lookup (self->items, mid);
    if (item) {
        if (item->worker) {
            item->worker->held--;
            item->service->inflight--;
            //  Credit came back: that worker may take more
            worker_t *holder = item->worker;
            item->worker = NULL;
            for (int i = 0; i < holder->service_count; i++)
                if (holder->services [i] != item->service)
                    s_dispatch (self, holder->services [i]);
        }
        else
        if (item->queue_handle) {
            //  Re-queued after its worker was declared dead, then the
            //  worker finished after all: take it back out of the queue
            zlistx_delete (item->service->queue, item->queue_handle);
            item->queue_handle = NULL;
        }
        else
        if (item->dead)
            zlistx_delete (self->dlq, item->dlq_handle);
        item->service->completed++;
        service_t *service = item->service;
        zhashx_delete (self->items, mid);
        s_item_destroy (self, &item);
        s_dispatch (self, service);
    }
    s_remember_done (self, mid);
    (void) worker;
    return true;
}

//  Queue the successors of an ACK or REPLY. orphan: the settled message was
//  unknown here (the broker restarted without its snapshot while a worker
//  held it). If its job has a live message again by now (the re-driver sent
//  it anew), its successors are dropped, or the job would run twice side by
//  side. All are checked before any is queued: the first would otherwise
//  make its own job look re-driven to the rest of a fan-out.
static void
s_forward_all (broker_t *self, zmsg_t *frames, bool orphan)
{
    if (!frames || zmsg_size (frames) == 0)
        return;
    if (orphan) {
        zlistx_t *keep = zlistx_new ();
        char err [256];
        for (zframe_t *frame = zmsg_first (frames); frame; frame = zmsg_next (frames)) {
            sl_envelope_t *env = sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0,
                                                     err, sizeof err);
            item_t probe = { .env = env };
            if (!env || !s_item_tracked (&probe) || s_job_live (self, sl_envelope_job (env)) == 0)
                zlistx_add_end (keep, frame);
            else
                sl_info (sl_envelope_job (env), "dropping %s from a message this broker never held: "
                         "the job was re-driven meanwhile", sl_envelope_id (env));
            sl_envelope_destroy (&env);
        }
        for (zframe_t *frame = zlistx_first (keep); frame; frame = zlistx_next (keep))
            s_forward (self, frame);
        zlistx_destroy (&keep);
    }
    else
        for (zframe_t *frame = zmsg_first (frames); frame; frame = zmsg_next (frames))
            s_forward (self, frame);
}

static void
s_on_ack (broker_t *self, worker_t *worker, sl_proto_t *cmd)
{
    bool orphan = !zhashx_lookup (self->items, cmd->mid);
    if (!s_settle (self, worker, cmd->mid))
        return;                 //  late duplicate: its successors exist already
    s_forward_all (self, cmd->frames, orphan);
}

static void
s_on_nack (broker_t *self, worker_t *worker, sl_proto_t *cmd)
{
    item_t *item = zhashx_lookup (self->items, cmd->mid);
    if (!item || item->worker != worker)
        return;                 //  not held by this worker any more
    item->worker->held--;
    item->service->inflight--;
    item->worker = NULL;
    const char *reason = cmd->reason [0] ? cmd->reason : "failed";
    uint32_t attempt = sl_envelope_attempt (item->env) + 1;
    if (cmd->retry && attempt < sl_envelope_max_attempts (item->env)) {
        sl_info (sl_envelope_job (item->env), "retrying %s at %s: %s", cmd->mid,
                 item->service->name, reason);
        sl_envelope_set_attempt (item->env, attempt);
        s_item_dirty (item);
        item->service->redelivered++;
        s_enqueue (self, item, false);
    }
    else
        s_dead_letter (self, item, reason);
    s_dispatch (self, worker->services [0]);
    for (int i = 1; i < worker->service_count; i++)
        s_dispatch (self, worker->services [i]);
}

static void
s_on_reply (broker_t *self, worker_t *worker, sl_proto_t *cmd)
{
    //  Frame 1 is the answer for the caller; any further frames are
    //  successors, queued like an ACK's
    item_t *item = zhashx_lookup (self->items, cmd->mid);
    zframe_t *body = cmd->frames ? zmsg_pop (cmd->frames) : NULL;
    if (item && item->reply_to && body) {
        sl_proto_t reply;
        sl_proto_init (&reply, SL_CMD_REPLY);
        snprintf (reply.corr, sizeof reply.corr, "%s", item->corr);
        reply.frames = zmsg_new ();
        zmsg_append (reply.frames, &body);
        zframe_t *to = zframe_dup (item->reply_to);
        s_send_to (self, to, &reply);
        zframe_destroy (&to);
    }
    zframe_destroy (&body);
    if (s_settle (self, worker, cmd->mid))
        s_forward_all (self, cmd->frames, item == NULL);
}

static item_t *
s_item_from_frame (broker_t *self, zframe_t *identity, sl_proto_t *cmd, char *err, size_t errlen)
{
    zframe_t *frame = cmd->frames ? zmsg_first (cmd->frames) : NULL;
    if (!frame) {
        snprintf (err, errlen, "missing envelope frame");
        return NULL;
    }
    sl_envelope_t *env = sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0, err, errlen);
    if (!env)
        return NULL;
    if (!sl_envelope_service (env)) {
        snprintf (err, errlen, "envelope has an empty route");
        sl_envelope_destroy (&env);
        return NULL;
    }
    item_t *item = calloc (1, sizeof *item);
    assert (item);
    item->env = env;
    item->raw = zmsg_pop (cmd->frames);     //  forwarded as is on DELIVER
    (void) self;
    (void) identity;
    return item;
}

static void
s_on_submit (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    char err [256];
    item_t *item = s_item_from_frame (self, identity, cmd, err, sizeof err);
    if (!item) {
        self->malformed++;
        s_reply_error (self, identity, cmd->corr, SL_ERR_MALFORMED, err);
        return;
    }
    const char *mid = sl_envelope_id (item->env);
    sl_proto_t reply;
    if (zhashx_lookup (self->items, mid) || zhashx_lookup (self->done, mid)) {
        //  Idempotent submit: the client retried after a lost reply
        sl_proto_init (&reply, SL_CMD_ACCEPTED);
        snprintf (reply.corr, sizeof reply.corr, "%s", cmd->corr);
        snprintf (reply.mid, sizeof reply.mid, "%s", mid);
        s_send_to (self, identity, &reply);
        s_item_destroy (self, &item);
        return;
    }
    service_t *service = s_service_require (self, sl_envelope_service (item->env));
    //  Conditional submit (re-drivers): the job's message is still here,
    //  waiting in a queue or being worked on, so nothing was lost and a
    //  second message would only run the job twice. Checked and queued in
    //  this one step of the broker thread: no one slips in between.
    intptr_t live = cmd->if_absent ? s_job_live (self, sl_envelope_job (item->env)) : 0;
    if (live > 0) {
        service->held++;
        char why [160];
        snprintf (why, sizeof why, "job %s already has %ld live message(s) here",
                  sl_envelope_job (item->env), (long) live);
        s_reply_error (self, identity, cmd->corr, SL_ERR_HELD, why);
        s_item_destroy (self, &item);
        return;
    }
    if (zlistx_size (service->queue) >= self->cfg.queue_limit) {
        service->busy++;
        sl_proto_init (&reply, SL_CMD_BUSY);
        snprintf (reply.corr, sizeof reply.corr, "%s", cmd->corr);
        snprintf (reply.svc [0], sizeof reply.svc [0], "%s", service->name);
        reply.svc_count = 1;
        reply.retry_ms = self->cfg.retry_after_ms;
        reply.depth = (int64_t) zlistx_size (service->queue);
        s_send_to (self, identity, &reply);
        s_item_destroy (self, &item);
        return;
    }
    service->submitted++;
    sl_proto_init (&reply, SL_CMD_ACCEPTED);
    snprintf (reply.corr, sizeof reply.corr, "%s", cmd->corr);
    snprintf (reply.mid, sizeof reply.mid, "%s", mid);
    s_enqueue (self, item, false);
    s_send_to (self, identity, &reply);
}

static void
s_on_request (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    char err [256];
    item_t *item = s_item_from_frame (self, identity, cmd, err, sizeof err);
    if (!item) {
        self->malformed++;
        s_reply_error (self, identity, cmd->corr, SL_ERR_MALFORMED, err);
        return;
    }
    service_t *service = s_service_require (self, sl_envelope_service (item->env));
    if (zlistx_size (service->workers) == 0) {
        char why [128];
        snprintf (why, sizeof why, "no worker serves '%s'", service->name);
        s_reply_error (self, identity, cmd->corr, SL_ERR_NO_SERVICE, why);
        s_item_destroy (self, &item);
        return;
    }
    if (zhashx_lookup (self->items, sl_envelope_id (item->env))) {
        char id [SL_ID_LEN + 1];
        sl_id_new (id);
        sl_envelope_set_id (item->env, id);
    }
    //  A request is worth nothing after its caller gave up
    int64_t timeout = cmd->timeout_ms > 0 ? cmd->timeout_ms : 30000;
    sl_envelope_set_deadline (item->env, sl_now_ms () + timeout);
    sl_envelope_set_max_attempts (item->env, 2);
    s_item_dirty (item);
    item->reply_to = zframe_dup (identity);
    snprintf (item->corr, sizeof item->corr, "%s", cmd->corr);
    service->submitted++;
    s_enqueue (self, item, false);
}

static void
s_pack_service (sl_mpw_t *w, service_t *service)
{
    int64_t credit = 0;
    for (worker_t *wk = zlistx_first (service->workers); wk; wk = zlistx_next (service->workers))
        credit += wk->credit;
    msgpack_pack_map (&w->pk, 10);
    sl_mpw_kv_int (w, "queued", (int64_t) zlistx_size (service->queue));
    sl_mpw_kv_int (w, "inflight", service->inflight);
    sl_mpw_kv_int (w, "workers", (int64_t) zlistx_size (service->workers));
    sl_mpw_kv_int (w, "credit", credit);
    sl_mpw_kv_int (w, "submitted", (int64_t) service->submitted);
    sl_mpw_kv_int (w, "completed", (int64_t) service->completed);
    sl_mpw_kv_int (w, "dead", (int64_t) service->dead);
    sl_mpw_kv_int (w, "busy", (int64_t) service->busy);
    sl_mpw_kv_int (w, "redelivered", (int64_t) service->redelivered);
    sl_mpw_kv_int (w, "held", (int64_t) service->held);
}

static void
s_send_result (broker_t *self, zframe_t *identity, const char *corr, sl_mpw_t *w)
{
    sl_proto_t reply;
    sl_proto_init (&reply, SL_CMD_RESULT);
    snprintf (reply.corr, sizeof reply.corr, "%s", corr);
    reply.frames = zmsg_new ();
    zmsg_addmem (reply.frames, w->buf.data, w->buf.size);
    sl_mpw_reset (w);
    s_send_to (self, identity, &reply);
}

static void
s_pack_stats (broker_t *self, sl_mpw_t *w_p)
{
    msgpack_pack_map (&w_p->pk, 8 + (self->bstar ? 5 : 0));     //  the keys below: keep in step
    sl_mpw_key (w_p, "services");
    msgpack_pack_map (&w_p->pk, zhashx_size (self->services));
    for (service_t *s = zhashx_first (self->services); s; s = zhashx_next (self->services)) {
        sl_mpw_key (w_p, s->name);
        s_pack_service (w_p, s);
    }
    sl_mpw_kv_int (w_p, "workers", (int64_t) zhashx_size (self->workers));
    sl_mpw_kv_int (w_p, "dlq", (int64_t) zlistx_size (self->dlq));
    sl_mpw_kv_int (w_p, "jobs", (int64_t) zhashx_size (self->jobs));
    sl_mpw_kv_int (w_p, "uptime_ms", sl_mono_ms () - self->started);
    sl_mpw_kv_int (w_p, "published", (int64_t) self->published);
    sl_mpw_kv_int (w_p, "malformed", (int64_t) self->malformed);
    sl_mpw_kv_int (w_p, "refused", (int64_t) self->refused);
    if (self->bstar) {
        sl_mpw_kv_str (w_p, "pair", sl_bstar_state_name (sl_bstar_state (self->bstar)));
        sl_mpw_kv_int (w_p, "failovers", (int64_t) sl_bstar_failovers (self->bstar));
        sl_mpw_kv_int (w_p, "passive_refused", (int64_t) self->passive_refused);
        sl_mpw_kv_int (w_p, "adopted", (int64_t) self->adopted);
        //  Which broker's memory the queues are: a re-driver that sees it
        //  change re-drives at once what the old one may have held
        sl_mpw_kv_str (w_p, "epoch", self->epoch);
    }
}

static void
s_on_stats (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    s_pack_stats (self, &w);
    s_send_result (self, identity, cmd->corr, &w);
}

//  Publish a stats snapshot for sl_broker_stats (operational endpoints read
//  it without a socket, so they work whatever security the links use).
static void
s_publish_stats (broker_t *self, sl_broker_t *outer)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    s_pack_stats (self, &w);
    size_t size;
    char *data = sl_mpw_take (&w, &size);
    pthread_mutex_lock (&outer->stats_lock);
    free (outer->stats);
    outer->stats = data;
    outer->stats_size = size;
    pthread_mutex_unlock (&outer->stats_lock);
}

//  only: a client key sees the letters of its own workspaces (NULL: all)
static void
s_on_dlq_list (broker_t *self, zframe_t *identity, sl_proto_t *cmd, const sl_peer_t *only)
{
    size_t limit = cmd->limit > 0 ? (size_t) cmd->limit : 100;
    size_t n = 0;
    for (item_t *item = zlistx_first (self->dlq); item && n < limit; item = zlistx_next (self->dlq))
        n += !only || sl_trust_peer_may_act_for (only, sl_envelope_workspace (item->env));
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_array (&w.pk, n);
    item_t *item = zlistx_first (self->dlq);
    for (size_t i = 0; i < n; i++, item = zlistx_next (self->dlq)) {
        while (only && !sl_trust_peer_may_act_for (only, sl_envelope_workspace (item->env)))
            item = zlistx_next (self->dlq);
        msgpack_pack_map (&w.pk, 8);
        sl_mpw_kv_str (&w, "mid", sl_envelope_id (item->env));
        sl_mpw_kv_str (&w, "job", sl_envelope_job (item->env));
        sl_mpw_kv_str (&w, "ws", sl_envelope_workspace (item->env));
        sl_mpw_kv_str (&w, "kind", sl_envelope_kind (item->env));
        sl_mpw_kv_str (&w, "service", item->service ? item->service->name : "");
        sl_mpw_kv_int (&w, "attempts", sl_envelope_attempt (item->env) + 1);
        sl_mpw_kv_str (&w, "reason", item->reason);
        sl_mpw_kv_int (&w, "ts", item->dead_ms);
    }
    s_send_result (self, identity, cmd->corr, &w);
}

static void
s_on_dlq_replay (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    item_t *item = zhashx_lookup (self->items, cmd->mid);
    if (!item || !item->dead) {
        s_reply_error (self, identity, cmd->corr, SL_ERR_NOT_FOUND, "no such dead letter");
        return;
    }
    zlistx_delete (self->dlq, item->dlq_handle);
    item->dlq_handle = NULL;
    item->dead = false;
    item->reason [0] = 0;
    sl_envelope_set_attempt (item->env, 0);
    s_item_dirty (item);
    sl_info (sl_envelope_job (item->env), "replaying dead letter %s", cmd->mid);
    s_enqueue (self, item, false);
    sl_proto_t reply;
    sl_proto_init (&reply, SL_CMD_ACCEPTED);
    snprintf (reply.corr, sizeof reply.corr, "%s", cmd->corr);
    snprintf (reply.mid, sizeof reply.mid, "%s", cmd->mid);
    s_send_to (self, identity, &reply);
}

static void
s_on_event (broker_t *self, sl_proto_t *cmd, bool publish_only)
{
    zframe_t *frame = cmd->frames ? zmsg_first (cmd->frames) : NULL;
    if (!frame || !sl_token_valid (cmd->topic) || (*cmd->name && !sl_token_valid (cmd->name)))
        return;
    if (publish_only)           //  topic: the job; name: its workspace
        s_publish (self, cmd->name, cmd->topic, zframe_data (frame), zframe_size (frame));
    else
        s_emit_event (self, cmd->topic, cmd->name, zframe_data (frame), zframe_size (frame));
}

//  Commands that only registered workers may send. An unknown peer (the
//  broker restarted, or declared it dead) gets DISCONNECT so it announces
//  itself again; its ACK is still honoured so finished work is not lost.
static void
s_on_worker_cmd (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    worker_t *worker = s_worker_lookup (self, identity);
    if (worker)
        worker->expiry = sl_mono_ms () + (int64_t) self->cfg.heartbeat_ms * self->cfg.liveness;
    switch (cmd->cmd) {
        case SL_CMD_ACK:   s_on_ack (self, worker, cmd); break;
        case SL_CMD_REPLY: s_on_reply (self, worker, cmd); break;
        case SL_CMD_NACK:  if (worker) s_on_nack (self, worker, cmd); break;
        case SL_CMD_CREDIT:
            if (worker) {
                worker->credit = cmd->credit < 0 ? 0 : cmd->credit;
                for (int i = 0; i < worker->service_count; i++)
                    s_dispatch (self, worker->services [i]);
            }
            break;
        case SL_CMD_BYE:
            if (worker) {
                sl_info (NULL, "worker %s left", worker->name);
                s_worker_destroy (self, &worker, false, "worker left");
            }
            return;
        default: break;
    }
    if (!worker) {
        sl_proto_t reply;
        sl_proto_init (&reply, SL_CMD_DISCONNECT);
        snprintf (reply.reason, sizeof reply.reason, "unknown worker: send READY");
        s_send_to (self, identity, &reply);
    }
}

//  ---------------------------------------------------------------------
//  Trust: what a peer's key allows (docs/architecture.md, "Trust model")

static void
s_refuse (broker_t *self, zframe_t *identity, sl_proto_t *cmd, const sl_peer_t *peer, const char *why)
{
    self->refused++;
    sl_debug (NULL, "refused %s from key %s: %s", sl_proto_cmd_name (cmd->cmd),
              peer ? peer->key : "(unknown)", why);
    s_reply_error (self, identity, cmd->corr, SL_ERR_FORBIDDEN, why);
}

//  May this peer send this command? Workers (and every peer when there
//  is no CURVE) may send anything. A client key may ask (STATS), list and
//  replay its workspaces' dead letters, and SUBMIT or REQUEST envelopes
//  for its workspaces addressed to a client service; nothing a worker
//  does. Refusals are answered with ERROR 403 (or, for a dead letter of
//  another workspace, the same 404 as for one that does not exist).
static bool
s_authorize (broker_t *self, zframe_t *identity, const sl_peer_t *peer, sl_proto_t *cmd)
{
    if (!self->trust || (peer && peer->worker))
        return true;
    if (!peer) {
        //  Admitted by ZAP, then its key left curve.workers_dir
        s_refuse (self, identity, cmd, peer, "this key is no longer accepted");
        return false;
    }
    switch (cmd->cmd) {
        case SL_CMD_STATS:
        case SL_CMD_DLQ_LIST:
            return true;
        case SL_CMD_SUBMIT:
        case SL_CMD_REQUEST: {
            zframe_t *frame = cmd->frames ? zmsg_first (cmd->frames) : NULL;
            char err [256];
            sl_envelope_t *env = frame ? sl_envelope_decode (zframe_data (frame), zframe_size (frame), 0,
                                                             err, sizeof err) : NULL;
            if (!env)
                return true;    //  malformed: the command's own handler says why (400)
            char why [256] = "";
            const char *ws = sl_envelope_workspace (env);
            if (!sl_trust_peer_may_act_for (peer, ws))
                snprintf (why, sizeof why, "this key may not act for workspace '%s'", ws);
            else
            if (!sl_trust_peer_may_address (self->trust, peer, sl_envelope_service (env),
                                            (size_t) sl_envelope_route_size (env)))
                snprintf (why, sizeof why, "this key may not address service '%s' (route of %d)",
                          sl_envelope_service (env) ? sl_envelope_service (env) : "",
                          sl_envelope_route_size (env));
            sl_envelope_destroy (&env);
            if (*why)
                s_refuse (self, identity, cmd, peer, why);
            return *why == 0;
        }
        case SL_CMD_DLQ_REPLAY: {
            item_t *item = zhashx_lookup (self->items, cmd->mid);
            if (item && item->dead && sl_trust_peer_may_act_for (peer, sl_envelope_workspace (item->env)))
                return true;
            self->refused += item != NULL;
            s_reply_error (self, identity, cmd->corr, SL_ERR_NOT_FOUND, "no such dead letter");
            return false;
        }
        case SL_CMD_HEARTBEAT:
            return false;       //  nothing to answer: a client is not a worker
        case SL_CMD_READY:
            sl_warn (NULL, "client key %s tried to register as a worker (%s): refused", peer->key,
                     cmd->svc_count ? cmd->svc [0] : "?");
            s_refuse (self, identity, cmd, peer, "a client key may not serve a service");
            return false;
        default: {
            char why [128];
            snprintf (why, sizeof why, "a client key may not send %s", sl_proto_cmd_name (cmd->cmd));
            s_refuse (self, identity, cmd, peer, why);
            return false;
        }
    }
}

//  A subscription to the event socket (XPUB, manual): applied only if
//  the subscriber's key may see the topic's workspace. Unsubscriptions
//  always apply (libzmq sends them with no pipe when a peer leaves, and
//  then they do nothing). False if none was ready.
static bool
s_handle_subscription (broker_t *self)
{
    zframe_t *frame = zframe_recv (self->pub);
    if (!frame)
        return false;
    const byte *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    void *pub = zsock_resolve (self->pub);
    if (size >= 1 && data [0] == 1) {
        const sl_peer_t *peer = sl_trust_lookup (self->trust, zframe_meta (frame, "User-Id"));
        if (sl_trust_peer_may_subscribe (peer, data + 1, size - 1))
            zmq_setsockopt (pub, ZMQ_SUBSCRIBE, data + 1, size - 1);
        else {
            self->refused++;
            sl_debug (NULL, "refused a subscription to '%.*s' from key %s", (int) (size - 1), data + 1,
                      peer ? peer->key : "(unknown)");
        }
    }
    else
    if (size >= 1 && data [0] == 0)
        zmq_setsockopt (pub, ZMQ_UNSUBSCRIBE, data + 1, size - 1);
    zframe_destroy (&frame);
    return true;
}

//  ---------------------------------------------------------------------
//  A pair: Binary Star (sl_bstar.h) between this broker and its peer

static int s_bind (zsock_t *sock, const char *endpoint, const sl_broker_config_t *cfg, int64_t max_msg_size);

static void
s_pair_publish (broker_t *self)
{
    char state [64];
    if (sl_bstar_encode (self->bstar, state, sizeof state) == 0)
        zstr_send (self->state_pub, state);
}

static void
s_pair_changed (broker_t *self, sl_bstar_state_t was)
{
    sl_bstar_state_t now = sl_bstar_state (self->bstar);
    sl_warn (NULL, "broker pair: %s -> %s: %s", sl_bstar_state_name (was), sl_bstar_state_name (now),
             sl_bstar_reason (self->bstar));
    if (was == SL_BSTAR_ACTIVE && now != SL_BSTAR_ACTIVE) {
        //  Stepped down: the workers go to the peer (each is refused on
        //  its next heartbeat); what they held is the peer's to re-drive
        for (worker_t *w = zhashx_first (self->workers); w; w = zhashx_first (self->workers)) {
            worker_t *victim = w;
            s_worker_destroy (self, &victim, false, "broker stepped down");
        }
    }
    s_pair_publish (self);      //  at once: the peer decides on it
}

//  The peer told its state.
static void
s_pair_on_state (broker_t *self)
{
    char *text = zstr_recv (self->state_sub);
    sl_bstar_state_t peer;
    bool primary;
    if (text && sl_bstar_decode (text, strlen (text), &peer, &primary) == 0) {
        sl_bstar_state_t was = sl_bstar_state (self->bstar);
        if (sl_bstar_peer (self->bstar, peer, primary, sl_mono_ms ()))
            s_pair_changed (self, was);
        else
        if (peer == SL_BSTAR_ACTIVE && sl_bstar_active (self->bstar) && primary == sl_bstar_primary (self->bstar)
        &&  !self->pair_misconfigured) {
            //  Both active and configured alike: no rule picks one. Said once
            self->pair_misconfigured = true;
            sl_error (NULL, "broker pair: %s", sl_bstar_reason (self->bstar));
        }
    }
    else
        self->malformed++;
    zstr_free (&text);
}

//  The monitor of the peer's SUB: a closed connection is a peer process
//  that died (kill, crash): its kernel closed the socket
static void
s_pair_on_monitor (broker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->state_monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    if (frame && zframe_size (frame) >= 2) {
        uint16_t event;
        memcpy (&event, zframe_data (frame), 2);
        if (event == ZMQ_EVENT_DISCONNECTED) {
            sl_info (NULL, "broker pair: the peer's connection closed");
            sl_bstar_peer_gone (self->bstar, sl_mono_ms ());
        }
    }
    zmsg_destroy (&msg);
}

//  Commands a passive broker answers with an ERROR (they carry a corr);
//  the others come from workers, which get DISCONNECT
static bool
s_pair_is_call (sl_cmd_t cmd)
{
    return cmd == SL_CMD_SUBMIT || cmd == SL_CMD_REQUEST || cmd == SL_CMD_STATS
        || cmd == SL_CMD_DLQ_LIST || cmd == SL_CMD_DLQ_REPLAY;
}

//  May this broker serve the command? Always, alone. In a pair, only
//  when active; a command from a peer may make a passive broker take
//  over (STATS may not: a probe is not a peer that needs service). A
//  refusal says why and when to ask again (sl_broker.h, "Failover").
static bool
s_pair_admit (broker_t *self, zframe_t *identity, sl_proto_t *cmd)
{
    if (!self->bstar || sl_bstar_active (self->bstar))
        return true;
    int64_t now = sl_mono_ms ();
    sl_bstar_state_t was = sl_bstar_state (self->bstar);
    if (cmd->cmd != SL_CMD_STATS && sl_bstar_request (self->bstar, now)) {
        s_pair_changed (self, was);
        return true;
    }
    self->passive_refused++;
    sl_proto_t reply;
    sl_proto_init (&reply, s_pair_is_call (cmd->cmd) ? SL_CMD_ERROR : SL_CMD_DISCONNECT);
    snprintf (reply.corr, sizeof reply.corr, "%s", cmd->corr);
    reply.code = SL_ERR_PASSIVE;
    reply.retry_ms = sl_bstar_retry_ms (self->bstar, now);
    snprintf (reply.reason, sizeof reply.reason, "broker %s (%s): %s", self->cfg.pair,
              sl_bstar_state_name (sl_bstar_state (self->bstar)), sl_bstar_reason (self->bstar));
    s_send_to (self, identity, &reply);
    return false;
}

//  The pair's sockets: our state out, the peer's in. Same rules as the
//  broker's other sockets: with CURVE both ends use the broker's key
//  (the pair shares it: workers know one broker key), else loopback
//  unless insecure (s_check_exposure)
static int
s_pair_start (broker_t *self)
{
    sl_id_new (self->epoch);
    self->bstar = sl_bstar_new (streq (self->cfg.pair, "primary"),
                                (int64_t) self->cfg.heartbeat_ms * self->cfg.liveness, sl_mono_ms ());
    self->state_pub = zsock_new (ZMQ_PUB);
    self->state_sub = zsock_new (ZMQ_SUB);
    zsock_set_linger (self->state_pub, 0);
    zsock_set_linger (self->state_sub, 0);
    if (s_bind (self->state_pub, self->cfg.state_endpoint, &self->cfg, 256))
        return -1;
    zsock_set_maxmsgsize (self->state_sub, 256);
    if (self->cfg.curve_secret) {
        zcert_t *cert = zcert_load (self->cfg.curve_secret);
        if (!cert)
            return -1;
        zcert_apply (cert, self->state_sub);
        zsock_set_curve_serverkey (self->state_sub, zcert_public_txt (cert));
        zcert_destroy (&cert);
    }
    zsock_set_subscribe (self->state_sub, "");
    char address [80], id [SL_ID_LEN + 1];
    sl_id_new (id);
    snprintf (address, sizeof address, "inproc://sl-bstar-%s", id);
    if (zmq_socket_monitor (zsock_resolve (self->state_sub), address, ZMQ_EVENT_DISCONNECTED) == 0) {
        self->state_monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
        if (self->state_monitor && zmq_connect (self->state_monitor, address)) {
            zmq_close (self->state_monitor);
            self->state_monitor = NULL;
        }
    }
    if (zsock_connect (self->state_sub, "%s", self->cfg.peer)) {
        sl_error (NULL, "broker pair: cannot connect to the peer's state endpoint %s", self->cfg.peer);
        return -1;
    }
    sl_info (NULL, "broker pair: %s, state on %s, peer %s", self->cfg.pair, self->cfg.state_endpoint,
             self->cfg.peer);
    s_pair_publish (self);
    return 0;
}

static void
s_pair_stop (broker_t *self)
{
    if (self->state_monitor) {
        zmq_socket_monitor (zsock_resolve (self->state_sub), NULL, 0);
        int zero = 0;
        zmq_setsockopt (self->state_monitor, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close (self->state_monitor);
        self->state_monitor = NULL;
    }
    zsock_destroy (&self->state_sub);
    zsock_destroy (&self->state_pub);
    sl_bstar_destroy (&self->bstar);
}

//  Handle one message from the router. False if none was ready.
static bool
s_handle_router (broker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return false;           //  nothing ready (the router's receive timeout is 0)
    zframe_t *identity = zmsg_pop (msg);
    //  With CURVE the peer's own frames carry its key (the identity frame
    //  the router adds does not)
    const sl_peer_t *peer = NULL;
    if (self->trust && zmsg_first (msg))
        peer = sl_trust_lookup (self->trust, zframe_meta (zmsg_first (msg), "User-Id"));
    sl_proto_t cmd;
    char err [256];
    if (!identity || sl_proto_decode (&msg, &cmd, err, sizeof err)) {
        self->malformed++;
        if (identity)
            s_reply_error (self, identity, "", SL_ERR_MALFORMED, err);
        zframe_destroy (&identity);
        zmsg_destroy (&msg);
        return true;
    }
    if (!s_authorize (self, identity, peer, &cmd) || !s_pair_admit (self, identity, &cmd)) {
        sl_proto_clear (&cmd);
        zframe_destroy (&identity);
        return true;
    }
    switch (cmd.cmd) {
        case SL_CMD_READY:      s_on_ready (self, identity, &cmd); break;
        case SL_CMD_SUBMIT:     s_on_submit (self, identity, &cmd); break;
        case SL_CMD_REQUEST:    s_on_request (self, identity, &cmd); break;
        case SL_CMD_STATS:      s_on_stats (self, identity, &cmd); break;
        case SL_CMD_DLQ_LIST:   s_on_dlq_list (self, identity, &cmd,
                                               self->trust && !peer->worker ? peer : NULL); break;
        case SL_CMD_DLQ_REPLAY: s_on_dlq_replay (self, identity, &cmd); break;
        case SL_CMD_EVENT:      s_on_event (self, &cmd, false); break;
        case SL_CMD_PUBLISH:    s_on_event (self, &cmd, true); break;
        case SL_CMD_HEARTBEAT:
        case SL_CMD_ACK:
        case SL_CMD_NACK:
        case SL_CMD_REPLY:
        case SL_CMD_CREDIT:
        case SL_CMD_BYE:        s_on_worker_cmd (self, identity, &cmd); break;
        default:
            s_reply_error (self, identity, cmd.corr, SL_ERR_MALFORMED, "command not accepted by broker");
    }
    sl_proto_clear (&cmd);
    zframe_destroy (&identity);
    return true;
}

//  Heartbeat every worker; bury the silent ones.
static void
s_heartbeat (broker_t *self)
{
    int64_t now = sl_mono_ms ();
    zlistx_t *dead = zlistx_new ();
    for (worker_t *w = zhashx_first (self->workers); w; w = zhashx_next (self->workers)) {
        if (w->expiry < now)
            zlistx_add_end (dead, w);
        else {
            sl_proto_t hb;
            sl_proto_init (&hb, SL_CMD_HEARTBEAT);
            s_send_to (self, w->identity, &hb);
        }
    }
    for (worker_t *w = zlistx_first (dead); w; w = zlistx_next (dead)) {
        sl_warn (NULL, "worker %s silent for %d ms: declared dead, re-queuing %lld message(s)",
                 w->name, self->cfg.heartbeat_ms * self->cfg.liveness, (long long) w->held);
        worker_t *victim = w;
        s_worker_destroy (self, &victim, true, "worker died while processing");
    }
    zlistx_destroy (&dead);
    //  Expire requests whose callers gave up, even with no worker to take them
    for (service_t *s = zhashx_first (self->services); s; s = zhashx_next (self->services))
        if (zlistx_size (s->queue) && zlistx_size (s->workers) == 0) {
            item_t *item = zlistx_first (s->queue);
            while (item) {
                item_t *next = zlistx_next (s->queue);
                int64_t dl = sl_envelope_deadline (item->env);
                if (dl && sl_now_ms () > dl) {
                    zlistx_delete (s->queue, item->queue_handle);
                    item->queue_handle = NULL;
                    s_dead_letter (self, item, "deadline exceeded before delivery");
                }
                item = next;
            }
        }
    self->heartbeat_at = now + self->cfg.heartbeat_ms;
}

//  ---------------------------------------------------------------------
//  Snapshot: queued, in-flight and dead messages survive a clean restart

static void
s_snapshot_save (broker_t *self)
{
    if (!self->cfg.snapshot_path)
        return;
    sl_mpw_t w;
    sl_mpw_init (&w);
    size_t n = 0;
    for (item_t *item = zhashx_first (self->items); item; item = zhashx_next (self->items))
        n += item->reply_to == NULL;
    msgpack_pack_array (&w.pk, n);
    for (item_t *item = zhashx_first (self->items); item; item = zhashx_next (self->items)) {
        if (item->reply_to)
            continue;           //  requests die with their callers' sockets
        char *data;
        size_t size;
        sl_envelope_encode (item->env, &data, &size);
        msgpack_pack_map (&w.pk, 3);
        sl_mpw_key (&w, "env");
        sl_mpw_bin (&w, data, size);
        sl_mpw_kv_bool (&w, "dead", item->dead);
        sl_mpw_kv_str (&w, "reason", item->reason);
        free (data);
    }
    char tmp [4096];
    snprintf (tmp, sizeof tmp, "%s.tmp", self->cfg.snapshot_path);
    FILE *file = fopen (tmp, "wb");
    if (!file || fwrite (w.buf.data, 1, w.buf.size, file) != w.buf.size
    ||  fflush (file) || fsync (fileno (file))) {
        sl_error (NULL, "cannot write broker snapshot %s: %s", tmp, strerror (errno));
        if (file)
            fclose (file);
    }
    else {
        fclose (file);
        rename (tmp, self->cfg.snapshot_path);
        sl_info (NULL, "broker snapshot: %zu message(s) saved to %s", n, self->cfg.snapshot_path);
    }
    sl_mpw_reset (&w);
}

static void
s_snapshot_load (broker_t *self)
{
    if (!self->cfg.snapshot_path)
        return;
    zchunk_t *chunk = NULL;
    FILE *file = fopen (self->cfg.snapshot_path, "rb");
    if (!file)
        return;
    chunk = zchunk_read (file, 1u << 30);
    fclose (file);
    char err [256];
    sl_mp_t *mp = chunk ? sl_mp_decode (zchunk_data (chunk), zchunk_size (chunk), err, sizeof err) : NULL;
    const msgpack_object *root = mp ? sl_mp_root (mp) : NULL;
    if (!root || root->type != MSGPACK_OBJECT_ARRAY) {
        sl_error (NULL, "broker snapshot %s unreadable: kept aside as .bad", self->cfg.snapshot_path);
        char bad [4096];
        snprintf (bad, sizeof bad, "%s.bad", self->cfg.snapshot_path);
        rename (self->cfg.snapshot_path, bad);
    }
    else {
        size_t loaded = 0;
        for (uint32_t i = 0; i < root->via.array.size; i++) {
            const msgpack_object *entry = &root->via.array.ptr [i];
            const char *data;
            size_t size;
            if (sl_mp_bytes (sl_mp_get (entry, "env"), &data, &size))
                continue;
            sl_envelope_t *env = sl_envelope_decode (data, size, 0, err, sizeof err);
            if (!env || !sl_envelope_service (env) || zhashx_lookup (self->items, sl_envelope_id (env))) {
                sl_envelope_destroy (&env);
                continue;
            }
            item_t *item = calloc (1, sizeof *item);
            assert (item);
            item->env = env;
            bool dead = false;
            sl_mp_bool (sl_mp_get (entry, "dead"), &dead);
            if (dead) {
                item->service = s_service_require (self, sl_envelope_service (env));
                zhashx_insert (self->items, sl_envelope_id (env), item);
                char reason [SL_REASON_MAX] = "";
                sl_mp_get_str (entry, "reason", reason, sizeof reason);
                item->dead = true;
                item->dead_ms = sl_now_ms ();
                snprintf (item->reason, sizeof item->reason, "%s", reason);
                item->dlq_handle = zlistx_add_end (self->dlq, item);
            }
            else
                s_enqueue (self, item, false);
            loaded++;
        }
        sl_info (NULL, "broker snapshot: %zu message(s) restored from %s", loaded,
                 self->cfg.snapshot_path);
        unlink (self->cfg.snapshot_path);
    }
    sl_mp_destroy (&mp);
    zchunk_destroy (&chunk);
}

//  ---------------------------------------------------------------------
//  Actor

static int
s_bind (zsock_t *sock, const char *endpoint, const sl_broker_config_t *cfg, int64_t max_msg_size)
{
    zmq_setsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &max_msg_size, sizeof max_msg_size);
    if (cfg->curve_secret) {
        zcert_t *cert = zcert_load (cfg->curve_secret);
        if (!cert) {
            sl_error (NULL, "cannot load CURVE secret certificate %s", cfg->curve_secret);
            return -1;
        }
        zcert_apply (cert, sock);
        zsock_set_curve_server (sock, 1);
        zsock_set_zap_domain (sock, "sluice");
        zcert_destroy (&cert);
    }
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        sl_error (NULL, "cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  The worker keys the trust accepts. In a pair the peer broker follows
//  our state socket with the broker key the pair shares, so that key is
//  accepted too (whoever holds it is the broker anyway). Caller frees.
static char *
s_pair_worker_keys (const sl_broker_config_t *cfg)
{
    const char *given = cfg->curve_workers ? cfg->curve_workers : "";
    if (!cfg->pair)
        return strdup (given);
    zcert_t *cert = zcert_load (cfg->curve_secret);
    if (!cert)
        return strdup (given);
    char *keys = zsys_sprintf ("%s%s%s", given, *given ? "," : "", zcert_public_txt (cert));
    zcert_destroy (&cert);
    char *copy = strdup (keys);
    zstr_free (&keys);
    return copy;
}

static void
s_broker_actor (zsock_t *pipe, void *args)
{
    sl_broker_t *outer = (sl_broker_t *) args;
    sl_log_set_role ("broker");
    broker_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = outer->cfg;
    self->pipe = pipe;
    self->router = zsock_new (ZMQ_ROUTER);
    self->pub = zsock_new (self->cfg.curve_secret ? ZMQ_XPUB : ZMQ_PUB);
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    zsock_set_rcvtimeo (self->router, 0);       //  see the drain loop below
    zsock_set_sndhwm (self->pub, 100000);
    zsock_set_linger (self->router, 0);
    zsock_set_linger (self->pub, 0);
    if (self->cfg.curve_secret) {
        //  Keys first, then the ZAP handler, then the sockets that use it
        char err [512];
        char *workers = s_pair_worker_keys (&self->cfg);
        self->trust = sl_trust_new (workers, self->cfg.curve_workers_dir,
                                    self->cfg.curve_clients, self->cfg.client_services, err, sizeof err);
        free (workers);
        if (self->trust && !(self->zap = sl_trust_zap_new (err, sizeof err)))
            sl_trust_destroy (&self->trust);
        if (!self->trust) {
            sl_error (NULL, "broker: %s", err);
            zsock_signal (pipe, 1);
            goto done;
        }
        zsock_set_xpub_manual (self->pub, 1);
        zsock_set_rcvtimeo (self->pub, 0);
        sl_info (NULL, "CURVE on: %zu worker key(s), %zu client key(s)", sl_trust_workers (self->trust),
                 sl_trust_clients (self->trust));
    }
    if (s_bind (self->router, self->cfg.endpoint, &self->cfg, self->cfg.max_msg_size)
    ||  s_bind (self->pub, self->cfg.pub_endpoint, &self->cfg, SUBSCRIPTION_MAX)
    ||  (self->cfg.pair && s_pair_start (self))) {
        zsock_signal (pipe, 1);
        goto done;
    }
    outer->endpoint = zsock_last_endpoint (self->router);
    outer->pub_endpoint = zsock_last_endpoint (self->pub);
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_destroy);
    self->workers = zhashx_new ();
    self->items = zhashx_new ();
    self->done = zhashx_new ();
    self->done_order = zlistx_new ();
    zlistx_set_destructor (self->done_order, (zlistx_destructor_fn *) zstr_free);
    self->dlq = zlistx_new ();
    self->jobs = zhashx_new ();
    self->started = sl_mono_ms ();
    sl_proto_t deliver;
    sl_proto_init (&deliver, SL_CMD_DELIVER);
    zmsg_t *encoded = sl_proto_encode (&deliver);
    self->deliver_header = zmsg_pop (encoded);
    zmsg_destroy (&encoded);
    self->heartbeat_at = sl_mono_ms () + self->cfg.heartbeat_ms;
    if (self->cfg.services) {
        char *list = strdup (self->cfg.services), *save = NULL;
        for (char *name = strtok_r (list, ",", &save); name; name = strtok_r (NULL, ",", &save))
            if (sl_envelope_name_valid (name))
                s_service_require (self, name);
        free (list);
    }
    s_snapshot_load (self);
    s_publish_stats (self, outer);
    sl_info (NULL, "broker listening on %s, events on %s", outer->endpoint, outer->pub_endpoint);
    zsock_signal (pipe, 0);

    zpoller_t *poller = zpoller_new (pipe, self->router, NULL);
    if (self->trust) {
        zpoller_add (poller, self->zap);
        zpoller_add (poller, self->pub);
    }
    if (self->bstar) {
        zpoller_add (poller, self->state_sub);
        if (self->state_monitor)
            zpoller_add (poller, self->state_monitor);
    }
    while (!self->terminated) {
        int64_t wait = self->heartbeat_at - sl_mono_ms ();
        void *which = zpoller_wait (poller, (int) (wait > 0 ? wait : 0));
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg ? zmsg_popstr (msg) : NULL;
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            zstr_free (&command);
            zmsg_destroy (&msg);
        }
        else
        if (which == self->router) {
            //  Drain what is ready before polling again: one poll per batch.
            //  The receive timeout is 0, so an empty router ends the batch
            //  (asking ZMQ_EVENTS before every message cost a tenth of the
            //  broker's time)
            for (int i = 0; i < 1000 && s_handle_router (self); i++)
                ;
        }
        else
        if (self->zap && which == self->zap)
            sl_trust_zap_handle (self->trust, self->zap);
        else
        if (self->trust && which == self->pub) {
            for (int i = 0; i < 1000 && s_handle_subscription (self); i++)
                ;
        }
        else
        if (self->bstar && which == self->state_sub)
            s_pair_on_state (self);
        else
        if (self->state_monitor && which == self->state_monitor)
            s_pair_on_monitor (self);
        else
        if (zpoller_terminated (poller))
            break;
        if (sl_mono_ms () >= self->heartbeat_at) {
            if (self->bstar)
                s_pair_publish (self);
            s_heartbeat (self);
            s_publish_stats (self, outer);
            if (self->trust)
                sl_trust_refresh (self->trust);
        }
    }
    zpoller_destroy (&poller);
    s_snapshot_save (self);

    for (worker_t *w = zhashx_first (self->workers); w; w = zhashx_first (self->workers)) {
        worker_t *victim = w;
        zhashx_delete (self->workers, victim->key);
        zframe_destroy (&victim->identity);
        free (victim->key);
        free (victim);
    }
    for (item_t *item = zhashx_first (self->items); item; item = zhashx_next (self->items))
        s_item_destroy (self, &item);
    zhashx_destroy (&self->items);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->services);
    zhashx_destroy (&self->done);
    zlistx_destroy (&self->done_order);
    zlistx_destroy (&self->dlq);
    zhashx_destroy (&self->jobs);
    zframe_destroy (&self->deliver_header);
done:
    if (self->bstar)
        s_pair_stop (self);
    zsock_destroy (&self->router);
    zsock_destroy (&self->pub);
    zsock_destroy (&self->zap);
    sl_trust_destroy (&self->trust);
    free (self);
}

//  Closed by default: without CURVE every peer may do everything, so only
//  endpoints this machine alone can reach are bound, unless told otherwise.
static int
s_check_exposure (const sl_broker_config_t *cfg)
{
    if (cfg->curve_secret)
        return 0;
    const char *endpoints [] = { cfg->endpoint, cfg->pub_endpoint, cfg->state_endpoint, cfg->peer };
    const char *names [] = { "broker.bind", "broker.events_bind", "broker.state_bind", "broker.peer" };
    for (int i = 0; i < 4; i++) {
        if (!endpoints [i] || sl_trust_endpoint_local (endpoints [i]))
            continue;
        if (!cfg->insecure) {
            sl_error (NULL, "refusing to bind %s (%s) without CURVE: anyone who can reach it could read, "
                      "change and delete every workspace's documents, register as a worker and receive "
                      "other callers' requests, and follow every job. Set curve.broker_secret with "
                      "curve.worker_keys or curve.workers_dir (and curve.client_keys for outside programs), "
                      "bind a loopback address, or, on a network you trust completely, set broker.insecure=true",
                      endpoints [i], names [i]);
            return -1;
        }
        sl_warn (NULL, "INSECURE: %s (%s) is bound without CURVE because broker.insecure=true: every peer "
                 "that can reach it is trusted with every workspace and may serve any stage",
                 endpoints [i], names [i]);
    }
    return 0;
}

//  A pair needs a role and both state endpoints
static int
s_check_pair (const sl_broker_config_t *cfg)
{
    if (!cfg->pair)
        return 0;
    if (!streq (cfg->pair, "primary") && !streq (cfg->pair, "backup")) {
        sl_error (NULL, "broker.pair is '%.40s': it must be 'primary' or 'backup' (or unset for a single "
                  "broker)", cfg->pair);
        return -1;
    }
    if (!cfg->state_endpoint || !*cfg->state_endpoint || !cfg->peer || !*cfg->peer) {
        sl_error (NULL, "broker.pair=%s needs broker.state_bind (where this broker tells its state) and "
                  "broker.peer (the other broker's state endpoint)", cfg->pair);
        return -1;
    }
    return 0;
}

sl_broker_t *
sl_broker_new (const sl_broker_config_t *cfg)
{
    assert (cfg && cfg->endpoint && cfg->pub_endpoint);
    if (s_check_pair (cfg) || s_check_exposure (cfg))
        return NULL;
    sl_broker_t *self = calloc (1, sizeof *self);
    assert (self);
    //  Own copies of the strings: callers often pass stack buffers, and the
    //  snapshot path is used again at shutdown
    self->cfg = *cfg;
    pthread_mutex_init (&self->stats_lock, NULL);
    const char **strings [] = { &self->cfg.endpoint, &self->cfg.pub_endpoint, &self->cfg.journal_service,
                                &self->cfg.snapshot_path, &self->cfg.curve_secret, &self->cfg.curve_clients,
                                &self->cfg.services, &self->cfg.curve_workers, &self->cfg.curve_workers_dir,
                                &self->cfg.client_services, &self->cfg.pair, &self->cfg.state_endpoint,
                                &self->cfg.peer };
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        if (*strings [i])
            *strings [i] = strdup (*strings [i]);
    self->actor = zactor_new (s_broker_actor, self);
    if (!self->actor) {
        free (self);
        return NULL;
    }
    if (!self->endpoint) {          //  bind failed: the actor signalled 1
        sl_broker_destroy (&self);
        return NULL;
    }
    return self;
}

void
sl_broker_destroy (sl_broker_t **self_p)
{
    if (*self_p) {
        sl_broker_t *self = *self_p;
        zactor_destroy (&self->actor);
        zstr_free (&self->endpoint);
        zstr_free (&self->pub_endpoint);
        free ((char *) self->cfg.endpoint);
        free ((char *) self->cfg.pub_endpoint);
        free ((char *) self->cfg.journal_service);
        free ((char *) self->cfg.snapshot_path);
        free ((char *) self->cfg.curve_secret);
        free ((char *) self->cfg.curve_clients);
        free ((char *) self->cfg.services);
        free ((char *) self->cfg.curve_workers);
        free ((char *) self->cfg.curve_workers_dir);
        free ((char *) self->cfg.client_services);
        free ((char *) self->cfg.pair);
        free ((char *) self->cfg.state_endpoint);
        free ((char *) self->cfg.peer);
        free (self->stats);
        pthread_mutex_destroy (&self->stats_lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
sl_broker_endpoint (sl_broker_t *self)
{
    return self->endpoint;
}

int
sl_broker_stats (sl_broker_t *self, char **data, size_t *size)
{
    pthread_mutex_lock (&self->stats_lock);
    *data = NULL;
    *size = 0;
    if (self->stats) {
        *data = malloc (self->stats_size);
        memcpy (*data, self->stats, self->stats_size);
        *size = self->stats_size;
    }
    pthread_mutex_unlock (&self->stats_lock);
    return *data ? 0 : -1;
}

const char *
sl_broker_pub_endpoint (sl_broker_t *self)
{
    return self->pub_endpoint;
}

int
sl_broker_run (const sl_broker_config_t *cfg)
{
    sl_broker_t *broker = sl_broker_new (cfg);
    if (!broker)
        return -1;
    while (!zsys_interrupted)
        zclock_sleep (100);
    sl_broker_destroy (&broker);
    return 0;
}
