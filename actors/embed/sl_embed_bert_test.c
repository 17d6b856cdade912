/*  sl_embed_bert_test: self-test of the "bert" provider. The committed tiny
    model (tests/fixtures/bert-tiny, made by tools/bert_fixture/make_fixture.py)
    against its torch reference vectors, then variants of it made here:
    dtypes, prefixes, configs, broken files.
*/
#include "sl_embed_bert_internal.h"
#include "sl_matmul.h"
#include "sl_embedder.h"
#include "sl_safetensors.h"
#include "sl_util.h"
#include "sl_wordpiece.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_check.h"

//  --------------------------------------------------------------------------
//  Self-test: the committed tiny model (tests/fixtures/bert-tiny, made by
//  tools/bert_fixture/make_fixture.py) against its torch reference vectors,
//  then variants of it made here: dtypes, prefixes, configs, broken files.

static double
s_cos (const float *a, const float *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < dim; i++) {
        ab += (double) a [i] * b [i];
        aa += (double) a [i] * a [i];
        bb += (double) b [i] * b [i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt (aa * bb) : 0;
}

static void
s_copy (const char *src, const char *dst)
{
    FILE *in = fopen (src, "rb"), *out = fopen (dst, "wb");
    CHECK (in && out);
    char buf [65536];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        CHECK (fwrite (buf, 1, n, out) == n);
    fclose (in);
    CHECK (fclose (out) == 0);
}

//  A model directory: copies of the fixture's files (NULL: leave it out)
static void
s_make_dir (const char *fixture, const char *dir, const char *config, const char *vocab,
            const char *model)
{
    const char *names [3] = { "config.json", "vocab.txt", "model.safetensors" };
    const char *srcs [3] = { config, vocab, model };
    for (int i = 0; i < 3; i++) {
        char dst [512];
        snprintf (dst, sizeof dst, "%s/%s", dir, names [i]);
        unlink (dst);
        if (srcs [i] == NULL)
            continue;
        char src [1024];            //  room for a fixture path of 511
        if (srcs [i] [0] == '/')
            snprintf (src, sizeof src, "%s", srcs [i]);
        else
            snprintf (src, sizeof src, "%s/%s", fixture, srcs [i]);
        s_copy (src, dst);
    }
}

static uint16_t
s_to_half (float f)
{
    uint32_t bits;
    memcpy (&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    int exp = (int) ((bits >> 23) & 0xFF) - 127 + 15;
    if (exp <= 0)
        return (uint16_t) sign;            //  flush tiny values: fine for a test
    uint32_t mant = bits & 0x7FFFFF, h = sign | (uint32_t) exp << 10 | mant >> 13;
    uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t) h;
}

static uint16_t
s_to_bf16 (float f)
{
    uint32_t bits;
    memcpy (&bits, &f, sizeof bits);
    bits += 0x7FFF + ((bits >> 16) & 1);   //  round to nearest even
    return (uint16_t) (bits >> 16);
}

//  Rewrite the fixture's weights into path: every F32 tensor as dtype
//  ("F32", "F16", "BF16"), names prefixed, skipping one tensor if asked.
static void
s_rewrite (const char *src, const char *path, const char *dtype, const char *prefix,
           const char *skip)
{
    char err [512];
    sl_safetensors_t *st = sl_safetensors_open (src, err, sizeof err);
    CHECK (st);
    int esize = strcmp (dtype, "F32") == 0 ? 4 : 2;
    json_t *header = json_object ();
    size_t count = sl_safetensors_count (st), offset = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = sl_safetensors_name (st, i);
        if (skip && strcmp (name, skip) == 0)
            continue;
        CHECK (sl_safetensors_dtype (st, i) == SL_ST_F32);
        size_t nbytes;
        sl_safetensors_data (st, i, &nbytes);
        size_t bytes = nbytes / 4 * (size_t) esize;
        json_t *shape = json_array ();
        for (int d = 0; d < sl_safetensors_ndim (st, i); d++)
            json_array_append_new (shape, json_integer (sl_safetensors_shape (st, i) [d]));
        char full [256];
        snprintf (full, sizeof full, "%s%s", prefix, name);
        json_object_set_new (header, full, json_pack ("{s:s, s:o, s:[I,I]}", "dtype", dtype,
                             "shape", shape, "data_offsets", (json_int_t) offset,
                             (json_int_t) (offset + bytes)));
        offset += bytes;
    }
    char *text = json_dumps (header, JSON_COMPACT);
    size_t hlen = strlen (text), padded = hlen;
    while ((8 + padded) % 8)
        padded++;
    FILE *f = fopen (path, "wb");
    CHECK (f);
    for (int i = 0; i < 8; i++)
        fputc ((int) (((uint64_t) padded >> (8 * i)) & 0xFF), f);
    fwrite (text, 1, hlen, f);
    for (size_t i = hlen; i < padded; i++)
        fputc (' ', f);
    //  data in the order the header lists it (json_dumps keeps insertion order)
    for (size_t i = 0; i < count; i++) {
        const char *name = sl_safetensors_name (st, i);
        if (skip && strcmp (name, skip) == 0)
            continue;
        size_t nbytes;
        const float *v = (const float *) sl_safetensors_data (st, i, &nbytes);
        for (size_t k = 0; k < nbytes / 4; k++) {
            if (esize == 4)
                fwrite (&v [k], 4, 1, f);
            else {
                uint16_t h = strcmp (dtype, "F16") == 0 ? s_to_half (v [k]) : s_to_bf16 (v [k]);
                fwrite (&h, 2, 1, f);
            }
        }
    }
    CHECK (fclose (f) == 0);
    free (text);
    json_decref (header);
    sl_safetensors_destroy (&st);
}

