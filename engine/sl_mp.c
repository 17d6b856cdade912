/*  sl_mp: bounded msgpack validation, typed accessors, writer. See sl_mp.h. */
#include "sl_mp.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The decoded objects live in a zone sized from the input: msgpack's own
//  msgpack_unpack_next starts every zone at 8 KiB, one large malloc and
//  free per message header, which was a tenth of the broker's time.
struct _sl_mp_t {
    msgpack_zone zone;
    msgpack_object root;
};

#define S_ZONE_MIN 256
#define S_ZONE_MAX 8192

//  Scanner state: position in the input and bytes left.
typedef struct {
    const unsigned char *p;
    size_t left;
    const char *why;
} s_scan_t;

static int
s_need (s_scan_t *s, size_t n)
{
    if (s->left < n) {
        s->why = "truncated";
        return -1;
    }
    return 0;
}

static uint64_t
s_be (const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p [i];
    return v;
}

//  Skip n raw bytes after a header of hdr bytes whose length field is len_bytes wide.
static int
s_skip_sized (s_scan_t *s, int len_bytes, size_t extra)
{
    if (s_need (s, 1 + (size_t) len_bytes))
        return -1;
    uint64_t n = s_be (s->p + 1, len_bytes) + extra;
    s->p += 1 + len_bytes;
    s->left -= 1 + (size_t) len_bytes;
    if (n > s->left) {
        s->why = "truncated";
        return -1;
    }
    s->p += n;
    s->left -= n;
    return 0;
}

static int s_scan (s_scan_t *s, int depth);

static int
s_scan_container (s_scan_t *s, int depth, size_t hdr, uint64_t count, int per)
{
    s->p += hdr;
    s->left -= hdr;
    if (depth <= 0) {
        s->why = "nested too deep";
        return -1;
    }
    //  Every element takes at least one byte: a count larger than what is
    //  left is a lie, and refusing it bounds msgpack-c's allocation.
    if (count > s->left / (uint64_t) per) {
        s->why = "container count exceeds input";
        return -1;
    }
    for (uint64_t i = 0; i < count * (uint64_t) per; i++)
        if (s_scan (s, depth - 1))
            return -1;
    return 0;
}

static int
s_scan (s_scan_t *s, int depth)
{
    if (s_need (s, 1))
        return -1;
    unsigned char b = s->p [0];
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        s->p++;
        s->left--;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) {           //  fixstr
        size_t n = b & 0x1f;
        if (s_need (s, 1 + n))
            return -1;
        s->p += 1 + n;
        s->left -= 1 + n;
        return 0;
    }
    if (b >= 0x90 && b <= 0x9f)
        return s_scan_container (s, depth, 1, b & 0x0f, 1);
    if (b >= 0x80 && b <= 0x8f)
        return s_scan_container (s, depth, 1, b & 0x0f, 2);
    switch (b) {
        case 0xcc: case 0xd0: if (s_need (s, 2)) return -1; s->p += 2; s->left -= 2; return 0;
        case 0xcd: case 0xd1: if (s_need (s, 3)) return -1; s->p += 3; s->left -= 3; return 0;
        case 0xca: case 0xce: case 0xd2: if (s_need (s, 5)) return -1; s->p += 5; s->left -= 5; return 0;
        case 0xcb: case 0xcf: case 0xd3: if (s_need (s, 9)) return -1; s->p += 9; s->left -= 9; return 0;
        case 0xd9: case 0xc4: return s_skip_sized (s, 1, 0);
        case 0xda: case 0xc5: return s_skip_sized (s, 2, 0);
        case 0xdb: case 0xc6: return s_skip_sized (s, 4, 0);
        case 0xd4: if (s_need (s, 3)) return -1; s->p += 3; s->left -= 3; return 0;
        case 0xd5: if (s_need (s, 4)) return -1; s->p += 4; s->left -= 4; return 0;
        case 0xd6: if (s_need (s, 6)) return -1; s->p += 6; s->left -= 6; return 0;
        case 0xd7: if (s_need (s, 10)) return -1; s->p += 10; s->left -= 10; return 0;
        case 0xd8: if (s_need (s, 18)) return -1; s->p += 18; s->left -= 18; return 0;
        case 0xc7: return s_skip_sized (s, 1, 1);
        case 0xc8: return s_skip_sized (s, 2, 1);
        case 0xc9: return s_skip_sized (s, 4, 1);
        case 0xdc:
            if (s_need (s, 3)) return -1;
            return s_scan_container (s, depth, 3, s_be (s->p + 1, 2), 1);
        case 0xdd:
            if (s_need (s, 5)) return -1;
            return s_scan_container (s, depth, 5, s_be (s->p + 1, 4), 1);
        case 0xde:
            if (s_need (s, 3)) return -1;
            return s_scan_container (s, depth, 3, s_be (s->p + 1, 2), 2);
        case 0xdf:
            if (s_need (s, 5)) return -1;
            return s_scan_container (s, depth, 5, s_be (s->p + 1, 4), 2);
        default:
            s->why = "invalid type byte 0xc1";
            return -1;
    }
}

