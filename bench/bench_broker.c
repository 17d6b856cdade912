/*  bench_broker: reliable round trips per second through the Sluice broker,
    measured beside the two yardsticks the broker is judged against:

      sluice  SUBMIT → ACCEPTED → DELIVER → handler → ACK settled, through a
              real broker (sl_broker) and real workers (sl_worker), over
              inproc or tcp loopback; the handler only ACKs
      zmq     raw libzmq PUSH → PULL, one way, no acknowledgement: the
              ceiling no broker built on ZeroMQ can pass
      redis   a Redis list used as a "reliable queue", the thing people use
              instead: RPUSH q, then BLMOVE q processing + LREM processing
              as the acknowledgement

    Every message carries a 1 KiB payload (the envelope body for sluice, the
    whole message for zmq, the list value for redis). Each run prints one
    line on stdout,
        <mode> <settings> messages=N seconds=S msgs_per_sec=R
    which bench/broker.sh parses; diagnostics go to stderr. Every mode
    checks that all N messages arrived intact and exits non-zero otherwise,
    so a fast wrong answer is never reported as a figure. No timing is ever
    asserted: benchmarks report, tests assert.

    `--worker raw` swaps sl_worker for a one-thread worker speaking the
    protocol directly: a diagnostic that splits the broker's cost from the
    worker runtime's.

    Flow control is the same for sluice and redis: the producer keeps at
    most `window` messages between "sent" and "handled by a consumer", so
    neither queue grows without bound and both measure steady state.

    Usage:
      bench_broker sluice --transport inproc|tcp --workers W --messages N
                          [--credit C] [--window K] [--worker runtime|raw]
                          [--stage-events on|off]
      bench_broker zmq    --transport inproc|tcp --messages N
      bench_broker redis  --port P --messages N [--consumers W] [--window K]
                          [--batch B]
*/
#include "sl_broker.h"
#include "sl_client.h"
#include "sl_envelope.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_worker.h"

#include <czmq.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#define BODY_SIZE 1024

typedef struct {
    const char *mode;
    const char *transport;
    int workers;                //  sluice: workers; redis: consumers
    int credit;                 //  sluice: handler threads = credit per worker
    bool raw;                   //  sluice: protocol-level workers, no sl_worker
    bool inline_mode;           //  sluice: sl_worker with handlers on its actor thread
    bool stage_events;          //  sluice: runtime emits stage_started/completed
    long messages;
    long window;
    int port;
    int batch;                  //  redis: RPUSHes per pipelined batch
} opts_t;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_report (const char *mode, const char *settings, long messages, double seconds)
{
    printf ("%s %s messages=%ld seconds=%.3f msgs_per_sec=%.0f\n", mode, settings,
            messages, seconds, (double) messages / seconds);
    fflush (stdout);
}

//  A 1 KiB payload. For sluice it must be msgpack (envelope bodies are), so
//  it is one bin16 value: 3 header bytes + 1021 data bytes = 1024.
static void
s_payload (char buf [BODY_SIZE])
{
    buf [0] = (char) 0xc5;
    buf [1] = (char) ((BODY_SIZE - 3) >> 8);
    buf [2] = (char) ((BODY_SIZE - 3) & 0xff);
    for (int i = 3; i < BODY_SIZE; i++)
        buf [i] = (char) ('a' + i % 26);
}

//  ---------------------------------------------------------------------
//  sluice: broker + workers + a pipelining submitter, in one process

typedef struct {
    uint64_t handled;
    uint64_t bad;
} sink_t;

