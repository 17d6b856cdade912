/*  sl_edge_upload: ingest bodies into documents. See sl_edge_upload.h. */
#include "sl_edge_upload.h"
#include "sl_json.h"
#include "sl_filter.h"
#include "sl_util.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DOCS     1000           //  documents in one request
#define MAX_URL      8192
#define MAX_NAME     255            //  bytes in a document name (intake keeps 255)

typedef enum { MODE_JSON, MODE_FORM, MODE_RAW } upload_mode_t;

struct _sl_edge_upload_t {
    upload_mode_t mode;
    sl_blob_t *blobs;
    size_t max_upload;
    size_t max_json;
    uint64_t bytes;
    int status;                     //  first error, 0 if none
    int retry_after_s;              //  for a 503: when trying again makes sense
    char message [512];
    //  JSON mode
    char *json;
    size_t json_len;
    //  Form mode
    struct MHD_PostProcessor *pp;
    int cur;                        //  index of the part being read, -1
    char *cur_key;
    char *cur_filename;
    //  Documents. Only the file being received has an open writer: each
    //  part is committed when the next one starts, so a request holds one
    //  file descriptor however many parts it has
    sl_edge_doc_t *docs;
    size_t count, cap;
    sl_blob_writer_t *writer;
    int writer_doc;                 //  the document the writer belongs to
    bool finished;
    //  Attributes for every document of the body: a form's "meta" field
    //  or the JSON body's "meta", as received, then checked (sl_filter.h)
    char *meta_raw;
    size_t meta_len;
    bool in_meta;                   //  the form part being read is "meta"
    int meta_fields;
    char *meta;                     //  canonical JSON after finish, or NULL
};

static void
s_fail (sl_edge_upload_t *self, int status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_fail (sl_edge_upload_t *self, int status, const char *fmt, ...)
{
    if (self->status)
        return;                     //  the first reason is the one to report
    self->status = status;
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->message, sizeof self->message, fmt, args);
    va_end (args);
}

static sl_edge_doc_t *
s_add_doc (sl_edge_upload_t *self)
{
    if (self->count >= MAX_DOCS) {
        s_fail (self, 413, "too many documents in one request (at most %d)", MAX_DOCS);
        return NULL;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->docs = realloc (self->docs, self->cap * sizeof *self->docs);
        assert (self->docs);
    }
    sl_edge_doc_t *doc = &self->docs [self->count];
    memset (doc, 0, sizeof *doc);
    self->count++;
    return doc;
}

//  A file operation failed with err: running out of descriptors is the
//  server's momentary state (503, try again), anything else is a fault.
static void
s_fail_io (sl_edge_upload_t *self, int err, const char *what)
{
    if (err == EMFILE || err == ENFILE) {
        self->retry_after_s = 1;
        s_fail (self, 503, "%s: the server has run out of file descriptors (%s); retry shortly",
                what, strerror (err));
    }
    else
    if (err == ENOSPC || err == EDQUOT)
        s_fail (self, 507, "%s: the blob area is full (%s)", what, strerror (err));
    else
        s_fail (self, 500, "%s: %s", what, err ? strerror (err) : "I/O error");
}

//  The file being received is complete: publish it in the blob area and
//  close it. An upload that then fails still leaves its finished parts as
//  blobs, like an upload intake refused; they are content-addressed and
//  unreferenced, which an age-based collector reclaims. Removing them here
//  could delete the same bytes another request has just adopted.
static void
s_end_file (sl_edge_upload_t *self)
{
    if (!self->writer)
        return;
    sl_edge_doc_t *doc = &self->docs [self->writer_doc];
    if (self->status) {
        sl_blob_writer_abort (&self->writer);
        return;
    }
    errno = 0;
    if (sl_blob_writer_commit (&self->writer, doc->sha256, &doc->size)) {
        s_fail_io (self, errno, "cannot store the upload in the blob area");
        return;
    }
    if (doc->size == 0) {
        doc->status = 400;
        snprintf (doc->message, sizeof doc->message, "file '%s' is empty",
                  *doc->filename ? doc->filename : "(unnamed)");
    }
}

