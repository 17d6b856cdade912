/*  sl_edge_sse: event hub and SSE streams. See sl_edge_sse.h. */
#include "sl_edge_sse.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"

#include <czmq.h>
#include <sys/eventfd.h>

#define SUB_QUEUE_MAX   10000       //  events held per slow subscriber
#define REQUERY_MIN_MS  250         //  first re-query after silence
#define REQUERY_MAX_MS  15000
#define TERMINAL_GRACE_MS 5000      //  wait this long for the terminal event
#define TERMINAL_POLL_MS  250

//  --------------------------------------------------------------------------
//  Hub

typedef struct _event_t {
    struct _event_t *next;
    size_t size;
    char data [];
} event_t;

struct _sl_edge_sub_t {
    sl_edge_hub_t *hub;
    char topic [SL_TOPIC_MAX];          //  "<workspace>/<job>"
    pthread_cond_t cond;
    event_t *head, *tail;
    size_t queued;
    bool overflow;
};

typedef struct {
    char topic [SL_TOPIC_MAX];
    int op;                         //  +1 subscribe, -1 unsubscribe
} op_t;

struct _sl_edge_hub_t {
    pthread_mutex_t lock;
    pthread_cond_t applied_cond;
    pthread_t thread;
    zsock_t *sub;                   //  owned by the hub thread after start
    int wake_fd;                    //  eventfd: "pending ops" / "stop"
    zhashx_t *topics;               //  topic -> zlistx_t of sl_edge_sub_t *
    zlistx_t *pending;              //  op_t *, applied by the thread
    uint64_t ops_queued;            //  generation counters
    uint64_t ops_applied;
    bool stopping;
    bool stop_thread;
    int streams;
};

static void
s_wake (sl_edge_hub_t *self)
{
    uint64_t one = 1;
    ssize_t rc = write (self->wake_fd, &one, sizeof one);
    (void) rc;                      //  a full counter still wakes the thread
}

static void
s_deliver (sl_edge_hub_t *self, const char *topic, const void *data, size_t size)
{
    zlistx_t *subs = zhashx_lookup (self->topics, topic);
    if (!subs)
        return;
    for (sl_edge_sub_t *sub = zlistx_first (subs); sub; sub = zlistx_next (subs)) {
        if (sub->queued >= SUB_QUEUE_MAX) {
            sub->overflow = true;   //  it re-queries the journal instead
            pthread_cond_signal (&sub->cond);
            continue;
        }
        event_t *ev = malloc (sizeof *ev + size + 1);
        assert (ev);
        ev->next = NULL;
        ev->size = size;
        memcpy (ev->data, data, size);
        ev->data [size] = 0;
        if (sub->tail)
            sub->tail->next = ev;
        else
            sub->head = ev;
        sub->tail = ev;
        sub->queued++;
        pthread_cond_signal (&sub->cond);
    }
}

static void *
s_hub_thread (void *arg)
{
    sl_edge_hub_t *self = (sl_edge_hub_t *) arg;
    sl_log_set_role ("edge");
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0 },
        { NULL, self->wake_fd, ZMQ_POLLIN, 0 }
    };
    while (true) {
        if (zmq_poll (items, 2, 1000) < 0 && errno != EINTR)
            break;
        if (items [1].revents & ZMQ_POLLIN) {
            uint64_t count;
            ssize_t rc = read (self->wake_fd, &count, sizeof count);
            (void) rc;
        }
        pthread_mutex_lock (&self->lock);
        bool stop = self->stop_thread;
        //  Subscription changes are applied here, on the socket's thread
        op_t *op;
        while ((op = zlistx_first (self->pending))) {
            if (op->op > 0)
                zsock_set_subscribe (self->sub, op->topic);
            else
                zsock_set_unsubscribe (self->sub, op->topic);
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            free (op);
            self->ops_applied++;
        }
        pthread_cond_broadcast (&self->applied_cond);
        pthread_mutex_unlock (&self->lock);
        if (stop)
            break;
        //  Drain what is readable without blocking, then poll again
        for (int i = 0; i < 1000; i++) {
            zmsg_t *msg = NULL;
            if (zsock_events (self->sub) & ZMQ_POLLIN)
                msg = zmsg_recv (self->sub);
            if (!msg)
                break;
            zframe_t *topic = zmsg_first (msg);
            zframe_t *data = zmsg_next (msg);
            if (topic && data && zframe_size (topic) < SL_TOPIC_MAX) {
                char name [SL_TOPIC_MAX];
                memcpy (name, zframe_data (topic), zframe_size (topic));
                name [zframe_size (topic)] = 0;
                pthread_mutex_lock (&self->lock);
                s_deliver (self, name, zframe_data (data), zframe_size (data));
                pthread_mutex_unlock (&self->lock);
            }
            zmsg_destroy (&msg);
        }
    }
    return NULL;
}

