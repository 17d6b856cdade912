/*  sl_fetch: one URL in, one blob out. See sl_fetch.h for the contract.

    Layout of this file:
      - the address guard: classify an IP address, parse allow_cidrs, and
        the libcurl open-socket hook that applies both before connect();
      - header/body/progress callbacks that track the current response
        (each redirect hop starts a fresh header block) and stream the body
        into an sl_blob writer, enforcing max_bytes as bytes arrive;
      - file:// handling, done here rather than by libcurl so the root check
        applies to the file actually opened;
      - error mapping from curl codes and HTTP statuses to PERMANENT/RETRY.
    The self-test is in sl_fetch_test.c.
*/
#include "sl_fetch_internal.h"
#include "sl_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PROGRESS_EVERY_MS 250
#define S_MAX_URL 2047          //  fits result.final_url

//  Test hooks, declared in sl_fetch_internal.h
atomic_bool sl_fetch_test_loopback_only;
atomic_int sl_fetch_test_offhost_attempts;

//  --------------------------------------------------------------------------
//  Address guard


static const char *
s_ipv4_reason (const unsigned char *a)
{
    uint32_t ip = (uint32_t) a [0] << 24 | (uint32_t) a [1] << 16 | (uint32_t) a [2] << 8 | a [3];
    if ((ip >> 24) == 0)
        return "unspecified (0.0.0.0/8) address";
    if ((ip >> 24) == 10 || (ip >> 20) == (172 << 4 | 1) || (ip >> 16) == (192 << 8 | 168))
        return "private address";
    if ((ip >> 24) == 127)
        return "loopback address";
    if (ip == 0xA9FEA9FE)
        return "link-local address (cloud metadata service)";
    if ((ip >> 16) == (169 << 8 | 254))
        return "link-local address";
    if ((ip >> 22) == (100 << 2 | 1))
        return "shared (CGNAT 100.64.0.0/10) address";
    if ((ip >> 8) == (192u << 16 | 0 << 8 | 0) || (ip >> 17) == (198u << 7 | 18 >> 1))
        return "reserved address";
    if ((ip >> 28) == 0xE)
        return "multicast address";
    if ((ip >> 28) == 0xF)
        return "reserved address";
    return NULL;
}

//  The IPv4 address an IPv6 address stands for, if it embeds one that
//  reaches an IPv4 host: mapped ::ffff:a.b.c.d, deprecated compatible
//  ::a.b.c.d, NAT64 64:ff9b::a.b.c.d and 6to4 2002:AABB:CCDD::.
static const unsigned char *
s_ipv6_embedded_v4 (const unsigned char *a)
{
    static const unsigned char mapped [12] = { 0,0,0,0, 0,0,0,0, 0,0,0xFF,0xFF };
    static const unsigned char zero [12] = { 0 };
    static const unsigned char nat64 [12] = { 0,0x64,0xFF,0x9B, 0,0,0,0, 0,0,0,0 };
    if (memcmp (a, mapped, 12) == 0 || memcmp (a, zero, 12) == 0 || memcmp (a, nat64, 12) == 0)
        return a + 12;
    if (a [0] == 0x20 && a [1] == 0x02)
        return a + 2;
    return NULL;
}

//  Why this address must not be contacted, or NULL if it is public.
const char *
sl_fetch_addr_reason (int family, const unsigned char *a)
{
    if (family == AF_INET)
        return s_ipv4_reason (a);
    static const unsigned char zero [16] = { 0 };
    if (memcmp (a, zero, 16) == 0)
        return "unspecified (::) address";
    if (memcmp (a, zero, 15) == 0 && a [15] == 1)
        return "loopback address";
    const unsigned char *v4 = s_ipv6_embedded_v4 (a);
    if (v4)
        return s_ipv4_reason (v4);
    if ((a [0] & 0xFE) == 0xFC)
        return "private (unique local fc00::/7) address";
    if (a [0] == 0xFE && (a [1] & 0xC0) == 0x80)
        return "link-local address";
    if (a [0] == 0xFE && (a [1] & 0xC0) == 0xC0)
        return "private (site-local fec0::/10) address";
    if (a [0] == 0xFF)
        return "multicast address";
    if (a [0] == 0 && a [1] == 0x64 && a [2] == 0xFF && a [3] == 0x9B && a [4] == 0 && a [5] == 1)
        return "private (local NAT64 64:ff9b:1::/48) address";
    return NULL;
}

static bool
s_cidr_match (const sl_fetch_cidr_t *cidr, int family, const unsigned char *a)
{
    if (cidr->family != family)
        return false;
    int bits = cidr->prefix;
    int i = 0;
    for (; bits >= 8; bits -= 8, i++)
        if (a [i] != cidr->addr [i])
            return false;
    if (bits) {
        unsigned char mask = (unsigned char) (0xFF << (8 - bits));
        if ((a [i] & mask) != (cidr->addr [i] & mask))
            return false;
    }
    return true;
}

