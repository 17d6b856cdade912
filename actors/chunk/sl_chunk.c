/*  sl_chunk: streaming recursive splitter. See sl_chunk.h for the contract.

    Design. Normalised text is appended to a window buffer. A scanner turns
    it into "pieces": words (runs of non-space), further split after CJK
    sentence marks and, if a word is bigger than one chunk may hold, into
    parts on character boundaries. Each piece is counted once and remembers
    the strength of the boundary *before* it: 3 paragraph, 2 sentence, 1 word,
    0 inside a word. The scanner never scans the last word of the buffer
    until more text or the end arrives, because the next page may still
    change it (a hyphenated word) or decide the boundary after it.

    Cutting. While the pending pieces hold more than two chunks' worth of
    tokens (so whatever we cut, a decent tail remains), we walk from the
    first pending piece while the tokens still fit the budget (target minus
    the overlap carried in). Among those cut points, the ones that fill at
    least half the target compete: the strongest boundary wins, the latest
    among equals. At the end of the document the last cuts are rebalanced so
    the final chunk keeps at least min_tokens of new text. The chosen chunk
    is counted once for real; if a non-additive tokenizer says it is over
    the target, we step the cut back a piece and count again.

    Holding. A chunk is emitted only when the next one is cut (or at finish),
    so a too-small trailing fragment can still be merged into it.

    Memory. Pieces before the overlap and buffer bytes before the held chunk
    are dropped; both arrays are compacted only when at least half is dead,
    which keeps the work linear in the document.

    Structure. What is described above is the *flow*: one run of body text.
    A heading or a table ends the flow (s_flush: everything pending is cut
    as at the end of a document, the held chunk emitted, the window
    emptied), so no chunk and no overlap crosses it. Section marks (offset,
    path) are kept like page marks, only as far back as the window. A table
    is chunked row by row beside the flow (one piece in memory, the header
    kept to repeat); its rows still enter the window so offsets stay one
    space, but the scanner never reads them.
*/
#include "sl_chunk_internal.h"
#include "sl_log.h"
#include "sl_markup.h"
#include "sl_util.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define S_LEVEL_WORD 1
#define S_LEVEL_SENTENCE 2
#define S_LEVEL_PARAGRAPH 3

typedef struct {
    size_t start, end;          //  absolute offsets in the normalised document
    int tokens;
    int level;                  //  strength of the boundary before this piece
} s_piece_t;

typedef struct {
    int page_no;
    size_t start;               //  offset of the page's first byte
    int ocr;                    //  OCR confidence, -1 none
} s_page_mark_t;

typedef struct {
    size_t start;               //  the section's text starts here
    char *path;                 //  "A › B"
} s_section_mark_t;

typedef struct {
    bool valid;
    size_t start, new_start, end;
    int tokens;
    int context_tokens;
} s_held_t;

//  Longest heading title kept in a path, and the deepest level
#define S_TITLE_MAX 200
#define S_ORPHANS_MAX 4096      //  headings kept while a document has no text
#define S_LEVELS 6
#define S_SEPARATOR " \xE2\x80\xBA "           //  " › "

struct sl_chunker_s {
    sl_chunk_opts_t opts;
    int piece_cap;              //  max tokens of one piece: target - overlap - offset
    int count_offset;           //  what the counter says for "" (BOS/EOS tokens)
    sl_token_count_fn *count;
    void *count_arg;
    sl_chunk_fn *emit;
    void *emit_arg;

    char *buf;                  //  normalised text from offset base on
    size_t base, buf_len, buf_cap;

    s_piece_t *pieces;
    size_t np, pieces_cap;
    size_t next;                //  first piece not yet in any chunk's new text
    size_t ovl;                 //  first piece the next chunk repeats (<= next)
    long long pending_tokens;   //  tokens of pieces [next, np)

    size_t scan_pos;            //  text before this offset is scanned
    bool have_piece;            //  any piece scanned yet
    int prev_end;               //  how the last scanned piece ended: 0, 1 sentence, 2 strong

    s_page_mark_t *pages;
    size_t npages, pages_cap;

    s_held_t held;
    int ordinal;
    bool stopped, finished;

    //  structure
    s_section_mark_t *sections;
    size_t nsections, sections_cap;
    char *stack [S_LEVELS];     //  heading title per level (NULL: none)
    char *title;                //  document title for the context, or NULL
    const char *flow_kind;      //  "text", or "table" while a huge row flows
    bool open;                  //  the window ends in flow text the next block joins
    bool force_para;            //  the next block starts a paragraph (after a heading)
    int page_no;                //  page being added
    int page_ocr;
    bool page_marked;           //  its page mark is set
    sl_chunk_bytes_t embedded;  //  scratch: context + text, to hash

    //  the embedding context in use, for the path it was made for
    char *context_path;
    sl_chunk_bytes_t context;
    int context_tokens;

    //  headings met before any text: a document that is only headings
    //  ("# Summer") is indexed by them rather than found empty
    bool seen_text;
    sl_chunk_bytes_t orphans;

    //  the table being chunked
    bool in_table;
    sl_chunk_bytes_t header;    //  the header row, with its "\n"
    int header_tokens;
    sl_chunk_bytes_t piece;     //  the piece being filled: rows with "\n"
    int piece_tokens, piece_rows;
    size_t piece_start, piece_end;      //  its new rows in the document
    size_t last_row_at;         //  where its last row starts in piece
    size_t last_row_start;      //  ... and in the document
    int last_row_tokens;
    bool first_piece;           //  the piece holds the header as its own row
    int table_rows;             //  rows of the table so far
};

//  How much the chunker holds now: buffered text bytes, pieces and page marks
void
sl_chunker_window (sl_chunker_t *self, size_t *buf_len, size_t *pieces, size_t *pages)
{
    *buf_len = self->buf_len;
    *pieces = self->np;
    *pages = self->npages;
}

//  --------------------------------------------------------------------------
//  Character helpers

int
sl_chunk_bytes_put (sl_chunk_bytes_t *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    if (n)                      //  data may be NULL when there is nothing
        memcpy (b->data + b->len, data, n);
    b->len += n;
    b->data [b->len] = 0;
    return 0;
}

static int
s_bytes_putcp (sl_chunk_bytes_t *b, int32_t cp)
{
    utf8proc_uint8_t enc [4];
    utf8proc_ssize_t n = utf8proc_encode_char (cp, enc);
    return sl_chunk_bytes_put (b, enc, (size_t) n);
}

