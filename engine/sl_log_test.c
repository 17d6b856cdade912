/*  sl_log_test: self-test of sl_log.

    Level names, the per-thread role, and JSON escaping of log
    fields (truncation never overflows).
*/
#include "sl_log.h"
#include "sl_util.h"
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

void
sl_log_test (bool verbose)
{
    char buf [64];
    size_t len = 0;
    sl_json_escape (buf, sizeof buf, &len, "a\"b\\c\nd\x01");
    assert (strcmp (buf, "a\\\"b\\\\c\\nd\\u0001") == 0);
    //  Truncation never overflows
    char small [8];
    len = 0;
    sl_json_escape (small, sizeof small, &len, "\"\"\"\"\"\"\"\"\"\"");
    assert (strlen (small) < sizeof small);
    assert (sl_log_level_parse ("WARN") == SL_LOG_WARN);
    assert (sl_log_level_parse ("nope") == -1);
    if (verbose) {
        sl_log_set_role ("test");
        sl_info ("job-1", "hello %d", 42);
    }
}
