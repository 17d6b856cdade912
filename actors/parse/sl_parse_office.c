/*  sl_parse_office: DOCX, PPTX, XLSX, ODT, ODP, ODS. The entry point, the
    limits derived from the parse options, and what the format walkers
    share (pages, structure writers, tables). See sl_parse_office.h.

    Ceilings, from the parse options (defaults in brackets):
      - one zip entry may expand to 4 x max_text_bytes [256 MiB], all of
        them together to 8 x max_text_bytes [512 MiB];
      - an entry past 1 MiB may not have expanded more than 100 times its
        compressed size (real Office XML compresses 5-30 times), nor more
        than its directory declared; declared sizes over either ceiling
        are refused before inflating;
      - at most 10,000 entries, max_pages pages, max_text_total of text;
      - XML: no DTD, no entities, nesting under 200 levels;
      - max_seconds of wall time, checked as bytes and nodes are read.
    Memory: XML is streamed; what is held is text, capped as above.
*/
#include "sl_parse_office.h"
#include "sl_markup.h"
#include "sl_util.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Failures and the text ceiling

int
sl_office_fail (sl_office_t *self, const char *fmt, ...)
{
    if (self->failed)
        return -1;
    self->failed = true;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->err, sizeof self->err, fmt, ap);
    va_end (ap);
    return -1;
}

//  True if n more bytes (beyond held, which a scratch buffer already has)
//  fit under the text ceiling; else the document fails.
static bool
s_room (sl_office_t *self, size_t held, size_t n)
{
    if (self->failed)
        return false;
    size_t cap = self->opts->max_text_total;
    if (self->total > cap || held > cap - self->total || n > cap - self->total - held) {
        char limit [32];
        sl_parse_size_str (cap, limit, sizeof limit);
        sl_office_fail (self, "text limit of %s exceeded at page %d", limit, self->count + 1);
        return false;
    }
    return true;
}

bool
sl_office_append (sl_office_t *self, sl_parse_buf_t *buf, const char *s, size_t n)
{
    if (!s_room (self, buf->size, n))
        return false;
    sl_parse_buf_append (buf, s, n);
    return true;
}

void
sl_office_put (void *arg, const char *s, size_t n)
{
    sl_office_t *self = arg;
    if (!s_room (self, 0, n))
        return;
    self->total += n;
    sl_parse_buf_append (self->out, s, n);
}

sl_parse_xml_t *
sl_office_xml (sl_office_t *self, const char *entry)
{
    if (self->failed)
        return NULL;
    char err [512] = "";
    sl_parse_xml_t *xml = sl_parse_xml_new (self->zip, entry, err, sizeof err);
    if (!xml)
        sl_office_fail (self, "%s", err);
    return xml;
}

int
sl_office_next (sl_office_t *self, sl_parse_xml_t *xml)
{
    if (self->failed)
        return -1;
    int rc = sl_parse_xml_next (xml);
    if (rc < 0)
        sl_office_fail (self, "%s", sl_parse_xml_error (xml));
    return rc;
}

void
sl_office_end_page (sl_office_t *self)
{
    if (self->failed)
        return;
    if (self->count >= self->opts->max_pages) {
        sl_office_fail (self, "more than %d pages (the page limit)", self->opts->max_pages);
        return;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->pages = realloc (self->pages, (size_t) self->cap * sizeof *self->pages);
        self->lens = realloc (self->lens, (size_t) self->cap * sizeof *self->lens);
        assert (self->pages && self->lens);
    }
    self->item = false;
    if (!self->page.data)
        sl_parse_buf_append (&self->page, "", 0);
    self->pages [self->count] = self->page.data;
    self->lens [self->count] = self->page.size;
    self->count++;
    memset (&self->page, 0, sizeof self->page);
}

//  --------------------------------------------------------------------------
//  Structure writers

//  A list ends with a blank line before whatever follows it
static void
s_end_list (sl_office_t *self)
{
    if (self->item)
        sl_office_put (self, "\n", 1);
    self->item = false;
}

//  Copy text into out with whitespace runs as one space, ends trimmed.
static void
s_flatten (const char *text, size_t len, sl_parse_buf_t *out)
{
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            space = out->size > 0;
            continue;
        }
        if (space)
            sl_parse_buf_append (out, " ", 1);
        space = false;
        sl_parse_buf_append (out, &c, 1);
    }
}

void
sl_office_heading (sl_office_t *self, int level, const char *text, size_t len)
{
    sl_parse_buf_t flat = { 0 };
    s_flatten (text, len, &flat);
    if (flat.size == 0)
        return;
    s_end_list (self);
    if (!self->heading [0])
        sl_parse_set_title (self->heading, sizeof self->heading, flat.data, flat.size, 200);
    sl_markup_heading (sl_office_put, self, level, flat.data, flat.size);
    sl_office_put (self, "\n", 1);
    sl_parse_buf_free (&flat);
}