//  The handler does nothing but check the body and ACK: what is measured is
//  the broker and runtime, not work.
static sl_outcome_t
s_ack_handler (sl_ctx_t *ctx, void *state)
{
    sink_t *sink = (sink_t *) state;
    size_t size;
    sl_envelope_body (sl_ctx_envelope (ctx), &size);
    if (size != BODY_SIZE)
        __atomic_add_fetch (&sink->bad, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch (&sink->handled, 1, __ATOMIC_RELAXED);
    return SL_DONE;
}

//  A protocol-level worker (--raw): one thread, one DEALER, speaking
//  sl_proto directly and ACKing each delivery as soon as it is decoded. It
//  has no handler pool, so the figure it gives is the broker's own cost;
//  the gap to the sl_worker figure is the runtime's cost. Diagnostic only.
typedef struct {
    const char *endpoint;
    int credit;
    sink_t *sink;
    int stop;
    pthread_t thread;
} raw_worker_t;

static void *
s_raw_worker (void *args)
{
    raw_worker_t *self = (raw_worker_t *) args;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (sock, 100000);
    zsock_set_rcvhwm (sock, 100000);
    zsock_set_linger (sock, 0);
    zsock_connect (sock, "%s", self->endpoint);
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_READY);
    snprintf (cmd.name, sizeof cmd.name, "raw-%p", (void *) self);
    snprintf (cmd.svc [0], sizeof cmd.svc [0], "work");
    cmd.svc_count = 1;
    cmd.credit = self->credit;
    sl_proto_send (&cmd, sock);
    double heartbeat_at = s_now () + 0.5;
    while (!__atomic_load_n (&self->stop, __ATOMIC_RELAXED)) {
        zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 100);
        while (zsock_events (sock) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (sock);
            char err [256];
            if (!msg || sl_proto_decode (&msg, &cmd, err, sizeof err))
                continue;
            if (cmd.cmd == SL_CMD_DELIVER && cmd.frames && zmsg_first (cmd.frames)) {
                zframe_t *frame = zmsg_first (cmd.frames);
                sl_envelope_t *env = sl_envelope_decode (zframe_data (frame), zframe_size (frame),
                                                         0, err, sizeof err);
                size_t size = 0;
                if (env)
                    sl_envelope_body (env, &size);
                if (size != BODY_SIZE)
                    __atomic_add_fetch (&self->sink->bad, 1, __ATOMIC_RELAXED);
                sl_proto_t ack;
                sl_proto_init (&ack, SL_CMD_ACK);
                snprintf (ack.mid, sizeof ack.mid, "%s", env ? sl_envelope_id (env) : "");
                __atomic_add_fetch (&self->sink->handled, 1, __ATOMIC_RELAXED);
                sl_proto_send (&ack, sock);
                sl_envelope_destroy (&env);
            }
            sl_proto_clear (&cmd);
        }
        if (s_now () >= heartbeat_at) {
            sl_proto_init (&cmd, SL_CMD_HEARTBEAT);
            sl_proto_send (&cmd, sock);
            heartbeat_at = s_now () + 0.5;
        }
    }
    sl_proto_init (&cmd, SL_CMD_BYE);
    sl_proto_send (&cmd, sock);
    zsock_destroy (&sock);
    return NULL;
}

//  services.work.<field> from the broker's stats, or -1.
static int64_t
s_work_stat (sl_client_t *client, const char *field)
{
    char *data;
    size_t size;
    if (sl_client_stats (client, 5000, &data, &size, NULL) != SL_CLIENT_OK)
        return -1;
    int64_t value = -1;
    sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
    if (mp) {
        const msgpack_object *work = sl_mp_get (sl_mp_get (sl_mp_root (mp), "services"), "work");
        if (work)
            sl_mp_get_int (work, field, &value);
    }
    sl_mp_destroy (&mp);
    free (data);
    return value;
}

//  Send SUBMIT for message `index`. Ids are derived from the index so a
//  message refused with BUSY can be rebuilt and sent again as the same one.
static int
s_submit (zsock_t *dealer, sl_envelope_t *tmpl, uint64_t index)
{
    char id [SL_ID_LEN + 1];
    snprintf (id, sizeof id, "%032" PRIx64, index);
    if (sl_envelope_set_id (tmpl, id))
        return -1;
    char *data;
    size_t size;
    if (sl_envelope_encode (tmpl, &data, &size))
        return -1;
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_SUBMIT);
    snprintf (cmd.corr, sizeof cmd.corr, "%" PRIu64, index);
    cmd.frames = zmsg_new ();
    zmsg_addmem (cmd.frames, data, size);
    free (data);
    return sl_proto_send (&cmd, dealer);
}