//  Decode the code point at text [i]; invalid bytes decode as U+FFFD and
//  consume one byte, so any input makes progress and yields valid UTF-8.
static size_t
s_decode (const char *text, size_t len, size_t i, int32_t *cp)
{
    unsigned char c = (unsigned char) text [i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + i,
                                           (utf8proc_ssize_t) (len - i), cp);
    if (n <= 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return (size_t) n;
}

//  Start of the code point that ends at text [end - 1] (valid UTF-8 only);
//  never goes below floor.
static size_t
s_prev_start (const char *text, size_t floor, size_t end)
{
    size_t i = end - 1;
    while (i > floor && ((unsigned char) text [i] & 0xC0) == 0x80 && end - i < 4)
        i--;
    return i;
}

static bool
s_is_letter (int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

static bool
s_is_hyphen (int32_t cp)
{
    return cp == '-' || cp == 0x2010;
}

//  Scripts written without spaces: every character is a word.
static bool
s_is_cjk (int32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF)       //  hiragana, katakana
        || (cp >= 0x31F0 && cp <= 0x31FF)
        || (cp >= 0x3400 && cp <= 0x4DBF)       //  Han extension A
        || (cp >= 0x4E00 && cp <= 0x9FFF)       //  Han
        || (cp >= 0xF900 && cp <= 0xFAFF)
        || (cp >= 0x20000 && cp <= 0x2FA1F);
}

//  Sentence marks that end a sentence whatever follows (no case to check).
static bool
s_is_strong_terminal (int32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF0E
        || cp == 0x0964 || cp == 0x0965;
}

static bool
s_is_terminal (int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == 0x2026 || cp == 0x203D;
}

//  Closing quotes and brackets that may follow a sentence mark: "end.)"
static bool
s_is_closer (int32_t cp)
{
    if (cp == '"' || cp == '\'' || cp == ')' || cp == ']')
        return true;
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat == UTF8PROC_CATEGORY_PE || cat == UTF8PROC_CATEGORY_PF;
}

static bool
s_is_opener (int32_t cp)
{
    if (cp == '"' || cp == '\'' || cp == '(' || cp == '[')
        return true;
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat == UTF8PROC_CATEGORY_PS || cat == UTF8PROC_CATEGORY_PI;
}

static bool
s_is_joiner (int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC
        || cat == UTF8PROC_CATEGORY_ME || cp == 0x200D
        || (cp >= 0xFE00 && cp <= 0xFE0F);
}

//  How the word text [s, e) ends: 0 not a sentence end, 1 ends with . ! ?
//  (a sentence if a capital follows), 2 ends with a strong mark like 。
int
sl_chunk_word_end_kind (const char *text, size_t s, size_t e)
{
    while (e > s) {
        size_t i = s_prev_start (text, s, e);
        int32_t cp;
        s_decode (text, e, i, &cp);
        if (s_is_strong_terminal (cp))
            return 2;
        if (s_is_terminal (cp))
            return 1;
        if (!s_is_closer (cp))
            return 0;
        e = i;
    }
    return 0;
}

//  True if the word text [s, e) can start a sentence: capital, digit, or a
//  letter of a script without case, after any opening quotes.
static bool
s_word_starts_sentence (const char *text, size_t s, size_t e)
{
    while (s < e) {
        int32_t cp;
        size_t n = s_decode (text, e, s, &cp);
        if (s_is_opener (cp)) {
            s += n;
            continue;
        }
        utf8proc_category_t cat = utf8proc_category (cp);
        return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT
            || cat == UTF8PROC_CATEGORY_LO || cat == UTF8PROC_CATEGORY_ND;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Normalisation

//  Pass 1: decode (repairing invalid UTF-8), map every line break to '\n',
//  every space to ' ', drop control and zero-width characters. Soft hyphens
//  survive to pass 2, which needs to know where they were.
static int
s_map_chars (const char *text, size_t len, sl_chunk_bytes_t *out)
{
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        int32_t cp;
        i += s_decode (text, len, i, &cp);
        if (cp == '\r') {
            if (i < len && text [i] == '\n')
                i++;
            rc = sl_chunk_bytes_put (out, "\n", 1);
        }
        else
        if (cp == '\n' || cp == '\v' || cp == 0x85 || cp == 0x2028)
            rc = sl_chunk_bytes_put (out, "\n", 1);
        else
        if (cp == '\f' || cp == 0x2029)         //  form feed, paragraph separator
            rc = sl_chunk_bytes_put (out, "\n\n", 2);
        else
        if (cp == '\t')
            rc = sl_chunk_bytes_put (out, " ", 1);
        else
        if (cp == 0x200B || cp == 0xFEFF || cp == 0x2060)
            ;                                   //  zero-width: drop
        else {
            utf8proc_category_t cat = utf8proc_category (cp);
            if (cat == UTF8PROC_CATEGORY_CC)
                ;                               //  control: drop
            else
            if (cat == UTF8PROC_CATEGORY_ZS)
                rc = sl_chunk_bytes_put (out, " ", 1);
            else
            if (cp < 0x80) {
                char c = (char) cp;
                rc = sl_chunk_bytes_put (out, &c, 1);
            }
            else
                rc = s_bytes_putcp (out, cp);
        }
    }
    return rc;
}

static bool
s_ends_with_shy (sl_chunk_bytes_t *b)
{
    return b->len >= 2 && (unsigned char) b->data [b->len - 2] == 0xC2
        && (unsigned char) b->data [b->len - 1] == 0xAD;
}

//  If b ends with letter + hyphen, return the hyphen's byte length, else 0.
size_t
sl_chunk_ends_with_word_hyphen (const char *data, size_t len)
{
    if (len == 0)
        return 0;
    size_t h = s_prev_start (data, 0, len);
    int32_t cp;
    s_decode (data, len, h, &cp);
    if (!s_is_hyphen (cp) || h == 0)
        return 0;
    size_t l = s_prev_start (data, 0, h);
    s_decode (data, h, l, &cp);
    return s_is_letter (cp) ? len - h : 0;
}

bool
sl_chunk_starts_lowercase (const char *data, size_t len)
{
    if (len == 0)
        return false;
    int32_t cp;
    s_decode (data, len, 0, &cp);
    return utf8proc_category (cp) == UTF8PROC_CATEGORY_LL;
}

//  Drop trailing soft hyphens and spaces (a line of soft hyphens, or a soft
//  hyphen after a space, can leave either at a paragraph end).
static void
s_trim_end (sl_chunk_bytes_t *out)
{
    while (out->len > 0) {
        if (s_ends_with_shy (out))
            out->len -= 2;
        else
        if (out->data [out->len - 1] == ' ' || out->data [out->len - 1] == '\n')
            out->len--;
        else
            break;
    }
    if (out->data)
        out->data [out->len] = 0;
}

//  Append one trimmed line, collapsing spaces and dropping soft hyphens
//  except a final one (it marks a hyphenated line end).
static int
s_put_line (sl_chunk_bytes_t *out, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char) line [i];
        if (c == ' ') {
            //  never a space at a paragraph start (a dropped SHY can lead one)
            if (out->len > 0 && out->data [out->len - 1] != ' ' && out->data [out->len - 1] != '\n')
                if (sl_chunk_bytes_put (out, " ", 1))
                    return -1;
            i++;
        }
        else
        if (c == 0xC2 && i + 1 < len && (unsigned char) line [i + 1] == 0xAD) {
            if (i + 2 == len && sl_chunk_bytes_put (out, line + i, 2))
                return -1;
            i += 2;
        }
        else {
            //  copy a run of ordinary bytes at once
            size_t j = i + 1;
            while (j < len && line [j] != ' ' && (unsigned char) line [j] != 0xC2)
                j++;
            if (sl_chunk_bytes_put (out, line + i, j - i))
                return -1;
            i = j;
        }
    }
    return 0;
}