//  Parse "a.b.c.d/n,x::y/m,..." into *list. Returns count, or -1 with the
//  offending entry copied into bad.
int
sl_fetch_cidrs_parse (const char *spec, sl_fetch_cidr_t **list, char *bad, size_t badcap)
{
    *list = NULL;
    if (!spec)
        return 0;
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    sl_fetch_cidr_t *cidrs = calloc (cap, sizeof *cidrs);
    assert (cidrs);
    int count = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr (p, ',');
        if (!end)
            end = p + strlen (p);
        //  Trim spaces around the entry
        const char *s = p, *e = end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e [-1] == ' ' || e [-1] == '\t'))
            e--;
        if (e > s) {
            char entry [80];
            size_t len = (size_t) (e - s);
            bool ok = len < sizeof entry;
            if (ok) {
                memcpy (entry, s, len);
                entry [len] = 0;
                sl_fetch_cidr_t *cidr = &cidrs [count];
                char *slash = strchr (entry, '/');
                if (slash)
                    *slash = 0;
                if (inet_pton (AF_INET, entry, cidr->addr) == 1) {
                    cidr->family = AF_INET;
                    cidr->prefix = 32;
                }
                else
                if (inet_pton (AF_INET6, entry, cidr->addr) == 1) {
                    cidr->family = AF_INET6;
                    cidr->prefix = 128;
                }
                else
                    ok = false;
                if (ok && slash) {
                    char *tail;
                    errno = 0;
                    long prefix = strtol (slash + 1, &tail, 10);
                    if (errno || tail == slash + 1 || *tail || prefix < 0 || prefix > cidr->prefix)
                        ok = false;
                    else
                        cidr->prefix = (int) prefix;
                }
                if (ok)
                    count++;
            }
            if (!ok) {
                snprintf (bad, badcap, "%.*s", (int) (len < 64 ? len : 64), s);
                free (cidrs);
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    *list = cidrs;
    return count;
}

//  Decide about one address; NULL if it may be contacted, else the reason.
//  text receives the address in printable form.
const char *
sl_fetch_guard (sl_fetch_ctx_t *ctx, int family, const unsigned char *a, char *text, size_t cap)
{
    inet_ntop (family, a, text, (socklen_t) cap);
    const char *reason = sl_fetch_addr_reason (family, a);
    if (!reason)
        return NULL;
    const unsigned char *v4 = family == AF_INET6 ? s_ipv6_embedded_v4 (a) : NULL;
    for (int i = 0; i < ctx->allow_count; i++)
        if (s_cidr_match (&ctx->allow [i], family, a)
        ||  (v4 && s_cidr_match (&ctx->allow [i], AF_INET, v4)))
            return NULL;
    return reason;
}

//  libcurl calls this instead of socket() for every connection it makes,
//  with the resolved address: the one place a check cannot be bypassed.
static curl_socket_t
s_opensocket (void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
    sl_fetch_ctx_t *ctx = arg;
    unsigned char a [16];
    int family = address->family;
    if (family == AF_INET && address->addrlen >= sizeof (struct sockaddr_in))
        memcpy (a, &((struct sockaddr_in *) &address->addr)->sin_addr, 4);
    else
    if (family == AF_INET6 && address->addrlen >= sizeof (struct sockaddr_in6))
        memcpy (a, &((struct sockaddr_in6 *) &address->addr)->sin6_addr, 16);
    else {
        if (!ctx->refused [0])
            snprintf (ctx->refused, sizeof ctx->refused,
                      "refused to connect: not an IP address (family %d)", family);
        return CURL_SOCKET_BAD;
    }
    char text [INET6_ADDRSTRLEN];
    const char *reason = sl_fetch_guard (ctx, family, a, text, sizeof text);
    if (reason) {
        if (!ctx->refused [0])
            snprintf (ctx->refused, sizeof ctx->refused,
                      "refused to connect to %s: %s (add it to fetch.allow_cidrs to allow)",
                      text, reason);
        return CURL_SOCKET_BAD;
    }
    if (atomic_load (&sl_fetch_test_loopback_only)
    &&  !(family == AF_INET && a [0] == 127 && a [1] == 0 && a [2] == 0 && a [3] == 1)) {
        atomic_fetch_add (&sl_fetch_test_offhost_attempts, 1);
        snprintf (ctx->refused, sizeof ctx->refused, "self-test: refused off-host %s", text);
        return CURL_SOCKET_BAD;
    }
    ctx->opened++;
    return socket (family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

//  --------------------------------------------------------------------------
//  Names and messages

//  Length of the UTF-8 character at p (at most left bytes), 0 if invalid.
static int
s_utf8_len (const unsigned char *p, size_t left)
{
    unsigned char c = p [0];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4 : 0;
    if ((len == 2 && c < 0xC2) || (size_t) len > left)
        return 0;               //  overlong, or cut off
    for (int i = 1; i < len; i++)
        if ((p [i] & 0xC0) != 0x80)
            return 0;
    return len;
}

//  Make a server- or URL-supplied name safe to show and store: keep only
//  the last path component, drop control characters, replace invalid UTF-8
//  with '_', refuse "." and "..", cap the length at a character boundary.
void
sl_fetch_sanitize_filename (const char *in, size_t in_len, char *out, size_t cap)
{
    const char *base = in;
    for (size_t i = 0; i < in_len; i++)
        if (in [i] == '/' || in [i] == '\\')
            base = in + i + 1;
    const unsigned char *p = (const unsigned char *) base, *end = (const unsigned char *) in + in_len;
    size_t len = 0;
    while (p < end && *p) {
        int n = s_utf8_len (p, (size_t) (end - p));
        if (n == 0) {
            if (len + 1 >= cap)
                break;
            out [len++] = '_';
            p++;
            continue;
        }
        if (n == 1 && (*p < 0x20 || *p == 0x7F)) {
            p++;
            continue;
        }
        if (len + (size_t) n >= cap)
            break;
        memcpy (out + len, p, (size_t) n);
        len += (size_t) n;
        p += n;
    }
    //  Trim spaces; a name of only dots means nothing
    while (len && out [len - 1] == ' ')
        len--;
    size_t start = 0;
    while (start < len && out [start] == ' ')
        start++;
    memmove (out, out + start, len - start);
    len -= start;
    out [len] = 0;
    if (strspn (out, ".") == len)
        out [0] = 0;
}

static int
s_hexval (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

//  Percent-decode in place (RFC 5987 values); "%00" stays literal.
static void
s_pct_decode (char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = s_hexval (r [1])) >= 0 && (lo = s_hexval (r [2])) >= 0
        &&  (hi || lo)) {
            *w++ = (char) (hi << 4 | lo);
            r += 2;
        }
        else
            *w++ = *r;
    }
    *w = 0;
}

//  The filename from a Content-Disposition value: filename* (RFC 6266 /
//  5987) preferred over filename. Writes "" if none.
void
sl_fetch_disposition_filename (const char *value, char *out, size_t cap)
{
    char plain [512] = "", extended [512] = "";
    const char *p = value;
    while (*p) {
        while (*p == ';' || *p == ' ' || *p == '\t')
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        size_t name_len = (size_t) (p - name);
        while (name_len && (name [name_len - 1] == ' ' || name [name_len - 1] == '\t'))
            name_len--;
        if (*p != '=')
            continue;           //  a bare token like "attachment"
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char val [512];
        size_t len = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p [1])
                    p++;
                if (len + 1 < sizeof val)
                    val [len++] = *p;
            }
            if (*p == '"')
                p++;
        }
        else
            for (; *p && *p != ';'; p++)
                if (len + 1 < sizeof val)
                    val [len++] = *p;
        while (len && (val [len - 1] == ' ' || val [len - 1] == '\t'))
            len--;
        val [len] = 0;
        if (name_len == 8 && strncasecmp (name, "filename", 8) == 0)
            snprintf (plain, sizeof plain, "%s", val);
        else
        if (name_len == 9 && strncasecmp (name, "filename*", 9) == 0) {
            //  charset'language'percent-encoded
            char *q1 = strchr (val, '\'');
            char *q2 = q1 ? strchr (q1 + 1, '\'') : NULL;
            if (q2) {
                snprintf (extended, sizeof extended, "%s", q2 + 1);
                s_pct_decode (extended);
            }
        }
    }
    const char *name = extended [0] ? extended : plain;
    sl_fetch_sanitize_filename (name, strlen (name), out, cap);
}

