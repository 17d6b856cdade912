/*  sl_blob: content-addressed blob area. See sl_blob.h for the layout and the
    thread-safety argument.

    Publishing uses link(2) rather than rename(2): link fails with EEXIST
    when the blob is already there, which is exactly the dedupe test, and it
    never replaces a file another reader may have open. Blob files are
    immutable by convention (nobody opens them for writing after
    publish), so "same name" means "same bytes".
*/
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define S_PATH_MAX 4096
//  Deepest job-folder nesting sl_blob_job_remove descends; bounds recursion
//  and open descriptors if something odd was written there.
#define S_TREE_DEPTH_MAX 32

struct sl_blob_s {
    char *root;
    char *blobs_dir;
    char *tmp_dir;
    char *jobs_dir;
};

struct sl_blob_writer_s {
    sl_blob_t *blob;
    int fd;
    char tmp_path [S_PATH_MAX];
    sl_sha256_t *sha;
    size_t size;
    size_t max_bytes;
    bool failed;                //  refuses further writes; commit cleans up
    bool exceeded;              //  failed because of max_bytes
    int error;                  //  errno of the failed disk write
};

static char *
s_join (const char *a, const char *b)
{
    size_t len = strlen (a) + 1 + strlen (b) + 1;
    char *s = malloc (len);
    assert (s);
    snprintf (s, len, "%s/%s", a, b);
    return s;
}

sl_blob_t *
sl_blob_new (const char *root)
{
    assert (root);
    //  Leave room for "/blobs/xx/<64 hex>" under the root
    if (!*root || strlen (root) > S_PATH_MAX - 128)
        return NULL;
    sl_blob_t *self = calloc (1, sizeof *self);
    assert (self);
    self->root = strdup (root);
    assert (self->root);
    self->blobs_dir = s_join (root, "blobs");
    self->tmp_dir = s_join (root, "tmp");
    self->jobs_dir = s_join (root, "jobs");
    if (sl_mkdirs (self->blobs_dir, 0755) != 0
    ||  sl_mkdirs (self->tmp_dir, 0755) != 0
    ||  sl_mkdirs (self->jobs_dir, 0755) != 0)
        sl_blob_destroy (&self);
    return self;
}

void
sl_blob_destroy (sl_blob_t **self_p)
{
    assert (self_p);
    sl_blob_t *self = *self_p;
    if (!self)
        return;
    free (self->root);
    free (self->blobs_dir);
    free (self->tmp_dir);
    free (self->jobs_dir);
    free (self);
    *self_p = NULL;
}

const char *
sl_blob_root (sl_blob_t *self)
{
    assert (self);
    return self->root;
}

