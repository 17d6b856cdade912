/*  sl_parse_text: plain text and Markdown, plus the text helpers every
    parse back-end shares (see sl_parse_internal.h).

    Text files arrive in whatever encoding their author's editor used. We
    promise the chunker valid UTF-8, so decoding is a repair, never a
    refusal, unless the bytes are not text at all:
      - NUL bytes anywhere, or more than 10% control characters in the first
        64 KiB, mean binary content: refused ("binary content, not text").
      - a UTF-8 BOM is stripped; a UTF-16 BOM means UTF-16, decoded.
      - valid UTF-8 passes through untouched.
      - bytes with no valid multi-byte UTF-8 sequence in them, or more bad
        sequences than good ones, are an 8-bit legacy encoding: decoded as
        Windows-1252 (a superset of Latin-1 in practice: its 0x80-0x9F are
        the curly quotes and dashes real documents contain).
      - otherwise the file is UTF-8 with a few damaged bytes: each damaged
        sequence becomes U+FFFD.
      - CRLF and lone CR become LF; other control characters become spaces.
    Pages are split at form feeds (the convention of pdftotext and of old
    line-printer text), else the whole file is one page. Markdown is passed
    through unchanged: the chunker understands its structure.
*/
#include "sl_parse_internal.h"
#include "sl_markup.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL_TITLE_LINE_MAX 200           //  title cut from a first line
#define SL_BINARY_SAMPLE  (64 * 1024)   //  bytes inspected for control chars

void
sl_parse_errf (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
}

void
sl_parse_size_str (size_t bytes, char *buf, size_t cap)
{
    const size_t mib = (size_t) 1 << 20;
    if (bytes >= mib && bytes % mib == 0)
        snprintf (buf, cap, "%zu MiB", bytes / mib);
    else
    if (bytes >= mib)
        snprintf (buf, cap, "%.1f MiB", (double) bytes / (double) mib);
    else
    if (bytes >= 1024)
        snprintf (buf, cap, "%.1f KiB", (double) bytes / 1024.0);
    else
        snprintf (buf, cap, "%zu bytes", bytes);
}

//  --------------------------------------------------------------------------
//  Growable buffer

static void
s_buf_reserve (sl_parse_buf_t *buf, size_t more)
{
    //  +1 keeps room for the terminating NUL
    if (buf->size + more + 1 <= buf->cap)
        return;
    size_t cap = buf->cap ? buf->cap : 4096;
    while (cap < buf->size + more + 1)
        cap *= 2;
    char *data = realloc (buf->data, cap);
    assert (data);              //  bounded by file/page limits; OOM here is fatal
    buf->data = data;
    buf->cap = cap;
}

void
sl_parse_buf_append (sl_parse_buf_t *buf, const char *s, size_t n)
{
    s_buf_reserve (buf, n);
    memcpy (buf->data + buf->size, s, n);
    buf->size += n;
    buf->data [buf->size] = 0;
}

