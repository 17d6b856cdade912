/*  sl_schedule self-test: intervals, cron fields, next times, refusals. */
#include "sl_schedule.h"
#include "sl_check.h"

#include <stdio.h>
#include <string.h>

static int64_t
s_next (const char *text, int64_t after)
{
    char err [300];
    sl_schedule_t *schedule = sl_schedule_new (text, err, sizeof err);
    CHECK (schedule);
    int64_t next = sl_schedule_next (schedule, after);
    sl_schedule_destroy (&schedule);
    CHECK (schedule == NULL);
    return next;
}

static void
s_refused (const char *text, const char *says)
{
    char err [300] = "";
    sl_schedule_t *schedule = sl_schedule_new (text, err, sizeof err);
    CHECK (!schedule);
    CHECK (strstr (err, says));
}

void
sl_schedule_test (bool verbose)
{
    printf (" * sl_schedule: ");
    //  2026-12-07 18:53:20 UTC (a Monday)
    const int64_t now = 1796669600000LL;
    CASE ("intervals", {
        CHECK (s_next ("every 15m", now) == now + 15 * 60000);
        CHECK (s_next ("2s", now) == now + 2000);
        CHECK (s_next ("every 1d", now) == now + 86400000);
    });
    CASE ("cron", {
        //  every minute: the next whole minute
        CHECK (s_next ("* * * * *", now) == 1796669640000LL);
        //  03:00 daily: tomorrow 03:00
        CHECK (s_next ("0 3 * * *", now) == 1796698800000LL);
        //  every 15 minutes: 19:00
        CHECK (s_next ("*/15 * * * *", now) == 1796670000000LL);
        //  Sundays (0 or 7) at 12:30: 2026-12-13
        CHECK (s_next ("30 12 * * 0", now) == 1797165000000LL);
        CHECK (s_next ("30 12 * * 7", now) == 1797165000000LL);
        //  a list and a range
        CHECK (s_next ("5,50 18-19 * * *", now) == 1796670300000LL);
        //  a day that never comes
        CHECK (s_next ("0 0 31 2 *", now) == -1);
    });
    CASE ("refusals", {
        s_refused ("", "a schedule is needed");
        s_refused ("every 0m", "neither an interval");
        s_refused ("every 15 minutes", "neither an interval");
        s_refused ("61 * * * *", "cron minute field '61'");
        s_refused ("* * * 13 *", "cron month field");
        s_refused ("*/0 * * * *", "cron minute field");
        s_refused ("1-x * * * *", "cron minute field");
        s_refused ("* * * *", "neither an interval");
    });
    printf ("OK\n");
}
