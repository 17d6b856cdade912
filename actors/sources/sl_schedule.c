/*  sl_schedule: intervals and five-field cron. See sl_schedule.h. */
#include "sl_schedule.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _sl_schedule_t {
    int64_t interval_ms;            //  > 0: an interval; 0: cron
    uint64_t minute;                //  bit i: value i matches
    uint64_t hour;
    uint64_t dom;
    uint64_t month;
    uint64_t dow;
    bool dom_any;                   //  "*": for the either-day rule
    bool dow_any;
};

static const struct { const char *name; int lo, hi; } s_fields [5] = {
    { "minute", 0, 59 }, { "hour", 0, 23 }, { "day of month", 1, 31 }, { "month", 1, 12 },
    { "day of week", 0, 7 }
};

//  A number at *p within lo..hi; -1 if none or out of range.
static int
s_number (const char **p, int lo, int hi)
{
    if (!isdigit ((unsigned char) **p))
        return -1;
    long value = 0;
    while (isdigit ((unsigned char) **p) && value < 1000)
        value = value * 10 + (*(*p)++ - '0');
    return value < lo || value > hi ? -1 : (int) value;
}

//  One field ("*", "5", "1-5", "*/15", "1-30/2", comma lists) into bits.
static int
s_field (const char *text, int index, uint64_t *bits, bool *any, char *err, size_t errlen)
{
    int lo = s_fields [index].lo, hi = s_fields [index].hi;
    const char *p = text;
    *bits = 0;
    *any = strcmp (text, "*") == 0;
    while (*p) {
        int from, to, step = 1;
        if (*p == '*') {
            from = lo;
            to = hi;
            p++;
        }
        else {
            from = to = s_number (&p, lo, hi);
            if (from >= 0 && *p == '-') {
                p++;
                to = s_number (&p, lo, hi);
            }
        }
        if (from >= 0 && to >= from && *p == '/') {
            p++;
            step = s_number (&p, 1, hi);
        }
        if (from < 0 || to < from || step < 1 || (*p && *p != ',')) {
            snprintf (err, errlen, "cron %s field '%.40s' is not valid: use *, a number %d-%d, "
                      "a range a-b, a step */n or a-b/n, or a comma list of those",
                      s_fields [index].name, text, lo, hi);
            return -1;
        }
        for (int v = from; v <= to; v += step)
            *bits |= 1ULL << v;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int
s_interval (const char *text, int64_t *ms, char *err, size_t errlen)
{
    if (strncmp (text, "every ", 6) == 0)
        text += 6;
    while (*text == ' ')
        text++;
    char *end;
    long long n = strtoll (text, &end, 10);
    int64_t unit = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000
                 : *end == 'd' ? 86400000 : 0;
    if (end == text || !unit || end [1] || n < 1 || n * unit > 366LL * 86400000) {
        snprintf (err, errlen, "schedule '%.60s' is neither an interval ('every 15m': a number "
                  "with s, m, h or d, from 1s to 366d) nor a cron expression of five fields "
                  "(minute hour day-of-month month day-of-week, such as '0 3 * * *')", text);
        return -1;
    }
    *ms = n * unit;
    return 0;
}

sl_schedule_t *
sl_schedule_new (const char *text, char *err, size_t errlen)
{
    if (!text || !*text || strlen (text) > 200) {
        snprintf (err, errlen, "a schedule is needed: an interval such as 'every 15m' or a "
                  "cron expression such as '0 3 * * *' (at most 200 characters)");
        return NULL;
    }
    sl_schedule_t *self = calloc (1, sizeof *self);
    assert (self);
    char copy [201];
    snprintf (copy, sizeof copy, "%s", text);
    char *fields [6];
    int count = 0;
    for (char *save = NULL, *tok = strtok_r (copy, " \t", &save); tok && count < 6;
         tok = strtok_r (NULL, " \t", &save))
        fields [count++] = tok;
    int rc;
    if (count == 5) {
        uint64_t *bits [5] = { &self->minute, &self->hour, &self->dom, &self->month, &self->dow };
        bool dummy;
        rc = 0;
        for (int i = 0; i < 5 && rc == 0; i++)
            rc = s_field (fields [i], i, bits [i], i == 2 ? &self->dom_any
                          : i == 4 ? &self->dow_any : &dummy, err, errlen);
        if (self->dow & (1ULL << 7))
            self->dow |= 1;         //  7 is Sunday too
    }
    else
        rc = s_interval (text, &self->interval_ms, err, errlen);
    if (rc)
        sl_schedule_destroy (&self);
    return self;
}

void
sl_schedule_destroy (sl_schedule_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

static bool
s_day_matches (const sl_schedule_t *self, const struct tm *tm)
{
    bool dom = (self->dom >> tm->tm_mday) & 1;
    bool dow = (self->dow >> tm->tm_wday) & 1;
    if (!self->dom_any && !self->dow_any)
        return dom || dow;
    return dom && dow;
}

int64_t
sl_schedule_next (const sl_schedule_t *self, int64_t after_ms)
{
    assert (self);
    if (self->interval_ms)
        return after_ms + self->interval_ms;
    //  Minute by minute, skipping whole days and hours that cannot match:
    //  at most a few thousand steps for any expression
    time_t t = (time_t) (after_ms / 1000 / 60 + 1) * 60;
    time_t limit = t + 5 * 366 * 86400;
    while (t < limit) {
        struct tm tm;
        gmtime_r (&t, &tm);
        if (!((self->month >> (tm.tm_mon + 1)) & 1) || !s_day_matches (self, &tm)) {
            t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
            continue;
        }
        if (!((self->hour >> tm.tm_hour) & 1)) {
            t += 3600 - tm.tm_min * 60;
            continue;
        }
        if ((self->minute >> tm.tm_min) & 1)
            return (int64_t) t * 1000;
        t += 60;
    }
    return -1;
}
