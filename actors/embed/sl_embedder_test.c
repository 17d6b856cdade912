/*  sl_embedder_test: self-test of the sl_embedder interface (the provider
    registry, option parsing, the checks every provider shares) and the hash
    provider, including known components of the default model vector.
*/
#include "sl_embedder.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

//  --------------------------------------------------------------------------
//  Self-test: the interface and the hash provider

//  Known components of the default model's vector for a fixed sentence
#define S_GOLDEN_0 0.0285316f
#define S_GOLDEN_1 -0.0577909f
#define S_GOLDEN_383 0.0182988f

static double
s_dot (const float *a, const float *b, int dim)
{
    double sum = 0;
    for (int i = 0; i < dim; i++)
        sum += (double) a [i] * b [i];
    return sum;
}

static float *
s_embed_one (sl_embedder_t *e, const char *text)
{
    float *v = malloc ((size_t) sl_embedder_dim (e) * sizeof *v);
    assert (v);
    size_t len = strlen (text);
    char err [256];
    int rc = sl_embedder_embed (e, &text, &len, 1, v, err, sizeof err);
    assert (rc == 0);
    return v;
}

static double
s_cosine (sl_embedder_t *e, const char *a, const char *b)
{
    float *va = s_embed_one (e, a), *vb = s_embed_one (e, b);
    double c = s_dot (va, vb, sl_embedder_dim (e));
    free (va);
    free (vb);
    return c;
}

typedef struct {
    sl_embedder_t *embedder;
    const char **texts;
    size_t *lens;
    int n;
    const float *expect;
    int rounds;
} s_thread_arg_t;

static void *
s_embed_thread (void *arg)
{
    s_thread_arg_t *a = arg;
    int dim = sl_embedder_dim (a->embedder);
    float *out = malloc ((size_t) a->n * (size_t) dim * sizeof *out);
    assert (out);
    for (int r = 0; r < a->rounds; r++) {
        char err [256];
        int rc = sl_embedder_embed (a->embedder, a->texts, a->lens, a->n, out, err, sizeof err);
        assert (rc == 0);
        for (int i = 0; i < a->n * dim; i++)
            assert (fabsf (out [i] - a->expect [i]) < 1e-5f);
    }
    free (out);
    return NULL;
}

//  Real-ish 100-word texts from a fixed vocabulary.
static char *
s_make_text (uint64_t *state, int words)
{
    static const char *vocab [] = {
        "document", "ingestion", "engine", "vector", "search", "query", "the", "of", "and",
        "broker", "message", "latency", "index", "token", "chunk", "embedding", "model",
        "retrieval", "page", "parser", "network", "socket", "actor", "worker", "store",
        "cache", "hash", "random", "projection", "matrix", "café", "Straße", "naïve"
    };
    size_t nv = sizeof vocab / sizeof vocab [0];
    size_t cap = (size_t) words * 16 + 1, len = 0;
    char *text = malloc (cap);
    assert (text);
    for (int i = 0; i < words; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *w = vocab [(*state >> 33) % nv];
        len += (size_t) snprintf (text + len, cap - len, "%s%s", i ? " " : "", w);
    }
    return text;
}