//  Encode cp (valid, non-surrogate) as UTF-8 into out; returns the length.
static size_t
s_utf8_encode (uint32_t cp, char out [4])
{
    if (cp < 0x80) {
        out [0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out [0] = (char) (0xC0 | (cp >> 6));
        out [1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out [0] = (char) (0xE0 | (cp >> 12));
        out [1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out [2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out [0] = (char) (0xF0 | (cp >> 18));
    out [1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out [2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out [3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

void
sl_parse_buf_putc (sl_parse_buf_t *buf, uint32_t cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    char out [4];
    size_t n = s_utf8_encode (cp, out);
    sl_parse_buf_append (buf, out, n);
}

void
sl_parse_buf_reset (sl_parse_buf_t *buf)
{
    buf->size = 0;
    if (buf->data)
        buf->data [0] = 0;
}

void
sl_parse_buf_free (sl_parse_buf_t *buf)
{
    free (buf->data);
    buf->data = NULL;
    buf->size = buf->cap = 0;
}

//  --------------------------------------------------------------------------
//  UTF-8

//  Decode one UTF-8 sequence strictly (Unicode table 3-7: no overlongs, no
//  surrogates, nothing above U+10FFFF). Returns its length, or minus the
//  length of the maximal ill-formed prefix, which is what one U+FFFD
//  replaces (the W3C/Unicode recommended practice).
static int
s_utf8_decode (const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s [0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int need;
    uint32_t c;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        c = b & 0x1F;
    }
    else
    if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        c = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0;          //  overlong
        else
        if (b == 0xED)
            hi = 0x9F;          //  surrogates
    }
    else
    if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        c = b & 0x07;
        if (b == 0xF0)
            lo = 0x90;          //  overlong
        else
        if (b == 0xF4)
            hi = 0x8F;          //  above U+10FFFF
    }
    else
        return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t) i >= n || s [i] < lo || s [i] > hi)
            return -i;
        lo = 0x80;
        hi = 0xBF;
        c = (c << 6) | (s [i] & 0x3F);
    }
    *cp = c;
    return need + 1;
}

//  Windows-1252's 0x80-0x9F; 0 marks the five undefined bytes.
static const uint16_t s_cp1252 [32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178
};

//  Text-level clean-up of one decoded code point: CR/CRLF to LF, control
//  characters other than tab, newline and form feed to spaces.
static void
s_emit (sl_parse_buf_t *out, uint32_t cp, bool *after_cr)
{
    if (*after_cr) {
        *after_cr = false;
        if (cp == '\n')
            return;             //  second half of CRLF: LF already written
    }
    if (cp == '\r') {
        *after_cr = true;
        cp = '\n';
    }
    else
    if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\f') || cp == 0x7F)
        cp = ' ';
    if (cp < 0x80) {
        //  fast path: most text is ASCII
        s_buf_reserve (out, 1);
        out->data [out->size++] = (char) cp;
        out->data [out->size] = 0;
    }
    else
        sl_parse_buf_putc (out, cp);
}

static int
s_decode_utf16 (const unsigned char *s, size_t n, bool big_endian, sl_parse_buf_t *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t u = big_endian ? (uint32_t) (s [i] << 8 | s [i + 1])
                                : (uint32_t) (s [i + 1] << 8 | s [i]);
        if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
            uint32_t v = big_endian ? (uint32_t) (s [i + 2] << 8 | s [i + 3])
                                    : (uint32_t) (s [i + 3] << 8 | s [i + 2]);
            if (v >= 0xDC00 && v <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
                i += 2;
            }
        }
        //  NUL stays NUL here, so the binary check on the result sees it
        if (u == 0)
            sl_parse_buf_append (out, "", 1);
        else
            sl_parse_buf_putc (out, u);    //  lone surrogates become U+FFFD
    }
    return 0;
}

int
sl_parse_decode_text (const char *data, size_t size, sl_parse_buf_t *out,
                      char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *) data;

    //  UTF-16 only with a BOM: guessing it from byte patterns misfires
    if (size >= 2 && ((s [0] == 0xFF && s [1] == 0xFE) || (s [0] == 0xFE && s [1] == 0xFF))) {
        sl_parse_buf_t utf8 = { 0 };
        s_decode_utf16 (s + 2, size - 2, s [0] == 0xFE, &utf8);
        int rc = sl_parse_decode_text (utf8.data ? utf8.data : "", utf8.size, out, err, errlen);
        sl_parse_buf_free (&utf8);
        return rc;
    }
    if (size >= 3 && s [0] == 0xEF && s [1] == 0xBB && s [2] == 0xBF) {
        s += 3;
        size -= 3;
    }
    //  Binary detection
    const unsigned char *nul = memchr (s, 0, size);
    if (nul) {
        sl_parse_errf (err, errlen, "binary content, not text (NUL byte at offset %zu)",
                       (size_t) (nul - s));
        return -1;
    }
    size_t sample = size < SL_BINARY_SAMPLE ? size : SL_BINARY_SAMPLE;
    size_t controls = 0;
    for (size_t i = 0; i < sample; i++)
        if ((s [i] < 0x20 && s [i] != '\t' && s [i] != '\n' && s [i] != '\r'
        &&   s [i] != '\f' && s [i] != '\v') || s [i] == 0x7F)
            controls++;
    if (controls * 10 > sample) {
        sl_parse_errf (err, errlen,
            "binary content, not text (%zu of the first %zu bytes are control characters)",
            controls, sample);
        return -1;
    }
    //  Count good multi-byte and bad sequences to choose the decoding
    size_t good = 0, bad = 0;
    for (size_t i = 0; i < size; ) {
        if (s [i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int len = s_utf8_decode (s + i, size - i, &cp);
        if (len > 0) {
            good++;
            i += (size_t) len;
        }
        else {
            bad++;
            i += (size_t) -len;
        }
    }
    bool as_cp1252 = bad > 0 && (good == 0 || bad > good);
    sl_parse_buf_reset (out);
    s_buf_reserve (out, size + size / 8);
    bool after_cr = false;
    for (size_t i = 0; i < size; ) {
        uint32_t cp;
        if (s [i] < 0x80) {
            cp = s [i++];
        }
        else
        if (as_cp1252) {
            cp = s [i] >= 0xA0 ? s [i] : s_cp1252 [s [i] - 0x80];
            if (cp == 0)
                cp = 0xFFFD;
            i++;
        }
        else {
            int len = s_utf8_decode (s + i, size - i, &cp);
            if (len < 0) {
                cp = 0xFFFD;
                len = -len;
            }
            i += (size_t) len;
        }
        s_emit (out, cp, &after_cr);
    }
    if (!out->data)
        sl_parse_buf_append (out, "", 0);
    return 0;
}

//  --------------------------------------------------------------------------
//  Titles

static bool
s_is_space (uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0
        || cp == 0x2028 || cp == 0x2029 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200A);
}

bool
sl_parse_set_title (char *dest, size_t cap, const char *s, size_t len, size_t max_bytes)
{
    assert (dest && cap > 0);
    if (max_bytes > cap - 1)
        max_bytes = cap - 1;
    const unsigned char *u = (const unsigned char *) s;
    size_t out = 0;
    bool space = false;
    for (size_t i = 0; i < len; ) {
        uint32_t cp;
        int n = s_utf8_decode (u + i, len - i, &cp);
        if (n < 0) {
            cp = 0xFFFD;
            n = -n;
        }
        i += (size_t) n;
        if (s_is_space (cp) || cp < 0x20 || cp == 0x7F) {
            space = out > 0;
            continue;
        }
        char enc [4];
        size_t elen = s_utf8_encode (cp, enc);
        if (out + (space ? 1 : 0) + elen > max_bytes)
            break;
        if (space)
            dest [out++] = ' ';
        space = false;
        memcpy (dest + out, enc, elen);
        out += elen;
    }
    dest [out] = 0;
    return out > 0;
}

bool
sl_parse_title_from_text (sl_parse_info_t *info, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        if (!eol)
            eol = end;
        if (sl_parse_set_title (info->title, sizeof info->title, p, (size_t) (eol - p),
                                SL_TITLE_LINE_MAX))
            return true;
        p = eol + 1;
    }
    return false;
}

void
sl_parse_title_from_path (sl_parse_info_t *info, const sl_parse_opts_t *opts, const char *path)
{
    if (opts->name && *opts->name)
        path = opts->name;
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    if (!sl_parse_set_title (info->title, sizeof info->title, base, strlen (base),
                             SL_TITLE_LINE_MAX))
        snprintf (info->title, sizeof info->title, "untitled");
}

//  Markdown title: YAML front matter "title:", else the first ATX heading
//  ("# Title") or setext heading ("Title\n====") outside code fences, else
//  the first non-empty line.
static bool
s_markdown_title (sl_parse_info_t *info, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    const char *prev = NULL;            //  previous non-blank line, for setext
    size_t prev_len = 0;
    bool in_fence = false;
    bool front_matter = len >= 4 && memcmp (text, "---\n", 4) == 0;
    if (front_matter)
        p += 4;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        if (!eol)
            eol = end;
        size_t n = (size_t) (eol - p);
        const char *line = p;
        p = eol + 1;
        if (front_matter) {
            if ((n == 3 && (memcmp (line, "---", 3) == 0 || memcmp (line, "...", 3) == 0))) {
                front_matter = false;
                continue;
            }
            if (n > 6 && memcmp (line, "title:", 6) == 0) {
                const char *v = line + 6;
                size_t vn = n - 6;
                while (vn && (*v == ' ' || *v == '\t')) {
                    v++;
                    vn--;
                }
                while (vn && (v [vn - 1] == ' ' || v [vn - 1] == '\t'))
                    vn--;
                if (vn >= 2 && (*v == '"' || *v == '\'') && v [vn - 1] == *v) {
                    v++;
                    vn -= 2;
                }
                if (sl_parse_set_title (info->title, sizeof info->title, v, vn, SL_TITLE_LINE_MAX))
                    return true;
            }
            continue;
        }
        size_t indent = 0;
        while (indent < n && indent < 4 && line [indent] == ' ')
            indent++;
        if (indent < 4 && n - indent >= 3
        && (memcmp (line + indent, "```", 3) == 0 || memcmp (line + indent, "~~~", 3) == 0)) {
            in_fence = !in_fence;
            prev = NULL;
            continue;
        }
        if (in_fence || indent >= 4) {
            prev = NULL;
            continue;
        }
        const char *h = line + indent;
        size_t hn = n - indent;
        size_t hashes = 0;
        while (hashes < hn && h [hashes] == '#')
            hashes++;
        if (hashes >= 1 && hashes <= 6 && (hashes == hn || h [hashes] == ' ' || h [hashes] == '\t')) {
            const char *t = h + hashes;
            size_t tn = hn - hashes;
            //  closing sequence: trailing #'s preceded by a space
            size_t k = tn;
            while (k && (t [k - 1] == ' ' || t [k - 1] == '\t'))
                k--;
            size_t k2 = k;
            while (k2 && t [k2 - 1] == '#')
                k2--;
            if (k2 < k && (k2 == 0 || t [k2 - 1] == ' ' || t [k2 - 1] == '\t'))
                tn = k2;
            if (sl_parse_set_title (info->title, sizeof info->title, t, tn, SL_TITLE_LINE_MAX))
                return true;
            prev = NULL;
            continue;
        }
        bool underline = hn > 0;
        for (size_t i = 0; i < hn && underline; i++)
            if (h [i] != '=' && !((h [i] == ' ' || h [i] == '\t') && i > 0))
                underline = false;
        if (underline && prev
        &&  sl_parse_set_title (info->title, sizeof info->title, prev, prev_len, SL_TITLE_LINE_MAX))
            return true;
        bool blank = true;
        for (size_t i = 0; i < n && blank; i++)
            if (line [i] != ' ' && line [i] != '\t')
                blank = false;
        prev = blank ? NULL : line;
        prev_len = n;
    }
    return sl_parse_title_from_text (info, text, len);
}

