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
sl_recr_skip (sl_recr_t *self, int64_t n, char *err, size_t errlen)
{
    //  Only the length prefixes are read: the bodies are seeked over, so a
    //  part of a document's chunks starts without decoding those before it
    for (int64_t i = 0; i < n; i++) {
        unsigned char len [4];
        if (fread (len, 1, 4, self->file) != 4) {
            snprintf (err, errlen, "record file ends before record %lld", (long long) n);
            return -1;
        }
        size_t size = (size_t) len [0] | (size_t) len [1] << 8 | (size_t) len [2] << 16 | (size_t) len [3] << 24;
        if (size > SL_RECORD_MAX || fseeko (self->file, (off_t) size, SEEK_CUR)) {
            snprintf (err, errlen, "record file corrupt before record %lld", (long long) n);
            return -1;
        }
    }
    return 0;
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
