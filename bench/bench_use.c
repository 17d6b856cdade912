/*  bench_use: the C side of bench/bench_use.sh, the `use` embedder's
    throughput on real chunks.

      bench_use chunk --model DIR --out chunks.json [--max N] [--target T] FILE...
          Cut the text files (pages split at form feeds, as `mutool draw -F
          txt` writes them) into chunks with Sluice's own chunker, counting
          tokens with the use model's tokenizer, and write {"texts": [...],
          "ids": [[...], ...]}: the texts for every implementation, the ids
          for the numpy reference (which has no tokenizer).
      bench_use embed --model DIR --in chunks.json --batch B [--seconds S]
                      [--vectors out.f32] [--precision auto|fp32|bf16]
          Embed the chunks B at a time, in order, wrapping around, until S
          seconds have passed (at least one batch); print one JSON line with
          chunks/s, CPU time per chunk and the process's peak RSS. --vectors
          writes the vectors of the first pass over the chunks (float32, n x
          512), for cross-checking, and runs at least that one pass.
          --precision is the use provider's option (default: the
          provider's, fp32); the JSON line names the model id it got.
          --provider hash times the hash embedder on the same chunks
          instead (--model is then only used to cut them).

    Timing covers sl_embedder_embed only: tokenizing, the forward pass and
    normalisation, as the embed actor runs them.
*/
#include "sl_chunk.h"
#include "sl_embedder.h"
#include "sl_use_tokenizer.h"
#include "sl_util.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static long
s_rss_kb (const char *field)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line [256];
    long kb = -1;
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, field, strlen (field)) == 0)
            kb = atol (line + strlen (field));
    if (f)
        fclose (f);
    return kb;
}

static const char *s_precision;     //  --precision, NULL: the provider's default
static const char *s_provider = "use";  //  --provider: use, or hash

static sl_embedder_t *
s_open (const char *model)
{
    char options [4200], err [1024];
    snprintf (options, sizeof options, "path=%s%s%s", model, s_precision ? ",precision=" : "",
              s_precision ? s_precision : "");
    bool use = strcmp (s_provider, "use") == 0;
    sl_embedder_t *e = sl_embedder_new (s_provider, use ? options : "", err, sizeof err);
    if (!e) {
        fprintf (stderr, "bench_use: %s\n", err);
        exit (1);
    }
    return e;
}

typedef struct {
    json_t *texts, *ids;
    sl_embedder_t *embedder;
    int max;                    //  chunks in all
    int file_max;               //  chunks from the current file
    int file_count;
} s_collect_t;

static int
s_on_chunk (void *arg, const sl_chunk_t *chunk)
{
    s_collect_t *c = arg;
    if ((int) json_array_size (c->texts) >= c->max || c->file_count >= c->file_max)
        return 1;
    c->file_count++;
    json_array_append_new (c->texts, json_stringn (chunk->text, chunk->len));
    return 0;
}

static char *
s_slurp (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *data = malloc ((size_t) size + 1);
    if (data && fread (data, 1, (size_t) size, f) != (size_t) size) {
        free (data);
        data = NULL;
    }
    fclose (f);
    if (data)
        data [size] = 0;
    *len = (size_t) size;
    return data;
}

