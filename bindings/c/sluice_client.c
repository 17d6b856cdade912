/*  sluice_client: the C client of Sluice. See sluice_client.h for the
    contract; docs/protocol.md §5 for what travels on the wire.

    Built into libsluice.so together with the engine's codec modules and
    its broker client (sl_envelope, sl_proto, sl_mp, sl_util, sl_client),
    compiled again here with -fPIC and hidden visibility: only the sluice_*
    names are exported, so the library has no engine symbols in its ABI
    and cannot clash with a program that links the engine itself. Every
    broker round trip is sl_client's (the one the edge and the CLI use);
    this file maps its results to sluice_rc_t and messages.

    Layout of this file:
      - last-call state and the mapping of server answers to sluice_rc_t
      - the client: CURVE keys, connect, results of sl_client mapped
      - requests (REQUEST envelopes to intake, query, upload)
      - result objects: job, event, hits, docs (fields copied out of the
        msgpack reply into C strings, plus a JSON rendering)
      - ingest: by URL, and by bytes through the upload service
      - watches: subscribe first, then read stored events, dedupe by seq,
        re-query on gaps and on silence (the same algorithm as the HTTP
        edge's SSE stream, actors/edge/sl_edge_sse.c)
*/
#include "sluice_client.h"
#include "sl_client.h"
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>

#define DEFAULT_TIMEOUT_MS  10000
#define PART_MAX            (1u << 20)      //  the upload service's part limit
#define REQUERY_MIN_MS      250
#define REQUERY_MAX_MS      5000
#define TERMINAL_GRACE_MS   5000
#define TERMINAL_POLL_MS    250

struct _sluice_client_t {
    char endpoint [512];
    char events [512];
    char ws [65];
    int timeout_ms;
    bool curve;
    char public_key [41];
    char secret_key [41];
    char broker_key [41];
    sl_client_t *client;            //  the engine's broker client (NULL until connect)
    sluice_watch_t **watches;       //  open watches, detached on destroy
    size_t watch_count;
    //  The last call
    int status;
    int64_t retry_ms;
    char message [512];
};

//  --------------------------------------------------------------------------
//  Small things

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_init_once (void)
{
    //  czmq would otherwise install a SIGINT/SIGTERM handler that only sets
    //  a flag: a program using this library could no longer be Ctrl-C'd
    zsys_handler_set (NULL);
}

const char *
sluice_rc_name (int rc)
{
    switch (rc) {
        case SLUICE_OK: return "SLUICE_OK";
        case SLUICE_BUSY: return "SLUICE_BUSY";
        case SLUICE_END: return "SLUICE_END";
        case SLUICE_TIMEOUT: return "SLUICE_TIMEOUT";
        case SLUICE_EINVAL: return "SLUICE_EINVAL";
        case SLUICE_ENOTFOUND: return "SLUICE_ENOTFOUND";
        case SLUICE_EREFUSED: return "SLUICE_EREFUSED";
        case SLUICE_EUNAVAILABLE: return "SLUICE_EUNAVAILABLE";
        case SLUICE_EAUTH: return "SLUICE_EAUTH";
        case SLUICE_EIO: return "SLUICE_EIO";
        case SLUICE_EPROTOCOL: return "SLUICE_EPROTOCOL";
        case SLUICE_EINTERNAL: return "SLUICE_EINTERNAL";
        default: return "SLUICE_?";
    }
}

void
sluice_version (int *major, int *minor, int *patch)
{
    if (major)
        *major = SLUICE_VERSION_MAJOR;
    if (minor)
        *minor = SLUICE_VERSION_MINOR;
    if (patch)
        *patch = SLUICE_VERSION_PATCH;
}

void
sluice_free (void *data)
{
    free (data);
}

static void
s_clear (sluice_client_t *self)
{
    self->status = 0;
    self->retry_ms = 0;
    self->message [0] = 0;
}

static sluice_rc_t
s_set (sluice_client_t *self, sluice_rc_t rc, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static sluice_rc_t
s_set (sluice_client_t *self, sluice_rc_t rc, int status, const char *fmt, ...)
{
    self->status = status;
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->message, sizeof self->message, fmt, args);
    va_end (args);
    return rc;
}

//  The result code for an HTTP-like status from the server.
static sluice_rc_t
s_rc_for (int status)
{
    if (status == 404)
        return SLUICE_ENOTFOUND;
    if (status == 429)
        return SLUICE_BUSY;
    if (status == 408 || status == 504)
        return SLUICE_TIMEOUT;
    //  421: every broker of a pair said it stands by (the library already
    //  tried the other): nothing was done, as with no worker
    if (status == 503 || status == 421)
        return SLUICE_EUNAVAILABLE;
    if (status >= 400 && status < 500)
        return SLUICE_EREFUSED;
    return SLUICE_EINTERNAL;
}

static bool
s_z85_key_valid (const char *key)
{
    if (!key || strlen (key) != 40)
        return false;
    uint8_t bin [32];
    return zmq_z85_decode (bin, key) != NULL;
}

//  --------------------------------------------------------------------------
//  Client

sluice_client_t *
sluice_client_new (const char *endpoint)
{
    if (!endpoint || strlen (endpoint) >= 500 || !strstr (endpoint, "://"))
        return NULL;
    pthread_once (&s_once, s_init_once);
    sluice_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    snprintf (self->ws, sizeof self->ws, "default");
    self->timeout_ms = DEFAULT_TIMEOUT_MS;
    //  The broker's event endpoint is, by convention, the next port (of
    //  each broker of a pair, "tcp://a:5555,tcp://b:5555")
    if (strncmp (endpoint, "tcp://", 6) == 0 && !strstr (endpoint, "-events")) {
        char events [sizeof self->events];
        if (sl_proto_events_endpoint (endpoint, events, sizeof events) == 0 && !strstr (events, "-events"))
            snprintf (self->events, sizeof self->events, "%s", events);
    }
    return self;
}

static void s_watch_detach (sluice_watch_t *watch);
static sluice_rc_t s_result (sluice_client_t *self, const sl_client_result_t *result);

