/*  sl_upload_test: self-test of sl_upload.

    A real blob area in a temp folder; threads stand in for the several
    processes that may serve one upload (flock behaves the same).
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

static void
s_make_old (const char *path, int seconds)
{
    struct timespec times [2];
    clock_gettime (CLOCK_REALTIME, &times [0]);
    times [0].tv_sec -= seconds;
    times [1] = times [0];
    assert (utimensat (AT_FDCWD, path, times, 0) == 0);
}

static void
s_read_file (const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen (path, "rb");
    assert (f);
    *len = fread (buf, 1, cap, f);
    fclose (f);
}

typedef struct {
    sl_upload_t *up;
    const char *id;
    const char *data;
    size_t size;
    size_t part;
    int applied;
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *r = (s_racer_t *) arg;
    for (size_t off = 0, seq = 0; off < r->size; off += r->part, seq++) {
        size_t n = r->size - off < r->part ? r->size - off : r->part;
        uint64_t received;
        bool dup;
        sl_upload_err_t err;
        //  Every racer sends every part in order: whoever is first applies
        //  it, the others are told it is a duplicate
        int rc = sl_upload_part (r->up, "default", r->id, (int64_t) seq, r->data + off, n, &received, &dup, &err);
        assert (rc == 0);
        assert (received >= off + n);
        if (!dup)
            r->applied++;
    }
    return NULL;
}

//  tus's way: a writer per request body, at an offset, kept or cut back
static void
s_test_offsets (sl_blob_t *blobs, const char *root)
{
    sl_upload_t *up = sl_upload_new (blobs, "uploads", 1000, 1, 0);
    assert (up);
    char dir [SL_UPLOAD_PATH_MAX];
    snprintf (dir, sizeof dir, "%s/uploads", root);
    assert (access (dir, F_OK) == 0);
    assert (!sl_upload_new (blobs, "../x", 0, 1, 0) && !sl_upload_new (blobs, "a/b", 0, 1, 0));
    char id [SL_ID_LEN + 1];
    sl_upload_err_t err;
    assert (sl_upload_begin (up, "default", 10, "t.txt", "text/plain", "{\"team\":\"legal\"}", id, &err) == 0);
    sl_upload_info_t info;
    assert (sl_upload_info (up, "default", id, &info, &err) == 0);
    assert (info.size == 10 && info.bytes == 0 && !info.committed && strcmp (info.attrs, "{\"team\":\"legal\"}") == 0);
    assert (*info.job == 0 && info.expires_ms > sl_now_ms ());
    assert (sl_upload_info (up, "other", id, &info, &err) == -1 && err.status == 404);

    //  Kept: the bytes and the record move together
    sl_upload_writer_t *w = sl_upload_writer_open (up, "default", id, 0, &err);
    assert (w);
    //  A second writer, and a reader, are told to come back, not made to wait
    sl_upload_writer_t *other = sl_upload_writer_open (up, "default", id, 0, &err);
    assert (!other && err.status == 423);
    assert (sl_upload_info (up, "default", id, &info, &err) == -1 && err.status == 423);
    assert (sl_upload_writer_write (w, "0123", 4, &err) == 0 && sl_upload_writer_offset (w) == 4);
    uint64_t bytes;
    assert (sl_upload_writer_close (&w, true, &bytes, &err) == 0 && !w && bytes == 4);

    //  A wrong offset says what the upload holds
    assert (!sl_upload_writer_open (up, "default", id, 2, &err) && err.status == 409);
    assert (strstr (err.message, "holds 4 bytes"));

    //  Not kept (a checksum failed): cut back to where it was
    assert ((w = sl_upload_writer_open (up, "default", id, 4, &err)));
    assert (sl_upload_writer_write (w, "XYZ", 3, &err) == 0);
    assert (sl_upload_writer_close (&w, false, &bytes, &err) == 0 && bytes == 4);
    char part [SL_UPLOAD_PATH_MAX], meta [SL_UPLOAD_PATH_MAX];
    sl_upload_paths (up, id, meta, part);
    struct stat st;
    assert (stat (part, &st) == 0 && st.st_size == 4);

    //  Past the declared length: refused, nothing of it kept
    assert ((w = sl_upload_writer_open (up, "default", id, 4, &err)));
    assert (sl_upload_writer_write (w, "4567890", 7, &err) == -1 && err.status == 413);
    assert (sl_upload_writer_close (&w, true, &bytes, &err) == 0 && bytes == 4);

    //  The rest, then commit and the job
    assert ((w = sl_upload_writer_open (up, "default", id, 4, &err)));
    assert (sl_upload_writer_write (w, "45", 2, &err) == 0 && sl_upload_writer_write (w, "6789", 4, &err) == 0);
    assert (sl_upload_writer_close (&w, true, &bytes, &err) == 0 && bytes == 10);
    assert (!sl_upload_writer_open (up, "default", id, 10, &err) && err.status == 409);
    assert (strstr (err.message, "complete"));
    sl_upload_done_t done;
    assert (sl_upload_commit (up, "default", id, NULL, &done, &err) == 0 && done.size == 10);
    char sha [SL_SHA256_HEX];
    sl_sha256_hex ("0123456789", 10, sha);
    assert (strcmp (done.blob, sha) == 0);
    assert (sl_upload_set_job (up, "default", id, "0123456789abcdef0123456789abcdef", &err) == 0);
    assert (sl_upload_info (up, "default", id, &info, &err) == 0);
    assert (info.committed && strcmp (info.job, "0123456789abcdef0123456789abcdef") == 0);
    assert (strcmp (info.blob, sha) == 0);

    //  Expired uploads go, with their bytes counted
    char id2 [SL_ID_LEN + 1];
    assert (sl_upload_begin (up, "default", 10, NULL, NULL, NULL, id2, &err) == 0);
    assert ((w = sl_upload_writer_open (up, "default", id2, 0, &err)));
    assert (sl_upload_writer_write (w, "abc", 3, &err) == 0);
    assert (sl_upload_writer_close (&w, true, NULL, &err) == 0);
    sl_upload_paths (up, id2, meta, part);
    s_make_old (meta, 5);
    s_make_old (part, 5);
    uint64_t swept = 0;
    assert (sl_upload_sweep (up, &swept) == 1 && swept == 3);
    assert (sl_upload_info (up, "default", id2, &info, &err) == -1 && err.status == 404);
    sl_upload_destroy (&up);
}

void
sl_upload_test (bool verbose)
{
    if (verbose)
        printf (" * sl_upload: ");
    char root [] = "/tmp/sl-upload-test-XXXXXX";
    assert (mkdtemp (root));
    sl_blob_t *blobs = sl_blob_new (root);
    assert (blobs);
    //  Idle for 60 s expires: only files this test ages by hand expire (a
    //  slow run under the sanitizers must not age the others past it)
    sl_upload_t *up = sl_upload_new (blobs, "tmp", 100000, 60, 3);
    assert (up);
    sl_upload_err_t err;
    char id [SL_ID_LEN + 1], sha [SL_SHA256_HEX], path [SL_UPLOAD_PATH_MAX];
    uint64_t received;
    bool dup;
    sl_upload_done_t done;

    //  In order, a duplicate, out of order, then commit with the right hash
    assert (sl_upload_begin (up, "default", 11, "../dir/notes.txt", "text/plain", NULL, id, &err) == 0);
    assert (sl_upload_open_count (up) == 1);
    assert (sl_upload_part (up, "default", id, 0, "hello ", 6, &received, &dup, &err) == 0);
    assert (received == 6 && !dup);
    assert (sl_upload_part (up, "default", id, 0, "hello ", 6, &received, &dup, &err) == 0);
    assert (received == 6 && dup);
    assert (sl_upload_part (up, "default", id, 2, "x", 1, &received, &dup, &err) == -1 && err.status == 409);
    assert (strstr (err.message, "expected part 1"));
    //  Another workspace cannot see it, nor can a malformed id reach a path
    assert (sl_upload_part (up, "other", id, 1, "world", 5, &received, &dup, &err) == -1 && err.status == 404);
    assert (sl_upload_part (up, "default", "../../etc/passwd", 1, "w", 1, &received, &dup, &err) == -1
            && err.status == 404);
    //  Incomplete commit is refused but keeps the upload
    assert (sl_upload_commit (up, "default", id, NULL, &done, &err) == -1 && err.status == 409);
    assert (sl_upload_part (up, "default", id, 1, "world", 5, &received, &dup, &err) == 0 && received == 11);
    sl_sha256_hex ("hello world", 11, sha);
    assert (sl_upload_commit (up, "default", id, sha, &done, &err) == 0);
    assert (strcmp (done.blob, sha) == 0 && done.size == 11);
    assert (strcmp (done.filename, "notes.txt") == 0 && strcmp (done.mime, "text/plain") == 0);
    assert (sl_blob_exists (blobs, sha));
    assert (sl_upload_open_count (up) == 0);
    //  A retried commit gets the same answer; parts after commit are refused
    memset (&done, 0, sizeof done);
    assert (sl_upload_commit (up, "default", id, NULL, &done, &err) == 0 && strcmp (done.blob, sha) == 0);
    assert (sl_upload_part (up, "default", id, 2, "!", 1, &received, &dup, &err) == -1 && err.status == 409);
    char content [64];
    size_t len;
    assert (sl_blob_path (blobs, sha, path, sizeof path) == 0);
    s_read_file (path, content, sizeof content, &len);
    assert (len == 11 && memcmp (content, "hello world", 11) == 0);

    //  A wrong hash discards the upload (and says what the bytes hash to)
    assert (sl_upload_begin (up, "default", -1, NULL, NULL, NULL, id, &err) == 0);
    assert (sl_upload_part (up, "default", id, 0, "abc", 3, &received, &dup, &err) == 0);
    assert (sl_upload_commit (up, "default", id, sha, &done, &err) == -1 && err.status == 400);
    assert (strstr (err.message, "ba7816bf"));      //  sha256("abc")
    assert (!sl_blob_exists (blobs, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert (sl_upload_abort (up, "default", id, &err) == -1 && err.status == 404);

    //  A writer that died mid-part left bytes past the record: the resend
    //  truncates them away
    assert (sl_upload_begin (up, "default", 6, "t.txt", NULL, NULL, id, &err) == 0);
    assert (sl_upload_part (up, "default", id, 0, "abc", 3, &received, &dup, &err) == 0);
    char part_path [SL_UPLOAD_PATH_MAX], meta_path [SL_UPLOAD_PATH_MAX];
    sl_upload_paths (up, id, meta_path, part_path);
    FILE *f = fopen (part_path, "ab");
    assert (f);
    fputs ("GARBAGE", f);
    fclose (f);
    assert (sl_upload_part (up, "default", id, 1, "def", 3, &received, &dup, &err) == 0 && received == 6);
    assert (sl_upload_commit (up, "default", id, NULL, &done, &err) == 0);
    sl_sha256_hex ("abcdef", 6, sha);
    assert (strcmp (done.blob, sha) == 0);

    //  One-shot put: stored at once, checked first, refused when too large
    assert (sl_upload_put (up, "xyz", 3, NULL, "dir/p.txt", "text/plain", &done, &err) == 0);
    sl_sha256_hex ("xyz", 3, sha);
    assert (strcmp (done.blob, sha) == 0 && done.size == 3 && strcmp (done.filename, "p.txt") == 0);
    assert (sl_blob_exists (blobs, sha));
    assert (sl_upload_put (up, "xyq", 3, sha, NULL, NULL, &done, &err) == -1 && err.status == 400);
    assert (sl_upload_put (up, "", 0, NULL, NULL, NULL, &done, &err) == -1 && err.status == 400);

    //  Limits: declared size, max_bytes, part size, open uploads
    assert (sl_upload_begin (up, "default", 200000, NULL, NULL, NULL, id, &err) == -1 && err.status == 413);
    assert (sl_upload_begin (up, "default", 2, NULL, NULL, NULL, id, &err) == 0);
    assert (sl_upload_part (up, "default", id, 0, "abc", 3, &received, &dup, &err) == -1 && err.status == 413);
    assert (sl_upload_part (up, "default", id, 0, "ab", 2, &received, &dup, &err) == -1 && err.status == 404);
    assert (sl_upload_open_count (up) == 0);
    char *big = calloc (1, SL_UPLOAD_PART_MAX + 1);
    assert (big);
    assert (sl_upload_begin (up, "default", -1, NULL, NULL, NULL, id, &err) == 0);
    assert (sl_upload_part (up, "default", id, 0, big, SL_UPLOAD_PART_MAX + 1, &received, &dup, &err) == -1
            && err.status == 413);
    for (int seq = 0; seq < 100; seq++)
        if (sl_upload_part (up, "default", id, seq, big, 2000, &received, &dup, &err))
            break;
    assert (err.status == 413 && strstr (err.message, "max_bytes"));
    free (big);
    char ids [3][SL_ID_LEN + 1];
    for (int i = 0; i < 3; i++)
        assert (sl_upload_begin (up, "default", -1, NULL, NULL, NULL, ids [i], &err) == 0);
    assert (sl_upload_begin (up, "default", -1, NULL, NULL, NULL, id, &err) == -1 && err.status == 429);
    assert (sl_upload_begin (up, "default", 0, NULL, NULL, NULL, id, &err) == -1 && err.status == 429);
    assert (sl_upload_abort (up, "default", ids [0], &err) == 0);
    assert (sl_upload_commit (up, "default", ids [1], NULL, &done, &err) == -1 && err.status == 400);

    //  Expiry: an idle upload (and a stray part file) disappear; a fresh
    //  one stays
    sl_upload_paths (up, ids [2], meta_path, part_path);
    assert (sl_upload_part (up, "default", ids [2], 0, "zz", 2, &received, &dup, &err) == 0);
    s_make_old (meta_path, 120);
    char stray [SL_UPLOAD_PATH_MAX + 64];
    snprintf (stray, sizeof stray, "%s/tmp/" SL_UPLOAD_PREFIX "0123456789abcdef0123456789abcdef.part", root);
    f = fopen (stray, "w");
    assert (f);
    fclose (f);
    s_make_old (stray, 120);
    assert (sl_upload_begin (up, "default", -1, NULL, NULL, NULL, id, &err) == 0);
    assert (sl_upload_sweep (up, NULL) == 2);
    assert (access (meta_path, F_OK) != 0 && access (part_path, F_OK) != 0 && access (stray, F_OK) != 0);
    assert (sl_upload_part (up, "default", ids [2], 1, "z", 1, &received, &dup, &err) == -1 && err.status == 404);
    assert (sl_upload_part (up, "default", id, 0, "ok", 2, &received, &dup, &err) == 0);
    assert (sl_upload_abort (up, "default", id, &err) == 0);

    //  Four threads race to send the same 64 parts: each applied once, in order
    size_t total = 64 * 1000;
    char *data = malloc (total);
    assert (data);
    for (size_t i = 0; i < total; i++)
        data [i] = (char) ('a' + (i * 7 + i / 13) % 26);
    assert (sl_upload_begin (up, "default", (int64_t) total, "race.txt", NULL, NULL, id, &err) == 0);
    pthread_t threads [4];
    s_racer_t racers [4];
    for (int i = 0; i < 4; i++) {
        racers [i] = (s_racer_t) { up, id, data, total, 1000, 0 };
        pthread_create (&threads [i], NULL, s_racer, &racers [i]);
    }
    int applied = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join (threads [i], NULL);
        applied += racers [i].applied;
    }
    assert (applied == 64);
    sl_sha256_hex (data, total, sha);
    assert (sl_upload_commit (up, "default", id, sha, &done, &err) == 0 && done.size == total);
    free (data);
    sl_upload_destroy (&up);
    s_test_offsets (blobs, root);

    assert (up == NULL);
    sl_blob_destroy (&blobs);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    assert (system (cmd) == 0);
    if (verbose)
        printf ("OK\n");
}