//  Pass 2: lines into paragraphs.
static int
s_join_lines (const char *t, size_t len, sl_chunk_bytes_t *out)
{
    bool paragraph_break = false;
    size_t ls = 0;
    while (ls <= len) {
        size_t le = ls;
        while (le < len && t [le] != '\n')
            le++;
        size_t s = ls, e = le;
        while (s < e && t [s] == ' ')
            s++;
        while (e > s && t [e - 1] == ' ')
            e--;
        ls = le + 1;
        if (s == e) {
            if (out->len > 0)
                paragraph_break = true;
            continue;
        }
        if (out->len > 0) {
            size_t hyphen;
            if (paragraph_break) {
                s_trim_end (out);
                if (out->len > 0 && sl_chunk_bytes_put (out, "\n\n", 2))
                    return -1;
            }
            else
            if (s_ends_with_shy (out))
                out->len -= 2;                  //  "infor\u00AD" + "mation"
            else
            if ((hyphen = sl_chunk_ends_with_word_hyphen (out->data, out->len))
            &&  sl_chunk_starts_lowercase (t + s, e - s))
                out->len -= hyphen;             //  "infor-" + "mation"
            else
            if (sl_chunk_bytes_put (out, " ", 1))
                return -1;
        }
        paragraph_break = false;
        if (s_put_line (out, t + s, e - s))
            return -1;
    }
    s_trim_end (out);
    return 0;
}

char *
sl_chunk_normalise (const char *text, size_t len, size_t *len_p)
{
    assert (text || len == 0);
    assert (len_p);
    sl_chunk_bytes_t mapped = { 0 }, joined = { 0 };
    char *result = NULL;
    if (s_map_chars (text, len, &mapped) == 0
    &&  s_join_lines (mapped.data ? mapped.data : "", mapped.len, &joined) == 0) {
        //  a leading soft hyphen or space may survive the per-line trim
        size_t skip = 0;
        while (skip < joined.len && joined.data [skip] == ' ')
            skip++;
        bool ascii = true;
        for (size_t i = skip; i < joined.len && ascii; i++)
            ascii = (unsigned char) joined.data [i] < 0x80;
        if (joined.len == skip) {
            result = strdup ("");
            *len_p = 0;
        }
        else
        if (ascii) {
            result = malloc (joined.len - skip + 1);
            if (result) {
                memcpy (result, joined.data + skip, joined.len - skip);
                result [joined.len - skip] = 0;
                *len_p = joined.len - skip;
            }
        }
        else {
            //  NFC, so the same text from different extractors hashes alike
            utf8proc_uint8_t *nfc = NULL;
            utf8proc_ssize_t n = utf8proc_map ((const utf8proc_uint8_t *) joined.data + skip,
                                               (utf8proc_ssize_t) (joined.len - skip), &nfc,
                                               UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (n >= 0) {
                result = (char *) nfc;
                *len_p = (size_t) n;
            }
            else
                free (nfc);
        }
    }
    free (mapped.data);
    free (joined.data);
    return result;
}

//  --------------------------------------------------------------------------
//  Token counting

size_t
sl_chunk_count_words (void *arg, const char *text, size_t len)
{
    size_t words = 0;
    bool in_word = false;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char) text [i];
        if (c < 0x80) {
            bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
            if (!space && !in_word)
                words++;
            in_word = !space;
            i++;
            continue;
        }
        int32_t cp;
        i += s_decode (text, len, i, &cp);
        if (s_is_cjk (cp)) {
            words++;
            in_word = false;
        }
        else
        if (utf8proc_category (cp) == UTF8PROC_CATEGORY_ZS)
            in_word = false;
        else {
            if (!in_word)
                words++;
            in_word = true;
        }
    }
    return words;
}

//  Tokens of [start, end) as the model will see it: this is what must fit
//  the target.
static int
s_count (sl_chunker_t *self, size_t start, size_t end)
{
    assert (start >= self->base && end <= self->base + self->buf_len && start <= end);
    size_t n = self->count (self->count_arg, self->buf + (start - self->base), end - start);
    return n > INT_MAX ? INT_MAX : (int) n;
}

//  Tokens [start, end) adds to a chunk: without the fixed tokens a
//  tokenizer may add to every call (BOS/EOS), which would otherwise be
//  counted once per word when sums are planned.
static int
s_count_content (sl_chunker_t *self, size_t start, size_t end)
{
    int n = s_count (self, start, end) - self->count_offset;
    return n > 0 ? n : 0;
}

//  --------------------------------------------------------------------------
//  Chunker

void
sl_chunk_opts_defaults (sl_chunk_opts_t *opts)
{
    assert (opts);
    opts->target_tokens = 100;
    opts->overlap_tokens = 15;
    opts->min_tokens = 10;
    opts->embed_context = false;
}

sl_chunker_t *
sl_chunker_new (const sl_chunk_opts_t *opts, sl_token_count_fn *count, void *count_arg,
                sl_chunk_fn *emit, void *emit_arg)
{
    assert (emit);
    sl_chunk_opts_t o;
    if (opts)
        o = *opts;
    else
        sl_chunk_opts_defaults (&o);
    if (o.target_tokens < 1 || o.overlap_tokens < 0 || o.overlap_tokens >= o.target_tokens
    ||  o.min_tokens < 0) {
        sl_error (NULL, "chunker: invalid options target=%d overlap=%d min=%d "
                  "(need target >= 1, 0 <= overlap < target, min >= 0)",
                  o.target_tokens, o.overlap_tokens, o.min_tokens);
        return NULL;
    }
    sl_chunker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = o;
    self->count = count ? count : sl_chunk_count_words;
    self->count_arg = count_arg;
    size_t empty = self->count (count_arg, "", 0);
    self->count_offset = empty < (size_t) o.target_tokens ? (int) empty : 0;
    //  a piece must fit a chunk next to a full overlap, the fixed tokens
    //  and the largest embedding context
    self->piece_cap = o.target_tokens - o.overlap_tokens - self->count_offset
                    - (o.embed_context ? o.target_tokens / 4 : 0);
    self->flow_kind = "text";
    if (self->piece_cap < 1)
        self->piece_cap = 1;
    self->emit = emit;
    self->emit_arg = emit_arg;
    return self;
}