//  --------------------------------------------------------------------------
//  Files

int
sl_parse_read_file (const char *path, size_t limit, const char *what,
                    char **data_p, size_t *size_p, char *err, size_t errlen)
{
    *data_p = NULL;
    *size_p = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_parse_errf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        sl_parse_errf (err, errlen, "cannot open %s: not a regular file", path);
        close (fd);
        return -1;
    }
    if (st.st_size == 0) {
        sl_parse_errf (err, errlen, "empty file");
        close (fd);
        return -1;
    }
    if ((uint64_t) st.st_size > limit) {
        char limit_str [32], size_str [32];
        sl_parse_size_str (limit, limit_str, sizeof limit_str);
        sl_parse_size_str ((size_t) st.st_size, size_str, sizeof size_str);
        sl_parse_errf (err, errlen, "%s exceeds the %s limit (file is %s)", what, limit_str, size_str);
        close (fd);
        return -1;
    }
    size_t size = (size_t) st.st_size;
    char *data = malloc (size + 1);
    if (!data) {
        sl_parse_errf (err, errlen, "out of memory reading %zu bytes", size);
        close (fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read (fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;              //  file shrank under us: parse what we have
        got += (size_t) n;
    }
    close (fd);
    if (got == 0) {
        free (data);
        sl_parse_errf (err, errlen, "empty file");
        return -1;
    }
    data [got] = 0;
    *data_p = data;
    *size_p = got;
    return 0;
}

//  --------------------------------------------------------------------------
//  Text back-end

static void
s_buf_put (void *arg, const char *s, size_t n)
{
    sl_parse_buf_append ((sl_parse_buf_t *) arg, s, n);
}

//  True if [s, s+n) holds only whitespace.
static bool
s_blank (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s [i] == ' ' || (s [i] >= '\t' && s [i] <= '\r')))
            return false;
    return true;
}

