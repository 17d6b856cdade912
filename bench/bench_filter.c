/*  bench_filter: search latency with and without a filter, on a SQLite store.

    Fills a fresh store with DOCS documents of CHUNKS / DOCS chunks each
    (random unit vectors, texts of random words from a fixed vocabulary),
    every document with attributes {"group": i % 100, "half": i % 2 == 0,
    "year": 2000 + i % 25}, then times QUERIES searches per mode (vector,
    lexical, hybrid) with no filter, a selective one ({"group": 7}: 1 % of
    the documents) and a broad one ({"half": true}: 50 %), interleaved so
    drift on a shared machine hits every filter alike; then the broad one
    "cold": before each of those searches (untimed) a re-tag of another
    document moves the workspace's filter generation, so the filter is
    resolved in the database again instead of reused. Prints median and
    p95 milliseconds and the ratio to the unfiltered search.

    Usage: bench_filter DIR [DOCS CHUNKS DIM QUERIES]   (2000 100000 384 200)
*/
#include "sl_filter.h"
#include "sl_store.h"
#include "sl_store_backend.h"       //  sl_store_document_id, to re-tag a known document
#include "sl_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VOCAB 5000
#define WORDS 40                //  per chunk

static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
s_next (void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545F4914F6CDD1DULL;
}

static void
s_unit (float *v, int dim)
{
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        v [i] = (float) ((double) (s_next () >> 11) / (double) (1ULL << 53)) * 2 - 1;
        norm += (double) v [i] * v [i];
    }
    for (int i = 0; i < dim; i++)
        v [i] = (float) (v [i] / sqrt (norm));
}

