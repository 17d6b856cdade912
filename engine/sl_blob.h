/*  sl_blob: the blob area, a content-addressed directory shared by actors.

    Every document a job touches is stored once, named by the sha256 of its
    bytes, so messages between actors carry a 64-char hash instead of the
    document, a redelivered fetch stores nothing new, and two jobs that ingest
    the same file share one copy. Layout under the root:

        <root>/blobs/<sha[0..1]>/<sha256hex>   immutable blobs
        <root>/tmp/<random>.part               blobs being written
        <root>/tmp/<sha256>.<random>.gc        a blob the collector holds
                                               aside while it re-checks it
        <root>/jobs/<job_id>/                  per-job scratch artifacts

    Bytes are streamed into a writer (hashed as they are written, never held
    whole in RAM), fsync'd, then published with one atomic link(2), so a
    reader never sees a half-written blob and a crash leaves only a stale
    temp file (see sl_blob_tmp_sweep).

    Ownership: sl_blob_new returns an object the caller owns and destroys.
    Thread-safety: after construction an sl_blob_t is read-only, and every
    operation is built from atomic file-system calls, so several actor threads
    (and processes) may share one root. A writer belongs to one thread.
    Hashes and job ids arriving from the network are validated here before
    they touch a path; invalid ones make the call return -1.

    Collection: blobs are shared and immutable, so nobody deletes one in
    passing. A collector (sl_janitor) calls sl_blob_collect for a blob that
    no document or unfinished job names; that has to be safe against a
    concurrent upload of the same bytes and a concurrent adoption of the
    blob by a new job. The rule that makes it safe: whoever starts to rely
    on an existing blob refreshes its mtime first (a dedupe commit does,
    sl_blob_touch does) and treats a failed refresh as "the blob is gone".
    sl_blob_collect moves the blob out of its name with one rename(2), so
    from then on nobody can refresh or open it, then checks that its mtime
    is still the one it judged old and asks the caller again whether
    anything refers to it. Either check failing puts it back; otherwise it
    is deleted. A touch before the rename is seen by the mtime check; a
    touch after it fails, and the would-be adopter answers "no such blob";
    an upload of the same bytes after it simply publishes a new copy.
*/
#ifndef SL_BLOB_H_INCLUDED
#define SL_BLOB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_blob_s sl_blob_t;
typedef struct sl_blob_writer_s sl_blob_writer_t;

//  Open the blob area at root, creating root/blobs, root/tmp and root/jobs.
//  Returns NULL if the directories cannot be created. Caller owns the result
//  and must destroy it after every writer made from it is finished.
sl_blob_t *sl_blob_new (const char *root);

//  Destroy the handle (files stay on disk); nulls *self_p; safe on NULL.
void sl_blob_destroy (sl_blob_t **self_p);

//  The root directory this area was opened with. Not owned by the caller.
const char *sl_blob_root (sl_blob_t *self);

//  True if s is exactly 64 lowercase hex chars, the only form of hash this
//  module turns into a path.
bool sl_blob_sha_valid (const char *s);

//  Start a new blob in a fresh temp file. max_bytes caps its size (0 = no
//  cap). Returns NULL if the temp file cannot be created. The caller must
//  finish the writer with commit or abort.
sl_blob_writer_t *sl_blob_writer_new (sl_blob_t *self, size_t max_bytes);

//  Append bytes. Returns 0, or -1 if the total would exceed max_bytes or the
//  disk write failed; after a -1 the writer refuses every further write and
//  can only be aborted (commit will fail and clean up).
int sl_blob_writer_write (sl_blob_writer_t *self, const void *data, size_t size);

//  Bytes accepted so far.
size_t sl_blob_writer_size (sl_blob_writer_t *self);

//  True if a write was refused because it would pass max_bytes (as opposed
//  to a disk error), so callers can tell "too large" from "disk full".
bool sl_blob_writer_exceeded (sl_blob_writer_t *self);

//  The errno of the disk write that failed (ENOSPC when the disk is full:
//  see sl_disk_full), or 0 if none did.
int sl_blob_writer_error (sl_blob_writer_t *self);

//  Finish the blob: fsync, publish it atomically at its hash path (if that
//  blob already exists, refresh its mtime and drop the temp file: dedupe)
//  and write its hash and size. Returns 0, or -1 with errno set if the
//  writer had failed or I/O failed (the temp file is removed either way).
//  Always destroys the writer, nulls *self_p.
int sl_blob_writer_commit (sl_blob_writer_t **self_p, char sha256_out [65], size_t *size_out);

//  Discard the blob and remove its temp file; nulls *self_p; safe on NULL.
void sl_blob_writer_abort (sl_blob_writer_t **self_p);

