/*  sl_edge_tus: the tus 1.0 protocol over sl_upload. See sl_edge_tus.h.

    This file turns headers into sl_upload calls and sl_upload's answers
    into tus answers; everything durable happens in sl_upload, which keeps
    the state in the blob area. The edge (sl_edge.c) routes, authenticates
    and ingests a finished upload.
*/
#include "sl_edge_tus.h"
#include "sl_edge_upload.h"
#include "sl_filter.h"
#include "sl_upload.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_VERSION       "1.0.0"
#define S_EXTENSIONS    "creation,termination,checksum,expiration"
#define S_ALGORITHMS    "sha1,sha256"
#define S_METADATA_MAX  8192        //  an Upload-Metadata header we read at all

struct _sl_edge_tus_t {
    sl_upload_t *uploads;
    uint64_t max_bytes;
};

struct _sl_edge_tus_patch_t {
    sl_edge_tus_t *owner;
    char ws [65];
    char id [SL_ID_LEN + 1];
    sl_upload_writer_t *writer;
    EVP_MD_CTX *md;                 //  the body's checksum, when one was sent
    unsigned char expect [EVP_MAX_MD_SIZE];
    unsigned int expect_len;
    char algorithm [16];
    sl_edge_tus_reply_t failure;    //  status 0 while all is well
};

//  --------------------------------------------------------------------------
//  Replies

void
sl_edge_tus_reply_header (sl_edge_tus_reply_t *reply, const char *name, const char *value)
{
    if (reply->count >= SL_EDGE_TUS_HEADERS)
        return;
    snprintf (reply->name [reply->count], sizeof reply->name [0], "%s", name);
    snprintf (reply->value [reply->count], sizeof reply->value [0], "%s", value);
    reply->count++;
}

static void
s_reply (sl_edge_tus_reply_t *reply, int status)
{
    memset (reply, 0, sizeof *reply);
    reply->status = status;
    sl_edge_tus_reply_header (reply, "Tus-Resumable", S_VERSION);
}

static void
s_error (sl_edge_tus_reply_t *reply, int status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_error (sl_edge_tus_reply_t *reply, int status, const char *fmt, ...)
{
    s_reply (reply, status);
    va_list args;
    va_start (args, fmt);
    vsnprintf (reply->message, sizeof reply->message, fmt, args);
    va_end (args);
}

static void
s_header_u64 (sl_edge_tus_reply_t *reply, const char *name, uint64_t value)
{
    char text [32];
    snprintf (text, sizeof text, "%llu", (unsigned long long) value);
    sl_edge_tus_reply_header (reply, name, text);
}

//  Upload-Expires is an RFC 7231 date
static void
s_header_expires (sl_edge_tus_reply_t *reply, int64_t when_ms)
{
    time_t t = (time_t) (when_ms / 1000);
    struct tm tm;
    char text [64];
    if (gmtime_r (&t, &tm) && strftime (text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        sl_edge_tus_reply_header (reply, "Upload-Expires", text);
}

//  A tus request names the version it speaks; we speak 1.0.0 only
static bool
s_version_ok (const sl_edge_tus_headers_t *h, sl_edge_tus_reply_t *reply)
{
    if (h->tus_resumable && strcmp (h->tus_resumable, S_VERSION) == 0)
        return true;
    s_error (reply, 412, "this endpoint speaks tus " S_VERSION ": send Tus-Resumable: " S_VERSION
             " (got %.40s)", h->tus_resumable ? h->tus_resumable : "no Tus-Resumable header");
    sl_edge_tus_reply_header (reply, "Tus-Version", S_VERSION);
    return false;
}

static void
s_from_err (sl_edge_tus_reply_t *reply, const sl_upload_err_t *err)
{
    s_error (reply, err->status ? err->status : 500, "%s", err->message);
    if (err->status == 423 || err->status == 429 || err->status == 503)
        sl_edge_tus_reply_header (reply, "Retry-After", "1");
}

//  A decimal header without sign, spaces or overflow
static bool
s_u64 (const char *text, uint64_t *out)
{
    if (!text || !*text || strlen (text) > 19)
        return false;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t) (*p - '0');
    }
    *out = v;
    return true;
}

//  --------------------------------------------------------------------------
//  Upload-Metadata

//  Padded or unpadded base64 into out (cap bytes). Length, or -1.
static ptrdiff_t
s_b64_decode (const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 == 1)
        return -1;
    char padded [S_METADATA_MAX + 4];
    if (len + 3 >= sizeof padded)
        return -1;
    memcpy (padded, in, len);
    size_t plen = len;
    while (plen % 4)
        padded [plen++] = '=';
    padded [plen] = 0;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum ((unsigned char) in [i]) || in [i] == '+' || in [i] == '/' || in [i] == '='))
            return -1;
    if (plen / 4 * 3 > cap)
        return -1;
    int n = EVP_DecodeBlock (out, (const unsigned char *) padded, (int) plen);
    if (n < 0)
        return -1;
    //  EVP_DecodeBlock counts the padding as zero bytes
    size_t pad = 0;
    while (pad < 2 && plen > pad && padded [plen - 1 - pad] == '=')
        pad++;
    return (ptrdiff_t) n - (ptrdiff_t) pad;
}

