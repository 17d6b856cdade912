/*  sl_fetch_test: self-test of sl_fetch against a small HTTP/1.1 server on
    127.0.0.1 with canned responses (redirects, sizes, errors, slow bodies),
    plus file:// fetches and the address guard and filename helpers from
    sl_fetch_internal.h. The guard test hook keeps every connection on the
    machine.
*/
#include "sl_fetch_internal.h"
#include "sl_util.h"

#include <arpa/inet.h>
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

#include "sl_check.h"

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
    CHECK (n > 0 && (size_t) n < sizeof buf);
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
    CHECK (server->listen_fd >= 0);
    atomic_store (&server->stop, false);
    atomic_store (&server->connections, 0);
    CHECK (pthread_create (&server->thread, NULL, s_server_run, server) == 0);
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
    CHECK (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char sub [2048];
        snprintf (sub, sizeof sub, "%s/%s", path, entry->d_name);
        struct stat st;
        CHECK (lstat (sub, &st) == 0);
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
    CHECK (data);
    CHECK (fread (data, 1, (size_t) len, file) == (size_t) len);
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
    CHECK (pdf);
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
    CHECK (len < cap);
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
        CHECK (false);
    }
    CHECK (result.sha256 [0] == 0);
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
s_test_guard_ranges (void)
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
        CHECK (inet_pton (family, cases [i].addr, a) == 1);
        const char *reason = sl_fetch_addr_reason (family, a);
        if ((reason != NULL) != cases [i].refused) {
            fprintf (stderr, "sl_fetch: guard %s: %s\n", cases [i].addr, reason ? reason : "public");
            CHECK (false);
        }
    }
}

//  allow_cidrs parsing and matching, including mapped forms
static void
s_test_allow_cidrs (void)
{
    sl_fetch_ctx_t ctx = { 0 };
    char bad [80], text [INET6_ADDRSTRLEN];
    ctx.allow_count = sl_fetch_cidrs_parse (" 127.0.0.1/32, 10.1.0.0/16 ,fd00::/8,192.168.1.7", &ctx.allow,
                                     bad, sizeof bad);
    CHECK (ctx.allow_count == 4);
    unsigned char a [16];
    inet_pton (AF_INET, "127.0.0.1", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "127.0.0.2", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text) != NULL);
    inet_pton (AF_INET, "10.1.200.3", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "10.2.0.1", a);
    CHECK (strcmp (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text), "private address") == 0);
    CHECK (strcmp (text, "10.2.0.1") == 0);
    inet_pton (AF_INET, "192.168.1.7", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text) == NULL);
    inet_pton (AF_INET, "192.168.1.8", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET, a, text, sizeof text) != NULL);
    inet_pton (AF_INET6, "::ffff:127.0.0.1", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET6, a, text, sizeof text) == NULL);
    inet_pton (AF_INET6, "fd00::5", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET6, a, text, sizeof text) == NULL);
    inet_pton (AF_INET6, "fc00::5", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET6, a, text, sizeof text) != NULL);
    inet_pton (AF_INET6, "::1", a);
    CHECK (sl_fetch_guard (&ctx, AF_INET6, a, text, sizeof text) != NULL);
    free (ctx.allow);
    sl_fetch_cidr_t *list;
    const char *invalid [] = { "bogus", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8x",
                               "10.0.0.0/-1", "1.2.3.4.5", NULL };
    for (int i = 0; invalid [i]; i++)
        CHECK (sl_fetch_cidrs_parse (invalid [i], &list, bad, sizeof bad) == -1);
    CHECK (sl_fetch_cidrs_parse ("", &list, bad, sizeof bad) == 0);
    free (list);
    CHECK (sl_fetch_cidrs_parse ("0.0.0.0/0", &list, bad, sizeof bad) == 1);
    free (list);
}