//  Write the fixture's config.json with one key changed (value as JSON).
static void
s_config_with (const char *fixture, const char *dir, const char *key, const char *value)
{
    char path [1024];               //  room for a fixture path of 511
    snprintf (path, sizeof path, "%s/config.json", fixture);
    json_t *config = json_load_file (path, 0, NULL);
    CHECK (config);
    if (value)
        json_object_set_new (config, key, json_loads (value, JSON_DECODE_ANY, NULL));
    else
        json_object_del (config, key);
    snprintf (path, sizeof path, "%s/config.json", dir);
    CHECK (json_dump_file (config, path, 0) == 0);
    json_decref (config);
}

typedef struct {
    const char **texts;
    size_t *lens;
    int n;
    const float *ref;               //  n x dim
    int dim;
    double min_cos;
} s_case_t;

//  Embed the reference texts in one call; compare with ref. Returns the
//  smallest cosine over the texts with tokens (empty ones must be zero).
static double
s_check (sl_embedder_t *e, const s_case_t *c, const int *ntok)
{
    float *out = malloc ((size_t) c->n * (size_t) c->dim * sizeof *out);
    char err [512];
    CHECK (sl_embedder_embed (e, c->texts, c->lens, c->n, out, err, sizeof err) == 0);
    double worst = 1;
    for (int t = 0; t < c->n; t++) {
        const float *v = out + (size_t) t * (size_t) c->dim;
        if (ntok [t] == 2) {
            for (int i = 0; i < c->dim; i++)
                CHECK (v [i] == 0.0f);
            continue;
        }
        double cs = s_cos (v, c->ref + (size_t) t * (size_t) c->dim, c->dim);
        worst = cs < worst ? cs : worst;
    }
    free (out);
    return worst;
}

typedef struct {
    sl_embedder_t *e;
    const s_case_t *c;
    const float *expect;
} s_thread_t;

static void *
s_thread (void *arg)
{
    s_thread_t *a = arg;
    int dim = a->c->dim;
    float *out = malloc ((size_t) a->c->n * (size_t) dim * sizeof *out);
    char err [256];
    for (int round = 0; round < 10; round++) {
        CHECK (sl_embedder_embed (a->e, a->c->texts, a->c->lens, a->c->n, out, err, sizeof err) == 0);
        for (int i = 0; i < a->c->n * dim; i++)
            CHECK (fabsf (out [i] - a->expect [i]) < 1e-5f);
    }
    free (out);
    return NULL;
}

static void
s_expect_fail (const char *options, const char *expect, bool verbose)
{
    char err [1024] = "";
    sl_embedder_t *e = sl_embedder_new ("bert", options, err, sizeof err);
    if (e || !strstr (err, expect))
        fprintf (stderr, "options '%s': expected '%s', got '%s'\n", options, expect, err);
    CHECK (!e && strstr (err, expect));
    if (verbose)
        printf ("  %s\n", err);
}