void
sl_chunker_destroy (sl_chunker_t **self_p)
{
    assert (self_p);
    sl_chunker_t *self = *self_p;
    if (self) {
        free (self->buf);
        free (self->pieces);
        free (self->pages);
        for (size_t i = 0; i < self->nsections; i++)
            free (self->sections [i].path);
        free (self->sections);
        for (int i = 0; i < S_LEVELS; i++)
            free (self->stack [i]);
        free (self->title);
        free (self->embedded.data);
        free (self->context_path);
        free (self->context.data);
        free (self->header.data);
        free (self->piece.data);
        free (self->orphans.data);
        free (self);
        *self_p = NULL;
    }
}

size_t
sl_chunker_doc_len (sl_chunker_t *self)
{
    assert (self);
    return self->base + self->buf_len;
}

static int
s_append (sl_chunker_t *self, const char *data, size_t n)
{
    if (self->buf_len + n > self->buf_cap) {
        size_t cap = self->buf_cap ? self->buf_cap : 4096;
        while (cap < self->buf_len + n)
            cap *= 2;
        char *grown = realloc (self->buf, cap);
        if (!grown)
            return -1;
        self->buf = grown;
        self->buf_cap = cap;
    }
    memcpy (self->buf + self->buf_len, data, n);
    self->buf_len += n;
    return 0;
}

static int
s_push_piece (sl_chunker_t *self, size_t start, size_t end, int tokens, int level)
{
    if (self->np == self->pieces_cap) {
        size_t cap = self->pieces_cap ? self->pieces_cap * 2 : 256;
        s_piece_t *grown = realloc (self->pieces, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->pieces = grown;
        self->pieces_cap = cap;
    }
    self->pieces [self->np++] = (s_piece_t) { start, end, tokens, level };
    self->pending_tokens += tokens;
    return 0;
}

//  A cut point near the middle of [s, e) that keeps combining marks with
//  their base if it can; returns e if the range is one code point.
static size_t
s_mid_boundary (sl_chunker_t *self, size_t s, size_t e)
{
    const char *b = self->buf;
    size_t rs = s - self->base, re = e - self->base;
    size_t m = rs + (re - rs) / 2;
    while (m > rs && ((unsigned char) b [m] & 0xC0) == 0x80)
        m--;
    if (m == rs) {
        int32_t cp;
        m = rs + s_decode (b, re, rs, &cp);
    }
    size_t cp_boundary = m;
    while (m < re) {
        int32_t cp;
        size_t n = s_decode (b, re, m, &cp);
        if (!s_is_joiner (cp))
            break;
        m += n;
    }
    //  one base character with a pile of marks: split between the marks
    //  rather than break the token limit
    if (m >= re)
        m = cp_boundary;
    return m + self->base;
}

//  Push [s, e) as pieces no bigger than piece_cap tokens and
//  SL_CHUNK_MAX_PIECE_BYTES bytes, splitting in halves on character boundaries.
//  Only the first part keeps the word's boundary level; later parts are
//  inside the word (level 0).
static int
s_push_split (sl_chunker_t *self, size_t s, size_t e, int tokens, int level)
{
    if (tokens <= self->piece_cap && e - s <= SL_CHUNK_MAX_PIECE_BYTES)
        return s_push_piece (self, s, e, tokens, level);
    size_t m = s_mid_boundary (self, s, e);
    if (m >= e)                                 //  one character: can't split
        return s_push_piece (self, s, e, tokens, level);
    int left = s_count_content (self, s, m), right = s_count_content (self, m, e);
    if (s_push_split (self, s, m, left, level))
        return -1;
    return s_push_split (self, m, e, right, 0);
}

//  Turn the word [s, e) into pieces: split after strong sentence marks
//  inside it (CJK has no spaces), then to size.
static int
s_push_word (sl_chunker_t *self, size_t s, size_t e, int level)
{
    //  relative offsets in buf here; pieces get absolute ones
    const char *b = self->buf;
    size_t base = self->base;
    size_t part = s - base, i = s - base, end = e - base;
    while (i < end) {
        int32_t cp;
        i += s_decode (b, end, i, &cp);
        if (s_is_strong_terminal (cp)) {
            while (i < end) {
                size_t n = s_decode (b, end, i, &cp);
                if (!s_is_closer (cp))
                    break;
                i += n;
            }
            if (i < end) {
                if (s_push_split (self, part + base, i + base,
                                  s_count_content (self, part + base, i + base), level))
                    return -1;
                part = i;
                level = S_LEVEL_SENTENCE;
            }
        }
    }
    return s_push_split (self, part + base, e, s_count_content (self, part + base, e), level);
}

//  Scan text after scan_pos into pieces until the pending tokens exceed
//  `want`. Leaves the last word alone unless at_end. Returns the number of
//  words scanned, or -1 if out of memory.
static int
s_scan (sl_chunker_t *self, bool at_end, long long want)
{
    //  relative offsets in buf here; pieces get absolute ones
    const char *b = self->buf;
    size_t end = self->buf_len;
    size_t pos = self->scan_pos - self->base;
    int words = 0;
    while (self->pending_tokens <= want) {
        size_t s = pos;
        bool newline = false;
        while (s < end && (b [s] == ' ' || b [s] == '\n')) {
            newline |= b [s] == '\n';
            s++;
        }
        if (s == end)
            break;
        size_t e = s;
        while (e < end && b [e] != ' ' && b [e] != '\n')
            e++;
        if (e == end && !at_end)
            break;
        int level;
        if (!self->have_piece || newline)
            level = S_LEVEL_PARAGRAPH;
        else
        if (self->prev_end == 2
        || (self->prev_end == 1 && s_word_starts_sentence (b, s, e)))
            level = S_LEVEL_SENTENCE;
        else
            level = S_LEVEL_WORD;
        if (s_push_word (self, s + self->base, e + self->base, level))
            return -1;
        self->have_piece = true;
        self->prev_end = sl_chunk_word_end_kind (b, s, e);
        pos = e;
        words++;
    }
    self->scan_pos = pos + self->base;
    return words;
}

static int
s_page_of (sl_chunker_t *self, size_t offset)
{
    //  last mark at or before offset; marks are few (retained pages only)
    size_t lo = 0, hi = self->npages;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (self->pages [mid].start <= offset)
            lo = mid;
        else
            hi = mid;
    }
    assert (self->npages > 0);
    return self->pages [lo].page_no;
}