//  The last path segment of a URL, decoded and sanitised ("" if none).
void
sl_fetch_url_filename (const char *url, char *out, size_t cap)
{
    out [0] = 0;
    CURLU *u = curl_url ();
    char *path = NULL;
    if (u && curl_url_set (u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK && path) {
        const char *slash = strrchr (path, '/');
        const char *last = slash ? slash + 1 : path;
        sl_fetch_sanitize_filename (last, strlen (last), out, cap);
    }
    curl_free (path);
    curl_url_cleanup (u);
}

//  The URL without user:password, for messages and final_url. Falls back to
//  the input when it cannot be parsed (it is then in an error message
//  saying so, which is what the user needs to see).
void
sl_fetch_display_url (const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url ();
    char *clean = NULL;
    if (u && curl_url_set (u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        curl_url_set (u, CURLUPART_USER, NULL, 0);
        curl_url_set (u, CURLUPART_PASSWORD, NULL, 0);
        curl_url_get (u, CURLUPART_URL, &clean, 0);
    }
    snprintf (out, cap, "%s", clean ? clean : url);
    curl_free (clean);
    curl_url_cleanup (u);
}

static void
s_format_size (size_t bytes, char *out, size_t cap)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        snprintf (out, cap, "%zu MiB", bytes / (1024 * 1024));
    else
    if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf (out, cap, "%zu KiB", bytes / 1024);
    else
        snprintf (out, cap, "%zu bytes", bytes);
}

static void
s_format_secs (long ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf (out, cap, "%ld s", ms / 1000);
    else
        snprintf (out, cap, "%.1f s", (double) ms / 1000);
}

static int
s_fail (char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err, errlen, fmt, args);
        va_end (args);
    }
    return code;
}

static const char *
s_status_text (long status)
{
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 410: return "Gone";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default:  return "";
    }
}

//  --------------------------------------------------------------------------
//  libcurl callbacks

static void
s_progress_report (sl_fetch_ctx_t *ctx, bool final)
{
    const sl_fetch_opts_t *opts = ctx->opts;
    if (!opts->progress || !ctx->writer)
        return;
    int64_t now = sl_mono_ms ();
    if (!final && now - ctx->last_progress_ms < S_PROGRESS_EVERY_MS)
        return;
    ctx->last_progress_ms = now;
    size_t total = ctx->content_length > 0 ? (size_t) ctx->content_length : 0;
    opts->progress (opts->progress_arg, sl_blob_writer_size (ctx->writer), total);
}

static int
s_xferinfo (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    sl_fetch_ctx_t *ctx = arg;
    if (ctx->status >= 200 && ctx->status < 300 && sl_blob_writer_size (ctx->writer) > 0)
        s_progress_report (ctx, false);
    return 0;
}