//  A word of the vocabulary, skewed (Zipf-like) so some words are common
static void
s_word (char *out, size_t size)
{
    double u = (double) (s_next () >> 11) / (double) (1ULL << 53);
    int rank = (int) pow (VOCAB, u);
    static const char *syll [] = { "ka", "lo", "mi", "ru", "te", "so", "na", "vi", "pe", "du" };
    snprintf (out, size, "%s%s%s%d", syll [rank % 10], syll [(rank / 10) % 10],
              syll [(rank / 100) % 10], rank / 1000);
}

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int
s_fill (sl_store_t *store, int docs, int chunks, int dim)
{
    int per = chunks / docs;
    sl_chunk_row_t *rows = calloc ((size_t) per, sizeof *rows);
    char (*texts) [WORDS * 16] = calloc ((size_t) per, sizeof *texts);
    float *vectors = malloc ((size_t) per * (size_t) dim * sizeof (float));
    double t0 = s_now_ms ();
    for (int d = 0; d < docs; d++) {
        for (int c = 0; c < per; c++) {
            size_t used = 0;
            for (int w = 0; w < WORDS; w++) {
                char word [16];
                s_word (word, sizeof word);
                used += (size_t) snprintf (texts [c] + used, sizeof texts [c] - used, "%s%s",
                                           w ? " " : "", word);
            }
            rows [c] = (sl_chunk_row_t) { .ordinal = c, .page_start = 1, .page_end = 1,
                                          .tokens = WORDS, .text = texts [c] };
            s_unit (vectors + (size_t) c * (size_t) dim, dim);
        }
        char source [64], sha [SL_SHA256_HEX], attrs [128], id [SL_STORE_ID];
        snprintf (source, sizeof source, "upload:bench/doc-%05d.txt", d);
        sl_sha256_hex (source, strlen (source), sha);
        snprintf (attrs, sizeof attrs, "{\"group\": %d, \"half\": %s, \"year\": %d}", d % 100,
                  d % 2 == 0 ? "true" : "false", 2000 + d % 25);
        sl_doc_meta_t meta = { .workspace = "bench", .source = source, .sha256 = sha,
                               .mime = "text/plain", .title = source, .pages = 1, .bytes = 1000,
                               .attrs = attrs };
        if (sl_store_document_commit (store, &meta, rows, per, vectors, dim, "bench-model", id)) {
            fprintf (stderr, "commit: %s\n", sl_store_errmsg (store));
            return -1;
        }
    }
    fprintf (stderr, "filled %d documents, %d chunks of dim %d in %.1f s\n", docs, per * docs, dim,
             (s_now_ms () - t0) / 1e3);
    free (rows);
    free (texts);
    free (vectors);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: bench_filter DIR [DOCS CHUNKS DIM QUERIES]\n");
        return 2;
    }
    int docs = argc > 2 ? atoi (argv [2]) : 2000;
    int chunks = argc > 3 ? atoi (argv [3]) : 100000;
    int dim = argc > 4 ? atoi (argv [4]) : 384;
    int queries = argc > 5 ? atoi (argv [5]) : 200;
    char url [1024], err [256];
    snprintf (url, sizeof url, "sqlite:%s/bench.db", argv [1]);
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    if (!store || s_fill (store, docs, chunks, dim)) {
        fprintf (stderr, "bench_filter: %s\n", store ? sl_store_errmsg (store) : err);
        return 1;
    }
    const char *names [3] = { "none", "selective", "broad" };
    sl_filter_t *filters [3] = { NULL, NULL, NULL };
    sl_filter_parse ("{\"group\": 7}", NULL, NULL, 0, &filters [1], err, sizeof err);
    sl_filter_parse ("{\"half\": true}", NULL, NULL, 0, &filters [2], err, sizeof err);
    float *q = malloc ((size_t) dim * sizeof (float));
    double *ms = malloc ((size_t) queries * 3 * sizeof (double));
    printf ("%-8s %-10s %9s %9s %8s %6s\n", "mode", "filter", "median_ms", "p95_ms", "ratio", "hits");
    for (int mode = SL_SEARCH_HYBRID; mode <= SL_SEARCH_LEXICAL; mode++) {
        int hits_seen [3] = { 0 };
        for (int warm = 0; warm < 3; warm++) {
            sl_hit_t hits [10];
            int n = 0;
            s_unit (q, dim);
            sl_search_t how = { .text = "kaloma1 tesovi2", .mode = (sl_search_mode_t) mode,
                                .filter = filters [warm] };
            sl_store_search_text (store, "bench", "bench-model", q, dim, &how, 10, hits, &n);
            sl_store_hits_reset (hits, n);
        }
        for (int i = 0; i < queries; i++) {
            char text [64], a [16], b [16];
            s_word (a, sizeof a);
            s_word (b, sizeof b);
            snprintf (text, sizeof text, "%s %s", a, b);
            s_unit (q, dim);
            for (int r = 0; r < 3; r++) {
                int f = (i + r) % 3;        //  rotate the order
                sl_hit_t hits [10];
                int n = 0;
                sl_search_t how = { .text = text, .mode = (sl_search_mode_t) mode,
                                    .filter = filters [f] };
                double t0 = s_now_ms ();
                int rc = sl_store_search_text (store, "bench", "bench-model", q, dim, &how, 10,
                                               hits, &n);
                ms [f * queries + i] = s_now_ms () - t0;
                if (rc) {
                    fprintf (stderr, "search: %s\n", sl_store_errmsg (store));
                    return 1;
                }
                hits_seen [f] += n;
                sl_store_hits_reset (hits, n);
            }
        }
        //  cold: a write before each search (none and broad alike, so the
        //  database's own cache refill after a write counts for both)
        double *cold = malloc ((size_t) queries * 2 * sizeof (double));
        for (int j = 0; j < queries * 2; j++) {
            int i = j / 2, f = j % 2 ? 2 : 0;
            char touch [64], text [64], a [16], b [16];
            snprintf (touch, sizeof touch, "{\"touched\": %d}", j);
            char sha [SL_SHA256_HEX], id [SL_STORE_ID];
            sl_sha256_hex ("upload:bench/doc-00001.txt", 26, sha);
            sl_store_document_id ("bench", sha, id);
            if (sl_store_document_meta (store, "bench", id, touch, true, NULL)) {
                fprintf (stderr, "re-tag: %s\n", sl_store_errmsg (store));
                return 1;
            }
            s_word (a, sizeof a);
            s_word (b, sizeof b);
            snprintf (text, sizeof text, "%s %s", a, b);
            s_unit (q, dim);
            sl_hit_t hits [10];
            int n = 0;
            sl_search_t how = { .text = text, .mode = (sl_search_mode_t) mode,
                                .filter = filters [f] };
            double t0 = s_now_ms ();
            sl_store_search_text (store, "bench", "bench-model", q, dim, &how, 10, hits, &n);
            cold [(f ? queries : 0) + i] = s_now_ms () - t0;
            sl_store_hits_reset (hits, n);
        }
        qsort (cold, (size_t) queries, sizeof (double), s_cmp_double);
        qsort (cold + queries, (size_t) queries, sizeof (double), s_cmp_double);
        double base = 0;
        for (int f = 0; f < 3; f++) {
            qsort (ms + f * queries, (size_t) queries, sizeof (double), s_cmp_double);
            double median = ms [f * queries + queries / 2];
            double p95 = ms [f * queries + (int) (queries * 0.95)];
            if (f == 0)
                base = median;
            printf ("%-8s %-10s %9.2f %9.2f %8.2f %6.1f\n",
                    sl_search_mode_name ((sl_search_mode_t) mode), names [f], median, p95,
                    base > 0 ? median / base : 0, (double) hits_seen [f] / queries);
        }
        for (int f = 0; f < 2; f++) {
            double *c = cold + f * queries;
            //  ratio of broad-cold to none-cold: the filter's own cost
            printf ("%-8s %-10s %9.2f %9.2f %8.2f %6s\n", sl_search_mode_name ((sl_search_mode_t) mode),
                    f ? "broad-cold" : "none-cold", c [queries / 2], c [(int) (queries * 0.95)],
                    c [queries / 2] / cold [queries / 2], "");
        }
        free (cold);
    }
    for (int f = 0; f < 3; f++)
        sl_filter_destroy (&filters [f]);
    free (q);
    free (ms);
    sl_store_destroy (&store);
    return 0;
}
