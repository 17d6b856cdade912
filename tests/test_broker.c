/*  test_broker: the broker and the actor runtime, end to end, over real
    ZeroMQ sockets (inproc and tcp on loopback) and real processes.

    Usage: test_broker CASE       run one case (ctest runs each separately)
           test_broker --worker ENDPOINT SERVICE MODE   (child process mode)
    Each case builds a broker, workers with trivial handlers, and clients,
    then asserts on what the sink worker (end of every route) received.
*/
#include "sl_broker.h"
#include "sl_client.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_worker.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); exit (1); } } while (0)

//  ---------------------------------------------------------------------
//  Sink: records every message that reaches the end of its route

typedef struct {
    pthread_mutex_t lock;
    zhashx_t *seen;             //  job id → count
    int total;
    int max_attempt;
} sink_t;

static sink_t s_sink;

static void
s_sink_reset (void)
{
    pthread_mutex_init (&s_sink.lock, NULL);
    zhashx_destroy (&s_sink.seen);
    s_sink.seen = zhashx_new ();
    s_sink.total = 0;
    s_sink.max_attempt = 0;
}

static sl_outcome_t
s_sink_handler (sl_ctx_t *ctx, void *state)
{
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    pthread_mutex_lock (&s_sink.lock);
    size_t n = (size_t) zhashx_lookup (s_sink.seen, sl_envelope_job (env));
    zhashx_update (s_sink.seen, sl_envelope_job (env), (void *) (n + 1));
    s_sink.total++;
    pthread_mutex_unlock (&s_sink.lock);
    return SL_DONE;
}

static int
s_sink_total (void)
{
    pthread_mutex_lock (&s_sink.lock);
    int n = s_sink.total;
    pthread_mutex_unlock (&s_sink.lock);
    return n;
}

//  Wait until the sink has seen `want` messages or timeout; returns total.
static int
s_sink_wait (int want, int timeout_ms)
{
    int64_t until = sl_mono_ms () + timeout_ms;
    while (s_sink_total () < want && sl_mono_ms () < until)
        zclock_sleep (10);
    zclock_sleep (50);          //  let duplicates, if any, arrive too
    return s_sink_total ();
}

static bool
s_sink_each_once (void)
{
    pthread_mutex_lock (&s_sink.lock);
    bool ok = true;
    for (void *n = zhashx_first (s_sink.seen); n; n = zhashx_next (s_sink.seen))
        if ((size_t) n != 1) {
            fprintf (stderr, "job %s reached the sink %zu times\n",
                     (const char *) zhashx_cursor (s_sink.seen), (size_t) n);
            ok = false;
        }
    pthread_mutex_unlock (&s_sink.lock);
    return ok;
}

//  ---------------------------------------------------------------------
//  Trivial stage handlers

typedef struct {
    int sleep_ms;
    volatile int running;
    volatile int max_running;
    volatile int handled;
    volatile int fail_until;    //  NACK-retry while handled < fail_until
    pthread_mutex_t lock;
    char by_worker [8][32];
} stage_t;

static sl_outcome_t
s_stage_handler (sl_ctx_t *ctx, void *state)
{
    stage_t *stage = (stage_t *) state;
    pthread_mutex_lock (&stage->lock);
    stage->running++;
    if (stage->running > stage->max_running)
        stage->max_running = stage->running;
    int handled = stage->handled++;
    pthread_mutex_unlock (&stage->lock);
    if (stage->sleep_ms)
        zclock_sleep (stage->sleep_ms);
    sl_ctx_progress (ctx, 100, "done by %s", sl_ctx_service (ctx));
    pthread_mutex_lock (&stage->lock);
    stage->running--;
    pthread_mutex_unlock (&stage->lock);
    if (handled < stage->fail_until) {
        sl_ctx_set_error (ctx, "induced failure %d", handled);
        return SL_RETRY;
    }
    size_t size;
    const void *body = sl_envelope_body (sl_ctx_envelope (ctx), &size);
    sl_ctx_forward (ctx, NULL, body, size);
    return SL_DONE;
}

static sl_worker_t *
s_worker (const char *endpoint, const char *service, int concurrency, sl_handler_fn *fn, void *state)
{
    sl_worker_config_t cfg;
    sl_worker_config_defaults (&cfg);
    cfg.broker = endpoint;
    cfg.service = service;
    cfg.concurrency = concurrency;
    cfg.handler = fn;
    cfg.state = state;
    cfg.heartbeat_ms = 100;
    cfg.liveness = 3;
    cfg.reconnect_max_ms = 500;
    return sl_worker_new (&cfg);
}

