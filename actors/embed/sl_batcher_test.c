/*  sl_batcher_test: self-test of sl_batcher. Many caller threads submit
    texts from a pool; every vector must equal embedding that text alone,
    whatever batches the flusher formed, and shutdown, errors and limits
    behave as sl_batcher.h says.
*/
#include "sl_batcher.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Self-test

#define S_POOL 200

typedef struct {
    sl_batcher_t *batcher;
    const char **pool;
    size_t *lens;
    const float *direct;        //  sl_embedder_embed of each pool text alone
    int dim;
    int rounds, max_n;
    uint64_t seed;
    pthread_barrier_t *barrier;
    int calls;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    uint64_t state = w->seed;
    const char **texts = malloc ((size_t) w->max_n * sizeof *texts);
    size_t *lens = malloc ((size_t) w->max_n * sizeof *lens);
    int *which = malloc ((size_t) w->max_n * sizeof *which);
    float *out = malloc ((size_t) w->max_n * (size_t) w->dim * sizeof *out);
    assert (texts && lens && which && out);
    pthread_barrier_wait (w->barrier);
    for (int r = 0; r < w->rounds; r++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = 1 + (int) ((state >> 33) % (uint64_t) w->max_n);
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            which [i] = (int) ((state >> 33) % S_POOL);
            texts [i] = w->pool [which [i]];
            lens [i] = w->lens [which [i]];
        }
        char err [256];
        int rc = sl_batcher_embed (w->batcher, texts, lens, n, out, err, sizeof err);
        assert (rc == 0);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < w->dim; k++)
                assert (fabsf (out [i * w->dim + k] - w->direct [which [i] * w->dim + k]) < 1e-5f);
        w->calls++;
    }
    free (texts);
    free (lens);
    free (which);
    free (out);
    return NULL;
}

static void
s_run_workers (sl_batcher_t *batcher, s_worker_t *proto, int nthreads)
{
    pthread_t threads [16];
    s_worker_t workers [16];
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, (unsigned) nthreads);
    for (int t = 0; t < nthreads; t++) {
        workers [t] = *proto;
        workers [t].batcher = batcher;
        workers [t].seed = proto->seed + (uint64_t) t * 7919;
        workers [t].barrier = &barrier;
        workers [t].calls = 0;
        assert (pthread_create (&threads [t], NULL, s_worker, &workers [t]) == 0);
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join (threads [t], NULL);
        assert (workers [t].calls == proto->rounds);
    }
    pthread_barrier_destroy (&barrier);
}

typedef struct {
    sl_batcher_t *batcher;
    const char **texts;
    size_t *lens;
    int n;
    int dim;
    int rc;
    char err [256];
    const float *expect;        //  if set, the rows the call must return
} s_oneshot_t;

static void *
s_oneshot (void *arg)
{
    s_oneshot_t *o = arg;
    float *out = malloc ((size_t) o->n * (size_t) o->dim * sizeof *out);
    assert (out);
    o->rc = sl_batcher_embed (o->batcher, o->texts, o->lens, o->n, out, o->err, sizeof o->err);
    if (o->rc == 0 && o->expect)
        for (int i = 0; i < o->n * o->dim; i++)
            assert (fabsf (out [i] - o->expect [i]) < 1e-5f);
    free (out);
    return NULL;
}