//  --------------------------------------------------------------------------
//  Shared fixture: the reference (texts, token counts, vectors), the
//  embedder under test (the cases on the committed model share one), the
//  batch vectors, and the scratch directory the variant cases rewrite

static struct {
    bool verbose;
    char fixture [512];
    char refpath [600];
    json_t *ref;
    json_t *items;
    int n;
    int dim;
    const char **texts;
    size_t *lens;
    int *ntok;
    float *vec, *vec_new;
    s_case_t base;
    char options [700], err [1024];
    sl_embedder_t *e;
    float *batch;               //  the whole reference batch in one call
    char dir [32];
    char model [600], alt [600], tc [600];
} s_fx;

//  the reference: texts, token ids, vectors
static void
s_fixture_load (void)
{
    json_error_t jerr;
    s_fx.ref = json_load_file (s_fx.refpath, JSON_ALLOW_NUL, &jerr);
    CHECK (s_fx.ref);
    json_t *items = s_fx.items = json_object_get (s_fx.ref, "texts");
    int n = s_fx.n = (int) json_array_size (items);
    CHECK (n >= 20);
    const int dim = s_fx.dim = 32;
    s_fx.texts = calloc ((size_t) n, sizeof *s_fx.texts);
    s_fx.lens = calloc ((size_t) n, sizeof *s_fx.lens);
    s_fx.ntok = calloc ((size_t) n, sizeof *s_fx.ntok);
    s_fx.vec = malloc ((size_t) n * dim * sizeof *s_fx.vec);
    s_fx.vec_new = malloc ((size_t) n * dim * sizeof *s_fx.vec);
    for (int t = 0; t < n; t++) {
        json_t *item = json_array_get (items, (size_t) t);
        s_fx.texts [t] = json_string_value (json_object_get (item, "text"));
        s_fx.lens [t] = json_string_length (json_object_get (item, "text"));
        s_fx.ntok [t] = (int) json_array_size (json_object_get (item, "ids"));
        for (int i = 0; i < dim; i++) {
            s_fx.vec [t * dim + i] = (float) json_number_value (json_array_get (json_object_get (item, "vector"), (size_t) i));
            s_fx.vec_new [t * dim + i] = (float) json_number_value (json_array_get (json_object_get (item, "vector_gelu_new"), (size_t) i));
        }
    }
    s_fx.base = (s_case_t) { s_fx.texts, s_fx.lens, n, s_fx.vec, dim, 0.9999 };
}

//  Identity: dim, max_tokens, model_id with the weights' sha256. Leaves
//  s_fx.e open on the committed model
static void
s_test_identity (void)
{
    char *err = s_fx.err;
    snprintf (s_fx.options, sizeof s_fx.options, "path=%s/", s_fx.fixture);     //  trailing slash is fine
    s_fx.e = sl_embedder_new ("bert", s_fx.options, err, sizeof s_fx.err);
    if (!s_fx.e)
        fprintf (stderr, "%s\n", err);
    CHECK (s_fx.e);
    CHECK (sl_embedder_dim (s_fx.e) == s_fx.dim);
    CHECK (sl_embedder_max_tokens (s_fx.e) == 64);
    char mpath [600], sha [SL_SHA256_HEX], expect [128];
    snprintf (mpath, sizeof mpath, "%s/model.safetensors", s_fx.fixture);
    sl_safetensors_t *st = sl_safetensors_open (mpath, err, sizeof s_fx.err);
    size_t size;
    const void *bytes = sl_safetensors_file (st, &size);
    sl_sha256_hex (bytes, size, sha);
    sl_safetensors_destroy (&st);
    snprintf (expect, sizeof expect, "bert:bert-tiny:%.16s", sha);
    CHECK (strcmp (sl_embedder_model_id (s_fx.e), expect) == 0);
    if (s_fx.verbose)
        printf ("  model_id %s\n", sl_embedder_model_id (s_fx.e));
}