//  Lowest OCR confidence over the pages [start, end) touches, -1 if none
//  of them was OCR'd
static int
s_ocr_of (sl_chunker_t *self, size_t start, size_t end)
{
    int low = -1;
    for (size_t i = 0; i < self->npages; i++) {
        size_t next = i + 1 < self->npages ? self->pages [i + 1].start : SIZE_MAX;
        bool touches = (i == 0 || self->pages [i].start < end) && next > start;
        int ocr = self->pages [i].ocr;
        if (touches && ocr >= 0 && (low < 0 || ocr < low))
            low = ocr;
    }
    return low;
}

//  The section path in effect at offset ("" before the first heading)
static const char *
s_section_at (sl_chunker_t *self, size_t offset)
{
    const char *path = "";
    for (size_t i = 0; i < self->nsections && self->sections [i].start <= offset; i++)
        path = self->sections [i].path;
    return path;
}

//  Tokens text adds to a chunk (without the fixed BOS/EOS tokens)
static int
s_count_str (sl_chunker_t *self, const char *text, size_t len)
{
    size_t n = self->count (self->count_arg, text, len);
    long long tokens = (long long) (n > INT_MAX ? INT_MAX : n) - self->count_offset;
    return tokens > 0 ? (int) tokens : 0;
}

//  Try one form of the context; keep it if it fits a quarter of the target.
static int
s_context_try (sl_chunker_t *self, const char *title, const char *path, bool *fits)
{
    self->context.len = 0;
    *fits = false;
    if (!*title && !*path)
        return 0;
    if (sl_chunk_bytes_put (&self->context, title, strlen (title))
    ||  (*title && *path && sl_chunk_bytes_put (&self->context, S_SEPARATOR, strlen (S_SEPARATOR)))
    ||  sl_chunk_bytes_put (&self->context, path, strlen (path)))
        return -1;
    self->context_tokens = s_count_str (self, self->context.data, self->context.len);
    *fits = self->context_tokens <= self->opts.target_tokens / 4;
    return 0;
}

//  Make the embedding context for a section path: the title and the path,
//  else the path, else its last heading, else none (each must fit a
//  quarter of the target). Remembered for the last path asked.
static int
s_context_for (sl_chunker_t *self, const char *path)
{
    if (self->context_path && strcmp (self->context_path, path) == 0)
        return 0;
    free (self->context_path);
    self->context_path = strdup (path);
    if (!self->context_path)
        return -1;
    self->context.len = 0;
    self->context_tokens = 0;
    if (!self->opts.embed_context)
        return 0;
    const char *last = path, *at;
    while ((at = strstr (last, S_SEPARATOR)))
        last = at + strlen (S_SEPARATOR);
    const char *forms [3][2] = {
        { self->title ? self->title : "", path }, { "", path }, { "", last }
    };
    for (int i = 0; i < 3; i++) {
        bool fits;
        if (s_context_try (self, forms [i][0], forms [i][1], &fits))
            return -1;
        if (fits)
            return 0;
    }
    self->context.len = 0;
    self->context_tokens = 0;
    return 0;
}

//  Give chunk (text, offsets, tokens, kind set) its ordinal, pages, OCR
//  confidence, section, context and hash, and hand it over. The context in
//  use must be section's (s_context_for).
static int
s_emit (sl_chunker_t *self, sl_chunk_t *chunk, size_t start, size_t end, const char *section)
{
    chunk->ordinal = self->ordinal++;
    chunk->page_start = s_page_of (self, start);
    chunk->page_end = s_page_of (self, end > start ? end - 1 : start);
    chunk->ocr_confidence = s_ocr_of (self, start, end > start ? end : start + 1);
    chunk->section = section;
    chunk->context = self->context.len ? self->context.data : "";
    if (self->context.len) {
        self->embedded.len = 0;
        if (sl_chunk_bytes_put (&self->embedded, self->context.data, self->context.len)
        ||  sl_chunk_bytes_put (&self->embedded, "\n\n", 2)
        ||  sl_chunk_bytes_put (&self->embedded, chunk->text, chunk->len))
            return -1;
        sl_sha256_hex (self->embedded.data, self->embedded.len, chunk->hash);
    }
    else
        sl_sha256_hex (chunk->text, chunk->len, chunk->hash);
    if (self->emit (self->emit_arg, chunk)) {
        self->stopped = true;
        return -1;
    }
    return 0;
}

static int
s_emit_held (sl_chunker_t *self)
{
    if (!self->held.valid)
        return 0;
    s_held_t *h = &self->held;
    h->valid = false;
    const char *section = s_section_at (self, h->new_start);
    if (s_context_for (self, section))
        return -1;
    sl_chunk_t chunk = {
        .char_start = h->start,
        .char_end = h->end,
        .text = self->buf + (h->start - self->base),
        .len = h->end - h->start,
        .overlap_len = h->new_start - h->start,
        .tokens = h->tokens,
        .kind = self->flow_kind,
    };
    return s_emit (self, &chunk, h->start, h->end, section);
}

//  Choose where the chunk starting at `next` ends, among pieces [next, last]
//  (all of which fit). cum [k] is the new-content tokens through piece
//  next + k; total = overlap + cum. `limit` (>= 0) excludes cuts that would
//  leave fewer than min_tokens behind, when any cut satisfies it.
static size_t
s_choose_cut (sl_chunker_t *self, size_t last, int overlap, long long min_rest)
{
    long long half = self->opts.target_tokens / 2;
    long long cum = overlap;
    size_t best = SIZE_MAX, fallback = SIZE_MAX;
    int best_level = -1;
    for (size_t j = self->next; j <= last; j++) {
        cum += self->pieces [j].tokens;
        long long rest = self->pending_tokens - (cum - overlap);
        if (min_rest >= 0 && (rest < min_rest || rest > self->piece_cap))
            continue;
        fallback = j;
        //  boundary after j is the level of the piece that follows
        int level = j + 1 < self->np ? self->pieces [j + 1].level : S_LEVEL_PARAGRAPH;
        if (cum >= half && level >= best_level) {
            best = j;
            best_level = level;
        }
    }
    if (best != SIZE_MAX)
        return best;
    return fallback;                            //  SIZE_MAX if nothing qualified
}

