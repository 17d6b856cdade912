/*  sl_parse_mail: EML (one message) and MBOX (a mailbox of them) with GMime 3.

    A message is one page of marked text (engine/sl_markup.h):

        # Subject
        From: ...              the header block, one sl_markup_para
        To: ...
        Cc: ...
        Date: ...
        Attachments: a.pdf, b.txt

        the body: text/plain preferred, else text/html taken through the
        HTML back-end (sl_parse_html), charsets converted to UTF-8 and
        transfer encodings undone by GMime

    A mailbox is one page per message, in file order. Title: the Subject of
    an EML, else the file name (always the file name for a mailbox).

    Attachments: a leaf part with a file name or "Content-Disposition:
    attachment", and an attached message (message/rfc822, written out whole
    as name.eml and not descended into here: it is a document of its own
    whose own attachments its own parse extracts). Each is decoded into a
    temporary file, handed to opts->on_attachment (arg, name, mime, path)
    and deleted. Names are sanitised (the last path component only, no
    control characters, no "..", at most 200 bytes with the extension kept,
    "attachment-N" when nothing is left) and made unique within the file
    ("a.pdf", "a-2.pdf"), because the caller names documents after them. Without on_attachment
    nothing is written.

    Bounds (every input is hostile):
      - nesting deeper than S_MAX_DEPTH multipart levels fails the document
        ("nested 33 levels deep ..."), and so does GMime's own nesting
        overflow alarm (it stops building the tree, which we would otherwise
        read as a shorter message);
      - more than S_MAX_PARTS parts in one message fails it;
      - at most S_MAX_ATTACHMENTS attachments per message are handed over;
        the rest are skipped, and the page says how many ("Attachments not
        extracted: 9900 over the limit of 100");
      - a body part larger than max_text_bytes fails the document, and the
        text total is enforced by sl_parse_file (max_text_total);
      - a mailbox with more than max_pages messages fails before parsing
        (counted by one pass over "From " lines);
      - the deadline (max_seconds) is checked per part and per message;
      - attachment bytes need no ceiling of their own: each is decoded from
        its own disjoint stretch of the file, and decoding never grows
        (base64, quoted-printable), so all of them together are at most the
        file's size.

    GMime keeps global state (charset tables, the type system): g_mime_init
    runs once per process under pthread_once. Every call builds its own
    parser, stream and objects, so calls may run in parallel threads.
*/
#include "sl_parse_internal.h"
#include "sl_markup.h"
#include "sl_util.h"

#include <gmime/gmime.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAX_DEPTH         32          //  multipart levels in one message
#define S_MAX_PARTS         20000       //  parts of one message
#define S_MAX_ATTACHMENTS   100         //  handed over per message
#define S_MAX_NAME          200         //  bytes in an attachment name
#define S_MAX_HEADER        2000        //  bytes kept of one header line

static pthread_once_t s_gmime_once = PTHREAD_ONCE_INIT;

static void
s_gmime_init (void)
{
    g_mime_init ();
}

//  One parse: the options, the caller's page callback and what we found
//  in the message being walked
typedef struct {
    const sl_parse_opts_t *opts;
    const char *path;               //  the mail file (for messages)
    int64_t deadline;               //  sl_mono_ms
    int msg_no;                     //  1-based, in the file
    bool nesting_overflow;          //  GMime's own alarm went off
    char *err;
    size_t errlen;
    sl_parse_info_t *info;
    GHashTable *names;              //  attachment names used in this file
    //  Per message
    int parts;
    int attachments;                //  handed over from this message
    int skipped;                    //  over S_MAX_ATTACHMENTS
    sl_parse_buf_t plain;           //  text/plain body parts, UTF-8
    sl_parse_buf_t html;            //  text/html body parts, raw UTF-8
    sl_parse_buf_t names_line;      //  "a.pdf, b.txt"
} s_mail_t;

static void
s_put (void *arg, const char *s, size_t n)
{
    sl_parse_buf_append ((sl_parse_buf_t *) arg, s, n);
}

//  --------------------------------------------------------------------------
//  Attachment names

