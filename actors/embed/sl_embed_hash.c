/*  sl_embed_hash: the "hash" embedding provider (see sl_embedder.h).

    A text becomes a vector in four steps:
    1. Normalise: invalid UTF-8 -> U+FFFD, then NFKC + casefold (utf8proc),
       so "Café", "CAFE\u0301" and "café" are one word, and "ﬁle" is "file".
    2. Words: runs of letters, digits and combining marks; each Han or kana
       character is a word of its own (those scripts use no spaces, so
       character unigrams + bigrams are the usual index terms).
    3. Features: every word and every adjacent word pair, hashed with 64-bit
       FNV-1a plus a splitmix64 finaliser (fixed, not per-process random, so
       vectors are the same in every process). The low bits pick one of
       `buckets` slots, the top bit a sign (so collisions cancel instead of
       piling up). A feature seen tf times adds 1 + ln(tf): repetition counts,
       but sublinearly.
    4. Project: the text's buckets-long feature row times a fixed
       buckets x dim Gaussian matrix (splitmix64 + Box-Muller from `seed`),
       then L2-normalise. A random projection keeps cosines
       (Johnson-Lindenstrauss), so texts sharing words and phrases stay
       close in the smaller space. The row is sparse (a chunk of 200 words
       touches about 400 of 4096 buckets), so the product is a sum of the
       touched buckets' matrix rows, weighted: a tenth of the work of the
       dense sgemm it replaced, with the same result up to the order of
       float additions.

    The projection matrix is the only state; it is built once and read-only
    afterwards, so embed and count_tokens are thread-safe. Vectors are
    bit-identical across runs on one machine; another CPU's BLAS kernel may
    sum in another order and differ in the last bits, which never matters
    for cosine ranking.
*/
#include "sl_embedder.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>


typedef struct {
    int dim, buckets;
    uint64_t seed;
    float *proj;                //  buckets x dim, row-major
} s_hash_t;

static uint64_t
s_splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  splitmix64's finaliser: FNV-1a's low bits are weak, and we use them.
static uint64_t
s_mix64 (uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define S_FNV_OFFSET 0xCBF29CE484222325ULL
#define S_FNV_PRIME 0x100000001B3ULL

static uint64_t
s_fnv1a (uint64_t h, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) data [i];
        h *= S_FNV_PRIME;
    }
    return h;
}

static bool
s_is_cjk (int32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF)
        || (cp >= 0x31F0 && cp <= 0x31FF)
        || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x4E00 && cp <= 0x9FFF)
        || (cp >= 0xF900 && cp <= 0xFAFF)
        || (cp >= 0x20000 && cp <= 0x2FA1F);
}

//  0: not part of a word, 1: word character, 2: combining mark (continues a
//  word, starts none), 3: a word by itself (CJK)
static int
s_char_class (int32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'))
            return 1;
        return 0;
    }
    if (s_is_cjk (cp))
        return 3;
    switch (utf8proc_category (cp)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
            return 1;
        case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
            return 2;
        default:
            return 0;
    }
}

//  Calls fn (arg, start, len) for each word of text (valid or not: invalid
//  bytes are separators). Returns the number of words.
typedef void (s_word_fn) (void *arg, const char *word, size_t len);

static size_t
s_words (const char *text, size_t len, s_word_fn *fn, void *arg)
{
    size_t words = 0, i = 0, start = 0;
    bool in_word = false;
    while (i < len) {
        int32_t cp;
        size_t n = 1;
        unsigned char c = (unsigned char) text [i];
        if (c < 0x80)
            cp = c;
        else {
            utf8proc_ssize_t r = utf8proc_iterate ((const utf8proc_uint8_t *) text + i,
                                                   (utf8proc_ssize_t) (len - i), &cp);
            if (r <= 0)
                cp = 0xFFFD;
            else
                n = (size_t) r;
        }
        int cls = s_char_class (cp);
        if (in_word && (cls == 0 || cls == 3)) {
            if (fn)
                fn (arg, text + start, i - start);
            in_word = false;
        }
        if (cls == 3) {
            if (fn)
                fn (arg, text + i, n);
            words++;
        }
        else
        if (cls == 1 && !in_word) {
            in_word = true;
            start = i;
            words++;
        }
        i += n;
    }
    if (in_word && fn)
        fn (arg, text + start, len - start);
    return words;
}

//  --------------------------------------------------------------------------
//  Features of one text

typedef struct {
    uint64_t *features;
    size_t n, cap;
    uint64_t prev;              //  FNV state after the previous word + separator
    bool have_prev;
    bool failed;
} s_features_t;

static void
s_add_feature (s_features_t *f, uint64_t h)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        uint64_t *grown = realloc (f->features, cap * sizeof *grown);
        if (!grown) {
            f->failed = true;
            return;
        }
        f->features = grown;
        f->cap = cap;
    }
    f->features [f->n++] = s_mix64 (h);
}