int
sl_mp_check (const void *data, size_t size, int max_depth, char *err, size_t errlen)
{
    s_scan_t s = { (const unsigned char *) data, size, NULL };
    if (!data || size == 0)
        s.why = "empty";
    else
    if (s_scan (&s, max_depth) == 0 && s.left > 0)
        s.why = "trailing bytes after object";
    if (s.why) {
        if (err)
            snprintf (err, errlen, "malformed msgpack: %s", s.why);
        return -1;
    }
    return 0;
}

sl_mp_t *
sl_mp_decode (const void *data, size_t size, char *err, size_t errlen)
{
    if (sl_mp_check (data, size, SL_MP_MAX_DEPTH, err, errlen))
        return NULL;
    sl_mp_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    //  About one object (24 bytes, 48 a map pair) per 6 input bytes is
    //  typical; the zone grows by itself past the hint
    size_t hint = size * 8 < S_ZONE_MIN ? S_ZONE_MIN : size * 8 > S_ZONE_MAX ? S_ZONE_MAX : size * 8;
    if (!msgpack_zone_init (&self->zone, hint)) {
        free (self);
        return NULL;
    }
    size_t off = 0;
    if (msgpack_unpack (data, size, &off, &self->zone, &self->root) != MSGPACK_UNPACK_SUCCESS) {
        if (err)
            snprintf (err, errlen, "malformed msgpack: unpack failed");
        sl_mp_destroy (&self);
        return NULL;
    }
    return self;
}

void
sl_mp_destroy (sl_mp_t **self_p)
{
    if (*self_p) {
        msgpack_zone_destroy (&(*self_p)->zone);
        free (*self_p);
        *self_p = NULL;
    }
}

const msgpack_object *
sl_mp_root (sl_mp_t *self)
{
    return &self->root;
}

const msgpack_object *
sl_mp_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr [i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen
        &&  memcmp (k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

int
sl_mp_bytes (const msgpack_object *o, const char **ptr, size_t *size)
{
    if (o && o->type == MSGPACK_OBJECT_STR) {
        *ptr = o->via.str.ptr;
        *size = o->via.str.size;
        return 0;
    }
    if (o && o->type == MSGPACK_OBJECT_BIN) {
        *ptr = o->via.bin.ptr;
        *size = o->via.bin.size;
        return 0;
    }
    return -1;
}

int
sl_mp_str (const msgpack_object *o, char *buf, size_t cap)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return -1;
    if (memchr (o->via.str.ptr, 0, o->via.str.size))
        return -1;
    memcpy (buf, o->via.str.ptr, o->via.str.size);
    buf [o->via.str.size] = 0;
    return 0;
}

char *
sl_mp_strdup (const msgpack_object *o)
{
    const char *ptr;
    size_t size;
    if (sl_mp_bytes (o, &ptr, &size))
        return NULL;
    char *s = malloc (size + 1);
    if (s) {
        memcpy (s, ptr, size);
        s [size] = 0;
    }
    return s;
}

int
sl_mp_int (const msgpack_object *o, int64_t *out)
{
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t) o->via.u64;
        return 0;
    }
    return -1;
}