//  True if line (n bytes) opens or closes a fenced code block: up to three
//  spaces, then ``` or ~~~
static bool
s_is_fence (const char *line, size_t n)
{
    size_t indent = 0;
    while (indent < n && indent < 4 && line [indent] == ' ')
        indent++;
    return indent < 4 && n - indent >= 3
        && (memcmp (line + indent, "```", 3) == 0 || memcmp (line + indent, "~~~", 3) == 0);
}

//  A setext underline: only '=' (level 1) or only '-' (level 2, at least
//  two, so a lone "-" list marker is not one), trailing spaces allowed
static int
s_setext_level (const char *line, size_t n)
{
    while (n > 0 && (line [n - 1] == ' ' || line [n - 1] == '\t'))
        n--;
    if (n == 0 || (line [0] != '=' && line [0] != '-') || (line [0] == '-' && n < 2))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (line [i] != line [0])
            return 0;
    return line [0] == '=' ? 1 : 2;
}

//  Write one Markdown line as a line of sl_markup: a line inside a code
//  fence that would read as markup ("# comment", "| x") is escaped, so
//  code never makes a heading or a table row.
static void
s_markdown_line (sl_parse_buf_t *out, const char *line, size_t n, bool code)
{
    if (code && n > 0) {
        int level;
        const char *content;
        size_t content_len;
        if (line [0] == '\\' || sl_markup_line (line, n, &level, &content, &content_len) != SL_LINE_TEXT)
            sl_parse_buf_append (out, "\\", 1);
    }
    sl_parse_buf_append (out, line, n);
    sl_parse_buf_append (out, "\n", 1);
}

