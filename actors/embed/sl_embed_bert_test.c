/*  sl_embed_bert_test: self-test of the "bert" provider. The committed tiny
    model (tests/fixtures/bert-tiny, made by tools/bert_fixture/make_fixture.py)
    against its torch reference vectors, then variants of it made here:
    dtypes, prefixes, configs, broken files.
*/
#include "sl_embed_bert_internal.h"
#include "sl_embedder.h"
#include "sl_safetensors.h"
#include "sl_util.h"
#include "sl_wordpiece.h"

#include <assert.h>
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
    assert (in && out);
    char buf [65536];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        assert (fwrite (buf, 1, n, out) == n);
    fclose (in);
    assert (fclose (out) == 0);
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
        char src [512];
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
    assert (st);
    int esize = strcmp (dtype, "F32") == 0 ? 4 : 2;
    json_t *header = json_object ();
    size_t count = sl_safetensors_count (st), offset = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = sl_safetensors_name (st, i);
        if (skip && strcmp (name, skip) == 0)
            continue;
        assert (sl_safetensors_dtype (st, i) == SL_ST_F32);
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
    assert (f);
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
    assert (fclose (f) == 0);
    free (text);
    json_decref (header);
    sl_safetensors_destroy (&st);
}

//  Write the fixture's config.json with one key changed (value as JSON).
static void
s_config_with (const char *fixture, const char *dir, const char *key, const char *value)
{
    char path [512];
    snprintf (path, sizeof path, "%s/config.json", fixture);
    json_t *config = json_load_file (path, 0, NULL);
    assert (config);
    if (value)
        json_object_set_new (config, key, json_loads (value, JSON_DECODE_ANY, NULL));
    else
        json_object_del (config, key);
    snprintf (path, sizeof path, "%s/config.json", dir);
    assert (json_dump_file (config, path, 0) == 0);
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
    assert (sl_embedder_embed (e, c->texts, c->lens, c->n, out, err, sizeof err) == 0);
    double worst = 1;
    for (int t = 0; t < c->n; t++) {
        const float *v = out + (size_t) t * (size_t) c->dim;
        if (ntok [t] == 2) {
            for (int i = 0; i < c->dim; i++)
                assert (v [i] == 0.0f);
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
        assert (sl_embedder_embed (a->e, a->c->texts, a->c->lens, a->c->n, out, err, sizeof err) == 0);
        for (int i = 0; i < a->c->n * dim; i++)
            assert (fabsf (out [i] - a->expect [i]) < 1e-5f);
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
    assert (!e && strstr (err, expect));
    if (verbose)
        printf ("  %s\n", err);
}

void
sl_embed_bert_test (bool verbose)
{
    printf (" * sl_embed_bert: ");
    if (verbose)
        printf ("\n");
    const char *source = getenv ("SLUICE_SOURCE_DIR");
    char fixture [512];
    snprintf (fixture, sizeof fixture, "%s/tests/fixtures/bert-tiny", source ? source : ".");
    char refpath [600];
    snprintf (refpath, sizeof refpath, "%s/reference.json", fixture);
    if (access (refpath, R_OK) != 0) {
        printf ("skipped: %s not found (set SLUICE_SOURCE_DIR)\nOK\n", refpath);
        return;
    }
    //  the reference: texts, token ids, vectors
    json_error_t jerr;
    json_t *ref = json_load_file (refpath, JSON_ALLOW_NUL, &jerr);
    assert (ref);
    json_t *items = json_object_get (ref, "texts");
    int n = (int) json_array_size (items);
    assert (n >= 20);
    const int dim = 32;
    const char **texts = calloc ((size_t) n, sizeof *texts);
    size_t *lens = calloc ((size_t) n, sizeof *lens);
    int *ntok = calloc ((size_t) n, sizeof *ntok);
    float *vec = malloc ((size_t) n * dim * sizeof *vec), *vec_new = malloc ((size_t) n * dim * sizeof *vec);
    for (int t = 0; t < n; t++) {
        json_t *item = json_array_get (items, (size_t) t);
        texts [t] = json_string_value (json_object_get (item, "text"));
        lens [t] = json_string_length (json_object_get (item, "text"));
        ntok [t] = (int) json_array_size (json_object_get (item, "ids"));
        for (int i = 0; i < dim; i++) {
            vec [t * dim + i] = (float) json_number_value (json_array_get (json_object_get (item, "vector"), (size_t) i));
            vec_new [t * dim + i] = (float) json_number_value (json_array_get (json_object_get (item, "vector_gelu_new"), (size_t) i));
        }
    }
    s_case_t base = { texts, lens, n, vec, dim, 0.9999 };
    char options [700], err [1024];

    //  Identity: dim, max_tokens, model_id with the weights' sha256
    snprintf (options, sizeof options, "path=%s/", fixture);     //  trailing slash is fine
    sl_embedder_t *e = sl_embedder_new ("bert", options, err, sizeof err);
    if (!e)
        fprintf (stderr, "%s\n", err);
    assert (e);
    assert (sl_embedder_dim (e) == dim);
    assert (sl_embedder_max_tokens (e) == 64);
    {
        char mpath [600], sha [SL_SHA256_HEX], expect [128];
        snprintf (mpath, sizeof mpath, "%s/model.safetensors", fixture);
        sl_safetensors_t *st = sl_safetensors_open (mpath, err, sizeof err);
        size_t size;
        const void *bytes = sl_safetensors_file (st, &size);
        sl_sha256_hex (bytes, size, sha);
        sl_safetensors_destroy (&st);
        snprintf (expect, sizeof expect, "bert:bert-tiny:%.16s", sha);
        assert (strcmp (sl_embedder_model_id (e), expect) == 0);
        if (verbose)
            printf ("  model_id %s\n", sl_embedder_model_id (e));
    }

    //  Token ids equal the reference's, text by text
    sl_embed_bert_t *state = sl_embed_bert_provider.open (options, &(sl_embed_info_t) { 0 }, err, sizeof err);
    assert (state);
    int32_t ids [64];
    for (int t = 0; t < n; t++) {
        json_t *want = json_object_get (json_array_get (items, (size_t) t), "ids");
        int got = sl_embed_bert_tokenize (state, texts [t], lens [t], ids);
        if (ntok [t] == 2) {
            assert (got == 0);          //  no pieces: nothing to embed
            continue;
        }
        bool same = got == ntok [t];
        for (int i = 0; same && i < got; i++)
            same = ids [i] == json_integer_value (json_array_get (want, (size_t) i));
        if (!same)
            fprintf (stderr, "text %d '%s': token ids differ\n", t, texts [t]);
        assert (same);
        //  count_tokens counts everything; ids stop at max_tokens
        size_t counted = sl_embedder_count_tokens (e, texts [t], lens [t]);
        assert (counted == (size_t) got || (got == 64 && counted > 64));
    }
    assert (sl_embedder_count_tokens (e, "", 0) == 2);
    assert (sl_embedder_count_tokens (e, "unaffable hello", 15) == 6);
    sl_embed_bert_provider.close (state);

    //  Vectors: the whole batch in one call against torch
    double worst = s_check (e, &base, ntok);
    if (verbose)
        printf ("  %d texts: smallest cosine to torch %.7f\n", n, worst);
    assert (worst >= 0.9999);
    //  each text alone gives the same as in the batch
    float *batch = malloc ((size_t) n * dim * sizeof *batch);
    assert (sl_embedder_embed (e, texts, lens, n, batch, err, sizeof err) == 0);
    for (int t = 0; t < n; t++) {
        float one [32];
        assert (sl_embedder_embed (e, &texts [t], &lens [t], 1, one, err, sizeof err) == 0);
        for (int i = 0; i < dim; i++)
            assert (fabsf (one [i] - batch [t * dim + i]) < 1e-5f);
        double norm = 0;
        for (int i = 0; i < dim; i++)
            norm += (double) one [i] * one [i];
        assert (ntok [t] == 2 ? norm == 0 : fabs (norm - 1) < 1e-5);
    }
    //  invalid UTF-8 is dropped like U+FFFD, not a failure
    {
        const char *pair [2] = { "hel\xfflo wor\xc3ld", "hello world" };
        size_t plen [2] = { strlen (pair [0]), strlen (pair [1]) };
        float out [64];
        assert (sl_embedder_embed (e, pair, plen, 2, out, err, sizeof err) == 0);
        assert (s_cos (out, out + 32, 32) > 0.99999);
    }
    //  several threads at once get the same answers
    {
        pthread_t threads [4];
        s_thread_t arg = { e, &base, batch };
        for (int i = 0; i < 4; i++)
            assert (pthread_create (&threads [i], NULL, s_thread, &arg) == 0);
        for (int i = 0; i < 4; i++)
            pthread_join (threads [i], NULL);
    }
    //  a batch over S_BLOCK_ROWS tokens and S_GROUP_TEXTS texts runs in
    //  several blocks and groups: the same vectors
    {
        int big = 600;                  //  600 x up to 64 tokens
        const char **bt = malloc ((size_t) big * sizeof *bt);
        size_t *bl = malloc ((size_t) big * sizeof *bl);
        float *bo = malloc ((size_t) big * dim * sizeof *bo);
        for (int i = 0; i < big; i++) {
            bt [i] = texts [i % n];
            bl [i] = lens [i % n];
        }
        assert (sl_embedder_embed (e, bt, bl, big, bo, err, sizeof err) == 0);
        for (int i = 0; i < big; i++)
            for (int k = 0; k < dim; k++)
                assert (fabsf (bo [i * dim + k] - batch [(i % n) * dim + k]) < 1e-5f);
        free (bt);
        free (bl);
        free (bo);
    }
    sl_embedder_destroy (&e);

    //  Variants of the model in a scratch directory
    char dir [] = "/tmp/sl_embed_bert_test_XXXXXX";
    assert (mkdtemp (dir));
    char model [600], alt [600];
    snprintf (model, sizeof model, "%s/model.safetensors", fixture);
    snprintf (alt, sizeof alt, "%s/alt.safetensors", dir);
    snprintf (options, sizeof options, "path=%s", dir);

    //  gelu_new (tanh approximation) against its own reference
    s_make_dir (fixture, dir, NULL, "vocab.txt", "model.safetensors");
    s_config_with (fixture, dir, "hidden_act", "\"gelu_new\"");
    e = sl_embedder_new ("bert", options, err, sizeof err);
    assert (e);
    s_case_t tanh_case = base;
    tanh_case.ref = vec_new;
    worst = s_check (e, &tanh_case, ntok);
    if (verbose)
        printf ("  gelu_new: smallest cosine %.7f\n", worst);
    assert (worst >= 0.9999);
    sl_embedder_destroy (&e);

    //  "bert." prefixed names (BertForMaskedLM checkpoints): the same vectors
    s_rewrite (model, alt, "F32", "bert.", NULL);
    s_make_dir (fixture, dir, "config.json", "vocab.txt", alt);
    e = sl_embedder_new ("bert", options, err, sizeof err);
    assert (e);
    assert (s_check (e, &base, ntok) >= 0.9999);
    sl_embedder_destroy (&e);

    //  F16 and BF16 weights: converted at load, close to the F32 vectors
    const char *dtypes [2] = { "F16", "BF16" };
    double floor [2] = { 0.999, 0.99 };
    for (int k = 0; k < 2; k++) {
        s_rewrite (model, alt, dtypes [k], "", NULL);
        s_make_dir (fixture, dir, "config.json", "vocab.txt", alt);
        e = sl_embedder_new ("bert", options, err, sizeof err);
        assert (e);
        worst = s_check (e, &base, ntok);
        if (verbose)
            printf ("  %s weights: smallest cosine to F32 torch %.5f\n", dtypes [k], worst);
        assert (worst >= floor [k]);
        sl_embedder_destroy (&e);
    }

    //  tokenizer_config.json: do_lower_case false changes the ids (and so
    //  the vector) of cased text; special tokens may be objects
    s_make_dir (fixture, dir, "config.json", "vocab.txt", "model.safetensors");
    char tc [600];
    snprintf (tc, sizeof tc, "%s/tokenizer_config.json", dir);
    FILE *f = fopen (tc, "w");
    fputs ("{\"do_lower_case\": false, \"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}}", f);
    fclose (f);
    e = sl_embedder_new ("bert", options, err, sizeof err);
    assert (e);
    {
        const char *pair [2] = { "Hello World", "hello world" };
        size_t plen [2] = { 11, 11 };
        float out [64];
        assert (sl_embedder_embed (e, pair, plen, 2, out, err, sizeof err) == 0);
        assert (s_cos (out, out + 32, 32) < 0.99);
        assert (s_cos (out + 32, vec, 32) > 0.9999);       //  text 0 is "Hello world"
    }
    sl_embedder_destroy (&e);
    f = fopen (tc, "w");
    fputs ("{\"do_lower_case\": true", f);                  //  broken JSON
    fclose (f);
    s_expect_fail (options, "tokenizer_config.json", verbose);
    unlink (tc);

    //  max_tokens: shorter truncation shows in model_id and in the vectors
    snprintf (options, sizeof options, "path=%s,max_tokens=16", dir);
    e = sl_embedder_new ("bert", options, err, sizeof err);
    assert (e && sl_embedder_max_tokens (e) == 16);
    assert (strstr (sl_embedder_model_id (e), ":t16"));
    {
        float out [32];
        assert (sl_embedder_embed (e, &texts [8], &lens [8], 1, out, err, sizeof err) == 0);
        assert (ntok [8] == 64 && s_cos (out, vec + 8 * dim, dim) < 0.999);
    }
    sl_embedder_destroy (&e);

    //  Bad options and broken model directories: messages, not crashes
    s_expect_fail (NULL, "path=/model/dir is required", verbose);
    s_expect_fail ("max_tokens=8", "path=/model/dir is required", verbose);
    s_expect_fail ("path=/nonexistent/model", "no such directory", verbose);
    snprintf (options, sizeof options, "path=%s", refpath);
    s_expect_fail (options, "not a directory", verbose);
    snprintf (options, sizeof options, "path=%s,colour=red", dir);
    s_expect_fail (options, "unknown option 'colour'", verbose);
    snprintf (options, sizeof options, "path=%s,max_tokens=1", dir);
    s_expect_fail (options, "max_tokens=1", verbose);
    snprintf (options, sizeof options, "path=%s,max_tokens=65", dir);
    s_expect_fail (options, "max_position_embeddings (64)", verbose);
    snprintf (options, sizeof options, "path=%s", dir);

    s_make_dir (fixture, dir, NULL, "vocab.txt", "model.safetensors");
    s_expect_fail (options, "config.json", verbose);
    f = fopen (tc, "w");
    snprintf (tc, sizeof tc, "%s/config.json", dir);
    fclose (f);
    f = fopen (tc, "w");
    fputs ("{\"hidden_size\": 32,", f);
    fclose (f);
    s_expect_fail (options, "config.json", verbose);
    snprintf (tc, sizeof tc, "%s/tokenizer_config.json", dir);
    unlink (tc);
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
        s_config_with (fixture, dir, configs [i].key, configs [i].value);
        s_expect_fail (options, configs [i].expect, verbose);
    }
    s_make_dir (fixture, dir, "config.json", NULL, "model.safetensors");
    s_expect_fail (options, "vocab.txt: No such file", verbose);
    s_make_dir (fixture, dir, "config.json", "vocab.txt", NULL);
    s_expect_fail (options, "model.safetensors: No such file", verbose);
    s_rewrite (model, alt, "F32", "", "encoder.layer.1.output.LayerNorm.bias");
    s_make_dir (fixture, dir, "config.json", "vocab.txt", alt);
    s_expect_fail (options, "'encoder.layer.1.output.LayerNorm.bias' is missing", verbose);
    //  a truncated weights file
    s_make_dir (fixture, dir, "config.json", "vocab.txt", "model.safetensors");
    snprintf (alt, sizeof alt, "%s/model.safetensors", dir);
    assert (truncate (alt, 50000) == 0);
    s_expect_fail (options, "outside the", verbose);

    //  clean up
    const char *leftovers [] = { "config.json", "vocab.txt", "model.safetensors",
                                 "alt.safetensors", "tokenizer_config.json" };
    for (size_t i = 0; i < sizeof leftovers / sizeof leftovers [0]; i++) {
        char p [600];
        snprintf (p, sizeof p, "%s/%s", dir, leftovers [i]);
        unlink (p);
    }
    assert (rmdir (dir) == 0);
    free (batch);
    free (texts);
    free (lens);
    free (ntok);
    free (vec);
    free (vec_new);
    json_decref (ref);
    printf ("OK\n");
}
