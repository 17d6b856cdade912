/*  sl_client: synchronous broker client. See sl_client.h. */
#include "sl_client.h"
#include "sl_proto.h"
#include "sl_util.h"

#include <czmq.h>

struct _sl_client_t {
    void *dealer;                   //  a libzmq socket (see sl_client_new)
    zsock_t *sub;
    char endpoint [512];
    zcert_t *mine;
    char server_key [41];
};

static void
s_apply_curve (sl_client_t *self, void *sock)
{
    if (self->mine) {
        zcert_apply (self->mine, sock);
        zsock_set_curve_serverkey (sock, self->server_key);
    }
}

sl_client_t *
sl_client_new (const char *endpoint, const char *curve_client, const char *curve_server)
{
    sl_client_t *self = calloc (1, sizeof *self);
    assert (self);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    if (curve_client && curve_server) {
        self->mine = zcert_load (curve_client);
        zcert_t *theirs = zcert_load (curve_server);
        if (!self->mine || !theirs) {
            zcert_destroy (&self->mine);
            zcert_destroy (&theirs);
            free (self);
            return NULL;
        }
        snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (theirs));
        zcert_destroy (&theirs);
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
    if (zmq_connect (self->dealer, endpoint)) {
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
        if ((*self_p)->dealer)
            zmq_close ((*self_p)->dealer);
        zsock_destroy (&(*self_p)->sub);
        zcert_destroy (&(*self_p)->mine);
        free (*self_p);
        *self_p = NULL;
    }
}

void *sl_client_socket (sl_client_t *self) { return self->dealer; }
void *sl_client_sub_socket (sl_client_t *self) { return self->sub; }

//  Send cmd (a fresh corr is stamped on it) and wait for the answer with
//  the same corr. On success *answer holds the decoded reply.
static sl_client_rc_t
s_call (sl_client_t *self, sl_proto_t *cmd, int timeout_ms, sl_proto_t *answer,
        sl_client_result_t *result)
{
    sl_client_result_t scratch;
    if (!result)
        result = &scratch;
    memset (result, 0, sizeof *result);
    sl_id_new (cmd->corr);
    char corr [65];
    snprintf (corr, sizeof corr, "%s", cmd->corr);
    //  A DEALER with no live connection (broker down, handshake refused)
    //  blocks on send: bound that by the call's timeout too
    zsock_set_sndtimeo (self->dealer, timeout_ms);
    if (sl_proto_send (cmd, self->dealer)) {
        result->rc = SL_CLIENT_ERROR;
        snprintf (result->reason, sizeof result->reason, "send failed");
        return result->rc;
    }
    int64_t deadline = sl_mono_ms () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    result->rc = SL_CLIENT_TIMEOUT;
    snprintf (result->reason, sizeof result->reason, "no answer from broker within %d ms", timeout_ms);
    while (true) {
        int64_t left = deadline - sl_mono_ms ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
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
        break;
    }
    zpoller_destroy (&poller);
    return result->rc;
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
    if (rc != SL_CLIENT_TIMEOUT)
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
    if (rc != SL_CLIENT_TIMEOUT)
        sl_proto_clear (&answer);
    return rc;
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
    if (rc != SL_CLIENT_TIMEOUT)
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
    if (rc != SL_CLIENT_TIMEOUT)
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
        if (zsock_connect (self->sub, "%s", pub_endpoint))
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
