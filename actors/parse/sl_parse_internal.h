/*  sl_parse_internal: helpers shared by the parse back-ends (MuPDF, HTML,
    text). Not part of the public API: only sl_parse*.c include this.

    sl_parse_buf_t is the one growable text buffer a back-end fills per page
    and reuses for the next, so memory stays flat however long the document.
    The text helpers (file reading, encoding repair, title cleaning) live in
    sl_parse_text.c because plain text needs them first; HTML reuses them.
*/
#ifndef SL_PARSE_INTERNAL_H_INCLUDED
#define SL_PARSE_INTERNAL_H_INCLUDED

#include "sl_parse.h"

#include <stdint.h>

//  Growable byte buffer, always NUL-terminated once anything was appended.
//  Allocation failure aborts (it is our own bounded working memory, not a
//  document-controlled allocation: sizes are capped by the page/file limits).
typedef struct {
    char *data;
    size_t size;
    size_t cap;
} sl_parse_buf_t;

//  Append n bytes. Keeps data NUL-terminated.
void sl_parse_buf_append (sl_parse_buf_t *buf, const char *s, size_t n);

//  Append one Unicode code point as UTF-8; invalid code points (surrogates,
//  > U+10FFFF, NUL) become U+FFFD.
void sl_parse_buf_putc (sl_parse_buf_t *buf, uint32_t cp);

//  Empty the buffer, keeping its memory.
void sl_parse_buf_reset (sl_parse_buf_t *buf);

//  Free the buffer's memory.
void sl_parse_buf_free (sl_parse_buf_t *buf);

//  Read a whole regular file of at most limit bytes into a malloc'd,
//  NUL-terminated buffer (caller frees *data_p). what names the kind of file
//  in messages ("text file", "HTML file"). Returns 0 or -1 with err set.
int sl_parse_read_file (const char *path, size_t limit, const char *what,
                        char **data_p, size_t *size_p, char *err, size_t errlen);

//  Decode bytes of unknown encoding into clean UTF-8 text in out: strip a
//  BOM, decode UTF-16 with a BOM, refuse binary content, repair invalid
//  UTF-8 (Windows-1252 if the bytes are not UTF-8 at all, U+FFFD for a few bad
//  sequences in otherwise valid UTF-8), normalise CRLF and CR to LF.
//  Returns 0, or -1 with err set ("binary content, not text ...").
int sl_parse_decode_text (const char *data, size_t size, sl_parse_buf_t *out,
                          char *err, size_t errlen);

//  Set dest (capacity cap) to a title made from s[0..len): whitespace runs
//  collapsed to one space, trimmed, cut to max_bytes at a UTF-8 boundary.
//  Returns true if the result is non-empty.
bool sl_parse_set_title (char *dest, size_t cap, const char *s, size_t len, size_t max_bytes);

//  Set info->title to the first non-empty line of text (at most 200 bytes).
bool sl_parse_title_from_text (sl_parse_info_t *info, const char *text, size_t len);

//  The title of last resort: the base name of the document's own name
//  (opts->name) if the caller gave one, else of path.
void sl_parse_title_from_path (sl_parse_info_t *info, const sl_parse_opts_t *opts, const char *path);

//  Back-ends. Same contract as sl_parse_file; opts is never NULL and info
//  is zeroed with format already set.
int sl_parse_text (const sl_parse_opts_t *opts, const char *path, bool markdown,
                   sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen);
int sl_parse_html (const sl_parse_opts_t *opts, const char *path,
                   sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen);

//  Office and OpenDocument (sl_parse_office.c): format is "docx", "pptx",
//  "xlsx", "odt", "odp" or "ods".
int sl_parse_office (const sl_parse_opts_t *opts, const char *path, const char *format,
                     sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen);
//  Mail (sl_parse_mail.c): one message (EML), or a mailbox of them (MBOX).
int sl_parse_mail (const sl_parse_opts_t *opts, const char *path, bool mbox,
                   sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen);

//  Write a byte count for people: "64 MiB", "1.5 MiB", "12.0 KiB", "100 bytes".
void sl_parse_size_str (size_t bytes, char *buf, size_t cap);

//  printf into err, safe for errlen 0 and NULL err.
void sl_parse_errf (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