void
sluice_client_destroy (sluice_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_client_t *self = *self_p;
    for (size_t i = 0; i < self->watch_count; i++)
        s_watch_detach (self->watches [i]);
    free (self->watches);
    sl_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

sluice_rc_t
sluice_client_set_curve_keys (sluice_client_t *self, const char *public_key, const char *secret_key,
                              const char *broker_key)
{
    assert (self);
    s_clear (self);
    if (self->client)
        return s_set (self, SLUICE_EINVAL, 0, "set keys before sluice_client_connect");
    if (!s_z85_key_valid (public_key) || !s_z85_key_valid (secret_key) || !s_z85_key_valid (broker_key))
        return s_set (self, SLUICE_EINVAL, 0, "CURVE keys are 40 Z85 characters each");
    snprintf (self->public_key, sizeof self->public_key, "%s", public_key);
    snprintf (self->secret_key, sizeof self->secret_key, "%s", secret_key);
    snprintf (self->broker_key, sizeof self->broker_key, "%s", broker_key);
    self->curve = true;
    return SLUICE_OK;
}

sluice_rc_t
sluice_client_set_curve (sluice_client_t *self, const char *client_cert, const char *broker_cert)
{
    assert (self);
    s_clear (self);
    if (!client_cert || !broker_cert)
        return s_set (self, SLUICE_EINVAL, 0, "both certificate paths are needed");
    zcert_t *mine = zcert_load (client_cert);
    zcert_t *theirs = zcert_load (broker_cert);
    sluice_rc_t rc;
    if (!mine || !theirs)
        rc = s_set (self, SLUICE_EIO, 0, "cannot read CURVE certificate %s",
                    mine ? broker_cert : client_cert);
    else
    if (strcmp (zcert_secret_txt (mine), "0000000000000000000000000000000000000000") == 0)
        rc = s_set (self, SLUICE_EINVAL, 0, "%s holds no secret key: pass the _secret file", client_cert);
    else
        rc = sluice_client_set_curve_keys (self, zcert_public_txt (mine), zcert_secret_txt (mine),
                                           zcert_public_txt (theirs));
    zcert_destroy (&mine);
    zcert_destroy (&theirs);
    return rc;
}

sluice_rc_t
sluice_client_set_workspace (sluice_client_t *self, const char *ws)
{
    assert (self);
    s_clear (self);
    if (!sl_token_valid (ws))
        return s_set (self, SLUICE_EINVAL, 0, "a workspace is 1..64 characters of [A-Za-z0-9_.-]");
    snprintf (self->ws, sizeof self->ws, "%s", ws);
    return SLUICE_OK;
}

void
sluice_client_set_timeout (sluice_client_t *self, int timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

sluice_rc_t
sluice_client_set_events_endpoint (sluice_client_t *self, const char *endpoint)
{
    assert (self);
    s_clear (self);
    if (!endpoint || strlen (endpoint) >= sizeof self->events || !strstr (endpoint, "://"))
        return s_set (self, SLUICE_EINVAL, 0, "not a ZeroMQ endpoint");
    snprintf (self->events, sizeof self->events, "%s", endpoint);
    return SLUICE_OK;
}

int
sluice_client_status (sluice_client_t *self)
{
    assert (self);
    return self->status;
}

const char *
sluice_client_message (sluice_client_t *self)
{
    assert (self);
    return self->message;
}

int64_t
sluice_client_retry_ms (sluice_client_t *self)
{
    assert (self);
    return self->retry_ms;
}

static int
s_timeout (sluice_client_t *self, int timeout_ms)
{
    return timeout_ms > 0 ? timeout_ms : self->timeout_ms;
}

static void
s_apply_curve (sluice_client_t *self, zsock_t *sock)
{
    if (self->curve) {
        zsock_set_curve_publickey (sock, self->public_key);
        zsock_set_curve_secretkey (sock, self->secret_key);
        zsock_set_curve_serverkey (sock, self->broker_key);
    }
}

sluice_rc_t
sluice_client_connect (sluice_client_t *self, int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!self->client) {
        sl_client_opts_t opts = { NULL, NULL, NULL, true };
        if (self->curve) {
            opts.public_key = self->public_key;
            opts.secret_key = self->secret_key;
            opts.server_key = self->broker_key;
        }
        self->client = sl_client_new_opts (self->endpoint, &opts);
        if (!self->client)
            return s_set (self, SLUICE_EINVAL, 0, "cannot connect to %s: %s", self->endpoint,
                          zmq_strerror (errno));
    }
    //  A STATS round trip proves the broker is there and accepts us
    char *data = NULL;
    size_t size = 0;
    sl_client_result_t result;
    sl_client_stats (self->client, s_timeout (self, timeout_ms), &data, &size, &result);
    free (data);
    sluice_rc_t rc = s_result (self, &result);
    if (rc == SLUICE_TIMEOUT)
        s_set (self, rc, 0, "no answer from the broker at %s within %d ms (is it running? does it need "
               "CURVE keys?)", self->endpoint, s_timeout (self, timeout_ms));
    return rc;
}

//  The outcome of one sl_client round trip as a result code, with the
//  status, message and retry time of the last call set.
static sluice_rc_t
s_result (sluice_client_t *self, const sl_client_result_t *result)
{
    s_clear (self);
    switch (result->rc) {
        case SL_CLIENT_OK:
            return SLUICE_OK;
        case SL_CLIENT_BUSY:
            self->retry_ms = result->retry_ms > 0 ? result->retry_ms : 1000;
            return s_set (self, SLUICE_BUSY, 429, "the %s queue is full (%lld waiting): retry in %lld ms",
                          *result->service ? result->service : "service", (long long) result->depth,
                          (long long) self->retry_ms);
        case SL_CLIENT_REFUSED:
            return s_set (self, SLUICE_EAUTH, 401, "%s", result->reason);
        case SL_CLIENT_TIMEOUT:
            return s_set (self, SLUICE_TIMEOUT, 0, "%s", result->reason);
        case SL_CLIENT_ERROR:
        default: {
            int code = (int) result->code;
            if (code == 0)          //  not the broker's answer: the send failed here
                return s_set (self, SLUICE_EINTERNAL, 0, "%s", result->reason);
            return s_set (self, code == 400 ? SLUICE_EREFUSED : s_rc_for (code), code, "broker: %s",
                          result->reason);
        }
    }
}

//  --------------------------------------------------------------------------
//  Requests

//  A decoded reply: the bytes and the msgpack tree pointing into them.
typedef struct {
    char *raw;
    size_t size;
    sl_mp_t *mp;
    const msgpack_object *root;
} reply_t;

static void
s_reply_free (reply_t *reply)
{
    sl_mp_destroy (&reply->mp);
    free (reply->raw);
    memset (reply, 0, sizeof *reply);
}

//  A string field copied out (NULL if absent, nil or not a string).
static char *
s_field_str (const msgpack_object *map, const char *key)
{
    const msgpack_object *o = sl_mp_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    return sl_mp_strdup (o);
}

static int64_t
s_field_int (const msgpack_object *map, const char *key, int64_t def)
{
    int64_t value;
    const msgpack_object *o = sl_mp_get (map, key);
    if (o && o->type == MSGPACK_OBJECT_FLOAT64)
        return (int64_t) o->via.f64;
    return sl_mp_int (o, &value) == 0 ? value : def;
}

static double
s_field_double (const msgpack_object *map, const char *key)
{
    const msgpack_object *o = sl_mp_get (map, key);
    if (!o)
        return 0;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        return o->via.f64;
    int64_t value;
    return sl_mp_int (o, &value) == 0 ? (double) value : 0;
}

//  Send service/kind with a msgpack body (taken over: freed here) and
//  decode the reply map. A reply {"error": {code, message}} becomes the
//  result code and message. job may be NULL.
static sluice_rc_t
s_request (sluice_client_t *self, const char *service, const char *kind, const char *job,
           char *body, size_t body_size, int timeout_ms, reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    timeout_ms = s_timeout (self, timeout_ms);
    sl_envelope_t *env = sl_envelope_new (kind, job, self->ws);
    if (!env || sl_envelope_set_route (env, service)) {
        free (body);
        sl_envelope_destroy (&env);
        s_clear (self);
        return s_set (self, SLUICE_EINVAL, 0, "invalid service, kind or job id");
    }
    sl_envelope_take_body (env, body, body_size);
    sl_envelope_set_deadline (env, sl_now_ms () + timeout_ms);
    if (!self->client) {
        sl_envelope_destroy (&env);
        s_clear (self);
        return s_set (self, SLUICE_EINVAL, 0, "not connected: call sluice_client_connect first");
    }
    sl_client_result_t result;
    sl_client_request (self->client, env, timeout_ms, &reply->raw, &reply->size, &result);
    sl_envelope_destroy (&env);
    sluice_rc_t rc = s_result (self, &result);
    if (rc != SLUICE_OK) {
        s_reply_free (reply);
        return rc;
    }
    char err [256];
    reply->mp = sl_mp_decode (reply->raw, reply->size, err, sizeof err);
    reply->root = reply->mp ? sl_mp_root (reply->mp) : NULL;
    if (!reply->root || reply->root->type != MSGPACK_OBJECT_MAP) {
        s_reply_free (reply);
        return s_set (self, SLUICE_EPROTOCOL, 502, "%s/%s: unreadable reply (%s)", service, kind,
                      reply->mp ? "not a map" : err);
    }
    const msgpack_object *error = sl_mp_get (reply->root, "error");
    if (error) {
        int status = (int) s_field_int (error, "code", 500);
        if (status < 400 || status > 599)
            status = 500;
        char *message = s_field_str (error, "message");
        rc = s_rc_for (status);
        s_set (self, rc, status, "%s", message ? message : "request failed");
        free (message);
        if (rc == SLUICE_BUSY) {
            int64_t ms = s_field_int (error, "retry_ms", -1);
            int64_t secs = s_field_int (error, "retry_after", -1);
            self->retry_ms = ms > 0 ? ms : secs > 0 ? secs * 1000 : 1000;
        }
        s_reply_free (reply);
        return rc;
    }
    return SLUICE_OK;
}

sluice_rc_t
sluice_client_call (sluice_client_t *self, const char *service, const char *kind, const void *body,
                    size_t body_size, void **reply_p, size_t *reply_size, int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!service || !kind || !sl_envelope_name_valid (service) || !sl_envelope_name_valid (kind))
        return s_set (self, SLUICE_EINVAL, 0, "service and kind are 1..31 of [a-z0-9_.-]");
    if (reply_p)
        *reply_p = NULL;
    if (reply_size)
        *reply_size = 0;
    char err [256];
    if (body_size && sl_mp_check (body, body_size, SL_MP_MAX_DEPTH, err, sizeof err))
        return s_set (self, SLUICE_EINVAL, 0, "body is not one msgpack value: %s", err);
    char *copy = malloc (body_size ? body_size : 1);
    assert (copy);
    if (body_size)
        memcpy (copy, body, body_size);
    else {
        copy [0] = (char) 0x80;         //  {}
        body_size = 1;
    }
    reply_t reply;
    sluice_rc_t rc = s_request (self, service, kind, NULL, copy, body_size, timeout_ms, &reply);
    if (rc == SLUICE_OK) {
        if (reply_p) {
            *reply_p = reply.raw;
            reply.raw = NULL;
        }
        if (reply_size)
            *reply_size = reply.size;
        s_reply_free (&reply);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  JSON rendering of msgpack values (for the _json accessors)

typedef struct {
    char *buf;
    size_t len, cap;
} json_t_;

static void
s_json_put (json_t_ *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        j->cap = (j->len + n + 1) * 2;
        j->buf = realloc (j->buf, j->cap);
        assert (j->buf);
    }
    memcpy (j->buf + j->len, s, n);
    j->len += n;
    j->buf [j->len] = 0;
}

static void
s_json_printf (json_t_ *j, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_json_printf (json_t_ *j, const char *fmt, ...)
{
    char tmp [64];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (tmp, sizeof tmp, fmt, args);
    va_end (args);
    s_json_put (j, tmp, n > 0 ? (size_t) n : 0);
}

//  Text reaches JSON under the engine's one policy (sl_util.h, as the
//  edge's answers and SSE): invalid UTF-8 becomes U+FFFD per bad byte
static void
s_json_string (json_t_ *j, const char *s, size_t n)
{
    char *fixed = NULL;
    if (!sl_utf8_valid (s, n))
        s = fixed = sl_utf8_repair (s, n, &n);
    s_json_put (j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s [i];
        if (c == '"' || c == '\\') {
            char esc [2] = { '\\', (char) c };
            s_json_put (j, esc, 2);
        }
        else
        if (c == '\n')
            s_json_put (j, "\\n", 2);
        else
        if (c == '\r')
            s_json_put (j, "\\r", 2);
        else
        if (c == '\t')
            s_json_put (j, "\\t", 2);
        else
        if (c < 0x20 || c == 0x7f)
            s_json_printf (j, "\\u%04x", c);
        else
            s_json_put (j, (const char *) &c, 1);
    }
    s_json_put (j, "\"", 1);
    free (fixed);
}

//  A bin is a string when it is UTF-8, else padded base64 (as sl_json)
static void
s_json_bin (json_t_ *j, const char *s, size_t n)
{
    if (sl_utf8_valid (s, n)) {
        s_json_string (j, s, n);
        return;
    }
    char *b64 = sl_base64_encode (s, n);
    s_json_string (j, b64, strlen (b64));
    free (b64);
}

static void
s_json_value (json_t_ *j, const msgpack_object *o)
{
    switch (o->type) {
        case MSGPACK_OBJECT_NIL: s_json_put (j, "null", 4); break;
        case MSGPACK_OBJECT_BOOLEAN: s_json_put (j, o->via.boolean ? "true" : "false", o->via.boolean ? 4 : 5); break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: s_json_printf (j, "%llu", (unsigned long long) o->via.u64); break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: s_json_printf (j, "%lld", (long long) o->via.i64); break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            if (o->via.f64 != o->via.f64 || o->via.f64 > 1e308 || o->via.f64 < -1e308)
                s_json_put (j, "null", 4);
            else
                s_json_printf (j, "%.17g", o->via.f64);
            break;
        case MSGPACK_OBJECT_STR: s_json_string (j, o->via.str.ptr, o->via.str.size); break;
        case MSGPACK_OBJECT_BIN: s_json_bin (j, o->via.bin.ptr, o->via.bin.size); break;
        case MSGPACK_OBJECT_ARRAY:
            s_json_put (j, "[", 1);
            for (uint32_t i = 0; i < o->via.array.size; i++) {
                if (i)
                    s_json_put (j, ",", 1);
                s_json_value (j, &o->via.array.ptr [i]);
            }
            s_json_put (j, "]", 1);
            break;
        case MSGPACK_OBJECT_MAP:
            s_json_put (j, "{", 1);
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                const msgpack_object_kv *kv = &o->via.map.ptr [i];
                if (i)
                    s_json_put (j, ",", 1);
                if (kv->key.type == MSGPACK_OBJECT_STR)
                    s_json_string (j, kv->key.via.str.ptr, kv->key.via.str.size);
                else {
                    //  JSON keys are strings: render any other key as one
                    json_t_ key = { 0 };
                    s_json_value (&key, &kv->key);
                    s_json_string (j, key.buf ? key.buf : "", key.len);
                    free (key.buf);
                }
                s_json_put (j, ":", 1);
                s_json_value (j, &kv->val);
            }
            s_json_put (j, "}", 1);
            break;
        default: s_json_put (j, "null", 4); break;
    }
}

static char *
s_json (const msgpack_object *o)
{
    json_t_ j = { 0 };
    if (o)
        s_json_value (&j, o);
    else
        s_json_put (&j, "null", 4);
    return j.buf;
}

//  --------------------------------------------------------------------------
//  Jobs

struct _sluice_job_t {
    char *id, *state, *stage, *source, *document_id, *error, *json;
    int percent;
    bool terminal;
};

static sluice_job_t *
s_job_new (const msgpack_object *map)
{
    sluice_job_t *self = calloc (1, sizeof *self);
    assert (self);
    self->id = s_field_str (map, "id");
    self->state = s_field_str (map, "state");
    self->stage = s_field_str (map, "stage");
    self->source = s_field_str (map, "source");
    self->document_id = s_field_str (map, "document_id");
    self->error = s_field_str (map, "error");
    self->percent = (int) s_field_int (map, "percent", 0);
    bool terminal = false;
    if (sl_mp_bool (sl_mp_get (map, "terminal"), &terminal) != 0)
        terminal = self->state && (strcmp (self->state, "completed") == 0 || strcmp (self->state, "failed") == 0
                                || strcmp (self->state, "cancelled") == 0);
    self->terminal = terminal;
    self->json = s_json (map);
    if (!self->id)
        self->id = strdup ("");
    if (!self->state)
        self->state = strdup ("");
    return self;
}

void
sluice_job_destroy (sluice_job_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_job_t *self = *self_p;
    free (self->id);
    free (self->state);
    free (self->stage);
    free (self->source);
    free (self->document_id);
    free (self->error);
    free (self->json);
    free (self);
    *self_p = NULL;
}

const char *sluice_job_id (const sluice_job_t *self) { return self->id; }
const char *sluice_job_state (const sluice_job_t *self) { return self->state; }
const char *sluice_job_stage (const sluice_job_t *self) { return self->stage; }
int sluice_job_percent (const sluice_job_t *self) { return self->percent; }
bool sluice_job_terminal (const sluice_job_t *self) { return self->terminal; }
const char *sluice_job_source (const sluice_job_t *self) { return self->source; }
const char *sluice_job_document_id (const sluice_job_t *self) { return self->document_id; }
const char *sluice_job_error (const sluice_job_t *self) { return self->error; }
const char *sluice_job_json (const sluice_job_t *self) { return self->json; }

static char *
s_body_kv (const char *key, const char *value, size_t *size)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_kv_str (&w, key, value);
    return sl_mpw_take (&w, size);
}

