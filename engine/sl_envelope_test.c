/*  sl_envelope_test: self-test of sl_envelope.

    Envelope construction, setters and name validation, a
    round trip with every field set, the size limit, and decode rejections
    (each with its reason), truncations and single-byte corruptions.
*/
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_util.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Encode a hand-built map for the rejection tests.
static char *
s_build (size_t *size, const char *omit, const char *bad_type, int version)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *keys [] = { "v", "id", "kind", "route", "att", "body" };
    int n = 0;
    for (int i = 0; i < 6; i++)
        if (!omit || strcmp (keys [i], omit))
            n++;
    msgpack_pack_map (&w.pk, (size_t) n);
    for (int i = 0; i < 6; i++) {
        const char *k = keys [i];
        if (omit && strcmp (k, omit) == 0)
            continue;
        sl_mpw_key (&w, k);
        if (bad_type && strcmp (k, bad_type) == 0)
            msgpack_pack_double (&w.pk, 1.5);
        else
        if (i == 0)
            msgpack_pack_int (&w.pk, version);
        else
        if (i == 1)
            sl_mpw_str (&w, "abc123");
        else
        if (i == 2)
            sl_mpw_str (&w, "ingest");
        else
        if (i == 3) {
            msgpack_pack_array (&w.pk, 1);
            sl_mpw_str (&w, "fetch");
        }
        else
        if (i == 4)
            msgpack_pack_uint32 (&w.pk, 2);
        else
            sl_mpw_bin (&w, "xy", 2);
    }
    return sl_mpw_take (&w, size);
}

void
sl_envelope_test (bool verbose)
{
    char err [256];
    //  Round trip with every field set
    sl_envelope_t *env = sl_envelope_new ("ingest", "job-1", "default");
    assert (env);
    assert (sl_envelope_set_route (env, "fetch,parse,chunk,embed,store") == 0);
    assert (sl_envelope_route_size (env) == 5);
    sl_envelope_set_attempt (env, 2);
    sl_envelope_set_max_attempts (env, 5);
    sl_envelope_set_deadline (env, 1234567890123LL);
    assert (sl_envelope_run (env) == 0);
    sl_envelope_set_run (env, 3);
    sl_envelope_set_body (env, "\x81\xa3url\xa1x", 7);
    char *data;
    size_t size;
    assert (sl_envelope_encode (env, &data, &size) == 0);
    sl_envelope_t *copy = sl_envelope_decode (data, size, 0, err, sizeof err);
    assert (copy);
    assert (strcmp (sl_envelope_id (copy), sl_envelope_id (env)) == 0);
    assert (strcmp (sl_envelope_kind (copy), "ingest") == 0);
    assert (strcmp (sl_envelope_job (copy), "job-1") == 0);
    assert (strcmp (sl_envelope_workspace (copy), "default") == 0);
    assert (sl_envelope_route_size (copy) == 5);
    assert (strcmp (sl_envelope_service (copy), "fetch") == 0);
    assert (strcmp (sl_envelope_route_at (copy, 4), "store") == 0);
    assert (sl_envelope_attempt (copy) == 2);
    assert (sl_envelope_max_attempts (copy) == 5);
    assert (sl_envelope_deadline (copy) == 1234567890123LL);
    assert (sl_envelope_created (copy) == sl_envelope_created (env));
    assert (sl_envelope_run (copy) == 3);
    size_t body_size;
    const char *body = sl_envelope_body (copy, &body_size);
    assert (body_size == 7 && memcmp (body, "\x81\xa3url\xa1x", 7) == 0);
    sl_envelope_route_pop (copy);
    assert (strcmp (sl_envelope_service (copy), "parse") == 0);
    sl_envelope_t *dup = sl_envelope_dup (copy);
    assert (sl_envelope_route_size (dup) == 4);
    assert (sl_envelope_run (dup) == 3);           //  a successor keeps its job's run
    sl_envelope_destroy (&dup);
    sl_envelope_destroy (&copy);
    sl_envelope_destroy (&copy);
    assert (copy == NULL);

    //  Every truncation fails cleanly
    for (size_t i = 0; i < size; i++) {
        copy = sl_envelope_decode (data, i, 0, err, sizeof err);
        assert (copy == NULL);
    }
    //  Every single-byte corruption either decodes to a valid envelope or fails
    for (size_t i = 0; i < size; i++) {
        char saved = data [i];
        data [i] ^= 0x5a;
        copy = sl_envelope_decode (data, size, 0, err, sizeof err);
        sl_envelope_destroy (&copy);
        data [i] = saved;
    }
    //  Size limit
    assert (sl_envelope_decode (data, size, size - 1, err, sizeof err) == NULL);
    assert (strstr (err, "limit"));
    free (data);

    //  Invalid names are refused at construction and on setters
    assert (sl_envelope_new ("Bad Kind", NULL, NULL) == NULL);
    assert (sl_envelope_new ("ok", "../etc", NULL) == NULL);
    assert (sl_envelope_set_route (env, "fetch,BAD") == -1);
    assert (sl_envelope_route_size (env) == 5);     //  unchanged
    assert (sl_envelope_set_route (env, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q") == -1);
    assert (sl_envelope_set_id (env, "x/y") == -1);
    sl_envelope_destroy (&env);

    //  Rejection paths, each with its reason
    struct { const char *omit, *bad_type; int version; const char *why; } cases [] = {
        { NULL, NULL, 1, NULL },
        { "v", NULL, 1, "version" },
        { NULL, NULL, 2, "unsupported version 2" },
        { "id", NULL, 1, "missing field 'id'" },
        { "kind", NULL, 1, "missing field 'kind'" },
        { NULL, "id", 1, "'id' has wrong type" },
        { NULL, "route", 1, "'route' has wrong type" },
        { NULL, "att", 1, "'att' has wrong type" },
        { NULL, "body", 1, "'body' has wrong type" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        data = s_build (&size, cases [i].omit, cases [i].bad_type, cases [i].version);
        err [0] = 0;
        copy = sl_envelope_decode (data, size, 0, err, sizeof err);
        if (cases [i].why) {
            if (copy || !strstr (err, cases [i].why))
                fprintf (stderr, "case %zu: expected '%s', got '%s'\n", i, cases [i].why, err);
            assert (copy == NULL && strstr (err, cases [i].why));
        }
        else {
            assert (copy && sl_envelope_attempt (copy) == 2);
            assert (sl_envelope_max_attempts (copy) == 3);      //  default kept
        }
        sl_envelope_destroy (&copy);
        free (data);
    }
    //  Not a map, garbage, route with a non-string
    assert (!sl_envelope_decode ("\x93\x01\x02\x03", 4, 0, err, sizeof err));
    assert (strstr (err, "not a map"));
    assert (!sl_envelope_decode ("\xc1", 1, 0, err, sizeof err));
    assert (!sl_envelope_decode ("\x83\xa1v\x01\xa2id\xa1x\xa5route\x91\x05", 16, 0, err, sizeof err));
    assert (!sl_envelope_decode (NULL, 0, 0, NULL, 0));
    if (verbose)
        printf ("sl_envelope: round trip and %zu rejection cases OK\n",
                sizeof cases / sizeof cases [0]);
}