static bool
s_utf8_valid (const unsigned char *s, size_t len)
{
    json_t *probe = json_stringn ((const char *) s, len);
    bool ok = probe != NULL;
    json_decref (probe);
    return ok;
}

char *
sl_edge_tus_metadata (const char *header, char *why, size_t cap)
{
    if (header && strlen (header) > S_METADATA_MAX) {
        snprintf (why, cap, "Upload-Metadata is longer than %d bytes", S_METADATA_MAX);
        return NULL;
    }
    json_t *out = json_object ();
    const char *p = header ? header : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *key = p;
        while (*p && *p != ' ' && *p != ',')
            p++;
        size_t klen = (size_t) (p - key);
        const char *val = NULL;
        size_t vlen = 0;
        if (*p == ' ') {
            while (*p == ' ')
                p++;
            val = p;
            while (*p && *p != ',')
                p++;
            vlen = (size_t) (p - val);
            while (vlen && val [vlen - 1] == ' ')
                vlen--;
        }
        if (*p == ',')
            p++;
        char name [64];
        if (klen == 0 || klen >= sizeof name) {
            snprintf (why, cap, "Upload-Metadata has an empty or over-long key (keys are ASCII words, "
                      "values base64)");
            json_decref (out);
            return NULL;
        }
        memcpy (name, key, klen);
        name [klen] = 0;
        for (size_t i = 0; i < klen; i++)
            if ((unsigned char) name [i] < 0x21 || (unsigned char) name [i] > 0x7e) {
                snprintf (why, cap, "Upload-Metadata key '%s' is not printable ASCII", name);
                json_decref (out);
                return NULL;
            }
        if (json_object_get (out, name)) {
            snprintf (why, cap, "Upload-Metadata gives '%s' twice", name);
            json_decref (out);
            return NULL;
        }
        unsigned char value [S_METADATA_MAX];
        ptrdiff_t n = val ? s_b64_decode (val, vlen, value, sizeof value) : 0;
        if (n < 0 || !s_utf8_valid (value, (size_t) n)) {
            snprintf (why, cap, "Upload-Metadata value of '%s' is not base64 of UTF-8 text", name);
            json_decref (out);
            return NULL;
        }
        json_object_set_new (out, name, json_stringn ((const char *) value, (size_t) n));
    }
    char *text = json_dumps (out, JSON_COMPACT);
    json_decref (out);
    return text;
}

//  --------------------------------------------------------------------------
//  Life cycle

sl_edge_tus_t *
sl_edge_tus_new (sl_blob_t *blobs, uint64_t max_bytes, int64_t expire_s, int max_open)
{
    assert (blobs);
    sl_edge_tus_t *self = calloc (1, sizeof *self);
    assert (self);
    self->max_bytes = max_bytes;
    self->uploads = sl_upload_new (blobs, "uploads", max_bytes, expire_s, max_open);
    if (!self->uploads)
        sl_edge_tus_destroy (&self);
    return self;
}

void
sl_edge_tus_destroy (sl_edge_tus_t **self_p)
{
    assert (self_p);
    sl_edge_tus_t *self = *self_p;
    if (!self)
        return;
    sl_upload_destroy (&self->uploads);
    free (self);
    *self_p = NULL;
}

void
sl_edge_tus_options (sl_edge_tus_t *self, sl_edge_tus_reply_t *reply)
{
    s_reply (reply, 204);
    sl_edge_tus_reply_header (reply, "Tus-Version", S_VERSION);
    sl_edge_tus_reply_header (reply, "Tus-Extension", S_EXTENSIONS);
    sl_edge_tus_reply_header (reply, "Tus-Checksum-Algorithm", S_ALGORITHMS);
    if (self->max_bytes)
        s_header_u64 (reply, "Tus-Max-Size", self->max_bytes);
}

//  --------------------------------------------------------------------------
//  Create