//  service/kind {"job": job_id}, answered with {"job": {...}}
static sluice_rc_t
s_job_request (sluice_client_t *self, const char *service, const char *kind, const char *job_id,
               sluice_job_t **job_p, int timeout_ms)
{
    if (job_p)
        *job_p = NULL;
    s_clear (self);
    if (!sl_token_valid (job_id))
        return s_set (self, SLUICE_EINVAL, 0, "a job id is 1..64 characters of [A-Za-z0-9_.-]");
    size_t size;
    char *body = s_body_kv ("job", job_id, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, service, kind, NULL, body, size, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        return rc;
    const msgpack_object *job = sl_mp_get (reply.root, "job");
    if (!job || job->type != MSGPACK_OBJECT_MAP)
        rc = s_set (self, SLUICE_EPROTOCOL, 502, "%s/%s: reply without a job", service, kind);
    else
    if (job_p)
        *job_p = s_job_new (job);
    s_reply_free (&reply);
    return rc;
}

sluice_rc_t
sluice_client_job (sluice_client_t *self, const char *job_id, sluice_job_t **job_p, int timeout_ms)
{
    assert (self && job_p);
    return s_job_request (self, "query", "job_get", job_id, job_p, timeout_ms);
}

sluice_rc_t
sluice_client_cancel (sluice_client_t *self, const char *job_id, sluice_job_t **job_p, int timeout_ms)
{
    assert (self);
    return s_job_request (self, "intake", "cancel", job_id, job_p, timeout_ms);
}

sluice_rc_t
sluice_client_retry (sluice_client_t *self, const char *job_id, sluice_job_t **job_p, int timeout_ms)
{
    assert (self);
    return s_job_request (self, "intake", "retry", job_id, job_p, timeout_ms);
}

//  --------------------------------------------------------------------------
//  Ingest

static bool
s_job_id_prepare (sluice_client_t *self, char job_id [SLUICE_ID_SIZE])
{
    if (!job_id)
        return false;
    if (!job_id [0]) {
        sl_id_new (job_id);
        return true;
    }
    return sl_token_valid (job_id);
}

//  intake/ingest with a prepared body; fills job_id from the reply.
static sluice_rc_t
s_ingest (sluice_client_t *self, char *body, size_t size, char job_id [SLUICE_ID_SIZE], int timeout_ms)
{
    reply_t reply;
    sluice_rc_t rc = s_request (self, "intake", "ingest", job_id, body, size, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        return rc;
    const msgpack_object *job = sl_mp_get (reply.root, "job");
    char id [SLUICE_ID_SIZE];
    if (!job || sl_mp_get_str (job, "id", id, sizeof id))
        rc = s_set (self, SLUICE_EPROTOCOL, 502, "intake/ingest: reply without a job");
    else
        snprintf (job_id, SLUICE_ID_SIZE, "%s", id);
    s_reply_free (&reply);
    return rc;
}

sluice_rc_t
sluice_client_ingest_url (sluice_client_t *self, const char *url, char job_id [SLUICE_ID_SIZE], int timeout_ms)
{
    return sluice_client_ingest_url_meta (self, url, NULL, job_id, timeout_ms);
}

sluice_rc_t
sluice_client_ingest_url_meta (sluice_client_t *self, const char *url, const char *meta_json,
                               char job_id [SLUICE_ID_SIZE], int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!url || (strncmp (url, "http://", 7) && strncmp (url, "https://", 8)) || strlen (url) > 2000)
        return s_set (self, SLUICE_EINVAL, 0, "url must be an http or https URL of at most 2000 characters");
    if (!s_job_id_prepare (self, job_id))
        return s_set (self, SLUICE_EINVAL, 0, "job_id must be \"\" or 1..64 characters of [A-Za-z0-9_.-]");
    if (meta_json && strlen (meta_json) > 65536)
        return s_set (self, SLUICE_EINVAL, 0, "meta is longer than 64 KiB");
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, meta_json ? 2 : 1);
    sl_mpw_kv_str (&w, "url", url);
    //  JSON text: intake reads and checks it (this library parses no JSON)
    if (meta_json)
        sl_mpw_kv_str (&w, "meta", meta_json);
    size_t size;
    char *body = sl_mpw_take (&w, &size);
    return s_ingest (self, body, size, job_id, timeout_ms);
}

//  Read up to max bytes (fewer only at the end). -1 on a reader error.
static ssize_t
s_fill (sluice_read_fn *read, void *arg, char *buf, size_t max)
{
    size_t have = 0;
    while (have < max) {
        ssize_t n = read (arg, buf + have, max - have);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        have += (size_t) n;
    }
    return (ssize_t) have;
}

//  Fire and forget: tell the upload service to drop an upload now rather
//  than when it expires. The answer, if any, is dropped by corr later.
static void
s_abort_upload (sluice_client_t *self, const char *upload_id)
{
    int status = self->status;
    int64_t retry = self->retry_ms;
    char message [sizeof self->message];
    memcpy (message, self->message, sizeof message);
    size_t size;
    char *body = s_body_kv ("upload_id", upload_id, &size);
    sl_envelope_t *env = sl_envelope_new ("abort", NULL, self->ws);
    if (env && sl_envelope_set_route (env, "upload") == 0) {
        sl_envelope_take_body (env, body, size);
        body = NULL;
        sl_envelope_set_deadline (env, sl_now_ms () + 5000);
        if (self->client)
            sl_client_post (self->client, env, 5000);
    }
    free (body);
    sl_envelope_destroy (&env);
    self->status = status;
    self->retry_ms = retry;
    memcpy (self->message, message, sizeof message);
}

