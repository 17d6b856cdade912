/*  sl_edge_content: a stored document's own bytes. See sl_edge_content.h.
*/
#include "sl_edge_content.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FILENAME_MAX 100

//  A decimal number of at most 19 digits, or false
static bool
s_number (const char *p, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit ((unsigned char) p [i]))
            return false;
        n = n * 10 + (uint64_t) (p [i] - '0');
    }
    *out = n;
    return true;
}

int
sl_edge_content_range (const char *header, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (!header || strncmp (header, "bytes=", 6) != 0 || strchr (header, ','))
        return 0;
    const char *spec = header + 6;
    const char *dash = strchr (spec, '-');
    if (!dash)
        return 0;
    size_t head = (size_t) (dash - spec), tail = strlen (dash + 1);
    uint64_t a = 0, b = 0;
    if (head == 0) {
        //  bytes=-n: the last n bytes
        if (!s_number (dash + 1, tail, &b))
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (!s_number (spec, head, &a) || (tail > 0 && !s_number (dash + 1, tail, &b)))
        return 0;
    if (tail > 0 && b < a)
        return 0;               //  malformed: ignored, the whole file
    if (a >= size)
        return -1;
    *first = a;
    *last = tail == 0 || b >= size ? size - 1 : b;
    return 1;
}

void
sl_edge_content_filename (const char *source, char *out, size_t size)
{
    const char *name = source ? source : "";
    if (strncmp (name, "upload:", 7) == 0)
        name += 7;
    size_t len = strcspn (name, "?#");
    //  the last segment that has something in it
    while (len > 0 && name [len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && name [start - 1] != '/')
        start--;
    size_t n = 0;
    bool dots_only = true;
    for (size_t i = start; i < len && n + 1 < size && n < S_FILENAME_MAX; i++) {
        unsigned char c = (unsigned char) name [i];
        bool ok = isalnum (c) || c == '.' || c == '-' || c == '_' || c == ' ';
        out [n++] = ok && c < 0x80 ? (char) c : '_';
        dots_only &= c == '.';
    }
    out [n] = 0;
    if (n == 0 || dots_only)
        snprintf (out, size, "document");
}

const char *
sl_edge_content_type (const char *mime)
{
    if (!mime || strlen (mime) > 127)
        return "application/octet-stream";
    int slashes = 0;
    size_t len = 0;
    for (const char *p = mime; *p; p++, len++) {
        unsigned char c = (unsigned char) *p;
        if (c == '/') {
            if (p == mime || p [1] == 0)
                return "application/octet-stream";
            slashes++;
        }
        else
        if (!(isalnum (c) || strchr ("!#$&^_.+-", c)) || c >= 0x80)
            return "application/octet-stream";
    }
    return slashes == 1 ? mime : "application/octet-stream";
}

//  A JSON error response like the rest of the API's
static struct MHD_Response *
s_error (int code, const char *message)
{
    json_t *body = json_pack ("{s:{s:i, s:s}}", "error", "code", code, "message", message);
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text)
        return NULL;
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (text), text,
                                                                     MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (text);
        return NULL;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header (response, "Cache-Control", "no-store");
    return response;
}

//  The headers every answer about these bytes carries
static void
s_headers (struct MHD_Response *response, const sl_edge_content_req_t *req, const char *etag)
{
    const char *type = sl_edge_content_type (req->mime);
    char filename [S_FILENAME_MAX + 1], disposition [S_FILENAME_MAX + 40];
    sl_edge_content_filename (req->source, filename, sizeof filename);
    snprintf (disposition, sizeof disposition, "inline; filename=\"%s\"", filename);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, "Content-Disposition", disposition);
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "Cross-Origin-Resource-Policy", "same-origin");
    if (strcmp (type, "application/pdf") != 0)
        MHD_add_response_header (response, "Content-Security-Policy", "sandbox");
    MHD_add_response_header (response, "ETag", etag);
    MHD_add_response_header (response, "Cache-Control", "private, no-cache");
    MHD_add_response_header (response, "Accept-Ranges", "bytes");
}

//  Does If-None-Match name this ETag (or "*")?
static bool
s_not_modified (const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    if (strcmp (if_none_match, "*") == 0)
        return true;
    return strstr (if_none_match, etag) != NULL;
}

struct MHD_Response *
sl_edge_content_response (sl_blob_t *blobs, const sl_edge_content_req_t *req, int *status)
{
    char path [1024], message [256];
    if (!req->sha256 || sl_blob_path (blobs, req->sha256, path, sizeof path) != 0) {
        *status = 500;
        snprintf (message, sizeof message, "document %s has no stored content hash", req->id);
        return s_error (*status, message);
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        *status = 410;
        snprintf (message, sizeof message, "the stored bytes of document %s are gone (collected or "
                  "lost); ingest the document again to read it", req->id);
        return s_error (*status, message);
    }
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        if (fd >= 0)
            close (fd);
        *status = 500;
        snprintf (message, sizeof message, "cannot read the stored bytes of document %s", req->id);
        return s_error (*status, message);
    }
    char etag [80];
    snprintf (etag, sizeof etag, "\"%s\"", req->sha256);
    uint64_t size = (uint64_t) st.st_size, first = 0, last = size ? size - 1 : 0;
    struct MHD_Response *response = NULL;
    int ranged = s_not_modified (req->if_none_match, etag) ? 0
               : sl_edge_content_range (req->range, size, &first, &last);
    if (s_not_modified (req->if_none_match, etag)) {
        close (fd);
        *status = 304;
        response = MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    else
    if (ranged < 0) {
        close (fd);
        *status = 416;
        snprintf (message, sizeof message, "the range %.60s starts past the end of the %" PRIu64
                  " bytes of document %s", req->range, size, req->id);
        response = s_error (*status, message);
        char unsatisfied [48];
        snprintf (unsatisfied, sizeof unsatisfied, "bytes */%" PRIu64, size);
        if (response)
            MHD_add_response_header (response, "Content-Range", unsatisfied);
        return response;
    }
    else {
        uint64_t len = ranged ? last - first + 1 : size;
        //  MHD owns fd from here and streams it (sendfile where it can)
        response = MHD_create_response_from_fd_at_offset64 (len, fd, ranged ? first : 0);
        if (!response)
            close (fd);
        *status = ranged ? 206 : 200;
        if (response && ranged) {
            char range [96];
            snprintf (range, sizeof range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
            MHD_add_response_header (response, "Content-Range", range);
        }
    }
    if (response)
        s_headers (response, req, etag);
    return response;
}
