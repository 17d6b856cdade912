/*  sl_log: JSON-lines logger. See sl_log.h. */
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

static int s_level = -1;           //  -1: not yet read from the environment
static __thread char s_role [32] = "main";

static const char *s_level_names [] = { "debug", "info", "warn", "error" };

void
sl_log_set_level (sl_log_level_t level)
{
    s_level = (int) level;
}

int
sl_log_level_parse (const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp (name, s_level_names [i]) == 0)
            return i;
    return -1;
}

void
sl_log_set_role (const char *role)
{
    snprintf (s_role, sizeof s_role, "%s", role ? role : "main");
    //  The thread's name too (15 bytes at most), so `top -H` and `perf`
    //  show which actor burns the CPU, not "sluiced" for all of them
    char name [16];
    snprintf (name, sizeof name, "%.15s", s_role);
    pthread_setname_np (pthread_self (), name);
}

void
sl_json_escape (char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = *len;
    for (; s && *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            buf [n++] = '\\';
            buf [n++] = (char) c;
        }
        else
        if (c == '\n') { buf [n++] = '\\'; buf [n++] = 'n'; }
        else
        if (c == '\t') { buf [n++] = '\\'; buf [n++] = 't'; }
        else
        if (c < 0x20)
            n += (size_t) snprintf (buf + n, cap - n, "\\u%04x", c);
        else
            buf [n++] = (char) c;
    }
    buf [n < cap ? n : cap - 1] = 0;
    *len = n;
}

void
sl_log (sl_log_level_t level, const char *job_id, const char *fmt, ...)
{
    if (s_level < 0) {
        int env = sl_log_level_parse (getenv ("SLUICE_LOG_LEVEL"));
        s_level = env >= 0 ? env : SL_LOG_INFO;
    }
    if ((int) level < s_level)
        return;

    char msg [2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (msg, sizeof msg, fmt, args);
    va_end (args);

    char line [4096];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    size_t len = strftime (line, sizeof line, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t) snprintf (line + len, sizeof line - len,
        ".%03ldZ\",\"level\":\"%s\",\"role\":\"", ts.tv_nsec / 1000000,
        s_level_names [level]);
    sl_json_escape (line, sizeof line, &len, s_role);
    if (job_id && *job_id) {
        len += (size_t) snprintf (line + len, sizeof line - len, "\",\"job\":\"");
        sl_json_escape (line, sizeof line, &len, job_id);
    }
    len += (size_t) snprintf (line + len, sizeof line - len, "\",\"msg\":\"");
    sl_json_escape (line, sizeof line - 3, &len, msg);
    len += (size_t) snprintf (line + len, sizeof line - len, "\"}\n");
    if (len >= sizeof line)
        len = sizeof line - 1;
    ssize_t rc = write (STDERR_FILENO, line, len);
    (void) rc;
}
