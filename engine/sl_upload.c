/*  sl_upload: chunked uploads kept in the blob area. See sl_upload.h for
    the layout and why the state lives on disk rather than in a process.

    Lock discipline: one flock(LOCK_EX) on the upload's .meta file covers
    both files of the upload. Locks are per open file description, so two
    threads of one process exclude each other exactly like two processes.
    Removal (abort, expiry, size violation) happens under that lock, and
    whoever acquires the lock next re-checks that the path still names the
    inode it locked before believing the record.
*/
#include "sl_upload.h"
#include "sl_upload_internal.h"
#include "sl_mp.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_META_MAX   8192           //  a record is a few hundred bytes

struct _sl_upload_t {
    sl_blob_t *blobs;               //  borrowed
    char tmp [SL_UPLOAD_PATH_MAX - 100];    //  the folder; room for "/upload-<id>.meta" in a path
    uint64_t max_bytes;
    int64_t idle_s;
    int max_open;
};

//  The record kept in <id>.meta.
typedef struct {
    char ws [65];
    int64_t size;                   //  declared total, -1 unknown
    char filename [256];
    char mime [128];
    int64_t next;                   //  seq expected next
    uint64_t bytes;                 //  valid bytes in .part
    bool committed;
    char blob [SL_SHA256_HEX];
    int64_t created;
    char attrs [SL_UPLOAD_ATTRS_MAX];
    char job [SL_ID_LEN + 1];
} rec_t;

//  An upload whose .meta we hold locked.
typedef struct {
    int fd;
    char meta [SL_UPLOAD_PATH_MAX];
    char part [SL_UPLOAD_PATH_MAX];
    rec_t rec;
} locked_t;

static int
s_fail (sl_upload_err_t *err, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (sl_upload_err_t *err, int status, const char *fmt, ...)
{
    err->status = status;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, args);
    va_end (args);
    return -1;
}

//  Ids are ours (sl_id_new): exactly 32 lowercase hex. Anything else from
//  the network never becomes part of a path.
static bool
s_id_valid (const char *id)
{
    if (!id)
        return false;
    size_t n = 0;
    for (; id [n]; n++)
        if (n >= SL_ID_LEN || !((id [n] >= '0' && id [n] <= '9') || (id [n] >= 'a' && id [n] <= 'f')))
            return false;
    return n == SL_ID_LEN;
}

void
sl_upload_paths (sl_upload_t *self, const char *id, char *meta, char *part)
{
    snprintf (meta, SL_UPLOAD_PATH_MAX, "%s/" SL_UPLOAD_PREFIX "%s.meta", self->tmp, id);
    snprintf (part, SL_UPLOAD_PATH_MAX, "%s/" SL_UPLOAD_PREFIX "%s.part", self->tmp, id);
}

sl_upload_t *
sl_upload_new (sl_blob_t *blobs, const char *folder, uint64_t max_bytes, int64_t idle_s, int max_open)
{
    assert (blobs && folder);
    const char *root = sl_blob_root (blobs);
    if (strlen (root) + strlen (folder) > SL_UPLOAD_PATH_MAX - 128 || !*folder || strchr (folder, '/')
    ||  strcmp (folder, "..") == 0 || strcmp (folder, ".") == 0)
        return NULL;
    sl_upload_t *self = calloc (1, sizeof *self);
    assert (self);
    self->blobs = blobs;
    snprintf (self->tmp, sizeof self->tmp, "%s/%s", root, folder);
    self->max_bytes = max_bytes;
    self->idle_s = idle_s > 0 ? idle_s : 60;
    self->max_open = max_open;
    if (sl_mkdirs (self->tmp, 0755) != 0)
        sl_upload_destroy (&self);
    return self;
}