static size_t
s_on_header (char *data, size_t size, size_t nmemb, void *arg)
{
    sl_fetch_ctx_t *ctx = arg;
    size_t total = size * nmemb;
    char line [1024];
    size_t len = total < sizeof line - 1 ? total : sizeof line - 1;
    memcpy (line, data, len);
    line [len] = 0;
    while (len && (line [len - 1] == '\r' || line [len - 1] == '\n'))
        line [--len] = 0;

    if (strncmp (line, "HTTP/", 5) == 0) {
        //  A new response (first, after a redirect, or after 100-continue):
        //  connections of the next hop are judged afresh
        ctx->refused [0] = 0;
        ctx->opened = 0;
        ctx->status = 0;
        ctx->reason [0] = 0;
        ctx->content_type [0] = 0;
        ctx->disposition [0] = 0;
        ctx->content_length = -1;
        char *sp = strchr (line, ' ');
        if (sp) {
            ctx->status = strtol (sp + 1, &sp, 10);
            while (*sp == ' ')
                sp++;
            //  Keep the reason phrase printable: it goes into messages
            size_t r = 0;
            for (; *sp && r + 1 < sizeof ctx->reason; sp++)
                if (*sp >= 0x20 && *sp < 0x7F)
                    ctx->reason [r++] = *sp;
            ctx->reason [r] = 0;
        }
        return total;
    }
    char *colon = strchr (line, ':');
    if (!colon)
        return total;
    *colon = 0;
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strcasecmp (line, "Content-Type") == 0)
        snprintf (ctx->content_type, sizeof ctx->content_type, "%s", value);
    else
    if (strcasecmp (line, "Content-Disposition") == 0)
        sl_fetch_disposition_filename (value, ctx->disposition, sizeof ctx->disposition);
    else
    if (strcasecmp (line, "Content-Length") == 0) {
        char *end;
        errno = 0;
        long long length = strtoll (value, &end, 10);
        if (errno == 0 && end != value && length >= 0) {
            ctx->content_length = length;
            //  Refuse before a single body byte if the server tells us
            if (ctx->status >= 200 && ctx->status < 300 && ctx->opts->max_bytes
            &&  (unsigned long long) length > (unsigned long long) ctx->opts->max_bytes) {
                ctx->declared_too_large = true;
                return 0;       //  aborts the transfer
            }
        }
    }
    return total;
}

static size_t
s_on_body (char *data, size_t size, size_t nmemb, void *arg)
{
    sl_fetch_ctx_t *ctx = arg;
    size_t total = size * nmemb;
    if (ctx->status < 200 || ctx->status >= 300) {
        //  An error page: we report the status, not its body
        ctx->http_error = true;
        return 0;
    }
    if (ctx->head_len < sizeof ctx->head) {
        size_t take = sizeof ctx->head - ctx->head_len;
        if (take > total)
            take = total;
        memcpy (ctx->head + ctx->head_len, data, take);
        ctx->head_len += take;
    }
    if (sl_blob_writer_write (ctx->writer, data, total) != 0) {
        if (sl_blob_writer_exceeded (ctx->writer))
            ctx->too_large = true;
        else {
            ctx->disk_error = true;
            ctx->disk_errno = sl_blob_writer_error (ctx->writer);
        }
        return 0;
    }
    return total;
}

//  A write into the blob area failed with errno error: a full disk fails
//  the job at once with a reason that says so (retrying would only fill it
//  again); anything else may pass, so it is retried.
static int
s_disk_fail (char *err, size_t errlen, int error, const char *doing)
{
    if (sl_disk_full (error))
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "disk full writing the blob area (%s)",
                       strerror (error));
    return s_fail (err, errlen, SL_FETCH_RETRY, "%s: %s", doing, strerror (error ? error : EIO));
}

//  --------------------------------------------------------------------------
//  file://