//  Token ids equal the reference's, text by text
static void
s_test_token_ids_match_reference (void)
{
    char *err = s_fx.err;
    sl_embedder_t *e = s_fx.e;
    sl_embed_bert_t *state = sl_embed_bert_provider.open (s_fx.options, &(sl_embed_info_t) { 0 },
                                                          err, sizeof s_fx.err);
    CHECK (state);
    int32_t ids [64];
    for (int t = 0; t < s_fx.n; t++) {
        json_t *want = json_object_get (json_array_get (s_fx.items, (size_t) t), "ids");
        int got = sl_embed_bert_tokenize (state, s_fx.texts [t], s_fx.lens [t], ids);
        if (s_fx.ntok [t] == 2) {
            CHECK (got == 0);          //  no pieces: nothing to embed
            continue;
        }
        bool same = got == s_fx.ntok [t];
        for (int i = 0; same && i < got; i++)
            same = ids [i] == json_integer_value (json_array_get (want, (size_t) i));
        if (!same)
            fprintf (stderr, "text %d '%s': token ids differ\n", t, s_fx.texts [t]);
        CHECK (same);
        //  count_tokens counts everything; ids stop at max_tokens
        size_t counted = sl_embedder_count_tokens (e, s_fx.texts [t], s_fx.lens [t]);
        CHECK (counted == (size_t) got || (got == 64 && counted > 64));
    }
    CHECK (sl_embedder_count_tokens (e, "", 0) == 2);
    CHECK (sl_embedder_count_tokens (e, "unaffable hello", 15) == 6);
    sl_embed_bert_provider.close (state);
}

//  Vectors: the whole batch in one call against torch
static void
s_test_batch_matches_torch (void)
{
    double worst = s_check (s_fx.e, &s_fx.base, s_fx.ntok);
    if (s_fx.verbose)
        printf ("  %d texts: smallest cosine to torch %.7f\n", s_fx.n, worst);
    CHECK (worst >= 0.9999);
}

//  each text alone gives the same as in the batch
static void
s_test_single_text_equals_batch (void)
{
    char *err = s_fx.err;
    int n = s_fx.n, dim = s_fx.dim;
    s_fx.batch = malloc ((size_t) n * dim * sizeof *s_fx.batch);
    CHECK (sl_embedder_embed (s_fx.e, s_fx.texts, s_fx.lens, n, s_fx.batch, err, sizeof s_fx.err) == 0);
    for (int t = 0; t < n; t++) {
        float one [32];
        CHECK (sl_embedder_embed (s_fx.e, &s_fx.texts [t], &s_fx.lens [t], 1, one, err, sizeof s_fx.err) == 0);
        for (int i = 0; i < dim; i++)
            CHECK (fabsf (one [i] - s_fx.batch [t * dim + i]) < 1e-5f);
        double norm = 0;
        for (int i = 0; i < dim; i++)
            norm += (double) one [i] * one [i];
        CHECK (s_fx.ntok [t] == 2 ? norm == 0 : fabs (norm - 1) < 1e-5);
    }
}