//  Pick the overlap for the chunk after one that spans pieces [first, last]:
//  the longest suffix of whole words within overlap_tokens, starting at a
//  sentence if that still gives at least half the overlap.
static size_t
s_choose_overlap (sl_chunker_t *self, size_t first, size_t last)
{
    int limit = self->opts.overlap_tokens;
    size_t by_word = last + 1, by_sentence = last + 1;
    int sentence_tokens = 0;
    long long suffix = 0;
    for (size_t k = last; k > first; k--) {
        suffix += self->pieces [k].tokens;
        if (suffix > limit)
            break;
        if (self->pieces [k].level >= S_LEVEL_WORD)
            by_word = k;
        if (self->pieces [k].level >= S_LEVEL_SENTENCE) {
            by_sentence = k;
            sentence_tokens = (int) suffix;
        }
    }
    size_t k = by_sentence <= last && sentence_tokens * 2 >= limit ? by_sentence : by_word;
    //  the sum may undercount for a non-additive counter: check it once, and
    //  drop leading words until it holds
    while (k <= last
    &&  s_count_content (self, self->pieces [k].start, self->pieces [last].end) > limit) {
        k++;
        while (k <= last && self->pieces [k].level < S_LEVEL_WORD)
            k++;
    }
    return k;
}

//  Cut chunks from the pending pieces. Streaming, we cut only while more than
//  two targets of tokens are pending; once the whole document is scanned we
//  cut everything.
static int
s_run (sl_chunker_t *self, bool at_end)
{
    int target = self->opts.target_tokens;
    //  final: every word of the document is scanned, the pending pieces are
    //  all that is left
    bool final = at_end && self->scan_pos == self->base + self->buf_len;
    while (self->next < self->np && !self->stopped) {
        if (!final && self->pending_tokens <= 2LL * target)
            break;
        int overlap = 0;
        for (size_t k = self->ovl; k < self->next; k++)
            overlap += self->pieces [k].tokens;
        //  the embedding context of the section this chunk starts in
        if (s_context_for (self, s_section_at (self, self->pieces [self->next].start)))
            return -1;
        int context_tokens = self->context_tokens;
        long long budget = target - self->count_offset - overlap - context_tokens;
        //  walk while pieces fit (the first always goes in, whatever its size)
        long long cum = 0;
        size_t j = self->next;
        while (j < self->np && (cum + self->pieces [j].tokens <= budget || j == self->next))
            cum += self->pieces [j++].tokens;
        size_t last = j - 1;
        size_t cut;
        if (j == self->np) {
            assert (final);
            //  all the rest fits: a small fragment goes into the held chunk
            //  if the held chunk still has room
            if (cum < self->opts.min_tokens && self->held.valid) {
                size_t end = self->pieces [last].end;
                int tokens = s_count (self, self->held.start, end) + self->held.context_tokens;
                if (tokens <= target) {
                    self->held.end = end;
                    self->held.tokens = tokens;
                    self->pending_tokens = 0;
                    self->next = self->ovl = self->np;
                    break;
                }
            }
            cut = last;
        }
        else {
            cut = SIZE_MAX;
            if (final)                          //  leave the last chunk >= min_tokens
                cut = s_choose_cut (self, last, overlap, self->opts.min_tokens);
            if (cut == SIZE_MAX)
                cut = s_choose_cut (self, last, overlap, -1);
            assert (cut != SIZE_MAX);
        }
        //  count the real chunk once; step back if the counter is not additive
        size_t first = self->ovl;
        size_t start, end;
        int tokens;
        while (true) {
            start = self->pieces [first].start;
            end = self->pieces [cut].end;
            tokens = s_count (self, start, end) + context_tokens;
            if (tokens <= target)
                break;
            if (cut > self->next)
                cut--;
            else
            if (first < self->next)
                first = self->next;             //  drop the overlap
            else
                break;                          //  one unsplittable piece
        }
        if (s_emit_held (self))
            return -1;
        self->held = (s_held_t) {
            .valid = true, .start = start, .end = end, .tokens = tokens,
            .new_start = self->pieces [self->next].start, .context_tokens = context_tokens
        };
        for (size_t k = self->next; k <= cut; k++)
            self->pending_tokens -= self->pieces [k].tokens;
        self->ovl = s_choose_overlap (self, first, cut);
        self->next = cut + 1;
    }
    return self->stopped ? -1 : 0;
}

//  Keep the last page and section marks at or before the oldest byte still
//  held, and those after it.
static void
s_compact_marks (sl_chunker_t *self)
{
    size_t first = 0;
    while (first + 1 < self->npages && self->pages [first + 1].start <= self->base)
        first++;
    if (first > 0) {
        memmove (self->pages, self->pages + first, (self->npages - first) * sizeof *self->pages);
        self->npages -= first;
    }
    first = 0;
    while (first + 1 < self->nsections && self->sections [first + 1].start <= self->base)
        free (self->sections [first++].path);
    if (first > 0) {
        memmove (self->sections, self->sections + first,
                 (self->nsections - first) * sizeof *self->sections);
        self->nsections -= first;
    }
}

//  Drop text and pieces no future chunk can need.
static void
s_compact (sl_chunker_t *self)
{
    size_t keep = self->scan_pos;
    if (self->ovl < self->np && self->pieces [self->ovl].start < keep)
        keep = self->pieces [self->ovl].start;
    if (self->held.valid && self->held.start < keep)
        keep = self->held.start;

    if (self->ovl > 0 && self->ovl * 2 >= self->np) {
        memmove (self->pieces, self->pieces + self->ovl,
                 (self->np - self->ovl) * sizeof *self->pieces);
        self->np -= self->ovl;
        self->next -= self->ovl;
        self->ovl = 0;
    }
    size_t drop = keep - self->base;
    if (drop > 0 && drop * 2 >= self->buf_len) {
        memmove (self->buf, self->buf + drop, self->buf_len - drop);
        self->buf_len -= drop;
        self->base = keep;
    }
    s_compact_marks (self);
}

//  Scan, cut and compact until neither scanning nor cutting makes progress.
static int
s_process (sl_chunker_t *self, bool at_end)
{
    while (true) {
        int words = s_scan (self, at_end, 3LL * self->opts.target_tokens);
        if (words < 0)
            return -1;
        size_t before = self->next;
        if (s_run (self, at_end))
            return -1;
        s_compact (self);
        if (words == 0 && self->next == before)
            return 0;
    }
}

//  --------------------------------------------------------------------------
//  Structure: flow, sections, tables

//  End the flow: cut everything pending as at the end of a document, emit
//  the held chunk and empty the window. Nothing is carried over.
static int
s_flush (sl_chunker_t *self)
{
    if (s_process (self, true) || s_emit_held (self))
        return -1;
    self->np = self->next = self->ovl = 0;
    self->pending_tokens = 0;
    self->have_piece = false;
    self->prev_end = 0;
    self->base += self->buf_len;
    self->buf_len = 0;
    self->scan_pos = self->base;
    self->open = false;
    s_compact_marks (self);
    return 0;
}

