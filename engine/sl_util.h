/*  sl_util: the small helpers every module needs: clocks, ids, hashing,
    file helpers. No state; all functions are thread-safe.
*/
#ifndef SL_UTIL_H_INCLUDED
#define SL_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ID_LEN 32            //  ids are 32 lowercase hex chars (128 bits)
#define SL_SHA256_HEX 65        //  64 hex chars + NUL

//  Wall clock in ms since the epoch (deadlines, timestamps on the wire).
int64_t sl_now_ms (void);

//  Monotonic clock in ms (timeouts, heartbeats: immune to clock jumps).
int64_t sl_mono_ms (void);

//  Write a fresh random id (SL_ID_LEN hex chars + NUL) into buf.
void sl_id_new (char buf [SL_ID_LEN + 1]);

//  Write a deterministic id derived from the given parts (sha256 of the
//  NUL-separated parts, first 128 bits). Used where a redelivered message
//  must produce the same downstream id, so duplicates are detectable.
void sl_id_derive (char buf [SL_ID_LEN + 1], const char *a, const char *b, const char *c);

//  sha256 of a buffer as lowercase hex.
void sl_sha256_hex (const void *data, size_t size, char out [SL_SHA256_HEX]);

//  Streaming sha256: opaque context; new, update, final (final frees ctx).
typedef struct sl_sha256_s sl_sha256_t;
sl_sha256_t *sl_sha256_new (void);
void sl_sha256_update (sl_sha256_t *self, const void *data, size_t size);
void sl_sha256_final (sl_sha256_t **self_p, char out [SL_SHA256_HEX]);

//  Create directory and parents (mkdir -p). Returns 0 or -1.
int sl_mkdirs (const char *path, int mode);

//  True if s is a valid id-like token: 1..64 chars of [A-Za-z0-9_.-].
//  Used to validate ids from the network before they touch file paths.
bool sl_token_valid (const char *s);

//  A TCP socket bound to 127.0.0.1 on a port the kernel picks, listening
//  with backlog if backlog > 0 (self-tests' little servers, and probes for
//  a port nobody listens on). Returns the fd (close-on-exec) and sets
//  *port, or -1.
int sl_loopback_listen (int backlog, int *port);

//  True if err (an errno value) says the disk or the caller's disk quota is
//  full (ENOSPC, EDQUOT): a write that will not succeed by retrying at once,
//  which stages report as "disk full writing ..." instead of a generic I/O
//  error.
bool sl_disk_full (int err);

//  Text bound for JSON, one policy for the engine's JSON (sl_json) and
//  libsluice's: true if s (n bytes) is valid UTF-8 (no overlongs, no
//  surrogates, no NUL) ...
bool sl_utf8_valid (const char *s, size_t n);

//  ... else a valid copy in which every invalid byte became U+FFFD. Length
//  in *out_len if not NULL. Caller frees.
char *sl_utf8_repair (const char *s, size_t len, size_t *out_len);

//  Padded base64 of size bytes (how bytes that are not UTF-8 reach JSON).
//  Caller frees.
char *sl_base64_encode (const void *data, size_t size);

//  The CPUs this process may use: those of its affinity mask, fewer if a
//  cgroup CPU quota (a container's or pod's CPU limit, cgroup v2 cpu.max
//  or v1 cpu.cfs_quota_us) allows less, rounded up; at least 1. sysconf
//  alone counts the node's cores, which a pod limited to 2 CPUs on a
//  64-core node must not size its thread pools by.
int sl_cpu_count (void);

//  The quota part, for tests: CPUs allowed by a cgroup v2 cpu.max text
//  ("max 100000", "250000 100000"), 0 if unlimited or not understood.
int sl_cpu_quota_v2 (const char *text);

void sl_util_test (bool verbose);

#endif
