/*  sl_util: clocks, ids, hashing and file helpers. See sl_util.h. */
#include "sl_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
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
