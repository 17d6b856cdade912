/*  sl_parse_ooxml: Office Open XML (DOCX, PPTX, XLSX) as marked pages.

    An OOXML file is a zip of XML parts tied together by relationship parts
    (_rels/X.rels): the package names its main part, the main part names
    its slides, sheets, styles and strings. We follow relationships rather
    than guess part names, falling back to the usual names when a writer
    left a relationship out.

      - DOCX: word/document.xml in order. A paragraph's style gives its
        heading level ("heading N" / "Title" in styles.xml, or an outline
        level); numbered or bulleted paragraphs are list items; w:tbl is a
        table, its first row the header. Pages end at explicit page breaks,
        else at the first paragraph boundary past 3,000 bytes.
      - PPTX: one page per slide in presentation order: the title
        placeholder as heading, then the body text and tables, then the
        speaker notes after a "Notes:" line.
      - XLSX: one page per worksheet in workbook order: the sheet name as
        heading, the used range as one table. Cells read as written:
        shared or inline strings, numbers as stored, booleans TRUE/FALSE.
        (Dates are stored as serial numbers and read so.)
*/
#include "sl_parse_office.h"
#include "sl_markup.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_RELS      20000
#define S_MAX_STYLES    1000        //  heading and list styles kept (looked up per paragraph)

//  --------------------------------------------------------------------------
//  Relationships

typedef struct {
    char id [64];
    char type [64];             //  the last segment of the Type URI
    char target [512];          //  resolved part name
} s_rel_t;

typedef struct {
    s_rel_t *items;
    int count, cap;
} s_rels_t;

static void
s_rels_free (s_rels_t *rels)
{
    free (rels->items);
    memset (rels, 0, sizeof *rels);
}

//  Read the relationships of part (none is not an error).
static int
s_rels_read (sl_office_t *self, const char *part, s_rels_t *rels)
{
    char dir [512], name [1100], base [512];
    sl_office_dirname (part, dir, sizeof dir);
    const char *slash = strrchr (part, '/');
    snprintf (base, sizeof base, "%s", slash ? slash + 1 : part);
    if (*dir)
        snprintf (name, sizeof name, "%s/_rels/%s.rels", dir, base);
    else
        snprintf (name, sizeof name, "_rels/%s.rels", base);
    if (!sl_parse_zip_has (self->zip, name))
        return 0;
    sl_parse_xml_t *xml = sl_office_xml (self, name);
    if (!xml)
        return -1;
    int rc;
    while ((rc = sl_office_next (self, xml)) > 0) {
        if (sl_parse_xml_type (xml) != SL_XML_START || strcmp (sl_parse_xml_name (xml), "Relationship"))
            continue;
        char mode [32], type [512], target [512];
        sl_parse_xml_attr (xml, "TargetMode", mode, sizeof mode);
        if (strcasecmp (mode, "External") == 0 || rels->count >= S_MAX_RELS)
            continue;
        if (rels->count == rels->cap) {
            rels->cap = rels->cap ? rels->cap * 2 : 16;
            rels->items = realloc (rels->items, (size_t) rels->cap * sizeof *rels->items);
            assert (rels->items);
        }
        s_rel_t *rel = &rels->items [rels->count++];
        sl_parse_xml_attr (xml, "Id", rel->id, sizeof rel->id);
        sl_parse_xml_attr (xml, "Type", type, sizeof type);
        const char *seg = strrchr (type, '/');
        snprintf (rel->type, sizeof rel->type, "%.63s", seg ? seg + 1 : type);
        sl_parse_xml_attr (xml, "Target", target, sizeof target);
        sl_office_resolve (dir, target, rel->target, sizeof rel->target);
    }
    sl_parse_xml_destroy (&xml);
    return rc < 0 ? -1 : 0;
}

static const s_rel_t *
s_rel_by_id (const s_rels_t *rels, const char *id)
{
    for (int i = 0; i < rels->count; i++)
        if (strcmp (rels->items [i].id, id) == 0)
            return &rels->items [i];
    return NULL;
}