//  The current page's mark, set when its first text reaches the window
static int
s_mark_page (sl_chunker_t *self)
{
    if (self->page_marked)
        return 0;
    if (self->npages == self->pages_cap) {
        size_t cap = self->pages_cap ? self->pages_cap * 2 : 16;
        s_page_mark_t *grown = realloc (self->pages, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->pages = grown;
        self->pages_cap = cap;
    }
    self->pages [self->npages++] = (s_page_mark_t) {
        self->page_no, self->base + self->buf_len, self->page_ocr
    };
    self->page_marked = true;
    return 0;
}

//  Append normalised flow text (not empty) of the current page, joined to
//  the text before it as pages are: a hyphenated word completed, a
//  paragraph after a sentence end or a heading, else a space.
static int
s_add_text (sl_chunker_t *self, const char *norm, size_t norm_len)
{
    int rc = 0;
    if (self->open && self->buf_len > 0) {
        //  the buffer always ends with the unscanned last word of the
        //  previous text, so we may still rewrite it
        size_t hyphen = sl_chunk_ends_with_word_hyphen (self->buf, self->buf_len);
        if (self->force_para)
            rc = s_append (self, "\n\n", 2);
        else
        if (hyphen && sl_chunk_starts_lowercase (norm, norm_len))
            self->buf_len -= hyphen;
        else {
            size_t s = self->buf_len;
            while (s > 0 && self->buf [s - 1] != ' ' && self->buf [s - 1] != '\n')
                s--;
            bool sentence = sl_chunk_word_end_kind (self->buf, s, self->buf_len) > 0;
            rc = sentence ? s_append (self, "\n\n", 2) : s_append (self, " ", 1);
        }
    }
    self->force_para = false;
    self->seen_text = true;
    if (rc == 0)
        rc = s_mark_page (self);
    if (rc == 0)
        rc = s_append (self, norm, norm_len);
    self->open = true;
    if (rc == 0)
        rc = s_process (self, false);
    return rc;
}

//  Normalise raw text and add it to the flow
static int
s_add_raw (sl_chunker_t *self, const char *text, size_t len)
{
    size_t norm_len;
    char *norm = sl_chunk_normalise (text, len, &norm_len);
    if (!norm)
        return -1;
    int rc = norm_len ? s_add_text (self, norm, norm_len) : 0;
    free (norm);
    return rc;
}

//  A heading title or document title on one line: normalised, newlines
//  to spaces, at most S_TITLE_MAX bytes (cut on a character boundary).
//  NULL if out of memory.
static char *
s_clean_title (const char *text, size_t len)
{
    size_t n;
    char *clean = sl_chunk_normalise (text, len, &n);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = clean [i] == '\n' ? ' ' : clean [i];
        if (c == ' ' && (o == 0 || clean [o - 1] == ' '))
            continue;
        clean [o++] = c;
    }
    while (o > 0 && clean [o - 1] == ' ')
        o--;
    if (o > S_TITLE_MAX) {
        o = S_TITLE_MAX;
        while (o > 0 && ((unsigned char) clean [o] & 0xC0) == 0x80)
            o--;
    }
    clean [o] = 0;
    return clean;
}

//  A new section path starts at the end of the window
static int
s_section_mark (sl_chunker_t *self)
{
    sl_chunk_bytes_t path = { 0 };
    for (int i = 0; i < S_LEVELS; i++) {
        if (!self->stack [i])
            continue;
        if ((path.len && sl_chunk_bytes_put (&path, S_SEPARATOR, strlen (S_SEPARATOR)))
        ||  sl_chunk_bytes_put (&path, self->stack [i], strlen (self->stack [i]))) {
            free (path.data);
            return -1;
        }
    }
    char *text = path.data ? path.data : strdup ("");
    if (!text)
        return -1;
    size_t at = self->base + self->buf_len;
    if (self->nsections && self->sections [self->nsections - 1].start == at) {
        //  two headings with no text between: the later one names the text
        free (self->sections [self->nsections - 1].path);
        self->sections [self->nsections - 1].path = text;
        return 0;
    }
    if (self->nsections == self->sections_cap) {
        size_t cap = self->sections_cap ? self->sections_cap * 2 : 8;
        s_section_mark_t *grown = realloc (self->sections, cap * sizeof *grown);
        if (!grown) {
            free (text);
            return -1;
        }
        self->sections = grown;
        self->sections_cap = cap;
    }
    self->sections [self->nsections++] = (s_section_mark_t) { at, text };
    return 0;
}

//  A heading of level 1..6 (clamped). The text so far is cut before it
//  unless it is below min_tokens with no chunk before it to merge into.
static int
s_heading (sl_chunker_t *self, int level, const char *title, size_t len)
{
    level = level < 1 ? 1 : level > S_LEVELS ? S_LEVELS : level;
    char *clean = s_clean_title (title, len);
    if (!clean)
        return -1;
    if (!*clean) {
        free (clean);
        return 0;
    }
    if (!self->seen_text && self->orphans.len < S_ORPHANS_MAX
    &&  (sl_chunk_bytes_put (&self->orphans, clean, strlen (clean))
    ||   sl_chunk_bytes_put (&self->orphans, "\n\n", 2))) {
        free (clean);
        return -1;
    }
    if (self->open && (self->held.valid || self->pending_tokens >= self->opts.min_tokens)
    &&  s_flush (self)) {
        free (clean);
        return -1;
    }
    for (int i = level - 1; i < S_LEVELS; i++) {
        free (self->stack [i]);
        self->stack [i] = NULL;
    }
    self->stack [level - 1] = clean;
    self->force_para = true;
    return s_section_mark (self);
}

//  Emit the table piece being filled, if it has rows of its own
static int
s_table_emit (sl_chunker_t *self)
{
    if (self->piece_rows == 0)
        return 0;
    size_t len = self->piece.len;
    while (len > 0 && self->piece.data [len - 1] == '\n')
        len--;
    const char *section = s_section_at (self, self->piece_start);
    if (s_context_for (self, section))
        return -1;
    size_t n = self->count (self->count_arg, self->piece.data, len);
    sl_chunk_t chunk = {
        .char_start = self->piece_start,
        .char_end = self->piece_end,
        .text = self->piece.data,
        .len = len,
        .overlap_len = self->first_piece ? 0 : self->header.len,
        .tokens = (int) (n > INT_MAX ? INT_MAX : n) + self->context_tokens,
        .kind = "table",
    };
    if (s_emit (self, &chunk, chunk.char_start, chunk.char_end, section))
        return -1;
    //  the next piece starts with the header again
    self->piece_rows = 0;
    self->first_piece = false;
    self->piece.len = 0;
    self->piece_tokens = self->header_tokens;
    return sl_chunk_bytes_put (&self->piece, self->header.data, self->header.len);
}

