/*  sl_join: the file operations parts of a job meet through (see the
    header for the protocol). */
#include "sl_join.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Write data to a unique temporary file beside path, fsync it and leave
//  its name in tmp. 0, or -1 with errno (and no file left).
static int
s_write_tmp (const char *path, const void *data, size_t size, char *tmp, size_t cap)
{
    snprintf (tmp, cap, "%s.XXXXXX", path);
    int fd = mkstemp (tmp);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, (const char *) data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    int rc = done == size && fsync (fd) == 0 ? 0 : -1;
    int saved = errno;
    close (fd);
    if (rc) {
        unlink (tmp);
        errno = saved ? saved : EIO;
    }
    return rc;
}

int
sl_join_write (const char *path, const void *data, size_t size)
{
    char tmp [1400];
    if (s_write_tmp (path, data, size, tmp, sizeof tmp))
        return -1;
    if (rename (tmp, path)) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

ssize_t
sl_join_read (const char *path, char *buf, size_t cap)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read (fd, buf, cap - 1);
    close (fd);
    buf [n > 0 ? n : 0] = 0;
    return n;
}

int
sl_join_claim (const char *dir, const char *name, long long part)
{
    char path [1300], tmp [1400], text [32];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int len = snprintf (text, sizeof text, "%lld", part);
    if (s_write_tmp (path, text, (size_t) len, tmp, sizeof tmp))
        return -1;
    //  link(2) never replaces: of two parts claiming at once one wins
    int rc = link (tmp, path);
    int saved = errno;
    unlink (tmp);
    if (rc == 0)
        return 1;
    if (saved != EEXIST) {
        errno = saved;
        return -1;
    }
    char owner [32];
    if (sl_join_read (path, owner, sizeof owner) < 0)
        return -1;
    return atoll (owner) == part ? 1 : 0;
}

//  Append the file at path to out. 0, or -1 with errno.
static int
s_append_file (FILE *out, const char *path)
{
    FILE *in = fopen (path, "rb");
    if (!in)
        return -1;
    char buf [65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread (buf, 1, sizeof buf, in)) > 0)
        if (fwrite (buf, 1, n, out) != n)
            rc = -1;
    if (ferror (in))
        rc = -1;
    int saved = errno;
    fclose (in);
    errno = saved;
    return rc;
}

int
sl_join_concat (const char *path, const char *const *parts, int n)
{
    char tmp [1400];
    if (s_write_tmp (path, "", 0, tmp, sizeof tmp))
        return -1;
    FILE *out = fopen (tmp, "wb");
    int rc = out ? 0 : -1;
    for (int k = 0; rc == 0 && k < n; k++)
        rc = s_append_file (out, parts [k]);
    if (out && (fflush (out) || fsync (fileno (out))))
        rc = -1;
    if (out && fclose (out))
        rc = -1;
    if (rc == 0 && rename (tmp, path) == 0)
        return 0;
    int saved = errno;
    unlink (tmp);
    errno = saved ? saved : EIO;
    return -1;
}

void
sl_join_progress_set (const char *path, int done)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    //  Fixed width, rewritten in place: a reader sees one number or the other
    char text [32];
    int len = snprintf (text, sizeof text, "%10d", done);
    if (pwrite (fd, text, (size_t) len, 0) != len)
        errno = EIO;            //  best effort: progress is not the result
    close (fd);
}

int
sl_join_progress_get (const char *path)
{
    char text [32];
    return sl_join_read (path, text, sizeof text) > 0 ? atoi (text) : 0;
}
