/*  sl_envelope: versioned msgpack envelope codec. See sl_envelope.h. */
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _sl_envelope_t {
    char id [SL_TOKEN_MAX + 1];
    char kind [SL_NAME_MAX];
    char job [SL_TOKEN_MAX + 1];
    char ws [SL_TOKEN_MAX + 1];
    char route [SL_ROUTE_MAX][SL_NAME_MAX];
    int route_size;
    uint32_t attempt;
    uint32_t max_attempts;
    int64_t deadline;
    int64_t created;
    uint32_t run;
    void *body;
    size_t body_size;
};

bool
sl_envelope_name_valid (const char *name)
{
    if (!name || !*name || strlen (name) >= SL_NAME_MAX)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
              || *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

//  Empty strings are allowed for job and workspace (messages outside jobs).
static bool
s_token_or_empty (const char *s)
{
    return s && (*s == 0 || sl_token_valid (s));
}

sl_envelope_t *
sl_envelope_new (const char *kind, const char *job_id, const char *workspace)
{
    if (!sl_envelope_name_valid (kind)
    ||  !s_token_or_empty (job_id ? job_id : "")
    ||  !s_token_or_empty (workspace ? workspace : ""))
        return NULL;
    sl_envelope_t *self = calloc (1, sizeof *self);
    assert (self);
    sl_id_new (self->id);
    snprintf (self->kind, sizeof self->kind, "%s", kind);
    snprintf (self->job, sizeof self->job, "%s", job_id ? job_id : "");
    snprintf (self->ws, sizeof self->ws, "%s", workspace ? workspace : "");
    self->max_attempts = 3;
    self->created = sl_now_ms ();
    return self;
}

void
sl_envelope_destroy (sl_envelope_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->body);
        free (*self_p);
        *self_p = NULL;
    }
}

sl_envelope_t *
sl_envelope_dup (const sl_envelope_t *self)
{
    sl_envelope_t *copy = malloc (sizeof *copy);
    assert (copy);
    *copy = *self;
    copy->body = NULL;
    copy->body_size = 0;
    if (self->body_size)
        sl_envelope_set_body (copy, self->body, self->body_size);
    return copy;
}

const char *sl_envelope_id (const sl_envelope_t *self) { return self->id; }
const char *sl_envelope_kind (const sl_envelope_t *self) { return self->kind; }
const char *sl_envelope_job (const sl_envelope_t *self) { return self->job; }
const char *sl_envelope_workspace (const sl_envelope_t *self) { return self->ws; }
uint32_t sl_envelope_attempt (const sl_envelope_t *self) { return self->attempt; }
uint32_t sl_envelope_max_attempts (const sl_envelope_t *self) { return self->max_attempts; }
int64_t sl_envelope_deadline (const sl_envelope_t *self) { return self->deadline; }
int64_t sl_envelope_created (const sl_envelope_t *self) { return self->created; }
uint32_t sl_envelope_run (const sl_envelope_t *self) { return self->run; }
void sl_envelope_set_run (sl_envelope_t *self, uint32_t run) { self->run = run; }
void sl_envelope_set_attempt (sl_envelope_t *self, uint32_t a) { self->attempt = a; }
void sl_envelope_set_max_attempts (sl_envelope_t *self, uint32_t m) { self->max_attempts = m; }
void sl_envelope_set_deadline (sl_envelope_t *self, int64_t d) { self->deadline = d; }

int
sl_envelope_set_id (sl_envelope_t *self, const char *id)
{
    if (!sl_token_valid (id))
        return -1;
    snprintf (self->id, sizeof self->id, "%s", id);
    return 0;
}

int
sl_envelope_set_kind (sl_envelope_t *self, const char *kind)
{
    if (!sl_envelope_name_valid (kind))
        return -1;
    snprintf (self->kind, sizeof self->kind, "%s", kind);
    return 0;
}

int
sl_envelope_route_size (const sl_envelope_t *self)
{
    return self->route_size;
}

const char *
sl_envelope_route_at (const sl_envelope_t *self, int index)
{
    return index >= 0 && index < self->route_size ? self->route [index] : NULL;
}