sl_edge_hub_t *
sl_edge_hub_new (const char *pub_endpoint, const char *curve_client, const char *curve_server,
                 char *err, size_t errlen)
{
    sl_edge_hub_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->applied_cond, NULL);
    self->topics = zhashx_new ();
    self->pending = zlistx_new ();
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->sub = zsock_new (ZMQ_SUB);
    if (self->wake_fd < 0 || !self->sub) {
        snprintf (err, errlen, "cannot create event subscriber: %s", strerror (errno));
        goto fail;
    }
    zsock_set_linger (self->sub, 0);
    zsock_set_rcvhwm (self->sub, 100000);
    sl_proto_limit (self->sub);
    if (curve_client && curve_server && strncmp (pub_endpoint, "inproc:", 7) != 0) {
        zcert_t *mine = zcert_load (curve_client);
        zcert_t *theirs = zcert_load (curve_server);
        if (!mine || !theirs) {
            snprintf (err, errlen, "cannot load CURVE certificates %s / %s", curve_client, curve_server);
            zcert_destroy (&mine);
            zcert_destroy (&theirs);
            goto fail;
        }
        zcert_apply (mine, self->sub);
        zsock_set_curve_serverkey (self->sub, zcert_public_txt (theirs));
        zcert_destroy (&mine);
        zcert_destroy (&theirs);
    }
    //  A comma list (a broker pair): follow both, only the active one publishes
    if (zsock_attach (self->sub, pub_endpoint, false)) {
        snprintf (err, errlen, "cannot connect to event endpoint %s", pub_endpoint);
        goto fail;
    }
    if (pthread_create (&self->thread, NULL, s_hub_thread, self)) {
        snprintf (err, errlen, "cannot start event thread");
        goto fail;
    }
    return self;
fail:
    zsock_destroy (&self->sub);
    if (self->wake_fd >= 0)
        close (self->wake_fd);
    zhashx_destroy (&self->topics);
    zlistx_destroy (&self->pending);
    free (self);
    return NULL;
}

void
sl_edge_hub_shutdown (sl_edge_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    for (zlistx_t *subs = zhashx_first (self->topics); subs; subs = zhashx_next (self->topics))
        for (sl_edge_sub_t *sub = zlistx_first (subs); sub; sub = zlistx_next (subs))
            pthread_cond_broadcast (&sub->cond);
    pthread_cond_broadcast (&self->applied_cond);
    pthread_mutex_unlock (&self->lock);
}

