/*  sl_json: msgpack <-> JSON. See sl_json.h. */
#include "sl_json.h"

#include <assert.h>
#include <string.h>

static json_t *
s_string (const char *ptr, size_t size)
{
    //  jansson refuses invalid UTF-8 (returns NULL): map that to null
    json_t *s = json_stringn (ptr, size);
    return s ? s : json_null ();
}

json_t *
sl_json_from_mp (const msgpack_object *o)
{
    if (!o)
        return json_null ();
    switch (o->type) {
        case MSGPACK_OBJECT_NIL: return json_null ();
        case MSGPACK_OBJECT_BOOLEAN: return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return o->via.u64 <= INT64_MAX ? json_integer ((json_int_t) o->via.u64)
                                           : json_real ((double) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer (o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: return json_real (o->via.f64);
        case MSGPACK_OBJECT_STR: return s_string (o->via.str.ptr, o->via.str.size);
        case MSGPACK_OBJECT_BIN: return s_string (o->via.bin.ptr, o->via.bin.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *a = json_array ();
            for (uint32_t i = 0; i < o->via.array.size; i++)
                json_array_append_new (a, sl_json_from_mp (&o->via.array.ptr [i]));
            return a;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *m = json_object ();
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                const msgpack_object *k = &o->via.map.ptr [i].key;
                if (k->type != MSGPACK_OBJECT_STR)
                    continue;           //  JSON keys are strings: skip others
                char key [256];
                size_t n = k->via.str.size < sizeof key - 1 ? k->via.str.size : sizeof key - 1;
                memcpy (key, k->via.str.ptr, n);
                key [n] = 0;
                json_object_set_new (m, key, sl_json_from_mp (&o->via.map.ptr [i].val));
            }
            return m;
        }
        default: return json_null ();
    }
}

static int
s_to_mp (const json_t *json, sl_mpw_t *w, int depth)
{
    if (depth > SL_JSON_MAX_DEPTH)
        return -1;
    switch (json_typeof (json)) {
        case JSON_OBJECT: {
            msgpack_pack_map (&w->pk, json_object_size (json));
            const char *key;
            json_t *value;
            json_object_foreach ((json_t *) json, key, value) {
                sl_mpw_str (w, key);
                if (s_to_mp (value, w, depth + 1))
                    return -1;
            }
            return 0;
        }
        case JSON_ARRAY: {
            msgpack_pack_array (&w->pk, json_array_size (json));
            size_t i;
            json_t *value;
            json_array_foreach (json, i, value)
                if (s_to_mp (value, w, depth + 1))
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
    return s_to_mp (json, w, 0);
}

char *
sl_json_text_from_mp (const void *data, size_t size)
{
    sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
    if (!mp)
        return NULL;
    json_t *json = sl_json_from_mp (sl_mp_root (mp));
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (json);
    sl_mp_destroy (&mp);
    return text;
}

void
sl_json_test (bool verbose)
{
    const char *text = "{\"a\":1,\"b\":[true,false,null,2.5,\"x\\u00e9\"],\"c\":{\"d\":-3}}";
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    assert (json);
    sl_mpw_t w;
    sl_mpw_init (&w);
    assert (sl_json_to_mp (json, &w) == 0);
    char *back = sl_json_text_from_mp (w.buf.data, w.buf.size);
    assert (back);
    json_t *again = json_loads (back, 0, &error);
    assert (json_equal (json, again));
    if (verbose)
        printf ("%s\n", back);
    free (back);
    json_decref (again);
    json_decref (json);
    sl_mpw_reset (&w);
    //  Too deep is refused
    char deep [200];
    memset (deep, '[', 40);
    memset (deep + 40, ']', 40);
    deep [80] = 0;
    json = json_loads (deep, 0, &error);
    assert (json);
    assert (sl_json_to_mp (json, &w) == -1);
    json_decref (json);
    sl_mpw_reset (&w);
    //  Invalid UTF-8 in msgpack becomes null, not a crash
    const char bad [] = "\x81\xa1k\xa2\xff\xfe";
    back = sl_json_text_from_mp (bad, 6);
    assert (back && strcmp (back, "{\"k\":null}") == 0);
    free (back);
    assert (sl_json_text_from_mp ("\xc1", 1) == NULL);
}
