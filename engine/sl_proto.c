/*  sl_proto: broker command headers as msgpack. See sl_proto.h. */
#include "sl_proto.h"
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_util.h"

#include <assert.h>

static const char *s_names [] = {
    "?", "READY", "HEARTBEAT", "DELIVER", "ACK", "NACK", "CREDIT", "SUBMIT",
    "ACCEPTED", "BUSY", "ERROR", "REQUEST", "REPLY", "EVENT", "PUBLISH",
    "STATS", "DLQ_LIST", "DLQ_REPLAY", "RESULT", "DISCONNECT", "BYE"
};

const char *
sl_proto_cmd_name (sl_cmd_t cmd)
{
    return cmd > 0 && cmd < SL_CMD_MAX_ ? s_names [cmd] : "?";
}

void
sl_proto_init (sl_proto_t *self, sl_cmd_t cmd)
{
    memset (self, 0, sizeof *self);
    self->cmd = cmd;
}

void
sl_proto_clear (sl_proto_t *self)
{
    zmsg_destroy (&self->frames);
}

//  Header fields are written only when set, keeping common messages small.
static int
s_count_fields (const sl_proto_t *self)
{
    int n = 2;
    n += self->corr [0] != 0;
    n += self->mid [0] != 0;
    n += self->topic [0] != 0;
    n += self->name [0] != 0;
    n += self->svc_count > 0;
    n += self->credit != 0;
    n += self->retry_ms != 0;
    n += self->depth != 0;
    n += self->timeout_ms != 0;
    n += self->limit != 0;
    n += self->code != 0;
    n += self->retry;
    n += self->if_absent;
    n += self->reason [0] != 0;
    return n;
}

zmsg_t *
sl_proto_encode (sl_proto_t *self)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, (size_t) s_count_fields (self));
    sl_mpw_kv_str (&w, "p", SL_PROTO_TAG);
    sl_mpw_kv_int (&w, "c", self->cmd);
    if (self->corr [0])  sl_mpw_kv_str (&w, "corr", self->corr);
    if (self->mid [0])   sl_mpw_kv_str (&w, "mid", self->mid);
    if (self->topic [0]) sl_mpw_kv_str (&w, "topic", self->topic);
    if (self->name [0])  sl_mpw_kv_str (&w, "name", self->name);
    if (self->svc_count > 0) {
        sl_mpw_key (&w, "svc");
        msgpack_pack_array (&w.pk, (size_t) self->svc_count);
        for (int i = 0; i < self->svc_count; i++)
            sl_mpw_str (&w, self->svc [i]);
    }
    if (self->credit)     sl_mpw_kv_int (&w, "credit", self->credit);
    if (self->retry_ms)   sl_mpw_kv_int (&w, "retry_ms", self->retry_ms);
    if (self->depth)      sl_mpw_kv_int (&w, "depth", self->depth);
    if (self->timeout_ms) sl_mpw_kv_int (&w, "timeout", self->timeout_ms);
    if (self->limit)      sl_mpw_kv_int (&w, "limit", self->limit);
    if (self->code)       sl_mpw_kv_int (&w, "code", self->code);
    if (self->retry)      sl_mpw_kv_bool (&w, "retry", true);
    if (self->if_absent)  sl_mpw_kv_bool (&w, "ifabsent", true);
    if (self->reason [0]) sl_mpw_kv_str (&w, "reason", self->reason);

    zmsg_t *msg = self->frames ? self->frames : zmsg_new ();
    self->frames = NULL;
    zmsg_pushmem (msg, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return msg;
}

int
sl_proto_send (sl_proto_t *self, void *socket)
{
    zmsg_t *msg = sl_proto_encode (self);
    int rc = zmsg_send (&msg, socket);
    zmsg_destroy (&msg);        //  left with us when the send failed
    return rc;
}

static int64_t s_max_msg_size = SL_MAX_MSG_DEFAULT;

void
sl_proto_set_max_msg_size (int64_t bytes)
{
    __atomic_store_n (&s_max_msg_size, bytes > 0 ? bytes : -1, __ATOMIC_RELAXED);
}

int64_t
sl_proto_max_msg_size (void)
{
    return __atomic_load_n (&s_max_msg_size, __ATOMIC_RELAXED);
}

void
sl_proto_limit (void *socket)
{
    int64_t size = sl_proto_max_msg_size ();
    zmq_setsockopt (zsock_resolve (socket), ZMQ_MAXMSGSIZE, &size, sizeof size);
}

int
sl_proto_topic (char *buf, size_t cap, const char *ws, const char *job)
{
    if (!sl_token_valid (ws) || !sl_token_valid (job)) {
        if (cap)
            buf [0] = 0;
        return -1;
    }
    int n = snprintf (buf, cap, "%s/%s", ws, job);
    return n > 0 && (size_t) n < cap ? 0 : -1;
}

