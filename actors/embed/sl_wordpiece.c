/*  sl_wordpiece: BERT's basic + WordPiece tokenizer. See sl_wordpiece.h.

    The vocabulary is one buffer (the file, newlines turned into NULs) and an
    open-addressing hash table of (hash, offset, length, id). A continuation
    piece "##abc" is looked up without building the string: the hash of "##"
    is continued over "abc", and the comparison checks the two parts.

    encode streams the text once. Each code point goes through the steps of
    HF's BasicTokenizer in its order (clean, CJK split, whitespace split,
    lower-case, strip accents, punctuation split); finished words go through
    WordPiece at once. A word is kept in a fixed buffer of 100 characters
    (HF's max_input_chars_per_word: longer words are [UNK] anyway), so
    encode needs no heap, whatever the text.

    HF lower-cases a whole whitespace-separated token with Python's
    str.lower(), whose final-sigma rule looks at neighbouring characters:
    capital sigma becomes final sigma when a cased letter precedes it and
    none follows (case-ignorable characters skipped). The preceding side is
    a flag carried along; the following side is a short look-ahead.
*/
#include "sl_wordpiece.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define S_MAX_WORD_CHARS 100            //  HF max_input_chars_per_word
#define S_MAX_VOCAB_BYTES (256 << 20)

typedef struct {
    uint64_t hash;
    uint32_t off, len;
    int32_t id;                         //  -1: empty slot
} s_slot_t;

struct sl_wordpiece_s {
    char *pool;                         //  the vocab file, lines NUL-terminated
    uint32_t *token_off;                //  id -> offset into pool
    int ntokens;
    s_slot_t *slots;
    size_t mask;
    size_t max_len;                     //  longest token, bytes
    sl_wordpiece_config_t config;
    bool strip;
    int cls, sep, unk, pad;
};

#define S_FNV_OFFSET 0xCBF29CE484222325ULL
#define S_FNV_PRIME 0x100000001B3ULL

static uint64_t
s_fnv (uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) s [i];
        h *= S_FNV_PRIME;
    }
    return h;
}

//  Id of prefix ("##" or "") + s [0..len), or -1.
static int
s_lookup (const sl_wordpiece_t *self, bool cont, const char *s, size_t len)
{
    uint64_t h = s_fnv (cont ? s_fnv (S_FNV_OFFSET, "##", 2) : S_FNV_OFFSET, s, len);
    size_t total = len + (cont ? 2 : 0);
    for (size_t i = (size_t) (h ^ (h >> 32)) & self->mask;; i = (i + 1) & self->mask) {
        const s_slot_t *slot = &self->slots [i];
        if (slot->id < 0)
            return -1;
        if (slot->hash == h && slot->len == total) {
            const char *token = self->pool + slot->off;
            if ((!cont || (token [0] == '#' && token [1] == '#'))
            &&  memcmp (token + (cont ? 2 : 0), s, len) == 0)
                return slot->id;
        }
    }
}

void
sl_wordpiece_config_default (sl_wordpiece_config_t *config)
{
    assert (config);
    memset (config, 0, sizeof *config);
    config->lower_case = true;
    config->strip_accents = -1;
    config->chinese_chars = true;
    snprintf (config->unk, sizeof config->unk, "[UNK]");
    snprintf (config->cls, sizeof config->cls, "[CLS]");
    snprintf (config->sep, sizeof config->sep, "[SEP]");
    snprintf (config->pad, sizeof config->pad, "[PAD]");
}

