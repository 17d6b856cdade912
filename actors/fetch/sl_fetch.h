/*  sl_fetch: download one document into the blob area.

    The first stage of the pipeline: a job names a URL, sl_fetch_url streams
    its bytes into an sl_blob writer (never whole in RAM, sha256 computed on
    the way), sniffs what the bytes really are (sl_sniff) and reports the
    blob's hash, size, MIME type and a safe file name. Schemes: http and
    https through libcurl, file:// read directly, only below configured roots.

    Because URLs come from users, the fetcher is a classic SSRF vector. The
    guard therefore judges the address libcurl is about to connect to (its
    open-socket hook), not the host name in the URL: DNS rebinding, a
    "localhost" alias, an IPv4-mapped IPv6 literal or a redirect to
    169.254.169.254 all end at the same check, and a refused address never
    gets a socket, so not one packet is sent. Loopback, private, link-local,
    CGNAT, multicast and reserved ranges are refused unless allow_cidrs
    lists them. Proxies from the environment are ignored for the same reason.

    Failures come back as SL_FETCH_PERMANENT (retrying cannot help) or
    SL_FETCH_RETRY (transient), with a message a person can act on, so the
    actor can decide between failing the job and requeueing it.

    Thread-safety: every call is independent (own curl handle); any number
    of threads may fetch at once into one shared sl_blob_t. libcurl's global
    init runs once, on first use. Calls block for up to total_timeout_ms.
*/
#ifndef SL_FETCH_H_INCLUDED
#define SL_FETCH_H_INCLUDED

#include "sl_blob.h"
#include "sl_sniff.h"

#include <stdbool.h>
#include <stddef.h>

//  Called with bytes stored so far and the announced total (0 if unknown).
typedef void (sl_fetch_progress_fn) (void *arg, size_t bytes_done, size_t bytes_total);

//  Start from sl_fetch_opts_defaults and change what you need; every field is
//  used as given (a 0 timeout or max_bytes means "none", so don't zero them
//  by accident). String fields are borrowed for the duration of the call.
typedef struct {
    long connect_timeout_ms;    //  default 5000
    long total_timeout_ms;      //  default 60000, whole transfer incl. redirects
    long low_speed_limit_bps;   //  default 1: slower than this ...
    long low_speed_time_s;      //  default 30: ... for this long => stalled, abort
    size_t max_bytes;           //  default 100 MiB, enforced while downloading
    long max_redirects;         //  default 5
    const char *allow_cidrs;    //  "127.0.0.1/32,::1/128": private/loopback
                                //  addresses allowed anyway; NULL = none
    const char *file_roots;     //  "/srv/docs:/data": directories file:// may
                                //  read below; NULL = file:// refused
    const char *user_agent;     //  default "sluice/0.1"
    sl_fetch_progress_fn *progress;     //  optional; at most every ~250 ms,
    void *progress_arg;                 //  plus once at the end
} sl_fetch_opts_t;

//  What a successful fetch produced. Strings are NUL-terminated; filename
//  is "" when neither the server nor the URL gave a usable one.
typedef struct {
    char sha256 [65];           //  blob hash (the blob is in the area)
    size_t size;                //  bytes
    char mime [128];            //  canonical MIME from sl_sniff_mime
    char filename [256];        //  sanitised: no slashes, no control chars
    char final_url [2048];      //  after redirects, credentials removed
    long http_status;           //  0 for file://
} sl_fetch_result_t;

#define SL_FETCH_PERMANENT (-1) //  retry cannot help: bad URL, refused
                                //  address, 4xx (not 408/429), too large,
                                //  unsupported scheme
#define SL_FETCH_RETRY     (-2) //  transient: timeout, refused/reset
                                //  connection, DNS failure, 5xx, 408, 429,
                                //  blob area write error

//  Fill opts with the defaults above.
void sl_fetch_opts_defaults (sl_fetch_opts_t *opts);

//  Download url into blobs. opts may be NULL (defaults). On success returns
//  0 and fills result (the blob is committed; the caller decides whether
//  result->mime is supported, see sl_sniff_supported). On failure returns
//  SL_FETCH_PERMANENT or SL_FETCH_RETRY, writes a message into err (if not
//  NULL), leaves no blob or temp file behind, and result holds what was
//  learnt (http_status, final_url) with sha256 "".
int sl_fetch_url (const sl_fetch_opts_t *opts, sl_blob_t *blobs, const char *url,
                  sl_fetch_result_t *result, char *err, size_t errlen);

//  What a conditional probe learnt (sl_fetch_probe).
typedef struct {
    long http_status;           //  304: unchanged; 2xx: changed (or no validator)
    char etag [256];            //  the response's ETag, "" if none
    char last_modified [64];    //  its Last-Modified, "" if none
} sl_fetch_probe_t;

//  Ask whether url changed since the validators a previous probe returned
//  (etag, last_modified: "" or NULL if none) with a HEAD request carrying
//  If-None-Match / If-Modified-Since, through the same address guard and
//  limits as sl_fetch_url, following redirects; no body is read. Returns 0
//  with probe filled for any HTTP answer below 400 (a 304 means unchanged),
//  else SL_FETCH_PERMANENT or SL_FETCH_RETRY with the reason in err, as
//  sl_fetch_url would.
int sl_fetch_probe (const sl_fetch_opts_t *opts, const char *url, const char *etag,
                    const char *last_modified, sl_fetch_probe_t *probe, char *err, size_t errlen);

//  Would the address guard let a fetch of url (http or https) connect?
//  Resolves its host now and judges every address as the guard will at
//  connect time (allow_cidrs from opts); 0 if one may be contacted, else
//  SL_FETCH_PERMANENT with the guard's reason (or a resolver failure's,
//  SL_FETCH_RETRY) in err. For refusing a URL when it is registered; the
//  guard still judges every later connection.
int sl_fetch_check_url (const sl_fetch_opts_t *opts, const char *url, char *err, size_t errlen);

//  True if path resolves (realpath) at or below one of roots ("/a:/b"), the
//  rule file:// URLs obey; false for NULL roots or a path that does not exist.
bool sl_fetch_path_allowed (const char *path, const char *roots);

void sl_fetch_test (bool verbose);

#endif
