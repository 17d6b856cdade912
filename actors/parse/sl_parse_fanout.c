/*  sl_parse_fanout: the page-range join (see the header for the design;
    the file operations the ranges meet through are engine/sl_join's). */
#include "sl_parse_fanout.h"
#include "sl_join.h"
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

int
sl_fanout_mark (const char *dir, int first, const sl_fanout_range_t *range)
{
    char path [1300], text [700];
    snprintf (path, sizeof path, "%s/range.%d.done", dir, first);
    int len = snprintf (text, sizeof text, "%d %lld %d\n%s", range->need_ocr, range->text_bytes,
                        range->over_at, range->title);
    return sl_join_write (path, text, (size_t) (len < (int) sizeof text ? len : (int) sizeof text - 1));
}

//  Read range first's marker into range. false if it is missing or torn.
static bool
s_read_mark (const char *dir, int first, sl_fanout_range_t *range)
{
    char path [1300], text [700];
    snprintf (path, sizeof path, "%s/range.%d.done", dir, first);
    if (sl_join_read (path, text, sizeof text) < 0)
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
    return sl_join_claim (dir, "join", first);
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

int
sl_fanout_join (const char *dir, int pages, int step)
{
    char path [1300];
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    if (access (path, F_OK) == 0)
        return 0;
    int ranges = sl_fanout_ranges (pages, step);
    char (*names) [1300] = calloc ((size_t) ranges, sizeof *names);
    const char **parts = calloc ((size_t) ranges, sizeof *parts);
    int rc = -1;
    if (names && parts) {
        for (int k = 0; k < ranges; k++) {
            sl_fanout_pages_path (dir, 1 + k * step, names [k], sizeof names [k]);
            parts [k] = names [k];
        }
        rc = sl_join_concat (path, parts, ranges);
    }
    else
        errno = ENOMEM;
    int saved = errno;
    free (names);
    free (parts);
    errno = saved;
    return rc;
}

void
sl_fanout_progress_set (const char *dir, int first, int done)
{
    char path [1300];
    snprintf (path, sizeof path, "%s/range.%d.progress", dir, first);
    sl_join_progress_set (path, done);
}

int
sl_fanout_progress_sum (const char *dir, int pages, int step)
{
    int sum = 0, ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; k < ranges; k++) {
        char path [1300];
        snprintf (path, sizeof path, "%s/range.%d.progress", dir, 1 + k * step);
        sum += sl_join_progress_get (path);
    }
    return sum < pages ? sum : pages;
}