static sl_broker_t *
s_broker (const char *endpoint, const char *pub, size_t queue_limit, const char *snapshot)
{
    sl_broker_config_t cfg;
    sl_broker_config_defaults (&cfg);
    cfg.endpoint = endpoint;
    cfg.pub_endpoint = pub;
    cfg.heartbeat_ms = 100;
    cfg.liveness = 3;
    if (queue_limit)
        cfg.queue_limit = queue_limit;
    cfg.snapshot_path = snapshot;
    return sl_broker_new (&cfg);
}

static sl_envelope_t *
s_job (const char *route, int n)
{
    char job [32];
    snprintf (job, sizeof job, "job-%d", n);
    sl_envelope_t *env = sl_envelope_new ("test", job, "ws");
    sl_envelope_set_route (env, route);
    char body [1024];
    memset (body, 'x', sizeof body);
    sl_envelope_set_body (env, body, sizeof body);
    return env;
}

static void
s_submit_n (sl_client_t *client, const char *route, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        sl_envelope_t *env = s_job (route, i);
        sl_client_result_t res;
        CHECK (sl_client_submit (client, env, 2000, &res) == SL_CLIENT_OK);
        CHECK (strcmp (res.mid, sl_envelope_id (env)) == 0);
        sl_envelope_destroy (&env);
    }
}

//  Read a number out of the broker's stats: services.<svc>.<field>
static int64_t
s_stat (sl_client_t *client, const char *svc, const char *field)
{
    char *data;
    size_t size;
    CHECK (sl_client_stats (client, 2000, &data, &size, NULL) == SL_CLIENT_OK);
    sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
    CHECK (mp);
    int64_t value = -1;
    if (svc)
        sl_mp_get_int (sl_mp_get (sl_mp_get (sl_mp_root (mp), "services"), svc), field, &value);
    else
        sl_mp_get_int (sl_mp_root (mp), field, &value);
    sl_mp_destroy (&mp);
    free (data);
    return value;
}

//  ---------------------------------------------------------------------
//  Child worker processes (for kill -9 and SIGTERM tests)

static pid_t
s_spawn_worker (const char *endpoint, const char *service, const char *mode)
{
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        execl ("/proc/self/exe", "test_broker", "--worker", endpoint, service, mode, (char *) NULL);
        _exit (127);
    }
    return pid;
}

static int
s_child_worker (const char *endpoint, const char *service, const char *mode)
{
    //  Signals are taken by sigwait below, not by whichever thread they hit
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    zsys_handler_set (NULL);
    static stage_t stage = { .lock = PTHREAD_MUTEX_INITIALIZER };
    stage.sleep_ms = streq (mode, "slow") ? 1500 : 0;
    sl_worker_t *worker = s_worker (endpoint, service, 2, s_stage_handler, &stage);
    int sig;
    sigwait (&set, &sig);
    sl_worker_destroy (&worker);        //  drain: finish in-flight, BYE
    return 0;
}

//  ---------------------------------------------------------------------
//  Cases

