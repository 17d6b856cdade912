/*  sl_schedule: when a source syncs by itself.

    A schedule is written one of two ways:
      - an interval: "every 15m" (or just "15m"): s, m, h or d, at least
        one second, at most 366 days; the next sync is that long after the
        last one began;
      - a cron expression of five fields, minute hour day-of-month month
        day-of-week, each "*", a number, a range "a-b", a step "*\/n" or
        "a-b/n", or a comma list of those; day-of-week 0-7 (0 and 7 are
        Sunday). As in Vixie cron, when both day fields are restricted a
        day matching either is a match. Times are UTC.
    Anything else is refused with a sentence saying what is wrong and what
    is allowed, for the caller to show as it is.

    The next time is computed, never stored as a cursor: after a crash or a
    long stop the source is due once, not once per missed slot.
*/
#ifndef SL_SCHEDULE_H_INCLUDED
#define SL_SCHEDULE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sl_schedule_t sl_schedule_t;

//  Parse text; NULL with the reason in err if it is not a schedule.
sl_schedule_t *sl_schedule_new (const char *text, char *err, size_t errlen);
void sl_schedule_destroy (sl_schedule_t **self_p);

//  The first time strictly after after_ms (Unix ms) the schedule fires:
//  for an interval, after_ms + the interval; for cron, the next matching
//  minute (-1 if none within 5 years: "0 0 31 2 *").
int64_t sl_schedule_next (const sl_schedule_t *self, int64_t after_ms);

void sl_schedule_test (bool verbose);

#endif
