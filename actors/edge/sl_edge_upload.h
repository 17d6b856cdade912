/*  sl_edge_upload: the body of POST /v1/ingest, turned into documents.

    Four body shapes arrive at the same endpoint:
      application/json          {"url": "..."} or {"urls": ["...", ...]},
                                with "meta": {...} for their attributes
      multipart/form-data       one or many file parts (and/or "url" fields),
                                and a "meta" field (JSON text) for all of them
      x-www-form-urlencoded     url=...&url=...
      anything else             the raw bytes of one file, named by
                                ?name= (or ?filename=) or Content-Disposition
    File bytes are streamed into the blob area as they arrive (an
    sl_blob_writer per file, hashed on the fly), never held whole in RAM.
    Each part is committed to the blob area when the next part starts, so
    a request holds one open file however many parts it has (a form of a
    thousand files must not take a thousand descriptors); the part being
    received when a request is refused (413, malformed) is removed, parts
    already finished stay as unreferenced blobs for the collector, as
    after an upload intake refused. http.max_upload caps the whole body.

    Names are the caller's (sl_edge_name_clean): a file name or a relative
    path like "d/a/n.txt", which the store uses to recognise a new version
    of a document; a part with a bad name (not UTF-8, control characters,
    "..") is refused alone, with no file written for it.

    The edge refuses only what is *obviously* unsupported (declared image,
    audio, video, font, archive, executable and office types, and their
    file extensions): the fetch stage sniffs the bytes and has the last
    word on everything else.

    Ownership: an upload belongs to one HTTP request (one connection thread)
    and owns its writer and documents; destroying it aborts the part that
    was not committed.
*/
#ifndef SL_EDGE_UPLOAD_H_INCLUDED
#define SL_EDGE_UPLOAD_H_INCLUDED

#include "sl_blob.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
typedef struct _sl_edge_upload_t sl_edge_upload_t;

//  One document named by the body: a URL, or a file now in the blob area.
//  status is 0 if the document may be submitted, or the HTTP status of its
//  refusal (400 empty file, 415 unsupported type) with message.
typedef struct {
    char *url;                  //  NULL for files
    char sha256 [65];           //  files: blob hash
    size_t size;                //  files: bytes
    char *filename;             //  files: the caller's name, "" if none
    char *mime;                 //  files: declared type, "" if none
    int status;
    char message [256];
} sl_edge_doc_t;

//  Start reading a body. content_type is the request's header (may be
//  NULL); filename is ?filename= or the Content-Disposition name for raw
//  bodies (may be NULL). connection is used for multipart and form bodies
//  (MHD's post processor reads their boundary from it); may be NULL for
//  JSON and raw bodies. Returns NULL with an HTTP status and message when
//  the body is refused up front (415 unsupported type). Caller owns it.
sl_edge_upload_t *sl_edge_upload_new (struct MHD_Connection *connection, sl_blob_t *blobs,
                                      const char *content_type, const char *filename,
                                      size_t max_upload, size_t max_json,
                                      int *status, char *message, size_t msglen);
void sl_edge_upload_destroy (sl_edge_upload_t **self_p);

//  Feed the next piece of the body. 0, or -1 with an HTTP status (400,
//  413, 500) in sl_edge_upload_error; after -1 further data is discarded.
int sl_edge_upload_feed (sl_edge_upload_t *self, const char *data, size_t size);

//  The body is complete: parse JSON, commit blobs. 0, or -1 with the
//  status in sl_edge_upload_error. Afterwards the documents are ready.
int sl_edge_upload_finish (sl_edge_upload_t *self);

//  0 if no error so far, else its HTTP status; *message (optional) gets
//  the reason (owned by the upload).
int sl_edge_upload_error (sl_edge_upload_t *self, const char **message);

//  Seconds after which a 503 error is worth retrying (descriptors ran
//  out), else 0.
int sl_edge_upload_retry_after (sl_edge_upload_t *self);

//  True when the body is JSON (the caller limits those more tightly).
bool sl_edge_upload_is_json (sl_edge_upload_t *self);

//  The attributes the body gave every document (a form's "meta" field, the
//  JSON body's "meta"), checked and canonical, or NULL (after finish).
const char *sl_edge_upload_meta (sl_edge_upload_t *self);

//  Documents found (after finish).
size_t sl_edge_upload_count (sl_edge_upload_t *self);
sl_edge_doc_t *sl_edge_upload_doc (sl_edge_upload_t *self, size_t index);

//  Body bytes received so far.
uint64_t sl_edge_upload_bytes (sl_edge_upload_t *self);

//  --------------------------------------------------------------------------
//  Helpers (pure, thread-safe)

//  True if a declared MIME type or file name is obviously not a document
//  the pipeline can read; why gets a message a person can act on.
bool sl_edge_type_refused (const char *mime, const char *filename, char *why, size_t cap);

//  The file name in a Content-Disposition header (filename*=UTF-8''... or
//  filename="..."), percent-decoded, or NULL. Caller frees.
char *sl_edge_disposition_filename (const char *header);

//  A caller's name for a document, checked: a file name or a relative
//  path such as "d/a/n.txt" (the folder-relative path of a file in an
//  ingested folder). Backslashes count as separators and become '/', and
//  empty and "." components are dropped (so a leading '/' goes). Returns the
//  name (caller frees; "" when there is none: an unnamed upload), or NULL
//  with a reason in why when it is not valid UTF-8, holds control
//  characters, has a ".." component or is longer than 255 bytes.
char *sl_edge_name_clean (const char *name, char *why, size_t cap);

//  Lower-case the scheme of a URL in place ("HTTP://x" -> "http://x").
void sl_edge_url_normalise (char *url);

//  True if url is an absolute http(s) URL of sane length without control
//  characters or spaces.
bool sl_edge_url_valid (const char *url);

void sl_edge_upload_test (bool verbose);

#endif
