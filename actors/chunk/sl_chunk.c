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
*/
#include "sl_chunk.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

//  No piece is larger than this many bytes, whatever the counter says: a
//  counter that calls a 1 MB base64 blob "one word" must not produce a 1 MB
//  chunk.
#define S_MAX_PIECE_BYTES 256

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
} s_page_mark_t;

typedef struct {
    bool valid;
    size_t start, new_start, end;
    int tokens;
} s_held_t;

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
};

//  --------------------------------------------------------------------------
//  Character helpers

//  Growable byte buffer used by the normaliser.
typedef struct {
    char *data;
    size_t len, cap;
} s_bytes_t;

static int
s_bytes_put (s_bytes_t *b, const void *data, size_t n)
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
    memcpy (b->data + b->len, data, n);
    b->len += n;
    b->data [b->len] = 0;
    return 0;
}

static int
s_bytes_putcp (s_bytes_t *b, int32_t cp)
{
    utf8proc_uint8_t enc [4];
    utf8proc_ssize_t n = utf8proc_encode_char (cp, enc);
    return s_bytes_put (b, enc, (size_t) n);
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
static int
s_word_end_kind (const char *text, size_t s, size_t e)
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
s_map_chars (const char *text, size_t len, s_bytes_t *out)
{
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        int32_t cp;
        i += s_decode (text, len, i, &cp);
        if (cp == '\r') {
            if (i < len && text [i] == '\n')
                i++;
            rc = s_bytes_put (out, "\n", 1);
        }
        else
        if (cp == '\n' || cp == '\v' || cp == 0x85 || cp == 0x2028)
            rc = s_bytes_put (out, "\n", 1);
        else
        if (cp == '\f' || cp == 0x2029)         //  form feed, paragraph separator
            rc = s_bytes_put (out, "\n\n", 2);
        else
        if (cp == '\t')
            rc = s_bytes_put (out, " ", 1);
        else
        if (cp == 0x200B || cp == 0xFEFF || cp == 0x2060)
            ;                                   //  zero-width: drop
        else {
            utf8proc_category_t cat = utf8proc_category (cp);
            if (cat == UTF8PROC_CATEGORY_CC)
                ;                               //  control: drop
            else
            if (cat == UTF8PROC_CATEGORY_ZS)
                rc = s_bytes_put (out, " ", 1);
            else
            if (cp < 0x80) {
                char c = (char) cp;
                rc = s_bytes_put (out, &c, 1);
            }
            else
                rc = s_bytes_putcp (out, cp);
        }
    }
    return rc;
}

static bool
s_ends_with_shy (s_bytes_t *b)
{
    return b->len >= 2 && (unsigned char) b->data [b->len - 2] == 0xC2
        && (unsigned char) b->data [b->len - 1] == 0xAD;
}

//  If b ends with letter + hyphen, return the hyphen's byte length, else 0.
static size_t
s_ends_with_word_hyphen (const char *data, size_t len)
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

static bool
s_starts_lowercase (const char *data, size_t len)
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
s_trim_end (s_bytes_t *out)
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
s_put_line (s_bytes_t *out, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char) line [i];
        if (c == ' ') {
            //  never a space at a paragraph start (a dropped SHY can lead one)
            if (out->len > 0 && out->data [out->len - 1] != ' ' && out->data [out->len - 1] != '\n')
                if (s_bytes_put (out, " ", 1))
                    return -1;
            i++;
        }
        else
        if (c == 0xC2 && i + 1 < len && (unsigned char) line [i + 1] == 0xAD) {
            if (i + 2 == len && s_bytes_put (out, line + i, 2))
                return -1;
            i += 2;
        }
        else {
            //  copy a run of ordinary bytes at once
            size_t j = i + 1;
            while (j < len && line [j] != ' ' && (unsigned char) line [j] != 0xC2)
                j++;
            if (s_bytes_put (out, line + i, j - i))
                return -1;
            i = j;
        }
    }
    return 0;
}

//  Pass 2: lines into paragraphs.
static int
s_join_lines (const char *t, size_t len, s_bytes_t *out)
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
                if (out->len > 0 && s_bytes_put (out, "\n\n", 2))
                    return -1;
            }
            else
            if (s_ends_with_shy (out))
                out->len -= 2;                  //  "infor\u00AD" + "mation"
            else
            if ((hyphen = s_ends_with_word_hyphen (out->data, out->len))
            &&  s_starts_lowercase (t + s, e - s))
                out->len -= hyphen;             //  "infor-" + "mation"
            else
            if (s_bytes_put (out, " ", 1))
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
    s_bytes_t mapped = { 0 }, joined = { 0 };
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
    //  a piece must fit a chunk next to a full overlap and the fixed tokens
    self->piece_cap = o.target_tokens - o.overlap_tokens - self->count_offset;
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
//  S_MAX_PIECE_BYTES bytes, splitting in halves on character boundaries.
//  Only the first part keeps the word's boundary level; later parts are
//  inside the word (level 0).
static int
s_push_split (sl_chunker_t *self, size_t s, size_t e, int tokens, int level)
{
    if (tokens <= self->piece_cap && e - s <= S_MAX_PIECE_BYTES)
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
        self->prev_end = s_word_end_kind (b, s, e);
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

static int
s_emit_held (sl_chunker_t *self)
{
    if (!self->held.valid)
        return 0;
    s_held_t *h = &self->held;
    sl_chunk_t chunk = {
        .ordinal = self->ordinal++,
        .page_start = s_page_of (self, h->start),
        .page_end = s_page_of (self, h->end - 1),
        .char_start = h->start,
        .char_end = h->end,
        .text = self->buf + (h->start - self->base),
        .len = h->end - h->start,
        .overlap_len = h->new_start - h->start,
        .tokens = h->tokens,
    };
    sl_sha256_hex (chunk.text, chunk.len, chunk.hash);
    h->valid = false;
    if (self->emit (self->emit_arg, &chunk)) {
        self->stopped = true;
        return -1;
    }
    return 0;
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
        long long budget = target - self->count_offset - overlap;
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
                int tokens = s_count (self, self->held.start, end);
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
            tokens = s_count (self, start, end);
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
            .new_start = self->pieces [self->next].start
        };
        for (size_t k = self->next; k <= cut; k++)
            self->pending_tokens -= self->pieces [k].tokens;
        self->ovl = s_choose_overlap (self, first, cut);
        self->next = cut + 1;
    }
    return self->stopped ? -1 : 0;
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
    //  keep the last page mark at or before the oldest byte still held
    size_t first = 0;
    while (first + 1 < self->npages && self->pages [first + 1].start <= self->base)
        first++;
    if (first > 0) {
        memmove (self->pages, self->pages + first, (self->npages - first) * sizeof *self->pages);
        self->npages -= first;
    }
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