static const s_rel_t *
s_rel_by_type (const s_rels_t *rels, const char *type)
{
    for (int i = 0; i < rels->count; i++)
        if (strcmp (rels->items [i].type, type) == 0 && rels->items [i].target [0])
            return &rels->items [i];
    return NULL;
}

//  The package's main part (word/document.xml, ...), from _rels/.rels.
static int
s_main_part (sl_office_t *self, const char *usual, char *out, size_t cap)
{
    s_rels_t rels = { 0 };
    if (s_rels_read (self, "", &rels)) {
        s_rels_free (&rels);
        return -1;
    }
    const s_rel_t *main = s_rel_by_type (&rels, "officeDocument");
    snprintf (out, cap, "%s", main && sl_parse_zip_has (self->zip, main->target) ? main->target : usual);
    s_rels_free (&rels);
    return 0;
}

static bool
s_is (sl_parse_xml_t *xml, sl_xml_node_t type, const char *name)
{
    return sl_parse_xml_type (xml) == type && strcmp (sl_parse_xml_name (xml), name) == 0;
}

//  --------------------------------------------------------------------------
//  DOCX

typedef struct {
    char id [64];
    int level;                  //  heading level, 0 for none
    bool list;
} s_style_t;

typedef struct {
    sl_office_t *office;
    s_style_t *styles;
    int nstyles;
    //  The paragraph
    int para;                   //  nesting (text boxes hold paragraphs)
    sl_parse_buf_t text;
    int level, ilvl;
    bool list, break_before, break_after;
    int in_r, in_t, skip;
    //  The table (only the outermost is a table; nested ones are cell text)
    int tbl, row, col, span;
    sl_parse_buf_t cell;
    sl_office_table_t table;
} s_docx_t;

static int
s_style_level (const char *name)
{
    if (strcasecmp (name, "title") == 0)
        return 1;
    if (strncasecmp (name, "heading ", 8) == 0 && name [8] >= '1' && name [8] <= '9' && !name [9])
        return name [8] - '0';
    return 0;
}

static int
s_docx_styles (s_docx_t *docx, const char *part)
{
    sl_office_t *self = docx->office;
    if (!sl_parse_zip_has (self->zip, part))
        return 0;
    sl_parse_xml_t *xml = sl_office_xml (self, part);
    if (!xml)
        return -1;
    s_style_t style;
    memset (&style, 0, sizeof style);
    bool in_style = false;
    int cap = 0, rc;
    while ((rc = sl_office_next (self, xml)) > 0) {
        if (s_is (xml, SL_XML_START, "style")) {
            memset (&style, 0, sizeof style);
            sl_parse_xml_attr (xml, "styleId", style.id, sizeof style.id);
            in_style = true;
        }
        else
        if (in_style && s_is (xml, SL_XML_START, "name")) {
            char name [128];
            sl_parse_xml_attr (xml, "val", name, sizeof name);
            if (!style.level)
                style.level = s_style_level (name);
        }
        else
        if (in_style && s_is (xml, SL_XML_START, "outlineLvl")) {
            long lvl = sl_parse_xml_attr_int (xml, "val", 9);
            if (lvl >= 0 && lvl < 9)
                style.level = (int) lvl + 1;
        }
        else
        if (in_style && s_is (xml, SL_XML_START, "numPr"))
            style.list = true;
        else
        if (in_style && s_is (xml, SL_XML_END, "style")) {
            in_style = false;
            if ((style.level || style.list) && docx->nstyles < S_MAX_STYLES) {
                if (docx->nstyles == cap) {
                    cap = cap ? cap * 2 : 32;
                    docx->styles = realloc (docx->styles, (size_t) cap * sizeof *docx->styles);
                    assert (docx->styles);
                }
                docx->styles [docx->nstyles++] = style;
            }
        }
    }
    sl_parse_xml_destroy (&xml);
    return rc < 0 ? -1 : 0;
}

static void
s_docx_para_start (s_docx_t *docx)
{
    if (++docx->para > 1) {
        sl_office_append (docx->office, &docx->text, " ", 1);
        return;
    }
    sl_parse_buf_reset (&docx->text);
    docx->level = docx->ilvl = 0;
    docx->list = docx->break_before = docx->break_after = false;
}