//  True if a line can be the text of a setext heading: not a list item,
//  quote or indented code (whose "---" below is a thematic break)
static bool
s_setext_text (const char *line, size_t n)
{
    if (n >= 4 && memcmp (line, "    ", 4) == 0)
        return false;
    if (n >= 1 && line [0] == '>')
        return false;
    if (n >= 2 && (line [0] == '-' || line [0] == '*' || line [0] == '+') && line [1] == ' ')
        return false;
    size_t digits = 0;
    while (digits < n && line [digits] >= '0' && line [digits] <= '9')
        digits++;
    return !(digits > 0 && digits + 1 < n && (line [digits] == '.' || line [digits] == ')')
             && line [digits + 1] == ' ');
}

//  Mark one page of Markdown into out: Markdown's headings and pipe tables
//  already are sl_markup; setext headings ("Title\n===") become "# Title";
//  lines in fenced code blocks are escaped. *in_fence carries a fence open
//  across a form feed. YAML front matter (first page, "---" ... "---") is
//  passed as text: its closing "---" is no setext underline.
static void
s_markdown_mark (const char *text, size_t len, bool first_page, bool *in_fence, sl_parse_buf_t *out)
{
    const char *p = text, *end = text + len;
    const char *held = NULL;            //  previous text line, not yet written:
    size_t held_len = 0;                //  it may be a setext heading
    bool front = first_page && len >= 4 && memcmp (text, "---", 3) == 0
              && (text [3] == '\n' || text [3] == '\r');
    //  only if it closes: a lone "---" first line is a thematic break
    for (const char *q = front ? memchr (p, '\n', len) : NULL; front; ) {
        if (!q || q + 1 >= end) {
            front = false;
            break;
        }
        q++;
        if (end - q >= 3 && (memcmp (q, "---", 3) == 0 || memcmp (q, "...", 3) == 0))
            break;
        q = memchr (q, '\n', (size_t) (end - q));
    }
    if (front) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        p = eol ? eol + 1 : end;
        sl_parse_buf_append (out, "---\n", 4);
    }
    while (front && p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        size_t n = (size_t) ((eol ? eol : end) - p);
        s_markdown_line (out, p, n, true);          //  escaped: "# x" in YAML is no heading
        front = !(n >= 3 && (memcmp (p, "---", 3) == 0 || memcmp (p, "...", 3) == 0));
        p = eol ? eol + 1 : end;
    }
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        if (!eol)
            eol = end;
        const char *line = p;
        size_t n = (size_t) (eol - p);
        if (n > 0 && line [n - 1] == '\r')
            n--;
        p = eol + 1;
        int setext = *in_fence || !held ? 0 : s_setext_level (line, n);
        if (setext) {
            sl_markup_heading (s_buf_put, out, setext, held, held_len);
            held = NULL;
            continue;
        }
        if (held)
            s_markdown_line (out, held, held_len, false);
        held = NULL;
        if (s_is_fence (line, n)) {
            *in_fence = !*in_fence;
            s_markdown_line (out, line, n, false);
        }
        else
        if (*in_fence || s_blank (line, n) || line [0] == '#' || line [0] == '|' || !s_setext_text (line, n))
            s_markdown_line (out, line, n, *in_fence);
        else {
            held = line;
            held_len = n;
        }
    }
    if (held)
        s_markdown_line (out, held, held_len, false);
}