const char *
sl_envelope_service (const sl_envelope_t *self)
{
    return self->route_size > 0 ? self->route [0] : NULL;
}

int
sl_envelope_route_append (sl_envelope_t *self, const char *service)
{
    if (self->route_size >= SL_ROUTE_MAX || !sl_envelope_name_valid (service))
        return -1;
    snprintf (self->route [self->route_size++], SL_NAME_MAX, "%s", service);
    return 0;
}

int
sl_envelope_set_route (sl_envelope_t *self, const char *csv)
{
    sl_envelope_t tmp = { .route_size = 0 };
    char buf [SL_ROUTE_MAX * SL_NAME_MAX];
    if (!csv || strlen (csv) >= sizeof buf)
        return -1;
    strcpy (buf, csv);
    char *save = NULL;
    for (char *tok = strtok_r (buf, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (sl_envelope_route_append (&tmp, tok))
            return -1;
    memcpy (self->route, tmp.route, sizeof tmp.route);
    self->route_size = tmp.route_size;
    return 0;
}

void
sl_envelope_route_pop (sl_envelope_t *self)
{
    if (self->route_size > 0) {
        memmove (self->route [0], self->route [1], (size_t) (self->route_size - 1) * SL_NAME_MAX);
        self->route_size--;
    }
}

const void *
sl_envelope_body (const sl_envelope_t *self, size_t *size)
{
    *size = self->body_size;
    return self->body;
}

int
sl_envelope_set_body (sl_envelope_t *self, const void *data, size_t size)
{
    void *copy = NULL;
    if (size) {
        copy = malloc (size);
        if (!copy)
            return -1;
        memcpy (copy, data, size);
    }
    sl_envelope_take_body (self, copy, size);
    return 0;
}

void
sl_envelope_take_body (sl_envelope_t *self, void *data, size_t size)
{
    free (self->body);
    self->body = data;
    self->body_size = size;
}

int
sl_envelope_encode (const sl_envelope_t *self, char **data, size_t *size)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    //  run only when not 0: most jobs run once, and an older receiver
    //  ignores the key
    msgpack_pack_map (&w.pk, 11 + (self->run ? 1 : 0));
    sl_mpw_kv_int (&w, "v", SL_ENVELOPE_VERSION);
    sl_mpw_kv_str (&w, "id", self->id);
    sl_mpw_kv_str (&w, "kind", self->kind);
    sl_mpw_kv_str (&w, "job", self->job);
    sl_mpw_kv_str (&w, "ws", self->ws);
    sl_mpw_key (&w, "route");
    msgpack_pack_array (&w.pk, (size_t) self->route_size);
    for (int i = 0; i < self->route_size; i++)
        sl_mpw_str (&w, self->route [i]);
    sl_mpw_kv_int (&w, "att", self->attempt);
    sl_mpw_kv_int (&w, "max", self->max_attempts);
    sl_mpw_kv_int (&w, "dl", self->deadline);
    sl_mpw_kv_int (&w, "ts", self->created);
    if (self->run)
        sl_mpw_kv_int (&w, "run", self->run);
    sl_mpw_key (&w, "body");
    sl_mpw_bin (&w, self->body, self->body_size);
    *data = sl_mpw_take (&w, size);
    return *data ? 0 : -1;
}

//  Decode helpers: each sets err and returns -1 on failure.
#define S_FAIL(...) do { snprintf (err, errlen, "envelope: " __VA_ARGS__); return -1; } while (0)

static int
s_read_str (const msgpack_object *map, const char *key, char *buf, size_t cap,
            bool required, char *err, size_t errlen)
{
    const msgpack_object *o = sl_mp_get (map, key);
    if (!o) {
        if (required)
            S_FAIL ("missing field '%s'", key);
        buf [0] = 0;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        S_FAIL ("field '%s' has wrong type", key);
    if (sl_mp_str (o, buf, cap))
        S_FAIL ("field '%s' is too long or holds a NUL byte", key);
    return 0;
}

static int
s_read_uint32 (const msgpack_object *map, const char *key, uint32_t *out,
               char *err, size_t errlen)
{
    const msgpack_object *o = sl_mp_get (map, key);
    uint64_t v = 0;
    if (!o)
        return 0;               //  optional: keep the default
    if (sl_mp_uint (o, &v) || v > UINT32_MAX)
        S_FAIL ("field '%s' has wrong type or range", key);
    *out = (uint32_t) v;
    return 0;
}

static int
s_read_int64 (const msgpack_object *map, const char *key, int64_t *out,
              char *err, size_t errlen)
{
    const msgpack_object *o = sl_mp_get (map, key);
    if (!o)
        return 0;
    if (sl_mp_int (o, out))
        S_FAIL ("field '%s' has wrong type or range", key);
    return 0;
}

static int
s_read_route (const msgpack_object *map, sl_envelope_t *self, char *err, size_t errlen)
{
    const msgpack_object *o = sl_mp_get (map, "route");
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        S_FAIL ("field 'route' has wrong type");
    if (o->via.array.size > SL_ROUTE_MAX)
        S_FAIL ("route has %u services, limit is %d", o->via.array.size, SL_ROUTE_MAX);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        char name [SL_NAME_MAX];
        if (sl_mp_str (&o->via.array.ptr [i], name, sizeof name)
        ||  sl_envelope_route_append (self, name))
            S_FAIL ("route entry %u is not a valid service name", i);
    }
    return 0;
}

static int
s_decode_fields (const msgpack_object *root, sl_envelope_t *self, char *err, size_t errlen)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        S_FAIL ("not a map");
    int64_t version;
    if (sl_mp_get_int (root, "v", &version))
        S_FAIL ("missing or bad version field 'v'");
    if (version != SL_ENVELOPE_VERSION)
        S_FAIL ("unsupported version %lld (this build speaks %d)", (long long) version,
                SL_ENVELOPE_VERSION);
    if (s_read_str (root, "id", self->id, sizeof self->id, true, err, errlen)
    ||  s_read_str (root, "kind", self->kind, sizeof self->kind, true, err, errlen)
    ||  s_read_str (root, "job", self->job, sizeof self->job, false, err, errlen)
    ||  s_read_str (root, "ws", self->ws, sizeof self->ws, false, err, errlen))
        return -1;
    if (!sl_token_valid (self->id))
        S_FAIL ("field 'id' has invalid characters");
    if (!sl_envelope_name_valid (self->kind))
        S_FAIL ("field 'kind' has invalid characters");
    if (!s_token_or_empty (self->job) || !s_token_or_empty (self->ws))
        S_FAIL ("field 'job' or 'ws' has invalid characters");
    if (s_read_route (root, self, err, errlen)
    ||  s_read_uint32 (root, "att", &self->attempt, err, errlen)
    ||  s_read_uint32 (root, "max", &self->max_attempts, err, errlen)
    ||  s_read_int64 (root, "dl", &self->deadline, err, errlen)
    ||  s_read_int64 (root, "ts", &self->created, err, errlen)
    ||  s_read_uint32 (root, "run", &self->run, err, errlen))
        return -1;
    const msgpack_object *body = sl_mp_get (root, "body");
    if (body && body->type != MSGPACK_OBJECT_NIL) {
        const char *ptr;
        size_t size;
        if (body->type != MSGPACK_OBJECT_BIN || sl_mp_bytes (body, &ptr, &size))
            S_FAIL ("field 'body' has wrong type");
        if (sl_envelope_set_body (self, ptr, size))
            S_FAIL ("out of memory");
    }
    return 0;
}

sl_envelope_t *
sl_envelope_decode (const void *data, size_t size, size_t max_size, char *err, size_t errlen)
{
    char scratch [8];
    if (!err) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (max_size == 0)
        max_size = SL_ENVELOPE_MAX_SIZE;
    if (size > max_size) {
        snprintf (err, errlen, "envelope: %zu bytes exceeds the %zu-byte limit", size, max_size);
        return NULL;
    }
    sl_mp_t *mp = sl_mp_decode (data, size, err, errlen);
    if (!mp)
        return NULL;
    sl_envelope_t *self = calloc (1, sizeof *self);
    assert (self);
    self->max_attempts = 3;
    if (s_decode_fields (sl_mp_root (mp), self, err, errlen))
        sl_envelope_destroy (&self);
    sl_mp_destroy (&mp);
    return self;
}
