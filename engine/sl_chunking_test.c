/*  sl_chunking_test: self-test of sl_chunking, the chunking settings the
    query service, intake, the chunk stage and the store share.
*/
#include "sl_chunking.h"
#include "sl_check.h"
#include "sl_json.h"

#include <stdlib.h>
#include <string.h>

static int
s_apply (sl_chunking_t *c, const char *text, char *err, size_t errlen)
{
    json_t *object = json_loads (text, 0, NULL);
    int rc = sl_chunking_apply_json (c, object, err, errlen);
    json_decref (object);
    return rc;
}

static void
s_test_defaults (void)
{
    sl_chunking_t c;
    sl_chunking_from_config (&c, NULL);
    CHECK (c.target_tokens == SL_CHUNKING_TARGET_DEFAULT);
    CHECK (c.overlap_tokens == SL_CHUNKING_OVERLAP_DEFAULT && c.embed_context);
    char err [256];
    CHECK (sl_chunking_check (&c, err, sizeof err) == 0);
    sl_config_t *cfg = sl_config_new ();
    sl_config_set (cfg, "chunk.target_tokens", "200");
    sl_config_set (cfg, "chunk.embed_context", "false");
    sl_chunking_from_config (&c, cfg);
    CHECK (c.target_tokens == 200 && c.overlap_tokens == SL_CHUNKING_OVERLAP_DEFAULT);
    CHECK (!c.embed_context);
    sl_config_destroy (&cfg);
}

static void
s_test_partial_update (void)
{
    sl_chunking_t c = { 128, 24, true };
    char err [256] = "";
    CHECK (s_apply (&c, "{\"target_tokens\": 256}", err, sizeof err) == 0);
    CHECK (c.target_tokens == 256 && c.overlap_tokens == 24 && c.embed_context);
    CHECK (s_apply (&c, "{\"overlap_tokens\": 0, \"embed_context\": false}", err, sizeof err) == 0);
    CHECK (c.target_tokens == 256 && c.overlap_tokens == 0 && !c.embed_context);
}

static void
s_test_refusals (void)
{
    sl_chunking_t c = { 128, 24, true };
    char err [256] = "";
    CHECK (s_apply (&c, "{\"target_tokens\": 8}", err, sizeof err) == -1);
    CHECK (strstr (err, "target_tokens must be between 16 and 8192"));
    CHECK (s_apply (&c, "{\"target_tokens\": 100000}", err, sizeof err) == -1);
    CHECK (s_apply (&c, "{\"overlap_tokens\": 65}", err, sizeof err) == -1);
    CHECK (strstr (err, "overlap_tokens must be between 0 and half"));
    CHECK (s_apply (&c, "{\"overlap_tokens\": -1}", err, sizeof err) == -1);
    CHECK (s_apply (&c, "{\"target_tokens\": \"128\"}", err, sizeof err) == -1);
    CHECK (strstr (err, "whole number"));
    CHECK (s_apply (&c, "{\"target_tokens\": 1.5}", err, sizeof err) == -1);
    CHECK (s_apply (&c, "{\"embed_context\": 1}", err, sizeof err) == -1);
    CHECK (s_apply (&c, "{\"chunk_size\": 100}", err, sizeof err) == -1);
    CHECK (strstr (err, "unknown setting 'chunk_size'"));
    CHECK (s_apply (&c, "[128]", err, sizeof err) == -1);
    //  a refused change leaves the settings as they were
    CHECK (s_apply (&c, "{\"target_tokens\": 64, \"overlap_tokens\": 40}", err, sizeof err) == -1);
    CHECK (c.target_tokens == 128 && c.overlap_tokens == 24 && c.embed_context);
}

static void
s_test_round_trip (void)
{
    sl_chunking_t c = { 300, 50, false }, back = { 128, 24, true };
    char *text = sl_chunking_to_text (&c);
    CHECK (text && strcmp (text, "{\"embed_context\":false,\"overlap_tokens\":50,"
                                 "\"target_tokens\":300}") == 0);
    free (text);
    sl_mpw_t w;
    sl_mpw_init (&w);
    sl_chunking_pack (&c, &w);
    char err [256] = "";
    sl_mp_t *mp = sl_mp_decode (w.buf.data, w.buf.size, err, sizeof err);
    CHECK (mp && sl_chunking_apply_mp (&back, sl_mp_root (mp), err, sizeof err) == 0);
    CHECK (back.target_tokens == 300 && back.overlap_tokens == 50 && !back.embed_context);
    sl_mp_destroy (&mp);
    sl_mpw_reset (&w);
    CHECK (sl_chunking_apply_mp (&back, NULL, err, sizeof err) == -1);
    //  a workspace's stored text: applied, absent, or not settings
    sl_chunking_t stored = { 128, 24, true };
    text = sl_chunking_to_text (&c);
    CHECK (sl_chunking_apply_text (&stored, text, err, sizeof err) == 1);
    CHECK (stored.target_tokens == 300 && stored.overlap_tokens == 50 && !stored.embed_context);
    free (text);
    CHECK (sl_chunking_apply_text (&stored, "", err, sizeof err) == 0);
    CHECK (sl_chunking_apply_text (&stored, NULL, err, sizeof err) == 0);
    CHECK (sl_chunking_apply_text (&stored, "{not json", err, sizeof err) == -1);
    CHECK (stored.target_tokens == 300);
}

void
sl_chunking_test (bool verbose)
{
    printf (" * sl_chunking: ");
    if (verbose)
        printf ("\n");
    CASE ("defaults, then config keys over them", s_test_defaults ());
    CASE ("a change names only what it changes", s_test_partial_update ());
    CASE ("each bad setting refused with a reason, nothing changed", s_test_refusals ());
    CASE ("JSON text and msgpack map round trip", s_test_round_trip ());
    printf ("OK\n");
}