//  True if path (already resolved) lies at or below one of the roots.
static bool
s_inside_roots (const char *path, const char *roots)
{
    const char *p = roots;
    while (*p) {
        const char *end = strchr (p, ':');
        if (!end)
            end = p + strlen (p);
        char root [PATH_MAX], real [PATH_MAX];
        size_t len = (size_t) (end - p);
        if (len > 0 && len < sizeof root) {
            memcpy (root, p, len);
            root [len] = 0;
            if (realpath (root, real)) {
                size_t rlen = strlen (real);
                if (strcmp (real, "/") == 0)
                    return true;
                if (strncmp (path, real, rlen) == 0 && (path [rlen] == '/' || path [rlen] == 0))
                    return true;
            }
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

static int
s_fetch_file (const sl_fetch_opts_t *opts, sl_blob_t *blobs, CURLU *u, const char *shown,
              sl_fetch_result_t *result, char *err, size_t errlen)
{
    if (!opts->file_roots)
        return s_fail (err, errlen, SL_FETCH_PERMANENT,
                       "file:// URLs are disabled (set fetch.file_roots to allow a directory): %s",
                       shown);
    char *host = NULL, *path = NULL;
    if (curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host
    &&  strcmp (host, "localhost") != 0) {
        curl_free (host);
        return s_fail (err, errlen, SL_FETCH_PERMANENT,
                       "file:// URL names a remote host: %s", shown);
    }
    curl_free (host);
    if (curl_url_get (u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK || !path)
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "bad file:// path in %s", shown);

    char real [PATH_MAX];
    if (!realpath (path, real)) {
        int code = errno == ENOENT || errno == ENOTDIR ? SL_FETCH_PERMANENT : SL_FETCH_RETRY;
        int rc = s_fail (err, errlen, code, "cannot read %s: %s", path, strerror (errno));
        curl_free (path);
        return rc;
    }
    if (!s_inside_roots (real, opts->file_roots)) {
        int rc = s_fail (err, errlen, SL_FETCH_PERMANENT,
                         "refused to read %s: outside fetch.file_roots", path);
        curl_free (path);
        return rc;
    }
    //  O_NOFOLLOW and O_NONBLOCK: the resolved path has no links unless one
    //  was swapped in since realpath, and a FIFO must not hang us
    int fd = open (real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int rc = s_fail (err, errlen, SL_FETCH_PERMANENT, "cannot open %s: %s", path, strerror (errno));
        curl_free (path);
        return rc;
    }
    //  Judge the file actually opened, in case a directory on the way was
    //  replaced by a symlink between realpath and open
    char link [64], opened [PATH_MAX];
    snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink (link, opened, sizeof opened - 1);
    if (n > 0) {
        opened [n] = 0;
        if (!s_inside_roots (opened, opts->file_roots)) {
            close (fd);
            int rc = s_fail (err, errlen, SL_FETCH_PERMANENT,
                             "refused to read %s: outside fetch.file_roots", path);
            curl_free (path);
            return rc;
        }
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        int rc = s_fail (err, errlen, SL_FETCH_PERMANENT, "cannot read %s: not a regular file", path);
        curl_free (path);
        return rc;
    }
    char limit [32];
    s_format_size (opts->max_bytes, limit, sizeof limit);
    if (opts->max_bytes && (uint64_t) st.st_size > (uint64_t) opts->max_bytes) {
        close (fd);
        curl_free (path);
        return s_fail (err, errlen, SL_FETCH_PERMANENT,
                       "file is %lld bytes, over the %s limit", (long long) st.st_size, limit);
    }
    sl_fetch_url_filename (shown, result->filename, sizeof result->filename);
    curl_free (path);

    sl_fetch_ctx_t *ctx = calloc (1, sizeof *ctx);
    assert (ctx);
    ctx->opts = opts;
    ctx->status = 200;
    ctx->content_length = st.st_size;
    ctx->writer = sl_blob_writer_new (blobs, opts->max_bytes);
    if (!ctx->writer) {
        close (fd);
        free (ctx);
        return s_disk_fail (err, errlen, errno, "cannot create a temp file in the blob area");
    }
    int rc = 0;
    char buf [32768];
    while (true) {
        ssize_t got = read (fd, buf, sizeof buf);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0) {
            rc = s_fail (err, errlen, SL_FETCH_RETRY, "read error on %s: %s", shown, strerror (errno));
            break;
        }
        if (got == 0)
            break;
        if (s_on_body (buf, 1, (size_t) got, ctx) != (size_t) got) {
            rc = ctx->too_large
               ? s_fail (err, errlen, SL_FETCH_PERMANENT, "file exceeded the %s limit", limit)
               : s_disk_fail (err, errlen, ctx->disk_errno, "cannot write to the blob area");
            break;
        }
        s_progress_report (ctx, false);
    }
    close (fd);
    if (rc == 0) {
        s_progress_report (ctx, true);
        if (sl_blob_writer_commit (&ctx->writer, result->sha256, &result->size) != 0)
            rc = s_disk_fail (err, errlen, errno, "cannot commit the blob");
    }
    if (rc == 0) {
        snprintf (result->mime, sizeof result->mime, "%s",
                  sl_sniff_mime (ctx->head, ctx->head_len, NULL, result->filename));
        snprintf (result->final_url, sizeof result->final_url, "%s", shown);
    }
    else
        result->filename [0] = 0;
    sl_blob_writer_abort (&ctx->writer);
    free (ctx);
    return rc;
}

//  --------------------------------------------------------------------------
//  http(s)

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init (void)
{
    //  Never cleaned up: other threads may still be fetching at exit
    CURLcode rc = curl_global_init (CURL_GLOBAL_DEFAULT);
    assert (rc == CURLE_OK);
}

//  Map a failed transfer to an error class and message.
static int
s_http_error (sl_fetch_ctx_t *ctx, CURL *curl, CURLcode code, const char *curl_msg, const char *shown,
              const char *start_url, int64_t elapsed_ms, char *err, size_t errlen)
{
    const sl_fetch_opts_t *opts = ctx->opts;
    char limit [32];
    s_format_size (opts->max_bytes, limit, sizeof limit);
    long redirects = 0;
    curl_easy_getinfo (curl, CURLINFO_REDIRECT_COUNT, &redirects);

    if (ctx->declared_too_large)
        return s_fail (err, errlen, SL_FETCH_PERMANENT,
                       "document is %lld bytes (Content-Length), over the %s limit: %s",
                       ctx->content_length, limit, shown);
    if (ctx->too_large)
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "download exceeded the %s limit: %s",
                       limit, shown);
    if (ctx->disk_error)
        return s_disk_fail (err, errlen, ctx->disk_errno, "cannot write to the blob area");
    //  Refused is the answer only if the guard let no address through: a
    //  host with a refused ::1 and a live 127.0.0.1 failed for another reason
    if (ctx->refused [0] && ctx->opened == 0 && code == CURLE_COULDNT_CONNECT) {
        if (redirects > 0)
            return s_fail (err, errlen, SL_FETCH_PERMANENT, "%s; reached by redirect from %s",
                           ctx->refused, start_url);
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "%s", ctx->refused);
    }
    if (code == CURLE_OK || ctx->http_error) {
        long status = ctx->status;
        const char *reason = ctx->reason [0] ? ctx->reason : s_status_text (status);
        int klass = status == 408 || status == 429 || status >= 500 ? SL_FETCH_RETRY
                  : SL_FETCH_PERMANENT;
        if (status >= 300 && status < 400)
            return s_fail (err, errlen, SL_FETCH_PERMANENT,
                           "HTTP %ld %s from %s (redirect without a usable Location)",
                           status, reason, shown);
        return s_fail (err, errlen, klass, "HTTP %ld%s%s from %s", status,
                       *reason ? " " : "", reason, shown);
    }
    char secs [32];
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT: {
            curl_off_t connect_us = 0;
            curl_easy_getinfo (curl, CURLINFO_CONNECT_TIME_T, &connect_us);
            if (opts->total_timeout_ms && elapsed_ms >= opts->total_timeout_ms - 50) {
                s_format_secs (opts->total_timeout_ms, secs, sizeof secs);
                return s_fail (err, errlen, SL_FETCH_RETRY, "timed out after %s: %s", secs, shown);
            }
            if (connect_us == 0) {
                s_format_secs (opts->connect_timeout_ms, secs, sizeof secs);
                return s_fail (err, errlen, SL_FETCH_RETRY, "could not connect within %s: %s",
                               secs, shown);
            }
            return s_fail (err, errlen, SL_FETCH_RETRY,
                           "transfer stalled (under %ld bytes/s for %ld s): %s",
                           opts->low_speed_limit_bps, opts->low_speed_time_s, shown);
        }
        case CURLE_COULDNT_RESOLVE_HOST:
            return s_fail (err, errlen, SL_FETCH_RETRY, "could not resolve host: %s", shown);
        case CURLE_TOO_MANY_REDIRECTS:
            return s_fail (err, errlen, SL_FETCH_PERMANENT, "too many redirects (more than %ld) from %s",
                           opts->max_redirects, start_url);
        case CURLE_UNSUPPORTED_PROTOCOL:
            return s_fail (err, errlen, SL_FETCH_PERMANENT,
                           "redirect to a disallowed scheme (only http and https are followed)"
                           " from %s to %s", start_url, shown);
        case CURLE_URL_MALFORMAT:
            return s_fail (err, errlen, SL_FETCH_PERMANENT, "bad URL (%s): %s", curl_msg, shown);
        case CURLE_PEER_FAILED_VERIFICATION:
            return s_fail (err, errlen, SL_FETCH_PERMANENT, "TLS certificate check failed (%s): %s",
                           curl_msg, shown);
        case CURLE_BAD_CONTENT_ENCODING:
            return s_fail (err, errlen, SL_FETCH_PERMANENT, "bad content encoding (%s): %s",
                           curl_msg, shown);
        default:
            //  Connection refused/reset, TLS handshake, truncated body...:
            //  the next attempt may well succeed
            return s_fail (err, errlen, SL_FETCH_RETRY, "download failed (%s): %s", curl_msg, shown);
    }
}

