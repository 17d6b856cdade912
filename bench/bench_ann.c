/*  bench_ann: the vector index exact and approximate, in one run.

    bench_ann N DIM CLUSTERS GRAPH_FILE [QUERIES [VECTORS_FILE]]

    Generates N unit vectors of DIM floats (CLUSTERS > 0: around that many
    random centres, as embeddings of topics cluster; 0: uniform noise, the
    worst case for a graph) and QUERIES queries near random rows; then
    reports, for the same sl_vindex the store uses:
    - exact: load rate, p50/p99 search, the top 10 as the reference;
    - graph: build rate (single thread), memory per vector (RSS growth),
      p50/p99 search, recall@10 against exact, speed-up at p50;
    - filtered searches (1 % and 10 % of rows allowed): p50 and recall;
    - restart: writing the graph file, and reading + checking it back
      (sl_vindex_open_graph) against building it again.
    With VECTORS_FILE (raw little-endian float32 rows of DIM, e.g. chunk
    vectors read from a store), its rows replace the generated ones: the
    last QUERIES rows are the queries (held out of the index), the first
    up to N the index, and the graph is used at any size.
    Each figure is one line "name value unit". Not a test: nothing asserts.
*/
#include "sl_vindex.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  the store's default search.ann_min_rows: filters over fewer rows go exact
#define S_MIN_ROWS 20000

static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;

static double
s_uniform (void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (double) ((s_rng * 0x2545F4914F6CDD1DULL) >> 11) / (double) (1ULL << 53);
}

static float
s_gauss (void)
{
    double u = s_uniform () + 1e-12, v = s_uniform ();
    return (float) (sqrt (-2 * log (u)) * cos (2 * M_PI * v));
}

static void
s_normalise (float *v, int dim)
{
    double norm = 0;
    for (int i = 0; i < dim; i++)
        norm += (double) v [i] * v [i];
    for (int i = 0; i < dim; i++)
        v [i] = (float) (v [i] / sqrt (norm));
}

//  Row = centre + noise of about the centre's length (cosine to its centre
//  about 0.7, to another centre about 0), or noise alone
static float *
s_generate (size_t n, int dim, int clusters)
{
    float *centres = malloc ((size_t) (clusters ? clusters : 1) * dim * sizeof (float));
    float *data = malloc (n * dim * sizeof (float));
    for (int c = 0; c < clusters; c++) {
        for (int i = 0; i < dim; i++)
            centres [(size_t) c * dim + i] = s_gauss ();
        s_normalise (centres + (size_t) c * dim, dim);
    }
    float sigma = 1.0f / sqrtf ((float) dim);
    for (size_t r = 0; r < n; r++) {
        float *v = data + r * dim;
        const float *centre = clusters ? centres + (size_t) (s_uniform () * clusters) * dim : NULL;
        for (int i = 0; i < dim; i++)
            v [i] = (centre ? centre [i] : 0) + sigma * s_gauss ();
        s_normalise (v, dim);
    }
    free (centres);
    return data;
}