//  Upload everything read gives into the blob area; fill blob and *total.
static sluice_rc_t
s_upload (sluice_client_t *self, sluice_read_fn *read, void *arg, int64_t size, const char *filename,
          const char *mime, char blob [SL_SHA256_HEX], uint64_t *total, int timeout_ms)
{
    char *buf = malloc (PART_MAX);
    if (!buf)
        return s_set (self, SLUICE_EIO, 0, "out of memory");
    sl_sha256_t *hash = sl_sha256_new ();
    ssize_t n = s_fill (read, arg, buf, PART_MAX);
    sluice_rc_t rc = SLUICE_OK;
    char upload_id [SL_ID_LEN + 1] = "";
    *total = 0;
    if (n < 0) {
        rc = s_set (self, SLUICE_EIO, 0, "reading the document failed");
        goto done;
    }
    if (n == 0) {
        rc = s_set (self, SLUICE_EREFUSED, 400, "the document is empty: there is nothing to ingest");
        goto done;
    }
    sl_mpw_t w;
    size_t bsize;
    char *body;
    reply_t reply;
    if (n < (ssize_t) PART_MAX) {
        //  The whole document fits in one part (most do): one round trip
        sl_sha256_update (hash, buf, (size_t) n);
        char sha [SL_SHA256_HEX];
        sl_sha256_final (&hash, sha);
        //  Storing is idempotent (content addressed): a lost answer is
        //  simply asked for again
        for (int attempt = 0; attempt < 2; attempt++) {
            sl_mpw_init (&w);
            msgpack_pack_map (&w.pk, 4);
            sl_mpw_key (&w, "data");
            sl_mpw_bin (&w, buf, (size_t) n);
            sl_mpw_kv_str (&w, "filename", filename ? filename : "");
            sl_mpw_kv_str (&w, "mime", mime ? mime : "");
            sl_mpw_kv_str (&w, "sha256", sha);
            body = sl_mpw_take (&w, &bsize);
            rc = s_request (self, "upload", "put", NULL, body, bsize, timeout_ms, &reply);
            if (rc != SLUICE_TIMEOUT)
                break;
        }
        if (rc != SLUICE_OK)
            goto done;
        *total = (uint64_t) n;
        if (sl_mp_get_str (reply.root, "blob", blob, SL_SHA256_HEX) || strcmp (blob, sha) != 0)
            rc = s_set (self, SLUICE_EPROTOCOL, 502, "upload/put: the blob hash is not the one sent");
        s_reply_free (&reply);
        goto done;
    }
    //  begin
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3);
    sl_mpw_key (&w, "size");
    if (size >= 0)
        msgpack_pack_int64 (&w.pk, size);
    else
        msgpack_pack_nil (&w.pk);
    sl_mpw_kv_str (&w, "filename", filename ? filename : "");
    sl_mpw_kv_str (&w, "mime", mime ? mime : "");
    body = sl_mpw_take (&w, &bsize);
    rc = s_request (self, "upload", "begin", NULL, body, bsize, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        goto done;
    int64_t part_max = s_field_int (reply.root, "part_max", PART_MAX);
    if (sl_mp_get_str (reply.root, "upload_id", upload_id, sizeof upload_id) || part_max <= 0) {
        s_reply_free (&reply);
        rc = s_set (self, SLUICE_EPROTOCOL, 502, "upload/begin: reply without an upload_id");
        goto done;
    }
    s_reply_free (&reply);
    //  parts, in order, each acknowledged before the next (parts of one
    //  upload may be served by different processes: order is ours to keep)
    size_t chunk = (size_t) (part_max < PART_MAX ? part_max : PART_MAX);
    size_t have = (size_t) n, off = 0;
    for (int64_t seq = 0; ; seq++) {
        if (off == have) {
            n = s_fill (read, arg, buf, PART_MAX);
            if (n < 0) {
                rc = s_set (self, SLUICE_EIO, 0, "reading the document failed after %llu bytes",
                            (unsigned long long) *total);
                goto done;
            }
            if (n == 0)
                break;
            have = (size_t) n;
            off = 0;
        }
        size_t len = have - off < chunk ? have - off : chunk;
        for (int attempt = 0; attempt < 2; attempt++) {
            sl_mpw_init (&w);
            msgpack_pack_map (&w.pk, 3);
            sl_mpw_kv_str (&w, "upload_id", upload_id);
            sl_mpw_kv_int (&w, "seq", seq);
            sl_mpw_key (&w, "data");
            sl_mpw_bin (&w, buf + off, len);
            body = sl_mpw_take (&w, &bsize);
            //  A part lost in flight is sent again: the service acks a
            //  seq it already applied without writing it twice
            rc = s_request (self, "upload", "part", NULL, body, bsize, timeout_ms, &reply);
            if (rc != SLUICE_TIMEOUT)
                break;
        }
        if (rc != SLUICE_OK)
            goto done;
        s_reply_free (&reply);
        sl_sha256_update (hash, buf + off, len);
        off += len;
        *total += len;
    }
    //  commit with our hash: the service checks the bytes it holds
    char sha [SL_SHA256_HEX];
    sl_sha256_final (&hash, sha);
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_str (&w, "upload_id", upload_id);
    sl_mpw_kv_str (&w, "sha256", sha);
    body = sl_mpw_take (&w, &bsize);
    for (int attempt = 0; attempt < 2; attempt++) {
        char *copy = malloc (bsize);
        assert (copy);
        memcpy (copy, body, bsize);
        rc = s_request (self, "upload", "commit", NULL, copy, bsize, timeout_ms, &reply);
        if (rc != SLUICE_TIMEOUT)
            break;          //  a commit retried after a lost answer gets the same answer
    }
    free (body);
    if (rc != SLUICE_OK)
        goto done;
    if (sl_mp_get_str (reply.root, "blob", blob, SL_SHA256_HEX) || strcmp (blob, sha) != 0)
        rc = s_set (self, SLUICE_EPROTOCOL, 502, "upload/commit: the blob hash is not the one sent");
    upload_id [0] = 0;          //  committed: nothing to abort
    s_reply_free (&reply);
done:
    if (hash) {
        char discard [SL_SHA256_HEX];
        sl_sha256_final (&hash, discard);
    }
    if (rc != SLUICE_OK && upload_id [0])
        s_abort_upload (self, upload_id);
    free (buf);
    return rc;
}

sluice_rc_t
sluice_client_ingest_stream (sluice_client_t *self, sluice_read_fn *read, void *arg, int64_t size,
                             const char *filename, const char *mime, char job_id [SLUICE_ID_SIZE],
                             int timeout_ms)
{
    return sluice_client_ingest_stream_meta (self, read, arg, size, filename, mime, NULL, job_id,
                                             timeout_ms);
}

sluice_rc_t
sluice_client_ingest_stream_meta (sluice_client_t *self, sluice_read_fn *read, void *arg,
                                  int64_t size, const char *filename, const char *mime,
                                  const char *meta_json, char job_id [SLUICE_ID_SIZE],
                                  int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!read)
        return s_set (self, SLUICE_EINVAL, 0, "no reader");
    if (!s_job_id_prepare (self, job_id))
        return s_set (self, SLUICE_EINVAL, 0, "job_id must be \"\" or 1..64 characters of [A-Za-z0-9_.-]");
    if ((filename && strlen (filename) > 1000) || (mime && strlen (mime) > 120))
        return s_set (self, SLUICE_EINVAL, 0, "filename or mime too long");
    if (meta_json && strlen (meta_json) > 65536)
        return s_set (self, SLUICE_EINVAL, 0, "meta is longer than 64 KiB");
    char blob [SL_SHA256_HEX] = "";
    uint64_t total = 0;
    sluice_rc_t rc = s_upload (self, read, arg, size, filename, mime, blob, &total, timeout_ms);
    if (rc != SLUICE_OK)
        return rc;
    if (size >= 0 && total != (uint64_t) size)
        return s_set (self, SLUICE_EIO, 0, "the reader gave %llu bytes, not the %lld announced",
                      (unsigned long long) total, (long long) size);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, meta_json ? 5 : 4);
    sl_mpw_kv_str (&w, "blob", blob);
    sl_mpw_kv_int (&w, "size", (int64_t) total);
    sl_mpw_kv_str (&w, "filename", filename ? filename : "");
    sl_mpw_kv_str (&w, "mime", mime ? mime : "");
    if (meta_json)
        sl_mpw_kv_str (&w, "meta", meta_json);
    size_t bsize;
    char *body = sl_mpw_take (&w, &bsize);
    return s_ingest (self, body, bsize, job_id, timeout_ms);
}

typedef struct {
    const char *data;
    size_t size;
    size_t pos;
} mem_reader_t;

static ssize_t
s_mem_read (void *arg, void *buf, size_t max)
{
    mem_reader_t *r = (mem_reader_t *) arg;
    size_t n = r->size - r->pos < max ? r->size - r->pos : max;
    memcpy (buf, r->data + r->pos, n);
    r->pos += n;
    return (ssize_t) n;
}

sluice_rc_t
sluice_client_ingest_bytes (sluice_client_t *self, const void *data, size_t size, const char *filename,
                            const char *mime, char job_id [SLUICE_ID_SIZE], int timeout_ms)
{
    assert (self);
    if (!data && size) {
        s_clear (self);
        return s_set (self, SLUICE_EINVAL, 0, "no data");
    }
    mem_reader_t reader = { data, size, 0 };
    return sluice_client_ingest_stream (self, s_mem_read, &reader, (int64_t) size, filename, mime, job_id,
                                        timeout_ms);
}

static ssize_t
s_file_read (void *arg, void *buf, size_t max)
{
    FILE *file = (FILE *) arg;
    size_t n = fread (buf, 1, max, file);
    return n == 0 && ferror (file) ? -1 : (ssize_t) n;
}

sluice_rc_t
sluice_client_ingest_file (sluice_client_t *self, const char *path, const char *mime,
                           char job_id [SLUICE_ID_SIZE], int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!path)
        return s_set (self, SLUICE_EINVAL, 0, "no path");
    FILE *file = fopen (path, "rbe");
    struct stat st;
    if (!file)
        return s_set (self, SLUICE_EIO, 0, "cannot open %s: %s", path, strerror (errno));
    if (fstat (fileno (file), &st) != 0 || !S_ISREG (st.st_mode)) {
        fclose (file);
        return s_set (self, SLUICE_EIO, 0, "%s is not a regular file", path);
    }
    const char *name = strrchr (path, '/');
    name = name ? name + 1 : path;
    sluice_rc_t rc = sluice_client_ingest_stream (self, s_file_read, file, (int64_t) st.st_size, name, mime,
                                                  job_id, timeout_ms);
    fclose (file);
    return rc;
}

//  --------------------------------------------------------------------------
//  Events