static int
s_run_sluice (const opts_t *o)
{
    bool tcp = streq (o->transport, "tcp");
    sl_broker_config_t bcfg;
    sl_broker_config_defaults (&bcfg);
    bcfg.endpoint = tcp ? "tcp://127.0.0.1:*" : "inproc://bench-broker";
    bcfg.pub_endpoint = tcp ? "tcp://127.0.0.1:*" : "inproc://bench-events";
    sl_broker_t *broker = sl_broker_new (&bcfg);
    if (!broker) {
        fprintf (stderr, "sluice: cannot start broker on %s\n", bcfg.endpoint);
        return 1;
    }
    const char *endpoint = sl_broker_endpoint (broker);
    sink_t sink = { 0, 0 };
    sl_worker_t *workers [64] = { NULL };
    raw_worker_t raws [64];
    memset (raws, 0, sizeof raws);
    for (int i = 0; i < o->workers && o->raw; i++) {
        raws [i].endpoint = endpoint;
        raws [i].credit = o->credit;
        raws [i].sink = &sink;
        pthread_create (&raws [i].thread, NULL, s_raw_worker, &raws [i]);
    }
    for (int i = 0; i < o->workers && !o->raw; i++) {
        sl_worker_config_t wcfg;
        sl_worker_config_defaults (&wcfg);
        wcfg.service = "work";
        wcfg.broker = endpoint;
        wcfg.concurrency = o->inline_mode ? 0 : o->credit;
        wcfg.prefetch = o->inline_mode ? o->credit - 1 : 0;     //  same credit either way
        wcfg.handler = s_ack_handler;
        wcfg.stage_events = o->stage_events;
        wcfg.state = &sink;
        workers [i] = sl_worker_new (&wcfg);
    }
    sl_client_t *client = sl_client_new (endpoint, NULL, NULL);
    int rc = 1;
    //  Not timed: wait until every worker has announced itself with at
    //  least its handler count as credit (a runtime that prefetches may
    //  announce more)
    int64_t want_credit = (int64_t) o->workers * o->credit;
    double until = s_now () + 10;
    while ((s_work_stat (client, "workers") != o->workers
        ||  s_work_stat (client, "credit") < want_credit) && s_now () < until)
        zclock_sleep (10);
    if (s_work_stat (client, "workers") != o->workers) {
        fprintf (stderr, "sluice: %d worker(s) did not announce themselves within 10 s\n",
                 o->workers);
        goto done;
    }
    //  The submitter pipelines on its own DEALER, speaking sl_proto
    //  directly: sl_client_submit waits for each ACCEPTED, which would
    //  measure one round trip's latency instead of the broker's throughput.
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (dealer, 100000);
    zsock_set_rcvhwm (dealer, 100000);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", endpoint);
    sl_envelope_t *tmpl = sl_envelope_new ("bench", "bench-job", "bench");
    sl_envelope_set_route (tmpl, "work");
    char body [BODY_SIZE];
    s_payload (body);
    sl_envelope_set_body (tmpl, body, sizeof body);

    uint64_t n = (uint64_t) o->messages, sent = 0, accepted = 0, busy = 0, handled = 0;
    uint64_t *retry = malloc (n * sizeof *retry);   //  indices refused with BUSY
    size_t retries = 0;
    double t0 = s_now ();
    while (accepted < n || handled < n) {
        handled = __atomic_load_n (&sink.handled, __ATOMIC_RELAXED);
        while (retries > 0)
            if (s_submit (dealer, tmpl, retry [--retries])) {
                fprintf (stderr, "sluice: cannot send SUBMIT\n");
                goto stop;
            }
        while (sent < n && sent - handled < (uint64_t) o->window)
            if (s_submit (dealer, tmpl, sent++)) {
                fprintf (stderr, "sluice: cannot send SUBMIT\n");
                goto stop;
            }
        zmq_pollitem_t item = { zsock_resolve (dealer), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 1);
        while (zsock_events (dealer) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (dealer);
            sl_proto_t reply;
            char err [256];
            if (!msg || sl_proto_decode (&msg, &reply, err, sizeof err)) {
                fprintf (stderr, "sluice: bad reply from broker: %s\n", msg ? err : "none");
                goto stop;
            }
            if (reply.cmd == SL_CMD_ACCEPTED)
                accepted++;
            else
            if (reply.cmd == SL_CMD_BUSY) {
                busy++;
                retry [retries++] = strtoull (reply.corr, NULL, 10);
            }
            else {
                fprintf (stderr, "sluice: broker answered %s: %s\n",
                         sl_proto_cmd_name (reply.cmd), reply.reason);
                sl_proto_clear (&reply);
                goto stop;
            }
            sl_proto_clear (&reply);
        }
    }
    //  Every handler has run; the round trip ends when the broker has
    //  settled the last ACK (at most `credit` ACKs are still on their way)
    int64_t completed = 0;
    until = s_now () + 30;
    while ((completed = s_work_stat (client, "completed")) < (int64_t) n && s_now () < until)
        zclock_sleep (1);
    double seconds = s_now () - t0;
    int64_t redelivered = s_work_stat (client, "redelivered");
    uint64_t bad = __atomic_load_n (&sink.bad, __ATOMIC_RELAXED);
    fprintf (stderr, "sluice: accepted %" PRIu64 ", handled %" PRIu64 ", completed %" PRId64
             ", busy %" PRIu64 ", redelivered %" PRId64 ", bad bodies %" PRIu64 "\n",
             accepted, handled, completed, busy, redelivered, bad);
    if (completed != (int64_t) n || bad != 0)
        fprintf (stderr, "sluice: FAILED: expected %" PRIu64 " completed with intact bodies\n", n);
    else {
        char settings [128];
        snprintf (settings, sizeof settings, "transport=%s workers=%d%s%s credit=%d window=%ld",
                  o->transport, o->workers, o->raw ? " worker=raw" : o->inline_mode ? " worker=inline" : "",
                  o->stage_events ? " stage_events=on" : "", o->credit, o->window);
        s_report ("sluice", settings, o->messages, seconds);
        rc = 0;
    }
stop:
    free (retry);
    sl_envelope_destroy (&tmpl);
    zsock_destroy (&dealer);
done:
    sl_client_destroy (&client);
    for (int i = 0; i < o->workers; i++) {
        sl_worker_destroy (&workers [i]);
        if (o->raw) {
            __atomic_store_n (&raws [i].stop, 1, __ATOMIC_RELAXED);
            pthread_join (raws [i].thread, NULL);
        }
    }
    sl_broker_destroy (&broker);
    return rc;
}