static int
s_chunk (const char *model, const char *out, int max, int target, char **files, int nfiles)
{
    sl_embedder_t *e = s_open (model);
    //  an equal share from each file, so every document style is in the mix
    s_collect_t c = { json_array (), json_array (), e, max, (max + nfiles - 1) / nfiles, 0 };
    char vocab [4200], err [512];
    snprintf (vocab, sizeof vocab, "%s/vocab.json", model);
    sl_use_tokenizer_t *tok = sl_use_tokenizer_new (vocab, err, sizeof err);
    if (!tok) {
        fprintf (stderr, "bench_use: %s\n", err);
        return 1;
    }
    sl_chunk_opts_t opts;
    sl_chunk_opts_defaults (&opts);
    opts.target_tokens = target;
    for (int f = 0; f < nfiles && (int) json_array_size (c.texts) < max; f++) {
        size_t len = 0;
        char *text = s_slurp (files [f], &len);
        if (!text) {
            fprintf (stderr, "bench_use: cannot read %s\n", files [f]);
            return 1;
        }
        c.file_count = 0;
        sl_chunker_t *chunker = sl_chunker_new (&opts, sl_embedder_token_counter, e, s_on_chunk, &c);
        assert (chunker);
        char *page = text;
        int page_no = 1;
        while (page < text + len) {
            char *ff = memchr (page, '\f', (size_t) (text + len - page));
            size_t plen = ff ? (size_t) (ff - page) : (size_t) (text + len - page);
            if (sl_chunker_add_page (chunker, page_no++, page, plen))
                break;
            page += plen + (ff ? 1 : 0);
        }
        sl_chunker_finish (chunker);
        sl_chunker_destroy (&chunker);
        free (text);
    }
    //  Ids for the numpy reference, from the tokenizer the golden test checks
    long total = 0, longest = 0;
    for (size_t i = 0; i < json_array_size (c.texts); i++) {
        json_t *t = json_array_get (c.texts, i);
        size_t n = sl_embedder_count_tokens (e, json_string_value (t), json_string_length (t));
        int32_t ids [1024];
        long got = sl_use_tokenizer_encode (tok, json_string_value (t), json_string_length (t), ids, 1024);
        assert (got == (long) n);
        json_t *list = json_array ();
        for (long k = 0; k < got && k < 1024; k++)
            json_array_append_new (list, json_integer (ids [k]));
        json_array_append_new (c.ids, list);
        total += (long) n;
        longest = (long) n > longest ? (long) n : longest;
    }
    json_t *root = json_pack ("{s:o, s:I, s:f, s:I}", "texts", c.texts, "chunks",
                              (json_int_t) json_array_size (c.texts), "mean_tokens",
                              json_array_size (c.texts) ? (double) total / (double) json_array_size (c.texts) : 0.0,
                              "max_tokens", (json_int_t) longest);
    json_object_set_new (root, "ids", c.ids);
    if (json_dump_file (root, out, JSON_COMPACT)) {
        fprintf (stderr, "bench_use: cannot write %s\n", out);
        return 1;
    }
    fprintf (stderr, "bench_use: %zu chunks, %.1f tokens on average, %ld at most -> %s\n",
             json_array_size (c.texts), json_array_size (c.texts) ? (double) total / (double) json_array_size (c.texts) : 0.0,
             longest, out);
    json_decref (root);
    sl_use_tokenizer_destroy (&tok);
    sl_embedder_destroy (&e);
    return 0;
}