//  Write the path of blob sha256 into buf. Returns 0, or -1 if sha256 is not
//  64 lowercase hex chars or the path does not fit in cap. Does not check
//  that the blob exists.
int sl_blob_path (sl_blob_t *self, const char *sha256, char *buf, size_t cap);

//  True if sha256 is valid and that blob is present.
bool sl_blob_exists (sl_blob_t *self, const char *sha256);

//  Delete a blob. Returns 0, or -1 if sha256 is invalid or the blob is absent.
//  Blobs are shared between jobs by design; only a collector that knows no
//  job still refers to the hash should call this, and sl_blob_collect is
//  the safe way to do it while uploads run.
int sl_blob_remove (sl_blob_t *self, const char *sha256);

//  Refresh blob sha256's mtime: call it when you start to rely on a blob
//  you did not just write (a job adopting an upload). Returns 0, or -1 if
//  sha256 is invalid or the blob is absent: then treat it as gone, it may
//  have been collected a moment ago (see "Collection" above).
int sl_blob_touch (sl_blob_t *self, const char *sha256);

//  Asked by sl_blob_collect: 1 if nothing needs blob sha256 any more, 0 if
//  something does, -1 if that cannot be told now (the store is down).
typedef int (sl_blob_unused_fn) (void *arg, const char *sha256);

//  Delete blob sha256 if it was last modified before cutoff_ms (wall clock,
//  ms since the epoch) and unused (arg) says 1, both before and after the
//  blob is moved aside (see "Collection" above). Returns 1 if deleted (with
//  its size in *bytes_out, which may be NULL), 0 if kept (young, in use,
//  touched meanwhile, absent, not a regular file), or -1 if unused said -1
//  or a file operation failed (the blob is back in place).
int sl_blob_collect (sl_blob_t *self, const char *sha256, int64_t cutoff_ms,
                     sl_blob_unused_fn *unused, void *arg, uint64_t *bytes_out);

//  Put back every blob a collector moved aside more than min_age_s seconds
//  ago and never finished with (it died between the rename and the
//  delete), so the next collection judges it afresh. Returns how many.
int sl_blob_collect_recover (sl_blob_t *self, int64_t min_age_s);

//  Call fn for every blob: its hash, size and last modification (ms since
//  the epoch). fn returns 0 to go on, non-zero to stop (that value is then
//  returned). Files that are not well-named blobs are skipped. fn may
//  collect the blob it is given. Returns 0 when every blob was seen.
typedef int (sl_blob_each_fn) (void *arg, const char *sha256, uint64_t size, int64_t mtime_ms);
int sl_blob_each (sl_blob_t *self, sl_blob_each_fn *fn, void *arg);

//  Stream-copy the regular file at path into the area (follows symlinks:
//  path policy is the caller's). Refuses FIFOs, devices and directories, and
//  files larger than max_bytes (0 = no cap). Returns 0 with hash and size,
//  or -1.
int sl_blob_import_file (sl_blob_t *self, const char *path, size_t max_bytes,
                         char sha256_out [65], size_t *size_out);

//  Create (if needed) the job's artifact folder <root>/jobs/<job_id> and
//  write its path into buf. Returns 0, or -1 if job_id is not a valid token
//  (sl_token_valid), the path does not fit, or mkdir fails.
int sl_blob_job_dir (sl_blob_t *self, const char *job_id, char *buf, size_t cap);

//  Recursively remove the job's artifact folder (never follows symlinks out
//  of it). Returns 0 (also if it did not exist), or -1 if job_id is invalid
//  or something could not be removed.
int sl_blob_job_remove (sl_blob_t *self, const char *job_id);

//  The same, adding what went to *bytes and *files (either may be NULL):
//  the size of the regular files removed and the number of entries.
int sl_blob_job_reclaim (sl_blob_t *self, const char *job_id, uint64_t *bytes, uint64_t *files);

//  Call fn for every job folder: its job id and the folder's last
//  modification (ms since the epoch). Entries whose name is not a valid job
//  id are skipped. fn returns 0 to go on, non-zero to stop (returned);
//  fn may remove the folder it is given. Returns 0 when all were seen.
typedef int (sl_blob_job_fn) (void *arg, const char *job_id, int64_t mtime_ms);
int sl_blob_job_each (sl_blob_t *self, sl_blob_job_fn *fn, void *arg);

//  Remove temp files older than min_age_s seconds, the leftovers of a
//  process that died mid-write. Call at startup with an age well above the
//  longest download. Returns the number of files removed.
int sl_blob_tmp_sweep (sl_blob_t *self, int64_t min_age_s);

//  The same, adding the bytes removed to *bytes (may be NULL).
int sl_blob_tmp_reclaim (sl_blob_t *self, int64_t min_age_s, uint64_t *bytes);

void sl_blob_test (bool verbose);

#endif