void
sl_upload_destroy (sl_upload_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Records

static int
s_write_all (int fd, const void *data, size_t size, off_t offset)
{
    const char *p = data;
    while (size) {
        ssize_t n = pwrite (fd, p, size, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t) n;
        offset += n;
    }
    return 0;
}

//  Write the record in place (the file is the lock: it must keep its inode).
static int
s_save (locked_t *l)
{
    rec_t *r = &l->rec;
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 12);
    sl_mpw_kv_int (&w, "v", 1);
    sl_mpw_kv_str (&w, "ws", r->ws);
    sl_mpw_kv_int (&w, "size", r->size);
    sl_mpw_kv_str (&w, "filename", r->filename);
    sl_mpw_kv_str (&w, "mime", r->mime);
    sl_mpw_kv_int (&w, "next", r->next);
    sl_mpw_kv_int (&w, "bytes", (int64_t) r->bytes);
    sl_mpw_kv_bool (&w, "committed", r->committed);
    sl_mpw_kv_str (&w, "blob", r->blob);
    sl_mpw_kv_int (&w, "created", r->created);
    sl_mpw_kv_str (&w, "attrs", r->attrs);
    sl_mpw_kv_str (&w, "job", r->job);
    int rc = s_write_all (l->fd, w.buf.data, w.buf.size, 0) == 0
          && ftruncate (l->fd, (off_t) w.buf.size) == 0 ? 0 : -1;
    sl_mpw_reset (&w);
    //  Refresh mtime explicitly: it is the idle clock, and a rewrite of
    //  identical bytes must still count as activity
    if (rc == 0)
        futimens (l->fd, NULL);
    return rc;
}

static int
s_load (locked_t *l)
{
    char buf [S_META_MAX];
    ssize_t n;
    do
        n = pread (l->fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0 || n == (ssize_t) sizeof buf)
        return -1;
    char why [128];
    sl_mp_t *mp = sl_mp_decode (buf, (size_t) n, why, sizeof why);
    if (!mp)
        return -1;
    const msgpack_object *root = sl_mp_root (mp);
    rec_t *r = &l->rec;
    memset (r, 0, sizeof *r);
    int64_t bytes = 0;
    int rc = sl_mp_get_str (root, "ws", r->ws, sizeof r->ws)
          || sl_mp_get_int (root, "size", &r->size)
          || sl_mp_get_str (root, "filename", r->filename, sizeof r->filename)
          || sl_mp_get_str (root, "mime", r->mime, sizeof r->mime)
          || sl_mp_get_int (root, "next", &r->next)
          || sl_mp_get_int (root, "bytes", &bytes)
          || sl_mp_bool (sl_mp_get (root, "committed"), &r->committed)
          || sl_mp_get_str (root, "blob", r->blob, sizeof r->blob)
          || sl_mp_get_int (root, "created", &r->created) ? -1 : 0;
    r->bytes = bytes > 0 ? (uint64_t) bytes : 0;
    //  Absent from records written before tus: none
    if (rc == 0 && sl_mp_get (root, "attrs"))
        rc = sl_mp_get_str (root, "attrs", r->attrs, sizeof r->attrs);
    if (rc == 0 && sl_mp_get (root, "job"))
        rc = sl_mp_get_str (root, "job", r->job, sizeof r->job);
    sl_mp_destroy (&mp);
    return rc;
}

static void
s_unlock (locked_t *l)
{
    if (l->fd >= 0)
        close (l->fd);          //  releases the flock
    l->fd = -1;
}

//  Remove both files of a locked upload, then let go of it.
static void
s_remove (locked_t *l)
{
    unlink (l->part);
    unlink (l->meta);
    s_unlock (l);
}

