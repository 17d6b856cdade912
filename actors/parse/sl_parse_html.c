/*  sl_parse_html: HTML and XHTML to text with gumbo, the whole document as
    page 1.

    Why not MuPDF: its HTML engine lays the document out into pages (fonts,
    line breaking, CSS), which costs orders of magnitude more than the text
    is worth. gumbo gives us the HTML5 DOM a browser would build from the same
    tag soup; we walk it and keep the text a reader would see:
      - script, style, noscript, template, iframe, object, svg, select and
        the whole <head> are skipped, except <title>, which becomes the title
        (else the first <h1>, else the first line, else the file name);
      - block elements (p, div, li, pre, ...) end lines or paragraphs, <br>
        breaks the line; whitespace collapses as in a browser, except
        inside <pre>;
      - the page is marked (engine/sl_markup.h): h1-h6 become headings
        "# ..", a table becomes rows "| a | b |" (its first row, the thead's
        if it has one, is the header, followed by a "|---|" rule), list
        items become lines "- item", and all other text is written in
        paragraphs escaped by sl_markup_para, so a paragraph that begins
        with "#" or "|" stays text. A table inside a table cell is read as
        that cell's text. colspan repeats an empty cell (at most
        S_COLSPAN_MAX), and a row keeps at most S_ROW_CELLS cells: a hostile
        colspan="100000" costs nothing.

    gumbo 0.10 cannot report an allocation failure and frees its tree
    recursively (a deeply nested page would overflow the stack). So gumbo
    allocates from a private arena that enforces max_memory and the deadline:
    past either, the allocator longjmps out of gumbo, and we free the arena
    wholesale instead of calling gumbo_destroy_output. That is safe because
    every byte gumbo owns came from the arena and gumbo keeps no global state.
    The walk is iterative for the same nesting reason.
*/
#include "sl_parse_internal.h"
#include "sl_markup.h"
#include "sl_util.h"

#include <gumbo.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Arena for gumbo

#define S_ARENA_CHUNK   (1 << 20)
#define S_ARENA_ALIGN   16

typedef struct s_chunk_s {
    struct s_chunk_s *next;
    size_t size;                //  bytes usable after the header
    size_t used;
} s_chunk_t;

#define S_CHUNK_HEADER  ((sizeof (s_chunk_t) + S_ARENA_ALIGN - 1) & ~(size_t) (S_ARENA_ALIGN - 1))

typedef enum { S_OK = 0, S_OVER_MEMORY, S_OVER_TIME } s_failure_t;

typedef struct {
    s_chunk_t *chunks;          //  newest first
    size_t total;               //  bytes taken from malloc
    size_t limit;
    int64_t deadline;           //  sl_mono_ms
    unsigned allocs;
    s_failure_t failure;
    jmp_buf jmp;                //  where the allocator escapes to
} s_arena_t;

static void *
s_arena_alloc (void *user, size_t size)
{
    s_arena_t *arena = (s_arena_t *) user;
    if (++arena->allocs % 1024 == 0 && sl_mono_ms () > arena->deadline) {
        arena->failure = S_OVER_TIME;
        longjmp (arena->jmp, 1);
    }
    size = (size + S_ARENA_ALIGN - 1) & ~(size_t) (S_ARENA_ALIGN - 1);
    if (size == 0)
        size = S_ARENA_ALIGN;
    s_chunk_t *chunk = arena->chunks;
    if (!chunk || chunk->size - chunk->used < size) {
        size_t want = size > S_ARENA_CHUNK ? size : S_ARENA_CHUNK;
        if (want + S_CHUNK_HEADER > arena->limit - arena->total
        ||  !(chunk = malloc (S_CHUNK_HEADER + want))) {
            arena->failure = S_OVER_MEMORY;
            longjmp (arena->jmp, 1);
        }
        chunk->size = want;
        chunk->used = 0;
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        arena->total += S_CHUNK_HEADER + want;
    }
    void *p = (char *) chunk + S_CHUNK_HEADER + chunk->used;
    chunk->used += size;
    return p;
}

static void
s_arena_free (void *user, void *ptr)
{
    //  Everything goes when the arena does; gumbo's transient garbage (old
    //  buffers it outgrew) is bounded by a small multiple of the input.
}

static void
s_arena_destroy (s_arena_t *arena)
{
    while (arena->chunks) {
        s_chunk_t *next = arena->chunks->next;
        free (arena->chunks);
        arena->chunks = next;
    }
}

