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
        //  ctime, which says when it was set aside. No age asked: no
        //  comparison, since time () can read a second behind the ctime the
        //  file system just wrote (both clocks are coarse)
        if (sl_blob_path (self, sha, path, sizeof path) != 0
        ||  fstatat (dirfd (dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG (st.st_mode)
        ||  (min_age_s > 0 && (int64_t) (now - st.st_ctime) < min_age_s))
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
        &&  S_ISREG (st.st_mode) && (min_age_s <= 0 || (int64_t) (now - st.st_mtime) >= min_age_s)
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