struct _sluice_event_t {
    sluice_event_t *next;           //  in a watch's ready queue
    int64_t seq, ts;
    int percent;
    char *type, *job, *stage, *message, *reason, *document_id, *json;
};

//  A field of an event: top level first (live events are flat), then
//  inside "data" (stored events keep their fields there).
static const msgpack_object *
s_event_field (const msgpack_object *event, const char *key)
{
    const msgpack_object *o = sl_mp_get (event, key);
    if (o)
        return o;
    const msgpack_object *data = sl_mp_get (event, "data");
    return data && data->type == MSGPACK_OBJECT_MAP ? sl_mp_get (data, key) : NULL;
}

static char *
s_event_str (const msgpack_object *event, const char *key)
{
    const msgpack_object *o = s_event_field (event, key);
    return o && o->type == MSGPACK_OBJECT_STR ? sl_mp_strdup (o) : NULL;
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen (name)
        && memcmp (key->via.str.ptr, name, key->via.str.size) == 0;
}

//  Flat JSON like the SSE data line: top-level fields except "data", then
//  the fields of "data" not already present, then "job" if missing.
static char *
s_event_json (const msgpack_object *event, const char *job)
{
    json_t_ j = { 0 };
    s_json_put (&j, "{", 1);
    bool first = true;
    const msgpack_object *data = NULL;
    for (uint32_t i = 0; i < event->via.map.size; i++) {
        const msgpack_object_kv *kv = &event->via.map.ptr [i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            continue;
        if (s_key_is (&kv->key, "data") && kv->val.type == MSGPACK_OBJECT_MAP) {
            data = &kv->val;
            continue;
        }
        if (!first)
            s_json_put (&j, ",", 1);
        first = false;
        s_json_string (&j, kv->key.via.str.ptr, kv->key.via.str.size);
        s_json_put (&j, ":", 1);
        s_json_value (&j, &kv->val);
    }
    for (uint32_t i = 0; data && i < data->via.map.size; i++) {
        const msgpack_object_kv *kv = &data->via.map.ptr [i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            continue;
        bool shadowed = false;
        for (uint32_t k = 0; k < event->via.map.size && !shadowed; k++)
            shadowed = kv->key.via.str.size == event->via.map.ptr [k].key.via.str.size
                    && event->via.map.ptr [k].key.type == MSGPACK_OBJECT_STR
                    && memcmp (kv->key.via.str.ptr, event->via.map.ptr [k].key.via.str.ptr,
                               kv->key.via.str.size) == 0;
        if (shadowed)
            continue;
        if (!first)
            s_json_put (&j, ",", 1);
        first = false;
        s_json_string (&j, kv->key.via.str.ptr, kv->key.via.str.size);
        s_json_put (&j, ":", 1);
        s_json_value (&j, &kv->val);
    }
    if (!s_event_field (event, "job")) {
        if (!first)
            s_json_put (&j, ",", 1);
        s_json_put (&j, "\"job\":", 6);
        s_json_string (&j, job, strlen (job));
    }
    s_json_put (&j, "}", 1);
    return j.buf;
}

static sluice_event_t *
s_event_new (const msgpack_object *event, const char *job)
{
    sluice_event_t *self = calloc (1, sizeof *self);
    assert (self);
    int64_t value;
    self->seq = sl_mp_int (s_event_field (event, "seq"), &value) == 0 ? value : 0;
    self->ts = sl_mp_int (s_event_field (event, "ts"), &value) == 0 ? value : 0;
    self->percent = sl_mp_int (s_event_field (event, "percent"), &value) == 0 ? (int) value : -1;
    self->type = s_event_str (event, "type");
    if (!self->type)
        self->type = strdup ("message");
    self->job = s_event_str (event, "job");
    if (!self->job)
        self->job = strdup (job);
    self->stage = s_event_str (event, "stage");
    self->message = s_event_str (event, "message");
    self->reason = s_event_str (event, "reason");
    self->document_id = s_event_str (event, "document_id");
    self->json = s_event_json (event, job);
    return self;
}

void
sluice_event_destroy (sluice_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_event_t *self = *self_p;
    free (self->type);
    free (self->job);
    free (self->stage);
    free (self->message);
    free (self->reason);
    free (self->document_id);
    free (self->json);
    free (self);
    *self_p = NULL;
}

int64_t sluice_event_seq (const sluice_event_t *self) { return self->seq; }
const char *sluice_event_type (const sluice_event_t *self) { return self->type; }
const char *sluice_event_job (const sluice_event_t *self) { return self->job; }
const char *sluice_event_stage (const sluice_event_t *self) { return self->stage; }
const char *sluice_event_message (const sluice_event_t *self) { return self->message; }
const char *sluice_event_reason (const sluice_event_t *self) { return self->reason; }
const char *sluice_event_document_id (const sluice_event_t *self) { return self->document_id; }
int sluice_event_percent (const sluice_event_t *self) { return self->percent; }
int64_t sluice_event_ts (const sluice_event_t *self) { return self->ts; }
const char *sluice_event_json (const sluice_event_t *self) { return self->json; }

bool
sluice_event_terminal (const sluice_event_t *self)
{
    return strcmp (self->type, "job_completed") == 0 || strcmp (self->type, "job_failed") == 0
        || strcmp (self->type, "job_cancelled") == 0;
}

//  --------------------------------------------------------------------------
//  Watches

typedef struct {
    char id [SLUICE_ID_SIZE];
    char topic [SL_TOPIC_MAX];      //  "<workspace>/<job>", as subscribed
    int64_t last;                   //  highest seq given (or resumed from)
    bool done;
    bool need_query;
    int64_t requery_at;
    int requery_ms;
    int64_t terminal_since;
} wjob_t;

struct _sluice_watch_t {
    sluice_client_t *client;        //  NULL once the client is gone
    zsock_t *sub;
    wjob_t *jobs;
    size_t count, cap;
    sluice_event_t *head, *tail;    //  events ready to give
};

static void
s_watch_detach (sluice_watch_t *self)
{
    zsock_destroy (&self->sub);
    self->client = NULL;
}

sluice_rc_t
sluice_watch_new (sluice_client_t *client, sluice_watch_t **watch_p)
{
    assert (client && watch_p);
    *watch_p = NULL;
    s_clear (client);
    if (!client->client)
        return s_set (client, SLUICE_EINVAL, 0, "not connected: call sluice_client_connect first");
    if (!client->events [0])
        return s_set (client, SLUICE_EINVAL, 0, "no event endpoint: call sluice_client_set_events_endpoint");
    sluice_watch_t *self = calloc (1, sizeof *self);
    assert (self);
    self->client = client;
    self->sub = zsock_new (ZMQ_SUB);
    if (!self->sub) {
        free (self);
        return s_set (client, SLUICE_EINVAL, 0, "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
    }
    zsock_set_linger (self->sub, 0);
    zsock_set_rcvhwm (self->sub, 100000);
    sl_proto_limit (self->sub);
    s_apply_curve (client, self->sub);
    //  A comma list (a broker pair): follow both, only the active one publishes
    if (zsock_attach (self->sub, client->events, false)) {
        zsock_destroy (&self->sub);
        free (self);
        return s_set (client, SLUICE_EINVAL, 0, "cannot connect to the event endpoint %s", client->events);
    }
    sluice_watch_t **grown = realloc (client->watches, (client->watch_count + 1) * sizeof *grown);
    assert (grown);
    client->watches = grown;
    client->watches [client->watch_count++] = self;
    *watch_p = self;
    return SLUICE_OK;
}

void
sluice_watch_destroy (sluice_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_watch_t *self = *self_p;
    if (self->client) {
        sluice_client_t *client = self->client;
        for (size_t i = 0; i < client->watch_count; i++)
            if (client->watches [i] == self) {
                client->watches [i] = client->watches [--client->watch_count];
                break;
            }
    }
    zsock_destroy (&self->sub);
    while (self->head) {
        sluice_event_t *next = self->head->next;
        sluice_event_destroy (&self->head);
        self->head = next;
    }
    free (self->jobs);
    free (self);
    *self_p = NULL;
}

sluice_rc_t
sluice_watch_add (sluice_watch_t *self, const char *job_id, int64_t after_seq, int timeout_ms)
{
    assert (self);
    sluice_client_t *client = self->client;
    if (!client)
        return SLUICE_EINVAL;
    s_clear (client);
    if (!sl_token_valid (job_id))
        return s_set (client, SLUICE_EINVAL, 0, "a job id is 1..64 characters of [A-Za-z0-9_.-]");
    //  Subscribe first, then check and read: nothing can fall between.
    //  Events are published on "<workspace>/<job>" (a client key may only
    //  subscribe to its own workspaces)
    char topic [SL_TOPIC_MAX];
    sl_proto_topic (topic, sizeof topic, client->ws, job_id);
    zsock_set_subscribe (self->sub, topic);
    sluice_job_t *job = NULL;
    sluice_rc_t rc = sluice_client_job (client, job_id, &job, timeout_ms);
    sluice_job_destroy (&job);
    if (rc != SLUICE_OK) {
        zsock_set_unsubscribe (self->sub, topic);
        return rc;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 4;
        self->jobs = realloc (self->jobs, self->cap * sizeof *self->jobs);
        assert (self->jobs);
    }
    wjob_t *j = &self->jobs [self->count++];
    memset (j, 0, sizeof *j);
    snprintf (j->id, sizeof j->id, "%s", job_id);
    snprintf (j->topic, sizeof j->topic, "%s", topic);
    j->last = after_seq > 0 ? after_seq : 0;
    j->need_query = true;
    j->requery_ms = REQUERY_MIN_MS;
    if (after_seq > 0) {
        //  Resuming: if the caller's last event was the job's terminal one
        //  there is nothing more to wait for (the edge answers SSE 204)
        sl_mpw_t w;
        sl_mpw_init (&w);
        msgpack_pack_map (&w.pk, 2);
        sl_mpw_kv_str (&w, "job", job_id);
        sl_mpw_kv_int (&w, "after", after_seq - 1);
        size_t size;
        char *body = sl_mpw_take (&w, &size);
        reply_t reply;
        if (s_request (client, "query", "events", NULL, body, size, timeout_ms, &reply) == SLUICE_OK) {
            const msgpack_object *events = sl_mp_get (reply.root, "events");
            if (events && events->type == MSGPACK_OBJECT_ARRAY && events->via.array.size == 1
            &&  events->via.array.ptr [0].type == MSGPACK_OBJECT_MAP) {
                sluice_event_t *event = s_event_new (&events->via.array.ptr [0], job_id);
                j->done = event->seq == after_seq && sluice_event_terminal (event);
                sluice_event_destroy (&event);
            }
            s_reply_free (&reply);
        }
        s_clear (client);
    }
    return SLUICE_OK;
}

sluice_rc_t
sluice_client_watch (sluice_client_t *self, const char *job_id, int64_t after_seq, sluice_watch_t **watch_p,
                     int timeout_ms)
{
    sluice_rc_t rc = sluice_watch_new (self, watch_p);
    if (rc == SLUICE_OK && (rc = sluice_watch_add (*watch_p, job_id, after_seq, timeout_ms)) != SLUICE_OK) {
        char message [sizeof self->message];
        int status = self->status;
        memcpy (message, self->message, sizeof message);
        sluice_watch_destroy (watch_p);
        self->status = status;
        memcpy (self->message, message, sizeof message);
    }
    return rc;
}

int
sluice_watch_pending (sluice_watch_t *self)
{
    assert (self);
    int n = 0;
    for (size_t i = 0; i < self->count; i++)
        n += !self->jobs [i].done;
    return n;
}

static void
s_queue (sluice_watch_t *self, sluice_event_t *event)
{
    event->next = NULL;
    if (self->tail)
        self->tail->next = event;
    else
        self->head = event;
    self->tail = event;
}

//  Give the event if it is the next of its job. 1 queued, 0 duplicate,
//  2 gap (a re-query is needed). Takes the event either way.
static int
s_offer (sluice_watch_t *self, wjob_t *job, sluice_event_t *event)
{
    if (job->done || (event->seq > 0 && event->seq <= job->last)) {
        sluice_event_destroy (&event);
        return 0;
    }
    if (event->seq > job->last + 1) {
        sluice_event_destroy (&event);
        return 2;
    }
    if (event->seq > 0)
        job->last = event->seq;
    if (sluice_event_terminal (event))
        job->done = true;
    s_queue (self, event);
    return 1;
}

//  Read a job's stored events after job->last (query/events).
static void
s_query (sluice_watch_t *self, wjob_t *job, int timeout_ms)
{
    sluice_client_t *client = self->client;
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_str (&w, "job", job->id);
    sl_mpw_kv_int (&w, "after", job->last);
    size_t size;
    char *body = sl_mpw_take (&w, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (client, "query", "events", NULL, body, size, timeout_ms, &reply);
    int64_t now = sl_mono_ms ();
    job->requery_at = now + job->requery_ms;
    if (job->requery_ms < REQUERY_MAX_MS)
        job->requery_ms *= 2;
    job->need_query = false;
    if (rc == SLUICE_ENOTFOUND)
        job->done = true;           //  deleted while we watched: nothing more will come
    if (rc != SLUICE_OK)
        return;
    const msgpack_object *events = sl_mp_get (reply.root, "events");
    uint32_t count = events && events->type == MSGPACK_OBJECT_ARRAY ? events->via.array.size : 0;
    for (uint32_t i = 0; i < count && !job->done; i++) {
        const msgpack_object *ev = &events->via.array.ptr [i];
        if (ev->type != MSGPACK_OBJECT_MAP)
            continue;
        sluice_event_t *event = s_event_new (ev, job->id);
        //  Stored events come in order; a hole there is the journal's
        //  business, not ours to wait for: take the next one present
        if (event->seq > job->last + 1)
            job->last = event->seq - 1;
        s_offer (self, job, event);
    }
    if (count > 0 && !job->done)
        job->need_query = true;     //  the query caps a page: ask for more
    bool terminal = false;
    sl_mp_bool (sl_mp_get (reply.root, "terminal"), &terminal);
    //  The store marks a job finished a moment before the journal records
    //  job_completed: keep asking briefly for that last event
    if (terminal && count == 0 && !job->done) {
        if (!job->terminal_since)
            job->terminal_since = now;
        if (now - job->terminal_since >= TERMINAL_GRACE_MS)
            job->done = true;
        else
        if (job->requery_at > now + TERMINAL_POLL_MS)
            job->requery_at = now + TERMINAL_POLL_MS;
    }
    s_reply_free (&reply);
}

//  Take one live message off the SUB socket.
static void
s_take_live (sluice_watch_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sub);
    zframe_t *topic = msg ? zmsg_first (msg) : NULL;
    zframe_t *data = msg ? zmsg_next (msg) : NULL;
    wjob_t *job = NULL;
    for (size_t i = 0; topic && data && i < self->count && !job; i++)
        if (zframe_size (topic) == strlen (self->jobs [i].topic)
        &&  memcmp (zframe_data (topic), self->jobs [i].topic, zframe_size (topic)) == 0)
            job = &self->jobs [i];
    char err [128];
    sl_mp_t *mp = job ? sl_mp_decode (zframe_data (data), zframe_size (data), err, sizeof err) : NULL;
    const msgpack_object *root = mp ? sl_mp_root (mp) : NULL;
    if (root && root->type == MSGPACK_OBJECT_MAP && !job->done) {
        if (s_offer (self, job, s_event_new (root, job->id)) == 2)
            job->need_query = true;
        else {
            //  Live events flow: the safety re-query can wait again
            job->requery_ms = REQUERY_MIN_MS;
            job->requery_at = sl_mono_ms () + REQUERY_MAX_MS;
        }
    }
    sl_mp_destroy (&mp);
    zmsg_destroy (&msg);
}

sluice_rc_t
sluice_watch_next (sluice_watch_t *self, sluice_event_t **event_p, int timeout_ms)
{
    assert (self && event_p);
    *event_p = NULL;
    int64_t deadline = sl_mono_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        if (self->head) {
            *event_p = self->head;
            self->head = self->head->next;
            if (!self->head)
                self->tail = NULL;
            (*event_p)->next = NULL;
            return SLUICE_OK;
        }
        if (sluice_watch_pending (self) == 0)
            return SLUICE_END;
        if (!self->client)
            return SLUICE_EINVAL;
        int64_t now = sl_mono_ms ();
        int64_t wake = deadline;
        bool asked = false;
        for (size_t i = 0; i < self->count; i++) {
            wjob_t *job = &self->jobs [i];
            if (job->done)
                continue;
            if (job->need_query || now >= job->requery_at) {
                //  Bounded by what is left of this call, but never so short
                //  that a slow answer could never make it
                int64_t left = deadline - now;
                int limit = self->client->timeout_ms;
                s_query (self, job, left > limit ? limit : left > 1000 ? (int) left : 1000);
                asked = true;
            }
            if (!job->done && job->requery_at < wake)
                wake = job->requery_at;
        }
        if (asked)
            continue;               //  look at what the queries gave first
        now = sl_mono_ms ();
        if (now >= deadline)
            return SLUICE_TIMEOUT;
        zmq_pollitem_t item = { zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0 };
        int64_t wait = wake - now > 0 ? wake - now : 0;
        if (zmq_poll (&item, 1, (long) wait) > 0)
            for (int i = 0; i < 1000 && (zsock_events (self->sub) & ZMQ_POLLIN); i++)
                s_take_live (self);
    }
}

sluice_rc_t
sluice_client_follow (sluice_client_t *self, const char *job_id, int64_t after_seq, sluice_event_fn *fn,
                      void *arg, int timeout_ms)
{
    assert (self && fn);
    int64_t deadline = sl_mono_ms () + s_timeout (self, timeout_ms);
    sluice_watch_t *watch = NULL;
    sluice_rc_t rc = sluice_client_watch (self, job_id, after_seq, &watch, timeout_ms);
    while (rc == SLUICE_OK) {
        int64_t left = deadline - sl_mono_ms ();
        sluice_event_t *event = NULL;
        rc = left > 0 ? sluice_watch_next (watch, &event, (int) left) : SLUICE_TIMEOUT;
        if (rc == SLUICE_OK) {
            int stop = fn (event, arg);
            sluice_event_destroy (&event);
            if (stop)
                break;
        }
    }
    sluice_watch_destroy (&watch);
    if (rc == SLUICE_END)
        rc = SLUICE_OK;
    if (rc == SLUICE_TIMEOUT)
        s_set (self, rc, 0, "job %s did not finish within %d ms", job_id, s_timeout (self, timeout_ms));
    return rc;
}

sluice_rc_t
sluice_client_wait (sluice_client_t *self, const char *job_id, sluice_job_t **job_p, int timeout_ms)
{
    assert (self);
    if (job_p)
        *job_p = NULL;
    int64_t deadline = sl_mono_ms () + s_timeout (self, timeout_ms);
    int64_t after = 0;
    sluice_job_t *job = NULL;
    sluice_rc_t rc;
    //  A job that ended and was retried has more events after its first
    //  terminal one: follow them until the job reads terminal itself
    do {
        if (job)
            zclock_sleep (50);      //  retried: give its new run a moment to be logged
        sluice_job_destroy (&job);
        sluice_watch_t *watch = NULL;
        rc = sluice_client_watch (self, job_id, after, &watch, timeout_ms);
        while (rc == SLUICE_OK) {
            int64_t left = deadline - sl_mono_ms ();
            sluice_event_t *event = NULL;
            rc = left > 0 ? sluice_watch_next (watch, &event, (int) left) : SLUICE_TIMEOUT;
            if (event && sluice_event_seq (event) > after)
                after = sluice_event_seq (event);
            sluice_event_destroy (&event);
        }
        sluice_watch_destroy (&watch);
        if (rc == SLUICE_TIMEOUT)
            return s_set (self, rc, 0, "job %s did not finish within %d ms", job_id,
                          s_timeout (self, timeout_ms));
        if (rc != SLUICE_END)
            return rc;
        int64_t left = deadline - sl_mono_ms ();
        rc = sluice_client_job (self, job_id, &job, left > 1000 ? (int) left : 1000);
    } while (rc == SLUICE_OK && !sluice_job_terminal (job) && sl_mono_ms () < deadline);
    if (rc == SLUICE_OK && job_p)
        *job_p = job;
    else
        sluice_job_destroy (&job);
    return rc;
}

//  --------------------------------------------------------------------------
//  Search

typedef struct {
    double score;
    char *text, *document_id, *chunk_id, *title, *source;
    int page_start, page_end;
    const char *match;          //  static: "vector", "lexical", "both"
    const char *kind;           //  static: "text", "table"
    char *section;              //  never NULL
    int ocr_confidence;         //  -1: not OCR'd
    int *highlights;            //  2 x n_highlights code point offsets, or NULL
    size_t n_highlights;
    char *mime;                 //  NULL unknown
    char *document_url;         //  never NULL
} hit_t;

struct _sluice_hits_t {
    hit_t *hits;
    size_t size;
    char *model;
    char *json;
};

//  A hit's highlights ([[start, end], ...], malformed pairs dropped), its
//  document's mime, and the edge's link to it (#page=N for a PDF)
static void
s_hit_answer (hit_t *hit, const msgpack_object *h)
{
    const msgpack_object *spans = sl_mp_get (h, "highlights");
    size_t n = spans && spans->type == MSGPACK_OBJECT_ARRAY ? spans->via.array.size : 0;
    hit->highlights = n ? calloc (2 * n, sizeof *hit->highlights) : NULL;
    for (size_t i = 0; hit->highlights && i < n; i++) {
        const msgpack_object *pair = &spans->via.array.ptr [i];
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2
        ||  pair->via.array.ptr [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        ||  pair->via.array.ptr [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        ||  pair->via.array.ptr [0].via.u64 > INT_MAX || pair->via.array.ptr [1].via.u64 > INT_MAX)
            continue;
        hit->highlights [2 * hit->n_highlights] = (int) pair->via.array.ptr [0].via.u64;
        hit->highlights [2 * hit->n_highlights + 1] = (int) pair->via.array.ptr [1].via.u64;
        hit->n_highlights++;
    }
    hit->mime = s_field_str (h, "mime");
    char url [160];
    int len = snprintf (url, sizeof url, "/v1/documents/%.64s/content", hit->document_id);
    if (hit->mime && strcmp (hit->mime, "application/pdf") == 0 && hit->page_start > 0)
        snprintf (url + len, sizeof url - (size_t) len, "#page=%d", hit->page_start);
    hit->document_url = strdup (url);
}

sluice_rc_t
sluice_client_search (sluice_client_t *self, const char *query, int k, sluice_hits_t **hits_p, int timeout_ms)
{
    return sluice_client_search_mode (self, query, k, NULL, hits_p, timeout_ms);
}

sluice_rc_t
sluice_client_search_mode (sluice_client_t *self, const char *query, int k, const char *mode,
                           sluice_hits_t **hits_p, int timeout_ms)
{
    return sluice_client_search_within (self, query, k, mode, NULL, 0, hits_p, timeout_ms);
}

//  A search with everything it can take (filter_json, source_prefix,
//  mimes: see sluice_client_search_filter)
static sluice_rc_t
s_search (sluice_client_t *self, const char *query, int k, const char *mode,
          const char *const *documents, size_t n_documents, const char *filter_json,
          const char *source_prefix, const char *const *mimes, size_t n_mimes,
          sluice_hits_t **hits_p, int timeout_ms)
{
    assert (self && hits_p);
    *hits_p = NULL;
    s_clear (self);
    if (!query || !*query)
        return s_set (self, SLUICE_EINVAL, 0, "an empty query matches nothing");
    if (k < 1 || k > 100)
        return s_set (self, SLUICE_EINVAL, 0, "k must be 1..100");
    if (!mode)
        mode = "hybrid";
    if (strcmp (mode, "hybrid") != 0 && strcmp (mode, "vector") != 0 && strcmp (mode, "lexical") != 0)
        return s_set (self, SLUICE_EINVAL, 0, "mode must be hybrid, vector or lexical");
    if (n_documents > 100 || (n_documents > 0 && !documents))
        return s_set (self, SLUICE_EINVAL, 0, "at most 100 documents to search within");
    for (size_t i = 0; i < n_documents; i++)
        if (!documents [i] || !sl_token_valid (documents [i]))
            return s_set (self, SLUICE_EINVAL, 0, "not a document id: %.64s",
                          documents [i] ? documents [i] : "(null)");
    if (n_mimes > 16 || (n_mimes > 0 && !mimes) || (filter_json && strlen (filter_json) > 65536)
    ||  (source_prefix && strlen (source_prefix) > 2048))
        return s_set (self, SLUICE_EINVAL, 0, "at most 16 types, a filter of 64 KiB, a prefix of 2 KiB");
    for (size_t i = 0; i < n_mimes; i++)
        if (!mimes [i])
            return s_set (self, SLUICE_EINVAL, 0, "a type is NULL");
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3 + (n_documents > 0) + (filter_json != NULL)
                             + (source_prefix != NULL) + (n_mimes > 0));
    sl_mpw_kv_str (&w, "query", query);
    sl_mpw_kv_int (&w, "k", k);
    sl_mpw_kv_str (&w, "mode", mode);
    //  JSON text: the query service reads it (this library parses no JSON)
    if (filter_json)
        sl_mpw_kv_str (&w, "filter", filter_json);
    if (source_prefix)
        sl_mpw_kv_str (&w, "source_prefix", source_prefix);
    if (n_mimes > 0) {
        sl_mpw_key (&w, "mime");
        msgpack_pack_array (&w.pk, n_mimes);
        for (size_t i = 0; i < n_mimes; i++)
            sl_mpw_str (&w, mimes [i]);
    }
    if (n_documents > 0) {
        sl_mpw_key (&w, "documents");
        msgpack_pack_array (&w.pk, n_documents);
        for (size_t i = 0; i < n_documents; i++)
            sl_mpw_str (&w, documents [i]);
    }
    size_t size;
    char *body = sl_mpw_take (&w, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, "query", "search", NULL, body, size, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        return rc;
    const msgpack_object *hits = sl_mp_get (reply.root, "hits");
    if (!hits || hits->type != MSGPACK_OBJECT_ARRAY) {
        s_reply_free (&reply);
        return s_set (self, SLUICE_EPROTOCOL, 502, "query/search: reply without hits");
    }
    sluice_hits_t *result = calloc (1, sizeof *result);
    assert (result);
    result->hits = calloc (hits->via.array.size + 1, sizeof *result->hits);
    assert (result->hits);
    for (uint32_t i = 0; i < hits->via.array.size; i++) {
        const msgpack_object *h = &hits->via.array.ptr [i];
        hit_t *hit = &result->hits [result->size++];
        hit->score = s_field_double (h, "score");
        hit->text = s_field_str (h, "text");
        hit->document_id = s_field_str (h, "document_id");
        hit->chunk_id = s_field_str (h, "chunk_id");
        hit->title = s_field_str (h, "title");
        hit->source = s_field_str (h, "source");
        hit->page_start = (int) s_field_int (h, "page_start", 0);
        hit->page_end = (int) s_field_int (h, "page_end", 0);
        char *match = s_field_str (h, "match");
        hit->match = match && strcmp (match, "both") == 0 ? "both"
                   : match && strcmp (match, "lexical") == 0 ? "lexical" : "vector";
        free (match);
        char *kind = s_field_str (h, "kind");
        hit->kind = kind && strcmp (kind, "table") == 0 ? "table" : "text";
        free (kind);
        hit->section = s_field_str (h, "section");
        if (!hit->section)
            hit->section = strdup ("");
        const msgpack_object *ocr = sl_mp_get (h, "ocr");
        bool ocr_true = ocr && ocr->type == MSGPACK_OBJECT_BOOLEAN && ocr->via.boolean;
        hit->ocr_confidence = ocr_true ? (int) s_field_int (h, "ocr_confidence", 0) : -1;
        if (!hit->text)
            hit->text = strdup ("");
        if (!hit->document_id)
            hit->document_id = strdup ("");
        if (!hit->chunk_id)
            hit->chunk_id = strdup ("");
        s_hit_answer (hit, h);
    }
    result->model = s_field_str (reply.root, "model");
    if (!result->model)
        result->model = strdup ("");
    result->json = s_json (reply.root);
    s_reply_free (&reply);
    *hits_p = result;
    return SLUICE_OK;
}

sluice_rc_t
sluice_client_search_within (sluice_client_t *self, const char *query, int k, const char *mode,
                             const char *const *documents, size_t n_documents,
                             sluice_hits_t **hits_p, int timeout_ms)
{
    return s_search (self, query, k, mode, documents, n_documents, NULL, NULL, NULL, 0, hits_p,
                     timeout_ms);
}

sluice_rc_t
sluice_client_search_filter (sluice_client_t *self, const char *query, int k, const char *mode,
                             const char *filter_json, const char *source_prefix,
                             const char *const *mimes, size_t n_mimes, sluice_hits_t **hits_p,
                             int timeout_ms)
{
    return s_search (self, query, k, mode, NULL, 0, filter_json, source_prefix, mimes, n_mimes,
                     hits_p, timeout_ms);
}

size_t sluice_hits_size (const sluice_hits_t *self) { return self->size; }
const char *sluice_hits_model (const sluice_hits_t *self) { return self->model; }
const char *sluice_hits_json (const sluice_hits_t *self) { return self->json; }

#define HIT(index) (assert ((index) < self->size), &self->hits [index])
double sluice_hits_score (const sluice_hits_t *self, size_t i) { return HIT (i)->score; }
const char *sluice_hits_text (const sluice_hits_t *self, size_t i) { return HIT (i)->text; }
const char *sluice_hits_document_id (const sluice_hits_t *self, size_t i) { return HIT (i)->document_id; }
const char *sluice_hits_chunk_id (const sluice_hits_t *self, size_t i) { return HIT (i)->chunk_id; }
const char *sluice_hits_title (const sluice_hits_t *self, size_t i) { return HIT (i)->title; }
const char *sluice_hits_source (const sluice_hits_t *self, size_t i) { return HIT (i)->source; }
int sluice_hits_page_start (const sluice_hits_t *self, size_t i) { return HIT (i)->page_start; }
int sluice_hits_page_end (const sluice_hits_t *self, size_t i) { return HIT (i)->page_end; }
const char *sluice_hits_match (const sluice_hits_t *self, size_t i) { return HIT (i)->match; }
const char *sluice_hits_kind (const sluice_hits_t *self, size_t i) { return HIT (i)->kind; }
const char *sluice_hits_section (const sluice_hits_t *self, size_t i) { return HIT (i)->section; }
int sluice_hits_ocr_confidence (const sluice_hits_t *self, size_t i) { return HIT (i)->ocr_confidence; }
const char *sluice_hits_mime (const sluice_hits_t *self, size_t i) { return HIT (i)->mime; }
const char *sluice_hits_document_url (const sluice_hits_t *self, size_t i) { return HIT (i)->document_url; }

size_t
sluice_hits_highlights (const sluice_hits_t *self, size_t i, const int **spans)
{
    if (spans)
        *spans = HIT (i)->highlights;
    return HIT (i)->n_highlights;
}

void
sluice_hits_destroy (sluice_hits_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_hits_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free (self->hits [i].text);
        free (self->hits [i].document_id);
        free (self->hits [i].chunk_id);
        free (self->hits [i].title);
        free (self->hits [i].source);
        free (self->hits [i].section);
        free (self->hits [i].highlights);
        free (self->hits [i].mime);
        free (self->hits [i].document_url);
    }
    free (self->hits);
    free (self->model);
    free (self->json);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Documents

typedef struct {
    char *id, *title, *source, *mime, *sha256;
    char *meta;                 //  its attributes as JSON text, "{}" if none
    int64_t pages, chunks, bytes;
} doc_t;

struct _sluice_docs_t {
    doc_t *docs;
    size_t size;
    int64_t total;
    char *json;
};

sluice_rc_t
sluice_client_documents (sluice_client_t *self, int limit, int offset, sluice_docs_t **docs_p, int timeout_ms)
{
    assert (self && docs_p);
    *docs_p = NULL;
    s_clear (self);
    if (limit < 1 || limit > 1000 || offset < 0)
        return s_set (self, SLUICE_EINVAL, 0, "limit must be 1..1000 and offset >= 0");
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_int (&w, "limit", limit);
    sl_mpw_kv_int (&w, "offset", offset);
    size_t size;
    char *body = sl_mpw_take (&w, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, "query", "doc_list", NULL, body, size, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        return rc;
    const msgpack_object *docs = sl_mp_get (reply.root, "documents");
    if (!docs || docs->type != MSGPACK_OBJECT_ARRAY) {
        s_reply_free (&reply);
        return s_set (self, SLUICE_EPROTOCOL, 502, "query/doc_list: reply without documents");
    }
    sluice_docs_t *result = calloc (1, sizeof *result);
    assert (result);
    result->docs = calloc (docs->via.array.size + 1, sizeof *result->docs);
    assert (result->docs);
    for (uint32_t i = 0; i < docs->via.array.size; i++) {
        const msgpack_object *d = &docs->via.array.ptr [i];
        doc_t *doc = &result->docs [result->size++];
        doc->id = s_field_str (d, "id");
        doc->title = s_field_str (d, "title");
        doc->source = s_field_str (d, "source");
        doc->mime = s_field_str (d, "mime");
        doc->sha256 = s_field_str (d, "sha256");
        doc->pages = s_field_int (d, "pages", 0);
        doc->chunks = s_field_int (d, "chunks", 0);
        doc->bytes = s_field_int (d, "bytes", 0);
        //  a server from before attributes sends none: the same as none set
        const msgpack_object *meta = sl_mp_get (d, "meta");
        doc->meta = meta && meta->type == MSGPACK_OBJECT_MAP ? s_json (meta) : strdup ("{}");
        assert (doc->meta);
        if (!doc->id)
            doc->id = strdup ("");
    }
    result->total = s_field_int (reply.root, "total", (int64_t) result->size);
    result->json = s_json (reply.root);
    s_reply_free (&reply);
    *docs_p = result;
    return SLUICE_OK;
}

size_t sluice_docs_size (const sluice_docs_t *self) { return self->size; }
int64_t sluice_docs_total (const sluice_docs_t *self) { return self->total; }
const char *sluice_docs_json (const sluice_docs_t *self) { return self->json; }

#define DOC(index) (assert ((index) < self->size), &self->docs [index])
const char *sluice_docs_id (const sluice_docs_t *self, size_t i) { return DOC (i)->id; }
const char *sluice_docs_title (const sluice_docs_t *self, size_t i) { return DOC (i)->title; }
const char *sluice_docs_source (const sluice_docs_t *self, size_t i) { return DOC (i)->source; }
const char *sluice_docs_mime (const sluice_docs_t *self, size_t i) { return DOC (i)->mime; }
const char *sluice_docs_sha256 (const sluice_docs_t *self, size_t i) { return DOC (i)->sha256; }
int64_t sluice_docs_pages (const sluice_docs_t *self, size_t i) { return DOC (i)->pages; }
int64_t sluice_docs_chunks (const sluice_docs_t *self, size_t i) { return DOC (i)->chunks; }
int64_t sluice_docs_bytes (const sluice_docs_t *self, size_t i) { return DOC (i)->bytes; }
const char *sluice_docs_meta (const sluice_docs_t *self, size_t i) { return DOC (i)->meta; }

void
sluice_docs_destroy (sluice_docs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sluice_docs_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free (self->docs [i].id);
        free (self->docs [i].title);
        free (self->docs [i].source);
        free (self->docs [i].mime);
        free (self->docs [i].sha256);
        free (self->docs [i].meta);
    }
    free (self->docs);
    free (self->json);
    free (self);
    *self_p = NULL;
}

//  One part of a document's bytes from offset: 0 with *got, *size, *more
//  set and the bytes written to out, or the error code
static sluice_rc_t
s_content_part (sluice_client_t *self, const char *doc_id, int64_t offset, FILE *out,
                int64_t max_bytes, size_t *got, int64_t *size, bool *more, int timeout_ms)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_str (&w, "id", doc_id);
    sl_mpw_kv_int (&w, "offset", offset);
    size_t body_size;
    char *body = sl_mpw_take (&w, &body_size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, "query", "doc_content", NULL, body, body_size, timeout_ms, &reply);
    if (rc != SLUICE_OK)
        return rc;
    const msgpack_object *data = sl_mp_get (reply.root, "data");
    const msgpack_object *more_o = sl_mp_get (reply.root, "more");
    *size = s_field_int (reply.root, "size", -1);
    if (!data || data->type != MSGPACK_OBJECT_BIN || *size < 0) {
        s_reply_free (&reply);
        return s_set (self, SLUICE_EPROTOCOL, 502, "query/doc_content: reply without data");
    }
    *got = data->via.bin.size;
    *more = more_o && more_o->type == MSGPACK_OBJECT_BOOLEAN && more_o->via.boolean;
    if (max_bytes > 0 && *size > max_bytes)
        rc = s_set (self, SLUICE_EINVAL, 0, "document %s has %lld bytes, more than %lld", doc_id,
                    (long long) *size, (long long) max_bytes);
    else
    if (*got && fwrite (data->via.bin.ptr, 1, *got, out) != *got)
        rc = s_set (self, SLUICE_EIO, 0, "cannot write document %s: %s", doc_id, strerror (errno));
    s_reply_free (&reply);
    return rc;
}

sluice_rc_t
sluice_client_document_content (sluice_client_t *self, const char *doc_id, FILE *out, int64_t max_bytes,
                                int64_t *size_p, int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (size_p)
        *size_p = 0;
    if (!sl_token_valid (doc_id) || !out)
        return s_set (self, SLUICE_EINVAL, 0, "a document id is 1..64 characters of [A-Za-z0-9_.-], "
                      "and out a stream");
    int64_t offset = 0, size = 0;
    bool more = true;
    sluice_rc_t rc = SLUICE_OK;
    while (rc == SLUICE_OK && more) {
        size_t got = 0;
        rc = s_content_part (self, doc_id, offset, out, max_bytes, &got, &size, &more, timeout_ms);
        offset += (int64_t) got;
        if (rc == SLUICE_OK && got == 0)
            more = false;
    }
    if (rc == SLUICE_OK && offset != size)
        rc = s_set (self, SLUICE_EPROTOCOL, 502, "document %s changed while it was read", doc_id);
    if (size_p)
        *size_p = offset;
    return rc;
}

sluice_rc_t
sluice_client_document_meta (sluice_client_t *self, const char *doc_id, const char *meta_json,
                             bool merge, int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!sl_token_valid (doc_id))
        return s_set (self, SLUICE_EINVAL, 0, "a document id is 1..64 characters of [A-Za-z0-9_.-]");
    if (!meta_json || strlen (meta_json) > 65536)
        return s_set (self, SLUICE_EINVAL, 0, "meta must be a JSON object of at most 64 KiB");
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3);
    sl_mpw_kv_str (&w, "id", doc_id);
    sl_mpw_kv_str (&w, "meta", meta_json);
    sl_mpw_kv_bool (&w, "merge", merge);
    size_t size;
    char *body = sl_mpw_take (&w, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, "query", "doc_meta", NULL, body, size, timeout_ms, &reply);
    if (rc == SLUICE_OK)
        s_reply_free (&reply);
    return rc;
}

sluice_rc_t
sluice_client_document_delete (sluice_client_t *self, const char *doc_id, int timeout_ms)
{
    assert (self);
    s_clear (self);
    if (!sl_token_valid (doc_id))
        return s_set (self, SLUICE_EINVAL, 0, "a document id is 1..64 characters of [A-Za-z0-9_.-]");
    size_t size;
    char *body = s_body_kv ("id", doc_id, &size);
    reply_t reply;
    sluice_rc_t rc = s_request (self, "query", "doc_delete", NULL, body, size, timeout_ms, &reply);
    if (rc == SLUICE_OK)
        s_reply_free (&reply);
    return rc;
}