int
sl_parse_text (const sl_parse_opts_t *opts, const char *path, bool markdown,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    char *raw;
    size_t raw_size;
    if (sl_parse_read_file (path, opts->max_text_bytes,
                            markdown ? "Markdown file" : "text file",
                            &raw, &raw_size, err, errlen))
        return -1;
    sl_parse_buf_t text = { 0 };
    int rc = sl_parse_decode_text (raw, raw_size, &text, err, errlen);
    free (raw);
    if (rc) {
        sl_parse_buf_free (&text);
        return -1;
    }
    //  A form feed ends a page; a blank remainder after the last one is the
    //  end of the file, not a page.
    size_t end = text.size;
    const char *last_ff = memrchr (text.data, '\f', end);
    if (last_ff && s_blank (last_ff + 1, end - (size_t) (last_ff + 1 - text.data)))
        end = (size_t) (last_ff - text.data);
    long pages = 1;
    for (const char *p = text.data; (p = memchr (p, '\f', end - (size_t) (p - text.data))); p++)
        pages++;
    if (pages > opts->max_pages) {
        sl_parse_errf (err, errlen, "document has %ld pages, limit is %d", pages, opts->max_pages);
        sl_parse_buf_free (&text);
        return -1;
    }
    info->page_count = (int) pages;
    bool titled = markdown ? s_markdown_title (info, text.data, end)
                           : sl_parse_title_from_text (info, text.data, end);
    if (!titled)
        sl_parse_title_from_path (info, opts, path);

    char *page = text.data;
    sl_parse_buf_t marked = { 0 };
    bool in_fence = false;
    for (int page_no = 1; page_no <= info->page_count && rc == 0; page_no++) {
        size_t left = end - (size_t) (page - text.data);
        char *ff = memchr (page, '\f', left);
        size_t len = ff ? (size_t) (ff - page) : left;
        page [len] = 0;         //  we own the buffer: terminate in place
        sl_page_t p = { .page_no = page_no, .page_count = info->page_count, .text = page, .len = len };
        if (markdown) {
            sl_parse_buf_reset (&marked);
            s_markdown_mark (page, len, page_no == 1, &in_fence, &marked);
            p.text = marked.data ? marked.data : "";
            p.len = marked.size;
            p.marked = true;
        }
        if (fn && fn (arg, &p)) {
            sl_parse_errf (err, errlen, "stopped by caller");
            rc = -1;
        }
        page += len + 1;
    }
    sl_parse_buf_free (&marked);
    sl_parse_buf_free (&text);
    return rc;
}