//  Rows of a raw float32 file: the last nq into queries, up to *n before
//  them returned (*n updated); NULL if the file is too small
static float *
s_read_vectors (const char *path, int dim, int nq, size_t *n, float *queries)
{
    FILE *file = fopen (path, "rb");
    if (!file || fseek (file, 0, SEEK_END))
        return NULL;
    size_t rows = (size_t) ftell (file) / ((size_t) dim * sizeof (float));
    if (rows <= (size_t) nq) {
        fprintf (stderr, "%s: %zu rows, fewer than the queries\n", path, rows);
        fclose (file);
        return NULL;
    }
    size_t keep = rows - (size_t) nq < *n ? rows - (size_t) nq : *n;
    float *data = malloc (keep * dim * sizeof (float));
    rewind (file);
    bool ok = fread (data, (size_t) dim * sizeof (float), keep, file) == keep
           && fseek (file, (long) ((rows - (size_t) nq) * dim * sizeof (float)), SEEK_SET) == 0
           && fread (queries, (size_t) dim * sizeof (float), (size_t) nq, file) == (size_t) nq;
    fclose (file);
    if (!ok) {
        free (data);
        return NULL;
    }
    *n = keep;
    return data;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
s_rss_mb (void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen ("/proc/self/statm", "r");
    if (f && fscanf (f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose (f);
    return (double) resident * (double) sysconf (_SC_PAGESIZE) / 1048576.0;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

typedef enum { S_PLAIN, S_IN, S_TAGS } s_kind_t;

typedef struct {
    s_kind_t kind;
    const int64_t *allowed;
    size_t n_allowed;
    const uint8_t *tags;
    size_t n_tags;
} s_filter_t;

static int
s_search (sl_vindex_t *index, const float *q, const s_filter_t *f, int64_t *ids, float *scores)
{
    if (f->kind == S_IN)
        return sl_vindex_search_in (index, q, 10, f->allowed, f->n_allowed, ids, scores);
    if (f->kind == S_TAGS)
        return sl_vindex_search_tags (index, q, 10, f->tags, f->n_tags, ids, scores);
    return sl_vindex_search (index, q, 10, ids, scores);
}

//  Run nq queries; report p50/p99 (ms); with truth: recall@10 against it,
//  without: fill it
static double
s_run (const char *name, sl_vindex_t *index, const float *queries, int nq, int dim,
       const s_filter_t *f, int64_t *truth, bool fill)
{
    double *ms = malloc ((size_t) nq * sizeof *ms);
    int hits = 0, total = 0;
    for (int q = 0; q < nq; q++) {
        int64_t ids [10];
        float scores [10];
        double t0 = s_now ();
        int n = s_search (index, queries + (size_t) q * dim, f, ids, scores);
        ms [q] = (s_now () - t0) * 1000;
        for (int i = 0; i < 10; i++) {
            if (fill)
                truth [q * 10 + i] = i < n ? ids [i] : -1;
            else
            if (truth [q * 10 + i] >= 0) {
                total++;
                for (int j = 0; j < n; j++)
                    hits += ids [j] == truth [q * 10 + i];
            }
        }
    }
    qsort (ms, (size_t) nq, sizeof *ms, s_cmp_double);
    double p50 = ms [nq / 2];
    printf ("%s_p50 %.3f ms\n%s_p99 %.3f ms\n", name, p50, name, ms [nq * 99 / 100]);
    if (!fill)
        printf ("%s_recall_at_10 %.4f\n", name, total ? (double) hits / total : 1.0);
    free (ms);
    return p50;
}

int
main (int argc, char *argv [])
{
    if (argc < 5) {
        fprintf (stderr, "usage: bench_ann N DIM CLUSTERS GRAPH_FILE [QUERIES]\n");
        return 2;
    }
    size_t n = (size_t) atol (argv [1]);
    int dim = atoi (argv [2]), clusters = atoi (argv [3]);
    const char *path = argv [4];
    int nq = argc > 5 ? atoi (argv [5]) : 200;
    size_t min_rows = S_MIN_ROWS;
    float *data, *queries = malloc ((size_t) nq * dim * sizeof (float));
    if (argc > 6) {
        data = s_read_vectors (argv [6], dim, nq, &n, queries);
        if (!data)
            return 1;
        min_rows = 1;
    }
    else
        data = s_generate (n, dim, clusters);
    printf ("vectors %zu\ndim %d\nclusters %d\nqueries %d\n", n, dim, clusters, nq);
    for (int q = 0; argc <= 6 && q < nq; q++) {
        //  a query near a row: a paraphrase of something stored
        const float *row = data + (size_t) (s_uniform () * n) * dim;
        for (int i = 0; i < dim; i++)
            queries [(size_t) q * dim + i] = row [i] + 0.5f / sqrtf ((float) dim) * s_gauss ();
        s_normalise (queries + (size_t) q * dim, dim);
    }
    //  filters: ids of 1 % and 10 % of rows (sorted), and tags of 10 %
    size_t n1 = n / 100, n10 = n / 10;
    int64_t *in1 = malloc (n1 * sizeof *in1), *in10 = malloc (n10 * sizeof *in10);
    for (size_t i = 0; i < n1; i++)
        in1 [i] = (int64_t) (i * 100 + 1);
    for (size_t i = 0; i < n10; i++)
        in10 [i] = (int64_t) (i * 10 + 1);
    uint8_t tags [100] = { 0 };
    for (int t = 0; t < 10; t++)
        tags [t * 10] = 1;
    s_filter_t plain = { .kind = S_PLAIN }, f1 = { .kind = S_IN, .allowed = in1, .n_allowed = n1 },
               f10 = { .kind = S_IN, .allowed = in10, .n_allowed = n10 },
               ftags = { .kind = S_TAGS, .tags = tags, .n_tags = 100 };

    sl_vindex_t *index = sl_vindex_new (dim);
    double rss0 = s_rss_mb (), t0 = s_now ();
    for (size_t r = 0; r < n; r++)
        sl_vindex_add_tagged (index, (int64_t) r + 1, data + r * dim, (int32_t) (r % 100));
    double took = s_now () - t0, rss1 = s_rss_mb ();
    printf ("exact_load_rate %.0f vectors/s\nexact_bytes_per_vector %.0f\n", n / took,
            (rss1 - rss0) * 1048576.0 / n);
    free (data);                //  the index has its copy
    int64_t *truth = malloc ((size_t) nq * 10 * sizeof *truth);
    int64_t *truth1 = malloc ((size_t) nq * 10 * sizeof *truth1);
    int64_t *truth10 = malloc ((size_t) nq * 10 * sizeof *truth10);
    int64_t *truth_tags = malloc ((size_t) nq * 10 * sizeof *truth_tags);
    int nq_exact = nq < 100 ? nq : 100;     //  exact at 1M is slow: 100 suffice
    double exact_p50 = s_run ("exact", index, queries, nq_exact, dim, &plain, truth, true);
    s_run ("exact_filter_1pct", index, queries, nq_exact, dim, &f1, truth1, true);
    s_run ("exact_filter_10pct", index, queries, nq_exact, dim, &f10, truth10, true);
    s_run ("exact_tags_10pct", index, queries, nq_exact, dim, &ftags, truth_tags, true);

    //  the graph: built from the rows, or read from the file of an earlier run
    rss0 = s_rss_mb ();
    t0 = s_now ();
    int64_t gen;
    size_t applied;
    int how = sl_vindex_open_graph (index, min_rows, path, "bench", &gen, &applied);
    took = s_now () - t0;
    rss1 = s_rss_mb ();
    if (how == SL_VINDEX_BUILT) {
        printf ("graph_build_seconds %.1f\ngraph_build_rate %.0f vectors/s\n", took, n / took);
        printf ("graph_bytes_per_vector %.0f\n", (rss1 - rss0) * 1048576.0 / n);
        t0 = s_now ();
        if (sl_vindex_save (index, path, "bench", 1) == 0)
            printf ("graph_write_seconds %.1f\n", s_now () - t0);
    }
    else
        printf ("graph_read_seconds %.2f (reused %s, %zu rows applied)\n", took, path, applied);
    //  restart: read the file back and check it against the rows
    t0 = s_now ();
    how = sl_vindex_open_graph (index, min_rows, path, "bench", &gen, &applied);
    printf ("graph_restart_ready_seconds %.2f (%s)\n", s_now () - t0,
            how == SL_VINDEX_REUSED ? "read + checked" : "REBUILT");

    //  the search width against recall and time
    int widths [] = { 32, 64, 128, 256, 512, 1024 };
    for (int i = 0; i < 6; i++) {
        char name [32];
        snprintf (name, sizeof name, "graph_ef%d", widths [i]);
        sl_vindex_set_ef (index, widths [i]);
        s_run (name, index, queries, nq_exact, dim, &plain, truth, false);
    }
    sl_vindex_set_ef (index, 0);            //  the default, for the runs below
    printf ("graph_ef_default %d\n", SL_VINDEX_EF_DEFAULT);
    //  only the exact queries have truth; time all the queries
    double graph_p50 = s_run ("graph", index, queries, nq_exact, dim, &plain, truth, false);
    s_run ("graph_all_queries", index, queries, nq, dim, &plain, truth, true);
    printf ("graph_speedup_at_p50 %.1f x\n", exact_p50 / graph_p50);
    s_run ("graph_filter_1pct", index, queries, nq_exact, dim, &f1, truth1, false);
    s_run ("graph_filter_10pct", index, queries, nq_exact, dim, &f10, truth10, false);
    s_run ("graph_tags_10pct", index, queries, nq_exact, dim, &ftags, truth_tags, false);
    sl_vindex_destroy (&index);
    free (queries);
    free (in1);
    free (in10);
    free (truth);
    free (truth1);
    free (truth10);
    free (truth_tags);
    return 0;
}