static void
s_docx_para_end (s_docx_t *docx)
{
    if (--docx->para > 0)
        return;
    sl_office_t *self = docx->office;
    const char *text = docx->text.data ? docx->text.data : "";
    if (docx->tbl > 0) {
        if (docx->text.size) {
            sl_office_append (self, &docx->cell, text, docx->text.size);
            sl_office_append (self, &docx->cell, " ", 1);
        }
        return;
    }
    if (docx->break_before && self->page.size)
        sl_office_end_page (self);
    if (docx->level)
        sl_office_heading (self, docx->level, text, docx->text.size);
    else
    if (docx->list)
        sl_office_item (self, docx->ilvl, text, docx->text.size);
    else
        sl_office_para (self, text, docx->text.size);
    if (docx->break_after || self->page.size >= SL_OFFICE_PAGE_BYTES)
        sl_office_end_page (self);
}

static bool
s_on (sl_parse_xml_t *xml)
{
    char val [16];
    if (!sl_parse_xml_attr (xml, "val", val, sizeof val))
        return true;
    return strcmp (val, "0") && strcmp (val, "false") && strcmp (val, "off");
}

static void
s_docx_start (s_docx_t *docx, sl_parse_xml_t *xml)
{
    const char *name = sl_parse_xml_name (xml);
    if (docx->skip || strcmp (name, "Fallback") == 0 || strcmp (name, "moveFrom") == 0) {
        //  mc:Fallback repeats mc:Choice (a text box drawn twice); a
        //  tracked move's source repeats its destination
        docx->skip++;
        return;
    }
    if (strcmp (name, "p") == 0)
        s_docx_para_start (docx);
    else
    if (strcmp (name, "pStyle") == 0 && docx->para == 1) {
        char id [64];
        sl_parse_xml_attr (xml, "val", id, sizeof id);
        for (int i = 0; i < docx->nstyles; i++)
            if (strcmp (docx->styles [i].id, id) == 0) {
                docx->level = docx->styles [i].level;
                docx->list = docx->styles [i].list;
            }
    }
    else
    if (strcmp (name, "outlineLvl") == 0 && docx->para == 1) {
        long lvl = sl_parse_xml_attr_int (xml, "val", 9);
        if (lvl >= 0 && lvl < 9)
            docx->level = (int) lvl + 1;
    }
    else
    if (strcmp (name, "numPr") == 0 && docx->para == 1)
        docx->list = true;
    else
    if (strcmp (name, "ilvl") == 0 && docx->para == 1)
        docx->ilvl = (int) sl_parse_xml_attr_int (xml, "val", 0);
    else
    if (strcmp (name, "pageBreakBefore") == 0 && docx->para == 1)
        docx->break_before = s_on (xml);
    else
    if (strcmp (name, "r") == 0)
        docx->in_r++;
    else
    if (strcmp (name, "t") == 0 && docx->in_r)
        docx->in_t++;
    else
    if (strcmp (name, "tab") == 0 && docx->in_r)
        sl_office_append (docx->office, &docx->text, "\t", 1);
    else
    if ((strcmp (name, "br") == 0 || strcmp (name, "cr") == 0) && docx->in_r) {
        char type [32];
        sl_parse_xml_attr (xml, "type", type, sizeof type);
        if (strcmp (type, "page") == 0)
            docx->break_after = true;
        else
            sl_office_append (docx->office, &docx->text, "\n", 1);
    }
    else
    if (strcmp (name, "noBreakHyphen") == 0 && docx->in_r)
        sl_office_append (docx->office, &docx->text, "-", 1);
    else
    if (strcmp (name, "tbl") == 0) {
        if (++docx->tbl == 1)
            docx->row = -1;
    }
    else
    if (strcmp (name, "tr") == 0 && docx->tbl == 1) {
        docx->row++;
        docx->col = -1;
    }
    else
    if (strcmp (name, "tc") == 0 && docx->tbl == 1) {
        docx->col++;
        docx->span = 1;
        sl_parse_buf_reset (&docx->cell);
    }
    else
    if (strcmp (name, "gridSpan") == 0 && docx->tbl == 1)
        docx->span = (int) sl_parse_xml_attr_int (xml, "val", 1);
}

