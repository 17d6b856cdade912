/*  sl_use_tokenizer: USE-lite's SentencePiece-style tokenizer. See
    sl_use_tokenizer.h for what it computes and why the quirks stay.

    The trie is a hash table of edges keyed by (node, code point), so a
    lookup is one probe whatever the alphabet, and the whole trie is three
    flat arrays built once. Encoding relaxes the lattice forward, start
    position by start position: for each end position the candidates then
    arrive in increasing start order, which is the order the JavaScript
    loops (end outer, start inner) visit them, so ties resolve the same way.
*/
#include "sl_use_tokenizer.h"
#include "sl_embedder.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define S_RESERVED 6                    //  ids 0..5 never match (0 = unknown)
#define S_SEPARATOR 0x2581              //  LOWER ONE EIGHTH BLOCK, SentencePiece's space
#define S_MAX_VOCAB_FILE (64u << 20)
#define S_MAX_PIECES 1000000

struct sl_use_tokenizer_s {
    int pieces;
    uint8_t *u16len;            //  per id: length in UTF-16 units (backward step)
    //  trie nodes (0 = root)
    int32_t *node_piece;        //  piece id ending here, or -1
    double *node_score;
    int nodes, node_cap;
    //  trie edges: open addressing, key = (node << 21 | cp) + 1, 0 = empty
    uint64_t *edge_key;
    int32_t *edge_child;
    size_t edge_mask;
    char digest [SL_SHA256_HEX];
};