//  setjmp lives in its own small frame so no local of the caller is live
//  across the longjmp.
static GumboOutput *
s_parse_guarded (s_arena_t *arena, const GumboOptions *options, const char *data, size_t size)
{
    if (setjmp (arena->jmp))
        return NULL;
    return gumbo_parse_with_options (options, data, size);
}

//  --------------------------------------------------------------------------
//  DOM walk

//  Breaks owed before the next visible text, strongest wins.
typedef enum { S_NONE = 0, S_SPACE, S_TAB, S_LINE, S_PARA } s_break_t;

#define S_ROW_CELLS 256         //  cells kept per table row
#define S_COLSPAN_MAX 32        //  cells one colspan may fill

typedef struct {
    sl_parse_buf_t *out;        //  the marked page
    sl_parse_buf_t para;        //  the paragraph being gathered
    s_break_t pending;
    bool bullet;                //  a list item began: "- " before its text
    int pre_depth;              //  inside <pre>: keep whitespace
    sl_parse_buf_t title;       //  text of the first <title>
    bool have_title;
    bool have_h1;
    char h1 [512];
    int heading_level;          //  inside h1-h6 (outermost): 1..6, else 0
    sl_parse_buf_t heading;     //  its text
    int table_depth;            //  tables open; only the outermost makes rows
    int rows;                   //  rows written of the outermost table
    bool in_cell;
    sl_parse_buf_t cells;       //  the row's cells, one after the other
    size_t cell_start [S_ROW_CELLS];
    size_t cell_len [S_ROW_CELLS];
    int ncells;
} s_walk_t;

static void
s_put (void *arg, const char *s, size_t n)
{
    sl_parse_buf_append ((sl_parse_buf_t *) arg, s, n);
}

//  Where visible text goes now: a cell, a heading or the paragraph
static sl_parse_buf_t *
s_sink (s_walk_t *self)
{
    if (self->in_cell)
        return &self->cells;
    if (self->heading_level)
        return &self->heading;
    return &self->para;
}

//  Write the paragraph gathered so far, escaped
static void
s_end_para (s_walk_t *self)
{
    if (self->para.size)
        sl_markup_para (s_put, self->out, self->para.data, self->para.size);
    sl_parse_buf_reset (&self->para);
}

static void
s_owe (s_walk_t *self, s_break_t brk)
{
    if (brk > self->pending)
        self->pending = brk;
}

static void
s_flush (s_walk_t *self)
{
    sl_parse_buf_t *sink = s_sink (self);
    if (sink == &self->para && self->pending == S_PARA)
        s_end_para (self);
    else
    if (sink == &self->para && self->pending == S_LINE && sink->size > 0)
        sl_parse_buf_append (sink, "\n", 1);
    else
    if (self->pending != S_NONE && sink->size > 0 && (sink != &self->cells
        || (self->ncells < S_ROW_CELLS && sink->size > self->cell_start [self->ncells])))
        sl_parse_buf_append (sink, " ", 1);
    self->pending = S_NONE;
    if (self->bullet && sink == &self->para) {
        if (self->para.size && self->para.data [self->para.size - 1] != '\n')
            sl_parse_buf_append (&self->para, "\n", 1);
        sl_parse_buf_append (&self->para, "- ", 2);
    }
    self->bullet = false;
}

static void
s_text (s_walk_t *self, const char *s)
{
    if (self->pre_depth > 0) {
        if (*s) {
            s_flush (self);
            sl_parse_buf_append (s_sink (self), s, strlen (s));
        }
        return;
    }
    const char *run = NULL;     //  start of a run of non-space bytes
    for (const char *p = s; ; p++) {
        bool space = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f';
        if ((space || !*p) && run) {
            s_flush (self);
            sl_parse_buf_append (s_sink (self), run, (size_t) (p - run));
            run = NULL;
        }
        if (!*p)
            break;
        if (space)
            s_owe (self, S_SPACE);
        else
        if (!run)
            run = p;
    }
}

//  What an element means for the text flow.
typedef enum { S_INLINE, S_SKIP, S_BLOCK_LINE, S_BLOCK_PARA, S_CELL } s_role_t;