static void
test_roundtrip (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://rt", "inproc://rt-pub", 0, NULL);
    CHECK (broker);
    stage_t a = { .lock = PTHREAD_MUTEX_INITIALIZER }, b = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_t *wa = s_worker ("inproc://rt", "alpha", 2, s_stage_handler, &a);
    sl_worker_t *wb = s_worker ("inproc://rt", "beta", 2, s_stage_handler, &b);
    sl_worker_t *ws = s_worker ("inproc://rt", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://rt", NULL, NULL);
    //  Live events by workspace/job
    CHECK (sl_client_subscribe (client, "inproc://rt-pub", "ws/job-7") == 0);
    zclock_sleep (100);
    s_submit_n (client, "alpha,beta,sink", 0, 50);
    CHECK (s_sink_wait (50, 5000) == 50);
    CHECK (s_sink_each_once ());
    CHECK (a.handled == 50 && b.handled == 50);
    //  Only job-7's events arrive: one stage_progress from alpha, one from beta
    int events = 0;
    char topic [SL_TOPIC_MAX], *data;
    size_t size;
    while (sl_client_event (client, 300, topic, &data, &size) == 0) {
        CHECK (streq (topic, "ws/job-7"));
        sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
        char type [32];
        CHECK (mp && sl_mp_get_str (sl_mp_root (mp), "type", type, sizeof type) == 0);
        CHECK (streq (type, "stage_progress"));
        sl_mp_destroy (&mp);
        free (data);
        events++;
    }
    CHECK (events == 2);
    CHECK (s_stat (client, "alpha", "completed") == 50);
    CHECK (s_stat (client, "sink", "completed") == 50);
    CHECK (s_stat (client, "beta", "queued") == 0);
    CHECK (s_stat (client, "beta", "inflight") == 0);
    sl_client_destroy (&client);
    sl_worker_destroy (&wa);
    sl_worker_destroy (&wb);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  Inline handlers (concurrency 0) with prefetch: same guarantees, no
//  thread hand-off inside the worker
static void
test_inline_prefetch (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://inl", "inproc://inl-pub", 0, NULL);
    stage_t a = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_config_t cfg;
    sl_worker_config_defaults (&cfg);
    cfg.broker = "inproc://inl";
    cfg.service = "alpha";
    cfg.concurrency = 0;
    cfg.prefetch = 16;
    cfg.handler = s_stage_handler;
    cfg.state = &a;
    sl_worker_t *wa = sl_worker_new (&cfg);
    sl_worker_t *ws = s_worker ("inproc://inl", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://inl", NULL, NULL);
    zclock_sleep (100);
    //  Credit announced = 1 + prefetch
    CHECK (s_stat (client, "alpha", "credit") == 17);
    s_submit_n (client, "alpha,sink", 0, 200);
    CHECK (s_sink_wait (200, 5000) == 200);
    CHECK (s_sink_each_once ());
    CHECK (a.handled == 200 && a.max_running == 1);
    CHECK (sl_worker_handled (wa) == 200);
    sl_client_destroy (&client);
    sl_worker_destroy (&wa);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

static void
test_fairness (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://fair", "inproc://fair-pub", 0, NULL);
    stage_t st [3];
    sl_worker_t *w [3];
    for (int i = 0; i < 3; i++) {
        memset (&st [i], 0, sizeof st [i]);
        pthread_mutex_init (&st [i].lock, NULL);
        st [i].sleep_ms = 2;
        w [i] = s_worker ("inproc://fair", "work", 1, s_stage_handler, &st [i]);
    }
    sl_worker_t *ws = s_worker ("inproc://fair", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://fair", NULL, NULL);
    zclock_sleep (200);             //  all three announced
    s_submit_n (client, "work,sink", 0, 300);
    CHECK (s_sink_wait (300, 10000) == 300);
    for (int i = 0; i < 3; i++) {
        printf ("worker %d handled %d\n", i, st [i].handled);
        CHECK (st [i].handled >= 70 && st [i].handled <= 130);
    }
    sl_client_destroy (&client);
    for (int i = 0; i < 3; i++)
        sl_worker_destroy (&w [i]);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

static void
test_credit (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://credit", "inproc://credit-pub", 0, NULL);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 20 };
    sl_worker_t *w = s_worker ("inproc://credit", "work", 3, s_stage_handler, &st);
    sl_worker_t *ws = s_worker ("inproc://credit", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://credit", NULL, NULL);
    zclock_sleep (100);
    s_submit_n (client, "work,sink", 0, 60);
    //  While work is pending the broker holds the rest: in flight ≤ credit
    zclock_sleep (50);
    int64_t inflight = s_stat (client, "work", "inflight");
    int64_t queued = s_stat (client, "work", "queued");
    printf ("inflight %lld queued %lld\n", (long long) inflight, (long long) queued);
    CHECK (inflight <= 3 && inflight >= 1);
    CHECK (queued > 0);
    CHECK (s_sink_wait (60, 10000) == 60);
    CHECK (st.max_running == 3);    //  used its credit, never more
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  A real worker process is kill -9'd while it holds messages; they are
//  redelivered to another worker with attempt+1 and complete exactly once.
static void
test_redelivery_kill (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, NULL);
    CHECK (broker);
    const char *ep = sl_broker_endpoint (broker);
    sl_worker_t *ws = s_worker (ep, "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new (ep, NULL, NULL);
    pid_t child = s_spawn_worker (ep, "work", "slow");
    //  Wait until the child process has announced itself
    for (int i = 0; i < 100 && s_stat (client, "work", "workers") != 1; i++)
        zclock_sleep (50);
    CHECK (s_stat (client, "work", "workers") == 1);
    s_submit_n (client, "work,sink", 0, 2);
    for (int i = 0; i < 100 && s_stat (client, "work", "inflight") != 2; i++)
        zclock_sleep (20);
    CHECK (s_stat (client, "work", "inflight") == 2);
    CHECK (kill (child, SIGKILL) == 0);
    int status;
    waitpid (child, &status, 0);
    CHECK (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    //  A second worker, in this process, takes over
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_t *w2 = s_worker (ep, "work", 2, s_stage_handler, &st);
    CHECK (s_sink_wait (2, 5000) == 2);
    CHECK (s_sink_each_once ());
    CHECK (st.handled == 2);
    CHECK (s_stat (client, "work", "redelivered") == 2);
    sl_client_destroy (&client);
    sl_worker_destroy (&w2);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  The same death noticed another way: the broker tries to deliver more
//  work to the killed worker before its heartbeats are missed, and the
//  send fails. What it held still counts an attempt (a document that kills
//  its worker must reach the DLQ); the message that never reached it does
//  not.
static void
test_redelivery_unreachable (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, NULL);
    CHECK (broker);
    const char *ep = sl_broker_endpoint (broker);
    sl_worker_t *ws = s_worker (ep, "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new (ep, NULL, NULL);
    pid_t child = s_spawn_worker (ep, "work", "slow");
    for (int i = 0; i < 100 && s_stat (client, "work", "workers") != 1; i++)
        zclock_sleep (50);
    CHECK (s_stat (client, "work", "workers") == 1);
    s_submit_n (client, "work,sink", 0, 1);
    for (int i = 0; i < 100 && s_stat (client, "work", "inflight") != 1; i++)
        zclock_sleep (20);
    CHECK (kill (child, SIGKILL) == 0);
    int status;
    waitpid (child, &status, 0);
    zclock_sleep (20);              //  the broker's side of the connection closes
    s_submit_n (client, "work,sink", 1, 1);   //  the dead worker still has credit
    CHECK (s_stat (client, "work", "workers") == 0);
    CHECK (s_stat (client, "work", "queued") == 2);
    CHECK (s_stat (client, "work", "redelivered") == 1);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_t *w2 = s_worker (ep, "work", 2, s_stage_handler, &st);
    CHECK (s_sink_wait (2, 5000) == 2);
    CHECK (s_sink_each_once ());
    CHECK (s_stat (client, "work", "redelivered") == 1);
    sl_client_destroy (&client);
    sl_worker_destroy (&w2);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

static void
test_dlq_replay (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://dlq", "inproc://dlq-pub", 0, NULL);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER, .fail_until = 3 };
    sl_worker_t *w = s_worker ("inproc://dlq", "work", 1, s_stage_handler, &st);
    sl_worker_t *ws = s_worker ("inproc://dlq", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://dlq", NULL, NULL);
    CHECK (sl_client_subscribe (client, "inproc://dlq-pub", "ws/job-1") == 0);
    zclock_sleep (100);
    s_submit_n (client, "work,sink", 1, 1);         //  max_attempts 3: all three fail
    int64_t until = sl_mono_ms () + 5000;
    while (s_stat (client, NULL, "dlq") != 1 && sl_mono_ms () < until)
        zclock_sleep (20);
    CHECK (s_stat (client, NULL, "dlq") == 1);
    CHECK (st.handled == 3);
    CHECK (s_sink_total () == 0);
    //  The failure was announced on the job's topic with its reason
    bool announced = false;
    char topic [SL_TOPIC_MAX], *data;
    size_t size;
    while (!announced && sl_client_event (client, 1000, topic, &data, &size) == 0) {
        sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
        char type [32] = "", reason [256] = "";
        sl_mp_get_str (sl_mp_root (mp), "type", type, sizeof type);
        sl_mp_get_str (sl_mp_root (mp), "reason", reason, sizeof reason);
        if (streq (type, "dead_letter")) {
            CHECK (strstr (reason, "induced failure 2"));
            announced = true;
        }
        sl_mp_destroy (&mp);
        free (data);
    }
    CHECK (announced);
    //  Listed with its reason and attempts
    CHECK (sl_client_dlq_list (client, 10, 2000, &data, &size, NULL) == SL_CLIENT_OK);
    sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
    const msgpack_object *list = sl_mp_root (mp);
    CHECK (list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 1);
    char mid [65], job [65];
    int64_t attempts;
    CHECK (sl_mp_get_str (&list->via.array.ptr [0], "mid", mid, sizeof mid) == 0);
    CHECK (sl_mp_get_str (&list->via.array.ptr [0], "job", job, sizeof job) == 0 && streq (job, "job-1"));
    CHECK (sl_mp_get_int (&list->via.array.ptr [0], "attempts", &attempts) == 0 && attempts == 3);
    sl_mp_destroy (&mp);
    free (data);
    //  Replay: the handler now succeeds
    sl_client_result_t res;
    CHECK (sl_client_dlq_replay (client, "nonexistent", 2000, &res) == SL_CLIENT_ERROR);
    CHECK (res.code == 404);
    CHECK (sl_client_dlq_replay (client, mid, 2000, &res) == SL_CLIENT_OK);
    CHECK (s_sink_wait (1, 5000) == 1);
    CHECK (s_stat (client, NULL, "dlq") == 0);
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

static void
test_busy (void)
{
    sl_broker_t *broker = s_broker ("inproc://busy", "inproc://busy-pub", 5, NULL);
    sl_client_t *client = sl_client_new ("inproc://busy", NULL, NULL);
    s_submit_n (client, "nobody", 0, 5);
    sl_envelope_t *env = s_job ("nobody", 99);
    sl_client_result_t res;
    CHECK (sl_client_submit (client, env, 2000, &res) == SL_CLIENT_BUSY);
    CHECK (res.retry_ms > 0 && res.depth == 5 && streq (res.service, "nobody"));
    CHECK (s_stat (client, "nobody", "busy") == 1);
    CHECK (s_stat (client, "nobody", "queued") == 5);
    //  Once a worker drains the queue, the same submit is accepted
    s_sink_reset ();
    sl_worker_t *ws = s_worker ("inproc://busy", "nobody", 4, s_sink_handler, NULL);
    CHECK (s_sink_wait (5, 5000) == 5);
    CHECK (sl_client_submit (client, env, 2000, &res) == SL_CLIENT_OK);
    CHECK (s_sink_wait (6, 5000) == 6);
    sl_envelope_destroy (&env);
    sl_worker_destroy (&ws);
    sl_client_destroy (&client);
    sl_broker_destroy (&broker);
}

//  SIGTERM to a real worker process: what it started finishes and is
//  ACKed, what it held but had not started goes back, nothing is lost and
//  nothing counts as a failed attempt.
static void
test_drain_sigterm (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, NULL);
    const char *ep = sl_broker_endpoint (broker);
    sl_worker_t *ws = s_worker (ep, "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new (ep, NULL, NULL);
    pid_t child = s_spawn_worker (ep, "work", "slow");
    for (int i = 0; i < 100 && s_stat (client, "work", "workers") != 1; i++)
        zclock_sleep (50);
    s_submit_n (client, "work,sink", 0, 6);
    //  Two in progress before the signal (a loaded machine can take a
    //  while to get there: wait for it rather than signal too early)
    for (int i = 0; i < 500 && s_stat (client, "work", "inflight") != 2; i++)
        zclock_sleep (20);
    CHECK (s_stat (client, "work", "inflight") == 2);
    CHECK (kill (child, SIGTERM) == 0);
    int status;
    waitpid (child, &status, 0);
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  The two in progress completed during the drain
    CHECK (s_sink_wait (2, 10000) == 2);
    //  The child's BYE and this client's question reach the broker on two
    //  sockets: on a loaded machine the question can come first
    for (int i = 0; i < 250 && s_stat (client, "work", "workers") != 0; i++)
        zclock_sleep (20);
    CHECK (s_stat (client, "work", "workers") == 0);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_t *w2 = s_worker (ep, "work", 2, s_stage_handler, &st);
    CHECK (s_sink_wait (6, 15000) == 6);
    CHECK (s_sink_each_once ());
    CHECK (st.handled == 4);
    CHECK (s_stat (client, "work", "redelivered") == 0);
    CHECK (s_stat (client, NULL, "dlq") == 0);
    sl_client_destroy (&client);
    sl_worker_destroy (&w2);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  A broker stopped cleanly keeps its queue; workers reconnect to the new
//  broker on their own.
static void
test_broker_restart (void)
{
    s_sink_reset ();
    char dir [] = "/tmp/sl_broker_test_XXXXXX";
    CHECK (mkdtemp (dir));
    char snapshot [128];
    snprintf (snapshot, sizeof snapshot, "%s/broker.snapshot", dir);
    //  Fixed ports (the restarted broker must come back on the same ones):
    //  try until a free pair is found
    char ep [64], pub [64];
    sl_broker_t *broker = NULL;
    for (int attempt = 0; attempt < 50 && !broker; attempt++) {
        int port = 31500 + (int) ((getpid () * 7919 + attempt * 104729) % 1200);
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
        snprintf (pub, sizeof pub, "tcp://127.0.0.1:%d", port + 1);
        broker = s_broker (ep, pub, 0, snapshot);
    }
    CHECK (broker);
    sl_worker_t *ws = s_worker (ep, "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new (ep, NULL, NULL);
    s_submit_n (client, "later,sink", 0, 3);      //  nobody serves "later" yet
    s_submit_n (client, "sink", 10, 2);
    CHECK (s_sink_wait (2, 3000) == 2);
    sl_broker_destroy (&broker);                  //  snapshot written
    zclock_sleep (300);
    broker = s_broker (ep, pub, 0, snapshot);
    CHECK (broker);
    CHECK (s_stat (client, "later", "queued") == 3);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER };
    sl_worker_t *w = s_worker (ep, "later", 1, s_stage_handler, &st);
    //  The sink worker reconnected by itself (it was started before)
    CHECK (s_sink_wait (5, 8000) == 5);
    CHECK (s_sink_each_once ());
    sl_worker_destroy (&w);
    sl_client_destroy (&client);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
    char cmd [160];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK (system (cmd) == 0);
}

static void
test_malformed (void)
{
    sl_broker_t *broker = s_broker ("inproc://bad", "inproc://bad-pub", 0, NULL);
    zsock_t *raw = zsock_new_dealer ("inproc://bad");
    //  Garbage, a wrong tag, a SUBMIT without envelope, a SUBMIT with junk
    const char *junk [] = { "\xc1", "hello", "\x82\xa1p\xa4SLP1\xa1" "c\x07" };
    for (int i = 0; i < 3; i++) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, junk [i], strlen (junk [i]));
        if (i == 2)
            zmsg_addstr (msg, "not an envelope");
        zmsg_send (&msg, raw);
        msg = zmsg_recv (raw);
        CHECK (msg);
        sl_proto_t reply;
        char err [256];
        CHECK (sl_proto_decode (&msg, &reply, err, sizeof err) == 0);
        CHECK (reply.cmd == SL_CMD_ERROR && reply.code == SL_ERR_MALFORMED);
        printf ("rejected: %s\n", reply.reason);
        sl_proto_clear (&reply);
    }
    zsock_destroy (&raw);
    //  Still serving
    sl_client_t *client = sl_client_new ("inproc://bad", NULL, NULL);
    CHECK (s_stat (client, NULL, "malformed") == 3);
    sl_client_destroy (&client);
    sl_broker_destroy (&broker);
}

static sl_outcome_t
s_answer_handler (sl_ctx_t *ctx, void *state)
{
    const msgpack_object *body = sl_ctx_body (ctx);
    char q [64] = "";
    sl_mp_get_str (body, "q", q, sizeof q);
    char answer [128];
    int n = snprintf (answer, sizeof answer, "answer to %s", q);
    sl_ctx_reply (ctx, answer, (size_t) n);
    return SL_DONE;
}

static void
test_request_reply (void)
{
    sl_broker_t *broker = s_broker ("inproc://req", "inproc://req-pub", 0, NULL);
    sl_worker_t *w = s_worker ("inproc://req", "ask", 2, s_answer_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://req", NULL, NULL);
    zclock_sleep (100);
    sl_envelope_t *env = sl_envelope_new ("question", NULL, "ws");
    sl_envelope_set_route (env, "ask");
    sl_envelope_set_body (env, "\x81\xa1q\xa2hi", 6);
    char *reply;
    size_t size;
    sl_client_result_t res;
    for (int i = 0; i < 20; i++) {
        CHECK (sl_client_request (client, env, 2000, &reply, &size, &res) == SL_CLIENT_OK);
        CHECK (size == 12 && memcmp (reply, "answer to hi", 12) == 0);
        free (reply);
    }
    sl_envelope_set_route (env, "nobody");
    CHECK (sl_client_request (client, env, 1000, &reply, &size, &res) == SL_CLIENT_ERROR);
    CHECK (res.code == SL_ERR_NO_SERVICE && strstr (res.reason, "nobody"));
    sl_envelope_destroy (&env);
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_broker_destroy (&broker);
}

//  A worker stopped the moment it started (what a process does when a
//  later actor fails to start): every handler thread is stopped and joined
//  before the worker's memory goes, then the next one still works. This
//  used to free the worker under handlers that had not said "I" yet.
static void
test_stop_at_once (void)
{
    sl_broker_t *broker = s_broker ("inproc://once", "inproc://once-pub", 0, NULL);
    for (int i = 0; i < 40; i++) {
        sl_worker_t *w = s_worker ("inproc://once", "stage", 4, s_sink_handler, NULL);
        sl_worker_destroy (&w);
        CHECK (w == NULL);
    }
    s_sink_reset ();
    sl_worker_t *w = s_worker ("inproc://once", "stage", 4, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://once", NULL, NULL);
    s_submit_n (client, "stage", 0, 20);
    int64_t deadline = zclock_mono () + 5000;
    while (s_sink_total () < 20 && zclock_mono () < deadline)
        zclock_sleep (20);
    CHECK (s_sink_total () == 20);
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_broker_destroy (&broker);
}

//  ---------------------------------------------------------------------
//  Liveness: a job that waits is not a job that is lost

static sl_client_rc_t
s_submit_job (sl_client_t *client, const char *route, int n, bool if_absent, sl_client_result_t *res)
{
    sl_envelope_t *env = s_job (route, n);
    sl_client_rc_t rc = if_absent ? sl_client_submit_if_absent (client, env, 2000, res)
                                  : sl_client_submit (client, env, 2000, res);
    sl_envelope_destroy (&env);
    return rc;
}

//  SUBMIT ifabsent queues a job's message only while the broker holds no
//  live one of that job: queued and in flight count, events and dead
//  letters do not, and the ACK that forwards a successor keeps the job live
//  throughout. A plain SUBMIT is unchanged.
static void
test_submit_ifabsent (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://ifa", "inproc://ifa-pub", 0, NULL);
    sl_client_t *client = sl_client_new ("inproc://ifa", NULL, NULL);
    sl_client_result_t res;
    //  Nobody serves "work" yet: job-1's message waits in the queue
    CHECK (s_submit_job (client, "work,sink", 1, true, &res) == SL_CLIENT_OK);
    CHECK (s_submit_job (client, "work,sink", 1, true, &res) == SL_CLIENT_ERROR);
    CHECK (res.code == SL_ERR_HELD && strstr (res.reason, "job-1"));
    CHECK (s_submit_job (client, "work,sink", 2, true, &res) == SL_CLIENT_OK);
    CHECK (s_stat (client, "work", "held") == 1);
    CHECK (s_stat (client, "work", "submitted") == 2);
    CHECK (s_stat (client, NULL, "jobs") == 2);
    //  An event about job-3 is not job-3's pipeline message
    sl_envelope_t *event = sl_envelope_new ("event", "job-3", "ws");
    sl_envelope_set_route (event, "journal");
    CHECK (sl_client_submit (client, event, 2000, &res) == SL_CLIENT_OK);
    sl_envelope_destroy (&event);
    CHECK (s_stat (client, NULL, "jobs") == 2);
    //  A dead letter is not live either: job-4 dead-letters at once
    sl_envelope_t *doomed = s_job ("flaky", 4);
    sl_envelope_set_max_attempts (doomed, 1);
    CHECK (sl_client_submit (client, doomed, 2000, &res) == SL_CLIENT_OK);
    sl_envelope_destroy (&doomed);
    stage_t flaky = { .lock = PTHREAD_MUTEX_INITIALIZER, .fail_until = 1000 };
    sl_worker_t *wf = s_worker ("inproc://ifa", "flaky", 1, s_stage_handler, &flaky);
    int64_t until = sl_mono_ms () + 5000;
    while (s_stat (client, NULL, "dlq") != 1 && sl_mono_ms () < until)
        zclock_sleep (20);
    CHECK (s_stat (client, NULL, "dlq") == 1);
    CHECK (s_stat (client, NULL, "jobs") == 2);
    //  Slow workers: while job-1 is in flight at work, or forwarded to the
    //  sink, it is held; the ACK moves it from one to the other in one step
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 300 };
    sl_worker_t *w = s_worker ("inproc://ifa", "work", 1, s_stage_handler, &st);
    sl_worker_t *ws = s_worker ("inproc://ifa", "sink", 1, s_sink_handler, NULL);
    until = sl_mono_ms () + 5000;
    while (s_stat (client, "work", "inflight") != 1 && sl_mono_ms () < until)
        zclock_sleep (5);
    CHECK (s_submit_job (client, "work,sink", 1, true, &res) == SL_CLIENT_ERROR && res.code == SL_ERR_HELD);
    CHECK (s_sink_wait (2, 5000) == 2);
    CHECK (s_sink_each_once ());
    CHECK (s_stat (client, NULL, "jobs") == 0);
    //  Done: job-1 may be sent again (this is what a re-driver does)
    CHECK (s_submit_job (client, "work,sink", 1, true, &res) == SL_CLIENT_OK);
    CHECK (s_sink_wait (3, 5000) == 3);
    //  A plain SUBMIT is not conditional: two messages of job-5
    CHECK (s_submit_job (client, "work,sink", 5, false, &res) == SL_CLIENT_OK);
    sl_envelope_t *twin = s_job ("work,sink", 5);
    CHECK (sl_client_submit (client, twin, 2000, &res) == SL_CLIENT_OK);
    sl_envelope_destroy (&twin);
    CHECK (s_sink_wait (5, 5000) == 5);
    CHECK (s_stat (client, "work", "held") == 2);
    sl_client_destroy (&client);
    sl_worker_destroy (&wf);
    sl_worker_destroy (&w);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  A handler that runs far longer than the liveness window (a 2,000-page
//  parse) keeps its message: the worker's actor thread heartbeats while
//  the handler thread works, and the broker has no delivery deadline. No
//  redelivery, no second run.
static void
test_long_handler (void)
{
    s_sink_reset ();
    sl_broker_t *broker = s_broker ("inproc://long", "inproc://long-pub", 0, NULL);
    //  Liveness window 300 ms; each handler runs 2 s
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 2000 };
    sl_worker_t *w = s_worker ("inproc://long", "work", 2, s_stage_handler, &st);
    sl_worker_t *ws = s_worker ("inproc://long", "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new ("inproc://long", NULL, NULL);
    zclock_sleep (100);
    s_submit_n (client, "work,sink", 0, 3);
    CHECK (s_sink_wait (3, 10000) == 3);
    CHECK (s_sink_each_once ());
    CHECK (st.handled == 3);
    CHECK (s_stat (client, "work", "redelivered") == 0);
    CHECK (s_stat (client, "work", "workers") == 1);
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

//  The broker dies without a snapshot while a worker holds job-1's message.
//  The new broker knows nothing, so the job is re-driven (SUBMIT ifabsent
//  is accepted); then the worker finishes the old message and ACKs it to
//  the new broker. That ACK is honoured, but its successor is dropped: the
//  job already has a live message, and two would run it twice.
static void
test_orphan_ack (void)
{
    s_sink_reset ();
    char ep [64], pub [64];
    sl_broker_t *broker = NULL;
    for (int attempt = 0; attempt < 50 && !broker; attempt++) {
        int port = 31500 + (int) ((getpid () * 7919 + attempt * 104729) % 1200);
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
        snprintf (pub, sizeof pub, "tcp://127.0.0.1:%d", port + 1);
        broker = s_broker (ep, pub, 0, NULL);
    }
    CHECK (broker);
    stage_t st = { .lock = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 1500 };
    sl_worker_t *w = s_worker (ep, "work", 1, s_stage_handler, &st);
    sl_worker_t *ws = s_worker (ep, "sink", 1, s_sink_handler, NULL);
    sl_client_t *client = sl_client_new (ep, NULL, NULL);
    for (int i = 0; i < 100 && s_stat (client, "work", "workers") != 1; i++)
        zclock_sleep (20);
    sl_client_result_t res;
    CHECK (s_submit_job (client, "work,sink", 1, true, &res) == SL_CLIENT_OK);
    for (int i = 0; i < 100 && st.running == 0; i++)
        zclock_sleep (10);
    CHECK (st.running == 1);
    sl_broker_destroy (&broker);                  //  no snapshot: memory lost
    //  The port is released asynchronously: retry the bind for a while
    for (int i = 0; i < 40 && !broker; i++) {
        zclock_sleep (50);
        broker = s_broker (ep, pub, 0, NULL);
    }
    CHECK (broker);
    CHECK (st.running == 1);                      //  still at work on the old message
    //  The re-drive: a new message id for the same job
    sl_envelope_t *again = s_job ("work,sink", 1);
    int64_t until = sl_mono_ms () + 5000;
    sl_client_rc_t rc;
    while ((rc = sl_client_submit_if_absent (client, again, 500, &res)) == SL_CLIENT_TIMEOUT
       &&  sl_mono_ms () < until)
        ;
    CHECK (rc == SL_CLIENT_OK);
    sl_envelope_destroy (&again);
    //  The old message finishes (its ACK reaches the new broker), then the
    //  re-driven one: the job reaches the sink once
    //  (generous waits: on a loaded machine the new broker can declare the
    //  busy worker dead once before it re-registers; it gets there)
    CHECK (s_sink_wait (1, 30000) == 1);
    until = sl_mono_ms () + 30000;
    while (st.handled < 2 && sl_mono_ms () < until)
        zclock_sleep (20);
    CHECK (st.handled == 2);
    zclock_sleep (300);
    CHECK (s_sink_total () == 1);
    CHECK (s_sink_each_once ());
    CHECK (s_stat (client, NULL, "jobs") == 0);
    sl_client_destroy (&client);
    sl_worker_destroy (&w);
    sl_worker_destroy (&ws);
    sl_broker_destroy (&broker);
}

int
main (int argc, char **argv)
{
    if (argc == 5 && streq (argv [1], "--worker"))
        return s_child_worker (argv [2], argv [3], argv [4]);
    zsys_init ();               //  before any thread opens sockets (czmq init races)
    if (getenv ("SLUICE_TEST_VERBOSE") == NULL)
        sl_log_set_level (SL_LOG_WARN);
    struct { const char *name; void (*fn) (void); } cases [] = {
        { "roundtrip", test_roundtrip },
        { "fairness", test_fairness },
        { "inline_prefetch", test_inline_prefetch },
        { "credit", test_credit },
        { "redelivery_kill", test_redelivery_kill },
        { "redelivery_unreachable", test_redelivery_unreachable },
        { "dlq_replay", test_dlq_replay },
        { "busy", test_busy },
        { "drain_sigterm", test_drain_sigterm },
        { "broker_restart", test_broker_restart },
        { "malformed", test_malformed },
        { "request_reply", test_request_reply },
        { "stop_at_once", test_stop_at_once },
        { "submit_ifabsent", test_submit_ifabsent },
        { "long_handler", test_long_handler },
        { "orphan_ack", test_orphan_ack },
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        if (argc < 2 || streq (argv [1], cases [i].name)) {
            printf ("--- %s\n", cases [i].name);
            cases [i].fn ();
            ran++;
        }
    CHECK (ran > 0);
    printf ("%d case(s) passed\n", ran);
    return 0;
}
