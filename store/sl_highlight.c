/*  sl_highlight: where a hit's text holds the words its query was ranked
    by. See sl_highlight.h for the rules and why they are the index's.
*/
#include "sl_highlight.h"
#include "sl_store_backend.h"

#include <assert.h>
#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

//  Stems a query may hold: SL_STORE_TERMS terms, a few split further by
//  the tokenizer (a term is already one run of word characters, mostly)
#define S_STEMS 32
//  FTS5's Porter leaves tokens shorter or longer than these (in bytes) as
//  they are (fts5_tokenize.c, FTS5_PORTER_MAX_TOKEN and nToken < 3)
#define S_PORTER_MIN 3
#define S_PORTER_MAX 64

struct sl_highlight_s {
    struct sb_stemmer *stemmer;     //  ours alone: Snowball is not thread-safe
    bool fts5;                      //  unicode61 tokens and FTS5's length limits
    int count;
    char stems [S_STEMS][SL_HIGHLIGHT_TOKEN_MAX + 1];
};

//  A token as the index sees it: folded bytes and where it sits in code points
typedef struct {
    char folded [SL_HIGHLIGHT_TOKEN_MAX + 8];   //  room for one more UTF-8 char
    size_t len;
    bool too_long;
    int start;
    int end;
} s_token_t;

//  Walks a text token by token
typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int cp;                         //  code points read so far
    bool fts5;
} s_cursor_t;

//  The separators sl_store_query_terms knows beyond ASCII punctuation,
//  which PostgreSQL's generated column turns into spaces (migration 6)
static bool
s_pg_separator (int32_t c)
{
    return (c >= 0xA0 && c <= 0xBF) || c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x2BFF)
        || (c >= 0x3000 && c <= 0x303F) || (c >= 0x1F000 && c <= 0x1FFFF);
}

//  Is c part of a word? unicode61: letters, numbers, private use, and the
//  combining marks it strips from inside words; PostgreSQL: ASCII letters
//  and digits and every non-ASCII character but the separators above
static bool
s_word_char (int32_t c, bool fts5)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!fts5)
        return !s_pg_separator (c);
    switch (utf8proc_category (c)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_MN:
            return true;
        default:
            return false;
    }
}

//  c as the index folds it, or -1 if the index drops it (a diacritic)
static int32_t
s_fold (int32_t c, bool fts5)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    //  a C-locale database folds ASCII only; Sluice's generated columns
    //  fold Latin-1 capitals too (U+00C0..U+00DE but U+00D7), as the
    //  query's terms are folded (sl_store_pg.c, S_LATIN1_UPPER)
    if (!fts5)
        return c >= 0xC0 && c <= 0xDE && c != 0xD7 ? c + 0x20 : c;
    if (utf8proc_category (c) == UTF8PROC_CATEGORY_MN)
        return -1;
    c = utf8proc_tolower (c);
    //  remove_diacritics 2: a letter whose canonical decomposition starts
    //  with an ASCII letter becomes that letter, however many marks follow
    utf8proc_int32_t parts [8];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char (c, parts, 8, UTF8PROC_DECOMPOSE, &last);
    if (n >= 2 && parts [0] < 0x80
    &&  ((parts [0] >= 'a' && parts [0] <= 'z') || (parts [0] >= 'A' && parts [0] <= 'Z')))
        return parts [0] >= 'A' && parts [0] <= 'Z' ? parts [0] + 32 : parts [0];
    return c;
}

//  The next code point at cur (advancing it), or -1 for a byte that is not
//  valid UTF-8 (one code point, a separator)
static int32_t
s_read (s_cursor_t *cur)
{
    if (*cur->p < 0x80) {
        cur->cp++;
        return *cur->p++;
    }
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t n = utf8proc_iterate (cur->p, cur->end - cur->p, &c);
    cur->p += n > 0 ? n : 1;
    cur->cp++;
    return n > 0 ? c : -1;
}

//  The next token of the text, false at its end
static bool
s_next (s_cursor_t *cur, s_token_t *tok)
{
    memset (tok, 0, sizeof *tok);
    int32_t c = -1;
    while (cur->p < cur->end) {
        tok->start = cur->cp;
        c = s_read (cur);
        if (c >= 0 && s_word_char (c, cur->fts5))
            break;
        c = -1;
    }
    if (c < 0)
        return false;
    while (true) {
        int32_t folded = s_fold (c, cur->fts5);
        if (folded >= 0 && !tok->too_long) {
            tok->len += (size_t) utf8proc_encode_char (folded,
                                                       (utf8proc_uint8_t *) tok->folded + tok->len);
            if (tok->len > SL_HIGHLIGHT_TOKEN_MAX)
                tok->too_long = true;
        }
        tok->end = cur->cp;
        if (cur->p >= cur->end)
            break;
        s_cursor_t peek = *cur;
        c = s_read (&peek);
        if (c < 0 || !s_word_char (c, cur->fts5))
            break;
        *cur = peek;
    }
    tok->folded [tok->too_long ? 0 : tok->len] = 0;
    return true;
}

//  FTS5's Porter reads bytes, not characters: each byte of a non-ASCII
//  letter is a consonant of its own ("straße" has no c-v-c ending there,
//  so it loses its e), and two equal bytes are a double consonant. Snowball
//  reads characters. So before Snowball sees a token, every non-ASCII byte
//  becomes a consonant no Porter suffix or replacement contains, the same
//  letter as its neighbour exactly when the bytes are equal; after, the
//  bytes that are still there come back. Suffixes are ASCII, so only the
//  placeholders' consonant-ness and equality matter, as in FTS5
static const char s_stand_ins [] = "hjkpq";