sl_wordpiece_t *
sl_wordpiece_new (const char *vocab_path, const sl_wordpiece_config_t *config,
                  char *err, size_t errlen)
{
    assert (vocab_path);
    assert (err && errlen);
    sl_wordpiece_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (config)
        self->config = *config;
    else
        sl_wordpiece_config_default (&self->config);
    self->strip = self->config.lower_case ? self->config.strip_accents != 0
                                          : self->config.strip_accents == 1;
    FILE *file = fopen (vocab_path, "rb");
    struct stat st;
    if (!file || fstat (fileno (file), &st) || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "%s: %s", vocab_path, file ? "not a regular file" : strerror (errno));
        goto fail;
    }
    if (st.st_size > S_MAX_VOCAB_BYTES) {
        snprintf (err, errlen, "%s: %lld bytes is too big for a vocabulary", vocab_path,
                  (long long) st.st_size);
        goto fail;
    }
    size_t size = (size_t) st.st_size;
    self->pool = malloc (size + 1);
    if (!self->pool || fread (self->pool, 1, size, file) != size) {
        snprintf (err, errlen, "%s: can't read the vocabulary", vocab_path);
        goto fail;
    }
    fclose (file);
    file = NULL;
    self->pool [size] = 0;

    //  Lines as Python's readlines() in text mode sees them: \n, \r\n and
    //  lone \r all end a line; a last line without a newline still counts.
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        if (self->pool [i] == '\n' || (self->pool [i] == '\r' && self->pool [i + 1] != '\n'))
            lines++;
    if (size && self->pool [size - 1] != '\n' && self->pool [size - 1] != '\r')
        lines++;
    size_t cap = 16;
    while (cap < lines * 2)
        cap *= 2;
    self->token_off = malloc ((lines + 1) * sizeof *self->token_off);
    self->slots = malloc (cap * sizeof *self->slots);
    if (!self->token_off || !self->slots) {
        snprintf (err, errlen, "%s: out of memory for %zu tokens", vocab_path, lines);
        goto fail;
    }
    for (size_t i = 0; i < cap; i++)
        self->slots [i].id = -1;
    self->mask = cap - 1;
    size_t start = 0;
    for (size_t i = 0; i <= size && (size_t) self->ntokens < lines; i++) {
        char c = self->pool [i];
        if (i < size && c != '\n' && c != '\r')
            continue;
        size_t len = i - start;
        self->pool [i] = 0;
        if (c == '\r' && i + 1 < size && self->pool [i + 1] == '\n')
            self->pool [++i] = 0;
        int id = self->ntokens++;
        self->token_off [id] = (uint32_t) start;
        if (len > self->max_len)
            self->max_len = len;
        //  a repeated token maps to its last line, as in HF's dict
        uint64_t h = s_fnv (S_FNV_OFFSET, self->pool + start, len);
        size_t j = (size_t) (h ^ (h >> 32)) & self->mask;
        while (self->slots [j].id >= 0
            && !(self->slots [j].hash == h && self->slots [j].len == len
                 && memcmp (self->pool + self->slots [j].off, self->pool + start, len) == 0))
            j = (j + 1) & self->mask;
        self->slots [j] = (s_slot_t) { h, (uint32_t) start, (uint32_t) len, id };
        start = i + 1;
    }
    const char *names [4] = { self->config.cls, self->config.sep, self->config.unk, self->config.pad };
    int *ids [4] = { &self->cls, &self->sep, &self->unk, &self->pad };
    for (int k = 0; k < 4; k++) {
        *ids [k] = sl_wordpiece_id (self, names [k]);
        if (*ids [k] < 0) {
            snprintf (err, errlen, "%s: special token '%s' is not in the vocabulary", vocab_path,
                      names [k]);
            goto fail;
        }
    }
    return self;
fail:
    if (file)
        fclose (file);
    sl_wordpiece_destroy (&self);
    return NULL;
}