void
sl_embedder_test (bool verbose)
{
    printf (" * sl_embedder: ");
    if (verbose)
        printf ("\n");
    char err [256];

    //  Unknown provider and bad options give messages, not crashes
    assert (sl_embedder_new ("nope", NULL, err, sizeof err) == NULL);
    assert (strstr (err, "unknown embedding provider 'nope'") && strstr (err, "hash"));
    assert (sl_embedder_new (NULL, NULL, err, sizeof err) == NULL);
    const char *bad [] = { "dim=0", "dim=abc", "dim=12x", "colour=red", "dim", "=5",
                           "buckets=1", "seed=-1", "dim=999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        assert (sl_embedder_new ("hash", bad [i], err, sizeof err) == NULL);
        assert (strlen (err) > 5);
        if (verbose)
            printf ("  options '%s' -> %s\n", bad [i], err);
    }
    //  NULL err buffer is allowed
    assert (sl_embedder_new ("nope", NULL, NULL, 0) == NULL);

    //  Defaults and identity
    sl_embedder_t *e = sl_embedder_new ("hash", NULL, err, sizeof err);
    assert (e);
    assert (strcmp (sl_embedder_provider (e), "hash") == 0);
    assert (sl_embedder_dim (e) == 384);
    assert (sl_embedder_max_tokens (e) == 0);
    assert (strcmp (sl_embedder_model_id (e), "hash-v1:b4096:d384:s42") == 0);
    int dim = sl_embedder_dim (e);

    //  Options respected, and model_id follows them
    sl_embedder_t *small = sl_embedder_new ("hash", " dim = 64 , seed=7,buckets=1024 ", err, sizeof err);
    assert (small);
    assert (sl_embedder_dim (small) == 64);
    assert (strcmp (sl_embedder_model_id (small), "hash-v1:b1024:d64:s7") == 0);
    float *sv = s_embed_one (small, "only sixty four numbers");
    assert (fabs (s_dot (sv, sv, 64) - 1.0) < 1e-5);
    free (sv);
    sl_embedder_destroy (&small);
    assert (small == NULL);
    sl_embedder_destroy (&small);

    //  Token counting: words of letters and digits
    assert (sl_embedder_count_tokens (e, "Hello, world! 42 times", 22) == 4);
    assert (sl_embedder_token_counter (e, "", 0) == 0);
    assert (sl_embedder_count_tokens (e, "\xe6\xbc\xa2\xe5\xad\x97", 6) == 2);   //  漢字

    //  Unit norm and determinism across instances
    sl_embedder_t *e2 = sl_embedder_new ("hash", "dim=384,seed=42", err, sizeof err);
    assert (e2);
    assert (strcmp (sl_embedder_model_id (e2), sl_embedder_model_id (e)) == 0);
    const char *sample = "The quick brown fox jumps over the lazy dog.";
    float *v1 = s_embed_one (e, sample), *v2 = s_embed_one (e2, sample);
    assert (memcmp (v1, v2, (size_t) dim * sizeof *v1) == 0);
    assert (fabs (s_dot (v1, v1, dim) - 1.0) < 1e-5);
    //  a fixed value, so a change to hashing, the PRNG or the projection
    //  (which would silently invalidate stored vectors) fails here; the
    //  tolerance allows for BLAS kernels summing in another order
    if (verbose)
        printf ("  golden: %.7f %.7f %.7f\n", v1 [0], v1 [1], v1 [383]);
    assert (fabsf (v1 [0] - (S_GOLDEN_0)) < 1e-4f);
    assert (fabsf (v1 [1] - (S_GOLDEN_1)) < 1e-4f);
    assert (fabsf (v1 [383] - (S_GOLDEN_383)) < 1e-4f);
    free (v1);
    free (v2);
    sl_embedder_destroy (&e2);

    //  Another seed gives other vectors
    sl_embedder_t *e3 = sl_embedder_new ("hash", "seed=43", err, sizeof err);
    assert (e3);
    v1 = s_embed_one (e, sample);
    v2 = s_embed_one (e3, sample);
    assert (fabs (s_dot (v1, v2, dim)) < 0.5);
    free (v1);
    free (v2);
    sl_embedder_destroy (&e3);

    //  Normalisation: case, compatibility forms and composition don't matter
    assert (s_cosine (e, "Café STRASSE", "café strasse") > 0.999);
    assert (s_cosine (e, "cafe\xcc\x81", "caf\xc3\xa9") > 0.999);           //  e + U+0301 = é
    assert (s_cosine (e, "\xef\xac\x81le", "file") > 0.999);               //  ﬁ ligature
    assert (s_cosine (e, "Stra\xc3\x9f" "e", "strasse") > 0.999);           //  casefold ß
    //  Punctuation and spacing don't matter; word order does (bigrams)
    assert (s_cosine (e, "hello,   world!", "hello world") > 0.999);
    double ordered = s_cosine (e, "dog bites man", "man bites dog");
    assert (ordered < 0.95 && ordered > 0.2);

    //  Related texts are closer than unrelated ones
    double related = s_cosine (e, "the cat sat on the mat", "a cat sat on a mat");
    double unrelated = s_cosine (e, "the cat sat on the mat", "quarterly revenue grew in europe");
    double unrelated2 = s_cosine (e, "a cat sat on a mat", "stock markets fell sharply today");
    if (verbose)
        printf ("  cosine related %.3f, unrelated %.3f, %.3f\n", related, unrelated, unrelated2);
    assert (related > 0.4);
    assert (related > unrelated + 0.3 && related > unrelated2 + 0.3);
    assert (fabs (unrelated) < 0.3);

    //  Empty, whitespace-only, punctuation-only and invalid UTF-8 texts
    {
        const char *texts [] = { "", "   \n\t ", "...!?", "\xff\xfe\xfd", "real words" };
        size_t lens [] = { 0, 7, 5, 3, 10 };
        float *out = malloc (5 * (size_t) dim * sizeof *out);
        assert (sl_embedder_embed (e, texts, lens, 5, out, err, sizeof err) == 0);
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < dim; i++)
                assert (out [t * dim + i] == 0.0f);     //  zero, not NaN
        assert (fabs (s_dot (out + 4 * dim, out + 4 * dim, dim) - 1.0) < 1e-5);
        free (out);
        assert (sl_embedder_embed (e, NULL, NULL, 0, NULL, err, sizeof err) == 0);
    }

    //  Batch results equal single results (also across the internal
    //  block size of 256 rows)
    int nbatch = 300;
    uint64_t rng = 1;
    const char **texts = malloc ((size_t) nbatch * sizeof *texts);
    size_t *lens = malloc ((size_t) nbatch * sizeof *lens);
    for (int i = 0; i < nbatch; i++) {
        texts [i] = s_make_text (&rng, 100);
        lens [i] = strlen (texts [i]);
    }
    float *batch = malloc ((size_t) nbatch * (size_t) dim * sizeof *batch);
    assert (sl_embedder_embed (e, texts, lens, nbatch, batch, err, sizeof err) == 0);
    for (int i = 0; i < nbatch; i += 37) {
        float *one = s_embed_one (e, texts [i]);
        for (int k = 0; k < dim; k++)
            assert (fabsf (one [k] - batch [i * dim + k]) < 1e-5f);
        free (one);
    }
    for (int i = 0; i < nbatch; i++)
        assert (fabs (s_dot (batch + i * dim, batch + i * dim, dim) - 1.0) < 1e-4);

    //  Several threads at once get the same answers
    {
        pthread_t threads [4];
        s_thread_arg_t arg = { e, texts, lens, 64, batch, 5 };
        for (int t = 0; t < 4; t++)
            assert (pthread_create (&threads [t], NULL, s_embed_thread, &arg) == 0);
        for (int t = 0; t < 4; t++)
            pthread_join (threads [t], NULL);
    }

    //  Throughput: batches of 256 texts of 100 words (a figure, not a test)
    if (verbose) {
        int64_t t0 = sl_mono_ms ();
        int rounds = 8;
        for (int r = 0; r < rounds; r++)
            assert (sl_embedder_embed (e, texts, lens, 256, batch, err, sizeof err) == 0);
        int64_t ms = sl_mono_ms () - t0;
        printf ("  %d x 256 texts of 100 words in %lld ms: %.0f embeddings/s\n", rounds,
                (long long) ms, rounds * 256 * 1000.0 / (double) (ms ? ms : 1));
    }
    for (int i = 0; i < nbatch; i++)
        free ((char *) texts [i]);
    free (texts);
    free (lens);
    free (batch);
    sl_embedder_destroy (&e);

    //  Option parser on its own
    assert (sl_embed_options_parse ("", NULL, NULL, err, sizeof err) == 0);
    assert (sl_embed_options_parse (" , ,", NULL, NULL, err, sizeof err) == 0);
    long long v;
    assert (sl_embed_option_int ("dim", "12", 1, 100, &v, err, sizeof err) == 0 && v == 12);
    assert (sl_embed_option_int ("dim", "", 1, 100, &v, err, sizeof err) == -1);
    assert (sl_embed_option_int ("dim", "101", 1, 100, &v, err, sizeof err) == -1);
    assert (strstr (err, "dim=101"));
    printf ("OK\n");
}