//  invalid UTF-8 is dropped like U+FFFD, not a failure
static void
s_test_invalid_utf8_dropped (void)
{
    const char *pair [2] = { "hel\xfflo wor\xc3ld", "hello world" };
    size_t plen [2] = { strlen (pair [0]), strlen (pair [1]) };
    float out [64];
    CHECK (sl_embedder_embed (s_fx.e, pair, plen, 2, out, s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_cos (out, out + 32, 32) > 0.99999);
}

//  several threads at once get the same answers
static void
s_test_threads_agree (void)
{
    pthread_t threads [4];
    s_thread_t arg = { s_fx.e, &s_fx.base, s_fx.batch };
    for (int i = 0; i < 4; i++)
        CHECK (pthread_create (&threads [i], NULL, s_thread, &arg) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
}

//  a batch over S_BLOCK_ROWS tokens and S_GROUP_TEXTS texts runs in
//  several blocks and groups: the same vectors. Closes s_fx.e
static void
s_test_large_batch_blocks_and_groups (void)
{
    int n = s_fx.n, dim = s_fx.dim;
    int big = 600;                  //  600 x up to 64 tokens
    const char **bt = malloc ((size_t) big * sizeof *bt);
    size_t *bl = malloc ((size_t) big * sizeof *bl);
    float *bo = malloc ((size_t) big * dim * sizeof *bo);
    for (int i = 0; i < big; i++) {
        bt [i] = s_fx.texts [i % n];
        bl [i] = s_fx.lens [i % n];
    }
    CHECK (sl_embedder_embed (s_fx.e, bt, bl, big, bo, s_fx.err, sizeof s_fx.err) == 0);
    for (int i = 0; i < big; i++)
        for (int k = 0; k < dim; k++)
            CHECK (fabsf (bo [i * dim + k] - s_fx.batch [(i % n) * dim + k]) < 1e-5f);
    free (bt);
    free (bl);
    free (bo);
    sl_embedder_destroy (&s_fx.e);
}

//  Variants of the model in a scratch directory
static void
s_scratch_setup (void)
{
    snprintf (s_fx.dir, sizeof s_fx.dir, "/tmp/sl_embed_bert_test_XXXXXX");
    CHECK (mkdtemp (s_fx.dir));
    snprintf (s_fx.model, sizeof s_fx.model, "%s/model.safetensors", s_fx.fixture);
    snprintf (s_fx.alt, sizeof s_fx.alt, "%s/alt.safetensors", s_fx.dir);
    snprintf (s_fx.options, sizeof s_fx.options, "path=%s", s_fx.dir);
}

//  gelu_new (tanh approximation) against its own reference
static void
s_test_gelu_new_matches_reference (void)
{
    s_make_dir (s_fx.fixture, s_fx.dir, NULL, "vocab.txt", "model.safetensors");
    s_config_with (s_fx.fixture, s_fx.dir, "hidden_act", "\"gelu_new\"");
    s_fx.e = sl_embedder_new ("bert", s_fx.options, s_fx.err, sizeof s_fx.err);
    CHECK (s_fx.e);
    s_case_t tanh_case = s_fx.base;
    tanh_case.ref = s_fx.vec_new;
    double worst = s_check (s_fx.e, &tanh_case, s_fx.ntok);
    if (s_fx.verbose)
        printf ("  gelu_new: smallest cosine %.7f\n", worst);
    CHECK (worst >= 0.9999);
    sl_embedder_destroy (&s_fx.e);
}

//  "bert." prefixed names (BertForMaskedLM checkpoints): the same vectors
static void
s_test_bert_prefixed_names (void)
{
    s_rewrite (s_fx.model, s_fx.alt, "F32", "bert.", NULL);
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", s_fx.alt);
    s_fx.e = sl_embedder_new ("bert", s_fx.options, s_fx.err, sizeof s_fx.err);
    CHECK (s_fx.e);
    CHECK (s_check (s_fx.e, &s_fx.base, s_fx.ntok) >= 0.9999);
    sl_embedder_destroy (&s_fx.e);
}

//  F16 and BF16 weights: converted at load, close to the F32 vectors
static void
s_test_half_precision_weights (void)
{
    const char *dtypes [2] = { "F16", "BF16" };
    double floor [2] = { 0.999, 0.99 };
    for (int k = 0; k < 2; k++) {
        s_rewrite (s_fx.model, s_fx.alt, dtypes [k], "", NULL);
        s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", s_fx.alt);
        s_fx.e = sl_embedder_new ("bert", s_fx.options, s_fx.err, sizeof s_fx.err);
        CHECK (s_fx.e);
        double worst = s_check (s_fx.e, &s_fx.base, s_fx.ntok);
        if (s_fx.verbose)
            printf ("  %s weights: smallest cosine to F32 torch %.5f\n", dtypes [k], worst);
        CHECK (worst >= floor [k]);
        sl_embedder_destroy (&s_fx.e);
    }
}

//  tokenizer_config.json: do_lower_case false changes the ids (and so
//  the vector) of cased text; special tokens may be objects
static void
s_test_tokenizer_config_keeps_case (void)
{
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", "model.safetensors");
    snprintf (s_fx.tc, sizeof s_fx.tc, "%s/tokenizer_config.json", s_fx.dir);
    FILE *f = fopen (s_fx.tc, "w");
    fputs ("{\"do_lower_case\": false, \"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}}", f);
    fclose (f);
    s_fx.e = sl_embedder_new ("bert", s_fx.options, s_fx.err, sizeof s_fx.err);
    CHECK (s_fx.e);
    const char *pair [2] = { "Hello World", "hello world" };
    size_t plen [2] = { 11, 11 };
    float out [64];
    CHECK (sl_embedder_embed (s_fx.e, pair, plen, 2, out, s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_cos (out, out + 32, 32) < 0.99);
    CHECK (s_cos (out + 32, s_fx.vec, 32) > 0.9999);       //  text 0 is "Hello world"
    sl_embedder_destroy (&s_fx.e);
}

static void
s_test_broken_tokenizer_config_refused (void)
{
    FILE *f = fopen (s_fx.tc, "w");
    fputs ("{\"do_lower_case\": true", f);                  //  broken JSON
    fclose (f);
    s_expect_fail (s_fx.options, "tokenizer_config.json", s_fx.verbose);
    unlink (s_fx.tc);
}

//  max_tokens: shorter truncation shows in model_id and in the vectors
static void
s_test_max_tokens_truncates (void)
{
    int dim = s_fx.dim;
    snprintf (s_fx.options, sizeof s_fx.options, "path=%s,max_tokens=16", s_fx.dir);
    s_fx.e = sl_embedder_new ("bert", s_fx.options, s_fx.err, sizeof s_fx.err);
    CHECK (s_fx.e && sl_embedder_max_tokens (s_fx.e) == 16);
    CHECK (strstr (sl_embedder_model_id (s_fx.e), ":t16"));
    float out [32];
    CHECK (sl_embedder_embed (s_fx.e, &s_fx.texts [8], &s_fx.lens [8], 1, out, s_fx.err, sizeof s_fx.err) == 0);
    CHECK (s_fx.ntok [8] == 64 && s_cos (out, s_fx.vec + 8 * dim, dim) < 0.999);
    sl_embedder_destroy (&s_fx.e);
}

//  Bad options: messages, not crashes
static void
s_test_bad_options_refused (void)
{
    bool verbose = s_fx.verbose;
    char *options = s_fx.options;
    size_t size = sizeof s_fx.options;
    s_expect_fail (NULL, "path=/model/dir is required", verbose);
    s_expect_fail ("max_tokens=8", "path=/model/dir is required", verbose);
    s_expect_fail ("path=/nonexistent/model", "no such directory", verbose);
    snprintf (options, size, "path=%s", s_fx.refpath);
    s_expect_fail (options, "not a directory", verbose);
    snprintf (options, size, "path=%s,colour=red", s_fx.dir);
    s_expect_fail (options, "unknown option 'colour'", verbose);
    snprintf (options, size, "path=%s,max_tokens=1", s_fx.dir);
    s_expect_fail (options, "max_tokens=1", verbose);
    snprintf (options, size, "path=%s,max_tokens=65", s_fx.dir);
    s_expect_fail (options, "max_position_embeddings (64)", verbose);
    snprintf (options, size, "path=%s", s_fx.dir);
}

//  Missing or unparseable config.json: a message, not a crash
static void
s_test_missing_or_broken_config_refused (void)
{
    bool verbose = s_fx.verbose;
    s_make_dir (s_fx.fixture, s_fx.dir, NULL, "vocab.txt", "model.safetensors");
    s_expect_fail (s_fx.options, "config.json", verbose);
    FILE *f = fopen (s_fx.tc, "w");
    snprintf (s_fx.tc, sizeof s_fx.tc, "%s/config.json", s_fx.dir);
    fclose (f);
    f = fopen (s_fx.tc, "w");
    fputs ("{\"hidden_size\": 32,", f);
    fclose (f);
    s_expect_fail (s_fx.options, "config.json", verbose);
    snprintf (s_fx.tc, sizeof s_fx.tc, "%s/tokenizer_config.json", s_fx.dir);
    unlink (s_fx.tc);
}

//  Config values the encoder cannot run: each says which
static void
s_test_bad_config_values_refused (void)
{
    struct {
        const char *key, *value, *expect;
    } configs [] = {
        { "hidden_size", NULL, "\"hidden_size\" must be a whole number" },
        { "hidden_size", "\"32\"", "\"hidden_size\" must be a whole number" },
        { "num_attention_heads", "5", "not a multiple of num_attention_heads 5" },
        { "num_hidden_layers", "0", "\"num_hidden_layers\" must be" },
        { "model_type", "\"roberta\"", "model_type is 'roberta'" },
        { "position_embedding_type", "\"relative_key\"", "absolute position" },
        { "hidden_act", "\"swish\"", "hidden_act 'swish' is not supported" },
        { "layer_norm_eps", "-1", "layer_norm_eps" },
        { "intermediate_size", "65", "shape [64, 32], expected [65, 32]" },
        { "vocab_size", "100", "vocab_size is 100" },
        { "num_hidden_layers", "3", "encoder.layer.2.attention.self.query.weight' is missing" },
        { "max_position_embeddings", "100000", "\"max_position_embeddings\" must be" },
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs [0]; i++) {
        s_config_with (s_fx.fixture, s_fx.dir, configs [i].key, configs [i].value);
        s_expect_fail (s_fx.options, configs [i].expect, s_fx.verbose);
    }
}

//  Missing vocabulary, weights file or tensor: says which
static void
s_test_missing_files_and_tensors_refused (void)
{
    bool verbose = s_fx.verbose;
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", NULL, "model.safetensors");
    s_expect_fail (s_fx.options, "vocab.txt: No such file", verbose);
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", NULL);
    s_expect_fail (s_fx.options, "model.safetensors: No such file", verbose);
    s_rewrite (s_fx.model, s_fx.alt, "F32", "", "encoder.layer.1.output.LayerNorm.bias");
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", s_fx.alt);
    s_expect_fail (s_fx.options, "'encoder.layer.1.output.LayerNorm.bias' is missing", verbose);
}

//  a truncated weights file
static void
s_test_truncated_weights_refused (void)
{
    s_make_dir (s_fx.fixture, s_fx.dir, "config.json", "vocab.txt", "model.safetensors");
    snprintf (s_fx.alt, sizeof s_fx.alt, "%s/model.safetensors", s_fx.dir);
    CHECK (truncate (s_fx.alt, 50000) == 0);
    s_expect_fail (s_fx.options, "outside the", s_fx.verbose);
}

//  clean up
static void
s_scratch_teardown (void)
{
    const char *leftovers [] = { "config.json", "vocab.txt", "model.safetensors",
                                 "alt.safetensors", "tokenizer_config.json" };
    for (size_t i = 0; i < sizeof leftovers / sizeof leftovers [0]; i++) {
        char p [600];
        snprintf (p, sizeof p, "%s/%s", s_fx.dir, leftovers [i]);
        unlink (p);
    }
    CHECK (rmdir (s_fx.dir) == 0);
}

//  Precision: fp32 asked for is the default exactly; bf16 (where the CPU
//  has it) agrees with fp32 at cosine >= 0.995 on every reference text and
//  says bf16 in its id; precision=bf16 without the unit is refused.
static void
s_test_precision (void)
{
    char opts [700], err [512];
    int n = s_fx.n, dim = s_fx.dim;
    float *base = calloc ((size_t) n * dim, sizeof *base), *other = calloc ((size_t) n * dim, sizeof *other);
    CHECK (base && other);
    snprintf (opts, sizeof opts, "path=%s", s_fx.fixture);
    sl_embedder_t *e = sl_embedder_new ("bert", opts, err, sizeof err);
    CHECK (e);
    CHECK (sl_embedder_embed (e, s_fx.texts, s_fx.lens, n, base, err, sizeof err) == 0);
    char id [128];
    snprintf (id, sizeof id, "%s", sl_embedder_model_id (e));
    sl_embedder_destroy (&e);

    snprintf (opts, sizeof opts, "path=%s,precision=fp32", s_fx.fixture);
    e = sl_embedder_new ("bert", opts, err, sizeof err);
    CHECK (e && strcmp (sl_embedder_model_id (e), id) == 0);
    CHECK (sl_embedder_embed (e, s_fx.texts, s_fx.lens, n, other, err, sizeof err) == 0);
    CHECK (memcmp (base, other, (size_t) n * dim * sizeof *base) == 0);
    sl_embedder_destroy (&e);

    setenv ("SLUICE_CPU_NO_BF16", "1", 1);
    snprintf (opts, sizeof opts, "path=%s,precision=bf16", s_fx.fixture);
    CHECK (sl_embedder_new ("bert", opts, err, sizeof err) == NULL);
    if (s_fx.verbose)
        printf ("  %s\n", err);
    CHECK (strstr (err, "bert provider: precision bf16 needs a CPU with avx512_bf16"));
    unsetenv ("SLUICE_CPU_NO_BF16");
    if (sl_matmul_cpu_has_bf16 ()) {
        e = sl_embedder_new ("bert", opts, err, sizeof err);
        CHECK (e);
        CHECK (strlen (sl_embedder_model_id (e)) == strlen (id) + 5);
        CHECK (strcmp (sl_embedder_model_id (e) + strlen (id), ":bf16") == 0);
        memset (other, 0, (size_t) n * dim * sizeof *other);
        CHECK (sl_embedder_embed (e, s_fx.texts, s_fx.lens, n, other, err, sizeof err) == 0);
        sl_embedder_destroy (&e);
        double worst = 2;
        for (int t = 0; t < n; t++) {
            double ab = 0, aa = 0, bb = 0;
            for (int i = 0; i < dim; i++) {
                ab += (double) base [t * dim + i] * other [t * dim + i];
                aa += (double) base [t * dim + i] * base [t * dim + i];
                bb += (double) other [t * dim + i] * other [t * dim + i];
            }
            if (aa == 0 && bb == 0)
                continue;       //  no word pieces: the zero vector both ways
            double c = ab / sqrt (aa * bb);
            worst = c < worst ? c : worst;
            CHECK (c >= 0.995);
        }
        if (s_fx.verbose)
            printf ("  bf16 vs fp32: lowest cosine %.6f over %d texts\n", worst, n);
    }
    free (base);
    free (other);
}

void
sl_embed_bert_test (bool verbose)
{
    printf (" * sl_embed_bert: ");
    if (verbose)
        printf ("\n");
    s_fx.verbose = verbose;
    const char *source = getenv ("SLUICE_SOURCE_DIR");
    snprintf (s_fx.fixture, sizeof s_fx.fixture, "%s/tests/fixtures/bert-tiny", source ? source : ".");
    snprintf (s_fx.refpath, sizeof s_fx.refpath, "%s/reference.json", s_fx.fixture);
    if (access (s_fx.refpath, R_OK) != 0) {
        printf ("skipped: %s not found (set SLUICE_SOURCE_DIR)\nOK\n", s_fx.refpath);
        return;
    }
    CASE ("setup: reference texts, token ids and vectors", s_fixture_load ());
    CASE ("identity: dim, max_tokens, model_id with the weights' hash", s_test_identity ());
    CASE ("token ids equal the reference's; count_tokens agrees", s_test_token_ids_match_reference ());
    CASE ("one batch matches the torch vectors", s_test_batch_matches_torch ());
    CASE ("each text alone equals its batch vector, unit norm", s_test_single_text_equals_batch ());
    CASE ("invalid UTF-8 dropped, not a failure", s_test_invalid_utf8_dropped ());
    CASE ("threads at once get the same answers", s_test_threads_agree ());
    CASE ("large batch in several blocks and groups: same vectors", s_test_large_batch_blocks_and_groups ());
    CASE ("precision: fp32 is the default exactly, bf16 agrees (cos >= 0.995), refused without the unit",
          s_test_precision ());

    CASE ("setup: scratch model directory", s_scratch_setup ());
    CASE ("gelu_new matches its own reference", s_test_gelu_new_matches_reference ());
    CASE ("\"bert.\" prefixed tensor names: same vectors", s_test_bert_prefixed_names ());
    CASE ("F16 and BF16 weights close to F32", s_test_half_precision_weights ());
    CASE ("tokenizer_config.json: do_lower_case false keeps case", s_test_tokenizer_config_keeps_case ());
    CASE ("broken tokenizer_config.json refused", s_test_broken_tokenizer_config_refused ());
    CASE ("max_tokens truncates, shown in model_id", s_test_max_tokens_truncates ());
    CASE ("bad options refused with a message", s_test_bad_options_refused ());
    CASE ("missing or broken config.json refused", s_test_missing_or_broken_config_refused ());
    CASE ("unsupported config values refused, saying which", s_test_bad_config_values_refused ());
    CASE ("missing vocab, weights or tensor refused", s_test_missing_files_and_tensors_refused ());
    CASE ("truncated weights file refused", s_test_truncated_weights_refused ());
    CASE ("teardown: scratch directory removed", s_scratch_teardown ());

    free (s_fx.batch);
    free (s_fx.texts);
    free (s_fx.lens);
    free (s_fx.ntok);
    free (s_fx.vec);
    free (s_fx.vec_new);
    json_decref (s_fx.ref);
    printf ("OK\n");
}