bool
sl_blob_sha_valid (const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s [n]; n++) {
        if (n >= 64)
            return false;
        char c = s [n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return n == 64;
}

int
sl_blob_path (sl_blob_t *self, const char *sha256, char *buf, size_t cap)
{
    assert (self);
    assert (buf);
    if (!sl_blob_sha_valid (sha256))
        return -1;
    int n = snprintf (buf, cap, "%s/%.2s/%s", self->blobs_dir, sha256, sha256);
    if (n < 0 || (size_t) n >= cap)
        return -1;
    return 0;
}

bool
sl_blob_exists (sl_blob_t *self, const char *sha256)
{
    char path [S_PATH_MAX];
    if (sl_blob_path (self, sha256, path, sizeof path) != 0)
        return false;
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

int
sl_blob_remove (sl_blob_t *self, const char *sha256)
{
    char path [S_PATH_MAX];
    if (sl_blob_path (self, sha256, path, sizeof path) != 0)
        return -1;
    return unlink (path) == 0 ? 0 : -1;
}

int
sl_blob_touch (sl_blob_t *self, const char *sha256)
{
    char path [S_PATH_MAX];
    if (sl_blob_path (self, sha256, path, sizeof path) != 0)
        return -1;
    //  AT_SYMLINK_NOFOLLOW: a blob is a regular file; a planted link must
    //  not make us touch whatever it points at
    return utimensat (AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -1;
}

static int64_t
s_mtime_ms (const struct stat *st)
{
    return (int64_t) st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

int
sl_blob_collect (sl_blob_t *self, const char *sha256, int64_t cutoff_ms,
                 sl_blob_unused_fn *unused, void *arg, uint64_t *bytes_out)
{
    assert (self);
    assert (unused);
    char path [S_PATH_MAX], aside [S_PATH_MAX + 128];
    if (sl_blob_path (self, sha256, path, sizeof path) != 0)
        return -1;
    struct stat before, after;
    if (lstat (path, &before) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISREG (before.st_mode) || s_mtime_ms (&before) >= cutoff_ms)
        return 0;
    int rc = unused (arg, sha256);
    if (rc != 1)
        return rc;
    //  From here nobody can open or touch the blob by its name
    char id [SL_ID_LEN + 1];
    sl_id_new (id);
    snprintf (aside, sizeof aside, "%s/%s.%s.gc", self->tmp_dir, sha256, id);
    if (rename (path, aside) != 0)
        return errno == ENOENT ? 0 : -1;
    if (lstat (aside, &after) != 0)
        return -1;              //  cannot happen short of a second collector
    rc = after.st_ino != before.st_ino
      || after.st_mtim.tv_sec != before.st_mtim.tv_sec
      || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ? 0 : unused (arg, sha256);
    if (rc != 1) {
        //  Touched between our look and the rename, or adopted meanwhile:
        //  put it back. rename replaces a copy uploaded in the meantime,
        //  which has the same bytes.
        if (rename (aside, path) != 0) {
            sl_error (NULL, "blob %.16s… held aside as %s cannot be put back: %s", sha256, aside,
                      strerror (errno));
            return -1;
        }
        return rc;
    }
    if (unlink (aside) != 0)
        return -1;
    if (bytes_out)
        *bytes_out = (uint64_t) after.st_size;
    return 1;
}

int
sl_blob_collect_recover (sl_blob_t *self, int64_t min_age_s)
{
    assert (self);
    DIR *dir = opendir (self->tmp_dir);
    if (!dir)
        return 0;
    time_t now = time (NULL);
    int restored = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        //  <64 hex>.<32 hex>.gc
        const char *name = entry->d_name;
        size_t len = strlen (name);
        if (len != 64 + 1 + SL_ID_LEN + 3 || strcmp (name + len - 3, ".gc") != 0 || name [64] != '.')
            continue;
        char sha [SL_SHA256_HEX], path [S_PATH_MAX];
        memcpy (sha, name, 64);
        sha [64] = 0;
        struct stat st;
        //  ctime, not mtime: rename keeps the blob's old mtime but sets
        //  ctime, which says when it was set aside
        if (sl_blob_path (self, sha, path, sizeof path) != 0
        ||  fstatat (dirfd (dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG (st.st_mode)
        ||  (int64_t) (now - st.st_ctime) < min_age_s)
            continue;
        char shard [S_PATH_MAX];
        snprintf (shard, sizeof shard, "%s/%.2s", self->blobs_dir, sha);
        if (mkdir (shard, 0755) != 0 && errno != EEXIST)
            continue;
        if (renameat (dirfd (dir), name, AT_FDCWD, path) == 0)
            restored++;
    }
    closedir (dir);
    return restored;
}

int
sl_blob_each (sl_blob_t *self, sl_blob_each_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    DIR *top = opendir (self->blobs_dir);
    if (!top)
        return 0;
    int rc = 0;
    struct dirent *shard;
    while (rc == 0 && (shard = readdir (top))) {
        const char *prefix = shard->d_name;
        if (strlen (prefix) != 2 || !isxdigit ((unsigned char) prefix [0])
        ||  !isxdigit ((unsigned char) prefix [1]))
            continue;
        int fd = openat (dirfd (top), prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
        if (!dir) {
            if (fd >= 0)
                close (fd);
            continue;
        }
        struct dirent *entry;
        while (rc == 0 && (entry = readdir (dir))) {
            struct stat st;
            if (!sl_blob_sha_valid (entry->d_name) || strncmp (entry->d_name, prefix, 2) != 0
            ||  fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
            ||  !S_ISREG (st.st_mode))
                continue;
            rc = fn (arg, entry->d_name, (uint64_t) st.st_size, s_mtime_ms (&st));
        }
        closedir (dir);
    }
    closedir (top);
    return rc;
}

//  --------------------------------------------------------------------------
//  Writer

sl_blob_writer_t *
sl_blob_writer_new (sl_blob_t *self, size_t max_bytes)
{
    assert (self);
    sl_blob_writer_t *w = calloc (1, sizeof *w);
    assert (w);
    w->blob = self;
    w->max_bytes = max_bytes;
    char id [SL_ID_LEN + 1];
    sl_id_new (id);
    snprintf (w->tmp_path, sizeof w->tmp_path, "%s/%s.part", self->tmp_dir, id);
    //  O_EXCL: a random 128-bit name never collides, but if it somehow did
    //  we must not share a file with another writer
    w->fd = open (w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        free (w);
        return NULL;
    }
    w->sha = sl_sha256_new ();
    return w;
}

int
sl_blob_writer_write (sl_blob_writer_t *self, const void *data, size_t size)
{
    assert (self);
    assert (data || size == 0);
    if (self->failed)
        return -1;
    if (self->max_bytes && (size > self->max_bytes || self->size > self->max_bytes - size)) {
        self->failed = true;
        self->exceeded = true;
        return -1;
    }
    const char *p = data;
    size_t left = size;
    while (left) {
        ssize_t n = write (self->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            self->failed = true;
            self->error = n < 0 ? errno : ENOSPC;   //  a zero-byte write: no room
            return -1;
        }
        p += n;
        left -= (size_t) n;
    }
    sl_sha256_update (self->sha, data, size);
    self->size += size;
    return 0;
}

size_t
sl_blob_writer_size (sl_blob_writer_t *self)
{
    assert (self);
    return self->size;
}

bool
sl_blob_writer_exceeded (sl_blob_writer_t *self)
{
    assert (self);
    return self->exceeded;
}

int
sl_blob_writer_error (sl_blob_writer_t *self)
{
    assert (self);
    return self->error;
}

void
sl_blob_writer_abort (sl_blob_writer_t **self_p)
{
    assert (self_p);
    sl_blob_writer_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    unlink (self->tmp_path);
    if (self->sha) {
        char discard [SL_SHA256_HEX];
        sl_sha256_final (&self->sha, discard);
    }
    free (self);
    *self_p = NULL;
}

//  Make a new directory entry durable: without this a power cut after
//  commit returned could lose the name even though the data was fsync'd.
static void
s_fsync_dir (const char *path)
{
    int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

int
sl_blob_writer_commit (sl_blob_writer_t **self_p, char sha256_out [65], size_t *size_out)
{
    assert (self_p);
    sl_blob_writer_t *self = *self_p;
    assert (self);
    if (self->failed) {
        int error = self->error ? self->error : EFBIG;
        sl_blob_writer_abort (self_p);
        errno = error;
        return -1;
    }
    int rc = fsync (self->fd);
    int error = rc ? errno : 0;
    if (close (self->fd) != 0 && rc == 0) {
        rc = -1;
        error = errno;
    }
    self->fd = -1;
    if (rc != 0) {
        sl_blob_writer_abort (self_p);
        errno = error;
        return -1;
    }
    char sha [SL_SHA256_HEX];
    sl_sha256_final (&self->sha, sha);

    char shard [S_PATH_MAX], path [S_PATH_MAX + 80];
    snprintf (shard, sizeof shard, "%s/%.2s", self->blob->blobs_dir, sha);
    snprintf (path, sizeof path, "%s/%s", shard, sha);
    if (mkdir (shard, 0755) != 0 && errno != EEXIST) {
        error = errno;
        sl_blob_writer_abort (self_p);
        errno = error;
        return -1;
    }
    //  A dedupe refreshes the existing blob's mtime, so the collector sees
    //  that a job just came to rely on it. If the refresh finds the name
    //  gone, a collector took the blob away between our link and our touch:
    //  link again, which now publishes our copy. Bounded: each round needs
    //  a collector to win a race that takes it a whole pass to set up.
    for (int round = 0; ; round++) {
        if (link (self->tmp_path, path) == 0) {
            s_fsync_dir (shard);
            break;
        }
        if (errno == EEXIST) {
            if (utimensat (AT_FDCWD, path, NULL, 0) == 0 || errno != ENOENT || round >= 3)
                break;
            continue;
        }
        //  File systems without hard links: rename is atomic too; at worst
        //  it replaces an identical blob
        if (rename (self->tmp_path, path) == 0) {
            s_fsync_dir (shard);
            break;
        }
        error = errno;
        sl_blob_writer_abort (self_p);
        errno = error;
        return -1;
    }
    if (sha256_out)
        memcpy (sha256_out, sha, SL_SHA256_HEX);
    if (size_out)
        *size_out = self->size;
    sl_blob_writer_abort (self_p);      //  drops the temp name, frees
    return 0;
}

//  --------------------------------------------------------------------------
//  Import

int
sl_blob_import_file (sl_blob_t *self, const char *path, size_t max_bytes,
                     char sha256_out [65], size_t *size_out)
{
    assert (self);
    assert (path);
    //  O_NONBLOCK so opening a FIFO cannot hang us; we refuse it below
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)
    ||  (max_bytes && (uint64_t) st.st_size > (uint64_t) max_bytes)) {
        close (fd);
        return -1;
    }
    sl_blob_writer_t *w = sl_blob_writer_new (self, max_bytes);
    if (!w) {
        close (fd);
        return -1;
    }
    char buf [32768];
    int rc = 0;
    while (true) {
        ssize_t n = read (fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && sl_blob_writer_write (w, buf, (size_t) n) != 0)) {
            rc = -1;
            break;
        }
        if (n == 0)
            break;
    }
    close (fd);
    if (rc != 0) {
        sl_blob_writer_abort (&w);
        return -1;
    }
    return sl_blob_writer_commit (&w, sha256_out, size_out);
}

//  --------------------------------------------------------------------------
//  Job folders

int
sl_blob_job_dir (sl_blob_t *self, const char *job_id, char *buf, size_t cap)
{
    assert (self);
    assert (buf);
    if (!sl_token_valid (job_id))
        return -1;
    int n = snprintf (buf, cap, "%s/%s", self->jobs_dir, job_id);
    if (n < 0 || (size_t) n >= cap)
        return -1;
    if (mkdir (buf, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    //  lstat: a symlink planted in jobs/ must not redirect artifacts
    if (lstat (buf, &st) != 0 || !S_ISDIR (st.st_mode))
        return -1;
    return 0;
}

//  What a removal took away
typedef struct {
    uint64_t bytes;
    uint64_t files;
} s_tally_t;

//  Remove name (relative to dirfd) and everything under it. Works with
//  *at() calls and O_NOFOLLOW so a symlink inside the tree is removed as a
//  link, never followed, even if the tree changes while we walk it.
static int
s_remove_tree_at (int dirfd, const char *name, int depth, s_tally_t *tally)
{
    struct stat st;
    bool counted = fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR (st.st_mode);
    if (unlinkat (dirfd, name, 0) == 0) {
        if (counted) {
            tally->files++;
            tally->bytes += S_ISREG (st.st_mode) ? (uint64_t) st.st_size : 0;
        }
        return 0;
    }
    if (errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth > S_TREE_DEPTH_MAX)
        return -1;
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *dir = fdopendir (fd);
    if (!dir) {
        close (fd);
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        if (s_remove_tree_at (fd, entry->d_name, depth + 1, tally) != 0)
            rc = -1;
    }
    closedir (dir);
    if (unlinkat (dirfd, name, AT_REMOVEDIR) == 0)
        tally->files++;
    else
    if (errno != ENOENT)
        rc = -1;
    return rc;
}

int
sl_blob_job_reclaim (sl_blob_t *self, const char *job_id, uint64_t *bytes, uint64_t *files)
{
    assert (self);
    if (!sl_token_valid (job_id))
        return -1;
    int dirfd = open (self->jobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    s_tally_t tally = { 0, 0 };
    int rc = s_remove_tree_at (dirfd, job_id, 0, &tally);
    close (dirfd);
    if (bytes)
        *bytes += tally.bytes;
    if (files)
        *files += tally.files;
    return rc;
}

int
sl_blob_job_remove (sl_blob_t *self, const char *job_id)
{
    return sl_blob_job_reclaim (self, job_id, NULL, NULL);
}

int
sl_blob_job_each (sl_blob_t *self, sl_blob_job_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    DIR *dir = opendir (self->jobs_dir);
    if (!dir)
        return 0;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (dir))) {
        struct stat st;
        if (!sl_token_valid (entry->d_name)
        ||  fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        rc = fn (arg, entry->d_name, s_mtime_ms (&st));
    }
    closedir (dir);
    return rc;
}

int
sl_blob_tmp_reclaim (sl_blob_t *self, int64_t min_age_s, uint64_t *bytes)
{
    assert (self);
    DIR *dir = opendir (self->tmp_dir);
    if (!dir)
        return 0;
    time_t now = time (NULL);
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name);
        if (len < 6 || strcmp (entry->d_name + len - 5, ".part") != 0)
            continue;
        struct stat st;
        if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        &&  S_ISREG (st.st_mode) && (int64_t) (now - st.st_mtime) >= min_age_s
        &&  unlinkat (dirfd (dir), entry->d_name, 0) == 0) {
            removed++;
            if (bytes)
                *bytes += (uint64_t) st.st_size;
        }
    }
    closedir (dir);
    return removed;
}

int
sl_blob_tmp_sweep (sl_blob_t *self, int64_t min_age_s)
{
    return sl_blob_tmp_reclaim (self, min_age_s, NULL);
}

//  --------------------------------------------------------------------------
//  Self-test

static int
s_count_entries (const char *path)
{
    DIR *dir = opendir (path);
    assert (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, ".."))
            count++;
    closedir (dir);
    return count;
}

static void
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size);
    assert (fclose (file) == 0);
}