static void
s_on_word (void *arg, const char *word, size_t len)
{
    s_features_t *f = arg;
    s_add_feature (f, s_fnv1a (S_FNV_OFFSET, word, len));
    //  the pair "a b" hashes a, 0x01, b: words never hold 0x01, so pairs and
    //  single words live in different spaces
    if (f->have_prev)
        s_add_feature (f, s_fnv1a (f->prev, word, len));
    f->prev = s_fnv1a (s_fnv1a (S_FNV_OFFSET, word, len), "\x01", 1);
    f->have_prev = true;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

//  Copy text with invalid UTF-8 sequences replaced by U+FFFD (utf8proc
//  refuses invalid input). Returns NULL if the text was valid already.
static char *
s_repair (const char *text, size_t len, size_t *len_p, bool *failed)
{
    size_t i = 0;
    bool valid = true;
    while (i < len && valid) {
        if ((unsigned char) text [i] < 0x80) {
            i++;
            continue;
        }
        int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + i,
                                               (utf8proc_ssize_t) (len - i), &cp);
        if (n <= 0)
            valid = false;
        else
            i += (size_t) n;
    }
    if (valid)
        return NULL;
    char *out = sl_embed_utf8_repair (text, len, len_p);
    if (!out)
        *failed = true;
    return out;
}