static uint64_t
s_mix (uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline int32_t
s_child (const sl_use_tokenizer_t *self, int32_t node, int32_t cp)
{
    uint64_t key = (((uint64_t) node << 21) | (uint64_t) cp) + 1;
    size_t slot = (size_t) s_mix (key) & self->edge_mask;
    while (self->edge_key [slot]) {
        if (self->edge_key [slot] == key)
            return self->edge_child [slot];
        slot = (slot + 1) & self->edge_mask;
    }
    return -1;
}

static int32_t
s_add_child (sl_use_tokenizer_t *self, int32_t node, int32_t cp)
{
    uint64_t key = (((uint64_t) node << 21) | (uint64_t) cp) + 1;
    size_t slot = (size_t) s_mix (key) & self->edge_mask;
    while (self->edge_key [slot]) {
        if (self->edge_key [slot] == key)
            return self->edge_child [slot];
        slot = (slot + 1) & self->edge_mask;
    }
    assert (self->nodes < self->node_cap);     //  sized from the code point total
    int32_t child = self->nodes++;
    self->node_piece [child] = -1;
    self->node_score [child] = 0;
    self->edge_key [slot] = key;
    self->edge_child [slot] = child;
    return child;
}

void
sl_use_tokenizer_destroy (sl_use_tokenizer_t **self_p)
{
    assert (self_p);
    sl_use_tokenizer_t *self = *self_p;
    if (self) {
        free (self->u16len);
        free (self->node_piece);
        free (self->node_score);
        free (self->edge_key);
        free (self->edge_child);
        free (self);
        *self_p = NULL;
    }
}

static char *
s_slurp (const char *path, size_t *size_p, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || (uint64_t) st.st_size > S_MAX_VOCAB_FILE) {
        snprintf (err, errlen, "%s is not a regular file of at most %u bytes", path, S_MAX_VOCAB_FILE);
        close (fd);
        return NULL;
    }
    size_t size = (size_t) st.st_size, got = 0;
    char *buf = malloc (size + 1);
    while (buf && got < size) {
        ssize_t n = read (fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    if (!buf || got != size) {
        snprintf (err, errlen, "cannot read %s", path);
        free (buf);
        return NULL;
    }
    buf [size] = 0;
    *size_p = size;
    return buf;
}

sl_use_tokenizer_t *
sl_use_tokenizer_new (const char *vocab_path, char *err, size_t errlen)
{
    assert (vocab_path);
    assert (err && errlen);
    size_t size = 0;
    char *text = s_slurp (vocab_path, &size, err, errlen);
    if (!text)
        return NULL;
    sl_use_tokenizer_t *self = calloc (1, sizeof *self);
    if (!self) {
        free (text);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    sl_sha256_hex (text, size, self->digest);
    json_error_t jerr;
    json_t *root = json_loadb (text, size, 0, &jerr);
    free (text);
    if (!root) {
        snprintf (err, errlen, "%s is not valid JSON (line %d: %s)", vocab_path, jerr.line, jerr.text);
        sl_use_tokenizer_destroy (&self);
        return NULL;
    }
    size_t n = json_is_array (root) ? json_array_size (root) : 0;
    if (n <= S_RESERVED || n > S_MAX_PIECES) {
        snprintf (err, errlen, "%s is not a vocabulary: expected a list of %d to %d [piece, score] "
                  "pairs", vocab_path, S_RESERVED + 1, S_MAX_PIECES);
        json_decref (root);
        sl_use_tokenizer_destroy (&self);
        return NULL;
    }
    //  Check every entry and count code points: that bounds the trie
    size_t total_cps = 0;
    self->u16len = calloc (n, 1);
    for (size_t i = 0; i < n && self->u16len; i++) {
        json_t *pair = json_array_get (root, i);
        json_t *piece = json_is_array (pair) && json_array_size (pair) >= 2 ? json_array_get (pair, 0) : NULL;
        json_t *score = piece ? json_array_get (pair, 1) : NULL;
        if (!json_is_string (piece) || !(json_is_number (score) || json_is_null (score))) {
            snprintf (err, errlen, "%s: entry %zu is not a [piece, score] pair (a string and a "
                      "number or null)", vocab_path, i);
            json_decref (root);
            sl_use_tokenizer_destroy (&self);
            return NULL;
        }
        const utf8proc_uint8_t *s = (const utf8proc_uint8_t *) json_string_value (piece);
        utf8proc_ssize_t len = (utf8proc_ssize_t) json_string_length (piece), at = 0;
        size_t cps = 0, units = 0;
        while (at < len) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t step = utf8proc_iterate (s + at, len - at, &cp);
            if (step <= 0) {
                snprintf (err, errlen, "%s: piece %zu is not valid UTF-8", vocab_path, i);
                json_decref (root);
                sl_use_tokenizer_destroy (&self);
                return NULL;
            }
            at += step;
            cps++;
            units += cp > 0xFFFF ? 2 : 1;
        }
        if (units > 255) {
            snprintf (err, errlen, "%s: piece %zu is longer than 255 characters", vocab_path, i);
            json_decref (root);
            sl_use_tokenizer_destroy (&self);
            return NULL;
        }
        self->u16len [i] = (uint8_t) units;
        if (i >= S_RESERVED)
            total_cps += cps;
    }
    self->pieces = (int) n;
    self->node_cap = (int) total_cps + 1;
    size_t slots = 16;
    while (slots < 2 * (total_cps + 1))
        slots *= 2;
    self->edge_mask = slots - 1;
    self->node_piece = self->u16len ? malloc ((size_t) self->node_cap * sizeof *self->node_piece) : NULL;
    self->node_score = self->node_piece ? malloc ((size_t) self->node_cap * sizeof *self->node_score) : NULL;
    self->edge_key = self->node_score ? calloc (slots, sizeof *self->edge_key) : NULL;
    self->edge_child = self->edge_key ? malloc (slots * sizeof *self->edge_child) : NULL;
    if (!self->edge_child) {
        snprintf (err, errlen, "out of memory for the vocabulary");
        json_decref (root);
        sl_use_tokenizer_destroy (&self);
        return NULL;
    }
    self->nodes = 1;
    self->node_piece [0] = -1;
    self->node_score [0] = 0;
    //  Insert in order: a piece listed twice ends at the same node, and the
    //  later entry overwrites the earlier, as in the JavaScript trie
    for (size_t i = S_RESERVED; i < n; i++) {
        json_t *pair = json_array_get (root, i);
        json_t *piece = json_array_get (pair, 0), *score = json_array_get (pair, 1);
        const utf8proc_uint8_t *s = (const utf8proc_uint8_t *) json_string_value (piece);
        utf8proc_ssize_t len = (utf8proc_ssize_t) json_string_length (piece), at = 0;
        int32_t node = 0;
        while (at < len) {
            utf8proc_int32_t cp;
            at += utf8proc_iterate (s + at, len - at, &cp);
            node = s_add_child (self, node, cp);
        }
        if (node != 0) {
            self->node_piece [node] = (int32_t) i;
            self->node_score [node] = json_is_null (score) ? 0.0 : json_number_value (score);
        }
    }
    json_decref (root);
    return self;
}

int
sl_use_tokenizer_size (sl_use_tokenizer_t *self)
{
    assert (self);
    return self->pieces;
}

const char *
sl_use_tokenizer_digest (sl_use_tokenizer_t *self)
{
    assert (self);
    return self->digest;
}

//  Copy of text with each invalid UTF-8 sequence replaced by U+FFFD.
static char *
s_repair (const char *text, size_t len, size_t *len_p)
{
    return sl_embed_utf8_repair (text, len, len_p);
}

long
sl_use_tokenizer_encode (sl_use_tokenizer_t *self, const char *text, size_t len,
                         int32_t *ids, size_t max_ids)
{
    assert (self);
    assert (text || len == 0);
    assert (ids || max_ids == 0);
    //  1. NFKC. ASCII is its own NFKC form, and most chunks are ASCII.
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char) text [i] < 0x80;
    const char *norm = text;
    size_t norm_len = len;
    utf8proc_uint8_t *mapped = NULL;
    if (!ascii) {
        size_t fixed_len = 0;
        char *fixed = s_repair (text, len, &fixed_len);
        if (!fixed)
            return -1;
        utf8proc_ssize_t n = utf8proc_map ((const utf8proc_uint8_t *) fixed, (utf8proc_ssize_t) fixed_len,
                                           &mapped, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        free (fixed);
        if (n < 0)
            return -1;          //  valid input, so only out of memory
        norm = (const char *) mapped;
        norm_len = (size_t) n;
    }
    //  2. Code points, with the separator in front and for each space
    size_t n = 0;
    for (size_t i = 0; i < norm_len; i++)
        n += ((unsigned char) norm [i] & 0xC0) != 0x80;
    if (n == 0) {
        free (mapped);
        return 0;
    }
    n++;
    size_t scratch = n * sizeof (int32_t) * 3 + (n + 1) * (sizeof (double) + sizeof (int32_t));
    char *mem = malloc (scratch);
    if (!mem) {
        free (mapped);
        return -1;
    }
    double *best = (double *) mem;
    int32_t *words = (int32_t *) (best + n + 1);
    int32_t *symbols = words + n + 1;
    int32_t *results = symbols + n;
    symbols [0] = S_SEPARATOR;
    size_t at = 0;
    for (size_t k = 1; k < n; k++) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate ((const utf8proc_uint8_t *) norm + at,
                                                  (utf8proc_ssize_t) (norm_len - at), &cp);
        assert (step > 0);      //  normalised text is valid UTF-8
        at += (size_t) step;
        symbols [k] = cp == ' ' ? S_SEPARATOR : cp;
    }
    free (mapped);
    //  3. Viterbi, forward. best [p] == 0 means "not set" (JavaScript's test).
    for (size_t k = 0; k <= n; k++) {
        best [k] = 0;
        words [k] = 0;
    }
    for (size_t start = 0; start < n; start++) {
        bool matched = false;
        int32_t node = s_child (self, 0, symbols [start]);
        size_t end = start + 1;
        while (node >= 0) {
            if (self->node_piece [node] >= 0) {
                double score = self->node_score [node] + best [start];
                if (best [end] == 0 || score >= best [end]) {
                    best [end] = score;
                    words [end] = self->node_piece [node];
                }
                matched = true;
            }
            if (end == n)
                break;
            node = s_child (self, node, symbols [end++]);
        }
        if (!matched) {
            double score = 0 + best [start];
            if (best [start + 1] == 0 || score >= best [start + 1]) {
                best [start + 1] = score;
                words [start + 1] = 0;
            }
        }
    }
    //  Backward: from the end, stepping by each piece's UTF-16 length
    size_t count = 0;
    long iter = (long) n;
    while (iter > 0) {
        results [count++] = words [iter];
        int step = self->u16len [words [iter]];
        iter -= step > 0 ? step : 1;
    }
    //  4. Merge runs of unknowns (results are in reverse order)
    size_t merged = 0;
    bool previous_unk = false;
    for (size_t k = 0; k < count; k++) {
        int32_t id = results [k];
        if (!(previous_unk && id == 0))
            results [merged++] = id;
        previous_unk = id == 0;
    }
    for (size_t k = 0; k < merged && k < max_ids; k++)
        ids [k] = results [merged - 1 - k];
    free (mem);
    return (long) merged;
}