//  Open and lock upload id of workspace ws. 0, or -1 with err (404 for
//  anything unknown, including another workspace's id).
//  how is the flock operation: LOCK_EX waits; with LOCK_NB a held lock
//  answers 423 at once.
static int
s_lock_how (sl_upload_t *self, const char *ws, const char *id, int how, locked_t *l, sl_upload_err_t *err)
{
    memset (l, 0, sizeof *l);
    l->fd = -1;
    if (!s_id_valid (id))
        return s_fail (err, 404, "no upload '%.40s' (upload ids are 32 hex characters)", id ? id : "");
    sl_upload_paths (self, id, l->meta, l->part);
#define S_GONE "no upload %s: unknown, aborted, or expired after %llds idle"
    l->fd = open (l->meta, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (l->fd < 0)
        return s_fail (err, 404, S_GONE, id, (long long) self->idle_s);
    int rc;
    do
        rc = flock (l->fd, how);
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno == EWOULDBLOCK) {
        s_unlock (l);
        return s_fail (err, 423, "upload %s is being written by another request right now; retry in a moment",
                       id);
    }
    struct stat held, now;
    if (rc < 0 || fstat (l->fd, &held) != 0 || stat (l->meta, &now) != 0
    ||  held.st_ino != now.st_ino || held.st_dev != now.st_dev) {
        s_unlock (l);           //  removed while we waited for the lock
        return s_fail (err, 404, S_GONE, id, (long long) self->idle_s);
    }
    if (s_load (l) != 0) {
        s_unlock (l);
        return s_fail (err, 500, "upload %s has an unreadable record", id);
    }
    if (strcmp (l->rec.ws, ws) != 0) {
        s_unlock (l);
        return s_fail (err, 404, S_GONE, id, (long long) self->idle_s);
    }
    return 0;
}

static int
s_lock (sl_upload_t *self, const char *ws, const char *id, locked_t *l, sl_upload_err_t *err)
{
    return s_lock_how (self, ws, id, LOCK_EX, l, err);
}

//  Count files in tmp named upload-<id><suffix>.
static int
s_count (sl_upload_t *self, const char *suffix)
{
    DIR *dir = opendir (self->tmp);
    if (!dir)
        return 0;
    int count = 0;
    size_t slen = strlen (suffix), plen = strlen (SL_UPLOAD_PREFIX);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name);
        if (len == plen + SL_ID_LEN + slen && strncmp (entry->d_name, SL_UPLOAD_PREFIX, plen) == 0
        &&  strcmp (entry->d_name + len - slen, suffix) == 0)
            count++;
    }
    closedir (dir);
    return count;
}

int
sl_upload_open_count (sl_upload_t *self)
{
    assert (self);
    return s_count (self, ".part");
}

//  A safe base name: no directories, no control characters, at most 200
//  bytes. Intake only shows it (in the job's source); still, keep it tame.
static void
s_clean_name (const char *name, char *out, size_t cap)
{
    const char *base = name ? strrchr (name, '/') : NULL;
    base = base ? base + 1 : (name ? name : "");
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < cap && n < 200; p++)
        if ((unsigned char) *p >= 0x20 && *p != 0x7f && *p != '\\')
            out [n++] = *p;
    out [n] = 0;
}

//  --------------------------------------------------------------------------
//  Operations

