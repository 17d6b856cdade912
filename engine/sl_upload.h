/*  sl_upload: resumable, chunked uploads into the blob area. Two front
    ends share it: the ZeroMQ `upload` service (callers that do not share
    the data folder: the bindings) and the edge's tus 1.0 endpoint
    (/v1/uploads: browsers, the CLI, any tus client). Each keeps its
    uploads in a folder of its own under the blob root, because their
    expiry differs: a ZeroMQ caller is a program that retries within
    seconds, a person's upload may wait a night for a laptop to wake up.

    A document too large for one message arrives as a sequence of parts:
        begin  {size?, filename, mime}      -> upload id
        part   {upload_id, seq, data}       -> bytes received so far
        commit {upload_id, sha256?}         -> {blob, size}
        abort  {upload_id}
        put    {data, filename, mime, sha256?}   -> {blob, size}  (one part only)
    after which the caller asks intake/ingest for the blob (docs/protocol.md
    §5). The upload service may run in several processes, and the broker
    hands each request to whichever has credit, so consecutive parts of one
    upload can land on different processes. All state therefore lives in
    the blob area, which every stage shares anyway, not in any process:

        <root>/<folder>/upload-<id>.meta   the upload's record (small msgpack map)
        <root>/<folder>/upload-<id>.part   the bytes received so far

    Every operation opens the .meta file and takes flock(LOCK_EX) on it, so
    parts of one upload are applied one at a time whoever serves them, then
    checks that the path still names the inode it locked (a sweep or an
    abort may have removed the upload while it waited). The record says
    which seq comes next and how many bytes are valid; a part is written at
    that offset after truncating to it, and only then is the record
    updated, so a process killed half-way through a part leaves a record
    that still describes good bytes and the part can simply be sent again.

    Parts must arrive in order: seq == next is applied, seq < next is a
    retry of a part already applied (acknowledged again, not written
    twice), seq > next is refused (409). A committed upload keeps its
    record (state "committed", with the blob hash) until it expires, so a
    commit retried after a lost reply gets the same answer.

    Offsets instead of parts (tus): a writer (sl_upload_writer_open) holds
    the upload's lock for a whole request body and appends at the offset
    the caller names, which must be the bytes held (409 otherwise); a
    second writer meanwhile gets 423 at once rather than waiting behind a
    slow client. The record moves only when the writer closes: with keep
    (the body ended, or the connection dropped and what arrived is good)
    or without (a checksum failed: the bytes are cut off again). A process
    killed mid-body leaves bytes past the record, cut off by the next
    writer, as for parts.

    Expiry: an upload untouched for idle_s (the record's mtime) is removed
    with its bytes by sl_upload_sweep; a caller killed mid-upload therefore
    leaves nothing behind, and nothing half-written ever becomes a blob
    (publication is one link(2) of a complete, hashed, fsync'd file).

    Ownership: sl_upload_new borrows the blob area (it must outlive the
    upload object). Thread-safety: an sl_upload_t is read-only after
    construction and every operation locks the file it touches, so any
    number of threads and processes may share one root.
*/
#ifndef SL_UPLOAD_H_INCLUDED
#define SL_UPLOAD_H_INCLUDED

#include "sl_blob.h"
#include "sl_util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_UPLOAD_PART_MAX   (1u << 20)     //  largest part accepted (1 MiB)

typedef struct _sl_upload_t sl_upload_t;

//  Why an operation failed: an HTTP-like status (400 bad request, 404 no
//  such upload, 409 out of order, 413 too large, 429 too many open
//  uploads, 500 disk) and a message a person can act on.
typedef struct {
    int status;
    char message [256];
} sl_upload_err_t;

//  What commit produced.
typedef struct {
    char blob [SL_SHA256_HEX];
    uint64_t size;
    char filename [256];
    char mime [128];
} sl_upload_done_t;

//  Create the upload manager over blobs (borrowed), keeping its uploads in
//  <root>/<folder> (a plain name: "tmp" for the ZeroMQ service, "uploads"
//  for tus). max_bytes caps one upload (0 = no cap), idle_s expires
//  untouched uploads, max_open bounds the uploads open at once (0 = no
//  bound). Returns NULL if the folder is unusable. Caller owns the result.
sl_upload_t *sl_upload_new (sl_blob_t *blobs, const char *folder, uint64_t max_bytes, int64_t idle_s,
                            int max_open);

//  Destroy; files stay on disk. Nulls *self_p; safe on NULL.
void sl_upload_destroy (sl_upload_t **self_p);

#define SL_UPLOAD_ATTRS_MAX  4096       //  attributes kept with an upload (JSON text)