static size_t
s_read_file (const char *path, char *buf, size_t cap)
{
    FILE *file = fopen (path, "rb");
    assert (file);
    size_t n = fread (buf, 1, cap, file);
    fclose (file);
    return n;
}

typedef struct {
    sl_blob_t *blobs;
    int calls;
    int answers [2];            //  what to answer on the first, second call
    bool touch_first;           //  touch the blob during the first call
    bool upload_second;         //  publish the same bytes during the second
    const char *bytes;
} s_unused_t;

static int
s_unused (void *arg_, const char *sha256)
{
    s_unused_t *arg = arg_;
    int call = arg->calls++;
    if (call == 0 && arg->touch_first) {
        struct timespec later [2] = { { time (NULL) + 5, 0 }, { time (NULL) + 5, 0 } };
        char path [S_PATH_MAX];
        assert (sl_blob_path (arg->blobs, sha256, path, sizeof path) == 0);
        assert (utimensat (AT_FDCWD, path, later, 0) == 0);
    }
    if (call == 1 && arg->upload_second) {
        //  The blob is aside: its name is free, so the same bytes publish anew
        assert (!sl_blob_exists (arg->blobs, sha256));
        assert (sl_blob_touch (arg->blobs, sha256) == -1);
        sl_blob_writer_t *w = sl_blob_writer_new (arg->blobs, 0);
        char sha [SL_SHA256_HEX];
        assert (sl_blob_writer_write (w, arg->bytes, strlen (arg->bytes)) == 0);
        assert (sl_blob_writer_commit (&w, sha, NULL) == 0);
        assert (strcmp (sha, sha256) == 0 && sl_blob_exists (arg->blobs, sha256));
    }
    return arg->answers [call < 2 ? call : 1];
}