#define S_FAIL(...) do { snprintf (err, errlen, "protocol: " __VA_ARGS__); goto fail; } while (0)

static int
s_opt_str (const msgpack_object *root, const char *key, char *buf, size_t cap)
{
    const msgpack_object *o = sl_mp_get (root, key);
    return o ? sl_mp_str (o, buf, cap) : 0;
}

static int
s_opt_int (const msgpack_object *root, const char *key, int64_t *out)
{
    const msgpack_object *o = sl_mp_get (root, key);
    return o ? sl_mp_int (o, out) : 0;
}

int
sl_proto_decode (zmsg_t **msg_p, sl_proto_t *self, char *err, size_t errlen)
{
    sl_proto_init (self, 0);
    zframe_t *header = zmsg_pop (*msg_p);
    sl_mp_t *mp = NULL;
    if (!header)
        S_FAIL ("empty message");
    mp = sl_mp_decode (zframe_data (header), zframe_size (header), err, errlen);
    if (!mp)
        goto fail;
    const msgpack_object *root = sl_mp_root (mp);
    char tag [8];
    int64_t cmd;
    if (sl_mp_get_str (root, "p", tag, sizeof tag) || strcmp (tag, SL_PROTO_TAG))
        S_FAIL ("not an %s header", SL_PROTO_TAG);
    if (sl_mp_get_int (root, "c", &cmd) || cmd <= 0 || cmd >= SL_CMD_MAX_)
        S_FAIL ("unknown command");
    self->cmd = (sl_cmd_t) cmd;
    const msgpack_object *retry = sl_mp_get (root, "retry");
    const msgpack_object *if_absent = sl_mp_get (root, "ifabsent");
    if (s_opt_str (root, "corr", self->corr, sizeof self->corr)
    ||  s_opt_str (root, "mid", self->mid, sizeof self->mid)
    ||  s_opt_str (root, "topic", self->topic, sizeof self->topic)
    ||  s_opt_str (root, "name", self->name, sizeof self->name)
    ||  s_opt_str (root, "reason", self->reason, sizeof self->reason)
    ||  s_opt_int (root, "credit", &self->credit)
    ||  s_opt_int (root, "retry_ms", &self->retry_ms)
    ||  s_opt_int (root, "depth", &self->depth)
    ||  s_opt_int (root, "timeout", &self->timeout_ms)
    ||  s_opt_int (root, "limit", &self->limit)
    ||  s_opt_int (root, "code", &self->code)
    ||  (retry && sl_mp_bool (retry, &self->retry))
    ||  (if_absent && sl_mp_bool (if_absent, &self->if_absent)))
        S_FAIL ("%s header has a field of wrong type or size", sl_proto_cmd_name (self->cmd));
    const msgpack_object *svc = sl_mp_get (root, "svc");
    if (svc) {
        if (svc->type != MSGPACK_OBJECT_ARRAY || svc->via.array.size > SL_PROTO_MAX_SERVICES)
            S_FAIL ("bad service list");
        for (uint32_t i = 0; i < svc->via.array.size; i++)
            if (sl_mp_str (&svc->via.array.ptr [i], self->svc [i], sizeof self->svc [i])
            ||  !sl_envelope_name_valid (self->svc [i]))
                S_FAIL ("bad service name in list");
        self->svc_count = (int) svc->via.array.size;
    }
    sl_mp_destroy (&mp);
    zframe_destroy (&header);
    self->frames = *msg_p;
    *msg_p = NULL;
    return 0;
fail:
    sl_mp_destroy (&mp);
    zframe_destroy (&header);
    zmsg_destroy (msg_p);
    return -1;
}

int
sl_proto_events_endpoint (const char *broker, char *out, size_t cap)
{
    char list [1024], *save = NULL;
    snprintf (list, sizeof list, "%s", broker);
    size_t used = 0;
    out [0] = 0;
    for (char *ep = strtok_r (list, ",", &save); ep; ep = strtok_r (NULL, ",", &save)) {
        const char *colon = strrchr (ep, ':');
        int n;
        if (!strncmp (ep, "tcp://", 6) && colon && atoi (colon + 1) > 0)
            n = snprintf (out + used, cap - used, "%s%.*s:%d", used ? "," : "", (int) (colon - ep), ep,
                          atoi (colon + 1) + 1);
        else
            n = snprintf (out + used, cap - used, "%s%s-events", used ? "," : "", ep);
        if (n < 0 || (size_t) n >= cap - used)
            return -1;
        used += (size_t) n;
    }
    return 0;
}