//  Last resort for a row over the budget even alone with its header: each
//  cell becomes a paragraph "| cell |" of the flow (kind "table"), which
//  cuts between cells, and inside a cell between words.
static int
s_table_huge_row (sl_chunker_t *self, const char *row, size_t len)
{
    sl_chunk_bytes_t cells = { 0 };
    size_t pos = 0;
    const char *cell;
    size_t cell_len;
    int rc = 0;
    while (rc == 0 && sl_markup_cell_next (row, len, &pos, &cell, &cell_len))
        if (sl_chunk_bytes_put (&cells, "| ", 2) || sl_chunk_bytes_put (&cells, cell, cell_len)
        ||  sl_chunk_bytes_put (&cells, " |\n\n", 4))
            rc = -1;
    self->flow_kind = "table";
    if (rc == 0 && cells.len)
        rc = s_add_raw (self, cells.data, cells.len);
    if (rc == 0)
        rc = s_flush (self);
    self->flow_kind = "text";
    free (cells.data);
    return rc;
}

//  One row line of a table (a run of rows; the first is the header).
static int
s_table_row (sl_chunker_t *self, const char *raw, size_t raw_len)
{
    size_t len;
    char *row = sl_chunk_normalise (raw, raw_len, &len);
    if (!row)
        return -1;
    int rc = 0;
    if (len == 0)
        goto done;
    self->seen_text = true;
    if (!self->in_table) {
        //  a table ends the flow before it and opens a piece with its header
        if (self->open && (rc = s_flush (self)))
            goto done;
        self->in_table = true;
        self->first_piece = true;
        self->header.len = self->piece.len = 0;
        self->header_tokens = self->piece_tokens = self->piece_rows = self->table_rows = 0;
        if (s_context_for (self, s_section_at (self, self->base))) {
            rc = -1;
            goto done;
        }
    }
    int tokens = s_count_str (self, row, len);
    int budget = self->opts.target_tokens - self->count_offset - self->context_tokens;
    //  the header is repeated on every piece unless it would take more
    //  than half of one: then rows need the room more
    if (self->table_rows++ == 0 && tokens <= budget / 2) {
        if (sl_chunk_bytes_put (&self->header, row, len) || sl_chunk_bytes_put (&self->header, "\n", 1)) {
            rc = -1;
            goto done;
        }
        self->header_tokens = tokens;
    }
    if (self->piece_tokens + tokens > budget) {
        if ((rc = s_table_emit (self)))
            goto done;
        if (self->header_tokens + tokens > budget) {
            rc = s_table_huge_row (self, row, len);
            goto done;
        }
    }
    if ((rc = s_mark_page (self)))
        goto done;
    if (self->piece_rows == 0)
        self->piece_start = self->base;
    if (sl_chunk_bytes_put (&self->piece, row, len) || sl_chunk_bytes_put (&self->piece, "\n", 1)) {
        rc = -1;
        goto done;
    }
    self->piece_tokens += tokens;
    self->piece_rows++;
    self->piece_end = self->base + len;
    //  the rows are in the document text (offsets) but never in the window
    self->base += len + 1;
    self->scan_pos = self->base;
    s_compact_marks (self);
done:
    free (row);
    return rc;
}

static int
s_table_end (sl_chunker_t *self)
{
    if (!self->in_table)
        return 0;
    self->in_table = false;
    return s_table_emit (self);
}

//  Normalise and add the text lines gathered in block, then empty it
static int
s_block_end (sl_chunker_t *self, sl_chunk_bytes_t *block)
{
    int rc = block->len ? s_add_raw (self, block->data, block->len) : 0;
    block->len = 0;
    return rc;
}

//  A page in sl_markup's grammar: headings, table rows, text
static int
s_add_marked (sl_chunker_t *self, const char *text, size_t len)
{
    sl_chunk_bytes_t block = { 0 };
    size_t ls = 0;
    int rc = 0;
    while (rc == 0 && ls < len) {
        const char *nl = memchr (text + ls, '\n', len - ls);
        size_t le = nl ? (size_t) (nl - text) : len;
        int level = 0;
        const char *content;
        size_t content_len;
        sl_line_kind_t kind = sl_markup_line (text + ls, le - ls, &level, &content, &content_len);
        if (kind == SL_LINE_ROW) {
            rc = s_block_end (self, &block);
            if (rc == 0)
                rc = s_table_row (self, content, content_len);
        }
        else
        if (kind != SL_LINE_RULE) {
            rc = s_table_end (self);
            if (kind == SL_LINE_HEADING) {
                if (rc == 0)
                    rc = s_block_end (self, &block);
                if (rc == 0)
                    rc = s_heading (self, level, content, content_len);
            }
            else
            if (rc == 0 && kind == SL_LINE_TEXT)
                rc = sl_chunk_bytes_put (&block, content, content_len);
            if (rc == 0)
                rc = sl_chunk_bytes_put (&block, "\n", 1);
        }
        ls = le + 1;
    }
    if (rc == 0)
        rc = s_block_end (self, &block);
    if (rc == 0)
        rc = s_table_end (self);
    free (block.data);
    return rc;
}

int
sl_chunker_add (sl_chunker_t *self, const sl_chunk_page_t *page)
{
    assert (self);
    assert (page);
    if (self->stopped || self->finished)
        return -1;
    if (page->page_no < 1) {
        sl_error (NULL, "chunker: page number %d is not 1-based", page->page_no);
        return -1;
    }
    self->page_no = page->page_no;
    self->page_ocr = page->ocr_confidence;
    self->page_marked = false;
    int rc = 0;
    for (int i = 0; rc == 0 && i < page->heading_count; i++) {
        const char *title = page->headings [i].title ? page->headings [i].title : "";
        rc = s_heading (self, page->headings [i].level, title, strlen (title));
    }
    const char *text = page->text ? page->text : "";
    size_t len = page->text ? page->len : 0;
    if (rc == 0)
        rc = page->marked ? s_add_marked (self, text, len) : s_add_raw (self, text, len);
    return rc;
}

int
sl_chunker_add_page (sl_chunker_t *self, int page_no, const char *text, size_t len)
{
    sl_chunk_page_t page = { .page_no = page_no, .text = text, .len = len, .ocr_confidence = -1 };
    return sl_chunker_add (self, &page);
}

void
sl_chunker_set_title (sl_chunker_t *self, const char *title)
{
    assert (self);
    free (self->title);
    self->title = title && *title ? s_clean_title (title, strlen (title)) : NULL;
    //  the context in use may have been made without it
    free (self->context_path);
    self->context_path = NULL;
}

int
sl_chunker_finish (sl_chunker_t *self)
{
    assert (self);
    if (self->stopped || self->finished)
        return -1;
    self->finished = true;
    if (s_table_end (self))
        return -1;
    //  only headings: they are the text
    if (!self->seen_text && self->orphans.len && s_add_raw (self, self->orphans.data, self->orphans.len))
        return -1;
    if (s_process (self, true))
        return -1;
    return s_emit_held (self);
}