//  Start an upload in workspace ws. size is the total the caller will send
//  (-1 if unknown: then only max_bytes limits it). filename, mime and
//  attrs (the document's attributes, JSON text shorter than
//  SL_UPLOAD_ATTRS_MAX, kept verbatim for whoever ingests the upload) may
//  be NULL. Writes the new id into id. 0, or -1 with err.
int sl_upload_begin (sl_upload_t *self, const char *ws, int64_t size, const char *filename,
                     const char *mime, const char *attrs, char id [SL_ID_LEN + 1], sl_upload_err_t *err);

//  What an upload holds, for a tus HEAD.
typedef struct {
    int64_t size;               //  declared total, -1 unknown
    uint64_t bytes;             //  received and recorded
    bool committed;
    char blob [SL_SHA256_HEX];  //  once committed
    char filename [256];
    char mime [128];
    char attrs [SL_UPLOAD_ATTRS_MAX];
    char job [SL_ID_LEN + 1];   //  the job that ingests it, once one does ("" before)
    int64_t expires_ms;         //  wall clock (ms) when it expires if untouched
} sl_upload_info_t;

//  Read upload id's record without waiting: 0, or -1 with err (404
//  unknown, 423 a writer holds it right now).
int sl_upload_info (sl_upload_t *self, const char *ws, const char *id, sl_upload_info_t *info,
                    sl_upload_err_t *err);

//  Record the job that ingests upload id (so a retried final request, or a
//  HEAD, finds it instead of ingesting twice). 0, or -1 with err.
int sl_upload_set_job (sl_upload_t *self, const char *ws, const char *id, const char *job,
                       sl_upload_err_t *err);

//  A writer appending one request body to an upload (tus PATCH).
typedef struct _sl_upload_writer_t sl_upload_writer_t;

//  Open upload id for appending at offset. Refused with 404 (unknown), 409
//  (offset is not the bytes held, or the upload is complete), 423 (another
//  writer holds it). The writer holds the upload's lock until closed.
sl_upload_writer_t *sl_upload_writer_open (sl_upload_t *self, const char *ws, const char *id,
                                           uint64_t offset, sl_upload_err_t *err);

//  Append size bytes. 0, or -1 with err (413 past the declared size, 500
//  disk); after -1 the writer only waits to be closed.
int sl_upload_writer_write (sl_upload_writer_t *w, const void *data, size_t size, sl_upload_err_t *err);

//  Bytes the upload will hold if the writer is closed with keep now.
uint64_t sl_upload_writer_offset (sl_upload_writer_t *w);

//  Close: keep records what was written (if every write succeeded), else
//  the bytes are cut off. *bytes (optional) gets the bytes held after. 0,
//  or -1 with err if the record cannot be written. Releases the lock and
//  nulls *w_p; safe on NULL.
int sl_upload_writer_close (sl_upload_writer_t **w_p, bool keep, uint64_t *bytes, sl_upload_err_t *err);

//  Apply part seq (0, 1, 2...) of upload id. *received gets the bytes
//  held after it, *duplicate whether it had been applied already. 0, or -1
//  with err; a part that breaks a size limit also discards the upload.
int sl_upload_part (sl_upload_t *self, const char *ws, const char *id, int64_t seq,
                    const void *data, size_t size, uint64_t *received, bool *duplicate,
                    sl_upload_err_t *err);

//  Finish upload id: check the size (if one was declared) and the caller's
//  sha256 (if not NULL), publish the bytes as a blob, fill done. Retrying a
//  commit that succeeded returns the same result. 0, or -1 with err (a hash
//  or size mismatch discards the upload).
int sl_upload_commit (sl_upload_t *self, const char *ws, const char *id, const char *sha256,
                      sl_upload_done_t *done, sl_upload_err_t *err);

//  One-shot upload of a small document (at most SL_UPLOAD_PART_MAX bytes,
//  the common case): checked against sha256 (if not NULL) before anything
//  is written, then stored like an edge upload, with no record and no lock.
//  0 with done filled, or -1 with err.
int sl_upload_put (sl_upload_t *self, const void *data, size_t size, const char *sha256,
                   const char *filename, const char *mime, sl_upload_done_t *done, sl_upload_err_t *err);

//  Discard upload id and its bytes. 0, or -1 with err (404 if unknown).
int sl_upload_abort (sl_upload_t *self, const char *ws, const char *id, sl_upload_err_t *err);

//  Remove uploads untouched for idle_s or longer, and stray part files
//  (from a process that died inside begin). Returns how many were removed.
//  *bytes (optional) is increased by the bytes the removed uploads held.
int sl_upload_sweep (sl_upload_t *self, uint64_t *bytes);

//  Uploads currently open (not committed) in the folder.
int sl_upload_open_count (sl_upload_t *self);

void sl_upload_test (bool verbose);

#endif