static s_role_t
s_role (GumboTag tag)
{
    switch (tag) {
        case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE:
        case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_IFRAME:
        case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_CANVAS:
        case GUMBO_TAG_SVG: case GUMBO_TAG_SELECT: case GUMBO_TAG_AUDIO:
        case GUMBO_TAG_VIDEO: case GUMBO_TAG_MAP: case GUMBO_TAG_TITLE:
            return S_SKIP;
        case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
        case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_PRE:
        case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_TABLE: case GUMBO_TAG_UL:
        case GUMBO_TAG_OL: case GUMBO_TAG_DL: case GUMBO_TAG_SECTION:
        case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_HEADER:
        case GUMBO_TAG_FOOTER: case GUMBO_TAG_NAV: case GUMBO_TAG_MAIN:
        case GUMBO_TAG_FIGURE: case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET:
        case GUMBO_TAG_ADDRESS: case GUMBO_TAG_DETAILS: case GUMBO_TAG_HR:
        case GUMBO_TAG_HGROUP: case GUMBO_TAG_CENTER: case GUMBO_TAG_LISTING:
        case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT: case GUMBO_TAG_DIR:
        case GUMBO_TAG_MENU:
            return S_BLOCK_PARA;
        case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
        case GUMBO_TAG_TR: case GUMBO_TAG_CAPTION: case GUMBO_TAG_FIGCAPTION:
        case GUMBO_TAG_SUMMARY: case GUMBO_TAG_LEGEND: case GUMBO_TAG_OPTION:
        case GUMBO_TAG_BODY: case GUMBO_TAG_HTML: case GUMBO_TAG_THEAD:
        case GUMBO_TAG_TBODY: case GUMBO_TAG_TFOOT:
            return S_BLOCK_LINE;
        case GUMBO_TAG_TD: case GUMBO_TAG_TH:
            return S_CELL;
        default:
            return S_INLINE;
    }
}

static bool
s_is_pre (GumboTag tag)
{
    return tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_LISTING
        || tag == GUMBO_TAG_XMP || tag == GUMBO_TAG_PLAINTEXT || tag == GUMBO_TAG_TEXTAREA;
}

//  Collect the text of the first <title>: its children are text nodes.
static void
s_take_title (s_walk_t *self, GumboNode *node)
{
    if (self->have_title)
        return;
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        GumboNode *kid = (GumboNode *) kids->data [i];
        if (kid->type == GUMBO_NODE_TEXT || kid->type == GUMBO_NODE_WHITESPACE
        ||  kid->type == GUMBO_NODE_CDATA)
            sl_parse_buf_append (&self->title, kid->v.text.text, strlen (kid->v.text.text));
    }
    self->have_title = self->title.size > 0;
}

static int
s_heading_level (GumboTag tag)
{
    switch (tag) {
        case GUMBO_TAG_H1: return 1;
        case GUMBO_TAG_H2: return 2;
        case GUMBO_TAG_H3: return 3;
        case GUMBO_TAG_H4: return 4;
        case GUMBO_TAG_H5: return 5;
        case GUMBO_TAG_H6: return 6;
        default: return 0;
    }
}

//  colspan of a cell, 1..S_COLSPAN_MAX
static int
s_colspan (GumboNode *node)
{
    GumboAttribute *attr = gumbo_get_attribute (&node->v.element.attributes, "colspan");
    long span = attr ? strtol (attr->value, NULL, 10) : 1;
    return span < 1 ? 1 : span > S_COLSPAN_MAX ? S_COLSPAN_MAX : (int) span;
}

//  Close the cell being read (trimmed), then span - 1 empty cells
static void
s_cell_end (s_walk_t *self, int span)
{
    self->in_cell = false;
    self->pending = S_NONE;
    if (self->ncells >= S_ROW_CELLS) {
        self->cells.size = self->ncells ? self->cell_start [self->ncells - 1] + self->cell_len [self->ncells - 1]
                                        : 0;
        return;
    }
    size_t start = self->cell_start [self->ncells];
    self->cell_len [self->ncells] = self->cells.size - start;
    self->ncells++;
    for (int i = 1; i < span && self->ncells < S_ROW_CELLS; i++) {
        self->cell_start [self->ncells] = self->cells.size;
        self->cell_len [self->ncells++] = 0;
    }
}

//  Write the row read (the first of a table is its header: a rule follows)
static void
s_row_end (s_walk_t *self)
{
    if (self->ncells == 0)
        return;
    s_end_para (self);
    const char *cells [S_ROW_CELLS];
    for (int i = 0; i < self->ncells; i++)
        cells [i] = self->cells.data + self->cell_start [i];
    sl_markup_row (s_put, self->out, cells, self->cell_len, self->ncells);
    if (self->rows++ == 0)
        sl_markup_rule (s_put, self->out, self->ncells);
    self->ncells = 0;
    sl_parse_buf_reset (&self->cells);
}