int
sl_chunker_add_page (sl_chunker_t *self, int page_no, const char *text, size_t len)
{
    assert (self);
    if (self->stopped || self->finished)
        return -1;
    if (page_no < 1) {
        sl_error (NULL, "chunker: page number %d is not 1-based", page_no);
        return -1;
    }
    size_t norm_len;
    char *norm = sl_chunk_normalise (text ? text : "", text ? len : 0, &norm_len);
    if (!norm)
        return -1;
    if (norm_len == 0) {
        free (norm);
        return 0;
    }
    int rc = 0;
    if (self->buf_len > 0) {
        //  the buffer always ends with the unscanned last word of the
        //  previous page, so we may still rewrite it
        size_t hyphen = s_ends_with_word_hyphen (self->buf, self->buf_len);
        if (hyphen && s_starts_lowercase (norm, norm_len))
            self->buf_len -= hyphen;
        else {
            size_t s = self->buf_len;
            while (s > 0 && self->buf [s - 1] != ' ' && self->buf [s - 1] != '\n')
                s--;
            bool sentence = s_word_end_kind (self->buf, s, self->buf_len) > 0;
            rc = sentence ? s_append (self, "\n\n", 2) : s_append (self, " ", 1);
        }
    }
    if (rc == 0 && self->npages == self->pages_cap) {
        size_t cap = self->pages_cap ? self->pages_cap * 2 : 16;
        s_page_mark_t *grown = realloc (self->pages, cap * sizeof *grown);
        if (grown) {
            self->pages = grown;
            self->pages_cap = cap;
        }
        else
            rc = -1;
    }
    if (rc == 0) {
        self->pages [self->npages++] = (s_page_mark_t) { page_no, self->base + self->buf_len };
        rc = s_append (self, norm, norm_len);
    }
    free (norm);
    if (rc == 0)
        rc = s_process (self, false);
    return rc;
}

int
sl_chunker_finish (sl_chunker_t *self)
{
    assert (self);
    if (self->stopped || self->finished)
        return -1;
    self->finished = true;
    if (s_process (self, true))
        return -1;
    return s_emit_held (self);
}

//  --------------------------------------------------------------------------
//  Self-test

#include <math.h>
#include <sys/stat.h>

//  What the test keeps of each chunk
typedef struct {
    sl_chunk_t c;
    char *text;
} s_kept_t;

typedef struct {
    s_kept_t *items;
    int n, cap;
    int stop_after;             //  > 0: ask the chunker to stop after this many
} s_collector_t;

static int
s_collect (void *arg, const sl_chunk_t *chunk)
{
    s_collector_t *col = arg;
    if (col->n == col->cap) {
        col->cap = col->cap ? col->cap * 2 : 64;
        col->items = realloc (col->items, (size_t) col->cap * sizeof *col->items);
        assert (col->items);
    }
    s_kept_t *k = &col->items [col->n++];
    k->c = *chunk;
    k->text = malloc (chunk->len + 1);
    assert (k->text);
    memcpy (k->text, chunk->text, chunk->len);
    k->text [chunk->len] = 0;
    k->c.text = k->text;
    return col->stop_after > 0 && col->n >= col->stop_after;
}

static void
s_collector_reset (s_collector_t *col)
{
    for (int i = 0; i < col->n; i++)
        free (col->items [i].text);
    free (col->items);
    memset (col, 0, sizeof *col);
}

//  A counter that behaves like a subword tokenizer: about one token per 4
//  bytes, and not additive (ceil of the whole differs from the sum of ceils).
static size_t
s_count_bytes4 (void *arg, const char *text, size_t len)
{
    if (arg)
        (*(long *) arg)++;
    return (len + 3) / 4;
}

//  A tokenizer that adds BOS and EOS to every call.
static size_t
s_count_words_bos_eos (void *arg, const char *text, size_t len)
{
    return sl_chunk_count_words (NULL, text, len) + 2;
}

static size_t
s_count_calls_words (void *arg, const char *text, size_t len)
{
    (*(long *) arg) += (long) len;
    return sl_chunk_count_words (NULL, text, len);
}

//  The expected normalised document: pages normalised and joined by the rule
//  in sl_chunk.h. Also records each page's start offset.
typedef struct {
    char *text;
    size_t len;
    int page_no [512];
    size_t page_start [512];
    int npages;
} s_doc_t;

static void
s_doc_build (s_doc_t *doc, const char **pages, const size_t *lens, int n)
{
    s_bytes_t b = { 0 };
    doc->npages = 0;
    for (int i = 0; i < n; i++) {
        size_t nl;
        char *norm = sl_chunk_normalise (pages [i], lens [i], &nl);
        assert (norm);
        if (nl > 0) {
            if (b.len > 0) {
                size_t hy = s_ends_with_word_hyphen (b.data, b.len);
                if (hy && s_starts_lowercase (norm, nl))
                    b.len -= hy;
                else {
                    size_t s = b.len;
                    while (s > 0 && b.data [s - 1] != ' ' && b.data [s - 1] != '\n')
                        s--;
                    if (s_word_end_kind (b.data, s, b.len))
                        s_bytes_put (&b, "\n\n", 2);
                    else
                        s_bytes_put (&b, " ", 1);
                }
            }
            assert (doc->npages < 512);
            doc->page_no [doc->npages] = i + 1;
            doc->page_start [doc->npages++] = b.len;
            int rc = s_bytes_put (&b, norm, nl);
            assert (rc == 0);
        }
        free (norm);
    }
    doc->text = b.data;
    doc->len = b.len;
}

