/*  sl_client: synchronous broker client. See sl_client.h. */
#include "sl_client.h"
#include "sl_proto.h"
#include "sl_util.h"

#include <czmq.h>

#define S_ENDPOINTS_MAX 8           //  brokers a client may know (a pair needs two)
#define S_PAIR_SEND_MS 1000         //  a pair: a send that waits this long moves on

struct _sl_client_t {
    void *dealer;                   //  a libzmq socket (see sl_client_new)
    zsock_t *sub;
    void *monitor;                  //  PAIR: the dealer's handshake events, or NULL
    char refused [300];             //  why the last handshake failed; "" if it did not
    char endpoint [512];            //  as given (maybe a comma list)
    char endpoints [S_ENDPOINTS_MAX][512];
    int endpoint_count;
    int current;                    //  the broker we talk to
    bool watch;                     //  watch_handshake
    bool curve;
    char public_key [41];
    char secret_key [41];
    char server_key [41];
};

static void
s_apply_curve (sl_client_t *self, void *sock)
{
    if (self->curve) {
        zsock_set_curve_publickey (sock, self->public_key);
        zsock_set_curve_secretkey (sock, self->secret_key);
        zsock_set_curve_serverkey (sock, self->server_key);
    }
}

sl_client_t *
sl_client_new (const char *endpoint, const char *curve_client, const char *curve_server)
{
    sl_client_opts_t opts = { NULL, NULL, NULL, false };
    zcert_t *mine = NULL, *theirs = NULL;
    if (curve_client && curve_server) {
        mine = zcert_load (curve_client);
        theirs = zcert_load (curve_server);
        if (!mine || !theirs) {
            zcert_destroy (&mine);
            zcert_destroy (&theirs);
            return NULL;
        }
        opts.public_key = zcert_public_txt (mine);
        opts.secret_key = zcert_secret_txt (mine);
        opts.server_key = zcert_public_txt (theirs);
    }
    sl_client_t *self = sl_client_new_opts (endpoint, &opts);
    int err = errno;
    zcert_destroy (&mine);
    zcert_destroy (&theirs);
    errno = err;
    return self;
}