//  Start a file document: refuse obvious non-documents, else open a writer.
//  Start a file document: refuse bad names and obvious non-documents (no
//  file is opened for those), else open a writer.
static void
s_start_file (sl_edge_upload_t *self, const char *filename, const char *mime)
{
    s_end_file (self);
    if (self->status)
        return;
    sl_edge_doc_t *doc = s_add_doc (self);
    if (!doc)
        return;
    doc->mime = strdup (mime ? mime : "");
    char why [256];
    doc->filename = sl_edge_name_clean (filename, why, sizeof why);
    if (!doc->filename) {
        //  Refused names are still listed in "rejected": show them repaired
        doc->filename = sl_utf8_repair (filename, strlen (filename), NULL);
        doc->status = 400;
        snprintf (doc->message, sizeof doc->message, "%s", why);
        return;
    }
    if (sl_edge_type_refused (mime, doc->filename, why, sizeof why)) {
        doc->status = 415;
        snprintf (doc->message, sizeof doc->message, "%s", why);
        return;
    }
    if (!self->blobs) {
        s_fail (self, 500, "the blob area is not available on this edge");
        return;
    }
    errno = 0;
    self->writer = sl_blob_writer_new (self->blobs, self->max_upload);
    self->writer_doc = (int) self->count - 1;
    if (!self->writer)
        s_fail_io (self, errno, "cannot create a temporary file in the blob area");
}

static void
s_write_file (sl_edge_upload_t *self, const char *data, size_t size)
{
    if (self->cur < 0 || self->status)
        return;
    sl_blob_writer_t *writer = self->writer_doc == self->cur ? self->writer : NULL;
    if (!writer || !size)
        return;                     //  refused part: discard its bytes
    errno = 0;
    if (sl_blob_writer_write (writer, data, size)) {
        if (sl_blob_writer_exceeded (writer))
            s_fail (self, 413, "upload exceeds http.max_upload (%zu bytes)", self->max_upload);
        else      //  the writer's own errno: later calls may have overwritten errno
            s_fail_io (self, sl_blob_writer_error (writer) ? sl_blob_writer_error (writer) : errno,
                       "cannot write the upload to disk");
    }
}

static enum MHD_Result
s_iterate (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
           const char *content_type, const char *transfer_encoding, const char *data,
           uint64_t off, size_t size)
{
    sl_edge_upload_t *self = (sl_edge_upload_t *) cls;
    if (self->status)
        return MHD_NO;
    key = key ? key : "";
    bool same = self->cur >= 0 && self->cur_key && strcmp (self->cur_key, key) == 0
             && ((!filename && !self->cur_filename)
              || (filename && self->cur_filename && strcmp (filename, self->cur_filename) == 0));
    //  A part starts at off 0; MHD may announce it with an empty call first
    bool fresh = off == 0
              && !(same && (self->docs [self->cur].url ? strlen (self->docs [self->cur].url) == 0
                                                      : self->docs [self->cur].size == 0
                                                        && (!self->writer || self->writer_doc != self->cur
                                                         || sl_blob_writer_size (self->writer) == 0)));
    if (fresh) {
        //  The previous part is complete: close its file now
        s_end_file (self);
        if (self->status)
            return MHD_NO;
        free (self->cur_key);
        free (self->cur_filename);
        self->cur_key = strdup (key);
        self->cur_filename = filename ? strdup (filename) : NULL;
        self->cur = -1;
        self->in_meta = !filename && strcmp (key, "meta") == 0;
        if (self->in_meta && ++self->meta_fields > 1) {
            s_fail (self, 400, "the form has more than one \"meta\" field");
            return MHD_NO;
        }
        if (filename) {
            s_start_file (self, filename, content_type);
            self->cur = (int) self->count - 1;
        }
        else
        if (strcmp (key, "url") == 0 || strcmp (key, "urls") == 0) {
            sl_edge_doc_t *doc = s_add_doc (self);
            if (doc) {
                doc->url = strdup ("");
                self->cur = (int) self->count - 1;
            }
        }
        //  other fields are ignored
    }
    if (self->in_meta) {
        if (self->meta_len + size > 4 * SL_META_BYTES) {
            s_fail (self, 400, "the \"meta\" field is longer than %d bytes", 4 * SL_META_BYTES);
            return MHD_NO;
        }
        char *grown = realloc (self->meta_raw, self->meta_len + size + 1);
        assert (grown);
        self->meta_raw = grown;
        memcpy (self->meta_raw + self->meta_len, data, size);
        self->meta_len += size;
        self->meta_raw [self->meta_len] = 0;
        return MHD_YES;
    }
    if (self->cur < 0 || self->status)
        return self->status ? MHD_NO : MHD_YES;
    sl_edge_doc_t *doc = &self->docs [self->cur];
    if (doc->url) {
        size_t len = strlen (doc->url);
        if (len + size > MAX_URL) {
            s_fail (self, 400, "field '%s' is longer than %d bytes", key, MAX_URL);
            return MHD_NO;
        }
        doc->url = realloc (doc->url, len + size + 1);
        memcpy (doc->url + len, data, size);
        doc->url [len + size] = 0;
    }
    else
        s_write_file (self, data, size);
    return self->status ? MHD_NO : MHD_YES;
}