static int
s_doc_page_of (s_doc_t *doc, size_t offset)
{
    int page = doc->page_no [0];
    for (int i = 0; i < doc->npages; i++)
        if (doc->page_start [i] <= offset)
            page = doc->page_no [i];
    return page;
}

static bool
s_all_space (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s [i] != ' ' && s [i] != '\n')
            return false;
    return true;
}

//  Chunk the pages, check every invariant against the expected document,
//  and return the number of chunks. Chunks are left in col.
static int
s_check (const char *label, const char **pages, const size_t *lens, int n,
         const sl_chunk_opts_t *opts, sl_token_count_fn *count, s_collector_t *col,
         bool expect_overlap, bool verbose)
{
    s_doc_t doc;
    s_doc_build (&doc, pages, lens, n);
    s_collector_reset (col);
    sl_chunker_t *chunker = sl_chunker_new (opts, count, NULL, s_collect, col);
    assert (chunker);
    for (int i = 0; i < n; i++)
        assert (sl_chunker_add_page (chunker, i + 1, pages [i], lens [i]) == 0);
    assert (sl_chunker_finish (chunker) == 0);
    assert (sl_chunker_doc_len (chunker) == doc.len);
    assert (sl_chunker_finish (chunker) == -1);     //  only once
    sl_chunker_destroy (&chunker);
    assert (chunker == NULL);
    if (!count)
        count = sl_chunk_count_words;

    int with_overlap = 0;
    size_t covered = 0;                 //  end of the previous chunk
    for (int i = 0; i < col->n; i++) {
        const sl_chunk_t *c = &col->items [i].c;
        assert (c->ordinal == i);
        assert (c->len > 0 && c->len == c->char_end - c->char_start);
        assert (c->char_end <= doc.len);
        assert (memcmp (doc.text + c->char_start, c->text, c->len) == 0);
        assert ((int) count (NULL, c->text, c->len) == c->tokens);
        assert (c->tokens <= opts->target_tokens);
        //  starts and ends on non-space, on UTF-8 boundaries
        assert (c->text [0] != ' ' && c->text [0] != '\n');
        assert (c->text [c->len - 1] != ' ' && c->text [c->len - 1] != '\n');
        assert (((unsigned char) c->text [0] & 0xC0) != 0x80);
        assert (c->char_end == doc.len || ((unsigned char) doc.text [c->char_end] & 0xC0) != 0x80);
        char hash [65];
        sl_sha256_hex (c->text, c->len, hash);
        assert (strcmp (hash, c->hash) == 0);
        assert (c->page_start == s_doc_page_of (&doc, c->char_start));
        assert (c->page_end == s_doc_page_of (&doc, c->char_end - 1));
        assert (c->overlap_len < c->len);
        size_t new_start = c->char_start + c->overlap_len;
        if (i == 0) {
            assert (c->overlap_len == 0 && c->char_start == 0);
        }
        else {
            const sl_chunk_t *p = &col->items [i - 1].c;
            if (c->overlap_len > 0) {
                with_overlap++;
                //  overlap is a proper suffix of the previous chunk, whole words
                assert (c->char_start > p->char_start);
                assert (c->char_start < p->char_end);
                assert (s_all_space (doc.text + c->char_start - 1, 1)
                        || s_word_end_kind (doc.text, 0, c->char_start) == 2);
                assert ((int) (count (NULL, c->text, p->char_end - c->char_start)
                               - count (NULL, "", 0)) <= opts->overlap_tokens);
            }
            //  new content follows the previous chunk with only space between
            assert (new_start >= covered);
            assert (s_all_space (doc.text + covered, new_start - covered));
        }
        covered = c->char_end;
    }
    //  the new parts cover the whole document
    if (doc.len == 0)
        assert (col->n == 0);
    else
        assert (covered == doc.len);
    if (expect_overlap && opts->overlap_tokens > 0 && col->n > 1)
        assert (with_overlap >= (col->n - 1) * 9 / 10);
    if (verbose)
        printf ("  %-28s %6zu bytes %3d pages -> %4d chunks (%d with overlap)\n",
                label, doc.len, n, col->n, with_overlap);
    free (doc.text);
    return col->n;
}