//  Append one UTF-8 code point's bytes of s (at *i) to out if it is
//  printable; returns the bytes consumed. Control characters (C0, DEL, C1)
//  become nothing, slashes and backslashes a dash.
static size_t
s_name_char (const char *s, size_t i, size_t len, sl_parse_buf_t *out)
{
    gunichar c = g_utf8_get_char_validated (s + i, (gssize) (len - i));
    if (c == (gunichar) -1 || c == (gunichar) -2)
        return 1;               //  invalid byte: dropped
    size_t n = (size_t) (g_utf8_next_char (s + i) - (s + i));
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
        return n;
    if (c == '/' || c == '\\')
        sl_parse_buf_append (out, "-", 1);
    else
        sl_parse_buf_append (out, s + i, n);
    return n;
}

//  A file name safe to append to a source and to show: the last path
//  component of raw (all of it if whole, slashes then becoming dashes), cleaned, cut to S_MAX_NAME bytes at a UTF-8 boundary,
//  no "..", no leading dots or spaces. Writes "attachment-N" (with ext, if
//  given) when nothing is left.
static void
s_sanitise_name (const char *raw, bool whole, int n, const char *ext, char *out, size_t cap)
{
    sl_parse_buf_t buf = { 0 };
    if (raw) {
        const char *base = raw;
        for (const char *p = raw; *p && !whole; p++)
            if (*p == '/' || *p == '\\')
                base = p + 1;
        size_t len = strlen (base);
        for (size_t i = 0; i < len; )
            i += s_name_char (base, i, len, &buf);
    }
    const char *s = buf.data ? buf.data : "";
    while (*s == '.' || *s == ' ')
        s++;
    //  ".." anywhere else becomes "_.": no reader of a joined path may
    //  ever take a piece of it for a parent folder
    for (char *p = (char *) s; *p && p [1]; p++)
        if (p [0] == '.' && p [1] == '.')
            p [0] = '_';
    size_t len = strlen (s);
    while (len > 0 && s [len - 1] == ' ')
        len--;
    //  Too long: the stem is cut, the extension kept (the type is read
    //  from it later)
    const char *dot = memrchr (s, '.', len);
    size_t ext_len = dot && dot > s && (size_t) (s + len - dot) <= 10 ? (size_t) (s + len - dot) : 0;
    size_t stem = len - ext_len;
    if (len > S_MAX_NAME) {
        stem = S_MAX_NAME - ext_len;
        while (stem > 0 && ((unsigned char) s [stem] & 0xc0) == 0x80)
            stem--;
    }
    if (len == 0)
        snprintf (out, cap, "attachment-%d%s", n, ext ? ext : "");
    else
        snprintf (out, cap, "%.*s%.*s", (int) stem, s, (int) ext_len, s + len - ext_len);
    sl_parse_buf_free (&buf);
}

//  Make name unique among the names already used in this file: "a.pdf",
//  then "a-2.pdf", "a-3.pdf"... (cap must leave room for the suffix)
static void
s_unique_name (s_mail_t *self, char *name, size_t cap)
{
    if (!g_hash_table_contains (self->names, name)) {
        g_hash_table_add (self->names, g_strdup (name));
        return;
    }
    char stem [S_MAX_NAME + 1], ext [S_MAX_NAME + 1] = "";
    snprintf (stem, sizeof stem, "%s", name);
    char *dot = strrchr (stem, '.');
    if (dot && dot != stem && strlen (dot) <= 10) {
        snprintf (ext, sizeof ext, "%s", dot);
        *dot = 0;
    }
    for (int i = 2; ; i++) {
        snprintf (name, cap, "%.*s-%d%s", S_MAX_NAME - 20, stem, i, ext);
        if (!g_hash_table_contains (self->names, name)) {
            g_hash_table_add (self->names, g_strdup (name));
            return;
        }
    }
}

//  --------------------------------------------------------------------------
//  Attachments

