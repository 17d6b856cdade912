/*  sl_edge_tus_test: self-test of sl_edge_tus, over a real blob area (the
    HTTP side is tests/test_tus.py against a real sluiced).
*/
#include "sl_edge_tus.h"
#include "sl_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_header (const sl_edge_tus_reply_t *reply, const char *name)
{
    for (int i = 0; i < reply->count; i++)
        if (strcmp (reply->name [i], name) == 0)
            return reply->value [i];
    return NULL;
}

static void
s_test_metadata (void)
{
    char why [200];
    //  "filename" = "a.pdf", "empty" has no value, "meta" = {"x":1}
    char *md = sl_edge_tus_metadata ("filename YS5wZGY=,empty,meta eyJ4IjoxfQ==", why, sizeof why);
    CHECK (md && strcmp (md, "{\"filename\":\"a.pdf\",\"empty\":\"\",\"meta\":\"{\\\"x\\\":1}\"}") == 0);
    free (md);
    //  Unpadded base64 is common (Uppy): accepted
    md = sl_edge_tus_metadata ("filename YS5wZGY", why, sizeof why);
    CHECK (md && strstr (md, "a.pdf"));
    free (md);
    md = sl_edge_tus_metadata (NULL, why, sizeof why);
    CHECK (md && strcmp (md, "{}") == 0);
    free (md);
    CHECK (!sl_edge_tus_metadata ("filename ***", why, sizeof why) && strstr (why, "base64"));
    CHECK (!sl_edge_tus_metadata ("a YQ==,a Yg==", why, sizeof why) && strstr (why, "twice"));
    CHECK (!sl_edge_tus_metadata ("name /w==", why, sizeof why) && strstr (why, "UTF-8"));
}