static int
s_embed (const char *model, const char *in, int batch, double seconds, const char *vectors_path)
{
    json_error_t jerr;
    json_t *root = json_load_file (in, 0, &jerr);
    json_t *texts = root ? json_object_get (root, "texts") : NULL;
    if (!json_is_array (texts) || json_array_size (texts) == 0) {
        fprintf (stderr, "bench_use: %s has no texts\n", in);
        return 1;
    }
    int n = (int) json_array_size (texts);
    const char **ptrs = malloc ((size_t) n * sizeof *ptrs);
    size_t *lens = malloc ((size_t) n * sizeof *lens);
    for (int i = 0; i < n; i++) {
        ptrs [i] = json_string_value (json_array_get (texts, (size_t) i));
        lens [i] = json_string_length (json_array_get (texts, (size_t) i));
    }
    long rss_before = s_rss_kb ("VmRSS:");
    sl_embedder_t *e = s_open (model);
    long rss_open = s_rss_kb ("VmRSS:");
    int dim = sl_embedder_dim (e);
    float *out = malloc ((size_t) batch * (size_t) dim * sizeof *out);
    float *all = vectors_path ? calloc ((size_t) n * (size_t) dim, sizeof *all) : NULL;
    char err [512];
    //  warm up: the first call pages in the weights
    int warm = batch < n ? batch : n;
    if (sl_embedder_embed (e, ptrs, lens, warm, out, err, sizeof err)) {
        fprintf (stderr, "bench_use: %s\n", err);
        return 1;
    }
    long done = 0;
    int at = 0;
    const char **bt = malloc ((size_t) batch * sizeof *bt);
    size_t *bl = malloc ((size_t) batch * sizeof *bl);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    double cpu0 = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6
                + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec * 1e-6;
    double t0 = s_now (), elapsed = 0;
    while (elapsed < seconds || done == 0 || (all && done < n)) {
        for (int k = 0; k < batch; k++) {
            bt [k] = ptrs [(at + k) % n];
            bl [k] = lens [(at + k) % n];
        }
        if (sl_embedder_embed (e, bt, bl, batch, out, err, sizeof err)) {
            fprintf (stderr, "bench_use: %s\n", err);
            return 1;
        }
        if (all && done < n)
            for (int k = 0; k < batch && done + k < n; k++)
                memcpy (all + (size_t) (at + k) * (size_t) dim, out + (size_t) k * (size_t) dim,
                        (size_t) dim * sizeof *out);
        at = (at + batch) % n;
        done += batch;
        elapsed = s_now () - t0;
    }
    if (all) {
        FILE *f = fopen (vectors_path, "wb");
        if (!f || fwrite (all, sizeof *all, (size_t) n * (size_t) dim, f) != (size_t) n * (size_t) dim) {
            fprintf (stderr, "bench_use: cannot write %s\n", vectors_path);
            return 1;
        }
        fclose (f);
    }
    getrusage (RUSAGE_SELF, &ru);
    double cpu = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6
               + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec * 1e-6 - cpu0;
    printf ("{\"impl\": \"c\", \"batch\": %d, \"chunks\": %ld, \"seconds\": %.3f, \"chunks_per_s\": %.2f, "
            "\"cpu_ms_per_chunk\": %.3f, \"rss_before_kb\": %ld, \"rss_after_open_kb\": %ld, "
            "\"peak_rss_kb\": %ld, \"model\": \"%s\"}\n",
            batch, done, elapsed, (double) done / elapsed, 1000 * cpu / (double) done, rss_before, rss_open,
            ru.ru_maxrss, sl_embedder_model_id (e));
    sl_embedder_destroy (&e);
    free (out);
    free (all);
    free (bt);
    free (bl);
    free (ptrs);
    free (lens);
    json_decref (root);
    return 0;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: bench_use chunk --model DIR --out FILE [--max N] [--target T] FILE...\n"
                     "       bench_use embed --model DIR --in FILE --batch B [--seconds S] [--vectors FILE]\n"
                     "                       [--precision auto|fp32|bf16] [--provider use|hash]\n");
    exit (2);
}

int
main (int argc, char **argv)
{
    if (argc < 2)
        s_usage ();
    const char *model = NULL, *in = NULL, *out = NULL, *vectors = NULL;
    int max = 512, target = 100, batch = 1;
    double seconds = 5;
    char **files = argv + argc;
    int nfiles = 0;
    for (int i = 2; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp (argv [i], "--model") == 0 && more)
            model = argv [++i];
        else if (strcmp (argv [i], "--in") == 0 && more)
            in = argv [++i];
        else if (strcmp (argv [i], "--out") == 0 && more)
            out = argv [++i];
        else if (strcmp (argv [i], "--vectors") == 0 && more)
            vectors = argv [++i];
        else if (strcmp (argv [i], "--max") == 0 && more)
            max = atoi (argv [++i]);
        else if (strcmp (argv [i], "--target") == 0 && more)
            target = atoi (argv [++i]);
        else if (strcmp (argv [i], "--batch") == 0 && more)
            batch = atoi (argv [++i]);
        else if (strcmp (argv [i], "--precision") == 0 && more)
            s_precision = argv [++i];
        else if (strcmp (argv [i], "--provider") == 0 && more)
            s_provider = argv [++i];
        else if (strcmp (argv [i], "--seconds") == 0 && more)
            seconds = atof (argv [++i]);
        else if (argv [i][0] != '-') {
            files = argv + i;
            nfiles = argc - i;
            break;
        }
        else
            s_usage ();
    }
    if (!model || batch < 1 || max < 1 || target < 2)
        s_usage ();
    if (strcmp (argv [1], "chunk") == 0 && out && nfiles)
        return s_chunk (model, out, max, target, files, nfiles);
    if (strcmp (argv [1], "embed") == 0 && in)
        return s_embed (model, in, batch, seconds, vectors);
    s_usage ();
    return 2;
}