void
sl_batcher_test (bool verbose)
{
    printf (" * sl_batcher: ");
    if (verbose)
        printf ("\n");
    char err [256];
    sl_embedder_t *embedder = sl_embedder_new ("hash", "dim=128", err, sizeof err);
    assert (embedder);
    int dim = sl_embedder_dim (embedder);

    //  A pool of texts and their vectors embedded one at a time
    static const char *vocab [] = {
        "alpha", "beta", "gamma", "delta", "vector", "engine", "message", "broker",
        "chunk", "token", "page", "document", "search", "index", "latency", "the", "of"
    };
    const char *pool [S_POOL];
    size_t lens [S_POOL];
    float *direct = malloc ((size_t) S_POOL * (size_t) dim * sizeof *direct);
    uint64_t state = 99;
    for (int i = 0; i < S_POOL; i++) {
        char *text = malloc (2048);
        size_t len = 0;
        int words = 5 + i % 60;
        for (int w = 0; w < words; w++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            len += (size_t) snprintf (text + len, 2048 - len, "%s%s", w ? " " : "",
                                      vocab [(state >> 33) % (sizeof vocab / sizeof *vocab)]);
        }
        pool [i] = text;
        lens [i] = len;
        assert (sl_embedder_embed (embedder, &pool [i], &lens [i], 1, direct + i * dim,
                                   err, sizeof err) == 0);
    }

    //  8 threads, random sizes up to 150 (so some span several batches):
    //  every caller gets exactly its own vectors
    sl_batcher_t *batcher = sl_batcher_new (embedder, 0, -1, 1);
    assert (batcher);
    s_worker_t proto = { .pool = pool, .lens = lens, .direct = direct, .dim = dim,
                         .rounds = 25, .max_n = 150, .seed = 1 };
    s_run_workers (batcher, &proto, 8);
    sl_batcher_stats_t stats;
    sl_batcher_stats (batcher, &stats);
    if (verbose)
        printf ("  mixed: %llu calls, %llu batches, %llu texts, mean batch %.1f\n",
                (unsigned long long) stats.calls, (unsigned long long) stats.batches,
                (unsigned long long) stats.texts, stats.mean_batch);
    assert (stats.calls == 8 * 25);
    assert (stats.failed_batches == 0);
    assert (stats.mean_batch <= 64.0);
    sl_batcher_destroy (&batcher);
    assert (batcher == NULL);
    sl_batcher_destroy (&batcher);

    //  Several flushers (batches side by side): the same mixed load, every
    //  caller still gets exactly its own vectors
    batcher = sl_batcher_new (embedder, 16, 2, 3);
    assert (batcher);
    s_run_workers (batcher, &proto, 8);
    sl_batcher_stats (batcher, &stats);
    assert (stats.calls == 8 * 25 && stats.failed_batches == 0 && stats.mean_batch <= 16.0);
    //  A request whose batches run on several flushers at once, one of
    //  them failing (its last text is over the size limit): it fails once,
    //  with the message, and returns only after every one of its batches
    //  is done (under ASan, a flusher writing after it left would show)
    {
        size_t huge_len = ((size_t) 1 << 20) + 1;
        char *huge = malloc (huge_len);
        memset (huge, 'a', huge_len);
        const char *texts [100];
        size_t text_lens [100];
        for (int i = 0; i < 99; i++) {
            texts [i] = pool [i];
            text_lens [i] = lens [i];
        }
        texts [99] = huge;
        text_lens [99] = huge_len;
        float *out = malloc ((size_t) 100 * (size_t) dim * sizeof *out);
        for (int round = 0; round < 20; round++)
            assert (sl_batcher_embed (batcher, texts, text_lens, 100, out, err, sizeof err) == -1
                    && strstr (err, "too long"));
        //  and it goes on working
        assert (sl_batcher_embed (batcher, texts, text_lens, 99, out, err, sizeof err) == 0);
        for (int k = 0; k < 99 * dim; k++)
            assert (fabsf (out [k] - direct [k]) < 1e-5f);
        free (out);
        free (huge);
    }
    sl_batcher_destroy (&batcher);

    //  Small concurrent requests are merged: fewer batches than calls
    batcher = sl_batcher_new (embedder, 64, 20, 1);
    proto.rounds = 20;
    proto.max_n = 3;
    s_run_workers (batcher, &proto, 8);
    sl_batcher_stats (batcher, &stats);
    if (verbose)
        printf ("  small: %llu calls, %llu batches, mean batch %.1f\n",
                (unsigned long long) stats.calls, (unsigned long long) stats.batches,
                stats.mean_batch);
    assert (stats.calls == 160);
    assert (stats.batches < stats.calls);
    assert (stats.mean_batch > 1.0);

    //  A lone small request does not wait for company for long
    {
        float *out = malloc ((size_t) dim * sizeof *out);
        int64_t t0 = sl_mono_ms ();
        assert (sl_batcher_embed (batcher, &pool [0], &lens [0], 1, out, err, sizeof err) == 0);
        int64_t ms = sl_mono_ms () - t0;
        if (verbose)
            printf ("  lone request took %lld ms (max_wait 20)\n", (long long) ms);
        assert (ms < 1000);
        for (int k = 0; k < dim; k++)
            assert (fabsf (out [k] - direct [k]) < 1e-5f);
        //  n == 0 is a no-op
        assert (sl_batcher_embed (batcher, NULL, NULL, 0, NULL, err, sizeof err) == 0);
        free (out);
    }
    sl_batcher_destroy (&batcher);

    //  An embedder error fails every caller in the batch, with its message,
    //  and the batcher goes on working. A text over the embedder's size
    //  limit is a real error; a long max_wait puts both callers in one batch.
    {
        batcher = sl_batcher_new (embedder, 64, 300, 2);
        size_t huge_len = ((size_t) 1 << 20) + 1;
        char *huge = malloc (huge_len);
        memset (huge, 'a', huge_len);
        const char *bad_texts [] = { pool [1], huge };
        size_t bad_lens [] = { lens [1], huge_len };
        s_oneshot_t bad = { batcher, bad_texts, bad_lens, 2, dim, 0, "", NULL };
        s_oneshot_t good = { batcher, &pool [2], &lens [2], 1, dim, 0, "", NULL };
        pthread_t t1, t2;
        assert (pthread_create (&t1, NULL, s_oneshot, &good) == 0);
        assert (pthread_create (&t2, NULL, s_oneshot, &bad) == 0);
        pthread_join (t1, NULL);
        pthread_join (t2, NULL);
        if (verbose)
            printf ("  failed batch: '%s' / '%s'\n", bad.err, good.err);
        assert (bad.rc == -1 && strstr (bad.err, "too long"));
        sl_batcher_stats (batcher, &stats);
        if (stats.batches == 1) {
            //  they shared the batch (the usual case): both failed
            assert (good.rc == -1 && strcmp (good.err, bad.err) == 0);
        }
        assert (stats.failed_batches >= 1);
        float *out = malloc ((size_t) dim * sizeof *out);
        assert (sl_batcher_embed (batcher, &pool [3], &lens [3], 1, out, err, sizeof err) == 0);
        free (out);
        free (huge);
        sl_batcher_destroy (&batcher);
    }

    //  A request bigger than several batches, plus stopping with work queued
    {
        batcher = sl_batcher_new (embedder, 16, 1000, 3);
        s_oneshot_t big = { batcher, pool, lens, S_POOL, dim, -5, "", direct };
        pthread_t t;
        assert (pthread_create (&t, NULL, s_oneshot, &big) == 0);
        //  destroy while the tail is still queued (it would wait 1 s): the
        //  work is finished first, at once
        while (true) {
            sl_batcher_stats (batcher, &stats);
            if (stats.calls == 1)
                break;
            usleep (1000);
        }
        int64_t t0 = sl_mono_ms ();
        sl_batcher_destroy (&batcher);
        assert (sl_mono_ms () - t0 < 900);
        pthread_join (t, NULL);
        assert (big.rc == 0);
    }

    for (int i = 0; i < S_POOL; i++)
        free ((char *) pool [i]);
    free (direct);
    sl_embedder_destroy (&embedder);
    printf ("OK\n");
}