//  From decoded metadata: the name, type and attributes of the document.
//  0, or -1 with reply (400 bad name or attributes, 415 unreadable type).
static int
s_document (const char *metadata, char *filename, size_t fcap, char *mime, size_t mcap, char **attrs,
            sl_edge_tus_reply_t *reply)
{
    json_t *md = json_loads (metadata, 0, NULL);
    assert (md);
    const char *name = NULL, *type = NULL;
    const char *name_keys [] = { "filename", "name", NULL }, *type_keys [] = { "filetype", "type", "mime", NULL };
    for (int i = 0; name_keys [i] && !name; i++)
        name = json_string_value (json_object_get (md, name_keys [i]));
    for (int i = 0; type_keys [i] && !type; i++)
        type = json_string_value (json_object_get (md, type_keys [i]));
    const char *meta = json_string_value (json_object_get (md, "meta"));
    char why [300];
    char *clean = sl_edge_name_clean (name ? name : "", why, sizeof why);
    int rc = 0;
    if (!clean)
        rc = (s_error (reply, 400, "filename in Upload-Metadata: %s", why), -1);
    else
    if (type && strlen (type) >= mcap)
        rc = (s_error (reply, 400, "filetype in Upload-Metadata is too long"), -1);
    else
    if (sl_edge_type_refused (type, clean, why, sizeof why))
        rc = (s_error (reply, 415, "%s", why), -1);
    else {
        snprintf (filename, fcap, "%s", clean);
        snprintf (mime, mcap, "%s", type ? type : "");
    }
    free (clean);
    *attrs = NULL;
    if (rc == 0 && meta) {
        sl_meta_t *checked = sl_meta_parse (meta, -1, why, sizeof why);
        if (!checked)
            rc = (s_error (reply, 400, "meta in Upload-Metadata: %s", why), -1);
        else {
            *attrs = strdup (checked->json);
            sl_meta_destroy (&checked);
        }
    }
    json_decref (md);
    return rc;
}

void
sl_edge_tus_create (sl_edge_tus_t *self, const char *ws, const sl_edge_tus_headers_t *h,
                    sl_edge_tus_reply_t *reply)
{
    assert (self && ws && h && reply);
    if (!s_version_ok (h, reply))
        return;
    uint64_t length;
    if (h->upload_defer_length && !h->upload_length) {
        s_error (reply, 400, "Upload-Defer-Length is not supported here: send Upload-Length, the document's "
                 "size in bytes");
        return;
    }
    if (!s_u64 (h->upload_length, &length)) {
        s_error (reply, 400, "Upload-Length must be the document's size in bytes (got %.40s)",
                 h->upload_length ? h->upload_length : "none");
        return;
    }
    if (length == 0) {
        s_error (reply, 400, "the document is empty (Upload-Length: 0): there is nothing to ingest");
        return;
    }
    if (self->max_bytes && length > self->max_bytes) {
        s_error (reply, 413, "an upload of %llu bytes exceeds http.max_upload (%llu bytes)",
                 (unsigned long long) length, (unsigned long long) self->max_bytes);
        s_header_u64 (reply, "Tus-Max-Size", self->max_bytes);
        return;
    }
    char why [300];
    char *metadata = sl_edge_tus_metadata (h->upload_metadata, why, sizeof why);
    if (!metadata) {
        s_error (reply, 400, "%s", why);
        return;
    }
    char filename [256], mime [128], *attrs = NULL;
    int rc = s_document (metadata, filename, sizeof filename, mime, sizeof mime, &attrs, reply);
    free (metadata);
    if (rc)
        return;
    char id [SL_ID_LEN + 1];
    sl_upload_err_t err;
    if (sl_upload_begin (self->uploads, ws, (int64_t) length, filename, mime, attrs, id, &err)) {
        free (attrs);
        s_from_err (reply, &err);
        return;
    }
    free (attrs);
    s_reply (reply, 201);
    char location [64];
    snprintf (location, sizeof location, "/v1/uploads/%s", id);
    sl_edge_tus_reply_header (reply, "Location", location);
    sl_upload_info_t info;
    if (sl_upload_info (self->uploads, ws, id, &info, &err) == 0)
        s_header_expires (reply, info.expires_ms);
}

//  --------------------------------------------------------------------------
//  Head, delete

