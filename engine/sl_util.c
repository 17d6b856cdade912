/*  sl_util: clocks, ids, hashing and file helpers. See sl_util.h. */
#include "sl_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t
sl_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sl_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_hex (const unsigned char *bin, size_t n, char *out)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out [2 * i] = digits [bin [i] >> 4];
        out [2 * i + 1] = digits [bin [i] & 15];
    }
    out [2 * n] = 0;
}

void
sl_id_new (char buf [SL_ID_LEN + 1])
{
    unsigned char bin [SL_ID_LEN / 2];
    if (getrandom (bin, sizeof bin, 0) != (ssize_t) sizeof bin) {
        //  getrandom never fails for 16 bytes after boot; be safe anyway
        static __thread uint64_t counter;
        uint64_t parts [2] = { (uint64_t) sl_now_ms () ^ (uint64_t) getpid (), ++counter };
        memcpy (bin, parts, sizeof bin);
    }
    s_hex (bin, sizeof bin, buf);
}

void
sl_id_derive (char buf [SL_ID_LEN + 1], const char *a, const char *b, const char *c)
{
    sl_sha256_t *sha = sl_sha256_new ();
    const char *parts [3] = { a, b, c };
    for (int i = 0; i < 3; i++)
        sl_sha256_update (sha, parts [i] ? parts [i] : "", strlen (parts [i] ? parts [i] : "") + 1);
    char hex [SL_SHA256_HEX];
    sl_sha256_final (&sha, hex);
    memcpy (buf, hex, SL_ID_LEN);
    buf [SL_ID_LEN] = 0;
}

struct sl_sha256_s {
    EVP_MD_CTX *ctx;
};

sl_sha256_t *
sl_sha256_new (void)
{
    sl_sha256_t *self = calloc (1, sizeof *self);
    assert (self);
    self->ctx = EVP_MD_CTX_new ();
    assert (self->ctx);
    EVP_DigestInit_ex (self->ctx, EVP_sha256 (), NULL);
    return self;
}

void
sl_sha256_update (sl_sha256_t *self, const void *data, size_t size)
{
    EVP_DigestUpdate (self->ctx, data, size);
}

void
sl_sha256_final (sl_sha256_t **self_p, char out [SL_SHA256_HEX])
{
    sl_sha256_t *self = *self_p;
    unsigned char md [32];
    unsigned int len = 0;
    EVP_DigestFinal_ex (self->ctx, md, &len);
    s_hex (md, 32, out);
    EVP_MD_CTX_free (self->ctx);
    free (self);
    *self_p = NULL;
}

void
sl_sha256_hex (const void *data, size_t size, char out [SL_SHA256_HEX])
{
    sl_sha256_t *sha = sl_sha256_new ();
    sl_sha256_update (sha, data, size);
    sl_sha256_final (&sha, out);
}

int
sl_mkdirs (const char *path, int mode)
{
    char tmp [4096];
    if (snprintf (tmp, sizeof tmp, "%s", path) >= (int) sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (tmp, (mode_t) mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (tmp, (mode_t) mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int
sl_loopback_listen (int backlog, int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0
    ||  (backlog > 0 && listen (fd, backlog) != 0)
    ||  getsockname (fd, (struct sockaddr *) &addr, &alen) != 0) {
        close (fd);
        return -1;
    }
    *port = ntohs (addr.sin_port);
    return fd;
}

bool
sl_disk_full (int err)
{
    return err == ENOSPC || err == EDQUOT;
}

bool
sl_token_valid (const char *s)
{
    if (!s || !*s)
        return false;
    size_t n = 0;
    for (; s [n]; n++) {
        char c = s [n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == '.'))
            return false;
        if (n >= 64)
            return false;
    }
    return !(n == 1 && s [0] == '.') && strcmp (s, "..") != 0;
}

//  --------------------------------------------------------------------------
//  Text for JSON: one UTF-8 policy (sl_util.h), shared by sl_json and libsluice

//  Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
//  bytes there are not one. Rejects overlong forms, surrogates and code
//  points past U+10FFFF: exactly what jansson refuses.
static size_t
s_utf8_seq (const unsigned char *s, size_t n)
{
    unsigned char c = s [0];
    if (c < 0x80)
        return c ? 1 : 0;           //  NUL is legal JSON (\u0000) but not in C strings
    size_t len;
    unsigned int cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else
    if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else
    if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s [i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s [i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
    ||  (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

bool
sl_utf8_valid (const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < n) {
        size_t len = s_utf8_seq (p + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

char *
sl_utf8_repair (const char *s, size_t len, size_t *out_len)
{
    //  Worst case every byte becomes the 3-byte replacement character
    char *out = malloc (len * 3 + 1);
    assert (out);
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t seq = s_utf8_seq (p + i, len - i);
        if (seq) {
            memcpy (out + o, p + i, seq);
            o += seq;
            i += seq;
        }
        else {
            memcpy (out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out [o] = 0;
    if (out_len)
        *out_len = o;
    return out;
}

char *
sl_base64_encode (const void *data, size_t size)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = (size + 2) / 3 * 4 + 1;
    char *out = malloc (cap);
    assert (out);
    const unsigned char *p = (const unsigned char *) data;
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        unsigned int v = p [i] << 16;
        if (i + 1 < size) v |= p [i + 1] << 8;
        if (i + 2 < size) v |= p [i + 2];
        out [o++] = alphabet [(v >> 18) & 63];
        out [o++] = alphabet [(v >> 12) & 63];
        out [o++] = i + 1 < size ? alphabet [(v >> 6) & 63] : '=';
        out [o++] = i + 2 < size ? alphabet [v & 63] : '=';
    }
    out [o] = 0;
    return out;
}

int
sl_cpu_quota_v2 (const char *text)
{
    long long quota = 0, period = 0;
    if (!text || strncmp (text, "max", 3) == 0
    ||  sscanf (text, "%lld %lld", &quota, &period) != 2 || quota <= 0 || period <= 0)
        return 0;
    return (int) ((quota + period - 1) / period);
}

//  A small file's first line, or "" (NUL-terminated in buf)
static void
s_read_line (const char *path, char *buf, size_t cap)
{
    buf [0] = 0;
    FILE *f = fopen (path, "r");
    if (f) {
        if (!fgets (buf, (int) cap, f))
            buf [0] = 0;
        fclose (f);
    }
}

int
sl_cpu_count (void)
{
    int cpus = 0;
    cpu_set_t set;
    if (sched_getaffinity (0, sizeof set, &set) == 0)
        cpus = CPU_COUNT (&set);
    if (cpus <= 0) {
        long online = sysconf (_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? (int) online : 1;
    }
    char line [128];
    s_read_line ("/sys/fs/cgroup/cpu.max", line, sizeof line);
    int quota = sl_cpu_quota_v2 (line);
    if (quota == 0) {
        //  cgroup v1: the quota and the period in two files
        char period [64];
        s_read_line ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", line, sizeof line);
        s_read_line ("/sys/fs/cgroup/cpu/cpu.cfs_period_us", period, sizeof period);
        char both [200];
        snprintf (both, sizeof both, "%lld %lld", atoll (line), atoll (period));
        quota = sl_cpu_quota_v2 (both);
    }
    return quota > 0 && quota < cpus ? quota : cpus;
}