static void
s_bytes_as_consonants (const char *in, size_t len, char *out)
{
    int last = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) in [i];
        if (c < 0x80) {
            out [i] = (char) c;
            last = -1;
            continue;
        }
        if (last < 0 || (unsigned char) in [i - 1] != c)
            last = (last + 1) % 5;
        out [i] = s_stand_ins [last];
    }
    out [len] = 0;
}

//  The token's stem into out (size > SL_HIGHLIGHT_TOKEN_MAX); false if
//  the token cannot match (too long, or the stemmer ran out of memory)
static bool
s_stem (sl_highlight_t *self, const s_token_t *tok, char *out)
{
    if (tok->too_long || tok->len == 0)
        return false;
    if (self->fts5 && (tok->len < S_PORTER_MIN || tok->len > S_PORTER_MAX)) {
        memcpy (out, tok->folded, tok->len + 1);
        return true;
    }
    char bytes [S_PORTER_MAX + 1];
    bool ascii = true;
    for (size_t i = 0; self->fts5 && i < tok->len; i++)
        ascii &= (unsigned char) tok->folded [i] < 0x80;
    if (!ascii)
        s_bytes_as_consonants (tok->folded, tok->len, bytes);
    const sb_symbol *stem = sb_stemmer_stem (self->stemmer,
                                             (const sb_symbol *) (ascii ? tok->folded : bytes),
                                             (int) tok->len);
    int len = stem ? sb_stemmer_length (self->stemmer) : -1;
    if (len < 0 || len > SL_HIGHLIGHT_TOKEN_MAX)
        return false;
    memcpy (out, stem, (size_t) len);
    out [len] = 0;
    for (int i = 0; !ascii && i < len && (size_t) i < tok->len; i++)
        if ((unsigned char) tok->folded [i] >= 0x80 && out [i] == bytes [i])
            out [i] = tok->folded [i];
    return true;
}

static void
s_cursor_init (s_cursor_t *cur, const char *text, bool fts5)
{
    cur->p = (const unsigned char *) text;
    cur->end = cur->p + strlen (text);
    cur->cp = 0;
    cur->fts5 = fts5;
}

//  Add the stems of one query term's tokens (each once)
static void
s_add_term (sl_highlight_t *self, const char *term)
{
    s_cursor_t cur;
    s_cursor_init (&cur, term, self->fts5);
    s_token_t tok;
    char stem [SL_HIGHLIGHT_TOKEN_MAX + 1];
    while (self->count < S_STEMS && s_next (&cur, &tok)) {
        if (!s_stem (self, &tok, stem))
            continue;
        bool known = false;
        for (int i = 0; i < self->count && !known; i++)
            known = strcmp (self->stems [i], stem) == 0;
        if (!known)
            memcpy (self->stems [self->count++], stem, strlen (stem) + 1);
    }
}

sl_highlight_t *
sl_highlight_new (const char *query, const char *stemmer)
{
    if (!stemmer)
        return NULL;
    sl_highlight_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fts5 = strcmp (stemmer, "porter") == 0;
    self->stemmer = sb_stemmer_new (stemmer, "UTF_8");
    if (!self->stemmer) {
        free (self);
        return NULL;
    }
    char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX];
    int n = sl_store_query_terms (query, terms);
    for (int i = 0; i < n; i++)
        s_add_term (self, terms [i]);
    return self;
}

void
sl_highlight_destroy (sl_highlight_t **self_p)
{
    assert (self_p);
    if (!*self_p)
        return;
    sb_stemmer_delete ((*self_p)->stemmer);
    free (*self_p);
    *self_p = NULL;
}

int
sl_highlight_stems (sl_highlight_t *self)
{
    assert (self);
    return self->count;
}

//  Neither stemmer touches a word's first character (suffixes go, and the
//  whole-word exceptions keep it: "dying" -> "die", "skies" -> "sky"), so
//  a token whose first byte begins no query stem cannot match: most of a
//  text's tokens are let go without stemming them
static bool
s_may_match (sl_highlight_t *self, const s_token_t *tok)
{
    for (int i = 0; i < self->count; i++)
        if (self->stems [i][0] == tok->folded [0])
            return true;
    return false;
}

int
sl_highlight_spans (sl_highlight_t *self, const char *text, int *spans, int max)
{
    assert (self);
    if (!text || self->count == 0 || max <= 0)
        return 0;
    s_cursor_t cur;
    s_cursor_init (&cur, text, self->fts5);
    s_token_t tok;
    char stem [SL_HIGHLIGHT_TOKEN_MAX + 1];
    int n = 0;
    while (n < max && s_next (&cur, &tok)) {
        if (!s_may_match (self, &tok) || !s_stem (self, &tok, stem))
            continue;
        for (int i = 0; i < self->count; i++)
            if (strcmp (self->stems [i], stem) == 0) {
                spans [2 * n] = tok.start;
                spans [2 * n + 1] = tok.end;
                n++;
                break;
            }
    }
    return n;
}

bool
sl_highlight_stem (sl_highlight_t *self, const char *word, char *out, size_t size)
{
    assert (self);
    s_cursor_t cur;
    s_cursor_init (&cur, word ? word : "", self->fts5);
    s_token_t tok;
    char stem [SL_HIGHLIGHT_TOKEN_MAX + 1];
    if (!s_next (&cur, &tok) || !s_stem (self, &tok, stem) || strlen (stem) >= size)
        return false;
    memcpy (out, stem, strlen (stem) + 1);
    return true;
}
