/*  sl_parse_fanout: the page-range join (see the header for the design). */
#include "sl_parse_fanout.h"
#include "sl_records.h"

//  Far past parse.max_pages' ceiling: keeps page arithmetic in int
#define SL_FANOUT_MAX_PAGES 10000000

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
sl_fanout_ranges (int pages, int step)
{
    return step > 0 && pages > 0 ? (pages + step - 1) / step : 0;
}

bool
sl_fanout_range_valid (int first, int end, long long step, long long pages)
{
    if (step <= 0 || pages <= 0 || pages > SL_FANOUT_MAX_PAGES || step > pages
        || first < 1 || first > pages || (first - 1) % step != 0)
        return false;
    long long want = first + step <= pages + 1 ? first + step : pages + 1;
    return end == want;
}

void
sl_fanout_pages_path (const char *dir, int first, char *buf, size_t cap)
{
    snprintf (buf, cap, "%s/pages.r%d.mp", dir, first);
}

//  Write data to a unique temporary file beside path, fsync it and leave
//  its name in tmp. 0, or -1 with errno (and no file left).
static int
s_write_tmp (const char *path, const char *data, size_t size, char *tmp, size_t cap)
{
    snprintf (tmp, cap, "%s.XXXXXX", path);
    int fd = mkstemp (tmp);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, data + done, size - done);
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

//  Write path whole or not at all (a crash leaves the old file or the new)
static int
s_write_atomic (const char *path, const char *data, size_t size)
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

//  Read a small file into buf (NUL-terminated). Bytes read, or -1.
static ssize_t
s_read_small (const char *path, char *buf, size_t cap)
{
    int fd = open (path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read (fd, buf, cap - 1);
    close (fd);
    buf [n > 0 ? n : 0] = 0;
    return n;
}

int
sl_fanout_mark (const char *dir, int first, const sl_fanout_range_t *range)
{
    char path [1300], text [700];
    snprintf (path, sizeof path, "%s/range.%d.done", dir, first);
    int len = snprintf (text, sizeof text, "%d %lld %d\n%s", range->need_ocr, range->text_bytes,
                        range->over_at, range->title);
    return s_write_atomic (path, text, (size_t) (len < (int) sizeof text ? len : (int) sizeof text - 1));
}

//  Read range first's marker into range. false if it is missing or torn.
static bool
s_read_mark (const char *dir, int first, sl_fanout_range_t *range)
{
    char path [1300], text [700];
    snprintf (path, sizeof path, "%s/range.%d.done", dir, first);
    if (s_read_small (path, text, sizeof text) < 0)
        return false;
    char *title = strchr (text, '\n');
    if (!title || sscanf (text, "%d %lld %d", &range->need_ocr, &range->text_bytes, &range->over_at) != 3)
        return false;
    snprintf (range->title, sizeof range->title, "%s", title + 1);
    return true;
}

bool
sl_fanout_complete (const char *dir, int pages, int step, sl_fanout_range_t *total)
{
    memset (total, 0, sizeof *total);
    int ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; k < ranges; k++) {
        sl_fanout_range_t range;
        if (!s_read_mark (dir, 1 + k * step, &range))
            return false;
        total->need_ocr += range.need_ocr;
        total->text_bytes += range.text_bytes;
        if (!total->over_at)
            total->over_at = range.over_at;
        if (k == 0)
            snprintf (total->title, sizeof total->title, "%s", range.title);
    }
    return ranges > 0;
}

int
sl_fanout_claim (const char *dir, int first)
{
    char path [1300], tmp [1400], text [32];
    snprintf (path, sizeof path, "%s/join", dir);
    int len = snprintf (text, sizeof text, "%d", first);
    if (s_write_tmp (path, text, (size_t) len, tmp, sizeof tmp))
        return -1;
    //  link(2) never replaces: of two ranges claiming at once one wins
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
    if (s_read_small (path, owner, sizeof owner) < 0)
        return -1;
    return atoi (owner) == first ? 1 : 0;
}

//  Add range first's page texts to *sum; the page passing limit, 0 if
//  none, -1 if its pages cannot be read
static int
s_text_over_in (const char *dir, int first, size_t limit, size_t *sum)
{
    char path [1300], err [256];
    sl_fanout_pages_path (dir, first, path, sizeof path);
    sl_recr_t *in = sl_recr_new (path);
    if (!in)
        return -1;
    sl_mp_t *mp = NULL;
    int rc, over = 0;
    while (!over && (rc = sl_recr_next (in, &mp, err, sizeof err)) == 1) {
        const msgpack_object *t = sl_mp_get (sl_mp_root (mp), "t");
        int64_t page = 0;
        sl_mp_get_int (sl_mp_root (mp), "p", &page);
        size_t len = t && t->type == MSGPACK_OBJECT_STR ? t->via.str.size : 0;
        if (len > limit - *sum)
            over = (int) page;
        else
            *sum += len;
        sl_mp_destroy (&mp);
    }
    sl_recr_destroy (&in);
    return over ? over : rc < 0 ? -1 : 0;
}

int
sl_fanout_text_over (const char *dir, int pages, int step, size_t limit)
{
    size_t sum = 0;
    int ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; k < ranges; k++) {
        int over = s_text_over_in (dir, 1 + k * step, limit, &sum);
        if (over)
            return over;
        //  The page that stopped a range was not written: it passed the
        //  range's own count, so the document's too
        sl_fanout_range_t range;
        if (s_read_mark (dir, 1 + k * step, &range) && range.over_at)
            return range.over_at;
    }
    return 0;
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
sl_fanout_join (const char *dir, int pages, int step)
{
    char path [1300], tmp [1400], part [1300];
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    if (access (path, F_OK) == 0)
        return 0;
    //  The records format has no header: files concatenate
    if (s_write_tmp (path, "", 0, tmp, sizeof tmp))
        return -1;
    FILE *out = fopen (tmp, "wb");
    int rc = out ? 0 : -1;
    int ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; rc == 0 && k < ranges; k++) {
        sl_fanout_pages_path (dir, 1 + k * step, part, sizeof part);
        rc = s_append_file (out, part);
    }
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
sl_fanout_progress_set (const char *dir, int first, int done)
{
    char path [1300], text [32];
    snprintf (path, sizeof path, "%s/range.%d.progress", dir, first);
    int fd = open (path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        return;
    //  Fixed width, rewritten in place: a reader sees one number or the other
    int len = snprintf (text, sizeof text, "%10d", done);
    if (pwrite (fd, text, (size_t) len, 0) != len)
        errno = EIO;            //  best effort: progress is not the result
    close (fd);
}

int
sl_fanout_progress_sum (const char *dir, int pages, int step)
{
    int sum = 0, ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; k < ranges; k++) {
        char path [1300], text [32];
        snprintf (path, sizeof path, "%s/range.%d.progress", dir, 1 + k * step);
        if (s_read_small (path, text, sizeof text) > 0)
            sum += atoi (text);
    }
    return sum < pages ? sum : pages;
}