void
sl_edge_tus_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge_tus: ");
    s_test_metadata ();
    char root [] = "/tmp/sl-tus-test-XXXXXX";
    CHECK (mkdtemp (root));
    sl_blob_t *blobs = sl_blob_new (root);
    CHECK (blobs);
    sl_edge_tus_t *tus = sl_edge_tus_new (blobs, 1000, 3600, 0);
    CHECK (tus);
    sl_edge_tus_reply_t reply;
    sl_edge_tus_options (tus, &reply);
    CHECK (reply.status == 204 && strcmp (s_header (&reply, "Tus-Max-Size"), "1000") == 0);
    CHECK (strstr (s_header (&reply, "Tus-Extension"), "checksum"));

    sl_edge_tus_headers_t h = { .tus_resumable = "1.0.0", .upload_length = "10",
                                .upload_metadata = "filename bm90ZXMudHh0" };   //  notes.txt
    //  The version, the length and the type are checked first
    sl_edge_tus_headers_t old = h;
    old.tus_resumable = "0.2.2";
    sl_edge_tus_create (tus, "default", &old, &reply);
    CHECK (reply.status == 412 && s_header (&reply, "Tus-Version"));
    sl_edge_tus_headers_t big = h;
    big.upload_length = "1001";
    sl_edge_tus_create (tus, "default", &big, &reply);
    CHECK (reply.status == 413 && strstr (reply.message, "http.max_upload"));
    sl_edge_tus_headers_t defer = { .tus_resumable = "1.0.0", .upload_defer_length = "1" };
    sl_edge_tus_create (tus, "default", &defer, &reply);
    CHECK (reply.status == 400 && strstr (reply.message, "Defer"));
    sl_edge_tus_headers_t image = h;
    image.upload_metadata = "filetype dmlkZW8vbXA0";  //  video/mp4
    sl_edge_tus_create (tus, "default", &image, &reply);
    CHECK (reply.status == 415);
    sl_edge_tus_headers_t badmeta = h;
    badmeta.upload_metadata = "meta WzFd";             //  [1]: not an object
    sl_edge_tus_create (tus, "default", &badmeta, &reply);
    CHECK (reply.status == 400 && strstr (reply.message, "meta"));

    sl_edge_tus_create (tus, "default", &h, &reply);
    CHECK (reply.status == 201);
    const char *location = s_header (&reply, "Location");
    CHECK (location && strncmp (location, "/v1/uploads/", 12) == 0 && s_header (&reply, "Upload-Expires"));
    char id [SL_ID_LEN + 1];
    snprintf (id, sizeof id, "%s", location + 12);

    //  Another workspace cannot see it
    sl_edge_tus_head (tus, "other", id, &h, &reply, NULL);
    CHECK (reply.status == 404);

    //  Part one, then a wrong offset, then a bad checksum, then the rest
    sl_edge_tus_headers_t p = { .tus_resumable = "1.0.0", .upload_offset = "0",
                                .content_type = "application/offset+octet-stream" };
    sl_edge_tus_patch_t *patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply);
    CHECK (patch);
    CHECK (sl_edge_tus_patch_feed (patch, "hello", 5) == 0);
    sl_edge_tus_done_t done;
    CHECK (!sl_edge_tus_patch_end (&patch, true, &reply, &done) && !patch);
    CHECK (reply.status == 204 && strcmp (s_header (&reply, "Upload-Offset"), "5") == 0);
    CHECK (!sl_edge_tus_patch_begin (tus, "default", id, &p, &reply) && reply.status == 409);
    sl_edge_tus_headers_t wrongtype = p;
    wrongtype.content_type = "text/plain";
    CHECK (!sl_edge_tus_patch_begin (tus, "default", id, &wrongtype, &reply) && reply.status == 415);
    p.upload_offset = "5";
    p.upload_checksum = "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_feed (patch, "world", 5) == 0);
    CHECK (!sl_edge_tus_patch_end (&patch, true, &reply, &done) && reply.status == 460);
    sl_edge_tus_head (tus, "default", id, &h, &reply, NULL);
    CHECK (reply.status == 200 && strcmp (s_header (&reply, "Upload-Offset"), "5") == 0);
    p.upload_checksum = "sha1 fCEUM/AgcVl3Qeb/Wo6jR4mrv0M=";    //  sha1 ("world")
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_feed (patch, "world", 5) == 0);
    CHECK (sl_edge_tus_patch_end (&patch, true, &reply, &done));
    CHECK (reply.status == 204 && strcmp (s_header (&reply, "Upload-Offset"), "10") == 0);
    CHECK (done.size == 10 && strcmp (done.filename, "notes.txt") == 0 && *done.job == 0);
    char sha [SL_SHA256_HEX];
    sl_sha256_hex ("helloworld", 10, sha);
    CHECK (strcmp (done.blob, sha) == 0 && sl_blob_exists (blobs, sha));

    //  Ingested once: the job is recorded, a retried empty PATCH finds it
    CHECK (sl_edge_tus_set_job (tus, "default", id, "0123456789abcdef0123456789abcdef") == 0);
    p.upload_offset = "10";
    p.upload_checksum = NULL;
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_end (&patch, true, &reply, &done));
    CHECK (strcmp (done.job, "0123456789abcdef0123456789abcdef") == 0);
    char *json = NULL;
    sl_edge_tus_head (tus, "default", id, &h, &reply, &json);
    CHECK (json && strstr (json, "\"complete\":true") && strstr (json, "0123456789abcdef"));
    free (json);

    //  Terminated: gone
    sl_edge_tus_delete (tus, "default", id, &h, &reply);
    CHECK (reply.status == 204);
    sl_edge_tus_head (tus, "default", id, &h, &reply, NULL);
    CHECK (reply.status == 404);

    //  A dropped connection keeps what arrived, unless a checksum was sent
    sl_edge_tus_create (tus, "default", &h, &reply);
    snprintf (id, sizeof id, "%s", s_header (&reply, "Location") + 12);
    p.upload_offset = "0";
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_feed (patch, "abc", 3) == 0);
    CHECK (!sl_edge_tus_patch_end (&patch, false, &reply, &done));
    p.upload_offset = "3";
    p.upload_checksum = "sha256 lZpF1E5vz1g2HtAEaBVW/lASnyEJ6BfewJjADJ5dJXg=";
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_feed (patch, "de", 2) == 0);
    CHECK (!sl_edge_tus_patch_end (&patch, false, &reply, &done));
    sl_edge_tus_head (tus, "default", id, &h, &reply, NULL);
    CHECK (strcmp (s_header (&reply, "Upload-Offset"), "3") == 0);
    //  More than the length is refused, and nothing of it is kept
    p.upload_checksum = NULL;
    CHECK ((patch = sl_edge_tus_patch_begin (tus, "default", id, &p, &reply)));
    CHECK (sl_edge_tus_patch_feed (patch, "0123456789", 10) == -1);
    CHECK (!sl_edge_tus_patch_end (&patch, true, &reply, &done) && reply.status == 413);
    sl_edge_tus_head (tus, "default", id, &h, &reply, NULL);
    CHECK (strcmp (s_header (&reply, "Upload-Offset"), "3") == 0);

    sl_edge_tus_destroy (&tus);
    CHECK (tus == NULL);
    sl_blob_destroy (&blobs);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    CHECK (system (cmd) == 0);
    if (verbose)
        printf ("OK\n");
}