static void
s_make_old (sl_blob_t *blobs, const char *sha)
{
    char path [S_PATH_MAX];
    assert (sl_blob_path (blobs, sha, path, sizeof path) == 0);
    struct timespec old [2] = { { time (NULL) - 7200, 0 }, { time (NULL) - 7200, 0 } };
    assert (utimensat (AT_FDCWD, path, old, 0) == 0);
}

static int
s_count_blob (void *arg, const char *sha256, uint64_t size, int64_t mtime_ms)
{
    assert (sl_blob_sha_valid (sha256) && mtime_ms > 0);
    (*(int *) arg)++;
    return 0;
}

static int
s_count_job (void *arg, const char *job_id, int64_t mtime_ms)
{
    assert (sl_token_valid (job_id) && mtime_ms > 0);
    (*(int *) arg)++;
    return 0;
}

typedef struct {
    sl_blob_t *blobs;
    int index;
    char shared_sha [SL_SHA256_HEX];
    int failures;
} s_thread_arg_t;

static void *
s_writer_thread (void *arg_)
{
    s_thread_arg_t *arg = arg_;
    for (int round = 0; round < 25; round++) {
        //  Everyone writes the same bytes (dedupe race) and their own bytes
        static const char shared [] = "the same bytes from every thread";
        char own [64];
        int len = snprintf (own, sizeof own, "thread %d round %d", arg->index, round);
        for (int which = 0; which < 2; which++) {
            sl_blob_writer_t *w = sl_blob_writer_new (arg->blobs, 0);
            if (!w) {
                arg->failures++;
                continue;
            }
            const char *data = which ? own : shared;
            size_t size = which ? (size_t) len : strlen (shared);
            char sha [SL_SHA256_HEX], expect [SL_SHA256_HEX];
            size_t got = 0;
            if (sl_blob_writer_write (w, data, size) != 0
            ||  sl_blob_writer_commit (&w, sha, &got) != 0 || got != size) {
                sl_blob_writer_abort (&w);
                arg->failures++;
                continue;
            }
            sl_sha256_hex (data, size, expect);
            if (strcmp (sha, expect) != 0 || !sl_blob_exists (arg->blobs, sha))
                arg->failures++;
            if (!which)
                memcpy (arg->shared_sha, sha, sizeof sha);
        }
    }
    return NULL;
}