//  A transfer's context: curl set up once, the guard's allowed ranges
//  parsed. NULL with err set when fetch.allow_cidrs does not parse.
static sl_fetch_ctx_t *
s_ctx_new (const sl_fetch_opts_t *opts, char *err, size_t errlen)
{
    pthread_once (&s_curl_once, s_curl_init);
    sl_fetch_ctx_t *ctx = calloc (1, sizeof *ctx);
    assert (ctx);
    ctx->opts = opts;
    ctx->content_length = -1;
    char bad [80];
    ctx->allow_count = sl_fetch_cidrs_parse (opts->allow_cidrs, &ctx->allow, bad, sizeof bad);
    if (ctx->allow_count < 0) {
        free (ctx);
        s_fail (err, errlen, SL_FETCH_PERMANENT,
                "invalid fetch.allow_cidrs entry '%s' (want address or address/prefix)", bad);
        return NULL;
    }
    return ctx;
}

static int
s_fetch_http (const sl_fetch_opts_t *opts, sl_blob_t *blobs, const char *url, const char *shown,
              sl_fetch_result_t *result, char *err, size_t errlen)
{
    sl_fetch_ctx_t *ctx = s_ctx_new (opts, err, errlen);
    if (!ctx)
        return SL_FETCH_PERMANENT;
    ctx->writer = sl_blob_writer_new (blobs, opts->max_bytes);
    if (!ctx->writer) {
        free (ctx->allow);
        free (ctx);
        return s_disk_fail (err, errlen, errno, "cannot create a temp file in the blob area");
    }
    CURL *curl = curl_easy_init ();
    assert (curl);
    char curl_msg [CURL_ERROR_SIZE] = "";
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt (curl, CURLOPT_MAXREDIRS, opts->max_redirects);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROXY, "");     //  ignore *_proxy env: it bypasses the guard
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, opts->total_timeout_ms);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, opts->low_speed_limit_bps);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, opts->low_speed_time_s);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, opts->user_agent ? opts->user_agent : "sluice/0.1");
    curl_easy_setopt (curl, CURLOPT_ACCEPT_ENCODING, "");   //  limit applies to decoded bytes
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt (curl, CURLOPT_OPENSOCKETFUNCTION, s_opensocket);
    curl_easy_setopt (curl, CURLOPT_OPENSOCKETDATA, ctx);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, ctx);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, ctx);
    if (opts->progress) {
        curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_xferinfo);
        curl_easy_setopt (curl, CURLOPT_XFERINFODATA, ctx);
        curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    }
    int64_t started = sl_mono_ms ();
    CURLcode code = curl_easy_perform (curl);
    int64_t elapsed = sl_mono_ms () - started;

    char *effective = NULL;
    curl_easy_getinfo (curl, CURLINFO_EFFECTIVE_URL, &effective);
    char final_shown [sizeof result->final_url];
    sl_fetch_display_url (effective ? effective : url, final_shown, sizeof final_shown);
    snprintf (result->final_url, sizeof result->final_url, "%s", final_shown);
    result->http_status = ctx->status;

    int rc = 0;
    if (code != CURLE_OK || ctx->status < 200 || ctx->status >= 300)
        rc = s_http_error (ctx, curl, code, curl_msg [0] ? curl_msg : curl_easy_strerror (code),
                           final_shown, shown, elapsed, err, errlen);
    else {
        s_progress_report (ctx, true);
        if (sl_blob_writer_commit (&ctx->writer, result->sha256, &result->size) != 0)
            rc = s_disk_fail (err, errlen, errno, "cannot commit the blob");
    }
    if (rc == 0) {
        if (ctx->disposition [0])
            snprintf (result->filename, sizeof result->filename, "%s", ctx->disposition);
        else
            sl_fetch_url_filename (final_shown, result->filename, sizeof result->filename);
        snprintf (result->mime, sizeof result->mime, "%s",
                  sl_sniff_mime (ctx->head, ctx->head_len,
                                 ctx->content_type [0] ? ctx->content_type : NULL,
                                 result->filename));
    }
    curl_easy_cleanup (curl);
    sl_blob_writer_abort (&ctx->writer);
    free (ctx->allow);
    free (ctx);
    return rc;
}