void
sl_edge_tus_head (sl_edge_tus_t *self, const char *ws, const char *id, const sl_edge_tus_headers_t *h,
                  sl_edge_tus_reply_t *reply, char **json)
{
    assert (self && ws && id && h && reply);
    if (json)
        *json = NULL;
    //  A plain GET (a person, a script) needs no tus header; HEAD does
    if (!json && !s_version_ok (h, reply))
        return;
    sl_upload_info_t info;
    sl_upload_err_t err;
    if (sl_upload_info (self->uploads, ws, id, &info, &err)) {
        s_from_err (reply, &err);
        return;
    }
    s_reply (reply, 200);
    s_header_u64 (reply, "Upload-Offset", info.bytes);
    s_header_u64 (reply, "Upload-Length", (uint64_t) info.size);
    s_header_expires (reply, info.expires_ms);
    if (*info.job)
        sl_edge_tus_reply_header (reply, "Sluice-Job", info.job);
    if (json) {
        json_t *out = json_pack ("{s:s, s:I, s:I, s:b, s:s}", "id", id, "offset", (json_int_t) info.bytes,
                                 "length", (json_int_t) info.size, "complete",
                                 info.size >= 0 && info.bytes == (uint64_t) info.size, "filename",
                                 info.filename);
        if (*info.job)
            json_object_set_new (out, "job", json_string (info.job));
        *json = json_dumps (out, JSON_COMPACT);
        json_decref (out);
    }
}

void
sl_edge_tus_delete (sl_edge_tus_t *self, const char *ws, const char *id, const sl_edge_tus_headers_t *h,
                    sl_edge_tus_reply_t *reply)
{
    assert (self && ws && id && h && reply);
    if (!s_version_ok (h, reply))
        return;
    sl_upload_err_t err;
    if (sl_upload_abort (self->uploads, ws, id, &err))
        s_from_err (reply, &err);
    else
        s_reply (reply, 204);
}

//  --------------------------------------------------------------------------
//  Patch

//  "sha1 <base64>": set up the digest. 0, or -1 with reply (400).
static int
s_checksum_begin (sl_edge_tus_patch_t *patch, const char *header, sl_edge_tus_reply_t *reply)
{
    const char *space = strchr (header, ' ');
    size_t alen = space ? (size_t) (space - header) : 0;
    if (!space || alen == 0 || alen >= sizeof patch->algorithm) {
        s_error (reply, 400, "Upload-Checksum must be '<algorithm> <base64 digest>' (algorithms: " S_ALGORITHMS ")");
        return -1;
    }
    memcpy (patch->algorithm, header, alen);
    patch->algorithm [alen] = 0;
    const EVP_MD *md = strcasecmp (patch->algorithm, "sha1") == 0 ? EVP_sha1 ()
                     : strcasecmp (patch->algorithm, "sha256") == 0 ? EVP_sha256 () : NULL;
    if (!md) {
        s_error (reply, 400, "Upload-Checksum algorithm '%s' is not supported (supported: " S_ALGORITHMS ")",
                 patch->algorithm);
        return -1;
    }
    const char *digest = space + 1;
    ptrdiff_t n = s_b64_decode (digest, strlen (digest), patch->expect, sizeof patch->expect);
    if (n != EVP_MD_get_size (md)) {
        s_error (reply, 400, "Upload-Checksum digest is not the base64 of a %s digest", patch->algorithm);
        return -1;
    }
    patch->expect_len = (unsigned int) n;
    patch->md = EVP_MD_CTX_new ();
    assert (patch->md);
    EVP_DigestInit_ex (patch->md, md, NULL);
    return 0;
}

static void
s_patch_free (sl_edge_tus_patch_t *patch)
{
    if (patch->md)
        EVP_MD_CTX_free (patch->md);
    free (patch);
}

sl_edge_tus_patch_t *
sl_edge_tus_patch_begin (sl_edge_tus_t *self, const char *ws, const char *id, const sl_edge_tus_headers_t *h,
                         sl_edge_tus_reply_t *reply)
{
    assert (self && ws && id && h && reply);
    memset (reply, 0, sizeof *reply);
    if (!s_version_ok (h, reply))
        return NULL;
    if (!h->content_type || strncasecmp (h->content_type, "application/offset+octet-stream", 31) != 0) {
        s_error (reply, 415, "a PATCH body must be Content-Type: application/offset+octet-stream");
        return NULL;
    }
    uint64_t offset;
    if (!s_u64 (h->upload_offset, &offset)) {
        s_error (reply, 400, "Upload-Offset must be the byte offset the body starts at (got %.40s)",
                 h->upload_offset ? h->upload_offset : "none");
        return NULL;
    }
    sl_edge_tus_patch_t *patch = calloc (1, sizeof *patch);
    assert (patch);
    patch->owner = self;
    snprintf (patch->ws, sizeof patch->ws, "%s", ws);
    snprintf (patch->id, sizeof patch->id, "%s", id);
    if (h->upload_checksum && s_checksum_begin (patch, h->upload_checksum, reply)) {
        s_patch_free (patch);
        return NULL;
    }
    sl_upload_err_t err;
    patch->writer = sl_upload_writer_open (self->uploads, ws, id, offset, &err);
    if (!patch->writer) {
        sl_upload_info_t info;
        sl_upload_err_t ierr;
        //  The last PATCH ingested nothing (intake was busy) or its answer
        //  was lost: an empty PATCH at the end asks for the document again
        if (err.status == 409 && sl_upload_info (self->uploads, ws, id, &info, &ierr) == 0
        &&  info.size >= 0 && info.bytes == (uint64_t) info.size && offset == info.bytes)
            return patch;
        s_from_err (reply, &err);
        s_patch_free (patch);
        return NULL;
    }
    return patch;
}

