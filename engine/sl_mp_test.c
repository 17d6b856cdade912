/*  sl_mp_test: self-test of sl_mp.

    The msgpack reader and writer: round trips through the
    accessors, type checks, map extension, and hostile input (truncations,
    lying container counts, depth bombs) refused without over-reading.
*/
#include "sl_mp.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sl_mp_test (bool verbose)
{
    char err [128];
    //  Lying container counts are refused before msgpack-c allocates
    const unsigned char big_array [] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    assert (sl_mp_check (big_array, sizeof big_array, 8, err, sizeof err) == -1);
    assert (strstr (err, "count exceeds"));
    const unsigned char big_map [] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x02 };
    assert (sl_mp_decode (big_map, sizeof big_map, err, sizeof err) == NULL);
    const unsigned char big_str [] = { 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a' };
    assert (sl_mp_check (big_str, sizeof big_str, 8, err, sizeof err) == -1);
    assert (strstr (err, "truncated"));
    //  Depth bomb: 100 nested arrays
    unsigned char deep [101];
    memset (deep, 0x91, 100);
    deep [100] = 0x01;
    assert (sl_mp_check (deep, sizeof deep, 16, err, sizeof err) == -1);
    assert (strstr (err, "deep"));
    assert (sl_mp_check (deep + 90, 11, 16, err, sizeof err) == 0);
    const unsigned char bad [] = { 0xc1 };
    assert (sl_mp_check (bad, 1, 8, err, sizeof err) == -1);
    const unsigned char trailing [] = { 0x01, 0x02 };
    assert (sl_mp_check (trailing, 2, 8, err, sizeof err) == -1);
    assert (sl_mp_check (NULL, 0, 8, err, sizeof err) == -1);

    //  Round trip through the writer and accessors
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_kv_str (&w, "name", "sluice");
    sl_mpw_kv_int (&w, "n", -42);
    sl_mpw_kv_bool (&w, "ok", true);
    sl_mpw_key (&w, "bin");
    sl_mpw_bin (&w, "a\0b", 3);
    sl_mpw_kv_str (&w, "nul", "x");
    size_t size;
    char *data = sl_mpw_take (&w, &size);
    sl_mp_t *mp = sl_mp_decode (data, size, err, sizeof err);
    assert (mp);
    const msgpack_object *root = sl_mp_root (mp);
    char buf [16];
    assert (sl_mp_get_str (root, "name", buf, sizeof buf) == 0 && strcmp (buf, "sluice") == 0);
    assert (sl_mp_get_str (root, "name", buf, 6) == -1);       //  does not fit
    int64_t n;
    assert (sl_mp_get_int (root, "n", &n) == 0 && n == -42);
    assert (sl_mp_get_int (root, "name", &n) == -1);           //  wrong type
    bool ok = false;
    assert (sl_mp_bool (sl_mp_get (root, "ok"), &ok) == 0 && ok);
    const char *ptr;
    assert (sl_mp_bytes (sl_mp_get (root, "bin"), &ptr, &size) == 0 && size == 3);
    assert (sl_mp_get (root, "absent") == NULL);
    assert (sl_mp_str (sl_mp_get (root, "bin"), buf, sizeof buf) == -1);   //  bin is not str
    sl_mp_destroy (&mp);
    sl_mp_destroy (&mp);
    free (data);
    sl_mpw_reset (&w);
    //  Every truncation of a valid buffer is refused, never over-read
    sl_mpw_init (&w);
    msgpack_pack_array (&w.pk, 3);
    sl_mpw_str (&w, "hello");
    msgpack_pack_uint64 (&w.pk, 1ULL << 40);
    sl_mpw_bin (&w, "xyz", 3);
    data = sl_mpw_take (&w, &size);
    for (size_t i = 0; i < size; i++)
        assert (sl_mp_check (data, i, 8, err, sizeof err) == -1);
    assert (sl_mp_check (data, size, 8, err, sizeof err) == 0);
    free (data);
    //  Extend a map: drop "b", keep "a", add "c"
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_kv_int (&w, "a", 1);
    sl_mpw_kv_int (&w, "b", 2);
    data = sl_mpw_take (&w, &size);
    mp = sl_mp_decode (data, size, err, sizeof err);
    const char *except [] = { "b", NULL };
    sl_mpw_map_extend (&w, sl_mp_root (mp), except, 1);
    sl_mpw_kv_int (&w, "c", 3);
    sl_mp_t *ext = sl_mp_decode (w.buf.data, w.buf.size, err, sizeof err);
    assert (ext && sl_mp_root (ext)->via.map.size == 2);
    assert (sl_mp_get_int (sl_mp_root (ext), "a", &n) == 0 && n == 1);
    assert (sl_mp_get (sl_mp_root (ext), "b") == NULL);
    assert (sl_mp_get_int (sl_mp_root (ext), "c", &n) == 0 && n == 3);
    sl_mp_destroy (&ext);
    sl_mp_destroy (&mp);
    sl_mpw_reset (&w);
    free (data);
    if (verbose)
        printf ("sl_mp: all rejection paths hold\n");
}