//  --------------------------------------------------------------------------

void
sl_fetch_opts_defaults (sl_fetch_opts_t *opts)
{
    assert (opts);
    memset (opts, 0, sizeof *opts);
    opts->connect_timeout_ms = 5000;
    opts->total_timeout_ms = 60000;
    opts->low_speed_limit_bps = 1;
    opts->low_speed_time_s = 30;
    opts->max_bytes = 100 * 1024 * 1024;
    opts->max_redirects = 5;
    opts->user_agent = "sluice/0.1";
}

int
sl_fetch_url (const sl_fetch_opts_t *opts, sl_blob_t *blobs, const char *url,
              sl_fetch_result_t *result, char *err, size_t errlen)
{
    assert (blobs);
    assert (result);
    sl_fetch_opts_t defaults;
    if (!opts) {
        sl_fetch_opts_defaults (&defaults);
        opts = &defaults;
    }
    memset (result, 0, sizeof *result);
    if (err && errlen)
        err [0] = 0;
    if (!url || !*url)
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "empty URL");
    if (strlen (url) > S_MAX_URL)
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "URL longer than %d characters", S_MAX_URL);
    pthread_once (&s_curl_once, s_curl_init);

    //  Parse once up front: the scheme decides who handles the URL, and a
    //  malformed URL is a permanent error with a clear message
    CURLU *u = curl_url ();
    assert (u);
    CURLUcode uc = curl_url_set (u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        curl_url_cleanup (u);
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "bad URL (%s): %.200s",
                       curl_url_strerror (uc), url);
    }
    char shown [S_MAX_URL + 1];
    sl_fetch_display_url (url, shown, sizeof shown);
    char *scheme = NULL;
    curl_url_get (u, CURLUPART_SCHEME, &scheme, 0);
    int rc;
    if (scheme && (strcmp (scheme, "http") == 0 || strcmp (scheme, "https") == 0))
        rc = s_fetch_http (opts, blobs, url, shown, result, err, errlen);
    else
    if (scheme && strcmp (scheme, "file") == 0)
        rc = s_fetch_file (opts, blobs, u, shown, result, err, errlen);
    else
        rc = s_fail (err, errlen, SL_FETCH_PERMANENT,
                     "unsupported URL scheme '%s' (only http, https and file): %s",
                     scheme ? scheme : "", shown);
    curl_free (scheme);
    curl_url_cleanup (u);
    if (rc != 0)
        result->sha256 [0] = 0;
    return rc;
}

//  --------------------------------------------------------------------------
//  Conditional probes (sources: "has this URL changed?")

typedef struct {
    sl_fetch_ctx_t *ctx;
    sl_fetch_probe_t *probe;
} s_probe_state_t;

//  Headers of the last hop: the status line resets what the guard and the
//  error messages read (as s_on_header does), validators are kept
static size_t
s_probe_header (char *data, size_t size, size_t nmemb, void *arg)
{
    s_probe_state_t *state = arg;
    size_t total = size * nmemb;
    if (total > 5 && strncmp (data, "HTTP/", 5) == 0) {
        state->probe->etag [0] = 0;
        state->probe->last_modified [0] = 0;
        return s_on_header (data, size, nmemb, state->ctx);
    }
    char line [512];
    size_t len = total < sizeof line - 1 ? total : sizeof line - 1;
    memcpy (line, data, len);
    line [len] = 0;
    while (len && (line [len - 1] == '\r' || line [len - 1] == '\n'))
        line [--len] = 0;
    char *colon = strchr (line, ':');
    if (colon) {
        *colon = 0;
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        //  Only printable ASCII goes back out in a request header
        bool clean = true;
        for (char *p = value; *p; p++)
            clean = clean && *p >= 0x20 && *p < 0x7F;
        if (clean && strcasecmp (line, "ETag") == 0)
            snprintf (state->probe->etag, sizeof state->probe->etag, "%s", value);
        else
        if (clean && strcasecmp (line, "Last-Modified") == 0)
            snprintf (state->probe->last_modified, sizeof state->probe->last_modified, "%s", value);
    }
    return total;
}