static void
s_test_names (void)
{
    char out [256];
    sl_fetch_disposition_filename ("attachment; filename=\"report.pdf\"", out, sizeof out);
    CHECK (strcmp (out, "report.pdf") == 0);
    sl_fetch_disposition_filename ("attachment; filename=plain.txt; size=3", out, sizeof out);
    CHECK (strcmp (out, "plain.txt") == 0);
    sl_fetch_disposition_filename ("inline; filename=\"a \\\"q\\\".md\"", out, sizeof out);
    CHECK (strcmp (out, "a \"q\".md") == 0);
    sl_fetch_disposition_filename ("attachment; filename=\"../../etc/passwd\"", out, sizeof out);
    CHECK (strcmp (out, "passwd") == 0);
    sl_fetch_disposition_filename ("attachment; filename=\"..\\\\..\\\\boot.ini\"", out, sizeof out);
    CHECK (strcmp (out, "boot.ini") == 0);
    sl_fetch_disposition_filename ("attachment; filename=\"..\"", out, sizeof out);
    CHECK (strcmp (out, "") == 0);
    sl_fetch_disposition_filename ("attachment; filename*=UTF-8''%e2%82%ac%20rates.pdf", out, sizeof out);
    CHECK (strcmp (out, "\xE2\x82\xAC rates.pdf") == 0);
    sl_fetch_disposition_filename ("attachment; filename*=UTF-8''a%00b%0Ac.txt", out, sizeof out);
    CHECK (strcmp (out, "a%00bc.txt") == 0);
    sl_fetch_disposition_filename ("attachment", out, sizeof out);
    CHECK (strcmp (out, "") == 0);
    //  Invalid UTF-8 and over-long names
    sl_fetch_sanitize_filename ("bad\xFF\xFEname", 9, out, sizeof out);
    CHECK (strcmp (out, "bad__name") == 0);
    char longname [600];
    memset (longname, 'a', sizeof longname);
    sl_fetch_sanitize_filename (longname, sizeof longname, out, sizeof out);
    CHECK (strlen (out) == sizeof out - 1);
    sl_fetch_url_filename ("http://h/dir/My%20File.pdf?x=1#frag", out, sizeof out);
    CHECK (strcmp (out, "My File.pdf") == 0);
    sl_fetch_url_filename ("http://h/dir/", out, sizeof out);
    CHECK (strcmp (out, "") == 0);
    sl_fetch_display_url ("http://user:secret@h:8/p?q", out, sizeof out);
    CHECK (strcmp (out, "http://h:8/p?q") == 0);
}

//  --------------------------------------------------------------------------
//  Shared fixture: a blob area under a temporary root, the test server with
//  its PDF, and the options every case starts from. Some cases carry a
//  figure to a later one (blob count, server connections, the file:// tree)

static struct {
    bool verbose;
    char root [32];
    char tmp_dir [2048];
    char blobs_dir [2048];
    sl_blob_t *blobs;
    s_server_t server;
    char pdf_sha [SL_SHA256_HEX];
    char base [64];
    sl_fetch_opts_t opts;
    int blob_count;             //  blobs stored after the first fetches
    int before;                 //  server connections before the guard cases
    s_progress_log_t log;
    char docs [1024];
    char outside [1024];
    char notes_sha [SL_SHA256_HEX];
    char roots [4200];
    sl_fetch_opts_t files;      //  opts with file:// roots
} s_fx;

static void
s_fixture_setup (bool verbose)
{
    s_fx.verbose = verbose;
    char path [2048];
    snprintf (s_fx.root, sizeof s_fx.root, "/tmp/sl_fetch_test_XXXXXX");
    CHECK (mkdtemp (s_fx.root));
    snprintf (path, sizeof path, "%s/area", s_fx.root);
    s_fx.blobs = sl_blob_new (path);
    CHECK (s_fx.blobs);
    snprintf (s_fx.tmp_dir, sizeof s_fx.tmp_dir, "%s/area/tmp", s_fx.root);
    snprintf (s_fx.blobs_dir, sizeof s_fx.blobs_dir, "%s/area/blobs", s_fx.root);

    s_fx.server.pdf = s_test_pdf (&s_fx.server.pdf_size, verbose);
    CHECK (s_fx.server.pdf);
    sl_sha256_hex (s_fx.server.pdf, s_fx.server.pdf_size, s_fx.pdf_sha);
    s_server_start (&s_fx.server);
    snprintf (s_fx.base, sizeof s_fx.base, "http://127.0.0.1:%d", s_fx.server.port);
}