int
sl_upload_begin (sl_upload_t *self, const char *ws, int64_t size, const char *filename,
                 const char *mime, const char *attrs, char id [SL_ID_LEN + 1], sl_upload_err_t *err)
{
    assert (self && ws && id && err);
    memset (err, 0, sizeof *err);
    if (!sl_token_valid (ws))
        return s_fail (err, 400, "invalid workspace");
    if (size < -1)
        return s_fail (err, 400, "size must be the byte count (or omitted when unknown)");
    if (self->max_bytes && size > 0 && (uint64_t) size > self->max_bytes)
        return s_fail (err, 413, "upload of %lld bytes exceeds upload.max_bytes (%llu bytes)",
                       (long long) size, (unsigned long long) self->max_bytes);
    if (mime && strlen (mime) >= sizeof ((rec_t *) 0)->mime)
        return s_fail (err, 400, "mime type too long");
    if (attrs && strlen (attrs) >= SL_UPLOAD_ATTRS_MAX)
        return s_fail (err, 400, "attributes of an upload must be shorter than %d bytes of JSON",
                       SL_UPLOAD_ATTRS_MAX);
    if (self->max_open > 0 && sl_upload_open_count (self) >= self->max_open)
        return s_fail (err, 429, "%d uploads are open (upload.max_open): retry later", self->max_open);
    locked_t l;
    memset (&l, 0, sizeof l);
    sl_id_new (id);
    sl_upload_paths (self, id, l.meta, l.part);
    //  The part file first: a death between the two leaves only a stray
    //  part, which the sweep removes; never a record without its bytes
    int fd = open (l.part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return s_fail (err, 500, "cannot create an upload file in %s: %s", self->tmp, strerror (errno));
    close (fd);
    l.fd = open (l.meta, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (l.fd < 0) {
        unlink (l.part);
        return s_fail (err, 500, "cannot create an upload record in %s: %s", self->tmp, strerror (errno));
    }
    flock (l.fd, LOCK_EX);
    snprintf (l.rec.ws, sizeof l.rec.ws, "%s", ws);
    l.rec.size = size;
    s_clean_name (filename, l.rec.filename, sizeof l.rec.filename);
    snprintf (l.rec.mime, sizeof l.rec.mime, "%s", mime ? mime : "");
    snprintf (l.rec.attrs, sizeof l.rec.attrs, "%s", attrs ? attrs : "");
    l.rec.created = sl_now_ms ();
    if (s_save (&l) != 0) {
        s_remove (&l);
        return s_fail (err, 500, "cannot write the upload record: %s", strerror (errno));
    }
    s_unlock (&l);
    return 0;
}

int
sl_upload_part (sl_upload_t *self, const char *ws, const char *id, int64_t seq,
                const void *data, size_t size, uint64_t *received, bool *duplicate,
                sl_upload_err_t *err)
{
    assert (self && ws && err && received && duplicate);
    assert (data || size == 0);
    memset (err, 0, sizeof *err);
    *duplicate = false;
    *received = 0;
    if (size > SL_UPLOAD_PART_MAX)
        return s_fail (err, 413, "part of %zu bytes exceeds the %u-byte part limit", size, SL_UPLOAD_PART_MAX);
    if (seq < 0)
        return s_fail (err, 400, "seq must be >= 0");
    locked_t l;
    if (s_lock (self, ws, id, &l, err))
        return -1;
    rec_t *r = &l.rec;
    if (r->committed) {
        s_unlock (&l);
        return s_fail (err, 409, "upload %s is already committed", id);
    }
    if (seq < r->next) {
        //  A retry of a part we applied (its answer was lost): ack again
        *duplicate = true;
        *received = r->bytes;
        s_unlock (&l);
        return 0;
    }
    if (seq > r->next) {
        s_unlock (&l);
        return s_fail (err, 409, "part %lld of upload %s is out of order: expected part %lld",
                       (long long) seq, id, (long long) r->next);
    }
    if (self->max_bytes && r->bytes + size > self->max_bytes) {
        s_remove (&l);
        return s_fail (err, 413, "upload %s passed upload.max_bytes (%llu bytes) and was discarded", id,
                       (unsigned long long) self->max_bytes);
    }
    if (r->size >= 0 && r->bytes + size > (uint64_t) r->size) {
        s_remove (&l);
        return s_fail (err, 413, "upload %s sent more than its declared %lld bytes and was discarded", id,
                       (long long) r->size);
    }
    int fd = open (l.part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    //  Truncate first: bytes past the record are from a part whose
    //  writer died before recording it
    bool ok = fd >= 0 && ftruncate (fd, (off_t) r->bytes) == 0
           && s_write_all (fd, data, size, (off_t) r->bytes) == 0;
    int saved_errno = errno;
    if (fd >= 0 && close (fd) != 0)
        ok = false;
    if (!ok) {
        s_unlock (&l);
        return s_fail (err, 500, "cannot write part %lld of upload %s: %s", (long long) seq, id,
                       strerror (saved_errno));
    }
    r->next = seq + 1;
    r->bytes += size;
    if (s_save (&l) != 0) {
        s_unlock (&l);
        return s_fail (err, 500, "cannot record part %lld of upload %s: %s", (long long) seq, id,
                       strerror (errno));
    }
    *received = r->bytes;
    s_unlock (&l);
    return 0;
}

static void
s_fsync_dir (const char *path)
{
    int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

//  Trim the part file to the recorded bytes, fsync and hash it. 0 or -1.
static int
s_hash (locked_t *l, char sha [SL_SHA256_HEX], sl_upload_err_t *err)
{
    //  The part file may be longer than recorded (a writer died mid-part
    //  after extending it): the blob must be exactly the recorded bytes
    if (truncate (l->part, (off_t) l->rec.bytes) != 0)
        return s_fail (err, 500, "upload bytes are missing: %s", strerror (errno));
    int fd = open (l->part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return s_fail (err, 500, "upload bytes are missing: %s", strerror (errno));
    sl_sha256_t *hash = sl_sha256_new ();
    char *buf = malloc (1 << 16);
    assert (buf);
    uint64_t total = 0;
    int rc = 0;
    while (total < l->rec.bytes) {
        size_t want = l->rec.bytes - total < (1 << 16) ? (size_t) (l->rec.bytes - total) : (1 << 16);
        ssize_t n = read (fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        sl_sha256_update (hash, buf, (size_t) n);
        total += (uint64_t) n;
    }
    free (buf);
    sl_sha256_final (&hash, sha);
    if (rc == 0 && fsync (fd) != 0)
        rc = -1;
    close (fd);
    if (rc != 0)
        return s_fail (err, 500, "cannot read back the upload: %s", strerror (errno));
    return 0;
}

//  Publish the (hashed, fsync'd) part file at its blob path. 0 or -1.
static int
s_publish (sl_upload_t *self, locked_t *l, const char *sha, sl_upload_err_t *err)
{
    char path [SL_UPLOAD_PATH_MAX], shard [SL_UPLOAD_PATH_MAX];
    if (sl_blob_path (self->blobs, sha, path, sizeof path) != 0)
        return s_fail (err, 500, "blob path too long");
    snprintf (shard, sizeof shard, "%s", path);
    char *slash = strrchr (shard, '/');
    assert (slash);
    *slash = 0;
    if (mkdir (shard, 0755) != 0 && errno != EEXIST)
        return s_fail (err, 500, "cannot create %s: %s", shard, strerror (errno));
    if (link (l->part, path) == 0)
        s_fsync_dir (shard);
    else
    if (errno == EEXIST)
        utimensat (AT_FDCWD, path, NULL, 0);    //  dedupe; tell an age-based collector it is in use
    else
    if (rename (l->part, path) == 0)
        s_fsync_dir (shard);
    else
        return s_fail (err, 500, "cannot publish the blob: %s", strerror (errno));
    return 0;
}

int
sl_upload_commit (sl_upload_t *self, const char *ws, const char *id, const char *sha256,
                  sl_upload_done_t *done, sl_upload_err_t *err)
{
    assert (self && ws && done && err);
    memset (err, 0, sizeof *err);
    memset (done, 0, sizeof *done);
    if (sha256 && *sha256 && !sl_blob_sha_valid (sha256))
        return s_fail (err, 400, "sha256 must be 64 lowercase hex characters");
    locked_t l;
    if (s_lock (self, ws, id, &l, err))
        return -1;
    rec_t *r = &l.rec;
    if (!r->committed) {
        if (r->size >= 0 && r->bytes != (uint64_t) r->size) {
            s_unlock (&l);
            return s_fail (err, 409, "upload %s is incomplete: %llu of %lld bytes received", id,
                           (unsigned long long) r->bytes, (long long) r->size);
        }
        if (r->bytes == 0) {
            s_remove (&l);
            return s_fail (err, 400, "upload %s is empty: there is nothing to ingest", id);
        }
        char sha [SL_SHA256_HEX];
        if (s_hash (&l, sha, err)) {
            s_unlock (&l);
            return -1;
        }
        if (sha256 && *sha256 && strcmp (sha, sha256) != 0) {
            //  Bytes were lost or changed on the way: never publish them
            s_remove (&l);
            return s_fail (err, 400, "upload %s does not match the sha256 given: received bytes hash to %s",
                           id, sha);
        }
        if (s_publish (self, &l, sha, err)) {
            s_unlock (&l);
            return -1;
        }
        r->committed = true;
        snprintf (r->blob, sizeof r->blob, "%s", sha);
        if (s_save (&l) != 0) {
            s_unlock (&l);
            return s_fail (err, 500, "cannot record the commit of upload %s", id);
        }
        unlink (l.part);
    }
    else
    if (sha256 && *sha256 && strcmp (r->blob, sha256) != 0) {
        s_unlock (&l);
        return s_fail (err, 400, "upload %s was committed with sha256 %s, not the one given", id, r->blob);
    }
    snprintf (done->blob, sizeof done->blob, "%s", r->blob);
    done->size = r->bytes;
    snprintf (done->filename, sizeof done->filename, "%s", r->filename);
    snprintf (done->mime, sizeof done->mime, "%s", r->mime);
    s_unlock (&l);
    return 0;
}

int
sl_upload_put (sl_upload_t *self, const void *data, size_t size, const char *sha256,
               const char *filename, const char *mime, sl_upload_done_t *done, sl_upload_err_t *err)
{
    assert (self && done && err);
    assert (data || size == 0);
    memset (err, 0, sizeof *err);
    memset (done, 0, sizeof *done);
    if (size == 0)
        return s_fail (err, 400, "the document is empty: there is nothing to ingest");
    if (size > SL_UPLOAD_PART_MAX)
        return s_fail (err, 413, "put of %zu bytes exceeds %u bytes: use begin/part/commit", size,
                       SL_UPLOAD_PART_MAX);
    if (self->max_bytes && size > self->max_bytes)
        return s_fail (err, 413, "upload of %zu bytes exceeds upload.max_bytes (%llu bytes)", size,
                       (unsigned long long) self->max_bytes);
    if (sha256 && *sha256 && !sl_blob_sha_valid (sha256))
        return s_fail (err, 400, "sha256 must be 64 lowercase hex characters");
    if (mime && strlen (mime) >= sizeof done->mime)
        return s_fail (err, 400, "mime type too long");
    char sha [SL_SHA256_HEX];
    sl_sha256_hex (data, size, sha);
    if (sha256 && *sha256 && strcmp (sha, sha256) != 0)
        return s_fail (err, 400, "the bytes do not match the sha256 given: they hash to %s", sha);
    sl_blob_writer_t *writer = sl_blob_writer_new (self->blobs, 0);
    size_t stored;
    if (!writer || sl_blob_writer_write (writer, data, size)
    ||  sl_blob_writer_commit (&writer, done->blob, &stored)) {
        sl_blob_writer_abort (&writer);
        return s_fail (err, 500, "cannot store the upload in the blob area: %s", strerror (errno));
    }
    done->size = stored;
    s_clean_name (filename, done->filename, sizeof done->filename);
    snprintf (done->mime, sizeof done->mime, "%s", mime ? mime : "");
    return 0;
}

int
sl_upload_abort (sl_upload_t *self, const char *ws, const char *id, sl_upload_err_t *err)
{
    assert (self && ws && err);
    memset (err, 0, sizeof *err);
    locked_t l;
    if (s_lock (self, ws, id, &l, err))
        return -1;
    s_remove (&l);
    return 0;
}

int
sl_upload_sweep (sl_upload_t *self, uint64_t *bytes)
{
    assert (self);
    DIR *dir = opendir (self->tmp);
    if (!dir)
        return 0;
    time_t now = time (NULL);
    int removed = 0;
    size_t plen = strlen (SL_UPLOAD_PREFIX);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        size_t len = strlen (name);
        if (len != plen + SL_ID_LEN + 5 || strncmp (name, SL_UPLOAD_PREFIX, plen) != 0)
            continue;
        char id [SL_ID_LEN + 1];
        memcpy (id, name + plen, SL_ID_LEN);
        id [SL_ID_LEN] = 0;
        if (!s_id_valid (id))
            continue;
        locked_t l;
        memset (&l, 0, sizeof l);
        sl_upload_paths (self, id, l.meta, l.part);
        struct stat st;
        if (fstatat (dirfd (dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG (st.st_mode)
        ||  (int64_t) (now - st.st_mtime) < self->idle_s)
            continue;
        if (strcmp (name + len - 5, ".part") == 0) {
            //  A part without its record: begin died half-way, or a
            //  removal was interrupted. Old enough to be nobody's.
            if (access (l.meta, F_OK) != 0 && errno == ENOENT && unlinkat (dirfd (dir), name, 0) == 0) {
                removed++;
                if (bytes)
                    *bytes += (uint64_t) st.st_size;
            }
            continue;
        }
        if (strcmp (name + len - 5, ".meta") != 0)
            continue;
        l.fd = open (l.meta, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (l.fd < 0)
            continue;
        //  Never wait: an upload whose lock is held is active by definition
        struct stat held, again;
        if (flock (l.fd, LOCK_EX | LOCK_NB) != 0 || fstat (l.fd, &held) != 0 || stat (l.meta, &again) != 0
        ||  held.st_ino != again.st_ino || (int64_t) (now - held.st_mtime) < self->idle_s) {
            s_unlock (&l);
            continue;
        }
        struct stat part;
        if (bytes && stat (l.part, &part) == 0)
            *bytes += (uint64_t) part.st_size;
        s_remove (&l);
        removed++;
    }
    closedir (dir);
    return removed;
}

//  --------------------------------------------------------------------------
//  Offsets (tus)

int
sl_upload_info (sl_upload_t *self, const char *ws, const char *id, sl_upload_info_t *info,
                sl_upload_err_t *err)
{
    assert (self && ws && info && err);
    memset (err, 0, sizeof *err);
    memset (info, 0, sizeof *info);
    locked_t l;
    if (s_lock_how (self, ws, id, LOCK_SH | LOCK_NB, &l, err))
        return -1;
    rec_t *r = &l.rec;
    struct stat st;
    int64_t touched = fstat (l.fd, &st) == 0 ? (int64_t) st.st_mtime * 1000 : sl_now_ms ();
    info->size = r->size;
    info->bytes = r->bytes;
    info->committed = r->committed;
    snprintf (info->blob, sizeof info->blob, "%s", r->blob);
    snprintf (info->filename, sizeof info->filename, "%s", r->filename);
    snprintf (info->mime, sizeof info->mime, "%s", r->mime);
    snprintf (info->attrs, sizeof info->attrs, "%s", r->attrs);
    snprintf (info->job, sizeof info->job, "%s", r->job);
    info->expires_ms = touched + self->idle_s * 1000;
    s_unlock (&l);
    return 0;
}

int
sl_upload_set_job (sl_upload_t *self, const char *ws, const char *id, const char *job, sl_upload_err_t *err)
{
    assert (self && ws && job && err);
    memset (err, 0, sizeof *err);
    locked_t l;
    if (s_lock (self, ws, id, &l, err))
        return -1;
    snprintf (l.rec.job, sizeof l.rec.job, "%s", job);
    int rc = s_save (&l) == 0 ? 0 : s_fail (err, 500, "cannot record the job of upload %s: %s", id,
                                            strerror (errno));
    s_unlock (&l);
    return rc;
}

struct _sl_upload_writer_t {
    sl_upload_t *owner;
    locked_t l;
    int part_fd;
    uint64_t start;                 //  bytes held when the writer opened
    uint64_t written;
    bool failed;
};

sl_upload_writer_t *
sl_upload_writer_open (sl_upload_t *self, const char *ws, const char *id, uint64_t offset,
                       sl_upload_err_t *err)
{
    assert (self && ws && err);
    memset (err, 0, sizeof *err);
    sl_upload_writer_t *w = calloc (1, sizeof *w);
    assert (w);
    w->owner = self;
    w->part_fd = -1;
    if (s_lock_how (self, ws, id, LOCK_EX | LOCK_NB, &w->l, err)) {
        free (w);
        return NULL;
    }
    rec_t *r = &w->l.rec;
    if (r->committed || (r->size >= 0 && r->bytes == (uint64_t) r->size && offset == r->bytes))
        s_fail (err, 409, "upload %s is complete (%llu bytes): there is nothing more to send", id,
                (unsigned long long) r->bytes);
    else
    if (offset != r->bytes)
        s_fail (err, 409, "Upload-Offset %llu does not match upload %s, which holds %llu bytes: ask with HEAD "
                "and resume from there", (unsigned long long) offset, id, (unsigned long long) r->bytes);
    else {
        w->part_fd = open (w->l.part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        //  Cut what a writer that died left past the record
        if (w->part_fd < 0 || ftruncate (w->part_fd, (off_t) r->bytes) != 0)
            s_fail (err, 500, "cannot open the bytes of upload %s: %s", id, strerror (errno));
    }
    if (err->status) {
        if (w->part_fd >= 0)
            close (w->part_fd);
        s_unlock (&w->l);
        free (w);
        return NULL;
    }
    w->start = r->bytes;
    return w;
}

int
sl_upload_writer_write (sl_upload_writer_t *w, const void *data, size_t size, sl_upload_err_t *err)
{
    assert (w && err);
    assert (data || size == 0);
    memset (err, 0, sizeof *err);
    if (w->failed)
        return s_fail (err, 500, "this request already failed");
    rec_t *r = &w->l.rec;
    uint64_t after = w->start + w->written + size;
    if ((r->size >= 0 && after > (uint64_t) r->size) || (w->owner->max_bytes && after > w->owner->max_bytes)) {
        w->failed = true;
        return s_fail (err, 413, "the body goes past the upload's length of %lld bytes", (long long) r->size);
    }
    if (s_write_all (w->part_fd, data, size, (off_t) (w->start + w->written)) != 0) {
        w->failed = true;
        return s_fail (err, errno == ENOSPC || errno == EDQUOT ? 507 : 500, "cannot write the upload: %s",
                       strerror (errno));
    }
    w->written += size;
    return 0;
}

uint64_t
sl_upload_writer_offset (sl_upload_writer_t *w)
{
    assert (w);
    return w->start + w->written;
}

int
sl_upload_writer_close (sl_upload_writer_t **w_p, bool keep, uint64_t *bytes, sl_upload_err_t *err)
{
    assert (w_p && err);
    memset (err, 0, sizeof *err);
    sl_upload_writer_t *w = *w_p;
    if (!w)
        return 0;
    *w_p = NULL;
    rec_t *r = &w->l.rec;
    int rc = 0;
    if (keep && !w->failed && w->written) {
        //  The bytes reach the disk before the record that vouches for them
        if (fdatasync (w->part_fd) != 0)
            rc = s_fail (err, 500, "cannot sync the upload: %s", strerror (errno));
        else {
            r->bytes = w->start + w->written;
            if (s_save (&w->l) != 0) {
                r->bytes = w->start;
                rc = s_fail (err, 500, "cannot record the upload's progress: %s", strerror (errno));
            }
        }
    }
    if (r->bytes == w->start && ftruncate (w->part_fd, (off_t) w->start) != 0 && rc == 0)
        rc = s_fail (err, 500, "cannot cut the upload back: %s", strerror (errno));
    if (rc == 0 && !keep)
        futimens (w->l.fd, NULL);           //  still activity: the client is there
    if (bytes)
        *bytes = r->bytes;
    close (w->part_fd);
    s_unlock (&w->l);
    free (w);
    return rc;
}
