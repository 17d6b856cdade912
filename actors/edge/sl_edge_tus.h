/*  sl_edge_tus: resumable uploads over HTTP, the tus 1.0 protocol.

    What Uppy, tus-js-client, tusd's clients and the CLI speak, so a large
    file survives a dropped connection, a closed laptop or a restarted
    edge. Supported: core, creation, termination, checksum (sha1, the one
    every client knows, and sha256), expiration. Not supported, said in
    the answers: creation-defer-length (a document's size is known when
    its upload starts) and concatenation.

        POST   /v1/uploads          Upload-Length, Upload-Metadata -> 201 Location
        HEAD   /v1/uploads/{id}     -> Upload-Offset, Upload-Length (GET: JSON too)
        PATCH  /v1/uploads/{id}     Upload-Offset, body application/offset+octet-stream
        DELETE /v1/uploads/{id}     -> 204
        OPTIONS /v1/uploads         -> Tus-Version, Tus-Extension, Tus-Max-Size

    Upload-Metadata keys read: filename (or name), filetype (or type,
    mime), meta (the document's attributes, JSON, as for POST /v1/ingest).
    When the last byte is in, the edge publishes the bytes as a blob and
    ingests them like an uploaded file; the PATCH that completed the
    upload answers with the job in `Sluice-Job`, and so does every HEAD
    after it. If that ingest fails (intake busy), the bytes stay: a PATCH
    of zero bytes at the final offset asks again.

    State: every upload lives in the blob area (sl_upload, folder
    "uploads"), never in an edge process, so any edge replica continues
    an upload another began, and an edge restart loses nothing that was
    recorded. A PATCH holds its upload's lock for its body: a second PATCH
    meanwhile gets 423 (tus clients retry it) rather than interleaving.
    A dropped connection keeps what arrived (unless the PATCH carried a
    checksum, which then cannot be checked: those bytes are dropped, as
    the protocol asks). An upload untouched for `uploads.expire_s` is
    removed by the collector; answers carry its Upload-Expires.

    Ownership: the tus object belongs to the edge and is shared by its
    connection threads (sl_upload is safe for that); a patch belongs to
    one request.
*/
#ifndef SL_EDGE_TUS_H_INCLUDED
#define SL_EDGE_TUS_H_INCLUDED

#include "sl_blob.h"
#include "sl_util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_EDGE_TUS_HEADERS 12

typedef struct _sl_edge_tus_t sl_edge_tus_t;
typedef struct _sl_edge_tus_patch_t sl_edge_tus_patch_t;

//  One answer: status, the headers to send with it (Tus-Resumable
//  always), and for an error a sentence a person can act on.
typedef struct {
    int status;
    char message [400];
    int count;
    char name [SL_EDGE_TUS_HEADERS][32];
    char value [SL_EDGE_TUS_HEADERS][160];
} sl_edge_tus_reply_t;

//  The headers of a tus request that matter here (any may be NULL).
typedef struct {
    const char *tus_resumable;
    const char *upload_length;
    const char *upload_defer_length;
    const char *upload_metadata;
    const char *upload_offset;
    const char *upload_checksum;
    const char *content_type;
} sl_edge_tus_headers_t;

//  An upload whose bytes are all in: what the edge needs to ingest it.
typedef struct {
    char id [SL_ID_LEN + 1];
    char blob [SL_SHA256_HEX];
    uint64_t size;
    char filename [256];
    char mime [128];
    char attrs [4096];
    char job [SL_ID_LEN + 1];   //  "" until a job ingests it
} sl_edge_tus_done_t;

//  Uploads in <blob root>/uploads. max_bytes caps one upload (the edge's
//  http.max_upload), expire_s is uploads.expire_s, max_open bounds the
//  unfinished uploads (0: none). NULL if the folder is unusable.
sl_edge_tus_t *sl_edge_tus_new (sl_blob_t *blobs, uint64_t max_bytes, int64_t expire_s, int max_open);
void sl_edge_tus_destroy (sl_edge_tus_t **self_p);

//  OPTIONS: what this server speaks.
void sl_edge_tus_options (sl_edge_tus_t *self, sl_edge_tus_reply_t *reply);

//  POST: create an upload in workspace ws. 201 with Location, or an error
//  (400 bad or missing header, 412 other protocol version, 413 too large,
//  415 a type the pipeline cannot read, 429 too many open).
void sl_edge_tus_create (sl_edge_tus_t *self, const char *ws, const sl_edge_tus_headers_t *h,
                         sl_edge_tus_reply_t *reply);

//  HEAD / GET: the upload's offset and length (404 unknown or another
//  workspace's, 423 being written). If json is not NULL it gets a small
//  JSON object for GET (caller frees).
void sl_edge_tus_head (sl_edge_tus_t *self, const char *ws, const char *id, const sl_edge_tus_headers_t *h,
                       sl_edge_tus_reply_t *reply, char **json);

//  DELETE: terminate the upload (204; 404 unknown).
void sl_edge_tus_delete (sl_edge_tus_t *self, const char *ws, const char *id, const sl_edge_tus_headers_t *h,
                         sl_edge_tus_reply_t *reply);

//  PATCH, headers seen: NULL with reply filled when refused up front (412,
//  415 wrong body type, 400 missing offset or bad checksum header, 404,
//  409 offset, 423 busy); else the patch, which takes the body.
sl_edge_tus_patch_t *sl_edge_tus_patch_begin (sl_edge_tus_t *self, const char *ws, const char *id,
                                              const sl_edge_tus_headers_t *h, sl_edge_tus_reply_t *reply);

//  Feed a piece of the body. 0, or -1 with the patch's reply set (further
//  pieces are discarded).
int sl_edge_tus_patch_feed (sl_edge_tus_patch_t *patch, const void *data, size_t size);

//  The body ended (complete) or the connection dropped (!complete). Fills
//  reply (204 + Upload-Offset, 460 checksum mismatch, or the error) and
//  returns true when the upload is now whole: done then holds what to
//  ingest (done->job set if an earlier request ingested it already).
//  Destroys the patch and nulls *patch_p.
bool sl_edge_tus_patch_end (sl_edge_tus_patch_t **patch_p, bool complete, sl_edge_tus_reply_t *reply,
                            sl_edge_tus_done_t *done);

//  Record the job that ingests upload id. 0, or -1.
int sl_edge_tus_set_job (sl_edge_tus_t *self, const char *ws, const char *id, const char *job);


//  Add a header to a reply (for the caller's own, e.g. Sluice-Job).
void sl_edge_tus_reply_header (sl_edge_tus_reply_t *reply, const char *name, const char *value);

//  Decode tus's Upload-Metadata ("key b64,key b64,key") into a JSON object
//  text of key -> string (caller frees), or NULL with why when malformed
//  (bad base64, a value not UTF-8, a repeated key, too long).
char *sl_edge_tus_metadata (const char *header, char *why, size_t cap);

void sl_edge_tus_test (bool verbose);

#endif
