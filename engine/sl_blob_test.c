/*  sl_blob_test: self-test of sl_blob.

    The content-addressed blob area in a temporary folder:
    streaming writes, dedupe, size limits, hostile hashes, imports, job
    folders and symlinks, temp sweeps, the collector's races (touch, adoption,
    re-upload while aside, recovery), listings, and threads committing at once.
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

#define S_PATH_MAX 4096            //  paths the test builds (as sl_blob.c)

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