//  Deterministic pseudo-English: sentences of capitalised words, paragraphs.
static uint64_t
s_rand (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static char *
s_make_page (uint64_t *rng, int words, bool hyphenate)
{
    static const char *vocab [] = {
        "stream", "document", "vector", "engine", "broker", "message", "parse", "chunk",
        "token", "index", "search", "query", "latency", "throughput", "actor", "socket",
        "information", "retrieval", "embedding", "normalisation", "the", "a", "of", "and",
        "to", "in", "is", "for", "with", "on", "über", "café", "naïve", "résumé"
    };
    size_t nv = sizeof vocab / sizeof vocab [0];
    s_bytes_t b = { 0 };
    int in_sentence = 0, line = 0;
    for (int w = 0; w < words; w++) {
        const char *word = vocab [s_rand (rng) % nv];
        char tmp [64];
        snprintf (tmp, sizeof tmp, "%s", word);
        if (in_sentence == 0 && tmp [0] >= 'a' && tmp [0] <= 'z')
            tmp [0] = (char) (tmp [0] - 'a' + 'A');
        s_bytes_put (&b, tmp, strlen (tmp));
        in_sentence++;
        line++;
        bool end_sentence = in_sentence > 4 && s_rand (rng) % 8 == 0;
        if (end_sentence) {
            s_bytes_put (&b, ".", 1);
            in_sentence = 0;
        }
        if (w + 1 == words)
            break;
        if (end_sentence && s_rand (rng) % 5 == 0)
            s_bytes_put (&b, "\n\n", 2);        //  paragraph
        else
        if (line > 9) {
            //  line break inside a paragraph, sometimes inside a word
            bool ascii = true;
            for (const char *c = tmp; *c; c++)
                ascii &= (unsigned char) *c < 0x80;
            if (hyphenate && ascii && strlen (tmp) > 6 && !end_sentence && s_rand (rng) % 2) {
                b.len -= strlen (tmp) - 3;
                s_bytes_put (&b, "-\n", 2);
                s_bytes_put (&b, tmp + 3, strlen (tmp + 3));
                s_bytes_put (&b, " ", 1);
            }
            else
                s_bytes_put (&b, "  \n\t", 4);
            line = 0;
        }
        else
            s_bytes_put (&b, " ", 1);
    }
    return b.data ? b.data : strdup ("");
}

static bool
s_contains (const char *hay, size_t n, const char *needle)
{
    return memmem (hay, n, needle, strlen (needle)) != NULL;
}

//  READMEs as TeX packages ship them, written here: an RCS keyword line and
//  setext headings, aligned "key = value" fields, runs of blank lines,
//  trailing spaces, indented commands, TeX backslashes; Markdown with soft
//  hyphens (U+00AD) inside words and at line ends (a word hyphenated across
//  the break), a hard hyphen at a line end, Latin letters, definition lists.
static const struct {
    const char *name;
    const char *text;
} s_readmes [] = {
    { "sluice.txt",
      "$Id: sluice.txt,v 1.5 2005/03/07 14:22:19 m Exp $\n"
      "\n"
      "sluice.sty\n"
      "==========\n"
      "\n"
      "This package converts arbitrary flow rates between units\n"
      "using the cubic metre as base unit, and typesets them\n"
      "in almost any desired way. Write e.g. \\FLOW{17.6} to get\n"
      "something like `17,60 m\\textthreesuperior/s  (0,28 l/min)' automatically.\n"
      "Conversion rates for the usual units are already built-in.\n"
      "Further rates can be added easily.\n"
      "\n"
      "author          = \"A. N. Author\"\n"
      "version         = \"1.1\"\n"
      "date            = \"7 March 2005\"\n"
      "filename        = \"sluice.dtx\"\n"
      "address         = \"A. N. Author\n"
      "                   Lock Street 52\n"
      "                   A-5212 WEIRTOWN\n"
      "                   AUSTRIA\"\n"
      "telephone       = \"++43 7746 3109\"\n"
      "URL             = \"http://example.org/sluice/TeX/\"\n"
      "email           = \"author # example : org\"\n"
      "codetable       = \"ISO/ASCII\"\n"
      "keywords        = \"sluice\"\n"
      "supported       = \"yes\"\n"
      "\n"
      "\n"
      "\n"
      "COPYRIGHT NOTICE\n"
      "================\n"
      "This package is free software that can be redistributed and/or modified\n"
      "under the terms of the LaTeX Project Public License as specified\n"
      "in the file macros/latex/base/lppl.txt on any CTAN archive server.\n"
      "\n"
      "\n"
      "\n"
      "Extracting the package & processing the documentation\n"
      "=====================================================\n"
      "\n"
      "on Unix/Linux just run \"make\" to get the style file and the documentation;\n"
      "else generate the driver sluice.ins (if you don't already have it):\n"
      "\n"
      "    $ latex sluice.dtx\n"
      "\n"
      "Now generate the style file:\n"
      "\n"
      "    $ tex sluice.ins\n"
      "\n"
      "And finally to produce the documentation run LaTeX three times:\n"
      "\n"
      "    $ latex sluice.dtx\n"
      "\n"
      "\n"
      "\n"
      "This package needs the fp-package!\n"
      "===============================================================\n"
      "\n"
      " fp      -- CTAN//macros/latex/contrib/other/fp/  --  (by A. Mathematician)\n" },
    { "weir-README.txt",
      "\n"
      "The weir package allows integration between MetaPost\n"
      "pictures and LaTeX, the main feature is that passing\n"
      "parameters to the MetaPost pictures is possible and\n"
      "the picture code can be put inside arguments to\n"
      "commands, including \\newcommand.\n"
      "\n"
      "This is version 1.0 of the package\n"
      "\n"
      "Copyright (C) 2011 by A. N. Author \n"
      "<author at example dot org>\n"
      "-------------------------------------------------------\n"
      "\n"
      "This work may be distributed and/or modified under the\n"
      "conditions of the LaTeX Project Public License, either\n"
      "version 1.3c of this license or (at your option) any\n"
      "later version. The latest version of this license is in\n"
      "  http://www.latex-project.org/lppl.txt\n"
      "and version 1.3 or later is part of all distributions\n"
      "of LaTeX version 2005/12/01 or later.\n"
      "\n"
      "This work has the LPPL maintenance status `maintained'.\n"
      "\n"
      "This work consists of the files\n"
      "  weir.dtx \n"
      "  weir.ins\n"
      "and the derived file weir.sty.\n"
      "\n"
      "To install the distribution:\n"
      "\n"
      "o run \"latex weir.ins\"\n"
      "o move \"weir.sty\" to locations where LaTeX will find\n"
      "  it (the FAQ on CTAN in [...]/help/uktug-FAQ gives\n"
      "  information about this magic place\n"
      "\n"
      "To produce the documentation in pdf format:\n"
      "\n"
      "o run \"pdflatex -shell-escape weir.dtx\"\n"
      "o run \"makeindex -s gind.ist weir\"\n"
      "o run \"makeindex -s gglo.ist -o weir.gls weir.glo\"\n"
      "o run \"pdflatex weir.dtx\"\n"
      "\n"
      "2011/03/10\n"
      "A. N. Author\n" },
    { "repere-README.md",
      "Package repere - Version 23.01 - January 1, 2023\n"
      "\n"
      "---\n"
      "\n"
      "This package provides MetaPost macros for sec\xc2\xad" "ondary school math\xc2\xad" "e\xc2\xad"
      "mat\xc2\xad" "ics teachers to draw figures in a coordinate system, with axes, grids, "
      "points and vectors placed by their coordinates rather than by hand.\n"
      "- axis, grids\n"
      "- points, vectors\n"
      "- functions (curves, tangents, integrals, se\xc2\xad\n"
      "quences)\n"
      "- statistic diagrams, histo\xc2\xad\n"
      "grams and box plots\n"
      "- plane geometry (polygons, cir-\n"
      "cles)\n"
      "- arrays and game boards\n"
      "\n"
      "The doc is in french: \xc3\xa9l\xc3\xa8ves, g\xc3\xa9om\xc3\xa9trie, rep\xc3\xa8re "
      "orthonorm\xc3\xa9, \xc3\xa0 la fa\xc3\xa7on des manuels sco\xc2\xad\n"
      "laires...\n"
      "\n"
      "---\n"
      "\n"
      "Author : Ol\xc3\xa9ron P\xc3\xa9" "ault\n"
      "\n"
      "E-mail : o.peault@example.net\n"
      "\n"
      "Licence   : Released under the LaTeX Project Public License v1.3c or later, see "
      "http://www.latex-project.org/lppl.txt\n"
      "\n"
      "\n" },
    { "fonts-README.md",
      "# Interface to the sluice fonts for LaTeX2e.\n"
      "\n"
      "## License\n"
      "\n"
      "This material is subject to the LATEX Project Public License 1.3c.\n"
      "\n"
      "The package does work with the old fonts but some characters are\n"
      "missing and others may come out wrong. Therefore I suggest\n"
      "to upgrade to the new fonts.\n"
      "\n"
      "The fonts are provided as METAFONT fonts.\n"
      "There is a package sluice-type1 that contains the outline fonts.\n"
      "\n"
      "Bug reports (and enhancements) to\n"
      "\n"
      "A. N. Author\n"
      "tex@example.de\n"
      "\n"
      "Many TeX fonts are now supporting a wide range of Unicode symbols.\n"
      "You may look there first.\n"
      "\n"
      "This package supports the fonts version 2.4 or \n"
      "sluice-type1 version 001.001.\n"
      "When used with older versions some characters may be missing.\n"
      "\n"
      "## Changes:\n"
      "\n"
      "1.0b\n"
      ":   Corrected mathcode of integrals (now 1) (=mathop)\n"
      "\n"
      "1.0c \n"
      ":   The command is textsluice as defined and not textlasy as\n"
      "    shown in the margin\n"
      "\n"
      "1.0d \n"
      ":   Adapted to LaTeX2e[1994/06/01]\n"
      "\n"
      "1.0e \n"
      ":   Changed some symbols from mathrel to mathbin as in latexsym\n"
      "    Changed the way the documentation is generated form\n"
      "    latex2e-beta to official LaTeX2e-way.\n"
      "\n"
      "1.0f \n"
      ":   Corrected \\dh and \\Dh definition for T1 encoding\n"
      "    Renamed \\Dh to \\DH as in T1 encoding but keeping the old\n"
      "    name for compatibility\n"
      "\n"
      "1.0g \n"
      ":   Reinserted the \\hbox commands, the package now works in mathmode again\n"
      "\n"
      "1.0h \n"
      ":   Changed most \\hbox commands to \\mbox\n"
      "    and added partial support for AMSmath\n"
      "\n"
      "1.0i \n"
      ":   Changed license to LPPL, some documentation updates.\n" },
};

void
sl_chunk_test (bool verbose)
{
    printf (" * sl_chunk: ");
    if (verbose)
        printf ("\n");
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    assert (opts.target_tokens == 100 && opts.overlap_tokens == 15 && opts.min_tokens == 10);
    s_collector_t col = { 0 };

    //  Normalisation, one rule at a time
    struct { const char *in, *out; } norm_cases [] = {
        { "infor-\nmation retrieval", "information retrieval" },
        { "well-\nKnown", "well- Known" },
        { "2020-\n2021", "2020- 2021" },
        { "line one\nline two", "line one line two" },
        { "a  b\t\tc   d", "a b c d" },
        { "para one.\n\n\n   para two", "para one.\n\npara two" },
        { "  \n trim me \n\n ", "trim me" },
        { "ctl\x01\x02 chars\x7f", "ctl chars" },
        { "dos\r\nline\rend", "dos line end" },
        { "page\fbreak", "page\n\nbreak" },
        { "sec\xc2\xad" "ondary", "secondary" },
        { "infor\xc2\xad\nmation", "information" },
        { "e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },               //  NFC: e + U+0301 -> é
        { "bad \xff\xfe utf8", "bad \xef\xbf\xbd\xef\xbf\xbd utf8" },  //  U+FFFD each
        { "nb\xc2\xa0space", "nb space" },
        { "zero\xe2\x80\x8bwidth", "zerowidth" },
        { "na\xc3\xafve-\n\xc3\xa9t\xc3\xa9", "na\xc3\xafve\xc3\xa9t\xc3\xa9" },  //  lowercase é joins
        { "", "" },
        { " \n\t\n ", "" },
    };
    for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases [0]; i++) {
        size_t nl;
        char *norm = sl_chunk_normalise (norm_cases [i].in, strlen (norm_cases [i].in), &nl);
        assert (norm);
        if (strcmp (norm, norm_cases [i].out) != 0 || nl != strlen (norm)) {
            printf ("normalise case %zu: got [%s] want [%s]\n", i, norm, norm_cases [i].out);
            assert (false);
        }
        free (norm);
    }
    //  embedded NUL is a control char, not an end
    {
        size_t nl;
        char *norm = sl_chunk_normalise ("a\0b", 3, &nl);
        assert (norm && nl == 2 && strcmp (norm, "ab") == 0);
        free (norm);
    }

    //  Word counter
    assert (sl_chunk_count_words (NULL, "hello world  foo", 16) == 3);
    assert (sl_chunk_count_words (NULL, "", 0) == 0);
    assert (sl_chunk_count_words (NULL, "  \n ", 4) == 0);
    const char *cjk = "\xe6\xbc\xa2\xe5\xad\x97" "abc";               //  漢字abc
    assert (sl_chunk_count_words (NULL, cjk, strlen (cjk)) == 3);

    //  Invalid options
    sl_chunk_opts_t bad = opts;
    bad.overlap_tokens = bad.target_tokens;
    assert (sl_chunker_new (&bad, NULL, NULL, s_collect, &col) == NULL);
    bad = opts;
    bad.target_tokens = 0;
    assert (sl_chunker_new (&bad, NULL, NULL, s_collect, &col) == NULL);

    //  Empty document and empty pages: no chunks, no error
    {
        const char *pages [] = { "", "   \n\n  ", "\x01\x02" };
        size_t lens [] = { 0, 7, 2 };
        assert (s_check ("empty", pages, lens, 3, &opts, NULL, &col, false, verbose) == 0);
        assert (s_check ("no pages", pages, lens, 0, &opts, NULL, &col, false, verbose) == 0);
        sl_chunker_t *chunker = sl_chunker_new (NULL, NULL, NULL, s_collect, &col);
        assert (sl_chunker_add_page (chunker, 0, "x", 1) == -1);  //  pages are 1-based
        sl_chunker_destroy (&chunker);
        sl_chunker_destroy (&chunker);                            //  safe twice
    }

    //  A short document is one chunk
    {
        const char *pages [] = { "Just a few words here." };
        size_t lens [] = { strlen (pages [0]) };
        assert (s_check ("short", pages, lens, 1, &opts, NULL, &col, false, verbose) == 1);
        assert (col.items [0].c.tokens == 5 && col.items [0].c.page_start == 1);
        assert (strcmp (col.items [0].text, "Just a few words here.") == 0);
    }

    //  Synthetic multi-page documents under several option sets
    uint64_t rng = 42;
    const int npages = 24;
    const char *pages [24];
    size_t lens [24];
    for (int i = 0; i < npages; i++) {
        //  a few empty pages and a few tiny ones among long ones
        int words = i % 7 == 3 ? 0 : i % 5 == 4 ? 3 : 150 + (int) (s_rand (&rng) % 400);
        pages [i] = s_make_page (&rng, words, true);
        lens [i] = strlen (pages [i]);
    }
    sl_chunk_opts_t sets [] = {
        { 100, 15, 10 }, { 50, 10, 5 }, { 20, 0, 0 }, { 7, 3, 2 }, { 200, 40, 20 }, { 1, 0, 0 }
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets [0]; s++) {
        char label [64];
        snprintf (label, sizeof label, "synthetic %d/%d/%d", sets [s].target_tokens,
                  sets [s].overlap_tokens, sets [s].min_tokens);
        int n = s_check (label, pages, lens, npages, &sets [s], NULL, &col,
                         sets [s].target_tokens > 1, verbose);
        assert (n > 1);
        //  the final chunk keeps min_tokens of new text when the document is big
        const sl_chunk_t *last = &col.items [n - 1].c;
        int new_tokens = (int) sl_chunk_count_words (NULL, last->text + last->overlap_len,
                                                     last->len - last->overlap_len);
        assert (new_tokens >= sets [s].min_tokens || sets [s].min_tokens > sets [s].target_tokens - sets [s].overlap_tokens);
        //  most cuts land on sentence or paragraph ends with a roomy target
        if (sets [s].target_tokens >= 100) {
            int sentence_ends = 0;
            for (int i = 0; i < n; i++) {
                const sl_chunk_t *c = &col.items [i].c;
                char last_char = c->text [c->len - 1];
                sentence_ends += last_char == '.';
            }
            assert (sentence_ends * 10 >= n * 7);
        }
        //  with the defaults, check chunks span pages and hyphenation is joined
        if (s == 0) {
            int spanning = 0;
            for (int i = 0; i < n; i++)
                spanning += col.items [i].c.page_end > col.items [i].c.page_start;
            assert (spanning > 0);
        }
    }
    //  The same document again gives the same chunks (deterministic)
    {
        s_check ("determinism run 1", pages, lens, npages, &opts, NULL, &col, true, false);
        int n1 = col.n;
        char (*hashes) [65] = malloc ((size_t) n1 * 65);
        for (int i = 0; i < n1; i++)
            memcpy (hashes [i], col.items [i].c.hash, 65);
        s_check ("determinism run 2", pages, lens, npages, &opts, NULL, &col, true, false);
        assert (col.n == n1);
        for (int i = 0; i < n1; i++)
            assert (strcmp (hashes [i], col.items [i].c.hash) == 0);
        free (hashes);
    }
    //  A non-additive, tokenizer-like counter
    {
        sl_chunk_opts_t o = { 60, 10, 5 };
        s_check ("bytes/4 counter", pages, lens, npages, &o, s_count_bytes4, &col, true, verbose);
    }
    //  A counter with fixed BOS/EOS tokens: chunks still fill up
    {
        int n = s_check ("bos/eos counter", pages, lens, npages, &opts, s_count_words_bos_eos,
                         &col, true, verbose);
        long long sum = 0;
        for (int i = 0; i < n; i++)
            sum += col.items [i].c.tokens;
        assert (sum / n >= opts.target_tokens * 3 / 4);
    }
    //  The counter is called about twice over the text, not O(n^2)
    {
        long bytes = 0;
        s_collector_reset (&col);
        sl_chunker_t *chunker = sl_chunker_new (&opts, s_count_calls_words, &bytes, s_collect, &col);
        size_t total = 0;
        for (int i = 0; i < npages; i++) {
            assert (sl_chunker_add_page (chunker, i + 1, pages [i], lens [i]) == 0);
            total += lens [i];
        }
        assert (sl_chunker_finish (chunker) == 0);
        sl_chunker_destroy (&chunker);
        if (verbose)
            printf ("  counter saw %ld bytes for %zu bytes of text\n", bytes, total);
        assert ((size_t) bytes < 3 * total);
    }
    for (int i = 0; i < npages; i++)
        free ((char *) pages [i]);

    //  Text placed on known pages; hyphenation across lines and pages
    {
        const char *p [] = {
            "Alpha section starts here. It talks about infor-\nmation retrieval in depth",
            "",
            "and continues on page three with the gamma marker. Then the docu-",
            "ment ends on page four with omega."
        };
        size_t l [] = { strlen (p [0]), 0, strlen (p [2]), strlen (p [3]) };
        sl_chunk_opts_t o = { 8, 2, 0 };
        s_check ("known pages", p, l, 4, &o, NULL, &col, true, verbose);
        bool saw_information = false, saw_document = false;
        for (int i = 0; i < col.n; i++) {
            const sl_chunk_t *c = &col.items [i].c;
            if (s_contains (c->text, c->len, "Alpha"))
                assert (c->page_start == 1);
            if (s_contains (c->text, c->len, "gamma"))
                assert (c->page_start <= 3 && c->page_end >= 3);
            if (s_contains (c->text, c->len, "omega"))
                assert (c->page_end == 4);
            if (s_contains (c->text, c->len, "information"))
                saw_information = true;
            if (s_contains (c->text, c->len, "document")) {
                saw_document = true;
                assert (c->page_start == 3 && c->page_end == 4);
            }
            assert (!s_contains (c->text, c->len, "infor-"));
        }
        assert (saw_information && saw_document);
        //  a mid-sentence page end joins with a space, a sentence end with \n\n
        s_doc_t doc;
        s_doc_build (&doc, p, l, 4);
        assert (s_contains (doc.text, doc.len, "depth and continues"));
        free (doc.text);
        const char *q [] = { "First page ends a sentence.", "Second page." };
        size_t ql [] = { strlen (q [0]), strlen (q [1]) };
        s_doc_build (&doc, q, ql, 2);
        assert (strcmp (doc.text, "First page ends a sentence.\n\nSecond page.") == 0);
        free (doc.text);
    }

    //  Paragraph boundaries win over sentence boundaries
    {
        const char *p [] = {
            "One two three four five six seven. Eight nine ten eleven twelve.\n\n"
            "Thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen twenty. "
            "Twenty-one twenty-two twenty-three twenty-four."
        };
        size_t l [] = { strlen (p [0]) };
        sl_chunk_opts_t o = { 20, 0, 0 };
        assert (s_check ("paragraph first", p, l, 1, &o, NULL, &col, false, verbose) == 2);
        assert (strcmp (col.items [0].text,
                        "One two three four five six seven. Eight nine ten eleven twelve.") == 0);
    }

    //  Trailing fragment: a 19-word sentence plus two words, target 20, no
    //  overlap. Plain greedy would leave a 2-word last chunk.
    {
        s_bytes_t b = { 0 };
        for (int i = 0; i < 19; i++)
            s_bytes_put (&b, i ? " word" : "Word", i ? 5 : 4);
        s_bytes_put (&b, ". Tail end.", 11);
        const char *p [] = { b.data };
        size_t l [] = { b.len };
        sl_chunk_opts_t o = { 20, 0, 5 };
        assert (s_check ("trailing fragment", p, l, 1, &o, NULL, &col, false, verbose) == 2);
        assert (sl_chunk_count_words (NULL, col.items [1].text, col.items [1].c.len) >= 5);
        o.min_tokens = 0;
        assert (s_check ("fragment allowed", p, l, 1, &o, NULL, &col, false, verbose) == 2);
        assert (strcmp (col.items [1].text, "Tail end.") == 0);
        free (b.data);
    }

    //  A huge single word, by words and by a byte-based tokenizer
    {
        size_t big = 200000;
        char *p0 = malloc (big + 64);
        strcpy (p0, "Before the blob ");
        size_t at = strlen (p0);
        for (size_t i = 0; i < big; i++)
            p0 [at + i] = (char) ('a' + i % 26);
        strcpy (p0 + at + big, " after the blob.");
        const char *p [] = { p0 };
        size_t l [] = { strlen (p0) };
        int n = s_check ("huge word / words", p, l, 1, &opts, NULL, &col, false, verbose);
        assert (n > 1);
        for (int i = 0; i < n; i++)
            assert (col.items [i].c.len <= (size_t) opts.target_tokens * S_MAX_PIECE_BYTES);
        sl_chunk_opts_t o = { 64, 8, 4 };
        n = s_check ("huge word / bytes4", p, l, 1, &o, s_count_bytes4, &col, false, verbose);
        assert (n >= (int) (big / 4 / 64));
        free (p0);
    }

    //  CJK without spaces: splits after 。 and by characters
    {
        s_bytes_t b = { 0 };
        const char *sentence = "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88"
                               "\xe5\xa5\xbd\xe3\x80\x82";     //  今天天气很好。 (7 chars)
        for (int i = 0; i < 40; i++)
            s_bytes_put (&b, sentence, strlen (sentence));
        const char *p [] = { b.data };
        size_t l [] = { b.len };
        sl_chunk_opts_t o = { 20, 8, 2 };
        int n = s_check ("cjk", p, l, 1, &o, NULL, &col, true, verbose);
        assert (n > 10);
        for (int i = 0; i < n - 1; i++) {
            const sl_chunk_t *c = &col.items [i].c;
            assert (c->len >= 3 && memcmp (c->text + c->len - 3, "\xe3\x80\x82", 3) == 0);
        }
        free (b.data);
    }

    //  Hostile bytes: invalid UTF-8, controls, stray hyphens and newlines,
    //  CJK marks, combining marks. Every invariant must still hold.
    {
        static const char *atoms [] = {
            " ", "\n", "\n\n", "-\n", "\t", ".", ". ", "A", "b", "z", "\xff", "\xc3",
            "\xe3\x80\x82", "\xe6\xbc\xa2", "\xcc\x81", "\xc2\xad", "\r", "\x00", "?",
            "\xe2\x80\x90\n", "\xf0\x9f\x98\x80", "\"", ")", "\xef\xbc\x81"
        };
        uint64_t r = 12345;
        for (int round = 0; round < 30; round++) {
            const char *hp [6];
            size_t hl [6];
            for (int pg = 0; pg < 6; pg++) {
                s_bytes_t b = { 0 };
                int atoms_n = (int) (s_rand (&r) % 600);
                for (int a = 0; a < atoms_n; a++) {
                    const char *atom = atoms [s_rand (&r) % (sizeof atoms / sizeof *atoms)];
                    s_bytes_put (&b, atom, atom [0] ? strlen (atom) : 1);
                }
                hp [pg] = b.data ? b.data : strdup ("");
                hl [pg] = b.len;
            }
            sl_chunk_opts_t o = { 1 + (int) (s_rand (&r) % 40), 0, (int) (s_rand (&r) % 6) };
            o.overlap_tokens = (int) (s_rand (&r) % (uint64_t) o.target_tokens);
            s_check ("hostile", hp, hl, 6, &o, round % 2 ? s_count_bytes4 : NULL, &col,
                     false, false);
            for (int pg = 0; pg < 6; pg++)
                free ((char *) hp [pg]);
        }
    }

    //  The callback can stop the chunker
    {
        s_collector_reset (&col);
        col.stop_after = 2;
        sl_chunker_t *chunker = sl_chunker_new (&(sl_chunk_opts_t) { 5, 0, 0 }, NULL, NULL,
                                                s_collect, &col);
        const char *text = "one two three four five six seven eight nine ten eleven twelve "
                           "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
        int rc = sl_chunker_add_page (chunker, 1, text, strlen (text));
        if (rc == 0)
            rc = sl_chunker_finish (chunker);
        assert (rc == -1 && col.n == 2);
        assert (sl_chunker_add_page (chunker, 2, "more", 4) == -1);
        sl_chunker_destroy (&chunker);
        s_collector_reset (&col);
    }

    //  Real-world text (READMEs written above), as one page and as 20-line pages
    for (size_t f = 0; f < sizeof s_readmes / sizeof s_readmes [0]; f++) {
        const char *name = s_readmes [f].name;
        const char *data = s_readmes [f].text;
        size_t len = strlen (data);
        const char *one [] = { data };
        size_t one_len [] = { len };
        sl_chunk_opts_t o = { 40, 8, 5 };
        assert (s_check (name, one, one_len, 1, &o, NULL, &col, true, verbose) > 1);
        if (strcmp (name, "repere-README.md") == 0) {
            //  soft hyphens gone, words hyphenated across a line joined
            bool school = false, sequences = false, histograms = false, schoolbooks = false;
            for (int i = 0; i < col.n; i++) {
                school |= strstr (col.items [i].text, "secondary school mathematics teachers") != NULL;
                sequences |= strstr (col.items [i].text, "integrals, sequences)") != NULL;
                histograms |= strstr (col.items [i].text, "diagrams, histograms and") != NULL;
                schoolbooks |= strstr (col.items [i].text, "manuels scolaires...") != NULL;
                assert (!strstr (col.items [i].text, "\xc2\xad"));
            }
            assert (school && sequences && histograms && schoolbooks);
        }
        s_check (name, one, one_len, 1, &opts, NULL, &col, true, verbose);
        //  split into pages of 20 lines
        const char *pp [512];
        size_t pl [512];
        int np = 0;
        const char *cursor = data, *end = data + len;
        while (cursor < end && np < 512) {
            const char *stop = cursor;
            for (int line = 0; line < 20 && stop < end; line++) {
                const char *nl = memchr (stop, '\n', (size_t) (end - stop));
                stop = nl ? nl + 1 : end;
            }
            pp [np] = cursor;
            pl [np++] = (size_t) (stop - cursor);
            cursor = stop;
        }
        assert (np > 1);
        s_check (name, pp, pl, np, &o, s_count_bytes4, &col, true, verbose);
    }
    s_collector_reset (&col);

    //  A long document: the window stays bounded (a page plus a few chunks),
    //  and (verbose) the throughput
    {
        uint64_t r = 7;
        int big_pages = verbose ? 200 : 40;
        sl_chunker_t *chunker = sl_chunker_new (&opts, NULL, NULL, s_collect, &col);
        int64_t t0 = sl_mono_ms ();
        size_t total = 0, max_page = 0;
        int chunks = 0;
        for (int i = 0; i < big_pages; i++) {
            char *page = s_make_page (&r, 2000, true);
            size_t len = strlen (page);
            total += len;
            max_page = len > max_page ? len : max_page;
            assert (sl_chunker_add_page (chunker, i + 1, page, len) == 0);
            free (page);
            assert (chunker->buf_len <= 2 * (max_page + 16 * 1024));
            assert (chunker->np <= 8 * (size_t) opts.target_tokens);
            assert (chunker->npages <= 3);
            //  drop chunks as we go, as an actor would
            chunks += col.n;
            s_collector_reset (&col);
        }
        assert (sl_chunker_finish (chunker) == 0);
        chunks += col.n;
        assert (chunks > big_pages * 2000 / opts.target_tokens);
        sl_chunker_destroy (&chunker);
        int64_t ms = sl_mono_ms () - t0;
        if (verbose)
            printf ("  %.1f MB chunked in %lld ms\n", total / 1e6, (long long) ms);
        s_collector_reset (&col);
    }
    printf ("OK\n");
}