int
sl_mp_uint (const msgpack_object *o, uint64_t *out)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *out = o->via.u64;
        return 0;
    }
    return -1;
}

int
sl_mp_bool (const msgpack_object *o, bool *out)
{
    if (o && o->type == MSGPACK_OBJECT_BOOLEAN) {
        *out = o->via.boolean;
        return 0;
    }
    return -1;
}

int
sl_mp_get_str (const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    return sl_mp_str (sl_mp_get (map, key), buf, cap);
}

int
sl_mp_get_int (const msgpack_object *map, const char *key, int64_t *out)
{
    return sl_mp_int (sl_mp_get (map, key), out);
}

void
sl_mpw_init (sl_mpw_t *w)
{
    msgpack_sbuffer_init (&w->buf);
    msgpack_packer_init (&w->pk, &w->buf, msgpack_sbuffer_write);
}

void
sl_mpw_reset (sl_mpw_t *w)
{
    msgpack_sbuffer_destroy (&w->buf);
    sl_mpw_init (w);
}

void
sl_mpw_str (sl_mpw_t *w, const char *s)
{
    if (!s) {
        msgpack_pack_nil (&w->pk);
        return;
    }
    size_t n = strlen (s);
    msgpack_pack_str (&w->pk, n);
    msgpack_pack_str_body (&w->pk, s, n);
}

void
sl_mpw_bin (sl_mpw_t *w, const void *data, size_t size)
{
    msgpack_pack_bin (&w->pk, size);
    msgpack_pack_bin_body (&w->pk, data, size);
}

void
sl_mpw_key (sl_mpw_t *w, const char *key)
{
    sl_mpw_str (w, key);
}

void
sl_mpw_kv_str (sl_mpw_t *w, const char *key, const char *value)
{
    sl_mpw_str (w, key);
    sl_mpw_str (w, value);
}

void
sl_mpw_kv_int (sl_mpw_t *w, const char *key, int64_t value)
{
    sl_mpw_str (w, key);
    msgpack_pack_int64 (&w->pk, value);
}

void
sl_mpw_kv_bool (sl_mpw_t *w, const char *key, bool value)
{
    sl_mpw_str (w, key);
    if (value)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
}

static bool
s_key_in (const msgpack_object *k, const char *const *list)
{
    for (; list && *list; list++)
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen (*list)
        &&  memcmp (k->via.str.ptr, *list, k->via.str.size) == 0)
            return true;
    return false;
}

void
sl_mpw_map_extend (sl_mpw_t *w, const msgpack_object *map, const char *const *except, size_t extra)
{
    size_t kept = 0;
    uint32_t n = map && map->type == MSGPACK_OBJECT_MAP ? map->via.map.size : 0;
    for (uint32_t i = 0; i < n; i++)
        kept += !s_key_in (&map->via.map.ptr [i].key, except);
    msgpack_pack_map (&w->pk, kept + extra);
    for (uint32_t i = 0; i < n; i++)
        if (!s_key_in (&map->via.map.ptr [i].key, except)) {
            msgpack_pack_object (&w->pk, map->via.map.ptr [i].key);
            msgpack_pack_object (&w->pk, map->via.map.ptr [i].val);
        }
}

char *
sl_mpw_take (sl_mpw_t *w, size_t *size)
{
    *size = w->buf.size;
    char *data = msgpack_sbuffer_release (&w->buf);
    if (!data)                  //  empty buffer: hand out a valid pointer
        data = malloc (1);
    return data;
}
