/*  sl_fetch: one URL in, one blob out. See sl_fetch.h for the contract.

    Layout of this file:
      - the address guard: classify an IP address, parse allow_cidrs, and
        the libcurl open-socket hook that applies both before connect();
      - header/body/progress callbacks that track the current response
        (each redirect hop starts a fresh header block) and stream the body
        into an sl_blob writer, enforcing max_bytes as bytes arrive;
      - file:// handling, done here rather than by libcurl so the root check
        applies to the file actually opened;
      - error mapping from curl codes and HTTP statuses to PERMANENT/RETRY;
      - the self-test, which runs a small HTTP server on 127.0.0.1.
*/
#include "sl_fetch.h"
#include "sl_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

//  Set only by the self-test: refuse (and count) any connection to an
//  address other than 127.0.0.1 even if the guard would allow it, so a guard
//  bug can never make the test send traffic off the machine.
static atomic_bool s_test_loopback_only;
static atomic_int s_test_offhost_attempts;

//  --------------------------------------------------------------------------
//  Address guard

typedef struct {
    int family;                 //  AF_INET or AF_INET6
    unsigned char addr [16];
    int prefix;
} s_cidr_t;

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
static const char *
s_addr_reason (int family, const unsigned char *a)
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
s_cidr_match (const s_cidr_t *cidr, int family, const unsigned char *a)
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
static int
s_cidrs_parse (const char *spec, s_cidr_t **list, char *bad, size_t badcap)
{
    *list = NULL;
    if (!spec)
        return 0;
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    s_cidr_t *cidrs = calloc (cap, sizeof *cidrs);
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
                s_cidr_t *cidr = &cidrs [count];
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

//  Per-call state shared by the callbacks
typedef struct {
    const sl_fetch_opts_t *opts;
    s_cidr_t *allow;
    int allow_count;
    char refused [320];         //  first guard refusal of this hop
    int opened;                 //  sockets the guard allowed on this hop
    sl_blob_writer_t *writer;
    unsigned char head [SL_SNIFF_HEAD];
    size_t head_len;
    //  The current response (reset by each status line)
    long status;
    char reason [64];
    char content_type [128];
    char disposition [256];     //  sanitised Content-Disposition filename
    long long content_length;   //  -1 if not announced
    //  Why we aborted the transfer, if we did
    bool declared_too_large;
    bool too_large;
    bool disk_error;
    int disk_errno;             //  why the blob write failed
    bool http_error;
    int64_t last_progress_ms;
} s_ctx_t;

//  Decide about one address; NULL if it may be contacted, else the reason.
//  text receives the address in printable form.
static const char *
s_guard (s_ctx_t *ctx, int family, const unsigned char *a, char *text, size_t cap)
{
    inet_ntop (family, a, text, (socklen_t) cap);
    const char *reason = s_addr_reason (family, a);
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
    s_ctx_t *ctx = arg;
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
    const char *reason = s_guard (ctx, family, a, text, sizeof text);
    if (reason) {
        if (!ctx->refused [0])
            snprintf (ctx->refused, sizeof ctx->refused,
                      "refused to connect to %s: %s (add it to fetch.allow_cidrs to allow)",
                      text, reason);
        return CURL_SOCKET_BAD;
    }
    if (atomic_load (&s_test_loopback_only)
    &&  !(family == AF_INET && a [0] == 127 && a [1] == 0 && a [2] == 0 && a [3] == 1)) {
        atomic_fetch_add (&s_test_offhost_attempts, 1);
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
static void
s_sanitize_filename (const char *in, size_t in_len, char *out, size_t cap)
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
static void
s_disposition_filename (const char *value, char *out, size_t cap)
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
    s_sanitize_filename (name, strlen (name), out, cap);
}

//  The last path segment of a URL, decoded and sanitised ("" if none).
static void
s_url_filename (const char *url, char *out, size_t cap)
{
    out [0] = 0;
    CURLU *u = curl_url ();
    char *path = NULL;
    if (u && curl_url_set (u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK && path) {
        const char *slash = strrchr (path, '/');
        const char *last = slash ? slash + 1 : path;
        s_sanitize_filename (last, strlen (last), out, cap);
    }
    curl_free (path);
    curl_url_cleanup (u);
}

//  The URL without user:password, for messages and final_url. Falls back to
//  the input when it cannot be parsed (it is then in an error message
//  saying so, which is what the user needs to see).
static void
s_display_url (const char *url, char *out, size_t cap)
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
s_progress_report (s_ctx_t *ctx, bool final)
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
    s_ctx_t *ctx = arg;
    if (ctx->status >= 200 && ctx->status < 300 && sl_blob_writer_size (ctx->writer) > 0)
        s_progress_report (ctx, false);
    return 0;
}

static size_t
s_on_header (char *data, size_t size, size_t nmemb, void *arg)
{
    s_ctx_t *ctx = arg;
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
        s_disposition_filename (value, ctx->disposition, sizeof ctx->disposition);
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
    s_ctx_t *ctx = arg;
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
    s_url_filename (shown, result->filename, sizeof result->filename);
    curl_free (path);

    s_ctx_t *ctx = calloc (1, sizeof *ctx);
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
s_http_error (s_ctx_t *ctx, CURL *curl, CURLcode code, const char *curl_msg, const char *shown,
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

static int
s_fetch_http (const sl_fetch_opts_t *opts, sl_blob_t *blobs, const char *url, const char *shown,
              sl_fetch_result_t *result, char *err, size_t errlen)
{
    pthread_once (&s_curl_once, s_curl_init);
    s_ctx_t *ctx = calloc (1, sizeof *ctx);
    assert (ctx);
    ctx->opts = opts;
    ctx->content_length = -1;
    char bad [80];
    ctx->allow_count = s_cidrs_parse (opts->allow_cidrs, &ctx->allow, bad, sizeof bad);
    if (ctx->allow_count < 0) {
        free (ctx);
        return s_fail (err, errlen, SL_FETCH_PERMANENT,
                       "invalid fetch.allow_cidrs entry '%s' (want address or address/prefix)", bad);
    }
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
    s_display_url (effective ? effective : url, final_shown, sizeof final_shown);
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
            s_url_filename (final_shown, result->filename, sizeof result->filename);
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
    s_display_url (url, shown, sizeof shown);
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
//  Self-test: a small HTTP/1.1 server on 127.0.0.1 with canned responses

typedef struct {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int connections;
    const unsigned char *pdf;
    size_t pdf_size;
} s_server_t;

static void
s_send (int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = send (fd, p, size, MSG_NOSIGNAL);
        if (n <= 0)
            return;             //  the client went away: fine for this server
        p += n;
        size -= (size_t) n;
    }
}

static void
s_sendf (int fd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_sendf (int fd, const char *fmt, ...)
{
    char buf [2048];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (buf, sizeof buf, fmt, args);
    va_end (args);
    assert (n > 0 && (size_t) n < sizeof buf);
    s_send (fd, buf, (size_t) n);
}

//  Hold the connection open until the client hangs up (or 3 s pass).
static void
s_wait_for_close (s_server_t *server, int fd)
{
    int64_t deadline = sl_mono_ms () + 3000;
    while (!atomic_load (&server->stop) && sl_mono_ms () < deadline) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll (&pfd, 1, 100) > 0) {
            char buf [512];
            if (recv (fd, buf, sizeof buf, 0) <= 0)
                return;
        }
    }
}

static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };
    nanosleep (&ts, NULL);
}

#define S_HDR "HTTP/1.1 %s\r\nConnection: close\r\n"

static void
s_serve (s_server_t *server, int fd)
{
    char req [8192];
    size_t len = 0;
    while (len < sizeof req - 1) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll (&pfd, 1, 2000) <= 0)
            return;
        ssize_t n = recv (fd, req + len, sizeof req - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t) n;
        req [len] = 0;
        if (strstr (req, "\r\n\r\n"))
            break;
    }
    char path [1024] = "";
    if (sscanf (req, "GET %1023s HTTP/1.1", path) != 1)
        return;

    if (strcmp (path, "/doc.pdf") == 0) {
        s_sendf (fd, S_HDR "Content-Type: application/pdf\r\nContent-Length: %zu\r\n\r\n",
                 "200 OK", server->pdf_size);
        s_send (fd, server->pdf, server->pdf_size);
    }
    else
    if (strcmp (path, "/fake.pdf") == 0) {
        const char *html = "<!DOCTYPE html>\n<html><body><h1>Sign in to continue</h1></body></html>\n";
        s_sendf (fd, S_HDR "Content-Type: application/pdf\r\nContent-Length: %zu\r\n\r\n%s",
                 "200 OK", strlen (html), html);
    }
    else
    if (strncmp (path, "/r/", 3) == 0) {
        int hops = atoi (path + 3);
        if (hops > 0)
            s_sendf (fd, S_HDR "Location: /r/%d\r\nContent-Length: 0\r\n\r\n", "302 Found", hops - 1);
        else
            s_sendf (fd, S_HDR "Location: /doc.pdf\r\nContent-Length: 0\r\n\r\n", "302 Found");
    }
    else
    if (strcmp (path, "/chunked-big") == 0) {
        s_sendf (fd, S_HDR "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", "200 OK");
        char chunk [8192];
        memset (chunk, 'a', sizeof chunk);
        for (int i = 0; i < 128; i++) {             //  1 MiB, far over the test's limit
            s_sendf (fd, "%zx\r\n", sizeof chunk);
            s_send (fd, chunk, sizeof chunk);
            s_send (fd, "\r\n", 2);
        }
        s_send (fd, "0\r\n\r\n", 5);
    }
    else
    if (strcmp (path, "/declared-big") == 0) {
        s_sendf (fd, S_HDR "Content-Type: text/plain\r\nContent-Length: 10000000000\r\n\r\n", "200 OK");
        s_send (fd, "some text\n", 10);
        s_wait_for_close (server, fd);
    }
    else
    if (strcmp (path, "/missing") == 0)
        s_sendf (fd, S_HDR "Content-Type: text/html\r\nContent-Length: 9\r\n\r\nnot found",
                 "404 Not Found");
    else
    if (strcmp (path, "/unavailable") == 0)
        s_sendf (fd, S_HDR "Content-Length: 0\r\n\r\n", "503 Service Unavailable");
    else
    if (strcmp (path, "/busy") == 0)
        s_sendf (fd, S_HDR "Retry-After: 1\r\nContent-Length: 0\r\n\r\n", "429 Too Many Requests");
    else
    if (strcmp (path, "/stall") == 0) {
        s_sendf (fd, S_HDR "Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n", "200 OK");
        s_send (fd, "0123456789", 10);
        s_wait_for_close (server, fd);
    }
    else
    if (strcmp (path, "/to-metadata") == 0)
        s_sendf (fd, S_HDR "Location: http://169.254.169.254/latest/meta-data\r\n"
                 "Content-Length: 0\r\n\r\n", "302 Found");
    else
    if (strcmp (path, "/to-file") == 0)
        s_sendf (fd, S_HDR "Location: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n", "302 Found");
    else
    if (strcmp (path, "/slow") == 0) {
        char piece [16384];
        memset (piece, 'x', sizeof piece);
        s_sendf (fd, S_HDR "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                 "200 OK", 4 * sizeof piece);
        for (int i = 0; i < 4; i++) {
            if (i)
                s_sleep_ms (300);
            s_send (fd, piece, sizeof piece);
        }
    }
    else
    if (strcmp (path, "/attach") == 0)
        s_sendf (fd, S_HDR "Content-Type: application/octet-stream\r\n"
                 "Content-Disposition: attachment; filename=\"../../ev\x01il.md\"\r\n"
                 "Content-Length: 8\r\n\r\n# Title\n", "200 OK");
    else
    if (strcmp (path, "/attach-star") == 0)
        s_sendf (fd, S_HDR "Content-Disposition: attachment; filename=\"fallback.txt\"; "
                 "filename*=UTF-8''r%%C3%%A9sum%%C3%%A9.md\r\n"
                 "Content-Length: 8\r\n\r\n# Title\n", "200 OK");
    else
    if (strcmp (path, "/files/report%20final.txt") == 0)
        s_sendf (fd, S_HDR "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\r\n"
                 "hello world\n", "200 OK");
    else
        s_sendf (fd, S_HDR "Content-Length: 0\r\n\r\n", "404 Not Found");
}