static void
s_enter (s_walk_t *self, GumboNode *node)
{
    GumboTag tag = node->v.element.tag;
    s_role_t role = s_role (tag);
    int level = s_heading_level (tag);
    bool rows = self->table_depth == 1 && !self->heading_level;
    if (tag == GUMBO_TAG_TABLE && self->table_depth++ == 0 && !self->heading_level && !self->in_cell) {
        s_end_para (self);
        self->rows = 0;
        self->ncells = 0;
        sl_parse_buf_reset (&self->cells);
    }
    else
    if (rows && tag == GUMBO_TAG_TR)
        self->ncells = 0;
    else
    if (rows && role == S_CELL && !self->in_cell) {
        self->in_cell = true;
        self->pending = S_NONE;
        if (self->ncells < S_ROW_CELLS)
            self->cell_start [self->ncells] = self->cells.size;
    }
    else
    if (level && !self->heading_level && !self->in_cell) {
        s_end_para (self);
        self->pending = S_NONE;
        self->heading_level = level;
        sl_parse_buf_reset (&self->heading);
    }
    else
    if (role == S_BLOCK_PARA)
        s_owe (self, S_PARA);
    else
    if (role == S_BLOCK_LINE || role == S_CELL)
        s_owe (self, role == S_CELL ? S_TAB : S_LINE);
    else
    if (tag == GUMBO_TAG_BR)
        //  <br><br> is how much of the web writes a paragraph break
        self->pending = self->pending >= S_LINE ? S_PARA : S_LINE;
    if (tag == GUMBO_TAG_LI && !self->in_cell && !self->heading_level)
        self->bullet = true;
    if (s_is_pre (tag))
        self->pre_depth++;
}

static void
s_leave (s_walk_t *self, GumboNode *node)
{
    GumboTag tag = node->v.element.tag;
    s_role_t role = s_role (tag);
    bool rows = self->table_depth == 1 && !self->heading_level;
    if (tag == GUMBO_TAG_TABLE && self->table_depth > 0) {
        if (--self->table_depth == 0 && !self->in_cell && !self->heading_level) {
            s_row_end (self);           //  a row gumbo left open
            if (self->rows)
                sl_parse_buf_append (self->out, "\n", 1);
            s_owe (self, S_PARA);
        }
    }
    else
    if (rows && role == S_CELL && self->in_cell)
        s_cell_end (self, s_colspan (node));
    else
    if (rows && tag == GUMBO_TAG_TR && !self->in_cell)
        s_row_end (self);
    else
    if (s_heading_level (tag) == self->heading_level && self->heading_level && !self->in_cell) {
        if (!self->have_h1 && self->heading_level == 1 && self->heading.size)
            self->have_h1 = sl_parse_set_title (self->h1, sizeof self->h1, self->heading.data,
                                                self->heading.size, 200);
        sl_markup_heading (s_put, self->out, self->heading_level, self->heading.data, self->heading.size);
        self->heading_level = 0;
        self->pending = S_NONE;
    }
    else
    if (role == S_BLOCK_PARA)
        s_owe (self, S_PARA);
    else
    if (role == S_BLOCK_LINE)
        s_owe (self, S_LINE);
    else
    if (role == S_CELL)
        s_owe (self, S_TAB);
    if (s_is_pre (tag))
        self->pre_depth--;
}

typedef struct {
    GumboNode *node;
    unsigned next;              //  index of the next child to visit
} s_frame_t;

