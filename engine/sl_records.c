/*  sl_records: length-prefixed msgpack record files. See sl_records.h. */
#include "sl_records.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _sl_recw_t {
    FILE *file;
    char *path;
    char *tmp;
    bool failed;
    int error;          //  errno of the first failure
};

struct _sl_recr_t {
    FILE *file;
    char *buf;          //  current record bytes (the decoded object points in)
    size_t cap;
};

sl_recw_t *
sl_recw_new (const char *path)
{
    sl_recw_t *self = calloc (1, sizeof *self);
    assert (self);
    self->path = strdup (path);
    //  A unique temp name: two deliveries of the same message (a worker
    //  declared dead that was only slow) may write the same artifact at
    //  once; each writes its own file and the last rename wins whole
    char id [SL_ID_LEN + 1];
    sl_id_new (id);
    self->tmp = malloc (strlen (path) + SL_ID_LEN + 6);
    sprintf (self->tmp, "%s.%s.tmp", path, id);
    self->file = fopen (self->tmp, "wb");
    if (!self->file) {
        free (self->path);
        free (self->tmp);
        free (self);
        return NULL;
    }
    return self;
}

int
sl_recw_write (sl_recw_t *self, const void *data, size_t size)
{
    if (self->failed)
        return -1;
    if (size > SL_RECORD_MAX) {
        self->failed = true;
        self->error = EMSGSIZE;
        return -1;
    }
    unsigned char len [4] = { (unsigned char) size, (unsigned char) (size >> 8),
                              (unsigned char) (size >> 16), (unsigned char) (size >> 24) };
    if (fwrite (len, 1, 4, self->file) != 4 || fwrite (data, 1, size, self->file) != size) {
        self->failed = true;
        self->error = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

int
sl_recw_error (sl_recw_t *self)
{
    return self->error;
}

int
sl_recw_write_mpw (sl_recw_t *self, sl_mpw_t *w)
{
    int rc = sl_recw_write (self, w->buf.data, w->buf.size);
    msgpack_sbuffer_clear (&w->buf);
    return rc;
}

static void
s_writer_free (sl_recw_t *self)
{
    free (self->path);
    free (self->tmp);
    free (self);
}

int
sl_recw_commit (sl_recw_t **self_p)
{
    sl_recw_t *self = *self_p;
    *self_p = NULL;
    int rc = 0, error = self->error;
    if (self->failed)
        rc = -1;
    else
    if (fflush (self->file) || fsync (fileno (self->file))) {
        rc = -1;
        error = errno;
    }
    if (fclose (self->file) && rc == 0) {
        rc = -1;
        error = errno;
    }
    if (rc == 0 && rename (self->tmp, self->path)) {
        rc = -1;
        error = errno;
    }
    if (rc)
        unlink (self->tmp);
    s_writer_free (self);
    if (rc)
        errno = error ? error : EIO;
    return rc;
}

void
sl_recw_abort (sl_recw_t **self_p)
{
    if (*self_p) {
        fclose ((*self_p)->file);
        unlink ((*self_p)->tmp);
        s_writer_free (*self_p);
        *self_p = NULL;
    }
}

sl_recr_t *
sl_recr_new (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    sl_recr_t *self = calloc (1, sizeof *self);
    assert (self);
    self->file = file;
    return self;
}

void
sl_recr_destroy (sl_recr_t **self_p)
{
    if (*self_p) {
        fclose ((*self_p)->file);
        free ((*self_p)->buf);
        free (*self_p);
        *self_p = NULL;
    }
}

int
sl_recr_next (sl_recr_t *self, sl_mp_t **mp_p, char *err, size_t errlen)
{
    unsigned char len [4];
    size_t got = fread (len, 1, 4, self->file);
    if (got == 0 && feof (self->file))
        return 0;
    if (got != 4) {
        snprintf (err, errlen, "record file truncated in a length prefix");
        return -1;
    }
    size_t size = (size_t) len [0] | (size_t) len [1] << 8 | (size_t) len [2] << 16 | (size_t) len [3] << 24;
    if (size > SL_RECORD_MAX) {
        snprintf (err, errlen, "record of %zu bytes exceeds the limit", size);
        return -1;
    }
    if (size > self->cap) {
        char *buf = realloc (self->buf, size ? size : 1);
        if (!buf) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        self->buf = buf;
        self->cap = size;
    }
    if (fread (self->buf, 1, size, self->file) != size) {
        snprintf (err, errlen, "record file truncated in a record");
        return -1;
    }
    //  The previous record's object may point into buf: callers must have
    //  destroyed it before asking for the next one (documented in .h)
    *mp_p = sl_mp_decode (self->buf, size, err, errlen);
    return *mp_p ? 1 : -1;
}

void
sl_records_test (bool verbose)
{
    char dir [] = "/tmp/sl_records_XXXXXX";
    assert (mkdtemp (dir));
    char path [128];
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    sl_recw_t *w = sl_recw_new (path);
    assert (w);
    sl_mpw_t mpw;
    sl_mpw_init (&mpw);
    for (int i = 0; i < 100; i++) {
        msgpack_pack_map (&mpw.pk, 2);
        sl_mpw_kv_int (&mpw, "p", i + 1);
        sl_mpw_kv_str (&mpw, "t", "some page text");
        assert (sl_recw_write_mpw (w, &mpw) == 0);
    }
    assert (access (path, F_OK) != 0);          //  invisible until commit
    assert (sl_recw_commit (&w) == 0 && w == NULL);
    sl_recr_t *r = sl_recr_new (path);
    assert (r);
    sl_mp_t *mp;
    char err [128];
    int n = 0, rc;
    while ((rc = sl_recr_next (r, &mp, err, sizeof err)) == 1) {
        int64_t p;
        assert (sl_mp_get_int (sl_mp_root (mp), "p", &p) == 0 && p == n + 1);
        sl_mp_destroy (&mp);
        n++;
    }
    assert (rc == 0 && n == 100);
    sl_recr_destroy (&r);
    //  A truncated file is an error, not a crash
    assert (truncate (path, 60) == 0);      //  mid-record (records are 25 bytes)
    r = sl_recr_new (path);
    while ((rc = sl_recr_next (r, &mp, err, sizeof err)) == 1)
        sl_mp_destroy (&mp);
    assert (rc == -1 && strstr (err, "truncated"));
    sl_recr_destroy (&r);
    //  Garbage length prefix
    FILE *f = fopen (path, "wb");
    fwrite ("\xff\xff\xff\xff", 1, 4, f);
    fclose (f);
    r = sl_recr_new (path);
    assert (sl_recr_next (r, &mp, err, sizeof err) == -1);
    sl_recr_destroy (&r);
    //  Abort leaves nothing
    w = sl_recw_new (path);
    sl_recw_abort (&w);
    char cmd [200];
    snprintf (cmd, sizeof cmd, "test $(ls %s | wc -l) = 1", dir);
    assert (system (cmd) == 0);
    sl_mpw_reset (&mpw);
    unlink (path);
    rmdir (dir);
    if (verbose)
        printf ("sl_records: OK\n");
}