//  Fill row (buckets floats, zeroed) with the weighted features of text,
//  and touched (room for one entry per feature) with the buckets it set,
//  each once; *ntouched gets their count.
static int
s_featurise (s_hash_t *self, const char *text, size_t len, float *row, uint32_t **touched,
             size_t *ntouched)
{
    bool failed = false;
    size_t fixed_len = 0;
    char *fixed = s_repair (text, len, &fixed_len, &failed);
    if (failed)
        return -1;
    if (fixed) {
        text = fixed;
        len = fixed_len;
    }
    //  NFKC + casefold; ASCII needs only lowercasing
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char) text [i] < 0x80;
    char *norm = NULL;
    size_t norm_len = 0;
    if (ascii) {
        norm = malloc (len + 1);
        if (norm) {
            for (size_t i = 0; i < len; i++) {
                char c = text [i];
                norm [i] = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            norm_len = len;
        }
    }
    else {
        utf8proc_uint8_t *mapped = NULL;
        utf8proc_ssize_t n = utf8proc_map ((const utf8proc_uint8_t *) text, (utf8proc_ssize_t) len,
                                           &mapped, UTF8PROC_STABLE | UTF8PROC_COMPOSE
                                           | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
        if (n >= 0) {
            norm = (char *) mapped;
            norm_len = (size_t) n;
        }
        else
            free (mapped);
    }
    free (fixed);
    if (!norm)
        return -1;

    s_features_t f = { 0 };
    s_words (norm, norm_len, s_on_word, &f);
    free (norm);
    if (f.failed) {
        free (f.features);
        return -1;
    }
    //  sort so equal features are adjacent: that gives each one's tf
    if (f.n > 1)
        qsort (f.features, f.n, sizeof *f.features, s_cmp_u64);
    //  the buckets listed as a byte map would cost a pass over all of them
    //  per text; a list as long as the features is enough
    uint32_t *list = f.n ? malloc (f.n * sizeof *list) : NULL;
    if (f.n && !list) {
        free (f.features);
        return -1;
    }
    size_t i = 0, count = 0;
    while (i < f.n) {
        size_t j = i + 1;
        while (j < f.n && f.features [j] == f.features [i])
            j++;
        uint64_t h = f.features [i];
        float weight = (float) (1.0 + log ((double) (j - i)));
        uint32_t bucket = (uint32_t) (h % (uint64_t) self->buckets);
        bool fresh = row [bucket] == 0;
        row [bucket] += (h >> 63) ? -weight : weight;
        if (fresh)
            list [count++] = bucket;
        i = j;
    }
    free (f.features);
    *touched = list;
    *ntouched = count;
    return 0;
}

//  --------------------------------------------------------------------------
//  Provider functions

typedef struct {
    long long dim, buckets, seed;
} s_hash_opts_t;

static int
s_on_option (void *arg, const char *key, const char *value, char *err, size_t errlen)
{
    s_hash_opts_t *o = arg;
    if (strcmp (key, "dim") == 0)
        return sl_embed_option_int (key, value, 1, 4096, &o->dim, err, errlen);
    if (strcmp (key, "buckets") == 0)
        return sl_embed_option_int (key, value, 16, 1 << 20, &o->buckets, err, errlen);
    if (strcmp (key, "seed") == 0)
        return sl_embed_option_int (key, value, 0, INT64_MAX, &o->seed, err, errlen);
    snprintf (err, errlen, "hash provider: unknown option '%s' (known: dim, buckets, seed)", key);
    return -1;
}

static void *
s_hash_open (const char *options, sl_embed_info_t *info, char *err, size_t errlen)
{
    s_hash_opts_t o = { 384, 4096, 42 };
    if (sl_embed_options_parse (options, s_on_option, &o, err, errlen))
        return NULL;
    //  the matrix must stay reasonable: 4096 x 4096 floats is 64 MB
    if (o.dim * o.buckets > (1LL << 24)) {
        snprintf (err, errlen, "hash provider: buckets x dim = %lld x %lld is too big (max 16M floats)",
                  o.buckets, o.dim);
        return NULL;
    }
    s_hash_t *self = calloc (1, sizeof *self);
    if (self)
        self->proj = malloc ((size_t) (o.dim * o.buckets) * sizeof (float));
    if (!self || !self->proj) {
        free (self);
        snprintf (err, errlen, "hash provider: out of memory for the projection matrix");
        return NULL;
    }
    self->dim = (int) o.dim;
    self->buckets = (int) o.buckets;
    self->seed = (uint64_t) o.seed;
    //  Box-Muller in double, rounded to float: the same bits on any machine
    //  with IEEE doubles and a faithful libm
    uint64_t state = self->seed;
    size_t total = (size_t) (o.dim * o.buckets);
    for (size_t i = 0; i < total; i += 2) {
        double u1 = (double) ((s_splitmix64 (&state) >> 11) + 1) * 0x1.0p-53;   //  (0, 1]
        double u2 = (double) (s_splitmix64 (&state) >> 11) * 0x1.0p-53;         //  [0, 1)
        double r = sqrt (-2.0 * log (u1));
        self->proj [i] = (float) (r * cos (2.0 * M_PI * u2));
        if (i + 1 < total)
            self->proj [i + 1] = (float) (r * sin (2.0 * M_PI * u2));
    }
    info->dim = self->dim;
    info->max_tokens = 0;
    //  A few microseconds of saxpy per text: a cache read and write in the
    //  store would cost more than they save
    info->uncached = true;
    snprintf (info->model_id, sizeof info->model_id, "hash-v1:b%d:d%d:s%llu",
              self->buckets, self->dim, (unsigned long long) self->seed);
    return self;
}

static void
s_hash_close (void *state)
{
    s_hash_t *self = state;
    if (self) {
        free (self->proj);
        free (self);
    }
}

static size_t
s_hash_count_tokens (void *state, const char *text, size_t len)
{
    return s_words (text, len, NULL, NULL);
}

//  One text: the weighted sum of the matrix rows of the buckets it
//  touched, L2-normalised. row is buckets zeroed floats, left zeroed.
static int
s_embed_one (s_hash_t *self, const char *text, size_t len, float *row, float *v)
{
    uint32_t *touched = NULL;
    size_t ntouched = 0;
    if (s_featurise (self, text, len, row, &touched, &ntouched))
        return -1;
    memset (v, 0, (size_t) self->dim * sizeof *v);
    for (size_t t = 0; t < ntouched; t++) {
        uint32_t b = touched [t];
        //  a bucket whose features cancelled out adds nothing
        if (row [b] != 0)
            cblas_saxpy (self->dim, row [b], self->proj + (size_t) b * (size_t) self->dim, 1, v, 1);
        row [b] = 0;
    }
    free (touched);
    double sum = 0;
    for (int k = 0; k < self->dim; k++)
        sum += (double) v [k] * v [k];
    if (sum > 0) {
        float scale = (float) (1.0 / sqrt (sum));
        for (int k = 0; k < self->dim; k++)
            v [k] *= scale;
    }
    else
        memset (v, 0, (size_t) self->dim * sizeof *v);  //  no features: zero, not NaN
    return 0;
}

static int
s_hash_embed (void *state, const char **texts, const size_t *lens, int n, float *out,
              char *err, size_t errlen)
{
    s_hash_t *self = state;
    float *row = calloc ((size_t) self->buckets, sizeof *row);
    if (!row) {
        snprintf (err, errlen, "hash provider: out of memory for a feature row");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *text = texts [i] ? texts [i] : "";
        size_t len = texts [i] ? lens [i] : 0;
        if (s_embed_one (self, text, len, row, out + (size_t) i * (size_t) self->dim)) {
            snprintf (err, errlen, "hash provider: out of memory featurising text %d", i);
            rc = -1;
        }
    }
    free (row);
    return rc;
}

const sl_embed_provider_t sl_embed_hash_provider = {
    .name = "hash",
    .open = s_hash_open,
    .close = s_hash_close,
    .count_tokens = s_hash_count_tokens,
    .embed = s_hash_embed,
};