void
sl_office_item (sl_office_t *self, int depth, const char *text, size_t len)
{
    sl_parse_buf_t flat = { 0 };
    s_flatten (text, len, &flat);
    if (flat.size == 0)
        return;
    for (int i = 0; i < depth && i < 8; i++)
        sl_office_put (self, "  ", 2);
    //  "- " never reads as markup, so the item needs no escaping
    sl_office_put (self, "- ", 2);
    sl_office_put (self, flat.data, flat.size);
    sl_office_put (self, "\n", 1);
    self->item = true;
    sl_parse_buf_free (&flat);
}

void
sl_office_para (sl_office_t *self, const char *text, size_t len)
{
    sl_parse_buf_t flat = { 0 };
    s_flatten (text, len, &flat);
    if (flat.size)
        s_end_list (self);
    if (flat.size)
        sl_markup_para (sl_office_put, self, flat.data, flat.size);
    sl_parse_buf_free (&flat);
}

//  --------------------------------------------------------------------------
//  Part names

void
sl_office_dirname (const char *part, char *out, size_t cap)
{
    const char *slash = strrchr (part, '/');
    size_t n = slash ? (size_t) (slash - part) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy (out, part, n);
    out [n] = 0;
}

void
sl_office_resolve (const char *dir, const char *target, char *out, size_t cap)
{
    char path [1024];
    if (target [0] == '/')
        snprintf (path, sizeof path, "%s", target + 1);
    else
    if (*dir)
        snprintf (path, sizeof path, "%s/%s", dir, target);
    else
        snprintf (path, sizeof path, "%s", target);
    //  Normalise segment by segment: "." dropped, ".." pops
    size_t o = 0;
    out [0] = 0;
    const char *p = path;
    while (*p) {
        const char *e = strchr (p, '/');
        size_t n = e ? (size_t) (e - p) : strlen (p);
        if (n == 0 || (n == 1 && p [0] == '.'))
            ;
        else
        if (n == 2 && p [0] == '.' && p [1] == '.') {
            if (o == 0) {
                out [0] = 0;    //  above the container's root
                return;
            }
            while (o > 0 && out [o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            out [o] = 0;
        }
        else {
            if (o + n + 2 > cap) {
                out [0] = 0;
                return;
            }
            if (o)
                out [o++] = '/';
            memcpy (out + o, p, n);
            o += n;
            out [o] = 0;
        }
        p += n;
        if (*p == '/')
            p++;
    }
}

//  --------------------------------------------------------------------------
//  Tables

void
sl_office_table_cell (sl_office_table_t *table, sl_office_t *self,
                      uint32_t row, uint32_t col, const char *text, size_t len)
{
    size_t s = 0, e = len;
    while (s < e && (text [s] == ' ' || text [s] == '\n' || text [s] == '\t'))
        s++;
    while (e > s && (text [e - 1] == ' ' || text [e - 1] == '\n' || text [e - 1] == '\t'))
        e--;
    if (s == e || col >= SL_OFFICE_MAX_COLS || self->failed)
        return;
    if (table->count >= SL_OFFICE_MAX_CELLS) {
        sl_office_fail (self, "a table has more than %d cells with text (the table limit)",
                        SL_OFFICE_MAX_CELLS);
        return;
    }
    size_t off = table->text.size;
    if (!sl_office_append (self, &table->text, text + s, e - s))
        return;
    if (table->count == table->cap) {
        table->cap = table->cap ? table->cap * 2 : 64;
        table->cells = realloc (table->cells, table->cap * sizeof *table->cells);
        assert (table->cells);
    }
    table->cells [table->count++] = (sl_office_cell_t) { row, col, off, e - s };
}

static int
s_cell_cmp (const void *a_, const void *b_)
{
    const sl_office_cell_t *a = a_, *b = b_;
    if (a->row != b->row)
        return a->row < b->row ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

void
sl_office_table_emit (sl_office_table_t *table, sl_office_t *self)
{
    if (table->count == 0 || self->failed) {
        table->count = 0;
        return;
    }
    bool sorted = true;
    uint32_t min_col = UINT32_MAX, max_col = 0;
    for (size_t i = 0; i < table->count; i++) {
        sl_office_cell_t *c = &table->cells [i];
        if (i && s_cell_cmp (&table->cells [i - 1], c) > 0)
            sorted = false;
        if (c->col < min_col)
            min_col = c->col;
        if (c->col > max_col)
            max_col = c->col;
    }
    s_end_list (self);
    if (!sorted)
        qsort (table->cells, table->count, sizeof *table->cells, s_cell_cmp);
    int width = (int) (max_col - min_col + 1);
    const char **cells = calloc ((size_t) width, sizeof *cells);
    size_t *lens = calloc ((size_t) width, sizeof *lens);
    assert (cells && lens);
    bool header = true;
    size_t i = 0;
    while (i < table->count && !self->failed) {
        uint32_t row = table->cells [i].row;
        memset (cells, 0, (size_t) width * sizeof *cells);
        memset (lens, 0, (size_t) width * sizeof *lens);
        for (; i < table->count && table->cells [i].row == row; i++) {
            sl_office_cell_t *c = &table->cells [i];
            cells [c->col - min_col] = table->text.data + c->off;
            lens [c->col - min_col] = c->len;
        }
        sl_markup_row (sl_office_put, self, cells, lens, width);
        if (header)
            sl_markup_rule (sl_office_put, self, width);
        header = false;
    }
    sl_office_put (self, "\n", 1);
    free (cells);
    free (lens);
    sl_parse_buf_reset (&table->text);
    table->count = 0;
}

void
sl_office_table_free (sl_office_table_t *table)
{
    free (table->cells);
    sl_parse_buf_free (&table->text);
    memset (table, 0, sizeof *table);
}

//  --------------------------------------------------------------------------
//  Entry point

static int
s_deliver (sl_office_t *self, sl_page_fn *fn, void *arg)
{
    for (int i = 0; i < self->count; i++) {
        if (sl_mono_ms () > self->deadline)
            return sl_office_fail (self, "parse time limit of %d s exceeded at page %d",
                                   self->opts->max_seconds, i + 1);
        sl_page_t page = {
            .page_no = i + 1, .page_count = self->count, .text = self->pages [i],
            .len = self->lens [i], .marked = true
        };
        if (fn && fn (arg, &page))
            return sl_office_fail (self, "stopped by caller");
    }
    return 0;
}

static int
s_walk (sl_office_t *self, const char *format)
{
    if (strcmp (format, "docx") == 0)
        return sl_office_docx (self);
    if (strcmp (format, "pptx") == 0)
        return sl_office_pptx (self);
    if (strcmp (format, "xlsx") == 0)
        return sl_office_xlsx (self);
    return sl_office_odf (self, format);
}

int
sl_parse_office (const sl_parse_opts_t *opts, const char *path, const char *format,
                 sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    sl_office_t self = { .opts = opts, .info = info };
    self.deadline = sl_mono_ms () + (int64_t) opts->max_seconds * 1000;
    self.out = &self.page;
    size_t text = opts->max_text_bytes;
    sl_parse_zip_limits_t limits = {
        .max_entry = text > SIZE_MAX / 4 ? SIZE_MAX : text * 4,
        .max_total = text > SIZE_MAX / 8 ? SIZE_MAX : text * 8,
        .max_entries = SL_OFFICE_MAX_ENTRIES,
        .ratio = SL_OFFICE_RATIO, .ratio_floor = SL_OFFICE_RATIO_FLOOR,
        .deadline = self.deadline, .max_seconds = opts->max_seconds
    };
    char what [32];
    snprintf (what, sizeof what, "%s document", format);
    for (char *p = what; *p && *p != ' '; p++)
        *p = (char) (*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    self.zip = sl_parse_zip_new (path, what, &limits, err, errlen);
    if (!self.zip)
        return -1;
    int rc = s_walk (&self, format);
    if (!self.failed && self.page.size)
        sl_office_end_page (&self);
    if (!self.failed && self.count == 0)
        sl_office_end_page (&self);     //  an empty document is one empty page
    sl_parse_zip_destroy (&self.zip);
    sl_parse_buf_free (&self.page);
    info->page_count = self.count;
    if (!sl_parse_set_title (info->title, sizeof info->title, self.title, strlen (self.title), 500)
    &&  !sl_parse_set_title (info->title, sizeof info->title, self.heading, strlen (self.heading), 500)
    &&  !(self.count && sl_parse_title_from_text (info, self.pages [0], self.lens [0])))
        sl_parse_title_from_path (info, opts, path);
    if (!self.failed && rc == 0)
        rc = s_deliver (&self, fn, arg);
    for (int i = 0; i < self.count; i++)
        free (self.pages [i]);
    free (self.pages);
    free (self.lens);
    if (self.failed || rc) {
        sl_parse_errf (err, errlen, "%s", self.err [0] ? self.err : "cannot read this document");
        return -1;
    }
    return 0;
}

//  dc:title from part (meta.xml in OpenDocument, docProps/core.xml in
//  OOXML: both use Dublin Core), if the document has that part.
void
sl_office_dc_title (sl_office_t *self, const char *part)
{
    if (!sl_parse_zip_has (self->zip, part))
        return;
    sl_parse_xml_t *xml = sl_office_xml (self, part);
    if (!xml)
        return;
    sl_parse_buf_t title = { 0 };
    bool in_title = false;
    while (sl_office_next (self, xml) > 0) {
        sl_xml_node_t type = sl_parse_xml_type (xml);
        if (type != SL_XML_TEXT)
            in_title = type == SL_XML_START && strcmp (sl_parse_xml_name (xml), "title") == 0;
        else
        if (in_title && title.size < sizeof self->title) {
            const char *text = sl_parse_xml_text (xml);
            sl_parse_buf_append (&title, text, strlen (text));
        }
    }
    if (title.data)
        sl_parse_set_title (self->title, sizeof self->title, title.data, title.size, 500);
    sl_parse_buf_free (&title);
    sl_parse_xml_destroy (&xml);
}
