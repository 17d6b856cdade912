/*  sl_json: msgpack <-> JSON. See sl_json.h. */
#include "sl_json.h"
#include "sl_util.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_string (const char *ptr, size_t size)
{
    if (sl_utf8_valid (ptr, size))
        return json_stringn_nocheck (ptr, size);
    size_t len;
    char *fixed = sl_utf8_repair (ptr, size, &len);
    json_t *value = json_stringn_nocheck (fixed, len);
    free (fixed);
    return value;
}

static json_t *
s_base64 (const char *ptr, size_t size)
{
    char *out = sl_base64_encode (ptr, size);
    json_t *value = json_string (out);
    free (out);
    return value;
}

//  A map key as a C string (keys of other types are printed).
static char *
s_key (const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
        const char *ptr = k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : k->via.bin.ptr;
        size_t size = k->type == MSGPACK_OBJECT_STR ? k->via.str.size : k->via.bin.size;
        //  A NUL inside a key cannot be a jansson object key: cut there
        size_t cut = strnlen (ptr, size);
        return sl_utf8_repair (ptr, cut, NULL);
    }
    char buf [64];
    if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf (buf, sizeof buf, "%llu", (unsigned long long) k->via.u64);
    else
    if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf (buf, sizeof buf, "%lld", (long long) k->via.i64);
    else
    if (k->type == MSGPACK_OBJECT_BOOLEAN)
        snprintf (buf, sizeof buf, "%s", k->via.boolean ? "true" : "false");
    else
        snprintf (buf, sizeof buf, "?");
    return strdup (buf);
}

json_t *
sl_json_from_mp (const msgpack_object *o)
{
    if (!o)
        return json_null ();
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            //  JSON integers are int64 in jansson; larger ones become reals
            if (o->via.u64 > (uint64_t) INT64_MAX)
                return json_real ((double) o->via.u64);
            return json_integer ((json_int_t) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            if (!isfinite (o->via.f64))
                return json_null ();
            return json_real (o->via.f64);
        case MSGPACK_OBJECT_STR:
            return s_string (o->via.str.ptr, o->via.str.size);
        case MSGPACK_OBJECT_BIN:
            if (sl_utf8_valid (o->via.bin.ptr, o->via.bin.size))
                return json_stringn_nocheck (o->via.bin.ptr, o->via.bin.size);
            return s_base64 (o->via.bin.ptr, o->via.bin.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; i < o->via.array.size; i++)
                json_array_append_new (array, sl_json_from_mp (&o->via.array.ptr [i]));
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *object = json_object ();
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                char *key = s_key (&o->via.map.ptr [i].key);
                json_object_set_new (object, key, sl_json_from_mp (&o->via.map.ptr [i].val));
                free (key);
            }
            return object;
        }
        default:
            return json_null ();
    }
}

json_t *
sl_json_from_msgpack (const void *data, size_t size, char *err, size_t errlen)
{
    sl_mp_t *mp = sl_mp_decode (data, size, err, errlen);
    if (!mp)
        return NULL;
    json_t *value = sl_json_from_mp (sl_mp_root (mp));
    sl_mp_destroy (&mp);
    return value;
}

static int
s_to_mp (const json_t *json, sl_mpw_t *w, int depth, int max_depth)
{
    if (depth > max_depth)
        return -1;
    switch (json_typeof (json)) {
        case JSON_OBJECT: {
            msgpack_pack_map (&w->pk, json_object_size (json));
            const char *key;
            json_t *value;
            json_object_foreach ((json_t *) json, key, value) {
                sl_mpw_str (w, key);
                if (s_to_mp (value, w, depth + 1, max_depth))
                    return -1;
            }
            return 0;
        }
        case JSON_ARRAY: {
            msgpack_pack_array (&w->pk, json_array_size (json));
            size_t i;
            json_t *value;
            json_array_foreach (json, i, value)
                if (s_to_mp (value, w, depth + 1, max_depth))
                    return -1;
            return 0;
        }
        case JSON_STRING:
            msgpack_pack_str (&w->pk, json_string_length (json));
            msgpack_pack_str_body (&w->pk, json_string_value (json), json_string_length (json));
            return 0;
        case JSON_INTEGER: msgpack_pack_int64 (&w->pk, json_integer_value (json)); return 0;
        case JSON_REAL: msgpack_pack_double (&w->pk, json_real_value (json)); return 0;
        case JSON_TRUE: msgpack_pack_true (&w->pk); return 0;
        case JSON_FALSE: msgpack_pack_false (&w->pk); return 0;
        default: msgpack_pack_nil (&w->pk); return 0;
    }
}

int
sl_json_to_mp (const json_t *json, sl_mpw_t *w)
{
    return s_to_mp (json, w, 0, SL_JSON_MAX_DEPTH);
}

char *
sl_json_to_msgpack (const json_t *value, size_t *size)
{
    if (!value)
        return NULL;
    sl_mpw_t w;
    sl_mpw_init (&w);
    s_to_mp (value, &w, 0, INT_MAX);
    return sl_mpw_take (&w, size);
}

char *
sl_json_text_from_mp (const void *data, size_t size)
{
    json_t *json = sl_json_from_msgpack (data, size, NULL, 0);
    if (!json)
        return NULL;
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (json);
    return text;
}
