/*  sl_json_test: self-test of sl_json.

    Msgpack <-> JSON conversion: round trips keep types and
    values, invalid UTF-8 is repaired, NaN becomes null, non-string keys and
    bins are printed, too-deep values and hostile msgpack are refused.
*/
#include "sl_json.h"
#include "sl_util.h"
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    //  Invalid UTF-8 in msgpack is repaired, not a crash, not dropped
    const char bad [] = "\x81\xa1k\xa2\xff\xfe";
    back = sl_json_text_from_mp (bad, 6);
    assert (back && strcmp (back, "{\"k\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}") == 0);
    free (back);
    assert (sl_json_text_from_mp ("\xc1", 1) == NULL);

    //  Round trip through msgpack keeps types and values
    json_error_t jerr;
    text = "{\"a\":1,\"b\":-7,\"c\":2.5,\"d\":\"h\\u00e9llo\",\"e\":[true,false,null],"
                       "\"f\":{\"g\":[]},\"big\":9007199254740993}";
    json_t *in = json_loads (text, 0, &jerr);
    assert (in);
    size_t size;
    char *mp = sl_json_to_msgpack (in, &size);
    assert (mp && size > 0);
    char err [256];
    json_t *out = sl_json_from_msgpack (mp, size, err, sizeof err);
    assert (out);
    assert (json_equal (in, out));
    assert (json_integer_value (json_object_get (out, "big")) == 9007199254740993LL);
    assert (json_is_real (json_object_get (out, "c")));
    free (mp);
    json_decref (in);
    json_decref (out);

    //  Hostile msgpack: truncated, trailing bytes, huge claimed array
    assert (sl_json_from_msgpack ("\x92\x01", 2, err, sizeof err) == NULL);
    assert (sl_json_from_msgpack ("\x01\x02", 2, err, sizeof err) == NULL);
    assert (sl_json_from_msgpack ("\xdd\xff\xff\xff\xff", 5, err, sizeof err) == NULL);
    assert (sl_json_from_msgpack ("", 0, err, sizeof err) == NULL);

    //  Invalid UTF-8 in a str is repaired, not dropped; NaN becomes null;
    //  non-string keys are printed; bins are text or base64
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_key (&w, "bad");
    msgpack_pack_str (&w.pk, 4);
    msgpack_pack_str_body (&w.pk, "a\xff\xc0z", 4);
    sl_mpw_key (&w, "nan");
    msgpack_pack_double (&w.pk, NAN);
    msgpack_pack_int (&w.pk, 42);
    msgpack_pack_true (&w.pk);
    sl_mpw_key (&w, "text");
    msgpack_pack_bin (&w.pk, 2);
    msgpack_pack_bin_body (&w.pk, "hi", 2);
    sl_mpw_key (&w, "blob");
    msgpack_pack_bin (&w.pk, 3);
    msgpack_pack_bin_body (&w.pk, "\x00\xff\x10", 3);
    mp = sl_mpw_take (&w, &size);
    out = sl_json_from_msgpack (mp, size, err, sizeof err);
    assert (out);
    assert (strcmp (json_string_value (json_object_get (out, "bad")), "a\xEF\xBF\xBD\xEF\xBF\xBDz") == 0);
    assert (json_is_null (json_object_get (out, "nan")));
    assert (json_is_true (json_object_get (out, "42")));
    assert (strcmp (json_string_value (json_object_get (out, "text")), "hi") == 0);
    assert (strcmp (json_string_value (json_object_get (out, "blob")), "AP8Q") == 0);
    char *dumped = json_dumps (out, JSON_COMPACT);
    assert (dumped);            //  serialisable: jansson accepted every string
    free (dumped);
    free (mp);
    json_decref (out);

    //  Overlong, surrogate and out-of-range sequences are all repaired
    const char *evil [] = { "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", NULL };
    for (int i = 0; evil [i]; i++) {
        size_t len;
        char *fixed = sl_utf8_repair (evil [i], strlen (evil [i]), &len);
        json_t *s = json_stringn (fixed, len);
        assert (s);
        json_decref (s);
        free (fixed);
    }
    //  Stable: JSON text → msgpack → JSON text is the identity on what
    //  the converter produced (the journal stores the text, replays it
    //  through msgpack, and the edge converts it again)
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 6);
    sl_mpw_key (&w, "s");
    msgpack_pack_str (&w.pk, 5);
    msgpack_pack_str_body (&w.pk, "x\xe2\x82y\xff", 5);
    sl_mpw_key (&w, "b");
    msgpack_pack_bin (&w.pk, 2);
    msgpack_pack_bin_body (&w.pk, "\xfe\x01", 2);
    sl_mpw_key (&w, "r");
    msgpack_pack_double (&w.pk, 3.0);
    sl_mpw_key (&w, "f");
    msgpack_pack_float (&w.pk, 0.1f);
    sl_mpw_key (&w, "u");
    msgpack_pack_uint64 (&w.pk, UINT64_MAX);
    sl_mpw_key (&w, "m");
    msgpack_pack_map (&w.pk, 1);
    msgpack_pack_int (&w.pk, -5);
    msgpack_pack_nil (&w.pk);
    char *first = sl_json_text_from_mp (w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    assert (first);
    json = json_loads (first, 0, &error);
    assert (json);
    mp = sl_json_to_msgpack (json, &size);
    json_decref (json);
    char *second = sl_json_text_from_mp (mp, size);
    free (mp);
    assert (second && strcmp (first, second) == 0);
    if (verbose)
        printf ("%s\n", first);
    free (first);
    free (second);
}