int
sl_edge_tus_patch_feed (sl_edge_tus_patch_t *patch, const void *data, size_t size)
{
    assert (patch);
    if (patch->failure.status)
        return -1;
    if (!patch->writer) {
        s_error (&patch->failure, 409, "upload %s is complete: there is nothing more to send", patch->id);
        return -1;
    }
    sl_upload_err_t err;
    if (sl_upload_writer_write (patch->writer, data, size, &err)) {
        s_from_err (&patch->failure, &err);
        return -1;
    }
    if (patch->md)
        EVP_DigestUpdate (patch->md, data, size);
    return 0;
}

//  The upload is whole: commit it (hash, publish the blob) and say what it is
static bool
s_whole (sl_edge_tus_patch_t *patch, sl_edge_tus_reply_t *reply, sl_edge_tus_done_t *done)
{
    sl_edge_tus_t *self = patch->owner;
    sl_upload_done_t blob;
    sl_upload_err_t err;
    sl_upload_info_t info;
    if (sl_upload_commit (self->uploads, patch->ws, patch->id, NULL, &blob, &err)
    ||  sl_upload_info (self->uploads, patch->ws, patch->id, &info, &err)) {
        s_from_err (reply, &err);
        return false;
    }
    memset (done, 0, sizeof *done);
    snprintf (done->id, sizeof done->id, "%s", patch->id);
    snprintf (done->blob, sizeof done->blob, "%s", blob.blob);
    done->size = blob.size;
    snprintf (done->filename, sizeof done->filename, "%s", info.filename);
    snprintf (done->mime, sizeof done->mime, "%s", info.mime);
    snprintf (done->attrs, sizeof done->attrs, "%s", info.attrs);
    snprintf (done->job, sizeof done->job, "%s", info.job);
    return true;
}

bool
sl_edge_tus_patch_end (sl_edge_tus_patch_t **patch_p, bool complete, sl_edge_tus_reply_t *reply,
                       sl_edge_tus_done_t *done)
{
    assert (patch_p && reply && done);
    sl_edge_tus_patch_t *patch = *patch_p;
    assert (patch);
    *patch_p = NULL;
    memset (done, 0, sizeof *done);
    bool keep = !patch->failure.status;
    bool mismatch = false;
    if (keep && patch->md) {
        //  A checksum vouches for the whole body: a body cut short cannot
        //  be checked, so it is not kept
        unsigned char got [EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex (patch->md, got, &len);
        if (!complete)
            keep = false;
        else
        if (len != patch->expect_len || memcmp (got, patch->expect, len) != 0)
            keep = false, mismatch = true;
    }
    uint64_t bytes = 0;
    sl_upload_err_t err = { 0 };
    int closed = 0;
    bool had_writer = patch->writer != NULL;
    if (had_writer)
        closed = sl_upload_writer_close (&patch->writer, keep, &bytes, &err);
    bool whole = false;
    if (patch->failure.status)
        *reply = patch->failure;
    else
    if (mismatch)
        s_error (reply, 460, "the body does not match its Upload-Checksum (%s): it was not kept; send it again",
                 patch->algorithm);
    else
    if (closed)
        s_from_err (reply, &err);
    else {
        sl_upload_info_t info;
        if (sl_upload_info (patch->owner->uploads, patch->ws, patch->id, &info, &err))
            s_from_err (reply, &err);
        else {
            s_reply (reply, 204);
            s_header_u64 (reply, "Upload-Offset", info.bytes);
            s_header_expires (reply, info.expires_ms);
            if (info.size >= 0 && info.bytes == (uint64_t) info.size)
                whole = s_whole (patch, reply, done);
        }
    }
    s_patch_free (patch);
    return whole;
}

int
sl_edge_tus_set_job (sl_edge_tus_t *self, const char *ws, const char *id, const char *job)
{
    assert (self && ws && id && job);
    sl_upload_err_t err;
    return sl_upload_set_job (self->uploads, ws, id, job, &err);
}