//  The type of a Content-Type header, lower-cased, without parameters.
static void
s_base_type (const char *content_type, char *buf, size_t cap)
{
    size_t n = 0;
    if (content_type)
        for (const char *p = content_type; *p && *p != ';' && n < cap - 1; p++)
            if (!isspace ((unsigned char) *p))
                buf [n++] = (char) tolower ((unsigned char) *p);
    buf [n] = 0;
}

sl_edge_upload_t *
sl_edge_upload_new (struct MHD_Connection *connection, sl_blob_t *blobs, const char *content_type,
                    const char *filename, size_t max_upload, size_t max_json,
                    int *status, char *message, size_t msglen)
{
    char type [128];
    s_base_type (content_type, type, sizeof type);
    sl_edge_upload_t *self = calloc (1, sizeof *self);
    assert (self);
    self->blobs = blobs;
    self->max_upload = max_upload;
    self->max_json = max_json;
    self->cur = -1;
    *status = 0;
    if (strcmp (type, "application/json") == 0)
        self->mode = MODE_JSON;
    else
    if (strcmp (type, "multipart/form-data") == 0
    ||  strcmp (type, "application/x-www-form-urlencoded") == 0) {
        self->mode = MODE_FORM;
        self->pp = connection ? MHD_create_post_processor (connection, 65536, s_iterate, self) : NULL;
        if (!self->pp) {
            *status = 400;
            snprintf (message, msglen, "cannot read this %s body (is the boundary missing?)", type);
            sl_edge_upload_destroy (&self);
            return NULL;
        }
    }
    else {
        self->mode = MODE_RAW;
        if (!*type) {
            *status = 415;
            snprintf (message, msglen, "Content-Type is required: application/json, "
                      "multipart/form-data, or the document's own type");
            sl_edge_upload_destroy (&self);
            return NULL;
        }
        //  A bad name is refused before any byte is stored
        char why [256];
        char *clean = sl_edge_name_clean (filename, why, sizeof why);
        if (!clean) {
            *status = 400;
            snprintf (message, msglen, "%s", why);
            sl_edge_upload_destroy (&self);
            return NULL;
        }
        if (sl_edge_type_refused (type, clean, why, sizeof why)) {
            *status = 415;
            snprintf (message, msglen, "%s", why);
            free (clean);
            sl_edge_upload_destroy (&self);
            return NULL;
        }
        s_start_file (self, clean, type);
        free (clean);
        self->cur = 0;
        if (self->status) {
            *status = self->status;
            snprintf (message, msglen, "%s", self->message);
            sl_edge_upload_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
sl_edge_upload_destroy (sl_edge_upload_t **self_p)
{
    if (!*self_p)
        return;
    sl_edge_upload_t *self = *self_p;
    if (self->pp)
        MHD_destroy_post_processor (self->pp);
    sl_blob_writer_abort (&self->writer);
    for (size_t i = 0; i < self->count; i++) {
        free (self->docs [i].url);
        free (self->docs [i].filename);
        free (self->docs [i].mime);
    }
    free (self->docs);
    free (self->json);
    free (self->cur_key);
    free (self->cur_filename);
    free (self->meta_raw);
    free (self->meta);
    free (self);
    *self_p = NULL;
}

int
sl_edge_upload_feed (sl_edge_upload_t *self, const char *data, size_t size)
{
    self->bytes += size;
    if (self->status)
        return -1;
    if (self->mode == MODE_JSON) {
        if (self->json_len + size > self->max_json) {
            s_fail (self, 413, "JSON body exceeds %zu bytes", self->max_json);
            return -1;
        }
        self->json = realloc (self->json, self->json_len + size + 1);
        assert (self->json);
        memcpy (self->json + self->json_len, data, size);
        self->json_len += size;
        self->json [self->json_len] = 0;
        return 0;
    }
    if (self->bytes > self->max_upload) {
        s_fail (self, 413, "upload exceeds http.max_upload (%zu bytes)", self->max_upload);
        return -1;
    }
    if (self->mode == MODE_RAW)
        s_write_file (self, data, size);
    else
    if (MHD_post_process (self->pp, data, size) != MHD_YES && !self->status)
        s_fail (self, 400, "malformed %s body", "form");
    return self->status ? -1 : 0;
}

//  {"url": "..."} or {"urls": [...]}
static void
s_parse_json (sl_edge_upload_t *self)
{
    json_error_t jerr;
    json_t *root = self->json ? json_loadb (self->json, self->json_len, 0, &jerr) : NULL;
    if (!root) {
        if (self->json)
            s_fail (self, 400, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        else
            s_fail (self, 400, "empty body: send {\"url\": \"...\"} or {\"urls\": [...]}");
        return;
    }
    json_t *url = json_object_get (root, "url");
    json_t *urls = json_object_get (root, "urls");
    json_t *meta = json_object_get (root, "meta");
    if (meta && !json_is_null (meta)) {
        char err [300];
        sl_meta_t *checked = sl_meta_from_json (meta, err, sizeof err);
        if (checked)
            self->meta = strdup (checked->json);
        else
            s_fail (self, 400, "%s", err);
        sl_meta_destroy (&checked);
    }
    if (!self->status && (!json_is_object (root) || (!url && !urls)))
        s_fail (self, 400, "body must be an object with \"url\" or \"urls\"");
    else
    if (url && !json_is_string (url))
        s_fail (self, 400, "\"url\" must be a string");
    else
    if (urls && (!json_is_array (urls) || json_array_size (urls) == 0))
        s_fail (self, 400, "\"urls\" must be a non-empty array of strings");
    if (!self->status && url) {
        sl_edge_doc_t *doc = s_add_doc (self);
        if (doc)
            doc->url = strdup (json_string_value (url));
    }
    size_t index;
    json_t *item;
    if (!self->status && urls)
        json_array_foreach (urls, index, item) {
            if (!json_is_string (item)) {
                s_fail (self, 400, "\"urls\"[%zu] is not a string", index);
                break;
            }
            sl_edge_doc_t *doc = s_add_doc (self);
            if (!doc)
                break;
            doc->url = strdup (json_string_value (item));
        }
    json_decref (root);
}

int
sl_edge_upload_finish (sl_edge_upload_t *self)
{
    assert (!self->finished);
    self->finished = true;
    if (self->mode == MODE_JSON && !self->status)
        s_parse_json (self);
    if (self->mode == MODE_FORM && self->pp && !self->status) {
        //  Flushes the last part's buffered bytes through the iterator
        if (MHD_destroy_post_processor (self->pp) != MHD_YES && !self->status)
            s_fail (self, 400, "malformed or truncated form body");
        self->pp = NULL;
    }
    s_end_file (self);              //  the last part (aborted if anything failed)
    if (self->meta_raw && !self->status) {
        char err [300];
        sl_meta_t *checked = sl_meta_parse (self->meta_raw, (ptrdiff_t) self->meta_len, err,
                                            sizeof err);
        if (checked)
            self->meta = strdup (checked->json);
        else
            s_fail (self, 400, "%s", err);
        sl_meta_destroy (&checked);
    }
    if (self->status)
        return -1;
    for (size_t i = 0; i < self->count; i++) {
        sl_edge_doc_t *doc = &self->docs [i];
        if (doc->url) {
            //  Form fields are bytes: a URL that is not UTF-8 could not
            //  even be put in the JSON answer that names it
            if (!sl_utf8_valid (doc->url, strlen (doc->url)))
                s_fail (self, 400, "a URL field is not valid UTF-8 (percent-encode non-ASCII characters)");
            else
            if (!sl_edge_url_valid (doc->url))
                s_fail (self, 400, "not an http(s) URL: '%.200s'", doc->url);
            else
                sl_edge_url_normalise (doc->url);
        }
    }
    if (!self->status && self->count == 0)
        s_fail (self, 400, self->mode == MODE_FORM
                ? "the form holds no file part and no \"url\" field"
                : "empty body");
    return self->status ? -1 : 0;
}

int
sl_edge_upload_error (sl_edge_upload_t *self, const char **message)
{
    if (message)
        *message = self->message;
    return self->status;
}

int
sl_edge_upload_retry_after (sl_edge_upload_t *self)
{
    return self->retry_after_s;
}

bool sl_edge_upload_is_json (sl_edge_upload_t *self) { return self->mode == MODE_JSON; }
const char *sl_edge_upload_meta (sl_edge_upload_t *self) { return self->meta; }
size_t sl_edge_upload_count (sl_edge_upload_t *self) { return self->count; }
uint64_t sl_edge_upload_bytes (sl_edge_upload_t *self) { return self->bytes; }

sl_edge_doc_t *
sl_edge_upload_doc (sl_edge_upload_t *self, size_t index)
{
    return index < self->count ? &self->docs [index] : NULL;
}

//  --------------------------------------------------------------------------
//  Helpers

//  What a person is told Sluice reads, in every refusal
#define S_ACCEPTED "Sluice ingests PDF, EPUB, XPS, FB2, CBZ, HTML, Markdown, plain text, " \
    "DOCX, PPTX, XLSX, ODT, ODP, ODS, PNG, JPEG, TIFF and mail (EML, MBOX)"

static const char *s_refused_prefixes [] = { "audio/", "video/", "font/", "model/", NULL };
//  Images Sluice reads (by OCR), with the older names some clients still
//  send; every other image type is refused (fetch sniffs the bytes anyway)
static const char *s_images [] = {
    "image/png", "image/jpeg", "image/tiff", "image/x-png", "image/jpg", "image/pjpeg",
    "image/tif", "image/x-tiff", NULL
};
static const char *s_refused_types [] = {
    "application/zip", "application/gzip", "application/x-gzip", "application/x-tar",
    "application/x-7z-compressed", "application/vnd.rar", "application/x-rar-compressed",
    "application/x-bzip2", "application/x-xz", "application/zstd", "application/java-archive",
    "application/x-executable", "application/x-msdownload", "application/x-sharedlib",
    "application/x-mach-binary", "application/vnd.microsoft.portable-executable",
    "application/x-iso9660-image", "application/x-apple-diskimage", "application/wasm",
    "application/x-sqlite3", NULL
};
//  Legacy binary Office formats get their own reason: the fix is to save
//  them in the newer format
static const char *s_legacy_types [] = {
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint", NULL
};
static const char *s_legacy_exts [] = { "doc", "xls", "ppt", NULL };
static const char *s_refused_exts [] = {
    "gif", "webp", "bmp", "ico", "heic", "heif", "avif", "svg",
    "psd", "raw", "mp3", "wav", "ogg", "oga", "flac", "aac", "m4a", "opus", "mp4", "m4v", "mkv",
    "avi", "mov", "webm", "wmv", "flv", "zip", "gz", "tgz", "tar", "7z", "rar", "bz2", "xz", "zst",
    "jar", "exe", "dll", "so", "dylib", "msi", "dmg", "iso", "apk", "deb", "rpm", "wasm",
    "sqlite", "db", "ttf", "otf", "woff", "woff2", NULL
};

//  What to name a legacy file by: its declared type, else its extension
static const char *
s_legacy_name (const char *type, const char *dot)
{
    return strcmp (type, "application/octet-stream") && *type ? type : dot ? dot + 1 : type;
}

static bool
s_listed (const char *type, const char **list)
{
    for (int i = 0; list [i]; i++)
        if (strcmp (type, list [i]) == 0)
            return true;
    return false;
}

bool
sl_edge_type_refused (const char *mime, const char *filename, char *why, size_t cap)
{
    char type [128];
    s_base_type (mime, type, sizeof type);
    const char *dot = filename ? strrchr (filename, '.') : NULL;
    if (dot && strchr (dot, '/'))
        dot = NULL;
    bool legacy = s_listed (type, s_legacy_types);
    for (int i = 0; dot && !legacy && s_legacy_exts [i]; i++)
        legacy = strcasecmp (dot + 1, s_legacy_exts [i]) == 0;
    if (legacy) {
        snprintf (why, cap, "legacy binary Office file (%s): save it as DOCX, XLSX or PPTX (or "
                  "OpenDocument) and upload again", s_legacy_name (type, dot));
        return true;
    }
    bool refused = s_listed (type, s_refused_types)
                || (strncmp (type, "image/", 6) == 0 && !s_listed (type, s_images));
    for (int i = 0; !refused && s_refused_prefixes [i]; i++)
        refused = strncmp (type, s_refused_prefixes [i], strlen (s_refused_prefixes [i])) == 0;
    if (refused) {
        snprintf (why, cap, "unsupported media type %s: %s", type, S_ACCEPTED);
        return true;
    }
    for (int i = 0; dot && s_refused_exts [i]; i++)
        if (strcasecmp (dot + 1, s_refused_exts [i]) == 0) {
            snprintf (why, cap, "unsupported file type '.%s' (%s): %s", s_refused_exts [i],
                      filename, S_ACCEPTED);
            return true;
        }
    return false;
}

static int
s_hex (int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *
sl_edge_disposition_filename (const char *header)
{
    if (!header)
        return NULL;
    //  RFC 6266: filename* (RFC 5987 encoded) wins over filename
    const char *star = strcasestr (header, "filename*=");
    if (star) {
        const char *value = star + 10;
        const char *quote = strstr (value, "''");
        if (quote) {
            value = quote + 2;
            char *out = malloc (strlen (value) + 1);
            assert (out);
            size_t n = 0;
            for (const char *p = value; *p && *p != ';' && !isspace ((unsigned char) *p); p++) {
                if (*p == '%' && s_hex (p [1]) >= 0 && s_hex (p [2]) >= 0) {
                    out [n++] = (char) (s_hex (p [1]) * 16 + s_hex (p [2]));
                    p += 2;
                }
                else
                    out [n++] = *p;
            }
            out [n] = 0;
            if (n)
                return out;
            free (out);
        }
    }
    const char *plain = header;
    while ((plain = strcasestr (plain, "filename=")) != NULL) {
        //  Skip "filename*=" matches (handled above): need a boundary before
        if (plain == header || plain [-1] == ';' || isspace ((unsigned char) plain [-1]))
            break;
        plain++;
    }
    if (!plain)
        return NULL;
    const char *value = plain + 9;
    char *out = malloc (strlen (value) + 1);
    assert (out);
    size_t n = 0;
    if (*value == '"') {
        for (const char *p = value + 1; *p && *p != '"'; p++) {
            if (*p == '\\' && p [1])
                p++;
            out [n++] = *p;
        }
    }
    else
        for (const char *p = value; *p && *p != ';' && !isspace ((unsigned char) *p); p++)
            out [n++] = *p;
    out [n] = 0;
    if (n == 0) {
        free (out);
        return NULL;
    }
    return out;
}

char *
sl_edge_name_clean (const char *name, char *why, size_t cap)
{
    if (!name)
        return strdup ("");
    size_t len = strlen (name);
    if (!sl_utf8_valid (name, len)) {
        snprintf (why, cap, "the file name is not valid UTF-8: send document names in UTF-8 "
                  "(RFC 5987 filename*=UTF-8''... in Content-Disposition)");
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            snprintf (why, cap, "the file name contains control characters (byte 0x%02x)", *p);
            return NULL;
        }
    //  Components: "\\" separates them too (Windows paths); empty and "."
    //  components go, ".." is refused: a name never points outside its folder
    char *out = malloc (len + 1);
    assert (out);
    size_t n = 0;
    const char *p = name;
    while (*p) {
        size_t clen = strcspn (p, "/\\");
        if (clen == 2 && p [0] == '.' && p [1] == '.') {
            snprintf (why, cap, "the file name '%.200s' has a '..' component: a name is a path "
                      "inside the folder that was given", name);
            free (out);
            return NULL;
        }
        if (clen > 0 && !(clen == 1 && p [0] == '.')) {
            if (n)
                out [n++] = '/';
            memcpy (out + n, p, clen);
            n += clen;
        }
        p += clen;
        if (*p)
            p++;
    }
    out [n] = 0;
    if (n > MAX_NAME) {
        snprintf (why, cap, "the file name is longer than %d bytes (%zu)", MAX_NAME, n);
        free (out);
        return NULL;
    }
    return out;
}

void
sl_edge_url_normalise (char *url)
{
    //  Schemes are case-insensitive (RFC 3986 3.1) but the pipeline
    //  compares them as written: give it the canonical lower case
    char *colon = url ? strstr (url, "://") : NULL;
    for (char *p = url; p && p < colon; p++)
        *p = (char) tolower ((unsigned char) *p);
}

bool
sl_edge_url_valid (const char *url)
{
    if (!url)
        return false;
    size_t len = strlen (url);
    if (len > MAX_URL)
        return false;
    size_t skip;
    if (strncasecmp (url, "http://", 7) == 0)
        skip = 7;
    else
    if (strncasecmp (url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (len == skip || url [skip] == '/')
        return false;               //  no host
    for (const unsigned char *p = (const unsigned char *) url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}