void
sl_blob_test (bool verbose)
{
    if (verbose)
        printf (" * sl_blob: ");
    char root [] = "/tmp/sl_blob_test_XXXXXX";
    assert (mkdtemp (root));
    char path [S_PATH_MAX], other [S_PATH_MAX], buf [1024];
    struct stat st;

    //  new creates the three areas
    sl_blob_t *blobs = sl_blob_new (root);
    assert (blobs);
    assert (strcmp (sl_blob_root (blobs), root) == 0);
    snprintf (path, sizeof path, "%s/blobs", root);
    assert (stat (path, &st) == 0 && S_ISDIR (st.st_mode));
    snprintf (path, sizeof path, "%s/jobs", root);
    assert (stat (path, &st) == 0 && S_ISDIR (st.st_mode));
    char tmp_dir [1024];
    snprintf (tmp_dir, sizeof tmp_dir, "%s/tmp", root);
    assert (stat (tmp_dir, &st) == 0 && S_ISDIR (st.st_mode));

    //  A root that cannot be created gives NULL
    snprintf (other, sizeof other, "%s/plainfile", root);
    s_write_file (other, "x", 1);
    snprintf (path, sizeof path, "%s/plainfile/sub", root);
    assert (sl_blob_new (path) == NULL);
    assert (sl_blob_new ("") == NULL);
    unlink (other);

    //  Streaming write in pieces; hash and size equal the whole buffer's
    const char *text = "hello, content-addressed world\n";
    char expect [SL_SHA256_HEX], sha [SL_SHA256_HEX];
    size_t size = 0;
    sl_sha256_hex (text, strlen (text), expect);
    sl_blob_writer_t *w = sl_blob_writer_new (blobs, 0);
    assert (w);
    assert (s_count_entries (tmp_dir) == 1);
    assert (sl_blob_writer_write (w, text, 5) == 0);
    assert (sl_blob_writer_write (w, text + 5, 0) == 0);
    assert (sl_blob_writer_write (w, text + 5, strlen (text) - 5) == 0);
    assert (sl_blob_writer_size (w) == strlen (text));
    assert (sl_blob_writer_commit (&w, sha, &size) == 0);
    assert (w == NULL);
    assert (strcmp (sha, expect) == 0);
    assert (size == strlen (text));
    assert (s_count_entries (tmp_dir) == 0);
    assert (sl_blob_exists (blobs, sha));
    assert (sl_blob_path (blobs, sha, path, sizeof path) == 0);
    snprintf (other, sizeof other, "%s/blobs/%.2s/%s", root, sha, sha);
    assert (strcmp (path, other) == 0);
    size_t n = s_read_file (path, buf, sizeof buf);
    assert (n == strlen (text) && memcmp (buf, text, n) == 0);

    //  Dedupe: same bytes again commit to the same, single file
    assert (stat (path, &st) == 0);
    ino_t inode = st.st_ino;
    w = sl_blob_writer_new (blobs, 100);
    assert (w);
    assert (sl_blob_writer_write (w, text, strlen (text)) == 0);
    char sha2 [SL_SHA256_HEX];
    assert (sl_blob_writer_commit (&w, sha2, NULL) == 0);
    assert (strcmp (sha, sha2) == 0);
    assert (stat (path, &st) == 0 && st.st_ino == inode && st.st_nlink == 1);
    assert (s_count_entries (tmp_dir) == 0);
    snprintf (other, sizeof other, "%s/blobs/%.2s", root, sha);
    assert (s_count_entries (other) == 1);

    //  The empty blob is a blob
    w = sl_blob_writer_new (blobs, 0);
    assert (sl_blob_writer_commit (&w, sha2, &size) == 0);
    assert (size == 0);
    assert (strcmp (sha2, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    assert (sl_blob_exists (blobs, sha2));

    //  Limit: exactly max is fine, one byte more is refused for good
    w = sl_blob_writer_new (blobs, 10);
    assert (sl_blob_writer_write (w, "0123456789", 10) == 0);
    assert (!sl_blob_writer_exceeded (w));
    assert (sl_blob_writer_write (w, "x", 1) == -1);
    assert (sl_blob_writer_exceeded (w));
    assert (sl_blob_writer_write (w, "", 0) == -1);
    assert (sl_blob_writer_size (w) == 10);
    assert (sl_blob_writer_commit (&w, sha2, &size) == -1);
    assert (w == NULL);
    assert (s_count_entries (tmp_dir) == 0);
    sl_sha256_hex ("0123456789", 10, sha2);
    assert (!sl_blob_exists (blobs, sha2));
    //  A single write larger than the cap (size_t overflow path)
    w = sl_blob_writer_new (blobs, 4);
    assert (sl_blob_writer_write (w, "abc", 3) == 0);
    assert (sl_blob_writer_write (w, "abc", 3) == -1);
    sl_blob_writer_abort (&w);
    assert (w == NULL);
    sl_blob_writer_abort (&w);          //  safe twice
    assert (s_count_entries (tmp_dir) == 0);

    //  Abort drops the temp file
    w = sl_blob_writer_new (blobs, 0);
    assert (sl_blob_writer_write (w, "never published", 15) == 0);
    assert (s_count_entries (tmp_dir) == 1);
    sl_blob_writer_abort (&w);
    assert (s_count_entries (tmp_dir) == 0);
    sl_sha256_hex ("never published", 15, sha2);
    assert (!sl_blob_exists (blobs, sha2));

    //  Hostile hashes never become paths
    const char *hostile [] = {
        "", "abc",
        "../../../../../../../../../../../../../../../../../../etc/passwd",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
        "./b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        NULL
    };
    for (int i = 0; hostile [i]; i++) {
        assert (strlen (hostile [i]) != 64 || !sl_blob_sha_valid (hostile [i]));
        assert (sl_blob_path (blobs, hostile [i], path, sizeof path) == -1);
        assert (!sl_blob_exists (blobs, hostile [i]));
        assert (sl_blob_remove (blobs, hostile [i]) == -1);
    }
    assert (!sl_blob_sha_valid (NULL));
    assert (sl_blob_path (blobs, NULL, path, sizeof path) == -1);
    assert (sl_blob_path (blobs, sha, path, 20) == -1);     //  does not fit
    //  A valid hash with no blob
    assert (!sl_blob_exists (blobs, "0000000000000000000000000000000000000000000000000000000000000000"));

    //  Remove
    assert (sl_blob_remove (blobs, sha) == 0);
    assert (!sl_blob_exists (blobs, sha));
    assert (sl_blob_remove (blobs, sha) == -1);

    //  Import a file; the cap applies; non-regular files are refused
    char src [S_PATH_MAX];
    snprintf (src, sizeof src, "%s/source.bin", root);
    static char big [200000];
    for (size_t i = 0; i < sizeof big; i++)
        big [i] = (char) (i * 7 + i / 251);
    s_write_file (src, big, sizeof big);
    sl_sha256_hex (big, sizeof big, expect);
    assert (sl_blob_import_file (blobs, src, sizeof big, sha, &size) == 0);
    assert (strcmp (sha, expect) == 0 && size == sizeof big);
    assert (sl_blob_exists (blobs, sha));
    assert (sl_blob_remove (blobs, sha) == 0);
    assert (sl_blob_import_file (blobs, src, sizeof big - 1, sha, &size) == -1);
    assert (!sl_blob_exists (blobs, expect));
    assert (s_count_entries (tmp_dir) == 0);
    assert (sl_blob_import_file (blobs, root, 0, sha, &size) == -1);
    snprintf (path, sizeof path, "%s/missing", root);
    assert (sl_blob_import_file (blobs, path, 0, sha, &size) == -1);
    snprintf (path, sizeof path, "%s/fifo", root);
    assert (mkfifo (path, 0600) == 0);
    assert (sl_blob_import_file (blobs, path, 0, sha, &size) == -1);
    unlink (path);
    unlink (src);
    assert (s_count_entries (tmp_dir) == 0);

    //  Job folders: created, validated, removed without following links
    char job [1024];
    assert (sl_blob_job_dir (blobs, "job-1.a_b", job, sizeof job) == 0);
    snprintf (path, sizeof path, "%s/jobs/job-1.a_b", root);
    assert (strcmp (job, path) == 0);
    assert (stat (job, &st) == 0 && S_ISDIR (st.st_mode));
    assert (sl_blob_job_dir (blobs, "job-1.a_b", job, sizeof job) == 0);   //  idempotent
    snprintf (path, sizeof path, "%s/pages/deep/er", job);
    assert (sl_mkdirs (path, 0755) == 0);
    snprintf (path, sizeof path, "%s/pages/deep/er/p1.txt", job);
    s_write_file (path, "page", 4);
    snprintf (path, sizeof path, "%s/top.json", job);
    s_write_file (path, "{}", 2);
    //  Links out of the folder: to a file and to a directory we must keep
    char keep_dir [1024], keep_file [1024];
    snprintf (keep_dir, sizeof keep_dir, "%s/keep", root);
    assert (mkdir (keep_dir, 0755) == 0);
    snprintf (keep_file, sizeof keep_file, "%s/keep/precious", root);
    s_write_file (keep_file, "precious", 8);
    snprintf (path, sizeof path, "%s/link-to-file", job);
    assert (symlink (keep_file, path) == 0);
    snprintf (path, sizeof path, "%s/pages/link-to-dir", job);
    assert (symlink (keep_dir, path) == 0);
    assert (sl_blob_job_remove (blobs, "job-1.a_b") == 0);
    assert (lstat (job, &st) == -1 && errno == ENOENT);
    assert (stat (keep_file, &st) == 0 && st.st_size == 8);
    assert (sl_blob_job_remove (blobs, "job-1.a_b") == 0);     //  absent is fine
    assert (sl_blob_job_dir (blobs, "../escape", job, sizeof job) == -1);
    assert (sl_blob_job_dir (blobs, "a/b", job, sizeof job) == -1);
    assert (sl_blob_job_dir (blobs, "..", job, sizeof job) == -1);
    assert (sl_blob_job_dir (blobs, "", job, sizeof job) == -1);
    assert (sl_blob_job_dir (blobs, NULL, job, sizeof job) == -1);
    assert (sl_blob_job_dir (blobs, "ok", job, 10) == -1);      //  does not fit
    assert (sl_blob_job_remove (blobs, "..") == -1);
    assert (sl_blob_job_remove (blobs, "../keep") == -1);
    assert (stat (keep_file, &st) == 0);
    //  A symlink planted where a job folder should be is not accepted
    snprintf (path, sizeof path, "%s/jobs/planted", root);
    assert (symlink (keep_dir, path) == 0);
    assert (sl_blob_job_dir (blobs, "planted", job, sizeof job) == -1);
    assert (sl_blob_job_remove (blobs, "planted") == 0);       //  removes the link only
    assert (lstat (path, &st) == -1 && stat (keep_file, &st) == 0);

    //  Sweep removes only stale temp files
    snprintf (path, sizeof path, "%s/stale.part", tmp_dir);
    s_write_file (path, "x", 1);
    struct timespec old [2] = { { time (NULL) - 7200, 0 }, { time (NULL) - 7200, 0 } };
    assert (utimensat (AT_FDCWD, path, old, 0) == 0);
    w = sl_blob_writer_new (blobs, 0);          //  a live one, fresh
    assert (sl_blob_tmp_sweep (blobs, 3600) == 1);
    assert (s_count_entries (tmp_dir) == 1);
    assert (sl_blob_writer_write (w, "live", 4) == 0);
    assert (sl_blob_writer_commit (&w, sha, NULL) == 0);

    //  Collection: only old blobs nobody uses go, and a touch or an
    //  adoption while the collector looks keeps the blob
    const char *kept_text = "collect me if you can";
    char ksha [SL_SHA256_HEX];
    uint64_t freed = 0;
    w = sl_blob_writer_new (blobs, 0);
    assert (sl_blob_writer_write (w, kept_text, strlen (kept_text)) == 0);
    assert (sl_blob_writer_commit (&w, ksha, NULL) == 0);
    int64_t cutoff = sl_now_ms () - 3600 * 1000;
    s_unused_t probe = { .blobs = blobs, .answers = { 1, 1 }, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);
    assert (probe.calls == 0 && sl_blob_exists (blobs, ksha));         //  young
    s_make_old (blobs, ksha);
    probe = (s_unused_t) { .blobs = blobs, .answers = { 0, 1 }, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);
    assert (probe.calls == 1 && sl_blob_exists (blobs, ksha));         //  in use
    probe = (s_unused_t) { .blobs = blobs, .answers = { -1, 1 }, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == -1);
    assert (sl_blob_exists (blobs, ksha));                              //  store down
    //  touched between the look and the rename: put back
    probe = (s_unused_t) { .blobs = blobs, .answers = { 1, 1 }, .touch_first = true, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);
    assert (probe.calls == 1 && sl_blob_exists (blobs, ksha) && freed == 0);
    s_make_old (blobs, ksha);
    //  adopted while aside (a job named it after the first look): put back
    probe = (s_unused_t) { .blobs = blobs, .answers = { 1, 0 }, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);
    assert (probe.calls == 2 && sl_blob_exists (blobs, ksha) && freed == 0);
    assert (s_count_entries (tmp_dir) == 0);
    //  the same bytes uploaded while aside, and still needed: one copy stays
    probe = (s_unused_t) { .blobs = blobs, .answers = { 1, 0 }, .upload_second = true, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);
    assert (sl_blob_exists (blobs, ksha) && s_count_entries (tmp_dir) == 0);
    s_make_old (blobs, ksha);
    //  ... and unused after all: the old copy goes, the new upload stays
    probe = (s_unused_t) { .blobs = blobs, .answers = { 1, 1 }, .upload_second = true, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 1);
    assert (freed == strlen (kept_text) && sl_blob_exists (blobs, ksha));
    s_make_old (blobs, ksha);
    //  unused: deleted, its size reported
    freed = 0;
    probe = (s_unused_t) { .blobs = blobs, .answers = { 1, 1 }, .bytes = kept_text };
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 1);
    assert (probe.calls == 2 && !sl_blob_exists (blobs, ksha) && freed == strlen (kept_text));
    assert (sl_blob_collect (blobs, ksha, cutoff, s_unused, &probe, &freed) == 0);      //  absent
    assert (sl_blob_collect (blobs, "../x", cutoff, s_unused, &probe, &freed) == -1);
    assert (sl_blob_touch (blobs, ksha) == -1 && sl_blob_touch (blobs, "nope") == -1);
    assert (s_count_entries (tmp_dir) == 0);
    //  touch refreshes the mtime
    w = sl_blob_writer_new (blobs, 0);
    assert (sl_blob_writer_write (w, kept_text, strlen (kept_text)) == 0);
    assert (sl_blob_writer_commit (&w, ksha, NULL) == 0);
    s_make_old (blobs, ksha);
    assert (sl_blob_touch (blobs, ksha) == 0);
    assert (sl_blob_path (blobs, ksha, path, sizeof path) == 0);
    assert (stat (path, &st) == 0 && st.st_mtime >= time (NULL) - 60);
    //  a dedupe commit refreshes it too
    s_make_old (blobs, ksha);
    w = sl_blob_writer_new (blobs, 0);
    assert (sl_blob_writer_write (w, kept_text, strlen (kept_text)) == 0);
    assert (sl_blob_writer_commit (&w, ksha, NULL) == 0);
    assert (stat (path, &st) == 0 && st.st_mtime >= time (NULL) - 60);
    //  a collector that died with the blob aside: recovered, but only once
    //  it is clearly not in the middle of its work
    snprintf (other, sizeof other, "%s/%s.%s.gc", tmp_dir, ksha, "0123456789abcdef0123456789abcdef");
    assert (rename (path, other) == 0);
    assert (sl_blob_collect_recover (blobs, 60) == 0);
    assert (sl_blob_collect_recover (blobs, 0) == 1);
    assert (sl_blob_exists (blobs, ksha) && s_count_entries (tmp_dir) == 0);
    //  every blob is listed once; job folders too
    int listed = 0;
    assert (sl_blob_each (blobs, s_count_blob, &listed) == 0);
    snprintf (path, sizeof path, "%s/blobs", root);
    int expect_blobs = 0;
    DIR *shards = opendir (path);
    struct dirent *shard;
    while ((shard = readdir (shards)))
        if (shard->d_name [0] != '.') {
            snprintf (other, sizeof other, "%s/blobs/%.2s", root, shard->d_name);
            expect_blobs += s_count_entries (other);
        }
    closedir (shards);
    assert (listed == expect_blobs && listed > 0);
    //  job folders: listed, removed with a tally
    assert (sl_blob_job_dir (blobs, "tally-job", job, sizeof job) == 0);
    snprintf (path, sizeof path, "%s/pages.mp", job);
    s_write_file (path, "0123456789", 10);
    snprintf (path, sizeof path, "%s/sub", job);
    assert (mkdir (path, 0755) == 0);
    snprintf (path, sizeof path, "%s/sub/vectors.f32", job);
    s_write_file (path, "abcd", 4);
    listed = 0;
    assert (sl_blob_job_each (blobs, s_count_job, &listed) == 0 && listed == 1);
    uint64_t bytes = 0, files = 0;
    assert (sl_blob_job_reclaim (blobs, "tally-job", &bytes, &files) == 0);
    assert (bytes == 14 && files == 4);         //  two files, two folders
    listed = 0;
    assert (sl_blob_job_each (blobs, s_count_job, &listed) == 0 && listed == 0);
    //  temp sweep with a tally
    snprintf (path, sizeof path, "%s/stale2.part", tmp_dir);
    s_write_file (path, "xyz", 3);
    assert (utimensat (AT_FDCWD, path, old, 0) == 0);
    bytes = 0;
    assert (sl_blob_tmp_reclaim (blobs, 3600, &bytes) == 1 && bytes == 3);

    //  Threads share one area: concurrent identical and distinct commits
    pthread_t threads [4];
    s_thread_arg_t args [4];
    for (int i = 0; i < 4; i++) {
        memset (&args [i], 0, sizeof args [i]);
        args [i].blobs = blobs;
        args [i].index = i;
        assert (pthread_create (&threads [i], NULL, s_writer_thread, &args [i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join (threads [i], NULL);
        assert (args [i].failures == 0);
        assert (strcmp (args [i].shared_sha, args [0].shared_sha) == 0);
    }
    assert (sl_blob_path (blobs, args [0].shared_sha, path, sizeof path) == 0);
    assert (stat (path, &st) == 0 && st.st_nlink == 1);
    assert (s_count_entries (tmp_dir) == 0);

    sl_blob_destroy (&blobs);
    assert (blobs == NULL);
    sl_blob_destroy (&blobs);

    snprintf (buf, sizeof buf, "rm -rf '%s'", root);
    assert (system (buf) == 0);
    if (verbose)
        printf ("OK\n");
}