static void
s_test_default_options (void)
{
    sl_fetch_opts_defaults (&s_fx.opts);
    CHECK (s_fx.opts.max_bytes == 100 * 1024 * 1024 && s_fx.opts.max_redirects == 5);
    s_fx.opts.allow_cidrs = "127.0.0.1/32";
}

//  A real PDF: hash of the served bytes, sniffed type, name, status
static void
s_test_pdf_fetched_intact (void)
{
    char path [2048], url [2300], err [512];
    sl_fetch_result_t result;
    snprintf (url, sizeof url, "%s/doc.pdf", s_fx.base);
    int rc = sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "sl_fetch: %s: %s\n", url, err);
    CHECK (rc == 0);
    CHECK (strcmp (result.sha256, s_fx.pdf_sha) == 0);
    CHECK (result.size == s_fx.server.pdf_size);
    CHECK (strcmp (result.mime, SL_MIME_PDF) == 0);
    CHECK (strcmp (result.filename, "doc.pdf") == 0);
    CHECK (strcmp (result.final_url, url) == 0);
    CHECK (result.http_status == 200);
    CHECK (sl_blob_path (s_fx.blobs, result.sha256, path, sizeof path) == 0);
    size_t stored_size;
    unsigned char *stored = s_load (path, &stored_size);
    CHECK (stored && stored_size == s_fx.server.pdf_size
           && memcmp (stored, s_fx.server.pdf, stored_size) == 0);
    free (stored);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
    s_fx.blob_count = s_count_files (s_fx.blobs_dir);
}

//  The bytes decide: a ".pdf" serving HTML (declared application/pdf)
static void
s_test_type_sniffed_from_bytes (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    snprintf (url, sizeof url, "%s/fake.pdf", s_fx.base);
    CHECK (sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.mime, SL_MIME_HTML) == 0);
    CHECK (strcmp (result.filename, "fake.pdf") == 0);
    s_fx.blob_count++;
}

//  Redirects: 5 hops are within the default limit, 6 are not
static void
s_test_redirect_limit (void)
{
    char path [2048], url [2300], err [512];
    sl_fetch_result_t result;
    snprintf (url, sizeof url, "%s/r/4", s_fx.base);
    CHECK (sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.sha256, s_fx.pdf_sha) == 0);
    snprintf (path, sizeof path, "%s/doc.pdf", s_fx.base);
    CHECK (strcmp (result.final_url, path) == 0);
    snprintf (url, sizeof url, "%s/r/5", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "too many redirects (more than 5)", s_fx.verbose);
}

//  Over the limit while streaming (chunked, no length): nothing remains
static void
s_test_streamed_size_limit_leaves_nothing (void)
{
    char url [2300];
    sl_fetch_opts_t small = s_fx.opts;
    small.max_bytes = 64 * 1024;
    snprintf (url, sizeof url, "%s/chunked-big", s_fx.base);
    s_expect_fail (&small, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "download exceeded the 64 KiB limit", s_fx.verbose);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
    CHECK (s_count_files (s_fx.blobs_dir) == s_fx.blob_count);
}

//  Announced length over the limit fails before the body
static void
s_test_declared_size_refused_early (void)
{
    char url [2300];
    snprintf (url, sizeof url, "%s/declared-big", s_fx.base);
    int64_t started = sl_mono_ms ();
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "document is 10000000000 bytes (Content-Length), over the 100 MiB limit",
                   s_fx.verbose);
    CHECK (sl_mono_ms () - started < 1000);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
}

//  HTTP errors: permanent vs transient, credentials not echoed
static void
s_test_http_errors_classified (void)
{
    char path [2048], url [2300], err [512];
    sl_fetch_result_t result;
    snprintf (url, sizeof url, "http://user:secret@127.0.0.1:%d/missing", s_fx.server.port);
    snprintf (path, sizeof path, "HTTP 404 Not Found from %s/missing", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT, path, s_fx.verbose);
    int rc = sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err);
    CHECK (rc == SL_FETCH_PERMANENT && result.http_status == 404 && !strstr (err, "secret"));
    CHECK (!strstr (result.final_url, "secret"));
    snprintf (url, sizeof url, "%s/unavailable", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_RETRY, "HTTP 503 Service Unavailable",
                   s_fx.verbose);
    snprintf (url, sizeof url, "%s/busy", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_RETRY, "HTTP 429", s_fx.verbose);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
}