//  A monitor of the dealer's security handshakes (watch_handshake)
static void
s_watch (sl_client_t *self)
{
    char id [SL_ID_LEN + 1], address [80];
    sl_id_new (id);
    snprintf (address, sizeof address, "inproc://sl-client-monitor-%s", id);
    if (zmq_socket_monitor (self->dealer, address,
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0) {
        self->monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
        if (self->monitor && zmq_connect (self->monitor, address)) {
            zmq_close (self->monitor);
            self->monitor = NULL;
        }
        if (!self->monitor)
            zmq_socket_monitor (self->dealer, NULL, 0);
    }
}

static void
s_unwatch (sl_client_t *self)
{
    if (self->monitor) {
        zmq_socket_monitor (self->dealer, NULL, 0);
        zsock_set_linger (self->monitor, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
}

sl_client_t *
sl_client_new_opts (const char *endpoint, const sl_client_opts_t *opts)
{
    sl_client_t *self = calloc (1, sizeof *self);
    assert (self);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    //  "tcp://a:5555,tcp://b:5555": a broker pair, asked in this order
    char list [512], *save = NULL;
    snprintf (list, sizeof list, "%s", endpoint);
    for (char *ep = strtok_r (list, ",", &save); ep && self->endpoint_count < S_ENDPOINTS_MAX;
         ep = strtok_r (NULL, ",", &save))
        if (*ep)
            snprintf (self->endpoints [self->endpoint_count++], sizeof self->endpoints [0], "%s", ep);
    if (self->endpoint_count == 0)
        snprintf (self->endpoints [self->endpoint_count++], sizeof self->endpoints [0], "%s", endpoint);
    if (opts->public_key && opts->secret_key && opts->server_key) {
        self->curve = true;
        snprintf (self->public_key, sizeof self->public_key, "%s", opts->public_key);
        snprintf (self->secret_key, sizeof self->secret_key, "%s", opts->secret_key);
        snprintf (self->server_key, sizeof self->server_key, "%s", opts->server_key);
    }
    //  A plain libzmq socket, not a zsock: zsock_new asserts when no socket
    //  can be made, and that happens when the process is out of file
    //  descriptors (each socket needs one), which must be a failure for
    //  the caller (an HTTP 503), not an abort. czmq's helpers take either.
    self->dealer = zmq_socket (zsys_init (), ZMQ_DEALER);
    if (!self->dealer) {
        int err = errno;
        sl_client_destroy (&self);
        errno = err;
        return NULL;
    }
    zsock_set_linger (self->dealer, 0);
    sl_proto_limit (self->dealer);
    s_apply_curve (self, self->dealer);
    //  Watch the security handshake, so a refused key is an answer rather
    //  than a silence until the timeout
    self->watch = opts->watch_handshake;
    if (self->watch)
        s_watch (self);
    if (self->endpoint_count > 1) {
        //  Queue only to a live connection: a send towards a dead broker
        //  then fails (EAGAIN) instead of waiting for it, and we move on
        int one = 1;
        zmq_setsockopt (self->dealer, ZMQ_IMMEDIATE, &one, sizeof one);
    }
    if (zmq_connect (self->dealer, self->endpoints [0])) {
        int err = errno;
        sl_client_destroy (&self);
        errno = err;
        return NULL;
    }
    return self;
}

void
sl_client_destroy (sl_client_t **self_p)
{
    if (*self_p) {
        if ((*self_p)->monitor) {
            zmq_socket_monitor ((*self_p)->dealer, NULL, 0);
            zsock_set_linger ((*self_p)->monitor, 0);
            zmq_close ((*self_p)->monitor);
        }
        if ((*self_p)->dealer)
            zmq_close ((*self_p)->dealer);
        zsock_destroy (&(*self_p)->sub);
        free (*self_p);
        *self_p = NULL;
    }
}

void *sl_client_socket (sl_client_t *self) { return self->dealer; }
void *sl_client_sub_socket (sl_client_t *self) { return self->sub; }

//  Read one handshake report from the monitor into self->refused (the
//  reason of a failure, or "" after a success). True if it was a failure.
static bool
s_handshake_event (sl_client_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    if (frame && zframe_size (frame) >= 6) {
        uint16_t event;
        uint32_t value;
        memcpy (&event, zframe_data (frame), 2);
        memcpy (&value, zframe_data (frame) + 2, 4);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->refused [0] = 0;
        else
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf (self->refused, sizeof self->refused, "the broker refused this client's CURVE key "
                      "(status %u): its public key must be in the broker's curve.client_keys "
                      "(or curve.worker_keys)", value);
        else
        if (!self->curve)
            snprintf (self->refused, sizeof self->refused, "security handshake with %.200s failed: the broker "
                      "requires CURVE keys", self->endpoint);
        else
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            snprintf (self->refused, sizeof self->refused, "security handshake with %.200s failed (protocol "
                      "error 0x%x): is the broker's public key right?", self->endpoint, value);
        else
            snprintf (self->refused, sizeof self->refused, "security handshake with %.200s failed: wrong "
                      "broker public key?", self->endpoint);
    }
    zmsg_destroy (&msg);
    return self->refused [0] != 0;
}

//  Take every pending handshake report; true if the last one was a failure.
static bool
s_handshake_refused (sl_client_t *self)
{
    while (self->monitor && (zsock_events (self->monitor) & ZMQ_POLLIN))
        s_handshake_event (self);
    return self->refused [0] != 0;
}

static sl_client_rc_t
s_refused (sl_client_t *self, sl_client_result_t *result)
{
    result->rc = SL_CLIENT_REFUSED;
    result->code = 401;
    snprintf (result->reason, sizeof result->reason, "%s", self->refused);
    return result->rc;
}

//  Send cmd (a fresh corr is stamped on it) and wait for the answer with
//  the same corr. On success *answer holds the decoded reply. *sent says
//  whether the command left (a send that timed out never reached a broker).
static sl_client_rc_t
s_call_once (sl_client_t *self, sl_proto_t *cmd, int timeout_ms, int send_ms, sl_proto_t *answer,
             sl_client_result_t *result, bool *sent)
{
    *sent = false;
    sl_client_result_t scratch;
    if (!result)
        result = &scratch;
    memset (result, 0, sizeof *result);
    sl_proto_init (answer, 0);
    sl_id_new (cmd->corr);
    char corr [65];
    snprintf (corr, sizeof corr, "%s", cmd->corr);
    //  A DEALER with no live connection (broker down, handshake refused)
    //  blocks on send: bound that by the call's timeout too (by a second
    //  if the last handshake was refused: then no peer is likely to come)
    bool refused = s_handshake_refused (self);
    zsock_set_sndtimeo (self->dealer, refused && send_ms > 1000 ? 1000 : send_ms);
    if (sl_proto_send (cmd, self->dealer)) {
        int err = zmq_errno ();
        if (s_handshake_refused (self))
            return s_refused (self, result);
        result->rc = err == EAGAIN ? SL_CLIENT_TIMEOUT : SL_CLIENT_ERROR;
        if (err == EAGAIN)
            snprintf (result->reason, sizeof result->reason, "cannot reach the broker at %.300s within %d ms",
                      self->endpoint, timeout_ms);
        else
            snprintf (result->reason, sizeof result->reason, "send failed: %s", zmq_strerror (err));
        return result->rc;
    }
    *sent = true;
    int64_t deadline = sl_mono_ms () + timeout_ms;
    zmq_pollitem_t items [2] = {
        { self->dealer, 0, ZMQ_POLLIN, 0 },
        { self->monitor, 0, ZMQ_POLLIN, 0 }
    };
    int nitems = self->monitor ? 2 : 1;
    result->rc = SL_CLIENT_TIMEOUT;
    snprintf (result->reason, sizeof result->reason, "no answer from the broker at %.300s within %d ms",
              self->endpoint, timeout_ms);
    while (true) {
        int64_t left = deadline - sl_mono_ms ();
        if (left <= 0)
            break;
        int n = zmq_poll (items, nitems, (long) left);
        if (n < 0 && zmq_errno () == EINTR)
            continue;           //  a signal for the application: keep waiting
        if (n <= 0)
            break;
        if (nitems == 2 && (items [1].revents & ZMQ_POLLIN) && s_handshake_event (self))
            return s_refused (self, result);
        if (!(items [0].revents & ZMQ_POLLIN))
            continue;
        zmsg_t *msg = zmsg_recv (self->dealer);
        char err [256];
        if (!msg || sl_proto_decode (&msg, answer, err, sizeof err))
            continue;
        if (strcmp (answer->corr, corr) != 0) {
            sl_proto_clear (answer);        //  answer to an earlier, abandoned call
            continue;
        }
        result->code = answer->code;
        result->retry_ms = answer->retry_ms;
        result->depth = answer->depth;
        snprintf (result->mid, sizeof result->mid, "%s", answer->mid);
        snprintf (result->reason, sizeof result->reason, "%s", answer->reason);
        if (answer->svc_count)
            snprintf (result->service, sizeof result->service, "%s", answer->svc [0]);
        result->rc = answer->cmd == SL_CMD_BUSY ? SL_CLIENT_BUSY
                   : answer->cmd == SL_CMD_ERROR ? SL_CLIENT_ERROR : SL_CLIENT_OK;
        return result->rc;
    }
    //  Silence: if the last handshake failed (perhaps before this call
    //  began, and ZeroMQ may not try again), that is the reason
    if (s_handshake_refused (self))
        return s_refused (self, result);
    return result->rc;
}

//  The next broker of the list (a pair: the other one), on a new socket:
//  disconnecting the old one is asynchronous, and a DEALER may still hand
//  the next message to the pipe being torn down, where it is lost
static void
s_next_broker (sl_client_t *self)
{
    void *dealer = zmq_socket (zsys_init (), ZMQ_DEALER);
    if (!dealer)
        return;                 //  out of descriptors: keep the old link, try it
    self->current = (self->current + 1) % self->endpoint_count;
    s_unwatch (self);
    zmq_close (self->dealer);
    self->dealer = dealer;
    zsock_set_linger (self->dealer, 0);
    sl_proto_limit (self->dealer);
    s_apply_curve (self, self->dealer);
    if (self->watch)
        s_watch (self);
    int one = 1;
    zmq_setsockopt (self->dealer, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_connect (self->dealer, self->endpoints [self->current]);
}

//  One call. With a broker pair: a broker that stands by (ERROR 421)
//  did nothing, so the call goes to the other one (or to the same one
//  after its retry_ms: it is about to take over), as does a send that
//  could not leave; a call that met silence ends with TIMEOUT (the broker
//  may have acted on it: only the caller knows whether to ask again) and
//  the next call goes to the other broker.
static sl_client_rc_t
s_call (sl_client_t *self, sl_proto_t *cmd, int timeout_ms, sl_proto_t *answer,
        sl_client_result_t *result)
{
    bool sent;
    if (self->endpoint_count < 2)
        return s_call_once (self, cmd, timeout_ms, timeout_ms, answer, result, &sent);
    sl_client_result_t scratch;
    if (!result)
        result = &scratch;
    int64_t deadline = sl_mono_ms () + timeout_ms;
    sl_client_rc_t rc = SL_CLIENT_TIMEOUT;
    int refused = 0;
    bool stayed = false;        //  the last refusal kept us on the same broker
    while (true) {
        int64_t left = deadline - sl_mono_ms ();
        if (left <= 0)
            break;
        sl_proto_t attempt = *cmd;
        attempt.frames = cmd->frames ? zmsg_dup (cmd->frames) : NULL;
        rc = s_call_once (self, &attempt, (int) left, left > S_PAIR_SEND_MS ? S_PAIR_SEND_MS : (int) left,
                          answer, result, &sent);
        sl_proto_clear (&attempt);
        if (rc == SL_CLIENT_ERROR && result->code == SL_ERR_PASSIVE) {
            sl_proto_clear (answer);
            int64_t pause = result->retry_ms;
            stayed = pause > 0;
            if (pause <= 0) {
                s_next_broker (self);
                //  Every broker stands by (a pair still forming): a pause
                pause = ++refused % self->endpoint_count == 0 ? 250 : 0;
            }
            left = deadline - sl_mono_ms ();
            zclock_sleep ((int) (pause < left ? pause : left > 0 ? left : 0));
            continue;
        }
        if (!sent && rc == SL_CLIENT_TIMEOUT) {
            s_next_broker (self);
            continue;
        }
        if (rc == SL_CLIENT_TIMEOUT)
            s_next_broker (self);
        break;
    }
    //  The time ran out waiting on a broker that promised to take over and
    //  did not: the next call starts at the other one
    if (rc == SL_CLIENT_ERROR && result->code == SL_ERR_PASSIVE && stayed)
        s_next_broker (self);
    sl_proto_clear (cmd);
    return rc;
}

static void
s_attach_envelope (sl_proto_t *cmd, const sl_envelope_t *env)
{
    char *data;
    size_t size;
    sl_envelope_encode (env, &data, &size);
    cmd->frames = zmsg_new ();
    zmsg_addmem (cmd->frames, data, size);
    free (data);
}

//  Move the first payload frame of answer into a malloc'd buffer.
static void
s_take_payload (sl_proto_t *answer, char **data, size_t *size)
{
    zframe_t *frame = answer->frames ? zmsg_first (answer->frames) : NULL;
    *size = frame ? zframe_size (frame) : 0;
    *data = malloc (*size + 1);
    assert (*data);
    if (frame)
        memcpy (*data, zframe_data (frame), *size);
    (*data) [*size] = 0;
}

static sl_client_rc_t
s_submit (sl_client_t *self, const sl_envelope_t *env, bool if_absent, int timeout_ms,
          sl_client_result_t *result)
{
    sl_proto_t cmd, answer;
    sl_proto_init (&cmd, SL_CMD_SUBMIT);
    cmd.if_absent = if_absent;
    s_attach_envelope (&cmd, env);
    sl_client_rc_t rc = s_call (self, &cmd, timeout_ms, &answer, result);
    sl_proto_clear (&answer);
    return rc;
}

sl_client_rc_t
sl_client_submit (sl_client_t *self, const sl_envelope_t *env, int timeout_ms,
                  sl_client_result_t *result)
{
    return s_submit (self, env, false, timeout_ms, result);
}

sl_client_rc_t
sl_client_submit_if_absent (sl_client_t *self, const sl_envelope_t *env, int timeout_ms,
                            sl_client_result_t *result)
{
    return s_submit (self, env, true, timeout_ms, result);
}

sl_client_rc_t
sl_client_request (sl_client_t *self, const sl_envelope_t *env, int timeout_ms,
                   char **reply, size_t *size, sl_client_result_t *result)
{
    sl_proto_t cmd, answer;
    sl_proto_init (&cmd, SL_CMD_REQUEST);
    cmd.timeout_ms = timeout_ms;
    s_attach_envelope (&cmd, env);
    *reply = NULL;
    *size = 0;
    sl_client_rc_t rc = s_call (self, &cmd, timeout_ms, &answer, result);
    if (rc == SL_CLIENT_OK)
        s_take_payload (&answer, reply, size);
    sl_proto_clear (&answer);
    return rc;
}

int
sl_client_post (sl_client_t *self, const sl_envelope_t *env, int timeout_ms)
{
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_REQUEST);
    cmd.timeout_ms = timeout_ms;
    sl_id_new (cmd.corr);
    s_attach_envelope (&cmd, env);
    zsock_set_sndtimeo (self->dealer, 0);       //  never wait for this one
    return sl_proto_send (&cmd, self->dealer);
}

static sl_client_rc_t
s_result_call (sl_client_t *self, sl_proto_t *cmd, int timeout_ms, char **data, size_t *size,
               sl_client_result_t *result)
{
    sl_proto_t answer;
    *data = NULL;
    *size = 0;
    sl_client_rc_t rc = s_call (self, cmd, timeout_ms, &answer, result);
    if (rc == SL_CLIENT_OK)
        s_take_payload (&answer, data, size);
    sl_proto_clear (&answer);
    return rc;
}

sl_client_rc_t
sl_client_stats (sl_client_t *self, int timeout_ms, char **data, size_t *size,
                 sl_client_result_t *result)
{
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_STATS);
    return s_result_call (self, &cmd, timeout_ms, data, size, result);
}

sl_client_rc_t
sl_client_dlq_list (sl_client_t *self, int limit, int timeout_ms, char **data, size_t *size,
                    sl_client_result_t *result)
{
    sl_proto_t cmd;
    sl_proto_init (&cmd, SL_CMD_DLQ_LIST);
    cmd.limit = limit;
    return s_result_call (self, &cmd, timeout_ms, data, size, result);
}

sl_client_rc_t
sl_client_dlq_replay (sl_client_t *self, const char *mid, int timeout_ms,
                      sl_client_result_t *result)
{
    sl_proto_t cmd, answer;
    sl_proto_init (&cmd, SL_CMD_DLQ_REPLAY);
    snprintf (cmd.mid, sizeof cmd.mid, "%s", mid);
    sl_client_rc_t rc = s_call (self, &cmd, timeout_ms, &answer, result);
    sl_proto_clear (&answer);
    return rc;
}

int
sl_client_subscribe (sl_client_t *self, const char *pub_endpoint, const char *topic)
{
    if (!self->sub) {
        self->sub = zsock_new (ZMQ_SUB);
        zsock_set_linger (self->sub, 0);
        zsock_set_rcvhwm (self->sub, 100000);
        sl_proto_limit (self->sub);
        s_apply_curve (self, self->sub);
        //  A comma list (a broker pair): follow both, only the active one publishes
        if (zsock_attach (self->sub, pub_endpoint, false))
            return -1;
    }
    zsock_set_subscribe (self->sub, topic);
    return 0;
}

int
sl_client_unsubscribe (sl_client_t *self, const char *topic)
{
    if (!self->sub)
        return -1;
    zsock_set_unsubscribe (self->sub, topic);
    return 0;
}

int
sl_client_event (sl_client_t *self, int timeout_ms, char topic [SL_TOPIC_MAX], char **data, size_t *size)
{
    if (!self->sub)
        return -1;
    zpoller_t *poller = zpoller_new (self->sub, NULL);
    int rc = -1;
    if (zpoller_wait (poller, timeout_ms)) {
        zmsg_t *msg = zmsg_recv (self->sub);
        char *t = msg ? zmsg_popstr (msg) : NULL;
        zframe_t *frame = msg ? zmsg_first (msg) : NULL;
        if (t && frame) {
            snprintf (topic, SL_TOPIC_MAX, "%s", t);
            *size = zframe_size (frame);
            *data = malloc (*size + 1);
            memcpy (*data, zframe_data (frame), *size);
            (*data) [*size] = 0;
            rc = 0;
        }
        zstr_free (&t);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return rc;
}