int
sl_fetch_probe (const sl_fetch_opts_t *opts, const char *url, const char *etag,
                const char *last_modified, sl_fetch_probe_t *probe, char *err, size_t errlen)
{
    assert (probe);
    sl_fetch_opts_t defaults;
    if (!opts) {
        sl_fetch_opts_defaults (&defaults);
        opts = &defaults;
    }
    memset (probe, 0, sizeof *probe);
    if (err && errlen)
        err [0] = 0;
    if (!url || strncmp (url, "http", 4) || strlen (url) > S_MAX_URL)
        return s_fail (err, errlen, SL_FETCH_PERMANENT, "only http and https URLs of at most %d "
                       "characters can be probed", S_MAX_URL);
    sl_fetch_ctx_t *ctx = s_ctx_new (opts, err, errlen);
    if (!ctx)
        return SL_FETCH_PERMANENT;
    s_probe_state_t state = { ctx, probe };
    struct curl_slist *headers = NULL;
    char line [400];
    if (etag && *etag) {
        snprintf (line, sizeof line, "If-None-Match: %s", etag);
        headers = curl_slist_append (headers, line);
    }
    if (last_modified && *last_modified) {
        snprintf (line, sizeof line, "If-Modified-Since: %s", last_modified);
        headers = curl_slist_append (headers, line);
    }
    CURL *curl = curl_easy_init ();
    assert (curl);
    char curl_msg [CURL_ERROR_SIZE] = "";
    char shown [S_MAX_URL + 1];
    sl_fetch_display_url (url, shown, sizeof shown);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt (curl, CURLOPT_MAXREDIRS, opts->max_redirects);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROXY, "");     //  ignore *_proxy env: it bypasses the guard
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, opts->total_timeout_ms);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, opts->user_agent ? opts->user_agent : "sluice/0.1");
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt (curl, CURLOPT_OPENSOCKETFUNCTION, s_opensocket);
    curl_easy_setopt (curl, CURLOPT_OPENSOCKETDATA, ctx);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_probe_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &state);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    int64_t started = sl_mono_ms ();
    CURLcode code = curl_easy_perform (curl);
    int64_t elapsed = sl_mono_ms () - started;
    probe->http_status = ctx->status;
    int rc = 0;
    if (code != CURLE_OK || ctx->status < 200 || ctx->status >= 400)
        rc = s_http_error (ctx, curl, code, curl_msg [0] ? curl_msg : curl_easy_strerror (code),
                           shown, shown, elapsed, err, errlen);
    curl_easy_cleanup (curl);
    curl_slist_free_all (headers);
    free (ctx->allow);
    free (ctx);
    return rc;
}

bool
sl_fetch_path_allowed (const char *path, const char *roots)
{
    char real [PATH_MAX];
    return path && roots && realpath (path, real) && s_inside_roots (real, roots);
}

int
sl_fetch_check_url (const sl_fetch_opts_t *opts, const char *url, char *err, size_t errlen)
{
    sl_fetch_opts_t defaults;
    if (!opts) {
        sl_fetch_opts_defaults (&defaults);
        opts = &defaults;
    }
    pthread_once (&s_curl_once, s_curl_init);
    CURLU *u = curl_url ();
    assert (u);
    char *scheme = NULL, *host = NULL;
    int rc = 0;
    if (!url || strlen (url) > S_MAX_URL
    ||  curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK
    ||  curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
    ||  (strcmp (scheme, "http") && strcmp (scheme, "https"))
    ||  curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        rc = s_fail (err, errlen, SL_FETCH_PERMANENT, "'%.200s' is not an http or https URL",
                     url ? url : "");
    sl_fetch_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char bad [80];
    if (rc == 0 && (ctx.allow_count = sl_fetch_cidrs_parse (opts->allow_cidrs, &ctx.allow, bad,
                                                             sizeof bad)) < 0)
        rc = s_fail (err, errlen, SL_FETCH_PERMANENT,
                     "invalid fetch.allow_cidrs entry '%s' (want address or address/prefix)", bad);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *found = NULL;
    //  IPv6 literals come bracketed from curl
    char name [256] = "";
    if (rc == 0) {
        snprintf (name, sizeof name, "%s", host [0] == '[' ? host + 1 : host);
        char *close = strchr (name, ']');
        if (close)
            *close = 0;
        int gai = getaddrinfo (name, NULL, &hints, &found);
        if (gai)
            rc = s_fail (err, errlen, SL_FETCH_RETRY, "cannot resolve %s: %s", name,
                         gai_strerror (gai));
    }
    const char *reason = NULL;
    char text [INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *a = found; rc == 0 && a; a = a->ai_next) {
        const unsigned char *bytes = a->ai_family == AF_INET
            ? (const unsigned char *) &((struct sockaddr_in *) a->ai_addr)->sin_addr
            : a->ai_family == AF_INET6
            ? (const unsigned char *) &((struct sockaddr_in6 *) a->ai_addr)->sin6_addr : NULL;
        if (!bytes)
            continue;
        reason = sl_fetch_guard (&ctx, a->ai_family, bytes, text, sizeof text);
        if (reason)
            rc = s_fail (err, errlen, SL_FETCH_PERMANENT, "refused: %s resolves to %s, %s (add it "
                         "to fetch.allow_cidrs to allow)", name, text, reason);
    }
    if (found)
        freeaddrinfo (found);
    free (ctx.allow);
    curl_free (scheme);
    curl_free (host);
    curl_url_cleanup (u);
    return rc;
}