//  A stalled server times out, transiently
static void
s_test_stalled_server_times_out (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    sl_fetch_opts_t quick = s_fx.opts;
    quick.total_timeout_ms = 1500;
    quick.low_speed_time_s = 1;
    snprintf (url, sizeof url, "%s/stall", s_fx.base);
    int64_t started = sl_mono_ms ();
    int rc = sl_fetch_url (&quick, s_fx.blobs, url, &result, err, sizeof err);
    if (s_fx.verbose)
        printf ("   %s -> %d: %s\n", url, rc, err);
    CHECK (rc == SL_FETCH_RETRY);
    CHECK (strstr (err, "timed out after 1.5 s") || strstr (err, "stalled"));
    CHECK (sl_mono_ms () - started < 3000);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
}

//  Nobody listening: connection refused is transient
static void
s_test_connection_refused_is_transient (void)
{
    char url [2300];
    int dead_port = 0;
    int probe = sl_loopback_listen (0, &dead_port);     //  bound, never listening
    CHECK (probe >= 0);
    close (probe);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/x", dead_port);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_RETRY, "download failed", s_fx.verbose);
    //  ... also when another address of the host was refused (::1)
    snprintf (url, sizeof url, "http://localhost:%d/x", dead_port);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_RETRY, "download failed", s_fx.verbose);
}

//  The guard: loopback needs allow_cidrs; nothing reaches the server
static void
s_test_loopback_needs_allow_cidrs (void)
{
    char url [2300];
    bool verbose = s_fx.verbose;
    sl_blob_t *blobs = s_fx.blobs;
    s_fx.before = atomic_load (&s_fx.server.connections);
    sl_fetch_opts_t strict = s_fx.opts;
    strict.allow_cidrs = NULL;
    snprintf (url, sizeof url, "%s/doc.pdf", s_fx.base);
    s_expect_fail (&strict, blobs, url, SL_FETCH_PERMANENT,
                   "refused to connect to 127.0.0.1: loopback address (add it to fetch.allow_cidrs",
                   verbose);
    snprintf (url, sizeof url, "http://localhost:%d/doc.pdf", s_fx.server.port);
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
}

//  Private and metadata addresses by literal IP: refused before any
//  socket exists, so these send nothing anywhere
static void
s_test_private_literals_refused_before_connect (void)
{
    bool verbose = s_fx.verbose;
    const sl_fetch_opts_t *opts = &s_fx.opts;
    sl_blob_t *blobs = s_fx.blobs;
    s_expect_fail (opts, blobs, "http://10.0.0.1/", SL_FETCH_PERMANENT,
                   "refused to connect to 10.0.0.1: private address", verbose);
    s_expect_fail (opts, blobs, "http://169.254.169.254/latest/meta-data", SL_FETCH_PERMANENT,
                   "refused to connect to 169.254.169.254: link-local address", verbose);
    s_expect_fail (opts, blobs, "http://[::ffff:10.0.0.1]/", SL_FETCH_PERMANENT,
                   "refused to connect to ::ffff:10.0.0.1: private address", verbose);
    s_expect_fail (opts, blobs, "http://192.168.1.1/", SL_FETCH_PERMANENT,
                   "refused to connect to 192.168.1.1: private address", verbose);
    s_expect_fail (opts, blobs, "https://172.16.5.4:8443/x", SL_FETCH_PERMANENT,
                   "private address", verbose);
    s_expect_fail (opts, blobs, "http://[fd00::1]/", SL_FETCH_PERMANENT, "private", verbose);
    s_expect_fail (opts, blobs, "http://0.0.0.0:1/", SL_FETCH_PERMANENT, "unspecified", verbose);
    CHECK (atomic_load (&s_fx.server.connections) == s_fx.before);
}

//  A redirect from an allowed server to the metadata service
static void
s_test_redirect_to_metadata_or_file_refused (void)
{
    char url [2300];
    snprintf (url, sizeof url, "%s/to-metadata", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "refused to connect to 169.254.169.254", s_fx.verbose);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "reached by redirect from", s_fx.verbose);
    snprintf (url, sizeof url, "%s/to-file", s_fx.base);
    s_expect_fail (&s_fx.opts, s_fx.blobs, url, SL_FETCH_PERMANENT,
                   "disallowed scheme", s_fx.verbose);
    CHECK (atomic_load (&s_fx.server.connections) == s_fx.before + 3);
}