static void *
s_server_run (void *arg)
{
    s_server_t *server = arg;
    while (!atomic_load (&server->stop)) {
        struct pollfd pfd = { server->listen_fd, POLLIN, 0 };
        if (poll (&pfd, 1, 100) <= 0)
            continue;
        int fd = accept4 (server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        atomic_fetch_add (&server->connections, 1);
        s_serve (server, fd);
        close (fd);
    }
    return NULL;
}

static void
s_server_start (s_server_t *server)
{
    server->listen_fd = sl_loopback_listen (16, &server->port);
    assert (server->listen_fd >= 0);
    atomic_store (&server->stop, false);
    atomic_store (&server->connections, 0);
    assert (pthread_create (&server->thread, NULL, s_server_run, server) == 0);
}

static void
s_server_stop (s_server_t *server)
{
    atomic_store (&server->stop, true);
    pthread_join (server->thread, NULL);
    close (server->listen_fd);
}

typedef struct {
    int calls;
    size_t last_done;
    size_t last_total;
    bool decreasing;
} s_progress_log_t;

static void
s_progress_log (void *arg, size_t done, size_t total)
{
    s_progress_log_t *log = arg;
    if (done < log->last_done)
        log->decreasing = true;
    log->calls++;
    log->last_done = done;
    log->last_total = total;
}

static int
s_count_files (const char *path)
{
    DIR *dir = opendir (path);
    assert (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char sub [2048];
        snprintf (sub, sizeof sub, "%s/%s", path, entry->d_name);
        struct stat st;
        assert (lstat (sub, &st) == 0);
        count += S_ISDIR (st.st_mode) ? s_count_files (sub) : 1;
    }
    closedir (dir);
    return count;
}

static unsigned char *
s_load (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long len = ftell (file);
    fseek (file, 0, SEEK_SET);
    unsigned char *data = malloc ((size_t) len + 1);
    assert (data);
    assert (fread (data, 1, (size_t) len, file) == (size_t) len);
    fclose (file);
    *size = (size_t) len;
    return data;
}

//  A PDF to serve, written here: one page showing a line of text and a
//  256 x 200 RGB image of noise, stored raw. About 150 KB, mostly binary
//  (NULs, control bytes, every byte value), so the download takes many
//  writes and the sniffer must see a PDF behind its magic, not binary.
static unsigned char *
s_test_pdf (size_t *size, bool verbose)
{
    enum { W = 256, H = 200, PIXELS = W * H * 3 };
    const char *content = "q 256 0 0 200 100 400 cm /Im1 Do Q\n"
                          "BT /F1 24 Tf 100 300 Td (Sluice fetch test) Tj ET\n";
    size_t cap = PIXELS + 4096, len = 0;
    unsigned char *pdf = malloc (cap);
    assert (pdf);
    long offsets [7];
    #define S_PUT(...) (len += (size_t) snprintf ((char *) pdf + len, cap - len, __VA_ARGS__))
    S_PUT ("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n");
    offsets [1] = (long) len;
    S_PUT ("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    offsets [2] = (long) len;
    S_PUT ("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    offsets [3] = (long) len;
    S_PUT ("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
           " /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>\nendobj\n");
    offsets [4] = (long) len;
    S_PUT ("4 0 obj\n<< /Length %zu >>\nstream\n%sendstream\nendobj\n", strlen (content), content);
    offsets [5] = (long) len;
    S_PUT ("5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n");
    offsets [6] = (long) len;
    S_PUT ("6 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB"
           " /BitsPerComponent 8 /Length %d >>\nstream\n", W, H, PIXELS);
    uint32_t x = 2463534242u;
    for (int i = 0; i < PIXELS; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        pdf [len++] = (unsigned char) x;
    }
    S_PUT ("\nendstream\nendobj\n");
    long xref = (long) len;
    S_PUT ("xref\n0 7\n0000000000 65535 f \n");
    for (int i = 1; i < 7; i++)
        S_PUT ("%010ld 00000 n \n", offsets [i]);
    S_PUT ("trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", xref);
    #undef S_PUT
    assert (len < cap);
    if (verbose)
        printf ("   serving a generated PDF of %zu bytes\n", len);
    *size = len;
    return pdf;
}

static void
s_expect_fail (const sl_fetch_opts_t *opts, sl_blob_t *blobs, const char *url, int code,
               const char *needle, bool verbose)
{
    sl_fetch_result_t result;
    char err [512];
    int rc = sl_fetch_url (opts, blobs, url, &result, err, sizeof err);
    if (verbose)
        printf ("   %.100s -> %d: %s\n", url, rc, err);
    if (rc != code || !strstr (err, needle)) {
        fprintf (stderr, "sl_fetch: %s: got %d '%s', expected %d with '%s'\n",
                 url, rc, err, code, needle);
        assert (false);
    }
    assert (result.sha256 [0] == 0);
}

typedef struct {
    sl_blob_t *blobs;
    const char *url;
    const char *sha;
    int failures;
} s_fetcher_t;

static void *
s_fetcher_run (void *arg)
{
    s_fetcher_t *fetcher = arg;
    sl_fetch_opts_t opts;
    sl_fetch_opts_defaults (&opts);
    opts.allow_cidrs = "127.0.0.1/32";
    for (int i = 0; i < 3; i++) {
        sl_fetch_result_t result;
        char err [256];
        if (sl_fetch_url (&opts, fetcher->blobs, fetcher->url, &result, err, sizeof err) != 0
        ||  strcmp (result.sha256, fetcher->sha) != 0)
            fetcher->failures++;
    }
    return NULL;
}

static void
s_test_guard (void)
{
    static const struct { const char *addr; bool refused; } cases [] = {
        { "8.8.8.8", false }, { "1.1.1.1", false }, { "172.15.255.255", false },
        { "172.32.0.1", false }, { "100.63.255.255", false }, { "100.128.0.1", false },
        { "169.253.255.255", false }, { "192.169.0.1", false }, { "223.255.255.255", false },
        { "0.0.0.0", true }, { "0.1.2.3", true }, { "10.0.0.1", true }, { "10.255.255.255", true },
        { "100.64.0.1", true }, { "100.127.255.255", true }, { "127.0.0.1", true },
        { "127.255.0.1", true }, { "169.254.169.254", true }, { "169.254.0.1", true },
        { "172.16.0.1", true }, { "172.31.255.255", true }, { "192.168.1.1", true },
        { "192.0.0.170", true }, { "198.18.0.1", true }, { "224.0.0.1", true },
        { "239.255.255.250", true }, { "240.0.0.1", true }, { "255.255.255.255", true },
        { "2606:4700::1111", false }, { "2001:db8::1", false }, { "64:ff9b::808:808", false },
        { "2002:808:808::1", false }, { "::ffff:8.8.8.8", false },
        { "::", true }, { "::1", true }, { "::ffff:127.0.0.1", true }, { "::ffff:10.0.0.1", true },
        { "::ffff:169.254.169.254", true }, { "::10.0.0.1", true }, { "64:ff9b::10.0.0.1", true },
        { "64:ff9b:1::1", true }, { "2002:a00:1::1", true }, { "2002:7f00:1::", true },
        { "fc00::1", true }, { "fd12:3456::1", true }, { "fe80::1", true }, { "febf::1", true },
        { "fec0::1", true }, { "ff02::1", true }, { "ff05::2", true },
        { NULL, false }
    };
    for (int i = 0; cases [i].addr; i++) {
        unsigned char a [16];
        int family = strchr (cases [i].addr, ':') ? AF_INET6 : AF_INET;
        assert (inet_pton (family, cases [i].addr, a) == 1);
        const char *reason = s_addr_reason (family, a);
        if ((reason != NULL) != cases [i].refused) {
            fprintf (stderr, "sl_fetch: guard %s: %s\n", cases [i].addr, reason ? reason : "public");
            assert (false);
        }
    }
    //  allow_cidrs parsing and matching, including mapped forms
    s_ctx_t ctx = { 0 };
    char bad [80], text [INET6_ADDRSTRLEN];
    ctx.allow_count = s_cidrs_parse (" 127.0.0.1/32, 10.1.0.0/16 ,fd00::/8,192.168.1.7", &ctx.allow,
                                     bad, sizeof bad);
    assert (ctx.allow_count == 4);
    unsigned char a [16];
    inet_pton (AF_INET, "127.0.0.1", a);
    assert (s_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "127.0.0.2", a);
    assert (s_guard (&ctx, AF_INET, a, text, sizeof text) != NULL);
    inet_pton (AF_INET, "10.1.200.3", a);
    assert (s_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "10.2.0.1", a);
    assert (strcmp (s_guard (&ctx, AF_INET, a, text, sizeof text), "private address") == 0);
    assert (strcmp (text, "10.2.0.1") == 0);
    inet_pton (AF_INET, "192.168.1.7", a);
    assert (s_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "192.168.1.8", a);
    assert (s_guard (&ctx, AF_INET, a, text, sizeof text) != NULL);
    inet_pton (AF_INET6, "::ffff:127.0.0.1", a);
    assert (s_guard (&ctx, AF_INET6, a, text, sizeof text) == NULL);
    inet_pton (AF_INET6, "fd00::5", a);
    assert (s_guard (&ctx, AF_INET6, a, text, sizeof text) == NULL);
    inet_pton (AF_INET6, "fc00::5", a);
    assert (s_guard (&ctx, AF_INET6, a, text, sizeof text) != NULL);
    inet_pton (AF_INET6, "::1", a);
    assert (s_guard (&ctx, AF_INET6, a, text, sizeof text) != NULL);
    free (ctx.allow);
    s_cidr_t *list;
    const char *invalid [] = { "bogus", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8x",
                               "10.0.0.0/-1", "1.2.3.4.5", NULL };
    for (int i = 0; invalid [i]; i++)
        assert (s_cidrs_parse (invalid [i], &list, bad, sizeof bad) == -1);
    assert (s_cidrs_parse ("", &list, bad, sizeof bad) == 0);
    free (list);
    assert (s_cidrs_parse ("0.0.0.0/0", &list, bad, sizeof bad) == 1);
    free (list);
}

static void
s_test_names (void)
{
    char out [256];
    s_disposition_filename ("attachment; filename=\"report.pdf\"", out, sizeof out);
    assert (strcmp (out, "report.pdf") == 0);
    s_disposition_filename ("attachment; filename=plain.txt; size=3", out, sizeof out);
    assert (strcmp (out, "plain.txt") == 0);
    s_disposition_filename ("inline; filename=\"a \\\"q\\\".md\"", out, sizeof out);
    assert (strcmp (out, "a \"q\".md") == 0);
    s_disposition_filename ("attachment; filename=\"../../etc/passwd\"", out, sizeof out);
    assert (strcmp (out, "passwd") == 0);
    s_disposition_filename ("attachment; filename=\"..\\\\..\\\\boot.ini\"", out, sizeof out);
    assert (strcmp (out, "boot.ini") == 0);
    s_disposition_filename ("attachment; filename=\"..\"", out, sizeof out);
    assert (strcmp (out, "") == 0);
    s_disposition_filename ("attachment; filename*=UTF-8''%e2%82%ac%20rates.pdf", out, sizeof out);
    assert (strcmp (out, "\xE2\x82\xAC rates.pdf") == 0);
    s_disposition_filename ("attachment; filename*=UTF-8''a%00b%0Ac.txt", out, sizeof out);
    assert (strcmp (out, "a%00bc.txt") == 0);
    s_disposition_filename ("attachment", out, sizeof out);
    assert (strcmp (out, "") == 0);
    //  Invalid UTF-8 and over-long names
    s_sanitize_filename ("bad\xFF\xFEname", 9, out, sizeof out);
    assert (strcmp (out, "bad__name") == 0);
    char longname [600];
    memset (longname, 'a', sizeof longname);
    s_sanitize_filename (longname, sizeof longname, out, sizeof out);
    assert (strlen (out) == sizeof out - 1);
    s_url_filename ("http://h/dir/My%20File.pdf?x=1#frag", out, sizeof out);
    assert (strcmp (out, "My File.pdf") == 0);
    s_url_filename ("http://h/dir/", out, sizeof out);
    assert (strcmp (out, "") == 0);
    s_display_url ("http://user:secret@h:8/p?q", out, sizeof out);
    assert (strcmp (out, "http://h:8/p?q") == 0);
}

void
sl_fetch_test (bool verbose)
{
    if (verbose)
        printf (" * sl_fetch:\n");
    atomic_store (&s_test_loopback_only, true);
    s_test_guard ();
    s_test_names ();

    char root [] = "/tmp/sl_fetch_test_XXXXXX";
    assert (mkdtemp (root));
    char path [2048], url [2300], tmp_dir [2048], blobs_dir [2048];
    snprintf (path, sizeof path, "%s/area", root);
    sl_blob_t *blobs = sl_blob_new (path);
    assert (blobs);
    snprintf (tmp_dir, sizeof tmp_dir, "%s/area/tmp", root);
    snprintf (blobs_dir, sizeof blobs_dir, "%s/area/blobs", root);

    s_server_t server = { 0 };
    server.pdf = s_test_pdf (&server.pdf_size, verbose);
    assert (server.pdf);
    char pdf_sha [SL_SHA256_HEX];
    sl_sha256_hex (server.pdf, server.pdf_size, pdf_sha);
    s_server_start (&server);
    char base [64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", server.port);

    sl_fetch_opts_t opts;
    sl_fetch_opts_defaults (&opts);
    assert (opts.max_bytes == 100 * 1024 * 1024 && opts.max_redirects == 5);
    opts.allow_cidrs = "127.0.0.1/32";
    sl_fetch_result_t result;
    char err [512];

    //  A real PDF: hash of the served bytes, sniffed type, name, status
    snprintf (url, sizeof url, "%s/doc.pdf", base);
    int rc = sl_fetch_url (&opts, blobs, url, &result, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "sl_fetch: %s: %s\n", url, err);
    assert (rc == 0);
    assert (strcmp (result.sha256, pdf_sha) == 0);
    assert (result.size == server.pdf_size);
    assert (strcmp (result.mime, SL_MIME_PDF) == 0);
    assert (strcmp (result.filename, "doc.pdf") == 0);
    assert (strcmp (result.final_url, url) == 0);
    assert (result.http_status == 200);
    assert (sl_blob_path (blobs, result.sha256, path, sizeof path) == 0);
    size_t stored_size;
    unsigned char *stored = s_load (path, &stored_size);
    assert (stored && stored_size == server.pdf_size
            && memcmp (stored, server.pdf, stored_size) == 0);
    free (stored);
    assert (s_count_files (tmp_dir) == 0);
    int blob_count = s_count_files (blobs_dir);

    //  The bytes decide: a ".pdf" serving HTML (declared application/pdf)
    snprintf (url, sizeof url, "%s/fake.pdf", base);
    assert (sl_fetch_url (&opts, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.mime, SL_MIME_HTML) == 0);
    assert (strcmp (result.filename, "fake.pdf") == 0);
    blob_count++;

    //  Redirects: 5 hops are within the default limit, 6 are not
    snprintf (url, sizeof url, "%s/r/4", base);
    assert (sl_fetch_url (&opts, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.sha256, pdf_sha) == 0);
    snprintf (path, sizeof path, "%s/doc.pdf", base);
    assert (strcmp (result.final_url, path) == 0);
    snprintf (url, sizeof url, "%s/r/5", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "too many redirects (more than 5)", verbose);

    //  Over the limit while streaming (chunked, no length): nothing remains
    sl_fetch_opts_t small = opts;
    small.max_bytes = 64 * 1024;
    snprintf (url, sizeof url, "%s/chunked-big", base);
    s_expect_fail (&small, blobs, url, SL_FETCH_PERMANENT, "download exceeded the 64 KiB limit",
                   verbose);
    assert (s_count_files (tmp_dir) == 0);
    assert (s_count_files (blobs_dir) == blob_count);

    //  Announced length over the limit fails before the body
    snprintf (url, sizeof url, "%s/declared-big", base);
    int64_t started = sl_mono_ms ();
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT,
                   "document is 10000000000 bytes (Content-Length), over the 100 MiB limit", verbose);
    assert (sl_mono_ms () - started < 1000);
    assert (s_count_files (tmp_dir) == 0);

    //  HTTP errors: permanent vs transient, credentials not echoed
    snprintf (url, sizeof url, "http://user:secret@127.0.0.1:%d/missing", server.port);
    snprintf (path, sizeof path, "HTTP 404 Not Found from %s/missing", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, path, verbose);
    rc = sl_fetch_url (&opts, blobs, url, &result, err, sizeof err);
    assert (rc == SL_FETCH_PERMANENT && result.http_status == 404 && !strstr (err, "secret"));
    assert (!strstr (result.final_url, "secret"));
    snprintf (url, sizeof url, "%s/unavailable", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_RETRY, "HTTP 503 Service Unavailable", verbose);
    snprintf (url, sizeof url, "%s/busy", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_RETRY, "HTTP 429", verbose);
    assert (s_count_files (tmp_dir) == 0);

    //  A stalled server times out, transiently
    sl_fetch_opts_t quick = opts;
    quick.total_timeout_ms = 1500;
    quick.low_speed_time_s = 1;
    snprintf (url, sizeof url, "%s/stall", base);
    started = sl_mono_ms ();
    rc = sl_fetch_url (&quick, blobs, url, &result, err, sizeof err);
    if (verbose)
        printf ("   %s -> %d: %s\n", url, rc, err);
    assert (rc == SL_FETCH_RETRY);
    assert (strstr (err, "timed out after 1.5 s") || strstr (err, "stalled"));
    assert (sl_mono_ms () - started < 3000);
    assert (s_count_files (tmp_dir) == 0);

    //  Nobody listening: connection refused is transient
    int dead_port = 0;
    int probe = sl_loopback_listen (0, &dead_port);     //  bound, never listening
    assert (probe >= 0);
    close (probe);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/x", dead_port);
    s_expect_fail (&opts, blobs, url, SL_FETCH_RETRY, "download failed", verbose);
    //  ... also when another address of the host was refused (::1)
    snprintf (url, sizeof url, "http://localhost:%d/x", dead_port);
    s_expect_fail (&opts, blobs, url, SL_FETCH_RETRY, "download failed", verbose);

    //  The guard: loopback needs allow_cidrs; nothing reaches the server
    int before = atomic_load (&server.connections);
    sl_fetch_opts_t strict = opts;
    strict.allow_cidrs = NULL;
    snprintf (url, sizeof url, "%s/doc.pdf", base);
    s_expect_fail (&strict, blobs, url, SL_FETCH_PERMANENT,
                   "refused to connect to 127.0.0.1: loopback address (add it to fetch.allow_cidrs",
                   verbose);
    snprintf (url, sizeof url, "http://localhost:%d/doc.pdf", server.port);
    s_expect_fail (&strict, blobs, url, SL_FETCH_PERMANENT, "loopback address", verbose);
    s_expect_fail (&strict, blobs, "http://2130706433/", SL_FETCH_PERMANENT,
                   "refused to connect to 127.0.0.1", verbose);     //  decimal IPv4 form
    s_expect_fail (&strict, blobs, "http://[::1]:1/", SL_FETCH_PERMANENT,
                   "refused to connect to ::1: loopback address", verbose);
    strict.allow_cidrs = "10.0.0.0/8";
    s_expect_fail (&strict, blobs, url, SL_FETCH_PERMANENT, "refused to connect to", verbose);
    strict.allow_cidrs = "nonsense";
    s_expect_fail (&strict, blobs, url, SL_FETCH_PERMANENT,
                   "invalid fetch.allow_cidrs entry 'nonsense'", verbose);
    //  Private and metadata addresses by literal IP: refused before any
    //  socket exists, so these send nothing anywhere
    s_expect_fail (&opts, blobs, "http://10.0.0.1/", SL_FETCH_PERMANENT,
                   "refused to connect to 10.0.0.1: private address", verbose);
    s_expect_fail (&opts, blobs, "http://169.254.169.254/latest/meta-data", SL_FETCH_PERMANENT,
                   "refused to connect to 169.254.169.254: link-local address", verbose);
    s_expect_fail (&opts, blobs, "http://[::ffff:10.0.0.1]/", SL_FETCH_PERMANENT,
                   "refused to connect to ::ffff:10.0.0.1: private address", verbose);
    s_expect_fail (&opts, blobs, "http://192.168.1.1/", SL_FETCH_PERMANENT,
                   "refused to connect to 192.168.1.1: private address", verbose);
    s_expect_fail (&opts, blobs, "https://172.16.5.4:8443/x", SL_FETCH_PERMANENT,
                   "private address", verbose);
    s_expect_fail (&opts, blobs, "http://[fd00::1]/", SL_FETCH_PERMANENT, "private", verbose);
    s_expect_fail (&opts, blobs, "http://0.0.0.0:1/", SL_FETCH_PERMANENT, "unspecified", verbose);
    assert (atomic_load (&server.connections) == before);
    //  A redirect from an allowed server to the metadata service
    snprintf (url, sizeof url, "%s/to-metadata", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT,
                   "refused to connect to 169.254.169.254", verbose);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "reached by redirect from", verbose);
    snprintf (url, sizeof url, "%s/to-file", base);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "disallowed scheme", verbose);
    assert (atomic_load (&server.connections) == before + 3);

    //  Other schemes and malformed URLs
    snprintf (url, sizeof url, "ftp://127.0.0.1:%d/x", server.port);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "unsupported URL scheme 'ftp'", verbose);
    snprintf (url, sizeof url, "gopher://127.0.0.1:%d/x", server.port);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "unsupported URL scheme 'gopher'", verbose);
    s_expect_fail (&opts, blobs, "dict://127.0.0.1/x", SL_FETCH_PERMANENT, "unsupported", verbose);
    s_expect_fail (&opts, blobs, "just some words", SL_FETCH_PERMANENT, "bad URL", verbose);
    s_expect_fail (&opts, blobs, "", SL_FETCH_PERMANENT, "empty URL", verbose);
    s_expect_fail (&opts, blobs, "http://", SL_FETCH_PERMANENT, "bad URL", verbose);
    char *huge = malloc (5000);
    assert (huge);
    memset (huge, 'a', 4999);
    memcpy (huge, "http://h/", 9);
    huge [4999] = 0;
    s_expect_fail (&opts, blobs, huge, SL_FETCH_PERMANENT, "URL longer than", verbose);
    free (huge);
    assert (atomic_load (&server.connections) == before + 3);

    //  Progress: called more than once, bytes only grow, ends at the total
    s_progress_log_t log = { 0 };
    sl_fetch_opts_t watched = opts;
    watched.progress = s_progress_log;
    watched.progress_arg = &log;
    snprintf (url, sizeof url, "%s/slow", base);
    assert (sl_fetch_url (&watched, blobs, url, &result, err, sizeof err) == 0);
    if (verbose)
        printf ("   progress: %d calls, last %zu/%zu\n", log.calls, log.last_done, log.last_total);
    assert (log.calls >= 3 && !log.decreasing);
    assert (log.last_done == 4 * 16384 && log.last_total == 4 * 16384);
    assert (result.size == 4 * 16384);

    //  File names from Content-Disposition and the URL, sanitised
    snprintf (url, sizeof url, "%s/attach", base);
    assert (sl_fetch_url (&opts, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.filename, "evil.md") == 0);
    assert (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    snprintf (url, sizeof url, "%s/attach-star", base);
    assert (sl_fetch_url (&opts, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.filename, "r\xC3\xA9sum\xC3\xA9.md") == 0);
    assert (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    snprintf (url, sizeof url, "%s/files/report%%20final.txt", base);
    assert (sl_fetch_url (&opts, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.filename, "report final.txt") == 0);
    assert (strcmp (result.mime, SL_MIME_TEXT) == 0);
    assert (result.size == 12);

    //  Threads fetch at once into one blob area
    pthread_t threads [3];
    s_fetcher_t fetchers [3];
    snprintf (url, sizeof url, "%s/doc.pdf", base);
    for (int i = 0; i < 3; i++) {
        fetchers [i] = (s_fetcher_t) { blobs, url, pdf_sha, 0 };
        assert (pthread_create (&threads [i], NULL, s_fetcher_run, &fetchers [i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join (threads [i], NULL);
        assert (fetchers [i].failures == 0);
    }
    assert (s_count_files (tmp_dir) == 0);
    s_server_stop (&server);

    //  file:// below the roots only
    char docs [1024], outside [1024];
    snprintf (docs, sizeof docs, "%s/docs", root);
    snprintf (outside, sizeof outside, "%s/docs-evil", root);
    assert (mkdir (docs, 0755) == 0 && mkdir (outside, 0755) == 0);
    snprintf (path, sizeof path, "%s/notes.md", docs);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs ("# Notes\n\nSome text.\n", file);
    fclose (file);
    char notes_sha [SL_SHA256_HEX];
    sl_sha256_hex ("# Notes\n\nSome text.\n", 20, notes_sha);
    snprintf (path, sizeof path, "%s/secret.txt", outside);
    file = fopen (path, "w");
    assert (file);
    fputs ("secret\n", file);
    fclose (file);
    snprintf (path, sizeof path, "%s/escape.txt", docs);
    char target [2100];
    snprintf (target, sizeof target, "%s/secret.txt", outside);
    assert (symlink (target, path) == 0);
    snprintf (path, sizeof path, "%s/inside-link.md", docs);
    snprintf (target, sizeof target, "%s/notes.md", docs);
    assert (symlink (target, path) == 0);
    snprintf (path, sizeof path, "%s/pipe", docs);
    assert (mkfifo (path, 0600) == 0);

    sl_fetch_opts_t files = opts;
    char roots [4200];
    snprintf (roots, sizeof roots, "/nonexistent-root:%s", docs);
    files.file_roots = roots;
    files.progress = s_progress_log;
    files.progress_arg = &log;
    memset (&log, 0, sizeof log);
    snprintf (url, sizeof url, "file://%s/notes.md", docs);
    rc = sl_fetch_url (&files, blobs, url, &result, err, sizeof err);
    if (rc)
        fprintf (stderr, "sl_fetch: %s: %s\n", url, err);
    assert (rc == 0);
    assert (strcmp (result.sha256, notes_sha) == 0 && result.size == 20);
    assert (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    assert (strcmp (result.filename, "notes.md") == 0);
    assert (result.http_status == 0);
    assert (log.calls >= 1 && log.last_done == 20 && log.last_total == 20);
    snprintf (url, sizeof url, "file://localhost%s/notes.md", docs);
    assert (sl_fetch_url (&files, blobs, url, &result, err, sizeof err) == 0);
    snprintf (url, sizeof url, "file://%s/inside-link.md", docs);
    assert (sl_fetch_url (&files, blobs, url, &result, err, sizeof err) == 0);
    assert (strcmp (result.sha256, notes_sha) == 0);
    files.max_bytes = 10;
    snprintf (url, sizeof url, "file://%s/notes.md", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "over the 10 bytes limit", verbose);
    files.max_bytes = opts.max_bytes;

    s_expect_fail (&files, blobs, "file:///etc/passwd", SL_FETCH_PERMANENT,
                   "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/escape.txt", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/secret.txt", outside);      //  shares the prefix
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/%%2e%%2e/docs-evil/secret.txt", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/../docs-evil/secret.txt", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/pipe", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "not a regular file", verbose);
    snprintf (url, sizeof url, "file://%s", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "not a regular file", verbose);
    snprintf (url, sizeof url, "file://%s/absent.txt", docs);
    s_expect_fail (&files, blobs, url, SL_FETCH_PERMANENT, "No such file", verbose);
    snprintf (url, sizeof url, "file://example.com%s/notes.md", docs);
    rc = sl_fetch_url (&files, blobs, url, &result, err, sizeof err);
    assert (rc == SL_FETCH_PERMANENT);
    snprintf (url, sizeof url, "file://%s/notes.md", docs);
    s_expect_fail (&opts, blobs, url, SL_FETCH_PERMANENT, "file:// URLs are disabled", verbose);
    assert (s_count_files (tmp_dir) == 0);

    assert (atomic_load (&s_test_offhost_attempts) == 0);
    atomic_store (&s_test_loopback_only, false);
    free ((void *) server.pdf);
    sl_blob_destroy (&blobs);
    snprintf (path, sizeof path, "rm -rf '%s'", root);
    assert (system (path) == 0);
    if (verbose)
        printf ("   OK\n");
}