void
sl_edge_hub_destroy (sl_edge_hub_t **self_p)
{
    if (!*self_p)
        return;
    sl_edge_hub_t *self = *self_p;
    sl_edge_hub_shutdown (self);
    pthread_mutex_lock (&self->lock);
    self->stop_thread = true;
    pthread_mutex_unlock (&self->lock);
    s_wake (self);
    pthread_join (self->thread, NULL);
    assert (zhashx_size (self->topics) == 0);
    zhashx_destroy (&self->topics);
    op_t *op;
    while ((op = zlistx_first (self->pending))) {
        zlistx_delete (self->pending, zlistx_cursor (self->pending));
        free (op);
    }
    zlistx_destroy (&self->pending);
    zsock_destroy (&self->sub);
    close (self->wake_fd);
    pthread_cond_destroy (&self->applied_cond);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
sl_edge_hub_streams (sl_edge_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    int n = self->streams;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  Queue a subscription change for the hub thread; lock held.
static uint64_t
s_queue_op (sl_edge_hub_t *self, const char *topic, int op)
{
    op_t *item = calloc (1, sizeof *item);
    assert (item);
    snprintf (item->topic, sizeof item->topic, "%s", topic);
    item->op = op;
    zlistx_add_end (self->pending, item);
    return ++self->ops_queued;
}

sl_edge_sub_t *
sl_edge_hub_subscribe (sl_edge_hub_t *self, const char *topic, int timeout_ms)
{
    assert (strlen (topic) < SL_TOPIC_MAX);
    pthread_mutex_lock (&self->lock);
    if (self->stopping) {
        pthread_mutex_unlock (&self->lock);
        return NULL;
    }
    sl_edge_sub_t *sub = calloc (1, sizeof *sub);
    assert (sub);
    sub->hub = self;
    snprintf (sub->topic, sizeof sub->topic, "%s", topic);
    pthread_cond_init (&sub->cond, NULL);
    zlistx_t *subs = zhashx_lookup (self->topics, topic);
    uint64_t wait_for = 0;
    if (!subs) {
        subs = zlistx_new ();
        zhashx_insert (self->topics, topic, subs);
        wait_for = s_queue_op (self, topic, +1);
    }
    zlistx_add_end (subs, sub);
    self->streams++;
    if (wait_for) {
        s_wake (self);
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (self->ops_applied < wait_for && !self->stopping)
            if (pthread_cond_timedwait (&self->applied_cond, &self->lock, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock (&self->lock);
    return sub;
}

void
sl_edge_sub_destroy (sl_edge_sub_t **self_p)
{
    if (!*self_p)
        return;
    sl_edge_sub_t *sub = *self_p;
    sl_edge_hub_t *hub = sub->hub;
    pthread_mutex_lock (&hub->lock);
    zlistx_t *subs = zhashx_lookup (hub->topics, sub->topic);
    if (subs) {
        void *handle = zlistx_find (subs, sub);
        if (handle)
            zlistx_delete (subs, handle);
        if (zlistx_size (subs) == 0) {
            zhashx_delete (hub->topics, sub->topic);
            zlistx_destroy (&subs);
            s_queue_op (hub, sub->topic, -1);
            s_wake (hub);
        }
    }
    hub->streams--;
    pthread_mutex_unlock (&hub->lock);
    while (sub->head) {
        event_t *next = sub->head->next;
        free (sub->head);
        sub->head = next;
    }
    pthread_cond_destroy (&sub->cond);
    free (sub);
    *self_p = NULL;
}

int
sl_edge_sub_wait (sl_edge_sub_t *self, int timeout_ms, char **data, size_t *size, bool *overflow)
{
    sl_edge_hub_t *hub = self->hub;
    *data = NULL;
    *size = 0;
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    if (timeout_ms < 0)
        timeout_ms = 0;
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&hub->lock);
    int rc = 0;
    while (true) {
        if (hub->stopping) {
            rc = -1;
            break;
        }
        if (self->overflow) {
            *overflow = true;
            self->overflow = false;
        }
        if (self->head) {
            event_t *ev = self->head;
            self->head = ev->next;
            if (!self->head)
                self->tail = NULL;
            self->queued--;
            *size = ev->size;
            //  Hand over the bytes: shift them to the front of one block
            memmove (ev, ev->data, ev->size + 1);
            *data = (char *) ev;
            rc = 1;
            break;
        }
        if (*overflow)
            break;
        if (pthread_cond_timedwait (&self->cond, &hub->lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock (&hub->lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Stream

struct _sl_edge_stream_t {
    sl_edge_sub_t *sub;
    char job [65];
    int64_t last;                   //  highest seq sent (or resumed from)
    int64_t sent;
    int heartbeat_ms;
    sl_edge_events_fn *fetch;
    void *arg;
    char *out;                      //  SSE text not yet handed to MHD
    size_t out_len, out_pos, out_cap;
    bool need_query;
    bool primed;
    bool done;                      //  end after flushing out
    int64_t requery_at;
    int requery_ms;
    int64_t heartbeat_at;
    int64_t terminal_since;         //  when the store first said "terminal"
};

sl_edge_stream_t *
sl_edge_stream_new (sl_edge_sub_t *sub, const char *job, int64_t after, int heartbeat_ms,
                    sl_edge_events_fn *fetch, void *arg)
{
    sl_edge_stream_t *self = calloc (1, sizeof *self);
    assert (self);
    self->sub = sub;
    snprintf (self->job, sizeof self->job, "%s", job);
    self->last = after > 0 ? after : 0;
    self->heartbeat_ms = heartbeat_ms > 0 ? heartbeat_ms : 15000;
    self->fetch = fetch;
    self->arg = arg;
    self->need_query = true;
    self->requery_ms = REQUERY_MIN_MS;
    self->heartbeat_at = sl_mono_ms () + self->heartbeat_ms;
    return self;
}

void
sl_edge_stream_destroy (sl_edge_stream_t **self_p)
{
    if (*self_p) {
        sl_edge_sub_destroy (&(*self_p)->sub);
        free ((*self_p)->out);
        free (*self_p);
        *self_p = NULL;
    }
}

int64_t
sl_edge_stream_sent (sl_edge_stream_t *self)
{
    return self->sent;
}

static void
s_append (sl_edge_stream_t *self, const char *text)
{
    size_t len = strlen (text);
    if (self->out_pos == self->out_len)
        self->out_pos = self->out_len = 0;
    if (self->out_len + len + 1 > self->out_cap) {
        self->out_cap = (self->out_len + len + 1) * 2;
        self->out = realloc (self->out, self->out_cap);
        assert (self->out);
    }
    memcpy (self->out + self->out_len, text, len);
    self->out_len += len;
    self->heartbeat_at = sl_mono_ms () + self->heartbeat_ms;
}

char *
sl_edge_sse_format (int64_t seq, const char *type, const json_t *data)
{
    //  Keys sorted: a live event (the journal's republished map) and the
    //  same event replayed from the journal (its stored JSON, reassembled
    //  by query) hold the same keys in different orders; sorted, their
    //  data lines are the same bytes (values convert alike: sl_json)
    char *json = json_dumps (data, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
    //  A type is a token from the journal; never let it break the framing
    char safe_type [64];
    size_t n = 0;
    for (const char *p = type ? type : "message"; *p && n < sizeof safe_type - 1; p++)
        if (*p != '\n' && *p != '\r')
            safe_type [n++] = *p;
    safe_type [n] = 0;
    char *text = NULL;
    int rc;
    if (seq > 0)
        rc = asprintf (&text, "id: %lld\nevent: %s\ndata: %s\n\n", (long long) seq, safe_type,
                       json ? json : "{}");
    else
        rc = asprintf (&text, "event: %s\ndata: %s\n\n", safe_type, json ? json : "{}");
    assert (rc > 0);
    free (json);
    return text;
}

json_t *
sl_edge_sse_flatten (const json_t *event, const char *job)
{
    json_t *flat = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) event, key, value)
        if (strcmp (key, "data") != 0 || !json_is_object (value))
            json_object_set (flat, key, value);
    json_t *data = json_object_get (event, "data");
    if (json_is_object (data))
        json_object_foreach (data, key, value)
            if (!json_object_get (flat, key))
                json_object_set (flat, key, value);
    if (job && !json_object_get (flat, "job"))
        json_object_set_new (flat, "job", json_string (job));
    return flat;
}

static bool
s_terminal_type (const char *type)
{
    return type && (strcmp (type, "job_completed") == 0 || strcmp (type, "job_failed") == 0
                 || strcmp (type, "job_cancelled") == 0);
}

//  Emit one event (JSON, stored or live form) if it is the next one.
//  Returns 1 emitted, 0 skipped (duplicate), 2 gap (re-query needed).
static int
s_offer (sl_edge_stream_t *self, const json_t *event)
{
    json_t *flat = sl_edge_sse_flatten (event, self->job);
    json_t *seq_value = json_object_get (flat, "seq");
    int64_t seq = json_is_integer (seq_value) ? (int64_t) json_integer_value (seq_value) : 0;
    const char *type = json_string_value (json_object_get (flat, "type"));
    int rc = 1;
    if (seq > 0 && seq <= self->last)
        rc = 0;
    else
    if (seq > self->last + 1)
        rc = 2;
    else {
        char *text = sl_edge_sse_format (seq, type, flat);
        s_append (self, text);
        free (text);
        if (seq > 0)
            self->last = seq;
        self->sent++;
        if (s_terminal_type (type))
            self->done = true;
    }
    json_decref (flat);
    return rc;
}

//  Take in a query/events reply: emit what is new, and decide whether the
//  stream is over. The store marks a job terminal a moment before the
//  journal records job_completed / job_failed, so "terminal" with no
//  terminal event yet means: keep listening a little (TERMINAL_GRACE_MS)
//  for that last event, then end anyway.
static void
s_take_reply (sl_edge_stream_t *self, json_t *reply)
{
    json_t *events = json_object_get (reply, "events");
    size_t index;
    json_t *event;
    json_array_foreach (events, index, event) {
        //  A terminal event with more after it was not the end: the job
        //  was retried (job_started follows its job_failed/job_cancelled)
        if (self->done)
            self->done = false;
        //  Stored events come in seq order; a hole there is a journal
        //  matter, not ours to wait for: accept the next one present
        json_t *seq = json_object_get (event, "seq");
        if (json_is_integer (seq) && json_integer_value (seq) > self->last + 1)
            self->last = json_integer_value (seq) - 1;
        s_offer (self, event);
    }
    //  A page may not hold everything (the query caps it): ask again
    if (json_array_size (events) > 0 && !self->done)
        self->need_query = true;
    if (json_is_true (json_object_get (reply, "terminal")) && json_array_size (events) == 0
    &&  !self->done) {
        int64_t now = sl_mono_ms ();
        if (!self->terminal_since)
            self->terminal_since = now;
        if (now - self->terminal_since >= TERMINAL_GRACE_MS)
            self->done = true;
        else
        if (self->requery_at > now + TERMINAL_POLL_MS)
            self->requery_at = now + TERMINAL_POLL_MS;
    }
}

//  Ask the journal for what came after self->last. Returns the status.
static int
s_query (sl_edge_stream_t *self)
{
    json_t *reply = NULL;
    int status = self->fetch (self->arg, self->job, self->last, &reply);
    int64_t now = sl_mono_ms ();
    self->requery_at = now + self->requery_ms;
    if (self->requery_ms < REQUERY_MAX_MS)
        self->requery_ms *= 2;
    self->need_query = false;
    if (status != 200) {
        json_decref (reply);
        if (status == 404)
            self->done = true;
        return status;
    }
    s_take_reply (self, reply);
    json_decref (reply);
    return 200;
}

int
sl_edge_stream_prime (sl_edge_stream_t *self)
{
    //  Tell EventSource how soon to reconnect, and flush headers at once
    s_append (self, "retry: 2000\n\n");
    self->primed = true;
    size_t before = self->out_len;
    if (self->last > 0) {
        //  A reconnect: fetch from the client's last event so we can tell
        //  "you have seen the end" (204: EventSource stops) from "more to come"
        json_t *reply = NULL;
        int status = self->fetch (self->arg, self->job, self->last - 1, &reply);
        if (status != 200) {
            json_decref (reply);
            return status;
        }
        json_t *events = json_object_get (reply, "events");
        json_t *first = json_array_get (events, 0);
        const char *type = json_string_value (json_object_get (first, "type"));
        if (json_array_size (events) == 1 && json_integer_value (json_object_get (first, "seq")) == self->last
        &&  s_terminal_type (type)) {
            json_decref (reply);
            self->done = true;
            return 204;
        }
        s_take_reply (self, reply);
        json_decref (reply);
        self->requery_at = sl_mono_ms () + self->requery_ms;
        return 200;
    }
    int status = s_query (self);
    if (status != 200)
        return status;
    if (self->done && self->out_len == before)
        return 204;
    return 200;
}

ssize_t
sl_edge_stream_read (sl_edge_stream_t *self, char *buf, size_t max)
{
    if (!self->primed) {
        s_append (self, "retry: 2000\n\n");
        self->primed = true;
    }
    while (self->out_pos == self->out_len) {
        if (self->done)
            return -1;
        int64_t now = sl_mono_ms ();
        if (self->need_query || now >= self->requery_at) {
            s_query (self);
            continue;
        }
        int64_t until = self->requery_at < self->heartbeat_at ? self->requery_at : self->heartbeat_at;
        char *data;
        size_t size;
        bool overflow = false;
        int rc = sl_edge_sub_wait (self->sub, (int) (until - now), &data, &size, &overflow);
        if (rc < 0)
            return -1;              //  shutting down
        if (overflow)
            self->need_query = true;
        if (rc == 1) {
            char err [256];
            json_t *event = sl_json_from_msgpack (data, size, err, sizeof err);
            free (data);
            if (!event || !json_is_object (event)) {
                sl_warn (self->job, "dropping malformed live event: %s", event ? "not a map" : err);
                json_decref (event);
                continue;
            }
            if (s_offer (self, event) == 2)
                self->need_query = true;
            else {
                //  Live events flow: the safety re-query can wait again
                self->requery_ms = REQUERY_MIN_MS;
                self->requery_at = sl_mono_ms () + REQUERY_MAX_MS;
            }
            json_decref (event);
        }
        else
        if (sl_mono_ms () >= self->heartbeat_at) {
            json_t *beat = json_pack ("{s:I, s:s}", "ts", (json_int_t) sl_now_ms (), "job", self->job);
            char *text = sl_edge_sse_format (0, "heartbeat", beat);
            s_append (self, text);
            free (text);
            json_decref (beat);
        }
    }
    size_t n = self->out_len - self->out_pos;
    if (n > max)
        n = max;
    memcpy (buf, self->out + self->out_pos, n);
    self->out_pos += n;
    return (ssize_t) n;
}
