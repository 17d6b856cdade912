/*  sl_log: structured logging, one JSON object per line on stderr.

    Every line carries a timestamp, level, the logging thread's role (the
    actor name set with sl_log_set_role) and, when known, the job id, so an
    operator can `grep '"job":"<id>"'` across every process of a cluster.
    Thread-safe: each line is formatted into a local buffer and written with
    one write(2), so lines from concurrent actors never interleave.
*/
#ifndef SL_LOG_H_INCLUDED
#define SL_LOG_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

//  Set the minimum level written (default INFO; SLUICE_LOG_LEVEL overrides).
void sl_log_set_level (sl_log_level_t level);

//  Parse "debug", "info", "warn", "error"; returns -1 if unknown.
int sl_log_level_parse (const char *name);

//  Name the calling thread's role ("broker", "parse", ...). Copied.
void sl_log_set_role (const char *role);

//  Write one line. job_id may be NULL. The message is printf-formatted and
//  JSON-escaped.
void sl_log (sl_log_level_t level, const char *job_id, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define sl_debug(job, ...) sl_log (SL_LOG_DEBUG, (job), __VA_ARGS__)
#define sl_info(job, ...)  sl_log (SL_LOG_INFO,  (job), __VA_ARGS__)
#define sl_warn(job, ...)  sl_log (SL_LOG_WARN,  (job), __VA_ARGS__)
#define sl_error(job, ...) sl_log (SL_LOG_ERROR, (job), __VA_ARGS__)

//  Append s to buf (capacity cap, current length *len) as a JSON string body
//  (no quotes); truncates safely. Shared with other JSON writers.
void sl_json_escape (char *buf, size_t cap, size_t *len, const char *s);

void sl_log_test (bool verbose);

#endif