//  Other schemes and malformed URLs
static void
s_test_bad_schemes_and_urls_refused (void)
{
    char url [2300];
    bool verbose = s_fx.verbose;
    const sl_fetch_opts_t *opts = &s_fx.opts;
    sl_blob_t *blobs = s_fx.blobs;
    snprintf (url, sizeof url, "ftp://127.0.0.1:%d/x", s_fx.server.port);
    s_expect_fail (opts, blobs, url, SL_FETCH_PERMANENT, "unsupported URL scheme 'ftp'", verbose);
    snprintf (url, sizeof url, "gopher://127.0.0.1:%d/x", s_fx.server.port);
    s_expect_fail (opts, blobs, url, SL_FETCH_PERMANENT, "unsupported URL scheme 'gopher'", verbose);
    s_expect_fail (opts, blobs, "dict://127.0.0.1/x", SL_FETCH_PERMANENT, "unsupported", verbose);
    s_expect_fail (opts, blobs, "just some words", SL_FETCH_PERMANENT, "bad URL", verbose);
    s_expect_fail (opts, blobs, "", SL_FETCH_PERMANENT, "empty URL", verbose);
    s_expect_fail (opts, blobs, "http://", SL_FETCH_PERMANENT, "bad URL", verbose);
    char *huge = malloc (5000);
    CHECK (huge);
    memset (huge, 'a', 4999);
    memcpy (huge, "http://h/", 9);
    huge [4999] = 0;
    s_expect_fail (opts, blobs, huge, SL_FETCH_PERMANENT, "URL longer than", verbose);
    free (huge);
    CHECK (atomic_load (&s_fx.server.connections) == s_fx.before + 3);
}

//  Progress: called more than once, bytes only grow, ends at the total
static void
s_test_progress_grows_to_total (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    s_fx.log = (s_progress_log_t) { 0 };
    sl_fetch_opts_t watched = s_fx.opts;
    watched.progress = s_progress_log;
    watched.progress_arg = &s_fx.log;
    snprintf (url, sizeof url, "%s/slow", s_fx.base);
    CHECK (sl_fetch_url (&watched, s_fx.blobs, url, &result, err, sizeof err) == 0);
    if (s_fx.verbose)
        printf ("   progress: %d calls, last %zu/%zu\n",
                s_fx.log.calls, s_fx.log.last_done, s_fx.log.last_total);
    CHECK (s_fx.log.calls >= 3 && !s_fx.log.decreasing);
    CHECK (s_fx.log.last_done == 4 * 16384 && s_fx.log.last_total == 4 * 16384);
    CHECK (result.size == 4 * 16384);
}

//  File names from Content-Disposition and the URL, sanitised
static void
s_test_served_filenames_sanitised (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    snprintf (url, sizeof url, "%s/attach", s_fx.base);
    CHECK (sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.filename, "evil.md") == 0);
    CHECK (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    snprintf (url, sizeof url, "%s/attach-star", s_fx.base);
    CHECK (sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.filename, "r\xC3\xA9sum\xC3\xA9.md") == 0);
    CHECK (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    snprintf (url, sizeof url, "%s/files/report%%20final.txt", s_fx.base);
    CHECK (sl_fetch_url (&s_fx.opts, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.filename, "report final.txt") == 0);
    CHECK (strcmp (result.mime, SL_MIME_TEXT) == 0);
    CHECK (result.size == 12);
}