//  Write obj (a part's decoded content, or a whole attached message) to a
//  new temporary file; its path goes to path. 0 or -1 with err set.
static int
s_write_temp (s_mail_t *self, GMimeObject *obj, char *path, size_t cap)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (path, cap, "%s/sluice-mail-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp (path);
    if (fd < 0) {
        sl_parse_errf (self->err, self->errlen, "cannot open a temporary file for an attachment: %s",
                       strerror (errno));
        return -1;
    }
    GMimeStream *stream = g_mime_stream_fs_new (fd);      //  owns fd
    gint64 written;
    if (GMIME_IS_MESSAGE_PART (obj)) {
        GMimeMessage *msg = g_mime_message_part_get_message (GMIME_MESSAGE_PART (obj));
        written = msg ? (gint64) g_mime_object_write_to_stream (GMIME_OBJECT (msg), NULL, stream) : 0;
    }
    else {
        GMimeDataWrapper *content = g_mime_part_get_content (GMIME_PART (obj));
        written = content ? (gint64) g_mime_data_wrapper_write_to_stream (content, stream) : 0;
    }
    int rc = written < 0 || g_mime_stream_flush (stream) < 0 ? -1 : 0;
    int error = errno;
    g_object_unref (stream);
    if (rc) {
        unlink (path);
        sl_parse_errf (self->err, self->errlen, "cannot write an attachment to a temporary file: %s",
                       strerror (error ? error : EIO));
    }
    return rc;
}