static void
s_docx_end (s_docx_t *docx, sl_parse_xml_t *xml)
{
    const char *name = sl_parse_xml_name (xml);
    if (docx->skip) {
        docx->skip--;
        return;
    }
    sl_office_t *self = docx->office;
    if (strcmp (name, "p") == 0 && docx->para > 0)
        s_docx_para_end (docx);
    else
    if (strcmp (name, "r") == 0 && docx->in_r)
        docx->in_r--;
    else
    if (strcmp (name, "t") == 0 && docx->in_t)
        docx->in_t--;
    else
    if (strcmp (name, "tc") == 0 && docx->tbl == 1) {
        sl_office_table_cell (&docx->table, self, (uint32_t) docx->row, (uint32_t) docx->col,
                              docx->cell.data ? docx->cell.data : "", docx->cell.size);
        if (docx->span > 1 && docx->span < SL_OFFICE_MAX_COLS)
            docx->col += docx->span - 1;
    }
    else
    if (strcmp (name, "tbl") == 0 && docx->tbl > 0) {
        if (--docx->tbl == 0) {
            sl_office_table_emit (&docx->table, self);
            if (self->page.size >= SL_OFFICE_PAGE_BYTES)
                sl_office_end_page (self);
        }
    }
}

int
sl_office_docx (sl_office_t *self)
{
    char main [512], dir [512], styles [600];
    if (s_main_part (self, "word/document.xml", main, sizeof main))
        return -1;
    sl_office_dc_title (self, "docProps/core.xml");
    s_docx_t docx = { .office = self };
    sl_office_dirname (main, dir, sizeof dir);
    snprintf (styles, sizeof styles, "%s%sstyles.xml", dir, *dir ? "/" : "");
    sl_parse_xml_t *xml = NULL;
    if (s_docx_styles (&docx, styles) == 0)
        xml = sl_office_xml (self, main);
    while (xml && sl_office_next (self, xml) > 0) {
        switch (sl_parse_xml_type (xml)) {
            case SL_XML_START:
                s_docx_start (&docx, xml);
                break;
            case SL_XML_END:
                s_docx_end (&docx, xml);
                break;
            case SL_XML_TEXT:
                if (docx.in_t && !docx.skip && docx.para) {
                    const char *text = sl_parse_xml_text (xml);
                    sl_office_append (self, &docx.text, text, strlen (text));
                }
                break;
        }
    }
    sl_parse_xml_destroy (&xml);
    free (docx.styles);
    sl_parse_buf_free (&docx.text);
    sl_parse_buf_free (&docx.cell);
    sl_office_table_free (&docx.table);
    return self->failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  PPTX

typedef struct {
    sl_office_t *office;
    bool notes;                 //  reading a notes slide
    char ph [32];               //  placeholder type of the shape being read
    int sp;
    int in_t;
    sl_parse_buf_t para, title;
    int tbl, row, col;
    sl_parse_buf_t cell;
    sl_office_table_t table;
} s_slide_t;

//  Placeholders whose text is not the slide's: numbers, dates, footers,
//  and the slide image on a notes page
static bool
s_slide_skip_ph (const char *ph)
{
    return !strcmp (ph, "sldNum") || !strcmp (ph, "dt") || !strcmp (ph, "ftr")
        || !strcmp (ph, "hdr") || !strcmp (ph, "sldImg");
}

static void
s_slide_para_end (s_slide_t *slide)
{
    sl_office_t *self = slide->office;
    const char *text = slide->para.data ? slide->para.data : "";
    size_t len = slide->para.size;
    if (slide->tbl > 0) {
        sl_office_append (self, &slide->cell, text, len);
        sl_office_append (self, &slide->cell, " ", 1);
    }
    else
    if (s_slide_skip_ph (slide->ph))
        ;
    else
    if (!slide->notes && (!strcmp (slide->ph, "title") || !strcmp (slide->ph, "ctrTitle"))) {
        sl_office_append (self, &slide->title, " ", 1);
        sl_office_append (self, &slide->title, text, len);
    }
    else
        sl_office_para (self, text, len);
    sl_parse_buf_reset (&slide->para);
}

static void
s_slide_node (s_slide_t *slide, sl_parse_xml_t *xml)
{
    sl_office_t *self = slide->office;
    sl_xml_node_t type = sl_parse_xml_type (xml);
    const char *name = sl_parse_xml_name (xml);
    if (type == SL_XML_TEXT) {
        if (slide->in_t) {
            const char *text = sl_parse_xml_text (xml);
            sl_office_append (self, &slide->para, text, strlen (text));
        }
    }
    else
    if (type == SL_XML_START) {
        if (!strcmp (name, "sp") && slide->sp++ == 0)
            slide->ph [0] = 0;
        else
        if (!strcmp (name, "ph") && slide->sp) {
            if (!sl_parse_xml_attr (xml, "type", slide->ph, sizeof slide->ph))
                snprintf (slide->ph, sizeof slide->ph, "body");
        }
        else
        if (!strcmp (name, "p"))
            sl_parse_buf_reset (&slide->para);
        else
        if (!strcmp (name, "t"))
            slide->in_t++;
        else
        if (!strcmp (name, "br"))
            sl_office_append (self, &slide->para, "\n", 1);
        else
        if (!strcmp (name, "tbl") && slide->tbl++ == 0)
            slide->row = -1;
        else
        if (!strcmp (name, "tr") && slide->tbl == 1) {
            slide->row++;
            slide->col = -1;
        }
        else
        if (!strcmp (name, "tc") && slide->tbl == 1) {
            slide->col++;
            sl_parse_buf_reset (&slide->cell);
        }
    }
    else {
        if (!strcmp (name, "sp") && slide->sp > 0) {
            if (--slide->sp == 0)
                slide->ph [0] = 0;
        }
        else
        if (!strcmp (name, "t") && slide->in_t)
            slide->in_t--;
        else
        if (!strcmp (name, "p"))
            s_slide_para_end (slide);
        else
        if (!strcmp (name, "tc") && slide->tbl == 1)
            sl_office_table_cell (&slide->table, self, (uint32_t) slide->row, (uint32_t) slide->col,
                                  slide->cell.data ? slide->cell.data : "", slide->cell.size);
        else
        if (!strcmp (name, "tbl") && slide->tbl > 0 && --slide->tbl == 0)
            sl_office_table_emit (&slide->table, self);
    }
}

static int
s_slide_read (s_slide_t *slide, const char *part)
{
    sl_parse_xml_t *xml = sl_office_xml (slide->office, part);
    if (!xml)
        return -1;
    slide->sp = slide->in_t = slide->tbl = 0;
    slide->ph [0] = 0;
    while (sl_office_next (slide->office, xml) > 0)
        s_slide_node (slide, xml);
    sl_parse_xml_destroy (&xml);
    return slide->office->failed ? -1 : 0;
}

//  One slide: title, body, then notes, as one page.
static int
s_pptx_slide (sl_office_t *self, const char *part)
{
    s_slide_t slide = { .office = self };
    sl_parse_buf_t body = { 0 }, notes = { 0 };
    s_rels_t rels = { 0 };
    self->out = &body;
    int rc = s_slide_read (&slide, part);
    if (rc == 0)
        rc = s_rels_read (self, part, &rels);
    const s_rel_t *rel = rc == 0 ? s_rel_by_type (&rels, "notesSlide") : NULL;
    if (rel && sl_parse_zip_has (self->zip, rel->target)) {
        self->out = &notes;
        slide.notes = true;
        rc = s_slide_read (&slide, rel->target);
    }
    self->out = &self->page;
    if (rc == 0) {
        if (slide.title.size)
            sl_office_heading (self, 1, slide.title.data, slide.title.size);
        if (body.size)
            sl_parse_buf_append (&self->page, body.data, body.size);
        if (notes.size) {
            sl_office_put (self, "Notes:\n", 7);
            sl_parse_buf_append (&self->page, notes.data, notes.size);
        }
        sl_office_end_page (self);
    }
    s_rels_free (&rels);
    sl_parse_buf_free (&body);
    sl_parse_buf_free (&notes);
    sl_parse_buf_free (&slide.para);
    sl_parse_buf_free (&slide.title);
    sl_parse_buf_free (&slide.cell);
    sl_office_table_free (&slide.table);
    return self->failed ? -1 : 0;
}

int
sl_office_pptx (sl_office_t *self)
{
    char main [512];
    if (s_main_part (self, "ppt/presentation.xml", main, sizeof main))
        return -1;
    sl_office_dc_title (self, "docProps/core.xml");
    s_rels_t rels = { 0 };
    if (s_rels_read (self, main, &rels)) {
        s_rels_free (&rels);
        return -1;
    }
    //  Slide order is p:sldIdLst's, not the part names'
    sl_parse_xml_t *xml = sl_office_xml (self, main);
    char **slides = NULL;
    int count = 0, cap = 0;
    while (xml && sl_office_next (self, xml) > 0) {
        if (!s_is (xml, SL_XML_START, "sldId"))
            continue;
        char id [64];
        sl_parse_xml_attr_ns (xml, "id", "relationships", id, sizeof id);
        const s_rel_t *rel = s_rel_by_id (&rels, id);
        if (!rel || !sl_parse_zip_has (self->zip, rel->target))
            continue;           //  a dangling slide reference: nothing to read
        if (count >= self->opts->max_pages) {
            sl_office_fail (self, "more than %d slides (the page limit)", self->opts->max_pages);
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            slides = realloc (slides, (size_t) cap * sizeof *slides);
            assert (slides);
        }
        slides [count++] = strdup (rel->target);
    }
    sl_parse_xml_destroy (&xml);
    for (int i = 0; i < count && !self->failed; i++)
        s_pptx_slide (self, slides [i]);
    for (int i = 0; i < count; i++)
        free (slides [i]);
    free (slides);
    s_rels_free (&rels);
    return self->failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  XLSX

typedef struct {
    sl_parse_buf_t text;
    size_t *offs;               //  count + 1 offsets into text
    size_t count, cap;
} s_strings_t;

static void
s_strings_push (s_strings_t *strings, size_t end)
{
    if (strings->count + 1 >= strings->cap) {
        strings->cap = strings->cap ? strings->cap * 2 : 256;
        strings->offs = realloc (strings->offs, strings->cap * sizeof *strings->offs);
        assert (strings->offs);
    }
    if (strings->count == 0)
        strings->offs [0] = 0;
    strings->offs [++strings->count] = end;
}

static int
s_xlsx_strings (sl_office_t *self, const char *part, s_strings_t *strings)
{
    sl_parse_xml_t *xml = sl_office_xml (self, part);
    if (!xml)
        return -1;
    int skip = 0, in_t = 0;
    while (sl_office_next (self, xml) > 0) {
        sl_xml_node_t type = sl_parse_xml_type (xml);
        const char *name = sl_parse_xml_name (xml);
        if (type == SL_XML_TEXT) {
            if (in_t && !skip) {
                const char *text = sl_parse_xml_text (xml);
                sl_office_append (self, &strings->text, text, strlen (text));
            }
        }
        else
        if (!strcmp (name, "rPh"))     //  phonetic guide: not the text
            skip += type == SL_XML_START ? 1 : -1;
        else
        if (!strcmp (name, "t"))
            in_t += type == SL_XML_START ? 1 : -1;
        else
        if (type == SL_XML_END && !strcmp (name, "si")) {
            if (strings->count >= SL_OFFICE_MAX_CELLS) {
                sl_office_fail (self, "more than %d shared strings (the table limit)",
                                SL_OFFICE_MAX_CELLS);
                break;
            }
            s_strings_push (strings, strings->text.size);
        }
    }
    sl_parse_xml_destroy (&xml);
    return self->failed ? -1 : 0;
}

//  "BC12" -> column 54 (0-based), row 11; false if malformed.
static bool
s_cell_ref (const char *ref, uint32_t *row, uint32_t *col)
{
    uint32_t c = 0, r = 0;
    const char *p = ref;
    for (; *p >= 'A' && *p <= 'Z'; p++)
        if ((c = c * 26 + (uint32_t) (*p - 'A' + 1)) > 100000)
            return false;
    if (p == ref || c == 0)
        return false;
    const char *digits = p;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((r = r * 10 + (uint32_t) (*p - '0')) > 100000000)
            return false;
    if (*p || p == digits || r == 0)
        return false;
    *col = c - 1;
    *row = r - 1;
    return true;
}

//  A number as a spreadsheet shows it: as stored, unless the writer
//  stored more than the 15 significant digits a spreadsheet keeps (binary
//  floating point leftovers such as "0.07000000000000001"), which are
//  rounded to 15 as Excel and LibreOffice display them.
static size_t
s_number_display (const char *text, size_t len, char *buf, size_t cap, const char **out)
{
    *out = text;
    int digits = 0;
    bool leading = true;
    for (size_t i = 0; i < len && text [i] != 'E' && text [i] != 'e'; i++)
        if (text [i] >= '0' && text [i] <= '9') {
            if (text [i] != '0')
                leading = false;
            if (!leading)
                digits++;
        }
    if (digits <= 15 || len >= 64)
        return len;
    char copy [64], *end;
    memcpy (copy, text, len);
    copy [len] = 0;
    double value = strtod (copy, &end);
    if (*end || end == copy)
        return len;             //  not a number after all: as written
    int n = snprintf (buf, cap, "%.15g", value);
    if (n <= 0 || (size_t) n >= cap)
        return len;
    *out = buf;
    return (size_t) n;
}

typedef struct {
    sl_office_t *office;
    const s_strings_t *strings;
    char number [64];
    uint32_t row, col;
    bool any_row, any_col;
    char type [16];
    int in_v, in_is, in_t, skip;
    sl_parse_buf_t value;
    sl_office_table_t table;
} s_sheet_t;

static void
s_sheet_cell_end (s_sheet_t *sheet)
{
    const char *text = sheet->value.data ? sheet->value.data : "";
    size_t len = sheet->value.size;
    if (!strcmp (sheet->type, "s")) {
        char *end;
        unsigned long index = strtoul (text, &end, 10);
        if (len == 0 || *end || index >= sheet->strings->count)
            return;             //  a dangling string index: no text
        text = sheet->strings->text.data + sheet->strings->offs [index];
        len = sheet->strings->offs [index + 1] - sheet->strings->offs [index];
    }
    else
    if ((!sheet->type [0] || !strcmp (sheet->type, "n")) && len)
        len = s_number_display (text, len, sheet->number, sizeof sheet->number, &text);
    else
    if (!strcmp (sheet->type, "b") && len) {
        text = strcmp (text, "1") == 0 ? "TRUE" : "FALSE";
        len = strlen (text);
    }
    sl_office_table_cell (&sheet->table, sheet->office, sheet->row, sheet->col, text, len);
}

static void
s_sheet_node (s_sheet_t *sheet, sl_parse_xml_t *xml)
{
    sl_xml_node_t type = sl_parse_xml_type (xml);
    const char *name = sl_parse_xml_name (xml);
    if (type == SL_XML_TEXT) {
        if (sheet->in_v || (sheet->in_is && sheet->in_t && !sheet->skip)) {
            const char *text = sl_parse_xml_text (xml);
            sl_office_append (sheet->office, &sheet->value, text, strlen (text));
        }
        return;
    }
    int step = type == SL_XML_START ? 1 : -1;
    if (type == SL_XML_START && !strcmp (name, "row")) {
        long r = sl_parse_xml_attr_int (xml, "r", 0);
        sheet->row = r > 0 && r <= 100000000 ? (uint32_t) r - 1 : sheet->any_row ? sheet->row + 1 : 0;
        sheet->any_row = true;
        sheet->any_col = false;
    }
    else
    if (type == SL_XML_START && !strcmp (name, "c")) {
        char ref [32];
        uint32_t row, col;
        sl_parse_xml_attr (xml, "r", ref, sizeof ref);
        if (s_cell_ref (ref, &row, &col))
            sheet->col = col;
        else
            sheet->col = sheet->any_col ? sheet->col + 1 : 0;
        sheet->any_col = true;
        sl_parse_xml_attr (xml, "t", sheet->type, sizeof sheet->type);
        sl_parse_buf_reset (&sheet->value);
    }
    else
    if (type == SL_XML_END && !strcmp (name, "c"))
        s_sheet_cell_end (sheet);
    else
    if (!strcmp (name, "v"))
        sheet->in_v += step;
    else
    if (!strcmp (name, "is"))
        sheet->in_is += step;
    else
    if (!strcmp (name, "t") && sheet->in_is)
        sheet->in_t += step;
    else
    if (!strcmp (name, "rPh"))
        sheet->skip += step;
}

static int
s_xlsx_sheet (sl_office_t *self, const char *name, const char *part, const s_strings_t *strings)
{
    sl_office_heading (self, 1, name, strlen (name));
    sl_parse_xml_t *xml = sl_office_xml (self, part);
    if (!xml)
        return -1;
    s_sheet_t sheet = { .office = self, .strings = strings };
    while (sl_office_next (self, xml) > 0)
        s_sheet_node (&sheet, xml);
    sl_parse_xml_destroy (&xml);
    sl_office_table_emit (&sheet.table, self);
    sl_office_end_page (self);
    sl_office_table_free (&sheet.table);
    sl_parse_buf_free (&sheet.value);
    return self->failed ? -1 : 0;
}

int
sl_office_xlsx (sl_office_t *self)
{
    char main [512];
    if (s_main_part (self, "xl/workbook.xml", main, sizeof main))
        return -1;
    sl_office_dc_title (self, "docProps/core.xml");
    s_rels_t rels = { 0 };
    s_strings_t strings;
    memset (&strings, 0, sizeof strings);
    if (s_rels_read (self, main, &rels) == 0) {
        const s_rel_t *rel = s_rel_by_type (&rels, "sharedStrings");
        if (rel && sl_parse_zip_has (self->zip, rel->target))
            s_xlsx_strings (self, rel->target, &strings);
    }
    //  Sheets in workbook order; names and parts are read first, as the
    //  workbook part cannot stay open while a sheet is read
    typedef struct { char name [256]; char part [512]; } s_entry_t;
    s_entry_t *sheets = NULL;
    int count = 0, cap = 0;
    sl_parse_xml_t *xml = self->failed ? NULL : sl_office_xml (self, main);
    while (xml && sl_office_next (self, xml) > 0) {
        if (!s_is (xml, SL_XML_START, "sheet"))
            continue;
        char id [64];
        sl_parse_xml_attr_ns (xml, "id", "relationships", id, sizeof id);
        const s_rel_t *rel = s_rel_by_id (&rels, id);
        if (!rel || strcmp (rel->type, "worksheet") || !sl_parse_zip_has (self->zip, rel->target))
            continue;           //  chart sheets, dangling references
        if (count >= self->opts->max_pages) {
            sl_office_fail (self, "more than %d sheets (the page limit)", self->opts->max_pages);
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            sheets = realloc (sheets, (size_t) cap * sizeof *sheets);
            assert (sheets);
        }
        sl_parse_xml_attr (xml, "name", sheets [count].name, sizeof sheets [count].name);
        snprintf (sheets [count].part, sizeof sheets [count].part, "%s", rel->target);
        count++;
    }
    sl_parse_xml_destroy (&xml);
    for (int i = 0; i < count && !self->failed; i++)
        s_xlsx_sheet (self, sheets [i].name, sheets [i].part, &strings);
    free (sheets);
    free (strings.offs);
    sl_parse_buf_free (&strings.text);
    s_rels_free (&rels);
    return self->failed ? -1 : 0;
}