//  Threads fetch at once into one blob area
static void
s_test_concurrent_fetches_share_blob_area (void)
{
    char url [2300];
    pthread_t threads [3];
    s_fetcher_t fetchers [3];
    snprintf (url, sizeof url, "%s/doc.pdf", s_fx.base);
    for (int i = 0; i < 3; i++) {
        fetchers [i] = (s_fetcher_t) { s_fx.blobs, url, s_fx.pdf_sha, 0 };
        CHECK (pthread_create (&threads [i], NULL, s_fetcher_run, &fetchers [i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join (threads [i], NULL);
        CHECK (fetchers [i].failures == 0);
    }
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
}

//  file:// below the roots only: the tree the file cases read
static void
s_file_tree_setup (void)
{
    char path [2048];
    snprintf (s_fx.docs, sizeof s_fx.docs, "%s/docs", s_fx.root);
    snprintf (s_fx.outside, sizeof s_fx.outside, "%s/docs-evil", s_fx.root);
    CHECK (mkdir (s_fx.docs, 0755) == 0 && mkdir (s_fx.outside, 0755) == 0);
    snprintf (path, sizeof path, "%s/notes.md", s_fx.docs);
    FILE *file = fopen (path, "w");
    CHECK (file);
    fputs ("# Notes\n\nSome text.\n", file);
    fclose (file);
    sl_sha256_hex ("# Notes\n\nSome text.\n", 20, s_fx.notes_sha);
    snprintf (path, sizeof path, "%s/secret.txt", s_fx.outside);
    file = fopen (path, "w");
    CHECK (file);
    fputs ("secret\n", file);
    fclose (file);
    snprintf (path, sizeof path, "%s/escape.txt", s_fx.docs);
    char target [2100];
    snprintf (target, sizeof target, "%s/secret.txt", s_fx.outside);
    CHECK (symlink (target, path) == 0);
    snprintf (path, sizeof path, "%s/inside-link.md", s_fx.docs);
    snprintf (target, sizeof target, "%s/notes.md", s_fx.docs);
    CHECK (symlink (target, path) == 0);
    snprintf (path, sizeof path, "%s/pipe", s_fx.docs);
    CHECK (mkfifo (path, 0600) == 0);

    s_fx.files = s_fx.opts;
    snprintf (s_fx.roots, sizeof s_fx.roots, "/nonexistent-root:%s", s_fx.docs);
    s_fx.files.file_roots = s_fx.roots;
    s_fx.files.progress = s_progress_log;
    s_fx.files.progress_arg = &s_fx.log;
}

//  A file below a root is stored like a download, also via localhost and
//  a symlink that stays inside; its size limit holds
static void
s_test_file_below_root_fetched (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    sl_fetch_opts_t *files = &s_fx.files;
    memset (&s_fx.log, 0, sizeof s_fx.log);
    snprintf (url, sizeof url, "file://%s/notes.md", s_fx.docs);
    int rc = sl_fetch_url (files, s_fx.blobs, url, &result, err, sizeof err);
    if (rc)
        fprintf (stderr, "sl_fetch: %s: %s\n", url, err);
    CHECK (rc == 0);
    CHECK (strcmp (result.sha256, s_fx.notes_sha) == 0 && result.size == 20);
    CHECK (strcmp (result.mime, SL_MIME_MARKDOWN) == 0);
    CHECK (strcmp (result.filename, "notes.md") == 0);
    CHECK (result.http_status == 0);
    CHECK (s_fx.log.calls >= 1 && s_fx.log.last_done == 20 && s_fx.log.last_total == 20);
    snprintf (url, sizeof url, "file://localhost%s/notes.md", s_fx.docs);
    CHECK (sl_fetch_url (files, s_fx.blobs, url, &result, err, sizeof err) == 0);
    snprintf (url, sizeof url, "file://%s/inside-link.md", s_fx.docs);
    CHECK (sl_fetch_url (files, s_fx.blobs, url, &result, err, sizeof err) == 0);
    CHECK (strcmp (result.sha256, s_fx.notes_sha) == 0);
    files->max_bytes = 10;
    snprintf (url, sizeof url, "file://%s/notes.md", s_fx.docs);
    s_expect_fail (files, s_fx.blobs, url, SL_FETCH_PERMANENT, "over the 10 bytes limit",
                   s_fx.verbose);
    files->max_bytes = s_fx.opts.max_bytes;
}

//  Outside the roots (by path, symlink, shared prefix, dot segments), not
//  regular, absent, on another host, or with file:// off: refused
static void
s_test_file_outside_roots_refused (void)
{
    char url [2300], err [512];
    sl_fetch_result_t result;
    bool verbose = s_fx.verbose;
    sl_fetch_opts_t *files = &s_fx.files;
    sl_blob_t *blobs = s_fx.blobs;
    const char *docs = s_fx.docs;
    s_expect_fail (files, blobs, "file:///etc/passwd", SL_FETCH_PERMANENT,
                   "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/escape.txt", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/secret.txt", s_fx.outside);      //  shares the prefix
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/%%2e%%2e/docs-evil/secret.txt", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/../docs-evil/secret.txt", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "outside fetch.file_roots", verbose);
    snprintf (url, sizeof url, "file://%s/pipe", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "not a regular file", verbose);
    snprintf (url, sizeof url, "file://%s", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "not a regular file", verbose);
    snprintf (url, sizeof url, "file://%s/absent.txt", docs);
    s_expect_fail (files, blobs, url, SL_FETCH_PERMANENT, "No such file", verbose);
    snprintf (url, sizeof url, "file://example.com%s/notes.md", docs);
    int rc = sl_fetch_url (files, blobs, url, &result, err, sizeof err);
    CHECK (rc == SL_FETCH_PERMANENT);
    snprintf (url, sizeof url, "file://%s/notes.md", docs);
    s_expect_fail (&s_fx.opts, blobs, url, SL_FETCH_PERMANENT, "file:// URLs are disabled", verbose);
    CHECK (s_count_files (s_fx.tmp_dir) == 0);
}

static void
s_test_nothing_left_the_machine (void)
{
    CHECK (atomic_load (&sl_fetch_test_offhost_attempts) == 0);
}

void
sl_fetch_test (bool verbose)
{
    if (verbose)
        printf (" * sl_fetch:\n");
    atomic_store (&sl_fetch_test_loopback_only, true);
    CASE ("guard classifies public and refused addresses", s_test_guard_ranges ());
    CASE ("allow_cidrs parsed and matched, mapped forms too", s_test_allow_cidrs ());
    CASE ("file names from headers and URLs sanitised", s_test_names ());

    CASE ("setup: blob area and test server", s_fixture_setup (verbose));
    CASE ("default limits: 100 MiB, 5 redirects", s_test_default_options ());
    CASE ("PDF stored byte-exact with hash, type, name, status", s_test_pdf_fetched_intact ());
    CASE ("type sniffed from the bytes, not the header", s_test_type_sniffed_from_bytes ());
    CASE ("5 redirects followed, 6 refused", s_test_redirect_limit ());
    CASE ("streamed body over the limit leaves nothing", s_test_streamed_size_limit_leaves_nothing ());
    CASE ("declared length over the limit refused before the body", s_test_declared_size_refused_early ());
    CASE ("HTTP errors permanent or transient, credentials not echoed", s_test_http_errors_classified ());
    CASE ("stalled server times out transiently", s_test_stalled_server_times_out ());
    CASE ("connection refused is transient", s_test_connection_refused_is_transient ());
    CASE ("loopback needs allow_cidrs", s_test_loopback_needs_allow_cidrs ());
    CASE ("private and metadata literals refused before connecting", s_test_private_literals_refused_before_connect ());
    CASE ("redirect to metadata service or file:// refused", s_test_redirect_to_metadata_or_file_refused ());
    CASE ("other schemes and malformed URLs refused", s_test_bad_schemes_and_urls_refused ());
    CASE ("progress only grows and ends at the total", s_test_progress_grows_to_total ());
    CASE ("served file names sanitised", s_test_served_filenames_sanitised ());
    CASE ("concurrent fetches share one blob area", s_test_concurrent_fetches_share_blob_area ());
    s_server_stop (&s_fx.server);

    CASE ("setup: file:// tree", s_file_tree_setup ());
    CASE ("file:// below a root fetched, size limit holds", s_test_file_below_root_fetched ());
    CASE ("file:// outside the roots, not regular, or disabled refused", s_test_file_outside_roots_refused ());
    CASE ("no connection left the machine", s_test_nothing_left_the_machine ());

    s_case = "teardown";
    atomic_store (&sl_fetch_test_loopback_only, false);
    free ((void *) s_fx.server.pdf);
    sl_blob_destroy (&s_fx.blobs);
    char path [2048];
    snprintf (path, sizeof path, "rm -rf '%s'", s_fx.root);
    CHECK (system (path) == 0);
    if (verbose)
        printf ("   OK\n");
}