//  Hand one attachment to the caller. 0 to go on, -1 to stop (err set).
static int
s_attachment (s_mail_t *self, GMimeObject *obj)
{
    const char *raw = NULL;
    const char *ext = NULL;
    bool whole = false;         //  a subject, not a file name: keep all of it
    if (GMIME_IS_MESSAGE_PART (obj)) {
        raw = g_mime_object_get_content_disposition_parameter (obj, "filename");
        if (!raw) {
            GMimeMessage *msg = g_mime_message_part_get_message (GMIME_MESSAGE_PART (obj));
            raw = msg ? g_mime_message_get_subject (msg) : NULL;
            whole = true;
        }
        ext = ".eml";
    }
    else
        raw = g_mime_part_get_filename (GMIME_PART (obj));
    char name [S_MAX_NAME + 32];
    s_sanitise_name (raw, whole, self->info->attachments + self->attachments + 1, ext, name, sizeof name);
    if (ext && !g_str_has_suffix (name, ext) && strlen (name) + strlen (ext) < sizeof name)
        strcat (name, ext);         //  so the attached message is read as one
    s_unique_name (self, name, sizeof name);
    if (self->names_line.size)
        sl_parse_buf_append (&self->names_line, ", ", 2);
    sl_parse_buf_append (&self->names_line, name, strlen (name));

    if (self->attachments >= S_MAX_ATTACHMENTS) {
        self->skipped++;
        return 0;
    }
    self->attachments++;
    if (!self->opts->on_attachment)
        return 0;
    char mime [256];
    if (GMIME_IS_MESSAGE_PART (obj))
        snprintf (mime, sizeof mime, "message/rfc822");
    else {
        GMimeContentType *type = g_mime_object_get_content_type (obj);
        snprintf (mime, sizeof mime, "%s/%s", type && type->type ? type->type : "application",
                  type && type->subtype ? type->subtype : "octet-stream");
    }
    char path [1200];
    if (s_write_temp (self, obj, path, sizeof path))
        return -1;
    int rc = self->opts->on_attachment (self->opts->attachment_arg, name, mime, path);
    unlink (path);
    if (rc) {
        sl_parse_errf (self->err, self->errlen, "stopped by caller at attachment '%s'", name);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The part tree

//  A text part's content as UTF-8 appended to out, separated from what is
//  there by a blank line. GMime converts the charset and undoes the
//  transfer encoding; we repair what is still not UTF-8 and turn CRLF into
//  LF. 0, or -1 with err set if the part is over max_text_bytes.
static int
s_body_text (s_mail_t *self, GMimeTextPart *part, sl_parse_buf_t *out)
{
    char *text = g_mime_text_part_get_text (part);
    if (!text)
        return 0;
    size_t len = strlen (text);
    if (len > self->opts->max_text_bytes) {
        char limit [32];
        sl_parse_size_str (self->opts->max_text_bytes, limit, sizeof limit);
        sl_parse_errf (self->err, self->errlen, "message %d has a body part larger than %s",
                       self->msg_no, limit);
        g_free (text);
        return -1;
    }
    sl_parse_buf_t clean = { 0 };
    char why [256];
    if (len && sl_parse_decode_text (text, len, &clean, why, sizeof why) == 0 && clean.size) {
        if (out->size)
            sl_parse_buf_append (out, "\n\n", 2);
        sl_parse_buf_append (out, clean.data, clean.size);
    }
    //  a body part that is binary, not text, is skipped: the rest still reads
    sl_parse_buf_free (&clean);
    g_free (text);
    return 0;
}

static int s_walk (s_mail_t *self, GMimeObject *obj, int depth);

static int
s_walk_multipart (s_mail_t *self, GMimeMultipart *multi, int depth)
{
    int n = g_mime_multipart_get_count (multi);
    for (int i = 0; i < n; i++)
        if (s_walk (self, g_mime_multipart_get_part (multi, i), depth + 1))
            return -1;
    return 0;
}

//  Visit obj, a part of the message at nesting depth (0 = the message's
//  own MIME part). Body text goes to plain or html, attachments out.
static int
s_walk (s_mail_t *self, GMimeObject *obj, int depth)
{
    if (!obj)
        return 0;
    if (depth > S_MAX_DEPTH) {
        sl_parse_errf (self->err, self->errlen, "message %d is nested more than %d multipart levels "
                       "deep: refused (a crafted message?)", self->msg_no, S_MAX_DEPTH);
        return -1;
    }
    if (++self->parts > S_MAX_PARTS) {
        sl_parse_errf (self->err, self->errlen, "message %d has more than %d MIME parts: refused",
                       self->msg_no, S_MAX_PARTS);
        return -1;
    }
    if ((self->parts & 63) == 0 && sl_mono_ms () > self->deadline) {
        sl_parse_errf (self->err, self->errlen, "parse time limit of %d s exceeded at message %d",
                       self->opts->max_seconds, self->msg_no);
        return -1;
    }
    if (GMIME_IS_MULTIPART (obj))
        return s_walk_multipart (self, GMIME_MULTIPART (obj), depth);
    if (GMIME_IS_MESSAGE_PART (obj))
        return s_attachment (self, obj);
    if (!GMIME_IS_PART (obj))
        return 0;
    GMimePart *part = GMIME_PART (obj);
    if (g_mime_part_is_attachment (part) || g_mime_part_get_filename (part))
        return s_attachment (self, obj);
    if (GMIME_IS_TEXT_PART (obj)) {
        GMimeContentType *type = g_mime_object_get_content_type (obj);
        if (g_mime_content_type_is_type (type, "text", "plain"))
            return s_body_text (self, GMIME_TEXT_PART (obj), &self->plain);
        if (g_mime_content_type_is_type (type, "text", "html"))
            return s_body_text (self, GMIME_TEXT_PART (obj), &self->html);
    }
    return 0;           //  inline images, calendars, signatures: not text
}

//  --------------------------------------------------------------------------
//  One message to one page

typedef struct {
    sl_parse_buf_t *out;
} s_html_sink_t;

static int
s_on_html_page (void *arg, const sl_page_t *page)
{
    s_html_sink_t *sink = (s_html_sink_t *) arg;
    if (page->marked)
        sl_parse_buf_append (sink->out, page->text, page->len);
    else
        sl_markup_para (s_put, sink->out, page->text, page->len);
    return 0;
}

//  The HTML body, through the HTML back-end (it reads files: the body goes
//  to a temporary one). Its text is appended to page as markup.
static int
s_html_to_page (s_mail_t *self, sl_parse_buf_t *page)
{
    const char *tmp = getenv ("TMPDIR");
    char path [1200];
    snprintf (path, sizeof path, "%s/sluice-mail-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp (path);
    if (fd < 0) {
        sl_parse_errf (self->err, self->errlen, "cannot open a temporary file for an HTML body: %s",
                       strerror (errno));
        return -1;
    }
    ssize_t n = write (fd, self->html.data, self->html.size);
    int error = errno;
    close (fd);
    if (n != (ssize_t) self->html.size) {
        unlink (path);
        sl_parse_errf (self->err, self->errlen, "cannot write an HTML body to a temporary file: %s",
                       strerror (n < 0 ? error : ENOSPC));
        return -1;
    }
    sl_parse_info_t info;
    memset (&info, 0, sizeof info);
    s_html_sink_t sink = { .out = page };
    char why [512] = "";
    int rc = sl_parse_html (self->opts, path, s_on_html_page, &sink, &info, why, sizeof why);
    unlink (path);
    if (rc)
        sl_parse_errf (self->err, self->errlen, "message %d: HTML body: %s", self->msg_no, why);
    return rc;
}

//  Append "Name: value" to the header block if the value is not empty:
//  made valid UTF-8, on one line, cut to S_MAX_HEADER bytes
static void
s_header_line (sl_parse_buf_t *block, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    char *valid = g_utf8_make_valid (value, -1);
    char line [S_MAX_HEADER + 1];
    if (sl_parse_set_title (line, sizeof line, valid, strlen (valid), S_MAX_HEADER)) {
        if (block->size)
            sl_parse_buf_append (block, "\n", 1);
        sl_parse_buf_append (block, name, strlen (name));
        sl_parse_buf_append (block, ": ", 2);
        sl_parse_buf_append (block, line, strlen (line));
    }
    g_free (valid);
}

static void
s_address_line (sl_parse_buf_t *block, GMimeMessage *msg, const char *name, GMimeAddressType type)
{
    InternetAddressList *list = g_mime_message_get_addresses (msg, type);
    if (!list || internet_address_list_length (list) == 0)
        return;
    char *text = internet_address_list_to_string (list, NULL, FALSE);
    s_header_line (block, name, text);
    g_free (text);
}

//  Build message msg's page into page: heading, header block, body.
static int
s_message_page (s_mail_t *self, GMimeMessage *msg, sl_parse_buf_t *page, char *subject, size_t cap)
{
    self->parts = self->attachments = self->skipped = 0;
    sl_parse_buf_reset (&self->plain);
    sl_parse_buf_reset (&self->html);
    sl_parse_buf_reset (&self->names_line);
    sl_parse_buf_reset (page);
    *subject = 0;
    if (s_walk (self, g_mime_message_get_mime_part (msg), 0))
        return -1;
    if (self->nesting_overflow) {
        sl_parse_errf (self->err, self->errlen, "message %d is nested deeper than the MIME parser "
                       "allows: refused (a crafted message?)", self->msg_no);
        return -1;
    }
    const char *raw_subject = g_mime_message_get_subject (msg);
    if (raw_subject) {
        char *valid = g_utf8_make_valid (raw_subject, -1);
        sl_parse_set_title (subject, cap, valid, strlen (valid), 500);
        g_free (valid);
    }
    sl_markup_heading (s_put, page, 1, subject, strlen (subject));
    sl_parse_buf_t block = { 0 };
    s_address_line (&block, msg, "From", GMIME_ADDRESS_TYPE_FROM);
    s_address_line (&block, msg, "To", GMIME_ADDRESS_TYPE_TO);
    s_address_line (&block, msg, "Cc", GMIME_ADDRESS_TYPE_CC);
    s_header_line (&block, "Date", g_mime_object_get_header (GMIME_OBJECT (msg), "Date"));
    if (self->names_line.size)
        s_header_line (&block, "Attachments", self->names_line.data);
    if (self->skipped) {
        char note [128];
        snprintf (note, sizeof note, "%d over the limit of %d", self->skipped, S_MAX_ATTACHMENTS);
        s_header_line (&block, "Attachments not extracted", note);
    }
    if (block.size)
        sl_markup_para (s_put, page, block.data, block.size);
    sl_parse_buf_free (&block);
    if (self->plain.size)
        sl_markup_para (s_put, page, self->plain.data, self->plain.size);
    else
    if (self->html.size && s_html_to_page (self, page))
        return -1;
    if (!page->data)
        sl_parse_buf_append (page, "", 0);
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_on_warning (gint64 offset, guint errcode, const gchar *item, gpointer user_data)
{
    (void) offset; (void) item;
    if (errcode == GMIME_CRIT_NESTING_OVERFLOW)
        ((s_mail_t *) user_data)->nesting_overflow = true;
}

//  Messages in a mailbox: lines that start with "From " (the mbox
//  separator GMime splits on). -1 if the file cannot be read.
static int
s_count_messages (const char *path, int64_t *count)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    char line [4096];
    bool at_start = true;
    *count = 0;
    while (fgets (line, sizeof line, f)) {
        if (at_start && strncmp (line, "From ", 5) == 0)
            (*count)++;
        at_start = strchr (line, '\n') != NULL;
    }
    fclose (f);
    return 0;
}

static int
s_parse_messages (s_mail_t *self, GMimeParser *parser, GMimeParserOptions *options, bool mbox, int page_count,
                  sl_page_fn *fn, void *arg)
{
    sl_parse_buf_t page = { 0 };
    char subject [512];
    int rc = 0;
    while (rc == 0 && !g_mime_parser_eos (parser)) {
        if (self->msg_no >= page_count && mbox)
            break;              //  the count pass saw no more separators
        if (sl_mono_ms () > self->deadline) {
            sl_parse_errf (self->err, self->errlen, "parse time limit of %d s exceeded at message %d",
                           self->opts->max_seconds, self->msg_no + 1);
            rc = -1;
            break;
        }
        GMimeMessage *msg = g_mime_parser_construct_message (parser, options);
        if (!msg) {
            if (self->msg_no == 0) {
                sl_parse_errf (self->err, self->errlen, "not a mail message: no message headers found");
                rc = -1;
            }
            break;
        }
        self->msg_no++;
        rc = s_message_page (self, msg, &page, subject, sizeof subject);
        g_object_unref (msg);
        if (rc)
            break;
        self->info->attachments += self->attachments;
        if (!mbox && *subject)
            snprintf (self->info->title, sizeof self->info->title, "%s", subject);
        self->info->page_count = self->msg_no;
        sl_page_t p = { .page_no = self->msg_no, .page_count = mbox ? page_count : 1,
                        .text = page.data, .len = page.size, .marked = true };
        if (fn && fn (arg, &p)) {
            sl_parse_errf (self->err, self->errlen, "stopped by caller");
            rc = -1;
        }
        if (!mbox)
            break;
    }
    sl_parse_buf_free (&page);
    return rc;
}

int
sl_parse_mail (const sl_parse_opts_t *opts, const char *path, bool mbox,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    pthread_once (&s_gmime_once, s_gmime_init);
    int64_t messages = 1;
    if (mbox) {
        if (s_count_messages (path, &messages)) {
            sl_parse_errf (err, errlen, "cannot open %s: %s", path, strerror (errno));
            return -1;
        }
        if (messages > opts->max_pages) {
            sl_parse_errf (err, errlen, "mailbox has %lld messages, more than the limit of %d",
                           (long long) messages, opts->max_pages);
            return -1;
        }
        if (messages == 0) {
            sl_parse_errf (err, errlen, "not a mailbox: no \"From \" separator line found");
            return -1;
        }
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_parse_errf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    s_mail_t self = {
        .opts = opts, .path = path, .err = err, .errlen = errlen, .info = info,
        .deadline = sl_mono_ms () + (int64_t) opts->max_seconds * 1000,
        .names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL)
    };
    GMimeStream *stream = g_mime_stream_fs_new (fd);     //  owns fd
    GMimeParser *parser = g_mime_parser_new_with_stream (stream);
    g_object_unref (stream);
    g_mime_parser_set_format (parser, mbox ? GMIME_FORMAT_MBOX : GMIME_FORMAT_MESSAGE);
    GMimeParserOptions *options = g_mime_parser_options_new ();
    g_mime_parser_options_set_warning_callback (options, s_on_warning, &self);
    int rc = s_parse_messages (&self, parser, options, mbox, (int) messages, fn, arg);
    g_mime_parser_options_free (options);
    g_object_unref (parser);
    g_hash_table_destroy (self.names);
    sl_parse_buf_free (&self.plain);
    sl_parse_buf_free (&self.html);
    sl_parse_buf_free (&self.names_line);
    if (rc == 0 && !*info->title)
        sl_parse_title_from_path (info, opts, path);
    return rc;
}