static void
s_walk (s_walk_t *self, GumboNode *root)
{
    size_t cap = 64, depth = 0;
    s_frame_t *stack = malloc (cap * sizeof *stack);
    if (!stack)
        return;
    stack [depth++] = (s_frame_t) { root, 0 };
    while (depth > 0) {
        s_frame_t *top = &stack [depth - 1];
        GumboNode *node = top->node;
        const GumboVector *kids = node->type == GUMBO_NODE_DOCUMENT
                                ? &node->v.document.children : &node->v.element.children;
        if (top->next >= kids->length) {
            if (node->type == GUMBO_NODE_ELEMENT)
                s_leave (self, node);
            depth--;
            continue;
        }
        GumboNode *kid = (GumboNode *) kids->data [top->next++];
        switch (kid->type) {
            case GUMBO_NODE_TEXT:
            case GUMBO_NODE_CDATA:
            case GUMBO_NODE_WHITESPACE:
                s_text (self, kid->v.text.text);
                break;
            case GUMBO_NODE_ELEMENT:
                if (kid->v.element.tag == GUMBO_TAG_TITLE)
                    s_take_title (self, kid);
                if (kid->v.element.tag == GUMBO_TAG_HEAD) {
                    //  the head's only text worth keeping is its <title>
                    const GumboVector *hk = &kid->v.element.children;
                    for (unsigned i = 0; i < hk->length; i++) {
                        GumboNode *h = (GumboNode *) hk->data [i];
                        if (h->type == GUMBO_NODE_ELEMENT && h->v.element.tag == GUMBO_TAG_TITLE)
                            s_take_title (self, h);
                    }
                }
                if (s_role (kid->v.element.tag) == S_SKIP
                ||  kid->v.element.tag_namespace == GUMBO_NAMESPACE_SVG)
                    break;
                s_enter (self, kid);
                if (depth == cap) {
                    s_frame_t *bigger = realloc (stack, 2 * cap * sizeof *stack);
                    if (!bigger) {
                        free (stack);
                        return;
                    }
                    stack = bigger;
                    cap *= 2;
                }
                stack [depth++] = (s_frame_t) { kid, 0 };
                break;
            default:
                //  comments, and GUMBO_NODE_TEMPLATE contents, are not text
                break;
        }
    }
    free (stack);
}

//  --------------------------------------------------------------------------

int
sl_parse_html (const sl_parse_opts_t *opts, const char *path,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    int64_t deadline = sl_mono_ms () + (int64_t) opts->max_seconds * 1000;
    char *raw;
    size_t raw_size;
    if (sl_parse_read_file (path, opts->max_text_bytes, "HTML file", &raw, &raw_size, err, errlen))
        return -1;
    //  gumbo only takes UTF-8: repair the encoding first, as for text
    sl_parse_buf_t html = { 0 };
    int rc = sl_parse_decode_text (raw, raw_size, &html, err, errlen);
    free (raw);
    if (rc) {
        sl_parse_buf_free (&html);
        return -1;
    }
    info->page_count = 1;

    s_arena_t arena = { 0 };
    arena.limit = opts->max_memory;
    arena.deadline = deadline;
    GumboOptions options = kGumboDefaultOptions;
    options.allocator = s_arena_alloc;
    options.deallocator = s_arena_free;
    options.userdata = &arena;
    options.max_errors = 0;     //  we never read parse errors: don't store them
    GumboOutput *output = s_parse_guarded (&arena, &options, html.data, html.size);
    sl_parse_buf_free (&html);
    info->peak_memory = arena.total;
    if (!output) {
        if (arena.failure == S_OVER_TIME)
            sl_parse_errf (err, errlen, "parse time limit of %d s exceeded at page 1",
                           opts->max_seconds);
        else {
            char limit [32];
            sl_parse_size_str (opts->max_memory, limit, sizeof limit);
            sl_parse_errf (err, errlen, "memory limit of %s exceeded on page 1", limit);
        }
        s_arena_destroy (&arena);
        return -1;
    }
    sl_parse_buf_t text = { 0 };
    s_walk_t walk = { .out = &text };
    s_walk (&walk, output->document);
    s_end_para (&walk);
    s_arena_destroy (&arena);   //  frees output: see the header comment
    sl_parse_buf_free (&walk.para);
    sl_parse_buf_free (&walk.heading);
    sl_parse_buf_free (&walk.cells);
    if (!text.data)
        sl_parse_buf_append (&text, "", 0);

    if (!(walk.have_title && sl_parse_set_title (info->title, sizeof info->title,
                                                 walk.title.data, walk.title.size, 500))) {
        if (walk.have_h1)
            snprintf (info->title, sizeof info->title, "%s", walk.h1);
        else
        if (!sl_parse_title_from_text (info, text.data, text.size))
            sl_parse_title_from_path (info, opts, path);
    }
    sl_parse_buf_free (&walk.title);
    if (sl_mono_ms () > deadline) {
        sl_parse_errf (err, errlen, "parse time limit of %d s exceeded at page 1", opts->max_seconds);
        rc = -1;
    }
    else {
        sl_page_t page = { .page_no = 1, .page_count = 1, .text = text.data, .len = text.size,
                           .marked = true };
        if (fn && fn (arg, &page)) {
            sl_parse_errf (err, errlen, "stopped by caller");
            rc = -1;
        }
    }
    sl_parse_buf_free (&text);
    return rc;
}