void
sl_wordpiece_destroy (sl_wordpiece_t **self_p)
{
    assert (self_p);
    sl_wordpiece_t *self = *self_p;
    if (self) {
        free (self->pool);
        free (self->token_off);
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

int
sl_wordpiece_vocab_size (sl_wordpiece_t *self)
{
    assert (self);
    return self->ntokens;
}

int
sl_wordpiece_id (sl_wordpiece_t *self, const char *token)
{
    assert (self && token);
    return s_lookup (self, false, token, strlen (token));
}

const char *
sl_wordpiece_token (sl_wordpiece_t *self, int id)
{
    assert (self);
    return id >= 0 && id < self->ntokens ? self->pool + self->token_off [id] : NULL;
}

int sl_wordpiece_cls (sl_wordpiece_t *self) { assert (self); return self->cls; }
int sl_wordpiece_sep (sl_wordpiece_t *self) { assert (self); return self->sep; }
int sl_wordpiece_unk (sl_wordpiece_t *self) { assert (self); return self->unk; }
int sl_wordpiece_pad (sl_wordpiece_t *self) { assert (self); return self->pad; }

//  --------------------------------------------------------------------------
//  Character classes, as HF's tokenization_bert.py and CPython define them

//  Dropped by _clean_text: NUL, U+FFFD and categories C* (but \t \n \r)
static bool
s_is_removed (int32_t cp, utf8proc_category_t cat)
{
    if (cp == 0 || cp == 0xFFFD)
        return true;
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return false;
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN
        || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

//  Word separators: HF's _is_whitespace (space, \t \n \r, Zs) plus what
//  Python's str.split() also splits on and _clean_text keeps (Zl, Zp)
static bool
s_is_space (int32_t cp, utf8proc_category_t cat)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UTF8PROC_CATEGORY_ZS
        || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static bool
s_is_cjk (int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F)
        || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool
s_is_punct (int32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96)
    ||  (cp >= 123 && cp <= 126))
        return true;
    if (cp < 128)
        return false;
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

//  Unicode Case_Ignorable: Mn Me Cf Lm Sk, and Word_Break MidLetter,
//  MidNumLet or Single_Quote (listed: utf8proc has no word-break table)
static bool
s_is_case_ignorable (int32_t cp)
{
    switch (cp) {
        case 0x5E: case 0x60:           //  ^ and ` are Sk
        case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
        case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
        case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
            return true;
    }
    if (cp < 128)
        return false;
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF
        || cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

//  Unicode Cased: Lu Ll Lt, or anything with a case mapping (which covers
//  most of Other_Lowercase / Other_Uppercase, e.g. circled letters), or
//  the ordinal indicators ª º (Other_Lowercase without a mapping; the
//  rest of that set is Lm, which is case-ignorable and so never asked)
static bool
s_is_cased (int32_t cp)
{
    if (cp < 128)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (cp == 0xAA || cp == 0xBA)
        return true;
    utf8proc_category_t cat = utf8proc_category (cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT
        || utf8proc_tolower (cp) != cp || utf8proc_toupper (cp) != cp;
}

//  Decode one code point at text [*i]; advances *i. Invalid UTF-8 gives
//  U+FFFD (which cleaning drops) and skips one byte.
static int32_t
s_next (const char *text, size_t len, size_t *i)
{
    unsigned char c = (unsigned char) text [*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + *i,
                                           (utf8proc_ssize_t) (len - *i), &cp);
    if (n <= 0) {
        (*i)++;
        return 0xFFFD;
    }
    *i += (size_t) n;
    return cp;
}

//  --------------------------------------------------------------------------
//  Encoding

typedef struct {
    const sl_wordpiece_t *wp;
    int32_t *ids;
    size_t max_ids, count;
    bool count_all, done;
    int nchars;                                 //  may exceed S_MAX_WORD_CHARS (then [UNK])
    uint16_t offs [S_MAX_WORD_CHARS + 1];       //  byte offset of each character
    char word [S_MAX_WORD_CHARS * 4];
} s_enc_t;

static void
s_emit (s_enc_t *e, int id)
{
    if (e->count < e->max_ids)
        e->ids [e->count] = id;
    e->count++;
    if (!e->count_all && e->count >= e->max_ids)
        e->done = true;
}

//  WordPiece the current word and start a new one.
static void
s_flush (s_enc_t *e)
{
    int n = e->nchars;
    if (n == 0)
        return;
    e->nchars = 0;
    const sl_wordpiece_t *wp = e->wp;
    if (n > S_MAX_WORD_CHARS) {
        s_emit (e, wp->unk);
        return;
    }
    int pieces [S_MAX_WORD_CHARS];
    int npieces = 0, start = 0;
    while (start < n) {
        int end = n, found = -1;
        while (start < end) {
            size_t bytes = (size_t) (e->offs [end] - e->offs [start]);
            if (bytes + (start ? 2 : 0) <= wp->max_len) {
                found = s_lookup (wp, start > 0, e->word + e->offs [start], bytes);
                if (found >= 0)
                    break;
            }
            end--;
        }
        if (found < 0) {                //  an unmatchable part: the whole word is [UNK]
            s_emit (e, wp->unk);
            return;
        }
        pieces [npieces++] = found;
        start = end;
    }
    for (int i = 0; i < npieces && !e->done; i++)
        s_emit (e, pieces [i]);
}

//  Add one (already lower-cased / stripped) character to the word; a
//  punctuation character is a word of its own.
static void
s_add (s_enc_t *e, int32_t cp)
{
    bool punct = s_is_punct (cp);
    if (punct)
        s_flush (e);
    if (e->nchars < S_MAX_WORD_CHARS) {
        int at = e->offs [e->nchars];
        e->offs [e->nchars + 1] = (uint16_t) (at + utf8proc_encode_char (cp, (utf8proc_uint8_t *) e->word + at));
    }
    e->nchars++;
    if (punct)
        s_flush (e);
}

//  Lower-case (with its special cases) and strip accents, then add.
static void
s_add_transformed (s_enc_t *e, int32_t cp, bool final_sigma)
{
    const sl_wordpiece_t *wp = e->wp;
    int32_t lowered [2] = { cp, 0 };
    int nl = 1;
    if (wp->config.lower_case) {
        if (cp == 0x130) {              //  İ -> i + combining dot above (SpecialCasing)
            lowered [0] = 'i';
            lowered [1] = 0x307;
            nl = 2;
        }
        else
        if (cp == 0x3A3)
            lowered [0] = final_sigma ? 0x3C2 : 0x3C3;
        else
            lowered [0] = utf8proc_tolower (cp);
    }
    for (int k = 0; k < nl; k++) {
        if (!wp->strip) {
            s_add (e, lowered [k]);
            continue;
        }
        utf8proc_int32_t decomposed [32];
        int last_boundclass = 0;
        utf8proc_ssize_t nd = utf8proc_decompose_char (lowered [k], decomposed, 32,
                                                       UTF8PROC_DECOMPOSE, &last_boundclass);
        if (nd <= 0 || nd > 32) {       //  can't happen for canonical decompositions
            s_add (e, lowered [k]);
            continue;
        }
        for (utf8proc_ssize_t d = 0; d < nd; d++)
            if (utf8proc_category (decomposed [d]) != UTF8PROC_CATEGORY_MN)
                s_add (e, decomposed [d]);
    }
}

//  Is a cased letter next in this token (case-ignorables skipped)?
static bool
s_cased_follows (const sl_wordpiece_t *wp, const char *text, size_t len, size_t i)
{
    while (i < len) {
        int32_t cp = s_next (text, len, &i);
        utf8proc_category_t cat = cp < 128 ? 0 : utf8proc_category (cp);
        if (cp < 128 && ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7F))
            continue;                   //  ASCII controls are cleaned away
        if (cp >= 128 && s_is_removed (cp, cat))
            continue;
        if (s_is_space (cp, cat) || (wp->config.chinese_chars && s_is_cjk (cp)))
            return false;
        if (!s_is_case_ignorable (cp))
            return s_is_cased (cp);
    }
    return false;
}

size_t
sl_wordpiece_encode (sl_wordpiece_t *self, const char *text, size_t len,
                     int32_t *ids, size_t max_ids, bool count_all)
{
    assert (self);
    assert (text || len == 0);
    assert (ids || max_ids == 0);
    s_enc_t e;
    e.wp = self;
    e.ids = ids;
    e.max_ids = max_ids;
    e.count = 0;
    e.count_all = count_all;
    e.done = !count_all && max_ids == 0;
    e.nchars = 0;
    e.offs [0] = 0;
    bool lower = self->config.lower_case;
    bool prev_cased = false;            //  final-sigma context within the token
    size_t i = 0;
    while (i < len && !e.done) {
        unsigned char c = (unsigned char) text [i];
        if (c < 0x80) {                 //  ASCII: no table look-ups
            i++;
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                s_add (&e, c);
                prev_cased = c >= 'a';
            }
            else
            if (c >= 'A' && c <= 'Z') {
                s_add (&e, lower ? c + 32 : c);
                prev_cased = true;
            }
            else
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                s_flush (&e);
                prev_cased = false;
            }
            else
            if (c > 0x20 && c < 0x7F) {     //  the rest of printable ASCII is punctuation
                s_add (&e, c);
                if (!s_is_case_ignorable (c))
                    prev_cased = false;
            }
            //  else: a control character, dropped without splitting the word
            continue;
        }
        int32_t cp = s_next (text, len, &i);
        utf8proc_category_t cat = utf8proc_category (cp);
        if (s_is_removed (cp, cat))
            continue;
        if (s_is_space (cp, cat)) {
            s_flush (&e);
            prev_cased = false;
            continue;
        }
        if (self->config.chinese_chars && s_is_cjk (cp)) {
            s_flush (&e);
            s_add_transformed (&e, cp, false);
            s_flush (&e);
            prev_cased = false;
            continue;
        }
        bool final_sigma = lower && cp == 0x3A3 && prev_cased
                        && !s_cased_follows (self, text, len, i);
        if (!s_is_case_ignorable (cp))
            prev_cased = s_is_cased (cp);
        s_add_transformed (&e, cp, final_sigma);
    }
    if (!e.done)
        s_flush (&e);
    return count_all ? e.count : (e.count < max_ids ? e.count : max_ids);
}