//  ---------------------------------------------------------------------
//  zmq: raw PUSH → PULL, the ceiling

typedef struct {
    void *pull;
    long messages;
    long bad;
    int warm;                   //  set once the warm-up message arrived
    double t1;
} zrecv_t;

static void *
s_zmq_receiver (void *args)
{
    zrecv_t *self = (zrecv_t *) args;
    char buf [BODY_SIZE + 64];
    if (zmq_recv (self->pull, buf, sizeof buf, 0) != BODY_SIZE)
        self->bad++;
    __atomic_store_n (&self->warm, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < self->messages; i++)
        if (zmq_recv (self->pull, buf, sizeof buf, 0) != BODY_SIZE)
            self->bad++;
    self->t1 = s_now ();
    return NULL;
}

static int
s_run_zmq (const opts_t *o)
{
    bool tcp = streq (o->transport, "tcp");
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    if (zmq_bind (pull, tcp ? "tcp://127.0.0.1:*" : "inproc://bench-zmq")) {
        fprintf (stderr, "zmq: bind failed: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    char endpoint [256];
    size_t len = sizeof endpoint;
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len);
    zmq_connect (push, endpoint);
    zrecv_t recv = { .pull = pull, .messages = o->messages };
    pthread_t thread;
    pthread_create (&thread, NULL, s_zmq_receiver, &recv);
    char body [BODY_SIZE];
    s_payload (body);
    //  Not timed: connection set-up, proved by one message getting through
    zmq_send (push, body, sizeof body, 0);
    while (!__atomic_load_n (&recv.warm, __ATOMIC_ACQUIRE))
        usleep (100);
    double t0 = s_now ();
    for (long i = 0; i < o->messages; i++)
        zmq_send (push, body, sizeof body, 0);
    pthread_join (thread, NULL);
    int rc = 1;
    if (recv.bad)
        fprintf (stderr, "zmq: FAILED: %ld message(s) of the wrong size\n", recv.bad);
    else {
        char settings [64];
        snprintf (settings, sizeof settings, "transport=%s", o->transport);
        s_report ("zmq", settings, o->messages, recv.t1 - t0);
        rc = 0;
    }
    int linger = 0;
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  redis: a list as a reliable queue, with acknowledgements

typedef struct {
    int port;
    long messages;
    long acked;
    long bad;
    double t1;                  //  when the last acknowledgement landed
    int failed;
} rqueue_t;

static redisContext *
s_redis_connect (int port)
{
    redisContext *c = redisConnect ("127.0.0.1", port);
    if (!c || c->err) {
        fprintf (stderr, "redis: cannot connect to 127.0.0.1:%d: %s\n", port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree (c);
        return NULL;
    }
    return c;
}

//  One consumer: take a job atomically into `processing` (so a crash
//  leaves it there to be recovered), then LREM it as the acknowledgement.
//  Both are blocking round trips: that is how the pattern is used.
static void *
s_redis_consumer (void *args)
{
    rqueue_t *q = (rqueue_t *) args;
    redisContext *c = s_redis_connect (q->port);
    if (!c) {
        __atomic_store_n (&q->failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    while (__atomic_load_n (&q->acked, __ATOMIC_RELAXED) < q->messages
       && !__atomic_load_n (&q->failed, __ATOMIC_RELAXED)) {
        redisReply *job = redisCommand (c, "BLMOVE q processing LEFT LEFT 0.1");
        if (!job || job->type == REDIS_REPLY_ERROR) {
            fprintf (stderr, "redis: BLMOVE failed: %s (Redis >= 6.2 is needed)\n",
                     job ? job->str : c->errstr);
            __atomic_store_n (&q->failed, 1, __ATOMIC_RELAXED);
            if (job)
                freeReplyObject (job);
            break;
        }
        if (job->type == REDIS_REPLY_NIL) {
            freeReplyObject (job);
            continue;                   //  timed out: look at the counter again
        }
        if (job->type != REDIS_REPLY_STRING || job->len != BODY_SIZE)
            __atomic_add_fetch (&q->bad, 1, __ATOMIC_RELAXED);
        redisReply *ack = redisCommand (c, "LREM processing 1 %b", job->str, (size_t) job->len);
        if (!ack || ack->type != REDIS_REPLY_INTEGER || ack->integer != 1)
            __atomic_add_fetch (&q->bad, 1, __ATOMIC_RELAXED);
        if (ack)
            freeReplyObject (ack);
        freeReplyObject (job);
        if (__atomic_add_fetch (&q->acked, 1, __ATOMIC_RELAXED) == q->messages)
            q->t1 = s_now ();
    }
    redisFree (c);
    return NULL;
}

static long long
s_redis_int (redisContext *c, const char *command)
{
    redisReply *r = redisCommand (c, command);
    long long value = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject (r);
    return value;
}

static int
s_run_redis (const opts_t *o)
{
    redisContext *c = s_redis_connect (o->port);
    if (!c)
        return 1;
    s_redis_int (c, "DEL q processing");
    rqueue_t q = { .port = o->port, .messages = o->messages };
    pthread_t threads [64];
    for (int i = 0; i < o->workers; i++)
        pthread_create (&threads [i], NULL, s_redis_consumer, &q);
    char job [BODY_SIZE];
    s_payload (job);
    long pushed = 0;
    int rc = 1;
    double t0 = s_now ();
    //  Producer: pipelined RPUSH batches (one round trip per batch), never
    //  more than `window` jobs ahead of the acknowledgements
    while (pushed < o->messages && !__atomic_load_n (&q.failed, __ATOMIC_RELAXED)) {
        long room = o->window - (pushed - __atomic_load_n (&q.acked, __ATOMIC_RELAXED));
        if (room <= 0) {
            usleep (100);
            continue;
        }
        long k = room < o->batch ? room : o->batch;
        if (k > o->messages - pushed)
            k = o->messages - pushed;
        for (long i = 0; i < k; i++) {
            //  Unique values: LREM must find this job, not any identical one
            snprintf (job, 24, "%020ld", pushed + i);
            redisAppendCommand (c, "RPUSH q %b", job, (size_t) BODY_SIZE);
        }
        for (long i = 0; i < k; i++) {
            redisReply *r;
            if (redisGetReply (c, (void **) &r) != REDIS_OK || r->type != REDIS_REPLY_INTEGER) {
                fprintf (stderr, "redis: RPUSH failed: %s\n", r ? r->str : c->errstr);
                __atomic_store_n (&q.failed, 1, __ATOMIC_RELAXED);
                if (r)
                    freeReplyObject (r);
                break;
            }
            freeReplyObject (r);
        }
        pushed += k;
    }
    for (int i = 0; i < o->workers; i++)
        pthread_join (threads [i], NULL);
    long long left = s_redis_int (c, "LLEN q"), unacked = s_redis_int (c, "LLEN processing");
    fprintf (stderr, "redis: pushed %ld, acknowledged %ld, bad %ld, left in q %lld, in processing %lld\n",
             pushed, q.acked, q.bad, left, unacked);
    if (q.failed || q.acked != o->messages || q.bad || left != 0 || unacked != 0)
        fprintf (stderr, "redis: FAILED: expected %ld jobs acknowledged and both lists empty\n",
                 o->messages);
    else {
        char settings [96];
        snprintf (settings, sizeof settings, "consumers=%d window=%ld batch=%d", o->workers,
                  o->window, o->batch);
        s_report ("redis", settings, o->messages, q.t1 - t0);
        rc = 0;
    }
    s_redis_int (c, "DEL q processing");
    redisFree (c);
    return rc;
}

//  ---------------------------------------------------------------------

static int
s_usage (const char *why)
{
    fprintf (stderr, "bench_broker: %s\n"
        "usage: bench_broker sluice --transport inproc|tcp --workers W --messages N [--credit C] [--window K]\n"
        "                           [--worker runtime|raw] [--stage-events on|off]\n"
        "       bench_broker zmq --transport inproc|tcp --messages N\n"
        "       bench_broker redis --port P --messages N [--consumers W] [--window K] [--batch B]\n", why);
    return 2;
}

int
main (int argc, char **argv)
{
    opts_t o = { .transport = "inproc", .workers = 1, .credit = 8, .messages = 100000,
                 .window = 1000, .port = 6379, .batch = 100 };
    if (argc < 2)
        return s_usage ("no mode given");
    o.mode = argv [1];
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i], *val = i + 1 < argc ? argv [i + 1] : NULL;
        if (!val)
            return s_usage ("option without a value");
        if (streq (arg, "--transport"))
            o.transport = val;
        else if (streq (arg, "--workers") || streq (arg, "--consumers"))
            o.workers = atoi (val);
        else if (streq (arg, "--worker")) {
            if (!streq (val, "runtime") && !streq (val, "raw") && !streq (val, "inline"))
                return s_usage ("--worker must be runtime, inline or raw");
            o.raw = streq (val, "raw");
            o.inline_mode = streq (val, "inline");
        }
        else if (streq (arg, "--stage-events")) {
            if (!streq (val, "on") && !streq (val, "off"))
                return s_usage ("--stage-events must be on or off");
            o.stage_events = streq (val, "on");
        }
        else if (streq (arg, "--credit"))
            o.credit = atoi (val);
        else if (streq (arg, "--messages"))
            o.messages = atol (val);
        else if (streq (arg, "--window"))
            o.window = atol (val);
        else if (streq (arg, "--port"))
            o.port = atoi (val);
        else if (streq (arg, "--batch"))
            o.batch = atoi (val);
        else
            return s_usage ("unknown option");
        i++;
    }
    if (!streq (o.transport, "inproc") && !streq (o.transport, "tcp"))
        return s_usage ("--transport must be inproc or tcp");
    if (o.workers < 1 || o.workers > 64 || o.credit < 1 || o.messages < 1 || o.window < 1
    ||  o.batch < 1 || o.port < 1 || o.port > 65535)
        return s_usage ("workers 1..64, credit, messages, window, batch >= 1, port 1..65535");
    sl_log_set_level (SL_LOG_WARN);
    if (streq (o.mode, "sluice"))
        return s_run_sluice (&o);
    if (streq (o.mode, "zmq"))
        return s_run_zmq (&o);
    if (streq (o.mode, "redis"))
        return s_run_redis (&o);
    return s_usage ("mode must be sluice, zmq or redis");
}
